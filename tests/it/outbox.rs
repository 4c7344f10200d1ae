//! The outbox under concurrency and refusal, end to end: several csm
//! processes delivering the same queued note at once against a fake Jira
//! whose comment POSTs are slow (exactly one note), a claimant killed or
//! stalled mid-delivery (another takes over, still one note), a note too
//! long for the tracker (collapsed, then posted as numbered parts, each
//! once across a store-then-fail fault), and a refusal for good (parked
//! after one attempt; `csm sync --list`, `--edit`, `--discard`).

use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::done::World;
use crate::support::env::write_script;
use crate::support::fake_jira::{Fault, Mode};

/// Queues PROJ-1's note (and move) with a `csm done` whose comment POST
/// fails.
fn queued_note(w: &World) {
    w.answer(&["met", "met"]);
    w.fake()
        .fail_next(Some("/comment"), Fault::Status(500, None));
    let run = w.env.run(&["done", "PROJ-1"]).fails_with(1);
    assert!(run.stderr.contains("csm sync"), "{}", run.stderr);
    assert!(w.comments().is_empty());
    assert_eq!(w.store().outbox_pending().unwrap().len(), 2);
}

fn spawn(w: &World, args: &[&str]) -> Child {
    w.env
        .command(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Starts every command at once and waits for all; returns their stderr.
fn all_at_once(w: &World, commands: &[&[&str]]) -> Vec<String> {
    let children: Vec<Child> = commands.iter().map(|c| spawn(w, c)).collect();
    children
        .into_iter()
        .map(|c| {
            let out = c.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(out.status.success(), "{stderr}");
            stderr
        })
        .collect()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: a signal to our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, sig) }, 0);
}

const SIX: [&[&str]; 6] = [
    &["sync"],
    &["sync"],
    &["sync"],
    &["sync"],
    &["list"],
    &["list"],
];

#[test]
fn six_processes_deliver_a_queued_note_exactly_once() {
    let w = World::jira(Mode::Cloud);
    queued_note(&w);
    w.fake().set_comment_delay(Some(Duration::from_millis(800)));
    w.fake().clear_requests();
    let stderr = all_at_once(&w, &SIX).join("\n");
    assert_eq!(w.comments().len(), 1, "{stderr}");
    assert_eq!(
        w.posts_to("/comment"),
        1,
        "only the claimant sent: {stderr}"
    );
    assert!(w.store().outbox_pending().unwrap().is_empty(), "{stderr}");
    assert_eq!(w.status(), "Done");
}

#[test]
fn a_claimant_killed_mid_delivery_leaves_one_note() {
    let w = World::jira(Mode::Cloud);
    queued_note(&w);
    w.fake().set_comment_delay(Some(Duration::from_millis(800)));
    w.fake().clear_requests();
    // The claimant is killed while its POST waits for an answer.
    let mut a = spawn(&w, &["sync"]);
    wait_until("the POST", || w.posts_to("/comment") == 1);
    a.kill().unwrap();
    a.wait().unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let pending = w.store().outbox_pending().unwrap();
    assert_eq!(pending.len(), 2, "{pending:?}");
    assert_eq!(pending[0].attempts, 2, "done's, and the killed one's");
    // Meanwhile the session is not "done" in the list.
    w.fake()
        .fail_next(Some("/comment"), Fault::Status(500, None));
    let list = w.env.run(&["list"]).ok();
    assert!(list.stderr.contains("`csm sync`"), "{}", list.stderr);
    assert!(list.stdout.contains("note queued"), "{}", list.stdout);
    w.fake().clear_faults();
    // Five more at once: one takes the dead process's claim over and looks
    // for the marker before sending; whether or not the first POST landed,
    // one note.
    let stderr = all_at_once(&w, &SIX[1..]).join("\n");
    assert_eq!(w.comments().len(), 1, "{stderr}");
    assert!(w.store().outbox_pending().unwrap().is_empty(), "{stderr}");
    assert_eq!(w.status(), "Done");
}

