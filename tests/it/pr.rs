//! `csm done --pr` end to end: `csm start --worktree`, a real Codex session
//! (the pinned binary against the mock model), a bare repository as
//! `origin`, the fake GitHub for the pull request and the fake Jira for
//! the remote link; the push and the pull request go through the outbox.

use std::path::PathBuf;

use csm::store::Store;
use serde_json::{Value, json};

use crate::support::env::{TestEnv, write_script};
use crate::support::fake_github::{FakeGithub, READ_ONLY_TOKEN, TOKEN};
use crate::support::fake_jira::{self, FakeJira, Mode};
use crate::support::git::{commit_file, git};
use crate::support::mock_model::{MockModel, codex_bin, exec_session};

const REPO: &str = "acme/app";
const CRITERIA: [&str; 2] = ["csm list --csv prints CSV", "one row per session"];

/// A repository whose `origin` is a bare repository, csm configured for
/// the fake GitHub (`[github] repo`, since a path remote names no GitHub
/// repository), the mock model behind the real Codex.
struct World {
    env: TestEnv,
    model: MockModel,
    github: FakeGithub,
    jira: Option<FakeJira>,
    origin: PathBuf,
    key: String,
    /// The folder the session works in (the worktree, or the checkout).
    tree: PathBuf,
    branch: String,
}

impl World {
    fn base(jira: Option<&FakeJira>) -> (TestEnv, MockModel, FakeGithub, PathBuf) {
        let github = FakeGithub::start();
        github.add_repo(REPO, true);
        let mut env = TestEnv::new();
        let model = MockModel::start();
        model.write_codex_config(&env.codex_home(), "");
        for (k, v) in MockModel::hermetic_env() {
            env.set_env(k, v);
        }
        env.set_env("GH_TOKEN", TOKEN);
        let tracker = match jira {
            Some(j) => {
                env.set_env("CSM_JIRA_TOKEN", fake_jira::TOKEN);
                j.csm_config("PROJ")
            }
            None => String::new(),
        };
        env.write_user_config(&format!(
            "{tracker}\n[github]\napi_url = \"{}\"\nrepo = \"{REPO}\"\ntimeout_secs = 5\n",
            github.url()
        ));
        let work = env.work().to_path_buf();
        git(&work, &["init", "-q", "-b", "main"]);
        commit_file(&work, "README.md", "# app\n", "Initial commit");
        let origin = env.root().join("origin.git");
        git(
            env.root(),
            &[
                "init",
                "-q",
                "--bare",
                "-b",
                "main",
                origin.to_str().unwrap(),
            ],
        );
        git(
            &work,
            &["remote", "add", "origin", origin.to_str().unwrap()],
        );
        git(&work, &["push", "-q", "origin", "main"]);
        (env, model, github, origin)
    }

    /// A local ticket, `csm start CSM-1 --worktree` (a stand-in Codex: no
    /// terminal here), then a real Codex session in the worktree as the
    /// session's, and a commit.
    fn local() -> World {
        let (mut env, model, github, origin) = World::base(None);
        let mut args = vec!["ticket", "new", "Export sessions as CSV"];
        for c in CRITERIA {
            args.extend(["--ac", c]);
        }
        env.run(&args).ok();
        let stand_in = env.root().join("bin/codex");
        write_script(
            &stand_in,
            "case \"$1\" in --version) echo 'codex-cli 0.169.0';; esac; exit 0",
        );
        env.set_env("CSM_CODEX_BIN", &stand_in);
        env.run(&["start", "CSM-1", "--worktree"]).ok();
        env.set_env("CSM_CODEX_BIN", codex_bin());
        let store = Store::open(&env.store_file()).unwrap();
        let session = store.sessions_for_ticket("CSM-1").unwrap().remove(0);
        let tree = session.folder.clone();
        let branch = session.branch.clone().unwrap();
        model.push_text("Working in the worktree.");
        let id = exec_session(env.env_vars(), &tree, "Work on CSM-1");
        store.set_codex_session_id(session.id, &id).unwrap();
        commit_file(&tree, "csv.rs", "fn csv() {}\n", "Add CSV export");
        World {
            env,
            model,
            github,
            jira: None,
            origin,
            key: "CSM-1".into(),
            tree,
            branch,
        }
    }

