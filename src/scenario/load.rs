//! Loading a scenario package from disk and validating it: schema (through serde, unknown
//! fields refused) and references (checks name services that exist, files exist inside the
//! package, points are positive...). Every problem is collected with its position.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use regex::Regex;

use super::{BackendKind, CheckKind, Fix, FixExpectation, FixSpec, Package, Scenario, variables};
use crate::compose;
use crate::diagnostic::{self, Diagnostic};
use crate::yaml::{self, Pos};

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The package has problems; each diagnostic names file, line and column.
    #[error("load scenario package {}: {} problem(s)\n{}", root.display(), diagnostics.len(), diagnostic::render(diagnostics))]
    Invalid {
        root: PathBuf,
        diagnostics: Vec<Diagnostic>,
    },
}

impl LoadError {
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            LoadError::Invalid { diagnostics, .. } => diagnostics,
        }
    }
}

/// Loads the package at `path` (its folder, or its `scenario.yaml`). A parameterised package
/// (with `variables.yaml`) is rendered for the default seed.
pub fn load(path: &Path) -> Result<Package, LoadError> {
    load_seeded(path, None)
}

/// Loads the package at `path`; a parameterised one is rendered for `seed` into a temporary
/// folder, and problems are reported against the files as written. With no seed it is
/// rendered for the default seed, after checking that every value of every variable renders
/// a valid package. A package without variables ignores the seed.
pub fn load_seeded(path: &Path, seed: Option<&str>) -> Result<Package, LoadError> {
    let root = if path.is_dir() {
        path.to_path_buf()
    } else {
        path.parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf()
    };
    if !root.join(variables::FILE).is_file() {
        return load_plain(path);
    }
    let invalid = |diagnostics: Vec<Diagnostic>| LoadError::Invalid {
        root: root.clone(),
        diagnostics,
    };
    let links = link_diagnostics(&root);
    if !links.is_empty() {
        // Nothing is read through a link that leaves the package.
        return Err(invalid(links));
    }
    let vars = variables::read(&root).map_err(invalid)?;
    let id = root
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let pkg = render_and_load(&root, &vars, &id, seed.unwrap_or(variables::DEFAULT_SEED))
        .map_err(invalid)?;
    if seed.is_none() {
        // Without a seed (validate, list, verify's first look), every value of every
        // variable is tried at least once, so a value that breaks the package is found here
        // rather than by the one candidate who draws it.
        let mut diags = vec![];
        for s in variables::covering_seeds(&vars, &id, 1) {
            if let Err(found) = render_and_load(&root, &vars, &id, &s) {
                let v = variables::choose(&vars, &id, &s);
                diags.extend(found.into_iter().map(|mut d| {
                    d.message = format!("{} (with seed {s}: {})", d.message, v.describe());
                    d
                }));
            }
        }
        if !diags.is_empty() {
            diags.sort();
            diags.dedup();
            return Err(invalid(diags));
        }
    }
    Ok(pkg)
}

/// Renders the package at `root` for `seed` into a temporary folder and loads it; problems
/// are reported against the files as written (the lines match: a value is one line).
fn render_and_load(
    root: &Path,
    vars: &variables::VariablesFile,
    id: &str,
    seed: &str,
) -> Result<Package, Vec<Diagnostic>> {
    let variant = variables::choose(vars, id, seed);
    let tmp = tempfile::Builder::new()
        .prefix("breakfix-render-")
        .tempdir()
        .map_err(|e| {
            vec![Diagnostic::at(
                root,
                Pos::default(),
                format!("failed to make a folder to render the package in: {e}"),
            )]
        })?;
    let out = tmp.path().join(id);
    variables::render(root, &out, &variant)?;
    let mut pkg = load_plain(&out).map_err(|e| {
        e.diagnostics()
            .iter()
            .map(|d| {
                let mut d = d.clone();
                if let Ok(rel) = d.file.strip_prefix(&out) {
                    d.file = root.join(rel);
                }
                d
            })
            .collect::<Vec<_>>()
    })?;
    pkg.source = root.to_path_buf();
    pkg.rendered = Some(std::sync::Arc::new(tmp));
    Ok(pkg)
}

