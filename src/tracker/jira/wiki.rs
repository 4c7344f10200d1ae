//! Jira wiki markup ⇄ Markdown (Jira Data Center).
//!
//! Data Center (REST v2) stores descriptions and comments as wiki markup.
//! Both directions go through ADF so that Markdown is parsed and written by
//! one implementation ([`super::adf`]): Markdown → ADF → wiki, and
//! wiki → ADF → Markdown. Wiki markup has no published grammar and no
//! maintained Rust parser; this module reads the subset Jira's editor
//! writes: `h1.`–`h6.`, `*strong*`, `_em_`, `{{code}}`, `-strike-`,
//! `[text|url]`, `*`/`#`/`-` lists with nesting, `{code:lang}`,
//! `{noformat}`, `{quote}`, `bq.`, `----`, `||header||` and `|cell|` tables,
//! `\\` line breaks and backslash escapes. Anything else stays text.
//! Task items are written as `* [ ] text` / `* [x] text`, which Jira shows
//! as text and this module reads back as tasks.

use super::adf::node::{attr, children, node_type};
use serde_json::{Map, Value, json};

use super::adf;

/// List nesting deeper than this is read as this deep.
const MAX_LIST_DEPTH: usize = 16;

/// Converts Jira wiki markup to Markdown. Never fails: unrecognised markup
/// is kept as text.
pub fn to_markdown(wiki: &str) -> String {
    adf::to_markdown(&parse(wiki))
}

/// Converts Markdown to Jira wiki markup.
pub fn from_markdown(markdown: &str) -> String {
    let doc = adf::from_markdown(markdown);
    let mut out = String::new();
    write_blocks(children(&doc), &mut out);
    out
}

// ------------------------------------------------------------ ADF → wiki

fn write_blocks(nodes: &[Value], out: &mut String) {
    let mut first = true;
    for node in nodes {
        let mut block = String::new();
        write_block(node, &mut block);
        if block.is_empty() {
            continue;
        }
        if !first {
            out.push_str("\n\n");
        }
        first = false;
        out.push_str(&block);
    }
}

fn write_block(node: &Value, out: &mut String) {
    match node_type(node) {
        "paragraph" => write_inline(children(node), out, true),
        "heading" => {
            let level = node
                .get("attrs")
                .and_then(|a| a.get("level"))
                .and_then(Value::as_u64)
                .unwrap_or(1)
                .clamp(1, 6);
            out.push_str(&format!("h{level}. "));
            write_inline(children(node), out, false);
        }
        "bulletList" | "orderedList" | "taskList" => write_list(node, "", out),
        "codeBlock" => {
            let text: String = children(node)
                .iter()
                .filter_map(|t| t.get("text").and_then(Value::as_str))
                .collect();
            match attr(node, "language") {
                Some(lang) if !lang.is_empty() => out.push_str(&format!("{{code:{lang}}}\n")),
                _ => out.push_str("{code}\n"),
            }
            out.push_str(&text);
            out.push_str("\n{code}");
        }
        "blockquote" => {
            out.push_str("{quote}\n");
            write_blocks(children(node), out);
            out.push_str("\n{quote}");
        }
        "rule" => out.push_str("----"),
        "table" => {
            for (i, row) in children(node).iter().enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                let mut last = "|";
                for cell in children(row) {
                    let sep = if node_type(cell) == "tableHeader" {
                        "||"
                    } else {
                        "|"
                    };
                    out.push_str(sep);
                    last = sep;
                    let mut text = String::new();
                    for block in children(cell) {
                        if !text.is_empty() {
                            text.push_str("\\\\");
                        }
                        write_inline(children(block), &mut text, false);
                    }
                    if text.is_empty() {
                        text.push(' ');
                    }
                    out.push_str(&text);
                }
                out.push_str(last);
            }
        }
        _ => write_blocks(children(node), out),
    }
}

