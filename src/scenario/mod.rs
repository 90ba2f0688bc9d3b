//! The scenario package as plain data: what `scenario.yaml` may say, nothing that does I/O.
//! Loading and validation live in [`load`].

pub mod catalog;
mod check_rules;
pub mod load;
pub mod syntax;
pub mod variables;

use std::collections::BTreeSet;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::duration::HumanDuration;
use crate::yaml::Located;

pub use crate::diagnostic::Diagnostic;
pub use load::{LoadError, load, load_all, load_seeded, package_roots, parse_text};

/// A rubric competency. The ids are the same in scenarios, checks and reports.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Competency {
    CiCd,
    Containers,
    Observability,
    IncidentResponse,
    InfrastructureAsCode,
    Security,
}

impl Competency {
    pub fn id(self) -> &'static str {
        match self {
            Competency::CiCd => "ci-cd",
            Competency::Containers => "containers",
            Competency::Observability => "observability",
            Competency::IncidentResponse => "incident-response",
            Competency::InfrastructureAsCode => "infrastructure-as-code",
            Competency::Security => "security",
        }
    }
}

impl crate::choice::Choice for Competency {
    const ALL: &'static [Self] = &[
        Competency::CiCd,
        Competency::Containers,
        Competency::Observability,
        Competency::IncidentResponse,
        Competency::InfrastructureAsCode,
        Competency::Security,
    ];
    fn name(self) -> &'static str {
        self.id()
    }
}

impl std::fmt::Display for Competency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.id())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Difficulty {
    Easy,
    Medium,
    Hard,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum BackendKind {
    Docker,
    Kube,
}

impl crate::choice::Choice for Difficulty {
    const ALL: &'static [Self] = &[Difficulty::Easy, Difficulty::Medium, Difficulty::Hard];
    fn name(self) -> &'static str {
        match self {
            Difficulty::Easy => "easy",
            Difficulty::Medium => "medium",
            Difficulty::Hard => "hard",
        }
    }
}

impl crate::choice::Choice for BackendKind {
    const ALL: &'static [Self] = &[BackendKind::Docker, BackendKind::Kube];
    fn name(self) -> &'static str {
        match self {
            BackendKind::Docker => "docker",
            BackendKind::Kube => "kube",
        }
    }
    fn help(self) -> &'static str {
        match self {
            BackendKind::Docker => "The local Docker engine",
            BackendKind::Kube => "A namespace on a Kubernetes cluster (the context of --context)",
        }
    }
}

impl std::fmt::Display for BackendKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(crate::choice::Choice::name(*self))
    }
}

/// `scenario.yaml`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[schemars(title = "breakfix scenario")]
pub struct Scenario {
    /// Stable id; must equal the package's folder name. Lowercase letters, digits and dashes.
    pub id: Located<String>,
    /// One line shown in listings and reports.
    pub title: String,
    /// What the scenario assesses, for the interviewer (the candidate reads `briefing.md`).
    #[serde(default)]
    pub summary: String,
    /// Rubric areas this scenario assesses. Every check's competency must be one of them.
    pub competencies: Vec<Located<Competency>>,
    pub difficulty: Difficulty,
    /// The time a candidate is given, from the moment the sandbox is ready.
    pub time_limit: Located<HumanDuration>,
    /// Backends the scenario runs on.
    pub backends: Located<Vec<BackendKind>>,
    pub environment: Environment,
    /// Runtime faults injected after the workspace is deployed (the main fault usually lives
    /// in the workspace itself, as a wrong setting).
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// Hints, in the order they are given; each costs points.
    pub hints: Vec<Hint>,
    pub checks: Vec<Check>,
    pub solution: Solution,
    /// Questions for the interviewer's debrief.
    pub follow_ups: Vec<String>,
    pub rubric: RubricNotes,
    /// Set by `breakfix pack` in the copy a candidate receives: the solution, hidden checks,
    /// hints and interviewer material are left out, so that copy can start the sandbox and run
    /// the candidate's checks, but cannot be graded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<BundleInfo>,
}

/// What a candidate's copy of a scenario says about itself.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BundleInfo {
    /// The take-home's id, as the interviewer's records know it.
    pub take_home: String,
    /// When it was packed (RFC 3339).
    pub packed_at: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Environment {
    /// The compose file inside `workspace/` that describes the services (Docker backend).
    #[serde(default = "default_compose")]
    pub compose: Located<String>,
    /// The folder inside `workspace/` holding the Kubernetes manifests (kube backend): every
    /// `.yaml`/`.yml` file in it, applied to the session's namespace with server-side apply.
    #[serde(default = "default_manifests")]
    pub manifests: Located<String>,
    /// Images built from `images/<name>/Dockerfile` before deploy. The workspace's compose file
    /// refers to them as `breakfix/<scenario-id>-<name>`.
    #[serde(default)]
    pub images: Vec<Located<String>>,
    /// How the runner knows the broken state has been reached before the clock starts.
    pub broken_when: BrokenWhen,
    /// Makes the workspace a git repository when a session starts (a package cannot ship a
    /// nested `.git`), with a short history so `git log` shows what changed recently.
    #[serde(default)]
    pub repository: Option<Repository>,
    /// The most a candidate's workspace may ask for (Docker backend). Enforced on every deploy
    /// (start, apply, reset, a submission's grade) before anything changes; what is not said
    /// here defaults to what the scenario's own workspace declares.
    #[serde(default)]
    pub ceiling: Ceiling,
}

