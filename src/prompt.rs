//! The prompts csm gives Codex, rendered from Handlebars templates.
//!
//! The templates ship inside the binary (`templates/*.md.hbs`); a user
//! template in `$XDG_CONFIG_HOME/csm/templates/` overrides the shipped one,
//! and a repository template in `<repo>/.csm/templates/` overrides both. A
//! template with a mistake is reported with its file and line.
//!
//! Ticket text goes into the prompt as Markdown, not HTML-escaped, but with
//! terminal control sequences removed (see `output::sanitize`) and a huge
//! description cut at [`MAX_DESCRIPTION_CHARS`] with a marker, so a ticket
//! can neither smuggle escape codes into Codex's terminal nor flood its
//! context.

use std::path::{Path, PathBuf};

use handlebars::{Handlebars, RenderErrorReason};
use serde::Serialize;

use crate::output::sanitize;
use crate::tracker::{Comment, Ticket};

/// The longest description put into a prompt, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 32_000;

/// The prompts csm renders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Template {
    /// The opening prompt of `csm start`.
    Start,
    /// What changed on the ticket, for `csm resume`.
    Resume,
    /// Drafting a ticket (and revising the draft), for `csm draft-ticket`.
    Draft,
    /// The request for a per-criterion report, for `csm done`.
    Report,
    /// The completion note `csm done` posts to the ticket.
    Done,
    /// The pull request's body, for `csm done --pr`.
    PullRequest,
}

impl Template {
    /// The template's file name.
    pub fn file_name(self) -> &'static str {
        match self {
            Template::Start => "start.md.hbs",
            Template::Resume => "resume.md.hbs",
            Template::Draft => "draft.md.hbs",
            Template::Report => "report.md.hbs",
            Template::Done => "done.md.hbs",
            Template::PullRequest => "pr.md.hbs",
        }
    }

    fn shipped(self) -> &'static str {
        match self {
            Template::Start => include_str!("../templates/start.md.hbs"),
            Template::Resume => include_str!("../templates/resume.md.hbs"),
            Template::Draft => include_str!("../templates/draft.md.hbs"),
            Template::Report => include_str!("../templates/report.md.hbs"),
            Template::Done => include_str!("../templates/done.md.hbs"),
            Template::PullRequest => include_str!("../templates/pr.md.hbs"),
        }
    }
}

