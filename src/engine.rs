//! The session lifecycle: start, apply, hint, check, grade, reset, stop, gc and verify,
//! driving a [`Backend`] and persisting every step in the [`Store`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use time::OffsetDateTime;

use crate::backend::Workload;
use crate::backend::{
    self, ApplySummary, Backend, BackendError, ImageBuild, Progress, Removed, Target,
};
use crate::ceiling::Ceiling;
use crate::check::{self, Patience, Status};
use crate::compose;
use crate::diagnostic::{self, Diagnostic};
use crate::grade::{self, Report, Scope};
use crate::manifests;
use crate::scenario::BackendKind;
use crate::scenario::{self, Action, Check, FixExpectation, LoadError, Package};
use crate::session::{
    self, EventKind, HintTaken, Session, SessionError, Status as SessionStatus, Store,
};
use crate::timeline::Note;

/// How long a command waits for another one holding the same session.
pub const LOCK_WAIT: Duration = Duration::from_secs(30);

/// Rounds in a row in which a `broken-when` check could not run before a start gives up.
const BROKEN_CHECK_ERRORS: u32 = 3;

/// Adds the interviewer's note to a session, live or stopped. Needs no backend.
pub fn add_note(store: &Store, id: &str, note: Note) -> Result<Note> {
    let id = store.resolve(id)?;
    let _lock = store.lock(&id, LOCK_WAIT)?;
    let mut s = store.load(&id)?;
    s.notes.push(note.clone());
    store.save(&s)?;
    Ok(note)
}

/// The last saved grade of a session, with what was recorded since (notes added after the
/// interview, a recorded shell's commands). Needs no backend, so it works after `stop`.
pub fn last_report(store: &Store, id: &str) -> Result<Report> {
    let id = store.resolve(id)?;
    let s = store.load(&id)?;
    let path = store.dir(&id).join("report.json");
    let bytes = std::fs::read(&path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => EngineError::NeverGraded {
            id: id.clone(),
            status: s.status,
        },
        _ => SessionError::Read {
            path: path.clone(),
            source,
        }
        .into(),
    })?;
    let mut report: Report = serde_json::from_slice(&bytes)
        .map_err(|source| EngineError::CorruptReport { path, source })?;
    let pkg = package_of(&s)?;
    grade::refresh(&mut report, &pkg, &s);
    Ok(report)
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error(transparent)]
    Scenario(#[from] LoadError),
    #[error(transparent)]
    TakeHome(#[from] crate::takehome::TakeHomeError),
    #[error(transparent)]
    Seal(#[from] crate::seal::SealError),
    #[error(
        "grade: this is a candidate's copy of the scenario (take-home {take_home}), without the hidden checks; `breakfix check` shows the checks you may see, and the interviewer grades the submitted workspace"
    )]
    BundleNotGradable { take_home: String },
    #[error(transparent)]
    Tool(#[from] crate::tools::ToolError),
    #[error(transparent)]
    Plan(#[from] crate::plan::PlanError),
    #[error("record the shell in {}", path.display())]
    Recording {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("prepare the candidate's workstation in {}", path.display())]
    Workstation {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("open a shell in `{service}`: the session has no such service (it has: {})", if known.is_empty() { "none".to_string() } else { known.join(", ") })]
    NoSuchService { service: String, known: Vec<String> },
    #[error("{op} `{service}`: session {session} has no such service (its services: {})", if known.is_empty() { "none".to_string() } else { known.join(", ") })]
    NotSessionService {
        op: &'static str,
        service: String,
        session: String,
        known: Vec<String>,
    },
    #[error("initialise the workspace's git repository")]
    Repository(#[from] crate::repository::RepositoryError),
    #[error("deploy the workspace: {} problem(s) in its files\n{}", diagnostics.len(), diagnostic::render(diagnostics))]
    Workspace { diagnostics: Vec<Diagnostic> },
    #[error("copy {} to {}", from.display(), to.display())]
    Copy {
        from: PathBuf,
        to: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("copy {} to {}", from.display(), to.display())]
    CopyTree {
        from: PathBuf,
        to: PathBuf,
        #[source]
        source: crate::tree::TreeError,
    },
    #[error("reach the broken state within {}: {detail}", humantime::format_duration(*after))]
    NotBroken { after: Duration, detail: String },
    #[error("give a hint: all {count} hints of this scenario have been taken")]
    NoMoreHints { count: usize },
    #[error("work on session `{id}`: it is {status} (start a new one with `breakfix start`)")]
    NotLive { id: String, status: SessionStatus },
    #[error(
        "show the report of session `{id}`: it is {status} and was never graded (`breakfix grade` grades a live session)"
    )]
    NeverGraded { id: String, status: SessionStatus },
    #[error("read the saved report {}: it is not one breakfix wrote", path.display())]
    CorruptReport {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error(
        "start scenario `{scenario}` on the {backend} backend: the scenario does not declare it"
    )]
    WrongBackend {
        scenario: String,
        backend: crate::scenario::BackendKind,
    },
    #[error("serve the Docker endpoint of session {id}: {why}")]
    Endpoint { id: String, why: String },
    #[error("serve the Docker endpoint on {}", path.display())]
    EndpointSocket {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("run {what} in `{service}`: {detail}")]
    Action {
        what: String,
        service: String,
        detail: String,
    },
}

impl EngineError {
    pub fn is_unreachable(&self) -> bool {
        matches!(self, EngineError::Backend(e) if e.is_unreachable())
    }
}

pub type Result<T> = std::result::Result<T, EngineError>;

pub struct Engine {
    pub store: Store,
    pub backend: Arc<dyn Backend>,
}

/// What a round of a live view saw.
#[derive(Clone, Debug)]
pub struct Round {
    /// The session as recorded after the round.
    pub session: Session,
    /// The checks of the round, scored as a grade would be at this moment.
    pub report: Report,
    /// Checks left to `grade`: they change the sandbox or run a whole pipeline.
    pub skipped: Vec<String>,
}

/// What a recorded shell left behind.
#[derive(Clone, Debug, Serialize)]
pub struct ShellSummary {
    pub place: String,
    pub recording: PathBuf,
    pub commands: usize,
}

/// What `hint` gives.
#[derive(Debug, Serialize)]
pub struct GivenHint {
    pub number: usize,
    pub of: usize,
    pub cost: u32,
    pub text: String,
}

/// What `gc` found and removed.
#[derive(Debug, Default, Serialize)]
pub struct GcSummary {
    pub sessions: Vec<String>,
    pub removed: Removed,
    pub abandoned_marked_failed: Vec<String>,
}

/// One step of `verify`, with its time.
#[derive(Debug, Serialize)]
pub struct VerifyStep {
    pub step: String,
    pub ok: bool,
    pub detail: String,
    pub secs: f64,
}

#[derive(Debug, Serialize)]
pub struct Verification {
    pub scenario: String,
    pub session: String,
    pub proven: bool,
    pub steps: Vec<VerifyStep>,
    pub broken: Option<Report>,
    pub fixed: Option<Report>,
    /// Reports of the package's alternative and fake fixes, in order.
    pub fixes: Vec<Report>,
}

/// Adds one event to a session's timeline (under its lock).
pub fn record_event(store: &Store, id: &str, kind: EventKind, detail: &str) -> Result<()> {
    let _lock = store.lock(id, LOCK_WAIT)?;
    let mut s = store.load(id)?;
    s.record(kind, detail);
    store.save(&s)?;
    Ok(())
}

/// Takes a live session's lock, then reads it, so what is saved afterwards cannot overwrite
/// a change another command made in between.
pub fn lock_live(store: &Store, id: &str) -> Result<(session::Lock, Session)> {
    let id = store.resolve(id)?;
    let lock = store.lock(&id, LOCK_WAIT)?;
    let s = store.load(&id)?;
    if s.status != SessionStatus::Ready {
        return Err(EngineError::NotLive {
            id: s.id,
            status: s.status,
        });
    }
    Ok((lock, s))
}

/// The scenario package a session was started from, loaded afresh.
pub fn package_of(s: &Session) -> Result<Package> {
    Ok(scenario::load(&s.package)?)
}

/// Gives the next hint and records it in the ledger. Needs no backend.
pub fn take_hint(store: &Store, id: &str) -> Result<GivenHint> {
    let (_lock, mut s) = lock_live(store, id)?;
    let pkg = package_of(&s)?;
    let hints = &pkg.scenario.hints;
    let number = s.hints.len() + 1;
    let Some(h) = hints.get(number - 1) else {
        return Err(EngineError::NoMoreHints { count: hints.len() });
    };
    s.hints.push(HintTaken {
        number,
        taken_at: OffsetDateTime::now_utc(),
        cost: h.cost.value,
    });
    s.record(
        EventKind::Hint,
        format!("hint {number} taken (-{})", h.cost.value),
    );
    store.save(&s)?;
    Ok(GivenHint {
        number,
        of: hints.len(),
        cost: h.cost.value,
        text: h.text.clone(),
    })
}

pub fn images_for(pkg: &Package) -> Vec<ImageBuild> {
    pkg.scenario
        .environment
        .images
        .iter()
        .map(|name| ImageBuild {
            repo: pkg.image_repo(name),
            context: pkg.image_dir(name),
        })
        .collect()
}

/// The scenario's ceiling on what a workspace may declare: `environment.ceiling`, the rest
/// from the scenario's own workspace (trusted: it comes from the package, not the session).
pub fn ceiling_of(pkg: &Package) -> Result<Ceiling> {
    let ws = pkg.workspace_dir();
    let own = compose::load(
        &ws,
        &ws.join(&pkg.scenario.environment.compose.value),
        &compose::Unbounded,
    )
    .map_err(|diagnostics| EngineError::Workspace { diagnostics })?;
    Ok(Ceiling::for_package(pkg, &own))
}

/// Copies a folder tree ([`crate::tree::copy`]), naming both ends when it fails.
pub fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    let err = |source| EngineError::CopyTree {
        from: from.to_path_buf(),
        to: to.to_path_buf(),
        source,
    };
    crate::tree::copy(from, to).map_err(err)
}

