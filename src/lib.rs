//! csm, the Codex Session Manager.
//!
//! csm ties every OpenAI Codex CLI session to a *ticket* (a Jira issue or a
//! local Markdown ticket) and to a *folder*, so that a ticket key is all a
//! user needs to start, resume and finish work that spans days.
//!
//! The binary (`src/main.rs`) only parses arguments and reports errors; every
//! command lives in [`commands`], and the pieces they are built from live in
//! modules named after what they are.

pub mod codex;
pub mod command_error;
pub mod commands;
pub mod config;
pub mod context;
pub mod crashpoint;
pub mod credentials;
pub mod draft;
pub mod editor;
pub mod event;
pub mod evidence;
pub mod git;
pub mod launch;
pub mod lint;
pub mod mcp;
pub mod note;
pub mod outbox;
pub mod output;
pub mod paths;
pub mod pr;
pub mod prompt;
pub mod pty;
pub mod report;
pub mod session;
pub mod store;
pub mod tabs;
pub mod tracker;
pub mod trust;
pub mod ui;
pub mod usage;
pub mod watch;
pub mod workflow;
pub mod worktree;
