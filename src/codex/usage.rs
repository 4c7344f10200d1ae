//! Token usage of a Codex thread, read from its rollout: each turn appends
//! an `event_msg` of type `token_count` whose `info.total_token_usage` is
//! cumulative for the thread, so the last one is the thread's total. Turns
//! and active time come from the `task_started` / `task_complete` pairs.
//!
//! The reader takes lines (of a plain or a decompressed rollout alike);
//! [`read`] opens a `.jsonl` or `.jsonl.zst` file through `rollout::open`.

use std::io::BufRead;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What a thread (or, summed, a ticket) used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Input tokens (cached ones included).
    pub input_tokens: u64,
    /// Input tokens served from the cache.
    pub cached_input_tokens: u64,
    /// Output tokens (reasoning included).
    pub output_tokens: u64,
    /// Output tokens spent reasoning.
    pub reasoning_output_tokens: u64,
    /// All tokens, as Codex counts them.
    pub total_tokens: u64,
    /// Completed turns.
    pub turns: u64,
    /// Time Codex spent working on turns, in milliseconds.
    pub active_ms: u64,
}

impl Usage {
    /// Adds another thread's usage.
    pub fn add(&mut self, other: &Usage) {
        self.input_tokens += other.input_tokens;
        self.cached_input_tokens += other.cached_input_tokens;
        self.output_tokens += other.output_tokens;
        self.reasoning_output_tokens += other.reasoning_output_tokens;
        self.total_tokens += other.total_tokens;
        self.turns += other.turns;
        self.active_ms += other.active_ms;
    }

    /// Whether nothing was used (or nothing is known).
    pub fn is_empty(&self) -> bool {
        *self == Usage::default()
    }

    /// One line for people, e.g. "12.3k tokens in (8.1k cached), 1.2k out
    /// (300 reasoning), 4 turns, active 12m".
    pub fn summary_line(&self) -> String {
        let turns = if self.turns == 1 { "turn" } else { "turns" };
        let mut line = format!(
            "{} tokens in ({} cached), {} out ({} reasoning), {} {turns}",
            short(self.input_tokens),
            short(self.cached_input_tokens),
            short(self.output_tokens),
            short(self.reasoning_output_tokens),
            self.turns,
        );
        if self.active_ms >= 1_000 {
            line.push_str(&format!(
                ", active {}",
                crate::evidence::human_duration(i64::try_from(self.active_ms).unwrap_or(i64::MAX))
            ));
        }
        line
    }
}

/// 1234 → "1.2k", 2_500_000 → "2.5M".
fn short(n: u64) -> String {
    match n {
        0..=999 => n.to_string(),
        1_000..=999_999 => format!("{:.1}k", n as f64 / 1_000.0),
        _ => format!("{:.1}M", n as f64 / 1_000_000.0),
    }
}

/// Reads usage from rollout lines; lines it cannot read are skipped.
pub fn from_lines<I, S>(lines: I) -> Usage
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut usage = Usage::default();
    let mut started: Option<jiff::Timestamp> = None;
    for line in lines {
        let line = line.as_ref();
        // Most lines are neither: skip them without parsing.
        let counts = line.contains("\"token_count\"");
        let task = line.contains("\"task_started\"") || line.contains("\"task_complete\"");
        if !counts && !task {
            continue;
        }
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if v["type"] != "event_msg" {
            continue;
        }
        let p = &v["payload"];
        let at = v["timestamp"]
            .as_str()
            .and_then(|t| t.parse::<jiff::Timestamp>().ok());
        match p["type"].as_str() {
            Some("token_count") => {
                let t = &p["info"]["total_token_usage"];
                if t.is_object() {
                    let n = |k: &str| t[k].as_u64().unwrap_or(0);
                    usage.input_tokens = n("input_tokens");
                    usage.cached_input_tokens = n("cached_input_tokens");
                    usage.output_tokens = n("output_tokens");
                    usage.reasoning_output_tokens = n("reasoning_output_tokens");
                    usage.total_tokens = n("total_tokens");
                }
            }
            Some("task_started") => started = at,
            Some("task_complete") => {
                usage.turns += 1;
                if let (Some(s), Some(e)) = (started.take(), at) {
                    let ms = e.as_millisecond() - s.as_millisecond();
                    usage.active_ms += u64::try_from(ms).unwrap_or(0);
                }
            }
            _ => {}
        }
    }
    usage
}

/// Reads usage from a reader of rollout lines.
pub fn from_reader(reader: impl BufRead) -> Usage {
    from_lines(reader.lines().map_while(Result::ok))
}

/// Reads the usage of a rollout, plain or compressed (`.jsonl.zst`);
/// `None` when it cannot be opened.
pub fn read(path: &Path) -> Option<Usage> {
    super::rollout::open(path, u64::MAX).ok().map(from_reader)
}

/// Whether a turn is running: the last `task_started` of these lines (the
/// end of a rollout) has no `task_complete` or `turn_aborted` after it.
pub fn turn_running<I, S>(lines: I) -> bool
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut running = false;
    for line in lines {
        let line = line.as_ref();
        if line.contains("\"task_started\"") {
            running = true;
        } else if line.contains("\"task_complete\"") || line.contains("\"turn_aborted\"") {
            running = false;
        }
    }
    running
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(input: u64, cached: u64, output: u64, reasoning: u64) -> String {
        serde_json::json!({"timestamp": "2026-12-03T18:34:51.270Z", "type": "event_msg",
            "payload": {"type": "token_count", "info": {
                "total_token_usage": {"input_tokens": input, "cached_input_tokens": cached,
                    "output_tokens": output, "reasoning_output_tokens": reasoning,
                    "total_tokens": input + output},
                "last_token_usage": {"input_tokens": 1}}}})
        .to_string()
    }

    fn task(kind: &str, at: &str) -> String {
        serde_json::json!({"timestamp": at, "type": "event_msg", "payload": {"type": kind}})
            .to_string()
    }

    #[test]
    fn the_last_totals_count_and_turns_are_timed() {
        let lines = [
            r#"{"type":"session_meta","payload":{"id":"x"}}"#.to_string(),
            task("task_started", "2026-12-03T10:00:00Z"),
            count(100, 40, 7, 3),
            task("task_complete", "2026-12-03T10:00:30Z"),
            "not json \"token_count\"".into(),
            task("task_started", "2026-12-03T11:00:00Z"),
            count(250, 80, 20, 6),
            task("task_complete", "2026-12-03T11:01:00Z"),
            task("task_started", "2026-12-03T12:00:00Z"),
        ];
        let u = from_lines(&lines);
        assert_eq!(
            u,
            Usage {
                input_tokens: 250,
                cached_input_tokens: 80,
                output_tokens: 20,
                reasoning_output_tokens: 6,
                total_tokens: 270,
                turns: 2,
                active_ms: 90_000,
            }
        );
        assert!(turn_running(&lines));
        assert!(!turn_running(&lines[..8]));
        assert_eq!(
            u.summary_line(),
            "250 tokens in (80 cached), 20 out (6 reasoning), 2 turns, active 1m"
        );
        let mut sum = u;
        sum.add(&u);
        assert_eq!(sum.input_tokens, 500);
        assert_eq!(from_lines(Vec::<String>::new()), Usage::default());
        assert_eq!(short(12_345), "12.3k");
        assert_eq!(short(2_500_000), "2.5M");
    }
}
