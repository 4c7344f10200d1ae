//! Codex's session files ("rollouts") and how csm learns a session's id.
//!
//! Codex writes each session to
//! `$CODEX_HOME/sessions/YYYY/MM/DD/rollout-<time>-<uuid>.jsonl`, one JSON
//! object per line; the first is `session_meta` with the id and the folder
//! (`cwd`). To capture the id of the session csm just launched, csm looks
//! only at today's and yesterday's day folders (in local time and UTC, so
//! midnight and time zones cannot hide a file), only at files modified since
//! the launch, reads only their first line, and takes the one whose folder
//! is the session's and whose id no other csm session owns. The cost does
//! not grow with the number of older sessions.
//!
//! Codex does not promise a plain `.jsonl`: with rollout compression it
//! rewrites idle sessions as `rollout-…-<uuid>.jsonl.zst` (zstd) and deletes
//! the `.jsonl`, and `codex archive` moves a session to
//! `$CODEX_HOME/archived_sessions/`. Everything here reads both forms
//! ([`open`]); [`locate`] also looks in the archive. Whether a thread
//! exists is still Codex's call (see `codex::thread`).
//!
//! Every line is parsed tolerantly: truncated, empty or garbage lines and
//! line types csm does not know are skipped, never a panic.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use serde::Deserialize;
use serde_json::Value;

/// How much earlier than the launch a file's time may be and still count
/// (file systems store modification times coarsely).
const CLOCK_SLACK: Duration = Duration::from_secs(2);

/// What the first line of a rollout says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionMeta {
    /// The session (thread) id.
    pub id: String,
    /// The folder Codex ran in.
    pub cwd: PathBuf,
    /// `codex-tui`, `codex_exec`, ...
    pub originator: Option<String>,
    /// The Codex version that wrote it.
    pub cli_version: Option<String>,
    /// When the session started (RFC 3339), when given.
    pub timestamp: Option<String>,
}

/// A rollout file and its metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rollout {
    /// The file.
    pub path: PathBuf,
    /// Its first line.
    pub meta: SessionMeta,
    /// When it was last written.
    pub modified: SystemTime,
}

#[derive(Deserialize)]
struct Line {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    payload: Value,
}

/// The sessions folder under Codex's home.
pub fn sessions_dir(codex_home: &Path) -> PathBuf {
    codex_home.join("sessions")
}

/// The day folders a session started at `now` can be in.
pub fn recent_day_dirs(codex_home: &Path, now: jiff::Timestamp) -> Vec<PathBuf> {
    let root = sessions_dir(codex_home);
    let zones = [jiff::tz::TimeZone::system(), jiff::tz::TimeZone::UTC];
    let mut dirs = Vec::new();
    for zone in zones {
        let today = now.to_zoned_datetime(zone).date();
        for date in [Some(today), today.yesterday().ok()].into_iter().flatten() {
            let dir = root
                .join(format!("{:04}", date.year()))
                .join(format!("{:02}", date.month()))
                .join(format!("{:02}", date.day()));
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
    }
    dirs
}

/// How a rollout file is stored, from its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// `rollout-….jsonl`.
    Plain,
    /// `rollout-….jsonl.zst`, written by Codex's rollout compression.
    Zstd,
}

/// Whether a file name is a rollout's, and how it is stored.
pub fn rollout_name(name: &str) -> Option<Compression> {
    if !name.starts_with("rollout-") {
        return None;
    }
    if name.ends_with(".jsonl") {
        Some(Compression::Plain)
    } else if name.ends_with(".jsonl.zst") {
        Some(Compression::Zstd)
    } else {
        None
    }
}

fn compression_of(path: &Path) -> Compression {
    path.file_name()
        .and_then(|n| rollout_name(&n.to_string_lossy()))
        .unwrap_or(Compression::Plain)
}

/// Opens a rollout for reading its lines, decompressing a `.jsonl.zst` on
/// the fly. At most `limit` bytes of (decompressed) text are read.
pub fn open(path: &Path, limit: u64) -> std::io::Result<Box<dyn BufRead>> {
    let file = File::open(path)?;
    Ok(match compression_of(path) {
        Compression::Plain => Box::new(BufReader::new(file.take(limit))),
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::new(file)?;
            Box::new(BufReader::new(decoder.take(limit)))
        }
    })
}

