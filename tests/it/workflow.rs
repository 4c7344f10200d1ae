//! The workflows in process: `workflow::start`, `resume` and `done`, called
//! as `csm start|resume|done` and the dashboard call them, over a
//! `Context` of their own (a TestEnv's folders and environment, nothing
//! from this process), against the fake Jira over HTTP, with a launcher
//! that records the Codex command instead of running Codex in a terminal.
//! `done` asks the real pinned Codex (on the mock model) for its report,
//! on a real Codex session.

use std::path::PathBuf;
use std::sync::Mutex;

use csm::context::Context;
use csm::launch::{Launch, LaunchError, Outcome};
use csm::output::Output;
use csm::paths::Dirs;
use csm::pty::Exit;
use csm::store::{SessionStatus, Store};
use csm::tracker::TicketKey;
use csm::workflow::{self, Launcher};

use crate::support::env::TestEnv;
use crate::support::fake_jira::{FakeJira, Mode, TOKEN};
use crate::support::mock_model::{MockModel, exec_session};

/// What a launch was asked to run.
#[derive(Clone, Debug)]
struct Launched {
    session_id: i64,
    args: Vec<String>,
    cwd: PathBuf,
}

/// Records each launch; a launch that watches for the new session's id
/// "captures" `codex_id`, as the real watcher would, and says so.
struct Recorder {
    codex_id: String,
    launched: Mutex<Vec<Launched>>,
}

impl Launcher for Recorder {
    fn launch(&self, launch: Launch<'_>) -> Result<Outcome, LaunchError> {
        self.launched.lock().unwrap().push(Launched {
            session_id: launch.session_id,
            args: launch
                .command
                .args
                .iter()
                .map(|a| a.to_string_lossy().into_owned())
                .collect(),
            cwd: launch.command.cwd.clone(),
        });
        let mut captured = None;
        if launch.capture_in.is_some() {
            let store = Store::open(launch.store_path)?;
            store.set_codex_session_id(launch.session_id, &self.codex_id)?;
            if let Some(on_captured) = launch.on_captured {
                on_captured(&self.codex_id);
            }
            captured = Some(self.codex_id.clone());
        }
        Ok(Outcome {
            exit: Exit::Code(0),
            captured,
        })
    }
}

/// A context over the TestEnv's folders and environment only.
fn context(env: &TestEnv) -> Context {
    let var = |k: &str| PathBuf::from(&env.env_vars()[k]);
    let dirs = Dirs {
        config: var("XDG_CONFIG_HOME").join("csm"),
        data: var("XDG_DATA_HOME").join("csm"),
        state: var("XDG_STATE_HOME").join("csm"),
    };
    let output = Output {
        quiet: true,
        color_stdout: false,
        color_stderr: false,
        stderr_is_terminal: false,
    };
    Context::isolated(
        output,
        dirs,
        env.work().to_path_buf(),
        env.env_vars().clone(),
    )
}

fn report(statuses: &[&str]) -> String {
    let criteria: Vec<serde_json::Value> = statuses
        .iter()
        .enumerate()
        .map(|(i, s)| {
            serde_json::json!({"number": i + 1, "status": s,
                               "evidence": format!("test case_{} passes", i + 1)})
        })
        .collect();
    serde_json::json!({"summary": "Added `csm list --csv`.", "criteria": criteria}).to_string()
}

