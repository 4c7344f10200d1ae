//! Per-session Codex settings: model, reasoning effort, sandbox, approval
//! policy, web search, profile and extra `-c key=value` overrides, and one
//! setting of csm's own: `tabs`, whether Codex may ask csm to run commands
//! in tabs (see `tabs`), which is not a Codex flag.
//!
//! Codex does not remember these for a session, so csm stores them and
//! turns them into flags on every launch and resume. Only values that were
//! set are stored (as a JSON object), so "what differs from the defaults" is
//! simply what is there. The accepted values are those of the pinned Codex
//! (see `docs/codex-facts.md`).

use std::ffi::OsString;
use std::fmt;

use serde::{Deserialize, Serialize};

/// Reasoning effort (`-c model_reasoning_effort=...`).
pub const EFFORTS: &[&str] = &["none", "minimal", "low", "medium", "high", "xhigh"];
/// Sandbox modes (`-s`).
pub const SANDBOXES: &[&str] = &["read-only", "workspace-write", "danger-full-access"];
/// Approval policies (`-a`).
pub const APPROVALS: &[&str] = &["on-request", "never"];
/// `tabs`: off (the default), on (each request needs the user's approval
/// unless `[tabs] allow` matches), auto (requests run at once).
pub const TABS: &[&str] = &["off", "on", "auto"];
/// The names `csm set` accepts.
pub const NAMES: &[&str] = &[
    "model", "effort", "sandbox", "approval", "search", "profile", "config", "tabs",
];

/// A session's settings; `None` means Codex's own default.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// `-m MODEL`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// `-c model_reasoning_effort="EFFORT"`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effort: Option<String>,
    /// `-s SANDBOX`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<String>,
    /// `-a APPROVAL`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<String>,
    /// `--search`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub search: Option<bool>,
    /// `-p PROFILE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Extra `-c key=value` overrides, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<String>,
    /// Tabs: `off`, `on` or `auto` (csm's own; see [`Settings::tabs_mode`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tabs: Option<String>,
}

/// Whether, and how freely, Codex may run commands in tabs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TabsMode {
    /// No MCP server is passed to Codex.
    #[default]
    Off,
    /// Each request needs the user's approval, unless `[tabs] allow`
    /// matches it.
    On,
    /// Requests run at once.
    Auto,
}

/// Why a setting was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    /// Not `name=value`.
    #[error("\"{0}\" is not name=value (e.g. effort=high)")]
    NotAssignment(String),
    /// An unknown setting name.
    #[error("unknown setting \"{name}\" (known: {})", NAMES.join(", "))]
    UnknownName {
        /// The name given.
        name: String,
    },
    /// A value outside the accepted set.
    #[error("{name} cannot be \"{value}\" (one of: {})", allowed.join(", "))]
    BadValue {
        /// The setting.
        name: String,
        /// The value given.
        value: String,
        /// What is accepted.
        allowed: Vec<String>,
    },
    /// A free-form value with characters that cannot be passed on.
    #[error("{name} \"{value}\" must be one word without control characters, not starting with -")]
    BadWord {
        /// The setting.
        name: String,
        /// The value given (escaped).
        value: String,
    },
}

impl Settings {
    /// Applies `name=value`; the value `default` clears a setting (for
    /// `config`, all overrides).
    pub fn apply(&mut self, assignment: &str) -> Result<(), SettingsError> {
        let (name, value) = assignment
            .split_once('=')
            .ok_or_else(|| SettingsError::NotAssignment(assignment.escape_debug().to_string()))?;
        self.set(name.trim(), value.trim())
    }

