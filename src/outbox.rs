//! Delivering the outbox: tracker writes that must happen exactly once.
//!
//! `csm done` writes its note (and the transition after it) to the store's
//! outbox before any request; delivering marks each item sent. An attempt
//! is counted in the store *before* its request goes out, so a later run
//! that finds an unsent item with attempts behind it knows the outcome is
//! unknown (a timeout after the tracker stored the comment, a crash
//! mid-request) and first looks for the item's marker among the ticket's
//! comments: a note is never posted twice.

use crate::note;
use crate::store::{OutboxItem, Store, StoreError};
use crate::tracker::{TicketKey, Tracker, TrackerError};

/// Kinds of outbox items.
pub mod kind {
    /// A comment; the body is Markdown carrying the marker.
    pub const COMMENT: &str = "comment";
    /// A transition; the body is the status to move to.
    pub const TRANSITION: &str = "transition";
    /// Logged work; the body is the number of seconds.
    pub const WORKLOG: &str = "worklog";
    /// Criteria marked met on the ticket itself (GitHub's task-list
    /// boxes); the body is a JSON array of the criteria's texts.
    pub const TICK: &str = "tick";
}

/// What delivering an item did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivered {
    /// The comment was posted (the tracker's id for it).
    Posted(String),
    /// An earlier attempt had posted it after all; nothing was sent again.
    FoundPosted(String),
    /// The ticket was moved; its status now.
    Moved(String),
    /// The work was logged.
    Logged,
    /// The met criteria were marked (how many were asked for).
    Ticked(usize),
}

/// Why an item was not delivered.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    /// The tracker failed.
    #[error(transparent)]
    Tracker(#[from] TrackerError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The item names a tracker that is not configured here.
    #[error("the tracker {0} is not configured here")]
    NoTracker(String),
    /// An item csm does not know how to deliver (written by a newer csm).
    #[error("unknown outbox item kind \"{0}\"")]
    UnknownKind(String),
    /// An earlier item for the same ticket is still undelivered.
    #[error("waits for an earlier item for the same ticket")]
    Waiting,
}

/// Delivers one item and records the outcome in the store.
pub fn deliver(
    store: &Store,
    tracker: &dyn Tracker,
    item: &OutboxItem,
) -> Result<Delivered, DeliverError> {
    let key = TicketKey::parse(&item.ticket_key).map_err(|e| TrackerError::Rejected {
        tracker: item.tracker.clone(),
        action: "reading the outbox".into(),
        message: e.to_string(),
    })?;
    let result = send(store, tracker, item, &key);
    match &result {
        Ok(Delivered::Posted(id) | Delivered::FoundPosted(id)) => {
            store.outbox_mark_sent(item.id, Some(id))?
        }
        Ok(Delivered::Moved(status)) => store.outbox_mark_sent(item.id, Some(status))?,
        Ok(Delivered::Logged | Delivered::Ticked(_)) => store.outbox_mark_sent(item.id, None)?,
        Err(DeliverError::Tracker(e)) => store.outbox_mark_failed(item.id, &e.to_string())?,
        Err(_) => {}
    }
    result
}

fn send(
    store: &Store,
    tracker: &dyn Tracker,
    item: &OutboxItem,
    key: &TicketKey,
) -> Result<Delivered, DeliverError> {
    match item.kind.as_str() {
        kind::COMMENT => {
            if item.attempts > 0
                && let Some(found) = tracker
                    .comments(key)?
                    .into_iter()
                    .find(|c| note::carries(&c.body, &item.marker))
            {
                return Ok(Delivered::FoundPosted(found.id));
            }
            store.outbox_begin_attempt(item.id)?;
            crate::crashpoint::here("outbox:attempt-counted");
            let posted = tracker.comment(key, &item.body)?;
            crate::crashpoint::here("outbox:comment-posted");
            Ok(Delivered::Posted(posted.id))
        }
        kind::TRANSITION => {
            // A walk starts from the status the ticket is in, re-read, so a
            // repeat after an unknown outcome takes no step twice; each
            // step is counted as an attempt before its request.
            let walked = crate::tracker::walk::walk_with(tracker, key, item.body.trim(), |_| {
                store
                    .outbox_begin_attempt(item.id)
                    .map_err(DeliverError::from)
            })?;
            crate::session::remember_status(
                store,
                &tracker.id(),
                key.as_str(),
                &walked.status,
                crate::store::now_ms(),
            )?;
            Ok(Delivered::Moved(walked.describe()))
        }
        kind::WORKLOG => {
            let seconds: u64 = item
                .body
                .trim()
                .parse()
                .map_err(|_| DeliverError::UnknownKind(format!("worklog \"{}\"", item.body)))?;
            if item.attempts > 0 && tracker.has_work_log(key, &item.marker)? {
                return Ok(Delivered::Logged);
            }
            store.outbox_begin_attempt(item.id)?;
            tracker.log_work(key, seconds, &format!("csm note {}", item.marker))?;
            Ok(Delivered::Logged)
        }
        kind::TICK => {
            let texts: Vec<String> = serde_json::from_str(&item.body)
                .map_err(|_| DeliverError::UnknownKind(format!("tick \"{}\"", item.body)))?;
            // Ticking a ticked box changes nothing: a repeat is harmless.
            store.outbox_begin_attempt(item.id)?;
            tracker.mark_met(key, &texts)?;
            Ok(Delivered::Ticked(texts.len()))
        }
        other => Err(DeliverError::UnknownKind(other.to_string())),
    }
}

