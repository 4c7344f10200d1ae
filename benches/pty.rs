//! Costs of the passthrough PTY, each against a bare PTY read directly in
//! the same run (the kernel's own limit):
//!
//! 1. throughput of a child writing 200 MB (goal: ≥ 0.9× the bare PTY);
//! 2. keystroke round trip through a raw-mode `cat` (goal: p99 added
//!    latency under 1 ms);
//! 3. the passthrough's own peak RSS while proxying (goal: ≤ 15 MB),
//!    sampled in runs of its own so the sampler costs the timed runs
//!    nothing;
//! 4. start-to-exit time of a child that exits at once (`true`), which is
//!    what csm adds around every launch and resume (goal: ≤ 20 ms over
//!    the bare PTY; a helper thread left to its grace period once cost
//!    500 ms here, and every throughput run with it).
//!
//! The passthrough is `examples/pty_passthrough` (built here in release)
//! with `CSM_FORCE_PTY=1`, since the bench has no terminal, and with
//! watching on: a ticket watcher reads a local ticket every 100 ms beside
//! it (`CSM_BENCH_WATCH`), as `csm start` does every `watch_secs`. Run with
//! `cargo bench --bench pty`; figures are printed, not asserted. Bare and
//! proxied runs alternate, and the throughput ratio is the median of the
//! per-pair ratios, so load from other processes hits both sides alike.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use portable_pty::{CommandBuilder, PtySize, native_pty_system};

const BYTES: u64 = 200 * 1024 * 1024;
const RUNS: usize = 9;
const MEMORY_RUNS: usize = 3;
const EXITS: usize = 20;
const KEYSTROKES: usize = 2000;

fn main() {
    let passthrough = build_passthrough();
    let watched = watched_ticket();
    // SAFETY: set before any thread of the bench runs.
    unsafe { std::env::set_var("CSM_BENCH_WATCH", watched.path()) };
    // The build leaves dirty pages whose writeback would keep a core busy
    // for the first runs; flush them first.
    // SAFETY: sync(2) takes no arguments and cannot fail.
    unsafe { libc::sync() };
    let flood = format!("stty raw -echo; head -c {BYTES} /dev/zero");
    let echo = "stty raw -echo; printf READY; exec cat";

    println!("pty passthrough benchmark ({RUNS} alternating runs each)");
    let mut bare = Vec::new();
    let mut proxied = Vec::new();
    for _ in 0..RUNS {
        bare.push(bare_throughput(&flood));
        proxied.push(passthrough_flood(&passthrough, &flood, false).0);
    }
    let peak_kb = (0..MEMORY_RUNS)
        .map(|_| passthrough_flood(&passthrough, &flood, true).1)
        .max()
        .unwrap_or(0);
    let mut ratios: Vec<f64> = proxied.iter().zip(&bare).map(|(p, b)| p / b).collect();
    ratios.sort_by(f64::total_cmp);
    bare.sort_by(f64::total_cmp);
    proxied.sort_by(f64::total_cmp);
    println!(
        "throughput: bare PTY median {:.0} MB/s, passthrough median {:.0} MB/s; \
         ratio median {:.2}x (min {:.2}x, max {:.2}x) (goal >= 0.90x)",
        bare[RUNS / 2],
        proxied[RUNS / 2],
        ratios[RUNS / 2],
        ratios[0],
        ratios[RUNS - 1]
    );
    println!(
        "memory: passthrough peak RSS (VmHWM) {:.1} MB while proxying (goal <= 15 MB)",
        peak_kb as f64 / 1024.0
    );

    let mut bare_exit = Vec::new();
    let mut proxied_exit = Vec::new();
    for _ in 0..EXITS {
        bare_exit.push(bare_exit_time());
        proxied_exit.push(passthrough_exit_time(&passthrough));
    }
    let (bare_exit, _) = percentiles(bare_exit);
    let (proxied_exit, _) = percentiles(proxied_exit);
    println!(
        "exit: `true` start to exit, bare PTY median {:.2} ms, passthrough median {:.2} ms; \
         {:.2} ms over ({:.2}x) (goal: <= 20 ms over)",
        millis(bare_exit),
        millis(proxied_exit),
        millis(proxied_exit.saturating_sub(bare_exit)),
        proxied_exit.as_secs_f64() / bare_exit.as_secs_f64()
    );

    let bare_lat = bare_latency(echo);
    let proxied_lat = passthrough_latency(&passthrough, echo);
    let (b50, b99) = percentiles(bare_lat);
    let (p50, p99) = percentiles(proxied_lat);
    println!(
        "keystroke round trip: bare p50 {:.1} us p99 {:.1} us; passthrough p50 {:.1} us p99 {:.1} us",
        micros(b50),
        micros(b99),
        micros(p50),
        micros(p99)
    );
    println!(
        "added latency: p50 {:.1} us ({:.2}x), p99 {:.1} us ({:.2}x) (goal: p99 added < 1000 us)",
        micros(p50.saturating_sub(b50)),
        p50.as_secs_f64() / b50.as_secs_f64(),
        micros(p99.saturating_sub(b99)),
        p99.as_secs_f64() / b99.as_secs_f64()
    );
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Builds the example in release and returns its path.
fn build_passthrough() -> PathBuf {
    let status = Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "build",
            "--quiet",
            "--release",
            "--example",
            "pty_passthrough",
        ])
        .status()
        .expect("run cargo");
    assert!(status.success(), "cannot build the pty_passthrough example");
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    target.join("release/examples/pty_passthrough")
}

