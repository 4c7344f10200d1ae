//! `done KEY`: ask Codex for a per-criterion report, add the repository's
//! evidence, post the note to the ticket exactly once through the outbox,
//! and move the ticket to its done status.

use serde::Serialize;

use crate::codex::Settings;
use crate::codex::exec::{self, Request as ExecRequest};
use crate::command_error::{CommandError, ExitKind};
use crate::context::Context;
use crate::event::{EventKind, ReportEvent, SessionEvent};
use crate::evidence::{self, RepoEvidence, TestRun};
use crate::git::Commit;
use crate::note::{self, NoteContext, NoteData};
use crate::outbox::{self, kind};
use crate::prompt::Template;
use crate::report::{self, Report};
use crate::store::Store;
use crate::tracker::walk;
use crate::tracker::{Ticket, TicketKey};

use super::sync::deliver;

/// What to finish, and how.
#[derive(Clone, Debug)]
pub struct Request {
    /// The ticket.
    pub key: TicketKey,
    /// Which session: a Codex session id or csm's session number (default:
    /// the latest).
    pub session: Option<String>,
    /// The status to move the ticket to (default: `[workflow] done_status`).
    pub status: Option<String>,
    /// Post the note but leave the ticket's status alone.
    pub no_transition: bool,
    /// Move the ticket even if a criterion is not shown met.
    pub force: bool,
    /// Show the note and what would happen; change nothing.
    pub dry_run: bool,
    /// Edit the note in $EDITOR before it is posted.
    pub edit: bool,
    /// Run `[workflow] test_command` and put its result in the note.
    pub run_tests: bool,
    /// Log the session's active time as work on the ticket.
    pub log_work: bool,
    /// Then remove the ticket's worktree.
    pub cleanup: bool,
    /// Push the ticket's branch and open its pull request on GitHub (also
    /// `[workflow] pr = true`).
    pub pr: bool,
    /// The branch the pull request merges into (default: the
    /// repository's default branch).
    pub base: Option<String>,
    /// Open the pull request as a draft.
    pub draft: bool,
}

impl Request {
    /// Finishes `key`'s latest session with the defaults (the dashboard's
    /// `d`).
    pub fn new(key: TicketKey) -> Request {
        Request {
            key,
            session: None,
            status: None,
            no_transition: false,
            force: false,
            dry_run: false,
            edit: false,
            run_tests: false,
            log_work: false,
            cleanup: false,
            pr: false,
            base: None,
            draft: false,
        }
    }
}

/// How a `done` ended.
#[derive(Debug)]
pub enum Outcome {
    /// A note an earlier `done` left queued was delivered; nothing new
    /// was written.
    DeliveredEarlier,
    /// A dry run: the note and what would happen.
    Preview {
        /// The note as it would be posted (more than one part when it is
        /// longer than the tracker takes).
        notes: Vec<String>,
        /// What would happen, one line each.
        actions: Vec<String>,
    },
    /// The note is posted (or queued) and the ticket moved.
    Done,
}

