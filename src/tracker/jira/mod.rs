//! The Jira tracker: Cloud (REST v3, ADF bodies, e-mail + API token) and
//! Data Center / Server (REST v2, wiki-markup bodies, personal access
//! token).
//!
//! Reading a ticket is one request once the acceptance-criteria field's id
//! is known (it is looked up by name through `GET /field` the first time
//! and cached in the store). Criteria come from that field, else from an
//! "Acceptance criteria" section of the description.

pub mod adf;
pub mod client;
pub mod wiki;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

pub use super::pick_transition;
pub use client::{Auth, JiraClient, Limits};

use super::markdown;
use super::{
    Comment, NewTicket, Query, StatusCategory, Ticket, TicketKey, TicketUpdate, Tracker,
    TrackerError, TrackerKind, Transition,
};

/// The most pages of comments read for one ticket (100 a page).
const MAX_COMMENT_PAGES: usize = 20;

/// Jira's two deployment kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deployment {
    /// Jira Cloud.
    Cloud,
    /// Jira Data Center / Server.
    DataCenter,
}

impl Deployment {
    fn api(self) -> &'static str {
        match self {
            Deployment::Cloud => "/rest/api/3",
            Deployment::DataCenter => "/rest/api/2",
        }
    }
}

/// Where the tracker keeps small facts between runs (the field id, the
/// deployment kind). The store implements it.
pub trait FieldCache: Send + Sync {
    /// A cached value.
    fn get(&self, key: &str) -> Option<String>;
    /// Caches a value.
    fn set(&self, key: &str, value: &str);
}

impl FieldCache for Mutex<crate::store::Store> {
    fn get(&self, key: &str) -> Option<String> {
        let store = self.lock().ok()?;
        store.cache_get(key).ok().flatten().map(|(v, _)| v)
    }

    fn set(&self, key: &str, value: &str) {
        if let Ok(store) = self.lock()
            && let Err(e) = store.cache_set(key, value)
        {
            tracing::warn!(error = %e, "cannot cache a Jira fact");
        }
    }
}

/// An in-memory cache (tests, dry runs).
#[derive(Default)]
pub struct MemoryCache(Mutex<std::collections::HashMap<String, String>>);

impl FieldCache for MemoryCache {
    fn get(&self, key: &str) -> Option<String> {
        self.0.lock().ok()?.get(key).cloned()
    }

    fn set(&self, key: &str, value: &str) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(key.to_string(), value.to_string());
        }
    }
}

/// What a Jira tracker needs besides credentials.
#[derive(Clone, Debug)]
pub struct JiraSettings {
    /// The site's base URL.
    pub url: String,
    /// Cloud or Data Center; detected from `serverInfo` when `None`.
    pub deployment: Option<Deployment>,
    /// The acceptance-criteria field: a name or `customfield_NNNNN`.
    pub ac_field: String,
    /// The default project for new tickets and `Query::All`.
    pub project: Option<String>,
    /// Request limits.
    pub limits: Limits,
}

/// The marker cached when a site has no acceptance-criteria field.
const NO_FIELD: &str = "-";

/// A Jira site as a [`Tracker`].
pub struct JiraTracker {
    client: Arc<JiraClient>,
    settings: JiraSettings,
    cache: Arc<dyn FieldCache>,
    deployment: Mutex<Option<Deployment>>,
    route: RouteSettings,
    /// The gateway client, once requests go through the gateway.
    gateway: Mutex<Option<Arc<JiraClient>>>,
    token_source: Option<crate::credentials::Origin>,
    comment_limit: Option<usize>,
}

/// The longest comment Jira Cloud accepts, in characters of text (it
/// answers 400 "The entered text is too long" beyond).
pub const CLOUD_COMMENT_LIMIT: usize = 32_767;

/// Data Center's default `jira.text.field.character.limit`.
pub const DATACENTER_COMMENT_LIMIT: usize = 32_767;

/// Characters of text in an ADF document (what Cloud's limit counts).
fn adf_text_len(v: &Value) -> usize {
    match v {
        Value::Object(o) => {
            let own = match (o.get("type").and_then(Value::as_str), o.get("text")) {
                (Some("text"), Some(Value::String(t))) => t.chars().count(),
                _ => 0,
            };
            own + o.get("content").map_or(0, adf_text_len)
        }
        Value::Array(a) => a.iter().map(adf_text_len).sum(),
        _ => 0,
    }
}

/// Which way requests reach a Jira Cloud site.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    /// The site's own URL (classic API tokens).
    Site,
    /// The platform gateway, `<gateway>/ex/jira/<cloudId>` (scoped API
    /// tokens, service accounts).
    Gateway,
}

/// Atlassian's API gateway.
pub const DEFAULT_GATEWAY: &str = "https://api.atlassian.com";

