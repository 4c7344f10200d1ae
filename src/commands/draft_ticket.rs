//! `csm draft-ticket ["idea" | -f FILE | KEY]`: the flags of
//! [`workflow::draft`], the key it wrote printed.

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use crate::codex::Settings;
use crate::command_error::CommandError;
use crate::context::Context;
use crate::tracker::TicketKey;
use crate::workflow::{self, draft::Goal};

/// Arguments of `csm draft-ticket`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The idea, or the key of a ticket whose acceptance criteria to
    /// rewrite. Without it (and without -f), the idea is read from
    /// standard input.
    #[arg(value_name = "IDEA|KEY", conflicts_with = "file")]
    input: Option<String>,
    /// Read the idea from FILE (`-` for standard input).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// The new ticket's project (Jira project key, or the local key prefix).
    #[arg(short, long)]
    project: Option<String>,
    /// The new ticket's issue type (Jira; default Story).
    #[arg(long = "type", value_name = "TYPE")]
    issue_type: Option<String>,
    /// The repository folder Codex reads (default: the current folder).
    #[arg(long)]
    folder: Option<PathBuf>,
    /// Accept the draft without review (no terminal needed).
    #[arg(short, long)]
    yes: bool,
    /// Codex settings for the drafting run, e.g. `-s effort=high` (see
    /// `csm set --help`). Codex always runs read-only.
    #[arg(short = 's', long = "set", value_name = "NAME=VALUE")]
    settings: Vec<String>,
}

/// Runs `csm draft-ticket`.
pub fn run(ctx: &Context, args: Args) -> Result<(), CommandError> {
    let request = workflow::draft::Request {
        settings: settings(&args.settings)?,
        goal: goal(&args)?,
        project: args.project,
        issue_type: args.issue_type,
        folder: args.folder,
        yes: args.yes,
    };
    match workflow::draft::run(ctx, &request)? {
        workflow::draft::Outcome::Created(key) | workflow::draft::Outcome::Updated(key) => {
            println!("{key}");
        }
    }
    Ok(())
}

fn settings(assignments: &[String]) -> Result<Settings, CommandError> {
    let mut settings = Settings::default();
    for s in assignments {
        settings
            .apply(s)
            .map_err(|e| CommandError::usage(e.to_string()))?;
    }
    if settings
        .sandbox
        .is_some_and(|s| s != crate::codex::settings::Sandbox::ReadOnly)
    {
        return Err(CommandError::usage(
            "drafting runs Codex read-only; it cannot take another sandbox",
        )
        .hint("drop the sandbox setting"));
    }
    settings
        .set("sandbox", "read-only")
        .map_err(|e| CommandError::failure(e.to_string()))?;
    Ok(settings)
}

/// The idea (argument, file or standard input) or the key.
fn goal(args: &Args) -> Result<Goal, CommandError> {
    let idea = match (&args.input, &args.file) {
        (Some(text), _) => {
            if !text.contains(char::is_whitespace)
                && let Ok(key) = TicketKey::parse(text)
            {
                return Ok(Goal::Criteria(key));
            }
            text.clone()
        }
        (None, Some(path)) if path.as_os_str() == "-" => read_stdin()?,
        (None, Some(path)) => std::fs::read_to_string(path).map_err(|e| {
            CommandError::usage(format!("cannot read {}: {e}", path.display()))
                .hint("pass an existing text file with -f")
        })?,
        (None, None) => {
            if std::io::stdin().is_terminal() {
                return Err(CommandError::usage("no idea given").hint(
                    "pass the idea as an argument, with -f FILE, or on standard input; or a ticket key",
                ));
            }
            read_stdin()?
        }
    };
    if idea.trim().is_empty() {
        return Err(CommandError::usage("the idea is empty")
            .hint("describe what the ticket should achieve, in a sentence or more"));
    }
    Ok(Goal::New(idea))
}

fn read_stdin() -> Result<String, CommandError> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| CommandError::failure(format!("cannot read standard input: {e}")))?;
    Ok(text)
}
