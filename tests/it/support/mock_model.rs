//! A mock OpenAI Responses API on 127.0.0.1, for driving the real `codex`
//! binary offline.
//!
//! Codex only calls `POST {base_url}/responses` and reads a server-sent
//! event stream: `response.created`, `response.output_item.added`,
//! `response.output_text.delta`, `response.output_item.done`,
//! `response.completed` (shapes as in Codex's own test helpers). The mock
//! records every request, answers from a script queue (assistant text, or a
//! function call), and answers the interactive UI's thread-title request
//! without consuming the script. Every answer reports the same usage:
//! [`USAGE_INPUT`] input tokens ([`USAGE_CACHED`] cached), [`USAGE_OUTPUT`]
//! output tokens ([`USAGE_REASONING`] reasoning).

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::post;
use serde_json::{Value, json};

/// Input tokens each answer reports.
pub const USAGE_INPUT: u64 = 10;
/// Cached input tokens each answer reports.
pub const USAGE_CACHED: u64 = 4;
/// Output tokens each answer reports.
pub const USAGE_OUTPUT: u64 = 5;
/// Reasoning tokens each answer reports.
pub const USAGE_REASONING: u64 = 2;

/// One scripted answer.
#[derive(Clone, Debug)]
pub enum Reply {
    /// An assistant message with this text.
    Text(String),
    /// An assistant message sent only after a while (a long turn).
    Slow(Duration, String),
    /// A function (tool) call.
    FunctionCall {
        /// The call's id.
        call_id: String,
        /// The tool's name (e.g. `exec_command`).
        name: String,
        /// Its JSON arguments.
        arguments: Value,
    },
    /// A search of the tools Codex defers (MCP tools): Codex answers with
    /// a `tool_search_output` item in the next request.
    ToolSearch {
        /// The call's id.
        call_id: String,
        /// What to search for.
        query: String,
    },
    /// A call of a tool in a namespace: how the model calls an MCP tool
    /// (`namespace: "mcp__csm"`, `name: "run_in_tab"`), after finding it
    /// with `tool_search`.
    NamespacedCall {
        /// The call's id.
        call_id: String,
        /// The namespace (`mcp__<server>`).
        namespace: String,
        /// The tool's name in it.
        name: String,
        /// Its JSON arguments.
        arguments: Value,
    },
}

/// A request the mock received.
#[derive(Clone, Debug)]
pub struct Received {
    /// The JSON body.
    pub body: Value,
    /// The headers (lower-case names).
    pub headers: BTreeMap<String, String>,
}

impl Received {
    /// Every text of every message in `input`, by role, in order.
    pub fn texts(&self, role: &str) -> Vec<String> {
        self.body["input"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|i| i["type"] == "message" && i["role"] == role)
            .flat_map(|i| i["content"].as_array().cloned().unwrap_or_default())
            .filter_map(|c| c["text"].as_str().map(str::to_string))
            .collect()
    }

    /// Whether this is the UI's thread-title request (a side thread that
    /// names the conversation; 0.169.0 marks it in its turn metadata).
    pub fn is_title_request(&self) -> bool {
        let marked = self
            .headers
            .get("x-codex-turn-metadata")
            .and_then(|m| serde_json::from_str::<Value>(m).ok())
            .is_some_and(|m| m["thread_source"] == "thread_title");
        let format = &self.body["text"]["format"];
        marked
            || (format["name"] != "codex_output_schema"
                && !format["schema"]["properties"]["title"].is_null())
    }

