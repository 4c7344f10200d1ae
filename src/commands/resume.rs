//! `csm resume KEY`: bring back the ticket's Codex session in its folder
//! with its settings, telling Codex what changed on the ticket since.

use crate::codex::thread::{self, Unarchive};
use crate::codex::{Settings, rollout};
use crate::command_error::{CommandError, ExitKind};
use crate::context::Context;
use crate::launch::{self, Launch};
use crate::prompt::{Template, TicketChanges};
use crate::store::{NewSession, Session};
use crate::tracker::{Ticket, TicketKey, Tracker};
use crate::worktree;

/// Arguments of `csm resume`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ticket key.
    key: String,
    /// Which session: a Codex session id or csm's session number (default:
    /// the latest).
    #[arg(long)]
    session: Option<String>,
    /// Print the prompt and the exact Codex command; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Bring back an archived Codex session first (`codex unarchive`)
    /// without asking.
    #[arg(long)]
    unarchive: bool,
}

/// How long resume waits for the ticket before going on without its news.
pub const NEWS_WAIT_SECS: u64 = 5;

/// Runs `csm resume`.
pub fn run(ctx: &Context, args: Args) -> Result<(), CommandError> {
    let key = TicketKey::parse(&args.key)?;
    let store = ctx.store()?;
    // No session under the key given: it may be an old key of a moved ticket.
    let (key, sessions) = crate::session::sessions_of(&store, || ctx.tracker().ok(), &key)?;
    let session = crate::session::pick(&sessions, args.session.as_deref()).cloned();
    let session = match session {
        Some(s) => s,
        None if args.session.is_none() => adopt_from_tracker(ctx, &key)?,
        None => {
            return Err(CommandError::new(
                ExitKind::NotFound,
                format!("{key} has no such session"),
            )
            .hint(format!("`csm show {key}` lists its sessions")));
        }
    };
    let unarchive = if args.unarchive {
        Unarchive::Yes
    } else {
        Unarchive::Ask
    };
    match resume_and_wait_with(ctx, &key, &session, args.dry_run, unarchive)? {
        Some(exit) => super::start::exit_with(exit.code()),
        None => Ok(()),
    }
}

/// Resumes one recorded session and ends like Codex did.
pub fn resume_session(
    ctx: &Context,
    key: &TicketKey,
    session: &Session,
    dry_run: bool,
) -> Result<(), CommandError> {
    match resume_and_wait(ctx, key, session, dry_run)? {
        Some(exit) => super::start::exit_with(exit.code()),
        None => Ok(()),
    }
}

/// The Codex id a session is resumed by, or why it cannot be.
fn codex_id(key: &TicketKey, session: &Session) -> Result<String, CommandError> {
    session.codex_session_id.clone().ok_or_else(|| {
        CommandError::failure(format!("the Codex session id of {key} was never captured")).hint(
            format!("link it with `csm link {key} <SESSION-ID>` or `csm link {key} --last`"),
        )
    })
}

/// The exact command resume runs for a session, with `prompt` (what
/// changed on the ticket) when there is news. With `dry_run`, Codex is only
/// located, not run (the dashboard shows this command).
pub fn command_for(
    ctx: &Context,
    key: &TicketKey,
    session: &Session,
    prompt: Option<&str>,
    dry_run: bool,
) -> Result<crate::codex::CodexCommand, CommandError> {
    let codex_id = codex_id(key, session)?;
    let settings = Settings::from_json(&session.settings);
    ctx.codex_command(
        dry_run,
        Some(session.id),
        &settings,
        &session.folder,
        prompt,
        Some(&codex_id),
    )
}

/// Resumes one recorded session and returns how Codex ended (`None` for a
/// dry run): what `csm resume` and the dashboard's Enter both run.
pub fn resume_and_wait(
    ctx: &Context,
    key: &TicketKey,
    session: &Session,
    dry_run: bool,
) -> Result<Option<crate::pty::Exit>, CommandError> {
    resume_and_wait_with(ctx, key, session, dry_run, Unarchive::Ask)
}

