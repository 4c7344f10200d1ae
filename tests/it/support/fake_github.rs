//! A stateful fake GitHub REST API on 127.0.0.1, shaped after GitHub's
//! published REST documentation (API version 2022-11-28): issues (pull
//! requests among them, as the issues endpoints return them), comments,
//! labels, the issues list with `Link` pagination, `/search/issues`,
//! `/repos/{owner}/{repo}`, `/rate_limit`, pull requests (listed by head,
//! created with a 422 when the branch has one, updated); bearer tokens, a read-only token
//! (403 with `x-accepted-github-permissions` on writes), private
//! repositories that answer 404 to strangers, the `x-ratelimit-*` headers
//! and rate-limit answers (primary: 403 with remaining 0; secondary: 429
//! with `retry-after`), and injected faults. Requests without a
//! `User-Agent` are refused with 403, as GitHub does.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// The token with read and write access.
pub const TOKEN: &str = "ghp_FAKEgithubTOKEN0123456789abcdefXYZ";
/// A token that may read but not write.
pub const READ_ONLY_TOKEN: &str = "github_pat_FAKEreadONLY_0123456789";
/// A valid token of someone with no access to the private repositories.
pub const STRANGER_TOKEN: &str = "github_pat_FAKEstranger_9876543210";

pub use super::Request;

/// A fault served instead of the real answer.
#[derive(Clone, Debug)]
pub enum Fault {
    /// An error status with GitHub's `{"message"}` body.
    Status(u16),
    /// The primary rate limit used up: 403, `x-ratelimit-remaining: 0`,
    /// reset in this many seconds.
    PrimaryRateLimit(u64),
    /// A secondary rate limit: 429 with `retry-after` seconds.
    SecondaryRateLimit(u64),
}

/// An issue (or pull request) in the fake.
#[derive(Clone, Debug)]
pub struct Issue {
    /// Its number.
    pub number: u64,
    /// Title.
    pub title: String,
    /// Body (Markdown).
    pub body: String,
    /// `open` or `closed`.
    pub state: String,
    /// `completed`, `not_planned`, `reopened` or none.
    pub state_reason: Option<String>,
    /// Label names.
    pub labels: Vec<String>,
    /// Comments: (id, body).
    pub comments: Vec<(u64, String)>,
    /// Whether it is a pull request.
    pub pull_request: bool,
    /// Last change (RFC 3339).
    pub updated_at: String,
}

struct Inner {
    repos: BTreeMap<String, (bool, BTreeMap<u64, Issue>)>,
    pulls: Pulls,
    requests: Vec<Request>,
    faults: VecDeque<(Option<String>, Fault)>,
    page_size: usize,
    next_id: u64,
    clock: u64,
    remaining: u64,
}

