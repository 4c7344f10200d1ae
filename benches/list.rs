//! `csm list` with 1,000 sessions (goal: ≤ 20 ms, cache warm), measured as
//! whole processes the way a user runs them, against `csm --version` (the
//! cost of starting the binary at all) from the same run. Every session
//! has a Codex rollout of 20 turns, so `--json` adds up token usage (from
//! the store's cache once the rollouts were read).
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
        let session = store
            .insert_session(&NewSession {
                ticket_key: key.to_string(),
                tracker: tracker.id(),
                folder: repo.clone(),
                settings: serde_json::json!({"model": "gpt-5.5"}),
                ..NewSession::default()
            })
            .expect("session");
        let codex_id = format!("019a0000-0000-7000-8000-{i:012}");
        store
            .set_codex_session_id(session, &codex_id)
            .expect("codex id");
        write_rollout(&home.join(".codex/sessions/2026/12/03"), &codex_id);
    }
    drop(store);

    let run = |args: &[&str]| common::run(csm(&home, &repo, args));
    // Warm the ticket cache, the usage cache and the file system cache.
    run(&["list"]);
    run(&["list", "--json"]);

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

/// A rollout of 20 turns, each with its `token_count`.
fn write_rollout(dir: &std::path::Path, id: &str) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let mut text = format!(
        "{{\"timestamp\":\"2026-12-03T10:00:00Z\",\"type\":\"session_meta\",\"payload\":{{\"id\":\"{id}\",\"cwd\":\"/r\"}}}}\n"
    );
    for t in 1..=20 {
        text.push_str(&format!(
            "{{\"timestamp\":\"2026-12-03T10:{t:02}:00Z\",\"type\":\"event_msg\",\"payload\":{{\"type\":\"task_started\"}}}}\n\
             {{\"timestamp\":\"2026-12-03T10:{t:02}:01Z\",\"type\":\"response_item\",\"payload\":{{\"type\":\"message\",\"role\":\"assistant\",\"content\":[{{\"type\":\"output_text\",\"text\":\"Working on turn {t} of the ticket, with a realistic amount of text.\"}}]}}}}\n\
             {{\"timestamp\":\"2026-12-03T10:{t:02}:30Z\",\"type\":\"event_msg\",\"payload\":{{\"type\":\"token_count\",\"info\":{{\"total_token_usage\":{{\"input_tokens\":{},\"cached_input_tokens\":{},\"output_tokens\":{},\"reasoning_output_tokens\":{},\"total_tokens\":{}}}}}}}}}\n\
             {{\"timestamp\":\"2026-12-03T10:{t:02}:31Z\",\"type\":\"event_msg\",\"payload\":{{\"type\":\"task_complete\"}}}}\n",
            t * 1000,
            t * 600,
            t * 100,
            t * 40,
            t * 1100
        ));
    }
    std::fs::write(
        dir.join(format!("rollout-2026-12-03T10-00-00-{id}.jsonl")),
        text,
    )
    .expect("rollout");
}
