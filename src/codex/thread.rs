//! Whether a recorded Codex session can be resumed here: Codex decides.
//!
//! csm keeps a session's id and folder in its own store; a missing
//! `.jsonl` is no reason to refuse (Codex may have compressed it to
//! `.jsonl.zst`, and `codex resume` reads that). Before a resume csm looks
//! for the rollout itself ([`rollout::locate`]); when it finds none, it asks
//! Codex, which keeps its own index of threads:
//! `codex migrate-rollouts --json --thread=<id>` without `--apply` only
//! reports, and names the thread's rollout when Codex knows the thread (an
//! empty `outcomes` list when it does not). Only that "no" makes csm say
//! the session is not on this machine; when Codex cannot be asked, csm
//! resumes and lets Codex answer.
//!
//! An archived session (`codex archive`) is resumed only after
//! `codex unarchive <id>`, run when the user asks for it.

use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::rollout;

/// How long csm waits for a short Codex command (the lookup, unarchive).
const CODEX_TIMEOUT: Duration = Duration::from_secs(30);

/// Whether to run `codex unarchive` for an archived session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unarchive {
    /// Yes (`csm resume --unarchive`).
    Yes,
    /// Ask on the terminal; no when there is none.
    Ask,
}

/// The Codex program and the environment it runs with (no secrets).
#[derive(Clone, Copy, Debug)]
pub struct Codex<'a> {
    /// The program.
    pub program: &'a Path,
    /// Its whole environment.
    pub env: &'a [(OsString, OsString)],
}

/// What Codex says about a thread.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Codex knows it; its rollout is here.
    Known(PathBuf),
    /// Codex does not know it.
    Unknown,
}

/// Why a session cannot be resumed (yet).
#[derive(Debug, thiserror::Error)]
pub enum ThreadError {
    /// `codex archive` put it away.
    #[error("Codex session {id} is archived ({})", path.display())]
    Archived {
        /// The session id.
        id: String,
        /// Its rollout in `archived_sessions/`.
        path: PathBuf,
    },
    /// Codex itself does not know the thread.
    #[error("Codex session {id} is not on this machine: Codex does not know it (looked in {})", codex_home.display())]
    NotOnThisMachine {
        /// The session id.
        id: String,
        /// Codex's home.
        codex_home: PathBuf,
    },
    /// `codex unarchive` failed.
    #[error("`codex unarchive {id}` failed: {reason}")]
    UnarchiveFailed {
        /// The session id.
        id: String,
        /// What Codex said.
        reason: String,
    },
}

/// What a resume needs to do first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prepared {
    /// Nothing: resume.
    Ready,
    /// No rollout was found and Codex could not be asked: resume, and let
    /// Codex say whether it knows the thread ([`after_resume`]).
    Unverified,
    /// (dry run) `codex unarchive <id>` would run first.
    WouldUnarchive,
    /// `codex unarchive <id>` ran.
    Unarchived,
}

/// Makes sure Codex can resume `id`: finds its rollout (plain, compressed
/// or archived), asks Codex when there is none, and unarchives an archived
/// session when `unarchive` says so. `codex` is `None` for a dry run (Codex
/// is then neither asked nor run). `ask` puts a yes/no question to the
/// user (`None`: nobody to ask).
pub fn prepare_resume(
    codex_home: &Path,
    id: &str,
    codex: Option<Codex<'_>>,
    unarchive: Unarchive,
    ask: &mut dyn FnMut(&str) -> Option<bool>,
) -> Result<Prepared, ThreadError> {
    let located = match rollout::locate(codex_home, id) {
        Some(found) => Some(found),
        None => match codex.map(|c| lookup(c, id)) {
            Some(Ok(Answer::Unknown)) => {
                return Err(ThreadError::NotOnThisMachine {
                    id: id.to_string(),
                    codex_home: codex_home.to_path_buf(),
                });
            }
            Some(Ok(Answer::Known(path))) => Some(rollout::Located {
                archived: is_archived(codex_home, &path),
                path,
            }),
            // Not asked (dry run) or no answer: Codex decides when it runs.
            Some(Err(e)) => {
                tracing::warn!("cannot ask Codex about thread {id}: {e}");
                return Ok(Prepared::Unverified);
            }
            None => return Ok(Prepared::Unverified),
        },
    };
    let Some(found) = located.filter(|l| l.archived) else {
        return Ok(Prepared::Ready);
    };
    let archived = || ThreadError::Archived {
        id: id.to_string(),
        path: found.path.clone(),
    };
    let go = match unarchive {
        Unarchive::Yes => true,
        Unarchive::Ask => ask(&format!(
            "Codex session {id} is archived. Bring it back (`codex unarchive {id}`) and resume it? [y/N] "
        ))
        .unwrap_or(false),
    };
    if !go {
        return Err(archived());
    }
    match codex {
        None => Ok(Prepared::WouldUnarchive),
        Some(c) => run_unarchive(c, id).map(|()| Prepared::Unarchived),
    }
}

