//! GitHub Issues as a tracker, over the REST API (github.com, or GitHub
//! Enterprise Server's `https://HOST/api/v3`).
//!
//! Keys are `owner/name#NUMBER`; pull requests are refused. The criteria
//! are the "Acceptance criteria" section of the issue body ([`body`]); the
//! status is open or closed (completed, not planned), with labels as an
//! optional status layer (`[github] status_labels`). Reading the statuses
//! of many issues is one issues-list request per repository.

pub mod body;
pub mod client;
pub mod pulls;

use std::collections::{BTreeMap, BTreeSet};

use reqwest::Method;
use serde_json::{Value, json};

pub use client::GithubClient;

use super::key::validate_repo;
use super::{
    Comment, NewTicket, Query, StatusCategory, Ticket, TicketKey, TicketUpdate, Tracker,
    TrackerError, TrackerKind, Transition, pick_transition,
};
use crate::credentials::Secret;
use crate::tracker::jira::client::Limits;

/// GitHub's limit on a comment's (and an issue body's) length, in
/// characters.
pub const COMMENT_LIMIT: usize = 65_536;

/// The status of an open issue without a status label.
pub const OPEN: &str = "Open";
/// The status of an issue closed as completed.
pub const DONE: &str = "Done";
/// The status of an issue closed as not planned.
pub const NOT_PLANNED: &str = "Not planned";

/// At most this many pages are read for one listing.
const MAX_PAGES: usize = 10;

/// At most this many issues the listing missed are read one by one.
const MAX_SINGLE_READS: usize = 10;

/// What a GitHub tracker needs besides its token.
#[derive(Clone, Debug)]
pub struct GithubSettings {
    /// The API root, e.g. `https://api.github.com`.
    pub api_url: String,
    /// The default repository (`owner/name`): for new issues and listings.
    pub repo: Option<String>,
    /// Status name → label.
    pub status_labels: BTreeMap<String, String>,
    /// Statuses that, without a label for them, an open issue is already
    /// in (the workflow's start status: "In Progress" leaves it open).
    pub open_aliases: Vec<String>,
    /// Request limits.
    pub limits: Limits,
}

/// GitHub Issues as a [`Tracker`].
pub struct GithubTracker {
    client: GithubClient,
    settings: GithubSettings,
}

/// What `csm doctor` reports about a repository and the token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepoReport {
    /// `owner/name` as GitHub spells it.
    pub full_name: String,
    /// Whether the repository is private.
    pub private: bool,
    /// Whether the repository has issues turned on.
    pub has_issues: bool,
    /// Whether the token may write (the repository's `permissions.push`,
    /// `None` when GitHub did not say).
    pub can_write: Option<bool>,
    /// A classic token's scopes (`x-oauth-scopes`); `None` for
    /// fine-grained tokens, which have no such header.
    pub scopes: Option<String>,
    /// Core requests left and the limit.
    pub rate_remaining: Option<u64>,
    /// The core limit per hour.
    pub rate_limit: Option<u64>,
}

/// The web page of an issue, from the API root alone.
pub fn issue_url(api: &str, key: &TicketKey) -> Option<String> {
    let (owner, name, number) = key.github()?;
    let api = api.trim_end_matches('/');
    let web = if api.eq_ignore_ascii_case("https://api.github.com") {
        "https://github.com".to_string()
    } else if let Some(host) = api.strip_suffix("/api/v3") {
        host.to_string()
    } else {
        return None;
    };
    Some(format!("{web}/{owner}/{name}/issues/{number}"))
}

/// The `owner/name` of a GitHub remote URL (https, `git@host:` or
/// `ssh://`), or `None` when it is no such URL.
pub fn repo_from_remote(url: &str) -> Option<String> {
    let url = url.trim();
    let path = if let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .or_else(|| url.strip_prefix("ssh://"))
        .or_else(|| url.strip_prefix("git://"))
    {
        rest.split_once('/')?.1
    } else if let Some((userhost, path)) = url.split_once(':') {
        // scp-like: git@github.com:owner/name.git
        if userhost.contains('/') {
            return None;
        }
        path
    } else {
        return None;
    };
    let path = path.trim_end_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    // GHES may serve from a sub-path; take the last two segments.
    let mut parts = path.rsplit('/');
    let name = parts.next()?;
    let owner = parts.next()?;
    validate_repo(&format!("{owner}/{name}")).ok()
}

