//! The one seam between breakfix and what runs sandboxes. Scenario, check and grading code
//! talk to [`Backend`] with plain data; only the backend modules name bollard (or kube) types.

pub mod docker;
pub mod engine_proxy;
pub mod engine_scope;
mod images;
pub mod kube;
pub mod kube_relay;
pub mod stream;

use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;

use crate::compose::Deployment;
use crate::scenario::BackendKind;

/// Labels every object breakfix creates carries (containers, networks, volumes).
pub mod labels {
    pub const MANAGED: &str = "dev.breakfix.managed";
    pub const SESSION: &str = "dev.breakfix.session";
    pub const SCENARIO: &str = "dev.breakfix.scenario";
    /// Which state directory owns the object, so `gc` never touches another one's sessions.
    pub const STORE: &str = "dev.breakfix.store";
    pub const SERVICE: &str = "dev.breakfix.service";
    pub const ROLE: &str = "dev.breakfix.role";
    pub const CONFIG_HASH: &str = "dev.breakfix.config-hash";
    pub const CONTENT_HASH: &str = "dev.breakfix.content-hash";
}

/// A command line as a shell would take it back.
pub fn command_line(cmd: &[String]) -> String {
    shlex::try_join(cmd.iter().map(String::as_str)).unwrap_or_else(|_| cmd.join(" "))
}

/// Which session an operation is about.
#[derive(Clone, Debug)]
pub struct Target {
    pub session: String,
    pub scenario: String,
    /// The owning state directory's id.
    pub store: String,
}

pub use crate::compose::WORKSTATION;

/// What the candidate's workstation mounts and runs as.
#[derive(Clone, Debug)]
pub struct WorkstationSpec {
    /// The candidate's working copy, mounted read-write at `/workspace`.
    pub workspace: PathBuf,
    /// The folder holding the session's own Docker endpoint (`docker.sock`) and the greeting
    /// (`motd`), mounted read-only at `/run/breakfix`.
    pub endpoint: PathBuf,
    /// `uid:gid` it runs as: the workspace's owner, so what the candidate writes stays theirs.
    pub user: String,
    /// The session runs on Kubernetes: the workstation has no network, and kubectl reaches
    /// the API server through the endpoint's relay (`kube.sock`) with the candidate's own
    /// kubeconfig (`kubeconfig` in the endpoint folder).
    pub kubernetes: bool,
}

/// An image to build from a folder holding a Dockerfile.
#[derive(Clone, Debug)]
pub struct ImageBuild {
    /// Repository name (`breakfix/<scenario>-<name>`); tagged `:<content hash>` and `:latest`.
    pub repo: String,
    pub context: PathBuf,
}

/// Long work reports here (image builds, bootstrap); the CLI draws it.
pub trait Progress: Send + Sync {
    /// A new step begins.
    fn begin(&self, step: &str);
    /// A line of detail for the current step (a build log line).
    fn detail(&self, line: &str);
    /// The current step ended.
    fn finish(&self, outcome: &str);
}

/// Progress that goes nowhere (tests, `--json`).
pub struct Silent;