/// How to reach the site: pinned by the configuration, or found out (a
/// 401 from a Cloud site makes csm try the gateway once, and remember the
/// way that worked for the site).
#[derive(Clone, Debug)]
pub struct RouteSettings {
    /// `[jira] api`: `None` finds out.
    pub api: Option<Api>,
    /// `[jira] cloud_id`: `None` asks `<site>/_edge/tenant_info`.
    pub cloud_id: Option<String>,
    /// `[jira] gateway_url`.
    pub gateway_url: String,
}

impl Default for RouteSettings {
    fn default() -> Self {
        RouteSettings {
            api: None,
            cloud_id: None,
            gateway_url: DEFAULT_GATEWAY.into(),
        }
    }
}

/// What `csm doctor` and `csm auth status` report about a site.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SiteReport {
    /// Cloud or Data Center.
    pub deployment: Deployment,
    /// The user's display name.
    pub user: String,
    /// The acceptance-criteria field id, if the site has one.
    pub ac_field: Option<String>,
    /// Which way requests go.
    pub api: Api,
    /// The kind of token that works there, in words.
    pub token_kind: &'static str,
}

impl JiraTracker {
    /// A tracker for one site; requests go to the site itself until
    /// [`JiraTracker::with_route`] says otherwise.
    pub fn new(
        settings: JiraSettings,
        auth: Auth,
        cache: Arc<dyn FieldCache>,
    ) -> Result<JiraTracker, TrackerError> {
        let client = JiraClient::new(&settings.url, auth, settings.limits.clone())?;
        Ok(JiraTracker {
            client: Arc::new(client),
            deployment: Mutex::new(settings.deployment),
            settings,
            cache,
            route: RouteSettings {
                api: Some(Api::Site),
                ..RouteSettings::default()
            },
            gateway: Mutex::new(None),
            token_source: None,
            comment_limit: None,
        })
    }

    /// Sets the longest comment the site accepts (`[jira] comment_limit`:
    /// Data Center's own setting; Cloud never takes more than 32,767).
    pub fn with_comment_limit(mut self, limit: Option<usize>) -> JiraTracker {
        self.comment_limit = limit;
        self
    }

    /// Sets how requests reach the site (the gateway's URL is checked as
    /// the site's is).
    pub fn with_route(mut self, route: RouteSettings) -> Result<JiraTracker, TrackerError> {
        client::check_url(route.gateway_url.trim_end_matches('/'))?;
        self.route = route;
        Ok(self)
    }

    /// Says where the token came from, for the hint of a rejection.
    pub fn with_token_source(mut self, origin: crate::credentials::Origin) -> JiraTracker {
        self.token_source = Some(origin);
        self
    }

    /// The site's URL: what the user sees, browse links, the tracker's id.
    fn site(&self) -> String {
        self.client.site().to_string()
    }

    /// Which way requests go now.
    pub fn api_in_use(&self) -> Api {
        match self.gateway.lock().ok().and_then(|g| g.clone()) {
            Some(_) => Api::Gateway,
            None => Api::Site,
        }
    }

    /// The client requests go through: the gateway's when configured or
    /// remembered for the site, else the site's.
    fn api_client(&self) -> Result<Arc<JiraClient>, TrackerError> {
        if let Some(g) = self.gateway.lock().ok().and_then(|g| g.clone()) {
            return Ok(g);
        }
        let remembered = match self.route.api {
            Some(Api::Site) => return Ok(Arc::clone(&self.client)),
            Some(Api::Gateway) => Some(match &self.route.cloud_id {
                Some(id) => id.clone(),
                None => self.cloud_id()?,
            }),
            None => self
                .cache
                .get(&self.cache_key("route"))
                .and_then(|r| r.strip_prefix("gateway:").map(str::to_string)),
        };
        match remembered {
            Some(id) => self.use_gateway(&id),
            None => Ok(Arc::clone(&self.client)),
        }
    }

    /// The site's cloud id, from `/_edge/tenant_info` (no login needed).
    fn cloud_id(&self) -> Result<String, TrackerError> {
        if let Some(id) = &self.route.cloud_id {
            return Ok(id.clone());
        }
        let info = self
            .client
            .get_public("/_edge/tenant_info", "reading the cloud id")?;
        Ok(info["cloudId"].as_str().unwrap_or_default().to_string())
    }

