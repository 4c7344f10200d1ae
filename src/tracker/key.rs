//! Ticket keys (`PROJ-123`), validated once at the edge.
//!
//! Every key csm handles passes through [`TicketKey::parse`] before it is
//! used in a URL, a JQL query or a file name, so hostile input (`../x`,
//! `proj 1;rm`, quotes) is refused before any request or file access.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

/// The longest project prefix accepted (Jira allows at most 255 characters
/// for a project key, but real ones are short; this keeps file names and
/// branch names sane).
const MAX_PREFIX_LEN: usize = 32;

/// A validated ticket key: a project prefix (an upper-case letter followed
/// by upper-case letters, digits or `_`), a dash, and a positive number
/// without leading zeros. Lower-case input is accepted and upper-cased.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct TicketKey(String);

/// Why a string is not a ticket key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("\"{input}\" is not a ticket key: {reason}")]
pub struct KeyError {
    /// The input, with control characters escaped.
    pub input: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl TicketKey {
    /// Parses and normalises a key such as `proj-12` into `PROJ-12`.
    pub fn parse(input: &str) -> Result<Self, KeyError> {
        let fail = |reason| KeyError {
            input: input.escape_debug().to_string(),
            reason,
        };
        let (prefix, number) = input
            .rsplit_once('-')
            .ok_or_else(|| fail("expected PREFIX-NUMBER, e.g. PROJ-123"))?;
        let prefix = prefix.to_ascii_uppercase();
        let mut chars = prefix.chars();
        match chars.next() {
            Some(c) if c.is_ascii_uppercase() => {}
            _ => return Err(fail("the prefix must start with a letter")),
        }
        if !chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_') {
            return Err(fail("the prefix may hold only letters, digits and _"));
        }
        if prefix.len() > MAX_PREFIX_LEN {
            return Err(fail("the prefix is longer than 32 characters"));
        }
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(fail("the part after the dash must be a number"));
        }
        if number.starts_with('0') || number.len() > 18 {
            return Err(fail("the number must be positive, without leading zeros"));
        }
        Ok(TicketKey(format!("{prefix}-{number}")))
    }

    /// Builds a key from a prefix and a number (the local tracker's
    /// allocator); the prefix is validated like a parsed one.
    pub fn from_parts(prefix: &str, number: u64) -> Result<Self, KeyError> {
        Self::parse(&format!("{prefix}-{number}"))
    }

    /// The whole key, e.g. `PROJ-123`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The project prefix, e.g. `PROJ`.
    pub fn prefix(&self) -> &str {
        self.0.rsplit_once('-').map_or("", |(p, _)| p)
    }

    /// The number after the dash.
    pub fn number(&self) -> u64 {
        self.0
            .rsplit_once('-')
            .and_then(|(_, n)| n.parse().ok())
            .unwrap_or(0)
    }
}

/// Checks a project prefix on its own (config values, `--project`).
pub fn validate_prefix(prefix: &str) -> Result<String, KeyError> {
    TicketKey::from_parts(prefix, 1).map(|k| k.prefix().to_string())
}

impl fmt::Display for TicketKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for TicketKey {
    type Err = KeyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl<'de> Deserialize<'de> for TicketKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        TicketKey::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_and_normalises() {
        assert_eq!(TicketKey::parse("PROJ-123").unwrap().as_str(), "PROJ-123");
        assert_eq!(TicketKey::parse("proj-7").unwrap().as_str(), "PROJ-7");
        assert_eq!(TicketKey::parse("A1_B-9").unwrap().prefix(), "A1_B");
        assert_eq!(TicketKey::parse("X-42").unwrap().number(), 42);
    }

    #[test]
    fn refuses_hostile_and_malformed_input() {
        for bad in [
            "",
            "PROJ",
            "PROJ-",
            "-1",
            "1PROJ-1",
            "PROJ-0",
            "PROJ-01",
            "PROJ-1a",
            "proj 1;rm",
            "../x-1",
            "PR/OJ-1",
            "PROJ-1 OR 1=1",
            "PRÖJ-1",
            "PROJ-\u{0}1",
            "PROJ-1234567890123456789",
        ] {
            assert!(TicketKey::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn error_escapes_control_characters() {
        let err = TicketKey::parse("a\u{1b}[2J-1").unwrap_err();
        assert!(!err.to_string().contains('\u{1b}'));
    }

    #[test]
    fn serde_validates() {
        let k: TicketKey = serde_json::from_str("\"abc-3\"").unwrap();
        assert_eq!(k.as_str(), "ABC-3");
        assert!(serde_json::from_str::<TicketKey>("\"../etc-1\"").is_err());
    }

    proptest::proptest! {
        #[test]
        fn a_parsed_key_is_always_safe_in_a_path_and_a_query(input in ".{0,40}") {
            if let Ok(k) = TicketKey::parse(&input) {
                let s = k.as_str();
                proptest::prop_assert!(s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{}", s);
                proptest::prop_assert!(!s.contains(".."));
            }
        }
    }
}
