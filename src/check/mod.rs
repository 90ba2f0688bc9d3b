//! Check executors: one file per check kind. Each observes the sandbox through the
//! [`Backend`] and returns an [`Outcome`] — pass, fail, or error (could not run) — with the
//! evidence an interviewer needs to see why.

mod ansible_converged;
mod container_config;
mod events;
mod exec;
mod http;
mod http_stream;
mod image;
mod markdown_sections;
mod object_fields;
mod pipeline;
mod pipeline_config;
mod pods_ready;
mod prometheus_alert;
mod served_by;
mod stays_running;

use std::path::Path;
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::backend::{Backend, BackendError, Target};
use crate::scenario::{Check, CheckKind};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Pass,
    Fail,
    /// The check could not run (the engine went away, a timeout). Never a candidate failure.
    Error,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Error => "error",
        })
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Outcome {
    pub status: Status,
    /// One line: what was observed.
    pub summary: String,
    /// Lines of evidence (object fields, command output, HTTP status and body).
    pub evidence: Vec<String>,
    #[serde(rename = "duration-ms")]
    pub duration_ms: u64,
}

impl Outcome {
    fn new(status: Status, summary: impl Into<String>, evidence: Vec<String>) -> Self {
        Outcome {
            status,
            summary: summary.into(),
            evidence,
            duration_ms: 0,
        }
    }
    pub fn pass(summary: impl Into<String>, evidence: Vec<String>) -> Self {
        Self::new(Status::Pass, summary, evidence)
    }
    pub fn fail(summary: impl Into<String>, evidence: Vec<String>) -> Self {
        Self::new(Status::Fail, summary, evidence)
    }
    fn error(e: &BackendError) -> Self {
        let mut chain = vec![];
        let mut src: Option<&dyn std::error::Error> = std::error::Error::source(e);
        while let Some(s) = src {
            chain.push(format!("caused by: {s}"));
            src = s.source();
        }
        Self::new(
            Status::Error,
            format!("could not run: failed to {e}"),
            chain,
        )
    }
}

/// How patient a check is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Patience {
    /// Grading: give a service that was just applied its settling time (`retry-for`).
    Settle,
    /// Polling for the broken state: one attempt, the caller polls again.
    Once,
}

/// What a check may observe: the sandbox through the backend, and the session's workspace
/// (files the candidate wrote).
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    pub backend: &'a dyn Backend,
    pub target: &'a Target,
    pub workspace: &'a Path,
    pub patience: Patience,
    /// Which [`run_all`] this is (set there): checks of one round may share expensive work
    /// (one pipeline run), and a later round never reuses an earlier one's.
    pub round: u64,
}

impl<'a> Ctx<'a> {
    /// The cluster's pods, objects and events; an error on a backend without them (the
    /// loader keeps such checks off it, so this is a backstop).
    pub fn cluster(&self) -> crate::backend::Result<&'a dyn crate::backend::Cluster> {
        self.backend
            .cluster()
            .ok_or(crate::backend::BackendError::Unsupported {
                op: "read pods, objects or events",
                backend: self.backend.kind(),
            })
    }

    /// The engine's containers, images and pipelines; an error on a backend without them.
    pub fn containers(&self) -> crate::backend::Result<&'a dyn crate::backend::Containers> {
        self.backend
            .containers()
            .ok_or(crate::backend::BackendError::Unsupported {
                op: "read a container's configuration or image, or run a pipeline",
                backend: self.backend.kind(),
            })
    }
}

static ROUNDS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Runs one check.
pub async fn run(check: &Check, cx: &Ctx<'_>) -> Outcome {
    let started = Instant::now();
    let result = match &check.kind {
        CheckKind::StaysRunning(k) => stays_running::run(k, cx).await,
        CheckKind::Http(k) => http::run(k, cx).await,
        CheckKind::Exec(k) => exec::run(k, cx).await,
        CheckKind::ContainerConfig(k) => container_config::run(k, cx).await,
        CheckKind::HttpStream(k) => http_stream::run(k, cx).await,
        CheckKind::Pipeline(k) => pipeline::run(k, cx).await,
        CheckKind::PipelineConfig(k) => pipeline_config::run(k, cx).await,
        CheckKind::Image(k) => image::run(k, cx).await,
        CheckKind::PrometheusAlert(k) => prometheus_alert::run(k, cx).await,
        CheckKind::MarkdownSections(k) => markdown_sections::run(k, cx).await,
        CheckKind::AnsibleConverged(k) => ansible_converged::run(k, cx).await,
        CheckKind::PodsReady(k) => pods_ready::run(k, cx).await,
        CheckKind::ObjectFields(k) => object_fields::run(k, cx).await,
        CheckKind::Events(k) => events::run(k, cx).await,
        CheckKind::ServedBy(k) => served_by::run(k, cx).await,
    };
    let mut outcome = result.unwrap_or_else(|e| Outcome::error(&e));
    outcome.duration_ms = started.elapsed().as_millis() as u64;
    outcome
}

