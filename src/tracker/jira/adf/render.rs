//! ADF → Markdown.
//!
//! Reads any JSON defensively: a missing or mistyped field is treated as
//! absent, unknown nodes fall back to their text, and nesting beyond
//! [`MAX_DEPTH`] is flattened to text so hostile input cannot exhaust the
//! stack. The Markdown written is meant to parse back (pulldown-cmark) to the
//! same document, which is why escaping is conservative.

use super::node::{attr, children, node_type};
use serde_json::Value;

const MAX_DEPTH: usize = 64;

/// Renders a whole document (or anything else) as Markdown.
pub(super) fn document(doc: &Value) -> String {
    let nodes: Vec<&Value> = match doc {
        Value::Array(items) => items.iter().collect(),
        Value::Object(_) if node_type(doc) == "doc" => children(doc).iter().collect(),
        Value::Object(_) => vec![doc],
        Value::String(s) => {
            return inline_markdown(&[Atom::text(s.clone(), Marks::default())], Ctx::Para);
        }
        _ => Vec::new(),
    };
    blocks(&nodes, false, 0)
}

fn is_inline(node: &Value) -> bool {
    matches!(
        node_type(node),
        "text"
            | "hardBreak"
            | "mention"
            | "emoji"
            | "date"
            | "status"
            | "inlineCard"
            | "mediaInline"
            | "placeholder"
            | "inlineExtension"
    )
}

/// All text below a node, without structure; the last resort for nodes
/// nested too deep or with no better rendering. Iterative on purpose.
fn plain_text(node: &Value) -> String {
    let mut out = String::new();
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        if let Some(t) = n.get("text").and_then(Value::as_str) {
            out.push_str(t);
        } else if let Some(t) = attr(n, "text") {
            out.push_str(t);
        }
        if node_type(n) == "hardBreak" {
            out.push('\n');
        }
        for child in children(n).iter().rev() {
            stack.push(child);
        }
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum ListFamily {
    Bullet,
    Ordered,
}

fn list_family(node: &Value) -> Option<ListFamily> {
    match node_type(node) {
        "bulletList" | "taskList" | "decisionList" => Some(ListFamily::Bullet),
        "orderedList" => Some(ListFamily::Ordered),
        _ => None,
    }
}

/// Renders a sequence of block nodes separated by blank lines. Runs of
/// inline nodes found among blocks become one paragraph.
fn blocks(nodes: &[&Value], in_item: bool, depth: usize) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut inline_run: Vec<&Value> = Vec::new();
    // Two adjacent lists of one kind would merge into one when parsed back;
    // switching the marker keeps them apart.
    let mut previous: Option<(ListFamily, bool)> = None;
    let mut last_was_text = false;
    for &node in nodes {
        if is_inline(node) {
            inline_run.push(node);
            continue;
        }
        if !inline_run.is_empty() {
            let part = inline_block(&inline_run, Ctx::Para, depth);
            last_was_text = !part.is_empty();
            push_part(&mut parts, part);
            inline_run.clear();
            previous = None;
        }
        let family = list_family(node);
        let alternate = match (family, previous) {
            (Some(f), Some((p, alt))) if f == p => !alt,
            _ => false,
        };
        let rendered = block(node, in_item, alternate, depth);
        if !rendered.is_empty() {
            // Inside an item a nested list follows its text directly, which
            // keeps the list tight. Only lists that may interrupt a
            // paragraph qualify: not empty first items, not numbers but 1.
            if in_item
                && last_was_text
                && tight_after_text(node)
                && let Some(last) = parts.last_mut()
            {
                last.push('\n');
                last.push_str(&rendered);
                previous = family.map(|f| (f, alternate));
                last_was_text = false;
                continue;
            }
            last_was_text = node_type(node) == "paragraph";
            parts.push(rendered);
            previous = family.map(|f| (f, alternate));
        }
    }
    if !inline_run.is_empty() {
        push_part(&mut parts, inline_block(&inline_run, Ctx::Para, depth));
    }
    parts.join("\n\n")
}

