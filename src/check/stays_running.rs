//! `stays-running`: the container stays up, with its restart count unchanged, for a window.
//! A restart loop fails as soon as a restart is seen; one lucky poll cannot pass it.

use std::time::{Duration, Instant};

use super::{Ctx, Outcome, tail_lines};
use crate::backend::{Result, ServiceState};
use crate::scenario::StaysRunning;

const POLL: Duration = Duration::from_millis(500);

pub async fn run(k: &StaysRunning, cx: &Ctx<'_>) -> Result<Outcome> {
    let (backend, t) = (cx.backend, cx.target);
    let service = &k.service.value;
    let first = backend.state(t, service).await?;
    let why_down = |s: &ServiceState| -> Option<String> {
        if !s.exists {
            Some(format!("service `{service}` has no container"))
        } else if !s.running {
            Some(format!("service `{service}` is not running ({s})"))
        } else if s.health.as_deref() == Some("unhealthy") && k.require_healthy {
            Some(format!("service `{service}` is running but unhealthy"))
        } else {
            None
        }
    };
    let started = Instant::now();
    let mut last = first.clone();
    loop {
        let failure = why_down(&last).or_else(|| {
            (last.restart_count > first.restart_count).then(|| {
                format!(
                    "service `{service}` restarted during the window (restart count {} → {})",
                    first.restart_count, last.restart_count
                )
            })
        });
        if let Some(summary) = failure {
            let mut evidence = vec![format!("engine state: {last}")];
            if last.exists {
                let logs = backend.logs(t, service, 8).await.unwrap_or_default();
                evidence.extend(tail_lines(&logs, 5));
            }
            return Ok(Outcome::fail(summary, evidence));
        }
        if started.elapsed() >= k.window.0 {
            break;
        }
        tokio::time::sleep(POLL.min(k.window.0.saturating_sub(started.elapsed()))).await;
        last = backend.state(t, service).await?;
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
            vec![format!("engine state: {last}")],
        ));
    }
    let mut evidence = vec![format!("engine state: {last}")];
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
