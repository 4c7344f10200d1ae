//! Finding the `codex` program and checking its version.
//!
//! Where it is looked for, first match wins: the `[codex] bin` config value,
//! `$CSM_CODEX_BIN`, then `PATH`.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The oldest Codex csm supports: the oldest published version whose runs
/// of `scripts/codex-compat` pass (COMPATIBILITY.md). On 0.167.2 two Codex
/// started at once on a new `CODEX_HOME` break its state database's
/// migration; 0.166.0 exposes MCP tools differently (not deferred).
pub const MIN_VERSION: Version = Version {
    major: 0,
    minor: 168,
    patch: 0,
};

/// The Codex csm's tests run against: the pin of `scripts/install-codex`.
pub const TESTED_VERSION: Version = Version {
    major: 0,
    minor: 171,
    patch: 0,
};

/// How to install Codex, for error messages.
pub const INSTALL_HINT: &str = "npm install -g @openai/codex";

/// A Codex version, `major.minor.patch`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Major.
    pub major: u64,
    /// Minor.
    pub minor: u64,
    /// Patch.
    pub patch: u64,
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Parses `codex --version` output such as `codex-cli 0.169.0`.
pub fn parse_version(output: &str) -> Option<Version> {
    let word = output
        .split_whitespace()
        .find(|w| w.chars().next().is_some_and(|c| c.is_ascii_digit()))?;
    let core = word.split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    Some(Version {
        major: parts.next()??,
        minor: parts.next().flatten().unwrap_or(0),
        patch: parts.next().flatten().unwrap_or(0),
    })
}

/// A usable Codex program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// The program's path.
    pub path: PathBuf,
    /// Its version.
    pub version: Version,
}

/// Why no usable Codex was found.
#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    /// Nothing named `codex` was found.
    #[error("codex is not installed (looked in {searched})")]
    NotFound {
        /// Where csm looked.
        searched: String,
    },
    /// The program exists but did not run.
    #[error("{path} does not run: {reason}")]
    NotRunnable {
        /// The program.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// `--version` printed something csm cannot read.
    #[error("cannot read the version of {path} from \"{output}\"")]
    Unparseable {
        /// The program.
        path: PathBuf,
        /// What it printed.
        output: String,
    },
    /// The program is older than csm supports.
    #[error("{path} is codex {found}; csm needs {minimum} or newer")]
    TooOld {
        /// The program.
        path: PathBuf,
        /// Its version.
        found: Version,
        /// The oldest supported.
        minimum: Version,
    },
}

impl DiscoveryError {
    /// What the user should do.
    pub fn fix(&self) -> String {
        match self {
            DiscoveryError::NotFound { .. } => {
                format!("install it: {INSTALL_HINT} (or set [codex] bin / CSM_CODEX_BIN)")
            }
            DiscoveryError::TooOld { .. } => format!("upgrade it: {INSTALL_HINT}@latest"),
            DiscoveryError::NotRunnable { .. } | DiscoveryError::Unparseable { .. } => {
                format!("reinstall it: {INSTALL_HINT}")
            }
        }
    }

    /// Whether Codex was found but is too old.
    pub fn is_too_old(&self) -> bool {
        matches!(self, DiscoveryError::TooOld { .. })
    }
}

/// Finds Codex and checks its version.
///
/// `env` is the whole environment `codex --version` runs with: the user's
/// without csm's secrets (see `command::child_env`), as for every Codex run.
pub fn discover(
    explicit: Option<&Path>,
    env_bin: Option<&str>,
    env: &[(OsString, OsString)],
) -> Result<Found, DiscoveryError> {
    let path = locate(explicit, env_bin)?;
    let version = version_of(&path, env)?;
    if version < MIN_VERSION {
        return Err(DiscoveryError::TooOld {
            path,
            found: version,
            minimum: MIN_VERSION,
        });
    }
    Ok(Found { path, version })
}

/// Finds the program without running it.
pub fn locate(explicit: Option<&Path>, env_bin: Option<&str>) -> Result<PathBuf, DiscoveryError> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = env_bin.filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    which::which("codex").map_err(|_| DiscoveryError::NotFound {
        searched: "[codex] bin, CSM_CODEX_BIN and PATH".into(),
    })
}

