//! The workspace's Kubernetes manifests (the `kube` backend's counterpart of the compose
//! file): every `*.yaml`/`*.yml` file of one folder, each possibly holding several documents,
//! read as plain JSON values. Only namespaced kinds of the stable APIs every current cluster
//! serves are accepted, and nothing that reaches the node (host namespaces, host paths,
//! privileged containers): the session's namespace is the sandbox.
//!
//! The scenario's own manifests set a [`KubeCeiling`] on what a candidate's workspace may
//! declare besides: added capabilities, uid or gid 0, images and start-up variables. What the
//! candidate creates with kubectl never passes through here; the API server's admission
//! (Pod Security labels, or the PodSecurityPolicy breakfix creates) refuses that.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::yaml::Pos;

/// A kind breakfix applies, with where the API serves it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KindInfo {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    /// Holds a pod template at `spec.template` (or is a pod).
    pub pods: PodSpecAt,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PodSpecAt {
    None,
    /// `spec` itself (a Pod).
    Spec,
    /// `spec.template.spec` (Deployment, StatefulSet, ReplicaSet, Job).
    Template,
}

const fn k(api_version: &'static str, kind: &'static str, plural: &'static str) -> KindInfo {
    KindInfo {
        api_version,
        kind,
        plural,
        pods: PodSpecAt::None,
    }
}

const fn w(api_version: &'static str, kind: &'static str, plural: &'static str) -> KindInfo {
    KindInfo {
        api_version,
        kind,
        plural,
        pods: PodSpecAt::Template,
    }
}

/// apps/v1, core/v1, batch/v1 (Job), rbac/v1 and networking/v1: served by Kubernetes 1.20 and
/// every later release.
pub const KINDS: &[KindInfo] = &[
    k("v1", "ConfigMap", "configmaps"),
    k("v1", "Secret", "secrets"),
    k("v1", "Service", "services"),
    k("v1", "ServiceAccount", "serviceaccounts"),
    k("v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
    KindInfo {
        api_version: "v1",
        kind: "Pod",
        plural: "pods",
        pods: PodSpecAt::Spec,
    },
    w("apps/v1", "Deployment", "deployments"),
    w("apps/v1", "StatefulSet", "statefulsets"),
    w("apps/v1", "ReplicaSet", "replicasets"),
    w("batch/v1", "Job", "jobs"),
    k("rbac.authorization.k8s.io/v1", "Role", "roles"),
    k(
        "rbac.authorization.k8s.io/v1",
        "RoleBinding",
        "rolebindings",
    ),
    k("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies"),
    k("networking.k8s.io/v1", "Ingress", "ingresses"),
];

pub fn kind_info(api_version: &str, kind: &str) -> Option<&'static KindInfo> {
    KINDS
        .iter()
        .find(|k| k.api_version == api_version && k.kind == kind)
}

/// The kind named by `kind` alone (checks name objects by kind and name).
pub fn kind_by_name(kind: &str) -> Option<&'static KindInfo> {
    KINDS.iter().find(|k| k.kind.eq_ignore_ascii_case(kind))
}

/// One object of the workspace.
#[derive(Clone, Debug, Serialize)]
pub struct Manifest {
    /// The file, relative to the workspace.
    pub file: PathBuf,
    /// The line its document starts on.
    pub line: usize,
    #[serde(skip)]
    pub info: &'static KindInfo,
    pub name: String,
    pub object: Value,
}

impl Manifest {
    /// `Deployment/api`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.info.kind, self.name)
    }

    /// The pod spec the object runs, if any.
    pub fn pod_spec_mut(&mut self) -> Option<&mut Value> {
        match self.info.pods {
            PodSpecAt::None => None,
            PodSpecAt::Spec => self.object.get_mut("spec"),
            PodSpecAt::Template => self
                .object
                .get_mut("spec")
                .and_then(|s| s.get_mut("template"))
                .and_then(|t| t.get_mut("spec")),
        }
    }

    pub fn pod_spec(&self) -> Option<&Value> {
        pod_spec_in(self.info, &self.object)
    }
}

