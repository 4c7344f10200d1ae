//! The one integration-test binary: every end-to-end test module is
//! included here so the test harness links once.

mod auth;
mod cli;
mod codex_exec;
mod crash;
mod doctor;
mod done;
mod jira;
mod output;
mod pty;
mod sessions;
mod start_checks;
mod start_resume;
mod support;
mod tabs;
mod ticket;
