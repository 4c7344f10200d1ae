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
    /// Codex's token usage on the ticket, one line, when known.
    pub usage: Option<String>,
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
    /// Codex's token usage on the ticket, one line.
    pub usage: Option<String>,
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
            usage: ctx.usage.map(|u| sanitize(&u)),
            marker: ctx.marker,
            pull_request: None,
        }
    }

    /// Renders the note with the done template.
    pub fn render(&self, dirs: &TemplateDirs) -> Result<String, PromptError> {
        dirs.render(Template::Done, self)
    }
}

/// Evidence kept when a long one is collapsed to make the note fit.
const COLLAPSED_EVIDENCE: usize = 80;

/// The smallest comment limit notes are split for (a smaller one is
/// treated as this: each part needs room for its header and marker).
const SMALLEST_LIMIT: usize = 400;

/// One comment of a note: its body and the marker that finds it again.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    /// The Markdown body, carrying `marker`.
    pub body: String,
    /// The note's marker, with " part K/N" when the note is split.
    pub marker: String,
}

/// The marker of part `k` of `n` of a note marked `marker`.
pub fn part_marker(marker: &str, k: usize, n: usize) -> String {
    format!("{marker} part {k}/{n}")
}

/// "K/N" when `marker` is a part's marker.
pub fn part_of(marker: &str) -> Option<&str> {
    marker.rsplit_once(" part ").map(|(_, kn)| kn)
}

/// Makes the note fit a tracker's comment limit: renders it, collapses
/// the longest evidence first (each criterion keeps its verdict) until
/// it fits, and if it still does not, splits it into numbered parts, each
/// carrying the marker and its part number. `size` measures a body as the
/// tracker does; without a `limit` the note is one part.
pub fn fit<E>(
    data: &NoteData,
    limit: Option<usize>,
    size: impl Fn(&str) -> usize,
    render: impl Fn(&NoteData) -> Result<String, E>,
) -> Result<Vec<Part>, E> {
    let whole = |body: String| {
        vec![Part {
            body,
            marker: data.marker.clone(),
        }]
    };
    let mut body = render(data)?;
    let Some(limit) = limit else {
        return Ok(whole(body));
    };
    let mut data = data.clone();
    let mut collapsed = vec![false; data.criteria.len()];
    while size(&body) > limit {
        let Some((i, row)) = data
            .criteria
            .iter_mut()
            .enumerate()
            .filter(|(i, r)| !collapsed[*i] && r.evidence.chars().count() > COLLAPSED_EVIDENCE)
            .max_by_key(|(_, r)| r.evidence.chars().count())
        else {
            break;
        };
        collapsed[i] = true;
        row.evidence = collapse(&row.evidence);
        body = render(&data)?;
    }
    Ok(fit_text(&body, &data.key, &data.marker, Some(limit), size))
}

/// Fits a note's text (already rendered, maybe edited by the user) to a
/// comment limit: one part when it fits, else numbered parts.
pub fn fit_text(
    body: &str,
    key: &str,
    marker: &str,
    limit: Option<usize>,
    size: impl Fn(&str) -> usize,
) -> Vec<Part> {
    match limit {
        Some(limit) if size(body) > limit => {
            split(body, key, marker, limit.max(SMALLEST_LIMIT), &size)
        }
        _ => vec![Part {
            body: body.to_string(),
            marker: marker.to_string(),
        }],
    }
}

/// The start of a long evidence cell, marked as shortened.
fn collapse(evidence: &str) -> String {
    let mut kept: String = evidence.chars().take(COLLAPSED_EVIDENCE).collect();
    // A cut escape would swallow the cell's closing pipe.
    while kept.ends_with('\\') {
        kept.pop();
    }
    format!("{} … _(shortened to fit the tracker)_", kept.trim_end())
}

