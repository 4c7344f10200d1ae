//! `csm config show`: the resolved configuration and where each value came
//! from (default, the user file, the repository's `.csm.toml`, or an
//! environment variable).

use crate::command_error::CommandError;
use crate::config::{RepoTrust, Source};
use crate::context::Context;

/// Arguments of `csm config`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(Debug, clap::Subcommand)]
enum Action {
    /// Show every value and its source.
    Show {
        /// Print JSON: `{"values": {"key": {"value": .., "source": {..}, "trust": ..}},
        /// "files": {..}, "ignored": [..]}`.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `csm config`.
pub fn run(ctx: &Context, args: Args) -> Result<(), CommandError> {
    let Action::Show { json } = args.action;
    let resolved = ctx.config()?;
    if json {
        let values: serde_json::Map<String, serde_json::Value> = resolved
            .sources
            .iter()
            .map(|(k, (v, s))| {
                (
                    k.clone(),
                    serde_json::json!({"value": v, "source": s, "trust": trust_of(k, s, resolved.repo_trust)}),
                )
            })
            .collect();
        let doc = serde_json::json!({
            "values": values,
            "files": {
                "user": resolved.user_file,
                "repo": resolved.repo_file,
                "repo_trust": resolved.repo_trust,
            },
            "ignored": resolved.ignored,
        });
        println!("{}", crate::output::json(&doc).unwrap_or_default());
        return Ok(());
    }
    let width = resolved
        .sources
        .iter()
        .map(|(k, (v, _))| k.len() + v.to_string().len() + 3)
        .max()
        .unwrap_or(0);
    println!(
        "# user file: {}{}",
        resolved.user_file.display(),
        if resolved.user_file.exists() {
            ""
        } else {
            " (absent)"
        }
    );
    match (&resolved.repo_file, resolved.repo_trust) {
        (Some(p), RepoTrust::Trusted) => println!("# repo file: {} (trusted)", p.display()),
        (Some(p), _) => println!(
            "# repo file: {} (not trusted: its risky keys are ignored; see `csm trust --show`)",
            p.display()
        ),
        (None, _) => println!("# repo file: none (no .csm.toml at or above this folder)"),
    }
    println!("# trust: yours = default, your file or env; repo = a key any repository may set;");
    println!("#        trusted = a risky key from the repository file you trusted;");
    println!("#        added = names an untrusted repository file added to your list");
    for key in crate::config::Config::all_keys() {
        let (line, trust, mut note) = match resolved.sources.get(&key) {
            Some((value, source)) => (
                format!("{key} = {value}"),
                trust_of(&key, source, resolved.repo_trust),
                format!("# {source}"),
            ),
            None => (format!("# {key}"), "", "# unset".to_string()),
        };
        if resolved.ignored.contains(&key) {
            note.push_str("; the repo file's value is ignored (untrusted)");
        }
        let note = ctx.output.paint(&note, "2");
        println!("{line:<width$}  {trust:<7}  {note}");
    }
    Ok(())
}

/// The trust column: whose authority a value carries.
fn trust_of(key: &str, source: &Source, repo: RepoTrust) -> &'static str {
    match source {
        Source::Repo(_) if crate::config::risky_key(key).is_some() => match repo {
            RepoTrust::Trusted => "trusted",
            // Only an add-only list gets here: the repository's names added.
            _ => "added",
        },
        Source::Repo(_) => "repo",
        Source::Default | Source::User(_) | Source::Env(_) => "yours",
    }
}
