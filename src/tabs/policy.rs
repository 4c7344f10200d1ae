//! Which requests run, which wait for the user, which are refused: pure
//! functions of the session's `tabs` setting, `[tabs] allow`, the command
//! and the folder.

use std::path::{Path, PathBuf};

use crate::codex::settings::TabsMode;

/// The most words a command may have.
pub const MAX_ARGS: usize = 256;
/// The most bytes a command may have, all words together.
pub const MAX_COMMAND_BYTES: usize = 64 * 1024;
/// The longest tab name.
pub const MAX_NAME: usize = 40;

/// What happens to a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// It runs now; the reason is recorded as its approval.
    Run(String),
    /// It waits for the user's approval.
    Ask,
    /// It is refused, for this reason.
    Refuse(String),
}

/// Decides a request whose command and folder are already valid.
pub fn decide(mode: TabsMode, allow: &[String], argv: &[String]) -> Decision {
    match mode {
        TabsMode::Off => Decision::Refuse(
            "tabs are off for this session (the user can turn them on with `csm set KEY tabs=on`)"
                .into(),
        ),
        TabsMode::Auto => Decision::Run("tabs=auto".into()),
        TabsMode::On => match allowed_by(allow, argv) {
            Some(prefix) => Decision::Run(format!("[tabs] allow: {prefix}")),
            None => Decision::Ask,
        },
    }
}

/// The `[tabs] allow` entry that approves `argv`: one whose words are the
/// first words of the command, each exactly. An empty entry approves
/// nothing.
pub fn allowed_by<'a>(allow: &'a [String], argv: &[String]) -> Option<&'a str> {
    allow
        .iter()
        .find(|entry| {
            let words: Vec<&str> = entry.split_whitespace().collect();
            !words.is_empty()
                && words.len() <= argv.len()
                && words.iter().zip(argv).all(|(w, a)| *w == a)
        })
        .map(String::as_str)
}

/// Checks a command: at least one word, the first not empty, no NUL
/// bytes, within size limits.
pub fn check_argv(argv: &[String]) -> Result<(), String> {
    let Some(first) = argv.first() else {
        return Err("command is empty: give the program and its arguments as a list of words, e.g. [\"npm\", \"run\", \"dev\"]".into());
    };
    if first.trim().is_empty() {
        return Err("the command's first word (the program) is empty".into());
    }
    if argv.len() > MAX_ARGS {
        return Err(format!("the command has more than {MAX_ARGS} words"));
    }
    if argv.iter().map(String::len).sum::<usize>() > MAX_COMMAND_BYTES {
        return Err(format!(
            "the command is longer than {MAX_COMMAND_BYTES} bytes"
        ));
    }
    if argv.iter().any(|a| a.contains('\0')) {
        return Err("the command contains a NUL byte".into());
    }
    Ok(())
}

/// The tab's name: the one given, cleaned (no control characters, no
/// tmux format `#`, at most [`MAX_NAME`] characters), else the program's
/// file name.
pub fn tab_name(given: Option<&str>, argv: &[String]) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .filter(|c| !c.is_control() && *c != '#')
            .collect::<String>()
            .trim()
            .chars()
            .take(MAX_NAME)
            .collect()
    };
    if let Some(name) = given.map(clean).filter(|n| !n.is_empty()) {
        return name;
    }
    let program = argv.first().map(String::as_str).unwrap_or("tab");
    let base = Path::new(program)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| program.to_string());
    let name = clean(&base);
    if name.is_empty() { "tab".into() } else { name }
}

/// The folder a tab runs in: the session's folder, or `requested` (absolute,
/// or relative to the session's folder) when it is an existing folder
/// inside it. Symbolic links are resolved first, so a link pointing out of
/// the folder is outside.
pub fn resolve_cwd(folder: &Path, requested: Option<&str>) -> Result<PathBuf, String> {
    let root = std::fs::canonicalize(folder)
        .map_err(|e| format!("the session's folder {} is gone: {e}", folder.display()))?;
    let Some(requested) = requested.filter(|r| !r.trim().is_empty()) else {
        return Ok(root);
    };
    let path = Path::new(requested);
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        root.join(path)
    };
    let outside = || {
        format!(
            "the folder {} is outside the session's folder {}; tabs run only inside it",
            joined.display(),
            root.display()
        )
    };
    // Decide on the words first, so a path outside is refused as such even
    // when it does not exist.
    if !lexically_inside(&root, &joined) {
        return Err(outside());
    }
    let real = std::fs::canonicalize(&joined)
        .map_err(|e| format!("the folder {} cannot be used: {e}", joined.display()))?;
    if !real.starts_with(&root) {
        return Err(outside());
    }
    if !real.is_dir() {
        return Err(format!("{} is not a folder", real.display()));
    }
    Ok(real)
}

