//! Live sessions: while the real pinned Codex runs a session csm started
//! (in a real terminal), ticket changes on the fake Jira reach Codex's
//! thread through `codex queue`; and each ticket's token usage, from the
//! rollouts, in `show` and `list`.

use std::time::{Duration, Instant};

use csm::store::Store;
use serde_json::{Value, json};

use crate::start_resume::{CODEX_START, csm_line, quit_codex};
use crate::support::env::{TestEnv, write_script};
use crate::support::fake_jira::{FakeJira, Mode, TOKEN};
use crate::support::mock_model::{
    MockModel, Reply, USAGE_CACHED, USAGE_INPUT, USAGE_OUTPUT, USAGE_REASONING, codex_bin,
};
use crate::support::tmux::Tmux;

/// The watch interval the tests use.
const WATCH_SECS: u64 = 2;

/// How long a change may take to reach the model: the interval and 10 s.
const TOLD_WITHIN: Duration = Duration::from_secs(WATCH_SECS + 10);

struct Live {
    fake: FakeJira,
    env: TestEnv,
    model: MockModel,
    tmux: Tmux,
}

impl Live {
    /// PROJ-1 on the fake Jira, Codex pointed at the mock, watching every
    /// [`WATCH_SECS`], and `extra` in the user config.
    fn new(extra: &str) -> Live {
        let fake = FakeJira::start(Mode::Cloud);
        fake.add_issue(
            "PROJ-1",
            "Export sessions as CSV",
            "Users want a spreadsheet.",
            &["csm list --csv prints CSV", "one row per session"],
        );
        let mut env = TestEnv::new();
        let model = MockModel::start();
        model.write_codex_config(&env.codex_home(), "");
        env.set_env("CSM_CODEX_BIN", codex_bin());
        env.set_env("CSM_JIRA_TOKEN", TOKEN);
        env.set_env("CSM_WATCH_SECS", WATCH_SECS.to_string());
        for (k, v) in MockModel::hermetic_env() {
            env.set_env(k, v);
        }
        env.set_env("TERM", "xterm-256color");
        env.write_user_config(&format!(
            "{}[codex]\nargs = [\"--no-daemon\"]\n{extra}",
            fake.csm_config("PROJ")
        ));
        let tmux = env.terminal(120, 40);
        Live {
            fake,
            env,
            model,
            tmux,
        }
    }

