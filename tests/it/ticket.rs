//! `csm ticket ...` against the local Markdown tracker (the default).

use crate::support::env::TestEnv;

fn repo() -> TestEnv {
    let env = TestEnv::new();
    std::fs::create_dir_all(env.work().join(".git")).unwrap();
    env
}

#[test]
fn create_list_show_move_comment() {
    let env = repo();
    let key = env
        .run(&[
            "ticket",
            "new",
            "Add a --json flag to list",
            "-d",
            "Scripts need `list` output they can parse.",
            "--ac",
            "`csm list --json` prints a JSON array",
            "--ac",
            "each element has `key` and `status`",
            "-l",
            "cli",
        ])
        .ok()
        .stdout;
    assert_eq!(key.trim(), "CSM-1");
    assert!(env.work().join(".csm/tickets/CSM-1.md").is_file());
    let second = env.run(&["ticket", "new", "Second"]).ok().stdout;
    assert_eq!(second.trim(), "CSM-2");

    let list = env.run(&["ticket", "list"]).ok();
    insta::assert_snapshot!(list.stdout, @r"
    CSM-1  To Do  Add a --json flag to list
    CSM-2  To Do  Second
    ");

    let show = env.run(&["ticket", "show", "csm-1"]).ok();
    let shown = env.normalize(&show.stdout);
    insta::assert_snapshot!(shown, @r"
    CSM-1  Add a --json flag to list  [To Do]
    labels: cli
    url: $ROOT/work/.csm/tickets/CSM-1.md

    Scripts need `list` output they can parse.

    Acceptance criteria:
      1. `csm list --json` prints a JSON array
      2. each element has `key` and `status`
    ");

    let moved = env.run(&["ticket", "move", "CSM-1", "in progress"]).ok();
    assert!(
        moved.stderr.contains("CSM-1 is now In Progress"),
        "{}",
        moved.stderr
    );
    let run = env
        .run(&["ticket", "move", "CSM-1", "Shipped"])
        .fails_with(1);
    assert!(run.stderr.contains("To Do"), "{}", run.stderr);
    assert!(run.stderr.contains("Done"), "{}", run.stderr);

    env.run(&["ticket", "comment", "CSM-1", "Started on the flag."])
        .ok();
    env.run_with_stdin(
        &["ticket", "comment", "CSM-1"],
        "A second note\nover two lines.",
    )
    .ok();

    let json = env.run(&["ticket", "show", "CSM-1", "--json"]).ok();
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["key"], "CSM-1");
    assert_eq!(doc["status"], "In Progress");
    assert_eq!(doc["comment_count"], 2);
    assert_eq!(doc["labels"], serde_json::json!(["cli"]));
    assert_eq!(doc["acceptance_criteria"].as_array().unwrap().len(), 2);
    let file = std::fs::read_to_string(env.work().join(".csm/tickets/CSM-1.md")).unwrap();
    assert!(file.contains("Started on the flag."));
    assert!(file.contains("over two lines."));

    let list = env.run(&["ticket", "list", "--json"]).ok();
    let doc: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    assert_eq!(doc.as_array().unwrap().len(), 2);
}

#[test]
fn unknown_and_malformed_keys() {
    let env = repo();
    let run = env.run(&["ticket", "show", "CSM-9"]).fails_with(3);
    assert!(run.stderr.contains("CSM-9"), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 2, "{}", run.stderr);
    let run = env.run(&["ticket", "show", "proj 1;rm"]).fails_with(2);
    assert!(run.stderr.contains("is not a ticket key"), "{}", run.stderr);
    let run = env.run(&["ticket", "show", "../x-1"]).fails_with(2);
    assert!(run.stderr.contains("is not a ticket key"), "{}", run.stderr);
}

#[test]
fn concurrent_new_in_two_processes_gives_distinct_keys() {
    let env = repo();
    let spawn = |summary: &str| {
        env.command(&["ticket", "new", summary])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut keys = Vec::new();
    for round in 0..5 {
        let a = spawn(&format!("A{round}"));
        let b = spawn(&format!("B{round}"));
        for child in [a, b] {
            let out = child.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            keys.push(String::from_utf8_lossy(&out.stdout).trim().to_string());
        }
    }
    let mut unique = keys.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 10, "duplicate keys: {keys:?}");
    let files = std::fs::read_dir(env.work().join(".csm/tickets"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "md")
        })
        .count();
    assert_eq!(files, 10);
}

#[test]
fn broken_front_matter_is_reported_and_left_unchanged() {
    let env = repo();
    env.run(&["ticket", "new", "Fine"]).ok();
    let path = env.work().join(".csm/tickets/CSM-1.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let broken = text.replacen("status = ", "status = = ", 1);
    std::fs::write(&path, &broken).unwrap();
    let run = env.run(&["ticket", "move", "CSM-1", "Done"]).fails_with(1);
    let first = run.stderr.lines().next().unwrap();
    assert!(first.contains("CSM-1.md:"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), broken);
    let run = env
        .run(&["ticket", "comment", "CSM-1", "note"])
        .fails_with(1);
    assert!(run.stderr.contains("CSM-1.md:"), "{}", run.stderr);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), broken);
}

#[test]
fn tickets_live_in_the_repository_root_from_any_subfolder() {
    let env = repo();
    let sub = env.work().join("src/deep");
    std::fs::create_dir_all(&sub).unwrap();
    env.run_in(&sub, &["ticket", "new", "From below"]).ok();
    assert!(env.work().join(".csm/tickets/CSM-1.md").is_file());
    let list = env.run_in(&sub, &["ticket", "list"]).ok();
    assert!(list.stdout.contains("From below"));
}

#[test]
fn jql_is_refused_by_the_local_tracker() {
    let env = repo();
    let run = env.run(&["ticket", "list", "--jql", "project = X"]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("does not support"), "{}", run.stderr);
}
