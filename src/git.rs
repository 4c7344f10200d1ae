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

/// A git command that could not be run or failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum GitError {
    /// There is no `git` program.
    #[error("git is not installed (no `git` on PATH)")]
    Missing,
    /// git ran and failed.
    #[error("`git {args}` failed: {message}")]
    Failed {
        /// The arguments, for the message.
        args: String,
        /// The first line git wrote on stderr (or the exit status).
        message: String,
    },
}

/// Runs `git -C <folder> <args>` (argv, never a shell) and returns its
/// standard output, or git's own first line of complaint.
pub fn run<S: AsRef<std::ffi::OsStr>>(folder: &Path, args: &[S]) -> Result<String, GitError> {
    run_in(Some(folder), args, false)
}

/// [`run`] with git's messages in English, for the rare answer csm has to
/// read from them ("not a git repository").
pub fn run_c_locale<S: AsRef<std::ffi::OsStr>>(
    folder: &Path,
    args: &[S],
) -> Result<String, GitError> {
    run_in(Some(folder), args, true)
}

fn run_in<S: AsRef<std::ffi::OsStr>>(
    folder: Option<&Path>,
    args: &[S],
    c_locale: bool,
) -> Result<String, GitError> {
    let mut cmd = Command::new("git");
    if c_locale {
        cmd.env("LC_ALL", "C").env_remove("LANGUAGE");
    }
    if let Some(folder) = folder {
        cmd.arg("-C").arg(folder);
    }
    let out = cmd
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => GitError::Missing,
            _ => GitError::Failed {
                args: shown_args(args),
                message: e.to_string(),
            },
        })?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let message = stderr
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(|l| {
            l.trim_start_matches("fatal: ")
                .trim_start_matches("error: ")
        })
        .map_or_else(|| out.status.to_string(), str::to_string);
    Err(GitError::Failed {
        args: shown_args(args),
        message: crate::output::sanitize(&message),
    })
}

fn shown_args<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> String {
    args.iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Pushes `branch` to `remote` and sets it as the upstream (`git push -u
/// <remote> <branch>`), with the user's own git credentials and never a
/// prompt (`GIT_TERMINAL_PROMPT=0`: csm may run without a terminal).
/// Pushing what the remote already has changes nothing, so a repeat is
/// harmless. A refusal carries git's own lines (the remote's message and
/// the `! [rejected]` line), not just the first.
pub fn push(folder: &Path, remote: &str, branch: &str) -> Result<(), GitError> {
    let args = ["push", "-u", "--porcelain", remote, branch];
    let out = Command::new("git")
        .arg("-C")
        .arg(folder)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => GitError::Missing,
            _ => GitError::Failed {
                args: shown_args(&args),
                message: e.to_string(),
            },
        })?;
    if out.status.success() {
        return Ok(());
    }
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    Err(GitError::Failed {
        args: shown_args(&args),
        message: crate::output::sanitize(&push_message(&text)),
    })
}

/// The lines of a failed push worth showing: the remote's own words, the
/// refused refs, git's errors; joined with "; ".
fn push_message(text: &str) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| {
            l.starts_with("remote:")
                || l.starts_with('!')
                || l.starts_with("error:")
                || l.starts_with("fatal:")
        })
        .map(|l| {
            l.trim_start_matches("fatal: ")
                .trim_start_matches("error: ")
        })
        .filter(|l| !l.trim_start_matches("remote:").trim().is_empty())
        .collect();
    if lines.is_empty() {
        text.lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("git push failed")
            .to_string()
    } else {
        lines.join("; ")
    }
}

/// What `git --version` says (`git version 2.47.3`).
pub fn version() -> Result<String, GitError> {
    run_in(None, &["--version"], false).map(|s| s.trim().to_string())
}
