//! `csm start` and `resume` before anything is launched: dry runs, bad
//! input, unready tickets, templates, what resume tells Codex, and the
//! cost of `list` against Jira.

use std::path::Path;

use csm::store::{NewSession, Store};

use crate::support::env::{TestEnv, write_script};
use crate::support::fake_jira::{FakeJira, Mode, TOKEN};
use crate::support::mock_model::{MockModel, codex_bin, exec_session};

/// A local project with one ready ticket and the real Codex configured.
fn local_env() -> TestEnv {
    let mut env = TestEnv::new();
    env.set_env("CSM_CODEX_BIN", codex_bin());
    std::fs::write(env.work().join(".csm.toml"), "").unwrap();
    env.run(&["ticket", "new", "Add a --json flag", "--ac", "prints JSON"])
        .ok();
    env
}

/// Every file under `dir` with its contents, to compare before and after.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.display().to_string(),
                    std::fs::read(&p).unwrap_or_default(),
                ));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn dry_run_prints_prompt_and_command_and_changes_nothing() {
    let env = local_env();
    let before_work = snapshot(env.work());
    let no_logs = |v: Vec<(String, Vec<u8>)>| -> Vec<(String, Vec<u8>)> {
        v.into_iter()
            .filter(|(p, _)| !p.contains("/.local/state/csm/logs/"))
            .collect()
    };
    let before_home = no_logs(snapshot(&env.home()));
    let run = env
        .run(&["start", "CSM-1", "--dry-run", "-s", "effort=high"])
        .ok();
    assert!(
        run.stdout
            .contains("You are working on ticket CSM-1: Add a --json flag"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("1. prints JSON"), "{}", run.stdout);
    // The command follows the prompt, after a `---` line; the prompt is
    // its last argument, quoted over several lines.
    let command = run.stdout.split("\n---\n").nth(1).unwrap();
    assert!(
        command.starts_with(&format!("cd {}", env.work().display())),
        "{command}"
    );
    assert!(
        command.contains("-c 'model_reasoning_effort=\"high\"'"),
        "{command}"
    );
    assert!(command.contains("\"hook\", \"notify\"]"), "{command}");
    assert_eq!(snapshot(env.work()), before_work, "the ticket is untouched");
    let after_home = no_logs(snapshot(&env.home()));
    let names = |v: &[(String, Vec<u8>)]| v.iter().map(|(p, _)| p.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&after_home),
        names(&before_home),
        "no store, no CODEX_HOME change"
    );
    assert!(after_home == before_home, "a file under HOME changed");
    assert!(!env.store_file().exists());
}

