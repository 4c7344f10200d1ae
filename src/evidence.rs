//! What the repository shows of a session's work, for `csm done`: commits
//! since the session started, the diffstat against the start commit,
//! uncommitted files, and the tests' result when asked to run them.

use std::path::Path;
use std::process::{Command, Stdio};

use serde::Serialize;

use crate::event::EventKind;
use crate::git::{self, Commit};

/// The repository's side of the evidence.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RepoEvidence {
    /// The branch worked on.
    pub branch: Option<String>,
    /// The start commit, abbreviated, when still in the repository.
    pub base: Option<String>,
    /// Commits since the start, oldest first.
    pub commits: Vec<Commit>,
    /// `git diff --stat` against the start commit.
    pub diffstat: Option<String>,
    /// Files with uncommitted changes.
    pub dirty: Vec<String>,
}

/// Reads the evidence in `folder` for a session that started at
/// `start_commit`. `None` when the folder is not a git repository.
pub fn gather(folder: &Path, start_commit: Option<&str>) -> Option<RepoEvidence> {
    // A repository has a HEAD commit or, before the first commit, a branch.
    let branch = git::branch(folder);
    if branch.is_none() && git::head(folder).is_none() {
        return None;
    }
    let base = start_commit.and_then(|c| git::short(folder, c).map(|s| (c, s)));
    let (commits, diffstat) = match &base {
        Some((full, _)) => (
            git::commits_since(folder, full),
            git::diffstat_since(folder, full),
        ),
        None => (Vec::new(), None),
    };
    Some(RepoEvidence {
        branch,
        base: base.map(|(_, short)| short),
        commits,
        diffstat,
        dirty: git::dirty_paths(folder),
    })
}

/// The result of running the configured test command.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TestRun {
    /// The command as typed in the config.
    pub command: String,
    /// Whether it exited with 0.
    pub passed: bool,
    /// How it ended (`exit status 1`, `signal 9`).
    pub status: String,
    /// The last lines of its output.
    pub tail: String,
}

/// Runs `argv` in `folder` (no shell), with `env` as its whole environment,
/// its output captured.
pub fn run_tests(
    argv: &[String],
    folder: &Path,
    env: &[(std::ffi::OsString, std::ffi::OsString)],
) -> std::io::Result<TestRun> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| std::io::Error::other("the test command is empty"))?;
    let out = Command::new(program)
        .args(args)
        .current_dir(folder)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .output()?;
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(20)..].join("\n");
    Ok(TestRun {
        command: argv.join(" "),
        passed: out.status.success(),
        status: out.status.to_string(),
        tail: crate::output::sanitize(&tail),
    })
}

/// Active time of a session from its events: each `launched` up to the
/// `exited` that follows it (or, for the last launch with no exit yet, up
/// to `until`). Events are (time in ms, kind), in any order.
pub fn active_ms(events: &[(i64, Option<EventKind>)], until: i64) -> i64 {
    let mut events = events.to_vec();
    events.sort_by_key(|(at, _)| *at);
    let mut total = 0;
    let mut open: Option<i64> = None;
    for (at, kind) in events {
        match kind {
            Some(EventKind::Launched) => {
                // A launch after a launch: the first one's csm died; count
                // nothing for it rather than guess.
                open = Some(at);
            }
            Some(EventKind::Exited) => {
                if let Some(start) = open.take() {
                    total += (at - start).max(0);
                }
            }
            _ => {}
        }
    }
    if let Some(start) = open {
        total += (until - start).max(0);
    }
    total
}

/// "2h 05m", "12m", "40s".
pub fn human_duration(ms: i64) -> String {
    let secs = (ms / 1000).max(0);
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    if h > 0 {
        format!("{h}h {m:02}m")
    } else if m > 0 {
        format!("{m}m")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn active_time_counts_launch_to_exit() {
        use EventKind::{Exited, Launched, TurnComplete};
        let ev = [
            (1_000, Some(Launched)),
            (61_000, Some(Exited)),
            (100_000, Some(TurnComplete)),
            (200_000, Some(Launched)),
            (260_000, Some(Exited)),
            (270_000, None),
        ];
        assert_eq!(active_ms(&ev, 999_999), 120_000);
        let running = [(1_000, Some(Launched))];
        assert_eq!(active_ms(&running, 31_000), 30_000);
        assert_eq!(active_ms(&[], 5), 0);
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human_duration(40_000), "40s");
        assert_eq!(human_duration(12 * 60_000), "12m");
        assert_eq!(human_duration(2 * 3_600_000 + 5 * 60_000), "2h 05m");
    }

    #[test]
    fn a_repository_tells_commits_diffstat_and_dirt() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path();
        let git = |args: &[&str]| {
            let ok = Command::new("git")
                .arg("-C")
                .arg(repo)
                .args([
                    "-c",
                    "user.name=t",
                    "-c",
                    "user.email=t@e",
                    "-c",
                    "commit.gpgsign=false",
                ])
                .args(args)
                .output()
                .unwrap();
            assert!(ok.status.success(), "{ok:?}");
            String::from_utf8_lossy(&ok.stdout).trim().to_string()
        };
        git(&["init", "-q", "-b", "main"]);
        std::fs::write(repo.join("a.txt"), "a\n").unwrap();
        git(&["add", "."]);
        git(&["commit", "-qm", "first"]);
        let start = git(&["rev-parse", "HEAD"]);
        std::fs::write(repo.join("b.txt"), "b\nb\n").unwrap();
        git(&["add", "."]);
        git(&["commit", "-qm", "Add b"]);
        std::fs::write(repo.join("c.txt"), "new").unwrap();

        let ev = gather(repo, Some(&start)).unwrap();
        assert_eq!(ev.branch.as_deref(), Some("main"));
        assert_eq!(ev.commits.len(), 1);
        assert_eq!(ev.commits[0].subject, "Add b");
        assert!(ev.diffstat.unwrap().contains("b.txt"));
        assert_eq!(ev.dirty, vec!["c.txt"]);
        assert!(start.starts_with(ev.base.as_deref().unwrap()));

        let gone = gather(repo, Some("0123456789abcdef0123456789abcdef01234567")).unwrap();
        assert_eq!(gone.base, None);
        assert!(gone.commits.is_empty());

        let not_repo = tempfile::tempdir().unwrap();
        assert_eq!(gather(not_repo.path(), None), None);
    }
}
