//! An issue body as csm reads and writes it: the "Acceptance criteria"
//! section (a heading of any level and case, or a line "Acceptance
//! criteria:" followed by a list) holds the criteria, task-list items and
//! plain bullets alike; the rest is the description. Ticking met criteria
//! changes only their boxes, nothing else of the text.

use std::ops::Range;

use crate::tracker::markdown;

/// Where the criteria section stands in a body (byte range, the heading or
/// lead-in line included).
fn section(body: &str) -> Option<Range<usize>> {
    let lines = lines_with_offsets(body);
    let mut fence = false;
    for (i, &(start, line)) in lines.iter().enumerate() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fence = !fence;
            continue;
        }
        if fence {
            continue;
        }
        if let Some((level, title)) = heading(line)
            && is_criteria_title(title)
        {
            // Up to the next heading of the same or a higher level.
            let mut inner_fence = false;
            for &(s, l) in &lines[i + 1..] {
                let t = l.trim();
                if t.starts_with("```") || t.starts_with("~~~") {
                    inner_fence = !inner_fence;
                }
                if !inner_fence && heading(l).is_some_and(|(lv, _)| lv <= level) {
                    return Some(start..s);
                }
            }
            return Some(start..body.len());
        }
        let plain = trimmed.trim_matches(|c| c == '*' || c == '_').trim();
        if plain.ends_with(':') && is_criteria_title(plain) {
            // A lead-in line: the list right after it (blank lines between
            // allowed), up to the first line that is neither in the list
            // nor blank-then-list.
            let mut end = None;
            let mut seen_item = false;
            for &(s, l) in &lines[i + 1..] {
                let t = l.trim_start();
                if l.trim().is_empty() {
                    continue;
                }
                let item = is_item(t);
                let continuation = seen_item && l.starts_with([' ', '\t']);
                if item || continuation {
                    seen_item = true;
                    end = Some(s + l.len());
                    continue;
                }
                break;
            }
            if seen_item {
                let end = end.unwrap_or(body.len());
                let end = body[end..]
                    .find('\n')
                    .map_or(body.len(), |n| end + n + 1)
                    .min(body.len());
                return Some(start..end);
            }
        }
    }
    None
}

fn lines_with_offsets(body: &str) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut at = 0;
    for line in body.split_inclusive('\n') {
        out.push((at, line.trim_end_matches(['\n', '\r'])));
        at += line.len();
    }
    out
}

fn heading(line: &str) -> Option<(usize, &str)> {
    let t = line
        .strip_prefix("   ")
        .or_else(|| line.strip_prefix("  "))
        .or_else(|| line.strip_prefix(' '))
        .unwrap_or(line);
    let level = t.bytes().take_while(|b| *b == b'#').count();
    if level == 0 || level > 6 {
        return None;
    }
    let rest = &t[level..];
    if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
        return None;
    }
    Some((level, rest.trim().trim_end_matches('#').trim()))
}

fn is_criteria_title(title: &str) -> bool {
    title
        .trim()
        .trim_end_matches(':')
        .trim()
        .eq_ignore_ascii_case(markdown::CRITERIA_HEADING)
}

fn is_item(t: &str) -> bool {
    if let Some(rest) = t.strip_prefix(['-', '*', '+']) {
        return rest.starts_with([' ', '\t']);
    }
    let digits = t.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && matches!(t.as_bytes().get(digits), Some(b'.') | Some(b')'))
}

/// The description (the body without the criteria section) and the
/// criteria, each the item's text without its box.
pub fn split(body: &str) -> (String, Vec<String>) {
    let body = body.replace("\r\n", "\n");
    match section(&body) {
        Some(r) => {
            let text = &body[r.clone()];
            let list = text.split_once('\n').map_or("", |(_, rest)| rest);
            let criteria: Vec<String> = markdown::list_items(list)
                .into_iter()
                .map(|(t, _)| t)
                .collect();
            let description = format!("{}{}", &body[..r.start], &body[r.end..]);
            (description.trim().to_string(), criteria)
        }
        None => (body.trim().to_string(), Vec::new()),
    }
}

