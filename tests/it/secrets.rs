//! The secrets audit: a whole start → resume → done cycle at `-vv`
//! against the fake Jira, with the real Codex behind a wrapper that
//! records its argv and environment; then every output, log, database,
//! config file, the Codex child's argv and environment, and all of
//! CODEX_HOME are searched for the token, raw and as a Basic credential.

use std::path::Path;

use crate::start_resume::{CODEX_START, csm_line, quit_codex};
use crate::support::env::{TestEnv, write_script};
use crate::support::fake_jira::{EMAIL, FakeJira, Mode, TOKEN};
use crate::support::mock_model::{MockModel, codex_bin};

fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files(&p));
        } else if p.is_file() {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_full_cycle_at_debug_level_leaks_the_token_nowhere() {
    let fake = FakeJira::start(Mode::Cloud);
    fake.add_issue(
        "PROJ-1",
        "Export sessions as CSV",
        "Users want a spreadsheet.",
        &["csm list --csv prints CSV"],
    );
    let mut env = TestEnv::new();
    let model = MockModel::start();
    // The work folder is a git repository: trusted, or Codex asks first.
    let work = std::fs::canonicalize(env.work()).unwrap();
    model.write_codex_config(
        &env.codex_home(),
        &format!(
            "[projects.\"{}\"]\ntrust_level = \"trusted\"\n",
            work.display()
        ),
    );
    let calls = recording_codex(&mut env);
    env.set_env("CSM_JIRA_TOKEN", TOKEN);
    for (k, v) in MockModel::hermetic_env() {
        env.set_env(k, v);
    }
    env.set_env("TERM", "xterm-256color");
    env.write_user_config(&format!(
        "{}[codex]\nargs = [\"--no-daemon\"]\n",
        fake.csm_config("PROJ")
    ));
    let git = |args: &[&str]| {
        let ok = std::process::Command::new("git")
            .arg("-C")
            .arg(env.work())
            .args([
                "-c",
                "user.name=D",
                "-c",
                "user.email=d@e",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .status()
            .unwrap();
        assert!(ok.success());
    };
    git(&["init", "-q", "-b", "main"]);
    std::fs::write(env.work().join("a.txt"), "a").unwrap();
    git(&["add", "."]);
    git(&["commit", "-qm", "first"]);

    let tmux = env.terminal(120, 40);
    let mut screens = Vec::new();
    model.push_text("Plan: add a --csv flag.");
    csm_line(&tmux, env.work(), "-vv start PROJ-1");
    tmux.wait_for_within("the answer", CODEX_START, |s| {
        s.contains("Plan: add a --csv")
    });
    quit_codex(&tmux);
    screens.push(tmux.screen());

    fake.edit("PROJ-1", |i| {
        i.summary = "Export sessions as CSV files".into()
    });
    model.push_text("Resumed.");
    tmux.line("clear");
    csm_line(&tmux, env.work(), "-vv resume PROJ-1");
    tmux.wait_for_within("the resumed answer", CODEX_START, |s| {
        s.contains("Resumed.")
    });
    quit_codex(&tmux);
    screens.push(tmux.screen());

    model.push_text(
        r#"{"summary":"Added --csv.","criteria":[{"number":1,"status":"met","evidence":"test csv passes"}]}"#,
    );
    let done = env.run(&["-vv", "done", "PROJ-1"]).ok();
    assert_eq!(fake.issue("PROJ-1").unwrap().status, "Done");
    assert!(
        done.stderr.contains("DEBUG") || done.stderr.contains("debug"),
        "debug logging was on: {}",
        done.stderr
    );

    let basic = base64(format!("{EMAIL}:{TOKEN}").as_bytes());
    let needles = [TOKEN.to_string(), basic];
    let texts = screens
        .iter()
        .chain([&done.stdout, &done.stderr])
        .cloned()
        .collect::<Vec<_>>();
    audit(&env, &texts, &needles, &calls, "CSM_JIRA_TOKEN");
}

/// Puts the real Codex behind a wrapper that writes down its argv and
/// environment at every run; returns the file it writes to.
pub(crate) fn recording_codex(env: &mut TestEnv) -> std::path::PathBuf {
    let calls = env.root().join("codex-calls.txt");
    let wrapper = env.root().join("bin/codex");
    write_script(
        &wrapper,
        &format!(
            "{{ echo \"argv: $*\"; env; echo ---; }} >> '{}'\nexec '{}' \"$@\"",
            calls.display(),
            codex_bin().display()
        ),
    );
    env.set_env("CSM_CODEX_BIN", &wrapper);
    calls
}

/// Searches every text printed and every file under the test's root (the
/// store, the logs, CODEX_HOME, the recorded Codex argv and environment)
/// for each needle; checks that the recorded Codex runs (at least three:
/// start, resume, the report) never had the variable `token_var`.
pub(crate) fn audit(
    env: &TestEnv,
    texts: &[String],
    needles: &[String],
    calls: &Path,
    token_var: &str,
) {
    for needle in needles {
        for text in texts {
            assert!(
                !text.contains(needle.as_str()),
                "the token was printed:\n{text}"
            );
        }
        for file in files(env.root()) {
            let bytes = std::fs::read(&file).unwrap_or_default();
            let found = bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
            assert!(
                !found,
                "the token is in {}:\n{}",
                file.display(),
                String::from_utf8_lossy(&bytes)
                    .lines()
                    .filter(|l| l.contains(needle.as_str()) || l.starts_with("argv"))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }
    // The wrapper saw three Codex runs (start, resume, the report), none
    // with the token's variable.
    let seen = std::fs::read_to_string(calls).unwrap();
    assert!(seen.matches("argv: ").count() >= 3, "{seen}");
    assert!(!seen.contains(token_var), "{seen}");
    // The store, the logs and CODEX_HOME were among the files searched.
    let all: Vec<String> = files(env.root())
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    assert!(all.iter().any(|p| p.ends_with("csm.db")), "{all:?}");
    assert!(all.iter().any(|p| p.contains("/logs/")), "{all:?}");
    assert!(all.iter().any(|p| p.contains("/sessions/")), "{all:?}");
}
