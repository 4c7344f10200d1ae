//! `csm draft-ticket ["idea" | -f FILE | KEY]`: Codex turns an idea into a
//! ready ticket, or rewrites an existing ticket's acceptance criteria.
//!
//! Codex runs read-only in the repository (`codex exec --output-schema`)
//! so it can read the code; its answer is checked against the draft
//! schema, the readiness lint's findings go back to Codex once for a
//! revision, and the user accepts, edits (in `$VISUAL`/`$EDITOR`) or
//! rejects the draft before anything is written. An unusable answer is
//! kept in csm's state folder and its path is printed.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use crate::codex::Settings;
use crate::codex::exec::{self, Request};
use crate::command_error::CommandError;
use crate::context::Context;
use crate::draft::{self, DiffLine, Draft, PromptData};
use crate::lint::{self, Verdict};
use crate::output::sanitize;
use crate::prompt::Template;
use crate::tracker::{Ticket, TicketKey, TicketUpdate, TrackerKind};

/// Arguments of `csm draft-ticket`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The idea, or the key of a ticket whose acceptance criteria to
    /// rewrite. Without it (and without -f), the idea is read from
    /// standard input.
    #[arg(value_name = "IDEA|KEY", conflicts_with = "file")]
    input: Option<String>,
    /// Read the idea from FILE (`-` for standard input).
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    /// The new ticket's project (Jira project key, or the local key prefix).
    #[arg(short, long)]
    project: Option<String>,
    /// The new ticket's issue type (Jira; default Story).
    #[arg(long = "type", value_name = "TYPE")]
    issue_type: Option<String>,
    /// The repository folder Codex reads (default: the current folder).
    #[arg(long)]
    folder: Option<PathBuf>,
    /// Accept the draft without review (no terminal needed).
    #[arg(short, long)]
    yes: bool,
    /// Codex settings for the drafting run, e.g. `-s effort=high` (see
    /// `csm set --help`). Codex always runs read-only.
    #[arg(short = 's', long = "set", value_name = "NAME=VALUE")]
    settings: Vec<String>,
}

/// What is being drafted.
enum Goal {
    /// A new ticket from an idea.
    New(String),
    /// New criteria for an existing ticket.
    Criteria(TicketKey),
}

