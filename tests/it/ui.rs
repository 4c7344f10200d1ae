//! `csm ui` end to end: the dashboard in a real terminal (tmux) over a real
//! store, with the fake Jira, and the real pinned Codex on the mock model
//! for what Enter and `s` run.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use csm::store::{NewSession, SessionStatus, Store};

use crate::support::env::{TestEnv, write_script};
use crate::support::fake_jira::{FakeJira, Fault, Mode, TOKEN};
use crate::support::mock_model::{MockModel, codex_bin};
use crate::support::tmux::Tmux;

const CODEX_START: Duration = Duration::from_secs(30);

/// Runs csm in `dir` in the terminal, then prints its exit code.
fn csm_line(tmux: &Tmux, dir: &Path, args: &str) {
    tmux.line(&format!(
        "cd '{}' && '{}' {args}; printf 'CSM-%s %s\\n' EXITED $?",
        dir.display(),
        env!("CARGO_BIN_EXE_csm")
    ));
}

/// The terminal is as the shell left it: main screen, cooked mode with
/// echo, cursor visible.
fn assert_restored(tmux: &Tmux) {
    assert!(!tmux.alternate_on(), "still on the alternate screen");
    let out = Command::new("stty")
        .args(["-F", &tmux.pane_tty(), "-a"])
        .output()
        .expect("run stty");
    let modes = String::from_utf8_lossy(&out.stdout);
    for mode in ["icanon", "echo", "isig", "icrnl", "opost"] {
        assert!(
            modes.split_whitespace().any(|m| m == mode),
            "{mode} is off:\n{modes}"
        );
    }
    // The shell answers and its output is where a person would look.
    tmux.line("echo terminal-ok");
    tmux.wait_for_text("terminal-ok\n$");
}

fn jira_env(fake: &FakeJira) -> TestEnv {
    let mut env = TestEnv::new();
    env.set_env("CSM_JIRA_TOKEN", TOKEN);
    env.set_env("TERM", "xterm-256color");
    env.write_user_config(&config(fake, ""));
    env
}

/// The `[jira]` config for the fake, with a timeout well over the delays
/// the tests inject, and `extra` sections.
fn config(fake: &FakeJira, extra: &str) -> String {
    fake.csm_config("PROJ")
        .replace("timeout_secs = 5", "timeout_secs = 20")
        + extra
}

#[test]
fn bare_csm_off_a_terminal_lists_and_ui_needs_a_terminal() {
    let env = TestEnv::new();
    let run = env.run(&[]).ok();
    assert!(run.stdout.is_empty());
    assert!(run.stderr.contains("No sessions yet"), "{}", run.stderr);
    let run = env.run(&["ui"]).fails_with(2);
    assert!(
        run.stderr.contains("error: csm ui needs a terminal"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("hint: `csm list`"), "{}", run.stderr);
}

#[test]
fn a_slow_tracker_does_not_delay_the_first_frame_and_the_screen_updates_itself() {
    let fake = FakeJira::start(Mode::Cloud);
    fake.add_issue("PROJ-1", "Export sessions as CSV", "", &["one row each"]);
    fake.add_issue("PROJ-2", "Retry on HTTP 429", "", &["it retries"]);
    let env = jira_env(&fake);
    let tracker = format!("jira:{}", fake.url());
    let store = Store::open(&env.store_file()).unwrap();
    let mut ids = Vec::new();
    for key in ["PROJ-1", "PROJ-2"] {
        ids.push(
            store
                .insert_session(&NewSession {
                    ticket_key: key.into(),
                    tracker: tracker.clone(),
                    folder: env.work().to_path_buf(),
                    settings: serde_json::json!({}),
                    ..NewSession::default()
                })
                .unwrap(),
        );
    }
    store.set_status(ids[0], SessionStatus::Idle).unwrap();
    store.set_status(ids[1], SessionStatus::Idle).unwrap();
    // The tracker's first answer takes 5 s.
    fake.fail_next(None, Fault::Delay(Duration::from_secs(5)));
    let tmux = env.terminal(120, 40);

    let started = Instant::now();
    csm_line(&tmux, env.work(), "ui");
    let first = tmux.wait_for_within("the first frame", Duration::from_secs(3), |s| {
        s.contains("PROJ-1") && s.contains("PROJ-2") && s.contains("Idle (2)")
    });
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "the first frame took {:?}",
        started.elapsed()
    );
    assert!(!first.contains("Export sessions as CSV"), "{first}");

    // A session's status changes in the store (a turn ended): the screen
    // follows without a key press.
    store.set_status(ids[1], SessionStatus::Waiting).unwrap();
    tmux.wait_for_within("the new status", Duration::from_secs(3), |s| {
        s.contains("Waiting for input (1)")
    });

    // The statuses arrive when the slow tracker answers, from one batched
    // search.
    let screen = tmux.wait_for_within("the ticket summaries", Duration::from_secs(15), |s| {
        s.contains("Export sessions as CSV") && s.contains("Retry on HTTP 429")
    });
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "the tracker was not slow: {:?}",
        started.elapsed()
    );
    assert!(screen.contains("To Do"), "{screen}");
    let searches = || {
        fake.requests()
            .iter()
            .filter(|r| r.uri.contains("/search"))
            .count()
    };
    assert_eq!(searches(), 1, "{:?}", fake.requests());

    // r asks again at once.
    tmux.type_text("r");
    let deadline = Instant::now() + Duration::from_secs(10);
    while searches() < 2 {
        assert!(Instant::now() < deadline, "r did not search");
        std::thread::sleep(Duration::from_millis(50));
    }

    tmux.type_text("q");
    tmux.wait_for_text("CSM-EXITED 0");
    assert_restored(&tmux);
}

