//! The library's error type: one enum over each module's typed errors.
//!
//! The CLI layer (`commands`) turns these into one readable line, a hint on
//! what to do, and an exit code.

use crate::{config, credentials, paths, pty, store, tracker, worktree};

/// Any error a csm library call can return.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// csm's folders cannot be found.
    #[error(transparent)]
    Paths(#[from] paths::NoHome),
    /// The configuration cannot be loaded.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// A credential operation failed.
    #[error(transparent)]
    Credential(#[from] credentials::CredentialError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// A tracker call failed.
    #[error(transparent)]
    Tracker(#[from] tracker::TrackerError),
    /// A ticket key is malformed.
    #[error(transparent)]
    Key(#[from] tracker::key::KeyError),
    /// The child could not be run behind the passthrough PTY.
    #[error(transparent)]
    Pty(#[from] pty::PtyError),
    /// A ticket's git worktree cannot be made, found or removed.
    #[error(transparent)]
    Worktree(#[from] worktree::WorktreeError),
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
