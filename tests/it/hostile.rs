//! Hostile ticket text: escape sequences (OSC 52 clipboard, title change,
//! CSI cursor moves), bidi controls and NUL in summaries, descriptions and
//! comments never reach the user's terminal through csm's output, and reach
//! Codex's prompt as text without control sequences; a 1 MB description is
//! cut with a marker; keys that would escape the tickets folder or smuggle
//! JQL are refused.

use serde_json::Value;

use crate::support::env::TestEnv;
use crate::support::fake_jira::{FakeJira, Mode, TOKEN};
use crate::support::mock_model::codex_bin;

const EVIL: &str = "Fix\u{1b}]52;c;cm0gLXJmIH4=\u{7} it\u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}[1;1H now\u{202e}dlrow\u{0}!";

fn assert_clean(text: &str, what: &str) {
    for bad in ['\u{1b}', '\u{7}', '\u{202e}', '\u{0}', '\u{9b}'] {
        assert!(
            !text.contains(bad),
            "{what} printed a control character {bad:?}: {text:?}"
        );
    }
}

fn jira_env(fake: &FakeJira) -> TestEnv {
    let mut env = TestEnv::new();
    env.write_user_config(&fake.csm_config("PROJ"));
    env.set_env("CSM_JIRA_TOKEN", TOKEN);
    env.set_env("CSM_CODEX_BIN", codex_bin());
    env
}

#[test]
fn ticket_text_cannot_take_over_the_terminal() {
    let fake = FakeJira::start(Mode::Cloud);
    fake.add_issue(
        "PROJ-1",
        EVIL,
        &format!("Body {EVIL}"),
        &[EVIL, "prints plain text"],
    );
    let env = jira_env(&fake);
    // An argument cannot hold NUL; everything else goes in.
    let evil_arg = EVIL.replace('\u{0}', "");
    env.run(&["ticket", "comment", "PROJ-1", &evil_arg]).ok();

    let show = env.run(&["ticket", "show", "PROJ-1"]).ok();
    assert_clean(&show.stdout, "ticket show");
    assert!(show.stdout.contains("Fix it now"), "{}", show.stdout);
    let json = env.run(&["ticket", "show", "PROJ-1", "--json"]).ok();
    // JSON escapes control characters; a consumer gets them as data.
    assert_clean(&json.stdout, "ticket show --json");
    let _: Value = serde_json::from_str(&json.stdout).unwrap();

    let list = env.run(&["ticket", "list"]).ok();
    assert_clean(&list.stdout, "ticket list");

    // The prompt keeps the words and drops the sequences.
    let dry = env.run(&["start", "PROJ-1", "--dry-run"]).ok();
    assert_clean(&dry.stdout, "start --dry-run");
    assert!(dry.stdout.contains("PROJ-1: Fix it now"), "{}", dry.stdout);
    assert!(dry.stdout.contains("1. Fix it now"), "{}", dry.stdout);

    // Errors quoting ticket text are cleaned too.
    let run = env
        .run(&["ticket", "move", "PROJ-1", &evil_arg])
        .fails_with(1);
    assert_clean(&run.stderr, "ticket move error");
}

#[test]
fn a_huge_description_is_cut_with_a_marker() {
    let fake = FakeJira::start(Mode::Cloud);
    let huge = "word ".repeat(200_000);
    fake.add_issue("PROJ-1", "Huge", &huge, &["prints CSV"]);
    let env = jira_env(&fake);
    let dry = env.run(&["start", "PROJ-1", "--dry-run"]).ok();
    assert!(dry.stdout.contains("truncated by csm"), "no marker");
    assert!(dry.stdout.len() < 100_000, "{} bytes", dry.stdout.len());
}

