//! `csm list`: one line per session, with its ticket's summary and status
//! from one batched, briefly cached tracker search.

use crate::command_error::CommandError;
use crate::context::Context;
use crate::output::sanitize;
use crate::session::{self, Freshness, SessionRow, TICKET_CACHE_TTL};
use crate::store::{Session, now_ms};

/// Arguments of `csm list`.
#[derive(Debug, Default, clap::Args)]
pub struct Args {
    /// Include sessions whose ticket is done.
    #[arg(short, long)]
    all: bool,
    /// Print a JSON array of sessions (see README.md for the schema).
    #[arg(long)]
    json: bool,
}

/// Runs `csm list`.
pub fn run(ctx: &Context, args: Args) -> Result<(), CommandError> {
    let store = ctx.store()?;
    let sessions = store.list_sessions(args.all)?;
    let mut rows = rows(ctx, store, &sessions)?;
    if args.json {
        add_usage(ctx, store, &mut rows);
        let text = crate::output::json(&rows)
            .map_err(|e| CommandError::failure(format!("cannot write JSON: {e}")))?;
        println!("{text}");
        return Ok(());
    }
    if rows.is_empty() {
        ctx.output
            .info("No sessions yet. Start one with `csm start KEY`.");
        return Ok(());
    }
    print!("{}", table(ctx, &rows, now_ms()));
    if rows.iter().any(|r| r.ticket_offline) {
        ctx.output
            .warn("ticket details marked * are the last known: the tracker was unreachable or its answer missed them");
    }
    Ok(())
}

/// Joins sessions with their tickets: one search per tracker at most.
pub fn rows(
    ctx: &Context,
    store: &crate::store::Store,
    sessions: &[Session],
) -> Result<Vec<SessionRow>, CommandError> {
    let mut infos = session::Infos::new();
    for (tracker_id, keys) in session::keys_by_tracker(sessions) {
        let Some(tracker) = ctx.tracker_by_id(&tracker_id).ok().flatten() else {
            continue;
        };
        let (found, freshness) =
            session::ticket_infos(store, tracker.as_ref(), &keys, TICKET_CACHE_TTL, now_ms())?;
        if let Freshness::Offline(reason) = &freshness {
            tracing::info!(tracker = tracker_id, %reason, "using cached ticket details");
        }
        session::merge_infos(&mut infos, &tracker_id, found, &freshness);
    }
    let mut rows = session::join(sessions, &infos);
    session::attach_notes(&mut rows, &store.outbox_note_states()?);
    for r in &mut rows {
        r.pull_request = session::pull_request(store, r.id)?;
    }
    Ok(rows)
}

/// Fills in each row's token usage (cached; see `usage::of_threads`).
pub fn add_usage(ctx: &Context, store: &crate::store::Store, rows: &mut [SessionRow]) {
    let Ok(codex_home) = ctx.codex_home() else {
        return;
    };
    let ids: Vec<&str> = rows
        .iter()
        .filter_map(|r| r.codex_session_id.as_deref())
        .collect();
    let usage = crate::usage::of_threads(store, &codex_home, &ids);
    for r in rows {
        r.usage = r
            .codex_session_id
            .as_deref()
            .and_then(|id| usage.get(id))
            .copied();
    }
}

fn table(ctx: &Context, rows: &[SessionRow], now: i64) -> String {
    let home = ctx.home();
    let cells: Vec<[String; 8]> = rows
        .iter()
        .map(|r| {
            let mark = if r.ticket_offline { "*" } else { "" };
            let mut summary = sanitize(r.summary.as_deref().unwrap_or("?"));
            if summary.chars().count() > 40 {
                summary = summary.chars().take(39).collect::<String>() + "…";
            }
            [
                r.key.clone(),
                format!("{summary}{mark}"),
                format!(
                    "{}{mark}",
                    sanitize(r.ticket_status.as_deref().unwrap_or("?"))
                ),
                r.status_label().to_string(),
                session::age(r.last_activity_at.unwrap_or(r.created_at), now),
                branch(r.branch.as_deref()),
                session::short_folder(&r.folder, home.as_deref()),
                session::settings_summary(&r.settings),
            ]
        })
        .collect();
    ctx.output.table(
        [
            "KEY", "SUMMARY", "TICKET", "SESSION", "ACTIVE", "BRANCH", "FOLDER", "SETTINGS",
        ],
        &cells,
    )
}

/// A branch for the table: `-` when unknown, long ones shortened.
fn branch(name: Option<&str>) -> String {
    const WIDEST: usize = 32;
    match name {
        None => "-".into(),
        Some(b) if b.chars().count() > WIDEST => {
            sanitize(b).chars().take(WIDEST - 1).collect::<String>() + "…"
        }
        Some(b) => sanitize(b),
    }
}
