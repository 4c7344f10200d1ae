//! A stateful fake Jira on 127.0.0.1, shaped after Atlassian's published
//! REST API (see tests/fixtures/README.md): Cloud mode (REST v3, ADF bodies
//! validated against the ADF schema, basic auth) and Data Center mode (REST
//! v2, wiki strings, bearer token). It keeps issues, comments, a small
//! workflow and properties, pages its searches, records every request, and
//! can be told to fail the next requests (429, 5xx, slow answers).

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

mod site;
#[allow(unused_imports)]
pub use site::{CLOUD_ID, SCOPED_TOKEN};

/// Which Jira the fake plays.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Jira Cloud: `/rest/api/3`, ADF, basic auth.
    Cloud,
    /// Jira Data Center: `/rest/api/2`, wiki strings, bearer PAT.
    DataCenter,
}

/// The custom acceptance-criteria field.
pub const AC_FIELD: &str = "customfield_10034";
/// The e-mail the fake accepts (Cloud).
pub const EMAIL: &str = "dev@example.com";
/// The token the fake accepts.
pub const TOKEN: &str = "tok-FAKE-JIRA-9d2c41";

pub use super::Request;

/// A fault served instead of the real answer.
#[derive(Clone, Debug)]
pub enum Fault {
    /// An error status, with an optional `Retry-After` in seconds.
    Status(u16, Option<u64>),
    /// Wait this long, then answer normally.
    Delay(Duration),
    /// Handle the request normally (state changes happen), then wait this
    /// long before answering: a timeout after the fact.
    ActThenDelay(Duration),
    /// Handle the request normally (state changes happen), then answer
    /// this error status instead: stored, but the answer failed.
    ActThenStatus(u16),
}

/// An issue in the fake.
#[derive(Clone, Debug)]
pub struct Issue {
    /// Key.
    pub key: String,
    /// Summary.
    pub summary: String,
    /// Description (ADF on Cloud, a wiki string on DC, or null).
    pub description: Value,
    /// Acceptance-criteria field value.
    pub ac: Value,
    /// Status name.
    pub status: String,
    /// Labels.
    pub labels: Vec<String>,
    /// Issue type.
    pub issue_type: String,
    /// Comments (Jira's shape).
    pub comments: Vec<Value>,
    /// Issue properties.
    pub properties: BTreeMap<String, Value>,
    /// Work logs (Jira's shape).
    pub worklogs: Vec<Value>,
}

struct Inner {
    mode: Mode,
    issues: BTreeMap<String, Issue>,
    /// Projects whose create screen has the AC field.
    projects_with_ac: Vec<String>,
    requests: Vec<Request>,
    faults: VecDeque<(Option<String>, Fault)>,
    page_size: usize,
    next_id: u64,
    remote_links: BTreeMap<String, Vec<Value>>,
    /// What real sites do beyond the basics (see `site.rs`).
    site: site::Site,
    /// Outbox knobs: every comment POST waits this long before it is
    /// handled; comments longer than this are refused; every comment is
    /// refused with this message (a permanent 400).
    comment_delay: Option<Duration>,
    comment_limit: Option<usize>,
    comment_refusal: Option<String>,
}

/// The running fake.
pub struct FakeJira {
    inner: Arc<Mutex<Inner>>,
    addr: std::net::SocketAddr,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

const STATUSES: &[(&str, &str)] = &[
    ("11", "To Do"),
    ("21", "In Progress"),
    ("31", "Done"),
    ("41", "Won't Do"),
];

impl FakeJira {
    /// The remote links on an issue (Jira's shape, with `id`).
    pub fn remote_links(&self, key: &str) -> Vec<Value> {
        self.inner
            .lock()
            .unwrap()
            .remote_links
            .get(key)
            .cloned()
            .unwrap_or_default()
    }

