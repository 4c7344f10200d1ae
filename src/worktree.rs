//! A branch and a git worktree per ticket, so that parallel Codex sessions
//! on one repository never edit the same files.
//!
//! `csm start KEY --worktree` names a branch after the ticket (a Handlebars
//! template, made a safe git ref name), and gives it its own worktree in a
//! parent folder (by default `<repo>.worktrees/<branch>`, next to the
//! repository); the session's folder is that worktree. A second start of
//! the ticket finds the worktree again; a branch that already exists is
//! checked out rather than made anew; the main checkout is never touched.
//!
//! Deciding what to do ([`plan`]), naming branches ([`branch_name`],
//! [`slug`]) and reading git's answers ([`parse_worktree_list`],
//! [`parse_status`]) are pure functions. The `git` command-line tool, run
//! with argv through [`crate::git::run`], does the rest: it is what users
//! have, and what defines worktrees.
//!
//! csm remembers the worktrees it made as session events (`worktree`, and
//! `worktree-removed` once removed: [`EventKind`]), so no store migration is needed and
//! `csm worktree prune` only ever removes a worktree csm made, after
//! [`check_removable`] found nothing that would be lost.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt;
use std::path::{Component, Path, PathBuf};

use serde::Serialize;
use serde_json::json;

use crate::event::{EventKind, SessionEvent, WorktreeRemoved};
use crate::git::{self, GitError};
use crate::store::{SessionStatus, Store, StoreError};

/// The default branch template.
pub const DEFAULT_BRANCH_TEMPLATE: &str = "{{key}}-{{slug summary}}";

/// The longest branch name csm makes, in characters (it is also a folder
/// name, and has to be typed now and then).
pub const MAX_BRANCH_LEN: usize = 60;

/// The git that `start --worktree` needs: `git worktree list --porcelain`
/// came in 2.7 (`worktree add` in 2.5).
pub const GIT_FOR_START: GitVersion = GitVersion(2, 7, 0);

/// The git that removing a worktree needs: `git worktree remove` came in
/// 2.17.
pub const GIT_FOR_REMOVE: GitVersion = GitVersion(2, 17, 0);

/// How many files or commits a message names before "and N more".
const NAMED: usize = 5;

/// Why a worktree cannot be made, found or removed.
#[derive(Debug, thiserror::Error)]
pub enum WorktreeError {
    /// There is no `git` program.
    #[error("git is not installed, and worktrees need it")]
    GitMissing,
    /// git predates the worktree commands csm uses.
    #[error("git {found} is too old for worktrees: csm needs git {need} or newer")]
    GitTooOld {
        /// The version found.
        found: GitVersion,
        /// The version needed.
        need: GitVersion,
    },
    /// The folder is not inside a git repository.
    #[error("{} is not in a git repository, so it cannot have worktrees", folder.display())]
    NotARepo {
        /// The folder.
        folder: PathBuf,
    },
    /// The repository has no commit to branch from.
    #[error("{} has no commits yet, so there is nothing to branch from", repo.display())]
    NoCommits {
        /// The repository.
        repo: PathBuf,
    },
    /// The branch is the one checked out in the main checkout.
    #[error("branch {branch} is checked out in the main checkout {}", path.display())]
    BranchInMainCheckout {
        /// The branch.
        branch: String,
        /// The main checkout.
        path: PathBuf,
    },
    /// The branch is checked out in a worktree of another ticket.
    #[error("branch {branch} is already checked out in {}'s worktree {}", owner, path.display())]
    BranchTaken {
        /// The branch.
        branch: String,
        /// The worktree that has it.
        path: PathBuf,
        /// The ticket that worktree belongs to.
        owner: String,
    },
    /// Something else is where the worktree would go.
    #[error("cannot make the worktree {}: {why}", path.display())]
    PathTaken {
        /// The folder.
        path: PathBuf,
        /// What is there.
        why: String,
    },
    /// The branch template is malformed.
    #[error("[worktree] branch template: {message}")]
    Template {
        /// What is wrong.
        message: String,
    },
    /// The parent folder cannot be worked out.
    #[error("[worktree] parent: {message}")]
    Parent {
        /// What is wrong.
        message: String,
    },
    /// Removing the worktree would lose work.
    #[error("the worktree {} has work that would be lost: {loss}", path.display())]
    WouldLoseWork {
        /// The worktree.
        path: PathBuf,
        /// The repository's main checkout (for the hint).
        repo: PathBuf,
        /// What would be lost.
        loss: Loss,
    },
    /// The worktree is locked (`git worktree lock`).
    #[error("the worktree {} is locked{}", path.display(), reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default())]
    Locked {
        /// The worktree.
        path: PathBuf,
        /// Why, as given to `git worktree lock --reason`.
        reason: Option<String>,
    },
    /// A folder csm recorded is no longer a worktree of its repository.
    #[error("{} is no longer a worktree of {}, so csm leaves it alone", path.display(), repo.display())]
    NotAWorktree {
        /// The folder.
        path: PathBuf,
        /// The repository.
        repo: PathBuf,
    },
    /// Codex is running in the worktree.
    #[error("Codex is running in the worktree {} ({key}'s session {session})", path.display())]
    InUse {
        /// The worktree.
        path: PathBuf,
        /// The ticket.
        key: String,
        /// csm's session number.
        session: i64,
    },
    /// A git command failed.
    #[error(transparent)]
    Git(GitError),
}

impl From<GitError> for WorktreeError {
    fn from(e: GitError) -> WorktreeError {
        match e {
            GitError::Missing => WorktreeError::GitMissing,
            other => WorktreeError::Git(other),
        }
    }
}

// ---------------------------------------------------------------------
// git's version

/// A git version (`major.minor.patch`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct GitVersion(pub u32, pub u32, pub u32);

impl fmt::Display for GitVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// Reads `git --version`'s answer (`git version 2.39.2.windows.1`,
/// `git version 2.37.1 (Apple Git-137)`).
pub fn parse_git_version(text: &str) -> Option<GitVersion> {
    let rest = text.trim().strip_prefix("git version ")?;
    let token = rest.split_whitespace().next()?;
    let mut parts = token.split('.').map(|p| {
        let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<u32>().ok()
    });
    let major = parts.next()??;
    let minor = parts.next().flatten().unwrap_or(0);
    let patch = parts.next().flatten().unwrap_or(0);
    Some(GitVersion(major, minor, patch))
}

/// Checks that git is installed and at least `need`. A version string csm
/// cannot read is let through: git's own errors will speak.
pub fn check_git(need: GitVersion) -> Result<(), WorktreeError> {
    let text = git::version()?;
    match parse_git_version(&text) {
        Some(found) if found < need => Err(WorktreeError::GitTooOld { found, need }),
        _ => Ok(()),
    }
}

// ---------------------------------------------------------------------
// branch names

/// What the branch template sees.
#[derive(Clone, Debug, Serialize)]
pub struct BranchData<'a> {
    /// The ticket key.
    pub key: &'a str,
    /// The ticket's summary.
    pub summary: &'a str,
    /// The issue type, when the tracker has one.
    #[serde(rename = "type")]
    pub issue_type: Option<&'a str>,
}

// `{{slug summary}}`; an absent value (a ticket without a type) is empty.
handlebars::handlebars_helper!(slug_helper: |value: Json| match value {
    serde_json::Value::String(s) => slug(s),
    serde_json::Value::Null => String::new(),
    other => slug(&other.to_string()),
});

