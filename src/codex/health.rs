//! What `csm doctor` finds out about the Codex on this machine, beyond
//! its version: whether csm can read its sessions, whether it takes csm's
//! `notify` program, and whether it compresses rollouts (csm reads plain
//! and compressed ones, so either is fine; doctor says which).
//!
//! Codex is run only for short, read-only commands (`codex features
//! list`, with `-c` overrides): nothing is written to the user's config.

use std::ffi::OsString;
use std::fs;
use std::path::Path;

use super::rollout::{self, Compression};
use super::thread::{Codex, run_short};

/// The feature flag behind Codex's rollout compression.
pub const COMPRESSION_FEATURE: &str = "local_thread_store_compression";

/// One line of `codex features list`: `name  stage  enabled`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Feature {
    /// Its name.
    pub name: String,
    /// "stable", "experimental", "under development", "removed", ...
    pub stage: String,
    /// Whether it is on.
    pub enabled: bool,
}

/// Reads `codex features list`; lines it cannot read are skipped.
pub fn parse_features(text: &str) -> Vec<Feature> {
    text.lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace();
            let name = words.next()?;
            let rest: Vec<&str> = words.collect();
            let (last, stage) = rest.split_last()?;
            let enabled = match *last {
                "true" => true,
                "false" => false,
                _ => return None,
            };
            Some(Feature {
                name: name.to_string(),
                stage: stage.join(" "),
                enabled,
            })
        })
        .collect()
}

/// What csm finds in Codex's session folders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Sessions {
    /// Readable, with this many rollouts.
    Readable {
        /// Rollouts in `sessions/` (plain and compressed).
        rollouts: usize,
        /// How many of them are compressed (`.jsonl.zst`).
        compressed: usize,
        /// Rollouts in `archived_sessions/`.
        archived: usize,
    },
    /// No `sessions/` folder yet (Codex has not run here).
    Missing,
    /// It exists but cannot be read.
    Unreadable(String),
}

/// Looks at `$CODEX_HOME/sessions` and `archived_sessions`.
pub fn sessions(codex_home: &Path) -> Sessions {
    let root = rollout::sessions_dir(codex_home);
    if !root.exists() {
        return Sessions::Missing;
    }
    if let Err(e) = fs::read_dir(&root) {
        return Sessions::Unreadable(format!("{}: {e}", root.display()));
    }
    let (mut rollouts, mut compressed) = (0, 0);
    count(&root, 3, &mut |kind| {
        rollouts += 1;
        compressed += usize::from(kind == Compression::Zstd);
    });
    let mut archived = 0;
    count(&rollout::archived_dir(codex_home), 4, &mut |_| {
        archived += 1
    });
    Sessions::Readable {
        rollouts,
        compressed,
        archived,
    }
}

fn count(dir: &Path, depth: usize, seen: &mut dyn FnMut(Compression)) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if let Some(kind) = rollout::rollout_name(&name.to_string_lossy()) {
            seen(kind);
        } else if depth > 0 && entry.file_type().is_ok_and(|t| t.is_dir()) {
            count(&entry.path(), depth - 1, seen);
        }
    }
}

/// What is wrong with `notify`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NotifyProblem {
    /// Codex does not start with csm's `-c notify=[...]`: every launch
    /// would fail.
    Refused(String),
    /// Codex starts, but takes a value of the wrong type too: it may not
    /// know the setting, so finished turns may go unrecorded.
    Ignored,
    /// Codex could not be run.
    NotRun(String),
}

/// Whether Codex takes `notify` as csm passes it (`-c notify=[argv]`):
/// with csm's program it starts, and with a value of the wrong type it
/// refuses, which shows the key is one Codex knows rather than ignores.
pub fn notify_accepted(codex: Codex<'_>, notify: &[OsString]) -> Result<(), NotifyProblem> {
    let list: Vec<String> = notify
        .iter()
        .map(|a| serde_json::Value::String(a.to_string_lossy().into_owned()).to_string())
        .collect();
    let ok = run_short(
        codex,
        &[
            "-c".into(),
            format!("notify=[{}]", list.join(",")).into(),
            "features".into(),
            "list".into(),
        ],
    )
    .map_err(NotifyProblem::NotRun)?;
    if !ok.status.success() {
        return Err(NotifyProblem::Refused(super::thread::last_line(&ok.stderr)));
    }
    let wrong = run_short(
        codex,
        &[
            "-c".into(),
            "notify=0".into(),
            "features".into(),
            "list".into(),
        ],
    )
    .map_err(NotifyProblem::NotRun)?;
    if wrong.status.success() {
        return Err(NotifyProblem::Ignored);
    }
    Ok(())
}

/// Codex's feature list.
pub fn features(codex: Codex<'_>) -> Result<Vec<Feature>, String> {
    let out = run_short(codex, &["features".into(), "list".into()])?;
    if !out.status.success() {
        return Err(format!(
            "codex features list failed: {}",
            super::thread::last_line(&out.stderr)
        ));
    }
    Ok(parse_features(&String::from_utf8_lossy(&out.stdout)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_feature_list_is_read() {
        let text = "apps                                     stable             true\n\
                    local_thread_store_compression           under development  false\n\
                    garbage\n\
                    \n\
                    collaboration_modes                      removed            true\n";
        let f = parse_features(text);
        assert_eq!(f.len(), 3);
        assert_eq!(
            f[1],
            Feature {
                name: COMPRESSION_FEATURE.into(),
                stage: "under development".into(),
                enabled: false
            }
        );
        assert!(f[0].enabled);
    }

    #[test]
    fn sessions_are_counted_plain_compressed_and_archived() {
        let home = tempfile::tempdir().unwrap();
        assert_eq!(sessions(home.path()), Sessions::Missing);
        let day = rollout::sessions_dir(home.path()).join("2026/11/25");
        fs::create_dir_all(&day).unwrap();
        fs::write(day.join("rollout-a-1.jsonl"), "").unwrap();
        fs::write(day.join("rollout-a-2.jsonl.zst"), "").unwrap();
        fs::write(day.join("notes.txt"), "").unwrap();
        let archive = rollout::archived_dir(home.path());
        fs::create_dir_all(&archive).unwrap();
        fs::write(archive.join("rollout-a-3.jsonl"), "").unwrap();
        assert_eq!(
            sessions(home.path()),
            Sessions::Readable {
                rollouts: 2,
                compressed: 1,
                archived: 1
            }
        );
    }
}
