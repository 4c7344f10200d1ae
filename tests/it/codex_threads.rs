//! Codex is the authority on its sessions: a session Codex compressed
//! (`.jsonl.zst`, no `.jsonl`) or archived (`codex archive`) is still
//! csm's to resume, through the real pinned Codex, the mock model and a
//! real terminal (tmux).

use std::path::PathBuf;

use csm::codex::rollout;

use crate::start_resume::{CODEX_START, csm_line, quit_codex};
use crate::support::env::TestEnv;
use crate::support::mock_model::{MockModel, codex_bin, exec_session};
use crate::support::tmux::Tmux;

/// A project with a local ticket CSM-1 and a session made by `codex exec`
/// (the model answered `first`), linked to CSM-1 with `csm link`.
fn linked_exec_session(first: &str) -> (TestEnv, MockModel, String) {
    let mut env = TestEnv::new();
    let model = MockModel::start();
    model.serve_real_codex(&mut env, "");
    std::fs::write(
        env.work().join(".csm.toml"),
        "[codex]\nargs = [\"--no-daemon\"]\n",
    )
    .unwrap();
    env.run(&[
        "ticket",
        "new",
        "Add a --json flag to list",
        "--ac",
        "prints JSON",
    ])
    .ok();
    model.push_text(first);
    let id = exec_session(env.env_vars(), env.work(), "Plan ticket CSM-1");
    env.run(&["link", "CSM-1", &id]).ok();
    (env, model, id)
}

/// Compresses a session's rollout the way Codex's rollout compression
/// does: `rollout-…-<id>.jsonl.zst` beside it, the `.jsonl` removed.
fn compress(env: &TestEnv, id: &str) -> PathBuf {
    let plain = rollout::find(&env.codex_home(), id).expect("the session's rollout");
    assert!(plain.to_string_lossy().ends_with(".jsonl"), "{plain:?}");
    let data = std::fs::read(&plain).unwrap();
    let zst = PathBuf::from(format!("{}.zst", plain.display()));
    std::fs::write(&zst, zstd::encode_all(&data[..], 3).unwrap()).unwrap();
    std::fs::remove_file(&plain).unwrap();
    zst
}

