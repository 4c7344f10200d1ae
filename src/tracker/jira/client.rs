//! HTTP to a Jira site: authentication, timeouts, retries and the mapping
//! of Jira's answers to [`TrackerError`].
//!
//! Retry policy ([`retry_wait`], a pure function): 429 and 503 are retried
//! honouring `Retry-After`, other 5xx only for idempotent requests (a POST
//! that failed may have happened), other 4xx never; waits grow
//! exponentially with jitter, and all waits together stay under a cap.
//!
//! Only method, path and status are logged; never headers or bodies, so a
//! token cannot reach a log.

use std::fmt;
use std::time::{Duration, Instant};

use reqwest::blocking::{Client, RequestBuilder};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::credentials::Secret;
use crate::tracker::TrackerError;

/// How a request authenticates.
#[derive(Clone)]
pub enum Auth {
    /// Jira Cloud: e-mail and API token.
    Basic {
        /// The account e-mail.
        email: String,
        /// The API token.
        token: Secret,
    },
    /// Jira Data Center: a personal access token.
    Bearer {
        /// The token.
        token: Secret,
    },
}

impl Auth {
    /// The user, for error messages.
    pub fn user(&self) -> String {
        match self {
            Auth::Basic { email, .. } => email.clone(),
            Auth::Bearer { .. } => "the personal access token".into(),
        }
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Basic { email, .. } => write!(f, "Basic({email}, <redacted>)"),
            Auth::Bearer { .. } => f.write_str("Bearer(<redacted>)"),
        }
    }
}

/// Limits for requests.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Connecting may take this long.
    pub connect_timeout: Duration,
    /// A whole request may take this long.
    pub timeout: Duration,
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// All waits between attempts together stay under this.
    pub max_retry_wait: Duration,
    /// The first backoff step.
    pub base_backoff: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(30),
            max_attempts: 4,
            max_retry_wait: Duration::from_secs(60),
            base_backoff: Duration::from_millis(500),
        }
    }
}

/// The DNS-failure test hook: when this variable is set, every name lookup
/// fails as an unknown host's would, without asking any DNS server (the
/// tests contact nothing but 127.0.0.1, whose literal needs no lookup).
pub const DNS_FAILS_VAR: &str = "CSM_TEST_DNS_FAILS";

pub(crate) struct FailingDns;

impl reqwest::dns::Resolve for FailingDns {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            Err(format!(
                "failed to lookup address information for {host}: Name or service not known"
            )
            .into())
        })
    }
}

/// Whether any error in `e`'s source chain mentions `word`.
fn source_says(e: &dyn std::error::Error, word: &str) -> bool {
    let mut cur: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = cur {
        if err.to_string().contains(word) {
            return true;
        }
        cur = err.source();
    }
    false
}

/// Whether to try again after an answer, and how long to wait first.
///
/// `attempt` counts from 1; `waited` is the total already waited.
pub fn retry_wait(
    attempt: u32,
    status: Option<u16>,
    idempotent: bool,
    retry_after: Option<Duration>,
    waited: Duration,
    limits: &Limits,
    jitter: f64,
) -> Option<Duration> {
    if attempt >= limits.max_attempts {
        return None;
    }
    let retryable = match status {
        Some(429) | Some(503) => true,
        Some(s) if (500..600).contains(&s) => idempotent,
        Some(_) => false,
        // No answer at all (connection failed before sending): a retry is
        // safe only when the request is idempotent.
        None => idempotent,
    };
    if !retryable {
        return None;
    }
    let exp = limits
        .base_backoff
        .saturating_mul(2u32.saturating_pow(attempt.saturating_sub(1)));
    // Jitter spreads clients out: ±20 % of the backoff.
    let backoff = exp.mul_f64(0.8 + 0.4 * jitter.clamp(0.0, 1.0));
    let wait = retry_after.unwrap_or(backoff);
    (waited + wait <= limits.max_retry_wait).then_some(wait)
}

