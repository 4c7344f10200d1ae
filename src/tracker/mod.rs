//! Trackers: where tickets live.
//!
//! A [`Tracker`] is the one interface the workflow commands use to read and
//! change tickets. Two implementations exist: the local Markdown tracker
//! ([`local`], the embedded default, one file per ticket in the repository)
//! and Jira ([`jira`], Cloud REST v3 and Data Center REST v2).
//!
//! All text crossing this interface is Markdown: trackers convert to and from
//! their own formats (ADF, wiki markup) at their edge.

pub mod github;
pub mod jira;
pub mod key;
pub mod local;
pub mod markdown;
pub mod walk;

use serde::{Deserialize, Serialize};

pub use key::TicketKey;

/// A ticket as the workflow commands see it, whatever tracker it came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// The ticket's key, e.g. `PROJ-123`.
    pub key: TicketKey,
    /// One-line summary (Jira's "summary", the local ticket's title).
    pub summary: String,
    /// The description as Markdown, without the acceptance-criteria section
    /// when the criteria were taken from it.
    pub description: String,
    /// The acceptance criteria, each one line of Markdown, in order.
    pub acceptance_criteria: Vec<String>,
    /// The workflow status name, e.g. `To Do`, `In Progress`, `Done`.
    pub status: String,
    /// Labels, in the tracker's order.
    pub labels: Vec<String>,
    /// The issue type (`Story`, `Bug`, ...), when the tracker has one.
    pub issue_type: Option<String>,
    /// When the ticket last changed, as the tracker reports it (RFC 3339).
    pub updated: Option<String>,
    /// How many comments the ticket has.
    pub comment_count: usize,
    /// Where a person can open the ticket (a browser URL or a file path).
    pub url: Option<String>,
}

/// A comment (Jira) or note (local tracker) on a ticket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    /// The tracker's id for the comment.
    pub id: String,
    /// Who wrote it, as the tracker names them.
    pub author: Option<String>,
    /// The body as Markdown.
    pub body: String,
    /// When it was written (RFC 3339), when known.
    pub created: Option<String>,
}

/// A workflow transition available on a ticket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transition {
    /// The tracker's id for the transition.
    pub id: String,
    /// The transition's own name (e.g. `Start progress`).
    pub name: String,
    /// The name of the status it leads to (e.g. `In Progress`).
    pub to_status: String,
    /// Names of fields the transition screen requires.
    pub required_fields: Vec<String>,
    /// The category of the status it leads to, when the tracker says.
    #[serde(default)]
    pub to_category: Option<StatusCategory>,
}

/// The three categories every workflow status falls in, in their order: a
/// walk towards a status only ever moves forward through them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StatusCategory {
    /// Not started (Jira's `new`, e.g. To Do).
    New,
    /// Started (Jira's `indeterminate`, e.g. In Progress, In Review).
    Indeterminate,
    /// Finished (Jira's `done`, e.g. Done, Won't Do).
    Done,
}

impl StatusCategory {
    /// Jira's `statusCategory.key`.
    pub fn from_jira(key: &str) -> Option<StatusCategory> {
        match key {
            "new" => Some(StatusCategory::New),
            "indeterminate" => Some(StatusCategory::Indeterminate),
            "done" => Some(StatusCategory::Done),
            _ => None,
        }
    }
}

/// What a new ticket is made of.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTicket {
    /// The project (Jira project key, or the local key prefix); the
    /// tracker's configured default when `None`.
    pub project: Option<String>,
    /// The issue type; the tracker's default (`Story` on Jira) when `None`.
    pub issue_type: Option<String>,
    /// One-line summary.
    pub summary: String,
    /// Description as Markdown.
    pub description: String,
    /// Acceptance criteria, one line of Markdown each.
    pub acceptance_criteria: Vec<String>,
    /// Labels.
    pub labels: Vec<String>,
}

/// A partial update of a ticket: `None` leaves a part as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketUpdate {
    /// New summary.
    pub summary: Option<String>,
    /// New description (Markdown).
    pub description: Option<String>,
    /// New acceptance criteria (replaces all of them).
    pub acceptance_criteria: Option<Vec<String>>,
}

/// What to search for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Query {
    /// Exactly these tickets (one batched request on Jira).
    Keys(Vec<TicketKey>),
    /// Every ticket the tracker would list by default (the local folder's
    /// tickets; on Jira, the configured project's open issues).
    All,
    /// A tracker-native query (JQL on Jira). The local tracker refuses it.
    Native(String),
}

