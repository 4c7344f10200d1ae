//! `csm worktree list` and `csm worktree prune KEY`: the git worktrees csm
//! made for tickets (`csm start --worktree`), their state, and their
//! removal once nothing in them would be lost.

use std::path::Path;

use serde::Serialize;

use crate::command_error::CommandError;
use crate::context::Context;
use crate::session;
use crate::tracker::TicketKey;
use crate::workflow::prune;
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
        Sub::Prune { key, dry_run } => {
            let key = TicketKey::parse(&key)?;
            for line in prune::run(ctx, &key, dry_run)? {
                println!("{line}");
            }
            Ok(())
        }
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
    let records: Vec<Recorded> = worktree::recorded(store)?
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
