//! `breakfix watch`: the checks turning green live, with the clock.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use crate::engine::{Engine, EngineError, Round};
use crate::exit;
use crate::report::live;

/// Runs rounds until Ctrl-C (or, with `until_passing`, until every watched check passes),
/// redrawing the screen each second so the clock ticks between rounds.
pub async fn run(
    eng: &Engine,
    id: &str,
    interval: Duration,
    until_passing: bool,
) -> Result<i32, EngineError> {
    let tty = std::io::stdout().is_terminal();
    let mut last: Option<Round> = None;
    let mut seen_at = Instant::now();
    loop {
        let round = eng.observe(id, "watch");
        tokio::pin!(round);
        // Redraw every second while the round runs, so the clock does not freeze.
        let round = loop {
            tokio::select! {
                r = &mut round => break r,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {
                    if let (true, Some(l)) = (tty, &last) {
                        draw(l, seen_at);
                    }
                }
                _ = super::signal::stop_signal() => return Ok(exit::OK),
            }
        };
        let round = match round {
            Ok(r) => r,
            Err(EngineError::NotLive { id, status }) => {
                note!("session {id} is {status}: nothing left to watch");
                return Ok(exit::OK);
            }
            Err(e) => return Err(e),
        };
        seen_at = Instant::now();
        if tty {
            draw(&round, seen_at);
        } else {
            let clock = clock_secs(&round);
            for line in live::change_line(last.as_ref().map(|l| &l.report), &round.report, clock) {
                println!("{line}");
            }
            let _ = std::io::stdout().flush();
        }
        let all = round
            .report
            .checks
            .iter()
            .all(|c| c.status == crate::check::Status::Pass);
        last = Some(round);
        if until_passing && all {
            return Ok(exit::OK);
        }
        let next = Instant::now() + interval;
        while Instant::now() < next {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1).min(next - Instant::now())) => {}
                _ = super::signal::stop_signal() => return Ok(exit::OK),
            }
            if let (true, Some(l)) = (tty, &last) {
                draw(l, seen_at);
            }
        }
    }
}

fn clock_secs(r: &Round) -> u64 {
    r.session.elapsed().map_or(0, |d| d.as_secs())
}

fn draw(r: &Round, seen_at: Instant) {
    let screen = live::screen(
        &r.report,
        &r.skipped,
        clock_secs(r),
        seen_at.elapsed().as_secs(),
        true,
    );
    // Home, clear, draw: one write so the terminal never shows half a screen.
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "\x1b[H\x1b[2J{screen}");
    let _ = out.flush();
}