/// Runs the checks that only observe concurrently (a grade takes as long as its longest
/// window, not their sum), then the checks that change the sandbox one at a time, so no
/// observation races a change a check made. Outcomes come back in the order given.
pub async fn run_all<'a>(checks: &[&'a Check], cx: &Ctx<'_>) -> Vec<(&'a Check, Outcome)> {
    let cx = &Ctx {
        round: ROUNDS.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
        ..*cx
    };
    let observers = checks
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.kind.changes_sandbox())
        .map(|(i, c)| async move { (i, run(c, cx).await) });
    let mut outcomes: Vec<(usize, Outcome)> = futures_util::future::join_all(observers).await;
    for (i, c) in checks.iter().enumerate() {
        if c.kind.changes_sandbox() {
            outcomes.push((i, run(c, cx).await));
        }
    }
    outcomes.sort_by_key(|(i, _)| *i);
    outcomes.into_iter().map(|(i, o)| (checks[i], o)).collect()
}

/// Predicates judged one by one: each leaves a line of evidence, and the outcome passes when
/// every one held.
pub(crate) struct Predicates {
    evidence: Vec<String>,
    failed: Vec<String>,
}

impl Predicates {
    pub(crate) fn new(evidence: Vec<String>) -> Self {
        Predicates {
            evidence,
            failed: vec![],
        }
    }

    pub(crate) fn judge(&mut self, ok: bool, what: String) {
        self.evidence
            .push(format!("{} {what}", if ok { "ok:" } else { "not ok:" }));
        if !ok {
            self.failed.push(what);
        }
    }

    /// Evidence that is neither a pass nor a fail.
    pub(crate) fn note(&mut self, line: String) {
        self.evidence.push(line);
    }

    /// `subject` names what was judged (`` `web` configuration ``).
    pub(crate) fn outcome(self, subject: &str) -> Outcome {
        if self.failed.is_empty() {
            Outcome::pass(format!("{subject} holds every predicate"), self.evidence)
        } else {
            Outcome::fail(
                format!("{subject}: {}", self.failed.join("; ")),
                self.evidence,
            )
        }
    }
}

/// Whether a container or image user (`name`, `uid`, `name:group`) is root; no user means
/// the image default, root.
pub(crate) fn is_root_user(user: &str) -> bool {
    let name = user.trim().split(':').next().unwrap_or_default();
    name.is_empty() || name == "root" || name == "0"
}

/// Shortens text for evidence: at most `max` characters, with a note of what was cut.
/// Whitespace runs (newlines included) become one space: an evidence item is one line.
pub(crate) fn clip(text: &str, max: usize) -> String {
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let text = text.as_str();
    if text.chars().count() <= max {
        return text.to_string();
    }
    let kept: String = text.chars().take(max).collect();
    format!("{kept}… ({} more bytes)", text.len() - kept.len())
}

/// Whether an observation made inside a service's container can be trusted: its programs and
/// libraries must be the image's, since a replaced `curl` or `nginx` could answer anything.
/// Adds a line saying so to `evidence`; or returns the failed outcome, the evidence so far
/// followed by the changed files.
pub(crate) async fn distrust_inside(
    cx: &Ctx<'_>,
    service: &str,
    evidence: &mut Vec<String>,
) -> crate::backend::Result<Option<Outcome>> {
    match cx.backend.tampered_tools(cx.target, service).await? {
        None => evidence.push(format!(
            "whether `{service}`'s own programs were changed cannot be told on this backend"
        )),
        Some(changed) if changed.is_empty() => evidence.push(format!(
            "`{service}`'s programs and libraries are its image's (none changed since it started)"
        )),
        Some(changed) => {
            let mut all = std::mem::take(evidence);
            all.extend(
                changed
                    .iter()
                    .take(10)
                    .map(|c| format!("inside `{service}`: {c}")),
            );
            if changed.len() > 10 {
                all.push(format!("… and {} more changes", changed.len() - 10));
            }
            return Ok(Some(Outcome::fail(
                format!(
                    "`{service}`'s own programs or libraries were changed inside the container ({}), so what it reports from inside is not trusted",
                    changed[0]
                ),
                all,
            )));
        }
    }
    Ok(None)
}

