//! The exact command csm runs: program, argv, folder and environment.
//!
//! Arguments are an argv vector, never a shell string. The environment is
//! the user's minus csm's own secrets, so a tracker token never reaches
//! Codex or anything Codex runs.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};

use super::settings::Settings;

/// A Codex invocation, ready to spawn.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodexCommand {
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// The folder it runs in.
    pub cwd: PathBuf,
    /// The whole environment it gets (the parent's is not inherited).
    pub env: Vec<(OsString, OsString)>,
}

/// What every launch and resume shares.
#[derive(Clone, Debug)]
pub struct Invocation<'a> {
    /// The `codex` program.
    pub program: &'a Path,
    /// The session's settings.
    pub settings: &'a Settings,
    /// The folder.
    pub cwd: &'a Path,
    /// The prompt, if any.
    pub prompt: Option<&'a str>,
    /// A program (argv) Codex runs at the end of each turn, passed as
    /// `-c notify=[...]` so the user's config file is left alone.
    pub notify: Option<&'a [OsString]>,
    /// Further arguments placed before the prompt (e.g. `--no-daemon`).
    pub extra: &'a [OsString],
    /// An MCP server to give Codex for this launch only (`csm mcp`, for
    /// sessions with tabs on).
    pub mcp: Option<&'a McpServer>,
}

/// An MCP server passed to Codex as `-c mcp_servers.<name>.*` overrides, so
/// the user's config file is left alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct McpServer {
    /// Its name in Codex (tools reach the model in the `mcp__<name>`
    /// namespace).
    pub name: String,
    /// The program.
    pub command: OsString,
    /// Its arguments.
    pub args: Vec<OsString>,
    /// Names of environment variables Codex passes on to it. Codex gives
    /// an MCP server only a few (HOME, PATH, ...) unless told more.
    pub env_vars: Vec<String>,
    /// How long Codex waits for one tool call (seconds).
    pub tool_timeout_sec: u64,
}

impl McpServer {
    /// The `-c key=value` arguments that configure it. Its tools need no
    /// approval from Codex: csm asks the user itself where that matters.
    pub fn overrides(&self) -> Vec<OsString> {
        let key = |k: &str| format!("mcp_servers.{}.{k}", self.name);
        let string = |s: &OsStr| toml::Value::String(s.to_string_lossy().into_owned());
        let array = |items: Vec<toml::Value>| toml::Value::Array(items);
        let pairs = [
            ("command", string(&self.command)),
            ("args", array(self.args.iter().map(|a| string(a)).collect())),
            (
                "env_vars",
                array(
                    self.env_vars
                        .iter()
                        .map(|v| toml::Value::String(v.clone()))
                        .collect(),
                ),
            ),
            (
                "default_tools_approval_mode",
                toml::Value::String("approve".into()),
            ),
            (
                "tool_timeout_sec",
                toml::Value::Integer(i64::try_from(self.tool_timeout_sec).unwrap_or(i64::MAX)),
            ),
        ];
        pairs
            .into_iter()
            .flat_map(|(k, v)| ["-c".into(), format!("{}={v}", key(k)).into()])
            .collect()
    }
}

impl CodexCommand {
    /// `codex [settings] [extra] [PROMPT]` in the ticket's folder.
    pub fn launch(inv: &Invocation<'_>, env: Vec<(OsString, OsString)>) -> CodexCommand {
        CodexCommand::build(inv, Vec::new(), env)
    }

    /// `codex resume <id> [settings] [extra] [PROMPT]` in the recorded folder.
    pub fn resume(
        inv: &Invocation<'_>,
        session_id: &str,
        env: Vec<(OsString, OsString)>,
    ) -> CodexCommand {
        CodexCommand::build(inv, vec!["resume".into(), session_id.into()], env)
    }

    fn build(
        inv: &Invocation<'_>,
        mut args: Vec<OsString>,
        env: Vec<(OsString, OsString)>,
    ) -> CodexCommand {
        args.extend(inv.settings.interactive_args());
        if let Some(notify) = inv.notify {
            args.push("-c".into());
            args.push(notify_override(notify).into());
        }
        if let Some(mcp) = inv.mcp {
            args.extend(mcp.overrides());
        }
        args.extend(inv.extra.iter().cloned());
        if let Some(prompt) = inv.prompt.filter(|p| !p.trim().is_empty()) {
            // `--` would end options for Codex's parser too, but a prompt
            // starting with '-' is rare; guard anyway.
            if prompt.starts_with('-') {
                args.push("--".into());
            }
            args.push(prompt.into());
        }
        CodexCommand {
            program: inv.program.to_path_buf(),
            args,
            cwd: inv.cwd.to_path_buf(),
            env,
        }
    }

    /// A `std::process::Command` for this invocation.
    pub fn to_command(&self) -> std::process::Command {
        let mut cmd = std::process::Command::new(&self.program);
        cmd.args(&self.args)
            .current_dir(&self.cwd)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)));
        cmd
    }
}

/// `notify=["prog","arg"]` as a TOML value for `-c`.
fn notify_override(argv: &[OsString]) -> String {
    let items: Vec<toml::Value> = argv
        .iter()
        .map(|a| toml::Value::String(a.to_string_lossy().into_owned()))
        .collect();
    format!("notify={}", toml::Value::Array(items))
}

