//! Watching the ticket of a running session: while Codex runs, a thread of
//! its own reads the ticket every `[workflow] watch_secs` and right after
//! each finished turn (the `turn-complete` event `csm hook notify`
//! records), compares it with what Codex last heard of it (the session's
//! ticket snapshot), and tells Codex what changed with the resume
//! template, through `codex queue` into the session's thread.
//!
//! - A change seen while a turn runs waits for the turn's end, so changes
//!   arriving meanwhile go out as one message.
//! - One watcher per ticket: a lease in the store, renewed at each check.
//! - What was sent is recorded as a `ticket-changed` event, and the
//!   snapshot moves on in the same transaction, so `resume` does not say it
//!   again.
//! - The thread never touches the terminal: a slow or failing tracker only
//!   delays the next check.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::json;

use crate::codex::CodexCommand;
use crate::config::LiveMode;
use crate::prompt::{Template, TemplateDirs, TicketChanges};
use crate::store::Store;
use crate::tracker::{Ticket, TicketKey, Tracker};

/// The event kind recorded when a running session was told (or, with
/// `live = "notify"`, notified) that its ticket changed.
pub const TICKET_CHANGED: &str = "ticket-changed";

/// The event kind `csm hook notify` records at the end of a turn.
const TURN_COMPLETE: &str = "turn-complete";

/// How often the thread wakes to look for a due check.
const TICK: Duration = Duration::from_millis(200);

/// How often it looks for a finished turn in the store.
const TURN_LOOK: Duration = Duration::from_secs(1);

/// How soon it looks again when a change waits for a running turn.
const PENDING_RETRY: Duration = Duration::from_secs(2);

/// How long dropping a [`Watcher`] waits for its thread.
const STOP_WAIT: Duration = Duration::from_millis(200);

/// The most of a rollout's end read to tell whether a turn runs.
const TAIL_BYTES: u64 = 256 * 1024;

/// What a watcher needs, all owned (it runs on its own thread).
pub struct Setup {
    /// The store's file (the thread opens its own connection).
    pub store_path: PathBuf,
    /// csm's id of the session.
    pub session_id: i64,
    /// The ticket.
    pub key: TicketKey,
    /// Its tracker.
    pub tracker: Box<dyn Tracker>,
    /// Queue or only notify.
    pub mode: LiveMode,
    /// How often to read the ticket.
    pub every: Duration,
    /// The session's Codex command (program, folder, environment without
    /// secrets), which `codex queue` reuses.
    pub launch: CodexCommand,
    /// Codex's home, to find the session's rollout.
    pub codex_home: PathBuf,
    /// Where the resume template is looked for.
    pub templates: TemplateDirs,
    /// Called with one line when `mode` is notify (and when a message
    /// could not be queued).
    pub notify: Box<dyn Fn(&str) + Send>,
}

/// A running watcher; dropping it stops the thread (waiting a little for
/// it, never for a slow tracker).
pub struct Watcher {
    /// Dropping it wakes the thread at once.
    stop: Option<Sender<()>>,
    handle: Option<JoinHandle<()>>,
    /// Whether the thread holds the ticket's lease (then stopping waits a
    /// moment for it to give the lease up).
    leased: Arc<AtomicBool>,
}

impl Watcher {
    /// Starts watching.
    pub fn spawn(setup: Setup) -> Watcher {
        let (stop, stopped) = std::sync::mpsc::channel();
        let leased = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&leased);
        let handle = std::thread::Builder::new()
            .name("csm-watch".into())
            .spawn(move || run(setup, &stopped, &flag))
            .ok();
        Watcher {
            stop: Some(stop),
            handle,
            leased,
        }
    }
}

impl Drop for Watcher {
    /// Wakes the thread and waits a moment for it to give the lease up; a
    /// thread busy with a slow tracker is left behind (its lease expires).
    fn drop(&mut self) {
        drop(self.stop.take());
        let Some(handle) = self.handle.take() else {
            return;
        };
        // Nothing to give up: Codex's exit is not held up at all.
        if !self.leased.load(Ordering::Acquire) {
            return;
        }
        let deadline = Instant::now() + STOP_WAIT;
        while !handle.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
        if handle.is_finished() {
            let _ = handle.join();
        }
    }
}

