//! The log backend, for machines without tmux: each tab is a background
//! process in a process group of its own (so it outlives Codex and csm and
//! can be stopped as a whole), its output appended to a file under csm's
//! state folder.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

use super::backend::{Backend, BackendError, Launch, Started};

/// How much of the end of a log is read to find its last lines.
const TAIL_BYTES: u64 = 256 * 1024;

/// Tabs as background processes writing to files.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogFile;

impl Backend for LogFile {
    fn start(&self, launch: &Launch<'_>) -> Result<Started, BackendError> {
        let io_err = |source| BackendError::Io {
            path: launch.log_file.to_path_buf(),
            source,
        };
        if let Some(dir) = launch.log_file.parent() {
            crate::paths::create_private_dir(dir).map_err(io_err)?;
        }
        // Output may hold anything the command prints: only the user reads it.
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(launch.log_file)
            .map_err(io_err)?;
        let err_file = file.try_clone().map_err(io_err)?;
        let (program, args) = launch
            .argv
            .split_first()
            .ok_or_else(|| BackendError::Spawn {
                program: String::new(),
                source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "empty command"),
            })?;
        let mut child = Command::new(program)
            .args(args)
            .current_dir(launch.cwd)
            .env_clear()
            .envs(launch.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(file)
            .stderr(err_file)
            .process_group(0)
            .spawn()
            .map_err(|source| BackendError::Spawn {
                program: program.to_string_lossy().into_owned(),
                source,
            })?;
        let pid = child.id();
        // Reap it when it ends, so no zombie is left while this process
        // lives on (the MCP server); it records its own exit.
        std::thread::spawn(move || {
            let _ = child.wait();
        });
        Ok(Started {
            pid,
            pane: None,
            window: None,
            tmux_session: None,
            log: Some(launch.log_file.to_path_buf()),
        })
    }

    fn read(&self, started: &Started, lines: usize) -> Result<Option<String>, BackendError> {
        let Some(path) = &started.log else {
            return Ok(None);
        };
        match tail(path, lines) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(BackendError::Io {
                path: path.clone(),
                source,
            }),
        }
    }
}

/// The last `lines` lines of a file, as terminal text: a carriage return
/// starts its line over (progress bars), escapes and control characters
/// are removed.
pub fn tail(path: &Path, lines: usize) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let start = len.saturating_sub(TAIL_BYTES);
    f.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    let mut all: Vec<&str> = text.split('\n').collect();
    if start > 0 && all.len() > 1 {
        // The first line was cut in the middle.
        all.remove(0);
    }
    if all.last() == Some(&"") {
        all.pop();
    }
    let keep = all.len().saturating_sub(lines);
    Ok(all[keep..]
        .iter()
        .map(|l| {
            let visible = l.trim_end_matches('\r').rsplit('\r').next().unwrap_or("");
            crate::output::sanitize(visible)
        })
        .collect::<Vec<_>>()
        .join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails_as_a_terminal_shows_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.log");
        std::fs::write(
            &path,
            "one\ntwo\n\u{1b}[32mgreen\u{1b}[0m\r\n10%\r50%\r100%\nlast\n",
        )
        .unwrap();
        assert_eq!(tail(&path, 3).unwrap(), "green\n100%\nlast");
        assert_eq!(tail(&path, 100).unwrap(), "one\ntwo\ngreen\n100%\nlast");
        assert!(tail(&dir.path().join("none"), 3).is_err());
    }

    #[test]
    fn a_log_tab_runs_in_its_folder_with_its_output_in_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("state/tabs/1/2.log");
        let argv: Vec<std::ffi::OsString> = ["sh", "-c", "pwd; echo \"$GREETING\"; echo oops >&2"]
            .iter()
            .map(Into::into)
            .collect();
        let env = vec![
            ("PATH".into(), std::env::var_os("PATH").unwrap()),
            ("GREETING".into(), "hello".into()),
        ];
        let started = LogFile
            .start(&Launch {
                name: "t",
                cwd: dir.path(),
                argv: &argv,
                env: &env,
                log_file: &log,
            })
            .unwrap();
        assert_eq!(started.log.as_deref(), Some(log.as_path()));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        loop {
            let text = LogFile.read(&started, 10).unwrap().unwrap_or_default();
            if text.contains("oops") {
                let cwd = std::fs::canonicalize(dir.path()).unwrap();
                assert_eq!(text, format!("{}\nhello\noops", cwd.display()));
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{text}");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&log).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