/// Renders the branch template and makes the result a valid, lower-case
/// branch name of at most [`MAX_BRANCH_LEN`] characters (the key alone when
/// nothing usable is left).
pub fn branch_name(template: &str, data: &BranchData<'_>) -> Result<String, WorktreeError> {
    let mut hb = handlebars::Handlebars::new();
    hb.register_escape_fn(handlebars::no_escape);
    // A misspelt variable is a mistake worth reporting, not an empty part.
    hb.set_strict_mode(true);
    hb.register_helper("slug", Box::new(slug_helper));
    let raw = hb
        .render_template(template, data)
        .map_err(|e| WorktreeError::Template {
            message: e.reason().to_string(),
        })?;
    Ok(to_branch_name(&raw, data.key))
}

/// Lower-case ASCII letters and digits joined by single dashes: accents
/// are folded (`é` → `e`, `ß` → `ss`), everything else separates words.
pub fn slug(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in folded(text).chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.truncate(out.trim_end_matches('-').len());
    out
}

/// Makes `raw` a branch name git accepts (`git check-ref-format --branch`):
/// lower-case ASCII letters, digits, `-`, `_`, `.` and `/` between
/// non-empty parts, no `..`, no part that starts with `.` or `-` or ends
/// with `.lock` or `.`, at most [`MAX_BRANCH_LEN`] characters. When
/// nothing is left, the slug of `fallback` (the key) is used.
pub fn to_branch_name(raw: &str, fallback: &str) -> String {
    let text = folded(raw);
    let parts: Vec<String> = text.split('/').filter_map(clean_part).collect();
    let mut name = parts.join("/");
    if name.len() > MAX_BRANCH_LEN {
        name = cap(&name);
    }
    if name.is_empty() {
        let key = slug(fallback);
        return if key.is_empty() {
            "csm-worktree".into()
        } else {
            cap(&key)
        };
    }
    name
}

/// One part of a ref name between slashes, cleaned; `None` when empty.
fn clean_part(part: &str) -> Option<String> {
    let mut out = String::with_capacity(part.len());
    for c in part.chars() {
        let c = if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
            c
        } else {
            '-'
        };
        // No "..", and runs of dashes read as one.
        if (c == '.' || c == '-') && out.ends_with(c) {
            continue;
        }
        out.push(c);
    }
    let trimmed = trim_part(&out);
    (!trimmed.is_empty()).then(|| trimmed.to_string())
}

fn trim_part(mut part: &str) -> &str {
    loop {
        let before = part.len();
        part = part.trim_matches(|c| matches!(c, '-' | '.' | '_'));
        if let Some(stem) = part.strip_suffix(".lock") {
            part = stem;
        }
        if part.len() == before {
            return part;
        }
    }
}

/// Cuts a clean name to [`MAX_BRANCH_LEN`], at a word boundary when one is
/// near, and cleans the cut end.
fn cap(name: &str) -> String {
    if name.len() <= MAX_BRANCH_LEN {
        return name.to_string();
    }
    // Only ASCII is left, so bytes are characters.
    let mut cut = &name[..MAX_BRANCH_LEN];
    let next_is_word = name[MAX_BRANCH_LEN..]
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric());
    if next_is_word
        && let Some(at) = cut.rfind(['-', '/', '_', '.'])
        && at >= MAX_BRANCH_LEN * 2 / 3
    {
        cut = &cut[..at];
    }
    cut.split('/')
        .filter_map(|p| {
            let p = trim_part(p);
            (!p.is_empty()).then_some(p)
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// The characters of `text`, lower-cased, with Latin accents folded to
/// ASCII and combining marks dropped.
fn folded(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        // Combining accents (a decomposed `é`) go; the letter stays.
        if ('\u{300}'..='\u{36f}').contains(&c) {
            continue;
        }
        let s: &str = match c {
            'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => "a",
            'æ' => "ae",
            'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' => "c",
            'ď' | 'đ' | 'ð' => "d",
            'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' => "e",
            'ĝ' | 'ğ' | 'ġ' | 'ģ' => "g",
            'ĥ' | 'ħ' => "h",
            'ì' | 'í' | 'î' | 'ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' => "i",
            'ĳ' => "ij",
            'ĵ' => "j",
            'ķ' => "k",
            'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' => "l",
            'ñ' | 'ń' | 'ņ' | 'ň' => "n",
            'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ŏ' | 'ő' => "o",
            'œ' => "oe",
            'ŕ' | 'ŗ' | 'ř' => "r",
            'ś' | 'ŝ' | 'ş' | 'š' | 'ș' => "s",
            'ß' => "ss",
            'ţ' | 'ť' | 'ŧ' | 'ț' => "t",
            'þ' => "th",
            'ù' | 'ú' | 'û' | 'ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => "u",
            'ŵ' => "w",
            'ý' | 'ÿ' | 'ŷ' => "y",
            'ź' | 'ż' | 'ž' => "z",
            _ => "",
        };
        if s.is_empty() {
            out.push(c);
        } else {
            out.push_str(s);
        }
    }
    out
}

// ---------------------------------------------------------------------
// what git says

/// One worktree, as `git worktree list --porcelain` describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// Its folder.
    pub path: PathBuf,
    /// The commit its HEAD points at (`None` before the first commit).
    pub head: Option<String>,
    /// The branch checked out (short name), `None` when detached.
    pub branch: Option<String>,
    /// A bare repository (only ever the first entry).
    pub bare: bool,
    /// Locked, with the reason when one was given (`Some("")` otherwise).
    pub locked: Option<String>,
    /// Its folder is gone; `git worktree prune` would drop it.
    pub prunable: bool,
}

/// Reads `git worktree list --porcelain`; the first entry is the main
/// checkout (or the bare repository).
pub fn parse_worktree_list(text: &str) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    for line in text.lines() {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        if word == "worktree" {
            out.push(Entry {
                path: PathBuf::from(rest),
                ..Entry::default()
            });
            continue;
        }
        let Some(entry) = out.last_mut() else {
            continue;
        };
        match word {
            "HEAD" => {
                entry.head = Some(rest.to_string()).filter(|h| h.chars().any(|c| c != '0'));
            }
            "branch" => {
                entry.branch = Some(rest.strip_prefix("refs/heads/").unwrap_or(rest).to_string());
            }
            "bare" => entry.bare = true,
            "locked" => entry.locked = Some(rest.to_string()),
            "prunable" => entry.prunable = true,
            _ => {}
        }
    }
    out
}

/// Reads `git status --porcelain -z`: the paths with uncommitted changes,
/// untracked files included.
pub fn parse_status(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut records = text.split('\0').filter(|r| !r.is_empty());
    while let Some(record) = records.next() {
        let (Some(code), Some(path)) = (record.get(..3), record.get(3..)) else {
            continue;
        };
        if path.is_empty() {
            continue;
        }
        out.push(path.to_string());
        // A rename or copy (staged, or in the worktree for an
        // intent-to-add file) is followed by the path it came from.
        if code[..2].contains(['R', 'C']) {
            records.next();
        }
    }
    out
}

// ---------------------------------------------------------------------
// the repository

/// What is known about the repository a folder is in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Repo {
    /// The main checkout (or the bare repository).
    pub main: PathBuf,
    /// Whether the repository is bare.
    pub bare: bool,
    /// The commit the main checkout's HEAD points at; `None` before the
    /// first commit.
    pub main_head: Option<String>,
    /// The folder's place inside its own worktree (`services/api`), kept
    /// in the new worktree.
    pub prefix: PathBuf,
    /// Every worktree git knows, the main checkout first.
    pub worktrees: Vec<Entry>,
}

