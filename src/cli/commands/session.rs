//! A session's life: `start`, `apply`, `status`, `shell`, `hint`, `note`, `check`,
//! `grade`, `reset`, `stop`, `list --sessions`, `show`.

use super::*;

/// Which assessment a session being started belongs to, and its place in the plan.
pub(super) struct PlanLink {
    pub assessment: String,
    pub title: String,
    pub step: usize,
    pub of: usize,
}

pub(super) async fn start(
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
    let endpoint = match &s.workstation {
        Some(_) => leave_endpoint_running(eng, &s.id).await,
        None => None,
    };
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
            "workstation": s.workstation,
            "docker-endpoint": endpoint,
            "candidate-url": candidate_link(&eng.store, &s).ok(),
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
    welcome_head(pkg, &s);
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
    if s.workstation.is_some() {
        match candidate_link(&eng.store, &s) {
            Ok(url) => println!(
                "  - {:<50} {url}",
                "the candidate's terminal in the browser (theirs):"
            ),
            Err(_) => println!(
                "  - {:<50} breakfix serve, then breakfix status {}",
                "the candidate's terminal in the browser:", s.id
            ),
        }
        println!(
            "  - {:<50} breakfix shell {}",
            "a shell on the workstation (recorded):", s.id
        );
    }
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
pub(super) async fn status(g: &G, session: Option<String>, json: bool) -> CmdResult {
    let (eng, id) = g.session(session).await?;
    let (eng, id) = (&eng, id.as_str());
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
    let link = candidate_link(&eng.store, &s);
    if json {
        print_json(&json!({
            "session": s.id,
            "scenario": s.scenario,
            "candidate": s.candidate,
            "status": s.status,
            "workstation": s.workstation,
            "candidate-url": link.as_ref().ok(),
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
    match &link {
        Ok(url) => println!("candidate {url}"),
        Err(Some(why)) => println!("candidate {why}"),
        Err(None) => {}
    }
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
pub(super) fn list(store: &Store, json: bool) -> CmdResult {
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
pub(super) fn show(g: &G, session: Option<String>, json: bool) -> CmdResult {
    let store = g.store()?;
    let id = match session {
        Some(s) => store.resolve(&s)?,
        None => pick_session(&store, None)?,
    };
    let (store, id) = (&store, id.as_str());
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
/// The session commands a candidate uses, after the backend's own tools.
pub(super) fn next_steps(id: &str, what: &str) {
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

/// The start of what a candidate is told on either backend: the briefing, the session, its
/// time limit and the workspace.
fn welcome_head(pkg: &Package, s: &crate::session::Session) {
    println!("{}\n", pkg.briefing.trim());
    println!("────────────────────────────────────────────────────────────");
    println!("session     {}", s.id);
    println!(
        "time limit  {}",
        humantime::format_duration(pkg.scenario.time_limit.0)
    );
    println!("workspace   {}", s.workspace.display());
}

/// What a candidate on the kube backend is told after the briefing.
pub(super) fn kube_welcome(pkg: &Package, s: &crate::session::Session) -> i32 {
    welcome_head(pkg, s);
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

/// What `start SCENARIO` was asked for.
pub(super) struct StartOne {
    pub scenario: String,
    pub candidate: Option<String>,
    pub workspace: Option<PathBuf>,
    pub backend: Option<BackendKind>,
    pub seed: Option<String>,
    pub runtime: Option<String>,
}

/// `start SCENARIO`: a new session of one scenario.
/// The candidate's link to the workstation's terminal; else why there is none to give
/// (`None`: the session has no workstation, or is over).
fn candidate_link(
    store: &crate::session::Store,
    s: &crate::session::Session,
) -> Result<String, Option<String>> {
    if s.workstation.is_none() || !s.is_live() {
        return Err(None);
    }
    crate::serve::Served::candidate_url(store, s).ok_or_else(|| {
        Some(
            "link: `breakfix serve` gives the candidate their terminal in the browser; start it, then `breakfix status` shows the link"
                .into(),
        )
    })
}

/// Leaves the session's Docker endpoint serving in the background, for the workstation's
/// `docker` CLI: a `breakfix docker-endpoint` of its own, which ends when the session does.
/// Gives the socket once it answers; a warning says why when it does not.
pub(super) async fn leave_endpoint_running(eng: &Engine, id: &str) -> Option<PathBuf> {
    use std::os::unix::process::CommandExt;
    let dir = eng.endpoint_dir(id);
    let socket = dir.join("docker.sock");
    let answers = || async { tokio::net::UnixStream::connect(&socket).await.is_ok() };
    if answers().await {
        return Some(socket);
    }
    let log = dir.join("endpoint.log");
    let spawned = (|| {
        let out = std::fs::File::create(&log)?;
        let exe = std::env::current_exe()?;
        std::process::Command::new(exe)
            .arg("--state-dir")
            .arg(eng.store.root())
            .arg("docker-endpoint")
            .arg(id)
            .stdin(std::process::Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            // Its own process group: a Ctrl-C meant for this terminal does not end it.
            .process_group(0)
            .spawn()
    })();
    if let Err(e) = spawned {
        note!(
            "warning: the workstation's docker endpoint did not start ({e}); run `breakfix docker-endpoint {id}`"
        );
        return None;
    }
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while tokio::time::Instant::now() < deadline {
        if answers().await {
            return Some(socket);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    note!(
        "warning: the workstation's docker endpoint did not answer within 10 s; see {}",
        log.display()
    );
    None
}

pub(super) async fn start_scenario(g: &G, a: StartOne, json: bool) -> CmdResult {
    let seed = a
        .seed
        .unwrap_or_else(crate::scenario::variables::random_seed);
    let pkg = find_package_seeded(&g.scenarios, &a.scenario, Some(&seed))?;
    let kind = a
        .backend
        .or_else(|| pkg.scenario.backends.first().copied())
        .unwrap_or(BackendKind::Docker);
    if !pkg.scenario.backends.contains(&kind) {
        return Err(EngineError::WrongBackend {
            scenario: pkg.id().into(),
            backend: kind,
        });
    }
    let eng = Engine {
        store: g.store()?,
        backend: connect(kind, &g.context, &g.scenarios, a.runtime, true).await?,
    };
    start(&eng, &pkg, a.candidate, a.workspace, json, None).await
}

/// `apply`: redeploys what changed in the workspace.
pub(super) async fn apply(g: &G, session: Option<String>, json: bool) -> CmdResult {
    let (eng, id) = g.session(session).await?;
    let progress = Term::new(json);
    let summary = eng.apply(&id, &progress).await?;
    if json {
        print_json(&summary);
        return Ok(exit::OK);
    }
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
    Ok(exit::OK)
}

/// `shell`: a recorded shell in one of the session's services.
pub(super) async fn shell(
    g: &G,
    session: Option<String>,
    service: Option<String>,
    json: bool,
) -> CmdResult {
    let (eng, id) = g.session(session).await?;
    let summary = crate::cli::shell::run(&eng, &id, service.as_deref()).await?;
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

/// `hint`: the next hint, at its cost.
pub(super) fn hint(g: &G, session: Option<String>, json: bool) -> CmdResult {
    let store = g.store()?;
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

/// `note`: the interviewer's note, with a competency and a mark when given.
pub(super) fn add_note(
    g: &G,
    session: String,
    text: String,
    competency: Option<crate::scenario::Competency>,
    mark: Option<crate::timeline::Mark>,
    json: bool,
) -> CmdResult {
    let store = g.store()?;
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

/// `check`: the checks the candidate may see.
pub(super) async fn check(g: &G, session: Option<String>, json: bool) -> CmdResult {
    let (eng, id) = g.session(session).await?;
    let r = eng.grade(&id, Scope::Candidate).await?;
    print!(
        "{}",
        report::render(&r, if json { Format::Json } else { Format::Text })
    );
    Ok(report_code(&r))
}

/// `grade`: a take-home submission (`--submission`, `--submissions`); else a live session
/// graded now, or a stopped one's last grade.
pub(super) async fn grade(
    g: &G,
    session: Option<String>,
    take_home: crate::cli::SubmissionArgs,
    format: Format,
    output: Option<PathBuf>,
) -> CmdResult {
    if take_home.is_set() {
        let cx = cx(&g.state_dir, &g.context);
        return super::takehome::grade(&cx, &g.scenarios, &take_home, format, output).await;
    }
    if take_home.has_submission_options() {
        note!(
            "error: --scenario, --take-home, --seed, --candidate and --backend describe a take-home submission: give it with --submission PATH or --submissions DIR"
        );
        return Ok(exit::USAGE);
    }
    let store = g.store()?;
    let id = pick_session(&store, session)?;
    let r = if store.load(&id)?.status == Status::Ready {
        let (eng, id) = g.session(Some(id.clone())).await?;
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
    let text = if format == Format::Html {
        // The page replays the session's terminal recordings, with xterm.js inside it.
        let replays = crate::recording::replays(&store.dir(&id));
        let xterm = crate::serve::xterm::load(&crate::serve::xterm::root()).ok();
        let extras = report::html::Extras {
            replays: &replays,
            xterm: xterm
                .as_ref()
                .map(|x| (x.script.as_str(), x.style.as_str())),
        };
        report::html::render_with(&r, &extras)
    } else {
        report::render_sealed(&r, format, key.as_ref())
    };
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

/// `reset`: back to the broken state, the workspace kept aside.
pub(super) async fn reset(g: &G, session: Option<String>) -> CmdResult {
    let (eng, id) = g.session(session).await?;
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

/// `stop`: tears a session down (or every live one); its record and report stay.
pub(super) async fn stop(g: &G, session: Option<String>, all: bool) -> CmdResult {
    let store = g.store()?;
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
        let (eng, id) = g.session(Some(id)).await?;
        let r = eng.stop(&id).await?;
        println!("stopped {id}: removed {r}");
    }
    Ok(exit::OK)
}
