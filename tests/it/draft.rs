//! `csm draft-ticket` end to end: the real pinned Codex against the mock
//! model (which answers with drafts), the fake Jira and the local tracker;
//! review in a tmux terminal, with an editor script.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::env::{Run, TestEnv, write_script};
use crate::support::fake_jira::{FakeJira, Mode, TOKEN, is_valid_adf};
use crate::support::mock_model::{MockModel, codex_bin};
use crate::support::tmux::Tmux;

const CODEX: Duration = Duration::from_secs(60);

/// A draft as the model answers it.
fn answer(summary: &str, criteria: &[&str]) -> String {
    json!({
        "summary": summary,
        "description": "People keep their sessions in spreadsheets.",
        "acceptance_criteria": criteria,
        "definition_of_done": ["tests in tests/it/list.rs"],
        "out_of_scope": ["importing CSV"],
        "open_questions": [],
    })
    .to_string()
}

const CRITERIA: &[&str] = &[
    "`csm list --csv` prints a header row `key,status,folder`",
    "`csm list --csv` prints one row per session",
    "`csm list --csv --json` exits 2 and prints `error: --csv and --json exclude each other`",
];

/// An environment with Codex pointed at the mock.
fn codex_env(model: &MockModel) -> TestEnv {
    let mut env = TestEnv::new();
    model.write_codex_config(&env.codex_home(), "");
    env.set_env("CSM_CODEX_BIN", codex_bin());
    for (k, v) in MockModel::hermetic_env() {
        env.set_env(k, v);
    }
    env
}

/// The same, with the fake Jira (Cloud) as the tracker.
fn jira_env(model: &MockModel, fake: &FakeJira) -> TestEnv {
    let mut env = codex_env(model);
    env.write_user_config(&fake.csm_config("PROJ"));
    env.set_env("CSM_JIRA_TOKEN", TOKEN);
    env
}

fn writes(fake: &FakeJira) -> Vec<String> {
    fake.requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .map(|r| format!("{} {}", r.method, r.uri))
        .collect()
}

/// Criteria from an ADF document: valid ADF, read back as Markdown.
fn adf_criteria(doc: &Value) -> Vec<String> {
    assert!(is_valid_adf(doc), "not valid ADF: {doc}");
    csm::tracker::markdown::criteria(&csm::tracker::jira::adf::to_markdown(doc))
}

/// The raw-answer path named in a hint.
fn kept_file(run: &Run) -> std::path::PathBuf {
    let line = run
        .stderr
        .lines()
        .find(|l| l.starts_with("hint: the raw answer is kept in "))
        .unwrap_or_else(|| panic!("no path printed:\n{}", run.stderr));
    line.trim_start_matches("hint: the raw answer is kept in ")
        .into()
}