fn write_list(node: &Value, prefix: &str, out: &mut String) {
    let ty = node_type(node);
    let prefix = format!("{prefix}{}", if ty == "orderedList" { '#' } else { '*' });
    for item in children(node) {
        if node_type(item) == "taskList" {
            write_list(item, &prefix, out);
            continue;
        }
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&prefix);
        out.push(' ');
        if node_type(item) == "taskItem" {
            out.push_str(if attr(item, "state") == Some("DONE") {
                "[x] "
            } else {
                "[ ] "
            });
            write_inline(children(item), out, false);
            continue;
        }
        let mut text_written = false;
        for block in children(item) {
            match node_type(block) {
                "bulletList" | "orderedList" | "taskList" => write_list(block, &prefix, out),
                "codeBlock" => {
                    let text: String = children(block)
                        .iter()
                        .filter_map(|t| t.get("text").and_then(Value::as_str))
                        .collect();
                    if text_written {
                        out.push_str("\\\\");
                    }
                    out.push_str(&code_span(&text.replace('\n', " ")));
                    text_written = true;
                }
                _ => {
                    if text_written {
                        out.push_str("\\\\");
                    }
                    write_inline(children(block), out, false);
                    text_written = true;
                }
            }
        }
    }
    while out.ends_with(' ') {
        out.pop();
    }
}

fn code_span(text: &str) -> String {
    if text.is_empty() {
        String::new()
    } else {
        format!("{{{{{text}}}}}")
    }
}

#[derive(Clone, PartialEq, Eq)]
enum Delim {
    Link(String),
    Strong,
    Em,
    Strike,
}

fn delims(node: &Value) -> (Vec<Delim>, bool) {
    let mut out = Vec::new();
    let mut code = false;
    let marks = node
        .get("marks")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    for mark in marks {
        match node_type(mark) {
            "link" => {
                if let Some(href) = attr(mark, "href") {
                    out.insert(0, Delim::Link(href.to_owned()));
                }
            }
            "code" => code = true,
            _ => {}
        }
    }
    for (name, d) in [
        ("strong", Delim::Strong),
        ("em", Delim::Em),
        ("strike", Delim::Strike),
    ] {
        if marks.iter().any(|m| node_type(m) == name) {
            out.push(d);
        }
    }
    (out, code)
}

fn open(d: &Delim, out: &mut String) {
    out.push_str(match d {
        Delim::Link(_) => "[",
        Delim::Strong => "*",
        Delim::Em => "_",
        Delim::Strike => "-",
    });
}

fn close(d: &Delim, out: &mut String) {
    match d {
        Delim::Link(href) => {
            out.push('|');
            out.push_str(href);
            out.push(']');
        }
        other => open(other, out),
    }
}

/// Writes inline nodes; `paragraph_start` says the first character is at
/// the start of a line, where `h1.`, `bq.`, `#`, `*`, `-` and `|` mean
/// blocks.
fn write_inline(nodes: &[Value], out: &mut String, paragraph_start: bool) {
    let mut stack: Vec<Delim> = Vec::new();
    let mut at_start = paragraph_start;
    let mut pending_ws = String::new();
    for node in nodes {
        let (wanted, code) = delims(node);
        let text = match node_type(node) {
            "hardBreak" => {
                while let Some(d) = stack.pop() {
                    close(&d, out);
                }
                pending_ws.clear();
                out.push_str("\\\\");
                continue;
            }
            "text" => node.get("text").and_then(Value::as_str).unwrap_or(""),
            _ => continue,
        };
        let trimmed = text.trim_start();
        let core = trimmed.trim_end();
        if core.is_empty() {
            if let Some(k) = stack.iter().position(|d| !wanted.contains(d)) {
                while stack.len() > k {
                    if let Some(d) = stack.pop() {
                        close(&d, out);
                    }
                }
            }
            pending_ws.push_str(text);
            continue;
        }
        // A link whose text is its URL is written as `[url]`.
        let bare_link = !code
            && wanted.len() == 1
            && matches!(&wanted[0], Delim::Link(h) if h == text)
            && !stack.contains(&wanted[0]);
        if let Some(k) = stack.iter().position(|d| !wanted.contains(d) || bare_link) {
            while stack.len() > k {
                if let Some(d) = stack.pop() {
                    close(&d, out);
                }
            }
        }
        pending_ws.push_str(&text[..text.len() - trimmed.len()]);
        out.push_str(&pending_ws);
        pending_ws.clear();
        if bare_link {
            out.push('[');
            out.push_str(text);
            out.push(']');
            at_start = false;
            continue;
        }
        for d in wanted {
            if !stack.contains(&d) {
                open(&d, out);
                stack.push(d);
            }
        }
        if code {
            out.push_str(&code_span(core));
        } else {
            escape(core, at_start && out.is_empty_line(), out);
        }
        at_start = false;
        pending_ws = trimmed[core.len()..].to_owned();
    }
    while let Some(d) = stack.pop() {
        close(&d, out);
    }
}

