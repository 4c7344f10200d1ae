//! `csm auth login|status|logout`: the tracker token in the OS keyring.
//!
//! The token is read without echo from the terminal, or from standard input
//! with `--with-token` (like `gh auth login --with-token`). It is never
//! printed, logged, or written anywhere but the keyring.

use std::io::{IsTerminal, Read};

use crate::command_error::{CommandError, ExitKind};
use crate::context::{Context, env_var};
use crate::credentials::{Account, Secret};

/// Arguments of `csm auth`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Args)]
struct Target {
    /// Which tracker's token (default: the configured tracker's).
    #[arg(long, value_enum)]
    tracker: Option<TrackerArg>,
    /// The Jira site (default: [jira] url).
    #[arg(long)]
    site: Option<String>,
    /// The user: your e-mail on Jira Cloud (default: [jira] email).
    #[arg(long)]
    user: Option<String>,
}

/// The trackers that take a token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum TrackerArg {
    /// A Jira site.
    Jira,
    /// GitHub (the token goes under `[github] api_url`).
    Github,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Store a token in the OS keyring.
    Login {
        #[command(flatten)]
        target: Target,
        /// Read the token from standard input instead of prompting.
        #[arg(long)]
        with_token: bool,
        /// Save the token without asking the site whom it belongs to and
        /// which way (the site or the API gateway) it works.
        #[arg(long)]
        no_check: bool,
    },
    /// Tell where the token comes from, without showing it.
    Status {
        #[command(flatten)]
        target: Target,
        /// Print JSON: `{"site", "user", "token_source", "keyring"}`, with
        /// `--check` also `{"deployment", "signed_in_as"}`.
        #[arg(long)]
        json: bool,
        /// Also ask the site what kind it is and whom the token belongs to.
        #[arg(long)]
        check: bool,
    },
    /// Delete the token from the OS keyring.
    Logout {
        #[command(flatten)]
        target: Target,
    },
}

/// Runs `csm auth`.
pub fn run(ctx: &Context, args: Args) -> Result<(), CommandError> {
    match args.action {
        Action::Login {
            target,
            with_token,
            no_check,
        } => {
            let account = account(ctx, &target)?;
            login(ctx, &account, with_token)?;
            if no_check
                || target.site.is_some()
                || target.user.is_some()
                || is_github(ctx, &target)?
            {
                return Ok(());
            }
            match ctx.jira().and_then(|t| Ok(t.report()?)) {
                Ok(report) => ctx.output.info(&format!(
                    "Signed in as {} with a {}.",
                    crate::output::sanitize(&report.user),
                    route_words(&report)
                )),
                Err(e) if e.kind == ExitKind::Auth => return Err(e),
                Err(e) => ctx
                    .output
                    .warn(&format!("could not check the token: {}", e.message)),
            }
            Ok(())
        }
        Action::Status { target, json, .. } if is_github(ctx, &target)? => {
            github_status(ctx, &account(ctx, &target)?, json)
        }
        Action::Status {
            target,
            json,
            check,
        } => status(ctx, &account(ctx, &target)?, json, check),
        Action::Logout { target } => logout(ctx, &account(ctx, &target)?),
    }
}

/// Whether the command is about the GitHub token.
fn is_github(ctx: &Context, target: &Target) -> Result<bool, CommandError> {
    Ok(match target.tracker {
        Some(t) => t == TrackerArg::Github,
        None => ctx.config()?.config.tracker.kind == crate::config::TrackerChoice::Github,
    })
}

/// The account the command is about: flags, else the configuration.
fn account(ctx: &Context, target: &Target) -> Result<Account, CommandError> {
    if is_github(ctx, target)? {
        let mut account = ctx.github_account()?;
        if let Some(site) = &target.site {
            account.site = site.trim_end_matches('/').to_string();
        }
        return Ok(account);
    }
    let jira = &ctx.config()?.config.jira;
    let site = target
        .site
        .clone()
        .or_else(|| jira.url.clone())
        .ok_or_else(|| {
            CommandError::usage("no Jira site is configured")
                .hint("set [jira] url in the config (or CSM_JIRA_URL), or pass --site")
                .hint("the local tracker needs no login")
        })?;
    let user = target
        .user
        .clone()
        .or_else(|| jira.email.clone())
        .unwrap_or_else(|| "token".to_string());
    Ok(Account {
        site: site.trim_end_matches('/').to_string(),
        user,
    })
}

fn read_token(with_token: bool) -> Result<Secret, CommandError> {
    let raw = if with_token {
        let mut buf = String::new();
        std::io::stdin()
            .read_to_string(&mut buf)
            .map_err(|e| CommandError::failure(format!("cannot read the token from stdin: {e}")))?;
        buf
    } else if std::io::stdin().is_terminal() {
        rpassword::prompt_password("Token: ")
            .map_err(|e| CommandError::failure(format!("cannot read the token: {e}")))?
    } else {
        return Err(CommandError::usage("standard input is not a terminal")
            .hint("pipe the token with `csm auth login --with-token`"));
    };
    let token = Secret::new(&raw);
    if token.is_empty() {
        return Err(CommandError::usage("the token is empty")
            .hint("create an API token in your Atlassian account settings"));
    }
    Ok(token)
}

