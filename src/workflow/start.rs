//! `start KEY`: read the ticket, refuse it when the readiness lint does
//! (unless forced), render the opening prompt, record the session, move
//! the ticket to the start status, and launch Codex in the ticket's folder
//! (a git worktree of the ticket's own when asked), capturing its session
//! id as soon as it exists.

use std::path::{Path, PathBuf};

use crate::codex::Settings;
use crate::codex::settings::TabsMode;
use crate::command_error::CommandError;
use crate::context::Context;
use crate::launch::Launch;
use crate::output::{Output, sanitize};
use crate::prompt::{StartData, Template};
use crate::pty::Exit;
use crate::store::{Claim, NewSession, Session};
use crate::tracker::{Ticket, TicketKey, Tracker};
use crate::worktree::{self, BranchData, GitFacts, Plan, Repo, Want};

use super::Launcher;

/// The `csm.session` property mirrored to the tracker.
pub const PROPERTY: &str = crate::session::PROPERTY;

/// What to start.
#[derive(Clone, Debug)]
pub struct Request {
    /// The ticket.
    pub key: TicketKey,
    /// The folder to work in (default: the current folder).
    pub folder: Option<PathBuf>,
    /// Show the prompt and the command; change nothing.
    pub dry_run: bool,
    /// Start although the readiness lint rejects the ticket.
    pub force: bool,
    /// Start another session although the ticket has one.
    pub new: bool,
    /// The session's settings.
    pub settings: Settings,
    /// Work in a worktree of the ticket's own (`None`: `[workflow]
    /// worktree`).
    pub worktree: Option<bool>,
}

impl Request {
    /// Starts `key` in the current folder with the defaults (the
    /// dashboard's `s`).
    pub fn new(key: TicketKey) -> Request {
        Request {
            key,
            folder: None,
            dry_run: false,
            force: false,
            new: false,
            settings: Settings::default(),
            worktree: None,
        }
    }
}

/// How a start ended.
#[derive(Debug)]
pub enum Outcome {
    /// A dry run: what would run.
    DryRun {
        /// The opening prompt.
        prompt: String,
        /// The git commands that would make the worktree.
        plan: Vec<String>,
        /// The exact Codex command.
        command: String,
    },
    /// The ticket already has a session (and no new one was asked for):
    /// nothing was changed.
    HasSession(Box<Session>),
    /// Codex ran and exited.
    Ran {
        /// The ticket's key (the tracker's answer: a moved ticket's new
        /// key).
        key: TicketKey,
        /// csm's id of the session.
        session_id: i64,
        /// Whether Codex's session id was captured.
        captured: bool,
        /// How Codex ended.
        exit: Exit,
    },
}

/// The error for a ticket that already has a session.
pub fn has_session(key: &TicketKey, session: &Session) -> CommandError {
    CommandError::failure(format!(
        "{key} already has a session (in {})",
        session.folder.display()
    ))
    .hint(format!("resume it with `csm resume {key}`"))
    .hint("or start another one with `csm start --new`")
}