impl Progress for Silent {
    fn begin(&self, _: &str) {}
    fn detail(&self, _: &str) {}
    fn finish(&self, _: &str) {}
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ServiceState {
    pub exists: bool,
    /// The engine's word: `running`, `restarting`, `exited`, `created`...
    pub status: String,
    pub running: bool,
    pub restarting: bool,
    pub restart_count: i64,
    pub exit_code: Option<i64>,
    pub oom_killed: bool,
    /// `healthy`, `unhealthy`, `starting`, or none when the container has no healthcheck.
    pub health: Option<String>,
    /// Every failed probe the engine still remembers ran out of its time rather than
    /// answering: a hung service, or a host too busy to run the probe in time.
    pub health_timed_out: bool,
    pub started_at: Option<String>,
}

impl std::fmt::Display for ServiceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if !self.exists {
            return f.write_str("no container");
        }
        write!(f, "status={} restarts={}", self.status, self.restart_count)?;
        if let Some(c) = self.exit_code.filter(|c| *c != 0) {
            write!(f, " last-exit={c}")?;
        }
        if self.oom_killed {
            f.write_str(" oom-killed")?;
        }
        if let Some(h) = &self.health {
            write!(f, " health={h}")?;
            if self.health_timed_out {
                f.write_str(" (its failed probes timed out)")?;
            }
        }
        Ok(())
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct ServiceConfig {
    /// The image id the container was created from.
    pub image_id: String,
    /// The program it runs: its entrypoint, then its command (the image's unless the
    /// workspace set them).
    pub entrypoint: Vec<String>,
    pub command: Vec<String>,
    /// Where files from outside the image are mounted in it (bind mounts), as `path` or
    /// `path (ro)`.
    pub mounts: Vec<String>,
    pub user: String,
    pub memory: i64,
    pub nano_cpus: i64,
    pub pids_limit: i64,
    pub restart_policy: String,
    /// The healthcheck test in the engine's form; empty when there is none.
    pub healthcheck: Vec<String>,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub read_only: bool,
    pub no_new_privileges: bool,
    /// The uids the container's processes run as, as the host sees them (empty when it is
    /// not running or the backend cannot tell): what a renamed user cannot hide.
    pub process_uids: Vec<u64>,
    /// The uid `user` (else the image's user) stands for in the image's user database;
    /// `None` when it cannot be told.
    pub uid: Option<u64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct ExecOutput {
    /// `None` when the command timed out.
    pub exit_code: Option<i64>,
    /// Combined stdout and stderr, capped.
    pub output: String,
}

#[derive(Clone, Debug, Default)]
pub struct HttpRequest {
    pub service: String,
    pub port: u16,
    pub path: String,
    pub timeout: Duration,
    /// How long connecting (name lookup included) may take, when shorter than `timeout`.
    pub connect_timeout: Option<Duration>,
    /// Request headers sent besides the probe's own (names are RFC 9110 tokens).
    pub headers: Vec<(String, String)>,
    /// A response header whose value comes back in [`HttpResponse::header`].
    pub read_header: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct HttpResponse {
    /// 0 when no response arrived (connection refused, unknown host, timeout).
    pub status: u16,
    pub body: String,
    /// The probe's error when no response arrived.
    pub error: Option<String>,
    pub elapsed_ms: u64,
    /// The value of the header [`HttpRequest::read_header`] asked for; `None` when the
    /// response did not carry it.
    pub header: Option<String>,
}

/// A bounded stream of GETs from the probe, one every `interval`.
#[derive(Clone, Debug)]
pub struct HttpStreamRequest {
    pub service: String,
    pub port: u16,
    pub path: String,
    pub count: u32,
    pub interval: Duration,
    /// How long one request may take.
    pub timeout: Duration,
    /// A response header to record for every request (the answering version, say).
    pub header: Option<String>,
}

/// One request of a stream, as the probe saw it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HttpSample {
    /// 1-based position in the stream.
    pub seq: u32,
    /// 0 when no response arrived.
    pub status: u16,
    /// The recorded header's value; `None` when the response did not carry it.
    pub header: Option<String>,
    pub elapsed_ms: u64,
    /// The probe's error when no response arrived.
    pub error: Option<String>,
}

/// A pipeline run of a repository on the host, through the local GitLab CI executor.
#[derive(Clone, Debug)]
pub struct PipelineRequest {
    /// The repository's folder (a git work tree holding `.gitlab-ci.yml`).
    pub repository: PathBuf,
    /// The scenario whose images the jobs may run in.
    pub scenario: String,
    /// The deadline for the whole run; jobs still running then are stopped and removed.
    pub timeout: Duration,
    /// Requests of the same round (the checks of one grade) share one run; a new round
    /// always runs the pipeline afresh.
    pub round: u64,
}

/// What a pipeline run printed, unparsed: the check module reads jobs and stages from it.
#[derive(Clone, Debug, Serialize)]
pub struct PipelineRun {
    /// The executor's exit code; `None` when the deadline stopped it.
    pub exit_code: Option<i32>,
    /// Combined stdout and stderr of the executor, colours off, capped.
    pub output: String,
    /// The commit the pipeline ran on (`CI_COMMIT_SHA`); empty when the folder has none.
    pub commit: String,
    /// The abbreviated commit the executor gives jobs (`CI_COMMIT_SHORT_SHA`).
    pub commit_short: String,
    /// When the run started, in milliseconds since the Unix epoch (artifacts written by this
    /// run are newer).
    pub started_unix_ms: u64,
    /// Job containers the executor left behind, removed afterwards.
    pub leftovers_removed: usize,
}

/// The image a service's container runs, as the engine describes it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ImageInfo {
    /// The reference the container was created from (`breakfix/ws-...:<hash>`).
    pub reference: String,
    pub id: String,
    /// The image's `USER`; empty when it sets none (root).
    pub user: String,
    /// Bytes, as `docker image ls` reports them.
    pub size: i64,
    /// Filesystem layers (metadata-only instructions add none).
    pub layers: usize,
    /// The image's `HEALTHCHECK` test in the engine's form; empty when none or `NONE`.
    pub healthcheck: Vec<String>,
    /// `8080/tcp`, ...
    pub exposed_ports: Vec<String>,
    /// The uid `user` stands for in the image's own user database; `None` when it cannot
    /// be told.
    pub uid: Option<u64>,
    /// Every `repo:tag` the image carries (`breakfix/<scenario>-<name>:<content hash>` for
    /// an image breakfix built from a scenario package).
    pub tags: Vec<String>,
    /// The program the image starts: its `ENTRYPOINT`, then its `CMD`.
    pub entrypoint: Vec<String>,
    pub command: Vec<String>,
}

/// What a session deploys: a compose file's services (Docker) or manifests (Kubernetes).
#[derive(Clone, Debug)]
pub enum Workload {
    Compose(Deployment),
    Manifests(Vec<crate::manifests::Manifest>),
}

/// A pod as the checks see it (Kubernetes).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PodState {
    pub name: String,
    /// `Pending`, `Running`, `Succeeded`, `Failed`, `Unknown`.
    pub phase: String,
    /// Every container ready (the pod's `Ready` condition).
    pub ready: bool,
    /// Restarts summed over the pod's containers.
    pub restarts: i64,
    /// Why a container waits (`CrashLoopBackOff`, `ImagePullBackOff`, ...).
    pub waiting: Option<String>,
    /// How a container's previous run ended (`Error`, `OOMKilled`, ...), with its exit code.
    pub last_terminated: Option<(String, i32)>,
    /// Being deleted (a rollout replacing it).
    pub terminating: bool,
    /// The pod template it was made from (`pod-template-hash`, `controller-revision-hash`):
    /// pods of two revisions mean a rollout is under way.
    pub revision: Option<String>,
}