/// Why a prompt cannot be rendered.
#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    /// A template file cannot be read.
    #[error("cannot read template {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A template has a syntax error, or failed while rendering.
    #[error("template {origin}:{line}: {message}")]
    Template {
        /// The file (or `built-in <name>`).
        origin: String,
        /// 1-based line, 0 when unknown.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

/// Where template overrides are looked for.
#[derive(Clone, Debug, Default)]
pub struct TemplateDirs {
    /// The user's folder (`$XDG_CONFIG_HOME/csm/templates`).
    pub user: Option<PathBuf>,
    /// The repository's folder (`<repo>/.csm/templates`).
    pub repo: Option<PathBuf>,
}

impl TemplateDirs {
    /// Finds the text of `template`: the repository's, else the user's, else
    /// the shipped one. Returns the text and where it came from.
    pub fn load(&self, template: Template) -> Result<(String, String), PromptError> {
        for dir in [&self.repo, &self.user].into_iter().flatten() {
            let path = dir.join(template.file_name());
            match std::fs::read_to_string(&path) {
                Ok(text) => return Ok((text, path.display().to_string())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(PromptError::Read { path, source }),
            }
        }
        Ok((
            template.shipped().to_string(),
            format!("built-in {}", template.file_name()),
        ))
    }

    /// Loads and renders `template` with `data`.
    pub fn render<T: Serialize>(
        &self,
        template: Template,
        data: &T,
    ) -> Result<String, PromptError> {
        let (text, origin) = self.load(template)?;
        render_text(&text, &origin, data)
    }
}

/// Renders template text (named `origin` in errors) with `data`.
pub fn render_text<T: Serialize>(
    text: &str,
    origin: &str,
    data: &T,
) -> Result<String, PromptError> {
    let mut hb = Handlebars::new();
    hb.register_escape_fn(handlebars::no_escape);
    hb.set_strict_mode(false);
    hb.register_helper("inc", Box::new(inc_helper));
    hb.register_helper("indent", Box::new(indent_helper));
    hb.register_template_string("t", text)
        .map_err(|e| PromptError::Template {
            origin: origin.to_string(),
            line: e.pos().map_or(0, |(line, _)| line),
            message: e.reason().to_string(),
        })?;
    let out = hb.render("t", data).map_err(|e| PromptError::Template {
        origin: origin.to_string(),
        line: e.line_no.unwrap_or(0),
        message: match e.reason() {
            RenderErrorReason::Other(m) => m.clone(),
            other => other.to_string(),
        },
    })?;
    Ok(tidy(&out))
}

// `{{inc @index}}`: 1-based numbering in lists.
handlebars::handlebars_helper!(inc_helper: |n: u64| n + 1);

// `{{indent text}}`: every non-empty line indented by two spaces.
handlebars::handlebars_helper!(indent_helper: |text: str| text
    .lines()
    .map(|l| if l.is_empty() { String::new() } else { format!("  {l}") })
    .collect::<Vec<_>>()
    .join("\n"));

/// Collapses runs of blank lines left by conditional blocks.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.trim().lines() {
        if line.trim().is_empty() {
            blank += 1;
            if blank > 1 {
                continue;
            }
            out.push('\n');
        } else {
            blank = 0;
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    out
}

/// Cleans ticket text for a prompt: control sequences out, length capped.
pub fn clean(text: &str) -> String {
    let clean = sanitize(text);
    if clean.chars().count() <= MAX_DESCRIPTION_CHARS {
        return clean;
    }
    let cut: String = clean.chars().take(MAX_DESCRIPTION_CHARS).collect();
    format!(
        "{cut}\n\n[… truncated by csm: the full text has {} characters; read the ticket for the rest]",
        clean.chars().count()
    )
}

/// What the start template sees.
#[derive(Clone, Debug, Serialize)]
pub struct StartData {
    /// The ticket key.
    pub key: String,
    /// The summary.
    pub summary: String,
    /// The description (Markdown).
    pub description: String,
    /// The acceptance criteria.
    pub acceptance_criteria: Vec<String>,
    /// The labels.
    pub labels: Vec<String>,
    /// The status.
    pub status: String,
    /// The issue type.
    pub issue_type: Option<String>,
    /// Where the ticket can be opened.
    pub url: Option<String>,
    /// The git branch of the folder, when known.
    pub branch: Option<String>,
}

impl StartData {
    /// The data for a ticket, cleaned for a prompt.
    pub fn new(ticket: &Ticket, branch: Option<String>) -> StartData {
        StartData {
            key: ticket.key.to_string(),
            summary: clean(&ticket.summary),
            description: clean(ticket.description.trim()),
            acceptance_criteria: ticket
                .acceptance_criteria
                .iter()
                .map(|c| clean(c))
                .collect(),
            labels: ticket.labels.iter().map(|l| clean(l)).collect(),
            status: clean(&ticket.status),
            issue_type: ticket.issue_type.as_deref().map(clean),
            url: ticket.url.clone(),
            branch,
        }
    }
}

/// A value before and after.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Before.
    pub old: String,
    /// After.
    pub new: String,
}

/// What changed on a ticket between two readings, for the resume prompt.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct TicketChanges {
    /// The ticket key.
    pub key: String,
    /// The current summary.
    pub summary: String,
    /// The summary, if it changed.
    pub summary_changed: Option<Change>,
    /// The status, if it changed.
    pub status_changed: Option<Change>,
    /// Whether the description changed.
    pub description_changed: bool,
    /// The current description.
    pub description: String,
    /// Criteria that are new.
    pub criteria_added: Vec<String>,
    /// Criteria that are gone.
    pub criteria_removed: Vec<String>,
    /// The current criteria.
    pub acceptance_criteria: Vec<String>,
    /// Comments added since.
    pub new_comments: Vec<Comment>,
}

