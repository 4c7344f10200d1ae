//! Sessions as the user sees them: each recorded session joined with its
//! ticket's summary and status.
//!
//! Ticket facts for many sessions come from one batched tracker search per
//! tracker, cached in the store for a short time, so `csm list` costs at
//! most one request per tracker and none within the cache's lifetime, and
//! still shows something (marked as cached) when the tracker is offline.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::store::{Session, SessionStatus, Store, StoreError};
use crate::tracker::{Query, Ticket, TicketKey, Tracker};

/// How long ticket facts are reused without asking the tracker.
pub const TICKET_CACHE_TTL: Duration = Duration::from_secs(60);

/// The session event that records a session's pull request (`{"url"}`).
pub const PULL_REQUEST_EVENT: crate::event::EventKind = crate::event::EventKind::PullRequest;

/// The URL of a session's pull request, when `csm done --pr` opened one.
pub fn pull_request(store: &Store, session_id: i64) -> Result<Option<String>, StoreError> {
    Ok(store
        .latest_event(session_id, PULL_REQUEST_EVENT)?
        .and_then(|e| e.data["url"].as_str().map(str::to_string)))
}

/// The facts about a ticket shown next to its sessions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketInfo {
    /// The summary.
    pub summary: String,
    /// The workflow status.
    pub status: String,
    /// When csm itself set this status (Unix ms): for a while, csm's own
    /// write is truer than a search that lags behind it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_at: Option<i64>,
    /// The last known facts, which a fresh search did not confirm (the
    /// ticket was missing from its answer).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stale: bool,
}

impl From<&Ticket> for TicketInfo {
    fn from(t: &Ticket) -> TicketInfo {
        TicketInfo {
            summary: t.summary.clone(),
            status: t.status.clone(),
            ..TicketInfo::default()
        }
    }
}

/// Where ticket facts came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Freshness {
    /// Asked the tracker just now.
    Fresh,
    /// From the cache, within its lifetime.
    Cached,
    /// The tracker could not be asked; older cached facts (the reason).
    Offline(String),
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct CachedInfos {
    fetched_at: i64,
    tickets: BTreeMap<String, TicketInfo>,
}

fn cache_key(tracker_id: &str) -> String {
    format!("tickets:{tracker_id}")
}

fn read_cache(store: &Store, tracker_id: &str) -> Result<CachedInfos, StoreError> {
    Ok(store
        .cache_get(&cache_key(tracker_id))?
        .and_then(|(text, _)| serde_json::from_str(&text).ok())
        .unwrap_or_default())
}

/// The facts the cache holds for a tracker (its id), without asking the
/// tracker, and when they were fetched (Unix ms; 0 when never): what the
/// dashboard shows before the tracker has answered.
pub fn cached_ticket_infos(
    store: &Store,
    tracker_id: &str,
) -> Result<(BTreeMap<String, TicketInfo>, i64), StoreError> {
    let cached = read_cache(store, tracker_id)?;
    Ok((cached.tickets, cached.fetched_at))
}

/// Writes ticket facts to the cache as a search at `fetched_at` would
/// (fixtures).
#[cfg(test)]
pub(crate) fn cache_ticket_infos(
    store: &Store,
    tracker_id: &str,
    tickets: BTreeMap<String, TicketInfo>,
    fetched_at: i64,
) -> Result<(), StoreError> {
    let text = serde_json::to_string(&CachedInfos {
        fetched_at,
        tickets,
    })
    .unwrap_or_default();
    store.cache_set(&cache_key(tracker_id), &text)
}

