//! The passthrough PTY end to end, through `examples/pty_passthrough` (the
//! stand-in for csm running codex) inside a private tmux.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use std::time::{Duration, Instant};

use crate::support::tmux::{DEADLINE, Tmux};

/// `target/<profile>/examples/pty_passthrough`. A plain `cargo test`
/// builds it, but `cargo test --test it` does not, so it is built (or
/// found up to date) once per run.
fn passthrough() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().expect("test executable");
            let profile = exe
                .parent()
                .and_then(|deps| deps.parent())
                .expect("target/<profile>/deps");
            let mut cargo = Command::new(env!("CARGO"));
            cargo.current_dir(env!("CARGO_MANIFEST_DIR")).args([
                "build",
                "--quiet",
                "--example",
                "pty_passthrough",
            ]);
            if profile.file_name().is_some_and(|n| n == "release") {
                cargo.arg("--release");
            }
            let status = cargo.status().expect("run cargo");
            assert!(status.success(), "cannot build the pty_passthrough example");
            profile.join("examples").join("pty_passthrough")
        })
        .clone()
}

/// Single-quotes `s` for sh.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// A shell line running the passthrough on `child` (an sh script), then
/// printing its exit code as `rc=N`.
fn run_line(child: &str) -> String {
    format!(
        "{} sh -c {}; echo rc=$?",
        quote(&passthrough().display().to_string()),
        quote(child)
    )
}

#[test]
fn child_sees_initial_size_then_resizes() {
    let tmux = Tmux::start(100, 30);
    tmux.line(&run_line(
        "stty size; while read x; do stty size; done; echo bye",
    ));
    tmux.wait_for_text("30 100");
    tmux.resize(120, 40);
    // Enter until the child reports the new size: the resize is applied
    // after a short quiet spell, so the first report may be early.
    tmux.wait_for("the new size", |screen| {
        if screen.contains("40 120") {
            return true;
        }
        tmux.press("Enter");
        std::thread::sleep(Duration::from_millis(30));
        false
    });
    tmux.press("C-d");
    tmux.wait_for_text("rc=0");
}

/// Runs `line` (from [`run_line`]) between two `stty -a` snapshots, lets
/// `act` end it, and checks the terminal came back as it was.
fn assert_restored(line: String, act: impl FnOnce(&Tmux), rc: &str) {
    let tmux = Tmux::start(80, 24);
    let before = tmux.dir().join("before");
    let after = tmux.dir().join("after");
    tmux.line(&format!(
        "stty -a > {}; {}; stty -a > {}; echo DONE",
        quote(&before.display().to_string()),
        line,
        quote(&after.display().to_string()),
    ));
    act(&tmux);
    tmux.wait_for_text(rc);
    tmux.wait_for("DONE", |s| s.lines().any(|l| l.trim() == "DONE"));
    let before = std::fs::read_to_string(before).expect("stty before");
    let after = std::fs::read_to_string(after).expect("stty after");
    assert_eq!(before, after, "terminal settings changed");
    let flags: Vec<&str> = after.split_whitespace().collect();
    assert!(flags.contains(&"icanon"), "{after}");
    assert!(flags.contains(&"echo"), "{after}");
}

