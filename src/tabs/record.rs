//! Tabs as session events, and the fold that turns a session's events into
//! its tabs.
//!
//! Every step is an event of the session (`csm show` lists them): a
//! request (its id is the tab's id), then at most one decision (approved,
//! denied or refused), then the start (or its failure), a stop asked for,
//! and the exit. The store holds nothing else about tabs, so the MCP
//! server, `csm tabs approve` in another terminal and the tab's own
//! supervisor share state through it without a schema of their own.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::event::{EventKind, SessionEvent};
use crate::store::Event;

use super::backend::{Placement, Started};

/// Codex asked for a command to run in a tab.
pub const REQUESTED: EventKind = EventKind::TabRequested;
/// The request may run (by the user, `tabs=auto`, or `[tabs] allow`).
pub const APPROVED: EventKind = EventKind::TabApproved;
/// The user said no.
pub const DENIED: EventKind = EventKind::TabDenied;
/// csm said no (folder outside the session's, tabs off, no such program).
pub const REFUSED: EventKind = EventKind::TabRefused;
/// The tab runs.
pub const STARTED: EventKind = EventKind::TabStarted;
/// The tab could not be started.
pub const FAILED: EventKind = EventKind::TabFailed;
/// Someone asked the tab to stop.
pub const STOPPED: EventKind = EventKind::TabStopped;
/// The tab's command ended.
pub const EXITED: EventKind = EventKind::TabExited;
/// A request gets at most one of these.
pub const DECISIONS: &[EventKind] = &EventKind::TAB_DECISIONS;

/// A tab's step as a session event.
pub fn event(kind: EventKind, data: Value) -> SessionEvent {
    SessionEvent::Tab(kind, data)
}

/// What Codex asked for, as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    /// The command, as argv.
    pub argv: Vec<String>,
    /// The tab's name.
    pub name: String,
    /// The folder it runs in (absolute; inside the session's folder unless
    /// refused).
    pub cwd: PathBuf,
    /// Why it may run without asking (`tabs=auto`, an `[tabs] allow`
    /// prefix), or `None` when it needs the user's approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto: Option<String>,
    /// Where it would run; `None` when refused before a place was chosen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement: Option<Placement>,
}

/// How a tab's command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exit {
    /// Its exit code, when it exited.
    pub code: Option<i32>,
    /// The signal that ended it, when one did.
    pub signal: Option<i32>,
}

impl Exit {
    /// `exited 0`, `exited 2`, `killed by signal 15`.
    pub fn describe(&self) -> String {
        match (self.code, self.signal) {
            (Some(code), _) => format!("exited {code}"),
            (None, Some(sig)) => format!("killed by signal {sig}"),
            (None, None) => "ended".into(),
        }
    }
}

/// Where a tab is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Waiting for the user's approval.
    Pending,
    /// Approved, not started yet.
    Approved,
    /// Refused by csm.
    Refused,
    /// Denied by the user.
    Denied,
    /// Could not be started.
    Failed,
    /// Running.
    Running,
    /// Its command ended.
    Exited,
}

impl State {
    /// The name shown.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Approved => "approved",
            State::Refused => "refused",
            State::Denied => "denied",
            State::Failed => "failed",
            State::Running => "running",
            State::Exited => "exited",
        }
    }
}

/// A tab: a request and what became of it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Tab {
    /// Its id (the request event's id).
    pub id: i64,
    /// The csm session it belongs to.
    pub session_id: i64,
    /// When it was asked for (Unix ms).
    pub requested_at: i64,
    /// What was asked.
    #[serde(flatten)]
    pub request: Request,
    /// Where it is in its life.
    pub state: State,
    /// Who or what approved it.
    pub approved_by: Option<String>,
    /// Why it was refused or failed, or who denied it.
    pub reason: Option<String>,
    /// How it runs, once started.
    pub started: Option<Started>,
    /// When it started (Unix ms).
    pub started_at: Option<i64>,
    /// Whether a stop was asked for.
    pub stop_requested: bool,
    /// How it ended.
    pub exit: Option<Exit>,
    /// When it ended (Unix ms).
    pub ended_at: Option<i64>,
}

