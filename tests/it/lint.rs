//! `csm lint KEY` and the readiness gate of `csm start`, on the local
//! tracker.

use crate::support::env::TestEnv;
use crate::support::mock_model::codex_bin;

/// A local project with a ready ticket (CSM-1) and an unready one (CSM-2).
fn env() -> TestEnv {
    let mut env = TestEnv::new();
    env.set_env("CSM_CODEX_BIN", codex_bin());
    std::fs::write(env.work().join(".csm.toml"), "").unwrap();
    env.run(&[
        "ticket",
        "new",
        "Add a --json flag to list",
        "--ac",
        "`csm list --json` prints a JSON array",
        "--ac",
        "each element has `key` and `status`",
    ])
    .ok();
    env.run(&[
        "ticket",
        "new",
        "Speed up list and add a --csv flag",
        "--ac",
        "Improve performance",
        "--ac",
        "also works",
        "--ac",
        "Supports CSV, TSV, etc.",
        "--ac",
        "improve performance.",
    ])
    .ok();
    env
}

#[test]
fn lint_shows_the_verdict_with_reasons() {
    let env = env();
    let run = env.run(&["lint", "CSM-1"]).ok();
    insta::assert_snapshot!(run.stdout, @r#"
    CSM-1 is ready: 2 testable criteria
    "#);

    let run = env.run(&["lint", "CSM-2"]).fails_with(1);
    insta::assert_snapshot!(run.stdout, @r#"
    CSM-2  Speed up list and add a --csv flag
      - the summary joins two deliverables ("Speed up list" and "add a --csv flag"): split it into two tickets
      - criterion 1 "Improve performance" uses "improve" without a measurable target: add a number or the exact expected result
      - criterion 2 "also works" names no observable outcome: say what a test or a person sees (output, exit code, file, response)
      - criterion 3 "Supports CSV, TSV, etc." is open-ended ("etc."): list every case to check
      - criterion 4 "improve performance." repeats criterion 1: remove one of them
    "#);
    insta::assert_snapshot!(run.stderr, @r#"
    error: CSM-2 is not ready: 5 findings
    hint: rewrite its criteria with `csm draft-ticket CSM-2`, or edit the ticket
    "#);

    let run = env.run(&["lint", "CSM-2", "--json"]).fails_with(1);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    insta::assert_json_snapshot!(json["findings"][1], @r#"
    {
      "index": 0,
      "message": "criterion 1 \"Improve performance\" uses \"improve\" without a measurable target: add a number or the exact expected result",
      "reason": "vague",
      "target": "criterion",
      "term": "improve"
    }
    "#);
    assert_eq!(json["ready"], false);
    assert_eq!(json["findings"].as_array().unwrap().len(), 5);

    let run = env.run(&["lint", "CSM-9"]).fails_with(3);
    assert!(run.stderr.contains("CSM-9"), "{}", run.stderr);
}

#[test]
fn start_refuses_what_the_lint_rejects_unless_forced() {
    let env = env();
    let run = env.run(&["start", "CSM-2", "--dry-run"]).fails_with(1);
    insta::assert_snapshot!(run.stderr, @r#"
    error: CSM-2 is not ready: the summary joins two deliverables ("Speed up list" and "add a --csv flag") (and 4 more)
    hint: split it into two tickets
    hint: criterion 1 "Improve performance" uses "improve" without a measurable target: add a number or the exact expected result
    hint: criterion 2 "also works" names no observable outcome: say what a test or a person sees (output, exit code, file, response)
    hint: criterion 3 "Supports CSV, TSV, etc." is open-ended ("etc."): list every case to check
    hint: criterion 4 "improve performance." repeats criterion 1: remove one of them
    hint: rewrite the criteria with `csm draft-ticket CSM-2` (or in your tracker), or pass --force
    "#);
    let run = env.run(&["start", "CSM-2", "--dry-run", "--force"]).ok();
    assert!(
        run.stdout.contains("You are working on ticket CSM-2"),
        "{}",
        run.stdout
    );
    env.run(&["start", "CSM-1", "--dry-run"]).ok();
}