/// The criteria as a task list.
pub fn task_list(criteria: &[String]) -> String {
    criteria
        .iter()
        .map(|c| format!("- [ ] {}", markdown::one_line(c)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A new issue's body: the description, then the criteria as a task list.
pub fn compose(description: &str, criteria: &[String]) -> String {
    let description = description.trim();
    if criteria.is_empty() {
        return description.to_string();
    }
    let section = format!("## Acceptance criteria\n\n{}\n", task_list(criteria));
    if description.is_empty() {
        section
    } else {
        format!("{description}\n\n{section}")
    }
}

/// `body` with its criteria section replaced by `criteria` (appended when
/// it has none), the rest of the text unchanged.
pub fn replace_criteria(body: &str, criteria: &[String]) -> String {
    let body = body.replace("\r\n", "\n");
    let new = format!("## Acceptance criteria\n\n{}\n", task_list(criteria));
    match section(&body) {
        Some(r) => {
            let after = &body[r.end..];
            let gap = if after.is_empty() { "" } else { "\n" };
            format!("{}{new}{gap}{after}", &body[..r.start])
        }
        None => compose(&body, criteria),
    }
}

/// `body` with the unticked boxes of the criteria named in `met` ticked,
/// and nothing else changed; `None` when no box needs ticking.
pub fn tick(body: &str, met: &[String]) -> Option<String> {
    let r = section(body)?;
    let lines = lines_with_offsets(body);
    let mut out = body.to_string();
    let mut changed = false;
    // Items in the section: (line index, start offset, item text chunk).
    let inside: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, (s, _))| *s > r.start && *s < r.end)
        .map(|(i, _)| i)
        .collect();
    // From the end, so offsets stay valid as boxes change (same length
    // anyway: `[ ]` → `[x]`).
    for (n, &i) in inside.iter().enumerate() {
        let (start, line) = lines[i];
        let t = line.trim_start();
        if !is_item(t) || line.len() - t.len() > 3 {
            continue;
        }
        let Some(box_at) = unticked_box(t) else {
            continue;
        };
        // The item's text: this line and its indented continuation lines.
        let mut chunk = line.to_string();
        for &j in &inside[n + 1..] {
            let (_, l) = lines[j];
            if l.trim().is_empty()
                || !l.starts_with([' ', '\t'])
                || is_item(l.trim_start()) && l.len() - l.trim_start().len() <= 3
            {
                break;
            }
            chunk.push('\n');
            chunk.push_str(l);
        }
        let Some((text, false)) = markdown::list_items(&chunk).into_iter().next() else {
            continue;
        };
        if met.iter().any(|m| markdown::one_line(m) == text) {
            let at = start + (line.len() - t.len()) + box_at;
            out.replace_range(at..at + 3, "[x]");
            changed = true;
        }
    }
    changed.then_some(out)
}

/// Where an item line's `[ ]` stands (after its marker), if it has one.
fn unticked_box(t: &str) -> Option<usize> {
    let marker = if t.starts_with(['-', '*', '+']) {
        1
    } else {
        t.bytes().take_while(u8::is_ascii_digit).count() + 1
    };
    let rest = &t[marker..];
    let spaces = rest.len() - rest.trim_start_matches([' ', '\t']).len();
    let at = marker + spaces;
    t[at..].starts_with("[ ]").then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn criteria_under_a_heading_of_any_level_and_case() {
        let body = "Users want CSV.\n\n### ACCEPTANCE CRITERIA\n\n- [ ] prints CSV\n- [x] one row per session\n* plain bullet\n\n## Notes\n\nlater";
        let (desc, ac) = split(body);
        assert_eq!(
            ac,
            vec!["prints CSV", "one row per session", "plain bullet"]
        );
        assert_eq!(desc, "Users want CSV.\n\n## Notes\n\nlater");
    }

    #[test]
    fn criteria_after_a_lead_in_line() {
        let body =
            "Intro.\r\n\r\nAcceptance criteria:\r\n- [ ] a `code` thing\r\n- b\r\n\r\nThanks!";
        let (desc, ac) = split(body);
        assert_eq!(ac, vec!["a `code` thing", "b"]);
        assert_eq!(desc, "Intro.\n\n\nThanks!");
        let (_, ac) = split("**Acceptance criteria:**\n\n1. one\n2. two\n");
        assert_eq!(ac, vec!["one", "two"]);
        // A lead-in without a list is just text.
        let (desc, ac) = split("Acceptance criteria: none yet");
        assert!(ac.is_empty());
        assert_eq!(desc, "Acceptance criteria: none yet");
    }

    #[test]
    fn no_section_no_criteria() {
        let (desc, ac) = split("Just a bug.\n\n- a list that is not criteria\n");
        assert!(ac.is_empty());
        assert!(desc.contains("a list"));
        let (_, ac) = split("```\n## Acceptance criteria\n- x\n```\n");
        assert!(ac.is_empty(), "inside a code fence");
    }

    #[test]
    fn ticking_changes_only_the_met_boxes() {
        let body = "Intro\n- [ ] prints CSV\n\n## Acceptance criteria\n\n- [ ] prints CSV\n- [ ] one row\n  per session\n- [x] already\n- [ ] not met\n\n## Other\n- [ ] prints CSV\n";
        let met = vec![
            "prints CSV".to_string(),
            "one row per session".to_string(),
            "already".to_string(),
        ];
        let ticked = tick(body, &met).unwrap();
        assert_eq!(
            ticked,
            "Intro\n- [ ] prints CSV\n\n## Acceptance criteria\n\n- [x] prints CSV\n- [x] one row\n  per session\n- [x] already\n- [ ] not met\n\n## Other\n- [ ] prints CSV\n"
        );
        assert_eq!(tick(&ticked, &met), None, "nothing left to tick");
        assert_eq!(split(&ticked).1, split(body).1, "same criteria");
    }

    #[test]
    fn ticking_keeps_crlf_line_ends() {
        let body = "Why.\r\n\r\nAcceptance criteria:\r\n- [ ] a\r\n- [ ] b\r\n";
        let ticked = tick(body, &["b".to_string()]).unwrap();
        assert_eq!(
            ticked,
            "Why.\r\n\r\nAcceptance criteria:\r\n- [ ] a\r\n- [x] b\r\n"
        );
    }

    #[test]
    fn compose_and_replace() {
        let c = vec!["a".to_string(), "b".to_string()];
        let body = compose("Why.", &c);
        assert_eq!(body, "Why.\n\n## Acceptance criteria\n\n- [ ] a\n- [ ] b\n");
        assert_eq!(split(&body), ("Why.".to_string(), c.clone()));
        let replaced = replace_criteria(
            "Why.\n\n## Acceptance criteria\n- old\n\n## Notes\nkeep",
            &c,
        );
        assert_eq!(
            replaced,
            "Why.\n\n## Acceptance criteria\n\n- [ ] a\n- [ ] b\n\n## Notes\nkeep"
        );
        assert_eq!(replace_criteria("Plain.", &c), compose("Plain.", &c));
    }
}
