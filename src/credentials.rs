//! Where a tracker token comes from, and where `csm auth login` keeps it.
//!
//! First match wins:
//! 1. `CSM_JIRA_TOKEN`, then `JIRA_API_TOKEN` (which jira-cli users already
//!    have), for headless use; for GitHub, `GH_TOKEN`, then `GITHUB_TOKEN`
//!    (as the `gh` CLI reads them);
//! 2. the OS keyring (Secret Service on Linux, Keychain on macOS,
//!    Credential Manager on Windows), one entry per site and user;
//! 3. a `token_command` from the config (e.g. `pass show jira`), run
//!    without a shell, its standard output trimmed.
//!
//! A token is never printed, logged, written to a file or the store, or put
//! on a child's command line: [`Secret`] hides it from `Debug` and
//! `Display`, and only [`Secret::expose`] gives it out, for the one HTTP
//! header that needs it. When no keyring is reachable, csm says so and
//! names the alternatives; it never falls back to a plain file.

use std::fmt;
use std::process::{Command, Stdio};
use std::sync::Arc;

use keyring_core::{CredentialStore, Entry};

/// Environment variables that hold a Jira token, in order of preference.
pub const JIRA_TOKEN_ENV_VARS: &[&str] = &["CSM_JIRA_TOKEN", "JIRA_API_TOKEN"];

/// Environment variables that hold a GitHub token, in order of preference.
pub const GITHUB_TOKEN_ENV_VARS: &[&str] = &["GH_TOKEN", "GITHUB_TOKEN"];

/// Every environment variable that holds a tracker token: removed from
/// every child's environment.
pub const TOKEN_ENV_VARS: &[&str] = &[
    "CSM_JIRA_TOKEN",
    "JIRA_API_TOKEN",
    "GH_TOKEN",
    "GITHUB_TOKEN",
];

/// Setting `CSM_KEYRING=none` turns the keyring off (servers without a
/// session bus, where the Secret Service cannot be reached).
pub const KEYRING_SWITCH: &str = "CSM_KEYRING";

/// A token. Its text is reachable only through [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a token, trimming surrounding white space.
    pub fn new(token: &str) -> Secret {
        Secret(token.trim().to_string())
    }

    /// The token's text, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the token is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The account a token belongs to: a tracker site and a user on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// The site's URL, e.g. `https://example.atlassian.net`.
    pub site: String,
    /// The user: an e-mail on Jira Cloud, a user name (or `token`) on Data
    /// Center.
    pub user: String,
}

impl Account {
    fn service(&self) -> String {
        format!("csm:{}", self.site.trim_end_matches('/'))
    }
}

/// Where a token was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// An environment variable (its name).
    Env(String),
    /// The OS keyring.
    Keyring,
    /// The configured `token_command`.
    Command,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Env(var) => write!(f, "environment variable {var}"),
            Origin::Keyring => f.write_str("OS keyring"),
            Origin::Command => f.write_str("token_command"),
        }
    }
}

/// Why a credential operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// No keyring can be reached.
    #[error("no OS keyring is reachable ({reason})")]
    NoKeyring {
        /// What the platform said.
        reason: String,
    },
    /// The keyring refused or failed.
    #[error("the OS keyring failed for {site}: {reason}")]
    Keyring {
        /// The site whose entry was used.
        site: String,
        /// What the keyring said.
        reason: String,
    },
    /// The token command failed.
    #[error("token_command `{program}` failed: {reason}")]
    Command {
        /// The program run.
        program: String,
        /// Why (exit status and the first line of its stderr).
        reason: String,
    },
}

/// Access to the OS keyring (or a test store).
pub struct Credentials {
    store: Result<Arc<CredentialStore>, String>,
}

impl Credentials {
    /// The platform's keyring, unless `CSM_KEYRING=none`.
    pub fn platform(env: &dyn Fn(&str) -> Option<String>) -> Credentials {
        if env(KEYRING_SWITCH).is_some_and(|v| v.eq_ignore_ascii_case("none")) {
            return Credentials {
                store: Err(format!("{KEYRING_SWITCH}=none")),
            };
        }
        Credentials {
            store: platform_store(),
        }
    }

    /// A given store (tests use `keyring_core::mock::Store`).
    pub fn with_store(store: Arc<CredentialStore>) -> Credentials {
        Credentials { store: Ok(store) }
    }

    fn entry(&self, account: &Account) -> Result<Entry, CredentialError> {
        let store = self
            .store
            .as_ref()
            .map_err(|reason| CredentialError::NoKeyring {
                reason: reason.clone(),
            })?;
        Entry::new_in_store(store, &account.service(), &account.user)
            .map_err(|e| keyring_error(account, e))
    }

    /// Whether a keyring is reachable, and if not, why.
    pub fn keyring_status(&self) -> Result<(), String> {
        self.store.as_ref().map(|_| ()).map_err(Clone::clone)
    }

    /// Saves a token in the keyring.
    pub fn save(&self, account: &Account, token: &Secret) -> Result<(), CredentialError> {
        self.entry(account)?
            .set_password(token.expose())
            .map_err(|e| keyring_error(account, e))
    }

