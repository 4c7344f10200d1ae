//! Tabs: commands Codex asks csm to run beside it (a dev server, a
//! watcher, a long test run) rather than inside its own turn.
//!
//! A session with `tabs=on` or `tabs=auto` gets csm's MCP server (`csm mcp`,
//! see [`tools`]). Each request is recorded, decided by [`policy`] (run now,
//! ask the user, or refuse), and run by a [`backend`] (a tmux window, or a
//! background process writing to a file) under csm's [`supervisor`], which
//! records the exit. Everything is a session event ([`record`]); this module
//! holds the steps that read and write them.

pub mod backend;
pub mod log;
pub mod policy;
pub mod record;
pub mod supervisor;
pub mod tmux;
pub mod tools;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::codex::Settings;
use crate::config::TabsSection;
use crate::event::EventKind;
use crate::store::{Session, Store, StoreError};

use backend::{BackendError, Choice, Launch, Placement, Surroundings};
use policy::Decision;
use record::{Request, State, Tab};

/// The MCP server's name in Codex: its tools reach the model in the
/// `mcp__csm` namespace.
pub const SERVER_NAME: &str = "csm";
/// The longest `read_tab` waits for text to appear.
pub const READ_WAIT_MAX_SECS: u64 = 30;
/// How long a stop waits after each signal for the command to end.
pub const STOP_GRACE: Duration = Duration::from_secs(3);
/// How often a waiting step looks at the store.
const POLL: Duration = Duration::from_millis(200);

/// How long Codex should wait for one tool call: the longest wait of any
/// tool, and some margin.
pub fn tool_timeout_secs(approval_wait_secs: u64) -> u64 {
    approval_wait_secs.max(READ_WAIT_MAX_SECS) + 3 * STOP_GRACE.as_secs() + 30
}

/// What starting tabs needs from the process that starts them.
#[derive(Clone, Debug)]
pub struct Environment {
    /// The csm program (the supervisor).
    pub csm_exe: PathBuf,
    /// The store's file.
    pub store_file: PathBuf,
    /// csm's state folder (log files go under `tabs/`).
    pub state_dir: PathBuf,
    /// Names of further secret variables (`[secrets] env`).
    pub secrets: Vec<String>,
    /// The environment for tabs: this process's, minus secrets.
    pub env: Vec<(OsString, OsString)>,
    /// `[tabs]`.
    pub config: TabsSection,
    /// What decides the placement.
    pub around: Surroundings,
}

impl Environment {
    fn path_var(&self) -> Option<&OsString> {
        self.env.iter().find(|(k, _)| k == "PATH").map(|(_, v)| v)
    }
}

/// Why a tab step failed.
#[derive(Debug, thiserror::Error)]
pub enum TabError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The request itself is malformed (nothing was recorded).
    #[error("{0}")]
    Invalid(String),
    /// No such tab.
    #[error("there is no tab {0}")]
    NotFound(String),
    /// The tab is not waiting for a decision.
    #[error("tab {id} is {state}, not waiting for approval")]
    NotPending {
        /// The tab.
        id: i64,
        /// Its state, in words.
        state: String,
    },
    /// The tab does not run.
    #[error("tab {id} is not running ({state})")]
    NotRunning {
        /// The tab.
        id: i64,
        /// Its state, in words.
        state: String,
    },
    /// Another process decided at the same moment.
    #[error("tab {0} was decided by someone else at the same moment")]
    Raced(i64),
    /// Its output cannot be read.
    #[error(transparent)]
    Backend(#[from] BackendError),
}

/// What Codex asks for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunRequest {
    /// The command, as argv.
    pub argv: Vec<String>,
    /// A name for the tab.
    pub name: Option<String>,
    /// A folder inside the session's folder (absolute or relative to it).
    pub cwd: Option<String>,
}

/// A session's tabs, oldest first.
pub fn session_tabs(store: &Store, session_id: i64) -> Result<Vec<Tab>, StoreError> {
    Ok(record::fold(&store.tab_events(session_id)?))
}

/// A tab by its id, from any session.
pub fn find(store: &Store, id: i64) -> Result<Option<Tab>, StoreError> {
    let Some(event) = store.event(id)? else {
        return Ok(None);
    };
    if !event.is(record::REQUESTED) {
        return Ok(None);
    }
    Ok(session_tabs(store, event.session_id)?
        .into_iter()
        .find(|t| t.id == id))
}

