//! `csm sync`: post what the outbox still holds (notes `csm done` could not
//! post, and the moves queued after them). Other commands run a short sync
//! first, so a note waiting for Jira to come back goes out on its own. A
//! note the tracker refused for good is parked: `--list` shows it with the
//! tracker's message, `--edit N` opens it in `$EDITOR` and puts it back in
//! the queue, `--discard N` drops it.

use crate::command_error::CommandError;
use crate::context::Context;
use crate::outbox::{self, DeliverError, Delivered, Outcome};
use crate::output::sanitize;
use crate::store::{OutboxItem, Store};

/// Arguments of `csm sync`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// List the queued items; post nothing.
    #[arg(long, conflicts_with_all = ["discard", "edit"])]
    list: bool,
    /// Drop a queued item for good (its number from `csm sync --list`).
    #[arg(long, value_name = "N", conflicts_with = "edit")]
    discard: Option<i64>,
    /// Edit a queued item (a note the tracker refused; a move's status) in
    /// $EDITOR, then post it.
    #[arg(long, value_name = "N")]
    edit: Option<i64>,
}

/// How long the sync before another command waits for a tracker.
pub const BACKGROUND_WAIT_SECS: u64 = 3;

/// Runs `csm sync`.
pub fn run(ctx: &Context, args: Args) -> Result<(), CommandError> {
    if !ctx.dirs.store_file().exists() {
        if args.discard.or(args.edit).is_some() {
            return Err(no_item(args.discard.or(args.edit).unwrap_or_default()));
        }
        ctx.output.info("Nothing to post.");
        return Ok(());
    }
    let store = ctx.store()?;
    if let Some(id) = args.discard {
        if store.outbox_discard(id)? {
            ctx.output.info(&format!("Dropped queued item {id}."));
            return Ok(());
        }
        return Err(no_item(id));
    }
    if let Some(id) = args.edit {
        edit(ctx, &store, id)?;
    }
    let pending = store.outbox_pending()?;
    if args.list {
        for item in &pending {
            println!("{}", list_line(item));
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

fn no_item(id: i64) -> CommandError {
    CommandError::new(
        crate::command_error::ExitKind::NotFound,
        format!("no queued item {id}"),
    )
    .hint("`csm sync --list` shows the queued items")
}

/// One line of `csm sync --list`.
fn list_line(item: &OutboxItem) -> String {
    let mut line = format!(
        "{}\t{}\t{}\t{} attempt(s)",
        item.id,
        item.ticket_key,
        describe(item),
        item.attempts
    );
    let error = item.last_error.as_deref().map(sanitize).unwrap_or_default();
    if item.parked_at.is_some() {
        line.push_str(&format!(
            "\tneeds attention: refused by the tracker: {error}\t{}",
            what_to_do(item.id)
        ));
    } else if !error.is_empty() {
        line.push_str(&format!("\tlast error: {error}"));
    }
    line
}

/// What to do about a parked item.
fn what_to_do(id: i64) -> String {
    format!(
        "fix it with `csm sync --edit {id}` (opens $EDITOR), or drop it with `csm sync --discard {id}`"
    )
}

/// `csm sync --edit N`: the item's body in the editor, saved back (keeping
/// its marker) and put back in the queue.
fn edit(ctx: &Context, store: &Store, id: i64) -> Result<(), CommandError> {
    let item = store
        .outbox_item(id)?
        .filter(|i| i.sent_at.is_none())
        .ok_or_else(|| no_item(id))?;
    let edited = crate::editor::edit(&item.body, &ctx.dirs.state.join("tmp"), "csm-note")
        .map_err(|e| CommandError::failure(e.to_string()))?;
    if edited.trim().is_empty() {
        return Err(CommandError::failure(format!(
            "the note is empty; queued item {id} is unchanged"
        ))
        .hint(format!(
            "keep some text in it, or drop it with `csm sync --discard {id}`"
        )));
    }
    // The marker is how a retry finds a note again: it stays on it. (A
    // move's body is the status, a work log's the seconds.)
    let body = if item.kind != outbox::kind::COMMENT || crate::note::carries(&edited, &item.marker)
    {
        edited
    } else {
        format!("{}\n\n_csm note {}_\n", edited.trim_end(), item.marker)
    };
    if !store.outbox_edit(id, &body)? {
        return Err(CommandError::failure(format!(
            "queued item {id} is being posted by another csm process right now; it was not changed"
        ))
        .hint("`csm sync --list` shows whether it is still queued"));
    }
    ctx.output
        .info(&format!("Saved queued item {id}; posting it."));
    Ok(())
}

fn describe(item: &OutboxItem) -> String {
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
        // Parked items wait for the user, not for a retry.
        Ok(p) if p.iter().any(|i| i.parked_at.is_none()) => {}
        _ => return,
    }
    ctx.quick_trackers(BACKGROUND_WAIT_SECS);
    let outcomes = outbox::flush(&store, None, |id| ctx.tracker_by_id(id).ok().flatten());
    ctx.quick_trackers(0);
    let Ok(outcomes) = outcomes else {
        return;
    };
    for o in outcomes.iter() {
        if matches!(
            o.result,
            Ok(Delivered::Posted(_) | Delivered::FoundPosted(_))
        ) && o.item.kind == outbox::kind::COMMENT
        {
            ctx.output
                .info(&format!("Posted the queued note to {}.", o.item.ticket_key));
        }
    }
    let waiting = outcomes
        .iter()
        .filter(|o| {
            matches!(
                o.result,
                Err(DeliverError::Tracker(_)
                    | DeliverError::Store(_)
                    | DeliverError::NoTracker(_)
                    | DeliverError::UnknownKind(_))
            )
        })
        .count();
    let refused = outcomes
        .iter()
        .filter(|o| o.result.as_ref().is_err_and(DeliverError::is_refused))
        .count();
    if waiting > 0 {
        ctx.output.warn(&format!(
            "{waiting} queued tracker update(s) could not be posted yet; they stay queued for `csm sync`, which retries"
        ));
    }
    if refused > 0 {
        ctx.output.warn(&format!(
            "{refused} queued tracker update(s) were refused by the tracker and need attention: `csm sync --list`"
        ));
    }
}
