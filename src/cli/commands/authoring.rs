//! For scenario authors: `schema`, `validate`, `build`, `verify`, `list` (the catalog).

use super::assessment::{is_plan_file, load_plan};
use super::*;

/// Each package, and each parameterised one once per seed: the seeds given, or enough that
/// every value of every variable is chosen at least once.
pub(super) fn seeded(pkgs: Vec<Package>, seeds: &[String]) -> Result<Vec<Package>, EngineError> {
    use crate::scenario::variables;
    let mut out = vec![];
    for pkg in pkgs {
        if pkg.variant.is_none() || !pkg.source.join(variables::FILE).is_file() {
            out.push(pkg);
            continue;
        }
        let chosen = if seeds.is_empty() {
            let vars = variables::read(&pkg.source).map_err(|diagnostics| {
                scenario::LoadError::Invalid {
                    root: pkg.source.clone(),
                    diagnostics,
                }
            })?;
            variables::covering_seeds(&vars, pkg.id(), 2)
        } else {
            seeds.to_vec()
        };
        for seed in chosen {
            out.push(scenario::load_seeded(&pkg.source, Some(&seed))?);
        }
    }
    Ok(out)
}
/// The packages named, or every package in the scenarios folder when none is named.
pub(super) fn packages(scenarios: &Path, which: &[String]) -> Result<Vec<Package>, EngineError> {
    if which.is_empty() {
        let mut out = vec![];
        for p in scenario::load_all(scenarios) {
            out.push(p?);
        }
        return Ok(out);
    }
    which.iter().map(|w| find_package(scenarios, w)).collect()
}
pub(super) fn validate(scenarios: &Path, plans: &Path, paths: Vec<PathBuf>) -> CmdResult {
    let explicit = !paths.is_empty();
    let (plan_files, paths): (Vec<PathBuf>, Vec<PathBuf>) =
        paths.into_iter().partition(|p| is_plan_file(p));
    let plan_files = if !explicit {
        crate::plan::files(plans)
            .into_iter()
            .map(|(_, f)| f)
            .collect()
    } else {
        plan_files
    };
    let mut bad_plans = 0;
    for f in &plan_files {
        match load_plan(plans, scenarios, &f.to_string_lossy()) {
            Ok(p) => println!("ok      plan {} ({})", p.id, f.display()),
            Err(EngineError::Plan(crate::plan::PlanError::Invalid { diagnostics, .. })) => {
                bad_plans += 1;
                println!("invalid {} ({} problem(s))", f.display(), diagnostics.len());
                for x in &diagnostics {
                    note!("{x}");
                }
            }
            Err(e) => return Err(e),
        }
    }
    if paths.is_empty() && explicit {
        return Ok(if bad_plans == 0 {
            exit::OK
        } else {
            exit::SCENARIO_INVALID
        });
    }
    let results: Vec<(PathBuf, Result<Package, scenario::LoadError>)> = if paths.is_empty() {
        let roots = scenario::package_roots(scenarios);
        if roots.is_empty() {
            note!(
                "error: failed to find scenario packages in {}",
                scenarios.display()
            );
            return Ok(exit::SCENARIO_INVALID);
        }
        roots
            .into_iter()
            .map(|r| (r.clone(), scenario::load(&r)))
            .collect()
    } else {
        paths
            .into_iter()
            .map(|p| {
                // A scenario id names a package in the scenarios folder.
                let p = if !p.exists() && scenarios.join(&p).join("scenario.yaml").is_file() {
                    scenarios.join(&p)
                } else {
                    p
                };
                (p.clone(), scenario::load(&p))
            })
            .collect()
    };
    let mut bad = 0;
    for (path, r) in &results {
        match r {
            Ok(pkg) => println!("ok      {} ({})", pkg.id(), path.display()),
            Err(e) => {
                bad += 1;
                let d = e.diagnostics();
                println!("invalid {} ({} problem(s))", path.display(), d.len());
                for x in d {
                    note!("{x}");
                }
            }
        }
    }
    Ok(if bad == 0 && bad_plans == 0 {
        exit::OK
    } else {
        exit::SCENARIO_INVALID
    })
}
/// The scenario catalog, filtered. Invalid packages are counted and named on stderr, so a
/// broken package is noticed rather than silently missing.
pub(super) fn catalog(
    scenarios: &Path,
    filter: &scenario::catalog::Filter,
    markdown: bool,
    json: bool,
) -> CmdResult {
    let mut rows = vec![];
    let mut invalid = 0;
    for root in scenario::package_roots(scenarios) {
        match scenario::load(&root) {
            Ok(p) => rows.push(scenario::catalog::Entry::of(&p, &root)),
            Err(e) => {
                invalid += 1;
                note!(
                    "warning: {} is invalid ({} problem(s)); `breakfix validate {}` shows them",
                    root.display(),
                    e.diagnostics().len(),
                    root.display()
                );
            }
        }
    }
    let all = rows.len();
    rows.retain(|e| filter.matches(e));
    if json {
        print_json(&rows);
    } else if markdown {
        print!("{}", scenario::catalog::markdown(&rows));
    } else if rows.is_empty() {
        if all == 0 {
            println!("no scenarios in {}", scenarios.display());
        } else {
            println!(
                "none of the {all} scenarios in {} matches",
                scenarios.display()
            );
        }
    } else {
        let w = rows.iter().map(|r| r.id.len()).max().unwrap_or(2);
        println!(
            "{:<w$}  {:<7} {:<6} {:<12} {:>8}  {:<40} TITLE",
            "ID", "LEVEL", "LIMIT", "BACKENDS", "VARIANTS", "COMPETENCIES"
        );
        let join = |v: Vec<String>| v.join(",");
        for r in &rows {
            println!(
                "{:<w$}  {:<7} {:<6} {:<12} {:>8}  {:<40} {}",
                r.id,
                crate::choice::Choice::name(r.difficulty),
                r.time_limit,
                join(r.backends.iter().map(|b| b.to_string()).collect()),
                r.variants,
                join(r.competencies.iter().map(|c| c.to_string()).collect()),
                r.title
            );
        }
    }
    Ok(if invalid == 0 {
        exit::OK
    } else {
        exit::SCENARIO_INVALID
    })
}
/// Proves every scenario on every backend it declares (or the one asked for). A backend that
/// cannot be reached is reported as skipped, never as proven.
pub(super) async fn verify(
    state_dir: &Option<PathBuf>,
    context: &Option<String>,
    scenarios: &Path,
    pkgs: &[Package],
    only: Option<BackendKind>,
    jobs: usize,
    json: bool,
) -> CmdResult {
    use futures_util::StreamExt;
    let mut all = vec![];
    let mut proven = true;
    let mut verified = 0;
    let mut engines: std::collections::HashMap<BackendKind, Result<Engine, String>> =
        std::collections::HashMap::new();
    let mut work = vec![];
    for pkg in pkgs {
        for &kind in pkg.scenario.backends.iter() {
            if only.is_some_and(|o| o != kind) {
                continue;
            }
            if let std::collections::hash_map::Entry::Vacant(slot) = engines.entry(kind) {
                slot.insert(match engine(state_dir, scenarios, kind, context).await {
                    Ok(e) => Ok(e),
                    Err(e) if e.is_unreachable() => Err(format!("failed to {e}")),
                    Err(e) => return Err(e),
                });
            }
            work.push((pkg, kind));
        }
    }
    // Several at once print each scenario's lines when it ends, without the build log.
    let jobs = jobs.max(1);
    let quiet = json || jobs > 1;
    let engines = &engines;
    // After a Ctrl-C nothing new starts, and the verifies under way tear down their sessions
    // before this returns.
    let interrupted = &std::sync::atomic::AtomicBool::new(false);
    let mut done = futures_util::stream::iter(work)
        .map(|(pkg, kind)| async move {
            if interrupted.load(std::sync::atomic::Ordering::SeqCst) {
                return Ok((pkg, kind, Verified::Interrupted));
            }
            let eng = match &engines[&kind] {
                Ok(eng) => eng,
                Err(why) => return Ok((pkg, kind, Verified::Skipped(why.clone()))),
            };
            verify_one(eng, pkg, kind, quiet)
                .await
                .map(|v| (pkg, kind, v))
        })
        .buffered(jobs);
    while let Some(outcome) = done.next().await {
        let (pkg, kind, v) = outcome?;
        let v = match v {
            Verified::Interrupted => {
                interrupted.store(true, std::sync::atomic::Ordering::SeqCst);
                continue;
            }
            Verified::Skipped(why) => {
                note!("skipping {} on {kind}: {why}", pkg.id());
                if !json {
                    println!("SKIP {} on {kind}: backend unreachable\n", pkg.id());
                }
                all.push(json!({
                    "scenario": pkg.id(), "backend": kind, "proven": false, "skipped": why,
                }));
                continue;
            }
            Verified::Done(v) => v,
        };
        if !json {
            for st in &v.steps {
                println!(
                    "{} {:<24} {:>6.1}s  {}",
                    if st.ok { "ok  " } else { "FAIL" },
                    st.step,
                    st.secs,
                    st.detail
                );
            }
            println!(
                "{}{} on {kind}: {}\n",
                pkg.id(),
                pkg.variant
                    .as_ref()
                    .map(|v| format!(" (seed {})", v.seed))
                    .unwrap_or_default(),
                if v.proven { "proven" } else { "NOT proven" }
            );
            if !v.proven {
                for r in [&v.broken, &v.fixed].into_iter().flatten() {
                    print!("{}", report::render(r, Format::Text));
                }
            }
        }
        verified += 1;
        proven &= v.proven;
        let mut entry = serde_json::to_value(&*v).unwrap_or_default();
        entry["backend"] = json!(kind);
        entry["seed"] = json!(pkg.variant.as_ref().map(|v| v.seed.clone()));
        all.push(entry);
    }
    if interrupted.load(std::sync::atomic::Ordering::SeqCst) {
        return Ok(exit::INTERRUPTED);
    }
    if json {
        print_json(&all);
    }
    Ok(if !proven {
        exit::CHECKS_FAILED
    } else if verified == 0 {
        note!("nothing was verified: no backend the scenarios declare could be reached");
        exit::BACKEND_UNREACHABLE
    } else {
        exit::OK
    })
}

