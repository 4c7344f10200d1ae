//! `TestEnv`: a private world for one test. It owns a temporary folder with
//! its own HOME, XDG folders and CODEX_HOME, and runs the built `csm` binary
//! in it as a user would, with a cleared environment so nothing of the
//! developer's machine (config, keyring, tokens, proxies) leaks in.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The isolated environment.
pub struct TestEnv {
    root: tempfile::TempDir,
    env: BTreeMap<String, String>,
    cwd: PathBuf,
}

/// What a run of csm printed and returned.
#[derive(Debug)]
pub struct Run {
    /// The exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Asserts success and returns self.
    #[track_caller]
    pub fn ok(self) -> Run {
        assert_eq!(
            self.code, 0,
            "csm failed\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }

    /// Asserts failure with the given exit code and returns self.
    #[track_caller]
    pub fn fails_with(self, code: i32) -> Run {
        assert_eq!(
            self.code, code,
            "expected exit code {code}\n--- stdout\n{}\n--- stderr\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

impl TestEnv {
    /// A fresh environment with an empty home and a `work` folder as the
    /// current folder.
    pub fn new() -> TestEnv {
        let root = tempfile::Builder::new()
            .prefix("csm-test-")
            .tempdir()
            .expect("temp dir");
        let path = root.path().to_path_buf();
        let mut env = BTreeMap::new();
        let dirs = [
            ("HOME", "home"),
            ("XDG_CONFIG_HOME", "home/.config"),
            ("XDG_DATA_HOME", "home/.local/share"),
            ("XDG_STATE_HOME", "home/.local/state"),
            ("XDG_CACHE_HOME", "home/.cache"),
            ("CODEX_HOME", "home/.codex"),
            ("TMPDIR", "tmp"),
        ];
        for (var, rel) in dirs {
            let dir = path.join(rel);
            std::fs::create_dir_all(&dir).expect("mkdir");
            env.insert(var.to_string(), dir.to_string_lossy().into_owned());
        }
        env.insert(
            "PATH".into(),
            std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into()),
        );
        env.insert("LANG".into(), "C.UTF-8".into());
        // No keyring unless a test brings its own Secret Service.
        env.insert("CSM_KEYRING".into(), "none".into());
        let cwd = path.join("work");
        std::fs::create_dir_all(&cwd).expect("mkdir work");
        TestEnv { root, env, cwd }
    }

    /// The temporary root (for snapshot filters).
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// The home folder.
    pub fn home(&self) -> PathBuf {
        self.root.path().join("home")
    }

    /// The folder csm runs in by default.
    pub fn work(&self) -> &Path {
        &self.cwd
    }

    /// CODEX_HOME.
    pub fn codex_home(&self) -> PathBuf {
        self.home().join(".codex")
    }

    /// The user's csm config file.
    pub fn user_config(&self) -> PathBuf {
        self.home().join(".config/csm/config.toml")
    }

    /// The store's database file.
    pub fn store_file(&self) -> PathBuf {
        self.home().join(".local/share/csm/csm.db")
    }

    /// Writes the user's config file.
    pub fn write_user_config(&self, text: &str) {
        let path = self.user_config();
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write config");
    }

    /// Sets an environment variable for later runs.
    pub fn set_env(&mut self, key: &str, value: impl AsRef<OsStr>) {
        self.env.insert(
            key.to_string(),
            value.as_ref().to_string_lossy().into_owned(),
        );
    }

    /// Removes an environment variable for later runs.
    pub fn remove_env(&mut self, key: &str) {
        self.env.remove(key);
    }

    /// The environment runs get.
    pub fn env_vars(&self) -> &BTreeMap<String, String> {
        &self.env
    }

    /// A `csm` command in this environment, in the default folder.
    pub fn command(&self, args: &[&str]) -> Command {
        self.command_in(&self.cwd, args)
    }

    /// A `csm` command in this environment, in `dir`.
    pub fn command_in(&self, dir: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_csm"));
        cmd.args(args)
            .current_dir(dir)
            .env_clear()
            .envs(&self.env)
            .stdin(Stdio::null());
        cmd
    }

    /// Runs csm with `args` and waits.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_in(&self.cwd, args)
    }

    /// Runs csm in `dir` with `args` and waits.
    pub fn run_in(&self, dir: &Path, args: &[&str]) -> Run {
        collect(self.command_in(dir, args).output().expect("run csm"))
    }

    /// Runs csm with `input` on standard input.
    pub fn run_with_stdin(&self, args: &[&str], input: &str) -> Run {
        use std::io::Write;
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn csm");
        // csm may end before it reads (a refusal that needs no input).
        match child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
        {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            other => other.expect("write stdin"),
        }
        collect(child.wait_with_output().expect("wait csm"))
    }

    /// Replaces the temporary root in `text` with `$ROOT`, for snapshots.
    pub fn normalize(&self, text: &str) -> String {
        text.replace(&self.root.path().to_string_lossy().into_owned(), "$ROOT")
    }
}

fn collect(out: std::process::Output) -> Run {
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

impl TestEnv {
    /// A private tmux terminal of `cols`×`rows` whose shell has this
    /// environment's variables: the user's terminal in end-to-end tests.
    pub fn terminal(&self, cols: u16, rows: u16) -> super::tmux::Tmux {
        let tmux = super::tmux::Tmux::start(cols, rows);
        tmux.export(
            self.env_vars()
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        tmux
    }

    /// Waits until the latest session of each of `keys` has its Codex id
    /// in the store, and returns the ids in that order.
    pub fn captured_codex_ids(&self, keys: &[&str], within: std::time::Duration) -> Vec<String> {
        let deadline = std::time::Instant::now() + within;
        loop {
            let store = csm::store::Store::open(&self.store_file()).unwrap();
            let ids: Vec<Option<String>> = keys
                .iter()
                .map(|k| {
                    store
                        .sessions_for_ticket(k)
                        .unwrap()
                        .last()
                        .and_then(|s| s.codex_session_id.clone())
                })
                .collect();
            if ids.iter().all(Option::is_some) {
                return ids.into_iter().flatten().collect();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "ids not captured: {ids:?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

/// Writes an executable shell script (a stand-in program for fast tests).
pub fn write_script(path: &Path, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, format!("#!/bin/sh\n{body}\n")).expect("write script");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}