/// Splits a rendered note at line ends into parts that fit `limit`, a
/// table's header repeated when a part starts inside it.
fn split(
    body: &str,
    key: &str,
    marker: &str,
    limit: usize,
    size: &impl Fn(&str) -> usize,
) -> Vec<Part> {
    let head = |k: &str| format!("**Completion report for {key}, part {k}** (csm)\n\n");
    let foot = |k: &str| format!("\n\n_csm note {marker} part {k}_\n");
    // Room for the widest part number; the real one is never wider.
    let wrap = |text: &str, k: &str| format!("{}{}{}", head(k), text.trim_end(), foot(k));
    let wide = "9999/9999";
    let mut chunks: Vec<String> = Vec::new();
    let mut current = String::new();
    let mut table_head: Option<String> = None;
    let lines: Vec<&str> = body.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let is_row = line.trim_start().starts_with('|');
        if is_row
            && table_head.is_none()
            && lines.get(i + 1).is_some_and(|n| {
                n.trim_start().starts_with("|---") || n.trim_start().starts_with("| ---")
            })
        {
            table_head = Some(format!("{line}\n{}\n", lines[i + 1]));
        }
        if !is_row {
            table_head = None;
        }
        // Room for the table's header, repeated when a part starts in it.
        let reserve = table_head.as_deref().map_or(0, size);
        for piece in pieces(line, limit / 2) {
            let candidate = format!("{current}{piece}\n");
            if current.is_empty() || size(&wrap(&candidate, wide)) + reserve <= limit {
                current = candidate;
                continue;
            }
            chunks.push(std::mem::take(&mut current));
            if is_row
                && let Some(h) = &table_head
                && !line.starts_with("|---")
                && !h.starts_with(line)
            {
                current.push_str(h);
            }
            current.push_str(&piece);
            current.push('\n');
        }
    }
    if !current.trim().is_empty() {
        chunks.push(current);
    }
    let n = chunks.len();
    chunks
        .iter()
        .enumerate()
        .map(|(i, text)| {
            let k = format!("{}/{n}", i + 1);
            Part {
                body: wrap(text, &k),
                marker: part_marker(marker, i + 1, n),
            }
        })
        .collect()
}

/// A line cut into pieces of at most `max` characters (a line longer
/// than a part can hold).
fn pieces(line: &str, max: usize) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    if chars.len() <= max.max(1) {
        return vec![line.to_string()];
    }
    chars
        .chunks(max.max(1))
        .map(|c| c.iter().collect())
        .collect()
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
            usage: None,
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

    fn long_report(evidence: &[usize]) -> Report {
        Report {
            summary: "Did the work.".into(),
            criteria: evidence
                .iter()
                .enumerate()
                .map(|(i, n)| Criterion {
                    number: i + 1,
                    text: format!("criterion {}", i + 1),
                    status: if i % 2 == 0 {
                        Status::Met
                    } else {
                        Status::NotMet
                    },
                    evidence: format!("e{}:", i + 1) + &"x".repeat(*n),
                })
                .collect(),
            problem: None,
        }
    }

    fn fit_to(report: &Report, limit: Option<usize>) -> Vec<Part> {
        let data = NoteData::new(context(false), report, None, None);
        let dirs = TemplateDirs::default();
        fit(&data, limit, |b| b.chars().count(), |d| d.render(&dirs)).unwrap()
    }

    #[test]
    fn without_a_limit_or_within_it_the_note_is_one_part() {
        let r = long_report(&[3000, 10]);
        let parts = fit_to(&r, None);
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].marker, "csm-00000000000000aa");
        assert!(parts[0].body.contains(&"x".repeat(3000)));
    }

    #[test]
    fn the_longest_evidence_is_collapsed_first_and_verdicts_stay() {
        let r = long_report(&[3000, 1500, 200, 10]);
        let whole = fit_to(&r, None)[0].body.chars().count();
        // Room for everything but the longest evidence.
        let parts = fit_to(&r, Some(whole - 2500));
        assert_eq!(parts.len(), 1, "{parts:?}");
        let body = &parts[0].body;
        assert!(!body.contains(&"x".repeat(3000)), "{body}");
        assert!(
            body.contains(&"x".repeat(1500)),
            "the next one is kept: {body}"
        );
        assert_eq!(body.matches("shortened to fit").count(), 1, "{body}");
        assert_eq!(body.matches("✅ met").count(), 2, "{body}");
        assert_eq!(body.matches("❌ not met").count(), 2, "{body}");
        assert!(body.chars().count() <= whole - 2500);
    }

    #[test]
    fn a_note_that_still_does_not_fit_is_split_into_marked_parts() {
        let mut r = long_report(&[10; 40]);
        r.summary = "s".repeat(900);
        let limit = 1000;
        let parts = fit_to(&r, Some(limit));
        let n = parts.len();
        assert!(n >= 2, "{parts:?}");
        let mut rows = 0;
        for (i, p) in parts.iter().enumerate() {
            let kn = format!("{}/{n}", i + 1);
            assert_eq!(p.marker, format!("csm-00000000000000aa part {kn}"));
            assert!(carries(&p.body, &p.marker), "{}", p.body);
            assert!(p.body.contains(&format!("part {kn}**")), "{}", p.body);
            assert!(
                p.body.chars().count() <= limit,
                "{}",
                p.body.chars().count()
            );
            assert_eq!(part_of(&p.marker), Some(kn.as_str()));
            rows += p.body.matches("| criterion ").count();
            // A part that starts inside the table repeats its header.
            if p.body.contains("| criterion ") {
                assert!(
                    p.body.contains("| # | Acceptance criterion |"),
                    "{}",
                    p.body
                );
            }
        }
        assert_eq!(rows, 40, "every verdict, once");
        assert_eq!(part_of("csm-00000000000000aa"), None);
    }
}
