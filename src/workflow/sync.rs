//! Delivering what the outbox holds and saying what happened: shared by
//! `done` (its own ticket's items) and `csm sync` (everything queued).

use crate::command_error::CommandError;
use crate::context::Context;
use crate::outbox::{self, DeliverError, Delivered, Outcome};
use crate::output::sanitize;
use crate::store::OutboxItem;
use crate::store::Store;
use crate::tracker::TicketKey;

/// Delivers the ticket's queued items, saying what happened.
pub fn deliver(ctx: &Context, store: &Store, key: &TicketKey) -> Result<(), CommandError> {
    let outcomes = {
        let _spin = ctx.output.spinner(&format!("Posting to {key}"));
        let forge = crate::pr::forge_for_pending(ctx, store, Some(key.as_str()))?;
        outbox::flush_with(
            store,
            Some(key.as_str()),
            |id| ctx.tracker_by_id(id).ok().flatten(),
            forge.as_ref().map(|f| f as &dyn outbox::Forge),
        )?
    };
    report(ctx, &outcomes)
}

/// One queued item in words.
pub fn describe(item: &OutboxItem) -> String {
    let body = &item.body;
    match item.kind.as_str() {
        outbox::kind::COMMENT => match crate::note::part_of(&item.marker) {
            Some(part) => format!("note (part {part})"),
            None => "note".into(),
        },
        outbox::kind::TRANSITION => format!("move to \"{}\"", sanitize(body.trim())),
        outbox::kind::WORKLOG => format!("log {}s of work", body.trim()),
        outbox::kind::TICK => "ticking the met criteria".into(),
        outbox::kind::PUSH => "pushing the branch".into(),
        outbox::kind::PULL_REQUEST => "the pull request".into(),
        outbox::kind::PR_LINK => "linking the pull request".into(),
        other => other.to_string(),
    }
}

/// What to do about a parked item.
pub fn what_to_do(id: i64) -> String {
    format!(
        "fix it with `csm sync --edit {id}` (opens $EDITOR), or drop it with `csm sync --discard {id}`"
    )
}

/// Says what a flush did; fails when something stays queued.
pub fn report(ctx: &Context, outcomes: &[Outcome]) -> Result<(), CommandError> {
    let mut failed: Vec<String> = Vec::new();
    let mut refused_push = None;
    let mut refused: Vec<(String, i64)> = Vec::new();
    for Outcome { item, result } in outcomes {
        let key = &item.ticket_key;
        let what = describe(item);
        match result {
            Ok(Delivered::Posted(id)) => {
                ctx.output
                    .info(&format!("Posted the {what} to {key} (comment {id})."));
            }
            Ok(Delivered::FoundPosted(id)) => ctx.output.info(&format!(
                "{key} already has the {what} (comment {id}) from an earlier attempt; not posted again."
            )),
            Ok(Delivered::Moved(status)) => {
                ctx.output.info(&format!("{key} → {}", sanitize(status)));
            }
            Ok(Delivered::Logged) => ctx.output.info(&format!("Logged the work on {key}.")),
            Ok(Delivered::ByOther) => ctx.output.info(&format!(
                "Another csm process posted the {what} to {key}."
            )),
            Ok(Delivered::Ticked(n)) => ctx
                .output
                .info(&format!("Ticked {n} met criteria on {key}.")),
            Ok(Delivered::Pushed(branch)) => ctx
                .output
                .info(&format!("Pushed {} for {key}.", sanitize(branch))),
            Ok(Delivered::PullRequest(url, created)) => {
                ctx.output.info(&if *created {
                    format!("Opened the pull request for {key}:")
                } else {
                    format!("Updated the pull request {key} already had:")
                });
                println!("{}", sanitize(url));
            }
            Ok(Delivered::Linked(_)) => ctx
                .output
                .info(&format!("Linked the pull request on {key}.")),
            Err(DeliverError::Git(e)) if refused_push.is_none() => {
                refused_push = Some((key.clone(), e.to_string()));
            }
            Err(DeliverError::Waiting | DeliverError::NoForge) => {}
            Err(DeliverError::Busy) => ctx.output.info(&format!(
                "Another csm process is posting the {what} to {key} (item {}); left to it.",
                item.id
            )),
            Err(DeliverError::Refused(message)) => refused.push((
                format!(
                    "the tracker refused the {what} for {key} (item {}): {}",
                    item.id,
                    sanitize(message)
                ),
                item.id,
            )),
            Err(e) => failed.push(format!(
                "{what} for {key} (item {}): {}",
                item.id,
                sanitize(&e.to_string())
            )),
        }
    }
    if let Some((key, message)) = refused_push {
        return Err(CommandError::failure(format!(
            "the push was refused, so no pull request was opened: {}",
            sanitize(&message)
        ))
        .hint(format!(
            "the note and the rest are not held back by it; check that you may push the branch (no upstream access? pull first if it is not a fast-forward), then run `csm done {key} --pr` again to push and open the pull request"
        )));
    }
    if let Some((_, id)) = refused.first() {
        let lines: Vec<&str> = refused.iter().map(|(l, _)| l.as_str()).collect();
        let mut text = format!("{}; not retried as it is", lines.join("; "));
        if !failed.is_empty() {
            text.push_str(&format!(
                " (also queued, to be retried by `csm sync`: {})",
                failed.join("; ")
            ));
        }
        return Err(CommandError::failure(text).hint(format!(
            "{}; `csm sync --list` shows what needs attention",
            what_to_do(*id)
        )));
    }
    if failed.is_empty() {
        return Ok(());
    }
    Err(CommandError::failure(format!(
        "could not post {}; it stays queued and will be retried by `csm sync`",
        failed.join("; ")
    ))
    .hint("`csm sync` retries now (every csm command also tries briefly); `csm sync --list` shows the queue"))
}
