//! HTTP to GitHub's REST API: the headers GitHub asks for (`User-Agent`,
//! `Accept: application/vnd.github+json`, `X-GitHub-Api-Version`), bearer
//! authentication, the primary and secondary rate limits, retries, and the
//! mapping of GitHub's answers to [`TrackerError`].
//!
//! Retry policy: a rate-limit answer (403 or 429 with
//! `x-ratelimit-remaining: 0`, a `retry-after`, or a message naming the
//! secondary rate limit) is retried after the wait GitHub names when that
//! fits the budget, whatever the method (GitHub refused it before acting);
//! 5xx and lost connections are retried for GETs only (a write that failed
//! may have happened); other 4xx never.
//!
//! Only method, path and status are logged; never headers or bodies, so a
//! token cannot reach a log.

use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::blocking::Client;
use serde_json::Value;

use crate::credentials::Secret;
use crate::tracker::TrackerError;
use crate::tracker::jira::client::{DNS_FAILS_VAR, Limits, retry_wait};

/// The REST API version csm is written against.
pub const API_VERSION: &str = "2022-11-28";

/// What csm sends as `User-Agent` (GitHub refuses requests without one).
pub const USER_AGENT: &str = concat!("csm/", env!("CARGO_PKG_VERSION"));

/// An answer from GitHub.
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: u16,
    /// The body as JSON (`Null` when empty or not JSON).
    pub body: Value,
    /// The `Link` header (pagination), if any.
    pub link: Option<String>,
    /// The `x-oauth-scopes` header (classic tokens), if any.
    pub scopes: Option<String>,
    /// `x-ratelimit-remaining`, if sent.
    pub remaining: Option<u64>,
}

/// A client for one API root.
pub struct GithubClient {
    http: Client,
    base: String,
    token: Secret,
    token_source: String,
    limits: Limits,
}

/// A rate-limit answer: how long GitHub asks to wait, and when the
/// primary limit resets (epoch seconds), when it says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    /// The wait GitHub asks for.
    pub wait: Duration,
    /// `x-ratelimit-reset` when the primary limit is used up.
    pub reset: Option<u64>,
}

/// Whether an answer is a rate-limit answer, and how long to wait.
/// `now` is the current time in epoch seconds.
pub fn rate_limit(
    status: u16,
    remaining: Option<u64>,
    reset: Option<u64>,
    retry_after: Option<u64>,
    message: &str,
    now: u64,
) -> Option<RateLimit> {
    if status != 403 && status != 429 {
        return None;
    }
    if let Some(secs) = retry_after {
        return Some(RateLimit {
            wait: Duration::from_secs(secs),
            reset: None,
        });
    }
    if remaining == Some(0) {
        let wait = reset.map_or(60, |r| r.saturating_sub(now).max(1));
        return Some(RateLimit {
            wait: Duration::from_secs(wait),
            reset,
        });
    }
    let lower = message.to_ascii_lowercase();
    if status == 429 || lower.contains("rate limit") {
        // GitHub: "otherwise, wait for at least one minute".
        return Some(RateLimit {
            wait: Duration::from_secs(60),
            reset: None,
        });
    }
    None
}

fn header_u64(headers: &reqwest::header::HeaderMap, name: &str) -> Option<u64> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

