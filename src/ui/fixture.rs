//! A store of 12 sessions in mixed states, at known times, for the
//! dashboard's state and snapshot tests: two running, three waiting for
//! input, five idle (one never launched, one on a tracker that is offline),
//! two done today, and one done two days ago that is not shown.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;

use serde_json::{Value, json};

use crate::codex::Settings;
use crate::codex::command::{CodexCommand, Invocation};
use crate::session::{self, Freshness, SessionRow, TicketInfo};
use crate::store::{NewSession, SessionStatus, Store};

use super::data::{self, Loader};
use super::state::{App, Tickets};

/// The main Jira site.
pub const JIRA: &str = "jira:https://jira.example.com";
/// A Jira site that cannot be reached.
pub const OLD_JIRA: &str = "jira:https://old.example.com";
/// A local tracker.
pub const LOCAL: &str = "local:/home/ana/src/dotfiles";
/// The user's home folder.
pub const HOME: &str = "/home/ana";

const MIN: i64 = 60_000;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;

struct Spec {
    key: &'static str,
    tracker: &'static str,
    summary: &'static str,
    ticket: &'static str,
    status: SessionStatus,
    ago: i64,
    folder: &'static str,
    settings: Value,
    codex: bool,
}

fn specs() -> Vec<Spec> {
    let spec = |key, summary, ticket, status, ago, folder, settings| Spec {
        key,
        tracker: JIRA,
        summary,
        ticket,
        status,
        ago,
        folder,
        settings,
        codex: true,
    };
    use SessionStatus::*;
    let mut v = vec![
        spec(
            "PROJ-101",
            "Add a --json flag to csm list",
            "In Progress",
            Running,
            20_000,
            "/home/ana/src/csm",
            json!({}),
        ),
        spec(
            "PROJ-102",
            "Retry Jira requests on HTTP 429",
            "In Progress",
            Running,
            2 * MIN,
            "/home/ana/src/csm-jira",
            json!({"sandbox": "workspace-write"}),
        ),
        spec(
            "PROJ-103",
            "Export sessions as CSV",
            "In Review",
            Waiting,
            5 * MIN,
            "/home/ana/src/csm",
            json!({"effort": "high", "model": "gpt-5.5"}),
        ),
        spec(
            "PROJ-104",
            "Show a ticket's comments in csm show",
            "In Progress",
            Waiting,
            48 * MIN,
            "/srv/work/csm",
            json!({"approval": "never"}),
        ),
        spec(
            "PROJ-105",
            "Fix the crash on an empty config file",
            "In Progress",
            Waiting,
            3 * HOUR,
            "/home/ana/src/csm",
            json!({"model": "o3", "search": true}),
        ),
        spec(
            "PROJ-106",
            "Document the notify hook",
            "In Progress",
            Idle,
            5 * HOUR,
            "/home/ana/src/csm-docs",
            json!({}),
        ),
        Spec {
            tracker: LOCAL,
            codex: false,
            ..spec(
                "CSM-7",
                "Write the README's install section",
                "To Do",
                New,
                6 * HOUR,
                "/home/ana/src/dotfiles",
                json!({"profile": "work"}),
            )
        },
        spec(
            "PROJ-108",
            "Speed up session capture with 10,000 rollouts",
            "Blocked",
            Idle,
            DAY + 2 * HOUR,
            "/home/ana/src/csm",
            json!({}),
        ),
        spec(
            "PROJ-109",
            "Export the ticket cache as CSV for audits",
            "In Progress",
            Idle,
            2 * DAY,
            "/home/ana/work/very/deeply/nested/project/folder",
            json!({"effort": "low"}),
        ),
        Spec {
            tracker: OLD_JIRA,
            ..spec(
                "OPS-12",
                "Rotate the deploy keys",
                "To Do",
                Idle,
                3 * DAY,
                "/home/ana/ops",
                json!({}),
            )
        },
        spec(
            "PROJ-111",
            "Add shell completions",
            "Done",
            Done,
            HOUR,
            "/home/ana/src/csm",
            json!({}),
        ),
        spec(
            "PROJ-112",
            "Tidy the test helpers",
            "Done",
            Done,
            2 * HOUR,
            "/home/ana/src/csm",
            json!({}),
        ),
    ];
    v.push(spec(
        "PROJ-99",
        "An old finished ticket",
        "Done",
        Done,
        2 * DAY,
        "/home/ana/src/csm",
        json!({}),
    ));
    v
}

/// Noon of a fixed day in the local time zone, so that "an hour ago" is
/// today wherever the tests run.
pub fn now() -> i64 {
    let base = jiff::Timestamp::from_second(1_795_608_000).expect("a valid time"); // 2026-11-25
    data::day_start_ms(base.as_millisecond()) + 12 * HOUR
}

