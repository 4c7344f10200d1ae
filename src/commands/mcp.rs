//! `csm mcp --session ID`: the MCP server Codex runs for a session with
//! `tabs=on` or `tabs=auto` (csm passes it with `-c mcp_servers.csm.*`).
//! It speaks MCP on standard input and output; logs go to standard error.

use crate::command_error::{CommandError, ExitKind};
use crate::context::Context;
use crate::mcp::{self, ServerInfo};
use crate::tabs::tools::{INSTRUCTIONS, TabTools};

/// Arguments of `csm mcp`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// csm's number of the session whose tabs this server runs.
    #[arg(long, value_name = "ID")]
    session: String,
}

/// Runs the server until Codex closes its input.
pub fn run(ctx: &Context, args: Args) -> Result<(), CommandError> {
    let id: i64 = args.session.parse().map_err(|_| {
        CommandError::usage(format!(
            "--session takes csm's session number, not {:?}",
            args.session
        ))
        .hint("`csm show KEY` lists a ticket's sessions and their numbers")
    })?;
    let session = ctx.store()?.session(id)?.ok_or_else(|| {
        CommandError::new(ExitKind::NotFound, format!("there is no csm session {id}"))
            .hint("`csm list` shows the sessions")
    })?;
    let env = ctx.tabs_environment()?;
    let notify = ctx.config()?.config.notify.clone();
    let key = session.ticket_key.clone();
    let tools = TabTools {
        env,
        session_id: id,
        announce: Box::new(move |line: &str| {
            tracing::info!(key = %key, "{line}");
            super::hook::announce_to(&notify, &key, Some(line));
        }),
    };
    let info = ServerInfo {
        name: "csm".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        instructions: Some(INSTRUCTIONS.into()),
    };
    tracing::debug!(session = id, "mcp server starting");
    mcp::serve(std::io::stdin().lock(), std::io::stdout(), &info, &tools)
        .map_err(|e| CommandError::failure(format!("the MCP connection failed: {e}")))
}
