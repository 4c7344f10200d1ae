//! Which repository config files the user trusts, as git's
//! `safe.directory` and direnv's `allow` do: a repository's `.csm.toml` is
//! data until the user runs `csm trust` on exactly that content.
//!
//! The record is one line per trusted file in the user's data folder
//! (`trusted-repos`): `sha256:<hex of the file's bytes> <absolute path>`.
//! Any change to the file changes its hash, so the trust is gone until the
//! user looks again.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The content hash a trust record holds: `sha256:<hex>`.
pub fn content_hash(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for b in digest.iter() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The path a record is kept under: the file's canonical path when it
/// can be found, so a symlinked folder names the same file.
fn record_path(file: &Path) -> PathBuf {
    std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf())
}

/// The records of `trust_file`: (hash, path) pairs; a missing or unreadable
/// file trusts nothing.
fn records(trust_file: &Path) -> Vec<(String, PathBuf)> {
    let Ok(text) = std::fs::read_to_string(trust_file) else {
        return Vec::new();
    };
    text.lines()
        .filter_map(|line| {
            let (hash, path) = line.split_once(' ')?;
            hash.starts_with("sha256:")
                .then(|| (hash.to_string(), PathBuf::from(path)))
        })
        .collect()
}

/// What the user's record says about a repository file with these bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Trusted: the record holds this very content.
    Trusted,
    /// Trusted once, but the file has changed since.
    Changed,
    /// Never trusted (or revoked).
    Untrusted,
}

impl State {
    /// A word for output.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Trusted => "trusted",
            State::Changed => "changed since it was trusted",
            State::Untrusted => "not trusted",
        }
    }
}

/// Whether the user trusts `file` with content `bytes`.
pub fn state(trust_file: &Path, file: &Path, bytes: &[u8]) -> State {
    let path = record_path(file);
    let hash = content_hash(bytes);
    let mut seen = false;
    for (h, p) in records(trust_file) {
        if p == path {
            if h == hash {
                return State::Trusted;
            }
            seen = true;
        }
    }
    if seen {
        State::Changed
    } else {
        State::Untrusted
    }
}

/// Records that the user trusts `file` with content `bytes` (replacing any
/// earlier record of that file). Returns the hash recorded.
pub fn trust(trust_file: &Path, file: &Path, bytes: &[u8]) -> std::io::Result<String> {
    let path = record_path(file);
    if path.to_string_lossy().contains(['\n', '\r']) {
        // One record a line: a name with a line break could forge another.
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "the file's path holds a line break",
        ));
    }
    let hash = content_hash(bytes);
    let mut kept: Vec<(String, PathBuf)> = records(trust_file)
        .into_iter()
        .filter(|(_, p)| *p != path)
        .collect();
    kept.push((hash.clone(), path));
    write(trust_file, &kept)?;
    Ok(hash)
}

/// Removes every record of `file`; whether there was one.
pub fn revoke(trust_file: &Path, file: &Path) -> std::io::Result<bool> {
    let path = record_path(file);
    let all = records(trust_file);
    let kept: Vec<(String, PathBuf)> = all.iter().filter(|(_, p)| *p != path).cloned().collect();
    if kept.len() == all.len() {
        return Ok(false);
    }
    write(trust_file, &kept)?;
    Ok(true)
}

/// Writes the records atomically, readable by the user only.
fn write(trust_file: &Path, records: &[(String, PathBuf)]) -> std::io::Result<()> {
    use std::io::Write;
    let dir = trust_file.parent().unwrap_or(Path::new("."));
    crate::paths::create_private_dir(dir)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    for (hash, path) in records {
        writeln!(tmp, "{hash} {}", path.display())?;
    }
    tmp.as_file().sync_all()?;
    tmp.persist(trust_file).map_err(|e| e.error)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_follows_the_exact_content_and_can_be_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let record = dir.path().join("data/trusted-repos");
        let file = dir.path().join(".csm.toml");
        std::fs::write(&file, "a").unwrap();
        assert_eq!(state(&record, &file, b"a"), State::Untrusted);
        trust(&record, &file, b"a").unwrap();
        assert_eq!(state(&record, &file, b"a"), State::Trusted);
        assert_eq!(state(&record, &file, b"a\n"), State::Changed);
        let other = dir.path().join("other.toml");
        std::fs::write(&other, "a").unwrap();
        assert_eq!(state(&record, &other, b"a"), State::Untrusted);
        trust(&record, &file, b"b").unwrap();
        assert_eq!(state(&record, &file, b"a"), State::Changed);
        assert_eq!(records(&record).len(), 1);
        assert!(revoke(&record, &file).unwrap());
        assert!(!revoke(&record, &file).unwrap());
        assert_eq!(state(&record, &file, b"b"), State::Untrusted);
        assert_eq!(
            content_hash(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
