//! The command line itself: help, completions, man page, configuration
//! precedence and errors, exit codes.

use crate::support::env::TestEnv;

#[test]
fn help_lists_only_commands_that_exist() {
    let env = TestEnv::new();
    let run = env.run(&["--help"]).ok();
    for cmd in ["auth", "config", "doctor", "ticket", "completions", "man"] {
        assert!(run.stdout.contains(cmd), "{cmd} missing from --help");
    }
    assert!(run.stdout.contains("Exit codes"));
}

#[test]
fn completions_and_man_produce_output() {
    let env = TestEnv::new();
    let bash = env.run(&["completions", "bash"]).ok();
    assert!(bash.stdout.contains("_csm()"), "{}", bash.stdout);
    let zsh = env.run(&["completions", "zsh"]).ok();
    assert!(zsh.stdout.contains("#compdef csm"));
    let man = env.run(&["man"]).ok();
    assert!(
        man.stdout.contains(".TH csm"),
        "{}",
        &man.stdout[..200.min(man.stdout.len())]
    );
}

#[test]
fn unknown_command_is_a_usage_error() {
    let env = TestEnv::new();
    let run = env.run(&["frobnicate"]).fails_with(2);
    assert!(run.stderr.contains("unrecognized subcommand"));
}

#[test]
fn config_show_names_each_source_user_repo_env() {
    let mut env = TestEnv::new();
    env.write_user_config(
        "[jira]\nurl = \"https://user.example\"\nemail = \"me@example.com\"\nproject = \"USR\"\n",
    );
    std::fs::write(
        env.work().join(".csm.toml"),
        "[jira]\nurl = \"https://repo.example\"\nproject = \"REPO\"\n",
    )
    .unwrap();
    let sub = env.work().join("deep/er");
    std::fs::create_dir_all(&sub).unwrap();
    env.set_env("CSM_JIRA_URL", "https://env.example");
    let run = env.run_in(&sub, &["config", "show"]).ok();
    let text = env.normalize(&run.stdout);
    insta::assert_snapshot!(text, @r#"
    # user file: $ROOT/home/.config/csm/config.toml
    # repo file: $ROOT/work/.csm.toml (not trusted: its risky keys are ignored; see `csm trust --show`)
    # trust: yours = default, your file or env; repo = a key any repository may set;
    #        trusted = a risky key from the repository file you trusted;
    #        added = names an untrusted repository file added to your list
    codex.args = []                                    yours    # default
    # codex.bin                                                 # unset
    github.api_url = "https://api.github.com"          yours    # default
    github.max_attempts = 4                            yours    # default
    # github.repo                                               # unset
    github.timeout_secs = 30                           yours    # default
    # github.token_command                                      # unset
    jira.ac_field = "Acceptance Criteria"              yours    # default
    # jira.api                                                  # unset
    # jira.cloud_id                                             # unset
    # jira.deployment                                           # unset
    jira.email = "me@example.com"                      yours    # $ROOT/home/.config/csm/config.toml
    jira.gateway_url = "https://api.atlassian.com"     yours    # default
    jira.max_attempts = 4                              yours    # default
    jira.project = "REPO"                              repo     # $ROOT/work/.csm.toml
    jira.timeout_secs = 30                             yours    # default
    # jira.token_command                                        # unset
    jira.url = "https://env.example"                   yours    # env CSM_JIRA_URL; the repo file's value is ignored (untrusted)
    local.prefix = "CSM"                               yours    # default
    local.statuses = ["To Do", "In Progress", "Done"]  yours    # default
    notify.command = ["notify-send", "Codex"]          yours    # default
    notify.on_turn = "off"                             yours    # default
    secrets.env = []                                   yours    # default
    tabs.allow = []                                    yours    # default
    tabs.approval_wait_secs = 60                       yours    # default
    tabs.backend = "auto"                              yours    # default
    tracker.kind = "local"                             yours    # default
    workflow.done_path = []                            yours    # default
    workflow.done_status = "Done"                      yours    # default
    workflow.live = "queue"                            yours    # default
    workflow.pr = false                                yours    # default
    workflow.start_status = "In Progress"              yours    # default
    # workflow.test_command                                     # unset
    workflow.watch_secs = 60                           yours    # default
    workflow.worktree = false                          yours    # default
    worktree.branch = "{{key}}-{{slug summary}}"       yours    # default
    # worktree.parent                                           # unset
    "#);

    let json = env.run_in(&sub, &["config", "show", "--json"]).ok();
    let doc: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(doc["values"]["jira.url"]["source"]["kind"], "env");
    assert_eq!(doc["values"]["jira.project"]["source"]["kind"], "repo");
    assert_eq!(doc["values"]["jira.email"]["source"]["kind"], "user");
    assert_eq!(doc["values"]["tracker.kind"]["source"]["kind"], "default");
    assert_eq!(doc["values"]["jira.project"]["trust"], "repo");
    assert_eq!(doc["values"]["jira.url"]["trust"], "yours");
    assert_eq!(doc["files"]["repo_trust"], "untrusted");
    assert_eq!(doc["ignored"], serde_json::json!(["jira.url"]));
}

#[test]
fn malformed_repo_config_fails_with_file_line_column() {
    let env = TestEnv::new();
    std::fs::write(
        env.work().join(".csm.toml"),
        "[tracker]\nkind = \"local\"\n[jira\nurl = 1\n",
    )
    .unwrap();
    let run = env.run(&["config", "show"]).fails_with(2);
    assert!(run.stdout.is_empty());
    let first = run.stderr.lines().next().unwrap();
    let expected = format!("error: {}:3:", env.work().join(".csm.toml").display());
    assert!(first.starts_with(&expected), "{}", run.stderr);
    assert!(run.stderr.contains("hint:"), "{}", run.stderr);

    std::fs::write(env.work().join(".csm.toml"), "[tracker]\nknd = \"jira\"\n").unwrap();
    let run = env.run(&["doctor"]).fails_with(1);
    assert!(run.stdout.contains(".csm.toml:2:1"), "{}", run.stdout);
    assert!(run.stdout.contains("unknown field `knd`"), "{}", run.stdout);
}