/// Reads the `session_meta` line at the top of a rollout.
pub fn read_meta(path: &Path) -> Option<SessionMeta> {
    let mut first = String::new();
    // A first line longer than this is not a session_meta csm can use.
    open(path, 1 << 20).ok()?.read_line(&mut first).ok()?;
    parse_meta(&first)
}

/// Parses a `session_meta` line.
pub fn parse_meta(line: &str) -> Option<SessionMeta> {
    let line: Line = serde_json::from_str(line.trim()).ok()?;
    if line.kind != "session_meta" {
        return None;
    }
    let p = &line.payload;
    let text = |k: &str| p.get(k).and_then(Value::as_str).map(str::to_string);
    Some(SessionMeta {
        id: text("id").filter(|id| !id.is_empty())?,
        cwd: PathBuf::from(text("cwd")?),
        originator: text("originator"),
        cli_version: text("cli_version"),
        timestamp: text("timestamp"),
    })
}

fn same_folder(a: &Path, b: &Path) -> bool {
    let canon = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    a == b || canon(a) == canon(b)
}

/// How much of a rollout is read to find its first user message.
const USER_MESSAGE_SCAN: u64 = 512 * 1024;

/// Whether the rollout's first user message contains `needle` (`None`:
/// not yet written, or unreadable).
pub fn first_user_message_contains(path: &Path, needle: &str) -> Option<bool> {
    let reader = open(path, USER_MESSAGE_SCAN).ok()?;
    for line in reader.lines() {
        let Ok(line) = line else { return None };
        let Ok(line) = serde_json::from_str::<Line>(&line) else {
            continue;
        };
        let p = &line.payload;
        if line.kind == "response_item" && p["type"] == "message" && p["role"] == "user" {
            let text: String = p["content"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c["text"].as_str())
                .collect();
            // Codex puts its own context (AGENTS.md, environment) in user
            // messages too; only the one that is the user's prompt counts.
            if text.contains(needle) {
                return Some(true);
            }
        }
    }
    None
}

/// Rollouts written since `since` whose folder is `folder` and whose id is
/// not in `exclude`, oldest first. With `needle`, only those whose first
/// user message contains it (the ticket key of the prompt csm sent), so
/// two sessions started in one folder at once cannot swap ids.
pub fn scan_new(
    codex_home: &Path,
    since: SystemTime,
    folder: &Path,
    exclude: &HashSet<String>,
) -> Vec<Rollout> {
    scan_new_matching(codex_home, since, folder, exclude, None)
}

/// [`scan_new`] with a needle.
pub fn scan_new_matching(
    codex_home: &Path,
    since: SystemTime,
    folder: &Path,
    exclude: &HashSet<String>,
    needle: Option<&str>,
) -> Vec<Rollout> {
    let threshold = since.checked_sub(CLOCK_SLACK).unwrap_or(since);
    let mut found = Vec::new();
    for dir in recent_day_dirs(codex_home, jiff::Timestamp::now()) {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if rollout_name(&name).is_none() {
                continue;
            }
            let Ok(modified) = entry.metadata().and_then(|m| m.modified()) else {
                continue;
            };
            if modified < threshold {
                continue;
            }
            let path = entry.path();
            let Some(meta) = read_meta(&path) else {
                continue;
            };
            if exclude.contains(&meta.id) || !same_folder(&meta.cwd, folder) {
                continue;
            }
            if let Some(n) = needle
                && first_user_message_contains(&path, n) != Some(true)
            {
                continue;
            }
            found.push(Rollout {
                path,
                meta,
                modified,
            });
        }
    }
    found.sort_by_key(|r| (r.modified, r.meta.id.clone()));
    found
}