fn header_text(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

impl GithubClient {
    /// A client for `base` (checked: https, or http on loopback only).
    /// `token_source` names where the token came from, for messages.
    pub fn new(
        base: &str,
        token: Secret,
        token_source: String,
        limits: Limits,
    ) -> Result<GithubClient, TrackerError> {
        let base = base.trim_end_matches('/').to_string();
        check_url(&base)?;
        super::super::tls_ready();
        let mut builder = Client::builder()
            .connect_timeout(limits.connect_timeout)
            .timeout(limits.timeout)
            .user_agent(USER_AGENT);
        if std::env::var_os(DNS_FAILS_VAR).is_some() {
            builder = builder.dns_resolver(std::sync::Arc::new(FailingDns));
        }
        let http = builder.build().map_err(|e| TrackerError::Unreachable {
            site: base.clone(),
            message: format!("cannot set up HTTP: {e}"),
        })?;
        Ok(GithubClient {
            http,
            base,
            token,
            token_source,
            limits,
        })
    }

    /// The API root.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// Sends a request to `path` (or an absolute URL under the API root,
    /// as in a `Link` header), retrying per the module's policy.
    pub fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        action: &str,
    ) -> Result<Answer, TrackerError> {
        let url = if path.starts_with(&self.base) {
            path.to_string()
        } else if path.starts_with("http://") || path.starts_with("https://") {
            // A Link header pointing elsewhere is not followed.
            return Err(TrackerError::BadResponse {
                site: self.base.clone(),
                action: action.into(),
                message: "a page link leads away from the API".into(),
            });
        } else {
            format!("{}{path}", self.base)
        };
        let idempotent = method == Method::GET;
        let mut waited = Duration::ZERO;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut rb = self
                .http
                .request(method.clone(), &url)
                .header("Accept", "application/vnd.github+json")
                .header("X-GitHub-Api-Version", API_VERSION)
                .bearer_auth(self.token.expose())
                .query(query);
            if let Some(b) = body {
                rb = rb.json(b);
            }
            let started = Instant::now();
            match rb.send() {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let h = resp.headers().clone();
                    let text = resp.text().unwrap_or_default();
                    tracing::debug!(
                        method = %method, path, status,
                        ms = started.elapsed().as_millis() as u64, "github"
                    );
                    let answer = Answer {
                        status,
                        body: serde_json::from_str(&text).unwrap_or(Value::Null),
                        link: header_text(&h, "link"),
                        scopes: header_text(&h, "x-oauth-scopes"),
                        remaining: header_u64(&h, "x-ratelimit-remaining"),
                    };
                    if status < 400 {
                        return Ok(answer);
                    }
                    let message = message_of(&answer.body);
                    let now = jiff::Timestamp::now().as_second().max(0) as u64;
                    if let Some(limit) = rate_limit(
                        status,
                        answer.remaining,
                        header_u64(&h, "x-ratelimit-reset"),
                        header_u64(&h, "retry-after"),
                        &message,
                        now,
                    ) {
                        if attempt < self.limits.max_attempts
                            && waited + limit.wait <= self.limits.max_retry_wait
                        {
                            tracing::info!(
                                path,
                                attempt,
                                wait_s = limit.wait.as_secs(),
                                "github rate limit"
                            );
                            std::thread::sleep(limit.wait);
                            waited += limit.wait;
                            continue;
                        }
                        return Err(TrackerError::RateLimitedUntil {
                            site: self.base.clone(),
                            resets: limit.reset.map(|r| {
                                jiff::Timestamp::from_second(r as i64)
                                    .map(|t| t.strftime("%H:%M UTC").to_string())
                                    .unwrap_or_else(|_| r.to_string())
                            }),
                        });
                    }
                    if let Some(wait) = retry_wait(
                        attempt,
                        Some(status).filter(|s| *s >= 500),
                        idempotent,
                        None,
                        waited,
                        &self.limits,
                        0.5,
                    ) && status >= 500
                    {
                        tracing::info!(
                            path,
                            attempt,
                            wait_ms = wait.as_millis() as u64,
                            "github retry"
                        );
                        std::thread::sleep(wait);
                        waited += wait;
                        continue;
                    }
                    let accepted = header_text(&h, "x-accepted-github-permissions")
                        .or_else(|| header_text(&h, "x-accepted-oauth-scopes"));
                    return Err(self.map_status(status, &message, &answer.body, accepted, action));
                }
                Err(e) => {
                    tracing::debug!(method = %method, path, error = %one_line(&e), "github");
                    let sent = e.is_timeout() || !e.is_connect();
                    let may_retry = idempotent || !sent;
                    if may_retry
                        && let Some(wait) =
                            retry_wait(attempt, None, true, None, waited, &self.limits, 0.5)
                    {
                        std::thread::sleep(wait);
                        waited += wait;
                        continue;
                    }
                    return Err(self.unreachable(&e));
                }
            }
        }
    }

    fn unreachable(&self, e: &reqwest::Error) -> TrackerError {
        let message = if e.is_timeout() {
            format!("no answer within {} s", self.limits.timeout.as_secs())
        } else if e.is_connect() && one_line(e).contains("lookup") {
            let host = e.url().and_then(|u| u.host_str()).unwrap_or("the host");
            format!("the name {host} does not resolve (DNS)")
        } else {
            one_line(e)
        };
        TrackerError::Unreachable {
            site: self.base.clone(),
            message,
        }
    }

    fn map_status(
        &self,
        status: u16,
        message: &str,
        body: &Value,
        accepted: Option<String>,
        action: &str,
    ) -> TrackerError {
        match status {
            401 => TrackerError::GithubTokenRejected {
                site: self.base.clone(),
                origin: self.token_source.clone(),
            },
            403 => TrackerError::GithubPermission {
                site: self.base.clone(),
                action: action.to_string(),
                needs: accepted
                    .filter(|a| !a.trim().is_empty())
                    .map(|a| crate::output::sanitize(a.trim()))
                    .unwrap_or_else(|| "write access to the repository's issues".into()),
                message: message.to_string(),
            },
            404 => TrackerError::NoAccess {
                site: self.base.clone(),
                what: action.to_string(),
            },
            s if s >= 500 => TrackerError::Server {
                site: self.base.clone(),
                action: action.to_string(),
                status: s,
                message: message.to_string(),
            },
            s => TrackerError::Rejected {
                tracker: self.base.clone(),
                action: action.to_string(),
                message: {
                    let details = details_of(body);
                    let text = [message.to_string(), details]
                        .into_iter()
                        .filter(|t| !t.is_empty())
                        .collect::<Vec<_>>()
                        .join(": ");
                    if text.is_empty() {
                        format!("HTTP {s}")
                    } else {
                        format!("HTTP {s}: {text}")
                    }
                },
            },
        }
    }
}