    fn use_gateway(&self, cloud_id: &str) -> Result<Arc<JiraClient>, TrackerError> {
        // The id goes into a URL path: letters, digits and dashes only.
        if cloud_id.is_empty()
            || !cloud_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(TrackerError::BadResponse {
                site: self.site(),
                action: "reading the cloud id".into(),
                message: format!(
                    "\"{}\" is not a cloud id",
                    crate::output::sanitize(cloud_id)
                ),
            });
        }
        let base = format!(
            "{}/ex/jira/{cloud_id}",
            self.route.gateway_url.trim_end_matches('/')
        );
        let g = Arc::new(
            JiraClient::new(
                &base,
                self.client.auth().clone(),
                self.client.limits().clone(),
            )?
            .labelled(&self.site()),
        );
        if let Ok(mut slot) = self.gateway.lock() {
            *slot = Some(Arc::clone(&g));
        }
        Ok(g)
    }

    /// After the site refused the token: whether the gateway takes it (a
    /// scoped token). If so, requests go there from now on, and the site
    /// remembers it.
    fn try_gateway(&self) -> Result<Arc<JiraClient>, TrackerError> {
        let id = self.cloud_id()?;
        let g = self.use_gateway(&id)?;
        let found = g.send(
            Method::GET,
            "/rest/api/3/myself",
            &[],
            None,
            "reading /myself through the gateway",
        );
        match found {
            Ok(_) => {
                self.cache
                    .set(&self.cache_key("route"), &format!("gateway:{id}"));
                tracing::info!(site = %self.site(), "requests go through the API gateway");
                Ok(g)
            }
            Err(e) => {
                if let Ok(mut slot) = self.gateway.lock() {
                    *slot = None;
                }
                Err(e)
            }
        }
    }

    /// Adds what the hint of a rejection needs.
    fn explain(&self, e: TrackerError, gateway_tried: bool) -> TrackerError {
        match e {
            TrackerError::AuthRejected { user, .. } => TrackerError::AuthRejected {
                site: self.site(),
                user,
                token_source: self.token_source.clone(),
                cloud: self.deployment.lock().ok().and_then(|d| *d) == Some(Deployment::Cloud),
                gateway_tried: gateway_tried || self.api_in_use() == Api::Gateway,
            },
            other => other,
        }
    }

    fn cache_key(&self, what: &str) -> String {
        format!("jira:{}:{what}", self.site())
    }

    /// Cloud or Data Center: configured, cached, or asked of the site.
    pub fn deployment(&self) -> Result<Deployment, TrackerError> {
        if let Some(d) = self.deployment.lock().ok().and_then(|d| *d) {
            return Ok(d);
        }
        let key = self.cache_key("deployment");
        let d = match self.cache.get(&key).as_deref() {
            Some("cloud") => Deployment::Cloud,
            Some("datacenter") => Deployment::DataCenter,
            _ => {
                let a = self.client.send(
                    Method::GET,
                    "/rest/api/2/serverInfo",
                    &[],
                    None,
                    "reading serverInfo",
                )?;
                let d = if a.body["deploymentType"] == "Cloud" {
                    Deployment::Cloud
                } else {
                    Deployment::DataCenter
                };
                let name = if d == Deployment::Cloud {
                    "cloud"
                } else {
                    "datacenter"
                };
                self.cache.set(&key, name);
                d
            }
        };
        if let Ok(mut slot) = self.deployment.lock() {
            *slot = Some(d);
        }
        Ok(d)
    }

    fn api(&self) -> Result<&'static str, TrackerError> {
        Ok(self.deployment()?.api())
    }

    fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        action: &str,
    ) -> Result<Value, TrackerError> {
        let path = format!("{}{path}", self.api()?);
        let client = self.api_client()?;
        match client.send(method.clone(), &path, query, body, action) {
            Ok(a) => Ok(a.body),
            // A scoped token: the site refuses it, the gateway takes it.
            // Nothing happened on the site, so the request may be repeated.
            Err(TrackerError::AuthRejected { .. })
                if self.route.api.is_none()
                    && self.api_in_use() == Api::Site
                    && self.deployment()? == Deployment::Cloud =>
            {
                match self.try_gateway() {
                    Ok(g) => g
                        .send(method, &path, query, body, action)
                        .map(|a| a.body)
                        .map_err(|e| self.explain(e, true)),
                    Err(e @ TrackerError::AuthRejected { .. }) => Err(self.explain(e, true)),
                    // No gateway to try (not reachable, no cloud id): the
                    // site's own refusal is the answer.
                    Err(_) => Err(self.explain(
                        TrackerError::AuthRejected {
                            site: self.site(),
                            user: self.client.user(),
                            token_source: None,
                            cloud: true,
                            gateway_tried: false,
                        },
                        false,
                    )),
                }
            }
            // The gateway was remembered for the site, and refuses the
            // token: a classic token again, which the site takes.
            Err(TrackerError::AuthRejected { .. })
                if self.route.api.is_none() && self.api_in_use() == Api::Gateway =>
            {
                let answer = self
                    .client
                    .send(method, &path, query, body, action)
                    .map_err(|e| self.explain(e, true))?;
                if let Ok(mut slot) = self.gateway.lock() {
                    *slot = None;
                }
                self.cache.set(&self.cache_key("route"), "site");
                tracing::info!(site = %self.site(), "requests go to the site again");
                Ok(answer.body)
            }
            Err(e) => Err(self.explain(e, false)),
        }
    }

    fn not_found_as(&self, key: &TicketKey, e: TrackerError) -> TrackerError {
        match e {
            TrackerError::Rejected { ref message, .. } if message.starts_with("HTTP 404") => {
                TrackerError::NotFound {
                    key: key.to_string(),
                    tracker: self.id(),
                }
            }
            other => other,
        }
    }

    /// The acceptance-criteria field id, `None` when the site has none.
    pub fn ac_field_id(&self) -> Result<Option<String>, TrackerError> {
        let wanted = self.settings.ac_field.trim();
        if wanted.starts_with("customfield_") {
            return Ok(Some(wanted.to_string()));
        }
        let key = self.cache_key(&format!("field:{}", wanted.to_lowercase()));
        if let Some(cached) = self.cache.get(&key) {
            return Ok((cached != NO_FIELD).then_some(cached));
        }
        let fields = self.send(Method::GET, "/field", &[], None, "listing fields")?;
        let id = fields
            .as_array()
            .into_iter()
            .flatten()
            .find(|f| {
                f["name"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(wanted))
            })
            .and_then(|f| f["id"].as_str())
            .map(str::to_string);
        self.cache.set(&key, id.as_deref().unwrap_or(NO_FIELD));
        Ok(id)
    }

    fn to_markdown(&self, value: &Value) -> Result<String, TrackerError> {
        Ok(match value {
            Value::Null => String::new(),
            Value::String(s) => match self.deployment()? {
                Deployment::Cloud => s.clone(),
                Deployment::DataCenter => wiki::to_markdown(s),
            },
            doc => adf::to_markdown(doc),
        })
    }

    fn body_from_markdown(&self, markdown: &str) -> Result<Value, TrackerError> {
        Ok(match self.deployment()? {
            Deployment::Cloud => adf::from_markdown(markdown),
            Deployment::DataCenter => Value::String(wiki::from_markdown(markdown)),
        })
    }

    fn criteria_markdown(criteria: &[String]) -> String {
        criteria
            .iter()
            .map(|c| format!("- {}", markdown::one_line(c)))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn ticket_from(&self, issue: &Value, ac_id: Option<&str>) -> Result<Ticket, TrackerError> {
        let f = &issue["fields"];
        let key_text = issue["key"].as_str().unwrap_or_default();
        let key = TicketKey::parse(key_text).map_err(|e| TrackerError::BadResponse {
            site: self.site(),
            action: "reading an issue".into(),
            message: e.to_string(),
        })?;
        let mut description = self.to_markdown(&f["description"])?;
        let mut criteria = match ac_id {
            Some(id) => markdown::criteria(&self.to_markdown(&f[id])?),
            None => Vec::new(),
        };
        if criteria.is_empty()
            && let Some((rest, found)) = markdown::split_criteria_section(&description)
        {
            description = rest;
            criteria = found;
        }
        let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
        Ok(Ticket {
            key,
            summary: text(&f["summary"]),
            description,
            acceptance_criteria: criteria,
            status: text(&f["status"]["name"]),
            labels: f["labels"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l.as_str().map(str::to_string))
                .collect(),
            issue_type: f["issuetype"]["name"].as_str().map(str::to_string),
            updated: f["updated"].as_str().map(str::to_string),
            comment_count: f["comment"]["total"].as_u64().unwrap_or(0) as usize,
            url: Some(format!("{}/browse/{}", self.site(), key_text)),
        })
    }

    /// The user the token belongs to (`GET /myself`).
    pub fn myself(&self) -> Result<String, TrackerError> {
        let me = self.send(Method::GET, "/myself", &[], None, "reading /myself")?;
        Ok(me["displayName"]
            .as_str()
            .or(me["emailAddress"].as_str())
            .or(me["name"].as_str())
            .unwrap_or("?")
            .to_string())
    }

    /// What `doctor` reports: kind, user, acceptance-criteria field.
    pub fn report(&self) -> Result<SiteReport, TrackerError> {
        let deployment = self.deployment()?;
        let user = self.myself()?;
        let api = self.api_in_use();
        Ok(SiteReport {
            deployment,
            user,
            ac_field: self.ac_field_id()?,
            api,
            token_kind: match (deployment, api) {
                (Deployment::DataCenter, _) => "personal access token",
                (Deployment::Cloud, Api::Site) => "classic API token",
                (Deployment::Cloud, Api::Gateway) => "scoped API token",
            },
        })
    }

    /// The statuses of a project's workflows (for `doctor`).
    pub fn project_statuses(&self, project: &str) -> Result<Vec<String>, TrackerError> {
        let key = super::key::validate_prefix(project).map_err(|e| TrackerError::Rejected {
            tracker: self.site(),
            action: "the project key".into(),
            message: e.to_string(),
        })?;
        let types = self.send(
            Method::GET,
            &format!("/project/{key}/statuses"),
            &[],
            None,
            "listing the project's statuses",
        )?;
        let mut names: Vec<String> = types
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|t| t["statuses"].as_array().cloned().unwrap_or_default())
            .filter_map(|s| s["name"].as_str().map(str::to_string))
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn search_page(
        &self,
        jql: &str,
        token: Option<&str>,
        start_at: usize,
    ) -> Result<(Vec<Value>, Option<String>, bool), TrackerError> {
        let fields = ["summary", "status", "labels", "issuetype", "updated"];
        match self.deployment()? {
            Deployment::Cloud => {
                let mut body = json!({"jql": jql, "fields": fields, "maxResults": 100});
                if let Some(t) = token {
                    body["nextPageToken"] = json!(t);
                }
                let page = self.send(Method::POST, "/search/jql", &[], Some(&body), "searching")?;
                let issues = page["issues"].as_array().cloned().unwrap_or_default();
                let next = page["nextPageToken"].as_str().map(str::to_string);
                let last = page["isLast"].as_bool().unwrap_or(next.is_none());
                Ok((issues, next, last))
            }
            Deployment::DataCenter => {
                let body =
                    json!({"jql": jql, "fields": fields, "startAt": start_at, "maxResults": 100});
                let page = self.send(Method::POST, "/search", &[], Some(&body), "searching")?;
                let issues = page["issues"].as_array().cloned().unwrap_or_default();
                let total = page["total"].as_u64().unwrap_or(0) as usize;
                let last = issues.is_empty() || start_at + issues.len() >= total;
                Ok((issues, None, last))
            }
        }
    }
}