#[test]
fn keys_that_escape_the_folder_or_smuggle_queries_are_refused() {
    let env = TestEnv::new();
    std::fs::write(env.work().join(".csm.toml"), "").unwrap();
    env.run(&["ticket", "new", "One", "--ac", "x"]).ok();
    let secret = env.root().join("secret.md");
    std::fs::write(&secret, "+++\nstatus = \"To Do\"\n+++\n# Secret\n").unwrap();
    for key in [
        "../secret",
        "CSM-1/../../secret",
        "/etc/passwd",
        "CSM-1 OR project = X",
        "CSM-1\") OR (\"1\"=\"1",
        "CSM-\u{1b}[2J1",
    ] {
        for args in [
            vec!["ticket", "show", key],
            vec!["start", key, "--dry-run"],
            vec!["done", key, "--dry-run"],
        ] {
            let run = env.run(&args).fails_with(2);
            assert!(
                run.stderr.starts_with("error: "),
                "{args:?}: {}",
                run.stderr
            );
            assert_eq!(
                run.stderr
                    .lines()
                    .filter(|l| l.starts_with("error"))
                    .count(),
                1
            );
            assert_clean(&run.stderr, "a refused key");
        }
    }
    assert!(secret.exists());
}

#[test]
fn a_hostile_folder_is_refused() {
    let env = TestEnv::new();
    std::fs::write(env.work().join(".csm.toml"), "").unwrap();
    env.run(&["ticket", "new", "One", "--ac", "x"]).ok();
    let run = env
        .run(&[
            "start",
            "CSM-1",
            "--dry-run",
            "--folder",
            "no/such/../../place",
        ])
        .fails_with(2);
    assert!(run.stderr.contains("is not a folder"), "{}", run.stderr);
}

/// A local project with ticket CSM-1 and a stand-in `codex` that records
/// its arguments.
fn local_with_codex() -> (TestEnv, std::path::PathBuf) {
    let mut env = TestEnv::new();
    std::fs::write(env.work().join(".csm.toml"), "").unwrap();
    let codex = env.root().join("bin/codex");
    let argv = env.root().join("codex-argv");
    crate::support::env::write_script(
        &codex,
        &format!(
            "case \"$1\" in --version) echo 'codex-cli 0.169.0';; *) printf '%s\\n' \"$@\" > '{}';; esac",
            argv.display()
        ),
    );
    env.set_env("CSM_CODEX_BIN", &codex);
    env.set_env("OPENAI_API_KEY", "sk-test-not-a-real-key");
    env.run(&["ticket", "new", "One", "--ac", "`one` prints 1"])
        .ok();
    (env, argv)
}

/// A Codex rollout file of today, started in the work folder.
fn write_rollout(env: &TestEnv, id: &str) {
    let day =
        csm::codex::rollout::recent_day_dirs(&env.codex_home(), jiff::Timestamp::now()).remove(0);
    std::fs::create_dir_all(&day).unwrap();
    let meta = serde_json::json!({
        "timestamp": "2026-11-25T07:00:00Z", "type": "session_meta",
        "payload": {"id": id, "cwd": std::fs::canonicalize(env.work()).unwrap(),
                    "originator": "codex-tui", "cli_version": "0.169.0"}
    });
    std::fs::write(
        day.join(format!("rollout-2026-11-25T07-00-00-{id}.jsonl")),
        format!("{meta}\n"),
    )
    .unwrap();
}

#[test]
fn a_rollout_whose_id_is_a_flag_is_refused_by_link() {
    let (env, argv) = local_with_codex();
    const FLAG: &str = "--dangerously-bypass-approvals-and-sandbox";
    write_rollout(&env, FLAG);
    let run = env.run(&["link", "CSM-1", "--last"]).fails_with(1);
    assert!(
        run.stderr.contains("is not a Codex session id"),
        "{}",
        run.stderr
    );
    let run = env.run(&["link", "CSM-1", "--", FLAG]).fails_with(2);
    assert!(
        run.stderr.contains("is not a Codex session id"),
        "{}",
        run.stderr
    );
    let run = env.run(&["link", "CSM-1", "not-a-uuid"]).fails_with(2);
    assert!(
        run.stderr.contains("is not a Codex session id"),
        "{}",
        run.stderr
    );
    // Nothing was recorded, so nothing can be resumed with the "id".
    env.run(&["resume", "CSM-1"]).fails_with(3);
    assert!(!argv.exists(), "codex ran");
}

