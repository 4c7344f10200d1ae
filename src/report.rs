//! Codex's per-criterion report for `csm done`: the answer's schema, its
//! validation, and the one retry an invalid answer gets.
//!
//! Codex is asked (through `codex exec resume --output-schema`) whether each
//! acceptance criterion is met, not met or unclear, with the evidence. What
//! comes back is checked here, never trusted: an answer that is not the
//! schema's JSON, that skips or repeats a criterion, or that invents one, is
//! asked for once more; a second bad answer turns every criterion into
//! "unclear". A criterion called met without any evidence is shown as
//! unclear: csm reports evidence, not claims.

use serde::{Deserialize, Serialize};

/// The JSON schema the answer must match (`templates/report.schema.json`).
pub const SCHEMA: &str = include_str!("../templates/report.schema.json");

/// What Codex says of one criterion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Shown met by the evidence.
    Met,
    /// Not met.
    NotMet,
    /// No evidence either way.
    Unclear,
}

impl Status {
    /// How the status reads in a note.
    pub fn label(self) -> &'static str {
        match self {
            Status::Met => "✅ met",
            Status::NotMet => "❌ not met",
            Status::Unclear => "❔ unclear",
        }
    }
}

/// One criterion with its status.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Criterion {
    /// Its 1-based number on the ticket.
    pub number: usize,
    /// The criterion's text.
    pub text: String,
    /// Met, not met, unclear.
    pub status: Status,
    /// What shows it (may be empty for unclear).
    pub evidence: String,
}

/// The report on a ticket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// What was done, in Codex's words (Markdown).
    pub summary: String,
    /// Every criterion of the ticket, in order.
    pub criteria: Vec<Criterion>,
    /// Why Codex's answer was not used, when it was not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
}

impl Report {
    /// A report of "unclear" for every criterion, saying why.
    pub fn unclear(criteria: &[String], why: &str) -> Report {
        Report {
            summary: String::new(),
            criteria: criteria
                .iter()
                .enumerate()
                .map(|(i, text)| Criterion {
                    number: i + 1,
                    text: text.clone(),
                    status: Status::Unclear,
                    evidence: String::new(),
                })
                .collect(),
            problem: Some(why.to_string()),
        }
    }

    /// The criteria that are not shown met.
    pub fn open(&self) -> Vec<&Criterion> {
        self.criteria
            .iter()
            .filter(|c| c.status != Status::Met)
            .collect()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Answer {
    summary: String,
    criteria: Vec<AnswerItem>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AnswerItem {
    number: i64,
    status: Status,
    evidence: String,
}

/// Reads and checks an answer against the ticket's criteria. The error says
/// what is wrong, in words Codex is given on the retry.
pub fn parse(answer: &str, criteria: &[String]) -> Result<Report, String> {
    let text = strip_fence(answer.trim());
    if text.is_empty() {
        return Err("the answer was empty".into());
    }
    let answer: Answer = serde_json::from_str(text)
        .map_err(|e| format!("the answer is not the schema's JSON ({e})"))?;
    let mut seen: Vec<Option<AnswerItem>> = criteria.iter().map(|_| None).collect();
    for item in answer.criteria {
        let slot = usize::try_from(item.number)
            .ok()
            .filter(|n| (1..=criteria.len()).contains(n))
            .ok_or_else(|| {
                format!(
                    "criterion number {} does not exist (the ticket has {})",
                    item.number,
                    criteria.len()
                )
            })?;
        if seen[slot - 1].is_some() {
            return Err(format!("criterion {slot} is reported twice"));
        }
        seen[slot - 1] = Some(item);
    }
    let missing: Vec<String> = seen
        .iter()
        .enumerate()
        .filter(|(_, s)| s.is_none())
        .map(|(i, _)| (i + 1).to_string())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "criteria {} are missing from the answer",
            missing.join(", ")
        ));
    }
    let criteria = seen
        .into_iter()
        .flatten()
        .zip(criteria)
        .enumerate()
        .map(|(i, (item, text))| {
            let evidence = item.evidence.trim().to_string();
            // "Met" with nothing to show for it is a claim, not a report.
            let status = if item.status == Status::Met && evidence.is_empty() {
                Status::Unclear
            } else {
                item.status
            };
            Criterion {
                number: i + 1,
                text: text.clone(),
                status,
                evidence,
            }
        })
        .collect();
    Ok(Report {
        summary: answer.summary.trim().to_string(),
        criteria,
        problem: None,
    })
}

/// A model may wrap its JSON in a Markdown fence although asked not to.
fn strip_fence(text: &str) -> &str {
    let Some(rest) = text.strip_prefix("```") else {
        return text;
    };
    let rest = rest.split_once('\n').map_or("", |(_, body)| body);
    rest.trim_end().strip_suffix("```").unwrap_or(rest).trim()
}

/// The prompt that asks again after an invalid answer.
pub fn retry_prompt(problem: &str, criteria_count: usize) -> String {
    format!(
        "Your report could not be used: {problem}. Answer again with JSON only, matching \
         the schema: a `summary`, and exactly one entry in `criteria` for each of the \
         {criteria_count} criteria, numbered 1 to {criteria_count}, each with `status` \
         met, not_met or unclear and its `evidence`."
    )
}