    /// Deletes the keyring entry; `false` when there was none.
    pub fn delete(&self, account: &Account) -> Result<bool, CredentialError> {
        match self.entry(account)?.delete_credential() {
            Ok(()) => Ok(true),
            Err(keyring_core::Error::NoEntry) => Ok(false),
            Err(e) => Err(keyring_error(account, e)),
        }
    }

    /// The token in the keyring, if any.
    pub fn keyring_token(&self, account: &Account) -> Result<Option<Secret>, CredentialError> {
        match self.entry(account)?.get_password() {
            Ok(t) => Ok(Some(Secret::new(&t))),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(keyring_error(account, e)),
        }
    }

    /// Finds the token for `account`, first match wins (see the module
    /// docs). An unreachable keyring is passed over, not an error, so that
    /// the environment and the token command still work headless.
    pub fn resolve(
        &self,
        account: &Account,
        token_command: Option<&[String]>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<(Secret, Origin)>, CredentialError> {
        self.resolve_from(JIRA_TOKEN_ENV_VARS, account, token_command, env)
    }

    /// [`Credentials::resolve`] with the environment variables `vars`
    /// (e.g. [`GITHUB_TOKEN_ENV_VARS`]) looked at first.
    pub fn resolve_from(
        &self,
        vars: &[&str],
        account: &Account,
        token_command: Option<&[String]>,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Option<(Secret, Origin)>, CredentialError> {
        for var in vars {
            if let Some(value) = env(var).filter(|v| !v.trim().is_empty()) {
                return Ok(Some((Secret::new(&value), Origin::Env((*var).to_string()))));
            }
        }
        match self.keyring_token(account) {
            Ok(Some(token)) => return Ok(Some((token, Origin::Keyring))),
            Ok(None) | Err(CredentialError::NoKeyring { .. }) => {}
            Err(e) => return Err(e),
        }
        if let Some(argv) = token_command.filter(|a| !a.is_empty()) {
            return run_token_command(argv).map(|t| Some((t, Origin::Command)));
        }
        Ok(None)
    }
}

fn keyring_error(account: &Account, e: keyring_core::Error) -> CredentialError {
    match e {
        keyring_core::Error::NoDefaultStore | keyring_core::Error::NoStorageAccess(_) => {
            CredentialError::NoKeyring {
                reason: e.to_string(),
            }
        }
        other => CredentialError::Keyring {
            site: account.site.clone(),
            reason: other.to_string(),
        },
    }
}

#[cfg(all(unix, not(target_os = "macos")))]
fn platform_store() -> Result<Arc<CredentialStore>, String> {
    // Without a session bus the Secret Service cannot exist; say so plainly
    // instead of surfacing a D-Bus connection error.
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_none()
        && std::env::var_os("XDG_RUNTIME_DIR")
            .map(|d| std::path::Path::new(&d).join("bus"))
            .is_none_or(|p| !p.exists())
    {
        return Err("no D-Bus session bus for the Secret Service".into());
    }
    zbus_secret_service_keyring_store::Store::new()
        .map(|s| s as Arc<CredentialStore>)
        .map_err(|e| e.to_string())
}

#[cfg(target_os = "macos")]
fn platform_store() -> Result<Arc<CredentialStore>, String> {
    apple_native_keyring_store::keychain::Store::new()
        .map(|s| s as Arc<CredentialStore>)
        .map_err(|e| e.to_string())
}

#[cfg(windows)]
fn platform_store() -> Result<Arc<CredentialStore>, String> {
    windows_native_keyring_store::Store::new()
        .map(|s| s as Arc<CredentialStore>)
        .map_err(|e| e.to_string())
}

#[cfg(not(any(unix, windows)))]
fn platform_store() -> Result<Arc<CredentialStore>, String> {
    Err("this platform has no supported keyring".into())
}

/// Runs the token command (argv, no shell) and returns its trimmed stdout.
fn run_token_command(argv: &[String]) -> Result<Secret, CredentialError> {
    let program = argv[0].clone();
    let fail = |reason: String| CredentialError::Command {
        program: program.clone(),
        reason,
    };
    let output = Command::new(&argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .map_err(|e| fail(e.to_string()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let first = stderr.lines().next().unwrap_or("").trim();
        return Err(fail(format!("{} ({})", output.status, first)));
    }
    let token = Secret::new(&String::from_utf8_lossy(&output.stdout));
    if token.is_empty() {
        return Err(fail("it printed nothing".into()));
    }
    Ok(token)
}

/// On Linux, marks csm's process non-dumpable (`PR_SET_DUMPABLE` 0), so
/// another process of the same user (Codex, a tab, a script Codex wrote)
/// can neither read csm's environment and memory through `/proc/<pid>/`
/// nor attach a debugger, and no core file holds a token. Programs csm
/// starts are dumpable again once they `exec`. Elsewhere it does nothing.
pub fn keep_process_private() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with PR_SET_DUMPABLE takes plain integers and touches
    // no memory of ours.
    unsafe {
        libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn account() -> Account {
        Account {
            site: "https://example.atlassian.net".into(),
            user: "me@example.com".into(),
        }
    }

    fn mock() -> Credentials {
        Credentials::with_store(keyring_core::mock::Store::new().unwrap())
    }

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn save_resolve_delete() {
        let creds = mock();
        let acct = account();
        assert_eq!(creds.resolve(&acct, None, &env(&[])).unwrap(), None);
        creds.save(&acct, &Secret::new("tok-123\n")).unwrap();
        let (token, origin) = creds.resolve(&acct, None, &env(&[])).unwrap().unwrap();
        assert_eq!(token.expose(), "tok-123");
        assert_eq!(origin, Origin::Keyring);
        assert!(creds.delete(&acct).unwrap());
        assert!(!creds.delete(&acct).unwrap());
        assert_eq!(creds.keyring_token(&acct).unwrap(), None);
    }

    #[test]
    fn env_overrides_keyring_in_order() {
        let creds = mock();
        let acct = account();
        creds.save(&acct, &Secret::new("from-keyring")).unwrap();
        let e = env(&[("JIRA_API_TOKEN", "jira-cli"), ("CSM_JIRA_TOKEN", "csm")]);
        let (t, o) = creds.resolve(&acct, None, &e).unwrap().unwrap();
        assert_eq!(
            (t.expose(), o),
            ("csm", Origin::Env("CSM_JIRA_TOKEN".into()))
        );
        let e = env(&[("JIRA_API_TOKEN", "jira-cli"), ("CSM_JIRA_TOKEN", "  ")]);
        let (t, _) = creds.resolve(&acct, None, &e).unwrap().unwrap();
        assert_eq!(t.expose(), "jira-cli");
    }

    #[test]
    fn github_tokens_come_first_from_gh_token_then_github_token() {
        let creds = mock();
        let gh = Account {
            site: "https://api.github.com".into(),
            user: "token".into(),
        };
        creds.save(&gh, &Secret::new("from-keyring")).unwrap();
        let e = env(&[("GITHUB_TOKEN", "actions"), ("GH_TOKEN", "gh")]);
        let cmd = vec!["echo".to_string(), "from-cmd".to_string()];
        let (t, o) = creds
            .resolve_from(GITHUB_TOKEN_ENV_VARS, &gh, Some(&cmd), &e)
            .unwrap()
            .unwrap();
        assert_eq!((t.expose(), o), ("gh", Origin::Env("GH_TOKEN".into())));
        let e = env(&[("GITHUB_TOKEN", "actions")]);
        let (t, _) = creds
            .resolve_from(GITHUB_TOKEN_ENV_VARS, &gh, Some(&cmd), &e)
            .unwrap()
            .unwrap();
        assert_eq!(t.expose(), "actions");
        let (t, o) = creds
            .resolve_from(GITHUB_TOKEN_ENV_VARS, &gh, Some(&cmd), &env(&[]))
            .unwrap()
            .unwrap();
        assert_eq!((t.expose(), o), ("from-keyring", Origin::Keyring));
        // Jira never takes GitHub's variables, and both kinds are secrets.
        let e = env(&[("GH_TOKEN", "gh")]);
        assert_eq!(creds.resolve(&account(), None, &e).unwrap(), None);
        for var in JIRA_TOKEN_ENV_VARS.iter().chain(GITHUB_TOKEN_ENV_VARS) {
            assert!(TOKEN_ENV_VARS.contains(var), "{var}");
        }
    }

    #[test]
    fn token_command_is_last_and_runs_without_shell() {
        let creds = mock();
        let cmd = vec!["echo".to_string(), " tok from cmd ".to_string()];
        let (t, o) = creds
            .resolve(&account(), Some(&cmd), &env(&[]))
            .unwrap()
            .unwrap();
        assert_eq!((t.expose(), o), ("tok from cmd", Origin::Command));
        // A shell would expand this; argv passes it verbatim.
        let cmd = vec!["echo".to_string(), "$HOME;x".to_string()];
        let (t, _) = creds
            .resolve(&account(), Some(&cmd), &env(&[]))
            .unwrap()
            .unwrap();
        assert_eq!(t.expose(), "$HOME;x");
        let cmd = vec!["false".to_string()];
        assert!(matches!(
            creds.resolve(&account(), Some(&cmd), &env(&[])),
            Err(CredentialError::Command { .. })
        ));
    }

    #[test]
    fn no_keyring_is_reported_but_env_still_works() {
        let creds = Credentials::platform(&env(&[(KEYRING_SWITCH, "none")]));
        assert!(creds.keyring_status().is_err());
        let err = creds.save(&account(), &Secret::new("x")).unwrap_err();
        assert!(matches!(err, CredentialError::NoKeyring { .. }));
        let e = env(&[("CSM_JIRA_TOKEN", "t")]);
        assert!(creds.resolve(&account(), None, &e).unwrap().is_some());
        assert_eq!(creds.resolve(&account(), None, &env(&[])).unwrap(), None);
    }

    #[test]
    fn secret_never_shows_in_debug() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
