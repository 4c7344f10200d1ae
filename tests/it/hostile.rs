//! Hostile ticket text: escape sequences (OSC 52 clipboard, title change,
//! CSI cursor moves), bidi controls and NUL in summaries, descriptions and
//! comments never reach the user's terminal through csm's output, and reach
//! Codex's prompt as text without control sequences; a 1 MB description is
//! cut with a marker; keys that would escape the tickets folder or smuggle
//! JQL are refused.

use serde_json::Value;

use crate::support::env::TestEnv;
use crate::support::fake_jira::{FakeJira, Mode, TOKEN};
use crate::support::mock_model::codex_bin;

const EVIL: &str = "Fix\u{1b}]52;c;cm0gLXJmIH4=\u{7} it\u{1b}]0;pwned\u{7}\u{1b}[2J\u{1b}[1;1H now\u{202e}dlrow\u{0}!";

fn assert_clean(text: &str, what: &str) {
    for bad in ['\u{1b}', '\u{7}', '\u{202e}', '\u{0}', '\u{9b}'] {
        assert!(
            !text.contains(bad),
            "{what} printed a control character {bad:?}: {text:?}"
        );
    }
}

fn jira_env(fake: &FakeJira) -> TestEnv {
    let mut env = TestEnv::new();
    env.write_user_config(&fake.csm_config("PROJ"));
    env.set_env("CSM_JIRA_TOKEN", TOKEN);
    env.set_env("CSM_CODEX_BIN", codex_bin());
    env
}

#[test]
fn ticket_text_cannot_take_over_the_terminal() {
    let fake = FakeJira::start(Mode::Cloud);
    fake.add_issue(
        "PROJ-1",
        EVIL,
        &format!("Body {EVIL}"),
        &[EVIL, "prints plain text"],
    );
    let env = jira_env(&fake);
    // An argument cannot hold NUL; everything else goes in.
    let evil_arg = EVIL.replace('\u{0}', "");
    env.run(&["ticket", "comment", "PROJ-1", &evil_arg]).ok();

    let show = env.run(&["ticket", "show", "PROJ-1"]).ok();
    assert_clean(&show.stdout, "ticket show");
    assert!(show.stdout.contains("Fix it now"), "{}", show.stdout);
    let json = env.run(&["ticket", "show", "PROJ-1", "--json"]).ok();
    // JSON escapes control characters; a consumer gets them as data.
    assert_clean(&json.stdout, "ticket show --json");
    let _: Value = serde_json::from_str(&json.stdout).unwrap();

    let list = env.run(&["ticket", "list"]).ok();
    assert_clean(&list.stdout, "ticket list");

    // The prompt keeps the words and drops the sequences.
    let dry = env.run(&["start", "PROJ-1", "--dry-run"]).ok();
    assert_clean(&dry.stdout, "start --dry-run");
    assert!(dry.stdout.contains("PROJ-1: Fix it now"), "{}", dry.stdout);
    assert!(dry.stdout.contains("1. Fix it now"), "{}", dry.stdout);

    // Errors quoting ticket text are cleaned too.
    let run = env
        .run(&["ticket", "move", "PROJ-1", &evil_arg])
        .fails_with(1);
    assert_clean(&run.stderr, "ticket move error");
}

#[test]
fn a_huge_description_is_cut_with_a_marker() {
    let fake = FakeJira::start(Mode::Cloud);
    let huge = "word ".repeat(200_000);
    fake.add_issue("PROJ-1", "Huge", &huge, &["prints CSV"]);
    let env = jira_env(&fake);
    let dry = env.run(&["start", "PROJ-1", "--dry-run"]).ok();
    assert!(dry.stdout.contains("truncated by csm"), "no marker");
    assert!(dry.stdout.len() < 100_000, "{} bytes", dry.stdout.len());
}

#[test]
fn keys_that_escape_the_folder_or_smuggle_queries_are_refused() {
    let env = TestEnv::new();
    std::fs::write(env.work().join(".csm.toml"), "").unwrap();
    env.run(&["ticket", "new", "One", "--ac", "x"]).ok();
    let secret = env.root().join("secret.md");
    std::fs::write(&secret, "+++\nstatus = \"To Do\"\n+++\n# Secret\n").unwrap();
    for key in [
        "../secret",
        "CSM-1/../../secret",
        "/etc/passwd",
        "CSM-1 OR project = X",
        "CSM-1\") OR (\"1\"=\"1",
        "CSM-\u{1b}[2J1",
    ] {
        for args in [
            vec!["ticket", "show", key],
            vec!["start", key, "--dry-run"],
            vec!["done", key, "--dry-run"],
        ] {
            let run = env.run(&args).fails_with(2);
            assert!(
                run.stderr.starts_with("error: "),
                "{args:?}: {}",
                run.stderr
            );
            assert_eq!(
                run.stderr
                    .lines()
                    .filter(|l| l.starts_with("error"))
                    .count(),
                1
            );
            assert_clean(&run.stderr, "a refused key");
        }
    }
    assert!(secret.exists());
}

#[test]
fn a_hostile_folder_is_refused() {
    let env = TestEnv::new();
    std::fs::write(env.work().join(".csm.toml"), "").unwrap();
    env.run(&["ticket", "new", "One", "--ac", "x"]).ok();
    let run = env
        .run(&[
            "start",
            "CSM-1",
            "--dry-run",
            "--folder",
            "no/such/../../place",
        ])
        .fails_with(2);
    assert!(run.stderr.contains("is not a folder"), "{}", run.stderr);
}
