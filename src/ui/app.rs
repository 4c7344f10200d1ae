//! The dashboard's edge: the terminal, the event loop, the background
//! threads, and the effects keys ask for.
//!
//! Threads: the UI thread draws and reads keys, and never waits for the
//! network. A store thread reloads the sessions once a second (and when
//! asked) and loads the selected session's detail; a tickets thread asks
//! each tracker for its tickets' statuses in one batched search (cached,
//! as `csm list` does) and hands the answers to the store thread. A signal
//! thread turns SIGTERM/SIGHUP/SIGINT/SIGQUIT into a clean exit.
//!
//! The terminal is put back (raw mode off, main screen, cursor shown) on
//! every way out: `q`, an error, a signal, a panic (a hook runs before the
//! message prints), and around every program the dashboard hands the
//! terminal to (Codex, `csm done`).

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::{self, IsTerminal, Write};
use std::process::{Command, Stdio};
use std::sync::Once;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, TryRecvError};
use std::time::{Duration, Instant};

use crossterm::event::{self, Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use crossterm::{cursor, execute, terminal};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use ratatui::layout::Rect;
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::command_error::{CommandError, ExitKind};
use crate::context::Context;
use crate::output::{Output, sanitize};
use crate::session::{self, Freshness, SessionRow, TICKET_CACHE_TTL, TicketInfo};
use crate::store::{Store, now_ms};
use crate::tracker::{TicketKey, Tracker};
use crate::workflow::{self, CodexLauncher};

use super::data::{self, Loader};
use super::state::{App, Detail, Effect, Key, PendingTab, Tickets};
use super::view::{self, Theme};

/// How often the sessions are read again from the store.
const RELOAD_EVERY: Duration = Duration::from_secs(1);
/// The longest the UI thread sleeps waiting for a key (then it looks at
/// the background threads' news and the clock).
const INPUT_WAIT: Duration = Duration::from_millis(250);
/// How often the tickets thread looks whether the cache needs a search.
const TICKETS_EVERY: Duration = Duration::from_secs(10);
/// Background threads' names start with this (their panics are logged,
/// not drawn over the dashboard).
const WORKER: &str = "csm-ui-worker";

/// Whether the dashboard can run: stdin and stdout are a terminal.
pub fn can_run() -> bool {
    io::stdin().is_terminal() && io::stdout().is_terminal()
}

/// The dashboard holds the terminal (raw mode, alternate screen).
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// A program the dashboard handed the terminal to is running: Ctrl-C is
/// for it.
static HANDED_OVER: AtomicBool = AtomicBool::new(false);
/// The signal that asked the dashboard to end (0: none).
static QUIT_SIGNAL: AtomicI32 = AtomicI32::new(0);
static PANIC_HOOK: Once = Once::new();

fn enter_screen() -> io::Result<()> {
    terminal::enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    execute!(io::stdout(), terminal::EnterAlternateScreen, cursor::Hide)
}

/// Puts the terminal back, once, if the dashboard holds it.
fn leave_screen() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = terminal::disable_raw_mode();
        let _ = execute!(io::stdout(), cursor::Show, terminal::LeaveAlternateScreen);
    }
}

fn install_panic_hook() {
    PANIC_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let worker = std::thread::current()
                .name()
                .is_some_and(|n| n.starts_with(WORKER));
            if worker && ACTIVE.load(Ordering::SeqCst) {
                // The UI goes on (and says so); the message goes to the log.
                tracing::error!(%info, "a dashboard thread panicked");
                return;
            }
            leave_screen();
            previous(info);
        }));
    });
}

/// The terminal as the dashboard's while it lives.
struct Screen;

impl Screen {
    fn enter() -> io::Result<Screen> {
        install_panic_hook();
        if let Err(e) = enter_screen() {
            leave_screen();
            return Err(e);
        }
        Ok(Screen)
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        leave_screen();
    }
}

type Term = Terminal<CrosstermBackend<io::Stdout>>;

fn term_err(e: io::Error) -> CommandError {
    CommandError::failure(format!("terminal: {e}"))
}

/// News for the UI thread.
enum ToUi {
    Rows(Vec<SessionRow>),
    Pending(Vec<PendingTab>),
    Detail(Detail),
    Tickets(Tickets),
    Failed(String),
}

