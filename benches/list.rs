//! `csm list` with 1,000 sessions (goal: ≤ 20 ms, cache warm), measured as
//! whole processes the way a user runs them, against `csm --version` (the
//! cost of starting the binary at all) from the same run.
//!
//! Run with `cargo bench --bench list`; figures go to BENCHMARKS.md.

mod common;

use std::time::Duration;

use common::{csm, measure_alternating, report, verdict};

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

    let run = |args: &[&str]| common::run(csm(&home, &repo, args));
    // Warm the ticket cache and the file system cache.
    run(&["list"]);

    let [baseline, list, json] = measure_alternating(
        RUNS,
        &mut [
            &mut || run(&["--version"]),
            &mut || run(&["list"]),
            &mut || run(&["list", "--json"]),
        ],
    )[..] else {
        unreachable!("three cases")
    };
    report("csm --version (baseline)", baseline, baseline);
    report("csm list, 1,000 sessions", list, baseline);
    report("csm list --json, 1,000 sessions", json, baseline);
    println!(
        "goal: csm list ≤ 20 ms → {}",
        verdict(list.0 <= Duration::from_millis(20))
    );
}
