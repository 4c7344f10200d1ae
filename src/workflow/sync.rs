//! Delivering what the outbox holds and saying what happened: shared by
//! `done` (its own ticket's items) and `csm sync` (everything queued).

use crate::command_error::CommandError;
use crate::context::Context;
use crate::outbox::{self, DeliverError, Delivered, Outcome};
use crate::output::sanitize;
use crate::store::Store;
use crate::tracker::TicketKey;

/// Delivers the ticket's queued items, saying what happened.
pub fn deliver(ctx: &Context, store: &Store, key: &TicketKey) -> Result<(), CommandError> {
    let outcomes = {
        let _spin = ctx.output.spinner(&format!("Posting to {key}"));
        outbox::flush(store, Some(key.as_str()), |id| {
            ctx.tracker_by_id(id).ok().flatten()
        })?
    };
    report(ctx, &outcomes)
}

/// One queued item in words.
pub fn describe(kind: &str, body: &str) -> String {
    match kind {
        outbox::kind::COMMENT => "note".into(),
        outbox::kind::TRANSITION => format!("move to \"{}\"", sanitize(body.trim())),
        outbox::kind::WORKLOG => format!("log {}s of work", body.trim()),
        outbox::kind::TICK => "ticking the met criteria".into(),
        other => other.to_string(),
    }
}

/// Says what a flush did; fails when something stays queued.
pub fn report(ctx: &Context, outcomes: &[Outcome]) -> Result<(), CommandError> {
    let mut failed: Vec<String> = Vec::new();
    for Outcome { item, result } in outcomes {
        let key = &item.ticket_key;
        match result {
            Ok(Delivered::Posted(id)) => {
                ctx.output
                    .info(&format!("Posted the note to {key} (comment {id})."));
            }
            Ok(Delivered::FoundPosted(id)) => ctx.output.info(&format!(
                "{key} already has the note (comment {id}) from an earlier attempt; not posted again."
            )),
            Ok(Delivered::Moved(status)) => {
                ctx.output.info(&format!("{key} → {}", sanitize(status)));
            }
            Ok(Delivered::Logged) => ctx.output.info(&format!("Logged the work on {key}.")),
            Ok(Delivered::Ticked(n)) => ctx
                .output
                .info(&format!("Ticked {n} met criteria on {key}.")),
            Err(DeliverError::Waiting) => {}
            Err(e) => failed.push(format!(
                "{} for {key} (item {}): {}",
                describe(&item.kind, &item.body),
                item.id,
                sanitize(&e.to_string())
            )),
        }
    }
    if failed.is_empty() {
        return Ok(());
    }
    Err(CommandError::failure(format!(
        "could not post {}; it stays queued and will be retried",
        failed.join("; ")
    ))
    .hint("`csm sync` retries now (every csm command also tries briefly); `csm sync --list` shows the queue"))
}