/// Removes a workspace about to be filled again from `from`.
fn empty_workspace(workspace: &Path, from: &Path) -> Result<()> {
    if workspace.exists() {
        std::fs::remove_dir_all(workspace).map_err(|source| EngineError::Copy {
            from: from.to_path_buf(),
            to: workspace.to_path_buf(),
            source,
        })?;
    }
    Ok(())
}

/// The commands of one recorded terminal, joining the session's timeline as they are entered.
#[derive(Clone)]
struct CommandsJoined {
    store: Store,
    session: String,
    path: PathBuf,
    opened_at: OffsetDateTime,
    target: String,
    recording: String,
    /// How many of the recording's commands the session already holds.
    saved: Arc<std::sync::atomic::AtomicUsize>,
}

impl CommandsJoined {
    /// Adds the commands the recording holds beyond those saved; gives how many it holds.
    fn save_new(&self) -> Result<usize> {
        use std::sync::atomic::Ordering;
        let text = std::fs::read_to_string(&self.path).unwrap_or_default();
        let all = crate::timeline::commands_in_cast(&text);
        let _lock = self.store.lock(&self.session, LOCK_WAIT)?;
        let saved = self.saved.load(Ordering::SeqCst);
        if all.len() > saved {
            let mut s = self.store.load(&self.session)?;
            s.commands.extend(all[saved..].iter().map(|(t, command)| {
                crate::timeline::CommandRun {
                    at: self.opened_at + Duration::from_secs_f64(*t),
                    target: self.target.clone(),
                    command: command.clone(),
                    recording: self.recording.clone(),
                }
            }));
            self.store.save(&s)?;
            self.saved.store(all.len(), Ordering::SeqCst);
        }
        Ok(all.len())
    }
}

/// What the workstation's shell greets the candidate with.
fn motd(pkg: &Package, s: &Session, kubernetes: bool) -> String {
    let reach = if kubernetes {
        "kubectl works in this session's namespace and nowhere else (get, describe, logs,\n  \
         exec, port-forward, apply, edit, rollout...); this machine has no other network."
    } else {
        "The services answer on this network by name. docker ps, logs, inspect, exec,\n  \
         top, stats, events, restart, stop and start reach this session's services and\n  \
         nothing else."
    };
    format!(
        "\n  {title}  (session {id})\n\n  \
         Your workspace is /workspace. {reach}\n  \
         After changing the workspace, run `breakfix apply`; `breakfix check` shows your\n  \
         checks, `breakfix hint` gives a hint (it costs points). Everything typed here is\n  \
         recorded.\n\n",
        title = pkg.scenario.title,
        id = s.id,
    )
}