/// Whether a list may directly follow a paragraph line without merging
/// into it (an empty first item would read as a setext underline, and an
/// ordered list must start at 1 to interrupt a paragraph).
fn tight_after_text(node: &Value) -> bool {
    let first_empty = children(node).first().is_none_or(|item| {
        children(item).is_empty()
            || children(item)
                .first()
                .is_some_and(|p| node_type(p) == "paragraph" && children(p).is_empty())
    });
    if first_empty {
        return false;
    }
    match node_type(node) {
        "bulletList" | "taskList" => true,
        "orderedList" => node
            .get("attrs")
            .and_then(|a| a.get("order"))
            .and_then(Value::as_f64)
            .is_none_or(|o| o == 1.0),
        _ => false,
    }
}

fn push_part(parts: &mut Vec<String>, part: String) {
    if !part.is_empty() {
        parts.push(part);
    }
}

fn child_refs(node: &Value) -> Vec<&Value> {
    children(node).iter().collect()
}

fn block(node: &Value, in_item: bool, alternate: bool, depth: usize) -> String {
    if depth > MAX_DEPTH {
        let text = plain_text(node);
        return inline_markdown(&[Atom::text(text, Marks::default())], Ctx::Para);
    }
    let depth = depth + 1;
    match node_type(node) {
        "paragraph" => inline_block(&child_refs(node), Ctx::Para, depth),
        "heading" => {
            let level = node
                .get("attrs")
                .and_then(|a| a.get("level"))
                .and_then(Value::as_f64)
                .unwrap_or(1.0)
                .clamp(1.0, 6.0) as usize;
            let text = inline_block(&child_refs(node), Ctx::Heading, depth);
            let hashes = "#".repeat(level);
            if text.is_empty() {
                hashes
            } else {
                format!("{hashes} {text}")
            }
        }
        "bulletList" | "orderedList" | "taskList" | "decisionList" => list(node, alternate, depth),
        "codeBlock" => code_block(node),
        "blockquote" => quote(&blocks(&child_refs(node), false, depth)),
        "rule" => if in_item { "___" } else { "---" }.to_owned(),
        "table" => table(node, depth),
        "panel" => {
            let kind = attr(node, "panelType").unwrap_or("note");
            let mut label: String = kind.chars().take(1).flat_map(char::to_uppercase).collect();
            label.extend(kind.chars().skip(1));
            let label = inline_markdown(
                &[Atom::text(format!("{label}:"), Marks::strong())],
                Ctx::Para,
            );
            let body = blocks(&child_refs(node), false, depth);
            if body.is_empty() {
                quote(&label)
            } else {
                quote(&format!("{label}\n\n{body}"))
            }
        }
        "expand" | "nestedExpand" => {
            let title = attr(node, "title").unwrap_or("").trim();
            let body = blocks(&child_refs(node), in_item, depth);
            if title.is_empty() {
                body
            } else {
                let title =
                    inline_markdown(&[Atom::text(title.to_owned(), Marks::strong())], Ctx::Para);
                if body.is_empty() {
                    title
                } else {
                    format!("{title}\n\n{body}")
                }
            }
        }
        "mediaSingle" | "mediaGroup" => {
            let mut atoms = Vec::new();
            for child in children(node) {
                if !atoms.is_empty() {
                    atoms.push(Atom::text(" ".into(), Marks::default()));
                }
                if node_type(child) == "caption" {
                    collect_atoms(children(child), Marks::default(), &mut atoms, depth);
                } else {
                    atoms.push(media_atom(child));
                }
            }
            inline_markdown(&atoms, Ctx::Para)
        }
        "media" => inline_markdown(&[media_atom(node)], Ctx::Para),
        "blockCard" | "embedCard" => match card_url(node) {
            Some(url) => inline_markdown(&[link_atom(url)], Ctx::Para),
            None => String::new(),
        },
        _ => {
            // Unknown or misplaced node: keep whatever text it carries.
            let kids = children(node);
            if !kids.is_empty() {
                if kids.iter().all(is_inline) {
                    inline_block(&child_refs(node), Ctx::Para, depth)
                } else {
                    blocks(&child_refs(node), in_item, depth)
                }
            } else if let Some(text) = node
                .get("text")
                .and_then(Value::as_str)
                .or_else(|| attr(node, "text"))
            {
                inline_markdown(&[Atom::text(text.to_owned(), Marks::default())], Ctx::Para)
            } else if let Some(url) = card_url(node) {
                inline_markdown(&[link_atom(url)], Ctx::Para)
            } else {
                String::new()
            }
        }
    }
}

