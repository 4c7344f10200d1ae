//! GitHub Issues as the tracker, end to end: the fake GitHub on 127.0.0.1,
//! the real pinned Codex against the mock model, csm run as a user would.

use csm::store::Store;
use serde_json::{Value, json};

use crate::start_resume::{CODEX_START, csm_line, quit_codex};
use crate::support::env::{Run, TestEnv};
use crate::support::fake_github::{FakeGithub, Fault, READ_ONLY_TOKEN, STRANGER_TOKEN, TOKEN};
use crate::support::git::{commit_file, git};
use crate::support::mock_model::{MockModel, codex_bin, exec_session};

const REPO: &str = "acme/app";
const BODY: &str = "Users want a spreadsheet.\n\n## Acceptance criteria\n\n- [ ] csm list --csv prints CSV\n- [ ] one row per session\n";

/// A clone of acme/app (its origin remote in the ssh form, the owner
/// spelt in capitals) as the work folder, csm configured for the fake
/// GitHub with no `[github] repo` (the remote names it), the token in
/// GH_TOKEN, Codex pointed at the mock and trusting the folder.
fn world(extra_config: &str) -> (TestEnv, MockModel, FakeGithub) {
    let fake = FakeGithub::start();
    fake.add_repo(REPO, true);
    let mut env = TestEnv::new();
    let model = MockModel::start();
    let work = std::fs::canonicalize(env.work()).unwrap();
    model.write_codex_config(
        &env.codex_home(),
        &format!(
            "[projects.\"{}\"]\ntrust_level = \"trusted\"\n",
            work.display()
        ),
    );
    env.set_env("CSM_CODEX_BIN", codex_bin());
    for (k, v) in MockModel::hermetic_env() {
        env.set_env(k, v);
    }
    env.set_env("TERM", "xterm-256color");
    env.set_env("GH_TOKEN", TOKEN);
    env.write_user_config(&format!(
        "{}{extra_config}\n[codex]\nargs = [\"--no-daemon\"]\n",
        fake.csm_config(None)
    ));
    git(env.work(), &["init", "-q", "-b", "main"]);
    git(
        env.work(),
        &["remote", "add", "origin", "git@github.com:Acme/App.git"],
    );
    commit_file(env.work(), "README.md", "# app\n", "Initial commit");
    (env, model, fake)
}

fn one_error_line(run: &Run) -> String {
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    errors[0].to_string()
}