impl Tab {
    /// The command as one line, for people (words with spaces quoted).
    pub fn command_line(&self) -> String {
        self.request
            .argv
            .iter()
            .map(|a| {
                if !a.is_empty()
                    && a.chars()
                        .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c))
                {
                    a.clone()
                } else {
                    format!("'{}'", a.replace('\'', "'\\''"))
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The state in words: `pending approval`, `running`, `exited 0`,
    /// `refused: ...`.
    pub fn describe(&self) -> String {
        match self.state {
            State::Pending => "pending approval".into(),
            State::Exited => {
                let ended = self.exit.map_or_else(|| "ended".into(), |e| e.describe());
                if self.stop_requested {
                    format!("{ended} (stopped)")
                } else {
                    ended
                }
            }
            State::Refused | State::Denied | State::Failed => match &self.reason {
                Some(r) => format!("{}: {r}", self.state.as_str()),
                None => self.state.as_str().into(),
            },
            other => other.as_str().into(),
        }
    }
}

/// The request a tab event belongs to.
pub fn request_of(event: &Event) -> Option<i64> {
    event.data.get("request").and_then(Value::as_i64)
}

fn text(data: &Value, key: &str) -> Option<String> {
    data.get(key).and_then(Value::as_str).map(str::to_string)
}

/// Builds the tabs from a session's events, oldest first; events of other
/// kinds are skipped, and a malformed event is ignored rather than hiding
/// the other tabs.
pub fn fold(events: &[Event]) -> Vec<Tab> {
    let mut tabs: Vec<Tab> = Vec::new();
    for e in events {
        let kind = EventKind::parse(&e.kind);
        if kind == Some(REQUESTED) {
            let Ok(request) = serde_json::from_value::<Request>(e.data.clone()) else {
                continue;
            };
            tabs.push(Tab {
                id: e.id,
                session_id: e.session_id,
                requested_at: e.at,
                request,
                state: State::Pending,
                approved_by: None,
                reason: None,
                started: None,
                started_at: None,
                stop_requested: false,
                exit: None,
                ended_at: None,
            });
            continue;
        }
        let Some(id) = request_of(e) else { continue };
        let Some(tab) = tabs.iter_mut().find(|t| t.id == id) else {
            continue;
        };
        let Some(kind) = kind else { continue };
        match kind {
            APPROVED if tab.state == State::Pending => {
                tab.state = State::Approved;
                tab.approved_by = text(&e.data, "by");
            }
            DENIED if tab.state == State::Pending => {
                tab.state = State::Denied;
                tab.reason = text(&e.data, "by").map(|by| format!("by {by}"));
            }
            REFUSED if tab.state == State::Pending => {
                tab.state = State::Refused;
                tab.reason = text(&e.data, "reason");
            }
            // A command that ends at once can record its exit before its
            // starter records the start: the start still says where it ran.
            STARTED
                if matches!(tab.state, State::Approved | State::Exited)
                    && tab.started.is_none() =>
            {
                if let Ok(started) = serde_json::from_value::<Started>(e.data.clone()) {
                    if tab.state == State::Approved {
                        tab.state = State::Running;
                    }
                    tab.started = Some(started);
                    tab.started_at = Some(e.at);
                }
            }
            FAILED if tab.state == State::Approved => {
                tab.state = State::Failed;
                tab.reason = text(&e.data, "error");
            }
            STOPPED => tab.stop_requested = true,
            EXITED if matches!(tab.state, State::Approved | State::Running) => {
                tab.state = State::Exited;
                tab.exit = Some(Exit {
                    code: e
                        .data
                        .get("code")
                        .and_then(Value::as_i64)
                        .and_then(|c| i32::try_from(c).ok()),
                    signal: e
                        .data
                        .get("signal")
                        .and_then(Value::as_i64)
                        .and_then(|c| i32::try_from(c).ok()),
                });
                tab.ended_at = Some(e.at);
            }
            _ => {}
        }
    }
    tabs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(id: i64, kind: EventKind, data: Value) -> Event {
        Event {
            id,
            session_id: 1,
            at: id * 1000,
            kind: kind.as_str().into(),
            data,
        }
    }

    fn request(argv: &[&str]) -> Value {
        json!({"argv": argv, "name": "dev", "cwd": "/src/app",
               "placement": {"backend": "log"}})
    }

    #[test]
    fn a_tab_from_request_to_exit() {
        let events = vec![
            ev(1, EventKind::Launched, json!({})),
            ev(2, REQUESTED, request(&["npm", "run", "dev"])),
            ev(3, APPROVED, json!({"request": 2, "by": "csm tabs approve"})),
            ev(
                4,
                STARTED,
                json!({"request": 2, "pid": 4242, "log": "/state/tabs/1/2.log"}),
            ),
            ev(5, EventKind::TurnComplete, json!({})),
            ev(6, STOPPED, json!({"request": 2, "by": "codex"})),
            ev(7, EXITED, json!({"request": 2, "code": null, "signal": 2})),
        ];
        let tabs = fold(&events);
        assert_eq!(tabs.len(), 1);
        let t = &tabs[0];
        assert_eq!((t.id, t.state), (2, State::Exited));
        assert_eq!(t.approved_by.as_deref(), Some("csm tabs approve"));
        assert_eq!(t.started.as_ref().unwrap().pid, 4242);
        assert_eq!(t.started_at, Some(4000));
        assert_eq!(t.describe(), "killed by signal 2 (stopped)");
        assert_eq!(t.command_line(), "npm run dev");
        // A command that ended before its start was recorded.
        let mut raced = events.clone();
        raced.swap(3, 6);
        let t = &fold(&raced)[0];
        assert_eq!(
            (t.state, t.started.as_ref().map(|s| s.pid)),
            (State::Exited, Some(4242))
        );
        // Partial histories give the state reached so far.
        assert_eq!(fold(&events[..2])[0].describe(), "pending approval");
        assert_eq!(fold(&events[..3])[0].state, State::Approved);
        assert_eq!(fold(&events[..5])[0].state, State::Running);
    }

    #[test]
    fn one_decision_per_request_and_strays_are_ignored() {
        let events = vec![
            ev(1, REQUESTED, request(&["sh", "-c", "echo 'hi there'"])),
            ev(2, DENIED, json!({"request": 1, "by": "csm tabs deny"})),
            // A late approval (a race lost in the store) changes nothing.
            ev(3, APPROVED, json!({"request": 1, "by": "x"})),
            ev(4, STARTED, json!({"request": 1, "pid": 1})),
            ev(5, EXITED, json!({"request": 99, "code": 0})),
            ev(6, REQUESTED, json!({"argv": "not a list"})),
            ev(7, REQUESTED, request(&["rm", "-rf", "/"])),
            ev(
                8,
                REFUSED,
                json!({"request": 7, "reason": "/ is outside the session's folder"}),
            ),
            ev(9, REQUESTED, request(&["cargo", "test"])),
            ev(
                10,
                APPROVED,
                json!({"request": 9, "by": "[tabs] allow: cargo test"}),
            ),
            ev(
                11,
                FAILED,
                json!({"request": 9, "error": "tmux: no server"}),
            ),
            ev(12, REQUESTED, request(&["true"])),
            ev(13, APPROVED, json!({"request": 12, "by": "tabs=auto"})),
            ev(14, STARTED, json!({"request": 12, "pid": 7})),
            ev(15, EXITED, json!({"request": 12, "code": 0})),
        ];
        let tabs = fold(&events);
        let states: Vec<(i64, String)> = tabs.iter().map(|t| (t.id, t.describe())).collect();
        assert_eq!(
            states,
            vec![
                (1, "denied: by csm tabs deny".to_string()),
                (7, "refused: / is outside the session's folder".to_string()),
                (9, "failed: tmux: no server".to_string()),
                (12, "exited 0".to_string()),
            ]
        );
        assert_eq!(tabs[0].command_line(), "sh -c 'echo '\\''hi there'\\'''");
    }
}