/// Which kind of tracker a [`Tracker`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrackerKind {
    /// Markdown files under `.csm/tickets/` in the repository.
    Local,
    /// A Jira site (Cloud or Data Center).
    Jira,
    /// GitHub Issues.
    Github,
}

/// The one interface the workflow commands use to talk to a tracker.
///
/// Implementations are synchronous: csm is a command-line tool whose
/// commands wait for each answer anyway, and a blocking interface stays
/// object-safe (`Box<dyn Tracker>`) and simple to test. Background work (the
/// dashboard's status refresh) runs the same calls on another thread.
pub trait Tracker: Send + Sync {
    /// Which kind of tracker this is.
    fn kind(&self) -> TrackerKind;

    /// A stable name for this tracker instance, recorded with sessions so a
    /// later command finds the same tracker (e.g. `local:/repo` or
    /// `jira:https://example.atlassian.net`).
    fn id(&self) -> String;

    /// Reads one ticket with its acceptance criteria.
    fn get(&self, key: &TicketKey) -> Result<Ticket, TrackerError>;

    /// Finds tickets.
    fn search(&self, query: &Query) -> Result<Vec<Ticket>, TrackerError>;

    /// The comments on a ticket, oldest first.
    fn comments(&self, key: &TicketKey) -> Result<Vec<Comment>, TrackerError>;

    /// Adds a comment (Markdown) and returns it as stored.
    fn comment(&self, key: &TicketKey, body: &str) -> Result<Comment, TrackerError>;

    /// The transitions available on a ticket now.
    fn transitions(&self, key: &TicketKey) -> Result<Vec<Transition>, TrackerError>;

    /// Moves a ticket to the status named `target` (matched against the
    /// status a transition leads to first, then the transition's name, both
    /// case-insensitively) and returns the status it is in afterwards. A
    /// ticket already in that status is left alone.
    fn transition(&self, key: &TicketKey, target: &str) -> Result<String, TrackerError>;

    /// Creates a ticket and returns its key.
    fn create(&self, ticket: &NewTicket) -> Result<TicketKey, TrackerError>;

    /// Changes parts of a ticket.
    fn update(&self, key: &TicketKey, update: &TicketUpdate) -> Result<(), TrackerError>;

    /// Logs `seconds` of work on a ticket, with a comment (Markdown).
    fn log_work(&self, key: &TicketKey, seconds: u64, comment: &str) -> Result<(), TrackerError>;

    /// Whether a work log whose comment carries `marker` exists (to tell,
    /// after an unknown outcome, whether a log went in).
    fn has_work_log(&self, key: &TicketKey, marker: &str) -> Result<bool, TrackerError>;

    /// Sets a JSON property on a ticket (Jira issue property; local front
    /// matter), used to mirror the session link.
    fn set_property(
        &self,
        key: &TicketKey,
        name: &str,
        value: &serde_json::Value,
    ) -> Result<(), TrackerError>;

    /// Reads a property set by [`Tracker::set_property`].
    fn property(
        &self,
        key: &TicketKey,
        name: &str,
    ) -> Result<Option<serde_json::Value>, TrackerError>;

    /// Takes one transition (from [`Tracker::transitions`]) and returns the
    /// status the ticket is in afterwards, re-read. By default, the move to
    /// the status it leads to.
    fn take(&self, key: &TicketKey, transition: &Transition) -> Result<String, TrackerError> {
        self.transition(key, &transition.to_status)
    }

    /// The statuses of the ticket's workflow with their categories, when
    /// the tracker can tell (`None`: unknown, and a walk then takes only a
    /// transition leading straight to the status asked for).
    #[allow(clippy::type_complexity)]
    fn workflow_statuses(
        &self,
        _key: &TicketKey,
    ) -> Result<Option<Vec<(String, Option<StatusCategory>)>>, TrackerError> {
        Ok(None)
    }

    /// The ticket's status now, and its category when the tracker knows it.
    fn status(&self, key: &TicketKey) -> Result<(String, Option<StatusCategory>), TrackerError> {
        Ok((self.get(key)?.status, None))
    }