/// Finishes a ticket: the report, the note, the move, through the outbox.
pub fn run(ctx: &Context, request: &Request) -> Result<Outcome, CommandError> {
    let args = request;
    let key = args.key.clone();
    // A dry run must not even create the store.
    if args.dry_run && !ctx.dirs.store_file().exists() {
        return Err(no_session(&key));
    }
    let store = ctx.store()?;
    let (key, sessions) = crate::session::sessions_of(store, || ctx.tracker().ok(), &key)?;
    let session = crate::session::pick(&sessions, args.session.as_deref())
        .cloned()
        .ok_or_else(|| no_session(&key))?;

    // A note queued by an earlier `csm done` goes out first, and is the
    // answer: running done again must not write a second note.
    if !args.dry_run && has_pending(store, &key)? {
        ctx.output.info(&format!(
            "What an earlier `csm done {key}` queued (its note, push or pull request) is still waiting; sending it."
        ));
        deliver(ctx, store, &key)?;
        if args.cleanup && has_worktree(store, &key)? {
            super::prune::run(ctx, &key, false)?;
        }
        return Ok(Outcome::DeliveredEarlier);
    }

    let Some(codex_id) = session.codex_session_id.clone() else {
        return Err(CommandError::failure(format!(
            "the Codex session id of {key} was never captured, so Codex cannot report on it"
        ))
        .hint(format!(
            "link it with `csm link {key} <SESSION-ID>` or `csm link {key} --last`"
        )));
    };
    let tracker = ctx.tracker_by_id(&session.tracker)?.ok_or_else(|| {
        CommandError::usage(format!(
            "{key} belongs to the tracker {}, which is not configured here",
            session.tracker
        ))
        .hint("run csm done in the repository or with the config the session was started with")
    })?;
    let ticket = {
        let _spin = ctx.output.spinner(&format!("Reading {key}"));
        tracker.get(&key)?
    };
    let config = &ctx.config()?.config;
    let target = args
        .status
        .clone()
        .unwrap_or_else(|| config.workflow.done_status.clone());
    // `[workflow] done_path` spells the way out, one queued move a status.
    let steps = match args.status {
        Some(_) => vec![target.clone()],
        None => walk::planned(&ticket.status, &target, &config.workflow.done_path),
    };

    // A move that cannot happen is said now, before Codex is asked and
    // anything is posted.
    if !args.no_transition {
        crate::tracker::check_transition(tracker.as_ref(), &key, &ticket.status, &steps[0])
            .map_err(|e| {
                if matches!(e, crate::tracker::TrackerError::WalkStopped { .. }) {
                    return CommandError::from(e);
                }
                let hint = match &e {
                    crate::tracker::TrackerError::TransitionNeedsFields { .. } => format!(
                        "move it in the tracker yourself, then post the note with `csm done {key} --no-transition`"
                    ),
                    _ => "pass --status with one of the available statuses, or --no-transition".to_string(),
                };
                CommandError::failure(crate::output::sanitize(&e.to_string())).hint(hint)
            })?;
    }
    let pr = if args.pr || args.base.is_some() || args.draft || config.workflow.pr {
        let options = crate::pr::Options {
            base: args.base.clone(),
            draft: args.draft,
            force: args.force,
        };
        Some(crate::pr::prepare(ctx, &session.folder, options)?)
    } else {
        None
    };
    let repo = evidence::gather(&session.folder, session.start_commit.as_deref());
    let tests = if args.run_tests {
        Some(run_tests(ctx, &session.folder)?)
    } else {
        None
    };
    let report = ask_for_report(
        ctx,
        &session,
        &codex_id,
        &ticket,
        repo.as_ref(),
        args.dry_run,
    )?;

    let will_move = !args.no_transition;
    let open: Vec<String> = report
        .open()
        .iter()
        .map(|c| format!("{} ({})", c.number, crate::output::sanitize(&c.text)))
        .collect();
    let blocked = will_move && !open.is_empty() && !args.force;
    let now = crate::store::now_ms();
    let active_ms = {
        let events = store.events(session.id, 10_000)?;
        let pairs: Vec<(i64, Option<EventKind>)> = events
            .iter()
            .map(|e| (e.at, EventKind::parse(&e.kind)))
            .collect();
        evidence::active_ms(&pairs, now)
    };
    let marker = note::new_marker();
    let mut data = NoteData::new(
        NoteContext {
            key: key.to_string(),
            summary: ticket.summary.clone(),
            target: target.clone(),
            will_move,
            blocked,
            session_id: codex_id.clone(),
            duration: format!(
                "started {} ago",
                evidence::human_duration(now - session.created_at)
            ),
            active: (active_ms > 0).then(|| evidence::human_duration(active_ms)),
            usage: ticket_usage(ctx, store, key.as_str(), args.dry_run),
            marker: marker.clone(),
        },
        &report,
        repo,
        tests,
    );
    if pr.is_some() {
        data.pull_request = Some(outbox::PR_PLACEHOLDER.into());
    }
    let dirs = ctx.template_dirs(&session.folder);
    let render = |d: &NoteData| {
        d.render(&dirs)
            .map_err(|e| CommandError::failure(e.to_string()).hint("fix the template"))
    };
    let (limit, size) = (tracker.comment_limit(), |b: &str| tracker.comment_size(b));
    // The note within the tracker's limit: long evidence collapsed, then
    // numbered parts.
    let parts = if args.edit {
        let body = edit_note(ctx, &render(&data)?, &marker)?;
        note::fit_text(&body, key.as_str(), &marker, limit, size)
    } else {
        note::fit(&data, limit, size, render)?
    };

    if args.dry_run {
        let mut actions = vec![format!("would post this note to {key}")];
        if blocked {
            actions.push(format!(
                "would not move {key} to \"{target}\": open criteria {}",
                open.join(", ")
            ));
        } else if will_move {
            actions.push(format!("would move {key} to \"{target}\""));
        }
        if args.log_work {
            actions.push(format!(
                "would log {} of work",
                evidence::human_duration(active_ms)
            ));
        }
        if let Some(pr) = &pr {
            actions.push(pr.describe(open.len()));
        }
        if args.cleanup && has_worktree(store, &key)? && !blocked {
            actions.extend(super::prune::run(ctx, &key, true)?);
        }
        return Ok(Outcome::Preview {
            notes: parts
                .iter()
                .map(|p| p.body.trim_end().to_string())
                .collect(),
            actions,
        });
    }

    // Queue everything before any request: from here on nothing is lost.
    let pr_items = match &pr {
        Some(pr) => Some(
            pr.items(
                &ctx.template_dirs(&session.folder),
                &data,
                &key,
                &tracker.id(),
                session.id,
                open.len(),
            )
            .map_err(|e| CommandError::failure(e.to_string()).hint("fix the template"))?,
        ),
        None => None,
    };
    let (mut items, link) = pr_items.map_or((Vec::new(), None), |(b, l)| (b, Some(l)));
    items.extend(parts.into_iter().map(|p| (kind::COMMENT, p.body, p.marker)));
    items.extend(outbox::tick_item(tracker.as_ref(), &report, &marker));
    if will_move && !blocked {
        for (i, step) in steps.iter().enumerate() {
            let suffix = if i == 0 {
                String::new()
            } else {
                format!("-{}", i + 1)
            };
            items.push((
                kind::TRANSITION,
                step.clone(),
                format!("{marker}:move{suffix}"),
            ));
        }
    }
    if args.log_work && active_ms == 0 {
        ctx.output.warn(&format!(
            "csm has no record of Codex running for {key}, so no work is logged"
        ));
    }
    if args.log_work && active_ms > 0 {
        items.push((
            kind::WORKLOG,
            (active_ms / 1000).to_string(),
            format!("{marker}:work"),
        ));
    }
    items.extend(link);
    let (_, report_event) = SessionEvent::Report(ReportEvent {
        marker: Some(marker.clone()),
        summary: Some(report.summary.clone()),
        criteria: serde_json::to_value(&report.criteria).unwrap_or_default(),
        problem: report.problem.clone(),
    })
    .to_row();
    crate::crashpoint::here("done:reported");
    // The session is done once its note and move are safely queued; the
    // outbox sees them through.
    store.outbox_queue(
        key.as_str(),
        &tracker.id(),
        &items,
        session.id,
        &report_event,
        !blocked,
    )?;
    drop(tracker);
    crate::crashpoint::here("done:queued");

    deliver(ctx, store, &key)?;
    if blocked {
        return Err(CommandError::failure(format!(
            "{key} stays in \"{}\": criteria not shown met: {}",
            ticket.status,
            open.join(", ")
        ))
        .hint(format!(
            "the note is on the ticket; finish the work with `csm resume {key}`, or move it anyway with `csm done {key} --force`"
        )));
    }
    if args.cleanup && has_worktree(store, &key)? {
        super::prune::run(ctx, &key, false).map_err(|e| {
            e.hint(format!(
                "the note is on {key} and the worktree stays; commit and push, then `csm worktree prune {key}`"
            ))
        })?;
    }
    Ok(Outcome::Done)
}