/// Makes `path` belong to the workspace's owner (`owner`, its metadata) when breakfix runs
/// as root: the workstation runs as that user and must be able to open what the endpoint
/// folder holds for it.
pub(crate) fn give_to_owner(path: &Path, owner: &std::fs::Metadata) -> std::io::Result<()> {
    use std::os::unix::fs::MetadataExt;
    if rustix::process::geteuid().is_root() && owner.uid() != 0 {
        std::os::unix::fs::chown(path, Some(owner.uid()), Some(owner.gid()))?;
    }
    Ok(())
}

/// The scenario's workspace, as a git repository when the scenario asks for one.
fn copy_workspace(pkg: &Package, workspace: &Path) -> Result<()> {
    copy_tree(&pkg.workspace_dir(), workspace)?;
    if let Some(repo) = &pkg.scenario.environment.repository {
        crate::repository::init(pkg, repo, workspace)?;
    }
    Ok(())
}

impl Engine {
    /// What the backend needs to know to act on a session's objects.
    pub fn target(&self, s: &Session) -> Target {
        Target {
            session: s.id.clone(),
            scenario: s.scenario.clone(),
            store: self.store.id(),
        }
    }

    /// What the workspace declares, in the form the backend runs: the compose file's
    /// services (Docker) or the manifests folder's objects (Kubernetes).
    pub fn workload(&self, pkg: &Package, workspace: &Path) -> Result<Workload> {
        let env = &pkg.scenario.environment;
        let loaded = match self.backend.kind() {
            BackendKind::Docker => {
                let ceiling = ceiling_of(pkg)?;
                compose::load(workspace, &workspace.join(&env.compose.value), &ceiling)
                    .map(Workload::Compose)
            }
            BackendKind::Kube => manifests::KubeCeiling::for_package(pkg)
                .and_then(|c| manifests::load(workspace, &workspace.join(&env.manifests.value), &c))
                .map(Workload::Manifests),
        };
        loaded.map_err(|diagnostics| EngineError::Workspace { diagnostics })
    }

    /// The workload to deploy: [`Engine::workload`], with every service (or container of the
    /// manifests) that names one of the scenario's images (`breakfix/<id>-<name>`, untagged
    /// or `:latest`) pinned to the build its package makes now. `:latest` is whatever was
    /// built last, which may be another version or variant of the package: checks that prove
    /// a container runs the scenario's image need it to be this one.
    async fn deployable(&self, pkg: &Package, workspace: &Path) -> Result<Workload> {
        let mut workload = self.workload(pkg, workspace)?;
        if let Workload::Manifests(ms) = &mut workload {
            let mut pins = BTreeMap::new();
            for img in images_for(pkg) {
                if let Some(tag) = self.backend.built_tag(&img).await? {
                    pins.insert(img.repo.clone(), tag);
                }
            }
            manifests::pin_images(ms, &|image| {
                pins.get(image.strip_suffix(":latest").unwrap_or(image))
                    .cloned()
            });
        }
        if let Workload::Compose(d) = &mut workload {
            for img in images_for(pkg) {
                let latest = format!("{}:latest", img.repo);
                let named = |s: &compose::ServiceSpec| {
                    s.build.is_none() && (s.image == img.repo || s.image == latest)
                };
                if !d.services.iter().any(named) {
                    continue;
                }
                if let Some(tag) = self.backend.built_tag(&img).await? {
                    for s in d.services.iter_mut().filter(|s| named(s)) {
                        s.image = tag.clone();
                    }
                }
            }
        }
        Ok(workload)
    }

    /// The names a candidate knows the sandbox's parts by: compose services (Docker), or the
    /// Deployments, StatefulSets, Jobs and Pods of the manifests (Kubernetes).
    pub fn services(&self, pkg: &Package, workspace: &Path) -> Vec<String> {
        match self.workload(pkg, workspace) {
            Ok(Workload::Compose(d)) => d.services.iter().map(|s| s.name.clone()).collect(),
            Ok(Workload::Manifests(ms)) => ms
                .iter()
                .filter(|m| {
                    m.info.pods != manifests::PodSpecAt::None && m.info.kind != "ReplicaSet"
                })
                .map(|m| m.name.clone())
                .collect(),
            Err(_) => vec![],
        }
    }

    /// Hands the candidate their own access (a namespace-scoped kubeconfig) for the time
    /// limit plus a margin, and records it in the session.
    async fn grant(&self, pkg: &Package, s: &mut Session) -> Result<()> {
        let ttl = pkg.scenario.time_limit.0 + Duration::from_secs(30 * 60);
        let g = self
            .backend
            .grant(&self.target(s), &self.store.dir(&s.id), ttl)
            .await?;
        s.kubeconfig = g.kubeconfig;
        s.namespace = g.namespace;
        Ok(())
    }

    /// The folder of a session's own Docker endpoint: its socket and the workstation's
    /// greeting, mounted read-only into the workstation.
    pub fn endpoint_dir(&self, id: &str) -> PathBuf {
        self.store.dir(id).join("endpoint")
    }

    /// Starts the candidate's workstation: the workspace at `/workspace`, the session's
    /// endpoint folder at `/run/breakfix`, run as the workspace's owner. On Kubernetes the
    /// folder also holds the candidate's kubeconfig as the workstation uses it (through the
    /// endpoint's relay); a cluster reached without TLS gets no workstation.
    async fn workstation(
        &self,
        pkg: &Package,
        s: &mut Session,
        progress: &dyn Progress,
    ) -> Result<()> {
        use std::os::unix::fs::MetadataExt;
        let dir = self.endpoint_dir(&s.id);
        let io = |source| EngineError::Workstation {
            path: dir.clone(),
            source,
        };
        let kubernetes = self.backend.kind() == BackendKind::Kube;
        std::fs::create_dir_all(&dir).map_err(io)?;
        std::fs::write(dir.join("motd"), motd(pkg, s, kubernetes)).map_err(io)?;
        let owner = std::fs::metadata(&s.workspace).map_err(io)?;
        progress.begin("starting the candidate's workstation");
        if kubernetes {
            let granted = match &s.kubeconfig {
                Some(kc) => std::fs::read_to_string(kc).map_err(io)?,
                None => String::new(),
            };
            let Some((relayed, _)) = crate::backend::kube::relayed_kubeconfig(&granted) else {
                progress.finish("none: the cluster is not reached over https");
                return Ok(());
            };
            let path = dir.join("kubeconfig");
            crate::tree::write_atomic(&path, relayed.as_bytes()).map_err(io)?;
            give_to_owner(&path, &owner).map_err(io)?;
        }
        let spec = backend::WorkstationSpec {
            workspace: s.workspace.clone(),
            endpoint: dir.clone(),
            user: format!("{}:{}", owner.uid(), owner.gid()),
            kubernetes,
        };
        s.workstation = self
            .backend
            .workstation(&self.target(s), &spec, progress)
            .await?;
        if s.workstation.is_some() && s.candidate_token.is_none() {
            s.candidate_token = Some(crate::session::new_secret());
        }
        progress.finish("ready");
        Ok(())
    }

