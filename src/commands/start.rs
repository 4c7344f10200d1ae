//! `csm start KEY`: the flags of [`workflow::start`], its outcome printed.
//! With `--worktree` (or `[workflow] worktree = true`) the folder is a git
//! worktree on a branch of the ticket's own.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use crate::codex::Settings;
use crate::command_error::CommandError;
use crate::context::Context;
use crate::tracker::TicketKey;
use crate::workflow::{self, CodexLauncher, start::Outcome};

/// Arguments of `csm start`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ticket key, e.g. PROJ-123.
    key: String,
    /// The folder to work in (default: the current folder).
    #[arg(long)]
    folder: Option<PathBuf>,
    /// Print the prompt and the exact Codex command; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Start even if the readiness lint rejects the ticket (see `csm lint`).
    #[arg(long)]
    force: bool,
    /// Start another session although the ticket has one.
    #[arg(long)]
    new: bool,
    /// Settings for this session, e.g. `-s effort=high -s model=gpt-5.5`
    /// (see `csm set --help`).
    #[arg(short = 's', long = "set", value_name = "NAME=VALUE")]
    settings: Vec<String>,
    /// Work on a branch and in a git worktree of the ticket's own (default:
    /// `[workflow] worktree`); a second start finds them again.
    #[arg(long, overrides_with = "no_worktree")]
    worktree: bool,
    /// Work in the folder itself, even when `[workflow] worktree` is on.
    #[arg(long)]
    no_worktree: bool,
}

/// Runs `csm start`.
pub fn run(ctx: &Context, args: Args) -> Result<(), CommandError> {
    let key = TicketKey::parse(&args.key)?;
    let mut settings = Settings::default();
    for s in &args.settings {
        settings
            .apply(s)
            .map_err(|e| CommandError::usage(e.to_string()))?;
    }
    let request = workflow::start::Request {
        key: key.clone(),
        folder: args.folder,
        dry_run: args.dry_run,
        force: args.force,
        new: args.new,
        settings,
        worktree: if args.no_worktree {
            Some(false)
        } else {
            args.worktree.then_some(true)
        },
    };
    match workflow::start::run(ctx, &request, &CodexLauncher)? {
        Outcome::DryRun {
            prompt,
            plan,
            command,
        } => {
            println!("{prompt}");
            println!("---");
            for line in plan {
                println!("{line}");
            }
            println!("{command}");
            Ok(())
        }
        Outcome::HasSession(last) => {
            if std::io::stdin().is_terminal() && ask_resume(&key)? {
                return super::resume::resume_session(
                    ctx,
                    &key,
                    &last,
                    false,
                    crate::codex::thread::Unarchive::Ask,
                );
            }
            Err(workflow::start::has_session(&key, &last))
        }
        Outcome::Ran {
            key,
            captured,
            exit,
            ..
        } => {
            if captured {
                ctx.output
                    .info(&format!("Codex exited. Continue with `csm resume {key}`."));
            } else {
                ctx.output.warn(&format!(
                    "Codex exited before its session id was seen; link it later with `csm link {key} --last`"
                ));
            }
            workflow::exit_with(exit.code())
        }
    }
}

/// Asks on the terminal whether to resume the ticket's session.
fn ask_resume(key: &TicketKey) -> Result<bool, CommandError> {
    eprint!("{key} already has a session. Resume it? [Y/n] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| CommandError::failure(format!("cannot read the answer: {e}")))?;
    Ok(!answer.trim().eq_ignore_ascii_case("n"))
}
