//! The completion note `csm done` posts: what the template sees, and the
//! marker that finds the note again on the ticket.
//!
//! Every value from Codex or the ticket is cleaned of terminal control
//! sequences and made safe for a Markdown table cell before the template
//! sees it; the note is Markdown, which the tracker converts (ADF on Jira
//! Cloud, wiki markup on Data Center).

use std::hash::{BuildHasher, Hasher};

use serde::Serialize;

use crate::evidence::{RepoEvidence, TestRun};
use crate::output::sanitize;
use crate::prompt::{PromptError, Template, TemplateDirs};
use crate::report::Report;

/// A new, unique note marker: `csm-` and 16 hex digits.
pub fn new_marker() -> String {
    // RandomState is seeded from the OS's randomness; the clock and the
    // process id make a collision of two seeds harmless too.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.write_u32(std::process::id());
    format!("csm-{:016x}", h.finish())
}

/// Whether a comment body (as the tracker gives it back, after its own
/// format conversion) carries `marker`.
pub fn carries(body: &str, marker: &str) -> bool {
    body.contains(marker)
}

/// What the done template sees.
#[derive(Clone, Debug, Serialize)]
pub struct NoteData {
    /// The ticket key.
    pub key: String,
    /// The ticket's summary.
    pub summary: String,
    /// What was done, in Codex's words.
    pub work_summary: String,
    /// The criteria rows.
    pub criteria: Vec<Row>,
    /// "2 (has a test)" for each criterion not shown met.
    pub open: Vec<String>,
    /// Whether the transition is refused because of open criteria.
    pub blocked: bool,
    /// The status the ticket moves to, when it does.
    pub moved_to: Option<String>,
    /// The status that was asked for.
    pub target: String,
    /// The repository's evidence.
    pub repo: Option<RepoEvidence>,
    /// The test run, when asked for.
    pub tests: Option<TestRun>,
    /// Codex's session id.
    pub session_id: String,
    /// "started 2026-11-20, 5 days ago" and the like.
    pub duration: String,
    /// Active time, when known.
    pub active: Option<String>,
    /// The note's marker.
    pub marker: String,
    /// The pull request (`csm done --pr`; its URL is filled in when the
    /// note goes out, see `outbox::PR_PLACEHOLDER`).
    pub pull_request: Option<String>,
}

/// One row of the criteria table.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// 1-based.
    pub number: usize,
    /// The criterion.
    pub text: String,
    /// "✅ met" and so on.
    pub status_label: String,
    /// The evidence, one line.
    pub evidence: String,
}

/// The parts of a note that are not the report or the repository.
#[derive(Clone, Debug)]
pub struct NoteContext {
    /// The ticket key.
    pub key: String,
    /// Its summary.
    pub summary: String,
    /// The status asked for.
    pub target: String,
    /// Whether the ticket will be moved.
    pub will_move: bool,
    /// Whether open criteria block the move.
    pub blocked: bool,
    /// Codex's session id.
    pub session_id: String,
    /// How long the session ran, in words.
    pub duration: String,
    /// Active time, in words.
    pub active: Option<String>,
    /// The marker.
    pub marker: String,
}

impl NoteData {
    /// Puts the pieces together, cleaned for Markdown.
    pub fn new(
        ctx: NoteContext,
        report: &Report,
        repo: Option<RepoEvidence>,
        tests: Option<TestRun>,
    ) -> NoteData {
        let mut work_summary = sanitize(&report.summary);
        if let Some(problem) = &report.problem {
            if !work_summary.is_empty() {
                work_summary.push_str("\n\n");
            }
            work_summary.push_str(&format!(
                "_No usable report from Codex ({}); every criterion is shown as unclear._",
                cell(problem)
            ));
        }
        let repo = repo.map(|mut r| {
            r.branch = r.branch.map(|b| sanitize(&b));
            for c in &mut r.commits {
                c.subject = inline(&c.subject);
            }
            r.diffstat = r.diffstat.map(|d| sanitize(&d).replace("```", "'''"));
            r.dirty = r.dirty.iter().map(|d| inline(d)).collect();
            r
        });
        NoteData {
            key: ctx.key,
            summary: inline(&ctx.summary),
            work_summary,
            criteria: report
                .criteria
                .iter()
                .map(|c| Row {
                    number: c.number,
                    text: cell(&c.text),
                    status_label: c.status.label().to_string(),
                    evidence: if c.evidence.is_empty() {
                        "—".into()
                    } else {
                        cell(&c.evidence)
                    },
                })
                .collect(),
            open: report
                .open()
                .iter()
                .map(|c| format!("{} ({})", c.number, inline(&c.text)))
                .collect(),
            blocked: ctx.blocked,
            moved_to: (ctx.will_move && !ctx.blocked).then(|| ctx.target.clone()),
            target: ctx.target,
            repo,
            tests,
            session_id: ctx.session_id,
            duration: ctx.duration,
            active: ctx.active,
            marker: ctx.marker,
            pull_request: None,
        }
    }