/// Starts work on a ticket.
pub fn run(
    ctx: &Context,
    request: &Request,
    launcher: &dyn Launcher,
) -> Result<Outcome, CommandError> {
    let key = &request.key;
    let settings = &request.settings;
    let folder = resolve_folder(ctx, request.folder.as_deref())?;
    let use_worktree = match request.worktree {
        Some(w) => w,
        None => ctx.config()?.config.workflow.worktree,
    };
    // Before anything is read or written: can there be a worktree here?
    let repo = if use_worktree {
        Some(worktree::discover(&folder)?)
    } else {
        None
    };
    let tracker = ctx.tracker()?;
    let ticket = {
        let _spin = ctx.output.spinner(&format!("Reading {key}"));
        tracker.get(key)?
    };
    // One ticket, one key: the key the tracker answered with (a moved or
    // wrong-case key resolves to the current one).
    let (asked, key) = (key, &ticket.key.clone());
    if !request.force {
        refuse_unready(&ticket)?;
    }
    // A dry run must not even create the store.
    let store = if request.dry_run {
        None
    } else {
        Some(ctx.store()?)
    };
    let existing = match &store {
        Some(s) => {
            crate::session::settle_key(s, tracker.as_ref(), asked, &ticket)?;
            s.sessions_for_ticket(key.as_str())?
        }
        None => Vec::new(),
    };
    // What an interrupted start left behind is replaced, not refused: it
    // links to no Codex session, so nothing is lost.
    let leftovers: Vec<i64> = existing
        .iter()
        .filter(|s| crate::session::never_started(s))
        .map(|s| s.id)
        .collect();
    if let Some(last) = existing.iter().rev().find(|s| !leftovers.contains(&s.id))
        && !request.new
    {
        return Ok(Outcome::HasSession(Box::new(last.clone())));
    }

    let plan = match &repo {
        Some(repo) => {
            // A dry run reads csm's records of worktrees, if there are any,
            // but never creates the store.
            let records = match &store {
                Some(s) => Some(worktree::recorded(s)?),
                None if ctx.dirs.store_file().is_file() => Some(worktree::recorded(ctx.store()?)?),
                None => None,
            };
            Some(plan_worktree(ctx, repo, key, &ticket, records)?)
        }
        None => None,
    };
    let branch = match &plan {
        Some(p) => Some(p.branch.clone()),
        None => crate::git::branch(&folder),
    };
    let data = StartData::new(&ticket, branch);
    // Templates come from the folder csm was started in (a new worktree
    // does not exist yet in a dry run).
    let prompt = ctx
        .template_dirs(&folder)
        .render(Template::Start, &data)
        .map_err(|e| CommandError::failure(e.to_string()).hint("fix the template"))?;
    let run_in = plan.as_ref().map_or(&folder, |p| &p.folder);
    let mut command =
        ctx.codex_command(request.dry_run, None, settings, run_in, Some(&prompt), None)?;
    let Some(store) = store else {
        return Ok(Outcome::DryRun {
            plan: plan.iter().flat_map(Plan::shell_lines).collect(),
            command: command.to_string(),
            prompt,
        });
    };

    // The worktree before the record: when git refuses, nothing is left
    // half made.
    let (folder, start_commit, applied) = match &plan {
        Some(plan) => {
            let applied = {
                let _spin = ctx.output.spinner("Making the worktree");
                worktree::apply(plan)?
            };
            ctx.output.info(&plan.describe());
            if applied.folder != plan.folder {
                command =
                    ctx.codex_command(false, None, settings, &applied.folder, Some(&prompt), None)?;
            }
            (
                applied.folder.clone(),
                applied.start_commit.clone(),
                Some(applied),
            )
        }
        None => (folder.clone(), crate::git::head(&folder), None),
    };
    // Record first: whatever happens next, the link is not lost.
    let snapshot = serde_json::to_value(&ticket).ok();
    let new_session = NewSession {
        ticket_key: key.to_string(),
        tracker: tracker.id(),
        folder: folder.clone(),
        settings: settings.to_json(),
        branch: data.branch.clone(),
        start_commit,
        ticket_snapshot: snapshot.clone(),
    };
    let session_id = if request.new {
        let id = store.insert_session(&new_session)?;
        store.set_pid(id, Some(std::process::id()))?;
        id
    } else {
        match store.claim_session(
            &new_session,
            std::process::id(),
            crate::session::never_started,
        )? {
            Claim::New(id) => id,
            Claim::Taken(other) => {
                return Err(CommandError::failure(format!(
                    "{key} already has a session (in {}), started a moment ago",
                    other.folder.display()
                ))
                .hint(format!("resume it with `csm resume {key}` once it is up"))
                .hint("or start another one with `csm start --new`"));
            }
        }
    };
    if let (Some(plan), Some(applied)) = (&plan, &applied) {
        worktree::record(store, session_id, plan, applied)?;
    }
    crate::crashpoint::here("start:recorded");
    // The tabs server is told which session it serves, known only now.
    let command = if settings.tabs_mode() == TabsMode::Off {
        command
    } else {
        ctx.codex_command(
            false,
            Some(session_id),
            settings,
            &folder,
            Some(&prompt),
            None,
        )?
    };
    let moved = move_to_start_status(ctx, tracker.as_ref(), key, &ticket.status)?;
    crate::crashpoint::here("start:moved");
    // Codex hears of the move in its prompt: it is no news to watch for.
    let snapshot = snapshot.map(|mut s| {
        if let Some(status) = moved {
            s["status"] = status.into();
        }
        s
    });
    mirror(
        &ctx.output,
        tracker.as_ref(),
        key,
        session_id,
        &folder,
        None,
    );
    store.mark_launched(session_id, snapshot.as_ref())?;
    crate::crashpoint::here("start:launching");
    ctx.output.info(&format!(
        "Starting Codex on {key} in {} (session {session_id}).",
        folder.display()
    ));
    let codex_home = ctx.codex_home()?;
    let output = ctx.output;
    let _watch = super::watching::start(ctx, session_id, key, &tracker.id(), &command);
    let outcome = launcher
        .launch(Launch {
            store_path: store.path(),
            session_id,
            command: &command,
            capture_in: Some(codex_home),
            thread_name: Some(format!("{key}: {}", sanitize(&ticket.summary))),
            // The prompt's first line is what tells this session's rollout
            // from another started in the same folder at the same moment.
            prompt_marker: prompt
                .lines()
                .next()
                .map(|l| l.chars().take(200).collect::<String>())
                .filter(|l| !l.trim().is_empty()),
            // On the watcher thread: the output and the tracker, not the
            // context (whose store connection stays on this thread).
            on_captured: Some(Box::new(|id: &str| {
                mirror(
                    &output,
                    tracker.as_ref(),
                    key,
                    session_id,
                    &folder,
                    Some(id),
                )
            })),
        })
        .map_err(|e| CommandError::failure(e.to_string()))?;
    Ok(Outcome::Ran {
        key: key.clone(),
        session_id,
        captured: outcome.captured.is_some(),
        exit: outcome.exit,
    })
}