/// The pod spec an object of this kind runs, if any.
fn pod_spec_in<'v>(info: &KindInfo, v: &'v Value) -> Option<&'v Value> {
    match info.pods {
        PodSpecAt::None => None,
        PodSpecAt::Spec => v.get("spec"),
        PodSpecAt::Template => v.pointer("/spec/template/spec"),
    }
}

/// Splits a YAML stream into documents, each with the (1-based) line it starts on.
fn documents(text: &str) -> Vec<(usize, String)> {
    let mut docs = vec![];
    let mut current = String::new();
    let mut start = 1;
    for (i, line) in text.lines().enumerate() {
        if line == "---" || line.starts_with("--- ") {
            if !current.trim().is_empty() {
                docs.push((start, std::mem::take(&mut current)));
            }
            current.clear();
            start = i + 2;
            continue;
        }
        if current.is_empty() && start < i + 1 && line.trim().is_empty() {
            start = i + 2;
            continue;
        }
        current.push_str(line);
        current.push('\n');
    }
    if !current.trim().is_empty() {
        docs.push((start, current));
    }
    docs
}

/// Reads every manifest of `dir` (inside `workspace`) and holds it to `ceiling`; all
/// problems are reported at once, each with its file and line.
pub fn load(
    workspace: &Path,
    dir: &Path,
    ceiling: &KubeCeiling,
) -> Result<Vec<Manifest>, Vec<Diagnostic>> {
    let mut diags = vec![];
    let mut out = vec![];
    let rel = |p: &Path| p.strip_prefix(workspace).unwrap_or(p).to_path_buf();
    let mut files: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(std::result::Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
            .collect(),
        Err(e) => {
            return Err(vec![Diagnostic::at(
                dir,
                Pos::default(),
                format!("cannot read the manifests folder: {e}"),
            )]);
        }
    };
    files.sort();
    if files.is_empty() {
        diags.push(Diagnostic::at(
            dir,
            Pos::default(),
            "the manifests folder holds no .yaml or .yml file",
        ));
    }
    let mut sources: Vec<(PathBuf, String)> = vec![];
    let kustomization = ["kustomization.yaml", "kustomization.yml", "Kustomization"]
        .iter()
        .map(|n| dir.join(n))
        .find(|p| p.is_file());
    if let Some(k) = kustomization {
        // A kustomization is rendered the way `kubectl apply -k` would; positions then refer
        // to the rendered stream, which `kubectl kustomize` shows.
        match kustomize(dir) {
            Ok(text) => sources.push((k, text)),
            Err(why) => diags.push(Diagnostic::at(&k, Pos::default(), why)),
        }
        files.clear();
    }
    for file in files {
        let meta = std::fs::symlink_metadata(&file);
        if meta.as_ref().is_ok_and(|m| m.file_type().is_symlink()) {
            diags.push(Diagnostic::at(
                &file,
                Pos::default(),
                "is a symbolic link; manifests must be regular files",
            ));
            continue;
        }
        match crate::yaml::read_file(&file, "manifest") {
            Ok(t) => sources.push((file, t)),
            Err(e) => diags.push(Diagnostic::from_parse(&file, e)),
        }
    }
    let mut seen = std::collections::HashMap::new();
    for (file, text) in sources {
        for (line, doc) in documents(&text) {
            let at = |l: usize| Pos {
                line: l as u64,
                column: 1,
            };
            if doc
                .lines()
                .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
            {
                continue;
            }
            let value: Value = match crate::yaml::from_str(&doc) {
                Ok(v) => v,
                Err(e) => {
                    let pos = if e.pos.line == 0 {
                        at(line)
                    } else {
                        Pos {
                            line: line as u64 + e.pos.line - 1,
                            column: e.pos.column,
                        }
                    };
                    diags.push(Diagnostic::at(&file, pos, e.message));
                    continue;
                }
            };
            if value.is_null() {
                continue;
            }
            match check_object(value) {
                Ok((info, name, object)) => {
                    let m = Manifest {
                        file: rel(&file),
                        line,
                        info,
                        name,
                        object,
                    };
                    for (problem, at_field) in ceiling.check(&m) {
                        let offset = at_field
                            .and_then(|(key, value)| line_of(&doc, &key, &value))
                            .unwrap_or(0);
                        diags.push(Diagnostic::at(&file, at(line + offset), problem));
                    }
                    if let Some(first) = seen.insert(m.key(), (m.file.clone(), m.line)) {
                        diags.push(Diagnostic::at(
                            &file,
                            at(line),
                            format!(
                                "{} is declared twice (first in {}:{})",
                                m.key(),
                                first.0.display(),
                                first.1
                            ),
                        ));
                    }
                    out.push(m);
                }
                Err(problems) => {
                    for p in problems {
                        diags.push(Diagnostic::at(&file, at(line), p));
                    }
                }
            }
        }
    }
    if diags.is_empty() {
        Ok(out)
    } else {
        Err(diags)
    }
}