    /// The output Codex sent back for a tool call, as text (a string, or
    /// the texts of its content items joined by newlines).
    pub fn call_output(&self, call_id: &str) -> Option<String> {
        let item = self.body["input"]
            .as_array()?
            .iter()
            .find(|i| i["type"] == "function_call_output" && i["call_id"] == call_id)?;
        match &item["output"] {
            Value::String(s) => Some(s.clone()),
            Value::Array(parts) => Some(
                parts
                    .iter()
                    .filter_map(|p| p["text"].as_str())
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            other => Some(other.to_string()),
        }
    }

    /// The whole body as text, for substring checks.
    pub fn text(&self) -> String {
        self.body.to_string()
    }
}

#[derive(Default)]
struct Inner {
    script: VecDeque<Reply>,
    received: Vec<Received>,
    default_reply: Option<String>,
    counter: u64,
}

/// The running mock.
pub struct MockModel {
    inner: Arc<Mutex<Inner>>,
    addr: std::net::SocketAddr,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl MockModel {
    /// Starts the mock on 127.0.0.1 with an OS-chosen port.
    pub fn start() -> MockModel {
        let inner = Arc::new(Mutex::new(Inner {
            default_reply: Some("OK.".into()),
            ..Inner::default()
        }));
        let app = Router::new()
            .route("/v1/responses", post(respond))
            .with_state(Arc::clone(&inner));
        let (addr, shutdown) = super::serve(app);
        MockModel {
            inner,
            addr,
            _shutdown: shutdown,
        }
    }

    /// The base URL for Codex's provider config.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Queues answers, served in order.
    pub fn push(&self, reply: Reply) {
        self.inner.lock().unwrap().script.push_back(reply);
    }

    /// Queues a plain assistant answer.
    pub fn push_text(&self, text: &str) {
        self.push(Reply::Text(text.to_string()));
    }

    /// Every request so far (title requests included).
    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    /// The requests that are real turns (not the UI's title requests).
    pub fn turns(&self) -> Vec<Received> {
        self.received()
            .into_iter()
            .filter(|r| !r.is_title_request())
            .collect()
    }

    /// Waits until `n` turn requests arrived, or panics after `timeout`.
    pub fn wait_for_turns(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let turns = self.turns();
            if turns.len() >= n {
                return turns;
            }
            assert!(
                Instant::now() < deadline,
                "the mock model saw {} turn request(s), expected {n}",
                turns.len()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Writes `config.toml` into `codex_home` pointing Codex at this mock.
    /// Written once and whole: Codex appends to it on first run.
    pub fn write_codex_config(&self, codex_home: &Path, extra: &str) {
        std::fs::create_dir_all(codex_home).expect("mkdir CODEX_HOME");
        let config = format!(
            r#"model = "gpt-5.5"
model_provider = "mock"
check_for_update_on_startup = false
{extra}
[model_providers.mock]
name = "mock"
base_url = "{}"
wire_api = "responses"
env_key = "MOCK_API_KEY"
request_max_retries = 0
stream_max_retries = 0

[features]
plugins = false

[tui]
screen_reader_detection_done = true

# Mark every model announcement as seen, so the UI opens on the composer.
[tui.model_availability_nux]
"gpt-5.5" = 99
"gpt-5.6-luna" = 99
"gpt-5.6-sol" = 99
"gpt-5.6-terra" = 99
"gpt-6-astra" = 99
"gpt-6-luna" = 99
"gpt-6-sol" = 99
"gpt-6.1-sol" = 99
"gpt-6.1-terra" = 99

[notice]
hide_full_access_warning = true
hide_world_writable_warning = true
hide_rate_limit_model_nudge = true

# The upgrade offer from the test model to the newest one was answered.
[notice.model_migrations]
"gpt-5.5" = "gpt-6-sol"
"#,
            self.base_url()
        );
        std::fs::write(codex_home.join("config.toml"), config).expect("write config.toml");
    }

    /// Points a test environment at this mock through the real Codex:
    /// Codex's config (with `extra` TOML), the pinned binary as csm's
    /// `codex`, the offline environment, and a terminal type for tmux.
    pub fn serve_real_codex(&self, env: &mut super::env::TestEnv, extra: &str) {
        self.write_codex_config(&env.codex_home(), extra);
        env.set_env("CSM_CODEX_BIN", codex_bin());
        for (k, v) in MockModel::hermetic_env() {
            env.set_env(k, v);
        }
        env.set_env("TERM", "xterm-256color");
    }

    /// The environment that keeps Codex offline but for loopback.
    pub fn hermetic_env() -> Vec<(&'static str, String)> {
        vec![
            ("MOCK_API_KEY", "mock-key".to_string()),
            ("HTTPS_PROXY", "http://127.0.0.1:9".to_string()),
            ("HTTP_PROXY", "http://127.0.0.1:9".to_string()),
            ("NO_PROXY", "127.0.0.1,localhost".to_string()),
        ]
    }
}

/// Runs the real `codex exec` on `prompt` in `cwd`, with exactly the
/// variables `vars` (a TestEnv's, pointed at a mock model), and returns the
/// new Codex session's id: a real session for csm to link or report on.
pub fn exec_session(vars: &BTreeMap<String, String>, cwd: &Path, prompt: &str) -> String {
    let out = std::process::Command::new(codex_bin())
        .args(["exec", "--json", "--skip-git-repo-check", prompt])
        .current_dir(cwd)
        .env_clear()
        .envs(vars)
        .envs(MockModel::hermetic_env())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run codex exec");
    assert!(
        out.status.success(),
        "codex exec failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["type"] == "thread.started")
        .and_then(|v| v["thread_id"].as_str().map(str::to_string))
        .expect("a thread.started event")
}

/// The pinned Codex binary: `$CSM_TEST_CODEX`, else the one
/// `scripts/install-codex` puts under `.tools/codex/`.
pub fn codex_bin() -> PathBuf {
    if let Ok(p) = std::env::var("CSM_TEST_CODEX") {
        return PathBuf::from(p);
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".tools/codex/node_modules/@openai/codex-linux-x64/vendor/x86_64-unknown-linux-musl/bin/codex");
    assert!(
        path.exists(),
        "the pinned Codex is not installed: run scripts/install-codex (bash .ci/run does)"
    );
    path
}

async fn respond(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    body: Bytes,
) -> impl IntoResponse {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let received = Received {
        body,
        headers: headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    v.to_str().unwrap_or_default().to_string(),
                )
            })
            .collect(),
    };
    let (reply, n) = {
        let mut inner = inner.lock().unwrap();
        inner.counter += 1;
        let n = inner.counter;
        let title = received.is_title_request();
        inner.received.push(received);
        let reply = if title {
            Reply::Text(json!({"title": "csm test thread"}).to_string())
        } else {
            inner
                .script
                .pop_front()
                .unwrap_or_else(|| Reply::Text(inner.default_reply.clone().unwrap_or_default()))
        };
        (reply, n)
    };
    let reply = match reply {
        Reply::Slow(wait, text) => {
            tokio::time::sleep(wait).await;
            Reply::Text(text)
        }
        other => other,
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/event-stream")],
        sse(&reply, n),
    )
}

fn sse(reply: &Reply, n: u64) -> String {
    let id = format!("resp_{n}");
    let mut events = vec![json!({"type": "response.created", "response": {"id": id}})];
    match reply {
        Reply::Text(text) | Reply::Slow(_, text) => {
            let item_id = format!("msg_{n}");
            events.push(json!({
                "type": "response.output_item.added",
                "item": {"type": "message", "role": "assistant", "id": item_id, "content": []}
            }));
            events.push(json!({"type": "response.output_text.delta", "delta": text}));
            events.push(json!({
                "type": "response.output_item.done",
                "item": {"type": "message", "role": "assistant", "id": item_id,
                         "content": [{"type": "output_text", "text": text}]}
            }));
        }
        Reply::FunctionCall {
            call_id,
            name,
            arguments,
        } => {
            events.push(json!({
                "type": "response.output_item.done",
                "item": {"type": "function_call", "call_id": call_id, "name": name,
                         "arguments": arguments.to_string()}
            }));
        }
        Reply::ToolSearch { call_id, query } => {
            events.push(json!({
                "type": "response.output_item.done",
                "item": {"type": "tool_search_call", "call_id": call_id, "status": "completed",
                         "execution": "client", "arguments": {"query": query}}
            }));
        }
        Reply::NamespacedCall {
            call_id,
            namespace,
            name,
            arguments,
        } => {
            events.push(json!({
                "type": "response.output_item.done",
                "item": {"type": "function_call", "call_id": call_id, "namespace": namespace,
                         "name": name, "arguments": arguments.to_string()}
            }));
        }
    }
    events.push(json!({
        "type": "response.completed",
        "response": {"id": id, "usage": {
            "input_tokens": USAGE_INPUT, "input_tokens_details": {"cached_tokens": USAGE_CACHED},
            "output_tokens": USAGE_OUTPUT, "output_tokens_details": {"reasoning_tokens": USAGE_REASONING},
            "total_tokens": USAGE_INPUT + USAGE_OUTPUT}}
    }));
    let mut out = String::new();
    for ev in events {
        out.push_str(&format!(
            "event: {}\ndata: {ev}\n\n",
            ev["type"].as_str().unwrap_or("")
        ));
    }
    out
}
