//! What csm asks git about a folder, through the `git` command-line tool
//! (argv, never a shell string). Every question has a quiet "unknown"
//! answer: a folder need not be a repository.

use std::path::Path;
use std::process::{Command, Stdio};

fn git(folder: &Path, args: &[&str]) -> Option<String> {
    let text = git_raw(folder, args)?.trim().to_string();
    (!text.is_empty()).then_some(text)
}

/// The standard output of a successful git command, untrimmed.
fn git_raw(folder: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(folder)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The checked-out branch, `None` outside a repository or when detached.
pub fn branch(folder: &Path) -> Option<String> {
    git(folder, &["symbolic-ref", "--quiet", "--short", "HEAD"])
}

/// The commit HEAD points at.
pub fn head(folder: &Path) -> Option<String> {
    git(folder, &["rev-parse", "--verify", "--quiet", "HEAD"])
}

/// A commit, short id and subject.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Commit {
    /// The abbreviated id.
    pub sha: String,
    /// The first line of its message.
    pub subject: String,
}

/// The abbreviated form of a commit id, `None` when the commit is not in
/// the repository (any more).
pub fn short(folder: &Path, commit: &str) -> Option<String> {
    git(
        folder,
        &[
            "rev-parse",
            "--verify",
            "--quiet",
            "--short",
            &format!("{commit}^{{commit}}"),
        ],
    )
}

/// The commits reachable from HEAD but not from `base`, oldest first.
pub fn commits_since(folder: &Path, base: &str) -> Vec<Commit> {
    git(
        folder,
        &[
            "log",
            "--reverse",
            "--no-color",
            "--format=%h%x09%s",
            &format!("{base}..HEAD"),
            "--",
        ],
    )
    .map(|text| {
        text.lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(sha, subject)| Commit {
                sha: sha.to_string(),
                subject: subject.to_string(),
            })
            .collect()
    })
    .unwrap_or_default()
}

/// `git diff --stat` of the working tree against `base` (committed and
/// uncommitted changes together).
pub fn diffstat_since(folder: &Path, base: &str) -> Option<String> {
    git(
        folder,
        &["diff", "--stat", "--no-color", "--no-ext-diff", base, "--"],
    )
}

/// The paths with uncommitted changes (tracked or not), as `git status`
/// names them.
pub fn dirty_paths(folder: &Path) -> Vec<String> {
    git_raw(
        folder,
        &["status", "--porcelain=v1", "--untracked-files=normal"],
    )
    .map(|text| {
        text.lines()
            .filter(|l| l.len() > 3)
            .map(|l| l[3..].to_string())
            .collect()
    })
    .unwrap_or_default()
}
