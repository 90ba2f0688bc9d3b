//! Dispatch: turns parsed arguments into library calls and results into output and exit codes.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::json;

use super::progress::Term;
use super::signal::{interruptible, stop_signal};
use super::{Cli, ClusterAction, Command, ReportAction};
use crate::backend::docker::DockerBackend;
use crate::backend::kube::KubeBackend;
use crate::backend::{Backend, Progress, Silent};
use crate::engine::{self, Engine, EngineError};
use crate::exit;
use crate::grade::{Report, Scope};
use crate::report::{self, Format};
use crate::scenario::BackendKind;
use crate::scenario::{self, Package};
use crate::session::{SessionError, Status, Store};

mod candidate;
mod takehome;

type CmdResult = Result<i32, EngineError>;

/// A folder of the project's content: the flag, `./<name>`, or the one shipped beside the sources.
fn content_dir(flag: &Option<PathBuf>, name: &str) -> PathBuf {
    if let Some(d) = flag {
        return d.clone();
    }
    let here = PathBuf::from(name);
    if here.is_dir() {
        return here;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(name)
}

/// Where scenarios are: the flag, `./scenarios`, or the folder shipped beside the sources.
fn scenarios_dir(flag: &Option<PathBuf>) -> PathBuf {
    content_dir(flag, "scenarios")
}

/// Where plans are: the flag, `./plans`, or the folder shipped beside the sources.
fn plans_dir(flag: &Option<PathBuf>) -> PathBuf {
    content_dir(flag, "plans")
}

/// Loads a plan by id (from the plans folder) or path, checking its scenarios exist.
fn load_plan(plans: &Path, scenarios: &Path, arg: &str) -> Result<crate::plan::Plan, EngineError> {
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

/// Which assessment a session being started belongs to, and its place in the plan.
struct PlanLink {
    assessment: String,
    title: String,
    step: usize,
    of: usize,
}

/// Starts the plan's scenario number `step` (0-based) for an assessment.
async fn start_step(
    cli_state: &Option<PathBuf>,
    scenarios: &Path,
    context: &Option<String>,
    plan: &crate::plan::Plan,
    a: &crate::plan::Assessment,
    step: usize,
    json: bool,
) -> CmdResult {
    let seed = crate::scenario::variables::random_seed();
    let pkg = find_package_seeded(scenarios, &plan.scenarios[step], Some(&seed))?;
    let kind = pkg
        .scenario
        .backends
        .first()
        .copied()
        .unwrap_or(BackendKind::Docker);
    let eng = engine(cli_state, scenarios, kind, context).await?;
    let link = PlanLink {
        assessment: a.id.clone(),
        title: plan.title.clone(),
        step,
        of: plan.scenarios.len(),
    };
    start(&eng, &pkg, a.candidate.clone(), None, json, Some(link)).await
}

/// The sessions of an assessment with their last grades, combined.
fn assessment_report(
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

/// The project's `docker/` folder (bootstrap script, probe image) beside the scenarios.
fn assets_dir(scenarios: &Path) -> PathBuf {
    let beside = scenarios
        .canonicalize()
        .unwrap_or_else(|_| scenarios.to_path_buf())
        .parent()
        .map(|p| p.join("docker"));
    match beside {
        Some(d) if d.join("probe").is_dir() => d,
        _ => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docker"),
    }
}

/// A scenario argument: an existing path, or an id in the scenarios folder.
fn find_package(scenarios: &Path, arg: &str) -> Result<Package, EngineError> {
    find_package_seeded(scenarios, arg, None)
}

/// Like [`find_package`], rendering a parameterised scenario for `seed`.
fn find_package_seeded(
    scenarios: &Path,
    arg: &str,
    seed: Option<&str>,
) -> Result<Package, EngineError> {
    let p = PathBuf::from(arg);
    let path = if p.exists() { p } else { scenarios.join(arg) };
    if !path.exists() {
        let known: Vec<String> = scenario::load_all(scenarios)
            .into_iter()
            .filter_map(Result::ok)
            .map(|p| p.id().to_string())
            .collect();
        return Err(EngineError::Scenario(scenario::LoadError::Invalid {
            root: path.clone(),
            diagnostics: vec![scenario::Diagnostic::at(
                &path,
                Default::default(),
                format!(
                    "no scenario `{arg}` in {} (available: {})",
                    scenarios.display(),
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                ),
            )],
        }));
    }
    Ok(scenario::load_seeded(&path, seed)?)
}

fn print_error(e: &EngineError) {
    if e.is_unreachable() {
        // One sentence: what is wrong and what to do.
        note!(
            "error: failed to {}",
            match e {
                EngineError::Backend(b) => b.to_string(),
                other => other.to_string(),
            }
        );
        return;
    }
    print_chain(e);
}

/// `error: failed to …` and each cause on a line of its own.
fn print_chain(e: &dyn std::error::Error) {
    note!("error: failed to {e}");
    let mut src = e.source();
    while let Some(s) = src {
        note!("  caused by: {s}");
        src = s.source();
    }
}

fn code_for(e: &EngineError) -> i32 {
    match e {
        _ if e.is_unreachable() => exit::BACKEND_UNREACHABLE,
        EngineError::Scenario(_)
        | EngineError::Workspace { .. }
        | EngineError::Plan(crate::plan::PlanError::Invalid { .. })
        | EngineError::Backend(crate::backend::BackendError::Ceiling { .. }) => {
            exit::SCENARIO_INVALID
        }
        EngineError::Session(SessionError::Busy { .. }) => exit::SESSION_BUSY,
        EngineError::WrongBackend { .. } => exit::USAGE,
        _ => exit::FAILURE,
    }
}

fn report_code(r: &Report) -> i32 {
    if r.errors() > 0 {
        exit::CHECKS_ERRORED
    } else if r.passed() {
        exit::OK
    } else {
        exit::CHECKS_FAILED
    }
}

fn print_json(v: &impl serde::Serialize) {
    println!(
        "{}",
        serde_json::to_string_pretty(v).unwrap_or_else(|_| "null".into())
    );
}

pub async fn run(cli: Cli) -> i32 {
    match dispatch(cli).await {
        Ok(code) => code,
        Err(e) => {
            print_error(&e);
            code_for(&e)
        }
    }
}

fn open_store(state_dir: &Option<PathBuf>) -> Result<Store, EngineError> {
    Ok(Store::open(
        &state_dir.clone().unwrap_or_else(Store::default_dir),
    )?)
}

/// Connects to a backend ([`crate::backend::connect`]) with breakfix's assets found
/// beside the scenarios folder.
async fn connect(
    kind: BackendKind,
    context: &Option<String>,
    scenarios: &Path,
    runtime: Option<String>,
    runtime_is_new: bool,
) -> Result<Arc<dyn Backend>, EngineError> {
    Ok(crate::backend::connect(
        kind,
        context.clone(),
        assets_dir(scenarios),
        runtime,
        runtime_is_new,
    )
    .await?)
}

async fn engine(
    state_dir: &Option<PathBuf>,
    scenarios: &Path,
    kind: BackendKind,
    context: &Option<String>,
) -> Result<Engine, EngineError> {
    let store = open_store(state_dir)?;
    let backend = connect(kind, context, scenarios, None, false).await?;
    Ok(Engine { store, backend })
}

/// The engine for an existing session: the backend and context it was started on.
async fn session_engine(
    cli_state: &Option<PathBuf>,
    scenarios: &Path,
    context: &Option<String>,
    arg: Option<String>,
) -> Result<(Engine, String), EngineError> {
    let store = open_store(cli_state)?;
    let id = pick_session(&store, arg)?;
    let s = store.load(&id)?;
    let context = s.context.clone().or_else(|| context.clone());
    let backend = connect(s.backend, &context, scenarios, s.runtime.clone(), false).await?;
    Ok((Engine { store, backend }, id))
}

/// The session to act on: the one named, or the only live one.
fn pick_session(store: &Store, arg: Option<String>) -> Result<String, EngineError> {
    if let Some(id) = arg {
        return Ok(store.resolve(&id)?);
    }
    let live: Vec<String> = store
        .ids()
        .into_iter()
        .filter(|id| store.load(id).is_ok_and(|s| s.status == Status::Ready))
        .collect();
    match live.len() {
        1 => Ok(live.into_iter().next().unwrap_or_default()),
        0 => Err(SessionError::NotFound {
            id: "(any live session)".into(),
            dir: store.root().to_path_buf(),
        }
        .into()),
        _ => Err(SessionError::Ambiguous {
            id: "(no id given)".into(),
            matches: live,
        }
        .into()),
    }
}

fn cx(state_dir: &Option<PathBuf>, context: &Option<String>) -> takehome::Cx {
    takehome::Cx {
        state_dir: state_dir.clone(),
        context: context.clone(),
    }
}

async fn dispatch(cli: Cli) -> CmdResult {
    let scenarios = scenarios_dir(&cli.scenarios);
    match cli.command {
        Command::Schema => {
            print_json(&scenario::schema());
            Ok(exit::OK)
        }
        Command::Validate { paths } => validate(&scenarios, &plans_dir(&cli.plans_dir), paths),
        Command::Start {
            scenario: None,
            plan: Some(plan),
            candidate,
            json,
            ..
        } => {
            let plan = load_plan(&plans_dir(&cli.plans_dir), &scenarios, &plan)?;
            let store = open_store(&cli.state_dir)?;
            let a = crate::plan::create(&store, &plan, candidate)?;
            note!(
                "assessment {} ({}: {} scenario(s), {} in all)",
                a.id,
                plan.title,
                plan.scenarios.len(),
                humantime::format_duration(std::time::Duration::from_secs(plan.time_budget_secs))
            );
            start_step(&cli.state_dir, &scenarios, &cli.context, &plan, &a, 0, json).await
        }
        Command::Start {
            scenario,
            candidate,
            workspace,
            backend,
            seed,
            runtime,
            json,
            ..
        } => {
            let scenario = scenario.unwrap_or_default();
            let seed = seed.unwrap_or_else(crate::scenario::variables::random_seed);
            let pkg = find_package_seeded(&scenarios, &scenario, Some(&seed))?;
            let kind = backend
                .or_else(|| pkg.scenario.backends.first().copied())
                .unwrap_or(BackendKind::Docker);
            if !pkg.scenario.backends.contains(&kind) {
                return Err(EngineError::WrongBackend {
                    scenario: pkg.id().into(),
                    backend: kind,
                });
            }
            let eng = Engine {
                store: open_store(&cli.state_dir)?,
                backend: connect(kind, &cli.context, &scenarios, runtime, true).await?,
            };
            start(&eng, &pkg, candidate, workspace, json, None).await
        }
        Command::Next { assessment, json } => {
            let store = open_store(&cli.state_dir)?;
            let mut a = crate::plan::resolve(&store, assessment.as_deref())?;
            let plans = plans_dir(&cli.plans_dir);
            let plan_arg = if a.plan_file.is_file() {
                a.plan_file.to_string_lossy().into_owned()
            } else {
                a.plan.clone()
            };
            let plan = load_plan(&plans, &scenarios, &plan_arg)?;
            if let Some(current) = a.sessions.last().cloned()
                && store.load(&current)?.status == Status::Ready
            {
                let (eng, id) =
                    session_engine(&cli.state_dir, &scenarios, &cli.context, Some(current)).await?;
                note!("grading {id}");
                let r = eng.grade(&id, Scope::All).await?;
                note!("{id}: {} / {} ({}%)", r.score, r.max_score, r.percent);
                eng.stop(&id).await?;
                note!("stopped {id}");
            }
            let step = a.sessions.len();
            if step >= plan.scenarios.len() {
                a.finished = true;
                crate::plan::save(&store, &a)?;
                let r = assessment_report(&store, &plans, &scenarios, &a)?;
                if json {
                    print_json(&r);
                } else {
                    print!(
                        "{}",
                        crate::report::assessment::render(
                            &r,
                            crate::report::assessment::PlanFormat::Text
                        )
                    );
                    note!(
                        "assessment {} is complete; `breakfix assessment {} --format html -o report.html` writes the combined report",
                        a.id,
                        a.id
                    );
                }
                return Ok(exit::OK);
            }
            start_step(
                &cli.state_dir,
                &scenarios,
                &cli.context,
                &plan,
                &a,
                step,
                json,
            )
            .await
        }
        Command::Assessment {
            assessment,
            format,
            output,
        } => {
            let store = open_store(&cli.state_dir)?;
            let a = crate::plan::resolve(&store, assessment.as_deref())?;
            let r = assessment_report(&store, &plans_dir(&cli.plans_dir), &scenarios, &a)?;
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
        Command::Apply { session, json } => {
            let (eng, id) =
                session_engine(&cli.state_dir, &scenarios, &cli.context, session).await?;
            let progress = Term::new(json);
            let summary = eng.apply(&id, &progress).await?;
            if json {
                print_json(&summary);
            } else {
                let show = |label: &str, v: &[String]| {
                    if !v.is_empty() {
                        println!("{label:<10} {}", v.join(", "));
                    }
                };
                show("created", &summary.created);
                show("recreated", &summary.recreated);
                show("unchanged", &summary.unchanged);
                show("removed", &summary.removed);
                println!("applied; run `breakfix check {id}` to see where things stand");
            }
            Ok(exit::OK)
        }
        Command::Status { session, json } => {
            let (eng, id) =
                session_engine(&cli.state_dir, &scenarios, &cli.context, session).await?;
            status(&eng, &id, json).await
        }
        Command::Watch {
            session,
            interval,
            until_passing,
        } => {
            let (eng, id) =
                session_engine(&cli.state_dir, &scenarios, &cli.context, session).await?;
            super::watch::run(&eng, &id, interval, until_passing).await
        }
        Command::Serve {
            bind,
            token,
            interval,
        } => {
            let store = open_store(&cli.state_dir)?;
            let assets = scenarios.clone();
            let connect: crate::serve::Connector = Arc::new(move |kind, context| {
                let assets = assets.clone();
                // The dashboard observes; it never deploys, so the runtime does not matter.
                Box::pin(async move { connect(kind, &context, &assets, None, false).await })
            });
            let opts = crate::serve::Options {
                addr: bind,
                token,
                interval,
            };
            let announce = |addr: std::net::SocketAddr, token: Option<&str>| {
                let query = token.map(|t| format!("?token={t}")).unwrap_or_default();
                println!("dashboard on http://{addr}/{query}");
                note!(
                    "watching the sessions of {} (Ctrl-C to stop)",
                    store.root().display()
                );
                use std::io::Write as _;
                let _ = std::io::stdout().flush();
            };
            match crate::serve::run(store.clone(), connect, opts, announce, stop_signal()).await {
                Ok(()) => Ok(exit::OK),
                Err(e) => {
                    print_chain(&e);
                    Ok(exit::FAILURE)
                }
            }
        }
        Command::Shell {
            session,
            service,
            json,
        } => {
            let (eng, id) =
                session_engine(&cli.state_dir, &scenarios, &cli.context, session).await?;
            let summary = super::shell::run(&eng, &id, service.as_deref()).await?;
            if json {
                print_json(&summary);
            } else {
                note!(
                    "recorded {} command(s) in {}: {}",
                    summary.commands,
                    summary.place,
                    summary.recording.display()
                );
            }
            Ok(exit::OK)
        }
        Command::Ps { session, json } => {
            let (eng, id) =
                session_engine(&cli.state_dir, &scenarios, &cli.context, session).await?;
            candidate::ps(&eng, &id, json).await
        }
        Command::Logs {
            target,
            tail,
            follow,
            for_,
        } => {
            let (session, service) = candidate::session_and_service(target);
            let (eng, id) =
                session_engine(&cli.state_dir, &scenarios, &cli.context, session).await?;
            candidate::logs(&eng, &id, &service, tail, follow.then_some(for_)).await
        }
        Command::Inspect { target, json } => {
            let (session, service) = candidate::session_and_service(target);
            let (eng, id) =
                session_engine(&cli.state_dir, &scenarios, &cli.context, session).await?;
            candidate::inspect(&eng, &id, &service, json).await
        }
        Command::Exec {
            target,
            command,
            tty,
            timeout,
            json,
        } => {
            let (session, service) = candidate::session_and_service(target);
            let (eng, id) =
                session_engine(&cli.state_dir, &scenarios, &cli.context, session).await?;
            candidate::exec(&eng, &id, &service, &command, tty, timeout, json).await
        }
        Command::Hint { session, json } => {
            let store = Store::open(&cli.state_dir.clone().unwrap_or_else(Store::default_dir))?;
            let id = pick_session(&store, session)?;
            let h = engine::take_hint(&store, &id)?;
            if json {
                print_json(&h);
            } else {
                println!(
                    "Hint {} of {} (costs {} points):\n\n{}",
                    h.number, h.of, h.cost, h.text
                );
            }
            Ok(exit::OK)
        }
        Command::Note {
            session,
            text,
            competency,
            mark,
            json,
        } => {
            let store = Store::open(&cli.state_dir.clone().unwrap_or_else(Store::default_dir))?;
            let n = engine::add_note(
                &store,
                &session,
                crate::timeline::Note {
                    at: time::OffsetDateTime::now_utc(),
                    competency,
                    mark,
                    text,
                },
            )?;
            if json {
                print_json(&n);
            } else {
                note!("note added to {}", store.resolve(&session)?);
            }
            Ok(exit::OK)
        }
        Command::Check { session, json } => {
            let (eng, id) =
                session_engine(&cli.state_dir, &scenarios, &cli.context, session).await?;
            let r = eng.grade(&id, Scope::Candidate).await?;
            print!(
                "{}",
                report::render(&r, if json { Format::Json } else { Format::Text })
            );
            Ok(report_code(&r))
        }
        Command::Grade {
            take_home,
            format,
            json,
            output,
            ..
        } if take_home.is_set() => {
            let format = if json { Format::Json } else { format };
            takehome::grade(
                &cx(&cli.state_dir, &cli.context),
                &scenarios,
                &take_home,
                format,
                output,
            )
            .await
        }
        Command::Pack(args) => takehome::pack(&cli.state_dir, &scenarios, args).await,
        Command::Grade {
            session,
            format,
            json,
            output,
            take_home,
        } => {
            if take_home.has_submission_options() {
                note!(
                    "error: --scenario, --take-home, --seed, --candidate and --backend describe a take-home submission: give it with --submission PATH or --submissions DIR"
                );
                return Ok(exit::USAGE);
            }
            let store = Store::open(&cli.state_dir.clone().unwrap_or_else(Store::default_dir))?;
            let id = pick_session(&store, session.clone())?;
            let r = if store.load(&id)?.status == Status::Ready {
                let (eng, id) =
                    session_engine(&cli.state_dir, &scenarios, &cli.context, Some(id)).await?;
                eng.grade(&id, Scope::All).await?
            } else {
                let r = engine::last_report(&store, &id)?;
                note!(
                    "session {id} is not live: its last grade ({}), with what was recorded since",
                    r.session
                        .graded_at
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default()
                );
                r
            };
            let key = crate::seal::signing_key_for(store.root())?;
            let text =
                report::render_sealed(&r, if json { Format::Json } else { format }, key.as_ref());
            match output {
                Some(path) => {
                    crate::session::write_atomic(&path, text.as_bytes())?;
                    note!(
                        "report written to {} (score {} / {})",
                        path.display(),
                        r.score,
                        r.max_score
                    );
                }
                None => print!("{text}"),
            }
            Ok(report_code(&r))
        }
        Command::Reset { session } => {
            let (eng, id) =
                session_engine(&cli.state_dir, &scenarios, &cli.context, session).await?;
            let progress = Term::new(false);
            match interruptible(eng.reset(&id, &progress)).await {
                Some(r) => {
                    let backup = r?;
                    println!(
                        "session {id} is back in its broken state; the previous workspace is kept in {}",
                        backup.display()
                    );
                    Ok(exit::OK)
                }
                None => Ok(exit::INTERRUPTED),
            }
        }
        Command::Stop { session, all } => {
            let store = open_store(&cli.state_dir)?;
            let ids = if all {
                store
                    .ids()
                    .into_iter()
                    .filter(|id| store.load(id).is_ok_and(|s| s.is_live()))
                    .collect()
            } else {
                vec![pick_session(&store, session)?]
            };
            for id in ids {
                let (eng, id) =
                    session_engine(&cli.state_dir, &scenarios, &cli.context, Some(id)).await?;
                let r = eng.stop(&id).await?;
                println!("stopped {id}: removed {r}");
            }
            Ok(exit::OK)
        }
        Command::Gc { json } => gc(&cli.state_dir, &scenarios, &cli.context, json).await,
        Command::List {
            plans: true, json, ..
        } => list_plans(&plans_dir(&cli.plans_dir), &scenarios, json),
        Command::List {
            take_homes: true,
            json,
            ..
        } => takehome::list(&open_store(&cli.state_dir)?, json),
        Command::List {
            sessions: false,
            json,
            ..
        } => catalog(&scenarios, json),
        Command::List {
            sessions: true,
            json,
            ..
        } => {
            let store = Store::open(&cli.state_dir.clone().unwrap_or_else(Store::default_dir))?;
            list(&store, json)
        }
        Command::Show { session, json } => {
            let store = Store::open(&cli.state_dir.clone().unwrap_or_else(Store::default_dir))?;
            let id = match session {
                Some(s) => store.resolve(&s)?,
                None => pick_session(&store, None)?,
            };
            show(&store, &id, json)
        }
        Command::Doctor { json } => doctor(&cli.state_dir, &scenarios, &cli.context, json).await,
        Command::Cluster { action } => cluster(action).await,
        Command::Report { action } => report_action(&cli.state_dir, action),
        Command::Setup => {
            let progress = Term::new(false);
            progress.begin(&format!(
                "installing gitlabci-local {} into {} (from PyPI)",
                crate::tools::CI_EXECUTOR_VERSION,
                crate::tools::user_venv().display()
            ));
            let (exe, installed) = crate::tools::install_ci_executor()
                .await
                .map_err(EngineError::Tool)?;
            progress.finish(if installed {
                "installed"
            } else {
                "already installed"
            });
            println!("gitlabci-local: {}", exe.display());
            Ok(exit::OK)
        }
        Command::Build { which, backend } => {
            let pkgs = packages(&scenarios, &which)?;
            let eng = engine(&cli.state_dir, &scenarios, backend, &cli.context).await?;
            let progress = Term::new(false);
            for pkg in &pkgs {
                eng.backend
                    .prepare(&engine::images_for(pkg), &progress)
                    .await?;
                println!("images of {} are ready", pkg.id());
            }
            Ok(exit::OK)
        }
        Command::Verify {
            which,
            all: _,
            backend,
            seed,
            json,
        } => {
            let pkgs = seeded(packages(&scenarios, &which)?, &seed)?;
            verify(
                &cli.state_dir,
                &cli.context,
                &scenarios,
                &pkgs,
                backend,
                json,
            )
            .await
        }
    }
}

/// Each package, and each parameterised one once per seed: the seeds given, or enough that
/// every value of every variable is chosen at least once.
fn seeded(pkgs: Vec<Package>, seeds: &[String]) -> Result<Vec<Package>, EngineError> {
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
fn packages(scenarios: &Path, which: &[String]) -> Result<Vec<Package>, EngineError> {
    if which.is_empty() {
        let mut out = vec![];
        for p in scenario::load_all(scenarios) {
            out.push(p?);
        }
        return Ok(out);
    }
    which.iter().map(|w| find_package(scenarios, w)).collect()
}

fn list_plans(plans: &Path, scenarios: &Path, json: bool) -> CmdResult {
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
fn is_plan_file(p: &Path) -> bool {
    p.is_file()
        && p.extension().is_some_and(|x| x == "yaml")
        && p.file_name().is_some_and(|n| n != "scenario.yaml")
}

fn validate(scenarios: &Path, plans: &Path, paths: Vec<PathBuf>) -> CmdResult {
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

async fn start(
    eng: &Engine,
    pkg: &Package,
    candidate: Option<String>,
    workspace: Option<PathBuf>,
    json: bool,
    link: Option<PlanLink>,
) -> CmdResult {
    let workspace = match workspace {
        Some(w)
            if w.exists()
                && std::fs::read_dir(&w)
                    .map(|mut d| d.next().is_some())
                    .unwrap_or(true) =>
        {
            return Err(EngineError::Copy {
                from: pkg.workspace_dir(),
                to: w,
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "the workspace folder exists and is not empty; pick a new one",
                ),
            });
        }
        Some(w) => Some(std::path::absolute(&w).unwrap_or(w)),
        None => None,
    };
    let mut s = eng.create(pkg, candidate, workspace)?;
    match &pkg.variant {
        Some(v) => note!(
            "session {} ({}, variant seed {}: {})",
            s.id,
            pkg.id(),
            v.seed,
            v.describe()
        ),
        None => note!("session {} ({})", s.id, pkg.id()),
    }
    let progress = Term::new(false);
    match interruptible(eng.provision(pkg, &mut s, &progress)).await {
        Some(Ok(())) => {}
        Some(Err(e)) => {
            if let Err(cleanup) = eng.abort(&mut s, &format!("start failed: {e}")).await {
                note!(
                    "warning: cleanup after the failed start did not finish ({cleanup}); run `breakfix gc`"
                );
            }
            return Err(e);
        }
        None => {
            let _ = eng.abort(&mut s, "interrupted").await;
            return Ok(exit::INTERRUPTED);
        }
    }
    if let Some(l) = &link {
        let mut a = crate::plan::load_assessment(&eng.store, &l.assessment)?;
        a.sessions.push(s.id.clone());
        crate::plan::save(&eng.store, &a)?;
        note!(
            "{}: scenario {} of {}; `breakfix next` grades it and starts the next one",
            l.title,
            l.step + 1,
            l.of
        );
    }
    let t = eng.target(&s);
    let services = eng.services(pkg, &s.workspace);
    let containers: serde_json::Map<String, serde_json::Value> = services
        .iter()
        .map(|n| (n.clone(), json!(eng.backend.container_name(&t, n))))
        .collect();
    if json {
        print_json(&json!({
            "session": s.id,
            "scenario": s.scenario,
            "candidate": s.candidate,
            "workspace": s.workspace,
            "backend": s.backend,
            "containers": containers,
            "namespace": s.namespace,
            "kubeconfig": s.kubeconfig,
            "time-limit-secs": s.time_limit_secs,
            "clock-started-at": s.ready_at.map(|t| t.to_string()),
            "seed": pkg.variant.as_ref().map(|v| v.seed.clone()),
            "assessment": link.as_ref().map(|l| l.assessment.clone()),
            "plan-step": link.as_ref().map(|l| l.step + 1),
        }));
        return Ok(exit::OK);
    }
    if s.backend == BackendKind::Kube {
        return Ok(kube_welcome(pkg, &s));
    }
    println!("{}\n", pkg.briefing.trim());
    println!("────────────────────────────────────────────────────────────");
    println!("session     {}", s.id);
    println!(
        "time limit  {}",
        humantime::format_duration(pkg.scenario.time_limit.0)
    );
    println!("workspace   {}", s.workspace.display());
    println!(
        "containers  {}",
        containers
            .values()
            .filter_map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!("services    {}", services.join(", "));
    println!();
    println!("How to work on it:");
    // The engine's CLI is root on this host: the candidate gets breakfix's session-scoped
    // door instead.
    println!(
        "  - {:<50} breakfix ps {}",
        "see the services and their state:", s.id
    );
    println!(
        "  - {:<50} breakfix logs {} <service>",
        "read a service's log (-f to follow):", s.id
    );
    println!(
        "  - {:<50} breakfix inspect {} <service>",
        "see its state, health, command, mounts, limits:", s.id
    );
    println!(
        "  - {:<50} breakfix exec {} <service> -- <command>",
        "run a command in it (-t for a terminal):", s.id
    );
    next_steps(&s.id, "files");
    Ok(exit::OK)
}

async fn status(eng: &Engine, id: &str, json: bool) -> CmdResult {
    let s = eng.store.load(id)?;
    let pkg = engine::package_of(&s)?;
    let t = eng.target(&s);
    let mut observed = vec![];
    if s.status == Status::Ready {
        for svc in eng.services(&pkg, &s.workspace) {
            let st = eng.backend.state(&t, &svc).await?;
            observed.push((svc.clone(), eng.backend.container_name(&t, &svc), st));
        }
    }
    let services: serde_json::Map<String, serde_json::Value> = observed
        .iter()
        .map(|(name, container, st)| (name.clone(), json!({"container": container, "state": st})))
        .collect();
    let elapsed = s.elapsed().map(|d| d.as_secs());
    if json {
        print_json(&json!({
            "session": s.id,
            "scenario": s.scenario,
            "candidate": s.candidate,
            "status": s.status,
            "backend": s.backend,
            "workspace": s.workspace,
            "seed": pkg.variant.as_ref().map(|v| v.seed.clone()),
            "namespace": s.namespace,
            "kubeconfig": s.kubeconfig,
            "runtime": s.runtime,
            "elapsed-secs": elapsed,
            "time-limit-secs": s.time_limit_secs,
            "hints-taken": s.hints.len(),
            "hint-cost": s.hints.iter().map(|h| h.cost).sum::<u32>(),
            "services": services,
        }));
        return Ok(exit::OK);
    }
    println!("session   {} ({})", s.id, s.scenario);
    println!("status    {}", s.status);
    if let Some(e) = elapsed {
        println!(
            "clock     {} of {}",
            crate::duration::clock_text(e),
            crate::duration::clock_text(s.time_limit_secs)
        );
    }
    println!("workspace {}", s.workspace.display());
    if let (Some(ns), Some(kc)) = (&s.namespace, &s.kubeconfig) {
        println!("namespace {ns}");
        println!("kubeconfig {}", kc.display());
    }
    println!(
        "hints     {} taken (-{} points)",
        s.hints.len(),
        s.hints.iter().map(|h| h.cost).sum::<u32>()
    );
    for (name, container, st) in &observed {
        println!("  {name:<12} {container}  ({st})");
    }
    Ok(exit::OK)
}

/// The scenario catalog. Invalid packages are listed too, with their problem count, so a
/// broken package is noticed rather than silently missing.
/// The names of a parameterised scenario's variables (empty for a plain one).
fn variables_of(p: &Package) -> Vec<String> {
    p.variant
        .as_ref()
        .map(|v| v.values.keys().cloned().collect())
        .unwrap_or_default()
}

fn catalog(scenarios: &Path, json: bool) -> CmdResult {
    let mut rows = vec![];
    let mut invalid = 0;
    for (root, loaded) in scenario::package_roots(scenarios)
        .into_iter()
        .map(|r| (r.clone(), scenario::load(&r)))
    {
        match loaded {
            Ok(p) => {
                let s = &p.scenario;
                rows.push(json!({
                    "id": p.id(),
                    "title": s.title,
                    "competencies": s.competencies.iter().map(|c| c.value).collect::<Vec<_>>(),
                    "difficulty": s.difficulty,
                    "backends": s.backends.value,
                    "time-limit": s.time_limit.to_string(),
                    "time-limit-secs": s.time_limit.0.as_secs(),
                    "variables": variables_of(&p),
                    "path": root,
                }));
            }
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
    if json {
        print_json(&rows);
    } else if rows.is_empty() {
        println!("no scenarios in {}", scenarios.display());
    } else {
        let w = rows
            .iter()
            .map(|r| r["id"].as_str().unwrap_or_default().len())
            .max()
            .unwrap_or(2);
        println!(
            "{:<w$}  {:<8} {:<7} {:<8} {:<40} TITLE",
            "ID", "LEVEL", "LIMIT", "BACKEND", "COMPETENCIES"
        );
        for r in &rows {
            let list = |k: &str| {
                r[k].as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|v| v.as_str())
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_default()
            };
            println!(
                "{:<w$}  {:<8} {:<7} {:<8} {:<40} {}",
                r["id"].as_str().unwrap_or_default(),
                r["difficulty"].as_str().unwrap_or_default(),
                r["time-limit"].as_str().unwrap_or_default(),
                list("backends"),
                list("competencies"),
                r["title"].as_str().unwrap_or_default()
            );
        }
    }
    Ok(if invalid == 0 {
        exit::OK
    } else {
        exit::SCENARIO_INVALID
    })
}

fn list(store: &Store, json: bool) -> CmdResult {
    let mut rows = vec![];
    for id in store.ids() {
        match store.load(&id) {
            Ok(s) => rows.push(json!({
                "session": s.id,
                "scenario": s.scenario,
                "candidate": s.candidate,
                "status": if s.is_abandoned() { "abandoned".to_string() } else { s.status.to_string() },
                "created-at": s.created_at.unix_timestamp(),
                "elapsed-secs": s.elapsed().map(|d| d.as_secs()),
            })),
            Err(e) => rows.push(json!({"session": id, "status": "unreadable", "error": e.to_string()})),
        }
    }
    if json {
        print_json(&rows);
        return Ok(exit::OK);
    }
    if rows.is_empty() {
        println!("no sessions in {}", store.root().display());
    }
    for r in rows {
        println!(
            "{:<36} {:<20} {:<11} {}",
            r["session"].as_str().unwrap_or_default(),
            r["scenario"].as_str().unwrap_or("-"),
            r["status"].as_str().unwrap_or_default(),
            r["candidate"].as_str().unwrap_or("")
        );
    }
    Ok(exit::OK)
}

fn show(store: &Store, id: &str, json: bool) -> CmdResult {
    let s = store.load(id)?;
    let report: Option<Report> = std::fs::read(store.dir(id).join("report.json"))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    if json {
        print_json(&json!({"session": s, "last-report": report}));
        return Ok(exit::OK);
    }
    println!("session    {} ({}), {}", s.id, s.scenario, s.status);
    println!("candidate  {}", s.candidate.as_deref().unwrap_or("-"));
    println!("package    {}", s.package.display());
    println!("workspace  {}", s.workspace.display());
    println!("\nevents:");
    for e in &s.events {
        println!("  {}  {:<14} {}", e.at, e.kind, e.detail);
    }
    if !s.commands.is_empty() {
        println!("\ncommands:");
        for c in &s.commands {
            println!("  {}  {}$ {}  ({})", c.at, c.target, c.command, c.recording);
        }
    }
    if let Some(r) = report {
        println!(
            "\nlast grade: {} / {} ({}%) at {}",
            r.score, r.max_score, r.percent, r.session.graded_at
        );
    }
    Ok(exit::OK)
}

async fn doctor(
    state_dir: &Option<PathBuf>,
    scenarios: &Path,
    context: &Option<String>,
    json: bool,
) -> CmdResult {
    let mut rows: Vec<(String, bool, String)> = vec![];
    let dir = state_dir.clone().unwrap_or_else(Store::default_dir);
    match Store::open(&dir) {
        Ok(_) => rows.push(("state directory".into(), true, dir.display().to_string())),
        Err(e) => rows.push(("state directory".into(), false, format!("{e}"))),
    }
    let pkgs: Vec<Package> = scenario::load_all(scenarios)
        .into_iter()
        .filter_map(Result::ok)
        .collect();
    rows.push((
        "scenarios".into(),
        !pkgs.is_empty(),
        format!("{} valid in {}", pkgs.len(), scenarios.display()),
    ));
    let images: Vec<_> = pkgs.iter().flat_map(engine::images_for).collect();
    let mut reachable = false;
    match DockerBackend::connect(assets_dir(scenarios)).await {
        Ok(b) => {
            let h = b.health(&images).await;
            reachable = h.reachable;
            rows.push((
                "docker engine".into(),
                h.reachable,
                format!("version {} (API {})", h.version, h.api_version),
            ));
            rows.extend(h.detail);
        }
        Err(e) => rows.push(("docker engine".into(), false, format!("failed to {e}"))),
    }
    // The kube backend is optional: its absence is reported, not a failure of the machine.
    match KubeBackend::connect(context.clone(), assets_dir(scenarios)).await {
        Ok(b) => {
            let h = b.health(&images).await;
            rows.push((
                "kubernetes cluster".into(),
                h.reachable,
                format!("version {} (--backend kube)", h.version),
            ));
            rows.extend(h.detail);
        }
        Err(e) => rows.push((
            "kubernetes cluster".into(),
            false,
            format!("optional, for --backend kube: failed to {e}"),
        )),
    }
    rows.push(tool_row(
        "kind",
        "installed (`breakfix cluster up` creates a local cluster)",
        "not installed (optional: `breakfix cluster up` needs it; any cluster in KUBECONFIG works)",
    ));
    match crate::tools::ci_executor() {
        Some(p) if p.is_file() => rows.push((
            "gitlabci-local".into(),
            true,
            format!("{} (runs `pipeline` checks)", p.display()),
        )),
        found => rows.push((
            "gitlabci-local".into(),
            false,
            format!(
                "{}{}: `pipeline` checks cannot run",
                crate::tools::ci_executor_missing(),
                found
                    .map(|p| format!(" (nothing at {})", p.display()))
                    .unwrap_or_default(),
            ),
        )),
    }
    rows.push(tool_row(
        "git",
        "installed (workspaces that are repositories)",
        "missing: scenarios whose workspace is a git repository cannot start",
    ));
    rows.push(tool_row(
        "debootstrap",
        "installed (bootstraps the base image offline)",
        "not installed: needed only if debian:bookworm-slim cannot be pulled",
    ));
    let compose = which("docker-compose")
        || std::process::Command::new("docker")
            .args(["compose", "version"])
            .output()
            .is_ok_and(|o| o.status.success());
    rows.push((
        "docker compose".into(),
        compose,
        if compose {
            "installed (optional)".into()
        } else {
            "not installed (optional; breakfix apply does the same job)".into()
        },
    ));
    if json {
        print_json(
            &rows
                .iter()
                .map(|(k, ok, d)| json!({"item": k, "ok": ok, "detail": d}))
                .collect::<Vec<_>>(),
        );
    } else {
        for (k, ok, d) in &rows {
            println!("{} {k:<34} {d}", if *ok { "ok  " } else { "MISS" });
        }
    }
    Ok(if reachable {
        exit::OK
    } else {
        exit::BACKEND_UNREACHABLE
    })
}

/// A `doctor` row for a host tool: whether it is on PATH, and what that means.
fn tool_row(name: &str, found: &str, missing: &str) -> (String, bool, String) {
    let ok = which(name);
    (name.into(), ok, if ok { found } else { missing }.into())
}

fn which(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
}

/// Proves every scenario on every backend it declares (or the one asked for). A backend that
/// cannot be reached is reported as skipped, never as proven.
async fn verify(
    state_dir: &Option<PathBuf>,
    context: &Option<String>,
    scenarios: &Path,
    pkgs: &[Package],
    only: Option<BackendKind>,
    json: bool,
) -> CmdResult {
    let mut all = vec![];
    let mut proven = true;
    let mut verified = 0;
    let mut engines: std::collections::HashMap<BackendKind, Result<Engine, String>> =
        std::collections::HashMap::new();
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
            let eng = match &engines[&kind] {
                Ok(eng) => eng,
                Err(why) => {
                    note!("skipping {} on {kind}: {why}", pkg.id());
                    if !json {
                        println!("SKIP {} on {kind}: backend unreachable\n", pkg.id());
                    }
                    all.push(json!({
                        "scenario": pkg.id(), "backend": kind, "proven": false, "skipped": why,
                    }));
                    continue;
                }
            };
            match &pkg.variant {
                Some(v) => note!(
                    "verifying {} on {kind}, seed {} ({})",
                    pkg.id(),
                    v.seed,
                    v.describe()
                ),
                None => note!("verifying {} on {kind}", pkg.id()),
            }
            let progress = Term::new(json);
            let mut session = eng.create(pkg, Some("breakfix verify".into()), None)?;
            let shown: &dyn crate::backend::Progress = if json { &Silent } else { &progress };
            let v = match interruptible(eng.verify(pkg, &mut session, shown)).await {
                Some(v) => v?,
                None => {
                    // The session is live; gc would keep it, so stop it by name.
                    if let Err(e) = eng.stop(&session.id).await {
                        note!(
                            "warning: teardown of {} did not finish ({e}); run `breakfix stop {}`",
                            session.id,
                            session.id
                        );
                    }
                    return Ok(exit::INTERRUPTED);
                }
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
            let mut entry = serde_json::to_value(&v).unwrap_or_default();
            entry["backend"] = json!(kind);
            entry["seed"] = json!(pkg.variant.as_ref().map(|v| v.seed.clone()));
            all.push(entry);
        }
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

/// `report verify` and `report keygen`.
fn report_action(state_dir: &Option<PathBuf>, action: ReportAction) -> CmdResult {
    use crate::seal::{self, SignatureVerdict, Verdict};
    match action {
        ReportAction::Keygen { output } => {
            let store = open_store(state_dir)?;
            let path = output.unwrap_or_else(|| store.root().join(seal::DEFAULT_KEY));
            let public = seal::generate_key(&path)?;
            let pub_path = seal::public_path(&path);
            println!("signing key  {} (keep it private)", path.display());
            println!(
                "public key   {} ({})",
                pub_path.display(),
                hex::encode(public.to_bytes())
            );
            if output_is_default(&path, store.root()) {
                println!("Reports graded from now on are signed with it.");
            } else {
                println!(
                    "Set BREAKFIX_SIGNING_KEY={} for breakfix to sign reports with it.",
                    path.display()
                );
            }
            println!(
                "A colleague checks a report with: breakfix report verify report.json --key {}",
                pub_path.display()
            );
            Ok(exit::OK)
        }
        ReportAction::Verify { file, key, json } => {
            let trusted = key.as_deref().map(seal::load_verifying_key).transpose()?;
            let verdict = seal::verify(&file, trusted.as_ref())?;
            let ok = verdict.is_trustworthy(trusted.is_some());
            let f = file.display();
            let line = match &verdict {
                Verdict::NotSealed => format!(
                    "{f}: NOT SEALED: it carries no digest, so nothing shows whether it was changed"
                ),
                Verdict::Sealed {
                    carried, actual, ..
                } if carried != actual => format!(
                    "{f}: HAS BEEN CHANGED: its content no longer matches the digest it carries (sha256 {carried}, content {actual})"
                ),
                Verdict::Sealed {
                    actual, signature, ..
                } => match signature {
                    SignatureVerdict::Absent if trusted.is_some() => format!(
                        "{f}: unchanged (sha256 {actual}) but NOT SIGNED, so it cannot be shown to come from the key given"
                    ),
                    SignatureVerdict::Absent => format!(
                        "{f}: unchanged since breakfix wrote it (sha256 {actual}; not signed, so anyone could have recomputed it)"
                    ),
                    SignatureVerdict::Valid {
                        public_key,
                        trusted: Some(false),
                    } => format!(
                        "{f}: unchanged, but signed by ANOTHER key ({}…), not the one given",
                        &public_key[..16.min(public_key.len())]
                    ),
                    SignatureVerdict::Valid {
                        public_key,
                        trusted,
                    } => format!(
                        "{f}: unchanged since breakfix wrote it (sha256 {actual}), signed by ed25519 key {}…{}",
                        &public_key[..16.min(public_key.len())],
                        if trusted == &Some(true) {
                            " (the key given)"
                        } else {
                            ""
                        }
                    ),
                    SignatureVerdict::Invalid { .. } => {
                        format!("{f}: HAS BEEN CHANGED: its signature does not match its content")
                    }
                },
            };
            if json {
                print_json(&json!({"file": file, "ok": ok, "verdict": line}));
            } else {
                println!("{line}");
            }
            Ok(if ok { exit::OK } else { exit::TAMPERED })
        }
    }
}

fn output_is_default(path: &Path, state: &Path) -> bool {
    path == state.join(crate::seal::DEFAULT_KEY)
}

/// `gc` over every backend that answers; one that does not is said, not fatal.
async fn gc(
    state_dir: &Option<PathBuf>,
    scenarios: &Path,
    context: &Option<String>,
    json: bool,
) -> CmdResult {
    let mut results = vec![];
    let mut reached = 0;
    for kind in [BackendKind::Docker, BackendKind::Kube] {
        let eng = match engine(state_dir, scenarios, kind, context).await {
            Ok(e) => e,
            Err(e) if e.is_unreachable() => {
                // Most machines have no cluster; only say so when something might be missed.
                if kind == BackendKind::Docker || context.is_some() {
                    note!("skipping {kind}: failed to {e}");
                }
                results.push(json!({"backend": kind, "skipped": e.to_string()}));
                continue;
            }
            Err(e) => return Err(e),
        };
        reached += 1;
        let g = eng.gc().await?;
        if !json {
            if g.sessions.is_empty() && g.abandoned_marked_failed.is_empty() {
                println!("{kind}: nothing to collect");
            } else {
                println!(
                    "{kind}: removed {} of {} session(s): {}",
                    g.removed,
                    g.sessions.len(),
                    g.sessions.join(", ")
                );
                if !g.abandoned_marked_failed.is_empty() {
                    println!(
                        "marked failed (start was killed): {}",
                        g.abandoned_marked_failed.join(", ")
                    );
                }
            }
        }
        let mut v = serde_json::to_value(&g).unwrap_or_default();
        v["backend"] = json!(kind);
        results.push(v);
    }
    if json {
        print_json(&results);
    }
    Ok(if reached == 0 {
        exit::BACKEND_UNREACHABLE
    } else {
        exit::OK
    })
}

/// `cluster up|down` with kind.
async fn cluster(action: ClusterAction) -> CmdResult {
    if !which("kind") {
        note!(
            "error: `kind` is not installed. Install it (one binary: https://kind.sigs.k8s.io/docs/user/quick-start/#installation), then run this again.\n\
             Any other cluster works too: point KUBECONFIG (or --context) at it and start with `--backend kube`."
        );
        return Ok(exit::FAILURE);
    }
    let (args, name) = match &action {
        ClusterAction::Up { name } => (
            vec!["create", "cluster", "--name", name, "--wait", "180s"],
            name,
        ),
        ClusterAction::Down { name } => (vec!["delete", "cluster", "--name", name], name),
    };
    let status = tokio::process::Command::new("kind")
        .args(&args)
        .status()
        .await
        .map_err(|source| EngineError::Copy {
            from: PathBuf::from("kind"),
            to: PathBuf::from(name),
            source,
        })?;
    if !status.success() {
        note!("error: `kind {}` failed", args.join(" "));
        return Ok(exit::FAILURE);
    }
    if matches!(action, ClusterAction::Up { .. }) {
        println!(
            "cluster `{name}` is up (context kind-{name}); scenario images are loaded into it on start:\n  breakfix start crashloop-k8s --backend kube --context kind-{name}"
        );
    }
    Ok(exit::OK)
}

/// The session commands a candidate uses, after the backend's own tools.
fn next_steps(id: &str, what: &str) {
    let fix = format!("fix the {what} in the workspace, then redeploy:");
    println!("  - {fix:<50} breakfix apply {id}");
    println!(
        "  - {:<50} breakfix check {id}",
        "see the checks you can see:"
    );
    println!(
        "  - {:<50} breakfix hint {id}",
        "stuck? a hint costs points:"
    );
}

/// What a candidate on the kube backend is told after the briefing.
fn kube_welcome(pkg: &Package, s: &crate::session::Session) -> i32 {
    println!("{}\n", pkg.briefing.trim());
    println!("────────────────────────────────────────────────────────────");
    println!("session     {}", s.id);
    println!(
        "time limit  {}",
        humantime::format_duration(pkg.scenario.time_limit.0)
    );
    println!("workspace   {}", s.workspace.display());
    let ns = s.namespace.clone().unwrap_or_default();
    println!("namespace   {ns}");
    if let Some(kc) = &s.kubeconfig {
        println!("kubeconfig  {}", kc.display());
        println!();
        println!("How to work on it:");
        println!(
            "  - {:<50} export KUBECONFIG={}",
            "your access (this namespace only):",
            kc.display()
        );
        println!(
            "    kubectl get pods, kubectl describe pod <pod>, kubectl logs <pod> --previous, kubectl get events"
        );
    }
    next_steps(&s.id, "manifests");
    exit::OK
}
