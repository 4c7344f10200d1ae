//! `csm man`: the man page (roff) on stdout.

use clap::CommandFactory;

use crate::command_error::CommandError;

/// Arguments of `csm man`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Prints the man page.
pub fn run(_args: Args) -> Result<(), CommandError> {
    let page = clap_mangen::Man::new(super::Cli::command());
    page.render(&mut std::io::stdout())
        .map_err(|e| CommandError::failure(format!("cannot write the man page: {e}")))
}
