//! Network faults between csm and Jira, through the CLI: connection
//! refused, a TLS certificate csm must not trust, answers slower than the
//! timeout, a storm of 429s, and server errors on every endpoint csm uses.
//! Each gives one `error:` line naming what failed and a hint, a non-zero
//! exit, and no half-state (no session recorded, nothing queued twice).

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::support::env::{Run, TestEnv};
use crate::support::fake_jira::{FakeJira, Fault, Mode, TOKEN};
use crate::support::mock_model::codex_bin;

fn env_for(url: &str) -> TestEnv {
    let mut env = TestEnv::new();
    env.write_user_config(&format!(
        "[tracker]\nkind = \"jira\"\n[jira]\nurl = \"{url}\"\nemail = \"dev@example.com\"\ndeployment = \"cloud\"\nproject = \"PROJ\"\ntimeout_secs = 2\nmax_attempts = 2\n"
    ));
    env.set_env("CSM_JIRA_TOKEN", TOKEN);
    env.set_env("CSM_CODEX_BIN", codex_bin());
    env
}

fn one_error_line(run: &Run) -> &str {
    let errors: Vec<&str> = run
        .stderr
        .lines()
        .filter(|l| l.starts_with("error:"))
        .collect();
    assert_eq!(errors.len(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("hint:"), "a hint: {}", run.stderr);
    errors[0]
}

fn no_session(env: &TestEnv) {
    if let Ok(store) = csm::store::Store::open(&env.store_file()) {
        assert!(store.list_sessions(true).unwrap().is_empty());
        assert!(store.outbox_pending().unwrap().is_empty());
    }
}

#[test]
fn connection_refused_names_the_site() {
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let env = env_for(&format!("http://127.0.0.1:{port}"));
    for args in [
        vec!["ticket", "show", "PROJ-1"],
        vec!["start", "PROJ-1"],
        vec!["list"],
    ] {
        let run = env.run(&args);
        if args[0] == "list" {
            // The list works offline: nothing to show, no error.
            assert_eq!(run.code, 0, "{run:?}");
            continue;
        }
        assert_eq!(run.code, 1, "{args:?}: {run:?}");
        let line = one_error_line(&run);
        assert!(
            line.contains(&format!("cannot reach http://127.0.0.1:{port}")),
            "{line}"
        );
        assert!(run.stderr.contains("csm doctor"), "{}", run.stderr);
    }
    no_session(&env);
}

#[test]
fn a_name_that_does_not_resolve_says_so() {
    // The hook fails every lookup in csm without asking a DNS server.
    let mut env = env_for("https://jira.example.invalid");
    env.set_env("CSM_TEST_DNS_FAILS", "1");
    let run = env.run(&["ticket", "show", "PROJ-1"]).fails_with(1);
    let line = one_error_line(&run);
    assert!(
        line.contains("cannot reach https://jira.example.invalid"),
        "{line}"
    );
    assert!(
        line.contains("jira.example.invalid does not resolve (DNS)"),
        "{line}"
    );
    assert!(run.stderr.contains("[jira] url"), "{}", run.stderr);
    no_session(&env);
}

/// An https server on 127.0.0.1 with a self-signed certificate.
fn tls_server() -> u16 {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/tls");
    let certs = CertificateDer::pem_file_iter(format!("{dir}/cert.pem"))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(format!("{dir}/key.pem")).unwrap();
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(Arc::new(
        tokio_rustls::rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let _ = acceptor.accept(stream).await;
                });
            }
        });
    });
    port
}

#[test]
fn an_untrusted_certificate_is_refused_with_a_clear_line() {
    let port = tls_server();
    let env = env_for(&format!("https://127.0.0.1:{port}"));
    let run = env.run(&["ticket", "show", "PROJ-1"]).fails_with(1);
    let line = one_error_line(&run);
    assert!(
        line.contains(&format!("cannot reach https://127.0.0.1:{port}")),
        "{line}"
    );
    assert!(
        line.to_lowercase().contains("certificate"),
        "names the certificate problem: {line}"
    );
    no_session(&env);
}

#[test]
fn slow_answers_and_429_storms_end_in_bounded_time() {
    let fake = FakeJira::start(Mode::Cloud);
    fake.add_issue("PROJ-1", "Slow", "d", &["x"]);
    let env = env_for(&fake.url());

    // Slower than the 2 s timeout, twice (both attempts of a read).
    fake.fail_next(Some("/issue/PROJ-1"), Fault::Delay(Duration::from_secs(4)));
    fake.fail_next(Some("/issue/PROJ-1"), Fault::Delay(Duration::from_secs(4)));
    let run = env.run(&["ticket", "show", "PROJ-1"]).fails_with(1);
    let line = one_error_line(&run);
    assert!(line.contains("no answer within 2 s"), "{line}");

    // A storm of 429s asking for two minutes each: csm gives up at once
    // rather than wait beyond its cap, and says so.
    for _ in 0..10 {
        fake.fail_next(None, Fault::Status(429, Some(120)));
    }
    let started = Instant::now();
    let run = env.run(&["ticket", "show", "PROJ-1"]).fails_with(1);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "waited {:?}",
        started.elapsed()
    );
    let line = one_error_line(&run);
    assert!(line.contains("rate-limiting"), "{line}");
    assert!(run.stderr.contains("wait"), "{}", run.stderr);
}

#[test]
fn server_errors_on_every_endpoint_fail_cleanly() {
    let fake = FakeJira::start(Mode::Cloud);
    fake.add_issue("PROJ-1", "Flaky", "d", &["x"]);
    let env = env_for(&fake.url());
    // Warm the field cache so each command's own endpoint is the one hit.
    env.run(&["ticket", "show", "PROJ-1"]).ok();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["ticket", "show", "PROJ-1"], "/issue/PROJ-1"),
        (vec!["ticket", "list"], "/search"),
        (vec!["ticket", "comment", "PROJ-1", "hello"], "/comment"),
        (vec!["ticket", "move", "PROJ-1", "Done"], "/transitions"),
        (vec!["ticket", "new", "A new one", "--ac", "x"], "/issue"),
        (vec!["start", "PROJ-1"], "/issue/PROJ-1"),
        (vec!["auth", "status", "--check"], "/myself"),
    ];
    for (args, path) in cases {
        for _ in 0..4 {
            fake.fail_next(Some(path), Fault::Status(500, None));
        }
        let run = env.run(&args);
        assert_ne!(run.code, 0, "{args:?}: {run:?}");
        let line = one_error_line(&run);
        assert!(
            line.contains("500") || line.contains("failed"),
            "{args:?}: {line}"
        );
        // Leftover faults must not leak into the next case.
        fake.clear_faults();
    }
    no_session(&env);
    let issue = fake.issue("PROJ-1").unwrap();
    assert!(issue.comments.is_empty());
    assert_eq!(issue.status, "To Do");
}
