//! What every command needs, loaded once and only when asked for: the
//! output settings, csm's folders, the configuration, the store, the
//! credentials and the tracker.

use std::path::PathBuf;
use std::sync::OnceLock;

use crate::command_error::CommandError;
use std::sync::{Arc, Mutex};

use crate::config::{Deployment, Locations, Resolved, TrackerChoice};
use crate::credentials::Credentials;
use crate::output::Output;
use crate::paths::{self, Dirs};
use crate::store::Store;
use crate::tracker::Tracker;
use crate::tracker::jira::{self, JiraTracker};
use crate::tracker::local::LocalTracker;

/// The shared state of one run of csm.
pub struct Context {
    /// How to print.
    pub output: Output,
    /// csm's folders.
    pub dirs: Dirs,
    /// The folder csm was started in.
    pub cwd: PathBuf,
    config: OnceLock<Resolved>,
    /// When set, trackers opened from now on give up after this many
    /// seconds and one attempt (resume's "go on without the news").
    quick_tracker_secs: std::sync::atomic::AtomicU64,
    trust_notice_said: std::sync::atomic::AtomicBool,
}

/// Reads a variable of the process environment (the one place commands do).
pub fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// The GitHub repository of `cwd` under `config` (see
/// [`Context::github_repo`]).
fn github_repo(config: &crate::config::Config, cwd: &std::path::Path) -> Option<String> {
    if config.tracker.kind != TrackerChoice::Github {
        return None;
    }
    match &config.github.repo {
        Some(r) => crate::tracker::key::validate_repo(r).ok(),
        None => crate::tracker::github::repo_of_folder(cwd),
    }
}

