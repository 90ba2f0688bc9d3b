//! The live view of `breakfix watch`: a screen a terminal redraws, or, when output is not a
//! terminal, one line per change so a log of the session reads as its timeline.

use std::fmt::Write;

use crate::check::Status;
use crate::duration::clock_text as clock;
use crate::grade::Report;

/// The screen: the clock, every check with its status and when it first passed, the hints.
/// `clock_secs` is the session clock now; `age_secs` how old the round is.
pub fn screen(
    r: &Report,
    skipped: &[String],
    clock_secs: u64,
    age_secs: u64,
    color: bool,
) -> String {
    super::to_string(|o| write_screen(o, r, skipped, clock_secs, age_secs, color))
}

fn write_screen(
    o: &mut String,
    r: &Report,
    skipped: &[String],
    clock_secs: u64,
    age_secs: u64,
    color: bool,
) -> std::fmt::Result {
    let paint = |status: Status, text: &str| {
        if !color {
            return text.to_string();
        }
        let code = match status {
            Status::Pass => "32",
            Status::Fail => "31",
            Status::Error => "33",
        };
        format!("\x1b[1;{code}m{text}\x1b[0m")
    };
    let who = super::candidate(r);
    let left = r.session.time_limit_secs.saturating_sub(clock_secs);
    writeln!(o, "{} — {}   {who}", r.scenario.id, r.scenario.title)?;
    writeln!(
        o,
        "clock {} of {}{}   hints {} (−{})   score now {} / {}",
        clock(clock_secs),
        clock(r.session.time_limit_secs),
        if clock_secs > r.session.time_limit_secs {
            " OVER TIME".to_string()
        } else {
            format!(", {} left", clock(left))
        },
        r.hints.len(),
        r.hint_cost,
        r.score,
        r.max_score
    )?;
    writeln!(o)?;
    let width = r.checks.iter().map(|c| c.id.len()).max().unwrap_or(0);
    for c in &r.checks {
        let label = match c.status {
            Status::Pass => "PASS ",
            Status::Fail => "FAIL ",
            Status::Error => "ERROR",
        };
        let since = match (c.first_passed_secs, c.broke_again) {
            (Some(s), true) => format!("first passed {}, broke again", clock(s)),
            (Some(s), false) => format!("first passed {}", clock(s)),
            (None, _) => String::new(),
        };
        writeln!(
            o,
            "{} {:<width$}  {:<32}  {}",
            paint(c.status, label),
            c.id,
            since,
            c.summary
        )?;
    }
    for id in skipped {
        writeln!(
            o,
            "  -   {id:<width$}  runs only in `breakfix grade` (it changes the sandbox or runs a pipeline)"
        )?;
    }
    writeln!(
        o,
        "\nchecks seen {age_secs}s ago · each is tried once per round (grade gives settling time) · Ctrl-C to leave"
    )
}

/// One line for a check whose status changed since the previous round (`None`: first round).
pub fn change_line(before: Option<&Report>, now: &Report, clock_secs: u64) -> Vec<String> {
    now.checks
        .iter()
        .filter(|c| {
            before.is_none_or(|b| {
                b.checks
                    .iter()
                    .find(|x| x.id == c.id)
                    .is_none_or(|x| x.status != c.status)
            })
        })
        .map(|c| format!("{} {} {}: {}", clock(clock_secs), c.status, c.id, c.summary))
        .collect()
}