/// [`resume_and_wait`], saying what to do with an archived session.
pub fn resume_and_wait_with(
    ctx: &Context,
    key: &TicketKey,
    session: &Session,
    dry_run: bool,
    unarchive: Unarchive,
) -> Result<Option<crate::pty::Exit>, CommandError> {
    let codex_id = codex_id(key, session)?;
    // Codex decides whether it knows the thread; csm never refuses over a
    // missing file (a compressed or archived rollout is still a session).
    let prepared = prepare(ctx, key, &codex_id, dry_run, unarchive)?;
    // A worktree csm removed (or someone deleted) comes back on its branch.
    let restore = if session.folder.is_dir() {
        None
    } else {
        Some(restore_worktree(ctx, key, session)?)
    };

    let now = read_ticket(ctx, session, key);
    let prompt = match (&now, &session.ticket_snapshot) {
        (Some((ticket, tracker)), Some(before)) => {
            changes_prompt(ctx, tracker.as_ref(), session, before, ticket)?
        }
        _ => None,
    };

    let command = command_for(ctx, key, session, prompt.as_deref(), dry_run)?;
    if dry_run {
        if let Some(p) = &prompt {
            println!("{p}");
            println!("---");
        }
        if prepared == thread::Prepared::WouldUnarchive {
            println!("codex unarchive {codex_id}");
        }
        for line in restore.iter().flat_map(worktree::Plan::shell_lines) {
            println!("{line}");
        }
        println!("{command}");
        return Ok(None);
    }
    let store = ctx.store()?;
    if let Some(plan) = &restore {
        let applied = worktree::apply(plan)?;
        worktree::record(&store, session.id, plan, &applied)?;
        ctx.output.info(&plan.describe());
    }
    let snapshot = now.as_ref().and_then(|(t, _)| serde_json::to_value(t).ok());
    store.mark_launched(session.id, snapshot.as_ref())?;
    crate::crashpoint::here("resume:launching");
    let _watch = super::watching::start(ctx, session.id, key, &session.tracker, &command);
    let outcome = launch::run(Launch {
        store_path: store.path(),
        session_id: session.id,
        command: &command,
        capture_in: None,
        thread_name: None,
        prompt_marker: None,
        on_captured: None,
    })
    .map_err(|e| CommandError::failure(e.to_string()))?;
    thread::after_resume(
        &ctx.codex_home()?,
        &codex_id,
        &prepared,
        outcome.exit.success(),
    )?;
    Ok(Some(outcome.exit))
}

/// Makes sure Codex can resume the session (`codex::thread`), in words
/// that name the ticket.
fn prepare(
    ctx: &Context,
    key: &TicketKey,
    codex_id: &str,
    dry_run: bool,
    unarchive: Unarchive,
) -> Result<thread::Prepared, CommandError> {
    let codex_home = ctx.codex_home()?;
    // Only found, not version-checked: asking Codex about a thread needs
    // no login, and the launch checks the version anyway.
    let program = if dry_run {
        None
    } else {
        Some(ctx.codex(false)?)
    };
    let env = ctx.child_env()?;
    let codex = program
        .as_deref()
        .map(|program| thread::Codex { program, env: &env });
    thread::prepare_resume(
        &codex_home,
        codex_id,
        codex,
        unarchive,
        &mut thread::ask_on_terminal,
    )
    .map_err(|e| {
        let archived = matches!(e, thread::ThreadError::Archived { .. });
        let err = CommandError::from(e);
        if archived {
            err.hint(format!("or run `csm resume {key} --unarchive`"))
        } else {
            err
        }
    })
}

/// The plan that brings back the session's worktree, when its folder was a
/// worktree csm made and its branch still exists.
fn restore_worktree(
    ctx: &Context,
    key: &TicketKey,
    session: &Session,
) -> Result<worktree::Plan, CommandError> {
    let gone = || {
        CommandError::failure(format!(
            "the session's folder {} no longer exists",
            session.folder.display()
        ))
        .hint(format!("start anew with `csm start {key} --new`"))
    };
    let store = ctx.store()?;
    let records = worktree::recorded(&store)?;
    let Some(rec) = records
        .iter()
        .find(|r| r.key == key.as_str() && session.folder.starts_with(&r.path))
    else {
        return Err(gone());
    };
    let repo = worktree::discover(&rec.repo)?;
    let facts = worktree::GitFacts {
        repo: &repo.main,
        owners: worktree::owners(&records),
    };
    use worktree::Facts;
    if !facts.branch_exists(&rec.branch) {
        return Err(CommandError::failure(format!(
            "the session's worktree {} and its branch {} are gone",
            rec.path.display(),
            rec.branch
        ))
        .hint(format!("start anew with `csm start {key} --new`")));
    }
    let want = worktree::Want {
        key: key.as_str(),
        branch: rec.branch.clone(),
        parent: rec.path.parent().unwrap_or(&rec.path).to_path_buf(),
        previous: Some(rec),
    };
    let plan = worktree::plan(&repo, &want, &facts)?;
    if plan.path != rec.path {
        return Err(CommandError::failure(format!(
            "the session's worktree {} is gone, and its branch {} is checked out in {}",
            rec.path.display(),
            rec.branch,
            plan.path.display()
        ))
        .hint(format!(
            "remove that worktree, or start anew there with `csm start {key} --new`"
        )));
    }
    Ok(plan)
}

