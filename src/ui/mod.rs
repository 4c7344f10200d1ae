//! The dashboard, `csm ui`: the sessions being worked on, grouped by what
//! they are doing, with the selected one's criteria, last message, events
//! and resume command; Enter resumes it, `n` changes its settings.
//!
//! It is a view over the library the commands use (the same join as `csm
//! list`, the same resume as `csm resume`, the same save as `csm set`),
//! split so that each part is tested on its own: [`state`] is plain data
//! and what keys do to it, [`view`] draws a state into a ratatui frame,
//! [`data`] reads the store, and `app` (the edge) runs the terminal, the
//! background threads and the effects.

mod app;
pub mod data;
#[cfg(test)]
mod fixture;
pub mod state;
pub mod view;

pub use app::{can_run, opener, run};
