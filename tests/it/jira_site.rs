//! Jira as sites really are, against the fake over HTTP: scoped tokens
//! through the API gateway, workflows several steps long, moved tickets,
//! a search that lags, and the hint of a rejected token per token source.

use std::sync::Arc;

use csm::store::Store;
use serde_json::Value;

use crate::support::env::{TestEnv, write_script};
use crate::support::fake_jira::{CLOUD_ID, EMAIL, FakeJira, Mode, SCOPED_TOKEN, TOKEN};

/// csm against the fake (Cloud), with `token`, the gateway on the fake, and
/// a stand-in `codex` that exits at once.
fn site_env(fake: &FakeJira, token: &str) -> TestEnv {
    let mut env = TestEnv::new();
    env.write_user_config(&fake.csm_config("PROJ"));
    env.set_env("CSM_JIRA_TOKEN", token);
    env.set_env("CSM_JIRA_GATEWAY_URL", fake.gateway_url());
    let codex = env.root().join("bin/codex");
    // Asked about a thread (`migrate-rollouts --json --thread=ID`), it
    // answers as Codex does for one it does not know.
    write_script(
        &codex,
        "case \"$1\" in migrate-rollouts) echo '{\"outcomes\": []}' ;; *) echo 'codex-cli 0.169.0' ;; esac",
    );
    env.set_env("CSM_CODEX_BIN", &codex);
    env.set_env("OPENAI_API_KEY", "sk-test");
    env
}

/// A criterion the readiness lint accepts.
const READY: &str = "`csm list --csv` prints one CSV row per session";

fn api_paths(fake: &FakeJira) -> Vec<String> {
    fake.requests()
        .into_iter()
        .filter(|r| r.uri.contains("/rest/api/"))
        .map(|r| format!("{} {}", r.method, r.uri))
        .collect()
}

#[test]
fn a_scoped_token_reads_and_writes_through_the_gateway() {
    let fake = FakeJira::start(Mode::Cloud);
    fake.add_issue("PROJ-1", "Scoped", "", &["a"]);
    let env = site_env(&fake, SCOPED_TOKEN);
    let show = env.run(&["ticket", "show", "PROJ-1", "--json"]).ok();
    let doc: Value = serde_json::from_str(&show.stdout).unwrap();
    // What the user sees stays on the site.
    assert_eq!(doc["url"], format!("{}/browse/PROJ-1", fake.url()));
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.uri == "/_edge/tenant_info" && !r.headers.contains_key("authorization")),
        "the cloud id is read without credentials"
    );
    let gateway = fake.gateway_path();
    assert!(gateway.contains(CLOUD_ID));
    assert!(
        api_paths(&fake)
            .iter()
            .any(|p| p.starts_with(&format!("GET {gateway}issue/PROJ-1"))),
        "{:?}",
        api_paths(&fake)
    );

    // Remembered for the site: the next commands go straight there.
    fake.clear_requests();
    env.run(&["ticket", "move", "PROJ-1", "In Progress"]).ok();
    env.run(&["ticket", "comment", "PROJ-1", "Through the gateway"])
        .ok();
    assert_eq!(fake.issue("PROJ-1").unwrap().status, "In Progress");
    assert_eq!(fake.issue("PROJ-1").unwrap().comments.len(), 1);
    let paths = api_paths(&fake);
    assert!(
        paths.iter().all(|p| p.contains(&gateway)),
        "every request through the gateway: {paths:?}"
    );
    assert!(paths.contains(&format!("POST {gateway}issue/PROJ-1/transitions")));
    assert!(paths.contains(&format!("POST {gateway}issue/PROJ-1/comment")));

    // auth status and doctor say which kind of token and which way.
    let run = env.run(&["auth", "status", "--check", "--json"]).ok();
    let doc: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(doc["api"], "gateway");
    assert_eq!(doc["token_kind"], "scoped API token");
    let codex = env.root().join("bin/codex");
    assert!(codex.exists());
    let run = env.run(&["doctor"]);
    assert!(
        run.stdout
            .contains("signed in as Dev Tester (scoped API token, through the API gateway)"),
        "{}",
        run.stdout
    );
}

