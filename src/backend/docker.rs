//! The Docker backend, through bollard. Each session gets an internal bridge network, a
//! probe container on it (HTTP checks run from there, outside the candidate's reach), and
//! one hardened container per compose service.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bollard::Docker;
use bollard::container::LogOutput;
use bollard::errors::Error as DockerError;
use bollard::exec::StartExecResults;
use bollard::models::{
    ChangeType, ContainerCreateBody, ContainerSummaryStateEnum, EndpointSettings, ExecConfig,
    HealthConfig, HostConfig, HostConfigLogConfig, NetworkCreateRequest, NetworkingConfig,
    RestartPolicy, RestartPolicyNameEnum,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, EventsOptionsBuilder, ListContainersOptionsBuilder,
    ListImagesOptionsBuilder, ListNetworksOptionsBuilder, ListVolumesOptionsBuilder,
    LogsOptionsBuilder, RemoveContainerOptionsBuilder, RemoveImageOptionsBuilder,
    RestartContainerOptionsBuilder,
};
use futures_util::StreamExt;

use super::images::{self, BASE_IMAGE};
use super::stream;
use super::{
    ApplySummary, Backend, BackendError, Cluster, Containers, ExecOutput, ExitSeen, Grant, Health,
    HealthItem, HealthProbe, HttpRequest, HttpResponse, HttpSample, HttpStreamRequest, ImageBuild,
    ImageInfo, LabelledObject, LogStream, MountInfo, PipelineRequest, PipelineRun, Progress,
    Removed, Result, ServiceConfig, ServiceDetail, ServiceState, Target, Terminal, WORKSTATION,
    Workload, WorkstationSpec, labels,
};
use crate::compose::{Deployment, ServiceSpec};
use crate::scenario::BackendKind;

mod guard;

/// The most output kept from a command or a response body.
const OUTPUT_CAP: usize = 64 * 1024;
const DOCKER_ADVICE: &str = "is it running? (start it, or set DOCKER_HOST)";
pub(crate) const PROBE_REPO: &str = "breakfix/probe";
const PROBE_SERVICE: &str = "probe";
pub(crate) const WORKSTATION_REPO: &str = "breakfix/workstation";
/// The engine's network mode of a container with no network but loopback.
const NO_NETWORK: &str = "none";
/// The bridge driver's option that leaves the host's side of a network without an address.
pub(crate) const INHIBIT_IPV4: &str = "com.docker.network.bridge.inhibit_ipv4";

/// The most pipeline output kept (its tail: the summary is at the end).
const PIPELINE_OUTPUT_CAP: usize = 512 * 1024;

/// One stream of a log put back into lines, from pieces of any size.
#[derive(Default)]
struct Lines {
    pending: String,
}

impl Lines {
    /// The lines `piece` completes, without their line ends.
    fn push(&mut self, piece: &[u8]) -> Vec<String> {
        self.pending.push_str(&String::from_utf8_lossy(piece));
        let mut lines = vec![];
        while let Some(end) = self.pending.find('\n') {
            let line: String = self.pending.drain(..=end).collect();
            lines.push(line.trim_end().to_string());
        }
        // A line longer than this is no line a caller is after: keep its end only.
        if self.pending.len() > OUTPUT_CAP {
            let mut cut = self.pending.len() - 1024;
            while !self.pending.is_char_boundary(cut) {
                cut += 1;
            }
            self.pending.drain(..cut);
        }
        lines
    }

    /// The last line, when the log ended without a line end.
    fn finish(self) -> Option<String> {
        let last = self.pending.trim_end();
        (!last.is_empty()).then(|| last.to_string())
    }
}
/// The last run per repository, with the round it answered.
type PipelineSlot = std::sync::Arc<tokio::sync::Mutex<Option<(u64, PipelineRun)>>>;

/// A container of a session, as its labels describe it.
struct SessionContainer {
    name: String,
    /// The compose service it runs (`labels::SERVICE`).
    service: String,
    /// The hash of the definition it was created from; empty when it never started.
    hash: String,
    /// `service` or `probe`.
    role: String,
}

pub struct DockerBackend {
    docker: Docker,
    endpoint: String,
    /// The project's `docker/` folder: the base bootstrap script and the probe image.
    assets: PathBuf,
    /// The last pipeline run per repository, shared by checks that ask at the same time.
    pipelines: tokio::sync::Mutex<HashMap<PathBuf, PipelineSlot>>,
    /// Users looked up in an image's `/etc/passwd`, by image id (an id never changes content).
    uids: std::sync::Mutex<HashMap<(String, String), Option<u64>>>,
    /// The OCI runtime candidate containers run under (`runsc` for gVisor); `None` is the
    /// engine's default.
    runtime: Option<String>,
}

/// The runtime gVisor registers as.
pub const GVISOR: &str = "runsc";

/// The engine's own socket, when the engine is reached through one (`DOCKER_HOST` unset, or
/// `unix://…`); `None` for an engine reached over TCP.
pub fn engine_socket() -> Option<PathBuf> {
    match std::env::var("DOCKER_HOST") {
        Err(_) => Some(PathBuf::from("/var/run/docker.sock")),
        Ok(host) => host.strip_prefix("unix://").map(PathBuf::from),
    }
}

fn endpoint() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into())
}

impl DockerBackend {
    /// Connects (lazily) and negotiates the API version; fails with `Unreachable` when the
    /// engine does not answer.
    pub async fn connect(assets: PathBuf) -> Result<Self> {
        let endpoint = endpoint();
        let unreachable = |e: DockerError| BackendError::Unreachable {
            what: "the Docker engine",
            advice: DOCKER_ADVICE,
            endpoint: endpoint.clone(),
            source: Box::new(e),
        };
        let docker = Docker::connect_with_local_defaults().map_err(unreachable)?;
        let docker = tokio::time::timeout(Duration::from_secs(10), docker.negotiate_version())
            .await
            .map_err(|_| BackendError::Unreachable {
                what: "the Docker engine",
                advice: DOCKER_ADVICE,
                endpoint: endpoint.clone(),
                source: "no answer within 10 s".into(),
            })?
            .map_err(unreachable)?;
        Ok(DockerBackend {
            docker,
            endpoint,
            assets,
            pipelines: Default::default(),
            uids: Default::default(),
            runtime: None,
        })
    }

    /// Runs candidate containers under `runtime` from now on. breakfix's own probe keeps the
    /// default runtime.
    pub fn with_runtime(mut self, runtime: Option<String>) -> Self {
        self.runtime = runtime;
        self
    }

    /// Refuses a runtime the engine does not have registered, before anything is created.
    pub async fn check_runtime(&self) -> Result<()> {
        if let Some(r) = &self.runtime {
            let known = self.runtimes().await?;
            if !known.contains(r) {
                return Err(BackendError::Refused {
                    op: "use runtime",
                    object: format!("`{r}`"),
                    message: format!(
                        "the Docker engine at {} has no such runtime registered (it has {}); {}",
                        self.endpoint,
                        known.join(", "),
                        if r == GVISOR {
                            "install gVisor (`apt install runsc`), run `runsc install` to add it to /etc/docker/daemon.json, and restart the engine"
                        } else {
                            "register it under \"runtimes\" in /etc/docker/daemon.json and restart the engine"
                        }
                    ),
                });
            }
        }
        Ok(())
    }

    /// The runtimes the engine has registered, sorted.
    async fn runtimes(&self) -> Result<Vec<String>> {
        let info = self
            .docker
            .info()
            .await
            .map_err(self.err("read", "the engine's information"))?;
        let mut names: Vec<String> = info.runtimes.unwrap_or_default().into_keys().collect();
        names.sort();
        Ok(names)
    }

    /// The content-hash tag of an image breakfix built (`repo:<hash>`), found through the
    /// `:latest` tag it also carries; `None` when it was never built.
    pub(crate) async fn content_tag(&self, repo: &str) -> Result<Option<String>> {
        let latest = format!("{repo}:latest");
        let Ok(info) = self.docker.inspect_image(&latest).await else {
            return Ok(None);
        };
        Ok(info
            .repo_tags
            .unwrap_or_default()
            .into_iter()
            .find(|t| t.starts_with(&format!("{repo}:")) && *t != latest))
    }

    pub(crate) fn probe_image(&self) -> ImageBuild {
        ImageBuild {
            repo: PROBE_REPO.into(),
            context: self.assets.join("probe"),
        }
    }

    pub(crate) fn workstation_image(&self) -> ImageBuild {
        ImageBuild {
            repo: WORKSTATION_REPO.into(),
            context: self.assets.join("workstation"),
        }
    }

    fn network_name(session: &str) -> String {
        format!("bf-{session}")
    }