fn no_session(key: &TicketKey) -> CommandError {
    CommandError::new(
        ExitKind::NotFound,
        format!("{key} has no session to finish"),
    )
    .hint(format!(
        "start one with `csm start {key}`, or adopt a Codex session with `csm link {key}`"
    ))
}

fn has_worktree(store: &Store, key: &TicketKey) -> Result<bool, CommandError> {
    Ok(crate::worktree::recorded_for_ticket(store, key.as_str())?
        .iter()
        .any(|r| !r.removed))
}

fn has_pending(store: &Store, key: &TicketKey) -> Result<bool, CommandError> {
    Ok(store
        .outbox_pending()?
        .iter()
        .any(|i| i.ticket_key == key.as_str()))
}

#[derive(Serialize)]
struct ReportPrompt<'a> {
    key: &'a str,
    summary: String,
    criteria: Vec<Numbered>,
    commits: &'a [Commit],
}

#[derive(Serialize)]
struct Numbered {
    number: usize,
    text: String,
}

/// Runs `codex exec resume` on the session for the per-criterion report,
/// read-only, with one retry after an invalid answer.
fn ask_for_report(
    ctx: &Context,
    session: &crate::store::Session,
    codex_id: &str,
    ticket: &Ticket,
    repo: Option<&RepoEvidence>,
    dry_run: bool,
) -> Result<Report, CommandError> {
    // A dry run must not touch the store, where the version check is cached.
    let program = ctx.codex(!dry_run)?;
    let env = ctx.child_env()?;
    let mut settings = Settings::from_json(&session.settings);
    settings
        .apply("sandbox=read-only")
        .map_err(|e| CommandError::failure(e.to_string()))?;
    let prompt = ctx
        .template_dirs(&session.folder)
        .render(
            Template::Report,
            &ReportPrompt {
                key: ticket.key.as_str(),
                summary: crate::prompt::clean(&ticket.summary),
                criteria: ticket
                    .acceptance_criteria
                    .iter()
                    .enumerate()
                    .map(|(i, c)| Numbered {
                        number: i + 1,
                        text: crate::prompt::clean(c),
                    })
                    .collect(),
                commits: repo.map_or(&[], |r| &r.commits),
            },
        )
        .map_err(|e| CommandError::failure(e.to_string()).hint("fix the template"))?;
    let scratch = tempfile::Builder::new()
        .prefix("csm-report-")
        .tempdir()
        .map_err(|e| CommandError::failure(format!("cannot make a temporary folder: {e}")))?;
    let schema = scratch.path().join("report.schema.json");
    std::fs::write(&schema, report::SCHEMA)
        .map_err(|e| CommandError::failure(format!("cannot write {}: {e}", schema.display())))?;
    let answer_file = scratch.path().join("answer.json");
    let _spin = ctx
        .output
        .spinner(&format!("Asking Codex to report on {}", ticket.key));
    let (report, _answers) = report::obtain(&ticket.acceptance_criteria, &prompt, |p| {
        let _ = std::fs::remove_file(&answer_file);
        let outcome = exec::run(&ExecRequest {
            program: &program,
            cwd: &session.folder,
            env: &env,
            settings: &settings,
            prompt: p,
            resume: Some(codex_id),
            output_schema: Some(&schema),
            last_message_file: Some(answer_file.clone()),
        })?;
        Ok::<_, exec::ExecError>(
            std::fs::read_to_string(&answer_file)
                .ok()
                .filter(|a| !a.trim().is_empty())
                .or(outcome.final_message),
        )
    })
    .map_err(|e| {
        CommandError::failure(format!("Codex could not report on {}: {e}", ticket.key))
            .hint("nothing was posted; check `codex` with `csm doctor` and try again")
    })?;
    if let Some(problem) = &report.problem {
        ctx.output
            .warn(&format!("{problem}; every criterion is shown as unclear"));
    }
    Ok(report)
}