/// Runs `codex --version` with `env` as its whole environment.
pub fn version_of(path: &Path, env: &[(OsString, OsString)]) -> Result<Version, DiscoveryError> {
    let output = Command::new(path)
        .arg("--version")
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                DiscoveryError::NotFound {
                    searched: path.display().to_string(),
                }
            } else {
                DiscoveryError::NotRunnable {
                    path: path.to_path_buf(),
                    reason: e.to_string(),
                }
            }
        })?;
    if !output.status.success() {
        return Err(DiscoveryError::NotRunnable {
            path: path.to_path_buf(),
            reason: format!("--version exited with {}", output.status),
        });
    }
    let text = String::from_utf8_lossy(&output.stdout);
    parse_version(&text).ok_or_else(|| DiscoveryError::Unparseable {
        path: path.to_path_buf(),
        output: crate::output::sanitize(text.trim()),
    })
}

/// Whether Codex can reach a model without asking the user to sign in:
/// it has a login (`auth.json`), an API key in the environment, or a
/// config that points at another provider. `Err` names what is missing.
pub fn check_signed_in(
    codex_home: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), String> {
    if codex_home.join("auth.json").is_file() {
        return Ok(());
    }
    if ["OPENAI_API_KEY", "CODEX_API_KEY"]
        .iter()
        .any(|k| env(k).is_some_and(|v| !v.is_empty()))
    {
        return Ok(());
    }
    let provider = std::fs::read_to_string(codex_home.join("config.toml"))
        .ok()
        .and_then(|t| toml::from_str::<toml::Table>(&t).ok())
        .and_then(|c| c.get("model_provider")?.as_str().map(str::to_string));
    match provider {
        Some(p) if p != "openai" => Ok(()),
        _ => Err(format!(
            "codex is not signed in (no login in {}, no OPENAI_API_KEY)",
            codex_home.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        let v = |s| parse_version(s);
        assert_eq!(
            v("codex-cli 0.169.0"),
            Some(Version {
                major: 0,
                minor: 169,
                patch: 0
            })
        );
        assert_eq!(v("codex-cli 1.2.3-alpha.4\n").unwrap().to_string(), "1.2.3");
        assert_eq!(v("codex 2").unwrap().to_string(), "2.0.0");
        assert_eq!(v("codex-cli dev"), None);
        assert!(v("codex-cli 0.166.0").unwrap() < MIN_VERSION);
        assert!(v("codex-cli 0.167.2").unwrap() < MIN_VERSION);
        assert!(v("codex-cli 0.168.0").unwrap() == MIN_VERSION);
        assert!(v("codex-cli 0.169.0").unwrap() > MIN_VERSION);
        assert!(MIN_VERSION <= TESTED_VERSION);
    }

    #[test]
    fn signed_in_by_login_key_or_provider() {
        let home = tempfile::tempdir().unwrap();
        let none = |_: &str| None;
        let err = check_signed_in(home.path(), &none).unwrap_err();
        assert!(err.contains("not signed in"), "{err}");
        let key = |k: &str| (k == "OPENAI_API_KEY").then(|| "sk-x".to_string());
        assert!(check_signed_in(home.path(), &key).is_ok());
        std::fs::write(
            home.path().join("config.toml"),
            "model_provider = \"openai\"\n",
        )
        .unwrap();
        assert!(check_signed_in(home.path(), &none).is_err());
        std::fs::write(
            home.path().join("config.toml"),
            "model_provider = \"ollama\"\n",
        )
        .unwrap();
        assert!(check_signed_in(home.path(), &none).is_ok());
        std::fs::remove_file(home.path().join("config.toml")).unwrap();
        std::fs::write(home.path().join("auth.json"), "{}").unwrap();
        assert!(check_signed_in(home.path(), &none).is_ok());
    }

    #[test]
    fn explicit_then_env_then_path() {
        let p = locate(Some(Path::new("/x/codex")), Some("/y/codex")).unwrap();
        assert_eq!(p, Path::new("/x/codex"));
        let p = locate(None, Some("/y/codex")).unwrap();
        assert_eq!(p, Path::new("/y/codex"));
        let err = discover(Some(Path::new("/nonexistent/codex")), None, &[]).unwrap_err();
        assert!(matches!(err, DiscoveryError::NotFound { .. }));
        assert!(err.fix().contains("npm install -g @openai/codex"));
    }
}
