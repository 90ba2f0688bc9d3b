//! `stays-running`: the container stays up, with its restart count unchanged, for a window.
//! A restart loop fails as soon as a restart or an exit is seen; one lucky poll cannot pass
//! it.

use std::time::{Duration, Instant, SystemTime};

use super::{Ctx, Outcome, Patience, tail_lines};
use crate::backend::{ExitSeen, Result, ServiceState};
use crate::scenario::StaysRunning;

const POLL: Duration = Duration::from_millis(500);

/// How long a grade waits, after the window, for a healthcheck that has not decided.
const HEALTH_DECIDE: Duration = Duration::from_secs(60);

/// How long a look at the container's state may take before the engine's record of exits
/// is read instead: while the engine handles an exit (seconds on some engines), it makes
/// every inspection of that container wait.
const STATE_PATIENCE: Duration = Duration::from_millis(250);

/// What one look at the service found.
enum Look {
    State(ServiceState),
    Exited(ExitSeen),
}

pub async fn run(k: &StaysRunning, cx: &Ctx<'_>) -> Result<Outcome> {
    let service = &k.service.value;
    let since = SystemTime::now();
    let started = Instant::now();
    let exited = |exit: &ExitSeen| {
        let code = exit
            .exit_code
            .map(|c| format!(" with code {c}"))
            .unwrap_or_default();
        match exit.at.duration_since(since) {
            Ok(into) => format!(
                "service `{service}` exited{code} {:.1}s into the window",
                into.as_secs_f64()
            ),
            Err(before) => format!(
                "service `{service}` is not running: it exited{code} {:.1}s before the window and has not started again",
                before.duration().as_secs_f64()
            ),
        }
    };
    let first = match look(cx, service, since).await? {
        Look::State(s) => s,
        Look::Exited(exit) => return failed(cx, service, exited(&exit), Look::Exited(exit)).await,
    };
    // A healthcheck yet to decide: `starting`, or, when grading, `unhealthy` only because its
    // probes ran out of time, which a busy host causes as well as a hung service.
    let undecided = |s: &ServiceState| {
        k.require_healthy
            && cx.patience == Patience::Settle
            && match s.health.as_deref() {
                Some("starting") => true,
                Some("unhealthy") => s.health_timed_out,
                _ => false,
            }
    };
    let why_down = |s: &ServiceState| -> Option<String> {
        if !s.exists {
            Some(format!("service `{service}` has no container"))
        } else if !s.running {
            Some(format!("service `{service}` is not running ({s})"))
        } else if s.health.as_deref() == Some("unhealthy") && k.require_healthy && !undecided(s) {
            Some(format!("service `{service}` is running but unhealthy"))
        } else {
            None
        }
    };
    let mut last = first.clone();
    let mut health_waited = false;
    loop {
        let failure = why_down(&last)
            .or_else(|| {
                (last.restart_count > first.restart_count).then(|| {
                    format!(
                        "service `{service}` restarted during the window (restart count {} → {})",
                        first.restart_count, last.restart_count
                    )
                })
            })
            .or_else(|| {
                // Started again with no count to show for it (`docker restart`, or an exit
                // the engine's short record of events no longer holds on a busy host).
                (first.started_at.is_some() && last.started_at != first.started_at).then(|| {
                    format!(
                        "service `{service}` started again during the window (at {})",
                        last.started_at.as_deref().unwrap_or("an unknown time")
                    )
                })
            });
        if let Some(summary) = failure {
            return failed(cx, service, summary, Look::State(last)).await;
        }
        if started.elapsed() >= k.window.0 {
            // A healthcheck that has not decided yet (a loaded machine, a slow first probe)
            // is given time to decide when grading, the service still held to the window's
            // terms meanwhile.
            if !undecided(&last) || started.elapsed() >= k.window.0 + HEALTH_DECIDE {
                break;
            }
            health_waited = true;
        }
        // The last poll lands on the window's end; polls past it (a healthcheck given time
        // to decide) come at the usual pace.
        let left = k.window.0.saturating_sub(started.elapsed());
        tokio::time::sleep(if left.is_zero() { POLL } else { POLL.min(left) }).await;
        last = match look(cx, service, since).await? {
            Look::State(s) => s,
            Look::Exited(exit) => {
                return failed(cx, service, exited(&exit), Look::Exited(exit)).await;
            }
        };
    }
    // An exit and a restart between two looks that left no count behind (a `docker restart`).
    if let Some(exit) = exit_seen(cx, service, since, false).await? {
        return failed(cx, service, exited(&exit), Look::Exited(exit)).await;
    }
    if k.require_healthy && last.health.as_deref() != Some("healthy") {
        let health = last
            .health
            .clone()
            .unwrap_or_else(|| "none (no healthcheck)".into());
        return Ok(Outcome::fail(
            format!(
                "service `{service}` stayed up for {} but its health is {health}",
                k.window
            ),
            if health_waited {
                vec![
                    format!("engine state: {last}"),
                    format!(
                        "its healthcheck was given {} more to decide, and had not (still starting, or its probes timing out)",
                        humantime::format_duration(HEALTH_DECIDE)
                    ),
                ]
            } else {
                vec![format!("engine state: {last}")]
            },
        ));
    }
    let mut evidence = vec![format!("engine state: {last}")];
    if health_waited {
        evidence.push(format!(
            "its healthcheck had not decided when the {} window ended (still starting, or its probes timing out); it decided {:.1}s later",
            k.window,
            started.elapsed().saturating_sub(k.window.0).as_secs_f64()
        ));
    }
    if k.require_healthy {
        // The healthcheck runs inside the candidate's container, with its programs.
        if let Some(tampered) = super::distrust_inside(cx, service, &mut evidence).await? {
            return Ok(tampered);
        }
    }
    Ok(Outcome::pass(
        format!(
            "service `{service}` stayed running for {} with restart count steady at {}",
            k.window, last.restart_count
        ),
        evidence,
    ))
}

