//! `csm tabs [KEY]`: the commands Codex asked csm to run in tabs, with
//! their state and exit codes; `csm tabs approve|deny [ID]` decides a
//! request that waits for the user; `csm tabs stop ID` ends a running one.

use std::path::PathBuf;

use serde::Serialize;

use crate::command_error::{CommandError, ExitKind};
use crate::context::{Context, env_var};
use crate::output::sanitize;
use crate::store::Store;
use crate::tabs::backend::Surroundings;
use crate::tabs::record::{State, Tab};
use crate::tabs::supervisor::{self, Supervise};
use crate::tabs::{self, Environment, TabError};
use crate::tracker::TicketKey;

/// Arguments of `csm tabs`.
#[derive(Debug, clap::Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Codex asks for tabs in sessions with `tabs=on` (each request needs your \
    approval unless [tabs] allow matches it) or `tabs=auto`: `csm set KEY tabs=on`, then \
    `csm resume KEY`."
)]
pub struct Args {
    #[command(subcommand)]
    action: Option<Action>,
    /// Only this ticket's tabs (default: every session that is not done).
    key: Option<String>,
    /// Print a JSON array of tabs.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Approve a request and start it (ID may be left out when only one waits).
    Approve {
        /// The request's id, as `csm tabs` shows it.
        id: Option<i64>,
    },
    /// Deny a request (ID may be left out when only one waits).
    Deny {
        /// The request's id.
        id: Option<i64>,
    },
    /// Stop a running tab (Ctrl-C, then SIGTERM, then SIGKILL).
    Stop {
        /// The tab's id.
        id: i64,
    },
    /// Run a tab's command and record how it ended (what csm puts in tabs).
    #[command(hide = true)]
    Exec {
        /// The store's file.
        #[arg(long)]
        store: PathBuf,
        /// The tab's id.
        #[arg(long)]
        tab: i64,
        /// A further variable to remove from the command's environment.
        #[arg(long, value_name = "NAME")]
        unset: Vec<String>,
        /// Say how the command ended and wait for Enter (tmux windows).
        #[arg(long)]
        hold: bool,
        /// The command.
        #[arg(last = true, required = true)]
        argv: Vec<std::ffi::OsString>,
    },
}

/// What starting tabs needs, from this process.
pub fn environment(ctx: &Context) -> Result<Environment, CommandError> {
    let config = &ctx.config()?.config;
    Ok(Environment {
        csm_exe: std::env::current_exe().unwrap_or_else(|_| PathBuf::from("csm")),
        store_file: ctx.dirs.store_file(),
        state_dir: ctx.dirs.state.clone(),
        secrets: config.secrets.env.clone(),
        env: ctx.child_env()?,
        config: config.tabs.clone(),
        around: Surroundings {
            tmux: env_var("TMUX").filter(|t| !t.is_empty()),
            tmux_pane: env_var("TMUX_PANE"),
            socket_override: env_var("CSM_TMUX_SOCKET")
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            tmux_installed: which::which("tmux").is_ok(),
        },
    })
}

/// Runs `csm tabs`.
pub fn run(ctx: &Context, args: Args) -> Result<(), CommandError> {
    match args.action {
        None => list(ctx, args.key.as_deref(), args.json),
        Some(Action::Approve { id }) => {
            let store = ctx.store()?;
            let id = match id {
                Some(id) => id,
                None => match confirm_the_pending(&store)? {
                    Some(id) => id,
                    None => {
                        ctx.output.info("Not approved; the request still waits.");
                        return Ok(());
                    }
                },
            };
            let env = environment(ctx)?;
            let tab = tabs::approve(&store, &env, id, "csm tabs approve").map_err(error)?;
            match tab.state {
                State::Failed => Err(CommandError::failure(format!(
                    "tab {id} was approved but could not start: {}",
                    sanitize(tab.reason.as_deref().unwrap_or("unknown error"))
                ))),
                _ => {
                    let place = tab
                        .started
                        .as_ref()
                        .map(|s| s.describe())
                        .unwrap_or_default();
                    ctx.output.info(&format!(
                        "Started tab {id} \"{}\": {} ({place}).",
                        sanitize(&tab.request.name),
                        sanitize(&tab.command_line())
                    ));
                    Ok(())
                }
            }
        }
        Some(Action::Deny { id }) => {
            let store = ctx.store()?;
            let id = the_pending(&store, id, "deny")?;
            let tab = tabs::deny(&store, id, "csm tabs deny").map_err(error)?;
            ctx.output.info(&format!(
                "Denied tab {id}: {}. Codex is told when it asks.",
                sanitize(&tab.command_line())
            ));
            Ok(())
        }
        Some(Action::Stop { id }) => {
            let store = ctx.store()?;
            let tab = tabs::stop(&store, id, "csm tabs stop").map_err(error)?;
            ctx.output
                .info(&format!("Tab {id}: {}.", sanitize(&tabs::describe(&tab))));
            Ok(())
        }
        Some(Action::Exec {
            store,
            tab,
            unset,
            hold,
            argv,
        }) => {
            // The supervisor leaves with its command's exit code and has
            // nothing to add to what the command printed.
            let code = supervisor::run(&Supervise {
                store,
                tab,
                unset,
                hold,
                argv,
            });
            std::process::exit(code);
        }
    }
}

