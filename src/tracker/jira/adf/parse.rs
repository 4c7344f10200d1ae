//! Markdown → ADF, driven by pulldown-cmark's event stream.
//!
//! The builder keeps an explicit stack of open blocks, so nesting depth costs
//! heap, not call stack. Every block is shaped to fit its parent when it
//! closes: ADF forbids many combinations Markdown allows (a heading inside a
//! list item, a task list inside a quote, ...), and those are rewritten into
//! the nearest allowed form instead of producing a document Jira rejects.

use pulldown_cmark::{CodeBlockKind, Event, Options, Parser, Tag, TagEnd};
use serde_json::{Map, Value, json};

/// Lists nested deeper than this are flattened into their parent item:
/// deeper documents gain nothing readable and would only grow recursion in
/// every later consumer of the JSON.
const MAX_LIST_DEPTH: usize = 16;

/// Text marks, in the order they are written into ADF (sorted, so the same
/// Markdown always gives byte-identical JSON).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Mark {
    Strong,
    Em,
    Strike,
    Code,
    Link {
        href: String,
        title: String,
    },
    /// A span pulldown-cmark reports that ADF has no mark for.
    Ignored,
}

impl Mark {
    fn to_json(&self) -> Value {
        match self {
            Mark::Strong => json!({"type": "strong"}),
            Mark::Em => json!({"type": "em"}),
            Mark::Strike => json!({"type": "strike"}),
            Mark::Code => json!({"type": "code"}),
            Mark::Link { href, title } => {
                let mut attrs = Map::new();
                attrs.insert("href".into(), Value::String(href.clone()));
                if !title.is_empty() {
                    attrs.insert("title".into(), Value::String(title.clone()));
                }
                node("link", Some(Value::Object(attrs)), None)
            }
            Mark::Ignored => Value::Null,
        }
    }
}

enum Inline {
    Text { text: String, marks: Vec<Mark> },
    Break,
}

/// Inline content being collected; adjacent text with the same marks is
/// merged so that the output does not depend on how the parser split it.
#[derive(Default)]
struct Inlines(Vec<Inline>);

impl Inlines {
    fn push_text(&mut self, text: &str, marks: &[Mark]) {
        if text.is_empty() {
            return;
        }
        if let Some(Inline::Text {
            text: last,
            marks: m,
        }) = self.0.last_mut()
            && m.as_slice() == marks
        {
            last.push_str(text);
            return;
        }
        self.0.push(Inline::Text {
            text: text.to_owned(),
            marks: marks.to_vec(),
        });
    }

    fn push_break(&mut self) {
        self.0.push(Inline::Break);
    }

