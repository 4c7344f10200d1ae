//! What the dashboard shows, read from the store: the sessions joined with
//! their tickets' cached facts (the same join as `csm list`), and the
//! detail of one session. Nothing here asks a tracker: the tracker's
//! batched search runs on its own thread (see `app`) and its answer is
//! merged in with [`Loader::set_tickets`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use crate::codex::rollout;
use crate::commands::show::TURN_COMPLETE;
use crate::session::{self, Freshness, Infos, SessionRow, TicketInfo};
use crate::store::{Session, SessionStatus, Store, StoreError};

use super::state::{Criterion, CriterionStatus, Detail, PendingTab};

/// How many recent events the detail pane lists.
pub const RECENT_EVENTS: usize = 8;

/// The start of the local day of `now_ms` (Unix ms): sessions done since
/// then are "done today".
pub fn day_start_ms(now_ms: i64) -> i64 {
    jiff::Timestamp::from_millisecond(now_ms)
        .ok()
        .and_then(|t| {
            t.to_zoned_datetime(jiff::tz::TimeZone::system())
                .start_of_day()
                .ok()
        })
        .map(|z| z.timestamp().as_millisecond())
        .unwrap_or(now_ms - now_ms.rem_euclid(86_400_000))
}

/// Reads the sessions the dashboard shows, joined with what is known of
/// their tickets; remembers the trackers' answers between loads.
#[derive(Debug, Default)]
pub struct Loader {
    infos: Infos,
    trackers_read: BTreeSet<String>,
    sessions: Vec<Session>,
}

impl Loader {
    /// A loader that knows no ticket yet.
    pub fn new() -> Loader {
        Loader::default()
    }

    /// Every session not done, and those done today, most recently active
    /// first, joined with their tickets' facts: the tracker's last answer,
    /// else the cache (read once per tracker), else the ticket as it was at
    /// the last launch.
    pub fn load(&mut self, store: &Store, now_ms: i64) -> Result<Vec<SessionRow>, StoreError> {
        let sessions = store.sessions_shown(day_start_ms(now_ms))?;
        let new_trackers: BTreeSet<String> = sessions
            .iter()
            .map(|s| s.tracker.clone())
            .filter(|t| !self.trackers_read.contains(t))
            .collect();
        for tracker in new_trackers {
            let (found, _) = session::cached_ticket_infos(store, &tracker)?;
            session::merge_infos(&mut self.infos, &tracker, found, &Freshness::Cached);
            self.trackers_read.insert(tracker);
        }
        let mut rows = session::join(&sessions, &self.infos);
        mark_ticket_changes(store, &sessions, &mut rows)?;
        session::attach_notes(&mut rows, &store.outbox_note_states()?);
        self.sessions = sessions;
        Ok(rows)
    }

    /// Merges a tracker's answer (from the background search).
    pub fn set_tickets(
        &mut self,
        tracker_id: &str,
        found: BTreeMap<String, TicketInfo>,
        freshness: &Freshness,
    ) {
        session::merge_infos(&mut self.infos, tracker_id, found, freshness);
        self.trackers_read.insert(tracker_id.to_string());
    }

    /// A session of the last load.
    pub fn session(&self, id: i64) -> Option<&Session> {
        self.sessions.iter().find(|s| s.id == id)
    }

    /// The tab requests that wait for the user, of the sessions of the
    /// last load whose Codex runs (only a running Codex asks), oldest
    /// first.
    pub fn pending_tabs(&self, store: &Store) -> Result<Vec<PendingTab>, StoreError> {
        let mut pending = Vec::new();
        for s in &self.sessions {
            if !matches!(
                session::live_status(s),
                SessionStatus::Running | SessionStatus::Waiting
            ) {
                continue;
            }
            for t in crate::tabs::session_tabs(store, s.id)? {
                if t.state == crate::tabs::record::State::Pending {
                    pending.push(PendingTab {
                        id: t.id,
                        session_id: s.id,
                        key: s.ticket_key.clone(),
                        command: t.command_line(),
                    });
                }
            }
        }
        pending.sort_by_key(|p| p.id);
        Ok(pending)
    }
}

