//! The real pinned Codex, offline against the mock model, driven through
//! csm's `codex::exec`: a run with an output schema, its session id found
//! both in the event stream and by the rollout scan, then a resume (with
//! settings placed where the pinned Codex accepts them) whose request
//! carries the first turn's history.

use std::collections::HashSet;
use std::ffi::OsString;
use std::time::{Duration, SystemTime};

use csm::codex::Settings;
use csm::codex::exec::{self, Request};

use crate::support::env::TestEnv;
use crate::support::mock_model::{MockModel, codex_bin};

fn child_env(env: &TestEnv) -> Vec<(OsString, OsString)> {
    env.env_vars()
        .iter()
        .map(|(k, v)| (k.into(), v.into()))
        .chain(
            MockModel::hermetic_env()
                .into_iter()
                .map(|(k, v)| (k.into(), v.into())),
        )
        .collect()
}

#[test]
fn exec_with_schema_then_resume_carries_the_history() {
    let env = TestEnv::new();
    let model = MockModel::start();
    model.write_codex_config(&env.codex_home(), "");
    model.push_text(r#"{"plan": "add the flag", "risks": []}"#);
    model.push_text("Second answer.");
    let schema = env.root().join("schema.json");
    std::fs::write(
        &schema,
        r#"{"type":"object","properties":{"plan":{"type":"string"},"risks":{"type":"array","items":{"type":"string"}}},"required":["plan","risks"],"additionalProperties":false}"#,
    )
    .unwrap();
    let vars = child_env(&env);
    let program = codex_bin();
    let mut settings = Settings::default();
    settings.apply("sandbox=read-only").unwrap();
    settings.apply("effort=low").unwrap();
    let last = env.root().join("last.txt");

    let before = SystemTime::now();
    let first = exec::run(&Request {
        program: &program,
        cwd: env.work(),
        env: &vars,
        settings: &settings,
        prompt: "Plan ticket CSM-1",
        resume: None,
        output_schema: Some(&schema),
        last_message_file: Some(last.clone()),
    })
    .unwrap();
    let id = first.thread_id.clone().expect("thread id in the stream");
    let answer: serde_json::Value =
        serde_json::from_str(first.final_message.as_deref().unwrap()).unwrap();
    assert_eq!(answer["plan"], "add the flag");
    assert!(
        std::fs::read_to_string(&last)
            .unwrap()
            .contains("add the flag")
    );
    let turn = &model.wait_for_turns(1, Duration::from_secs(5))[0];
    assert_eq!(turn.body["text"]["format"]["type"], "json_schema");
    assert_eq!(turn.body["reasoning"]["effort"], "low");

    // The rollout scan finds the same id on its own.
    let found =
        csm::codex::rollout::scan_new(&env.codex_home(), before, env.work(), &HashSet::new());
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].meta.id, id);

    let second = exec::run(&Request {
        program: &program,
        cwd: env.work(),
        env: &vars,
        settings: &settings,
        prompt: "Carry on",
        resume: Some(&id),
        output_schema: None,
        last_message_file: None,
    })
    .unwrap();
    assert_eq!(
        second.thread_id.as_deref(),
        Some(id.as_str()),
        "same thread"
    );
    assert_eq!(second.final_message.as_deref(), Some("Second answer."));

    let turns = model.wait_for_turns(2, Duration::from_secs(5));
    let user = turns[1].texts("user").join("\n");
    assert!(
        user.contains("Plan ticket CSM-1") && user.contains("Carry on"),
        "{user}"
    );
    let assistant = turns[1].texts("assistant").join("\n");
    assert!(assistant.contains("add the flag"), "{assistant}");
    assert_eq!(turns[1].headers.get("session-id"), Some(&id));
}

#[test]
fn a_failing_exec_reports_codex_stderr() {
    let env = TestEnv::new();
    let model = MockModel::start();
    model.write_codex_config(&env.codex_home(), "");
    let vars = child_env(&env);
    let program = codex_bin();
    let err = exec::run(&Request {
        program: &program,
        cwd: env.work(),
        env: &vars,
        settings: &Settings::default(),
        prompt: "x",
        resume: Some("019a0000-0000-7000-8000-00000000dead"),
        output_schema: None,
        last_message_file: None,
    })
    .unwrap_err();
    assert!(err.to_string().starts_with("codex exec failed"), "{err}");
}