/// After Codex ran: a resume that could not be checked beforehand and
/// failed, with still no rollout anywhere, is Codex saying it does not know
/// the thread (it printed "No saved session found with ID ...").
pub fn after_resume(
    codex_home: &Path,
    id: &str,
    prepared: &Prepared,
    succeeded: bool,
) -> Result<(), ThreadError> {
    if *prepared == Prepared::Unverified && !succeeded && rollout::locate(codex_home, id).is_none()
    {
        return Err(ThreadError::NotOnThisMachine {
            id: id.to_string(),
            codex_home: codex_home.to_path_buf(),
        });
    }
    Ok(())
}

/// A session's rollout: found by csm (plain, compressed or archived), else
/// where Codex says it is (`None` when `codex` is `None`, does not know the
/// thread or cannot be asked).
pub fn find_rollout(codex_home: &Path, id: &str, codex: Option<Codex<'_>>) -> Option<PathBuf> {
    if let Some(found) = rollout::locate(codex_home, id) {
        return Some(found.path);
    }
    match lookup(codex?, id) {
        Ok(Answer::Known(path)) => Some(path),
        _ => None,
    }
}

fn is_archived(codex_home: &Path, path: &Path) -> bool {
    let dir = rollout::archived_dir(codex_home);
    let canon = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    path.starts_with(&dir) || canon(path).starts_with(canon(&dir))
}

/// Asks Codex whether it knows thread `id`, and where its rollout is.
pub fn lookup(codex: Codex<'_>, id: &str) -> Result<Answer, String> {
    let out = run_short(
        codex,
        &[
            "migrate-rollouts".into(),
            "--json".into(),
            format!("--thread={id}").into(),
        ],
    )?;
    if !out.status.success() {
        return Err(format!(
            "codex migrate-rollouts exited with {}: {}",
            out.status,
            last_line(&out.stderr)
        ));
    }
    parse_lookup(&String::from_utf8_lossy(&out.stdout), id)
        .ok_or_else(|| "codex migrate-rollouts printed no report".to_string())
}

/// Reads the report of `codex migrate-rollouts --json --thread=<id>`:
/// `{"outcomes": [{"thread_id", "rollout_path", "status", ...}]}`.
pub fn parse_lookup(stdout: &str, id: &str) -> Option<Answer> {
    let start = stdout.find('{')?;
    let report: serde_json::Value = serde_json::from_str(stdout[start..].trim()).ok()?;
    let outcomes = report.get("outcomes")?.as_array()?;
    Some(
        outcomes
            .iter()
            .filter(|o| o["thread_id"] == id)
            .find_map(|o| o["rollout_path"].as_str())
            // Shown in messages: Codex's output is data, cleaned like any.
            .map_or(Answer::Unknown, |p| {
                Answer::Known(PathBuf::from(crate::output::sanitize(p)))
            }),
    )
}

/// Runs `codex unarchive <id>`.
pub fn run_unarchive(codex: Codex<'_>, id: &str) -> Result<(), ThreadError> {
    let failed = |reason: String| ThreadError::UnarchiveFailed {
        id: id.to_string(),
        reason,
    };
    let out = run_short(codex, &["unarchive".into(), "--".into(), id.into()]).map_err(failed)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(failed(format!(
            "{} ({})",
            last_line(&out.stderr),
            out.status
        )))
    }
}

