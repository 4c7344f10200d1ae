//! Crash points for the crash-safety tests: when the environment variable
//! `CSM_CRASH_AT` names a point that csm reaches, csm kills itself there
//! with SIGKILL, as a power cut or `kill -9` would, so the tests can show
//! that every step leaves the store consistent and nothing lost.
//!
//! The points are named `<command>:<step>`; see the calls to [`here`].
//! Outside the tests the variable is unset and a point costs one
//! environment lookup.

/// The variable that names the point to crash at.
pub const VAR: &str = "CSM_CRASH_AT";

/// Kills csm here if `CSM_CRASH_AT` is `point`.
pub fn here(point: &str) {
    if std::env::var_os(VAR).is_some_and(|v| v == point) {
        // SAFETY: sending a signal to ourselves has no memory effects.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGKILL);
        }
    }
}