/// A tab of a session by its id or, failing that, its name (the newest
/// tab of that name).
pub fn resolve(store: &Store, session_id: i64, reference: &str) -> Result<Option<Tab>, StoreError> {
    let tabs = session_tabs(store, session_id)?;
    let reference = reference.trim();
    if let Ok(id) = reference.parse::<i64>()
        && let Some(t) = tabs.iter().find(|t| t.id == id)
    {
        return Ok(Some(t.clone()));
    }
    Ok(tabs.into_iter().rev().find(|t| t.request.name == reference))
}

/// Whether a tab said to be running has lost its process (killed without
/// a trace, or the machine restarted).
pub fn lost(tab: &Tab) -> bool {
    tab.state == State::Running
        && tab
            .started
            .as_ref()
            .is_some_and(|s| !crate::session::alive(i64::from(s.pid)))
}

/// The state in words, with a lost process said as such.
pub fn describe(tab: &Tab) -> String {
    if lost(tab) {
        "lost (its process is gone; no exit was recorded)".into()
    } else {
        tab.describe()
    }
}

/// Records a request from Codex, decides it and, when it may run at once,
/// starts it. A refused request is recorded with its reason; only a
/// malformed command is refused without a record ([`TabError::Invalid`]).
pub fn request(
    store: &Store,
    env: &Environment,
    session: &Session,
    req: &RunRequest,
) -> Result<Tab, TabError> {
    policy::check_argv(&req.argv).map_err(TabError::Invalid)?;
    let name = policy::tab_name(req.name.as_deref(), &req.argv);
    let mode = Settings::from_json(&session.settings).tabs_mode();
    let mut refusal = match policy::decide(mode, &[], &req.argv) {
        Decision::Refuse(reason) => Some(reason),
        _ => None,
    };
    let cwd = match policy::resolve_cwd(&session.folder, req.cwd.as_deref()) {
        Ok(cwd) => cwd,
        Err(reason) => {
            refusal.get_or_insert(reason);
            match req.cwd.as_deref() {
                Some(c) if Path::new(c).is_absolute() => PathBuf::from(c),
                Some(c) => session.folder.join(c),
                None => session.folder.clone(),
            }
        }
    };
    if refusal.is_none()
        && let Err(reason) = find_program(&req.argv[0], &cwd, env.path_var())
    {
        refusal = Some(reason);
    }
    let placement = match refusal {
        Some(_) => None,
        None => match place(env, &session.ticket_key) {
            Ok(p) => Some(p),
            Err(reason) => {
                refusal = Some(reason);
                None
            }
        },
    };
    let auto = match (&refusal, policy::decide(mode, &env.config.allow, &req.argv)) {
        (None, Decision::Run(why)) => Some(why),
        _ => None,
    };
    let request = Request {
        argv: req.argv.clone(),
        name,
        cwd,
        auto: auto.clone(),
        placement,
    };
    let data = serde_json::to_value(&request)
        .map_err(|e| TabError::Invalid(format!("cannot record the request: {e}")))?;
    let id = store.add_event(session.id, &record::event(record::REQUESTED, data))?;
    if let Some(reason) = refusal {
        decide(
            store,
            session.id,
            id,
            record::REFUSED,
            json!({"request": id, "reason": reason}),
        )?;
    } else if let Some(why) = auto {
        decide(
            store,
            session.id,
            id,
            record::APPROVED,
            json!({"request": id, "by": why}),
        )?;
        let tab = find(store, id)?.ok_or_else(|| TabError::NotFound(id.to_string()))?;
        return start(store, env, &tab);
    }
    find(store, id)?.ok_or_else(|| TabError::NotFound(id.to_string()))
}

fn decide(
    store: &Store,
    session_id: i64,
    id: i64,
    kind: EventKind,
    data: serde_json::Value,
) -> Result<(), TabError> {
    store
        .add_event_once(
            session_id,
            id,
            record::DECISIONS,
            &record::event(kind, data),
        )?
        .map(|_| ())
        .ok_or(TabError::Raced(id))
}

/// Finds the program of a command as the tab will: on the tab's `PATH`,
/// or, for a path, relative to its folder.
fn find_program(program: &str, cwd: &Path, path: Option<&OsString>) -> Result<PathBuf, String> {
    which::which_in(program, path, cwd).map_err(|_| {
        if program.contains('/') {
            format!(
                "{program} is not an executable file (looked in {})",
                cwd.display()
            )
        } else {
            format!("command not found: {program} (not on the PATH)")
        }
    })
}

