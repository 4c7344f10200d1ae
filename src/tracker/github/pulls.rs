//! Pull requests over GitHub's REST API (`/repos/{owner}/{repo}/pulls`):
//! find the open one of a branch, open one, update its body. Opening is
//! made safe to repeat: the branch's open pull request is looked for first,
//! and GitHub's 422 "A pull request already exists" is answered by finding
//! it, so one branch never gets a second pull request from csm.

use reqwest::Method;
use serde_json::{Value, json};

use super::client::GithubClient;
use crate::tracker::TrackerError;

/// What GitHub asks of a fine-grained token to open a pull request.
pub const PERMISSION: &str = "pull_requests: write";

/// A pull request as csm needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PullRequest {
    /// Its number.
    pub number: u64,
    /// Its web page.
    pub url: String,
    /// Whether it is a draft.
    pub draft: bool,
}

/// A pull request to open (or, when the branch has one, to update).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPull<'a> {
    /// `owner/name`.
    pub repo: &'a str,
    /// The branch with the work.
    pub head: &'a str,
    /// The branch to merge into; `None`: the repository's default branch.
    pub base: Option<&'a str>,
    /// `KEY: summary`.
    pub title: &'a str,
    /// Markdown.
    pub body: &'a str,
    /// Open it as a draft.
    pub draft: bool,
}

/// Whether the pull request was opened now or found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Opened {
    /// Opened by this call.
    Created(PullRequest),
    /// The branch had one; its title and body were updated.
    Updated(PullRequest),
}

impl Opened {
    /// The pull request either way.
    pub fn pull(&self) -> &PullRequest {
        match self {
            Opened::Created(p) | Opened::Updated(p) => p,
        }
    }
}

fn pull_from(v: &Value) -> Option<PullRequest> {
    Some(PullRequest {
        number: v["number"].as_u64()?,
        url: v["html_url"].as_str()?.to_string(),
        draft: v["draft"].as_bool().unwrap_or(false),
    })
}

/// A 403 names the permission a pull request needs.
fn permission(e: TrackerError) -> TrackerError {
    match e {
        TrackerError::GithubPermission {
            site,
            action,
            message,
            ..
        } => TrackerError::GithubPermission {
            site,
            action,
            needs: PERMISSION.into(),
            message,
        },
        other => other,
    }
}

/// Whether a 422's text says the branch has a pull request already.
pub fn says_exists(message: &str) -> bool {
    message
        .to_ascii_lowercase()
        .contains("a pull request already exists")
}

/// The open pull request from `head` (a branch of `repo` itself).
pub fn find_open(
    client: &GithubClient,
    repo: &str,
    head: &str,
) -> Result<Option<PullRequest>, TrackerError> {
    let owner = repo.split('/').next().unwrap_or_default();
    let a = client
        .send(
            Method::GET,
            &format!("/repos/{repo}/pulls"),
            &[
                ("head", format!("{owner}:{head}")),
                ("state", "open".into()),
                ("per_page", "10".into()),
            ],
            None,
            &format!("listing the pull requests of {repo}"),
        )
        .map_err(permission)?;
    Ok(a.body
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["head"]["ref"].as_str() == Some(head))
        .and_then(pull_from))
}

/// The repository's default branch.
pub fn default_branch(client: &GithubClient, repo: &str) -> Result<String, TrackerError> {
    let a = client.send(
        Method::GET,
        &format!("/repos/{repo}"),
        &[],
        None,
        &format!("reading {repo}"),
    )?;
    Ok(a.body["default_branch"]
        .as_str()
        .filter(|b| !b.is_empty())
        .unwrap_or("main")
        .to_string())
}

fn update(
    client: &GithubClient,
    new: &NewPull<'_>,
    number: u64,
) -> Result<PullRequest, TrackerError> {
    let a = client
        .send(
            Method::PATCH,
            &format!("/repos/{}/pulls/{number}", new.repo),
            &[],
            Some(&json!({"title": new.title, "body": new.body})),
            &format!("updating pull request #{number} of {}", new.repo),
        )
        .map_err(permission)?;
    pull_from(&a.body).ok_or_else(|| bad(client, "an updated pull request without a number"))
}

fn bad(client: &GithubClient, what: &str) -> TrackerError {
    TrackerError::BadResponse {
        site: client.base().to_string(),
        action: "opening a pull request".into(),
        message: what.into(),
    }
}

/// Opens the pull request, or updates the branch's open one.
pub fn open_or_update(client: &GithubClient, new: &NewPull<'_>) -> Result<Opened, TrackerError> {
    if let Some(found) = find_open(client, new.repo, new.head)? {
        return Ok(Opened::Updated(update(client, new, found.number)?));
    }
    let base = match new.base {
        Some(b) => b.to_string(),
        None => default_branch(client, new.repo)?,
    };
    let payload = json!({
        "title": new.title,
        "head": new.head,
        "base": base,
        "body": new.body,
        "draft": new.draft,
    });
    let created = client.send(
        Method::POST,
        &format!("/repos/{}/pulls", new.repo),
        &[],
        Some(&payload),
        &format!("opening a pull request on {}", new.repo),
    );
    match created {
        Ok(a) => pull_from(&a.body)
            .map(Opened::Created)
            .ok_or_else(|| bad(client, "a new pull request without a number")),
        // Someone (or an earlier attempt whose answer was lost) opened it.
        Err(TrackerError::Rejected { message, .. }) if says_exists(&message) => {
            let found = find_open(client, new.repo, new.head)?
                .ok_or_else(|| bad(client, "GitHub says a pull request exists but lists none"))?;
            Ok(Opened::Updated(update(client, new, found.number)?))
        }
        Err(e) => Err(permission(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exists_answer_is_recognised() {
        assert!(says_exists(
            "HTTP 422: Validation Failed: A pull request already exists for acme:csm-1-x."
        ));
        assert!(!says_exists(
            "HTTP 422: Validation Failed: No commits between main and x"
        ));
    }

    #[test]
    fn a_403_names_the_pull_request_permission() {
        let e = permission(TrackerError::GithubPermission {
            site: "s".into(),
            action: "opening".into(),
            needs: "issues=write".into(),
            message: "Resource not accessible".into(),
        });
        assert!(e.to_string().contains(PERMISSION), "{e}");
    }
}
