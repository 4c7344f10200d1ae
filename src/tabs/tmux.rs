//! The tmux backend: each tab is a window (started in the background, so
//! the user's view stays on Codex) in the tmux session csm runs in, or in a
//! detached session `csm-KEY` of its own when csm is not inside tmux.
//!
//! The command goes to tmux as argv, never as a shell string. tmux still
//! reads two things in its arguments, and both are escaped here: an
//! argument ending in `;` would end the tmux command (and start another),
//! and the window name and folder are expanded as tmux formats (`#{...}`).

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::backend::{Backend, BackendError, Launch, Started};

/// What `new-window -P` prints about the new pane.
const PANE_FORMAT: &str = "#{pane_id} #{pane_pid} #{window_id} #{session_name}";

/// A tmux session to put tabs in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tmux {
    /// The server's socket (`-S`); `None` for the default server.
    pub socket: Option<PathBuf>,
    /// The session's id (`$3`) or, when `detached`, its name.
    pub session: String,
    /// Whether the session is csm's own, made when missing.
    pub detached: bool,
}

/// An argument tmux passes on unchanged: a trailing `;` would end the
/// command, so it becomes `\;`, which tmux turns back into `;`.
pub fn literal_arg(arg: &OsStr) -> OsString {
    match arg.as_encoded_bytes().split_last() {
        Some((b';', head)) => {
            // SAFETY: `head` is `arg` cut just before an ASCII byte, which
            // keeps it a valid encoding of an OsStr.
            let mut out = unsafe { OsStr::from_encoded_bytes_unchecked(head) }.to_os_string();
            out.push("\\;");
            out
        }
        _ => arg.to_os_string(),
    }
}

/// A value tmux expands as a format (window names, `-c` folders): `#`
/// doubled, and a trailing `;` escaped.
pub fn format_arg(value: &str) -> OsString {
    literal_arg(OsStr::new(&value.replace('#', "##")))
}

fn tmux(socket: Option<&Path>, env: &[(OsString, OsString)]) -> Command {
    let mut cmd = Command::new("tmux");
    if let Some(s) = socket {
        cmd.arg("-S").arg(s);
    }
    cmd.env_clear().envs(env.iter().map(|(k, v)| (k, v)));
    cmd
}