impl std::fmt::Display for PodState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} phase={} ready={} restarts={}",
            self.name, self.phase, self.ready, self.restarts
        )?;
        if let Some(w) = &self.waiting {
            write!(f, " waiting={w}")?;
        }
        if let Some((r, c)) = &self.last_terminated {
            write!(f, " last-terminated={r}(exit {c})")?;
        }
        if self.terminating {
            f.write_str(" terminating")?;
        }
        Ok(())
    }
}

/// An event of the session's namespace (Kubernetes).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct EventInfo {
    /// `Pod/api-5d9c-x2`.
    pub object: String,
    pub reason: String,
    pub message: String,
    /// How often it happened (the API folds repeats into one event).
    pub count: i64,
    /// `Normal` or `Warning`.
    pub kind: String,
}

/// A container exit the engine reported (Docker's `die` event).
#[derive(Clone, Debug, PartialEq)]
pub struct ExitSeen {
    /// When the engine saw it.
    pub at: std::time::SystemTime,
    pub exit_code: Option<i64>,
    /// Whether the container was started again after it.
    pub started_again: bool,
}

/// What a candidate is given to reach the sandbox with their own tools.
#[derive(Clone, Debug, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct Grant {
    /// A kubeconfig scoped to the session's namespace.
    pub kubeconfig: Option<PathBuf>,
    pub namespace: Option<String>,
}

