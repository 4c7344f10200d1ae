//! `csm resume KEY`: the flags of [`workflow::resume`], its outcome
//! printed.

use crate::codex::thread::Unarchive;
use crate::command_error::CommandError;
use crate::context::Context;
use crate::store::Session;
use crate::tracker::TicketKey;
use crate::workflow::{self, CodexLauncher, resume::Outcome};

/// Arguments of `csm resume`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ticket key.
    key: String,
    /// Which session: a Codex session id or csm's session number (default:
    /// the latest).
    #[arg(long)]
    session: Option<String>,
    /// Print the prompt and the exact Codex command; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Bring back an archived Codex session first (`codex unarchive`)
    /// without asking.
    #[arg(long)]
    unarchive: bool,
}

/// Runs `csm resume`.
pub fn run(ctx: &Context, args: Args) -> Result<(), CommandError> {
    let key = TicketKey::parse(&args.key)?;
    let (key, session) = workflow::resume::find(ctx, &key, args.session.as_deref())?;
    let unarchive = if args.unarchive {
        Unarchive::Yes
    } else {
        Unarchive::Ask
    };
    resume_session(ctx, &key, &session, args.dry_run, unarchive)
}

/// Resumes one recorded session, prints a dry run, and ends like Codex
/// did.
pub fn resume_session(
    ctx: &Context,
    key: &TicketKey,
    session: &Session,
    dry_run: bool,
    unarchive: Unarchive,
) -> Result<(), CommandError> {
    match workflow::resume::run(ctx, key, session, dry_run, unarchive, &CodexLauncher)? {
        Outcome::DryRun {
            prompt,
            plan,
            command,
        } => {
            if let Some(p) = &prompt {
                println!("{p}");
                println!("---");
            }
            for line in plan {
                println!("{line}");
            }
            println!("{command}");
            Ok(())
        }
        Outcome::Ran(exit) => workflow::exit_with(exit.code()),
    }
}