/// `kubectl kustomize DIR`, with a deadline.
fn kustomize(dir: &Path) -> Result<String, String> {
    let mut child = std::process::Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("needs `kubectl kustomize`, which could not run: {e}"))?;
    let started = std::time::Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if started.elapsed() > std::time::Duration::from_secs(30) => {
                let _ = child.kill();
                return Err("`kubectl kustomize` did not finish within 30 s".into());
            }
            Ok(None) => std::thread::sleep(std::time::Duration::from_millis(20)),
            Err(e) => return Err(format!("`kubectl kustomize` failed: {e}")),
        }
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("`kubectl kustomize` failed: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "`kubectl kustomize` refused it: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    String::from_utf8(out.stdout).map_err(|_| "`kubectl kustomize` printed invalid UTF-8".into())
}

/// Why an object cannot be applied (several reasons at once), or what it is.
fn check_object(v: Value) -> Result<(&'static KindInfo, String, Value), Vec<String>> {
    let mut problems = vec![];
    let Some(obj) = v.as_object() else {
        return Err(vec!["a manifest must be a mapping".into()]);
    };
    let api = obj.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = obj.get("kind").and_then(Value::as_str).unwrap_or("");
    if api.is_empty() || kind.is_empty() {
        return Err(vec!["apiVersion and kind are required".into()]);
    }
    let Some(info) = kind_info(api, kind) else {
        let known: Vec<String> = KINDS
            .iter()
            .map(|k| format!("{} {}", k.api_version, k.kind))
            .collect();
        return Err(vec![format!(
            "{api} {kind} is not a kind breakfix applies (namespaced kinds only: {})",
            known.join(", ")
        )]);
    };
    let name = v
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if name.is_empty() {
        problems.push(format!("{kind}: metadata.name is required"));
    } else if !is_dns_name(&name) {
        problems.push(format!(
            "{kind} `{name}`: metadata.name must be lowercase letters, digits, `-` and `.`"
        ));
    }
    if let Some(ns) = v.pointer("/metadata/namespace") {
        problems.push(format!(
            "{kind} `{name}`: metadata.namespace ({ns}) must be left out; every object goes to the session's namespace"
        ));
    }
    if let Some(pod) = pod_spec_in(info, &v) {
        for field in ["hostNetwork", "hostPID", "hostIPC"] {
            if pod.get(field).and_then(Value::as_bool) == Some(true) {
                problems.push(format!(
                    "{kind} `{name}`: {field} is refused; the sandbox stays off the node"
                ));
            }
        }
        for vol in pod
            .get("volumes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if vol.get("hostPath").is_some() {
                problems.push(format!(
                    "{kind} `{name}`: volume `{}` is a hostPath; only namespaced volumes are allowed",
                    vol.get("name").and_then(Value::as_str).unwrap_or("?")
                ));
            }
        }
        for list in ["containers", "initContainers"] {
            for c in pod
                .get(list)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let sc = c.get("securityContext");
                if sc
                    .and_then(|s| s.get("privileged"))
                    .and_then(Value::as_bool)
                    == Some(true)
                {
                    problems.push(format!(
                        "{kind} `{name}`: container `{}` is privileged, which is refused",
                        c.get("name").and_then(Value::as_str).unwrap_or("?")
                    ));
                }
                if c.get("ports")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .any(|p| p.get("hostPort").is_some())
                {
                    problems.push(format!(
                        "{kind} `{name}`: container `{}` asks for a hostPort, which is refused",
                        c.get("name").and_then(Value::as_str).unwrap_or("?")
                    ));
                }
            }
        }
    }
    if problems.is_empty() {
        Ok((info, name, v))
    } else {
        Err(problems)
    }
}

