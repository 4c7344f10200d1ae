//! The workflows: `start`, `resume`, `done` (and the delivery of what
//! `done` queued), each a function over typed input that returns a typed
//! outcome. `csm start|resume|done` parse their flags, call one of these
//! and print; the dashboard calls the very same functions (no clap `Args`
//! rebuilt, no child `csm`).
//!
//! What a workflow needs comes in as arguments: the ticket key, the
//! [`Context`] (configuration, store, trackers, the output that shows
//! progress) and a [`Launcher`] that runs Codex in the terminal.

pub mod done;
pub mod draft;
pub mod prune;
pub mod resume;
pub mod start;
pub mod sync;
pub mod watching;

use crate::command_error::{CommandError, ExitKind};
use crate::launch::{self, Launch, LaunchError, Outcome};

#[cfg(doc)]
use crate::context::Context;

/// Runs Codex for a recorded session in the terminal: [`CodexLauncher`]
/// spawns it behind the passthrough PTY; a test may record instead.
pub trait Launcher {
    /// Runs the session to its end.
    fn launch(&self, launch: Launch<'_>) -> Result<Outcome, LaunchError>;
}

/// The real launcher: Codex behind the passthrough pseudo-terminal.
#[derive(Clone, Copy, Debug, Default)]
pub struct CodexLauncher;

impl Launcher for CodexLauncher {
    fn launch(&self, launch: Launch<'_>) -> Result<Outcome, LaunchError> {
        launch::run(launch)
    }
}

/// Ends csm with Codex's exit code.
pub fn exit_with(code: i32) -> Result<(), CommandError> {
    if code == 0 {
        return Ok(());
    }
    Err(CommandError::new(
        ExitKind::Child(u8::try_from(code).unwrap_or(1)),
        format!("codex exited with status {code}"),
    ))
}
