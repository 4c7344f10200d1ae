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
    /// The ticket's branch pushed to its remote; the body is JSON (see
    /// `crate::pr`). Delivered through a [`super::Forge`].
    pub const PUSH: &str = "push";
    /// The branch's pull request opened (or its body updated); the body
    /// is JSON (see `crate::pr`). Delivered through a [`super::Forge`].
    pub const PULL_REQUEST: &str = "pull-request";
    /// The pull request linked on the ticket (a Jira remote link, a local
    /// ticket's file); the body is the pull request's title, the URL is
    /// the delivered pull-request item's.
    pub const PR_LINK: &str = "pr-link";

    /// Whether items of `kind` belong to the pull-request chain, which
    /// waits on its own failures only: a refused push holds back the pull
    /// request, never the note.
    pub fn is_pull_request_chain(kind: &str) -> bool {
        matches!(kind, PUSH | PULL_REQUEST | PR_LINK)
    }
}

/// What a note says in place of [`PR_PLACEHOLDER`] when the pull request
/// was not opened before the note went out.
pub const PR_NOT_OPENED: &str = "not opened yet (see `csm done --pr`)";

/// Stands in a queued note for the pull request's URL, which is known only
/// once the pull-request item before it is delivered.
pub const PR_PLACEHOLDER: &str = "@@csm-pull-request@@";