impl Tracker for JiraTracker {
    fn comment_limit(&self) -> Option<usize> {
        Some(match self.deployment() {
            Ok(Deployment::Cloud) => self
                .comment_limit
                .map_or(CLOUD_COMMENT_LIMIT, |l| l.min(CLOUD_COMMENT_LIMIT)),
            _ => self.comment_limit.unwrap_or(DATACENTER_COMMENT_LIMIT),
        })
    }

    fn comment_size(&self, markdown: &str) -> usize {
        match self.deployment() {
            Ok(Deployment::Cloud) => adf_text_len(&adf::from_markdown(markdown)),
            _ => wiki::from_markdown(markdown).chars().count(),
        }
    }

    fn kind(&self) -> TrackerKind {
        TrackerKind::Jira
    }

    fn id(&self) -> String {
        super::TrackerId::Jira(self.site().to_string()).to_string()
    }

    fn get(&self, key: &TicketKey) -> Result<Ticket, TrackerError> {
        let ac = self.ac_field_id()?;
        let mut fields =
            String::from("summary,description,status,labels,issuetype,updated,comment");
        if let Some(id) = &ac {
            fields.push(',');
            fields.push_str(id);
        }
        let issue = self
            .send(
                Method::GET,
                &format!("/issue/{key}"),
                &[("fields", fields)],
                None,
                &format!("reading {key}"),
            )
            .map_err(|e| self.not_found_as(key, e))?;
        self.ticket_from(&issue, ac.as_deref())
    }

