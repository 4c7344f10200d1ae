//! Session events: what happened to a session, in the order it happened.
//!
//! Each event is a kind and a payload, stored as the `kind` and `data`
//! (JSON) columns of `session_events`. [`EventKind`] is the one place the
//! kinds' string forms are written; [`SessionEvent`] is an event with its
//! payload typed. Rows of a kind this version does not know (an older or
//! newer csm wrote them), or whose payload does not read, are kept as
//! [`SessionEvent::Other`] rather than lost.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What kind of thing happened to a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    /// Codex was launched (or resumed) for the session.
    Launched,
    /// Codex's session id was captured from its rollout.
    Captured,
    /// Codex finished a turn (its `notify` program ran).
    TurnComplete,
    /// Codex exited.
    Exited,
    /// Codex's per-criterion report for `done`.
    Report,
    /// The session was finished by `done`.
    Done,
    /// The session works in a git worktree csm made or reused.
    Worktree,
    /// csm removed the session's worktree.
    WorktreeRemoved,
    /// Codex asked for a command to run in a tab.
    TabRequested,
    /// A tab request may run (the user, `tabs=auto`, `[tabs] allow`).
    TabApproved,
    /// The user said no to a tab.
    TabDenied,
    /// csm said no to a tab.
    TabRefused,
    /// A tab runs.
    TabStarted,
    /// A tab could not be started.
    TabFailed,
    /// Someone asked a tab to stop.
    TabStopped,
    /// A tab's command ended.
    TabExited,
    /// A running session was told (or the user notified) that its ticket
    /// changed.
    TicketChanged,
    /// `csm done --pr` opened (or found) the session's pull request.
    PullRequest,
}

impl EventKind {
    /// Every kind.
    pub const ALL: [EventKind; 18] = [
        EventKind::Launched,
        EventKind::Captured,
        EventKind::TurnComplete,
        EventKind::Exited,
        EventKind::Report,
        EventKind::Done,
        EventKind::Worktree,
        EventKind::WorktreeRemoved,
        EventKind::TabRequested,
        EventKind::TabApproved,
        EventKind::TabDenied,
        EventKind::TabRefused,
        EventKind::TabStarted,
        EventKind::TabFailed,
        EventKind::TabStopped,
        EventKind::TabExited,
        EventKind::TicketChanged,
        EventKind::PullRequest,
    ];

    /// Every tab event's stored kind starts with this.
    pub const TAB_PREFIX: &'static str = "tab-";

    /// The decisions on a tab request (it gets at most one).
    pub const TAB_DECISIONS: [EventKind; 3] = [
        EventKind::TabApproved,
        EventKind::TabDenied,
        EventKind::TabRefused,
    ];

    /// The kind as stored (and shown by `csm show`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Launched => "launched",
            EventKind::Captured => "captured",
            EventKind::TurnComplete => "turn-complete",
            EventKind::Exited => "exited",
            EventKind::Report => "report",
            EventKind::Done => "done",
            EventKind::Worktree => "worktree",
            EventKind::WorktreeRemoved => "worktree-removed",
            EventKind::TabRequested => "tab-requested",
            EventKind::TabApproved => "tab-approved",
            EventKind::TabDenied => "tab-denied",
            EventKind::TabRefused => "tab-refused",
            EventKind::TabStarted => "tab-started",
            EventKind::TabFailed => "tab-failed",
            EventKind::TabStopped => "tab-stopped",
            EventKind::TabExited => "tab-exited",
            EventKind::TicketChanged => "ticket-changed",
            EventKind::PullRequest => "pull-request",
        }
    }

    /// The kind a stored string names, if this version knows it.
    pub fn parse(text: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// Whether this is one of a tab's steps.
    pub fn is_tab(self) -> bool {
        self.as_str().starts_with(EventKind::TAB_PREFIX)
    }
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `launched`: Codex runs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Launched {
    /// The process id of Codex.
    #[serde(default)]
    pub pid: Option<u32>,
    /// Whether it runs behind csm's pseudo-terminal.
    #[serde(default)]
    pub pty: Option<bool>,
}

/// `captured`: Codex's session id was found.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Captured {
    /// Codex's session id.
    #[serde(default)]
    pub codex_session_id: Option<String>,
}