/// What the scenario, not the candidate, allows a workspace to declare. Each field left out
/// takes its default, which the scenario's own `workspace/` compose file sets where it can.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Ceiling {
    /// The most services a workspace may declare. Default: the workspace's own count plus 2.
    #[serde(default)]
    pub services: Option<Located<u32>>,
    /// The most memory all services may ask for together (`mem_limit` summed, e.g. `1g`).
    /// Default: 2 GiB.
    #[serde(default)]
    pub memory: Option<Located<String>>,
    /// The most CPUs all services may ask for together (`cpus` summed). Default: 2.
    #[serde(default)]
    pub cpus: Option<Located<f64>>,
    /// The most processes all services may ask for together (`pids_limit` summed).
    /// Default: 2048.
    #[serde(default)]
    pub pids: Option<Located<i64>>,
    /// The shortest healthcheck interval and timeout a service (or an image it builds) may
    /// set. Default: 1s.
    #[serde(default)]
    pub healthcheck_floor: Option<Located<HumanDuration>>,
    /// Images services may run besides the scenario's own (`environment.images`, and those
    /// its workspace names) and the session's builds, e.g. `debian:bookworm-slim`. Nothing
    /// else on the engine is allowed.
    #[serde(default)]
    pub images: Vec<Located<String>>,
    /// Images a workspace Dockerfile may start `FROM` (or `COPY --from`) besides the
    /// scenario's own images, `debian:bookworm-slim` and `scratch`.
    #[serde(default)]
    pub bases: Vec<Located<String>>,
    /// Start-up variables (dynamic loader, interpreters, proxies, shell start-up) a workspace
    /// may set after all, e.g. `PYTHONPATH`. By default only those the scenario's own
    /// workspace sets.
    #[serde(default)]
    pub env: Vec<Located<String>>,
    /// Per service (by compose name): the capabilities it may add and whether it may run as
    /// uid 0. A service not named here gets what the scenario's workspace gives it; a
    /// service the workspace does not have may add none and may not run as root.
    #[serde(default)]
    pub service: std::collections::BTreeMap<String, ServiceCeiling>,
    /// Whether the candidate's `docker exec` (from the workstation, or through `breakfix
    /// docker-endpoint`) may run as root in a service that runs as another user (`--user 0`),
    /// for a scenario whose fix needs it. A privileged exec is never allowed. Default: false.
    #[serde(default)]
    pub root_exec: bool,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServiceCeiling {
    /// Capabilities the service may add (`cap_add`). Default: those the scenario's workspace
    /// adds to it.
    #[serde(default)]
    pub cap_add: Option<Vec<Located<String>>>,
    /// Whether the service may run as uid 0. Default: whether it does in the scenario's
    /// workspace (its `user:`, else its image's user).
    #[serde(default)]
    pub root: Option<bool>,
}

/// The git repository a session's workspace becomes. The last commit records the workspace
/// as shipped; `history` lays earlier versions of some files over it first.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Repository {
    /// Commits made before the last one, oldest first.
    #[serde(default)]
    pub history: Vec<HistoryCommit>,
    /// The message of the last commit (the workspace as shipped).
    pub message: String,
    /// `Name <email>` of the commits' author.
    #[serde(default = "default_author")]
    pub author: Located<String>,
    /// The branch the repository is on.
    #[serde(default = "default_branch")]
    pub branch: Located<String>,
}