fn run(cmd: &mut Command, action: &'static str) -> Result<String, BackendError> {
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|source| BackendError::Spawn {
            program: "tmux".into(),
            source,
        })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(BackendError::Tmux {
            action,
            message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// The id of the tmux session csm runs in (`$3`): the session of `pane`,
/// or of the client `$TMUX` names.
pub fn current_session(
    socket: &Path,
    pane: Option<&str>,
    env: &[(OsString, OsString)],
) -> Result<String, BackendError> {
    let mut cmd = tmux(Some(socket), env);
    cmd.args(["display-message", "-p"]);
    if let Some(p) = pane {
        cmd.args(["-t", p]);
    }
    cmd.arg("#{session_id}");
    let id = run(&mut cmd, "display-message")?.trim().to_string();
    if id.is_empty() {
        return Err(BackendError::Tmux {
            action: "display-message",
            message: "no session id".into(),
        });
    }
    Ok(id)
}

fn parse_started(printed: &str) -> Result<Started, BackendError> {
    let mut parts = printed.trim().splitn(4, ' ');
    let pane = parts.next().unwrap_or_default().to_string();
    let pid = parts.next().and_then(|p| p.parse::<u32>().ok());
    let window = parts.next().map(str::to_string);
    let session = parts.next().map(str::to_string);
    match pid {
        Some(pid) if pane.starts_with('%') => Ok(Started {
            pid,
            pane: Some(pane),
            window,
            tmux_session: session,
            log: None,
        }),
        _ => Err(BackendError::Tmux {
            action: "new-window",
            message: format!("unexpected answer {printed:?}"),
        }),
    }
}

impl Tmux {
    fn command(&self, env: &[(OsString, OsString)]) -> Command {
        tmux(self.socket.as_deref(), env)
    }

    fn window_args(launch: &Launch<'_>) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec![
            "-P".into(),
            "-F".into(),
            PANE_FORMAT.into(),
            "-n".into(),
            format_arg(launch.name),
            "-c".into(),
            format_arg(&launch.cwd.to_string_lossy()),
            "--".into(),
        ];
        args.extend(launch.argv.iter().map(|a| literal_arg(a)));
        args
    }

    fn has_session(&self, env: &[(OsString, OsString)]) -> bool {
        self.command(env)
            .args(["has-session", "-t", &format!("={}", self.session)])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn new_window(&self, launch: &Launch<'_>) -> Result<Started, BackendError> {
        let target = if self.detached {
            format!("={}:", self.session)
        } else {
            format!("{}:", self.session)
        };
        let mut cmd = self.command(launch.env);
        cmd.args(["new-window", "-d", "-t", &target]);
        cmd.args(Tmux::window_args(launch));
        parse_started(&run(&mut cmd, "new-window")?)
    }
}

impl Backend for Tmux {
    fn start(&self, launch: &Launch<'_>) -> Result<Started, BackendError> {
        if self.detached && !self.has_session(launch.env) {
            let mut cmd = self.command(launch.env);
            cmd.args(["new-session", "-d", "-s", &self.session]);
            cmd.args(Tmux::window_args(launch));
            match run(&mut cmd, "new-session") {
                Ok(printed) => return parse_started(&printed),
                // Another tab made the session a moment ago: add a window.
                Err(e) if self.has_session(launch.env) => {
                    tracing::debug!(error = %e, "tmux session appeared meanwhile");
                }
                Err(e) => return Err(e),
            }
        }
        self.new_window(launch)
    }

    fn read(&self, started: &Started, lines: usize) -> Result<Option<String>, BackendError> {
        let Some(pane) = &started.pane else {
            return Ok(None);
        };
        let mut cmd = self.command(&inherited_env());
        cmd.args(["capture-pane", "-p", "-J", "-t", pane, "-S"]);
        cmd.arg(format!("-{}", lines.max(1)));
        match run(&mut cmd, "capture-pane") {
            Ok(text) => Ok(Some(text)),
            // The window was closed (or the server is gone).
            Err(BackendError::Tmux { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// The environment of this process, for tmux commands that start nothing.
fn inherited_env() -> Vec<(OsString, OsString)> {
    std::env::vars_os().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_that_tmux_would_read_are_escaped() {
        let lit = |s: &str| literal_arg(OsStr::new(s)).into_string().unwrap();
        assert_eq!(lit("echo"), "echo");
        assert_eq!(lit(";"), "\\;");
        assert_eq!(lit("a;"), "a\\;");
        assert_eq!(lit("a\\;"), "a\\\\;");
        assert_eq!(lit(";a"), ";a");
        assert_eq!(lit("#{pane_id}"), "#{pane_id}");
        assert_eq!(format_arg("dev #{x};"), "dev ##{x}\\;");
    }

    #[test]
    fn the_printed_pane_is_parsed() {
        let s = parse_started("%12 4242 @7 csm-PROJ-1\n").unwrap();
        assert_eq!(s.pid, 4242);
        assert_eq!(s.pane.as_deref(), Some("%12"));
        assert_eq!(s.window.as_deref(), Some("@7"));
        assert_eq!(s.tmux_session.as_deref(), Some("csm-PROJ-1"));
        assert!(parse_started("garbage").is_err());
        assert!(parse_started("").is_err());
    }

    /// The escaping, checked against the real tmux on a private server:
    /// arguments arrive unchanged, none ends the command, and the window
    /// is created in the background with its folder and name.
    #[test]
    fn a_window_gets_its_arguments_verbatim() {
        if which::which("tmux").is_err() {
            eprintln!("tmux is not installed; skipped");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("sock");
        let cwd = dir.path().join("a#b");
        std::fs::create_dir(&cwd).unwrap();
        let out = dir.path().join("out");
        let env: Vec<(OsString, OsString)> = std::env::vars_os().collect();
        let t = Tmux {
            socket: Some(sock.clone()),
            session: "csm-T-1".into(),
            detached: true,
        };
        let script = format!(
            "pwd > '{0}'; for a in \"$@\"; do printf '[%s]\\n' \"$a\" >> '{0}'; done",
            out.display()
        );
        let argv: Vec<OsString> = [
            "sh",
            "-c",
            &script,
            "sh",
            "a;",
            ";",
            "kill-server",
            "#{pane_id}",
            "b\\;",
            "$HOME",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        let started = t
            .start(&Launch {
                name: "dev #1",
                cwd: &cwd,
                argv: &argv,
                env: &env,
                log_file: Path::new("/nonexistent"),
            })
            .unwrap();
        assert!(started.pane.is_some());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let text = loop {
            let text = std::fs::read_to_string(&out).unwrap_or_default();
            if text.contains("[$HOME]") {
                break text;
            }
            assert!(std::time::Instant::now() < deadline, "{text}");
            std::thread::sleep(std::time::Duration::from_millis(20));
        };
        assert_eq!(
            text,
            format!(
                "{}\n[a;]\n[;]\n[kill-server]\n[#{{pane_id}}]\n[b\\;]\n[$HOME]\n",
                std::fs::canonicalize(&cwd).unwrap().display()
            )
        );
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&sock)
            .arg("kill-server")
            .stderr(std::process::Stdio::null())
            .status();
    }
}