/// The user's environment minus secrets: the token variables csm reads and
/// any further names configured in `[secrets] env`.
pub fn child_env(
    vars: impl IntoIterator<Item = (OsString, OsString)>,
    extra_secrets: &[String],
) -> Vec<(OsString, OsString)> {
    let secret = |k: &OsStr| {
        crate::credentials::TOKEN_ENV_VARS
            .iter()
            .any(|s| OsStr::new(s) == k)
            || extra_secrets.iter().any(|s| OsStr::new(s) == k)
    };
    vars.into_iter().filter(|(k, _)| !secret(k)).collect()
}

impl fmt::Display for CodexCommand {
    /// The command as a person would type it (shell-quoted), for
    /// `--dry-run` and the dashboard.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cd {} && {}",
            quote(self.cwd.as_os_str()),
            quote(self.program.as_os_str())
        )?;
        for a in &self.args {
            write!(f, " {}", quote(a))?;
        }
        Ok(())
    }
}

/// `s` quoted for a POSIX shell when it needs it.
pub fn quote(s: &OsStr) -> String {
    let s = s.to_string_lossy();
    let safe = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
    if safe {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The most bytes one command-line argument may hold on Linux
/// (`MAX_ARG_STRLEN`, 32 pages, with its closing NUL): the prompt is one.
pub const MAX_PROMPT_BYTES: usize = 32 * 4096 - 1;

/// Refuses a prompt too large to pass to Codex as its argument, so it is
/// found before anything is recorded or changed, not when `exec` fails.
pub fn check_prompt_fits(prompt: &str) -> Result<(), String> {
    if prompt.len() > MAX_PROMPT_BYTES {
        return Err(format!(
            "the prompt is {} KiB, more than the {} KiB a command-line argument may hold",
            prompt.len().div_ceil(1024),
            (MAX_PROMPT_BYTES + 1) / 1024
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv<'a>(settings: &'a Settings, prompt: Option<&'a str>) -> Invocation<'a> {
        Invocation {
            program: Path::new("/usr/bin/codex"),
            settings,
            cwd: Path::new("/src/app"),
            prompt,
            notify: None,
            extra: &[],
            mcp: None,
        }
    }

    #[test]
    fn launch_and_resume_argv() {
        let mut s = Settings::default();
        s.apply("effort=high").unwrap();
        let notify: Vec<OsString> = vec!["/bin/csm".into(), "hook".into(), "notify".into()];
        let mut i = inv(&s, Some("Work on PROJ-1: it's ready"));
        i.notify = Some(&notify);
        let c = CodexCommand::launch(&i, Vec::new());
        assert_eq!(
            c.args,
            vec![
                OsString::from("-c"),
                "model_reasoning_effort=\"high\"".into(),
                "-c".into(),
                "notify=[\"/bin/csm\", \"hook\", \"notify\"]".into(),
                "Work on PROJ-1: it's ready".into(),
            ]
        );
        assert_eq!(
            c.to_string(),
            "cd /src/app && /usr/bin/codex -c 'model_reasoning_effort=\"high\"' -c 'notify=[\"/bin/csm\", \"hook\", \"notify\"]' 'Work on PROJ-1: it'\\''s ready'"
        );
        let r = CodexCommand::resume(&inv(&s, None), "019a-uuid", Vec::new());
        assert_eq!(r.args[..2], [OsString::from("resume"), "019a-uuid".into()]);
        assert_eq!(r.args.len(), 4);
        let dash = CodexCommand::launch(&inv(&s, Some("-rf")), Vec::new());
        assert_eq!(dash.args[dash.args.len() - 2], "--");
    }

    #[test]
    fn an_mcp_server_is_passed_as_config_overrides() {
        let s = Settings::default();
        let mcp = McpServer {
            name: "csm".into(),
            command: "/bin/csm".into(),
            args: vec!["mcp".into(), "--session".into(), "12".into()],
            env_vars: vec!["XDG_DATA_HOME".into(), "TMUX".into()],
            tool_timeout_sec: 120,
        };
        let mut i = inv(&s, None);
        i.mcp = Some(&mcp);
        let c = CodexCommand::resume(&i, "019a-uuid", Vec::new());
        let args: Vec<String> = c
            .args
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            vec![
                "resume",
                "019a-uuid",
                "-c",
                "mcp_servers.csm.command=\"/bin/csm\"",
                "-c",
                "mcp_servers.csm.args=[\"mcp\", \"--session\", \"12\"]",
                "-c",
                "mcp_servers.csm.env_vars=[\"XDG_DATA_HOME\", \"TMUX\"]",
                "-c",
                "mcp_servers.csm.default_tools_approval_mode=\"approve\"",
                "-c",
                "mcp_servers.csm.tool_timeout_sec=120",
            ]
        );
        assert!(
            !CodexCommand::launch(&inv(&s, None), Vec::new())
                .to_string()
                .contains("mcp_servers"),
            "no server unless asked"
        );
    }

    #[test]
    fn secrets_are_removed_from_the_child_environment() {
        let vars = vec![
            ("PATH".into(), "/bin".into()),
            ("CSM_JIRA_TOKEN".into(), "t1".into()),
            ("JIRA_API_TOKEN".into(), "t2".into()),
            ("MY_SECRET".into(), "t3".into()),
            ("HOME".into(), "/h".into()),
        ];
        let env = child_env(vars, &["MY_SECRET".to_string()]);
        let names: Vec<_> = env
            .iter()
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["PATH", "HOME"]);
    }
}
