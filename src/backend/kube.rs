//! The Kubernetes backend: one namespace per session on whatever cluster the kubeconfig
//! points at (kind on a laptop, a shared cluster for a team). The namespace carries a quota,
//! default limits and an ingress policy that keeps other namespaces out; the candidate gets a
//! ServiceAccount bound to it alone, with a short-lived token in a kubeconfig of their own.
//! Manifests go in with server-side apply, breakfix as field manager. HTTP checks run curl in
//! a probe pod of the namespace, against the endpoints a Service selects (no cluster DNS or
//! kube-proxy is assumed). Images are built with the local Docker engine and loaded into the
//! cluster (`kind load`, or the command in `BREAKFIX_IMAGE_LOADER`).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::wait::{Poll, Wait};

use async_trait::async_trait;
use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
use k8s_openapi::api::core::v1::{Event, Namespace, Pod, ServiceAccount};
use kube::api::{
    Api, ApiResource, AttachParams, DeleteParams, DynamicObject, ListParams, LogParams, Patch,
    PatchParams, PostParams,
};
use kube::config::{Cluster, KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

use super::Cluster as _;
use super::docker::DockerBackend;
use super::{
    ApplySummary, Backend, BackendError, Containers, EventInfo, ExecOutput, Grant, Health,
    HealthItem, HealthProbe, HttpRequest, HttpResponse, HttpSample, HttpStreamRequest, ImageBuild,
    LabelledObject, LogStream, MountInfo, PodState, Progress, Removed, Result, ServiceDetail,
    ServiceState, Target, Terminal, Workload, labels, stream,
};
use crate::manifests::{self, KINDS, KindInfo, Manifest};
use crate::scenario::BackendKind;

/// breakfix's field manager for server-side apply.
pub const FIELD_MANAGER: &str = "breakfix";
/// The ServiceAccount (and Role, RoleBinding) the candidate acts as.
pub const CANDIDATE: &str = "candidate";
const PROBE_POD: &str = "breakfix-probe";
/// The cluster-wide PodSecurityPolicy every session's pods are held to, where the cluster
/// still has PodSecurityPolicy (before 1.25), and the Role that lets a namespace use it.
pub const SANDBOX_PSP: &str = "breakfix-sandbox";
const PSP_ROLE: &str = "breakfix-pod-security";
/// Pod Security admission levels of a session namespace (Kubernetes 1.23 and later):
/// `baseline` refused (host namespaces, paths and ports, privileged, added capabilities
/// beyond the runtime's defaults), `restricted` warned about and audited.
pub const POD_SECURITY_LABELS: [(&str, &str); 3] = [
    ("pod-security.kubernetes.io/enforce", "baseline"),
    ("pod-security.kubernetes.io/warn", "restricted"),
    ("pod-security.kubernetes.io/audit", "restricted"),
];
const ADVICE: &str = "is the cluster running and is this the right context? (`breakfix cluster up` starts a local one; set KUBECONFIG or pass --context)";
const OUTPUT_CAP: usize = 64 * 1024;
/// How long a namespace may take to go away.
const DELETE_WAIT: Duration = Duration::from_secs(180);

/// The session's namespace.
pub fn namespace(session: &str) -> String {
    format!("bf-{session}")
}

/// How scenario images reach the cluster's nodes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Loader {
    /// `kind load docker-image --name <cluster>`: the context is a kind cluster's.
    Kind(String),
    /// A command given in `BREAKFIX_IMAGE_LOADER`; image references are appended.
    Command(Vec<String>),
    /// Nothing loads them: the nodes must be able to pull `breakfix/...` images themselves.
    None,
}

impl Loader {
    pub fn for_context(context: &str, env: Option<String>) -> Loader {
        if let Some(cmd) = env.filter(|c| !c.trim().is_empty()) {
            return Loader::Command(shlex::split(&cmd).unwrap_or_default());
        }
        match context.strip_prefix("kind-") {
            Some(cluster) => Loader::Kind(cluster.to_string()),
            None => Loader::None,
        }
    }

    fn describe(&self) -> String {
        match self {
            Loader::Kind(c) => format!("kind load docker-image --name {c}"),
            Loader::Command(c) => c.join(" "),
            Loader::None => "none: the nodes must pull breakfix/... images themselves (kind clusters are loaded automatically; otherwise set BREAKFIX_IMAGE_LOADER)".into(),
        }
    }
}

pub struct KubeBackend {
    client: Client,
    context: String,
    /// The cluster entry of the kubeconfig (server and CA), for the candidate's kubeconfig.
    cluster: Cluster,
    assets: PathBuf,
    loader: Loader,
    /// The local Docker engine that builds scenario images, connected on first use and
    /// kept for the rest of the command.
    docker: tokio::sync::OnceCell<DockerBackend>,
}

fn unreachable(
    endpoint: &str,
    source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
) -> BackendError {
    BackendError::Unreachable {
        what: "the Kubernetes API server",
        endpoint: endpoint.to_string(),
        advice: ADVICE,
        source: source.into(),
    }
}

/// A refusal from the API (its status), or the server being out of reach.
fn classify(
    endpoint: &str,
    op: &'static str,
    object: impl Into<String>,
    e: kube::Error,
) -> BackendError {
    match e {
        kube::Error::HyperError(_) | kube::Error::Service(_) => unreachable(endpoint, e),
        e => BackendError::Engine {
            op,
            object: object.into(),
            source: Box::new(e),
        },
    }
}

fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