#[test]
fn a_stalled_claimant_keeps_its_claim_until_the_lease_expires() {
    let mut w = World::jira(Mode::Cloud);
    queued_note(&w);
    const LEASE: Duration = Duration::from_secs(4);
    w.env
        .set_env(csm::outbox::LEASE_VAR, LEASE.as_millis().to_string());
    w.fake().set_comment_delay(Some(Duration::from_millis(800)));
    w.fake().clear_requests();
    // The claimant is stopped (alive, not running) while its POST is out;
    // the tracker stores the comment.
    let a = spawn(&w, &["sync"]);
    wait_until("the POST", || w.posts_to("/comment") == 1);
    let posted = Instant::now();
    signal(&a, libc::SIGSTOP);
    wait_until("the comment", || w.comments().len() == 1);

    // Within the lease, another process leaves the item alone.
    let run = w.env.run(&["sync"]).ok();
    assert!(
        posted.elapsed() < LEASE,
        "the machine was too slow to check"
    );
    assert!(
        run.stderr
            .contains("Another csm process is posting the note"),
        "{}",
        run.stderr
    );
    assert_eq!(w.posts_to("/comment"), 1);

    // Once the lease has expired, the next one takes over, finds the note
    // by its marker, and moves the ticket.
    std::thread::sleep((LEASE + Duration::from_millis(300)).saturating_sub(posted.elapsed()));
    let run = w.env.run(&["sync"]).ok();
    assert!(run.stderr.contains("not posted again"), "{}", run.stderr);
    assert_eq!(w.status(), "Done");

    // The stalled one wakes up to a claim it no longer holds.
    signal(&a, libc::SIGCONT);
    let out = a.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(w.comments().len(), 1);
    assert_eq!(w.posts_to("/comment"), 1);
    assert!(w.store().outbox_pending().unwrap().is_empty());
}

#[test]
fn a_note_too_long_is_posted_as_parts_each_once_across_a_retry() {
    const LIMIT: usize = 1200;
    let w = World::jira(Mode::DataCenter);
    w.env.write_user_config(&format!(
        "{}comment_limit = {LIMIT}\n",
        w.fake().csm_config("PROJ")
    ));
    w.fake().set_comment_limit(Some(LIMIT));
    w.model.push_text(
        &json!({
            "summary": "Added the CSV export. ".repeat(100),
            "criteria": [
                {"number": 1, "status": "met", "evidence": "csv_test::rows passes; ".repeat(150)},
                {"number": 2, "status": "met", "evidence": "csv_test::header passes; ".repeat(120)},
            ]
        })
        .to_string(),
    );
    // The first part is stored, but its answer fails.
    w.fake()
        .fail_next(Some("/comment"), Fault::ActThenStatus(502));
    let run = w.env.run(&["done", "PROJ-1"]).fails_with(1);
    assert!(run.stderr.contains("will be retried"), "{}", run.stderr);
    assert!(run.stderr.contains("part 1/"), "{}", run.stderr);
    assert_eq!(w.comments().len(), 1);
    assert_eq!(w.status(), "To Do");

    let run = w.env.run(&["sync"]).ok();
    assert!(run.stderr.contains("not posted again"), "{}", run.stderr);
    let comments = w.comments();
    let n = comments.len();
    assert!(n >= 2, "{comments:?}");
    assert_eq!(
        w.posts_to("/comment"),
        n,
        "the stored part was not sent again"
    );
    for k in 1..=n {
        let part = format!("part {k}/{n}");
        let with = comments.iter().filter(|c| c.contains(&part)).count();
        assert_eq!(with, 1, "{part} exactly once: {comments:?}");
    }
    for (c, raw) in comments
        .iter()
        .zip(w.fake().issue("PROJ-1").unwrap().comments)
    {
        let size = raw["body"].as_str().unwrap().chars().count();
        assert!(size <= LIMIT, "{size}: {c}");
    }
    let all = comments.join("\n");
    assert_eq!(all.matches("✅ met").count(), 2, "every verdict: {all}");
    assert_eq!(all.matches("shortened to fit").count(), 2, "{all}");
    assert_eq!(w.status(), "Done");
    assert!(w.store().outbox_pending().unwrap().is_empty());
}

