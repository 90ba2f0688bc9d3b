use std::fmt::Write;

use crate::check::Status;
use crate::duration::clock_text as clock;
use crate::grade::{Report, Scope};

fn mark(status: Status) -> &'static str {
    match status {
        Status::Pass => "PASS ",
        Status::Fail => "FAIL ",
        Status::Error => "ERROR",
    }
}

pub fn render(r: &Report) -> String {
    super::to_string(|o| write_report(o, r))
}

fn write_report(o: &mut String, r: &Report) -> std::fmt::Result {
    let who = super::candidate(r);
    writeln!(o, "{} — {}", r.scenario.id, r.scenario.title)?;
    writeln!(
        o,
        "session {} · {who} · {}",
        r.session.id,
        super::time_used(r)
    )?;
    if r.scope == Scope::All
        && let Some(v) = &r.scenario.variant
    {
        writeln!(o, "variant: seed {} ({})", v.seed, v.describe())?;
    }
    if let Some(sub) = &r.submission {
        writeln!(
            o,
            "submission: {} ({}){}, {} file(s) differ from the workspace as issued",
            sub.source,
            sub.kind,
            super::take_home_text(sub, str::to_string, str::to_string),
            sub.changes.len()
        )?;
        for c in &sub.changes {
            writeln!(
                o,
                "  {:<8} {}",
                format!("{:?}", c.change).to_lowercase(),
                c.path
            )?;
        }
    }
    writeln!(o)?;
    let width = r.checks.iter().map(|c| c.id.len()).max().unwrap_or(0);
    for c in &r.checks {
        let pts = if c.guard {
            if c.awarded < 0 {
                format!("-{} guard", c.points)
            } else {
                "guard".to_string()
            }
        } else {
            format!("{}/{}", c.awarded.max(0), c.points)
        };
        writeln!(
            o,
            "{} {:<width$}  {:>9}  {}",
            mark(c.status),
            c.id,
            pts,
            c.summary
        )?;
        if c.status != Status::Pass {
            for e in c.evidence.iter().take(6) {
                writeln!(o, "{:6}{e}", "")?;
            }
        }
    }
    writeln!(o)?;
    if r.scope == Scope::Candidate {
        let passed = r.checks.iter().filter(|c| c.status == Status::Pass).count();
        writeln!(o, "{passed} of {} visible checks pass", r.checks.len())?;
        return Ok(());
    }
    for c in &r.competencies {
        let marks = if c.marks.is_empty() {
            String::new()
        } else {
            format!("   interviewer: {}", super::marks_text(c, ", "))
        };
        writeln!(
            o,
            "  {:<24} {:>4} / {}{marks}",
            c.competency, c.awarded, c.max
        )?;
    }
    if let Some(s) = r.milestones.all_passed_secs {
        writeln!(o, "  every check passing at {}", clock(s))?;
    }
    if !r.notes.is_empty() {
        writeln!(o, "  interviewer's notes: {}", r.notes.len())?;
    }
    if r.hint_cost > 0 {
        writeln!(
            o,
            "  hints taken: {} (-{} points)",
            r.hints.len(),
            r.hint_cost
        )?;
    }
    if r.penalties > 0 {
        writeln!(o, "  guard penalties: -{}", r.penalties)?;
    }
    writeln!(o, "score {} / {} ({}%)", r.score, r.max_score, r.percent)?;
    if !r.complete {
        writeln!(
            o,
            "incomplete: {} check(s) could not run; the score is not a verdict (fix the cause and grade again)",
            r.errors()
        )?;
    }
    Ok(())
}
