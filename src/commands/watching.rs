//! Starting the ticket watcher of a session csm launches (`start`,
//! `resume`, the dashboard's Enter): `[workflow] live` and `watch_secs`
//! decide whether and how often; see `crate::watch`.

use std::time::Duration;

use crate::codex::CodexCommand;
use crate::config::LiveMode;
use crate::context::Context;
use crate::tracker::TicketKey;
use crate::watch::{Setup, Watcher};

/// A watcher for the session, or `None` when watching is off or the
/// ticket's tracker cannot be opened here. Keep it while Codex runs.
pub fn start(
    ctx: &Context,
    session_id: i64,
    key: &TicketKey,
    tracker_id: &str,
    launch: &CodexCommand,
) -> Option<Watcher> {
    let config = ctx.config().ok()?.config.clone();
    let workflow = &config.workflow;
    if workflow.live == LiveMode::Off || workflow.watch_secs == 0 {
        return None;
    }
    let tracker = match ctx.tracker_by_id(tracker_id) {
        Ok(Some(t)) => t,
        _ => {
            tracing::info!(%key, "the ticket's tracker is not configured here; not watching it");
            return None;
        }
    };
    let notify = config.notify.clone();
    let name = key.to_string();
    Some(Watcher::spawn(Setup {
        store_path: ctx.dirs.store_file(),
        session_id,
        key: key.clone(),
        tracker,
        mode: workflow.live,
        every: Duration::from_secs(workflow.watch_secs),
        launch: launch.clone(),
        codex_home: ctx.codex_home().ok()?,
        templates: ctx.template_dirs(&launch.cwd),
        notify: Box::new(move |line| super::hook::announce_to(&notify, &name, Some(line))),
    }))
}