/// GitHub's `{"message": ...}`, sanitised.
pub fn message_of(body: &Value) -> String {
    crate::output::sanitize(body["message"].as_str().unwrap_or_default())
}

/// A 422's `errors: [{field, code, message}]`, joined.
fn details_of(body: &Value) -> String {
    let parts: Vec<String> = body["errors"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| match e {
            Value::String(s) => s.clone(),
            e => e["message"]
                .as_str()
                .map(str::to_string)
                .or_else(|| {
                    Some(format!(
                        "{} {}",
                        e["field"].as_str().unwrap_or("?"),
                        e["code"].as_str().unwrap_or("invalid")
                    ))
                })
                .unwrap_or_default(),
        })
        .collect();
    crate::output::sanitize(&parts.join("; "))
}

// The DNS test hook and the one-line error text are the Jira client's.
use crate::tracker::jira::client::{FailingDns, one_line};

/// https anywhere; plain http only on loopback (tests, local proxies).
pub fn check_url(base: &str) -> Result<(), TrackerError> {
    crate::tracker::jira::client::check_url(base).map_err(|e| match e {
        TrackerError::Rejected {
            tracker, message, ..
        } => TrackerError::Rejected {
            tracker,
            action: "the configured [github] api_url".into(),
            message,
        },
        other => other,
    })
}

/// The URL of the `rel="next"` page in a `Link` header.
pub fn next_link(link: Option<&str>) -> Option<String> {
    link?.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim() == "rel=\"next\"")
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_answers() {
        // Primary: remaining 0, wait until the reset.
        assert_eq!(
            rate_limit(
                403,
                Some(0),
                Some(1_000_030),
                None,
                "API rate limit exceeded",
                1_000_000
            ),
            Some(RateLimit {
                wait: Duration::from_secs(30),
                reset: Some(1_000_030)
            })
        );
        // Secondary with retry-after.
        assert_eq!(
            rate_limit(429, Some(10), None, Some(3), "", 0).map(|r| r.wait),
            Some(Duration::from_secs(3))
        );
        // Secondary without headers: a minute.
        assert_eq!(
            rate_limit(
                403,
                Some(10),
                None,
                None,
                "You have exceeded a secondary rate limit",
                0
            )
            .map(|r| r.wait),
            Some(Duration::from_secs(60))
        );
        // A permission 403 is no rate limit.
        assert_eq!(
            rate_limit(
                403,
                Some(4000),
                None,
                None,
                "Resource not accessible by personal access token",
                0
            ),
            None
        );
        assert_eq!(rate_limit(404, Some(0), None, None, "", 0), None);
    }

    #[test]
    fn next_links() {
        let link = r#"<https://api.github.com/repositories/1/issues?page=2>; rel="next", <https://api.github.com/repositories/1/issues?page=5>; rel="last""#;
        assert_eq!(
            next_link(Some(link)).as_deref(),
            Some("https://api.github.com/repositories/1/issues?page=2")
        );
        assert_eq!(next_link(Some(r#"<x>; rel="prev""#)), None);
        assert_eq!(next_link(None), None);
    }

    #[test]
    fn urls() {
        assert!(check_url("https://api.github.com").is_ok());
        assert!(check_url("http://127.0.0.1:9").is_ok());
        let err = check_url("http://github.example.com/api/v3").unwrap_err();
        assert!(err.to_string().contains("[github] api_url"), "{err}");
    }
}
