//! JUnit XML, the format CI systems already show as test results: one test suite for the
//! scenario, one test case per check, a failure (or an error, for a check that could not
//! run) carrying the summary and the evidence.

use std::fmt::Write;

use crate::check::Status;
use crate::grade::Report;

/// Escapes text for XML content and attributes; drops characters XML 1.0 cannot carry.
fn esc(s: &str) -> String {
    let allowed: String = s
        .chars()
        .filter(|c| {
            ((*c as u32) >= 0x20 || matches!(c, '\t' | '\n' | '\r'))
                && !matches!(c, '\u{fffe}' | '\u{ffff}')
        })
        .collect();
    super::html::esc(&allowed)
}

pub fn render(r: &Report) -> String {
    super::to_string(|o| write_report(o, r))
}

fn write_report(o: &mut String, r: &Report) -> std::fmt::Result {
    let count = |st: Status| r.checks.iter().filter(|c| c.status == st).count();
    let (failures, errors) = (count(Status::Fail), count(Status::Error));
    let secs: f64 = r.checks.iter().map(|c| c.duration_ms as f64).sum::<f64>() / 1000.0;
    let stamp = r
        .session
        .graded_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    o.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    writeln!(
        o,
        "<testsuites name=\"breakfix\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" time=\"{secs:.3}\">",
        r.checks.len()
    )?;
    writeln!(
        o,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"0\" time=\"{secs:.3}\" timestamp=\"{stamp}\">",
        esc(&r.scenario.id),
        r.checks.len()
    )?;
    writeln!(o, "    <properties>")?;
    let mut props = vec![
        ("scenario", r.scenario.title.clone()),
        ("session", r.session.id.clone()),
        ("candidate", r.session.candidate.clone().unwrap_or_default()),
        ("score", r.score.to_string()),
        ("max-score", r.max_score.to_string()),
        ("percent", r.percent.to_string()),
        ("complete", r.complete.to_string()),
        ("hint-cost", r.hint_cost.to_string()),
        ("penalties", r.penalties.to_string()),
    ];
    for c in &r.competencies {
        props.push((
            "competency",
            format!("{}: {} / {}", c.competency, c.awarded, c.max),
        ));
    }
    for (k, v) in props {
        writeln!(o, "      <property name=\"{k}\" value=\"{}\"/>", esc(&v))?;
    }
    writeln!(o, "    </properties>")?;
    for c in &r.checks {
        let name = if c.guard {
            format!("{}: {} (guard, -{} if broken)", c.id, c.title, c.points)
        } else {
            format!("{}: {} ({} points)", c.id, c.title, c.points)
        };
        write!(
            o,
            "    <testcase classname=\"{}.{}\" name=\"{}\" time=\"{:.3}\"",
            esc(&r.scenario.id),
            c.competency,
            esc(&name),
            c.duration_ms as f64 / 1000.0
        )?;
        let evidence = esc(&c.evidence.join("\n"));
        match c.status {
            Status::Pass => {
                writeln!(
                    o,
                    ">\n      <system-out>{evidence}</system-out>\n    </testcase>"
                )?;
            }
            Status::Fail => {
                writeln!(
                    o,
                    ">\n      <failure message=\"{}\" type=\"{}\">{evidence}</failure>\n    </testcase>",
                    esc(&c.summary),
                    esc(&c.kind)
                )?;
            }
            Status::Error => {
                writeln!(
                    o,
                    ">\n      <error message=\"{}\" type=\"could-not-run\">{evidence}</error>\n    </testcase>",
                    esc(&c.summary)
                )?;
            }
        }
    }
    writeln!(o, "  </testsuite>\n</testsuites>")
}