    /// Marks the criteria whose texts are given as met on the ticket
    /// itself, where the tracker shows that (GitHub ticks the task-list
    /// boxes in the issue body). Nothing by default.
    fn mark_met(&self, _key: &TicketKey, _criteria: &[String]) -> Result<(), TrackerError> {
        Ok(())
    }

    /// Whether [`Tracker::mark_met`] does anything here.
    fn marks_met(&self) -> bool {
        false
    }

    /// Links a pull request on the ticket (Jira: a remote link, upserted
    /// by a global id made from the URL, so a repeat adds none; a local
    /// ticket: its file). Nothing by default: GitHub links an issue's pull
    /// requests itself (`Closes #N`).
    fn link_pull_request(
        &self,
        _key: &TicketKey,
        _url: &str,
        _title: &str,
    ) -> Result<(), TrackerError> {
        Ok(())
    }

    /// The longest comment the tracker takes, in its own measure (see
    /// [`Tracker::comment_size`]), when it has a limit (GitHub: 65,536
    /// characters; Jira Cloud: 32,767).
    fn comment_limit(&self) -> Option<usize> {
        None
    }

    /// The size of a Markdown comment as the tracker measures it against
    /// [`Tracker::comment_limit`] (after its format conversion).
    fn comment_size(&self, markdown: &str) -> usize {
        markdown.chars().count()
    }
}

/// The transition to take for `target`: one leading to a status of that
/// name first, else one of that name; those without required fields first.
pub fn pick_transition<'a>(all: &'a [Transition], target: &str) -> Option<&'a Transition> {
    let by = |f: &dyn Fn(&Transition) -> bool| {
        let mut matching: Vec<&Transition> = all.iter().filter(|t| f(t)).collect();
        matching.sort_by_key(|t| !t.required_fields.is_empty());
        matching.into_iter().next()
    };
    by(&|t| t.to_status.eq_ignore_ascii_case(target))
        .or_else(|| by(&|t| t.name.eq_ignore_ascii_case(target)))
}

/// Checks, without changing anything, that `key` (now in `current`) can be
/// moved towards `target`: a transition leads there, or a first step of a
/// walk (see [`walk`]), that needs no field csm cannot fill in.
pub fn check_transition(
    tracker: &dyn Tracker,
    key: &TicketKey,
    current: &str,
    target: &str,
) -> Result<(), TrackerError> {
    walk::check_first_step(tracker, key, current, target)
}

/// Makes rustls's crypto provider (ring, see Cargo.toml) the process's
/// default, before any HTTP client of a tracker is built; a second call
/// finds it there.
pub(crate) fn tls_ready() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Which tracker a ticket lives in, as sessions record it (the
/// [`Tracker::id`]): `local:ROOT` (a repository's Markdown tickets),
/// `jira:SITE` or `github:API`. The prefixes are written here only; an id this version
/// does not know is kept as it is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrackerId {
    /// Local tickets under a repository root.
    Local(std::path::PathBuf),
    /// A Jira site (its base URL).
    Jira(String),
    /// A GitHub API (its base URL).
    Github(String),
    /// Another kind of tracker.
    Other(String),
}

impl TrackerId {
    const LOCAL: &'static str = "local:";
    const JIRA: &'static str = "jira:";
    const GITHUB: &'static str = "github:";

    /// Reads a recorded id.
    pub fn parse(id: &str) -> TrackerId {
        if let Some(root) = id.strip_prefix(Self::LOCAL) {
            TrackerId::Local(root.into())
        } else if let Some(site) = id.strip_prefix(Self::JIRA) {
            TrackerId::Jira(site.to_string())
        } else if let Some(api) = id.strip_prefix(Self::GITHUB) {
            TrackerId::Github(api.to_string())
        } else {
            TrackerId::Other(id.to_string())
        }
    }
}

impl std::fmt::Display for TrackerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TrackerId::Local(root) => write!(f, "{}{}", Self::LOCAL, root.display()),
            TrackerId::Jira(site) => write!(f, "{}{site}", Self::JIRA),
            TrackerId::Github(api) => write!(f, "{}{api}", Self::GITHUB),
            TrackerId::Other(id) => f.write_str(id),
        }
    }
}