fn card_url(node: &Value) -> Option<&str> {
    attr(node, "url").or_else(|| {
        node.get("attrs")
            .and_then(|a| a.get("data"))
            .and_then(|d| d.get("url"))
            .and_then(Value::as_str)
    })
}

fn quote(body: &str) -> String {
    if body.is_empty() {
        return ">".to_owned();
    }
    let mut out = String::with_capacity(body.len() + 16);
    for (i, line) in body.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if line.is_empty() {
            out.push('>');
        } else {
            out.push_str("> ");
            out.push_str(line);
        }
    }
    out
}

fn indent(body: &str, width: usize, out: &mut String) {
    for (i, line) in body.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if !line.is_empty() {
            out.extend(std::iter::repeat_n(' ', width));
            out.push_str(line);
        }
    }
}

fn list(node: &Value, alternate: bool, depth: usize) -> String {
    let ty = node_type(node);
    let start = node
        .get("attrs")
        .and_then(|a| a.get("order"))
        .and_then(Value::as_f64)
        .unwrap_or(1.0);
    // Markdown list numbers have at most nine digits.
    let start = if start.is_finite() {
        start.clamp(0.0, 999_999_000.0) as u64
    } else {
        1
    };
    let bullet = if alternate { "*" } else { "-" };
    let mut out = String::new();
    let mut number = start;
    for item in children(node) {
        let item_type = node_type(item);
        if ty == "taskList" && item_type == "taskList" {
            // A nested task list belongs to the item before it.
            let nested = list(item, false, depth + 1);
            if !out.is_empty() {
                out.push('\n');
            }
            indent(&nested, 2, &mut out);
            continue;
        }
        let marker = match ty {
            "orderedList" => {
                let m = format!("{number}{}", if alternate { ')' } else { '.' });
                number = number.saturating_add(1);
                m
            }
            "taskList" if item_type == "taskItem" || item_type == "blockTaskItem" => {
                let done = attr(item, "state") == Some("DONE");
                format!("{bullet} [{}]", if done { 'x' } else { ' ' })
            }
            _ => bullet.to_owned(),
        };
        let kids = child_refs(item);
        let body = if kids.iter().all(|k| is_inline(k)) {
            inline_block(&kids, Ctx::Para, depth)
        } else {
            blocks(&kids, true, depth)
        };
        // An item opening with a nested list (after an empty paragraph) puts
        // the marker on a line of its own, as the parser reads it back.
        let first_real = kids
            .iter()
            .find(|k| !(node_type(k) == "paragraph" && children(k).is_empty()));
        let opens_with_text = kids
            .first()
            .is_some_and(|k| !(node_type(k) == "paragraph" && children(k).is_empty()))
            && first_real.is_none_or(|k| list_family(k).is_none());
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&marker);
        if body.is_empty() {
            continue;
        }
        let width = if ty == "taskList" {
            2
        } else {
            marker.len() + 1
        };
        if opens_with_text {
            out.push(' ');
            let (first, rest) = body.split_once('\n').unwrap_or((&body, ""));
            out.push_str(first);
            if !body.contains('\n') {
                continue;
            }
            out.push('\n');
            indent(rest, width, &mut out);
        } else {
            out.push('\n');
            indent(&body, width, &mut out);
        }
    }
    out
}

fn code_block(node: &Value) -> String {
    let mut text = String::new();
    for child in children(node) {
        text.push_str(&plain_text(child));
    }
    let mut longest = 0;
    let mut run = 0;
    for c in text.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    let fence = "`".repeat(longest.max(2) + 1);
    let language: String = attr(node, "language")
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or("")
        .chars()
        .filter(|c| *c != '`')
        .collect();
    if text.is_empty() {
        format!("{fence}{language}\n{fence}")
    } else {
        format!("{fence}{language}\n{text}\n{fence}")
    }
}