#[test]
fn a_turn_of_a_done_session_is_recorded_and_leaves_it_done() {
    use csm::store::{NewSession, SessionStatus, Store};
    let (env, _) = local_with_codex();
    let store = Store::open(&env.store_file()).unwrap();
    let id = store
        .insert_session(&NewSession {
            ticket_key: "CSM-1".into(),
            tracker: format!("local:{}", env.work().display()),
            folder: env.work().to_path_buf(),
            ..NewSession::default()
        })
        .unwrap();
    let thread = "019a0000-0000-7000-8000-0000000000dd";
    store.set_codex_session_id(id, thread).unwrap();
    store.set_status(id, SessionStatus::Done).unwrap();
    let payload = serde_json::json!({
        "type": "agent-turn-complete", "thread-id": thread,
        "last-assistant-message": "Late turn."
    })
    .to_string();
    env.run(&["hook", "notify", &payload]).ok();
    let events = store.events(id, 5).unwrap();
    assert_eq!(events[0].kind, "turn-complete");
    assert_eq!(
        store.session(id).unwrap().unwrap().status,
        SessionStatus::Done
    );
}

#[test]
fn csm_folders_and_files_are_private_whatever_the_umask() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    std::fs::write(env.work().join(".csm.toml"), "").unwrap();
    let csm = env!("CARGO_BIN_EXE_csm");
    let status = std::process::Command::new("sh")
        .args([
            "-c",
            &format!(
                "umask 000; '{csm}' -v ticket new One --ac 'x prints 1' && exec '{csm}' trust"
            ),
        ])
        .current_dir(env.work())
        .env_clear()
        .envs(env.env_vars())
        .status()
        .unwrap();
    assert!(status.success());
    let status = std::process::Command::new("sh")
        .args(["-c", &format!("umask 000; exec '{csm}' list")])
        .current_dir(env.work())
        .env_clear()
        .envs(env.env_vars())
        .status()
        .unwrap();
    assert!(status.success());
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let data = env.home().join(".local/share/csm");
    let logs = env.home().join(".local/state/csm/logs");
    assert_eq!(mode(&data), 0o700, "{}", data.display());
    assert_eq!(mode(&env.home().join(".local/state/csm")), 0o700);
    assert_eq!(mode(&logs), 0o700);
    assert_eq!(mode(&env.store_file()), 0o600);
    assert_eq!(mode(&data.join("trusted-repos")), 0o600);
    let log_files: Vec<_> = std::fs::read_dir(&logs).unwrap().flatten().collect();
    assert!(!log_files.is_empty());
    for f in log_files {
        assert_eq!(mode(&f.path()), 0o600, "{}", f.path().display());
    }
    for extra in ["csm.db-wal", "csm.db-shm"] {
        let p = data.join(extra);
        if p.exists() {
            assert_eq!(mode(&p), 0o600, "{}", p.display());
        }
    }
}

#[test]
fn symlinked_or_huge_local_ticket_files_are_refused() {
    let env = TestEnv::new();
    std::fs::write(env.work().join(".csm.toml"), "").unwrap();
    env.run(&["ticket", "new", "One", "--ac", "x prints 1"])
        .ok();
    let tickets = env.work().join(".csm/tickets");
    let secret = env.root().join("secret.md");
    std::fs::write(&secret, "+++\nstatus = \"To Do\"\n+++\n# Private notes\n").unwrap();
    std::os::unix::fs::symlink(&secret, tickets.join("CSM-2.md")).unwrap();
    let run = env.run(&["ticket", "show", "CSM-2"]).fails_with(1);
    assert!(run.stderr.contains("symbolic link"), "{}", run.stderr);
    assert!(!run.stdout.contains("Private notes"));

    let one = std::fs::read_to_string(tickets.join("CSM-1.md")).unwrap();
    let huge = format!("{one}\n{}", "word ".repeat(1_000_000));
    std::fs::write(tickets.join("CSM-3.md"), huge).unwrap();
    let run = env.run(&["ticket", "show", "CSM-3"]).fails_with(1);
    assert!(run.stderr.contains("larger than 4 MiB"), "{}", run.stderr);
}

#[test]
fn every_json_output_escapes_bidi_and_c1_controls() {
    let env = TestEnv::new();
    std::fs::write(env.work().join(".csm.toml"), "").unwrap();
    env.run(&[
        "ticket",
        "new",
        "Speed up list \u{202e}and\u{85} add a --csv flag",
        "--ac",
        "also works \u{202e}",
        "--ac",
        "Improve performance \u{2066}",
    ])
    .ok();
    let run = env.run(&["lint", "CSM-1", "--json"]);
    assert!(!run.stdout.is_empty(), "{}", run.stderr);
    for bad in ['\u{202e}', '\u{85}', '\u{2066}'] {
        assert!(!run.stdout.contains(bad), "lint --json: {:?}", run.stdout);
    }
    let _: Value = serde_json::from_str(&run.stdout).unwrap();
}

