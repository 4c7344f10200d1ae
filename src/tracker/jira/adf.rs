//! Atlassian Document Format (ADF) ⇄ Markdown.
//!
//! Jira Cloud stores descriptions and comments as ADF, a JSON tree; csm
//! shows and edits them as Markdown. [`to_markdown`] reads any JSON without
//! failing and keeps the text of every node it does not know.
//! [`from_markdown`] parses with pulldown-cmark (tables, strikethrough and
//! task lists enabled) and always yields a document that validates against
//! the ADF JSON schema: constructs ADF has no place for are rewritten
//! (images become links, raw HTML becomes text, a heading inside a list
//! becomes a paragraph). Converting Markdown to ADF and back is stable after
//! one round: the Markdown written converts to the same ADF again.

use serde_json::Value;

mod parse;
mod render;

/// Reading ADF nodes, for the renderers (Markdown here, wiki markup in
/// `wiki`): every accessor tolerates missing or mistyped fields.
pub(crate) mod node {
    use serde_json::Value;

    /// The node's `type`, or "".
    pub(crate) fn node_type(node: &Value) -> &str {
        node.get("type").and_then(Value::as_str).unwrap_or("")
    }

    /// The node's `content`, or nothing.
    pub(crate) fn children(node: &Value) -> &[Value] {
        node.get("content")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// A string attribute.
    pub(crate) fn attr<'a>(node: &'a Value, name: &str) -> Option<&'a str> {
        node.get("attrs")
            .and_then(|a| a.get(name))
            .and_then(Value::as_str)
    }
}

/// Converts an ADF document (`{"type":"doc","version":1,"content":[...]}`)
/// to Markdown. Never fails and never panics: unknown nodes are kept as
/// their text, malformed fields are ignored.
pub fn to_markdown(doc: &Value) -> String {
    render::document(doc)
}