    /// Starts a fake on 127.0.0.1 with projects PROJ (with the AC field on
    /// its screen) and NOAC (without).
    pub fn start(mode: Mode) -> FakeJira {
        let inner = Arc::new(Mutex::new(Inner {
            mode,
            issues: BTreeMap::new(),
            projects_with_ac: vec!["PROJ".into()],
            requests: Vec::new(),
            faults: VecDeque::new(),
            page_size: 50,
            remote_links: BTreeMap::new(),
            next_id: 10_000,
            site: site::Site::default(),
            comment_delay: None,
            comment_limit: None,
            comment_refusal: None,
        }));
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&inner));
        let (addr, shutdown) = super::serve(app);
        FakeJira {
            inner,
            addr,
            _shutdown: shutdown,
        }
    }

    /// The site's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The mode.
    pub fn mode(&self) -> Mode {
        self.inner.lock().unwrap().mode
    }

    /// Adds an issue; `description` and `ac` are Markdown, stored in the
    /// mode's format (ADF or wiki).
    pub fn add_issue(&self, key: &str, summary: &str, description: &str, ac: &[&str]) {
        let mode = self.mode();
        let body = |md: &str| -> Value {
            if md.is_empty() {
                return Value::Null;
            }
            match mode {
                Mode::Cloud => csm::tracker::jira::adf::from_markdown(md),
                Mode::DataCenter => Value::String(csm::tracker::jira::wiki::from_markdown(md)),
            }
        };
        let ac_md = ac
            .iter()
            .map(|a| format!("- {a}"))
            .collect::<Vec<_>>()
            .join("\n");
        let issue = Issue {
            key: key.into(),
            summary: summary.into(),
            description: body(description),
            ac: body(&ac_md),
            status: "To Do".into(),
            labels: vec![],
            issue_type: "Story".into(),
            comments: vec![],
            properties: BTreeMap::new(),
            worklogs: vec![],
        };
        self.inner.lock().unwrap().issues.insert(key.into(), issue);
    }

    /// A copy of an issue.
    pub fn issue(&self, key: &str) -> Option<Issue> {
        self.inner.lock().unwrap().issues.get(key).cloned()
    }

    /// Changes an issue in place.
    pub fn edit(&self, key: &str, f: impl FnOnce(&mut Issue)) {
        let mut inner = self.inner.lock().unwrap();
        f(inner.issues.get_mut(key).expect("issue exists"));
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Request> {
        self.inner.lock().unwrap().requests.clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.inner.lock().unwrap().requests.clear();
    }

    /// Serves `fault` to the next request (whose path contains `path`, if
    /// given).
    pub fn fail_next(&self, path: Option<&str>, fault: Fault) {
        self.inner
            .lock()
            .unwrap()
            .faults
            .push_back((path.map(str::to_string), fault));
    }

    /// Drops the faults not yet served.
    pub fn clear_faults(&self) {
        self.inner.lock().unwrap().faults.clear();
    }

    /// Sets how many issues a search page holds.
    pub fn set_page_size(&self, n: usize) {
        self.inner.lock().unwrap().page_size = n.max(1);
    }

    /// The `[jira]` config for csm and the environment with the token.
    pub fn csm_config(&self, project: &str) -> String {
        let deployment = match self.mode() {
            Mode::Cloud => "cloud",
            Mode::DataCenter => "datacenter",
        };
        format!(
            "[tracker]\nkind = \"jira\"\n[jira]\nurl = \"{}\"\nemail = \"{EMAIL}\"\ndeployment = \"{deployment}\"\nproject = \"{project}\"\ntimeout_secs = 5\ngateway_url = \"{}\"\n",
            self.url(),
            self.gateway_url()
        )
    }
}

/// Whether `doc` is valid ADF (the schema the fake checks bodies with).
pub fn is_valid_adf(doc: &Value) -> bool {
    adf_validator().is_valid(doc)
}

fn adf_validator() -> &'static jsonschema::Validator {
    static V: OnceLock<jsonschema::Validator> = OnceLock::new();
    V.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/adf-schema-v1-full.json"
        );
        let schema: Value =
            serde_json::from_str(&std::fs::read_to_string(path).expect("schema")).expect("json");
        jsonschema::validator_for(&schema).expect("schema compiles")
    })
}

fn error(status: StatusCode, messages: &[&str], errors: Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        json!({"errorMessages": messages, "errors": errors}).to_string(),
    )
        .into_response()
}

