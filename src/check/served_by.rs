//! `served-by`: proves who answered. Each GET from the probe carries a fresh random nonce; the
//! scenario's upstream (its image is the interviewer's, not the candidate's) answers with a
//! random token of its own and writes both to its log on a line of their own. An answer passes
//! only when the token it carries is the one the named upstream's container logged beside
//! that very nonce, and that container runs the scenario's image and program. A proxy that
//! answers itself, a cache, a mirror that forwards a copy, or another service holding the
//! upstream's name as an alias cannot produce the token for a nonce it never passed on.

use std::time::{Duration, Instant};

use regex::Regex;

use super::{Ctx, Outcome, Patience, clip};
use crate::backend::{BackendError, HttpRequest, HttpResponse, Result};
use crate::scenario::ServedByCheck;
use crate::wait::{Poll, Wait};

/// The request header carrying the probe's nonce.
pub const NONCE_HEADER: &str = "X-Breakfix-Nonce";
/// The response header carrying the upstream's token.
pub const PROOF_HEADER: &str = "X-Breakfix-Proof";
/// How an upstream's log line starts.
pub const PROOF_MARK: &str = "breakfix-proof";

/// How long a proof may take to reach the engine's log after the answer arrived: a margin
/// for a busy host, where the engine's log may trail the container. The wait ends as soon as
/// the line is there, so only an answer made elsewhere waits it out.
const LOG_WAIT: Duration = Duration::from_secs(8);
/// How long past `retry-for` a grade keeps asking when the probe itself did not finish.
const STALLED_GRACE: Duration = Duration::from_secs(30);

/// What the upstream's log says about one request.
#[derive(Debug, PartialEq)]
enum Logged {
    /// The proof line for this nonce, with the answer's token.
    Proven,
    /// The upstream received the nonce, but answered with another token: the answer the
    /// probe got was made elsewhere (a mirror that forwards a copy).
    OtherToken(String),
    /// The upstream never logged the nonce: it never received the request.
    Never,
}

/// Reads the upstream's log for the proof of `nonce`. Only a line that is exactly the proof
/// counts, so a request path or header echoed into an access log cannot forge one.
fn find_proof(log: &str, nonce: &str, token: Option<&str>) -> Logged {
    let prefix = format!("{PROOF_MARK} nonce={nonce} token=");
    let mut other = None;
    for line in log.lines().map(str::trim) {
        if let Some(logged) = line.strip_prefix(&prefix) {
            if Some(logged) == token {
                return Logged::Proven;
            }
            other = Some(logged.to_string());
        }
    }
    other.map_or(Logged::Never, Logged::OtherToken)
}

fn fresh_nonce() -> String {
    format!("{:032x}", rand::random::<u128>())
}

