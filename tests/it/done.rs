//! `csm done` end to end: a real Codex session (the pinned binary against
//! the mock model) in a real git repository, the report asked of Codex with
//! the schema, the note posted to the fake Jira (or the local tracker)
//! exactly once through the outbox, and the ticket moved.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use csm::store::Store;
use serde_json::{Value, json};

use crate::support::env::TestEnv;
use crate::support::fake_jira::{FakeJira, Fault, Mode, TOKEN};
use crate::support::git::{commit_file, git};
use crate::support::mock_model::{MockModel, codex_bin, exec_session};

const CRITERIA: [&str; 2] = ["csm list --csv prints CSV", "one row per session"];

/// A test world: the fake Jira (or none), the mock model, a git repository
/// as the work folder, and a real Codex session linked to the ticket.
pub(crate) struct World {
    pub(crate) env: TestEnv,
    pub(crate) model: MockModel,
    pub(crate) jira: Option<FakeJira>,
    pub(crate) key: String,
    pub(crate) codex_id: String,
}

impl World {
    pub(crate) fn jira(mode: Mode) -> World {
        let fake = FakeJira::start(mode);
        fake.add_issue(
            "PROJ-1",
            "Export sessions as CSV",
            "A spreadsheet.",
            &CRITERIA,
        );
        let mut env = TestEnv::new();
        env.write_user_config(&fake.csm_config("PROJ"));
        env.set_env("CSM_JIRA_TOKEN", TOKEN);
        World::finish(env, Some(fake), "PROJ-1")
    }

    pub(crate) fn local() -> World {
        let env = TestEnv::new();
        git(env.work(), &["init", "-q", "-b", "main"]);
        let mut args = vec!["ticket", "new", "Export sessions as CSV"];
        for c in CRITERIA {
            args.extend(["--ac", c]);
        }
        env.run(&args).ok();
        World::finish(env, None, "CSM-1")
    }

    pub(crate) fn finish(mut env: TestEnv, jira: Option<FakeJira>, key: &str) -> World {
        let model = MockModel::start();
        model.write_codex_config(&env.codex_home(), "");
        env.set_env("CSM_CODEX_BIN", codex_bin());
        for (k, v) in MockModel::hermetic_env() {
            env.set_env(k, v);
        }
        let work = env.work().to_path_buf();
        if !work.join(".git").exists() {
            git(&work, &["init", "-q", "-b", "main"]);
        }
        commit_file(&work, "README.md", "# app\n", "Initial commit");
        // The session: a real Codex run in the folder, adopted for the ticket.
        model.push_text("I will add the CSV export.");
        let codex_id = exec_session(env.env_vars(), &work, "Work on the ticket");
        env.run(&["link", key, &codex_id]).ok();
        // The work: two commits and a change not committed.
        commit_file(&work, "csv.rs", "fn csv() {}\n", "Add CSV export");
        commit_file(
            &work,
            "csv_test.rs",
            "#[test] fn rows() {}\n#[test] fn header() {}\n",
            "Test one row per session",
        );
        World {
            env,
            model,
            jira,
            key: key.into(),
            codex_id,
        }
    }

    /// Records an hour of Codex running in the session.
    pub(crate) fn add_active_hour(&self) {
        let conn = rusqlite::Connection::open(self.env.store_file()).unwrap();
        let now = csm::store::now_ms();
        for (at, kind) in [(now - 7_200_000, "launched"), (now - 3_600_000, "exited")] {
            conn.execute(
                "INSERT INTO session_events (session_id, at, kind, data) VALUES (1, ?1, ?2, '{}')",
                rusqlite::params![at, kind],
            )
            .unwrap();
        }
    }

    pub(crate) fn fake(&self) -> &FakeJira {
        self.jira.as_ref().expect("a Jira world")
    }

    /// Queues the model's report: `statuses[i]` for criterion i+1.
    pub(crate) fn answer(&self, statuses: &[&str]) {
        let criteria: Vec<Value> = statuses
            .iter()
            .enumerate()
            .map(|(i, s)| {
                json!({"number": i + 1, "status": s,
                       "evidence": format!("test csv_test::case_{} passes", i + 1)})
            })
            .collect();
        self.model.push_text(
            &json!({"summary": "Added `csm list --csv` with tests.", "criteria": criteria})
                .to_string(),
        );
    }

