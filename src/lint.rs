//! The readiness lint: *if a ticket can't be tested, it isn't ready.*
//!
//! [`lint`] is a pure function over a ticket's summary and acceptance
//! criteria. It returns a [`Verdict`]: the ticket is ready when there are no
//! findings. It flags
//!
//! - a ticket without criteria, an empty or over-long summary, and a summary
//!   that joins two deliverables with "and" (two tickets in one);
//! - criteria that cannot be checked: vague words ("improve", "clean up",
//!   "optimize", "handle properly", "fast", "user-friendly") with no
//!   measurable target, criteria that name no observable outcome ("works",
//!   "is implemented") or describe an activity instead of a result
//!   ("investigate ..."), loopholes ("if possible"), open-ended lists
//!   ("etc."), unfinished ones ("TBD") and questions;
//! - duplicates (the same words in another order count as the same
//!   criterion).
//!
//! It is a heuristic over words, not a parser of English: text in code
//! spans and double quotes is taken as a literal (a command, an expected
//! output) and never as a vague word, and a number or an exact expected
//! output counts as a measurable target. `csm start` refuses a ticket with
//! findings unless `--force`; `csm draft-ticket` feeds them back to Codex.

use std::borrow::Cow;
use std::fmt;
use std::sync::OnceLock;

use serde::Serialize;

/// The longest summary that passes.
pub const MAX_SUMMARY_CHARS: usize = 100;

/// What the lint says about a ticket.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Everything that keeps the ticket from being ready, summary first,
    /// then the criteria in order.
    pub findings: Vec<Finding>,
}

impl Verdict {
    /// Whether the ticket is ready to be worked on.
    pub fn is_ready(&self) -> bool {
        self.findings.is_empty()
    }

    /// The findings about criteria (the ones a rewrite of the criteria can
    /// fix).
    pub fn criteria_findings(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| !matches!(f.target, Target::Summary))
    }
}

/// One problem, and where it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What it is about.
    #[serde(flatten)]
    pub target: Target,
    /// Why it is a problem.
    #[serde(flatten)]
    pub reason: Reason,
}

/// What a finding is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "target", content = "index", rename_all = "snake_case")]
pub enum Target {
    /// The summary.
    Summary,
    /// The criteria as a whole.
    Criteria,
    /// One criterion (0-based; shown 1-based).
    Criterion(usize),
}

/// Why a summary or criterion is not ready.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Reason {
    /// The ticket has no acceptance criteria.
    NoCriteria,
    /// The summary is empty.
    EmptySummary,
    /// The summary is longer than [`MAX_SUMMARY_CHARS`].
    LongSummary {
        /// Its length in characters.
        chars: usize,
    },
    /// The summary joins two deliverables ("Fix X and add Y").
    TwoDeliverables {
        /// The first.
        first: String,
        /// The second.
        second: String,
    },
    /// The criterion is blank.
    Empty,
    /// The criterion is a placeholder ("TBD", "TODO").
    Unfinished {
        /// The marker found.
        marker: String,
    },
    /// The criterion is a question.
    Question,
    /// The criterion says the same as an earlier one.
    Duplicate {
        /// The earlier criterion (0-based).
        of: usize,
    },
    /// The criterion describes work to do, not a result.
    Activity {
        /// The activity ("investigate").
        verb: String,
    },
    /// The criterion names nothing anyone could observe.
    NoOutcome,
    /// A vague word without a measurable target.
    Vague {
        /// The word or phrase.
        term: String,
    },
    /// An escape clause ("if possible").
    Loophole {
        /// The phrase.
        phrase: String,
    },
    /// An open-ended list ("etc.").
    OpenEnded {
        /// The phrase.
        phrase: String,
    },
}

impl Reason {
    /// A stable name for scripts and tests.
    pub fn kind(&self) -> &'static str {
        match self {
            Reason::NoCriteria => "no_criteria",
            Reason::EmptySummary => "empty_summary",
            Reason::LongSummary { .. } => "long_summary",
            Reason::TwoDeliverables { .. } => "two_deliverables",
            Reason::Empty => "empty",
            Reason::Unfinished { .. } => "unfinished",
            Reason::Question => "question",
            Reason::Duplicate { .. } => "duplicate",
            Reason::Activity { .. } => "activity",
            Reason::NoOutcome => "no_outcome",
            Reason::Vague { .. } => "vague",
            Reason::Loophole { .. } => "loophole",
            Reason::OpenEnded { .. } => "open_ended",
        }
    }
}

