//! The real pinned Codex, offline against the mock model: `exec` a prompt,
//! find its session id, resume it, and check the history reached the model.

use std::collections::HashSet;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime};

use crate::support::env::TestEnv;
use crate::support::mock_model::{MockModel, codex_bin};

/// Runs `codex exec` with the hermetic environment of `env`.
fn codex(env: &TestEnv, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(codex_bin());
    cmd.args(args)
        .current_dir(env.work())
        .env_clear()
        .envs(env.env_vars())
        .envs(MockModel::hermetic_env())
        .stdin(Stdio::null());
    cmd.output().expect("run codex")
}

fn thread_id(jsonl: &str) -> String {
    jsonl
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["type"] == "thread.started")
        .and_then(|v| v["thread_id"].as_str().map(str::to_string))
        .unwrap_or_else(|| panic!("no thread.started in {jsonl}"))
}

#[test]
fn exec_then_resume_carries_the_history() {
    let env = TestEnv::new();
    let model = MockModel::start();
    model.write_codex_config(&env.codex_home(), "");
    model.push_text("First answer: the plan is ready.");
    model.push_text("Second answer.");

    let before = SystemTime::now();
    let out = codex(
        &env,
        &[
            "exec",
            "--json",
            "--skip-git-repo-check",
            "Plan ticket CSM-1",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = thread_id(&stdout);
    assert!(
        stdout.contains("First answer: the plan is ready."),
        "{stdout}"
    );

    // The rollout scan finds the same id, on its own.
    let found =
        csm::codex::rollout::scan_new(&env.codex_home(), before, env.work(), &HashSet::new());
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].meta.id, id);
    assert!(csm::codex::rollout::find(&env.codex_home(), &id).is_some());

    let out = codex(
        &env,
        &[
            "exec",
            "--json",
            "--skip-git-repo-check",
            "resume",
            &id,
            "Carry on",
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        thread_id(&stdout),
        id,
        "resume must continue the same thread"
    );

    let turns = model.wait_for_turns(2, Duration::from_secs(5));
    let second = &turns[1];
    let user = second.texts("user").join("\n");
    assert!(user.contains("Plan ticket CSM-1"), "{user}");
    assert!(user.contains("Carry on"), "{user}");
    let assistant = second.texts("assistant").join("\n");
    assert!(
        assistant.contains("First answer: the plan is ready."),
        "{assistant}"
    );
    assert_eq!(
        second.headers.get("session-id").map(String::as_str),
        Some(id.as_str())
    );
}
