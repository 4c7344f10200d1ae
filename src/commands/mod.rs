//! The command line: one file per command, each with a clap `Args` struct
//! and a `run` function. This module holds the top-level parser and the
//! dispatch.

pub mod auth;
pub mod completions;
pub mod config;
pub mod doctor;
pub mod done;
pub mod draft_ticket;
pub mod forget;
pub mod hook;
pub mod link;
pub mod lint;
pub mod list;
pub mod man;
pub mod mcp;
pub mod resume;
pub mod set;
pub mod show;
pub mod start;
pub mod sync;
pub mod tabs;
pub mod ticket;
pub mod trust;
pub mod ui;
pub mod unlink;
pub mod watching;
pub mod worktree;

use clap::{Parser, Subcommand};

use crate::command_error::CommandError;
use crate::context::Context;
use crate::output::Output;

/// Codex Session Manager: tie every Codex session to a ticket and a folder.
#[derive(Debug, Parser)]
#[command(
    name = "csm",
    version,
    about,
    long_about = "csm ties every OpenAI Codex CLI session to a ticket (a Jira issue or a \
                  local Markdown ticket) and to a folder, so that a ticket key is all you \
                  need to start, resume and finish work that spans days.",
    after_help = "Without a command, csm opens the dashboard (`csm ui`) on a terminal \
                  and prints `csm list` otherwise.\n\
                  Exit codes: 0 ok, 1 error, 2 usage or configuration error, \
                  3 not found, 4 authentication."
)]
pub struct Cli {
    /// More log detail on stderr and in the log file (-v info, -vv debug).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Print only results and errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// What to do (default: the dashboard on a terminal, else `list`).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in to the tracker, or check or remove the stored token.
    Auth(auth::Args),
    /// Start work on a ticket: prompt, status, and Codex in its folder.
    Start(start::Args),
    /// Resume a ticket's Codex session, telling it what changed.
    Resume(resume::Args),
    /// List the sessions being worked on.
    List(list::Args),
    /// Finish a ticket: post an evidence-based note and move it to done.
    Done(done::Args),
    /// Post the notes and moves still queued for trackers.
    Sync(sync::Args),
    /// Show everything about a ticket's sessions.
    Show(show::Args),
    /// The dashboard: sessions by status, resumed with one key, settings
    /// changed in place.
    Ui(ui::Args),
    /// Change a session's Codex settings (model, effort, sandbox, ...).
    Set(set::Args),
    /// Adopt an existing Codex session for a ticket.
    Link(link::Args),
    /// Drop one session's link to a ticket.
    Unlink(unlink::Args),
    /// Remove every session csm recorded for a ticket.
    Forget(forget::Args),
    /// Create, list, show, comment on and move tickets.
    Ticket(ticket::Args),
    /// List, approve, deny and stop the commands Codex runs in tabs.
    Tabs(tabs::Args),
    /// Serve a session's tabs to Codex over MCP (csm passes this to Codex).
    Mcp(mcp::Args),
    /// Let Codex draft a ready ticket from an idea, or rewrite a ticket's
    /// acceptance criteria.
    DraftTicket(draft_ticket::Args),
    /// Check that a ticket is ready: testable acceptance criteria, one
    /// responsibility.
    Lint(lint::Args),
    /// List the git worktrees csm made for tickets, or remove one.
    Worktree(worktree::Args),
    /// Show the resolved configuration and where each value came from.
    Config(config::Args),
    /// Let this repository's .csm.toml set the keys that run programs or
    /// choose where credentials go (for exactly its present content).
    Trust(trust::Args),
    /// Check that csm can work here: config, store, credentials, codex.
    Doctor(doctor::Args),
    /// Hooks Codex calls (csm passes them itself).
    #[command(hide = true)]
    Hook(hook::Args),
    /// Print a shell completion script.
    Completions(completions::Args),
    /// Print the man page.
    Man(man::Args),
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<(), CommandError> {
    crate::credentials::keep_process_private();
    let output = Output::detect(cli.quiet);
    let ctx = Context::new(output)?;
    ctx.register_short_keys();
    // Bare `csm` is the dashboard for a person at a terminal, and the list
    // for a script or a pipe (as `jj` runs `jj log`).
    let command = cli.command.unwrap_or_else(|| {
        if crate::ui::can_run() {
            Command::Ui(ui::Args::default())
        } else {
            Command::List(list::Args::default())
        }
    });
    // The dashboard owns the terminal: log lines go to the file only.
    let stderr_log = !matches!(command, Command::Ui(_));
    if matches!(command, Command::Ui(_) | Command::Hook(_) | Command::Mcp(_)) {
        ctx.mute_trust_notice();
    }
    crate::output::init_logging(
        cli.verbose,
        cli.quiet,
        Some(&ctx.dirs.log_dir()),
        stderr_log,
    );
    tracing::debug!(command = ?std::env::args().nth(1), "csm starting");
    if matches!(
        command,
        Command::Start(_)
            | Command::Resume(_)
            | Command::List(_)
            | Command::Show(_)
            | Command::Set(_)
            | Command::Link(_)
            | Command::Unlink(_)
            | Command::Ticket(_)
    ) {
        // Notes `csm done` could not post go out as soon as csm runs again.
        sync::background(&ctx);
    }
    match command {
        Command::Auth(args) => auth::run(&ctx, args),
        Command::Start(args) => start::run(&ctx, args),
        Command::Resume(args) => resume::run(&ctx, args),
        Command::Set(args) => set::run(&ctx, args),
        Command::Link(args) => link::run(&ctx, args),
        Command::Hook(args) => hook::run(&ctx, args),
        Command::List(args) => list::run(&ctx, args),
        Command::Show(args) => show::run(&ctx, args),
        Command::Done(args) => done::run(&ctx, args),
        Command::Sync(args) => sync::run(&ctx, args),
        Command::Ui(args) => ui::run(&ctx, args),
        Command::Unlink(args) => unlink::run(&ctx, args),
        Command::Forget(args) => forget::run(&ctx, args),
        Command::Ticket(args) => ticket::run(&ctx, args),
        Command::Tabs(args) => tabs::run(&ctx, args),
        Command::Mcp(args) => mcp::run(&ctx, args),
        Command::DraftTicket(args) => draft_ticket::run(&ctx, args),
        Command::Lint(args) => lint::run(&ctx, args),
        Command::Worktree(args) => worktree::run(&ctx, args),
        Command::Config(args) => config::run(&ctx, args),
        Command::Trust(args) => trust::run(&ctx, args),
        Command::Doctor(args) => doctor::run(&ctx, args),
        Command::Completions(args) => completions::run(args),
        Command::Man(args) => man::run(args),
    }
}
