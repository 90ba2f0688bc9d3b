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

mod assessment;
mod authoring;
mod candidate;
mod cluster;
mod doctor;
mod reports;
mod serve;
mod session;
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

/// The global options, resolved once for every command.
pub(super) struct G {
    pub state_dir: Option<PathBuf>,
    pub scenarios: PathBuf,
    pub plans: PathBuf,
    pub context: Option<String>,
}

impl G {
    fn store(&self) -> Result<Store, EngineError> {
        open_store(&self.state_dir)
    }

    /// The engine for an existing session, and its full id.
    async fn session(&self, arg: Option<String>) -> Result<(Engine, String), EngineError> {
        session_engine(&self.state_dir, &self.scenarios, &self.context, arg).await
    }
}

/// Routes a command to its group: one file per group under `commands/`.
async fn dispatch(cli: Cli) -> CmdResult {
    let g = G {
        scenarios: scenarios_dir(&cli.scenarios),
        plans: plans_dir(&cli.plans_dir),
        state_dir: cli.state_dir,
        context: cli.context,
    };
    let g = &g;
    let json_or = |json: bool, format: Format| if json { Format::Json } else { format };
    match cli.command {
        // A session's life.
        Command::Start {
            scenario: None,
            plan: Some(plan),
            candidate,
            json,
            ..
        } => assessment::start_plan(g, &plan, candidate, json).await,
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
            let a = session::StartOne {
                scenario: scenario.unwrap_or_default(),
                candidate,
                workspace,
                backend,
                seed,
                runtime,
            };
            session::start_scenario(g, a, json).await
        }
        Command::Apply { session, json } => session::apply(g, session, json).await,
        Command::Status { session, json } => session::status(g, session, json).await,
        Command::Watch {
            session,
            interval,
            until_passing,
        } => {
            let (eng, id) = g.session(session).await?;
            super::watch::run(&eng, &id, interval, until_passing).await
        }
        Command::Shell {
            session,
            service,
            json,
        } => session::shell(g, session, service, json).await,
        Command::Connect { link } => match super::connect::run(&link).await {
            Ok(why) => {
                note!("\r\ndisconnected: {why}");
                Ok(exit::OK)
            }
            Err(e) => {
                print_chain(&e);
                Ok(exit::FAILURE)
            }
        },
        Command::Hint { session, json } => session::hint(g, session, json),
        Command::Note {
            session,
            text,
            competency,
            mark,
            json,
        } => session::add_note(g, session, text, competency, mark, json),
        Command::Check { session, json } => session::check(g, session, json).await,
        Command::Grade {
            session,
            format,
            json,
            output,
            take_home,
        } => session::grade(g, session, take_home, json_or(json, format), output).await,
        Command::Reset { session } => session::reset(g, session).await,
        Command::Stop { session, all } => session::stop(g, session, all).await,
        Command::List {
            sessions: true,
            json,
            ..
        } => session::list(&g.store()?, json),
        Command::Show { session, json } => session::show(g, session, json),
        // The candidate's view of the services.
        Command::Ps { session, json } => candidate::ps(g, session, json).await,
        Command::Logs {
            target,
            tail,
            follow,
            for_,
        } => candidate::logs(g, target, tail, follow.then_some(for_)).await,
        Command::Inspect { target, json } => candidate::inspect(g, target, json).await,
        Command::Exec {
            target,
            command,
            tty,
            timeout,
            json,
        } => candidate::exec(g, target, &command, tty, timeout, json).await,
        Command::DockerEndpoint { session, socket } => {
            candidate::docker_endpoint(g, session, socket).await
        }
        // Assessments and take-homes.
        Command::Next { assessment, json } => assessment::next(g, assessment, json).await,
        Command::Assessment {
            assessment,
            format,
            output,
        } => assessment::assessment(g, assessment, format, output),
        Command::List {
            plans: true, json, ..
        } => assessment::list_plans(&g.plans, &g.scenarios, json),
        Command::Pack(args) => takehome::pack(&g.state_dir, &g.scenarios, args).await,
        Command::List {
            take_homes: true,
            json,
            ..
        } => takehome::list(&g.store()?, json),
        // The interviewer's tools and the machine.
        Command::Serve {
            bind,
            token,
            interval,
            public_url,
        } => serve::serve(g, bind, token, interval, public_url).await,
        Command::Report { action } => reports::report_action(&g.state_dir, action),
        Command::Doctor { json } => {
            doctor::doctor(&g.state_dir, &g.scenarios, &g.context, json).await
        }
        Command::Setup => doctor::setup().await,
        Command::Gc { json } => doctor::gc(&g.state_dir, &g.scenarios, &g.context, json).await,
        Command::Cluster { action } => cluster::cluster(action).await,
        // Authoring.
        Command::Schema => {
            print_json(&scenario::schema());
            Ok(exit::OK)
        }
        Command::Validate { paths } => authoring::validate(&g.scenarios, &g.plans, paths),
        Command::List {
            competency,
            difficulty,
            backend,
            max_time,
            markdown,
            json,
            ..
        } => {
            let filter = scenario::catalog::Filter {
                competency,
                difficulty,
                backend,
                max_time,
            };
            authoring::catalog(&g.scenarios, &filter, markdown, json)
        }
        Command::Build { which, backend } => authoring::build(g, &which, backend).await,
        Command::Verify {
            which,
            backend,
            seed,
            jobs,
            json,
            ..
        } => {
            let pkgs = authoring::seeded(authoring::packages(&g.scenarios, &which)?, &seed)?;
            authoring::verify(
                &g.state_dir,
                &g.context,
                &g.scenarios,
                &pkgs,
                backend,
                jobs,
                json,
            )
            .await
        }
    }
}
