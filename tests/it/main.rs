//! The one integration-test binary: every end-to-end test module is
//! included here so the test harness links once.

mod auth;
mod cli;
mod codex_exec;
mod doctor;
mod output;
mod sessions;
mod start_resume;
mod pty;
mod support;
mod ticket;