trait LineStart {
    fn is_empty_line(&self) -> bool;
}

impl LineStart for String {
    fn is_empty_line(&self) -> bool {
        self.is_empty() || self.ends_with('\n')
    }
}

const SPECIAL: &[char] = &['*', '_', '-', '+', '^', '~', '{', '}', '[', ']', '|'];

fn escape(text: &str, line_start: bool, out: &mut String) {
    let chars: Vec<char> = text.chars().collect();
    // `h1.`–`h6.` and `bq.` open blocks at a line start; an escaped dot
    // keeps them text.
    let heading = chars.first() == Some(&'h')
        && chars.get(1).is_some_and(|d| ('1'..='6').contains(d))
        && chars.get(2) == Some(&'.');
    let block_dot = line_start && (heading || chars.starts_with(&['b', 'q', '.']));
    for (i, &c) in chars.iter().enumerate() {
        if (line_start && i == 0 && c == '#') || (block_dot && i == 2) {
            out.push('\\');
        }
        if SPECIAL.contains(&c) {
            out.push('\\');
        } else if c == '\\' {
            out.push_str("&#92;");
            continue;
        } else if c == '\n' {
            out.push(' ');
            continue;
        }
        out.push(c);
    }
}

// ------------------------------------------------------------ wiki → ADF

fn parse(wiki: &str) -> Value {
    let lines: Vec<&str> = wiki.lines().collect();
    let content = parse_blocks(&lines);
    json!({"type": "doc", "version": 1, "content": content})
}

fn list_prefix(line: &str) -> Option<(Vec<char>, &str)> {
    let prefix: Vec<char> = line
        .chars()
        .take_while(|c| matches!(c, '*' | '#'))
        .collect();
    let (prefix, rest) = if prefix.is_empty() {
        let rest = line.strip_prefix("- ")?;
        (vec!['*'], rest)
    } else {
        let rest = &line[prefix.len()..];
        if !(rest.is_empty() || rest.starts_with(' ')) {
            return None;
        }
        (prefix, rest.trim_start())
    };
    let mut prefix = prefix;
    prefix.truncate(MAX_LIST_DEPTH);
    Some((prefix, rest))
}

fn block_opener<'a>(line: &'a str, name: &str) -> Option<(Option<String>, &'a str)> {
    let rest = line.trim_start().strip_prefix('{')?.strip_prefix(name)?;
    let end = rest.find('}')?;
    let params = &rest[..end];
    if !(params.is_empty() || params.starts_with(':')) {
        return None;
    }
    let lang = params
        .strip_prefix(':')
        .and_then(|p| p.split('|').next())
        .filter(|p| !p.contains('=') && !p.trim().is_empty())
        .map(|p| p.trim().to_owned());
    Some((lang, &rest[end + 1..]))
}