    fn err(
        &self,
        op: &'static str,
        object: impl Into<String>,
    ) -> impl Fn(DockerError) -> BackendError + '_ {
        let object = object.into();
        move |e| classify(&self.endpoint, op, object.clone(), e)
    }

    fn base_labels(t: &Target, role: &str) -> HashMap<String, String> {
        HashMap::from([
            (labels::MANAGED.to_string(), "true".to_string()),
            (labels::SESSION.to_string(), t.session.clone()),
            (labels::SCENARIO.to_string(), t.scenario.clone()),
            (labels::STORE.to_string(), t.store.clone()),
            (labels::ROLE.to_string(), role.to_string()),
        ])
    }

    async fn ensure_network(&self, t: &Target) -> Result<String> {
        let name = Self::network_name(&t.session);
        let filters = HashMap::from([("name".to_string(), vec![name.clone()])]);
        let existing = self
            .docker
            .list_networks(Some(
                ListNetworksOptionsBuilder::default()
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(self.err("list networks", &name))?;
        if existing.iter().any(|n| n.name.as_deref() == Some(&name)) {
            return Ok(name);
        }
        self.docker
            .create_network(NetworkCreateRequest {
                name: name.clone(),
                driver: Some("bridge".into()),
                // No route out: a sandbox reaches its own services and nothing else.
                internal: Some(true),
                // And no way in to the host: without an address on the host's side of the
                // bridge, nothing listening on the host (or reached through it) answers.
                options: Some(HashMap::from([(
                    INHIBIT_IPV4.to_string(),
                    "true".to_string(),
                )])),
                labels: Some(Self::base_labels(t, "network")),
                ..Default::default()
            })
            .await
            .map_err(self.err("create network", &name))?;
        Ok(name)
    }

    /// The hardened host configuration every sandbox container gets.
    fn host_config(spec: &ServiceSpec, network: &str, runtime: Option<String>) -> HostConfig {
        let restart = spec.restart.split(':').collect::<Vec<_>>();
        let policy = match restart[0] {
            "always" => RestartPolicyNameEnum::ALWAYS,
            "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
            "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
            _ => RestartPolicyNameEnum::NO,
        };
        let retries = restart.get(1).and_then(|n| n.parse().ok());
        HostConfig {
            privileged: Some(false),
            runtime,
            cap_drop: Some(vec!["ALL".into()]),
            cap_add: (!spec.cap_add.is_empty()).then(|| spec.cap_add.clone()),
            security_opt: Some(vec!["no-new-privileges:true".into()]),
            memory: Some(spec.memory),
            memory_swap: Some(spec.memory),
            nano_cpus: Some(spec.nano_cpus),
            pids_limit: Some(spec.pids_limit),
            readonly_rootfs: Some(spec.read_only),
            tmpfs: (!spec.tmpfs.is_empty()).then(|| {
                spec.tmpfs
                    .iter()
                    .map(|t| {
                        let (path, opts) = t.split_once(':').unwrap_or((t, ""));
                        let opts = if opts.is_empty() {
                            "rw,nosuid,nodev,size=64m"
                        } else {
                            opts
                        };
                        (path.to_string(), opts.to_string())
                    })
                    .collect()
            }),
            binds: (!spec.binds.is_empty()).then(|| {
                spec.binds
                    .iter()
                    .map(|b| {
                        format!(
                            "{}:{}:{}",
                            b.source.display(),
                            b.target,
                            if b.read_only { "ro" } else { "rw" }
                        )
                    })
                    .collect()
            }),
            restart_policy: Some(RestartPolicy {
                name: Some(policy),
                maximum_retry_count: retries,
            }),
            network_mode: Some(network.to_string()),
            // The network has no route out, so a name that is not a session service cannot
            // resolve, and the engine's resolver does not answer for it on an internal network
            // (moby/moby#43430). With `ndots` set explicitly it answers a one-label name it does
            // not know at once (a renamed service fails in milliseconds, as on any network);
            // other names fail in a second instead of the resolver's default ten.
            dns_options: Some(vec![
                "timeout:1".into(),
                "attempts:1".into(),
                "ndots:1".into(),
            ]),
            log_config: Some(HostConfigLogConfig {
                typ: Some("json-file".into()),
                config: Some(HashMap::from([
                    ("max-size".to_string(), "1m".to_string()),
                    ("max-file".to_string(), "2".to_string()),
                ])),
            }),
            ..Default::default()
        }
    }

    async fn create_service(
        &self,
        t: &Target,
        network: &str,
        spec: &ServiceSpec,
        hash: &str,
        role: &str,
    ) -> Result<()> {
        let name = if role == "probe" {
            probe_container(t)
        } else {
            self.container_name(t, &spec.name)
        };
        let mut lbls = Self::base_labels(t, role);
        lbls.insert(labels::SERVICE.into(), spec.name.clone());
        lbls.insert(labels::CONFIG_HASH.into(), hash.to_string());
        for (k, v) in &spec.labels {
            if !k.starts_with("dev.breakfix.") {
                lbls.insert(k.clone(), v.clone());
            }
        }
        let mut aliases = vec![spec.name.clone()];
        aliases.extend(spec.aliases.iter().cloned());
        let healthcheck = spec.healthcheck.as_ref().map(|h| HealthConfig {
            test: (!h.test.is_empty()).then(|| h.test.clone()),
            interval: h.interval_ns,
            timeout: h.timeout_ns,
            retries: h.retries,
            start_period: h.start_period_ns,
            ..Default::default()
        });
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            cmd: spec.command.clone(),
            entrypoint: spec.entrypoint.clone(),
            env: Some(
                spec.environment
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect(),
            ),
            user: spec.user.clone(),
            working_dir: spec.working_dir.clone(),
            hostname: Some(spec.hostname.clone().unwrap_or_else(|| spec.name.clone())),
            labels: Some(lbls),
            healthcheck,
            stop_timeout: spec.stop_grace_secs,
            host_config: Some(Self::host_config(
                spec,
                network,
                // The probe is breakfix's own observer, not the candidate's.
                (role != "probe").then(|| self.runtime.clone()).flatten(),
            )),
            // Aliases exist only on a network of the session's own.
            networking_config: (network != NO_NETWORK).then(|| NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    network.to_string(),
                    EndpointSettings {
                        aliases: Some(aliases),
                        ..Default::default()
                    },
                )])),
            }),
            ..Default::default()
        };
        self.docker
            .create_container(
                Some(CreateContainerOptionsBuilder::default().name(&name).build()),
                body,
            )
            .await
            .map_err(self.err("create container", &name))?;
        self.docker
            .start_container(
                &name,
                None::<bollard::query_parameters::StartContainerOptions>,
            )
            .await
            .map_err(self.err("start container", &name))?;
        Ok(())
    }

    async fn remove_container(&self, name: &str) -> Result<bool> {
        match self
            .docker
            .remove_container(
                name,
                Some(
                    RemoveContainerOptionsBuilder::default()
                        .force(true)
                        .v(true)
                        .build(),
                ),
            )
            .await
        {
            Ok(()) => Ok(true),
            Err(DockerError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(false),
            Err(e) => Err(classify(
                &self.endpoint,
                "remove container",
                name.to_string(),
                e,
            )),
        }
    }

    /// The containers of a session, with what their labels say.
    async fn session_containers(&self, session: &str) -> Result<Vec<SessionContainer>> {
        let filters = session_filter(session);
        let list = self
            .docker
            .list_containers(Some(
                ListContainersOptionsBuilder::default()
                    .all(true)
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(self.err("list containers of session", session))?;
        Ok(list
            .into_iter()
            .map(|c| {
                let l = c.labels.unwrap_or_default();
                let name = first_name(c.names);
                let get = |k: &str| l.get(k).cloned().unwrap_or_default();
                // Created but never started: the command that created it was killed or failed
                // before the start. No hash matches it, so the next deploy recreates it.
                let never_started = c.state == Some(ContainerSummaryStateEnum::CREATED);
                SessionContainer {
                    name,
                    service: get(labels::SERVICE),
                    hash: if never_started {
                        String::new()
                    } else {
                        get(labels::CONFIG_HASH)
                    },
                    role: get(labels::ROLE),
                }
            })
            .collect())
    }

    async fn image_id(&self, image: &str) -> Result<String> {
        self.docker
            .inspect_image(image)
            .await
            .map(|i| i.id.unwrap_or_default())
            .map_err(|e| match e {
                DockerError::DockerResponseServerError { status_code: 404, .. } => BackendError::Engine {
                    op: "find image",
                    object: image.to_string(),
                    source: "no such image on this engine (images come from the scenario's images/ folders; run `breakfix doctor`)".into(),
                },
                e => classify(&self.endpoint, "inspect image", image.to_string(), e),
            })
    }

    /// One run of the executor, then removal of any job container it left behind.
    async fn execute_pipeline(
        &self,
        repo: &std::path::Path,
        timeout: Duration,
    ) -> Result<PipelineRun> {
        let fail = |message: String, source: Option<std::io::Error>| BackendError::Pipeline {
            repository: repo.to_path_buf(),
            message,
            source,
        };
        let Some(exe) = crate::tools::ci_executor() else {
            return Err(fail(crate::tools::ci_executor_missing(), None));
        };
        let commit = git_rev_parse(repo, &["rev-parse", "HEAD"]).await;
        let commit_short = git_rev_parse(repo, &["rev-parse", "--short", "HEAD"]).await;
        let started_unix_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let (mut reader, writer) =
            std::io::pipe().map_err(|e| fail("open a pipe".into(), Some(e)))?;
        let writer2 = writer
            .try_clone()
            .map_err(|e| fail("open a pipe".into(), Some(e)))?;
        let mut cmd = tokio::process::Command::new(&exe);
        // Jobs get no network (the sandbox downloads nothing) and no privileges.
        cmd.args(["-p", "--privileged", "false", "-n", "none", "--no-color"])
            .current_dir(repo)
            .env("NO_COLOR", "1")
            .env("CI_LOCAL_ENGINE", "docker")
            .env("DEBUG_UPDATES_DISABLE", "1")
            .stdin(std::process::Stdio::null())
            .stdout(writer)
            .stderr(writer2)
            .kill_on_drop(true);
        let mut child = cmd
            .spawn()
            .map_err(|e| fail(format!("start {}", exe.display()), Some(e)))?;
        // `cmd` holds the write ends until dropped; the reader sees EOF once the child is gone.
        drop(cmd);
        let read = tokio::task::spawn_blocking(move || {
            use std::io::Read;
            let mut buf = Vec::new();
            let mut chunk = [0u8; 8192];
            while let Ok(n) = reader.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > 2 * PIPELINE_OUTPUT_CAP {
                    buf.drain(..buf.len() - PIPELINE_OUTPUT_CAP);
                }
            }
            buf
        });
        let exit_code = match tokio::time::timeout(timeout, child.wait()).await {
            Ok(Ok(status)) => Some(status.code().unwrap_or(-1)),
            Ok(Err(e)) => return Err(fail("wait for the executor".into(), Some(e))),
            Err(_) => {
                let _ = child.start_kill();
                let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
                None
            }
        };
        let leftovers_removed = self.remove_job_containers(repo).await?;
        let mut bytes = tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .ok()
            .and_then(|r| r.ok())
            .unwrap_or_default();
        if bytes.len() > PIPELINE_OUTPUT_CAP {
            bytes.drain(..bytes.len() - PIPELINE_OUTPUT_CAP);
        }
        Ok(PipelineRun {
            exit_code,
            output: String::from_utf8_lossy(&bytes).into_owned(),
            commit,
            commit_short,
            started_unix_ms,
            leftovers_removed,
        })
    }

    /// The executor gives its containers neither labels nor names of ours, but every job
    /// container mounts the repository: that is how this session's are told apart.
    async fn remove_job_containers(&self, repo: &std::path::Path) -> Result<usize> {
        let list = self
            .docker
            .list_containers(Some(
                ListContainersOptionsBuilder::default().all(true).build(),
            ))
            .await
            .map_err(self.err("list containers mounting", repo.display().to_string()))?;
        let mut removed = 0;
        for c in list {
            // The session's own services mount workspace folders too; they are not jobs.
            if c.labels
                .as_ref()
                .is_some_and(|l| l.contains_key(labels::MANAGED))
            {
                continue;
            }
            let mounts_repo = c.mounts.iter().flatten().any(|m| {
                m.source
                    .as_deref()
                    .is_some_and(|s| std::path::Path::new(s).starts_with(repo))
            });
            if mounts_repo && self.remove_container(&first_name(c.names)).await? {
                removed += 1;
            }
        }
        Ok(removed)
    }

    async fn probe_spec(&self) -> ServiceSpec {
        ServiceSpec {
            name: PROBE_SERVICE.into(),
            image: format!("{PROBE_REPO}:latest"),
            build: None,
            command: Some(vec!["sleep".into(), "infinity".into()]),
            entrypoint: None,
            environment: Default::default(),
            binds: vec![],
            tmpfs: vec!["/tmp".into()],
            read_only: true,
            user: Some("65534:65534".into()),
            restart: "always".into(),
            healthcheck: None,
            aliases: vec![],
            cap_add: vec![],
            memory: 64 << 20,
            nano_cpus: 250_000_000,
            pids_limit: 64,
            working_dir: None,
            depends_on: vec![],
            labels: Default::default(),
            stop_grace_secs: Some(1),
            hostname: None,
            guard: Default::default(),
        }
    }

    /// The candidate's workstation as a container: hardened like the services (no
    /// capabilities, no new privileges, read-only root, bounded), with the workspace and the
    /// session's endpoint folder as its only mounts and nothing of the engine's own.
    fn workstation_spec(t: &Target, w: &WorkstationSpec) -> ServiceSpec {
        let mut environment = BTreeMap::from([("BREAKFIX_SESSION".into(), t.session.clone())]);
        let command = if w.kubernetes {
            environment.insert("KUBECONFIG".into(), "/run/breakfix/kubeconfig".into());
            "/usr/local/lib/breakfix/kube-relay"
        } else {
            "sleep infinity"
        };
        ServiceSpec {
            name: WORKSTATION.into(),
            image: format!("{WORKSTATION_REPO}:latest"),
            build: None,
            command: Some(command.split(' ').map(str::to_string).collect()),
            entrypoint: None,
            environment,
            binds: vec![
                crate::compose::Bind {
                    source: w.workspace.clone(),
                    target: "/workspace".into(),
                    read_only: false,
                },
                crate::compose::Bind {
                    source: w.endpoint.clone(),
                    target: "/run/breakfix".into(),
                    read_only: true,
                },
            ],
            tmpfs: vec![
                "/tmp:rw,nosuid,nodev,size=256m".into(),
                "/home/candidate:rw,nosuid,nodev,size=256m,mode=1777".into(),
            ],
            read_only: true,
            user: Some(w.user.clone()),
            restart: "unless-stopped".into(),
            healthcheck: None,
            aliases: vec![],
            cap_add: vec![],
            memory: 512 << 20,
            nano_cpus: 1_000_000_000,
            pids_limit: 256,
            working_dir: Some("/workspace".into()),
            depends_on: vec![],
            labels: Default::default(),
            stop_grace_secs: Some(1),
            hostname: Some(WORKSTATION.into()),
            guard: Default::default(),
        }
    }

    /// Starts the candidate's workstation (or keeps the one running with the same
    /// definition) for a session of either backend and gives its container's name. A
    /// Kubernetes session's workstation has no network at all (`none`): its only way out is
    /// the endpoint folder's sockets.
    pub(crate) async fn start_workstation(
        &self,
        t: &Target,
        w: &WorkstationSpec,
        progress: &dyn Progress,
    ) -> Result<String> {
        images::build(&self.docker, &self.workstation_image(), progress).await?;
        let spec = Self::workstation_spec(t, w);
        let hash = spec.config_hash(&self.image_id(&spec.image).await?);
        let name = self.container_name(t, WORKSTATION);
        let existing = self.session_containers(&t.session).await?;
        if !existing.iter().any(|c| c.name == name && c.hash == hash) {
            self.remove_container(&name).await?;
            let network = if w.kubernetes {
                NO_NETWORK.to_string()
            } else {
                self.ensure_network(t).await?
            };
            self.create_service(t, &network, &spec, &hash, WORKSTATION)
                .await?;
        }
        Ok(name)
    }

    async fn run_exec(
        &self,
        container: &str,
        cmd: &[String],
        timeout: Duration,
    ) -> Result<ExecOutput> {
        let exec = self
            .docker
            .create_exec(
                container,
                ExecConfig {
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    cmd: Some(cmd.to_vec()),
                    ..Default::default()
                },
            )
            .await
            .map_err(self.err("exec in", container))?;
        let started = self
            .docker
            .start_exec(&exec.id, None)
            .await
            .map_err(self.err("exec in", container))?;
        let mut output = String::new();
        let read = async {
            if let StartExecResults::Attached {
                output: mut stream, ..
            } = started
            {
                while let Some(chunk) = stream.next().await {
                    let Ok(chunk) = chunk else { break };
                    if output.len() < OUTPUT_CAP {
                        output.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
                    }
                }
            }
        };
        if tokio::time::timeout(timeout, read).await.is_err() {
            output.truncate(OUTPUT_CAP);
            return Ok(ExecOutput {
                exit_code: None,
                output,
            });
        }
        output.truncate(OUTPUT_CAP);
        let exit_code = self
            .docker
            .inspect_exec(&exec.id)
            .await
            .map_err(self.err("inspect exec in", container))?
            .exit_code;
        Ok(ExecOutput { exit_code, output })
    }
}

fn session_filter(session: &str) -> HashMap<String, Vec<String>> {
    HashMap::from([(
        "label".to_string(),
        vec![format!("{}={session}", labels::SESSION)],
    )])
}

/// A container's name as users write it (the engine lists it as `/name`).
fn first_name(names: Option<Vec<String>>) -> String {
    names
        .and_then(|n| n.into_iter().next())
        .unwrap_or_default()
        .trim_start_matches('/')
        .to_string()
}

fn labelled(kind: &'static str, name: String, l: &HashMap<String, String>) -> LabelledObject {
    LabelledObject {
        kind,
        name,
        session: l.get(labels::SESSION).cloned().unwrap_or_default(),
        store: l.get(labels::STORE).cloned().unwrap_or_default(),
    }
}

/// What `git` says about the repository's HEAD, as the executor asks it; empty when the
/// folder has no commit (the pipeline then runs without one).
async fn git_rev_parse(repo: &std::path::Path, args: &[&str]) -> String {
    tokio::process::Command::new("git")
        .args(args)
        .current_dir(repo)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// How long reading a container's log may take.
const LOG_READ_DEADLINE: Duration = Duration::from_secs(10);

/// Runs a read of `container`'s log, or gives up with a timeout naming it.
async fn within_log_deadline(
    container: &str,
    read: impl std::future::Future<Output = Result<()>>,
) -> Result<()> {
    tokio::time::timeout(LOG_READ_DEADLINE, read)
        .await
        .map_err(|_| BackendError::Timeout {
            op: "read logs of",
            object: container.to_string(),
            after: LOG_READ_DEADLINE,
        })?
}

/// The plain-data view of an image inspection.
fn image_info(reference: String, i: bollard::models::ImageInspect) -> ImageInfo {
    let cfg = i.config.unwrap_or_default();
    ImageInfo {
        reference,
        id: i.id.unwrap_or_default(),
        user: cfg.user.unwrap_or_default(),
        size: i.size.unwrap_or(0),
        layers: i.root_fs.and_then(|r| r.layers).map_or(0, |l| l.len()),
        healthcheck: cfg
            .healthcheck
            .and_then(|h| h.test)
            .filter(|t| !t.is_empty() && t[0] != "NONE")
            .unwrap_or_default(),
        exposed_ports: {
            let mut ports: Vec<String> = cfg.exposed_ports.unwrap_or_default();
            ports.sort();
            ports
        },
        tags: i.repo_tags.unwrap_or_default(),
        entrypoint: cfg.entrypoint.unwrap_or_default(),
        command: cfg.cmd.unwrap_or_default(),
        uid: None,
    }
}

/// A container's state as the checks read it.
fn state_of(info: &bollard::models::ContainerInspectResponse) -> ServiceState {
    let st = info.state.clone().unwrap_or_default();
    ServiceState {
        exists: true,
        status: st.status.map(|s| s.to_string()).unwrap_or_default(),
        running: st.running.unwrap_or(false) && !st.restarting.unwrap_or(false),
        restarting: st.restarting.unwrap_or(false),
        restart_count: info.restart_count.unwrap_or(0),
        exit_code: st.exit_code,
        oom_killed: st.oom_killed.unwrap_or(false),
        health_timed_out: st.health.as_ref().is_some_and(|h| {
            let failed: Vec<_> = h
                .log
                .iter()
                .flatten()
                .filter(|r| r.exit_code != Some(0))
                .collect();
            // The engine's own mark of a probe that ran out of time.
            !failed.is_empty()
                && failed.iter().all(|r| {
                    r.exit_code == Some(-1)
                        && r.output
                            .as_deref()
                            .is_some_and(|o| o.contains("exceeded timeout"))
                })
        }),
        health: st
            .health
            .and_then(|h| h.status)
            .map(|s| s.to_string())
            .filter(|s| !s.is_empty() && s != "none"),
        started_at: st.started_at,
    }
}

/// How long a bounded read of the engine's event record may take.
const EVENTS_DEADLINE: Duration = Duration::from_secs(10);

/// A time as the engine's `since`/`until` take it: Unix seconds with nanoseconds.
fn unix_timestamp(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

/// The probe's name cannot clash with a service's: service names have no `.`.
fn probe_container(t: &Target) -> String {
    format!("bf-{}.probe", t.session)
}

/// Separates "the engine is not there" from "the engine refused this request".
fn classify(endpoint: &str, op: &'static str, object: String, e: DockerError) -> BackendError {
    match e {
        DockerError::DockerResponseServerError { .. }
        | DockerError::JsonDataError { .. }
        | DockerError::DockerStreamError { .. }
        | DockerError::DockerContainerWaitError { .. } => BackendError::Engine {
            op,
            object,
            source: Box::new(e),
        },
        other => BackendError::Unreachable {
            what: "the Docker engine",
            advice: DOCKER_ADVICE,
            endpoint: endpoint.to_string(),
            source: Box::new(other),
        },
    }
}

#[async_trait]
impl Backend for DockerBackend {
    fn runtime(&self) -> Option<String> {
        self.runtime.clone()
    }

    fn kind(&self) -> BackendKind {
        BackendKind::Docker
    }

    fn cluster(&self) -> Option<&dyn Cluster> {
        None
    }

    fn containers(&self) -> Option<&dyn Containers> {
        Some(self)
    }

    fn container_name(&self, t: &Target, service: &str) -> String {
        format!("bf-{}-{service}", t.session)
    }

    async fn health(&self, images: &[ImageBuild]) -> Health {
        let mut h = Health::default();
        match self.docker.version().await {
            Ok(v) => {
                h.reachable = true;
                h.version = v.version.unwrap_or_default();
                h.api_version = v.api_version.unwrap_or_default();
            }
            Err(e) => {
                h.detail.push(HealthItem::new(
                    "engine",
                    false,
                    format!("{} does not answer: {e}", self.endpoint),
                ));
                return h;
            }
        }
        let runtimes = self.runtimes().await.unwrap_or_default();
        let gvisor = runtimes.iter().any(|r| r == GVISOR);
        let installed = crate::tools::on_path(GVISOR).is_some();
        h.detail.push(HealthItem::new(
            "gVisor (runsc)",
            gvisor,
            match (gvisor, installed) {
                (true, _) => match &self.runtime {
                    Some(r) => format!("registered; candidate containers run under `{r}`"),
                    None => "registered: `breakfix start --runtime runsc` (or BREAKFIX_RUNTIME=runsc) runs candidate containers under it".into(),
                },
                (false, true) => "installed but not registered with the engine: run `runsc install` and restart the engine for stronger isolation".into(),
                (false, false) => "not available (optional): `apt install runsc` for stronger isolation than namespaces and cgroups".into(),
            },
        ));
        let base = self.docker.inspect_image(BASE_IMAGE).await.is_ok();
        h.detail.push(HealthItem::new(
            BASE_IMAGE,
            base,
            if base {
                "present".to_string()
            } else {
                "missing: `breakfix start` bootstraps it (needs debootstrap)".into()
            },
        ));
        let probe = self.probe_image();
        let probe_latest = format!("{}:latest", probe.repo);
        let (contained, how) = if self.docker.inspect_image(&probe_latest).await.is_ok() {
            self.host_containment(&probe_latest).await
        } else {
            (
                false,
                "not checked yet: it needs the probe image (`breakfix build`)".to_string(),
            )
        };
        h.detail.push(HealthItem::new(
            "sandboxes cannot reach the host",
            contained,
            how,
        ));
        let workstation = self.workstation_image();
        for img in [&probe, &workstation].into_iter().chain(images) {
            let latest = format!("{}:latest", img.repo);
            let present = self.docker.inspect_image(&latest).await.is_ok();
            h.detail.push(HealthItem::new(
                latest,
                present,
                if present {
                    "built".to_string()
                } else {
                    "not built yet: `breakfix start` builds it".into()
                },
            ));
        }
        h
    }

    async fn prepare(&self, imgs: &[ImageBuild], progress: &dyn Progress) -> Result<()> {
        images::ensure_base(&self.docker, &self.assets, progress).await?;
        let probe = self.probe_image();
        let workstation = self.workstation_image();
        for img in [&probe, &workstation].into_iter().chain(imgs) {
            images::build(&self.docker, img, progress).await?;
        }
        Ok(())
    }

    async fn built_tag(&self, img: &ImageBuild) -> Result<Option<String>> {
        let base = images::base_id(&self.docker).await;
        let hash = images::content_hash(&img.context, &base).map_err(|e| BackendError::Build {
            repo: img.repo.clone(),
            message: format!("cannot read {}: {e}", img.context.display()),
        })?;
        let tag = format!("{}:{hash}", img.repo);
        Ok(self.docker.inspect_image(&tag).await.is_ok().then_some(tag))
    }

    async fn deploy(
        &self,
        t: &Target,
        workload: &Workload,
        progress: &dyn Progress,
    ) -> Result<ApplySummary> {
        let Workload::Compose(d) = workload else {
            return Err(BackendError::Unsupported {
                op: "apply Kubernetes manifests",
                backend: BackendKind::Docker,
            });
        };
        // Every build first: a Dockerfile that does not build leaves the running sandbox as it is.
        let mut services = d.services.clone();
        for spec in &mut services {
            if let Some(build) = &spec.build {
                spec.image = images::build_workspace(
                    &self.docker,
                    &spec.name,
                    build,
                    &Self::base_labels(t, "image"),
                    &t.session,
                    progress,
                )
                .await?;
            }
        }
        // Then what only the engine can tell (the user an image runs as, its own healthcheck)
        // against the scenario's ceiling, before anything running changes.
        for spec in &services {
            self.judge(t, spec).await?;
        }
        let d = &Deployment { services };
        let network = self.ensure_network(t).await?;
        let existing = self.session_containers(&t.session).await?;
        let mut summary = ApplySummary::default();

        // The probe (breakfix's observer) comes up beside the services, not before them.
        let probe = async {
            let probe = self.probe_spec().await;
            let probe_hash = probe.config_hash(&self.image_id(&probe.image).await?);
            let probe_name = probe_container(t);
            if !existing
                .iter()
                .any(|c| c.name == probe_name && c.hash == probe_hash)
            {
                self.remove_container(&probe_name).await?;
                self.create_service(t, &network, &probe, &probe_hash, "probe")
                    .await?;
            }
            Ok::<(), BackendError>(())
        };
        let services = async {
            for spec in d.start_order() {
                let hash = spec.config_hash(&self.image_id(&spec.image).await?);
                let name = self.container_name(t, &spec.name);
                match existing.iter().find(|c| c.name == name) {
                    Some(c) if c.hash == hash => summary.unchanged.push(spec.name.clone()),
                    Some(_) => {
                        self.remove_container(&name).await?;
                        self.create_service(t, &network, spec, &hash, "service")
                            .await?;
                        summary.recreated.push(spec.name.clone());
                    }
                    None => {
                        self.create_service(t, &network, spec, &hash, "service")
                            .await?;
                        summary.created.push(spec.name.clone());
                    }
                }
            }
            Ok::<(), BackendError>(())
        };
        let (probe, services) = tokio::join!(probe, services);
        probe?;
        services?;
        for c in &existing {
            if c.role == "service" && d.service(&c.service).is_none() {
                self.remove_container(&c.name).await?;
                summary.removed.push(c.service.clone());
            }
        }
        Ok(summary)
    }

    async fn state(&self, t: &Target, service: &str) -> Result<ServiceState> {
        let name = self.container_name(t, service);
        let info = match self.docker.inspect_container(&name, None).await {
            Ok(i) => i,
            Err(DockerError::DockerResponseServerError {
                status_code: 404, ..
            }) => {
                return Ok(ServiceState::default());
            }
            Err(e) => return Err(classify(&self.endpoint, "inspect container", name, e)),
        };
        Ok(state_of(&info))
    }

    async fn exec(
        &self,
        t: &Target,
        service: &str,
        cmd: &[String],
        timeout: Duration,
    ) -> Result<ExecOutput> {
        self.run_exec(&self.container_name(t, service), cmd, timeout)
            .await
    }

    async fn terminal(
        &self,
        t: &Target,
        service: &str,
        cmd: &[String],
        size: (u16, u16),
    ) -> Result<Terminal> {
        let container = self.container_name(t, service);
        let exec = self
            .docker
            .create_exec(
                &container,
                ExecConfig {
                    attach_stdin: Some(true),
                    attach_stdout: Some(true),
                    attach_stderr: Some(true),
                    tty: Some(true),
                    env: Some(vec!["TERM=xterm-256color".into()]),
                    cmd: Some(cmd.to_vec()),
                    ..Default::default()
                },
            )
            .await
            .map_err(self.err("open a terminal in", &container))?;
        let started = self
            .docker
            .start_exec(
                &exec.id,
                Some(bollard::exec::StartExecOptions {
                    detach: false,
                    tty: true,
                    output_capacity: None,
                }),
            )
            .await
            .map_err(self.err("open a terminal in", &container))?;
        let StartExecResults::Attached { output, input } = started else {
            return Err(BackendError::Refused {
                op: "open a terminal in",
                object: container,
                message: "the engine detached the terminal".into(),
            });
        };
        let (resize, mut sizes) = tokio::sync::mpsc::unbounded_channel::<(u16, u16)>();
        let docker = self.docker.clone();
        let id = exec.id.clone();
        tokio::spawn(async move {
            while let Some((width, height)) = sizes.recv().await {
                // A resize racing the shell's exit fails harmlessly.
                let _ = docker
                    .resize_exec(&id, bollard::exec::ResizeExecOptions { height, width })
                    .await;
            }
        });
        let _ = resize.send(size);
        let output = output
            .take_while(|r| std::future::ready(r.is_ok()))
            .filter_map(|r| std::future::ready(r.ok().map(|o| o.into_bytes().to_vec())));
        Ok(Terminal {
            place: container,
            output: Box::pin(output),
            input,
            resize,
        })
    }

    async fn restart(&self, t: &Target, service: &str) -> Result<()> {
        let name = self.container_name(t, service);
        self.docker
            .restart_container(
                &name,
                Some(RestartContainerOptionsBuilder::default().t(2).build()),
            )
            .await
            .map_err(self.err("restart container", &name))
    }

    async fn http_send(
        &self,
        t: &Target,
        req: &HttpRequest,
        method: &str,
        body: Option<&str>,
    ) -> Result<HttpResponse> {
        let url = format!("http://{}:{}{}", req.service, req.port, req.path);
        let cmd = stream::http_command(&url, method, body, req);
        let started = Instant::now();
        let deadline = req.timeout + Duration::from_secs(5);
        let out = self.run_exec(&probe_container(t), &cmd, deadline).await?;
        stream::probe_answer(&out, &url, deadline, started.elapsed().as_millis() as u64)
    }

    async fn http_stream(&self, t: &Target, req: &HttpStreamRequest) -> Result<Vec<HttpSample>> {
        let probe = probe_container(t);
        let deadline = stream::deadline(req);
        let out = self
            .run_exec(&probe, &stream::command(req, None), deadline)
            .await?;
        let (samples, complete) = stream::parse(&out.output);
        if out.exit_code.is_none() || !complete {
            return Err(BackendError::Timeout {
                op: "stream requests from",
                object: probe,
                after: deadline,
            });
        }
        Ok(samples)
    }

    async fn tampered_tools(&self, t: &Target, service: &str) -> Result<Option<Vec<String>>> {
        let name = self.container_name(t, service);
        let changes = self
            .docker
            .container_changes(&name)
            .await
            .map_err(self.err("list changes of container", &name))?
            .unwrap_or_default();
        let changes: Vec<(String, &str)> = changes
            .into_iter()
            .map(|c| {
                let what = match c.kind {
                    ChangeType::_0 => "changed",
                    ChangeType::_1 => "added",
                    ChangeType::_2 => "deleted",
                };
                (c.path, what)
            })
            .collect();
        Ok(Some(tool_changes(&changes)))
    }

    async fn logs(&self, t: &Target, service: &str, tail: usize) -> Result<String> {
        let name = self.container_name(t, service);
        let opts = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .tail(&tail.to_string())
            .build();
        let mut s = self.docker.logs(&name, Some(opts));
        let mut out = String::new();
        let read = async {
            while let Some(chunk) = s.next().await {
                match chunk {
                    Ok(c) => out.push_str(&String::from_utf8_lossy(&c.into_bytes())),
                    Err(e) => {
                        return Err(classify(&self.endpoint, "read logs of", name.clone(), e));
                    }
                }
                if out.len() > OUTPUT_CAP {
                    break;
                }
            }
            Ok(())
        };
        within_log_deadline(&name, read).await?;
        Ok(out)
    }

    async fn log_lines_with(
        &self,
        t: &Target,
        service: &str,
        since: SystemTime,
        needle: &str,
    ) -> Result<Vec<String>> {
        let name = self.container_name(t, service);
        // The engine takes whole seconds: a second early, so no line of that second is missed.
        let since = since
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs().saturating_sub(1));
        let opts = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .since(i32::try_from(since).unwrap_or(0))
            .build();
        let mut s = self.docker.logs(&name, Some(opts));
        let mut found = Vec::new();
        // A line may reach the engine in pieces, and the other stream's lines may come
        // between them: each stream is put back together on its own.
        let (mut out, mut err) = (Lines::default(), Lines::default());
        let mut keep = |line: String| {
            if line.contains(needle) && found.len() < 100 {
                found.push(line);
            }
        };
        let read = async {
            while let Some(chunk) = s.next().await {
                let chunk =
                    chunk.map_err(|e| classify(&self.endpoint, "read logs of", name.clone(), e))?;
                let lines = match chunk {
                    LogOutput::StdErr { message } => err.push(&message),
                    other => out.push(&other.into_bytes()),
                };
                lines.into_iter().for_each(&mut keep);
            }
            out.finish()
                .into_iter()
                .chain(err.finish())
                .for_each(&mut keep);
            Ok(())
        };
        within_log_deadline(&name, read).await?;
        Ok(found)
    }

    async fn exits_since(
        &self,
        t: &Target,
        service: &str,
        since: SystemTime,
    ) -> Result<Option<Vec<ExitSeen>>> {
        let name = self.container_name(t, service);
        let filters = HashMap::from([
            ("type".to_string(), vec!["container".to_string()]),
            (
                "event".to_string(),
                vec!["die".to_string(), "start".to_string()],
            ),
            ("container".to_string(), vec![name.clone()]),
        ]);
        // A bounded query (`until` now): the engine sends what it recorded and closes.
        let opts = EventsOptionsBuilder::default()
            .since(&unix_timestamp(since))
            .until(&unix_timestamp(SystemTime::now()))
            .filters(&filters)
            .build();
        let read = self.docker.events(Some(opts)).collect::<Vec<_>>();
        let events = tokio::time::timeout(EVENTS_DEADLINE, read)
            .await
            .map_err(|_| BackendError::Timeout {
                op: "read the engine's events of",
                object: name.clone(),
                after: EVENTS_DEADLINE,
            })?;
        let mut seen = vec![];
        for e in events {
            let e = e.map_err(self.err("read the engine's events of", &name))?;
            let attributes = e.actor.and_then(|a| a.attributes).unwrap_or_default();
            // The engine's filter also matches IDs and name prefixes: keep this container's.
            if attributes.get("name") != Some(&name) {
                continue;
            }
            let at = e
                .time_nano
                .and_then(|n| u64::try_from(n).ok())
                .map(|n| UNIX_EPOCH + Duration::from_nanos(n))
                .unwrap_or(since);
            let exit_code = attributes.get("exitCode").and_then(|c| c.parse().ok());
            seen.push((at, e.action.as_deref() == Some("die"), exit_code));
        }
        seen.sort_by_key(|(at, ..)| *at);
        let mut exits: Vec<ExitSeen> = vec![];
        for (at, died, exit_code) in seen {
            if died {
                exits.push(ExitSeen {
                    at,
                    exit_code,
                    started_again: false,
                });
            } else if let Some(last) = exits.last_mut() {
                last.started_again = true;
            }
        }
        Ok(Some(exits))
    }

    async fn workstation(
        &self,
        t: &Target,
        w: &WorkstationSpec,
        progress: &dyn Progress,
    ) -> Result<Option<String>> {
        self.start_workstation(t, w, progress).await.map(Some)
    }

    async fn grant(&self, _: &Target, _: &std::path::Path, _: Duration) -> Result<Grant> {
        // Candidates use docker and the workspace on the host; nothing to hand out.
        Ok(Grant::default())
    }

    async fn teardown(&self, session: &str) -> Result<Removed> {
        let mut removed = Removed::default();
        for c in self.session_containers(session).await? {
            if self.remove_container(&c.name).await? {
                removed.containers += 1;
            }
        }
        let filters = session_filter(session);
        let imgs = self
            .docker
            .list_images(Some(
                ListImagesOptionsBuilder::default()
                    .all(true)
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(self.err("list images of session", session))?;
        // The builder turns each build label into a step, so the last steps of a session's
        // build are intermediate images carrying its labels too. Remove children before
        // their parents, and nothing above them: the steps before are the build cache the
        // next session reuses.
        let mut left: Vec<(String, String)> =
            imgs.into_iter().map(|i| (i.id, i.parent_id)).collect();
        while !left.is_empty() {
            let parents: std::collections::HashSet<String> =
                left.iter().map(|(_, p)| p.clone()).collect();
            let (mut leaves, rest): (Vec<_>, Vec<_>) =
                left.into_iter().partition(|(id, _)| !parents.contains(id));
            left = rest;
            if leaves.is_empty() {
                // Not a tree (cannot happen with image parents); remove the rest as they come.
                leaves = std::mem::take(&mut left);
            }
            for (id, _) in leaves {
                let opts = RemoveImageOptionsBuilder::default()
                    .force(true)
                    .noprune(true)
                    .build();
                match self.docker.remove_image(&id, Some(opts), None).await {
                    Ok(_) => removed.images += 1,
                    Err(DockerError::DockerResponseServerError {
                        status_code: 404, ..
                    }) => {}
                    Err(e) => return Err(classify(&self.endpoint, "remove image", id, e)),
                }
            }
        }
        let nets = self
            .docker
            .list_networks(Some(
                ListNetworksOptionsBuilder::default()
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(self.err("list networks of session", session))?;
        for n in nets {
            let id = n.id.unwrap_or_default();
            match self.docker.remove_network(&id).await {
                Ok(()) => removed.networks += 1,
                Err(DockerError::DockerResponseServerError {
                    status_code: 404, ..
                }) => {}
                Err(e) => {
                    return Err(classify(
                        &self.endpoint,
                        "remove network",
                        n.name.unwrap_or(id),
                        e,
                    ));
                }
            }
        }
        let vols = self
            .docker
            .list_volumes(Some(
                ListVolumesOptionsBuilder::default()
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(self.err("list volumes of session", session))?;
        for v in vols.volumes.unwrap_or_default() {
            match self
                .docker
                .remove_volume(
                    &v.name,
                    None::<bollard::query_parameters::RemoveVolumeOptions>,
                )
                .await
            {
                Ok(()) => removed.volumes += 1,
                Err(DockerError::DockerResponseServerError {
                    status_code: 404, ..
                }) => {}
                Err(e) => return Err(classify(&self.endpoint, "remove volume", v.name, e)),
            }
        }
        Ok(removed)
    }

    async fn labelled(&self) -> Result<Vec<LabelledObject>> {
        let filters = HashMap::from([("label".to_string(), vec![labels::SESSION.to_string()])]);
        let mut out = Vec::new();
        for c in self
            .docker
            .list_containers(Some(
                ListContainersOptionsBuilder::default()
                    .all(true)
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(self.err("list", "labelled containers"))?
        {
            let l = c.labels.unwrap_or_default();
            let name = first_name(c.names);
            out.push(labelled("container", name, &l));
        }
        for n in self
            .docker
            .list_networks(Some(
                ListNetworksOptionsBuilder::default()
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(self.err("list", "labelled networks"))?
        {
            let l = n.labels.unwrap_or_default();
            out.push(labelled("network", n.name.unwrap_or_default(), &l));
        }
        for v in self
            .docker
            .list_volumes(Some(
                ListVolumesOptionsBuilder::default()
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(self.err("list", "labelled volumes"))?
            .volumes
            .unwrap_or_default()
        {
            out.push(labelled("volume", v.name, &v.labels));
        }
        for i in self
            .docker
            .list_images(Some(
                ListImagesOptionsBuilder::default()
                    .all(true)
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(self.err("list", "labelled images"))?
        {
            let name = i.repo_tags.first().cloned().unwrap_or(i.id);
            out.push(labelled("image", name, &i.labels));
        }
        Ok(out)
    }

    async fn services(&self, t: &Target) -> Result<Vec<String>> {
        // Exactly this session's service containers of this state directory: the probe (role
        // `probe`) is breakfix's observer and never the candidate's to touch.
        let filters = HashMap::from([(
            "label".to_string(),
            vec![
                format!("{}={}", labels::SESSION, t.session),
                format!("{}={}", labels::STORE, t.store),
                format!("{}=service", labels::ROLE),
            ],
        )]);
        let list = self
            .docker
            .list_containers(Some(
                ListContainersOptionsBuilder::default()
                    .all(true)
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(self.err("list containers of session", &t.session))?;
        let mut names: Vec<String> = list
            .into_iter()
            .filter_map(|c| c.labels.and_then(|l| l.get(labels::SERVICE).cloned()))
            .filter(|s| !s.is_empty())
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    async fn describe(&self, t: &Target, service: &str) -> Result<Option<ServiceDetail>> {
        let name = self.container_name(t, service);
        match self.docker.inspect_container(&name, None).await {
            Ok(info) => Ok(Some(detail_of(name, info))),
            Err(DockerError::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(classify(&self.endpoint, "inspect container", name, e)),
        }
    }

    async fn follow_logs(
        &self,
        t: &Target,
        service: &str,
        tail: Option<usize>,
        since: Option<i64>,
    ) -> Result<LogStream> {
        let name = self.container_name(t, service);
        // A missing container is said plainly, before any stream is opened.
        self.docker
            .inspect_container(&name, None)
            .await
            .map_err(self.err("read logs of", &name))?;
        let tail = tail.map_or_else(|| "all".to_string(), |n| n.to_string());
        let mut opts = LogsOptionsBuilder::default()
            .stdout(true)
            .stderr(true)
            .follow(true)
            .timestamps(true)
            .tail(&tail);
        if let Some(since) = since {
            opts = opts.since(i32::try_from(since).unwrap_or(i32::MAX));
        }
        let endpoint = self.endpoint.clone();
        let stream = self
            .docker
            .logs(&name, Some(opts.build()))
            .map(move |chunk| {
                chunk
                    .map(|c| c.into_bytes().to_vec())
                    .map_err(|e| classify(&endpoint, "read logs of", name.clone(), e))
            });
        Ok(Box::pin(stream))
    }
}

#[async_trait]
impl Containers for DockerBackend {
    async fn config(&self, t: &Target, service: &str) -> Result<ServiceConfig> {
        let name = self.container_name(t, service);
        let info = self
            .docker
            .inspect_container(&name, None)
            .await
            .map_err(self.err("inspect container", &name))?;
        let cfg = info.config.unwrap_or_default();
        let hc = info.host_config.unwrap_or_default();
        let sec = hc.security_opt.clone().unwrap_or_default();
        let running = info.state.as_ref().and_then(|s| s.running).unwrap_or(false);
        let process_uids = if running {
            self.process_uids(&name).await
        } else {
            vec![]
        };
        let image = info.image.clone().unwrap_or_default();
        let user = cfg.user.clone().unwrap_or_default();
        let effective = if user.is_empty() {
            self.docker
                .inspect_image(&image)
                .await
                .ok()
                .and_then(|i| i.config)
                .and_then(|c| c.user)
                .unwrap_or_default()
        } else {
            user.clone()
        };
        let uid = self.uid_of(t, &image, &effective).await.ok().flatten();
        Ok(ServiceConfig {
            process_uids,
            uid,
            image_id: info.image.unwrap_or_default(),
            entrypoint: cfg.entrypoint.clone().unwrap_or_default(),
            command: cfg.cmd.clone().unwrap_or_default(),
            mounts: info
                .mounts
                .iter()
                .flatten()
                .filter(|m| m.typ.as_deref() == Some("bind"))
                .filter_map(|m| {
                    let at = m.destination.clone()?;
                    Some(if m.rw == Some(false) {
                        format!("{at} (ro)")
                    } else {
                        at
                    })
                })
                .collect(),
            user: cfg.user.unwrap_or_default(),
            memory: hc.memory.unwrap_or(0),
            nano_cpus: hc.nano_cpus.unwrap_or(0),
            pids_limit: hc.pids_limit.unwrap_or(0),
            restart_policy: hc
                .restart_policy
                .and_then(|r| r.name)
                .map(|n| n.to_string())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "no".into()),
            healthcheck: cfg
                .healthcheck
                .and_then(|h| h.test)
                .filter(|t| !t.is_empty() && t[0] != "NONE")
                .unwrap_or_default(),
            privileged: hc.privileged.unwrap_or(false),
            cap_add: hc.cap_add.unwrap_or_default(),
            cap_drop: hc.cap_drop.unwrap_or_default(),
            read_only: hc.readonly_rootfs.unwrap_or(false),
            no_new_privileges: sec.iter().any(|s| s.starts_with("no-new-privileges")),
        })
    }
    async fn image(&self, t: &Target, service: &str) -> Result<Option<ImageInfo>> {
        let name = self.container_name(t, service);
        let container = match self.docker.inspect_container(&name, None).await {
            Ok(i) => i,
            Err(DockerError::DockerResponseServerError {
                status_code: 404, ..
            }) => return Ok(None),
            Err(e) => return Err(classify(&self.endpoint, "inspect container", name, e)),
        };
        let reference = container.config.and_then(|c| c.image).unwrap_or_default();
        // The id the container runs, not the tag: a tag may have moved since.
        let id = container.image.unwrap_or_default();
        let inspect = self
            .docker
            .inspect_image(&id)
            .await
            .map_err(self.err("inspect image", &reference))?;
        let mut info = image_info(reference, inspect);
        info.uid = self.uid_of(t, &id, &info.user).await.ok().flatten();
        Ok(Some(info))
    }
    async fn run_pipeline(&self, req: &PipelineRequest) -> Result<PipelineRun> {
        let repo = req
            .repository
            .canonicalize()
            .map_err(|e| BackendError::Pipeline {
                repository: req.repository.clone(),
                message: "find the repository".into(),
                source: Some(e),
            })?;
        let slot = self
            .pipelines
            .lock()
            .await
            .entry(repo.clone())
            .or_default()
            .clone();
        let mut last = slot.lock().await;
        if let Some((round, run)) = last.as_ref()
            && *round == req.round
        {
            return Ok(run.clone());
        }
        // The file is the candidate's: screened before the executor reads it.
        let ci_path = repo.join(".gitlab-ci.yml");
        let problems = match crate::yaml::read_file(&ci_path, "pipeline file") {
            Ok(ci) => crate::ceiling::screen_pipeline(&ci, &req.scenario),
            // Missing: the executor says so. Present but unreadable here (a link, a FIFO, too
            // large): the executor must not read it either.
            Err(e) if std::fs::symlink_metadata(&ci_path).is_ok() => {
                vec![format!(
                    ".gitlab-ci.yml cannot be read safely: {}",
                    e.message
                )]
            }
            Err(_) => vec![],
        };
        if !problems.is_empty() {
            return Err(BackendError::Refused {
                op: "run the pipeline of",
                object: repo.display().to_string(),
                message: problems.join("\n"),
            });
        }
        let run = self.execute_pipeline(&repo, req.timeout).await?;
        *last = Some((req.round, run.clone()));
        Ok(run)
    }
}

/// The curated view of an inspected container.
fn detail_of(name: String, info: bollard::models::ContainerInspectResponse) -> ServiceDetail {
    let state = state_of(&info);
    let cfg = info.config.clone().unwrap_or_default();
    let hc = info.host_config.clone().unwrap_or_default();
    let st = info.state.clone().unwrap_or_default();
    let mut mounts: Vec<MountInfo> = info
        .mounts
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|m| MountInfo {
            kind: m.typ.unwrap_or_default(),
            source: m
                .name
                .filter(|n| !n.is_empty())
                .or(m.source)
                .unwrap_or_default(),
            target: m.destination.unwrap_or_default(),
            read_only: !m.rw.unwrap_or(true),
        })
        .collect();
    let mut tmpfs: Vec<(String, String)> =
        hc.tmpfs.clone().unwrap_or_default().into_iter().collect();
    tmpfs.sort();
    mounts.extend(tmpfs.into_iter().map(|(target, opts)| MountInfo {
        kind: "tmpfs".into(),
        source: String::new(),
        read_only: opts.split(',').any(|o| o == "ro"),
        target,
    }));
    mounts.sort_by(|a, b| a.target.cmp(&b.target));
    let mut limits = std::collections::BTreeMap::new();
    if let Some(m) = hc.memory.filter(|m| *m > 0) {
        limits.insert("memory".to_string(), format!("{} MiB", m / (1024 * 1024)));
    }
    if let Some(c) = hc.nano_cpus.filter(|c| *c > 0) {
        limits.insert("cpus".to_string(), format!("{}", c as f64 / 1e9));
    }
    if let Some(p) = hc.pids_limit.filter(|p| *p > 0) {
        limits.insert("pids".to_string(), p.to_string());
    }
    let sec = hc.security_opt.clone().unwrap_or_default();
    ServiceDetail {
        place: name,
        state,
        finished_at: st
            .finished_at
            .filter(|f| !f.is_empty() && !f.starts_with("0001-")),
        image: cfg.image.clone().unwrap_or_default(),
        image_id: info.image.clone().unwrap_or_default(),
        entrypoint: cfg.entrypoint.clone().unwrap_or_default(),
        command: cfg.cmd.clone().unwrap_or_default(),
        working_dir: cfg.working_dir.clone().unwrap_or_default(),
        user: cfg.user.clone().unwrap_or_default(),
        env: cfg.env.clone().unwrap_or_default(),
        mounts,
        limits,
        restart_policy: hc
            .restart_policy
            .clone()
            .and_then(|r| r.name)
            .map(|n| n.to_string())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "no".into()),
        privileged: hc.privileged.unwrap_or(false),
        cap_add: hc.cap_add.clone().unwrap_or_default(),
        cap_drop: hc.cap_drop.clone().unwrap_or_default(),
        read_only: hc.readonly_rootfs.unwrap_or(false),
        no_new_privileges: sec.iter().any(|s| s.starts_with("no-new-privileges")),
        healthcheck: cfg
            .healthcheck
            .and_then(|h| h.test)
            .filter(|t| !t.is_empty() && t[0] != "NONE")
            .unwrap_or_default(),
        health_log: st
            .health
            .and_then(|h| h.log)
            .unwrap_or_default()
            .into_iter()
            .map(|r| HealthProbe {
                at: r.start.unwrap_or_default(),
                exit_code: r.exit_code,
                output: r.output.unwrap_or_default().trim_end().to_string(),
            })
            .collect(),
    }
}

/// The changes (path, what happened) that touch a container's tools, leaving out folders that
/// only changed because something inside them did.
fn tool_changes(changes: &[(String, &str)]) -> Vec<String> {
    let mut out: Vec<String> = changes
        .iter()
        .filter(|(path, what)| {
            crate::compose::shadows_tools(path)
                && !(*what == "changed"
                    && changes
                        .iter()
                        .any(|(other, _)| other.starts_with(&format!("{path}/"))))
        })
        .map(|(path, what)| format!("{path} {what}"))
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_that_reaches_the_engine_in_pieces_is_whole_again_whatever_the_other_stream_wrote() {
        let (mut out, mut err) = (Lines::default(), Lines::default());
        assert!(out.push(b"breakfix-proof nonce=ab token=").is_empty());
        assert!(out.push(b"cd").is_empty());
        // The other stream's line, between the pieces, is its own.
        assert_eq!(
            err.push(b"127.0.0.1 \"GET /healthz HTTP/1.1\" 200 -\n"),
            ["127.0.0.1 \"GET /healthz HTTP/1.1\" 200 -"]
        );
        assert_eq!(
            out.push(b"\nnext line\nhalf"),
            ["breakfix-proof nonce=ab token=cd", "next line"]
        );
        assert_eq!(out.finish().as_deref(), Some("half"));
        assert_eq!(err.finish(), None);
    }

    /// `docker image inspect` (Docker 20.10) of a two-stage build onto `scratch`, trimmed.
    const SCRATCH: &str = r#"[{"Id": "sha256:2cee6233f81ab6d39470c688b71bb7aab0525064da7183f4a72b05f074a79bc8", "RepoTags": ["bf-harden-test/scratch:latest"], "Created": "2026-11-22T00:51:22.313694301Z", "Config": {"User": "65534:65534", "ExposedPorts": {"8080/tcp": {}}, "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": null, "Healthcheck": {"Test": ["CMD", "/ratecalc", "--health"], "Interval": 2000000000, "Timeout": 2000000000, "Retries": 3}, "WorkingDir": "", "Entrypoint": ["/ratecalc"], "Labels": null}, "Architecture": "amd64", "Os": "linux", "Size": 894312, "RootFS": {"Type": "layers", "Layers": ["sha256:148c3081cc6c643a5c499b6aafe5167e9479246cf4bd9641bb87883ee3199ed2"]}}]"#;

    /// The same service built in one stage on Debian with gcc, make and the headers kept.
    const SINGLE_STAGE: &str = r#"[{"Id": "sha256:f48d46ece873011a61f8932a05a51dea9f084e77acc0a7b02e517fa04d53505e", "RepoTags": ["bf-harden-test/fat:latest"], "Created": "2026-11-22T00:51:13.526469548Z", "Config": {"User": "", "ExposedPorts": {"8080/tcp": {}}, "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["/src/ratecalc"], "WorkingDir": "/src", "Entrypoint": null, "Labels": null}, "Architecture": "amd64", "Os": "linux", "Size": 490774042, "RootFS": {"Type": "layers", "Layers": ["sha256:11abe9cbe82e5f0cda9b14bbbd31a25caf59b121ea306ad6557ebe6b183df017", "sha256:146c266790fa08df89be055d701786085d0560cd9cdb4b395a5cd6de859c60bf", "sha256:cd74838bf4693f2816e19790ff0724e8914c8b696ca4f07ab8121326b3e8f3d2", "sha256:eeedef9d524465efdcbdb4d87f640a29a120d4645ff2bd052fc626e97b69bba9", "sha256:8300c96f7c2dd171928d62956ee5af7f2bbc1cecc47366e05d5ed1961aae721c"]}}]"#;

    /// `docker inspect` (Docker 20.10) of crashloop-docker's `web` once it stays up but its
    /// healthcheck asks the wrong port, trimmed.
    const WEB_UNHEALTHY: &str = r#"{"Id": "a9dd128688bc", "State": {"Status": "running", "Running": true, "Paused": false, "Restarting": false, "OOMKilled": false, "Dead": false, "Pid": 4242, "ExitCode": 0, "Error": "", "StartedAt": "2026-12-03T12:32:52.014469531Z", "FinishedAt": "2026-12-03T12:32:52.161403638Z", "Health": {"Status": "unhealthy", "FailingStreak": 3, "Log": [{"Start": "2026-12-03T12:33:00.1Z", "End": "2026-12-03T12:33:00.2Z", "ExitCode": 7, "Output": "curl: (7) Failed to connect to localhost port 80 after 0 ms: Couldn't connect to server\n"}]}}, "Image": "sha256:930fcaaafbda548a16b41af3ac2cce94eb6d2efebd1537ac907c4410e5e9e009", "Name": "/bf-crashloop-docker-ya43ej-web", "RestartCount": 9, "Mounts": [{"Type": "bind", "Source": "/state/sessions/crashloop-docker-ya43ej/workspace/nginx/conf.d/shop.conf", "Destination": "/etc/nginx/conf.d/shop.conf", "Mode": "ro", "RW": false, "Propagation": "rprivate"}], "Config": {"User": "www-data", "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["nginx", "-e", "stderr", "-g", "daemon off;"], "Healthcheck": {"Test": ["CMD-SHELL", "curl -fsS http://localhost:80/healthz"], "Interval": 2000000000, "Timeout": 2000000000, "Retries": 3}, "Image": "breakfix/crashloop-docker-web", "WorkingDir": "", "Entrypoint": null}, "HostConfig": {"RestartPolicy": {"Name": "always", "MaximumRetryCount": 0}, "CapAdd": null, "CapDrop": ["ALL"], "Privileged": false, "ReadonlyRootfs": true, "SecurityOpt": ["no-new-privileges:true"], "Tmpfs": {"/tmp": "rw,nosuid,nodev,size=64m"}, "Memory": 134217728, "NanoCpus": 500000000, "PidsLimit": 256}}"#;

    #[test]
    fn a_container_inspection_becomes_the_candidates_view_of_the_service() {
        let info: bollard::models::ContainerInspectResponse =
            serde_json::from_str(WEB_UNHEALTHY).unwrap();
        let d = detail_of("bf-s1-web".into(), info);
        assert_eq!(d.place, "bf-s1-web");
        assert!(d.state.running && d.state.restart_count == 9);
        assert_eq!(d.state.health.as_deref(), Some("unhealthy"));
        assert_eq!(d.user, "www-data");
        assert_eq!(d.command, ["nginx", "-e", "stderr", "-g", "daemon off;"]);
        assert_eq!(
            d.healthcheck,
            ["CMD-SHELL", "curl -fsS http://localhost:80/healthz"]
        );
        assert_eq!(d.health_log.len(), 1);
        assert_eq!(d.health_log[0].exit_code, Some(7));
        assert!(d.health_log[0].output.starts_with("curl: (7)"));
        assert!(!d.health_log[0].output.ends_with('\n'));
        assert_eq!(
            d.mounts,
            vec![
                MountInfo {
                    kind: "bind".into(),
                    source:
                        "/state/sessions/crashloop-docker-ya43ej/workspace/nginx/conf.d/shop.conf"
                            .into(),
                    target: "/etc/nginx/conf.d/shop.conf".into(),
                    read_only: true,
                },
                MountInfo {
                    kind: "tmpfs".into(),
                    source: String::new(),
                    target: "/tmp".into(),
                    read_only: false,
                },
            ]
        );
        assert_eq!(d.limits["memory"], "128 MiB");
        assert_eq!(d.limits["cpus"], "0.5");
        assert_eq!(d.limits["pids"], "256");
        assert_eq!(d.restart_policy, "always");
        assert_eq!(d.cap_drop, ["ALL"]);
        assert!(d.cap_add.is_empty() && !d.privileged);
        assert!(d.read_only && d.no_new_privileges);
        assert_eq!(
            d.finished_at.as_deref(),
            Some("2026-12-03T12:32:52.161403638Z")
        );
    }

    fn inspect(json: &str) -> bollard::models::ImageInspect {
        serde_json::from_str::<Vec<bollard::models::ImageInspect>>(json)
            .unwrap()
            .remove(0)
    }

    #[test]
    fn tool_changes_name_replaced_programs_but_not_their_folders_or_other_files() {
        let diff = [
            ("/usr".to_string(), "changed"),
            ("/usr/bin".to_string(), "changed"),
            ("/usr/bin/curl".to_string(), "changed"),
            ("/usr/local/bin/ps".to_string(), "added"),
            (
                "/usr/lib/x86_64-linux-gnu/libssl.so.3".to_string(),
                "deleted",
            ),
            ("/tmp".to_string(), "changed"),
            ("/tmp/healthy".to_string(), "added"),
            ("/var/run/nginx.pid".to_string(), "added"),
        ];
        assert_eq!(
            tool_changes(&diff),
            [
                "/usr/bin/curl changed",
                "/usr/lib/x86_64-linux-gnu/libssl.so.3 deleted",
                "/usr/local/bin/ps added",
            ]
        );
        assert!(tool_changes(&diff[5..]).is_empty());
    }

    #[test]
    fn an_image_inspection_becomes_user_size_layers_healthcheck_and_ports() {
        let i = image_info("app:1".into(), inspect(SCRATCH));
        assert_eq!(i.reference, "app:1");
        assert_eq!(i.user, "65534:65534");
        assert_eq!(i.size, 894_312);
        assert_eq!(i.layers, 1);
        assert_eq!(i.healthcheck, ["CMD", "/ratecalc", "--health"]);
        assert_eq!(i.exposed_ports, ["8080/tcp"]);
        assert_eq!(i.tags, ["bf-harden-test/scratch:latest"]);
        assert_eq!(
            (i.entrypoint, i.command),
            (vec!["/ratecalc".to_string()], vec![])
        );
    }

    #[test]
    fn an_image_without_user_or_healthcheck_reads_as_empty() {
        let i = image_info("app:2".into(), inspect(SINGLE_STAGE));
        assert_eq!(i.user, "");
        assert!(i.healthcheck.is_empty());
        assert_eq!(i.layers, 5);
        assert_eq!(i.size, 490_774_042);
    }
}
