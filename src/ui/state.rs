//! The dashboard's state and what each key does to it: plain data and pure
//! functions, no terminal and no I/O. A key returns at most one [`Effect`]
//! (resume this session, save these settings, ...) that the event loop in
//! `app` carries out with the same library calls the commands use, then
//! reports back (`settings_saved`, `fail`, ...).

use std::collections::HashMap;
use std::path::PathBuf;

use crate::codex::Settings;
use crate::codex::settings::{APPROVALS, EFFORTS, SANDBOXES, TABS};
use crate::output::sanitize;
use crate::session::{self, SessionRow};
use crate::store::{Event, SessionStatus};
use crate::tabs::record::Tab;
use crate::tracker::TicketKey;

/// A key press, as the dashboard understands it (the terminal's events are
/// translated at the edge, so tests can type without one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// ↑.
    Up,
    /// ↓.
    Down,
    /// ←.
    Left,
    /// →.
    Right,
    /// Page up.
    PageUp,
    /// Page down.
    PageDown,
    /// Home.
    Home,
    /// End.
    End,
    /// Enter.
    Enter,
    /// Escape.
    Esc,
    /// Tab.
    Tab,
    /// Backspace.
    Backspace,
    /// A character.
    Char(char),
    /// A character with Ctrl.
    Ctrl(char),
}

/// Turns text into keys for tests and scripts: `\n` is Enter, `\t` Tab,
/// `\u{1b}` Escape, `\u{8}` Backspace; everything else is typed.
pub fn keys(text: &str) -> Vec<Key> {
    text.chars()
        .map(|c| match c {
            '\n' => Key::Enter,
            '\t' => Key::Tab,
            '\u{1b}' => Key::Esc,
            '\u{8}' => Key::Backspace,
            c => Key::Char(c),
        })
        .collect()
}

/// The groups sessions are shown in, in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Group {
    /// Codex is working on a turn.
    Running,
    /// Codex finished a turn and waits for the user.
    Waiting,
    /// Codex is not running (or was never launched).
    Idle,
    /// Finished today.
    Done,
}

impl Group {
    /// Every group, in display order.
    pub const ALL: [Group; 4] = [Group::Running, Group::Waiting, Group::Idle, Group::Done];

    /// The group of a session status.
    pub fn of(status: SessionStatus) -> Group {
        match status {
            SessionStatus::Running => Group::Running,
            SessionStatus::Waiting => Group::Waiting,
            SessionStatus::New | SessionStatus::Idle => Group::Idle,
            SessionStatus::Done => Group::Done,
        }
    }

    /// The group's heading.
    pub fn title(self) -> &'static str {
        match self {
            Group::Running => "Running",
            Group::Waiting => "Waiting for input",
            Group::Idle => "Idle",
            Group::Done => "Done today",
        }
    }
}

/// One line of the session list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListLine {
    /// A group's heading and how many sessions it shows.
    Header(Group, usize),
    /// A session: its index in [`App::rows`].
    Row(usize),
}

/// What the last report said of one acceptance criterion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CriterionStatus {
    /// Met.
    Met,
    /// Not met.
    NotMet,
    /// The report could not tell.
    Unclear,
    /// No report yet.
    Unknown,
}

impl CriterionStatus {
    /// Reads a report's status word.
    pub fn parse(s: &str) -> CriterionStatus {
        match s {
            "met" => CriterionStatus::Met,
            "not_met" => CriterionStatus::NotMet,
            "unclear" => CriterionStatus::Unclear,
            _ => CriterionStatus::Unknown,
        }
    }
}

/// An acceptance criterion and its last reported status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Criterion {
    /// The criterion (one line of Markdown).
    pub text: String,
    /// Its status in the latest report.
    pub status: CriterionStatus,
    /// The report's evidence, if any.
    pub evidence: Option<String>,
}

/// What the detail pane shows of one session; loaded off the UI thread.
#[derive(Clone, Debug, PartialEq)]
pub struct Detail {
    /// The session.
    pub session_id: i64,
    /// The latest report's summary and when it was made (Unix ms).
    pub report: Option<(String, i64)>,
    /// The criteria with their last reported status.
    pub criteria: Vec<Criterion>,
    /// The assistant's last message.
    pub last_message: Option<String>,
    /// Recent events, newest first.
    pub events: Vec<Event>,
    /// The exact command Enter runs (what `csm resume` runs), or why there
    /// is none.
    pub command: Result<String, String>,
    /// The commands Codex asked to run in tabs, oldest first.
    pub tabs: Vec<Tab>,
    /// The last time csm told the running Codex that the ticket changed
    /// (a `ticket-changed` event).
    pub ticket_change: Option<Box<Event>>,
    /// Codex's token usage in the session, when known.
    pub usage: Option<Box<crate::usage::Usage>>,
}

/// A request of Codex to run a command in a tab, waiting for the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingTab {
    /// The request's id (`csm tabs approve ID`).
    pub id: i64,
    /// The session that asked.
    pub session_id: i64,
    /// Its ticket.
    pub key: String,
    /// The command, as one line.
    pub command: String,
}

/// Where the ticket facts stand.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tickets {
    /// A search is under way.
    pub refreshing: bool,
    /// Why the tracker could not be asked (cached data is shown).
    pub offline: Option<String>,
    /// When the tracker last answered (Unix ms).
    pub fetched_at: Option<i64>,
}

/// How a message reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Something done.
    Info,
    /// Something failed.
    Error,
}

/// A one-line message above the footer, until the next key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// Info or error.
    pub level: Level,
    /// The text.
    pub text: String,
}