    /// `csm start PROJ-1`, until the first turn is answered and recorded;
    /// returns the Codex thread id.
    fn start(&self) -> String {
        self.model.push_text("Plan: add a --csv flag.");
        csm_line(&self.tmux, self.env.work(), "start PROJ-1");
        self.tmux.wait_for_within("the answer", CODEX_START, |s| {
            s.contains("Plan: add a --csv flag")
        });
        let deadline = Instant::now() + CODEX_START;
        loop {
            let store = Store::open(&self.env.store_file()).unwrap();
            let s = store.sessions_for_ticket("PROJ-1").unwrap().remove(0);
            let turned = store.latest_event(s.id, "turn-complete").unwrap().is_some();
            if let (Some(id), true) = (s.codex_session_id, turned) {
                return id;
            }
            assert!(Instant::now() < deadline, "{}", self.tmux.screen());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The `ticket-changed` events of the ticket's session.
    fn told(&self) -> Vec<Value> {
        let store = Store::open(&self.env.store_file()).unwrap();
        let s = store.sessions_for_ticket("PROJ-1").unwrap().remove(0);
        store
            .events_with_prefix(s.id, "ticket-changed")
            .unwrap()
            .into_iter()
            .map(|e| e.data)
            .collect()
    }

    /// The thread ids of every rollout Codex wrote.
    fn threads(&self) -> Vec<String> {
        let mut ids = Vec::new();
        let mut stack = vec![self.env.codex_home().join("sessions")];
        while let Some(dir) = stack.pop() {
            for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if let Some(meta) = csm::codex::rollout::read_meta(&p) {
                    ids.push(meta.id);
                }
            }
        }
        ids
    }
}

fn add_criterion(fake: &FakeJira, criterion: &str) {
    fake.edit("PROJ-1", |i| {
        i.ac = csm::tracker::jira::adf::from_markdown(&format!(
            "- csm list --csv prints CSV\n- one row per session\n- {criterion}"
        ));
    });
}

#[test]
fn a_criterion_added_while_codex_runs_reaches_its_thread_once() {
    let live = Live::new("");
    let id = live.start();

    live.model.push_text("Adding the header row now.");
    add_criterion(&live.fake, "a header row names the columns");
    let turns = live.model.wait_for_turns(2, TOLD_WITHIN);
    let told = &turns[1];
    assert_eq!(told.headers.get("session-id"), Some(&id), "same thread");
    let user = told.texts("user");
    let last = user.last().unwrap();
    assert!(last.contains("While you work on ticket PROJ-1"), "{last}");
    assert!(last.contains("a header row names the columns"), "{last}");
    assert!(!last.contains("moved from"), "no stale status news: {last}");
    assert!(
        user.iter()
            .any(|u| u.contains("1. csm list --csv prints CSV")),
        "the thread's history: {user:?}"
    );
    live.tmux
        .wait_for_within("the answer to the news", CODEX_START, |s| {
            s.contains("Adding the header row now")
        });

    // Recorded once, with what was sent; no second thread; not sent again.
    std::thread::sleep(Duration::from_secs(WATCH_SECS * 2 + 1));
    assert_eq!(live.model.turns().len(), 2, "told once");
    let events = live.told();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["mode"], "queue");
    assert!(
        events[0]["message"]
            .as_str()
            .unwrap()
            .contains("a header row names the columns"),
        "{events:?}"
    );
    assert_eq!(live.threads(), vec![id.clone()]);
    let shown = live.env.run(&["show", "PROJ-1"]).ok().stdout;
    assert!(shown.contains("ticket changes told to Codex:"), "{shown}");
    assert!(shown.contains("queued: 1 new criterion"), "{shown}");
    quit_codex(&live.tmux);

    // `resume` has no news left to tell.
    let resume = live.env.run(&["resume", "PROJ-1", "--dry-run"]).ok().stdout;
    assert!(!resume.contains("header row"), "told again: {resume}");
    assert!(!resume.contains("changed"), "{resume}");

    // The thread's usage: the sum of the last token_count totals, and the
    // mock's usage once per turn.
    let shown: Value =
        serde_json::from_str(&live.env.run(&["show", "PROJ-1", "--json"]).ok().stdout).unwrap();
    let path = csm::codex::rollout::find(&live.env.codex_home(), &id).unwrap();
    let last_totals = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .rfind(|v| v["payload"]["type"] == "token_count")
        .unwrap()["payload"]["info"]["total_token_usage"]
        .clone();
    let usage = &shown["usage"];
    for k in [
        "input_tokens",
        "cached_input_tokens",
        "output_tokens",
        "reasoning_output_tokens",
    ] {
        assert_eq!(usage[k], last_totals[k], "{k}: {usage} vs {last_totals}");
    }
    assert_eq!(usage["input_tokens"], json!(2 * USAGE_INPUT), "{usage}");
    assert_eq!(usage["cached_input_tokens"], json!(2 * USAGE_CACHED));
    assert_eq!(usage["output_tokens"], json!(2 * USAGE_OUTPUT));
    assert_eq!(usage["reasoning_output_tokens"], json!(2 * USAGE_REASONING));
    assert_eq!(usage["turns"], json!(2));
    assert_eq!(shown["sessions"][0]["usage"], *usage);
    let list: Value = serde_json::from_str(&live.env.run(&["list", "--json"]).ok().stdout).unwrap();
    assert_eq!(list[0]["usage"], *usage, "{list}");
}

