//! `csm auth`: the token in the OS keyring, never shown anywhere.

use std::path::Path;
use std::process::Command;

use crate::support::env::TestEnv;

const TOKEN: &str = "tok-UNIQUE-7f3a9c1e-never-print-me";

fn jira_env() -> TestEnv {
    let env = TestEnv::new();
    env.write_user_config(
        "[tracker]\nkind = \"jira\"\n[jira]\nurl = \"https://example.atlassian.net\"\nemail = \"me@example.com\"\n",
    );
    env
}

#[test]
fn status_without_token_fails_with_auth_code_and_hint() {
    let env = jira_env();
    let run = env.run(&["auth", "status"]).fails_with(4);
    assert!(run.stdout.contains("token:  none"), "{}", run.stdout);
    assert!(run.stderr.contains("csm auth login"), "{}", run.stderr);
}

#[test]
fn login_without_keyring_names_the_alternatives_and_saves_nothing() {
    let env = jira_env();
    let run = env.run_with_stdin(&["auth", "login", "--with-token"], TOKEN);
    assert_eq!(run.code, 4, "{run:?}");
    assert!(
        run.stderr.contains("no OS keyring is reachable"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("CSM_JIRA_TOKEN"), "{}", run.stderr);
    assert!(run.stderr.contains("token_command"), "{}", run.stderr);
    assert!(!run.stderr.contains(TOKEN) && !run.stdout.contains(TOKEN));
}

#[test]
fn environment_token_is_reported_by_name_not_value() {
    let mut env = jira_env();
    env.set_env("JIRA_API_TOKEN", TOKEN);
    let run = env.run(&["auth", "status", "--json"]).ok();
    let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["token_source"], "environment variable JIRA_API_TOKEN");
    assert!(!run.stdout.contains(TOKEN));
    // CSM_JIRA_TOKEN wins over JIRA_API_TOKEN.
    env.set_env("CSM_JIRA_TOKEN", "other");
    let run = env.run(&["auth", "status", "--json"]).ok();
    assert!(run.stdout.contains("CSM_JIRA_TOKEN"));
}

#[test]
fn token_command_runs_without_shell() {
    let env = jira_env();
    let script = env.root().join("bin/token");
    crate::support::env::write_script(&script, &format!("echo {TOKEN}"));
    env.write_user_config(&format!(
        "[tracker]\nkind = \"jira\"\n[jira]\nurl = \"https://example.atlassian.net\"\ntoken_command = [\"{}\"]\n",
        script.display()
    ));
    let run = env.run(&["auth", "status"]).ok();
    assert!(
        run.stdout.contains("found (token_command)"),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains(TOKEN));
}

#[test]
fn login_needs_a_site() {
    let env = TestEnv::new();
    let run = env.run(&["auth", "status"]).fails_with(2);
    assert!(run.stderr.contains("no Jira site is configured"));
    assert!(run.stderr.contains("--site"));
}

/// Runs login, status, logout and status again as four separate csm
/// processes inside one private D-Bus session with an unlocked
/// gnome-keyring: the real Secret Service, as on a desktop.
#[test]
fn secret_service_login_status_logout_across_processes() {
    for tool in ["dbus-run-session", "gnome-keyring-daemon"] {
        assert!(
            Command::new("sh")
                .args(["-c", &format!("command -v {tool}")])
                .output()
                .is_ok_and(|o| o.status.success()),
            "{tool} is missing: install the Debian packages gnome-keyring and dbus (bash .ci/run does)"
        );
    }
    let mut env = jira_env();
    env.remove_env("CSM_KEYRING");
    env.set_env("CSM_TEST_TOKEN", TOKEN);
    let out = env.root().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let csm = env!("CARGO_BIN_EXE_csm");
    let script = format!(
        r#"printf pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1
step() {{ name=$1; shift; "$@" >"{out}/$name.out" 2>"{out}/$name.err" </dev/null; echo $? >"{out}/$name.code"; }}
printf %s "$CSM_TEST_TOKEN" | "{csm}" -vv auth login --with-token --no-check >"{out}/login.out" 2>"{out}/login.err"; echo $? >"{out}/login.code"
unset CSM_TEST_TOKEN
step status "{csm}" -vv auth status
step doctor "{csm}" -vv doctor
step logout "{csm}" -vv auth logout
step status2 "{csm}" auth status
"#,
        out = out.display()
    );
    let status = Command::new("timeout")
        .args(["60", "dbus-run-session", "--", "sh", "-c", &script])
        .current_dir(env.work())
        .env_clear()
        .envs(env.env_vars())
        .status()
        .unwrap();
    assert!(status.success(), "the D-Bus session script failed");
    let read = |name: &str| std::fs::read_to_string(out.join(name)).unwrap_or_default();
    let code = |name: &str| read(&format!("{name}.code")).trim().to_string();
    assert_eq!(code("login"), "0", "login: {}", read("login.err"));
    assert!(read("login.err").contains("Saved the token"));
    assert_eq!(code("status"), "0", "status: {}", read("status.err"));
    assert!(
        read("status.out").contains("found (OS keyring)"),
        "{}",
        read("status.out")
    );
    assert_eq!(code("logout"), "0", "logout: {}", read("logout.err"));
    assert_eq!(
        code("status2"),
        "4",
        "status after logout: {}",
        read("status2.out")
    );

    assert!(
        read("doctor.out")
            .contains("ok   credentials: token for me@example.com from the OS keyring"),
        "{}",
        read("doctor.out")
    );
    assert!(
        env.store_file().exists(),
        "doctor should have made the store"
    );
    // The token appears nowhere: not in any output, config, log or store.
    let mut places = vec![out.clone()];
    places.push(env.home());
    for place in places {
        assert_token_absent(&place);
    }
}

fn assert_token_absent(dir: &Path) {
    for entry in walk(dir) {
        // The keyring's own file holds it encrypted; look at everything else.
        if entry.components().any(|c| c.as_os_str() == "keyrings") {
            continue;
        }
        let bytes = std::fs::read(&entry).unwrap_or_default();
        let found = bytes.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes());
        assert!(!found, "the token was found in {}", entry.display());
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else if p.is_file() {
            out.push(p);
        }
    }
    out
}
