//! Crash safety and concurrency of the session records: csm killed with
//! SIGKILL at each step of `start` (the `CSM_CRASH_AT` hook), two `start`s
//! of one ticket at once, and many processes writing the store together.
//! (`done`'s crash points are in `done.rs`.)

use std::process::Stdio;

use csm::store::Store;

use crate::support::env::{TestEnv, write_script};

/// A repository with a local ticket and a stand-in `codex` that answers
/// the version check and otherwise sleeps `secs` (no terminal here, so
/// csm runs it without a PTY).
fn env_with_fake_codex(secs: u32) -> TestEnv {
    let mut env = TestEnv::new();
    let codex = env.root().join("bin/codex");
    write_script(
        &codex,
        &format!(
            "case \"$1\" in --version) echo 'codex-cli 0.169.0';; login) exit 0;; *) sleep {secs};; esac"
        ),
    );
    env.set_env("CSM_CODEX_BIN", &codex);
    env.set_env("OPENAI_API_KEY", "sk-test-not-a-real-key");
    std::fs::write(env.work().join(".csm.toml"), "").unwrap();
    env.run(&["ticket", "new", "Export CSV", "--ac", "prints CSV"])
        .ok();
    env
}

fn sessions(env: &TestEnv) -> Vec<csm::store::Session> {
    Store::open(&env.store_file())
        .unwrap()
        .sessions_for_ticket("CSM-1")
        .unwrap()
}

fn integrity(env: &TestEnv) -> String {
    let conn = rusqlite::Connection::open(env.store_file()).unwrap();
    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn a_start_killed_at_any_step_is_completed_by_the_next_start() {
    for point in ["start:recorded", "start:moved", "start:launching"] {
        let mut env = env_with_fake_codex(0);
        env.set_env("CSM_CRASH_AT", point);
        let run = env.run(&["start", "CSM-1"]);
        assert_eq!(run.code, -1, "{point}: {run:?}");
        assert_eq!(integrity(&env), "ok", "{point}");
        let left = sessions(&env);
        assert_eq!(left.len(), 1, "{point}: the record was made first");

        env.remove_env("CSM_CRASH_AT");
        env.run(&["start", "CSM-1"]).ok();
        let now = sessions(&env);
        assert_eq!(now.len(), 1, "{point}: no duplicate session: {now:?}");
        let run = env.run(&["ticket", "show", "CSM-1", "--json"]).ok();
        assert!(
            run.stdout.contains("In Progress"),
            "{point}: {}",
            run.stdout
        );
    }
}

#[test]
fn two_starts_of_one_ticket_at_once_make_one_session() {
    let env = env_with_fake_codex(3);
    let spawn = || {
        env.command(&["start", "CSM-1"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let outs = [a.wait_with_output().unwrap(), b.wait_with_output().unwrap()];
    let ok = outs.iter().filter(|o| o.status.success()).count();
    assert_eq!(ok, 1, "one start wins: {outs:?}");
    let loser = outs.iter().find(|o| !o.status.success()).unwrap();
    let err = String::from_utf8_lossy(&loser.stderr);
    assert!(err.contains("CSM-1 already has a session"), "{err}");
    assert!(err.contains("csm resume CSM-1"), "{err}");
    assert_eq!(sessions(&env).len(), 1);
}

#[test]
fn many_processes_writing_the_store_at_once_never_see_it_locked() {
    let env = env_with_fake_codex(0);
    env.run(&["start", "CSM-1"]).ok();
    let values = ["low", "medium", "high", "xhigh", "minimal"];
    let children: Vec<_> = (0..10)
        .map(|i| {
            let args: Vec<String> = if i % 2 == 0 {
                vec![
                    "set".into(),
                    "CSM-1".into(),
                    format!("effort={}", values[i % values.len()]),
                ]
            } else {
                let payload = serde_json::json!({
                    "type": "agent-turn-complete", "thread-id": "none",
                    "turn-id": format!("t{i}"), "cwd": "/x",
                    "last-assistant-message": "turn"
                })
                .to_string();
                vec!["hook".into(), "notify".into(), payload]
            };
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            env.command(&args)
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let readers: Vec<_> = (0..4)
        .map(|_| {
            env.command(&["list", "--json"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children.into_iter().chain(readers) {
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        assert!(!err.contains("locked"), "{err}");
    }
    assert_eq!(integrity(&env), "ok");
    assert_eq!(sessions(&env).len(), 1);
}

#[test]
fn a_resume_killed_before_the_launch_keeps_the_link() {
    use crate::support::mock_model::{MockModel, exec_session};
    let mut env = TestEnv::new();
    let model = MockModel::start();
    model.write_codex_config(&env.codex_home(), "");
    for (k, v) in MockModel::hermetic_env() {
        env.set_env(k, v);
    }
    std::fs::write(env.work().join(".csm.toml"), "").unwrap();
    env.run(&["ticket", "new", "Export CSV", "--ac", "prints CSV"])
        .ok();
    model.push_text("Started.");
    let id = exec_session(env.env_vars(), env.work(), "Work on CSM-1");
    env.run(&["link", "CSM-1", &id]).ok();

    // A stand-in Codex records what it was asked to resume.
    let calls = env.root().join("calls.txt");
    let codex = env.root().join("bin/codex");
    write_script(
        &codex,
        &format!(
            "case \"$1\" in --version) echo 'codex-cli 0.169.0';; *) echo \"$@\" >> '{}';; esac",
            calls.display()
        ),
    );
    env.set_env("CSM_CODEX_BIN", &codex);
    env.set_env("CSM_CRASH_AT", "resume:launching");
    let run = env.run(&["resume", "CSM-1"]);
    assert_eq!(run.code, -1, "{run:?}");
    assert_eq!(integrity(&env), "ok");
    let left = sessions(&env);
    assert_eq!(left.len(), 1);
    assert_eq!(
        left[0].codex_session_id.as_deref(),
        Some(id.as_str()),
        "the link is kept"
    );
    assert!(!calls.exists(), "Codex was not started");

    env.remove_env("CSM_CRASH_AT");
    env.run(&["resume", "CSM-1"]).ok();
    let asked = std::fs::read_to_string(&calls).unwrap();
    assert!(asked.starts_with(&format!("resume {id}")), "{asked}");
    assert_eq!(sessions(&env).len(), 1);
}