/// The facts for `keys` from `tracker`: from the cache when every key is in
/// it and it is younger than `ttl`, else from one search (which refreshes
/// the cache), else — when the tracker fails — whatever the cache holds.
pub fn ticket_infos(
    store: &Store,
    tracker: &dyn Tracker,
    keys: &BTreeSet<TicketKey>,
    ttl: Duration,
    now_ms: i64,
) -> Result<(BTreeMap<String, TicketInfo>, Freshness), StoreError> {
    let key = cache_key(&tracker.id());
    let cached = read_cache(store, &tracker.id())?;
    let complete = keys.iter().all(|k| cached.tickets.contains_key(k.as_str()));
    let young = now_ms.saturating_sub(cached.fetched_at) < ttl.as_millis() as i64;
    if keys.is_empty() || (complete && young) {
        return Ok((cached.tickets, Freshness::Cached));
    }
    match tracker.search(&Query::Keys(keys.iter().cloned().collect())) {
        Ok(tickets) => {
            let mut fresh = CachedInfos {
                fetched_at: now_ms,
                tickets: cached.tickets,
            };
            let recent = |i: &TicketInfo| {
                i.set_at
                    .is_some_and(|at| now_ms.saturating_sub(at) < ttl.as_millis() as i64)
            };
            for t in &tickets {
                let key = t.key.to_string();
                match fresh.tickets.get_mut(&key) {
                    // csm moved it a moment ago; the search may lag behind.
                    Some(known) if recent(known) => {
                        known.summary = t.summary.clone();
                        known.stale = false;
                    }
                    _ => {
                        fresh.tickets.insert(key, TicketInfo::from(t));
                    }
                }
            }
            // Missing from the answer (Jira's search is eventually
            // consistent): the last known facts, marked as such.
            for k in keys {
                if tickets.iter().any(|t| t.key == *k) {
                    continue;
                }
                if let Some(known) = fresh.tickets.get_mut(k.as_str()) {
                    known.stale = !recent(known);
                }
            }
            if let Ok(text) = serde_json::to_string(&fresh) {
                store.cache_set(&key, &text)?;
            }
            Ok((fresh.tickets, Freshness::Fresh))
        }
        Err(e) => Ok((cached.tickets, Freshness::Offline(e.to_string()))),
    }
}

/// Ticket facts by (tracker id, ticket key), with whether they are from a
/// cache the tracker could not refresh.
pub type Infos = BTreeMap<(String, String), (TicketInfo, bool)>;

/// The ticket keys of `sessions`, by tracker id: what one batched search
/// per tracker asks for. Malformed keys are skipped.
pub fn keys_by_tracker(sessions: &[Session]) -> BTreeMap<String, BTreeSet<TicketKey>> {
    let mut by_tracker: BTreeMap<String, BTreeSet<TicketKey>> = BTreeMap::new();
    for s in sessions {
        if let Ok(key) = TicketKey::parse(&s.ticket_key) {
            by_tracker.entry(s.tracker.clone()).or_default().insert(key);
        }
    }
    by_tracker
}

/// Adds one tracker's answer (from [`ticket_infos`] or
/// [`cached_ticket_infos`]) to `infos`.
pub fn merge_infos(
    infos: &mut Infos,
    tracker_id: &str,
    found: BTreeMap<String, TicketInfo>,
    freshness: &Freshness,
) {
    let offline = matches!(freshness, Freshness::Offline(_));
    for (key, info) in found {
        let unconfirmed = offline || info.stale;
        infos.insert((tracker_id.to_string(), key), (info, unconfirmed));
    }
}

/// Joins sessions with what is known of their tickets, in the sessions'
/// order.
pub fn join(sessions: &[Session], infos: &Infos) -> Vec<SessionRow> {
    sessions
        .iter()
        .map(|s| {
            let found = infos.get(&(s.tracker.clone(), s.ticket_key.clone()));
            SessionRow::new(s, found.map(|(i, _)| i), found.is_some_and(|(_, o)| *o))
        })
        .collect()
}

/// Records the status csm itself just set on a ticket, so what csm shows
/// is true at once, whatever the tracker's search says for a while. Every
/// transition csm makes goes through here.
pub fn remember_status(
    store: &Store,
    tracker_id: &str,
    key: &str,
    status: &str,
    now_ms: i64,
) -> Result<(), StoreError> {
    let mut cached = read_cache(store, tracker_id)?;
    let info = cached.tickets.entry(key.to_string()).or_default();
    info.status = status.to_string();
    info.set_at = Some(now_ms);
    info.stale = false;
    let text = serde_json::to_string(&cached).unwrap_or_default();
    store.cache_set(&cache_key(tracker_id), &text)
}

/// Walks a ticket to `target` (see [`crate::tracker::walk`]) and records
/// where it ended in csm's cache (when there is a store).
pub fn move_ticket(
    store: Option<&Store>,
    tracker: &dyn Tracker,
    key: &TicketKey,
    target: &str,
) -> Result<crate::tracker::walk::Walked, crate::tracker::TrackerError> {
    let walked = crate::tracker::walk::walk(tracker, key, target)?;
    if let Some(store) = store
        && let Err(e) = remember_status(
            store,
            &tracker.id(),
            key.as_str(),
            &walked.status,
            crate::store::now_ms(),
        )
    {
        tracing::warn!(error = %e, "cannot cache the ticket's status");
    }
    Ok(walked)
}