#[test]
fn an_idea_becomes_a_jira_issue_after_one_revision() {
    let model = MockModel::start();
    let fake = FakeJira::start(Mode::Cloud);
    let env = jira_env(&model, &fake);
    // The first draft has a vague criterion; the lint sends it back once.
    model.push_text(&answer(
        "Export sessions as CSV",
        &[CRITERIA[0], "Improve performance of the export"],
    ));
    model.push_text(&answer("Export sessions as CSV", CRITERIA));

    let run = env
        .run(&["draft-ticket", "Let people export sessions as CSV", "--yes"])
        .ok();
    assert_eq!(run.stdout, "PROJ-1\n", "{}", run.stderr);
    assert!(
        run.stderr
            .contains("The readiness lint found 1 problem in the draft; Codex revises it once."),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("Readiness: ready."), "{}", run.stderr);

    let turns = model.wait_for_turns(2, CODEX);
    let first = &turns[0];
    assert_eq!(first.body["text"]["format"]["type"], "json_schema");
    let schema: Value = serde_json::from_str(csm::draft::SCHEMA).unwrap();
    assert_eq!(first.body["text"]["format"]["schema"], schema);
    let prompt = first.texts("user").join("\n");
    assert!(
        prompt.contains("<idea>\nLet people export sessions as CSV\n</idea>"),
        "{prompt}"
    );
    assert!(
        first.text().contains(r#"\"sandbox_mode\":\"read-only\""#),
        "Codex did not run read-only"
    );
    // The revision continues the same Codex session, still read-only,
    // with the findings.
    assert!(
        turns[1]
            .text()
            .contains(r#"\"sandbox_mode\":\"read-only\""#),
        "the revision did not run read-only"
    );
    assert_eq!(
        turns[1].headers.get("session-id"),
        first.headers.get("session-id")
    );
    let revision = turns[1].texts("user").join("\n");
    assert!(
        revision.contains(
            "- criterion 2 \"Improve performance of the export\" uses \"improve\" without a measurable target"
        ),
        "{revision}"
    );

    // Exactly the drafted criteria, in the AC field, as valid ADF.
    let issue = fake.issue("PROJ-1").unwrap();
    assert_eq!(issue.summary, "Export sessions as CSV");
    assert_eq!(issue.issue_type, "Story");
    assert_eq!(adf_criteria(&issue.ac), CRITERIA);
    assert!(is_valid_adf(&issue.description));
    let description = csm::tracker::jira::adf::to_markdown(&issue.description);
    assert!(
        description.contains("## Definition of done") && description.contains("importing CSV"),
        "{description}"
    );
    assert!(
        !description.to_lowercase().contains("acceptance criteria"),
        "{description}"
    );
    let posts: Vec<String> = writes(&fake);
    assert_eq!(posts, vec!["POST /rest/api/3/issue"]);
}

#[test]
fn without_the_field_the_criteria_are_a_description_section() {
    let model = MockModel::start();
    let fake = FakeJira::start(Mode::Cloud);
    let env = jira_env(&model, &fake);
    model.push_text(&answer("Export sessions as CSV", CRITERIA));
    let run = env
        .run(&[
            "draft-ticket",
            "Let people export sessions as CSV",
            "--project",
            "NOAC",
            "--type",
            "Task",
            "--yes",
        ])
        .ok();
    assert_eq!(run.stdout, "NOAC-1\n", "{}", run.stderr);
    let issue = fake.issue("NOAC-1").unwrap();
    assert!(issue.ac.is_null());
    assert_eq!(issue.issue_type, "Task");
    assert!(is_valid_adf(&issue.description), "{}", issue.description);
    let description = csm::tracker::jira::adf::to_markdown(&issue.description);
    let (rest, criteria) = csm::tracker::markdown::split_criteria_section(&description)
        .unwrap_or_else(|| panic!("no criteria section:\n{description}"));
    assert_eq!(criteria, CRITERIA);
    assert!(rest.contains("## Out of scope"), "{rest}");
    // And csm reads them back as the ticket's criteria.
    let shown = env.run(&["ticket", "show", "NOAC-1", "--json"]).ok();
    let shown: Value = serde_json::from_str(&shown.stdout).unwrap();
    assert_eq!(shown["acceptance_criteria"], json!(CRITERIA));
}

#[test]
fn unusable_answers_are_kept_and_nothing_is_written() {
    let model = MockModel::start();
    let fake = FakeJira::start(Mode::Cloud);
    let env = jira_env(&model, &fake);
    let mut missing: Value = serde_json::from_str(&answer("S", CRITERIA)).unwrap();
    missing
        .as_object_mut()
        .unwrap()
        .remove("acceptance_criteria");
    let cases = [
        (missing.to_string(), "missing field `acceptance_criteria`"),
        ("Sure! Here is the ticket.".to_string(), "is not JSON"),
        (String::new(), "Codex gave an empty answer"),
    ];
    for (reply, expected) in cases {
        model.push_text(&reply);
        let run = env.run(&["draft-ticket", "Export sessions", "--yes"]);
        let run = run.fails_with(1);
        let first = run.stderr.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("error: ") && first.contains(expected),
            "{}",
            run.stderr
        );
        assert!(first.ends_with("nothing was written"), "{first}");
        let kept = kept_file(&run);
        assert!(
            kept.starts_with(env.home().join(".local/state/csm/drafts")),
            "{}",
            kept.display()
        );
        assert_eq!(std::fs::read_to_string(&kept).unwrap().trim(), reply.trim());
    }
    // A valid but empty draft, still empty after the revision.
    model.push_text(&answer("Export sessions", &[]));
    model.push_text(&answer("Export sessions", &[" "]));
    let run = env.run(&["draft-ticket", "Export sessions", "--yes"]);
    let run = run.fails_with(1);
    assert!(
        run.stderr
            .contains("\nerror: the draft has no acceptance criteria: nothing was written\n"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("Readiness: not ready (1 finding):\n  - it has no acceptance criteria"),
        "{}",
        run.stderr
    );
    assert!(writes(&fake).is_empty(), "{:?}", writes(&fake));
}

#[test]
fn bad_input_is_refused_before_codex_runs() {
    let model = MockModel::start();
    let fake = FakeJira::start(Mode::Cloud);
    let env = jira_env(&model, &fake);
    // No terminal to review on, and no --yes.
    let run = env.run(&["draft-ticket", "Export sessions"]).fails_with(2);
    insta::assert_snapshot!(run.stderr, @r"
    error: cannot review the draft: standard input is not a terminal
    hint: pass --yes to accept the draft without review, or run csm in a terminal
    ");
    let run = env.run_with_stdin(&["draft-ticket", "--yes"], "  \n");
    let run = run.fails_with(2);
    assert!(
        run.stderr.starts_with("error: the idea is empty"),
        "{}",
        run.stderr
    );
    let run = env
        .run(&["draft-ticket", "PROJ-1", "--project", "X", "--yes"])
        .fails_with(2);
    assert!(
        run.stderr
            .contains("--project and --type are for new tickets")
    );
    let run = env
        .run(&[
            "draft-ticket",
            "x",
            "-s",
            "sandbox=workspace-write",
            "--yes",
        ])
        .fails_with(2);
    assert!(run.stderr.contains("read-only"), "{}", run.stderr);
    let run = env
        .run(&["draft-ticket", "-f", "no-such-file.txt", "--yes"])
        .fails_with(2);
    assert!(
        run.stderr
            .starts_with("error: cannot read no-such-file.txt"),
        "{}",
        run.stderr
    );
    let run = env.run(&["draft-ticket", "PROJ-9", "--yes"]).fails_with(3);
    assert!(run.stderr.contains("PROJ-9"), "{}", run.stderr);
    assert!(model.received().is_empty(), "Codex was asked");
    assert!(writes(&fake).is_empty());
}

fn csm_line(tmux: &Tmux, env: &TestEnv, args: &str) {
    tmux.line(&format!(
        "clear; cd '{}' && '{}' {args}; printf 'CSM-%s %s\\n' EXITED $?",
        env.work().display(),
        env!("CARGO_BIN_EXE_csm")
    ));
}

fn wait_prompt(tmux: &Tmux, n: usize) -> String {
    tmux.wait_for_within("the review prompt", CODEX, |s| {
        s.matches("[a]ccept, [e]dit, [r]eject:").count() >= n
    })
}

fn wait_exit(tmux: &Tmux) -> String {
    tmux.wait_for_within("csm to exit", CODEX, |s| s.contains("CSM-EXITED"))
}

#[test]
fn an_existing_ticket_changes_only_after_acceptance() {
    let model = MockModel::start();
    let fake = FakeJira::start(Mode::Cloud);
    let mut env = jira_env(&model, &fake);
    fake.add_issue(
        "PROJ-1",
        "Export sessions as CSV",
        "Users want a spreadsheet.",
        &["works", "`csm list --csv` prints one row per session"],
    );
    let editor = env.root().join("bin/editor");
    write_script(
        &editor,
        "sed -i 's/prints one row per session/prints one row per stored session/' \"$1\"",
    );
    env.set_env("EDITOR", &editor);
    env.set_env("TERM", "xterm-256color");
    let tmux = env.terminal(160, 50);

    // Rejected: the ticket is read, never written.
    model.push_text(&answer("Export sessions as CSV", CRITERIA));
    csm_line(&tmux, &env, "draft-ticket PROJ-1");
    let screen = wait_prompt(&tmux, 1);
    assert!(
        screen.contains("Replace the acceptance criteria of PROJ-1?"),
        "{screen}"
    );
    assert!(screen.contains("  - works"), "{screen}");
    assert!(
        screen.contains("    `csm list --csv` prints one row per session"),
        "{screen}"
    );
    assert!(screen.contains(&format!("  + {}", CRITERIA[0])), "{screen}");
    tmux.line("r");
    let screen = wait_exit(&tmux);
    assert!(
        screen.contains("error: the draft was rejected: nothing was written"),
        "{screen}"
    );
    assert!(screen.contains("CSM-EXITED 1"), "{screen}");
    assert!(writes(&fake).is_empty(), "{:?}", writes(&fake));
    let prompt = model.turns()[0].texts("user").join("\n");
    assert!(
        prompt.contains("Rewrite the acceptance criteria of ticket PROJ-1: Export sessions as CSV"),
        "{prompt}"
    );
    assert!(prompt.contains("1. works"), "{prompt}");

    // Edited, then accepted: the edited criteria replace the old ones.
    model.push_text(&answer("Export sessions as CSV", CRITERIA));
    csm_line(&tmux, &env, "draft-ticket PROJ-1");
    wait_prompt(&tmux, 1);
    tmux.line("e");
    let screen = wait_prompt(&tmux, 2);
    assert!(
        screen.contains("prints one row per stored session"),
        "{screen}"
    );
    assert!(writes(&fake).is_empty(), "written before acceptance");
    tmux.line("a");
    let screen = wait_exit(&tmux);
    assert!(screen.contains("CSM-EXITED 0"), "{screen}");
    assert!(
        screen.contains("Replaced the acceptance criteria of PROJ-1 (2 → 3 criteria)."),
        "{screen}"
    );
    assert_eq!(writes(&fake), vec!["PUT /rest/api/3/issue/PROJ-1"]);
    let issue = fake.issue("PROJ-1").unwrap();
    let expected: Vec<String> = CRITERIA
        .iter()
        .map(|c| {
            c.replace(
                "prints one row per session",
                "prints one row per stored session",
            )
        })
        .collect();
    assert_eq!(adf_criteria(&issue.ac), expected);
    assert_eq!(issue.summary, "Export sessions as CSV");
}

#[test]
fn works_with_the_local_tracker() {
    let model = MockModel::start();
    let env = codex_env(&model);
    std::fs::write(env.work().join(".csm.toml"), "").unwrap();
    std::fs::write(
        env.work().join("idea.txt"),
        "Let people export their sessions as CSV.\n",
    )
    .unwrap();
    model.push_text(&answer("Export sessions as CSV", CRITERIA));
    let run = env.run(&["draft-ticket", "-f", "idea.txt", "--yes"]).ok();
    assert_eq!(run.stdout, "CSM-1\n", "{}", run.stderr);
    let prompt = model.wait_for_turns(1, CODEX)[0].texts("user").join("\n");
    assert!(
        prompt.contains("Let people export their sessions as CSV."),
        "{prompt}"
    );
    let shown: Value =
        serde_json::from_str(&env.run(&["ticket", "show", "CSM-1", "--json"]).ok().stdout).unwrap();
    assert_eq!(shown["acceptance_criteria"], json!(CRITERIA));
    assert_eq!(shown["summary"], "Export sessions as CSV");
    assert!(
        shown["description"]
            .as_str()
            .unwrap()
            .contains("## Definition of done\n\n- tests in tests/it/list.rs"),
        "{shown}"
    );
    env.run(&["lint", "CSM-1"]).ok();

    // The idea on standard input; then new criteria for that ticket.
    model.push_text(&answer(
        "Import sessions from CSV",
        &["`csm import x.csv` prints `1 session imported`"],
    ));
    let run = env
        .run_with_stdin(&["draft-ticket", "--yes"], "Import sessions from CSV")
        .ok();
    assert_eq!(run.stdout, "CSM-2\n", "{}", run.stderr);
    let new = ["`csm list --csv` prints `key,status` as its first line"];
    model.push_text(&answer("ignored", &new));
    let run = env.run(&["draft-ticket", "CSM-1", "--yes"]).ok();
    assert_eq!(run.stdout, "CSM-1\n", "{}", run.stderr);
    let shown: Value =
        serde_json::from_str(&env.run(&["ticket", "show", "CSM-1", "--json"]).ok().stdout).unwrap();
    assert_eq!(shown["acceptance_criteria"], json!(new));
    assert_eq!(shown["summary"], "Export sessions as CSV", "summary kept");
}
