//! `csm start` and `csm resume` end to end: the real pinned Codex in csm's
//! passthrough terminal (tmux is the user's terminal), the mock model, and
//! the local tracker.

use std::path::Path;
use std::time::{Duration, Instant};

use csm::store::Store;

use crate::support::env::TestEnv;
use crate::support::mock_model::{MockModel, codex_bin};
use crate::support::tmux::Tmux;

pub(crate) const CODEX_START: Duration = Duration::from_secs(30);

/// A project folder with a local ticket, Codex pointed at the mock, and a
/// tmux terminal whose shell has the test environment.
fn setup() -> (TestEnv, MockModel, Tmux) {
    let mut env = TestEnv::new();
    let model = MockModel::start();
    model.serve_real_codex(&mut env, "");
    // The flag is the user's: a repository file may not add Codex flags.
    env.write_user_config("[codex]\nargs = [\"--no-daemon\"]\n");
    std::fs::write(env.work().join(".csm.toml"), "").unwrap();
    env.run(&[
        "ticket",
        "new",
        "Add a --json flag to list",
        "--ac",
        "csm list --json prints a JSON array",
        "--ac",
        "each element has key and status",
    ])
    .ok();
    let tmux = env.terminal(120, 40);
    (env, model, tmux)
}

pub(crate) fn csm_line(tmux: &Tmux, dir: &Path, args: &str) {
    tmux.line(&format!(
        "cd '{}' && '{}' {args}; printf 'CSM-%s %s\\n' EXITED $?",
        dir.display(),
        env!("CARGO_BIN_EXE_csm")
    ));
}

