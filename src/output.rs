//! Output conventions shared by every command.
//!
//! - Results go to stdout; progress, warnings and errors to stderr.
//! - Colour only when the stream is a terminal and `NO_COLOR` is unset.
//! - A spinner on stderr for waits longer than ~200 ms, only on a terminal
//!   and never with `--quiet`.
//! - `-v`/`-vv`/`-vvv` raise the log level, both on stderr and in the
//!   rotating log file under the state folder.
//! - Text that came from a tracker is [`sanitize`]d before it is printed, so
//!   a ticket cannot move the cursor, retitle the window or write the
//!   clipboard through escape sequences.

use std::io::IsTerminal;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::writer::MakeWriterExt;
use tracing_subscriber::prelude::*;

/// How long a wait may last before a spinner appears.
const SPINNER_DELAY: Duration = Duration::from_millis(200);

/// How many daily log files are kept.
const LOG_FILES_KEPT: usize = 7;

/// Whether colour is wanted on a stream that is (or is not) a terminal.
pub fn color_enabled(is_terminal: bool, no_color: Option<&str>) -> bool {
    is_terminal && no_color.is_none_or(str::is_empty)
}

/// The output settings of one run of csm.
#[derive(Clone, Copy, Debug)]
pub struct Output {
    /// `--quiet`: no progress or informational lines on stderr.
    pub quiet: bool,
    /// Colour on stdout.
    pub color_stdout: bool,
    /// Colour on stderr.
    pub color_stderr: bool,
    /// stderr is a terminal (spinners are allowed).
    pub stderr_is_terminal: bool,
}

impl Output {
    /// Settings from the process's streams and environment.
    pub fn detect(quiet: bool) -> Output {
        let no_color = std::env::var("NO_COLOR").ok();
        let stderr_is_terminal = std::io::stderr().is_terminal();
        Output {
            quiet,
            color_stdout: color_enabled(std::io::stdout().is_terminal(), no_color.as_deref()),
            color_stderr: color_enabled(stderr_is_terminal, no_color.as_deref()),
            stderr_is_terminal,
        }
    }

    /// Prints an informational line on stderr unless quiet.
    pub fn info(&self, message: &str) {
        if !self.quiet {
            eprintln!("{}", sanitize(message));
        }
    }

    /// Prints a warning on stderr (even when quiet).
    pub fn warn(&self, message: &str) {
        let label = self.paint_stderr("warning:", "33");
        eprintln!("{label} {}", sanitize(message));
    }

    /// Wraps `text` in an SGR colour for stdout when colour is on.
    pub fn paint(&self, text: &str, sgr: &str) -> String {
        paint(self.color_stdout, text, sgr)
    }

