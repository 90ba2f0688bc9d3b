//! `prometheus-alert`: an alert drill. The check drives the service itself through its admin
//! control (healthy, then failing, then back to what it found), and observes the outcome from
//! the probe container: Prometheus's alerts API, and the notifications a webhook receiver
//! recorded from Alertmanager. Nothing is read from inside the candidate's containers.
//!
//! A drill changes the sandbox, so the kind runs after the checks that only observe, and the
//! checks of one grade that ask for the same drill share one run: the first runs it, the
//! others take their verdict from it. A later grade starts a fresh drill.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{Ctx, Outcome, Patience, clip};
use crate::backend::{BackendError, HttpRequest, HttpResponse, Result};
use crate::scenario::{AlertExpectation, PrometheusAlertCheck};
use crate::wait::{Poll, Wait};

const POLL: Duration = Duration::from_secs(1);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);
/// A scrape after the control changed, then an evaluation: the sandbox's Prometheus scrapes
/// every second or two.
const EVALUATION_MARGIN: Duration = Duration::from_secs(2);

/// The two verdicts of one drill, and the grade (round) it ran for.
#[derive(Clone)]
struct Drill {
    round: u64,
    quiet: Outcome,
    fires: Outcome,
}

type Slot = Arc<tokio::sync::Mutex<Option<Drill>>>;

static DRILLS: LazyLock<Mutex<HashMap<String, Slot>>> = LazyLock::new(Default::default);

pub async fn run(k: &PrometheusAlertCheck, cx: &Ctx<'_>) -> Result<Outcome> {
    if cx.patience == Patience::Once {
        return glance(k, cx).await;
    }
    let slot = {
        let mut drills = DRILLS.lock().unwrap_or_else(|p| p.into_inner());
        drills.entry(drill_key(k, cx)).or_default().clone()
    };
    let mut shared = slot.lock().await;
    let drill = match shared.as_ref() {
        // The drill of this grade already ran (for the other expectation): share it.
        Some(d) if d.round == cx.round => d.clone(),
        _ => {
            let d = Drill {
                round: cx.round,
                ..run_drill(k, cx).await?
            };
            *shared = Some(d.clone());
            d
        }
    };
    Ok(match k.expect {
        AlertExpectation::FiresOnFault => drill.fires,
        AlertExpectation::QuietWhenHealthy => drill.quiet,
    })
}

/// Polling for the broken state asks many times in a row, and a drill takes most of a minute:
/// look without driving anything. Firing means an alert fires now and the receiver holds a
/// page; quiet means nothing is active now.
async fn glance(k: &PrometheusAlertCheck, cx: &Ctx<'_>) -> Result<Outcome> {
    let name = k.alert_name.as_ref().map(|n| n.value.as_str());
    let note = "observed without a drill (polling for the broken state)".to_string();
    let active = match active_alerts(k, cx).await? {
        Ok(a) => a,
        Err(why) => return Ok(Outcome::fail(why, vec![note])),
    };
    let active = matching(&active, name);
    let mut evidence = vec![note];
    evidence.extend(active.iter().map(|a| format!("alert: {a}")));
    if k.expect == AlertExpectation::QuietWhenHealthy {
        return Ok(if active.is_empty() {
            Outcome::pass("no alert is active", evidence)
        } else {
            Outcome::fail(format!("{} active", active.join("; ")), evidence)
        });
    }
    if !active.iter().any(|a| a.contains(" firing since ")) {
        return Ok(Outcome::fail("no alert is firing", evidence));
    }
    let paged = match notifications(k, cx).await? {
        Ok(all) => first_page_after(&all, 0, name).map(|n| n.seq),
        Err(why) => return Ok(Outcome::fail(why, evidence)),
    };
    Ok(match paged {
        Some(seq) => Outcome::pass(
            format!("an alert is firing and the receiver recorded page {seq}"),
            evidence,
        ),
        None => Outcome::fail(
            "an alert is firing but the receiver recorded no page",
            evidence,
        ),
    })
}