/// The issue property that mirrors a session to the tracker.
pub const PROPERTY: &str = "csm.session";

/// One ticket, one key: after reading a ticket asked for as `asked`, the
/// key the tracker answered with is the one csm records. What csm recorded
/// under the asked key (an old key of a moved ticket, or another case), or
/// under a key the ticket has since left (found through the session the
/// ticket's `csm.session` property names, when it is this machine's), is
/// re-keyed. Returns the old keys re-keyed.
pub fn settle_key(
    store: &Store,
    tracker: &dyn Tracker,
    asked: &TicketKey,
    ticket: &Ticket,
) -> Result<Vec<String>, StoreError> {
    let id = tracker.id();
    let new = ticket.key.as_str();
    let mut moved = Vec::new();
    if asked != &ticket.key && store.rekey_ticket(&id, asked.as_str(), new)? > 0 {
        moved.push(asked.to_string());
    }
    let has_own = store
        .sessions_for_ticket(new)?
        .iter()
        .any(|s| s.tracker == id);
    if has_own {
        return Ok(moved);
    }
    // One request, only for a ticket csm has no session of.
    let Ok(Some(link)) = tracker.property(&ticket.key, PROPERTY) else {
        return Ok(moved);
    };
    let here = hostname();
    let same_host = link.get("host").and_then(Value::as_str).map(str::trim) == here.as_deref();
    let Some(session) = link
        .get("csm_session")
        .and_then(Value::as_i64)
        .filter(|_| same_host)
        .map(|n| store.session(n))
        .transpose()?
        .flatten()
    else {
        return Ok(moved);
    };
    let same_folder = link.get("folder").and_then(Value::as_str)
        == Some(session.folder.to_string_lossy().as_ref());
    if session.tracker == id && session.ticket_key != new && same_folder {
        store.rekey_ticket(&id, &session.ticket_key, new)?;
        moved.push(session.ticket_key);
    }
    Ok(moved)
}

/// The sessions of a ticket by the key given; when there are none, the
/// tracker (`tracker`, asked only then) says the ticket's current key, and
/// what csm recorded under an old key is re-keyed (see [`settle_key`]).
pub fn sessions_of(
    store: &Store,
    tracker: impl FnOnce() -> Option<Box<dyn Tracker>>,
    key: &TicketKey,
) -> Result<(TicketKey, Vec<Session>), StoreError> {
    let found = store.sessions_for_ticket(key.as_str())?;
    if !found.is_empty() {
        return Ok((key.clone(), found));
    }
    let Some(tracker) = tracker() else {
        return Ok((key.clone(), found));
    };
    let Ok(ticket) = tracker.get(key) else {
        return Ok((key.clone(), found));
    };
    settle_key(store, tracker.as_ref(), key, &ticket)?;
    let found = store.sessions_for_ticket(ticket.key.as_str())?;
    Ok((ticket.key, found))
}

/// This machine's name, as the `csm.session` property records it.
pub fn hostname() -> Option<String> {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
}

/// Marks the done rows whose ticket's note is still queued or refused
/// (`states` from `Store::outbox_note_states`).
pub fn attach_notes(
    rows: &mut [SessionRow],
    states: &std::collections::HashMap<(String, String), crate::store::NoteState>,
) {
    for r in rows.iter_mut().filter(|r| r.status == SessionStatus::Done) {
        r.note = states.get(&(r.tracker.clone(), r.key.clone())).copied();
    }
}

/// Saves a session's settings (as `csm set` and the dashboard's settings
/// editor do); they apply from the next launch or resume.
pub fn save_settings(
    store: &Store,
    session_id: i64,
    settings: &crate::codex::Settings,
) -> Result<(), StoreError> {
    store.set_settings(session_id, &settings.to_json())
}

