//! The local Markdown tracker: one file per ticket under
//! `<repo>/.csm/tickets/KEY.md`, the embedded default when no Jira is
//! configured.
//!
//! A ticket file is TOML front matter between `+++` lines and a Markdown
//! body, pleasant to read and edit by hand:
//!
//! ```markdown
//! +++
//! key = "CSM-1"
//! summary = "Add a --json flag to list"
//! status = "To Do"
//! labels = ["cli"]
//! created = "2026-11-25T07:00:00Z"
//! updated = "2026-11-25T07:00:00Z"
//!
//! [properties]
//! "csm.session" = '{"codex_session_id":"..."}'
//! +++
//!
//! Scripts need output they can parse.
//!
//! ## Acceptance criteria
//!
//! - [ ] `csm list --json` prints a JSON array
//! - [x] each element has `key` and `status`
//!
//! ## Notes
//!
//! ### 2026-11-25T07:10:00Z
//!
//! A note (a comment), in Markdown.
//! ```
//!
//! The description is everything in the body but the `## Acceptance
//! criteria` and `## Notes` sections. Properties are stored as JSON text,
//! since TOML has no null. Unknown front-matter keys and unknown sections
//! survive every change csm makes.
//!
//! Every write takes an exclusive lock on `.csm/tickets/.lock` (so two
//! processes never allocate the same key or lose each other's change) and
//! replaces the file atomically (temporary file, fsync, rename), so a crash
//! never leaves half a ticket. A file that cannot be parsed is reported
//! with its path and line, and left untouched.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

use super::markdown::{list_items, one_line};
use super::{
    Comment, NewTicket, Query, Ticket, TicketKey, TicketUpdate, Tracker, TrackerError, TrackerId,
    TrackerKind, Transition, key,
};

const FENCE: &str = "+++";
const AC_HEADING: &str = "acceptance criteria";
const NOTES_HEADING: &str = "notes";

/// The local Markdown tracker of one repository.
#[derive(Clone, Debug)]
pub struct LocalTracker {
    root: PathBuf,
    dir: PathBuf,
    prefix: String,
    statuses: Vec<String>,
}

impl LocalTracker {
    /// A tracker for the repository at `root`; new tickets get keys
    /// `PREFIX-N`; `statuses` is the workflow, first status first.
    pub fn new(
        root: &Path,
        prefix: String,
        statuses: Vec<String>,
    ) -> Result<LocalTracker, TrackerError> {
        let prefix = key::validate_prefix(&prefix).map_err(|e| TrackerError::Rejected {
            tracker: TrackerId::Local(root.to_path_buf()).to_string(),
            action: "the configured key prefix".into(),
            message: e.to_string(),
        })?;
        let statuses = if statuses.is_empty() {
            vec!["To Do".into(), "In Progress".into(), "Done".into()]
        } else {
            statuses
        };
        Ok(LocalTracker {
            root: root.to_path_buf(),
            dir: root.join(crate::paths::REPO_DIR).join("tickets"),
            prefix,
            statuses,
        })
    }

    /// A status's category: the workflow's first status is not started,
    /// its last is finished, the others are started.
    fn category(&self, status: &str) -> Option<super::StatusCategory> {
        let at = self
            .statuses
            .iter()
            .position(|s| s.eq_ignore_ascii_case(status))?;
        Some(if at == 0 {
            super::StatusCategory::New
        } else if at + 1 == self.statuses.len() {
            super::StatusCategory::Done
        } else {
            super::StatusCategory::Indeterminate
        })
    }

    /// The folder holding the ticket files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, key: &TicketKey) -> PathBuf {
        // Keys are validated: letters, digits, `_`, one dash and a number.
        self.dir.join(format!("{key}.md"))
    }

    fn not_found(&self, key: &TicketKey) -> TrackerError {
        TrackerError::NotFound {
            key: key.to_string(),
            tracker: self.id(),
        }
    }

    fn read(&self, key: &TicketKey) -> Result<TicketFile, TrackerError> {
        let path = self.path(key);
        let text = match read_ticket_file(&path) {
            Ok(t) => t,
            Err(ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(self.not_found(key));
            }
            Err(ReadError::Io(source)) => return Err(io_error("cannot read", &path, source)),
            Err(ReadError::Refused(message)) => {
                return Err(TrackerError::BadTicketFile {
                    path: path.display().to_string(),
                    line: 1,
                    message: message.into(),
                });
            }
        };
        TicketFile::parse(&path, &text, Some(key))
    }

    /// Takes the directory lock, reads the ticket, lets `change` edit it,
    /// and writes it back atomically if `change` says so.
    fn modify<T>(
        &self,
        key: &TicketKey,
        change: impl FnOnce(&mut TicketFile) -> Result<(T, bool), TrackerError>,
    ) -> Result<T, TrackerError> {
        let _lock = self.lock()?;
        let mut file = self.read(key)?;
        let (out, changed) = change(&mut file)?;
        if changed {
            file.touch();
            write_atomic(&self.path(key), &file.render(), false)?;
        }
        Ok(out)
    }

    fn lock(&self) -> Result<File, TrackerError> {
        fs::create_dir_all(&self.dir).map_err(|e| io_error("cannot create", &self.dir, e))?;
        let path = self.dir.join(".lock");
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| io_error("cannot open", &path, e))?;
        file.lock().map_err(|e| io_error("cannot lock", &path, e))?;
        Ok(file)
    }

    fn keys(&self) -> Result<Vec<TicketKey>, TrackerError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_error("cannot list", &self.dir, e)),
        };
        let mut keys: Vec<TicketKey> = entries
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name();
                let stem = name.to_str()?.strip_suffix(".md")?;
                let key = TicketKey::parse(stem).ok()?;
                (key.as_str() == stem).then_some(key)
            })
            .collect();
        keys.sort_by(|a, b| (a.prefix(), a.number()).cmp(&(b.prefix(), b.number())));
        Ok(keys)
    }
}