impl KubeBackend {
    /// Deletes the session's namespace (its pods first, at once) and waits until it is gone.
    async fn teardown_namespace(&self, session: &str) -> Result<Removed> {
        let ns = namespace(session);
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        if namespaces
            .get_opt(&ns)
            .await
            .map_err(self.err("read namespace", &ns))?
            .is_none()
        {
            return Ok(Removed::default());
        }
        // Pods go first without their grace period: nothing in a sandbox needs a clean exit.
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        let now = DeleteParams {
            grace_period_seconds: Some(0),
            ..Default::default()
        };
        pods.delete_collection(&now, &ListParams::default())
            .await
            .map_err(self.err("delete the pods of", &ns))?;
        match namespaces.delete(&ns, &DeleteParams::background()).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => return Ok(Removed::default()),
            Err(e) => return Err(self.err("delete namespace", &ns)(e)),
        }
        Wait::new(DELETE_WAIT, Duration::from_millis(500))
            .until(
                || async {
                    match namespaces.get_opt(&ns).await {
                        Ok(None) => Ok(Poll::Ready(())),
                        Ok(Some(_)) => Ok(Poll::Pending),
                        Err(e) => Err(self.err("read namespace", &ns)(e)),
                    }
                },
                |after| BackendError::Timeout {
                    op: "wait for the deletion of namespace",
                    object: ns.clone(),
                    after,
                },
            )
            .await?;
        Ok(Removed {
            namespaces: 1,
            ..Default::default()
        })
    }

    /// Reads the kubeconfig (KUBECONFIG or ~/.kube/config), picks `context` (or the current
    /// one), and checks the API server answers.
    pub async fn connect(context: Option<String>, assets: PathBuf) -> Result<Self> {
        let kc = Kubeconfig::read().map_err(|e| unreachable("(no kubeconfig)", e))?;
        let name = context
            .clone()
            .or_else(|| kc.current_context.clone())
            .unwrap_or_default();
        let named = kc.contexts.iter().find(|c| c.name == name);
        let Some(ctx) = named.and_then(|c| c.context.clone()) else {
            let known: Vec<&str> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
            return Err(unreachable(
                "(kubeconfig)",
                format!(
                    "context `{name}` is not in the kubeconfig (it has: {})",
                    known.join(", ")
                ),
            ));
        };
        let mut cluster = kc
            .clusters
            .iter()
            .find(|c| c.name == ctx.cluster)
            .and_then(|c| c.cluster.clone())
            .unwrap_or_default();
        // A CA given as a file travels into the candidate's kubeconfig as data.
        if cluster.certificate_authority_data.is_none()
            && let Some(path) = cluster.certificate_authority.take()
            && let Ok(pem) = std::fs::read(&path)
        {
            use base64::Engine as _;
            cluster.certificate_authority_data =
                Some(base64::engine::general_purpose::STANDARD.encode(pem));
        }
        let server = cluster.server.clone().unwrap_or_default();
        let options = KubeConfigOptions {
            context: Some(name.clone()),
            ..Default::default()
        };
        let mut config = Config::from_custom_kubeconfig(kc, &options)
            .await
            .map_err(|e| unreachable(&server, e))?;
        config.connect_timeout = Some(Duration::from_secs(5));
        config.read_timeout = Some(Duration::from_secs(60));
        let client = Client::try_from(config).map_err(|e| unreachable(&server, e))?;
        tokio::time::timeout(Duration::from_secs(10), client.apiserver_version())
            .await
            .map_err(|_| unreachable(&server, "no answer within 10 s"))?
            .map_err(|e| unreachable(&server, e))?;
        let loader = Loader::for_context(&name, std::env::var("BREAKFIX_IMAGE_LOADER").ok());
        Ok(KubeBackend {
            client,
            context: name,
            cluster,
            assets,
            loader,
            docker: tokio::sync::OnceCell::new(),
        })
    }

    /// A backend over any client (a mock API server in tests).
    pub fn with_client(client: Client, context: &str, cluster: Cluster, assets: PathBuf) -> Self {
        KubeBackend {
            client,
            context: context.into(),
            cluster,
            assets,
            loader: Loader::None,
            docker: tokio::sync::OnceCell::new(),
        }
    }

    async fn docker(&self) -> Result<&DockerBackend> {
        self.docker
            .get_or_try_init(|| DockerBackend::connect(self.assets.clone()))
            .await
    }

    fn server(&self) -> String {
        self.cluster.server.clone().unwrap_or_default()
    }

    fn err(
        &self,
        op: &'static str,
        object: impl Into<String>,
    ) -> impl FnOnce(kube::Error) -> BackendError {
        let server = self.server();
        let object = object.into();
        move |e| classify(&server, op, object, e)
    }

    fn dynamic(&self, ns: &str, info: &KindInfo) -> Api<DynamicObject> {
        let (group, version) = match info.api_version.split_once('/') {
            Some((g, v)) => (g.to_string(), v.to_string()),
            None => (String::new(), info.api_version.to_string()),
        };
        let ar = ApiResource {
            group,
            version,
            api_version: info.api_version.into(),
            kind: info.kind.into(),
            plural: info.plural.into(),
        };
        Api::namespaced_with(self.client.clone(), ns, &ar)
    }

    fn labels(t: &Target, role: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            (labels::MANAGED.to_string(), "true".to_string()),
            (labels::SESSION.to_string(), t.session.clone()),
            (labels::SCENARIO.to_string(), t.scenario.clone()),
            (labels::STORE.to_string(), t.store.clone()),
            (labels::ROLE.to_string(), role.to_string()),
        ])
    }

    /// Server-side apply of one object; returns whether it was created, changed or left as is.
    async fn apply_object(
        &self,
        ns: &str,
        info: &KindInfo,
        name: &str,
        object: &Value,
    ) -> Result<Applied> {
        let api = self.dynamic(ns, info);
        let key = format!("{}/{name}", info.kind);
        let before = match api.get(name).await {
            Ok(o) => o.metadata.resource_version,
            Err(e) if is_not_found(&e) => None,
            Err(e) => return Err(self.err("read", key)(e)),
        };
        let pp = PatchParams::apply(FIELD_MANAGER).force();
        let applied = api.patch(name, &pp, &Patch::Apply(object)).await;
        let after = match applied {
            Ok(o) => o,
            // Servers before 1.22 can leave a half-removed struct behind when an apply drops
            // a field whose members the server defaulted (a deleted liveness probe keeps
            // `httpGet.scheme` without its port) and then refuse the result as invalid.
            // Replacing the object says the same thing without the merge.
            Err(kube::Error::Api(s)) if s.code == 422 && before.is_some() => {
                let mut replacement: DynamicObject = serde_json::from_value(object.clone())
                    .map_err(|e| BackendError::Refused {
                        op: "apply",
                        object: key.clone(),
                        message: e.to_string(),
                    })?;
                replacement.metadata.resource_version = before.clone();
                let pp = PostParams {
                    field_manager: Some(FIELD_MANAGER.into()),
                    ..Default::default()
                };
                api.replace(name, &pp, &replacement)
                    .await
                    .map_err(|e| match e {
                        kube::Error::Api(r) => BackendError::Refused {
                            op: "apply",
                            object: key.clone(),
                            message: format!("{} (and as a replace: {})", s.message, r.message),
                        },
                        e => self.err("apply", key.clone())(e),
                    })?
            }
            // The API's refusal (a field the server does not know, an invalid value) is the
            // candidate's to read, in the server's words.
            Err(kube::Error::Api(s)) => {
                return Err(BackendError::Refused {
                    op: "apply",
                    object: key,
                    message: s.message.clone(),
                });
            }
            Err(e) => return Err(self.err("apply", key)(e)),
        };
        Ok(match before {
            None => Applied::Created,
            Some(rv) if after.metadata.resource_version.as_ref() == Some(&rv) => Applied::Unchanged,
            Some(_) => Applied::Changed,
        })
    }

    /// Whether the cluster serves `policy/v1beta1` PodSecurityPolicies (before 1.25).
    async fn serves_psp(&self) -> Result<bool> {
        match self.client.list_api_group_resources("policy/v1beta1").await {
            Ok(list) => Ok(list
                .resources
                .iter()
                .any(|r| r.name == "podsecuritypolicies")),
            Err(e) if is_not_found(&e) => Ok(false),
            Err(e) => Err(self.err("discover", "policy/v1beta1")(e)),
        }
    }

    /// The cluster-wide [`SANDBOX_PSP`]; server-side applied, so every session finds the
    /// same one however many times it is applied.
    async fn ensure_sandbox_psp(&self) -> Result<()> {
        let ar = ApiResource {
            group: "policy".into(),
            version: "v1beta1".into(),
            api_version: "policy/v1beta1".into(),
            kind: "PodSecurityPolicy".into(),
            plural: "podsecuritypolicies".into(),
        };
        let api: Api<DynamicObject> = Api::all_with(self.client.clone(), &ar);
        api.patch(
            SANDBOX_PSP,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(sandbox_psp()),
        )
        .await
        .map_err(self.err("apply", format!("podsecuritypolicy {SANDBOX_PSP}")))?;
        Ok(())
    }

    /// Whether the API server refuses what a candidate's kubeconfig may create that reaches
    /// the node, and how; found by dry runs that change nothing. Pod Security admission
    /// refuses a namespace label of an unknown level; PodSecurityPolicy admission refuses a
    /// pod mounting the node's `/`, or marks the policy that admitted it.
    async fn containment(&self, version: &str) -> (bool, String) {
        let dry = PostParams {
            dry_run: true,
            field_manager: Some(FIELD_MANAGER.into()),
        };
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let probe_ns: Namespace = serde_json::from_value(json!({
            "metadata": {"name": "breakfix-doctor-dry-run",
                         "labels": {"pod-security.kubernetes.io/enforce": "breakfix-unknown-level"}},
        }))
        .expect("a namespace");
        let mut notes = vec![];
        match namespaces.create(&dry, &probe_ns).await {
            Err(kube::Error::Api(s)) if s.message.contains("pod-security.kubernetes.io") => {
                return (
                    true,
                    format!(
                        "Pod Security admission honours the namespace labels (server {version}): baseline enforced (no node access, no added capabilities); uid 0 and privilege escalation are only warned about and audited"
                    ),
                );
            }
            Ok(_) => notes.push("Pod Security labels are ignored".to_string()),
            Err(e) => notes.push(format!("could not try the Pod Security labels ({e})")),
        }
        match self.serves_psp().await {
            Ok(true) => {}
            Ok(false) => notes.push("there is no PodSecurityPolicy".into()),
            Err(e) => notes.push(format!("could not discover PodSecurityPolicy ({e})")),
        }
        if notes
            .last()
            .is_some_and(|n| n.contains("PodSecurityPolicy"))
        {
            return (false, not_contained(&notes));
        }
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), "default");
        let probe_pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "breakfix-doctor-dry-run"},
            "spec": {"containers": [{"name": "c", "image": "breakfix.invalid/none:0",
                                     "volumeMounts": [{"name": "node", "mountPath": "/node"}]}],
                     "volumes": [{"name": "node", "hostPath": {"path": "/"}}]},
        }))
        .expect("a pod");
        match pods.create(&dry, &probe_pod).await {
            Err(kube::Error::Api(s)) if s.message.contains("PodSecurityPolicy") => (
                true,
                format!(
                    "PodSecurityPolicy admission is on: a session's pods are held to `{SANDBOX_PSP}` (no node access, no added capabilities, never uid 0)"
                ),
            ),
            Ok(p) => match p
                .metadata
                .annotations
                .and_then(|a| a.get("kubernetes.io/psp").cloned())
            {
                Some(policy) => (
                    true,
                    format!(
                        "PodSecurityPolicy admission is on: a session's pods are held to `{SANDBOX_PSP}`; this account may also use `{policy}`, which admits host paths, so make sure no ServiceAccount of a session namespace may"
                    ),
                ),
                None => {
                    notes.push("PodSecurityPolicy admission is off (a pod mounting the node's / was admitted)".into());
                    (false, not_contained(&notes))
                }
            },
            Err(e) => {
                notes.push(format!("could not try PodSecurityPolicy admission ({e})"));
                (false, not_contained(&notes))
            }
        }
    }

    /// The namespace and what makes it a sandbox: Pod Security labels, quota, default
    /// limits, isolation, the candidate's account and role, and where the cluster has
    /// PodSecurityPolicy, [`SANDBOX_PSP`] and the right of the namespace's pods to use it.
    /// Idempotent.
    async fn ensure_namespace(&self, t: &Target) -> Result<()> {
        let ns = namespace(&t.session);
        let base = Self::labels(t, "sandbox");
        let psp = self.serves_psp().await?;
        let pp = PatchParams::apply(FIELD_MANAGER).force();
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let mut ns_labels = base.clone();
        for (k, v) in POD_SECURITY_LABELS {
            ns_labels.insert(k.to_string(), v.to_string());
        }
        namespaces
            .patch(
                &ns,
                &pp,
                &Patch::Apply(json!({
                    "apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": ns, "labels": ns_labels},
                })),
            )
            .await
            .map_err(self.err("create namespace", &ns))?;
        let mut objects = sandbox_objects(&ns, &base);
        if psp {
            self.ensure_sandbox_psp().await?;
            objects.extend(psp_objects(&ns, &base));
        }
        for (info, object) in objects {
            let name = object["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            self.apply_object(&ns, info, &name, &object).await?;
        }
        // Pods are refused until the namespace's default ServiceAccount exists.
        let sas: Api<ServiceAccount> = Api::namespaced(self.client.clone(), &ns);
        const WAIT: Wait = Wait::new(Duration::from_secs(60), Duration::from_millis(250));
        WAIT.until(
            || async {
                match sas.get_opt("default").await {
                    Ok(found) => Ok(if found.is_some() {
                        Poll::Ready(())
                    } else {
                        Poll::Pending
                    }),
                    Err(e) => Err(self.err("read service account default in", &ns)(e)),
                }
            },
            |after| BackendError::Timeout {
                op: "wait for the default service account of",
                object: ns.clone(),
                after,
            },
        )
        .await
    }

    /// `breakfix/<scenario>-<name>` (untagged or `:latest`) → its content-hash tag.
    async fn pins(&self, images: &[String]) -> Result<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        if images.is_empty() {
            return Ok(out);
        }
        let docker = self.docker().await?;
        for img in images {
            let repo = img.strip_suffix(":latest").unwrap_or(img);
            if repo.contains(':') {
                continue;
            }
            if let Some(tag) = docker.content_tag(repo).await? {
                out.insert(img.clone(), tag);
            }
        }
        Ok(out)
    }

    /// Copies images into the cluster with the configured loader.
    async fn load_images(&self, refs: &[String], progress: &dyn Progress) -> Result<()> {
        let cmd: Vec<String> = match &self.loader {
            Loader::None => return Ok(()),
            Loader::Kind(cluster) => ["kind", "load", "docker-image", "--name", cluster]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            Loader::Command(c) => c.clone(),
        };
        if refs.is_empty() || cmd.is_empty() {
            return Ok(());
        }
        progress.begin(&format!("loading {} image(s) into the cluster", refs.len()));
        let out = tokio::time::timeout(
            Duration::from_secs(600),
            tokio::process::Command::new(&cmd[0])
                .args(&cmd[1..])
                .args(refs)
                .stdin(std::process::Stdio::null())
                .output(),
        )
        .await
        .map_err(|_| BackendError::Timeout {
            op: "load images with",
            object: cmd.join(" "),
            after: Duration::from_secs(600),
        })?
        .map_err(|e| BackendError::Refused {
            op: "load images with",
            object: cmd.join(" "),
            message: e.to_string(),
        })?;
        if !out.status.success() {
            return Err(BackendError::Refused {
                op: "load images with",
                object: cmd.join(" "),
                message: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        progress.finish("images loaded");
        Ok(())
    }

    async fn probe_image(&self) -> Result<String> {
        let docker = self.docker().await?;
        docker
            .content_tag(super::docker::PROBE_REPO)
            .await?
            .ok_or_else(|| BackendError::Build {
                repo: super::docker::PROBE_REPO.into(),
                message: "the probe image is not built (run `breakfix build`)".into(),
            })
    }

    /// Waits until the object's controller has observed its latest generation and the new
    /// revision has pods of its own, so a check right after an apply sees the rollout rather
    /// than the old pods. Best effort: a rollout that cannot start (a quota, a paused
    /// Deployment) is the candidate's to find, so the deadline ends the wait, not the apply.
    async fn wait_rollout_started(&self, ns: &str, info: &KindInfo, name: &str) -> Result<()> {
        const WAIT: Wait = Wait::new(Duration::from_secs(20), Duration::from_millis(100));
        let api = self.dynamic(ns, info);
        WAIT.within(|| async {
            let o = api
                .get_opt(name)
                .await
                .map_err(self.err("read", format!("{}/{name}", info.kind)))?;
            Ok(match o {
                Some(o) if !rollout_started(&o) => Poll::Pending,
                _ => Poll::Ready(()),
            })
        })
        .await?;
        Ok(())
    }

    /// The probe pod, created (again) when missing, and Running.
    async fn ensure_probe(&self, t: &Target) -> Result<String> {
        let ns = namespace(&t.session);
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        const WAIT: Wait = Wait::new(Duration::from_secs(90), Duration::from_millis(300));
        WAIT.until(
            || async {
                match pods.get_opt(PROBE_POD).await {
                    Ok(Some(p)) => match pod_phase(&p) {
                        PodPhase::Running => return Ok(Poll::Ready(PROBE_POD.to_string())),
                        // Starting, or being deleted (a candidate removed it): wait, then
                        // recreate.
                        PodPhase::Starting => {}
                        PodPhase::Failed => {
                            let _ = pods.delete(PROBE_POD, &DeleteParams::default()).await;
                        }
                    },
                    Ok(None) => {
                        let image = self.probe_image().await?;
                        let pod = probe_pod(&image, &Self::labels(t, "probe"));
                        match pods
                            .create(
                                &PostParams::default(),
                                &serde_json::from_value(pod).unwrap_or_default(),
                            )
                            .await
                        {
                            Ok(_) => {}
                            // Created meanwhile by a concurrent check.
                            Err(kube::Error::Api(s)) if s.code == 409 => {}
                            Err(e) => return Err(self.err("create the probe pod in", &ns)(e)),
                        }
                    }
                    Err(e) => return Err(self.err("read the probe pod in", &ns)(e)),
                }
                Ok(Poll::Pending)
            },
            |after| BackendError::Timeout {
                op: "wait for the probe pod in",
                object: ns.clone(),
                after,
            },
        )
        .await
    }

    /// Runs a command in a pod's container; `None` exit code when the deadline passed.
    async fn exec_pod(
        &self,
        ns: &str,
        pod: &str,
        container: Option<&str>,
        cmd: &[String],
        timeout: Duration,
    ) -> Result<ExecOutput> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let mut ap = AttachParams::default()
            .stdin(false)
            .stdout(true)
            .stderr(true);
        if let Some(c) = container {
            ap = ap.container(c);
        }
        let object = format!("pod {pod} in {ns}");
        let run = async {
            let mut p = pods
                .exec(pod, cmd.to_vec(), &ap)
                .await
                .map_err(self.err("exec in", object.clone()))?;
            let mut out = p.stdout();
            let mut err = p.stderr();
            let status = p.take_status();
            let (mut o, mut e) = (Vec::new(), Vec::new());
            let read_out = async {
                if let Some(s) = out.as_mut() {
                    let _ = s.read_to_end(&mut o).await;
                }
            };
            let read_err = async {
                if let Some(s) = err.as_mut() {
                    let _ = s.read_to_end(&mut e).await;
                }
            };
            tokio::join!(read_out, read_err);
            let status = match status {
                Some(s) => s.await,
                None => None,
            };
            let code = exit_code(status.as_ref());
            o.extend_from_slice(&e);
            let mut text = String::from_utf8_lossy(&o).into_owned();
            if text.len() > OUTPUT_CAP {
                let mut cut = OUTPUT_CAP;
                while !text.is_char_boundary(cut) {
                    cut -= 1;
                }
                text.truncate(cut);
            }
            Ok::<_, BackendError>(ExecOutput {
                exit_code: Some(code),
                output: text,
            })
        };
        match tokio::time::timeout(timeout, run).await {
            Ok(r) => r,
            Err(_) => Ok(ExecOutput {
                exit_code: None,
                output: String::new(),
            }),
        }
    }

    /// The pods a service name stands for: a Deployment's (or StatefulSet's) pods by its
    /// selector, or the Pod of that name.
    async fn service_pods(&self, t: &Target, service: &str) -> Result<Vec<Pod>> {
        let ns = namespace(&t.session);
        for kind in ["Deployment", "StatefulSet", "ReplicaSet", "Job"] {
            let Some(info) = manifests::kind_by_name(kind) else {
                continue;
            };
            match self.dynamic(&ns, info).get_opt(service).await {
                Ok(Some(o)) => {
                    let selector = o
                        .data
                        .pointer("/spec/selector/matchLabels")
                        .and_then(Value::as_object)
                        .map(|m| {
                            m.iter()
                                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                                .collect::<Vec<_>>()
                                .join(",")
                        })
                        .unwrap_or_default();
                    if selector.is_empty() {
                        return Ok(vec![]);
                    }
                    return self.list_pods(&ns, &selector).await;
                }
                Ok(None) => {}
                Err(e) => return Err(self.err("read", format!("{kind}/{service}"))(e)),
            }
        }
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        Ok(pods
            .get_opt(service)
            .await
            .map_err(self.err("read pod", service))?
            .into_iter()
            .collect())
    }

    async fn list_pods(&self, ns: &str, selector: &str) -> Result<Vec<Pod>> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let mut list = pods
            .list(&ListParams::default().labels(selector))
            .await
            .map_err(self.err("list pods in", ns))?
            .items;
        list.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
        Ok(list)
    }

    /// The pod a command or a log read goes to: a running one first, the newest otherwise.
    async fn pick_pod(&self, t: &Target, service: &str) -> Result<Pod> {
        let pods = self.service_pods(t, service).await?;
        choose_pod(pods).ok_or_else(|| BackendError::Refused {
            op: "find a pod of",
            object: format!("`{service}` in {}", namespace(&t.session)),
            message: "no pod exists (is the Deployment scaled to zero, or its selector wrong?)"
                .into(),
        })
    }

    /// Where a Service sends traffic: `ip:port` of its ready endpoints for `port`.
    async fn endpoints(
        &self,
        ns: &str,
        service: &str,
        port: u16,
    ) -> Result<std::result::Result<Vec<String>, String>> {
        let info = manifests::kind_by_name("Service").expect("Service is a known kind");
        let svc = match self.dynamic(ns, info).get_opt(service).await {
            Ok(Some(s)) => s,
            Ok(None) => return Ok(Err(format!("there is no Service `{service}`"))),
            Err(e) => return Err(self.err("read service", service)(e)),
        };
        let ports = svc
            .data
            .pointer("/spec/ports")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let Some(sp) = ports
            .iter()
            .find(|p| p["port"].as_u64() == Some(u64::from(port)))
        else {
            return Ok(Err(format!(
                "Service `{service}` does not expose port {port}"
            )));
        };
        let port_name = sp["name"].as_str().unwrap_or("");
        let eps_info = KindInfo {
            api_version: "v1",
            kind: "Endpoints",
            plural: "endpoints",
            pods: manifests::PodSpecAt::None,
        };
        let eps = self
            .dynamic(ns, &eps_info)
            .get_opt(service)
            .await
            .map_err(self.err("read endpoints of", service))?;
        let mut out = vec![];
        for subset in eps
            .as_ref()
            .and_then(|e| e.data.get("subsets"))
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let target = subset["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["name"].as_str().unwrap_or("") == port_name)
                .and_then(|p| p["port"].as_u64());
            let Some(target) = target else { continue };
            for a in subset["addresses"].as_array().into_iter().flatten() {
                if let Some(ip) = a["ip"].as_str() {
                    out.push(format!("{ip}:{target}"));
                }
            }
        }
        if out.is_empty() {
            return Ok(Err(format!(
                "Service `{service}` has no ready endpoints (no pod matches its selector, or none is ready)"
            )));
        }
        Ok(Ok(out))
    }
}

