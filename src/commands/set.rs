//! `csm set KEY name=value...`: change a session's Codex settings; they
//! apply from the next resume.

use crate::codex::Settings;
use crate::codex::settings::NAMES;
use crate::command_error::{CommandError, ExitKind};
use crate::context::Context;
use crate::tracker::TicketKey;

/// Arguments of `csm set`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Settings: model=NAME, effort=none|minimal|low|medium|high|xhigh, \
    sandbox=read-only|workspace-write|danger-full-access, approval=on-request|never, \
    search=on|off, profile=NAME, config=KEY=VALUE (repeatable), \
    tabs=off|on|auto (Codex may ask csm to run commands in tabs; see `csm tabs --help`). \
    The value `default` clears a setting."
)]
pub struct Args {
    /// The ticket key.
    key: String,
    /// Settings to change, e.g. `effort=high model=gpt-5.5`.
    #[arg(required = true, value_name = "NAME=VALUE")]
    settings: Vec<String>,
    /// Which session (Codex id or csm number; default: the latest).
    #[arg(long)]
    session: Option<String>,
}

/// Runs `csm set`.
pub fn run(ctx: &Context, args: Args) -> Result<(), CommandError> {
    let key = TicketKey::parse(&args.key)?;
    let store = ctx.store()?;
    let sessions = store.sessions_for_ticket(key.as_str())?;
    let session = crate::session::pick(&sessions, args.session.as_deref()).ok_or_else(|| {
        CommandError::new(ExitKind::NotFound, format!("{key} has no such session"))
            .hint(format!("start one with `csm start {key}`"))
    })?;
    let mut settings = Settings::from_json(&session.settings);
    // Validate every assignment before saving any.
    for assignment in &args.settings {
        settings.apply(assignment).map_err(|e| {
            CommandError::usage(e.to_string()).hint(format!("settings: {}", NAMES.join(", ")))
        })?;
    }
    crate::session::save_settings(store, session.id, &settings)?;
    ctx.output.info(&format!(
        "{key} session {}: {settings} (applies from the next resume)",
        session.id
    ));
    Ok(())
}