/// Polls until a new matching rollout appears, `stop` is set, or the
/// deadline passes. `exclude` is re-read on every poll (another csm
/// session in the same folder may claim an id meanwhile).
pub fn watch(
    codex_home: &Path,
    since: SystemTime,
    folder: &Path,
    exclude: &dyn Fn() -> HashSet<String>,
    timeout: Duration,
    poll: Duration,
    stop: &AtomicBool,
) -> Option<Rollout> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(first) = scan_new(codex_home, since, folder, &exclude())
            .into_iter()
            .next()
        {
            return Some(first);
        }
        if stop.load(Ordering::Acquire) || Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(poll);
    }
}

/// The folder `codex archive` moves sessions to.
pub fn archived_dir(codex_home: &Path) -> PathBuf {
    codex_home.join("archived_sessions")
}

/// Whether `name` is the rollout file of session `id` (plain or compressed).
fn is_rollout_of(name: &str, id: &str) -> bool {
    let Some(kind) = rollout_name(name) else {
        return false;
    };
    let stem = match kind {
        Compression::Plain => name.strip_suffix(".jsonl"),
        Compression::Zstd => name.strip_suffix(".jsonl.zst"),
    };
    // `rollout-YYYY-MM-DDTHH-MM-SS-<id>`: the id is all that follows the
    // time, so one id's tail never matches another's.
    !id.is_empty()
        && stem.is_some_and(|s| {
            s.strip_suffix(id)
                .and_then(|rest| rest.strip_prefix("rollout-"))
                .and_then(|rest| rest.strip_suffix('-'))
                .is_some_and(is_file_time)
        })
}

/// Whether `s` is a rollout name's time, `YYYY-MM-DDTHH-MM-SS`.
fn is_file_time(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 19
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 | 13 | 16 => *c == b'-',
            10 => *c == b'T',
            _ => c.is_ascii_digit(),
        })
}

/// Finds the rollout of a session id anywhere under the sessions folder,
/// plain (preferred: Codex writes one back when it resumes a compressed
/// session) or compressed.
pub fn find(codex_home: &Path, id: &str) -> Option<PathBuf> {
    let mut compressed = None;
    for day in day_dirs_newest_first(codex_home) {
        for file in sorted_children(&day) {
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !is_rollout_of(&name, id) {
                continue;
            }
            match rollout_name(&name) {
                Some(Compression::Plain) => return Some(file),
                _ => {
                    compressed.get_or_insert(file);
                }
            }
        }
    }
    compressed
}

/// Where a session's rollout is on this machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Located {
    /// The file.
    pub path: PathBuf,
    /// Whether it is in `archived_sessions/` (`codex unarchive` brings it
    /// back).
    pub archived: bool,
}

/// Finds a session's rollout in `sessions/`, else in `archived_sessions/`.
/// `None` says only that no file was found: whether the thread exists is
/// Codex's call.
pub fn locate(codex_home: &Path, id: &str) -> Option<Located> {
    if let Some(path) = find(codex_home, id) {
        return Some(Located {
            path,
            archived: false,
        });
    }
    find_below(&archived_dir(codex_home), id, 4).map(|path| Located {
        path,
        archived: true,
    })
}

/// The rollout of `id` in `dir` or its subfolders (at most `depth` deep).
fn find_below(dir: &Path, id: &str, depth: usize) -> Option<PathBuf> {
    let mut compressed = None;
    for entry in sorted_children(dir) {
        let name = entry
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if is_rollout_of(&name, id) {
            if rollout_name(&name) == Some(Compression::Plain) {
                return Some(entry);
            }
            compressed.get_or_insert(entry);
        } else if depth > 0
            && entry.is_dir()
            && let Some(found) = find_below(&entry, id, depth - 1)
        {
            return Some(found);
        }
    }
    compressed
}