fn parse_blocks(lines: &[&str]) -> Vec<Value> {
    let mut blocks = Vec::new();
    let mut para: Vec<&str> = Vec::new();
    let flush = |para: &mut Vec<&str>, blocks: &mut Vec<Value>| {
        if para.is_empty() {
            return;
        }
        let mut inline = Vec::new();
        for (i, line) in para.iter().enumerate() {
            if i > 0 {
                inline.push(json!({"type": "hardBreak"}));
            }
            parse_inline(line.trim(), &[], &mut inline);
        }
        para.clear();
        blocks.push(json!({"type": "paragraph", "content": inline}));
    };
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim();
        if trimmed.is_empty() {
            flush(&mut para, &mut blocks);
            i += 1;
            continue;
        }
        let mut consumed = false;
        for name in ["code", "noformat"] {
            if let Some((lang, after)) = block_opener(trimmed, name) {
                flush(&mut para, &mut blocks);
                let closer = format!("{{{name}}}");
                let mut text = String::new();
                let mut rest = Some(after);
                let mut j = i;
                while let Some(chunk) = rest {
                    if let Some(end) = chunk.find(&closer) {
                        text.push_str(&chunk[..end]);
                        break;
                    }
                    text.push_str(chunk);
                    text.push('\n');
                    j += 1;
                    rest = lines.get(j).copied();
                }
                let text = text.strip_prefix('\n').unwrap_or(&text);
                let text = text.strip_suffix('\n').unwrap_or(text);
                let mut node = json!({"type": "codeBlock"});
                if let Some(lang) = lang.filter(|_| name == "code") {
                    node["attrs"] = json!({"language": lang});
                }
                if !text.is_empty() {
                    node["content"] = json!([{"type": "text", "text": text}]);
                }
                blocks.push(node);
                i = j + 1;
                consumed = true;
                break;
            }
        }
        if consumed {
            continue;
        }
        if let Some(after) = trimmed.strip_prefix("{quote}") {
            flush(&mut para, &mut blocks);
            let mut inner: Vec<&str> = Vec::new();
            let mut j = i;
            let mut chunk = after;
            loop {
                if let Some(end) = chunk.find("{quote}") {
                    inner.push(&chunk[..end]);
                    break;
                }
                inner.push(chunk);
                j += 1;
                match lines.get(j) {
                    Some(l) => chunk = l,
                    None => break,
                }
            }
            let content = parse_blocks(&inner);
            blocks.push(json!({"type": "blockquote", "content": content}));
            i = j + 1;
            continue;
        }
        if let Some(text) = trimmed.strip_prefix("bq. ") {
            flush(&mut para, &mut blocks);
            let mut inline = Vec::new();
            parse_inline(text, &[], &mut inline);
            blocks.push(json!({"type": "blockquote", "content": [{"type": "paragraph", "content": inline}]}));
            i += 1;
            continue;
        }
        let bytes = trimmed.as_bytes();
        if bytes.len() >= 3
            && bytes[0] == b'h'
            && (b'1'..=b'6').contains(&bytes[1])
            && bytes[2] == b'.'
        {
            flush(&mut para, &mut blocks);
            let mut inline = Vec::new();
            parse_inline(trimmed[3..].trim(), &[], &mut inline);
            blocks.push(
                json!({"type": "heading", "attrs": {"level": bytes[1] - b'0'}, "content": inline}),
            );
            i += 1;
            continue;
        }
        if trimmed == "----" {
            flush(&mut para, &mut blocks);
            blocks.push(json!({"type": "rule"}));
            i += 1;
            continue;
        }
        if list_prefix(trimmed).is_some() {
            flush(&mut para, &mut blocks);
            let mut items = Vec::new();
            while let Some(l) = lines.get(i)
                && let Some(item) = list_prefix(l.trim())
            {
                items.push(item);
                i += 1;
            }
            blocks.extend(build_lists(&items, 0));
            continue;
        }
        if trimmed.starts_with('|') {
            flush(&mut para, &mut blocks);
            let mut rows = Vec::new();
            while let Some(l) = lines.get(i)
                && l.trim().starts_with('|')
            {
                rows.push(table_row(l.trim()));
                i += 1;
            }
            blocks.push(json!({"type": "table", "content": rows}));
            continue;
        }
        para.push(line);
        i += 1;
    }
    flush(&mut para, &mut blocks);
    blocks
}

