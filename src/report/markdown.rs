use std::fmt::Write;

use crate::check::Status;
use crate::duration::clock_text as clock;
use crate::grade::{Report, Scope};

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub fn render(r: &Report) -> String {
    crate::report::to_string(|o| write_report(o, r))
}

fn write_report(o: &mut String, r: &Report) -> std::fmt::Result {
    writeln!(o, "# {} — {}\n", r.scenario.id, cell(&r.scenario.title))?;
    writeln!(o, "| | |\n|---|---|")?;
    writeln!(
        o,
        "| Candidate | {} |",
        cell(r.session.candidate.as_deref().unwrap_or("—"))
    )?;
    writeln!(o, "| Session | `{}` |", r.session.id)?;
    writeln!(o, "| Time | {} |", super::time_used(r))?;
    if r.scope == Scope::All {
        writeln!(
            o,
            "| Score | **{} / {}** ({}%) |",
            r.score, r.max_score, r.percent
        )?;
    }
    if r.scope == Scope::All
        && let Some(v) = &r.scenario.variant
    {
        writeln!(
            o,
            "| Variant | seed `{}` ({}) |",
            v.seed,
            cell(&v.describe())
        )?;
    }
    if let Some(sub) = &r.submission {
        writeln!(
            o,
            "| Submission | {} ({}){} |",
            cell(&sub.source),
            sub.kind,
            super::take_home_text(sub, |t| format!("`{t}`"), cell)
        )?;
    }
    if !r.complete {
        writeln!(
            o,
            "| Note | {} check(s) could not run: the grade is incomplete |",
            r.errors()
        )?;
    }
    if let Some(sub) = &r.submission {
        writeln!(o, "\n## The submission against the workspace as issued\n")?;
        if sub.changes.is_empty() {
            writeln!(
                o,
                "No file differs: the workspace came back as it was sent."
            )?;
        }
        for c in &sub.changes {
            writeln!(o, "- `{}` {:?}", c.path, c.change)?;
        }
        for c in &sub.changes {
            if let Some(d) = &c.diff {
                writeln!(
                    o,
                    "\n```diff\n{}\n```",
                    d.trim_end().replace("```", "` ` `")
                )?;
            }
        }
    }
    writeln!(o, "\n## Checks\n")?;
    writeln!(
        o,
        "| Check | Competency | Status | Points | Observed |\n|---|---|---|---|---|"
    )?;
    for c in &r.checks {
        let pts = if c.guard {
            if c.awarded < 0 {
                format!("−{} (guard)", c.points)
            } else {
                format!("guard ok (−{} if broken)", c.points)
            }
        } else {
            format!("{}/{}", c.awarded.max(0), c.points)
        };
        writeln!(
            o,
            "| {} | {} | {} | {pts} | {} |",
            cell(&c.title),
            c.competency,
            c.status,
            cell(&c.summary)
        )?;
    }
    writeln!(o, "\n## Evidence\n")?;
    for c in &r.checks {
        writeln!(o, "### `{}` — {}\n", c.id, c.status)?;
        writeln!(o, "```")?;
        for e in &c.evidence {
            writeln!(o, "{e}")?;
        }
        writeln!(o, "```\n")?;
    }
    if r.scope == Scope::Candidate {
        return Ok(());
    }
    write_interviewer_part(o, r)
}

/// What only the interviewer's report has: competencies, milestones, hints, the rubric's
/// signals, notes, the timeline and follow-up questions.
fn write_interviewer_part(o: &mut String, r: &Report) -> std::fmt::Result {
    writeln!(
        o,
        "## By competency\n\n| Competency | Points | Interviewer's marks |\n|---|---|---|"
    )?;
    for c in &r.competencies {
        writeln!(
            o,
            "| {} | {} / {} | {} |",
            c.competency,
            c.awarded,
            c.max,
            super::marks_text(c, ", ")
        )?;
    }
    let m = &r.milestones;
    let at = |s: Option<u64>| s.map_or("—".to_string(), clock);
    writeln!(
        o,
        "\n## Milestones\n\n| First command | First change | First apply | First check passing | Every check passing |\n|---|---|---|---|---|\n| {} | {} | {} | {} | {} |",
        at(m.first_command_secs),
        at(m.first_change_secs),
        at(m.first_apply_secs),
        at(m.first_pass_secs),
        at(m.all_passed_secs)
    )?;
    writeln!(o, "\n## Hints\n")?;
    if r.hints.is_empty() {
        writeln!(o, "No hints taken.")?;
    }
    for h in &r.hints {
        writeln!(
            o,
            "- Hint {} at {} (−{}): {}",
            h.number,
            clock(h.after_secs),
            h.cost,
            cell(&h.text)
        )?;
    }
    if r.penalties > 0 {
        writeln!(o, "\nGuard penalties: −{}", r.penalties)?;
        for c in r
            .checks
            .iter()
            .filter(|c| c.guard && c.status == Status::Fail)
        {
            writeln!(o, "- {}: {}", cell(&c.title), cell(&c.summary))?;
        }
    }
    let list = |o: &mut String, title: &str, items: &[String]| -> std::fmt::Result {
        writeln!(o, "\n## {title}\n")?;
        for i in items {
            writeln!(o, "- {}", cell(i))?;
        }
        Ok(())
    };
    list(o, "Strong signals to look for", &r.strong_signals)?;
    list(o, "Red flags", &r.red_flags)?;
    let notes: Vec<String> = r
        .notes
        .iter()
        .map(|n| {
            let tag = match crate::timeline::note_tag(n.competency, n.mark) {
                t if t.is_empty() => t,
                t => format!("**{t}** "),
            };
            format!("{} {tag}{}", clock(n.after_secs), n.text)
        })
        .collect();
    list(o, "Interviewer's notes", &notes)?;
    let process: Vec<String> = r
        .process_signals
        .iter()
        .map(|p| match (&p.by, p.at_secs) {
            (Some(by), Some(at)) => format!("{}: seen at {} (`{by}`)", p.title, clock(at)),
            _ => format!("{}: not seen", p.title),
        })
        .collect();
    if !process.is_empty() {
        list(o, "How they worked (process signals)", &process)?;
    }
    let signals: Vec<String> = r
        .signals
        .iter()
        .map(|e| format!("{} {}", clock(e.after_secs), e.detail))
        .collect();
    if !signals.is_empty() {
        list(
            o,
            "Signals from the browser terminal (to ask about, not verdicts)",
            &signals,
        )?;
    }
    writeln!(
        o,
        "\n## Timeline\n\n| Clock | What | Detail |\n|---|---|---|"
    )?;
    for e in &r.timeline {
        writeln!(
            o,
            "| {} | {} | {} |",
            clock(e.after_secs),
            e.kind,
            cell(&e.detail)
        )?;
    }
    list(o, "Follow-up questions", &r.follow_ups)?;
    Ok(())
}