/// Requests for the store thread.
enum ToStore {
    Reload,
    Detail(i64),
    Tickets {
        tracker: String,
        found: std::collections::BTreeMap<String, TicketInfo>,
        freshness: Freshness,
    },
}

/// Requests for the tickets thread.
enum ToTickets {
    Refresh,
}

/// Runs the dashboard until the user quits.
pub fn run(ctx: &Context) -> Result<(), CommandError> {
    if !can_run() {
        return Err(
            CommandError::usage("csm ui needs a terminal on stdin and stdout")
                .hint("`csm list` prints the sessions (`--json` for scripts)"),
        );
    }
    // The first frame comes from the store and the ticket cache alone
    // (this connection then moves to the store thread).
    let store = ctx.open_store()?;
    let mut loader = Loader::new();
    let now = now_ms();
    let rows = loader.load(&store, now)?;
    let mut app = App::new(rows.clone(), now, ctx.home());
    app.tickets.refreshing = true;
    let theme = Theme::new(ctx.output.color_stdout);

    let (ui_tx, ui_rx) = mpsc::channel();
    let (store_tx, store_rx) = mpsc::channel();
    let (tickets_tx, tickets_rx) = mpsc::channel();
    let output = ctx.output;
    {
        let ui_tx = ui_tx.clone();
        spawn(&format!("{WORKER}-store"), move || {
            store_thread(output, store, loader, rows, &store_rx, &ui_tx)
        })?;
    }
    {
        let store_tx = store_tx.clone();
        spawn(&format!("{WORKER}-tickets"), move || {
            tickets_thread(output, &tickets_rx, &store_tx, &ui_tx)
        })?;
    }
    let mut signals = Signals::new([SIGTERM, SIGHUP, SIGINT, SIGQUIT])
        .map_err(|e| CommandError::failure(format!("cannot watch signals: {e}")))?;
    let signal_handle = signals.handle();
    spawn("csm-ui-signals", move || {
        for signal in signals.forever() {
            // Ctrl-C while a program has the terminal is that program's.
            if matches!(signal, SIGINT | SIGQUIT) && HANDED_OVER.load(Ordering::SeqCst) {
                continue;
            }
            QUIT_SIGNAL.store(signal, Ordering::SeqCst);
        }
    })?;

    let screen = Screen::enter().map_err(term_err)?;
    let result = Terminal::new(CrosstermBackend::new(io::stdout()))
        .map_err(term_err)
        .and_then(|mut terminal| {
            terminal.clear().map_err(term_err)?;
            let mut ui = Ui {
                ctx,
                app: &mut app,
                terminal: &mut terminal,
                theme,
                store_tx: &store_tx,
                tickets_tx: &tickets_tx,
            };
            ui.event_loop(&ui_rx)
        });
    drop(screen);
    signal_handle.close();
    result
}

fn spawn(name: &str, work: impl FnOnce() + Send + 'static) -> Result<(), CommandError> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(work)
        .map(|_| ())
        .map_err(|e| CommandError::failure(format!("cannot start a thread: {e}")))
}

/// What follows a key.
enum Flow {
    Go,
    Quit,
}

struct Ui<'a> {
    ctx: &'a Context,
    app: &'a mut App,
    terminal: &'a mut Term,
    theme: Theme,
    store_tx: &'a Sender<ToStore>,
    tickets_tx: &'a Sender<ToTickets>,
}