#[test]
fn start_resume_done_against_github_and_the_token_goes_nowhere() {
    let (mut env, model, fake) =
        world("[github.status_labels]\n\"In Progress\" = \"in progress\"\n");
    let calls = crate::secrets::recording_codex(&mut env);
    let n = fake.add_issue(REPO, "Export sessions as CSV", BODY);
    assert_eq!(n, 1);
    let tmux = env.terminal(120, 40);

    // start: the title and every criterion reach the model.
    model.push_text("Plan: add a --csv flag.");
    csm_line(&tmux, env.work(), "-vv start Acme/App#1");
    let turns = model.wait_for_turns(1, CODEX_START);
    let prompt = turns[0].texts("user").join("\n");
    for needle in [
        "Export sessions as CSV",
        "1. csm list --csv prints CSV",
        "2. one row per session",
    ] {
        assert!(prompt.contains(needle), "{needle}: {prompt}");
    }
    // The session is recorded under the full key, with its Codex id.
    let ids = env.captured_codex_ids(&["acme/app#1"], CODEX_START);
    tmux.wait_for_within("the answer", CODEX_START, |s| {
        s.contains("Plan: add a --csv flag")
    });
    quit_codex(&tmux);
    let mut screens = vec![tmux.screen()];
    let store = Store::open(&env.store_file()).unwrap();
    let sessions = store.sessions_for_ticket("acme/app#1").unwrap();
    assert_eq!(sessions.len(), 1);
    assert_eq!(sessions[0].tracker, format!("github:{}", fake.url()));
    assert_eq!(
        sessions[0].codex_session_id.as_deref(),
        Some(ids[0].as_str())
    );
    // start moved the issue through the label workflow.
    assert_eq!(fake.issue(REPO, 1).labels, vec!["in progress"]);

    // The issue gains a criterion and a comment; resume by the short key.
    fake.edit(REPO, 1, |i| {
        i.body.push_str("- [ ] a header row names the columns\n");
    });
    fake.add_comment(REPO, 1, "Please keep the columns in a stable order.");
    model.push_text("Adding the header row.");
    tmux.line("clear");
    csm_line(&tmux, env.work(), "-vv resume '#1'");
    let turns = model.wait_for_turns(2, CODEX_START);
    assert_eq!(turns[1].headers.get("thread-id"), Some(&ids[0]));
    let user = turns[1].texts("user").join("\n");
    assert!(user.contains("a header row names the columns"), "{user}");
    assert!(user.contains("stable order"), "{user}");
    tmux.wait_for_within("the second answer", CODEX_START, |s| {
        s.contains("Adding the header row")
    });
    quit_codex(&tmux);
    screens.push(tmux.screen());

    // The work, then done: two criteria met, the new one not (--force
    // closes it anyway).
    commit_file(env.work(), "csv.rs", "fn csv() {}\n", "Add CSV export");
    commit_file(
        env.work(),
        "csv_test.rs",
        "#[test] fn rows() {}\n",
        "Test one row per session",
    );
    model.push_text(
        &json!({"summary": "Added `csm list --csv`.", "criteria": [
            {"number": 1, "status": "met", "evidence": "test csv_test::csv passes"},
            {"number": 2, "status": "met", "evidence": "test csv_test::rows passes"},
            {"number": 3, "status": "not_met", "evidence": "no header yet"}]})
        .to_string(),
    );
    fake.clear_requests();
    let done = env.run(&["-vv", "done", "acme/app#1", "--force"]).ok();
    let issue = fake.issue(REPO, 1);
    // Exactly one note, with the verdicts and the commits.
    let posts: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST" && r.uri.ends_with("/comments"))
        .collect();
    assert_eq!(posts.len(), 1, "{posts:?}");
    assert_eq!(issue.comments.len(), 2);
    let note = &issue.comments[1].1;
    assert_eq!(note.matches("✅ met").count(), 2, "{note}");
    assert_eq!(note.matches("❌ not met").count(), 1, "{note}");
    for needle in [
        "csm list --csv prints CSV",
        "one row per session",
        "a header row names the columns",
        "Add CSV export",
        "Test one row per session",
    ] {
        assert!(note.contains(needle), "{needle}: {note}");
    }
    // Exactly the met boxes ticked, the rest of the body as it was.
    assert_eq!(
        issue.body,
        "Users want a spreadsheet.\n\n## Acceptance criteria\n\n- [x] csm list --csv prints CSV\n- [x] one row per session\n- [ ] a header row names the columns\n"
    );
    // Closed as completed, the status label gone.
    assert_eq!(issue.state, "closed");
    assert_eq!(issue.state_reason.as_deref(), Some("completed"));
    assert!(issue.labels.is_empty(), "{:?}", issue.labels);
    // Every request carried GitHub's headers.
    for r in fake.requests() {
        assert!(r.headers["user-agent"].starts_with("csm/"), "{r:?}");
        assert_eq!(r.headers["x-github-api-version"], "2022-11-28");
        assert_eq!(r.headers["accept"], "application/vnd.github+json");
    }

    // csm list reads the status back (one listing request).
    fake.clear_requests();
    let list = env.run(&["list", "--all", "--json"]).ok();
    let list: Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(list[0]["key"], "acme/app#1", "{list}");
    assert_eq!(list[0]["ticket_status"], "Done", "{list}");
    assert_eq!(fake.requests().len(), 1, "{:?}", fake.requests());

    // The token: in no output, log, store, argv or Codex environment.
    let texts: Vec<String> = screens
        .into_iter()
        .chain([done.stdout, done.stderr])
        .collect();
    crate::secrets::audit(&env, &texts, &[TOKEN.to_string()], &calls, "GH_TOKEN");
}

