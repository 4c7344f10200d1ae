//! A branch and a git worktree per ticket: `csm start --worktree`, reuse,
//! `csm worktree list` and `prune`, and the errors, with the real git and
//! (in the end-to-end test) the real Codex.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use csm::store::Store;

use crate::support::env::{TestEnv, write_script};
use crate::support::mock_model::{MockModel, codex_bin};
use crate::support::tmux::Tmux;

/// Runs git in `dir` with a private identity and no user or system
/// config; panics on failure.
fn git(env: &TestEnv, dir: &Path, args: &[&str]) -> String {
    let out = git_cmd(env, dir, args).output().expect("run git");
    assert!(
        out.status.success(),
        "git {args:?} in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn git_cmd(env: &TestEnv, dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("git");
    cmd.arg("-C")
        .arg(dir)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", env.home())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.com")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.com");
    cmd
}

/// The work folder's real path (git reports real paths).
fn real(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap()
}

/// `<work>.worktrees/<branch>`.
fn sibling(env: &TestEnv, branch: &str) -> PathBuf {
    real(env.root()).join("work.worktrees").join(branch)
}

/// A repository with one commit in the work folder, a stand-in `codex`
/// that notes the folder it runs in and exits, and one ready ticket.
fn repo_env() -> TestEnv {
    let mut env = TestEnv::new();
    git(&env, env.work(), &["init", "-q", "-b", "main"]);
    std::fs::write(env.work().join("README.md"), "# app\n").unwrap();
    git(&env, env.work(), &["add", "README.md"]);
    git(&env, env.work(), &["commit", "-q", "-m", "init"]);
    let codex = env.root().join("bin/codex");
    write_script(
        &codex,
        &format!(
            "if [ \"$1\" = --version ]; then echo 'codex-cli 0.169.0'; exit 0; fi\npwd >> '{}'",
            env.root().join("codex-cwd").display()
        ),
    );
    env.set_env("CSM_CODEX_BIN", &codex);
    env.set_env("OPENAI_API_KEY", "sk-test");
    env.run(&["ticket", "new", "Add a --json flag", "--ac", "prints JSON"])
        .ok();
    env
}

/// The folders the stand-in codex ran in, in order.
fn codex_cwds(env: &TestEnv) -> Vec<PathBuf> {
    std::fs::read_to_string(env.root().join("codex-cwd"))
        .unwrap_or_default()
        .lines()
        .map(PathBuf::from)
        .collect()
}

/// `git worktree list --porcelain` as (folder, branch) pairs.
fn worktrees(env: &TestEnv) -> Vec<(PathBuf, Option<String>)> {
    csm::worktree::parse_worktree_list(&git(env, env.work(), &["worktree", "list", "--porcelain"]))
        .into_iter()
        .map(|e| (e.path, e.branch))
        .collect()
}

/// Every file under `dir` (skipping `.git` internals and csm's logs)
/// with its contents.
fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            let shown = p.display().to_string();
            if shown.contains("/.local/state/csm/logs") {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((shown, std::fs::read(&p).unwrap_or_default()));
            }
        }
    }
    out.sort();
    out
}

fn one_error_line(stderr: &str) -> &str {
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    errors[0]
}