/// One session with its ticket's facts, as `csm list` shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SessionRow {
    /// csm's id for the session.
    pub id: i64,
    /// The ticket key.
    pub key: String,
    /// The ticket's summary, when known.
    pub summary: Option<String>,
    /// The ticket's status, when known.
    pub ticket_status: Option<String>,
    /// Whether the ticket facts are the last known ones, not confirmed
    /// just now: the tracker was unreachable, its search missed the
    /// ticket, or only the snapshot taken at the last launch is known.
    pub ticket_offline: bool,
    /// What the session is doing.
    pub status: SessionStatus,
    /// The folder Codex runs in.
    pub folder: PathBuf,
    /// The git branch, when known.
    pub branch: Option<String>,
    /// Codex's session id, once known.
    pub codex_session_id: Option<String>,
    /// Settings that differ from the defaults.
    pub settings: Value,
    /// When the session was recorded (Unix ms).
    pub created_at: i64,
    /// When Codex last showed activity (Unix ms).
    pub last_activity_at: Option<i64>,
    /// The tracker's id.
    pub tracker: String,
    /// The session's pull request, once `csm done --pr` opened one
    /// (absent from JSON until then).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<String>,
    /// Codex's token usage in the session, when asked for and known
    /// (`usage::of_threads`; absent from JSON when unknown).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<crate::usage::Usage>,
    /// When csm last told (or notified) the running Codex that the ticket
    /// changed, if it did since the session's last launch (the dashboard
    /// marks such rows).
    #[serde(skip_serializing)]
    pub ticket_changed_at: Option<i64>,
    /// For a done session whose note has not reached the tracker: where
    /// it is (shown instead of "done").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<crate::store::NoteState>,
}

impl SessionRow {
    /// Joins a session with what is known of its ticket.
    pub fn new(s: &Session, info: Option<&TicketInfo>, offline: bool) -> SessionRow {
        // The snapshot taken at the last launch is the fallback, read only
        // when the tracker gave nothing (list builds a row per session),
        // and never shown as fresh.
        let snapshot = || {
            let snap = s.ticket_snapshot.as_ref()?;
            Some(TicketInfo {
                summary: snap.get("summary")?.as_str()?.to_string(),
                status: snap.get("status")?.as_str()?.to_string(),
                ..TicketInfo::default()
            })
        };
        let offline = offline || (info.is_none() && s.ticket_snapshot.is_some());
        let info = match info.cloned() {
            // Only the status is known (csm set it): the summary from the
            // snapshot.
            Some(mut i) if i.summary.is_empty() => {
                i.summary = snapshot().map(|s| s.summary).unwrap_or_default();
                Some(i)
            }
            Some(i) => Some(i),
            None => snapshot(),
        };
        SessionRow {
            id: s.id,
            key: s.ticket_key.clone(),
            summary: info.as_ref().map(|i| i.summary.clone()),
            ticket_status: info.map(|i| i.status),
            ticket_offline: offline,
            status: live_status(s),
            folder: s.folder.clone(),
            branch: s.branch.clone(),
            codex_session_id: s.codex_session_id.clone(),
            settings: s.settings.clone(),
            created_at: s.created_at,
            last_activity_at: s.last_activity_at,
            tracker: s.tracker.clone(),
            pull_request: None,
            usage: None,
            ticket_changed_at: None,
            note: None,
        }
    }

    /// The session's state in words: its status, or where its note is
    /// while a done session's note has not reached the tracker.
    pub fn status_label(&self) -> &'static str {
        match self.note {
            Some(note) if self.status == SessionStatus::Done => note.label(),
            _ => self.status.as_str(),
        }
    }
}

/// A session's status, corrected by the process state: a session said to
/// be running or waiting whose Codex process is gone (csm was killed, the
/// machine restarted) is idle.
pub fn live_status(s: &Session) -> SessionStatus {
    match (s.status, s.pid) {
        (SessionStatus::Running | SessionStatus::Waiting, Some(pid)) if !alive(pid) => {
            SessionStatus::Idle
        }
        (status, _) => status,
    }
}

/// Whether a session is the leftover of a `csm start` that never got as
/// far as a running Codex (csm was killed before the launch, or Codex died
/// before its id was seen): no Codex id, and no live process.
pub fn never_started(s: &Session) -> bool {
    s.codex_session_id.is_none() && !s.pid.is_some_and(alive)
}

/// Whether a process with this id exists.
pub fn alive(pid: i64) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 only asks whether the process exists.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// The session a command means: the one whose Codex id or csm number is
/// `want`, else the latest.
pub fn pick<'a>(sessions: &'a [Session], want: Option<&str>) -> Option<&'a Session> {
    match want {
        None => sessions.last(),
        Some(want) => sessions
            .iter()
            .find(|s| s.codex_session_id.as_deref() == Some(want) || s.id.to_string() == want),
    }
}