/// `turn-complete`: Codex finished a turn.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnComplete {
    /// Codex's id of the turn (left out when unknown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_id: Option<String>,
    /// Codex's last message of the turn.
    #[serde(default)]
    pub last_assistant_message: Option<String>,
}

/// `exited`: Codex ended.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exited {
    /// Its exit code (128 + signal for a signal).
    #[serde(default)]
    pub code: Option<i32>,
}

/// `report`: Codex's per-criterion report, as `done` queued it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReportEvent {
    /// The note's unique marker.
    #[serde(default)]
    pub marker: Option<String>,
    /// Codex's summary.
    #[serde(default)]
    pub summary: Option<String>,
    /// The criteria as reported.
    #[serde(default)]
    pub criteria: Value,
    /// Why the report could not be had, when it could not.
    #[serde(default)]
    pub problem: Option<String>,
}

/// `ticket-changed`: a running session was told (`queue`) or the user
/// notified (`notify`) that the ticket changed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketChanged {
    /// `notify` or `queue` (`[workflow] live`).
    #[serde(default)]
    pub mode: Option<String>,
    /// What changed, in one line.
    #[serde(default)]
    pub summary: Option<String>,
    /// The message queued into the running session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The Codex thread it was queued into.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thread: Option<String>,
}

/// `pull-request`: the session's pull request.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequest {
    /// Its web address.
    #[serde(default)]
    pub url: Option<String>,
    /// Whether csm opened it (rather than finding it open).
    #[serde(default)]
    pub created: Option<bool>,
}

/// `worktree-removed`: csm removed a worktree.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorktreeRemoved {
    /// The worktree's folder.
    pub path: PathBuf,
}

/// One session event with its payload typed.
#[derive(Clone, Debug, PartialEq)]
pub enum SessionEvent {
    /// Codex runs.
    Launched(Launched),
    /// Codex's session id was found.
    Captured(Captured),
    /// Codex finished a turn.
    TurnComplete(TurnComplete),
    /// Codex ended.
    Exited(Exited),
    /// `done`'s report.
    Report(ReportEvent),
    /// The session is done.
    Done,
    /// A worktree csm made or reused (its payload is read by
    /// `worktree::recorded`).
    Worktree(Value),
    /// csm removed a worktree.
    WorktreeRemoved(WorktreeRemoved),
    /// One of a tab's steps (its payload is folded by `tabs::record`).
    Tab(EventKind, Value),
    /// The ticket changed while the session ran.
    TicketChanged(TicketChanged),
    /// The session's pull request.
    PullRequest(PullRequest),
    /// A kind this version does not know, or a payload that does not read:
    /// kept as stored.
    Other {
        /// The stored kind.
        kind: String,
        /// The stored payload.
        data: Value,
    },
}

impl SessionEvent {
    /// The event's kind, `None` for [`SessionEvent::Other`].
    pub fn kind(&self) -> Option<EventKind> {
        Some(match self {
            SessionEvent::Launched(_) => EventKind::Launched,
            SessionEvent::Captured(_) => EventKind::Captured,
            SessionEvent::TurnComplete(_) => EventKind::TurnComplete,
            SessionEvent::Exited(_) => EventKind::Exited,
            SessionEvent::Report(_) => EventKind::Report,
            SessionEvent::Done => EventKind::Done,
            SessionEvent::Worktree(_) => EventKind::Worktree,
            SessionEvent::WorktreeRemoved(_) => EventKind::WorktreeRemoved,
            SessionEvent::Tab(kind, _) => *kind,
            SessionEvent::TicketChanged(_) => EventKind::TicketChanged,
            SessionEvent::PullRequest(_) => EventKind::PullRequest,
            SessionEvent::Other { .. } => return None,
        })
    }