/// The item that marks a report's met criteria on the ticket, for a
/// tracker that shows them ([`Tracker::marks_met`]); queued after the note,
/// before the move.
pub fn tick_item(
    tracker: &dyn Tracker,
    report: &crate::report::Report,
    marker: &str,
) -> Option<(&'static str, String, String)> {
    let met: Vec<&str> = report
        .criteria
        .iter()
        .filter(|c| c.status == crate::report::Status::Met)
        .map(|c| c.text.as_str())
        .collect();
    if !tracker.marks_met() || met.is_empty() {
        return None;
    }
    let body = serde_json::to_string(&met).ok()?;
    Some((kind::TICK, body, format!("{marker}:tick")))
}

/// The outcome of one item in a [`flush`].
#[derive(Debug)]
pub struct Outcome {
    /// The item.
    pub item: OutboxItem,
    /// What happened.
    pub result: Result<Delivered, DeliverError>,
}

/// Delivers every pending item (of one ticket, when `ticket` is given), in
/// the order they were queued. Once an item of a ticket fails, the later
/// items of that ticket wait: a ticket is not moved before its note is on
/// it. `tracker_for` gives the tracker of an item's tracker id.
pub fn flush(
    store: &Store,
    ticket: Option<&str>,
    mut tracker_for: impl FnMut(&str) -> Option<Box<dyn Tracker>>,
) -> Result<Vec<Outcome>, StoreError> {
    let mut outcomes = Vec::new();
    let mut blocked: Vec<String> = Vec::new();
    let mut trackers: Vec<(String, Option<Box<dyn Tracker>>)> = Vec::new();
    for item in store.outbox_pending()? {
        if ticket.is_some_and(|t| t != item.ticket_key) {
            continue;
        }
        if blocked.contains(&item.ticket_key) {
            outcomes.push(Outcome {
                item,
                result: Err(DeliverError::Waiting),
            });
            continue;
        }
        if !trackers.iter().any(|(id, _)| *id == item.tracker) {
            let t = tracker_for(&item.tracker);
            trackers.push((item.tracker.clone(), t));
        }
        let tracker = trackers
            .iter()
            .find(|(id, _)| *id == item.tracker)
            .and_then(|(_, t)| t.as_deref());
        let result = match tracker {
            Some(t) => deliver(store, t, &item),
            None => Err(DeliverError::NoTracker(item.tracker.clone())),
        };
        if result.is_err() {
            blocked.push(item.ticket_key.clone());
        }
        outcomes.push(Outcome { item, result });
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracker::local::LocalTracker;
    use crate::tracker::{NewTicket, Tracker};

    fn setup() -> (tempfile::TempDir, Store, LocalTracker, TicketKey) {
        let dir = tempfile::tempdir().unwrap();
        let tracker = LocalTracker::new(dir.path(), "CSM".into(), Vec::new()).unwrap();
        let key = tracker
            .create(&NewTicket {
                summary: "Thing".into(),
                ..NewTicket::default()
            })
            .unwrap();
        (dir, Store::open_in_memory().unwrap(), tracker, key)
    }

    #[test]
    fn a_note_then_a_move_are_delivered_in_order() {
        let (_dir, store, tracker, key) = setup();
        store
            .outbox_add(
                key.as_str(),
                &tracker.id(),
                kind::COMMENT,
                "Note csm-1",
                "csm-1",
            )
            .unwrap();
        store
            .outbox_add(
                key.as_str(),
                &tracker.id(),
                kind::TRANSITION,
                "Done",
                "csm-1:move",
            )
            .unwrap();
        let out = flush(&store, None, |_| Some(Box::new(tracker.clone()))).unwrap();
        assert!(matches!(out[0].result, Ok(Delivered::Posted(_))));
        assert_eq!(
            out[1].result.as_ref().unwrap(),
            &Delivered::Moved("Done".into())
        );
        assert!(store.outbox_pending().unwrap().is_empty());
        assert_eq!(tracker.get(&key).unwrap().status, "Done");
        assert_eq!(tracker.comments(&key).unwrap().len(), 1);
    }

    #[test]
    fn an_attempt_with_unknown_outcome_is_not_posted_again() {
        let (_dir, store, tracker, key) = setup();
        let id = store
            .outbox_add(
                key.as_str(),
                &tracker.id(),
                kind::COMMENT,
                "Note csm-2",
                "csm-2",
            )
            .unwrap();
        // The request went out and the tracker stored it; csm never heard.
        store.outbox_begin_attempt(id).unwrap();
        tracker.comment(&key, "Note csm-2").unwrap();
        let out = flush(&store, None, |_| Some(Box::new(tracker.clone()))).unwrap();
        assert!(matches!(out[0].result, Ok(Delivered::FoundPosted(_))));
        assert_eq!(tracker.comments(&key).unwrap().len(), 1);
        assert!(store.outbox_pending().unwrap().is_empty());
    }

    #[test]
    fn a_missing_tracker_holds_the_ticket_items_back() {
        let (_dir, store, tracker, key) = setup();
        store
            .outbox_add(key.as_str(), "jira:https://x", kind::COMMENT, "n", "csm-3")
            .unwrap();
        store
            .outbox_add(
                key.as_str(),
                &tracker.id(),
                kind::TRANSITION,
                "Done",
                "csm-3:move",
            )
            .unwrap();
        let out = flush(&store, None, |id| {
            (id == tracker.id()).then(|| Box::new(tracker.clone()) as Box<dyn Tracker>)
        })
        .unwrap();
        assert!(matches!(out[0].result, Err(DeliverError::NoTracker(_))));
        assert!(matches!(out[1].result, Err(DeliverError::Waiting)));
        assert_eq!(store.outbox_pending().unwrap().len(), 2);
        assert_eq!(tracker.get(&key).unwrap().status, "To Do");
    }
}
