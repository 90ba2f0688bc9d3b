//! `http`: a GET from the session's probe container (outside the candidate's containers),
//! retried for a short while so a service that was just applied gets its moment.

use std::time::{Duration, Instant};

use regex::Regex;

use super::{Ctx, Outcome, Patience, clip};
use crate::backend::{HttpRequest, Result};
use crate::scenario::HttpCheck;

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
    };
    let started = Instant::now();
    let mut attempts = 0;
    loop {
        attempts += 1;
        let resp = backend.http(t, &req).await?;
        let observed = match &resp.error {
            Some(e) => format!("GET {url} → no response ({e}) in {} ms", resp.elapsed_ms),
            None => format!("GET {url} → {} in {} ms", resp.status, resp.elapsed_ms),
        };
        let status_ok = resp.status == k.expect_status;
        let body_ok = body_re.as_ref().is_none_or(|r| r.is_match(&resp.body));
        let mut evidence = vec![format!(
            "probe: {observed} (attempt {attempts}, from the session's probe container)"
        )];
        if resp.error.is_none() {
            evidence.push(format!("body: {}", clip(&resp.body, 400)));
        }
        if status_ok && body_ok {
            return Ok(Outcome::pass(observed, evidence));
        }
        if cx.patience == Patience::Once || started.elapsed() >= k.retry_for.0 {
            let summary = if !status_ok {
                format!("{observed}, expected {}", k.expect_status)
            } else {
                format!(
                    "{observed}, but the body does not match `{}`",
                    body_re.map(|r| r.to_string()).unwrap_or_default()
                )
            };
            return Ok(Outcome::fail(summary, evidence));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
