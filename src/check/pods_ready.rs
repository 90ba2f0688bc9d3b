//! `pods-ready`: the pods a selector matches are Ready, enough of them, and stay so over a
//! window with their restart counts unchanged and none replaced. A CrashLoopBackOff pod is
//! Running between crashes; only Ready over time tells a fixed Deployment from a lucky poll.
//! While grading, pods still rolling out after an apply get up to one window to settle.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::{Ctx, Outcome, Patience};
use crate::backend::{PodState, Result};
use crate::scenario::PodsReadyCheck;

const POLL: Duration = Duration::from_millis(500);

/// Why the pods do not count as ready now; `None` when they do.
pub fn not_ready(pods: &[PodState], min_ready: u32) -> Option<String> {
    let live: Vec<&PodState> = pods.iter().filter(|p| !p.terminating).collect();
    let ready = live.iter().filter(|p| p.ready).count();
    if let Some(p) = live.iter().find(|p| !p.ready) {
        let why = p
            .waiting
            .clone()
            .unwrap_or_else(|| format!("phase {}", p.phase));
        return Some(format!(
            "pod {} is not ready ({why}); {ready} of {} ready",
            p.name,
            live.len()
        ));
    }
    if (ready as u32) < min_ready {
        return Some(format!("{ready} pod(s) ready, {min_ready} required"));
    }
    None
}

/// Live pods of two templates: a rollout is under way, and a broken pod between two crashes
/// may look Ready for a moment. Pods being deleted no longer serve (they left the Service's
/// endpoints) and a slow node may take minutes to reap them, so they do not hold it up.
pub fn rolling(pods: &[PodState]) -> bool {
    let revisions: BTreeSet<&Option<String>> = live(pods).map(|p| &p.revision).collect();
    revisions.len() > 1
}

fn live(pods: &[PodState]) -> impl Iterator<Item = &PodState> {
    pods.iter().filter(|p| !p.terminating)
}

fn evidence(pods: &[PodState]) -> Vec<String> {
    if pods.is_empty() {
        return vec!["no pod matches the selector".into()];
    }
    pods.iter().map(|p| format!("pod {p}")).collect()
}

pub async fn run(k: &PodsReadyCheck, cx: &Ctx<'_>) -> Result<Outcome> {
    let t = cx.target;
    let selector = &k.selector.value;
    let window = k.window.0;
    let min = k.min_ready.value;
    // Settle: a rollout in progress gets up to one window to finish.
    let settle = Instant::now();
    let mut pods = cx.cluster()?.pods(t, selector).await?;
    loop {
        let rolling = rolling(&pods);
        match not_ready(&pods, min) {
            None if !rolling => break,
            why => {
                if cx.patience == Patience::Once || settle.elapsed() >= window {
                    let summary = why.unwrap_or_else(|| "a rollout is still replacing pods".into());
                    return Ok(Outcome::fail(summary, evidence(&pods)));
                }
            }
        }
        tokio::time::sleep(POLL).await;
        pods = cx.cluster()?.pods(t, selector).await?;
    }
    if cx.patience == Patience::Once {
        return Ok(Outcome::pass(
            format!("{} pod(s) ready", pods.len()),
            evidence(&pods),
        ));
    }
    // Only live pods count: an old one that finishes terminating was not replaced.
    let names: BTreeSet<String> = live(&pods).map(|p| p.name.clone()).collect();
    let restarts: i64 = live(&pods).map(|p| p.restarts).sum();
    let started = Instant::now();
    while started.elapsed() < window {
        tokio::time::sleep(POLL.min(window.saturating_sub(started.elapsed()))).await;
        let now = cx.cluster()?.pods(t, selector).await?;
        if let Some(why) = not_ready(&now, min) {
            return Ok(Outcome::fail(
                format!(
                    "{why}, {:.0}s into the window",
                    started.elapsed().as_secs_f64()
                ),
                evidence(&now),
            ));
        }
        let now_restarts: i64 = live(&now).map(|p| p.restarts).sum();
        if now_restarts > restarts {
            return Ok(Outcome::fail(
                format!(
                    "containers restarted during the window (restarts {restarts} → {now_restarts})"
                ),
                evidence(&now),
            ));
        }
        let now_names: BTreeSet<String> = live(&now).map(|p| p.name.clone()).collect();
        if now_names != names {
            return Ok(Outcome::fail(
                "pods were replaced during the window",
                evidence(&now),
            ));
        }
        pods = now;
    }
    Ok(Outcome::pass(
        format!(
            "{} pod(s) ready for {} with no restart",
            live(&pods).count(),
            humantime::format_duration(window)
        ),
        evidence(&pods),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, ready: bool, waiting: Option<&str>) -> PodState {
        PodState {
            name: name.into(),
            phase: "Running".into(),
            ready,
            waiting: waiting.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn a_crash_looping_pod_is_not_ready_and_says_why() {
        let why = not_ready(&[pod("api-1", false, Some("CrashLoopBackOff"))], 1).unwrap();
        assert!(
            why.contains("api-1 is not ready (CrashLoopBackOff)"),
            "{why}"
        );
    }

    #[test]
    fn pods_of_two_templates_are_a_rollout_still_under_way() {
        let mut old = pod("api-old", true, None);
        old.revision = Some("aaa".into());
        let mut new = pod("api-new", true, None);
        new.revision = Some("bbb".into());
        assert!(rolling(&[old.clone(), new.clone()]));
        // An old pod the node is still reaping does not hold the rollout up.
        old.terminating = true;
        assert!(!rolling(&[old.clone(), new.clone()]));
        old.terminating = false;
        new.revision = Some("aaa".into());
        assert!(!rolling(&[old, new]));
    }

    #[test]
    fn too_few_ready_pods_fail_and_terminating_ones_do_not_count() {
        let mut old = pod("api-old", true, None);
        old.terminating = true;
        let why = not_ready(&[pod("api-1", true, None), old], 2).unwrap();
        assert_eq!(why, "1 pod(s) ready, 2 required");
        assert_eq!(not_ready(&[pod("api-1", true, None)], 1), None);
        assert!(not_ready(&[], 1).is_some());
    }
}