/// Runs `csm draft-ticket`.
pub fn run(ctx: &Context, args: Args) -> Result<(), CommandError> {
    let settings = settings(&args.settings)?;
    let goal = goal(&args)?;
    if matches!(goal, Goal::Criteria(_)) && (args.project.is_some() || args.issue_type.is_some()) {
        return Err(CommandError::usage(
            "--project and --type are for new tickets; a KEY's criteria are rewritten in place",
        )
        .hint("drop --project and --type, or pass an idea instead of a key"));
    }
    // Review needs a terminal: say so before Codex spends a turn.
    if !args.yes && !std::io::stdin().is_terminal() {
        return Err(CommandError::usage(
            "cannot review the draft: standard input is not a terminal",
        )
        .hint("pass --yes to accept the draft without review, or run csm in a terminal"));
    }
    let folder = super::start::resolve_folder(ctx, args.folder.as_deref())?;
    let tracker = ctx.tracker()?;
    if matches!(goal, Goal::New(_))
        && tracker.kind() == TrackerKind::Jira
        && args.project.is_none()
        && ctx.config()?.config.jira.project.is_none()
    {
        return Err(CommandError::usage("no project for the new ticket")
            .hint("pass --project KEY, or set [jira] project in the config"));
    }
    if matches!(goal, Goal::New(_))
        && tracker.kind() == TrackerKind::Github
        && args.project.is_none()
        && ctx.github_repo()?.is_none()
    {
        return Err(CommandError::usage("no repository for the new issue")
            .hint("pass --project owner/name, set [github] repo, or run csm in a clone"));
    }
    let current: Option<Ticket> = match &goal {
        Goal::Criteria(key) => {
            let _spin = ctx.output.spinner(&format!("Reading {key}"));
            Some(tracker.get(key)?)
        }
        Goal::New(_) => None,
    };
    let first_prompt = match (&goal, &current) {
        (Goal::Criteria(_), Some(ticket)) => PromptData::ticket(ticket, &folder),
        (Goal::New(idea), _) => PromptData::idea(
            idea,
            &folder,
            args.project.as_deref(),
            args.issue_type.as_deref(),
        ),
        (Goal::Criteria(_), None) => unreachable!("an existing ticket was read above"),
    };
    let existing = current.is_some();
    let verdict_of = |d: &Draft| -> Verdict {
        match &current {
            Some(t) => lint::lint(&t.summary, &d.acceptance_criteria),
            None => d.verdict(),
        }
    };

    let work = Workspace::new(ctx)?;
    let codex = Codex {
        program: ctx.codex(true)?,
        env: ctx.child_env()?,
        folder: &folder,
        settings: &settings,
        schema: &work.schema,
    };
    let templates = ctx.template_dirs(&folder);
    let render = |data: &PromptData| {
        templates
            .render(Template::Draft, data)
            .map_err(|e| CommandError::failure(e.to_string()).hint("fix the template"))
    };

    let answer_file = work.file("answer.json");
    let (first, thread) = codex.ask(
        ctx,
        &render(&first_prompt)?,
        None,
        &answer_file,
        "Codex is reading the code and drafting",
    )?;
    let mut draft = first.map_err(|(e, path)| unusable(e, &path))?;
    let _ = std::fs::remove_file(&answer_file);

    let findings = draft::feedback(&verdict_of(&draft), &draft.acceptance_criteria, existing);
    if !findings.is_empty() {
        match thread {
            Some(thread) => {
                ctx.output.info(&format!(
                    "The readiness lint found {} in the draft; Codex revises it once.",
                    count(findings.len(), "problem")
                ));
                let revision_file = work.file("revision.json");
                let (revised, _) = codex.ask(
                    ctx,
                    &render(&first_prompt.revision(findings))?,
                    Some(&thread),
                    &revision_file,
                    "Codex is revising the draft",
                )?;
                match revised {
                    Ok(d) => {
                        draft = d;
                        let _ = std::fs::remove_file(&revision_file);
                    }
                    Err((e, path)) => ctx.output.warn(&format!(
                        "{e}; the raw answer is kept in {}. Showing the first draft.",
                        path.display()
                    )),
                }
            }
            None => ctx
                .output
                .warn("Codex's run has no session id, so the draft cannot be revised"),
        }
    }

    // Review: nothing is written before the user (or --yes) accepts.
    loop {
        let verdict = verdict_of(&draft);
        if !(args.yes && ctx.output.quiet) {
            show(ctx, &draft, current.as_ref(), &verdict);
        }
        let missing = if draft.acceptance_criteria.is_empty() {
            Some("acceptance criteria")
        } else if !existing && draft.summary.is_empty() {
            Some("summary")
        } else {
            None
        };
        if args.yes {
            if let Some(what) = missing {
                let path = work.file("draft.md");
                let _ = crate::paths::write_private(&path, draft.to_markdown());
                return Err(CommandError::failure(format!(
                    "the draft has no {what}: nothing was written"
                ))
                .hint(format!("the draft is kept in {}", path.display()))
                .hint("run the command again, or review the draft without --yes"));
            }
            break;
        }
        match (ask(current.as_ref())?, missing) {
            (Choice::Accept, Some(what)) => {
                eprintln!("The draft has no {what}: edit it, or reject it.")
            }
            (Choice::Accept, None) => break,
            (Choice::Reject, _) => {
                return Err(CommandError::failure(
                    "the draft was rejected: nothing was written",
                ));
            }
            (Choice::Edit, _) => {
                let findings = draft::feedback(&verdict, &draft.acceptance_criteria, existing);
                let key = current.as_ref().map(|t| t.key.to_string());
                let text = draft::edit_text(&draft, key.as_deref(), &findings);
                // A failed editor leaves the draft as it was.
                match crate::editor::edit(&text, &work.dir, "draft") {
                    Ok(edited) => draft = draft::apply_edit(&draft, &edited, existing),
                    Err(e) => ctx.output.warn(&e.to_string()),
                }
            }
        }
    }

    let keep = |e: CommandError| -> CommandError {
        let path = work.file("draft.md");
        match crate::paths::write_private(&path, draft.to_markdown()) {
            Ok(()) => e.hint(format!("the accepted draft is kept in {}", path.display())),
            Err(_) => e,
        }
    };
    match &current {
        None => {
            let new = draft.new_ticket(args.project.clone(), args.issue_type.clone());
            let key = {
                let _spin = ctx.output.spinner("Creating the ticket");
                tracker.create(&new).map_err(|e| keep(e.into()))?
            };
            println!("{key}");
            ctx.output.info(&format!(
                "Created {key}: {}. Start work on it with `csm start {key}`.",
                draft.summary
            ));
            ready_note(ctx, &key, &verdict_of(&draft));
        }
        Some(before) => {
            let key = before.key.clone();
            let spin = ctx.output.spinner(&format!("Updating {key}"));
            // Someone may have changed the criteria while Codex drafted.
            let now = tracker.get(&key).map_err(|e| keep(e.into()))?;
            if now.acceptance_criteria != before.acceptance_criteria {
                return Err(keep(CommandError::failure(format!(
                    "{key}'s acceptance criteria changed while the draft was made: nothing was written"
                ))
                .hint(format!("run `csm draft-ticket {key}` again"))));
            }
            let update = TicketUpdate {
                acceptance_criteria: Some(draft.acceptance_criteria.clone()),
                ..TicketUpdate::default()
            };
            tracker.update(&key, &update).map_err(|e| keep(e.into()))?;
            drop(spin);
            println!("{key}");
            ctx.output.info(&format!(
                "Replaced the acceptance criteria of {key} ({} → {}).",
                before.acceptance_criteria.len(),
                count(draft.acceptance_criteria.len(), "criterion")
            ));
            ready_note(ctx, &key, &verdict_of(&draft));
        }
    }
    Ok(())
}

