//! `csm done --pr`: the ticket's branch pushed to its remote and its pull
//! request opened on the repository's GitHub, both through the outbox.
//!
//! `done` queues, in the same transaction as the note: the push (git's
//! CLI, argv, the user's own credentials), the pull request (title
//! `KEY: summary`, the body from `templates/pr.md.hbs`), the note (whose
//! pull-request line is filled in when it goes out) and, last, the link
//! on the ticket. Each step is safe to repeat: pushing what the remote
//! has changes nothing, opening looks for the branch's open pull request
//! first (and answers GitHub's 422 "already exists" by finding it), and
//! Jira upserts the remote link by its global id.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::note::{NoteData, Row};
use crate::outbox::{DeliverError, Forge, kind};
use crate::prompt::{PromptError, Template, TemplateDirs};
use crate::tracker::TicketKey;
use crate::tracker::github::GithubTracker;
use crate::tracker::github::pulls::{self, NewPull, Opened};

/// The remote csm pushes to.
pub const REMOTE: &str = "origin";

/// What a push item holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushItem {
    /// The folder to push from (the ticket's worktree).
    pub folder: PathBuf,
    /// The remote.
    pub remote: String,
    /// The branch.
    pub branch: String,
}

/// What a pull-request item holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullItem {
    /// csm's session, which records the pull request as an event.
    pub session: i64,
    /// `owner/name`.
    pub repo: String,
    /// The branch.
    pub head: String,
    /// The base branch; `None`: the repository's default.
    pub base: Option<String>,
    /// `KEY: summary`.
    pub title: String,
    /// Markdown.
    pub body: String,
    /// Open it as a draft.
    pub draft: bool,
}

/// Where a ticket's pull request goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The folder the branch is checked out in.
    pub folder: PathBuf,
    /// The branch.
    pub branch: String,
    /// The GitHub repository, `owner/name`.
    pub repo: String,
}

/// Why a pull request cannot be planned.
#[derive(Debug, thiserror::Error)]
pub enum PrError {
    /// The session's folder is on no branch.
    #[error("{0} is on no branch, so there is nothing to push")]
    NoBranch(String),
    /// The branch is the base.
    #[error(
        "the session's branch {0} is the base branch; a pull request needs a branch of its own"
    )]
    OnBase(String),
    /// No GitHub repository is known.
    #[error("no GitHub repository for {0}: its origin remote is not on GitHub")]
    NoRepo(String),
    /// The template failed.
    #[error(transparent)]
    Template(#[from] PromptError),
}

/// Finds the branch and the repository: `[github] repo`, else the
/// `origin` remote's.
pub fn target(
    folder: &std::path::Path,
    configured_repo: Option<&str>,
    base: Option<&str>,
) -> Result<Target, PrError> {
    let shown = folder.display().to_string();
    let branch = crate::git::branch(folder).ok_or_else(|| PrError::NoBranch(shown.clone()))?;
    if base == Some(branch.as_str()) {
        return Err(PrError::OnBase(branch));
    }
    let repo = match configured_repo {
        Some(r) => crate::tracker::key::validate_repo(r).ok(),
        None => crate::tracker::github::repo_of_folder(folder),
    }
    .ok_or(PrError::NoRepo(shown))?;
    Ok(Target {
        folder: folder.to_path_buf(),
        branch,
        repo,
    })
}

/// How the pull request is opened.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `--base`.
    pub base: Option<String>,
    /// `--draft`.
    pub draft: bool,
    /// `--force`: open it ready even with open criteria.
    pub force: bool,
}

/// What the pull-request template sees.
#[derive(Clone, Debug, Serialize)]
pub struct PrData {
    /// The ticket key.
    pub key: String,
    /// The ticket's summary (one line).
    pub summary: String,
    /// The ticket's web page, when it has one.
    pub ticket_url: Option<String>,
    /// What was done, in Codex's words.
    pub work_summary: String,
    /// Each criterion with its verdict and evidence.
    pub criteria: Vec<Row>,
    /// The commits.
    pub commits: Vec<crate::git::Commit>,
    /// `#N` (or `owner/name#N`) for a GitHub-issue ticket.
    pub closes: Option<String>,
    /// Codex's session id.
    pub session_id: String,
}

impl PrData {
    /// From the note's cleaned data.
    pub fn new(note: &NoteData, key: &TicketKey, tracker_id: &str, repo: &str) -> PrData {
        PrData {
            key: note.key.clone(),
            summary: note.summary.clone(),
            ticket_url: crate::tracker::ticket_location(tracker_id, key)
                .filter(|u| u.starts_with("https://") || u.starts_with("http://")),
            work_summary: note.work_summary.clone(),
            criteria: note.criteria.clone(),
            commits: note
                .repo
                .as_ref()
                .map(|r| r.commits.clone())
                .unwrap_or_default(),
            closes: closes(key, repo),
            session_id: note.session_id.clone(),
        }
    }