/// While the child runs, the user's terminal turns raw (the child may
/// print before the passthrough has switched, hence the polling).
fn assert_raw_now(tmux: &Tmux) {
    let start = Instant::now();
    loop {
        let out = Command::new("stty")
            .args(["-a", "-F", &tmux.pane_tty()])
            .output()
            .expect("stty -F");
        let text = String::from_utf8_lossy(&out.stdout);
        let flags: Vec<&str> = text.split_whitespace().collect();
        if flags.contains(&"-icanon") && flags.contains(&"-echo") {
            return;
        }
        assert!(start.elapsed() < DEADLINE, "never raw: {text}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads the number printed after `tag` on the screen (the shell's
/// prompt may share the line).
fn number_after(tmux: &Tmux, tag: &str) -> String {
    let find = |screen: &str| -> Option<String> {
        screen.lines().find_map(|line| {
            let rest = &line[line.find(tag)? + tag.len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            (!digits.is_empty()).then_some(digits)
        })
    };
    let screen = tmux.wait_for(tag, |s| find(s).is_some());
    find(&screen).expect("tagged number")
}

#[test]
fn terminal_restored_after_normal_exit() {
    assert_restored(
        run_line("echo STARTED; read x"),
        |tmux| {
            tmux.wait_for_text("STARTED");
            assert_raw_now(tmux);
            tmux.press("Enter");
        },
        "rc=0",
    );
}

#[test]
fn terminal_restored_after_child_is_killed() {
    assert_restored(
        run_line("echo PID:$$; exec sleep 30"),
        |tmux| {
            let pid = number_after(tmux, "PID:");
            assert_raw_now(tmux);
            let status = Command::new("kill")
                .args(["-KILL", &pid])
                .status()
                .expect("kill");
            assert!(status.success());
        },
        "rc=137",
    );
}

#[test]
fn terminal_restored_after_sigterm_to_passthrough() {
    assert_restored(
        run_line("echo PARENT:$PPID; exec sleep 30"),
        |tmux| {
            let pid = number_after(tmux, "PARENT:");
            assert_raw_now(tmux);
            let status = Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .expect("kill");
            assert!(status.success());
        },
        // SIGTERM forwarded to the child, whose death by it is the code.
        "rc=143",
    );
}

#[test]
fn terminal_restored_when_the_caller_panics() {
    assert_restored(
        format!("CSM_PANIC_AFTER_SPAWN=1 {}", run_line("exec sleep 30")),
        |tmux| {
            tmux.wait_for_text("panic while the child runs");
        },
        // Rust's exit code for a panicking main.
        "rc=101",
    );
}

#[test]
fn keys_reach_child_and_exit_code_comes_back() {
    let tmux = Tmux::start(80, 24);
    tmux.line(&run_line("echo READY; cat; exit 3"));
    tmux.wait_for_text("READY");
    tmux.type_text("hello pty");
    tmux.press("Enter");
    // Once echoed by the child's terminal, once written back by cat.
    tmux.wait_for("the line twice", |s| s.matches("hello pty").count() >= 2);
    tmux.press("C-d");
    tmux.wait_for_text("rc=3");
}

#[test]
fn without_a_terminal_runs_child_with_inherited_stdio() {
    let out = Command::new(passthrough())
        .args(["sh", "-c", "echo out; exit 5"])
        .stdin(Stdio::null())
        .env_remove("CSM_FORCE_PTY")
        .output()
        .expect("run passthrough");
    assert_eq!(out.status.code(), Some(5));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "out\n");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("is not a terminal; running sh without a PTY"),
        "{stderr}"
    );
}

#[test]
fn forced_pty_copies_output_and_shows_it_to_the_observer() {
    let dir = tempfile::tempdir().expect("temp dir");
    let observed = dir.path().join("observed");
    let out = Command::new(passthrough())
        .args(["sh", "-c", "printf 'one\\ntwo\\n'; exit 4"])
        .stdin(Stdio::null())
        .env("CSM_FORCE_PTY", "1")
        .env("CSM_OBSERVE_FILE", &observed)
        .output()
        .expect("run passthrough");
    assert_eq!(out.status.code(), Some(4));
    // The PTY turns \n into \r\n: proof the bytes went through it.
    assert_eq!(String::from_utf8_lossy(&out.stdout), "one\r\ntwo\r\n");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = std::fs::read(&observed).expect("observer file");
    assert_eq!(seen, out.stdout);
}

#[test]
fn a_grandchild_holding_the_pty_does_not_hold_csm() {
    // The child exits at once; the background sleep keeps the PTY open.
    // csm must copy the output, notice the exit and end, not wait for it.
    // (The helper is built, if need be, before the clock starts.)
    let passthrough = passthrough();
    let start = Instant::now();
    let out = Command::new(passthrough)
        .args(["sh", "-c", "sleep 30 & printf 'bye\\n'; exit 3"])
        .stdin(Stdio::null())
        .env("CSM_FORCE_PTY", "1")
        .output()
        .expect("run passthrough");
    assert_eq!(out.status.code(), Some(3));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "bye\r\n");
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "csm waited for the grandchild: {:?}",
        start.elapsed()
    );
}