fn settings(assignments: &[String]) -> Result<Settings, CommandError> {
    let mut settings = Settings::default();
    for s in assignments {
        settings
            .apply(s)
            .map_err(|e| CommandError::usage(e.to_string()))?;
    }
    if settings
        .sandbox
        .as_deref()
        .is_some_and(|s| s != "read-only")
    {
        return Err(CommandError::usage(
            "drafting runs Codex read-only; it cannot take another sandbox",
        )
        .hint("drop the sandbox setting"));
    }
    settings
        .set("sandbox", "read-only")
        .map_err(|e| CommandError::failure(e.to_string()))?;
    Ok(settings)
}

/// The idea (argument, file or standard input) or the key.
fn goal(args: &Args) -> Result<Goal, CommandError> {
    let idea = match (&args.input, &args.file) {
        (Some(text), _) => {
            if !text.contains(char::is_whitespace)
                && let Ok(key) = TicketKey::parse(text)
            {
                return Ok(Goal::Criteria(key));
            }
            text.clone()
        }
        (None, Some(path)) if path.as_os_str() == "-" => read_stdin()?,
        (None, Some(path)) => std::fs::read_to_string(path).map_err(|e| {
            CommandError::usage(format!("cannot read {}: {e}", path.display()))
                .hint("pass an existing text file with -f")
        })?,
        (None, None) => {
            if std::io::stdin().is_terminal() {
                return Err(CommandError::usage("no idea given").hint(
                    "pass the idea as an argument, with -f FILE, or on standard input; or a ticket key",
                ));
            }
            read_stdin()?
        }
    };
    if idea.trim().is_empty() {
        return Err(CommandError::usage("the idea is empty")
            .hint("describe what the ticket should achieve, in a sentence or more"));
    }
    Ok(Goal::New(idea))
}