impl Reason {
    /// What is wrong (about a criterion: without naming it).
    pub fn problem(&self) -> String {
        match self {
            Reason::NoCriteria => "it has no acceptance criteria".into(),
            Reason::EmptySummary => "the summary is empty".into(),
            Reason::LongSummary { chars } => {
                format!("the summary has {chars} characters (at most {MAX_SUMMARY_CHARS})")
            }
            Reason::TwoDeliverables { first, second } => {
                format!("the summary joins two deliverables (\"{first}\" and \"{second}\")")
            }
            Reason::Empty => "is empty".into(),
            Reason::Unfinished { marker } => format!("is unfinished (\"{marker}\")"),
            Reason::Question => "is a question".into(),
            Reason::Duplicate { of } => format!("repeats criterion {}", of + 1),
            Reason::Activity { verb } => {
                format!("describes an activity (\"{verb}\"), not a result")
            }
            Reason::NoOutcome => "names no observable outcome".into(),
            Reason::Vague { term } => {
                format!("uses \"{term}\" without a measurable target")
            }
            Reason::Loophole { phrase } => format!("leaves a loophole (\"{phrase}\")"),
            Reason::OpenEnded { phrase } => format!("is open-ended (\"{phrase}\")"),
        }
    }

    /// What to do about it.
    pub fn fix(&self) -> &'static str {
        match self {
            Reason::NoCriteria => "add criteria a test or a person can check",
            Reason::EmptySummary => "name the one thing this ticket delivers",
            Reason::LongSummary { .. } => "keep it to one responsibility",
            Reason::TwoDeliverables { .. } => "split it into two tickets",
            Reason::Empty | Reason::Unfinished { .. } => "write the criterion or remove it",
            Reason::Question => "answer it and state the expected result",
            Reason::Duplicate { .. } => "remove one of them",
            Reason::Activity { .. } => "state what is true when it is done",
            Reason::NoOutcome => {
                "say what a test or a person sees (output, exit code, file, response)"
            }
            Reason::Vague { .. } => "add a number or the exact expected result",
            Reason::Loophole { .. } => "say what must happen",
            Reason::OpenEnded { .. } => "list every case to check",
        }
    }
}

impl fmt::Display for Reason {
    /// What is wrong and how to fix it, in one line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.problem(), self.fix())
    }
}

impl Finding {
    /// What is wrong, naming the criterion (quoted from `criteria`, the
    /// criteria the verdict was made for).
    pub fn problem(&self, criteria: &[String]) -> String {
        match self.target {
            Target::Summary | Target::Criteria => self.reason.problem(),
            Target::Criterion(i) => {
                let text = criteria.get(i).map(|c| quote(c)).unwrap_or_default();
                format!("criterion {} {text}{}", i + 1, self.reason.problem())
            }
        }
    }

    /// One line for a person: where, what and how to fix it.
    pub fn describe(&self, criteria: &[String]) -> String {
        format!("{}: {}", self.problem(criteria), self.reason.fix())
    }
}

/// `"text" ` for a criterion, shortened to about 60 characters.
fn quote(text: &str) -> String {
    let one = crate::tracker::markdown::one_line(text);
    if one.is_empty() {
        return String::new();
    }
    let short: String = one.chars().take(60).collect();
    let ellipsis = if one.chars().count() > 60 { "…" } else { "" };
    format!("\"{short}{ellipsis}\" ")
}

/// Lints a ticket's summary and criteria.
pub fn lint(summary: &str, criteria: &[String]) -> Verdict {
    let mut findings = Vec::new();
    for reason in summary_reasons(summary) {
        findings.push(Finding {
            target: Target::Summary,
            reason,
        });
    }
    if criteria.iter().all(|c| c.trim().is_empty()) {
        findings.push(Finding {
            target: Target::Criteria,
            reason: Reason::NoCriteria,
        });
        return Verdict { findings };
    }
    let all: Vec<Words> = criteria.iter().map(|c| Words::of(c)).collect();
    // Each signature with the first criterion that had it.
    let mut seen: FastMap<Vec<Cow<str>>, usize> =
        FastMap::with_capacity_and_hasher(criteria.len(), Default::default());
    for (i, (criterion, words)) in criteria.iter().zip(&all).enumerate() {
        let key = words.signature();
        let duplicate = if key.is_empty() {
            None
        } else {
            seen.get(&key).copied()
        };
        let reason = match duplicate {
            Some(of) => Some(Reason::Duplicate { of }),
            None => {
                seen.entry(key).or_insert(i);
                criterion_reason(criterion, words)
            }
        };
        if let Some(reason) = reason {
            findings.push(Finding {
                target: Target::Criterion(i),
                reason,
            });
        }
    }
    Verdict { findings }
}

/// Lints a ticket.
pub fn lint_ticket(ticket: &crate::tracker::Ticket) -> Verdict {
    lint(&ticket.summary, &ticket.acceptance_criteria)
}

fn summary_reasons(summary: &str) -> Vec<Reason> {
    let one = crate::tracker::markdown::one_line(summary);
    if one.is_empty() {
        return vec![Reason::EmptySummary];
    }
    let mut out = Vec::new();
    let chars = one.chars().count();
    if chars > MAX_SUMMARY_CHARS {
        out.push(Reason::LongSummary { chars });
    }
    if let Some((first, second)) = two_deliverables(&one) {
        out.push(Reason::TwoDeliverables { first, second });
    }
    out
}

