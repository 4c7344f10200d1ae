//! Everything csm knows about the Codex CLI: finding it, turning per-session
//! settings into its flags, building the exact command and environment for
//! a launch or a resume, and reading its session files to learn a session's
//! id the moment it exists.
//!
//! Facts about the pinned Codex version (its flags, files and events) are
//! recorded in `docs/codex-facts.md`.

pub mod command;
pub mod discovery;
pub mod exec;
pub mod health;
pub mod notify;
pub mod queue;
pub mod rollout;
pub mod session_id;
pub mod settings;
pub mod thread;
pub mod usage;

use std::path::PathBuf;

pub use command::CodexCommand;
pub use discovery::{DiscoveryError, Found, Version, discover};
pub use session_id::is_session_id;
pub use settings::{Settings, SettingsError};

/// Codex's home folder: `$CODEX_HOME`, else `~/.codex`.
pub fn codex_home(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    if let Some(home) = env("CODEX_HOME").filter(|h| !h.is_empty()) {
        return Some(PathBuf::from(home));
    }
    directories::BaseDirs::new().map(|b| b.home_dir().join(".codex"))
}