/// The default repository of a folder: the `origin` remote's.
pub fn repo_of_folder(folder: &std::path::Path) -> Option<String> {
    let url = crate::git::run(folder, &["remote", "get-url", "origin"]).ok()?;
    repo_from_remote(&url)
}

impl GithubTracker {
    /// A tracker for one API root. `token_source` names where the token
    /// came from, for the message when GitHub rejects it.
    pub fn new(
        settings: GithubSettings,
        token: Secret,
        token_source: String,
    ) -> Result<GithubTracker, TrackerError> {
        let client = GithubClient::new(
            &settings.api_url,
            token,
            token_source,
            settings.limits.clone(),
        )?;
        Ok(GithubTracker { client, settings })
    }

    fn site(&self) -> String {
        self.client.base().to_string()
    }

    /// The HTTP client (shared with the pull requests of `csm done --pr`).
    pub fn client(&self) -> &GithubClient {
        &self.client
    }

    fn parts<'k>(&self, key: &'k TicketKey) -> Result<(&'k str, &'k str, u64), TrackerError> {
        key.github().ok_or_else(|| TrackerError::Rejected {
            tracker: self.id(),
            action: format!("reading {key}"),
            message: "a GitHub issue is named owner/name#NUMBER".into(),
        })
    }

    fn issue_path(&self, key: &TicketKey) -> Result<String, TrackerError> {
        let (owner, name, number) = self.parts(key)?;
        Ok(format!("/repos/{owner}/{name}/issues/{number}"))
    }

    fn default_repo(&self, action: &str) -> Result<String, TrackerError> {
        let repo = self
            .settings
            .repo
            .as_deref()
            .ok_or_else(|| TrackerError::Rejected {
                tracker: self.id(),
                action: action.into(),
                message: "no repository: set [github] repo, or run csm in a clone of it".into(),
            })?;
        validate_repo(repo).map_err(|e| TrackerError::Rejected {
            tracker: self.id(),
            action: action.into(),
            message: e.to_string(),
        })
    }

    fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        action: &str,
        what: &str,
    ) -> Result<client::Answer, TrackerError> {
        self.client
            .send(method, path, query, body, action)
            .map_err(|e| match e {
                TrackerError::NoAccess { site, .. } => TrackerError::NoAccess {
                    site,
                    what: what.to_string(),
                },
                other => other,
            })
    }

    /// Reads an issue, refusing pull requests.
    fn issue(&self, key: &TicketKey) -> Result<Value, TrackerError> {
        let a = self.send(
            Method::GET,
            &self.issue_path(key)?,
            &[],
            None,
            &format!("reading {key}"),
            key.as_str(),
        )?;
        if !a.body["pull_request"].is_null() {
            return Err(TrackerError::Unsupported {
                tracker: self.id(),
                what: format!("pull requests as tickets ({key} is a pull request; name an issue)"),
            });
        }
        Ok(a.body)
    }

    fn status_label_names(&self) -> BTreeSet<String> {
        self.settings
            .status_labels
            .values()
            .map(|l| l.to_lowercase())
            .collect()
    }

    /// The status an issue is in.
    fn status_of(&self, issue: &Value) -> String {
        if issue["state"] == "closed" {
            return match issue["state_reason"].as_str() {
                Some("not_planned") => NOT_PLANNED.into(),
                _ => DONE.into(),
            };
        }
        let labels = label_names(issue);
        self.settings
            .status_labels
            .iter()
            .find(|(_, label)| labels.iter().any(|l| l.eq_ignore_ascii_case(label)))
            .map_or_else(|| OPEN.to_string(), |(status, _)| status.clone())
    }

    fn ticket_from(&self, key: TicketKey, issue: &Value) -> Ticket {
        let (description, criteria) = body::split(issue["body"].as_str().unwrap_or_default());
        Ticket {
            summary: issue["title"].as_str().unwrap_or_default().to_string(),
            description,
            acceptance_criteria: criteria,
            status: self.status_of(issue),
            labels: label_names(issue),
            issue_type: issue["type"]["name"].as_str().map(str::to_string),
            updated: issue["updated_at"].as_str().map(str::to_string),
            comment_count: issue["comments"].as_u64().unwrap_or(0) as usize,
            url: issue["html_url"]
                .as_str()
                .map(str::to_string)
                .or_else(|| issue_url(&self.site(), &key)),
            key,
        }
    }

    /// Reads pages of a listing (following `Link: rel="next"`) until
    /// `enough` says so or the pages run out.
    fn pages(
        &self,
        path: &str,
        query: &[(&str, String)],
        action: &str,
        what: &str,
        items_of: impl Fn(&Value) -> Vec<Value>,
        mut enough: impl FnMut(&[Value]) -> bool,
    ) -> Result<Vec<Value>, TrackerError> {
        let mut out = Vec::new();
        let mut next: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let a = match &next {
                None => self.send(Method::GET, path, query, None, action, what)?,
                Some(url) => self.send(Method::GET, url, &[], None, action, what)?,
            };
            out.extend(items_of(&a.body));
            if enough(&out) {
                break;
            }
            match client::next_link(a.link.as_deref()) {
                Some(url) => next = Some(url),
                None => break,
            }
        }
        Ok(out)
    }

    fn list(
        &self,
        repo: &str,
        state: &str,
        wanted: Option<&BTreeSet<u64>>,
    ) -> Result<Vec<Ticket>, TrackerError> {
        let issues = self.pages(
            &format!("/repos/{repo}/issues"),
            &[
                ("state", state.into()),
                ("per_page", "100".into()),
                ("sort", "updated".into()),
                ("direction", "desc".into()),
            ],
            &format!("listing the issues of {repo}"),
            repo,
            |b| b.as_array().cloned().unwrap_or_default(),
            |sofar| {
                wanted.is_some_and(|w| {
                    let got: BTreeSet<u64> =
                        sofar.iter().filter_map(|i| i["number"].as_u64()).collect();
                    w.is_subset(&got)
                })
            },
        )?;
        Ok(issues
            .iter()
            .filter(|i| i["pull_request"].is_null())
            .filter(|i| wanted.is_none_or(|w| i["number"].as_u64().is_some_and(|n| w.contains(&n))))
            .filter_map(|i| {
                let key = TicketKey::parse(&format!("{repo}#{}", i["number"].as_u64()?)).ok()?;
                Some(self.ticket_from(key, i))
            })
            .collect())
    }

    /// What `doctor` reports: the repository, the token's scopes, the rate
    /// limit left.
    pub fn repo_report(&self, repo: &str) -> Result<RepoReport, TrackerError> {
        let repo = validate_repo(repo).map_err(|e| TrackerError::Rejected {
            tracker: self.id(),
            action: "the repository".into(),
            message: e.to_string(),
        })?;
        let a = self.send(
            Method::GET,
            &format!("/repos/{repo}"),
            &[],
            None,
            &format!("reading {repo}"),
            &repo,
        )?;
        let rate = self.send(
            Method::GET,
            "/rate_limit",
            &[],
            None,
            "reading the rate limit",
            "the rate limit",
        );
        let (remaining, limit) = match &rate {
            Ok(r) => (
                r.body["resources"]["core"]["remaining"]
                    .as_u64()
                    .or(r.body["rate"]["remaining"].as_u64()),
                r.body["resources"]["core"]["limit"]
                    .as_u64()
                    .or(r.body["rate"]["limit"].as_u64()),
            ),
            // GHES with rate limits off answers 404.
            Err(_) => (a.remaining, None),
        };
        Ok(RepoReport {
            full_name: crate::output::sanitize(a.body["full_name"].as_str().unwrap_or(&repo)),
            private: a.body["private"].as_bool().unwrap_or(false),
            has_issues: a.body["has_issues"].as_bool().unwrap_or(true),
            can_write: a.body["permissions"]["push"].as_bool(),
            scopes: a.scopes.map(|s| crate::output::sanitize(&s)),
            rate_remaining: remaining,
            rate_limit: limit,
        })
    }

    fn patch(&self, key: &TicketKey, payload: &Value, action: &str) -> Result<Value, TrackerError> {
        Ok(self
            .send(
                Method::PATCH,
                &self.issue_path(key)?,
                &[],
                Some(payload),
                action,
                key.as_str(),
            )?
            .body)
    }

    fn all_transitions(&self) -> Vec<Transition> {
        let t = |id: &str, name: &str, to: &str| Transition {
            id: id.into(),
            name: name.into(),
            to_status: to.into(),
            required_fields: Vec::new(),
            to_category: Some(match id {
                "close" | "not_planned" => StatusCategory::Done,
                "reopen" => StatusCategory::New,
                _ => StatusCategory::Indeterminate,
            }),
        };
        let mut all = vec![
            t("close", "Close as completed", DONE),
            t("close", "Closed", DONE),
            t("close", "Completed", DONE),
            t("not_planned", "Close as not planned", NOT_PLANNED),
            t("not_planned", "Won't do", NOT_PLANNED),
            t("reopen", "Reopen", OPEN),
            t("reopen", "To Do", OPEN),
        ];
        for (status, label) in &self.settings.status_labels {
            all.push(t(&format!("label:{status}"), label, status));
        }
        all
    }
}

