//! `csm start KEY`: read the ticket, render the opening prompt, record the
//! session, move the ticket to "In Progress", and launch Codex in the
//! ticket's folder, capturing its session id as soon as it exists. With
//! `--worktree` (or `[workflow] worktree = true`) that folder is a git
//! worktree on a branch of the ticket's own.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use crate::codex::Settings;
use crate::codex::settings::TabsMode;
use crate::command_error::{CommandError, ExitKind};
use crate::context::Context;
use crate::launch::{self, Launch};
use crate::output::sanitize;
use crate::prompt::{StartData, Template};
use crate::store::{Claim, NewSession};
use crate::tracker::{Ticket, TicketKey, Tracker};
use crate::worktree::{self, BranchData, GitFacts, Plan, Repo, Want};

/// Arguments of `csm start`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The ticket key, e.g. PROJ-123.
    key: String,
    /// The folder to work in (default: the current folder).
    #[arg(long)]
    folder: Option<PathBuf>,
    /// Print the prompt and the exact Codex command; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Start even if the readiness lint rejects the ticket (see `csm lint`).
    #[arg(long)]
    force: bool,
    /// Start another session although the ticket has one.
    #[arg(long)]
    new: bool,
    /// Settings for this session, e.g. `-s effort=high -s model=gpt-5.5`
    /// (see `csm set --help`).
    #[arg(short = 's', long = "set", value_name = "NAME=VALUE")]
    settings: Vec<String>,
    /// Work on a branch and in a git worktree of the ticket's own (default:
    /// `[workflow] worktree`); a second start finds them again.
    #[arg(long, overrides_with = "no_worktree")]
    worktree: bool,
    /// Work in the folder itself, even when `[workflow] worktree` is on.
    #[arg(long)]
    no_worktree: bool,
}

impl Args {
    /// `csm start KEY` with no options (the dashboard's `s`).
    pub fn for_key(key: &str) -> Args {
        Args {
            key: key.to_string(),
            folder: None,
            dry_run: false,
            force: false,
            new: false,
            settings: Vec::new(),
            worktree: false,
            no_worktree: false,
        }
    }
}

/// The `csm.session` property mirrored to the tracker.
pub const PROPERTY: &str = crate::session::PROPERTY;