/// `csm tabs approve` without an id: the only request waiting, once the
/// user has seen its whole command and said yes; `None` for no. Without a
/// terminal nobody can see it, so the id must be given.
fn confirm_the_pending(store: &Store) -> Result<Option<i64>, CommandError> {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        return Err(CommandError::usage(
            "without a terminal, say which request to approve: csm tabs approve ID",
        )
        .hint("`csm tabs` lists the waiting requests with their ids"));
    }
    let id = the_pending(store, None, "approve")?;
    let Some((key, tab)) = all_tabs(store, None)?.into_iter().find(|(_, t)| t.id == id) else {
        return Err(CommandError::new(
            ExitKind::NotFound,
            format!("tab request {id} is gone"),
        ));
    };
    let mut text = format!(
        "Tab {id} of {key} asks to run, in {}:\n",
        sanitize(&tab.request.cwd.display().to_string())
    );
    for (n, arg) in tab.request.argv.iter().enumerate() {
        text.push_str(&format!(
            "  argv[{n}] = {}\n",
            sanitize(&format!("{arg:?}"))
        ));
    }
    text.push_str("Approve it? [y/N] ");
    eprint!("{text}");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|e| CommandError::failure(format!("cannot read the answer: {e}")))?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes").then_some(id))
}

/// The request meant: the one given, or the only one waiting.
fn the_pending(store: &Store, id: Option<i64>, verb: &str) -> Result<i64, CommandError> {
    if let Some(id) = id {
        return Ok(id);
    }
    let waiting: Vec<(String, Tab)> = all_tabs(store, None)?
        .into_iter()
        .filter(|(_, t)| t.state == State::Pending)
        .collect();
    match waiting.as_slice() {
        [] => Err(CommandError::new(
            ExitKind::NotFound,
            "no tab request is waiting for approval",
        )),
        [(_, only)] => Ok(only.id),
        many => {
            let ids: Vec<String> = many.iter().map(|(_, t)| t.id.to_string()).collect();
            Err(CommandError::usage(format!(
                "{} requests are waiting ({}); say which",
                many.len(),
                ids.join(", ")
            ))
            .hint(format!("`csm tabs` lists them; then `csm tabs {verb} ID`")))
        }
    }
}

/// A tab step's failure as a command's.
pub fn error(e: TabError) -> CommandError {
    let message = sanitize(&e.to_string());
    match e {
        TabError::NotFound(_) => {
            CommandError::new(ExitKind::NotFound, message).hint("`csm tabs` lists the tabs")
        }
        TabError::Store(e) => e.into(),
        TabError::Invalid(_) => CommandError::usage(message),
        TabError::NotPending { .. }
        | TabError::NotRunning { .. }
        | TabError::Raced(_)
        | TabError::Backend(_) => CommandError::failure(message),
    }
}

/// Every tab of the ticket's sessions, or of every session not done, with
/// its ticket key, oldest first.
fn all_tabs(store: &Store, key: Option<&TicketKey>) -> Result<Vec<(String, Tab)>, CommandError> {
    let sessions = match key {
        Some(k) => store.sessions_for_ticket(k.as_str())?,
        None => store.list_sessions(false)?,
    };
    let mut out = Vec::new();
    for s in sessions {
        for t in tabs::session_tabs(store, s.id)? {
            out.push((s.ticket_key.clone(), t));
        }
    }
    out.sort_by_key(|(_, t)| t.id);
    Ok(out)
}

#[derive(Serialize)]
struct Row<'a> {
    key: &'a str,
    #[serde(flatten)]
    tab: &'a Tab,
    /// The state in words.
    summary: String,
}

fn list(ctx: &Context, key: Option<&str>, json: bool) -> Result<(), CommandError> {
    let key = key.map(TicketKey::parse).transpose()?;
    let store = ctx.store()?;
    if let Some(k) = &key
        && store.sessions_for_ticket(k.as_str())?.is_empty()
    {
        return Err(
            CommandError::new(ExitKind::NotFound, format!("{k} has no session"))
                .hint(format!("start one with `csm start {k}`")),
        );
    }
    let all = all_tabs(&store, key.as_ref())?;
    if json {
        let rows: Vec<Row<'_>> = all
            .iter()
            .map(|(k, t)| Row {
                key: k,
                tab: t,
                summary: tabs::describe(t),
            })
            .collect();
        let text = crate::output::json(&rows)
            .map_err(|e| CommandError::failure(format!("cannot write JSON: {e}")))?;
        println!("{text}");
        return Ok(());
    }
    if all.is_empty() {
        ctx.output.info(
            "No tabs yet. Codex asks for them in sessions with tabs on (`csm set KEY tabs=on`).",
        );
        return Ok(());
    }
    print!("{}", table(ctx, &all));
    if all.iter().any(|(_, t)| t.state == State::Pending) {
        ctx.output
            .info("Approve with `csm tabs approve ID`, or deny with `csm tabs deny ID`.");
    }
    Ok(())
}

/// The tabs as a table: id, ticket, state, name, command, where.
pub fn table(ctx: &Context, rows: &[(String, Tab)]) -> String {
    let cells: Vec<[String; 6]> = rows
        .iter()
        .map(|(key, t)| {
            let place = match (&t.started, t.state) {
                (Some(s), State::Running | State::Exited) => s.describe(),
                _ => String::new(),
            };
            // A request that waits is shown whole (the terminal wraps it):
            // the user approves what they can read.
            let mut command = sanitize(&t.command_line());
            if t.state != State::Pending && command.chars().count() > 50 {
                command = command.chars().take(49).collect::<String>() + "…";
            }
            [
                t.id.to_string(),
                key.clone(),
                sanitize(&tabs::describe(t)),
                sanitize(&t.request.name),
                command,
                place,
            ]
        })
        .collect();
    ctx.output
        .table(["ID", "KEY", "STATE", "NAME", "COMMAND", "WHERE"], &cells)
}