enum Applied {
    Created,
    Changed,
    Unchanged,
}

/// The exit code in an exec's final status: 0 on success, the `ExitCode` cause otherwise.
fn exit_code(status: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Status>) -> i64 {
    let Some(s) = status else { return 0 };
    if s.status.as_deref() == Some("Success") {
        return 0;
    }
    s.details
        .as_ref()
        .and_then(|d| d.causes.as_ref())
        .into_iter()
        .flatten()
        .find(|c| c.reason.as_deref() == Some("ExitCode"))
        .and_then(|c| c.message.as_deref())
        .and_then(|m| m.parse().ok())
        .unwrap_or(126)
}

/// A service's state over its pods (those being deleted left out), for the checks.
fn state_of_pods(pods: &[Pod]) -> ServiceState {
    let states: Vec<PodState> = pods
        .iter()
        .map(pod_state)
        .filter(|p| !p.terminating)
        .collect();
    if states.is_empty() {
        return ServiceState::default();
    }
    let running = states.iter().all(|p| p.phase == "Running" && p.ready);
    let waiting = states.iter().find_map(|p| p.waiting.clone());
    ServiceState {
        exists: true,
        status: waiting.clone().unwrap_or_else(|| {
            if running {
                "running".into()
            } else {
                states[0].phase.to_lowercase()
            }
        }),
        running,
        restarting: waiting.as_deref() == Some("CrashLoopBackOff"),
        health_timed_out: false,
        restart_count: states.iter().map(|p| p.restarts).sum(),
        exit_code: states
            .iter()
            .find_map(|p| p.last_terminated.as_ref().map(|l| i64::from(l.1))),
        oom_killed: states.iter().any(|p| {
            p.last_terminated
                .as_ref()
                .is_some_and(|l| l.0 == "OOMKilled")
        }),
        health: None,
        started_at: None,
    }
}

/// The pod a command or a log read goes to: a running one first, the newest otherwise.
fn choose_pod(mut pods: Vec<Pod>) -> Option<Pod> {
    pods.retain(|p| p.metadata.deletion_timestamp.is_none());
    pods.sort_by_key(|p| {
        let s = pod_state(p);
        (!(s.phase == "Running" && s.ready), s.phase != "Running")
    });
    pods.into_iter().next()
}

/// What a pod's status says, for the checks.
pub fn pod_state(p: &Pod) -> PodState {
    let status = p.status.clone().unwrap_or_default();
    let statuses = status.container_statuses.unwrap_or_default();
    let ready = status
        .conditions
        .unwrap_or_default()
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True");
    PodState {
        name: p.metadata.name.clone().unwrap_or_default(),
        phase: status.phase.unwrap_or_else(|| "Unknown".into()),
        ready,
        restarts: statuses.iter().map(|c| i64::from(c.restart_count)).sum(),
        waiting: statuses
            .iter()
            .find_map(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone()),
        last_terminated: statuses.iter().find_map(|c| {
            let t = c.last_state.as_ref()?.terminated.as_ref()?;
            Some((t.reason.clone().unwrap_or_default(), t.exit_code))
        }),
        terminating: p.metadata.deletion_timestamp.is_some(),
        revision: p.metadata.labels.as_ref().and_then(|l| {
            l.get("pod-template-hash")
                .or_else(|| l.get("controller-revision-hash"))
                .cloned()
        }),
    }
}

/// Quota, default limits, ingress isolation and the candidate's RBAC, in apply order.
fn sandbox_objects(ns: &str, labels: &BTreeMap<String, String>) -> Vec<(&'static KindInfo, Value)> {
    let kind = |k: &str| manifests::kind_by_name(k).expect("sandbox kinds are known");
    const QUOTA: KindInfo = KindInfo {
        api_version: "v1",
        kind: "ResourceQuota",
        plural: "resourcequotas",
        pods: manifests::PodSpecAt::None,
    };
    const LIMITS: KindInfo = KindInfo {
        api_version: "v1",
        kind: "LimitRange",
        plural: "limitranges",
        pods: manifests::PodSpecAt::None,
    };
    let meta = |name: &str| json!({"name": name, "namespace": ns, "labels": labels});
    vec![
        (
            &QUOTA,
            json!({
                "apiVersion": "v1", "kind": "ResourceQuota", "metadata": meta("breakfix-quota"),
                "spec": {"hard": {
                    "pods": "20", "requests.cpu": "2", "requests.memory": "2Gi",
                    "limits.cpu": "4", "limits.memory": "4Gi",
                    "persistentvolumeclaims": "4", "requests.storage": "4Gi",
                    "services.nodeports": "0", "services.loadbalancers": "0",
                }},
            }),
        ),
        // Containers that say nothing get these; the quota then always has numbers to count.
        (
            &LIMITS,
            json!({
                "apiVersion": "v1", "kind": "LimitRange", "metadata": meta("breakfix-defaults"),
                "spec": {"limits": [{
                    "type": "Container",
                    "default": {"cpu": "500m", "memory": "256Mi"},
                    "defaultRequest": {"cpu": "50m", "memory": "64Mi"},
                    "max": {"cpu": "1", "memory": "1Gi"},
                }]},
            }),
        ),
        // Only pods of this namespace may connect to its pods: other sessions stay out.
        (
            kind("NetworkPolicy"),
            json!({
                "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                "metadata": meta("breakfix-isolation"),
                "spec": {"podSelector": {}, "policyTypes": ["Ingress"],
                         "ingress": [{"from": [{"podSelector": {}}]}]},
            }),
        ),
        (
            kind("ServiceAccount"),
            json!({
                "apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta(CANDIDATE),
                "automountServiceAccountToken": false,
            }),
        ),
        (
            kind("Role"),
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta(CANDIDATE),
                "rules": [
                    {"apiGroups": [""], "resources": ["pods", "services", "endpoints", "configmaps", "secrets",
                        "serviceaccounts", "persistentvolumeclaims"],
                     "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
                    {"apiGroups": [""], "resources": ["pods/log", "pods/exec", "pods/portforward", "pods/attach"],
                     "verbs": ["get", "list", "create"]},
                    {"apiGroups": [""], "resources": ["events", "resourcequotas", "limitranges"],
                     "verbs": ["get", "list", "watch"]},
                    {"apiGroups": ["apps"], "resources": ["deployments", "statefulsets", "replicasets",
                        "deployments/scale", "statefulsets/scale"],
                     "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
                    {"apiGroups": ["batch"], "resources": ["jobs"],
                     "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
                    {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies", "ingresses"],
                     "verbs": ["get", "list", "watch"]},
                ],
            }),
        ),
        (
            kind("RoleBinding"),
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta(CANDIDATE),
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": CANDIDATE},
                "subjects": [{"kind": "ServiceAccount", "name": CANDIDATE, "namespace": ns}],
            }),
        ),
    ]
}

fn not_contained(notes: &[String]) -> String {
    format!(
        "candidates are NOT contained: {}; the candidate's kubeconfig may create pods that mount the node or run as root with added capabilities (use Kubernetes 1.23 or later, enable the PodSecurityPolicy admission plugin, or add a policy engine)",
        notes.join("; ")
    )
}

/// What no pod of a session may do, for clusters that still enforce PodSecurityPolicy:
/// nothing of the node (privileged, host namespaces, ports or paths, node volumes), no added
/// capability, no privilege escalation, never uid 0. The scenarios' pods and the probe all
/// set a numeric non-root `runAsUser`, so they run under it unchanged.
fn sandbox_psp() -> Value {
    json!({
        "apiVersion": "policy/v1beta1", "kind": "PodSecurityPolicy",
        "metadata": {"name": SANDBOX_PSP, "labels": {(labels::MANAGED): "true"}},
        "spec": {
            "privileged": false,
            "allowPrivilegeEscalation": false,
            "defaultAllowPrivilegeEscalation": false,
            "allowedCapabilities": [],
            "hostNetwork": false, "hostPID": false, "hostIPC": false, "hostPorts": [],
            "volumes": ["configMap", "secret", "emptyDir", "projected", "downwardAPI",
                        "persistentVolumeClaim"],
            "runAsUser": {"rule": "MustRunAsNonRoot"},
            // Checked when a pod sets it, never filled in: an image's own group stays.
            "runAsGroup": {"rule": "MayRunAs", "ranges": [{"min": 1, "max": 65535}]},
            "supplementalGroups": {"rule": "RunAsAny"},
            "fsGroup": {"rule": "RunAsAny"},
            "seLinux": {"rule": "RunAsAny"},
            "readOnlyRootFilesystem": false,
        },
    })
}

