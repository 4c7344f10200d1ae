//! `csm list`, `show`, `unlink` and `forget` over recorded sessions.

use csm::store::{NewSession, SessionStatus, Store};
use serde_json::{Value, json};

use crate::support::env::TestEnv;

/// A repository with two local tickets and three recorded sessions.
fn fixture() -> TestEnv {
    let env = TestEnv::new();
    std::fs::create_dir_all(env.work().join(".git")).unwrap();
    env.run(&["ticket", "new", "Add a --json flag", "--ac", "prints JSON"])
        .ok();
    env.run(&[
        "ticket",
        "new",
        "Fix the \u{1b}[2Jcrash",
        "--ac",
        "no crash",
    ])
    .ok();
    env.run(&["ticket", "move", "CSM-2", "In Progress"]).ok();
    let tracker = format!(
        "local:{}",
        std::fs::canonicalize(env.work()).unwrap().display()
    );
    let store = Store::open(&env.store_file()).unwrap();
    // Distinct milliseconds keep the "most recently active first" order
    // stable.
    let tick = || std::thread::sleep(std::time::Duration::from_millis(3));
    let add = |key: &str, settings: Value, codex: Option<&str>| {
        tick();
        let id = store
            .insert_session(&NewSession {
                ticket_key: key.into(),
                tracker: tracker.clone(),
                folder: env.work().to_path_buf(),
                settings,
                branch: Some("main".into()),
                ..NewSession::default()
            })
            .unwrap();
        if let Some(c) = codex {
            store.set_codex_session_id(id, c).unwrap();
        }
        id
    };
    add(
        "CSM-1",
        json!({}),
        Some("019a0000-0000-7000-8000-000000000001"),
    );
    let b = add(
        "CSM-2",
        json!({"effort": "high", "model": "gpt-5.5"}),
        Some("019a0000-0000-7000-8000-000000000002"),
    );
    add("CSM-2", json!({}), None);
    store.set_status(b, SessionStatus::Waiting).unwrap();
    tick();
    store
        .add_event(
            b,
            &csm::event::SessionEvent::from_row(
                "turn-complete",
                &json!({"last_assistant_message": "Tests pass.\u{1b}]0;pwned\u{7} Next: docs."}),
            ),
        )
        .unwrap();
    env
}

#[test]
fn list_is_empty_at_first() {
    let env = TestEnv::new();
    let run = env.run(&["list"]).ok();
    assert!(run.stdout.is_empty());
    assert!(run.stderr.contains("csm start"), "{}", run.stderr);
    assert_eq!(env.run(&["list", "--json"]).ok().stdout.trim(), "[]");
}