    /// A Jira ticket worked on a branch of the checkout.
    fn jira(mode: Mode) -> World {
        let fake = FakeJira::start(mode);
        fake.add_issue(
            "PROJ-1",
            "Export sessions as CSV",
            "A spreadsheet.",
            &CRITERIA,
        );
        let (mut env, model, github, origin) = World::base(Some(&fake));
        env.set_env("CSM_CODEX_BIN", codex_bin());
        let work = env.work().to_path_buf();
        git(&work, &["checkout", "-q", "-b", "proj-1-csv"]);
        model.push_text("I will add the CSV export.");
        let id = exec_session(env.env_vars(), &work, "Work on the ticket");
        env.run(&["link", "PROJ-1", &id]).ok();
        commit_file(&work, "csv.rs", "fn csv() {}\n", "Add CSV export");
        World {
            env,
            model,
            github,
            jira: Some(fake),
            origin,
            key: "PROJ-1".into(),
            tree: work,
            branch: "proj-1-csv".into(),
        }
    }

    fn answer(&self, statuses: &[&str]) {
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

    fn store(&self) -> Store {
        Store::open(&self.env.store_file()).unwrap()
    }

    fn remote_branches(&self) -> String {
        git(&self.tree, &["ls-remote", "--heads", "origin"])
    }

    fn ticket_file(&self) -> String {
        std::fs::read_to_string(
            self.env
                .work()
                .join(format!(".csm/tickets/{}.md", self.key)),
        )
        .unwrap()
    }
}

fn pr_url(number: u64) -> String {
    format!("https://github.example/{REPO}/pull/{number}")
}

fn error_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.starts_with("error:")).collect()
}

#[test]
fn done_pr_pushes_opens_one_pull_request_and_links_it_everywhere() {
    let w = World::local();
    w.answer(&["met", "met"]);
    let run = w.env.run(&["-vv", "done", "CSM-1", "--pr"]).ok();
    // The GitHub token: in no output, and in no file under the test's root
    // (the store with its queued items, the logs, the repositories).
    assert!(!run.stdout.contains(TOKEN) && !run.stderr.contains(TOKEN));
    let mut stack = vec![w.env.root().to_path_buf()];
    let mut seen_store = false;
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                seen_store |= p.ends_with("csm.db");
                let bytes = std::fs::read(&p).unwrap_or_default();
                assert!(
                    !bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()),
                    "the token is in {}",
                    p.display()
                );
            }
        }
    }
    assert!(seen_store);

    // Pushed: the branch is on origin.
    let heads = w.remote_branches();
    assert!(
        heads.contains(&format!("refs/heads/{}", w.branch)),
        "{heads}"
    );
    // Exactly one pull request, from the branch, into the default branch,
    // ready (every criterion met), with every verdict in its body.
    let pulls = w.github.pulls(REPO);
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    let pr = &pulls[0];
    assert_eq!(pr.head, w.branch);
    assert_eq!(pr.base, "main");
    assert!(!pr.draft);
    assert_eq!(pr.title, "CSM-1: Export sessions as CSV");
    assert_eq!(pr.body.matches("✅ met").count(), 2, "{}", pr.body);
    for needle in CRITERIA
        .iter()
        .copied()
        .chain(["Add CSV export", "case_1 passes"])
    {
        assert!(pr.body.contains(needle), "{needle}: {}", pr.body);
    }
    assert!(!pr.body.contains("Closes"), "a local ticket: {}", pr.body);
    // Its URL: printed, in the note, in the ticket's file, in the store.
    let url = pr_url(pr.number);
    assert!(run.stdout.contains(&url), "{run:?}");
    let ticket = w.ticket_file();
    assert!(
        ticket.contains(&format!("pull_request = \"{url}\"")),
        "{ticket}"
    );
    assert!(
        ticket.contains(&format!("**Pull request:** {url}")),
        "the note: {ticket}"
    );
    assert!(!ticket.contains("@@csm-pull-request@@"), "{ticket}");
    let list: Value =
        serde_json::from_str(&w.env.run(&["list", "--all", "--json"]).ok().stdout).unwrap();
    assert_eq!(list[0]["pull_request"], url.as_str(), "{list}");
    let show = w.env.run(&["show", "CSM-1"]).ok();
    assert!(
        show.stdout.contains(&format!("pull request:  {url}")),
        "{}",
        show.stdout
    );
    assert!(w.store().outbox_pending().unwrap().is_empty());

    // Again, with GitHub's list lagging behind: the create answers 422
    // "already exists", the pull request is found and its body updated.
    w.github.hide_next_pull_listing();
    w.model.push_text(
        &json!({"summary": "Second look.", "criteria": [
            {"number": 1, "status": "met", "evidence": "rechecked one"},
            {"number": 2, "status": "met", "evidence": "rechecked two"}]})
        .to_string(),
    );
    w.github.clear_requests();
    let run = w.env.run(&["done", "CSM-1", "--pr"]).ok();
    let pulls = w.github.pulls(REPO);
    assert_eq!(pulls.len(), 1, "no second pull request: {pulls:?}");
    assert!(pulls[0].body.contains("rechecked two"), "{}", pulls[0].body);
    let methods: Vec<String> = w
        .github
        .requests()
        .iter()
        .filter(|r| r.uri.contains("/pulls"))
        .map(|r| r.method.clone())
        .collect();
    assert_eq!(methods, ["GET", "POST", "GET", "PATCH"], "{methods:?}");
    assert!(run.stdout.contains(&url), "{run:?}");
}