/// Runs `csm start`.
pub fn run(ctx: &Context, args: Args) -> Result<(), CommandError> {
    let key = TicketKey::parse(&args.key)?;
    let mut settings = Settings::default();
    for s in &args.settings {
        settings
            .apply(s)
            .map_err(|e| CommandError::usage(e.to_string()))?;
    }
    let folder = resolve_folder(ctx, args.folder.as_deref())?;
    let use_worktree =
        !args.no_worktree && (args.worktree || ctx.config()?.config.workflow.worktree);
    // Before anything is read or written: can there be a worktree here?
    let repo = if use_worktree {
        Some(worktree::discover(&folder)?)
    } else {
        None
    };
    let tracker = ctx.tracker()?;
    let ticket = {
        let _spin = ctx.output.spinner(&format!("Reading {key}"));
        tracker.get(&key)?
    };
    // One ticket, one key: the key the tracker answered with (a moved or
    // wrong-case key resolves to the current one).
    let (asked, key) = (key, ticket.key.clone());
    if !args.force {
        refuse_unready(&ticket)?;
    }
    // A dry run must not even create the store.
    let store = if args.dry_run {
        None
    } else {
        Some(ctx.store()?)
    };
    let existing = match &store {
        Some(s) => {
            crate::session::settle_key(s, tracker.as_ref(), &asked, &ticket)?;
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
        && !args.new
    {
        if std::io::stdin().is_terminal() && ask_resume(&key)? {
            return super::resume::resume_session(ctx, &key, last, false);
        }
        return Err(CommandError::failure(format!(
            "{key} already has a session (in {})",
            last.folder.display()
        ))
        .hint(format!("resume it with `csm resume {key}`"))
        .hint("or start another one with `csm start --new`"));
    }

    let plan = match &repo {
        Some(repo) => {
            // A dry run reads csm's records of worktrees, if there are any,
            // but never creates the store.
            let records = match &store {
                Some(s) => Some(worktree::recorded(s)?),
                None if ctx.dirs.store_file().is_file() => Some(worktree::recorded(&ctx.store()?)?),
                None => None,
            };
            Some(plan_worktree(ctx, repo, &key, &ticket, records)?)
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
        ctx.codex_command(args.dry_run, None, &settings, run_in, Some(&prompt), None)?;
    if args.dry_run {
        println!("{prompt}");
        println!("---");
        for line in plan.iter().flat_map(Plan::shell_lines) {
            println!("{line}");
        }
        println!("{command}");
        return Ok(());
    }

    let Some(store) = store else {
        return Ok(());
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
                command = ctx.codex_command(
                    false,
                    None,
                    &settings,
                    &applied.folder,
                    Some(&prompt),
                    None,
                )?;
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
    let session_id = if args.new {
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
        worktree::record(&store, session_id, plan, applied)?;
    }
    crate::crashpoint::here("start:recorded");
    // The tabs server is told which session it serves, known only now.
    let command = if settings.tabs_mode() == TabsMode::Off {
        command
    } else {
        ctx.codex_command(
            false,
            Some(session_id),
            &settings,
            &folder,
            Some(&prompt),
            None,
        )?
    };
    let moved = move_to_start_status(ctx, tracker.as_ref(), &key, &ticket.status)?;
    crate::crashpoint::here("start:moved");
    // Codex hears of the move in its prompt: it is no news to watch for.
    let snapshot = snapshot.map(|mut s| {
        if let Some(status) = moved {
            s["status"] = status.into();
        }
        s
    });
    mirror(ctx, tracker.as_ref(), &key, session_id, &folder, None);
    store.mark_launched(session_id, snapshot.as_ref())?;
    crate::crashpoint::here("start:launching");
    ctx.output.info(&format!(
        "Starting Codex on {key} in {} (session {session_id}).",
        folder.display()
    ));
    let codex_home = ctx.codex_home()?;
    let _watch = super::watching::start(ctx, session_id, &key, &tracker.id(), &command);
    let outcome = launch::run(Launch {
        store_path: store.path(),
        session_id,
        command: &command,
        capture_in: Some(codex_home),
        thread_name: Some(format!(
            "{key}: {}",
            crate::output::sanitize(&ticket.summary)
        )),
        // The prompt's first line is what tells this session's rollout from
        // another started in the same folder at the same moment.
        prompt_marker: prompt
            .lines()
            .next()
            .map(|l| l.chars().take(200).collect::<String>())
            .filter(|l| !l.trim().is_empty()),
        on_captured: Some(Box::new(|id: &str| {
            mirror(ctx, tracker.as_ref(), &key, session_id, &folder, Some(id))
        })),
    })
    .map_err(|e| CommandError::failure(e.to_string()))?;
    match &outcome.captured {
        Some(_) => ctx
            .output
            .info(&format!("Codex exited. Continue with `csm resume {key}`.")),
        None => ctx.output.warn(&format!(
            "Codex exited before its session id was seen; link it later with `csm link {key} --last`"
        )),
    }
    exit_with(outcome.exit.code())
}

/// The readiness gate: a ticket the lint rejects is refused, naming every
/// finding (the first in the error, the others as hints).
pub fn refuse_unready(ticket: &crate::tracker::Ticket) -> Result<(), CommandError> {
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
pub fn resolve_folder(
    ctx: &Context,
    folder: Option<&std::path::Path>,
) -> Result<PathBuf, CommandError> {
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

fn ask_resume(key: &TicketKey) -> Result<bool, CommandError> {
    eprint!("{key} already has a session. Resume it? [Y/n] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| CommandError::failure(format!("cannot read the answer: {e}")))?;
    Ok(!answer.trim().eq_ignore_ascii_case("n"))
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
    match crate::session::move_ticket(ctx.store().ok().as_ref(), tracker, key, target) {
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
    ctx: &Context,
    tracker: &dyn Tracker,
    key: &TicketKey,
    session_id: i64,
    folder: &std::path::Path,
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
        ctx.output.warn(&format!(
            "could not record the session on {key}: {}",
            CommandError::from(e).message
        ));
    }
}

/// Ends csm with Codex's exit code.
pub fn exit_with(code: i32) -> Result<(), CommandError> {
    if code == 0 {
        return Ok(());
    }
    Err(CommandError::new(
        ExitKind::Child(u8::try_from(code).unwrap_or(1)),
        format!("codex exited with status {code}"),
    ))
}