    /// Creates the session record and its workspace; nothing runs yet.
    pub fn create(
        &self,
        pkg: &Package,
        candidate: Option<String>,
        workspace: Option<PathBuf>,
    ) -> Result<Session> {
        let kind = self.backend.kind();
        if !pkg.scenario.backends.contains(&kind) {
            return Err(EngineError::WrongBackend {
                scenario: pkg.id().into(),
                backend: kind,
            });
        }
        let id = session::new_id(pkg.id());
        let workspace = workspace.unwrap_or_else(|| self.store.dir(&id).join("workspace"));
        // A parameterised package rendered for this candidate's seed is kept with the session,
        // so its checks and hints stay those of the candidate's variant.
        let package = if pkg.is_temporary() {
            let kept = self.store.dir(&id).join("package").join(pkg.id());
            copy_tree(&pkg.root, &kept)?;
            kept
        } else {
            pkg.root.canonicalize().unwrap_or_else(|_| pkg.root.clone())
        };
        let now = OffsetDateTime::now_utc();
        let mut s = Session {
            format_version: session::FORMAT_VERSION,
            id,
            scenario: pkg.id().into(),
            package,
            candidate,
            backend: self.backend.kind(),
            context: self.backend.context(),
            runtime: self.backend.runtime(),
            kubeconfig: None,
            namespace: None,
            workstation: None,
            candidate_token: None,
            status: SessionStatus::Provisioning,
            created_at: now,
            ready_at: None,
            stopped_at: None,
            time_limit_secs: pkg.scenario.time_limit.0.as_secs(),
            workspace: workspace.clone(),
            pid: std::process::id(),
            hints: vec![],
            events: vec![],
            observations: vec![],
            notes: vec![],
            commands: vec![],
            workspace_files: Default::default(),
            submission: None,
        };
        s.record(EventKind::Created, format!("scenario {}", pkg.id()));
        self.store.save(&s)?;
        copy_workspace(pkg, &workspace)?;
        Ok(s)
    }

    /// Builds, deploys, injects faults, waits for the broken state, starts the candidate's
    /// workstation and starts the clock.
    pub async fn provision(
        &self,
        pkg: &Package,
        s: &mut Session,
        progress: &dyn Progress,
    ) -> Result<()> {
        self.provision_for(pkg, s, progress, true).await
    }

    /// As [`Engine::provision`]; `workstation: false` for a sandbox no candidate works in
    /// (`verify`).
    async fn provision_for(
        &self,
        pkg: &Package,
        s: &mut Session,
        progress: &dyn Progress,
        workstation: bool,
    ) -> Result<()> {
        let _lock = self.store.lock(&s.id, LOCK_WAIT)?;
        self.backend.prepare(&images_for(pkg), progress).await?;
        self.deploy_broken(pkg, s, progress).await?;
        self.grant(pkg, s).await?;
        if workstation {
            self.workstation(pkg, s, progress).await?;
        }
        s.status = SessionStatus::Ready;
        s.ready_at = Some(OffsetDateTime::now_utc());
        s.workspace_files = crate::timeline::snapshot(&s.workspace);
        s.record(EventKind::Ready, "broken state reached; clock started");
        self.store.save(s)?;
        Ok(())
    }

    /// Provisions a take-home submission: the session's workspace replaced by the submitted
    /// files, images built, the workspace deployed and the scenario's runtime faults (the
    /// incident's conditions) injected; no wait for a broken state, since a submission is
    /// meant to be fixed. The clock starts when it is deployed; `grade` follows.
    pub async fn provision_submission(
        &self,
        pkg: &Package,
        s: &mut Session,
        submitted: &Path,
        info: crate::session::SubmissionInfo,
        progress: &dyn Progress,
    ) -> Result<()> {
        let _lock = self.store.lock(&s.id, LOCK_WAIT)?;
        empty_workspace(&s.workspace, submitted)?;
        copy_tree(submitted, &s.workspace)?;
        s.submission = Some(info);
        s.record(
            EventKind::Submission,
            "the submitted workspace replaces the one issued",
        );
        self.store.save(s)?;
        self.backend.prepare(&images_for(pkg), progress).await?;
        let t = self.target(s);
        let workload = self.deployable(pkg, &s.workspace).await?;
        progress.begin("deploying the submitted workspace");
        self.backend.deploy(&t, &workload, progress).await?;
        progress.finish("deployed");
        for f in &pkg.scenario.faults {
            progress.begin(&format!(
                "injecting the incident's conditions: {}",
                f.description
            ));
            // A submission may have changed what the fault acts on: that is for the checks
            // to judge, so the grade goes on and the session records it.
            match self.run_action(&t, &f.action).await {
                Ok(()) => progress.finish("injected"),
                Err(e) => {
                    progress.finish(&format!("could not be injected: {e}"));
                    s.record(EventKind::FaultFailed, format!("{}: {e}", f.description));
                }
            }
        }
        s.status = SessionStatus::Ready;
        s.ready_at = Some(OffsetDateTime::now_utc());
        s.workspace_files = crate::timeline::snapshot(&s.workspace);
        s.record(EventKind::Ready, "submission deployed");
        self.store.save(s)?;
        Ok(())
    }

    async fn deploy_broken(
        &self,
        pkg: &Package,
        s: &mut Session,
        progress: &dyn Progress,
    ) -> Result<()> {
        let t = self.target(s);
        let workload = self.deployable(pkg, &s.workspace).await?;
        progress.begin("deploying the workspace");
        let summary = self.backend.deploy(&t, &workload, progress).await?;
        progress.finish(&format!(
            "deployed {} service(s)",
            summary.created.len() + summary.recreated.len() + summary.unchanged.len()
        ));
        for f in &pkg.scenario.faults {
            progress.begin(&format!("injecting fault: {}", f.description));
            self.run_action(&t, &f.action).await?;
            progress.finish("fault injected");
        }
        progress.begin("waiting for the broken state");
        let waited = self.wait_broken(pkg, &t, &s.workspace).await?;
        progress.finish(&format!(
            "broken state reached in {:.1}s",
            waited.as_secs_f64()
        ));
        Ok(())
    }