/// What `deploy` did to each service.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ApplySummary {
    pub created: Vec<String>,
    pub recreated: Vec<String>,
    pub unchanged: Vec<String>,
    pub removed: Vec<String>,
}

/// How many objects a teardown removed.
#[derive(Clone, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Removed {
    pub containers: usize,
    pub networks: usize,
    pub volumes: usize,
    /// Images built from the session's workspace.
    pub images: usize,
    /// Kubernetes namespaces (with everything in them).
    pub namespaces: usize,
}

impl Removed {
    pub fn add(&mut self, o: &Removed) {
        self.containers += o.containers;
        self.networks += o.networks;
        self.volumes += o.volumes;
        self.images += o.images;
        self.namespaces += o.namespaces;
    }
    pub fn total(&self) -> usize {
        self.containers + self.networks + self.volumes + self.images + self.namespaces
    }
}

impl std::fmt::Display for Removed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = [
            (self.containers, "container"),
            (self.networks, "network"),
            (self.volumes, "volume"),
            (self.images, "image"),
            (self.namespaces, "namespace"),
        ]
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}{}", if *n == 1 { "" } else { "s" }))
        .collect();
        if parts.is_empty() {
            f.write_str("nothing")
        } else {
            f.write_str(&parts.join(", "))
        }
    }
}

/// An object carrying breakfix's labels.
#[derive(Clone, Debug, Serialize)]
pub struct LabelledObject {
    pub kind: &'static str,
    pub name: String,
    pub session: String,
    pub store: String,
}

/// What `doctor` reports about the backend.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Health {
    pub reachable: bool,
    pub version: String,
    pub api_version: String,
    pub detail: Vec<HealthItem>,
}

/// One line of `doctor`: what was looked at, whether it is fine, and what was found.
#[derive(Clone, Debug, Serialize)]
pub struct HealthItem {
    pub item: String,
    pub ok: bool,
    pub detail: String,
}

