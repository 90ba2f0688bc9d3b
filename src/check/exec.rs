//! `exec`: a command run inside a service's container. The container is the candidate's, so
//! the evidence says the result was observed from inside it.

use regex::Regex;

use super::{Ctx, Outcome, Patience, clip};
use crate::backend::{ExecOutput, Result, ServiceState};
use crate::scenario::ExecCheck;

pub async fn run(k: &ExecCheck, cx: &Ctx<'_>) -> Result<Outcome> {
    let (backend, t) = (cx.backend, cx.target);
    let service = &k.service.value;
    let state = backend.state(t, service).await?;
    if !state.running {
        return Ok(Outcome::fail(
            format!(
                "cannot run `{}`: service `{service}` is not running",
                k.command.join(" ")
            ),
            vec![format!("engine state: {state}")],
        ));
    }
    let cmd = k.command.join(" ");
    let mut out = match exec_or_stopped(k, &cmd, cx, &state).await? {
        Ok(out) => out,
        Err(stopped) => return Ok(stopped),
    };
    let mut evidence = vec![format!(
        "ran `{cmd}` inside `{service}` (a candidate-controlled container)"
    )];
    // A busy host can hold an exec past its deadline: a grade runs it once more before
    // calling it stuck.
    if out.exit_code.is_none() && cx.patience == Patience::Settle {
        evidence.push(format!(
            "the first run did not finish within {}; ran it again",
            k.timeout
        ));
        out = match exec_or_stopped(k, &cmd, cx, &state).await? {
            Ok(out) => out,
            Err(stopped) => return Ok(stopped),
        };
    }
    evidence.push(format!("output: {}", clip(&out.output, 600)));
    let Some(code) = out.exit_code else {
        let runs = if cx.patience == Patience::Settle {
            " (twice)"
        } else {
            ""
        };
        return Ok(Outcome::fail(
            format!("`{cmd}` did not finish within {}{runs}", k.timeout),
            evidence,
        ));
    };
    evidence.push(format!("exit code: {code}"));
    if let Some(tampered) = super::distrust_inside(cx, service, &mut evidence).await? {
        return Ok(tampered);
    }
    if code != k.expect_exit {
        return Ok(Outcome::fail(
            format!("`{cmd}` exited {code}, expected {}", k.expect_exit),
            evidence,
        ));
    }
    if let Some(p) = &k.output_matches {
        // The pattern was validated when the scenario loaded.
        let matched = Regex::new(p).is_ok_and(|re| re.is_match(&out.output));
        if !matched {
            return Ok(Outcome::fail(
                format!(
                    "`{cmd}` exited {code} but its output does not match `{}`",
                    p.value
                ),
                evidence,
            ));
        }
    }
    Ok(Outcome::pass(
        format!("`{cmd}` exited {code} as expected"),
        evidence,
    ))
}

/// Runs the command, or — when the engine refuses because the container stopped after the
/// look (a service in a restart loop) — the failed outcome that says so: an observation
/// about the service, not a check that could not run.
async fn exec_or_stopped(
    k: &ExecCheck,
    cmd: &str,
    cx: &Ctx<'_>,
    before: &ServiceState,
) -> Result<std::result::Result<ExecOutput, Outcome>> {
    let (backend, t, service) = (cx.backend, cx.target, &k.service.value);
    let e = match backend.exec(t, service, &k.command, k.timeout.0).await {
        Ok(out) => return Ok(Ok(out)),
        Err(e) if e.is_unreachable() => return Err(e),
        Err(e) => e,
    };
    let now = backend.state(t, service).await?;
    if now.running && now.started_at == before.started_at {
        return Err(e);
    }
    Ok(Err(Outcome::fail(
        format!("cannot run `{cmd}`: service `{service}` stopped as it was asked to"),
        vec![
            format!("engine state before: {before}"),
            format!("the engine refused the command: {e}"),
            format!("engine state after: {now}"),
        ],
    )))
}
