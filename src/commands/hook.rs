//! `csm hook notify JSON`: what Codex runs at the end of each turn (csm
//! passes itself as Codex's `notify` program). It records the turn on the
//! session and marks the session as waiting for the user. It never fails
//! Codex's turn: problems are logged, and the exit code is always 0.

use serde_json::json;

use crate::codex::notify;
use crate::command_error::CommandError;
use crate::context::Context;
use crate::store::SessionStatus;

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
    // Other threads (the UI's title request) have ids no session owns.
    let Some(session) = store.session_by_codex_id(&turn.thread_id)? else {
        return Ok(());
    };
    store.add_event(
        session.id,
        super::show::TURN_COMPLETE,
        &json!({
            "turn_id": turn.turn_id,
            "last_assistant_message": turn.last_assistant_message,
        }),
    )?;
    store.set_status(session.id, SessionStatus::Waiting)?;
    Ok(())
}