#[test]
fn a_refused_note_is_parked_then_edited_or_discarded() {
    let mut w = World::jira(Mode::Cloud);
    // The site takes less than csm assumes: a permanent 400.
    w.fake().set_comment_limit(Some(300));
    w.answer(&["met", "met"]);
    let run = w.env.run(&["done", "PROJ-1"]).fails_with(1);
    assert!(
        run.stderr.contains("The entered text is too long"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("csm sync --edit 1"), "{}", run.stderr);
    assert!(
        run.stderr.contains("csm sync --discard 1"),
        "{}",
        run.stderr
    );
    assert_eq!(w.posts_to("/comment"), 1);
    assert_eq!(w.status(), "To Do");

    // Not done in the list while its note is refused.
    let list = w.env.run(&["list"]).ok();
    assert!(list.stdout.contains("note refused"), "{}", list.stdout);
    let json = w.env.run(&["list", "--json"]).ok();
    assert!(
        json.stdout.contains(r#""note": "refused""#),
        "{}",
        json.stdout
    );

    // Not retried: neither by sync nor by done again.
    let run = w.env.run(&["sync"]).fails_with(1);
    assert!(run.stderr.contains("csm sync --edit 1"), "{}", run.stderr);
    w.env.run(&["done", "PROJ-1"]).fails_with(1);
    assert_eq!(w.posts_to("/comment"), 1, "one attempt");
    let listed = w.env.run(&["sync", "--list"]).ok().stdout;
    let line = listed.lines().next().unwrap();
    assert!(line.starts_with("1\tPROJ-1\tnote\t1 attempt(s)"), "{line}");
    assert!(line.contains("needs attention"), "{line}");
    assert!(line.contains("The entered text is too long"), "{line}");
    assert!(line.contains("csm sync --edit 1"), "{line}");
    assert!(listed.contains("move to \"Done\""), "{listed}");

    // Edited short, it goes out with its marker, and the move follows.
    let editor = w.env.root().join("editor");
    write_script(
        &editor,
        "printf 'All criteria met; see the branch.\\n' > \"$1\"",
    );
    w.env.set_env("EDITOR", &editor);
    let run = w.env.run(&["sync", "--edit", "1"]).ok();
    assert!(run.stderr.contains("Posted the note"), "{}", run.stderr);
    let comments = w.comments();
    assert_eq!(comments.len(), 1);
    assert!(comments[0].starts_with("All criteria met"), "{comments:?}");
    assert!(comments[0].contains("csm note csm-"), "{comments:?}");
    assert_eq!(w.status(), "Done");
    assert_eq!(w.env.run(&["sync", "--list"]).ok().stdout, "");
    let list = w.env.run(&["list"]).ok();
    assert!(!list.stdout.contains("PROJ-1"), "done now: {}", list.stdout);

    // A note refused outright is dropped with --discard.
    w.fake()
        .refuse_comments(Some("Comments are disabled on this issue."));
    w.answer(&["met", "met"]);
    let run = w
        .env
        .run(&["done", "PROJ-1", "--no-transition"])
        .fails_with(1);
    assert!(
        run.stderr.contains("Comments are disabled"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("csm sync --discard 3"),
        "{}",
        run.stderr
    );
    let run = w.env.run(&["sync", "--discard", "3"]).ok();
    assert!(
        run.stderr.contains("Dropped queued item 3"),
        "{}",
        run.stderr
    );
    assert_eq!(w.env.run(&["sync", "--list"]).ok().stdout, "");
    w.env.run(&["sync", "--edit", "3"]).fails_with(3);
    assert_eq!(w.comments().len(), 1);
}