#[test]
fn start_makes_a_branch_and_worktree_and_runs_codex_there() {
    let env = repo_env();
    // A dirty main checkout: csm never touches it.
    std::fs::write(env.work().join("README.md"), "# app, edited\n").unwrap();
    let status_before = git(&env, env.work(), &["status", "--porcelain"]);
    let run = env.run(&["start", "CSM-1", "--worktree"]).ok();
    let wt = sibling(&env, "csm-1-add-a-json-flag");
    assert!(
        run.stderr.contains(&format!(
            "Made the worktree {} on the new branch csm-1-add-a-json-flag",
            wt.display()
        )),
        "{}",
        run.stderr
    );
    assert_eq!(codex_cwds(&env), std::slice::from_ref(&wt));
    assert_eq!(
        worktrees(&env),
        [
            (real(env.work()), Some("main".to_string())),
            (wt.clone(), Some("csm-1-add-a-json-flag".to_string()))
        ]
    );
    assert_eq!(
        std::fs::read_to_string(wt.join("README.md")).unwrap(),
        "# app\n",
        "the worktree starts from the last commit"
    );
    assert_eq!(
        git(&env, env.work(), &["status", "--porcelain"]),
        status_before
    );
    assert_eq!(
        std::fs::read_to_string(env.work().join("README.md")).unwrap(),
        "# app, edited\n"
    );
    let head = git(&env, env.work(), &["rev-parse", "HEAD"]);
    let store = Store::open(&env.store_file()).unwrap();
    let s = store.sessions_for_ticket("CSM-1").unwrap().remove(0);
    assert_eq!(s.folder, wt);
    assert_eq!(s.branch.as_deref(), Some("csm-1-add-a-json-flag"));
    assert_eq!(s.start_commit.as_deref(), Some(head.as_str()));

    // The branch is shown with the session.
    let list = env.run(&["list"]).ok();
    assert!(
        list.stdout.lines().next().unwrap().contains("BRANCH"),
        "{}",
        list.stdout
    );
    assert!(
        list.stdout.contains("csm-1-add-a-json-flag"),
        "{}",
        list.stdout
    );
    let json: serde_json::Value =
        serde_json::from_str(&env.run(&["list", "--json"]).ok().stdout).unwrap();
    assert_eq!(json[0]["branch"], "csm-1-add-a-json-flag");

    // A second start of the ticket finds the same worktree.
    let run = env.run(&["start", "CSM-1", "--worktree", "--new"]).ok();
    assert!(run.stderr.contains("Using the worktree"), "{}", run.stderr);
    assert_eq!(codex_cwds(&env), [wt.clone(), wt.clone()]);
    assert_eq!(worktrees(&env).len(), 2);
    let sessions = Store::open(&env.store_file())
        .unwrap()
        .sessions_for_ticket("CSM-1")
        .unwrap();
    assert_eq!(sessions[1].folder, wt);
    assert_eq!(sessions[1].start_commit.as_deref(), Some(head.as_str()));
}

/// Inside a ticket's worktree, `csm ticket` reads and writes the main
/// tree's tickets, not the copy the branch holds (committed tickets would
/// otherwise read as they were when the worktree was made).
#[test]
fn inside_a_worktree_tickets_are_the_main_trees() {
    let env = repo_env();
    git(&env, env.work(), &["add", ".csm"]);
    git(&env, env.work(), &["commit", "-q", "-m", "tickets"]);
    env.run(&["start", "CSM-1", "--worktree"]).ok();
    let wt = sibling(&env, "csm-1-add-a-json-flag");
    let copy = wt.join(".csm/tickets/CSM-1.md");
    let committed = std::fs::read_to_string(&copy).unwrap();

    let show = env.run_in(&wt, &["ticket", "show", "CSM-1"]).ok();
    assert!(show.stdout.contains("In Progress"), "{}", show.stdout);
    env.run_in(
        &wt,
        &["ticket", "new", "Add a --yaml flag", "--ac", "prints YAML"],
    )
    .ok();
    assert!(env.work().join(".csm/tickets/CSM-2.md").is_file());
    assert!(!wt.join(".csm/tickets/CSM-2.md").exists());
    assert_eq!(std::fs::read_to_string(&copy).unwrap(), committed);
}