fn pty_size() -> PtySize {
    PtySize {
        rows: 24,
        cols: 80,
        pixel_width: 0,
        pixel_height: 0,
    }
}

/// MB/s of `script` read straight off a PTY master.
fn bare_throughput(script: &str) -> f64 {
    let pair = native_pty_system().openpty(pty_size()).expect("openpty");
    let mut cmd = CommandBuilder::new("sh");
    cmd.args(["-c", script]);
    let start = Instant::now();
    let mut child = pair.slave.spawn_command(cmd).expect("spawn");
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader().expect("reader");
    // Read on a thread of its own, as the passthrough does: on this
    // machine a PTY drained by a process's main thread runs measurably
    // slower, and the baseline should be the best the kernel can do.
    let n = std::thread::spawn(move || drain(&mut reader))
        .join()
        .expect("reader thread");
    let secs = start.elapsed().as_secs_f64();
    child.wait().expect("wait");
    check_bytes(n);
    n as f64 / secs / 1e6
}

/// MB/s of `script` through the passthrough into a pipe, drained on a
/// thread like the bare PTY, and with `sample_memory` the passthrough's
/// peak RSS in KiB, sampled every few milliseconds from /proc (0 without:
/// the timed runs leave the sampler out, as it would cost them alone).
fn passthrough_flood(passthrough: &PathBuf, script: &str, sample_memory: bool) -> (f64, u64) {
    let start = Instant::now();
    let mut child = spawn_passthrough(passthrough, script, Stdio::null());
    let pid = child.id();
    let running = Arc::new(AtomicBool::new(true));
    let peak = Arc::new(AtomicU64::new(0));
    let sampler = sample_memory.then(|| {
        let (running, peak) = (Arc::clone(&running), Arc::clone(&peak));
        std::thread::spawn(move || {
            while running.load(Ordering::Relaxed) {
                if let Some(kb) = vm_hwm_kb(pid) {
                    peak.fetch_max(kb, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    });
    let mut out = child.stdout.take().expect("stdout");
    let n = std::thread::spawn(move || drain(&mut out))
        .join()
        .expect("reader thread");
    let secs = start.elapsed().as_secs_f64();
    if let Some(sampler) = sampler {
        // One last sample: VmHWM only grows, and the process is still
        // there until reaped.
        if let Some(kb) = vm_hwm_kb(pid) {
            peak.fetch_max(kb, Ordering::Relaxed);
        }
        running.store(false, Ordering::Relaxed);
        let _ = sampler.join();
    }
    let status = child.wait().expect("wait");
    assert!(status.success(), "passthrough failed: {status}");
    check_bytes(n);
    (n as f64 / secs / 1e6, peak.load(Ordering::Relaxed))
}

/// Spawning `true` on a bare PTY and waiting for it.
fn bare_exit_time() -> Duration {
    let pair = native_pty_system().openpty(pty_size()).expect("openpty");
    let start = Instant::now();
    let mut child = pair
        .slave
        .spawn_command(CommandBuilder::new("true"))
        .expect("spawn");
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader().expect("reader");
    drain(&mut reader);
    child.wait().expect("wait");
    start.elapsed()
}

/// The passthrough running `true`, until it has exited.
fn passthrough_exit_time(passthrough: &PathBuf) -> Duration {
    let start = Instant::now();
    let status = Command::new(passthrough)
        .arg("true")
        .env("CSM_FORCE_PTY", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .expect("run passthrough");
    let took = start.elapsed();
    assert!(status.success(), "passthrough failed: {status}");
    took
}

fn check_bytes(n: u64) {
    assert_eq!(n, BYTES, "the child's output was not copied whole");
}

fn spawn_passthrough(passthrough: &PathBuf, script: &str, stdin: Stdio) -> Child {
    Command::new(passthrough)
        .args(["sh", "-c", script])
        .env("CSM_FORCE_PTY", "1")
        .stdin(stdin)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn passthrough")
}

fn drain(reader: &mut impl Read) -> u64 {
    let mut buf = vec![0u8; 64 * 1024];
    let mut n = 0u64;
    loop {
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => return n,
            Ok(k) => n += k as u64,
        }
    }
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Round trips of one byte through `script` (a raw-mode `cat`) on a bare PTY.
fn bare_latency(script: &str) -> Vec<Duration> {
    let pair = native_pty_system().openpty(pty_size()).expect("openpty");
    let mut cmd = CommandBuilder::new("sh");
    cmd.args(["-c", script]);
    let mut child = pair.slave.spawn_command(cmd).expect("spawn");
    drop(pair.slave);
    let mut reader = pair.master.try_clone_reader().expect("reader");
    let mut writer = pair.master.take_writer().expect("writer");
    let samples = round_trips(&mut writer, &mut reader);
    let _ = child.kill();
    let _ = child.wait();
    samples
}

/// The same round trips through the passthrough's stdin and stdout.
fn passthrough_latency(passthrough: &PathBuf, script: &str) -> Vec<Duration> {
    let mut child = spawn_passthrough(passthrough, script, Stdio::piped());
    let mut writer = child.stdin.take().expect("stdin");
    let mut reader = child.stdout.take().expect("stdout");
    let samples = round_trips(&mut writer, &mut reader);
    let _ = child.kill();
    let _ = child.wait();
    samples
}

fn round_trips(writer: &mut impl Write, reader: &mut impl Read) -> Vec<Duration> {
    wait_for_ready(reader);
    let mut byte = [0u8; 1];
    let mut samples = Vec::with_capacity(KEYSTROKES);
    for i in 0..KEYSTROKES {
        let key = b'a' + (i % 26) as u8;
        let start = Instant::now();
        writer.write_all(&[key]).expect("write key");
        writer.flush().expect("flush key");
        reader.read_exact(&mut byte).expect("read echo");
        samples.push(start.elapsed());
        assert_eq!(byte[0], key, "echo out of order");
    }
    samples
}

fn wait_for_ready(reader: &mut impl Read) {
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while !seen.ends_with(b"READY") {
        reader.read_exact(&mut byte).expect("read READY");
        seen.push(byte[0]);
    }
}

fn percentiles(mut samples: Vec<Duration>) -> (Duration, Duration) {
    samples.sort();
    let at = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
    (at(0.50), at(0.99))
}

/// A folder with a local ticket and a store whose session 1 works on it
/// (Codex id known, the ticket as last launched), for the watcher of the
/// passthrough runs.
fn watched_ticket() -> tempfile::TempDir {
    use csm::store::{NewSession, Store};
    use csm::tracker::local::LocalTracker;
    use csm::tracker::{NewTicket, Tracker};
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::create_dir_all(dir.path().join(".git")).expect("mkdir");
    let tracker = LocalTracker::new(dir.path(), "CSM".into(), Vec::new()).expect("tracker");
    let key = tracker
        .create(&NewTicket {
            summary: "Watch me".into(),
            acceptance_criteria: vec!["it works".into()],
            ..NewTicket::default()
        })
        .expect("ticket");
    let ticket = tracker.get(&key).expect("read ticket");
    let store = Store::open(&dir.path().join("csm.db")).expect("store");
    let id = store
        .insert_session(&NewSession {
            ticket_key: key.to_string(),
            tracker: tracker.id(),
            folder: dir.path().to_path_buf(),
            ticket_snapshot: serde_json::to_value(&ticket).ok(),
            ..NewSession::default()
        })
        .expect("session");
    store
        .set_codex_session_id(id, "019a0000-0000-7000-8000-000000000001")
        .expect("codex id");
    dir
}