#[test]
fn the_approval_wait_is_bounded_at_load() {
    let env = TestEnv::new();
    env.write_user_config("[tabs]\napproval_wait_secs = 100000000000\n");
    let run = env.run(&["config", "show"]).fails_with(2);
    assert!(run.stderr.contains("config.toml:2:"), "{}", run.stderr);
    assert!(run.stderr.contains("one day"), "{}", run.stderr);
}

#[test]
fn a_prompt_too_large_for_the_command_line_is_refused_before_any_change() {
    let (env, argv) = local_with_codex();
    let file = env.work().join(".csm/tickets/CSM-1.md");
    let mut text = std::fs::read_to_string(&file).unwrap();
    for i in 0..3000 {
        text.push_str(&format!(
            "- `tool {i}` prints the number {i} and exits with status 0\n"
        ));
    }
    std::fs::write(&file, &text).unwrap();
    let before = std::fs::read_to_string(&file).unwrap();
    let run = env.run(&["start", "CSM-1", "--force"]).fails_with(2);
    assert!(
        run.stderr.contains("command-line argument"),
        "{}",
        run.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&file).unwrap(),
        before,
        "the ticket moved"
    );
    let store = csm::store::Store::open(&env.store_file()).unwrap();
    assert!(store.sessions_for_ticket("CSM-1").unwrap().is_empty());
    assert!(!argv.exists());
}

#[test]
fn csm_is_not_dumpable_so_its_environment_cannot_be_read() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::process::CommandExt;
    // Run as an unprivileged user when the tests run as root: root may
    // read any process's memory.
    let root = unsafe { libc::geteuid() } == 0;
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
    let d = |name: &str| dir.path().join(name);
    let payload = serde_json::json!({
        "type": "agent-turn-complete", "thread-id": "019a0000-0000-7000-8000-0000000000ee"
    })
    .to_string();
    // `hook notify` waits a few seconds for a session that never comes.
    let mut csm = std::process::Command::new(env!("CARGO_BIN_EXE_csm"));
    csm.args(["hook", "notify", &payload])
        .current_dir(dir.path())
        .env_clear()
        .env("HOME", d("home"))
        .env("CSM_CONFIG_DIR", d("config"))
        .env("CSM_DATA_DIR", d("data"))
        .env("CSM_STATE_DIR", d("state"))
        .env("CSM_KEYRING", "none")
        .env("CSM_PROBE_SECRET", "probe-value-7f3a");
    let mut reader = std::process::Command::new("cat");
    if root {
        csm.uid(65534).gid(65534);
        reader.uid(65534).gid(65534);
    }
    let mut child = csm.spawn().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(700));
    let out = reader
        .arg(format!("/proc/{}/environ", child.id()))
        .output()
        .unwrap();
    assert!(
        child.try_wait().unwrap().is_none(),
        "csm was still running when its environment was read"
    );
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("probe-value-7f3a"),
        "another process of the same user read csm's environment"
    );
    assert!(!out.status.success());
}