/// "Fix the crash and add a flag": two parts, each an action verb with an
/// object. "Read and write the config" is one deliverable (the first part
/// is a bare verb), and so is "Add import and export".
fn two_deliverables(summary: &str) -> Option<(String, String)> {
    let (prose, _) = strip_literals(summary);
    // ASCII lower case keeps byte offsets the same as in `prose`.
    let lower = prose.to_ascii_lowercase();
    for sep in [
        " and also ",
        ", and ",
        " as well as ",
        " and ",
        " & ",
        " + ",
        "; ",
        " plus ",
    ] {
        let mut from = 0;
        while let Some(pos) = lower[from..].find(sep) {
            let at = from + pos;
            let left = prose[..at].trim().trim_end_matches(',');
            let right = prose[at + sep.len()..].trim();
            let lw = words(left);
            let mut rw = words(right);
            if rw.first().is_some_and(|w| w == "also" || w == "then") {
                rw.remove(0);
            }
            // The left part may itself follow an earlier separator.
            let left_start = lw
                .iter()
                .rposition(|w| ACTION_VERBS.contains(&w.as_str()))
                .unwrap_or(0);
            let lw = &lw[left_start..];
            if lw.len() >= 2
                && rw.len() >= 2
                && ACTION_VERBS.contains(&lw[0].as_str())
                && ACTION_VERBS.contains(&rw[0].as_str())
            {
                return Some((left.to_string(), right.to_string()));
            }
            from = at + sep.len();
        }
    }
    None
}

fn criterion_reason(criterion: &str, w: &Words) -> Option<Reason> {
    let text = criterion.trim();
    if text.is_empty() {
        return Some(Reason::Empty);
    }
    if let Some(marker) = w
        .find(List::Unfinished)
        .map(|m| m.to_uppercase())
        .or_else(|| text.contains("???").then(|| "???".to_string()))
    {
        return Some(Reason::Unfinished { marker });
    }
    if w.prose.trim_end().ends_with('?') {
        return Some(Reason::Question);
    }
    if let Some(verb) = w.activity() {
        return Some(Reason::Activity { verb });
    }
    if w.words.len() < 2 && !w.has_literal() {
        return Some(Reason::NoOutcome);
    }
    if let Some(phrase) = w.find(List::Loopholes) {
        return Some(Reason::Loophole {
            phrase: phrase.to_string(),
        });
    }
    if let Some(phrase) = w
        .find(List::OpenEnded)
        .map(|p| if p == "etc" { "etc." } else { p }.to_string())
        .or_else(|| (w.prose.contains("...") || w.prose.contains('…')).then(|| "…".to_string()))
    {
        return Some(Reason::OpenEnded { phrase });
    }
    if !w.has_observable() && w.find(List::Generic).is_some() {
        return Some(Reason::NoOutcome);
    }
    if !w.has_number()
        && !w.states_exact_result()
        && let Some(term) = w.find(List::Quality)
    {
        return Some(Reason::Vague {
            term: term.to_string(),
        });
    }
    if !w.has_number()
        && let Some(term) = w.find(List::Performance)
    {
        return Some(Reason::Vague {
            term: term.to_string(),
        });
    }
    None
}

/// Stands for a literal among the tokens of a criterion.
const LITERAL: &str = "\u{e000}";

/// A criterion's prose, split into lower-case words, with its literals
/// (code spans, double-quoted text) set aside.
struct Words {
    prose: String,
    /// The words in lower case, one after the other.
    text: String,
    /// The words (without the marks of the literals).
    words: Vec<Word>,
    /// Where the literals were: for each [`LITERAL`] mark among the
    /// words, how many words came before it.
    marks: Vec<usize>,
    literals: Vec<String>,
    /// For each [`List`], the index of the first of its phrases (in the
    /// list's order) that the words hold.
    first: [Option<usize>; List::ALL.len()],
}

/// One of a criterion's [`Words`].
struct Word {
    /// Where it is in [`Words::text`].
    span: std::ops::Range<usize>,
    /// Its entry in the [`lexicon`], if it has one.
    entry: Option<&'static Entry>,
}

impl Words {
    fn of(text: &str) -> Words {
        let (prose, literals) = strip_literals(text);
        let lexicon = lexicon();
        let mut lower = String::with_capacity(prose.len());
        let mut words = Vec::new();
        let mut marks = Vec::new();
        for token in tokens(&prose) {
            if token == LITERAL {
                marks.push(words.len());
                continue;
            }
            let start = lower.len();
            push_lowercase(&mut lower, token);
            words.push(Word {
                span: start..lower.len(),
                entry: lexicon.get(&lower[start..]),
            });
        }
        let mut out = Words {
            prose,
            text: lower,
            words,
            marks,
            literals,
            first: [None; List::ALL.len()],
        };
        out.first = first_phrases(&out);
        out
    }

    /// The `i`th word.
    fn word(&self, i: usize) -> &str {
        &self.text[self.words[i].span.clone()]
    }

    /// The words, in order.
    fn iter(&self) -> impl Iterator<Item = &str> {
        self.words.iter().map(|w| &self.text[w.span.clone()])
    }