#[test]
fn a_new_comment_and_a_move_to_done_reach_the_thread() {
    let live = Live::new("");
    let id = live.start();

    live.model.push_text("I will use the existing limiter.");
    live.fake.edit("PROJ-1", |i| {
        i.comments.push(json!({
            "id": "900",
            "body": csm::tracker::jira::adf::from_markdown("Use the existing rate limiter."),
            "author": {"displayName": "Rita Reviewer"},
            "created": "2026-12-03T08:00:00.000+0000"
        }));
    });
    let turns = live.model.wait_for_turns(2, TOLD_WITHIN);
    assert_eq!(turns[1].headers.get("session-id"), Some(&id));
    let last = turns[1].texts("user").last().cloned().unwrap();
    assert!(
        last.contains("Rita Reviewer: Use the existing rate limiter."),
        "{last}"
    );
    live.tmux.wait_for_within("the answer", CODEX_START, |s| {
        s.contains("existing limiter")
    });

    // Someone else moves the ticket to Done: Codex hears of that too.
    live.model.push_text("The ticket is done; stopping.");
    live.fake.edit("PROJ-1", |i| i.status = "Done".into());
    let turns = live.model.wait_for_turns(3, TOLD_WITHIN);
    assert_eq!(turns[2].headers.get("session-id"), Some(&id));
    let last = turns[2].texts("user").last().cloned().unwrap();
    assert!(last.contains("to \"Done\""), "{last}");
    assert!(
        !last.contains("Rita"),
        "the comment is not told twice: {last}"
    );
    assert_eq!(live.told().len(), 2);
    assert_eq!(live.threads(), vec![id]);
    live.tmux
        .wait_for_within("the answer", CODEX_START, |s| s.contains("stopping"));
    quit_codex(&live.tmux);
}

#[test]
fn with_live_off_nothing_is_sent() {
    let live = Live::new("[workflow]\nlive = \"off\"\n");
    live.start();
    add_criterion(&live.fake, "a header row names the columns");
    live.fake.edit("PROJ-1", |i| {
        i.comments.push(json!({
            "id": "901", "body": csm::tracker::jira::adf::from_markdown("A comment."),
            "author": {"displayName": "Rita Reviewer"}, "created": "2026-12-03T08:00:00.000+0000"
        }));
    });
    std::thread::sleep(Duration::from_secs(WATCH_SECS * 3 + 2));
    assert_eq!(live.model.turns().len(), 1, "nothing sent");
    assert!(live.told().is_empty());
    quit_codex(&live.tmux);
    // The news waits for `resume`.
    let resume = live.env.run(&["resume", "PROJ-1", "--dry-run"]).ok().stdout;
    assert!(
        resume.contains("a header row names the columns"),
        "{resume}"
    );
}

#[test]
fn changes_during_a_running_turn_go_out_as_one_message() {
    let live = Live::new("");
    let id = live.start();

    // A long turn: the user asks for more, the model takes its time.
    live.model.push(Reply::Slow(
        Duration::from_secs(WATCH_SECS * 3 + 4),
        "Done with the long step.".into(),
    ));
    live.model.push_text("Taking both changes into account.");
    live.tmux.type_text("Please carry on with the export.");
    std::thread::sleep(Duration::from_millis(300));
    live.tmux.press("Enter");
    live.model.wait_for_turns(2, CODEX_START);

    // Two changes while it runs, a check apart.
    add_criterion(&live.fake, "a header row names the columns");
    std::thread::sleep(Duration::from_secs(WATCH_SECS + 1));
    live.fake.edit("PROJ-1", |i| {
        i.comments.push(json!({
            "id": "902", "body": csm::tracker::jira::adf::from_markdown("Quote fields with commas."),
            "author": {"displayName": "Rita Reviewer"}, "created": "2026-12-03T08:00:00.000+0000"
        }));
    });
    assert_eq!(live.model.turns().len(), 2, "nothing sent during the turn");

    let turns = live
        .model
        .wait_for_turns(3, Duration::from_secs(WATCH_SECS * 3 + 4) + TOLD_WITHIN);
    assert_eq!(turns[2].headers.get("session-id"), Some(&id));
    let last = turns[2].texts("user").last().cloned().unwrap();
    assert!(last.contains("a header row names the columns"), "{last}");
    assert!(last.contains("Quote fields with commas."), "{last}");
    live.tmux.wait_for_within("the answer", CODEX_START, |s| {
        s.contains("Taking both changes into account")
    });
    std::thread::sleep(Duration::from_secs(WATCH_SECS * 2 + 1));
    assert_eq!(live.model.turns().len(), 3, "one message");
    assert_eq!(live.told().len(), 1);
    quit_codex(&live.tmux);
}