#[test]
fn a_signal_ends_the_dashboard_with_the_terminal_restored() {
    let env = TestEnv::new();
    let mut env = env;
    env.set_env("TERM", "xterm-256color");
    env.run(&["ticket", "new", "A ticket", "--ac", "works"])
        .ok();
    let store = Store::open(&env.store_file()).unwrap();
    store
        .insert_session(&NewSession {
            ticket_key: "CSM-1".into(),
            tracker: format!(
                "local:{}",
                std::fs::canonicalize(env.work()).unwrap().display()
            ),
            folder: env.work().to_path_buf(),
            settings: serde_json::json!({}),
            ..NewSession::default()
        })
        .unwrap();
    let tmux = env.terminal(120, 40);
    let pid_file = tmux.dir().join("pid");
    tmux.line(&format!(
        "cd '{}' && sh -c 'echo $$ > {}; exec \"$0\" ui' '{}'; printf 'CSM-%s %s\\n' EXITED $?",
        env.work().display(),
        pid_file.display(),
        env!("CARGO_BIN_EXE_csm")
    ));
    tmux.wait_for_text("A ticket");
    assert!(tmux.alternate_on());
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let status = Command::new("kill")
        .args(["-TERM", pid.trim()])
        .status()
        .unwrap();
    assert!(status.success());
    let screen = tmux.wait_for_text("CSM-EXITED 143");
    assert!(screen.contains("stopped by signal 15"), "{screen}");
    assert_restored(&tmux);
}

/// Quits Codex's UI the way a user does.
fn quit_codex(tmux: &Tmux) {
    tmux.type_text("/quit");
    std::thread::sleep(Duration::from_millis(300));
    tmux.press("Enter");
}

