//! `csm done KEY`: the flags of [`workflow::done`], its outcome printed.

use crate::command_error::CommandError;
use crate::context::Context;
use crate::tracker::TicketKey;
use crate::workflow::{self, done::Outcome};

/// Arguments of `csm done`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ticket key.
    key: String,
    /// Which session: a Codex session id or csm's session number (default:
    /// the latest).
    #[arg(long)]
    session: Option<String>,
    /// The status to move the ticket to (default: `[workflow] done_status`).
    #[arg(long, value_name = "NAME", conflicts_with = "no_transition")]
    status: Option<String>,
    /// Post the note but leave the ticket's status alone.
    #[arg(long)]
    no_transition: bool,
    /// Move the ticket even if a criterion is not shown met.
    #[arg(long)]
    force: bool,
    /// Print the note and what would happen; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Edit the note in $EDITOR before it is posted.
    #[arg(long)]
    edit: bool,
    /// Run `[workflow] test_command` and put its result in the note.
    #[arg(long)]
    run_tests: bool,
    /// Log the session's active time as work on the ticket.
    #[arg(long)]
    log_work: bool,
    /// Then remove the ticket's worktree (refused, naming what would be
    /// lost, when it holds uncommitted or unpushed work).
    #[arg(long)]
    cleanup: bool,
    /// Push the ticket's branch and open its pull request on GitHub (also
    /// `[workflow] pr = true`).
    #[arg(long)]
    pr: bool,
    /// The branch the pull request merges into (default: the
    /// repository's default branch).
    #[arg(long, value_name = "BRANCH")]
    base: Option<String>,
    /// Open the pull request as a draft.
    #[arg(long)]
    draft: bool,
}

/// Runs `csm done`.
pub fn run(ctx: &Context, args: Args) -> Result<(), CommandError> {
    let request = workflow::done::Request {
        key: TicketKey::parse(&args.key)?,
        session: args.session,
        status: args.status,
        no_transition: args.no_transition,
        force: args.force,
        dry_run: args.dry_run,
        edit: args.edit,
        run_tests: args.run_tests,
        log_work: args.log_work,
        cleanup: args.cleanup,
        pr: args.pr,
        base: args.base,
        draft: args.draft,
    };
    if let Outcome::Preview { notes, actions } = workflow::done::run(ctx, &request)? {
        print_preview(&notes, &actions);
    }
    Ok(())
}

/// Prints a dry run's note (each part followed by a rule), and what would
/// happen.
pub fn print_preview(notes: &[String], actions: &[String]) {
    for note in notes {
        println!("{note}");
        println!("---");
    }
    for line in actions {
        println!("{line}");
    }
}