impl TicketChanges {
    /// Compares the ticket as it was at the last launch with now.
    /// `comments_now` are the comments when the count grew (the newest
    /// `now.comment_count - before.comment_count` of them are new).
    pub fn between(before: &Ticket, now: &Ticket, comments_now: &[Comment]) -> TicketChanges {
        let changed = |a: &str, b: &str| {
            (a.trim() != b.trim()).then(|| Change {
                old: clean(a),
                new: clean(b),
            })
        };
        let added_count = now.comment_count.saturating_sub(before.comment_count);
        let new_comments = comments_now
            .iter()
            .skip(comments_now.len().saturating_sub(added_count))
            .map(|c| Comment {
                body: clean(&c.body),
                author: c.author.as_deref().map(clean),
                ..c.clone()
            })
            .collect();
        TicketChanges {
            key: now.key.to_string(),
            summary: clean(&now.summary),
            summary_changed: changed(&before.summary, &now.summary),
            status_changed: changed(&before.status, &now.status),
            description_changed: before.description.trim() != now.description.trim(),
            description: clean(now.description.trim()),
            criteria_added: now
                .acceptance_criteria
                .iter()
                .filter(|c| !before.acceptance_criteria.contains(c))
                .map(|c| clean(c))
                .collect(),
            criteria_removed: before
                .acceptance_criteria
                .iter()
                .filter(|c| !now.acceptance_criteria.contains(c))
                .map(|c| clean(c))
                .collect(),
            acceptance_criteria: now.acceptance_criteria.iter().map(|c| clean(c)).collect(),
            new_comments,
        }
    }

    /// Whether nothing Codex should hear about changed.
    pub fn is_empty(&self) -> bool {
        self.summary_changed.is_none()
            && self.status_changed.is_none()
            && !self.description_changed
            && self.criteria_added.is_empty()
            && self.criteria_removed.is_empty()
            && self.new_comments.is_empty()
    }

    /// One line for the user, e.g. "status To Do → In Progress, 2 new
    /// criteria, 1 new comment".
    pub fn summary_line(&self) -> String {
        let mut parts = Vec::new();
        if self.summary_changed.is_some() {
            parts.push("summary changed".to_string());
        }
        if let Some(c) = &self.status_changed {
            parts.push(format!("status {} → {}", c.old, c.new));
        }
        if self.description_changed {
            parts.push("description changed".to_string());
        }
        let count = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        if !self.criteria_added.is_empty() {
            parts.push(
                count(self.criteria_added.len(), "new criterion").replace("criterions", "criteria"),
            );
        }
        if !self.criteria_removed.is_empty() {
            parts.push(
                count(self.criteria_removed.len(), "removed criterion")
                    .replace("criterions", "criteria"),
            );
        }
        if !self.new_comments.is_empty() {
            parts.push(count(self.new_comments.len(), "new comment"));
        }
        parts.join(", ")
    }
}

