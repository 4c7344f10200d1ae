//! Crash points for the crash-safety tests: when the environment variable
//! `CSM_CRASH_AT` names a point that csm reaches, csm kills itself there
//! with SIGKILL, as a power cut or `kill -9` would, so the tests can show
//! that every step leaves the store consistent and nothing lost.
//!
//! The points are named `<command>:<step>`; see the calls to [`here`].
//! Outside the tests the variable is unset and a point costs one
//! environment lookup.
//!
//! A pause point ([`pause`]) holds csm still instead, so a test can act
//! at an exact moment (send a signal between two steps) and then let it
//! go on.

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

/// The variable that names the point to pause at.
pub const PAUSE_VAR: &str = "CSM_PAUSE_AT";

/// The file a paused csm creates, and waits to see removed.
pub const PAUSE_FILE_VAR: &str = "CSM_PAUSE_FILE";

/// If `CSM_PAUSE_AT` is `point`, creates `$CSM_PAUSE_FILE` and waits
/// (at most a minute) until the test removes it.
pub fn pause(point: &str) {
    if std::env::var_os(PAUSE_VAR).is_none_or(|v| v != point) {
        return;
    }
    let Some(file) = std::env::var_os(PAUSE_FILE_VAR) else {
        return;
    };
    if std::fs::write(&file, std::process::id().to_string()).is_err() {
        return;
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while std::path::Path::new(&file).exists() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}