/// The gateway was remembered for the site, then the user went back to a
/// classic token the gateway refuses: the site takes it, and csm
/// remembers the site again.
#[test]
fn a_remembered_gateway_gives_way_to_the_site_for_a_classic_token() {
    let fake = FakeJira::start(Mode::Cloud);
    fake.add_issue("PROJ-1", "Back", "", &[READY]);
    let mut env = site_env(&fake, SCOPED_TOKEN);
    env.run(&["ticket", "show", "PROJ-1"]).ok();
    fake.set_gateway_scoped_only(true);
    env.set_env("CSM_JIRA_TOKEN", TOKEN);
    env.run(&["ticket", "show", "PROJ-1"]).ok();
    fake.clear_requests();
    env.run(&["ticket", "show", "PROJ-1"]).ok();
    let paths = api_paths(&fake);
    assert!(
        !paths.is_empty() && paths.iter().all(|p| !p.contains("/ex/jira/")),
        "{paths:?}"
    );
}

#[test]
fn a_classic_token_stays_on_the_site_and_the_route_can_be_pinned() {
    let fake = FakeJira::start(Mode::Cloud);
    fake.add_issue("PROJ-1", "Classic", "", &["a"]);
    let env = site_env(&fake, TOKEN);
    env.run(&["ticket", "move", "PROJ-1", "In Progress"]).ok();
    let paths = api_paths(&fake);
    assert!(
        paths.iter().all(|p| !p.contains("/ex/jira/")),
        "no gateway for a classic token: {paths:?}"
    );
    assert!(paths.contains(&"POST /rest/api/3/issue/PROJ-1/transitions".to_string()));
    assert!(
        !fake
            .requests()
            .iter()
            .any(|r| r.uri == "/_edge/tenant_info")
    );
    let run = env.run(&["doctor"]);
    assert!(
        run.stdout
            .contains("(classic API token, through the site's own URL)"),
        "{}",
        run.stdout
    );

    // `api = "gateway"` with the cloud id: no detour through the site.
    fake.clear_requests();
    env.write_user_config(&format!(
        "{}api = \"gateway\"\ncloud_id = \"{CLOUD_ID}\"\n",
        fake.csm_config("PROJ")
    ));
    env.run(&["ticket", "show", "PROJ-1"]).ok();
    let paths = api_paths(&fake);
    assert!(
        !paths.is_empty() && paths.iter().all(|p| p.contains(&fake.gateway_path())),
        "{paths:?}"
    );
    assert!(
        !fake
            .requests()
            .iter()
            .any(|r| r.uri == "/_edge/tenant_info")
    );
}

#[test]
fn ticket_move_walks_a_workflow_several_steps_long() {
    let fake = FakeJira::start(Mode::Cloud);
    fake.set_review_workflow();
    fake.add_issue("PROJ-1", "Walk", "", &["a"]);
    let env = site_env(&fake, TOKEN);
    let run = env.run(&["ticket", "move", "PROJ-1", "Done"]).ok();
    assert!(
        run.stderr
            .contains("PROJ-1 is now Done (through In Progress, In Review)."),
        "{}",
        run.stderr
    );
    assert_eq!(fake.issue("PROJ-1").unwrap().status, "Done");
    let moves = fake
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.uri.ends_with("/transitions"))
        .count();
    assert_eq!(moves, 3);

    // The only way on needs a field: stopped, named, nothing changed.
    fake.set_workflow(&[
        ("To Do", "11", "In Progress", &[]),
        ("In Progress", "21", "In Review", &["Reviewer"]),
        ("In Progress", "22", "To Do", &[]),
        ("In Review", "31", "Done", &[]),
    ]);
    fake.add_issue("PROJ-2", "Stuck", "", &["a"]);
    fake.edit("PROJ-2", |i| i.status = "In Progress".into());
    fake.clear_requests();
    let run = env.run(&["ticket", "move", "PROJ-2", "Done"]).fails_with(1);
    assert!(
        run.stderr.contains(
            "moving PROJ-2 to \"Done\" stopped at \"In Progress\": the step to \"In Review\" needs Reviewer"
        ),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("--status"), "{}", run.stderr);
    assert!(run.stderr.contains("done_path"), "{}", run.stderr);
    assert_eq!(fake.issue("PROJ-2").unwrap().status, "In Progress");
    assert!(
        !fake.requests().iter().any(|r| r.method == "POST"),
        "nothing written"
    );
}