fn task_state(text: &str) -> Option<(bool, &str)> {
    for (marker, done) in [("[ ]", false), ("[x]", true), ("[X]", true)] {
        if let Some(rest) = text.strip_prefix(marker)
            && (rest.is_empty() || rest.starts_with(' '))
        {
            return Some((done, rest.trim_start()));
        }
    }
    None
}

fn build_lists(items: &[(Vec<char>, &str)], level: usize) -> Vec<Value> {
    let mut lists = Vec::new();
    let mut i = 0;
    while i < items.len() {
        let Some(&kind) = items[i].0.get(level) else {
            i += 1;
            continue;
        };
        let mut entries: Vec<(Option<&str>, Vec<Value>)> = Vec::new();
        let mut j = i;
        while j < items.len() && items[j].0.get(level) == Some(&kind) {
            let text = if items[j].0.len() == level + 1 {
                j += 1;
                Some(items[j - 1].1)
            } else {
                None
            };
            let start = j;
            while j < items.len()
                && items[j].0.len() > level + 1
                && items[j].0.get(level) == Some(&kind)
            {
                j += 1;
            }
            let nested = build_lists(&items[start..j], level + 1);
            entries.push((text, nested));
        }
        let tasks = kind == '*'
            && entries.iter().all(|(t, nested)| {
                t.and_then(task_state).is_some()
                    && nested.iter().all(|n| node_type(n) == "taskList")
            });
        let mut content = Vec::new();
        for (text, nested) in entries {
            let mut inline = Vec::new();
            if tasks {
                let (done, rest) = text.and_then(task_state).unwrap_or((false, ""));
                parse_inline(rest, &[], &mut inline);
                let state = if done { "DONE" } else { "TODO" };
                content.push(json!({"type": "taskItem", "attrs": {"localId": "", "state": state}, "content": inline}));
                content.extend(nested);
            } else {
                parse_inline(text.unwrap_or(""), &[], &mut inline);
                let mut blocks = vec![json!({"type": "paragraph", "content": inline})];
                blocks.extend(nested);
                content.push(json!({"type": "listItem", "content": blocks}));
            }
        }
        let list = match (tasks, kind) {
            (true, _) => json!({"type": "taskList", "attrs": {"localId": ""}, "content": content}),
            (false, '#') => {
                json!({"type": "orderedList", "attrs": {"order": 1}, "content": content})
            }
            _ => json!({"type": "bulletList", "content": content}),
        };
        lists.push(list);
        i = j.max(i + 1);
    }
    lists
}

fn table_row(line: &str) -> Value {
    let chars: Vec<char> = line.chars().collect();
    let mut cells: Vec<(bool, String)> = Vec::new();
    let mut i = 0;
    let mut current: Option<(bool, String)> = None;
    let mut in_link = false;
    let mut in_code = false;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' && i + 1 < chars.len() {
            if let Some((_, cell)) = current.as_mut() {
                cell.push(c);
                cell.push(chars[i + 1]);
            }
            i += 2;
            continue;
        }
        if !in_code && c == '{' && chars.get(i + 1) == Some(&'{') {
            in_code = true;
        } else if in_code && c == '}' && chars.get(i + 1) == Some(&'}') {
            in_code = false;
        } else if !in_code && c == '[' {
            in_link = true;
        } else if c == ']' {
            in_link = false;
        }
        if c == '|' && !in_link && !in_code {
            let header = chars.get(i + 1) == Some(&'|');
            if let Some(cell) = current.take() {
                cells.push(cell);
            }
            current = Some((header, String::new()));
            i += if header { 2 } else { 1 };
            continue;
        }
        if let Some((_, cell)) = current.as_mut() {
            cell.push(c);
        }
        i += 1;
    }
    if let Some(cell) = current
        && !cell.1.trim().is_empty()
    {
        cells.push(cell);
    }
    let content: Vec<Value> = cells
        .into_iter()
        .map(|(header, text)| {
            let mut inline = Vec::new();
            parse_inline(text.trim(), &[], &mut inline);
            let kind = if header { "tableHeader" } else { "tableCell" };
            json!({"type": kind, "content": [{"type": "paragraph", "content": inline}]})
        })
        .collect();
    json!({"type": "tableRow", "content": content})
}

