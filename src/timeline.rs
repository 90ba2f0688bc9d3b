//! What happened during a session, in order: when each check first passed (and whether it
//! broke again), when the workspace changed, when it was applied, which commands the
//! candidate ran in a recorded shell, and the interviewer's notes. The session records these
//! as they are observed; [`crate::grade`] turns them into the report's timeline.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::check::{Outcome, Status};
use crate::scenario::Competency;

/// A check's status as one round observed it; the session keeps only changes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Observation {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub check: String,
    pub status: Status,
    pub summary: String,
    /// The command whose round saw it: `watch`, `serve`, `check` or `grade`.
    pub by: String,
}

/// The interviewer's own judgement of a competency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mark {
    Strong,
    Meets,
    Weak,
}

impl crate::choice::Choice for Mark {
    const ALL: &'static [Self] = &[Mark::Strong, Mark::Meets, Mark::Weak];
    fn name(self) -> &'static str {
        match self {
            Mark::Strong => "strong",
            Mark::Meets => "meets",
            Mark::Weak => "weak",
        }
    }
}

impl std::fmt::Display for Mark {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(crate::choice::Choice::name(*self))
    }
}

/// Evidence the interviewer adds by hand (`breakfix note`, or the dashboard).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Note {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub competency: Option<Competency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mark: Option<Mark>,
    pub text: String,
}

/// `competency: mark`, either part alone, or nothing: how a note is labelled everywhere.
pub fn note_tag(competency: Option<Competency>, mark: Option<Mark>) -> String {
    match (competency, mark) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_string(),
        (None, Some(m)) => m.to_string(),
        (None, None) => String::new(),
    }
}

/// A command line the candidate entered in a recorded shell.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct CommandRun {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Where it ran: the service (Docker) or pod (Kubernetes) the shell was opened in.
    pub target: String,
    pub command: String,
    /// The recording it came from, relative to the session's folder.
    pub recording: String,
}

/// The observations of a round that differ from the last one recorded for the same check.
pub fn transitions(
    seen: &[Observation],
    round: &[(String, Outcome)],
    at: OffsetDateTime,
    by: &str,
) -> Vec<Observation> {
    round
        .iter()
        .filter(|(id, o)| {
            let last = seen.iter().rev().find(|s| &s.check == id);
            // An error says nothing about the candidate's work: it neither passes nor breaks.
            o.status != Status::Error && last.is_none_or(|l| l.status != o.status)
        })
        .map(|(id, o)| Observation {
            at,
            check: id.clone(),
            status: o.status,
            summary: o.summary.clone(),
            by: by.into(),
        })
        .collect()
}

/// When a check first passed, and whether it failed again after that.
pub fn first_pass(seen: &[Observation], check: &str) -> (Option<OffsetDateTime>, bool) {
    let mut first = None;
    let mut broke = false;
    for o in seen.iter().filter(|o| o.check == check) {
        match o.status {
            Status::Pass if first.is_none() => first = Some(o.at),
            Status::Fail if first.is_some() => broke = true,
            _ => {}
        }
    }
    (first, broke)
}

/// Files of a workspace by relative path, with a digest of each. The `.git` folder is left
/// out (commits show in the files they change) and so is anything past the limits, which a
/// workspace a candidate edits by hand never reaches. The workspace is read through a
/// lenient walk (see [`crate::tree`]): links, FIFOs and devices are described, never
/// followed or opened, and files are hashed in chunks.
pub fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    use crate::tree::{Kind, Limits, Walk};
    use sha2::Digest;
    const MAX_FILES: usize = 5000;
    const MAX_BYTES: u64 = 4 << 20;
    let mut out = BTreeMap::new();
    let limits = Limits {
        entries: 2 * MAX_FILES,
        ..Limits::WORKSPACE
    };
    let Ok(tree) = Walk::new("workspace")
        .limits(limits)
        .lenient()
        .skip(&[".git"])
        .run(dir)
    else {
        return out;
    };
    for e in &tree.entries {
        if out.len() >= MAX_FILES {
            break;
        }
        let digest = match &e.kind {
            Kind::Dir => continue,
            Kind::File { len, .. } if *len <= MAX_BYTES => {
                let mut h = sha2::Sha256::new();
                match tree.hash(e, &mut h) {
                    Ok(()) => hex::encode(&h.finalize()[..8]),
                    Err(_) => String::new(),
                }
            }
            // Links, huge files and special files: their size and target stand for their
            // content.
            Kind::File { len, .. } => format!("{len}:"),
            Kind::Link { target } => {
                format!("{}:{}", target.as_os_str().len(), target.display())
            }
            Kind::Special(_) => "0:".to_string(),
        };
        out.insert(e.rel.to_string_lossy().into_owned(), digest);
    }
    out
}