/// Runs the pinned Codex itself (as the user would) with the test's
/// environment.
fn codex(env: &TestEnv, args: &[&str]) {
    let out = std::process::Command::new(codex_bin())
        .args(args)
        .current_dir(env.work())
        .env_clear()
        .envs(env.env_vars())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run codex");
    assert!(
        out.status.success(),
        "codex {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Waits for the model's second turn and checks it continues the exec
/// session: the same thread, with the first turn's history.
fn second_turn_continues(model: &MockModel, id: &str, first: &str) {
    let turns = model.wait_for_turns(2, CODEX_START);
    let second = &turns[1];
    assert_eq!(
        second.headers.get("thread-id"),
        Some(&id.to_string()),
        "same Codex thread: {:?}",
        second.headers
    );
    assert_eq!(second.body["prompt_cache_key"], id);
    let user = second.texts("user").join("\n");
    assert!(user.contains("Plan ticket CSM-1"), "history kept: {user}");
    let assistant = second.texts("assistant").join("\n");
    assert!(assistant.contains(first), "history kept: {assistant}");
}

fn resume_in(tmux: &Tmux, env: &TestEnv, args: &str) {
    tmux.line("clear");
    csm_line(tmux, env.work(), args);
}

/// Waits for the resumed UI to show the session's history, then sends a
/// message as a user types it.
fn say_in_codex(tmux: &Tmux, first: &str, text: &str) {
    tmux.wait_for_within("the resumed history", CODEX_START, |s| {
        s.contains(&first[..20])
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    tmux.type_text(text);
    std::thread::sleep(std::time::Duration::from_millis(300));
    tmux.press("Enter");
}

#[test]
fn a_compressed_session_resumes_with_its_history_and_shows_its_last_message() {
    let first = "First answer: the plan is a --json flag.";
    let (env, model, id) = linked_exec_session(first);
    let zst = compress(&env, &id);

    // `csm show` reads the last message from the compressed rollout.
    let shown = env.run(&["show", "CSM-1"]).ok().stdout;
    assert!(shown.contains(&id), "{shown}");
    assert!(shown.contains(first), "{shown}");
    let json = env.run(&["show", "CSM-1", "--json"]).ok().stdout;
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["sessions"][0]["last_assistant_message"], first);

    // `csm resume` in a real terminal: Codex resumes the same thread.
    let tmux = env.terminal(120, 40);
    model.push_text("Second answer after the compression.");
    resume_in(&tmux, &env, "resume CSM-1");
    say_in_codex(&tmux, first, "Carry on");
    second_turn_continues(&model, &id, first);
    tmux.wait_for_within("the second answer", CODEX_START, |s| {
        s.contains("Second answer after the compression")
    });
    quit_codex(&tmux);
    assert!(tmux.screen().contains("CSM-EXITED 0"), "{}", tmux.screen());
    assert!(
        !tmux.screen().contains("not on this machine"),
        "{}",
        tmux.screen()
    );
    // Codex may write the session back as plain JSONL; csm reads either.
    let now = rollout::locate(&env.codex_home(), &id).expect("still there");
    assert!(!now.archived, "{now:?} (was {zst:?})");
    assert_eq!(
        rollout::last_agent_message(&env.codex_home(), &id).as_deref(),
        Some("Second answer after the compression.")
    );
}

#[test]
fn an_archived_session_says_how_to_bring_it_back_and_unarchive_resumes_it() {
    let first = "First answer before the archive.";
    let (env, model, id) = linked_exec_session(first);
    codex(&env, &["archive", &id]);
    assert!(rollout::locate(&env.codex_home(), &id).unwrap().archived);

    // No terminal to ask on: refused, naming both ways back.
    let run = env.run(&["resume", "CSM-1"]).fails_with(1);
    assert!(
        run.stderr
            .contains(&format!("Codex session {id} is archived")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains(&format!("codex unarchive {id}")),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("csm resume CSM-1 --unarchive"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("not on this machine"),
        "{}",
        run.stderr
    );
    // The dry run shows the unarchive it would run, and changes nothing.
    let dry = env
        .run(&["resume", "CSM-1", "--unarchive", "--dry-run"])
        .ok();
    assert!(
        dry.stdout.contains(&format!("codex unarchive {id}")),
        "{}",
        dry.stdout
    );
    assert!(rollout::locate(&env.codex_home(), &id).unwrap().archived);

    // On a terminal csm asks; "n" leaves it archived.
    let tmux = env.terminal(120, 40);
    resume_in(&tmux, &env, "resume CSM-1");
    tmux.wait_for_within("the question", CODEX_START, |s| {
        s.contains("is archived. Bring it back")
    });
    tmux.line("n");
    tmux.wait_for_within("the refusal", CODEX_START, |s| s.contains("CSM-EXITED 1"));
    assert!(rollout::locate(&env.codex_home(), &id).unwrap().archived);
    assert_eq!(model.turns().len(), 1);

    // --unarchive brings it back and resumes the same thread.
    model.push_text("Second answer after the unarchive.");
    resume_in(&tmux, &env, "resume CSM-1 --unarchive");
    say_in_codex(&tmux, first, "Carry on");
    second_turn_continues(&model, &id, first);
    tmux.wait_for_within("the second answer", CODEX_START, |s| {
        s.contains("Second answer after the unarchive")
    });
    quit_codex(&tmux);
    assert!(tmux.screen().contains("CSM-EXITED 0"), "{}", tmux.screen());
    assert!(!rollout::locate(&env.codex_home(), &id).unwrap().archived);
}

#[test]
fn a_compressed_session_is_adopted_through_the_ticket_on_a_fresh_store() {
    let first = "First answer, to be found through the ticket.";
    let (env, _model, id) = linked_exec_session(first);
    let ticket = std::fs::read_to_string(env.work().join(".csm/tickets/CSM-1.md")).unwrap();
    assert!(ticket.contains(&id), "the link is mirrored: {ticket}");
    compress(&env, &id);
    // Another machine: no local record, the same CODEX_HOME contents.
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", env.store_file().display()));
    }
    let run = env.run(&["resume", "CSM-1", "--dry-run"]).ok();
    assert!(
        run.stderr
            .contains(&format!("Found CSM-1's session {id} through the ticket")),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains(&format!("resume {id}")),
        "{}",
        run.stdout
    );
    let shown = env.run(&["show", "CSM-1"]).ok().stdout;
    assert!(shown.contains(first), "{shown}");
}