impl Ui<'_> {
    fn event_loop(&mut self, news: &Receiver<ToUi>) -> Result<(), CommandError> {
        let mut dirty = true;
        let mut ticked = Instant::now();
        let mut asked_detail = None;
        let mut workers_gone = false;
        loop {
            if let Some(stop) = quit_signal() {
                return Err(stop);
            }
            let selected = self.app.selected().map(|r| r.id);
            if selected.is_some() && selected != asked_detail {
                asked_detail = selected;
                let _ = self
                    .store_tx
                    .send(ToStore::Detail(selected.unwrap_or_default()));
            }
            if dirty {
                self.draw()?;
                dirty = false;
            }
            if event::poll(INPUT_WAIT).map_err(term_err)? {
                match event::read().map_err(term_err)? {
                    TermEvent::Key(k) => {
                        if let Some(key) = key_of(k) {
                            dirty = true;
                            if let Some(effect) = self.app.on_key(key)
                                && let Flow::Quit = self.perform(effect)?
                            {
                                return Ok(());
                            }
                        }
                    }
                    TermEvent::Resize(..) => dirty = true,
                    _ => {}
                }
            }
            loop {
                match news.try_recv() {
                    Ok(msg) => {
                        dirty = true;
                        match msg {
                            ToUi::Rows(rows) => self.app.set_rows(rows),
                            ToUi::Pending(p) => self.app.set_pending(p),
                            ToUi::Detail(d) => self.app.set_detail(d),
                            ToUi::Tickets(t) => self.app.set_tickets(t),
                            ToUi::Failed(e) => self.app.fail(e),
                        }
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        if !workers_gone {
                            workers_gone = true;
                            dirty = true;
                            self.app.fail(
                                "the background refresh stopped (see the log); restart csm ui",
                            );
                        }
                        break;
                    }
                }
            }
            if ticked.elapsed() >= RELOAD_EVERY {
                ticked = Instant::now();
                self.app.set_now(now_ms());
                dirty = true;
            }
        }
    }

    fn draw(&mut self) -> Result<(), CommandError> {
        let size = self.terminal.size().map_err(term_err)?;
        self.app.set_viewport(view::list_viewport(
            Rect::new(0, 0, size.width, size.height),
            self.app,
        ));
        let (app, theme) = (&*self.app, &self.theme);
        self.terminal
            .draw(|f| view::draw(f, app, theme))
            .map_err(term_err)?;
        Ok(())
    }

    /// Hands the terminal to `work` (a program that draws or asks
    /// itself), then takes it back with everything redrawn and reloaded.
    fn handed_over<T>(&mut self, work: impl FnOnce() -> T) -> Result<T, CommandError> {
        leave_screen();
        HANDED_OVER.store(true, Ordering::SeqCst);
        let out = work();
        HANDED_OVER.store(false, Ordering::SeqCst);
        if QUIT_SIGNAL.load(Ordering::SeqCst) == 0 {
            enter_screen().map_err(term_err)?;
            self.terminal.clear().map_err(term_err)?;
        }
        let _ = self.store_tx.send(ToStore::Reload);
        Ok(out)
    }

    fn perform(&mut self, effect: Effect) -> Result<Flow, CommandError> {
        let output = self.ctx.output;
        match effect {
            Effect::Quit => return Ok(Flow::Quit),
            Effect::Redraw => self.terminal.clear().map_err(term_err)?,
            Effect::Suspend => {
                leave_screen();
                // SAFETY: raise only sends a signal to this process.
                unsafe {
                    libc::raise(libc::SIGTSTP);
                }
                enter_screen().map_err(term_err)?;
                self.terminal.clear().map_err(term_err)?;
            }
            Effect::Refresh => {
                let _ = self.tickets_tx.send(ToTickets::Refresh);
                let _ = self.store_tx.send(ToStore::Reload);
            }
            Effect::SaveSettings {
                session_id,
                key,
                settings,
            } => {
                let saved = self.ctx.store().and_then(|store| {
                    session::save_settings(store, session_id, &settings).map_err(Into::into)
                });
                match saved {
                    Ok(()) => {
                        self.app.settings_saved(session_id, &key, &settings);
                        let _ = self.store_tx.send(ToStore::Reload);
                    }
                    Err(e) => self.app.fail(describe(&e)),
                }
            }
            Effect::ApproveTab { id, key } => {
                let approved = self.ctx.store().and_then(|store| {
                    let env = self.ctx.tabs_environment()?;
                    crate::tabs::approve(store, &env, id, "csm ui").map_err(CommandError::from)
                });
                match approved {
                    Ok(tab) if tab.state == crate::tabs::record::State::Failed => {
                        self.app.fail(format!(
                            "{key}: tab {id} was approved but could not start: {}",
                            tab.reason.as_deref().unwrap_or("unknown error")
                        ));
                    }
                    Ok(tab) => {
                        let place = tab
                            .started
                            .as_ref()
                            .map(|s| s.describe())
                            .unwrap_or_default();
                        self.app.info(format!(
                            "{key}: started tab {id}: {} ({place})",
                            tab.command_line()
                        ));
                    }
                    Err(e) => self.app.fail(describe(&e)),
                }
                let _ = self.store_tx.send(ToStore::Reload);
            }
            Effect::DenyTab { id, key } => {
                let denied = self.ctx.store().and_then(|store| {
                    crate::tabs::deny(store, id, "csm ui").map_err(CommandError::from)
                });
                match denied {
                    Ok(tab) => self
                        .app
                        .info(format!("{key}: denied tab {id}: {}", tab.command_line())),
                    Err(e) => self.app.fail(describe(&e)),
                }
                let _ = self.store_tx.send(ToStore::Reload);
            }
            Effect::Open { tracker, key } => match open_ticket(&tracker, &key) {
                Ok(target) => self.app.info(format!("Opened {target}")),
                Err(e) => self.app.fail(describe(&e)),
            },
            Effect::Resume { session_id, key } => {
                let outcome = self.handed_over(|| resume_flow(output, session_id))?;
                match outcome {
                    Ok(code) => self.codex_exited(&key, code),
                    Err(e) => self.app.fail(describe(&e)),
                }
            }
            Effect::Start { key } => {
                let outcome = self.handed_over(|| start_flow(output, key.clone()))?;
                match outcome {
                    Ok(code) => self.codex_exited(key.as_str(), code),
                    Err(e) => self.app.fail(describe(&e)),
                }
                self.app.tickets.refreshing = true;
                let _ = self.tickets_tx.send(ToTickets::Refresh);
            }
            Effect::Done { key } => {
                let outcome = self.handed_over(|| done_flow(output, &key))?;
                match outcome {
                    Ok(message) => self.app.info(message),
                    Err(e) => self.app.fail(describe(&e)),
                }
                self.app.tickets.refreshing = true;
                let _ = self.tickets_tx.send(ToTickets::Refresh);
            }
        }
        Ok(Flow::Go)
    }

    fn codex_exited(&mut self, key: &str, code: i32) {
        if code == 0 {
            self.app.info(format!("{key}: Codex exited"));
        } else {
            self.app
                .fail(format!("{key}: codex exited with status {code}"));
        }
    }
}

