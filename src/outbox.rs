//! Delivering the outbox: tracker writes that must happen exactly once.
//!
//! `csm done` writes its note (and the transition after it) to the store's
//! outbox before any request; delivering marks each item sent. An attempt
//! is counted in the store *before* its request goes out, so a later run
//! that finds an unsent item with attempts behind it knows the outcome is
//! unknown (a timeout after the tracker stored the comment, a crash
//! mid-request) and first looks for the item's marker among the ticket's
//! comments: a note is never posted twice.
//!
//! Several csm processes deliver at once (every command runs a short sync
//! first; two terminals and the dashboard are enough), so an item is first
//! *claimed* in one write transaction: an owner and a lease that expires
//! (a killed process's claim is taken over once its lease has passed).
//! Only the claimant counts an attempt and sends, the attempt is counted
//! only while its claim is live, and the claim is checked again in the
//! statement that marks the item sent. The lease is far longer than a
//! request with its retries, and renewed before each request.
//!
//! A refusal that will not change on a retry (a 4xx other than 408, 409
//! and 429 about the item: a note too long, a ticket gone, a move the
//! workflow does not offer; not 401/403, which wait for the credentials)
//! *parks* the item with the tracker's message: it is not retried
//! until the user edits it (`csm sync --edit N`) or drops it
//! (`csm sync --discard N`), and the ticket's later items wait for it.

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
    /// Another csm process delivered it meanwhile; nothing was sent.
    ByOther,
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
    /// Another csm process holds the item's claim and is delivering it.
    #[error("another csm process is posting it right now")]
    Busy,
    /// The tracker refused the item for good; it is parked until the user
    /// edits or drops it.
    #[error("the tracker refused it: {0}")]
    Refused(String),
}

impl DeliverError {
    /// Whether the item waits for the user rather than for a retry.
    pub fn is_refused(&self) -> bool {
        matches!(self, DeliverError::Refused(_))
    }
}

/// The environment variable that sets the claim lease in milliseconds
/// (tests shorten it to watch a killed process's claim expire).
pub const LEASE_VAR: &str = "CSM_OUTBOX_LEASE_MS";

/// How long a claim lasts unless renewed: longer than any request with
/// its retries (timeouts and `Retry-After` waits are capped far below).
const DEFAULT_LEASE_MS: i64 = 5 * 60 * 1000;

/// The claim lease in milliseconds.
fn lease_ms() -> i64 {
    std::env::var(LEASE_VAR)
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .filter(|ms| *ms > 0)
        .unwrap_or(DEFAULT_LEASE_MS)
}

/// Who claims: this process, and a nonce so two flushes never share a claim.
fn new_owner() -> String {
    format!("pid {} {}", std::process::id(), note::new_marker())
}

/// Whether the process named in a claim's owner has ended (on this
/// machine: the store is local).
fn claimant_gone(owner: &str) -> bool {
    owner
        .strip_prefix("pid ")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|pid| pid.parse::<i64>().ok())
        .is_some_and(|pid| pid != i64::from(std::process::id()) && !crate::session::alive(pid))
}

/// The error of an item's own write: parked when the tracker refused it
/// for good, else retried. (A failed read, such as the marker lookup, is
/// always retried.)
fn refusal(e: TrackerError) -> DeliverError {
    if refused_for_good(&e) {
        DeliverError::Refused(e.to_string())
    } else {
        DeliverError::Tracker(e)
    }
}

/// Whether a tracker's refusal will be the same on every retry: a 4xx
/// other than 408 (timeout), 409 (conflict) and 429 (rate limit), about
/// the item itself. Access is not the item's fault: a rejected token (401),
/// a missing permission (403) or GitHub's 404 for a repository the token
/// cannot see wait for the credentials to be fixed, and then go out; so
/// does a rate limit, whatever its status.
pub fn refused_for_good(e: &TrackerError) -> bool {
    match e {
        TrackerError::Rejected { message, .. } => !["HTTP 408", "HTTP 409", "HTTP 429"]
            .iter()
            .any(|p| message.starts_with(p)),
        TrackerError::NotFound { .. }
        | TrackerError::NoSuchTransition { .. }
        | TrackerError::TransitionNeedsFields { .. }
        | TrackerError::Unsupported { .. } => true,
        _ => false,
    }
}

/// Delivers one item and records the outcome in the store, as a
/// one-off owner (see [`flush`] for many).
pub fn deliver(
    store: &Store,
    tracker: &dyn Tracker,
    item: &OutboxItem,
) -> Result<Delivered, DeliverError> {
    deliver_as(store, tracker, None, item, &new_owner(), lease_ms())
}

