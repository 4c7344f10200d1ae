//! What runs in a tab: csm itself (`csm tabs exec`), which runs the
//! command and records how it ended, whichever backend the tab uses and
//! whether or not Codex still runs.
//!
//! The supervisor leads the tab's process group (tmux starts a pane's
//! process as a session leader; the log backend starts it in a group of its
//! own), and the command runs in that group, in the foreground of the
//! tab's terminal, so Ctrl-C and `stop_tab` reach it as they would from a
//! shell. The supervisor ignores those signals itself, from before the
//! command starts, so that it lives to record the exit. A hangup (the
//! tab's window closed, its tmux server gone) reaches only the supervisor,
//! which leads the terminal's session: it passes it on to the command,
//! which would otherwise run on unseen.
//!
//! In a tmux window the supervisor then holds the window open, saying how
//! the command ended, until the user presses Enter (or closes it), so the
//! output stays readable. tmux's own `remain-on-exit` would do that too,
//! but a tmux built with libutempter can miss the exit of a pane's process
//! that ends at the moment its terminal closes (tmux issue #311): the pane
//! then never says how it ended and the process stays a zombie.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};

use serde_json::json;

use crate::store::Store;

use super::record;

/// One tab to supervise.
#[derive(Clone, Debug)]
pub struct Supervise {
    /// The store's file.
    pub store: PathBuf,
    /// The tab's id.
    pub tab: i64,
    /// Further variables to remove from the command's environment (the
    /// token variables csm knows are always removed).
    pub unset: Vec<String>,
    /// After the command ends, say how and wait for Enter before leaving
    /// (a tmux window stays open, its output readable).
    pub hold: bool,
    /// The command.
    pub argv: Vec<OsString>,
}

/// Runs the command to its end and records the exit; returns the exit code
/// to leave with (128 + the signal when a signal ended it).
pub fn run(s: &Supervise) -> i32 {
    let Some((program, args)) = s.argv.split_first() else {
        record_exit(s, Some(127), None, Some("empty command"));
        return 127;
    };
    let mut cmd = Command::new(program);
    cmd.args(args);
    for var in crate::credentials::TOKEN_ENV_VARS
        .iter()
        .copied()
        .chain(s.unset.iter().map(String::as_str))
    {
        cmd.env_remove(var);
    }
    // From before the command exists: a window closed (or Ctrl-C pressed)
    // the moment the tab opened must not end the supervisor unrecorded.
    // The command itself starts with the default dispositions.
    ignore_stop_signals();
    let hangups = Hangups::watch();
    // SAFETY: the closure runs between fork and exec and only calls
    // `signal`, which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            for sig in STOP_SIGNALS {
                libc::signal(sig, libc::SIG_DFL);
            }
            Ok(())
        });
    }
    crate::crashpoint::pause("tabs-exec:spawning");
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            let message = format!("cannot run {}: {e}", program.to_string_lossy());
            say(&format!("csm: {message}"));
            record_exit(s, Some(127), None, Some(&message));
            return 127;
        }
    };
    // `spawn` returns once the command has exec'd, so a hangup passed on
    // from here reaches the command, not a copy of this process.
    hangups.arm();
    let status = loop {
        match child.wait() {
            Ok(status) => break Some(status),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                say(&format!("csm: cannot wait for the command: {e}"));
                break None;
            }
        }
    };
    use std::os::unix::process::ExitStatusExt;
    let code = status.and_then(|st| st.code());
    let signal = status.and_then(|st| st.signal());
    record_exit(s, code, signal, None);
    if s.hold {
        let ended = super::record::Exit { code, signal }.describe();
        hold(&format!(
            "tab {} ({}): {ended}",
            s.tab,
            program.to_string_lossy()
        ));
    }
    code.unwrap_or_else(|| 128 + signal.unwrap_or(0))
}

/// What the group gets from the terminal or `stop_tab`; the supervisor
/// ignores them from before the command starts until it has ended.
const STOP_SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGQUIT];

fn ignore_stop_signals() {
    for sig in STOP_SIGNALS {
        // SAFETY: setting a signal's disposition to "ignore" has no
        // handler to run; the child already has its own dispositions.
        unsafe {
            libc::signal(sig, libc::SIG_IGN);
        }
    }
}

/// Passes the first hangup on to the process group (the command and its
/// children) once the command runs; the supervisor then gets its own
/// hangup back, and lets it be. A hangup that came before is passed on
/// when armed.
struct Hangups {
    state: Arc<Mutex<HangupState>>,
}

#[derive(Default)]
struct HangupState {
    armed: bool,
    seen: bool,
    passed: bool,
}

impl HangupState {
    /// Sends the hangup to the group if it is due and not yet sent.
    fn pass_on_if_due(&mut self) {
        if self.armed && self.seen && !self.passed {
            self.passed = true;
            // SAFETY: sends SIGHUP to this process's group; no memory is
            // touched.
            unsafe {
                libc::kill(0, libc::SIGHUP);
            }
        }
    }
}

impl Hangups {
    fn watch() -> Hangups {
        let state = Arc::new(Mutex::new(HangupState::default()));
        if let Ok(mut signals) = signal_hook::iterator::Signals::new([libc::SIGHUP]) {
            let state = Arc::clone(&state);
            std::thread::spawn(move || {
                for _ in signals.forever() {
                    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
                    state.seen = true;
                    state.pass_on_if_due();
                }
            });
        }
        Hangups { state }
    }

    fn arm(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.armed = true;
        state.pass_on_if_due();
    }
}

/// A line on standard error, which may be a terminal that is gone.
fn say(text: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{text}");
}

/// Says how the command ended and waits for Enter; Ctrl-C, closing the
/// window or the end of input end the wait too.
fn hold(ended: &str) {
    for sig in STOP_SIGNALS {
        // SAFETY: back to the default disposition; no handler runs.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
        }
    }
    say(&format!("\n[csm] {ended}. Press Enter to close this tab."));
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

fn record_exit(s: &Supervise, code: Option<i32>, signal: Option<i32>, error: Option<&str>) {
    let recorded = Store::open(&s.store).and_then(|store| {
        let Some(request) = store.event(s.tab)? else {
            return Ok(());
        };
        let mut data = json!({"request": s.tab, "code": code, "signal": signal});
        if let Some(e) = error {
            data["error"] = json!(e);
        }
        store.add_event(request.session_id, &record::event(record::EXITED, data))?;
        Ok(())
    });
    if let Err(e) = recorded {
        say(&format!("csm: cannot record how tab {} ended: {e}", s.tab));
    }
}
