//! Assessment plans: `start --plan`, `next`, `assessment`, `list --plans`.

use super::session::{PlanLink, start};
use super::*;

/// Loads a plan by id (from the plans folder) or path, checking its scenarios exist.
pub(super) fn load_plan(
    plans: &Path,
    scenarios: &Path,
    arg: &str,
) -> Result<crate::plan::Plan, EngineError> {
    let p = PathBuf::from(arg);
    let file = if p.is_file() {
        p
    } else {
        plans.join(format!("{arg}.yaml"))
    };
    if !file.is_file() {
        return Err(crate::plan::PlanError::NotFound {
            id: arg.into(),
            dir: plans.to_path_buf(),
            known: crate::plan::files(plans)
                .into_iter()
                .map(|(id, _)| id)
                .collect(),
        }
        .into());
    }
    let time = |id: &str| {
        scenario::load(&scenarios.join(id))
            .ok()
            .map(|pkg| pkg.scenario.time_limit.0.as_secs())
    };
    Ok(crate::plan::load(&file, &time)?)
}
/// Starts the plan's scenario number `step` (0-based) for an assessment.
pub(super) async fn start_step(
    g: &G,
    plan: &crate::plan::Plan,
    a: &crate::plan::Assessment,
    step: usize,
    json: bool,
) -> CmdResult {
    let seed = crate::scenario::variables::random_seed();
    let pkg = find_package_seeded(&g.scenarios, &plan.scenarios[step], Some(&seed))?;
    let kind = pkg
        .scenario
        .backends
        .first()
        .copied()
        .unwrap_or(BackendKind::Docker);
    let eng = engine(&g.state_dir, &g.scenarios, kind, &g.context).await?;
    let link = PlanLink {
        assessment: a.id.clone(),
        title: plan.title.clone(),
        step,
        of: plan.scenarios.len(),
    };
    start(&eng, &pkg, a.candidate.clone(), None, json, Some(link)).await
}
/// The sessions of an assessment with their last grades, combined.
pub(super) fn assessment_report(
    store: &Store,
    plans: &Path,
    scenarios: &Path,
    a: &crate::plan::Assessment,
) -> Result<crate::plan::AssessmentReport, EngineError> {
    let plan_file = if a.plan_file.is_file() {
        a.plan_file.to_string_lossy().into_owned()
    } else {
        a.plan.clone()
    };
    let plan = load_plan(plans, scenarios, &plan_file)?;
    let mut reports = vec![];
    for sid in &a.sessions {
        let live = store.load(sid).is_ok_and(|s| s.is_live());
        let r = match engine::last_report(store, sid) {
            Ok(r) => Some(r),
            Err(EngineError::NeverGraded { .. }) => None,
            Err(e) => return Err(e),
        };
        reports.push((sid.clone(), live, r));
    }
    let taken: Vec<crate::plan::Taken> = reports
        .iter()
        .map(|(sid, live, r)| crate::plan::Taken {
            session: sid,
            live: *live,
            report: r.as_ref(),
        })
        .collect();
    Ok(crate::plan::combine(&plan, a, &taken))
}
pub(super) fn list_plans(plans: &Path, scenarios: &Path, json: bool) -> CmdResult {
    let mut out = vec![];
    for (id, file) in crate::plan::files(plans) {
        match load_plan(plans, scenarios, &file.to_string_lossy()) {
            Ok(p) => out.push(p),
            Err(e) => note!("skipping plan {id}: failed to {e}"),
        }
    }
    if json {
        print_json(&out);
        return Ok(exit::OK);
    }
    for p in &out {
        println!(
            "{:<22} {:<34} {:>7}  {}",
            p.id,
            p.title,
            humantime::format_duration(std::time::Duration::from_secs(p.time_budget_secs))
                .to_string(),
            p.scenarios.join(" → ")
        );
    }
    if out.is_empty() {
        note!("no plans in {}", plans.display());
    }
    Ok(exit::OK)
}
/// A path that names a plan file rather than a scenario package.
pub(super) fn is_plan_file(p: &Path) -> bool {
    p.is_file()
        && p.extension().is_some_and(|x| x == "yaml")
        && p.file_name().is_some_and(|n| n != "scenario.yaml")
}

/// `start --plan`: a new assessment, and its first scenario started.
pub(super) async fn start_plan(
    g: &G,
    plan: &str,
    candidate: Option<String>,
    json: bool,
) -> CmdResult {
    let plan = load_plan(&g.plans, &g.scenarios, plan)?;
    let store = g.store()?;
    let a = crate::plan::create(&store, &plan, candidate)?;
    note!(
        "assessment {} ({}: {} scenario(s), {} in all)",
        a.id,
        plan.title,
        plan.scenarios.len(),
        humantime::format_duration(std::time::Duration::from_secs(plan.time_budget_secs))
    );
    start_step(g, &plan, &a, 0, json).await
}

/// `next`: grades and stops the assessment's current session, then starts the next one (or
/// shows the combined result when the plan is done).
pub(super) async fn next(g: &G, assessment: Option<String>, json: bool) -> CmdResult {
    let store = g.store()?;
    let mut a = crate::plan::resolve(&store, assessment.as_deref())?;
    let plan_arg = if a.plan_file.is_file() {
        a.plan_file.to_string_lossy().into_owned()
    } else {
        a.plan.clone()
    };
    let plan = load_plan(&g.plans, &g.scenarios, &plan_arg)?;
    if let Some(current) = a.sessions.last().cloned()
        && store.load(&current)?.status == Status::Ready
    {
        let (eng, id) = g.session(Some(current)).await?;
        note!("grading {id}");
        let r = eng.grade(&id, Scope::All).await?;
        note!("{id}: {} / {} ({}%)", r.score, r.max_score, r.percent);
        eng.stop(&id).await?;
        note!("stopped {id}");
    }
    let step = a.sessions.len();
    if step < plan.scenarios.len() {
        return start_step(g, &plan, &a, step, json).await;
    }
    a.finished = true;
    crate::plan::save(&store, &a)?;
    let r = assessment_report(&store, &g.plans, &g.scenarios, &a)?;
    if json {
        print_json(&r);
    } else {
        print!(
            "{}",
            crate::report::assessment::render(&r, crate::report::assessment::PlanFormat::Text)
        );
        note!(
            "assessment {} is complete; `breakfix assessment {} --format html -o report.html` writes the combined report",
            a.id,
            a.id
        );
    }
    Ok(exit::OK)
}

/// `assessment`: the combined report of an assessment.
pub(super) fn assessment(
    g: &G,
    assessment: Option<String>,
    format: crate::report::assessment::PlanFormat,
    output: Option<PathBuf>,
) -> CmdResult {
    let store = g.store()?;
    let a = crate::plan::resolve(&store, assessment.as_deref())?;
    let r = assessment_report(&store, &g.plans, &g.scenarios, &a)?;
    let text = crate::report::assessment::render(&r, format);
    match output {
        Some(path) => {
            crate::session::write_atomic(&path, text.as_bytes())?;
            note!("combined report written to {}", path.display());
        }
        None => print!("{text}"),
    }
    Ok(if r.complete {
        exit::OK
    } else {
        exit::CHECKS_ERRORED
    })
}
