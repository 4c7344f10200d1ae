//! Telling a running interactive Codex something: `codex queue --thread
//! <id> --message TEXT` queues a user message for the thread, which the
//! running UI (with or without `--no-daemon`) picks up and answers in a
//! turn of its own, in the same thread. It fails ("No active session
//! found") when no Codex runs the thread.

use std::ffi::OsString;
use std::io::Read;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::CodexCommand;

/// How long `codex queue` may take before it is given up on.
pub const QUEUE_TIMEOUT: Duration = Duration::from_secs(20);

/// The command that queues `message` for `thread`: the same program and
/// environment (without secrets) as the session's own launch.
pub fn command(launch: &CodexCommand, thread: &str, message: &str) -> CodexCommand {
    CodexCommand {
        program: launch.program.clone(),
        // `--name=value`: a message starting with '-' stays a value.
        args: vec![
            OsString::from("queue"),
            format!("--thread={thread}").into(),
            format!("--message={}", cap(message)).into(),
        ],
        cwd: launch.cwd.clone(),
        env: launch.env.clone(),
    }
}

/// The longest message passed (bytes): one argument may not exceed 128 KiB
/// on Linux.
pub const MAX_MESSAGE_BYTES: usize = 100 * 1024;

/// `message`, cut at [`MAX_MESSAGE_BYTES`] with a marker when longer.
fn cap(message: &str) -> String {
    if message.len() <= MAX_MESSAGE_BYTES {
        return message.to_string();
    }
    let mut end = MAX_MESSAGE_BYTES;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    format!(
        "{}\n\n[… cut by csm; read the ticket for the rest]",
        &message[..end]
    )
}

/// Why a message was not queued.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The program could not be run.
    #[error("cannot run {program}: {source}")]
    Spawn {
        /// The program.
        program: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// It ran too long and was stopped.
    #[error("codex queue took longer than {0:?}")]
    Timeout(Duration),
    /// It failed; the last line of what it said.
    #[error("codex queue failed: {0}")]
    Failed(String),
}

/// Runs a queue command to the end (argv, never a shell; stdin empty).
pub fn run(cmd: &CodexCommand) -> Result<(), QueueError> {
    let mut child = cmd
        .to_command()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| QueueError::Spawn {
            program: display(&cmd.program),
            source,
        })?;
    let mut stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.take(64 * 1024).read_to_string(&mut text);
        }
        text
    });
    let deadline = Instant::now() + QUEUE_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(QueueError::Timeout(QUEUE_TIMEOUT));
            }
        }
    };
    let text = reader.join().unwrap_or_default();
    if status.success() {
        return Ok(());
    }
    let line = text
        .lines()
        .find(|l| l.starts_with("Error"))
        .or_else(|| text.lines().rev().find(|l| !l.trim().is_empty()))
        .unwrap_or("no message");
    Err(QueueError::Failed(crate::output::sanitize(line.trim())))
}

fn display(p: &Path) -> String {
    p.display().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_is_one_argument_and_the_environment_is_the_launchs() {
        let launch = CodexCommand {
            program: "/opt/codex".into(),
            args: vec!["--no-daemon".into()],
            cwd: "/src/app".into(),
            env: vec![("PATH".into(), "/bin".into())],
        };
        let c = command(&launch, "019a", "line one\n- '$(rm -rf)'");
        assert_eq!(c.program, launch.program);
        assert_eq!(c.env, launch.env);
        assert_eq!(c.cwd, launch.cwd);
        assert_eq!(
            c.args,
            vec![
                OsString::from("queue"),
                "--thread=019a".into(),
                "--message=line one\n- '$(rm -rf)'".into()
            ]
        );
        let dash = command(&launch, "019a", "-rf");
        assert_eq!(dash.args[2], "--message=-rf");
        let huge = command(&launch, "019a", &"é".repeat(MAX_MESSAGE_BYTES));
        let text = huge.args[2].to_str().unwrap();
        assert!(text.len() < MAX_MESSAGE_BYTES + 100, "{}", text.len());
        assert!(text.ends_with("read the ticket for the rest]"));
    }

    #[test]
    fn a_failure_says_why() {
        let launch = CodexCommand {
            program: "/bin/sh".into(),
            args: Vec::new(),
            cwd: "/".into(),
            env: Vec::new(),
        };
        let mut c = command(&launch, "t", "m");
        c.args = vec![
            "-c".into(),
            "echo 'WARNING: x' >&2; echo \"Error: No active session found matching 't'.\" >&2; exit 1".into(),
        ];
        let e = run(&c).unwrap_err().to_string();
        assert!(e.contains("No active session found"), "{e}");
        c.args = vec!["-c".into(), "exit 0".into()];
        run(&c).unwrap();
    }
}
