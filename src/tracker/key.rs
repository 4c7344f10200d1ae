//! Ticket keys (`PROJ-123`, or a GitHub issue `owner/name#42`), validated
//! once at the edge.
//!
//! Every key csm handles passes through [`TicketKey::parse`] before it is
//! used in a URL, a JQL query or a file name, so hostile input (`../x`,
//! `proj 1;rm`, quotes) is refused before any request or file access.
//!
//! The short forms `#42` and `42` name an issue of the repository whose
//! tracker is GitHub: the binary registers a [`set_short_form_resolver`]
//! that finds that repository, and the key is always recorded in full.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

/// The longest project prefix accepted (Jira allows at most 255 characters
/// for a project key, but real ones are short; this keeps file names and
/// branch names sane).
const MAX_PREFIX_LEN: usize = 32;

/// The longest GitHub owner (user or organisation) name.
const MAX_OWNER_LEN: usize = 39;
/// The longest GitHub repository name.
const MAX_REPO_LEN: usize = 100;

type Resolver = Box<dyn Fn() -> Option<String> + Send + Sync>;

static SHORT_FORM: std::sync::OnceLock<Resolver> = std::sync::OnceLock::new();

/// Registers what `#42` and `42` mean: a function giving the GitHub
/// repository (`owner/name`) of the current folder's tracker, or `None`
/// when that tracker is not GitHub. Called once, by the binary; later calls
/// are ignored.
pub fn set_short_form_resolver(resolver: impl Fn() -> Option<String> + Send + Sync + 'static) {
    let _ = SHORT_FORM.set(Box::new(resolver));
}

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
    /// Parses and normalises a key such as `proj-12` into `PROJ-12`, or
    /// `Owner/Repo#7` into `owner/repo#7`; `#7` and `7` are completed with
    /// the repository of a GitHub tracker (see [`set_short_form_resolver`]).
    pub fn parse(input: &str) -> Result<Self, KeyError> {
        let fail = |reason| KeyError {
            input: input.escape_debug().to_string(),
            reason,
        };
        let short = input.strip_prefix('#').unwrap_or(input);
        if !short.is_empty() && short.bytes().all(|b| b.is_ascii_digit()) {
            let repo = SHORT_FORM.get().and_then(|r| r()).ok_or_else(|| {
                fail("a bare issue number needs a repository whose tracker is GitHub; write owner/name#NUMBER")
            })?;
            return Self::parse_github(&format!("{repo}#{short}"), input);
        }
        if input.contains('#') || input.contains('/') {
            return Self::parse_github(input, input);
        }
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

    /// A GitHub key: `owner/name#NUMBER`, owner and name lower-cased
    /// (GitHub treats them case-insensitively).
    fn parse_github(text: &str, input: &str) -> Result<Self, KeyError> {
        let fail = |reason| KeyError {
            input: input.escape_debug().to_string(),
            reason,
        };
        let (repo, number) = text
            .rsplit_once('#')
            .ok_or_else(|| fail("expected owner/name#NUMBER, e.g. acme/app#42"))?;
        let (owner, name) = split_repo(repo).map_err(fail)?;
        if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
            return Err(fail("the part after # must be a number"));
        }
        if number.starts_with('0') || number.len() > 18 {
            return Err(fail("the number must be positive, without leading zeros"));
        }
        Ok(TicketKey(format!("{owner}/{name}#{number}")))
    }

    /// The repository (`owner`, `name`) and number of a GitHub key.
    pub fn github(&self) -> Option<(&str, &str, u64)> {
        let (repo, number) = self.0.rsplit_once('#')?;
        let (owner, name) = repo.split_once('/')?;
        Some((owner, name, number.parse().ok()?))
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

    /// The project prefix, e.g. `PROJ` (a GitHub key's `owner/name`).
    pub fn prefix(&self) -> &str {
        if let Some((repo, _)) = self.0.rsplit_once('#') {
            return repo;
        }
        self.0.rsplit_once('-').map_or("", |(p, _)| p)
    }

    /// The number after the dash (or the `#`).
    pub fn number(&self) -> u64 {
        self.0
            .rsplit_once('#')
            .or_else(|| self.0.rsplit_once('-'))
            .and_then(|(_, n)| n.parse().ok())
            .unwrap_or(0)
    }
}

/// Checks a GitHub repository, `owner/name`, and returns it lower-cased:
/// the owner of letters, digits and single inner dashes (at most 39), the
/// name of letters, digits, `-`, `_` and `.` (at most 100, not only dots).
pub fn validate_repo(repo: &str) -> Result<String, KeyError> {
    split_repo(repo)
        .map(|(o, n)| format!("{o}/{n}"))
        .map_err(|reason| KeyError {
            input: repo.escape_debug().to_string(),
            reason,
        })
}

fn split_repo(repo: &str) -> Result<(String, String), &'static str> {
    let (owner, name) = repo
        .split_once('/')
        .ok_or("expected owner/name, e.g. acme/app")?;
    let owner = owner.to_ascii_lowercase();
    let name = name.to_ascii_lowercase();
    if owner.is_empty()
        || owner.len() > MAX_OWNER_LEN
        || owner.starts_with('-')
        || owner.ends_with('-')
        || owner.contains("--")
        || !owner
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err("the owner may hold only letters, digits and inner dashes");
    }
    if name.is_empty()
        || name.len() > MAX_REPO_LEN
        || name.bytes().all(|b| b == b'.')
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err("the repository name may hold only letters, digits, -, _ and .");
    }
    Ok((owner, name))
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

    #[test]
    fn github_keys_are_lower_cased_and_checked() {
        let k = TicketKey::parse("Acme/My.App#42").unwrap();
        assert_eq!(k.as_str(), "acme/my.app#42");
        assert_eq!(k.github(), Some(("acme", "my.app", 42)));
        assert_eq!((k.prefix(), k.number()), ("acme/my.app", 42));
        assert_eq!(TicketKey::parse("PROJ-1").unwrap().github(), None);
        for bad in [
            "acme/app#",
            "acme/app#0",
            "acme/app#x",
            "acme#1",
            "/app#1",
            "acme/#1",
            "acme/..#1",
            "ac me/app#1",
            "-acme/app#1",
            "acme/a/b#1",
            "acme/app#1#2",
            "acme/ap'p#1",
        ] {
            assert!(TicketKey::parse(bad).is_err(), "{bad:?} should be refused");
        }
        assert_eq!(validate_repo("Acme/App").unwrap(), "acme/app");
        assert!(validate_repo("acme").is_err());
    }

    #[test]
    fn a_bare_number_needs_a_github_repository() {
        // No resolver is registered in unit tests.
        let err = TicketKey::parse("#42").unwrap_err();
        assert!(err.reason.contains("owner/name#NUMBER"), "{err}");
        assert!(TicketKey::parse("42").is_err());
    }

    proptest::proptest! {
        #[test]
        fn a_parsed_key_is_always_safe_in_a_path_and_a_query(input in ".{0,40}") {
            if let Ok(k) = TicketKey::parse(&input) {
                let s = k.as_str();
                match k.github() {
                    // owner/name#N: each part safe as one URL path segment.
                    Some((owner, name, _)) => {
                        proptest::prop_assert!(owner.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'), "{}", s);
                        proptest::prop_assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')), "{}", s);
                        proptest::prop_assert!(name.chars().any(|c| c != '.'), "{}", s);
                    }
                    None => {
                        proptest::prop_assert!(s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'), "{}", s);
                        proptest::prop_assert!(!s.contains(".."));
                    }
                }
            }
        }
    }
}
