//! Each check kind's own rules, one function per kind chosen in one table
//! ([`check_kind`]); the rules every check shares, and the package's, are in `load`.

use std::collections::HashSet;
use std::path::Path;
use std::time::Duration;

use regex::Regex;

use super::syntax::{regex_problem, safe_join};
use super::*;
use crate::compose;
use crate::yaml::{Located, Pos};

/// The most requests one stream may send (its output must fit what an exec returns).
const MAX_STREAM_REQUESTS: u32 = 300;
/// The longest a stream may take if every request times out.
const MAX_STREAM_WORST_CASE: Duration = Duration::from_secs(300);

/// What a check's rules may look up: the scenario, its workspace, and what the workspace's
/// compose file and manifests define.
pub(super) struct Known<'a> {
    pub scenario: &'a Scenario,
    pub workspace: &'a Path,
    /// The compose file's services (Docker), when it read.
    pub services: Option<HashSet<String>>,
    /// The manifests' object names (Kubernetes), when they read.
    pub objects: Option<HashSet<String>>,
    /// `Kind/name` of every object the manifests declare.
    pub object_keys: HashSet<String>,
    pub kube: bool,
}

impl Known<'_> {
    /// A service named by the scenario must exist in the workspace it deploys.
    pub fn service_ref(&self, svc: &Located<String>, what: &str, err: &mut dyn FnMut(Pos, String)) {
        let (services, objects) = (&self.services, &self.objects);
        for (known, file) in [(services, "the compose file"), (objects, "no manifest")] {
            if let Some(known) = known
                && !known.contains(&svc.value)
            {
                let mut names: Vec<_> = known.iter().cloned().collect();
                names.sort();
                let verb = if file == "no manifest" {
                    "which no manifest declares".to_string()
                } else {
                    format!("which {file} does not define")
                };
                err(
                    svc.pos,
                    format!(
                        "{what} names service `{}`, {verb} (it has: {})",
                        svc.value,
                        names.join(", ")
                    ),
                );
            }
        }
    }
}

/// A regular expression the scenario gives in `field`, when it gives one.
fn pattern(
    re: &Option<Located<String>>,
    field: &str,
    label: &str,
    err: &mut dyn FnMut(Pos, String),
) {
    if let Some(re) = re
        && let Err(e) = Regex::new(re)
    {
        err(
            re.pos,
            format!(
                "{label}: {field} is not a valid regular expression ({})",
                regex_problem(&e)
            ),
        );
    }
}

/// A port and a path to ask for over HTTP.
fn endpoint(
    port: &Located<u16>,
    path: &Located<String>,
    label: &str,
    err: &mut dyn FnMut(Pos, String),
) {
    if port.value == 0 {
        err(port.pos, format!("{label}: port must be 1-65535"));
    }
    if !path.starts_with('/') {
        err(path.pos, format!("{label}: path must start with `/`"));
    }
}

/// The rules of a check's own kind. `at` is the check's position, for what has none.
pub(super) fn check_kind(c: &Check, label: &str, known: &Known, err: &mut dyn FnMut(Pos, String)) {
    let at = c.id.pos;
    match &c.kind {
        CheckKind::PodsReady(k) => pods_ready(k, label, at, known, err),
        CheckKind::ObjectFields(k) => object_fields(k, label, at, known, err),
        CheckKind::Events(k) => events(k, label, at, known, err),
        CheckKind::StaysRunning(k) => stays_running(k, label, at, known, err),
        CheckKind::Http(k) => http(k, label, at, known, err),
        CheckKind::Exec(k) => exec(k, label, at, known, err),
        CheckKind::HttpStream(k) => http_stream(k, label, err),
        CheckKind::PrometheusAlert(k) => prometheus_alert(k, label, at, known, err),
        CheckKind::ContainerConfig(k) => container_config(k, label, at, known, err),
        CheckKind::ServedBy(k) => served_by(k, label, at, known, err),
        CheckKind::Pipeline(k) => pipeline(k, label, at, known, err),
        CheckKind::PipelineConfig(k) => pipeline_config(k, label, at, known, err),
        CheckKind::Image(k) => image(k, label, at, known, err),
        CheckKind::MarkdownSections(k) => markdown_sections(k, label, at, known, err),
        CheckKind::AnsibleConverged(k) => ansible_converged(k, label, at, known, err),
    }
}

