//! The Model Context Protocol over stdio, as a server: JSON-RPC 2.0, one
//! message per line, with the few methods a tool server needs
//! (`initialize`, `notifications/initialized`, `ping`, `tools/list`,
//! `tools/call`, `notifications/cancelled`).
//!
//! Written on `serde_json` rather than an SDK: the surface is five methods,
//! and an SDK would bring an async runtime and proc macros into every build
//! of csm for them. What the tools do is behind [`Tools`], so this module
//! knows nothing of tabs and is tested over in-memory readers and writers.
//!
//! Malformed input never ends the server: a line that is not JSON gets a
//! parse error (-32700), a message that is not a JSON-RPC request an invalid
//! request error (-32600), an unknown method -32601, bad parameters or an
//! unknown tool -32602. A tool that fails answers with `isError: true`, which
//! the model reads and can act on. Each `tools/call` runs on a thread of
//! its own, so a call that waits (for the user's approval) does not hold up
//! `ping` or other calls; a call the client cancels gets no answer, as the
//! protocol asks. When the input ends, calls still waiting are told to stop
//! waiting, and the server ends once they have answered.

use std::collections::HashMap;
use std::io::{self, BufRead, Read, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};

/// Protocol versions this server speaks, newest first. The tool surface is
/// the same in all of them, so the client's version is accepted when it is
/// one of these, and the newest is offered otherwise.
pub const PROTOCOL_VERSIONS: &[&str] = &["2025-06-18", "2025-03-26", "2024-11-05"];

/// The longest message read; a longer line is answered with a parse error
/// and skipped.
pub const MAX_MESSAGE: usize = 4 * 1024 * 1024;

/// JSON-RPC error codes.
pub mod code {
    /// The line is not JSON.
    pub const PARSE_ERROR: i64 = -32700;
    /// The JSON is not a valid request.
    pub const INVALID_REQUEST: i64 = -32600;
    /// No such method.
    pub const METHOD_NOT_FOUND: i64 = -32601;
    /// Bad parameters (or, for `tools/call`, an unknown tool).
    pub const INVALID_PARAMS: i64 = -32602;
    /// The server failed.
    pub const INTERNAL_ERROR: i64 = -32603;
}

/// Who the server is, for `initialize`.
#[derive(Clone, Debug)]
pub struct ServerInfo {
    /// The server's name.
    pub name: String,
    /// Its version.
    pub version: String,
    /// What the client (and the model) should know about using it.
    pub instructions: Option<String>,
}

/// A tool as `tools/list` describes it.
#[derive(Clone, Debug)]
pub struct Tool {
    /// The name the client calls it by.
    pub name: &'static str,
    /// A human-readable title.
    pub title: &'static str,
    /// What it does, for the model.
    pub description: String,
    /// The JSON Schema of its arguments (an object schema).
    pub input_schema: Value,
    /// It changes nothing.
    pub read_only: bool,
    /// It may end or destroy something.
    pub destructive: bool,
}

impl Tool {
    fn to_json(&self) -> Value {
        json!({
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "inputSchema": self.input_schema,
            "annotations": {
                "title": self.title,
                "readOnlyHint": self.read_only,
                "destructiveHint": self.destructive,
                "openWorldHint": false,
            },
        })
    }
}

/// What a tool call produced: text for the model, and whether it failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ToolOutput {
    /// The text the model reads.
    pub text: String,
    /// Whether the call failed (the model should change course).
    pub is_error: bool,
}

impl ToolOutput {
    /// A successful result.
    pub fn ok(text: impl Into<String>) -> ToolOutput {
        ToolOutput {
            text: text.into(),
            is_error: false,
        }
    }

    /// A failed call, explained.
    pub fn error(text: impl Into<String>) -> ToolOutput {
        ToolOutput {
            text: text.into(),
            is_error: true,
        }
    }

    fn to_json(&self) -> Value {
        json!({
            "content": [{"type": "text", "text": self.text}],
            "isError": self.is_error,
        })
    }
}

/// A `tools/call` that cannot be made at all (a protocol error, -32602).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No tool by that name.
    #[error("unknown tool: {0}")]
    UnknownTool(String),
    /// The parameters are not what the method takes.
    #[error("invalid params: {0}")]
    InvalidParams(String),
}

/// Set when the client cancels a call (or goes away); a long call checks it.
#[derive(Clone, Debug, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// Whether the call was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// Cancels the call.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Release);
    }
}

