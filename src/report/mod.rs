//! Reporters: each renders a [`Report`] it is given and computes nothing of its own.

pub mod assessment;
pub mod html;
mod json;
mod junit;
pub mod live;
mod markdown;
mod text;

use crate::grade::Report;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// For a terminal.
    Text,
    /// Versioned JSON (`format-version`), for scripts and archives.
    Json,
    /// For a hiring ticket or a wiki page.
    Markdown,
    /// One self-contained page (no network needed to open it) that prints well.
    Html,
    /// JUnit XML: one test case per check, for CI systems that show test results.
    Junit,
}

impl crate::choice::Choice for Format {
    const ALL: &'static [Self] = &[
        Format::Text,
        Format::Json,
        Format::Markdown,
        Format::Html,
        Format::Junit,
    ];
    fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Markdown => "markdown",
            Format::Html => "html",
            Format::Junit => "junit",
        }
    }
    fn help(self) -> &'static str {
        match self {
            Format::Text => "For a terminal",
            Format::Json => "Versioned JSON (`format-version`), for scripts and archives",
            Format::Markdown => "For a hiring ticket or a wiki page",
            Format::Html => {
                "One self-contained page (no network needed to open it) that prints well"
            }
            Format::Junit => {
                "JUnit XML: one test case per check, for CI systems that show test results"
            }
        }
    }
}

pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Text => text::render(report),
        Format::Json => json::render(report),
        Format::Markdown => markdown::render(report),
        Format::Html => html::render(report),
        Format::Junit => junit::render(report),
    }
}

/// Renders a report for a file or a pipe: the JSON form sealed (a digest over its content,
/// signed with `key` when there is one; see [`crate::seal`]), the others as [`render`] does.
pub fn render_sealed(
    report: &Report,
    format: Format,
    key: Option<&ed25519_dalek::SigningKey>,
) -> String {
    match format {
        Format::Json => crate::seal::sealed_json(report, key),
        other => render(report, other),
    }
}

/// `, take-home <id> issued to <name>` for a graded submission (empty when no take-home is
/// known), each part written as the format writes such things.
pub fn take_home_text(
    sub: &crate::session::SubmissionInfo,
    id: impl Fn(&str) -> String,
    who: impl Fn(&str) -> String,
) -> String {
    sub.take_home
        .as_ref()
        .map(|t| {
            format!(
                ", take-home {}{}",
                id(t),
                sub.issued_to
                    .as_ref()
                    .map(|w| format!(" issued to {}", who(w)))
                    .unwrap_or_default()
            )
        })
        .unwrap_or_default()
}

/// The candidate's name as reports show it.
/// "12:04 of 45:00", and " (over time)" after it when the session ran over.
pub fn time_used(r: &Report) -> String {
    format!(
        "{} of {}{}",
        crate::duration::clock_text(r.session.elapsed_secs),
        crate::duration::clock_text(r.session.time_limit_secs),
        if r.session.over_time {
            " (over time)"
        } else {
            ""
        }
    )
}

pub fn candidate(r: &Report) -> &str {
    r.session
        .candidate
        .as_deref()
        .unwrap_or("(no candidate name)")
}

/// The interviewer's marks of a competency, or a dash.
pub fn marks_text(c: &crate::grade::CompetencyScore, sep: &str) -> String {
    if c.marks.is_empty() {
        return "—".into();
    }
    c.marks
        .iter()
        .map(|m| m.to_string())
        .collect::<Vec<_>>()
        .join(sep)
}