/// A failure in one line: the message, then its first hint.
fn describe(e: &CommandError) -> String {
    match e.hints.first() {
        Some(h) => format!("{} ({h})", e.message),
        None => e.message.clone(),
    }
}

fn quit_signal() -> Option<CommandError> {
    let signal = QUIT_SIGNAL.load(Ordering::SeqCst);
    (signal != 0).then(|| {
        CommandError::new(
            ExitKind::Child(u8::try_from(128 + signal).unwrap_or(1)),
            format!("csm ui stopped by signal {signal}"),
        )
    })
}

fn key_of(k: KeyEvent) -> Option<Key> {
    if k.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = k.modifiers.contains(KeyModifiers::CONTROL);
    Some(match k.code {
        KeyCode::Char(c) if ctrl => Key::Ctrl(c.to_ascii_lowercase()),
        KeyCode::Char(c) => Key::Char(c),
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::Left => Key::Left,
        KeyCode::Right => Key::Right,
        KeyCode::PageUp => Key::PageUp,
        KeyCode::PageDown => Key::PageDown,
        KeyCode::Home => Key::Home,
        KeyCode::End => Key::End,
        KeyCode::Enter => Key::Enter,
        KeyCode::Esc => Key::Esc,
        KeyCode::Tab => Key::Tab,
        KeyCode::Backspace => Key::Backspace,
        _ => return None,
    })
}

/// A fresh context for one workflow run from the dashboard, as a `csm`
/// command would have (resume's short tracker wait stays with it).
fn fresh(output: Output) -> Result<Context, CommandError> {
    Context::new(output)
}

/// The selected session resumed: [`workflow::resume::run`], as `csm
/// resume` runs it; Codex's exit code.
fn resume_flow(output: Output, session_id: i64) -> Result<i32, CommandError> {
    let ctx = fresh(output)?;
    let store = ctx.store()?;
    let session = store.session(session_id)?.ok_or_else(|| {
        CommandError::new(ExitKind::NotFound, "the session is no longer in the store")
    })?;
    let key = TicketKey::parse(&session.ticket_key)?;
    resume_session(&ctx, &key, &session)
}

