//! `csm resume` overhead (local tracker, warm): `csm resume KEY` against
//! running the same `codex resume <id>` directly (goal: ≤ 15 ms over). The
//! `codex` here is a stand-in that exits at once, so the difference is
//! csm's own work: reading the store and the ticket, checking the rollout,
//! finding and version-checking codex, and recording the launch.
//!
//! Run with `cargo bench --bench resume`; figures go to BENCHMARKS.md.

mod common;

use std::process::{Command, Stdio};

use common::{csm, fake_codex, measure_alternating, report, run, verdict};
use csm::store::{NewSession, Store};
use csm::tracker::local::LocalTracker;
use csm::tracker::{NewTicket, Tracker};

const RUNS: usize = 40;
const ID: &str = "019a0000-0000-7000-8000-00000000beef";

fn main() {
    let root = tempfile::tempdir().expect("temp dir");
    let home = root.path().join("home");
    let repo = root.path().join("repo");
    std::fs::create_dir_all(repo.join(".git")).expect("mkdir");
    let codex = fake_codex(root.path());
    let tracker = LocalTracker::new(&repo, "CSM".into(), Vec::new()).expect("tracker");
    let key = tracker
        .create(&NewTicket {
            summary: "Resume me".into(),
            acceptance_criteria: vec!["it resumes".into()],
            ..NewTicket::default()
        })
        .expect("create");
    let ticket = tracker.get(&key).expect("get");
    let store = Store::open(&home.join(".local/share/csm/csm.db")).expect("store");
    let id = store
        .insert_session(&NewSession {
            ticket_key: key.to_string(),
            tracker: tracker.id(),
            folder: std::fs::canonicalize(&repo).expect("canon"),
            settings: serde_json::json!({"effort": "high"}),
            ticket_snapshot: serde_json::to_value(&ticket).ok(),
            ..NewSession::default()
        })
        .expect("session");
    store.set_codex_session_id(id, ID).expect("id");
    drop(store);
    let day = home.join(".codex/sessions/2026/11/25");
    std::fs::create_dir_all(&day).expect("mkdir");
    let meta = serde_json::json!({"type": "session_meta", "payload": {"id": ID, "cwd": repo}});
    std::fs::write(
        day.join(format!("rollout-2026-11-25T08-00-00-{ID}.jsonl")),
        format!("{meta}\n"),
    )
    .expect("rollout");

    let mut resume = || {
        let mut cmd = csm(&home, root.path(), &["resume", key.as_str()]);
        cmd.env("CSM_CODEX_BIN", &codex)
            .env("OPENAI_API_KEY", "sk-bench");
        run(cmd)
    };
    let mut direct = || {
        let mut cmd = Command::new(&codex);
        cmd.args(["resume", ID, "-c", "model_reasoning_effort=\"high\""])
            .current_dir(&repo)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        run(cmd)
    };
    resume();
    let [baseline, through_csm] = measure_alternating(RUNS, &mut [&mut direct, &mut resume])[..]
    else {
        unreachable!("two cases")
    };
    report("codex resume directly (baseline)", baseline, baseline);
    report("csm resume KEY", through_csm, baseline);
    let over = through_csm.0.saturating_sub(baseline.0);
    println!(
        "overhead {:.2} ms (goal ≤ 15 ms) → {}",
        over.as_secs_f64() * 1e3,
        verdict(over.as_millis() <= 15)
    );
}