#[test]
fn an_issue_without_criteria_is_refused_unless_forced_and_prs_are_no_tickets() {
    let (env, _model, fake) = world("");
    fake.add_issue(
        REPO,
        "Make it faster",
        "It is slow.\n\n- a list that is no criteria\n",
    );
    fake.add_pull_request(REPO, "Speed-up");
    let run = env.run(&["start", "#1", "--dry-run"]).fails_with(1);
    let line = one_error_line(&run);
    assert!(line.contains("acme/app#1 is not ready"), "{line}");
    assert!(run.stderr.contains("--force"), "{}", run.stderr);
    let run = env.run(&["start", "1", "--dry-run", "--force"]).ok();
    assert!(run.stdout.contains("Make it faster"), "{}", run.stdout);
    assert!(run.stdout.contains("acme/app#1"), "{}", run.stdout);

    let run = env.run(&["start", "acme/app#2", "--dry-run"]).fails_with(1);
    let line = one_error_line(&run);
    assert!(line.contains("pull request"), "{line}");
    // Nothing was recorded.
    assert!(
        !env.store_file().exists()
            || Store::open(&env.store_file())
                .unwrap()
                .sessions_for_ticket("acme/app#1")
                .unwrap()
                .is_empty()
    );
}

#[test]
fn ticket_commands_and_batched_statuses() {
    let (mut env, _model, fake) = world("");
    fake.set_page_size(2);
    let run = env
        .run(&[
            "ticket",
            "new",
            "Export as CSV",
            "-d",
            "Why: spreadsheets.",
            "--ac",
            "prints CSV",
            "--ac",
            "one row per session",
        ])
        .ok();
    assert_eq!(run.stdout.trim(), "acme/app#1");
    let issue = fake.issue(REPO, 1);
    assert_eq!(
        issue.body,
        "Why: spreadsheets.\n\n## Acceptance criteria\n\n- [ ] prints CSV\n- [ ] one row per session\n"
    );
    for i in 2..=5 {
        fake.add_issue(REPO, &format!("Other {i}"), "");
    }
    let shown = env.run(&["ticket", "show", "#1", "--json"]).ok();
    let shown: Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(shown["key"], "acme/app#1");
    assert_eq!(
        shown["acceptance_criteria"],
        json!(["prints CSV", "one row per session"])
    );
    assert_eq!(shown["description"], "Why: spreadsheets.");
    assert_eq!(shown["status"], "Open");
    env.run(&["ticket", "comment", "#1", "Looks good."]).ok();
    assert_eq!(fake.issue(REPO, 1).comments[0].1, "Looks good.");
    let list = env.run(&["ticket", "list", "--json"]).ok();
    let list: Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 5, "{list}");
    env.run(&["ticket", "move", "#1", "not planned"]).ok();
    let issue = fake.issue(REPO, 1);
    assert_eq!(
        (issue.state.as_str(), issue.state_reason.as_deref()),
        ("closed", Some("not_planned"))
    );
    env.run(&["ticket", "move", "#1", "open"]).ok();
    assert_eq!(fake.issue(REPO, 1).state, "open");
    // Without status labels, the start status leaves an open issue open;
    // a status GitHub has no way to show is refused, naming the ones it has.
    env.run(&["ticket", "move", "#1", "In Progress"]).ok();
    assert_eq!(fake.issue(REPO, 1).state, "open");
    let run = env.run(&["ticket", "move", "#1", "Blocked"]).fails_with(1);
    let line = one_error_line(&run);
    assert!(line.contains("Done, Not planned, Open"), "{line}");
    // An untrusted .csm.toml cannot send the token elsewhere or run a
    // program for it: both keys are ignored, said once, and csm goes on.
    std::fs::write(
        env.work().join(".csm.toml"),
        "[github]\napi_url = \"https://attacker.example\"\ntoken_command = [\"sh\", \"-c\", \"touch pwned\"]\n",
    )
    .unwrap();
    let run = env.run(&["ticket", "show", "#1"]).ok();
    assert!(run.stderr.contains("github.api_url"), "{}", run.stderr);
    assert!(
        run.stderr.contains("github.token_command"),
        "{}",
        run.stderr
    );
    env.remove_env("GH_TOKEN");
    env.run(&["ticket", "show", "#1"]).fails_with(4);
    assert!(!env.work().join("pwned").exists());
    env.set_env("GH_TOKEN", TOKEN);
    std::fs::remove_file(env.work().join(".csm.toml")).unwrap();

    // csm list: the statuses of sessions' issues in one listing request
    // per repository (pages followed until every number is found).
    env.run(&["ticket", "move", "#1", "Done"]).ok();
    fake.clear_requests();
    let s = csm::tracker::github::GithubTracker::new(
        csm::tracker::github::GithubSettings {
            api_url: fake.url(),
            repo: Some(REPO.into()),
            status_labels: Default::default(),
            open_aliases: vec!["In Progress".into()],
            limits: csm::tracker::jira::limits(5, 1),
        },
        csm::credentials::Secret::new(TOKEN),
        "test".into(),
    )
    .unwrap();
    use csm::tracker::Tracker;
    let keys = vec![
        csm::tracker::TicketKey::parse("acme/app#1").unwrap(),
        csm::tracker::TicketKey::parse("acme/app#5").unwrap(),
    ];
    let found = s.search(&csm::tracker::Query::Keys(keys)).unwrap();
    let mut got: Vec<(String, String)> = found
        .iter()
        .map(|t| (t.key.to_string(), t.status.clone()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        vec![
            ("acme/app#1".into(), "Done".into()),
            ("acme/app#5".into(), "Open".into())
        ]
    );
    let lists = fake
        .requests()
        .iter()
        .filter(|r| r.uri.starts_with("/repos/acme/app/issues?"))
        .count();
    assert!(lists <= 3, "pages of one listing: {:?}", fake.requests());
    assert!(
        fake.requests()
            .iter()
            .all(|r| !r.uri.starts_with("/repos/acme/app/issues/")),
        "no per-issue reads"
    );
}

