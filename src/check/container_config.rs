//! `container-config`: predicates on a container's configuration, read through the engine
//! (not from inside the container, so the candidate cannot fake them).

use super::{Ctx, Outcome, Predicates, is_root_user};
use crate::backend::Result;
use crate::scenario::ContainerConfigCheck;

pub async fn run(k: &ContainerConfigCheck, cx: &Ctx<'_>) -> Result<Outcome> {
    let (backend, t) = (cx.backend, cx.target);
    let service = &k.service.value;
    if !backend.state(t, service).await?.exists {
        return Ok(Outcome::fail(
            format!("service `{service}` has no container"),
            vec![],
        ));
    }
    let c = backend.config(t, service).await?;
    let mut p = Predicates::new(vec![]);
    if let Some(want) = k.non_root {
        let user = c.user.trim();
        let root = is_root_user(user);
        p.judge(
            root != want,
            format!(
                "user is `{}`",
                if user.is_empty() {
                    "(image default: root)"
                } else {
                    user
                }
            ),
        );
    }
    if let Some(want) = k.has_healthcheck {
        let has = !c.healthcheck.is_empty();
        let what = if has {
            format!("healthcheck `{}`", c.healthcheck.join(" "))
        } else {
            "no healthcheck".into()
        };
        p.judge(has == want, what);
    }
    if let Some(allowed) = &k.restart_policy_in {
        p.judge(
            allowed.iter().any(|p| p == &c.restart_policy),
            format!(
                "restart policy `{}` (allowed: {})",
                c.restart_policy,
                allowed.join(", ")
            ),
        );
    }
    if let Some(want) = k.memory_limited {
        p.judge(
            (c.memory > 0) == want,
            format!(
                "memory limit {}",
                if c.memory > 0 {
                    format!("{} MiB", c.memory >> 20)
                } else {
                    "none".into()
                }
            ),
        );
    }
    if let Some(want) = k.not_privileged {
        p.judge(
            c.privileged != want,
            format!("privileged: {}", c.privileged),
        );
    }
    if let Some(allowed) = &k.capabilities_within {
        let extra: Vec<&String> = c
            .cap_add
            .iter()
            .filter(|cap| {
                !allowed
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(cap.trim_start_matches("CAP_")))
            })
            .collect();
        let added = if c.cap_add.is_empty() {
            "none".to_string()
        } else {
            c.cap_add.join(", ")
        };
        p.judge(extra.is_empty(), format!("capabilities added: {added}"));
    }
    Ok(p.outcome(&format!("`{service}` configuration")))
}