/// `start OLD-7` records the session under the key Jira answers with, so
/// `start PROJ-5` finds it: one ticket, one session.
#[test]
fn an_old_key_and_the_new_one_are_one_session() {
    let fake = FakeJira::start(Mode::Cloud);
    fake.add_issue("OLD-7", "Moved here", "", &[READY]);
    fake.move_issue("OLD-7", "PROJ-6");
    let env = site_env(&fake, TOKEN);
    env.run(&["start", "old-7"]).ok();
    let store = Store::open(&env.store_file()).unwrap();
    let all = store.list_sessions(true).unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].ticket_key, "PROJ-6");
    assert!(
        fake.issue("PROJ-6")
            .unwrap()
            .properties
            .contains_key("csm.session")
    );
    store
        .set_codex_session_id(all[0].id, "019a0000-0000-7000-8000-00000000c0de")
        .unwrap();
    let run = env.run(&["start", "PROJ-6"]).fails_with(1);
    assert!(
        run.stderr.contains("PROJ-6 already has a session"),
        "{}",
        run.stderr
    );
    assert_eq!(store.list_sessions(true).unwrap().len(), 1);
    // `resume` by the old key finds the same session (whose Codex rollout
    // this test never made).
    let run = env.run(&["resume", "OLD-7"]).fails_with(3);
    assert!(
        run.stderr.contains("is not on this machine"),
        "{}",
        run.stderr
    );
}

/// A session recorded under a key Jira has since moved is found (through
/// the ticket's `csm.session` property) and re-keyed on the next read.
#[test]
fn a_session_under_a_key_since_moved_is_rekeyed() {
    let fake = FakeJira::start(Mode::Cloud);
    fake.add_issue("OLD-7", "Will move", "", &[READY]);
    let env = site_env(&fake, TOKEN);
    env.run(&["start", "OLD-7"]).ok();
    let store = Store::open(&env.store_file()).unwrap();
    let id = store.list_sessions(true).unwrap()[0].id;
    store
        .set_codex_session_id(id, "019a0000-0000-7000-8000-00000000beef")
        .unwrap();
    fake.move_issue("OLD-7", "PROJ-9");
    let run = env.run(&["start", "PROJ-9"]).fails_with(1);
    assert!(
        run.stderr.contains("PROJ-9 already has a session"),
        "{}",
        run.stderr
    );
    let all = store.list_sessions(true).unwrap();
    assert_eq!(
        all.iter()
            .map(|s| s.ticket_key.as_str())
            .collect::<Vec<_>>(),
        ["PROJ-9"]
    );
}

#[test]
fn list_right_after_start_shows_the_status_csm_set_while_search_lags() {
    let fake = FakeJira::start(Mode::Cloud);
    fake.add_issue("PROJ-1", "Lagging search", "", &[READY]);
    fake.add_issue("PROJ-2", "Missing from search", "", &[READY]);
    let env = site_env(&fake, TOKEN);
    fake.set_search_lag(true);
    env.run(&["start", "PROJ-1"]).ok();
    let run = env.run(&["list", "--json"]).ok();
    let rows: Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(rows[0]["key"], "PROJ-1");
    assert_eq!(rows[0]["ticket_status"], "In Progress");
    assert_eq!(rows[0]["ticket_offline"], false);
    assert!(
        fake.requests().iter().any(|r| r.uri.contains("search/jql")),
        "the list asked the site"
    );

    // A ticket csm moved a while ago, missing from a fresh search (someone
    // changed it since): its last known status, marked, never the snapshot
    // taken at the start shown as fresh.
    fake.set_search_lag(false);
    env.run(&["start", "PROJ-2"]).ok();
    let conn = rusqlite::Connection::open(env.store_file()).unwrap();
    conn.execute(
        "UPDATE cache SET value = json_set(value, '$.fetched_at', 0, '$.tickets.\"PROJ-2\".set_at', 0)
         WHERE key LIKE 'tickets:%'",
        [],
    )
    .unwrap();
    fake.hide_from_search("PROJ-2");
    let run = env.run(&["list"]).ok();
    let line = run
        .stdout
        .lines()
        .find(|l| l.starts_with("PROJ-2"))
        .unwrap_or_default()
        .to_string();
    assert!(line.contains("In Progress*"), "{}", run.stdout);
    assert!(
        run.stderr.contains("marked * are the last known"),
        "{}",
        run.stderr
    );
    let run = env.run(&["list", "--json"]).ok();
    let rows: Value = serde_json::from_str(&run.stdout).unwrap();
    let row = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "PROJ-2")
        .unwrap();
    assert_eq!(row["ticket_status"], "In Progress");
    assert_eq!(row["ticket_offline"], true);
}