/// The right to use [`SANDBOX_PSP`] in one namespace: for every ServiceAccount of it (pods
/// a controller creates are admitted through their ServiceAccount) and the candidate.
fn psp_objects(ns: &str, labels: &BTreeMap<String, String>) -> Vec<(&'static KindInfo, Value)> {
    let kind = |k: &str| manifests::kind_by_name(k).expect("sandbox kinds are known");
    let meta = json!({"name": PSP_ROLE, "namespace": ns, "labels": labels});
    vec![
        (
            kind("Role"),
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": meta,
                "rules": [{"apiGroups": ["policy"], "resources": ["podsecuritypolicies"],
                           "resourceNames": [SANDBOX_PSP], "verbs": ["use"]}],
            }),
        ),
        (
            kind("RoleBinding"),
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": meta,
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": PSP_ROLE},
                "subjects": [
                    {"kind": "Group", "apiGroup": "rbac.authorization.k8s.io",
                     "name": format!("system:serviceaccounts:{ns}")},
                    {"kind": "ServiceAccount", "name": CANDIDATE, "namespace": ns},
                ],
            }),
        ),
    ]
}

/// The probe: curl on a read-only root as nobody, so what it reports cannot be rewritten
/// from another exec into it.
fn probe_pod(image: &str, labels: &BTreeMap<String, String>) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": PROBE_POD, "labels": labels},
        "spec": {
            "automountServiceAccountToken": false,
            "terminationGracePeriodSeconds": 0,
            "securityContext": {"runAsNonRoot": true, "runAsUser": 65534, "runAsGroup": 65534},
            "containers": [{
                "name": "probe", "image": image, "imagePullPolicy": "IfNotPresent",
                "command": ["sleep", "infinity"],
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"},
                              "limits": {"cpu": "200m", "memory": "64Mi"}},
                "securityContext": {"readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
                                    "capabilities": {"drop": ["ALL"]}},
            }],
        },
    })
}

/// Spells out `protocol: TCP` on ports that leave it out. It is the API's default, but
/// servers before 1.21 refuse a server-side apply of a port list without it ("associative
/// list with keys has an element that omits key field protocol").
fn default_port_protocols(m: &mut Manifest) {
    fn fill(ports: Option<&mut Value>) {
        for p in ports.and_then(Value::as_array_mut).into_iter().flatten() {
            if let Some(p) = p.as_object_mut() {
                p.entry("protocol").or_insert_with(|| json!("TCP"));
            }
        }
    }
    if m.info.kind == "Service" {
        fill(m.object.pointer_mut("/spec/ports"));
    }
    if let Some(spec) = m.pod_spec_mut() {
        for list in ["containers", "initContainers"] {
            if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
                for c in cs {
                    fill(c.get_mut("ports"));
                }
            }
        }
    }
}

/// The object as breakfix applies it: in the session's namespace, with breakfix's labels.
fn labelled_object(m: &Manifest, ns: &str, labels: &BTreeMap<String, String>) -> Value {
    let mut m = m.clone();
    default_port_protocols(&mut m);
    let mut o = m.object;
    let meta = o
        .as_object_mut()
        .map(|o| o.entry("metadata").or_insert_with(|| json!({})));
    if let Some(Value::Object(meta)) = meta {
        meta.insert("namespace".into(), json!(ns));
        let l = meta.entry("labels").or_insert_with(|| json!({}));
        if let Value::Object(l) = l {
            for (k, v) in labels {
                l.insert(k.clone(), json!(v));
            }
        }
    }
    o
}

#[async_trait]
impl Backend for KubeBackend {
    fn kind(&self) -> BackendKind {
        BackendKind::Kube
    }

    fn cluster(&self) -> Option<&dyn super::Cluster> {
        Some(self)
    }

    fn containers(&self) -> Option<&dyn Containers> {
        None
    }

    fn context(&self) -> Option<String> {
        Some(self.context.clone())
    }

    async fn health(&self, images: &[ImageBuild]) -> Health {
        let mut h = Health::default();
        match self.client.apiserver_version().await {
            Ok(v) => {
                h.reachable = true;
                h.version = v.git_version;
            }
            Err(e) => {
                h.detail
                    .push(HealthItem::new("API server", false, e.to_string()));
                return h;
            }
        }
        h.detail.push(HealthItem::new(
            "context",
            true,
            format!("{} ({})", self.context, self.server()),
        ));
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let listed = namespaces.list(&ListParams::default().limit(1)).await;
        h.detail.push(HealthItem::new(
            "may list namespaces",
            listed.is_ok(),
            listed
                .err()
                .map(|e| e.to_string())
                .unwrap_or_else(|| "yes".into()),
        ));
        let (contained, why) = self.containment(&h.version).await;
        h.detail
            .push(HealthItem::new("candidates contained", contained, why));
        let loader_ok = match &self.loader {
            Loader::Kind(_) => crate::tools::on_path("kind").is_some(),
            Loader::Command(c) => c
                .first()
                .is_some_and(|p| Path::new(p).exists() || crate::tools::on_path(p).is_some()),
            Loader::None => false,
        };
        h.detail.push(HealthItem::new(
            "image loader",
            loader_ok,
            self.loader.describe(),
        ));
        match self.docker().await {
            Ok(d) => {
                let dh = d.health(images).await;
                h.detail.push(HealthItem::new(
                    "Docker engine (builds images)",
                    dh.reachable,
                    dh.version,
                ));
            }
            Err(e) => h.detail.push(HealthItem::new(
                "Docker engine (builds images)",
                false,
                e.to_string(),
            )),
        }
        h
    }

    async fn prepare(&self, images: &[ImageBuild], progress: &dyn Progress) -> Result<()> {
        let docker = self.docker().await?;
        docker.prepare(images, progress).await?;
        // The builds of this package, by content: `:latest` may already be another
        // variant's, built by a session started since.
        let mut refs = vec![];
        for img in images {
            if let Some(tag) = docker.built_tag(img).await? {
                refs.push(tag);
            }
        }
        if let Some(tag) = docker.content_tag(super::docker::PROBE_REPO).await? {
            refs.push(tag);
        }
        self.load_images(&refs, progress).await
    }

    async fn built_tag(&self, img: &ImageBuild) -> Result<Option<String>> {
        self.docker().await?.built_tag(img).await
    }

    async fn deploy(
        &self,
        t: &Target,
        workload: &Workload,
        progress: &dyn Progress,
    ) -> Result<ApplySummary> {
        let Workload::Manifests(ms) = workload else {
            return Err(BackendError::Unsupported {
                op: "run a compose file",
                backend: BackendKind::Kube,
            });
        };
        let ns = namespace(&t.session);
        let mut ms = ms.clone();
        let pins = self.pins(&manifests::breakfix_images(&ms)).await?;
        manifests::pin_images(&mut ms, &|img| pins.get(img).cloned());
        self.ensure_namespace(t).await?;
        self.ensure_probe(t).await?;
        let labels = Self::labels(t, "workload");
        let mut summary = ApplySummary::default();
        let mut declared = HashSet::new();
        for m in &ms {
            progress.detail(&format!("applying {}", m.key()));
            let object = labelled_object(m, &ns, &labels);
            match self.apply_object(&ns, m.info, &m.name, &object).await? {
                Applied::Created => summary.created.push(m.key()),
                Applied::Changed => summary.recreated.push(m.key()),
                Applied::Unchanged => summary.unchanged.push(m.key()),
            }
            declared.insert(m.key());
        }
        // A check right after an apply must see the rollout it started, not the old pods
        // looking fine for a moment: wait until the controllers have observed each change.
        for m in ms
            .iter()
            .filter(|m| matches!(m.info.kind, "Deployment" | "StatefulSet"))
        {
            self.wait_rollout_started(&ns, m.info, &m.name).await?;
        }
        // Objects breakfix applied before that the manifests no longer declare.
        let selector = format!("{}=workload", labels::ROLE);
        for info in KINDS {
            let api = self.dynamic(&ns, info);
            let list = api
                .list(&ListParams::default().labels(&selector))
                .await
                .map_err(self.err("list", format!("{} in {ns}", info.plural)))?;
            for o in list.items {
                let name = o.metadata.name.clone().unwrap_or_default();
                let key = format!("{}/{name}", info.kind);
                if !declared.contains(&key) {
                    api.delete(&name, &DeleteParams::background())
                        .await
                        .map_err(self.err("delete", key.clone()))?;
                    summary.removed.push(key);
                }
            }
        }
        Ok(summary)
    }

    async fn grant(&self, t: &Target, dir: &Path, ttl: Duration) -> Result<Grant> {
        let ns = namespace(&t.session);
        let sas: Api<ServiceAccount> = Api::namespaced(self.client.clone(), &ns);
        let request = TokenRequest {
            spec: TokenRequestSpec {
                audiences: vec![],
                // The API's minimum is ten minutes.
                expiration_seconds: Some(ttl.as_secs().max(600) as i64),
                ..Default::default()
            },
            ..Default::default()
        };
        let token = sas
            .create_token_request(CANDIDATE, &PostParams::default(), &request)
            .await
            .map_err(self.err(
                "request a token for",
                format!("serviceaccount {CANDIDATE} in {ns}"),
            ))?
            .status
            .map(|s| s.token)
            .unwrap_or_default();
        let kubeconfig = candidate_kubeconfig(&self.cluster, &ns, &token);
        let path = dir.join("kubeconfig");
        // Written through a temporary file created 0600: the token is the candidate's alone.
        crate::tree::write_atomic(&path, kubeconfig.as_bytes()).map_err(|e| {
            BackendError::Refused {
                op: "write",
                object: path.display().to_string(),
                message: e.to_string(),
            }
        })?;
        Ok(Grant {
            kubeconfig: Some(path),
            namespace: Some(ns),
        })
    }

    async fn state(&self, t: &Target, service: &str) -> Result<ServiceState> {
        let pods = self.service_pods(t, service).await?;
        Ok(state_of_pods(&pods))
    }

    async fn exec(
        &self,
        t: &Target,
        service: &str,
        cmd: &[String],
        timeout: Duration,
    ) -> Result<ExecOutput> {
        let pod = self.pick_pod(t, service).await?;
        let name = pod.metadata.name.clone().unwrap_or_default();
        self.exec_pod(&namespace(&t.session), &name, None, cmd, timeout)
            .await
    }