fn pods_ready(
    k: &PodsReadyCheck,
    label: &str,
    _: Pos,
    _: &Known,
    err: &mut dyn FnMut(Pos, String),
) {
    if k.selector.trim().is_empty() {
        err(k.selector.pos, format!("{label}: selector is empty"));
    }
    if k.window.0.is_zero() {
        err(k.window.pos, format!("{label}: window must be above zero"));
    }
    if k.min_ready.value == 0 {
        err(
            k.min_ready.pos,
            format!("{label}: min-ready must be at least 1"),
        );
    }
}

fn object_fields(
    k: &ObjectFieldsCheck,
    label: &str,
    _: Pos,
    known: &Known,
    err: &mut dyn FnMut(Pos, String),
) {
    match k.object.value.split_once('/') {
        Some((kind, name)) if crate::manifests::kind_by_name(kind).is_some() => {
            let info = crate::manifests::kind_by_name(kind)
                .map(|i| i.kind)
                .unwrap_or(kind);
            if known.kube
                && !known.object_keys.is_empty()
                && !known.object_keys.contains(&format!("{info}/{name}"))
            {
                err(
                    k.object.pos,
                    format!(
                        "{label}: object `{}` is not declared by any manifest",
                        k.object.value
                    ),
                );
            }
        }
        _ => err(
            k.object.pos,
            format!(
                "{label}: object must read `Kind/name` with a kind breakfix applies (Deployment/api), not `{}`",
                k.object.value
            ),
        ),
    }
    if k.fields.is_empty() {
        err(
            k.object.pos,
            format!("{label}: fields: list at least one field"),
        );
    }
    for f in &k.fields {
        if let Err(why) = super::syntax::parse_field_path(&f.path.value) {
            err(f.path.pos, format!("{label}: path {why}"));
        }
        for bound in [&f.at_least, &f.at_most].into_iter().flatten() {
            if super::syntax::quantity(&bound.value).is_none() {
                err(
                    bound.pos,
                    format!(
                        "{label}: `{}` is not a number or quantity (96Mi, 250m)",
                        bound.value
                    ),
                );
            }
        }
        if f.exists == Some(false)
            && (f.equals.is_some()
                || f.one_of.is_some()
                || f.at_least.is_some()
                || f.at_most.is_some())
        {
            err(
                f.path.pos,
                format!("{label}: `exists: false` cannot be combined with a value predicate"),
            );
        }
    }
}

fn events(k: &EventsCheck, label: &str, at: Pos, _: &Known, err: &mut dyn FnMut(Pos, String)) {
    if k.forbid.is_empty() {
        err(
            at,
            format!("{label}: forbid: list at least one event reason"),
        );
    }
    if k.window.0.is_zero() {
        err(k.window.pos, format!("{label}: window must be above zero"));
    }
}

fn stays_running(
    k: &StaysRunning,
    label: &str,
    _: Pos,
    _: &Known,
    err: &mut dyn FnMut(Pos, String),
) {
    if k.window.0.is_zero() {
        err(k.window.pos, format!("{label}: window must be above zero"))
    }
}

fn http(k: &HttpCheck, label: &str, _: Pos, _: &Known, err: &mut dyn FnMut(Pos, String)) {
    endpoint(&k.port, &k.path, label, err);
    if let Some(hold) = &k.hold
        && hold.0.is_zero()
    {
        err(hold.pos, format!("{label}: hold must be above zero"));
    }
    pattern(&k.body_matches, "body-matches", label, err);
}

fn exec(k: &ExecCheck, label: &str, at: Pos, _: &Known, err: &mut dyn FnMut(Pos, String)) {
    if k.command.is_empty() {
        err(at, format!("{label}: command is empty"));
    }
    pattern(&k.output_matches, "output-matches", label, err);
}