impl HealthItem {
    pub fn new(item: impl Into<String>, ok: bool, detail: impl Into<String>) -> HealthItem {
        HealthItem {
            item: item.into(),
            ok,
            detail: detail.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("reach {what} at {endpoint}; {advice}")]
    Unreachable {
        what: &'static str,
        endpoint: String,
        advice: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{op} {object}")]
    Engine {
        op: &'static str,
        object: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("build image {repo}: {message}")]
    Build { repo: String, message: String },
    #[error("build the image of service `{service}` from the workspace: {message}")]
    BuildService { service: String, message: String },
    #[error("bootstrap the base image {image}: {message}")]
    Bootstrap { image: String, message: String },
    #[error("run the pipeline of {}: {message}", repository.display())]
    Pipeline {
        repository: PathBuf,
        message: String,
        #[source]
        source: Option<std::io::Error>,
    },
    #[error("{op}: the {backend} backend cannot do that")]
    Unsupported {
        op: &'static str,
        backend: BackendKind,
    },
    #[error("{op} {object}: {message}")]
    Refused {
        op: &'static str,
        object: String,
        message: String,
    },
    /// The deploy asked for more than the scenario's ceiling allows.
    #[error("deploy service `{service}` ({at}): {message}")]
    Ceiling {
        service: String,
        at: String,
        message: String,
    },
    #[error("{op} {object}: timed out after {}", humantime::format_duration(*after))]
    Timeout {
        op: &'static str,
        object: String,
        after: Duration,
    },
}

impl BackendError {
    /// The engine is down or unreachable (as opposed to refusing one request).
    pub fn is_unreachable(&self) -> bool {
        matches!(self, BackendError::Unreachable { .. })
    }
}

pub type Result<T> = std::result::Result<T, BackendError>;

/// An interactive terminal (a TTY) inside the sandbox.
pub struct Terminal {
    /// Where it runs: the container or the pod, as ordinary tools name it.
    pub place: String,
    /// What the terminal prints; ends when its program exits.
    pub output: std::pin::Pin<Box<dyn futures_util::Stream<Item = Vec<u8>> + Send>>,
    /// The keys typed into it.
    pub input: std::pin::Pin<Box<dyn tokio::io::AsyncWrite + Send>>,
    /// New sizes (columns, rows) for it.
    pub resize: tokio::sync::mpsc::UnboundedSender<(u16, u16)>,
}

/// What `breakfix inspect` shows of a service: the parts of its container (Docker) or of one
/// of its pods (Kubernetes) an on-call engineer reads first, in a form both backends fill.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ServiceDetail {
    /// Where it runs, as ordinary tools name it: the container, or `pod/<name>`.
    pub place: String,
    pub state: ServiceState,
    /// When the last run ended (Docker); `None` while it has not.
    pub finished_at: Option<String>,
    /// The image reference it was created from.
    pub image: String,
    pub image_id: String,
    pub entrypoint: Vec<String>,
    pub command: Vec<String>,
    pub working_dir: String,
    /// The user it runs as (`www-data`, `33:33`); empty when none is set: root, unless a
    /// Kubernetes image sets one.
    pub user: String,
    /// `NAME=value`; values from Secrets or ConfigMaps (Kubernetes) are named, not read.
    pub env: Vec<String>,
    pub mounts: Vec<MountInfo>,
    /// Limits and requests, as the backend words them: `memory`, `cpus`, `pids` (Docker);
    /// `limits.memory`, `requests.cpu`, ... (Kubernetes).
    pub limits: std::collections::BTreeMap<String, String>,
    pub restart_policy: String,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub read_only: bool,
    pub no_new_privileges: bool,
    /// The healthcheck test (Docker) or probes (Kubernetes: `liveness: http-get :8080/healthz`).
    pub healthcheck: Vec<String>,
    /// The last probe results the engine keeps (Docker), or the pod's warning events
    /// (Kubernetes: probe failures, back-offs, kills), oldest first.
    pub health_log: Vec<HealthProbe>,
}

/// A filesystem mounted into a service's container.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct MountInfo {
    /// `bind`, `volume`, `tmpfs` (Docker); `configMap`, `secret`, `emptyDir`, ... (Kubernetes).
    pub kind: String,
    /// The host path, volume, ConfigMap or Secret; empty for a tmpfs.
    pub source: String,
    pub target: String,
    pub read_only: bool,
}

/// One healthcheck run, or one event about the pod.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct HealthProbe {
    pub at: String,
    /// The probe's exit code (Docker); `None` for an event.
    pub exit_code: Option<i64>,
    pub output: String,
}

/// Log output as it is written, each line prefixed with its RFC 3339 timestamp and a space.
pub type LogStream = std::pin::Pin<Box<dyn futures_util::Stream<Item = Result<Vec<u8>>> + Send>>;

/// The program a recorded shell runs: bash where the image has it, else sh.
pub fn shell_command() -> Vec<String> {
    vec![
        "/bin/sh".into(),
        "-c".into(),
        "if command -v bash >/dev/null 2>&1; then exec bash -i; else exec sh -i; fi".into(),
    ]
}