/// What one check did.
#[derive(Debug, PartialEq, Eq)]
enum Checked {
    /// Nothing to tell (or nothing could be learnt).
    Quiet,
    /// A change waits for the running turn to end.
    Pending,
    /// Codex was told (or the user notified).
    Told,
}

struct State {
    owner: String,
    lease: String,
    lease_ms: i64,
    rollout: Option<PathBuf>,
    /// Whether the lease was taken.
    leased: bool,
    /// With `live = "notify"`: the ticket as last notified (the snapshot
    /// stays, so `resume` still tells Codex).
    notified: Option<Ticket>,
}

fn run(setup: Setup, stop: &Receiver<()>, leased: &AtomicBool) {
    // The store is opened at the first look, not before: a Codex that
    // exits at once costs nothing.
    if !matches!(
        stop.recv_timeout(TURN_LOOK.min(setup.every)),
        Err(RecvTimeoutError::Timeout)
    ) {
        return;
    }
    let Ok(store) = Store::open(&setup.store_path) else {
        return;
    };
    let mut state = State {
        owner: format!("{}:{}", std::process::id(), setup.session_id),
        lease: format!("watch:{}:{}", setup.tracker.id(), setup.key),
        lease_ms: i64::try_from(setup.every.as_millis())
            .unwrap_or(i64::MAX / 4)
            .saturating_mul(3)
            .saturating_add(30_000),
        rollout: None,
        leased: false,
        notified: None,
    };
    let latest_turn = |store: &Store| {
        store
            .latest_event(setup.session_id, TURN_COMPLETE)
            .ok()
            .flatten()
            .map(|e| e.id)
    };
    let mut last_turn = latest_turn(&store);
    let mut turn_look = Instant::now();
    let mut next = Instant::now() + setup.every;
    let tick = TICK.min(setup.every);
    while let Err(RecvTimeoutError::Timeout) = stop.recv_timeout(tick) {
        let now = Instant::now();
        let mut due = now >= next;
        if now.duration_since(turn_look) >= TURN_LOOK {
            turn_look = now;
            let turn = latest_turn(&store);
            if turn != last_turn {
                last_turn = turn;
                due = true;
            }
        }
        if !due {
            continue;
        }
        next = now + setup.every;
        let result = check(&setup, &store, &mut state);
        leased.store(state.leased, Ordering::Release);
        match result {
            Ok(Checked::Pending) => next = now + PENDING_RETRY.min(setup.every),
            Ok(_) => {}
            Err(e) => tracing::info!(key = %setup.key, error = %e, "watching the ticket"),
        }
    }
    if state.leased {
        let _ = store.release_lease(&state.lease, &state.owner);
    }
    leased.store(false, Ordering::Release);
}