#[test]
fn bad_input_is_refused_with_one_line_and_nothing_recorded() {
    let fake = FakeJira::start(Mode::Cloud);
    fake.add_issue("PROJ-2", "Not ready", "No criteria yet.", &[]);
    let mut env = TestEnv::new();
    env.write_user_config(&fake.csm_config("PROJ"));
    env.set_env("CSM_JIRA_TOKEN", TOKEN);
    env.set_env("CSM_CODEX_BIN", codex_bin());

    let run = env.run(&["start", "proj 1;rm"]).fails_with(2);
    assert!(
        run.stderr
            .starts_with("error: \"proj 1;rm\" is not a ticket key"),
        "{}",
        run.stderr
    );
    assert!(fake.requests().is_empty(), "refused before any request");

    let run = env.run(&["start", "PROJ-404"]).fails_with(3);
    assert!(run.stderr.contains("PROJ-404"), "{}", run.stderr);
    assert_eq!(
        run.stderr
            .lines()
            .filter(|l| l.starts_with("error:"))
            .count(),
        1
    );

    let run = env.run(&["start", "PROJ-2"]).fails_with(1);
    assert!(
        run.stderr
            .contains("PROJ-2 is not ready: it has no acceptance criteria"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("csm draft-ticket PROJ-2"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--force"), "{}", run.stderr);

    let store = Store::open(&env.store_file()).unwrap();
    assert!(
        store.list_sessions(true).unwrap().is_empty(),
        "nothing recorded"
    );
    assert_eq!(fake.issue("PROJ-2").unwrap().status, "To Do");
}

#[test]
fn a_broken_user_template_names_its_file_and_line() {
    let env = local_env();
    let dir = env.home().join(".config/csm/templates");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("start.md.hbs"),
        "Ticket {{key}}\n\n{{#each acceptance_criteria}}\n- {{this}}\n",
    )
    .unwrap();
    let run = env.run(&["start", "CSM-1", "--dry-run"]).fails_with(1);
    let expected = format!("error: template {}:", dir.join("start.md.hbs").display());
    assert!(run.stderr.starts_with(&expected), "{}", run.stderr);
}

#[test]
fn codex_missing_says_what_to_install() {
    let mut env = local_env();
    env.remove_env("CSM_CODEX_BIN");
    let empty = env.root().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    env.set_env("PATH", &empty);
    let run = env.run(&["start", "CSM-1", "--dry-run"]).fails_with(1);
    assert!(
        run.stderr.contains("codex is not installed"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("npm install -g @openai/codex"),
        "{}",
        run.stderr
    );
}

/// Runs a real `codex exec` in the work folder and returns its session id.
fn real_session(env: &TestEnv, model: &MockModel) -> String {
    model.write_codex_config(&env.codex_home(), "");
    exec_session(env.env_vars(), env.work(), "hello")
}

#[test]
fn resume_tells_codex_only_what_changed_with_the_stored_settings() {
    let env = local_env();
    let model = MockModel::start();
    let id = real_session(&env, &model);
    let run = env.run(&["link", "CSM-1", "--last"]).ok();
    assert!(run.stderr.contains(&id), "{}", run.stderr);
    env.run(&["set", "CSM-1", "effort=high", "sandbox=read-only"])
        .ok();
    let run = env.run(&["set", "CSM-1", "effort=extreme"]).fails_with(2);
    assert!(
        run.stderr.contains("minimal, low, medium, high"),
        "{}",
        run.stderr
    );

    // Nothing changed: no prompt, just the command, from another folder.
    let run = env
        .run_in(&env.home(), &["resume", "CSM-1", "--dry-run"])
        .ok();
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{}", run.stdout);
    let cmd = lines[0];
    assert!(
        cmd.starts_with(&format!(
            "cd {}",
            std::fs::canonicalize(env.work()).unwrap().display()
        )),
        "{cmd}"
    );
    assert!(cmd.contains(&format!("resume {id}")), "{cmd}");
    assert!(
        cmd.contains("model_reasoning_effort=\"high\"") && cmd.contains("-s read-only"),
        "{cmd}"
    );

    // A new criterion and a note: the prompt says so, and the user hears it.
    let path = env.work().join(".csm/tickets/CSM-1.md");
    let text = std::fs::read_to_string(&path).unwrap().replace(
        "- [ ] prints JSON\n",
        "- [ ] prints JSON\n- [ ] exits 2 on bad flags\n",
    );
    std::fs::write(&path, text).unwrap();
    env.run(&[
        "ticket",
        "comment",
        "CSM-1",
        "Please keep the output stable.",
    ])
    .ok();
    let run = env.run(&["resume", "CSM-1", "--dry-run"]).ok();
    assert!(
        run.stdout
            .contains("New acceptance criteria:\n  - exits 2 on bad flags"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("Please keep the output stable."),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr
            .contains("CSM-1 changed since the last launch: 1 new criterion, 1 new comment"),
        "{}",
        run.stderr
    );
}

#[test]
fn resume_refuses_a_session_that_is_not_on_this_machine() {
    let env = local_env();
    let store = Store::open(&env.store_file()).unwrap();
    let tracker = format!(
        "local:{}",
        std::fs::canonicalize(env.work()).unwrap().display()
    );
    let id = store
        .insert_session(&NewSession {
            ticket_key: "CSM-1".into(),
            tracker,
            folder: env.work().to_path_buf(),
            settings: serde_json::json!({}),
            ..NewSession::default()
        })
        .unwrap();
    store
        .set_codex_session_id(id, "019a0000-dead-7000-8000-000000000000")
        .unwrap();
    let run = env.run(&["resume", "CSM-1"]).fails_with(3);
    assert!(
        run.stderr.contains("is not on this machine"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_child_environment_holds_no_secrets() {
    let mut env = local_env();
    let dump = env.root().join("child-env.txt");
    let codex = env.root().join("bin/codex");
    write_script(
        &codex,
        &format!(
            "if [ \"$1\" = --version ]; then echo 'codex-cli 0.169.0'; exit 0; fi\nenv > '{}'\nprintf '%s\\n' \"$@\" >> '{}'",
            dump.display(),
            dump.display()
        ),
    );
    env.set_env("CSM_CODEX_BIN", &codex);
    env.set_env("CSM_JIRA_TOKEN", "secret-one");
    env.set_env("JIRA_API_TOKEN", "secret-two");
    env.set_env("MY_DEPLOY_KEY", "secret-three");
    env.set_env("KEEP_ME", "visible");
    // Codex's own key is not csm's secret: it must reach Codex.
    env.set_env("OPENAI_API_KEY", "sk-for-codex");
    std::fs::write(
        env.work().join(".csm.toml"),
        "[secrets]\nenv = [\"MY_DEPLOY_KEY\"]\n",
    )
    .unwrap();
    let run = env.run(&["start", "CSM-1"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stderr.contains("not a terminal"), "{}", run.stderr);
    let seen = std::fs::read_to_string(&dump).unwrap();
    for secret in ["secret-one", "secret-two", "secret-three"] {
        assert!(
            !seen.contains(secret),
            "{secret} leaked to the child:\n{seen}"
        );
    }
    assert!(seen.contains("KEEP_ME=visible"));
    assert!(seen.contains("OPENAI_API_KEY=sk-for-codex"));
}

#[test]
fn list_of_fifty_jira_sessions_costs_one_request_then_none() {
    let fake = FakeJira::start(Mode::Cloud);
    let mut env = TestEnv::new();
    env.write_user_config(&fake.csm_config("PROJ"));
    env.set_env("CSM_JIRA_TOKEN", TOKEN);
    let store = Store::open(&env.store_file()).unwrap();
    for n in 1..=50 {
        fake.add_issue(&format!("PROJ-{n}"), &format!("Ticket {n}"), "", &["a"]);
        store
            .insert_session(&NewSession {
                ticket_key: format!("PROJ-{n}"),
                tracker: format!("jira:{}", fake.url()),
                folder: env.work().to_path_buf(),
                settings: serde_json::json!({}),
                ..NewSession::default()
            })
            .unwrap();
    }
    let run = env.run(&["list"]).ok();
    assert_eq!(run.stdout.lines().count(), 51, "{}", run.stdout);
    assert!(run.stdout.contains("Ticket 50"));
    assert_eq!(fake.requests().len(), 1, "one batched search");
    fake.clear_requests();
    env.run(&["list", "--json"]).ok();
    assert_eq!(fake.requests().len(), 0, "within the cache's lifetime");
}

#[test]
fn codex_not_signed_in_says_what_to_run() {
    let mut env = local_env();
    let codex = env.root().join("bin/codex");
    write_script(&codex, "echo 'codex-cli 0.169.0'");
    env.set_env("CSM_CODEX_BIN", &codex);
    let run = env.run(&["start", "CSM-1"]).fails_with(1);
    assert!(
        run.stderr.contains("codex is not signed in"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("run `codex login`"), "{}", run.stderr);
    let store = Store::open(&env.store_file()).unwrap();
    assert!(
        store.list_sessions(true).unwrap().is_empty(),
        "nothing recorded"
    );
    // With an API key it goes ahead (the stand-in codex exits at once).
    env.set_env("OPENAI_API_KEY", "sk-test");
    env.run(&["start", "CSM-1"]).ok();
}

#[test]
fn resume_goes_on_without_the_news_when_jira_is_slow() {
    use crate::support::fake_jira::Fault;
    let fake = FakeJira::start(Mode::Cloud);
    fake.add_issue("PROJ-1", "Slow site", "", &["a"]);
    let mut env = TestEnv::new();
    env.write_user_config(
        &fake
            .csm_config("PROJ")
            .replace("timeout_secs = 5", "timeout_secs = 30"),
    );
    env.set_env("CSM_JIRA_TOKEN", TOKEN);
    env.set_env("CSM_CODEX_BIN", codex_bin());
    let model = MockModel::start();
    let id = real_session(&env, &model);
    env.run(&["link", "PROJ-1", &id]).ok();
    for _ in 0..3 {
        fake.fail_next(
            Some("/issue/"),
            Fault::Delay(std::time::Duration::from_secs(20)),
        );
    }
    let started = std::time::Instant::now();
    let run = env.run(&["resume", "PROJ-1", "--dry-run"]).ok();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(12),
        "{:?}",
        started.elapsed()
    );
    assert!(
        run.stderr.contains("resuming without its news"),
        "{}",
        run.stderr
    );
    assert!(
        run.stdout.contains(&format!("resume {id}")),
        "{}",
        run.stdout
    );
}
