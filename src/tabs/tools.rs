//! The tools csm's MCP server gives Codex: `run_in_tab`, `list_tabs`,
//! `read_tab`, `stop_tab`, for one csm session.
//!
//! Answers are text written for the model: what happened, and what to do
//! next (a pending request says which command the user can run). A request
//! that needs approval waits for it, up to `[tabs] approval_wait_secs`, so
//! that an approval given while Codex waits lets the turn go on at once;
//! after that Codex is told the request is pending, and it stays
//! approvable: `csm tabs approve` starts it later.

use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

use crate::mcp::{Cancel, Tool, ToolOutput, Tools};
use crate::store::{Session, Store};

use super::record::{State, Tab};
use super::{Environment, RunRequest, TabError};

/// How many lines `read_tab` returns unless asked.
pub const DEFAULT_LINES: usize = 50;
/// The most lines `read_tab` returns.
pub const MAX_LINES: usize = 2000;
/// How long `read_tab` waits for its text unless told.
pub const DEFAULT_WAIT_SECS: u64 = 10;
/// The most output `read_tab` gives the model (its end is kept).
pub const MAX_OUTPUT_BYTES: usize = 64 * 1024;

/// Called with a line for the user when a request waits for approval.
pub type Announce = Box<dyn Fn(&str) + Send + Sync>;

/// The tools of one session's MCP server.
pub struct TabTools {
    /// What starting tabs needs.
    pub env: Environment,
    /// csm's id of the session served.
    pub session_id: i64,
    /// Tells the user about a request waiting for approval.
    pub announce: Announce,
}

/// What the server tells Codex about itself.
pub const INSTRUCTIONS: &str = "csm runs commands in separate terminal tabs beside this session. \
Use run_in_tab for a command that keeps running or takes long (a dev server, a file watcher, a \
long test run) instead of running it in your own shell: it keeps running while you work and \
after your turn. Give the command as a list of words (argv); no shell is used. The user may have \
to approve a request; if it is pending, tell them the `csm tabs approve` command the answer \
names. Read a tab's output with read_tab (wait_for waits for a text), list tabs with list_tabs, \
end one with stop_tab.";

impl TabTools {
    fn store(&self) -> Result<Store, TabError> {
        Ok(Store::open(&self.env.store_file)?)
    }