    async fn terminal(
        &self,
        t: &Target,
        service: &str,
        cmd: &[String],
        size: (u16, u16),
    ) -> Result<Terminal> {
        if service == super::WORKSTATION {
            return self.docker().await?.terminal(t, service, cmd, size).await;
        }
        let ns = namespace(&t.session);
        let pod = self.pick_pod(t, service).await?;
        let name = pod.metadata.name.clone().unwrap_or_default();
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        // A TTY merges stderr into stdout.
        let ap = AttachParams::default()
            .stdin(true)
            .stdout(true)
            .stderr(false)
            .tty(true);
        let object = format!("pod {name} in {ns}");
        let mut p = pods
            .exec(&name, cmd.to_vec(), &ap)
            .await
            .map_err(self.err("open a terminal in", object.clone()))?;
        let refused = |what: &str| BackendError::Refused {
            op: "open a terminal in",
            object: object.clone(),
            message: format!("the API server gave no {what}"),
        };
        let stdout = p.stdout().ok_or_else(|| refused("output"))?;
        let stdin = p.stdin().ok_or_else(|| refused("input"))?;
        let mut sizes_tx = p.terminal_size().ok_or_else(|| refused("terminal size"))?;
        let (resize, mut sizes) = tokio::sync::mpsc::unbounded_channel::<(u16, u16)>();
        tokio::spawn(async move {
            use futures_util::SinkExt;
            while let Some((width, height)) = sizes.recv().await {
                let size = kube::api::TerminalSize { width, height };
                if sizes_tx.send(size).await.is_err() {
                    break;
                }
            }
        });
        let _ = resize.send(size);
        // The process must live as long as its streams: it goes into the output's state.
        let output = futures_util::stream::unfold((stdout, p), |(mut out, p)| async move {
            let mut buf = vec![0u8; 8192];
            match out.read(&mut buf).await {
                Ok(0) | Err(_) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((buf, (out, p)))
                }
            }
        });
        Ok(Terminal {
            place: format!("pod/{name}"),
            output: Box::pin(output),
            input: Box::pin(stdin),
            resize,
        })
    }

    async fn restart(&self, t: &Target, service: &str) -> Result<()> {
        let ns = namespace(&t.session);
        let info = manifests::kind_by_name("Deployment").expect("Deployment is a known kind");
        let stamp = time::OffsetDateTime::now_utc().unix_timestamp().to_string();
        let patch = json!({"spec": {"template": {"metadata": {"annotations": {"dev.breakfix/restarted-at": stamp}}}}});
        self.dynamic(&ns, info)
            .patch(service, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(self.err("restart deployment", service))?;
        Ok(())
    }

    async fn http_send(
        &self,
        t: &Target,
        req: &HttpRequest,
        method: &str,
        body: Option<&str>,
    ) -> Result<HttpResponse> {
        let ns = namespace(&t.session);
        let targets = match self.endpoints(&ns, &req.service, req.port).await? {
            Ok(t) => t,
            Err(why) => {
                return Ok(HttpResponse {
                    status: 0,
                    body: String::new(),
                    error: Some(why),
                    elapsed_ms: 0,
                    header: None,
                });
            }
        };
        let probe = self.ensure_probe(t).await?;
        let url = format!("http://{}{}", targets[0], req.path);
        let cmd = stream::http_command(&url, method, body, req);
        let started = Instant::now();
        let deadline = req.timeout + Duration::from_secs(5);
        let out = self.exec_pod(&ns, &probe, None, &cmd, deadline).await?;
        stream::probe_answer(&out, &url, deadline, started.elapsed().as_millis() as u64)
    }

    async fn http_stream(&self, t: &Target, req: &HttpStreamRequest) -> Result<Vec<HttpSample>> {
        let ns = namespace(&t.session);
        let targets = self
            .endpoints(&ns, &req.service, req.port)
            .await?
            .map_err(|why| BackendError::Refused {
                op: "stream requests to",
                object: req.service.clone(),
                message: why,
            })?;
        let probe = self.ensure_probe(t).await?;
        let url = format!("http://{}{}", targets[0], req.path);
        let deadline = stream::deadline(req);
        let out = self
            .exec_pod(
                &ns,
                &probe,
                None,
                &stream::command(req, Some(url)),
                deadline,
            )
            .await?;
        let (samples, complete) = stream::parse(&out.output);
        if out.exit_code.is_none() || !complete {
            return Err(BackendError::Timeout {
                op: "stream requests from",
                object: format!("{probe} in {ns}"),
                after: deadline,
            });
        }
        Ok(samples)
    }

    /// The API offers no view of a container's filesystem changes; sandboxes that need
    /// inside observations to be trusted set `readOnlyRootFilesystem`.
    async fn tampered_tools(&self, _: &Target, _: &str) -> Result<Option<Vec<String>>> {
        Ok(None)
    }

    async fn exits_since(
        &self,
        _: &Target,
        _: &str,
        _: std::time::SystemTime,
    ) -> Result<Option<Vec<super::ExitSeen>>> {
        // Pods restart under the kubelet; their restart counts are what checks read.
        Ok(None)
    }

    async fn logs(&self, t: &Target, service: &str, tail: usize) -> Result<String> {
        let pod = self.pick_pod(t, service).await?;
        let name = pod.metadata.name.clone().unwrap_or_default();
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &namespace(&t.session));
        let mut lp = LogParams {
            tail_lines: Some(tail as i64),
            ..Default::default()
        };
        let current = pods.logs(&name, &lp).await.unwrap_or_default();
        if !current.trim().is_empty() {
            return Ok(current);
        }
        // A container in a restart loop has nothing yet; its previous run says why it died.
        lp.previous = true;
        Ok(pods.logs(&name, &lp).await.unwrap_or_default())
    }

    async fn teardown(&self, session: &str) -> Result<Removed> {
        // The candidate's workstation runs on the local engine; without one there is none.
        let mut removed = match self.docker().await {
            Ok(docker) => docker.teardown(session).await?,
            Err(_) => Removed::default(),
        };
        removed.add(&self.teardown_namespace(session).await?);
        Ok(removed)
    }

    async fn workstation(
        &self,
        t: &Target,
        w: &super::WorkstationSpec,
        progress: &dyn Progress,
    ) -> Result<Option<String>> {
        let docker = self.docker().await?;
        docker.start_workstation(t, w, progress).await.map(Some)
    }

    async fn labelled(&self) -> Result<Vec<LabelledObject>> {
        let namespaces: Api<Namespace> = Api::all(self.client.clone());
        let list = namespaces
            .list(&ListParams::default().labels(&format!("{}=true", labels::MANAGED)))
            .await
            .map_err(self.err("list", "namespaces"))?;
        Ok(list
            .items
            .into_iter()
            .map(|n| {
                let l = n.metadata.labels.unwrap_or_default();
                LabelledObject {
                    kind: "namespace",
                    name: n.metadata.name.unwrap_or_default(),
                    session: l.get(labels::SESSION).cloned().unwrap_or_default(),
                    store: l.get(labels::STORE).cloned().unwrap_or_default(),
                }
            })
            .collect())
    }

    fn container_name(&self, t: &Target, service: &str) -> String {
        format!("deployment/{service} -n {}", namespace(&t.session))
    }

    async fn services(&self, t: &Target) -> Result<Vec<String>> {
        let ns = namespace(&t.session);
        // What breakfix applied from the manifests carries the `workload` role; the probe pod
        // carries `probe` and stays out. ReplicaSets are the Deployments' business.
        let selector = format!("{}=workload", labels::ROLE);
        let mut names = vec![];
        for info in KINDS
            .iter()
            .filter(|k| k.pods != manifests::PodSpecAt::None && k.kind != "ReplicaSet")
        {
            let list = self
                .dynamic(&ns, info)
                .list(&ListParams::default().labels(&selector))
                .await
                .map_err(self.err("list", format!("{} in {ns}", info.plural)))?;
            names.extend(list.items.into_iter().filter_map(|o| o.metadata.name));
        }
        names.sort();
        names.dedup();
        Ok(names)
    }

    async fn describe(&self, t: &Target, service: &str) -> Result<Option<ServiceDetail>> {
        let pods = self.service_pods(t, service).await?;
        let state = state_of_pods(&pods);
        let Some(pod) = choose_pod(pods) else {
            return Ok(None);
        };
        let name = pod.metadata.name.clone().unwrap_or_default();
        let object = format!("Pod/{name}");
        let events: Vec<EventInfo> = self
            .events(t)
            .await?
            .into_iter()
            .filter(|e| e.object == object && e.kind != "Normal")
            .collect();
        let pod = serde_json::to_value(&pod).unwrap_or_default();
        Ok(Some(pod_detail(&pod, state, &events)))
    }

    async fn follow_logs(
        &self,
        t: &Target,
        service: &str,
        tail: Option<usize>,
        since: Option<i64>,
    ) -> Result<LogStream> {
        use futures_util::{AsyncBufReadExt, StreamExt};
        let pod = self.pick_pod(t, service).await?;
        let name = pod.metadata.name.clone().unwrap_or_default();
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &namespace(&t.session));
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let lp = LogParams {
            follow: true,
            timestamps: true,
            tail_lines: tail.map(|n| n as i64),
            since_seconds: since.map(|s| (now - s).max(1)),
            ..Default::default()
        };
        let object = format!("pod {name}");
        let read = pods
            .log_stream(&name, &lp)
            .await
            .map_err(self.err("read logs of", object.clone()))?;
        let lines = read.lines().map(move |l| {
            l.map(|mut l| {
                l.push('\n');
                l.into_bytes()
            })
            .map_err(|e| BackendError::Engine {
                op: "read logs of",
                object: object.clone(),
                source: Box::new(e),
            })
        });
        Ok(Box::pin(lines))
    }
}

#[async_trait]
impl super::Cluster for KubeBackend {
    async fn pods(&self, t: &Target, selector: &str) -> Result<Vec<PodState>> {
        Ok(self
            .list_pods(&namespace(&t.session), selector)
            .await?
            .iter()
            .map(pod_state)
            .collect())
    }
    async fn object(&self, t: &Target, kind: &str, name: &str) -> Result<Option<Value>> {
        let Some(info) = manifests::kind_by_name(kind) else {
            return Err(BackendError::Refused {
                op: "read",
                object: format!("{kind}/{name}"),
                message: "not a kind breakfix knows".into(),
            });
        };
        let o = self
            .dynamic(&namespace(&t.session), info)
            .get_opt(name)
            .await
            .map_err(self.err("read", format!("{kind}/{name}")))?;
        Ok(o.and_then(|o| serde_json::to_value(o).ok()))
    }
    async fn events(&self, t: &Target) -> Result<Vec<EventInfo>> {
        let ns = namespace(&t.session);
        let api: Api<Event> = Api::namespaced(self.client.clone(), &ns);
        let list = api
            .list(&ListParams::default())
            .await
            .map_err(self.err("list events in", &ns))?;
        Ok(list
            .items
            .into_iter()
            .map(|e| EventInfo {
                object: format!(
                    "{}/{}",
                    e.involved_object.kind.unwrap_or_default(),
                    e.involved_object.name.unwrap_or_default()
                ),
                reason: e.reason.unwrap_or_default(),
                message: e.message.unwrap_or_default(),
                count: i64::from(e.count.unwrap_or(1)),
                kind: e.type_.unwrap_or_default(),
            })
            .collect())
    }
}

/// The curated view of a service's pod (its first container), with the pod's warning events
/// standing in for a health log.
fn pod_detail(pod: &Value, state: ServiceState, events: &[EventInfo]) -> ServiceDetail {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
    let words = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|w| w.as_str().map(String::from))
            .collect()
    };
    let spec = pod.get("spec").cloned().unwrap_or_default();
    let c = spec.pointer("/containers/0").cloned().unwrap_or_default();
    let csec = c.get("securityContext").cloned().unwrap_or_default();
    let psec = spec.get("securityContext").cloned().unwrap_or_default();
    let id = |key: &str| {
        csec.get(key)
            .or_else(|| psec.get(key))
            .and_then(Value::as_i64)
    };
    let user = match (id("runAsUser"), id("runAsGroup")) {
        (Some(u), Some(g)) => format!("{u}:{g}"),
        (Some(u), None) => u.to_string(),
        (None, _) => String::new(),
    };
    let env = c
        .get("env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|e| {
            let name = text(e.get("name"));
            if let Some(v) = e.get("value").and_then(Value::as_str) {
                return format!("{name}={v}");
            }
            let from = e.get("valueFrom").cloned().unwrap_or_default();
            let src = if let Some(r) = from.get("secretKeyRef") {
                format!("secret {} key {}", text(r.get("name")), text(r.get("key")))
            } else if let Some(r) = from.get("configMapKeyRef") {
                format!(
                    "configMap {} key {}",
                    text(r.get("name")),
                    text(r.get("key"))
                )
            } else if let Some(r) = from.get("fieldRef") {
                format!("field {}", text(r.get("fieldPath")))
            } else {
                "a reference".into()
            };
            format!("{name}=<from {src}>")
        })
        .collect();
    let volumes: Vec<Value> = words_of(spec.get("volumes"));
    let mounts = words_of(c.get("volumeMounts"))
        .iter()
        .map(|m| {
            let vname = text(m.get("name"));
            let v = volumes
                .iter()
                .find(|v| text(v.get("name")) == vname)
                .cloned()
                .unwrap_or_default();
            let (kind, source) = [
                ("configMap", "/configMap/name"),
                ("secret", "/secret/secretName"),
                ("persistentVolumeClaim", "/persistentVolumeClaim/claimName"),
                ("hostPath", "/hostPath/path"),
                ("emptyDir", ""),
                ("projected", ""),
            ]
            .iter()
            .find(|(k, _)| v.get(*k).is_some())
            .map(|(k, p)| (k.to_string(), text(v.pointer(p))))
            .unwrap_or_else(|| ("volume".into(), vname.clone()));
            MountInfo {
                kind,
                source,
                target: text(m.get("mountPath")),
                read_only: m.get("readOnly").and_then(Value::as_bool).unwrap_or(false),
            }
        })
        .collect();
    let mut limits = BTreeMap::new();
    for part in ["limits", "requests"] {
        if let Some(m) = c
            .pointer(&format!("/resources/{part}"))
            .and_then(Value::as_object)
        {
            for (k, v) in m {
                limits.insert(
                    format!("{part}.{k}"),
                    v.as_str().unwrap_or_default().to_string(),
                );
            }
        }
    }
    let probes = ["startupProbe", "livenessProbe", "readinessProbe"]
        .iter()
        .filter_map(|k| Some((k.trim_end_matches("Probe"), c.get(*k)?)))
        .map(|(k, p)| format!("{k}: {}", probe_text(p)))
        .collect();
    let status = pod
        .pointer("/status/containerStatuses/0")
        .cloned()
        .unwrap_or_default();
    ServiceDetail {
        place: format!("pod/{}", text(pod.pointer("/metadata/name"))),
        state,
        finished_at: status
            .pointer("/state/terminated/finishedAt")
            .or_else(|| status.pointer("/lastState/terminated/finishedAt"))
            .and_then(Value::as_str)
            .map(String::from),
        image: text(c.get("image")),
        image_id: text(status.get("imageID")),
        entrypoint: words(c.get("command")),
        command: words(c.get("args")),
        working_dir: text(c.get("workingDir")),
        user,
        env,
        mounts,
        limits,
        restart_policy: text(spec.get("restartPolicy")),
        privileged: csec
            .get("privileged")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        cap_add: words(csec.pointer("/capabilities/add")),
        cap_drop: words(csec.pointer("/capabilities/drop")),
        read_only: csec
            .get("readOnlyRootFilesystem")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        no_new_privileges: csec
            .get("allowPrivilegeEscalation")
            .and_then(Value::as_bool)
            == Some(false),
        healthcheck: probes,
        health_log: events
            .iter()
            .map(|e| HealthProbe {
                at: String::new(),
                exit_code: None,
                output: if e.count > 1 {
                    format!("{}: {} (x{})", e.reason, e.message, e.count)
                } else {
                    format!("{}: {}", e.reason, e.message)
                },
            })
            .collect(),
    }
}