fn deliver_as(
    store: &Store,
    tracker: &dyn Tracker,
    forge: Option<&dyn Forge>,
    item: &OutboxItem,
    owner: &str,
    lease: i64,
) -> Result<Delivered, DeliverError> {
    let key = TicketKey::parse(&item.ticket_key).map_err(|e| TrackerError::Rejected {
        tracker: item.tracker.clone(),
        action: "reading the outbox".into(),
        message: e.to_string(),
    })?;
    // The claim, and the item as it is now: another process may have
    // counted attempts (or sent it) since the queue was read.
    let claimed = match store.outbox_claim(item.id, owner, lease)? {
        Some(now) => Some(now),
        // A claimant that is no longer running (killed mid-delivery) does
        // not hold the item until its lease runs out.
        None => match store.outbox_claimant(item.id)? {
            Some(other) if claimant_gone(&other) => {
                store.outbox_take_over(item.id, &other, owner, lease)?
            }
            _ => None,
        },
    };
    let Some(item) = claimed else {
        return match store.outbox_item(item.id)? {
            Some(now) if now.sent_at.is_some() => Ok(Delivered::ByOther),
            None => Ok(Delivered::ByOther),
            Some(now) if now.parked_at.is_some() => {
                Err(DeliverError::Refused(now.last_error.unwrap_or_default()))
            }
            Some(_) => Err(DeliverError::Busy),
        };
    };
    crate::crashpoint::here("outbox:claimed");
    let claim = Claim {
        store,
        owner,
        lease,
    };
    let result = if kind::is_pull_request_chain(&item.kind) {
        send_pull_request(&claim, tracker, forge, &item, &key)
    } else {
        send(&claim, tracker, &item, &key)
    };
    match &result {
        Ok(done) => {
            let remote = match done {
                Delivered::Posted(id) | Delivered::FoundPosted(id) => Some(id.as_str()),
                Delivered::Moved(status) => Some(status.as_str()),
                Delivered::Pushed(branch) => Some(branch.as_str()),
                Delivered::PullRequest(url, _) | Delivered::Linked(url) => Some(url.as_str()),
                Delivered::Logged | Delivered::Ticked(_) | Delivered::ByOther => None,
            };
            if !store.outbox_mark_sent_as(item.id, owner, remote)? {
                // The lease ran out mid-request and another process took
                // the item over; it looks for the marker before sending.
                tracing::warn!(item = item.id, "outbox claim lost before marking sent");
            }
        }
        Err(DeliverError::Tracker(e)) => {
            store.outbox_fail_as(item.id, owner, &e.to_string(), false)?
        }
        Err(DeliverError::Git(e)) => store.outbox_fail_as(item.id, owner, &e.to_string(), false)?,
        Err(DeliverError::Refused(message)) => {
            store.outbox_fail_as(item.id, owner, message, true)?
        }
        Err(_) => store.outbox_release(item.id, owner)?,
    }
    result
}

/// A live claim: what counting an attempt needs.
struct Claim<'a> {
    store: &'a Store,
    owner: &'a str,
    lease: i64,
}

impl Claim<'_> {
    /// Counts an attempt (renewing the lease) while the claim is live.
    fn begin_attempt(&self, id: i64) -> Result<(), DeliverError> {
        if self
            .store
            .outbox_begin_attempt_as(id, self.owner, self.lease)?
        {
            Ok(())
        } else {
            Err(DeliverError::Busy)
        }
    }
}