fn label_names(issue: &Value) -> Vec<String> {
    issue["labels"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["name"].as_str().or(l.as_str()).map(str::to_string))
        .collect()
}

impl Tracker for GithubTracker {
    fn kind(&self) -> TrackerKind {
        TrackerKind::Github
    }

    fn id(&self) -> String {
        super::TrackerId::Github(self.site().to_string()).to_string()
    }

    fn get(&self, key: &TicketKey) -> Result<Ticket, TrackerError> {
        let issue = self.issue(key)?;
        Ok(self.ticket_from(key.clone(), &issue))
    }

    fn search(&self, query: &Query) -> Result<Vec<Ticket>, TrackerError> {
        match query {
            Query::Keys(keys) => {
                let mut by_repo: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
                for k in keys {
                    if let Some((owner, name, number)) = k.github() {
                        by_repo
                            .entry(format!("{owner}/{name}"))
                            .or_default()
                            .insert(number);
                    }
                }
                let mut out = Vec::new();
                for (repo, numbers) in &by_repo {
                    let found = self.list(repo, "all", Some(numbers))?;
                    // Issues not updated for long may lie beyond the pages
                    // read: ask for a few of them one by one.
                    let missing: Vec<u64> = numbers
                        .iter()
                        .copied()
                        .filter(|n| !found.iter().any(|t| t.key.number() == *n))
                        .take(MAX_SINGLE_READS)
                        .collect();
                    out.extend(found);
                    for n in missing {
                        let Ok(key) = TicketKey::parse(&format!("{repo}#{n}")) else {
                            continue;
                        };
                        match self.get(&key) {
                            Ok(t) => out.push(t),
                            Err(
                                TrackerError::NoAccess { .. } | TrackerError::Unsupported { .. },
                            ) => {}
                            Err(e) => return Err(e),
                        }
                    }
                }
                Ok(out)
            }
            Query::All => {
                let repo = self.default_repo("listing issues")?;
                self.list(&repo, "open", None)
            }
            Query::Native(q) => {
                let mut q = q.clone();
                if !q.contains("repo:")
                    && let Ok(repo) = self.default_repo("searching")
                {
                    q.push_str(&format!(" repo:{repo}"));
                }
                if !q.contains("is:issue") && !q.contains("type:issue") {
                    q.push_str(" is:issue");
                }
                let items = self.pages(
                    "/search/issues",
                    &[("q", q), ("per_page", "100".into())],
                    "searching issues",
                    "the search",
                    |b| b["items"].as_array().cloned().unwrap_or_default(),
                    |_| false,
                )?;
                Ok(items
                    .iter()
                    .filter(|i| i["pull_request"].is_null())
                    .filter_map(|i| {
                        let repo_url = i["repository_url"].as_str()?;
                        let (rest, name) = repo_url.rsplit_once('/')?;
                        let (_, owner) = rest.rsplit_once('/')?;
                        let key =
                            TicketKey::parse(&format!("{owner}/{name}#{}", i["number"].as_u64()?))
                                .ok()?;
                        Some(self.ticket_from(key, i))
                    })
                    .collect())
            }
        }
    }