fn table(node: &Value, depth: usize) -> String {
    let rows: Vec<Vec<String>> = children(node)
        .iter()
        .map(|row| {
            children(row)
                .iter()
                .map(|cell| {
                    let parts: Vec<String> = children(cell)
                        .iter()
                        .map(|b| cell_block(b, depth))
                        .filter(|s| !s.is_empty())
                        .collect();
                    parts.join("<br>")
                })
                .collect()
        })
        .collect();
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    if columns == 0 {
        return String::new();
    }
    let mut out = String::new();
    let line = |cells: &[String], out: &mut String| {
        out.push('|');
        for i in 0..columns {
            out.push(' ');
            out.push_str(cells.get(i).map(String::as_str).unwrap_or(""));
            out.push_str(" |");
        }
    };
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        line(row, &mut out);
        if i == 0 {
            out.push('\n');
            line(&vec!["---".to_owned(); columns], &mut out);
        }
    }
    out
}

/// A table cell holds one line: blocks inside it are reduced to their
/// inline content.
fn cell_block(node: &Value, depth: usize) -> String {
    if is_inline(node) {
        return inline_block(&[node], Ctx::Cell, depth);
    }
    match node_type(node) {
        "paragraph" | "heading" => inline_block(&child_refs(node), Ctx::Cell, depth),
        "codeBlock" => {
            let atom = Atom {
                kind: AtomKind::Code(plain_text(node)),
                marks: Marks::default(),
            };
            inline_markdown(&[atom], Ctx::Cell)
        }
        _ => {
            let text = plain_text(node);
            inline_markdown(&[Atom::text(text, Marks::default())], Ctx::Cell)
        }
    }
}

fn media_atom(node: &Value) -> Atom {
    let alt = attr(node, "alt").filter(|a| !a.trim().is_empty());
    if let Some(url) = attr(node, "url") {
        let text = alt.unwrap_or(url).to_owned();
        return Atom::text(text, Marks::link(url));
    }
    let text = match alt {
        Some(alt) => format!("[attachment: {alt}]"),
        None => "[attachment]".to_owned(),
    };
    Atom::text(text, Marks::default())
}

fn link_atom(url: &str) -> Atom {
    Atom::text(url.to_owned(), Marks::link(url))
}

// ---------------------------------------------------------------- inline

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Ctx {
    Para,
    Heading,
    Cell,
}

#[derive(Clone, PartialEq, Eq, Debug, Default)]
struct Marks {
    strong: bool,
    em: bool,
    strike: bool,
    code: bool,
    link: Option<(String, String)>,
}

impl Marks {
    fn strong() -> Self {
        Marks {
            strong: true,
            ..Marks::default()
        }
    }

    fn link(href: &str) -> Self {
        Marks {
            link: Some((href.to_owned(), String::new())),
            ..Marks::default()
        }
    }

    fn from_node(node: &Value, inherited: &Marks) -> Marks {
        let mut marks = inherited.clone();
        for mark in node
            .get("marks")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            match node_type(mark) {
                "strong" => marks.strong = true,
                "em" => marks.em = true,
                "strike" => marks.strike = true,
                "code" => marks.code = true,
                "link" if marks.link.is_none() => {
                    if let Some(href) = attr(mark, "href") {
                        let title = attr(mark, "title").unwrap_or("").to_owned();
                        marks.link = Some((href.to_owned(), title));
                    }
                }
                _ => {}
            }
        }
        marks
    }

    fn has(&self, d: &Delim) -> bool {
        match d {
            Delim::Strong => self.strong,
            Delim::Em => self.em,
            Delim::Strike => self.strike,
            Delim::Link(href, title) => self
                .link
                .as_ref()
                .is_some_and(|(h, t)| h == href && t == title),
        }
    }

    fn delims(&self) -> Vec<Delim> {
        let mut out = Vec::new();
        if let Some((h, t)) = &self.link {
            out.push(Delim::Link(h.clone(), t.clone()));
        }
        if self.strong {
            out.push(Delim::Strong);
        }
        if self.strike {
            out.push(Delim::Strike);
        }
        if self.em {
            out.push(Delim::Em);
        }
        out
    }
}

