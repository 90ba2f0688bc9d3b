//! Loading a scenario package from disk and validating it: schema (through serde, unknown
//! fields refused) and references (checks name services that exist, files exist inside the
//! package, points are positive...). Every problem is collected with its position.

use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

use regex::Regex;

use super::check_rules::{Known, check_kind};
use super::syntax::safe_join;
use super::{BackendKind, Fix, FixExpectation, FixSpec, Package, Scenario, variables};
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
fn load_fixes(root: &Path, sc: &Scenario, diags: &mut Vec<Diagnostic>) -> Vec<Fix> {
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
            if !sc.checks.iter().any(|c| c.id.value == id.value) {
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
fn validate(root: &Path, file: &Path, sc: &Scenario, diags: &mut Vec<Diagnostic>) -> String {
    let mut err = |pos: Pos, msg: String| diags.push(Diagnostic::at(file, pos, msg));
    let workspace = root.join("workspace");
    identity(root, sc, &mut err);
    let (briefing, briefing_problem) = package_files(root, sc, &mut err);
    images(root, sc, &mut err);
    let (known, compose_diags) = workspace_model(sc, &workspace, &mut err);
    checks(sc, &known, &mut err);
    repository(root, &workspace, sc, &mut err);
    ceiling(sc, &mut err);
    broken_state(sc, &mut err);
    for f in &sc.faults {
        known.service_ref(f.action.service(), "fault", &mut err);
    }
    for a in &sc.solution.steps {
        known.service_ref(a.service(), "solution step", &mut err);
    }
    material(sc, &mut err);
    diags.extend(compose_diags);
    diags.extend(briefing_problem);
    briefing
}

/// Where a problem of the whole file is reported.
const TOP: Pos = Pos { line: 1, column: 1 };

/// The scenario's id, title, competencies, time limit and backends.
fn identity(root: &Path, sc: &Scenario, err: &mut dyn FnMut(Pos, String)) {
    let ids = id_pattern();
    if !ids.is_match(&sc.id) {
        err(
            sc.id.pos,
            format!(
                "id `{}` must be lowercase letters, digits and dashes (at most 48)",
                sc.id.value
            ),
        );
    }
    if let Some(folder) = root
        .canonicalize()
        .ok()
        .and_then(|r| r.file_name().map(|f| f.to_string_lossy().into_owned()))
        && folder != sc.id.value
    {
        err(
            sc.id.pos,
            format!(
                "id `{}` must equal the package folder's name `{folder}`",
                sc.id.value
            ),
        );
    }
    if sc.title.trim().is_empty() {
        err(TOP, "title is empty".into());
    }
    if sc.competencies.is_empty() {
        err(
            TOP,
            "competencies: list at least one rubric competency".into(),
        );
    }
    if sc.time_limit.0.is_zero() {
        err(sc.time_limit.pos, "time-limit must be above zero".into());
    }
    if sc.backends.is_empty() {
        err(
            sc.backends.pos,
            "backends: list at least one backend".into(),
        );
    }
}

/// The briefing (returned, with the problem reading it), the workspace and solution folders.
fn package_files(
    root: &Path,
    sc: &Scenario,
    err: &mut dyn FnMut(Pos, String),
) -> (String, Option<Diagnostic>) {
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
            TOP,
            format!("briefing.md is missing or empty in {}", root.display()),
        );
    }
    let workspace = root.join("workspace");
    if !workspace.is_dir() {
        err(TOP, "the package has no workspace/ folder".into());
    }
    let bundle = sc.bundle.is_some();
    let solution = root.join("solution");
    if !bundle && !solution.is_dir() {
        err(
            TOP,
            "the package has no solution/ folder (the reference fix laid over the workspace)"
                .into(),
        );
    }

    (briefing, briefing_problem)
}

