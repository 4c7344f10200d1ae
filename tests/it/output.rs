//! Output conventions: logging to a file, colour only on a terminal and
//! never with NO_COLOR, nothing decorative when piped.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::env::{TestEnv, write_script};

#[test]
fn verbose_runs_log_to_a_file_in_the_state_dir() {
    let env = TestEnv::new();
    let run = env.run(&["-vv", "config", "show"]).ok();
    assert!(run.stderr.contains("csm starting"), "{}", run.stderr);
    let logs = env.home().join(".local/state/csm/logs");
    let files: Vec<_> = std::fs::read_dir(&logs).unwrap().flatten().collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().to_string_lossy().into_owned();
    assert!(name.starts_with("csm.") && name.ends_with(".log"), "{name}");
    let text = std::fs::read_to_string(files[0].path()).unwrap();
    assert!(text.contains("csm starting"), "{text}");
    // Without -v, stderr stays quiet.
    let run = env.run(&["config", "show"]).ok();
    assert!(run.stderr.is_empty(), "{}", run.stderr);
}

#[test]
fn piped_output_has_no_colour_codes() {
    let mut env = TestEnv::new();
    let codex = env.root().join("bin/codex");
    write_script(&codex, "echo 'codex-cli 0.169.0'");
    env.set_env("CSM_CODEX_BIN", &codex);
    let run = env.run(&["doctor"]).ok();
    assert!(!run.stdout.contains('\u{1b}'), "{:?}", run.stdout);
    let run = env.run(&["ticket", "show", "X-1"]);
    assert!(!run.stderr.contains('\u{1b}'), "{:?}", run.stderr);
}

/// A private tmux server that is killed when the test ends.
struct Tmux {
    socket: std::path::PathBuf,
}

impl Tmux {
    fn new(env: &TestEnv) -> Tmux {
        Tmux {
            socket: env.root().join("tmux.sock"),
        }
    }

    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux is installed (bash .ci/run installs it)")
    }

    fn capture(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-e", "-t", "t"]).stdout)
            .into_owned()
    }

    fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let screen = self.capture();
            if screen.contains(needle) || Instant::now() > deadline {
                return screen;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

fn doctor_in_tmux(no_color: bool) -> String {
    let mut env = TestEnv::new();
    let codex = env.root().join("bin/codex");
    write_script(&codex, "echo 'codex-cli 0.169.0'");
    env.set_env("CSM_CODEX_BIN", &codex);
    if no_color {
        env.set_env("NO_COLOR", "1");
    }
    env.set_env("TERM", "xterm-256color");
    let mut script = String::new();
    for (k, v) in env.env_vars() {
        script.push_str(&format!("export {k}='{v}'; "));
    }
    script.push_str(&format!(
        "cd '{}' && '{}' doctor; echo DONE; sleep 30",
        env.work().display(),
        env!("CARGO_BIN_EXE_csm")
    ));
    let tmux = Tmux::new(&env);
    let out = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "t",
        "-x",
        "120",
        "-y",
        "20",
        "sh",
        "-c",
        &script,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let screen = tmux.wait_for("DONE");
    assert!(screen.contains("DONE"), "{screen}");
    screen
}

#[test]
fn colour_on_a_terminal_and_never_with_no_color() {
    let coloured = doctor_in_tmux(false);
    assert!(
        coloured.contains("\u{1b}[32m"),
        "expected green: {coloured:?}"
    );
    let plain = doctor_in_tmux(true);
    assert!(plain.contains("ok   config"), "{plain}");
    assert!(!plain.contains("\u{1b}[32m"), "NO_COLOR ignored: {plain:?}");
}
