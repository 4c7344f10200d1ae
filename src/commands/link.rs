//! `csm link KEY [SESSION-ID | --last]`: adopt an existing Codex session
//! (started by plain `codex`, say) for a ticket.

use std::collections::HashSet;

use crate::codex::rollout;
use crate::command_error::{CommandError, ExitKind};
use crate::context::Context;
use crate::store::NewSession;
use crate::tracker::TicketKey;

/// Arguments of `csm link`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ticket key.
    key: String,
    /// The Codex session id (shown by `codex resume` or `/status`).
    #[arg(required_unless_present = "last", conflicts_with = "last")]
    session_id: Option<String>,
    /// The newest Codex session started in this folder that no ticket owns.
    #[arg(long)]
    last: bool,
}

/// Runs `csm link`.
pub fn run(ctx: &Context, args: Args) -> Result<(), CommandError> {
    let key = TicketKey::parse(&args.key)?;
    if let Some(id) = &args.session_id
        && !crate::codex::is_session_id(id)
    {
        return Err(CommandError::usage(format!(
            "\"{}\" is not a Codex session id",
            crate::output::sanitize(id)
        ))
        .hint("a session id looks like 019a0000-0000-7000-8000-000000000000"));
    }
    let codex_home = ctx.codex_home()?;
    let store = ctx.store()?;
    let found = if args.last {
        let owned: HashSet<String> = store.owned_codex_ids()?;
        rollout::latest_in(&codex_home, &ctx.cwd, &owned).ok_or_else(|| {
            CommandError::new(
                ExitKind::NotFound,
                format!(
                    "no unlinked Codex session was started in {}",
                    ctx.cwd.display()
                ),
            )
            .hint("pass the session id instead")
        })?
    } else {
        let id = args.session_id.unwrap_or_default();
        let path = rollout::locate(&codex_home, &id)
            .map(|l| l.path)
            .ok_or_else(|| {
                CommandError::new(
                    ExitKind::NotFound,
                    format!("no Codex session {id} in {}", codex_home.display()),
                )
                .hint("`codex resume` lists your sessions")
            })?;
        let meta = rollout::read_meta(&path)
            .ok_or_else(|| CommandError::failure(format!("cannot read {}", path.display())))?;
        rollout::Rollout {
            path,
            meta,
            modified: std::time::SystemTime::now(),
        }
    };
    if !crate::codex::is_session_id(&found.meta.id) {
        return Err(CommandError::failure(format!(
            "refusing {}: its session id \"{}\" is not a Codex session id",
            found.path.display(),
            crate::output::sanitize(&found.meta.id)
        ))
        .hint("the file was not written by Codex; remove it, or pass the real session id"));
    }
    let tracker = ctx.tracker()?;
    let ticket = tracker.get(&key)?;
    if let Some(owner) = store.session_by_codex_id(&found.meta.id)? {
        return Err(CommandError::failure(format!(
            "Codex session {} is already linked to {}",
            found.meta.id, owner.ticket_key
        ))
        .hint(format!("`csm unlink {}` it first", owner.ticket_key)));
    }
    let folder = found.meta.cwd.clone();
    let id = store.insert_session(&NewSession {
        ticket_key: key.to_string(),
        tracker: tracker.id(),
        folder: folder.clone(),
        settings: serde_json::json!({}),
        branch: crate::git::branch(&folder),
        start_commit: crate::git::head(&folder),
        ticket_snapshot: serde_json::to_value(&ticket).ok(),
    })?;
    store.set_codex_session_id(id, &found.meta.id)?;
    store.set_status(id, crate::store::SessionStatus::Idle)?;
    super::start::mirror(
        ctx,
        tracker.as_ref(),
        &key,
        id,
        &folder,
        Some(&found.meta.id),
    );
    ctx.output.info(&format!(
        "Linked Codex session {} ({}) to {key}.",
        found.meta.id,
        folder.display()
    ));
    Ok(())
}