fn resume_session(
    ctx: &Context,
    key: &TicketKey,
    session: &crate::store::Session,
) -> Result<i32, CommandError> {
    let ask = crate::codex::thread::Unarchive::Ask;
    match workflow::resume::run(ctx, key, session, false, ask, &CodexLauncher)? {
        workflow::resume::Outcome::Ran(exit) => Ok(exit.code()),
        workflow::resume::Outcome::DryRun { .. } => Ok(0),
    }
}

/// `s`: [`workflow::start::run`] with the defaults, as `csm start KEY`
/// runs it (a ticket with a session offers to resume it); Codex's exit
/// code.
fn start_flow(output: Output, key: TicketKey) -> Result<i32, CommandError> {
    use workflow::start::{Outcome, Request};
    let ctx = fresh(output)?;
    match workflow::start::run(&ctx, &Request::new(key.clone()), &CodexLauncher)? {
        Outcome::Ran { exit, .. } => Ok(exit.code()),
        Outcome::DryRun { .. } => Ok(0),
        Outcome::HasSession(last) => {
            if ask_default_yes(&format!("{key} already has a session. Resume it? [Y/n] "))? {
                resume_session(&ctx, &key, &last)
            } else {
                Err(workflow::start::has_session(&key, &last))
            }
        }
    }
}

/// `d`: [`workflow::done::run`] as a dry run (the note and what would
/// happen are shown), a y/N question, then the real run: what `csm done
/// KEY --dry-run` and `csm done KEY` do, in this process.
fn done_flow(output: Output, key: &str) -> Result<String, CommandError> {
    use workflow::done::{Outcome, Request};
    let key = TicketKey::parse(key)?;
    let mut request = Request::new(key.clone());
    request.dry_run = true;
    println!("Finishing {key}: the note first, nothing is posted yet.");
    let preview = fresh(output).and_then(|ctx| workflow::done::run(&ctx, &request));
    match preview {
        Ok(Outcome::Preview { notes, actions }) => {
            for note in notes {
                println!("{note}");
                println!("---");
            }
            for line in actions {
                println!("{line}");
            }
        }
        Ok(_) => {}
        Err(e) => {
            eprint!("{}", e.render(&output));
            pause()?;
            return Err(CommandError::failure(format!(
                "{key}: {}; nothing was posted",
                e.message
            )));
        }
    }
    if !ask(&format!("Post this and finish {key}? [y/N] "))? {
        return Ok(format!("{key}: done cancelled, nothing posted"));
    }
    request.dry_run = false;
    let result = fresh(output).and_then(|ctx| workflow::done::run(&ctx, &request));
    if let Err(e) = &result {
        eprint!("{}", e.render(&output));
    }
    pause()?;
    result.map(|_| format!("{key} is done"))
}

fn read_answer() -> Result<String, CommandError> {
    let _ = io::stdout().flush();
    let mut answer = String::new();
    io::stdin()
        .read_line(&mut answer)
        .map_err(|e| CommandError::failure(format!("cannot read the answer: {e}")))?;
    Ok(answer)
}

fn ask(question: &str) -> Result<bool, CommandError> {
    print!("{question}");
    let answer = read_answer()?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes"))
}

fn ask_default_yes(question: &str) -> Result<bool, CommandError> {
    print!("{question}");
    let answer = read_answer()?;
    Ok(!answer.trim().eq_ignore_ascii_case("n"))
}

fn pause() -> Result<(), CommandError> {
    print!("Press Enter to return to the dashboard. ");
    read_answer().map(|_| ())
}

/// The program that opens `target`: the first command of `$BROWSER` (a
/// colon-separated list; `%s` stands for the target, else it is
/// appended), else `xdg-open` (`open` on macOS). An argv, never a shell
/// line.
pub fn opener(target: &str, browser: Option<&str>) -> Vec<OsString> {
    let command = browser.and_then(|b| b.split(':').find(|c| !c.trim().is_empty()));
    match command {
        Some(command) => {
            let mut argv: Vec<OsString> = Vec::new();
            let mut placed = false;
            for word in command.split_whitespace() {
                if word.contains("%s") {
                    placed = true;
                    argv.push(word.replace("%s", target).into());
                } else {
                    argv.push(word.into());
                }
            }
            if !placed {
                argv.push(target.into());
            }
            argv
        }
        None => {
            let program = if cfg!(target_os = "macos") {
                "open"
            } else {
                "xdg-open"
            };
            vec![program.into(), target.into()]
        }
    }
}

