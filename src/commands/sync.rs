//! `csm sync`: post what the outbox still holds (notes `csm done` could not
//! post, and the moves queued after them). Other commands run a short sync
//! first, so a note waiting for Jira to come back goes out on its own.

use crate::command_error::CommandError;
use crate::context::Context;
use crate::outbox::{self, DeliverError, Delivered, Outcome};
use crate::output::sanitize;

/// Arguments of `csm sync`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// List the queued items; post nothing.
    #[arg(long, conflicts_with = "discard")]
    list: bool,
    /// Drop a queued item for good (its number from `csm sync --list`).
    #[arg(long, value_name = "N")]
    discard: Option<i64>,
}

/// How long the sync before another command waits for a tracker.
pub const BACKGROUND_WAIT_SECS: u64 = 3;

/// Runs `csm sync`.
pub fn run(ctx: &Context, args: Args) -> Result<(), CommandError> {
    if !ctx.dirs.store_file().exists() {
        ctx.output.info("Nothing to post.");
        return Ok(());
    }
    let store = ctx.store()?;
    if let Some(id) = args.discard {
        if store.outbox_discard(id)? {
            ctx.output.info(&format!("Dropped queued item {id}."));
            return Ok(());
        }
        return Err(CommandError::new(
            crate::command_error::ExitKind::NotFound,
            format!("no queued item {id}"),
        )
        .hint("`csm sync --list` shows the queued items"));
    }
    let pending = store.outbox_pending()?;
    if args.list {
        for item in &pending {
            println!(
                "{}\t{}\t{}\t{} attempt(s){}",
                item.id,
                item.ticket_key,
                describe(&item.kind, &item.body),
                item.attempts,
                item.last_error
                    .as_deref()
                    .map(|e| format!("\tlast error: {}", sanitize(e)))
                    .unwrap_or_default()
            );
        }
        return Ok(());
    }
    if pending.is_empty() {
        ctx.output.info("Nothing to post.");
        return Ok(());
    }
    let outcomes = {
        let _spin = ctx.output.spinner("Posting queued notes");
        // A push or pull request `csm done --pr` left queued goes out too.
        let forge = crate::pr::forge_for_pending(ctx, &store, None)?;
        outbox::flush_with(
            &store,
            None,
            |id| ctx.tracker_by_id(id).ok().flatten(),
            forge.as_ref().map(|f| f as &dyn outbox::Forge),
        )?
    };
    report(ctx, &outcomes)
}

fn describe(kind: &str, body: &str) -> String {
    match kind {
        outbox::kind::COMMENT => "note".into(),
        outbox::kind::TRANSITION => format!("move to \"{}\"", sanitize(body.trim())),
        outbox::kind::WORKLOG => format!("log {}s of work", body.trim()),
        outbox::kind::TICK => "ticking the met criteria".into(),
        outbox::kind::PUSH => "pushing the branch".into(),
        outbox::kind::PULL_REQUEST => "the pull request".into(),
        outbox::kind::PR_LINK => "linking the pull request".into(),
        other => other.to_string(),
    }
}

fn kind_is_pr(kind: &str) -> bool {
    outbox::kind::is_pull_request_chain(kind)
}

/// Says what a flush did; fails when something stays queued.
pub fn report(ctx: &Context, outcomes: &[Outcome]) -> Result<(), CommandError> {
    let mut failed: Vec<String> = Vec::new();
    let mut refused_push = None;
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
            Err(DeliverError::Waiting | DeliverError::NoForge) => {}
            Err(DeliverError::Git(e)) if refused_push.is_none() => {
                refused_push = Some((key.clone(), e.to_string()));
            }
            Err(e) => failed.push(format!(
                "{} for {key} (item {}): {}",
                describe(&item.kind, &item.body),
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
    if failed.is_empty() {
        return Ok(());
    }
    Err(CommandError::failure(format!(
        "could not post {}; it stays queued and will be retried",
        failed.join("; ")
    ))
    .hint("`csm sync` retries now (every csm command also tries briefly); `csm sync --list` shows the queue"))
}

/// The short sync other commands run first: silent when the outbox is
/// empty, a line when something went out, a warning when it could not.
pub fn background(ctx: &Context) {
    if !ctx.dirs.store_file().exists() {
        return;
    }
    let Ok(store) = ctx.store() else {
        return;
    };
    match store.outbox_pending() {
        Ok(p) if !p.is_empty() => {}
        _ => return,
    }
    ctx.quick_trackers(BACKGROUND_WAIT_SECS);
    let outcomes = outbox::flush(&store, None, |id| ctx.tracker_by_id(id).ok().flatten());
    ctx.quick_trackers(0);
    let Ok(outcomes) = outcomes else {
        return;
    };
    let waiting = outcomes
        .iter()
        .filter(|o| {
            o.result.is_err()
                && !matches!(o.result, Err(outbox::DeliverError::NoForge))
                && !(kind_is_pr(&o.item.kind)
                    && matches!(o.result, Err(outbox::DeliverError::Waiting)))
        })
        .count();
    for o in outcomes.iter().filter(|o| o.result.is_ok()) {
        if o.item.kind == outbox::kind::COMMENT {
            ctx.output
                .info(&format!("Posted the queued note to {}.", o.item.ticket_key));
        }
    }
    if waiting > 0 {
        ctx.output.warn(&format!(
            "{waiting} queued tracker update(s) could not be posted yet; `csm sync` retries"
        ));
    }
}
