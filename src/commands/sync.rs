//! `csm sync`: post what the outbox still holds (notes `csm done` could not
//! post, and the moves queued after them). Other commands run a short sync
//! first, so a note waiting for Jira to come back goes out on its own. A
//! note the tracker refused for good is parked: `--list` shows it with the
//! tracker's message, `--edit N` opens it in `$EDITOR` and puts it back in
//! the queue, `--discard N` drops it.

use crate::command_error::CommandError;
use crate::context::Context;
use crate::outbox::{self, DeliverError, Delivered};
use crate::output::sanitize;
use crate::store::{OutboxItem, Store};
use crate::workflow::sync::{describe, report, what_to_do};

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
        edit(ctx, store, id)?;
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
        let forge = crate::pr::forge_for_pending(ctx, store, None)?;
        outbox::flush_with(
            store,
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
    let outcomes = outbox::flush(store, None, |id| ctx.tracker_by_id(id).ok().flatten());
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