#[async_trait]
pub trait Backend: Send + Sync {
    fn kind(&self) -> BackendKind;
    /// The kubeconfig context it talks to (kube backend); recorded in the session.
    /// The OCI runtime candidate containers run under, when not the engine's default.
    fn runtime(&self) -> Option<String> {
        None
    }
    fn context(&self) -> Option<String> {
        None
    }
    /// What only a Kubernetes cluster has (pods, objects, events), on a backend that has it.
    fn cluster(&self) -> Option<&dyn Cluster>;
    /// What only the Docker engine has (a container's configuration and image, pipelines
    /// run beside the sandbox), on a backend that has it.
    fn containers(&self) -> Option<&dyn Containers>;
    /// Whether the backend answers, its version, and what is present or missing.
    async fn health(&self, images: &[ImageBuild]) -> Health;
    /// Builds (or finds cached) the images a scenario needs, and anything the backend needs.
    async fn prepare(&self, images: &[ImageBuild], progress: &dyn Progress) -> Result<()>;
    /// The reference naming exactly the build of `img` that its folder makes now (its
    /// content-hash tag) when that build exists, so a session runs the image it was prepared
    /// with even after another build moved `:latest`; `None` where the backend pins nothing.
    async fn built_tag(&self, _img: &ImageBuild) -> Result<Option<String>> {
        Ok(None)
    }
    /// Brings the session's objects in line with `deployment`: builds the images of services
    /// with `build` (only those whose context changed), creates what is missing, recreates
    /// what changed, removes services no longer declared. Nothing is touched when a build fails.
    async fn deploy(
        &self,
        t: &Target,
        workload: &Workload,
        progress: &dyn Progress,
    ) -> Result<ApplySummary>;
    /// Gives the candidate their own way in (a namespace-scoped kubeconfig written into
    /// `dir`, valid for `ttl`); `None` where ordinary tools on the host suffice (Docker).
    async fn grant(&self, t: &Target, dir: &std::path::Path, ttl: Duration) -> Result<Grant>;
    /// Starts the candidate's workstation (or keeps the one running with the same
    /// definition) and gives where it runs; `None` on a backend that has none.
    async fn workstation(
        &self,
        _t: &Target,
        _spec: &WorkstationSpec,
        _progress: &dyn Progress,
    ) -> Result<Option<String>> {
        Ok(None)
    }
    async fn state(&self, t: &Target, service: &str) -> Result<ServiceState>;
    async fn exec(
        &self,
        t: &Target,
        service: &str,
        cmd: &[String],
        timeout: Duration,
    ) -> Result<ExecOutput>;
    /// Opens a terminal running `cmd` in a service's container (Docker) or one of its pods
    /// (Kubernetes), sized `(columns, rows)`.
    async fn terminal(
        &self,
        t: &Target,
        service: &str,
        cmd: &[String],
        size: (u16, u16),
    ) -> Result<Terminal>;
    async fn restart(&self, t: &Target, service: &str) -> Result<()>;
    /// An HTTP GET from a probe on the session's network, outside the candidate's containers.
    async fn http(&self, t: &Target, req: &HttpRequest) -> Result<HttpResponse> {
        self.http_send(t, req, "GET", None).await
    }
    /// An HTTP request with any method and an optional plain-text body, from the same probe:
    /// for APIs that change something (a service's admin control), where `http` only reads.
    async fn http_send(
        &self,
        t: &Target,
        req: &HttpRequest,
        method: &str,
        body: Option<&str>,
    ) -> Result<HttpResponse>;
    async fn logs(&self, t: &Target, service: &str, tail: usize) -> Result<String>;
    /// The lines of a service's log written since `since` that contain `needle`. The log is
    /// searched as it streams, so a service that floods it (a long traceback a second) cannot
    /// push a line out of reach, as it can from the capped tail [`Backend::logs`] returns.
    async fn log_lines_with(
        &self,
        t: &Target,
        service: &str,
        since: std::time::SystemTime,
        needle: &str,
    ) -> Result<Vec<String>> {
        let _ = since;
        let log = self.logs(t, service, 2000).await?;
        Ok(log
            .lines()
            .filter(|l| l.contains(needle))
            .map(str::to_string)
            .collect())
    }
    /// The exits of a service's container since `since`, oldest first, each saying whether
    /// the container started again after it, from the engine's own record; `None` when the
    /// backend keeps none. Unlike [`Backend::state`], which can wait while the engine is still
    /// handling an exit, it answers at once, and it misses no exit between two looks.
    async fn exits_since(
        &self,
        t: &Target,
        service: &str,
        since: std::time::SystemTime,
    ) -> Result<Option<Vec<ExitSeen>>>;
    /// Programs and libraries of a service's container that were added, changed or deleted
    /// since it started from its image (`/usr/bin/curl changed`): what a check observes
    /// inside that container may have been faked. `None` when the backend cannot tell.
    async fn tampered_tools(&self, t: &Target, service: &str) -> Result<Option<Vec<String>>>;
    /// A bounded stream of GETs from the probe, outside the candidate's containers, sent in
    /// one go so the interval holds; every request is recorded. Times out (an error) when
    /// the stream cannot finish within its own worst case.
    async fn http_stream(&self, t: &Target, req: &HttpStreamRequest) -> Result<Vec<HttpSample>>;
    /// Removes every object of the session, images built from its workspace included.
    async fn teardown(&self, session: &str) -> Result<Removed>;
    /// Every object carrying breakfix's labels.
    async fn labelled(&self) -> Result<Vec<LabelledObject>>;
    /// The name a candidate uses for a service's container with ordinary tools.
    fn container_name(&self, t: &Target, service: &str) -> String;
    /// The session's services as deployed, by the names the candidate knows them: compose
    /// services (Docker), or the Deployments, StatefulSets, Jobs and Pods applied from the
    /// manifests (Kubernetes); never breakfix's own probe. Read from the objects' labels, so
    /// it answers while the workspace does not parse.
    async fn services(&self, t: &Target) -> Result<Vec<String>>;
    /// The curated view of a service `breakfix inspect` shows; `None` when it has no
    /// container (or pod).
    async fn describe(&self, t: &Target, service: &str) -> Result<Option<ServiceDetail>>;
    /// A service's log as it is written: the last `tail` lines (all with `None`), or those
    /// since `since` (Unix seconds), then new lines until its container (or pod's container)
    /// stops. Each line starts with its timestamp (see [`LogStream`]).
    async fn follow_logs(
        &self,
        t: &Target,
        service: &str,
        tail: Option<usize>,
        since: Option<i64>,
    ) -> Result<LogStream>;
}

