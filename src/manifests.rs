//! The workspace's Kubernetes manifests (the `kube` backend's counterpart of the compose
//! file): every `*.yaml`/`*.yml` file of one folder, each possibly holding several documents,
//! read as plain JSON values. Only namespaced kinds of the stable APIs every current cluster
//! serves are accepted, and nothing that reaches the node (host namespaces, host paths,
//! privileged containers): the session's namespace is the sandbox.

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

/// Reads every manifest of `dir` (inside `workspace`); all problems are reported at once,
/// each with its file and line.
pub fn load(workspace: &Path, dir: &Path) -> Result<Vec<Manifest>, Vec<Diagnostic>> {
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
        load(dir.path(), &m).map_err(|ds| ds.iter().map(|d| d.to_string()).collect())
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
}
