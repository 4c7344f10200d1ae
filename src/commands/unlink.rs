//! `csm unlink KEY`: drop one session's link to a ticket (Codex's own
//! session files are left alone).

use crate::command_error::{CommandError, ExitKind};
use crate::context::Context;
use crate::tracker::TicketKey;

/// Arguments of `csm unlink`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ticket key.
    key: String,
    /// Which session: a Codex session id or csm's session number (default:
    /// the latest).
    #[arg(long)]
    session: Option<String>,
}

/// Runs `csm unlink`.
pub fn run(ctx: &Context, args: Args) -> Result<(), CommandError> {
    let key = TicketKey::parse(&args.key)?;
    let store = ctx.store()?;
    let sessions = store.sessions_for_ticket(key.as_str())?;
    let chosen = crate::session::pick(&sessions, args.session.as_deref());
    let Some(session) = chosen else {
        return Err(
            CommandError::new(ExitKind::NotFound, format!("{key} has no such session"))
                .hint(format!("`csm show {key}` lists its sessions")),
        );
    };
    store.delete_session(session.id)?;
    ctx.output.info(&format!(
        "Unlinked session {} ({}) from {key}.",
        session.id,
        session
            .codex_session_id
            .as_deref()
            .unwrap_or("no Codex id yet")
    ));
    Ok(())
}