/// The capabilities of a Kubernetes cluster ([`Backend::cluster`]).
#[async_trait]
pub trait Cluster: Send + Sync {
    /// The pods matching a label selector (Kubernetes).
    async fn pods(&self, t: &Target, selector: &str) -> Result<Vec<PodState>>;
    /// One object of the session as the API serves it; `None` when it does not exist.
    async fn object(&self, t: &Target, kind: &str, name: &str)
    -> Result<Option<serde_json::Value>>;
    /// The events of the session's namespace (Kubernetes).
    async fn events(&self, t: &Target) -> Result<Vec<EventInfo>>;
}

/// The capabilities of the Docker engine ([`Backend::containers`]).
#[async_trait]
pub trait Containers: Send + Sync {
    async fn config(&self, t: &Target, service: &str) -> Result<ServiceConfig>;
    /// The image the service's container was created from; `None` when it has no container.
    async fn image(&self, t: &Target, service: &str) -> Result<Option<ImageInfo>>;
    /// Runs the GitLab CI pipeline of a repository on the host with the local executor
    /// (`gitlabci-local`), its jobs in unprivileged containers with no network. Job
    /// containers left behind (a deadline, a crash) are removed. Concurrent calls for the
    /// same repository share one run, so several checks of one grade cost one pipeline.
    async fn run_pipeline(&self, req: &PipelineRequest) -> Result<PipelineRun>;
}

/// Connects to a backend: the local Docker engine, or the cluster of a kubeconfig context
/// (`context`, else the current one). `assets` is breakfix's own `docker/` folder (the probe
/// and the base image). `runtime` is the OCI runtime for candidate containers (Docker): one
/// asked for now (`runtime_is_new`) is checked against the engine; one recorded by a
/// session is trusted, so `stop` works even if it was unregistered since.
pub async fn connect(
    kind: BackendKind,
    context: Option<String>,
    assets: PathBuf,
    runtime: Option<String>,
    runtime_is_new: bool,
) -> Result<std::sync::Arc<dyn Backend>> {
    Ok(match kind {
        BackendKind::Docker => {
            let b = docker::DockerBackend::connect(assets)
                .await?
                .with_runtime(runtime);
            if runtime_is_new {
                b.check_runtime().await?;
            }
            std::sync::Arc::new(b)
        }
        BackendKind::Kube if runtime.is_some() => {
            return Err(BackendError::Unsupported {
                op: "choose a container runtime (use a RuntimeClass in the manifests)",
                backend: kind,
            });
        }
        BackendKind::Kube => {
            std::sync::Arc::new(kube::KubeBackend::connect(context, assets).await?)
        }
    })
}
