//! `csm lint KEY`: the readiness lint's verdict on a ticket, with the
//! reason for every finding. Exits 1 when the ticket is not ready, so
//! scripts can gate on it.

use crate::command_error::CommandError;
use crate::context::Context;
use crate::lint::lint_ticket;
use crate::output::sanitize;
use crate::tracker::TicketKey;

/// Arguments of `csm lint`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ticket key, e.g. PROJ-123.
    key: String,
    /// Print JSON: key, ready, and findings (target, index, reason,
    /// message and the reason's details).
    #[arg(long)]
    json: bool,
}

/// Runs `csm lint`.
pub fn run(ctx: &Context, args: Args) -> Result<(), CommandError> {
    let key = TicketKey::parse(&args.key)?;
    let tracker = ctx.tracker()?;
    let ticket = {
        let _spin = ctx.output.spinner(&format!("Reading {key}"));
        tracker.get(&key)?
    };
    let verdict = lint_ticket(&ticket);
    let criteria = &ticket.acceptance_criteria;
    if args.json {
        let findings: Vec<serde_json::Value> = verdict
            .findings
            .iter()
            .map(|f| {
                let mut v = serde_json::to_value(f).unwrap_or_default();
                v["message"] = f.describe(criteria).into();
                v
            })
            .collect();
        let out = serde_json::json!({
            "key": key,
            "ready": verdict.is_ready(),
            "findings": findings,
        });
        let text = crate::output::json(&out)
            .map_err(|e| CommandError::failure(format!("cannot write JSON: {e}")))?;
        println!("{text}");
    } else if verdict.is_ready() {
        let n = criteria.len();
        println!(
            "{key} is ready: {n} testable criteri{}",
            if n == 1 { "on" } else { "a" }
        );
    } else {
        // One write, not one a line (stdout flushes at every newline).
        let mut out = format!("{key}  {}\n", sanitize(&ticket.summary));
        for f in &verdict.findings {
            out.push_str(&format!("  - {}\n", sanitize(&f.describe(criteria))));
        }
        print!("{out}");
    }
    if verdict.is_ready() {
        return Ok(());
    }
    let n = verdict.findings.len();
    Err(CommandError::failure(format!(
        "{key} is not ready: {n} finding{}",
        if n == 1 { "" } else { "s" }
    ))
    .hint(format!(
        "rewrite its criteria with `csm draft-ticket {key}`, or edit the ticket"
    )))
}