fn load_plain(path: &Path) -> Result<Package, LoadError> {
    let (root, file) = if path.is_dir() {
        (path.to_path_buf(), path.join("scenario.yaml"))
    } else {
        let root = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .to_path_buf();
        (root, path.to_path_buf())
    };
    let invalid = |diagnostics: Vec<Diagnostic>| LoadError::Invalid {
        root: root.clone(),
        diagnostics,
    };
    let links = link_diagnostics(&root);
    if !links.is_empty() {
        // Nothing is read through a link that leaves the package.
        return Err(invalid(links));
    }
    let text = yaml::read_file(&file, "scenario file")
        .map_err(|e| invalid(vec![Diagnostic::from_parse(&file, e)]))?;
    let scenario = parse_text(&file, text.as_bytes()).map_err(|d| invalid(vec![d]))?;
    let mut diags = Vec::new();
    let briefing = validate(&root, &file, &scenario, &mut diags);
    let fixes = load_fixes(&root, &scenario, &mut diags);
    if diags.is_empty() {
        Ok(Package {
            variant: variables::read_variant(&root),
            source: root.clone(),
            root,
            scenario,
            briefing,
            fixes,
            rendered: None,
        })
    } else {
        diags.sort();
        diags.dedup();
        Err(invalid(diags))
    }
}

/// Parses the bytes of a scenario file (`file` names it in the diagnostic) without touching
/// the disk: the same size, UTF-8 and YAML limits as [`load`], but none of the checks that
/// need the package's other files.
pub fn parse_text(file: &Path, bytes: &[u8]) -> Result<Scenario, Diagnostic> {
    yaml::text(bytes)
        .and_then(yaml::from_str)
        .map_err(|e| Diagnostic::from_parse(file, e))
}

/// Loads `fixes/*/fix.yaml`, reporting problems with their positions.
fn load_fixes(root: &Path, s: &Scenario, diags: &mut Vec<Diagnostic>) -> Vec<Fix> {
    let mut fixes = Vec::new();
    for dir in subdirs(&root.join("fixes")) {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let file = dir.join("fix.yaml");
        let text = match yaml::read_file(&file, "fix description") {
            Ok(t) => t,
            Err(e) => {
                diags.push(Diagnostic::from_parse(&file, e));
                continue;
            }
        };
        let spec: FixSpec = match yaml::from_str(&text) {
            Ok(f) => f,
            Err(e) => {
                diags.push(Diagnostic::from_parse(&file, e));
                continue;
            }
        };
        let mut err = |pos: Pos, msg: String| diags.push(Diagnostic::at(&file, pos, msg));
        match spec.expect {
            FixExpectation::Fail if spec.failing.is_empty() => err(
                Pos { line: 1, column: 1 },
                "a fix expected to fail names the checks that must fail (`failing:`)".into(),
            ),
            FixExpectation::Pass if !spec.failing.is_empty() => err(
                spec.failing[0].pos,
                "a fix expected to pass cannot name failing checks".into(),
            ),
            _ => {}
        }
        for id in &spec.failing {
            if !s.checks.iter().any(|c| c.id.value == id.value) {
                err(
                    id.pos,
                    format!("failing names check `{}`, which does not exist", id.value),
                );
            }
        }
        for r in &spec.remove {
            if let Err(why) = safe_join(&root.join("workspace"), r) {
                err(r.pos, format!("remove `{}` {why}", r.value));
            }
        }
        fixes.push(Fix { name, dir, spec });
    }
    fixes
}

fn subdirs(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// The package folders under `dir` (each holding a `scenario.yaml`), sorted.
pub fn package_roots(dir: &Path) -> Vec<PathBuf> {
    let mut roots: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.join("scenario.yaml").is_file())
                .collect()
        })
        .unwrap_or_default();
    roots.sort();
    roots
}

