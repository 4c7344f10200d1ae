//! Tabs end to end: `csm mcp` spoken to over stdio as Codex would (every
//! tool, malformed messages, refusals, an approval from another terminal),
//! the argv csm gives Codex with the setting off and on, and the real Codex
//! calling `run_in_tab` and `read_tab` for a model, with the tab in a tmux
//! window.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use csm::store::{NewSession, Store};
use serde_json::{Value, json};

use crate::support::env::{TestEnv, write_script};
use crate::support::mock_model::{MockModel, Reply};

/// A session of ticket CSM-1 in the test's work folder, recorded directly
/// in the store, with these settings.
pub(crate) fn session(env: &TestEnv, settings: Value) -> i64 {
    let store = Store::open(&env.store_file()).unwrap();
    store
        .insert_session(&NewSession {
            ticket_key: "CSM-1".into(),
            tracker: format!("local:{}", env.work().display()),
            folder: std::fs::canonicalize(env.work()).unwrap(),
            settings,
            ..NewSession::default()
        })
        .unwrap()
}

/// `csm mcp` with piped standard input and output, as Codex runs it.
pub(crate) struct Server {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
}

impl Server {
    pub(crate) fn start(env: &TestEnv, session: i64) -> Server {
        let mut child = env
            .command(&["mcp", "--session", &session.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn csm mcp");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Server {
            child,
            stdin,
            lines,
        }
    }

    fn send_raw(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }

    fn send(&mut self, msg: Value) {
        self.send_raw(&msg.to_string());
    }

    /// The next message from the server.
    fn next(&self, within: Duration) -> Value {
        let line = self
            .lines
            .recv_timeout(within)
            .expect("an answer from csm mcp");
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"))
    }

    /// Sends a request and waits for its answer.
    fn request(&mut self, id: i64, method: &str, params: Value) -> Value {
        self.send(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let answer = self.next(Duration::from_secs(60));
        assert_eq!(answer["id"], id, "{answer}");
        answer
    }

    /// Calls a tool; returns its text and whether it failed.
    pub(crate) fn call(&mut self, id: i64, tool: &str, arguments: Value) -> (String, bool) {
        let answer = self.request(
            id,
            "tools/call",
            json!({"name": tool, "arguments": arguments}),
        );
        let result = &answer["result"];
        assert!(result.is_object(), "{answer}");
        (
            result["content"][0]["text"].as_str().unwrap().to_string(),
            result["isError"].as_bool().unwrap(),
        )
    }

    pub(crate) fn initialize(&mut self) -> Value {
        let init = self.request(
            0,
            "initialize",
            json!({"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "test", "version": "1"}}),
        );
        self.send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        init
    }

    /// Closes the input and waits for the server to end.
    pub(crate) fn finish(mut self) -> i32 {
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code().unwrap_or(-1);
            }
            assert!(Instant::now() < deadline, "csm mcp did not end");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tab_events(env: &TestEnv, session: i64) -> Vec<(String, Value)> {
    let store = Store::open(&env.store_file()).unwrap();
    store
        .events_with_prefix(session, "tab-")
        .unwrap()
        .into_iter()
        .map(|e| (e.kind, e.data))
        .collect()
}

/// Kills a private tmux server when the test ends, however it ends.
struct TmuxServer(PathBuf);

impl TmuxServer {
    fn query(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(&self.0)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "tmux {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

impl Drop for TmuxServer {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.0)
            .arg("kill-server")
            .stderr(Stdio::null())
            .status();
    }
}

#[test]
fn mcp_conformance_every_tool_and_malformed_messages() {
    let env = TestEnv::new();
    env.write_user_config("[tabs]\nbackend = \"log\"\n");
    let id = session(&env, json!({"tabs": "auto"}));
    let mut server = Server::start(&env, id);

    let init = server.initialize();
    assert_eq!(init["result"]["protocolVersion"], "2025-06-18");
    assert_eq!(init["result"]["serverInfo"]["name"], "csm");
    assert!(init["result"]["capabilities"]["tools"].is_object());
    let instructions = init["result"]["instructions"].as_str().unwrap();
    assert!(instructions.contains("read_tab"), "{instructions}");

    let list = server.request(1, "tools/list", json!({}));
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["run_in_tab", "list_tabs", "read_tab", "stop_tab"]);
    for t in list["result"]["tools"].as_array().unwrap() {
        assert_eq!(t["inputSchema"]["type"], "object", "{t}");
        assert!(t["description"].as_str().unwrap().len() > 20, "{t}");
    }

    let (text, failed) = server.call(2, "list_tabs", json!({}));
    assert!(!failed);
    assert!(text.contains("No tabs yet"), "{text}");

    std::fs::create_dir_all(env.work().join("web")).unwrap();
    let (text, failed) = server.call(
        3,
        "run_in_tab",
        json!({"command": ["sh", "-c", "pwd; echo ready-$((20+22)); exec sleep 30"],
               "name": "server", "cwd": "web"}),
    );
    assert!(!failed, "{text}");
    assert!(text.starts_with("Started tab "), "{text}");
    let folder = std::fs::canonicalize(env.work()).unwrap().join("web");
    assert!(text.contains(&folder.display().to_string()), "{text}");

    let (text, failed) = server.call(
        4,
        "read_tab",
        json!({"tab": "server", "wait_for": "ready-42", "timeout_secs": 10}),
    );
    assert!(!failed, "{text}");
    assert!(text.contains("is running"), "{text}");
    assert!(
        text.ends_with(&format!("{}\nready-42", folder.display())),
        "{text}"
    );

    let (text, failed) = server.call(5, "list_tabs", json!({}));
    assert!(!failed);
    assert!(text.contains("\"server\" running: sh -c"), "{text}");
    assert!(text.contains("output in"), "{text}");

    let (text, failed) = server.call(6, "stop_tab", json!({"tab": "server"}));
    assert!(!failed, "{text}");
    assert!(text.contains("killed by signal 2 (stopped)"), "{text}");
    let (text, failed) = server.call(7, "stop_tab", json!({"tab": "server"}));
    assert!(failed, "nothing left to stop: {text}");
    let (text, _) = server.call(8, "read_tab", json!({"tab": 1_000_000}));
    assert!(text.contains("there is no tab"), "{text}");

    // Tool arguments that make no sense: an error result the model reads.
    for (n, args) in [
        json!({}),
        json!({"command": "npm run dev"}),
        json!({"command": []}),
        json!({"command": [1, 2]}),
        json!({"command": ["echo"], "name": 3}),
    ]
    .into_iter()
    .enumerate()
    {
        let (text, failed) = server.call(10 + n as i64, "run_in_tab", args.clone());
        assert!(failed, "{args}: {text}");
    }

    // Malformed messages: JSON-RPC errors, and the server goes on.
    let expect_error = |server: &mut Server, line: &str, id: Value, code: i64| {
        server.send_raw(line);
        let answer = server.next(Duration::from_secs(10));
        assert_eq!(answer["jsonrpc"], "2.0", "{line}: {answer}");
        assert_eq!(answer["id"], id, "{line}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{line}: {answer}");
        assert!(answer["error"]["message"].is_string(), "{answer}");
    };
    expect_error(&mut server, "{\"jsonrpc\": \"2.0\", ", Value::Null, -32700);
    expect_error(&mut server, "[]", Value::Null, -32600);
    expect_error(
        &mut server,
        r#"{"jsonrpc":"2.0","id":20,"method":7}"#,
        json!(20),
        -32600,
    );
    expect_error(
        &mut server,
        r#"{"id":21,"method":"ping"}"#,
        json!(21),
        -32600,
    );
    expect_error(
        &mut server,
        r#"{"jsonrpc":"2.0","id":22,"method":"prompts/list"}"#,
        json!(22),
        -32601,
    );
    expect_error(
        &mut server,
        r#"{"jsonrpc":"2.0","id":23,"method":"tools/call","params":{"name":"rm_rf"}}"#,
        json!(23),
        -32602,
    );
    expect_error(
        &mut server,
        r#"{"jsonrpc":"2.0","id":24,"method":"tools/call","params":{"name":"run_in_tab","arguments":"x"}}"#,
        json!(24),
        -32602,
    );
    expect_error(
        &mut server,
        r#"{"jsonrpc":"2.0","id":25,"method":"tools/call","params":7}"#,
        json!(25),
        -32602,
    );
    server.send_raw(r#"{"jsonrpc":"2.0","method":"notifications/whatever"}"#);
    let pong = server.request(26, "ping", json!({}));
    assert_eq!(pong["result"], json!({}));

    // The tab's life is in the session's events.
    let kinds: Vec<String> = tab_events(&env, id).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        kinds,
        [
            "tab-requested",
            "tab-approved",
            "tab-started",
            "tab-stopped",
            "tab-exited"
        ]
    );
    assert_eq!(server.finish(), 0, "the server ends when its input does");
}

#[test]
fn a_folder_outside_or_an_unapproved_command_is_refused_recorded_and_never_runs() {
    let env = TestEnv::new();
    env.write_user_config(
        "[tabs]\nbackend = \"log\"\napproval_wait_secs = 1\nallow = [\"true\"]\n",
    );
    let id = session(&env, json!({"tabs": "on"}));
    let marker = env.root().join("it-ran");
    let touch = json!(["touch", marker.to_str().unwrap()]);
    let mut server = Server::start(&env, id);
    server.initialize();

    // A folder outside the session's: refused at once.
    for (n, cwd) in ["..", "/tmp", "../work/../.."].into_iter().enumerate() {
        let (text, failed) = server.call(
            1 + n as i64,
            "run_in_tab",
            json!({"command": touch, "cwd": cwd}),
        );
        assert!(failed, "{text}");
        assert!(
            text.contains("outside the session's folder") && text.contains("Nothing was run"),
            "{text}"
        );
    }

    // Not on the allow list, and nobody approves within the wait.
    let before = Instant::now();
    let (text, failed) = server.call(10, "run_in_tab", json!({"command": touch}));
    assert!(failed, "{text}");
    assert!(before.elapsed() >= Duration::from_secs(1), "it waited");
    assert!(text.starts_with("Not approved:"), "{text}");
    let pending_id = tab_events(&env, id)
        .into_iter()
        .filter(|(k, _)| k == "tab-requested")
        .count();
    assert_eq!(pending_id, 4);

    // `csm tabs` shows the refusals and the request waiting.
    let run = env.run(&["tabs", "CSM-1"]).ok();
    let text = env.normalize(&run.stdout);
    assert_eq!(text.matches("refused: the folder").count(), 3, "{text}");
    assert!(text.contains("pending approval"), "{text}");
    assert!(run.stderr.contains("csm tabs approve ID"), "{}", run.stderr);
    let json: Value = serde_json::from_str(&env.run(&["tabs", "--json"]).ok().stdout).unwrap();
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[3]["state"], "pending");
    assert_eq!(rows[3]["key"], "CSM-1");
    assert_eq!(rows[0]["state"], "refused");

    // The user denies it: it never runs, and cannot be approved later.
    let pending = rows[3]["id"].as_i64().unwrap();
    env.run(&["tabs", "deny"]).ok();
    let run = env
        .run(&["tabs", "approve", &pending.to_string()])
        .fails_with(1);
    assert!(
        run.stderr.contains("not waiting for approval"),
        "{}",
        run.stderr
    );
    env.run(&["tabs", "approve", "999999"]).fails_with(3);
    env.run(&["tabs", "deny"]).fails_with(3);

    // An allowed prefix runs without asking.
    let (text, failed) = server.call(20, "run_in_tab", json!({"command": ["true"]}));
    assert!(!failed, "{text}");
    std::thread::sleep(Duration::from_millis(500));
    assert!(!marker.exists(), "nothing refused or unapproved ran");
    let kinds: Vec<String> = tab_events(&env, id)
        .into_iter()
        .map(|(k, d)| format!("{k} {}", d["request"]))
        .collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| k.starts_with("tab-refused"))
            .count(),
        3,
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&format!("tab-denied {pending}")),
        "{kinds:?}"
    );
    server.finish();