#[derive(Clone, PartialEq, Eq, Debug)]
enum Delim {
    Strong,
    Em,
    Strike,
    Link(String, String),
}

#[derive(Debug)]
enum AtomKind {
    Text(String),
    Code(String),
    /// Already Markdown (an autolink).
    Raw(String),
    Break,
}

#[derive(Debug)]
struct Atom {
    kind: AtomKind,
    marks: Marks,
}

impl Atom {
    fn text(text: String, marks: Marks) -> Atom {
        let kind = if marks.code {
            AtomKind::Code(text)
        } else {
            AtomKind::Text(text)
        };
        Atom { kind, marks }
    }
}

fn inline_block(nodes: &[&Value], ctx: Ctx, depth: usize) -> String {
    let mut atoms = Vec::new();
    for node in nodes {
        collect_atoms(
            std::slice::from_ref(*node),
            Marks::default(),
            &mut atoms,
            depth,
        );
    }
    inline_markdown(&atoms, ctx)
}

fn collect_atoms(nodes: &[Value], inherited: Marks, atoms: &mut Vec<Atom>, depth: usize) {
    for node in nodes {
        let marks = Marks::from_node(node, &inherited);
        if depth > MAX_DEPTH {
            atoms.push(Atom::text(plain_text(node), marks));
            continue;
        }
        match node_type(node) {
            "text" => {
                if let Some(t) = node.get("text").and_then(Value::as_str) {
                    atoms.push(Atom::text(t.to_owned(), marks));
                }
            }
            "hardBreak" => atoms.push(Atom {
                kind: AtomKind::Break,
                marks,
            }),
            "mention" => {
                let name = attr(node, "text")
                    .filter(|t| !t.is_empty())
                    .or_else(|| attr(node, "id"))
                    .unwrap_or("unknown");
                let text = if name.starts_with('@') {
                    name.to_owned()
                } else {
                    format!("@{name}")
                };
                atoms.push(Atom::text(text, marks));
            }
            "emoji" => {
                if let Some(t) = attr(node, "text")
                    .filter(|t| !t.is_empty())
                    .or_else(|| attr(node, "shortName"))
                {
                    atoms.push(Atom::text(t.to_owned(), marks));
                }
            }
            "date" => {
                if let Some(ts) = attr(node, "timestamp") {
                    atoms.push(Atom::text(format_date(ts), marks));
                }
            }
            "status" => {
                if let Some(t) = attr(node, "text") {
                    atoms.push(Atom::text(t.to_owned(), marks));
                }
            }
            "inlineCard" => {
                if let Some(url) = card_url(node) {
                    let mut marks = marks;
                    if marks.link.is_none() {
                        marks.link = Some((url.to_owned(), String::new()));
                    }
                    atoms.push(Atom::text(url.to_owned(), marks));
                }
            }
            "mediaInline" | "media" => atoms.push(media_atom(node)),
            "placeholder" => {}
            _ => {
                let kids = children(node);
                if !kids.is_empty() {
                    collect_atoms(kids, marks, atoms, depth + 1);
                } else if let Some(t) = node
                    .get("text")
                    .and_then(Value::as_str)
                    .or_else(|| attr(node, "text"))
                {
                    atoms.push(Atom::text(t.to_owned(), marks));
                }
            }
        }
    }
}

fn format_date(timestamp: &str) -> String {
    timestamp
        .trim()
        .parse::<i64>()
        .ok()
        .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
        .map(|t| t.strftime("%Y-%m-%d").to_string())
        .unwrap_or_else(|| timestamp.to_owned())
}

fn is_autolinkable(href: &str) -> bool {
    let Some((scheme, rest)) = href.split_once(':') else {
        return false;
    };
    let scheme_ok = (2..=32).contains(&scheme.len())
        && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '.' | '-'));
    scheme_ok
        && !rest.is_empty()
        && !rest
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>'))
}

