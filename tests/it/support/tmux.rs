//! A private tmux server with one fixed-size window: a real terminal for
//! tests of the passthrough PTY. Every server has its own socket in a
//! temporary folder and is killed when the guard drops, even on failure.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// How long `wait_for` waits before failing the test with the screen.
pub const DEADLINE: Duration = Duration::from_secs(5);

/// A running tmux server; the pane runs `sh`.
pub struct Tmux {
    socket: PathBuf,
    dir: tempfile::TempDir,
}

impl Tmux {
    /// Starts a server whose only window is `cols` x `rows`.
    pub fn start(cols: u16, rows: u16) -> Tmux {
        let dir = tempfile::tempdir().expect("temp dir");
        let tmux = Tmux {
            socket: dir.path().join("sock"),
            dir,
        };
        let out = tmux.run(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-x",
            &cols.to_string(),
            "-y",
            &rows.to_string(),
            "env PS1='$ ' sh",
        ]);
        assert!(out.status.success(), "tmux new-session: {out:?}");
        tmux
    }

    /// A folder that lives as long as the server, for test files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux")
    }

    /// The server's socket (what `$TMUX` names inside its panes).
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// Runs a tmux command on this server and returns what it printed;
    /// fails the test when tmux fails.
    pub fn query(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "tmux {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Types `keys` literally.
    pub fn type_text(&self, keys: &str) {
        let out = self.run(&["send-keys", "-l", keys]);
        assert!(out.status.success(), "tmux send-keys: {out:?}");
    }

    /// Presses a named key (`Enter`, `C-d`...).
    pub fn press(&self, key: &str) {
        let out = self.run(&["send-keys", key]);
        assert!(out.status.success(), "tmux send-keys: {out:?}");
    }

    /// Exports every variable of `env` in the pane's shell.
    pub fn export<'a>(&self, env: impl IntoIterator<Item = (&'a str, &'a str)>) {
        let mut line = String::new();
        for (k, v) in env {
            line.push_str(&format!("export {k}='{}'; ", v.replace('\'', "'\\''")));
        }
        line.push_str("clear");
        self.line(&line);
    }

    /// Presses a named key `n` times.
    pub fn press_n(&self, key: &str, n: usize) {
        let out = self.run(&["send-keys", "-N", &n.to_string(), key]);
        assert!(out.status.success(), "tmux send-keys: {out:?}");
    }

    /// Types a shell line and presses Enter.
    pub fn line(&self, text: &str) {
        self.type_text(text);
        self.press("Enter");
    }

    /// The pane's visible text.
    pub fn screen(&self) -> String {
        let out = self.run(&["capture-pane", "-p"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The pane's terminal device (for `stty -F`).
    pub fn pane_tty(&self) -> String {
        let out = self.run(&["display-message", "-p", "#{pane_tty}"]);
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Whether the pane shows the alternate screen (a full-screen program
    /// that has not put the terminal back).
    pub fn alternate_on(&self) -> bool {
        let out = self.run(&["display-message", "-p", "#{alternate_on}"]);
        String::from_utf8_lossy(&out.stdout).trim() == "1"
    }

    /// Resizes the window.
    pub fn resize(&self, cols: u16, rows: u16) {
        let out = self.run(&[
            "resize-window",
            "-x",
            &cols.to_string(),
            "-y",
            &rows.to_string(),
        ]);
        assert!(out.status.success(), "tmux resize-window: {out:?}");
    }

    /// Polls the screen until `ready` holds; fails with the screen after
    /// [`DEADLINE`].
    pub fn wait_for(&self, what: &str, ready: impl Fn(&str) -> bool) -> String {
        self.wait_for_within(what, DEADLINE, ready)
    }

    /// Like [`Tmux::wait_for`] with its own deadline (Codex takes a few
    /// seconds to start).
    pub fn wait_for_within(
        &self,
        what: &str,
        deadline: Duration,
        ready: impl Fn(&str) -> bool,
    ) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if ready(&screen) {
                return screen;
            }
            assert!(
                start.elapsed() < deadline,
                "timed out waiting for {what}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the screen contains `text`.
    pub fn wait_for_text(&self, text: &str) -> String {
        self.wait_for(text, |s| s.contains(text))
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}