    fn search(&self, query: &Query) -> Result<Vec<Ticket>, TrackerError> {
        let jql = match query {
            Query::Keys(keys) if keys.is_empty() => return Ok(Vec::new()),
            // Keys are validated (letters, digits, `_`, `-`): nothing to
            // escape, nothing to inject.
            Query::Keys(keys) => format!(
                "key in ({}) ORDER BY key",
                keys.iter()
                    .map(TicketKey::as_str)
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Query::All => {
                let project =
                    self.settings
                        .project
                        .as_deref()
                        .ok_or_else(|| TrackerError::Rejected {
                            tracker: self.site(),
                            action: "listing tickets".into(),
                            message: "no [jira] project is configured; pass --jql".into(),
                        })?;
                let project =
                    super::key::validate_prefix(project).map_err(|e| TrackerError::Rejected {
                        tracker: self.site(),
                        action: "the project key".into(),
                        message: e.to_string(),
                    })?;
                format!("project = {project} ORDER BY updated DESC")
            }
            Query::Native(jql) => jql.clone(),
        };
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        // A bound on pages, so a misbehaving server cannot loop us forever.
        for _ in 0..1000 {
            let (issues, next, last) = self.search_page(&jql, token.as_deref(), out.len())?;
            for issue in &issues {
                out.push(self.ticket_from(issue, None)?);
            }
            if last || issues.is_empty() {
                break;
            }
            token = next;
        }
        Ok(out)
    }

    fn comments(&self, key: &TicketKey) -> Result<Vec<Comment>, TrackerError> {
        // Newest first, so that the bound on pages (a server that never says
        // "last page" cannot keep csm reading) drops the oldest comments,
        // never the new ones `resume` and the outbox look for.
        let mut out = Vec::new();
        for _ in 0..MAX_COMMENT_PAGES {
            let page = self
                .send(
                    Method::GET,
                    &format!("/issue/{key}/comment"),
                    &[
                        ("startAt", out.len().to_string()),
                        ("maxResults", "100".into()),
                        ("orderBy", "-created".into()),
                    ],
                    None,
                    &format!("reading the comments of {key}"),
                )
                .map_err(|e| self.not_found_as(key, e))?;
            let comments = page["comments"].as_array().cloned().unwrap_or_default();
            for c in &comments {
                out.push(self.comment_from(c)?);
            }
            let total = page["total"].as_u64().unwrap_or(0) as usize;
            if comments.is_empty() || out.len() >= total {
                out.reverse();
                return Ok(out);
            }
        }
        tracing::warn!(key = %key, read = out.len(), "read only the newest comments: {MAX_COMMENT_PAGES} pages");
        out.reverse();
        Ok(out)
    }

    fn comment(&self, key: &TicketKey, body: &str) -> Result<Comment, TrackerError> {
        let payload = json!({"body": self.body_from_markdown(body)?});
        let c = self
            .send(
                Method::POST,
                &format!("/issue/{key}/comment"),
                &[],
                Some(&payload),
                &format!("commenting on {key}"),
            )
            .map_err(|e| self.not_found_as(key, e))?;
        self.comment_from(&c)
    }

    fn log_work(&self, key: &TicketKey, seconds: u64, comment: &str) -> Result<(), TrackerError> {
        // Jira's own format, in UTC: 2026-11-25T08:00:00.000+0000.
        let started = jiff::Timestamp::now()
            .strftime("%Y-%m-%dT%H:%M:%S.000+0000")
            .to_string();
        // Jira refuses less than a minute.
        let payload = json!({
            "timeSpentSeconds": seconds.max(60),
            "started": started,
            "comment": self.body_from_markdown(comment)?,
        });
        self.send(
            Method::POST,
            &format!("/issue/{key}/worklog"),
            &[],
            Some(&payload),
            &format!("logging work on {key}"),
        )
        .map_err(|e| self.not_found_as(key, e))?;
        Ok(())
    }

    fn has_work_log(&self, key: &TicketKey, marker: &str) -> Result<bool, TrackerError> {
        let page = self
            .send(
                Method::GET,
                &format!("/issue/{key}/worklog"),
                &[("maxResults", "5000".into())],
                None,
                &format!("reading the work log of {key}"),
            )
            .map_err(|e| self.not_found_as(key, e))?;
        for w in page["worklogs"].as_array().into_iter().flatten() {
            if self.to_markdown(&w["comment"])?.contains(marker) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    fn transitions(&self, key: &TicketKey) -> Result<Vec<Transition>, TrackerError> {
        let t = self
            .send(
                Method::GET,
                &format!("/issue/{key}/transitions"),
                &[("expand", "transitions.fields".into())],
                None,
                &format!("listing the transitions of {key}"),
            )
            .map_err(|e| self.not_found_as(key, e))?;
        Ok(t["transitions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| t["isAvailable"].as_bool() != Some(false))
            .map(|t| Transition {
                id: t["id"].as_str().unwrap_or_default().to_string(),
                name: t["name"].as_str().unwrap_or_default().to_string(),
                to_status: t["to"]["name"].as_str().unwrap_or_default().to_string(),
                required_fields: t["fields"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .filter(|(_, f)| f["required"].as_bool() == Some(true))
                    .map(|(id, f)| f["name"].as_str().unwrap_or(id).to_string())
                    .collect(),
                to_category: t["to"]["statusCategory"]["key"]
                    .as_str()
                    .and_then(StatusCategory::from_jira),
            })
            .collect())
    }

    fn take(&self, key: &TicketKey, transition: &Transition) -> Result<String, TrackerError> {
        self.send(
            Method::POST,
            &format!("/issue/{key}/transitions"),
            &[],
            Some(&json!({"transition": {"id": transition.id}})),
            &format!("moving {key}"),
        )
        .map_err(|e| self.not_found_as(key, e))?;
        self.status_of(key)
    }

    fn workflow_statuses(
        &self,
        key: &TicketKey,
    ) -> Result<Option<Vec<(String, Option<StatusCategory>)>>, TrackerError> {
        let types = self.send(
            Method::GET,
            &format!("/project/{}/statuses", key.prefix()),
            &[],
            None,
            "listing the project's statuses",
        )?;
        let mut out: Vec<(String, Option<StatusCategory>)> = Vec::new();
        for s in types
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|t| t["statuses"].as_array().cloned().unwrap_or_default())
        {
            let Some(name) = s["name"].as_str() else {
                continue;
            };
            if !out.iter().any(|(n, _)| n == name) {
                let category = s["statusCategory"]["key"]
                    .as_str()
                    .and_then(StatusCategory::from_jira);
                out.push((name.to_string(), category));
            }
        }
        Ok(Some(out))
    }

    fn status(&self, key: &TicketKey) -> Result<(String, Option<StatusCategory>), TrackerError> {
        let issue = self.status_issue(key)?;
        let status = &issue["fields"]["status"];
        Ok((
            status["name"].as_str().unwrap_or_default().to_string(),
            status["statusCategory"]["key"]
                .as_str()
                .and_then(StatusCategory::from_jira),
        ))
    }

    fn transition(&self, key: &TicketKey, target: &str) -> Result<String, TrackerError> {
        let target = target.trim();
        let current = self.status_of(key)?;
        if current.eq_ignore_ascii_case(target) {
            return Ok(current);
        }
        let all = self.transitions(key)?;
        let chosen =
            pick_transition(&all, target).ok_or_else(|| TrackerError::NoSuchTransition {
                key: key.to_string(),
                target: target.to_string(),
                available: all.iter().map(|t| t.to_status.clone()).collect(),
            })?;
        if !chosen.required_fields.is_empty() {
            return Err(TrackerError::TransitionNeedsFields {
                key: key.to_string(),
                target: target.to_string(),
                fields: chosen.required_fields.clone(),
            });
        }
        self.send(
            Method::POST,
            &format!("/issue/{key}/transitions"),
            &[],
            Some(&json!({"transition": {"id": chosen.id}})),
            &format!("moving {key}"),
        )?;
        self.status_of(key)
    }

    fn create(&self, ticket: &NewTicket) -> Result<TicketKey, TrackerError> {
        let project = ticket
            .project
            .clone()
            .or_else(|| self.settings.project.clone())
            .ok_or_else(|| TrackerError::Rejected {
                tracker: self.site(),
                action: "creating a ticket".into(),
                message: "no project given; pass --project or set [jira] project".into(),
            })?;
        let ac_id = self.ac_field_id()?;
        let build = |ac_in_field: bool| -> Result<Value, TrackerError> {
            let mut description = ticket.description.trim().to_string();
            let mut fields = json!({
                "project": {"key": project},
                "issuetype": {"name": ticket.issue_type.as_deref().unwrap_or("Story")},
                "summary": markdown::one_line(&ticket.summary),
                "labels": ticket.labels,
            });
            if !ticket.acceptance_criteria.is_empty() {
                let list = Self::criteria_markdown(&ticket.acceptance_criteria);
                match (&ac_id, ac_in_field) {
                    (Some(id), true) => fields[id] = self.body_from_markdown(&list)?,
                    _ => description = format!("{description}\n\n## Acceptance criteria\n\n{list}"),
                }
            }
            fields["description"] = self.body_from_markdown(description.trim())?;
            Ok(json!({"fields": fields}))
        };
        let created = match self.send(
            Method::POST,
            "/issue",
            &[],
            Some(&build(true)?),
            "creating a ticket",
        ) {
            // The field exists on the site but not on this project's screen:
            // put the criteria in the description instead.
            Err(TrackerError::Rejected { message, .. })
                if ac_id
                    .as_ref()
                    .is_some_and(|id| message.contains(id.as_str())) =>
            {
                self.send(
                    Method::POST,
                    "/issue",
                    &[],
                    Some(&build(false)?),
                    "creating a ticket",
                )?
            }
            other => other?,
        };
        TicketKey::parse(created["key"].as_str().unwrap_or_default()).map_err(|e| {
            TrackerError::BadResponse {
                site: self.site(),
                action: "creating a ticket".into(),
                message: e.to_string(),
            }
        })
    }

    fn update(&self, key: &TicketKey, update: &TicketUpdate) -> Result<(), TrackerError> {
        let ac_id = match update.acceptance_criteria {
            Some(_) => self.ac_field_id()?,
            None => None,
        };
        let build = |ac_in_field: bool| -> Result<serde_json::Map<String, Value>, TrackerError> {
            let mut fields = serde_json::Map::new();
            if let Some(s) = &update.summary {
                fields.insert("summary".into(), json!(markdown::one_line(s)));
            }
            let mut description = update.description.clone();
            if let Some(ac) = &update.acceptance_criteria {
                let list = Self::criteria_markdown(ac);
                match (&ac_id, ac_in_field) {
                    (Some(id), true) => {
                        fields.insert(id.clone(), self.body_from_markdown(&list)?);
                    }
                    _ => {
                        // Rewrite the description's section.
                        let base = match description.take() {
                            Some(d) => d,
                            None => self.get(key)?.description,
                        };
                        description = Some(format!(
                            "{}\n\n## Acceptance criteria\n\n{list}",
                            base.trim()
                        ));
                    }
                }
            }
            if let Some(d) = description {
                fields.insert("description".into(), self.body_from_markdown(d.trim())?);
            }
            Ok(fields)
        };
        let put = |fields: serde_json::Map<String, Value>| -> Result<(), TrackerError> {
            if fields.is_empty() {
                return Ok(());
            }
            self.send(
                Method::PUT,
                &format!("/issue/{key}"),
                &[],
                Some(&json!({"fields": fields})),
                &format!("updating {key}"),
            )
            .map_err(|e| self.not_found_as(key, e))?;
            Ok(())
        };
        match put(build(true)?) {
            // The field exists on the site but not on this issue's edit
            // screen: put the criteria in the description instead.
            Err(TrackerError::Rejected { message, .. })
                if ac_id
                    .as_ref()
                    .is_some_and(|id| message.contains(id.as_str())) =>
            {
                put(build(false)?)
            }
            other => other,
        }
    }

    fn set_property(&self, key: &TicketKey, name: &str, value: &Value) -> Result<(), TrackerError> {
        self.send(
            Method::PUT,
            &format!("/issue/{key}/properties/{}", property_name(name)),
            &[],
            Some(value),
            &format!("setting a property on {key}"),
        )
        .map_err(|e| self.not_found_as(key, e))?;
        Ok(())
    }

    fn link_pull_request(
        &self,
        key: &TicketKey,
        url: &str,
        title: &str,
    ) -> Result<(), TrackerError> {
        // Jira upserts a remote link by its global id: the same pull
        // request linked twice stays one link.
        let payload = json!({
            "globalId": format!("csm-pull-request={url}"),
            "application": {"type": "com.github", "name": "GitHub"},
            "relationship": "pull request",
            "object": {"url": url, "title": title},
        });
        self.send(
            Method::POST,
            &format!("/issue/{key}/remotelink"),
            &[],
            Some(&payload),
            &format!("linking the pull request on {key}"),
        )
        .map_err(|e| self.not_found_as(key, e))?;
        Ok(())
    }

    fn property(&self, key: &TicketKey, name: &str) -> Result<Option<Value>, TrackerError> {
        match self.send(
            Method::GET,
            &format!("/issue/{key}/properties/{}", property_name(name)),
            &[],
            None,
            &format!("reading a property of {key}"),
        ) {
            Ok(v) => Ok(Some(v["value"].clone())),
            Err(TrackerError::Rejected { message, .. }) if message.starts_with("HTTP 404") => {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

impl JiraTracker {
    fn status_of(&self, key: &TicketKey) -> Result<String, TrackerError> {
        let issue = self.status_issue(key)?;
        Ok(issue["fields"]["status"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    fn status_issue(&self, key: &TicketKey) -> Result<Value, TrackerError> {
        self.send(
            Method::GET,
            &format!("/issue/{key}"),
            &[("fields", "status".into())],
            None,
            &format!("reading {key}"),
        )
        .map_err(|e| self.not_found_as(key, e))
    }

    fn comment_from(&self, c: &Value) -> Result<Comment, TrackerError> {
        Ok(Comment {
            id: c["id"].as_str().unwrap_or_default().to_string(),
            author: c["author"]["displayName"].as_str().map(str::to_string),
            body: self.to_markdown(&c["body"])?,
            created: c["created"].as_str().map(str::to_string),
        })
    }
}

/// Property names go in a URL path: keep them to safe characters.
fn property_name(name: &str) -> String {
    let safe: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .collect();
    // No dot segments: they would change the URL's path.
    safe.replace("..", "_")
}

/// The default request limits with a given timeout and attempt count.
pub fn limits(timeout_secs: u64, max_attempts: u32) -> Limits {
    Limits {
        timeout: Duration::from_secs(timeout_secs.max(1)),
        max_attempts: max_attempts.max(1),
        ..Limits::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(id: &str, name: &str, to: &str, required: &[&str]) -> Transition {
        Transition {
            id: id.into(),
            name: name.into(),
            to_status: to.into(),
            required_fields: required.iter().map(|s| s.to_string()).collect(),
            to_category: None,
        }
    }

    #[test]
    fn transitions_match_status_then_name_preferring_no_fields() {
        let all = vec![
            t("1", "Start progress", "In Progress", &["Sprint"]),
            t("2", "Begin", "In Progress", &[]),
            t("3", "Finish", "Done", &[]),
        ];
        assert_eq!(pick_transition(&all, "in progress").unwrap().id, "2");
        assert_eq!(pick_transition(&all, "FINISH").unwrap().id, "3");
        assert!(pick_transition(&all, "Blocked").is_none());
        assert_eq!(property_name("csm.session/../x"), "csm.session_x");
    }

    fn tracker(deployment: Deployment, limit: Option<usize>) -> JiraTracker {
        JiraTracker::new(
            JiraSettings {
                url: "https://example.atlassian.net".into(),
                deployment: Some(deployment),
                ac_field: "Acceptance Criteria".into(),
                project: None,
                limits: limits(5, 1),
            },
            Auth::Bearer {
                token: crate::credentials::Secret::new("t"),
            },
            Arc::new(MemoryCache::default()),
        )
        .unwrap()
        .with_comment_limit(limit)
    }

    #[test]
    fn comment_limits_per_deployment_measured_as_the_site_counts() {
        use Deployment::{Cloud, DataCenter};
        assert_eq!(tracker(Cloud, None).comment_limit(), Some(32_767));
        assert_eq!(tracker(Cloud, Some(50_000)).comment_limit(), Some(32_767));
        assert_eq!(tracker(Cloud, Some(1_000)).comment_limit(), Some(1_000));
        assert_eq!(tracker(DataCenter, None).comment_limit(), Some(32_767));
        assert_eq!(
            tracker(DataCenter, Some(65_000)).comment_limit(),
            Some(65_000)
        );
        // Cloud counts the text of the ADF document, Data Center the wiki
        // string.
        let md = "**Bold** and `code`";
        assert_eq!(tracker(Cloud, None).comment_size(md), "Bold and code".len());
        assert_eq!(
            tracker(DataCenter, None).comment_size(md),
            wiki::from_markdown(md).chars().count()
        );
    }
}