/// Where this session's tabs run, from the environment Codex runs in.
fn place(env: &Environment, key: &str) -> Result<Placement, String> {
    match backend::choose(env.config.backend, &env.around, key)? {
        Choice::Log => Ok(Placement::Log),
        Choice::DetachedTmux { socket, session } => Ok(Placement::Tmux {
            socket,
            session,
            detached: true,
        }),
        Choice::CurrentTmux { socket, pane } => {
            let session = tmux::current_session(&socket, pane.as_deref(), &env.env)
                .map_err(|e| format!("cannot find the tmux session csm runs in: {e}"))?;
            Ok(Placement::Tmux {
                socket: Some(socket),
                session,
                detached: false,
            })
        }
    }
}

/// Approves a pending tab and starts it.
pub fn approve(store: &Store, env: &Environment, id: i64, by: &str) -> Result<Tab, TabError> {
    let tab = pending(store, id)?;
    decide(
        store,
        tab.session_id,
        id,
        record::APPROVED,
        json!({"request": id, "by": by}),
    )?;
    let tab = find(store, id)?.ok_or_else(|| TabError::NotFound(id.to_string()))?;
    start(store, env, &tab)
}

/// Denies a pending tab.
pub fn deny(store: &Store, id: i64, by: &str) -> Result<Tab, TabError> {
    let tab = pending(store, id)?;
    decide(
        store,
        tab.session_id,
        id,
        record::DENIED,
        json!({"request": id, "by": by}),
    )?;
    find(store, id)?.ok_or_else(|| TabError::NotFound(id.to_string()))
}

fn pending(store: &Store, id: i64) -> Result<Tab, TabError> {
    let tab = find(store, id)?.ok_or_else(|| TabError::NotFound(id.to_string()))?;
    if tab.state != State::Pending {
        return Err(TabError::NotPending {
            id,
            state: describe(&tab),
        });
    }
    Ok(tab)
}

/// Starts an approved tab where its request placed it; a failure to start
/// is recorded on the tab, not returned.
pub fn start(store: &Store, env: &Environment, tab: &Tab) -> Result<Tab, TabError> {
    let placement = tab.request.placement.clone().unwrap_or(Placement::Log);
    let mut argv: Vec<OsString> = vec![
        env.csm_exe.clone().into_os_string(),
        "tabs".into(),
        "exec".into(),
        "--store".into(),
        env.store_file.clone().into_os_string(),
        "--tab".into(),
        tab.id.to_string().into(),
    ];
    for secret in &env.secrets {
        argv.extend(["--unset".into(), secret.into()]);
    }
    if matches!(placement, Placement::Tmux { .. }) {
        argv.push("--hold".into());
    }
    argv.push("--".into());
    argv.extend(tab.request.argv.iter().map(OsString::from));
    let log_file = env
        .state_dir
        .join("tabs")
        .join(tab.session_id.to_string())
        .join(format!("{}.log", tab.id));
    let launch = Launch {
        name: &tab.request.name,
        cwd: &tab.request.cwd,
        argv: &argv,
        env: &env.env,
        log_file: &log_file,
    };
    match backend_for(&placement).start(&launch) {
        Ok(started) => {
            let mut data = serde_json::to_value(&started).unwrap_or_else(|_| json!({}));
            data["request"] = json!(tab.id);
            store.add_event(tab.session_id, &record::event(record::STARTED, data))?;
        }
        Err(e) => {
            tracing::warn!(tab = tab.id, error = %e, "cannot start a tab");
            store.add_event(
                tab.session_id,
                &record::event(
                    record::FAILED,
                    json!({"request": tab.id, "error": e.to_string()}),
                ),
            )?;
        }
    }
    find(store, tab.id)?.ok_or_else(|| TabError::NotFound(tab.id.to_string()))
}

/// Waits until a tab is decided and, when approved, started (or failed);
/// gives up at `deadline` or when `cancelled` says so, returning the tab as
/// it is then.
pub fn wait_decided(
    store: &Store,
    id: i64,
    deadline: Instant,
    cancelled: &dyn Fn() -> bool,
) -> Result<Tab, TabError> {
    loop {
        let tab = find(store, id)?.ok_or_else(|| TabError::NotFound(id.to_string()))?;
        let settled = !matches!(tab.state, State::Pending | State::Approved);
        if settled || Instant::now() >= deadline || cancelled() {
            return Ok(tab);
        }
        std::thread::sleep(POLL);
    }
}

/// The last `lines` lines of a tab's output; `None` when there is none
/// to read (never started, or its window was closed).
pub fn read(tab: &Tab, lines: usize) -> Result<Option<String>, TabError> {
    let (Some(started), Some(placement)) = (&tab.started, &tab.request.placement) else {
        return Ok(None);
    };
    let text = backend_for(placement).read(started, lines)?;
    Ok(text.map(|t| last_lines(&t, lines)))
}