    /// Sets one setting by name.
    pub fn set(&mut self, name: &str, value: &str) -> Result<(), SettingsError> {
        let clear = value == "default";
        match name {
            "model" => {
                self.model = if clear {
                    None
                } else {
                    Some(word(name, value)?)
                }
            }
            "profile" => {
                self.profile = if clear {
                    None
                } else {
                    Some(word(name, value)?)
                }
            }
            "effort" => {
                self.effort = if clear {
                    None
                } else {
                    Some(one_of(name, value, EFFORTS)?)
                }
            }
            "sandbox" => {
                self.sandbox = if clear {
                    None
                } else {
                    Some(one_of(name, value, SANDBOXES)?)
                }
            }
            "approval" => {
                self.approval = if clear {
                    None
                } else {
                    Some(one_of(name, value, APPROVALS)?)
                }
            }
            "search" => {
                self.search = match value {
                    "default" => None,
                    "on" | "true" | "yes" => Some(true),
                    "off" | "false" | "no" => Some(false),
                    _ => return Err(bad(name, value, &["on", "off", "default"])),
                }
            }
            "tabs" => {
                self.tabs = if clear {
                    None
                } else {
                    Some(one_of(name, value, TABS)?)
                }
            }
            "config" => {
                if clear {
                    self.config.clear();
                } else {
                    self.config.push(override_pair(value)?);
                }
            }
            _ => {
                return Err(SettingsError::UnknownName {
                    name: name.escape_debug().to_string(),
                });
            }
        }
        Ok(())
    }

    /// The settings as stored (only set values).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_else(|_| serde_json::json!({}))
    }

    /// Reads stored settings; unknown or malformed values are dropped rather
    /// than failing a resume.
    pub fn from_json(value: &serde_json::Value) -> Settings {
        serde_json::from_value(value.clone()).unwrap_or_default()
    }

    /// Whether Codex may run commands in tabs.
    pub fn tabs_mode(&self) -> TabsMode {
        match self.tabs.as_deref() {
            Some("on") => TabsMode::On,
            Some("auto") => TabsMode::Auto,
            _ => TabsMode::Off,
        }
    }

    /// Flags for the interactive UI (`codex` and `codex resume`).
    pub fn interactive_args(&self) -> Vec<OsString> {
        let mut args = self.common_args();
        if let Some(a) = &self.approval {
            args.extend(["-a".into(), a.into()]);
        }
        if self.search == Some(true) {
            args.push("--search".into());
        }
        args
    }

    /// Flags for `codex exec` (which never asks for approval and has no
    /// `--search`). They go before `resume` in `codex exec resume`, since
    /// `exec resume` does not take `-s` or `-p`.
    pub fn exec_args(&self) -> Vec<OsString> {
        self.common_args()
    }

    fn common_args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        if let Some(m) = &self.model {
            args.extend(["-m".into(), m.into()]);
        }
        if let Some(e) = &self.effort {
            args.extend([
                "-c".into(),
                format!("model_reasoning_effort=\"{e}\"").into(),
            ]);
        }
        if let Some(s) = &self.sandbox {
            args.extend(["-s".into(), s.into()]);
        }
        if let Some(p) = &self.profile {
            args.extend(["-p".into(), p.into()]);
        }
        for c in &self.config {
            args.extend(["-c".into(), c.into()]);
        }
        args
    }
}

impl fmt::Display for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        let mut push = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                parts.push(format!("{k}={v}"));
            }
        };
        push("model", self.model.clone());
        push("effort", self.effort.clone());
        push("sandbox", self.sandbox.clone());
        push("approval", self.approval.clone());
        push(
            "search",
            self.search
                .map(|s| if s { "on" } else { "off" }.to_string()),
        );
        push("profile", self.profile.clone());
        for c in &self.config {
            parts.push(format!("config={c}"));
        }
        if let Some(t) = &self.tabs {
            parts.push(format!("tabs={t}"));
        }
        if parts.is_empty() {
            f.write_str("defaults")
        } else {
            f.write_str(&parts.join(" "))
        }
    }
}

fn bad(name: &str, value: &str, allowed: &[&str]) -> SettingsError {
    SettingsError::BadValue {
        name: name.to_string(),
        value: value.escape_debug().to_string(),
        allowed: allowed.iter().map(|s| s.to_string()).collect(),
    }
}

fn one_of(name: &str, value: &str, allowed: &[&str]) -> Result<String, SettingsError> {
    let lower = value.to_ascii_lowercase();
    allowed
        .iter()
        .find(|a| **a == lower)
        .map(|a| a.to_string())
        .ok_or_else(|| bad(name, value, allowed))
}

fn word(name: &str, value: &str) -> Result<String, SettingsError> {
    let ok = !value.is_empty()
        && !value.starts_with('-')
        && value.len() <= 200
        && value.chars().all(|c| !c.is_whitespace() && !c.is_control());
    if ok {
        Ok(value.to_string())
    } else {
        Err(SettingsError::BadWord {
            name: name.to_string(),
            value: value.escape_debug().to_string(),
        })
    }
}