/// Quits Codex's UI the way a user does. On a loaded machine Codex may
/// take the Enter as part of a paste and leave "/quit" in the composer;
/// a user presses Enter again, and so does this.
pub(crate) fn quit_codex(tmux: &Tmux) {
    tmux.type_text("/quit");
    std::thread::sleep(Duration::from_millis(300));
    tmux.press("Enter");
    let deadline = Instant::now() + CODEX_START;
    let mut last_enter = Instant::now();
    loop {
        let screen = tmux.screen();
        if screen.contains("CSM-EXITED") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for csm to exit; screen:\n{screen}"
        );
        if last_enter.elapsed() > Duration::from_secs(3)
            && screen.lines().any(|l| l.trim() == "› /quit")
        {
            tmux.press("Enter");
            last_enter = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn session_codex_id(env: &TestEnv) -> Option<String> {
    let store = Store::open(&env.store_file()).ok()?;
    store
        .sessions_for_ticket("CSM-1")
        .ok()?
        .last()?
        .codex_session_id
        .clone()
}

#[test]
fn start_then_resume_elsewhere_with_the_ticket_news() {
    let (env, model, tmux) = setup();
    model.push_text("I read the ticket; here is my plan.");
    csm_line(&tmux, env.work(), "start CSM-1");

    // The opening prompt reaches the model with the summary and every
    // criterion.
    let deadline = Instant::now() + CODEX_START;
    while model.turns().is_empty() {
        assert!(
            Instant::now() < deadline,
            "no prompt reached the model:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let turns = model.turns();
    let prompt = turns[0].texts("user").join("\n");
    assert!(prompt.contains("Add a --json flag to list"), "{prompt}");
    assert!(
        prompt.contains("1. csm list --json prints a JSON array"),
        "{prompt}"
    );
    assert!(
        prompt.contains("2. each element has key and status"),
        "{prompt}"
    );

    // The session id is in the store while Codex still runs.
    let deadline = Instant::now() + CODEX_START;
    let id = loop {
        if let Some(id) = session_codex_id(&env) {
            break id;
        }
        assert!(
            Instant::now() < deadline,
            "id never captured:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(!tmux.screen().contains("CSM-EXITED"), "{}", tmux.screen());
    assert_eq!(turns[0].headers.get("session-id"), Some(&id));
    tmux.wait_for_within("the answer on screen", CODEX_START, |s| {
        s.contains("here is my plan")
    });

    // Codex's notify hook (csm hook notify) recorded the turn and marked
    // the session as waiting for the user.
    let deadline = Instant::now() + CODEX_START;
    loop {
        let store = Store::open(&env.store_file()).unwrap();
        let s = store.sessions_for_ticket("CSM-1").unwrap().remove(0);
        let events = store.events(s.id, 20).unwrap();
        if let Some(turn) = events.iter().find(|e| e.kind == "turn-complete") {
            assert_eq!(
                turn.data["last_assistant_message"],
                "I read the ticket; here is my plan."
            );
            assert_eq!(s.status, csm::store::SessionStatus::Waiting);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no turn-complete event: {events:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // A narrower terminal: Codex redraws at the new width. A 100-character
    // draft in its composer is wrapped at 70 columns, all of it visible;
    // at the old width it would be cut at the edge.
    tmux.resize(70, 30);
    std::thread::sleep(Duration::from_millis(300));
    tmux.type_text(&"x".repeat(100));
    tmux.wait_for_within("the draft wrapped at 70 columns", CODEX_START, |s| {
        let draft: Vec<&str> = s.lines().filter(|l| l.contains("xxxxxxxxxx")).collect();
        let shown: usize = draft.iter().map(|l| l.matches('x').count()).sum();
        draft.len() >= 2 && shown == 100
    });
    tmux.press_n("BSpace", 100);
    tmux.resize(120, 40);

    // The ticket moved and carries the link.
    let ticket = std::fs::read_to_string(env.work().join(".csm/tickets/CSM-1.md")).unwrap();
    assert!(ticket.contains("status = \"In Progress\""), "{ticket}");
    assert!(ticket.contains(&id), "{ticket}");

    quit_codex(&tmux);
    assert!(tmux.screen().contains("CSM-EXITED 0"), "{}", tmux.screen());
    // The Codex thread carries the ticket's name.
    assert_eq!(
        csm::codex::rollout::thread_name(&env.codex_home(), &id).as_deref(),
        Some("CSM-1: Add a --json flag to list")
    );

    // The ticket gains a criterion; resume from another folder.
    let path = env.work().join(".csm/tickets/CSM-1.md");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "- [ ] each element has key and status\n",
        "- [ ] each element has key and status\n- [ ] errors go to stderr as JSON\n",
    );
    std::fs::write(&path, text).unwrap();
    model.push_text("Noted the new criterion.");
    tmux.line("clear");
    csm_line(&tmux, &env.home(), "resume CSM-1");
    let turns = model.wait_for_turns(2, CODEX_START);
    let second = &turns[1];
    assert_eq!(
        second.headers.get("thread-id"),
        Some(&id),
        "same Codex session: {:?} {}",
        second.headers,
        second.body["prompt_cache_key"]
    );
    let user = second.texts("user").join("\n");
    assert!(
        user.contains("Add a --json flag to list"),
        "history kept: {user}"
    );
    assert!(
        user.contains("errors go to stderr as JSON"),
        "news told: {user}"
    );
    assert!(
        second
            .texts("assistant")
            .join("\n")
            .contains("here is my plan"),
        "{second:?}"
    );
    tmux.wait_for_within("the second answer", CODEX_START, |s| {
        s.contains("Noted the new criterion")
    });
    quit_codex(&tmux);

    // One session, the same id, in the original folder.
    let store = Store::open(&env.store_file()).unwrap();
    let sessions = store.sessions_for_ticket("CSM-1").unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].codex_session_id.as_deref(), Some(id.as_str()));
    assert_eq!(
        sessions[0].folder,
        std::fs::canonicalize(env.work()).unwrap()
    );
}

#[test]
fn two_sessions_started_at_once_in_one_folder_get_their_own_ids() {
    let (env, model, tmux_a) = setup();
    env.run(&[
        "ticket",
        "new",
        "Second ticket",
        "--ac",
        "`csm list` shows CSM-2",
    ])
    .ok();
    let tmux_b = env.terminal(120, 40);
    model.push_text("On it.");
    model.push_text("On it too.");
    csm_line(&tmux_a, env.work(), "start CSM-1");
    csm_line(&tmux_b, env.work(), "start CSM-2");
    model.wait_for_turns(2, CODEX_START);

    let ids = env.captured_codex_ids(&["CSM-1", "CSM-2"], CODEX_START);
    assert_ne!(ids[0], ids[1]);
    for (key, id) in ["CSM-1", "CSM-2"].iter().zip(&ids) {
        let path = csm::codex::rollout::find(&env.codex_home(), id).unwrap();
        assert_eq!(
            csm::codex::rollout::first_user_message_contains(&path, &format!("ticket {key}:")),
            Some(true),
            "{key} got the other session's id"
        );
    }
    quit_codex(&tmux_a);
    quit_codex(&tmux_b);
}

#[test]
fn start_and_resume_against_jira_with_settings() {
    use crate::support::fake_jira::{FakeJira, Mode, TOKEN};
    let fake = FakeJira::start(Mode::Cloud);
    fake.add_issue(
        "PROJ-1",
        "Export sessions as CSV",
        "Users want a spreadsheet.",
        &["csm list --csv prints CSV", "one row per session"],
    );
    let mut env = TestEnv::new();
    let model = MockModel::start();
    model.write_codex_config(&env.codex_home(), "");
    env.set_env("CSM_CODEX_BIN", codex_bin());
    env.set_env("CSM_JIRA_TOKEN", TOKEN);
    for (k, v) in MockModel::hermetic_env() {
        env.set_env(k, v);
    }
    env.set_env("TERM", "xterm-256color");
    env.write_user_config(&format!(
        "{}[codex]\nargs = [\"--no-daemon\"]\n",
        fake.csm_config("PROJ")
    ));
    let tmux = env.terminal(120, 40);

    model.push_text("Plan: add a --csv flag.");
    csm_line(
        &tmux,
        env.work(),
        "start PROJ-1 -s effort=high -s model=gpt-5.5",
    );
    let turns = model.wait_for_turns(1, CODEX_START);
    let prompt = turns[0].texts("user").join("\n");
    for needle in [
        "Export sessions as CSV",
        "1. csm list --csv prints CSV",
        "2. one row per session",
    ] {
        assert!(prompt.contains(needle), "{needle}: {prompt}");
    }
    assert_eq!(
        turns[0].body["reasoning"]["effort"], "high",
        "{}",
        turns[0].body["reasoning"]
    );
    let deadline = Instant::now() + CODEX_START;
    let id = loop {
        if let Some(p) = fake.issue("PROJ-1").unwrap().properties.get("csm.session")
            && let Some(id) = p["codex_session_id"].as_str()
        {
            break id.to_string();
        }
        assert!(
            Instant::now() < deadline,
            "property never set: {:?}",
            fake.issue("PROJ-1")
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(fake.issue("PROJ-1").unwrap().status, "In Progress");
    tmux.wait_for_within("the answer", CODEX_START, |s| {
        s.contains("Plan: add a --csv flag")
    });
    quit_codex(&tmux);

    // The criteria change in Jira; resume from another folder.
    fake.edit("PROJ-1", |i| {
        i.ac = csm::tracker::jira::adf::from_markdown(
            "- csm list --csv prints CSV\n- one row per session\n- a header row names the columns",
        );
    });
    model.push_text("Adding the header row.");
    tmux.line("clear");
    csm_line(&tmux, &env.home(), "resume PROJ-1");
    let turns = model.wait_for_turns(2, CODEX_START);
    assert_eq!(turns[1].headers.get("thread-id"), Some(&id));
    let user = turns[1].texts("user").join("\n");
    assert!(user.contains("a header row names the columns"), "{user}");
    assert_eq!(
        turns[1].body["reasoning"]["effort"], "high",
        "stored settings applied on resume"
    );
    tmux.wait_for_within("the second answer", CODEX_START, |s| {
        s.contains("Adding the header row")
    });
    quit_codex(&tmux);
}