/// Merges neighbours with equal marks and turns links whose text is their
/// URL into autolinks.
fn normalise(atoms: &[Atom]) -> Vec<Atom> {
    let mut out: Vec<Atom> = Vec::with_capacity(atoms.len());
    for atom in atoms {
        let kind = match &atom.kind {
            AtomKind::Text(t) if t.is_empty() => continue,
            AtomKind::Code(t) if t.is_empty() => continue,
            AtomKind::Text(t) => AtomKind::Text(t.clone()),
            AtomKind::Code(t) => AtomKind::Code(t.clone()),
            AtomKind::Raw(t) => AtomKind::Raw(t.clone()),
            AtomKind::Break => AtomKind::Break,
        };
        if let Some(last) = out.last_mut()
            && last.marks == atom.marks
        {
            match (&mut last.kind, &kind) {
                (AtomKind::Text(a), AtomKind::Text(b)) | (AtomKind::Code(a), AtomKind::Code(b)) => {
                    a.push_str(b);
                    continue;
                }
                _ => {}
            }
        }
        out.push(Atom {
            kind,
            marks: atom.marks.clone(),
        });
    }
    for i in 0..out.len() {
        let Some((href, title)) = out[i].marks.link.clone() else {
            continue;
        };
        let alone = (i == 0 || out[i - 1].marks.link != out[i].marks.link)
            && out
                .get(i + 1)
                .is_none_or(|n| n.marks.link != out[i].marks.link);
        if let AtomKind::Text(t) = &out[i].kind
            && alone
            && title.is_empty()
            && *t == href
            && is_autolinkable(&href)
        {
            out[i].kind = AtomKind::Raw(format!("<{href}>"));
            out[i].marks.link = None;
        }
    }
    out
}

enum Tok {
    Open(Delim),
    Close(Delim),
    /// Text to escape when written.
    Text(String),
    /// Markdown written as is (code spans, autolinks).
    Out(String),
    Break,
}

struct Escaper {
    ctx: Ctx,
    line_start: bool,
}

impl Escaper {
    fn text(&mut self, text: &str, out: &mut String) {
        let chars: Vec<char> = text.chars().collect();
        let mut escape_at = None;
        for (i, &c) in chars.iter().enumerate() {
            let mut c = c;
            if c == '\n' || c == '\r' {
                if self.ctx == Ctx::Para && c == '\n' {
                    while out.ends_with(' ') || out.ends_with('\t') {
                        out.pop();
                    }
                    out.push('\n');
                    self.line_start = true;
                    continue;
                }
                c = ' ';
            }
            if self.line_start {
                if c == ' ' || c == '\t' {
                    continue;
                }
                self.line_start = false;
                if matches!(c, '#' | '>' | '-' | '+' | '=') {
                    out.push('\\');
                } else if c.is_ascii_digit() {
                    let end = chars[i..]
                        .iter()
                        .position(|d| !d.is_ascii_digit())
                        .map(|p| p + i);
                    if let Some(end) = end
                        && matches!(chars[end], '.' | ')')
                    {
                        escape_at = Some(end);
                    }
                }
            }
            let prev_alnum = i > 0 && chars[i - 1].is_alphanumeric();
            let next = chars.get(i + 1).copied();
            let escape = escape_at == Some(i)
                || match c {
                    '\\' | '`' | '*' | '[' | ']' | '<' | '|' | '~' => true,
                    '_' => !(prev_alnum && next.is_some_and(char::is_alphanumeric)),
                    '&' => next.is_some_and(|n| n.is_ascii_alphanumeric() || n == '#'),
                    '#' => self.ctx == Ctx::Heading,
                    _ => false,
                };
            if escape {
                out.push('\\');
            }
            out.push(c);
        }
    }
}

