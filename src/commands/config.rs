//! `csm config show`: the resolved configuration and where each value came
//! from (default, the user file, the repository's `.csm.toml`, or an
//! environment variable).

use crate::command_error::CommandError;
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
        /// Print JSON: `{"values": {"key": {"value": .., "source": {..}}}, "files": {..}}`.
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
            .map(|(k, (v, s))| (k.clone(), serde_json::json!({"value": v, "source": s})))
            .collect();
        let doc = serde_json::json!({
            "values": values,
            "files": {
                "user": resolved.user_file,
                "repo": resolved.repo_file,
            },
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
    match &resolved.repo_file {
        Some(p) => println!("# repo file: {}", p.display()),
        None => println!("# repo file: none (no .csm.toml at or above this folder)"),
    }
    for key in crate::config::Config::all_keys() {
        let (line, note) = match resolved.sources.get(&key) {
            Some((value, source)) => (format!("{key} = {value}"), format!("# {source}")),
            None => (format!("# {key}"), "# unset".to_string()),
        };
        let note = ctx.output.paint(&note, "2");
        println!("{line:<width$}  {note}");
    }
    Ok(())
}