/// The scenario's images: a Dockerfile for each.
fn images(root: &Path, sc: &Scenario, err: &mut dyn FnMut(Pos, String)) {
    let ids = id_pattern();
    for img in &sc.environment.images {
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
}

/// The compose file and the services it defines (Docker); the manifests and the objects
/// they declare (Kubernetes). Their own problems name their own files.
fn workspace_model<'a>(
    s: &'a Scenario,
    workspace: &'a Path,
    err: &mut dyn FnMut(Pos, String),
) -> (Known<'a>, Vec<Diagnostic>) {
    let docker = s.backends.contains(&BackendKind::Docker);
    let kube = s.backends.contains(&BackendKind::Kube);
    let mut services: Option<HashSet<String>> = None;
    let mut objects: Option<HashSet<String>> = None;
    let mut object_keys: HashSet<String> = HashSet::new();
    let mut compose_diags = Vec::new();
    if docker {
        let compose_rel = &s.environment.compose;
        match safe_join(workspace, compose_rel) {
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
                match compose::load(workspace, &path, &compose::Unbounded) {
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
        match safe_join(workspace, rel) {
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
                workspace,
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
    let known = Known {
        scenario: s,
        workspace,
        services,
        objects,
        object_keys,
        kube,
    };
    (known, compose_diags)
}

/// The rules every check shares, then its kind's own ([`check_kind`]).
fn checks(sc: &Scenario, known: &Known, err: &mut dyn FnMut(Pos, String)) {
    let ids = id_pattern();
    let bundle = sc.bundle.is_some();
    let competencies: BTreeSet<_> = sc.competencies.iter().map(|c| c.value).collect();
    if sc.checks.is_empty() && !bundle {
        err(TOP, "checks: a scenario needs at least one check".into());
    }
    let mut seen = HashSet::new();
    for c in &sc.checks {
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
            known.service_ref(svc, &label, err);
        }
        for b in sc.backends.iter() {
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
        check_kind(c, &label, known, err);
    }

    if sc.max_score_is_zero() && !bundle {
        err(
            TOP,
            "checks: no check awards points, so no score can be computed".into(),
        );
    }
}

/// The workspace's git repository: author, branch, message, and the history's files.
fn repository(root: &Path, workspace: &Path, sc: &Scenario, err: &mut dyn FnMut(Pos, String)) {
    if let Some(repo) = &sc.environment.repository {
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
            err(TOP, "repository.message is empty".into());
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
}

/// The ceiling: a value that does not read would silently fall back to its default.
fn ceiling(sc: &Scenario, err: &mut dyn FnMut(Pos, String)) {
    let ceiling = &sc.environment.ceiling;
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
}

/// The broken state names checks that exist.
fn broken_state(sc: &Scenario, err: &mut dyn FnMut(Pos, String)) {
    let bundle = sc.bundle.is_some();
    if sc.environment.broken_when.failing.is_empty() && !bundle {
        err(TOP, "environment.broken-when.failing: name at least one check that fails in the broken state".into());
    }
    for id in &sc.environment.broken_when.failing {
        if !sc.checks.iter().any(|c| c.id.value == id.value) {
            err(
                id.pos,
                format!(
                    "environment.broken-when names check `{}`, which does not exist",
                    id.value
                ),
            );
        }
    }
}

/// Hints and what the interviewer is given.
fn material(sc: &Scenario, err: &mut dyn FnMut(Pos, String)) {
    let bundle = sc.bundle.is_some();
    if sc.hints.is_empty() && !bundle {
        err(TOP, "hints: give at least one hint".into());
    }
    for (i, h) in sc.hints.iter().enumerate() {
        if h.cost.value == 0 {
            err(h.cost.pos, format!("hint {}: cost must be positive", i + 1));
        }
    }
    if sc.follow_ups.is_empty() && !bundle {
        err(
            TOP,
            "follow-ups: give the interviewer at least one question".into(),
        );
    }
    if (sc.rubric.strong_signals.is_empty() || sc.rubric.red_flags.is_empty()) && !bundle {
        err(TOP, "rubric: list strong-signals and red-flags".into());
    }
    for (i, p) in sc.rubric.process_signals.iter().enumerate() {
        if let Err(e) = Regex::new(&p.when.value) {
            err(
                p.when.pos,
                format!(
                    "rubric.process-signals[{i}].when is not a valid regular expression ({})",
                    super::syntax::regex_problem(&e)
                ),
            );
        }
    }
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
