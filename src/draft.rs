//! The draft of `csm draft-ticket`: what Codex answers (checked against
//! `templates/draft.schema.json`), the draft as Markdown to show and to
//! edit, the edited Markdown read back, the diff of an existing ticket's
//! criteria, and the prompts, including the one that feeds the readiness
//! lint's findings back to Codex.
//!
//! Everything here is pure; running Codex, asking the user and writing the
//! ticket are the command's business (`commands/draft_ticket.rs`).

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag};
use serde::{Deserialize, Serialize};

use crate::lint::{self, Verdict};
use crate::output::sanitize;
use crate::prompt::{StartData, clean};
use crate::tracker::markdown::{self, one_line};
use crate::tracker::{NewTicket, Ticket};

/// The JSON schema Codex's answer must match (OpenAI strict structured
/// outputs: every property required, no others allowed).
pub const SCHEMA: &str = include_str!("../templates/draft.schema.json");

/// The section headings of a draft in Markdown.
pub const ACCEPTANCE_CRITERIA: &str = "Acceptance criteria";
/// See [`ACCEPTANCE_CRITERIA`].
pub const DEFINITION_OF_DONE: &str = "Definition of done";
/// See [`ACCEPTANCE_CRITERIA`].
pub const OUT_OF_SCOPE: &str = "Out of scope";
/// See [`ACCEPTANCE_CRITERIA`].
pub const OPEN_QUESTIONS: &str = "Open questions";

/// A drafted ticket: the fields of the schema.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Draft {
    /// One line naming one responsibility.
    pub summary: String,
    /// Markdown.
    pub description: String,
    /// Concrete, observable, checkable statements.
    pub acceptance_criteria: Vec<String>,
    /// What must be true besides the criteria.
    pub definition_of_done: Vec<String>,
    /// What the ticket deliberately leaves out.
    pub out_of_scope: Vec<String>,
    /// What a person must still decide.
    pub open_questions: Vec<String>,
}

/// Why Codex's answer is not a draft.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AnswerError {
    /// Nothing came back.
    #[error("Codex gave an empty answer")]
    Empty,
    /// The answer is not JSON.
    #[error("Codex's answer is not JSON ({0})")]
    NotJson(String),
    /// The answer is JSON of the wrong shape.
    #[error("Codex's answer does not match the draft schema: {0}")]
    Schema(String),
}

/// Reads Codex's answer: a JSON object with exactly the schema's fields
/// and types (a Markdown code fence around it is tolerated). Items are
/// trimmed to one line, stray list markers removed and blank items dropped.
pub fn parse_answer(raw: &str) -> Result<Draft, AnswerError> {
    let text = strip_fence(raw.trim());
    if text.is_empty() {
        return Err(AnswerError::Empty);
    }
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| AnswerError::NotJson(e.to_string()))?;
    if !value.is_object() {
        return Err(AnswerError::Schema(format!(
            "expected a JSON object, got {}",
            kind_of(&value)
        )));
    }
    let draft: Draft =
        serde_json::from_value(value).map_err(|e| AnswerError::Schema(e.to_string()))?;
    Ok(draft.normalized())
}