/// The tools a server offers.
pub trait Tools: Sync {
    /// Every tool, for `tools/list`.
    fn list(&self) -> Vec<Tool>;
    /// Runs one tool with its arguments (an object, empty when none were
    /// given). Runs on a thread of its own; long calls should check
    /// `cancel`.
    fn call(&self, name: &str, arguments: &Map<String, Value>, cancel: &Cancel) -> ToolOutput;
}

/// One line from the client, understood.
#[derive(Clone, Debug, PartialEq)]
pub enum Incoming {
    /// A request: it gets exactly one answer.
    Request {
        /// Its id (a string or a number).
        id: Value,
        /// The method.
        method: String,
        /// The parameters (`Value::Null` when absent).
        params: Value,
    },
    /// A notification: never answered.
    Notification {
        /// The method.
        method: String,
        /// The parameters (`Value::Null` when absent).
        params: Value,
    },
    /// An answer to a request of ours (this server sends none): ignored.
    Response,
    /// Nothing (a blank line).
    Blank,
    /// Not something this server can take; answered with this error.
    Bad {
        /// The request's id when it could be read, else null.
        id: Value,
        /// The JSON-RPC error code.
        code: i64,
        /// What is wrong.
        message: String,
    },
}

/// Reads one line of input.
pub fn parse(line: &[u8]) -> Incoming {
    let bad = |code, message: &str| Incoming::Bad {
        id: Value::Null,
        code,
        message: message.to_string(),
    };
    let Ok(text) = std::str::from_utf8(line) else {
        return bad(code::PARSE_ERROR, "parse error: the message is not UTF-8");
    };
    if text.trim().is_empty() {
        return Incoming::Blank;
    }
    let value: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => return bad(code::PARSE_ERROR, &format!("parse error: {e}")),
    };
    let Value::Object(mut msg) = value else {
        let what = if value.is_array() {
            "batches are not supported; send one message per line"
        } else {
            "a message must be a JSON object"
        };
        return bad(code::INVALID_REQUEST, &format!("invalid request: {what}"));
    };
    let id = msg.remove("id");
    let valid_id = |id: &Value| id.is_string() || id.is_i64() || id.is_u64();
    let echo_id = id.clone().filter(valid_id).unwrap_or(Value::Null);
    if msg.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Incoming::Bad {
            id: echo_id,
            code: code::INVALID_REQUEST,
            message: "invalid request: \"jsonrpc\" must be \"2.0\"".into(),
        };
    }
    let method = match msg.remove("method") {
        Some(Value::String(m)) => m,
        None if id.is_some() && (msg.contains_key("result") || msg.contains_key("error")) => {
            return Incoming::Response;
        }
        _ => {
            return Incoming::Bad {
                id: echo_id,
                code: code::INVALID_REQUEST,
                message: "invalid request: \"method\" must be a string".into(),
            };
        }
    };
    let params = msg.remove("params").unwrap_or(Value::Null);
    match id {
        None => Incoming::Notification { method, params },
        Some(id) if valid_id(&id) => Incoming::Request { id, method, params },
        Some(_) => Incoming::Bad {
            id: Value::Null,
            code: code::INVALID_REQUEST,
            message: "invalid request: \"id\" must be a string or an integer".into(),
        },
    }
}

/// A success response.
pub fn result(id: &Value, result: Value) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "result": result})
}

/// An error response.
pub fn error(id: &Value, code: i64, message: &str) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// The answer to `initialize`.
pub fn initialize_result(info: &ServerInfo, params: &Value) -> Value {
    let asked = params.get("protocolVersion").and_then(Value::as_str);
    let version = asked
        .filter(|v| PROTOCOL_VERSIONS.contains(v))
        .unwrap_or(PROTOCOL_VERSIONS[0]);
    let mut out = json!({
        "protocolVersion": version,
        "capabilities": {"tools": {"listChanged": false}},
        "serverInfo": {"name": info.name, "version": info.version},
    });
    if let Some(text) = &info.instructions {
        out["instructions"] = Value::String(text.clone());
    }
    out
}

/// What to do with a request, decided without running any tool.
#[derive(Debug, PartialEq)]
pub enum Reply {
    /// Answer now with this message.
    Now(Value),
    /// Run this tool, then answer.
    Call {
        /// The tool's name.
        name: String,
        /// Its arguments.
        arguments: Map<String, Value>,
    },
}