    /// The words' entries in the [`lexicon`], in order.
    fn entries(&self) -> impl Iterator<Item = &'static Entry> {
        self.words.iter().filter_map(|w| w.entry)
    }

    /// The first phrase of `list`, in the list's order, that the words
    /// hold.
    fn find(&self, list: List) -> Option<&'static str> {
        self.first[list as usize].map(|i| list.phrases()[i])
    }

    fn has_literal(&self) -> bool {
        !self.literals.is_empty()
    }

    /// Whether a word is one of [`OBSERVABLE`].
    fn has_observable(&self) -> bool {
        self.entries().any(|e| e.observable)
    }

    /// A number in the prose: digits (`20`, `1,000`, `50%`, `200ms`) or a
    /// number word.
    fn has_number(&self) -> bool {
        self.iter()
            .any(|w| w.starts_with(|c: char| c.is_ascii_digit()))
            || self.entries().any(|e| e.number)
    }

    /// An observable verb followed by a literal: "prints `error: x`".
    fn states_exact_result(&self) -> bool {
        self.words
            .iter()
            .position(|w| w.entry.is_some_and(|e| e.observable))
            .is_some_and(|at| self.marks.iter().any(|&mark| mark > at))
    }

    /// The activity a criterion starts with, if any ("investigate",
    /// "look into").
    fn activity(&self) -> Option<String> {
        let at = self.iter().position(|x| !LEAD_INS.contains(&x))?;
        let first = self.word(at);
        let next = (at + 1 < self.words.len()).then(|| self.word(at + 1));
        ACTIVITIES
            .iter()
            .find(|(v, n)| first == *v && (n.is_empty() || next == Some(n)))
            .map(|(v, n)| {
                if n.is_empty() {
                    v.to_string()
                } else {
                    format!("{v} {n}")
                }
            })
    }

    /// Whether the words from the `at`th on start with `phrase` (one or
    /// more words).
    fn holds_at(&self, at: usize, phrase: &str) -> bool {
        let mut rest = self.iter().skip(at);
        phrase.split(' ').all(|p| rest.next() == Some(p))
    }

    /// What identifies the criterion for duplicate detection: its content
    /// words, lightly stemmed, in any order, and its literals (sorted and
    /// deduplicated: a set).
    fn signature(&self) -> Vec<Cow<'_, str>> {
        let mut key: Vec<Cow<str>> = self
            .iter()
            .zip(&self.words)
            .filter(|(_, w)| !w.entry.is_some_and(|e| e.stop))
            .map(|(w, _)| Cow::Borrowed(stem(w)))
            .chain(
                self.literals
                    .iter()
                    .map(|l| Cow::Owned(format!("`{}`", l.to_lowercase()))),
            )
            .collect();
        key.sort_unstable();
        key.dedup();
        key
    }
}

/// For each [`List`], the index of the first of its phrases (in the
/// list's order) that `words` hold in a row. Only the phrases starting
/// with one of the words (their entries in the [`lexicon`]) are tried.
fn first_phrases(words: &Words) -> [Option<usize>; List::ALL.len()] {
    let mut first = [None; List::ALL.len()];
    for (at, word) in words.words.iter().enumerate() {
        let starts = word.entry.map_or(&[][..], |e| e.starts.as_slice());
        for &(list, i) in starts {
            let found = &mut first[list as usize];
            if found.is_none_or(|j| i < j) && words.holds_at(at, list.phrases()[i]) {
                *found = Some(i);
            }
        }
    }
    first
}

/// Appends `word` in lower case, as [`str::to_lowercase`] writes it
/// (without allocating for the usual, ASCII word).
fn push_lowercase(out: &mut String, word: &str) {
    if word.is_ascii() {
        out.extend(word.bytes().map(|b| char::from(b.to_ascii_lowercase())));
    } else {
        out.push_str(&word.to_lowercase());
    }
}

fn stem(word: &str) -> &str {
    if word.len() > 3 && word.ends_with('s') && !word.ends_with("ss") {
        &word[..word.len() - 1]
    } else {
        word
    }
}

/// Text without its code spans and double-quoted parts (replaced by a
/// space), and those parts.
fn strip_literals(text: &str) -> (String, Vec<String>) {
    let mut prose = String::with_capacity(text.len());
    let mut literals = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let close: Option<char> = match c {
            '`' => {
                // A run of backticks closes with the same run.
                let mut run = 1;
                while chars.peek().is_some_and(|(_, c)| *c == '`') {
                    chars.next();
                    run += 1;
                }
                let fence = "`".repeat(run);
                let start = i + run;
                if let Some(end) = text[start..].find(&fence) {
                    literals.push(text[start..start + end].trim().to_string());
                    prose.push_str(" \u{e000} ");
                    let stop = start + end + run;
                    while chars.peek().is_some_and(|(j, _)| *j < stop) {
                        chars.next();
                    }
                    continue;
                }
                None
            }
            '"' => Some('"'),
            '“' => Some('”'),
            _ => None,
        };
        if let Some(close) = close {
            let start = i + c.len_utf8();
            if let Some(end) = text[start..].find(close) {
                literals.push(text[start..start + end].to_string());
                prose.push_str(" \u{e000} ");
                let stop = start + end + close.len_utf8();
                while chars.peek().is_some_and(|(j, _)| *j < stop) {
                    chars.next();
                }
                continue;
            }
        }
        prose.push(c);
    }
    (prose, literals)
}

