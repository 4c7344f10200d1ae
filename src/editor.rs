//! Letting the user edit text in their editor (`$VISUAL`, else `$EDITOR`,
//! else `vi`), as git does: the text goes to a temporary file, the editor
//! runs on it with the terminal, and the file's content comes back.

use std::path::Path;
use std::process::Command;

/// Why editing failed.
#[derive(Debug, thiserror::Error)]
pub enum EditorError {
    /// The temporary file could not be written or read.
    #[error("cannot {action} {path}: {source}")]
    Io {
        /// What csm tried.
        action: &'static str,
        /// The file.
        path: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The editor could not be started.
    #[error("cannot run the editor `{editor}`: {source}")]
    Spawn {
        /// The editor command.
        editor: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The editor exited with an error.
    #[error("the editor `{editor}` failed ({status}); nothing was changed")]
    Failed {
        /// The editor command.
        editor: String,
        /// How it ended.
        status: String,
    },
}

/// The editor command as argv: `$VISUAL`, then `$EDITOR`, then `vi`. The
/// variable is split at whitespace (`code --wait` works); no shell runs.
pub fn command(get: impl Fn(&str) -> Option<String>) -> Vec<String> {
    ["VISUAL", "EDITOR"]
        .into_iter()
        .filter_map(get)
        .map(|v| v.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .find(|argv| !argv.is_empty())
        .unwrap_or_else(|| vec!["vi".into()])
}

/// Opens `text` in the editor in a file named like `name` (its extension
/// tells the editor the syntax) inside `dir`, and returns what was saved.
pub fn edit(text: &str, dir: &Path, name: &str) -> Result<String, EditorError> {
    let io = |action: &'static str, path: &Path| {
        let path = path.display().to_string();
        move |source| EditorError::Io {
            action,
            path,
            source,
        }
    };
    std::fs::create_dir_all(dir).map_err(io("create", dir))?;
    let file = tempfile::Builder::new()
        .prefix(&format!("{name}-"))
        .suffix(".md")
        .tempfile_in(dir)
        .map_err(io("create a file in", dir))?;
    std::fs::write(file.path(), text).map_err(io("write", file.path()))?;
    let argv = command(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()));
    let editor = argv.join(" ");
    let status = Command::new(&argv[0])
        .args(&argv[1..])
        .arg(file.path())
        .status()
        .map_err(|source| EditorError::Spawn {
            editor: editor.clone(),
            source,
        })?;
    if !status.success() {
        return Err(EditorError::Failed {
            editor,
            status: status.to_string(),
        });
    }
    std::fs::read_to_string(file.path()).map_err(io("read", file.path()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visual_then_editor_then_vi() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            command(env(&[("EDITOR", "nano"), ("VISUAL", "code --wait")])),
            ["code", "--wait"]
        );
        assert_eq!(
            command(env(&[("EDITOR", "nano"), ("VISUAL", "  ")])),
            ["nano"]
        );
        assert_eq!(command(env(&[])), ["vi"]);
    }
}