fn code_span(text: &str, ctx: Ctx) -> String {
    let mut content: String = text
        .chars()
        .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
        .collect();
    if ctx == Ctx::Cell {
        content = content.replace('|', "\\|");
    }
    let mut longest = 0;
    let mut run = 0;
    for c in content.chars() {
        if c == '`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    let fence = "`".repeat(longest + 1);
    let all_spaces = content.chars().all(|c| c == ' ');
    let pad = content.starts_with('`')
        || content.ends_with('`')
        || (!all_spaces && content.starts_with(' ') && content.ends_with(' '));
    let pad = if pad { " " } else { "" };
    format!("{fence}{pad}{content}{pad}{fence}")
}

fn link_destination(href: &str) -> String {
    let href = href.replace('\n', "%0A").replace('\r', "%0D");
    let pointy = href.is_empty() || href.chars().any(|c| c.is_whitespace() || c.is_control());
    let mut out = String::with_capacity(href.len() + 2);
    if pointy {
        out.push('<');
    }
    let chars: Vec<char> = href.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let entity = c == '&'
            && chars
                .get(i + 1)
                .is_some_and(|n| n.is_ascii_alphanumeric() || *n == '#');
        if entity || matches!(c, '\\' | '<' | '>') || (!pointy && matches!(c, '(' | ')')) {
            out.push('\\');
        }
        out.push(c);
    }
    if pointy {
        out.push('>');
    }
    if href.is_empty() {
        return String::new();
    }
    out
}

