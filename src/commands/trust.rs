//! `csm trust [--show | --revoke]`: lets the repository's `.csm.toml` set
//! the risky keys (those that run programs, pick binaries, add Codex flags,
//! widen tab approval, shrink the secrets list or choose where credentials
//! go), for exactly its present content.

use crate::command_error::CommandError;
use crate::config::{RISKY_KEYS, risky_key};
use crate::context::Context;
use crate::output::sanitize;
use crate::trust::{self, State};

/// Arguments of `csm trust`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only show the file's risky keys and whether it is trusted.
    #[arg(long, conflicts_with = "revoke")]
    show: bool,
    /// Stop trusting the file: its risky keys are ignored again.
    #[arg(long)]
    revoke: bool,
}

/// Runs `csm trust`.
pub fn run(ctx: &Context, args: Args) -> Result<(), CommandError> {
    let file = crate::paths::find_repo_config(&ctx.cwd).ok_or_else(|| {
        CommandError::usage("no .csm.toml at or above this folder")
            .hint("run csm trust inside the repository whose .csm.toml you want to trust")
    })?;
    let shown = sanitize(&file.display().to_string());
    let record = ctx.dirs.trust_file();
    let io = |e: std::io::Error| {
        CommandError::failure(format!("cannot write {}: {e}", record.display()))
    };
    if args.revoke {
        if trust::revoke(&record, &file).map_err(io)? {
            println!("{shown}: no longer trusted; its risky keys are ignored");
        } else {
            println!("{shown}: was not trusted");
        }
        return Ok(());
    }
    // One read: what is shown is what is hashed.
    let text = std::fs::read_to_string(&file)
        .map_err(|e| CommandError::failure(format!("cannot read {shown}: {e}")))?;
    let table = crate::config::parse_layer(&file, &text)?;
    let state = trust::state(&record, &file, text.as_bytes());
    let risky = risky_values(&table);
    if args.show {
        println!("{shown}: {}", state.as_str());
    }
    if risky.is_empty() {
        println!("It sets no risky keys (those are: {}).", risky_names());
    } else {
        println!("Risky keys it sets:");
        for (key, value, why) in &risky {
            println!("  {key} = {}  ({why})", sanitize(value));
        }
    }
    if args.show {
        if state != State::Trusted && !risky.is_empty() {
            println!("They are ignored until you run `csm trust`.");
        }
        return Ok(());
    }
    let hash = trust::trust(&record, &file, text.as_bytes()).map_err(io)?;
    println!(
        "{shown}: trusted ({}…); any change to it drops the trust",
        &hash[..19.min(hash.len())]
    );
    Ok(())
}

/// The risky keys a file sets: (key, value, why).
fn risky_values(table: &toml::Table) -> Vec<(String, String, &'static str)> {
    let mut out = Vec::new();
    for (section, values) in table {
        let Some(values) = values.as_table() else {
            continue;
        };
        for (name, value) in values {
            let key = format!("{section}.{name}");
            if let Some(r) = risky_key(&key) {
                out.push((key, value.to_string(), r.why));
            }
        }
    }
    out
}

fn risky_names() -> String {
    RISKY_KEYS
        .iter()
        .map(|r| r.key)
        .collect::<Vec<_>>()
        .join(", ")
}