/// The last `n` lines of `text`, without the blank lines a terminal has
/// below its output.
fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().map(str::trim_end).collect();
    let end = lines
        .iter()
        .rposition(|l| !l.is_empty())
        .map_or(0, |i| i + 1);
    let start = end.saturating_sub(n);
    lines[start..end].join("\n")
}

/// Stops a running tab: Ctrl-C first (SIGINT to its process group), then
/// SIGTERM, then SIGKILL, each after [`STOP_GRACE`]; returns the tab once
/// it ended.
pub fn stop(store: &Store, id: i64, by: &str) -> Result<Tab, TabError> {
    let tab = find(store, id)?.ok_or_else(|| TabError::NotFound(id.to_string()))?;
    let pid = match (&tab.state, &tab.started) {
        (State::Running, Some(s)) if !lost(&tab) => s.pid,
        _ => {
            return Err(TabError::NotRunning {
                id,
                state: describe(&tab),
            });
        }
    };
    store.add_event(
        tab.session_id,
        &record::event(record::STOPPED, json!({"request": id, "by": by})),
    )?;
    let mut killed = false;
    'signals: for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGKILL] {
        signal_group(pid, signal);
        killed = signal == libc::SIGKILL;
        let deadline = Instant::now() + STOP_GRACE;
        loop {
            let now = find(store, id)?.ok_or_else(|| TabError::NotFound(id.to_string()))?;
            if now.state == State::Exited {
                return Ok(now);
            }
            if !crate::session::alive(i64::from(pid)) {
                break 'signals;
            }
            if Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(POLL / 4);
        }
    }
    // The supervisor is gone without recording the end (SIGKILL ends it
    // too): record what is known.
    if find(store, id)?.is_some_and(|t| t.state != State::Exited) {
        let signal = killed.then_some(libc::SIGKILL);
        store.add_event(
            tab.session_id,
            &record::event(
                record::EXITED,
                json!({"request": id, "code": null, "signal": signal}),
            ),
        )?;
    }
    find(store, id)?.ok_or_else(|| TabError::NotFound(id.to_string()))
}

/// The backend for a placement (here, above both: `backend` knows
/// neither `tmux` nor `log`).
fn backend_for(placement: &Placement) -> Box<dyn backend::Backend> {
    match placement {
        Placement::Tmux {
            socket,
            session,
            detached,
        } => Box::new(tmux::Tmux {
            socket: socket.clone(),
            session: session.clone(),
            detached: *detached,
        }),
        Placement::Log => Box::new(log::LogFile),
    }
}