/// Loads every package under `dir`, sorted by folder.
pub fn load_all(dir: &Path) -> Vec<Result<Package, LoadError>> {
    package_roots(dir).iter().map(|r| load(r)).collect()
}

fn id_pattern() -> Regex {
    Regex::new("^[a-z0-9][a-z0-9-]{0,47}$").expect("static regex")
}

/// Checks references and values serde cannot; returns the briefing's text.
fn validate(root: &Path, file: &Path, s: &Scenario, diags: &mut Vec<Diagnostic>) -> String {
    let mut err = |pos: Pos, msg: String| diags.push(Diagnostic::at(file, pos, msg));
    let ids = id_pattern();
    let top = Pos { line: 1, column: 1 };

    if !ids.is_match(&s.id) {
        err(
            s.id.pos,
            format!(
                "id `{}` must be lowercase letters, digits and dashes (at most 48)",
                s.id.value
            ),
        );
    }
    if let Some(folder) = root
        .canonicalize()
        .ok()
        .and_then(|r| r.file_name().map(|f| f.to_string_lossy().into_owned()))
        && folder != s.id.value
    {
        err(
            s.id.pos,
            format!(
                "id `{}` must equal the package folder's name `{folder}`",
                s.id.value
            ),
        );
    }
    if s.title.trim().is_empty() {
        err(top, "title is empty".into());
    }
    if s.competencies.is_empty() {
        err(
            top,
            "competencies: list at least one rubric competency".into(),
        );
    }
    if s.time_limit.0.is_zero() {
        err(s.time_limit.pos, "time-limit must be above zero".into());
    }
    if s.backends.is_empty() {
        err(s.backends.pos, "backends: list at least one backend".into());
    }
    let competencies: BTreeSet<_> = s.competencies.iter().map(|c| c.value).collect();

    // Package files.
    let briefing_path = root.join("briefing.md");
    let mut briefing_problem = None;
    let briefing = match yaml::read_file(&briefing_path, "briefing") {
        Ok(text) => text,
        Err(e) if briefing_path.exists() => {
            briefing_problem = Some(Diagnostic::from_parse(&briefing_path, e));
            String::new()
        }
        Err(_) => String::new(),
    };
    if briefing.trim().is_empty() && briefing_problem.is_none() {
        err(
            top,
            format!("briefing.md is missing or empty in {}", root.display()),
        );
    }
    let workspace = root.join("workspace");
    if !workspace.is_dir() {
        err(top, "the package has no workspace/ folder".into());
    }
    let bundle = s.bundle.is_some();
    let solution = root.join("solution");
    if !bundle && !solution.is_dir() {
        err(
            top,
            "the package has no solution/ folder (the reference fix laid over the workspace)"
                .into(),
        );
    }

    // Images.
    for img in &s.environment.images {
        if !ids.is_match(img) {
            err(
                img.pos,
                format!(
                    "image name `{}` must be lowercase letters, digits and dashes",
                    img.value
                ),
            );
        } else if !root
            .join("images")
            .join(&img.value)
            .join("Dockerfile")
            .is_file()
        {
            err(
                img.pos,
                format!(
                    "image `{}` has no images/{}/Dockerfile in the package",
                    img.value, img.value
                ),
            );
        }
    }

    // Compose file and the services it defines (Docker); manifests and the objects they
    // declare (Kubernetes).
    let docker = s.backends.contains(&BackendKind::Docker);
    let kube = s.backends.contains(&BackendKind::Kube);
    let mut services: Option<HashSet<String>> = None;
    let mut objects: Option<HashSet<String>> = None;
    let mut object_keys: HashSet<String> = HashSet::new();
    let mut compose_diags = Vec::new();
    if docker {
        let compose_rel = &s.environment.compose;
        match safe_join(&workspace, compose_rel) {
            Err(why) => err(
                compose_rel.pos,
                format!("environment.compose `{}` {why}", compose_rel.value),
            ),
            Ok(path) if !path.is_file() => err(
                compose_rel.pos,
                format!(
                    "environment.compose `{}` does not exist in workspace/",
                    compose_rel.value
                ),
            ),
            Ok(path) => {
                match compose::load(&workspace, &path, &compose::Unbounded) {
                    Ok(dep) => {
                        services = Some(dep.services.iter().map(|s| s.name.clone()).collect())
                    }
                    // Compose problems name the compose file, not scenario.yaml.
                    Err(ds) => compose_diags = ds,
                }
            }
        }
    }
    if kube {
        let rel = &s.environment.manifests;
        match safe_join(&workspace, rel) {
            Err(why) => err(
                rel.pos,
                format!("environment.manifests `{}` {why}", rel.value),
            ),
            Ok(path) if !path.is_dir() => err(
                rel.pos,
                format!(
                    "environment.manifests `{}` is not a folder in workspace/ (the kube backend applies the manifests in it)",
                    rel.value
                ),
            ),
            Ok(path) => match crate::manifests::load(
                &workspace,
                &path,
                &crate::manifests::KubeCeiling::unlimited(),
            ) {
                Ok(ms) => {
                    object_keys = ms.iter().map(|m| m.key()).collect();
                    objects = Some(ms.into_iter().map(|m| m.name).collect());
                }
                Err(ds) => compose_diags.extend(ds),
            },
        }
    }
    let service_ref =
        |svc: &crate::yaml::Located<String>, what: &str, err: &mut dyn FnMut(Pos, String)| {
            for (known, file) in [(&services, "the compose file"), (&objects, "no manifest")] {
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
        };

    // Checks.
    if s.checks.is_empty() && !bundle {
        err(top, "checks: a scenario needs at least one check".into());
    }
    let mut seen = HashSet::new();
    for c in &s.checks {
        let label = format!("check `{}`", c.id.value);
        if !ids.is_match(&c.id) {
            err(
                c.id.pos,
                format!(
                    "check id `{}` must be lowercase letters, digits and dashes",
                    c.id.value
                ),
            );
        }
        if !seen.insert(c.id.value.clone()) {
            err(c.id.pos, format!("check id `{}` is used twice", c.id.value));
        }
        match (&c.points, &c.penalty) {
            (None, None) => err(
                c.id.pos,
                format!("{label} needs `points` (scored) or `penalty` (a guard)"),
            ),
            (Some(p), Some(_)) => err(
                p.pos,
                format!(
                    "{label} has both `points` and `penalty`; a check is scored or a guard, not both"
                ),
            ),
            (Some(p), None) if p.value == 0 => {
                err(p.pos, format!("{label}: points must be positive"))
            }
            (None, Some(p)) if p.value == 0 => {
                err(p.pos, format!("{label}: penalty must be positive"))
            }
            _ => {}
        }
        if !competencies.contains(&c.competency.value) {
            err(
                c.competency.pos,
                format!(
                    "{label}: competency `{}` is not one of the scenario's competencies",
                    c.competency.value
                ),
            );
        }
        if let Some(svc) = c.kind.service() {
            service_ref(svc, &label, &mut err);
        }
        for b in s.backends.iter() {
            if !c.kind.backends().contains(b) {
                let on: Vec<String> = c.kind.backends().iter().map(|b| b.to_string()).collect();
                err(
                    c.id.pos,
                    format!(
                        "{label}: kind `{}` runs on the {} backend only, and the scenario declares `{b}`",
                        c.kind.name(),
                        on.join(" and ")
                    ),
                );
            }
        }
        match &c.kind {
            CheckKind::PodsReady(k) => {
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
            CheckKind::ObjectFields(k) => {
                match k.object.value.split_once('/') {
                    Some((kind, name)) if crate::manifests::kind_by_name(kind).is_some() => {
                        let info = crate::manifests::kind_by_name(kind)
                            .map(|i| i.kind)
                            .unwrap_or(kind);
                        if kube
                            && !object_keys.is_empty()
                            && !object_keys.contains(&format!("{info}/{name}"))
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
                            format!(
                                "{label}: `exists: false` cannot be combined with a value predicate"
                            ),
                        );
                    }
                }
            }
            CheckKind::Events(k) => {
                if k.forbid.is_empty() {
                    err(
                        c.id.pos,
                        format!("{label}: forbid: list at least one event reason"),
                    );
                }
                if k.window.0.is_zero() {
                    err(k.window.pos, format!("{label}: window must be above zero"));
                }
            }
            CheckKind::StaysRunning(k) if k.window.0.is_zero() => {
                err(k.window.pos, format!("{label}: window must be above zero"))
            }
            CheckKind::Http(k) => {
                if k.port.value == 0 {
                    err(k.port.pos, format!("{label}: port must be 1-65535"));
                }
                if !k.path.starts_with('/') {
                    err(k.path.pos, format!("{label}: path must start with `/`"));
                }
                if let Some(hold) = &k.hold
                    && hold.0.is_zero()
                {
                    err(hold.pos, format!("{label}: hold must be above zero"));
                }
                if let Some(re) = &k.body_matches
                    && let Err(e) = Regex::new(re)
                {
                    err(
                        re.pos,
                        format!(
                            "{label}: body-matches is not a valid regular expression ({})",
                            regex_problem(&e)
                        ),
                    );
                }
            }
            CheckKind::Exec(k) => {
                if k.command.is_empty() {
                    err(c.id.pos, format!("{label}: command is empty"));
                }
                if let Some(re) = &k.output_matches
                    && let Err(e) = Regex::new(re)
                {
                    err(
                        re.pos,
                        format!(
                            "{label}: output-matches is not a valid regular expression ({})",
                            regex_problem(&e)
                        ),
                    );
                }
            }
            CheckKind::HttpStream(k) => validate_stream(k, &label, &mut err),
            CheckKind::PrometheusAlert(k) => {
                service_ref(&k.prometheus.service, &label, &mut err);
                service_ref(&k.receiver.service, &label, &mut err);
                for (port, path) in [
                    (&k.control.port, &k.control.path),
                    (&k.prometheus.port, &k.prometheus.path),
                    (&k.receiver.port, &k.receiver.path),
                ] {
                    if port.value == 0 {
                        err(port.pos, format!("{label}: port must be 1-65535"));
                    }
                    if !path.starts_with('/') {
                        err(path.pos, format!("{label}: path must start with `/`"));
                    }
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
            CheckKind::ContainerConfig(k) => {
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
                        c.id.pos,
                        format!("{label}: container-config needs at least one predicate"),
                    );
                }
                if let Some(name) = &k.runs_image {
                    scenario_image_ref(s, name, &format!("{label}: runs-image"), &mut err);
                }
                if let Some(cmd) = &k.runs_command {
                    if k.runs_image.is_none() {
                        err(
                            cmd.pos,
                            format!(
                                "{label}: runs-command needs runs-image (the image it runs in)"
                            ),
                        );
                    }
                    if cmd.is_empty() {
                        err(cmd.pos, format!("{label}: runs-command is empty"));
                    }
                }
                if let Some(h) = &k.healthcheck_probes {
                    match (&h.port, &h.path) {
                        (None, None) => err(
                            c.id.pos,
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
            CheckKind::ServedBy(k) => {
                service_ref(&k.upstream, &format!("{label}: upstream"), &mut err);
                scenario_image_ref(s, &k.image, &format!("{label}: image"), &mut err);
                if k.port.value == 0 {
                    err(k.port.pos, format!("{label}: port must be 1-65535"));
                }
                if !k.path.starts_with('/') {
                    err(k.path.pos, format!("{label}: path must start with `/`"));
                }
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
                if let Some(re) = &k.body_matches
                    && let Err(e) = Regex::new(re)
                {
                    err(
                        re.pos,
                        format!(
                            "{label}: body-matches is not a valid regular expression ({})",
                            regex_problem(&e)
                        ),
                    );
                }
            }
            CheckKind::Pipeline(k) => {
                repository_ref(&workspace, &k.repository, &label, &mut err);
                if k.timeout.0.is_zero() {
                    err(c.id.pos, format!("{label}: timeout must be above zero"));
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
                    for (what, re) in [("matches", &log.matches), ("not-matches", &log.not_matches)]
                    {
                        if let Some(re) = re
                            && let Err(e) = Regex::new(re)
                        {
                            err(
                                re.pos,
                                format!(
                                    "{label}: {what} is not a valid regular expression ({})",
                                    regex_problem(&e)
                                ),
                            );
                        }
                    }
                }
                for a in &k.artifact_one_of {
                    if let Err(why) = safe_join(&workspace, a) {
                        err(a.pos, format!("{label}: artifact `{}` {why}", a.value));
                    }
                }
            }
            CheckKind::PipelineConfig(k) => {
                repository_ref(&workspace, &k.repository, &label, &mut err);
                if k.gating_jobs.is_empty() {
                    err(c.id.pos, format!("{label}: gating-jobs names no job"));
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
                    if let Err(why) = safe_join(&workspace, f) {
                        err(f.pos, format!("{label}: forbid-files `{}` {why}", f.value));
                    }
                }
            }
            CheckKind::Image(k) => {
                let any = k.non_root.is_some()
                    || k.max_size.is_some()
                    || k.has_healthcheck.is_some()
                    || k.max_layers.is_some();
                if !any {
                    err(
                        c.id.pos,
                        format!("{label}: image needs at least one predicate"),
                    );
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
            CheckKind::MarkdownSections(k) => {
                if let Err(why) = safe_join(&workspace, &k.file) {
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
                        c.id.pos,
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
            CheckKind::AnsibleConverged(k) => {
                if k.playbook.trim().is_empty() {
                    err(k.playbook.pos, format!("{label}: playbook is empty"));
                }
                if k.hosts.is_empty() {
                    err(
                        c.id.pos,
                        format!("{label}: hosts: name the inventory hosts the recap must show"),
                    );
                }
                if k.timeout.0.is_zero() {
                    err(c.id.pos, format!("{label}: timeout must be above zero"));
                }
                if let Some(d) = &k.disturb {
                    if !k.apply {
                        err(
                            d.service.pos,
                            format!(
                                "{label}: disturb needs `apply: true` (the apply reverts the edit)"
                            ),
                        );
                    }
                    if d.command.is_empty() {
                        err(
                            d.service.pos,
                            format!("{label}: disturb's command is empty"),
                        );
                    }
                    service_ref(&d.service, &label, &mut err);
                }
                if let Some(h) = &k.expect_http {
                    if !k.apply {
                        err(
                            h.service.pos,
                            format!(
                                "{label}: expect-http needs `apply: true` (it asks after the apply)"
                            ),
                        );
                    }
                    if h.port.value == 0 {
                        err(
                            h.port.pos,
                            format!("{label}: expect-http port must be 1-65535"),
                        );
                    }
                    if !h.path.starts_with('/') {
                        err(
                            h.path.pos,
                            format!("{label}: expect-http path must start with `/`"),
                        );
                    }
                    if let Some(re) = &h.body_matches
                        && let Err(e) = Regex::new(re)
                    {
                        err(
                            re.pos,
                            format!(
                                "{label}: expect-http body-matches is not a valid regular expression ({})",
                                regex_problem(&e)
                            ),
                        );
                    }
                    service_ref(&h.service, &label, &mut err);
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
                    service_ref(&r.service, &label, &mut err);
                }
            }
            _ => {}
        }
    }

    // The workspace's git repository.
    if let Some(repo) = &s.environment.repository {
        if !Regex::new(r"^[^<>]+ <[^<>@\s]+@[^<>\s]+>$").is_ok_and(|re| re.is_match(&repo.author)) {
            err(
                repo.author.pos,
                format!(
                    "repository.author `{}` must read `Name <email>`",
                    repo.author.value
                ),
            );
        }
        if !Regex::new(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")
            .is_ok_and(|re| re.is_match(&repo.branch))
            || repo.branch.contains("..")
        {
            err(
                repo.branch.pos,
                format!(
                    "repository.branch `{}` is not a usable branch name",
                    repo.branch.value
                ),
            );
        }
        if repo.message.trim().is_empty() {
            err(top, "repository.message is empty".into());
        }
        for h in &repo.history {
            match safe_join(root, &h.files) {
                Err(why) => err(
                    h.files.pos,
                    format!("repository.history files `{}` {why}", h.files.value),
                ),
                Ok(dir) if !dir.is_dir() => err(
                    h.files.pos,
                    format!(
                        "repository.history files `{}` is not a folder of the package",
                        h.files.value
                    ),
                ),
                Ok(dir) => {
                    for rel in files_under(&dir) {
                        if !workspace.join(&rel).is_file() {
                            err(
                                h.files.pos,
                                format!(
                                    "repository.history files `{}` holds {}, which workspace/ does not have (history may only change files the workspace ships)",
                                    h.files.value,
                                    rel.display()
                                ),
                            );
                        }
                    }
                }
            }
            if h.message.trim().is_empty() {
                err(
                    h.files.pos,
                    "a repository.history commit has an empty message".into(),
                );
            }
        }
    }
    if s.max_score_is_zero() && !bundle {
        err(
            top,
            "checks: no check awards points, so no score can be computed".into(),
        );
    }

    // The ceiling: a value that does not read would silently fall back to its default.
    let ceiling = &s.environment.ceiling;
    if let Some(m) = &ceiling.memory
        && compose::parse_size(m).is_none()
    {
        err(
            m.pos,
            format!(
                "environment.ceiling.memory `{}` is not a size; write it like `1g` or `512m`",
                m.value
            ),
        );
    }
    if let Some(c) = &ceiling.cpus
        && !(c.value.is_finite() && c.value > 0.0)
    {
        err(c.pos, "environment.ceiling.cpus must be above 0".into());
    }
    if let Some(p) = &ceiling.pids
        && p.value <= 0
    {
        err(p.pos, "environment.ceiling.pids must be above 0".into());
    }
    for v in &ceiling.env {
        if !crate::ceiling::is_startup_var(v) {
            err(
                v.pos,
                format!(
                    "environment.ceiling.env `{}` is not a start-up variable; any other variable may be set without it",
                    v.value
                ),
            );
        }
    }

    // Broken state.
    if s.environment.broken_when.failing.is_empty() && !bundle {
        err(top, "environment.broken-when.failing: name at least one check that fails in the broken state".into());
    }
    for id in &s.environment.broken_when.failing {
        if !s.checks.iter().any(|c| c.id.value == id.value) {
            err(
                id.pos,
                format!(
                    "environment.broken-when names check `{}`, which does not exist",
                    id.value
                ),
            );
        }
    }

    // Faults and solution steps.
    for f in &s.faults {
        service_ref(f.action.service(), "fault", &mut err);
    }
    for a in &s.solution.steps {
        service_ref(a.service(), "solution step", &mut err);
    }

    // Hints and interviewer material.
    if s.hints.is_empty() && !bundle {
        err(top, "hints: give at least one hint".into());
    }
    for (i, h) in s.hints.iter().enumerate() {
        if h.cost.value == 0 {
            err(h.cost.pos, format!("hint {}: cost must be positive", i + 1));
        }
    }
    if s.follow_ups.is_empty() && !bundle {
        err(
            top,
            "follow-ups: give the interviewer at least one question".into(),
        );
    }
    if (s.rubric.strong_signals.is_empty() || s.rubric.red_flags.is_empty()) && !bundle {
        err(top, "rubric: list strong-signals and red-flags".into());
    }
    diags.extend(compose_diags);
    diags.extend(briefing_problem);
    briefing
}

impl Scenario {
    fn max_score_is_zero(&self) -> bool {
        self.checks.iter().all(|c| c.points.is_none())
    }
}

impl super::Action {
    pub fn service(&self) -> &crate::yaml::Located<String> {
        match self {
            super::Action::Exec(e) => &e.service,
            super::Action::Restart(r) => &r.service,
        }
    }
}

/// The most answers a `served-by` check asks for (each is one probe request and a log read).
const MAX_SERVED_REQUESTS: u32 = 20;

/// `name` must be one of the images the scenario builds: only those are the interviewer's.
fn scenario_image_ref(
    s: &Scenario,
    name: &crate::yaml::Located<String>,
    what: &str,
    err: &mut dyn FnMut(Pos, String),
) {
    if !s.environment.images.iter().any(|i| i.value == name.value) {
        let known: Vec<&str> = s
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

/// The most requests one stream may send (its output must fit what an exec returns).
const MAX_STREAM_REQUESTS: u32 = 300;
/// The longest a stream may take if every request times out.
const MAX_STREAM_WORST_CASE: std::time::Duration = std::time::Duration::from_secs(300);

fn validate_stream(k: &super::HttpStreamCheck, label: &str, err: &mut dyn FnMut(Pos, String)) {
    if k.port.value == 0 {
        err(k.port.pos, format!("{label}: port must be 1-65535"));
    }
    if !k.path.starts_with('/') {
        err(k.path.pos, format!("{label}: path must start with `/`"));
    }
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

/// Regular files under `dir`, relative to it, sorted.
pub(crate) fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(dir.join(&rel)) else {
            continue;
        };
        for e in rd.filter_map(Result::ok) {
            let Ok(ft) = e.file_type() else { continue };
            let child = rel.join(e.file_name());
            if ft.is_dir() {
                stack.push(child);
            } else if ft.is_file() {
                out.push(child);
            }
        }
        if out.len() > 10_000 {
            break;
        }
    }
    out.sort();
    out
}

/// The regex crate's explanation, without its own `error:` prefix and caret drawing.
fn regex_problem(e: &regex::Error) -> String {
    let text = e.to_string();
    let last = text.lines().last().unwrap_or_default().trim();
    last.strip_prefix("error: ").unwrap_or(last).to_string()
}

/// Joins a path written in the package onto `base`, refusing absolute paths and `..`.
pub fn safe_join(base: &Path, rel: &str) -> Result<PathBuf, &'static str> {
    let p = Path::new(rel);
    if p.is_absolute() {
        return Err("must be a relative path inside the package");
    }
    if p.components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err("leaves the package (`..` is not allowed)");
    }
    Ok(base.join(p))
}

/// A diagnostic for each link in the package that leaves it (or is broken).
fn link_diagnostics(root: &Path) -> Vec<Diagnostic> {
    escaping_links(root)
        .into_iter()
        .map(|(p, why)| Diagnostic::at(&p, Pos::default(), why))
        .collect()
}

/// The most files and folders a package may hold (they are all checked for links).
const MAX_PACKAGE_ENTRIES: usize = 10_000;

/// Symbolic links anywhere in the package that point outside it.
fn escaping_links(root: &Path) -> Vec<(PathBuf, &'static str)> {
    let mut out = Vec::new();
    let Ok(real_root) = root.canonicalize() else {
        return out;
    };
    let mut stack = vec![root.to_path_buf()];
    let mut visited = 0usize;
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.filter_map(Result::ok) {
            visited += 1;
            if visited > MAX_PACKAGE_ENTRIES {
                // Unchecked entries could hide a link, so the package is refused.
                out.push((
                    root.to_path_buf(),
                    "holds more than 10000 files and folders; breakfix checks no more",
                ));
                return out;
            }
            let path = e.path();
            let Ok(ft) = e.file_type() else { continue };
            if ft.is_symlink() {
                match path.canonicalize() {
                    Ok(t) if t.starts_with(&real_root) => {}
                    Ok(_) => out.push((path, "is a link that leaves the package")),
                    Err(_) => out.push((path, "is a broken link")),
                }
            } else if ft.is_dir() {
                stack.push(path);
            }
        }
    }
    out.sort();
    out
}