    fn comments(&self, key: &TicketKey) -> Result<Vec<Comment>, TrackerError> {
        let path = format!("{}/comments", self.issue_path(key)?);
        let all = self.pages(
            &path,
            &[("per_page", "100".into())],
            &format!("reading the comments of {key}"),
            key.as_str(),
            |b| b.as_array().cloned().unwrap_or_default(),
            |_| false,
        )?;
        Ok(all.iter().map(comment_from).collect())
    }

    fn comment(&self, key: &TicketKey, body: &str) -> Result<Comment, TrackerError> {
        let path = format!("{}/comments", self.issue_path(key)?);
        let a = self.send(
            Method::POST,
            &path,
            &[],
            Some(&json!({ "body": body })),
            &format!("commenting on {key}"),
            key.as_str(),
        )?;
        Ok(comment_from(&a.body))
    }

    fn transitions(&self, key: &TicketKey) -> Result<Vec<Transition>, TrackerError> {
        self.parts(key)?;
        Ok(self.all_transitions())
    }

    fn transition(&self, key: &TicketKey, target: &str) -> Result<String, TrackerError> {
        let target = target.trim();
        let issue = self.issue(key)?;
        let current = self.status_of(&issue);
        if current.eq_ignore_ascii_case(target) {
            return Ok(current);
        }
        let all = self.all_transitions();
        let Some(chosen) = pick_transition(&all, target) else {
            // Without a label for it, an open issue has no finer status:
            // moving it to the start status leaves it open, as it is.
            if current == OPEN
                && self
                    .settings
                    .open_aliases
                    .iter()
                    .any(|a| a.trim().eq_ignore_ascii_case(target))
            {
                return Ok(current);
            }
            return Err(TrackerError::NoSuchTransition {
                key: key.to_string(),
                target: target.to_string(),
                available: {
                    let mut v: Vec<String> = all.iter().map(|t| t.to_status.clone()).collect();
                    v.dedup();
                    v
                },
            });
        };
        let status_labels = self.status_label_names();
        let others: Vec<String> = label_names(&issue)
            .into_iter()
            .filter(|l| !status_labels.contains(&l.to_lowercase()))
            .collect();
        let action = format!("moving {key} to \"{target}\"");
        let payload = match chosen.id.as_str() {
            // A closed issue keeps no status label: the label workflow
            // ends where the issue does.
            "close" => json!({"state": "closed", "state_reason": "completed", "labels": others}),
            "not_planned" => {
                json!({"state": "closed", "state_reason": "not_planned", "labels": others})
            }
            "reopen" => json!({"state": "open", "state_reason": "reopened", "labels": others}),
            _ => {
                let mut labels = others;
                labels.push(chosen.name.clone());
                let mut p = json!({"labels": labels});
                if issue["state"] == "closed" {
                    p["state"] = json!("open");
                    p["state_reason"] = json!("reopened");
                }
                p
            }
        };
        let after = self.patch(key, &payload, &action)?;
        Ok(self.status_of(&after))
    }