#[test]
fn with_live_notify_the_user_hears_of_it_and_codex_does_not() {
    let heard = tempfile::tempdir().unwrap();
    let log = heard.path().join("heard.log");
    let script = heard.path().join("notify.sh");
    write_script(
        &script,
        &format!("printf '%s\\n' \"$1\" >> '{}'", log.display()),
    );
    let live = Live::new(&format!(
        "[workflow]\nlive = \"notify\"\n[notify]\non_turn = \"command\"\ncommand = [\"{}\"]\n",
        script.display()
    ));
    live.start();
    add_criterion(&live.fake, "a header row names the columns");
    let deadline = Instant::now() + TOLD_WITHIN;
    while live.told().is_empty() {
        assert!(Instant::now() < deadline, "no ticket-changed event");
        std::thread::sleep(Duration::from_millis(200));
    }
    let told = live.told();
    assert_eq!(told[0]["mode"], "notify");
    assert!(told[0].get("message").is_none(), "{told:?}");
    let heard = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        heard.contains("PROJ-1: the ticket changed: 1 new criterion"),
        "{heard}"
    );
    std::thread::sleep(Duration::from_secs(WATCH_SECS * 2 + 1));
    assert_eq!(live.model.turns().len(), 1, "Codex was not interrupted");
    assert_eq!(live.told().len(), 1, "notified once");
    quit_codex(&live.tmux);
    // Codex hears of it at the next resume.
    let resume = live.env.run(&["resume", "PROJ-1", "--dry-run"]).ok().stdout;
    assert!(
        resume.contains("a header row names the columns"),
        "{resume}"
    );
}

#[test]
fn a_failing_or_slow_tracker_never_holds_up_codex_or_csm() {
    use crate::support::fake_jira::Fault;
    let live = Live::new("");
    let id = live.start();

    // Jira fails the watcher's reads for a while: the change is told once
    // it answers again.
    for _ in 0..8 {
        live.fake
            .fail_next(Some("/issue/PROJ-1"), Fault::Status(500, None));
    }
    live.model.push_text("Adding the header row now.");
    add_criterion(&live.fake, "a header row names the columns");
    let turns = live
        .model
        .wait_for_turns(2, TOLD_WITHIN + Duration::from_secs(WATCH_SECS * 4));
    assert_eq!(turns[1].headers.get("session-id"), Some(&id));
    live.tmux.wait_for_within("the answer", CODEX_START, |s| {
        s.contains("Adding the header row now")
    });

    // Jira hangs on the next read: Codex goes on, and csm ends with it.
    live.fake
        .fail_next(Some("/issue/PROJ-1"), Fault::Delay(Duration::from_secs(60)));
    std::thread::sleep(Duration::from_secs(WATCH_SECS + 2));
    let hung = live
        .fake
        .requests()
        .iter()
        .filter(|r| r.uri.contains("/issue/PROJ-1"))
        .count();
    live.tmux.type_text("/quit");
    std::thread::sleep(Duration::from_millis(300));
    let quit = Instant::now();
    live.tmux.press("Enter");
    live.tmux
        .wait_for_within("csm to exit", CODEX_START, |s| s.contains("CSM-EXITED"));
    assert!(
        quit.elapsed() < Duration::from_secs(10),
        "csm waited {:?} for the tracker",
        quit.elapsed()
    );
    assert!(hung > 0);
    assert!(
        live.tmux.screen().contains("CSM-EXITED 0"),
        "{}",
        live.tmux.screen()
    );
}