fn send(
    claim: &Claim<'_>,
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
            claim.begin_attempt(item.id)?;
            crate::crashpoint::here("outbox:attempt-counted");
            let body = fill_pull_request(claim.store, item)?;
            let posted = tracker.comment(key, &body).map_err(refusal)?;
            crate::crashpoint::here("outbox:comment-posted");
            Ok(Delivered::Posted(posted.id))
        }
        kind::TRANSITION => {
            // A walk starts from the status the ticket is in, re-read, so a
            // repeat after an unknown outcome takes no step twice; each
            // step is counted as an attempt before its request.
            // Only a workflow with no way there is a refusal for good: the
            // walk's reads and steps are not told apart, so its other
            // failures are retried.
            let walked = crate::tracker::walk::walk_with(tracker, key, item.body.trim(), |_| {
                claim.begin_attempt(item.id)
            })
            .map_err(|e| match e {
                DeliverError::Tracker(
                    e @ (TrackerError::NoSuchTransition { .. }
                    | TrackerError::TransitionNeedsFields { .. }),
                ) => DeliverError::Refused(e.to_string()),
                other => other,
            })?;
            crate::session::remember_status(
                claim.store,
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
            claim.begin_attempt(item.id)?;
            tracker
                .log_work(key, seconds, &format!("csm note {}", item.marker))
                .map_err(refusal)?;
            Ok(Delivered::Logged)
        }
        kind::TICK => {
            let texts: Vec<String> = serde_json::from_str(&item.body)
                .map_err(|_| DeliverError::UnknownKind(format!("tick \"{}\"", item.body)))?;
            // Ticking a ticked box changes nothing: a repeat is harmless.
            claim.begin_attempt(item.id)?;
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
        .outbox_item_by_marker(&format!("{}:pr", note_marker(&item.marker)))?
        .filter(|i| i.sent_at.is_some())
        .and_then(|i| i.remote_id);
    Ok(item
        .body
        .replace(PR_PLACEHOLDER, url.as_deref().unwrap_or(PR_NOT_OPENED)))
}

/// The marker of the note an item belongs to (`csm-…` before any `:`).
fn note_marker(marker: &str) -> &str {
    marker.split([':', ' ']).next().unwrap_or(marker)
}

fn send_pull_request(
    claim: &Claim<'_>,
    tracker: &dyn Tracker,
    forge: Option<&dyn Forge>,
    item: &OutboxItem,
    key: &TicketKey,
) -> Result<Delivered, DeliverError> {
    match item.kind.as_str() {
        kind::PUSH => {
            let forge = forge.ok_or(DeliverError::NoForge)?;
            claim.begin_attempt(item.id)?;
            let branch = forge.push(&item.body)?;
            crate::crashpoint::here("outbox:pushed");
            Ok(Delivered::Pushed(branch))
        }
        kind::PULL_REQUEST => {
            let forge = forge.ok_or(DeliverError::NoForge)?;
            // Opening looks for the branch's pull request first, so a
            // repeat after an unknown outcome finds the one it opened.
            claim.begin_attempt(item.id)?;
            let (url, created) = forge.open(&item.body)?;
            if let Some(session) = serde_json::from_str::<serde_json::Value>(&item.body)
                .ok()
                .and_then(|v| v["session"].as_i64())
            {
                claim.store.add_event(
                    session,
                    &crate::event::SessionEvent::PullRequest(crate::event::PullRequest {
                        url: Some(url.clone()),
                        created: Some(created),
                    }),
                )?;
            }
            Ok(Delivered::PullRequest(url, created))
        }
        kind::PR_LINK => {
            let pr = claim
                .store
                .outbox_item_by_marker(&format!("{}:pr", note_marker(&item.marker)))?
                .filter(|i| i.sent_at.is_some())
                .and_then(|i| i.remote_id)
                .ok_or(DeliverError::Waiting)?;
            // Linking is an upsert (Jira's remote link by its global id).
            claim.begin_attempt(item.id)?;
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
    let (owner, lease) = (new_owner(), lease_ms());
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
        if item.parked_at.is_some() {
            blocked.push(chain);
            let message = item.last_error.clone().unwrap_or_default();
            outcomes.push(Outcome {
                item,
                result: Err(DeliverError::Refused(message)),
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
                .outbox_item_by_marker(&format!("{}:pr", note_marker(&item.marker)))?
                .is_some_and(|i| i.sent_at.is_none());
        let result = match tracker {
            Some(_) if awaits_pr => Err(DeliverError::NoForge),
            Some(t) => deliver_as(store, t, forge, &item, &owner, lease),
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

    #[test]
    fn only_the_claimant_sends_and_a_lapsed_claim_is_taken_over() {
        let (_dir, store, tracker, key) = setup();
        let id = store
            .outbox_add(
                key.as_str(),
                &tracker.id(),
                kind::COMMENT,
                "Note csm-4",
                "csm-4",
            )
            .unwrap();
        // A live process (this one, as another owner) holds the claim.
        let other = format!("pid {} other", std::process::id());
        assert!(store.outbox_claim(id, &other, 60_000).unwrap().is_some());
        let out = flush(&store, None, |_| Some(Box::new(tracker.clone()))).unwrap();
        assert!(matches!(out[0].result, Err(DeliverError::Busy)), "{out:?}");
        assert!(tracker.comments(&key).unwrap().is_empty());
        // The holder counted an attempt and stalled; its lease lapses.
        assert!(store.outbox_begin_attempt_as(id, &other, 0).unwrap());
        std::thread::sleep(std::time::Duration::from_millis(5));
        tracker.comment(&key, "Note csm-4").unwrap();
        let out = flush(&store, None, |_| Some(Box::new(tracker.clone()))).unwrap();
        assert!(
            matches!(out[0].result, Ok(Delivered::FoundPosted(_))),
            "{out:?}"
        );
        assert_eq!(tracker.comments(&key).unwrap().len(), 1);
        // The stalled holder wakes up: its claim is gone, it marks nothing.
        assert!(!store.outbox_mark_sent_as(id, &other, Some("x")).unwrap());
        assert!(!store.outbox_begin_attempt_as(id, &other, 60_000).unwrap());
    }

    #[test]
    fn a_dead_claimant_does_not_hold_the_item() {
        let (_dir, store, tracker, key) = setup();
        let id = store
            .outbox_add(
                key.as_str(),
                &tracker.id(),
                kind::COMMENT,
                "Note csm-5",
                "csm-5",
            )
            .unwrap();
        // A pid that does not run: the largest one Linux allows, plus one.
        assert!(
            store
                .outbox_claim(id, "pid 4194305 x", 600_000)
                .unwrap()
                .is_some()
        );
        let out = flush(&store, None, |_| Some(Box::new(tracker.clone()))).unwrap();
        assert!(matches!(out[0].result, Ok(Delivered::Posted(_))), "{out:?}");
        assert!(store.outbox_pending().unwrap().is_empty());
    }

    #[test]
    fn a_permanent_refusal_parks_the_item_and_holds_the_rest_back() {
        let (_dir, store, tracker, key) = setup();
        let id = store
            .outbox_add(
                key.as_str(),
                &tracker.id(),
                kind::TRANSITION,
                "Nowhere",
                "csm-6:move",
            )
            .unwrap();
        store
            .outbox_add(
                key.as_str(),
                &tracker.id(),
                kind::WORKLOG,
                "120",
                "csm-6:work",
            )
            .unwrap();
        let out = flush(&store, None, |_| Some(Box::new(tracker.clone()))).unwrap();
        assert!(
            matches!(out[0].result, Err(DeliverError::Refused(_))),
            "{out:?}"
        );
        assert!(matches!(out[1].result, Err(DeliverError::Waiting)));
        let parked = store.outbox_item(id).unwrap().unwrap();
        assert!(parked.parked_at.is_some());
        assert!(parked.last_error.unwrap().contains("Nowhere"));
        // Not tried again: the tracker is not even asked.
        let out = flush(&store, None, |_| None).unwrap();
        assert!(out[0].result.as_ref().is_err_and(DeliverError::is_refused));
        assert_eq!(
            store.outbox_item(id).unwrap().unwrap().attempts,
            parked.attempts
        );
        // Edited, it goes back in the queue.
        assert!(store.outbox_edit(id, "Done").unwrap());
        let out = flush(&store, None, |_| Some(Box::new(tracker.clone()))).unwrap();
        assert!(out.iter().all(|o| o.result.is_ok()), "{out:?}");
        assert_eq!(tracker.get(&key).unwrap().status, "Done");
    }

    #[test]
    fn which_refusals_are_for_good() {
        let rejected = |m: &str| TrackerError::Rejected {
            tracker: "t".into(),
            action: "a".into(),
            message: m.into(),
        };
        assert!(refused_for_good(&rejected(
            "HTTP 400: comment: The entered text is too long"
        )));
        assert!(refused_for_good(&rejected("HTTP 413")));
        for m in ["HTTP 408", "HTTP 409: conflict", "HTTP 429"] {
            assert!(!refused_for_good(&rejected(m)), "{m}");
        }
        assert!(!refused_for_good(&TrackerError::Server {
            site: "s".into(),
            action: "a".into(),
            status: 502,
            message: String::new(),
        }));
        assert!(!refused_for_good(&TrackerError::AuthRejected {
            site: "s".into(),
            user: "u".into(),
            token_source: None,
            cloud: false,
            gateway_tried: false,
        }));
        assert!(!refused_for_good(&TrackerError::Forbidden {
            site: "s".into(),
            action: "a".into(),
            message: "no permission".into(),
        }));
        assert!(refused_for_good(&TrackerError::NotFound {
            key: "PROJ-1".into(),
            tracker: "t".into(),
        }));
    }
}
