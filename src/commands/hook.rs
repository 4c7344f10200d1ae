//! `csm hook notify JSON`: what Codex runs at the end of each turn (csm
//! passes itself as Codex's `notify` program). It records the turn on the
//! session and marks the session as waiting for the user. It never fails
//! Codex's turn: problems are logged, and the exit code is always 0.

use serde_json::json;

use crate::codex::notify;
use crate::command_error::CommandError;
use crate::config::NotifyKind;
use crate::context::Context;
use crate::store::SessionStatus;

/// How long the hook waits for the session's id to be recorded.
const OWNER_WAIT: std::time::Duration = std::time::Duration::from_secs(3);

/// Arguments of `csm hook`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    hook: Hook,
}

#[derive(Debug, clap::Subcommand)]
enum Hook {
    /// Record a turn completion (Codex passes the JSON payload).
    Notify {
        /// Codex's JSON payload.
        payload: String,
    },
}

/// Runs `csm hook`.
pub fn run(ctx: &Context, args: Args) -> Result<(), CommandError> {
    let Hook::Notify { payload } = args.hook;
    if let Err(e) = record(ctx, &payload) {
        tracing::warn!(error = %e.message, "csm hook notify");
    }
    Ok(())
}

fn record(ctx: &Context, payload: &str) -> Result<(), CommandError> {
    let Some(turn) = notify::parse(payload) else {
        return Ok(());
    };
    let store = ctx.store()?;
    // A fast first turn can end before csm's watcher has stored the id it
    // belongs to: wait for it a little. Other threads (the UI's title
    // request) have ids no session will own, and cost that wait once.
    let deadline = std::time::Instant::now() + OWNER_WAIT;
    let session = loop {
        if let Some(s) = store.session_by_codex_id(&turn.thread_id)? {
            break s;
        }
        if std::time::Instant::now() >= deadline {
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    store.add_event(
        session.id,
        super::show::TURN_COMPLETE,
        &json!({
            "turn_id": turn.turn_id,
            "last_assistant_message": turn.last_assistant_message,
        }),
    )?;
    // A finished session stays finished: a late (or forged) turn is
    // recorded, never reopens it.
    if session.status != SessionStatus::Done {
        store.set_status(session.id, SessionStatus::Waiting)?;
    }
    announce(
        ctx,
        &session.ticket_key,
        turn.last_assistant_message.as_deref(),
    )
}

/// Rings the bell or runs the notification command, as configured.
fn announce(ctx: &Context, key: &str, message: Option<&str>) -> Result<(), CommandError> {
    announce_to(&ctx.config()?.config.notify, key, message);
    Ok(())
}

/// Rings the bell or runs `[notify] command` with "KEY: first line of
/// `message`", as `[notify] on_turn` says (also used for tab requests that
/// wait for the user's approval).
pub fn announce_to(notify: &crate::config::NotifySection, key: &str, message: Option<&str>) {
    match notify.on_turn {
        NotifyKind::Off => {}
        NotifyKind::Bell => {
            // The hook runs in Codex's terminal (csm's PTY), so the bell
            // reaches the user's terminal through the passthrough.
            if let Ok(mut tty) = std::fs::OpenOptions::new().write(true).open("/dev/tty") {
                use std::io::Write;
                let _ = tty.write_all(b"\x07");
            }
        }
        NotifyKind::Command => {
            let Some((program, args)) = notify.command.split_first() else {
                return;
            };
            let first_line = message
                .and_then(|m| m.lines().find(|l| !l.trim().is_empty()))
                .map(crate::output::sanitize)
                .unwrap_or_default();
            let text: String = format!("{key}: {first_line}").chars().take(200).collect();
            let status = std::process::Command::new(program)
                .args(args)
                .arg(text)
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
            if let Err(e) = status {
                tracing::warn!(error = %e, program, "notification command failed");
            }
        }
    }
}