/// The last `n` lines of a log, for evidence.
pub(crate) fn tail_lines(text: &str, n: usize) -> Vec<String> {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| format!("log: {}", clip(l, 300)))
        .collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    use async_trait::async_trait;

    use super::*;
    use crate::backend::{
        ApplySummary, ExecOutput, Health, HttpRequest, HttpResponse, HttpSample, HttpStreamRequest,
        ImageBuild, ImageInfo, LabelledObject, PipelineRequest, PipelineRun, Progress, Removed,
        Result, ServiceConfig, ServiceState,
    };
    use crate::backend::{Cluster, Containers, ServiceDetail};
    use crate::backend::{EventInfo, Grant, PodState, Workload};
    use crate::scenario::BackendKind;

    /// Answers every observation at once and records, in order, what was asked of it.
    #[derive(Default)]
    struct Recorder {
        calls: Mutex<Vec<String>>,
        /// What `tampered_tools` answers for every container.
        tampered: Vec<String>,
        /// How long every look at a container's state takes (an engine busy with an exit).
        state_delay: Duration,
        /// What `exits_since` answers.
        exits: Vec<crate::backend::ExitSeen>,
        /// When set, the health a state reports: `starting` until then, `healthy` after.
        healthy_at: Option<std::time::Instant>,
        /// Before `healthy_at`: `unhealthy` with every failed probe timed out, not `starting`.
        probes_time_out: bool,
        /// How many HTTP requests from here on find the probe stalled (a busy host).
        probe_stalls: std::sync::atomic::AtomicUsize,
        /// The container stops when a command is run in it: the engine refuses the exec and
        /// every look after that finds it restarting (a restart loop).
        stops_at_exec: std::sync::atomic::AtomicBool,
        /// Set once the container stopped: every look from then on finds it restarting.
        stopped: std::sync::atomic::AtomicBool,
        /// How answers to requests carrying a `served-by` nonce come about.
        proof: Proof,
        /// What every service's logs hold (proof lines are added as answers are made).
        logs: Mutex<String>,
        /// What `config` and `image` answer for every container.
        config: ServiceConfig,
        image: Option<ImageInfo>,
        /// Services that have no container.
        gone: Vec<&'static str>,
    }

    /// Who makes the answers a `served-by` check gets.
    #[derive(Default, Clone, Copy, PartialEq)]
    enum Proof {
        /// No proof at all (plain `ok` answers).
        #[default]
        None,
        /// The upstream: it logs the nonce with a token and answers with that token.
        Upstream,
        /// The proxy forwards a copy upstream (which logs it) and answers on its own.
        Mirror,
        /// The first answer comes from the upstream; the proxy repeats it from its cache.
        Cache,
    }

    impl Recorder {
        fn note(&self, call: String) {
            self.calls.lock().expect("recorder lock").push(call);
        }
    }

    const CLEAN_RECAP: &str = "PLAY RECAP ***\nweb : ok=2 changed=0 unreachable=0 failed=0 skipped=0 rescued=0 ignored=0\n";

    #[async_trait]
    impl Backend for Recorder {
        fn kind(&self) -> BackendKind {
            BackendKind::Docker
        }
        fn cluster(&self) -> Option<&dyn Cluster> {
            Some(self)
        }
        fn containers(&self) -> Option<&dyn Containers> {
            Some(self)
        }
        async fn services(&self, _: &Target) -> Result<Vec<String>> {
            Ok(vec![])
        }
        async fn describe(&self, _: &Target, _: &str) -> Result<Option<ServiceDetail>> {
            Ok(None)
        }
        async fn follow_logs(
            &self,
            _: &Target,
            _: &str,
            _: Option<usize>,
            _: Option<i64>,
        ) -> Result<crate::backend::LogStream> {
            unreachable!("no check follows a log")
        }
        async fn health(&self, _: &[ImageBuild]) -> Health {
            Health::default()
        }
        async fn prepare(&self, _: &[ImageBuild], _: &dyn Progress) -> Result<()> {
            Ok(())
        }
        async fn deploy(&self, _: &Target, _: &Workload, _: &dyn Progress) -> Result<ApplySummary> {
            Ok(ApplySummary::default())
        }
        async fn grant(&self, _: &Target, _: &std::path::Path, _: Duration) -> Result<Grant> {
            Ok(Grant::default())
        }
        async fn http_send(
            &self,
            t: &Target,
            req: &HttpRequest,
            _: &str,
            _: Option<&str>,
        ) -> Result<HttpResponse> {
            self.http(t, req).await
        }
        async fn http_stream(&self, _: &Target, _: &HttpStreamRequest) -> Result<Vec<HttpSample>> {
            Ok(vec![])
        }
        async fn state(&self, _: &Target, service: &str) -> Result<ServiceState> {
            tokio::time::sleep(self.state_delay).await;
            if self.gone.contains(&service) {
                return Ok(ServiceState::default());
            }
            if self.stopped.load(Ordering::SeqCst) {
                return Ok(ServiceState {
                    exists: true,
                    status: "restarting".into(),
                    restarting: true,
                    restart_count: 1,
                    exit_code: Some(1),
                    ..ServiceState::default()
                });
            }
            Ok(ServiceState {
                exists: true,
                status: "running".into(),
                running: true,
                health: self.healthy_at.map(|at| {
                    if std::time::Instant::now() >= at {
                        "healthy".into()
                    } else if self.probes_time_out {
                        "unhealthy".into()
                    } else {
                        "starting".into()
                    }
                }),
                health_timed_out: self.probes_time_out,
                ..ServiceState::default()
            })
        }
        async fn exec(
            &self,
            _: &Target,
            service: &str,
            cmd: &[String],
            _: Duration,
        ) -> Result<ExecOutput> {
            if self.stops_at_exec.load(Ordering::SeqCst) {
                self.stopped.store(true, Ordering::SeqCst);
                return Err(crate::backend::BackendError::Refused {
                    op: "exec in",
                    object: service.into(),
                    message: "container is restarting, wait until the container is running".into(),
                });
            }
            let check_mode = cmd.iter().any(|a| a == "--check");
            self.note(format!(
                "exec {service} {}",
                if check_mode { "check" } else { "apply" }
            ));
            // Give the observers every chance to interleave if the runner let them.
            tokio::time::sleep(Duration::from_millis(20)).await;
            Ok(ExecOutput {
                exit_code: Some(0),
                output: CLEAN_RECAP.into(),
            })
        }
        async fn restart(&self, _: &Target, _: &str) -> Result<()> {
            Ok(())
        }
        async fn terminal(
            &self,
            _: &Target,
            _: &str,
            _: &[String],
            _: (u16, u16),
        ) -> Result<crate::backend::Terminal> {
            unreachable!("no check opens a terminal")
        }
        async fn http(&self, _: &Target, req: &HttpRequest) -> Result<HttpResponse> {
            tokio::time::sleep(Duration::from_millis(50)).await;
            self.note(format!("http {}", req.path));
            let stalls = &self.probe_stalls;
            if stalls
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
            {
                return Err(crate::backend::BackendError::Timeout {
                    op: "hear back from the probe's request to",
                    object: req.path.clone(),
                    after: Duration::from_secs(8),
                });
            }
            let nonce = req
                .headers
                .iter()
                .find(|(n, _)| n == served_by::NONCE_HEADER)
                .map(|(_, v)| v.clone());
            let mut header = None;
            if let Some(nonce) = nonce {
                let mut logs = self.logs.lock().expect("recorder lock");
                let cached = logs
                    .lines()
                    .next()
                    .and_then(|l| l.rsplit_once("token="))
                    .map(|(_, t)| t.to_string());
                let token = format!("{:032x}", rand::random::<u128>());
                match (self.proof, cached) {
                    (Proof::None, _) => {}
                    (Proof::Upstream, _) | (Proof::Cache, None) => {
                        logs.push_str(&format!(
                            "{} nonce={nonce} token={token}\n",
                            served_by::PROOF_MARK
                        ));
                        header = Some(token);
                    }
                    (Proof::Mirror, _) => logs.push_str(&format!(
                        "{} nonce={nonce} token={token}\n",
                        served_by::PROOF_MARK
                    )),
                    (Proof::Cache, Some(first)) => header = Some(first),
                }
            }
            Ok(HttpResponse {
                status: 200,
                body: "ok".into(),
                error: None,
                elapsed_ms: 1,
                header,
            })
        }
        async fn logs(&self, _: &Target, _: &str, _: usize) -> Result<String> {
            Ok(self.logs.lock().expect("recorder lock").clone())
        }
        async fn tampered_tools(&self, _: &Target, _: &str) -> Result<Option<Vec<String>>> {
            Ok(Some(self.tampered.clone()))
        }
        async fn exits_since(
            &self,
            _: &Target,
            _: &str,
            _: std::time::SystemTime,
        ) -> Result<Option<Vec<crate::backend::ExitSeen>>> {
            Ok(Some(self.exits.clone()))
        }
        async fn teardown(&self, _: &str) -> Result<Removed> {
            Ok(Removed::default())
        }
        async fn labelled(&self) -> Result<Vec<LabelledObject>> {
            Ok(vec![])
        }
        fn container_name(&self, _: &Target, service: &str) -> String {
            service.into()
        }
    }

    #[async_trait]
    impl Cluster for Recorder {
        async fn pods(&self, _: &Target, selector: &str) -> Result<Vec<PodState>> {
            self.note(format!("pods {selector}"));
            Ok(vec![])
        }
        async fn object(
            &self,
            _: &Target,
            kind: &str,
            name: &str,
        ) -> Result<Option<serde_json::Value>> {
            self.note(format!("object {kind}/{name}"));
            Ok(None)
        }
        async fn events(&self, _: &Target) -> Result<Vec<EventInfo>> {
            Ok(vec![])
        }
    }

    #[async_trait]
    impl Containers for Recorder {
        async fn image(&self, _: &Target, _: &str) -> Result<Option<ImageInfo>> {
            Ok(self.image.clone())
        }
        async fn run_pipeline(&self, _: &PipelineRequest) -> Result<PipelineRun> {
            Err(crate::backend::BackendError::Timeout {
                op: "run pipeline",
                object: "(recorder)".into(),
                after: Duration::ZERO,
            })
        }
        async fn config(&self, _: &Target, _: &str) -> Result<ServiceConfig> {
            Ok(self.config.clone())
        }
    }

    /// Runs checks once against a backend, for a session `s`.
    async fn run_with<'a>(backend: &Recorder, checks: &[&'a Check]) -> Vec<(&'a Check, Outcome)> {
        run_patiently(backend, checks, Patience::Once).await
    }

    async fn run_patiently<'a>(
        backend: &Recorder,
        checks: &[&'a Check],
        patience: Patience,
    ) -> Vec<(&'a Check, Outcome)> {
        let target = Target {
            session: "s".into(),
            scenario: "sample".into(),
            store: "t".into(),
        };
        let cx = Ctx {
            backend,
            target: &target,
            workspace: Path::new("."),
            patience,
            round: 0,
        };
        run_all(checks, &cx).await
    }

    fn check(yaml: &str) -> Check {
        crate::yaml::from_str(yaml).expect("test check parses")
    }

    #[tokio::test]
    async fn a_check_that_changes_the_sandbox_runs_after_every_observer_and_keeps_its_place() {
        let applies = check(
            "id: converges\ntitle: t\ncompetency: infrastructure-as-code\npoints: 1\nkind:\n  ansible-converged:\n    service: control\n    playbook: site.yml\n    hosts: [web]\n    apply: true\n",
        );
        let looks = check(
            "id: looks\ntitle: t\ncompetency: incident-response\npoints: 1\nkind:\n  ansible-converged:\n    service: control\n    playbook: site.yml\n    hosts: [web]\n",
        );
        let page = check(
            "id: page\ntitle: t\ncompetency: incident-response\npoints: 1\nkind:\n  http:\n    service: web\n    port: 8080\n    path: /page\n",
        );
        assert!(applies.kind.changes_sandbox());
        assert!(!looks.kind.changes_sandbox() && !page.kind.changes_sandbox());

        let backend = Recorder::default();
        let outcomes = run_with(&backend, &[&applies, &looks, &page]).await;

        let ids: Vec<&str> = outcomes.iter().map(|(c, _)| c.id.value.as_str()).collect();
        assert_eq!(ids, ["converges", "looks", "page"]);
        assert!(outcomes.iter().all(|(_, o)| o.status == Status::Pass));
        let calls = backend.calls.lock().expect("recorder lock").clone();
        // The observers first (the page answers after the check-mode run began), then the
        // actor alone: its check-mode run, the apply, and the check-mode run after it.
        assert_eq!(
            calls,
            [
                "exec control check",
                "http /page",
                "exec control check",
                "exec control apply",
                "exec control check",
            ]
        );
    }

    #[tokio::test]
    async fn an_answer_from_inside_a_container_whose_tools_were_replaced_is_not_trusted() {
        let nginx_t = check(
            "id: nginx-ok\ntitle: t\ncompetency: incident-response\npoints: 1\nkind:\n  exec:\n    service: web\n    command: [nginx, -t]\n",
        );
        let run = |backend: Recorder| {
            let nginx_t = nginx_t.clone();
            async move { run_with(&backend, &[&nginx_t]).await.remove(0).1 }
        };
        let clean = run(Recorder::default()).await;
        assert_eq!(clean.status, Status::Pass, "{clean:?}");
        assert!(clean.evidence.iter().any(|e| e.contains("none changed")));

        let faked = run(Recorder {
            tampered: vec![
                "/usr/bin/curl changed".into(),
                "/usr/local/bin/ps added".into(),
            ],
            ..Recorder::default()
        })
        .await;
        assert_eq!(faked.status, Status::Fail, "{faked:?}");
        assert!(faked.summary.contains("/usr/bin/curl changed"), "{faked:?}");
        assert!(
            faked
                .evidence
                .contains(&"inside `web`: /usr/local/bin/ps added".to_string())
        );
        assert!(faked.evidence.iter().any(|e| e.starts_with("exit code: 0")));
    }

    #[tokio::test]
    async fn a_container_that_dies_while_the_engine_holds_its_state_fails_at_once_from_the_record_of_exits()
     {
        let stays = check(
            "id: up\ntitle: t\ncompetency: containers\npoints: 1\nkind:\n  stays-running:\n    service: web\n    window: 20s\n",
        );
        let died_at = |at: std::time::SystemTime| Recorder {
            state_delay: Duration::from_secs(3),
            exits: vec![crate::backend::ExitSeen {
                at,
                exit_code: Some(1),
                started_again: false,
            }],
            ..Recorder::default()
        };
        // An exit just before the look, not followed by a start: the container is down.
        let before = died_at(std::time::SystemTime::now() - Duration::from_secs(5));
        let (_, down) = run_with(&before, &[&stays]).await.remove(0);
        assert_eq!(down.status, Status::Fail, "{down:?}");
        assert!(
            down.summary
                .contains("is not running: it exited with code 1 5.0s before the window"),
            "{down:?}"
        );
        let backend = died_at(std::time::SystemTime::now() + Duration::from_millis(100));
        let started = std::time::Instant::now();
        let (_, outcome) = run_with(&backend, &[&stays]).await.remove(0);
        assert_eq!(outcome.status, Status::Fail, "{outcome:?}");
        assert!(
            outcome.summary.contains("`web` exited with code 1"),
            "{outcome:?}"
        );
        assert!(
            outcome.evidence[0].contains("died with exit code 1"),
            "{outcome:?}"
        );
        // Neither the 20 s window nor the engine's 3 s hold on the state was waited for.
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_healthcheck_that_has_not_decided_when_the_window_ends_is_given_time_when_grading() {
        let healthy = check(
            "id: healthy\ntitle: t\ncompetency: containers\npoints: 1\nkind:\n  stays-running:\n    service: web\n    window: 1s\n    require-healthy: true\n",
        );
        // Still `starting`, and `unhealthy` only because its probes ran out of time (a busy host).
        for (probes_time_out, on_one_look) in [
            (false, "its health is starting"),
            (true, "running but unhealthy"),
        ] {
            let decides_late = || Recorder {
                healthy_at: Some(std::time::Instant::now() + Duration::from_millis(2500)),
                probes_time_out,
                ..Recorder::default()
            };
            let (_, graded) = run_patiently(&decides_late(), &[&healthy], Patience::Settle)
                .await
                .remove(0);
            assert_eq!(graded.status, Status::Pass, "{graded:?}");
            assert!(
                graded
                    .evidence
                    .iter()
                    .any(|e| e.contains("had not decided when the 1s window ended")),
                "{graded:?}"
            );
            // One look (a live view, the broken-state poll) does not wait.
            let (_, looked) = run_with(&decides_late(), &[&healthy]).await.remove(0);
            assert_eq!(looked.status, Status::Fail, "{looked:?}");
            assert!(looked.summary.contains(on_one_look), "{looked:?}");
        }
    }

    #[tokio::test]
    async fn a_probe_that_stalls_is_asked_again_when_grading_and_never_judged() {
        let page = check(
            "id: page\ntitle: t\ncompetency: incident-response\npoints: 1\nkind:\n  http:\n    service: web\n    port: 8080\n    path: /page\n",
        );
        let stalls_twice = || Recorder {
            probe_stalls: 2.into(),
            ..Recorder::default()
        };
        let (_, graded) = run_patiently(&stalls_twice(), &[&page], Patience::Settle)
            .await
            .remove(0);
        assert_eq!(graded.status, Status::Pass, "{graded:?}");
        assert!(graded.summary.contains("→ 200"), "{graded:?}");
        assert!(
            graded
                .evidence
                .iter()
                .any(|e| e.contains("did not finish 2 earlier attempt(s)")),
            "{graded:?}"
        );
        // One look that finds the probe stalled could not run: an error, never a fail.
        let (_, looked) = run_with(&stalls_twice(), &[&page]).await.remove(0);
        assert_eq!(looked.status, Status::Error, "{looked:?}");
        assert!(looked.summary.contains("timed out after 8s"), "{looked:?}");
    }

    #[tokio::test]
    async fn a_command_refused_because_the_container_stopped_fails_the_check_rather_than_erroring()
    {
        let valid = check(
            "id: valid\ntitle: t\ncompetency: incident-response\npoints: 1\nkind:\n  exec:\n    service: web\n    command: [nginx, -t]\n",
        );
        let backend = Recorder::default();
        backend.stops_at_exec.store(true, Ordering::SeqCst);
        let (_, o) = run_patiently(&backend, &[&valid], Patience::Settle)
            .await
            .remove(0);
        assert_eq!(o.status, Status::Fail, "{o:?}");
        assert!(o.summary.contains("stopped as it was asked to"), "{o:?}");
        assert!(
            o.evidence.iter().any(|e| e.contains("status=restarting")),
            "{o:?}"
        );
    }

    /// The orders service as the scenario builds it: its image and program.
    fn orders_as_built() -> (ServiceConfig, ImageInfo) {
        let program = vec!["python3".to_string(), "-u".into(), "/app/app.py".into()];
        (
            ServiceConfig {
                image_id: "sha256:0a1b2c3d4e5f60718293a4b5".into(),
                command: program.clone(),
                healthcheck: vec![
                    "CMD-SHELL".into(),
                    "curl -fsS http://localhost:8080/healthz".into(),
                ],
                ..ServiceConfig::default()
            },
            ImageInfo {
                reference: "breakfix/sample-orders".into(),
                id: "sha256:0a1b2c3d4e5f60718293a4b5".into(),
                tags: vec![
                    "breakfix/sample-orders:5e1d0c2a9b31".into(),
                    "breakfix/sample-orders:latest".into(),
                ],
                command: program,
                ..ImageInfo::default()
            },
        )
    }

    fn served_by_orders() -> Check {
        check(
            "id: orders-through-web\ntitle: t\ncompetency: incident-response\npoints: 1\nkind:\n  served-by:\n    service: web\n    port: 8080\n    path: /api/orders\n    body-matches: ok\n    upstream: orders\n    image: orders\n",
        )
    }

    fn upstream(proof: Proof) -> Recorder {
        let (config, image) = orders_as_built();
        Recorder {
            proof,
            config,
            image: Some(image),
            ..Recorder::default()
        }
    }

    #[tokio::test]
    async fn answers_the_upstream_logged_with_their_own_token_are_proven_one_by_one() {
        let c = served_by_orders();
        let (_, o) = run_patiently(&upstream(Proof::Upstream), &[&c], Patience::Settle)
            .await
            .remove(0);
        assert_eq!(o.status, Status::Pass, "{o:?}");
        assert!(
            o.summary
                .contains("3 answer(s) in a row proven to come from `orders`"),
            "{o:?}"
        );
        assert_eq!(
            o.evidence
                .iter()
                .filter(|e| e.starts_with("proven:"))
                .count(),
            3,
            "{o:?}"
        );
        assert!(
            o.evidence
                .iter()
                .any(|e| e
                    .contains("runs the scenario's image `breakfix/sample-orders` (0a1b2c3d4e5f)")),
            "{o:?}"
        );
        assert!(
            o.evidence
                .iter()
                .any(|e| e.contains("runs the image's own program `python3 -u /app/app.py`")),
            "{o:?}"
        );
    }

    #[tokio::test]
    async fn a_canned_answer_a_mirrored_request_or_a_cached_token_proves_nothing() {
        let c = served_by_orders();
        for (proof, why) in [
            (Proof::None, "`orders` never received the request"),
            (Proof::Mirror, "`orders` received the request"),
            (Proof::Cache, "`orders` never received the request"),
        ] {
            let (_, o) = run_patiently(&upstream(proof), &[&c], Patience::Settle)
                .await
                .remove(0);
            assert_eq!(o.status, Status::Fail, "{o:?}");
            assert!(o.summary.contains(why), "{o:?}");
        }
        // The cache passes its first answer on, and is caught at the second.
        let (_, cached) = run_with(&upstream(Proof::Cache), &[&c]).await.remove(0);
        assert_eq!(
            cached.status,
            Status::Pass,
            "one look asks once: {cached:?}"
        );
        let (_, o) = run_patiently(&upstream(Proof::Cache), &[&c], Patience::Settle)
            .await
            .remove(0);
        assert!(
            o.summary.contains("(1 of 3 answers proven before it)"),
            "{o:?}"
        );
    }

    #[tokio::test]
    async fn an_upstream_that_is_gone_or_runs_another_image_or_program_proves_nothing() {
        let c = served_by_orders();
        let judge = |backend: Recorder| {
            let c = c.clone();
            async move { run_with(&backend, &[&c]).await.remove(0).1 }
        };
        let gone = judge(Recorder {
            gone: vec!["orders"],
            ..upstream(Proof::Upstream)
        })
        .await;
        assert_eq!(gone.status, Status::Fail);
        assert!(
            gone.summary.contains("`orders` has no container"),
            "{gone:?}"
        );

        let mut other = upstream(Proof::Upstream);
        other.image = Some(ImageInfo {
            reference: "breakfix/ws-s-orders:77aa".into(),
            tags: vec!["breakfix/ws-s-orders:77aa".into()],
            ..other.image.clone().unwrap_or_default()
        });
        let o = judge(other).await;
        assert_eq!(o.status, Status::Fail);
        assert!(
            o.summary
                .contains("not the scenario's image `breakfix/sample-orders`"),
            "{o:?}"
        );

        let mut canned = upstream(Proof::Upstream);
        canned.config.command = vec!["python3".into(), "-c".into(), "print('canned')".into()];
        let o = judge(canned).await;
        assert_eq!(o.status, Status::Fail);
        assert!(
            o.summary.contains(
                "runs `python3 -c print('canned')` instead of the image's own program `python3 -u /app/app.py`"
            ),
            "{o:?}"
        );

        let mut mounted = upstream(Proof::Upstream);
        mounted.config.mounts = vec!["/app (ro)".into()];
        let o = judge(mounted).await;
        assert_eq!(o.status, Status::Fail);
        assert!(
            o.summary
                .contains("`/app` is mounted from outside the image over `/app/app.py`"),
            "{o:?}"
        );
    }

    #[tokio::test]
    async fn the_runs_image_predicate_accepts_the_program_the_scenario_names() {
        let guard = |extra: &str| {
            check(&format!(
                "id: runs\ntitle: t\ncompetency: containers\npenalty: 1\nkind:\n  container-config:\n    service: orders\n    runs-image: orders\n{extra}"
            ))
        };
        let mut named = upstream(Proof::None);
        named.config.command = vec!["python3".into(), "-m".into(), "orders.server".into()];
        named.config.mounts = vec!["/app/src (ro)".into()];
        let (_, o) = run_with(&named, &[&guard("")]).await.remove(0);
        assert_eq!(o.status, Status::Fail, "{o:?}");
        let (_, o) = run_with(
            &named,
            &[&guard("    runs-command: [python3, -m, orders.server]\n")],
        )
        .await
        .remove(0);
        assert_eq!(o.status, Status::Pass, "{o:?}");
        assert!(
            o.evidence
                .iter()
                .any(|e| e.contains("the program the scenario names")),
            "{o:?}"
        );
    }

    #[tokio::test]
    async fn a_healthcheck_that_is_constant_swallows_its_failure_or_asks_elsewhere_probes_nothing()
    {
        let guard = check(
            "id: probes\ntitle: t\ncompetency: containers\npenalty: 1\nkind:\n  container-config:\n    service: web\n    healthcheck-probes: {port: 8080, path: /healthz}\n",
        );
        let with = |test: &[&str]| Recorder {
            config: ServiceConfig {
                healthcheck: test.iter().map(|s| s.to_string()).collect(),
                ..ServiceConfig::default()
            },
            ..Recorder::default()
        };
        for (test, verdict) in [
            (
                &["CMD-SHELL", "curl -fsS http://localhost:8080/healthz"][..],
                "probes port 8080 and /healthz",
            ),
            (
                &[
                    "CMD",
                    "bash",
                    "-c",
                    "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && grep -qm1 '^HTTP/1.. 200 ' <&3",
                ][..],
                "probes port 8080",
            ),
            (
                &[
                    "CMD-SHELL",
                    "curl -f http://localhost:8080/healthz || exit 1",
                ][..],
                "probes port 8080",
            ),
        ] {
            let (_, o) = run_with(&with(test), &[&guard]).await.remove(0);
            assert_eq!(o.status, Status::Pass, "{test:?}: {o:?}");
            assert!(o.evidence.iter().any(|e| e.contains(verdict)), "{o:?}");
        }
        for (test, why) in [
            (&["CMD", "true"][..], "is a constant"),
            (&["CMD-SHELL", "exit 0"][..], "is a constant"),
            (&["CMD", "sh", "-c", ":"][..], "is a constant"),
            (
                &["CMD-SHELL", "echo GET :8080/healthz"][..],
                "is a constant",
            ),
            (
                &[
                    "CMD-SHELL",
                    "curl -fsS http://localhost:8080/healthz || true",
                ][..],
                "swallows its failure (`|| true`)",
            ),
            (
                &["CMD-SHELL", "curl -fsS http://localhost:80/healthz"][..],
                "does not probe port 8080",
            ),
            (
                &["CMD-SHELL", "curl -fsS http://localhost:8080/health"][..],
                "does not probe /healthz",
            ),
            (
                &["NONE"][..],
                "no healthcheck to probe port 8080 and /healthz",
            ),
        ] {
            let (_, o) = run_with(&with(test), &[&guard]).await.remove(0);
            assert_eq!(o.status, Status::Fail, "{test:?}: {o:?}");
            assert!(o.summary.contains(why), "{test:?}: {o:?}");
        }
    }

    #[tokio::test]
    async fn a_user_renamed_from_root_is_judged_by_the_uids_its_processes_run_as() {
        let non_root = check(
            "id: nr\ntitle: t\ncompetency: security\npoints: 1\nkind:\n  container-config:\n    service: web\n    non-root: true\n",
        );
        let with = |user: &str, uids: &[u64]| Recorder {
            config: ServiceConfig {
                user: user.into(),
                process_uids: uids.to_vec(),
                ..ServiceConfig::default()
            },
            ..Recorder::default()
        };
        // A passwd entry that calls uid 0 `app` hides nothing from the host's view.
        let (_, o) = run_with(&with("app", &[0]), &[&non_root]).await.remove(0);
        assert_eq!(o.status, Status::Fail, "{o:?}");
        assert!(
            o.evidence.iter().any(|e| e.contains("run as uid 0")),
            "{o:?}"
        );
        let (_, o) = run_with(&with("app", &[1000]), &[&non_root])
            .await
            .remove(0);
        assert_eq!(o.status, Status::Pass, "{o:?}");
    }

    #[tokio::test]
    async fn capabilities_added_beyond_the_allowed_ones_fail_whatever_their_spelling() {
        let within = check(
            "id: caps\ntitle: t\ncompetency: security\npoints: 1\nkind:\n  container-config:\n    service: web\n    capabilities-within: [NET_BIND_SERVICE]\n",
        );
        let with = |caps: &[&str]| Recorder {
            config: ServiceConfig {
                cap_add: caps.iter().map(|c| c.to_string()).collect(),
                ..ServiceConfig::default()
            },
            ..Recorder::default()
        };
        for caps in [&[][..], &["CAP_NET_BIND_SERVICE"], &["net_bind_service"]] {
            let (_, o) = run_with(&with(caps), &[&within]).await.remove(0);
            assert_eq!(o.status, Status::Pass, "{caps:?}: {o:?}");
        }
        let (_, o) = run_with(&with(&["NET_BIND_SERVICE", "SYS_ADMIN"]), &[&within])
            .await
            .remove(0);
        assert_eq!(o.status, Status::Fail, "{o:?}");
        assert!(o.evidence.iter().any(|e| e.contains("SYS_ADMIN")), "{o:?}");
    }

    #[tokio::test]
    async fn an_exec_check_judges_exit_and_output_and_says_the_container_is_the_candidates() {
        let exec = |pattern: &str| {
            check(&format!(
                "id: converged\ntitle: t\ncompetency: infrastructure-as-code\npoints: 1\nkind:\n  exec:\n    service: web\n    command: [ansible-playbook, site.yml]\n    output-matches: '{pattern}'\n"
            ))
        };
        let (_, o) = run_with(&Recorder::default(), &[&exec("changed=0")])
            .await
            .remove(0);
        assert_eq!(o.status, Status::Pass, "{o:?}");
        assert!(
            o.evidence
                .iter()
                .any(|e| e.contains("candidate-controlled")),
            "{o:?}"
        );
        let (_, o) = run_with(&Recorder::default(), &[&exec("failed=[1-9]")])
            .await
            .remove(0);
        assert_eq!(o.status, Status::Fail, "{o:?}");
        assert!(o.summary.contains("does not match `failed=[1-9]`"), "{o:?}");
    }
}