    pub(crate) fn store(&self) -> Store {
        Store::open(&self.env.store_file()).unwrap()
    }

    /// The fake's comments on the ticket, as Markdown.
    pub(crate) fn comments(&self) -> Vec<String> {
        let issue = self.fake().issue(&self.key).unwrap();
        issue
            .comments
            .iter()
            .map(|c| match self.fake().mode() {
                Mode::Cloud => csm::tracker::jira::adf::to_markdown(&c["body"]),
                Mode::DataCenter => {
                    csm::tracker::jira::wiki::to_markdown(c["body"].as_str().unwrap())
                }
            })
            .collect()
    }

    pub(crate) fn status(&self) -> String {
        match &self.jira {
            Some(f) => f.issue(&self.key).unwrap().status,
            None => {
                let run = self.env.run(&["ticket", "show", &self.key, "--json"]).ok();
                let v: Value = serde_json::from_str(&run.stdout).unwrap();
                v["status"].as_str().unwrap().to_string()
            }
        }
    }

    pub(crate) fn posts_to(&self, path_part: &str) -> usize {
        self.fake()
            .requests()
            .iter()
            .filter(|r| r.method == "POST" && r.uri.contains(path_part))
            .count()
    }
}

#[test]
fn done_posts_the_evidence_once_and_moves_the_ticket() {
    for mode in [Mode::Cloud, Mode::DataCenter] {
        let w = World::jira(mode);
        w.answer(&["met", "met"]);
        let run = w.env.run(&["done", "PROJ-1"]).ok();
        assert!(run.stderr.contains("PROJ-1 → Done"), "{}", run.stderr);

        let comments = w.comments();
        assert_eq!(comments.len(), 1, "{comments:?}");
        let note = &comments[0];
        for c in CRITERIA {
            assert!(note.contains(c), "{mode:?}: {note}");
        }
        assert_eq!(note.matches("✅ met").count(), 2, "{note}");
        assert!(note.contains("Add CSV export"), "{note}");
        assert!(note.contains("Test one row per session"), "{note}");
        assert!(
            !note.contains("Initial commit"),
            "only the session's commits: {note}"
        );
        assert!(note.contains("csv_test.rs"), "diffstat: {note}");
        assert!(note.contains("2 files changed"), "diffstat: {note}");
        assert!(note.contains(&w.codex_id), "{note}");
        assert!(note.contains("csm list --csv` with tests."), "{note}");
        // The session's turn and the report's: the mock's usage, twice.
        assert!(
            note.contains("Codex usage: 20 tokens in (8 cached), 10 out (4 reasoning), 2 turns"),
            "{note}"
        );
        assert_eq!(w.status(), "Done");

        // Codex was asked in the same session, read-only, with the schema.
        let turns = w.model.wait_for_turns(2, Duration::from_secs(5));
        let report_turn = &turns[1];
        assert_eq!(report_turn.headers.get("session-id"), Some(&w.codex_id));
        assert_eq!(report_turn.body["text"]["format"]["type"], "json_schema");
        let asked = report_turn.texts("user").join("\n");
        assert!(asked.contains("1. csm list --csv prints CSV"), "{asked}");
        assert!(
            asked.contains("Work on the ticket"),
            "the session's history: {asked}"
        );

        let store = w.store();
        let session = &store.sessions_for_ticket("PROJ-1").unwrap()[0];
        assert_eq!(session.status, csm::store::SessionStatus::Done);
        let events = store.events(session.id, 50).unwrap();
        let report = events
            .iter()
            .find(|e| e.kind == "report")
            .expect("report event");
        assert_eq!(report.data["criteria"][0]["status"], "met");
        assert!(store.outbox_pending().unwrap().is_empty());
    }
}

#[test]
fn a_failed_post_stays_queued_and_sync_posts_it() {
    let w = World::jira(Mode::Cloud);
    w.answer(&["met", "met"]);
    w.fake()
        .fail_next(Some("/comment"), Fault::Status(500, None));
    let run = w.env.run(&["done", "PROJ-1"]).fails_with(1);
    assert!(run.stderr.contains("will be retried"), "{}", run.stderr);
    assert!(run.stderr.contains("csm sync"), "{}", run.stderr);
    assert!(w.comments().is_empty());
    assert_eq!(w.status(), "To Do", "not moved before the note is on it");
    let pending = w.store().outbox_pending().unwrap();
    assert_eq!(pending.len(), 2, "the note and the move wait: {pending:?}");

    let run = w.env.run(&["sync"]).ok();
    assert!(
        run.stderr.contains("Posted the note to PROJ-1"),
        "{}",
        run.stderr
    );
    assert_eq!(w.comments().len(), 1);
    assert_eq!(w.status(), "Done");
    assert!(w.store().outbox_pending().unwrap().is_empty());
    // Nothing left: another sync posts nothing.
    w.fake().clear_requests();
    w.env.run(&["sync"]).ok();
    assert_eq!(w.posts_to("/comment"), 0);
}