fn signal_group(pid: u32, signal: libc::c_int) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    if pid <= 1 {
        return;
    }
    // SAFETY: sends a signal to the tab's process group (its supervisor
    // leads it); no memory is touched.
    unsafe {
        libc::kill(-pid, signal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewSession;

    struct Fixture {
        _dir: tempfile::TempDir,
        store: Store,
        env: Environment,
        session: Session,
    }

    /// A session in a temporary folder, with the log backend and `sh` as
    /// the "csm" that supervises (it runs the command after `--`).
    fn fixture(tabs: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let folder = std::fs::canonicalize(dir.path()).unwrap().join("app");
        std::fs::create_dir_all(folder.join("web")).unwrap();
        let store_file = dir.path().join("csm.db");
        let store = Store::open(&store_file).unwrap();
        let id = store
            .insert_session(&NewSession {
                ticket_key: "CSM-1".into(),
                tracker: "local:/x".into(),
                folder: folder.clone(),
                settings: json!({"tabs": tabs}),
                ..NewSession::default()
            })
            .unwrap();
        let session = store.session(id).unwrap().unwrap();
        // A stand-in supervisor: skips csm's own arguments and runs the
        // command; the real one is tested end to end.
        let fake = dir.path().join("fake-csm");
        std::fs::write(
            &fake,
            "#!/bin/sh\nwhile [ \"$1\" != \"--\" ]; do shift; done\nshift\nexec \"$@\"\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let env = Environment {
            csm_exe: fake,
            store_file,
            state_dir: dir.path().join("state"),
            secrets: vec![],
            env: vec![("PATH".into(), std::env::var_os("PATH").unwrap())],
            config: TabsSection {
                backend: crate::config::TabsBackend::Log,
                allow: vec!["echo allowed".into()],
                approval_wait_secs: 1,
            },
            around: Surroundings::default(),
        };
        Fixture {
            _dir: dir,
            store,
            env,
            session,
        }
    }

    fn run(f: &Fixture, argv: &[&str], cwd: Option<&str>) -> Tab {
        request(
            &f.store,
            &f.env,
            &f.session,
            &RunRequest {
                argv: argv.iter().map(|s| s.to_string()).collect(),
                name: Some("t".into()),
                cwd: cwd.map(str::to_string),
            },
        )
        .unwrap()
    }

    fn output_of(tab: &Tab, want: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let text = read(tab, 20).unwrap().unwrap_or_default();
            if text.contains(want) || Instant::now() > deadline {
                return text;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn auto_and_allowed_requests_run_at_once_in_their_folder() {
        let f = fixture("auto");
        let tab = run(&f, &["sh", "-c", "pwd; echo ran"], Some("web"));
        assert_eq!(tab.state, State::Running, "{tab:?}");
        assert_eq!(tab.approved_by.as_deref(), Some("tabs=auto"));
        assert_eq!(tab.request.cwd, f.session.folder.join("web"));
        let out = output_of(&tab, "ran");
        assert_eq!(
            out,
            format!("{}\nran", f.session.folder.join("web").display())
        );

        let f = fixture("on");
        let tab = run(&f, &["echo", "allowed", "too"], None);
        assert_eq!(
            tab.approved_by.as_deref(),
            Some("[tabs] allow: echo allowed")
        );
        assert_eq!(output_of(&tab, "too"), "allowed too");
    }

    #[test]
    fn refused_requests_are_recorded_and_never_run() {
        let f = fixture("on");
        let marker = f.session.folder.join("ran");
        let touch = ["touch", marker.to_str().unwrap()];
        for (cwd, want) in [
            (Some(".."), "outside the session's folder"),
            (Some("/"), "outside the session's folder"),
        ] {
            let tab = run(&f, &touch, cwd);
            assert_eq!(tab.state, State::Refused);
            assert!(tab.reason.as_deref().unwrap().contains(want), "{tab:?}");
        }
        let tab = run(&f, &["no-such-program-xyz"], None);
        assert!(
            tab.describe()
                .contains("command not found: no-such-program-xyz"),
            "{tab:?}"
        );

        // Unapproved under tabs=on: pending, then denied; nothing runs.
        let tab = run(&f, &touch, None);
        assert_eq!(tab.state, State::Pending);
        let waited = wait_decided(
            &f.store,
            tab.id,
            Instant::now() + Duration::from_millis(300),
            &|| false,
        )
        .unwrap();
        assert_eq!(waited.state, State::Pending);
        let denied = deny(&f.store, tab.id, "csm tabs deny").unwrap();
        assert_eq!(denied.describe(), "denied: by csm tabs deny");
        assert!(matches!(
            approve(&f.store, &f.env, tab.id, "late"),
            Err(TabError::NotPending { .. })
        ));
        let off = fixture("off");
        let tab = run(&off, &touch, None);
        assert!(tab.describe().contains("tabs are off"), "{tab:?}");
        std::thread::sleep(Duration::from_millis(200));
        assert!(!marker.exists());
        assert!(matches!(
            request(&f.store, &f.env, &f.session, &RunRequest::default()),
            Err(TabError::Invalid(_))
        ));
        let tabs = session_tabs(&f.store, f.session.id).unwrap();
        assert_eq!(
            tabs.len(),
            4,
            "refusals are recorded, malformed requests not"
        );
    }

    #[test]
    fn approval_starts_a_pending_tab_and_stop_ends_it() {
        let f = fixture("on");
        let tab = run(&f, &["sh", "-c", "echo up; sleep 30"], None);
        assert_eq!(tab.state, State::Pending);
        let started = approve(&f.store, &f.env, tab.id, "csm tabs approve").unwrap();
        assert_eq!(started.state, State::Running, "{started:?}");
        assert_eq!(output_of(&started, "up"), "up");
        assert_eq!(
            resolve(&f.store, f.session.id, "t").unwrap().unwrap().id,
            tab.id
        );
        assert_eq!(
            resolve(&f.store, f.session.id, &tab.id.to_string())
                .unwrap()
                .unwrap()
                .id,
            tab.id
        );
        assert!(resolve(&f.store, f.session.id, "nope").unwrap().is_none());
        // The stand-in supervisor records no exit: the stop records it.
        let stopped = stop(&f.store, tab.id, "codex").unwrap();
        assert_eq!(stopped.state, State::Exited);
        assert!(stopped.stop_requested);
        assert!(matches!(
            stop(&f.store, tab.id, "codex"),
            Err(TabError::NotRunning { .. })
        ));
    }

    #[test]
    fn terminal_text_is_trimmed_to_its_last_lines() {
        assert_eq!(last_lines("a\nb\nc  \n\n\n", 2), "b\nc");
        assert_eq!(last_lines("\n\n", 5), "");
        assert!(tool_timeout_secs(60) > 60);
    }
}