fn default_author() -> Located<String> {
    Located::new("Dev Team <dev@example.com>".into())
}
fn default_branch() -> Located<String> {
    Located::new("main".into())
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HistoryCommit {
    pub message: String,
    /// A folder of the package whose files are laid over the workspace for this commit; each
    /// must also exist in `workspace/`, so the last commit shows the change.
    pub files: Located<String>,
}

fn default_manifests() -> Located<String> {
    Located::new("manifests".into())
}

fn default_compose() -> Located<String> {
    Located::new("compose.yaml".into())
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct BrokenWhen {
    /// Checks that must all fail before the sandbox counts as ready (broken).
    pub failing: Vec<Located<String>>,
    /// How long to wait for that.
    #[serde(default = "default_broken_timeout")]
    pub timeout: HumanDuration,
}

fn default_broken_timeout() -> HumanDuration {
    HumanDuration::secs(90)
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Fault {
    /// What the fault does, for the interviewer.
    pub description: String,
    pub action: Action,
}

/// Something the runner does to the sandbox (inject a fault, or a solution step).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub enum Action {
    /// Run a command in a service's container.
    Exec(ExecAction),
    /// Restart a service's container.
    Restart(ServiceRef),
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ExecAction {
    pub service: Located<String>,
    pub command: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServiceRef {
    pub service: Located<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Hint {
    pub text: String,
    /// Points subtracted from the score when the hint is taken.
    pub cost: Located<u32>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Visibility {
    /// The candidate may run it (`breakfix check`) and see its result.
    Candidate,
    /// Only `grade` runs it.
    #[default]
    Hidden,
}

/// One check. Either `points` (scored: awarded when it passes) or `penalty` (a guard:
/// subtracted when it fails, for a fix that breaks something else).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Check {
    pub id: Located<String>,
    pub title: String,
    pub competency: Located<Competency>,
    #[serde(default)]
    pub points: Option<Located<u32>>,
    #[serde(default)]
    pub penalty: Option<Located<u32>>,
    #[serde(default)]
    pub visibility: Visibility,
    /// What to observe, and what counts as passing.
    pub kind: CheckKind,
}

impl Check {
    pub fn is_guard(&self) -> bool {
        self.penalty.is_some()
    }
    pub fn points(&self) -> u32 {
        self.points.as_ref().map_or(0, |p| p.value)
    }
    pub fn penalty(&self) -> u32 {
        self.penalty.as_ref().map_or(0, |p| p.value)
    }
}

/// The kinds of check. Behaviour lives in `check/<kind>.rs`.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub enum CheckKind {
    /// The service's container stays running, with no restart, for a window.
    StaysRunning(StaysRunning),
    /// An HTTP request from a probe container on the session network.
    Http(HttpCheck),
    /// A command run inside a service's container (candidate-controlled: said in evidence).
    Exec(ExecCheck),
    /// Predicates on the container's configuration, read through the engine.
    ContainerConfig(ContainerConfigCheck),
    /// A bounded stream of HTTP requests from the probe container: the error rate over the
    /// window stays under a bound, and no response comes from a version that is not allowed.
    HttpStream(HttpStreamCheck),
    /// Runs the workspace repository's GitLab CI pipeline with a local executor and asserts
    /// every stage passed.
    Pipeline(PipelineCheck),
    /// Reads `.gitlab-ci.yml` and asserts named jobs still gate the pipeline (present, not
    /// allowed to fail, not skipped, not silenced).
    PipelineConfig(PipelineConfigCheck),
    /// Predicates on the image the service's container runs, read through the engine.
    Image(ImageCheck),
    /// An alert drill against Prometheus, Alertmanager and a receiver: quiet while the service
    /// is healthy, firing and delivered once it fails.
    PrometheusAlert(Box<PrometheusAlertCheck>),
    /// The structure of a Markdown document the candidate wrote in the workspace (incident
    /// notes, a runbook): required sections present and not empty. Quality is for the
    /// interviewer.
    MarkdownSections(MarkdownSectionsCheck),
    /// An Ansible playbook run from a control container: check mode must report no change,
    /// and optionally a hand edit is made and the playbook must detect and revert it.
    AnsibleConverged(AnsibleConvergedCheck),
    /// Pods matching a label selector are Ready and stay so over a window: no restart, no
    /// pod replaced (Kubernetes).
    PodsReady(PodsReadyCheck),
    /// Predicates on fields of one object as the API server has it: resources set, probes
    /// present, a security context (Kubernetes).
    ObjectFields(ObjectFieldsCheck),
    /// No event with a forbidden reason (BackOff, Unhealthy, OOMKilling...) happens in the
    /// session's namespace during a window (Kubernetes).
    Events(EventsCheck),
    /// GETs from the probe container whose every answer is proven to come from a named
    /// upstream service running the scenario's image: not an alias, a canned answer or a cache.
    ServedBy(ServedByCheck),
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PodsReadyCheck {
    /// A label selector (`app=api,tier=web`).
    pub selector: Located<String>,
    /// How many pods must be Ready.
    #[serde(default = "default_min_ready")]
    pub min_ready: Located<u32>,
    /// How long they must stay Ready with their restart counts unchanged.
    pub window: Located<HumanDuration>,
}

fn default_min_ready() -> Located<u32> {
    Located::new(1)
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ObjectFieldsCheck {
    /// `Kind/name` of an object in the session's namespace (`Deployment/api`).
    pub object: Located<String>,
    /// Every predicate must hold.
    pub fields: Vec<FieldPredicate>,
}

/// One field of the object and what it must be. The path is dotted, with `[name=x]` to pick
/// a list element by name, `[0]` by position, and `[*]` for every element
/// (`spec.template.spec.containers[*].resources.limits.memory`). With none of `equals`,
/// `at-least` and `at-most`, the field must exist (`exists: false`: must not).
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FieldPredicate {
    pub path: Located<String>,
    #[serde(default)]
    pub exists: Option<bool>,
    /// The value, compared as text (`8080`, `true`, `/ready`).
    #[serde(default)]
    pub equals: Option<Located<String>>,
    /// Any of these values, compared as text (`[8080, http]`).
    #[serde(default)]
    pub one_of: Option<Vec<String>>,
    /// A lower bound, for numbers and Kubernetes quantities (`96Mi`, `250m`).
    #[serde(default)]
    pub at_least: Option<Located<String>>,
    /// An upper bound, for numbers and quantities.
    #[serde(default)]
    pub at_most: Option<Located<String>>,
    /// What the field is for, shown when it does not hold.
    #[serde(default)]
    pub why: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct EventsCheck {
    /// Event reasons that must not happen (`BackOff`, `Unhealthy`, `OOMKilling`, `Killing`).
    pub forbid: Vec<Located<String>>,
    /// How long to watch.
    pub window: Located<HumanDuration>,
    /// Only events of objects whose name starts with this (`api-`).
    #[serde(default)]
    pub object_prefix: Option<String>,
}

impl CheckKind {
    /// The service the check observes; `None` for checks of the workspace's repository.
    pub fn service(&self) -> Option<&Located<String>> {
        match self {
            CheckKind::HttpStream(c) => Some(&c.service),
            CheckKind::StaysRunning(c) => Some(&c.service),
            CheckKind::Http(c) => Some(&c.service),
            CheckKind::Exec(c) => Some(&c.service),
            CheckKind::ContainerConfig(c) => Some(&c.service),
            CheckKind::Pipeline(_) | CheckKind::PipelineConfig(_) => None,
            CheckKind::Image(c) => Some(&c.service),
            CheckKind::PrometheusAlert(c) => Some(&c.service),
            CheckKind::MarkdownSections(_) => None,
            CheckKind::AnsibleConverged(c) => Some(&c.service),
            CheckKind::PodsReady(_) | CheckKind::ObjectFields(_) | CheckKind::Events(_) => None,
            CheckKind::ServedBy(c) => Some(&c.service),
        }
    }
    /// Whether running the check changes the sandbox. Such checks run after every check
    /// that only observes, so what the others see does not depend on timing.
    pub fn changes_sandbox(&self) -> bool {
        match self {
            CheckKind::AnsibleConverged(c) => c.apply || c.disturb.is_some(),
            // A drill makes the service healthy, then failing, then puts it back.
            CheckKind::PrometheusAlert(_) => true,
            _ => false,
        }
    }
    /// Whether live views (`watch`, `serve`) run it each round: not when it changes the
    /// sandbox, nor when it runs a whole pipeline (minutes of CPU every few seconds).
    pub fn in_live_rounds(&self) -> bool {
        !self.changes_sandbox() && !matches!(self, CheckKind::Pipeline(_))
    }
    /// The backends the kind can observe.
    pub fn backends(&self) -> &'static [BackendKind] {
        match self {
            CheckKind::StaysRunning(_)
            | CheckKind::Http(_)
            | CheckKind::Exec(_)
            | CheckKind::HttpStream(_)
            | CheckKind::MarkdownSections(_) => &[BackendKind::Docker, BackendKind::Kube],
            CheckKind::ContainerConfig(_)
            | CheckKind::Pipeline(_)
            | CheckKind::PipelineConfig(_)
            | CheckKind::Image(_)
            | CheckKind::PrometheusAlert(_)
            | CheckKind::AnsibleConverged(_)
            | CheckKind::ServedBy(_) => &[BackendKind::Docker],
            CheckKind::PodsReady(_) | CheckKind::ObjectFields(_) | CheckKind::Events(_) => {
                &[BackendKind::Kube]
            }
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            CheckKind::StaysRunning(_) => "stays-running",
            CheckKind::Http(_) => "http",
            CheckKind::Exec(_) => "exec",
            CheckKind::ContainerConfig(_) => "container-config",
            CheckKind::HttpStream(_) => "http-stream",
            CheckKind::Pipeline(_) => "pipeline",
            CheckKind::PipelineConfig(_) => "pipeline-config",
            CheckKind::Image(_) => "image",
            CheckKind::PrometheusAlert(_) => "prometheus-alert",
            CheckKind::MarkdownSections(_) => "markdown-sections",
            CheckKind::AnsibleConverged(_) => "ansible-converged",
            CheckKind::PodsReady(_) => "pods-ready",
            CheckKind::ObjectFields(_) => "object-fields",
            CheckKind::Events(_) => "events",
            CheckKind::ServedBy(_) => "served-by",
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StaysRunning {
    pub service: Located<String>,
    /// How long the container must stay up with its restart count unchanged.
    pub window: Located<HumanDuration>,
    /// Also require the container's healthcheck to report healthy by the end of the window.
    #[serde(default)]
    pub require_healthy: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HttpCheck {
    pub service: Located<String>,
    pub port: Located<u16>,
    #[serde(default = "default_path")]
    pub path: Located<String>,
    #[serde(default = "default_status")]
    pub expect_status: u16,
    /// A regular expression the response body must match.
    #[serde(default)]
    pub body_matches: Option<Located<String>>,
    /// Keep retrying until this long has passed (a service that was just applied needs a moment).
    #[serde(default = "default_retry")]
    pub retry_for: HumanDuration,
    /// After the first answer that matches, keep asking (every second) for this long: every
    /// answer must match, so a service that degrades again within the window fails.
    #[serde(default)]
    pub hold: Option<Located<HumanDuration>>,
}

fn default_path() -> Located<String> {
    Located::new("/".into())
}
fn default_status() -> u16 {
    200
}
fn default_retry() -> HumanDuration {
    HumanDuration::secs(5)
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ExecCheck {
    pub service: Located<String>,
    pub command: Vec<String>,
    #[serde(default)]
    pub expect_exit: i64,
    /// A regular expression the combined stdout and stderr must match.
    #[serde(default)]
    pub output_matches: Option<Located<String>>,
    #[serde(default = "default_exec_timeout")]
    pub timeout: HumanDuration,
}

fn default_exec_timeout() -> HumanDuration {
    HumanDuration::secs(10)
}

/// Every predicate given must hold.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ContainerConfigCheck {
    pub service: Located<String>,
    /// The container does not run as root (user set, not `root`, `0` or `0:...`).
    #[serde(default)]
    pub non_root: Option<bool>,
    /// The container has a healthcheck that is not disabled.
    #[serde(default)]
    pub has_healthcheck: Option<bool>,
    /// The restart policy is one of these (`no`, `always`, `unless-stopped`, `on-failure`).
    #[serde(default)]
    pub restart_policy_in: Option<Vec<String>>,
    /// A memory limit is set.
    #[serde(default)]
    pub memory_limited: Option<bool>,
    /// The container is not privileged.
    #[serde(default)]
    pub not_privileged: Option<bool>,
    /// Capabilities added back are a subset of these (empty list: none may be added).
    #[serde(default)]
    pub capabilities_within: Option<Vec<String>>,
    /// The container runs this scenario image (an entry of `environment.images`, built by
    /// breakfix as `breakfix/<scenario>-<name>`), and the image's own program: the workspace
    /// set no other entrypoint or command, and mounted nothing over a file that program names.
    #[serde(default)]
    pub runs_image: Option<Located<String>>,
    /// With `runs-image`: the program (entrypoint and command, as one list) the container must
    /// run instead of the image's, when the scenario's compose file names it.
    #[serde(default)]
    pub runs_command: Option<Located<Vec<String>>>,
    /// The healthcheck probes the service itself: it is not a constant (`true`, `exit 0`,
    /// `:`), does not swallow a failure (`|| true`), and names this port and path.
    #[serde(default)]
    pub healthcheck_probes: Option<HealthcheckProbes>,
}

/// What a healthcheck must ask to count as probing the service: the port it listens on and
/// the path of its health endpoint (one or both).
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HealthcheckProbes {
    #[serde(default)]
    pub port: Option<Located<u16>>,
    #[serde(default)]
    pub path: Option<Located<String>>,
}

/// GETs from the session's probe container to `http://<service>:<port><path>`, each carrying
/// a fresh random nonce (request header `X-Breakfix-Nonce`). Every answer must carry the
/// token (response header `X-Breakfix-Proof`) that the `upstream` service's container wrote
/// to its log beside that nonce, as a line of its own: `breakfix-proof nonce=<nonce>
/// token=<token>`. The upstream's container must run the scenario image `image`, with the
/// image's own program (or `command`). A canned answer, a cache, an alias held by another
/// service or another program in the upstream's place cannot pass.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServedByCheck {
    /// Where the probe asks: the service in front (a proxy), or the upstream itself.
    pub service: Located<String>,
    pub port: Located<u16>,
    #[serde(default = "default_path")]
    pub path: Located<String>,
    #[serde(default = "default_status")]
    pub expect_status: u16,
    /// A regular expression every answer's body must match.
    #[serde(default)]
    pub body_matches: Option<Located<String>>,
    /// The service that must have produced every answer.
    pub upstream: Located<String>,
    /// The scenario image (an entry of `environment.images`) the upstream's container runs.
    pub image: Located<String>,
    /// The program (entrypoint and command, as one list) the upstream must run when the
    /// scenario's compose file names it; by default the image's own.
    #[serde(default)]
    pub command: Option<Located<Vec<String>>>,
    /// How many answers in a row must be proven (1 to 20): a proxy that sends only some
    /// requests upstream and answers the rest itself fails.
    #[serde(default = "default_served_requests")]
    pub requests: Located<u32>,
    /// Keep asking until this long has passed for the first good answer (a service that was
    /// just applied needs a moment).
    #[serde(default = "default_retry")]
    pub retry_for: HumanDuration,
}

fn default_served_requests() -> Located<u32> {
    Located::new(3)
}

/// A stream of GETs to `http://<service>:<port><path>`, one every `interval`, sent from the
/// session's probe container. A request is an error when no response arrives or its status
/// is 400 or above.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HttpStreamCheck {
    pub service: Located<String>,
    pub port: Located<u16>,
    #[serde(default = "default_path")]
    pub path: Located<String>,
    /// How many requests the stream sends (1 to 300).
    #[serde(default = "default_stream_requests")]
    pub requests: Located<u32>,
    /// The pause between two requests.
    #[serde(default = "default_stream_interval")]
    pub interval: Located<HumanDuration>,
    /// How long one request may take before it counts as an error (no response).
    #[serde(default = "default_stream_request_timeout")]
    pub request_timeout: Located<HumanDuration>,
    /// The highest share of errors over the stream, in percent, that still passes.
    #[serde(default)]
    pub max_error_percent: Located<f64>,
    /// The response header in which the answering application names its version
    /// (`X-App-Version`). Required by `allowed-versions` and `forbidden-versions`.
    #[serde(default)]
    pub version_header: Option<Located<String>>,
    /// Every response must name one of these versions; a response without the header fails.
    #[serde(default)]
    pub allowed_versions: Option<Located<Vec<String>>>,
    /// No response may name one of these versions.
    #[serde(default)]
    pub forbidden_versions: Option<Located<Vec<String>>>,
    /// Before the stream starts, wait up to this long for a first good answer (a service
    /// that was just applied needs a moment). Not applied while polling for the broken state.
    #[serde(default = "default_retry")]
    pub retry_for: HumanDuration,
}

fn default_stream_requests() -> Located<u32> {
    Located::new(40)
}
fn default_stream_interval() -> Located<HumanDuration> {
    Located::new(HumanDuration(std::time::Duration::from_millis(100)))
}
fn default_stream_request_timeout() -> Located<HumanDuration> {
    Located::new(HumanDuration::secs(2))
}

/// Every stage of the pipeline passed, with optional assertions on jobs' logs and on the
/// artifact the run produced.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PipelineCheck {
    /// The repository's folder inside the workspace.
    #[serde(default = "default_repository")]
    pub repository: Located<String>,
    /// The deadline for the whole pipeline run.
    #[serde(default = "default_pipeline_timeout")]
    pub timeout: HumanDuration,
    /// Require every job to pass. A guard that only looks at one job's log or at the
    /// artifact sets this to `false`, so a red pipeline is not counted against it twice.
    #[serde(default = "default_true")]
    pub require_passed: bool,
    /// Assertions on jobs' logs; they hold whether or not the job passed.
    #[serde(default)]
    pub job_logs: Vec<JobLog>,
    /// Paths (inside the repository) of which at least one must have been written by this
    /// run. `$CI_COMMIT_SHA` and `$CI_COMMIT_SHORT_SHA` (also `${...}`) are replaced by the
    /// commit the pipeline ran on, so an artifact tagged `latest` does not count.
    #[serde(default)]
    pub artifact_one_of: Vec<Located<String>>,
}

fn default_true() -> bool {
    true
}
fn default_repository() -> Located<String> {
    Located::new(".".into())
}
fn default_pipeline_timeout() -> HumanDuration {
    HumanDuration::secs(120)
}

/// What one job's log must (and must not) contain.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct JobLog {
    pub job: Located<String>,
    /// A regular expression the job's log must match.
    #[serde(default)]
    pub matches: Option<Located<String>>,
    /// A regular expression the job's log must not match.
    #[serde(default)]
    pub not_matches: Option<Located<String>>,
}

/// Static guards on `.gitlab-ci.yml`: each gating job exists and can fail the pipeline.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PipelineConfigCheck {
    /// The repository's folder inside the workspace.
    #[serde(default = "default_repository")]
    pub repository: Located<String>,
    /// Jobs that must exist and gate the pipeline: not `allow_failure`, not skipped by
    /// `when: never`/`manual`, `rules`, `only` or `except`, and no script line that swallows
    /// a failure (`|| true`, `set +e`...).
    pub gating_jobs: Vec<Located<String>>,
    /// A regular expression, per job, that some script line of the job must match (the
    /// scanner still runs).
    #[serde(default)]
    pub script_must_match: std::collections::BTreeMap<String, Located<String>>,
    /// Regular expressions no script line of a gating job may match (flags that silence a
    /// scanner).
    #[serde(default)]
    pub forbid_in_scripts: Vec<Located<String>>,
    /// Files that must not exist in the repository (allow-lists that silence a scanner).
    #[serde(default)]
    pub forbid_files: Vec<Located<String>>,
}

/// Predicates on the image the service's container was created from (its `USER`, size,
/// layers, `HEALTHCHECK`), as the engine reports it. Every predicate given must hold.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ImageCheck {
    pub service: Located<String>,
    /// The image's `USER` is set and is not root (`root`, `0`, `0:...`).
    #[serde(default)]
    pub non_root: Option<bool>,
    /// The image is at most this big: `150m`, `1g`, or bytes. An image that still carries
    /// its build toolchain does not fit under a bound set for the runtime alone.
    #[serde(default)]
    pub max_size: Option<Located<String>>,
    /// The image declares a `HEALTHCHECK` that is not `NONE`.
    #[serde(default)]
    pub has_healthcheck: Option<bool>,
    /// The image has at most this many filesystem layers.
    #[serde(default)]
    pub max_layers: Option<Located<u32>>,
}

/// An alert drill. Healthy phase: the service is made healthy and every alert must clear
/// within `settle`, then stay quiet for `quiet-window`. Fault phase: the service is made to
/// fail and an alert must reach `firing` within `fire-within`, and the receiver must record a
/// new firing notification within `notify-within`. The service's control is set back to what
/// it was found at. Checks with the same drill settings share one run, so a scored check
/// (`expect: fires-on-fault`) and a guard (`expect: quiet-when-healthy`) can be graded from
/// the same drill without disturbing each other.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PrometheusAlertCheck {
    /// The service the drill makes healthy and failing.
    pub service: Located<String>,
    /// The service's admin control: a GET answers its current setting as text, a POST with a
    /// plain-text body changes it.
    pub control: ControlEndpoint,
    /// Where Prometheus answers; `path` is its route prefix (default `/`), under which the
    /// check reads `api/v1/alerts` and `api/v1/rules`.
    pub prometheus: ServiceEndpoint,
    /// The webhook receiver that records notifications: a GET on `path` answers
    /// `{"count": N, "notifications": [{"seq": n, "payload": <Alertmanager webhook body>}]}`.
    pub receiver: ServiceEndpoint,
    /// Only alerts with this `alertname` count; by default every alert does.
    #[serde(default)]
    pub alert_name: Option<Located<String>>,
    /// Which verdict of the drill this check reports.
    pub expect: AlertExpectation,
    /// How long the alerts may take to clear once the service is healthy.
    #[serde(default = "default_settle")]
    pub settle: Located<HumanDuration>,
    /// How long they must then stay clear (not pending, not firing).
    #[serde(default = "default_quiet_window")]
    pub quiet_window: Located<HumanDuration>,
    /// How long an alert may take to reach `firing` once the service fails.
    #[serde(default = "default_fire_within")]
    pub fire_within: Located<HumanDuration>,
    /// How long the receiver may take to record the firing notification after that.
    #[serde(default = "default_notify_within")]
    pub notify_within: Located<HumanDuration>,
}

/// A port and path on a service of the session.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ServiceEndpoint {
    pub service: Located<String>,
    pub port: Located<u16>,
    #[serde(default = "default_path")]
    pub path: Located<String>,
}

/// The admin control a drill drives, on the drilled service.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ControlEndpoint {
    pub port: Located<u16>,
    pub path: Located<String>,
    /// The body that makes the service healthy (for an error ratio: `0`).
    pub healthy: String,
    /// The body that makes it fail (for an error ratio: `0.5`).
    pub failing: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AlertExpectation {
    /// Scored: an alert fires on the fault and the receiver gets it (after a quiet phase, so
    /// the firing is caused by the fault).
    FiresOnFault,
    /// A guard: no alert is pending or firing while the service is healthy (an always-firing
    /// rule is not a fix).
    QuietWhenHealthy,
}

fn default_settle() -> Located<HumanDuration> {
    Located::new(HumanDuration::secs(60))
}
fn default_quiet_window() -> Located<HumanDuration> {
    Located::new(HumanDuration::secs(5))
}
fn default_fire_within() -> Located<HumanDuration> {
    Located::new(HumanDuration::secs(30))
}
fn default_notify_within() -> Located<HumanDuration> {
    Located::new(HumanDuration::secs(15))
}

/// A Markdown file in the session's workspace must have these sections, each with at least
/// `min-words` words. Headings count at any level (`#` to `######`, or underlined), matched
/// case-insensitively; headings inside code fences do not count.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct MarkdownSectionsCheck {
    /// The file, relative to the workspace (it may not leave it).
    pub file: Located<String>,
    /// The sections required, in any order.
    pub sections: Vec<RequiredSection>,
    /// The least number of words each section must hold (its subsections included).
    #[serde(default = "default_min_words")]
    pub min_words: Located<u32>,
}

fn default_min_words() -> Located<u32> {
    Located::new(5)
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RequiredSection {
    /// The section's name (`Root cause`). A heading matches when it is this name, or starts
    /// with it followed by more words or punctuation (`Root cause analysis`, `Timeline (UTC)`);
    /// leading numbering (`2.`) is ignored.
    pub heading: Located<String>,
    /// Other names accepted for the same section (`Cause`).
    #[serde(default)]
    pub aliases: Vec<Located<String>>,
}

/// Runs `ansible-playbook` in a control container and reads its PLAY RECAP per host.
/// First a `--check --diff` run on the live state: every host in `hosts` must appear with
/// failed=0, unreachable=0 and changed=0. With `apply`, the playbook is then applied for
/// real (failed=0, unreachable=0) and checked again (changed=0). With `disturb`, a hand edit
/// is made before applying, and check mode must notice it (changed > 0) before the apply
/// reverts it; `expect-http` then asks the service itself, and `restore` runs whatever
/// happened. A check that applies or disturbs runs after every check that only observes.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct AnsibleConvergedCheck {
    /// The control node's service: its container runs `ansible-playbook`.
    pub service: Located<String>,
    /// The playbook, relative to the control container's working directory.
    pub playbook: Located<String>,
    /// More arguments for every run (an inventory: `[-i, hosts.ini]`, a `--limit`...).
    #[serde(default)]
    pub args: Vec<String>,
    /// Inventory hosts that must appear in every run's PLAY RECAP.
    pub hosts: Vec<Located<String>>,
    /// After a clean check-mode run, apply the playbook for real and check again.
    #[serde(default)]
    pub apply: bool,
    /// A hand edit on a managed host, made after the first check-mode run (needs `apply`).
    #[serde(default)]
    pub disturb: Option<ExecAction>,
    /// Run at the end whenever `disturb` ran, to leave the sandbox as it was found.
    #[serde(default)]
    pub restore: Option<ExecAction>,
    /// After the apply and the last check-mode run, an HTTP request from the probe that must
    /// succeed: the service itself converged, not only the files (a handler really reloaded).
    #[serde(default)]
    pub expect_http: Option<Box<HttpCheck>>,
    /// Deadline of each `ansible-playbook` run.
    #[serde(default = "default_ansible_timeout")]
    pub timeout: HumanDuration,
}

fn default_ansible_timeout() -> HumanDuration {
    HumanDuration::secs(60)
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Solution {
    /// How the reference fix works, for the interviewer.
    pub description: String,
    /// Steps the runner performs after laying `solution/` over the workspace and applying it.
    #[serde(default)]
    pub steps: Vec<Action>,
}

#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RubricNotes {
    pub strong_signals: Vec<String>,
    pub red_flags: Vec<String>,
    /// How the candidate worked, as the record can show it: each is reported as seen (with
    /// when and what showed it) or not, beside the interviewer's marks. Signals, not points.
    #[serde(default)]
    pub process_signals: Vec<ProcessSignal>,
}

/// A way of working the rubric cares about, matched on what the candidate ran.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProcessSignal {
    /// As the report shows it: `Read the logs before the first change`.
    pub title: String,
    /// A regular expression matched against each command typed in a recorded terminal (as
    /// typed: `docker logs web`), each call through the session's Docker endpoint
    /// (`docker logs web`) and each use of breakfix's candidate tools (`breakfix logs …`,
    /// `breakfix inspect …`, `breakfix ps`, `breakfix exec …`).
    pub when: Located<String>,
    /// Counts only if seen before this moment, when it happened: `first-change` (the
    /// workspace first changed), `first-apply`, `all-passed` (every check first passing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Moment>,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Moment {
    FirstChange,
    FirstApply,
    AllPassed,
}