fn check(setup: &Setup, store: &Store, state: &mut State) -> Result<Checked, String> {
    let session = store
        .session(setup.session_id)
        .map_err(|e| e.to_string())?
        .ok_or("the session is gone")?;
    // Until Codex's id is known there is no thread to tell; the change
    // waits (the snapshot does not move).
    let Some(thread) = session.codex_session_id.clone() else {
        return Ok(Checked::Quiet);
    };
    state.leased = store
        .take_lease(&state.lease, &state.owner, state.lease_ms)
        .map_err(|e| e.to_string())?;
    if !state.leased {
        return Ok(Checked::Quiet);
    }
    let Some(before) = session
        .ticket_snapshot
        .as_ref()
        .and_then(|s| serde_json::from_value::<Ticket>(s.clone()).ok())
    else {
        return Ok(Checked::Quiet);
    };
    let before = match (&setup.mode, &state.notified) {
        (LiveMode::Notify, Some(t)) => t.clone(),
        _ => before,
    };
    let now = setup.tracker.get(&setup.key).map_err(|e| e.to_string())?;
    let comments = if now.comment_count > before.comment_count {
        setup.tracker.comments(&now.key).unwrap_or_default()
    } else {
        Vec::new()
    };
    let changes = TicketChanges::between(&before, &now, &comments);
    if changes.is_empty() {
        return Ok(Checked::Quiet);
    }
    let summary = changes.summary_line();
    match setup.mode {
        LiveMode::Off => Ok(Checked::Quiet),
        LiveMode::Notify => {
            (setup.notify)(&format!("the ticket changed: {summary}"));
            store
                .add_event(
                    setup.session_id,
                    TICKET_CHANGED,
                    &json!({"mode": "notify", "summary": summary}),
                )
                .map_err(|e| e.to_string())?;
            state.notified = Some(now);
            Ok(Checked::Told)
        }
        LiveMode::Queue => {
            if state.rollout.is_none() {
                state.rollout = crate::codex::rollout::find(&setup.codex_home, &thread);
            }
            if state.rollout.as_deref().is_some_and(turn_running) {
                return Ok(Checked::Pending);
            }
            let message = render(&setup.templates, &changes).map_err(|e| e.to_string())?;
            let cmd = crate::codex::queue::command(&setup.launch, &thread, &message);
            crate::codex::queue::run(&cmd).map_err(|e| e.to_string())?;
            let snapshot = serde_json::to_value(&now).map_err(|e| e.to_string())?;
            store
                .add_event_with_snapshot(
                    setup.session_id,
                    TICKET_CHANGED,
                    &json!({"mode": "queue", "summary": summary, "message": message,
                            "thread": thread}),
                    &snapshot,
                )
                .map_err(|e| e.to_string())?;
            Ok(Checked::Told)
        }
    }
}

/// The message for a running session: the resume template, told it is
/// live.
pub fn render(templates: &TemplateDirs, changes: &TicketChanges) -> Result<String, String> {
    #[derive(Serialize)]
    struct Live<'a> {
        #[serde(flatten)]
        changes: &'a TicketChanges,
        live: bool,
    }
    templates
        .render(
            Template::Resume,
            &Live {
                changes,
                live: true,
            },
        )
        .map_err(|e| e.to_string())
}