    // With the setting off, the server refuses too.
    let off = session(&env, json!({}));
    let mut server = Server::start(&env, off);
    server.initialize();
    let (text, failed) = server.call(1, "run_in_tab", json!({"command": touch}));
    assert!(failed && text.contains("tabs are off"), "{text}");
    server.finish();
    assert!(!marker.exists());
}

#[test]
fn an_approval_from_another_terminal_starts_the_tab_in_a_detached_tmux_session() {
    let mut env = TestEnv::new();
    let sock_dir = tempfile::tempdir().unwrap();
    let tmux = TmuxServer(sock_dir.path().join("sock"));
    env.set_env("CSM_TMUX_SOCKET", &tmux.0);
    env.set_env("CSM_JIRA_TOKEN", "secret-token-value");
    env.write_user_config("[tabs]\nbackend = \"tmux\"\napproval_wait_secs = 30\n");
    let id = session(&env, json!({"tabs": "on"}));
    let mut server = Server::start(&env, id);
    server.initialize();

    server.send(json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {
        "name": "run_in_tab",
        "arguments": {"command": ["sh", "-c", "pwd; echo token=${CSM_JIRA_TOKEN:-none}; exec sleep 30"],
                      "name": "watch"}}}));
    // The request waits; the user approves it from another terminal.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !tab_events(&env, id)
        .iter()
        .any(|(k, _)| k == "tab-requested")
    {
        assert!(Instant::now() < deadline, "no request recorded");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Without a terminal nothing can be shown and asked: the id is needed.
    let run = env.run(&["tabs", "approve"]).fails_with(2);
    assert!(run.stderr.contains("csm tabs approve ID"), "{}", run.stderr);
    let rows: Value = serde_json::from_str(&env.run(&["tabs", "--json"]).ok().stdout).unwrap();
    let pending = rows[0]["id"].as_i64().unwrap().to_string();
    let run = env.run(&["tabs", "approve", &pending]).ok();
    assert!(run.stderr.contains("Started tab"), "{}", run.stderr);
    let answer = server.next(Duration::from_secs(20));
    let text = answer["result"]["content"][0]["text"].as_str().unwrap();
    assert_eq!(answer["result"]["isError"], false, "{text}");
    assert!(text.contains("session csm-CSM-1"), "{text}");

    // A window of csm's own detached session, in the session's folder.
    let folder = std::fs::canonicalize(env.work()).unwrap();
    let windows = tmux.query(&[
        "list-windows",
        "-t",
        "=csm-CSM-1",
        "-F",
        "#{window_name} #{pane_current_path}",
    ]);
    assert_eq!(windows.trim(), format!("watch {}", folder.display()));

    let (text, failed) = server.call(
        2,
        "read_tab",
        json!({"tab": "watch", "wait_for": "token=", "timeout_secs": 10}),
    );
    assert!(!failed, "{text}");
    assert!(text.contains("token=none"), "no secret in the tab: {text}");
    assert!(text.contains(&folder.display().to_string()), "{text}");

    let (text, failed) = server.call(3, "stop_tab", json!({"tab": "watch"}));
    assert!(!failed, "{text}");
    let run = env.run(&["tabs"]).ok();
    assert!(run.stdout.contains("(stopped)"), "{}", run.stdout);
    // The window stays, saying how the command ended, its output readable
    // until the user presses Enter in it.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let pane = tmux.query(&["capture-pane", "-p", "-t", "=csm-CSM-1:"]);
        if pane.contains("[csm] tab 1 (sh): killed by signal 2. Press Enter to close this tab.") {
            break;
        }
        assert!(Instant::now() < deadline, "{pane}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let (text, failed) = server.call(4, "read_tab", json!({"tab": "watch"}));
    assert!(!failed && text.contains("token=none"), "{text}");
    assert!(text.contains("killed by signal 2 (stopped)"), "{text}");
    // Closing a running tab's window ends its command (no orphan left).
    env.run(&["set", "CSM-1", "tabs=auto"]).ok();
    let (text, failed) = server.call(
        5,
        "run_in_tab",
        json!({"command": ["sleep", "300"], "name": "closed"}),
    );
    assert!(!failed, "{text}");
    tmux.query(&["kill-window", "-t", "=csm-CSM-1:closed"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (text, _) = server.call(6, "list_tabs", json!({}));
        if text.contains("\"closed\" killed by signal 1: sleep 300") {
            break;
        }
        assert!(Instant::now() < deadline, "{text}");
        std::thread::sleep(Duration::from_millis(100));
    }
    tmux.query(&["send-keys", "-t", "=csm-CSM-1:watch", "Enter"]);
    let deadline = Instant::now() + Duration::from_secs(10);
    while Command::new("tmux")
        .arg("-S")
        .arg(&tmux.0)
        .args(["has-session", "-t", "=csm-CSM-1"])
        .stderr(Stdio::null())
        .status()
        .unwrap()
        .success()
    {
        assert!(Instant::now() < deadline, "Enter closes the tab");
        std::thread::sleep(Duration::from_millis(50));
    }
    server.finish();
}

/// A tab request of `session` for `argv`, approved and started on the log
/// backend, as `csm tabs exec` finds it; returns its id.
fn started_log_tab(store: &Store, session: i64, argv: &[&str], cwd: &std::path::Path) -> i64 {
    let req = store
        .add_event(
            session,
            "tab-requested",
            &json!({"argv": argv, "name": "t", "cwd": cwd, "placement": {"backend": "log"}}),
        )
        .unwrap();
    store
        .add_event(
            session,
            "tab-approved",
            &json!({"request": req, "by": "test"}),
        )
        .unwrap();
    store
        .add_event(session, "tab-started", &json!({"request": req, "pid": 1}))
        .unwrap();
    req
}

#[test]
fn the_supervisor_removes_secrets_passes_the_exit_code_on_and_records_it() {
    let mut env = TestEnv::new();
    let id = session(&env, json!({"tabs": "on"}));
    let store = Store::open(&env.store_file()).unwrap();
    let folder = std::fs::canonicalize(env.work()).unwrap();
    let tab = |argv: &[&str]| started_log_tab(&store, id, argv, &folder);
    let script = "echo ${CSM_JIRA_TOKEN:-none} ${MY_SECRET:-none} ${KEEP:-none}; exit 7";
    let ok = tab(&["sh", "-c", script]);
    let missing = tab(&["no-such-program-xyz"]);
    env.set_env("CSM_JIRA_TOKEN", "secret-token-value");
    env.set_env("MY_SECRET", "another-secret");
    env.set_env("KEEP", "kept");
    let store_file = env.store_file();
    let exec = |tab: i64, argv: &[&str]| {
        let mut args = vec![
            "tabs",
            "exec",
            "--store",
            store_file.to_str().unwrap(),
            "--unset",
            "MY_SECRET",
            "--tab",
        ];
        let tab = tab.to_string();
        args.push(&tab);
        args.push("--");
        args.extend(argv);
        env.run(&args)
    };
    let run = exec(ok, &["sh", "-c", script]);
    assert_eq!(run.code, 7, "{run:?}");
    assert_eq!(run.stdout, "none none kept\n");
    let run = exec(missing, &["no-such-program-xyz"]);
    assert_eq!(run.code, 127, "{run:?}");
    assert!(
        run.stderr.contains("cannot run no-such-program-xyz"),
        "{run:?}"
    );

    let rows: Value = serde_json::from_str(&env.run(&["tabs", "--json"]).ok().stdout).unwrap();
    let summaries: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["summary"].as_str().unwrap())
        .collect();
    assert_eq!(summaries, ["exited 7", "exited 127"]);
    assert_eq!(rows[0]["exit"], json!({"code": 7, "signal": null}));
}

/// A tab's window closed the instant it opened: the hangup reaches the
/// supervisor before it has started the command. The command must still
/// end, and the exit be recorded, or the tab reads "running" for ever.
#[test]
fn a_hangup_before_the_command_starts_ends_it_and_is_recorded() {
    use std::os::unix::process::CommandExt;

    let env = TestEnv::new();
    let id = session(&env, json!({"tabs": "on"}));
    let store = Store::open(&env.store_file()).unwrap();
    let req = started_log_tab(&store, id, &["sleep", "300"], env.work());
    let paused = env.root().join("paused");
    let store_file = env.store_file();
    let tab = req.to_string();
    let mut cmd = env.command(&[
        "tabs",
        "exec",
        "--store",
        store_file.to_str().unwrap(),
        "--tab",
        &tab,
        "--",
        "sleep",
        "300",
    ]);
    // A group of its own, as in a tab: the supervisor signals its group.
    cmd.process_group(0)
        .env(csm::crashpoint::PAUSE_VAR, "tabs-exec:spawning")
        .env(csm::crashpoint::PAUSE_FILE_VAR, &paused);
    let mut supervisor = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !paused.exists() {
        assert!(Instant::now() < deadline, "the supervisor never paused");
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: a signal to the process this test spawned.
    unsafe {
        libc::kill(supervisor.id() as libc::pid_t, libc::SIGHUP);
    }
    std::fs::remove_file(&paused).unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = supervisor.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            // SAFETY: ends the group this test spawned.
            unsafe {
                libc::kill(-(supervisor.id() as libc::pid_t), libc::SIGKILL);
            }
            panic!("the command outlived the hangup");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(128 + libc::SIGHUP), "{status:?}");
    let rows: Value = serde_json::from_str(&env.run(&["tabs", "--json"]).ok().stdout).unwrap();
    assert_eq!(
        rows[0]["exit"],
        json!({"code": null, "signal": libc::SIGHUP}),
        "{rows}"
    );
}

/// A stand-in `codex` that records its arguments, one per line.
fn fake_codex(env: &mut TestEnv) -> PathBuf {
    let codex = env.root().join("bin/codex");
    let argv = env.root().join("codex-argv");
    write_script(
        &codex,
        &format!(
            "case \"$1\" in --version) echo 'codex-cli 0.169.0';; *) printf '%s\\n' \"$@\" > '{}';; esac",
            argv.display()
        ),
    );
    env.set_env("CSM_CODEX_BIN", &codex);
    env.set_env("OPENAI_API_KEY", "sk-test-not-a-real-key");
    argv
}

#[test]
fn codex_gets_the_server_only_with_the_setting_on() {
    let mut env = TestEnv::new();
    let argv_file = fake_codex(&mut env);
    env.set_env("CSM_JIRA_TOKEN", "secret-token-value");
    std::fs::write(env.work().join(".csm.toml"), "").unwrap();
    env.run(&["ticket", "new", "One", "--ac", "`one` prints 1"])
        .ok();
    env.run(&["ticket", "new", "Two", "--ac", "`two` exits with status 0"])
        .ok();

    env.run(&["start", "CSM-1"]).ok();
    let argv = std::fs::read_to_string(&argv_file).unwrap();
    assert!(argv.contains("notify="), "{argv}");
    assert!(!argv.contains("mcp_servers"), "tabs off: no server: {argv}");

    env.run(&["start", "CSM-2", "-s", "tabs=on"]).ok();
    let argv = std::fs::read_to_string(&argv_file).unwrap();
    let store = Store::open(&env.store_file()).unwrap();
    let id = store.sessions_for_ticket("CSM-2").unwrap()[0].id;
    let lines: Vec<&str> = argv.lines().collect();
    let csm = env!("CARGO_BIN_EXE_csm");
    for want in [
        format!("mcp_servers.csm.command=\"{csm}\""),
        format!("mcp_servers.csm.args=[\"mcp\", \"--session\", \"{id}\"]"),
        "mcp_servers.csm.default_tools_approval_mode=\"approve\"".to_string(),
    ] {
        assert!(lines.contains(&want.as_str()), "{want} in {argv}");
    }
    let env_vars = lines
        .iter()
        .find(|l| l.starts_with("mcp_servers.csm.env_vars="))
        .unwrap();
    assert!(env_vars.contains("\"XDG_DATA_HOME\""), "{env_vars}");
    assert!(
        !env_vars.contains("CSM_JIRA_TOKEN"),
        "no secret: {env_vars}"
    );

    // Turning it off again: the next launch has no server.
    env.run(&["set", "CSM-2", "tabs=off"]).ok();
    let run = env.run(&["show", "CSM-2"]).ok();
    assert!(run.stdout.contains("tabs=off"), "{}", run.stdout);
    env.run(&["start", "CSM-2", "--new"]).ok();
    let argv = std::fs::read_to_string(&argv_file).unwrap();
    assert!(!argv.contains("mcp_servers"), "{argv}");
}

const CODEX_START: Duration = Duration::from_secs(30);

#[test]
fn codex_runs_a_command_in_a_tmux_window_and_reads_its_output() {
    let mut env = TestEnv::new();
    let model = MockModel::start();
    model.serve_real_codex(&mut env, "");
    // The flag is the user's: a repository file may not add Codex flags.
    env.write_user_config("[codex]\nargs = [\"--no-daemon\"]\n");
    std::fs::write(env.work().join(".csm.toml"), "[tabs]\nbackend = \"tmux\"\n").unwrap();
    env.run(&[
        "ticket",
        "new",
        "Serve the site",
        "--ac",
        "`curl localhost:8080` prints the home page",
    ])
    .ok();
    let folder = std::fs::canonicalize(env.work()).unwrap();

    // The model finds the tools, asks for a tab, then for its output, then
    // answers.
    model.push(Reply::ToolSearch {
        call_id: "call-search".into(),
        query: "run a command in a separate terminal tab".into(),
    });
    model.push(Reply::NamespacedCall {
        call_id: "call-run".into(),
        namespace: "mcp__csm".into(),
        name: "run_in_tab".into(),
        arguments: json!({"command": ["sh", "-c", "echo serving from $(pwd); exec sleep 60"],
                          "name": "site"}),
    });
    model.push(Reply::NamespacedCall {
        call_id: "call-read".into(),
        namespace: "mcp__csm".into(),
        name: "read_tab".into(),
        arguments: json!({"tab": "site", "wait_for": "serving from", "timeout_secs": 20}),
    });
    model.push_text("The site is being served in its own tab.");

    let tmux = env.terminal(120, 40);
    tmux.line(&format!(
        "cd '{}' && '{}' start CSM-1 -s tabs=auto; printf 'CSM-%s %s\\n' EXITED $?",
        env.work().display(),
        env!("CARGO_BIN_EXE_csm")
    ));

    let turns = model.wait_for_turns(4, Duration::from_secs(60));
    // The tools are not in the first request: Codex defers MCP tools, and
    // the search finds them in the `mcp__csm` namespace.
    assert!(
        !turns[0].body["tools"].to_string().contains("run_in_tab"),
        "deferred"
    );
    // The server's instructions reach the model.
    let instructions = turns[0].body["input"].to_string();
    assert!(instructions.contains("Use run_in_tab"), "{instructions}");
    let found = turns[1].body["input"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["type"] == "tool_search_output")
        .unwrap_or_else(|| panic!("no tool_search_output: {}", turns[1].text()))
        .clone();
    let namespace = found["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "mcp__csm")
        .unwrap_or_else(|| panic!("{found}"));
    assert_eq!(namespace["type"], "namespace");
    assert!(
        namespace["tools"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["name"] == "run_in_tab"),
        "{namespace}"
    );
    let started = turns[2]
        .call_output("call-run")
        .unwrap_or_else(|| panic!("no run_in_tab output: {}", turns[2].text()));
    assert!(started.contains("Started tab"), "{started}");
    let read = turns[3]
        .call_output("call-read")
        .unwrap_or_else(|| panic!("no read_tab output: {}", turns[3].text()));
    assert!(
        read.contains(&format!("serving from {}", folder.display())),
        "read_tab's output reached the model: {read}"
    );

    // The tab is a window of the session csm runs in, in the folder.
    let windows = tmux.query(&[
        "list-windows",
        "-F",
        "#{window_name}|#{pane_current_path}|#{pane_dead}",
    ]);
    assert!(
        windows
            .lines()
            .any(|l| l == format!("site|{}|0", folder.display())),
        "{windows}"
    );
    let pane = tmux.query(&["capture-pane", "-p", "-t", ":site"]);
    assert!(
        pane.contains(&format!("serving from {}", folder.display())),
        "{pane}"
    );
    tmux.wait_for_within("the final answer", CODEX_START, |s| {
        s.contains("being served in its own tab")
    });

    // csm show and csm tabs list it.
    let run = env.run(&["show", "CSM-1"]).ok();
    assert!(run.stdout.contains("tabs:"), "{}", run.stdout);
    assert!(run.stdout.contains("site"), "{}", run.stdout);
    let run = env.run(&["tabs", "CSM-1"]).ok();
    assert!(run.stdout.contains("running"), "{}", run.stdout);

    tmux.type_text("/quit");
    std::thread::sleep(Duration::from_millis(300));
    tmux.press("Enter");
    tmux.wait_for_within("csm to exit", CODEX_START, |s| s.contains("CSM-EXITED"));
}

#[test]
fn the_dashboard_shows_a_waiting_request_and_a_approves_it() {
    let mut env = TestEnv::new();
    env.set_env("TERM", "xterm-256color");
    env.write_user_config("[tabs]\nbackend = \"log\"\n");
    let id = session(&env, json!({"tabs": "on"}));
    let store = Store::open(&env.store_file()).unwrap();
    // A session whose Codex runs (this test stands in for its process).
    store.mark_launched(id, None).unwrap();
    store.set_pid(id, Some(std::process::id())).unwrap();
    let folder = std::fs::canonicalize(env.work()).unwrap();
    store
        .add_event(
            id,
            "tab-requested",
            &json!({"argv": ["sh", "-c", "echo approved-in-the-dashboard"],
                    "name": "ui", "cwd": folder, "placement": {"backend": "log"}}),
        )
        .unwrap();

    let tmux = env.terminal(120, 40);
    tmux.line(&format!(
        "cd '{}' && '{}' ui; printf 'CSM-%s %s\\n' EXITED $?",
        env.work().display(),
        env!("CARGO_BIN_EXE_csm")
    ));
    tmux.wait_for_within("the waiting request", Duration::from_secs(10), |s| {
        s.contains("1 tab request waiting · a approves")
    });
    tmux.press("a");
    tmux.wait_for_within("the approval", Duration::from_secs(10), |s| {
        s.contains("CSM-1: started tab")
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let rows: Value = serde_json::from_str(&env.run(&["tabs", "--json"]).ok().stdout).unwrap();
        if rows[0]["summary"] == "exited 0" {
            assert_eq!(rows[0]["approved_by"], "csm ui");
            break;
        }
        assert!(Instant::now() < deadline, "{rows}");
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = std::fs::read_to_string(env.home().join(format!(".local/state/csm/tabs/{id}/1.log")))
        .unwrap();
    assert_eq!(log, "approved-in-the-dashboard\n");
    tmux.press("q");
    tmux.wait_for_within("csm ui to exit", Duration::from_secs(10), |s| {
        s.contains("CSM-EXITED 0")
    });
}
