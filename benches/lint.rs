//! The readiness lint, which `csm start` runs on every ticket it starts.
//!
//! In process: linting a ticket with 100 criteria against reading those
//! criteria out of the ticket's Markdown, what every tracker read does
//! anyway (goal: ≤ 10×, which is under 1 ms on the project's machine). As whole processes: `csm lint KEY` against
//! `csm ticket show KEY` on the same local ticket (goal: ≤ 1.1×, the lint
//! adds nothing a person notices).
//!
//! The two processes run in turn, so load from elsewhere hits both alike.
//! Run with `cargo bench --bench lint`; figures go to BENCHMARKS.md.

mod common;

use std::hint::black_box;
use std::time::Duration;

use common::{csm, measure, measure_alternating, report, verdict};

use csm::tracker::local::LocalTracker;
use csm::tracker::{NewTicket, Tracker};

const CRITERIA: usize = 100;
const RUNS: usize = 40;

/// Realistic criteria: most testable, some vague, a few duplicates.
fn criteria() -> Vec<String> {
    let shapes = [
        "`csm list --json` prints a JSON array with {n} elements",
        "With {n} sessions `csm list` finishes in under 20 ms on the CI machine",
        "Improve the performance of step {n}",
        "`csm start PROJ-{n}` exits 3 and prints \"ticket PROJ-{n} not found\"",
        "Errors in step {n} are handled properly",
        "The export of batch {n} works",
        "Investigate why step {n} fails",
        "Each row of report {n} has `key`, `status` and `folder`",
        "Supports CSV, TSV, etc. for report {n}",
        "A missing config file is reported: csm exits 2 and names the file",
    ];
    (0..CRITERIA)
        .map(|i| shapes[i % shapes.len()].replace("{n}", &(i / 3).to_string()))
        .collect()
}

fn main() {
    let criteria = criteria();
    let markdown: String = criteria.iter().map(|c| format!("- [ ] {c}\n")).collect();
    let summary = "Add a --csv flag to csm list";
    let inner = 50;
    let baseline = measure(RUNS, || {
        for _ in 0..inner {
            black_box(csm::tracker::markdown::criteria(black_box(&markdown)));
        }
    });
    let lint = measure(RUNS, || {
        for _ in 0..inner {
            black_box(csm::lint::lint(black_box(summary), black_box(&criteria)));
        }
    });
    let per = |(m, p): (Duration, Duration)| (m / inner, p / inner);
    report(
        "read 100 criteria from Markdown (baseline)",
        per(baseline),
        per(baseline),
    );
    report("lint 100 criteria", per(lint), per(baseline));
    let findings = csm::lint::lint(summary, &criteria).findings.len();
    println!("({findings} findings)");

    let root = tempfile::tempdir().expect("temp dir");
    let home = root.path().join("home");
    let repo = root.path().join("repo");
    std::fs::create_dir_all(repo.join(".git")).expect("mkdir");
    let tracker = LocalTracker::new(&repo, "CSM".into(), Vec::new()).expect("tracker");
    tracker
        .create(&NewTicket {
            summary: summary.into(),
            acceptance_criteria: criteria.clone(),
            ..NewTicket::default()
        })
        .expect("create");
    let run = |args: &[&str], ok: bool| {
        let status = csm(&home, &repo, args).status().expect("run");
        assert_eq!(status.success(), ok, "{args:?}");
    };
    run(&["ticket", "show", "CSM-1"], true);
    let [show, lint_cli] = measure_alternating(
        RUNS,
        &mut [&mut || run(&["ticket", "show", "CSM-1"], true), &mut || {
            run(&["lint", "CSM-1"], false)
        }],
    )[..] else {
        unreachable!("two cases")
    };
    report("csm ticket show CSM-1 (baseline)", show, show);
    report("csm lint CSM-1", lint_cli, show);

    println!(
        "goal: lint of 100 criteria ≤ 10× reading them → {}",
        verdict(lint.0.as_secs_f64() <= baseline.0.as_secs_f64() * 10.0)
    );
    println!(
        "goal: csm lint ≤ 1.1× csm ticket show → {}",
        verdict(lint_cli.0.as_secs_f64() <= show.0.as_secs_f64() * 1.1)
    );
}
