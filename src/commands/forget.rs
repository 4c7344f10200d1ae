//! `csm forget KEY`: remove every session csm recorded for a ticket
//! (Codex's own session files and the ticket itself are left alone).

use crate::command_error::{CommandError, ExitKind};
use crate::context::Context;
use crate::tracker::TicketKey;

/// Arguments of `csm forget`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ticket key.
    key: String,
}

/// Runs `csm forget`.
pub fn run(ctx: &Context, args: Args) -> Result<(), CommandError> {
    let key = TicketKey::parse(&args.key)?;
    let store = ctx.store()?;
    let sessions = store.sessions_for_ticket(key.as_str())?;
    if sessions.is_empty() {
        return Err(CommandError::new(
            ExitKind::NotFound,
            format!("csm has no session for {key}"),
        ));
    }
    for s in &sessions {
        store.delete_session(s.id)?;
    }
    ctx.output.info(&format!(
        "Forgot {} session{} of {key}.",
        sessions.len(),
        if sessions.len() == 1 { "" } else { "s" }
    ));
    Ok(())
}
