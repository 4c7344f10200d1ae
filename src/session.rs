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
pub const PULL_REQUEST_EVENT: &str = "pull-request";

/// The URL of a session's pull request, when `csm done --pr` opened one.
pub fn pull_request(store: &Store, session_id: i64) -> Result<Option<String>, StoreError> {
    Ok(store
        .latest_event(session_id, PULL_REQUEST_EVENT)?
        .and_then(|e| e.data["url"].as_str().map(str::to_string)))
}

/// The facts about a ticket shown next to its sessions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketInfo {
    /// The summary.
    pub summary: String,
    /// The workflow status.
    pub status: String,
}

impl From<&Ticket> for TicketInfo {
    fn from(t: &Ticket) -> TicketInfo {
        TicketInfo {
            summary: t.summary.clone(),
            status: t.status.clone(),
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
            for t in &tickets {
                fresh.tickets.insert(t.key.to_string(), TicketInfo::from(t));
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
        infos.insert((tracker_id.to_string(), key), (info, offline));
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
    /// Whether the ticket facts are from a cache that could not be
    /// refreshed (the tracker was unreachable).
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
}

impl SessionRow {
    /// Joins a session with what is known of its ticket.
    pub fn new(s: &Session, info: Option<&TicketInfo>, offline: bool) -> SessionRow {
        // The snapshot taken at the last launch is the fallback, read only
        // when the tracker gave nothing (list builds a row per session).
        let info = info.cloned().or_else(|| {
            let snap = s.ticket_snapshot.as_ref()?;
            Some(TicketInfo {
                summary: snap.get("summary")?.as_str()?.to_string(),
                status: snap.get("status")?.as_str()?.to_string(),
            })
        });
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
