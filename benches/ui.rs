//! The dashboard with 1,000 sessions stays interactive (goal: one frame
//! plus one filter keystroke ≤ 5 ms): the state and the view as `csm ui`
//! runs them, drawn into a 120x40 `TestBackend` (no terminal I/O), against
//! a frame of the empty dashboard from the same run.
//!
//! Run with `cargo bench --bench ui`; figures go to BENCHMARKS.md.

mod common;

use std::time::{Duration, Instant};

use common::{report, verdict};

use csm::store::{NewSession, SessionStatus, Store, now_ms};
use csm::ui::data::{self, Loader};
use csm::ui::state::{App, Key};
use csm::ui::view::{self, Theme};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::layout::Rect;

const SESSIONS: usize = 1_000;
const RUNS: usize = 300;

fn fixture() -> App {
    let store = Store::open_in_memory().expect("store");
    let statuses = [
        SessionStatus::Running,
        SessionStatus::Waiting,
        SessionStatus::Idle,
        SessionStatus::Idle,
        SessionStatus::New,
    ];
    for i in 0..SESSIONS {
        let id = store
            .insert_session(&NewSession {
                ticket_key: format!("PROJ-{}", i + 1),
                tracker: "jira:https://jira.example.com".into(),
                folder: format!("/home/ana/src/project-{}", i % 37).into(),
                settings: serde_json::json!({"model": "gpt-5.5", "effort": "high"}),
                branch: Some(format!("proj-{i}")),
                ticket_snapshot: Some(serde_json::json!({
                    "summary": format!("Ticket number {i} with a realistic summary"),
                    "status": "In Progress",
                    "acceptance_criteria": ["it works", "it is documented", "it is tested"],
                })),
                ..NewSession::default()
            })
            .expect("session");
        store
            .set_status(id, statuses[i % statuses.len()])
            .expect("status");
        store
            .add_event(
                id,
                &csm::event::SessionEvent::from_row("turn-complete",
                &serde_json::json!({"last_assistant_message": "Done with the first step; next, the tests."})),
            )
            .expect("event");
    }
    let now = now_ms();
    let rows = Loader::new().load(&store, now).expect("load");
    let mut app = App::new(rows, now, Some("/home/ana".into()));
    let selected = app.selected().expect("a row").id;
    let session = store.session(selected).expect("read").expect("session");
    app.set_detail(
        data::load_detail(
            &store,
            &session,
            None,
            Ok("cd /x && codex resume id".into()),
        )
        .expect("detail"),
    );
    app
}

/// Median and p90 per frame of `runs` runs of `f`, which draws `frames`.
fn measure(runs: usize, frames: u32, mut f: impl FnMut()) -> (Duration, Duration) {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed() / frames
        })
        .collect();
    times.sort();
    (times[runs / 2], times[runs * 9 / 10])
}

fn main() {
    let theme = Theme::new(true);
    let area = Rect::new(0, 0, 120, 40);
    let mut terminal = Terminal::new(TestBackend::new(120, 40)).expect("terminal");
    let mut frame = |app: &mut App| {
        app.set_viewport(view::list_viewport(area, app));
        terminal.draw(|f| view::draw(f, app, &theme)).expect("draw");
    };

    let mut empty = App::new(Vec::new(), now_ms(), None);
    let baseline = measure(RUNS, 1, || frame(&mut empty));

    let mut app = fixture();
    let still = measure(RUNS, 1, || frame(&mut app));

    // Typing in the filter: each keystroke re-filters the 1,000 rows and
    // draws; one type-and-erase pair is two frames.
    app.on_key(Key::Char('/'));
    app.on_key(Key::Char('1'));
    let typing = measure(RUNS, 2, || {
        app.on_key(Key::Char('2'));
        frame(&mut app);
        app.on_key(Key::Backspace);
        frame(&mut app);
    });
    // Moving the selection down the list, as a held j does.
    app.on_key(Key::Esc);
    let moving = measure(RUNS, 1, || {
        app.on_key(Key::Down);
        frame(&mut app);
    });

    report("empty dashboard frame (baseline)", baseline, baseline);
    report("frame, 1,000 sessions", still, baseline);
    report("filter keystroke + frame, 1,000", typing, baseline);
    report("j + frame, 1,000 sessions", moving, baseline);
    println!(
        "goal: filter keystroke + frame ≤ 5 ms → {}",
        verdict(typing.0 <= Duration::from_millis(5))
    );
}