/// Converts Markdown to an ADF document that validates against the ADF
/// JSON schema (v1, full).
pub fn from_markdown(markdown: &str) -> Value {
    parse::document(markdown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;
    use std::collections::BTreeSet;
    use std::path::PathBuf;
    use std::sync::OnceLock;

    fn fixtures() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
    }

    fn validator() -> &'static jsonschema::Validator {
        static VALIDATOR: OnceLock<jsonschema::Validator> = OnceLock::new();
        VALIDATOR.get_or_init(|| {
            let text = std::fs::read_to_string(fixtures().join("adf-schema-v1-full.json"))
                .expect("schema fixture");
            let schema: Value = serde_json::from_str(&text).expect("schema JSON");
            jsonschema::validator_for(&schema).expect("schema compiles")
        })
    }

    pub(crate) fn assert_valid(doc: &Value, context: &str) {
        let errors: Vec<String> = validator()
            .iter_errors(doc)
            .take(5)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "invalid ADF for {context}:\n{}\n{}",
            errors.join("\n"),
            serde_json::to_string_pretty(doc).unwrap_or_default()
        );
    }

    /// Markdown → ADF → Markdown → ADF → Markdown: the second round changes
    /// nothing.
    fn assert_stable(markdown: &str, context: &str) -> (Value, String) {
        let adf1 = from_markdown(markdown);
        assert_valid(&adf1, context);
        let md1 = to_markdown(&adf1);
        let adf2 = from_markdown(&md1);
        assert_valid(&adf2, context);
        assert_eq!(
            adf1, adf2,
            "ADF changed on the second round for {context}; markdown was:\n{md1}"
        );
        assert_eq!(md1, to_markdown(&adf2), "Markdown changed for {context}");
        (adf1, md1)
    }

    fn corpus(dir: &str, ext: &str) -> Vec<(String, String)> {
        let mut files: Vec<(String, String)> = std::fs::read_dir(fixtures().join(dir))
            .expect("fixture dir")
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| {
                p.extension().and_then(|e| e.to_str()) == Some(ext)
                    && !p.to_string_lossy().ends_with(".expected.md")
            })
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

    fn collect_types(node: &Value, nodes: &mut BTreeSet<String>, marks: &mut BTreeSet<String>) {
        if let Some(t) = node.get("type").and_then(Value::as_str) {
            nodes.insert(t.to_owned());
        }
        for mark in node
            .get("marks")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(t) = mark.get("type").and_then(Value::as_str) {
                marks.insert(t.to_owned());
            }
        }
        for child in node
            .get("content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            collect_types(child, nodes, marks);
        }
    }

    #[test]
    fn markdown_corpus_round_trips_stably() {
        let files = corpus("adf", "md");
        assert!(files.len() >= 25, "corpus has {} documents", files.len());
        let mut nodes = BTreeSet::new();
        let mut marks = BTreeSet::new();
        for (name, markdown) in &files {
            let (adf, _) = assert_stable(markdown, name);
            collect_types(&adf, &mut nodes, &mut marks);
        }
        for node in [
            "paragraph",
            "heading",
            "bulletList",
            "orderedList",
            "listItem",
            "taskList",
            "taskItem",
            "codeBlock",
            "blockquote",
            "rule",
            "hardBreak",
            "table",
            "tableRow",
            "tableHeader",
            "tableCell",
            "text",
        ] {
            assert!(nodes.contains(node), "corpus never produces {node}");
        }
        for mark in ["strong", "em", "code", "strike", "link"] {
            assert!(
                marks.contains(mark),
                "corpus never produces the {mark} mark"
            );
        }
    }

    #[test]
    fn adf_fixtures_render_as_expected() {
        let files = corpus("adf", "json");
        assert!(files.len() >= 9);
        for (name, text) in files {
            let doc: Value = serde_json::from_str(&text).expect("fixture JSON");
            let expected_path = fixtures()
                .join("adf")
                .join(name.replace(".json", ".expected.md"));
            let expected = std::fs::read_to_string(&expected_path).expect("expected Markdown");
            assert_eq!(to_markdown(&doc), expected.trim_end_matches('\n'), "{name}");
            // What it renders to converts back into valid ADF.
            assert_stable(&to_markdown(&doc), &name);
        }
    }

    #[test]
    fn empty_markdown_gives_an_empty_valid_doc() {
        let doc = from_markdown("");
        assert_eq!(doc, json!({"type": "doc", "version": 1, "content": []}));
        assert_valid(&doc, "empty");
        assert_eq!(to_markdown(&doc), "");
        assert_valid(&from_markdown("   \n\n  "), "blank");
    }

    #[test]
    fn task_lists_carry_ids_and_states() {
        let doc = from_markdown("- [ ] a\n- [x] b");
        let list = &doc["content"][0];
        assert_eq!(list["type"], "taskList");
        assert_eq!(list["content"][0]["attrs"]["state"], "TODO");
        assert_eq!(list["content"][1]["attrs"]["state"], "DONE");
        assert!(
            list["attrs"]["localId"]
                .as_str()
                .is_some_and(|s| !s.is_empty())
        );
        assert_ne!(
            list["content"][0]["attrs"]["localId"],
            list["content"][1]["attrs"]["localId"]
        );
    }

    #[test]
    fn code_combines_only_with_link() {
        let doc = from_markdown("**`x`** [*`y`*](http://a.b)");
        assert_valid(&doc, "code marks");
        let content = &doc["content"][0]["content"];
        assert_eq!(content[0]["marks"], json!([{"type": "code"}]));
        assert_eq!(
            content[2]["marks"],
            json!([{"type": "code"}, {"type": "link", "attrs": {"href": "http://a.b"}}])
        );
    }

    #[test]
    fn images_and_html_become_links_and_text() {
        let doc = from_markdown("![logo](http://a.b/l.png) <span>x</span>");
        assert_valid(&doc, "images");
        assert_eq!(
            to_markdown(&doc),
            "[logo](http://a.b/l.png) \\<span>x\\</span>"
        );
    }

    #[test]
    fn garbage_json_renders_without_panicking() {
        for doc in [
            json!(null),
            json!(42),
            json!("plain *string*"),
            json!([{"type": "paragraph", "content": [{"type": "text", "text": "in array"}]}]),
            json!({"type": "doc", "content": "not an array"}),
            json!({"type": "doc", "content": [1, "two", null, {"type": 3}]}),
            json!({"type": "doc", "content": [{"type": "heading", "attrs": {"level": "x"}}]}),
            json!({"type": "doc", "content": [{"type": "orderedList", "attrs": {"order": -5e300}, "content": [{}]}]}),
            json!({"type": "doc", "content": [{"type": "table", "content": [{"type": "tableRow"}]}]}),
            json!({"type": "doc", "content": [{"type": "text", "text": "bare", "marks": [{"type": "link"}, 7]}]}),
        ] {
            let _ = to_markdown(&doc);
        }
        assert_eq!(to_markdown(&json!("plain *string*")), "plain \\*string\\*");
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let mut node = json!({"type": "text", "text": "deep"});
        for _ in 0..5000 {
            let mut wrapper = serde_json::Map::new();
            wrapper.insert("type".into(), json!("blockquote"));
            wrapper.insert("content".into(), Value::Array(vec![node]));
            node = Value::Object(wrapper);
        }
        let mut doc = json!({"type": "doc", "version": 1, "content": []});
        doc["content"] = Value::Array(vec![node]);
        assert!(to_markdown(&doc).contains("deep"));
        // Dropping a 5000-deep Value recurses; leak it to keep the test
        // about the renderer.
        std::mem::forget(doc);

        let markdown = "- ".repeat(2000) + "x";
        let adf = from_markdown(&markdown);
        assert_valid(&adf, "deep list");
        assert!(to_markdown(&adf).contains('x'));
        let quotes = ">".repeat(5000) + " y";
        assert_valid(&from_markdown(&quotes), "deep quote");
    }

    #[test]
    fn a_megabyte_of_markdown_converts() {
        let chunk = "## Heading\n\nSome **bold** text with a [link](http://a.b) and `code`.\n\n- item\n  - nested\n- [ ] task\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n```\ncode\n```\n\n";
        let markdown = chunk.repeat(1_000_000 / chunk.len() + 1);
        let started = std::time::Instant::now();
        let adf = from_markdown(&markdown);
        let back = to_markdown(&adf);
        // Not a timing assertion (benches/ is for that); printed for the record.
        eprintln!("1 MB round trip took {:?}", started.elapsed());
        assert!(back.len() > 500_000);
    }

    fn markdown_piece() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z ]{0,12}",
            any::<String>(),
            "[-*_`~#>|\\[\\]()!<&\\\\ \n0-9a-z.:]{0,24}",
            Just("**bold**".to_owned()),
            Just("*em*".to_owned()),
            Just("`code`".to_owned()),
            Just("~~strike~~".to_owned()),
            Just("[link](http://a.b \"t\")".to_owned()),
            Just("![img](http://a.b/i.png)".to_owned()),
            Just("<https://auto.link>".to_owned()),
            Just("\n# heading\n".to_owned()),
            Just("\n- item\n".to_owned()),
            Just("\n  - nested\n".to_owned()),
            Just("\n1. one\n".to_owned()),
            Just("\n- [ ] task\n".to_owned()),
            Just("\n- [x] done\n".to_owned()),
            Just("\n> quote\n".to_owned()),
            Just("\n```rust\ncode\n```\n".to_owned()),
            Just("\n---\n".to_owned()),
            Just("line\\\nbreak".to_owned()),
            Just("\n| a | b |\n|---|---|\n| c | d |\n".to_owned()),
            Just("<div>\nhtml\n</div>".to_owned()),
            Just("\n\n".to_owned()),
            Just("    ".to_owned()),
        ]
    }

    /// Well-formed constructs glued in random order: the round trip must
    /// be stable for them, not only for the hand-written corpus.
    fn construct() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z ]{1,8}",
            Just("**bold**".to_owned()),
            Just("*em*".to_owned()),
            Just("`code`".to_owned()),
            Just("~~strike~~".to_owned()),
            Just("[link](http://a.b)".to_owned()),
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
            Just(" **a *b* c** ".to_owned()),
            Just(" _u_ ".to_owned()),
            Just("\n   - deeper\n".to_owned()),
            Just("\n2. two\n".to_owned()),
            Just("\n- [x] done\n".to_owned()),
            Just("![i](http://i.png)".to_owned()),
            Just("<b>".to_owned()),
            Just("<http://auto.link>".to_owned()),
            Just(" ".to_owned()),
            Just("\n> - q\n".to_owned()),
            Just("\n>\n".to_owned()),
            Just("\n    indented\n".to_owned()),
        ]
    }

    fn arbitrary_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_map(|n| json!(n)),
            prop_oneof![
                Just("doc"),
                Just("paragraph"),
                Just("text"),
                Just("heading"),
                Just("bulletList"),
                Just("orderedList"),
                Just("listItem"),
                Just("taskList"),
                Just("taskItem"),
                Just("table"),
                Just("tableRow"),
                Just("tableCell"),
                Just("codeBlock"),
                Just("panel"),
                Just("mention"),
                Just("link"),
                Just("strong"),
                Just("hardBreak"),
                Just("mediaSingle"),
                Just("expand"),
                Just("date"),
            ]
            .prop_map(|s| json!(s)),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(6, 64, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::btree_map(
                    prop_oneof![
                        Just("type".to_owned()),
                        Just("content".to_owned()),
                        Just("text".to_owned()),
                        Just("attrs".to_owned()),
                        Just("marks".to_owned()),
                        Just("level".to_owned()),
                        Just("href".to_owned()),
                        Just("order".to_owned()),
                        Just("state".to_owned()),
                        Just("url".to_owned()),
                        any::<String>(),
                    ],
                    inner,
                    0..6
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn generated_markdown_gives_valid_adf(pieces in prop::collection::vec(markdown_piece(), 0..16)) {
            let markdown: String = pieces.concat();
            let adf = from_markdown(&markdown);
            assert_valid(&adf, &markdown);
            // And what it renders to is valid ADF again.
            let again = from_markdown(&to_markdown(&adf));
            assert_valid(&again, &markdown);
        }

        #[test]
        fn generated_constructs_round_trip_stably(pieces in prop::collection::vec(construct(), 0..12)) {
            assert_stable(&pieces.concat(), "generated");
        }

        #[test]
        fn to_markdown_never_panics(doc in arbitrary_json()) {
            let _ = to_markdown(&doc);
        }
    }
}