#[test]
fn an_existing_branch_is_checked_out_and_its_own_commits_are_the_range() {
    let env = repo_env();
    let base = git(&env, env.work(), &["rev-parse", "HEAD"]);
    // The branch exists with a commit of its own; main moved on since.
    git(
        &env,
        env.work(),
        &["branch", "csm-1-add-a-json-flag", "HEAD"],
    );
    let tmp = env.root().join("tmp-wt");
    git(
        &env,
        env.work(),
        &[
            "worktree",
            "add",
            "-q",
            tmp.to_str().unwrap(),
            "csm-1-add-a-json-flag",
        ],
    );
    std::fs::write(tmp.join("json.rs"), "fn main() {}\n").unwrap();
    git(&env, &tmp, &["add", "json.rs"]);
    git(&env, &tmp, &["commit", "-q", "-m", "JSON output"]);
    let tip = git(&env, &tmp, &["rev-parse", "HEAD"]);
    git(
        &env,
        env.work(),
        &["worktree", "remove", tmp.to_str().unwrap()],
    );
    std::fs::write(env.work().join("main.txt"), "later\n").unwrap();
    git(&env, env.work(), &["add", "main.txt"]);
    git(&env, env.work(), &["commit", "-q", "-m", "main moves on"]);

    let run = env.run(&["start", "CSM-1", "--worktree"]).ok();
    assert!(
        run.stderr
            .contains("for the existing branch csm-1-add-a-json-flag"),
        "{}",
        run.stderr
    );
    let wt = sibling(&env, "csm-1-add-a-json-flag");
    assert_eq!(
        git(&env, &wt, &["rev-parse", "HEAD"]),
        tip,
        "checked out, not recreated"
    );
    let s = Store::open(&env.store_file())
        .unwrap()
        .sessions_for_ticket("CSM-1")
        .unwrap()
        .remove(0);
    assert_eq!(
        s.start_commit.as_deref(),
        Some(base.as_str()),
        "the merge base with main: the range holds only the branch's own commit"
    );
}

#[test]
fn dry_run_prints_the_git_commands_and_creates_nothing() {
    let env = repo_env();
    let before = files(env.root());
    let run = env.run(&["start", "CSM-1", "--worktree", "--dry-run"]).ok();
    let head = git(&env, env.work(), &["rev-parse", "HEAD"]);
    let wt = sibling(&env, "csm-1-add-a-json-flag");
    let plan = run.stdout.split("\n---\n").nth(1).unwrap();
    let mut lines = plan.lines();
    assert_eq!(
        lines.next().unwrap(),
        format!(
            "git -C {} worktree add -b csm-1-add-a-json-flag {} {head}",
            real(env.work()).display(),
            wt.display()
        )
    );
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with(&format!("cd {} && ", wt.display())),
        "{plan}"
    );
    assert!(
        run.stdout
            .contains("You are on the git branch `csm-1-add-a-json-flag`"),
        "{}",
        run.stdout
    );
    assert_eq!(
        files(env.root()),
        before,
        "no worktree, no branch, no store"
    );
    assert!(!env.store_file().exists());
    assert_eq!(worktrees(&env).len(), 1);
}