/// `fixes/<name>/fix.yaml`: a fix `verify` tries on the broken state besides the reference
/// solution. An alternative valid fix must score fully; a fake fix must fail named checks.
/// The files under `fixes/<name>/files/` are laid over the broken workspace.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct FixSpec {
    /// What this fix does, and why it should pass or fail.
    pub description: String,
    pub expect: FixExpectation,
    /// For `expect: fail`: checks that must fail (a guard catching the fake fix, usually).
    #[serde(default)]
    pub failing: Vec<Located<String>>,
    /// Workspace files the fix deletes.
    #[serde(default)]
    pub remove: Vec<Located<String>>,
    /// Runtime actions after the files are applied.
    #[serde(default)]
    pub steps: Vec<Action>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FixExpectation {
    Pass,
    Fail,
}

#[derive(Clone, Debug)]
pub struct Fix {
    pub name: String,
    pub dir: PathBuf,
    pub spec: FixSpec,
}

impl Fix {
    pub fn files_dir(&self) -> PathBuf {
        self.dir.join("files")
    }
}

/// A loaded and validated scenario package.
#[derive(Clone, Debug)]
pub struct Package {
    /// The package folder.
    pub root: PathBuf,
    pub scenario: Scenario,
    pub briefing: String,
    /// Alternative and fake fixes `verify` tries (`fixes/*/fix.yaml`).
    pub fixes: Vec<Fix>,
    /// The package folder as written: `root` itself, unless `root` is a rendering of a
    /// parameterised package for one seed.
    pub source: PathBuf,
    /// The seed and values the package was rendered with (parameterised packages).
    pub variant: Option<variables::Variant>,
    /// Keeps a rendering in a temporary folder alive as long as the package is used.
    pub rendered: Option<std::sync::Arc<tempfile::TempDir>>,
}

