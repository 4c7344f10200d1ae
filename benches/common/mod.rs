//! Helpers shared by the whole-process benchmarks: an isolated HOME for
//! csm, and a median/p90 timer.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// `csm` with an isolated HOME, in `cwd`, output discarded.
pub fn csm(home: &Path, cwd: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_csm"));
    cmd.args(args)
        .current_dir(cwd)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("XDG_STATE_HOME", home.join(".local/state"))
        .env("CODEX_HOME", home.join(".codex"))
        .env("CSM_KEYRING", "none")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    cmd
}

/// A stand-in `codex` in `dir` that answers the version check and exits
/// at once: what csm launches in whole-process benchmarks.
pub fn fake_codex(dir: &Path) -> std::path::PathBuf {
    let codex = dir.join("codex");
    std::fs::write(
        &codex,
        "#!/bin/sh\n[ \"$1\" = --version ] && echo 'codex-cli 0.169.0'\nexit 0\n",
    )
    .expect("write");
    std::fs::set_permissions(&codex, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    codex
}

/// How a goal line ends.
pub fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

/// Runs a command and insists that it succeeded.
pub fn run(mut cmd: Command) {
    let status = cmd.status().expect("run");
    assert!(status.success(), "{cmd:?} failed");
}

/// Median and 90th percentile of `runs` runs.
pub fn measure(runs: usize, mut f: impl FnMut()) -> (Duration, Duration) {
    measure_alternating(runs, &mut [&mut f])[0]
}

/// Median and 90th percentile of each of `cases`, run in turn `runs`
/// times over, so that a change in the machine's load lands on every case
/// alike instead of skewing their ratio.
pub fn measure_alternating(
    runs: usize,
    cases: &mut [&mut dyn FnMut()],
) -> Vec<(Duration, Duration)> {
    let mut times = vec![Vec::with_capacity(runs); cases.len()];
    for _ in 0..runs {
        for (case, times) in cases.iter_mut().zip(&mut times) {
            let start = Instant::now();
            case();
            times.push(start.elapsed());
        }
    }
    times
        .into_iter()
        .map(|mut t| {
            t.sort();
            (t[runs / 2], t[runs * 9 / 10])
        })
        .collect()
}

/// One line of a report, with the ratio to a baseline from the same run.
pub fn report(name: &str, (median, p90): (Duration, Duration), baseline: (Duration, Duration)) {
    println!(
        "{name:<40} median {:>7.2} ms  p90 {:>7.2} ms  ratio to baseline {:>5.2}×",
        median.as_secs_f64() * 1e3,
        p90.as_secs_f64() * 1e3,
        median.as_secs_f64() / baseline.0.as_secs_f64()
    );
}
