//! git in a test repository: an identity of its own, no signing.
use std::path::Path;
use std::process::Command;

/// Runs `git -C dir args…` and returns its trimmed stdout; fails the test
/// when git fails.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args([
            "-c",
            "user.name=Dev",
            "-c",
            "user.email=dev@example.com",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Writes `name` in `dir` and commits it with `subject`.
pub fn commit_file(dir: &Path, name: &str, text: &str, subject: &str) {
    std::fs::write(dir.join(name), text).unwrap();
    git(dir, &["add", name]);
    git(dir, &["commit", "-qm", subject]);
}
