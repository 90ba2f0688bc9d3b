//! `markdown-sections`: a Markdown document the candidate wrote in the session's workspace
//! (incident notes, a runbook) has the required sections, each with some substance. Only the
//! structure is graded; whether the notes are any good is for the interviewer, and the
//! evidence says so.

use std::path::{Path, PathBuf};

use super::{Ctx, Outcome, Status, clip};
use crate::backend::Result;
use crate::scenario::syntax::heading_key;
use crate::scenario::{MarkdownSectionsCheck, RequiredSection};

/// Notes longer than this are not read (and a candidate has no reason to write them).
const MAX_BYTES: u64 = 1 << 20;

const QUALITY_NOTE: &str = "structure is graded here (required headings, words per section); \
     the quality of the notes is for the interviewer to mark";

pub async fn run(k: &MarkdownSectionsCheck, cx: &Ctx<'_>) -> Result<Outcome> {
    let file = &k.file.value;
    let text = match read_inside(cx.workspace, file) {
        Ok(text) => text,
        Err(Unreadable::Missing) => {
            return Ok(Outcome::fail(
                format!("{file} does not exist in the session workspace"),
                vec![
                    format!("looked for {}", cx.workspace.join(file).display()),
                    QUALITY_NOTE.into(),
                ],
            ));
        }
        Err(Unreadable::Refused(why)) => {
            return Ok(Outcome::fail(
                format!("{file} was not read: {why}"),
                vec![QUALITY_NOTE.into()],
            ));
        }
        Err(Unreadable::Io(path, e)) => {
            return Ok(Outcome::new(
                Status::Error,
                format!("could not run: failed to read {}", path.display()),
                vec![format!("caused by: {e}")],
            ));
        }
    };
    Ok(grade(file, &text, &k.sections, k.min_words.value as usize))
}

enum Unreadable {
    Missing,
    /// The candidate's file is there but is not something the check reads.
    Refused(String),
    Io(PathBuf, std::io::Error),
}

/// Reads `rel` under `workspace`, refusing a path (or a link) that leads outside it.
fn read_inside(workspace: &Path, rel: &str) -> std::result::Result<String, Unreadable> {
    let joined = crate::scenario::syntax::safe_join(workspace, rel)
        .map_err(|why| Unreadable::Refused(format!("the path {why}")))?;
    let real = match joined.canonicalize() {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(Unreadable::Missing),
        Err(e) => return Err(Unreadable::Io(joined, e)),
    };
    let root = workspace
        .canonicalize()
        .map_err(|e| Unreadable::Io(workspace.to_path_buf(), e))?;
    if !real.starts_with(&root) {
        return Err(Unreadable::Refused(
            "it is a link that leads outside the workspace".into(),
        ));
    }
    let meta = std::fs::metadata(&real).map_err(|e| Unreadable::Io(real.clone(), e))?;
    if !meta.is_file() {
        return Err(Unreadable::Refused("it is not a regular file".into()));
    }
    if meta.len() > MAX_BYTES {
        return Err(Unreadable::Refused(format!(
            "it is {} bytes, more than the {MAX_BYTES} this check reads",
            meta.len()
        )));
    }
    // Opened without blocking and checked again: the candidate may swap the file for a FIFO
    // after the check above.
    let bytes = crate::tree::read_regular(&real, MAX_BYTES).map_err(|e| Unreadable::Io(real, e))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// A heading and the words of its section (up to the next heading of the same or a higher
/// level, so subsections count towards their parent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Section {
    pub level: usize,
    pub title: String,
    /// 1-based line of the heading.
    pub line: usize,
    pub words: usize,
}

/// What one line of the document turned out to be.
enum Line {
    Heading { level: usize, title: String },
    Text { words: usize },
}