fn push_text(text: &str, marks: &[Value], out: &mut Vec<Value>) {
    if text.is_empty() {
        return;
    }
    if let Some(last) = out.last_mut()
        && node_type(last) == "text"
        && last
            .get("marks")
            .map(|m| m.as_array().map(Vec::as_slice) == Some(marks))
            .unwrap_or(marks.is_empty())
        && let Some(Value::String(s)) = last.get_mut("text")
    {
        s.push_str(text);
        return;
    }
    let mut node = Map::new();
    node.insert("type".into(), "text".into());
    node.insert("text".into(), Value::String(text.to_owned()));
    if !marks.is_empty() {
        node.insert("marks".into(), Value::Array(marks.to_vec()));
    }
    out.push(Value::Object(node));
}

fn with_mark(marks: &[Value], mark: Value) -> Vec<Value> {
    let mut out = marks.to_vec();
    if !out.contains(&mark) {
        out.push(mark);
    }
    out.sort_by_key(|m| match node_type(m) {
        "strong" => 0,
        "em" => 1,
        "strike" => 2,
        "code" => 3,
        _ => 4,
    });
    out
}

fn hopeless(dead: &[(char, usize)], closer: char, from: usize) -> bool {
    dead.iter().any(|&(c, at)| c == closer && from >= at)
}

fn give_up(dead: &mut Vec<(char, usize)>, closer: char, from: usize) {
    if !dead.iter().any(|&(c, _)| c == closer) {
        dead.push((closer, from));
    }
}