/// Asks for the report: `ask` runs Codex with a prompt and returns its
/// final message (`None` when it gave none). One retry after an invalid
/// answer; after that, every criterion is unclear. Errors of `ask` itself
/// (Codex failed to run) are passed on. Returns the report and the raw
/// answers, for the record.
pub fn obtain<E>(
    criteria: &[String],
    first_prompt: &str,
    mut ask: impl FnMut(&str) -> Result<Option<String>, E>,
) -> Result<(Report, Vec<String>), E> {
    let mut answers = Vec::new();
    let mut prompt = first_prompt.to_string();
    let mut problem = String::new();
    for _ in 0..2 {
        let answer = ask(&prompt)?.unwrap_or_default();
        let parsed = parse(&answer, criteria);
        answers.push(answer);
        match parsed {
            Ok(report) => return Ok((report, answers)),
            Err(why) => {
                prompt = retry_prompt(&why, criteria.len());
                problem = why;
            }
        }
    }
    Ok((
        Report::unclear(
            criteria,
            &format!("Codex's report was unusable twice: {problem}"),
        ),
        answers,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn criteria() -> Vec<String> {
        vec!["prints JSON".into(), "has a test".into()]
    }

    #[test]
    fn the_schema_is_strict_json_schema() {
        let schema: serde_json::Value = serde_json::from_str(SCHEMA).unwrap();
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(
            schema["required"],
            serde_json::json!(["summary", "criteria"])
        );
        let item = &schema["properties"]["criteria"]["items"];
        assert_eq!(item["additionalProperties"], false);
        assert_eq!(
            item["properties"]["status"]["enum"],
            serde_json::json!(["met", "not_met", "unclear"])
        );
    }

    #[test]
    fn a_good_answer_is_read_in_the_ticket_order() {
        let answer = r#"{"summary":"Added --json.","criteria":[
            {"number":2,"status":"not_met","evidence":"no test yet"},
            {"number":1,"status":"met","evidence":"tests/list.rs::json passes"}]}"#;
        let r = parse(answer, &criteria()).unwrap();
        assert_eq!(r.summary, "Added --json.");
        assert_eq!(r.criteria[0].text, "prints JSON");
        assert_eq!(r.criteria[0].status, Status::Met);
        assert_eq!(r.criteria[1].status, Status::NotMet);
        assert_eq!(r.open().len(), 1);
        assert_eq!(r.problem, None);
    }

    #[test]
    fn met_without_evidence_is_unclear() {
        let answer = r#"{"summary":"s","criteria":[
            {"number":1,"status":"met","evidence":"  "},
            {"number":2,"status":"met","evidence":"test x"}]}"#;
        let r = parse(answer, &criteria()).unwrap();
        assert_eq!(r.criteria[0].status, Status::Unclear);
        assert_eq!(r.criteria[1].status, Status::Met);
    }

    #[test]
    fn bad_answers_say_what_is_wrong() {
        let c = criteria();
        let cases = [
            ("", "empty"),
            ("All criteria are met!", "not the schema's JSON"),
            (r#"{"summary":"s"}"#, "not the schema's JSON"),
            (
                r#"{"summary":"s","criteria":[{"number":1,"status":"done","evidence":""}]}"#,
                "not the schema's JSON",
            ),
            (
                r#"{"summary":"s","criteria":[{"number":1,"status":"met","evidence":"e"}]}"#,
                "criteria 2 are missing",
            ),
            (
                r#"{"summary":"s","criteria":[{"number":3,"status":"met","evidence":"e"}]}"#,
                "number 3 does not exist",
            ),
            (
                r#"{"summary":"s","criteria":[{"number":1,"status":"met","evidence":"e"},{"number":1,"status":"met","evidence":"e"}]}"#,
                "reported twice",
            ),
            (
                r#"{"summary":"s","criteria":[],"extra":1}"#,
                "not the schema's JSON",
            ),
        ];
        for (answer, expected) in cases {
            let err = parse(answer, &c).unwrap_err();
            assert!(err.contains(expected), "{answer:?}: {err}");
        }
    }

    #[test]
    fn a_fenced_answer_is_read() {
        let answer = "```json\n{\"summary\":\"s\",\"criteria\":[]}\n```";
        assert!(parse(answer, &[]).is_ok());
    }

    #[test]
    fn one_retry_then_unclear_never_met() {
        let mut prompts = Vec::new();
        let (report, answers) = obtain::<()>(&criteria(), "first", |p| {
            prompts.push(p.to_string());
            Ok(Some(r#"{"summary":"all met","criteria":"yes"}"#.into()))
        })
        .unwrap();
        assert_eq!(prompts.len(), 2, "asked once more, no more");
        assert!(prompts[1].contains("could not be used"), "{}", prompts[1]);
        assert_eq!(answers.len(), 2);
        assert!(report.criteria.iter().all(|c| c.status == Status::Unclear));
        assert!(report.problem.unwrap().contains("unusable twice"));
    }

    #[test]
    fn a_good_retry_is_used() {
        let mut n = 0;
        let (report, _) = obtain::<()>(&criteria(), "first", |_| {
            n += 1;
            Ok(Some(if n == 1 {
                String::new()
            } else {
                r#"{"summary":"s","criteria":[{"number":1,"status":"met","evidence":"t"},{"number":2,"status":"unclear","evidence":""}]}"#.into()
            }))
        })
        .unwrap();
        assert_eq!(report.criteria[0].status, Status::Met);
        assert_eq!(report.problem, None);
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(text in ".{0,300}") {
            let _ = parse(&text, &criteria());
        }
    }
}
