//! The Jira tracker against the fake Jira over real HTTP, in Cloud and
//! Data Center modes: the library directly, then through `csm`.

use std::sync::Arc;
use std::time::Duration;

use csm::credentials::Secret;
use csm::tracker::jira::{Auth, Deployment, JiraSettings, JiraTracker, Limits, MemoryCache};
use csm::tracker::{NewTicket, Query, TicketKey, TicketUpdate, Tracker, TrackerError};

use crate::support::env::TestEnv;
use crate::support::fake_jira::{AC_FIELD, EMAIL, FakeJira, Fault, Mode, TOKEN};

const MODES: [Mode; 2] = [Mode::Cloud, Mode::DataCenter];

fn tracker(fake: &FakeJira) -> JiraTracker {
    tracker_with(fake, TOKEN)
}

fn tracker_with(fake: &FakeJira, token: &str) -> JiraTracker {
    let (deployment, auth) = match fake.mode() {
        Mode::Cloud => (
            Deployment::Cloud,
            Auth::Basic {
                email: EMAIL.into(),
                token: Secret::new(token),
            },
        ),
        Mode::DataCenter => (
            Deployment::DataCenter,
            Auth::Bearer {
                token: Secret::new(token),
            },
        ),
    };
    JiraTracker::new(
        JiraSettings {
            url: fake.url(),
            deployment: Some(deployment),
            ac_field: "Acceptance Criteria".into(),
            project: Some("PROJ".into()),
            limits: Limits {
                timeout: Duration::from_secs(2),
                max_attempts: 3,
                max_retry_wait: Duration::from_secs(5),
                base_backoff: Duration::from_millis(20),
                ..Limits::default()
            },
        },
        auth,
        Arc::new(MemoryCache::default()),
    )
    .unwrap()
}

fn key(s: &str) -> TicketKey {
    TicketKey::parse(s).unwrap()
}

#[test]
fn reads_criteria_from_the_field_or_the_description() {
    for mode in MODES {
        let fake = FakeJira::start(mode);
        fake.add_issue(
            "PROJ-1",
            "Field AC",
            "Some **context**.",
            &["first `check`", "second check"],
        );
        fake.add_issue(
            "PROJ-2",
            "Section AC",
            "Intro.\n\n## Acceptance criteria\n\n- one\n- two\n\n## Notes\n\nafter",
            &[],
        );
        let t = tracker(&fake);
        let one = t.get(&key("PROJ-1")).unwrap();
        assert_eq!(one.summary, "Field AC");
        assert_eq!(
            one.acceptance_criteria,
            vec!["first `check`", "second check"],
            "{mode:?}"
        );
        assert!(
            one.description.contains("**context**"),
            "{mode:?}: {}",
            one.description
        );
        assert_eq!(one.status, "To Do");
        let two = t.get(&key("PROJ-2")).unwrap();
        assert_eq!(two.acceptance_criteria, vec!["one", "two"], "{mode:?}");
        assert!(
            !two.description
                .to_lowercase()
                .contains("acceptance criteria"),
            "{}",
            two.description
        );
        assert!(two.description.contains("after"));
        assert!(matches!(
            t.get(&key("PROJ-9")),
            Err(TrackerError::NotFound { .. })
        ));
    }
}

#[test]
fn reading_a_ticket_costs_one_request_once_the_field_is_cached() {
    let fake = FakeJira::start(Mode::Cloud);
    fake.add_issue("PROJ-1", "S", "", &["a"]);
    let t = tracker(&fake);
    t.get(&key("PROJ-1")).unwrap();
    assert_eq!(fake.requests().len(), 2, "field lookup + issue");
    fake.clear_requests();
    t.get(&key("PROJ-1")).unwrap();
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 1, "{reqs:?}");
    assert!(
        reqs[0].uri.contains("fields="),
        "explicit fields: {}",
        reqs[0].uri
    );
}