fn ok(status: StatusCode, body: Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn b64(input: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (b[0] as u32) << 16 | (b[1] as u32) << 8 | b[2] as u32;
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let text = String::from_utf8_lossy(&body).into_owned();
    let fault = {
        let mut st = inner.lock().unwrap();
        st.requests.push(Request {
            method: method.to_string(),
            uri: uri.to_string(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
                .collect(),
            body: text.clone(),
        });
        let path = uri.path().to_string();
        let pos = st
            .faults
            .iter()
            .position(|(p, _)| p.as_ref().is_none_or(|p| path.contains(p.as_str())));
        pos.and_then(|i| st.faults.remove(i)).map(|(_, f)| f)
    };
    match fault {
        Some(Fault::Status(code, retry_after)) => {
            let mut resp = error(
                StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                &["injected fault"],
                json!({}),
            );
            if let Some(s) = retry_after {
                resp.headers_mut()
                    .insert("retry-after", s.to_string().parse().expect("header"));
            }
            return resp;
        }
        Some(Fault::Delay(d)) => tokio::time::sleep(d).await,
        Some(Fault::ActThenDelay(d)) => {
            let resp = answer(&inner, &method, &uri, &headers, &text);
            tokio::time::sleep(d).await;
            return resp;
        }
        Some(Fault::ActThenStatus(code)) => {
            let _stored = answer(&inner, &method, &uri, &headers, &text);
            return error(
                StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY),
                &["injected fault after the request was handled"],
                json!({}),
            );
        }
        None => {}
    }
    if let Some(refused) = comment_knobs(&inner, &method, &uri, &text).await {
        return refused;
    }
    answer(&inner, &method, &uri, &headers, &text)
}

fn answer(
    inner: &Arc<Mutex<Inner>>,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &str,
) -> Response {
    let mut st = inner.lock().unwrap();
    let mode = st.mode;
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let (path, via_gateway) = site::route(uri.path());
    let path = path.as_str();
    if let Some(info) = site::tenant_info(mode, path) {
        return ok(StatusCode::OK, info);
    }
    // Like Jira, serverInfo answers without a login.
    let public = path.ends_with("/serverInfo");
    if !site::auth_ok(&st, auth, via_gateway) && !public {
        return error(
            StatusCode::UNAUTHORIZED,
            &["You are not authenticated. Authentication required to perform this operation."],
            json!({}),
        );
    }
    let api = match mode {
        Mode::Cloud => "/rest/api/3",
        Mode::DataCenter => "/rest/api/2",
    };
    if path == "/rest/api/2/serverInfo" || path == "/rest/api/3/serverInfo" {
        let kind = if mode == Mode::Cloud {
            "Cloud"
        } else {
            "Server"
        };
        return ok(
            StatusCode::OK,
            json!({"deploymentType": kind, "version": "11.0.0"}),
        );
    }
    if mode == Mode::Cloud && path == "/rest/api/3/search" {
        return error(
            StatusCode::GONE,
            &["This API has been removed. Use /rest/api/3/search/jql."],
            json!({}),
        );
    }
    let Some(rest) = path.strip_prefix(api) else {
        return error(StatusCode::NOT_FOUND, &["No such API"], json!({}));
    };
    let query: BTreeMap<String, String> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.replace("%2C", ",").replace('+', " ")))
        .collect();
    let json_body: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let mut parts: Vec<String> = rest
        .trim_start_matches('/')
        .split('/')
        .map(str::to_string)
        .collect();
    if parts.len() > 1 && parts[0] == "issue" {
        parts[1] = site::resolve(&st, &parts[1]);
    }
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["myself"]) => ok(
            StatusCode::OK,
            json!({"displayName": "Dev Tester", "emailAddress": EMAIL, "name": "dev"}),
        ),
        ("GET", ["field"]) => ok(
            StatusCode::OK,
            json!([
                {"id": "summary", "name": "Summary", "custom": false},
                {"id": "description", "name": "Description", "custom": false},
                {"id": AC_FIELD, "name": "Acceptance Criteria", "custom": true,
                 "schema": {"type": "string", "custom": "com.atlassian.jira.plugin.system.customfieldtypes:textarea"}},
            ]),
        ),
        ("GET", ["project", _, "statuses"]) => ok(
            StatusCode::OK,
            json!([{"name": "Story", "statuses": site::statuses(&st).unwrap_or_else(|| STATUSES.iter().map(|(_, n)| (*n).to_string()).collect()).iter().map(|n| json!({"name": n, "statusCategory": {"key": site::category(n)}})).collect::<Vec<_>>()}]),
        ),
        ("GET", ["issue", key]) => match st.issues.get(*key) {
            None => not_found(),
            Some(i) => {
                let wanted: Vec<String> = query
                    .get("fields")
                    .map(|f| f.split(',').map(str::to_string).collect())
                    .unwrap_or_default();
                ok(StatusCode::OK, issue_json(i, &wanted))
            }
        },
        ("PUT", ["issue", key]) => {
            if let Some(e) = invalid_bodies(mode, &json_body["fields"]) {
                return e;
            }
            let project = key.split('-').next().unwrap_or_default().to_string();
            if !json_body["fields"][AC_FIELD].is_null() && !st.projects_with_ac.contains(&project) {
                return error(
                    StatusCode::BAD_REQUEST,
                    &[],
                    json!({AC_FIELD: format!("Field '{AC_FIELD}' cannot be set. It is not on the appropriate screen, or unknown.")}),
                );
            }
            let Some(i) = st.issues.get_mut(*key) else {
                return not_found();
            };
            let f = &json_body["fields"];
            if let Some(s) = f["summary"].as_str() {
                i.summary = s.into();
            }
            if !f["description"].is_null() {
                i.description = f["description"].clone();
            }
            if !f[AC_FIELD].is_null() {
                i.ac = f[AC_FIELD].clone();
            }
            StatusCode::NO_CONTENT.into_response()
        }
        ("POST", ["issue"]) => {
            let f = &json_body["fields"];
            if let Some(e) = invalid_bodies(mode, f) {
                return e;
            }
            let project = f["project"]["key"].as_str().unwrap_or_default().to_string();
            if !f[AC_FIELD].is_null() && !st.projects_with_ac.contains(&project) {
                return error(
                    StatusCode::BAD_REQUEST,
                    &[],
                    json!({AC_FIELD: format!("Field '{AC_FIELD}' cannot be set. It is not on the appropriate screen, or unknown.")}),
                );
            }
            let n = st
                .issues
                .keys()
                .filter(|k| k.starts_with(&format!("{project}-")))
                .count()
                + 1;
            let key = format!("{project}-{n}");
            st.next_id += 1;
            let id = st.next_id;
            st.issues.insert(
                key.clone(),
                Issue {
                    key: key.clone(),
                    summary: f["summary"].as_str().unwrap_or_default().into(),
                    description: f["description"].clone(),
                    ac: f[AC_FIELD].clone(),
                    status: "To Do".into(),
                    labels: f["labels"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|l| l.as_str().map(str::to_string))
                        .collect(),
                    issue_type: f["issuetype"]["name"].as_str().unwrap_or("Story").into(),
                    comments: vec![],
                    properties: BTreeMap::new(),
                    worklogs: vec![],
                },
            );
            ok(
                StatusCode::CREATED,
                json!({"id": id.to_string(), "key": key, "self": "x"}),
            )
        }
        ("GET", ["issue", key, "comment"]) => match st.issues.get(*key) {
            None => not_found(),
            Some(i) => {
                let start: usize = query
                    .get("startAt")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(0);
                let max: usize = query
                    .get("maxResults")
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(100);
                let mut all = i.comments.clone();
                if query.get("orderBy").is_some_and(|o| o.starts_with('-')) {
                    all.reverse();
                }
                let page: Vec<Value> = all.into_iter().skip(start).take(max).collect();
                ok(
                    StatusCode::OK,
                    json!({"comments": page, "startAt": start, "maxResults": max, "total": i.comments.len()}),
                )
            }
        },
        ("POST", ["issue", key, "comment"]) => {
            if let Some(e) = invalid_bodies(mode, &json!({"comment": json_body["body"]})) {
                return e;
            }
            st.next_id += 1;
            let id = st.next_id;
            let Some(i) = st.issues.get_mut(*key) else {
                return not_found();
            };
            let c = json!({
                "id": id.to_string(), "body": json_body["body"],
                "author": {"displayName": "Dev Tester"}, "created": "2026-11-25T08:00:00.000+0000"
            });
            i.comments.push(c.clone());
            ok(StatusCode::CREATED, c)
        }
        ("GET", ["issue", key, "remotelink"]) => match st.issues.get(*key) {
            None => not_found(),
            Some(_) => ok(
                StatusCode::OK,
                json!(st.remote_links.get(*key).cloned().unwrap_or_default()),
            ),
        },
        // Jira upserts by globalId: 201 when new, 200 when updated.
        ("POST", ["issue", key, "remotelink"]) => {
            if !st.issues.contains_key(*key) {
                return not_found();
            }
            if json_body["object"]["url"].as_str().is_none()
                || json_body["object"]["title"].as_str().is_none()
            {
                return error(
                    StatusCode::BAD_REQUEST,
                    &[],
                    json!({"object": "The object with url and title is required."}),
                );
            }
            st.next_id += 1;
            let next = st.next_id;
            let links = st.remote_links.entry(key.to_string()).or_default();
            let global = json_body["globalId"].as_str().map(str::to_string);
            let found = global.as_ref().and_then(|g| {
                links
                    .iter_mut()
                    .find(|l| l["globalId"].as_str() == Some(g.as_str()))
            });
            match found {
                Some(l) => {
                    let id = l["id"].clone();
                    *l = json_body.clone();
                    l["id"] = id.clone();
                    ok(
                        StatusCode::OK,
                        json!({"id": id, "self": format!("/remotelink/{id}")}),
                    )
                }
                None => {
                    let mut l = json_body.clone();
                    l["id"] = json!(next);
                    links.push(l);
                    ok(
                        StatusCode::CREATED,
                        json!({"id": next, "self": format!("/remotelink/{next}")}),
                    )
                }
            }
        }
        ("GET", ["issue", key, "worklog"]) => match st.issues.get(*key) {
            None => not_found(),
            Some(i) => ok(
                StatusCode::OK,
                json!({"worklogs": i.worklogs, "startAt": 0, "maxResults": 5000, "total": i.worklogs.len()}),
            ),
        },
        ("POST", ["issue", key, "worklog"]) => {
            if let Some(e) = invalid_bodies(mode, &json!({"comment": json_body["comment"]})) {
                return e;
            }
            // Jira needs the start and at least a minute.
            let seconds = json_body["timeSpentSeconds"].as_u64().unwrap_or(0);
            if seconds < 60 || json_body["started"].as_str().is_none() {
                return error(
                    StatusCode::BAD_REQUEST,
                    &[],
                    json!({"timeLogged": "You must indicate the time spent working."}),
                );
            }
            st.next_id += 1;
            let id = st.next_id;
            let Some(i) = st.issues.get_mut(*key) else {
                return not_found();
            };
            let w = json!({
                "id": id.to_string(), "comment": json_body["comment"],
                "timeSpentSeconds": seconds, "started": json_body["started"],
            });
            i.worklogs.push(w.clone());
            ok(StatusCode::CREATED, w)
        }
        ("GET", ["issue", key, "transitions"]) => match st.issues.get(*key) {
            None => not_found(),
            Some(i) if site::transitions(&st, &i.status).is_some() => ok(
                StatusCode::OK,
                json!({"transitions": site::transitions(&st, &i.status)}),
            ),
            Some(i) => {
                let list: Vec<Value> = STATUSES
                    .iter()
                    .filter(|(_, n)| *n != i.status)
                    .map(|(id, n)| {
                        let fields = if *n == "Won't Do" {
                            json!({"resolution": {"required": true, "name": "Resolution"}})
                        } else {
                            json!({})
                        };
                        json!({"id": id, "name": format!("Move to {n}"), "hasScreen": false,
                               "isAvailable": true, "fields": fields,
                               "to": {"id": id, "name": n}})
                    })
                    .collect();
                ok(StatusCode::OK, json!({"transitions": list}))
            }
        },
        ("POST", ["issue", key, "transitions"]) => {
            let id = json_body["transition"]["id"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if !st.issues.contains_key(*key) {
                return not_found();
            }
            site::changed(&mut st, key);
            match site::take(&mut st, key, &id, &json_body) {
                Some(Ok(())) => return StatusCode::NO_CONTENT.into_response(),
                Some(Err(m)) => return error(StatusCode::BAD_REQUEST, &[&m], json!({})),
                None => {}
            }
            let Some(i) = st.issues.get_mut(*key) else {
                return not_found();
            };
            match STATUSES.iter().find(|(t, _)| *t == id) {
                Some((_, n)) => {
                    i.status = (*n).into();
                    StatusCode::NO_CONTENT.into_response()
                }
                None => error(
                    StatusCode::BAD_REQUEST,
                    &["Transition id is not valid."],
                    json!({}),
                ),
            }
        }
        ("GET", ["issue", key, "properties", name]) => match st.issues.get(*key) {
            None => not_found(),
            Some(i) => match i.properties.get(*name) {
                Some(v) => ok(StatusCode::OK, json!({"key": name, "value": v})),
                None => error(
                    StatusCode::NOT_FOUND,
                    &["The property was not found."],
                    json!({}),
                ),
            },
        },
        ("PUT", ["issue", key, "properties", name]) => {
            let Some(i) = st.issues.get_mut(*key) else {
                return not_found();
            };
            let existed = i
                .properties
                .insert((*name).to_string(), json_body)
                .is_some();
            if existed {
                StatusCode::OK.into_response()
            } else {
                StatusCode::CREATED.into_response()
            }
        }
        ("POST", ["search", "jql"]) if mode == Mode::Cloud => {
            let matching = search(&st, json_body["jql"].as_str().unwrap_or_default());
            let start: usize = json_body["nextPageToken"]
                .as_str()
                .and_then(|t| t.parse().ok())
                .unwrap_or(0);
            let size = st
                .page_size
                .min(json_body["maxResults"].as_u64().unwrap_or(50) as usize);
            let page: Vec<Value> = matching.iter().skip(start).take(size).cloned().collect();
            let next = start + page.len();
            let last = next >= matching.len();
            ok(
                StatusCode::OK,
                json!({
                    "issues": page,
                    "nextPageToken": if last { Value::Null } else { json!(next.to_string()) },
                    "isLast": last,
                }),
            )
        }
        ("POST", ["search"]) if mode == Mode::DataCenter => {
            let matching = search(&st, json_body["jql"].as_str().unwrap_or_default());
            let start = json_body["startAt"].as_u64().unwrap_or(0) as usize;
            let size = st
                .page_size
                .min(json_body["maxResults"].as_u64().unwrap_or(50) as usize);
            let page: Vec<Value> = matching.iter().skip(start).take(size).cloned().collect();
            ok(
                StatusCode::OK,
                json!({"issues": page, "startAt": start, "maxResults": size, "total": matching.len()}),
            )
        }
        _ => error(
            StatusCode::NOT_FOUND,
            &["No such endpoint in the fake"],
            json!({}),
        ),
    }
}