#[test]
fn a_jira_ticket_gets_one_remote_link_and_the_url_in_its_note() {
    for mode in [Mode::Cloud, Mode::DataCenter] {
        jira_remote_link(mode);
    }
}

fn jira_remote_link(mode: Mode) {
    let w = World::jira(mode);
    let jira = w.jira.as_ref().unwrap();
    w.answer(&["met", "not_met"]);
    let run = w.env.run(&["done", "PROJ-1", "--pr"]).fails_with(1);
    // A criterion not shown met: the ticket stays, the pull request is a
    // draft, the note and the link are there.
    let pulls = w.github.pulls(REPO);
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    assert!(pulls[0].draft, "an open criterion makes it a draft");
    assert!(pulls[0].body.contains("❌ not met"), "{}", pulls[0].body);
    assert!(
        pulls[0]
            .body
            .contains(&format!("{}/browse/PROJ-1", jira.url())),
        "the ticket's link: {}",
        pulls[0].body
    );
    let url = pr_url(pulls[0].number);
    assert!(run.stdout.contains(&url), "{run:?}");
    let links = jira.remote_links("PROJ-1");
    assert_eq!(links.len(), 1, "{links:?}");
    assert_eq!(links[0]["object"]["url"], url.as_str());
    assert_eq!(
        links[0]["object"]["title"],
        "PROJ-1: Export sessions as CSV"
    );
    let issue = jira.issue("PROJ-1").unwrap();
    assert_eq!(issue.comments.len(), 1);
    let note = match mode {
        Mode::Cloud => csm::tracker::jira::adf::to_markdown(&issue.comments[0]["body"]),
        Mode::DataCenter => {
            csm::tracker::jira::wiki::to_markdown(issue.comments[0]["body"].as_str().unwrap())
        }
    };
    assert!(note.contains(&url), "{note}");

    // Forced the second time: the same pull request, still one link.
    w.answer(&["met", "not_met"]);
    w.env.run(&["done", "PROJ-1", "--pr", "--force"]).ok();
    assert_eq!(w.github.pulls(REPO).len(), 1);
    assert_eq!(jira.remote_links("PROJ-1").len(), 1, "upserted by globalId");
    assert_eq!(jira.issue("PROJ-1").unwrap().status, "Done");
}