/// Where a branch is pushed and its pull request opened: git and GitHub
/// (`crate::pr` has the real one). Both must be safe to repeat.
pub trait Forge {
    /// Pushes the branch an item's body names.
    fn push(&self, body: &str) -> Result<String, DeliverError>;
    /// Opens (or finds and updates) the pull request an item's body
    /// describes; returns its URL and whether it was opened now.
    fn open(&self, body: &str) -> Result<(String, bool), DeliverError>;
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
    /// The branch was pushed (its name).
    Pushed(String),
    /// The pull request was opened (`true`) or found and updated.
    PullRequest(String, bool),
    /// The pull request was linked on the ticket (its URL).
    Linked(String),
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
    /// git refused the push.
    #[error(transparent)]
    Git(#[from] crate::git::GitError),
    /// A pull-request item that this run cannot deliver (a plain `sync`).
    #[error("waits for `csm done --pr`")]
    NoForge,
    /// A pull-request item that cannot be read.
    #[error("{0}")]
    PullRequest(String),
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
    deliver_with(store, tracker, None, item, &key)
}

fn deliver_with(
    store: &Store,
    tracker: &dyn Tracker,
    forge: Option<&dyn Forge>,
    item: &OutboxItem,
    key: &TicketKey,
) -> Result<Delivered, DeliverError> {
    let result = if kind::is_pull_request_chain(&item.kind) {
        send_pull_request(store, tracker, forge, item, key)
    } else {
        send(store, tracker, item, key)
    };
    match &result {
        Ok(Delivered::Posted(id) | Delivered::FoundPosted(id)) => {
            store.outbox_mark_sent(item.id, Some(id))?
        }
        Ok(Delivered::Moved(status)) => store.outbox_mark_sent(item.id, Some(status))?,
        Ok(Delivered::Logged | Delivered::Ticked(_)) => store.outbox_mark_sent(item.id, None)?,
        Ok(Delivered::Pushed(b)) => store.outbox_mark_sent(item.id, Some(b))?,
        Ok(Delivered::PullRequest(url, _) | Delivered::Linked(url)) => {
            store.outbox_mark_sent(item.id, Some(url))?
        }
        Err(DeliverError::Tracker(e)) => store.outbox_mark_failed(item.id, &e.to_string())?,
        Err(DeliverError::Git(e)) => store.outbox_mark_failed(item.id, &e.to_string())?,
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
            let body = fill_pull_request(store, item)?;
            let posted = tracker.comment(key, &body)?;
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

/// The note's text with the pull request's URL in place of
/// [`PR_PLACEHOLDER`] (from the delivered pull-request item queued with
/// it), or [`PR_NOT_OPENED`].
fn fill_pull_request(store: &Store, item: &OutboxItem) -> Result<String, DeliverError> {
    if !item.body.contains(PR_PLACEHOLDER) {
        return Ok(item.body.clone());
    }
    let url = store
        .outbox_item_by_marker(&format!("{}:pr", item.marker))?
        .filter(|i| i.sent_at.is_some())
        .and_then(|i| i.remote_id);
    Ok(item
        .body
        .replace(PR_PLACEHOLDER, url.as_deref().unwrap_or(PR_NOT_OPENED)))
}

/// The marker of the note an item belongs to (`csm-…` before any `:`).
fn note_marker(marker: &str) -> &str {
    marker.split(':').next().unwrap_or(marker)
}

fn send_pull_request(
    store: &Store,
    tracker: &dyn Tracker,
    forge: Option<&dyn Forge>,
    item: &OutboxItem,
    key: &TicketKey,
) -> Result<Delivered, DeliverError> {
    match item.kind.as_str() {
        kind::PUSH => {
            let forge = forge.ok_or(DeliverError::NoForge)?;
            store.outbox_begin_attempt(item.id)?;
            let branch = forge.push(&item.body)?;
            crate::crashpoint::here("outbox:pushed");
            Ok(Delivered::Pushed(branch))
        }
        kind::PULL_REQUEST => {
            let forge = forge.ok_or(DeliverError::NoForge)?;
            // Opening looks for the branch's pull request first, so a
            // repeat after an unknown outcome finds the one it opened.
            store.outbox_begin_attempt(item.id)?;
            let (url, created) = forge.open(&item.body)?;
            if let Some(session) = serde_json::from_str::<serde_json::Value>(&item.body)
                .ok()
                .and_then(|v| v["session"].as_i64())
            {
                store.add_event(
                    session,
                    crate::session::PULL_REQUEST_EVENT,
                    &serde_json::json!({"url": url, "created": created}),
                )?;
            }
            Ok(Delivered::PullRequest(url, created))
        }
        kind::PR_LINK => {
            let pr = store
                .outbox_item_by_marker(&format!("{}:pr", note_marker(&item.marker)))?
                .filter(|i| i.sent_at.is_some())
                .and_then(|i| i.remote_id)
                .ok_or(DeliverError::Waiting)?;
            // Linking is an upsert (Jira's remote link by its global id).
            store.outbox_begin_attempt(item.id)?;
            tracker.link_pull_request(key, &pr, item.body.trim())?;
            Ok(Delivered::Linked(pr))
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
    tracker_for: impl FnMut(&str) -> Option<Box<dyn Tracker>>,
) -> Result<Vec<Outcome>, StoreError> {
    flush_with(store, ticket, tracker_for, None)
}

/// [`flush`], with a [`Forge`] for the pull-request items (without one
/// they wait). The pull-request chain (push, pull request, link) waits on
/// its own failures only, so a refused push never holds back the note.
pub fn flush_with(
    store: &Store,
    ticket: Option<&str>,
    mut tracker_for: impl FnMut(&str) -> Option<Box<dyn Tracker>>,
    forge: Option<&dyn Forge>,
) -> Result<Vec<Outcome>, StoreError> {
    let mut outcomes = Vec::new();
    let mut blocked: Vec<String> = Vec::new();
    let mut trackers: Vec<(String, Option<Box<dyn Tracker>>)> = Vec::new();
    for item in store.outbox_pending()? {
        if ticket.is_some_and(|t| t != item.ticket_key) {
            continue;
        }
        let chain = if kind::is_pull_request_chain(&item.kind) {
            format!("{}\u{0}pr", item.ticket_key)
        } else {
            item.ticket_key.clone()
        };
        if blocked.contains(&chain) {
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
        // A note that names the pull request waits for it while this run
        // cannot open it (a plain sync): `csm done --pr` sends both.
        let awaits_pr = forge.is_none()
            && item.kind == kind::COMMENT
            && item.body.contains(PR_PLACEHOLDER)
            && store
                .outbox_item_by_marker(&format!("{}:pr", item.marker))?
                .is_some_and(|i| i.sent_at.is_none());
        let result = match tracker {
            Some(_) if awaits_pr => Err(DeliverError::NoForge),
            Some(t) => match TicketKey::parse(&item.ticket_key) {
                Ok(key) => deliver_with(store, t, forge, &item, &key),
                Err(_) => deliver(store, t, &item),
            },
            None => Err(DeliverError::NoTracker(item.tracker.clone())),
        };
        if result.is_err() {
            blocked.push(chain);
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