/// How `after` differs from `before`, in one line; `None` when it does not.
pub fn describe_change(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Option<String> {
    let mut parts = vec![];
    let mut group = |label: &str, files: Vec<&String>| {
        if files.is_empty() {
            return;
        }
        let shown: Vec<&str> = files.iter().take(8).map(|s| s.as_str()).collect();
        let more = files.len().saturating_sub(shown.len());
        let tail = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        parts.push(format!("{label} {}{tail}", shown.join(", ")));
    };
    group(
        "edited",
        after
            .iter()
            .filter(|(k, v)| before.get(*k).is_some_and(|b| b != *v))
            .map(|(k, _)| k)
            .collect(),
    );
    group(
        "added",
        after.keys().filter(|k| !before.contains_key(*k)).collect(),
    );
    group(
        "removed",
        before.keys().filter(|k| !after.contains_key(*k)).collect(),
    );
    (!parts.is_empty()).then(|| parts.join("; "))
}

/// The command lines typed in an asciicast v2 recording: its input events (`"i"`) replayed
/// through a line editor that knows Enter, backspace, Ctrl-U and Ctrl-C, at the time Enter
/// was pressed. Escape sequences (arrow keys, history) cannot be replayed faithfully and are
/// dropped; what the candidate typed around them stays.
pub fn commands_in_cast(cast: &str) -> Vec<(f64, String)> {
    let mut out = vec![];
    let mut line = String::new();
    for entry in cast.lines().skip(1) {
        let Ok(serde_json::Value::Array(ev)) = serde_json::from_str::<serde_json::Value>(entry)
        else {
            continue;
        };
        let (Some(t), Some("i"), Some(data)) = (
            ev.first().and_then(|v| v.as_f64()),
            ev.get(1).and_then(|v| v.as_str()),
            ev.get(2).and_then(|v| v.as_str()),
        ) else {
            continue;
        };
        let mut chars = data.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\r' | '\n' => {
                    let cmd = line.trim();
                    if !cmd.is_empty() {
                        out.push((t, cmd.to_string()));
                    }
                    line.clear();
                }
                '\u{7f}' | '\u{8}' => {
                    line.pop();
                }
                '\u{15}' | '\u{3}' => line.clear(),
                '\u{1b}' => {
                    // CSI or SS3: ESC [ params final, ESC O x.
                    match chars.next() {
                        Some('[') => {
                            for n in chars.by_ref() {
                                if ('@'..='~').contains(&n) {
                                    break;
                                }
                            }
                        }
                        Some('O') => {
                            chars.next();
                        }
                        _ => {}
                    }
                }
                c if c.is_control() => {}
                c => line.push(c),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn obs(check: &str, status: Status, at: OffsetDateTime) -> Observation {
        Observation {
            at,
            check: check.into(),
            status,
            summary: String::new(),
            by: "watch".into(),
        }
    }

    #[test]
    fn only_a_change_of_status_is_recorded_and_errors_are_not() {
        let t0 = datetime!(2026-11-20 09:00:00 UTC);
        let seen = vec![obs("a", Status::Fail, t0)];
        let round = vec![
            ("a".to_string(), Outcome::fail("still", vec![])),
            ("b".to_string(), Outcome::pass("new", vec![])),
            (
                "c".to_string(),
                Outcome {
                    status: Status::Error,
                    summary: "daemon down".into(),
                    evidence: vec![],
                    duration_ms: 0,
                },
            ),
        ];
        let t = transitions(&seen, &round, t0, "watch");
        assert_eq!(t.len(), 1);
        assert_eq!((t[0].check.as_str(), t[0].status), ("b", Status::Pass));
    }

    #[test]
    fn a_check_that_passed_then_failed_broke_again() {
        let t0 = datetime!(2026-11-20 09:00:00 UTC);
        let t1 = datetime!(2026-11-20 09:03:00 UTC);
        let seen = vec![
            obs("a", Status::Fail, t0),
            obs("a", Status::Pass, t1),
            obs("a", Status::Fail, datetime!(2026-11-20 09:04:00 UTC)),
            obs("a", Status::Pass, datetime!(2026-11-20 09:05:00 UTC)),
        ];
        assert_eq!(first_pass(&seen, "a"), (Some(t1), true));
        assert_eq!(first_pass(&seen, "b"), (None, false));
    }

    #[test]
    fn a_workspace_change_names_the_files_edited_added_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.conf"), "one").unwrap();
        std::fs::write(dir.path().join("gone.txt"), "x").unwrap();
        std::fs::create_dir_all(dir.path().join(".git")).unwrap();
        std::fs::write(dir.path().join(".git/HEAD"), "ref").unwrap();
        let before = snapshot(dir.path());
        assert!(!before.keys().any(|k| k.starts_with(".git")));
        std::fs::write(dir.path().join("a.conf"), "two").unwrap();
        std::fs::remove_file(dir.path().join("gone.txt")).unwrap();
        std::fs::create_dir_all(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/new.yaml"), "y").unwrap();
        std::fs::write(dir.path().join(".git/HEAD"), "other").unwrap();
        let after = snapshot(dir.path());
        assert_eq!(
            describe_change(&before, &after).unwrap(),
            "edited a.conf; added sub/new.yaml; removed gone.txt"
        );
        assert_eq!(describe_change(&after, &after), None);
    }

    #[test]
    fn a_snapshot_describes_links_and_fifos_without_opening_them() {
        use sha2::Digest;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("logs")).unwrap();
        std::fs::write(dir.path().join("a.conf"), "one").unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(dir.path().join("logs/pipe"))
            .status()
            .unwrap();
        assert!(made.success());
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero")).unwrap();
        std::fs::File::create(dir.path().join("huge"))
            .unwrap()
            .set_len(8 << 30)
            .unwrap();
        let path = dir.path().to_path_buf();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(snapshot(&path));
        });
        let snap = rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("the snapshot blocked");
        let one = hex::encode(&sha2::Sha256::digest(b"one")[..8]);
        let expected: BTreeMap<String, String> = [
            ("a.conf", one.as_str()),
            ("huge", "8589934592:"),
            ("logs/pipe", "0:"),
            ("zero", "9:/dev/zero"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        assert_eq!(snap, expected);
    }

    #[test]
    fn commands_are_read_from_the_keys_typed_in_a_recording() {
        let cast = concat!(
            r#"{"version": 2, "width": 80, "height": 24}"#,
            "\n",
            r#"[0.5, "o", "$ "]"#,
            "\n",
            r#"[1.0, "i", "docker lgo"]"#,
            "\n",
            r#"[1.2, "i", "\u007f\u007fog"]"#,
            "\n",
            r#"[1.4, "i", "s web\r"]"#,
            "\n",
            r#"[2.0, "i", "\u001b[Aoops\u0003"]"#,
            "\n",
            r#"[3.5, "i", "cat /etc/nginx/nginx.conf\r\r"]"#,
            "\n",
            "not json\n",
        );
        assert_eq!(
            commands_in_cast(cast),
            vec![
                (1.4, "docker logs web".to_string()),
                (3.5, "cat /etc/nginx/nginx.conf".to_string()),
            ]
        );
    }
}