/// The container lists of a pod spec.
const CONTAINER_LISTS: [&str; 3] = ["containers", "initContainers", "ephemeralContainers"];

/// What a workspace's manifests may declare besides what is refused everywhere: set by the
/// scenario (trusted), from its own workspace manifests and `environment.ceiling`, never by
/// the workspace being judged.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KubeCeiling {
    /// `None`: no ceiling, for reading the scenario's own manifests, which set it.
    limits: Option<Limits>,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Limits {
    /// Capabilities each container (by name) may add.
    caps: BTreeMap<String, BTreeSet<String>>,
    /// Containers (by name) that may run as uid 0, and as gid 0.
    root_user: BTreeSet<String>,
    root_group: BTreeSet<String>,
    /// Images a container may run (normalised: `repo:tag`).
    images: BTreeSet<String>,
    /// Start-up variables allowed after all.
    env: BTreeSet<String>,
}

/// One container of a manifest, with what its pod spec says for it.
struct ContainerView<'v> {
    name: &'v str,
    container: &'v Value,
    pod: &'v Value,
}

impl ContainerView<'_> {
    /// `securityContext.<field>` of the container, else of the pod.
    fn effective(&self, field: &str) -> Option<&Value> {
        self.container
            .pointer(&format!("/securityContext/{field}"))
            .or_else(|| self.pod.pointer(&format!("/securityContext/{field}")))
    }

    fn runs_as(&self, field: &str) -> bool {
        self.effective(field).and_then(Value::as_i64) == Some(0)
    }

    fn added_caps(&self) -> Vec<&str> {
        self.container
            .pointer("/securityContext/capabilities/add")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect()
    }
}

fn containers(m: &Manifest) -> Vec<ContainerView<'_>> {
    let Some(pod) = m.pod_spec() else {
        return vec![];
    };
    CONTAINER_LISTS
        .iter()
        .filter_map(|l| pod.get(*l).and_then(Value::as_array))
        .flatten()
        .map(|c| ContainerView {
            name: c.get("name").and_then(Value::as_str).unwrap_or("?"),
            container: c,
            pod,
        })
        .collect()
}

/// `sys_admin`, `CAP_SYS_ADMIN` and `SYS_ADMIN` are one capability.
fn cap_name(c: &str) -> String {
    let up = c.trim().to_ascii_uppercase();
    up.strip_prefix("CAP_").map(str::to_string).unwrap_or(up)
}

