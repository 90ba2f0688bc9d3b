//! The combined report of an assessment plan, in the formats of a single report.

use std::fmt::Write;

use super::html::esc;
use crate::duration::clock_text as clock;
use crate::plan::AssessmentReport;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlanFormat {
    Text,
    Json,
    Markdown,
    /// One self-contained page that prints well.
    Html,
}

impl crate::choice::Choice for PlanFormat {
    const ALL: &'static [Self] = &[
        PlanFormat::Text,
        PlanFormat::Json,
        PlanFormat::Markdown,
        PlanFormat::Html,
    ];
    fn name(self) -> &'static str {
        match self {
            PlanFormat::Text => "text",
            PlanFormat::Json => "json",
            PlanFormat::Markdown => "markdown",
            PlanFormat::Html => "html",
        }
    }
    fn help(self) -> &'static str {
        match self {
            PlanFormat::Html => "One self-contained page that prints well",
            _ => "",
        }
    }
}

pub fn render(r: &AssessmentReport, format: PlanFormat) -> String {
    match format {
        PlanFormat::Text => text(r),
        PlanFormat::Json => {
            let mut s = serde_json::to_string_pretty(r).unwrap_or_else(|_| "{}".into());
            s.push('\n');
            s
        }
        PlanFormat::Markdown => markdown(r),
        PlanFormat::Html => html(r),
    }
}

fn score(s: &crate::plan::ScenarioLine) -> String {
    match (s.score, s.max_score, s.percent) {
        (Some(a), Some(m), Some(p)) => format!("{a} / {m} ({p}%)"),
        _ => "—".into(),
    }
}

fn who(r: &AssessmentReport) -> &str {
    r.candidate.as_deref().unwrap_or("(no candidate name)")
}

fn text(r: &AssessmentReport) -> String {
    crate::report::to_string(|o| write_text(o, r))
}

fn write_text(o: &mut String, r: &AssessmentReport) -> std::fmt::Result {
    writeln!(o, "{} — {}   {}", r.plan, r.title, who(r))?;
    writeln!(
        o,
        "assessment {} · time {} of {}\n",
        r.assessment,
        clock(r.time_used_secs),
        clock(r.time_budget_secs)
    )?;
    for s in &r.scenarios {
        writeln!(o, "  {:<22} {:<12} {}", s.scenario, s.state, score(s))?;
    }
    writeln!(o)?;
    for c in &r.competencies {
        let marks: Vec<String> = c.marks.iter().map(|m| m.to_string()).collect();
        writeln!(
            o,
            "  {:<24} weight {}  {:>4} / {:<4} {:>3}%  {}",
            c.competency.to_string(),
            c.weight,
            c.awarded,
            c.max,
            c.percent,
            marks.join(", ")
        )?;
        for s in &c.strong_signals_seen {
            writeln!(o, "      + {s}")?;
        }
        for s in &c.red_flags_seen {
            writeln!(o, "      - {s}")?;
        }
    }
    writeln!(o, "\nweighted score {}%", r.weighted_percent)?;
    if !r.complete {
        writeln!(o, "incomplete: not every scenario has a complete grade yet")?;
    }
    Ok(())
}

fn markdown(r: &AssessmentReport) -> String {
    crate::report::to_string(|o| write_markdown(o, r))
}