    fn session(&self, store: &Store) -> Result<Session, String> {
        store
            .session(self.session_id)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| {
                format!(
                    "csm session {} no longer exists (it was forgotten); tabs cannot run",
                    self.session_id
                )
            })
    }

    fn tab(&self, store: &Store, args: &Map<String, Value>) -> Result<Tab, String> {
        let reference = match args.get("tab") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => {
                return Err(
                    "\"tab\" is required: a tab's id or name (list_tabs shows them)".into(),
                );
            }
        };
        super::resolve(store, self.session_id, &reference)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| {
                format!(
                    "there is no tab {:?} in this session; list_tabs shows them",
                    reference
                )
            })
    }

    fn run_in_tab(&self, args: &Map<String, Value>, cancel: &Cancel) -> Result<ToolOutput, String> {
        let argv = match args.get("command") {
            Some(Value::Array(words)) => words
                .iter()
                .map(|w| w.as_str().map(str::to_string))
                .collect::<Option<Vec<String>>>()
                .ok_or("\"command\" must be a list of strings")?,
            Some(Value::String(_)) => {
                return Err("\"command\" must be a list of words (argv), e.g. [\"npm\", \"run\", \"dev\"]; no shell is used, so give [\"sh\", \"-c\", \"...\"] if you need one".into());
            }
            _ => {
                return Err(
                    "\"command\" is required: the program and its arguments as a list of words"
                        .into(),
                );
            }
        };
        let text_arg = |k: &str| -> Result<Option<String>, String> {
            match args.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(format!("\"{k}\" must be a string")),
            }
        };
        let req = RunRequest {
            argv,
            name: text_arg("name")?,
            cwd: text_arg("cwd")?,
        };
        let store = self.store().map_err(|e| e.to_string())?;
        let session = self.session(&store)?;
        let tab = super::request(&store, &self.env, &session, &req).map_err(|e| e.to_string())?;
        if tab.state != State::Pending {
            return Ok(outcome(&tab, None));
        }
        (self.announce)(&format!(
            "Codex asks to run `{}` in a tab: `csm tabs approve {}` (or deny {})",
            tab.command_line(),
            tab.id,
            tab.id
        ));
        let wait = self.env.config.approval_wait_secs;
        let deadline = Instant::now() + Duration::from_secs(wait);
        let tab = super::wait_decided(&store, tab.id, deadline, &|| cancel.is_cancelled())
            .map_err(|e| e.to_string())?;
        Ok(outcome(&tab, Some(wait)))
    }

    fn list_tabs(&self) -> Result<ToolOutput, String> {
        let store = self.store().map_err(|e| e.to_string())?;
        let tabs = super::session_tabs(&store, self.session_id).map_err(|e| e.to_string())?;
        if tabs.is_empty() {
            return Ok(ToolOutput::ok("No tabs yet; run_in_tab starts one."));
        }
        let lines: Vec<String> = tabs.iter().map(line).collect();
        Ok(ToolOutput::ok(lines.join("\n")))
    }

    fn read_tab(&self, args: &Map<String, Value>, cancel: &Cancel) -> Result<ToolOutput, String> {
        let store = self.store().map_err(|e| e.to_string())?;
        let tab = self.tab(&store, args)?;
        let lines = match args.get("lines") {
            None | Some(Value::Null) => DEFAULT_LINES,
            Some(v) => v
                .as_u64()
                .filter(|n| *n > 0)
                .ok_or("\"lines\" must be a positive whole number")?
                .min(MAX_LINES as u64) as usize,
        };
        let wait_for = match args.get("wait_for") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(_) => return Err("\"wait_for\" must be a non-empty string".into()),
        };
        let secs = match args.get("timeout_secs") {
            None | Some(Value::Null) => DEFAULT_WAIT_SECS,
            Some(v) => v
                .as_u64()
                .ok_or("\"timeout_secs\" must be a whole number of seconds")?,
        }
        .min(super::READ_WAIT_MAX_SECS);
        if tab.started.is_none() {
            return Ok(ToolOutput::error(format!(
                "tab {} has no output: it is {}",
                tab.id,
                super::describe(&tab)
            )));
        }
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let now = super::find(&store, tab.id)
                .map_err(|e| e.to_string())?
                .unwrap_or_else(|| tab.clone());
            let text = super::read(&now, lines).map_err(|e| e.to_string())?;
            let found = match (&wait_for, &text) {
                (Some(w), Some(t)) => t.contains(w.as_str()),
                (Some(_), None) => false,
                (None, _) => true,
            };
            let over = now.state != State::Running
                || super::lost(&now)
                || Instant::now() >= deadline
                || cancel.is_cancelled();
            if found || over {
                let mut head = format!(
                    "tab {} \"{}\" is {}",
                    now.id,
                    now.request.name,
                    super::describe(&now)
                );
                if let (Some(w), false) = (&wait_for, found) {
                    head.push_str(&format!("; {w:?} has not appeared"));
                    if now.state == State::Running {
                        head.push_str(&format!(" within {secs} s"));
                    }
                }
                let body = match text {
                    Some(t) if t.is_empty() => "(no output yet)".to_string(),
                    Some(t) => cap(t),
                    None => "(its output is gone: the window was closed)".to_string(),
                };
                return Ok(ToolOutput::ok(format!("{head}. Last lines:\n{body}")));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn stop_tab(&self, args: &Map<String, Value>) -> Result<ToolOutput, String> {
        let store = self.store().map_err(|e| e.to_string())?;
        let tab = self.tab(&store, args)?;
        match super::stop(&store, tab.id, "codex") {
            Ok(t) => Ok(ToolOutput::ok(format!(
                "tab {} \"{}\" stopped: {}",
                t.id,
                t.request.name,
                super::describe(&t)
            ))),
            Err(TabError::NotRunning { id, state }) => Ok(ToolOutput::error(format!(
                "tab {id} is not running ({state}); nothing to stop"
            ))),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// The end of `text`, at most [`MAX_OUTPUT_BYTES`], cut at a line.
fn cap(text: String) -> String {
    if text.len() <= MAX_OUTPUT_BYTES {
        return text;
    }
    let mut start = text.len() - MAX_OUTPUT_BYTES;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let tail = &text[start..];
    let tail = tail.split_once('\n').map_or(tail, |(_, rest)| rest);
    format!("(earlier output cut)\n{tail}")
}

/// One tab, one line: `7 "dev" running: npm run dev (tmux window @3)`.
fn line(tab: &Tab) -> String {
    let place = tab
        .started
        .as_ref()
        .filter(|_| tab.state == State::Running)
        .map(|s| format!(" ({})", s.describe()))
        .unwrap_or_default();
    format!(
        "{} \"{}\" {}: {}{}",
        tab.id,
        tab.request.name,
        super::describe(tab),
        tab.command_line(),
        place
    )
}

/// What Codex is told after a request: started, refused, denied, failed,
/// or (after `waited` seconds) still pending.
fn outcome(tab: &Tab, waited: Option<u64>) -> ToolOutput {
    let what = format!("`{}`", tab.command_line());
    match tab.state {
        State::Running | State::Exited => {
            let place = tab
                .started
                .as_ref()
                .map(|s| format!(" ({})", s.describe()))
                .unwrap_or_default();
            let mut text = format!(
                "Started tab {} \"{}\": {what} in {}{place}.",
                tab.id,
                tab.request.name,
                tab.request.cwd.display()
            );
            if tab.state == State::Exited {
                text.push_str(&format!(" It already {}.", super::describe(tab)));
            }
            text.push_str(&format!(
                " Read its output with read_tab {{\"tab\": \"{}\"}} (wait_for waits for a text, \
                 e.g. a server's \"listening\"); stop it with stop_tab.",
                tab.id
            ));
            ToolOutput::ok(text)
        }
        State::Refused => ToolOutput::error(format!(
            "Refused {what}: {}. Nothing was run.",
            tab.reason.as_deref().unwrap_or("refused")
        )),
        State::Denied => ToolOutput::error(format!(
            "The user denied {what} (tab {}). Nothing was run; do not ask again unless the user says so.",
            tab.id
        )),
        State::Failed => ToolOutput::error(format!(
            "Could not start {what}: {}.",
            tab.reason.as_deref().unwrap_or("unknown error")
        )),
        State::Pending | State::Approved => ToolOutput::error(format!(
            "Not approved: {what} (request {id}) needs the user's approval, and none came{within}. \
             Nothing runs until then. Ask the user to run `csm tabs approve {id}` (or `csm tabs \
             deny {id}`); once approved it starts on its own, and list_tabs shows it.",
            id = tab.id,
            within = waited.map(|w| format!(" within {w} s")).unwrap_or_default()
        )),
    }
}

impl Tools for TabTools {
    fn list(&self) -> Vec<Tool> {
        let tab = json!({
            "type": "string",
            "description": "The tab's id (as run_in_tab answered) or its name."
        });
        vec![
            Tool {
                name: "run_in_tab",
                title: "Run a command in a tab",
                description: "Runs a command in a separate terminal tab beside this session: \
                    a dev server, a file watcher, a long test run. It keeps running after this \
                    call returns; read its output with read_tab. The command is a list of words \
                    (argv), run without a shell, in the session's folder or a folder inside it. \
                    The user may have to approve it; the answer says so."
                    .into(),
                input_schema: json!({
                    "type": "object",
                    "properties": {
                        "command": {
                            "type": "array",
                            "items": {"type": "string"},
                            "minItems": 1,
                            "description": "The program and its arguments, e.g. [\"npm\", \"run\", \"dev\"]."
                        },
                        "name": {
                            "type": "string",
                            "description": "A short name for the tab (e.g. \"server\"); read_tab and stop_tab accept it."
                        },
                        "cwd": {
                            "type": "string",
                            "description": "A folder inside the session's folder, relative to it or absolute (default: the session's folder)."
                        }
                    },
                    "required": ["command"],
                    "additionalProperties": false
                }),
                read_only: false,
                destructive: false,
            },
            Tool {
                name: "list_tabs",
                title: "List tabs",
                description: "Lists this session's tabs: id, name, state (pending approval, \
                    running, exited with its code, refused, denied) and command."
                    .into(),
                input_schema: json!({"type": "object", "properties": {}, "additionalProperties": false}),
                read_only: true,
                destructive: false,
            },
            Tool {
                name: "read_tab",
                title: "Read a tab's output",
                description: "Returns the last lines of a tab's output and its state. With \
                    wait_for, waits (up to timeout_secs) until that text appears or the command \
                    ends, e.g. a dev server's \"listening on\"."
                    .into(),
                input_schema: json!({
                    "type": "object",
                    "properties": {
                        "tab": tab,
                        "lines": {"type": "integer", "minimum": 1, "maximum": MAX_LINES,
                                  "description": format!("How many lines (default {DEFAULT_LINES}).")},
                        "wait_for": {"type": "string",
                                     "description": "Wait until the output contains this text."},
                        "timeout_secs": {"type": "integer", "minimum": 0, "maximum": super::READ_WAIT_MAX_SECS,
                                         "description": format!("How long to wait for wait_for (default {DEFAULT_WAIT_SECS}).")}
                    },
                    "required": ["tab"],
                    "additionalProperties": false
                }),
                read_only: true,
                destructive: false,
            },
            Tool {
                name: "stop_tab",
                title: "Stop a tab",
                description: "Stops a running tab's command (Ctrl-C, then SIGTERM, then SIGKILL) \
                    and reports how it ended. Its output stays readable."
                    .into(),
                input_schema: json!({
                    "type": "object",
                    "properties": {"tab": tab},
                    "required": ["tab"],
                    "additionalProperties": false
                }),
                read_only: false,
                destructive: true,
            },
        ]
    }

    fn call(&self, name: &str, arguments: &Map<String, Value>, cancel: &Cancel) -> ToolOutput {
        let result = match name {
            "run_in_tab" => self.run_in_tab(arguments, cancel),
            "list_tabs" => self.list_tabs(),
            "read_tab" => self.read_tab(arguments, cancel),
            "stop_tab" => self.stop_tab(arguments),
            other => Err(format!("unknown tool {other}")),
        };
        result.unwrap_or_else(ToolOutput::error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tabs::record::Request;

    fn tab(state: State) -> Tab {
        Tab {
            id: 7,
            session_id: 1,
            requested_at: 0,
            request: Request {
                argv: vec!["npm".into(), "run".into(), "dev".into()],
                name: "server".into(),
                cwd: "/src/app".into(),
                auto: None,
                placement: None,
            },
            state,
            approved_by: None,
            reason: Some("because".into()),
            started: None,
            started_at: None,
            stop_requested: false,
            exit: None,
            ended_at: None,
        }
    }

    #[test]
    fn long_output_keeps_its_end() {
        assert_eq!(cap("short".into()), "short");
        let long = format!("{}\nlast line é", "x".repeat(MAX_OUTPUT_BYTES));
        let capped = cap(long);
        assert_eq!(capped, "(earlier output cut)\nlast line é");
    }

    #[test]
    fn answers_say_what_happened_and_what_next() {
        let pending = outcome(&tab(State::Pending), Some(60));
        assert!(pending.is_error);
        assert!(pending.text.contains("within 60 s"), "{}", pending.text);
        assert!(
            pending.text.contains("csm tabs approve 7"),
            "{}",
            pending.text
        );
        let refused = outcome(&tab(State::Refused), None);
        assert_eq!(
            refused.text,
            "Refused `npm run dev`: because. Nothing was run."
        );
        let mut running = tab(State::Running);
        running.started = Some(crate::tabs::backend::Started {
            pid: std::process::id(),
            pane: Some("%3".into()),
            window: Some("@2".into()),
            tmux_session: Some("main".into()),
            log: None,
        });
        let started = outcome(&running, None);
        assert!(!started.is_error);
        assert!(
            started.text.starts_with(
                "Started tab 7 \"server\": `npm run dev` in /src/app (tmux window @2 of session main)."
            ),
            "{}",
            started.text
        );
        assert_eq!(
            line(&running),
            "7 \"server\" running: npm run dev (tmux window @2 of session main)"
        );
    }
}