impl Repo {
    fn linked(&self) -> impl Iterator<Item = &Entry> {
        self.worktrees.iter().skip(1)
    }
}

/// Finds the repository `folder` is in, and its worktrees. Fails with
/// [`WorktreeError::NotARepo`] outside a repository, and with
/// [`WorktreeError::GitTooOld`] when git fails and is older than
/// [`GIT_FOR_START`] (its version is only asked for then: a process fewer
/// on every start).
pub fn discover(folder: &Path) -> Result<Repo, WorktreeError> {
    match find_repo(folder) {
        Err(WorktreeError::Git(e)) => {
            check_git(GIT_FOR_START)?;
            Err(WorktreeError::Git(e))
        }
        other => other,
    }
}

fn find_repo(folder: &Path) -> Result<Repo, WorktreeError> {
    let out = git::run_c_locale(folder, &["rev-parse", "--show-toplevel", "--show-prefix"])
        .map_err(|e| match e {
            GitError::Failed { ref message, .. }
                if message.contains("not a git repository")
                    || message.contains("must be run in a work tree") =>
            {
                WorktreeError::NotARepo {
                    folder: folder.to_path_buf(),
                }
            }
            other => other.into(),
        })?;
    let mut lines = out.lines();
    let top = PathBuf::from(lines.next().unwrap_or_default());
    let prefix = PathBuf::from(lines.next().unwrap_or_default().trim_end_matches('/'));
    let worktrees = parse_worktree_list(&git::run(&top, &["worktree", "list", "--porcelain"])?);
    let Some(first) = worktrees.first() else {
        return Err(WorktreeError::NotARepo {
            folder: folder.to_path_buf(),
        });
    };
    let main_head = match (&first.head, first.bare) {
        (Some(h), _) => Some(h.clone()),
        (None, true) => git::run(&first.path, &["rev-parse", "--verify", "--quiet", "HEAD"])
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty()),
        (None, false) => None,
    };
    Ok(Repo {
        main: first.path.clone(),
        bare: first.bare,
        main_head,
        prefix,
        worktrees,
    })
}

/// The folder that holds the worktrees: `configured` (`~/` is `home`, a
/// relative path is taken from the main checkout), else `<repo>.worktrees`
/// next to the repository (`app.git` → `app.worktrees` for a bare one).
pub fn resolve_parent(
    configured: Option<&Path>,
    repo: &Repo,
    home: Option<&Path>,
) -> Result<PathBuf, WorktreeError> {
    let parent = match configured {
        Some(p) if p.as_os_str().is_empty() => {
            return Err(WorktreeError::Parent {
                message: "it is empty".into(),
            });
        }
        Some(p) => {
            let tilde = p.strip_prefix("~").ok();
            match (tilde, home) {
                (Some(rest), Some(home)) => home.join(rest),
                (Some(_), None) => {
                    return Err(WorktreeError::Parent {
                        message: format!("{} needs a home folder, and none is set", p.display()),
                    });
                }
                (None, _) => repo.main.join(p),
            }
        }
        None => {
            let (Some(up), Some(name)) = (repo.main.parent(), repo.main.file_name()) else {
                return Err(WorktreeError::Parent {
                    message: format!(
                        "the repository {} has no folder around it; set [worktree] parent",
                        repo.main.display()
                    ),
                });
            };
            let name = name.to_string_lossy();
            let name = match repo.bare {
                true => name.strip_suffix(".git").unwrap_or(&name),
                false => &name,
            };
            up.join(format!("{name}.worktrees"))
        }
    };
    Ok(real_path(&parent))
}

/// `path` with its longest existing ancestor resolved the way git
/// resolves it (symbolic links followed), so that paths compare like with
/// like with what git reports.
fn real_path(path: &Path) -> PathBuf {
    let path = normalize(path);
    for ancestor in path.ancestors() {
        if let Ok(real) = std::fs::canonicalize(ancestor) {
            return match path.strip_prefix(ancestor) {
                Ok(rest) if !rest.as_os_str().is_empty() => real.join(rest),
                _ => real,
            };
        }
    }
    path
}

/// Removes `.` and resolves `..` without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

// ---------------------------------------------------------------------
// the plan

/// What [`plan`] needs to know beyond the worktree list.
pub trait Facts {
    /// Whether a local branch of this name exists.
    fn branch_exists(&self, branch: &str) -> bool;
    /// Whether anything is at this path.
    fn path_exists(&self, path: &Path) -> bool;
    /// The ticket whose csm-made worktree is at this path, if any.
    fn owner(&self, path: &Path) -> Option<String>;
}

/// What a start asks for.
#[derive(Clone, Debug)]
pub struct Want<'a> {
    /// The ticket key.
    pub key: &'a str,
    /// The branch name rendered from the template.
    pub branch: String,
    /// The parent folder of new worktrees.
    pub parent: PathBuf,
    /// The worktree csm last made for this ticket, if any.
    pub previous: Option<&'a Recorded>,
}

/// How the worktree comes to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// It exists: use it as it is.
    Reuse,
    /// Add a worktree that checks out the existing branch.
    Checkout,
    /// Add a worktree on a new branch from the main checkout's HEAD.
    Create,
}

/// What [`apply`] will do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The main checkout, where git runs.
    pub repo: PathBuf,
    /// The worktree's folder.
    pub path: PathBuf,
    /// Where Codex runs: the same place inside the worktree as the folder
    /// csm was started in.
    pub folder: PathBuf,
    /// The branch.
    pub branch: String,
    /// How.
    pub action: Action,
    /// Drop git's records of worktrees whose folders are gone first (one
    /// of them holds the branch or the path).
    pub prune_stale: bool,
    /// The commit the branch started from, when known now.
    pub base: Option<String>,
    /// The main checkout's HEAD (for the merge base of an existing branch).
    pub main_head: Option<String>,
}