    /// Renders the body with `templates/pr.md.hbs` (or an override).
    pub fn render(&self, dirs: &TemplateDirs) -> Result<String, PromptError> {
        dirs.render(Template::PullRequest, self)
    }
}

/// `Closes` for a GitHub-issue ticket: `#N` in the same repository,
/// `owner/name#N` in another.
pub fn closes(key: &TicketKey, repo: &str) -> Option<String> {
    let (owner, name, number) = key.github()?;
    if format!("{owner}/{name}").eq_ignore_ascii_case(repo) {
        Some(format!("#{number}"))
    } else {
        Some(format!("{owner}/{name}#{number}"))
    }
}

/// A body GitHub takes: at most [`COMMENT_LIMIT`] characters, cut with a
/// line saying so.
///
/// [`COMMENT_LIMIT`]: crate::tracker::github::COMMENT_LIMIT
pub fn fit_body(body: String) -> String {
    const CUT: &str = "\n\n_(cut to GitHub's limit; the full report is in the ticket's note)_\n";
    let limit = crate::tracker::github::COMMENT_LIMIT;
    if body.chars().count() <= limit {
        return body;
    }
    let keep = limit - CUT.chars().count();
    let mut out: String = body.chars().take(keep).collect();
    out.push_str(CUT);
    out
}

/// The pull request's title.
pub fn title(key: &TicketKey, summary: &str) -> String {
    let summary: String = crate::output::sanitize(summary)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    format!("{key}: {summary}")
}

/// Whether the pull request opens as a draft: asked for, or a criterion
/// not shown met (unless forced).
pub fn is_draft(options: &Options, open_criteria: usize) -> bool {
    options.draft || (open_criteria > 0 && !options.force)
}

