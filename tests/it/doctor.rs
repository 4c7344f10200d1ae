//! `csm doctor`: one line per check; failures name their fix.

use crate::support::env::{TestEnv, write_script};

fn with_fake_codex(env: &mut TestEnv) {
    let codex = env.root().join("bin/codex");
    write_script(&codex, "echo 'codex-cli 0.169.0'");
    env.set_env("CSM_CODEX_BIN", &codex);
}

#[test]
fn healthy_setup_passes() {
    let mut env = TestEnv::new();
    with_fake_codex(&mut env);
    let run = env.run(&["doctor"]).ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", run.stdout);
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