/// Lower-case words (letters, digits, and `-`, `'`, `.`, `%` inside a
/// word) and literal marks.
fn words(text: &str) -> Vec<String> {
    tokens(text).map(str::to_lowercase).collect()
}

/// The words of `text` (see [`words`]), as they are written.
fn tokens(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphanumeric() || matches!(c, '-' | '\'' | '.' | '%' | '\u{e000}')))
        .map(|w| w.trim_matches(|c: char| c == '-' || c == '\'' || c == '.'))
        .filter(|w| !w.is_empty())
}

/// Words that may come before the verb of a criterion.
const LEAD_INS: &[&str] = &[
    "we",
    "i",
    "you",
    "the",
    "team",
    "should",
    "must",
    "shall",
    "will",
    "to",
    "developers",
    "developer",
    "dev",
    "devs",
];

/// Activities at the start of a criterion, with the word that must follow
/// (or "").
const ACTIVITIES: &[(&str, &str)] = &[
    ("investigate", ""),
    ("research", ""),
    ("explore", ""),
    ("consider", ""),
    ("discuss", ""),
    ("evaluate", ""),
    ("analyze", ""),
    ("analyse", ""),
    ("study", ""),
    ("brainstorm", ""),
    ("understand", ""),
    ("learn", ""),
    ("plan", ""),
    ("refactor", ""),
    ("review", ""),
    ("try", ""),
    ("attempt", ""),
    ("decide", ""),
    ("look", "into"),
    ("look", "at"),
    ("think", "about"),
    ("work", "on"),
    ("figure", "out"),
];

/// The lists of phrases a criterion is checked against.
#[derive(Clone, Copy)]
enum List {
    Unfinished,
    Loopholes,
    OpenEnded,
    Generic,
    Quality,
    Performance,
}

impl List {
    const ALL: [List; 6] = [
        List::Unfinished,
        List::Loopholes,
        List::OpenEnded,
        List::Generic,
        List::Quality,
        List::Performance,
    ];

    fn phrases(self) -> &'static [&'static str] {
        match self {
            List::Unfinished => UNFINISHED,
            List::Loopholes => LOOPHOLES,
            List::OpenEnded => OPEN_ENDED,
            List::Generic => GENERIC,
            List::Quality => QUALITY,
            List::Performance => PERFORMANCE,
        }
    }
}

/// What the lint knows about a word (see [`lexicon`]).
#[derive(Default)]
struct Entry {
    /// One of [`STOP_WORDS`].
    stop: bool,
    /// One of [`OBSERVABLE`].
    observable: bool,
    /// One of [`NUMBER_WORDS`].
    number: bool,
    /// The phrases that start with it: their [`List`] and index there.
    starts: Vec<(List, usize)>,
}

/// Every word of the lint's lists, built once: a criterion's words are
/// looked up here once each, instead of in every list.
fn lexicon() -> &'static FastMap<&'static str, Entry> {
    static LEXICON: OnceLock<FastMap<&'static str, Entry>> = OnceLock::new();
    LEXICON.get_or_init(|| {
        let words = STOP_WORDS.len() + OBSERVABLE.len() + NUMBER_WORDS.len();
        let phrases: usize = List::ALL.iter().map(|l| l.phrases().len()).sum();
        let mut lexicon: FastMap<&'static str, Entry> =
            FastMap::with_capacity_and_hasher(words + phrases, Default::default());
        for &word in STOP_WORDS {
            lexicon.entry(word).or_default().stop = true;
        }
        for &word in OBSERVABLE {
            lexicon.entry(word).or_default().observable = true;
        }
        for &word in NUMBER_WORDS {
            lexicon.entry(word).or_default().number = true;
        }
        for list in List::ALL {
            for (i, &phrase) in list.phrases().iter().enumerate() {
                let first = phrase.split(' ').next().unwrap_or(phrase);
                lexicon.entry(first).or_default().starts.push((list, i));
            }
        }
        lexicon
    })
}

/// A hash map with rustc's Fx hash, much faster than the standard one
/// for the lint's short keys: words, and the signatures of one ticket's
/// criteria (nothing anyone could flood the lint with).
type FastMap<K, V> = rustc_hash::FxHashMap<K, V>;

/// Placeholders.
const UNFINISHED: &[&str] = &[
    "tbd",
    "tbc",
    "todo",
    "fixme",
    "to be defined",
    "to be determined",
    "to be decided",
    "to be confirmed",
];

/// Escape clauses.
const LOOPHOLES: &[&str] = &[
    "if possible",
    "where possible",
    "when possible",
    "as far as possible",
    "as much as possible",
    "if needed",
    "as needed",
    "when needed",
    "where needed",
    "if necessary",
    "where necessary",
    "as necessary",
    "if appropriate",
    "where appropriate",
    "as appropriate",
    "if applicable",
    "where applicable",
    "if feasible",
    "ideally",
    "preferably",
    "try to",
    "tries to",
    "attempt to",
    "attempts to",
];