    fn create(&self, ticket: &NewTicket) -> Result<TicketKey, TrackerError> {
        let repo = match &ticket.project {
            Some(p) => validate_repo(p).map_err(|e| TrackerError::Rejected {
                tracker: self.id(),
                action: "creating an issue".into(),
                message: format!("{e}; pass --project owner/name"),
            })?,
            None => self.default_repo("creating an issue")?,
        };
        let payload = json!({
            "title": super::markdown::one_line(&ticket.summary),
            "body": body::compose(&ticket.description, &ticket.acceptance_criteria),
            "labels": ticket.labels,
        });
        let a = self.send(
            Method::POST,
            &format!("/repos/{repo}/issues"),
            &[],
            Some(&payload),
            &format!("creating an issue in {repo}"),
            &repo,
        )?;
        let number = a.body["number"].as_u64().unwrap_or(0);
        TicketKey::parse(&format!("{repo}#{number}")).map_err(|e| TrackerError::BadResponse {
            site: self.site(),
            action: "creating an issue".into(),
            message: e.to_string(),
        })
    }

    fn update(&self, key: &TicketKey, update: &TicketUpdate) -> Result<(), TrackerError> {
        let mut payload = serde_json::Map::new();
        if let Some(s) = &update.summary {
            payload.insert("title".into(), json!(super::markdown::one_line(s)));
        }
        if update.description.is_some() || update.acceptance_criteria.is_some() {
            // Re-read first: the body may have changed since it was shown.
            let issue = self.issue(key)?;
            let current = issue["body"].as_str().unwrap_or_default();
            let new = match (&update.description, &update.acceptance_criteria) {
                (Some(d), Some(c)) => body::compose(d, c),
                (None, Some(c)) => body::replace_criteria(current, c),
                (Some(d), None) => body::compose(d, &body::split(current).1),
                (None, None) => current.to_string(),
            };
            payload.insert("body".into(), json!(new));
        }
        if payload.is_empty() {
            return Ok(());
        }
        self.patch(key, &Value::Object(payload), &format!("updating {key}"))?;
        Ok(())
    }

