//! The one integration-test binary: every end-to-end test module is
//! included here so the test harness links once.

mod pty;
mod support;