/// The readiness gate: a ticket the lint rejects is refused, naming every
/// finding (the first in the error, the others as hints).
pub fn refuse_unready(ticket: &Ticket) -> Result<(), CommandError> {
    let verdict = crate::lint::lint_ticket(ticket);
    let Some(first) = verdict.findings.first() else {
        return Ok(());
    };
    let key = &ticket.key;
    let criteria = &ticket.acceptance_criteria;
    let more = verdict.findings.len() - 1;
    let mut message = format!("{key} is not ready: {}", sanitize(&first.problem(criteria)));
    if more > 0 {
        message.push_str(&format!(" (and {more} more)"));
    }
    let mut err = CommandError::failure(message).hint(first.reason.fix());
    const SHOWN: usize = 5;
    for f in verdict.findings.iter().skip(1).take(SHOWN) {
        err = err.hint(sanitize(&f.describe(criteria)));
    }
    if more > SHOWN {
        err = err.hint(format!("`csm lint {key}` lists all {} findings", more + 1));
    }
    Err(err.hint(format!(
        "rewrite the criteria with `csm draft-ticket {key}` (or in your tracker), or pass --force"
    )))
}

/// Decides where the ticket's worktree is: the branch from the template,
/// the worktree csm made for the ticket before (from `records`), the
/// repository's worktrees.
fn plan_worktree(
    ctx: &Context,
    repo: &Repo,
    key: &TicketKey,
    ticket: &Ticket,
    records: Option<Vec<worktree::Recorded>>,
) -> Result<Plan, CommandError> {
    let config = &ctx.config()?.config.worktree;
    let branch = worktree::branch_name(
        &config.branch,
        &BranchData {
            key: key.as_str(),
            summary: &ticket.summary,
            issue_type: ticket.issue_type.as_deref(),
        },
    )?;
    let parent = worktree::resolve_parent(config.parent.as_deref(), repo, ctx.home().as_deref())?;
    let records = records.unwrap_or_default();
    let previous = records
        .iter()
        .find(|r| r.key == key.as_str() && r.repo == repo.main);
    let facts = GitFacts {
        repo: &repo.main,
        owners: worktree::owners(&records),
    };
    let want = Want {
        key: key.as_str(),
        branch,
        parent,
        previous,
    };
    Ok(worktree::plan(repo, &want, &facts)?)
}

/// Resolves and checks the working folder.
pub fn resolve_folder(ctx: &Context, folder: Option<&Path>) -> Result<PathBuf, CommandError> {
    let folder = match folder {
        Some(f) if f.is_absolute() => f.to_path_buf(),
        Some(f) => ctx.cwd.join(f),
        None => ctx.cwd.clone(),
    };
    std::fs::canonicalize(&folder)
        .ok()
        .filter(|f| f.is_dir())
        .ok_or_else(|| {
            CommandError::usage(format!("{} is not a folder", folder.display()))
                .hint("pass an existing folder with --folder")
        })
}

fn move_to_start_status(
    ctx: &Context,
    tracker: &dyn Tracker,
    key: &TicketKey,
    current: &str,
) -> Result<Option<String>, CommandError> {
    let target = &ctx.config()?.config.workflow.start_status;
    if current.eq_ignore_ascii_case(target) {
        return Ok(None);
    }
    match crate::session::move_ticket(ctx.store().ok(), tracker, key, target) {
        // A GitHub issue without a label workflow stays open, as it was.
        Ok(now) if now.status.eq_ignore_ascii_case(current) => Ok(None),
        Ok(now) => {
            ctx.output.info(&format!(
                "{key}: {} → {}",
                sanitize(current),
                sanitize(&now.describe())
            ));
            Ok(Some(now.status))
        }
        // The user came to work, not to fix a workflow: say it and go on.
        Err(e) => {
            ctx.output.warn(&format!(
                "could not move {key} to \"{target}\": {}",
                CommandError::from(e).message
            ));
            Ok(None)
        }
    }
}

/// Mirrors the link to the tracker (best effort: a warning on failure).
pub fn mirror(
    output: &Output,
    tracker: &dyn Tracker,
    key: &TicketKey,
    session_id: i64,
    folder: &Path,
    codex_id: Option<&str>,
) {
    let host = crate::session::hostname();
    let value = serde_json::json!({
        "codex_session_id": codex_id,
        "folder": folder,
        "host": host,
        "csm_version": env!("CARGO_PKG_VERSION"),
        "csm_session": session_id,
    });
    if let Err(e) = tracker.set_property(key, PROPERTY, &value) {
        output.warn(&format!(
            "could not record the session on {key}: {}",
            CommandError::from(e).message
        ));
    }
}