/// A tiny xorshift for jitter, seeded from the clock.
struct Jitter(u64);

impl Jitter {
    fn new() -> Jitter {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0x9e37_79b9, |d| d.as_nanos() as u64)
            | 1;
        Jitter(seed)
    }

    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % 10_000) as f64 / 10_000.0
    }
}

/// An answer from Jira.
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: u16,
    /// The body as JSON (`Null` when empty or not JSON).
    pub body: Value,
}

/// A client for one site.
pub struct JiraClient {
    http: Client,
    base: String,
    /// The site named in errors (the gateway serves a site under another
    /// URL).
    label: String,
    auth: Auth,
    limits: Limits,
}

impl JiraClient {
    /// A client for `base` (checked: https, or http on loopback only).
    pub fn new(base: &str, auth: Auth, limits: Limits) -> Result<JiraClient, TrackerError> {
        let base = base.trim_end_matches('/').to_string();
        check_url(&base)?;
        super::super::tls_ready();
        let mut builder = Client::builder()
            .connect_timeout(limits.connect_timeout)
            .timeout(limits.timeout)
            .user_agent(concat!("csm/", env!("CARGO_PKG_VERSION")));
        if std::env::var_os(DNS_FAILS_VAR).is_some() {
            builder = builder.dns_resolver(std::sync::Arc::new(FailingDns));
        }
        let http = builder.build().map_err(|e| TrackerError::Unreachable {
            site: base.clone(),
            message: format!("cannot set up HTTP: {e}"),
        })?;
        Ok(JiraClient {
            http,
            label: base.clone(),
            base,
            auth,
            limits,
        })
    }

    /// Names `site` in errors instead of the base URL.
    pub fn labelled(mut self, site: &str) -> JiraClient {
        self.label = site.trim_end_matches('/').to_string();
        self
    }

    /// The credentials.
    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// The limits.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// A GET without credentials (`/_edge/tenant_info`), tried once.
    pub fn get_public(&self, path: &str, action: &str) -> Result<Value, TrackerError> {
        let resp = self
            .http
            .get(format!("{}{path}", self.base))
            .header("Accept", "application/json")
            .send()
            .map_err(|e| self.unreachable(&e))?;
        let status = resp.status().as_u16();
        let body = serde_json::from_str(&resp.text().unwrap_or_default()).unwrap_or(Value::Null);
        tracing::debug!(path, status, "jira");
        if status >= 400 {
            return Err(self.map_status(Answer { status, body }, action, 1));
        }
        Ok(body)
    }

    /// The site's base URL.
    pub fn site(&self) -> &str {
        &self.base
    }

    /// The user the credentials belong to.
    pub fn user(&self) -> String {
        self.auth.user()
    }

    fn request(&self, method: &Method, path: &str) -> RequestBuilder {
        let rb = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .header("Accept", "application/json");
        match &self.auth {
            Auth::Basic { email, token } => rb.basic_auth(email, Some(token.expose())),
            Auth::Bearer { token } => rb.bearer_auth(token.expose()),
        }
    }