/// Whether the rollout's end shows a turn that has not finished.
fn turn_running(path: &Path) -> bool {
    let Ok(mut file) = std::fs::File::open(path) else {
        return false;
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let start = len.saturating_sub(TAIL_BYTES);
    if file.seek(SeekFrom::Start(start)).is_err() {
        return false;
    }
    let mut bytes = Vec::new();
    if file.take(TAIL_BYTES).read_to_end(&mut bytes).is_err() {
        return false;
    }
    let text = String::from_utf8_lossy(&bytes);
    crate::codex::usage::turn_running(text.lines())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_live_message_uses_the_resume_template() {
        let mut before = Ticket {
            key: TicketKey::parse("PROJ-1").unwrap(),
            summary: "Export".into(),
            description: String::new(),
            acceptance_criteria: vec!["one".into()],
            status: "In Progress".into(),
            labels: Vec::new(),
            issue_type: None,
            updated: None,
            comment_count: 0,
            url: None,
        };
        let mut now = before.clone();
        now.acceptance_criteria.push("a header row".into());
        now.status = "Done".into();
        let text = render(
            &TemplateDirs::default(),
            &TicketChanges::between(&before, &now, &[]),
        )
        .unwrap();
        assert!(text.contains("While you work on ticket PROJ-1"), "{text}");
        assert!(text.contains("  - a header row"), "{text}");
        assert!(text.contains("to \"Done\""), "{text}");
        before.status = "Done".into();
        let resume = TemplateDirs::default()
            .render(
                Template::Resume,
                &TicketChanges::between(&before, &now, &[]),
            )
            .unwrap();
        assert!(resume.starts_with("We are resuming"), "{resume}");
    }

    #[test]
    fn a_changed_ticket_is_queued_once_and_becomes_the_snapshot() {
        use crate::store::NewSession;
        use crate::tracker::NewTicket;
        use crate::tracker::local::LocalTracker;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        let tracker = LocalTracker::new(root, "CSM".into(), Vec::new()).unwrap();
        let key = tracker
            .create(&NewTicket {
                summary: "Watch me".into(),
                acceptance_criteria: vec!["it works".into()],
                ..NewTicket::default()
            })
            .unwrap();
        let ticket = tracker.get(&key).unwrap();
        let store_path = root.join("csm.db");
        let store = Store::open(&store_path).unwrap();
        let id = store
            .insert_session(&NewSession {
                ticket_key: key.to_string(),
                tracker: tracker.id(),
                folder: root.to_path_buf(),
                ticket_snapshot: serde_json::to_value(&ticket).ok(),
                ..NewSession::default()
            })
            .unwrap();
        store.set_codex_session_id(id, "019a-thread").unwrap();
        // A stand-in for `codex`: records its arguments.
        let codex = root.join("codex.sh");
        let heard = root.join("heard");
        std::fs::write(
            &codex,
            format!("#!/bin/sh\nprintf '%s|' \"$@\" >> '{}'\n", heard.display()),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&codex, std::fs::Permissions::from_mode(0o755)).unwrap();
        let _watch = Watcher::spawn(Setup {
            store_path: store_path.clone(),
            session_id: id,
            key: key.clone(),
            tracker: Box::new(LocalTracker::new(root, "CSM".into(), Vec::new()).unwrap()),
            mode: LiveMode::Queue,
            every: Duration::from_millis(50),
            launch: CodexCommand {
                program: codex,
                args: Vec::new(),
                cwd: root.to_path_buf(),
                env: Vec::new(),
            },
            codex_home: root.join("codex-home"),
            templates: TemplateDirs::default(),
            notify: Box::new(|_| {}),
        });
        std::thread::sleep(Duration::from_millis(300));
        assert!(!heard.exists(), "no change, nothing sent");
        let file = root.join(format!(".csm/tickets/{key}.md"));
        let text = std::fs::read_to_string(&file).unwrap();
        std::fs::write(
            &file,
            text.replace("- [ ] it works\n", "- [ ] it works\n- [ ] it is fast\n"),
        )
        .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !heard.exists() {
            assert!(Instant::now() < deadline, "never queued");
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(300));
        let args = std::fs::read_to_string(&heard).unwrap();
        assert!(
            args.starts_with("queue|--thread=019a-thread|--message=While you work"),
            "{args}"
        );
        assert!(args.contains("  - it is fast"), "{args}");
        assert_eq!(args.matches("queue|").count(), 1, "once: {args}");
        let session = store.session(id).unwrap().unwrap();
        assert_eq!(
            session.ticket_snapshot.unwrap()["acceptance_criteria"][1],
            "it is fast"
        );
        let told = store.latest_event(id, TICKET_CHANGED).unwrap().unwrap();
        assert_eq!(told.data["summary"], "1 new criterion");
    }

    #[test]
    fn a_turn_runs_until_its_end_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        std::fs::write(&path, "{\"payload\":{\"type\":\"task_started\"}}\n").unwrap();
        assert!(turn_running(&path));
        std::fs::write(
            &path,
            "{\"payload\":{\"type\":\"task_started\"}}\n{\"payload\":{\"type\":\"task_complete\"}}\n",
        )
        .unwrap();
        assert!(!turn_running(&path));
        assert!(!turn_running(&dir.path().join("none")));
    }

    #[test]
    fn one_lease_per_ticket() {
        let store = Store::open_in_memory().unwrap();
        assert!(store.take_lease("watch:x:P-1", "1:1", 60_000).unwrap());
        assert!(store.take_lease("watch:x:P-1", "1:1", 60_000).unwrap());
        assert!(!store.take_lease("watch:x:P-1", "2:5", 60_000).unwrap());
        // An expired lease is taken over.
        assert!(store.take_lease("watch:x:P-1", "2:5", -1).unwrap());
        assert!(!store.take_lease("watch:x:P-1", "1:1", 60_000).unwrap());
        store.release_lease("watch:x:P-1", "2:5").unwrap();
        assert!(store.take_lease("watch:x:P-1", "1:1", 60_000).unwrap());
    }
}
