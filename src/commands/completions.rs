//! `csm completions <shell>`: a completion script on stdout.

use clap::CommandFactory;

use crate::command_error::CommandError;

/// Arguments of `csm completions`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shell to complete for.
    pub shell: clap_complete::Shell,
}

/// Prints the completion script.
pub fn run(args: Args) -> Result<(), CommandError> {
    let mut cmd = super::Cli::command();
    clap_complete::generate(args.shell, &mut cmd, "csm", &mut std::io::stdout());
    Ok(())
}