pub async fn run(k: &ServedByCheck, cx: &Ctx<'_>) -> Result<Outcome> {
    let (backend, t) = (cx.backend, cx.target);
    let upstream = &k.upstream.value;
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
    let mut evidence = vec![];

    // Who the upstream is: the scenario's image and program, read through the engine.
    if let Some(impostor) = upstream_identity(k, cx, &mut evidence).await? {
        return Ok(impostor);
    }

    let wanted = k.requests.value.max(1);
    let started = Instant::now();
    let mut proven = 0;
    let mut attempts = 0;
    let mut stalled = 0;
    while proven < wanted {
        attempts += 1;
        let nonce = fresh_nonce();
        let req = HttpRequest {
            service: k.service.value.clone(),
            port: k.port.value,
            path: k.path.value.clone(),
            timeout: Duration::from_secs(3),
            connect_timeout: (cx.patience == Patience::Once).then_some(Duration::from_millis(500)),
            headers: vec![(NONCE_HEADER.into(), nonce.clone())],
            read_header: Some(PROOF_HEADER.into()),
        };
        let sent = std::time::SystemTime::now();
        let resp = match backend.http(t, &req).await {
            Ok(resp) => resp,
            // The probe did not finish (a busy host): nothing was observed, so ask again.
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
        let observed = describe(&url, &resp);
        let good = resp.error.is_none()
            && resp.status == k.expect_status
            && body_re.as_ref().is_none_or(|r| r.is_match(&resp.body));
        if !good {
            // Until the first proven answer, a service that was just applied gets its moment.
            let patient =
                proven == 0 && cx.patience == Patience::Settle && started.elapsed() < k.retry_for.0;
            if patient {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            evidence.push(format!("probe: {observed} (attempt {attempts})"));
            if resp.error.is_none() {
                evidence.push(format!("body: {}", clip(&resp.body, 400)));
            }
            let why = if resp.error.is_some() || resp.status != k.expect_status {
                format!("expected {}", k.expect_status)
            } else {
                format!(
                    "the body does not match `{}`",
                    body_re.map(|r| r.to_string()).unwrap_or_default()
                )
            };
            return Ok(Outcome::fail(
                format!("{observed}, {why} ({proven} of {wanted} answers proven before it)"),
                evidence,
            ));
        }
        let token = resp.header.as_deref();
        let logged = wait_for_proof(cx, upstream, sent, &nonce, token).await?;
        let short = &nonce[..8];
        match logged {
            Logged::Proven => {
                proven += 1;
                evidence.push(format!(
                    "proven: {observed}; `{upstream}` logged nonce {short}… with the answer's token {}",
                    token.unwrap_or_default().chars().take(8).collect::<String>()
                ));
            }
            other => {
                evidence.push(format!("probe: {observed} (attempt {attempts})"));
                evidence.push(format!("body: {}", clip(&resp.body, 200)));
                evidence.push(match token {
                    Some(t) => format!("the answer carries {PROOF_HEADER}: {}", clip(t, 80)),
                    None => format!("the answer carries no {PROOF_HEADER} header"),
                });
                let why = match other {
                    Logged::OtherToken(logged) => format!(
                        "`{upstream}` received the request (nonce {short}…) but answered it with token {}, not the one the probe got: the answer was made elsewhere",
                        clip(&logged, 12)
                    ),
                    _ => format!(
                        "`{upstream}` never received the request (nonce {short}… is not in its log): something else answered"
                    ),
                };
                evidence.push(why.clone());
                return Ok(Outcome::fail(
                    format!(
                        "{observed}, but {why} ({proven} of {wanted} answers proven before it)"
                    ),
                    evidence,
                ));
            }
        }
        if cx.patience == Patience::Once {
            break;
        }
    }
    if stalled > 0 {
        evidence.push(format!(
            "the probe did not finish {stalled} attempt(s) in time (a busy host); they observed nothing and were not judged"
        ));
    }
    Ok(Outcome::pass(
        format!("GET {url}: {proven} answer(s) in a row proven to come from `{upstream}`"),
        evidence,
    ))
}

/// Whether the upstream runs the scenario's image and program (read through the engine);
/// the failing outcome when it does not, so nothing heard from it can count.
async fn upstream_identity(
    k: &ServedByCheck,
    cx: &Ctx<'_>,
    evidence: &mut Vec<String>,
) -> Result<Option<Outcome>> {
    let (backend, t) = (cx.backend, cx.target);
    let upstream = &k.upstream.value;
    if !backend.state(t, upstream).await?.exists {
        return Ok(Some(Outcome::fail(
            format!("`{upstream}` has no container, so nothing the probe hears can come from it"),
            evidence.clone(),
        )));
    }
    let config = cx.containers()?.config(t, upstream).await?;
    let image = cx
        .containers()?
        .image(t, upstream)
        .await?
        .unwrap_or_default();
    let command = k.command.as_ref().map(|c| c.value.as_slice());
    let identity =
        super::container_config::runs_image(&t.scenario, &k.image, command, &config, &image);
    for (ok, what) in &identity {
        evidence.push(format!(
            "{} `{upstream}` {what}",
            if *ok { "ok:" } else { "not ok:" }
        ));
    }
    if let Some((_, what)) = identity.iter().find(|(ok, _)| !ok) {
        return Ok(Some(Outcome::fail(
            format!("`{upstream}` {what}, so its answers prove nothing"),
            evidence.clone(),
        )));
    }
    Ok(None)
}

/// The upstream's log may reach the engine a moment after the answer reached the probe.
async fn wait_for_proof(
    cx: &Ctx<'_>,
    upstream: &str,
    sent: std::time::SystemTime,
    nonce: &str,
    token: Option<&str>,
) -> Result<Logged> {
    let found = Wait::new(LOG_WAIT, Duration::from_millis(250))
        .within(|| async {
            let lines = cx
                .backend
                .log_lines_with(cx.target, upstream, sent, nonce)
                .await?;
            // Another token for this nonce will not turn into the right one by waiting.
            Ok(match find_proof(&lines.join("\n"), nonce, token) {
                Logged::Never => Poll::Pending,
                logged => Poll::Ready(logged),
            })
        })
        .await?;
    if let Some(logged) = found {
        return Ok(logged);
    }
    // Before calling the answer made elsewhere, a last look at the whole log rather than
    // the lines stamped since `sent`, so no clock reading between us and the engine can hide
    // the line; the nonce is fresh, so no older line can carry it.
    let lines = cx
        .backend
        .log_lines_with(cx.target, upstream, std::time::UNIX_EPOCH, nonce)
        .await?;
    Ok(find_proof(&lines.join("\n"), nonce, token))
}

fn describe(url: &str, resp: &HttpResponse) -> String {
    match &resp.error {
        Some(e) => format!("GET {url} → no response ({e}) in {} ms", resp.elapsed_ms),
        None => format!("GET {url} → {} in {} ms", resp.status, resp.elapsed_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NONCE: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn only_a_line_that_is_exactly_the_proof_counts() {
        let log = format!(
            "orders API listening on :8000\n172.18.0.3 - \"GET /orders HTTP/1.1\" 200 -\n{PROOF_MARK} nonce={NONCE} token=feedface\n"
        );
        assert_eq!(find_proof(&log, NONCE, Some("feedface")), Logged::Proven);
        assert_eq!(
            find_proof(&log, NONCE, Some("cafe")),
            Logged::OtherToken("feedface".into())
        );
        assert_eq!(
            find_proof(&log, NONCE, None),
            Logged::OtherToken("feedface".into())
        );
        // A forged request line echoed into the access log does not start the line.
        let forged =
            format!("172.18.0.3 - \"GET /{PROOF_MARK} nonce={NONCE} token=cafe HTTP/1.1\" 404 -\n");
        assert_eq!(find_proof(&forged, NONCE, Some("cafe")), Logged::Never);
    }

    #[test]
    fn nonces_are_fresh_and_plain_hex() {
        let (a, b) = (fresh_nonce(), fresh_nonce());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