/// Asks a yes/no question on the terminal; `None` when stdin or stderr is
/// not a terminal.
pub fn ask_on_terminal(question: &str) -> Option<bool> {
    if !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return None;
    }
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer).ok()?;
    Some(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

/// The last line of Codex's error output that says something (its
/// `Error: ...` line, not the backtrace).
pub(crate) fn last_line(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    lines
        .iter()
        .find(|l| l.starts_with("Error:") || l.starts_with("ERROR:"))
        .or_else(|| lines.iter().rev().find(|l| !l.is_empty()))
        .map(|l| crate::output::sanitize(l))
        .unwrap_or_else(|| "no output".into())
}

/// Runs a short Codex command with stdin closed, killing it after
/// [`CODEX_TIMEOUT`].
pub(crate) fn run_short(
    codex: Codex<'_>,
    args: &[OsString],
) -> Result<std::process::Output, String> {
    let mut child = Command::new(codex.program)
        .args(args)
        .env_clear()
        .envs(codex.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", codex.program.display()))?;
    let deadline = Instant::now() + CODEX_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("codex did not answer within {CODEX_TIMEOUT:?}"));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    child.wait_with_output().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lookup_report_is_read() {
        let id = "01a23d28-f910-7f20-87b1-8ea33ec31867";
        let known = format!(
            "{{\n  \"outcomes\": [\n    {{\"thread_id\": \"{id}\", \"rollout_path\": \"/h/sessions/2026/12/03/rollout-x-{id}.jsonl.zst\", \"status\": \"already_paginated\", \"bytes_processed\": 0, \"message\": null}}\n  ]\n}}\n"
        );
        assert_eq!(
            parse_lookup(&known, id),
            Some(Answer::Known(PathBuf::from(format!(
                "/h/sessions/2026/12/03/rollout-x-{id}.jsonl.zst"
            ))))
        );
        assert_eq!(
            parse_lookup("{\"outcomes\": []}", id),
            Some(Answer::Unknown)
        );
        assert_eq!(
            parse_lookup(&known, "019a0000-0000-7000-8000-000000000000"),
            Some(Answer::Unknown)
        );
        assert_eq!(parse_lookup("", id), None);
        assert_eq!(parse_lookup("{\"other\": 1}", id), None);
        assert_eq!(parse_lookup("not json {", id), None);
    }

    #[test]
    fn an_archived_session_is_refused_unless_unarchive_is_wanted() {
        let home = tempfile::tempdir().unwrap();
        let dir = rollout::archived_dir(home.path());
        std::fs::create_dir_all(&dir).unwrap();
        let id = "019a0000-0000-7000-8000-0000000000aa";
        std::fs::write(
            dir.join(format!("rollout-2026-11-25T07-00-00-{id}.jsonl")),
            "",
        )
        .unwrap();
        let mut nobody = |_: &str| None;
        let err = prepare_resume(home.path(), id, None, Unarchive::Ask, &mut nobody).unwrap_err();
        assert!(matches!(err, ThreadError::Archived { .. }), "{err}");
        let mut no = |_: &str| Some(false);
        assert!(prepare_resume(home.path(), id, None, Unarchive::Ask, &mut no).is_err());
        let mut asked = Vec::new();
        let mut yes = |q: &str| {
            asked.push(q.to_string());
            Some(true)
        };
        assert_eq!(
            prepare_resume(home.path(), id, None, Unarchive::Ask, &mut yes).unwrap(),
            Prepared::WouldUnarchive
        );
        assert!(asked[0].contains("codex unarchive"), "{asked:?}");
        assert_eq!(
            prepare_resume(home.path(), id, None, Unarchive::Yes, &mut nobody).unwrap(),
            Prepared::WouldUnarchive
        );
    }

    #[test]
    fn a_missing_file_is_no_reason_to_refuse() {
        let home = tempfile::tempdir().unwrap();
        let mut nobody = |_: &str| None;
        // Codex not asked (dry run): resume and let Codex decide.
        assert_eq!(
            prepare_resume(home.path(), "x", None, Unarchive::Ask, &mut nobody).unwrap(),
            Prepared::Unverified
        );
        // Codex cannot be run: the same.
        let env = Vec::new();
        let codex = Codex {
            program: Path::new("/nonexistent/codex"),
            env: &env,
        };
        let prepared =
            prepare_resume(home.path(), "x", Some(codex), Unarchive::Ask, &mut nobody).unwrap();
        assert_eq!(prepared, Prepared::Unverified);
        // ... and when Codex then fails, it did not know the thread.
        assert!(after_resume(home.path(), "x", &prepared, true).is_ok());
        let err = after_resume(home.path(), "x", &prepared, false).unwrap_err();
        assert!(err.to_string().contains("not on this machine"), "{err}");
        assert!(after_resume(home.path(), "x", &Prepared::Ready, false).is_ok());
    }
}