/// Whether `path`, with `.` and `..` applied, lies in `root`.
fn lexically_inside(root: &Path, path: &Path) -> bool {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out.starts_with(root)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn modes_and_the_allow_list() {
        let allow = vec!["cargo test".to_string(), "npm run dev".into(), "  ".into()];
        assert_eq!(
            decide(TabsMode::On, &allow, &words("cargo test --lib")),
            Decision::Run("[tabs] allow: cargo test".into())
        );
        assert_eq!(
            decide(TabsMode::On, &allow, &words("cargo test")),
            Decision::Run("[tabs] allow: cargo test".into())
        );
        for asked in [
            "cargo testify",
            "cargo",
            "sh -c cargo test",
            "npm run",
            "./cargo test",
        ] {
            assert_eq!(
                decide(TabsMode::On, &allow, &words(asked)),
                Decision::Ask,
                "{asked}"
            );
        }
        // Words, not a string: a prefix that ends mid-word or spans a
        // quoted argument does not match.
        assert_eq!(
            decide(TabsMode::On, &allow, &["cargo test; rm -rf /".to_string()]),
            Decision::Ask
        );
        assert_eq!(
            decide(TabsMode::Auto, &[], &words("anything")),
            Decision::Run("tabs=auto".into())
        );
        assert!(matches!(
            decide(TabsMode::Off, &allow, &words("cargo test")),
            Decision::Refuse(_)
        ));
    }

    #[test]
    fn commands_and_names() {
        assert!(check_argv(&[]).is_err());
        assert!(check_argv(&["".into()]).is_err());
        assert!(check_argv(&["a\0b".into()]).is_err());
        assert!(check_argv(&vec!["x".to_string(); MAX_ARGS + 1]).is_err());
        assert!(check_argv(&words("npm run dev")).is_ok());
        assert_eq!(tab_name(None, &words("/usr/bin/npm run dev")), "npm");
        assert_eq!(
            tab_name(Some("  dev #{pane} \u{1b}[31m "), &[]),
            "dev {pane} [31m"
        );
        assert_eq!(tab_name(Some("   "), &words("make")), "make");
        assert_eq!(tab_name(Some(&"x".repeat(100)), &[]).len(), MAX_NAME);
        assert_eq!(tab_name(None, &[]), "tab");
    }

    #[test]
    fn folders_inside_and_outside() {
        let tmp = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(tmp.path()).unwrap();
        let folder = root.join("app");
        std::fs::create_dir_all(folder.join("web/src")).unwrap();
        std::fs::create_dir_all(root.join("other")).unwrap();
        std::os::unix::fs::symlink(root.join("other"), folder.join("escape")).unwrap();
        std::fs::write(folder.join("file"), "").unwrap();

        assert_eq!(resolve_cwd(&folder, None).unwrap(), folder);
        assert_eq!(resolve_cwd(&folder, Some("")).unwrap(), folder);
        assert_eq!(
            resolve_cwd(&folder, Some("web")).unwrap(),
            folder.join("web")
        );
        assert_eq!(
            resolve_cwd(&folder, Some(folder.join("web/src").to_str().unwrap())).unwrap(),
            folder.join("web/src")
        );
        assert_eq!(
            resolve_cwd(&folder, Some("web/../web/./src")).unwrap(),
            folder.join("web/src")
        );
        for outside in [
            "..",
            "../other",
            "/",
            "/etc",
            "escape",
            "web/../../other",
            "../nowhere",
        ] {
            let err = resolve_cwd(&folder, Some(outside)).unwrap_err();
            assert!(
                err.contains("outside the session's folder"),
                "{outside}: {err}"
            );
        }
        assert!(
            resolve_cwd(&folder, Some("missing"))
                .unwrap_err()
                .contains("cannot be used")
        );
        assert!(
            resolve_cwd(&folder, Some("file"))
                .unwrap_err()
                .contains("not a folder")
        );
        assert!(resolve_cwd(&root.join("gone"), None).is_err());
    }
}