#[test]
fn the_next_command_posts_a_queued_note_on_its_own() {
    let w = World::jira(Mode::Cloud);
    w.answer(&["met", "met"]);
    w.fake()
        .fail_next(Some("/comment"), Fault::Status(500, None));
    w.env.run(&["done", "PROJ-1"]).fails_with(1);
    let run = w.env.run(&["list"]).ok();
    assert!(
        run.stderr.contains("Posted the queued note to PROJ-1"),
        "{}",
        run.stderr
    );
    assert_eq!(w.comments().len(), 1);
    assert_eq!(w.status(), "Done");
}

#[test]
fn a_timeout_after_the_post_landed_is_not_posted_twice() {
    let mut w = World::jira(Mode::Cloud);
    w.env.set_env("CSM_JIRA_TIMEOUT_SECS", "1");
    w.answer(&["met", "met"]);
    w.fake().fail_next(
        Some("/comment"),
        Fault::ActThenDelay(Duration::from_secs(3)),
    );
    let run = w.env.run(&["done", "PROJ-1"]).fails_with(1);
    assert!(run.stderr.contains("will be retried"), "{}", run.stderr);
    assert_eq!(
        w.comments().len(),
        1,
        "the fake stored it before the timeout"
    );

    // Running done again delivers the queue instead of writing a new note,
    // and finds the first copy by its marker.
    w.fake().clear_requests();
    let run = w.env.run(&["done", "PROJ-1"]).ok();
    assert!(run.stderr.contains("not posted again"), "{}", run.stderr);
    assert_eq!(w.posts_to("/comment"), 0);
    assert_eq!(w.comments().len(), 1, "exactly one copy");
    assert_eq!(w.status(), "Done");
}