fn prometheus_alert(
    k: &PrometheusAlertCheck,
    label: &str,
    _: Pos,
    known: &Known,
    err: &mut dyn FnMut(Pos, String),
) {
    known.service_ref(&k.prometheus.service, label, err);
    known.service_ref(&k.receiver.service, label, err);
    for (port, path) in [
        (&k.control.port, &k.control.path),
        (&k.prometheus.port, &k.prometheus.path),
        (&k.receiver.port, &k.receiver.path),
    ] {
        endpoint(port, path, label, err);
    }
    for (what, d) in [
        ("settle", &k.settle),
        ("quiet-window", &k.quiet_window),
        ("fire-within", &k.fire_within),
        ("notify-within", &k.notify_within),
    ] {
        if d.0.is_zero() {
            err(d.pos, format!("{label}: {what} must be above zero"));
        }
    }
    if k.control.healthy == k.control.failing {
        err(
            k.control.port.pos,
            format!("{label}: control's healthy and failing bodies are the same"),
        );
    }
}

fn container_config(
    k: &ContainerConfigCheck,
    label: &str,
    at: Pos,
    known: &Known,
    err: &mut dyn FnMut(Pos, String),
) {
    let any = k.non_root.is_some()
        || k.has_healthcheck.is_some()
        || k.restart_policy_in.is_some()
        || k.memory_limited.is_some()
        || k.not_privileged.is_some()
        || k.capabilities_within.is_some()
        || k.runs_image.is_some()
        || k.healthcheck_probes.is_some();
    if !any {
        err(
            at,
            format!("{label}: container-config needs at least one predicate"),
        );
    }
    if let Some(name) = &k.runs_image {
        scenario_image_ref(known.scenario, name, &format!("{label}: runs-image"), err);
    }
    if let Some(cmd) = &k.runs_command {
        if k.runs_image.is_none() {
            err(
                cmd.pos,
                format!("{label}: runs-command needs runs-image (the image it runs in)"),
            );
        }
        if cmd.is_empty() {
            err(cmd.pos, format!("{label}: runs-command is empty"));
        }
    }
    if let Some(h) = &k.healthcheck_probes {
        match (&h.port, &h.path) {
            (None, None) => err(
                at,
                format!("{label}: healthcheck-probes needs a port, a path, or both"),
            ),
            (port, path) => {
                if let Some(p) = port
                    && p.value == 0
                {
                    err(p.pos, format!("{label}: port must be 1-65535"));
                }
                if let Some(p) = path
                    && !p.starts_with('/')
                {
                    err(p.pos, format!("{label}: path must start with `/`"));
                }
            }
        }
    }
}

fn served_by(
    k: &ServedByCheck,
    label: &str,
    _: Pos,
    known: &Known,
    err: &mut dyn FnMut(Pos, String),
) {
    known.service_ref(&k.upstream, &format!("{label}: upstream"), err);
    scenario_image_ref(known.scenario, &k.image, &format!("{label}: image"), err);
    endpoint(&k.port, &k.path, label, err);
    if k.requests.value == 0 || k.requests.value > MAX_SERVED_REQUESTS {
        err(
            k.requests.pos,
            format!("{label}: requests must be 1-{MAX_SERVED_REQUESTS}"),
        );
    }
    if let Some(cmd) = &k.command
        && cmd.is_empty()
    {
        err(cmd.pos, format!("{label}: command is empty"));
    }
    pattern(&k.body_matches, "body-matches", label, err);
}

fn pipeline(
    k: &PipelineCheck,
    label: &str,
    at: Pos,
    known: &Known,
    err: &mut dyn FnMut(Pos, String),
) {
    repository_ref(known.workspace, &k.repository, label, err);
    if k.timeout.0.is_zero() {
        err(at, format!("{label}: timeout must be above zero"));
    }
    for log in &k.job_logs {
        if log.matches.is_none() && log.not_matches.is_none() {
            err(
                log.job.pos,
                format!(
                    "{label}: job-logs for `{}` needs `matches` or `not-matches`",
                    log.job.value
                ),
            );
        }
        for (what, re) in [("matches", &log.matches), ("not-matches", &log.not_matches)] {
            pattern(re, what, label, err);
        }
    }
    for a in &k.artifact_one_of {
        if let Err(why) = safe_join(known.workspace, a) {
            err(a.pos, format!("{label}: artifact `{}` {why}", a.value));
        }
    }
}

