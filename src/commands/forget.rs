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
    // The worktrees stay (they may hold work); once the sessions are
    // gone csm no longer knows them, so say where they are.
    let worktrees = crate::worktree::recorded_for_ticket(store, key.as_str())?;
    for s in &sessions {
        store.delete_session(s.id)?;
    }
    for w in worktrees.iter().filter(|w| !w.removed) {
        ctx.output.warn(&format!(
            "{key}'s worktree {} (branch {}) stays; remove it with `git -C {} worktree remove {}`",
            w.path.display(),
            w.branch,
            crate::codex::command::quote(w.repo.as_os_str()),
            crate::codex::command::quote(w.path.as_os_str())
        ));
    }
    ctx.output.info(&format!(
        "Forgot {} session{} of {key}.",
        sessions.len(),
        if sessions.len() == 1 { "" } else { "s" }
    ));
    Ok(())
}