impl Tracker for LocalTracker {
    fn kind(&self) -> TrackerKind {
        TrackerKind::Local
    }

    fn id(&self) -> String {
        let root = fs::canonicalize(&self.root).unwrap_or_else(|_| self.root.clone());
        TrackerId::Local(root).to_string()
    }

    fn get(&self, key: &TicketKey) -> Result<Ticket, TrackerError> {
        Ok(self.read(key)?.ticket(&self.path(key)))
    }

    fn search(&self, query: &Query) -> Result<Vec<Ticket>, TrackerError> {
        let keys = match query {
            Query::All => self.keys()?,
            Query::Keys(keys) => keys.clone(),
            Query::Native(_) => {
                return Err(TrackerError::Unsupported {
                    tracker: "the local tracker".into(),
                    what: "native queries (JQL)".into(),
                });
            }
        };
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            match self.read(&key) {
                Ok(file) => out.push(file.ticket(&self.path(&key))),
                Err(TrackerError::NotFound { .. }) if matches!(query, Query::Keys(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    fn comments(&self, key: &TicketKey) -> Result<Vec<Comment>, TrackerError> {
        Ok(self.read(key)?.comments())
    }

    fn comment(&self, key: &TicketKey, body: &str) -> Result<Comment, TrackerError> {
        self.modify(key, |file| {
            let created = now();
            let id = file.comments().len() + 1;
            file.append_note(&created, body);
            Ok((
                Comment {
                    id: id.to_string(),
                    author: None,
                    body: body.trim().to_string(),
                    created: Some(created),
                },
                true,
            ))
        })
    }

    fn transitions(&self, key: &TicketKey) -> Result<Vec<Transition>, TrackerError> {
        let current = self.read(key)?.string("status").unwrap_or_default();
        Ok(self
            .statuses
            .iter()
            .filter(|s| !s.eq_ignore_ascii_case(&current))
            .map(|s| Transition {
                id: s.clone(),
                name: s.clone(),
                to_status: s.clone(),
                required_fields: Vec::new(),
                to_category: self.category(s),
            })
            .collect())
    }

    fn workflow_statuses(
        &self,
        _key: &TicketKey,
    ) -> Result<Option<Vec<(String, Option<super::StatusCategory>)>>, TrackerError> {
        Ok(Some(
            self.statuses
                .iter()
                .map(|s| (s.clone(), self.category(s)))
                .collect(),
        ))
    }

    fn status(
        &self,
        key: &TicketKey,
    ) -> Result<(String, Option<super::StatusCategory>), TrackerError> {
        let status = self.read(key)?.string("status").unwrap_or_default();
        let category = self.category(&status);
        Ok((status, category))
    }

    fn transition(&self, key: &TicketKey, target: &str) -> Result<String, TrackerError> {
        let Some(status) = self
            .statuses
            .iter()
            .find(|s| s.eq_ignore_ascii_case(target.trim()))
            .cloned()
        else {
            return Err(TrackerError::NoSuchTransition {
                key: key.to_string(),
                target: target.to_string(),
                available: self.statuses.clone(),
            });
        };
        self.modify(key, |file| {
            if file.string("status").as_deref() == Some(status.as_str()) {
                return Ok((status, false));
            }
            file.set("status", toml::Value::String(status.clone()));
            Ok((status, true))
        })
    }

    fn create(&self, ticket: &NewTicket) -> Result<TicketKey, TrackerError> {
        let prefix = match &ticket.project {
            Some(p) => key::validate_prefix(p).map_err(|e| TrackerError::Rejected {
                tracker: self.id(),
                action: "the project".into(),
                message: e.to_string(),
            })?,
            None => self.prefix.clone(),
        };
        let _lock = self.lock()?;
        let next = self
            .keys()?
            .iter()
            .filter(|k| k.prefix() == prefix)
            .map(TicketKey::number)
            .max()
            .unwrap_or(0)
            + 1;
        let key = TicketKey::from_parts(&prefix, next).map_err(|e| TrackerError::Rejected {
            tracker: self.id(),
            action: "allocating a key".into(),
            message: e.to_string(),
        })?;
        let file = TicketFile::new(&key, ticket, &self.statuses[0]);
        write_atomic(&self.path(&key), &file.render(), true)?;
        Ok(key)
    }

    fn update(&self, key: &TicketKey, update: &TicketUpdate) -> Result<(), TrackerError> {
        self.modify(key, |file| {
            if let Some(summary) = &update.summary {
                file.set("summary", toml::Value::String(one_line(summary)));
            }
            if let Some(description) = &update.description {
                file.set_description(description);
            }
            if let Some(ac) = &update.acceptance_criteria {
                file.set_acceptance_criteria(ac);
            }
            Ok(((), true))
        })
    }

    fn log_work(&self, key: &TicketKey, seconds: u64, comment: &str) -> Result<(), TrackerError> {
        // `[[work_log]]` tables in the front matter: when, how long, why.
        self.modify(key, |file| {
            let logs = file
                .front
                .entry("work_log")
                .or_insert_with(|| toml::Value::Array(Vec::new()));
            if !logs.is_array() {
                *logs = toml::Value::Array(Vec::new());
            }
            if let toml::Value::Array(list) = logs {
                let mut entry = toml::Table::new();
                entry.insert("logged".into(), toml::Value::String(now()));
                entry.insert(
                    "seconds".into(),
                    toml::Value::Integer(i64::try_from(seconds).unwrap_or(i64::MAX)),
                );
                entry.insert("comment".into(), toml::Value::String(comment.to_string()));
                list.push(toml::Value::Table(entry));
            }
            Ok(((), true))
        })
    }

    fn has_work_log(&self, key: &TicketKey, marker: &str) -> Result<bool, TrackerError> {
        let file = self.read(key)?;
        Ok(file
            .front
            .get("work_log")
            .and_then(|v| v.as_array())
            .into_iter()
            .flatten()
            .filter_map(|e| e.get("comment").and_then(|c| c.as_str()))
            .any(|c| c.contains(marker)))
    }

    fn set_property(
        &self,
        key: &TicketKey,
        name: &str,
        value: &serde_json::Value,
    ) -> Result<(), TrackerError> {
        self.modify(key, |file| {
            let props = file
                .front
                .entry("properties")
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if !props.is_table() {
                *props = toml::Value::Table(toml::Table::new());
            }
            if let toml::Value::Table(t) = props {
                t.insert(name.to_string(), toml::Value::String(value.to_string()));
            }
            Ok(((), true))
        })
    }

    fn link_pull_request(
        &self,
        key: &TicketKey,
        url: &str,
        _title: &str,
    ) -> Result<(), TrackerError> {
        self.modify(key, |file| {
            let same = file.front.get("pull_request").and_then(|v| v.as_str()) == Some(url);
            file.front
                .insert("pull_request".into(), toml::Value::String(url.to_string()));
            Ok(((), !same))
        })
    }

    fn property(
        &self,
        key: &TicketKey,
        name: &str,
    ) -> Result<Option<serde_json::Value>, TrackerError> {
        let path = self.path(key);
        let file = self.read(key)?;
        let Some(raw) = file
            .front
            .get("properties")
            .and_then(|p| p.get(name))
            .and_then(toml::Value::as_str)
        else {
            return Ok(None);
        };
        serde_json::from_str(raw)
            .map(Some)
            .map_err(|e| TrackerError::BadTicketFile {
                path: path.display().to_string(),
                line: file.line_of(name),
                message: format!("property \"{name}\" is not valid JSON: {e}"),
            })
    }
}

/// Which part of the body a section is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SectionKind {
    /// Text before the first level-2 heading.
    Preamble,
    /// `## Acceptance criteria`.
    Criteria,
    /// `## Notes`.
    Notes,
    /// Any other level-2 section (part of the description).
    Other,
}

/// A slice of the body, kept verbatim unless csm changes it.
#[derive(Clone, Debug)]
struct Section {
    kind: SectionKind,
    text: String,
}

/// A parsed ticket file.
#[derive(Clone, Debug)]
struct TicketFile {
    front: toml::Table,
    /// The front matter's source, to locate problems by line.
    front_text: String,
    sections: Vec<Section>,
}

impl TicketFile {
    fn parse(
        path: &Path,
        text: &str,
        expected: Option<&TicketKey>,
    ) -> Result<TicketFile, TrackerError> {
        let bad = |line: usize, message: String| TrackerError::BadTicketFile {
            path: path.display().to_string(),
            line,
            message,
        };
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let Some(rest) = text
            .strip_prefix(FENCE)
            .and_then(|r| r.strip_prefix('\n').or_else(|| r.strip_prefix("\r\n")))
        else {
            return Err(bad(
                1,
                "expected front matter starting with a `+++` line".into(),
            ));
        };
        let (front_text, body) = split_front(rest)
            .ok_or_else(|| bad(1, "the front matter has no closing `+++` line".into()))?;
        let front: toml::Table = toml::from_str(front_text).map_err(|e| {
            let line = e.span().map_or(0, |s| {
                front_text[..s.start.min(front_text.len())]
                    .matches('\n')
                    .count()
            });
            bad(line + 2, e.message().trim().to_string())
        })?;
        let file = TicketFile {
            front,
            front_text: front_text.to_string(),
            sections: split_sections(body),
        };
        for field in ["key", "summary", "status"] {
            if file.string(field).is_none() {
                return Err(bad(
                    file.line_of(field).max(2),
                    format!("the front matter needs a string `{field}`"),
                ));
            }
        }
        let key_text = file.string("key").unwrap_or_default();
        match (TicketKey::parse(&key_text), expected) {
            (Err(e), _) => return Err(bad(file.line_of("key"), e.to_string())),
            (Ok(k), Some(expected)) if &k != expected => {
                return Err(bad(
                    file.line_of("key"),
                    format!("key \"{k}\" does not match the file name {expected}.md"),
                ));
            }
            _ => {}
        }
        Ok(file)
    }

    fn new(key: &TicketKey, t: &NewTicket, status: &str) -> TicketFile {
        let mut front = toml::Table::new();
        let created = now();
        front.insert("key".into(), key.to_string().into());
        front.insert("summary".into(), one_line(&t.summary).into());
        front.insert("status".into(), status.into());
        if let Some(kind) = &t.issue_type {
            front.insert("type".into(), kind.clone().into());
        }
        front.insert(
            "labels".into(),
            toml::Value::Array(t.labels.iter().map(|l| l.clone().into()).collect()),
        );
        front.insert("created".into(), created.clone().into());
        front.insert("updated".into(), created.into());
        let mut file = TicketFile {
            front,
            front_text: String::new(),
            sections: Vec::new(),
        };
        file.set_description(&t.description);
        if !t.acceptance_criteria.is_empty() {
            file.set_acceptance_criteria(&t.acceptance_criteria);
        }
        file
    }

    fn string(&self, field: &str) -> Option<String> {
        self.front
            .get(field)
            .and_then(toml::Value::as_str)
            .map(str::to_string)
    }

    fn set(&mut self, field: &str, value: toml::Value) {
        self.front.insert(field.to_string(), value);
    }

    fn touch(&mut self) {
        self.set("updated", now().into());
    }

    /// The line (1-based, in the file) where `field` is set, else 2.
    fn line_of(&self, field: &str) -> usize {
        self.front_text
            .lines()
            .position(|l| {
                let l = l.trim_start();
                l.strip_prefix(field)
                    .or_else(|| l.strip_prefix(&format!("\"{field}\"")))
                    .is_some_and(|r| r.trim_start().starts_with('='))
            })
            .map_or(2, |i| i + 2)
    }

    fn ticket(&self, path: &Path) -> Ticket {
        let labels = self
            .front
            .get("labels")
            .and_then(toml::Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(toml::Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        Ticket {
            key: self
                .string("key")
                .and_then(|k| TicketKey::parse(&k).ok())
                .unwrap_or_else(|| TicketKey::from_parts("X", 1).expect("valid literal key")),
            summary: self.string("summary").unwrap_or_default(),
            description: self.description(),
            acceptance_criteria: self.criteria().into_iter().map(|(text, _)| text).collect(),
            status: self.string("status").unwrap_or_default(),
            labels,
            issue_type: self.string("type"),
            updated: self.string("updated"),
            comment_count: self.comments().len(),
            url: Some(path.display().to_string()),
        }
    }

    fn description(&self) -> String {
        self.sections
            .iter()
            .filter(|s| matches!(s.kind, SectionKind::Preamble | SectionKind::Other))
            .map(|s| s.text.as_str())
            .collect::<String>()
            .trim()
            .to_string()
    }

    fn set_description(&mut self, description: &str) {
        self.sections
            .retain(|s| matches!(s.kind, SectionKind::Criteria | SectionKind::Notes));
        let text = description.trim();
        let text = if text.is_empty() {
            String::new()
        } else {
            format!("{text}\n")
        };
        self.sections.insert(
            0,
            Section {
                kind: SectionKind::Preamble,
                text,
            },
        );
    }

    /// The criteria, each with its checkbox state.
    fn criteria(&self) -> Vec<(String, bool)> {
        self.sections
            .iter()
            .filter(|s| s.kind == SectionKind::Criteria)
            .flat_map(|s| list_items(&s.text))
            .collect()
    }

    fn set_acceptance_criteria(&mut self, criteria: &[String]) {
        let old = self.criteria();
        let mut text = String::from("## Acceptance criteria\n\n");
        for c in criteria {
            let line = one_line(c);
            let done = old.iter().any(|(t, d)| *d && *t == line);
            text.push_str(&format!("- [{}] {line}\n", if done { "x" } else { " " }));
        }
        let section = Section {
            kind: SectionKind::Criteria,
            text,
        };
        if let Some(i) = self
            .sections
            .iter()
            .position(|s| s.kind == SectionKind::Criteria)
        {
            self.sections[i] = section;
            // Only one criteria section survives a rewrite.
            let mut seen = false;
            self.sections.retain(|s| {
                if s.kind != SectionKind::Criteria {
                    return true;
                }
                let keep = !seen;
                seen = true;
                keep
            });
        } else {
            let at = self
                .sections
                .iter()
                .position(|s| s.kind == SectionKind::Notes)
                .unwrap_or(self.sections.len());
            self.sections.insert(at, section);
        }
    }

    fn comments(&self) -> Vec<Comment> {
        let mut out = Vec::new();
        for section in self
            .sections
            .iter()
            .filter(|s| s.kind == SectionKind::Notes)
        {
            for (heading, body) in h3_blocks(&section.text) {
                out.push(Comment {
                    id: (out.len() + 1).to_string(),
                    author: None,
                    body: body.trim().to_string(),
                    created: Some(heading),
                });
            }
        }
        out
    }

    fn append_note(&mut self, created: &str, body: &str) {
        let note = format!("### {created}\n\n{}\n", demote_headings(body.trim()));
        if let Some(section) = self
            .sections
            .iter_mut()
            .rev()
            .find(|s| s.kind == SectionKind::Notes)
        {
            if !section.text.ends_with('\n') {
                section.text.push('\n');
            }
            section.text.push('\n');
            section.text.push_str(&note);
        } else {
            self.sections.push(Section {
                kind: SectionKind::Notes,
                text: format!("## Notes\n\n{note}"),
            });
        }
    }

    fn render(&self) -> String {
        let front = toml::to_string(&self.front).unwrap_or_default();
        let mut out = format!("{FENCE}\n{front}");
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(FENCE);
        out.push('\n');
        for section in &self.sections {
            if section.text.is_empty() {
                continue;
            }
            if !out.ends_with("\n\n") {
                out.push('\n');
            }
            out.push_str(&section.text);
            if !out.ends_with('\n') {
                out.push('\n');
            }
        }
        out
    }
}

/// Splits the text after the opening fence at the closing `+++` line.
fn split_front(rest: &str) -> Option<(&str, &str)> {
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == FENCE {
            return Some((&rest[..offset], &rest[offset + line.len()..]));
        }
        offset += line.len();
    }
    None
}

/// Splits a body at its level-2 headings (found by the Markdown parser, so
/// a `##` inside a code block is not a heading).
fn split_sections(body: &str) -> Vec<Section> {
    let mut starts: Vec<(usize, SectionKind)> = vec![(0, SectionKind::Preamble)];
    let mut in_h2: Option<(usize, String)> = None;
    for (event, range) in Parser::new_ext(body, Options::empty()).into_offset_iter() {
        match event {
            Event::Start(Tag::Heading {
                level: HeadingLevel::H2,
                ..
            }) => in_h2 = Some((range.start, String::new())),
            Event::Text(t) | Event::Code(t) => {
                if let Some((_, title)) = in_h2.as_mut() {
                    title.push_str(&t);
                }
            }
            Event::End(TagEnd::Heading(HeadingLevel::H2)) => {
                if let Some((start, title)) = in_h2.take() {
                    let kind = match title.trim().to_lowercase().as_str() {
                        AC_HEADING => SectionKind::Criteria,
                        NOTES_HEADING => SectionKind::Notes,
                        _ => SectionKind::Other,
                    };
                    starts.push((start, kind));
                }
            }
            _ => {}
        }
    }
    let mut sections = Vec::with_capacity(starts.len());
    for (i, (start, kind)) in starts.iter().enumerate() {
        let end = starts.get(i + 1).map_or(body.len(), |(s, _)| *s);
        let text = &body[*start..end];
        if *kind == SectionKind::Preamble {
            sections.push(Section {
                kind: *kind,
                text: text.trim_start_matches('\n').to_string(),
            });
        } else {
            sections.push(Section {
                kind: *kind,
                text: text.to_string(),
            });
        }
    }
    sections
}

/// The `### heading` blocks of the Notes section: (heading text, body).
fn h3_blocks(section: &str) -> Vec<(String, String)> {
    let mut heads: Vec<(usize, usize, String)> = Vec::new();
    let mut open: Option<(usize, String)> = None;
    for (event, range) in Parser::new_ext(section, Options::empty()).into_offset_iter() {
        match event {
            Event::Start(Tag::Heading {
                level: HeadingLevel::H3,
                ..
            }) => open = Some((range.start, String::new())),
            Event::Text(t) | Event::Code(t) => {
                if let Some((_, title)) = open.as_mut() {
                    title.push_str(&t);
                }
            }
            Event::End(TagEnd::Heading(HeadingLevel::H3)) => {
                if let Some((start, title)) = open.take() {
                    heads.push((start, range.end, title.trim().to_string()));
                }
            }
            _ => {}
        }
    }
    heads
        .iter()
        .enumerate()
        .map(|(i, (_, body_start, title))| {
            let end = heads.get(i + 1).map_or(section.len(), |(s, _, _)| *s);
            (title.clone(), section[*body_start..end].to_string())
        })
        .collect()
}

/// Pushes headings of levels 1–3 in a note down to level 4, so a note can
/// never start a section of its own in the ticket file.
fn demote_headings(body: &str) -> String {
    let mut inserts: Vec<(usize, usize)> = Vec::new();
    for (event, range) in Parser::new_ext(body, Options::empty()).into_offset_iter() {
        if let Event::Start(Tag::Heading { level, .. }) = event {
            let level = level as usize;
            let starts_atx = body[range.start..].trim_start().starts_with('#');
            if level <= 3 && starts_atx {
                let hashes_at = range.start + body[range.start..].find('#').unwrap_or(0);
                inserts.push((hashes_at, 4 - level));
            }
        }
    }
    let mut out = body.to_string();
    for (at, n) in inserts.into_iter().rev() {
        out.insert_str(at, &"#".repeat(n));
    }
    out
}

fn now() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Second)
        .map_or_else(|_| jiff::Timestamp::now().to_string(), |t| t.to_string())
}

/// The largest local ticket file csm reads.
pub const MAX_TICKET_FILE_BYTES: u64 = 4 * 1024 * 1024;

enum ReadError {
    Io(std::io::Error),
    Refused(&'static str),
}

/// Reads a ticket file that is a regular file (never through a symbolic
/// link: a repository could point one at any file of the user's) of at most
/// [`MAX_TICKET_FILE_BYTES`].
fn read_ticket_file(path: &Path) -> Result<String, ReadError> {
    use std::io::Read;
    const SYMLINK: &str = "is a symbolic link; csm reads only regular ticket files";
    if fs::symlink_metadata(path)
        .map_err(ReadError::Io)?
        .file_type()
        .is_symlink()
    {
        return Err(ReadError::Refused(SYMLINK));
    }
    let mut options = File::options();
    options.read(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::custom_flags(&mut options, libc::O_NOFOLLOW);
    let file = options.open(path).map_err(|e| {
        if e.raw_os_error() == Some(libc::ELOOP) {
            ReadError::Refused(SYMLINK)
        } else {
            ReadError::Io(e)
        }
    })?;
    let meta = file.metadata().map_err(ReadError::Io)?;
    if !meta.is_file() {
        return Err(ReadError::Refused("is not a regular file"));
    }
    let too_big = "is larger than 4 MiB; csm does not read ticket files that large";
    if meta.len() > MAX_TICKET_FILE_BYTES {
        return Err(ReadError::Refused(too_big));
    }
    let mut bytes = Vec::new();
    file.take(MAX_TICKET_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(ReadError::Io)?;
    if bytes.len() as u64 > MAX_TICKET_FILE_BYTES {
        return Err(ReadError::Refused(too_big));
    }
    String::from_utf8(bytes).map_err(|_| ReadError::Refused("is not UTF-8 text"))
}

fn io_error(action: &'static str, path: &Path, source: std::io::Error) -> TrackerError {
    TrackerError::Io {
        action,
        path: path.display().to_string(),
        source,
    }
}

/// Replaces (or, with `create_new`, creates) `path` atomically: a temporary
/// file in the same folder, fsync, then rename.
fn write_atomic(path: &Path, text: &str, create_new: bool) -> Result<(), TrackerError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(|e| io_error("cannot create", dir, e))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .suffix(".md")
        .tempfile_in(dir)
        .map_err(|e| io_error("cannot write in", dir, e))?;
    let perms = fs::metadata(path).map(|m| m.permissions()).ok();
    tmp.write_all(text.as_bytes())
        .and_then(|()| tmp.as_file().sync_all())
        .map_err(|e| io_error("cannot write", path, e))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let perms = perms.unwrap_or_else(|| fs::Permissions::from_mode(0o644));
        tmp.as_file()
            .set_permissions(perms)
            .map_err(|e| io_error("cannot write", path, e))?;
    }
    #[cfg(not(unix))]
    let _ = perms;
    let persisted = if create_new {
        tmp.persist_noclobber(path)
    } else {
        tmp.persist(path)
    };
    persisted.map_err(|e| io_error("cannot write", path, e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tracker(dir: &Path) -> LocalTracker {
        LocalTracker::new(dir, "CSM".into(), Vec::new()).unwrap()
    }

    fn key(s: &str) -> TicketKey {
        TicketKey::parse(s).unwrap()
    }

    fn sample(t: &LocalTracker) -> TicketKey {
        t.create(&NewTicket {
            summary: "Add a --json flag".into(),
            description: "Scripts need it.\n\nSecond paragraph.".into(),
            acceptance_criteria: vec!["prints JSON".into(), "has `key`".into()],
            labels: vec!["cli".into()],
            ..NewTicket::default()
        })
        .unwrap()
    }

    #[test]
    fn create_get_and_list() {
        let dir = tempfile::tempdir().unwrap();
        let t = tracker(dir.path());
        let k = sample(&t);
        assert_eq!(k.as_str(), "CSM-1");
        let ticket = t.get(&k).unwrap();
        assert_eq!(ticket.summary, "Add a --json flag");
        assert_eq!(ticket.description, "Scripts need it.\n\nSecond paragraph.");
        assert_eq!(ticket.acceptance_criteria, vec!["prints JSON", "has `key`"]);
        assert_eq!(ticket.status, "To Do");
        assert_eq!(ticket.labels, vec!["cli"]);
        let k2 = t
            .create(&NewTicket {
                summary: "Other".into(),
                ..NewTicket::default()
            })
            .unwrap();
        assert_eq!(k2.as_str(), "CSM-2");
        let all = t.search(&Query::All).unwrap();
        assert_eq!(all.len(), 2);
        let some = t
            .search(&Query::Keys(vec![k2.clone(), key("CSM-77")]))
            .unwrap();
        assert_eq!(some.len(), 1);
        assert!(matches!(
            t.search(&Query::Native("x".into())),
            Err(TrackerError::Unsupported { .. })
        ));
        // No temporary files are left behind.
        let names: Vec<String> = fs::read_dir(t.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.starts_with(".tmp-")), "{names:?}");
    }

    #[test]
    fn transition_comment_update_property() {
        let dir = tempfile::tempdir().unwrap();
        let t = tracker(dir.path());
        let k = sample(&t);
        assert_eq!(t.transition(&k, "in progress").unwrap(), "In Progress");
        assert_eq!(t.transition(&k, "In Progress").unwrap(), "In Progress");
        match t.transition(&k, "Shipped").unwrap_err() {
            TrackerError::NoSuchTransition { available, .. } => {
                assert_eq!(available, vec!["To Do", "In Progress", "Done"])
            }
            e => panic!("{e:?}"),
        }
        assert_eq!(t.transitions(&k).unwrap().len(), 2);

        t.comment(&k, "First note").unwrap();
        let c = t.comment(&k, "## Heading inside\n\nbody").unwrap();
        assert_eq!(c.id, "2");
        let comments = t.comments(&k).unwrap();
        assert_eq!(comments.len(), 2);
        assert_eq!(comments[0].body, "First note");
        assert!(comments[1].body.contains("#### Heading inside"));
        // The note's heading did not become a section: the criteria stand.
        assert_eq!(t.get(&k).unwrap().acceptance_criteria.len(), 2);

        t.update(
            &k,
            &TicketUpdate {
                summary: Some("New summary".into()),
                acceptance_criteria: Some(vec!["prints JSON".into(), "third".into()]),
                ..TicketUpdate::default()
            },
        )
        .unwrap();
        let ticket = t.get(&k).unwrap();
        assert_eq!(ticket.summary, "New summary");
        assert_eq!(ticket.acceptance_criteria, vec!["prints JSON", "third"]);
        assert_eq!(ticket.comment_count, 2);
        assert_eq!(ticket.description, "Scripts need it.\n\nSecond paragraph.");

        let value = serde_json::json!({"id": "abc", "n": null, "list": [1, 2]});
        t.set_property(&k, "csm.session", &value).unwrap();
        assert_eq!(t.property(&k, "csm.session").unwrap(), Some(value));
        assert_eq!(t.property(&k, "other").unwrap(), None);
    }

    #[test]
    fn hand_edited_file_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let t = tracker(dir.path());
        fs::create_dir_all(t.dir()).unwrap();
        let text = "+++\nkey = \"CSM-3\"\nsummary = \"Hand made\"\nstatus = \"To Do\"\nowner = \"ana\"\n+++\n\nIntro.\n\n## Context\n\nSome context.\n\n```\n## not a heading\n```\n\n## Acceptance criteria\n\n- [x] first one\n  continues here\n- [ ] second\n  - nested detail\n\n## Risks\n\nNone known.\n";
        fs::write(t.dir().join("CSM-3.md"), text).unwrap();
        let k = key("CSM-3");
        let ticket = t.get(&k).unwrap();
        assert_eq!(
            ticket.acceptance_criteria,
            vec!["first one continues here", "second nested detail"]
        );
        assert!(ticket.description.contains("## Context"));
        assert!(ticket.description.contains("## not a heading"));
        assert!(ticket.description.contains("## Risks"));
        t.transition(&k, "Done").unwrap();
        t.comment(&k, "a note").unwrap();
        let after = fs::read_to_string(t.dir().join("CSM-3.md")).unwrap();
        assert!(after.contains("owner = \"ana\""), "{after}");
        assert!(after.contains("## Risks\n\nNone known."), "{after}");
        assert!(after.contains("- [x] first one"), "{after}");
        assert!(after.contains("## Notes"), "{after}");
        // Rewriting the criteria keeps the state of unchanged ones.
        t.update(
            &k,
            &TicketUpdate {
                acceptance_criteria: Some(vec!["first one continues here".into()]),
                ..TicketUpdate::default()
            },
        )
        .unwrap();
        let after = fs::read_to_string(t.dir().join("CSM-3.md")).unwrap();
        assert!(after.contains("- [x] first one continues here"), "{after}");
        assert!(after.contains("## Risks"), "{after}");
    }

    #[test]
    fn broken_front_matter_names_line_and_leaves_file() {
        let dir = tempfile::tempdir().unwrap();
        let t = tracker(dir.path());
        fs::create_dir_all(t.dir()).unwrap();
        let path = t.dir().join("CSM-1.md");
        let cases = [
            (
                "+++\nkey = \"CSM-1\"\nsummary = = \"x\"\nstatus = \"To Do\"\n+++\n",
                3,
            ),
            ("no front matter\n", 1),
            ("+++\nkey = \"CSM-1\"\nsummary = \"x\"\n", 1),
            ("+++\nkey = \"CSM-1\"\nstatus = \"To Do\"\n+++\n", 2),
            (
                "+++\nkey = \"CSM-2\"\nsummary = \"x\"\nstatus = \"To Do\"\n+++\n",
                2,
            ),
        ];
        for (text, line) in cases {
            fs::write(&path, text).unwrap();
            match t.transition(&key("CSM-1"), "Done").unwrap_err() {
                TrackerError::BadTicketFile {
                    line: l, path: p, ..
                } => {
                    assert_eq!(l, line, "{text:?}");
                    assert!(p.ends_with("CSM-1.md"));
                }
                e => panic!("{text:?}: {e:?}"),
            }
            assert!(t.comment(&key("CSM-1"), "x").is_err());
            assert_eq!(fs::read_to_string(&path).unwrap(), text);
        }
        assert!(matches!(
            t.get(&key("CSM-404")).unwrap_err(),
            TrackerError::NotFound { .. }
        ));
    }

    #[test]
    fn concurrent_creates_get_distinct_keys() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let root = root.clone();
                std::thread::spawn(move || {
                    tracker(&root)
                        .create(&NewTicket {
                            summary: format!("t{i}"),
                            ..NewTicket::default()
                        })
                        .unwrap()
                })
            })
            .collect();
        let mut keys: Vec<String> = threads
            .into_iter()
            .map(|t| t.join().unwrap().to_string())
            .collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), 8);
    }

    #[test]
    fn project_overrides_prefix_and_is_validated() {
        let dir = tempfile::tempdir().unwrap();
        let t = tracker(dir.path());
        let k = t
            .create(&NewTicket {
                project: Some("web".into()),
                summary: "x".into(),
                ..NewTicket::default()
            })
            .unwrap();
        assert_eq!(k.as_str(), "WEB-1");
        assert!(
            t.create(&NewTicket {
                project: Some("../evil".into()),
                summary: "x".into(),
                ..NewTicket::default()
            })
            .is_err()
        );
    }

    proptest::proptest! {
        #[test]
        fn parsing_never_panics(text in ".{0,400}") {
            let _ = TicketFile::parse(Path::new("x.md"), &text, None);
            let with_front = format!("+++\nkey = \"CSM-1\"\nsummary = \"s\"\nstatus = \"To Do\"\n+++\n{text}");
            if let Ok(file) = TicketFile::parse(Path::new("x.md"), &with_front, None) {
                let _ = file.ticket(Path::new("x.md"));
                let _ = file.render();
            }
        }
    }
}