fn read_stdin() -> Result<String, CommandError> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|e| CommandError::failure(format!("cannot read standard input: {e}")))?;
    Ok(text)
}

/// The drafting run's files under `<state>/drafts/`: the schema given to
/// Codex, its answers, the file being edited. Unusable answers and an
/// accepted draft that could not be written are left there on purpose;
/// the rest is removed.
struct Workspace {
    dir: PathBuf,
    stamp: String,
    schema: PathBuf,
}

impl Workspace {
    fn new(ctx: &Context) -> Result<Workspace, CommandError> {
        let dir = ctx.dirs.state.join("drafts");
        crate::paths::create_private_dir(&dir)
            .map_err(|e| CommandError::failure(format!("cannot create {}: {e}", dir.display())))?;
        let stamp = format!(
            "draft-{}-{}",
            jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ"),
            std::process::id()
        );
        let schema = dir.join(format!("{stamp}.schema.json"));
        crate::paths::write_private(&schema, draft::SCHEMA).map_err(|e| {
            CommandError::failure(format!("cannot write {}: {e}", schema.display()))
        })?;
        Ok(Workspace { dir, stamp, schema })
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{}.{name}", self.stamp))
    }
}

impl Drop for Workspace {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.schema);
    }
}

/// One `codex exec` setup, asked once and then once more to revise.
struct Codex<'a> {
    program: PathBuf,
    env: Vec<(std::ffi::OsString, std::ffi::OsString)>,
    folder: &'a Path,
    settings: &'a Settings,
    schema: &'a Path,
}

/// A draft, or why Codex's answer is not one and where the raw answer is.
type Answer = Result<Draft, (draft::AnswerError, PathBuf)>;

impl Codex<'_> {
    /// Runs Codex (resuming `thread` when given) and reads its answer,
    /// which Codex writes to `answer_file`. Returns the draft (or the
    /// answer's problem, the raw answer kept in `answer_file`) and the
    /// session id.
    fn ask(
        &self,
        ctx: &Context,
        prompt: &str,
        thread: Option<&str>,
        answer_file: &Path,
        waiting: &str,
    ) -> Result<(Answer, Option<String>), CommandError> {
        let outcome = {
            let _spin = ctx.output.spinner(waiting);
            exec::run(&Request {
                program: &self.program,
                cwd: self.folder,
                env: &self.env,
                settings: self.settings,
                prompt,
                resume: thread,
                output_schema: Some(self.schema),
                last_message_file: Some(answer_file.to_path_buf()),
            })
            .map_err(|e| {
                CommandError::failure(e.to_string())
                    .hint("`csm doctor` checks that Codex can run here")
            })?
        };
        let raw = std::fs::read_to_string(answer_file)
            .ok()
            .filter(|r| !r.trim().is_empty())
            .or_else(|| outcome.final_message.clone())
            .unwrap_or_default();
        let answer = draft::parse_answer(&raw).map_err(|e| {
            // Keep exactly what Codex said, for the user to look at.
            let _ = crate::paths::write_private(answer_file, &raw);
            let e = match (&e, outcome.errors.is_empty()) {
                (draft::AnswerError::Empty, false) => draft::AnswerError::Schema(format!(
                    "no draft came back; Codex reported: {}",
                    outcome.errors.join("; ")
                )),
                _ => e,
            };
            (e, answer_file.to_path_buf())
        });
        Ok((answer, outcome.thread_id))
    }
}

fn unusable(e: draft::AnswerError, path: &Path) -> CommandError {
    CommandError::failure(format!("{e}; nothing was written"))
        .hint(format!("the raw answer is kept in {}", path.display()))
        .hint("run the command again; a higher effort (`-s effort=high`) may help")
}