    fn log_work(
        &self,
        _key: &TicketKey,
        _seconds: u64,
        _comment: &str,
    ) -> Result<(), TrackerError> {
        Err(TrackerError::Unsupported {
            tracker: self.id(),
            what: "work logs (GitHub issues have none)".into(),
        })
    }

    fn has_work_log(&self, _key: &TicketKey, _marker: &str) -> Result<bool, TrackerError> {
        Ok(false)
    }

    /// GitHub issues have no hidden fields; the link stays in csm's store
    /// (a comment on every start would be noise).
    fn set_property(
        &self,
        key: &TicketKey,
        _name: &str,
        _value: &Value,
    ) -> Result<(), TrackerError> {
        self.parts(key)?;
        Ok(())
    }

    fn property(&self, key: &TicketKey, _name: &str) -> Result<Option<Value>, TrackerError> {
        self.parts(key)?;
        Ok(None)
    }

    fn mark_met(&self, key: &TicketKey, criteria: &[String]) -> Result<(), TrackerError> {
        if criteria.is_empty() {
            return Ok(());
        }
        // Re-read the body just before the change, and change only boxes.
        let issue = self.issue(key)?;
        let current = issue["body"]
            .as_str()
            .unwrap_or_default()
            .replace("\r\n", "\n");
        if let Some(ticked) = body::tick(&current, criteria) {
            self.patch(
                key,
                &json!({ "body": ticked }),
                &format!("ticking the met criteria of {key}"),
            )?;
        }
        Ok(())
    }

    fn marks_met(&self) -> bool {
        true
    }

    fn comment_limit(&self) -> Option<usize> {
        Some(COMMENT_LIMIT)
    }
}

fn comment_from(c: &Value) -> Comment {
    Comment {
        id: match &c["id"] {
            Value::Number(n) => n.to_string(),
            other => other.as_str().unwrap_or_default().to_string(),
        },
        author: c["user"]["login"].as_str().map(str::to_string),
        body: c["body"].as_str().unwrap_or_default().to_string(),
        created: c["created_at"].as_str().map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remotes_name_their_repository() {
        for url in [
            "https://github.com/Acme/App.git",
            "https://github.com/acme/app",
            "git@github.com:acme/app.git",
            "ssh://git@github.com/acme/app.git",
            "https://ghe.example.com/acme/app.git\n",
        ] {
            assert_eq!(repo_from_remote(url).as_deref(), Some("acme/app"), "{url}");
        }
        assert_eq!(repo_from_remote("/srv/git/app"), None);
        assert_eq!(repo_from_remote("https://github.com/acme"), None);
    }

    #[test]
    fn issue_urls() {
        let k = TicketKey::parse("acme/app#3").unwrap();
        assert_eq!(
            issue_url("https://ghe.example.com/api/v3", &k).as_deref(),
            Some("https://ghe.example.com/acme/app/issues/3")
        );
        assert_eq!(issue_url("http://127.0.0.1:1", &k), None);
    }
}