/// Decides where the ticket's worktree is and how it comes to be. Pure:
/// everything it needs is in `repo`, `want` and `facts`.
pub fn plan(repo: &Repo, want: &Want<'_>, facts: &dyn Facts) -> Result<Plan, WorktreeError> {
    // A worktree csm removed comes back where it was, on its branch.
    let previous = want.previous.filter(|p| p.repo == repo.main);
    let make = |path: PathBuf, branch: String, action, prune_stale, base| Plan {
        repo: repo.main.clone(),
        folder: match repo.prefix.as_os_str().is_empty() {
            true => path.clone(),
            false => path.join(&repo.prefix),
        },
        path,
        branch,
        action,
        prune_stale,
        base,
        main_head: repo.main_head.clone(),
    };
    // The ticket's own worktree, still there.
    if let Some(prev) = previous
        && let Some(e) = repo.linked().find(|e| e.path == prev.path && !e.prunable)
    {
        let branch = e.branch.clone().unwrap_or_else(|| prev.branch.clone());
        return Ok(make(
            e.path.clone(),
            branch,
            Action::Reuse,
            false,
            prev.base.clone(),
        ));
    }
    // The branch the ticket had, while it exists (its summary may have
    // changed since), else the one the template names.
    let (branch, home, base) = match previous {
        Some(p) if facts.branch_exists(&p.branch) => {
            (p.branch.clone(), Some(p.path.clone()), p.base.clone())
        }
        _ => (want.branch.clone(), None, None),
    };
    let mut prune_stale = false;
    // The branch checked out somewhere already.
    if let Some((i, e)) = repo
        .worktrees
        .iter()
        .enumerate()
        .find(|(_, e)| e.branch.as_deref() == Some(branch.as_str()))
    {
        if i == 0 {
            return Err(WorktreeError::BranchInMainCheckout {
                branch,
                path: e.path.clone(),
            });
        }
        if e.locked.is_some() && e.prunable {
            return Err(WorktreeError::Locked {
                path: e.path.clone(),
                reason: e.locked.clone().filter(|r| !r.is_empty()),
            });
        }
        if e.prunable {
            prune_stale = true;
        } else {
            if let Some(owner) = facts.owner(&e.path).filter(|o| o != want.key) {
                return Err(WorktreeError::BranchTaken {
                    branch,
                    path: e.path.clone(),
                    owner,
                });
            }
            let base = base.filter(|_| home.as_deref() == Some(e.path.as_path()));
            return Ok(make(e.path.clone(), branch, Action::Reuse, false, base));
        }
    }
    // Where: back where it was, else in the parent folder.
    let path = home.unwrap_or_else(|| want.parent.join(&branch));
    if let Some(e) = repo.worktrees.iter().find(|e| e.path == path) {
        if e.prunable && e.locked.is_none() {
            prune_stale = true;
        } else {
            return Err(WorktreeError::PathTaken {
                why: match &e.branch {
                    Some(b) => format!("it is already the worktree of branch {b}"),
                    None => "it is already a worktree (on a detached HEAD)".into(),
                },
                path,
            });
        }
    } else if facts.path_exists(&path) {
        return Err(WorktreeError::PathTaken {
            why: format!(
                "something that is not a worktree of {} is there",
                repo.main.display()
            ),
            path,
        });
    }
    if facts.branch_exists(&branch) {
        return Ok(make(path, branch, Action::Checkout, prune_stale, base));
    }
    let Some(head) = repo.main_head.clone() else {
        return Err(WorktreeError::NoCommits {
            repo: repo.main.clone(),
        });
    };
    Ok(make(path, branch, Action::Create, prune_stale, Some(head)))
}

impl Plan {
    /// The git commands [`apply`] runs, each as the arguments after
    /// `git -C <repo>`.
    pub fn commands(&self) -> Vec<Vec<OsString>> {
        let mut out = Vec::new();
        if self.prune_stale {
            out.push(vec!["worktree".into(), "prune".into()]);
        }
        match self.action {
            Action::Reuse => {}
            Action::Checkout => out.push(vec![
                "worktree".into(),
                "add".into(),
                self.path.clone().into_os_string(),
                self.branch.clone().into(),
            ]),
            Action::Create => out.push(vec![
                "worktree".into(),
                "add".into(),
                "-b".into(),
                self.branch.clone().into(),
                self.path.clone().into_os_string(),
                self.base.clone().unwrap_or_default().into(),
            ]),
        }
        out
    }

    /// The plan for a person: shell lines (a `#` comment for a reuse).
    pub fn shell_lines(&self) -> Vec<String> {
        if self.action == Action::Reuse {
            return vec![format!(
                "# the worktree {} on branch {} exists already",
                crate::codex::command::quote(self.path.as_os_str()),
                self.branch
            )];
        }
        self.commands()
            .iter()
            .map(|args| {
                let mut line = format!(
                    "git -C {}",
                    crate::codex::command::quote(self.repo.as_os_str())
                );
                for a in args {
                    line.push(' ');
                    line.push_str(&crate::codex::command::quote(a));
                }
                line
            })
            .collect()
    }

    /// One line saying what happens.
    pub fn describe(&self) -> String {
        let short = |c: &str| c.chars().take(12).collect::<String>();
        match self.action {
            Action::Reuse => format!(
                "Using the worktree {} (branch {}).",
                self.path.display(),
                self.branch
            ),
            Action::Checkout => format!(
                "Made the worktree {} for the existing branch {}.",
                self.path.display(),
                self.branch
            ),
            Action::Create => format!(
                "Made the worktree {} on the new branch {} (from {}).",
                self.path.display(),
                self.branch,
                short(self.base.as_deref().unwrap_or("HEAD"))
            ),
        }
    }
}

/// The git facts [`plan`] asks for, answered by git and the file system.
pub struct GitFacts<'a> {
    /// The repository.
    pub repo: &'a Path,
    /// csm's worktrees: folder → ticket key.
    pub owners: BTreeMap<PathBuf, String>,
}

impl Facts for GitFacts<'_> {
    fn branch_exists(&self, branch: &str) -> bool {
        let spec = format!("refs/heads/{branch}^{{commit}}");
        git::run(self.repo, &["rev-parse", "--verify", "--quiet", &spec]).is_ok()
    }

    fn path_exists(&self, path: &Path) -> bool {
        std::fs::symlink_metadata(path).is_ok()
    }

    fn owner(&self, path: &Path) -> Option<String> {
        self.owners.get(path).cloned()
    }
}

/// The result of [`apply`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// Where Codex runs (the worktree, or its subfolder matching where
    /// csm was started).
    pub folder: PathBuf,
    /// The commit the branch started from: the base of a new branch, else
    /// what csm recorded before, else the merge base of the branch and the
    /// main checkout's HEAD.
    pub start_commit: Option<String>,
}

/// Carries out a plan: runs its git commands (nothing for a reuse).
pub fn apply(plan: &Plan) -> Result<Applied, WorktreeError> {
    for args in plan.commands() {
        git::run(&plan.repo, &args)?;
    }
    let start_commit = plan.base.clone().or_else(|| {
        let head = plan.main_head.as_deref()?;
        git::run(&plan.repo, &["merge-base", &plan.branch, head])
            .ok()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
    });
    let folder = if plan.folder.is_dir() {
        plan.folder.clone()
    } else {
        plan.path.clone()
    };
    Ok(Applied {
        folder,
        start_commit,
    })
}

// ---------------------------------------------------------------------
// what csm made

/// A worktree csm made (or reused) for a ticket's session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Recorded {
    /// csm's session it was made for (the latest that used it).
    pub session_id: i64,
    /// The ticket.
    pub key: String,
    /// The main checkout of its repository.
    pub repo: PathBuf,
    /// The worktree's folder.
    pub path: PathBuf,
    /// Its branch.
    pub branch: String,
    /// The commit the branch started from.
    pub base: Option<String>,
    /// Whether csm removed it since.
    pub removed: bool,
    /// When it was last made, reused or removed (Unix ms).
    pub at: i64,
}

/// Records that a session works in a worktree.
pub fn record(
    store: &Store,
    session_id: i64,
    plan: &Plan,
    applied: &Applied,
) -> Result<(), StoreError> {
    store
        .add_event(
            session_id,
            &SessionEvent::Worktree(json!({
                "repo": plan.repo,
                "path": plan.path,
                "branch": plan.branch,
                "base": applied.start_commit,
                "action": plan.action,
            })),
        )
        .map(|_| ())
}