/// Marks the rows whose running Codex was told that the ticket changed
/// since the session's last launch (one indexed look per session).
fn mark_ticket_changes(
    store: &Store,
    sessions: &[Session],
    rows: &mut [SessionRow],
) -> Result<(), StoreError> {
    for (s, row) in sessions.iter().zip(rows.iter_mut()) {
        if s.launched_at.is_none() {
            continue;
        }
        row.ticket_changed_at = store
            .latest_event(s.id, crate::watch::TICKET_CHANGED)?
            .map(|e| e.at)
            .filter(|at| Some(*at) >= s.launched_at);
    }
    Ok(())
}

/// The detail of one session: the criteria with the last report's verdicts
/// (or the ticket's criteria as of the last launch, unjudged), the last
/// assistant message (the last turn's, else the rollout's), recent events,
/// and `command` (what resume runs, or why it cannot).
pub fn load_detail(
    store: &Store,
    session: &Session,
    codex_home: Option<&Path>,
    command: Result<String, String>,
) -> Result<Detail, StoreError> {
    let events = store.events(session.id, RECENT_EVENTS)?;
    let report = store.latest_event(session.id, crate::report::EVENT)?;
    let mut criteria = report
        .as_ref()
        .and_then(|r| r.data.get("criteria")?.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|c| {
            Some(Criterion {
                text: c.get("text")?.as_str()?.to_string(),
                status: CriterionStatus::parse(
                    c.get("status").and_then(Value::as_str).unwrap_or(""),
                ),
                evidence: c
                    .get("evidence")
                    .and_then(Value::as_str)
                    .filter(|e| !e.is_empty())
                    .map(str::to_string),
            })
        })
        .collect::<Vec<_>>();
    if criteria.is_empty() {
        criteria = session
            .ticket_snapshot
            .as_ref()
            .and_then(|t| t.get("acceptance_criteria")?.as_array().cloned())
            .unwrap_or_default()
            .iter()
            .filter_map(|c| c.as_str())
            .map(|text| Criterion {
                text: text.to_string(),
                status: CriterionStatus::Unknown,
                evidence: None,
            })
            .collect();
    }
    let report = report.map(|r| {
        let summary = r
            .data
            .get("summary")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        (summary, r.at)
    });
    let from_turn = store
        .latest_event(session.id, TURN_COMPLETE)?
        .and_then(|e| {
            e.data
                .get("last_assistant_message")?
                .as_str()
                .map(str::to_string)
        });
    let last_message = from_turn.or_else(|| {
        let home = codex_home?;
        rollout::last_agent_message(home, session.codex_session_id.as_deref()?)
    });
    let ticket_change = store
        .latest_event(session.id, crate::watch::TICKET_CHANGED)?
        .map(Box::new);
    let usage = match (codex_home, session.codex_session_id.as_deref()) {
        (Some(home), Some(id)) => crate::usage::of_threads(store, home, &[id])
            .remove(id)
            .map(Box::new),
        _ => None,
    };
    Ok(Detail {
        session_id: session.id,
        ticket_change,
        usage,
        report,
        criteria,
        last_message,
        events,
        command,
        tabs: crate::tabs::session_tabs(store, session.id)?,
    })
}

