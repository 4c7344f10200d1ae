//! Non-interactive runs: `codex exec --json` (and `codex exec resume`),
//! with an optional JSON schema for the answer, and the JSONL event stream
//! read into a summary.
//!
//! The event types are read tolerantly: unknown event and item types are
//! skipped, missing fields are `None`, so a newer Codex does not break csm.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::Deserialize;

use super::settings::Settings;

/// One line of `codex exec --json`.
#[derive(Debug, Deserialize)]
#[serde(tag = "type")]
enum Event {
    #[serde(rename = "thread.started")]
    ThreadStarted { thread_id: String },
    #[serde(rename = "item.completed")]
    ItemCompleted { item: Item },
    #[serde(rename = "turn.completed")]
    TurnCompleted {
        #[serde(default)]
        usage: Option<Usage>,
    },
    #[serde(rename = "turn.failed")]
    TurnFailed {
        #[serde(default)]
        error: Option<serde_json::Value>,
    },
    #[serde(rename = "error")]
    Error {
        #[serde(default)]
        message: Option<String>,
    },
    #[serde(other)]
    Other,
}

/// A completed item of a turn.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Item {
    /// `agent_message`, `command_execution`, `error`, `reasoning`, ...
    #[serde(rename = "type", default)]
    pub kind: String,
    /// The text of a message.
    #[serde(default)]
    pub text: Option<String>,
    /// The command of a command execution.
    #[serde(default)]
    pub command: Option<String>,
    /// Its exit code.
    #[serde(default)]
    pub exit_code: Option<i64>,
    /// The message of an error item.
    #[serde(default)]
    pub message: Option<String>,
}

/// Token usage of a turn (cumulative).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct Usage {
    /// Input tokens.
    #[serde(default)]
    pub input_tokens: u64,
    /// Cached input tokens.
    #[serde(default)]
    pub cached_input_tokens: u64,
    /// Output tokens.
    #[serde(default)]
    pub output_tokens: u64,
}

/// What a run produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The session (thread) id.
    pub thread_id: Option<String>,
    /// The last assistant message.
    pub final_message: Option<String>,
    /// Every completed item, in order.
    pub items: Vec<Item>,
    /// Usage at the last completed turn.
    pub usage: Option<Usage>,
    /// Errors Codex reported (not all are fatal).
    pub errors: Vec<String>,
}

/// Reads a JSONL event stream; lines that are not events are skipped.
pub fn parse_events(jsonl: &str) -> Outcome {
    let mut out = Outcome::default();
    for line in jsonl.lines() {
        let Ok(event) = serde_json::from_str::<Event>(line.trim()) else {
            continue;
        };
        match event {
            Event::ThreadStarted { thread_id } => out.thread_id = Some(thread_id),
            Event::ItemCompleted { item } => {
                if item.kind == "agent_message"
                    && let Some(t) = &item.text
                {
                    out.final_message = Some(t.clone());
                }
                if item.kind == "error"
                    && let Some(m) = &item.message
                {
                    out.errors.push(m.clone());
                }
                out.items.push(item);
            }
            Event::TurnCompleted { usage } => out.usage = usage.or(out.usage),
            Event::TurnFailed { error } => out
                .errors
                .push(error.map_or_else(|| "turn failed".into(), |e| e.to_string())),
            Event::Error { message } => out.errors.push(message.unwrap_or_default()),
            Event::Other => {}
        }
    }
    out
}

/// A non-interactive run to make.
#[derive(Clone, Debug)]
pub struct Request<'a> {
    /// The `codex` program.
    pub program: &'a Path,
    /// The folder.
    pub cwd: &'a Path,
    /// The whole environment for the child.
    pub env: &'a [(OsString, OsString)],
    /// The session's settings.
    pub settings: &'a Settings,
    /// The prompt.
    pub prompt: &'a str,
    /// Continue this session instead of starting one.
    pub resume: Option<&'a str>,
    /// Ask for an answer matching this JSON schema.
    pub output_schema: Option<&'a Path>,
    /// Write the last message to this file.
    pub last_message_file: Option<PathBuf>,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// Codex could not be started.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The session to resume has an id that is not a Codex session id.
    #[error("\"{0}\" is not a Codex session id")]
    NotASessionId(String),
    /// Codex exited with an error.
    #[error("codex exec failed ({status}): {stderr}")]
    Failed {
        /// The exit status.
        status: String,
        /// The last lines of its standard error.
        stderr: String,
    },
}

