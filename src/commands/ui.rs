//! `csm ui`: the dashboard. Sessions grouped by what they are doing, the
//! selected one's criteria, last message and events, resumed with Enter;
//! settings changed in place. Bare `csm` on a terminal runs it too.

use crate::command_error::CommandError;
use crate::context::Context;

/// Arguments of `csm ui`.
#[derive(Debug, Default, clap::Args)]
#[command(
    after_help = "Keys: ↑/↓ or j/k move, / filter (text, or is:running|waiting|idle|new|done), \
    Enter resume, s start a ticket, n settings, d done, o open the ticket, r refresh, \
    Tab details, ? help, q quit."
)]
pub struct Args {}

/// Runs `csm ui`.
pub fn run(ctx: &Context, _args: Args) -> Result<(), CommandError> {
    crate::ui::run(ctx)
}