/// Where a person opens a ticket, from its tracker's id alone (no request):
/// the issue's page on a Jira site (`jira:SITE` → `SITE/browse/KEY`), the
/// ticket's file in a local repository (`local:ROOT`). The same as the
/// [`Ticket::url`] the tracker itself reports.
pub fn ticket_location(tracker_id: &str, key: &TicketKey) -> Option<String> {
    match TrackerId::parse(tracker_id) {
        TrackerId::Github(api) => github::issue_url(&api, key),
        TrackerId::Jira(site) => Some(format!("{}/browse/{key}", site.trim_end_matches('/'))),
        TrackerId::Local(root) => Some(
            root.join(crate::paths::REPO_DIR)
                .join("tickets")
                .join(format!("{key}.md"))
                .display()
                .to_string(),
        ),
        TrackerId::Other(_) => None,
    }
}

/// Why a tracker call failed. Each variant carries what a person needs to
/// understand the failure; the CLI adds the hint on what to do.
#[derive(Debug, thiserror::Error)]
pub enum TrackerError {
    /// The ticket does not exist (or, on Jira, the user may not see it).
    #[error("ticket {key} not found in {tracker}")]
    NotFound {
        /// The key asked for.
        key: String,
        /// The tracker asked (its id).
        tracker: String,
    },
    /// The tracker rejected the credentials (HTTP 401).
    #[error("token rejected by {site} for {user}")]
    AuthRejected {
        /// The site that rejected them.
        site: String,
        /// The user the token was sent for.
        user: String,
        /// Where the token came from, when known: the hint names its fix.
        token_source: Option<crate::credentials::Origin>,
        /// Whether the site is Jira Cloud (where scoped tokens work only
        /// through the API gateway).
        cloud: bool,
        /// Whether csm tried the gateway too.
        gateway_tried: bool,
    },
    /// The credentials are valid but lack a permission (HTTP 403).
    #[error("{site} refused {action}: {message}")]
    Forbidden {
        /// The site.
        site: String,
        /// What csm tried to do.
        action: String,
        /// The tracker's own explanation.
        message: String,
    },
    /// No transition leads to the wanted status.
    #[error("no transition of {key} leads to \"{target}\" (available: {})", available.join(", "))]
    NoSuchTransition {
        /// The ticket.
        key: String,
        /// The status or transition name asked for.
        target: String,
        /// What the workflow offers from the current status.
        available: Vec<String>,
    },
    /// A walk through the workflow stopped: the only way on needs fields
    /// csm does not set.
    #[error(
        "moving {key} to \"{target}\" stopped at \"{reached}\": the step to \"{next}\" needs {}, which csm does not set",
        fields.join(", ")
    )]
    WalkStopped {
        /// The ticket.
        key: String,
        /// The status asked for.
        target: String,
        /// The status the ticket is in.
        reached: String,
        /// Where the step that needs the fields leads.
        next: String,
        /// The required fields' names.
        fields: Vec<String>,
    },
    /// A walk through the workflow took its most steps without arriving.
    #[error("moving {key} to \"{target}\" took {steps} steps and stopped at \"{reached}\"")]
    WalkTooLong {
        /// The ticket.
        key: String,
        /// The status asked for.
        target: String,
        /// The status the ticket is in.
        reached: String,
        /// How many steps were taken.
        steps: usize,
    },
    /// The transition's screen requires fields csm cannot fill in.
    #[error("moving {key} to \"{target}\" needs fields csm does not set: {}", fields.join(", "))]
    TransitionNeedsFields {
        /// The ticket.
        key: String,
        /// The status asked for.
        target: String,
        /// The required fields' names.
        fields: Vec<String>,
    },
    /// The tracker refused the request's content (HTTP 400 and the like).
    #[error("{tracker} rejected {action}: {message}")]
    Rejected {
        /// The tracker's id.
        tracker: String,
        /// What csm tried to do.
        action: String,
        /// The tracker's error messages, joined.
        message: String,
    },
    /// Too many requests, and retrying within the budget did not help.
    #[error("{site} is rate-limiting requests; gave up after {attempts} attempts")]
    RateLimited {
        /// The site.
        site: String,
        /// How many attempts were made.
        attempts: u32,
    },
    /// The tracker answered with a server error.
    #[error("{site} failed on {action} with HTTP {status}: {message}")]
    Server {
        /// The site.
        site: String,
        /// What csm tried to do.
        action: String,
        /// The HTTP status.
        status: u16,
        /// The tracker's explanation, if any.
        message: String,
    },
    /// The tracker could not be reached (connection, DNS, TLS, timeout).
    #[error("cannot reach {site}: {message}")]
    Unreachable {
        /// The site.
        site: String,
        /// What went wrong, in one line.
        message: String,
    },
    /// The tracker answered something csm cannot read.
    #[error("unexpected answer from {site} to {action}: {message}")]
    BadResponse {
        /// The site.
        site: String,
        /// What csm tried to do.
        action: String,
        /// What was wrong with it.
        message: String,
    },
    /// GitHub rejected the token (HTTP 401).
    #[error("GitHub ({site}) rejected the token from {origin}")]
    GithubTokenRejected {
        /// The API root.
        site: String,
        /// Where the token came from (e.g. "environment variable GH_TOKEN").
        origin: String,
    },
    /// The token may read but not do this (HTTP 403 that is no rate limit).
    #[error("GitHub refused {action}: the token lacks {needs}")]
    GithubPermission {
        /// The API root.
        site: String,
        /// What csm tried to do.
        action: String,
        /// The permission or scope GitHub names (`issues=write`), or a
        /// description of it.
        needs: String,
        /// GitHub's own message.
        message: String,
    },
    /// GitHub answered 404: the thing does not exist, or is private and
    /// the token may not see it (GitHub does not tell which).
    #[error("{what}: not found, or the token has no access to it")]
    NoAccess {
        /// The API root.
        site: String,
        /// The issue or repository.
        what: String,
    },
    /// A rate limit that waiting within the budget did not outlast.
    #[error("{site}'s rate limit is used up{}", resets.as_ref().map(|r| format!(" until {r}")).unwrap_or_default())]
    RateLimitedUntil {
        /// The API root.
        site: String,
        /// When the primary limit resets, when GitHub said.
        resets: Option<String>,
    },
    /// A local ticket file is malformed.
    #[error("{path}:{line}: {message}")]
    BadTicketFile {
        /// The file.
        path: String,
        /// The 1-based line of the problem.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The operation does not exist for this tracker.
    #[error("{tracker} does not support {what}")]
    Unsupported {
        /// The tracker's id.
        tracker: String,
        /// What was asked.
        what: String,
    },
    /// A file operation of the local tracker failed.
    #[error("{action} {path}: {source}")]
    Io {
        /// What csm tried to do (e.g. "cannot write").
        action: &'static str,
        /// The file or folder.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracker_ids_read_back_as_written() {
        for id in [
            "local:/src/app",
            "jira:https://x.atlassian.net",
            "github:https://api.github.com",
            "youtrack:x",
        ] {
            assert_eq!(TrackerId::parse(id).to_string(), id);
        }
        assert_eq!(
            TrackerId::parse("local:/src/app"),
            TrackerId::Local("/src/app".into())
        );
        assert_eq!(
            TrackerId::parse("jira:https://x"),
            TrackerId::Jira("https://x".into())
        );
        assert_eq!(
            TrackerId::parse("github:https://api.github.com"),
            TrackerId::Github("https://api.github.com".into())
        );
        assert!(matches!(
            TrackerId::parse("youtrack:x"),
            TrackerId::Other(_)
        ));
    }

    #[test]
    fn ticket_location_is_the_trackers_own_url() {
        let dir = tempfile::tempdir().unwrap();
        let local = local::LocalTracker::new(dir.path(), "CSM".into(), Vec::new()).unwrap();
        let key = local
            .create(&NewTicket {
                summary: "x".into(),
                ..NewTicket::default()
            })
            .unwrap();
        let url = local.get(&key).unwrap().url;
        let canonical = local::LocalTracker::new(
            &std::fs::canonicalize(dir.path()).unwrap(),
            "CSM".into(),
            Vec::new(),
        )
        .unwrap();
        assert_eq!(
            ticket_location(&local.id(), &key),
            canonical.get(&key).unwrap().url
        );
        assert!(url.unwrap().ends_with(".csm/tickets/CSM-1.md"));
        let key = TicketKey::parse("PROJ-7").unwrap();
        assert_eq!(
            ticket_location("jira:https://example.atlassian.net", &key).as_deref(),
            Some("https://example.atlassian.net/browse/PROJ-7")
        );
        assert_eq!(ticket_location("github:x", &key), None);
        let gh = TicketKey::parse("acme/app#4").unwrap();
        assert_eq!(
            ticket_location("github:https://api.github.com", &gh).as_deref(),
            Some("https://github.com/acme/app/issues/4")
        );
    }
}