/// The argv of a request (settings go before `resume`, which does not
/// take `-s` or `-p` after it in the pinned Codex).
pub fn args(req: &Request<'_>) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["exec".into()];
    args.extend(req.settings.exec_args());
    args.extend(["--json".into(), "--skip-git-repo-check".into()]);
    if let Some(schema) = req.output_schema {
        args.extend(["--output-schema".into(), schema.into()]);
    }
    if let Some(file) = &req.last_message_file {
        args.extend(["-o".into(), file.into()]);
    }
    if let Some(id) = req.resume {
        args.extend(["resume".into(), id.into()]);
    }
    if req.prompt.starts_with('-') {
        args.push("--".into());
    }
    args.push(req.prompt.into());
    args
}

/// Runs Codex to the end (stdin closed, as `exec` needs) and reads its
/// events.
pub fn run(req: &Request<'_>) -> Result<Outcome, ExecError> {
    if let Some(id) = req.resume
        && !super::is_session_id(id)
    {
        return Err(ExecError::NotASessionId(crate::output::sanitize(id)));
    }
    let output = Command::new(req.program)
        .args(args(req))
        .current_dir(req.cwd)
        .env_clear()
        .envs(req.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|source| ExecError::Spawn {
            program: req.program.display().to_string(),
            source,
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
        return Err(ExecError::Failed {
            status: output.status.to_string(),
            stderr: crate::output::sanitize(
                &tail.into_iter().rev().collect::<Vec<_>>().join(" | "),
            ),
        });
    }
    Ok(parse_events(&String::from_utf8_lossy(&output.stdout)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_read_tolerantly() {
        let stream = concat!(
            "{\"type\":\"thread.started\",\"thread_id\":\"t-1\"}\n",
            "{\"type\":\"turn.started\"}\n",
            "not json\n",
            "{\"type\":\"item.completed\",\"item\":{\"id\":\"i0\",\"type\":\"command_execution\",\"command\":\"ls\",\"exit_code\":0}}\n",
            "{\"type\":\"item.completed\",\"item\":{\"id\":\"i1\",\"type\":\"error\",\"message\":\"Model metadata not found\"}}\n",
            "{\"type\":\"item.completed\",\"item\":{\"id\":\"i2\",\"type\":\"agent_message\",\"text\":\"Done.\"}}\n",
            "{\"type\":\"item.completed\",\"item\":{\"id\":\"i3\",\"type\":\"future_item\",\"x\":1}}\n",
            "{\"type\":\"turn.completed\",\"usage\":{\"input_tokens\":10,\"output_tokens\":5}}\n",
            "{\"type\":\"something.new\",\"a\":1}\n",
        );
        let out = parse_events(stream);
        assert_eq!(out.thread_id.as_deref(), Some("t-1"));
        assert_eq!(out.final_message.as_deref(), Some("Done."));
        assert_eq!(out.items.len(), 4);
        assert_eq!(out.items[0].command.as_deref(), Some("ls"));
        assert_eq!(out.errors, vec!["Model metadata not found"]);
        assert_eq!(out.usage.unwrap().output_tokens, 5);
    }

    #[test]
    fn argv_puts_settings_before_resume() {
        let mut s = Settings::default();
        s.apply("sandbox=read-only").unwrap();
        s.apply("profile=ci").unwrap();
        let req = Request {
            program: Path::new("codex"),
            cwd: Path::new("/w"),
            env: &[],
            settings: &s,
            prompt: "Report",
            resume: Some("id-1"),
            output_schema: Some(Path::new("/s.json")),
            last_message_file: Some(PathBuf::from("/o.txt")),
        };
        let a: Vec<String> = args(&req)
            .into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            a,
            vec![
                "exec",
                "-s",
                "read-only",
                "-p",
                "ci",
                "--json",
                "--skip-git-repo-check",
                "--output-schema",
                "/s.json",
                "-o",
                "/o.txt",
                "resume",
                "id-1",
                "Report"
            ]
        );
    }

    #[test]
    fn a_resume_id_that_is_not_a_session_id_is_never_run() {
        let s = Settings::default();
        let req = Request {
            program: Path::new("/nonexistent/codex"),
            cwd: Path::new("/"),
            env: &[],
            settings: &s,
            prompt: "Report",
            resume: Some("--dangerously-bypass-approvals-and-sandbox"),
            output_schema: None,
            last_message_file: None,
        };
        assert!(matches!(run(&req), Err(ExecError::NotASessionId(_))));
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(text in ".{0,400}") {
            let _ = parse_events(&text);
        }
    }
}