/// Open-ended lists.
const OPEN_ENDED: &[&str] = &[
    "etc",
    "and so on",
    "and so forth",
    "and more",
    "among others",
    "not limited to",
    "and the like",
];

/// Verbs that name something a test or a person can observe.
const OBSERVABLE: &[&str] = &[
    "print",
    "prints",
    "printed",
    "printing",
    "show",
    "shows",
    "shown",
    "showing",
    "display",
    "displays",
    "displayed",
    "displaying",
    "return",
    "returns",
    "returned",
    "returning",
    "exit",
    "exits",
    "exited",
    "exiting",
    "write",
    "writes",
    "written",
    "writing",
    "create",
    "creates",
    "created",
    "creating",
    "contain",
    "contains",
    "list",
    "lists",
    "listed",
    "listing",
    "outputs",
    "respond",
    "responds",
    "answers",
    "fail",
    "fails",
    "failing",
    "reject",
    "rejects",
    "rejected",
    "rejecting",
    "refuse",
    "refuses",
    "refused",
    "refusing",
    "accept",
    "accepts",
    "accepted",
    "send",
    "sends",
    "sent",
    "sending",
    "store",
    "stores",
    "stored",
    "storing",
    "save",
    "saves",
    "saved",
    "saving",
    "log",
    "logs",
    "logged",
    "logging",
    "emit",
    "emits",
    "emitting",
    "render",
    "renders",
    "rendered",
    "rendering",
    "equal",
    "equals",
    "match",
    "matches",
    "appear",
    "appears",
    "open",
    "opens",
    "redirect",
    "redirects",
    "raise",
    "raises",
    "report",
    "reports",
    "reporting",
    "include",
    "includes",
    "produce",
    "produces",
    "producing",
    "pass",
    "passes",
    "delete",
    "deletes",
    "deleted",
    "deleting",
    "remove",
    "removes",
    "removed",
    "removing",
    "move",
    "moves",
    "moved",
    "moving",
    "finish",
    "finishes",
    "completes",
    "succeed",
    "succeeds",
    "take",
    "takes",
    "start",
    "starts",
    "stop",
    "stops",
    "run",
    "runs",
    "call",
    "calls",
    "set",
    "sets",
    "update",
    "updates",
    "updated",
    "change",
    "changes",
    "changed",
    "keep",
    "keeps",
    "kept",
    "leave",
    "leaves",
    "ask",
    "asks",
    "asking",
    "prompt",
    "prompts",
    "prompting",
    "warn",
    "warns",
    "warning",
    "count",
    "counts",
    "sort",
    "sorts",
    "sorted",
    "read",
    "reads",
    "load",
    "loads",
    "retry",
    "retries",
    "retrying",
    "skip",
    "skips",
    "ignore",
    "ignores",
    "block",
    "blocks",
    "lock",
    "locks",
    "names",
    "posts",
    "has",
    "holds",
];

/// Words that claim success without saying what is seen.
const GENERIC: &[&str] = &[
    "works",
    "work",
    "working",
    "implemented",
    "done",
    "fixed",
    "complete",
    "completed",
    "finished",
    "supported",
    "resolved",
    "addressed",
    "in place",
    "functions",
    "functional",
    "functionality",
    "no bugs",
    "bug-free",
    "bug free",
];

/// Speed, size and amount words: they need a number.
const PERFORMANCE: &[&str] = &[
    "speed up",
    "speeds up",
    "low latency",
    "high performance",
    "as soon as possible",
    "in a timely manner",
    "fast",
    "faster",
    "fastest",
    "quick",
    "quicker",
    "quickly",
    "slow",
    "slower",
    "performant",
    "performance",
    "efficient",
    "efficiently",
    "efficiency",
    "optimize",
    "optimizes",
    "optimized",
    "optimise",
    "optimises",
    "optimised",
    "optimization",
    "optimisation",
    "scalable",
    "scales",
    "responsive",
    "lightweight",
    "minimal",
    "minimize",
    "minimise",
    "maximize",
    "maximise",
    "reduce",
    "reduces",
    "reduced",
    "increase",
    "increases",
    "increased",
    "instantly",
    "timely",
    "asap",
];