#[test]
fn a_refused_push_stops_before_the_pull_request_and_the_note_still_goes_out() {
    let w = World::local();
    let hook = w.origin.join("hooks/pre-receive");
    write_script(
        &hook,
        "echo 'pushes to this repository are closed' >&2\nexit 1",
    );
    w.answer(&["met", "met"]);
    let run = w.env.run(&["done", "CSM-1", "--pr"]).fails_with(1);
    let errors = error_lines(&run.stderr);
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(
        errors[0].contains("pushes to this repository are closed"),
        "git's message: {}",
        run.stderr
    );
    assert!(run.stderr.contains("hint:"), "{}", run.stderr);
    assert!(run.stderr.contains("csm done CSM-1 --pr"), "{}", run.stderr);
    assert!(w.github.pulls(REPO).is_empty(), "no pull request");
    assert!(!w.remote_branches().contains(&w.branch));
    // The note went out, and the move.
    let ticket = w.ticket_file();
    assert!(ticket.contains("status = \"Done\""), "{ticket}");
    assert!(
        ticket.contains("**Pull request:** not opened yet"),
        "{ticket}"
    );
    // The push and the pull request wait in the outbox.
    let kinds: Vec<String> = w
        .store()
        .outbox_pending()
        .unwrap()
        .into_iter()
        .map(|i| i.kind)
        .collect();
    assert_eq!(kinds, ["push", "pull-request", "pr-link"]);

    // The remote opens again: the next run sends what waits, nothing else.
    std::fs::remove_file(&hook).unwrap();
    let run = w.env.run(&["done", "CSM-1", "--pr"]).ok();
    assert!(run.stderr.contains("still waiting"), "{}", run.stderr);
    assert!(run.stderr.contains("Pushed"), "{}", run.stderr);
    assert!(w.remote_branches().contains(&w.branch));
    let pulls = w.github.pulls(REPO);
    assert_eq!(pulls.len(), 1);
    let url = pr_url(pulls[0].number);
    assert!(run.stdout.contains(&url), "{run:?}");
    assert!(
        w.ticket_file()
            .contains(&format!("pull_request = \"{url}\""))
    );
    assert!(w.store().outbox_pending().unwrap().is_empty());
}

#[test]
fn a_token_without_pull_request_access_is_named_and_an_existing_pull_request_is_reused() {
    let mut w = World::local();
    w.env.set_env("GH_TOKEN", READ_ONLY_TOKEN);
    w.answer(&["met", "met"]);
    let run = w.env.run(&["done", "CSM-1", "--pr"]).fails_with(1);
    let errors = error_lines(&run.stderr);
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(errors[0].contains("pull_requests: write"), "{}", run.stderr);
    assert!(w.remote_branches().contains(&w.branch), "pushed first");
    assert!(
        w.ticket_file().contains("status = \"Done\""),
        "the note went out"
    );
    assert!(w.github.pulls(REPO).is_empty());

    // Someone opened the branch's pull request meanwhile: it is reused,
    // its body updated, when `csm sync` (with a good token) sends what
    // waits.
    let listed = w.env.run(&["sync", "--list"]).ok();
    assert!(
        listed.stdout.contains("the pull request"),
        "{}",
        listed.stdout
    );
    let n = w.github.add_pull(REPO, &w.branch, "by hand", "old body");
    w.env.set_env("GH_TOKEN", TOKEN);
    let run = w.env.run(&["sync"]).ok();
    let pulls = w.github.pulls(REPO);
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    assert_eq!(pulls[0].number, n);
    assert!(pulls[0].body.contains("✅ met"), "{}", pulls[0].body);
    assert!(run.stdout.contains(&pr_url(n)), "{run:?}");
    assert!(w.store().outbox_pending().unwrap().is_empty());
}

#[test]
fn killed_between_the_push_and_the_pull_request_the_next_run_opens_one() {
    let mut w = World::local();
    w.answer(&["met", "met"]);
    w.env.set_env("CSM_CRASH_AT", "outbox:pushed");
    let run = w.env.run(&["done", "CSM-1", "--pr"]);
    assert_eq!(run.code, -1, "killed: {run:?}");
    assert!(w.remote_branches().contains(&w.branch), "pushed");
    assert!(w.github.pulls(REPO).is_empty());
    let pending = w.store().outbox_pending().unwrap();
    let kinds: Vec<&str> = pending.iter().map(|i| i.kind.as_str()).collect();
    assert_eq!(kinds[0], "push", "its outcome unknown: {kinds:?}");
    assert_eq!(pending[0].attempts, 1);
    assert!(kinds.contains(&"pull-request") && kinds.contains(&"comment"));

    w.env.remove_env("CSM_CRASH_AT");
    let run = w.env.run(&["done", "CSM-1", "--pr"]).ok();
    let pulls = w.github.pulls(REPO);
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    let url = pr_url(pulls[0].number);
    assert!(run.stdout.contains(&url), "{run:?}");
    let ticket = w.ticket_file();
    assert_eq!(
        ticket.matches("Completion report").count(),
        1,
        "one note: {ticket}"
    );
    assert!(
        ticket.contains(&format!("**Pull request:** {url}")),
        "{ticket}"
    );
    assert!(w.store().outbox_pending().unwrap().is_empty());
    let session = &w.store().sessions_for_ticket("CSM-1").unwrap()[0];
    assert_eq!(
        csm::session::pull_request(&w.store(), session.id).unwrap(),
        Some(url)
    );
}