fn login(ctx: &Context, account: &Account, with_token: bool) -> Result<(), CommandError> {
    let creds = ctx.credentials();
    // Say that the keyring is missing before asking for a token.
    if let Err(reason) = creds.keyring_status() {
        return Err(CommandError::new(
            ExitKind::Auth,
            format!("no OS keyring is reachable ({reason}); the token was not saved"),
        )
        .hint("set CSM_JIRA_TOKEN in the environment for headless use")
        .hint("or configure [jira] token_command, e.g. [\"pass\", \"show\", \"jira\"]"));
    }
    let token = read_token(with_token)?;
    creds.save(account, &token)?;
    ctx.output.info(&format!(
        "Saved the token for {} on {} in the OS keyring.",
        account.user, account.site
    ));
    Ok(())
}

fn status(ctx: &Context, account: &Account, json: bool, check: bool) -> Result<(), CommandError> {
    let config = &ctx.config()?.config;
    let creds = ctx.credentials();
    let found = creds.resolve(account, config.jira.token_command.as_deref(), &env_var)?;
    let keyring = match creds.keyring_status() {
        Ok(()) => "available".to_string(),
        Err(reason) => format!("unavailable ({reason})"),
    };
    let source = found.as_ref().map(|(_, origin)| origin.to_string());
    // Only on request: status otherwise stays offline.
    let site = match (check, &found) {
        (true, Some(_)) => {
            let report = ctx.jira()?.report()?;
            let kind = match report.deployment {
                crate::tracker::jira::Deployment::Cloud => "cloud",
                crate::tracker::jira::Deployment::DataCenter => "datacenter",
            };
            Some((kind, route_words(&report), report))
        }
        _ => None,
    };
    if json {
        let mut doc = serde_json::json!({
            "site": account.site,
            "user": account.user,
            "token_source": source,
            "keyring": keyring,
        });
        if let Some((kind, _, report)) = &site {
            doc["deployment"] = serde_json::json!(kind);
            doc["signed_in_as"] = serde_json::json!(report.user);
            doc["token_kind"] = serde_json::json!(report.token_kind);
            doc["api"] = serde_json::json!(match report.api {
                crate::tracker::jira::Api::Site => "site",
                crate::tracker::jira::Api::Gateway => "gateway",
            });
        }
        println!("{}", crate::output::json(&doc).unwrap_or_default());
    } else {
        println!("site:   {}", account.site);
        println!("user:   {}", account.user);
        println!(
            "token:  {}",
            source
                .as_deref()
                .map_or("none".to_string(), |s| format!("found ({s})"))
        );
        println!("keyring: {keyring}");
        if let Some((kind, route, report)) = &site {
            println!("kind:   {kind}");
            println!("signed in as: {}", crate::output::sanitize(&report.user));
            println!("route:  {route}");
        }
    }
    if found.is_none() {
        return Err(CommandError::new(
            ExitKind::Auth,
            format!("no token for {} on {}", account.user, account.site),
        )
        .hint("run `csm auth login`, or set CSM_JIRA_TOKEN"));
    }
    Ok(())
}

/// "scoped API token, through the API gateway" and the like.
pub fn route_words(report: &crate::tracker::jira::SiteReport) -> String {
    let way = match report.api {
        crate::tracker::jira::Api::Site => "through the site's own URL",
        crate::tracker::jira::Api::Gateway => "through the API gateway",
    };
    format!("{}, {way}", report.token_kind)
}

/// `csm auth status` for GitHub: where the token comes from (offline).
fn github_status(ctx: &Context, account: &Account, json: bool) -> Result<(), CommandError> {
    let config = &ctx.config()?.config;
    let creds = ctx.credentials();
    let found = creds.resolve_from(
        crate::credentials::GITHUB_TOKEN_ENV_VARS,
        account,
        config.github.token_command.as_deref(),
        &env_var,
    )?;
    let keyring = match creds.keyring_status() {
        Ok(()) => "available".to_string(),
        Err(reason) => format!("unavailable ({reason})"),
    };
    let source = found.as_ref().map(|(_, origin)| origin.to_string());
    if json {
        let doc = serde_json::json!({
            "site": account.site,
            "user": account.user,
            "token_source": source,
            "keyring": keyring,
        });
        println!("{}", crate::output::json(&doc).unwrap_or_default());
    } else {
        println!("site:   {}", account.site);
        println!(
            "token:  {}",
            source
                .as_deref()
                .map_or("none".to_string(), |s| format!("found ({s})"))
        );
        println!("keyring: {keyring}");
    }
    if found.is_none() {
        return Err(CommandError::new(
            ExitKind::Auth,
            format!("no GitHub token for {}", account.site),
        )
        .hint("export GH_TOKEN=$(gh auth token), or run `csm auth login --tracker github`"));
    }
    Ok(())
}

fn logout(ctx: &Context, account: &Account) -> Result<(), CommandError> {
    let removed = ctx.credentials().delete(account)?;
    if removed {
        ctx.output.info(&format!(
            "Removed the token for {} on {} from the OS keyring.",
            account.user, account.site
        ));
    } else {
        ctx.output
            .info("The OS keyring held no token for this account.");
    }
    for var in crate::credentials::TOKEN_ENV_VARS {
        if env_var(var).is_some_and(|v| !v.trim().is_empty()) {
            ctx.output
                .warn(&format!("{var} is still set and still provides a token"));
        }
    }
    Ok(())
}