/// Reads the ticket once, giving up quietly (with a warning) when the
/// tracker does not answer in time.
fn read_ticket(
    ctx: &Context,
    session: &Session,
    key: &TicketKey,
) -> Option<(Ticket, Box<dyn Tracker>)> {
    // The news is welcome, not needed: a slow tracker must not hold up
    // the session.
    ctx.quick_trackers(NEWS_WAIT_SECS);
    let tracker = match ctx.tracker_by_id(&session.tracker) {
        Ok(Some(t)) => t,
        _ => {
            ctx.output
                .warn("the ticket's tracker is not configured here; resuming without its news");
            return None;
        }
    };
    let _spin = ctx.output.spinner(&format!("Reading {key}"));
    match tracker.get(key) {
        Ok(t) => Some((t, tracker)),
        Err(e) => {
            ctx.output.warn(&format!(
                "cannot read {key} ({}); resuming without its news",
                CommandError::from(e).message
            ));
            None
        }
    }
}

fn changes_prompt(
    ctx: &Context,
    tracker: &dyn Tracker,
    session: &Session,
    before: &serde_json::Value,
    now: &Ticket,
) -> Result<Option<String>, CommandError> {
    let Ok(before) = serde_json::from_value::<Ticket>(before.clone()) else {
        return Ok(None);
    };
    let comments = if now.comment_count > before.comment_count {
        tracker.comments(&now.key).unwrap_or_default()
    } else {
        Vec::new()
    };
    let changes = TicketChanges::between(&before, now, &comments);
    if changes.is_empty() {
        return Ok(None);
    }
    ctx.output.info(&format!(
        "{} changed since the last launch: {}",
        now.key,
        changes.summary_line()
    ));
    ctx.template_dirs(&session.folder)
        .render(Template::Resume, &changes)
        .map(Some)
        .map_err(|e| CommandError::failure(e.to_string()).hint("fix the template"))
}

/// On a machine with no local record: find the session through the link
/// mirrored on the ticket, and record it here.
fn adopt_from_tracker(ctx: &Context, key: &TicketKey) -> Result<Session, CommandError> {
    let tracker = ctx.tracker()?;
    let property = tracker.property(key, super::start::PROPERTY)?;
    let codex_id = property
        .as_ref()
        .and_then(|p| p.get("codex_session_id"))
        .and_then(|v| v.as_str())
        .filter(|id| crate::codex::is_session_id(id))
        .map(str::to_string);
    let Some(codex_id) = codex_id else {
        return Err(CommandError::new(
            ExitKind::NotFound,
            format!("{key} has no session here or on the ticket"),
        )
        .hint(format!("start one with `csm start {key}`")));
    };
    let codex_home = ctx.codex_home()?;
    let env = ctx.child_env()?;
    let program = ctx.codex(false)?;
    let codex = thread::Codex {
        program: &program,
        env: &env,
    };
    let Some(path) = thread::find_rollout(&codex_home, &codex_id, Some(codex)) else {
        return Err(CommandError::new(
            ExitKind::NotFound,
            format!(
                "{key} was worked on in Codex session {codex_id}, which is not on this machine"
            ),
        )
        .hint("resume it on the machine where it ran, or start anew with `csm start --new`"));
    };
    let folder = rollout::read_meta(&path)
        .map(|m| m.cwd)
        .ok_or_else(|| CommandError::failure(format!("cannot read {}", path.display())))?;
    let store = ctx.store()?;
    let ticket = tracker.get(key).ok();
    let id = store.insert_session(&NewSession {
        ticket_key: key.to_string(),
        tracker: tracker.id(),
        folder,
        settings: serde_json::json!({}),
        branch: None,
        start_commit: None,
        ticket_snapshot: ticket.and_then(|t| serde_json::to_value(t).ok()),
    })?;
    store.set_codex_session_id(id, &codex_id)?;
    ctx.output.info(&format!(
        "Found {key}'s session {codex_id} through the ticket."
    ));
    store
        .session(id)?
        .ok_or_else(|| CommandError::failure("the session vanished from the store"))
}