#[test]
fn without_a_github_repository_done_pr_says_so_in_one_line_before_codex() {
    let mut w = World::local();
    w.env.write_user_config(&format!(
        "[github]\napi_url = \"{}\"\ntimeout_secs = 5\n",
        w.github.url()
    ));
    let run = w.env.run(&["done", "CSM-1", "--pr"]).fails_with(2);
    let errors = error_lines(&run.stderr);
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(errors[0].contains("[github] repo"), "{}", run.stderr);
    assert!(
        w.model.turns().len() <= 1,
        "Codex was not asked for a report"
    );
    assert!(w.store().outbox_pending().unwrap().is_empty());
    let _ = &mut w;
}

#[test]
fn a_github_issue_with_workflow_pr_closes_the_issue_from_a_draft_into_the_chosen_base() {
    const BODY: &str = "Users want a spreadsheet.\n\n## Acceptance criteria\n\n- [ ] csm list --csv prints CSV\n- [ ] one row per session\n";
    let (mut env, model, github, _origin) = World::base(None);
    let n = github.add_issue(REPO, "Export sessions as CSV", BODY);
    env.write_user_config(&format!(
        "[tracker]\nkind = \"github\"\n[github]\napi_url = \"{}\"\nrepo = \"{REPO}\"\ntimeout_secs = 5\n[workflow]\npr = true\n",
        github.url()
    ));
    env.set_env("CSM_CODEX_BIN", codex_bin());
    let work = env.work().to_path_buf();
    git(&work, &["checkout", "-q", "-b", "issue-1-csv"]);
    model.push_text("I will add the CSV export.");
    let id = exec_session(env.env_vars(), &work, "Work on the issue");
    let key = format!("{REPO}#{n}");
    env.run(&["link", &key, &id]).ok();
    commit_file(&work, "csv.rs", "fn csv() {}\n", "Add CSV export");
    let answer = json!({"summary": "CSV.", "criteria": [
        {"number": 1, "status": "met", "evidence": "t1"},
        {"number": 2, "status": "met", "evidence": "t2"}]})
    .to_string();

    // The dry run says what would happen and changes nothing.
    model.push_text(&answer);
    let dry = env
        .run(&["done", &key, "--dry-run", "--draft", "--base", "develop"])
        .ok();
    assert!(
        dry.stdout.contains(
            "would push issue-1-csv to origin and open a draft pull request on acme/app into develop"
        ),
        "{}",
        dry.stdout
    );
    assert!(github.pulls(REPO).is_empty());

    // `[workflow] pr = true`: no --pr needed.
    model.push_text(&answer);
    env.run(&["done", &key, "--draft", "--base", "develop"])
        .ok();
    let pulls = github.pulls(REPO);
    assert_eq!(pulls.len(), 1, "{pulls:?}");
    assert_eq!(pulls[0].base, "develop");
    assert!(pulls[0].draft, "--draft, though every criterion is met");
    assert!(
        pulls[0].body.contains(&format!("Closes #{n}")),
        "{}",
        pulls[0].body
    );
    assert_eq!(
        pulls[0].title,
        format!("{REPO}#{n}: Export sessions as CSV")
    );
    // The note on the issue carries the URL; the issue is closed.
    let issue = github.issue(REPO, n);
    assert_eq!(issue.state, "closed");
    let note = &issue.comments.last().unwrap().1;
    assert!(note.contains(&pr_url(pulls[0].number)), "{note}");
}
