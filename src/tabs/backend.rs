//! Where tabs run: a tmux window, or a background process whose output
//! goes to a file. The place is chosen when Codex asks (from the
//! environment Codex runs in: inside tmux or not) and recorded with the
//! request, so whoever starts the tab later (`csm tabs approve` in another
//! terminal) starts it in the same place.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::config::TabsBackend;

/// Where a tab runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "backend", rename_all = "lowercase")]
pub enum Placement {
    /// A window of a tmux session.
    Tmux {
        /// The server's socket; `None` for the default server.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        socket: Option<PathBuf>,
        /// The session: its id (`$3`) when csm runs inside tmux, else the
        /// name of a detached session of csm's own (`csm-KEY`).
        session: String,
        /// Whether `session` is csm's own detached session (made when
        /// missing).
        detached: bool,
    },
    /// A background process whose output goes to a file.
    Log,
}

impl Placement {
    /// The backend's name.
    pub fn backend(&self) -> &'static str {
        match self {
            Placement::Tmux { .. } => "tmux",
            Placement::Log => "log",
        }
    }
}

/// How a started tab runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Started {
    /// The supervisor's process id (the leader of the tab's process group).
    pub pid: u32,
    /// The tmux pane (`%5`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pane: Option<String>,
    /// The tmux window (`@3`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    /// The tmux session's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmux_session: Option<String>,
    /// The output file (log backend).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log: Option<PathBuf>,
}

impl Started {
    /// Where to look, for people: `tmux window @3 (session main)` or the
    /// log file.
    pub fn describe(&self) -> String {
        match (&self.window, &self.tmux_session, &self.log) {
            (Some(w), Some(s), _) => format!("tmux window {w} of session {s}"),
            (Some(w), None, _) => format!("tmux window {w}"),
            (_, _, Some(log)) => format!("output in {}", log.display()),
            _ => format!("pid {}", self.pid),
        }
    }
}

/// Why a tab could not be started or read.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// tmux said no.
    #[error("tmux {action} failed: {message}")]
    Tmux {
        /// What was asked of it.
        action: &'static str,
        /// What it said.
        message: String,
    },
    /// A program could not be run.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file could not be used.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// What a backend needs to start one tab.
#[derive(Clone, Debug)]
pub struct Launch<'a> {
    /// The tab's name.
    pub name: &'a str,
    /// The folder it runs in.
    pub cwd: &'a Path,
    /// What the tab runs: csm's supervisor, then the command.
    pub argv: &'a [OsString],
    /// The environment for the processes csm starts (secrets removed).
    pub env: &'a [(OsString, OsString)],
    /// The output file (log backend).
    pub log_file: &'a Path,
}

/// A place tabs run in.
pub trait Backend {
    /// Starts a tab; returns as soon as it runs.
    fn start(&self, launch: &Launch<'_>) -> Result<Started, BackendError>;
    /// The last `lines` lines of a tab's output; `None` when it is gone
    /// (its window was closed).
    fn read(&self, started: &Started, lines: usize) -> Result<Option<String>, BackendError>;
}

/// What decides the placement, read from the environment Codex runs in.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Surroundings {
    /// `$TMUX` (`socket,pid,session`), set inside tmux.
    pub tmux: Option<String>,
    /// `$TMUX_PANE`, the pane csm runs in.
    pub tmux_pane: Option<String>,
    /// `$CSM_TMUX_SOCKET`: the tmux server for csm's detached sessions
    /// (default: tmux's own default server).
    pub socket_override: Option<PathBuf>,
    /// Whether the `tmux` program is installed.
    pub tmux_installed: bool,
}

/// How the tmux session was found: when csm runs inside tmux, its socket
/// and the pane to ask for the session id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Choice {
    /// A window in the session of this pane, on this socket.
    CurrentTmux {
        /// The socket (from `$TMUX`).
        socket: PathBuf,
        /// `$TMUX_PANE`, when set.
        pane: Option<String>,
    },
    /// A window in a detached session of csm's own.
    DetachedTmux {
        /// The socket, when not the default.
        socket: Option<PathBuf>,
        /// The session's name.
        session: String,
    },
    /// A background process.
    Log,
}

/// Chooses where a session's tabs run. `key` names csm's own detached
/// tmux session.
pub fn choose(configured: TabsBackend, around: &Surroundings, key: &str) -> Result<Choice, String> {
    let tmux = || {
        let inside = around
            .tmux
            .as_deref()
            .and_then(|t| t.split(',').next())
            .filter(|s| !s.is_empty());
        match inside {
            Some(socket) => Choice::CurrentTmux {
                socket: PathBuf::from(socket),
                pane: around.tmux_pane.clone().filter(|p| !p.is_empty()),
            },
            None => Choice::DetachedTmux {
                socket: around.socket_override.clone(),
                session: detached_session_name(key),
            },
        }
    };
    match configured {
        TabsBackend::Log => Ok(Choice::Log),
        TabsBackend::Tmux if around.tmux_installed => Ok(tmux()),
        TabsBackend::Tmux => Err(
            "[tabs] backend is \"tmux\" but tmux is not installed; install it, or set [tabs] backend = \"log\""
                .into(),
        ),
        TabsBackend::Auto if around.tmux_installed => Ok(tmux()),
        TabsBackend::Auto => Ok(Choice::Log),
    }
}

/// `csm-KEY`, with the characters tmux does not take in a session name
/// (`.` and `:`) replaced.
pub fn detached_session_name(key: &str) -> String {
    let clean: String = key
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("csm-{clean}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_follows_tmux_and_the_setting() {
        let inside = Surroundings {
            tmux: Some("/tmp/tmux-1000/default,123,0".into()),
            tmux_pane: Some("%4".into()),
            socket_override: None,
            tmux_installed: true,
        };
        assert_eq!(
            choose(TabsBackend::Auto, &inside, "PROJ-1"),
            Ok(Choice::CurrentTmux {
                socket: "/tmp/tmux-1000/default".into(),
                pane: Some("%4".into())
            })
        );
        let outside = Surroundings {
            socket_override: Some("/tmp/test.sock".into()),
            tmux_installed: true,
            ..Surroundings::default()
        };
        assert_eq!(
            choose(TabsBackend::Tmux, &outside, "PROJ-1"),
            Ok(Choice::DetachedTmux {
                socket: Some("/tmp/test.sock".into()),
                session: "csm-PROJ-1".into()
            })
        );
        assert_eq!(choose(TabsBackend::Log, &inside, "K-1"), Ok(Choice::Log));
        let bare = Surroundings::default();
        assert_eq!(choose(TabsBackend::Auto, &bare, "K-1"), Ok(Choice::Log));
        assert!(
            choose(TabsBackend::Tmux, &bare, "K-1")
                .unwrap_err()
                .contains("not installed")
        );
        assert_eq!(detached_session_name("a.b:c-1"), "csm-a_b_c-1");
    }

    #[test]
    fn placements_are_stored_as_tagged_json() {
        let p = Placement::Tmux {
            socket: None,
            session: "$3".into(),
            detached: false,
        };
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"backend": "tmux", "session": "$3", "detached": false})
        );
        assert_eq!(serde_json::from_value::<Placement>(v).unwrap(), p);
        assert_eq!(
            serde_json::to_value(Placement::Log).unwrap(),
            serde_json::json!({"backend": "log"})
        );
    }
}
