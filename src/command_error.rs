//! What a command failure looks like to a person: one line naming the
//! problem, optional hints on what to do, and an exit code scripts can test.
//!
//! The library returns typed errors; this is the one place that turns them
//! into words and codes (the idea comes from jj's `CommandError`).

use std::fmt;

use crate::config::ConfigError;
use crate::credentials::CredentialError;
use crate::store::StoreError;
use crate::tracker::TrackerError;
use crate::worktree::WorktreeError;

/// Exit codes, documented in README.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitKind {
    /// 1: the command failed.
    Failure,
    /// 2: the command line or the configuration is wrong.
    Usage,
    /// 3: a ticket, session or other named thing does not exist.
    NotFound,
    /// 4: credentials are missing or were rejected.
    Auth,
    /// Codex's own exit code, passed on.
    Child(u8),
}

impl ExitKind {
    /// The process exit code.
    pub fn code(self) -> u8 {
        match self {
            ExitKind::Failure => 1,
            ExitKind::Usage => 2,
            ExitKind::NotFound => 3,
            ExitKind::Auth => 4,
            ExitKind::Child(code) => code,
        }
    }
}

/// A failed command, ready to be shown.
#[derive(Debug)]
pub struct CommandError {
    /// What failed, in one line.
    pub message: String,
    /// What to do about it.
    pub hints: Vec<String>,
    /// The exit code's meaning.
    pub kind: ExitKind,
}

impl CommandError {
    /// A failure with a message.
    pub fn new(kind: ExitKind, message: impl Into<String>) -> CommandError {
        CommandError {
            message: message.into(),
            hints: Vec::new(),
            kind,
        }
    }

    /// A plain failure (exit code 1).
    pub fn failure(message: impl Into<String>) -> CommandError {
        CommandError::new(ExitKind::Failure, message)
    }

