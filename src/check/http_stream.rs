//! `http-stream`: a bounded stream of GETs from the session's probe container. It passes when
//! the share of errors over the whole window stays under a bound and every response came
//! from a version that is allowed, so a fix that leaves a share of traffic on a bad release,
//! or answers without any application behind it, cannot pass on one lucky request.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::{Ctx, Outcome, Patience};
use crate::backend::{HttpRequest, HttpSample, HttpStreamRequest, Result};
use crate::scenario::HttpStreamCheck;

/// How many failing requests the evidence lists one by one.
const SHOWN: usize = 5;

pub async fn run(k: &HttpStreamCheck, cx: &Ctx<'_>) -> Result<Outcome> {
    let (backend, t) = (cx.backend, cx.target);
    if cx.patience == Patience::Settle {
        settle(k, cx).await?;
    }
    let req = HttpStreamRequest {
        service: k.service.value.clone(),
        port: k.port.value,
        path: k.path.value.clone(),
        count: k.requests.value,
        interval: k.interval.value.0,
        timeout: k.request_timeout.value.0,
        header: k.version_header.as_ref().map(|h| h.value.clone()),
    };
    let started = Instant::now();
    let samples = backend.http_stream(t, &req).await?;
    Ok(judge(k, &samples, started.elapsed()))
}

/// Waits for one good answer (or `retry-for`), so a proxy that was just recreated is not
/// graded on its first second. The stream that follows is what counts.
async fn settle(k: &HttpStreamCheck, cx: &Ctx<'_>) -> Result<()> {
    let req = HttpRequest {
        service: k.service.value.clone(),
        port: k.port.value,
        path: k.path.value.clone(),
        timeout: k.request_timeout.value.0,
    };
    let started = Instant::now();
    loop {
        let resp = cx.backend.http(cx.target, &req).await?;
        if is_good(resp.status) || started.elapsed() >= k.retry_for.0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

fn is_good(status: u16) -> bool {
    (200..400).contains(&status)
}

fn status_label(status: u16) -> String {
    if status == 0 {
        "no response".into()
    } else {
        status.to_string()
    }
}

fn version_label(s: &HttpSample) -> &str {
    s.header.as_deref().unwrap_or("(none)")
}

fn describe(s: &HttpSample) -> String {
    let answer = match &s.error {
        Some(e) if s.status == 0 => format!("no response ({e})"),
        _ => s.status.to_string(),
    };
    match &s.header {
        Some(v) => format!("#{} → {answer}, version {v}, {} ms", s.seq, s.elapsed_ms),
        None => format!(
            "#{} → {answer}, no version header, {} ms",
            s.seq, s.elapsed_ms
        ),
    }
}

fn tally<'a>(items: impl Iterator<Item = String> + 'a) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for i in items {
        *counts.entry(i).or_default() += 1;
    }
    counts
        .iter()
        .map(|(k, n)| format!("{k} × {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The verdict on a finished stream.
pub(crate) fn judge(k: &HttpStreamCheck, samples: &[HttpSample], took: Duration) -> Outcome {
    let url = format!(
        "http://{}:{}{}",
        k.service.value, k.port.value, k.path.value
    );
    let total = samples.len();
    let mut evidence = vec![format!(
        "probe: {total} GETs to {url}, one every {}, in {:.1} s, from the session's probe container",
        k.interval.value,
        took.as_secs_f64()
    )];
    if total == 0 {
        return Outcome::fail(format!("no request to {url} was recorded"), evidence);
    }
    evidence.push(format!(
        "by status: {}",
        tally(samples.iter().map(|s| status_label(s.status)))
    ));
    let header = k.version_header.as_ref().map(|h| h.value.as_str());
    if let Some(h) = header {
        evidence.push(format!(
            "by version ({h}): {}",
            tally(samples.iter().map(|s| version_label(s).to_string()))
        ));
    }

    let errors: Vec<&HttpSample> = samples.iter().filter(|s| !is_good(s.status)).collect();
    let percent = errors.len() as f64 * 100.0 / total as f64;
    if !errors.is_empty() {
        evidence.push(format!(
            "first errors: {}",
            errors
                .iter()
                .take(SHOWN)
                .map(|s| describe(s))
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }

    let allowed = k.allowed_versions.as_ref().map(|a| &a.value);
    let forbidden = k.forbidden_versions.as_ref().map(|f| &f.value);
    let not_allowed: Vec<&HttpSample> = samples
        .iter()
        .filter(|s| {
            let v = s.header.as_deref();
            // A request with no response says nothing about versions: the error rate covers it.
            s.status != 0
                && (allowed.is_some_and(|a| !v.is_some_and(|v| a.iter().any(|x| x == v)))
                    || forbidden.is_some_and(|f| v.is_some_and(|v| f.iter().any(|x| x == v))))
        })
        .collect();
    if !not_allowed.is_empty() {
        evidence.push(format!(
            "first responses from a version not allowed: {}",
            not_allowed
                .iter()
                .take(SHOWN)
                .map(|s| describe(s))
                .collect::<Vec<_>>()
                .join("; ")
        ));
    }

    let mut problems = Vec::new();
    if percent > k.max_error_percent.value {
        problems.push(format!(
            "{} of {total} requests failed ({percent:.1}%, at most {}% allowed)",
            errors.len(),
            k.max_error_percent.value
        ));
    }
    if !not_allowed.is_empty() {
        let versions = tally(not_allowed.iter().map(|s| version_label(s).to_string()));
        let rule = match (allowed, forbidden) {
            (Some(a), _) => format!("allowed: {}", a.join(", ")),
            (None, Some(f)) => format!("forbidden: {}", f.join(", ")),
            (None, None) => String::new(),
        };
        problems.push(format!(
            "{} of {total} responses came from a version not allowed ({versions}; {rule})",
            not_allowed.len()
        ));
    }
    if problems.is_empty() {
        let versions = header
            .map(|_| {
                format!(
                    ", versions {}",
                    tally(samples.iter().map(|s| version_label(s).to_string()))
                )
            })
            .unwrap_or_default();
        Outcome::pass(
            format!(
                "{} of {total} requests failed ({percent:.1}%, at most {}% allowed){versions}",
                errors.len(),
                k.max_error_percent.value
            ),
            evidence,
        )
    } else {
        Outcome::fail(problems.join("; "), evidence)
    }
}