/// The template folders for a repository root and csm's config folder.
pub fn template_dirs(config_dir: &Path, repo_root: &Path) -> TemplateDirs {
    TemplateDirs {
        user: Some(config_dir.join("templates")),
        repo: Some(repo_root.join(crate::paths::REPO_DIR).join("templates")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracker::TicketKey;

    fn ticket() -> Ticket {
        Ticket {
            key: TicketKey::parse("PROJ-1").unwrap(),
            summary: "Add a --json flag".into(),
            description: "Scripts need <output> & more.".into(),
            acceptance_criteria: vec!["prints JSON".into(), "has `key`".into()],
            status: "To Do".into(),
            labels: vec!["cli".into(), "json".into()],
            issue_type: Some("Story".into()),
            updated: None,
            comment_count: 0,
            url: None,
        }
    }

    #[test]
    fn start_prompt_has_summary_and_every_criterion_unescaped() {
        let dirs = TemplateDirs::default();
        let text = dirs
            .render(
                Template::Start,
                &StartData::new(&ticket(), Some("main".into())),
            )
            .unwrap();
        assert!(text.contains("PROJ-1: Add a --json flag"), "{text}");
        assert!(text.contains("1. prints JSON\n2. has `key`"), "{text}");
        assert!(text.contains("Scripts need <output> & more."), "{text}");
        assert!(text.contains("Labels: cli, json"), "{text}");
        assert!(text.contains("`main`"), "{text}");
        assert!(!text.contains("\n\n\n"), "{text}");
    }

    #[test]
    fn hostile_and_huge_text_is_cleaned() {
        let mut t = ticket();
        t.summary = "x\u{1b}]52;c;ZXZpbA==\u{7}y".into();
        t.description = "a".repeat(MAX_DESCRIPTION_CHARS + 10);
        let data = StartData::new(&t, None);
        assert_eq!(data.summary, "xy");
        assert!(data.description.contains("truncated by csm"));
        assert!(data.description.len() < MAX_DESCRIPTION_CHARS + 200);
    }

    #[test]
    fn overrides_repo_then_user_then_shipped_and_errors_name_file_line() {
        let dir = tempfile::tempdir().unwrap();
        let user = dir.path().join("user");
        let repo = dir.path().join("repo");
        std::fs::create_dir_all(&user).unwrap();
        std::fs::create_dir_all(&repo).unwrap();
        let dirs = TemplateDirs {
            user: Some(user.clone()),
            repo: Some(repo.clone()),
        };
        let data = StartData::new(&ticket(), None);
        std::fs::write(user.join("start.md.hbs"), "user {{key}}").unwrap();
        assert_eq!(
            dirs.render(Template::Start, &data).unwrap(),
            "user PROJ-1\n"
        );
        std::fs::write(repo.join("start.md.hbs"), "repo {{key}}").unwrap();
        assert_eq!(
            dirs.render(Template::Start, &data).unwrap(),
            "repo PROJ-1\n"
        );
        std::fs::write(
            repo.join("start.md.hbs"),
            "line one\nline two {{#if key}}\nnever closed\n",
        )
        .unwrap();
        let err = dirs.render(Template::Start, &data).unwrap_err().to_string();
        let expected = format!("{}:", repo.join("start.md.hbs").display());
        assert!(err.starts_with(&format!("template {expected}")), "{err}");
        assert!(matches!(
            dirs.render(Template::Start, &data).unwrap_err(),
            PromptError::Template { line, .. } if line >= 2
        ));
    }

    #[test]
    fn changes_between_readings() {
        let before = ticket();
        let mut now = ticket();
        assert!(TicketChanges::between(&before, &now, &[]).is_empty());
        now.acceptance_criteria = vec!["prints JSON".into(), "has `status` too".into()];
        now.status = "In Progress".into();
        now.comment_count = 1;
        let comments = vec![Comment {
            id: "1".into(),
            author: Some("Ana".into()),
            body: "Please also cover errors.".into(),
            created: None,
        }];
        let changes = TicketChanges::between(&before, &now, &comments);
        assert!(!changes.is_empty());
        assert_eq!(changes.criteria_added, vec!["has `status` too"]);
        assert_eq!(changes.criteria_removed, vec!["has `key`"]);
        assert_eq!(
            changes.summary_line(),
            "status To Do → In Progress, 1 new criterion, 1 removed criterion, 1 new comment"
        );
        let text = TemplateDirs::default()
            .render(Template::Resume, &changes)
            .unwrap();
        assert!(
            text.contains("New acceptance criteria:\n  - has `status` too"),
            "{text}"
        );
        assert!(text.contains("removed"), "{text}");
        assert!(text.contains("Ana: Please also cover errors."), "{text}");
        assert!(text.contains("from \"To Do\" to \"In Progress\""), "{text}");
        assert!(!text.contains("description changed"), "{text}");
    }
}
