//! Running Codex for a recorded session: spawn it behind the passthrough
//! terminal, capture its session id from its rollout files while it runs,
//! and record what happened in the store.
//!
//! The id is written to the store the moment its rollout appears, from a
//! watcher thread with its own store connection, so neither a crash of csm
//! nor of the machine later in the session loses the link.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use serde_json::json;

use crate::codex::CodexCommand;
use crate::codex::rollout;
use crate::pty::{self, Exit, PtyError, PtyOptions};
use crate::store::{SessionStatus, Store, StoreError};

/// How often the watcher looks for the new rollout.
const CAPTURE_POLL: Duration = Duration::from_millis(100);

/// Why a launch failed.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// Codex could not be run.
    #[error(transparent)]
    Pty(#[from] PtyError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Called once with the captured Codex session id.
pub type OnCaptured<'a> = Box<dyn FnOnce(&str) + Send + 'a>;

/// A session to run.
pub struct Launch<'a> {
    /// The store's file (the watcher opens its own connection).
    pub store_path: &'a Path,
    /// csm's id of the session.
    pub session_id: i64,
    /// The command.
    pub command: &'a CodexCommand,
    /// Codex's home, to watch for the rollout; `None` when the id is known.
    pub capture_in: Option<PathBuf>,
    /// Text the session's first prompt contains (the ticket key), to tell
    /// apart sessions started in one folder at once.
    pub prompt_marker: Option<String>,
    /// The thread name to give the session in Codex (the ticket key and
    /// summary), set when the id is captured and again when Codex exits.
    pub thread_name: Option<String>,
    /// Called once, on the watcher thread, right after the id was stored
    /// (to mirror the link to the tracker).
    pub on_captured: Option<OnCaptured<'a>>,
}

/// How a run ended.
#[derive(Debug)]
pub struct Outcome {
    /// Codex's exit.
    pub exit: Exit,
    /// The captured session id, when capture was asked for and succeeded.
    pub captured: Option<String>,
}

/// Runs the session to the end.
pub fn run(launch: Launch<'_>) -> Result<Outcome, LaunchError> {
    let store = Store::open(launch.store_path)?;
    let since = SystemTime::now();
    let cmd = pty::Command {
        program: launch.command.program.clone().into_os_string(),
        args: launch.command.args.clone(),
        cwd: launch.command.cwd.clone(),
        env: launch.command.env.clone(),
    };
    let session = pty::spawn(&cmd, PtyOptions::default())?;
    store.add_event(
        launch.session_id,
        "launched",
        &json!({"pid": session.pid(), "pty": session.uses_pty()}),
    )?;
    store.set_pid(launch.session_id, Some(session.pid()))?;
    let stop = Arc::new(AtomicBool::new(false));
    let captured = std::thread::scope(|scope| {
        let watcher = launch.capture_in.as_ref().map(|codex_home| {
            let stop = Arc::clone(&stop);
            let folder = launch.command.cwd.clone();
            let store_path = launch.store_path.to_path_buf();
            let session_id = launch.session_id;
            let on_captured = launch.on_captured;
            let marker = launch.prompt_marker.clone();
            let thread_name = launch.thread_name.clone();
            scope.spawn(move || {
                capture(
                    codex_home,
                    &store_path,
                    session_id,
                    Target {
                        since,
                        folder: &folder,
                        marker: marker.as_deref(),
                    },
                    &stop,
                    on_captured,
                    thread_name.as_deref(),
                )
            })
        });
        let exit = session.wait();
        stop.store(true, Ordering::Release);
        let captured = watcher.and_then(|w| w.join().ok().flatten());
        (exit, captured)
    });
    let (exit, captured) = captured;
    let exit = exit?;
    // Codex names the thread itself from the first turn; naming it again
    // at exit makes the ticket's name the newest, which wins.
    if let (Some(home), Some(id), Some(name)) =
        (&launch.capture_in, captured.as_deref(), &launch.thread_name)
        && let Err(e) = rollout::name_thread(home, id, name)
    {
        tracing::warn!(error = %e, "cannot name the Codex thread");
    }
    store.add_event(launch.session_id, "exited", &json!({"code": exit.code()}))?;
    store.set_status(launch.session_id, SessionStatus::Idle)?;
    store.set_pid(launch.session_id, None)?;
    Ok(Outcome { exit, captured })
}

/// Watches for the session's rollout until found or Codex exits (then one
/// last look), and stores the id as soon as it is seen.
/// What identifies the rollout being waited for.
struct Target<'a> {
    since: SystemTime,
    folder: &'a Path,
    marker: Option<&'a str>,
}

fn capture(
    codex_home: &Path,
    store_path: &Path,
    session_id: i64,
    target: Target<'_>,
    stop: &AtomicBool,
    on_captured: Option<OnCaptured<'_>>,
    thread_name: Option<&str>,
) -> Option<String> {
    let store = Store::open(store_path).ok()?;
    let owned = || store.owned_codex_ids().unwrap_or_default();
    loop {
        let stopping = stop.load(Ordering::Acquire);
        if let Some(found) = rollout::scan_new_matching(
            codex_home,
            target.since,
            target.folder,
            &owned(),
            target.marker,
        )
        .into_iter()
        .find(|f| crate::codex::is_session_id(&f.meta.id))
        {
            let id = found.meta.id;
            match store.set_codex_session_id(session_id, &id) {
                Ok(()) => {
                    let _ =
                        store.add_event(session_id, "captured", &json!({"codex_session_id": id}));
                    if let Some(name) = thread_name {
                        let _ = rollout::name_thread(codex_home, &id, name);
                    }
                    if let Some(f) = on_captured {
                        f(&id);
                    }
                    return Some(id);
                }
                // Another csm session in this folder claimed it first:
                // look again for ours.
                Err(StoreError::CodexIdTaken { .. }) => continue,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot record the Codex session id");
                    return None;
                }
            }
        }
        if stopping {
            return None;
        }
        std::thread::sleep(CAPTURE_POLL);
    }
}