/// Answers every request except the running of a tool.
pub fn reply(info: &ServerInfo, tools: &[Tool], id: &Value, method: &str, params: &Value) -> Reply {
    let params_ok = params.is_null() || params.is_object();
    if !params_ok {
        return Reply::Now(error(
            id,
            code::INVALID_PARAMS,
            "invalid params: \"params\" must be an object",
        ));
    }
    match method {
        "initialize" => Reply::Now(result(id, initialize_result(info, params))),
        "ping" => Reply::Now(result(id, json!({}))),
        "tools/list" => Reply::Now(result(
            id,
            json!({"tools": tools.iter().map(Tool::to_json).collect::<Vec<_>>()}),
        )),
        "tools/call" => match call_params(tools, params) {
            Ok((name, arguments)) => Reply::Call { name, arguments },
            Err(e) => Reply::Now(error(id, code::INVALID_PARAMS, &e.to_string())),
        },
        other => Reply::Now(error(
            id,
            code::METHOD_NOT_FOUND,
            &format!("method not found: {}", other.escape_debug()),
        )),
    }
}

fn call_params(tools: &[Tool], params: &Value) -> Result<(String, Map<String, Value>), CallError> {
    let name = params
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| CallError::InvalidParams("tools/call needs a \"name\" string".into()))?;
    if !tools.iter().any(|t| t.name == name) {
        return Err(CallError::UnknownTool(name.escape_debug().to_string()));
    }
    let arguments = match params.get("arguments") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(a)) => a.clone(),
        Some(_) => {
            return Err(CallError::InvalidParams(
                "\"arguments\" must be an object".into(),
            ));
        }
    };
    Ok((name.to_string(), arguments))
}