fn write_markdown(o: &mut String, r: &AssessmentReport) -> std::fmt::Result {
    writeln!(o, "# {} — {}\n\n{}\n", r.title, who(r), r.role)?;
    writeln!(
        o,
        "Assessment `{}` of plan `{}` · time {} of {} · **weighted score {}%**{}\n",
        r.assessment,
        r.plan,
        clock(r.time_used_secs),
        clock(r.time_budget_secs),
        r.weighted_percent,
        if r.complete { "" } else { " (incomplete)" }
    )?;
    writeln!(
        o,
        "## Scenarios\n\n| Scenario | Session | State | Score |\n|---|---|---|---|"
    )?;
    for s in &r.scenarios {
        writeln!(
            o,
            "| {} | {} | {} | {} |",
            s.scenario,
            s.session
                .as_deref()
                .map_or("—".into(), |x| format!("`{x}`")),
            s.state,
            score(s)
        )?;
    }
    writeln!(
        o,
        "\n## By competency\n\n| Competency | Weight | Points | % | Interviewer's marks |\n|---|---|---|---|---|"
    )?;
    for c in &r.competencies {
        let marks: Vec<String> = c.marks.iter().map(|m| m.to_string()).collect();
        writeln!(
            o,
            "| {} | {} | {} / {} | {}% | {} |",
            c.competency,
            c.weight,
            c.awarded,
            c.max,
            c.percent,
            if marks.is_empty() {
                "—".into()
            } else {
                marks.join(", ")
            }
        )?;
    }
    for c in &r.competencies {
        if c.strong_signals_seen.is_empty() && c.red_flags_seen.is_empty() {
            continue;
        }
        writeln!(o, "\n### {}\n", c.competency)?;
        for s in &c.strong_signals_seen {
            writeln!(o, "- Strong: {}", s.replace('\n', " "))?;
        }
        for s in &c.red_flags_seen {
            writeln!(o, "- Red flag: {}", s.replace('\n', " "))?;
        }
    }
    Ok(())
}

fn html(r: &AssessmentReport) -> String {
    crate::report::to_string(|o| write_html(o, r))
}

fn write_html(o: &mut String, r: &AssessmentReport) -> std::fmt::Result {
    write!(
        o,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{} — {}</title>\
         <style>body{{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#1f2328}}\
         table{{border-collapse:collapse;width:100%}}th,td{{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #d0d7de;vertical-align:top}}\
         .muted{{color:#57606a}} .plus{{color:#1a7f37}} .minus{{color:#cf222e}} h2{{margin-top:2rem}}\
         @media print{{body{{margin:0;max-width:none}} tr{{break-inside:avoid}}}}</style></head><body>\n",
        esc(who(r)),
        esc(&r.title)
    )?;
    writeln!(
        o,
        "<h1>{}</h1><p class=\"muted\">{} · assessment <code>{}</code> · time {} of {}</p><p>{}</p>\
         <p><b>Weighted score {}%</b>{}</p>",
        esc(&r.title),
        esc(who(r)),
        esc(&r.assessment),
        clock(r.time_used_secs),
        clock(r.time_budget_secs),
        esc(&r.role),
        r.weighted_percent,
        if r.complete {
            ""
        } else {
            " <span class=\"muted\">(incomplete: not every scenario has a complete grade)</span>"
        }
    )?;
    writeln!(
        o,
        "<h2>Scenarios</h2><table><tr><th>Scenario</th><th>Session</th><th>State</th><th>Score</th></tr>"
    )?;
    for s in &r.scenarios {
        writeln!(
            o,
            "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>",
            esc(&s.scenario),
            esc(s.session.as_deref().unwrap_or("—")),
            esc(&s.state),
            esc(&score(s))
        )?;
    }
    writeln!(
        o,
        "</table><h2>Scorecard</h2><table><tr><th>Competency</th><th>Weight</th><th>Points</th><th>%</th><th>Interviewer's marks</th><th>Seen</th></tr>"
    )?;
    for c in &r.competencies {
        let marks: Vec<String> = c.marks.iter().map(|m| m.to_string()).collect();
        let seen: String = c
            .strong_signals_seen
            .iter()
            .map(|s| format!("<div class=\"plus\">+ {}</div>", esc(s)))
            .chain(
                c.red_flags_seen
                    .iter()
                    .map(|s| format!("<div class=\"minus\">− {}</div>", esc(s))),
            )
            .collect();
        writeln!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{} / {}</td><td>{}%</td><td>{}</td><td>{}</td></tr>",
            c.competency,
            c.weight,
            c.awarded,
            c.max,
            c.percent,
            esc(&marks.join(", ")),
            seen
        )?;
    }
    writeln!(
        o,
        "</table><p class=\"muted\">Each scenario's own report has the evidence, timeline and follow-up questions.</p></body></html>"
    )?;
    Ok(())
}