/// The newest rollout whose folder is `folder` and whose id is not in
/// `exclude` (for `csm link --last`). Walks day folders newest first and
/// stops at the first match.
pub fn latest_in(codex_home: &Path, folder: &Path, exclude: &HashSet<String>) -> Option<Rollout> {
    let mut best: Option<Rollout> = None;
    let consider = |best: &mut Option<Rollout>, path: &Path| {
        let is_rollout = path
            .file_name()
            .is_some_and(|n| rollout_name(&n.to_string_lossy()).is_some());
        if is_rollout
            && let Some(meta) = read_meta(path)
            && !exclude.contains(&meta.id)
            && same_folder(&meta.cwd, folder)
        {
            let modified = fs::metadata(path)
                .and_then(|m| m.modified())
                .unwrap_or(SystemTime::UNIX_EPOCH);
            if best.as_ref().is_none_or(|b| modified > b.modified) {
                *best = Some(Rollout {
                    path: path.to_path_buf(),
                    meta,
                    modified,
                });
            }
        }
    };
    for day in day_dirs_newest_first(codex_home) {
        let Ok(entries) = fs::read_dir(&day) else {
            continue;
        };
        for e in entries.flatten() {
            consider(&mut best, &e.path());
        }
        if best.is_some() {
            break;
        }
    }
    best
}

fn sorted_children(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(dir)
        .map(|e| e.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.sort();
    v.reverse();
    v
}

fn day_dirs_newest_first(codex_home: &Path) -> Vec<PathBuf> {
    let mut days = Vec::new();
    for y in sorted_children(&sessions_dir(codex_home)) {
        for m in sorted_children(&y) {
            days.extend(sorted_children(&m).into_iter().filter(|d| d.is_dir()));
        }
    }
    days
}

/// Names a thread the way Codex's `/rename` does: a line appended to
/// `$CODEX_HOME/session_index.jsonl` (`{id, thread_name, updated_at}`;
/// the newest line for an id wins).
pub fn name_thread(codex_home: &Path, id: &str, name: &str) -> std::io::Result<()> {
    use std::io::Write;
    let line = serde_json::json!({
        "id": id,
        "thread_name": name,
        "updated_at": jiff::Timestamp::now().to_string(),
    });
    let mut file = fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(codex_home.join("session_index.jsonl"))?;
    // One write per line, so concurrent appenders do not interleave.
    file.write_all(format!("{line}\n").as_bytes())
}

/// The name `session_index.jsonl` gives a thread, if any.
pub fn thread_name(codex_home: &Path, id: &str) -> Option<String> {
    let text = fs::read_to_string(codex_home.join("session_index.jsonl")).ok()?;
    text.lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["id"] == id)
        .find_map(|v| v["thread_name"].as_str().map(str::to_string))
}

/// What a whole rollout says, for `show` and `done`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Completed turns.
    pub turns: usize,
    /// The assistant's last message.
    pub last_agent_message: Option<String>,
    /// The model of the last turn.
    pub model: Option<String>,
}

/// Reads a whole rollout (plain or compressed), skipping lines it cannot
/// read.
pub fn summarize(path: &Path) -> Summary {
    let Ok(reader) = open(path, u64::MAX) else {
        return Summary::default();
    };
    let mut summary = Summary::default();
    for line in reader.lines() {
        let Ok(line) = line else { break };
        summarize_line(&mut summary, &line);
    }
    summary
}

/// The assistant's last message in session `id`'s rollout (plain,
/// compressed or archived), if any.
pub fn last_agent_message(codex_home: &Path, id: &str) -> Option<String> {
    summarize(&locate(codex_home, id)?.path).last_agent_message
}