fn link_close(href: &str, title: &str) -> String {
    let mut out = format!("]({}", link_destination(href));
    if !title.is_empty() {
        out.push_str(" \"");
        for c in title.chars() {
            let c = if c == '\n' || c == '\r' { ' ' } else { c };
            if matches!(c, '"' | '\\') || c == '&' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    }
    out.push(')');
    out
}

/// Writes inline atoms as Markdown. Delimiters are kept on a stack and
/// whitespace at their edges is moved outside, since `** a**` is not bold.
fn inline_markdown(atoms: &[Atom], ctx: Ctx) -> String {
    let atoms = normalise(atoms);
    let mut toks: Vec<Tok> = Vec::with_capacity(atoms.len() * 2);
    let mut stack: Vec<Delim> = Vec::new();
    let mut pending_ws = String::new();
    for (index, atom) in atoms.iter().enumerate() {
        let (lead, core, trail) = match &atom.kind {
            AtomKind::Break => {
                match ctx {
                    Ctx::Para => {
                        close_all(&mut stack, &mut toks);
                        pending_ws.clear();
                        toks.push(Tok::Break);
                    }
                    Ctx::Heading => pending_ws.push(' '),
                    Ctx::Cell => {
                        close_all(&mut stack, &mut toks);
                        pending_ws.clear();
                        toks.push(Tok::Out("<br>".into()));
                    }
                }
                continue;
            }
            AtomKind::Text(t) => {
                let trimmed_start = t.trim_start();
                let core = trimmed_start.trim_end();
                (
                    &t[..t.len() - trimmed_start.len()],
                    core,
                    &trimmed_start[core.len()..],
                )
            }
            AtomKind::Code(t) | AtomKind::Raw(t) => ("", t.as_str(), ""),
        };
        let wanted = atom.marks.delims();
        if core.is_empty() {
            // Marks the whitespace does not carry end before it; otherwise
            // `_a_ _b_` would come back as one `_a b_`.
            if let Some(k) = stack.iter().position(|d| !wanted.contains(d)) {
                while stack.len() > k {
                    if let Some(d) = stack.pop() {
                        toks.push(Tok::Close(d));
                    }
                }
            }
            pending_ws.push_str(lead);
            continue;
        }
        if let Some(k) = stack.iter().position(|d| !wanted.contains(d)) {
            while stack.len() > k {
                if let Some(d) = stack.pop() {
                    toks.push(Tok::Close(d));
                }
            }
        }
        pending_ws.push_str(lead);
        if !pending_ws.is_empty() {
            toks.push(Tok::Text(std::mem::take(&mut pending_ws)));
        }
        let mut opens: Vec<(usize, Delim)> = wanted
            .into_iter()
            .filter(|d| !stack.contains(d))
            .map(|d| {
                let extent = atoms[index..]
                    .iter()
                    .take_while(|a| !matches!(a.kind, AtomKind::Break) && a.marks.has(&d))
                    .count();
                (extent, d)
            })
            .collect();
        opens.sort_by_key(|o| std::cmp::Reverse(o.0));
        for (_, d) in opens {
            stack.push(d.clone());
            toks.push(Tok::Open(d));
        }
        toks.push(match &atom.kind {
            AtomKind::Code(t) => Tok::Out(code_span(t, ctx)),
            AtomKind::Raw(t) => Tok::Out(t.clone()),
            _ => Tok::Text(core.to_owned()),
        });
        pending_ws = trail.to_owned();
    }
    close_all(&mut stack, &mut toks);
    write_tokens(toks, ctx)
}

fn close_all(stack: &mut Vec<Delim>, toks: &mut Vec<Tok>) {
    while let Some(d) = stack.pop() {
        toks.push(Tok::Close(d));
    }
}

fn is_blank(tok: &Tok) -> bool {
    match tok {
        Tok::Break => true,
        Tok::Text(t) => t.trim().is_empty(),
        _ => false,
    }
}

fn edge_char(tok: &Tok, last: bool) -> Option<char> {
    let pick = |s: &str| {
        if last {
            s.chars().next_back()
        } else {
            s.chars().next()
        }
    };
    match tok {
        Tok::Text(s) | Tok::Out(s) => pick(s),
        Tok::Break => Some('\n'),
        Tok::Open(Delim::Link(..)) => Some('['),
        Tok::Close(Delim::Link(..)) => Some(if last { ')' } else { ']' }),
        Tok::Open(Delim::Strike) | Tok::Close(Delim::Strike) => Some('~'),
        Tok::Open(_) | Tok::Close(_) => Some('*'),
    }
}

/// Chooses `*` or `_` for emphasis by its neighbours (`_` cannot open or
/// close inside a word; `*` next to `**` would merge into one run) and
/// writes the tokens out.
fn write_tokens(mut toks: Vec<Tok>, ctx: Ctx) -> String {
    while toks.last().is_some_and(is_blank) {
        toks.pop();
    }
    let leading = toks.iter().take_while(|t| is_blank(t)).count();
    toks.drain(..leading);
    let mut em_char = vec!['_'; toks.len()];
    let mut open_ems = Vec::new();
    for i in 0..toks.len() {
        match &toks[i] {
            Tok::Open(Delim::Em) => open_ems.push(i),
            Tok::Close(Delim::Em) => {
                if let Some(o) = open_ems.pop() {
                    let before = o.checked_sub(1).map(|p| &toks[p]);
                    let after = toks.get(i + 1);
                    // Next to a word `_` cannot open or close; next to `**`
                    // the two runs merge into `***`, which CommonMark reads
                    // correctly where `**_` fails its flanking rules.
                    let wants_star = |tok: Option<&Tok>, last: bool| {
                        matches!(
                            tok,
                            Some(Tok::Open(Delim::Strong) | Tok::Close(Delim::Strong))
                        ) || tok
                            .and_then(|t| edge_char(t, last))
                            .is_some_and(char::is_alphanumeric)
                    };
                    if wants_star(before, true) || wants_star(after, false) {
                        em_char[o] = '*';
                        em_char[i] = '*';
                    }
                }
            }
            _ => {}
        }
    }
    let mut escaper = Escaper {
        ctx,
        line_start: true,
    };
    let mut out = String::new();
    for (i, tok) in toks.iter().enumerate() {
        match tok {
            Tok::Text(t) => escaper.text(t, &mut out),
            Tok::Out(t) => {
                escaper.line_start = false;
                out.push_str(t);
            }
            Tok::Break => {
                while out.ends_with(' ') || out.ends_with('\t') {
                    out.pop();
                }
                out.push_str("\\\n");
                escaper.line_start = true;
            }
            Tok::Open(d) | Tok::Close(d) => {
                escaper.line_start = false;
                match d {
                    Delim::Strong => out.push_str("**"),
                    Delim::Strike => out.push_str("~~"),
                    Delim::Em => out.push(em_char[i]),
                    Delim::Link(href, title) => {
                        if matches!(tok, Tok::Open(_)) {
                            out.push('[');
                        } else {
                            out.push_str(&link_close(href, title));
                        }
                    }
                }
            }
        }
    }
    while out.ends_with(' ') || out.ends_with('\t') {
        out.pop();
    }
    out
}