    /// The stored columns: the kind's string and the JSON payload.
    pub fn to_row(&self) -> (String, Value) {
        fn json<T: Serialize>(v: &T) -> Value {
            serde_json::to_value(v).unwrap_or(Value::Null)
        }
        let data = match self {
            SessionEvent::Launched(p) => json(p),
            SessionEvent::Captured(p) => json(p),
            SessionEvent::TurnComplete(p) => json(p),
            SessionEvent::Exited(p) => json(p),
            SessionEvent::Report(p) => json(p),
            SessionEvent::Done => Value::Object(Default::default()),
            SessionEvent::Worktree(v) | SessionEvent::Tab(_, v) => v.clone(),
            SessionEvent::WorktreeRemoved(p) => json(p),
            SessionEvent::TicketChanged(p) => json(p),
            SessionEvent::PullRequest(p) => json(p),
            SessionEvent::Other { kind, data } => return (kind.clone(), data.clone()),
        };
        let kind = self.kind().map_or("", EventKind::as_str);
        (kind.to_string(), data)
    }

    /// Reads a stored row; what does not read stays as it is.
    pub fn from_row(kind: &str, data: &Value) -> SessionEvent {
        fn typed<T: for<'de> Deserialize<'de>>(data: &Value) -> Option<T> {
            serde_json::from_value(data.clone()).ok()
        }
        let other = || SessionEvent::Other {
            kind: kind.to_string(),
            data: data.clone(),
        };
        let Some(k) = EventKind::parse(kind) else {
            return other();
        };
        let event = match k {
            EventKind::Launched => typed(data).map(SessionEvent::Launched),
            EventKind::Captured => typed(data).map(SessionEvent::Captured),
            EventKind::TurnComplete => typed(data).map(SessionEvent::TurnComplete),
            EventKind::Exited => typed(data).map(SessionEvent::Exited),
            EventKind::Report => typed(data).map(SessionEvent::Report),
            EventKind::Done => Some(SessionEvent::Done),
            EventKind::Worktree => Some(SessionEvent::Worktree(data.clone())),
            EventKind::WorktreeRemoved => typed(data).map(SessionEvent::WorktreeRemoved),
            EventKind::TicketChanged => typed(data).map(SessionEvent::TicketChanged),
            EventKind::PullRequest => typed(data).map(SessionEvent::PullRequest),
            k => Some(SessionEvent::Tab(k, data.clone())),
        };
        event.unwrap_or_else(other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_kind_reads_back_from_its_string() {
        for k in EventKind::ALL {
            assert_eq!(EventKind::parse(k.as_str()), Some(k));
            assert_eq!(k.is_tab(), k.as_str().starts_with("tab-"));
        }
        assert_eq!(EventKind::parse("no-such-kind"), None);
    }

    #[test]
    fn events_round_trip_through_the_stored_columns() {
        let events = [
            SessionEvent::Launched(Launched {
                pid: Some(42),
                pty: Some(true),
            }),
            SessionEvent::Captured(Captured {
                codex_session_id: Some("abc".into()),
            }),
            SessionEvent::TurnComplete(TurnComplete {
                turn_id: Some("t".into()),
                last_assistant_message: Some("hi".into()),
            }),
            SessionEvent::Exited(Exited { code: Some(3) }),
            SessionEvent::Done,
            SessionEvent::WorktreeRemoved(WorktreeRemoved {
                path: "/w/x".into(),
            }),
            SessionEvent::Tab(EventKind::TabDenied, json!({"request": 1})),
        ];
        for e in events {
            let (kind, data) = e.to_row();
            assert_eq!(SessionEvent::from_row(&kind, &data), e);
        }
    }

    #[test]
    fn old_and_unknown_rows_are_still_read() {
        // Rows written before the payloads were typed: fields missing.
        assert_eq!(
            SessionEvent::from_row("exited", &json!({})),
            SessionEvent::Exited(Exited { code: None })
        );
        assert_eq!(
            SessionEvent::from_row("captured", &json!({})),
            SessionEvent::Captured(Captured::default())
        );
        // A kind from another version, a payload that does not read.
        assert_eq!(
            SessionEvent::from_row("paused", &json!({"x": 1})),
            SessionEvent::Other {
                kind: "paused".into(),
                data: json!({"x": 1})
            }
        );
        assert!(matches!(
            SessionEvent::from_row("exited", &json!({"code": "nine"})),
            SessionEvent::Other { .. }
        ));
    }
}