fn run_tests(ctx: &Context, folder: &std::path::Path) -> Result<TestRun, CommandError> {
    let Some(argv) = ctx.config()?.config.workflow.test_command.clone() else {
        return Err(CommandError::usage(
            "--run-tests needs a test command, and none is configured",
        )
        .hint("set [workflow] test_command = [\"cargo\", \"test\"] in .csm.toml"));
    };
    let env = ctx.child_env()?;
    let _spin = ctx.output.spinner(&format!("Running {}", argv.join(" ")));
    evidence::run_tests(&argv, folder, &env).map_err(|e| {
        CommandError::failure(format!(
            "cannot run the test command `{}`: {e}",
            argv.join(" ")
        ))
        .hint("fix [workflow] test_command")
    })
}

/// Lets the user edit the note; keeps the marker on it.
fn edit_note(ctx: &Context, body: &str, marker: &str) -> Result<String, CommandError> {
    let edited = crate::editor::edit(body, &ctx.dirs.state.join("tmp"), "csm-note")
        .map_err(|e| CommandError::failure(e.to_string()))?;
    if edited.trim().is_empty() {
        return Err(
            CommandError::failure("the note is empty; nothing was posted")
                .hint("run csm done again and keep some text in the note"),
        );
    }
    if note::carries(&edited, marker) {
        Ok(edited)
    } else {
        Ok(format!("{}\n\n_csm note {marker}_\n", edited.trim_end()))
    }
}

/// Codex's token usage over all the ticket's sessions, one line (a dry run
/// leaves the usage cache as it is).
fn ticket_usage(
    ctx: &Context,
    store: &crate::store::Store,
    key: &str,
    dry_run: bool,
) -> Option<String> {
    let sessions = store.sessions_for_ticket(key).ok()?;
    let ids: Vec<&str> = sessions
        .iter()
        .filter_map(|s| s.codex_session_id.as_deref())
        .collect();
    let home = ctx.codex_home().ok()?;
    let usage = if dry_run {
        crate::usage::of_threads_read_only(store, &home, &ids)
    } else {
        crate::usage::of_threads(store, &home, &ids)
    };
    crate::usage::total(usage.values()).map(|u| u.summary_line())
}