/// The sections of a Markdown document: ATX (`## Title`) and setext (underlined) headings,
/// outside code fences and HTML comments.
pub(crate) fn sections(text: &str) -> Vec<Section> {
    let mut lines: Vec<Line> = Vec::new();
    // The previous line was paragraph text, so an underline below it makes it a heading.
    let mut paragraph_before = false;
    let mut fence: Option<(char, usize)> = None;
    let mut in_comment = false;
    for raw in text.lines() {
        let indent = raw.len() - raw.trim_start_matches(' ').len();
        let trimmed = raw.trim();
        if let Some((ch, len)) = fence {
            if indent <= 3 && is_fence_close(trimmed, ch, len) {
                fence = None;
            }
            lines.push(Line::Text {
                words: count_words(raw),
            });
            paragraph_before = false;
            continue;
        }
        if in_comment {
            if let Some(end) = raw.find("-->") {
                in_comment = false;
                lines.push(Line::Text {
                    words: count_words(&raw[end + 3..]),
                });
            } else {
                lines.push(Line::Text { words: 0 });
            }
            paragraph_before = false;
            continue;
        }
        if indent <= 3
            && let Some(open) = fence_open(trimmed)
        {
            fence = Some(open);
            lines.push(Line::Text {
                words: count_words(raw),
            });
            paragraph_before = false;
            continue;
        }
        let (visible, opens_comment) = strip_comments(raw);
        if opens_comment {
            in_comment = true;
        }
        if indent <= 3
            && let Some((level, title)) = atx_heading(trimmed)
        {
            lines.push(Line::Heading { level, title });
            paragraph_before = false;
            continue;
        }
        if indent <= 3
            && paragraph_before
            && let Some(level) = setext_underline(trimmed)
        {
            if lines.pop().is_some() {
                let title = last_paragraph_line(text, lines.len());
                lines.push(Line::Heading { level, title });
            }
            lines.push(Line::Text { words: 0 });
            paragraph_before = false;
            continue;
        }
        let blank = visible.trim().is_empty();
        paragraph_before = !blank && !is_list_or_quote(visible.trim_start()) && indent <= 3;
        lines.push(Line::Text {
            words: count_words(&visible),
        });
    }

    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let Line::Heading { level, title } = line else {
            continue;
        };
        let mut words = 0;
        for next in &lines[i + 1..] {
            match next {
                Line::Heading { level: l, .. } if l <= level => break,
                Line::Heading { title, .. } => words += count_words(title),
                Line::Text { words: w } => words += w,
            }
        }
        out.push(Section {
            level: *level,
            title: title.clone(),
            line: i + 1,
            words,
        });
    }
    out
}

/// The text of line `index` (0-based), trimmed: the paragraph line an underline turns into a
/// heading.
fn last_paragraph_line(text: &str, index: usize) -> String {
    text.lines()
        .nth(index)
        .map(|l| l.trim().to_string())
        .unwrap_or_default()
}

fn fence_open(trimmed: &str) -> Option<(char, usize)> {
    let ch = trimmed.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let len = trimmed.chars().take_while(|c| *c == ch).count();
    if len < 3 {
        return None;
    }
    // A backtick fence's info string may not contain backticks (CommonMark).
    if ch == '`' && trimmed[len..].contains('`') {
        return None;
    }
    Some((ch, len))
}

fn is_fence_close(trimmed: &str, ch: char, len: usize) -> bool {
    let run = trimmed.chars().take_while(|c| *c == ch).count();
    run >= len && trimmed[run * ch.len_utf8()..].trim().is_empty()
}