/// A line of text being typed, with the complaint about the last attempt.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Input {
    /// What was typed.
    pub text: String,
    /// Why the last Enter was refused.
    pub error: Option<String>,
}

/// The settings the editor changes, in order.
pub const FIELDS: [&str; 6] = ["model", "effort", "sandbox", "approval", "search", "tabs"];

/// The settings editor of one session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SettingsEditor {
    /// The session.
    pub session_id: i64,
    /// Its ticket.
    pub key: String,
    /// The settings as stored.
    pub original: Settings,
    /// The settings as edited.
    pub draft: Settings,
    /// The selected field (index into [`FIELDS`]).
    pub field: usize,
    /// A value being typed for the selected field.
    pub input: Option<String>,
    /// Why the last typed value was refused.
    pub error: Option<String>,
    /// The models to cycle through (besides the default).
    pub models: Vec<String>,
}

impl SettingsEditor {
    /// The value of `field` in `settings`, `None` for Codex's default.
    pub fn value(settings: &Settings, field: &str) -> Option<String> {
        match field {
            "model" => settings.model.clone(),
            "effort" => settings.effort.clone(),
            "sandbox" => settings.sandbox.clone(),
            "approval" => settings.approval.clone(),
            "search" => settings
                .search
                .map(|s| if s { "on" } else { "off" }.to_string()),
            "tabs" => settings.tabs.clone(),
            _ => None,
        }
    }

    /// The values `field` cycles through, `default` first.
    pub fn options(&self, field: &str) -> Vec<String> {
        let mut options = vec!["default".to_string()];
        let fixed: &[&str] = match field {
            "effort" => EFFORTS,
            "sandbox" => SANDBOXES,
            "approval" => APPROVALS,
            "search" => &["on", "off"],
            "tabs" => TABS,
            _ => &[],
        };
        options.extend(fixed.iter().map(|s| s.to_string()));
        if field == "model" {
            let mut models = self.models.clone();
            models.extend(self.draft.model.clone());
            models.sort();
            models.dedup();
            options.extend(models);
        }
        options
    }

    /// The selected field's name.
    pub fn field_name(&self) -> &'static str {
        FIELDS[self.field]
    }

    fn cycle(&mut self, step: isize) {
        let field = self.field_name();
        let options = self.options(field);
        let current = Self::value(&self.draft, field).unwrap_or_else(|| "default".into());
        let next = match options.iter().position(|o| *o == current) {
            Some(i) => (i as isize + step).rem_euclid(options.len() as isize) as usize,
            None => 0,
        };
        // Every option is valid; `set` is still the one way values enter.
        if let Err(e) = self.draft.set(field, &options[next]) {
            self.error = Some(e.to_string());
        } else {
            self.error = None;
        }
    }

    /// Whether `field` differs from the stored settings.
    pub fn changed(&self, field: &str) -> bool {
        Self::value(&self.draft, field) != Self::value(&self.original, field)
    }
}

/// What the dashboard is doing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Browsing the list.
    List,
    /// Typing the filter.
    Filter,
    /// The help overlay.
    Help,
    /// The settings editor.
    Settings(Box<SettingsEditor>),
    /// Typing the key of a ticket to start.
    Start(Input),
}

/// What a key asks the event loop to do.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Leave the dashboard.
    Quit,
    /// Stop like a shell job (Ctrl-Z).
    Suspend,
    /// Draw the whole screen again (Ctrl-L).
    Redraw,
    /// Resume a session in Codex (what `csm resume` runs).
    Resume {
        /// csm's id of the session.
        session_id: i64,
        /// Its ticket.
        key: String,
    },
    /// Start a ticket (what `csm start KEY` runs).
    Start {
        /// The ticket.
        key: TicketKey,
    },
    /// Finish a ticket (`csm done KEY`, after its dry-run preview).
    Done {
        /// The ticket.
        key: String,
    },
    /// Open a ticket in the browser (or its file).
    Open {
        /// The tracker's id.
        tracker: String,
        /// The ticket.
        key: String,
    },
    /// Ask the tracker again now, and reload the store.
    Refresh,
    /// Save a session's settings (what `csm set` saves).
    SaveSettings {
        /// csm's id of the session.
        session_id: i64,
        /// Its ticket.
        key: String,
        /// The new settings.
        settings: Settings,
    },
    /// Approve a tab request and start it (what `csm tabs approve` does).
    ApproveTab {
        /// The request.
        id: i64,
        /// Its ticket.
        key: String,
    },
    /// Deny a tab request (what `csm tabs deny` does).
    DenyTab {
        /// The request.
        id: i64,
        /// Its ticket.
        key: String,
    },
}

/// The display text of a row that does not change with time, sanitized
/// once when rows arrive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RowText {
    /// Ticket key.
    pub key: String,
    /// Ticket summary.
    pub summary: String,
    /// Ticket status, `*` marking cached facts the tracker could not
    /// refresh.
    pub ticket: String,
    /// The folder, `~` for home.
    pub folder: String,
    /// The git branch, empty when unknown.
    pub branch: String,
    /// Settings that differ from the defaults.
    pub settings: String,
    /// Lower-case text the filter searches.
    hay: String,
}

/// Natural widths of the list's columns (the longest cell of each).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Widths {
    /// Key.
    pub key: usize,
    /// Summary.
    pub summary: usize,
    /// Ticket status.
    pub ticket: usize,
    /// Folder.
    pub folder: usize,
    /// Branch.
    pub branch: usize,
    /// Settings.
    pub settings: usize,
}