fn pipeline_config(
    k: &PipelineConfigCheck,
    label: &str,
    at: Pos,
    known: &Known,
    err: &mut dyn FnMut(Pos, String),
) {
    repository_ref(known.workspace, &k.repository, label, err);
    if k.gating_jobs.is_empty() {
        err(at, format!("{label}: gating-jobs names no job"));
    }
    for (job, re) in &k.script_must_match {
        if !k.gating_jobs.iter().any(|j| &j.value == job) {
            err(
                re.pos,
                format!(
                    "{label}: script-must-match names job `{job}`, which is not one of gating-jobs"
                ),
            );
        }
    }
    for re in k.script_must_match.values().chain(&k.forbid_in_scripts) {
        if let Err(e) = Regex::new(re) {
            err(
                re.pos,
                format!(
                    "{label}: `{}` is not a valid regular expression ({})",
                    re.value,
                    regex_problem(&e)
                ),
            );
        }
    }
    for f in &k.forbid_files {
        if let Err(why) = safe_join(known.workspace, f) {
            err(f.pos, format!("{label}: forbid-files `{}` {why}", f.value));
        }
    }
}

fn image(k: &ImageCheck, label: &str, at: Pos, _: &Known, err: &mut dyn FnMut(Pos, String)) {
    let any = k.non_root.is_some()
        || k.max_size.is_some()
        || k.has_healthcheck.is_some()
        || k.max_layers.is_some();
    if !any {
        err(at, format!("{label}: image needs at least one predicate"));
    }
    if let Some(size) = &k.max_size
        && compose::parse_size(size).is_none()
    {
        err(
            size.pos,
            format!(
                "{label}: max-size `{}` is not a size; write it like `150m`, `1g` or a number of bytes",
                size.value
            ),
        );
    }
    if let Some(n) = &k.max_layers
        && n.value == 0
    {
        err(n.pos, format!("{label}: max-layers must be positive"));
    }
}

fn markdown_sections(
    k: &MarkdownSectionsCheck,
    label: &str,
    at: Pos,
    known: &Known,
    err: &mut dyn FnMut(Pos, String),
) {
    if let Err(why) = safe_join(known.workspace, &k.file) {
        // The file is the candidate's, in the session workspace.
        let why = why.replace("package", "workspace");
        err(
            k.file.pos,
            format!("{label}: file `{}` {why}", k.file.value),
        );
    } else if k.file.trim().is_empty() {
        err(k.file.pos, format!("{label}: file is empty"));
    }
    if k.sections.is_empty() {
        err(
            at,
            format!("{label}: markdown-sections needs at least one section"),
        );
    }
    let mut names = HashSet::new();
    for sec in &k.sections {
        for name in std::iter::once(&sec.heading).chain(&sec.aliases) {
            let key = super::syntax::heading_key(name);
            if key.is_empty() {
                err(name.pos, format!("{label}: a section name is empty"));
            } else if !names.insert(key) {
                err(
                    name.pos,
                    format!("{label}: section name `{}` is given twice", name.value),
                );
            }
        }
    }
}

fn ansible_converged(
    k: &AnsibleConvergedCheck,
    label: &str,
    at: Pos,
    known: &Known,
    err: &mut dyn FnMut(Pos, String),
) {
    if k.playbook.trim().is_empty() {
        err(k.playbook.pos, format!("{label}: playbook is empty"));
    }
    if k.hosts.is_empty() {
        err(
            at,
            format!("{label}: hosts: name the inventory hosts the recap must show"),
        );
    }
    if k.timeout.0.is_zero() {
        err(at, format!("{label}: timeout must be above zero"));
    }
    if let Some(d) = &k.disturb {
        if !k.apply {
            err(
                d.service.pos,
                format!("{label}: disturb needs `apply: true` (the apply reverts the edit)"),
            );
        }
        if d.command.is_empty() {
            err(
                d.service.pos,
                format!("{label}: disturb's command is empty"),
            );
        }
        known.service_ref(&d.service, label, err);
    }
    if let Some(h) = &k.expect_http {
        if !k.apply {
            err(
                h.service.pos,
                format!("{label}: expect-http needs `apply: true` (it asks after the apply)"),
            );
        }
        endpoint(&h.port, &h.path, &format!("{label}: expect-http"), err);
        pattern(&h.body_matches, "expect-http body-matches", label, err);
        known.service_ref(&h.service, label, err);
    }
    if let Some(r) = &k.restore {
        if k.disturb.is_none() {
            err(
                r.service.pos,
                format!("{label}: restore only runs after `disturb`, which is not set"),
            );
        }
        if r.command.is_empty() {
            err(
                r.service.pos,
                format!("{label}: restore's command is empty"),
            );
        }
        known.service_ref(&r.service, label, err);
    }
}