    /// A plain-text table: columns padded to their widest cell (two spaces
    /// apart, no trailing blanks), the header in bold when colour is on.
    pub fn table<const N: usize>(&self, header: [&str; N], rows: &[[String; N]]) -> String {
        let mut widths = header.map(|h| h.chars().count());
        for row in rows {
            for (w, c) in widths.iter_mut().zip(row) {
                *w = (*w).max(c.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut out = String::new();
            for (c, w) in cells.iter().zip(widths) {
                out.push_str(c);
                out.push_str(&" ".repeat(w - c.chars().count() + 2));
            }
            out.trim_end().to_string() + "\n"
        };
        let mut out = self.paint(&line(&header.map(str::to_string)), "1");
        for row in rows {
            out.push_str(&line(row));
        }
        out
    }

    /// Wraps `text` in an SGR colour for stderr when colour is on.
    pub fn paint_stderr(&self, text: &str, sgr: &str) -> String {
        paint(self.color_stderr, text, sgr)
    }

    /// Starts a spinner that shows only if the wait lasts; it stops when
    /// the returned guard is dropped.
    pub fn spinner(&self, message: &str) -> Spinner {
        Spinner::start(
            message,
            self.stderr_is_terminal && !self.quiet,
            SPINNER_DELAY,
        )
    }
}

fn paint(on: bool, text: &str, sgr: &str) -> String {
    if on {
        format!("\u{1b}[{sgr}m{text}\u{1b}[0m")
    } else {
        text.to_string()
    }
}

/// A delayed spinner on stderr.
pub struct Spinner {
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Spinner {
    fn start(message: &str, enabled: bool, delay: Duration) -> Spinner {
        let done = Arc::new(AtomicBool::new(false));
        if !enabled {
            return Spinner { done, thread: None };
        }
        let flag = Arc::clone(&done);
        let message = sanitize(message);
        let thread = std::thread::spawn(move || {
            let step = Duration::from_millis(20);
            let mut waited = Duration::ZERO;
            while waited < delay {
                if flag.load(Ordering::Acquire) {
                    return;
                }
                std::thread::sleep(step);
                waited += step;
            }
            let bar = indicatif::ProgressBar::new_spinner().with_message(message);
            bar.enable_steady_tick(Duration::from_millis(80));
            while !flag.load(Ordering::Acquire) {
                std::thread::sleep(step);
            }
            bar.finish_and_clear();
        });
        Spinner {
            done,
            thread: Some(thread),
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.done.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Pretty JSON for printing: the same document as `serde_json` writes,
/// with the invisible characters JSON need not escape (bidi controls,
/// C1 controls, line and paragraph separators) written as `\uXXXX`, so the
/// data stays whole while a terminal shows nothing it could misdraw.
pub fn json<T: ?Sized + serde::Serialize>(value: &T) -> serde_json::Result<String> {
    let text = serde_json::to_string_pretty(value)?;
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        // Outside strings JSON has only ASCII, so these are always inside
        // one, where an escape means the same character.
        if matches!(c, '\u{80}'..='\u{9f}' | '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}'
            | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        {
            out.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// Removes what could take over a terminal from text that came from
/// outside (tickets, comments, Codex output shown in csm's own lines):
/// escape sequences (CSI, OSC, DCS, ...), other C0/C1 controls, DEL, and
/// Unicode bidi overrides. Newlines and tabs stay.
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' | '\t' => out.push(c),
            '\u{1b}' => skip_escape(&mut chars),
            // C1 CSI/OSC/DCS/SOS/PM/APC introduce sequences like ESC does.
            '\u{9b}' | '\u{9d}' | '\u{90}' | '\u{98}' | '\u{9e}' | '\u{9f}' => {
                skip_sequence_body(&mut chars, c == '\u{9b}')
            }
            c if c.is_control() => {}
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' => {}
            c => out.push(c),
        }
    }
    out
}

fn skip_escape(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) {
    match chars.next() {
        Some('[') => skip_sequence_body(chars, true),
        Some(']' | 'P' | 'X' | '^' | '_') => skip_sequence_body(chars, false),
        // Two-character escapes (ESC c, ESC 7, ...): the second is dropped.
        _ => {}
    }
}

/// Skips a CSI body (up to a final byte 0x40..=0x7e) or a string body (up
/// to BEL or ST).
fn skip_sequence_body(chars: &mut std::iter::Peekable<std::str::Chars<'_>>, csi: bool) {
    while let Some(c) = chars.next() {
        if csi {
            if ('\u{40}'..='\u{7e}').contains(&c) {
                return;
            }
        } else if c == '\u{7}' || c == '\u{9c}' {
            return;
        } else if c == '\u{1b}' {
            if chars.peek() == Some(&'\\') {
                chars.next();
            }
            return;
        }
    }
}

/// Sets up logging: stderr at the level `-v` asks for (warnings by
/// default), and a daily-rotated file in `log_dir` at least at `info`.
/// A log folder that cannot be made only loses the file. With `stderr`
/// false (the dashboard owns the terminal, and a line written under it
/// would be drawn over), only the file is written.
pub fn init_logging(verbosity: u8, quiet: bool, log_dir: Option<&Path>, stderr: bool) {
    let level = match (quiet, verbosity) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, 2) => "debug",
        _ => "trace",
    };
    let file_level = match verbosity {
        0 | 1 => "info",
        2 => "debug",
        _ => "trace",
    };
    // Only csm's own events: dependencies' debug output could carry request
    // details csm does not control.
    let filter = |l: &str| EnvFilter::new(format!("warn,csm={l}"));
    let stderr_layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr.with_max_level(tracing::Level::TRACE))
        .with_ansi(color_enabled(
            std::io::stderr().is_terminal(),
            std::env::var("NO_COLOR").ok().as_deref(),
        ))
        .with_target(false)
        .without_time()
        .with_filter(if stderr {
            filter(level)
        } else {
            EnvFilter::new("off")
        });
    let file_layer = log_dir.and_then(|dir| {
        crate::paths::create_private_dir(dir).ok()?;
        let appender = tracing_appender::rolling::Builder::new()
            .rotation(tracing_appender::rolling::Rotation::DAILY)
            .filename_prefix("csm")
            .filename_suffix("log")
            .max_log_files(LOG_FILES_KEPT)
            .build(dir)
            .ok()?;
        // The appender has opened today's file: the user's only.
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let _ = crate::paths::make_private_file(&entry.path());
        }
        Some(
            tracing_subscriber::fmt::layer()
                .with_writer(appender)
                .with_ansi(false)
                .with_filter(filter(file_level)),
        )
    });
    let _ = tracing_subscriber::registry()
        .with(stderr_layer)
        .with(file_layer)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn color_rules() {
        assert!(color_enabled(true, None));
        assert!(color_enabled(true, Some("")));
        assert!(!color_enabled(true, Some("1")));
        assert!(!color_enabled(false, None));
    }

    #[test]
    fn json_escapes_what_a_terminal_would_misdraw() {
        let v = serde_json::json!({"s": "a\u{202e}b\u{1b}[2J\u{9b}c"});
        let text = json(&v).unwrap();
        assert!(text.contains(r"a\u202eb\u001b[2J\u009bc"), "{text}");
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn sanitize_strips_sequences_and_controls() {
        let hostile = "ok\u{1b}]52;c;SGVsbG8=\u{7}\u{1b}]0;title\u{1b}\\\u{1b}[2J\u{1b}[10;10H\
                       \u{202e}evil\u{0}\u{7f}\u{9b}31m\tend\nnext";
        assert_eq!(sanitize(hostile), "okevil\tend\nnext");
        assert_eq!(sanitize("plain é ✓"), "plain é ✓");
        assert_eq!(sanitize("\u{1b}"), "");
        assert_eq!(sanitize("\u{1b}[31"), "");
    }

    #[test]
    fn spinner_disabled_does_not_spawn() {
        let s = Spinner::start("x", false, SPINNER_DELAY);
        assert!(s.thread.is_none());
    }
}