    /// Renders the note with the done template.
    pub fn render(&self, dirs: &TemplateDirs) -> Result<String, PromptError> {
        dirs.render(Template::Done, self)
    }
}

/// One line of text: control sequences out, line breaks as spaces.
fn inline(text: &str) -> String {
    sanitize(text)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Text for a Markdown table cell: one line, pipes escaped.
fn cell(text: &str) -> String {
    inline(text).replace('|', "\\|")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::git::Commit;
    use crate::report::{Criterion, Status};

    fn report() -> Report {
        Report {
            summary: "Added `--json` to list.".into(),
            criteria: vec![
                Criterion {
                    number: 1,
                    text: "prints a | JSON array".into(),
                    status: Status::Met,
                    evidence: "test `list_json`\npasses".into(),
                },
                Criterion {
                    number: 2,
                    text: "each element has key".into(),
                    status: Status::NotMet,
                    evidence: String::new(),
                },
            ],
            problem: None,
        }
    }

    fn context(blocked: bool) -> NoteContext {
        NoteContext {
            key: "PROJ-1".into(),
            summary: "JSON \u{1b}]0;evil\u{7}list".into(),
            target: "Done".into(),
            will_move: true,
            blocked,
            session_id: "0199-abc".into(),
            duration: "started 2 days ago".into(),
            active: Some("1h 05m".into()),
            marker: "csm-00000000000000aa".into(),
        }
    }

    #[test]
    fn markers_are_unique_and_found_again() {
        let a = new_marker();
        let b = new_marker();
        assert_ne!(a, b);
        assert!(a.starts_with("csm-") && a.len() == 20, "{a}");
        assert!(carries(&format!("text\n_csm note {a}_"), &a));
        assert!(!carries("text", &a));
    }

    #[test]
    fn the_note_has_every_criterion_commits_and_the_marker() {
        let repo = RepoEvidence {
            branch: Some("proj-1-json".into()),
            base: Some("abc1234".into()),
            commits: vec![Commit {
                sha: "def5678".into(),
                subject: "Add --json".into(),
            }],
            diffstat: Some(" src/list.rs | 12 +++++\n 1 file changed".into()),
            dirty: vec!["notes.txt".into()],
        };
        let data = NoteData::new(context(true), &report(), Some(repo), None);
        let text = data.render(&TemplateDirs::default()).unwrap();
        assert!(
            text.contains("| 1 | prints a \\| JSON array | ✅ met | test `list_json` passes |"),
            "{text}"
        );
        assert!(
            text.contains("| 2 | each element has key | ❌ not met | — |"),
            "{text}"
        );
        assert!(
            text.contains(
                "**Open criteria:** 2 (each element has key). The ticket was not moved to Done."
            ),
            "{text}"
        );
        assert!(text.contains("- `def5678` Add --json"), "{text}");
        assert!(text.contains("src/list.rs | 12"), "{text}");
        assert!(text.contains("Uncommitted: `notes.txt`"), "{text}");
        assert!(text.contains("csm note csm-00000000000000aa"), "{text}");
        assert!(!text.contains('\u{1b}'), "{text}");
        assert!(!text.contains(", moved to Done"), "{text}");
    }

    #[test]
    fn an_unusable_report_says_so() {
        let r = Report::unclear(&["a".into()], "bad JSON");
        let data = NoteData::new(context(false), &r, None, None);
        let text = data.render(&TemplateDirs::default()).unwrap();
        assert!(
            text.contains("No usable report from Codex (bad JSON)"),
            "{text}"
        );
        assert!(text.contains("❔ unclear"), "{text}");
        assert!(text.contains(", moved to Done"), "{text}");
    }
}
