//! Atlassian Document Format (ADF) ⇄ Markdown.
//!
//! Placeholder with the final signatures; the full converter replaces it.

use serde_json::{Value, json};

/// Converts an ADF document (`{"type":"doc","version":1,"content":[...]}`)
/// to Markdown. Never fails: unknown nodes are kept as their text.
pub fn to_markdown(doc: &Value) -> String {
    fn text_of(node: &Value, out: &mut String) {
        if let Some(t) = node.get("text").and_then(Value::as_str) {
            out.push_str(t);
        }
        if let Some(children) = node.get("content").and_then(Value::as_array) {
            for c in children {
                text_of(c, out);
            }
        }
    }
    let mut blocks = Vec::new();
    for block in doc
        .get("content")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let mut s = String::new();
        text_of(block, &mut s);
        blocks.push(s);
    }
    blocks.join("\n\n")
}

/// Converts Markdown to a valid ADF document.
pub fn from_markdown(markdown: &str) -> Value {
    let content: Vec<Value> = markdown
        .split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| json!({"type": "paragraph", "content": [{"type": "text", "text": p}]}))
        .collect();
    json!({"type": "doc", "version": 1, "content": content})
}
