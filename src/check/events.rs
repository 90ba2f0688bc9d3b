//! `events`: no event with a forbidden reason (BackOff, Unhealthy, OOMKilling...) happens in
//! the session's namespace while the check watches. The API folds repeats into one event
//! with a count, so "happened" means a new event or a count that went up. Old events of a
//! broken state that was fixed do not count against the fix.

use std::collections::BTreeMap;

use super::{Ctx, Outcome, Patience};
use crate::backend::{EventInfo, Result};
use crate::scenario::EventsCheck;

fn relevant<'e>(
    events: &'e [EventInfo],
    k: &EventsCheck,
) -> BTreeMap<(String, String), &'e EventInfo> {
    events
        .iter()
        .filter(|e| k.forbid.iter().any(|r| r.value == e.reason))
        .filter(|e| {
            k.object_prefix.as_deref().is_none_or(|p| {
                e.object
                    .split_once('/')
                    .is_some_and(|(_, name)| name.starts_with(p))
            })
        })
        .map(|e| ((e.object.clone(), e.reason.clone()), e))
        .collect()
}

fn line(e: &EventInfo, times: i64) -> String {
    format!(
        "{} {} ×{times}: {}",
        e.object,
        e.reason,
        super::clip(&e.message, 160)
    )
}

/// What happened between two readings of the events: new events and counts that rose.
pub fn new_occurrences(before: &[EventInfo], after: &[EventInfo], k: &EventsCheck) -> Vec<String> {
    let old = relevant(before, k);
    relevant(after, k)
        .into_iter()
        .filter_map(|(key, e)| {
            let was = old.get(&key).map_or(0, |o| o.count);
            (e.count > was).then(|| line(e, e.count - was))
        })
        .collect()
}

pub async fn run(k: &EventsCheck, cx: &Ctx<'_>) -> Result<Outcome> {
    let reasons: Vec<&str> = k.forbid.iter().map(|r| r.value.as_str()).collect();
    let before = cx.cluster()?.events(cx.target).await?;
    if cx.patience == Patience::Once {
        let seen: Vec<String> = relevant(&before, k)
            .values()
            .map(|e| line(e, e.count))
            .collect();
        return Ok(if seen.is_empty() {
            Outcome::pass(format!("no {} event so far", reasons.join("/")), vec![])
        } else {
            Outcome::fail(
                format!("{} event(s) of {}", seen.len(), reasons.join("/")),
                seen,
            )
        });
    }
    tokio::time::sleep(k.window.0).await;
    let mut after = cx.cluster()?.events(cx.target).await?;
    // A pod a rollout removed during the window (the broken one being replaced) may still
    // have backed off once more; only pods that are still there speak about the fix.
    let live: Vec<String> = cx
        .cluster()?
        .pods(cx.target, "")
        .await?
        .into_iter()
        .filter(|p| !p.terminating)
        .map(|p| format!("Pod/{}", p.name))
        .collect();
    after.retain(|e| !e.object.starts_with("Pod/") || live.contains(&e.object));
    let new = new_occurrences(&before, &after, k);
    let window = humantime::format_duration(k.window.0);
    Ok(if new.is_empty() {
        Outcome::pass(
            format!("no {} event in {window}", reasons.join("/")),
            vec![],
        )
    } else {
        Outcome::fail(
            format!("{} {} event(s) in {window}", new.len(), reasons.join("/")),
            new,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::duration::HumanDuration;
    use crate::yaml::Located;

    fn ev(object: &str, reason: &str, count: i64) -> EventInfo {
        EventInfo {
            object: object.into(),
            reason: reason.into(),
            message: "Back-off restarting failed container".into(),
            count,
            kind: "Warning".into(),
        }
    }

    fn check() -> EventsCheck {
        EventsCheck {
            forbid: vec![Located::new("BackOff".into())],
            window: Located::new(HumanDuration::secs(1)),
            object_prefix: Some("api-".into()),
        }
    }

    #[test]
    fn only_new_events_and_risen_counts_count() {
        let before = vec![ev("Pod/api-1", "BackOff", 4), ev("Pod/web-1", "BackOff", 1)];
        let quiet = vec![ev("Pod/api-1", "BackOff", 4), ev("Pod/web-1", "BackOff", 9)];
        assert!(new_occurrences(&before, &quiet, &check()).is_empty());
        let risen = vec![
            ev("Pod/api-1", "BackOff", 6),
            ev("Pod/api-2", "BackOff", 1),
            ev("Pod/api-2", "Pulled", 1),
        ];
        let new = new_occurrences(&before, &risen, &check());
        assert_eq!(new.len(), 2, "{new:?}");
        assert!(new[0].starts_with("Pod/api-1 BackOff ×2"), "{new:?}");
    }
}