/// Quality words: they need a number or an exact expected result.
const QUALITY: &[&str] = &[
    "handle properly",
    "handled properly",
    "handles properly",
    "clean up",
    "cleans up",
    "cleaned up",
    "tidy up",
    "as expected",
    "user friendly",
    "well documented",
    "well tested",
    "best practice",
    "best practices",
    "user experience",
    "looks good",
    "look good",
    "improve",
    "improves",
    "improved",
    "improvement",
    "improvements",
    "enhance",
    "enhances",
    "enhanced",
    "enhancement",
    "cleanup",
    "polish",
    "polished",
    "refactor",
    "refactored",
    "better",
    "nicer",
    "nice",
    "nicely",
    "good",
    "great",
    "proper",
    "properly",
    "correct",
    "correctly",
    "appropriate",
    "appropriately",
    "gracefully",
    "graceful",
    "user-friendly",
    "intuitive",
    "intuitively",
    "easy",
    "easier",
    "easily",
    "simple",
    "simpler",
    "simplify",
    "simplified",
    "robust",
    "robustly",
    "seamless",
    "seamlessly",
    "smooth",
    "smoothly",
    "reasonable",
    "reasonably",
    "sensible",
    "adequate",
    "adequately",
    "sufficient",
    "sufficiently",
    "handle",
    "handles",
    "handled",
    "handling",
    "modernize",
    "modernise",
    "readable",
    "maintainable",
    "well-documented",
    "well-tested",
    "flexible",
    "reliable",
    "reliably",
    "secure",
    "securely",
    "happy",
    "satisfied",
    "pleasant",
    "beautiful",
    "ux",
];

/// Action verbs that start a deliverable in a summary.
const ACTION_VERBS: &[&str] = &[
    "add",
    "allow",
    "build",
    "bump",
    "cache",
    "change",
    "check",
    "clean",
    "convert",
    "create",
    "delete",
    "deprecate",
    "disable",
    "document",
    "drop",
    "enable",
    "ensure",
    "expose",
    "extract",
    "fix",
    "handle",
    "implement",
    "introduce",
    "log",
    "make",
    "merge",
    "migrate",
    "move",
    "optimize",
    "optimise",
    "parse",
    "port",
    "print",
    "refactor",
    "remove",
    "rename",
    "render",
    "replace",
    "report",
    "restore",
    "retry",
    "rewrite",
    "rework",
    "send",
    "show",
    "speed",
    "split",
    "store",
    "support",
    "switch",
    "test",
    "update",
    "upgrade",
    "use",
    "validate",
    "write",
    "let",
    "teach",
    "stop",
    "prevent",
    "avoid",
    "reduce",
    "increase",
    "sort",
    "filter",
    "save",
    "export",
    "import",
    "display",
    "warn",
    "hide",
    "publish",
    "release",
    "install",
    "configure",
    "generate",
    "improve",
    "redesign",
    "simplify",
    "translate",
    "localize",
    "localise",
    "automate",
    "deploy",
    "upload",
    "download",
    "sync",
    "notify",
    "track",
    "record",
    "measure",
    "limit",
    "verify",
];

/// Words that carry no meaning for duplicate detection.
const STOP_WORDS: &[&str] = &[
    "the", "a", "an", "is", "are", "be", "been", "should", "must", "shall", "will", "it", "its",
    "then", "that", "this", "when", "and", "of", "to", "with", "by", "for", "on", "in", "at",
    "can", "does", "do", "we", "user", "users",
];