/// Serves one client until its input ends: reads messages from `input`,
/// writes answers to `output`. When the input ends, calls still running
/// are cancelled and waited for.
pub fn serve<R: BufRead, W: Write + Send>(
    mut input: R,
    output: W,
    info: &ServerInfo,
    tools: &dyn Tools,
) -> io::Result<()> {
    let out = Mutex::new(output);
    let send = |msg: &Value| -> io::Result<()> {
        let mut line = serde_json::to_vec(msg).map_err(io::Error::other)?;
        line.push(b'\n');
        let mut w = out.lock().unwrap_or_else(|p| p.into_inner());
        w.write_all(&line)?;
        w.flush()
    };
    let listed = tools.list();
    // Each call's cancel token, and whether the client cancelled it (then
    // it gets no answer; at the end of input calls are only told to stop
    // waiting, and answer what they have).
    let running: Mutex<HashMap<String, (Cancel, Cancel)>> = Mutex::new(HashMap::new());
    std::thread::scope(|scope| -> io::Result<()> {
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = (&mut input)
                .take(MAX_MESSAGE as u64 + 1)
                .read_until(b'\n', &mut line)?;
            if n == 0 {
                break;
            }
            let incoming = if line.len() > MAX_MESSAGE && line.last() != Some(&b'\n') {
                skip_line(&mut input)?;
                Incoming::Bad {
                    id: Value::Null,
                    code: code::PARSE_ERROR,
                    message: format!("parse error: a message is longer than {MAX_MESSAGE} bytes"),
                }
            } else {
                parse(&line)
            };
            match incoming {
                Incoming::Blank | Incoming::Response => {}
                Incoming::Bad { id, code, message } => {
                    tracing::debug!(code, %message, "mcp: bad message");
                    send(&error(&id, code, &message))?;
                }
                Incoming::Notification { method, params } => {
                    tracing::debug!(%method, "mcp: notification");
                    if method == "notifications/cancelled"
                        && let Some(id) = params.get("requestId")
                        && let Some((stop, unanswered)) = lock(&running).get(&id.to_string())
                    {
                        unanswered.cancel();
                        stop.cancel();
                    }
                }
                Incoming::Request { id, method, params } => {
                    tracing::debug!(%method, %id, "mcp: request");
                    match reply(info, &listed, &id, &method, &params) {
                        Reply::Now(msg) => send(&msg)?,
                        Reply::Call { name, arguments } => {
                            let cancel = Cancel::default();
                            let unanswered = Cancel::default();
                            let key = id.to_string();
                            lock(&running)
                                .insert(key.clone(), (cancel.clone(), unanswered.clone()));
                            let send = &send;
                            let running = &running;
                            scope.spawn(move || {
                                let output = tools.call(&name, &arguments, &cancel);
                                lock(running).remove(&key);
                                if unanswered.is_cancelled() {
                                    return;
                                }
                                if let Err(e) = send(&result(&id, output.to_json())) {
                                    tracing::warn!(error = %e, "mcp: cannot answer a tool call");
                                }
                            });
                        }
                    }
                }
            }
        }
        for (stop, _) in lock(&running).values() {
            stop.cancel();
        }
        Ok(())
    })
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Consumes the rest of an over-long line.
fn skip_line(input: &mut impl BufRead) -> io::Result<()> {
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return Ok(());
        }
        if let Some(i) = buf.iter().position(|b| *b == b'\n') {
            input.consume(i + 1);
            return Ok(());
        }
        let n = buf.len();
        input.consume(n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;
    use std::time::Duration;

    struct Echo;

    impl Tools for Echo {
        fn list(&self) -> Vec<Tool> {
            vec![
                Tool {
                    name: "echo",
                    title: "Echo",
                    description: "Says its text back.".into(),
                    input_schema: json!({"type": "object", "properties": {"text": {"type": "string"}}}),
                    read_only: true,
                    destructive: false,
                },
                Tool {
                    name: "wait",
                    title: "Wait",
                    description: "Waits until cancelled.".into(),
                    input_schema: json!({"type": "object"}),
                    read_only: true,
                    destructive: false,
                },
            ]
        }

        fn call(&self, name: &str, arguments: &Map<String, Value>, cancel: &Cancel) -> ToolOutput {
            match name {
                "echo" => match arguments.get("text").and_then(Value::as_str) {
                    Some(t) => ToolOutput::ok(t),
                    None => ToolOutput::error("text is required"),
                },
                _ => {
                    while !cancel.is_cancelled() {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    ToolOutput::ok("cancelled")
                }
            }
        }
    }

    fn info() -> ServerInfo {
        ServerInfo {
            name: "test".into(),
            version: "1.0".into(),
            instructions: Some("Use echo.".into()),
        }
    }

    /// Runs the server over `lines` and returns its answers, in order.
    fn session(lines: &[&str]) -> Vec<Value> {
        let input = lines.join("\n") + "\n";
        let mut out = Vec::new();
        serve(Cursor::new(input.into_bytes()), &mut out, &info(), &Echo).unwrap();
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn handshake_list_and_call() {
        let answers = session(&[
            r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"_meta":{"progressToken":0}}}"#,
            r#"{"jsonrpc":"2.0","id":"p","method":"ping"}"#,
        ]);
        assert_eq!(answers.len(), 3, "the notification gets no answer");
        assert_eq!(answers[0]["id"], 0);
        assert_eq!(answers[0]["result"]["protocolVersion"], "2025-06-18");
        assert_eq!(answers[0]["result"]["serverInfo"]["name"], "test");
        assert_eq!(answers[0]["result"]["instructions"], "Use echo.");
        assert!(answers[0]["result"]["capabilities"]["tools"].is_object());
        let tools = answers[1]["result"]["tools"].as_array().unwrap();
        assert_eq!(tools[0]["name"], "echo");
        assert_eq!(tools[0]["inputSchema"]["type"], "object");
        assert_eq!(tools[0]["annotations"]["readOnlyHint"], true);
        assert_eq!(
            answers[2],
            json!({"jsonrpc": "2.0", "id": "p", "result": {}})
        );

        let call = session(&[
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}"#,
            r#"{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"echo"}}"#,
        ]);
        let by_id = |id: i64| call.iter().find(|a| a["id"] == id).unwrap().clone();
        assert_eq!(
            by_id(7)["result"],
            json!({"content": [{"type": "text", "text": "hi"}], "isError": false})
        );
        assert_eq!(by_id(8)["result"]["isError"], true);
    }

    #[test]
    fn unknown_versions_get_the_newest() {
        let r = initialize_result(&info(), &json!({"protocolVersion": "1999-01-01"}));
        assert_eq!(r["protocolVersion"], PROTOCOL_VERSIONS[0]);
        let r = initialize_result(&info(), &json!({"protocolVersion": "2024-11-05"}));
        assert_eq!(r["protocolVersion"], "2024-11-05");
    }

    #[test]
    fn malformed_messages_get_errors_and_the_server_goes_on() {
        let answers = session(&[
            "{not json",
            "[1, 2]",
            "42",
            r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":2}"#,
            r#"{"jsonrpc":"2.0","id":3,"method":7}"#,
            r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":{"x":1},"method":"ping"}"#,
            r#"{"jsonrpc":"2.0","id":4,"method":"resources/list"}"#,
            r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"nope"}}"#,
            r#"{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"arguments":{}}}"#,
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":[1]}}"#,
            r#"{"jsonrpc":"2.0","id":8,"method":"tools/list","params":[1]}"#,
            r#"{"jsonrpc":"2.0","method":"no/such/notification"}"#,
            r#"{"jsonrpc":"2.0","id":99,"result":{}}"#,
            "",
            "\u{1}\u{2}",
            r#"{"jsonrpc":"2.0","id":9,"method":"ping"}"#,
        ]);
        let codes: Vec<(Value, i64)> = answers
            .iter()
            .map(|a| (a["id"].clone(), a["error"]["code"].as_i64().unwrap_or(0)))
            .collect();
        assert_eq!(
            codes,
            vec![
                (Value::Null, code::PARSE_ERROR),
                (Value::Null, code::INVALID_REQUEST),
                (Value::Null, code::INVALID_REQUEST),
                (json!(1), code::INVALID_REQUEST),
                (json!(2), code::INVALID_REQUEST),
                (json!(3), code::INVALID_REQUEST),
                (Value::Null, code::INVALID_REQUEST),
                (Value::Null, code::INVALID_REQUEST),
                (json!(4), code::METHOD_NOT_FOUND),
                (json!(5), code::INVALID_PARAMS),
                (json!(6), code::INVALID_PARAMS),
                (json!(7), code::INVALID_PARAMS),
                (json!(8), code::INVALID_PARAMS),
                (Value::Null, code::PARSE_ERROR),
                (json!(9), 0),
            ]
        );
        assert!(
            answers[9]["error"]["message"]
                .as_str()
                .unwrap()
                .contains("unknown tool: nope")
        );
        assert!(answers.iter().all(|a| a["jsonrpc"] == "2.0"));
    }

    #[test]
    fn an_over_long_line_is_refused_and_skipped() {
        let long = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{{\"x\":\"{}\"}}}}",
            "a".repeat(MAX_MESSAGE)
        );
        let answers = session(&[&long, r#"{"jsonrpc":"2.0","id":2,"method":"ping"}"#]);
        assert_eq!(answers.len(), 2);
        assert_eq!(answers[0]["error"]["code"], code::PARSE_ERROR);
        assert_eq!(answers[1]["id"], 2);
    }

    #[test]
    fn a_waiting_call_does_not_block_others_and_a_cancelled_one_is_not_answered() {
        // The reader blocks on a pipe: the waiting call runs while pings
        // are answered; cancelling it produces no answer.
        let (rx, mut tx) = std::io::pipe().unwrap();
        let (out_tx, out_rx) = std::sync::mpsc::channel::<Vec<u8>>();
        struct Chan(std::sync::mpsc::Sender<Vec<u8>>);
        impl Write for Chan {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.0.send(b.to_vec()).ok();
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let server =
            std::thread::spawn(move || serve(io::BufReader::new(rx), Chan(out_tx), &info(), &Echo));
        let next = || -> Value {
            let line = out_rx.recv_timeout(Duration::from_secs(5)).unwrap();
            serde_json::from_slice(&line).unwrap()
        };
        writeln!(
            tx,
            r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{"name":"wait"}}}}"#
        )
        .unwrap();
        writeln!(tx, r#"{{"jsonrpc":"2.0","id":2,"method":"ping"}}"#).unwrap();
        assert_eq!(next()["id"], 2, "ping answered while the call waits");
        writeln!(
            tx,
            r#"{{"jsonrpc":"2.0","method":"notifications/cancelled","params":{{"requestId":1}}}}"#
        )
        .unwrap();
        writeln!(tx, r#"{{"jsonrpc":"2.0","id":3,"method":"ping"}}"#).unwrap();
        assert_eq!(next()["id"], 3);
        drop(tx);
        server.join().unwrap().unwrap();
        assert!(
            out_rx.try_recv().is_err(),
            "the cancelled call got no answer"
        );
    }
}
