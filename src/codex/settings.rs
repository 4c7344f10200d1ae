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

/// Defines a setting's closed set of values: the enum, its string forms
/// (written once, here), `ALL`, `parse` (case-insensitive), serde as the
/// string, and the list of names (`$names`) the editor and errors show.
macro_rules! choice {
    (
        $(#[$meta:meta])*
        $name:ident, $names:ident {
            $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in the order the editor cycles through them.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The value as Codex (or csm) spells it.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The value a string names (any case).
            pub fn parse(text: &str) -> Option<$name> {
                let lower = text.to_ascii_lowercase();
                $name::ALL.iter().copied().find(|v| v.as_str() == lower)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$name, D::Error> {
                let text = String::deserialize(d)?;
                $name::parse(&text)
                    .ok_or_else(|| serde::de::Error::custom(format!("unknown value {text:?}")))
            }
        }

        /// The string forms of every value.
        pub const $names: &[&str] = &[$($text,)+];
    };
}

choice! {
    /// Reasoning effort (`-c model_reasoning_effort=...`).
    Effort, EFFORTS {
        /// No reasoning.
        None = "none",
        /// Minimal.
        Minimal = "minimal",
        /// Low.
        Low = "low",
        /// Medium.
        Medium = "medium",
        /// High.
        High = "high",
        /// Extra high.
        XHigh = "xhigh",
    }
}

choice! {
    /// Sandbox modes (`-s`).
    Sandbox, SANDBOXES {
        /// Codex reads, writes nothing.
        ReadOnly = "read-only",
        /// Codex writes in the folder.
        WorkspaceWrite = "workspace-write",
        /// No sandbox.
        DangerFullAccess = "danger-full-access",
    }
}

choice! {
    /// Approval policies (`-a`).
    Approval, APPROVALS {
        /// Codex asks when it wants to.
        OnRequest = "on-request",
        /// Codex never asks.
        Never = "never",
    }
}

choice! {
    /// `tabs`: whether, and how freely, Codex may run commands in tabs
    /// (csm's own setting, not a Codex flag).
    #[derive(Default)]
    TabsMode, TABS {
        /// No MCP server is passed to Codex (the default).
        #[default]
        Off = "off",
        /// Each request needs the user's approval, unless `[tabs] allow`
        /// matches it.
        On = "on",
        /// Requests run at once.
        Auto = "auto",
    }
}

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
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub effort: Option<Effort>,
    /// `-s SANDBOX`.
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub sandbox: Option<Sandbox>,
    /// `-a APPROVAL`.
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub approval: Option<Approval>,
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
    #[serde(skip_serializing_if = "Option::is_none", deserialize_with = "lenient")]
    pub tabs: Option<TabsMode>,
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
                    Some(one_of(name, value, Effort::parse, EFFORTS)?)
                }
            }
            "sandbox" => {
                self.sandbox = if clear {
                    None
                } else {
                    Some(one_of(name, value, Sandbox::parse, SANDBOXES)?)
                }
            }
            "approval" => {
                self.approval = if clear {
                    None
                } else {
                    Some(one_of(name, value, Approval::parse, APPROVALS)?)
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
                    Some(one_of(name, value, TabsMode::parse, TABS)?)
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
        self.tabs.unwrap_or_default()
    }

    /// Flags for the interactive UI (`codex` and `codex resume`).
    pub fn interactive_args(&self) -> Vec<OsString> {
        let mut args = self.common_args();
        if let Some(a) = &self.approval {
            args.extend(["-a".into(), a.as_str().into()]);
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
            args.extend(["-s".into(), s.as_str().into()]);
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
        push("effort", self.effort.map(|e| e.to_string()));
        push("sandbox", self.sandbox.map(|s| s.to_string()));
        push("approval", self.approval.map(|a| a.to_string()));
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

/// A stored value this version does not know drops that setting only
/// (Codex's default), rather than the session's other settings.
fn lenient<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let value = serde_json::Value::deserialize(d)?;
    Ok(serde_json::from_value(value).ok())
}

fn bad(name: &str, value: &str, allowed: &[&str]) -> SettingsError {
    SettingsError::BadValue {
        name: name.to_string(),
        value: value.escape_debug().to_string(),
        allowed: allowed.iter().map(|s| s.to_string()).collect(),
    }
}

fn one_of<T>(
    name: &str,
    value: &str,
    parse: fn(&str) -> Option<T>,
    allowed: &[&str],
) -> Result<T, SettingsError> {
    parse(value).ok_or_else(|| bad(name, value, allowed))
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
        assert_eq!(s.effort, Some(Effort::High));
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
        for (all, names) in [
            (
                Effort::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>(),
                EFFORTS,
            ),
            (Sandbox::ALL.iter().map(|v| v.as_str()).collect(), SANDBOXES),
            (
                Approval::ALL.iter().map(|v| v.as_str()).collect(),
                APPROVALS,
            ),
            (TabsMode::ALL.iter().map(|v| v.as_str()).collect(), TABS),
        ] {
            assert_eq!(all, names);
        }
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
        // An unknown value drops that setting, not the others.
        assert_eq!(
            Settings::from_json(&serde_json::json!({"effort": "ultra", "sandbox": "read-only"})),
            Settings {
                sandbox: Some(Sandbox::ReadOnly),
                ..Settings::default()
            }
        );
    }
}
