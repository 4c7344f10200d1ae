//! Shared test plumbing: the isolated environment csm runs in, and the
//! fake servers (Jira, the OpenAI Responses API) the tests start on
//! 127.0.0.1.
#![allow(dead_code)]
pub mod env;
pub mod fake_jira;
pub mod mock_model;
pub mod tmux;