#[test]
fn outside_a_git_repository_start_fails_in_one_line_and_changes_nothing() {
    let mut env = TestEnv::new();
    std::fs::write(env.work().join(".csm.toml"), "").unwrap();
    env.set_env("CSM_CODEX_BIN", codex_bin());
    env.set_env("OPENAI_API_KEY", "sk-test");
    env.run(&["ticket", "new", "Add a --json flag", "--ac", "prints JSON"])
        .ok();
    let before = files(env.root());
    let run = env.run(&["start", "CSM-1", "--worktree"]).fails_with(2);
    assert_eq!(
        one_error_line(&run.stderr),
        format!(
            "error: {} is not in a git repository, so it cannot have worktrees",
            real(env.work()).display()
        )
    );
    assert!(
        run.stderr.contains("hint: run `git init`"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.is_empty());
    assert_eq!(
        files(env.root()),
        before,
        "nothing changed: ticket, store, folders"
    );
    assert!(!env.store_file().exists());
}

#[test]
fn hostile_summaries_make_valid_branch_names() {
    let env = repo_env();
    let hostile = [
        "../../etc/passwd and a/b/c",
        "feature/..//x .lock",
        "Ünïcödé façade — 日本語 🚀 naïve",
        "spaces   and\ttabs ~^:?*[\\ @{}",
        &"Very long summary ".repeat(17)[..300],
        "-leading dash.",
    ];
    let mut made = Vec::new();
    for (i, summary) in hostile.iter().enumerate() {
        env.run(&["ticket", "new", "--ac", "prints OK", "--", summary])
            .ok();
        let key = format!("CSM-{}", i + 2);
        // --force: a 300-character summary is not ready, on purpose.
        let run = env
            .run(&["start", &key, "--worktree", "--dry-run", "--force"])
            .ok();
        let line = run
            .stdout
            .lines()
            .find(|l| l.contains(" worktree add -b "))
            .unwrap_or_else(|| panic!("{}", run.stdout));
        let branch = line
            .split(" -b ")
            .nth(1)
            .unwrap()
            .split(' ')
            .next()
            .unwrap();
        let check = git_cmd(&env, env.work(), &["check-ref-format", "--branch", branch])
            .output()
            .unwrap();
        assert!(check.status.success(), "{summary:?} → {branch:?}");
        assert!(branch.len() <= csm::worktree::MAX_BRANCH_LEN, "{branch}");
        assert!(branch.starts_with(&format!("csm-{}", i + 2)), "{branch}");
        made.push(branch.to_string());
    }
    assert_eq!(made[0], "csm-2-etc-passwd-and-a-b-c");
    assert_eq!(made[2], "csm-4-unicode-facade-naive");
    // And git really makes the longest one.
    env.run(&["start", "CSM-6", "--worktree", "--force"]).ok();
    assert!(sibling(&env, &made[4]).is_dir());
}

#[test]
fn prune_refuses_to_lose_work_and_removes_a_clean_worktree() {
    let env = repo_env();
    env.run(&["start", "CSM-1", "--worktree"]).ok();
    let wt = sibling(&env, "csm-1-add-a-json-flag");

    // Uncommitted: a changed file and a new one.
    std::fs::write(wt.join("README.md"), "# app, changed\n").unwrap();
    std::fs::write(wt.join("notes.txt"), "draft\n").unwrap();
    let run = env.run(&["worktree", "prune", "CSM-1"]).fails_with(1);
    assert_eq!(
        one_error_line(&run.stderr),
        format!(
            "error: the worktree {} has work that would be lost: 2 uncommitted files (README.md, notes.txt)",
            wt.display()
        )
    );
    assert!(wt.is_dir());
    let listed = env.run(&["worktree", "list"]).ok();
    assert!(listed.stdout.contains("2 uncommitted"), "{}", listed.stdout);

    // Committed but on no remote or other branch.
    git(&env, &wt, &["add", "-A"]);
    git(&env, &wt, &["commit", "-q", "-m", "Notes on the flag"]);
    let short = git(&env, &wt, &["rev-parse", "--short", "HEAD"]);
    let run = env.run(&["worktree", "prune", "CSM-1"]).fails_with(1);
    assert!(
        one_error_line(&run.stderr).ends_with(&format!(
            "1 commit on no remote or other branch ({short} Notes on the flag)"
        )),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("push the commits"), "{}", run.stderr);

    // Pushed: safe. A further commit kept on another branch: safe too.
    let remote = env.root().join("remote.git");
    git(
        &env,
        env.root(),
        &["init", "-q", "--bare", remote.to_str().unwrap()],
    );
    git(
        &env,
        env.work(),
        &["remote", "add", "origin", remote.to_str().unwrap()],
    );
    git(
        &env,
        &wt,
        &["push", "-q", "origin", "csm-1-add-a-json-flag"],
    );
    std::fs::write(wt.join("more.txt"), "more\n").unwrap();
    git(&env, &wt, &["add", "more.txt"]);
    git(&env, &wt, &["commit", "-q", "-m", "More"]);
    let run = env.run(&["worktree", "prune", "CSM-1"]).fails_with(1);
    assert!(
        run.stderr.contains("(") && run.stderr.contains(" More)"),
        "{}",
        run.stderr
    );
    git(
        &env,
        env.work(),
        &["branch", "backup", "csm-1-add-a-json-flag"],
    );

    let dry = env.run(&["worktree", "prune", "CSM-1", "--dry-run"]).ok();
    assert!(dry.stdout.contains("worktree remove"), "{}", dry.stdout);
    assert!(wt.is_dir(), "a dry run removes nothing");
    let run = env.run(&["worktree", "prune", "CSM-1"]).ok();
    assert!(
        run.stderr.contains("Removed the worktree"),
        "{}",
        run.stderr
    );
    assert!(!wt.exists(), "the folder is gone");
    assert!(
        !env.root().join("work.worktrees").exists(),
        "and the parent folder it left empty"
    );
    assert_eq!(worktrees(&env).len(), 1, "and git's entry");
    assert!(
        !git(
            &env,
            env.work(),
            &["branch", "--list", "csm-1-add-a-json-flag"]
        )
        .is_empty(),
        "the branch stays"
    );
    env.run(&["worktree", "prune", "CSM-1"]).fails_with(3);
    let all = env.run(&["worktree", "list", "--all"]).ok();
    assert!(all.stdout.contains("removed"), "{}", all.stdout);
    assert!(env.run(&["worktree", "list"]).ok().stdout.is_empty());
}

#[test]
fn worktree_list_shows_ticket_branch_folder_and_state() {
    let env = repo_env();
    env.run(&["ticket", "new", "Second", "--ac", "prints OK"])
        .ok();
    env.run(&["start", "CSM-1", "--worktree"]).ok();
    env.run(&["start", "CSM-2", "--worktree"]).ok();
    std::fs::write(sibling(&env, "csm-2-second").join("x.txt"), "x").unwrap();
    let run = env.run(&["worktree", "list"]).ok();
    insta::assert_snapshot!(env.normalize(&run.stdout), @r#"
    KEY    BRANCH                 FOLDER                                                     STATE
    CSM-2  csm-2-second           $ROOT/work.worktrees/csm-2-second           1 uncommitted
    CSM-1  csm-1-add-a-json-flag  $ROOT/work.worktrees/csm-1-add-a-json-flag  clean
    "#);
    let json: serde_json::Value =
        serde_json::from_str(&env.run(&["worktree", "list", "--json"]).ok().stdout).unwrap();
    assert_eq!(json[0]["key"], "CSM-2");
    assert_eq!(json[0]["state"], "dirty");
    assert_eq!(json[0]["uncommitted"][0], "x.txt");
    assert_eq!(json[1]["state"], "clean");
    assert_eq!(json[1]["branch"], "csm-1-add-a-json-flag");

    // Forgetting the ticket leaves its worktree, and says where it is.
    let run = env.run(&["forget", "CSM-2"]).ok();
    assert!(
        run.stderr.contains(&format!(
            "CSM-2's worktree {} (branch csm-2-second) stays",
            sibling(&env, "csm-2-second").display()
        )),
        "{}",
        run.stderr
    );
    assert!(sibling(&env, "csm-2-second").join("x.txt").exists());
}

#[test]
fn branches_taken_elsewhere_are_refused_and_nothing_is_recorded() {
    let env = repo_env();
    env.run(&["ticket", "new", "Second", "--ac", "prints OK"])
        .ok();
    std::fs::write(
        env.work().join(".csm.toml"),
        "[worktree]\nbranch = \"main\"\n",
    )
    .unwrap();
    let run = env.run(&["start", "CSM-1", "--worktree"]).fails_with(1);
    assert_eq!(
        one_error_line(&run.stderr),
        format!(
            "error: branch main is checked out in the main checkout {}",
            real(env.work()).display()
        )
    );

    std::fs::write(
        env.work().join(".csm.toml"),
        "[worktree]\nbranch = \"shared\"\n",
    )
    .unwrap();
    env.run(&["start", "CSM-1", "--worktree"]).ok();
    let run = env.run(&["start", "CSM-2", "--worktree"]).fails_with(1);
    assert_eq!(
        one_error_line(&run.stderr),
        format!(
            "error: branch shared is already checked out in CSM-1's worktree {}",
            sibling(&env, "shared").display()
        )
    );
    let store = Store::open(&env.store_file()).unwrap();
    assert!(store.sessions_for_ticket("CSM-2").unwrap().is_empty());
    assert_eq!(codex_cwds(&env).len(), 1);

    // Something that is not a worktree where the worktree would go.
    std::fs::write(
        env.work().join(".csm.toml"),
        "[worktree]\nbranch = \"{{key}}\"\nparent = \"../elsewhere\"\n",
    )
    .unwrap();
    std::fs::create_dir_all(env.root().join("elsewhere/csm-2")).unwrap();
    let run = env.run(&["start", "CSM-2", "--worktree"]).fails_with(1);
    assert!(
        one_error_line(&run.stderr).contains("something that is not a worktree"),
        "{}",
        run.stderr
    );
    // A typo in the template is a configuration error.
    std::fs::write(
        env.work().join(".csm.toml"),
        "[worktree]\nbranch = \"{{key}}-{{sumary}}\"\n",
    )
    .unwrap();
    let run = env.run(&["start", "CSM-2", "--worktree"]).fails_with(2);
    assert!(
        one_error_line(&run.stderr).starts_with("error: [worktree] branch template:"),
        "{}",
        run.stderr
    );
    assert!(store.sessions_for_ticket("CSM-2").unwrap().is_empty());
}

#[test]
fn git_missing_or_too_old_is_refused_before_anything_else() {
    let mut env = repo_env();
    let bin = env.root().join("oldgit");
    write_script(
        &bin.join("git"),
        "[ \"$1\" = --version ] && echo 'git version 2.6.4' && exit 0\nexit 1",
    );
    env.set_env("PATH", &bin);
    let run = env.run(&["start", "CSM-1", "--worktree"]).fails_with(1);
    assert_eq!(
        one_error_line(&run.stderr),
        "error: git 2.6.4 is too old for worktrees: csm needs git 2.7.0 or newer"
    );
    let empty = env.root().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    env.set_env("PATH", &empty);
    let run = env.run(&["start", "CSM-1", "--worktree"]).fails_with(1);
    assert_eq!(
        one_error_line(&run.stderr),
        "error: git is not installed, and worktrees need it"
    );
    assert!(!env.store_file().exists());
}

#[test]
fn the_config_default_makes_worktrees_and_no_worktree_opts_out() {
    let env = repo_env();
    env.run(&["ticket", "new", "Second", "--ac", "prints OK"])
        .ok();
    std::fs::write(
        env.work().join(".csm.toml"),
        "[workflow]\nworktree = true\n[worktree]\nbranch = \"{{slug type}}/{{key}}\"\n",
    )
    .unwrap();
    env.run(&["start", "CSM-1"]).ok();
    env.run(&["start", "CSM-2", "--no-worktree"]).ok();
    assert_eq!(
        codex_cwds(&env),
        [sibling(&env, "csm-1"), real(env.work())],
        "no type: the empty part is dropped"
    );
    let sub = env.work().join("src/api");
    std::fs::create_dir_all(&sub).unwrap();
    std::fs::write(sub.join("lib.rs"), "").unwrap();
    git(&env, env.work(), &["add", "src"]);
    git(&env, env.work(), &["commit", "-q", "-m", "api"]);
    env.run(&["ticket", "new", "Third", "--ac", "prints OK"])
        .ok();
    env.run_in(&sub, &["start", "CSM-3"]).ok();
    assert_eq!(
        codex_cwds(&env)[2],
        sibling(&env, "csm-3").join("src/api"),
        "the same place inside the worktree"
    );
}

/// Writes a rollout for `id` in `folder`, so resume finds the session.
fn fake_rollout(env: &TestEnv, id: &str, folder: &Path) {
    let day = env.codex_home().join("sessions/2026/01/01");
    std::fs::create_dir_all(&day).unwrap();
    let meta = serde_json::json!({"type": "session_meta", "payload": {"id": id, "cwd": folder}});
    std::fs::write(
        day.join(format!("rollout-2026-01-01T00-00-00-{id}.jsonl")),
        format!("{meta}\n"),
    )
    .unwrap();
}

#[test]
fn resume_brings_back_a_removed_worktree_on_its_branch() {
    let env = repo_env();
    env.run(&["start", "CSM-1", "--worktree"]).ok();
    let wt = sibling(&env, "csm-1-add-a-json-flag");
    let id = "019a0000-0000-7000-8000-0000000000aa";
    let store = Store::open(&env.store_file()).unwrap();
    let s = store.sessions_for_ticket("CSM-1").unwrap().remove(0);
    store.set_codex_session_id(s.id, id).unwrap();
    fake_rollout(&env, id, &wt);
    std::fs::write(wt.join("work.txt"), "kept\n").unwrap();
    git(&env, &wt, &["add", "work.txt"]);
    git(&env, &wt, &["commit", "-q", "-m", "work"]);
    git(
        &env,
        env.work(),
        &["branch", "backup", "csm-1-add-a-json-flag"],
    );
    env.run(&["worktree", "prune", "CSM-1"]).ok();
    assert!(!wt.exists());

    let run = env
        .run_in(&env.home(), &["resume", "CSM-1", "--dry-run"])
        .ok();
    assert!(
        run.stdout.contains(&format!(
            "worktree add {} csm-1-add-a-json-flag",
            wt.display()
        )),
        "{}",
        run.stdout
    );
    assert!(!wt.exists(), "a dry run makes nothing");
    env.run_in(&env.home(), &["resume", "CSM-1"]).ok();
    assert_eq!(codex_cwds(&env).last(), Some(&wt));
    assert_eq!(
        std::fs::read_to_string(wt.join("work.txt")).unwrap(),
        "kept\n"
    );
    let listed = env.run(&["worktree", "list"]).ok();
    assert!(listed.stdout.contains("clean"), "{}", listed.stdout);
}

// ---------------------------------------------------------------------
// end to end with the real Codex

const CODEX_START: Duration = Duration::from_secs(30);

fn csm_line(tmux: &Tmux, dir: &Path, args: &str) {
    tmux.line(&format!(
        "cd '{}' && '{}' {args}; printf 'CSM-%s %s\\n' EXITED $?",
        dir.display(),
        env!("CARGO_BIN_EXE_csm")
    ));
}

fn quit_codex(tmux: &Tmux) {
    tmux.type_text("/quit");
    std::thread::sleep(Duration::from_millis(300));
    tmux.press("Enter");
    tmux.wait_for_within("csm to exit", CODEX_START, |s| s.contains("CSM-EXITED"));
}

/// The folder of every turn Codex recorded in a rollout (`turn_context`
/// lines), in order.
fn turn_cwds(path: &Path) -> Vec<PathBuf> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["type"] == "turn_context")
        .filter_map(|v| v["payload"]["cwd"].as_str().map(PathBuf::from))
        .collect()
}