impl Context {
    /// Resolves folders; nothing else is loaded yet.
    pub fn new(output: Output) -> Result<Context, CommandError> {
        let dirs = Dirs::from_env().map_err(|e| CommandError::failure(e.to_string()))?;
        let cwd = std::env::current_dir().map_err(|e| {
            CommandError::failure(format!("cannot read the current folder: {e}"))
                .hint("cd into an existing folder")
        })?;
        Ok(Context {
            output,
            dirs,
            cwd,
            config: OnceLock::new(),
            quick_tracker_secs: std::sync::atomic::AtomicU64::new(0),
            trust_notice_said: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Where configuration is looked for.
    pub fn locations(&self) -> Locations {
        Locations {
            user_file: self.dirs.user_config_file(),
            cwd: self.cwd.clone(),
            trust_file: Some(self.dirs.trust_file()),
        }
    }

    /// The configuration, loaded on first use.
    pub fn config(&self) -> Result<&Resolved, CommandError> {
        if let Some(c) = self.config.get() {
            return Ok(c);
        }
        let resolved = Resolved::load(&self.locations(), env_var)?;
        let resolved = self.config.get_or_init(|| resolved);
        self.announce_ignored(resolved);
        Ok(resolved)
    }

    /// Keeps the one line about an untrusted repository file's ignored keys
    /// off stderr (commands Codex runs, and the dashboard, which owns the
    /// terminal).
    pub fn mute_trust_notice(&self) {
        self.trust_notice_said
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Says once per command which keys of an untrusted repository file
    /// were ignored, and how to trust it.
    fn announce_ignored(&self, resolved: &Resolved) {
        if self
            .trust_notice_said
            .swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            return;
        }
        if let Some(line) = resolved.ignored_notice() {
            self.output.warn(&line);
        }
    }

    /// Opens the store (creating and migrating it when needed).
    pub fn store(&self) -> Result<Store, CommandError> {
        Ok(Store::open(&self.dirs.store_file())?)
    }

    /// The configured tracker.
    pub fn tracker(&self) -> Result<Box<dyn Tracker>, CommandError> {
        let config = &self.config()?.config;
        match config.tracker.kind {
            TrackerChoice::Local => {
                let root = paths::tickets_root(&self.cwd);
                Ok(Box::new(LocalTracker::new(
                    &root,
                    config.local.prefix.clone(),
                    config.local.statuses.clone(),
                )?))
            }
            TrackerChoice::Jira => Ok(Box::new(self.jira()?)),
            TrackerChoice::Github => Ok(Box::new(self.github()?)),
        }
    }

    /// Lets `#42` and `42` name an issue of the current folder's GitHub
    /// repository wherever a key is parsed (see `tracker::key`).
    pub fn register_short_keys(&self) {
        let locations = self.locations();
        crate::tracker::key::set_short_form_resolver(move || {
            let resolved = Resolved::load(&locations, env_var).ok()?;
            github_repo(&resolved.config, &locations.cwd)
        });
    }

    /// The configured GitHub API, with its token.
    pub fn github(&self) -> Result<crate::tracker::github::GithubTracker, CommandError> {
        use crate::tracker::github::{GithubSettings, GithubTracker};
        let resolved = self.config()?;
        // Untrusted repository values of these risky keys are already left
        // out; this is the check before the token goes anywhere.
        if !resolved.may_receive_credentials("github.api_url") {
            return Err(CommandError::usage(
                "the GitHub API URL comes from an untrusted repository file",
            )
            .hint("set [github] api_url in your own config (or CSM_GITHUB_API_URL), or run `csm trust`"));
        }
        let config = &resolved.config;
        let gh = &config.github;
        let account = self.github_account()?;
        let (token, origin) = self
            .credentials()
            .resolve_from(
                crate::credentials::GITHUB_TOKEN_ENV_VARS,
                &account,
                gh.token_command.as_deref(),
                &env_var,
            )?
            .ok_or_else(|| {
                CommandError::new(
                    crate::command_error::ExitKind::Auth,
                    format!("no GitHub token for {}", account.site),
                )
                .hint("export GH_TOKEN=$(gh auth token), or run `csm auth login --tracker github`")
            })?;
        let limits = match self
            .quick_tracker_secs
            .load(std::sync::atomic::Ordering::Relaxed)
        {
            0 => jira::limits(gh.timeout_secs, gh.max_attempts),
            quick => jira::limits(quick.min(gh.timeout_secs), 1),
        };
        let settings = GithubSettings {
            api_url: gh.api_url.clone(),
            repo: github_repo(config, &self.cwd),
            status_labels: gh.status_labels.clone(),
            open_aliases: vec![config.workflow.start_status.clone()],
            limits,
        };
        Ok(GithubTracker::new(settings, token, origin.to_string())?)
    }

    /// The keyring account of the configured GitHub API.
    pub fn github_account(&self) -> Result<crate::credentials::Account, CommandError> {
        let gh = &self.config()?.config.github;
        Ok(crate::credentials::Account {
            site: gh.api_url.trim_end_matches('/').to_string(),
            user: "token".into(),
        })
    }

    /// The GitHub repository of the current folder: `[github] repo`, else
    /// the `origin` remote's; `None` when the tracker is not GitHub.
    pub fn github_repo(&self) -> Result<Option<String>, CommandError> {
        Ok(github_repo(&self.config()?.config, &self.cwd))
    }

    /// Makes trackers opened from now on give up after `secs` seconds,
    /// without retries.
    pub fn quick_trackers(&self, secs: u64) {
        self.quick_tracker_secs
            .store(secs, std::sync::atomic::Ordering::Relaxed);
    }

    /// The configured Jira site, with its token.
    pub fn jira(&self) -> Result<JiraTracker, CommandError> {
        let resolved = self.config()?;
        if resolved.config.jira.url.is_some() && !resolved.may_receive_credentials("jira.url") {
            return Err(CommandError::usage(
                "the Jira URL comes from an untrusted repository file",
            )
            .hint("set [jira] url in your own config, or run `csm trust`"));
        }
        if !resolved.may_receive_credentials("jira.gateway_url") {
            return Err(CommandError::usage(
                "the Jira gateway URL comes from an untrusted repository file",
            )
            .hint("set [jira] gateway_url in your own config, or run `csm trust`"));
        }
        let config = &resolved.config;
        let jira = &config.jira;
        let url = jira.url.clone().ok_or_else(|| {
            CommandError::usage("the tracker is jira but no [jira] url is set")
                .hint("set [jira] url in the config, or CSM_JIRA_URL")
        })?;
        let account = self.jira_account()?;
        let (token, origin) = self
            .credentials()
            .resolve(&account, jira.token_command.as_deref(), &env_var)?
            .ok_or_else(|| {
                CommandError::new(
                    crate::command_error::ExitKind::Auth,
                    format!("no token for {} on {}", account.user, account.site),
                )
                .hint("run `csm auth login`, or set CSM_JIRA_TOKEN")
            })?;
        let configured = jira.deployment.map(|d| match d {
            Deployment::Cloud => jira::Deployment::Cloud,
            Deployment::Datacenter => jira::Deployment::DataCenter,
        });
        let cache: Arc<dyn jira::FieldCache> = Arc::new(Mutex::new(self.store()?));
        let settings = |deployment| jira::JiraSettings {
            url: url.clone(),
            deployment,
            ac_field: jira.ac_field.clone(),
            project: jira.project.clone(),
            limits: match self
                .quick_tracker_secs
                .load(std::sync::atomic::Ordering::Relaxed)
            {
                0 => jira::limits(jira.timeout_secs, jira.max_attempts),
                quick => jira::limits(quick.min(jira.timeout_secs), 1),
            },
        };
        // The kind decides the auth scheme; when it is not configured, ask
        // the site (serverInfo needs no login; the answer is cached).
        let deployment = match (configured, &jira.email) {
            (Some(d), _) => d,
            (None, None) => jira::Deployment::DataCenter,
            (None, Some(email)) => JiraTracker::new(
                settings(None),
                jira::Auth::Basic {
                    email: email.clone(),
                    token: token.clone(),
                },
                Arc::clone(&cache),
            )?
            .deployment()?,
        };
        let auth = match (deployment, &jira.email) {
            (jira::Deployment::DataCenter, _) => jira::Auth::Bearer { token },
            (jira::Deployment::Cloud, Some(email)) => jira::Auth::Basic {
                email: email.clone(),
                token,
            },
            (jira::Deployment::Cloud, None) => {
                return Err(CommandError::usage("Jira Cloud needs your account e-mail")
                    .hint("set [jira] email, or CSM_JIRA_EMAIL"));
            }
        };
        let route = jira::RouteSettings {
            api: jira.api.map(|a| match a {
                crate::config::JiraApi::Site => jira::Api::Site,
                crate::config::JiraApi::Gateway => jira::Api::Gateway,
            }),
            cloud_id: jira.cloud_id.clone(),
            gateway_url: jira.gateway_url.clone(),
        };
        Ok(JiraTracker::new(settings(Some(deployment)), auth, cache)?
            .with_route(route)?
            .with_token_source(origin)
            .with_comment_limit(jira.comment_limit))
    }

    /// The Jira account the configuration names.
    pub fn jira_account(&self) -> Result<crate::credentials::Account, CommandError> {
        let jira = &self.config()?.config.jira;
        let site = jira.url.clone().ok_or_else(|| {
            CommandError::usage("no Jira site is configured")
                .hint("set [jira] url in the config (or CSM_JIRA_URL)")
        })?;
        Ok(crate::credentials::Account {
            site: site.trim_end_matches('/').to_string(),
            user: jira.email.clone().unwrap_or_else(|| "token".into()),
        })
    }

    /// The tracker a session was recorded with (its `Tracker::id`), when
    /// it can be opened from here: any local repository, or the configured
    /// Jira site.
    pub fn tracker_by_id(&self, id: &str) -> Result<Option<Box<dyn Tracker>>, CommandError> {
        if let Some(root) = id.strip_prefix("local:") {
            let config = &self.config()?.config;
            let tracker = LocalTracker::new(
                std::path::Path::new(root),
                config.local.prefix.clone(),
                config.local.statuses.clone(),
            )?;
            return Ok(Some(Box::new(tracker)));
        }
        let configured = self.tracker()?;
        Ok((configured.id() == id).then_some(configured))
    }

    /// The user's home folder, for shortening paths in output.
    pub fn home(&self) -> Option<PathBuf> {
        directories::BaseDirs::new().map(|b| b.home_dir().to_path_buf())
    }

    /// The `codex` program: found and version-checked, or, with
    /// `run_it = false` (dry runs), only found, because even
    /// `codex --version` writes into `$CODEX_HOME`.
    pub fn codex(&self, run_it: bool) -> Result<PathBuf, CommandError> {
        let explicit = self.config()?.config.codex.bin.clone();
        let env_bin = env_var("CSM_CODEX_BIN");
        let to_command_error = |e: crate::codex::DiscoveryError| {
            let fix = e.fix();
            CommandError::failure(e.to_string()).hint(fix)
        };
        let path = crate::codex::discovery::locate(explicit.as_deref(), env_bin.as_deref())
            .map_err(to_command_error)?;
        if !run_it {
            return Ok(path);
        }
        // A version checked once for this very file (path, size, mtime) is
        // not asked again: `codex --version` costs a process per launch.
        let stamp = std::fs::metadata(&path).ok().and_then(|m| {
            let mtime = m
                .modified()
                .ok()?
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?;
            Some(format!(
                "codex-ok:{}:{}:{}",
                path.display(),
                m.len(),
                mtime.as_nanos()
            ))
        });
        let signed_in = || -> Result<(), CommandError> {
            let home = self.codex_home()?;
            crate::codex::discovery::check_signed_in(&home, &env_var).map_err(|e| {
                CommandError::failure(e)
                    .hint("run `codex login` (or set OPENAI_API_KEY), then try again")
            })
        };
        let store = self.store().ok();
        if let (Some(stamp), Some(store)) = (&stamp, &store)
            && store.cache_get(stamp).ok().flatten().is_some()
        {
            signed_in()?;
            return Ok(path);
        }
        let found = crate::codex::discover(Some(&path), None, &self.child_env()?)
            .map_err(to_command_error)?;
        signed_in()?;
        if let (Some(stamp), Some(store)) = (&stamp, &store) {
            let _ = store.cache_set(stamp, &found.version.to_string());
        }
        Ok(found.path)
    }

    /// Codex's home folder.
    pub fn codex_home(&self) -> Result<PathBuf, CommandError> {
        crate::codex::codex_home(&env_var).ok_or_else(|| {
            CommandError::failure("cannot find Codex's home folder").hint("set CODEX_HOME")
        })
    }

    /// The environment for Codex: csm's own minus every secret.
    pub fn child_env(&self) -> Result<Vec<(std::ffi::OsString, std::ffi::OsString)>, CommandError> {
        let extra = &self.config()?.config.secrets.env;
        Ok(crate::codex::command::child_env(std::env::vars_os(), extra))
    }

    /// The program Codex runs after each turn: `csm hook notify`.
    pub fn notify_argv(&self) -> Vec<std::ffi::OsString> {
        let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("csm"));
        vec![exe.into_os_string(), "hook".into(), "notify".into()]
    }

    /// The exact Codex command for a session: `codex [settings] [notify]
    /// [tabs server] [config args] [PROMPT]`, or `codex resume <id> ...`
    /// when `resume` is given, in `cwd`, with the environment minus
    /// secrets. With `dry_run`, codex is only located, not run. `session`
    /// is csm's id of the session, for its tabs server (`tabs=on|auto`);
    /// `None` before the session is recorded (a dry run shows `NEW`).
    pub fn codex_command(
        &self,
        dry_run: bool,
        session: Option<i64>,
        settings: &crate::codex::Settings,
        cwd: &std::path::Path,
        prompt: Option<&str>,
        resume: Option<&str>,
    ) -> Result<crate::codex::CodexCommand, CommandError> {
        use crate::codex::CodexCommand;
        use crate::codex::command::Invocation;
        if let Some(prompt) = prompt {
            crate::codex::command::check_prompt_fits(prompt).map_err(|e| {
                CommandError::usage(e)
                    .hint("shorten the ticket's description or criteria, or the prompt template")
            })?;
        }
        let program = self.codex(!dry_run)?;
        let notify = self.notify_argv();
        let extra: Vec<std::ffi::OsString> = self
            .config()?
            .config
            .codex
            .args
            .iter()
            .map(Into::into)
            .collect();
        let env = self.child_env()?;
        let mcp = match settings.tabs_mode() {
            crate::codex::settings::TabsMode::Off => None,
            _ => Some(self.tabs_server(session, &env)?),
        };
        let inv = Invocation {
            program: &program,
            settings,
            cwd,
            prompt,
            notify: Some(&notify),
            extra: &extra,
            mcp: mcp.as_ref(),
        };
        if let Some(id) = resume
            && !crate::codex::is_session_id(id)
        {
            return Err(CommandError::failure(format!(
                "the recorded Codex session id \"{}\" is not a session id",
                crate::output::sanitize(id)
            ))
            .hint("`csm unlink` the ticket and `csm link` the right session"));
        }
        Ok(match resume {
            Some(id) => CodexCommand::resume(&inv, id, env),
            None => CodexCommand::launch(&inv, env),
        })
    }

    /// `csm mcp --session ID`, the tabs server, as Codex is told to run it:
    /// it gets the environment Codex gets (whose secrets are already
    /// removed), so csm finds its store and tabs run as the user's.
    fn tabs_server(
        &self,
        session: Option<i64>,
        env: &[(std::ffi::OsString, std::ffi::OsString)],
    ) -> Result<crate::codex::command::McpServer, CommandError> {
        let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("csm"));
        let tabs = &self.config()?.config.tabs;
        Ok(crate::codex::command::McpServer {
            name: crate::tabs::SERVER_NAME.into(),
            command: exe.into_os_string(),
            args: vec![
                "mcp".into(),
                "--session".into(),
                session
                    .map_or_else(|| "NEW".to_string(), |id| id.to_string())
                    .into(),
            ],
            env_vars: env
                .iter()
                .filter_map(|(k, _)| k.to_str().map(str::to_string))
                .collect(),
            tool_timeout_sec: crate::tabs::tool_timeout_secs(tabs.approval_wait_secs),
        })
    }

    /// Where prompt templates are looked for, for a repository.
    pub fn template_dirs(&self, folder: &std::path::Path) -> crate::prompt::TemplateDirs {
        crate::prompt::template_dirs(&self.dirs.config, &paths::repo_root(folder))
    }

    /// The OS keyring (or its absence).
    pub fn credentials(&self) -> Credentials {
        Credentials::platform(&env_var)
    }
}
