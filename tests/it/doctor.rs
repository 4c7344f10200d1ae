//! `csm doctor`: one line per check; failures name their fix.

use crate::support::env::{TestEnv, write_script};

/// A stand-in Codex that answers the way the real one does: its version,
/// `features list`, and a refusal of `notify` with the wrong type.
fn with_fake_codex(env: &mut TestEnv) {
    let codex = env.root().join("bin/codex");
    write_script(
        &codex,
        r#"case "$*" in
  --version) echo 'codex-cli 0.169.0' ;;
  *notify=0*) echo 'Error: failed to load bootstrap configuration' >&2; exit 1 ;;
  *"features list"*) echo 'local_thread_store_compression           under development  false' ;;
  *) exit 2 ;;
esac"#,
    );
    env.set_env("CSM_CODEX_BIN", &codex);
}

#[test]
fn healthy_setup_passes() {
    let mut env = TestEnv::new();
    with_fake_codex(&mut env);
    let run = env.run(&["doctor"]).ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 7, "{}", run.stdout);
    assert!(lines.iter().all(|l| l.starts_with("ok ")), "{}", run.stdout);
    assert!(run.stdout.contains("0.169.0"));
    assert!(run.stdout.contains("schema version 3"));
}

#[test]
fn missing_codex_fails_naming_the_fix() {
    let mut env = TestEnv::new();
    let empty = env.root().join("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    env.set_env("PATH", &empty);
    let run = env.run(&["doctor"]).fails_with(1);
    let line = run
        .stdout
        .lines()
        .find(|l| l.contains("codex:"))
        .expect("a codex line");
    assert!(line.starts_with("FAIL codex:"), "{line}");
    assert!(line.contains("npm install -g @openai/codex"), "{line}");
    assert!(run.stderr.contains("1 check failed"), "{}", run.stderr);
}

#[test]
fn unreadable_config_fails_naming_the_fix() {
    let mut env = TestEnv::new();
    with_fake_codex(&mut env);
    // A folder where the file should be cannot be read, even by root.
    std::fs::create_dir_all(env.user_config()).unwrap();
    let run = env.run(&["doctor"]).fails_with(1);
    let line = run.stdout.lines().next().unwrap();
    assert!(line.starts_with("FAIL config: cannot read"), "{line}");
    assert!(line.contains("fix:"), "{line}");
    // The other checks still ran.
    assert!(run.stdout.contains("ok   store"), "{}", run.stdout);
}

#[test]
fn store_from_a_newer_csm_is_refused_untouched() {
    let mut env = TestEnv::new();
    with_fake_codex(&mut env);
    let db = env.store_file();
    std::fs::create_dir_all(db.parent().unwrap()).unwrap();
    let conn = rusqlite_like_create(&db);
    drop(conn);
    let before = std::fs::read(&db).unwrap();
    let run = env.run(&["doctor"]).fails_with(1);
    assert!(
        run.stdout.contains("newer than this csm understands"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("upgrade csm"), "{}", run.stdout);
    assert_eq!(std::fs::read(&db).unwrap(), before);
}

/// Makes a database whose schema version is from the future.
fn rusqlite_like_create(path: &std::path::Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch("CREATE TABLE future (x); PRAGMA user_version = 99;")
        .unwrap();
    conn
}

#[test]
fn many_processes_creating_the_store_at_once_all_succeed() {
    let mut env = TestEnv::new();
    with_fake_codex(&mut env);
    // Eight processes race to create, switch to WAL and migrate one new
    // database; each must see a healthy store.
    let children: Vec<_> = (0..8)
        .map(|_| {
            env.command(&["doctor"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("schema version 3"), "{stdout}");
    }
}

#[test]
fn codex_checks_against_the_real_codex() {
    use crate::support::mock_model::MockModel;
    let mut env = TestEnv::new();
    let model = MockModel::start();
    model.serve_real_codex(&mut env, "");
    let run = env.run(&["doctor"]).ok();
    let line = |name: &str| {
        run.stdout
            .lines()
            .find(|l| l.contains(&format!(" {name}: ")))
            .unwrap_or_else(|| panic!("no {name} line:\n{}", run.stdout))
            .to_string()
    };
    let version = line("codex");
    assert!(version.contains("csm supports 0."), "{version}");
    assert!(version.contains("tested with 0.171.0"), "{version}");
    assert!(line("codex sessions").starts_with("ok "), "{}", run.stdout);
    let notify = line("codex notify");
    assert!(notify.starts_with("ok "), "{notify}");
    let compression = line("codex compression");
    assert!(
        compression.starts_with("ok ") && compression.contains("rollout compression is off"),
        "{compression}"
    );

    // Turned on in Codex's config, and a compressed rollout on disk.
    let config = env.codex_home().join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "plugins = false\n",
        "plugins = false\nlocal_thread_store_compression = true\n",
    );
    std::fs::write(&config, text).unwrap();
    let day = env.codex_home().join("sessions/2026/11/25");
    std::fs::create_dir_all(&day).unwrap();
    std::fs::write(day.join("rollout-2026-11-25T07-00-00-x.jsonl.zst"), "").unwrap();
    let run = env.run(&["doctor"]).ok();
    assert!(
        run.stdout.contains("rollout compression is on"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("1 rollouts (1 compressed)"),
        "{}",
        run.stdout
    );
}

#[test]
fn the_supported_range_starts_at_the_oldest_version_that_passed() {
    for (version, ok) in [("0.167.2", false), ("0.168.0", true), ("0.169.1", true)] {
        let mut env = TestEnv::new();
        let codex = env.root().join("bin/codex");
        write_script(&codex, &format!("echo 'codex-cli {version}'"));
        env.set_env("CSM_CODEX_BIN", &codex);
        let run = env.run(&["doctor"]);
        let line = run
            .stdout
            .lines()
            .find(|l| l.contains(" codex: "))
            .unwrap_or_else(|| panic!("{}", run.stdout))
            .to_string();
        if ok {
            assert!(line.starts_with("ok   codex:"), "{line}");
            assert!(line.contains("csm supports 0.168.0 or newer"), "{line}");
            // This stand-in takes any -c value, so notify may be ignored:
            // a warning, not a failure (sessions still run).
            assert_eq!(run.code, 0, "{}", run.stdout);
            assert!(
                run.stdout
                    .contains("warn codex notify: codex took a notify value of the wrong type"),
                "{}",
                run.stdout
            );
        } else {
            assert!(line.starts_with("FAIL codex:"), "{line}");
            assert!(line.contains("csm needs 0.168.0 or newer"), "{line}");
        }
    }
}