/// What a writer writes into a new String: a String takes every write, so its `fmt::Result`
/// is always `Ok`.
pub(crate) fn to_string(write: impl FnOnce(&mut String) -> std::fmt::Result) -> String {
    let mut o = String::new();
    let _ = write(&mut o);
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Status;
    use crate::grade::sample::report;

    fn mixed() -> Report {
        report(|id| match id {
            "web-stays-up" | "checkout-api-through-web" => Status::Pass,
            "nginx-config-valid" => Status::Error,
            "keeps-hardening" => Status::Fail,
            "web-reports-healthy" => Status::Fail,
            _ => Status::Pass,
        })
    }

    #[test]
    fn the_text_report_reads_well() {
        insta::assert_snapshot!(render(&mixed(), Format::Text));
    }

    #[test]
    fn the_markdown_report_reads_well() {
        insta::assert_snapshot!(render(&mixed(), Format::Markdown));
    }

    #[test]
    fn the_json_report_keeps_its_documented_shape() {
        insta::assert_snapshot!(render(&mixed(), Format::Json));
    }

    #[test]
    fn the_html_report_reads_well() {
        insta::assert_snapshot!(render(&mixed(), Format::Html));
    }

    #[test]
    fn the_html_report_is_self_contained_and_escapes_what_it_shows() {
        let mut r = mixed();
        r.checks[0].evidence = vec!["<script>alert('x')</script> & more".into()];
        let html = render(&r, Format::Html);
        assert!(!html.contains("<script>alert"), "evidence must be escaped");
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; more"));
        // Nothing to fetch: no script, stylesheet, image or font from anywhere.
        for needle in ["<script", "<link", "<img", "src=", "@import", "url("] {
            assert!(!html.contains(needle), "found {needle}");
        }
        assert!(html.contains("@media print"));
        assert!(html.contains("Read the logs &lt;before&gt; touching anything"));
    }

    #[test]
    fn the_junit_report_is_well_formed_xml_with_one_testcase_per_check() {
        let r = mixed();
        let xml = render(&r, Format::Junit);
        let doc = roxmltree::Document::parse(&xml).expect("well-formed XML");
        let suite = doc
            .descendants()
            .find(|n| n.has_tag_name("testsuite"))
            .unwrap();
        let cases: Vec<_> = suite
            .children()
            .filter(|n| n.has_tag_name("testcase"))
            .collect();
        assert_eq!(cases.len(), r.checks.len());
        let failed = r.checks.iter().filter(|c| c.status == Status::Fail).count();
        assert_eq!(
            suite.attribute("failures"),
            Some(failed.to_string().as_str())
        );
        assert_eq!(suite.attribute("errors"), Some("1"));
        let errored = cases
            .iter()
            .find(|c| {
                c.attribute("name")
                    .unwrap()
                    .starts_with("nginx-config-valid")
            })
            .unwrap();
        assert!(errored.children().any(|n| n.has_tag_name("error")));
        let score = suite
            .descendants()
            .find(|n| n.attribute("name") == Some("score"))
            .unwrap();
        assert_eq!(score.attribute("value"), Some(r.score.to_string().as_str()));
    }

    #[test]
    fn the_junit_report_drops_characters_xml_cannot_carry() {
        let mut r = mixed();
        r.checks[0].evidence = vec!["bell \u{7} and escape \u{1b}[31m red".into()];
        let xml = render(&r, Format::Junit);
        roxmltree::Document::parse(&xml).expect("well-formed XML");
        assert!(xml.contains("bell  and escape [31m red"));
    }

    #[test]
    fn a_graded_submission_shows_its_changed_files_and_diff_in_every_format() {
        use crate::session::{Change, FileChange, SubmissionInfo, SubmissionKind};
        let mut r = mixed();
        r.submission = Some(SubmissionInfo {
            source: "inbox/ada.tgz".into(),
            kind: SubmissionKind::Tarball,
            take_home: Some("th-abc234".into()),
            issued_to: Some("Ada <Lovelace>".into()),
            changes: vec![FileChange {
                path: "nginx/conf.d/shop.conf".into(),
                change: Change::Changed,
                diff: Some(
                    "--- a/x\n+++ b/x\n-    server orders-api:8000;\n+    server orders:8000;\n"
                        .into(),
                ),
            }],
        });
        let text = render(&r, Format::Text);
        assert!(
            text.contains("take-home th-abc234 issued to Ada <Lovelace>"),
            "{text}"
        );
        assert!(text.contains("changed  nginx/conf.d/shop.conf"), "{text}");
        let md = render(&r, Format::Markdown);
        assert!(md.contains("```diff\n--- a/x"), "{md}");
        let html = render(&r, Format::Html);
        assert!(html.contains("issued to Ada &lt;Lovelace&gt;"), "{html}");
        assert!(
            html.contains("<span class=\"del\">-    server orders-api:8000;</span>"),
            "{html}"
        );
        assert!(
            html.contains("<span class=\"add\">+    server orders:8000;</span>"),
            "{html}"
        );
        let back: Report = serde_json::from_str(&render(&r, Format::Json)).unwrap();
        assert_eq!(back.submission.unwrap().changes.len(), 1);
    }

    #[test]
    fn the_json_report_round_trips() {
        let r = mixed();
        let back: Report = serde_json::from_str(&render(&r, Format::Json)).unwrap();
        assert_eq!(back.score, r.score);
        assert_eq!(back.checks.len(), r.checks.len());
    }

    #[test]
    fn a_recording_replays_in_the_page_and_cannot_end_its_script_early() {
        let r = crate::grade::sample::report(|_| Status::Pass);
        let cast = "{\"version\": 2, \"width\": 80, \"height\": 24}\n[0.5, \"o\", \"</script><script>alert(1)</script>\"]\n".to_string();
        let replays = [crate::recording::Replay {
            name: "recordings/1-workstation.cast".into(),
            bytes: cast.len() as u64,
            cast,
        }];
        let extras = html::Extras {
            replays: &replays,
            xterm: Some(("window.Terminal = function () {};", ".xterm {}")),
        };
        let page = html::render_with(&r, &extras);
        assert!(page.contains("data-cast=\"cast-0\""), "{page}");
        // The element holds the whole recording: nothing in it ended the element early.
        let start = page.find("id=\"cast-0\">").unwrap() + "id=\"cast-0\">".len();
        let end = start + page[start..].find("</script>").unwrap();
        let back: String = serde_json::from_str(&page[start..end]).unwrap();
        assert_eq!(back, replays[0].cast);
        // Without xterm.js the recordings are listed, not replayed.
        let listed = html::render_with(
            &r,
            &html::Extras {
                replays: &replays,
                xterm: None,
            },
        );
        assert!(listed.contains("recordings/1-workstation.cast"));
        assert!(!listed.contains("data-cast"));
    }
}