/// Checks of one session with the same drill settings share a run, whatever they expect.
fn drill_key(k: &PrometheusAlertCheck, cx: &Ctx<'_>) -> String {
    let mut same = k.clone();
    same.expect = AlertExpectation::FiresOnFault;
    format!(
        "{}\n{}",
        cx.target.session,
        serde_json::to_string(&same).unwrap_or_default()
    )
}

/// The drill's running record: evidence lines shared by both verdicts.
struct Log {
    started: Instant,
    lines: Vec<String>,
}

impl Log {
    fn note(&mut self, line: impl AsRef<str>) {
        let t = self.started.elapsed().as_secs_f64();
        self.lines.push(format!("t+{t:.1}s {}", line.as_ref()));
    }
}

async fn run_drill(k: &PrometheusAlertCheck, cx: &Ctx<'_>) -> Result<Drill> {
    let mut log = Log {
        started: Instant::now(),
        lines: vec![],
    };
    let control = HttpRequest {
        connect_timeout: None,
        service: k.service.value.clone(),
        port: k.control.port.value,
        path: k.control.path.value.clone(),
        timeout: REQUEST_TIMEOUT,
        ..Default::default()
    };
    let found = cx.backend.http(cx.target, &control).await?;
    if found.status != 200 {
        let why = format!(
            "the control http://{}:{}{} of `{}` did not answer ({})",
            control.service,
            control.port,
            control.path,
            control.service,
            describe(&found)
        );
        log.note(&why);
        let o = Outcome::fail(format!("could not drive the drill: {why}"), log.lines);
        return Ok(finish(o.clone(), o));
    }
    let found = found.body.trim().to_string();
    log.note(format!(
        "control of `{}` found at `{found}`",
        k.service.value
    ));
    note_rules(k, cx, &mut log).await?;

    let result = phases(k, cx, &control, &mut log).await;
    // Leave the service as it was found, whatever the drill saw.
    let restored = cx
        .backend
        .http_send(cx.target, &control, "POST", Some(&found))
        .await;
    match &restored {
        Ok(r) if r.status == 200 => log.note(format!("control set back to `{found}`")),
        Ok(r) => log.note(format!(
            "could not set the control back to `{found}` ({})",
            describe(r)
        )),
        Err(e) => log.note(format!("could not set the control back to `{found}`: {e}")),
    }
    let (quiet, fires) = result?;
    restored?;
    let mut quiet = quiet;
    let mut fires = fires;
    quiet.evidence.extend(log.lines.iter().cloned());
    fires.evidence.extend(log.lines);
    Ok(finish(quiet, fires))
}

/// The round is set by the caller, which knows it.
fn finish(quiet: Outcome, fires: Outcome) -> Drill {
    Drill {
        round: 0,
        quiet,
        fires,
    }
}

/// The two phases; returns the quiet verdict and the firing verdict (evidence lines come from
/// the log, added by the caller).
async fn phases(
    k: &PrometheusAlertCheck,
    cx: &Ctx<'_>,
    control: &HttpRequest,
    log: &mut Log,
) -> Result<(Outcome, Outcome)> {
    let name = k.alert_name.as_ref().map(|n| n.value.as_str());
    // How the evidence names what is watched: one alert, or all of them.
    let (which, none) = match name {
        Some(n) => (format!("alert `{n}`"), format!("alert `{n}` did not fire")),
        None => ("every alert".to_string(), "no alert fired".to_string()),
    };

    let quiet = match healthy_phase(k, cx, control, log, name, &which).await? {
        Ok(quiet) => quiet,
        // Not quiet while healthy: the fault is not tried.
        Err(both) => return Ok(both),
    };
    let fires = fault_phase(k, cx, control, log, name, &none).await?;
    Ok((quiet, fires))
}