#[test]
fn two_tickets_run_in_two_worktrees_and_each_resume_returns_to_its_own() {
    let mut env = TestEnv::new();
    git(&env, env.work(), &["init", "-q", "-b", "main"]);
    std::fs::write(env.work().join("README.md"), "# app\n").unwrap();
    git(&env, env.work(), &["add", "README.md"]);
    git(&env, env.work(), &["commit", "-q", "-m", "init"]);
    let model = MockModel::start();
    // Codex asks whether to trust a git folder it has not seen; the
    // user trusted the repository once.
    let trusted = format!(
        "[projects.\"{}\"]\ntrust_level = \"trusted\"\n",
        real(env.work()).display()
    );
    model.serve_real_codex(&mut env, &trusted);
    // The flag is the user's: a repository file may not add Codex flags.
    env.write_user_config("[codex]\nargs = [\"--no-daemon\"]\n");
    std::fs::write(env.work().join(".csm.toml"), "").unwrap();
    env.run(&["ticket", "new", "Add a --json flag", "--ac", "prints JSON"])
        .ok();
    env.run(&[
        "ticket",
        "new",
        "Fix the crash",
        "--ac",
        "exits 0 on empty input",
    ])
    .ok();
    let status_before = git(&env, env.work(), &["status", "--porcelain"]);

    let (a, b) = (env.terminal(120, 40), env.terminal(120, 40));
    model.push_text("On it.");
    model.push_text("On it too.");
    csm_line(&a, env.work(), "start CSM-1 --worktree");
    csm_line(&b, env.work(), "start CSM-2 --worktree");
    let turns = model.wait_for_turns(2, CODEX_START);
    let ids = env.captured_codex_ids(&["CSM-1", "CSM-2"], CODEX_START);
    assert_ne!(ids[0], ids[1]);

    let wt1 = sibling(&env, "csm-1-add-a-json-flag");
    let wt2 = sibling(&env, "csm-2-fix-the-crash");
    // Two worktrees on two branches, as git sees them.
    let mut listed = worktrees(&env);
    listed.sort();
    let mut expected = vec![
        (real(env.work()), Some("main".to_string())),
        (wt1.clone(), Some("csm-1-add-a-json-flag".to_string())),
        (wt2.clone(), Some("csm-2-fix-the-crash".to_string())),
    ];
    expected.sort();
    assert_eq!(listed, expected);
    // Where Codex says each session runs.
    for (id, wt) in ids.iter().zip([&wt1, &wt2]) {
        let rollout = csm::codex::rollout::find(&env.codex_home(), id).unwrap();
        let meta = csm::codex::rollout::read_meta(&rollout).unwrap();
        assert_eq!(&meta.cwd, wt, "session_meta.cwd of {id}");
    }
    // Each prompt names its own branch.
    for (key, branch) in [
        ("CSM-1", "csm-1-add-a-json-flag"),
        ("CSM-2", "csm-2-fix-the-crash"),
    ] {
        let prompt = turns
            .iter()
            .map(|t| t.texts("user").join("\n"))
            .find(|p| p.contains(&format!("ticket {key}:")))
            .unwrap();
        assert!(
            prompt.contains(&format!("You are on the git branch `{branch}`")),
            "{prompt}"
        );
    }
    quit_codex(&a);
    quit_codex(&b);

    // Each resume, from anywhere, goes back to its own worktree.
    for (n, (tmux, (id, wt))) in [&a, &b]
        .into_iter()
        .zip(ids.iter().zip([&wt1, &wt2]))
        .enumerate()
    {
        let key = format!("CSM-{}", n + 1);
        model.push_text("Back again.");
        tmux.line("clear");
        csm_line(tmux, &env.home(), &format!("resume {key}"));
        // Nothing changed on the ticket, so the user says something.
        tmux.wait_for_within("the history", CODEX_START, |s| s.contains("On it"));
        std::thread::sleep(Duration::from_millis(500));
        tmux.type_text("continue");
        std::thread::sleep(Duration::from_millis(300));
        tmux.press("Enter");
        let turns = model.wait_for_turns(3 + n, CODEX_START);
        let last = turns.last().unwrap();
        assert_eq!(last.headers.get("thread-id"), Some(id));
        tmux.wait_for_within("the answer", CODEX_START, |s| s.contains("Back again."));
        quit_codex(tmux);
        let rollout = csm::codex::rollout::find(&env.codex_home(), id).unwrap();
        let cwds = turn_cwds(&rollout);
        assert!(cwds.len() >= 2, "{cwds:?}");
        assert!(cwds.iter().all(|c| c == wt), "{key}: {cwds:?}");
    }

    // The main checkout was never touched.
    assert_eq!(
        git(&env, env.work(), &["status", "--porcelain"]),
        status_before
    );
    assert_eq!(git(&env, env.work(), &["branch", "--show-current"]), "main");
}