/// Every worktree csm made, one per folder with its latest use, most
/// recent first.
pub fn recorded(store: &Store) -> Result<Vec<Recorded>, StoreError> {
    let mut events = store.events_of_kind(EventKind::Worktree)?;
    // Only the sessions that made worktrees are read, not all of them.
    let mut keys: BTreeMap<i64, String> = BTreeMap::new();
    for e in &events {
        if !keys.contains_key(&e.session_id)
            && let Some(s) = store.session(e.session_id)?
        {
            keys.insert(s.id, s.ticket_key);
        }
    }
    events.extend(store.events_of_kind(EventKind::WorktreeRemoved)?);
    events.sort_by_key(|e| e.id);
    let mut by_path: BTreeMap<PathBuf, Recorded> = BTreeMap::new();
    for e in events {
        let text = |k: &str| e.data.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let Some(path) = text("path").map(PathBuf::from) else {
            continue;
        };
        if e.is(EventKind::WorktreeRemoved) {
            if let Some(r) = by_path.get_mut(&path) {
                r.removed = true;
                r.at = e.at;
            }
            continue;
        }
        let (Some(key), Some(repo), Some(branch)) =
            (keys.get(&e.session_id), text("repo"), text("branch"))
        else {
            continue;
        };
        by_path.insert(
            path.clone(),
            Recorded {
                session_id: e.session_id,
                key: key.clone(),
                repo: PathBuf::from(repo),
                path,
                branch,
                base: text("base"),
                removed: false,
                at: e.at,
            },
        );
    }
    let mut out: Vec<Recorded> = by_path.into_values().collect();
    out.sort_by(|a, b| b.at.cmp(&a.at).then(b.session_id.cmp(&a.session_id)));
    Ok(out)
}

/// The worktrees csm made for one ticket, most recent first.
pub fn recorded_for_ticket(store: &Store, key: &str) -> Result<Vec<Recorded>, StoreError> {
    Ok(recorded(store)?
        .into_iter()
        .filter(|r| r.key == key)
        .collect())
}

/// The folders of csm's worktrees still in place, and their tickets.
pub fn owners(recorded: &[Recorded]) -> BTreeMap<PathBuf, String> {
    recorded
        .iter()
        .filter(|r| !r.removed)
        .map(|r| (r.path.clone(), r.key.clone()))
        .collect()
}

// ---------------------------------------------------------------------
// removing

/// What removing a worktree would lose.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Loss {
    /// Files with uncommitted changes (untracked ones included).
    pub uncommitted: Vec<String>,
    /// Commits on the worktree's HEAD that no remote-tracking branch and
    /// no other local branch has (`abc1234 subject`).
    pub unpushed: Vec<String>,
}

impl Loss {
    /// Nothing would be lost.
    pub fn is_empty(&self) -> bool {
        self.uncommitted.is_empty() && self.unpushed.is_empty()
    }

    /// `2 uncommitted, 1 unpushed`, or `clean`.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if !self.uncommitted.is_empty() {
            parts.push(format!("{} uncommitted", self.uncommitted.len()));
        }
        if !self.unpushed.is_empty() {
            parts.push(format!("{} unpushed", self.unpushed.len()));
        }
        if parts.is_empty() {
            "clean".into()
        } else {
            parts.join(", ")
        }
    }
}

fn named(items: &[String]) -> String {
    let mut text = items
        .iter()
        .take(NAMED)
        .map(|i| crate::output::sanitize(i))
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > NAMED {
        text.push_str(&format!(" and {} more", items.len() - NAMED));
    }
    text
}

impl fmt::Display for Loss {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let plural = |n: usize, one: &str, many: &str| {
            if n == 1 {
                format!("1 {one}")
            } else {
                format!("{n} {many}")
            }
        };
        let mut parts = Vec::new();
        if !self.uncommitted.is_empty() {
            parts.push(format!(
                "{} ({})",
                plural(
                    self.uncommitted.len(),
                    "uncommitted file",
                    "uncommitted files"
                ),
                named(&self.uncommitted)
            ));
        }
        if !self.unpushed.is_empty() {
            parts.push(format!(
                "{} on no remote or other branch ({})",
                plural(self.unpushed.len(), "commit", "commits"),
                named(&self.unpushed)
            ));
        }
        f.write_str(&parts.join(" and "))
    }
}

/// What removing the worktree `entry` would lose: uncommitted changes,
/// and commits of its HEAD that are on no remote-tracking branch and no
/// local branch other than its own (two git commands).
fn loss(entry: &Entry) -> Result<Loss, WorktreeError> {
    let status = git::run(
        &entry.path,
        &[
            "status",
            "--porcelain",
            "-z",
            "--untracked-files=all",
            "--ignore-submodules=none",
        ],
    )?;
    let uncommitted = parse_status(&status);
    // Before the first commit there is nothing to lose but files.
    let unpushed = match &entry.head {
        None => Vec::new(),
        Some(_) => {
            let mut args: Vec<String> = vec!["rev-list".into(), "--oneline".into(), "HEAD".into()];
            args.push("--not".into());
            if let Some(own) = &entry.branch {
                args.push(format!("--exclude={own}"));
            }
            args.push("--branches".into());
            args.push("--remotes".into());
            git::run(&entry.path, &args)?
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string)
                .collect()
        }
    };
    Ok(Loss {
        uncommitted,
        unpushed,
    })
}

/// The state of a worktree csm made.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "lowercase")]
pub enum State {
    /// Nothing would be lost by removing it.
    Clean,
    /// Removing it would lose this.
    Dirty(Loss),
    /// Locked with `git worktree lock`.
    Locked {
        /// The reason given, if any.
        reason: Option<String>,
    },
    /// Its folder is gone.
    Missing,
    /// The folder is there but is no longer a worktree of its repository.
    Unregistered,
    /// csm removed it.
    Removed,
    /// git could not tell.
    Unknown {
        /// Why.
        error: String,
    },
}

impl State {
    /// A short word or two for tables.
    pub fn short(&self) -> String {
        match self {
            State::Clean => "clean".into(),
            State::Dirty(loss) => loss.summary(),
            State::Locked { .. } => "locked".into(),
            State::Missing => "missing".into(),
            State::Unregistered => "not a worktree".into(),
            State::Removed => "removed".into(),
            State::Unknown { .. } => "unknown".into(),
        }
    }
}

/// The linked worktrees of a repository, as git lists them.
fn linked_worktrees(repo: &Path) -> Result<Vec<Entry>, WorktreeError> {
    let list = git::run(repo, &["worktree", "list", "--porcelain"]).map_err(|e| match e {
        GitError::Failed { .. } if !repo.is_dir() => WorktreeError::NotARepo {
            folder: repo.to_path_buf(),
        },
        other => other.into(),
    })?;
    Ok(parse_worktree_list(&list).into_iter().skip(1).collect())
}

fn entry_for(rec: &Recorded) -> Result<Option<Entry>, WorktreeError> {
    Ok(linked_worktrees(&rec.repo)?
        .into_iter()
        .find(|e| e.path == rec.path))
}

/// The state of each worktree csm made (one `git worktree list` per
/// repository, two git commands per worktree in place).
pub fn states(recs: &[Recorded]) -> Vec<State> {
    let mut lists: BTreeMap<&Path, Result<Vec<Entry>, String>> = BTreeMap::new();
    recs.iter()
        .map(|rec| {
            if rec.removed {
                return State::Removed;
            }
            let list = lists
                .entry(&rec.repo)
                .or_insert_with(|| linked_worktrees(&rec.repo).map_err(|e| e.to_string()));
            match list {
                Ok(list) => state_of(rec, list.iter().find(|e| e.path == rec.path)),
                Err(error) => State::Unknown {
                    error: error.clone(),
                },
            }
        })
        .collect()
}