/// Checks a `key=value` Codex config override.
fn override_pair(value: &str) -> Result<String, SettingsError> {
    let valid = value.split_once('=').is_some_and(|(k, v)| {
        !k.is_empty()
            && k.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '"'))
            && !v.chars().any(char::is_control)
    });
    if valid {
        Ok(value.to_string())
    } else {
        Err(SettingsError::BadWord {
            name: "config".into(),
            value: value.escape_debug().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(args: Vec<OsString>) -> Vec<String> {
        args.into_iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn set_validate_and_clear() {
        let mut s = Settings::default();
        for a in [
            "model=gpt-5.5",
            "effort=HIGH",
            "sandbox=workspace-write",
            "approval=never",
            "search=on",
            "profile=work",
            "config=model_verbosity=\"low\"",
        ] {
            s.apply(a).unwrap();
        }
        assert_eq!(s.effort.as_deref(), Some("high"));
        assert_eq!(
            s.to_string(),
            "model=gpt-5.5 effort=high sandbox=workspace-write approval=never search=on profile=work config=model_verbosity=\"low\""
        );
        assert!(matches!(
            s.apply("effort=extreme"),
            Err(SettingsError::BadValue { .. })
        ));
        assert!(matches!(
            s.apply("colour=red"),
            Err(SettingsError::UnknownName { .. })
        ));
        assert!(matches!(
            s.apply("model"),
            Err(SettingsError::NotAssignment(_))
        ));
        assert!(matches!(
            s.apply("model=--evil"),
            Err(SettingsError::BadWord { .. })
        ));
        assert!(matches!(
            s.apply("model=a b"),
            Err(SettingsError::BadWord { .. })
        ));
        assert!(s.apply("config=no-equals").is_err());
        assert_eq!(s.tabs_mode(), TabsMode::Off);
        s.apply("tabs=on").unwrap();
        assert_eq!(s.tabs_mode(), TabsMode::On);
        assert!(s.to_string().ends_with(" tabs=on"), "{s}");
        assert!(
            !strings(s.interactive_args())
                .iter()
                .any(|a| a.contains("tabs")),
            "tabs is csm's own setting, not a Codex flag"
        );
        s.apply("tabs=AUTO").unwrap();
        assert_eq!(s.tabs_mode(), TabsMode::Auto);
        assert!(matches!(
            s.apply("tabs=yes"),
            Err(SettingsError::BadValue { .. })
        ));
        s.apply("tabs=default").unwrap();
        assert_eq!(s.tabs, None);
        s.apply("model=default").unwrap();
        s.apply("config=default").unwrap();
        assert_eq!(s.model, None);
        assert!(s.config.is_empty());
        let err = Settings::default()
            .apply("sandbox=open")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("read-only, workspace-write, danger-full-access"),
            "{err}"
        );
    }

    #[test]
    fn flags_for_ui_and_exec() {
        let mut s = Settings::default();
        assert!(s.interactive_args().is_empty());
        for a in [
            "model=o3",
            "effort=low",
            "sandbox=read-only",
            "approval=on-request",
            "search=on",
            "config=a.b=1",
        ] {
            s.apply(a).unwrap();
        }
        assert_eq!(
            strings(s.interactive_args()),
            vec![
                "-m",
                "o3",
                "-c",
                "model_reasoning_effort=\"low\"",
                "-s",
                "read-only",
                "-c",
                "a.b=1",
                "-a",
                "on-request",
                "--search"
            ]
        );
        assert_eq!(
            strings(s.exec_args()),
            vec![
                "-m",
                "o3",
                "-c",
                "model_reasoning_effort=\"low\"",
                "-s",
                "read-only",
                "-c",
                "a.b=1"
            ]
        );
    }

    #[test]
    fn stored_form_holds_only_set_values() {
        let mut s = Settings::default();
        assert_eq!(s.to_json(), serde_json::json!({}));
        s.apply("effort=high").unwrap();
        assert_eq!(s.to_json(), serde_json::json!({"effort": "high"}));
        assert_eq!(Settings::from_json(&s.to_json()), s);
        assert_eq!(
            Settings::from_json(&serde_json::json!({"effort": 3})),
            Settings::default()
        );
    }
}
