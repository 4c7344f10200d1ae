//! Session-id capture cost against the size of Codex's history: a scan
//! with 10,000 older rollout files against one with 100 (goal: ratio ≤
//! 1.5×), both with the same few files written today.
//!
//! Run with `cargo bench --bench capture`; figures go to BENCHMARKS.md.

use std::collections::HashSet;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use csm::codex::rollout;

const RUNS: usize = 300;

fn write(dir: &Path, id: &str, cwd: &Path) {
    std::fs::create_dir_all(dir).expect("mkdir");
    let meta = serde_json::json!({"timestamp": "2026-01-01T00:00:00Z", "type": "session_meta",
        "payload": {"id": id, "cwd": cwd, "originator": "codex-tui", "cli_version": "0.169.0"}});
    std::fs::write(
        dir.join(format!("rollout-2026-01-01T00-00-00-{id}.jsonl")),
        format!("{meta}\n"),
    )
    .expect("write");
}

/// A Codex home with `old` rollouts spread over past days and 3 of today.
fn home(old: usize, work: &Path) -> tempfile::TempDir {
    let home = tempfile::tempdir().expect("temp dir");
    for i in 0..old {
        let day = home.path().join(format!(
            "sessions/2025/{:02}/{:02}",
            1 + (i / 28) % 12,
            1 + i % 28
        ));
        write(&day, &format!("old-{i}"), work);
    }
    let today = rollout::recent_day_dirs(home.path(), jiff::Timestamp::now())[0].clone();
    for i in 0..3 {
        write(&today, &format!("new-{i}"), work);
    }
    home
}

fn median(home: &Path, since: SystemTime, work: &Path) -> Duration {
    let none = HashSet::new();
    let mut times: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let t = Instant::now();
            let found = rollout::scan_new(home, since, work, &none);
            let e = t.elapsed();
            assert_eq!(found.len(), 3);
            e
        })
        .collect();
    times.sort();
    times[RUNS / 2]
}

fn main() {
    let work = tempfile::tempdir().expect("temp dir");
    let since = SystemTime::now() - Duration::from_secs(60);
    let small = home(100, work.path());
    let large = home(10_000, work.path());
    let a = median(small.path(), since, work.path());
    let b = median(large.path(), since, work.path());
    println!(
        "capture scan, 100 older rollouts     median {:>8.1} µs",
        a.as_secs_f64() * 1e6
    );
    println!(
        "capture scan, 10,000 older rollouts  median {:>8.1} µs",
        b.as_secs_f64() * 1e6
    );
    let ratio = b.as_secs_f64() / a.as_secs_f64();
    println!(
        "ratio {ratio:.2}× (goal ≤ 1.5×) → {}",
        if ratio <= 1.5 { "met" } else { "NOT met" }
    );
}