fn state_of(rec: &Recorded, entry: Option<&Entry>) -> State {
    match entry {
        None if rec.path.exists() => State::Unregistered,
        None => State::Missing,
        Some(e) if e.prunable || !rec.path.exists() => State::Missing,
        Some(e) if e.locked.is_some() => State::Locked {
            reason: e.locked.clone().filter(|r| !r.is_empty()),
        },
        Some(e) => match loss(e) {
            Ok(l) if l.is_empty() => State::Clean,
            Ok(l) => State::Dirty(l),
            Err(e) => State::Unknown {
                error: e.to_string(),
            },
        },
    }
}

/// Checks that removing the worktree loses nothing: no uncommitted or
/// untracked files, no commits that only its HEAD has, not locked, still
/// a worktree of its repository. A worktree whose folder is already gone
/// passes.
pub fn check_removable(rec: &Recorded) -> Result<(), WorktreeError> {
    check_git(GIT_FOR_REMOVE)?;
    match entry_for(rec)? {
        None if rec.path.exists() => Err(WorktreeError::NotAWorktree {
            path: rec.path.clone(),
            repo: rec.repo.clone(),
        }),
        None => Ok(()),
        Some(e) if e.locked.is_some() => Err(WorktreeError::Locked {
            path: rec.path.clone(),
            reason: e.locked.filter(|r| !r.is_empty()),
        }),
        Some(e) if e.prunable || !rec.path.exists() => Ok(()),
        Some(e) => {
            let loss = loss(&e)?;
            if loss.is_empty() {
                Ok(())
            } else {
                Err(WorktreeError::WouldLoseWork {
                    path: rec.path.clone(),
                    repo: rec.repo.clone(),
                    loss,
                })
            }
        }
    }
}

/// Removes the worktree (its folder and git's entry; the branch stays),
/// then the parent folders it leaves empty. Call [`check_removable`]
/// first: git itself still refuses to remove a worktree with changes.
pub fn remove(rec: &Recorded) -> Result<(), WorktreeError> {
    match entry_for(rec)? {
        None => {}
        Some(e) if e.prunable || !rec.path.exists() => {
            git::run(&rec.repo, &["worktree", "prune"])?;
        }
        Some(_) => {
            let path = rec.path.clone().into_os_string();
            git::run(
                &rec.repo,
                &[OsString::from("worktree"), "remove".into(), path],
            )?;
        }
    }
    // `<repo>.worktrees` (and `feature/` of `feature/x`) when now empty;
    // remove_dir only ever removes empty folders.
    let stop = rec.repo.parent().map(Path::to_path_buf);
    for dir in rec.path.ancestors().skip(1) {
        if Some(dir) == stop.as_deref() || rec.repo.starts_with(dir) {
            break;
        }
        if std::fs::remove_dir(dir).is_err() {
            break;
        }
    }
    Ok(())
}

/// Why [`cleanup`] failed: the store, or a worktree.
#[derive(Debug, thiserror::Error)]
pub enum CleanupError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A worktree cannot be removed.
    #[error(transparent)]
    Worktree(#[from] WorktreeError),
}