#[test]
fn killing_csm_after_the_note_is_queued_loses_nothing() {
    let w = World::jira(Mode::Cloud);
    w.answer(&["met", "met"]);
    // The POST is held up; csm is killed while it waits for the answer.
    w.fake()
        .fail_next(Some("/comment"), Fault::Delay(Duration::from_secs(3)));
    let mut child = w
        .env
        .command(&["done", "PROJ-1"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while w.posts_to("/comment") == 0 {
        assert!(Instant::now() < deadline, "csm never posted");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let pending = w.store().outbox_pending().unwrap();
    assert_eq!(pending.len(), 2, "{pending:?}");
    assert_eq!(
        pending[0].attempts, 1,
        "the attempt was counted before the request"
    );

    // Whether or not the fake finished storing it, sync leaves one copy.
    std::thread::sleep(Duration::from_secs(4));
    w.env.run(&["sync"]).ok();
    assert_eq!(w.comments().len(), 1);
    assert_eq!(w.status(), "Done");
}

#[test]
fn an_invalid_answer_is_asked_again_then_shown_unclear() {
    let w = World::jira(Mode::Cloud);
    w.model.push_text("Everything is met, trust me.");
    w.model
        .push_text(r#"{"summary":"done","criteria":[{"number":1,"status":"met","evidence":"x"}]}"#);
    let run = w.env.run(&["done", "PROJ-1"]).fails_with(1);
    assert!(run.stderr.contains("unusable twice"), "{}", run.stderr);
    assert!(
        run.stderr.contains("criteria not shown met"),
        "{}",
        run.stderr
    );

    let turns = w.model.wait_for_turns(3, Duration::from_secs(5));
    assert_eq!(turns.len(), 3, "the first run, the report, one retry");
    let retry = turns[2].texts("user").join("\n");
    assert!(retry.contains("could not be used"), "{retry}");

    let note = &w.comments()[0];
    assert_eq!(note.matches("unclear").count(), 2 + 1, "{note}");
    assert!(!note.contains("✅"), "never met: {note}");
    assert_eq!(w.status(), "To Do");
}

#[test]
fn an_unmet_criterion_blocks_the_move_unless_forced() {
    let w = World::jira(Mode::Cloud);
    w.answer(&["met", "not_met"]);
    let run = w.env.run(&["done", "PROJ-1"]).fails_with(1);
    assert!(
        run.stderr.contains("2 (one row per session)"),
        "the message lists it: {}",
        run.stderr
    );
    assert!(run.stderr.contains("--force"), "{}", run.stderr);
    assert_eq!(w.status(), "To Do");
    let note = &w.comments()[0];
    assert!(note.contains("Open criteria"), "{note}");
    assert!(note.contains("not moved to Done"), "{note}");
    let store = w.store();
    let session = &store.sessions_for_ticket("PROJ-1").unwrap()[0];
    assert_ne!(session.status, csm::store::SessionStatus::Done);

    w.answer(&["met", "not_met"]);
    w.env.run(&["done", "PROJ-1", "--force"]).ok();
    assert_eq!(w.status(), "Done");
    assert_eq!(w.comments().len(), 2);
}

/// Everything csm's store holds, as text.
fn store_dump(env: &TestEnv) -> String {
    let conn = rusqlite::Connection::open(env.store_file()).unwrap();
    let mut out = String::new();
    for table in ["sessions", "session_events", "outbox", "cache"] {
        let mut stmt = conn
            .prepare(&format!("SELECT * FROM {table} ORDER BY 1"))
            .unwrap();
        let n = stmt.column_count();
        let rows = stmt
            .query_map([], |r| {
                Ok((0..n)
                    .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                    .collect::<Vec<_>>()
                    .join("|"))
            })
            .unwrap();
        for row in rows {
            out.push_str(&format!("{table}: {}\n", row.unwrap()));
        }
    }
    out
}

fn git_state(dir: &Path) -> String {
    format!(
        "{}\n{}\n{}\n{}",
        git(dir, &["rev-parse", "HEAD"]),
        git(dir, &["status", "--porcelain"]),
        git(dir, &["for-each-ref"]),
        git(dir, &["stash", "list"]),
    )
}

#[test]
fn dry_run_prints_the_note_and_changes_nothing() {
    let w = World::jira(Mode::Cloud);
    std::fs::write(w.env.work().join("wip.txt"), "not committed").unwrap();
    w.answer(&["met", "not_met"]);
    let store_before = store_dump(&w.env);
    let git_before = git_state(w.env.work());
    w.fake().clear_requests();

    let run = w.env.run(&["done", "PROJ-1", "--dry-run"]).ok();
    assert!(
        run.stdout.contains("| 1 | csm list --csv prints CSV |"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("Uncommitted: `wip.txt`"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout
            .contains("would not move PROJ-1 to \"Done\": open criteria 2"),
        "{}",
        run.stdout
    );

    assert_eq!(store_dump(&w.env), store_before, "the store is unchanged");
    assert_eq!(git_state(w.env.work()), git_before, "git is unchanged");
    let writes: Vec<_> = w
        .fake()
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .collect();
    assert!(writes.is_empty(), "no write to Jira: {writes:?}");
    assert!(w.comments().is_empty());
    assert_eq!(w.status(), "To Do");
}

#[test]
fn the_same_flow_works_with_the_local_tracker() {
    let w = World::local();
    w.add_active_hour();
    w.answer(&["met", "met"]);
    let run = w.env.run(&["done", "CSM-1", "--log-work"]).ok();
    assert!(run.stderr.contains("CSM-1 → Done"), "{}", run.stderr);
    assert_eq!(w.status(), "Done");
    let file = std::fs::read_to_string(w.env.work().join(".csm/tickets/CSM-1.md")).unwrap();
    assert!(
        file.contains("| 2 | one row per session | ✅ met |"),
        "{file}"
    );
    assert!(file.contains("Test one row per session"), "{file}");
    assert!(file.contains("csm note csm-"), "{file}");
    assert!(file.contains("seconds = 3600"), "the work log: {file}");
}

#[test]
fn run_tests_and_log_work_on_jira() {
    let w = World::jira(Mode::Cloud);
    std::fs::write(
        w.env.work().join(".csm.toml"),
        "[workflow]\ntest_command = [\"sh\", \"-c\", \"echo 2 passed; exit 0\"]\n",
    )
    .unwrap();
    w.add_active_hour();
    w.answer(&["met", "met"]);
    w.env
        .run(&["done", "PROJ-1", "--run-tests", "--log-work"])
        .ok();
    let note = &w.comments()[0];
    assert!(note.contains("passed"), "{note}");
    assert!(note.contains("sh -c"), "{note}");
    let issue = w.fake().issue("PROJ-1").unwrap();
    assert_eq!(issue.worklogs.len(), 1, "{:?}", issue.worklogs);
    assert_eq!(issue.worklogs[0]["timeSpentSeconds"], 3600);
}

#[test]
fn bad_input_is_refused_with_one_line() {
    let w = World::jira(Mode::Cloud);
    let run = w.env.run(&["done", "NOPE-9"]).fails_with(3);
    assert!(
        run.stderr.contains("NOPE-9 has no session"),
        "{}",
        run.stderr
    );
    let run = w.env.run(&["done", "PROJ-1", "--run-tests"]).fails_with(2);
    assert!(run.stderr.contains("test_command"), "{}", run.stderr);
    let run = w
        .env
        .run(&["done", "PROJ-1", "--status", "Won't Do"])
        .fails_with(1);
    assert!(
        run.stderr
            .contains("needs fields csm does not set: Resolution"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--no-transition"), "{}", run.stderr);
    let run = w
        .env
        .run(&["done", "PROJ-1", "--status", "Shipped"])
        .fails_with(1);
    assert!(run.stderr.contains("available: "), "{}", run.stderr);
    let run = w.env.run(&["done", "../x"]).fails_with(2);
    assert!(run.stderr.starts_with("error:"), "{}", run.stderr);
    assert!(w.comments().is_empty());
    assert!(w.store().outbox_pending().unwrap().is_empty());
}

#[test]
fn edit_lets_the_user_change_the_note_and_keeps_its_marker() {
    use crate::support::env::write_script;
    let mut w = World::jira(Mode::Cloud);
    let failing = w.env.root().join("failing-editor");
    write_script(&failing, "exit 3");
    w.env.set_env("EDITOR", &failing);
    w.answer(&["met", "met"]);
    let run = w.env.run(&["done", "PROJ-1", "--edit"]).fails_with(1);
    assert!(run.stderr.contains("nothing was changed"), "{}", run.stderr);
    assert!(w.comments().is_empty());
    assert!(w.store().outbox_pending().unwrap().is_empty());

    let editor = w.env.root().join("editor");
    write_script(&editor, "printf 'Reviewed by hand.\\n' > \"$1\"");
    w.env.set_env("EDITOR", &editor);
    w.answer(&["met", "met"]);
    w.env.run(&["done", "PROJ-1", "--edit"]).ok();
    let note = &w.comments()[0];
    assert!(note.starts_with("Reviewed by hand."), "{note}");
    assert!(note.contains("csm note csm-"), "{note}");
    assert_eq!(w.status(), "Done");
}

#[test]
fn a_crash_at_any_step_loses_nothing_and_posts_once() {
    for point in [
        "done:reported",
        "done:queued",
        "outbox:attempt-counted",
        "outbox:comment-posted",
    ] {
        let mut w = World::jira(Mode::Cloud);
        w.answer(&["met", "met"]);
        w.answer(&["met", "met"]);
        w.env.set_env("CSM_CRASH_AT", point);
        let run = w.env.run(&["done", "PROJ-1"]);
        assert_eq!(run.code, -1, "{point}: killed by the signal: {run:?}");
        let conn = rusqlite::Connection::open(w.env.store_file()).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok", "{point}");
        let queued = w.store().outbox_pending().unwrap().len();
        let expected = if point == "done:reported" { 0 } else { 2 };
        assert_eq!(queued, expected, "{point}: the queue survives");

        w.env.remove_env("CSM_CRASH_AT");
        w.env.run(&["done", "PROJ-1"]).ok();
        assert_eq!(w.comments().len(), 1, "{point}: exactly one note");
        assert_eq!(w.status(), "Done", "{point}");
        assert!(w.store().outbox_pending().unwrap().is_empty(), "{point}");
        let session = &w.store().sessions_for_ticket("PROJ-1").unwrap()[0];
        assert_eq!(session.status, csm::store::SessionStatus::Done, "{point}");
    }
}

#[test]
fn cleanup_removes_the_worktree_only_when_nothing_would_be_lost() {
    use crate::support::env::write_script;
    let mut env = TestEnv::new();
    let model = MockModel::start();
    model.write_codex_config(&env.codex_home(), "");
    for (k, v) in MockModel::hermetic_env() {
        env.set_env(k, v);
    }
    let work = env.work().to_path_buf();
    git(&work, &["init", "-q", "-b", "main"]);
    commit_file(&work, "README.md", "# app\n", "Initial commit");
    let mut args = vec!["ticket", "new", "Export sessions as CSV"];
    for c in CRITERIA {
        args.extend(["--ac", c]);
    }
    env.run(&args).ok();
    // `start --worktree` with a stand-in Codex (no terminal here), then a
    // real Codex session in the worktree, recorded as the session's.
    let fake = env.root().join("bin/codex");
    write_script(
        &fake,
        "case \"$1\" in --version) echo 'codex-cli 0.169.0';; esac; exit 0",
    );
    env.set_env("CSM_CODEX_BIN", &fake);
    env.run(&["start", "CSM-1", "--worktree"]).ok();
    env.set_env("CSM_CODEX_BIN", codex_bin());
    let store = Store::open(&env.store_file()).unwrap();
    let session = store.sessions_for_ticket("CSM-1").unwrap().remove(0);
    let tree = session.folder.clone();
    assert_ne!(tree, std::fs::canonicalize(&work).unwrap());
    model.push_text("Working in the worktree.");
    let id = exec_session(env.env_vars(), &tree, "Work on CSM-1");
    store.set_codex_session_id(session.id, &id).unwrap();
    commit_file(&tree, "csv.rs", "fn csv() {}\n", "Add CSV export");

    // The commit is on no remote: the note goes out, the worktree stays.
    let answer = json!({"summary": "CSV.", "criteria": [
        {"number": 1, "status": "met", "evidence": "t1"},
        {"number": 2, "status": "met", "evidence": "t2"}]})
    .to_string();
    model.push_text(&answer);
    let run = env.run(&["done", "CSM-1", "--cleanup"]).fails_with(1);
    assert!(
        run.stderr.contains("Add CSV export"),
        "names the commit: {}",
        run.stderr
    );
    assert!(
        run.stderr.contains("csm worktree prune CSM-1"),
        "{}",
        run.stderr
    );
    assert!(tree.exists(), "nothing lost");
    let ticket = std::fs::read_to_string(work.join(".csm/tickets/CSM-1.md")).unwrap();
    assert!(ticket.contains("status = \"Done\""), "{ticket}");
    assert!(
        ticket.contains("Add CSV export"),
        "the branch's commit in the note: {ticket}"
    );

    // Pushed: the same request removes it.
    let remote = env.root().join("remote.git");
    git(
        env.root(),
        &["init", "-q", "--bare", remote.to_str().unwrap()],
    );
    git(
        &tree,
        &["remote", "add", "origin", remote.to_str().unwrap()],
    );
    git(&tree, &["push", "-q", "origin", "HEAD"]);
    model.push_text(&answer);
    let run = env
        .run(&["done", "CSM-1", "--cleanup", "--no-transition"])
        .ok();
    assert!(
        run.stderr.contains("Removed the worktree"),
        "{}",
        run.stderr
    );
    assert!(!tree.exists());
}

/// From In Progress, where the workflow has no direct way to Done: the
/// walk goes through In Review, with one note, and `csm list` shows Done
/// at once although the site's search lags.
#[test]
fn done_walks_through_in_review_with_one_note() {
    let w = World::jira(Mode::Cloud);
    w.fake().set_review_workflow();
    w.fake().edit("PROJ-1", |i| i.status = "In Progress".into());
    w.env.run(&["list", "--all", "--json"]).ok();
    w.fake().set_search_lag(true);
    w.answer(&["met", "met"]);
    let run = w.env.run(&["done", "PROJ-1"]).ok();
    assert!(
        run.stderr.contains("PROJ-1 → In Review → Done"),
        "{}",
        run.stderr
    );
    assert_eq!(w.status(), "Done");
    assert_eq!(w.comments().len(), 1);
    assert!(
        w.comments()[0].contains("moved to Done"),
        "{:?}",
        w.comments()
    );
    assert_eq!(w.posts_to("/transitions"), 2);
    assert!(w.store().outbox_pending().unwrap().is_empty());
    let run = w.env.run(&["list", "--all", "--json"]).ok();
    let rows: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(rows[0]["ticket_status"], "Done", "{rows}");
    assert_eq!(rows[0]["ticket_offline"], false);
}

/// `[workflow] done_path` spells the way out: one queued move a status.
#[test]
fn done_follows_the_configured_path() {
    let w = World::jira(Mode::Cloud);
    w.fake().set_review_workflow();
    w.fake().edit("PROJ-1", |i| i.status = "In Progress".into());
    w.env.write_user_config(&format!(
        "{}[workflow]\ndone_path = [\"In Review\", \"Done\"]\n",
        w.fake().csm_config("PROJ")
    ));
    w.answer(&["met", "met"]);
    let run = w.env.run(&["done", "PROJ-1"]).ok();
    assert!(run.stderr.contains("PROJ-1 → In Review"), "{}", run.stderr);
    assert!(run.stderr.contains("PROJ-1 → Done"), "{}", run.stderr);
    assert_eq!(w.status(), "Done");
    assert_eq!(w.comments().len(), 1);
}

/// The only way on needs a field csm does not set: `done` says where the
/// ticket stands, the field and how to finish, and changes nothing.
#[test]
fn done_stops_before_a_step_that_needs_a_field_and_changes_nothing() {
    let w = World::jira(Mode::Cloud);
    w.fake().set_workflow(&[
        ("To Do", "11", "In Progress", &[]),
        ("In Progress", "21", "In Review", &["Reviewer"]),
        ("In Progress", "22", "To Do", &[]),
        ("In Review", "31", "Done", &[]),
    ]);
    w.fake().edit("PROJ-1", |i| i.status = "In Progress".into());
    w.answer(&["met", "met"]);
    w.fake().clear_requests();
    let run = w.env.run(&["done", "PROJ-1"]).fails_with(1);
    assert!(
        run.stderr.contains(
            "moving PROJ-1 to \"Done\" stopped at \"In Progress\": the step to \"In Review\" needs Reviewer, which csm does not set"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--status"), "{}", run.stderr);
    assert!(
        run.stderr.contains("[workflow] done_path"),
        "{}",
        run.stderr
    );
    assert_eq!(w.status(), "In Progress");
    assert!(w.comments().is_empty());
    assert_eq!(w.posts_to("/"), 0, "nothing written");
    assert!(w.store().outbox_pending().unwrap().is_empty());
}

/// The local tracker too: csm's own move shows at once in `list`, though
/// the cache was filled a moment before.
#[test]
fn list_after_done_on_the_local_tracker_shows_the_new_status() {
    let w = World::local();
    let run = w.env.run(&["list", "--json"]).ok();
    let rows: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(rows[0]["ticket_status"], "To Do");
    w.answer(&["met", "met"]);
    w.env.run(&["done", "CSM-1"]).ok();
    let run = w.env.run(&["list", "--all", "--json"]).ok();
    let rows: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(rows[0]["ticket_status"], "Done");
}

/// A walk cut short after its first step stays queued; the retry goes on
/// from the status the ticket reached, taking no step twice.
#[test]
fn a_walk_cut_short_goes_on_from_where_it_stopped() {
    let w = World::jira(Mode::Cloud);
    w.fake().set_review_workflow();
    w.fake().edit("PROJ-1", |i| i.status = "In Progress".into());
    w.answer(&["met", "met"]);
    // The check, the first step's list and move pass; the second step's
    // list fails.
    for _ in 0..3 {
        w.fake()
            .fail_next(Some("/transitions"), Fault::Delay(Duration::ZERO));
    }
    w.fake()
        .fail_next(Some("/transitions"), Fault::Status(400, None));
    let run = w.env.run(&["done", "PROJ-1"]).fails_with(1);
    assert!(run.stderr.contains("will be retried"), "{}", run.stderr);
    assert_eq!(w.status(), "In Review");
    assert_eq!(w.comments().len(), 1);
    let run = w.env.run(&["sync"]).ok();
    assert!(run.stderr.contains("PROJ-1 → Done"), "{}", run.stderr);
    assert_eq!(w.status(), "Done");
    assert_eq!(w.posts_to("/transitions"), 2, "no step taken twice");
    assert_eq!(w.comments().len(), 1);
}