fn words_of(v: Option<&Value>) -> Vec<Value> {
    v.and_then(Value::as_array).cloned().unwrap_or_default()
}

/// `http-get :8080/healthz`, `tcp :5432`, `exec cat /tmp/ready`, with its timing.
fn probe_text(p: &Value) -> String {
    let port = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => String::new(),
    };
    let how = if let Some(h) = p.get("httpGet") {
        format!(
            "http-get :{}{}",
            port(h.get("port")),
            h.get("path").and_then(Value::as_str).unwrap_or("/")
        )
    } else if let Some(t) = p.get("tcpSocket") {
        format!("tcp :{}", port(t.get("port")))
    } else if let Some(e) = p.get("exec") {
        let words: Vec<&str> = e
            .get("command")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        format!("exec {}", words.join(" "))
    } else {
        "(no handler)".into()
    };
    let mut timing = vec![];
    for (k, label, unit) in [
        ("initialDelaySeconds", "delay", "s"),
        ("periodSeconds", "period", "s"),
        ("timeoutSeconds", "timeout", "s"),
        ("failureThreshold", "failures", ""),
    ] {
        if let Some(n) = p.get(k).and_then(Value::as_i64) {
            timing.push(format!("{label}={n}{unit}"));
        }
    }
    if timing.is_empty() {
        how
    } else {
        format!("{how} {}", timing.join(" "))
    }
}

/// Where kubectl on a Kubernetes session's workstation finds the API server: the relay on
/// the workstation's own loopback, which the session's endpoint carries to the cluster.
pub const RELAY_SERVER: &str = "https://127.0.0.1:6443";

/// The candidate's kubeconfig (`text`, as [`candidate_kubeconfig`] wrote it) as the
/// workstation uses it: the server is [`RELAY_SERVER`], and the certificate is still checked
/// against the name the cluster's address had (unless the kubeconfig already named one).
/// Also gives the `host:port` the relay connects to. `None` when `text` is not such a
/// kubeconfig or its server is not an `https://` address.
pub fn relayed_kubeconfig(text: &str) -> Option<(String, String)> {
    let mut config: Value = serde_json::from_str(text).ok()?;
    let cluster = config.pointer_mut("/clusters/0/cluster")?.as_object_mut()?;
    let uri: hyper::Uri = cluster.get("server")?.as_str()?.parse().ok()?;
    if uri.scheme_str() != Some("https") {
        return None;
    }
    let host = uri.host()?.to_string();
    let address = format!("{host}:{}", uri.port_u16().unwrap_or(443));
    let name = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    cluster.insert("server".into(), json!(RELAY_SERVER));
    cluster.entry("tls-server-name").or_insert(json!(name));
    let mut text = serde_json::to_string_pretty(&config).ok()?;
    text.push('\n');
    Some((text, address))
}

/// A kubeconfig that holds the cluster's address and CA and the candidate's token, nothing
/// of the interviewer's credentials.
pub fn candidate_kubeconfig(cluster: &Cluster, ns: &str, token: &str) -> String {
    let name = "breakfix";
    let config = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {
            "server": cluster.server,
            "certificate-authority-data": cluster.certificate_authority_data,
            "insecure-skip-tls-verify": cluster.insecure_skip_tls_verify,
            "tls-server-name": cluster.tls_server_name,
        }}],
        "users": [{"name": CANDIDATE, "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": CANDIDATE, "namespace": ns}}],
        "current-context": name,
    });
    let mut text = serde_json::to_string_pretty(&strip_nulls(config)).unwrap_or_default();
    text.push('\n');
    text
}

fn strip_nulls(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k, strip_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(strip_nulls).collect()),
        v => v,
    }
}

/// Where a pod stands, as a wait for it sees it.
#[derive(Debug, PartialEq, Eq)]
enum PodPhase {
    /// Running and not being deleted.
    Running,
    /// Pending, or being deleted: look again.
    Starting,
    /// Failed: delete it and start another.
    Failed,
}

fn pod_phase(p: &Pod) -> PodPhase {
    match p.status.as_ref().and_then(|s| s.phase.as_deref()) {
        Some("Failed") => PodPhase::Failed,
        Some("Running") if p.metadata.deletion_timestamp.is_none() => PodPhase::Running,
        _ => PodPhase::Starting,
    }
}

/// Whether a workload's controller has observed its latest generation and the new revision
/// has a pod of its own (or wants none).
fn rollout_started(o: &DynamicObject) -> bool {
    let num = |p: &str| o.data.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    let observed = num("/status/observedGeneration") >= o.metadata.generation.unwrap_or(0);
    let wanted = o
        .data
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    observed && num("/status/updatedReplicas") >= wanted.min(1)
}

#[cfg(test)]
mod tests {
    //! Every API interaction against a `tower_test` mock API server: each request's method,
    //! path and body are asserted, and the mock answers the JSON a server would.
    use super::*;
    use http::{Request, Response};
    use kube::client::Body;
    use std::pin::pin;
    use tower_test::mock;