    /// A usage error (exit code 2).
    pub fn usage(message: impl Into<String>) -> CommandError {
        CommandError::new(ExitKind::Usage, message)
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> CommandError {
        self.hints.push(hint.into());
        self
    }
}

impl CommandError {
    /// The error and its hints as csm prints them on stderr, jj-style:
    /// `error: ...` then one `hint: ...` a line.
    pub fn render(&self, output: &crate::output::Output) -> String {
        let mut text = format!(
            "{} {}\n",
            output.paint_stderr("error:", "1;31"),
            self.message
        );
        for hint in &self.hints {
            text.push_str(&format!(
                "{} {hint}\n",
                output.paint_stderr("hint:", "1;36")
            ));
        }
        text
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl From<ConfigError> for CommandError {
    fn from(e: ConfigError) -> CommandError {
        let hint = match &e {
            ConfigError::Parse { .. } => "fix the file; `csm config show` lists the valid keys",
            ConfigError::Env { .. } => "fix or unset the variable",
            ConfigError::Read { .. } => "check the file's permissions",
        };
        CommandError::usage(e.to_string()).hint(hint)
    }
}

impl From<CredentialError> for CommandError {
    fn from(e: CredentialError) -> CommandError {
        let err = CommandError::new(ExitKind::Auth, e.to_string());
        match e {
            CredentialError::NoKeyring { .. } => err.hint(
                "set CSM_JIRA_TOKEN in the environment, or configure \
                 [jira] token_command (e.g. [\"pass\", \"show\", \"jira\"])",
            ),
            CredentialError::Keyring { .. } => err.hint("unlock your keyring and try again"),
            CredentialError::Command { .. } => {
                err.hint("run the command by hand to see what it says")
            }
        }
    }
}

impl From<crate::tabs::TabError> for CommandError {
    /// A tab step's failure as a command's.
    fn from(e: crate::tabs::TabError) -> CommandError {
        use crate::tabs::TabError;
        let message = crate::output::sanitize(&e.to_string());
        match e {
            TabError::NotFound(_) => {
                CommandError::new(ExitKind::NotFound, message).hint("`csm tabs` lists the tabs")
            }
            TabError::Store(e) => e.into(),
            TabError::Invalid(_) => CommandError::usage(message),
            TabError::NotPending { .. }
            | TabError::NotRunning { .. }
            | TabError::Raced(_)
            | TabError::Backend(_) => CommandError::failure(message),
        }
    }
}

impl From<crate::worktree::CleanupError> for CommandError {
    fn from(e: crate::worktree::CleanupError) -> CommandError {
        match e {
            crate::worktree::CleanupError::Store(e) => e.into(),
            crate::worktree::CleanupError::Worktree(e) => e.into(),
        }
    }
}

impl From<StoreError> for CommandError {
    fn from(e: StoreError) -> CommandError {
        let hint = match &e {
            StoreError::NewerSchema { .. } => {
                Some("upgrade csm, or point CSM_DATA_DIR at another folder")
            }
            StoreError::CodexIdTaken { .. } => Some("`csm unlink` it from the other ticket first"),
            _ => None,
        };
        let err = CommandError::failure(e.to_string());
        match hint {
            Some(h) => err.hint(h),
            None => err,
        }
    }
}

impl From<TrackerError> for CommandError {
    fn from(e: TrackerError) -> CommandError {
        let message = crate::output::sanitize(&e.to_string());
        match &e {
            TrackerError::NotFound { .. } => CommandError::new(ExitKind::NotFound, message)
                .hint("check the key; `csm ticket list` shows the tickets"),
            TrackerError::AuthRejected {
                token_source,
                cloud,
                gateway_tried,
                ..
            } => auth_hints(
                CommandError::new(ExitKind::Auth, message),
                token_source.as_ref(),
                *cloud,
                *gateway_tried,
            ),
            TrackerError::Forbidden { .. } => CommandError::new(ExitKind::Auth, message)
                .hint("ask a Jira admin for the permission"),
            TrackerError::NoSuchTransition { .. } => {
                CommandError::failure(message).hint("pass one of the available statuses")
            }
            TrackerError::TransitionNeedsFields { .. } => {
                CommandError::failure(message).hint("make this transition in Jira's web UI")
            }
            TrackerError::WalkStopped { key, reached, .. } => CommandError::failure(message)
                .hint(format!(
                    "make that step in the tracker's web UI; nothing else changed on {key} since \"{}\"",
                    crate::output::sanitize(reached)
                ))
                .hint(
                    "or name a status csm can reach with --status, or spell the way out in [workflow] done_path",
                ),
            TrackerError::WalkTooLong { .. } => CommandError::failure(message)
                .hint("spell the way out in [workflow] done_path, or move it in the tracker"),
            TrackerError::RateLimited { .. } => {
                CommandError::failure(message).hint("wait a minute and try again")
            }
            TrackerError::Unreachable { .. } | TrackerError::Server { .. } => {
                CommandError::failure(message)
                    .hint("check the network and the tracker's URL ([jira] url or [github] api_url); `csm doctor` tests the connection")
            }
            TrackerError::GithubTokenRejected { .. } => CommandError::new(ExitKind::Auth, message)
                .hint("run `gh auth login` and `export GH_TOKEN=$(gh auth token)`, or `csm auth login --tracker github`"),
            TrackerError::GithubPermission { needs, .. } if needs.contains("pull_requests") => {
                CommandError::new(ExitKind::Auth, message)
                    .hint("give the token that permission (fine-grained: Pull requests \"Read and write\"; classic: the repo scope), or use another token")
            }
            TrackerError::GithubPermission { .. } => CommandError::new(ExitKind::Auth, message)
                .hint("give the token that permission (fine-grained: Issues \"Read and write\"; classic: the repo scope), or use another token"),
            TrackerError::NoAccess { .. } => CommandError::new(ExitKind::NotFound, message)
                .hint("check the key and [github] repo; a private repository needs a token that can read it (`csm doctor`)"),
            TrackerError::RateLimitedUntil { .. } => CommandError::failure(message)
                .hint("nothing was lost; run the command again after the reset (`csm doctor` shows the limit left)"),
            TrackerError::BadTicketFile { .. } => {
                CommandError::failure(message).hint("fix the ticket file by hand")
            }
            TrackerError::Unsupported { .. }
            | TrackerError::Rejected { .. }
            | TrackerError::BadResponse { .. }
            | TrackerError::Io { .. } => CommandError::failure(message),
        }
    }
}

/// The hints of a rejected token: the fix for where it came from (the
/// environment wins over the keyring, so `csm auth login` alone cannot fix
/// a bad `CSM_JIRA_TOKEN`), and the gateway on Jira Cloud.
fn auth_hints(
    err: CommandError,
    source: Option<&crate::credentials::Origin>,
    cloud: bool,
    gateway_tried: bool,
) -> CommandError {
    use crate::credentials::Origin;
    let err = match source {
        Some(Origin::Env(var)) => err.hint(format!(
            "the token comes from the environment variable {var}, which csm reads before the keyring: \
             put a valid token in {var}, or unset it to use the one `csm auth login` saves"
        )),
        Some(Origin::Keyring) => err.hint(
            "the token comes from the OS keyring: replace it with `csm auth login`",
        ),
        Some(Origin::Command) => err.hint(
            "the token comes from [jira] token_command: run that command by hand and check that it prints a valid token",
        ),
        None => err.hint("run `csm auth login`"),
    };
    match (cloud, gateway_tried) {
        (true, true) => err.hint(
            "the API gateway (api.atlassian.com), where scoped tokens work, refused it too: \
             check the token's scopes and that it belongs to this user",
        ),
        (true, false) => err.hint(
            "a scoped API token works only through the API gateway: set [jira] api = \"gateway\" \
             (csm tries the gateway itself unless [jira] api = \"site\")",
        ),
        (false, _) => err,
    }
}

impl From<crate::tracker::key::KeyError> for CommandError {
    fn from(e: crate::tracker::key::KeyError) -> CommandError {
        CommandError::usage(e.to_string())
    }
}

impl From<crate::codex::thread::ThreadError> for CommandError {
    fn from(e: crate::codex::thread::ThreadError) -> CommandError {
        use crate::codex::thread::ThreadError;
        match &e {
            ThreadError::Archived { id, .. } => CommandError::failure(e.to_string())
                .hint(format!("bring it back with `codex unarchive {id}`")),
            ThreadError::NotOnThisMachine { .. } => {
                CommandError::new(ExitKind::NotFound, e.to_string()).hint(
                    "resume it on the machine where it ran (or copy its rollout into this CODEX_HOME), or start anew with `csm start --new`",
                )
            }
            ThreadError::UnarchiveFailed { .. } => CommandError::failure(e.to_string())
                .hint("check `codex unarchive --help`, then try again"),
        }
    }
}

impl From<WorktreeError> for CommandError {
    fn from(e: WorktreeError) -> CommandError {
        let message = e.to_string();
        let failure = || CommandError::failure(message.clone());
        let usage = || CommandError::usage(message.clone());
        match &e {
            WorktreeError::GitMissing => {
                failure().hint("install git (https://git-scm.com), or start without --worktree")
            }
            WorktreeError::GitTooOld { .. } => {
                failure().hint("upgrade git, or start without --worktree")
            }
            WorktreeError::NotARepo { .. } => {
                usage().hint("run `git init` and commit once there, or start without --worktree")
            }
            WorktreeError::NoCommits { .. } => {
                usage().hint("commit once (`git commit --allow-empty -m init`), then start again")
            }
            WorktreeError::BranchInMainCheckout { path, .. } => failure().hint(format!(
                "switch {} to another branch, or change [worktree] branch",
                path.display()
            )),
            WorktreeError::BranchTaken { .. } => {
                failure().hint("finish that ticket there first, or change [worktree] branch")
            }
            WorktreeError::PathTaken { .. } => {
                failure().hint("move it away, or set [worktree] parent to another folder")
            }
            WorktreeError::Template { .. } => {
                usage().hint("fix [worktree] branch; `csm config show` says where it is set")
            }
            WorktreeError::Parent { .. } => {
                usage().hint("fix [worktree] parent; `csm config show` says where it is set")
            }
            WorktreeError::WouldLoseWork { path, repo, loss } => failure()
                .hint(if loss.uncommitted.is_empty() {
                    "push the commits (or merge them into another branch), then try again"
                } else {
                    "commit the files and push the commits (or merge them), then try again"
                })
                .hint(format!(
                    "or throw them away: `git -C {} worktree remove --force {}`",
                    crate::codex::command::quote(repo.as_os_str()),
                    crate::codex::command::quote(path.as_os_str())
                )),
            WorktreeError::Locked { path, .. } => failure().hint(format!(
                "`git worktree unlock {}` if nothing uses it any more",
                crate::codex::command::quote(path.as_os_str())
            )),
            WorktreeError::NotAWorktree { .. } => {
                failure().hint("remove the folder yourself if you no longer need it")
            }
            WorktreeError::InUse { .. } => failure().hint("quit Codex there first"),
            WorktreeError::Git(_) => failure(),
        }
    }
}