#[test]
fn writes_comment_transition_create_update_property() {
    for mode in MODES {
        let fake = FakeJira::start(mode);
        fake.add_issue("PROJ-1", "S", "d", &["a"]);
        let t = tracker(&fake);
        let k = key("PROJ-1");

        let c = t
            .comment(&k, "Done with **step 1**:\n\n- tests pass")
            .unwrap();
        assert!(c.body.contains("step 1"), "{mode:?}: {}", c.body);
        assert_eq!(fake.issue("PROJ-1").unwrap().comments.len(), 1);
        assert_eq!(t.comments(&k).unwrap().len(), 1);

        assert_eq!(t.transition(&k, "in progress").unwrap(), "In Progress");
        assert_eq!(fake.issue("PROJ-1").unwrap().status, "In Progress");
        match t.transition(&k, "Shipped").unwrap_err() {
            TrackerError::NoSuchTransition { available, .. } => {
                assert!(available.contains(&"Done".to_string()), "{available:?}")
            }
            e => panic!("{e:?}"),
        }
        match t.transition(&k, "won't do").unwrap_err() {
            TrackerError::TransitionNeedsFields { fields, .. } => {
                assert_eq!(fields, vec!["Resolution"])
            }
            e => panic!("{e:?}"),
        }

        let new = t
            .create(&NewTicket {
                summary: "Created".into(),
                description: "Why.".into(),
                acceptance_criteria: vec!["x works".into(), "y works".into()],
                ..NewTicket::default()
            })
            .unwrap();
        assert_eq!(new.as_str(), "PROJ-2");
        assert!(
            !fake.issue("PROJ-2").unwrap().ac.is_null(),
            "AC in the field"
        );
        assert_eq!(
            t.get(&new).unwrap().acceptance_criteria,
            vec!["x works", "y works"]
        );
        let noac = t
            .create(&NewTicket {
                project: Some("NOAC".into()),
                summary: "No field here".into(),
                acceptance_criteria: vec!["z works".into()],
                ..NewTicket::default()
            })
            .unwrap();
        assert!(fake.issue(noac.as_str()).unwrap().ac.is_null());
        assert_eq!(
            t.get(&noac).unwrap().acceptance_criteria,
            vec!["z works"],
            "{mode:?}"
        );
        // Not on NOAC's edit screen either: new criteria replace the
        // description's section.
        t.update(
            &noac,
            &TicketUpdate {
                acceptance_criteria: Some(vec!["z prints 1".into()]),
                ..TicketUpdate::default()
            },
        )
        .unwrap();
        assert!(fake.issue(noac.as_str()).unwrap().ac.is_null());
        let now = t.get(&noac).unwrap();
        assert_eq!(now.acceptance_criteria, vec!["z prints 1"], "{mode:?}");
        assert!(!now.description.contains("z works"), "{}", now.description);

        t.update(
            &k,
            &TicketUpdate {
                summary: Some("Renamed".into()),
                acceptance_criteria: Some(vec!["b".into()]),
                ..TicketUpdate::default()
            },
        )
        .unwrap();
        let now = t.get(&k).unwrap();
        assert_eq!(
            (now.summary.as_str(), now.acceptance_criteria.clone()),
            ("Renamed", vec!["b".to_string()])
        );

        let v = serde_json::json!({"codex_session_id": "abc", "folder": "/w"});
        assert_eq!(t.property(&k, "csm.session").unwrap(), None);
        t.set_property(&k, "csm.session", &v).unwrap();
        assert_eq!(t.property(&k, "csm.session").unwrap(), Some(v));
    }
}

#[test]
fn search_pages_and_batches() {
    for mode in MODES {
        let fake = FakeJira::start(mode);
        for n in 1..=5 {
            fake.add_issue(&format!("PROJ-{n}"), &format!("T{n}"), "", &[]);
        }
        fake.set_page_size(2);
        let t = tracker(&fake);
        t.deployment().unwrap();
        fake.clear_requests();
        let all = t.search(&Query::All).unwrap();
        assert_eq!(all.len(), 5, "{mode:?}");
        assert_eq!(fake.requests().len(), 3, "{mode:?}: three pages");
        fake.set_page_size(50);
        fake.clear_requests();
        let some = t
            .search(&Query::Keys(vec![key("PROJ-2"), key("PROJ-4")]))
            .unwrap();
        assert_eq!(some.len(), 2);
        assert_eq!(fake.requests().len(), 1, "one batched request");
        assert!(fake.requests()[0].body.contains("key in (PROJ-2,PROJ-4)"));
    }
}