    #[test]
    fn a_probe_pod_is_ready_only_when_running_and_not_being_deleted() {
        let pod = |phase: &str, deleting: bool| -> Pod {
            let mut p: Pod = serde_json::from_value(json!({
                "metadata": {"name": "p"},
                "status": {"phase": phase}
            }))
            .unwrap();
            if deleting {
                p.metadata.deletion_timestamp = Some(
                    k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Default::default()),
                );
            }
            p
        };
        assert_eq!(pod_phase(&pod("Running", false)), PodPhase::Running);
        assert_eq!(pod_phase(&pod("Running", true)), PodPhase::Starting);
        assert_eq!(pod_phase(&pod("Pending", false)), PodPhase::Starting);
        assert_eq!(pod_phase(&pod("Failed", false)), PodPhase::Failed);
        assert_eq!(pod_phase(&pod("Failed", true)), PodPhase::Failed);
    }

    #[test]
    fn a_rollout_has_started_once_its_generation_is_observed_and_a_new_pod_exists() {
        let obj = |generation: i64, observed: i64, replicas: i64, updated: i64| -> DynamicObject {
            serde_json::from_value(json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "generation": generation},
                "spec": {"replicas": replicas},
                "status": {"observedGeneration": observed, "updatedReplicas": updated}
            }))
            .unwrap()
        };
        assert!(rollout_started(&obj(2, 2, 3, 1)));
        assert!(
            !rollout_started(&obj(2, 1, 3, 3)),
            "the old generation's status"
        );
        assert!(
            !rollout_started(&obj(2, 2, 3, 0)),
            "no pod of the new revision yet"
        );
        assert!(
            rollout_started(&obj(2, 2, 0, 0)),
            "scaled to zero wants no pod"
        );
    }

    /// One expected request and the answer to it.
    struct Step {
        method: &'static str,
        /// The path and query must start with this.
        path: String,
        /// Strings the request body must contain.
        body_has: Vec<&'static str>,
        status: u16,
        reply: Value,
    }

    fn step(method: &'static str, path: &str, status: u16, reply: Value) -> Step {
        Step {
            method,
            path: path.into(),
            body_has: vec![],
            status,
            reply,
        }
    }

    fn not_found() -> Value {
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "not found", "reason": "NotFound", "code": 404})
    }

    fn target() -> Target {
        Target {
            session: "s1".into(),
            scenario: "crashloop-k8s".into(),
            store: "abc".into(),
        }
    }

    fn cluster() -> Cluster {
        Cluster {
            server: Some("https://127.0.0.1:6443".into()),
            certificate_authority_data: Some("Q0EK".into()),
            ..Default::default()
        }
    }

    /// A backend over a mock server that expects `script` in order, and the server's task;
    /// the task returns the bodies it received.
    fn mocked(script: Vec<Step>) -> (KubeBackend, tokio::task::JoinHandle<Vec<String>>) {
        let (svc, handle) = mock::pair::<Request<Body>, Response<Body>>();
        let server = tokio::spawn(async move {
            let mut handle = pin!(handle);
            let mut bodies = vec![];
            for s in script {
                let (req, send) = handle
                    .next_request()
                    .await
                    .unwrap_or_else(|| panic!("expected {} {}", s.method, s.path));
                let uri = req.uri().to_string();
                assert_eq!(req.method().as_str(), s.method, "{uri}");
                assert!(
                    uri.starts_with(&s.path),
                    "expected {} {}, got {uri}",
                    s.method,
                    s.path
                );
                let body = req.into_body().collect_bytes().await.expect("request body");
                let body = String::from_utf8_lossy(&body).into_owned();
                for want in &s.body_has {
                    assert!(
                        body.contains(want),
                        "{} {uri}: body lacks {want}: {body}",
                        s.method
                    );
                }
                bodies.push(body);
                let resp = Response::builder()
                    .status(s.status)
                    .body(Body::from(serde_json::to_vec(&s.reply).expect("json")))
                    .expect("response");
                send.send_response(resp);
            }
            bodies
        });
        let client = Client::new(svc, "default");
        (
            KubeBackend::with_client(client, "test", cluster(), PathBuf::from("/nonexistent")),
            server,
        )
    }

    #[tokio::test]
    async fn a_session_namespace_gets_labels_quota_limits_isolation_and_candidate_rbac() {
        let ns = "/api/v1/namespaces/bf-s1";
        let rbac = "/apis/rbac.authorization.k8s.io/v1/namespaces/bf-s1";
        let mut script = vec![step("GET", "/apis/policy/v1beta1", 404, not_found())];
        script.push(Step {
            body_has: vec![
                "\"dev.breakfix.session\":\"s1\"",
                "\"dev.breakfix.store\":\"abc\"",
                "\"pod-security.kubernetes.io/enforce\":\"baseline\"",
                "\"pod-security.kubernetes.io/warn\":\"restricted\"",
                "\"pod-security.kubernetes.io/audit\":\"restricted\"",
            ],
            ..step(
                "PATCH",
                "/api/v1/namespaces/bf-s1?&force=true&fieldManager=breakfix",
                200,
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bf-s1"}}),
            )
        });
        for (path, has) in [
            (
                format!("{ns}/resourcequotas/breakfix-quota"),
                "\"limits.memory\":\"4Gi\"",
            ),
            (
                format!("{ns}/limitranges/breakfix-defaults"),
                "\"defaultRequest\"",
            ),
            (
                "/apis/networking.k8s.io/v1/namespaces/bf-s1/networkpolicies/breakfix-isolation"
                    .into(),
                "\"podSelector\":{}",
            ),
            (
                format!("{ns}/serviceaccounts/candidate"),
                "\"automountServiceAccountToken\":false",
            ),
            (format!("{rbac}/roles/candidate"), "\"pods/log\""),
            (
                format!("{rbac}/rolebindings/candidate"),
                "\"kind\":\"ServiceAccount\"",
            ),
        ] {
            script.push(step("GET", &path, 404, not_found()));
            script.push(Step {
                body_has: vec![has],
                ..step(
                    "PATCH",
                    &path,
                    200,
                    json!({"metadata": {"name": "x", "resourceVersion": "1"}}),
                )
            });
        }
        script.push(step(
            "GET",
            &format!("{ns}/serviceaccounts/default"),
            200,
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}),
        ));
        let (b, server) = mocked(script);
        b.ensure_namespace(&target())
            .await
            .expect("namespace set up");
        let bodies = server.await.expect("server");
        let role = &bodies[11];
        assert!(
            !role.contains("nodes") && !role.contains("namespaces"),
            "{role}"
        );
    }

    #[tokio::test]
    async fn where_the_cluster_has_pod_security_policy_the_namespace_may_use_only_the_sandbox_policy()
     {
        let ns = "/api/v1/namespaces/bf-s1";
        let rbac = "/apis/rbac.authorization.k8s.io/v1/namespaces/bf-s1";
        let mut script = vec![
            step(
                "GET",
                "/apis/policy/v1beta1",
                200,
                json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "policy/v1beta1",
                       "resources": [
                           {"name": "poddisruptionbudgets", "namespaced": true, "kind": "PodDisruptionBudget", "verbs": ["get"]},
                           {"name": "podsecuritypolicies", "singularName": "", "namespaced": false, "kind": "PodSecurityPolicy", "verbs": ["get", "patch"]}]}),
            ),
            step(
                "PATCH",
                "/api/v1/namespaces/bf-s1?",
                200,
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bf-s1"}}),
            ),
            Step {
                body_has: vec![
                    "\"privileged\":false",
                    "\"allowPrivilegeEscalation\":false",
                    "\"allowedCapabilities\":[]",
                    "\"hostNetwork\":false",
                    "\"hostPID\":false",
                    "\"hostIPC\":false",
                    "\"hostPorts\":[]",
                    "\"volumes\":[\"configMap\",\"secret\",\"emptyDir\",\"projected\",\"downwardAPI\",\"persistentVolumeClaim\"]",
                    "\"runAsUser\":{\"rule\":\"MustRunAsNonRoot\"}",
                    "\"dev.breakfix.managed\":\"true\"",
                ],
                ..step(
                    "PATCH",
                    "/apis/policy/v1beta1/podsecuritypolicies/breakfix-sandbox?&force=true&fieldManager=breakfix",
                    200,
                    json!({"apiVersion": "policy/v1beta1", "kind": "PodSecurityPolicy",
                           "metadata": {"name": "breakfix-sandbox"}}),
                )
            },
        ];
        let created = || json!({"metadata": {"name": "x", "resourceVersion": "1"}});
        for path in [
            format!("{ns}/resourcequotas/breakfix-quota"),
            format!("{ns}/limitranges/breakfix-defaults"),
            "/apis/networking.k8s.io/v1/namespaces/bf-s1/networkpolicies/breakfix-isolation".into(),
            format!("{ns}/serviceaccounts/candidate"),
            format!("{rbac}/roles/candidate"),
            format!("{rbac}/rolebindings/candidate"),
        ] {
            script.push(step("GET", &path, 404, not_found()));
            script.push(step("PATCH", &path, 200, created()));
        }
        script.push(step(
            "GET",
            &format!("{rbac}/roles/breakfix-pod-security"),
            404,
            not_found(),
        ));
        script.push(Step {
            body_has: vec![
                "\"resources\":[\"podsecuritypolicies\"]",
                "\"resourceNames\":[\"breakfix-sandbox\"]",
                "\"verbs\":[\"use\"]",
            ],
            ..step(
                "PATCH",
                &format!("{rbac}/roles/breakfix-pod-security"),
                200,
                created(),
            )
        });
        script.push(step(
            "GET",
            &format!("{rbac}/rolebindings/breakfix-pod-security"),
            404,
            not_found(),
        ));
        script.push(Step {
            body_has: vec![
                "\"name\":\"system:serviceaccounts:bf-s1\"",
                "{\"kind\":\"ServiceAccount\",\"name\":\"candidate\",\"namespace\":\"bf-s1\"}",
            ],
            ..step(
                "PATCH",
                &format!("{rbac}/rolebindings/breakfix-pod-security"),
                200,
                created(),
            )
        });
        script.push(step(
            "GET",
            &format!("{ns}/serviceaccounts/default"),
            200,
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default"}}),
        ));
        let (b, server) = mocked(script);
        b.ensure_namespace(&target())
            .await
            .expect("namespace set up");
        let bodies = server.await.expect("server");
        // Nothing the policy allows reaches the node.
        let psp = &bodies[2];
        assert!(!psp.contains("hostPath") && !psp.contains("\"*\""), "{psp}");
    }

    fn refused(code: u16, message: &str) -> Value {
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": message, "reason": "Forbidden", "code": code})
    }

    #[tokio::test]
    async fn doctor_finds_pod_security_admission_by_a_label_it_refuses_in_a_dry_run() {
        let (b, server) = mocked(vec![Step {
            body_has: vec!["\"pod-security.kubernetes.io/enforce\":\"breakfix-unknown-level\""],
            ..step(
                "POST",
                "/api/v1/namespaces?&dryRun=All",
                422,
                refused(
                    422,
                    "Namespace \"breakfix-doctor-dry-run\" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: \"breakfix-unknown-level\": must be one of privileged, baseline, restricted",
                ),
            )
        }]);
        let (ok, why) = b.containment("v1.30.0").await;
        server.await.expect("server");
        assert!(ok, "{why}");
        assert!(
            why.contains("Pod Security admission") && why.contains("v1.30.0"),
            "{why}"
        );
    }

    #[tokio::test]
    async fn doctor_finds_pod_security_policy_admission_by_a_host_path_pod_it_refuses_in_a_dry_run()
    {
        let (b, server) = mocked(vec![
            step(
                "POST",
                "/api/v1/namespaces?&dryRun=All",
                201,
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "breakfix-doctor-dry-run"}}),
            ),
            step(
                "GET",
                "/apis/policy/v1beta1",
                200,
                json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "policy/v1beta1",
                       "resources": [{"name": "podsecuritypolicies", "singularName": "", "namespaced": false,
                                      "kind": "PodSecurityPolicy", "verbs": ["get"]}]}),
            ),
            Step {
                body_has: vec!["\"hostPath\":{\"path\":\"/\"}"],
                ..step(
                    "POST",
                    "/api/v1/namespaces/default/pods?&dryRun=All",
                    403,
                    refused(
                        403,
                        "pods \"breakfix-doctor-dry-run\" is forbidden: PodSecurityPolicy: unable to admit pod: [spec.volumes[0]: Invalid value: \"hostPath\": hostPath volumes are not allowed to be used]",
                    ),
                )
            },
        ]);
        let (ok, why) = b.containment("v1.20.2").await;
        server.await.expect("server");
        assert!(ok, "{why}");
        assert!(why.contains("PodSecurityPolicy admission is on"), "{why}");
    }

    #[tokio::test]
    async fn doctor_says_candidates_are_not_contained_where_nothing_refuses_them() {
        let ns_ok = || {
            step(
                "POST",
                "/api/v1/namespaces?&dryRun=All",
                201,
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "breakfix-doctor-dry-run"}}),
            )
        };
        let psp = json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "policy/v1beta1",
                         "resources": [{"name": "podsecuritypolicies", "singularName": "", "namespaced": false,
                                        "kind": "PodSecurityPolicy", "verbs": ["get"]}]});
        // A 1.20 cluster without the admission plugin: the dry-run pod is admitted unmarked.
        let (b, server) = mocked(vec![
            ns_ok(),
            step("GET", "/apis/policy/v1beta1", 200, psp),
            step(
                "POST",
                "/api/v1/namespaces/default/pods?&dryRun=All",
                201,
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "breakfix-doctor-dry-run"}}),
            ),
        ]);
        let (ok, why) = b.containment("v1.20.2").await;
        server.await.expect("server");
        assert!(!ok);
        assert!(
            why.starts_with("candidates are NOT contained: Pod Security labels are ignored; PodSecurityPolicy admission is off"),
            "{why}"
        );
        // A 1.22 cluster without PodSecurityPolicy served at all.
        let (b, server) = mocked(vec![
            ns_ok(),
            step("GET", "/apis/policy/v1beta1", 404, not_found()),
        ]);
        let (ok, why) = b.containment("v1.22.0").await;
        server.await.expect("server");
        assert!(!ok);
        assert!(why.contains("there is no PodSecurityPolicy"), "{why}");
    }

    #[tokio::test]
    async fn the_candidate_kubeconfig_holds_a_requested_token_and_no_admin_credentials() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (b, server) = mocked(vec![Step {
            body_has: vec!["\"expirationSeconds\":3600"],
            ..step(
                "POST",
                "/api/v1/namespaces/bf-s1/serviceaccounts/candidate/token",
                201,
                json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                          "spec": {"audiences": []},
                          "status": {"token": "tok-123", "expirationTimestamp": "2026-11-22T10:00:00Z"}}),
            )
        }]);
        let g = b
            .grant(&target(), dir.path(), Duration::from_secs(3600))
            .await
            .expect("grant");
        server.await.expect("server");
        assert_eq!(g.namespace.as_deref(), Some("bf-s1"));
        let path = g.kubeconfig.expect("a kubeconfig");
        let text = std::fs::read_to_string(&path).expect("written");
        let kc: Value = serde_json::from_str(&text).expect("json kubeconfig");
        assert_eq!(kc["users"][0]["user"]["token"], "tok-123");
        assert_eq!(kc["contexts"][0]["context"]["namespace"], "bf-s1");
        assert_eq!(
            kc["clusters"][0]["cluster"]["server"],
            "https://127.0.0.1:6443"
        );
        assert!(
            !text.contains("client-key") && !text.contains("client-certificate"),
            "{text}"
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn the_workstations_kubeconfig_goes_through_the_relay_and_still_checks_the_servers_name() {
        let cluster = |server: &str| Cluster {
            server: Some(server.into()),
            certificate_authority_data: Some("Q0E=".into()),
            ..Default::default()
        };
        let kc = candidate_kubeconfig(&cluster("https://kind-control-plane:6443"), "bf-s1", "tok");
        let (text, address) = relayed_kubeconfig(&kc).expect("relayed");
        assert_eq!(address, "kind-control-plane:6443");
        let v: Value = serde_json::from_str(&text).unwrap();
        let c = &v["clusters"][0]["cluster"];
        assert_eq!(c["server"], RELAY_SERVER);
        assert_eq!(c["tls-server-name"], "kind-control-plane");
        assert_eq!(c["certificate-authority-data"], "Q0E=");
        assert_eq!(v["users"][0]["user"]["token"], "tok");
        assert_eq!(v["contexts"][0]["context"]["namespace"], "bf-s1");

        let (_, address) =
            relayed_kubeconfig(&candidate_kubeconfig(&cluster("https://[::1]"), "n", "t")).unwrap();
        assert_eq!(address, "[::1]:443");
        // A name the kubeconfig already gives is kept.
        let mut named = cluster("https://10.0.0.5:6443");
        named.tls_server_name = Some("api.internal".into());
        let (text, _) = relayed_kubeconfig(&candidate_kubeconfig(&named, "n", "t")).unwrap();
        assert!(
            text.contains("\"tls-server-name\": \"api.internal\""),
            "{text}"
        );
        // Nothing to relay to without TLS, or without a kubeconfig.
        assert!(
            relayed_kubeconfig(&candidate_kubeconfig(&cluster("http://x:8080"), "n", "t"))
                .is_none()
        );
        assert!(relayed_kubeconfig("not json").is_none());
    }

    fn manifest(yaml: &str) -> Manifest {
        let dir = tempfile::tempdir().expect("tempdir");
        let m = dir.path().join("manifests");
        std::fs::create_dir(&m).expect("mkdir");
        std::fs::write(m.join("a.yaml"), yaml).expect("write");
        manifests::load(dir.path(), &m, &manifests::KubeCeiling::unlimited())
            .expect("valid")
            .remove(0)
    }

    #[tokio::test]
    async fn manifests_are_server_side_applied_with_labels_namespace_and_port_protocols() {
        let m = manifest(
            "apiVersion: v1\nkind: Service\nmetadata: {name: api}\nspec:\n  selector: {app: api}\n  ports: [{port: 80, targetPort: 8080}]\n",
        );
        let path = "/api/v1/namespaces/bf-s1/services/api";
        let (b, server) = mocked(vec![
            step(
                "GET",
                path,
                200,
                json!({"metadata": {"name": "api", "resourceVersion": "7"}}),
            ),
            Step {
                body_has: vec![
                    "\"protocol\":\"TCP\"",
                    "\"namespace\":\"bf-s1\"",
                    "\"dev.breakfix.role\":\"workload\"",
                ],
                ..step(
                    "PATCH",
                    &format!("{path}?&force=true&fieldManager=breakfix"),
                    200,
                    json!({"metadata": {"name": "api", "resourceVersion": "8"}}),
                )
            },
        ]);
        let object = labelled_object(&m, "bf-s1", &KubeBackend::labels(&target(), "workload"));
        let applied = b
            .apply_object("bf-s1", m.info, &m.name, &object)
            .await
            .expect("applied");
        assert!(matches!(applied, Applied::Changed));
        server.await.expect("server");
    }

    #[tokio::test]
    async fn an_apply_the_old_server_refuses_as_invalid_is_retried_as_a_replace() {
        let m = manifest(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  selector: {matchLabels: {app: api}}\n  template:\n    metadata: {labels: {app: api}}\n    spec: {containers: [{name: api, image: x}]}\n",
        );
        let path = "/apis/apps/v1/namespaces/bf-s1/deployments/api";
        let invalid = json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": "livenessProbe.httpGet.port: Invalid value: 0", "reason": "Invalid", "code": 422});
        let (b, server) = mocked(vec![
            step(
                "GET",
                path,
                200,
                json!({"metadata": {"name": "api", "resourceVersion": "3"}}),
            ),
            step("PATCH", path, 422, invalid),
            Step {
                body_has: vec!["\"resourceVersion\":\"3\""],
                ..step(
                    "PUT",
                    &format!("{path}?&fieldManager=breakfix"),
                    200,
                    json!({"metadata": {"name": "api", "resourceVersion": "4"}}),
                )
            },
        ]);
        let applied = b
            .apply_object("bf-s1", m.info, &m.name, &m.object)
            .await
            .expect("replaced");
        assert!(matches!(applied, Applied::Changed));
        server.await.expect("server");
    }

    #[tokio::test]
    async fn pod_status_is_read_into_readiness_restarts_and_the_last_termination() {
        let (b, server) = mocked(vec![step(
            "GET",
            "/api/v1/namespaces/bf-s1/pods?&labelSelector=app%3Dapi",
            200,
            json!({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": [{
                "metadata": {"name": "api-1", "labels": {"app": "api", "pod-template-hash": "5d9c"}},
                "status": {"phase": "Running",
                    "conditions": [{"type": "Ready", "status": "False"}],
                    "containerStatuses": [{"name": "api", "image": "x", "imageID": "", "ready": false,
                        "restartCount": 4,
                        "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                        "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}
            }]}),
        )]);
        let pods = b.pods(&target(), "app=api").await.expect("pods");
        server.await.expect("server");
        assert_eq!(
            pods,
            vec![PodState {
                name: "api-1".into(),
                phase: "Running".into(),
                ready: false,
                restarts: 4,
                waiting: Some("CrashLoopBackOff".into()),
                last_terminated: Some(("OOMKilled".into(), 137)),
                terminating: false,
                revision: Some("5d9c".into()),
            }]
        );
    }

    #[tokio::test]
    async fn events_are_read_with_their_object_reason_and_count() {
        let (b, server) = mocked(vec![step(
            "GET",
            "/api/v1/namespaces/bf-s1/events",
            200,
            json!({"apiVersion": "v1", "kind": "EventList", "metadata": {}, "items": [{
                "metadata": {"name": "e1"}, "involvedObject": {"kind": "Pod", "name": "api-1"},
                "reason": "BackOff", "message": "Back-off restarting failed container",
                "count": 5, "type": "Warning"}]}),
        )]);
        let events = b.events(&target()).await.expect("events");
        server.await.expect("server");
        assert_eq!(events[0].object, "Pod/api-1");
        assert_eq!(events[0].reason, "BackOff");
        assert_eq!(events[0].count, 5);
    }

    #[tokio::test]
    async fn teardown_deletes_pods_at_once_then_the_namespace_and_waits_until_it_is_gone() {
        let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bf-s1"}});
        let (b, server) = mocked(vec![
            step("GET", "/api/v1/namespaces/bf-s1", 200, ns.clone()),
            Step {
                body_has: vec!["\"gracePeriodSeconds\":0"],
                ..step(
                    "DELETE",
                    "/api/v1/namespaces/bf-s1/pods",
                    200,
                    json!({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": []}),
                )
            },
            Step {
                body_has: vec!["\"propagationPolicy\":\"Background\""],
                ..step("DELETE", "/api/v1/namespaces/bf-s1", 200, ns.clone())
            },
            step("GET", "/api/v1/namespaces/bf-s1", 200, ns),
            step("GET", "/api/v1/namespaces/bf-s1", 404, not_found()),
        ]);
        let removed = b.teardown("s1").await.expect("teardown");
        server.await.expect("server");
        assert_eq!(removed.namespaces, 1);
    }

    #[tokio::test]
    async fn orphans_are_found_by_the_namespace_label() {
        let (b, server) = mocked(vec![step(
            "GET",
            "/api/v1/namespaces?&labelSelector=dev.breakfix.managed%3Dtrue",
            200,
            json!({"apiVersion": "v1", "kind": "NamespaceList", "metadata": {}, "items": [{
                "metadata": {"name": "bf-s9", "labels": {"dev.breakfix.session": "s9", "dev.breakfix.store": "abc"}}}]}),
        )]);
        let found = b.labelled().await.expect("labelled");
        server.await.expect("server");
        assert_eq!(found[0].session, "s9");
        assert_eq!(found[0].kind, "namespace");
    }

    #[tokio::test]
    async fn the_candidates_services_are_the_workloads_breakfix_applied_never_the_probe() {
        let sel = "?&labelSelector=dev.breakfix.role%3Dworkload";
        let list = |kind: &str, names: &[&str]| {
            json!({"apiVersion": "v1", "kind": format!("{kind}List"), "metadata": {},
                   "items": names.iter().map(|n| json!({"metadata": {"name": n}})).collect::<Vec<_>>()})
        };
        let (b, server) = mocked(vec![
            step(
                "GET",
                &format!("/api/v1/namespaces/bf-s1/pods{sel}"),
                200,
                list("Pod", &["debug"]),
            ),
            step(
                "GET",
                &format!("/apis/apps/v1/namespaces/bf-s1/deployments{sel}"),
                200,
                list("Deployment", &["api", "web"]),
            ),
            step(
                "GET",
                &format!("/apis/apps/v1/namespaces/bf-s1/statefulsets{sel}"),
                200,
                list("StatefulSet", &[]),
            ),
            step(
                "GET",
                &format!("/apis/batch/v1/namespaces/bf-s1/jobs{sel}"),
                200,
                list("Job", &["migrate"]),
            ),
        ]);
        let services = b.services(&target()).await.expect("services");
        server.await.expect("server");
        assert_eq!(services, ["api", "debug", "migrate", "web"]);
    }

    #[tokio::test]
    async fn describing_a_deployment_reads_its_running_pod_and_that_pods_warnings_only() {
        let pod = |name: &str, phase: &str, ready: &str| {
            json!({"metadata": {"name": name, "labels": {"app": "api"}},
                   "spec": {"containers": [{"name": "api", "image": "breakfix/api:1"}]},
                   "status": {"phase": phase,
                       "conditions": [{"type": "Ready", "status": ready}],
                       "containerStatuses": [{"name": "api", "image": "x", "imageID": "", "ready": ready == "True",
                           "restartCount": 2}]}})
        };
        let (b, server) = mocked(vec![
            step(
                "GET",
                "/apis/apps/v1/namespaces/bf-s1/deployments/api",
                200,
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "api"},
                       "spec": {"selector": {"matchLabels": {"app": "api"}}}}),
            ),
            step(
                "GET",
                "/api/v1/namespaces/bf-s1/pods?&labelSelector=app%3Dapi",
                200,
                json!({"apiVersion": "v1", "kind": "PodList", "metadata": {}, "items": [
                    pod("api-a", "Pending", "False"), pod("api-b", "Running", "True")]}),
            ),
            step(
                "GET",
                "/api/v1/namespaces/bf-s1/events",
                200,
                json!({"apiVersion": "v1", "kind": "EventList", "metadata": {}, "items": [
                    {"metadata": {"name": "e1"}, "involvedObject": {"kind": "Pod", "name": "api-b"},
                     "reason": "BackOff", "message": "Back-off restarting failed container",
                     "count": 2, "type": "Warning"},
                    {"metadata": {"name": "e2"}, "involvedObject": {"kind": "Pod", "name": "api-b"},
                     "reason": "Pulled", "message": "image present", "type": "Normal"},
                    {"metadata": {"name": "e3"}, "involvedObject": {"kind": "Pod", "name": "api-a"},
                     "reason": "FailedScheduling", "message": "quota", "type": "Warning"}]}),
            ),
        ]);
        let d = b
            .describe(&target(), "api")
            .await
            .expect("describe")
            .expect("a pod");
        server.await.expect("server");
        assert_eq!(d.place, "pod/api-b");
        assert_eq!(d.image, "breakfix/api:1");
        assert_eq!(d.state.restart_count, 4);
        assert_eq!(
            d.health_log
                .iter()
                .map(|h| h.output.as_str())
                .collect::<Vec<_>>(),
            ["BackOff: Back-off restarting failed container (x2)"]
        );
    }

    #[test]
    fn a_pod_becomes_the_candidates_view_with_probes_references_and_warning_events() {
        let pod = json!({
            "metadata": {"name": "api-5d9c-x2"},
            "spec": {
                "restartPolicy": "Always",
                "securityContext": {"runAsUser": 10001},
                "volumes": [{"name": "config", "configMap": {"name": "api-config"}},
                            {"name": "scratch", "emptyDir": {}}],
                "containers": [{
                    "name": "api", "image": "breakfix/crashloop-k8s-api:4f1c",
                    "command": ["python3"], "args": ["-u", "/app/api.py"],
                    "env": [{"name": "PORT", "value": "8080"},
                            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}}],
                    "volumeMounts": [{"name": "config", "mountPath": "/etc/api", "readOnly": true},
                                     {"name": "scratch", "mountPath": "/tmp"}],
                    "resources": {"limits": {"memory": "64Mi"}, "requests": {"cpu": "50m"}},
                    "livenessProbe": {"httpGet": {"path": "/healthz", "port": 9090}, "periodSeconds": 5,
                                      "failureThreshold": 3},
                    "securityContext": {"readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false,
                                        "capabilities": {"drop": ["ALL"]}}
                }]
            },
            "status": {"containerStatuses": [{"name": "api", "imageID": "docker://sha256:abc",
                "lastState": {"terminated": {"exitCode": 1, "finishedAt": "2026-12-03T12:00:00Z"}}}]}
        });
        let events = vec![EventInfo {
            object: "Pod/api-5d9c-x2".into(),
            reason: "Unhealthy".into(),
            message: "Liveness probe failed: connection refused".into(),
            count: 4,
            kind: "Warning".into(),
        }];
        let d = pod_detail(&pod, ServiceState::default(), &events);
        assert_eq!(d.place, "pod/api-5d9c-x2");
        assert_eq!(d.user, "10001");
        assert_eq!(d.entrypoint, ["python3"]);
        assert_eq!(d.command, ["-u", "/app/api.py"]);
        assert_eq!(d.env, ["PORT=8080", "TOKEN=<from secret api key token>"]);
        assert_eq!(d.mounts[0].kind, "configMap");
        assert_eq!(d.mounts[0].source, "api-config");
        assert!(d.mounts[0].read_only);
        assert_eq!(d.mounts[1].kind, "emptyDir");
        assert_eq!(d.limits["limits.memory"], "64Mi");
        assert_eq!(d.limits["requests.cpu"], "50m");
        assert_eq!(
            d.healthcheck,
            ["liveness: http-get :9090/healthz period=5s failures=3"]
        );
        assert_eq!(
            d.health_log[0].output,
            "Unhealthy: Liveness probe failed: connection refused (x4)"
        );
        assert_eq!(d.cap_drop, ["ALL"]);
        assert!(d.read_only && d.no_new_privileges && !d.privileged);
        assert_eq!(d.finished_at.as_deref(), Some("2026-12-03T12:00:00Z"));
        assert_eq!(d.image_id, "docker://sha256:abc");
        assert_eq!(d.restart_policy, "Always");
    }

    #[test]
    fn kind_contexts_load_with_kind_and_a_configured_command_wins() {
        assert_eq!(
            Loader::for_context("kind-breakfix", None),
            Loader::Kind("breakfix".into())
        );
        assert_eq!(Loader::for_context("prod", None), Loader::None);
        assert_eq!(
            Loader::for_context("kind-x", Some("tests/k8s/cluster.sh load".into())),
            Loader::Command(vec!["tests/k8s/cluster.sh".into(), "load".into()])
        );
    }
}