fn atx_heading(trimmed: &str) -> Option<(usize, String)> {
    let level = trimmed.chars().take_while(|c| *c == '#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let rest = &trimmed[level..];
    if !rest.is_empty() && !rest.starts_with([' ', '\t']) {
        return None;
    }
    // An optional closing run of `#`, preceded by a space, is not part of the title.
    let rest = rest.trim();
    let title = match rest.trim_end_matches('#') {
        t if t.len() < rest.len() && (t.is_empty() || t.ends_with([' ', '\t'])) => t.trim_end(),
        _ => rest,
    };
    Some((level, title.to_string()))
}

fn setext_underline(trimmed: &str) -> Option<usize> {
    if !trimmed.is_empty() && trimmed.chars().all(|c| c == '=') {
        Some(1)
    } else if !trimmed.is_empty() && trimmed.chars().all(|c| c == '-') {
        Some(2)
    } else {
        None
    }
}

fn is_list_or_quote(s: &str) -> bool {
    if s.starts_with('>') {
        return true;
    }
    if let Some(rest) = s.strip_prefix(['-', '*', '+']) {
        return rest.is_empty() || rest.starts_with([' ', '\t']);
    }
    let digits = s.chars().take_while(char::is_ascii_digit).count();
    digits > 0 && s[digits..].starts_with(['.', ')'])
}

/// The line without its HTML comments, and whether a comment stays open past its end.
fn strip_comments(line: &str) -> (String, bool) {
    let mut out = String::new();
    let mut rest = line;
    while let Some(start) = rest.find("<!--") {
        out.push_str(&rest[..start]);
        match rest[start + 4..].find("-->") {
            Some(end) => rest = &rest[start + 4 + end + 3..],
            None => return (out, true),
        }
    }
    out.push_str(rest);
    (out, false)
}

/// Words: whitespace-separated tokens with at least one letter or digit (table pipes,
/// bullets and rules are not words).
pub(crate) fn count_words(text: &str) -> usize {
    text.split_whitespace()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .count()
}

/// Whether a heading's key is the section name, or starts with it as whole words.
fn matches_name(heading: &str, name: &str) -> bool {
    heading == name
        || heading
            .strip_prefix(name)
            .is_some_and(|rest| rest.starts_with(' '))
}

/// Grades a document's text against the required sections.
fn grade(file: &str, text: &str, required: &[RequiredSection], min_words: usize) -> Outcome {
    let found = sections(text);
    let total_words = count_words(text);
    let mut evidence = vec![
        format!(
            "read {file} from the session workspace: {} lines, {total_words} words, {} heading(s)",
            text.lines().count(),
            found.len()
        ),
        if found.is_empty() {
            "headings found: none".into()
        } else {
            format!(
                "headings found: {}",
                clip(
                    &found
                        .iter()
                        .map(|s| format!("{} {} (line {})", "#".repeat(s.level), s.title, s.line))
                        .collect::<Vec<_>>()
                        .join(" · "),
                    900
                )
            )
        },
    ];
    let mut missing = Vec::new();
    let mut thin = Vec::new();
    for req in required {
        let names: Vec<String> = std::iter::once(&req.heading)
            .chain(&req.aliases)
            .map(|n| heading_key(n))
            .collect();
        let hit = found.iter().find(|s| {
            let key = heading_key(&s.title);
            names.iter().any(|n| matches_name(&key, n))
        });
        let name = &req.heading.value;
        match hit {
            None => {
                missing.push(name.clone());
                let also = if req.aliases.is_empty() {
                    String::new()
                } else {
                    format!(
                        " (or {})",
                        req.aliases
                            .iter()
                            .map(|a| format!("\"{}\"", a.value))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                evidence.push(format!("missing: no heading \"{name}\"{also}"));
            }
            Some(s) if s.words < min_words => {
                thin.push(format!("{name} ({} words)", s.words));
                evidence.push(format!(
                    "too short: {name} as \"{}\" (line {}): {} words, at least {min_words} required",
                    s.title, s.line, s.words
                ));
            }
            Some(s) => evidence.push(format!(
                "present: {name} as \"{}\" (line {}): {} words",
                s.title, s.line, s.words
            )),
        }
    }
    evidence.push(QUALITY_NOTE.into());
    if missing.is_empty() && thin.is_empty() {
        Outcome::pass(
            format!(
                "{file} has all {} required sections, each with at least {min_words} words",
                required.len()
            ),
            evidence,
        )
    } else {
        let mut problems = Vec::new();
        if !missing.is_empty() {
            problems.push(format!("lacks {}", missing.join(", ")));
        }
        if !thin.is_empty() {
            problems.push(format!("too short: {}", thin.join(", ")));
        }
        Outcome::fail(format!("{file} {}", problems.join("; ")), evidence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::Located;

    fn required() -> Vec<RequiredSection> {
        let sec = |h: &str, aliases: &[&str]| RequiredSection {
            heading: Located::new(h.into()),
            aliases: aliases
                .iter()
                .map(|a| Located::new(a.to_string()))
                .collect(),
        };
        vec![
            sec("Timeline", &[]),
            sec("Impact", &[]),
            sec("Root cause", &["Cause"]),
            sec("Mitigation", &["Resolution"]),
            sec("Action items", &["Follow-ups"]),
        ]
    }

    const GOOD: &str = r#"# Incident: inventory API answering 503

## Timeline (UTC)

- 10:02 deploy of INV-412 turns on DEBUG logging for inventory-api.
- 10:03 /items starts answering 503; the synthetic check pages on call.
- 10:15 log level back to INFO with rotation, applied; 200 again.

## Impact

The shop showed "stock unavailable" for about 12 minutes; no orders were lost,
but checkout could not reserve stock during that time.

## 3. Root cause analysis

DEBUG logging dumps every warehouse feed batch (about 180 KB, five times a second) into a
file on an 8 MiB tmpfs with no rotation. The volume filled in seconds and the API refuses
requests it cannot audit.

## Mitigation

Set the level back to INFO, added size-based rotation (1 MiB, 3 files), applied, and
watched the volume stay at a few percent for several minutes.

## Action items

- Alert on log volume usage above 80 percent (owner: platform).
- Reject DEBUG in production config reviews; use a temporary, time-boxed override instead.
"#;

    #[test]
    fn complete_notes_pass_and_quote_every_section_size() {
        let o = grade("INCIDENT.md", GOOD, &required(), 10);
        assert_eq!(o.status, Status::Pass, "{o:?}");
        let ev = o.evidence.join("\n");
        assert!(
            ev.contains("present: Timeline as \"Timeline (UTC)\""),
            "{ev}"
        );
        assert!(
            ev.contains("present: Root cause as \"3. Root cause analysis\""),
            "{ev}"
        );
        assert!(ev.contains("## Impact (line 9)"), "{ev}");
        assert!(
            ev.contains("quality of the notes is for the interviewer"),
            "{ev}"
        );
    }

    #[test]
    fn notes_missing_a_section_fail_and_name_it() {
        let text = GOOD.replace("## 3. Root cause analysis", "## Background");
        let o = grade("INCIDENT.md", &text, &required(), 10);
        assert_eq!(o.status, Status::Fail);
        assert_eq!(o.summary, "INCIDENT.md lacks Root cause");
        assert!(
            o.evidence
                .iter()
                .any(|e| e == "missing: no heading \"Root cause\" (or \"Cause\")"),
            "{:?}",
            o.evidence
        );
    }

    #[test]
    fn an_empty_section_fails_even_when_its_heading_is_there() {
        let text = GOOD.replace(
            "## Action items\n\n- Alert on log volume usage above 80 percent (owner: platform).\n- Reject DEBUG in production config reviews; use a temporary, time-boxed override instead.\n",
            "## Action items\n\n<!-- TODO: fill in after the review -->\n",
        );
        let o = grade("INCIDENT.md", &text, &required(), 10);
        assert_eq!(o.status, Status::Fail, "{o:?}");
        assert_eq!(o.summary, "INCIDENT.md too short: Action items (0 words)");
    }

    #[test]
    fn headings_inside_code_fences_do_not_count() {
        let text = "# Notes\n\nSome words about the incident that are not sections at all here.\n\n\
                    ```markdown\n## Timeline\n## Impact\n## Root cause\n## Mitigation\n## Action items\n```\n\n\
                    ~~~~\n# Cause\n~~~\n## still in the fence\n~~~~\n";
        let found = sections(text);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].title, "Notes");
        let o = grade("INCIDENT.md", text, &required(), 1);
        assert_eq!(o.status, Status::Fail);
        assert_eq!(
            o.summary,
            "INCIDENT.md lacks Timeline, Impact, Root cause, Mitigation, Action items"
        );
    }

    #[test]
    fn aliases_setext_headings_and_any_level_are_accepted() {
        let text = "Timeline\n========\n\nten oh two deploy, ten oh three page, ten fifteen fixed.\n\n\
                    Impact\n------\n\nshop showed stock unavailable for twelve minutes total.\n\n\
                    #### CAUSE:\n\ndebug logging filled the eight megabyte log volume quickly.\n\n\
                    ###### Resolution ######\n\nlevel back to info and rotation added then applied.\n\n\
                    **Follow-ups**\n\n# Follow-ups\n\nalert on volume usage and review log levels in config.\n";
        let o = grade("INCIDENT.md", text, &required(), 5);
        assert_eq!(o.status, Status::Pass, "{o:?}");
        let found = sections(text);
        assert_eq!(
            found
                .iter()
                .map(|s| (s.level, s.title.as_str()))
                .collect::<Vec<_>>(),
            vec![
                (1, "Timeline"),
                (2, "Impact"),
                (4, "CAUSE:"),
                (6, "Resolution"),
                (1, "Follow-ups")
            ]
        );
    }

    #[test]
    fn subsections_count_towards_their_parent_and_stop_at_a_sibling() {
        let text =
            "## Timeline\n### 10:02\ndeploy went out\n### 10:03\npage fired\n## Impact\none two\n";
        let found = sections(text);
        assert_eq!(found[0].title, "Timeline");
        // "10:02", "deploy went out", "10:03", "page fired"
        assert_eq!(found[0].words, 1 + 3 + 1 + 2);
        assert_eq!(found[3].title, "Impact");
        assert_eq!(found[3].words, 2);
    }

    #[test]
    fn a_rule_after_a_blank_line_or_a_list_is_not_a_heading() {
        let text = "## Impact\n\nwords here\n\n---\n\n- item\n---\n";
        let found = sections(text);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].words, 3);
    }

    #[test]
    fn a_name_matches_whole_words_only() {
        assert!(matches_name(
            &heading_key("Root cause analysis"),
            &heading_key("Root cause")
        ));
        assert!(!matches_name(
            &heading_key("Root causes"),
            &heading_key("Root cause")
        ));
        assert!(!matches_name(
            &heading_key("Impactful"),
            &heading_key("Impact")
        ));
        assert_eq!(heading_key("**2) Action   Items:**"), "action items");
        assert_eq!(heading_key("#hashtag"), "hashtag");
    }

    #[test]
    fn a_hash_without_a_space_is_not_a_heading() {
        assert_eq!(atx_heading("#5 was the ticket"), None);
        assert_eq!(atx_heading("####### seven"), None);
        assert_eq!(atx_heading("## Title ##"), Some((2, "Title".into())));
        assert_eq!(atx_heading("## C#"), Some((2, "C#".into())));
        assert_eq!(atx_heading("#"), Some((1, String::new())));
    }

    #[test]
    fn a_missing_file_fails_and_a_link_out_of_the_workspace_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("ws");
        std::fs::create_dir(&ws).unwrap();
        assert!(matches!(
            read_inside(&ws, "INCIDENT.md"),
            Err(Unreadable::Missing)
        ));
        assert!(matches!(
            read_inside(&ws, "../outside.md"),
            Err(Unreadable::Refused(_))
        ));
        std::fs::write(dir.path().join("outside.md"), "# Timeline\n").unwrap();
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(dir.path().join("outside.md"), ws.join("INCIDENT.md"))
                .unwrap();
            match read_inside(&ws, "INCIDENT.md") {
                Err(Unreadable::Refused(why)) => assert!(why.contains("outside"), "{why}"),
                _ => panic!("a link out of the workspace was read"),
            }
        }
        std::fs::write(ws.join("notes.md"), GOOD).unwrap();
        assert!(read_inside(&ws, "notes.md").is_ok());
    }
}