fn list_or_none(items: &BTreeSet<String>) -> String {
    if items.is_empty() {
        "none".into()
    } else {
        items.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// A problem, and the field (key and value as written) whose line it concerns.
type Problem = (String, Option<(String, String)>);

impl KubeCeiling {
    /// No ceiling at all: for reading the scenario's own manifests.
    pub fn unlimited() -> KubeCeiling {
        KubeCeiling { limits: None }
    }

    /// The ceiling the scenario's own manifests (`own`, read without one) set, with the
    /// scenario's images (`breakfix/<id>-<name>`), and the images and start-up variables
    /// `environment.ceiling` allows.
    pub fn new(
        own: &[Manifest],
        scenario_images: &[String],
        extra_images: &[String],
        env: &[String],
    ) -> KubeCeiling {
        let mut l = Limits {
            images: scenario_images
                .iter()
                .chain(extra_images)
                .map(|i| crate::ceiling::normalize_image(i))
                .collect(),
            env: env.iter().cloned().collect(),
            ..Limits::default()
        };
        for m in own {
            for c in containers(m) {
                let caps = l.caps.entry(c.name.to_string()).or_default();
                caps.extend(c.added_caps().into_iter().map(cap_name));
                if c.runs_as("runAsUser") {
                    l.root_user.insert(c.name.to_string());
                }
                if c.runs_as("runAsGroup") {
                    l.root_group.insert(c.name.to_string());
                }
                if let Some(i) = c.container.get("image").and_then(Value::as_str) {
                    l.images.insert(crate::ceiling::normalize_image(i));
                }
                for name in env_names(c.container) {
                    if crate::ceiling::is_startup_var(name) {
                        l.env.insert(name.to_string());
                    }
                }
            }
        }
        KubeCeiling { limits: Some(l) }
    }

    /// The package's ceiling, from its own workspace manifests.
    pub fn for_package(pkg: &crate::scenario::Package) -> Result<KubeCeiling, Vec<Diagnostic>> {
        let ws = pkg.workspace_dir();
        let env = &pkg.scenario.environment;
        let own = load(
            &ws,
            &ws.join(&env.manifests.value),
            &KubeCeiling::unlimited(),
        )?;
        let images: Vec<String> = env.images.iter().map(|n| pkg.image_repo(n)).collect();
        let extra: Vec<String> = env.ceiling.images.iter().map(|i| i.value.clone()).collect();
        let vars: Vec<String> = env.ceiling.env.iter().map(|e| e.value.clone()).collect();
        Ok(KubeCeiling::new(&own, &images, &extra, &vars))
    }

    /// What in `m` is above the ceiling. Privilege escalation and proc mounts other than
    /// the default are refused even without one: no scenario needs them.
    fn check(&self, m: &Manifest) -> Vec<Problem> {
        let mut out: Vec<Problem> = vec![];
        let key = m.key();
        for c in containers(m) {
            let name = c.name;
            if c.effective("allowPrivilegeEscalation")
                .and_then(Value::as_bool)
                == Some(true)
            {
                out.push((
                    format!("{key}: container `{name}` sets allowPrivilegeEscalation: true, which is refused"),
                    Some(("allowPrivilegeEscalation".into(), "true".into())),
                ));
            }
            if let Some(pm) = c.effective("procMount").and_then(Value::as_str)
                && pm != "Default"
            {
                out.push((
                    format!("{key}: container `{name}` asks for procMount {pm}; only the default is allowed"),
                    Some(("procMount".into(), pm.into())),
                ));
            }
            let Some(l) = &self.limits else {
                continue;
            };
            let allowed = l.caps.get(name).cloned().unwrap_or_default();
            for cap in c.added_caps() {
                if !allowed.contains(&cap_name(cap)) {
                    out.push((
                        format!(
                            "{key}: container `{name}` adds capability `{cap}`, above the scenario's ceiling: it may add {}",
                            list_or_none(&allowed)
                        ),
                        Some((String::new(), cap.into())),
                    ));
                }
            }
            for (field, what, may) in [
                ("runAsUser", "uid 0 (root)", &l.root_user),
                ("runAsGroup", "gid 0 (root)", &l.root_group),
            ] {
                if c.runs_as(field) && !may.contains(name) {
                    out.push((
                        format!("{key}: container `{name}` runs as {what} through {field}: 0; the scenario's containers do not"),
                        Some((field.into(), "0".into())),
                    ));
                }
            }
            if let Some(image) = c.container.get("image").and_then(Value::as_str)
                && !l.images.contains(&crate::ceiling::normalize_image(image))
            {
                out.push((
                    format!(
                        "{key}: container `{name}` runs image `{image}`, which is not one this scenario runs (it may use {})",
                        l.images.iter().map(|i| format!("`{i}`")).collect::<Vec<_>>().join(", ")
                    ),
                    Some(("image".into(), image.into())),
                ));
            }
            for var in env_names(c.container) {
                if crate::ceiling::is_startup_var(var) && !l.env.contains(var) {
                    out.push((
                        format!("{key}: container `{name}` sets environment `{var}`, which changes which code a program loads or where it connects; the scenario's ceiling does not allow it"),
                        Some(("name".into(), var.into())),
                    ));
                }
            }
        }
        out
    }
}

/// The names a container's `env:` list sets.
fn env_names(c: &Value) -> Vec<&str> {
    c.get("env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|e| e.get("name").and_then(Value::as_str))
        .collect()
}

/// The line (0-based, within `doc`) where `key` is written with `value` (`runAsUser: 0`,
/// `{runAsUser: 0}`, `- name: PATH`); an empty key finds `value` as a list item or a word.
fn line_of(doc: &str, key: &str, value: &str) -> Option<usize> {
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    doc.lines().position(|line| {
        let line = line.split(" #").next().unwrap_or(line);
        let mut rest = line;
        while let Some(i) = rest.find(value) {
            let before = &rest[..i];
            let after = &rest[i + value.len()..];
            let bounded = !before.ends_with(is_word) && !after.starts_with(is_word);
            let keyed = key.is_empty()
                || before
                    .trim_end_matches([' ', '"', '\''])
                    .strip_suffix(':')
                    .is_some_and(|b| b.trim_end().trim_end_matches(['"', '\'']).ends_with(key));
            if bounded && keyed {
                return true;
            }
            rest = &rest[i + value.len()..];
        }
        false
    })
}

fn is_dns_name(s: &str) -> bool {
    s.len() <= 253
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

/// Every `image:` of the manifests' containers, with a setter: breakfix pins the images it
/// builds (`breakfix/<scenario>-<name>`, untagged or `:latest`) to their content-hash tag
/// and makes the node use what is loaded rather than pull.
pub fn pin_images(manifests: &mut [Manifest], resolve: &dyn Fn(&str) -> Option<String>) {
    for m in manifests {
        let Some(spec) = m.pod_spec_mut() else {
            continue;
        };
        for list in ["containers", "initContainers"] {
            let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) else {
                continue;
            };
            for c in cs {
                let Some(image) = c.get("image").and_then(Value::as_str) else {
                    continue;
                };
                if let Some(pinned) = resolve(image) {
                    c["image"] = Value::String(pinned);
                    if c.get("imagePullPolicy").is_none() {
                        c["imagePullPolicy"] = Value::String("IfNotPresent".into());
                    }
                }
            }
        }
    }
}

/// The repositories breakfix builds that the manifests use (`breakfix/...`).
pub fn breakfix_images(manifests: &[Manifest]) -> Vec<String> {
    let mut out = vec![];
    for m in manifests {
        for list in ["containers", "initContainers"] {
            for c in m
                .pod_spec()
                .and_then(|s| s.get(list))
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(img) = c.get("image").and_then(Value::as_str)
                    && img.starts_with("breakfix/")
                    && !out.iter().any(|o| o == img)
                {
                    out.push(img.to_string());
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Vec<Manifest>, Vec<String>> {
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("manifests");
        std::fs::create_dir(&m).unwrap();
        std::fs::write(m.join("app.yaml"), text).unwrap();
        load(dir.path(), &m, &KubeCeiling::unlimited())
            .map_err(|ds| ds.iter().map(|d| d.to_string()).collect())
    }

    #[test]
    fn documents_of_a_stream_are_read_with_their_first_line() {
        let ms = load_text(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n# the app\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec: {}\n",
        )
        .unwrap();
        assert_eq!(ms.len(), 2);
        assert_eq!(ms[1].key(), "Deployment/api");
        assert_eq!(ms[1].line, 5);
        assert_eq!(ms[1].file, PathBuf::from("manifests/app.yaml"));
    }

    #[test]
    fn cluster_scoped_kinds_and_host_access_are_refused_with_the_document_line() {
        let errs = load_text(
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: kube-system}\nspec:\n  hostNetwork: true\n  volumes: [{name: root, hostPath: {path: /}}]\n  containers: [{name: c, image: x, securityContext: {privileged: true}}]\n",
        )
        .unwrap_err();
        let all = errs.join("\n");
        assert!(
            all.contains("app.yaml:1:1: v1 Namespace is not a kind breakfix applies"),
            "{all}"
        );
        assert!(
            all.contains("app.yaml:5:1: Pod `p`: metadata.namespace"),
            "{all}"
        );
        assert!(all.contains("hostNetwork is refused"), "{all}");
        assert!(all.contains("volume `root` is a hostPath"), "{all}");
        assert!(all.contains("container `c` is privileged"), "{all}");
    }

    #[test]
    fn a_yaml_error_is_placed_on_its_line_in_the_file() {
        let errs = load_text(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\napiVersion: v1\nkind: [\n",
        )
        .unwrap_err();
        assert!(
            errs[0].contains("app.yaml:6:") || errs[0].contains("app.yaml:7:"),
            "{errs:?}"
        );
    }

    #[test]
    fn breakfix_images_are_pinned_and_not_pulled() {
        let mut ms = load_text(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  template:\n    spec:\n      containers:\n      - {name: api, image: breakfix/s-app}\n      - {name: side, image: busybox:1}\n",
        )
        .unwrap();
        assert_eq!(breakfix_images(&ms), vec!["breakfix/s-app".to_string()]);
        pin_images(&mut ms, &|i| {
            (i == "breakfix/s-app").then(|| "breakfix/s-app:abc".into())
        });
        let c = ms[0]
            .object
            .pointer("/spec/template/spec/containers")
            .unwrap();
        assert_eq!(c[0]["image"], "breakfix/s-app:abc");
        assert_eq!(c[0]["imagePullPolicy"], "IfNotPresent");
        assert_eq!(c[1]["image"], "busybox:1");
        assert!(c[1].get("imagePullPolicy").is_none());
    }

    fn load_under(own: &str, text: &str) -> Result<Vec<Manifest>, Vec<String>> {
        let own = load_text(own).expect("the scenario's own manifests are valid");
        let ceiling = KubeCeiling::new(
            &own,
            &["breakfix/s-app".to_string()],
            &["busybox:1.36".to_string()],
            &["PYTHONPATH".to_string()],
        );
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("manifests");
        std::fs::create_dir(&m).unwrap();
        std::fs::write(m.join("app.yaml"), text).unwrap();
        load(dir.path(), &m, &ceiling).map_err(|ds| ds.iter().map(|d| d.to_string()).collect())
    }

    const OWN: &str = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  template:\n    spec:\n      securityContext: {runAsUser: 65534}\n      containers:\n      - name: api\n        image: breakfix/s-app\n      - name: net\n        image: breakfix/s-app\n        securityContext:\n          capabilities: {add: [NET_ADMIN]}\n";

    #[test]
    fn the_scenarios_own_manifests_stay_under_their_own_ceiling() {
        assert!(load_under(OWN, OWN).is_ok());
    }

    #[test]
    fn capabilities_root_images_and_startup_variables_above_the_ceiling_are_refused_on_their_line()
    {
        let errs = load_under(
            OWN,
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: api}\nspec:\n  template:\n    spec:\n      securityContext:\n        runAsUser: 0\n      containers:\n      - name: api\n        image: alpine:3\n        env:\n        - name: LD_PRELOAD\n          value: /tmp/x.so\n        - {name: PYTHONPATH, value: /app}\n        securityContext:\n          runAsGroup: 0\n          allowPrivilegeEscalation: true\n          procMount: Unmasked\n          capabilities:\n            add:\n            - SYS_ADMIN\n      - name: net\n        image: busybox:1.36\n        securityContext:\n          runAsUser: 1000\n          capabilities: {add: [CAP_NET_ADMIN, SYS_PTRACE]}\n",
        )
        .unwrap_err();
        let all = errs.join("\n");
        for want in [
            "app.yaml:8:1: Deployment/api: container `api` runs as uid 0 (root) through runAsUser: 0",
            "app.yaml:11:1: Deployment/api: container `api` runs image `alpine:3`, which is not one this scenario runs (it may use `breakfix/s-app:latest`, `busybox:1.36`)",
            "app.yaml:13:1: Deployment/api: container `api` sets environment `LD_PRELOAD`",
            "app.yaml:17:1: Deployment/api: container `api` runs as gid 0 (root) through runAsGroup: 0",
            "app.yaml:18:1: Deployment/api: container `api` sets allowPrivilegeEscalation: true, which is refused",
            "app.yaml:19:1: Deployment/api: container `api` asks for procMount Unmasked",
            "app.yaml:22:1: Deployment/api: container `api` adds capability `SYS_ADMIN`, above the scenario's ceiling: it may add none",
            "app.yaml:27:1: Deployment/api: container `net` adds capability `SYS_PTRACE`, above the scenario's ceiling: it may add NET_ADMIN",
        ] {
            assert!(all.contains(want), "missing {want:?} in:\n{all}");
        }
        // Allowed: PYTHONPATH by the scenario, CAP_NET_ADMIN as the scenario's `net` adds it,
        // busybox:1.36 by the scenario, and uid 1000 overriding the pod's 0 for `net`.
        assert_eq!(errs.len(), 8, "{all}");
    }

    #[test]
    fn a_pod_level_root_user_is_refused_for_each_container_it_reaches() {
        let errs = load_under(
            OWN,
            "apiVersion: v1\nkind: Pod\nmetadata: {name: shell}\nspec:\n  securityContext: {runAsUser: 0}\n  containers: [{name: sh, image: breakfix/s-app}]\n",
        )
        .unwrap_err();
        let errs: Vec<String> = errs
            .iter()
            .map(|e| e[e.find("app.yaml").unwrap_or(0)..].to_string())
            .collect();
        assert_eq!(
            errs,
            vec![
                "app.yaml:5:1: Pod/shell: container `sh` runs as uid 0 (root) through runAsUser: 0; the scenario's containers do not"
                    .to_string()
            ]
        );
    }

    #[test]
    fn a_field_is_found_on_its_line_and_not_inside_another_word() {
        let doc = "a:\n  runAsUser: 10\n  runAsUser: 0 # root\n  add: [NET_ADMIN, SYS_ADMIN]\n";
        assert_eq!(line_of(doc, "runAsUser", "0"), Some(2));
        assert_eq!(line_of(doc, "", "SYS_ADMIN"), Some(3));
        assert_eq!(line_of(doc, "", "ADMIN"), None);
    }

    #[test]
    fn the_kube_scenarios_solutions_and_fixes_stay_under_their_ceilings() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        for id in ["crashloop-k8s", "probes-and-limits"] {
            let pkg = crate::scenario::load(&root.join(id)).expect("the scenario loads");
            let ceiling = KubeCeiling::for_package(&pkg).expect("its own manifests are valid");
            let mut trees = vec![pkg.solution_dir()];
            trees.extend(pkg.fixes.iter().map(|f| f.files_dir()));
            for tree in std::iter::once(None).chain(trees.into_iter().map(Some)) {
                let ws = tempfile::tempdir().unwrap();
                crate::engine::copy_tree(&pkg.workspace_dir(), ws.path()).unwrap();
                if let Some(tree) = &tree {
                    crate::engine::copy_tree(tree, ws.path()).unwrap();
                }
                let dir = ws.path().join(&pkg.scenario.environment.manifests.value);
                if let Err(ds) = load(ws.path(), &dir, &ceiling) {
                    panic!("{id} {tree:?}: {ds:?}");
                }
            }
        }
    }
}