fn count(n: usize, what: &str) -> String {
    let plural = match (n, what) {
        (1, _) => what.to_string(),
        (_, "criterion") => "criteria".to_string(),
        _ => format!("{what}s"),
    };
    format!("{n} {plural}")
}

/// Shows the draft on stderr: the whole ticket, or for an existing one
/// the diff of its criteria; then the lint's verdict.
fn show(ctx: &Context, draft: &Draft, current: Option<&Ticket>, verdict: &Verdict) {
    let out = &ctx.output;
    let bold = |t: &str| out.paint_stderr(t, "1");
    let mut text = String::new();
    match &current {
        None => {
            for line in sanitize(&draft.to_markdown()).lines() {
                if line.starts_with('#') {
                    text.push_str(&bold(line));
                } else {
                    text.push_str(line);
                }
                text.push('\n');
            }
        }
        Some(ticket) => {
            text.push_str(&bold(&format!(
                "{}: {}",
                ticket.key,
                sanitize(&ticket.summary)
            )));
            text.push_str("\n\nAcceptance criteria (- now, + drafted):\n");
            for line in
                draft::criteria_diff(&ticket.acceptance_criteria, &draft.acceptance_criteria)
            {
                let line = match line {
                    DiffLine::Same(t) => format!("    {}", sanitize(&t)),
                    DiffLine::Removed(t) => {
                        out.paint_stderr(&format!("  - {}", sanitize(&t)), "31")
                    }
                    DiffLine::Added(t) => out.paint_stderr(&format!("  + {}", sanitize(&t)), "32"),
                };
                text.push_str(&line);
                text.push('\n');
            }
            if !draft.open_questions.is_empty() {
                text.push_str("\nOpen questions (not written):\n");
                for q in &draft.open_questions {
                    text.push_str(&format!("  - {}\n", sanitize(q)));
                }
            }
        }
    }
    text.push('\n');
    if verdict.is_ready() {
        text.push_str(&out.paint_stderr("Readiness: ready.", "32"));
        text.push('\n');
    } else {
        text.push_str(&out.paint_stderr(
            &format!(
                "Readiness: not ready ({}):",
                count(verdict.findings.len(), "finding")
            ),
            "33",
        ));
        text.push('\n');
        for f in &verdict.findings {
            text.push_str(&format!(
                "  - {}\n",
                sanitize(&f.describe(&draft.acceptance_criteria))
            ));
        }
    }
    eprint!("{text}");
}

enum Choice {
    Accept,
    Edit,
    Reject,
}

fn ask(current: Option<&Ticket>) -> Result<Choice, CommandError> {
    let question = match current {
        Some(t) => format!("Replace the acceptance criteria of {}?", t.key),
        None => "Create this ticket?".to_string(),
    };
    let stdin = std::io::stdin();
    loop {
        eprint!("{question} [a]ccept, [e]dit, [r]eject: ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        let n = stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| CommandError::failure(format!("cannot read the answer: {e}")))?;
        if n == 0 {
            eprintln!();
            return Ok(Choice::Reject);
        }
        match line.trim().to_ascii_lowercase().as_str() {
            "a" | "accept" | "y" | "yes" => return Ok(Choice::Accept),
            "e" | "edit" => return Ok(Choice::Edit),
            "r" | "reject" | "n" | "no" | "q" | "quit" => return Ok(Choice::Reject),
            _ => {}
        }
    }
}

fn ready_note(ctx: &Context, key: &TicketKey, verdict: &Verdict) {
    if !verdict.is_ready() {
        ctx.output.warn(&format!(
            "{key} is not ready yet ({}); `csm start` will refuse it until they are fixed (`csm lint {key}`)",
            count(verdict.findings.len(), "finding")
        ));
    }
}