fn kind_of(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// The text inside a "```json ... ```" fence, or the text itself.
fn strip_fence(text: &str) -> &str {
    let Some(rest) = text.strip_prefix("```") else {
        return text;
    };
    let Some((_, body)) = rest.split_once('\n') else {
        return text;
    };
    body.trim_end().strip_suffix("```").unwrap_or(body).trim()
}

/// One list item as one clean line: no list marker, no checkbox.
fn item(text: &str) -> String {
    let mut line = one_line(text);
    for marker in ["- ", "* ", "+ "] {
        if let Some(rest) = line.strip_prefix(marker) {
            line = rest.to_string();
            break;
        }
    }
    if let Some((n, rest)) = line.split_once(". ")
        && !n.is_empty()
        && n.bytes().all(|b| b.is_ascii_digit())
    {
        line = rest.to_string();
    }
    for checkbox in ["[ ] ", "[x] ", "[X] "] {
        if let Some(rest) = line.strip_prefix(checkbox) {
            line = rest.to_string();
        }
    }
    line.trim().to_string()
}

fn items(list: &[String]) -> Vec<String> {
    list.iter()
        .map(|i| item(&sanitize(i)))
        .filter(|i| !i.is_empty())
        .collect()
}

impl Draft {
    /// The same draft with clean one-line items and trimmed text, without
    /// terminal control sequences (the text came from a model and is
    /// shown, stored and later given to Codex again).
    pub fn normalized(&self) -> Draft {
        Draft {
            summary: one_line(&sanitize(&self.summary)),
            description: sanitize(self.description.trim()),
            acceptance_criteria: items(&self.acceptance_criteria),
            definition_of_done: items(&self.definition_of_done),
            out_of_scope: items(&self.out_of_scope),
            open_questions: items(&self.open_questions),
        }
    }

    /// The lint's verdict on the draft.
    pub fn verdict(&self) -> Verdict {
        lint::lint(&self.summary, &self.acceptance_criteria)
    }

    /// The whole draft as Markdown: the summary as the title, the
    /// description, then one section per list (empty lists left out, but
    /// the criteria's heading always shown).
    pub fn to_markdown(&self) -> String {
        let mut out = format!("# {}\n\n", self.summary);
        if !self.description.is_empty() {
            out.push_str(&self.description);
            out.push_str("\n\n");
        }
        out.push_str(&section(
            ACCEPTANCE_CRITERIA,
            &self.acceptance_criteria,
            true,
        ));
        out.push_str(&self.extra_sections());
        out.trim_end().to_string() + "\n"
    }

    fn extra_sections(&self) -> String {
        [
            (DEFINITION_OF_DONE, &self.definition_of_done),
            (OUT_OF_SCOPE, &self.out_of_scope),
            (OPEN_QUESTIONS, &self.open_questions),
        ]
        .iter()
        .map(|(title, list)| section(title, list, false))
        .collect()
    }

    /// The description to store in the tracker: the description and the
    /// definition of done, out-of-scope and open-question sections (the
    /// criteria go where the tracker keeps them).
    pub fn tracker_description(&self) -> String {
        let mut out = self.description.clone();
        let extra = self.extra_sections();
        if !extra.is_empty() {
            out.push_str("\n\n");
            out.push_str(&extra);
        }
        out.trim().to_string()
    }

    /// The ticket to create.
    pub fn new_ticket(&self, project: Option<String>, issue_type: Option<String>) -> NewTicket {
        NewTicket {
            project,
            issue_type,
            summary: self.summary.clone(),
            description: self.tracker_description(),
            acceptance_criteria: self.acceptance_criteria.clone(),
            labels: Vec::new(),
        }
    }

    /// Reads a draft back from Markdown in the form [`Draft::to_markdown`]
    /// writes: the first level-1 heading is the summary, the known
    /// sections (any heading level, any case) hold one item per list item
    /// (or per line), and everything else is the description. HTML
    /// comments are dropped.
    pub fn from_markdown(text: &str) -> Draft {
        let text = strip_comments(text);
        let headings = headings(&text);
        let mut cut: Vec<(usize, usize)> = Vec::new();
        let mut draft = Draft::default();
        if let Some(h) = headings.iter().find(|h| h.level == HeadingLevel::H1) {
            draft.summary = one_line(&h.title);
            cut.push((h.start, h.end));
        }
        for (i, h) in headings.iter().enumerate() {
            let name = h.title.trim().trim_end_matches(':').trim().to_lowercase();
            let list = match name.as_str() {
                n if n == ACCEPTANCE_CRITERIA.to_lowercase() => &mut draft.acceptance_criteria,
                n if n == DEFINITION_OF_DONE.to_lowercase() => &mut draft.definition_of_done,
                n if n == OUT_OF_SCOPE.to_lowercase() => &mut draft.out_of_scope,
                n if n == OPEN_QUESTIONS.to_lowercase() => &mut draft.open_questions,
                _ => continue,
            };
            let end = headings[i + 1..]
                .iter()
                .find(|n| n.level <= h.level)
                .map_or(text.len(), |n| n.start);
            list.extend(markdown::criteria(&text[h.end..end]));
            cut.push((h.start, end));
        }
        cut.sort();
        let mut description = String::new();
        let mut at = 0;
        for (start, end) in cut {
            if start > at {
                description.push_str(&text[at..start]);
                description.push('\n');
            }
            at = at.max(end);
        }
        description.push_str(&text[at.min(text.len())..]);
        draft.description = collapse_blank_lines(description.trim());
        draft.normalized()
    }
}

/// `## Title` and a list, or nothing for an empty list unless `always`.
fn section(title: &str, list: &[String], always: bool) -> String {
    if list.is_empty() && !always {
        return String::new();
    }
    let mut out = format!("## {title}\n\n");
    for i in list {
        out.push_str(&format!("- {i}\n"));
    }
    out.push('\n');
    out
}

struct Heading {
    start: usize,
    end: usize,
    level: HeadingLevel,
    title: String,
}

fn headings(text: &str) -> Vec<Heading> {
    Parser::new_ext(text, Options::empty())
        .into_offset_iter()
        .filter_map(|(event, range)| match event {
            Event::Start(Tag::Heading { level, .. }) => {
                let source = &text[range.clone()];
                let first = source.lines().next().unwrap_or_default();
                let title = first
                    .trim()
                    .trim_start_matches('#')
                    .trim_end_matches('#')
                    .trim()
                    .to_string();
                Some(Heading {
                    start: range.start,
                    end: range.end,
                    level,
                    title,
                })
            }
            _ => None,
        })
        .collect()
}

fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<!--") {
        out.push_str(&rest[..start]);
        match rest[start..].find("-->") {
            Some(end) => rest = &rest[start + end + 3..],
            None => {
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn collapse_blank_lines(text: &str) -> String {
    let mut out = String::new();
    let mut blank = 0;
    for line in text.lines() {
        if line.trim().is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
        } else {
            blank = 0;
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.trim_end().to_string()
}

/// The file a person edits: a comment on how, the lint's findings, then
/// the draft (for an existing ticket, only its criteria: nothing else is
/// written back).
pub fn edit_text(draft: &Draft, existing: Option<&str>, findings: &[String]) -> String {
    let mut head = String::from("<!--\n");
    match existing {
        Some(key) => head.push_str(&format!(
            "The acceptance criteria for {key}, one list item each. Only the criteria are\nwritten back. Save and quit to review them again.\n"
        )),
        None => head.push_str(
            "The ticket to create. The first \"# \" line is its summary; the \"## Acceptance\ncriteria\" list holds one criterion per item. Save and quit to review it again.\n",
        ),
    }
    if !findings.is_empty() {
        head.push_str("\nThe readiness lint's findings:\n");
        for f in findings {
            head.push_str(&format!("  - {}\n", f.replace("-->", "- ->")));
        }
    }
    head.push_str("-->\n\n");
    match existing {
        Some(_) => head + &section(ACCEPTANCE_CRITERIA, &draft.acceptance_criteria, true),
        None => head + &draft.to_markdown(),
    }
}

/// The draft after a person edited [`edit_text`]'s file: for an existing
/// ticket only its criteria change.
pub fn apply_edit(draft: &Draft, edited: &str, existing: bool) -> Draft {
    let read = Draft::from_markdown(edited);
    if existing {
        Draft {
            acceptance_criteria: read.acceptance_criteria,
            ..draft.clone()
        }
    } else {
        read
    }
}

/// One line of a criteria diff.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiffLine {
    /// In both.
    Same(String),
    /// Only in the current criteria.
    Removed(String),
    /// Only in the draft.
    Added(String),
}

/// The criteria a ticket has against the drafted ones, in order (a
/// longest-common-subsequence diff; criteria compare by their one-line
/// text).
pub fn criteria_diff(old: &[String], new: &[String]) -> Vec<DiffLine> {
    let a: Vec<String> = old.iter().map(|s| one_line(s)).collect();
    let b: Vec<String> = new.iter().map(|s| one_line(s)).collect();
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            out.push(DiffLine::Same(a[i].clone()));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            // Removals before additions, as diffs show them.
            out.push(DiffLine::Removed(a[i].clone()));
            i += 1;
        } else {
            out.push(DiffLine::Added(b[j].clone()));
            j += 1;
        }
    }
    out
}

/// What the draft template sees.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PromptData {
    /// The idea (new tickets).
    pub idea: String,
    /// The folder Codex reads.
    pub folder: String,
    /// The project, when given.
    pub project: Option<String>,
    /// The issue type, when given.
    pub issue_type: Option<String>,
    /// The ticket whose criteria are rewritten.
    pub existing: Option<StartData>,
    /// Whether this is the revision turn.
    pub revision: bool,
    /// The lint's findings, for the revision turn.
    pub findings: Vec<String>,
    /// The longest summary.
    pub max_summary: usize,
}

