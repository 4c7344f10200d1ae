//! Where csm keeps its files.
//!
//! Config, data (the store) and state (logs) follow the platform's
//! conventions through the `directories` crate: on Linux the XDG base
//! directories (`$XDG_CONFIG_HOME/csm`, `$XDG_DATA_HOME/csm`,
//! `$XDG_STATE_HOME/csm`). `CSM_CONFIG_DIR`, `CSM_DATA_DIR` and
//! `CSM_STATE_DIR` override each one, for scripts and tests.

use std::env;
use std::path::{Path, PathBuf};

/// The name of the per-repository config file, found by walking up from the
/// current folder.
pub const REPO_CONFIG_FILE: &str = ".csm.toml";

/// The folder csm uses inside a repository (local tickets live here).
pub const REPO_DIR: &str = ".csm";

/// The resolved set of csm's own folders.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dirs {
    /// Holds `config.toml` and user templates.
    pub config: PathBuf,
    /// Holds the store (`csm.db`).
    pub data: PathBuf,
    /// Holds logs and per-session scratch files.
    pub state: PathBuf,
}

/// Why csm's folders cannot be found.
#[derive(Debug, thiserror::Error)]
#[error("cannot find a home folder for csm's files; set HOME or CSM_DATA_DIR")]
pub struct NoHome;

impl Dirs {
    /// Resolves the folders from the environment.
    pub fn from_env() -> Result<Self, NoHome> {
        let project = directories::ProjectDirs::from("", "", "csm");
        let pick = |var: &str, fallback: Option<PathBuf>| -> Result<PathBuf, NoHome> {
            match env::var_os(var) {
                Some(v) if !v.is_empty() => Ok(PathBuf::from(v)),
                _ => fallback.ok_or(NoHome),
            }
        };
        let config = pick(
            "CSM_CONFIG_DIR",
            project.as_ref().map(|p| p.config_dir().to_path_buf()),
        )?;
        let data = pick(
            "CSM_DATA_DIR",
            project.as_ref().map(|p| p.data_dir().to_path_buf()),
        )?;
        let state = pick(
            "CSM_STATE_DIR",
            project.as_ref().map(|p| {
                p.state_dir()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| p.data_local_dir().join("state"))
            }),
        )?;
        Ok(Dirs {
            config,
            data,
            state,
        })
    }

    /// The user's config file.
    pub fn user_config_file(&self) -> PathBuf {
        self.config.join("config.toml")
    }

    /// The store's database file.
    pub fn store_file(&self) -> PathBuf {
        self.data.join("csm.db")
    }

    /// The folder for log files.
    pub fn log_dir(&self) -> PathBuf {
        self.state.join("logs")
    }

    /// The user's record of trusted repository config files (`csm trust`).
    pub fn trust_file(&self) -> PathBuf {
        self.data.join("trusted-repos")
    }
}

/// Creates `dir` (and its parents) and makes it readable by the user only
/// (0700), whatever the umask: csm's folders hold sessions, logs and
/// drafts that quote tickets.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    // The folders this call makes (and `dir` itself) become 0700; folders
    // that were there already, above `dir`, are left alone.
    let missing: Vec<&Path> = dir.ancestors().take_while(|d| !d.exists()).collect();
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    for d in missing.into_iter().chain([dir]) {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d)?.permissions().mode() & 0o777;
        if mode != 0o700 {
            std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700))?;
        }
    }
    #[cfg(not(unix))]
    let _ = missing;
    Ok(())
}

/// Writes `contents` to `path` (created or truncated) readable by the user
/// only (0600), whatever the umask: drafts and answers quote tickets.
pub fn write_private(path: impl AsRef<Path>, contents: impl AsRef<[u8]>) -> std::io::Result<()> {
    use std::io::Write;
    let path = path.as_ref();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    make_private_file(path)?;
    file.write_all(contents.as_ref())
}

/// Creates `path` empty if it does not exist, and makes it readable by the
/// user only (0600) either way.
pub fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?;
    make_private_file(path)
}

/// Makes an existing file csm wrote readable by the user only (0600).
pub fn make_private_file(file: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(file)?.permissions().mode() & 0o777;
        if mode != 0o600 {
            std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    #[cfg(not(unix))]
    let _ = file;
    Ok(())
}

/// Finds the nearest `.csm.toml` at or above `start`.
pub fn find_repo_config(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join(REPO_CONFIG_FILE))
        .find(|candidate| candidate.is_file())
}

