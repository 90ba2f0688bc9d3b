//! `http`: a GET from the session's probe container (outside the candidate's containers),
//! retried for a short while so a service that was just applied gets its moment. With
//! `hold`, the first good answer starts a window in which every answer must be good: a
//! service that degrades again (a volume that fills again) fails within it.

use std::time::{Duration, Instant};

use regex::Regex;

use super::{Ctx, Outcome, Patience, clip};
use crate::backend::{BackendError, HttpRequest, HttpResponse, Result};
use crate::scenario::HttpCheck;

/// The shortest time an attempt after the first is given.
const LAST_ATTEMPT: Duration = Duration::from_millis(500);

/// How long past `retry-for` a grade keeps asking when the probe itself did not finish.
const STALLED_GRACE: Duration = Duration::from_secs(30);

pub async fn run(k: &HttpCheck, cx: &Ctx<'_>) -> Result<Outcome> {
    let (backend, t) = (cx.backend, cx.target);
    let url = format!(
        "http://{}:{}{}",
        k.service.value, k.port.value, k.path.value
    );
    let body_re = match &k.body_matches {
        Some(p) => match Regex::new(p) {
            Ok(r) => Some(r),
            Err(e) => return Ok(Outcome::fail(format!("invalid body pattern: {e}"), vec![])),
        },
        None => None,
    };
    let req = HttpRequest {
        service: k.service.value.clone(),
        port: k.port.value,
        path: k.path.value.clone(),
        timeout: Duration::from_secs(3),
        // One look (the broken-state poll, a live view) does not wait on a peer that is gone:
        // a container that just died leaves connections to its address hanging.
        connect_timeout: (cx.patience == Patience::Once).then_some(Duration::from_millis(500)),
        ..Default::default()
    };
    let started = Instant::now();
    let mut attempts = 0;
    let mut stalled = 0;
    loop {
        attempts += 1;
        // Until the probe has brought back an answer, an attempt gets the whole request
        // timeout; after that no more than what is left of `retry-for` (at least half a
        // second), so a grade ends close to the time its check declares.
        let attempt = if attempts == stalled + 1 {
            req.clone()
        } else {
            HttpRequest {
                timeout: req
                    .timeout
                    .min(k.retry_for.0.saturating_sub(started.elapsed()))
                    .max(LAST_ATTEMPT),
                ..req.clone()
            }
        };
        let resp = match backend.http(t, &attempt).await {
            Ok(resp) => resp,
            // The probe did not finish (a busy host): nothing was observed, so when grading,
            // ask again, a while past `retry-for`, rather than judge the service on it.
            Err(BackendError::Timeout { .. })
                if cx.patience == Patience::Settle
                    && started.elapsed() < k.retry_for.0 + STALLED_GRACE =>
            {
                stalled += 1;
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        let observed = match &resp.error {
            Some(e) => format!("GET {url} → no response ({e}) in {} ms", resp.elapsed_ms),
            None => format!("GET {url} → {} in {} ms", resp.status, resp.elapsed_ms),
        };
        let fault = judge(&resp, k.expect_status, body_re.as_ref());
        let mut evidence = vec![format!(
            "probe: {observed} (attempt {attempts}, from the session's probe container)"
        )];
        if resp.error.is_none() {
            evidence.push(format!("body: {}", clip(&resp.body, 400)));
        }
        if stalled > 0 {
            evidence.push(format!(
                "the probe did not finish {stalled} earlier attempt(s) in time (a busy host); they observed nothing and were not judged"
            ));
        }
        let Some(fault) = fault else {
            return match &k.hold {
                Some(hold) if cx.patience == Patience::Settle => {
                    hold_for(hold.0, &req, &url, &body_re, k, cx, evidence).await
                }
                _ => Ok(Outcome::pass(observed, evidence)),
            };
        };
        if cx.patience == Patience::Once || started.elapsed() >= k.retry_for.0 {
            let summary = match fault {
                Fault::Body(pattern) => {
                    format!("{observed}, but the body does not match `{pattern}`")
                }
                Fault::NoResponse(_) | Fault::Status(_) => {
                    format!("{observed}, expected {}", k.expect_status)
                }
            };
            return Ok(Outcome::fail(summary, evidence));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Why an answer is not a good one.
#[derive(Debug, PartialEq)]
enum Fault {
    NoResponse(String),
    Status(u16),
    /// The body does not match this pattern.
    Body(String),
}

/// Whether an answer is a good one: the expected status and, when asked for, a body that
/// matches. `None` when it is.
fn judge(resp: &HttpResponse, expect_status: u16, body: Option<&Regex>) -> Option<Fault> {
    if let Some(e) = &resp.error {
        return Some(Fault::NoResponse(e.clone()));
    }
    if resp.status != expect_status {
        return Some(Fault::Status(resp.status));
    }
    match body {
        Some(r) if !r.is_match(&resp.body) => Some(Fault::Body(r.to_string())),
        _ => None,
    }
}

/// How often the held window asks again.
const HOLD_EVERY: Duration = Duration::from_secs(1);

/// Keeps asking for `hold` after a good answer; fails at the first answer that is not good.
async fn hold_for(
    hold: Duration,
    req: &HttpRequest,
    url: &str,
    body_re: &Option<Regex>,
    k: &HttpCheck,
    cx: &Ctx<'_>,
    mut evidence: Vec<String>,
) -> Result<Outcome> {
    let started = Instant::now();
    let mut good = 1;
    let mut slowest = 0;
    let mut last: Option<HttpResponse> = None;
    while started.elapsed() < hold {
        tokio::time::sleep(HOLD_EVERY.min(hold.saturating_sub(started.elapsed()))).await;
        let resp = cx.backend.http(cx.target, req).await?;
        let at = started.elapsed().as_secs_f64();
        if let Some(fault) = judge(&resp, k.expect_status, body_re.as_ref()) {
            let observed = match fault {
                Fault::NoResponse(e) => format!("no response ({e})"),
                Fault::Status(got) => format!("{got}, expected {}", k.expect_status),
                Fault::Body(pattern) => {
                    format!("{} but the body does not match `{pattern}`", resp.status)
                }
            };
            evidence.push(format!(
                "held: {good} good answer(s), then at {at:.1}s into the {} window: GET {url} → {observed}",
                humantime::format_duration(hold)
            ));
            if resp.error.is_none() {
                evidence.push(format!("body: {}", clip(&resp.body, 400)));
            }
            return Ok(Outcome::fail(
                format!(
                    "GET {url} answered well at first, then {observed} {at:.1}s into the {} it had to hold",
                    humantime::format_duration(hold)
                ),
                evidence,
            ));
        }
        good += 1;
        slowest = slowest.max(resp.elapsed_ms);
        last = Some(resp);
    }
    evidence.push(format!(
        "held: {good} good answers over {} (one a second), slowest {slowest} ms",
        humantime::format_duration(hold)
    ));
    if let Some(resp) = &last {
        evidence.push(format!("last body: {}", clip(&resp.body, 400)));
    }
    Ok(Outcome::pass(
        format!(
            "GET {url} → {} for {} without a bad answer",
            k.expect_status,
            humantime::format_duration(hold)
        ),
        evidence,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(status: u16, body: &str, error: Option<&str>) -> HttpResponse {
        HttpResponse {
            status,
            body: body.into(),
            error: error.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn an_answer_is_good_with_the_expected_status_and_a_matching_body() {
        let re = Regex::new(r#""status":\s*"ok""#).unwrap();
        assert_eq!(
            judge(&answer(200, r#"{"status": "ok"}"#, None), 200, Some(&re)),
            None
        );
        assert_eq!(judge(&answer(200, "anything", None), 200, None), None);
    }

    #[test]
    fn an_answer_is_faulted_for_the_first_thing_wrong_with_it() {
        let re = Regex::new("ok").unwrap();
        assert_eq!(
            judge(&answer(0, "", Some("connection refused")), 200, Some(&re)),
            Some(Fault::NoResponse("connection refused".into()))
        );
        assert_eq!(
            judge(&answer(502, "ok", None), 200, Some(&re)),
            Some(Fault::Status(502))
        );
        assert_eq!(
            judge(&answer(200, "down", None), 200, Some(&re)),
            Some(Fault::Body("ok".into()))
        );
        // A status the check expects is good even when it is an error status.
        assert_eq!(judge(&answer(503, "", None), 503, None), None);
    }
}