/// The outbox items before the note (push, pull request) and the one
/// after everything (the link), for the note with `marker`.
pub type Items = (
    Vec<(&'static str, String, String)>,
    (&'static str, String, String),
);

/// Builds the items.
pub fn items(
    target: &Target,
    session: i64,
    title: String,
    body: String,
    options: &Options,
    draft: bool,
    marker: &str,
) -> Items {
    let push = PushItem {
        folder: target.folder.clone(),
        remote: REMOTE.into(),
        branch: target.branch.clone(),
    };
    let pull = PullItem {
        session,
        repo: target.repo.clone(),
        head: target.branch.clone(),
        base: options.base.clone(),
        title: title.clone(),
        body,
        draft,
    };
    (
        vec![
            (
                kind::PUSH,
                serde_json::to_string(&push).unwrap_or_default(),
                format!("{marker}:push"),
            ),
            (
                kind::PULL_REQUEST,
                serde_json::to_string(&pull).unwrap_or_default(),
                format!("{marker}:pr"),
            ),
        ],
        (kind::PR_LINK, title, format!("{marker}:link")),
    )
}

/// Git and GitHub, for the outbox.
pub struct GitForge {
    github: GithubTracker,
}

impl GitForge {
    /// Over the configured GitHub API.
    pub fn new(github: GithubTracker) -> GitForge {
        GitForge { github }
    }
}

fn unreadable(what: &str, e: serde_json::Error) -> DeliverError {
    DeliverError::PullRequest(format!("a queued {what} cannot be read: {e}"))
}

impl Forge for GitForge {
    fn push(&self, body: &str) -> Result<String, DeliverError> {
        let item: PushItem = serde_json::from_str(body).map_err(|e| unreadable("push", e))?;
        crate::git::push(&item.folder, &item.remote, &item.branch)?;
        Ok(item.branch)
    }

    fn open(&self, body: &str) -> Result<(String, bool), DeliverError> {
        let item: PullItem =
            serde_json::from_str(body).map_err(|e| unreadable("pull request", e))?;
        let opened = pulls::open_or_update(
            self.github.client(),
            &NewPull {
                repo: &item.repo,
                head: &item.head,
                base: item.base.as_deref(),
                title: &item.title,
                body: &item.body,
                draft: item.draft,
            },
        )?;
        Ok((
            opened.pull().url.clone(),
            matches!(opened, Opened::Created(_)),
        ))
    }
}

/// A pull request `csm done` will open: checked before Codex is asked,
/// so what cannot work is said before anything is posted.
pub struct Prepared {
    /// Where it goes.
    pub target: Target,
    /// How it opens.
    pub options: Options,
    /// Git and GitHub.
    pub forge: GitForge,
}

/// Finds the branch, the repository and the GitHub token for a session's
/// pull request.
pub fn prepare(
    ctx: &crate::context::Context,
    folder: &std::path::Path,
    options: Options,
) -> Result<Prepared, crate::command_error::CommandError> {
    use crate::command_error::CommandError;
    let configured = ctx.config()?.config.github.repo.clone();
    let target = target(folder, configured.as_deref(), options.base.as_deref()).map_err(|e| {
        match e {
            PrError::NoRepo(folder) => CommandError::usage(format!(
                "no GitHub repository for the pull request: the origin remote of {folder} is not on GitHub and [github] repo is not set"
            ))
            .hint("set [github] repo = \"owner/name\" in .csm.toml (the branch is pushed to origin)"),
            other => CommandError::usage(other.to_string())
                .hint("run `csm done` without --pr, or start the ticket with --worktree for a branch of its own"),
        }
    })?;
    let forge = GitForge::new(ctx.github()?);
    Ok(Prepared {
        target,
        options,
        forge,
    })
}

impl Prepared {
    /// The items for the note `data` (marker `marker`): the push and the
    /// pull request before it, the link after everything.
    pub fn items(
        &self,
        dirs: &TemplateDirs,
        data: &NoteData,
        key: &TicketKey,
        tracker_id: &str,
        session: i64,
        open_criteria: usize,
    ) -> Result<Items, PrError> {
        let body = fit_body(PrData::new(data, key, tracker_id, &self.target.repo).render(dirs)?);
        Ok(items(
            &self.target,
            session,
            title(key, &data.summary),
            body,
            &self.options,
            is_draft(&self.options, open_criteria),
            &data.marker,
        ))
    }

    /// What a dry run says.
    pub fn describe(&self, open_criteria: usize) -> String {
        format!(
            "would push {} to {REMOTE} and open a {}pull request on {}{}",
            self.target.branch,
            if is_draft(&self.options, open_criteria) {
                "draft "
            } else {
                ""
            },
            self.target.repo,
            self.options
                .base
                .as_deref()
                .map(|b| format!(" into {b}"))
                .unwrap_or_default()
        )
    }
}

/// Git and GitHub for the queued pull-request items (of one ticket, when
/// `key` is given), when there are any (`None` otherwise: nothing needs
/// the token).
pub fn forge_for_pending(
    ctx: &crate::context::Context,
    store: &crate::store::Store,
    key: Option<&str>,
) -> Result<Option<GitForge>, crate::command_error::CommandError> {
    let pending = store.outbox_pending()?.into_iter().any(|i| {
        key.is_none_or(|k| i.ticket_key == k)
            && (i.kind == kind::PUSH || i.kind == kind::PULL_REQUEST)
    });
    if !pending {
        return Ok(None);
    }
    Ok(Some(GitForge::new(ctx.github()?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_drafts_and_closes() {
        let key = TicketKey::parse("PROJ-7").unwrap();
        assert_eq!(
            title(&key, "Export\n sessions\tas CSV"),
            "PROJ-7: Export sessions as CSV"
        );
        assert!(is_draft(&Options::default(), 1));
        assert!(!is_draft(
            &Options {
                force: true,
                ..Options::default()
            },
            1
        ));
        assert!(is_draft(
            &Options {
                draft: true,
                force: true,
                ..Options::default()
            },
            0
        ));
        assert!(!is_draft(&Options::default(), 0));
        assert_eq!(closes(&key, "acme/app"), None);
        let gh = TicketKey::parse("acme/app#12").unwrap();
        assert_eq!(closes(&gh, "Acme/App").as_deref(), Some("#12"));
        assert_eq!(closes(&gh, "acme/web").as_deref(), Some("acme/app#12"));
    }

    #[test]
    fn a_long_body_is_cut_to_githubs_limit() {
        let limit = crate::tracker::github::COMMENT_LIMIT;
        assert_eq!(fit_body("short".into()), "short");
        let cut = fit_body("é".repeat(limit + 10));
        assert_eq!(cut.chars().count(), limit);
        assert!(cut.ends_with("note)_\n"), "{}", &cut[cut.len() - 40..]);
    }

    #[test]
    fn the_items_come_before_and_after_the_note() {
        let t = Target {
            folder: "/w".into(),
            branch: "proj-7-x".into(),
            repo: "acme/app".into(),
        };
        let (before, link) = items(
            &t,
            3,
            "PROJ-7: X".into(),
            "body".into(),
            &Options::default(),
            true,
            "csm-1",
        );
        assert_eq!(before[0].0, kind::PUSH);
        assert_eq!(before[1].2, "csm-1:pr");
        let pull: PullItem = serde_json::from_str(&before[1].1).unwrap();
        assert_eq!(pull.head, "proj-7-x");
        assert!(pull.draft);
        assert_eq!(
            link,
            (kind::PR_LINK, "PROJ-7: X".into(), "csm-1:link".into())
        );
    }
}