#[test]
fn start_resume_and_done_run_in_process_against_the_fake_jira() {
    let fake = FakeJira::start(Mode::Cloud);
    fake.add_issue(
        "PROJ-1",
        "Export sessions as CSV",
        "Users want a spreadsheet.",
        &["csm list --csv prints CSV", "one row per session"],
    );
    let model = MockModel::start();
    let mut env = TestEnv::new();
    env.set_env("CSM_JIRA_TOKEN", TOKEN);
    model.serve_real_codex(&mut env, "");
    env.write_user_config(&fake.csm_config("PROJ"));
    // A real Codex session for the recorder to "capture".
    model.push_text("I will add the CSV export.");
    let codex_id = exec_session(env.env_vars(), env.work(), "Work on PROJ-1");
    let launcher = Recorder {
        codex_id: codex_id.clone(),
        launched: Mutex::new(Vec::new()),
    };
    let ctx = context(&env);
    let key = TicketKey::parse("PROJ-1").unwrap();
    let work = std::fs::canonicalize(env.work()).unwrap();

    // start: the session recorded, the ticket moved and linked, Codex
    // launched in the folder with the ticket's criteria.
    let request = workflow::start::Request::new(key.clone());
    let session_id = match workflow::start::run(&ctx, &request, &launcher).unwrap() {
        workflow::start::Outcome::Ran {
            key: ran_key,
            session_id,
            captured,
            exit,
        } => {
            assert_eq!(ran_key, key);
            assert!(captured);
            assert_eq!(exit, Exit::Code(0));
            session_id
        }
        other => panic!("{other:?}"),
    };
    let launched = launcher.launched.lock().unwrap().clone();
    assert_eq!(launched.len(), 1);
    assert_eq!(launched[0].session_id, session_id);
    assert_eq!(launched[0].cwd, work);
    let prompt = launched[0].args.last().unwrap();
    assert!(prompt.contains("1. csm list --csv prints CSV"), "{prompt}");
    let issue = fake.issue("PROJ-1").unwrap();
    assert_eq!(issue.status, "In Progress");
    assert_eq!(
        issue.properties["csm.session"]["codex_session_id"],
        codex_id.as_str()
    );
    let store = Store::open(&env.store_file()).unwrap();
    let session = store.session(session_id).unwrap().unwrap();
    assert_eq!(session.codex_session_id.as_deref(), Some(codex_id.as_str()));
    assert_eq!(session.tracker, format!("jira:{}", fake.url()));

    // A second start finds the session instead of making another.
    match workflow::start::run(&ctx, &request, &launcher).unwrap() {
        workflow::start::Outcome::HasSession(s) => assert_eq!(s.id, session_id),
        other => panic!("{other:?}"),
    }

    // resume: the same Codex session, told what changed on the ticket.
    fake.edit("PROJ-1", |i| {
        i.ac = csm::tracker::jira::adf::from_markdown(
            "- csm list --csv prints CSV\n- one row per session\n- a header row names the columns",
        );
    });
    let (found, session) = workflow::resume::find(&ctx, &key, None).unwrap();
    assert_eq!((found, session.id), (key.clone(), session_id));
    let ask = csm::codex::thread::Unarchive::Ask;
    match workflow::resume::run(&ctx, &key, &session, false, ask, &launcher).unwrap() {
        workflow::resume::Outcome::Ran(exit) => assert_eq!(exit, Exit::Code(0)),
        other => panic!("{other:?}"),
    }
    let launched = launcher.launched.lock().unwrap().clone();
    assert_eq!(launched.len(), 2);
    let args = &launched[1].args;
    let at = args
        .iter()
        .position(|a| a == "resume")
        .expect("codex resume");
    assert_eq!(args[at + 1], codex_id);
    assert!(
        args.last()
            .unwrap()
            .contains("a header row names the columns"),
        "{args:?}"
    );

    // done: a dry run previews and posts nothing; then the note is posted
    // and the ticket moved.
    model.push_text(&report(&["met", "met", "met"]));
    let mut request = workflow::done::Request::new(key.clone());
    request.dry_run = true;
    match workflow::done::run(&ctx, &request).unwrap() {
        workflow::done::Outcome::Preview { notes, actions } => {
            let note = notes.join("\n");
            assert!(note.contains("Added `csm list --csv`."), "{note}");
            assert!(
                actions.contains(&"would move PROJ-1 to \"Done\"".to_string()),
                "{actions:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(fake.issue("PROJ-1").unwrap().comments.is_empty());
    model.push_text(&report(&["met", "met", "met"]));
    request.dry_run = false;
    match workflow::done::run(&ctx, &request).unwrap() {
        workflow::done::Outcome::Done => {}
        other => panic!("{other:?}"),
    }
    let issue = fake.issue("PROJ-1").unwrap();
    assert_eq!(issue.status, "Done");
    assert_eq!(issue.comments.len(), 1);
    let session = store.session(session_id).unwrap().unwrap();
    assert_eq!(session.status, SessionStatus::Done);
    // The report came from the session itself.
    let turns = model.turns();
    assert_eq!(
        turns.last().unwrap().headers.get("session-id"),
        Some(&codex_id)
    );
}

#[test]
fn a_dry_run_start_changes_nothing_and_an_unready_ticket_is_refused() {
    let fake = FakeJira::start(Mode::Cloud);
    fake.add_issue("PROJ-2", "Fix it", "", &["it works"]);
    fake.add_issue(
        "PROJ-3",
        "Export sessions as CSV",
        "",
        &["csm list --csv prints CSV"],
    );
    let model = MockModel::start();
    let mut env = TestEnv::new();
    env.set_env("CSM_JIRA_TOKEN", TOKEN);
    model.serve_real_codex(&mut env, "");
    env.write_user_config(&fake.csm_config("PROJ"));
    let ctx = context(&env);
    let launcher = Recorder {
        codex_id: String::new(),
        launched: Mutex::new(Vec::new()),
    };

    let unready = workflow::start::Request::new(TicketKey::parse("PROJ-2").unwrap());
    let err = workflow::start::run(&ctx, &unready, &launcher).unwrap_err();
    assert!(
        err.message.contains("PROJ-2 is not ready"),
        "{}",
        err.message
    );

    let mut dry = workflow::start::Request::new(TicketKey::parse("PROJ-3").unwrap());
    dry.dry_run = true;
    match workflow::start::run(&ctx, &dry, &launcher).unwrap() {
        workflow::start::Outcome::DryRun {
            prompt, command, ..
        } => {
            assert!(prompt.contains("csm list --csv prints CSV"), "{prompt}");
            assert!(command.contains("codex"), "{command}");
        }
        other => panic!("{other:?}"),
    }
    assert!(launcher.launched.lock().unwrap().is_empty());
    // (The Jira client caches its field ids in the store; no session.)
    let recorded = match env.store_file().exists() {
        true => Store::open(&env.store_file())
            .unwrap()
            .sessions_for_ticket("PROJ-3")
            .unwrap(),
        false => Vec::new(),
    };
    assert!(recorded.is_empty(), "a dry run records no session");
    assert_eq!(fake.issue("PROJ-3").unwrap().status, "To Do");
}