    fn append(&mut self, other: Inlines) {
        for inline in other.0 {
            match inline {
                Inline::Text { text, marks } => self.push_text(&text, &marks),
                Inline::Break => self.push_break(),
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn into_json(self) -> Vec<Value> {
        self.0
            .into_iter()
            .map(|inline| match inline {
                Inline::Text { text, marks } => {
                    let mut node = Map::new();
                    node.insert("type".into(), "text".into());
                    node.insert("text".into(), Value::String(text));
                    if !marks.is_empty() {
                        node.insert("marks".into(), marks.iter().map(Mark::to_json).collect());
                    }
                    Value::Object(node)
                }
                Inline::Break => json!({"type": "hardBreak"}),
            })
            .collect()
    }
}

/// Builds a node without `json!`, which would deep-copy embedded values
/// through serialization.
fn node(ty: &str, attrs: Option<Value>, content: Option<Vec<Value>>) -> Value {
    let mut map = Map::new();
    map.insert("type".into(), Value::String(ty.to_owned()));
    if let Some(attrs) = attrs {
        map.insert("attrs".into(), attrs);
    }
    if let Some(content) = content {
        map.insert("content".into(), Value::Array(content));
    }
    Value::Object(map)
}

fn paragraph(inlines: Inlines) -> Value {
    let content = inlines.into_json();
    if content.is_empty() {
        json!({"type": "paragraph"})
    } else {
        node("paragraph", None, Some(content))
    }
}

/// What a block container accepts, which decides how children are shaped.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Doc,
    Item,
    Quote,
}

struct Container {
    kind: Kind,
    blocks: Vec<Value>,
    /// Inline content outside any paragraph (tight list items).
    pending: Inlines,
}

impl Container {
    fn new(kind: Kind) -> Self {
        Container {
            kind,
            blocks: Vec::new(),
            pending: Inlines::default(),
        }
    }

    fn flush(&mut self) {
        if !self.pending.is_empty() {
            let inlines = std::mem::take(&mut self.pending);
            self.blocks.push(paragraph(inlines));
        }
    }
}

struct ItemResult {
    task: Option<bool>,
    blocks: Vec<Value>,
}

enum Frame {
    Container(Container),
    /// A quote inside a container that does not accept quotes: its blocks go
    /// straight to that container.
    TransparentQuote,
    List {
        start: Option<u64>,
        items: Vec<ItemResult>,
    },
    Item {
        task: Option<bool>,
        body: Container,
    },
    Paragraph(Inlines),
    Heading(u8, Inlines),
    Code {
        language: Option<String>,
        text: String,
    },
    Html(String),
    Table(Vec<(bool, Vec<Inlines>)>),
    Row(bool, Vec<Inlines>),
    Cell(Inlines),
    Other,
}

struct Builder {
    frames: Vec<Frame>,
    marks: Vec<Mark>,
    /// Open images: their URL, title and the alt text collected so far.
    images: Vec<(String, String, String)>,
    /// For each open link, how many inline pushes happened before it.
    links: Vec<usize>,
    pushes: usize,
}

/// Converts Markdown to an ADF document valid against the ADF JSON schema.
pub(super) fn document(markdown: &str) -> Value {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let mut builder = Builder {
        frames: vec![Frame::Container(Container::new(Kind::Doc))],
        marks: Vec::new(),
        images: Vec::new(),
        links: Vec::new(),
        pushes: 0,
    };
    for event in Parser::new_ext(markdown, options) {
        builder.event(event);
    }
    // Close anything left open; pulldown-cmark balances its events, so this
    // only guards against surprises.
    while builder.frames.len() > 1 {
        builder.close();
    }
    let mut content = match builder.frames.pop() {
        Some(Frame::Container(mut doc)) => {
            doc.flush();
            doc.blocks
        }
        _ => Vec::new(),
    };
    let mut next_id = 0u64;
    for block in &mut content {
        number_local_ids(block, &mut next_id);
    }
    {
        let mut doc = Map::new();
        doc.insert("type".into(), "doc".into());
        doc.insert("version".into(), 1.into());
        doc.insert("content".into(), Value::Array(content));
        Value::Object(doc)
    }
}

/// Gives task lists and items their required `localId`s in document order,
/// so equal documents get equal ids.
fn number_local_ids(node: &mut Value, next: &mut u64) {
    let Some(obj) = node.as_object_mut() else {
        return;
    };
    if matches!(
        obj.get("type").and_then(Value::as_str),
        Some("taskList" | "taskItem")
    ) && let Some(attrs) = obj.get_mut("attrs").and_then(Value::as_object_mut)
    {
        *next += 1;
        attrs.insert(
            "localId".into(),
            Value::String(format!("00000000-0000-4000-8000-{:012x}", *next)),
        );
    }
    if let Some(children) = obj.get_mut("content").and_then(Value::as_array_mut) {
        for child in children {
            number_local_ids(child, next);
        }
    }
}

impl Builder {
    fn event(&mut self, event: Event<'_>) {
        if !self.images.is_empty() {
            self.image_event(event);
            return;
        }
        match event {
            Event::Start(tag) => self.start(tag),
            Event::End(end) => self.end(end),
            Event::Text(text) => match self.frames.last_mut() {
                Some(Frame::Code { text: code, .. }) => code.push_str(&text),
                Some(Frame::Html(html)) => html.push_str(&text),
                _ => self.text(&text, false),
            },
            Event::Code(code) => self.text(&code, true),
            Event::Html(html) => match self.frames.last_mut() {
                Some(Frame::Html(block)) => block.push_str(&html),
                _ => self.text(&html, false),
            },
            Event::InlineHtml(html) => self.text(&html, false),
            Event::InlineMath(math) | Event::DisplayMath(math) => self.text(&math, true),
            Event::FootnoteReference(label) => self.text(&format!("[^{label}]"), false),
            Event::SoftBreak => self.text(" ", false),
            Event::HardBreak => {
                if let Some(target) = self.inline_target() {
                    target.push_break();
                }
                self.pushes += 1;
            }
            Event::Rule => {
                if self.parent_kind() == Kind::Doc {
                    self.add_block(json!({"type": "rule"}));
                }
            }
            Event::TaskListMarker(done) => {
                for frame in self.frames.iter_mut().rev() {
                    if let Frame::Item { task, .. } = frame {
                        *task = Some(done);
                        break;
                    }
                }
            }
        }
    }

    /// Inside an image everything is alt text; only nesting is tracked.
    fn image_event(&mut self, event: Event<'_>) {
        let Some((_, _, alt)) = self.images.last_mut() else {
            return;
        };
        match event {
            Event::Text(t) | Event::Code(t) | Event::InlineHtml(t) | Event::Html(t) => {
                alt.push_str(&t)
            }
            Event::SoftBreak | Event::HardBreak => alt.push(' '),
            Event::Start(Tag::Image {
                dest_url, title, ..
            }) => self
                .images
                .push((dest_url.to_string(), title.to_string(), String::new())),
            Event::End(TagEnd::Image) => {
                if let Some((url, title, alt)) = self.images.pop() {
                    match self.images.last_mut() {
                        Some((_, _, outer)) => outer.push_str(&alt),
                        None => self.image_done(url, title, alt),
                    }
                }
            }
            _ => {}
        }
    }

    /// An image becomes a link to it (ADF media needs an upload first).
    fn image_done(&mut self, url: String, title: String, alt: String) {
        let text = if alt.trim().is_empty() {
            url.clone()
        } else {
            alt
        };
        let mut marks = self.current_marks();
        if !marks.iter().any(|m| matches!(m, Mark::Link { .. })) && !url.is_empty() {
            marks.push(Mark::Link { href: url, title });
            marks.sort();
        }
        self.push_inline(&text, &marks);
    }

    fn current_marks(&self) -> Vec<Mark> {
        let mut marks: Vec<Mark> = Vec::new();
        for mark in &self.marks {
            let duplicate = match mark {
                Mark::Ignored => true,
                Mark::Link { .. } => marks.iter().any(|m| matches!(m, Mark::Link { .. })),
                other => marks.contains(other),
            };
            if !duplicate {
                marks.push(mark.clone());
            }
        }
        marks.sort();
        marks
    }

    fn text(&mut self, text: &str, code: bool) {
        let marks = if code {
            // ADF lets `code` combine with `link` only.
            let mut marks = vec![Mark::Code];
            if let Some(link) = self.marks.iter().find(|m| matches!(m, Mark::Link { .. })) {
                marks.push(link.clone());
            }
            marks
        } else {
            self.current_marks()
        };
        self.push_inline(text, &marks);
    }

    fn push_inline(&mut self, text: &str, marks: &[Mark]) {
        if text.is_empty() {
            return;
        }
        self.pushes += 1;
        if let Some(target) = self.inline_target() {
            target.push_text(text, marks);
        }
    }

    fn inline_target(&mut self) -> Option<&mut Inlines> {
        for frame in self.frames.iter_mut().rev() {
            match frame {
                Frame::Paragraph(i) | Frame::Heading(_, i) | Frame::Cell(i) => return Some(i),
                Frame::Container(c) | Frame::Item { body: c, .. } => return Some(&mut c.pending),
                Frame::Code { .. } | Frame::Html(_) => return None,
                _ => {}
            }
        }
        None
    }

    fn container(&mut self) -> Option<&mut Container> {
        for frame in self.frames.iter_mut().rev() {
            match frame {
                Frame::Container(c) | Frame::Item { body: c, .. } => return Some(c),
                Frame::TransparentQuote | Frame::Other => {}
                _ => return None,
            }
        }
        None
    }

    fn parent_kind(&self) -> Kind {
        for frame in self.frames.iter().rev() {
            match frame {
                Frame::Container(c) => return c.kind,
                Frame::Item { .. } => return Kind::Item,
                _ => {}
            }
        }
        Kind::Doc
    }

    fn add_block(&mut self, block: Value) {
        if let Some(container) = self.container() {
            container.flush();
            container.blocks.push(block);
        }
    }

    fn list_depth(&self) -> usize {
        self.frames
            .iter()
            .filter(|f| matches!(f, Frame::List { .. }))
            .count()
    }

    fn start(&mut self, tag: Tag<'_>) {
        let frame = match tag {
            Tag::Paragraph => Frame::Paragraph(Inlines::default()),
            Tag::Heading { level, .. } => Frame::Heading(level as u8, Inlines::default()),
            Tag::BlockQuote(_) => {
                if self.parent_kind() == Kind::Doc {
                    Frame::Container(Container::new(Kind::Quote))
                } else {
                    Frame::TransparentQuote
                }
            }
            Tag::CodeBlock(kind) => {
                let language = match kind {
                    CodeBlockKind::Fenced(info) => {
                        info.split_whitespace().next().map(str::to_owned)
                    }
                    CodeBlockKind::Indented => None,
                };
                Frame::Code {
                    language,
                    text: String::new(),
                }
            }
            Tag::HtmlBlock => Frame::Html(String::new()),
            Tag::List(start) => Frame::List {
                start,
                items: Vec::new(),
            },
            Tag::Item => Frame::Item {
                task: None,
                body: Container::new(Kind::Item),
            },
            Tag::Table(_) => Frame::Table(Vec::new()),
            Tag::TableHead => Frame::Row(true, Vec::new()),
            Tag::TableRow => Frame::Row(false, Vec::new()),
            Tag::TableCell => Frame::Cell(Inlines::default()),
            Tag::Emphasis => return self.marks.push(Mark::Em),
            Tag::Strong => return self.marks.push(Mark::Strong),
            Tag::Strikethrough => return self.marks.push(Mark::Strike),
            Tag::Superscript | Tag::Subscript => return self.marks.push(Mark::Ignored),
            Tag::Link {
                dest_url, title, ..
            } => {
                self.links.push(self.pushes);
                return self.marks.push(Mark::Link {
                    href: dest_url.to_string(),
                    title: title.to_string(),
                });
            }
            Tag::Image {
                dest_url, title, ..
            } => {
                self.images
                    .push((dest_url.to_string(), title.to_string(), String::new()));
                return;
            }
            Tag::FootnoteDefinition(_)
            | Tag::DefinitionList
            | Tag::DefinitionListTitle
            | Tag::DefinitionListDefinition
            | Tag::MetadataBlock(_) => Frame::Other,
        };
        self.frames.push(frame);
    }

    fn end(&mut self, end: TagEnd) {
        match end {
            TagEnd::Emphasis
            | TagEnd::Strong
            | TagEnd::Strikethrough
            | TagEnd::Superscript
            | TagEnd::Subscript => {
                self.marks.pop();
            }
            TagEnd::Link => {
                let before = self.links.pop().unwrap_or(usize::MAX);
                if before == self.pushes
                    && let Some(Mark::Link { href, .. }) = self.marks.last().cloned()
                {
                    // `[](url)` would vanish entirely; keep the URL.
                    let marks = self.current_marks();
                    self.push_inline(&href, &marks);
                }
                self.marks.pop();
            }
            TagEnd::Image => {}
            _ => self.close(),
        }
    }

    fn close(&mut self) {
        if self.frames.len() <= 1 {
            return;
        }
        let Some(frame) = self.frames.pop() else {
            return;
        };
        let parent = self.parent_kind();
        match frame {
            Frame::Paragraph(inlines) => self.add_block(paragraph(inlines)),
            Frame::Heading(level, inlines) => {
                // A setext heading may hold a hard break; Markdown headings
                // written back are one line, so it becomes a space.
                let mut flat = Inlines::default();
                for inline in inlines.0 {
                    match inline {
                        Inline::Text { text, marks } => flat.push_text(&text, &marks),
                        Inline::Break => flat.push_text(" ", &[]),
                    }
                }
                let inlines = flat;
                if parent == Kind::Doc {
                    let mut node = json!({"type": "heading", "attrs": {"level": level}});
                    let content = inlines.into_json();
                    if !content.is_empty() {
                        node["content"] = Value::Array(content);
                    }
                    self.add_block(node);
                } else {
                    self.add_block(paragraph(inlines));
                }
            }
            Frame::Container(mut quote) => {
                quote.flush();
                if quote.blocks.is_empty() {
                    quote.blocks.push(paragraph(Inlines::default()));
                }
                self.add_block(node("blockquote", None, Some(quote.blocks)));
            }
            Frame::TransparentQuote | Frame::Other => {}
            Frame::Code { language, text } => {
                let text = text.strip_suffix('\n').unwrap_or(&text);
                let mut node = json!({"type": "codeBlock"});
                if let Some(language) = language {
                    node["attrs"] = json!({"language": language});
                }
                if !text.is_empty() {
                    node["content"] = json!([{"type": "text", "text": text}]);
                }
                self.add_block(node);
            }
            Frame::Html(html) => {
                // Raw HTML is kept as text, one line per hard break.
                let mut inlines = Inlines::default();
                for line in html.lines().map(str::trim).filter(|l| !l.is_empty()) {
                    if !inlines.is_empty() {
                        inlines.push_break();
                    }
                    inlines.push_text(line, &[]);
                }
                if !inlines.is_empty() {
                    self.add_block(paragraph(inlines));
                }
            }
            Frame::Item { task, mut body } => {
                body.flush();
                if let Some(Frame::List { items, .. }) = self.frames.last_mut() {
                    items.push(ItemResult {
                        task,
                        blocks: body.blocks,
                    });
                }
            }
            Frame::List { start, items } => self.close_list(start, items, parent),
            Frame::Cell(inlines) => {
                if let Some(Frame::Row(_, cells)) = self.frames.last_mut() {
                    cells.push(inlines);
                }
            }
            Frame::Row(head, cells) => {
                if let Some(Frame::Table(rows)) = self.frames.last_mut() {
                    rows.push((head, cells));
                }
            }
            Frame::Table(rows) => self.close_table(rows, parent),
        }
    }

    fn close_list(&mut self, start: Option<u64>, items: Vec<ItemResult>, parent: Kind) {
        if items.is_empty() {
            return;
        }
        if self.list_depth() >= MAX_LIST_DEPTH {
            for item in items {
                for block in with_task_prefix(item.task, item.blocks) {
                    self.add_block(block);
                }
            }
            return;
        }
        let all_tasks = start.is_none()
            && parent != Kind::Quote
            && items.iter().all(|item| {
                item.task.is_some()
                    && item.blocks.iter().enumerate().all(|(i, b)| {
                        let t = b.get("type").and_then(Value::as_str);
                        (i == 0 && t == Some("paragraph")) || t == Some("taskList")
                    })
            });
        if all_tasks {
            let mut content = Vec::new();
            for item in items {
                let state = if item.task == Some(true) {
                    "DONE"
                } else {
                    "TODO"
                };
                let mut task =
                    json!({"type": "taskItem", "attrs": {"localId": "", "state": state}});
                for block in item.blocks {
                    if block.get("type").and_then(Value::as_str) == Some("paragraph") {
                        if let Some(inline) = block.get("content") {
                            task["content"] = inline.clone();
                        }
                    } else {
                        content.push(task);
                        task = block;
                    }
                }
                content.push(task);
            }
            let list = node("taskList", Some(json!({"localId": ""})), Some(content));
            self.add_block(list);
            return;
        }
        let content: Vec<Value> = items
            .into_iter()
            .map(|item| {
                let mut blocks = with_task_prefix(item.task, item.blocks);
                let first = blocks
                    .first()
                    .and_then(|b| b.get("type"))
                    .and_then(Value::as_str);
                if !matches!(first, Some("paragraph" | "codeBlock")) {
                    // Jira wants a list item to open with text.
                    blocks.insert(0, paragraph(Inlines::default()));
                }
                node("listItem", None, Some(blocks))
            })
            .collect();
        let list = match start {
            Some(order) => node("orderedList", Some(json!({"order": order})), Some(content)),
            None => node("bulletList", None, Some(content)),
        };
        self.add_block(list);
    }

    fn close_table(&mut self, rows: Vec<(bool, Vec<Inlines>)>, parent: Kind) {
        if parent != Kind::Doc {
            // Tables are not allowed here: one paragraph per row.
            for (_, cells) in rows {
                let mut line = Inlines::default();
                for (i, cell) in cells.into_iter().enumerate() {
                    if i > 0 {
                        line.push_text(" | ", &[]);
                    }
                    line.append(cell);
                }
                self.add_block(paragraph(line));
            }
            return;
        }
        let columns = rows.iter().map(|(_, cells)| cells.len()).max().unwrap_or(0);
        if columns == 0 {
            return;
        }
        let content: Vec<Value> = rows
            .into_iter()
            .map(|(head, cells)| {
                let kind = if head { "tableHeader" } else { "tableCell" };
                let mut cells: Vec<Value> = cells
                    .into_iter()
                    .map(|c| node(kind, None, Some(vec![paragraph(c)])))
                    .collect();
                while cells.len() < columns {
                    cells.push(node(kind, None, Some(vec![paragraph(Inlines::default())])));
                }
                node("tableRow", None, Some(cells))
            })
            .collect();
        self.add_block(node("table", None, Some(content)));
    }
}

/// A task item that cannot be an ADF taskItem keeps its box as text.
fn with_task_prefix(task: Option<bool>, mut blocks: Vec<Value>) -> Vec<Value> {
    let Some(done) = task else {
        return blocks;
    };
    let mark = if done { "[x]" } else { "[ ]" };
    let first_is_paragraph = blocks
        .first()
        .and_then(|b| b.get("type"))
        .and_then(Value::as_str)
        == Some("paragraph");
    if !first_is_paragraph {
        blocks.insert(0, json!({"type": "paragraph"}));
    }
    let Some(para) = blocks.first_mut().and_then(Value::as_object_mut) else {
        return blocks;
    };
    let content = para
        .entry("content")
        .or_insert_with(|| Value::Array(Vec::new()));
    if let Some(content) = content.as_array_mut() {
        match content.first_mut() {
            Some(first)
                if first.get("marks").is_none()
                    && first.get("type").and_then(Value::as_str) == Some("text") =>
            {
                let rest = first.get("text").and_then(Value::as_str).unwrap_or("");
                first["text"] = Value::String(format!("{mark} {rest}"));
            }
            Some(_) => content.insert(0, json!({"type": "text", "text": format!("{mark} ")})),
            None => content.push(json!({"type": "text", "text": mark})),
        }
    }
    blocks
}