#[test]
fn each_token_source_gets_its_own_hint_on_a_401() {
    let fake = FakeJira::start(Mode::Cloud);
    fake.add_issue("PROJ-1", "S", "", &["a"]);
    for var in ["CSM_JIRA_TOKEN", "JIRA_API_TOKEN"] {
        let mut env = site_env(&fake, "bad");
        env.remove_env("CSM_JIRA_TOKEN");
        env.set_env(var, "bad-token");
        let run = env.run(&["ticket", "show", "PROJ-1"]).fails_with(4);
        assert!(
            run.stderr.contains(&format!(
                "the token comes from the environment variable {var}, which csm reads before the keyring"
            )),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr
                .contains(&format!("put a valid token in {var}, or unset it")),
            "{}",
            run.stderr
        );
        // A Cloud site: the gateway was tried too, and the hint says so.
        assert!(run.stderr.contains("the API gateway"), "{}", run.stderr);
        assert!(
            fake.requests()
                .iter()
                .any(|r| r.uri.contains(&fake.gateway_path())),
            "the gateway was tried"
        );
    }

    let mut env = site_env(&fake, "bad");
    env.remove_env("CSM_JIRA_TOKEN");
    let script = env.root().join("bin/token");
    write_script(&script, "echo not-the-token");
    env.write_user_config(&format!(
        "{}token_command = [\"{}\"]\n",
        fake.csm_config("PROJ"),
        script.display()
    ));
    let run = env.run(&["ticket", "show", "PROJ-1"]).fails_with(4);
    assert!(
        run.stderr
            .contains("the token comes from [jira] token_command: run that command by hand"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_keyring_token_rejected_says_to_replace_it_with_auth_login() {
    use csm::credentials::{Account, Credentials, Secret};
    use csm::tracker::jira::{Auth, JiraSettings, JiraTracker, MemoryCache, RouteSettings};
    use csm::tracker::{TicketKey, Tracker};
    let fake = FakeJira::start(Mode::Cloud);
    fake.add_issue("PROJ-1", "S", "", &["a"]);
    let creds = Credentials::with_store(keyring_core::mock::Store::new().unwrap());
    let account = Account {
        site: fake.url(),
        user: EMAIL.into(),
    };
    creds
        .save(&account, &Secret::new("stale-keyring-token"))
        .unwrap();
    let (token, origin) = creds
        .resolve(&account, None, &|_: &str| None)
        .unwrap()
        .unwrap();
    let tracker = JiraTracker::new(
        JiraSettings {
            url: fake.url(),
            deployment: Some(csm::tracker::jira::Deployment::Cloud),
            ac_field: "Acceptance Criteria".into(),
            project: Some("PROJ".into()),
            limits: csm::tracker::jira::limits(5, 1),
        },
        Auth::Basic {
            email: EMAIL.into(),
            token,
        },
        Arc::new(MemoryCache::default()),
    )
    .unwrap()
    .with_route(RouteSettings {
        gateway_url: fake.gateway_url(),
        ..RouteSettings::default()
    })
    .unwrap()
    .with_token_source(origin);
    let err = tracker
        .get(&TicketKey::parse("PROJ-1").unwrap())
        .unwrap_err();
    let err = csm::command_error::CommandError::from(err);
    assert_eq!(err.kind.code(), 4);
    assert!(
        err.hints
            .iter()
            .any(|h| h == "the token comes from the OS keyring: replace it with `csm auth login`"),
        "{:?}",
        err.hints
    );
    assert!(
        err.hints.iter().any(|h| h.contains("the API gateway")),
        "{:?}",
        err.hints
    );
}

/// `csm auth login` with the real Secret Service (as in `auth.rs`) says
/// which kind of token and which way; a keyring token the site rejects
/// gets the keyring's own hint.
#[test]
fn login_says_the_token_kind_and_route_and_a_bad_keyring_token_its_fix() {
    let fake = FakeJira::start(Mode::Cloud);
    fake.add_issue("PROJ-1", "S", "", &[READY]);
    let mut env = site_env(&fake, "unused");
    env.remove_env("CSM_JIRA_TOKEN");
    env.remove_env("CSM_KEYRING");
    env.set_env("CSM_TEST_TOKEN", SCOPED_TOKEN);
    let out = env.root().join("out");
    std::fs::create_dir_all(&out).unwrap();
    let csm = env!("CARGO_BIN_EXE_csm");
    let script = format!(
        r#"printf pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null 2>&1
printf %s "$CSM_TEST_TOKEN" | "{csm}" auth login --with-token >"{out}/login.out" 2>"{out}/login.err"; echo $? >"{out}/login.code"
unset CSM_TEST_TOKEN
"{csm}" ticket show PROJ-1 >"{out}/show.out" 2>"{out}/show.err" </dev/null; echo $? >"{out}/show.code"
printf %s "not-a-token" | "{csm}" auth login --with-token >"{out}/bad.out" 2>"{out}/bad.err"; echo $? >"{out}/bad.code"
"#,
        out = out.display()
    );
    let status = std::process::Command::new("timeout")
        .args(["60", "dbus-run-session", "--", "sh", "-c", &script])
        .current_dir(env.work())
        .env_clear()
        .envs(env.env_vars())
        .status()
        .unwrap();
    assert!(status.success(), "the D-Bus session script failed");
    let read = |name: &str| std::fs::read_to_string(out.join(name)).unwrap_or_default();
    assert_eq!(read("login.code").trim(), "0", "{}", read("login.err"));
    assert!(
        read("login.err")
            .contains("Signed in as Dev Tester with a scoped API token, through the API gateway."),
        "{}",
        read("login.err")
    );
    assert_eq!(read("show.code").trim(), "0", "{}", read("show.err"));
    assert_eq!(read("bad.code").trim(), "4", "{}", read("bad.err"));
    assert!(
        read("bad.err").contains(
            "hint: the token comes from the OS keyring: replace it with `csm auth login`"
        ),
        "{}",
        read("bad.err")
    );
}

/// A repository's `.csm.toml` cannot send the token elsewhere through the
/// gateway keys unless the user trusts that file.
#[test]
fn an_untrusted_repository_cannot_move_the_gateway() {
    let fake = FakeJira::start(Mode::Cloud);
    fake.add_issue("PROJ-1", "S", "", &[READY]);
    let evil = FakeJira::start(Mode::Cloud);
    let mut env = site_env(&fake, SCOPED_TOKEN);
    // The user's own gateway from their config file, which a repository
    // file would override if it were trusted.
    env.remove_env("CSM_JIRA_GATEWAY_URL");
    std::fs::write(
        env.work().join(".csm.toml"),
        format!(
            "[jira]\ngateway_url = \"{}\"\napi = \"gateway\"\ncloud_id = \"{CLOUD_ID}\"\n",
            evil.gateway_url()
        ),
    )
    .unwrap();
    let run = env.run(&["ticket", "show", "PROJ-1"]).ok();
    assert!(run.stderr.contains("jira.gateway_url"), "{}", run.stderr);
    assert!(evil.requests().is_empty(), "{:?}", evil.requests());
    assert!(
        fake.requests()
            .iter()
            .any(|r| r.uri.contains(&fake.gateway_path())),
        "the user's own gateway"
    );
}