/// The fixture store and its "now".
pub fn store() -> (Store, i64) {
    let now = now();
    let store = Store::open_in_memory().expect("store");
    let mut infos: BTreeMap<&str, BTreeMap<String, TicketInfo>> = BTreeMap::new();
    for (n, s) in specs().into_iter().enumerate() {
        let criteria = match s.key {
            "PROJ-103" => vec![
                "csm list --csv prints one row per session",
                "a header row names the columns",
                "fields with commas are quoted",
            ],
            _ => vec!["it works", "it is documented"],
        };
        let id = store
            .insert_session(&NewSession {
                ticket_key: s.key.into(),
                tracker: s.tracker.into(),
                folder: s.folder.into(),
                settings: s.settings.clone(),
                branch: Some(format!("{}-work", s.key.to_lowercase())),
                start_commit: None,
                ticket_snapshot: Some(json!({
                    "key": s.key, "summary": s.summary, "status": s.ticket,
                    "acceptance_criteria": criteria,
                })),
            })
            .expect("insert");
        if s.codex {
            store
                .set_codex_session_id(id, &format!("019a0000-0000-7000-8000-{n:012}"))
                .expect("codex id");
        }
        store.set_status(id, s.status).expect("status");
        let at = now - s.ago;
        let event = |ago: i64, kind: &str, data: Value| {
            let e = store.add_event(id, kind, &data).expect("event");
            store.set_event_time(e, at - ago).expect("event time");
        };
        event(2 * HOUR, "launched", json!({"pid": 4242, "pty": true}));
        event(2 * HOUR - MIN, "captured", json!({}));
        if s.key == "PROJ-103" {
            event(
                30 * MIN,
                TURN_COMPLETE_KIND,
                json!({"last_assistant_message": "Wrote the exporter."}),
            );
            event(
                MIN,
                TURN_COMPLETE_KIND,
                json!({"last_assistant_message":
                    "CSV export works: `csm list --csv` prints a header and one row per session.\n\nStill open: fields with commas are not quoted yet; I will add that next.\u{1b}]0;pwned\u{7}"}),
            );
            event(
                0,
                crate::report::EVENT,
                json!({
                    "summary": "two of three criteria met",
                    "criteria": [
                        {"text": "csm list --csv prints one row per session", "status": "met",
                         "evidence": "tests/it/list.rs::csv_rows"},
                        {"text": "a header row names the columns", "status": "not_met"},
                        {"text": "fields with commas are quoted", "status": "unclear",
                         "evidence": "no test covers it"}
                    ]
                }),
            );
        }
        let updated = if s.status == SessionStatus::Done {
            at
        } else {
            at - 2 * HOUR
        };
        store
            .set_times(id, at - 3 * HOUR, updated, Some(at))
            .expect("times");
        if s.tracker != OLD_JIRA || s.key == "OPS-12" {
            infos.entry(s.tracker).or_default().insert(
                s.key.to_string(),
                TicketInfo {
                    summary: s.summary.into(),
                    status: s.ticket.into(),
                    ..TicketInfo::default()
                },
            );
        }
    }
    for (tracker, tickets) in infos {
        session::cache_ticket_infos(&store, tracker, tickets, now - 2 * MIN).expect("cache");
    }
    (store, now)
}

const TURN_COMPLETE_KIND: &str = crate::commands::show::TURN_COMPLETE;

/// A loader that has read the cache, and heard that the old Jira is
/// offline.
pub fn loader(store: &Store, now: i64) -> Loader {
    let mut loader = Loader::new();
    loader.load(store, now).expect("load");
    let (cached, _) = session::cached_ticket_infos(store, OLD_JIRA).expect("cache");
    loader.set_tickets(
        OLD_JIRA,
        cached,
        &Freshness::Offline("cannot reach https://old.example.com: connection refused".into()),
    );
    loader
}

/// The rows the dashboard shows.
pub fn rows(store: &Store, now: i64) -> Vec<SessionRow> {
    loader(store, now).load(store, now).expect("load")
}

/// The command resume runs for a session, with a fixed `codex` and `csm`.
pub fn command(settings: &Value, folder: &Path, codex_id: &str) -> String {
    let notify: Vec<OsString> = vec![
        "/home/ana/.cargo/bin/csm".into(),
        "hook".into(),
        "notify".into(),
    ];
    let settings = Settings::from_json(settings);
    let inv = Invocation {
        program: Path::new("/usr/local/bin/codex"),
        settings: &settings,
        cwd: folder,
        prompt: None,
        notify: Some(&notify),
        extra: &[],
        mcp: None,
    };
    CodexCommand::resume(&inv, codex_id, Vec::new()).to_string()
}

/// The dashboard over the fixture, with every detail loaded.
pub fn app(store: &Store, now: i64) -> App {
    let rows = rows(store, now);
    let mut app = App::new(rows.clone(), now, Some(HOME.into()));
    app.tickets = Tickets {
        refreshing: false,
        offline: Some("cannot reach https://old.example.com: connection refused".into()),
        fetched_at: Some(now - 2 * MIN),
    };
    for r in &rows {
        let session = store.session(r.id).expect("read").expect("session");
        let command = match &session.codex_session_id {
            Some(id) => Ok(command(&session.settings, &session.folder, id)),
            None => Err(format!(
                "the Codex session id of {} was never captured (link it with `csm link {} --last`)",
                session.ticket_key, session.ticket_key
            )),
        };
        let detail = data::load_detail(store, &session, None, command).expect("detail");
        app.set_detail(detail);
    }
    app
}
