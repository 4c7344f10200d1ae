//! `csm ticket new|list|show|comment|move`: tickets in whichever tracker is
//! configured (the local Markdown tracker by default, or Jira).

use std::io::{IsTerminal, Read};

use crate::command_error::CommandError;
use crate::context::Context;
use crate::output::sanitize;
use crate::tracker::{NewTicket, Query, Ticket, TicketKey};

/// Arguments of `csm ticket`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Create a ticket and print its key.
    New {
        /// The one-line summary.
        summary: String,
        /// The description (Markdown); `-` reads it from standard input.
        #[arg(short, long)]
        description: Option<String>,
        /// An acceptance criterion; repeat for each.
        #[arg(long = "ac", value_name = "CRITERION")]
        acceptance_criteria: Vec<String>,
        /// A label; repeat for each.
        #[arg(short, long = "label")]
        labels: Vec<String>,
        /// The issue type (Jira; default Story).
        #[arg(long = "type")]
        issue_type: Option<String>,
        /// The project (Jira project key, or the local key prefix).
        #[arg(short, long)]
        project: Option<String>,
        /// Print the created ticket as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List tickets.
    List {
        /// A Jira JQL query (Jira only).
        #[arg(long)]
        jql: Option<String>,
        /// Print a JSON array of tickets (the schema of `show --json`).
        #[arg(long)]
        json: bool,
    },
    /// Show one ticket with its acceptance criteria.
    Show {
        /// The ticket key, e.g. PROJ-123.
        key: String,
        /// Print JSON: key, summary, description, acceptance_criteria,
        /// status, labels, issue_type, updated, comment_count, url.
        #[arg(long)]
        json: bool,
    },
    /// Add a comment (a note) to a ticket.
    Comment {
        /// The ticket key.
        key: String,
        /// The comment (Markdown); read from standard input when absent.
        body: Option<String>,
    },
    /// Move a ticket to another status.
    Move {
        /// The ticket key.
        key: String,
        /// The status to move to (or a transition's name), any case.
        status: String,
    },
}

/// Runs `csm ticket`.
pub fn run(ctx: &Context, args: Args) -> Result<(), CommandError> {
    match args.action {
        Action::New {
            summary,
            description,
            acceptance_criteria,
            labels,
            issue_type,
            project,
            json,
        } => {
            let summary = summary.trim().to_string();
            if summary.is_empty() {
                return Err(CommandError::usage("the summary is empty")
                    .hint("give the ticket a one-line summary"));
            }
            let description = match description.as_deref() {
                Some("-") => read_stdin("description")?,
                Some(d) => d.to_string(),
                None => String::new(),
            };
            let new = NewTicket {
                project,
                issue_type,
                summary,
                description,
                acceptance_criteria,
                labels,
            };
            let tracker = ctx.tracker()?;
            let key = {
                let _spin = ctx.output.spinner("Creating the ticket");
                tracker.create(&new)?
            };
            if json {
                let ticket = tracker.get(&key)?;
                print_json(&ticket)?;
            } else {
                println!("{key}");
            }
            Ok(())
        }
        Action::List { jql, json } => {
            let tracker = ctx.tracker()?;
            let query = jql.map_or(Query::All, Query::Native);
            let tickets = {
                let _spin = ctx.output.spinner("Listing tickets");
                tracker.search(&query)?
            };
            if json {
                return print_json(&tickets);
            }
            if tickets.is_empty() {
                ctx.output
                    .info("No tickets. Create one with `csm ticket new \"Summary\"`.");
            }
            let key_width = tickets
                .iter()
                .map(|t| t.key.as_str().len())
                .max()
                .unwrap_or(0);
            let status_width = tickets.iter().map(|t| t.status.len()).max().unwrap_or(0);
            for t in &tickets {
                println!(
                    "{:<key_width$}  {:<status_width$}  {}",
                    t.key.as_str(),
                    sanitize(&t.status),
                    sanitize(&t.summary)
                );
            }
            Ok(())
        }
        Action::Show { key, json } => {
            let key = TicketKey::parse(&key)?;
            let tracker = ctx.tracker()?;
            let ticket = {
                let _spin = ctx.output.spinner("Reading the ticket");
                tracker.get(&key)?
            };
            if json {
                print_json(&ticket)
            } else {
                print!("{}", render(ctx, &ticket));
                Ok(())
            }
        }
        Action::Comment { key, body } => {
            let key = TicketKey::parse(&key)?;
            let body = match body {
                Some(b) => b,
                None => read_stdin("comment")?,
            };
            if body.trim().is_empty() {
                return Err(CommandError::usage("the comment is empty")
                    .hint("pass the text as an argument or on standard input"));
            }
            let tracker = ctx.tracker()?;
            let comment = tracker.comment(&key, &body)?;
            ctx.output
                .info(&format!("Added comment {} to {key}.", comment.id));
            Ok(())
        }
        Action::Move { key, status } => {
            let key = TicketKey::parse(&key)?;
            let tracker = ctx.tracker()?;
            let store = match ctx.dirs.store_file().exists() {
                true => ctx.store().ok(),
                false => None,
            };
            let now = {
                let _spin = ctx.output.spinner("Moving the ticket");
                crate::session::move_ticket(store.as_ref(), tracker.as_ref(), &key, &status)?
            };
            ctx.output.info(&format!(
                "{key} is now {}{}.",
                sanitize(&now.status),
                sanitize(&now.via())
            ));
            Ok(())
        }
    }
}

fn read_stdin(what: &str) -> Result<String, CommandError> {
    if std::io::stdin().is_terminal() {
        return Err(CommandError::usage(format!("no {what} given"))
            .hint(format!("pass the {what} as an argument, or pipe it in")));
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| CommandError::failure(format!("cannot read the {what}: {e}")))?;
    Ok(text)
}

fn print_json<T: serde::Serialize>(value: &T) -> Result<(), CommandError> {
    let text = crate::output::json(value)
        .map_err(|e| CommandError::failure(format!("cannot write JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

/// A ticket as text for a person: header, labels, description, criteria.
fn render(ctx: &Context, t: &Ticket) -> String {
    let mut out = String::new();
    let status = ctx
        .output
        .paint(&format!("[{}]", sanitize(&t.status)), "36");
    let key = ctx.output.paint(t.key.as_str(), "1");
    out.push_str(&format!("{key}  {}  {status}\n", sanitize(&t.summary)));
    if !t.labels.is_empty() {
        out.push_str(&format!("labels: {}\n", sanitize(&t.labels.join(", "))));
    }
    if let Some(url) = &t.url {
        out.push_str(&format!("url: {}\n", sanitize(url)));
    }
    let description = sanitize(t.description.trim());
    if !description.is_empty() {
        out.push('\n');
        out.push_str(&description);
        out.push('\n');
    }
    out.push_str("\nAcceptance criteria:\n");
    if t.acceptance_criteria.is_empty() {
        out.push_str("  (none: this ticket is not ready to be worked on)\n");
    }
    for (i, ac) in t.acceptance_criteria.iter().enumerate() {
        out.push_str(&format!("  {}. {}\n", i + 1, sanitize(ac)));
    }
    if t.comment_count > 0 {
        out.push_str(&format!("\n{} comment(s)\n", t.comment_count));
    }
    out
}
