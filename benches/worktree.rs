//! What a worktree per ticket costs, in a repository of 200 files that
//! already has 10 ticket worktrees, measured as whole processes:
//!
//! - `csm start KEY --worktree --dry-run` against `csm start KEY --dry-run`
//!   from the same run (goal: the worktree plan adds ≤ 15 ms: git's
//!   version, the repository, its worktrees, whether the branch exists);
//! - `csm worktree list` against running the git commands it needs
//!   directly (one `git worktree list`, and `git status` and `git rev-list`
//!   per worktree) (goal: ≤ 15 ms over).
//!
//! Run with `cargo bench --bench worktree`; figures go to BENCHMARKS.md.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{csm, fake_codex, measure, report, run, verdict};

const WORKTREES: usize = 10;
const FILES: usize = 200;
const RUNS: usize = 30;

fn git(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("git");
    cmd.arg("-C")
        .arg(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.com")
        .env("GIT_COMMITTER_NAME", "Bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.com")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

fn main() {
    let root = tempfile::tempdir().expect("temp dir");
    let root_path = std::fs::canonicalize(root.path()).expect("canon");
    let home = root_path.join("home");
    let repo = root_path.join("repo");
    std::fs::create_dir_all(repo.join("src")).expect("mkdir");
    run(git(&repo, &["init", "-q", "-b", "main"]));
    for i in 0..FILES {
        std::fs::write(
            repo.join(format!("src/file{i}.rs")),
            format!("// file {i}\n"),
        )
        .expect("write");
    }
    run(git(&repo, &["add", "."]));
    run(git(&repo, &["commit", "-q", "-m", "init"]));
    let codex = fake_codex(&root_path);
    let with_codex = |args: &[&str]| {
        let mut cmd = csm(&home, &repo, args);
        cmd.env("CSM_CODEX_BIN", &codex)
            .env("OPENAI_API_KEY", "sk-bench");
        cmd
    };
    for i in 0..=WORKTREES {
        run(with_codex(&[
            "ticket",
            "new",
            &format!("Ticket number {i} with a realistic summary"),
            "--ac",
            // Observable, so that `start`'s readiness lint lets it through.
            "running the tool prints the greeting and exits with code 0",
        ]));
    }
    // Ten tickets with worktrees (made by csm, recorded in its store).
    for i in 1..=WORKTREES {
        run(with_codex(&["start", &format!("CSM-{i}"), "--worktree"]));
    }
    let key = format!("CSM-{}", WORKTREES + 1);

    let plain = measure(RUNS, || run(with_codex(&["start", &key, "--dry-run"])));
    let planned = measure(RUNS, || {
        run(with_codex(&["start", &key, "--worktree", "--dry-run"]))
    });
    report("csm start --dry-run (baseline)", plain, plain);
    report("csm start --worktree --dry-run", planned, plain);
    let over = planned.0.saturating_sub(plain.0);
    println!(
        "worktree plan adds {:.2} ms (goal ≤ 15 ms) → {}",
        over.as_secs_f64() * 1e3,
        verdict(over <= Duration::from_millis(15))
    );

    let worktrees: Vec<_> = (1..=WORKTREES)
        .map(|i| {
            root_path.join(format!(
                "repo.worktrees/csm-{i}-ticket-number-{}-with-a-realistic-summary",
                i - 1
            ))
        })
        .collect();
    for w in &worktrees {
        assert!(w.is_dir(), "{} missing", w.display());
    }
    let direct = || {
        run(git(&repo, &["worktree", "list", "--porcelain"]));
        for (i, w) in worktrees.iter().enumerate() {
            run(git(
                w,
                &["status", "--porcelain", "-z", "--untracked-files=all"],
            ));
            let exclude = format!(
                "--exclude=csm-{}-ticket-number-{i}-with-a-realistic-summary",
                i + 1
            );
            run(git(
                w,
                &[
                    "rev-list",
                    "--oneline",
                    "HEAD",
                    "--not",
                    &exclude,
                    "--branches",
                    "--remotes",
                ],
            ));
        }
    };
    let git_only = measure(RUNS, direct);
    let list = measure(RUNS, || run(with_codex(&["worktree", "list"])));
    report("the git commands alone (baseline)", git_only, git_only);
    report("csm worktree list, 10 worktrees", list, git_only);
    let over = list.0.saturating_sub(git_only.0);
    println!(
        "csm worktree list adds {:.2} ms (goal ≤ 15 ms) → {}",
        over.as_secs_f64() * 1e3,
        verdict(over <= Duration::from_millis(15))
    );
}