fn http_stream(k: &HttpStreamCheck, label: &str, err: &mut dyn FnMut(Pos, String)) {
    endpoint(&k.port, &k.path, label, err);
    if k.path.chars().any(char::is_whitespace) {
        err(k.path.pos, format!("{label}: path must not contain spaces"));
    }
    if k.requests.value == 0 || k.requests.value > MAX_STREAM_REQUESTS {
        err(
            k.requests.pos,
            format!("{label}: requests must be 1-{MAX_STREAM_REQUESTS}"),
        );
    }
    if k.request_timeout.value.0.is_zero() {
        err(
            k.request_timeout.pos,
            format!("{label}: request-timeout must be above zero"),
        );
    }
    let worst = (k.request_timeout.value.0)
        .checked_add(k.interval.value.0)
        .and_then(|d| d.checked_mul(k.requests.value))
        .unwrap_or(Duration::MAX);
    if worst > MAX_STREAM_WORST_CASE {
        err(
            k.requests.pos,
            format!(
                "{label}: requests × (interval + request-timeout) is {}, more than {}",
                humantime::format_duration(worst),
                humantime::format_duration(MAX_STREAM_WORST_CASE)
            ),
        );
    }
    let pct = k.max_error_percent.value;
    if !(0.0..=100.0).contains(&pct) {
        err(
            k.max_error_percent.pos,
            format!("{label}: max-error-percent must be 0-100"),
        );
    }
    if let Some(h) = &k.version_header
        && !super::syntax::is_token(h)
    {
        err(
            h.pos,
            format!("{label}: version-header `{}` is not a header name", h.value),
        );
    }
    for list in [&k.allowed_versions, &k.forbidden_versions]
        .into_iter()
        .flatten()
    {
        if k.version_header.is_none() {
            err(
                list.pos,
                format!("{label}: version lists need `version-header` to read versions from"),
            );
        }
        if list.is_empty() {
            err(list.pos, format!("{label}: a version list cannot be empty"));
        }
    }
}

/// The most answers a `served-by` check asks for (each is one probe request and a log read).
const MAX_SERVED_REQUESTS: u32 = 20;

/// `name` must be one of the images the scenario builds: only those are the interviewer's.
fn scenario_image_ref(
    sc: &Scenario,
    name: &crate::yaml::Located<String>,
    what: &str,
    err: &mut dyn FnMut(Pos, String),
) {
    if !sc.environment.images.iter().any(|i| i.value == name.value) {
        let known: Vec<&str> = sc
            .environment
            .images
            .iter()
            .map(|i| i.value.as_str())
            .collect();
        err(
            name.pos,
            format!(
                "{what} `{}` is not one of the scenario's images (environment.images: {})",
                name.value,
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ),
        );
    }
}

/// A check's repository folder must be inside the workspace.
fn repository_ref(
    workspace: &Path,
    repo: &crate::yaml::Located<String>,
    label: &str,
    err: &mut dyn FnMut(Pos, String),
) {
    match safe_join(workspace, repo) {
        Err(why) => err(
            repo.pos,
            format!("{label}: repository `{}` {why}", repo.value),
        ),
        Ok(p) if !p.is_dir() => err(
            repo.pos,
            format!(
                "{label}: repository `{}` is not a folder of workspace/",
                repo.value
            ),
        ),
        Ok(_) => {}
    }
}