fn summarize_line(summary: &mut Summary, line: &str) {
    let Ok(line) = serde_json::from_str::<Line>(line) else {
        return;
    };
    let p = &line.payload;
    match line.kind.as_str() {
        "turn_context" => {
            if let Some(m) = p.get("model").and_then(Value::as_str) {
                summary.model = Some(m.to_string());
            }
        }
        "event_msg" if p.get("type").and_then(Value::as_str) == Some("task_complete") => {
            summary.turns += 1;
            if let Some(m) = p.get("last_agent_message").and_then(Value::as_str) {
                summary.last_agent_message = Some(m.to_string());
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Writes a rollout in today's local day folder.
    pub(crate) fn write_rollout(home: &Path, id: &str, cwd: &Path, extra: &str) -> PathBuf {
        let dir = recent_day_dirs(home, jiff::Timestamp::now())[0].clone();
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("rollout-2026-11-25T07-00-00-{id}.jsonl"));
        let meta = serde_json::json!({
            "timestamp": "2026-11-25T07:00:00Z", "ordinal": 0, "type": "session_meta",
            "payload": {"id": id, "cwd": cwd, "originator": "codex-tui", "cli_version": "0.169.0"}
        });
        fs::write(&path, format!("{meta}\n{extra}")).unwrap();
        path
    }

    #[test]
    fn scan_finds_new_files_in_the_folder_and_skips_owned_ones() {
        let home = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let start = SystemTime::now();
        write_rollout(home.path(), "aaa", work.path(), "");
        write_rollout(home.path(), "bbb", other.path(), "");
        let found = scan_new(home.path(), start, work.path(), &HashSet::new());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].meta.id, "aaa");
        let owned: HashSet<String> = ["aaa".to_string()].into();
        assert!(scan_new(home.path(), start, work.path(), &owned).is_empty());
        let later = start + Duration::from_secs(60);
        assert!(scan_new(home.path(), later, work.path(), &HashSet::new()).is_empty());
        assert!(find(home.path(), "bbb").is_some());
        assert!(find(home.path(), "zzz").is_none());
        assert_eq!(
            latest_in(home.path(), other.path(), &HashSet::new())
                .unwrap()
                .meta
                .id,
            "bbb"
        );
        let stop = AtomicBool::new(false);
        let got = watch(
            home.path(),
            start,
            work.path(),
            &HashSet::new,
            Duration::from_millis(50),
            Duration::from_millis(10),
            &stop,
        );
        assert_eq!(got.unwrap().meta.id, "aaa");
    }

    #[test]
    fn two_sessions_in_one_folder_are_told_apart_by_their_prompt() {
        let home = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        let start = SystemTime::now();
        let msg = |text: &str| {
            serde_json::json!({"type": "response_item", "payload": {"type": "message", "role": "user",
                "content": [{"type": "input_text", "text": text}]}})
            .to_string()
                + "\n"
        };
        write_rollout(
            home.path(),
            "id-a",
            work.path(),
            &msg("You are working on ticket CSM-1"),
        );
        write_rollout(
            home.path(),
            "id-b",
            work.path(),
            &msg("You are working on ticket CSM-2"),
        );
        write_rollout(home.path(), "id-c", work.path(), "");
        let none = HashSet::new();
        let for_two =
            scan_new_matching(home.path(), start, work.path(), &none, Some("ticket CSM-2"));
        assert_eq!(for_two.len(), 1);
        assert_eq!(for_two[0].meta.id, "id-b");
        let for_one =
            scan_new_matching(home.path(), start, work.path(), &none, Some("ticket CSM-1"));
        assert_eq!(for_one[0].meta.id, "id-a");
        assert_eq!(scan_new(home.path(), start, work.path(), &none).len(), 3);
    }

    #[test]
    fn thread_names_newest_wins() {
        let home = tempfile::tempdir().unwrap();
        assert_eq!(thread_name(home.path(), "a"), None);
        name_thread(home.path(), "a", "first").unwrap();
        name_thread(home.path(), "b", "other").unwrap();
        name_thread(home.path(), "a", "CSM-1: second").unwrap();
        assert_eq!(
            thread_name(home.path(), "a").as_deref(),
            Some("CSM-1: second")
        );
    }

    #[test]
    fn summary_tolerates_garbage() {
        let home = tempfile::tempdir().unwrap();
        let extra = concat!(
            "{\"type\":\"turn_context\",\"payload\":{\"model\":\"gpt-5.5\"}}\n",
            "not json at all\n",
            "\n",
            "{\"type\":\"event_msg\",\"payload\":{\"type\":\"task_complete\",\"last_agent_message\":\"Done.\"}}\n",
            "{\"type\":\"future_kind\",\"payload\":7}\n",
            "{\"type\":\"event_msg\",\"payload\":{\"type\":\"task_comp"
        );
        let path = write_rollout(home.path(), "ccc", home.path(), extra);
        let s = summarize(&path);
        assert_eq!(s.turns, 1);
        assert_eq!(s.last_agent_message.as_deref(), Some("Done."));
        assert_eq!(s.model.as_deref(), Some("gpt-5.5"));
        assert_eq!(parse_meta(""), None);
        assert_eq!(
            parse_meta("{\"type\":\"session_meta\",\"payload\":{}}"),
            None
        );
        assert_eq!(parse_meta("{\"type\":\"session_meta\"}"), None);
    }

    /// Compresses a rollout the way Codex does: `.jsonl.zst`, no `.jsonl`.
    fn compress(path: &Path) -> PathBuf {
        let data = fs::read(path).unwrap();
        let zst = PathBuf::from(format!("{}.zst", path.display()));
        fs::write(&zst, zstd::encode_all(&data[..], 3).unwrap()).unwrap();
        fs::remove_file(path).unwrap();
        zst
    }

    #[test]
    fn compressed_rollouts_read_like_plain_ones() {
        let home = tempfile::tempdir().unwrap();
        let work = tempfile::tempdir().unwrap();
        let start = SystemTime::now();
        let msg = serde_json::json!({"type": "response_item", "payload": {"type": "message",
            "role": "user", "content": [{"type": "input_text", "text": "ticket CSM-7: go"}]}});
        let extra = format!(
            "{msg}\n{{\"type\":\"some_future_line\",\"payload\":{{}}}}\n{}\n",
            "{\"type\":\"event_msg\",\"payload\":{\"type\":\"task_complete\",\"last_agent_message\":\"Packed.\"}}"
        );
        let plain = write_rollout(home.path(), "019a-zst", work.path(), &extra);
        let zst = compress(&plain);
        assert_eq!(read_meta(&zst).unwrap().id, "019a-zst");
        assert_eq!(
            first_user_message_contains(&zst, "ticket CSM-7"),
            Some(true)
        );
        assert_eq!(
            summarize(&zst).last_agent_message.as_deref(),
            Some("Packed.")
        );
        assert_eq!(find(home.path(), "019a-zst"), Some(zst.clone()));
        assert_eq!(
            last_agent_message(home.path(), "019a-zst").as_deref(),
            Some("Packed.")
        );
        let found = scan_new_matching(
            home.path(),
            start,
            work.path(),
            &HashSet::new(),
            Some("ticket CSM-7"),
        );
        assert_eq!(found.len(), 1);
        assert_eq!(
            latest_in(home.path(), work.path(), &HashSet::new())
                .unwrap()
                .meta
                .id,
            "019a-zst"
        );
        // Both at once (Codex writes the .jsonl back on resume): the plain
        // one wins.
        let again = write_rollout(home.path(), "019a-zst", work.path(), "");
        assert_eq!(find(home.path(), "019a-zst"), Some(again));
        // A garbage .zst is skipped, never a panic.
        let bad = zst.with_file_name("rollout-2026-11-25T07-00-00-019a-bad.jsonl.zst");
        fs::write(&bad, b"not zstd").unwrap();
        assert_eq!(read_meta(&bad), None);
        assert_eq!(summarize(&bad), Summary::default());
    }

    #[test]
    fn archived_sessions_are_located_but_not_found_in_sessions() {
        let home = tempfile::tempdir().unwrap();
        let archive = archived_dir(home.path());
        fs::create_dir_all(&archive).unwrap();
        let path = archive.join("rollout-2026-11-25T07-00-00-019a-arch.jsonl.zst");
        fs::write(&path, zstd::encode_all(&b""[..], 3).unwrap()).unwrap();
        assert_eq!(find(home.path(), "019a-arch"), None);
        assert_eq!(
            locate(home.path(), "019a-arch"),
            Some(Located {
                path,
                archived: true
            })
        );
        assert_eq!(
            locate(home.path(), "arch"),
            None,
            "a whole id, not a suffix"
        );
        assert_eq!(locate(home.path(), ""), None);
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(line in ".{0,300}") {
            let _ = parse_meta(&line);
            let mut s = Summary::default();
            summarize_line(&mut s, &line);
        }
    }
}
