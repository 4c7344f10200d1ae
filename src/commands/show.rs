//! `csm show KEY`: everything about a ticket's sessions: folder, Codex
//! session id, settings, status, the last assistant message, tabs and
//! recent events.

use serde::Serialize;

use crate::command_error::{CommandError, ExitKind};
use crate::context::Context;
use crate::event::SessionEvent;
use crate::output::sanitize;
use crate::session::{self, SessionRow};
use crate::store::{Event, now_ms};
use crate::tabs::record::Tab;
use crate::tracker::{Ticket, TicketKey};

/// How many recent events `show` includes per session.
const RECENT_EVENTS: usize = 10;

/// Arguments of `csm show`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ticket key.
    key: String,
    /// Print JSON: `{"ticket": {...} | null, "ticket_error": .., "sessions": [...]}`.
    #[arg(long)]
    json: bool,
}

#[derive(Serialize)]
struct SessionDetail {
    #[serde(flatten)]
    row: SessionRow,
    last_assistant_message: Option<String>,
    /// What csm told the running Codex of the ticket's changes.
    ticket_changes: Vec<Event>,
    events: Vec<Event>,
    tabs: Vec<Tab>,
}

#[derive(Serialize)]
struct Shown {
    ticket: Option<Ticket>,
    ticket_error: Option<String>,
    /// The sum of the sessions' token usage.
    usage: Option<crate::usage::Usage>,
    sessions: Vec<SessionDetail>,
}

/// Runs `csm show`.
pub fn run(ctx: &Context, args: Args) -> Result<(), CommandError> {
    let key = TicketKey::parse(&args.key)?;
    let store = ctx.store()?;
    let sessions = store.sessions_for_ticket(key.as_str())?;
    let tracker_id = sessions.last().map(|s| s.tracker.clone());
    let tracker = match &tracker_id {
        Some(id) => ctx.tracker_by_id(id)?,
        None => Some(ctx.tracker()?),
    };
    let (ticket, ticket_error) = match tracker.map(|t| t.get(&key)) {
        Some(Ok(t)) => (Some(t), None),
        Some(Err(e)) => (None, Some(CommandError::from(e).message)),
        None => (
            None,
            Some("the ticket's tracker is not configured here".into()),
        ),
    };
    if sessions.is_empty() && ticket.is_none() {
        return Err(CommandError::new(
            ExitKind::NotFound,
            ticket_error.unwrap_or_else(|| format!("no session for {key}")),
        ));
    }
    let mut rows = super::list::rows(ctx, store, &sessions)?;
    super::list::add_usage(ctx, store, &mut rows);
    let usage = crate::usage::total(rows.iter().filter_map(|r| r.usage.as_ref()));
    let mut details = Vec::new();
    for row in rows {
        let events = store.events(row.id, RECENT_EVENTS)?;
        let last_assistant_message = events
            .iter()
            .find_map(|e| match e.parsed() {
                SessionEvent::TurnComplete(t) => t.last_assistant_message,
                _ => None,
            })
            .or_else(|| rollout_message(ctx, row.codex_session_id.as_deref()));
        let tabs = crate::tabs::session_tabs(store, row.id)?;
        let ticket_changes = store.events_of(row.id, crate::event::EventKind::TicketChanged)?;
        details.push(SessionDetail {
            row,
            last_assistant_message,
            ticket_changes,
            events,
            tabs,
        });
    }
    let shown = Shown {
        ticket,
        ticket_error,
        usage,
        sessions: details,
    };
    if args.json {
        let text = crate::output::json(&shown)
            .map_err(|e| CommandError::failure(format!("cannot write JSON: {e}")))?;
        println!("{text}");
        return Ok(());
    }
    print!("{}", render(ctx, &key, &shown));
    Ok(())
}

/// The last message in the session's rollout, when no finished turn was
/// recorded (a session started outside csm and linked).
fn rollout_message(ctx: &Context, codex_id: Option<&str>) -> Option<String> {
    crate::codex::rollout::last_agent_message(&ctx.codex_home().ok()?, codex_id?)
}

fn ago(at: i64, now: i64) -> String {
    match session::age(at, now).as_str() {
        "now" => "just now".to_string(),
        age => format!("{age} ago"),
    }
}

fn render(ctx: &Context, key: &TicketKey, shown: &Shown) -> String {
    let mut out = String::new();
    match &shown.ticket {
        Some(t) => {
            out.push_str(&format!(
                "{}  {}  [{}]\n",
                ctx.output.paint(key.as_str(), "1"),
                sanitize(&t.summary),
                sanitize(&t.status)
            ));
            for (i, ac) in t.acceptance_criteria.iter().enumerate() {
                out.push_str(&format!("  {}. {}\n", i + 1, sanitize(ac)));
            }
        }
        None => out.push_str(&format!(
            "{key}  (ticket unavailable: {})\n",
            sanitize(shown.ticket_error.as_deref().unwrap_or("unknown"))
        )),
    }
    if shown.sessions.is_empty() {
        out.push_str("\nNo sessions. Start one with `csm start ");
        out.push_str(key.as_str());
        out.push_str("`.\n");
    }
    let now = now_ms();
    let home = ctx.home();
    for d in &shown.sessions {
        let r = &d.row;
        out.push_str(&format!("\nsession {} ({})\n", r.id, r.status.as_str()));
        out.push_str(&format!(
            "  codex session: {}\n",
            r.codex_session_id.as_deref().unwrap_or("(not yet known)")
        ));
        out.push_str(&format!(
            "  folder:        {}\n",
            session::short_folder(&r.folder, home.as_deref())
        ));
        if let Some(b) = &r.branch {
            out.push_str(&format!("  branch:        {b}\n"));
        }
        if let Some(pr) = &r.pull_request {
            out.push_str(&format!("  pull request:  {}\n", sanitize(pr)));
        }
        let settings = session::settings_summary(&r.settings);
        out.push_str(&format!(
            "  settings:      {}\n",
            if settings.is_empty() {
                "defaults"
            } else {
                &settings
            }
        ));
        out.push_str(&format!(
            "  started:       {}, active {}\n",
            ago(r.created_at, now),
            ago(r.last_activity_at.unwrap_or(r.created_at), now)
        ));
        if let Some(m) = &d.last_assistant_message {
            out.push_str("  last message:\n");
            for line in sanitize(m).lines().take(12) {
                out.push_str(&format!("    {line}\n"));
            }
        }
        if let Some(u) = &r.usage {
            out.push_str(&format!("  usage:         {}\n", u.summary_line()));
        }
        if !d.ticket_changes.is_empty() {
            out.push_str("  ticket changes told to Codex:\n");
            for e in &d.ticket_changes {
                let how = match e.data["mode"].as_str() {
                    Some("notify") => "notified only",
                    _ => "queued",
                };
                out.push_str(&format!(
                    "    {:>4}  {how}: {}\n",
                    session::age(e.at, now),
                    sanitize(e.data["summary"].as_str().unwrap_or("?"))
                ));
            }
        }
        if !d.tabs.is_empty() {
            out.push_str("  tabs:\n");
            for t in &d.tabs {
                out.push_str(&format!(
                    "    {:>4}  {}  {}: {}\n",
                    t.id,
                    sanitize(&t.request.name),
                    sanitize(&crate::tabs::describe(t)),
                    sanitize(&t.command_line())
                ));
            }
        }
        if !d.events.is_empty() {
            out.push_str("  recent events:\n");
            for e in &d.events {
                out.push_str(&format!(
                    "    {:>4}  {}\n",
                    session::age(e.at, now),
                    sanitize(&e.kind)
                ));
            }
        }
    }
    out
}