fn not_found() -> Response {
    error(
        StatusCode::NOT_FOUND,
        &["Issue does not exist or you do not have permission to see it."],
        json!({}),
    )
}

/// In Cloud mode every rich-text body must be valid ADF.
fn invalid_bodies(mode: Mode, fields: &Value) -> Option<Response> {
    let obj = fields.as_object()?;
    for (name, v) in obj {
        if !matches!(name.as_str(), "description" | "comment") && name != AC_FIELD {
            continue;
        }
        let valid = match mode {
            Mode::Cloud => v.is_null() || adf_validator().is_valid(v),
            Mode::DataCenter => v.is_null() || v.is_string(),
        };
        if !valid {
            return Some(error(
                StatusCode::BAD_REQUEST,
                &[],
                json!({name.clone(): "Operation value must be an Atlassian Document (see the Atlassian Document Format)"}),
            ));
        }
    }
    None
}

fn issue_json(i: &Issue, wanted: &[String]) -> Value {
    let all = json!({
        "summary": i.summary,
        "description": i.description,
        "status": {"name": i.status, "statusCategory": {"key": site::category(&i.status)}},
        "labels": i.labels,
        "issuetype": {"name": i.issue_type},
        "updated": "2026-11-25T08:00:00.000+0000",
        "comment": {"comments": i.comments, "total": i.comments.len(), "maxResults": 100, "startAt": 0},
        AC_FIELD: i.ac,
    });
    let mut fields = serde_json::Map::new();
    for (k, v) in all.as_object().into_iter().flatten() {
        if wanted.is_empty() || wanted.iter().any(|w| w == k) {
            fields.insert(k.clone(), v.clone());
        }
    }
    json!({"id": "1", "key": i.key, "fields": fields})
}

