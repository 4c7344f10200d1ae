//! Removing a ticket's worktrees csm made (`csm worktree prune`, `csm done
//! --cleanup`), refused when they hold work that would be lost.

use crate::command_error::{CommandError, ExitKind};
use crate::context::Context;
use crate::tracker::TicketKey;
use crate::worktree::{self, Recorded};

/// Removes the ticket's worktrees csm made, when nothing in them would be
/// lost (the branch stays); with `dry_run`, checks and returns the git
/// commands that would run.
pub fn run(ctx: &Context, key: &TicketKey, dry_run: bool) -> Result<Vec<String>, CommandError> {
    let store = ctx.store()?;
    let targets: Vec<Recorded> = worktree::recorded_for_ticket(store, key.as_str())?
        .into_iter()
        .filter(|r| !r.removed)
        .collect();
    if targets.is_empty() {
        return Err(CommandError::new(
            ExitKind::NotFound,
            format!("{key} has no worktree made by csm"),
        )
        .hint("`csm worktree list --all` shows the worktrees csm made and removed"));
    }
    if dry_run {
        let mut lines = Vec::new();
        for rec in &targets {
            worktree::check_removable(rec)?;
            lines.push(format!(
                "git -C {} worktree remove {}",
                crate::codex::command::quote(rec.repo.as_os_str()),
                crate::codex::command::quote(rec.path.as_os_str())
            ));
        }
        return Ok(lines);
    }
    for rec in worktree::cleanup(store, key.as_str())? {
        ctx.output.info(&format!(
            "Removed the worktree {}; the branch {} stays.",
            rec.path.display(),
            rec.branch
        ));
    }
    Ok(Vec::new())
}
