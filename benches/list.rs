//! `csm list` with 1,000 sessions (goal: ≤ 20 ms, cache warm), measured as
//! whole processes the way a user runs them, against `csm --version` (the
//! cost of starting the binary at all) from the same run.
//!
//! Run with `cargo bench --bench list`; figures go to BENCHMARKS.md.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use csm::store::{NewSession, Store};
use csm::tracker::local::LocalTracker;
use csm::tracker::{NewTicket, Tracker};

const SESSIONS: usize = 1_000;
const RUNS: usize = 40;

fn main() {
    let root = tempfile::tempdir().expect("temp dir");
    let home = root.path().join("home");
    let repo = root.path().join("repo");
    std::fs::create_dir_all(repo.join(".git")).expect("mkdir");
    let tracker = LocalTracker::new(&repo, "CSM".into(), Vec::new()).expect("tracker");
    let store = Store::open(&home.join(".local/share/csm/csm.db")).expect("store");
    for i in 0..SESSIONS {
        let key = tracker
            .create(&NewTicket {
                summary: format!("Ticket number {i} with a realistic summary"),
                acceptance_criteria: vec!["it works".into()],
                ..NewTicket::default()
            })
            .expect("create");
        store
            .insert_session(&NewSession {
                ticket_key: key.to_string(),
                tracker: tracker.id(),
                folder: repo.clone(),
                settings: serde_json::json!({"model": "gpt-5.5"}),
                ..NewSession::default()
            })
            .expect("session");
    }
    drop(store);

    let run = |args: &[&str]| {
        let status = csm(&home, &repo, args).status().expect("run csm");
        assert!(status.success(), "csm {args:?} failed");
    };
    // Warm the ticket cache and the file system cache.
    run(&["list"]);

    let baseline = measure(|| run(&["--version"]));
    let list = measure(|| run(&["list"]));
    let json = measure(|| run(&["list", "--json"]));
    report("csm --version (baseline)", baseline, baseline);
    report("csm list, 1,000 sessions", list, baseline);
    report("csm list --json, 1,000 sessions", json, baseline);
    println!(
        "goal: csm list ≤ 20 ms → {}",
        if list.0 <= Duration::from_millis(20) {
            "met"
        } else {
            "NOT met"
        }
    );
}

fn csm(home: &Path, cwd: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_csm"));
    cmd.args(args)
        .current_dir(cwd)
        .env_clear()
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("XDG_STATE_HOME", home.join(".local/state"))
        .env("CSM_KEYRING", "none")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// Median and 90th percentile of `RUNS` runs.
fn measure(mut f: impl FnMut()) -> (Duration, Duration) {
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    times.sort();
    (times[RUNS / 2], times[RUNS * 9 / 10])
}

fn report(name: &str, (median, p90): (Duration, Duration), baseline: (Duration, Duration)) {
    println!(
        "{name:<36} median {:>7.2} ms  p90 {:>7.2} ms  ratio to baseline {:>5.2}×",
        median.as_secs_f64() * 1e3,
        p90.as_secs_f64() * 1e3,
        median.as_secs_f64() / baseline.0.as_secs_f64()
    );
}