/// The JQL forms csm sends: `key in (A-1,B-2) ...` and `project = X ...`.
fn search(st: &Inner, jql: &str) -> Vec<Value> {
    let wanted = ["summary", "status", "labels", "issuetype", "updated"].map(String::from);
    if let Some(list) = jql
        .strip_prefix("key in (")
        .and_then(|r| r.split_once(')'))
        .map(|(l, _)| l)
    {
        let keys: Vec<&str> = list.split(',').map(str::trim).collect();
        return st
            .issues
            .values()
            .filter(|i| {
                keys.iter()
                    .any(|k| site::resolve(st, k) == i.key && !site::lagging(st, &i.key))
            })
            .map(|i| issue_json(i, &wanted))
            .collect();
    }
    if let Some(project) = jql
        .strip_prefix("project = ")
        .and_then(|r| r.split_whitespace().next())
    {
        return st
            .issues
            .values()
            .filter(|i| i.key.starts_with(&format!("{project}-")) && !site::lagging(st, &i.key))
            .map(|i| issue_json(i, &wanted))
            .collect();
    }
    Vec::new()
}

/// The outbox knobs for a comment POST: the delay, then a refusal (the
/// fixed one, or Jira's "too long" over the limit), as Jira answers them.
async fn comment_knobs(
    inner: &Arc<Mutex<Inner>>,
    method: &Method,
    uri: &Uri,
    body: &str,
) -> Option<Response> {
    if method != Method::POST || !uri.path().ends_with("/comment") {
        return None;
    }
    let (delay, limit, refusal, mode) = {
        let st = inner.lock().unwrap();
        (
            st.comment_delay,
            st.comment_limit,
            st.comment_refusal.clone(),
            st.mode,
        )
    };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    if let Some(message) = refusal {
        return Some(error(StatusCode::BAD_REQUEST, &[&message], json!({})));
    }
    let limit = limit?;
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let size = match mode {
        Mode::Cloud => adf_text_len(&v["body"]),
        Mode::DataCenter => v["body"].as_str().unwrap_or_default().chars().count(),
    };
    (size > limit).then(|| {
        error(
            StatusCode::BAD_REQUEST,
            &[],
            json!({"comment": format!("The entered text is too long. It exceeds the allowed limit of {limit} characters.")}),
        )
    })
}

/// Characters of text in an ADF document.
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

impl FakeJira {
    /// Every comment POST waits this long before it is handled.
    pub fn set_comment_delay(&self, delay: Option<Duration>) {
        self.inner.lock().unwrap().comment_delay = delay;
    }

    /// Comments longer than `limit` characters of text are refused with
    /// Jira's 400 "The entered text is too long".
    pub fn set_comment_limit(&self, limit: Option<usize>) {
        self.inner.lock().unwrap().comment_limit = limit;
    }

    /// Every comment is refused with a 400 and this message (until `None`).
    pub fn refuse_comments(&self, message: Option<&str>) {
        self.inner.lock().unwrap().comment_refusal = message.map(str::to_string);
    }
}
