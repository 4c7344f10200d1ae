//! `csm worktree list` and `csm worktree prune KEY`: the git worktrees csm
//! made for tickets (`csm start --worktree`), their state, and their
//! removal once nothing in them would be lost.

use std::path::Path;

use serde::Serialize;

use crate::command_error::{CommandError, ExitKind};
use crate::context::Context;
use crate::session;
use crate::tracker::TicketKey;
use crate::worktree::{self, Recorded, State};

/// Arguments of `csm worktree`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// List the worktrees csm made: ticket, branch, folder and state.
    List {
        /// Include the worktrees csm removed.
        #[arg(short, long)]
        all: bool,
        /// Print a JSON array (see README.md).
        #[arg(long)]
        json: bool,
    },
    /// Remove a ticket's worktree when nothing in it would be lost (no
    /// uncommitted files, no commits on no remote or other branch); the
    /// branch stays.
    Prune {
        /// The ticket key.
        key: String,
        /// Say what would be removed; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Runs `csm worktree`.
pub fn run(ctx: &Context, args: Args) -> Result<(), CommandError> {
    match args.command {
        Sub::List { all, json } => list(ctx, all, json),
        Sub::Prune { key, dry_run } => prune(ctx, &key, dry_run),
    }
}

#[derive(Serialize)]
struct Row<'a> {
    key: &'a str,
    session: i64,
    branch: &'a str,
    folder: &'a Path,
    repo: &'a Path,
    start_commit: Option<&'a str>,
    #[serde(flatten)]
    state: State,
}

fn list(ctx: &Context, all: bool, json: bool) -> Result<(), CommandError> {
    let store = ctx.store()?;
    let records: Vec<Recorded> = worktree::recorded(&store)?
        .into_iter()
        .filter(|r| all || !r.removed)
        .collect();
    let states = worktree::states(&records);
    let rows: Vec<Row<'_>> = records
        .iter()
        .zip(states)
        .map(|(r, state)| Row {
            key: &r.key,
            session: r.session_id,
            branch: &r.branch,
            folder: &r.path,
            repo: &r.repo,
            start_commit: r.base.as_deref(),
            state,
        })
        .collect();
    if json {
        let text = crate::output::json(&rows)
            .map_err(|e| CommandError::failure(format!("cannot write JSON: {e}")))?;
        println!("{text}");
        return Ok(());
    }
    if rows.is_empty() {
        ctx.output
            .info("No worktrees. `csm start KEY --worktree` makes one per ticket.");
        return Ok(());
    }
    let home = ctx.home();
    let cells: Vec<[String; 4]> = rows
        .iter()
        .map(|r| {
            [
                r.key.to_string(),
                r.branch.to_string(),
                session::short_folder(r.folder, home.as_deref()),
                r.state.short(),
            ]
        })
        .collect();
    print!(
        "{}",
        ctx.output
            .table(["KEY", "BRANCH", "FOLDER", "STATE"], &cells)
    );
    Ok(())
}

pub(crate) fn prune(ctx: &Context, key: &str, dry_run: bool) -> Result<(), CommandError> {
    let key = TicketKey::parse(key)?;
    let store = ctx.store()?;
    let targets: Vec<Recorded> = worktree::recorded_for_ticket(&store, key.as_str())?
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
        for rec in &targets {
            worktree::check_removable(rec)?;
            println!(
                "git -C {} worktree remove {}",
                crate::codex::command::quote(rec.repo.as_os_str()),
                crate::codex::command::quote(rec.path.as_os_str())
            );
        }
        return Ok(());
    }
    for rec in worktree::cleanup(&store, key.as_str())? {
        ctx.output.info(&format!(
            "Removed the worktree {}; the branch {} stays.",
            rec.path.display(),
            rec.branch
        ));
    }
    Ok(())
}