/// How one scenario's verify on one backend ended.
enum Verified {
    Done(Box<crate::engine::Verification>),
    /// Its backend cannot be reached (why).
    Skipped(String),
    /// Ctrl-C: its session was torn down.
    Interrupted,
}

/// Verifies `pkg` on `kind` in a session of its own; on Ctrl-C the session is stopped.
async fn verify_one(
    eng: &Engine,
    pkg: &Package,
    kind: BackendKind,
    quiet: bool,
) -> Result<Verified, EngineError> {
    match &pkg.variant {
        Some(v) => note!(
            "verifying {} on {kind}, seed {} ({})",
            pkg.id(),
            v.seed,
            v.describe()
        ),
        None => note!("verifying {} on {kind}", pkg.id()),
    }
    let progress = Term::new(quiet);
    let mut session = eng.create(pkg, Some("breakfix verify".into()), None)?;
    let shown: &dyn crate::backend::Progress = if quiet { &Silent } else { &progress };
    match interruptible(eng.verify(pkg, &mut session, shown)).await {
        Some(v) => Ok(Verified::Done(Box::new(v?))),
        None => {
            // The session is live; gc would keep it, so stop it by name.
            if let Err(e) = eng.stop(&session.id).await {
                note!(
                    "warning: teardown of {} did not finish ({e}); run `breakfix stop {}`",
                    session.id,
                    session.id
                );
            }
            Ok(Verified::Interrupted)
        }
    }
}

/// `build`: every image of the scenarios named (or all), ahead of an interview day.
pub(super) async fn build(g: &G, which: &[String], backend: BackendKind) -> CmdResult {
    let pkgs = packages(&g.scenarios, which)?;
    let eng = engine(&g.state_dir, &g.scenarios, backend, &g.context).await?;
    let progress = Term::new(false);
    for pkg in &pkgs {
        eng.backend
            .prepare(&engine::images_for(pkg), &progress)
            .await?;
        println!("images of {} are ready", pkg.id());
    }
    Ok(exit::OK)
}