#[test]
fn draft_ticket_creates_an_issue_with_the_drafted_task_list() {
    let (env, model, fake) = world("");
    fake.add_repo("acme/other", false);
    // Outside a clone, without --project: refused before Codex runs.
    let run = env
        .run_in(&env.home(), &["draft-ticket", "An idea", "--yes"])
        .fails_with(2);
    assert!(
        one_error_line(&run).contains("no repository"),
        "{}",
        run.stderr
    );
    let criteria = [
        "`csm list --csv` prints a header row",
        "`csm list --csv` prints one row per session",
    ];
    model.push_text(
        &json!({
            "summary": "Export sessions as CSV",
            "description": "People keep their sessions in spreadsheets.",
            "acceptance_criteria": criteria,
            "definition_of_done": ["tests in tests/it/list.rs"],
            "out_of_scope": ["importing CSV"],
            "open_questions": [],
        })
        .to_string(),
    );
    let run = env
        .run(&[
            "draft-ticket",
            "Let people export sessions as CSV",
            "--project",
            "acme/other",
            "--yes",
        ])
        .ok();
    assert_eq!(run.stdout, "acme/other#1\n", "{}", run.stderr);
    let issue = fake.issue("acme/other", 1);
    assert_eq!(issue.title, "Export sessions as CSV");
    assert!(
        issue.body.contains("## Acceptance criteria\n\n- [ ] `csm list --csv` prints a header row\n- [ ] `csm list --csv` prints one row per session\n"),
        "{}",
        issue.body
    );
    let shown = env.run(&["ticket", "show", "acme/other#1", "--json"]).ok();
    let shown: Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(shown["acceptance_criteria"], json!(criteria));
}