impl Package {
    pub fn id(&self) -> &str {
        &self.scenario.id.value
    }
    /// True when the package is a temporary rendering that a session must copy to keep.
    pub fn is_temporary(&self) -> bool {
        self.rendered.is_some()
    }
    /// True for a candidate's copy made by `breakfix pack`.
    pub fn is_bundle(&self) -> bool {
        self.scenario.bundle.is_some()
    }
    pub fn workspace_dir(&self) -> PathBuf {
        self.root.join("workspace")
    }
    pub fn solution_dir(&self) -> PathBuf {
        self.root.join("solution")
    }
    pub fn image_dir(&self, name: &str) -> PathBuf {
        self.root.join("images").join(name)
    }
    /// The repository name a scenario image is built under.
    pub fn image_repo(&self, name: &str) -> String {
        format!("breakfix/{}-{}", self.id(), name)
    }
    pub fn check(&self, id: &str) -> Option<&Check> {
        self.scenario.checks.iter().find(|c| c.id.value == id)
    }
    pub fn max_score(&self) -> u32 {
        self.scenario.checks.iter().map(Check::points).sum()
    }
    pub fn competencies(&self) -> BTreeSet<Competency> {
        self.scenario.competencies.iter().map(|c| c.value).collect()
    }
}

/// The JSON Schema of `scenario.yaml`.
pub fn schema() -> serde_json::Value {
    serde_json::to_value(schemars::schema_for!(Scenario)).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_published_schema_matches_the_scenario_types() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/scenario.schema.json");
        let fresh = serde_json::to_string_pretty(&schema()).unwrap() + "\n";
        if std::env::var_os("BREAKFIX_BLESS").is_some() {
            std::fs::write(&path, &fresh).unwrap();
        }
        let published = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            published == fresh,
            "docs/scenario.schema.json is out of date: run `breakfix schema > docs/scenario.schema.json`"
        );
    }

    #[test]
    fn the_schema_refuses_unknown_fields_and_names_the_check_kinds() {
        let s = schema();
        assert_eq!(s["additionalProperties"], false);
        let text = s.to_string();
        for kind in [
            "stays-running",
            "http",
            "exec",
            "container-config",
            "http-stream",
            "pipeline",
            "pipeline-config",
            "image",
            "prometheus-alert",
            "markdown-sections",
            "ansible-converged",
            "served-by",
        ] {
            assert!(text.contains(&format!("\"{kind}\"")), "schema lacks {kind}");
        }
    }

    #[test]
    fn the_classic_seed_gives_crashloop_docker_the_names_the_integration_tests_use() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/crashloop-docker");
        let pkg = load_seeded(&dir, Some("classic-17")).unwrap();
        let v = pkg.variant.unwrap();
        let ids: Vec<(&str, &str)> = v.values.iter().map(|(k, c)| (k.as_str(), c.id())).collect();
        assert_eq!(
            ids,
            [
                ("health-fault", "wrong-port"),
                ("orders-port", "8000"),
                ("orders-service", "orders"),
                ("web-port", "8080")
            ]
        );
    }

    #[test]
    fn the_shipped_scenarios_are_valid() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
        let all = load_all(&dir);
        assert!(!all.is_empty());
        for p in all {
            if let Err(e) = p {
                panic!("{e}");
            }
        }
    }
}