    async fn run_action(&self, t: &Target, a: &Action) -> Result<()> {
        match a {
            Action::Exec(e) => {
                let out = self
                    .backend
                    .exec(t, &e.service, &e.command, Duration::from_secs(60))
                    .await?;
                if out.exit_code != Some(0) {
                    return Err(EngineError::Action {
                        what: format!("`{}`", e.command.join(" ")),
                        service: e.service.value.clone(),
                        detail: format!("exit {:?}: {}", out.exit_code, out.output.trim()),
                    });
                }
            }
            Action::Restart(r) => self.backend.restart(t, &r.service).await?,
        }
        Ok(())
    }

    /// Polls the scenario's `broken-when` checks until they all fail.
    async fn wait_broken(&self, pkg: &Package, t: &Target, workspace: &Path) -> Result<Duration> {
        let started = Instant::now();
        let bw = &pkg.scenario.environment.broken_when;
        let checks: Vec<_> = bw.failing.iter().filter_map(|id| pkg.check(id)).collect();
        let mut errors_in_a_row = 0;
        loop {
            let cx = check::Ctx {
                backend: self.backend.as_ref(),
                target: t,
                workspace,
                patience: Patience::Once,
                round: 0,
            };
            let outcomes = check::run_all(&checks, &cx).await;
            // A check that could not run (a probe held up on a busy host) is asked again;
            // one that keeps failing to run stops the start.
            match outcomes.iter().find(|(_, o)| o.status == Status::Error) {
                Some((c, o)) if errors_in_a_row + 1 >= BROKEN_CHECK_ERRORS => {
                    return Err(EngineError::NotBroken {
                        after: started.elapsed(),
                        detail: format!("check `{}` could not run: {}", c.id.value, o.summary),
                    });
                }
                Some(_) => errors_in_a_row += 1,
                None => errors_in_a_row = 0,
            }
            let still_passing: Vec<_> = outcomes
                .iter()
                .filter(|(_, o)| o.status != Status::Fail)
                .collect();
            if still_passing.is_empty() {
                return Ok(started.elapsed());
            }
            if started.elapsed() >= bw.timeout.0 {
                let (c, o) = still_passing[0];
                let verdict = if o.status == Status::Pass {
                    "still passes"
                } else {
                    "could not run"
                };
                return Err(EngineError::NotBroken {
                    after: bw.timeout.0,
                    detail: format!("check `{}` {verdict} ({})", c.id.value, o.summary),
                });
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// After a failed or interrupted start: tear down and mark the session failed.
    pub async fn abort(&self, s: &mut Session, why: &str) -> Result<Removed> {
        let removed = self.backend.teardown(&s.id).await;
        s.status = SessionStatus::Failed;
        s.stopped_at = Some(OffsetDateTime::now_utc());
        s.record(EventKind::Failed, why);
        self.store.save(s)?;
        Ok(removed?)
    }

    /// Redeploys the workspace; only services whose definition, files or build context
    /// changed are rebuilt and recreated.
    pub async fn apply(&self, id: &str, progress: &dyn Progress) -> Result<ApplySummary> {
        let (_lock, mut s) = lock_live(&self.store, id)?;
        let pkg = package_of(&s)?;
        s.note_workspace();
        let workload = match self.deployable(&pkg, &s.workspace).await {
            Ok(d) => d,
            Err(e) => {
                s.record(EventKind::ApplyRejected, e.to_string());
                self.store.save(&s)?;
                return Err(e);
            }
        };
        let summary = match self
            .backend
            .deploy(&self.target(&s), &workload, progress)
            .await
        {
            Ok(summary) => summary,
            Err(e) => {
                s.record(EventKind::ApplyFailed, e.to_string());
                self.store.save(&s)?;
                return Err(e.into());
            }
        };
        s.record(
            EventKind::Applied,
            format!(
                "created [{}] recreated [{}] unchanged [{}] removed [{}]",
                summary.created.join(", "),
                summary.recreated.join(", "),
                summary.unchanged.join(", "),
                summary.removed.join(", ")
            ),
        );
        self.store.save(&s)?;
        Ok(summary)
    }

    /// Runs the checks of `scope` and computes the report; `grade` also saves it.
    pub async fn grade(&self, id: &str, scope: Scope) -> Result<Report> {
        let s = self.live_session(id)?;
        let pkg = package_of(&s)?;
        if scope == Scope::All
            && let Some(b) = &pkg.scenario.bundle
        {
            return Err(EngineError::BundleNotGradable {
                take_home: b.take_home.clone(),
            });
        }
        // The signing key is read before the checks run, so a bad key loses no grade.
        let key = match scope {
            Scope::All => crate::seal::signing_key_for(self.store.root())?,
            Scope::Candidate => None,
        };
        let checks = grade::checks_in_scope(&pkg, scope);
        let outcomes = self.run_checks(&s, &checks, Patience::Settle).await;
        let by = if scope == Scope::All {
            "grade"
        } else {
            "check"
        };
        let (_lock, mut s) = self.record_round(&s.id, &outcomes, by)?;
        let report = grade::compute(&pkg, &s, &outcomes, scope, OffsetDateTime::now_utc());
        if scope == Scope::All {
            let json = crate::seal::sealed_json(&report, key.as_ref());
            session::write_atomic(&self.store.dir(&s.id).join("report.json"), json.as_bytes())?;
            s.record(
                EventKind::Graded,
                format!("{} / {}", report.score, report.max_score),
            );
            self.store.save(&s)?;
        }
        Ok(report)
    }

    /// One round of a live view (`watch`, `serve`): every check that only observes, each
    /// tried once, so a round takes seconds and never disturbs the candidate's sandbox.
    /// Checks that change the sandbox (alert drills) or run a whole pipeline run only in
    /// `grade`. Status changes and workspace edits go into the session's timeline.
    pub async fn observe(&self, id: &str, by: &str) -> Result<Round> {
        let s = self.live_session(id)?;
        let pkg = package_of(&s)?;
        let checks: Vec<&Check> = grade::checks_in_scope(&pkg, Scope::All)
            .into_iter()
            .filter(|c| c.kind.in_live_rounds())
            .collect();
        let outcomes = self.run_checks(&s, &checks, Patience::Once).await;
        let (_lock, s) = self.record_round(&s.id, &outcomes, by)?;
        let report = grade::compute(&pkg, &s, &outcomes, Scope::All, OffsetDateTime::now_utc());
        let skipped = grade::checks_in_scope(&pkg, Scope::All)
            .into_iter()
            .filter(|c| !c.kind.in_live_rounds())
            .map(|c| c.id.value.clone())
            .collect();
        Ok(Round {
            session: s,
            report,
            skipped,
        })
    }

    /// Opens a recorded shell in a service of a live session (default: the candidate's
    /// workstation, else the first service). Everything shown and typed goes to an asciicast
    /// file in the session's `recordings/`; the commands typed join the session's timeline.
    pub async fn shell(
        &self,
        id: &str,
        service: Option<&str>,
        size: (u16, u16),
        keys: crate::recording::Keys,
        screen: impl tokio::io::AsyncWrite + Unpin,
    ) -> Result<ShellSummary> {
        let s = self.live_session(id)?;
        let pkg = package_of(&s)?;
        let mut services = self.services(&pkg, &s.workspace);
        if s.workstation.is_some() {
            services.insert(0, backend::WORKSTATION.to_string());
        }
        let service = match service {
            Some(name) if services.iter().any(|x| x == name) => name.to_string(),
            Some(name) => {
                return Err(EngineError::NoSuchService {
                    service: name.into(),
                    known: services,
                });
            }
            None => services
                .iter()
                .find(|x| *x == "workstation")
                .or(services.first())
                .cloned()
                .ok_or_else(|| EngineError::NoSuchService {
                    service: "(any)".into(),
                    known: vec![],
                })?,
        };
        let shell = backend::shell_command();
        self.recorded_terminal(&s, service, &shell, None, size, keys, screen)
            .await
    }

    /// Opens a terminal running `cmd` in a service of the session (checked by the caller) and
    /// records it like a shell: an asciicast in `recordings/`, the lines typed in the
    /// timeline. `opening`, when given, is the command line that opened it (`breakfix exec
    /// -t`), recorded first.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn recorded_terminal(
        &self,
        s: &Session,
        service: String,
        cmd: &[String],
        opening: Option<String>,
        size: (u16, u16),
        keys: crate::recording::Keys,
        screen: impl tokio::io::AsyncWrite + Unpin,
    ) -> Result<ShellSummary> {
        let what = if opening.is_some() {
            "recorded terminal"
        } else {
            "recorded shell"
        };
        let dir = self.store.dir(&s.id).join("recordings");
        let taken = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
        let mut attempt = taken + 1;
        let (mut cast, name) = loop {
            let name = format!("{attempt}-{service}.cast");
            let title = format!(
                "{} · {} · {service}",
                s.id,
                s.candidate.as_deref().unwrap_or("-")
            );
            match crate::recording::Cast::create(&dir.join(&name), size, &title) {
                Ok(c) => break (c, name),
                // Another shell took this number a moment ago.
                Err(e)
                    if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < taken + 100 =>
                {
                    attempt += 1
                }
                Err(source) => {
                    return Err(EngineError::Recording {
                        path: dir.join(name),
                        source,
                    });
                }
            }
        };
        let path = dir.join(&name);
        let rel = format!("recordings/{name}");
        let opened_at = OffsetDateTime::now_utc();
        let term = match self
            .backend
            .terminal(&self.target(s), &service, cmd, size)
            .await
        {
            Ok(t) => t,
            Err(e) => {
                // Nothing was recorded: leave no empty recording behind.
                let _ = std::fs::remove_file(&path);
                return Err(e.into());
            }
        };
        let place = term.place.clone();
        {
            let _lock = self.store.lock(&s.id, LOCK_WAIT)?;
            let mut s = self.store.load(&s.id)?;
            s.record(
                EventKind::Shell,
                format!("{what} opened in {place} ({rel})"),
            );
            if let Some(command) = opening {
                s.commands.push(crate::timeline::CommandRun {
                    at: opened_at,
                    target: service.clone(),
                    command,
                    recording: rel.clone(),
                });
            }
            self.store.save(&s)?;
        }
        // The commands join the timeline as they are entered (a grade or the dashboard sees
        // them while the shell is still open), from a task of their own so that a session
        // locked by a long grade never holds up the terminal.
        let joined = CommandsJoined {
            store: self.store.clone(),
            session: s.id.clone(),
            path: path.clone(),
            opened_at,
            target: service.clone(),
            recording: rel.clone(),
            saved: Arc::new(std::sync::atomic::AtomicUsize::new(0)),
        };
        let (entered, mut lines) = tokio::sync::mpsc::unbounded_channel();
        let saver = {
            let joined = joined.clone();
            tokio::spawn(async move {
                while lines.recv().await.is_some() {
                    while lines.try_recv().is_ok() {}
                    let joined = joined.clone();
                    let _ = tokio::task::spawn_blocking(move || joined.save_new()).await;
                }
            })
        };
        let pumped = crate::recording::pump(term, keys, screen, &mut cast, Some(entered)).await;
        let _ = saver.await;
        // Whatever ended the shell, what was recorded is kept and read back.
        let count = joined.save_new()?;
        {
            let _lock = self.store.lock(&s.id, LOCK_WAIT)?;
            let mut s = self.store.load(&s.id)?;
            s.record(
                EventKind::Shell,
                format!("{what} in {place} closed: {count} command(s) ({rel})"),
            );
            self.store.save(&s)?;
        }
        pumped.map_err(|source| EngineError::Recording {
            path: path.clone(),
            source,
        })?;
        Ok(ShellSummary {
            place,
            recording: path,
            commands: count,
        })
    }

    pub(crate) fn live_session(&self, id: &str) -> Result<Session> {
        let s = self.store.load(&self.store.resolve(id)?)?;
        if s.status != SessionStatus::Ready {
            return Err(EngineError::NotLive {
                id: s.id,
                status: s.status,
            });
        }
        Ok(s)
    }

    async fn run_checks<'a>(
        &self,
        s: &Session,
        checks: &[&'a Check],
        patience: Patience,
    ) -> Vec<(&'a Check, check::Outcome)> {
        let t = self.target(s);
        let cx = check::Ctx {
            backend: self.backend.as_ref(),
            target: &t,
            workspace: &s.workspace,
            patience,
            round: 0,
        };
        check::run_all(checks, &cx).await
    }

    /// Records what a round saw (status changes, workspace edits) under the session's lock,
    /// which it returns held with the session as saved.
    fn record_round(
        &self,
        id: &str,
        outcomes: &[(&Check, check::Outcome)],
        by: &str,
    ) -> Result<(session::Lock, Session)> {
        let lock = self.store.lock(id, LOCK_WAIT)?;
        // Reload: a hint or a note may have been recorded while the checks ran.
        let mut s = self.store.load(id)?;
        let edited = s.note_workspace();
        let round: Vec<(String, check::Outcome)> = outcomes
            .iter()
            .map(|(c, o)| (c.id.value.clone(), o.clone()))
            .collect();
        let seen =
            crate::timeline::transitions(&s.observations, &round, OffsetDateTime::now_utc(), by);
        // A quiet round (the usual case for a live view) writes nothing.
        if edited || !seen.is_empty() {
            s.observations.extend(seen);
            self.store.save(&s)?;
        }
        Ok((lock, s))
    }

    /// Back to the broken state. The candidate's workspace is kept in `workspace-backups/`.
    pub async fn reset(&self, id: &str, progress: &dyn Progress) -> Result<PathBuf> {
        let (_lock, mut s) = lock_live(&self.store, id)?;
        let pkg = package_of(&s)?;
        let backups = self.store.dir(&s.id).join("workspace-backups");
        let stamp = OffsetDateTime::now_utc().unix_timestamp();
        let taken = std::fs::read_dir(&backups).map(|d| d.count()).unwrap_or(0);
        let backup = backups.join(format!("{stamp}-{}", taken + 1));
        copy_tree(&s.workspace, &backup)?;
        self.restore_broken(&pkg, &mut s, progress).await?;
        s.workspace_files = crate::timeline::snapshot(&s.workspace);
        // A new namespace means a new account: the old token no longer works.
        self.grant(&pkg, &mut s).await?;
        self.workstation(&pkg, &mut s, progress).await?;
        s.record(
            EventKind::Reset,
            format!(
                "workspace restored; previous one kept in {}",
                backup.display()
            ),
        );
        self.store.save(&s)?;
        Ok(backup)
    }

    /// Puts the scenario's workspace back and redeploys the broken state.
    async fn restore_broken(
        &self,
        pkg: &Package,
        s: &mut Session,
        progress: &dyn Progress,
    ) -> Result<()> {
        empty_workspace(&s.workspace, &pkg.workspace_dir())?;
        copy_workspace(pkg, &s.workspace)?;
        self.backend.teardown(&s.id).await?;
        self.deploy_broken(pkg, s, progress).await
    }

    /// Tears the session down; its record and reports stay.
    pub async fn stop(&self, id: &str) -> Result<Removed> {
        let id = self.store.resolve(id)?;
        let _lock = self.store.lock(&id, LOCK_WAIT)?;
        let mut s = self.store.load(&id)?;
        let removed = self.backend.teardown(&s.id).await?;
        if s.is_live() {
            s.status = SessionStatus::Stopped;
            s.stopped_at = Some(OffsetDateTime::now_utc());
        }
        s.record(EventKind::Stopped, format!("removed {removed}"));
        self.store.save(&s)?;
        Ok(removed)
    }

    /// Removes every labelled object whose session is gone, stopped, failed or abandoned.
    pub async fn gc(&self) -> Result<GcSummary> {
        let mut summary = GcSummary::default();
        let mut by_session: BTreeMap<String, usize> = BTreeMap::new();
        let store = self.store.id();
        for o in self.backend.labelled().await? {
            // Objects of another state directory are that directory's business.
            if o.store == store {
                *by_session.entry(o.session).or_default() += 1;
            }
        }
        for sid in by_session.keys() {
            let orphan = match self.store.load(sid) {
                Ok(s) => !s.is_live() || s.is_abandoned(),
                Err(SessionError::NotFound { .. }) | Err(SessionError::Corrupt { .. }) => true,
                Err(e) => return Err(e.into()),
            };
            if orphan {
                summary.removed.add(&self.backend.teardown(sid).await?);
                summary.sessions.push(sid.clone());
            }
        }
        for sid in self.store.ids() {
            if let Ok(mut s) = self.store.load(&sid)
                && s.is_abandoned()
            {
                s.status = SessionStatus::Failed;
                s.stopped_at = Some(OffsetDateTime::now_utc());
                s.record(
                    EventKind::Failed,
                    "abandoned while provisioning; cleaned up by gc",
                );
                self.store.save(&s)?;
                summary.abandoned_marked_failed.push(sid);
            }
        }
        Ok(summary)
    }

    /// Proves a scenario: the broken state fails, the reference solution scores 100%, and
    /// teardown leaves nothing labelled behind.
    ///
    /// `s` is a session made for the purpose by [`Engine::create`]; the caller holds it so it
    /// can tear it down if verification is interrupted.
    pub async fn verify(
        &self,
        pkg: &Package,
        s: &mut Session,
        progress: &dyn Progress,
    ) -> Result<Verification> {
        let mut v = Verification {
            scenario: pkg.id().into(),
            session: s.id.clone(),
            proven: false,
            steps: vec![],
            broken: None,
            fixed: None,
            fixes: vec![],
        };
        let result = self.verify_steps(pkg, s, &mut v, progress).await;
        // Teardown always runs, whatever happened above.
        let clock = Instant::now();
        let stopped = self.stop(&s.id).await;
        let left = leftovers(self.backend.as_ref(), &s.id).await?;
        v.steps.push(VerifyStep {
            step: "stop".into(),
            ok: stopped.is_ok() && left == 0,
            detail: match &stopped {
                Ok(r) => format!(
                    "removed {} object(s); {left} labelled object(s) left",
                    r.total()
                ),
                Err(e) => format!("teardown failed: {e}"),
            },
            secs: clock.elapsed().as_secs_f64(),
        });
        result?;
        stopped?;
        v.proven = v.steps.iter().all(|s| s.ok);
        Ok(v)
    }

    async fn verify_steps(
        &self,
        pkg: &Package,
        s: &mut Session,
        v: &mut Verification,
        progress: &dyn Progress,
    ) -> Result<()> {
        let clock = Instant::now();
        if let Err(e) = self.provision_for(pkg, s, progress, false).await {
            let _ = self.abort(s, &format!("verify: {e}")).await;
            return Err(e);
        }
        v.steps.push(VerifyStep {
            step: "start".into(),
            ok: true,
            detail: "sandbox provisioned; broken state reached".into(),
            secs: clock.elapsed().as_secs_f64(),
        });

        let clock = Instant::now();
        progress.begin("grading the broken state");
        let broken = self.grade(&s.id, Scope::All).await?;
        progress.finish("graded");
        let limit = broken.max_score / 5;
        let failing_ok = pkg
            .scenario
            .environment
            .broken_when
            .failing
            .iter()
            .all(|id| {
                broken
                    .checks
                    .iter()
                    .any(|c| c.id == id.value && c.status == Status::Fail)
            });
        v.steps.push(VerifyStep {
            step: "broken state fails".into(),
            ok: broken.complete && broken.score <= limit && failing_ok,
            detail: format!(
                "score {} / {} (at most {limit} allowed); broken-when checks failing: {failing_ok}",
                broken.score, broken.max_score
            ),
            secs: clock.elapsed().as_secs_f64(),
        });
        v.broken = Some(broken);

        let clock = Instant::now();
        progress.begin("applying the reference solution");
        copy_tree(&pkg.solution_dir(), &s.workspace)?;
        self.apply(&s.id, progress).await?;
        let t = self.target(s);
        for step in &pkg.scenario.solution.steps {
            self.run_action(&t, step).await?;
        }
        progress.finish("solution applied");
        progress.begin("grading the fixed state");
        let fixed = self.grade(&s.id, Scope::All).await?;
        progress.finish("graded");
        v.steps.push(VerifyStep {
            step: "solution scores 100%".into(),
            ok: fixed.complete && fixed.score == fixed.max_score && fixed.penalties == 0,
            detail: format!(
                "score {} / {}; penalties {}",
                fixed.score, fixed.max_score, fixed.penalties
            ),
            secs: clock.elapsed().as_secs_f64(),
        });
        v.fixed = Some(fixed);

        for fix in &pkg.fixes {
            let clock = Instant::now();
            progress.begin(&format!("trying fix `{}` on the broken state", fix.name));
            {
                let _lock = self.store.lock(&s.id, LOCK_WAIT)?;
                self.restore_broken(pkg, s, progress).await?;
                self.store.save(s)?;
            }
            // A fix made only of runtime steps (a hand edit on a live host) has no files.
            if fix.files_dir().is_dir() {
                copy_tree(&fix.files_dir(), &s.workspace)?;
            }
            for r in &fix.spec.remove {
                let path = s.workspace.join(&r.value);
                let removed = if path.is_dir() {
                    std::fs::remove_dir_all(&path)
                } else {
                    std::fs::remove_file(&path)
                };
                removed.map_err(|source| EngineError::Copy {
                    from: path.clone(),
                    to: path.clone(),
                    source,
                })?;
            }
            self.apply(&s.id, progress).await?;
            for step in &fix.spec.steps {
                self.run_action(&t, step).await?;
            }
            let r = self.grade(&s.id, Scope::All).await?;
            progress.finish("graded");
            let full = r.complete && r.score == r.max_score && r.penalties == 0;
            let failed: Vec<&str> = r
                .checks
                .iter()
                .filter(|c| c.status == Status::Fail)
                .map(|c| c.id.as_str())
                .collect();
            let (ok, expected) = match fix.spec.expect {
                FixExpectation::Pass => (full, "full score".to_string()),
                FixExpectation::Fail => (
                    r.complete
                        && !full
                        && fix
                            .spec
                            .failing
                            .iter()
                            .all(|id| failed.contains(&id.value.as_str())),
                    format!(
                        "failing [{}]",
                        fix.spec
                            .failing
                            .iter()
                            .map(|f| f.value.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
            };
            v.steps.push(VerifyStep {
                step: format!("fix `{}`", fix.name),
                ok,
                detail: format!(
                    "expected {expected}; got {} / {}, penalties {}, failing [{}]",
                    r.score,
                    r.max_score,
                    r.penalties,
                    failed.join(", ")
                ),
                secs: clock.elapsed().as_secs_f64(),
            });
            v.fixes.push(r);
        }
        Ok(())
    }
}

/// The labelled objects a backend still holds for one session.
pub async fn leftovers(backend: &dyn Backend, session: &str) -> backend::Result<usize> {
    Ok(backend
        .labelled()
        .await?
        .into_iter()
        .filter(|o| o.session == session)
        .count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_workspace_holding_a_fifo_is_not_copied_and_the_fifo_is_named() {
        let d = tempfile::tempdir().unwrap();
        let ws = d.path().join("workspace");
        std::fs::create_dir_all(ws.join("logs")).unwrap();
        std::fs::write(ws.join("compose.yaml"), "services: {}\n").unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(ws.join("logs/pipe"))
            .status()
            .unwrap();
        assert!(made.success());
        let backup = d.path().join("backup");
        let (tx, rx) = std::sync::mpsc::channel();
        let (a, b) = (ws.clone(), backup.clone());
        std::thread::spawn(move || {
            let _ = tx.send(copy_tree(&a, &b).map_err(|e| {
                let cause = std::error::Error::source(&e).map(|c| c.to_string());
                (e.to_string(), cause)
            }));
        });
        let (e, cause) = rx
            .recv_timeout(Duration::from_secs(5))
            .expect("the copy blocked on the FIFO")
            .unwrap_err();
        assert_eq!(e, format!("copy {} to {}", ws.display(), backup.display()));
        assert_eq!(
            cause.unwrap(),
            "`workspace/logs/pipe` is a FIFO; a workspace may hold only regular files, folders and links that stay inside it"
        );
        assert!(
            !backup.exists(),
            "nothing is written before the walk is judged"
        );
    }

    #[test]
    fn a_regular_workspace_is_copied_as_before() {
        let d = tempfile::tempdir().unwrap();
        let ws = d.path().join("workspace");
        std::fs::create_dir_all(ws.join("nginx/conf.d")).unwrap();
        std::fs::write(ws.join("nginx/conf.d/shop.conf"), "listen 8080;\n").unwrap();
        std::fs::write(ws.join("compose.yaml"), "services: {}\n").unwrap();
        let to = d.path().join("copy");
        copy_tree(&ws, &to).unwrap();
        assert_eq!(
            std::fs::read_to_string(to.join("nginx/conf.d/shop.conf")).unwrap(),
            "listen 8080;\n"
        );
        assert_eq!(
            std::fs::read_to_string(to.join("compose.yaml")).unwrap(),
            "services: {}\n"
        );
    }
}
