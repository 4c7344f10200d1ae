//! `csm doctor`: checks that csm can work here, one line per check, each
//! failure naming its fix. Exits non-zero when any check fails.

use serde::Serialize;

use crate::command_error::{CommandError, ExitKind};
use crate::config::{Resolved, TrackerChoice};
use crate::context::{Context, env_var};
use crate::credentials::Account;

/// Arguments of `csm doctor`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print JSON: a list of `{"name", "state", "detail", "fix"}`.
    #[arg(long)]
    json: bool,
}

/// The outcome of one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Fine.
    Ok,
    /// Works, but something deserves attention.
    Warn,
    /// Broken: csm cannot do its job until fixed.
    Fail,
}

/// One check's result.
#[derive(Clone, Debug, Serialize)]
pub struct Check {
    /// What was checked.
    pub name: &'static str,
    /// How it went.
    pub state: State,
    /// What was found.
    pub detail: String,
    /// What to do, when not ok.
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: &'static str, detail: impl Into<String>) -> Check {
        Check {
            name,
            state: State::Ok,
            detail: detail.into(),
            fix: None,
        }
    }

    fn warn(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name,
            state: State::Warn,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }

    fn fail(name: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check {
            name,
            state: State::Fail,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
}

/// Runs `csm doctor`.
pub fn run(ctx: &Context, args: Args) -> Result<(), CommandError> {
    let checks = checks(ctx);
    if args.json {
        println!("{}", crate::output::json(&checks).unwrap_or_default());
    } else {
        for check in &checks {
            let label = match check.state {
                State::Ok => ctx.output.paint("ok  ", "32"),
                State::Warn => ctx.output.paint("warn", "33"),
                State::Fail => ctx.output.paint("FAIL", "31"),
            };
            let fix = check
                .fix
                .as_deref()
                .map(|f| format!(" — fix: {f}"))
                .unwrap_or_default();
            println!("{label} {}: {}{fix}", check.name, check.detail);
        }
    }
    let failed = checks.iter().filter(|c| c.state == State::Fail).count();
    if failed > 0 {
        return Err(CommandError::new(
            ExitKind::Failure,
            format!(
                "{failed} check{} failed",
                if failed == 1 { "" } else { "s" }
            ),
        ));
    }
    Ok(())
}

/// Every check, in order. A failed config check skips those that need it.
pub fn checks(ctx: &Context) -> Vec<Check> {
    let mut out = Vec::new();
    let config = match ctx.config() {
        Ok(resolved) => {
            out.push(Check::ok("config", config_detail(resolved)));
            Some(resolved)
        }
        Err(e) => {
            out.push(Check::fail(
                "config",
                e.message.clone(),
                e.hints
                    .first()
                    .cloned()
                    .unwrap_or_else(|| "fix the file".into()),
            ));
            None
        }
    };
    out.push(match ctx.store().and_then(|s| Ok(s.schema_version()?)) {
        Ok(v) => Check::ok(
            "store",
            format!("{} (schema version {v})", ctx.dirs.store_file().display()),
        ),
        Err(e) => Check::fail(
            "store",
            e.message.clone(),
            e.hints
                .first()
                .cloned()
                .unwrap_or_else(|| "check the data folder's permissions (CSM_DATA_DIR)".into()),
        ),
    });
    if let Some(resolved) = config
        && resolved.config.tracker.kind == TrackerChoice::Github
    {
        out.extend(github_checks(ctx));
    } else if let Some(resolved) = config {
        out.push(credentials_check(ctx, resolved));
        if resolved.config.tracker.kind == TrackerChoice::Jira
            && out.last().is_some_and(|c| c.state == State::Ok)
        {
            out.extend(jira_checks(ctx, resolved));
        }
    }
    out.extend(codex_checks(ctx, config));
    out
}

fn config_detail(resolved: &Resolved) -> String {
    let mut files = Vec::new();
    if resolved.user_file.exists() {
        files.push(resolved.user_file.display().to_string());
    }
    if let Some(repo) = &resolved.repo_file {
        files.push(repo.display().to_string());
    }
    let tracker = match resolved.config.tracker.kind {
        TrackerChoice::Local => "local tracker",
        TrackerChoice::Jira => "Jira tracker",
        TrackerChoice::Github => "GitHub tracker",
    };
    if files.is_empty() {
        format!("defaults only; {tracker}")
    } else {
        format!("{}; {tracker}", files.join(", "))
    }
}

fn credentials_check(ctx: &Context, resolved: &Resolved) -> Check {
    let jira = &resolved.config.jira;
    if resolved.config.tracker.kind == TrackerChoice::Local {
        return Check::ok("credentials", "not needed for the local tracker");
    }
    let Some(site) = &jira.url else {
        return Check::fail(
            "credentials",
            "tracker is jira but no [jira] url is set",
            "set [jira] url in the config, or CSM_JIRA_URL",
        );
    };
    let account = Account {
        site: site.trim_end_matches('/').to_string(),
        user: jira.email.clone().unwrap_or_else(|| "token".into()),
    };
    match ctx
        .credentials()
        .resolve(&account, jira.token_command.as_deref(), &env_var)
    {
        Ok(Some((_, origin))) => Check::ok(
            "credentials",
            format!("token for {} from the {origin}", account.user),
        ),
        Ok(None) => Check::fail(
            "credentials",
            format!("no token for {} on {}", account.user, account.site),
            "run `csm auth login`, or set CSM_JIRA_TOKEN",
        ),
        Err(e) => {
            let e = CommandError::from(e);
            Check::fail(
                "credentials",
                e.message,
                e.hints.first().cloned().unwrap_or_default(),
            )
        }
    }
}

fn jira_checks(ctx: &Context, resolved: &Resolved) -> Vec<Check> {
    let tracker = match ctx.jira() {
        Ok(t) => t,
        Err(e) => {
            let fix = e.hints.first().cloned().unwrap_or_default();
            return vec![Check::fail("jira", e.message, fix)];
        }
    };
    let report = match tracker.report() {
        Ok(r) => r,
        Err(e) => {
            let e = CommandError::from(e);
            let fix = e.hints.first().cloned().unwrap_or_default();
            return vec![Check::fail("jira", e.message, fix)];
        }
    };
    let kind = match report.deployment {
        crate::tracker::jira::Deployment::Cloud => "Jira Cloud",
        crate::tracker::jira::Deployment::DataCenter => "Jira Data Center",
    };
    let site = resolved.config.jira.url.clone().unwrap_or_default();
    let mut out = vec![Check::ok(
        "jira",
        format!(
            "{kind} at {site}, signed in as {} ({})",
            report.user,
            super::auth::route_words(&report)
        ),
    )];
    out.push(match &report.ac_field {
        Some(id) => Check::ok(
            "criteria field",
            format!("\"{}\" is {id}", resolved.config.jira.ac_field),
        ),
        None => Check {
            name: "criteria field",
            state: State::Warn,
            detail: format!(
                "no field named \"{}\"; criteria are read from the description",
                resolved.config.jira.ac_field
            ),
            fix: Some("set [jira] ac_field to your field's name or id".into()),
        },
    });
    let workflow = &resolved.config.workflow;
    let Some(project) = &resolved.config.jira.project else {
        return out;
    };
    out.push(match tracker.project_statuses(project) {
        Ok(statuses) => {
            let missing: Vec<&String> = [&workflow.start_status, &workflow.done_status]
                .into_iter()
                .chain(&workflow.done_path)
                .filter(|s| !statuses.iter().any(|x| x.eq_ignore_ascii_case(s)))
                .collect();
            if missing.is_empty() {
                Check::ok(
                    "workflow",
                    format!(
                        "\"{}\" and \"{}\" exist in {project}",
                        workflow.start_status, workflow.done_status
                    ),
                )
            } else {
                Check::fail(
                    "workflow",
                    format!(
                        "{project} has no status {} (it has: {})",
                        missing
                            .iter()
                            .map(|m| format!("\"{m}\""))
                            .collect::<Vec<_>>()
                            .join(", "),
                        statuses.join(", ")
                    ),
                    "set [workflow] start_status / done_status / done_path to statuses of your workflow",
                )
            }
        }
        Err(e) => Check::fail(
            "workflow",
            CommandError::from(e).message,
            "check [jira] project",
        ),
    });
    out
}

/// Codex: its version against the range csm supports, then whether what
/// csm relies on behaves here (`codex::health`).
fn codex_checks(ctx: &Context, config: Option<&Resolved>) -> Vec<Check> {
    use crate::codex::discovery::{MIN_VERSION, TESTED_VERSION};
    use crate::codex::health;
    let explicit = config.and_then(|r| r.config.codex.bin.clone());
    let secrets = config
        .map(|r| r.config.secrets.env.clone())
        .unwrap_or_default();
    let env = crate::codex::command::child_env(std::env::vars_os(), &secrets);
    let found = match crate::codex::discover(
        explicit.as_deref(),
        env_var("CSM_CODEX_BIN").as_deref(),
        &env,
    ) {
        Ok(found) => found,
        Err(e) => return vec![Check::fail("codex", e.to_string(), e.fix())],
    };
    let mut out = Vec::new();
    let range = format!("csm supports {MIN_VERSION} or newer, tested with {TESTED_VERSION}");
    out.push(if found.version > TESTED_VERSION {
        Check::warn(
            "codex",
            format!(
                "{} (version {}; {range})",
                found.path.display(),
                found.version
            ),
            format!(
                "if something misbehaves, use the tested one: {}@{TESTED_VERSION}",
                crate::codex::discovery::INSTALL_HINT
            ),
        )
    } else {
        Check::ok(
            "codex",
            format!(
                "{} (version {}; {range})",
                found.path.display(),
                found.version
            ),
        )
    });
    let codex = crate::codex::thread::Codex {
        program: &found.path,
        env: &env,
    };
    out.push(match ctx.codex_home() {
        Err(e) => Check::fail("codex sessions", e.message, "set CODEX_HOME"),
        Ok(home) => match health::sessions(&home) {
            health::Sessions::Readable {
                rollouts,
                compressed,
                archived,
            } => Check::ok(
                "codex sessions",
                format!(
                    "{} readable: {rollouts} rollouts ({compressed} compressed), {archived} archived",
                    home.display()
                ),
            ),
            health::Sessions::Missing => Check::ok(
                "codex sessions",
                format!("no sessions in {} yet", home.display()),
            ),
            health::Sessions::Unreadable(why) => Check::fail(
                "codex sessions",
                format!("cannot read Codex's sessions: {why}"),
                "give your user read access to CODEX_HOME/sessions",
            ),
        },
    });
    out.push(match health::notify_accepted(codex, &ctx.notify_argv()) {
        Ok(()) => Check::ok("codex notify", "accepts csm's turn hook (-c notify=[...])"),
        Err(health::NotifyProblem::Refused(why)) => Check::fail(
            "codex notify",
            format!("codex does not start with csm's -c notify=[...]: {why}"),
            format!(
                "every launch passes it; use the tested Codex: {}@{TESTED_VERSION}",
                crate::codex::discovery::INSTALL_HINT
            ),
        ),
        Err(health::NotifyProblem::Ignored) => Check::warn(
            "codex notify",
            "codex took a notify value of the wrong type too, so it may ignore the setting: finished turns would go unrecorded",
            format!(
                "use the tested Codex: {}@{TESTED_VERSION}",
                crate::codex::discovery::INSTALL_HINT
            ),
        ),
        Err(health::NotifyProblem::NotRun(why)) => Check::warn(
            "codex notify",
            format!("cannot check: {why}"),
            "run `codex features list` to see why codex does not run",
        ),
    });
    out.push(match health::features(codex) {
        Ok(features) => match features
            .iter()
            .find(|f| f.name == health::COMPRESSION_FEATURE)
        {
            Some(f) => Check::ok(
                "codex compression",
                format!(
                    "rollout compression is {} ({}, {}); csm reads .jsonl and .jsonl.zst",
                    if f.enabled { "on" } else { "off" },
                    f.name,
                    f.stage
                ),
            ),
            None => Check::warn(
                "codex compression",
                format!(
                    "`codex features list` has no {}; csm reads .jsonl and .jsonl.zst either way",
                    health::COMPRESSION_FEATURE
                ),
                "nothing to do unless resuming fails; then run scripts/codex-compat on this version",
            ),
        },
        Err(why) => Check::warn(
            "codex compression",
            why,
            "nothing to do unless resuming fails",
        ),
    });
    out
}

/// GitHub: the token's source, the repository (and the token's access to
/// it), the token's scopes, the rate limit left.
fn github_checks(ctx: &Context) -> Vec<Check> {
    let fail = |name, e: CommandError| {
        let fix = e.hints.first().cloned().unwrap_or_default();
        Check::fail(name, e.message, fix)
    };
    let repo = match ctx.github_repo() {
        Ok(Some(r)) => r,
        Ok(None) => {
            return vec![Check::fail(
                "github repo",
                "no repository: [github] repo is unset and the origin remote names none",
                "set [github] repo = \"owner/name\" (or CSM_GITHUB_REPO), or run csm in a clone",
            )];
        }
        Err(e) => return vec![fail("github repo", e)],
    };
    let tracker = match ctx.github() {
        Ok(t) => t,
        Err(e) => return vec![fail("credentials", e)],
    };
    let mut out = Vec::new();
    if let Ok(account) = ctx.github_account()
        && let Ok(Some((_, origin))) = ctx.credentials().resolve_from(
            crate::credentials::GITHUB_TOKEN_ENV_VARS,
            &account,
            ctx.config()
                .ok()
                .and_then(|c| c.config.github.token_command.as_deref()),
            &env_var,
        )
    {
        out.push(Check::ok(
            "credentials",
            format!("GitHub token from the {origin}"),
        ));
    }
    let report = match tracker.repo_report(&repo) {
        Ok(r) => r,
        Err(e) => {
            out.push(fail("github repo", CommandError::from(e)));
            return out;
        }
    };
    let visibility = if report.private { "private" } else { "public" };
    out.push(if report.has_issues {
        Check::ok(
            "github repo",
            format!("{} ({visibility}, issues on)", report.full_name),
        )
    } else {
        Check::fail(
            "github repo",
            format!("{} has issues turned off", report.full_name),
            "turn issues on in the repository's settings",
        )
    });
    let write = match report.can_write {
        Some(true) => "may write",
        Some(false) => "read-only",
        None => "access unknown",
    };
    out.push(match (&report.scopes, report.can_write) {
        (_, Some(false)) => Check {
            name: "github token",
            state: State::Warn,
            detail: format!("the token is read-only on {}", report.full_name),
            fix: Some("`csm done` needs issues write access: fine-grained Issues \"Read and write\", or the classic repo scope".into()),
        },
        (Some(scopes), _) => Check::ok(
            "github token",
            format!("classic token, scopes: {}; {write}", if scopes.trim().is_empty() { "none" } else { scopes.trim() }),
        ),
        (None, _) => Check::ok("github token", format!("fine-grained token (no scopes header); {write}")),
    });
    out.push(match (report.rate_remaining, report.rate_limit) {
        (Some(left), limit) => {
            let of = limit.map(|l| format!(" of {l}")).unwrap_or_default();
            let detail = format!("{left}{of} requests left this hour");
            if left < 100 {
                Check {
                    name: "github rate limit",
                    state: State::Warn,
                    detail,
                    fix: Some("wait for the hourly reset before long runs".into()),
                }
            } else {
                Check::ok("github rate limit", detail)
            }
        }
        (None, _) => Check::ok(
            "github rate limit",
            "not limited (GitHub Enterprise Server)",
        ),
    });
    out
}