#[test]
fn auth_and_access_errors_are_one_line_and_rate_limits_lose_nothing() {
    let (mut env, model, fake) = world("");
    fake.add_issue(REPO, "Export sessions as CSV", BODY);
    // 401: the token's source and the way to a new one.
    env.set_env("GH_TOKEN", "ghp_revoked");
    let run = env.run(&["ticket", "show", "#1"]).fails_with(4);
    let line = one_error_line(&run);
    assert!(line.contains("environment variable GH_TOKEN"), "{line}");
    assert!(run.stderr.contains("gh auth login"), "{}", run.stderr);
    // 404 on a private repository the token cannot see.
    env.set_env("GH_TOKEN", STRANGER_TOKEN);
    let run = env.run(&["ticket", "show", "#1"]).fails_with(3);
    let line = one_error_line(&run);
    assert!(
        line.contains("acme/app#1: not found, or the token has no access"),
        "{line}"
    );
    // A secondary rate limit with retry-after is waited out; a 502 on a
    // read is retried.
    env.set_env("GH_TOKEN", TOKEN);
    fake.fail_next(Some("/issues/1"), Fault::SecondaryRateLimit(1));
    fake.fail_next(Some("/issues/1"), Fault::Status(502));
    env.run(&["ticket", "show", "#1"]).ok();

    // A 502 on a write is not retried: it may have happened.
    fake.clear_requests();
    fake.fail_next(Some("/comments"), Fault::Status(502));
    let run = env.run(&["ticket", "comment", "#1", "Hello"]).fails_with(1);
    one_error_line(&run);
    let posts = fake
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .count();
    assert_eq!(posts, 1);

    // done with a read-only token: the note is queued, not lost.
    model.push_text("I will add the CSV export.");
    let codex_id = exec_session(env.env_vars(), env.work(), "Work on the issue");
    env.run(&["link", "acme/app#1", &codex_id]).ok();
    commit_file(env.work(), "csv.rs", "fn csv() {}\n", "Add CSV export");
    model.push_text(
        &json!({"summary": "Done.", "criteria": [
            {"number": 1, "status": "met", "evidence": "test a"},
            {"number": 2, "status": "met", "evidence": "test b"}]})
        .to_string(),
    );
    env.set_env("GH_TOKEN", READ_ONLY_TOKEN);
    let run = env.run(&["done", "#1"]);
    assert_ne!(run.code, 0);
    let line = one_error_line(&run);
    assert!(line.contains("issues=write"), "{line}");
    assert!(fake.issue(REPO, 1).comments.is_empty());
    // The primary limit used up: one line naming the reset; still queued.
    env.set_env("GH_TOKEN", TOKEN);
    fake.fail_next(Some("/comments"), Fault::PrimaryRateLimit(3600));
    let run = env.run(&["sync"]);
    assert_ne!(run.code, 0);
    let line = one_error_line(&run);
    assert!(line.contains("rate limit is used up until"), "{line}");
    assert!(fake.issue(REPO, 1).comments.is_empty());
    // Then it goes out, once: note, ticks, close.
    env.run(&["sync"]).ok();
    let issue = fake.issue(REPO, 1);
    assert_eq!(issue.comments.len(), 1);
    assert!(
        issue
            .body
            .contains("- [x] csm list --csv prints CSV\n- [x] one row per session"),
        "{}",
        issue.body
    );
    assert_eq!(issue.state, "closed");
    env.run(&["sync"]).ok();
    assert_eq!(fake.issue(REPO, 1).comments.len(), 1);
}

#[test]
fn doctor_checks_the_repo_the_token_and_the_rate_limit() {
    let (mut env, _model, fake) = world("");
    let run = env.run(&["doctor"]);
    for needle in [
        "credentials: GitHub token from the environment variable GH_TOKEN",
        "github repo: acme/app (private, issues on)",
        "github token: fine-grained token (no scopes header); may write",
        "requests left this hour",
    ] {
        assert!(run.stdout.contains(needle), "{needle}:\n{}", run.stdout);
    }
    env.set_env("GH_TOKEN", READ_ONLY_TOKEN);
    let run = env.run(&["doctor"]);
    assert!(
        run.stdout.contains("the token is read-only on acme/app"),
        "{}",
        run.stdout
    );
    env.set_env("GH_TOKEN", STRANGER_TOKEN);
    let run = env.run(&["doctor"]);
    assert!(
        run.stdout
            .contains("FAIL github repo: acme/app: not found, or the token has no access"),
        "{}",
        run.stdout
    );
    let _ = fake;
}

#[test]
fn auth_status_and_login_for_github() {
    let (mut env, _model, _fake) = world("");
    let run = env
        .run(&["auth", "status", "--tracker", "github", "--json"])
        .ok();
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["token_source"], "environment variable GH_TOKEN");
    assert!(!run.stdout.contains(TOKEN));
    env.remove_env("GH_TOKEN");
    env.set_env("GITHUB_TOKEN", TOKEN);
    let run = env.run(&["auth", "status", "--json"]).ok();
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["token_source"], "environment variable GITHUB_TOKEN");
    env.remove_env("GITHUB_TOKEN");
    let run = env.run(&["auth", "status"]).fails_with(4);
    assert!(
        run.stderr.contains("csm auth login --tracker github"),
        "{}",
        run.stderr
    );
    // Without a keyring, login says so before asking for the token.
    let run = env.run_with_stdin(
        &["auth", "login", "--tracker", "github", "--with-token"],
        TOKEN,
    );
    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run.stderr.contains("no OS keyring"), "{}", run.stderr);
    // A token_command is the last resort.
    env.write_user_config(&format!(
        "{}token_command = [\"sh\", \"-c\", \"echo {TOKEN}\"]\n",
        _fake.csm_config(None)
    ));
    let run = env.run(&["ticket", "list", "--json"]).ok();
    assert_eq!(run.stdout.trim(), "[]");
}
