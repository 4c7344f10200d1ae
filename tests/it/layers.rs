//! The module graph, read from the source: every `crate::` and `super::`
//! path of every file under `src/` is checked against the layers
//! ARCHITECTURE.md lists (the table is parsed here, so the document stays
//! true), the graph between files must have no cycle, the dashboard must
//! not reach into the commands, and event kinds are spelled only where
//! they are defined.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A source file of the library, as a module.
struct Module {
    /// `commands::start`, `tabs`, `` (the crate root).
    path: String,
    /// The file, relative to the crate.
    file: PathBuf,
    /// Its text without comments and without its `#[cfg(test)] mod tests`.
    code: String,
}

/// The text without comment lines and without the test module at the end.
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => text,
    };
    text.lines()
        .map(|l| match l.trim_start().starts_with("//") {
            true => "",
            false => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            walk(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// Every file of the library (not `main.rs`, the binary).
fn modules() -> Vec<Module> {
    let src = root().join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    files
        .into_iter()
        .filter(|f| f.file_name().is_some_and(|n| n != "main.rs"))
        .map(|f| {
            let rel = f.strip_prefix(&src).unwrap();
            let mut parts: Vec<String> = rel
                .with_extension("")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            if parts.last().is_some_and(|l| l == "mod" || l == "lib") {
                parts.pop();
            }
            Module {
                path: parts.join("::"),
                file: Path::new("src").join(rel),
                code: code_of(&std::fs::read_to_string(&f).unwrap()),
            }
        })
        .collect()
}

fn ident_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn skip_ws(s: &[u8], i: &mut usize) {
    while *i < s.len() && s[*i].is_ascii_whitespace() {
        *i += 1;
    }
}

/// Reads a use tree (`a::b`, `a::{b, c::d as e}`, `a::*`) at `i`: every
/// path it names.
fn use_tree(s: &[u8], i: &mut usize) -> Vec<Vec<String>> {
    let mut prefix: Vec<String> = Vec::new();
    loop {
        skip_ws(s, i);
        if *i < s.len() && s[*i] == b'{' {
            *i += 1;
            let mut out = Vec::new();
            loop {
                skip_ws(s, i);
                if *i >= s.len() {
                    return out;
                }
                if s[*i] == b'}' {
                    *i += 1;
                    return out;
                }
                for sub in use_tree(s, i) {
                    let mut p = prefix.clone();
                    p.extend(sub);
                    out.push(p);
                }
                // `as name`, then the separator.
                let mut depth = 0;
                while *i < s.len() {
                    match s[*i] {
                        b'{' => depth += 1,
                        b'}' if depth == 0 => break,
                        b'}' => depth -= 1,
                        b',' if depth == 0 => {
                            *i += 1;
                            break;
                        }
                        _ => {}
                    }
                    *i += 1;
                }
            }
        }
        let start = *i;
        while *i < s.len() && ident_char(s[*i]) {
            *i += 1;
        }
        if start == *i {
            return vec![prefix];
        }
        prefix.push(String::from_utf8_lossy(&s[start..*i]).into_owned());
        if s[*i..].starts_with(b"::") {
            *i += 2;
        } else {
            return vec![prefix];
        }
    }
}

/// Every module path `code` (the text of `module`) names through
/// `crate::` or `super::`, made absolute (without `self` segments).
fn named(module: &str, code: &str) -> Vec<Vec<String>> {
    let s = code.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < s.len() {
        let starts = i == 0 || !(ident_char(s[i - 1]) || s[i - 1] == b':');
        let base: Option<Vec<String>> = if !starts {
            None
        } else if s[i..].starts_with(b"crate::") {
            i += "crate::".len();
            Some(Vec::new())
        } else if s[i..].starts_with(b"super::") {
            let mut here: Vec<String> = module
                .split("::")
                .filter(|p| !p.is_empty())
                .map(str::to_string)
                .collect();
            while s[i..].starts_with(b"super::") {
                here.pop();
                i += "super::".len();
            }
            Some(here)
        } else {
            None
        };
        let Some(base) = base else {
            i += 1;
            continue;
        };
        for p in use_tree(s, &mut i) {
            let mut full = base.clone();
            full.extend(p.into_iter().filter(|seg| seg != "self"));
            out.push(full);
        }
    }
    out
}

/// What `code` names through the modules it brought into scope by name
/// (`use crate::workflow::{self}` then `workflow::done::run`): `alias`
/// is the module's last segment, `module` its path.
fn named_through(code: &str, alias: &str, module: &[String]) -> Vec<Vec<String>> {
    let s = code.as_bytes();
    let needle = format!("{alias}::");
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(at) = code[from..].find(&needle) {
        let i0 = from + at;
        from = i0 + needle.len();
        if i0 > 0 && (ident_char(s[i0 - 1]) || s[i0 - 1] == b':') {
            continue;
        }
        let mut i = from;
        for p in use_tree(s, &mut i) {
            let mut full = module.to_vec();
            full.extend(p.into_iter().filter(|seg| seg != "self"));
            out.push(full);
        }
    }
    out
}

/// The module a path lands in: its longest prefix that is a module.
fn resolve(path: &[String], known: &BTreeSet<String>) -> Option<String> {
    (1..=path.len())
        .rev()
        .map(|n| path[..n].join("::"))
        .find(|m| known.contains(m))
}

/// Whether `a` is `b` or inside it.
fn within(a: &str, b: &str) -> bool {
    a == b || a.starts_with(&format!("{b}::"))
}

/// The file graph: module -> the modules it names. A module naming its
/// own ancestor (its namespace: `super::Thing` from a submodule) is not
/// an edge.
fn graph(modules: &[Module]) -> BTreeMap<String, BTreeSet<String>> {
    let known: BTreeSet<String> = modules.iter().map(|m| m.path.clone()).collect();
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for m in modules {
        let edges = g.entry(m.path.clone()).or_default();
        let direct = named(&m.path, &m.code);
        let mut all = direct.clone();
        for p in &direct {
            // A module brought in by name is then used by that name.
            if !p.is_empty() && known.contains(&p.join("::")) {
                all.extend(named_through(&m.code, &p[p.len() - 1], p));
            }
        }
        for p in all {
            let Some(target) = resolve(&p, &known) else {
                continue;
            };
            if target.is_empty() || within(&m.path, &target) {
                continue;
            }
            edges.insert(target);
        }
    }
    g
}

/// The layers of ARCHITECTURE.md's "Layers" table, lowest first: each
/// layer's name and its top-level modules.
fn layers() -> Vec<(String, Vec<String>)> {
    let doc = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap();
    let section = doc
        .split("\n## Layers\n")
        .nth(1)
        .expect("ARCHITECTURE.md has a `## Layers` section");
    let section = section.split("\n## ").next().unwrap();
    let mut out = Vec::new();
    for line in section.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | layer | modules | what belongs there |
        if cells.len() < 4 || cells[1] == "layer" || cells[1].starts_with("---") {
            continue;
        }
        let mods: Vec<String> = cells[2]
            .split(',')
            .map(|m| m.trim().trim_matches('`').to_string())
            .filter(|m| !m.is_empty())
            .collect();
        out.push((cells[1].to_string(), mods));
    }
    assert!(out.len() >= 4, "the Layers table has too few rows: {out:?}");
    out
}

#[test]
fn imports_follow_the_layers_of_architecture_md() {
    let modules = modules();
    let layers = layers();
    let layer_of = |m: &str| -> Option<usize> {
        let top = m.split("::").next().unwrap_or_default();
        layers
            .iter()
            .position(|(_, mods)| mods.iter().any(|x| x == top))
    };
    let mut problems = Vec::new();
    let tops: BTreeSet<&str> = modules
        .iter()
        .filter(|m| !m.path.is_empty())
        .map(|m| m.path.split("::").next().unwrap())
        .collect();
    for top in &tops {
        if layer_of(top).is_none() {
            problems.push(format!(
                "`{top}` is in no layer: add it to ARCHITECTURE.md's Layers table"
            ));
        }
    }
    for (name, mods) in &layers {
        for m in mods {
            if !tops.contains(m.as_str()) {
                problems.push(format!(
                    "ARCHITECTURE.md lists `{m}` ({name}), which is no module"
                ));
            }
        }
    }
    for (from, targets) in graph(&modules) {
        let Some(lf) = layer_of(&from) else { continue };
        for to in targets {
            let Some(lt) = layer_of(&to) else { continue };
            if lt > lf {
                problems.push(format!(
                    "{from} ({}) imports {to} ({}), a higher layer",
                    layers[lf].0, layers[lt].0
                ));
            }
            if within(&from, "ui") && within(&to, "commands") {
                problems.push(format!(
                    "{from} imports {to}: the dashboard calls the workflows, not the commands"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_module_graph_has_no_cycle() {
    let g = graph(&modules());
    // Depth-first, with the path so far: a back edge is a cycle.
    fn visit(
        m: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        done: &mut BTreeSet<String>,
        path: &mut Vec<String>,
        cycles: &mut Vec<String>,
    ) {
        if let Some(at) = path.iter().position(|p| p == m) {
            let mut cycle = path[at..].to_vec();
            cycle.push(m.to_string());
            cycles.push(cycle.join(" -> "));
            return;
        }
        if !done.insert(m.to_string()) {
            return;
        }
        path.push(m.to_string());
        for next in g.get(m).into_iter().flatten() {
            visit(next, g, done, path, cycles);
        }
        path.pop();
    }
    let mut done = BTreeSet::new();
    let mut cycles = Vec::new();
    for m in g.keys() {
        visit(m, &g, &mut done, &mut Vec::new(), &mut cycles);
    }
    assert!(cycles.is_empty(), "cycles:\n{}", cycles.join("\n"));
}

#[test]
fn the_checks_see_what_they_must() {
    // The reader finds grouped, nested, renamed and relative paths ...
    let code = "use crate::a::{self, b::{c, d as e}, f};\nlet x = super::g::h(crate::i::J);";
    let found: Vec<String> = named("m::n", code).iter().map(|p| p.join("::")).collect();
    assert_eq!(
        found,
        ["a", "a::b::c", "a::b::d", "a::f", "m::g::h", "i::J"]
    );
    // ... and the graph of today's code has the edges the layers rest on.
    let g = graph(&modules());
    assert!(g["commands::start"].contains("workflow::start"));
    assert!(g["ui::app"].contains("workflow::done"));
    assert!(g["workflow::done"].contains("outbox"));
}

#[test]
fn the_dashboard_runs_no_csm_child() {
    for m in modules().iter().filter(|m| within(&m.path, "ui")) {
        for needle in ["current_exe", "CARGO_BIN_EXE"] {
            assert!(
                !m.code.contains(needle),
                "{} mentions {needle}: the dashboard runs workflows in process",
                m.file.display()
            );
        }
    }
}

/// The kinds' string forms, read from `EventKind::as_str` in src/event.rs.
fn event_kinds() -> Vec<String> {
    let text = std::fs::read_to_string(root().join("src/event.rs")).unwrap();
    let body = text
        .split("pub fn as_str(self)")
        .nth(1)
        .and_then(|t| t.split("\n    }\n").next())
        .expect("EventKind::as_str");
    body.lines()
        .filter(|l| l.contains("=> \""))
        .filter_map(|l| l.split('"').nth(1))
        .map(str::to_string)
        .collect()
}

#[test]
fn event_kinds_are_spelled_only_in_their_definition() {
    let kinds = event_kinds();
    assert!(kinds.len() >= 18, "{kinds:?}");
    let src = root().join("src");
    let mut files = Vec::new();
    walk(&src, &mut files);
    let mut found = Vec::new();
    for f in files {
        if f.ends_with("src/event.rs") {
            continue;
        }
        // Test modules included: fixtures write events too.
        let text = std::fs::read_to_string(&f).unwrap();
        for (n, line) in text.lines().enumerate() {
            for kind in &kinds {
                if !line.contains(&format!("\"{kind}\"")) {
                    continue;
                }
                // A word such as "done" or "worktree" is also a status or a
                // git command: it is an event kind only beside an event.
                // Outbox item kinds (`outbox::kind`) are another column's
                // words; "pull-request" is one of both.
                if f.ends_with("src/outbox.rs") && line.trim_start().starts_with("pub const") {
                    continue;
                }
                let lower = line.to_lowercase();
                let about_events = kind.contains('-')
                    || matches!(kind.as_str(), "launched" | "captured")
                    || lower.contains("event")
                    || lower.contains("kind");
                if about_events {
                    found.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "event kinds spelled outside src/event.rs (use EventKind):\n{}",
        found.join("\n")
    );
}