/// The service healthy: the alert must clear within `settle` and stay quiet for the quiet
/// window. `Err` holds both outcomes when it does not (the fault is then not tried).
async fn healthy_phase(
    k: &PrometheusAlertCheck,
    cx: &Ctx<'_>,
    control: &HttpRequest,
    log: &mut Log,
    name: Option<&str>,
    which: &str,
) -> Result<std::result::Result<Outcome, (Outcome, Outcome)>> {
    set_control(cx, control, &k.control.healthy, log).await?;
    let settle_started = Instant::now();
    // Prometheus that was just (re)started reports no alerts until its first evaluation:
    // "nothing active" only counts once its rules were evaluated on data scraped after the
    // service became healthy.
    let healthy_at = time::OffsetDateTime::now_utc();
    let evaluated = Wait::new(k.settle.0, POLL)
        .within(|| async {
            Ok(
                if evaluated_since(k, cx, healthy_at + EVALUATION_MARGIN).await? {
                    Poll::Ready(())
                } else {
                    Poll::Pending
                },
            )
        })
        .await?;
    if evaluated.is_some() {
        log.note("Prometheus evaluated its rules after the service became healthy");
    }
    let mut last_active = vec![];
    let mut answered = false;
    let cleared = loop {
        match active_alerts(k, cx).await? {
            Ok(active) => {
                answered = true;
                let active = matching(&active, name);
                if active.is_empty() {
                    log.note("nothing pending or firing");
                    break true;
                }
                last_active = active;
            }
            Err(why) => last_active = vec![why],
        }
        if settle_started.elapsed() >= k.settle.0 {
            break false;
        }
        tokio::time::sleep(POLL).await;
    };
    if !cleared {
        let summary = if answered {
            format!(
                "{} still active {} after the service became healthy",
                last_active.join("; "),
                k.settle
            )
        } else {
            format!(
                "Prometheus did not answer within {}: {}",
                k.settle,
                last_active.join("; ")
            )
        };
        log.note(&summary);
        let quiet = Outcome::fail(summary, vec![]);
        let fires = Outcome::fail(
            "not tried: an alert was already active while the service was healthy, so firing on the fault would prove nothing",
            vec![],
        );
        return Ok(Err((quiet, fires)));
    }
    let cleared_after = settle_started.elapsed();
    let quiet_started = Instant::now();
    while quiet_started.elapsed() < k.quiet_window.0 {
        tokio::time::sleep(POLL).await;
        match active_alerts(k, cx).await? {
            Ok(active) => {
                let active = matching(&active, name);
                if !active.is_empty() {
                    let summary = format!(
                        "{} became active while the service was healthy",
                        active.join("; ")
                    );
                    log.note(&summary);
                    let fires = Outcome::fail(
                        "not tried: an alert fires while the service is healthy".to_string(),
                        vec![],
                    );
                    return Ok(Err((Outcome::fail(summary, vec![]), fires)));
                }
            }
            Err(why) => log.note(why),
        }
    }
    let quiet_summary = format!(
        "{which} cleared {:.0}s after the service became healthy and stayed quiet for {}",
        cleared_after.as_secs_f64(),
        k.quiet_window
    );
    log.note(format!("quiet for {}", k.quiet_window));
    Ok(Ok(Outcome::pass(quiet_summary, vec![])))
}