/// A short age: `now`, `42s`, `5m`, `3h`, `2d`, `6w`.
pub fn age(since_ms: i64, now_ms: i64) -> String {
    let secs = (now_ms - since_ms).max(0) / 1000;
    match secs {
        0..=4 => "now".into(),
        5..=59 => format!("{secs}s"),
        60..=3599 => format!("{}m", secs / 60),
        3600..=86_399 => format!("{}h", secs / 3600),
        86_400..=1_209_599 => format!("{}d", secs / 86_400),
        _ => format!("{}w", secs / 604_800),
    }
}

/// Settings as `k=v` pairs, in key order (only set values are stored).
pub fn settings_summary(settings: &Value) -> String {
    let Some(map) = settings.as_object() else {
        return String::new();
    };
    map.iter()
        .map(|(k, v)| match v {
            Value::String(s) => format!("{k}={s}"),
            other => format!("{k}={other}"),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A folder for display: the home folder as `~`.
pub fn short_folder(folder: &std::path::Path, home: Option<&std::path::Path>) -> String {
    if let Some(home) = home
        && let Ok(rest) = folder.strip_prefix(home)
    {
        return if rest.as_os_str().is_empty() {
            "~".into()
        } else {
            format!("~/{}", rest.display())
        };
    }
    folder.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracker::local::LocalTracker;
    use crate::tracker::{NewTicket, TrackerError};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts searches and can be made to fail, around a local tracker.
    struct Counting {
        inner: LocalTracker,
        searches: AtomicUsize,
        offline: bool,
    }

    impl Tracker for Counting {
        fn kind(&self) -> crate::tracker::TrackerKind {
            self.inner.kind()
        }
        fn id(&self) -> String {
            "counting".into()
        }
        fn get(&self, key: &TicketKey) -> Result<Ticket, TrackerError> {
            self.inner.get(key)
        }
        fn search(&self, q: &Query) -> Result<Vec<Ticket>, TrackerError> {
            self.searches.fetch_add(1, Ordering::SeqCst);
            if self.offline {
                return Err(TrackerError::Unreachable {
                    site: "x".into(),
                    message: "down".into(),
                });
            }
            self.inner.search(q)
        }
        fn comments(&self, k: &TicketKey) -> Result<Vec<crate::tracker::Comment>, TrackerError> {
            self.inner.comments(k)
        }
        fn comment(&self, k: &TicketKey, b: &str) -> Result<crate::tracker::Comment, TrackerError> {
            self.inner.comment(k, b)
        }
        fn transitions(
            &self,
            k: &TicketKey,
        ) -> Result<Vec<crate::tracker::Transition>, TrackerError> {
            self.inner.transitions(k)
        }
        fn transition(&self, k: &TicketKey, t: &str) -> Result<String, TrackerError> {
            self.inner.transition(k, t)
        }
        fn create(&self, t: &NewTicket) -> Result<TicketKey, TrackerError> {
            self.inner.create(t)
        }
        fn update(
            &self,
            k: &TicketKey,
            u: &crate::tracker::TicketUpdate,
        ) -> Result<(), TrackerError> {
            self.inner.update(k, u)
        }
        fn set_property(&self, k: &TicketKey, n: &str, v: &Value) -> Result<(), TrackerError> {
            self.inner.set_property(k, n, v)
        }
        fn property(&self, k: &TicketKey, n: &str) -> Result<Option<Value>, TrackerError> {
            self.inner.property(k, n)
        }
        fn log_work(&self, k: &TicketKey, s: u64, c: &str) -> Result<(), TrackerError> {
            self.inner.log_work(k, s, c)
        }
        fn has_work_log(&self, k: &TicketKey, m: &str) -> Result<bool, TrackerError> {
            self.inner.has_work_log(k, m)
        }
    }

    #[test]
    fn one_search_then_cache_then_offline_fallback() {
        let dir = tempfile::tempdir().unwrap();
        let local = LocalTracker::new(dir.path(), "CSM".into(), Vec::new()).unwrap();
        let mut keys = BTreeSet::new();
        for i in 0..5 {
            keys.insert(
                local
                    .create(&NewTicket {
                        summary: format!("t{i}"),
                        ..NewTicket::default()
                    })
                    .unwrap(),
            );
        }
        let mut tracker = Counting {
            inner: local,
            searches: AtomicUsize::new(0),
            offline: false,
        };
        let store = Store::open_in_memory().unwrap();
        let (infos, fresh) =
            ticket_infos(&store, &tracker, &keys, TICKET_CACHE_TTL, 1_000).unwrap();
        assert_eq!((infos.len(), fresh), (5, Freshness::Fresh));
        assert_eq!(tracker.searches.load(Ordering::SeqCst), 1);
        let (_, fresh) = ticket_infos(&store, &tracker, &keys, TICKET_CACHE_TTL, 2_000).unwrap();
        assert_eq!(fresh, Freshness::Cached);
        assert_eq!(tracker.searches.load(Ordering::SeqCst), 1);
        tracker.offline = true;
        let later = 1_000 + TICKET_CACHE_TTL.as_millis() as i64 + 1;
        let (infos, fresh) =
            ticket_infos(&store, &tracker, &keys, TICKET_CACHE_TTL, later).unwrap();
        assert!(matches!(fresh, Freshness::Offline(_)));
        assert_eq!(infos["CSM-3"].summary, "t2");
    }

    #[test]
    fn csm_own_moves_win_for_a_while_and_tickets_a_search_missed_are_stale() {
        let dir = tempfile::tempdir().unwrap();
        let local = LocalTracker::new(dir.path(), "CSM".into(), Vec::new()).unwrap();
        let mut keys = BTreeSet::new();
        for i in 0..2 {
            keys.insert(
                local
                    .create(&NewTicket {
                        summary: format!("t{i}"),
                        ..NewTicket::default()
                    })
                    .unwrap(),
            );
        }
        let tracker = Counting {
            inner: local,
            searches: AtomicUsize::new(0),
            offline: false,
        };
        let store = Store::open_in_memory().unwrap();
        ticket_infos(&store, &tracker, &keys, TICKET_CACHE_TTL, 1_000).unwrap();
        // csm moved CSM-1; the tracker's search still says To Do (it lags).
        remember_status(&store, "counting", "CSM-1", "Done", 2_000).unwrap();
        let (infos, _) = cached_ticket_infos(&store, "counting").unwrap();
        assert_eq!(infos["CSM-1"].status, "Done", "at once, before any search");
        // Someone else's change makes the search miss CSM-2.
        std::fs::remove_file(dir.path().join(".csm/tickets/CSM-2.md")).unwrap();
        let later = 1_000 + TICKET_CACHE_TTL.as_millis() as i64 + 1;
        let (infos, fresh) =
            ticket_infos(&store, &tracker, &keys, TICKET_CACHE_TTL, later).unwrap();
        assert_eq!(fresh, Freshness::Fresh);
        assert_eq!(
            (infos["CSM-1"].status.as_str(), infos["CSM-1"].stale),
            ("Done", false)
        );
        assert_eq!(
            (infos["CSM-2"].status.as_str(), infos["CSM-2"].stale),
            ("To Do", true)
        );
        let mut merged = Infos::new();
        merge_infos(&mut merged, "counting", infos, &fresh);
        assert!(
            merged[&("counting".to_string(), "CSM-2".to_string())].1,
            "marked"
        );
        assert!(!merged[&("counting".to_string(), "CSM-1".to_string())].1);
        // Long after csm's move, the tracker's word counts again.
        let much_later = later + TICKET_CACHE_TTL.as_millis() as i64 + 1;
        let (infos, _) =
            ticket_infos(&store, &tracker, &keys, TICKET_CACHE_TTL, much_later).unwrap();
        assert_eq!(infos["CSM-1"].status, "To Do");
    }

    #[test]
    fn ages_and_folders() {
        assert_eq!(age(0, 1_000), "now");
        assert_eq!(age(0, 42_000), "42s");
        assert_eq!(age(0, 300_000), "5m");
        assert_eq!(age(0, 3 * 3_600_000), "3h");
        assert_eq!(age(0, 2 * 86_400_000), "2d");
        assert_eq!(age(0, 30 * 86_400_000), "4w");
        assert_eq!(age(5_000, 0), "now");
        let home = std::path::Path::new("/home/ana");
        assert_eq!(short_folder(&home.join("src/app"), Some(home)), "~/src/app");
        assert_eq!(short_folder(home, Some(home)), "~");
        assert_eq!(
            short_folder(std::path::Path::new("/srv/x"), Some(home)),
            "/srv/x"
        );
        assert_eq!(
            settings_summary(&serde_json::json!({"model": "o3", "search": true})),
            "model=o3 search=true"
        );
    }
}