/// Numbers written as words.
const NUMBER_WORDS: &[&str] = &[
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "twenty", "hundred", "thousand", "million", "once", "twice", "half",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(summary: &str, criteria: &[&str]) -> Vec<(Target, &'static str)> {
        let criteria: Vec<String> = criteria.iter().map(|c| c.to_string()).collect();
        lint(summary, &criteria)
            .findings
            .iter()
            .map(|f| (f.target, f.reason.kind()))
            .collect()
    }

    /// One criterion at a time: testable ones pass, the rest fail for the
    /// named reason.
    #[test]
    fn criteria_table() {
        #[rustfmt::skip]
        let table: &[(&str, Option<&str>)] = &[
            // Testable.
            ("`csm list --json` prints a JSON array", None),
            ("each element has `key` and `status`", None),
            ("csm list --csv prints CSV", None),
            ("one row per session", None),
            ("`csm start PROJ-404` exits 3 and prints \"ticket PROJ-404 not found\"", None),
            ("With 1,000 sessions `csm list` finishes in under 20 ms on the CI machine", None),
            ("Improve `csm list` speed by 50% for 1,000 sessions", None),
            ("A missing config file is handled: csm exits 2 and names the file", None),
            ("Handles an empty input file by printing `error: FILE is empty`", None),
            ("The login page shows the error \"Wrong password\" after a failed login", None),
            ("Reduces the requests of `csm list` to one per tracker", None),
            ("After `csm forget KEY`, `csm list` no longer shows KEY", None),
            ("GET /health responds 200 with body `ok`", None),
            ("the README has a section \"Worktrees\" with one example command", None),
            ("a token never appears in the log file", None),
            ("`csm done` posts exactly one comment per run, even when retried", None),
            ("rejecting the draft leaves the ticket file byte-for-byte unchanged", None),
            ("./hello.sh prints Hello", None),
            ("With an existing KEY the ticket's AC are replaced only after acceptance; rejecting leaves the ticket untouched (fake's log shows no write).", None),
            ("A schema-violating or empty answer from Codex gives a clear error and writes nothing; the raw answer is kept in a file whose path is printed.", None),
            // Vague without a target.
            ("Improve performance", Some("vague")),
            ("Optimize the startup of `csm`", Some("vague")),
            ("Clean up the config module", Some("vague")),
            ("Errors are handled properly", Some("vague")),
            ("The list is fast", Some("vague")),
            ("Make the CLI more user-friendly", Some("vague")),
            ("`csm list` prints sessions correctly", Some("vague")),
            ("The UI looks good on small screens", Some("vague")),
            ("The parser is robust against malformed input", Some("vague")),
            ("Reduce memory use", Some("vague")),
            ("Output is easy to read", Some("vague")),
            // No observable outcome.
            ("Works with the local tracker", Some("no_outcome")),
            ("also works", Some("no_outcome")),
            ("The --json flag is implemented", Some("no_outcome")),
            ("`csm list --json` works", Some("no_outcome")),
            ("Data Center is supported", Some("no_outcome")),
            ("done", Some("no_outcome")),
            ("a", Some("no_outcome")),
            // Activities.
            ("Investigate why the login fails", Some("activity")),
            ("Look into caching the field id", Some("activity")),
            ("We should consider a retry budget", Some("activity")),
            ("Refactor the tracker module", Some("activity")),
            // Loopholes, open ends, placeholders, questions.
            ("Retries twice if possible", Some("loophole")),
            ("Logs a warning where appropriate", Some("loophole")),
            ("Supports CSV, JSON, etc.", Some("open_ended")),
            ("Prints the key, the status and so on", Some("open_ended")),
            ("Exports to CSV, TSV, ...", Some("open_ended")),
            ("TBD", Some("unfinished")),
            ("Exit code: TODO", Some("unfinished")),
            ("Should the list be paged?", Some("question")),
            ("", Some("empty")),
        ];
        assert!(table.len() >= 30);
        let mut wrong = Vec::new();
        for (criterion, expected) in table {
            let got: Vec<&str> = kinds("Add a flag", &[criterion])
                .into_iter()
                .map(|(_, k)| k)
                .collect();
            let expected: Vec<&str> = expected.iter().copied().collect();
            let expected = if criterion.is_empty() {
                vec!["no_criteria"]
            } else {
                expected
            };
            if got != expected {
                wrong.push(format!("{criterion:?}: expected {expected:?}, got {got:?}"));
            }
        }
        assert!(wrong.is_empty(), "\n{}", wrong.join("\n"));
    }

    #[test]
    fn literals_are_never_vague_words() {
        assert!(
            lint(
                "Add a fast mode",
                &["`csm list --fast` prints \"improved\" rows".into()]
            )
            .is_ready()
        );
    }

    #[test]
    fn duplicates_in_any_order_are_found() {
        let found = kinds(
            "Add a flag",
            &[
                "csm exits 2 on bad input",
                "prints the usage",
                "On bad input, csm exits 2.",
                "csm exits 3 on bad input",
                "Prints the usage",
            ],
        );
        assert_eq!(
            found,
            vec![
                (Target::Criterion(2), "duplicate"),
                (Target::Criterion(4), "duplicate")
            ]
        );
        let v = lint(
            "S",
            &[
                "prints the usage".to_string(),
                "Prints the usage".to_string(),
            ],
        );
        assert_eq!(v.findings[0].reason, Reason::Duplicate { of: 0 });
    }

    #[test]
    fn summaries() {
        let ac = ["prints JSON"];
        assert!(kinds("Add a --json flag to list", &ac).is_empty());
        assert!(kinds("Read and write the config file", &ac).is_empty());
        assert!(kinds("Add CSV import and export", &ac).is_empty());
        assert!(kinds("Add `a and b` to the list", &ac).is_empty());
        assert_eq!(
            kinds("Fix the crash on empty input and add a --verbose flag", &ac),
            vec![(Target::Summary, "two_deliverables")]
        );
        let v = lint(
            "Export sessions as CSV, and also fix the login timeout",
            &["prints JSON".to_string()],
        );
        assert_eq!(
            v.findings[0].reason,
            Reason::TwoDeliverables {
                first: "Export sessions as CSV".into(),
                second: "fix the login timeout".into()
            }
        );
        assert_eq!(
            kinds(&"x".repeat(101), &ac),
            vec![(Target::Summary, "long_summary")]
        );
        assert_eq!(
            kinds("  ", &[]),
            vec![
                (Target::Summary, "empty_summary"),
                (Target::Criteria, "no_criteria")
            ]
        );
    }

    #[test]
    fn findings_read_as_one_line_with_a_fix() {
        let criteria = vec!["prints JSON".to_string(), "Improve performance".to_string()];
        let v = lint("Add a --json flag", &criteria);
        assert!(!v.is_ready());
        assert_eq!(
            v.findings[0].describe(&criteria),
            "criterion 2 \"Improve performance\" uses \"improve\" without a measurable target: add a number or the exact expected result"
        );
        let json = serde_json::to_value(&v.findings[0]).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"target": "criterion", "index": 1, "reason": "vague", "term": "improve"})
        );
    }

    proptest::proptest! {
        #[test]
        fn lint_never_panics(summary in ".{0,120}", criteria in proptest::collection::vec(".{0,80}", 0..6)) {
            let _ = lint(&summary, &criteria);
        }
    }
}