/// What identifies a session's detail: when any of it changes, the detail
/// is loaded again.
pub fn detail_stamp(s: &Session) -> (i64, Option<i64>, String, Option<String>, &'static str) {
    (
        s.updated_at,
        s.last_activity_at,
        s.settings.to_string(),
        s.codex_session_id.clone(),
        session::live_status(s).as_str(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::fixture;

    #[test]
    fn rows_whose_running_codex_was_told_of_a_change_are_marked() {
        let (store, now) = fixture::store();
        let id = fixture::rows(&store, now)[0].id;
        store.mark_launched(id, None).unwrap();
        let marked = |store: &Store| -> Vec<i64> {
            fixture::rows(store, now)
                .iter()
                .filter(|r| r.ticket_changed_at.is_some())
                .map(|r| r.id)
                .collect()
        };
        assert!(marked(&store).is_empty());
        store
            .add_event(
                id,
                crate::watch::TICKET_CHANGED,
                &serde_json::json!({"mode": "queue", "summary": "1 new criterion"}),
            )
            .unwrap();
        assert_eq!(marked(&store), vec![id]);
        let session = store.session(id).unwrap().unwrap();
        let detail = load_detail(&store, &session, None, Err(String::new())).unwrap();
        assert_eq!(
            detail.ticket_change.unwrap().data["summary"],
            "1 new criterion"
        );
    }

    #[test]
    fn done_sessions_show_only_on_their_day() {
        let (store, now) = fixture::store();
        let rows = fixture::rows(&store, now);
        assert_eq!(rows.len(), 12);
        assert!(
            !rows.iter().any(|r| r.key == "PROJ-99"),
            "done two days ago"
        );
        let day = day_start_ms(now);
        assert!(day <= now && now - day < 86_400_000);
    }

    #[test]
    fn a_done_session_whose_note_waits_shows_where_the_note_is() {
        let (store, now) = fixture::store();
        let id = store
            .outbox_add("PROJ-99", fixture::JIRA, "comment", "n csm-9", "csm-9")
            .unwrap();
        let label = |store: &Store| {
            fixture::rows(store, now)
                .iter()
                .find(|r| r.key == "PROJ-99")
                .map(|r| r.status_label())
        };
        assert_eq!(label(&store), Some("note queued"), "shown though done");
        assert!(store.outbox_claim(id, "me", 60_000).unwrap().is_some());
        store
            .outbox_fail_as(id, "me", "HTTP 400: too long", true)
            .unwrap();
        assert_eq!(label(&store), Some("note refused"));
        assert!(store.outbox_edit(id, "short csm-9").unwrap());
        store.outbox_mark_sent(id, Some("1")).unwrap();
        assert_eq!(label(&store), None, "done and delivered: gone");
    }

    #[test]
    fn rows_use_the_cache_then_the_trackers_answer() {
        let (store, now) = fixture::store();
        let mut loader = Loader::new();
        let rows = loader.load(&store, now).unwrap();
        let row = rows.iter().find(|r| r.key == "PROJ-101").unwrap();
        assert_eq!(row.ticket_status.as_deref(), Some("In Progress"));
        assert!(!row.ticket_offline);
        let mut found = BTreeMap::new();
        found.insert(
            "PROJ-101".to_string(),
            TicketInfo {
                summary: "Renamed".into(),
                status: "In Review".into(),
                ..TicketInfo::default()
            },
        );
        loader.set_tickets(fixture::JIRA, found, &Freshness::Fresh);
        let rows = loader.load(&store, now).unwrap();
        let row = rows.iter().find(|r| r.key == "PROJ-101").unwrap();
        assert_eq!(row.summary.as_deref(), Some("Renamed"));
        loader.set_tickets(
            fixture::JIRA,
            BTreeMap::new(),
            &Freshness::Offline("down".into()),
        );
        // An offline answer with nothing new keeps what was known.
        let rows = loader.load(&store, now).unwrap();
        let row = rows.iter().find(|r| r.key == "PROJ-101").unwrap();
        assert_eq!(row.ticket_status.as_deref(), Some("In Review"));
    }

    #[test]
    fn detail_reads_the_report_the_last_message_and_events() {
        let (store, now) = fixture::store();
        let rows = fixture::rows(&store, now);
        let id = rows.iter().find(|r| r.key == "PROJ-103").unwrap().id;
        let session = store.session(id).unwrap().unwrap();
        let d = load_detail(&store, &session, None, Ok("codex resume x".into())).unwrap();
        assert_eq!(d.criteria.len(), 3);
        assert_eq!(d.criteria[0].status, CriterionStatus::Met);
        assert_eq!(d.criteria[1].status, CriterionStatus::NotMet);
        assert_eq!(d.criteria[2].status, CriterionStatus::Unclear);
        assert!(d.report.unwrap().0.contains("two of three"));
        assert!(d.last_message.unwrap().starts_with("CSV export works"));
        assert_eq!(d.events[0].kind, "report");

        // No report: the ticket's criteria as of the last launch, unjudged.
        let id = rows.iter().find(|r| r.key == "PROJ-101").unwrap().id;
        let session = store.session(id).unwrap().unwrap();
        let d = load_detail(&store, &session, None, Err("no id".into())).unwrap();
        assert_eq!(d.criteria.len(), 2);
        assert!(
            d.criteria
                .iter()
                .all(|c| c.status == CriterionStatus::Unknown)
        );
        assert_eq!(d.last_message, None);
    }

    #[test]
    fn tab_requests_of_running_sessions_wait_in_the_dashboard() {
        let store = Store::open_in_memory().unwrap();
        let new = |key: &str| crate::store::NewSession {
            ticket_key: key.into(),
            tracker: "local:/r".into(),
            folder: "/r".into(),
            settings: serde_json::json!({"tabs": "on"}),
            ..Default::default()
        };
        let running = store.insert_session(&new("CSM-1")).unwrap();
        let idle = store.insert_session(&new("CSM-2")).unwrap();
        store.mark_launched(running, None).unwrap();
        store.set_pid(running, Some(std::process::id())).unwrap();
        let request = |s: i64, argv: &[&str]| {
            store
                .add_event(
                    s,
                    "tab-requested",
                    &serde_json::json!({"argv": argv, "name": "t", "cwd": "/r"}),
                )
                .unwrap()
        };
        let waiting = request(running, &["npm", "run", "dev"]);
        let answered = request(running, &["make"]);
        store
            .add_event(
                running,
                "tab-denied",
                &serde_json::json!({"request": answered, "by": "x"}),
            )
            .unwrap();
        request(idle, &["make"]);
        let mut loader = Loader::new();
        loader.load(&store, crate::store::now_ms()).unwrap();
        let pending = loader.pending_tabs(&store).unwrap();
        assert_eq!(
            pending,
            vec![PendingTab {
                id: waiting,
                session_id: running,
                key: "CSM-1".into(),
                command: "npm run dev".into(),
            }]
        );
        let session = store.session(running).unwrap().unwrap();
        let d = load_detail(&store, &session, None, Ok(String::new())).unwrap();
        assert_eq!(d.tabs.len(), 2);
    }

    #[test]
    fn the_last_message_falls_back_to_the_rollout() {
        let home = tempfile::tempdir().unwrap();
        let store = Store::open_in_memory().unwrap();
        let id = store
            .insert_session(&crate::store::NewSession {
                ticket_key: "CSM-1".into(),
                tracker: "local:/r".into(),
                folder: "/r".into(),
                settings: serde_json::json!({}),
                ..Default::default()
            })
            .unwrap();
        store.set_codex_session_id(id, "abc").unwrap();
        let dir = rollout::recent_day_dirs(home.path(), jiff::Timestamp::now())[0].clone();
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("rollout-2026-11-25T07-00-00-abc.jsonl"),
            concat!(
                "{\"type\":\"session_meta\",\"payload\":{\"id\":\"abc\",\"cwd\":\"/r\"}}\n",
                "{\"type\":\"event_msg\",\"payload\":{\"type\":\"task_complete\",\"last_agent_message\":\"From the rollout.\"}}\n"
            ),
        )
        .unwrap();
        let session = store.session(id).unwrap().unwrap();
        let d = load_detail(&store, &session, Some(home.path()), Ok(String::new())).unwrap();
        assert_eq!(d.last_message.as_deref(), Some("From the rollout."));
    }
}