/// The service failing: the alert must fire within `fire-within`, and the receiver record a
/// firing notification within `notify-within` of that.
async fn fault_phase(
    k: &PrometheusAlertCheck,
    cx: &Ctx<'_>,
    control: &HttpRequest,
    log: &mut Log,
    name: Option<&str>,
    none: &str,
) -> Result<Outcome> {
    let before = match notifications(k, cx).await? {
        Ok(n) => n.iter().map(|n| n.seq).max().unwrap_or(0),
        Err(why) => {
            log.note(&why);
            let fires = Outcome::fail(format!("the receiver did not answer: {why}"), vec![]);
            return Ok(fires);
        }
    };
    log.note(format!(
        "receiver has recorded {before} notification(s) so far"
    ));
    set_control(cx, control, &k.control.failing, log).await?;
    let fault_started = Instant::now();
    let mut seen_pending = false;
    let fired = loop {
        match active_alerts(k, cx).await? {
            Ok(active) => {
                let ours: Vec<&ActiveAlert> = active
                    .iter()
                    .filter(|a| name.is_none_or(|n| a.name == n))
                    .collect();
                if let Some(a) = ours.iter().find(|a| a.state == "firing") {
                    log.note(format!("{} firing", a.render()));
                    break Some(a.render());
                }
                if !seen_pending && let Some(a) = ours.first() {
                    log.note(format!("{} pending", a.render()));
                    seen_pending = true;
                }
            }
            Err(why) => log.note(why),
        }
        if fault_started.elapsed() >= k.fire_within.0 {
            break None;
        }
        tokio::time::sleep(POLL).await;
    };
    let Some(fired) = fired else {
        let summary = if seen_pending {
            format!(
                "an alert was still pending {} after the service started failing (its `for:` is longer than that)",
                k.fire_within
            )
        } else {
            format!("{none} within {} of the service failing", k.fire_within)
        };
        log.note(&summary);
        return Ok(Outcome::fail(summary, vec![]));
    };
    let fired_after = fault_started.elapsed();
    let notify_started = Instant::now();
    loop {
        match notifications(k, cx).await? {
            Ok(all) => {
                if let Some(n) = first_page_after(&all, before, name) {
                    let summary = format!(
                        "{fired} fired {:.0}s after the service started failing; the receiver recorded notification {} ({}, receiver `{}`) {:.0}s later",
                        fired_after.as_secs_f64(),
                        n.seq,
                        n.firing.join(", "),
                        n.receiver,
                        notify_started.elapsed().as_secs_f64()
                    );
                    log.note(format!("notification {} recorded", n.seq));
                    return Ok(Outcome::pass(summary, vec![]));
                }
            }
            Err(why) => log.note(why),
        }
        if notify_started.elapsed() >= k.notify_within.0 {
            let summary = format!(
                "{fired} fired, but the receiver recorded no firing notification within {} (is Alertmanager routing it to the receiver?)",
                k.notify_within
            );
            log.note(&summary);
            return Ok(Outcome::fail(summary, vec![]));
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn set_control(cx: &Ctx<'_>, control: &HttpRequest, body: &str, log: &mut Log) -> Result<()> {
    let r = cx
        .backend
        .http_send(cx.target, control, "POST", Some(body))
        .await?;
    if r.status != 200 {
        // The control answered before; it failing now is the drill's problem, not the
        // candidate's.
        return Err(BackendError::Engine {
            op: "drive the control of",
            object: control.service.clone(),
            source: format!("POST {} answered {}", control.path, describe(&r)).into(),
        });
    }
    log.note(format!(
        "POST `{body}` to {}:{}{}",
        control.service, control.port, control.path
    ));
    Ok(())
}

/// Logs the loaded alerting rules once, so the evidence shows what Prometheus evaluated.
/// Whether every rule group was last evaluated after `since` (and there is at least one).
async fn evaluated_since(
    k: &PrometheusAlertCheck,
    cx: &Ctx<'_>,
    since: time::OffsetDateTime,
) -> Result<bool> {
    let r = prometheus_api(k, cx, "rules").await?;
    Ok(r.status == 200 && groups_evaluated_since(&r.body, since))
}

/// Reads `lastEvaluation` of every group in a `/api/v1/rules` answer.
fn groups_evaluated_since(body: &str, since: time::OffsetDateTime) -> bool {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return false;
    };
    let Some(groups) = v["data"]["groups"].as_array().filter(|g| !g.is_empty()) else {
        return false;
    };
    groups.iter().all(|g| {
        g["lastEvaluation"]
            .as_str()
            .and_then(|t| {
                time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()
            })
            .is_some_and(|t| t >= since)
    })
}

/// GET an endpoint of Prometheus's HTTP API (`rules`, `alerts`) from the probe.
async fn prometheus_api(
    k: &PrometheusAlertCheck,
    cx: &Ctx<'_>,
    endpoint: &str,
) -> Result<HttpResponse> {
    get(
        cx,
        &k.prometheus.service,
        k.prometheus.port.value,
        &api(k, endpoint),
    )
    .await
}

async fn note_rules(k: &PrometheusAlertCheck, cx: &Ctx<'_>, log: &mut Log) -> Result<()> {
    let r = prometheus_api(k, cx, "rules").await?;
    if r.status != 200 {
        log.note(format!("Prometheus rules: no answer ({})", describe(&r)));
        return Ok(());
    }
    match parse_rules(&r.body) {
        Ok(rules) if rules.is_empty() => log.note("Prometheus has no alerting rule loaded"),
        Ok(rules) => {
            for rule in rules.iter().take(8) {
                log.note(format!("rule: {}", clip(rule, 300)));
            }
        }
        Err(why) => log.note(format!("Prometheus rules: {why}")),
    }
    Ok(())
}

/// The active alerts, or why Prometheus gave none (not answering is not an engine error: the
/// candidate may have broken Prometheus).
async fn active_alerts(
    k: &PrometheusAlertCheck,
    cx: &Ctx<'_>,
) -> Result<std::result::Result<Vec<ActiveAlert>, String>> {
    let r = prometheus_api(k, cx, "alerts").await?;
    if r.status != 200 {
        return Ok(Err(format!("Prometheus alerts: {}", describe(&r))));
    }
    Ok(parse_alerts(&r.body))
}

async fn notifications(
    k: &PrometheusAlertCheck,
    cx: &Ctx<'_>,
) -> Result<std::result::Result<Vec<Notification>, String>> {
    let r = get(
        cx,
        &k.receiver.service,
        k.receiver.port.value,
        &k.receiver.path,
    )
    .await?;
    if r.status != 200 {
        return Ok(Err(format!("receiver: {}", describe(&r))));
    }
    Ok(parse_notifications(&r.body))
}

async fn get(cx: &Ctx<'_>, service: &str, port: u16, path: &str) -> Result<HttpResponse> {
    let req = HttpRequest {
        connect_timeout: None,
        service: service.to_string(),
        port,
        path: path.to_string(),
        timeout: REQUEST_TIMEOUT,
        ..Default::default()
    };
    cx.backend.http(cx.target, &req).await
}

/// Prometheus's API under its path prefix (`/` unless it runs with `--web.route-prefix`).
fn api(k: &PrometheusAlertCheck, what: &str) -> String {
    format!("{}/api/v1/{what}", k.prometheus.path.trim_end_matches('/'))
}

fn describe(r: &HttpResponse) -> String {
    match &r.error {
        Some(e) => format!("no response: {e}"),
        None => format!("HTTP {}: {}", r.status, clip(&r.body, 200)),
    }
}

/// An alert Prometheus reports as pending or firing.
#[derive(Clone, Debug, PartialEq)]
struct ActiveAlert {
    name: String,
    state: String,
    labels: Vec<(String, String)>,
    active_at: String,
}

impl ActiveAlert {
    fn render(&self) -> String {
        let labels: Vec<String> = self
            .labels
            .iter()
            .filter(|(k, _)| k != "alertname")
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect();
        format!("{}{{{}}}", self.name, labels.join(","))
    }
}

/// Active alerts of `name` (or all), rendered with their state.
fn matching(alerts: &[ActiveAlert], name: Option<&str>) -> Vec<String> {
    alerts
        .iter()
        .filter(|a| name.is_none_or(|n| a.name == n))
        .filter(|a| a.state == "pending" || a.state == "firing")
        .map(|a| format!("{} {} since {}", a.render(), a.state, a.active_at))
        .collect()
}

/// `/api/v1/alerts`.
fn parse_alerts(body: &str) -> std::result::Result<Vec<ActiveAlert>, String> {
    let v: Value = serde_json::from_str(body)
        .map_err(|e| format!("Prometheus alerts: not JSON ({e}): {}", clip(body, 200)))?;
    if v["status"] != "success" {
        return Err(format!("Prometheus alerts: {}", clip(body, 200)));
    }
    let Some(list) = v["data"]["alerts"].as_array() else {
        return Err(format!(
            "Prometheus alerts: no data.alerts in {}",
            clip(body, 200)
        ));
    };
    Ok(list
        .iter()
        .map(|a| {
            let mut labels: Vec<(String, String)> = a["labels"]
                .as_object()
                .map(|m| {
                    m.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                        .collect()
                })
                .unwrap_or_default();
            labels.sort();
            ActiveAlert {
                name: a["labels"]["alertname"].as_str().unwrap_or("?").to_string(),
                state: a["state"].as_str().unwrap_or_default().to_string(),
                labels,
                active_at: a["activeAt"].as_str().unwrap_or("?").to_string(),
            }
        })
        .collect())
}

/// `/api/v1/rules`: each alerting rule as one line of evidence.
fn parse_rules(body: &str) -> std::result::Result<Vec<String>, String> {
    let v: Value = serde_json::from_str(body).map_err(|e| format!("not JSON ({e})"))?;
    let mut out = vec![];
    for group in v["data"]["groups"].as_array().into_iter().flatten() {
        for rule in group["rules"].as_array().into_iter().flatten() {
            if rule["type"] != "alerting" {
                continue;
            }
            let mut line = format!(
                "`{}` = `{}` for {}s, labels {}, health {}",
                rule["name"].as_str().unwrap_or("?"),
                rule["query"].as_str().unwrap_or("?"),
                rule["duration"].as_f64().unwrap_or(0.0),
                rule["labels"],
                rule["health"].as_str().unwrap_or("?"),
            );
            if let Some(e) = rule["lastError"].as_str().filter(|e| !e.is_empty()) {
                line.push_str(&format!(" ({e})"));
            }
            out.push(line);
        }
    }
    Ok(out)
}

/// One webhook call the receiver recorded.
#[derive(Clone, Debug, PartialEq)]
struct Notification {
    seq: u64,
    receiver: String,
    /// Names of the alerts in it whose own status is `firing`.
    firing: Vec<String>,
}

/// The receiver's `{"count": N, "notifications": [{"seq", "payload"}]}`.
fn parse_notifications(body: &str) -> std::result::Result<Vec<Notification>, String> {
    let v: Value = serde_json::from_str(body)
        .map_err(|e| format!("receiver: not JSON ({e}): {}", clip(body, 200)))?;
    let Some(list) = v["notifications"].as_array() else {
        return Err(format!(
            "receiver: no notifications list in {}",
            clip(body, 200)
        ));
    };
    Ok(list
        .iter()
        .map(|n| {
            let p = &n["payload"];
            Notification {
                seq: n["seq"].as_u64().unwrap_or(0),
                receiver: p["receiver"].as_str().unwrap_or("?").to_string(),
                firing: p["alerts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|a| a["status"] == "firing")
                    .map(|a| a["labels"]["alertname"].as_str().unwrap_or("?").to_string())
                    .collect(),
            }
        })
        .collect())
}

/// The first notification recorded after `after` that carries a firing alert (of `name`).
fn first_page_after<'a>(
    all: &'a [Notification],
    after: u64,
    name: Option<&str>,
) -> Option<&'a Notification> {
    all.iter()
        .filter(|n| n.seq > after)
        .find(|n| n.firing.iter().any(|f| name.is_none_or(|want| f == want)))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Recorded from Prometheus 2.42 (Debian bookworm) and the scenario's webhook receiver.
    const ALERTS_NONE: &str = r#"{"status":"success","data":{"alerts":[]}}"#;
    const ALERTS_FIRING: &str = r#"{"status":"success","data":{"alerts":[{"labels":{"alertname":"CheckoutHighErrorRate","severity":"page"},"annotations":{},"state":"firing","activeAt":"2026-11-22T00:58:50.517938301Z","value":"1e+00"}]}}"#;
    const RULES: &str = r#"{"status":"success","data":{"groups":[{"name":"checkout","file":"/etc/prometheus/rules/checkout.yml","rules":[{"state":"inactive","name":"CheckoutHighErrorRate","query":"sum(rate(http_requests_total{job=\"checkout\",status=~\"5..\"}[30s])) \u003e 1","duration":900,"keepFiringFor":0,"labels":{"severity":"critical"},"annotations":{"runbook":"https://runbooks.acme.internal/checkout/high-error-rate","summary":"checkout is answering requests with server errors"},"alerts":[],"health":"ok","evaluationTime":0.00035833,"lastEvaluation":"2026-11-22T00:55:17.522614838Z","type":"alerting"}],"interval":1,"limit":0,"evaluationTime":0.00038051,"lastEvaluation":"2026-11-22T00:55:17.522596214Z"}]}}"#;

    #[test]
    fn rules_count_as_evaluated_only_after_the_given_moment() {
        use time::macros::datetime;
        assert!(groups_evaluated_since(
            RULES,
            datetime!(2026-11-22 00:55:17 UTC)
        ));
        assert!(!groups_evaluated_since(
            RULES,
            datetime!(2026-11-22 00:55:18 UTC)
        ));
        assert!(!groups_evaluated_since(
            r#"{"status":"success","data":{"groups":[]}}"#,
            datetime!(2026-11-22 00:00:00 UTC)
        ));
        assert!(!groups_evaluated_since(
            "not json",
            datetime!(2026-11-22 00:00:00 UTC)
        ));
    }
    const NOTIFICATIONS_NONE: &str = r#"{"count": 0, "notifications": []}"#;

    #[test]
    fn an_empty_alerts_answer_has_nothing_active() {
        let alerts = parse_alerts(ALERTS_NONE).unwrap();
        assert!(matching(&alerts, None).is_empty());
    }

    #[test]
    fn a_firing_alert_is_active_and_rendered_with_its_labels() {
        let alerts = parse_alerts(ALERTS_FIRING).unwrap();
        assert_eq!(alerts.len(), 1);
        assert_eq!(alerts[0].state, "firing");
        assert_eq!(
            alerts[0].render(),
            r#"CheckoutHighErrorRate{severity="page"}"#
        );
        let active = matching(&alerts, None);
        assert_eq!(active.len(), 1);
        assert!(active[0].contains("firing since 2026-11-22T00:58:50"));
    }

    #[test]
    fn an_alert_name_filter_ignores_other_alerts() {
        let alerts = parse_alerts(ALERTS_FIRING).unwrap();
        assert!(matching(&alerts, Some("Watchdog")).is_empty());
        assert_eq!(matching(&alerts, Some("CheckoutHighErrorRate")).len(), 1);
    }

    #[test]
    fn a_prometheus_error_answer_is_reported_not_taken_for_quiet() {
        let body = r#"{"status":"error","errorType":"unavailable","error":"not ready"}"#;
        assert!(parse_alerts(body).unwrap_err().contains("not ready"));
        assert!(parse_alerts("Service Unavailable").is_err());
    }

    #[test]
    fn loaded_rules_show_their_query_duration_and_labels() {
        let rules = parse_rules(RULES).unwrap();
        assert_eq!(rules.len(), 1);
        assert!(rules[0].contains(r#"status=~"5..""#), "{}", rules[0]);
        assert!(rules[0].contains("for 900s"), "{}", rules[0]);
        assert!(
            rules[0].contains(r#""severity":"critical""#),
            "{}",
            rules[0]
        );
    }

    #[test]
    fn a_receiver_with_no_notifications_has_no_page() {
        let all = parse_notifications(NOTIFICATIONS_NONE).unwrap();
        assert!(first_page_after(&all, 0, None).is_none());
    }
}