#[test]
fn list_shows_tickets_sessions_and_settings() {
    let env = fixture();
    let run = env.run(&["list"]).ok();
    let text = env.normalize(&run.stdout);
    insta::assert_snapshot!(text, @r#"
    KEY    SUMMARY            TICKET       SESSION  ACTIVE  BRANCH  FOLDER                     SETTINGS
    CSM-2  Fix the crash      In Progress  waiting  now     main    $ROOT/work  effort=high model=gpt-5.5
    CSM-2  Fix the crash      In Progress  new      now     main    $ROOT/work
    CSM-1  Add a --json flag  To Do        new      now     main    $ROOT/work
    "#);
    assert!(!run.stdout.contains('\u{1b}'));
}

/// Replaces times, which change from run to run.
fn redact(mut v: Value) -> Value {
    fn walk(v: &mut Value) {
        match v {
            Value::Object(m) => {
                for (k, x) in m.iter_mut() {
                    if k.ends_with("_at") || k == "at" || k == "updated" {
                        if !x.is_null() {
                            *x = json!("[time]");
                        }
                    } else {
                        walk(x);
                    }
                }
            }
            Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    v
}

#[test]
fn list_json_schema() {
    let env = fixture();
    let run = env.run(&["list", "--json"]).ok();
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    let text = env.normalize(&serde_json::to_string_pretty(&redact(doc)).unwrap());
    insta::assert_snapshot!(text, @r#"
    [
      {
        "branch": "main",
        "codex_session_id": "019a0000-0000-7000-8000-000000000002",
        "created_at": "[time]",
        "folder": "$ROOT/work",
        "id": 2,
        "key": "CSM-2",
        "last_activity_at": "[time]",
        "settings": {
          "effort": "high",
          "model": "gpt-5.5"
        },
        "status": "waiting",
        "summary": "Fix the \u001b[2Jcrash",
        "ticket_offline": false,
        "ticket_status": "In Progress",
        "tracker": "local:$ROOT/work"
      },
      {
        "branch": "main",
        "codex_session_id": null,
        "created_at": "[time]",
        "folder": "$ROOT/work",
        "id": 3,
        "key": "CSM-2",
        "last_activity_at": null,
        "settings": {},
        "status": "new",
        "summary": "Fix the \u001b[2Jcrash",
        "ticket_offline": false,
        "ticket_status": "In Progress",
        "tracker": "local:$ROOT/work"
      },
      {
        "branch": "main",
        "codex_session_id": "019a0000-0000-7000-8000-000000000001",
        "created_at": "[time]",
        "folder": "$ROOT/work",
        "id": 1,
        "key": "CSM-1",
        "last_activity_at": null,
        "settings": {},
        "status": "new",
        "summary": "Add a --json flag",
        "ticket_offline": false,
        "ticket_status": "To Do",
        "tracker": "local:$ROOT/work"
      }
    ]
    "#);
}

#[test]
fn show_text_and_json() {
    let env = fixture();
    let run = env.run(&["show", "CSM-2"]).ok();
    assert!(!run.stdout.contains('\u{1b}'), "{:?}", run.stdout);
    let text = env.normalize(&run.stdout);
    insta::assert_snapshot!(text, @r#"
    CSM-2  Fix the crash  [In Progress]
      1. no crash

    session 2 (waiting)
      codex session: 019a0000-0000-7000-8000-000000000002
      folder:        $ROOT/work
      branch:        main
      settings:      effort=high model=gpt-5.5
      started:       just now, active just now
      last message:
        Tests pass. Next: docs.
      recent events:
         now  turn-complete

    session 3 (new)
      codex session: (not yet known)
      folder:        $ROOT/work
      branch:        main
      settings:      defaults
      started:       just now, active just now
    "#);
    let run = env.run(&["show", "csm-2", "--json"]).ok();
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    let text = env.normalize(&serde_json::to_string_pretty(&redact(doc)).unwrap());
    insta::assert_snapshot!(text, @r#"
    {
      "sessions": [
        {
          "branch": "main",
          "codex_session_id": "019a0000-0000-7000-8000-000000000002",
          "created_at": "[time]",
          "events": [
            {
              "at": "[time]",
              "data": {
                "last_assistant_message": "Tests pass.\u001b]0;pwned\u0007 Next: docs."
              },
              "id": 1,
              "kind": "turn-complete",
              "session_id": 2
            }
          ],
          "folder": "$ROOT/work",
          "id": 2,
          "key": "CSM-2",
          "last_activity_at": "[time]",
          "last_assistant_message": "Tests pass.\u001b]0;pwned\u0007 Next: docs.",
          "settings": {
            "effort": "high",
            "model": "gpt-5.5"
          },
          "status": "waiting",
          "summary": "Fix the \u001b[2Jcrash",
          "tabs": [],
          "ticket_changes": [],
          "ticket_offline": false,
          "ticket_status": "In Progress",
          "tracker": "local:$ROOT/work"
        },
        {
          "branch": "main",
          "codex_session_id": null,
          "created_at": "[time]",
          "events": [],
          "folder": "$ROOT/work",
          "id": 3,
          "key": "CSM-2",
          "last_activity_at": null,
          "last_assistant_message": null,
          "settings": {},
          "status": "new",
          "summary": "Fix the \u001b[2Jcrash",
          "tabs": [],
          "ticket_changes": [],
          "ticket_offline": false,
          "ticket_status": "In Progress",
          "tracker": "local:$ROOT/work"
        }
      ],
      "ticket": {
        "acceptance_criteria": [
          "no crash"
        ],
        "comment_count": 0,
        "description": "",
        "issue_type": null,
        "key": "CSM-2",
        "labels": [],
        "status": "In Progress",
        "summary": "Fix the \u001b[2Jcrash",
        "updated": "[time]",
        "url": "$ROOT/work/.csm/tickets/CSM-2.md"
      },
      "ticket_error": null,
      "usage": null
    }
    "#);
}

#[test]
fn show_unknown_ticket_is_not_found() {
    let env = fixture();
    let run = env.run(&["show", "CSM-99"]).fails_with(3);
    assert!(run.stderr.contains("CSM-99"), "{}", run.stderr);
}

#[test]
fn unlink_and_forget() {
    let env = fixture();
    let run = env
        .run(&[
            "unlink",
            "CSM-2",
            "--session",
            "019a0000-0000-7000-8000-000000000002",
        ])
        .ok();
    assert!(run.stderr.contains("Unlinked session 2"), "{}", run.stderr);
    env.run(&["unlink", "CSM-2", "--session", "nope"])
        .fails_with(3);
    let run = env.run(&["forget", "CSM-2"]).ok();
    assert!(
        run.stderr.contains("Forgot 1 session of CSM-2"),
        "{}",
        run.stderr
    );
    env.run(&["forget", "CSM-2"]).fails_with(3);
    let list = env.run(&["list", "--json"]).ok();
    let doc: Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(doc.as_array().unwrap().len(), 1);
}

#[test]
fn notify_hook_waits_for_an_id_being_captured() {
    let env = fixture();
    let payload = json!({
        "type": "agent-turn-complete", "thread-id": "019a0000-0000-7000-8000-0000000000aa",
        "turn-id": "t1", "cwd": "/x", "last-assistant-message": "Quick turn."
    })
    .to_string();
    let child = env.command(&["hook", "notify", &payload]).spawn().unwrap();
    // The watcher stores the id a moment after the turn ended.
    std::thread::sleep(std::time::Duration::from_millis(400));
    let store = Store::open(&env.store_file()).unwrap();
    let id = store.sessions_for_ticket("CSM-2").unwrap()[1].id;
    store
        .set_codex_session_id(id, "019a0000-0000-7000-8000-0000000000aa")
        .unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    let events = store.events(id, 5).unwrap();
    assert_eq!(events[0].kind, "turn-complete");
    assert_eq!(events[0].data["last_assistant_message"], "Quick turn.");
    assert_eq!(
        store.session(id).unwrap().unwrap().status,
        SessionStatus::Waiting
    );
    // A thread no session owns (the UI's title thread) is ignored, exit 0.
    let other = payload.replace("0000000000aa", "0000000000bb");
    env.run(&["hook", "notify", &other]).ok();
    env.run(&["hook", "notify", "not json"]).ok();
}

#[test]
fn a_finished_turn_runs_the_notification_command() {
    let env = fixture();
    let out = env.root().join("notified.txt");
    let script = env.root().join("bin/notify");
    crate::support::env::write_script(
        &script,
        &format!("printf '%s|' \"$@\" > '{}'", out.display()),
    );
    std::fs::write(
        env.work().join(".csm.toml"),
        format!(
            "[notify]\non_turn = \"command\"\ncommand = [\"{}\", \"Codex\"]\n",
            script.display()
        ),
    )
    .unwrap();
    // A repository's notification command runs once the user trusts it.
    env.run(&["trust"]).ok();
    let payload = json!({
        "type": "agent-turn-complete", "thread-id": "019a0000-0000-7000-8000-000000000002",
        "last-assistant-message": "All tests pass.\nDetails follow."
    })
    .to_string();
    env.run(&["hook", "notify", &payload]).ok();
    assert_eq!(
        std::fs::read_to_string(&out).unwrap(),
        "Codex|CSM-2: All tests pass.|"
    );
}

#[test]
fn a_session_whose_codex_is_gone_is_shown_idle() {
    let env = fixture();
    let store = Store::open(&env.store_file()).unwrap();
    let dead = {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        pid
    };
    let sessions = store.sessions_for_ticket("CSM-2").unwrap();
    store
        .set_status(sessions[0].id, SessionStatus::Running)
        .unwrap();
    store.set_pid(sessions[0].id, Some(dead)).unwrap();
    store
        .set_status(sessions[1].id, SessionStatus::Running)
        .unwrap();
    store
        .set_pid(sessions[1].id, Some(std::process::id()))
        .unwrap();
    let run = env.run(&["list", "--json"]).ok();
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    let status = |id: i64| {
        doc.as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status(sessions[0].id), "idle", "its Codex is gone");
    assert_eq!(
        status(sessions[1].id),
        "running",
        "its Codex (this test) lives"
    );
}
