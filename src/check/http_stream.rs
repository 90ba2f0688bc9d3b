//! `http-stream`: a bounded stream of GETs from the session's probe container. It passes when
//! the share of errors over the whole window stays under a bound and every response came
//! from a version that is allowed, so a fix that leaves a share of traffic on a bad release,
//! or answers without any application behind it, cannot pass on one lucky request.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::{Ctx, Outcome, Patience};
use crate::backend::{HttpRequest, HttpSample, HttpStreamRequest, Result};
use crate::scenario::HttpStreamCheck;
use crate::wait::{Poll, Wait};

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
        connect_timeout: None,
        service: k.service.value.clone(),
        port: k.port.value,
        path: k.path.value.clone(),
        timeout: k.request_timeout.value.0,
        ..Default::default()
    };
    // Best effort: past `retry-for` the stream is what judges the service.
    Wait::new(k.retry_for.0, Duration::from_millis(500))
        .within(|| async {
            let resp = cx.backend.http(cx.target, &req).await?;
            Ok(if is_good(resp.status) {
                Poll::Ready(())
            } else {
                Poll::Pending
            })
        })
        .await?;
    Ok(())
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
        let mut parts = Vec::new();
        if k.max_error_percent.value < 100.0 {
            parts.push(format!(
                "{} of {total} requests failed ({percent:.1}%, at most {}% allowed)",
                errors.len(),
                k.max_error_percent.value
            ));
        }
        if header.is_some() {
            let versions = tally(samples.iter().map(|s| version_label(s).to_string()));
            parts.push(if allowed.is_some() || forbidden.is_some() {
                format!("every response came from an allowed version ({versions})")
            } else {
                format!("versions: {versions}")
            });
        }
        if parts.is_empty() {
            parts.push(format!("{total} requests answered"));
        }
        Outcome::pass(parts.join("; "), evidence)
    } else {
        Outcome::fail(problems.join("; "), evidence)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::stream;
    use crate::check::Status;
    use crate::yaml;

    /// Recorded from the probe against the scenario's broken state (nginx → storefront 2.0.0).
    const BROKEN: &str = "1\t200\t2.0.0\t0.006725\t\n2\t500\t2.0.0\t0.003080\t\n\
        3\t200\t2.0.0\t0.009114\t\n4\t500\t2.0.0\t0.002592\t\n5\t200\t2.0.0\t0.005764\t\n\
        6\t500\t2.0.0\t0.003371\t\n--breakfix-stream-end\n";
    /// Recorded with both colours in the upstream: round robin, half the traffic on 2.0.0.
    const SPLIT: &str = "1\t200\t2.0.0\t0.002631\t\n2\t200\t1.8.3\t0.002756\t\n\
        3\t500\t2.0.0\t0.002894\t\n4\t200\t1.8.3\t0.002537\t\n5\t200\t2.0.0\t0.002103\t\n\
        6\t200\t1.8.3\t0.004281\t\n7\t500\t2.0.0\t0.002803\t\n8\t200\t1.8.3\t0.002663\t\n\
        --breakfix-stream-end\n";
    /// Recorded with the proxy answering a canned 200 itself: no version header.
    const STATIC: &str = "1\t200\t\t0.004117\t\n2\t200\t\t0.001373\t\n3\t200\t\t0.001184\t\n\
        4\t200\t\t0.002946\t\n--breakfix-stream-end\n";
    /// Recorded after the rollback: every answer from blue.
    const ROLLED_BACK: &str = "1\t200\t1.8.3\t0.008583\t\n2\t200\t1.8.3\t0.002478\t\n\
        3\t200\t1.8.3\t0.002406\t\n4\t200\t1.8.3\t0.002585\t\n--breakfix-stream-end\n";
    /// Recorded against a port nothing listens on, and a host that does not resolve.
    const REFUSED: &str = "1\t000\t\t0.017911\tFailed to connect to proxy port 8081 after 17 ms: \
        Couldn't connect to server\n2\t000\t\t1.001376\tResolving timed out after 1001 \
        milliseconds\n--breakfix-stream-end\n";

    fn check(extra: &str) -> HttpStreamCheck {
        let text = format!(
            "service: proxy\nport: 8080\npath: /api/products\nversion-header: X-App-Version\n{extra}"
        );
        yaml::from_str_plain(&text).unwrap()
    }

    fn verdict(k: &HttpStreamCheck, recorded: &str) -> Outcome {
        let (samples, complete) = stream::parse(recorded);
        assert!(complete, "the recording ends with the end mark");
        judge(k, &samples, Duration::from_millis(700))
    }

    #[test]
    fn the_parser_reads_status_version_time_and_error_of_every_request() {
        let (samples, complete) = stream::parse(BROKEN);
        assert!(complete);
        assert_eq!(samples.len(), 6);
        assert_eq!(
            samples[1],
            HttpSample {
                seq: 2,
                status: 500,
                header: Some("2.0.0".into()),
                elapsed_ms: 3,
                error: None,
            }
        );
        let (refused, _) = stream::parse(REFUSED);
        assert_eq!(refused[0].status, 0);
        assert_eq!(refused[0].header, None);
        assert!(
            refused[0]
                .error
                .as_deref()
                .unwrap()
                .starts_with("Failed to connect")
        );
    }

    #[test]
    fn a_stream_cut_short_is_not_complete() {
        let cut = BROKEN.replace("--breakfix-stream-end\n", "");
        assert!(!stream::parse(&cut).1);
    }

    #[test]
    fn half_the_requests_failing_on_the_bad_release_fails_the_error_rate() {
        let o = verdict(&check("max-error-percent: 2\n"), BROKEN);
        assert_eq!(o.status, Status::Fail);
        assert!(
            o.summary.contains("3 of 6 requests failed (50.0%"),
            "{}",
            o.summary
        );
        assert!(
            o.evidence
                .iter()
                .any(|e| e == "by status: 200 × 3, 500 × 3"),
            "{:?}",
            o.evidence
        );
        assert!(
            o.evidence
                .iter()
                .any(|e| e.starts_with("first errors: #2 → 500, version 2.0.0, 3 ms")),
            "{:?}",
            o.evidence
        );
    }

    #[test]
    fn a_split_that_still_sends_traffic_to_the_bad_release_fails_both_ways() {
        let errors = verdict(&check("max-error-percent: 2\n"), SPLIT);
        assert_eq!(errors.status, Status::Fail);
        let versions = verdict(
            &check("max-error-percent: 100\nallowed-versions: [\"1.8.3\"]\n"),
            SPLIT,
        );
        assert_eq!(versions.status, Status::Fail);
        assert!(
            versions
                .summary
                .contains("4 of 8 responses came from a version not allowed (2.0.0 × 4"),
            "{}",
            versions.summary
        );
        let forbidden = verdict(
            &check("max-error-percent: 100\nforbidden-versions: [\"2.0.0\"]\n"),
            SPLIT,
        );
        assert_eq!(forbidden.status, Status::Fail);
    }

    #[test]
    fn a_canned_answer_without_a_version_header_is_not_an_allowed_version() {
        let k = check("max-error-percent: 2\nallowed-versions: [\"1.8.3\"]\n");
        let o = verdict(&k, STATIC);
        assert_eq!(o.status, Status::Fail);
        assert!(o.summary.contains("(none) × 4"), "{}", o.summary);
        // Only a forbidden list says nothing about answers that name no version.
        let lenient = check("max-error-percent: 2\nforbidden-versions: [\"2.0.0\"]\n");
        assert_eq!(verdict(&lenient, STATIC).status, Status::Pass);
    }

    #[test]
    fn a_rolled_back_stream_passes_and_names_the_versions_it_saw() {
        let k = check("max-error-percent: 2\nallowed-versions: [\"1.8.3\"]\n");
        let o = verdict(&k, ROLLED_BACK);
        assert_eq!(o.status, Status::Pass, "{o:?}");
        assert_eq!(
            o.summary,
            "0 of 4 requests failed (0.0%, at most 2% allowed); \
             every response came from an allowed version (1.8.3 × 4)"
        );
    }

    #[test]
    fn requests_with_no_response_count_as_errors_not_as_versions() {
        let k = check("max-error-percent: 50\nallowed-versions: [\"1.8.3\"]\n");
        let o = verdict(&k, REFUSED);
        assert_eq!(o.status, Status::Fail);
        assert_eq!(
            o.summary,
            "2 of 2 requests failed (100.0%, at most 50% allowed)"
        );
        assert!(
            o.evidence
                .iter()
                .any(|e| e.contains("#1 → no response (Failed to connect")),
            "{:?}",
            o.evidence
        );
    }

    #[test]
    fn an_empty_stream_fails() {
        let o = judge(&check(""), &[], Duration::ZERO);
        assert_eq!(o.status, Status::Fail);
    }
}