#[test]
fn start_settings_open_and_resume_from_the_dashboard_with_real_codex() {
    let fake = FakeJira::start(Mode::Cloud);
    fake.add_issue(
        "PROJ-1",
        "Export sessions as CSV",
        "Users want a spreadsheet.",
        &["csm list --csv prints CSV", "one row per session"],
    );
    let mut env = jira_env(&fake);
    let model = MockModel::start();
    model.write_codex_config(&env.codex_home(), "");
    env.set_env("CSM_CODEX_BIN", codex_bin());
    for (k, v) in MockModel::hermetic_env() {
        env.set_env(k, v);
    }
    env.write_user_config(&config(&fake, "[codex]\nargs = [\"--no-daemon\"]\n"));
    let opened = env.root().join("opened");
    let browser = env.root().join("bin/browser");
    write_script(
        &browser,
        &format!("printf '%s' \"$1\" > '{}'", opened.display()),
    );
    env.set_env("BROWSER", &browser);
    let tmux = env.terminal(120, 40);

    // Bare csm on a terminal is the dashboard.
    csm_line(&tmux, env.work(), "");
    tmux.wait_for_text("No sessions yet");

    // s starts a ticket by key: Codex takes the terminal.
    model.push_text("Plan: add a --csv flag.");
    tmux.type_text("sproj-1");
    tmux.press("Enter");
    let turns = model.wait_for_turns(1, CODEX_START);
    assert!(
        turns[0]
            .texts("user")
            .join("\n")
            .contains("1. csm list --csv prints CSV")
    );
    tmux.wait_for_within("Codex's answer", CODEX_START, |s| {
        s.contains("Plan: add a --csv flag")
    });
    assert_eq!(fake.issue("PROJ-1").unwrap().status, "In Progress");

    // Quitting Codex comes back to the dashboard, refreshed.
    quit_codex(&tmux);
    tmux.wait_for_within("the dashboard again", CODEX_START, |s| {
        s.contains(" csm ") && s.contains("Idle (1)") && s.contains("PROJ-1")
    });
    let store = Store::open(&env.store_file()).unwrap();
    let session = store.sessions_for_ticket("PROJ-1").unwrap().remove(0);
    let id = session.codex_session_id.clone().expect("id captured");
    tmux.wait_for_within("the ticket's status", Duration::from_secs(15), |s| {
        s.contains("In Progress")
    });
    // On one line, or wrapped right after "resume" (a longer Codex path,
    // as under scripts/codex-compat, moves the break).
    tmux.wait_for_within("the resume command", Duration::from_secs(5), |s| {
        let lines: Vec<&str> = s.lines().collect();
        s.contains(&format!("resume {id}"))
            || lines.windows(2).any(|w| {
                w[0].trim_end_matches(['│', ' ']).ends_with(" resume") && w[1].contains(&id)
            })
    });

    // o opens the ticket's page.
    tmux.type_text("o");
    let deadline = Instant::now() + Duration::from_secs(5);
    while !opened.exists() {
        assert!(Instant::now() < deadline, "the browser never ran");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(
        std::fs::read_to_string(&opened).unwrap(),
        format!("{}/browse/PROJ-1", fake.url())
    );

    // n: effort default → none → minimal → low, saved for the next resume.
    tmux.type_text("njlll");
    tmux.wait_for_text("effort: default none minimal [low]");
    tmux.press("Enter");
    tmux.wait_for_text("effort=low (applies from the next resume)");
    assert_eq!(
        store.session(session.id).unwrap().unwrap().settings,
        serde_json::json!({"effort": "low"})
    );

    // The ticket gains a criterion; Enter resumes the same conversation,
    // with the news and the new settings.
    fake.edit("PROJ-1", |i| {
        i.ac = csm::tracker::jira::adf::from_markdown(
            "- csm list --csv prints CSV\n- one row per session\n- a header row names the columns",
        );
    });
    model.push_text("Adding the header row.");
    tmux.press("Enter");
    let turns = model.wait_for_turns(2, CODEX_START);
    assert_eq!(turns[1].headers.get("thread-id"), Some(&id));
    let user = turns[1].texts("user").join("\n");
    assert!(user.contains("Export sessions as CSV"), "history: {user}");
    assert!(user.contains("a header row names the columns"), "{user}");
    assert!(
        turns[1]
            .texts("assistant")
            .join("\n")
            .contains("Plan: add a --csv flag")
    );
    assert_eq!(turns[1].body["reasoning"]["effort"], "low");
    tmux.wait_for_within("the second answer", CODEX_START, |s| {
        s.contains("Adding the header row")
    });
    quit_codex(&tmux);
    tmux.wait_for_within("the dashboard with the last message", CODEX_START, |s| {
        s.contains("Idle (1)") && s.contains("Last message") && s.contains("Adding the header row")
    });

    tmux.type_text("q");
    tmux.wait_for_text("CSM-EXITED 0");
    assert_restored(&tmux);
    assert_eq!(store.sessions_for_ticket("PROJ-1").unwrap().len(), 1);
}