/// The root of the repository that holds `start`: the folder of the nearest
/// `.csm.toml`, else the nearest folder with a `.git` entry, else `start`.
pub fn repo_root(start: &Path) -> PathBuf {
    if let Some(cfg) = find_repo_config(start)
        && let Some(dir) = cfg.parent()
    {
        return dir.to_path_buf();
    }
    git_top(start).unwrap_or(start).to_path_buf()
}

/// The nearest folder at or above `start` with a `.git` entry (a folder,
/// or a file in a linked worktree or submodule).
fn git_top(start: &Path) -> Option<&Path> {
    start.ancestors().find(|dir| dir.join(".git").exists())
}

/// Where the local tracker of the repository holding `start` lives: its
/// [`repo_root`], but in the main working tree when `start` is inside a
/// linked git worktree (`csm start --worktree`). A worktree's own copy of
/// `.csm/tickets` is whatever its branch had when it was made; every
/// worktree must read and write the one set of tickets.
pub fn tickets_root(start: &Path) -> PathBuf {
    let root = repo_root(start);
    let Some(top) = git_top(&root) else {
        return root;
    };
    match main_worktree(top) {
        Some(main) => main.join(root.strip_prefix(top).unwrap_or(Path::new(""))),
        None => root,
    }
}

/// The main working tree of the linked worktree at `top`, or `None` when
/// `top` is not one. A linked worktree's `.git` is a file
/// (`gitdir: <main>/.git/worktrees/<name>`) whose folder has a `commondir`
/// file pointing at the main `.git`; a submodule's `.git` file has none.
fn main_worktree(top: &Path) -> Option<PathBuf> {
    let dot_git = std::fs::read_to_string(top.join(".git")).ok()?;
    let gitdir = top.join(dot_git.strip_prefix("gitdir:")?.trim());
    let common = std::fs::read_to_string(gitdir.join("commondir")).ok()?;
    let common = std::fs::canonicalize(gitdir.join(common.trim())).ok()?;
    if common.file_name()? != ".git" {
        return None;
    }
    common.parent().map(Path::to_path_buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A linked worktree's tickets are the main working tree's; a plain
    /// repository, a submodule-like `.git` file, and a subfolder with its
    /// own `.csm.toml` keep their own roots.
    #[test]
    fn tickets_root_leaves_a_linked_worktree_for_the_main_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let main = std::fs::canonicalize(tmp.path()).unwrap().join("main");
        let linked = tmp.path().join("wt/PROJ-1");
        let admin = main.join(".git/worktrees/PROJ-1");
        std::fs::create_dir_all(&admin).unwrap();
        std::fs::create_dir_all(linked.join("sub/deeper")).unwrap();
        std::fs::write(admin.join("commondir"), "../..\n").unwrap();
        std::fs::write(
            linked.join(".git"),
            format!("gitdir: {}\n", admin.display()),
        )
        .unwrap();
        assert_eq!(tickets_root(&main), main);
        assert_eq!(tickets_root(&linked.join("sub/deeper")), main);
        std::fs::write(linked.join("sub").join(REPO_CONFIG_FILE), "").unwrap();
        assert_eq!(tickets_root(&linked.join("sub/deeper")), main.join("sub"));

        // A submodule: its `.git` file names a folder without `commondir`.
        let module = main.join(".git/modules/lib");
        std::fs::create_dir_all(&module).unwrap();
        let sub = main.join("lib");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join(".git"), format!("gitdir: {}\n", module.display())).unwrap();
        assert_eq!(tickets_root(&sub), sub);
    }

    #[cfg(unix)]
    #[test]
    fn private_folders_and_files_are_the_users_only() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = tmp.path().join("a/b");
        create_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&tmp.path().join("a")), 0o700, "made by the call");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        create_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700, "an existing folder is tightened");
        let file = dir.join("draft.md");
        std::fs::write(&file, "old").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&file, "new").unwrap();
        assert_eq!(mode(&file), 0o600);
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "new");
        let store = dir.join("csm.db");
        create_private_file(&store).unwrap();
        assert_eq!(mode(&store), 0o600);
    }

    #[test]
    fn repo_root_prefers_csm_toml_then_git() {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("repo");
        let sub = repo.join("a/b");
        std::fs::create_dir_all(&sub).unwrap();
        assert_eq!(repo_root(&sub), sub);
        std::fs::create_dir(repo.join(".git")).unwrap();
        assert_eq!(repo_root(&sub), repo);
        std::fs::write(repo.join("a").join(REPO_CONFIG_FILE), "").unwrap();
        assert_eq!(repo_root(&sub), repo.join("a"));
        assert_eq!(
            find_repo_config(&sub),
            Some(repo.join("a").join(REPO_CONFIG_FILE))
        );
    }
}