/// The dashboard.
#[derive(Clone, Debug)]
pub struct App {
    rows: Vec<SessionRow>,
    text: Vec<RowText>,
    widths: Widths,
    lines: Vec<ListLine>,
    /// Index into `lines` of the selected row (a `ListLine::Row`).
    cursor: Option<usize>,
    /// csm's id of the selected session, kept across reloads.
    selected: Option<i64>,
    offset: usize,
    viewport: usize,
    filter: String,
    /// What the dashboard is doing.
    pub mode: Mode,
    /// The message line.
    pub message: Option<Message>,
    /// Where ticket facts stand.
    pub tickets: Tickets,
    details: HashMap<i64, Detail>,
    now_ms: i64,
    home: Option<PathBuf>,
    /// The detail pane fills the screen (Tab).
    pub detail_full: bool,
    /// How far the full-screen detail is scrolled.
    pub detail_scroll: u16,
    /// Tab requests of running sessions that wait for the user, oldest
    /// first.
    pending: Vec<PendingTab>,
}

/// A filter term `is:STATUS` matches a session status (`is:wait` is
/// enough); other terms match the key, summary, statuses, folder, branch
/// or settings. Every term must match.
pub fn matches(filter: &str, status: SessionStatus, hay: &str) -> bool {
    filter.split_whitespace().all(|term| {
        let term = term.to_lowercase();
        match term.strip_prefix("is:") {
            Some(want) => status.as_str().starts_with(want),
            None => hay.contains(&term),
        }
    })
}

