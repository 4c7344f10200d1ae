//! Token usage per session and per ticket, from Codex's rollouts, cached in
//! the store: a rollout is read again only when its size or modification
//! time changed, and rollouts are looked for with one walk of Codex's
//! sessions folder for all the ids not yet known, so `csm list --json` with
//! a thousand sessions costs a stat per session.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use crate::codex::usage::Usage;
use crate::store::Store;

/// The cache keys' prefix (`usage:<codex id>`).
const PREFIX: &str = "usage:";

/// Up to this many ids are looked up in the cache one by one.
const FEW: usize = 8;

#[derive(Serialize, Deserialize)]
struct Entry {
    path: PathBuf,
    len: u64,
    mtime_ns: u128,
    usage: Usage,
}

fn stamp(path: &Path) -> Option<(u64, u128)> {
    let m = std::fs::metadata(path).ok()?;
    let mtime = m
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    Some((m.len(), mtime))
}

/// The usage of each Codex thread in `codex_ids` whose rollout is on this
/// machine (best effort: the cache is written when it can be).
pub fn of_threads(store: &Store, codex_home: &Path, codex_ids: &[&str]) -> HashMap<String, Usage> {
    look_up(store, codex_home, codex_ids, true)
}

/// As [`of_threads`], but the store is only read, never written (a dry
/// run changes nothing, not even the cache).
pub fn of_threads_read_only(
    store: &Store,
    codex_home: &Path,
    codex_ids: &[&str],
) -> HashMap<String, Usage> {
    look_up(store, codex_home, codex_ids, false)
}

fn look_up(
    store: &Store,
    codex_home: &Path,
    codex_ids: &[&str],
    remember: bool,
) -> HashMap<String, Usage> {
    // A few ids are looked up one by one; many at once in one query.
    let rows: Vec<(String, String)> = if codex_ids.len() <= FEW {
        codex_ids
            .iter()
            .filter_map(|id| {
                let key = format!("{PREFIX}{id}");
                let (value, _) = store.cache_get(&key).ok().flatten()?;
                Some((key, value))
            })
            .collect()
    } else {
        store.cache_with_prefix(PREFIX).unwrap_or_default()
    };
    let mut cached: HashMap<String, Entry> = rows
        .into_iter()
        .filter_map(|(k, v)| {
            let id = k.strip_prefix(PREFIX)?.to_string();
            Some((id, serde_json::from_str(&v).ok()?))
        })
        .collect();
    let mut out = HashMap::new();
    let mut fresh = Vec::new();
    let mut index: Option<HashMap<String, PathBuf>> = None;
    for &id in codex_ids {
        let known = cached.remove(id);
        if let Some(e) = &known
            && stamp(&e.path) == Some((e.len, e.mtime_ns))
        {
            out.insert(id.to_string(), e.usage);
            continue;
        }
        let path = match known.map(|e| e.path).filter(|p| p.is_file()) {
            Some(p) => p,
            None => {
                let index = index.get_or_insert_with(|| rollout_index(codex_home));
                match index.get(id) {
                    Some(p) => p.clone(),
                    None => continue,
                }
            }
        };
        // Stamp before reading: a line appended meanwhile makes the next
        // look read it again rather than miss it.
        let Some((len, mtime_ns)) = stamp(&path) else {
            continue;
        };
        let Some(usage) = crate::codex::usage::read(&path) else {
            continue;
        };
        out.insert(id.to_string(), usage);
        let entry = Entry {
            path,
            len,
            mtime_ns,
            usage,
        };
        if let Ok(v) = serde_json::to_string(&entry) {
            fresh.push((format!("{PREFIX}{id}"), v));
        }
    }
    if remember
        && !fresh.is_empty()
        && let Err(e) = store.cache_set_many(&fresh)
    {
        tracing::debug!(error = %e, "cannot cache token usage");
    }
    out
}

