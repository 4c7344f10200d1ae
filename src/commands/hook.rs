//! `csm hook notify JSON`: what Codex runs at the end of each turn (csm
//! passes itself as Codex's `notify` program). It records the turn on the
//! session and marks the session as waiting for the user. It never fails
//! Codex's turn: problems are logged, and the exit code is always 0.

use crate::codex::notify;
use crate::command_error::CommandError;
use crate::context::Context;
use crate::event::{SessionEvent, TurnComplete};
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
        &SessionEvent::TurnComplete(TurnComplete {
            turn_id: turn.turn_id.clone(),
            last_assistant_message: turn.last_assistant_message.clone(),
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

pub use crate::workflow::watching::announce_to;