/// The running fake.
pub struct FakeGithub {
    inner: Arc<Mutex<Inner>>,
    addr: std::net::SocketAddr,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl FakeGithub {
    /// Starts a fake with no repositories.
    pub fn start() -> FakeGithub {
        let inner = Arc::new(Mutex::new(Inner {
            repos: BTreeMap::new(),
            pulls: Pulls::default(),
            requests: Vec::new(),
            faults: VecDeque::new(),
            page_size: 30,
            next_id: 9_000_000,
            clock: 0,
            remaining: 4990,
        }));
        let app = Router::new()
            .fallback(handle)
            .with_state(Arc::clone(&inner));
        let (addr, shutdown) = super::serve(app);
        FakeGithub {
            inner,
            addr,
            _shutdown: shutdown,
        }
    }

    /// The API root.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Adds a repository (`owner/name`), private or public.
    pub fn add_repo(&self, repo: &str, private: bool) {
        self.inner
            .lock()
            .unwrap()
            .repos
            .insert(repo.to_lowercase(), (private, BTreeMap::new()));
    }

    /// Adds an open issue with the next number and returns the number.
    pub fn add_issue(&self, repo: &str, title: &str, body: &str) -> u64 {
        self.add(repo, title, body, false)
    }

    /// Adds a pull request (an issue with `pull_request`).
    pub fn add_pull_request(&self, repo: &str, title: &str) -> u64 {
        self.add(repo, title, "", true)
    }

    fn add(&self, repo: &str, title: &str, body: &str, pr: bool) -> u64 {
        let mut st = self.inner.lock().unwrap();
        st.clock += 1;
        let at = stamp(st.clock);
        let issues = &mut st.repos.get_mut(&repo.to_lowercase()).expect("repo").1;
        let number = issues.keys().max().copied().unwrap_or(0) + 1;
        issues.insert(
            number,
            Issue {
                number,
                title: title.into(),
                body: body.into(),
                state: "open".into(),
                state_reason: None,
                labels: Vec::new(),
                comments: Vec::new(),
                pull_request: pr,
                updated_at: at,
            },
        );
        number
    }

    /// A copy of an issue.
    pub fn issue(&self, repo: &str, number: u64) -> Issue {
        self.inner.lock().unwrap().repos[&repo.to_lowercase()].1[&number].clone()
    }

    /// Changes an issue in place.
    pub fn edit(&self, repo: &str, number: u64, f: impl FnOnce(&mut Issue)) {
        let mut st = self.inner.lock().unwrap();
        st.clock += 1;
        let at = stamp(st.clock);
        let issue = st
            .repos
            .get_mut(&repo.to_lowercase())
            .expect("repo")
            .1
            .get_mut(&number)
            .expect("issue");
        f(issue);
        issue.updated_at = at;
    }

    /// Adds a comment as someone else.
    pub fn add_comment(&self, repo: &str, number: u64, body: &str) {
        let id = {
            let mut st = self.inner.lock().unwrap();
            st.next_id += 1;
            st.next_id
        };
        self.edit(repo, number, |i| i.comments.push((id, body.to_string())));
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<Request> {
        self.inner.lock().unwrap().requests.clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        self.inner.lock().unwrap().requests.clear();
    }

    /// Serves `fault` to the next request whose path contains `path` (any
    /// request when `None`).
    pub fn fail_next(&self, path: Option<&str>, fault: Fault) {
        self.inner
            .lock()
            .unwrap()
            .faults
            .push_back((path.map(str::to_string), fault));
    }

    /// Sets how many items a list page holds.
    pub fn set_page_size(&self, n: usize) {
        self.inner.lock().unwrap().page_size = n.max(1);
    }

    /// The csm config for a GitHub tracker on this fake.
    pub fn csm_config(&self, repo: Option<&str>) -> String {
        let repo = repo
            .map(|r| format!("repo = \"{r}\"\n"))
            .unwrap_or_default();
        format!(
            "[tracker]\nkind = \"github\"\n[github]\napi_url = \"{}\"\n{repo}timeout_secs = 5\n",
            self.url()
        )
    }
}

fn stamp(n: u64) -> String {
    format!("2026-11-{:02}T10:{:02}:00Z", 1 + (n / 60) % 28, n % 60)
}

fn reply(status: u16, body: Value, remaining: u64) -> Response {
    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        [("content-type", "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response();
    let h = resp.headers_mut();
    h.insert("x-ratelimit-limit", "5000".parse().unwrap());
    h.insert(
        "x-ratelimit-remaining",
        remaining.to_string().parse().unwrap(),
    );
    h.insert("x-ratelimit-reset", "4102444800".parse().unwrap());
    h.insert("x-ratelimit-resource", "core".parse().unwrap());
    resp
}

fn message(status: u16, text: &str, remaining: u64) -> Response {
    reply(
        status,
        json!({"message": text, "documentation_url": "https://docs.github.com/rest", "status": status.to_string()}),
        remaining,
    )
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let text = String::from_utf8_lossy(&body).into_owned();
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
    let fault = pos.and_then(|i| st.faults.remove(i)).map(|(_, f)| f);
    st.remaining = st.remaining.saturating_sub(1);
    let remaining = st.remaining;
    match fault {
        Some(Fault::Status(code)) => {
            let text = match code {
                502 => "Server Error",
                503 => "Service Unavailable",
                _ => "injected fault",
            };
            return message(code, text, remaining);
        }
        Some(Fault::PrimaryRateLimit(reset_in)) => {
            let mut resp = message(
                403,
                "API rate limit exceeded for user ID 1. If you reach out to GitHub Support for help, please include the request ID.",
                0,
            );
            let reset = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs()
                + reset_in;
            let h = resp.headers_mut();
            h.insert("x-ratelimit-remaining", "0".parse().unwrap());
            h.insert("x-ratelimit-reset", reset.to_string().parse().unwrap());
            return resp;
        }
        Some(Fault::SecondaryRateLimit(after)) => {
            let mut resp = message(
                429,
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                remaining,
            );
            resp.headers_mut()
                .insert("retry-after", after.to_string().parse().unwrap());
            return resp;
        }
        None => {}
    }
    // GitHub's own rules, before any routing.
    if headers.get("user-agent").is_none() {
        return message(
            403,
            "Request forbidden by administrative rules. Please make sure your request has a User-Agent header",
            remaining,
        );
    }
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let token = auth.strip_prefix("Bearer ").unwrap_or_default();
    let access = match token {
        TOKEN => Access::Write,
        READ_ONLY_TOKEN => Access::Read,
        STRANGER_TOKEN => Access::Stranger,
        _ => return message(401, "Bad credentials", remaining),
    };
    let base = format!(
        "http://{}",
        headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or("127.0.0.1")
    );
    let mut resp = answer(&mut st, access, &base, &method, &uri, &text, remaining);
    if let Some(link) = resp
        .headers()
        .get("link")
        .and_then(|l| l.to_str().ok())
        .map(|l| l.replace("{BASE}", &base))
    {
        resp.headers_mut().insert("link", link.parse().unwrap());
    }
    resp
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    Read,
    Write,
    Stranger,
}

fn issue_json(base: &str, repo: &str, i: &Issue) -> Value {
    let mut v = json!({
        "id": 1_000_000 + i.number,
        "node_id": format!("I_{}", i.number),
        "url": format!("{base}/repos/{repo}/issues/{}", i.number),
        "repository_url": format!("{base}/repos/{repo}"),
        "html_url": format!("https://github.example/{repo}/issues/{}", i.number),
        "number": i.number,
        "state": i.state,
        "state_reason": i.state_reason,
        "title": i.title,
        "body": if i.body.is_empty() { Value::Null } else { json!(i.body) },
        "user": {"login": "octocat", "id": 1},
        "labels": i.labels.iter().map(|l| json!({"name": l, "color": "ededed"})).collect::<Vec<_>>(),
        "comments": i.comments.len(),
        "created_at": "2026-11-01T09:00:00Z",
        "updated_at": i.updated_at,
        "closed_at": if i.state == "closed" { json!(i.updated_at) } else { Value::Null },
    });
    if i.pull_request {
        v["pull_request"] = json!({"url": format!("{base}/repos/{repo}/pulls/{}", i.number)});
    }
    v
}

fn query_param(uri: &Uri, name: &str) -> Option<String> {
    uri.query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == name).then(|| {
            let v = v.replace('+', " ");
            percent_decode(&v)
        })
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn answer(
    st: &mut Inner,
    access: Access,
    base: &str,
    method: &Method,
    uri: &Uri,
    body: &str,
    remaining: u64,
) -> Response {
    let segments: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    let input: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let page_size = query_param(uri, "per_page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(30)
        .min(st.page_size);
    let page = query_param(uri, "page")
        .and_then(|p| p.parse::<usize>().ok())
        .unwrap_or(1)
        .max(1);
    let not_found = || message(404, "Not Found", remaining);
    let write_refused = || {
        let mut r = message(
            403,
            "Resource not accessible by personal access token",
            remaining,
        );
        r.headers_mut().insert(
            "x-accepted-github-permissions",
            "issues=write".parse().unwrap(),
        );
        r
    };
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["rate_limit"]) => reply(
            200,
            json!({"resources": {"core": {"limit": 5000, "used": 5000 - remaining, "remaining": remaining, "reset": 4102444800u64},
                   "search": {"limit": 30, "used": 0, "remaining": 30, "reset": 4102444800u64}},
                   "rate": {"limit": 5000, "used": 5000 - remaining, "remaining": remaining, "reset": 4102444800u64}}),
            remaining,
        ),
        ("GET", ["search", "issues"]) => {
            let q = query_param(uri, "q").unwrap_or_default();
            let repo = q
                .split_whitespace()
                .find_map(|w| w.strip_prefix("repo:"))
                .map(str::to_lowercase);
            let words: Vec<String> = q
                .split_whitespace()
                .filter(|w| !w.contains(':'))
                .map(str::to_lowercase)
                .collect();
            let want_open = q.contains("is:open");
            let mut items = Vec::new();
            for (name, (private, issues)) in &st.repos {
                if repo.as_ref().is_some_and(|r| r != name)
                    || *private && access == Access::Stranger
                {
                    continue;
                }
                for i in issues.values() {
                    if i.pull_request && q.contains("is:issue") {
                        continue;
                    }
                    if want_open && i.state != "open" {
                        continue;
                    }
                    let hay = format!("{} {}", i.title, i.body).to_lowercase();
                    if words.iter().all(|w| hay.contains(w.as_str())) {
                        items.push(issue_json(base, name, i));
                    }
                }
            }
            reply(
                200,
                json!({"total_count": items.len(), "incomplete_results": false, "items": items}),
                remaining,
            )
        }
        (m, ["repos", owner, name, rest @ ..]) => {
            let repo = format!("{owner}/{name}").to_lowercase();
            let Some((private, _)) = st.repos.get(&repo) else {
                return not_found();
            };
            let private = *private;
            if private && access == Access::Stranger {
                return not_found();
            }
            if let ["pulls", tail @ ..] = rest {
                return pulls_answer(st, access, &repo, m, tail, &input, uri, remaining);
            }
            let is_write = m != "GET";
            if is_write && access != Access::Write {
                return write_refused();
            }
            let clock = {
                st.clock += 1;
                st.clock
            };
            st.next_id += 1;
            let next_id = st.next_id;
            let issues = &mut st.repos.get_mut(&repo).expect("repo").1;
            match (m, rest) {
                ("GET", []) => reply(
                    200,
                    json!({"full_name": repo, "private": private, "has_issues": true, "default_branch": "main",
                           "permissions": {"admin": false, "push": access == Access::Write, "pull": true}}),
                    remaining,
                ),
                ("GET", ["issues"]) => {
                    let state = query_param(uri, "state").unwrap_or_else(|| "open".into());
                    let mut all: Vec<&Issue> = issues
                        .values()
                        .filter(|i| state == "all" || i.state == state)
                        .collect();
                    all.sort_by(|a, b| {
                        b.updated_at
                            .cmp(&a.updated_at)
                            .then(b.number.cmp(&a.number))
                    });
                    let pages = all.len().div_ceil(page_size).max(1);
                    let items: Vec<Value> = all
                        .iter()
                        .skip((page - 1) * page_size)
                        .take(page_size)
                        .map(|i| issue_json(base, &repo, i))
                        .collect();
                    let mut resp = reply(200, json!(items), remaining);
                    if page < pages {
                        // GitHub's Link header: absolute URLs of the API.
                        let link = format!(
                            "<{{BASE}}/repos/{repo}/issues?state={state}&per_page={page_size}&page={}>; rel=\"next\", <{{BASE}}/repos/{repo}/issues?state={state}&per_page={page_size}&page={pages}>; rel=\"last\"",
                            page + 1
                        );
                        resp.headers_mut().insert("link", link.parse().unwrap());
                    }
                    resp
                }
                ("POST", ["issues"]) => {
                    let Some(title) = input["title"].as_str().filter(|t| !t.trim().is_empty())
                    else {
                        return reply(
                            422,
                            json!({"message": "Validation Failed", "errors": [{"resource": "Issue", "code": "missing_field", "field": "title"}], "status": "422"}),
                            remaining,
                        );
                    };
                    let number = issues.keys().max().copied().unwrap_or(0) + 1;
                    let issue = Issue {
                        number,
                        title: title.into(),
                        body: input["body"].as_str().unwrap_or_default().into(),
                        state: "open".into(),
                        state_reason: None,
                        labels: input["labels"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|l| l.as_str().map(str::to_string))
                            .collect(),
                        comments: Vec::new(),
                        pull_request: false,
                        updated_at: stamp(clock),
                    };
                    let v = issue_json(base, &repo, &issue);
                    issues.insert(number, issue);
                    reply(201, v, remaining)
                }
                (m, ["issues", n, tail @ ..]) => {
                    let Some(issue) = n.parse::<u64>().ok().and_then(|n| issues.get_mut(&n)) else {
                        return not_found();
                    };
                    match (m, tail) {
                        ("GET", []) => reply(200, issue_json(base, &repo, issue), remaining),
                        ("PATCH", []) => {
                            if let Some(t) = input["title"].as_str() {
                                issue.title = t.into();
                            }
                            if let Some(b) = input["body"].as_str() {
                                if b.chars().count() > 65_536 {
                                    return reply(
                                        422,
                                        json!({"message": "Validation Failed", "errors": [{"resource": "Issue", "code": "custom", "field": "body", "message": "body is too long (maximum is 65536 characters)"}]}),
                                        remaining,
                                    );
                                }
                                issue.body = b.into();
                            }
                            if let Some(s) = input["state"].as_str() {
                                issue.state = s.into();
                                issue.state_reason = match input["state_reason"].as_str() {
                                    Some(r) => Some(r.into()),
                                    None if s == "closed" => Some("completed".into()),
                                    None => None,
                                };
                            }
                            if let Some(ls) = input["labels"].as_array() {
                                issue.labels = ls
                                    .iter()
                                    .filter_map(|l| {
                                        l.as_str().or(l["name"].as_str()).map(str::to_string)
                                    })
                                    .collect();
                            }
                            issue.updated_at = stamp(clock);
                            reply(200, issue_json(base, &repo, issue), remaining)
                        }
                        ("GET", ["comments"]) => {
                            let all: Vec<Value> = issue
                                .comments
                                .iter()
                                .map(|(id, b)| json!({"id": id, "body": b, "user": {"login": "octocat"}, "created_at": "2026-11-02T09:00:00Z",
                                                       "html_url": format!("https://github.example/{repo}/issues/{}#issuecomment-{id}", issue.number)}))
                                .collect();
                            let pages = all.len().div_ceil(page_size).max(1);
                            let items: Vec<Value> = all
                                .into_iter()
                                .skip((page - 1) * page_size)
                                .take(page_size)
                                .collect();
                            let mut resp = reply(200, json!(items), remaining);
                            if page < pages {
                                let link = format!(
                                    "<{{BASE}}/repos/{repo}/issues/{}/comments?per_page={page_size}&page={}>; rel=\"next\"",
                                    issue.number,
                                    page + 1
                                );
                                resp.headers_mut().insert("link", link.parse().unwrap());
                            }
                            resp
                        }
                        ("POST", ["comments"]) => {
                            let Some(b) = input["body"].as_str() else {
                                return reply(
                                    422,
                                    json!({"message": "Validation Failed", "errors": [{"resource": "IssueComment", "code": "missing_field", "field": "body"}]}),
                                    remaining,
                                );
                            };
                            if b.chars().count() > 65_536 {
                                return reply(
                                    422,
                                    json!({"message": "Validation Failed", "errors": [{"resource": "IssueComment", "code": "custom", "field": "body", "message": "body is too long (maximum is 65536 characters)"}]}),
                                    remaining,
                                );
                            }
                            issue.comments.push((next_id, b.to_string()));
                            issue.updated_at = stamp(clock);
                            reply(
                                201,
                                json!({"id": next_id, "body": b, "user": {"login": "csm-user"}, "created_at": "2026-11-03T09:00:00Z"}),
                                remaining,
                            )
                        }
                        _ => not_found(),
                    }
                }
                _ => not_found(),
            }
        }
        _ => not_found(),
    }
}

// ---- Pull requests (`csm done --pr`): list by head, create (422 when the
// branch has an open one), read, update. Numbers are shared with issues,
// as on GitHub.

/// A pull request in the fake.
#[derive(Clone, Debug)]
pub struct Pull {
    /// Its number.
    pub number: u64,
    /// Title.
    pub title: String,
    /// Body (Markdown).
    pub body: String,
    /// The head branch.
    pub head: String,
    /// The base branch.
    pub base: String,
    /// Whether it is a draft.
    pub draft: bool,
    /// `open` or `closed`.
    pub state: String,
}

#[derive(Default)]
struct Pulls {
    by_repo: BTreeMap<String, Vec<Pull>>,
    hide_next_listing: bool,
}

impl FakeGithub {
    /// The pull requests of a repository.
    pub fn pulls(&self, repo: &str) -> Vec<Pull> {
        self.inner
            .lock()
            .unwrap()
            .pulls
            .by_repo
            .get(&repo.to_lowercase())
            .cloned()
            .unwrap_or_default()
    }

    /// Adds an open pull request from `head` into `main`; returns its number.
    pub fn add_pull(&self, repo: &str, head: &str, title: &str, body: &str) -> u64 {
        let mut st = self.inner.lock().unwrap();
        let number = next_number(&mut st, &repo.to_lowercase());
        st.pulls
            .by_repo
            .entry(repo.to_lowercase())
            .or_default()
            .push(Pull {
                number,
                title: title.into(),
                body: body.into(),
                head: head.into(),
                base: "main".into(),
                draft: false,
                state: "open".into(),
            });
        number
    }

    /// The next listing of pull requests answers as if there were none
    /// (GitHub's search and lists lag behind a fresh pull request).
    pub fn hide_next_pull_listing(&self) {
        self.inner.lock().unwrap().pulls.hide_next_listing = true;
    }
}

fn next_number(st: &mut Inner, repo: &str) -> u64 {
    let issues = st
        .repos
        .get(repo)
        .map(|r| r.1.keys().max().copied().unwrap_or(0))
        .unwrap_or(0);
    let pulls = st
        .pulls
        .by_repo
        .get(repo)
        .and_then(|p| p.iter().map(|p| p.number).max())
        .unwrap_or(0);
    let number = issues.max(pulls) + 1;
    // Keep the issue numbering shared: a pull request is an issue too.
    if let Some((_, issues)) = st.repos.get_mut(repo) {
        issues.insert(
            number,
            Issue {
                number,
                title: String::new(),
                body: String::new(),
                state: "open".into(),
                state_reason: None,
                labels: Vec::new(),
                comments: Vec::new(),
                pull_request: true,
                updated_at: stamp(0),
            },
        );
    }
    number
}

fn pull_json(repo: &str, p: &Pull) -> Value {
    let owner = repo.split('/').next().unwrap_or_default();
    json!({
        "number": p.number,
        "html_url": format!("https://github.example/{repo}/pull/{}", p.number),
        "state": p.state,
        "title": p.title,
        "body": p.body,
        "draft": p.draft,
        "head": {"ref": p.head, "label": format!("{owner}:{}", p.head)},
        "base": {"ref": p.base},
    })
}

#[allow(clippy::too_many_arguments)]
fn pulls_answer(
    st: &mut Inner,
    access: Access,
    repo: &str,
    method: &str,
    tail: &[&str],
    input: &Value,
    uri: &Uri,
    remaining: u64,
) -> Response {
    if method != "GET" && access != Access::Write {
        let mut r = message(
            403,
            "Resource not accessible by personal access token",
            remaining,
        );
        r.headers_mut().insert(
            "x-accepted-github-permissions",
            "pull_requests=write".parse().unwrap(),
        );
        return r;
    }
    match (method, tail) {
        ("GET", []) => {
            let head = query_param(uri, "head");
            let state = query_param(uri, "state").unwrap_or_else(|| "open".into());
            if std::mem::take(&mut st.pulls.hide_next_listing) {
                return reply(200, json!([]), remaining);
            }
            let owner = repo.split('/').next().unwrap_or_default();
            let items: Vec<Value> = st
                .pulls
                .by_repo
                .get(repo)
                .into_iter()
                .flatten()
                .filter(|p| state == "all" || p.state == state)
                .filter(|p| {
                    head.as_ref()
                        .is_none_or(|h| h.eq_ignore_ascii_case(&format!("{owner}:{}", p.head)))
                })
                .map(|p| pull_json(repo, p))
                .collect();
            reply(200, json!(items), remaining)
        }
        ("POST", []) => {
            let (Some(head), Some(base)) = (input["head"].as_str(), input["base"].as_str()) else {
                return reply(
                    422,
                    json!({"message": "Validation Failed", "errors": [{"resource": "PullRequest", "code": "missing_field", "field": "head"}]}),
                    remaining,
                );
            };
            let owner = repo.split('/').next().unwrap_or_default();
            let exists = st
                .pulls
                .by_repo
                .get(repo)
                .into_iter()
                .flatten()
                .any(|p| p.state == "open" && p.head == head && p.base == base);
            if exists {
                return reply(
                    422,
                    json!({"message": "Validation Failed", "errors": [{"resource": "PullRequest", "code": "custom",
                           "message": format!("A pull request already exists for {owner}:{head}.")}],
                           "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request", "status": "422"}),
                    remaining,
                );
            }
            if head == base {
                return reply(
                    422,
                    json!({"message": "Validation Failed", "errors": [{"resource": "PullRequest", "code": "custom",
                           "message": format!("No commits between {base} and {head}")}]}),
                    remaining,
                );
            }
            let number = next_number(st, repo);
            let pull = Pull {
                number,
                title: input["title"].as_str().unwrap_or_default().into(),
                body: input["body"].as_str().unwrap_or_default().into(),
                head: head.into(),
                base: base.into(),
                draft: input["draft"].as_bool().unwrap_or(false),
                state: "open".into(),
            };
            let v = pull_json(repo, &pull);
            st.pulls
                .by_repo
                .entry(repo.to_string())
                .or_default()
                .push(pull);
            reply(201, v, remaining)
        }
        (m, [n]) => {
            let Some(pull) = n.parse::<u64>().ok().and_then(|n| {
                st.pulls
                    .by_repo
                    .get_mut(repo)
                    .and_then(|ps| ps.iter_mut().find(|p| p.number == n))
            }) else {
                return message(404, "Not Found", remaining);
            };
            if m == "PATCH" {
                if let Some(t) = input["title"].as_str() {
                    pull.title = t.into();
                }
                if let Some(b) = input["body"].as_str() {
                    pull.body = b.into();
                }
            } else if m != "GET" {
                return message(404, "Not Found", remaining);
            }
            reply(200, pull_json(repo, pull), remaining)
        }
        _ => message(404, "Not Found", remaining),
    }
}