/// The service's state, or an exit when the state takes long to come: an exit is known from
/// the engine's record at once, the state only once the engine handled it.
async fn look(cx: &Ctx<'_>, service: &str, since: SystemTime) -> Result<Look> {
    let mut state = std::pin::pin!(cx.backend.state(cx.target, service));
    loop {
        tokio::select! {
            s = &mut state => return Ok(Look::State(s?)),
            _ = tokio::time::sleep(STATE_PATIENCE) => {
                if let Some(exit) = exit_seen(cx, service, since, true).await? {
                    return Ok(Look::Exited(exit));
                }
            }
        }
    }
}

/// How far before the window the record is read for the exit a container is still down from.
const DOWN_SINCE: Duration = Duration::from_secs(60);

/// The first exit in the window (at or after `since`); with `down_now`, else the last exit
/// before it that the container has not started again from (it is down at the window's start).
async fn exit_seen(
    cx: &Ctx<'_>,
    service: &str,
    since: SystemTime,
    down_now: bool,
) -> Result<Option<ExitSeen>> {
    let from = if down_now {
        since.checked_sub(DOWN_SINCE).unwrap_or(since)
    } else {
        since
    };
    let Some(exits) = cx.backend.exits_since(cx.target, service, from).await? else {
        return Ok(None);
    };
    if let Some(exit) = exits.iter().find(|e| e.at >= since) {
        return Ok(Some(exit.clone()));
    }
    Ok(exits
        .last()
        .filter(|e| down_now && !e.started_again)
        .cloned())
}

/// A failed outcome with what the engine said (its state, or the exit it recorded while
/// the state was not to be had) and the last lines of the service's log.
async fn failed(cx: &Ctx<'_>, service: &str, summary: String, seen: Look) -> Result<Outcome> {
    let (mut evidence, exists) = match &seen {
        Look::State(s) => (vec![format!("engine state: {s}")], s.exists),
        Look::Exited(e) => (
            vec![format!(
                "engine record: container `{}` died{}",
                cx.backend.container_name(cx.target, service),
                e.exit_code
                    .map(|c| format!(" with exit code {c}"))
                    .unwrap_or_default()
            )],
            true,
        ),
    };
    if exists {
        let logs = cx.backend.logs(cx.target, service, 8);
        // While the engine handles an exit, the log waits with the state; one look (the
        // broken-state poll, a live view) does not wait for it.
        let logs = match (&seen, cx.patience) {
            (Look::Exited(_), Patience::Once) => tokio::time::timeout(STATE_PATIENCE, logs)
                .await
                .unwrap_or_else(|_| Ok(String::new())),
            _ => logs.await,
        };
        evidence.extend(tail_lines(&logs.unwrap_or_default(), 5));
    }
    Ok(Outcome::fail(summary, evidence))
}