#[test]
fn rate_limit_is_retried_after_retry_after() {
    let fake = FakeJira::start(Mode::Cloud);
    fake.add_issue("PROJ-1", "S", "", &["a"]);
    let t = tracker(&fake);
    t.ac_field_id().unwrap();
    fake.clear_requests();
    fake.fail_next(Some("/issue/"), Fault::Status(429, Some(1)));
    let started = std::time::Instant::now();
    t.get(&key("PROJ-1")).unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After honoured"
    );
    assert_eq!(fake.requests().len(), 2);
}

#[test]
fn bad_token_is_an_auth_error_without_retry() {
    let fake = FakeJira::start(Mode::Cloud);
    fake.add_issue("PROJ-1", "S", "", &["a"]);
    let t = tracker_with(&fake, "wrong-token");
    let err = t.get(&key("PROJ-1")).unwrap_err();
    assert!(matches!(err, TrackerError::AuthRejected { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("token rejected by {} for {EMAIL}", fake.url())
    );
    assert_eq!(fake.requests().len(), 1);
}

#[test]
fn failed_post_is_not_retried_but_get_is() {
    let fake = FakeJira::start(Mode::Cloud);
    fake.add_issue("PROJ-1", "S", "", &["a"]);
    let t = tracker(&fake);
    t.ac_field_id().unwrap();
    fake.clear_requests();
    fake.fail_next(Some("/comment"), Fault::Status(500, None));
    let err = t.comment(&key("PROJ-1"), "note").unwrap_err();
    assert!(
        matches!(err, TrackerError::Server { status: 500, .. }),
        "{err:?}"
    );
    assert_eq!(
        fake.requests().len(),
        1,
        "a POST that failed may have happened"
    );
    assert!(fake.issue("PROJ-1").unwrap().comments.is_empty());

    fake.clear_requests();
    fake.fail_next(Some("/issue/"), Fault::Status(500, None));
    t.get(&key("PROJ-1")).unwrap();
    assert_eq!(fake.requests().len(), 2, "GET retried");
}

#[test]
fn slow_answers_time_out_with_a_clear_error() {
    let fake = FakeJira::start(Mode::Cloud);
    fake.add_issue("PROJ-1", "S", "", &["a"]);
    let t = tracker(&fake);
    t.ac_field_id().unwrap();
    for _ in 0..3 {
        fake.fail_next(None, Fault::Delay(Duration::from_secs(3)));
    }
    let err = t.get(&key("PROJ-1")).unwrap_err();
    assert!(matches!(err, TrackerError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains("no answer within 2 s"), "{err}");
}

fn jira_env(fake: &FakeJira) -> TestEnv {
    let mut env = TestEnv::new();
    env.write_user_config(&fake.csm_config("PROJ"));
    env.set_env("CSM_JIRA_TOKEN", TOKEN);
    env
}

#[test]
fn ticket_commands_work_against_jira() {
    for mode in MODES {
        let fake = FakeJira::start(mode);
        fake.add_issue(
            "PROJ-1",
            "Add a --json flag",
            "Why it matters.",
            &["prints JSON", "has key"],
        );
        let env = jira_env(&fake);
        let show = env.run(&["ticket", "show", "PROJ-1", "--json"]).ok();
        let doc: serde_json::Value = serde_json::from_str(&show.stdout).unwrap();
        assert_eq!(
            doc["acceptance_criteria"],
            serde_json::json!(["prints JSON", "has key"])
        );
        assert_eq!(doc["url"], format!("{}/browse/PROJ-1", fake.url()));
        let text = env.run(&["ticket", "show", "PROJ-1"]).ok();
        assert!(
            text.stdout.contains("  1. prints JSON\n  2. has key"),
            "{}",
            text.stdout
        );

        env.run(&["ticket", "move", "PROJ-1", "In Progress"]).ok();
        assert_eq!(fake.issue("PROJ-1").unwrap().status, "In Progress");
        env.run(&["ticket", "comment", "PROJ-1", "A **note**"]).ok();
        assert_eq!(fake.issue("PROJ-1").unwrap().comments.len(), 1);
        let new = env
            .run(&["ticket", "new", "From the CLI", "--ac", "works"])
            .ok();
        assert_eq!(new.stdout.trim(), "PROJ-2");
        let list = env.run(&["ticket", "list"]).ok();
        assert!(
            list.stdout.contains("PROJ-1") && list.stdout.contains("PROJ-2"),
            "{}",
            list.stdout
        );
        let run = env.run(&["ticket", "show", "PROJ-77"]).fails_with(3);
        assert!(run.stderr.contains("PROJ-77"), "{}", run.stderr);
    }
}

#[test]
fn wrong_token_through_the_cli_names_the_fix() {
    let fake = FakeJira::start(Mode::Cloud);
    fake.add_issue("PROJ-1", "S", "", &["a"]);
    let mut env = jira_env(&fake);
    env.set_env("CSM_JIRA_TOKEN", "nope");
    let run = env.run(&["ticket", "show", "PROJ-1"]).fails_with(4);
    assert!(
        run.stderr.contains(&format!(
            "error: token rejected by {} for {EMAIL}",
            fake.url()
        )),
        "{}",
        run.stderr
    );
    // The token comes from the environment, which wins over the keyring:
    // `csm auth login` alone would change nothing.
    assert!(
        run.stderr
            .contains("hint: the token comes from the environment variable CSM_JIRA_TOKEN"),
        "{}",
        run.stderr
    );
}

#[test]
fn the_token_is_never_in_a_url_or_the_logs() {
    let fake = FakeJira::start(Mode::Cloud);
    fake.add_issue("PROJ-1", "S", "", &["a"]);
    let env = jira_env(&fake);
    let run = env.run(&["-vv", "ticket", "show", "PROJ-1"]).ok();
    env.run(&["-vv", "ticket", "comment", "PROJ-1", "x"]).ok();
    assert!(
        run.stderr.contains("jira"),
        "debug log expected: {}",
        run.stderr
    );
    assert!(!run.stderr.contains(TOKEN));
    for r in fake.requests() {
        assert!(!r.uri.contains(TOKEN), "{}", r.uri);
        assert!(!r.body.contains(TOKEN));
    }
    let logs = env.home().join(".local/state/csm/logs");
    for f in std::fs::read_dir(logs).unwrap().flatten() {
        assert!(!std::fs::read_to_string(f.path()).unwrap().contains(TOKEN));
    }
    let db = std::fs::read(env.store_file()).unwrap();
    assert!(!db.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()));
}

#[test]
fn doctor_reports_the_site() {
    let fake = FakeJira::start(Mode::Cloud);
    let mut env = jira_env(&fake);
    let codex = env.root().join("bin/codex");
    crate::support::env::write_script(&codex, "echo 'codex-cli 0.169.0'");
    env.set_env("CSM_CODEX_BIN", &codex);
    let run = env.run(&["doctor"]).ok();
    assert!(run.stdout.contains("Jira Cloud"), "{}", run.stdout);
    assert!(run.stdout.contains("Dev Tester"), "{}", run.stdout);
    assert!(run.stdout.contains(AC_FIELD), "{}", run.stdout);
    assert!(
        run.stdout.contains("\"In Progress\" and \"Done\" exist"),
        "{}",
        run.stdout
    );
    env.write_user_config(&format!(
        "{}[workflow]\ndone_status = \"Shipped\"\n",
        fake.csm_config("PROJ")
    ));
    let run = env.run(&["doctor"]).fails_with(1);
    assert!(run.stdout.contains("\"Shipped\""), "{}", run.stdout);
}

#[test]
fn auth_status_check_detects_the_site_kind() {
    for (mode, kind) in [(Mode::Cloud, "cloud"), (Mode::DataCenter, "datacenter")] {
        let fake = FakeJira::start(mode);
        let mut env = TestEnv::new();
        // No deployment configured: csm asks serverInfo.
        env.write_user_config(
            &fake
                .csm_config("PROJ")
                .replace(&format!("deployment = \"{kind}\"\n"), ""),
        );
        env.set_env("CSM_JIRA_TOKEN", TOKEN);
        let run = env.run(&["auth", "status", "--check", "--json"]).ok();
        let doc: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(doc["deployment"], kind);
        assert_eq!(doc["signed_in_as"], "Dev Tester");
        assert!(fake.requests().iter().any(|r| r.uri.contains("serverInfo")));
    }
}