impl PromptData {
    /// The first turn for an idea.
    pub fn idea(
        idea: &str,
        folder: &std::path::Path,
        project: Option<&str>,
        issue_type: Option<&str>,
    ) -> PromptData {
        PromptData {
            idea: clean(idea.trim()),
            folder: folder.display().to_string(),
            project: project.map(clean),
            issue_type: issue_type.map(clean),
            max_summary: lint::MAX_SUMMARY_CHARS,
            ..PromptData::default()
        }
    }

    /// The first turn for an existing ticket.
    pub fn ticket(ticket: &Ticket, folder: &std::path::Path) -> PromptData {
        PromptData {
            folder: folder.display().to_string(),
            existing: Some(StartData::new(ticket, None)),
            max_summary: lint::MAX_SUMMARY_CHARS,
            ..PromptData::default()
        }
    }

    /// The revision turn: the findings to fix.
    pub fn revision(&self, findings: Vec<String>) -> PromptData {
        PromptData {
            revision: true,
            findings: findings.iter().map(|f| clean(f)).collect(),
            ..self.clone()
        }
    }
}

/// The findings to feed back to Codex (for an existing ticket only those
/// about criteria: its summary is not Codex's to change).
pub fn feedback(verdict: &Verdict, criteria: &[String], existing: bool) -> Vec<String> {
    verdict
        .findings
        .iter()
        .filter(|f| !existing || !matches!(f.target, lint::Target::Summary))
        .map(|f| f.describe(criteria))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompt::{Template, TemplateDirs};

    fn answer() -> serde_json::Value {
        serde_json::json!({
            "summary": "Add a --csv flag to csm list",
            "description": "Spreadsheet users want sessions as CSV.\n\n## Background\n\nAsked twice.",
            "acceptance_criteria": ["`csm list --csv` prints a header row `key,status`", "- [ ] one row per session", "  "],
            "definition_of_done": ["tests in tests/it/list.rs"],
            "out_of_scope": [],
            "open_questions": ["Which separator for Excel locales?"]
        })
    }

    #[test]
    fn answers_are_checked_against_the_schema() {
        let d = parse_answer(&answer().to_string()).unwrap();
        assert_eq!(
            d.acceptance_criteria,
            vec![
                "`csm list --csv` prints a header row `key,status`",
                "one row per session"
            ]
        );
        let fenced = format!("```json\n{}\n```", answer());
        assert_eq!(parse_answer(&fenced).unwrap(), d);
        let mut hostile = answer();
        hostile["summary"] = "Export\u{1b}]52;c;ZXZpbA==\u{7} sessions".into();
        assert_eq!(
            parse_answer(&hostile.to_string()).unwrap().summary,
            "Export sessions"
        );

        let mut missing = answer();
        missing
            .as_object_mut()
            .unwrap()
            .remove("acceptance_criteria");
        let mut extra = answer();
        extra["priority"] = "high".into();
        let mut wrong = answer();
        wrong["acceptance_criteria"] = "one string".into();
        let mut null = answer();
        null["summary"] = serde_json::Value::Null;
        let cases = [
            ("", "empty answer"),
            ("   \n", "empty answer"),
            ("Here is the ticket: ...", "not JSON"),
            ("[1, 2]", "expected a JSON object, got an array"),
            (&missing.to_string(), "missing field `acceptance_criteria`"),
            (&extra.to_string(), "unknown field `priority`"),
            (&wrong.to_string(), "invalid type: string \"one string\""),
            (&null.to_string(), "invalid type: null"),
        ];
        // The parser and the shipped schema agree on every case.
        let schema: serde_json::Value = serde_json::from_str(SCHEMA).unwrap();
        let validator = jsonschema::validator_for(&schema).unwrap();
        assert!(validator.is_valid(&answer()));
        for (raw, expected) in cases {
            let err = parse_answer(raw).unwrap_err().to_string();
            assert!(err.contains(expected), "{raw:?}: {err}");
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(raw) {
                assert!(!validator.is_valid(&v), "the schema accepts {raw}");
            }
        }
    }

    #[test]
    fn the_schema_is_strict() {
        let schema: serde_json::Value = serde_json::from_str(SCHEMA).unwrap();
        let props: Vec<&String> = schema["properties"].as_object().unwrap().keys().collect();
        let required: Vec<&str> = schema["required"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(props.len(), required.len());
        assert!(props.iter().all(|p| required.contains(&p.as_str())));
        assert_eq!(schema["additionalProperties"], false);
        // The draft serialises to exactly the schema's fields.
        let d = serde_json::to_value(Draft::default()).unwrap();
        assert_eq!(d.as_object().unwrap().len(), props.len());
    }

    #[test]
    fn markdown_round_trips_and_reads_edits() {
        let d = parse_answer(&answer().to_string()).unwrap();
        let md = d.to_markdown();
        assert!(md.starts_with("# Add a --csv flag to csm list\n\nSpreadsheet users"));
        assert!(!md.contains("## Out of scope"), "{md}");
        assert_eq!(Draft::from_markdown(&md), d);
        let edit = edit_text(&d, None, &["criterion 2 --> bad".to_string()]);
        assert!(edit.contains("criterion 2 - -> bad"));
        assert_eq!(apply_edit(&Draft::default(), &edit, false), d);

        let edited = "<!-- notes -->\n# Export sessions as CSV\n\nWhy.\n\n### acceptance criteria:\n\n1. prints `a,b`\n2. exits 0\n\n## Notes for later\n\nkept\n";
        let e = Draft::from_markdown(edited);
        assert_eq!(e.summary, "Export sessions as CSV");
        assert_eq!(e.acceptance_criteria, vec!["prints `a,b`", "exits 0"]);
        assert_eq!(e.description, "Why.\n\n## Notes for later\n\nkept");

        // For an existing ticket only the criteria are read back.
        let key_edit = edit_text(&d, Some("PROJ-1"), &[]);
        assert!(!key_edit.contains("# Add"), "{key_edit}");
        let changed = key_edit.replace("one row per session", "one row per stored session");
        let after = apply_edit(&d, &changed, true);
        assert_eq!(after.acceptance_criteria[1], "one row per stored session");
        assert_eq!(after.summary, d.summary);
    }

    #[test]
    fn tracker_description_holds_the_extra_sections() {
        let d = parse_answer(&answer().to_string()).unwrap();
        let t = d.new_ticket(Some("PROJ".into()), None);
        assert_eq!(
            t.description,
            "Spreadsheet users want sessions as CSV.\n\n## Background\n\nAsked twice.\n\n## Definition of done\n\n- tests in tests/it/list.rs\n\n## Open questions\n\n- Which separator for Excel locales?"
        );
        assert_eq!(t.acceptance_criteria.len(), 2);
    }

    #[test]
    fn criteria_diff_keeps_order() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let diff = criteria_diff(&s(&["a", "b", "c"]), &s(&["a", "c  ", "d"]));
        assert_eq!(
            diff,
            vec![
                DiffLine::Same("a".into()),
                DiffLine::Removed("b".into()),
                DiffLine::Same("c".into()),
                DiffLine::Added("d".into()),
            ]
        );
        assert_eq!(
            criteria_diff(&[], &s(&["x"])),
            vec![DiffLine::Added("x".into())]
        );
        assert_eq!(
            criteria_diff(&s(&["old", "kept"]), &s(&["new", "kept"])),
            vec![
                DiffLine::Removed("old".into()),
                DiffLine::Added("new".into()),
                DiffLine::Same("kept".into()),
            ]
        );
    }

    #[test]
    fn prompts_for_an_idea_a_ticket_and_a_revision() {
        let dirs = TemplateDirs::default();
        let folder = std::path::Path::new("/src/app");
        let first = PromptData::idea("Let people export sessions", folder, Some("PROJ"), None);
        let text = dirs.render(Template::Draft, &first).unwrap();
        assert!(
            text.contains("<idea>\nLet people export sessions\n</idea>"),
            "{text}"
        );
        assert!(text.contains("in project PROJ"), "{text}");
        assert!(text.contains("(/src/app)"), "{text}");
        assert!(text.contains("at most 100 characters"), "{text}");

        let ticket = Ticket {
            key: crate::tracker::TicketKey::parse("PROJ-7").unwrap(),
            summary: "Export sessions".into(),
            description: "As CSV.".into(),
            acceptance_criteria: vec!["works".into()],
            status: "To Do".into(),
            labels: vec![],
            issue_type: Some("Story".into()),
            updated: None,
            comment_count: 0,
            url: None,
        };
        let text = dirs
            .render(Template::Draft, &PromptData::ticket(&ticket, folder))
            .unwrap();
        assert!(
            text.contains("Rewrite the acceptance criteria of ticket PROJ-7: Export sessions"),
            "{text}"
        );
        assert!(text.contains("1. works"), "{text}");

        let verdict = lint::lint(&ticket.summary, &ticket.acceptance_criteria);
        let findings = feedback(&verdict, &ticket.acceptance_criteria, true);
        let text = dirs
            .render(Template::Draft, &first.revision(findings))
            .unwrap();
        assert!(
            text.starts_with("csm's readiness lint found these problems in your draft:\n\n- criterion 1 \"works\" names no observable outcome"),
            "{text}"
        );
        assert!(!text.contains("<idea>"), "{text}");
    }
}