    /// Sends a request, retrying per [`retry_wait`], and maps failures.
    /// `action` names what csm is doing, for messages.
    pub fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        action: &str,
    ) -> Result<Answer, TrackerError> {
        let idempotent = method != Method::POST;
        let mut jitter = Jitter::new();
        let mut waited = Duration::ZERO;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut rb = self.request(&method, path).query(query);
            if let Some(b) = body {
                rb = rb.json(b);
            }
            let started = Instant::now();
            let result = rb.send();
            let (status, retry_after, outcome) = match result {
                Ok(resp) => {
                    let status = resp.status();
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let text = read_capped(resp);
                    tracing::debug!(
                        method = %method, path, status = status.as_u16(),
                        ms = started.elapsed().as_millis() as u64, "jira"
                    );
                    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
                    (
                        Some(status.as_u16()),
                        retry_after,
                        Ok(Answer {
                            status: status.as_u16(),
                            body,
                        }),
                    )
                }
                Err(e) => {
                    tracing::debug!(method = %method, path, error = %one_line(&e), "jira");
                    // A timeout may come after Jira acted on the request.
                    let sent = e.is_timeout() || !e.is_connect();
                    let status = if sent && !idempotent { Some(0) } else { None };
                    (status, None, Err(self.unreachable(&e)))
                }
            };
            let success = matches!(&outcome, Ok(a) if a.status < 400);
            if success {
                return outcome;
            }
            let status_for_retry = status.filter(|s| *s != 0);
            let may_retry = status != Some(0);
            if may_retry
                && let Some(wait) = retry_wait(
                    attempt,
                    status_for_retry,
                    idempotent,
                    retry_after,
                    waited,
                    &self.limits,
                    jitter.next(),
                )
            {
                tracing::info!(
                    path,
                    attempt,
                    wait_ms = wait.as_millis() as u64,
                    "jira retry"
                );
                std::thread::sleep(wait);
                waited += wait;
                continue;
            }
            return match outcome {
                Ok(answer) => Err(self.map_status(answer, action, attempt)),
                Err(e) => Err(e),
            };
        }
    }

    fn unreachable(&self, e: &reqwest::Error) -> TrackerError {
        if e.is_connect() && source_says(e, "lookup") {
            let host = e.url().and_then(|u| u.host_str()).unwrap_or("the host");
            return TrackerError::Unreachable {
                site: self.base.clone(),
                message: format!("the name {host} does not resolve (DNS)"),
            };
        }
        let message = if e.is_timeout() {
            format!("no answer within {} s", self.limits.timeout.as_secs())
        } else {
            one_line(e)
        };
        TrackerError::Unreachable {
            site: self.base.clone(),
            message,
        }
    }

    fn map_status(&self, answer: Answer, action: &str, attempts: u32) -> TrackerError {
        let message = jira_messages(&answer.body);
        match StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY) {
            StatusCode::UNAUTHORIZED => TrackerError::AuthRejected {
                site: self.label.clone(),
                user: self.auth.user(),
                token_source: None,
                cloud: false,
                gateway_tried: false,
            },
            StatusCode::FORBIDDEN => TrackerError::Forbidden {
                site: self.base.clone(),
                action: action.to_string(),
                message,
            },
            StatusCode::TOO_MANY_REQUESTS => TrackerError::RateLimited {
                site: self.base.clone(),
                attempts,
            },
            s if s.is_server_error() => TrackerError::Server {
                site: self.base.clone(),
                action: action.to_string(),
                status: s.as_u16(),
                message,
            },
            s => TrackerError::Rejected {
                tracker: self.base.clone(),
                action: action.to_string(),
                message: if message.is_empty() {
                    format!("HTTP {}", s.as_u16())
                } else {
                    format!("HTTP {}: {message}", s.as_u16())
                },
            },
        }
    }
}