/// Opens a ticket's page (Jira) or file (local tracker) without waiting.
fn open_ticket(tracker: &str, key: &str) -> Result<String, CommandError> {
    let key = TicketKey::parse(key)?;
    let target = crate::tracker::ticket_location(tracker, &key).ok_or_else(|| {
        CommandError::failure(format!(
            "cannot tell where {key} lives (tracker {})",
            sanitize(tracker)
        ))
    })?;
    let browser = crate::context::env_var("BROWSER");
    let argv = opener(&target, browser.as_deref());
    let Some((program, args)) = argv.split_first() else {
        return Err(CommandError::failure("no program to open the ticket with"));
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| {
            CommandError::failure(format!("cannot run {}: {e}", program.to_string_lossy()))
                .hint("set $BROWSER to the program that opens links")
        })?;
    // Reaped in the background: a browser may run for a long time.
    let _ = std::thread::Builder::new()
        .name("csm-ui-opener".into())
        .spawn(move || child.wait());
    Ok(target)
}

/// The store thread: reloads the sessions every second (or when asked),
/// merges the trackers' answers, and loads the selected session's detail
/// whenever it changes.
fn store_thread(
    output: Output,
    store: Store,
    mut loader: Loader,
    mut last: Vec<SessionRow>,
    requests: &Receiver<ToStore>,
    ui: &Sender<ToUi>,
) {
    let ctx = Context::new(output).ok();
    let codex_home = ctx.as_ref().and_then(|c| c.codex_home().ok());
    let mut wanted: Option<i64> = None;
    let mut sent = HashMap::new();
    let mut last_pending: Vec<PendingTab> = Vec::new();
    let mut next = Instant::now() + RELOAD_EVERY;
    loop {
        let reload = match requests.recv_timeout(next.saturating_duration_since(Instant::now())) {
            Ok(ToStore::Reload) => true,
            Ok(ToStore::Detail(id)) => {
                wanted = Some(id);
                false
            }
            Ok(ToStore::Tickets {
                tracker,
                found,
                freshness,
            }) => {
                loader.set_tickets(&tracker, found, &freshness);
                true
            }
            Err(RecvTimeoutError::Timeout) => {
                next = Instant::now() + RELOAD_EVERY;
                true
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        if reload {
            match loader.load(&store, now_ms()) {
                Ok(rows) if rows != last => {
                    last = rows.clone();
                    if ui.send(ToUi::Rows(rows)).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    let _ = ui.send(ToUi::Failed(e.to_string()));
                }
            }
            match loader.pending_tabs(&store) {
                Ok(pending) if pending != last_pending => {
                    last_pending = pending.clone();
                    if ui.send(ToUi::Pending(pending)).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    let _ = ui.send(ToUi::Failed(e.to_string()));
                }
            }
        }
        let Some(session) = wanted.and_then(|id| loader.session(id)) else {
            continue;
        };
        let stamp = data::detail_stamp(session);
        if sent.get(&session.id) == Some(&stamp) {
            continue;
        }
        let command = match (&ctx, TicketKey::parse(&session.ticket_key)) {
            (Some(ctx), Ok(key)) => workflow::resume::command_for(ctx, &key, session, None, true)
                .map(|c| c.to_string())
                .map_err(|e| describe(&e)),
            (_, Err(e)) => Err(e.to_string()),
            (None, _) => Err("cannot read the current folder".into()),
        };
        match data::load_detail(&store, session, codex_home.as_deref(), command) {
            Ok(detail) => {
                sent.insert(session.id, stamp);
                if ui.send(ToUi::Detail(detail)).is_err() {
                    return;
                }
            }
            Err(e) => {
                let _ = ui.send(ToUi::Failed(e.to_string()));
            }
        }
    }
}

/// The tickets thread: one batched search per tracker (answered from the
/// cache while it is fresh), at start, every few seconds if the cache has
/// aged or new tickets appeared, and at once when asked.
fn tickets_thread(
    output: Output,
    requests: &Receiver<ToTickets>,
    store_thread: &Sender<ToStore>,
    ui: &Sender<ToUi>,
) {
    let opened = Context::new(output).and_then(|ctx| {
        let store = ctx.open_store()?;
        Ok((ctx, store))
    });
    let (ctx, store) = match opened {
        Ok(x) => x,
        Err(e) => {
            let _ = ui.send(ToUi::Tickets(Tickets {
                refreshing: false,
                offline: Some(describe(&e)),
                fetched_at: None,
            }));
            return;
        }
    };
    // Opening a tracker may ask the keyring or run a token command: once.
    let mut trackers: HashMap<String, Result<Box<dyn Tracker>, Option<String>>> = HashMap::new();
    let mut force = false;
    loop {
        let sessions = store
            .sessions_shown(data::day_start_ms(now_ms()))
            .unwrap_or_default();
        let mut problem = None;
        let mut fetched_at: Option<i64> = None;
        for (tracker_id, keys) in session::keys_by_tracker(&sessions) {
            let tracker = trackers.entry(tracker_id.clone()).or_insert_with(|| {
                match ctx.tracker_by_id(&tracker_id) {
                    Ok(Some(t)) => Ok(t),
                    // Another site's tickets: their snapshot is shown.
                    Ok(None) => Err(None),
                    Err(e) => Err(Some(describe(&e))),
                }
            });
            let tracker = match tracker {
                Ok(t) => t,
                Err(e) => {
                    problem = problem.or(e.clone());
                    continue;
                }
            };
            let ttl = if force {
                Duration::ZERO
            } else {
                TICKET_CACHE_TTL
            };
            match session::ticket_infos(&store, tracker.as_ref(), &keys, ttl, now_ms()) {
                Ok((found, freshness)) => {
                    match &freshness {
                        Freshness::Offline(reason) => {
                            problem = problem.or(Some(sanitize(reason)));
                        }
                        _ => {
                            let at = session::cached_ticket_infos(&store, &tracker_id)
                                .map(|(_, at)| at)
                                .unwrap_or_else(|_| now_ms());
                            fetched_at = Some(fetched_at.map_or(at, |f| f.min(at)));
                        }
                    }
                    let sent = store_thread.send(ToStore::Tickets {
                        tracker: tracker_id,
                        found,
                        freshness,
                    });
                    if sent.is_err() {
                        return;
                    }
                }
                Err(e) => problem = problem.or(Some(e.to_string())),
            }
        }
        let news = ToUi::Tickets(Tickets {
            refreshing: false,
            offline: problem,
            fetched_at,
        });
        if ui.send(news).is_err() {
            return;
        }
        force = match requests.recv_timeout(TICKETS_EVERY) {
            Ok(ToTickets::Refresh) => true,
            Err(RecvTimeoutError::Timeout) => false,
            Err(RecvTimeoutError::Disconnected) => return,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(v: Vec<OsString>) -> Vec<String> {
        v.into_iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn opener_uses_browser_then_the_platform() {
        let url = "https://jira.example.com/browse/PROJ-1";
        assert_eq!(
            strings(opener(url, Some("firefox --new-tab"))),
            vec!["firefox", "--new-tab", url]
        );
        assert_eq!(
            strings(opener(url, Some(":w3m -o x=%s:lynx"))),
            vec!["w3m", "-o", &format!("x={url}")]
        );
        let default = strings(opener(url, None));
        assert_eq!(default[1], url);
        assert_eq!(strings(opener(url, Some(""))), default);
        // No shell: metacharacters stay in one argument.
        assert_eq!(
            strings(opener("/tmp/a b;rm -rf x.md", Some("cat"))),
            vec!["cat", "/tmp/a b;rm -rf x.md"]
        );
    }

    #[test]
    fn terminal_keys_become_dashboard_keys() {
        let k = |code, modifiers| KeyEvent::new(code, modifiers);
        assert_eq!(
            key_of(k(KeyCode::Char('c'), KeyModifiers::CONTROL)),
            Some(Key::Ctrl('c'))
        );
        assert_eq!(
            key_of(k(KeyCode::Char('G'), KeyModifiers::SHIFT)),
            Some(Key::Char('G'))
        );
        assert_eq!(key_of(k(KeyCode::F(1), KeyModifiers::NONE)), None);
        let mut release = k(KeyCode::Enter, KeyModifiers::NONE);
        release.kind = KeyEventKind::Release;
        assert_eq!(key_of(release), None);
    }
}
