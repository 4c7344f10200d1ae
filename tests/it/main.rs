//! The one integration-test binary: every end-to-end test module is
//! included here so the test harness links once.

mod auth;
mod cli;
mod codex_exec;
mod codex_threads;
mod crash;
mod doctor;
mod done;
mod draft;
mod faults;
mod github;
mod hostile;
mod jira;
mod jira_site;
mod layers;
mod lint;
mod live;
mod outbox;
mod output;
mod pr;
mod pty;
mod secrets;
mod sessions;
mod start_checks;
mod start_resume;
mod support;
mod tabs;
mod ticket;
mod trust;
mod ui;
mod workflow;
mod worktree;