/// One line of outside text for a table cell: sanitized, whitespace runs
/// (newlines, tabs) folded into one space.
pub fn one_line(text: &str) -> String {
    sanitize(text)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

fn width(s: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(s)
}

impl App {
    /// A dashboard over `rows` (most recently active first) at time `now_ms`;
    /// `home` shortens folders.
    pub fn new(rows: Vec<SessionRow>, now_ms: i64, home: Option<PathBuf>) -> App {
        let mut app = App {
            rows: Vec::new(),
            text: Vec::new(),
            widths: Widths::default(),
            lines: Vec::new(),
            cursor: None,
            selected: None,
            offset: 0,
            viewport: 20,
            filter: String::new(),
            mode: Mode::List,
            message: None,
            tickets: Tickets::default(),
            details: HashMap::new(),
            now_ms,
            home,
            detail_full: false,
            detail_scroll: 0,
            pending: Vec::new(),
        };
        app.set_rows(rows);
        app
    }

    /// Replaces the sessions (a reload), keeping the selected session
    /// selected while it is still shown.
    pub fn set_rows(&mut self, rows: Vec<SessionRow>) {
        self.text = rows.iter().map(|r| self.row_text(r)).collect();
        let mut w = Widths::default();
        for t in &self.text {
            w.key = w.key.max(width(&t.key));
            w.summary = w.summary.max(width(&t.summary));
            w.ticket = w.ticket.max(width(&t.ticket));
            w.folder = w.folder.max(width(&t.folder));
            w.branch = w.branch.max(width(&t.branch));
            w.settings = w.settings.max(width(&t.settings));
        }
        self.widths = w;
        let ids: std::collections::HashSet<i64> = rows.iter().map(|r| r.id).collect();
        self.details.retain(|id, _| ids.contains(id));
        self.rows = rows;
        self.relayout();
    }

    fn row_text(&self, r: &SessionRow) -> RowText {
        let key = one_line(&r.key);
        let summary = one_line(r.summary.as_deref().unwrap_or("?"));
        let mut ticket = one_line(r.ticket_status.as_deref().unwrap_or("?"));
        if r.ticket_offline {
            ticket.push('*');
        }
        let folder = one_line(&session::short_folder(&r.folder, self.home.as_deref()));
        let settings = one_line(&session::settings_summary(&r.settings));
        let branch = one_line(r.branch.as_deref().unwrap_or(""));
        let hay = [
            key.as_str(),
            summary.as_str(),
            ticket.as_str(),
            r.status.as_str(),
            folder.as_str(),
            branch.as_str(),
            settings.as_str(),
        ]
        .join("\u{1}")
        .to_lowercase();
        RowText {
            key,
            summary,
            ticket,
            folder,
            branch,
            settings,
            hay,
        }
    }

    /// Rebuilds the grouped, filtered lines and puts the cursor back on the
    /// selected session (or the nearest line).
    fn relayout(&mut self) {
        let mut lines = Vec::with_capacity(self.rows.len() + Group::ALL.len());
        for group in Group::ALL {
            let start = lines.len();
            lines.push(ListLine::Header(group, 0));
            for (i, r) in self.rows.iter().enumerate() {
                if Group::of(r.status) == group
                    && matches(&self.filter, r.status, &self.text[i].hay)
                {
                    lines.push(ListLine::Row(i));
                }
            }
            let count = lines.len() - start - 1;
            if count == 0 {
                lines.truncate(start);
            } else {
                lines[start] = ListLine::Header(group, count);
            }
        }
        let previous = self.cursor.unwrap_or(0);
        self.lines = lines;
        let by_id = self.selected.and_then(|id| {
            self.lines
                .iter()
                .position(|l| matches!(l, ListLine::Row(i) if self.rows[*i].id == id))
        });
        self.cursor = by_id.or_else(|| self.nearest_row(previous));
        // With nothing shown (a filter matching nothing) the selection is
        // kept, to come back when the filter is cleared.
        if let Some(row) = self.cursor.and_then(|c| self.row_at(c)) {
            self.selected = Some(row.id);
        }
        self.scroll_to_cursor();
    }

    fn row_at(&self, line: usize) -> Option<&SessionRow> {
        match self.lines.get(line) {
            Some(ListLine::Row(i)) => self.rows.get(*i),
            _ => None,
        }
    }

    /// The row line at or after `from`, else the last one before it.
    fn nearest_row(&self, from: usize) -> Option<usize> {
        let from = from.min(self.lines.len().saturating_sub(1));
        (from..self.lines.len())
            .find(|&l| self.row_at(l).is_some())
            .or_else(|| (0..from).rev().find(|&l| self.row_at(l).is_some()))
    }

    fn scroll_to_cursor(&mut self) {
        let height = self.viewport.max(1);
        let Some(cursor) = self.cursor else {
            self.offset = 0;
            return;
        };
        // Keep the group heading above the first row in view.
        let top = if cursor > 0 && matches!(self.lines[cursor - 1], ListLine::Header(..)) {
            cursor - 1
        } else {
            cursor
        };
        if top < self.offset {
            self.offset = top;
        } else if cursor >= self.offset + height {
            self.offset = cursor + 1 - height;
        }
        let max_offset = self.lines.len().saturating_sub(height);
        self.offset = self.offset.min(max_offset);
    }

    fn move_by(&mut self, step: isize) {
        let Some(cursor) = self.cursor else { return };
        let rows: Vec<usize> = (0..self.lines.len())
            .filter(|&l| self.row_at(l).is_some())
            .collect();
        let Some(pos) = rows.iter().position(|&l| l == cursor) else {
            return;
        };
        let target = (pos as isize + step).clamp(0, rows.len() as isize - 1) as usize;
        self.select_line(rows[target]);
    }

    fn select_line(&mut self, line: usize) {
        self.cursor = Some(line);
        self.selected = self.row_at(line).map(|r| r.id);
        self.scroll_to_cursor();
    }

    /// Tells the state how many list lines the screen shows (for paging
    /// and scrolling).
    pub fn set_viewport(&mut self, lines: usize) {
        if self.viewport != lines {
            self.viewport = lines;
            self.scroll_to_cursor();
        }
    }

    /// Moves the clock (ages are shown relative to it).
    pub fn set_now(&mut self, now_ms: i64) {
        self.now_ms = now_ms;
    }

    /// The clock.
    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    /// Every row, most recently active first.
    pub fn rows(&self) -> &[SessionRow] {
        &self.rows
    }

    /// The display text of row `i`.
    pub fn text(&self, i: usize) -> &RowText {
        &self.text[i]
    }

    /// The columns' natural widths.
    pub fn widths(&self) -> Widths {
        self.widths
    }

    /// The list's lines: group headings and the rows the filter lets
    /// through.
    pub fn lines(&self) -> &[ListLine] {
        &self.lines
    }

    /// The first line shown.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// The selected line.
    pub fn cursor(&self) -> Option<usize> {
        self.cursor
    }

    /// The selected session.
    pub fn selected(&self) -> Option<&SessionRow> {
        self.cursor.and_then(|c| self.row_at(c))
    }

    /// The filter text.
    pub fn filter(&self) -> &str {
        &self.filter
    }

    /// How many shown sessions are in `group` (filter applied).
    pub fn count(&self, group: Group) -> usize {
        self.lines
            .iter()
            .find_map(|l| match l {
                ListLine::Header(g, n) if *g == group => Some(*n),
                _ => None,
            })
            .unwrap_or(0)
    }

    /// The loaded detail of a session.
    pub fn detail(&self, session_id: i64) -> Option<&Detail> {
        self.details.get(&session_id)
    }

    /// Stores a loaded detail.
    pub fn set_detail(&mut self, detail: Detail) {
        self.details.insert(detail.session_id, detail);
    }

    /// Takes the store thread's list of tab requests that wait; a new one
    /// is said on the message line.
    pub fn set_pending(&mut self, pending: Vec<PendingTab>) {
        if let Some(new) = pending.iter().find(|p| !self.pending.contains(p)) {
            self.info(format!(
                "{}: Codex asks to run `{}` in a tab: a approves, x denies",
                new.key, new.command
            ));
        }
        self.pending = pending;
    }

    /// Tab requests that wait for the user, oldest first.
    pub fn pending(&self) -> &[PendingTab] {
        &self.pending
    }

    /// The request `a` and `x` act on: the selected session's oldest, else
    /// the only one.
    fn pending_for_keys(&mut self) -> Option<PendingTab> {
        let selected = self.selected().map(|r| r.id);
        if let Some(p) = self.pending.iter().find(|p| Some(p.session_id) == selected) {
            return Some(p.clone());
        }
        match self.pending.as_slice() {
            [] => {
                self.fail("No tab request waits for approval");
                None
            }
            [only] => Some(only.clone()),
            many => {
                self.fail(format!(
                    "{} tab requests wait: select the session of the one to answer",
                    many.len()
                ));
                None
            }
        }
    }

    /// Takes the tickets thread's news; a new reason the tracker could not
    /// be asked is said once on the message line.
    pub fn set_tickets(&mut self, tickets: Tickets) {
        if let Some(reason) = &tickets.offline
            && self.tickets.offline.as_ref() != Some(reason)
        {
            self.fail(format!("ticket statuses not refreshed: {reason}"));
        }
        self.tickets = tickets;
    }

    /// Notes that a session's settings were saved.
    pub fn settings_saved(&mut self, session_id: i64, key: &str, settings: &Settings) {
        if let Some(i) = self.rows.iter().position(|r| r.id == session_id) {
            self.rows[i].settings = settings.to_json();
            self.text[i] = self.row_text(&self.rows[i]);
        }
        self.info(format!(
            "{key} session {session_id}: {settings} (applies from the next resume)"
        ));
    }

    /// Shows an informational message.
    pub fn info(&mut self, text: impl Into<String>) {
        self.message = Some(Message {
            level: Level::Info,
            text: one_line(&text.into()),
        });
    }

    /// Shows an error message.
    pub fn fail(&mut self, text: impl Into<String>) {
        self.message = Some(Message {
            level: Level::Error,
            text: one_line(&text.into()),
        });
    }

    /// The models the settings editor offers: those the sessions use.
    fn known_models(&self) -> Vec<String> {
        let mut models: Vec<String> = self
            .rows
            .iter()
            .filter_map(|r| r.settings.get("model")?.as_str().map(str::to_string))
            .collect();
        models.sort();
        models.dedup();
        models
    }

    /// Handles a key; returns what the event loop must do, if anything.
    pub fn on_key(&mut self, key: Key) -> Option<Effect> {
        self.message = None;
        if let Key::Ctrl('c') = key {
            return Some(Effect::Quit);
        }
        match &self.mode {
            Mode::List => self.on_list_key(key),
            Mode::Help => {
                self.mode = Mode::List;
                None
            }
            Mode::Filter => {
                self.on_filter_key(key);
                None
            }
            Mode::Start(_) => self.on_start_key(key),
            Mode::Settings(_) => self.on_settings_key(key),
        }
    }

    fn on_list_key(&mut self, key: Key) -> Option<Effect> {
        let page = self.viewport.max(2) as isize - 1;
        if self.detail_full {
            // The full-screen detail scrolls; the rest acts on the session.
            let scroll = &mut self.detail_scroll;
            match key {
                Key::Up | Key::Char('k') => *scroll = scroll.saturating_sub(1),
                Key::Down | Key::Char('j') => *scroll = scroll.saturating_add(1).min(500),
                Key::PageUp => *scroll = scroll.saturating_sub(10),
                Key::PageDown => *scroll = scroll.saturating_add(10).min(500),
                Key::Home | Key::Char('g') => *scroll = 0,
                Key::Esc => self.detail_full = false,
                _ => return self.on_session_key(key),
            }
            return None;
        }
        match key {
            Key::Up | Key::Char('k') => self.move_by(-1),
            Key::Down | Key::Char('j') => self.move_by(1),
            Key::PageUp | Key::Ctrl('b') => self.move_by(-page),
            Key::PageDown | Key::Ctrl('f') => self.move_by(page),
            Key::Home | Key::Char('g') => self.move_by(isize::MIN / 2),
            Key::End | Key::Char('G') => self.move_by(isize::MAX / 2),
            Key::Char('/') => self.mode = Mode::Filter,
            Key::Esc if !self.filter.is_empty() => {
                self.filter.clear();
                self.relayout();
            }
            _ => return self.on_session_key(key),
        }
        None
    }

    /// Keys that act on the selected session or the whole dashboard, the
    /// same in the list and in the full-screen detail.
    fn on_session_key(&mut self, key: Key) -> Option<Effect> {
        match key {
            Key::Tab => {
                self.detail_full = !self.detail_full;
                self.detail_scroll = 0;
            }
            Key::Char('?') => self.mode = Mode::Help,
            Key::Char('q') => return Some(Effect::Quit),
            Key::Ctrl('z') => return Some(Effect::Suspend),
            Key::Ctrl('l') => return Some(Effect::Redraw),
            Key::Char('r') => {
                self.tickets.refreshing = true;
                return Some(Effect::Refresh);
            }
            Key::Char('s') => self.mode = Mode::Start(Input::default()),
            Key::Enter => {
                let Some(r) = self.selected() else {
                    self.fail("No session to resume: press s to start a ticket");
                    return None;
                };
                return Some(Effect::Resume {
                    session_id: r.id,
                    key: r.key.clone(),
                });
            }
            Key::Char('n') => {
                let Some(r) = self.selected() else {
                    self.fail("No session selected");
                    return None;
                };
                let settings = Settings::from_json(&r.settings);
                self.mode = Mode::Settings(Box::new(SettingsEditor {
                    session_id: r.id,
                    key: r.key.clone(),
                    original: settings.clone(),
                    draft: settings,
                    field: 0,
                    input: None,
                    error: None,
                    models: self.known_models(),
                }));
            }
            Key::Char('d') => {
                let r = self.selected()?;
                return Some(Effect::Done { key: r.key.clone() });
            }
            Key::Char('a') => {
                let p = self.pending_for_keys()?;
                return Some(Effect::ApproveTab {
                    id: p.id,
                    key: p.key,
                });
            }
            Key::Char('x') => {
                let p = self.pending_for_keys()?;
                return Some(Effect::DenyTab {
                    id: p.id,
                    key: p.key,
                });
            }
            Key::Char('o') => {
                let r = self.selected()?;
                return Some(Effect::Open {
                    tracker: r.tracker.clone(),
                    key: r.key.clone(),
                });
            }
            _ => {}
        }
        None
    }

    fn on_filter_key(&mut self, key: Key) {
        match key {
            Key::Char(c) => {
                self.filter.push(c);
                self.relayout();
            }
            Key::Backspace => {
                self.filter.pop();
                self.relayout();
            }
            Key::Ctrl('u') => {
                self.filter.clear();
                self.relayout();
            }
            Key::Up => self.move_by(-1),
            Key::Down => self.move_by(1),
            Key::Enter => self.mode = Mode::List,
            Key::Esc => {
                self.filter.clear();
                self.mode = Mode::List;
                self.relayout();
            }
            _ => {}
        }
    }

    fn on_start_key(&mut self, key: Key) -> Option<Effect> {
        let Mode::Start(input) = &mut self.mode else {
            return None;
        };
        match key {
            Key::Char(c) => {
                input.text.push(c);
                input.error = None;
            }
            Key::Backspace => {
                input.text.pop();
                input.error = None;
            }
            Key::Esc => self.mode = Mode::List,
            Key::Enter => match TicketKey::parse(input.text.trim()) {
                Ok(key) => {
                    self.mode = Mode::List;
                    return Some(Effect::Start { key });
                }
                Err(e) => input.error = Some(e.to_string()),
            },
            _ => {}
        }
        None
    }

    fn on_settings_key(&mut self, key: Key) -> Option<Effect> {
        let Mode::Settings(ed) = &mut self.mode else {
            return None;
        };
        if let Some(text) = &mut ed.input {
            match key {
                Key::Char(c) => text.push(c),
                Key::Backspace => {
                    text.pop();
                }
                Key::Esc => {
                    ed.input = None;
                    ed.error = None;
                }
                Key::Enter => {
                    let value = text.trim().to_string();
                    let field = ed.field_name();
                    // The same validation as `csm set`.
                    match ed.draft.set(field, &value) {
                        Ok(()) => {
                            ed.input = None;
                            ed.error = None;
                        }
                        Err(e) => ed.error = Some(e.to_string()),
                    }
                }
                _ => {}
            }
            return None;
        }
        match key {
            Key::Up | Key::Char('k') => ed.field = ed.field.saturating_sub(1),
            Key::Down | Key::Char('j') => ed.field = (ed.field + 1).min(FIELDS.len() - 1),
            Key::Left | Key::Char('h') => ed.cycle(-1),
            Key::Right | Key::Char('l') | Key::Char(' ') => ed.cycle(1),
            Key::Char('e') | Key::Char('i') => {
                ed.input =
                    Some(SettingsEditor::value(&ed.draft, ed.field_name()).unwrap_or_default());
                ed.error = None;
            }
            Key::Esc | Key::Char('q') => {
                self.mode = Mode::List;
                self.info("Settings unchanged");
            }
            Key::Enter => {
                let (session_id, key, settings) = (ed.session_id, ed.key.clone(), ed.draft.clone());
                let unchanged = ed.draft == ed.original;
                self.mode = Mode::List;
                if unchanged {
                    self.info("Settings unchanged");
                    return None;
                }
                return Some(Effect::SaveSettings {
                    session_id,
                    key,
                    settings,
                });
            }
            _ => {}
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ui::fixture;

    fn app() -> App {
        let (store, now) = fixture::store();
        fixture::app(&store, now)
    }

    fn press(app: &mut App, text: &str) -> Vec<Effect> {
        keys(text)
            .into_iter()
            .filter_map(|k| app.on_key(k))
            .collect()
    }

    #[test]
    fn a_and_x_answer_the_tab_request_of_the_session_or_the_only_one() {
        let mut app = app();
        assert!(press(&mut app, "a").is_empty());
        assert_eq!(
            app.message.as_ref().map(|m| m.text.as_str()),
            Some("No tab request waits for approval")
        );
        let row = app.selected().unwrap().clone();
        let request = |id: i64, session_id: i64| PendingTab {
            id,
            session_id,
            key: row.key.clone(),
            command: "npm run dev".into(),
        };
        app.set_pending(vec![request(7, row.id)]);
        assert!(
            app.message
                .as_ref()
                .unwrap()
                .text
                .contains("Codex asks to run `npm run dev` in a tab"),
            "{:?}",
            app.message
        );
        let approve = Effect::ApproveTab {
            id: 7,
            key: row.key.clone(),
        };
        assert_eq!(press(&mut app, "a"), vec![approve.clone()]);
        assert_eq!(
            press(&mut app, "x"),
            vec![Effect::DenyTab {
                id: 7,
                key: row.key.clone()
            }]
        );
        // From another session: the only request waiting.
        press(&mut app, "j");
        assert_ne!(app.selected().unwrap().id, row.id);
        assert_eq!(press(&mut app, "a"), vec![approve]);
        // Two waiting, neither of the selected session: say which first.
        app.set_pending(vec![request(7, row.id), request(8, row.id)]);
        assert!(press(&mut app, "a").is_empty());
        assert!(
            app.message
                .as_ref()
                .unwrap()
                .text
                .contains("2 tab requests wait")
        );
        // The settings editor cycles tabs too.
        press(&mut app, "njjjjj ");
        let Mode::Settings(ed) = &app.mode else {
            panic!("{:?}", app.mode)
        };
        assert_eq!(ed.field_name(), "tabs");
        assert_eq!(ed.draft.tabs.as_deref(), Some("off"));
    }

    fn selected_key(app: &App) -> String {
        app.selected().unwrap().key.clone()
    }

    fn shown_keys(app: &App) -> Vec<String> {
        app.lines()
            .iter()
            .filter_map(|l| match l {
                ListLine::Row(i) => Some(app.rows()[*i].key.clone()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn sessions_are_grouped_by_status_and_done_means_today() {
        let app = app();
        let groups: Vec<(Group, usize)> = app
            .lines()
            .iter()
            .filter_map(|l| match l {
                ListLine::Header(g, n) => Some((*g, *n)),
                _ => None,
            })
            .collect();
        assert_eq!(
            groups,
            vec![
                (Group::Running, 2),
                (Group::Waiting, 3),
                (Group::Idle, 5),
                (Group::Done, 2)
            ]
        );
        // The first row is selected, under its heading.
        assert_eq!(app.cursor(), Some(1));
        assert_eq!(selected_key(&app), "PROJ-101");
    }

    #[test]
    fn moving_skips_headings_and_stops_at_the_ends() {
        let mut app = app();
        press(&mut app, "jj");
        assert_eq!(selected_key(&app), "PROJ-103");
        assert_eq!(app.cursor(), Some(4), "the Waiting heading was skipped");
        press(&mut app, "k");
        assert_eq!(selected_key(&app), "PROJ-102");
        app.on_key(Key::End);
        assert_eq!(selected_key(&app), "PROJ-112");
        app.on_key(Key::Down);
        assert_eq!(selected_key(&app), "PROJ-112");
        press(&mut app, "g");
        assert_eq!(selected_key(&app), "PROJ-101");
        app.on_key(Key::Up);
        assert_eq!(selected_key(&app), "PROJ-101");
        app.set_viewport(5);
        app.on_key(Key::PageDown);
        assert_eq!(selected_key(&app), "PROJ-105");
        assert!(app.offset() > 0, "scrolled to keep the cursor in view");
    }

    #[test]
    fn filter_by_text_and_by_status_keeps_the_selection_when_it_can() {
        let mut app = app();
        press(&mut app, "jj");
        assert_eq!(selected_key(&app), "PROJ-103");
        assert_eq!(press(&mut app, "/export"), vec![]);
        assert_eq!(app.mode, Mode::Filter);
        assert_eq!(app.filter(), "export");
        assert_eq!(shown_keys(&app), vec!["PROJ-103", "PROJ-109"]);
        assert_eq!(
            selected_key(&app),
            "PROJ-103",
            "still shown, still selected"
        );
        press(&mut app, "\n");
        assert_eq!(app.mode, Mode::List);
        assert_eq!(app.filter(), "export", "Enter keeps the filter");
        press(&mut app, "\u{1b}");
        assert_eq!(app.filter(), "", "Esc in the list clears it");
        assert_eq!(shown_keys(&app).len(), 12);

        press(&mut app, "/is:wait");
        assert_eq!(shown_keys(&app), vec!["PROJ-103", "PROJ-104", "PROJ-105"]);
        assert_eq!(app.count(Group::Waiting), 3);
        assert_eq!(app.count(Group::Running), 0);
        // Terms add up; a status word matches the statuses too.
        press(
            &mut app,
            "\u{8}\u{8}\u{8}\u{8}\u{8}\u{8}\u{8}\u{8}in progress csv",
        );
        assert_eq!(app.filter(), "in progress csv");
        assert_eq!(shown_keys(&app), vec!["PROJ-109"]);
        assert_eq!(selected_key(&app), "PROJ-109");
        press(&mut app, "zzz");
        assert!(app.selected().is_none());
        assert_eq!(press(&mut app, "\n"), vec![], "nothing to resume");
        assert_eq!(app.filter(), "in progress csvzzz");
        let id = app.rows().iter().find(|r| r.key == "PROJ-109").unwrap().id;
        assert_eq!(
            press(&mut app, "\u{1b}\n"),
            vec![Effect::Resume {
                session_id: id,
                key: "PROJ-109".into()
            }],
            "Esc cleared the filter, and the selection came back"
        );
    }

    #[test]
    fn keys_ask_for_effects() {
        let mut app = app();
        let first = app.rows()[0].clone();
        assert_eq!(
            press(&mut app, "\n"),
            vec![Effect::Resume {
                session_id: first.id,
                key: first.key.clone()
            }]
        );
        assert_eq!(
            press(&mut app, "o"),
            vec![Effect::Open {
                tracker: first.tracker.clone(),
                key: first.key.clone()
            }]
        );
        assert_eq!(
            press(&mut app, "d"),
            vec![Effect::Done {
                key: first.key.clone()
            }]
        );
        assert_eq!(press(&mut app, "r"), vec![Effect::Refresh]);
        assert!(app.tickets.refreshing);
        assert_eq!(press(&mut app, "?"), vec![]);
        assert_eq!(app.mode, Mode::Help);
        assert_eq!(press(&mut app, "q"), vec![], "q closes the help first");
        assert_eq!(app.mode, Mode::List);
        assert_eq!(press(&mut app, "q"), vec![Effect::Quit]);
        assert_eq!(app.on_key(Key::Ctrl('c')), Some(Effect::Quit));
        assert_eq!(app.on_key(Key::Ctrl('z')), Some(Effect::Suspend));
        press(&mut app, "\tjjjk");
        assert!(app.detail_full);
        assert_eq!(app.detail_scroll, 2, "arrows scroll the full detail");
        assert_eq!(selected_key(&app), "PROJ-101");
        press(&mut app, "\t");
        assert!(!app.detail_full);
        assert_eq!(app.detail_scroll, 0);
    }

    #[test]
    fn start_asks_for_a_valid_key() {
        let mut app = app();
        assert_eq!(press(&mut app, "sproj"), vec![]);
        assert!(matches!(&app.mode, Mode::Start(i) if i.text == "proj"));
        press(&mut app, "\n");
        let Mode::Start(input) = &app.mode else {
            panic!("still asking")
        };
        assert!(
            input.error.as_deref().unwrap().contains("not a ticket key"),
            "{input:?}"
        );
        let effects = press(&mut app, "-42\n");
        assert_eq!(
            effects,
            vec![Effect::Start {
                key: TicketKey::parse("PROJ-42").unwrap()
            }]
        );
        assert_eq!(app.mode, Mode::List);
        press(&mut app, "sX\u{1b}");
        assert_eq!(app.mode, Mode::List, "Esc cancels");
    }

    #[test]
    fn settings_are_cycled_validated_and_saved_to_the_store() {
        let (store, now) = fixture::store();
        let mut app = fixture::app(&store, now);
        // PROJ-103: effort=high, model=gpt-5.5.
        press(&mut app, "jj");
        let row = app.selected().unwrap().clone();
        assert_eq!(row.key, "PROJ-103");
        press(&mut app, "n");
        let Mode::Settings(ed) = &app.mode else {
            panic!("editor open")
        };
        assert_eq!(ed.draft.effort.as_deref(), Some("high"));
        // effort: high → xhigh; sandbox: default, ← wraps round to
        // danger-full-access; approval stays; search: default → on.
        press(&mut app, "jljhjj ");
        let Mode::Settings(ed) = &app.mode else {
            panic!("editor open")
        };
        assert_eq!(ed.draft.effort.as_deref(), Some("xhigh"));
        assert_eq!(ed.draft.sandbox.as_deref(), Some("danger-full-access"));
        assert_eq!(ed.draft.search, Some(true));
        assert!(ed.changed("effort") && !ed.changed("model"));

        // An invalid typed value is refused with the reason, and the
        // editor stays open on it.
        press(&mut app, "kkkk");
        press(&mut app, "e\u{8}\u{8}\u{8}\u{8}\u{8}\u{8}\u{8}gpt 6\n");
        let Mode::Settings(ed) = &app.mode else {
            panic!("editor open")
        };
        assert_eq!(ed.field_name(), "model");
        assert_eq!(ed.input.as_deref(), Some("gpt 6"));
        let error = ed.error.clone().unwrap();
        assert!(error.contains("must be one word"), "{error}");
        assert_eq!(ed.draft.model.as_deref(), Some("gpt-5.5"), "unchanged");
        press(&mut app, "\u{8}\u{8}-6\n");
        let Mode::Settings(ed) = &app.mode else {
            panic!("editor open")
        };
        assert_eq!((ed.input.as_ref(), ed.error.as_ref()), (None, None));
        assert_eq!(ed.draft.model.as_deref(), Some("gpt-6"));

        // Enter saves through the same call as `csm set`.
        let effects = press(&mut app, "\n");
        let [
            Effect::SaveSettings {
                session_id,
                key,
                settings,
            },
        ] = effects.as_slice()
        else {
            panic!("{effects:?}")
        };
        assert_eq!((*session_id, key.as_str()), (row.id, "PROJ-103"));
        crate::session::save_settings(&store, *session_id, settings).unwrap();
        app.settings_saved(*session_id, key, settings);
        let stored = store.session(row.id).unwrap().unwrap().settings;
        assert_eq!(
            stored,
            serde_json::json!({"model": "gpt-6", "effort": "xhigh",
                "sandbox": "danger-full-access", "search": true})
        );
        assert_eq!(app.selected().unwrap().settings, stored);
        assert_eq!(
            app.message.as_ref().unwrap().text,
            "PROJ-103 session 3: model=gpt-6 effort=xhigh sandbox=danger-full-access search=on \
             (applies from the next resume)"
        );

        // Cycling the model offers the models the sessions use (gpt-5.5 is
        // no longer one); Esc discards.
        press(&mut app, "nl");
        let Mode::Settings(ed) = &app.mode else {
            panic!("editor open")
        };
        assert_eq!(ed.options("model"), vec!["default", "gpt-6", "o3"]);
        assert_eq!(ed.draft.model.as_deref(), Some("o3"));
        press(&mut app, "\u{1b}");
        assert_eq!(app.mode, Mode::List);
        assert_eq!(store.session(row.id).unwrap().unwrap().settings, stored);

        // A typed value goes through the same checks: an unknown effort.
        press(&mut app, "nje\u{8}\u{8}\u{8}\u{8}\u{8}extreme\n");
        let Mode::Settings(ed) = &app.mode else {
            panic!("editor open")
        };
        assert_eq!(
            ed.error.as_deref(),
            Some("effort cannot be \"extreme\" (one of: none, minimal, low, medium, high, xhigh)")
        );
    }

    #[test]
    fn a_reload_keeps_the_selected_session() {
        let (store, now) = fixture::store();
        let mut app = fixture::app(&store, now);
        press(&mut app, "jjj");
        assert_eq!(selected_key(&app), "PROJ-104");
        // PROJ-104's session finishes its wait: it moves to another group
        // and stays selected.
        let id = app.selected().unwrap().id;
        store.set_status(id, SessionStatus::Idle).unwrap();
        app.set_rows(fixture::rows(&store, now));
        assert_eq!(selected_key(&app), "PROJ-104");
        assert_eq!(app.count(Group::Idle), 6);
        // When it disappears, the cursor stays where it was.
        store.delete_session(id).unwrap();
        app.set_rows(fixture::rows(&store, now));
        assert!(app.selected().is_some());
    }

    #[test]
    fn filter_terms() {
        let hay = "proj-1\u{1}export csv\u{1}in progress\u{1}waiting";
        assert!(matches("", SessionStatus::Idle, hay));
        assert!(matches("EXPORT", SessionStatus::Idle, hay));
        assert!(matches("export proj-1", SessionStatus::Idle, hay));
        assert!(!matches("export pdf", SessionStatus::Idle, hay));
        assert!(matches("is:wait", SessionStatus::Waiting, hay));
        assert!(!matches("is:wait", SessionStatus::Running, hay));
        assert_eq!(one_line("a\n\tb\u{1b}[2J  c"), "a b c");
    }
}
