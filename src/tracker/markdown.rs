//! Markdown shared by the trackers: acceptance criteria as list items, and
//! the "Acceptance criteria" section inside a description.

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

/// The heading that introduces acceptance criteria in a description.
pub const CRITERIA_HEADING: &str = "acceptance criteria";

/// The top-level list items of a Markdown text, one line each, with their
/// checkbox state.
pub fn list_items(section: &str) -> Vec<(String, bool)> {
    let mut items = Vec::new();
    let mut depth = 0usize;
    let mut current: Option<(String, bool)> = None;
    for event in Parser::new_ext(section, Options::ENABLE_TASKLISTS) {
        match event {
            Event::Start(Tag::Item) => {
                depth += 1;
                if depth == 1 {
                    current = Some((String::new(), false));
                }
            }
            Event::End(TagEnd::Item) => {
                if depth == 1
                    && let Some((text, done)) = current.take()
                {
                    let text = one_line(&text);
                    if !text.is_empty() {
                        items.push((text, done));
                    }
                }
                depth = depth.saturating_sub(1);
            }
            Event::TaskListMarker(done) if depth == 1 => {
                if let Some((_, d)) = current.as_mut() {
                    *d = done;
                }
            }
            Event::Text(t) => push_text(&mut current, depth, &t),
            Event::Code(t) => push_text(&mut current, depth, &format!("`{t}`")),
            Event::SoftBreak | Event::HardBreak => push_text(&mut current, depth, " "),
            Event::Start(Tag::Emphasis) | Event::End(TagEnd::Emphasis) => {
                push_text(&mut current, depth, "*")
            }
            Event::Start(Tag::Strong) | Event::End(TagEnd::Strong) => {
                push_text(&mut current, depth, "**")
            }
            Event::Start(Tag::List(_)) if depth >= 1 => push_text(&mut current, depth, " "),
            _ => {}
        }
    }
    items
}

fn push_text(current: &mut Option<(String, bool)>, depth: usize, text: &str) {
    if depth >= 1
        && let Some((buf, _)) = current.as_mut()
    {
        buf.push_str(text);
    }
}

/// Collapses white space (newlines included) into single spaces.
pub fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Criteria from Markdown text: its top-level list items, or, when it has
/// no list, its non-empty lines.
pub fn criteria(markdown: &str) -> Vec<String> {
    let items: Vec<String> = list_items(markdown).into_iter().map(|(t, _)| t).collect();
    if !items.is_empty() {
        return items;
    }
    markdown
        .lines()
        .map(one_line)
        .filter(|l| !l.is_empty())
        .collect()
}

/// Splits an "Acceptance criteria" section (a heading of any level, any
/// case, up to the next heading of the same or a higher level) out of a
/// description. Returns the description without it and the criteria, or
/// `None` when there is no such section.
pub fn split_criteria_section(markdown: &str) -> Option<(String, Vec<String>)> {
    let mut start: Option<(usize, HeadingLevel)> = None;
    let mut title = String::new();
    let mut heading: Option<(usize, HeadingLevel)> = None;
    for (event, range) in Parser::new_ext(markdown, Options::empty()).into_offset_iter() {
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                if let Some((s, l)) = start
                    && level <= l
                {
                    let section = &markdown[s..range.start];
                    return Some(assemble(markdown, s, range.start, section));
                }
                heading = Some((range.start, level));
                title.clear();
            }
            Event::Text(t) | Event::Code(t) if heading.is_some() => title.push_str(&t),
            Event::End(TagEnd::Heading(_)) => {
                if let Some((s, l)) = heading.take()
                    && start.is_none()
                    && title
                        .trim()
                        .trim_end_matches(':')
                        .eq_ignore_ascii_case(CRITERIA_HEADING)
                {
                    start = Some((s, l));
                }
            }
            _ => {}
        }
    }
    let (s, _) = start?;
    Some(assemble(markdown, s, markdown.len(), &markdown[s..]))
}

fn assemble(markdown: &str, start: usize, end: usize, section: &str) -> (String, Vec<String>) {
    // Drop the heading line itself before reading the criteria.
    let body = section.split_once('\n').map_or("", |(_, rest)| rest);
    let rest = format!("{}{}", &markdown[..start], &markdown[end..]);
    (rest.trim().to_string(), criteria(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn criteria_from_lists_or_lines() {
        assert_eq!(criteria("- a\n- [x] b\n  more\n"), vec!["a", "b more"]);
        assert_eq!(criteria("1. one\n2. two"), vec!["one", "two"]);
        assert_eq!(criteria("first\n\nsecond\n"), vec!["first", "second"]);
        assert!(criteria("").is_empty());
    }

    #[test]
    fn section_is_split_out_of_a_description() {
        let md = "Intro.\n\n## Acceptance Criteria\n\n- works\n- is fast\n\n## Notes\n\nlater";
        let (rest, ac) = split_criteria_section(md).unwrap();
        assert_eq!(ac, vec!["works", "is fast"]);
        assert_eq!(rest, "Intro.\n\n## Notes\n\nlater");
        let (rest, ac) = split_criteria_section("Text\n\n### acceptance criteria:\n* x").unwrap();
        assert_eq!((rest.as_str(), ac), ("Text", vec!["x".to_string()]));
        assert!(split_criteria_section("no section here").is_none());
    }
}
