//! The `csm` binary: parse the arguments, run the command, report errors.

use std::process::ExitCode;

use clap::Parser;
use csm::command_error::CommandError;
use csm::commands::{self, Cli};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            report(&err);
            ExitCode::from(err.kind.code())
        }
    }
}

/// Prints the error and its hints on stderr, jj-style.
fn report(err: &CommandError) {
    let output = csm::output::Output::detect(false);
    // One write: stderr is unbuffered, so each piece of a format would be
    // a write of its own.
    eprint!("{}", err.render(&output));
}