/// The sum of `usages`; `None` when there is none.
pub fn total<'a>(usages: impl IntoIterator<Item = &'a Usage>) -> Option<Usage> {
    usages.into_iter().fold(None, |sum, u| {
        let mut s = sum.unwrap_or_default();
        s.add(u);
        Some(s)
    })
}

/// Every rollout under Codex's sessions folder, by thread id (the UUID at
/// the end of `rollout-<time>-<uuid>.jsonl[.zst]`).
fn rollout_index(codex_home: &Path) -> HashMap<String, PathBuf> {
    let mut index = HashMap::new();
    let mut stack = vec![crate::codex::rollout::sessions_dir(codex_home)];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(path);
                continue;
            }
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let Some(kind) = crate::codex::rollout::rollout_name(&name) else {
                continue;
            };
            let stem = name.trim_end_matches(".zst").trim_end_matches(".jsonl");
            let Some(id) = stem.len().checked_sub(36).and_then(|i| stem.get(i..)) else {
                continue;
            };
            // A plain rollout wins: Codex writes one back when it resumes a
            // compressed session.
            if kind == crate::codex::rollout::Compression::Plain || !index.contains_key(id) {
                index.insert(id.to_string(), path);
            }
        }
    }
    index
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout(home: &Path, id: &str, totals: &[u64]) -> PathBuf {
        let dir = home.join("sessions/2026/12/03");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("rollout-2026-12-03T10-00-00-{id}.jsonl"));
        let mut text = String::from("{\"type\":\"session_meta\",\"payload\":{}}\n");
        for t in totals {
            text.push_str(&format!(
                "{{\"type\":\"event_msg\",\"payload\":{{\"type\":\"token_count\",\"info\":{{\"total_token_usage\":{{\"input_tokens\":{t},\"output_tokens\":1}}}}}}}}\n"
            ));
        }
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn usage_is_cached_and_read_again_when_the_rollout_grows() {
        let home = tempfile::tempdir().unwrap();
        let store = Store::open_in_memory().unwrap();
        let a = "01a23d30-14e1-7010-875d-cdc919380066";
        let b = "01a23d30-14e1-7010-875d-cdc919380077";
        let pa = rollout(home.path(), a, &[10, 30]);
        rollout(home.path(), b, &[5]);
        let got = of_threads(&store, home.path(), &[a, b, "missing"]);
        assert_eq!(got[a].input_tokens, 30);
        assert_eq!(got[b].input_tokens, 5);
        assert!(!got.contains_key("missing"));
        assert_eq!(total(got.values()).unwrap().input_tokens, 35);
        assert_eq!(total([]), None);
        assert_eq!(store.cache_with_prefix(PREFIX).unwrap().len(), 2);

        // Cached: a rollout that moved away is still known by its entry
        // while it is unchanged; one that grew is read again.
        std::fs::write(
            &pa,
            std::fs::read_to_string(&pa).unwrap()
                + "{\"type\":\"event_msg\",\"payload\":{\"type\":\"token_count\",\"info\":{\"total_token_usage\":{\"input_tokens\":99}}}}\n",
        )
        .unwrap();
        let got = of_threads(&store, home.path(), &[a, b]);
        assert_eq!(got[a].input_tokens, 99);
        assert_eq!(got[b].input_tokens, 5);
        // Many ids at once: one query for the cache.
        let mut many = vec![a, b];
        many.extend(["x1", "x2", "x3", "x4", "x5", "x6", "x7"]);
        let got = of_threads(&store, home.path(), &many);
        assert_eq!((got.len(), got[a].input_tokens), (2, 99));
        // A compressed rollout is read too.
        let c = "01a23d30-14e1-7010-875d-cdc919380088";
        let plain = rollout(home.path(), c, &[7, 42]);
        let zst = plain.with_extension("jsonl.zst");
        let bytes = zstd::encode_all(std::fs::read(&plain).unwrap().as_slice(), 0).unwrap();
        std::fs::write(&zst, bytes).unwrap();
        std::fs::remove_file(&plain).unwrap();
        assert_eq!(of_threads(&store, home.path(), &[c])[c].input_tokens, 42);
    }
}
