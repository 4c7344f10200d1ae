//! What csm asks git about a folder, through the `git` command-line tool
//! (argv, never a shell string). Every question has a quiet "unknown"
//! answer: a folder need not be a repository.

use std::path::Path;
use std::process::{Command, Stdio};

fn git(folder: &Path, args: &[&str]) -> Option<String> {
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
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (!text.is_empty()).then_some(text)
}

/// The checked-out branch, `None` outside a repository or when detached.
pub fn branch(folder: &Path) -> Option<String> {
    git(folder, &["symbolic-ref", "--quiet", "--short", "HEAD"])
}

/// The commit HEAD points at.
pub fn head(folder: &Path) -> Option<String> {
    git(folder, &["rev-parse", "--verify", "--quiet", "HEAD"])
}