/// Removes every worktree csm made for the ticket `key`, after checking
/// all of them (nothing is removed when one would lose work, or Codex runs
/// in it), and records the removals. Returns what was removed; empty when
/// the ticket has no worktree in place. The branches stay.
pub fn cleanup(store: &Store, key: &str) -> Result<Vec<Recorded>, CleanupError> {
    let targets: Vec<Recorded> = recorded_for_ticket(store, key)?
        .into_iter()
        .filter(|r| !r.removed)
        .collect();
    let sessions = store.list_sessions(true)?;
    for rec in &targets {
        if let Some(s) = sessions.iter().find(|s| {
            s.folder.starts_with(&rec.path)
                && matches!(
                    crate::session::live_status(s),
                    SessionStatus::Running | SessionStatus::Waiting
                )
                && s.pid.is_some()
        }) {
            return Err(WorktreeError::InUse {
                path: rec.path.clone(),
                key: s.ticket_key.clone(),
                session: s.id,
            }
            .into());
        }
        check_removable(rec)?;
    }
    for rec in &targets {
        remove(rec)?;
        store.add_event(
            rec.session_id,
            &SessionEvent::WorktreeRemoved(WorktreeRemoved {
                path: rec.path.clone(),
            }),
        )?;
    }
    Ok(targets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn git_versions() {
        assert_eq!(
            parse_git_version("git version 2.47.3\n"),
            Some(GitVersion(2, 47, 3))
        );
        assert_eq!(
            parse_git_version("git version 2.39.2.windows.1"),
            Some(GitVersion(2, 39, 2))
        );
        assert_eq!(
            parse_git_version("git version 2.37.1 (Apple Git-137)"),
            Some(GitVersion(2, 37, 1))
        );
        assert_eq!(
            parse_git_version("git version 2.5"),
            Some(GitVersion(2, 5, 0))
        );
        assert_eq!(parse_git_version("hub version 2.14"), None);
        assert!(GitVersion(2, 6, 9) < GIT_FOR_START);
        assert!(GitVersion(2, 17, 0) >= GIT_FOR_REMOVE);
        assert_eq!(GIT_FOR_START.to_string(), "2.7.0");
    }

    fn name(summary: &str) -> String {
        branch_name(
            DEFAULT_BRANCH_TEMPLATE,
            &BranchData {
                key: "PROJ-123",
                summary,
                issue_type: Some("Bug"),
            },
        )
        .unwrap()
    }

    #[test]
    fn branch_names_from_the_default_template() {
        assert_eq!(
            name("Add a --json flag to list"),
            "proj-123-add-a-json-flag-to-list"
        );
        assert_eq!(
            name("Crème brûlée für Straße"),
            "proj-123-creme-brulee-fur-strasse"
        );
        assert_eq!(name("../../etc/passwd"), "proj-123-etc-passwd");
        assert_eq!(name("日本語だけ"), "proj-123");
        assert_eq!(name(""), "proj-123");
        let long = name(&"word ".repeat(100));
        assert!(long.len() <= MAX_BRANCH_LEN, "{long}");
        assert!(long.ends_with("-word"), "cut at a word boundary: {long}");
    }

    #[test]
    fn templates_with_slashes_types_and_mistakes() {
        let data = BranchData {
            key: "PROJ-7",
            summary: "Fix it",
            issue_type: Some("Bug"),
        };
        assert_eq!(
            branch_name("{{slug type}}/{{key}}-{{slug summary}}", &data).unwrap(),
            "bug/proj-7-fix-it"
        );
        let untyped = BranchData {
            issue_type: None,
            ..data.clone()
        };
        assert_eq!(
            branch_name("{{slug type}}/{{key}}", &untyped).unwrap(),
            "proj-7"
        );
        assert_eq!(
            branch_name("users/me//{{key}}.lock/x.", &data).unwrap(),
            "users/me/proj-7/x"
        );
        let err = branch_name("{{key}}-{{sumary}}", &data).unwrap_err();
        assert!(matches!(err, WorktreeError::Template { .. }), "{err}");
        assert!(err.to_string().contains("sumary"), "{err}");
        let err = branch_name("{{#if key}}", &data).unwrap_err();
        assert!(matches!(err, WorktreeError::Template { .. }), "{err}");
    }

    #[test]
    fn slugs() {
        assert_eq!(slug("  Hello, World!  "), "hello-world");
        assert_eq!(slug("a/b..c d\te"), "a-b-c-d-e");
        assert_eq!(slug("ÀÉÎÕÜ Ñ Œuvre Ærø"), "aeiou-n-oeuvre-aero");
        assert_eq!(slug("İstanbul"), "istanbul");
        assert_eq!(slug("---"), "");
    }

    /// Asks git itself whether `name` is a valid branch name.
    fn git_accepts(name: &str) -> bool {
        std::process::Command::new("git")
            .args(["check-ref-format", "--branch", name])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    }

    #[test]
    fn hostile_names_become_valid_refs() {
        let hostile = [
            "a/b/../c",
            "..",
            ".hidden/.x",
            "-starts-with-dash",
            "ends.lock",
            "x.lock/y.lock",
            "a..b",
            "a//b",
            "trailing/",
            "trailing.",
            "@",
            "@{-1}",
            "a@{b",
            "HEAD",
            "sp ace\ttab\nnewline",
            "ctrl\u{1}\u{7f}",
            "back\\slash:colon?star*[bracket~tilde^caret",
            "emoji 🚀 and ünïcödé",
            "\u{202e}rtl override",
            "/leading/slash",
            "feature/-dash",
            "ééé/ççç",
            &"x".repeat(300),
            &"ab/".repeat(150),
            &format!("{}.lock", "y".repeat(58)),
            &format!("{}/.z", "y".repeat(59)),
        ];
        for raw in hostile {
            let made = to_branch_name(raw, "PROJ-1");
            assert!(made.len() <= MAX_BRANCH_LEN, "{raw:?} → {made}");
            assert!(
                git_accepts(&made),
                "{raw:?} → {made:?} is not a valid branch"
            );
            assert_eq!(made, made.to_lowercase());
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]
        #[test]
        fn any_summary_makes_a_valid_branch(summary in "\\PC{0,300}", template in "[{}a-z/. -]{0,20}") {
            let made = name(&summary);
            proptest::prop_assert!(made.len() <= MAX_BRANCH_LEN);
            proptest::prop_assert!(git_accepts(&made), "{:?} → {:?}", summary, made);
            let raw = to_branch_name(&format!("{template}{summary}"), "K-1");
            proptest::prop_assert!(git_accepts(&raw), "{:?} → {:?}", summary, raw);
        }
    }

    #[test]
    fn worktree_list_porcelain() {
        let text = "worktree /src/app\nHEAD 1111111111111111111111111111111111111111\nbranch refs/heads/main\n\n\
                    worktree /src/app.worktrees/det\nHEAD 2222222222222222222222222222222222222222\ndetached\n\n\
                    worktree /src/app.worktrees/proj-1-x\nHEAD 3333333333333333333333333333333333333333\nbranch refs/heads/proj-1-x\nlocked on a USB disk\n\n\
                    worktree /src/app.worktrees/gone\nHEAD 4444444444444444444444444444444444444444\nbranch refs/heads/feature/gone\nprunable gitdir file points to non-existent location\n\n";
        let list = parse_worktree_list(text);
        assert_eq!(list.len(), 4);
        assert_eq!(list[0].branch.as_deref(), Some("main"));
        assert_eq!(list[1].branch, None);
        assert_eq!(list[2].locked.as_deref(), Some("on a USB disk"));
        assert!(list[3].prunable);
        assert_eq!(list[3].branch.as_deref(), Some("feature/gone"));
        let unborn = parse_worktree_list(
            "worktree /r\nHEAD 0000000000000000000000000000000000000000\nbranch refs/heads/main\n",
        );
        assert_eq!(unborn[0].head, None);
        let bare = parse_worktree_list("worktree /r.git\nbare\n");
        assert!(bare[0].bare);
    }

    #[test]
    fn status_porcelain() {
        assert_eq!(
            parse_status("RM c.txt\0a.txt\0?? b.txt\0 M src/x y.rs\0 R n.rs\0o.rs\0"),
            ["c.txt", "b.txt", "src/x y.rs", "n.rs"]
        );
        assert!(parse_status("").is_empty());
    }

    struct Known {
        branches: BTreeSet<String>,
        paths: BTreeSet<PathBuf>,
        owners: BTreeMap<PathBuf, String>,
    }

    impl Facts for Known {
        fn branch_exists(&self, b: &str) -> bool {
            self.branches.contains(b)
        }
        fn path_exists(&self, p: &Path) -> bool {
            self.paths.contains(p)
        }
        fn owner(&self, p: &Path) -> Option<String> {
            self.owners.get(p).cloned()
        }
    }

    fn known(branches: &[&str], paths: &[&str]) -> Known {
        Known {
            branches: branches.iter().map(|b| b.to_string()).collect(),
            paths: paths.iter().map(PathBuf::from).collect(),
            owners: BTreeMap::new(),
        }
    }

    fn entry(path: &str, branch: Option<&str>) -> Entry {
        Entry {
            path: path.into(),
            head: Some("c0ffee".into()),
            branch: branch.map(str::to_string),
            ..Entry::default()
        }
    }

    fn repo(extra: Vec<Entry>) -> Repo {
        let mut worktrees = vec![entry("/src/app", Some("main"))];
        worktrees.extend(extra);
        Repo {
            main: "/src/app".into(),
            bare: false,
            main_head: Some("c0ffee".into()),
            prefix: PathBuf::new(),
            worktrees,
        }
    }

    fn want(branch: &str) -> Want<'static> {
        Want {
            key: "PROJ-1",
            branch: branch.into(),
            parent: "/src/app.worktrees".into(),
            previous: None,
        }
    }

    #[test]
    fn a_new_branch_in_the_sibling_folder() {
        let mut r = repo(vec![]);
        r.prefix = "services/api".into();
        let p = plan(&r, &want("proj-1-x"), &known(&[], &[])).unwrap();
        assert_eq!(p.action, Action::Create);
        assert_eq!(p.path, PathBuf::from("/src/app.worktrees/proj-1-x"));
        assert_eq!(
            plan(&repo(vec![]), &want("proj-1-x"), &known(&[], &[]))
                .unwrap()
                .folder
                .as_os_str(),
            "/src/app.worktrees/proj-1-x",
            "no trailing slash"
        );
        assert_eq!(
            p.folder,
            PathBuf::from("/src/app.worktrees/proj-1-x/services/api")
        );
        assert_eq!(p.base.as_deref(), Some("c0ffee"));
        assert_eq!(
            p.shell_lines(),
            ["git -C /src/app worktree add -b proj-1-x /src/app.worktrees/proj-1-x c0ffee"]
        );
    }

    #[test]
    fn an_existing_branch_is_checked_out_not_recreated() {
        let p = plan(&repo(vec![]), &want("proj-1-x"), &known(&["proj-1-x"], &[])).unwrap();
        assert_eq!(p.action, Action::Checkout);
        assert_eq!(p.base, None, "the merge base is asked for when applying");
        assert_eq!(
            p.commands()[0],
            ["worktree", "add", "/src/app.worktrees/proj-1-x", "proj-1-x"].map(OsString::from)
        );
    }

    #[test]
    fn the_worktree_of_the_branch_is_reused() {
        let r = repo(vec![entry("/elsewhere/x", Some("proj-1-x"))]);
        let p = plan(&r, &want("proj-1-x"), &known(&["proj-1-x"], &[])).unwrap();
        assert_eq!(p.action, Action::Reuse);
        assert_eq!(p.path, PathBuf::from("/elsewhere/x"));
        assert!(p.commands().is_empty());
    }

    fn previous(path: &str, branch: &str) -> Recorded {
        Recorded {
            session_id: 1,
            key: "PROJ-1".into(),
            repo: "/src/app".into(),
            path: path.into(),
            branch: branch.into(),
            base: Some("ba5e".into()),
            removed: false,
            at: 0,
        }
    }

    #[test]
    fn the_tickets_own_worktree_wins_over_a_renamed_summary() {
        let prev = previous("/src/app.worktrees/proj-1-old", "proj-1-old");
        let r = repo(vec![entry(
            "/src/app.worktrees/proj-1-old",
            Some("proj-1-old"),
        )]);
        let mut w = want("proj-1-new-summary");
        w.previous = Some(&prev);
        let p = plan(&r, &w, &known(&["proj-1-old"], &[])).unwrap();
        assert_eq!(
            (p.action, p.branch.as_str(), p.base.as_deref()),
            (Action::Reuse, "proj-1-old", Some("ba5e"))
        );

        // Its folder was removed, the branch stays: back in the same place.
        let r = repo(vec![]);
        let p = plan(&r, &w, &known(&["proj-1-old"], &[])).unwrap();
        assert_eq!(p.action, Action::Checkout);
        assert_eq!(p.path, PathBuf::from("/src/app.worktrees/proj-1-old"));
        assert_eq!(p.base.as_deref(), Some("ba5e"));

        // The branch is gone too: a new one, as the template says.
        let p = plan(&r, &w, &known(&[], &[])).unwrap();
        assert_eq!(p.action, Action::Create);
        assert_eq!(p.branch, "proj-1-new-summary");
    }

    #[test]
    fn the_main_checkouts_branch_and_other_tickets_worktrees_are_refused() {
        let err = plan(&repo(vec![]), &want("main"), &known(&["main"], &[])).unwrap_err();
        assert!(
            matches!(err, WorktreeError::BranchInMainCheckout { .. }),
            "{err}"
        );
        let r = repo(vec![entry("/src/app.worktrees/shared", Some("shared"))]);
        let mut facts = known(&["shared"], &[]);
        facts
            .owners
            .insert("/src/app.worktrees/shared".into(), "PROJ-9".into());
        let err = plan(&r, &want("shared"), &facts).unwrap_err();
        assert_eq!(
            err.to_string(),
            "branch shared is already checked out in PROJ-9's worktree /src/app.worktrees/shared"
        );
    }

    #[test]
    fn something_in_the_way_is_refused() {
        let err = plan(
            &repo(vec![]),
            &want("proj-1-x"),
            &known(&[], &["/src/app.worktrees/proj-1-x"]),
        )
        .unwrap_err();
        assert!(matches!(err, WorktreeError::PathTaken { .. }), "{err}");
        let r = repo(vec![entry("/src/app.worktrees/proj-1-x", None)]);
        let err = plan(&r, &want("proj-1-x"), &known(&[], &[])).unwrap_err();
        assert!(err.to_string().contains("detached"), "{err}");
    }

    #[test]
    fn stale_entries_are_pruned_first() {
        let mut gone = entry("/src/app.worktrees/proj-1-x", Some("proj-1-x"));
        gone.prunable = true;
        let r = repo(vec![gone.clone()]);
        let p = plan(&r, &want("proj-1-x"), &known(&["proj-1-x"], &[])).unwrap();
        assert!(p.prune_stale);
        assert_eq!(p.action, Action::Checkout);
        assert_eq!(p.commands()[0], ["worktree", "prune"].map(OsString::from));
        gone.locked = Some(String::new());
        let r = repo(vec![gone]);
        let err = plan(&r, &want("proj-1-x"), &known(&["proj-1-x"], &[])).unwrap_err();
        assert!(matches!(err, WorktreeError::Locked { .. }), "{err}");
    }

    #[test]
    fn no_commits_no_branch() {
        let mut r = repo(vec![]);
        r.main_head = None;
        let err = plan(&r, &want("proj-1-x"), &known(&[], &[])).unwrap_err();
        assert!(matches!(err, WorktreeError::NoCommits { .. }), "{err}");
    }

    #[test]
    fn parents() {
        let r = repo(vec![]);
        assert_eq!(
            resolve_parent(None, &r, None).unwrap(),
            PathBuf::from("/src/app.worktrees")
        );
        assert_eq!(
            resolve_parent(Some(Path::new("~/wt")), &r, Some(Path::new("/home/ana"))).unwrap(),
            PathBuf::from("/home/ana/wt")
        );
        assert_eq!(
            resolve_parent(Some(Path::new("../wt/./x")), &r, None).unwrap(),
            PathBuf::from("/src/wt/x")
        );
        assert!(resolve_parent(Some(Path::new("~/wt")), &r, None).is_err());
        let mut bare = repo(vec![]);
        bare.main = "/srv/app.git".into();
        bare.bare = true;
        assert_eq!(
            resolve_parent(None, &bare, None).unwrap(),
            PathBuf::from("/srv/app.worktrees")
        );
    }

    #[test]
    fn losses_name_what_would_be_lost() {
        let loss = Loss {
            uncommitted: (1..=7).map(|i| format!("f{i}.txt")).collect(),
            unpushed: vec!["abc1234 Add x".into()],
        };
        assert_eq!(
            loss.to_string(),
            "7 uncommitted files (f1.txt, f2.txt, f3.txt, f4.txt, f5.txt and 2 more) \
             and 1 commit on no remote or other branch (abc1234 Add x)"
        );
        assert_eq!(loss.summary(), "7 uncommitted, 1 unpushed");
        assert_eq!(Loss::default().summary(), "clean");
    }

    #[test]
    fn recorded_worktrees_from_events() {
        let store = Store::open_in_memory().unwrap();
        let new = |key: &str| crate::store::NewSession {
            ticket_key: key.into(),
            tracker: "local:/src/app".into(),
            folder: "/src/app".into(),
            settings: json!({}),
            ..Default::default()
        };
        let a = store.insert_session(&new("PROJ-1")).unwrap();
        let b = store.insert_session(&new("PROJ-2")).unwrap();
        let c = store.insert_session(&new("PROJ-1")).unwrap();
        let made = |id, path: &str, branch: &str| {
            let plan = Plan {
                repo: "/src/app".into(),
                path: path.into(),
                folder: path.into(),
                branch: branch.into(),
                action: Action::Create,
                prune_stale: false,
                base: Some("ba5e".into()),
                main_head: None,
            };
            let applied = Applied {
                folder: path.into(),
                start_commit: Some("ba5e".into()),
            };
            record(&store, id, &plan, &applied).unwrap();
        };
        made(a, "/w/proj-1", "proj-1");
        made(b, "/w/proj-2", "proj-2");
        made(c, "/w/proj-1", "proj-1");
        store
            .add_event(
                b,
                &SessionEvent::WorktreeRemoved(crate::event::WorktreeRemoved {
                    path: "/w/proj-2".into(),
                }),
            )
            .unwrap();
        let all = recorded(&store).unwrap();
        assert_eq!(all.len(), 2);
        let one = recorded_for_ticket(&store, "PROJ-1").unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].session_id, c, "the latest session that used it");
        assert_eq!(one[0].base.as_deref(), Some("ba5e"));
        let two = recorded_for_ticket(&store, "PROJ-2").unwrap();
        assert!(two[0].removed);
        assert_eq!(
            owners(&all),
            BTreeMap::from([(PathBuf::from("/w/proj-1"), "PROJ-1".to_string())])
        );
    }
}
