//! Runs a command behind csm's passthrough PTY: the stand-in for
//! `csm` + `codex` in tests and benchmarks.
//!
//! `cargo run --example pty_passthrough -- CMD ARGS...`
//!
//! `CSM_FORCE_PTY=1` uses the PTY even without a terminal (benchmarks).
//! `CSM_OBSERVE_FILE=path` appends every output chunk the observer sees
//! to `path` (tests compare it with stdout).
//! `CSM_PANIC_AFTER_SPAWN=1` panics while the child runs (tests).
//! `CSM_BENCH_WATCH=DIR` runs a ticket watcher beside the PTY, as `csm
//! start` does, over the local ticket and the store `benches/pty` prepared
//! in DIR, checking every 100 ms (benchmarks).
//! Exits with the child's code (`128 + signal` for a killed child).

use csm::pty::{self, Command, PtyOptions};

fn main() {
    let mut argv = std::env::args_os().skip(1);
    let Some(program) = argv.next() else {
        eprintln!("usage: pty_passthrough CMD [ARGS...]");
        std::process::exit(2);
    };
    let cwd = match std::env::current_dir() {
        Ok(cwd) => cwd,
        Err(e) => {
            eprintln!("pty_passthrough: no working folder: {e}");
            std::process::exit(2);
        }
    };
    let cmd = Command {
        program,
        args: argv.collect(),
        cwd,
        env: std::env::vars_os().collect(),
    };
    let opts = PtyOptions {
        force_pty: std::env::var_os("CSM_FORCE_PTY").is_some_and(|v| v == "1"),
        observer: observer(),
    };
    if std::env::var_os("CSM_PANIC_AFTER_SPAWN").is_some() {
        // For tests: a caller that panics while the child runs must still
        // leave the terminal as it found it, and the child ended.
        let _session = pty::spawn(&cmd, opts);
        std::thread::sleep(std::time::Duration::from_millis(300));
        panic!("panic while the child runs");
    }
    let _watch = bench_watcher();
    match pty::run(&cmd, opts) {
        Ok(exit) => std::process::exit(exit.code()),
        Err(e) => {
            eprintln!("pty_passthrough: {e}");
            std::process::exit(127);
        }
    }
}

/// An observer writing to `$CSM_OBSERVE_FILE`, if set.
fn observer() -> Option<pty::Observer> {
    let path = std::env::var_os("CSM_OBSERVE_FILE")?;
    let mut file = match std::fs::File::create(&path) {
        Ok(file) => file,
        Err(e) => {
            eprintln!("pty_passthrough: cannot create the observer file: {e}");
            std::process::exit(2);
        }
    };
    Some(Box::new(move |chunk: &[u8]| {
        use std::io::Write;
        let _ = file.write_all(chunk);
    }))
}

/// The watcher of `$CSM_BENCH_WATCH`, if set (see `benches/pty.rs`).
fn bench_watcher() -> Option<csm::watch::Watcher> {
    use csm::tracker::local::LocalTracker;
    let dir = std::path::PathBuf::from(std::env::var_os("CSM_BENCH_WATCH")?);
    let tracker = LocalTracker::new(&dir, "CSM".into(), Vec::new()).ok()?;
    Some(csm::watch::Watcher::spawn(csm::watch::Setup {
        store_path: dir.join("csm.db"),
        session_id: 1,
        key: csm::tracker::TicketKey::parse("CSM-1").ok()?,
        tracker: Box::new(tracker),
        mode: csm::config::LiveMode::Queue,
        every: std::time::Duration::from_millis(100),
        launch: csm::codex::CodexCommand {
            program: "/bin/false".into(),
            args: Vec::new(),
            cwd: dir.clone(),
            env: Vec::new(),
        },
        codex_home: dir.join("codex"),
        templates: csm::prompt::TemplateDirs::default(),
        notify: Box::new(|_| {}),
    }))
}