#[test]
fn a_waiting_tab_is_shown_whole_escaped_in_json_and_approved_only_after_a_yes() {
    let env = TestEnv::new();
    env.write_user_config("[tabs]\nbackend = \"log\"\napproval_wait_secs = 1\n");
    let id = crate::tabs::session(&env, serde_json::json!({"tabs": "on"}));
    let marker = env.root().join("tab-ran");
    let script = format!(
        "echo {} \u{202e}; touch '{}'; echo the-very-end",
        "x".repeat(120),
        marker.display()
    );
    let mut server = crate::tabs::Server::start(&env, id);
    server.initialize();
    let (text, failed) = server.call(
        1,
        "run_in_tab",
        serde_json::json!({"command": ["sh", "-c", script]}),
    );
    assert!(failed && text.starts_with("Not approved:"), "{text}");

    // `csm tabs` shows the whole command of a request that waits.
    let run = env.run(&["tabs"]).ok();
    assert!(run.stdout.contains("the-very-end"), "{}", run.stdout);
    assert_clean(&run.stdout, "csm tabs");
    // JSON keeps the character, escaped.
    let json = env.run(&["tabs", "--json"]).ok();
    assert!(!json.stdout.contains('\u{202e}'), "{}", json.stdout);
    assert!(json.stdout.contains("\\u202e"), "{}", json.stdout);

    // On a terminal, approving without an id shows every argument and asks.
    let tmux = env.terminal(100, 40);
    let line = |answer: &str| {
        tmux.line("clear");
        tmux.line(&format!(
            "cd '{}' && '{}' tabs approve; echo CSM-EXITED-$?",
            env.work().display(),
            env!("CARGO_BIN_EXE_csm")
        ));
        tmux.wait_for("the question", |s| s.contains("[y/N]"));
        let screen = tmux.screen();
        tmux.line(answer);
        tmux.wait_for("csm to exit", |s| s.contains("CSM-EXITED-"));
        screen
    };
    let screen = line("n");
    assert!(screen.contains("argv[0] = \"sh\""), "{screen}");
    assert!(screen.contains("argv[1] = \"-c\""), "{screen}");
    // The terminal wraps the long argument; none of it is cut.
    assert!(
        screen.replace('\n', "").contains("the-very-end\""),
        "{screen}"
    );
    assert!(screen.contains("\\u{202e}"), "shown escaped: {screen}");
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(!marker.exists(), "it ran after a no");
    line("y");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !marker.exists() {
        assert!(std::time::Instant::now() < deadline, "{}", tmux.screen());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    server.finish();
}

#[test]
fn jira_answers_are_capped_in_size_and_comment_pages() {
    let fake = FakeJira::start(Mode::DataCenter);
    fake.add_issue("PROJ-1", "One", "", &["`one` prints 1"]);
    let mut env = TestEnv::new();
    env.write_user_config(&fake.csm_config("PROJ"));
    env.set_env("CSM_JIRA_TOKEN", TOKEN);
    let codex = env.root().join("bin/codex");
    crate::support::env::write_script(
        &codex,
        "case \"$1\" in --version) echo 'codex-cli 0.169.0';; esac",
    );
    env.set_env("CSM_CODEX_BIN", &codex);
    env.set_env("OPENAI_API_KEY", "sk-test-not-a-real-key");
    env.run(&["start", "PROJ-1"]).ok();
    let store = csm::store::Store::open(&env.store_file()).unwrap();
    let session = store.sessions_for_ticket("PROJ-1").unwrap()[0].id;
    store
        .set_codex_session_id(session, "019a0000-0000-7000-8000-0000000000ff")
        .unwrap();
    write_rollout(&env, "019a0000-0000-7000-8000-0000000000ff");
    // A thread of 2500 comments: csm reads the newest 20 pages only.
    fake.edit("PROJ-1", |i| {
        i.comments = (0..2500)
            .map(|n| {
                serde_json::json!({
                    "id": n.to_string(), "body": format!("c{n}"),
                    "author": {"displayName": "D"}, "created": "2026-11-25T08:00:00.000+0000"
                })
            })
            .collect();
    });
    fake.clear_requests();
    let run = env.run(&["resume", "PROJ-1", "--dry-run"]).ok();
    let pages = fake
        .requests()
        .iter()
        .filter(|r| r.uri.contains("/comment"))
        .count();
    assert_eq!(pages, 20, "comment pages read");
    assert!(run.stdout.contains("c2499"), "the newest comment is kept");

    // An answer larger than 16 MiB is cut, so it fails instead of filling
    // memory.
    fake.add_issue(
        "PROJ-2",
        "Huge",
        &"word ".repeat(3_500_000),
        &["`x` prints 1"],
    );
    let run = env.run(&["ticket", "show", "PROJ-2"]).fails_with(1);
    assert!(run.stderr.starts_with("error: "), "{}", run.stderr);
}

/// Every command prints its JSON through `output::json` (the one function
/// that escapes bidi and C1 controls): none serialises on its own.
#[test]
fn no_command_prints_json_past_the_escaping_function() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/commands");
    for entry in std::fs::read_dir(&dir).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap();
        for bad in ["serde_json::to_string", "serde_json::to_writer"] {
            assert!(
                !text.contains(bad),
                "{} uses {bad}; print JSON with crate::output::json",
                entry.path().display()
            );
        }
    }
}