/// Jira's `{"errorMessages": [...], "errors": {field: message}}`, joined.
pub fn jira_messages(body: &Value) -> String {
    let mut parts: Vec<String> = body["errorMessages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m.as_str().map(str::to_string))
        .collect();
    if let Some(errors) = body["errors"].as_object() {
        for (field, m) in errors {
            parts.push(format!("{field}: {}", m.as_str().unwrap_or_default()));
        }
    }
    crate::output::sanitize(&parts.join("; "))
}

/// The first line of an error and its causes, without URLs' queries.
pub(crate) fn one_line(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text.lines().next().unwrap_or("").to_string()
}

/// https anywhere; plain http only on loopback (tests, local proxies).
pub fn check_url(base: &str) -> Result<(), TrackerError> {
    let bad = |message: &str| TrackerError::Rejected {
        tracker: base.to_string(),
        action: "the configured [jira] url".into(),
        message: message.to_string(),
    };
    let url = reqwest::Url::parse(base).map_err(|e| bad(&format!("not a URL ({e})")))?;
    match url.scheme() {
        "https" => Ok(()),
        "http" => {
            let host = url.host_str().unwrap_or("");
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let loopback = host.eq_ignore_ascii_case("localhost")
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if loopback {
                Ok(())
            } else {
                Err(bad("plain http is refused; use https"))
            }
        }
        other => Err(bad(&format!("unsupported scheme {other}; use https"))),
    }
}

/// The largest answer body csm reads from Jira (16 MiB): a larger one is
/// cut there, so a hostile or broken server cannot fill memory; cut JSON
/// does not parse and is reported as an unexpected answer.
pub const MAX_BODY_BYTES: u64 = 16 * 1024 * 1024;

fn read_capped(resp: reqwest::blocking::Response) -> String {
    use std::io::Read;
    let mut bytes = Vec::new();
    if resp.take(MAX_BODY_BYTES).read_to_end(&mut bytes).is_err() {
        return String::new();
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_attempts: 4,
            max_retry_wait: Duration::from_secs(10),
            base_backoff: Duration::from_millis(100),
            ..Limits::default()
        }
    }

    #[test]
    fn retry_policy() {
        let l = limits();
        let w = |attempt, status, idem, ra, waited| {
            retry_wait(attempt, status, idem, ra, waited, &l, 0.5)
        };
        let ra = Some(Duration::from_secs(1));
        assert_eq!(w(1, Some(429), false, ra, Duration::ZERO), ra);
        assert_eq!(
            w(1, Some(503), false, None, Duration::ZERO),
            Some(Duration::from_millis(100))
        );
        assert_eq!(
            w(2, Some(503), true, None, Duration::ZERO),
            Some(Duration::from_millis(200))
        );
        assert_eq!(
            w(1, Some(500), true, None, Duration::ZERO),
            Some(Duration::from_millis(100))
        );
        assert_eq!(
            w(1, Some(500), false, None, Duration::ZERO),
            None,
            "POST 500 is not retried"
        );
        for s in [400, 401, 403, 404, 413] {
            assert_eq!(w(1, Some(s), true, None, Duration::ZERO), None, "{s}");
        }
        assert_eq!(
            w(4, Some(429), true, ra, Duration::ZERO),
            None,
            "attempts exhausted"
        );
        assert_eq!(
            w(
                1,
                Some(429),
                true,
                Some(Duration::from_secs(11)),
                Duration::ZERO
            ),
            None,
            "total wait capped"
        );
        assert_eq!(w(1, None, false, None, Duration::ZERO), None);
        // Jitter stays within ±20 %.
        let low = retry_wait(1, Some(503), true, None, Duration::ZERO, &l, 0.0).unwrap();
        let high = retry_wait(1, Some(503), true, None, Duration::ZERO, &l, 1.0).unwrap();
        assert_eq!((low.as_millis(), high.as_millis()), (80, 120));
    }

    #[test]
    fn urls() {
        assert!(check_url("https://x.atlassian.net").is_ok());
        assert!(check_url("http://127.0.0.1:8080").is_ok());
        assert!(check_url("http://localhost:1").is_ok());
        assert!(check_url("http://[::1]:1").is_ok());
        assert!(check_url("http://jira.example.com").is_err());
        assert!(check_url("ftp://x").is_err());
        assert!(check_url("not a url").is_err());
    }

    #[test]
    fn auth_debug_hides_tokens() {
        let a = Auth::Basic {
            email: "a@b".into(),
            token: Secret::new("s3cret"),
        };
        assert!(!format!("{a:?}").contains("s3cret"));
        assert!(
            jira_messages(
                &serde_json::json!({"errorMessages": ["bad"], "errors": {"summary": "required"}})
            ) == "bad; summary: required"
        );
    }
}