/// Parses inline wiki markup. Recursion only happens inside a delimiter
/// pair, and the nearest closer is always taken, so depth is bounded by the
/// number of distinct delimiters.
fn parse_inline(text: &str, marks: &[Value], out: &mut Vec<Value>) {
    let chars: Vec<char> = text.chars().collect();
    // Where a search for each closer already failed: a later search for the
    // same closer cannot succeed, and skipping it keeps a line full of
    // unmatched openers linear.
    let mut dead: Vec<(char, usize)> = Vec::new();
    let mut buf = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\\' {
            match chars.get(i + 1) {
                Some('\\') => {
                    push_text(&buf, marks, out);
                    buf.clear();
                    out.push(json!({"type": "hardBreak"}));
                    i += 2;
                }
                Some(&n) if !n.is_alphanumeric() && !n.is_whitespace() => {
                    buf.push(n);
                    i += 2;
                }
                _ => {
                    buf.push(c);
                    i += 1;
                }
            }
            continue;
        }
        if c == '&' && chars[i..].starts_with(&['&', '#', '9', '2', ';']) {
            buf.push('\\');
            i += 5;
            continue;
        }
        if c == '{' && chars.get(i + 1) == Some(&'{') {
            let end = if hopeless(&dead, '}', i) {
                None
            } else {
                (i + 2..chars.len().saturating_sub(1))
                    .find(|&j| chars[j] == '}' && chars[j + 1] == '}')
            };
            if let Some(end) = end {
                push_text(&buf, marks, out);
                buf.clear();
                let code: String = chars[i + 2..end].iter().collect();
                let mut code_marks = vec![json!({"type": "code"})];
                code_marks.extend(marks.iter().filter(|m| node_type(m) == "link").cloned());
                push_text(&code, &code_marks, out);
                i = end + 2;
                continue;
            }
            give_up(&mut dead, '}', i);
        }
        if c == '[' {
            let close = if hopeless(&dead, ']', i) {
                None
            } else {
                chars[i + 1..]
                    .iter()
                    .position(|&x| x == ']')
                    .map(|p| p + i + 1)
            };
            if close.is_none() {
                give_up(&mut dead, ']', i);
            }
            if let Some(close) = close {
                let inner: String = chars[i + 1..close].iter().collect();
                push_text(&buf, marks, out);
                buf.clear();
                let (label, target) = match inner.rsplit_once('|') {
                    Some((l, t)) => (Some(l), t.trim()),
                    None => (None, inner.trim()),
                };
                if let Some(user) = target.strip_prefix('~') {
                    push_text(&format!("@{user}"), marks, out);
                } else if target.starts_with('^') || target.is_empty() {
                    push_text(label.unwrap_or(target), marks, out);
                } else {
                    let link = json!({"type": "link", "attrs": {"href": target}});
                    let link_marks = with_mark(marks, link);
                    match label {
                        Some(label) if !label.is_empty() => parse_inline(label, &link_marks, out),
                        _ => push_text(target, &link_marks, out),
                    }
                }
                i = close + 1;
                continue;
            }
        }
        let mark = match c {
            '*' => Some("strong"),
            '_' => Some("em"),
            '-' => Some("strike"),
            '+' | '^' | '~' => Some(""),
            _ => None,
        };
        if let Some(mark) = mark {
            let opens = (i == 0 || !chars[i - 1].is_alphanumeric())
                && chars
                    .get(i + 1)
                    .is_some_and(|n| !n.is_whitespace() && *n != c);
            let closer = if opens && !hopeless(&dead, c, i) {
                (i + 2..chars.len()).find(|&j| {
                    chars[j] == c
                        && chars[j - 1] != '\\'
                        && !chars[j - 1].is_whitespace()
                        && chars.get(j + 1).is_none_or(|n| !n.is_alphanumeric())
                })
            } else {
                None
            };
            if opens && closer.is_none() {
                give_up(&mut dead, c, i);
            }
            if let Some(j) = closer {
                push_text(&buf, marks, out);
                buf.clear();
                let inner: String = chars[i + 1..j].iter().collect();
                if mark.is_empty() {
                    parse_inline(&inner, marks, out);
                } else {
                    parse_inline(&inner, &with_mark(marks, json!({"type": mark})), out);
                }
                i = j + 1;
                continue;
            }
        }
        buf.push(c);
        i += 1;
    }
    push_text(&buf, marks, out);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::path::PathBuf;

    fn corpus() -> Vec<(String, String)> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/wiki");
        let mut files: Vec<(String, String)> = std::fs::read_dir(dir)
            .expect("fixture dir")
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| p.extension().and_then(|e| e.to_str()) == Some("md"))
            .map(|p| {
                let name = p
                    .file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned();
                (name, std::fs::read_to_string(&p).expect("fixture"))
            })
            .collect();
        files.sort();
        files
    }

    /// Markdown → wiki → Markdown gives the Markdown the ADF converter
    /// normalises to, and a second round changes nothing.
    #[test]
    fn markdown_corpus_round_trips_through_wiki() {
        let files = corpus();
        assert!(files.len() >= 10);
        for (name, markdown) in files {
            let canonical = adf::to_markdown(&adf::from_markdown(&markdown));
            let wiki = from_markdown(&markdown);
            let back = to_markdown(&wiki);
            assert_eq!(back, canonical, "{name}: wiki was\n{wiki}");
            assert_eq!(from_markdown(&back), wiki, "{name}: wiki changed");
        }
    }

    #[test]
    fn writes_jira_wiki_syntax() {
        let wiki = from_markdown(
            "# Title\n\n**b** _e_ `c` ~~s~~ [t](http://u)\n\n- a\n  - b\n\n1. n\n\n```rust\nx\n```\n\n> q\n\n---\n\n| h |\n|---|\n| c |",
        );
        assert_eq!(
            wiki,
            "h1. Title\n\n*b* _e_ {{c}} -s- [t|http://u]\n\n* a\n** b\n\n# n\n\n{code:rust}\nx\n{code}\n\n{quote}\nq\n{quote}\n\n----\n\n||h||\n|c|"
        );
    }

    #[test]
    fn unmatched_openers_stay_linear() {
        // Quadratic scanning would take minutes here, not milliseconds.
        let line = "*a _b [c {{d -e ".repeat(20_000);
        let markdown = to_markdown(&line);
        assert!(markdown.len() > line.len());
    }

    #[test]
    fn block_markers_in_text_stay_text() {
        for markdown in [
            "h1. not a heading",
            "bq. not a quote",
            "\\# not a list",
            "\\- not a list",
            "\\----",
        ] {
            let wiki = from_markdown(markdown);
            let back = to_markdown(&wiki);
            assert_eq!(
                back,
                adf::to_markdown(&adf::from_markdown(markdown)),
                "{wiki}"
            );
        }
    }

    #[test]
    fn reads_jira_wiki_syntax() {
        let markdown = to_markdown(
            "h2. Heading\n\nSome *bold* and _em_ with {{code}} and -gone- and [a link|https://a.b] or [https://c.d].\nNext line\n\n* one\n** nested\n# first\n#* mixed\n- dash\n\n{code:java}\nint x;\n{code}\n\n{noformat}\nraw *text*\n{noformat}\n\nbq. quoted\n\n{quote}\nlong quote\n{quote}\n\n----\n\n||A||B||\n|1|[x|http://x.y]|\n\n[~jdoe] well-known a-b",
        );
        assert_eq!(
            markdown,
            "## Heading\n\nSome **bold** and _em_ with `code` and ~~gone~~ and [a link](https://a.b) or <https://c.d>.\\\nNext line\n\n- one\n  - nested\n\n1. first\n   - mixed\n\n- dash\n\n```java\nint x;\n```\n\n```\nraw *text*\n```\n\n> quoted\n\n> long quote\n\n---\n\n| A | B |\n| --- | --- |\n| 1 | [x](http://x.y) |\n\n@jdoe well-known a-b"
        );
    }

    /// Well-formed constructs in random order. Text never starts with a
    /// space: an indented line after a list would continue the item with a
    /// second paragraph, which wiki list items cannot hold (it comes back
    /// as a line break).
    fn construct() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z][a-z ]{0,7}",
            Just(" **bold** ".to_owned()),
            Just(" *em* ".to_owned()),
            Just(" `code` ".to_owned()),
            Just(" ~~strike~~ ".to_owned()),
            Just(" [link](http://a.b) ".to_owned()),
            Just("\n# heading\n".to_owned()),
            Just("\n- item\n".to_owned()),
            Just("\n  - nested\n".to_owned()),
            Just("\n1. one\n".to_owned()),
            Just("\n- [ ] task\n".to_owned()),
            Just("\n> quote\n".to_owned()),
            Just("\n```rust\ncode\n```\n".to_owned()),
            Just("\n---\n".to_owned()),
            Just("line\\\nbreak".to_owned()),
            Just("\n| a | b |\n|---|---|\n| c | d |\n".to_owned()),
            Just("\n\n".to_owned()),
        ]
    }
    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn generated_constructs_round_trip_through_wiki(pieces in prop::collection::vec(construct(), 0..10)) {
            let markdown: String = pieces.concat();
            let canonical = adf::to_markdown(&adf::from_markdown(&markdown));
            let wiki = from_markdown(&markdown);
            prop_assert_eq!(to_markdown(&wiki), canonical, "wiki was {:?}", wiki);
        }

        #[test]
        fn wiki_parsing_never_panics(s in any::<String>()) {
            let _ = to_markdown(&s);
        }

        #[test]
        fn wiki_like_input_never_panics(s in "[-*_#|{}\\[\\]~^+\\\\a-z .:\n]{0,80}") {
            let _ = to_markdown(&s);
            let _ = from_markdown(&s);
        }

        #[test]
        fn markdown_to_wiki_never_panics(s in any::<String>()) {
            let _ = from_markdown(&s);
        }
    }
}
