//! The command line: clap definitions and dispatch. Behaviour lives in the library.

/// Like `eprintln!`, but a closed stderr never panics: a teardown in progress goes on.
macro_rules! note {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod choice;
use choice::choice;
mod commands;
mod connect;
mod progress;
mod shell;
mod signal;
mod watch;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::exit;
use crate::report::Format;
use crate::scenario::BackendKind;

const ABOUT: &str = "Hands-on assessment runner for DevOps and SRE hiring.

breakfix starts a deliberately broken sandbox (a service in a restart loop, a red pipeline,
an outage no alert fires for), gives the candidate a briefing and a workspace, and grades
the outcome with checks mapped to an interview rubric.";

const AFTER: &str =
    "A session's life (Docker; add --backend kube to run it in a Kubernetes namespace):
  breakfix start crashloop-docker --candidate 'Ada'   # build, deploy, break, start the clock
  (the candidate edits the workspace, uses breakfix ps / logs / inspect / exec ...)
  breakfix apply <session>                            # redeploy what changed
  breakfix check <session>                            # the checks the candidate may see
  breakfix hint <session>                             # next hint (costs points)
  breakfix grade <session> --format html -o report.html
  breakfix stop <session>                             # teardown; record and report stay

While it runs, the interviewer can follow along:
  breakfix watch <session>                            # checks turning green, with the clock
  breakfix serve                                      # the web dashboard, http://127.0.0.1:7878/
  breakfix note <session> --competency incident-response --mark strong 'Read the logs first'

A hiring loop of several scenarios: breakfix start --plan sre-mid, then breakfix next.

A session id may be shortened to any unique prefix, and left out when only one session is live.";

#[derive(Parser, Debug)]
#[command(name = "breakfix", version, about = ABOUT, after_help = format!("{AFTER}\n\n{}", exit::TABLE))]
pub struct Cli {
    /// Where sessions, workspaces and reports are kept.
    #[arg(long, global = true, env = "BREAKFIX_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// The folder of scenario packages (default: ./scenarios, else the one shipped with breakfix).
    #[arg(long, global = true, env = "BREAKFIX_SCENARIOS", value_name = "DIR")]
    pub scenarios: Option<PathBuf>,
    /// The kubeconfig context the kube backend uses (default: the current context of
    /// KUBECONFIG or ~/.kube/config). A session remembers the context it started in.
    #[arg(
        long,
        global = true,
        env = "BREAKFIX_KUBE_CONTEXT",
        value_name = "CONTEXT"
    )]
    pub context: Option<String>,
    /// The folder of assessment plans (default: ./plans, else the one shipped with breakfix).
    #[arg(long, global = true, env = "BREAKFIX_PLANS", value_name = "DIR")]
    pub plans_dir: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Start a session: build images, deploy the broken sandbox, start the clock.
    #[command(
        after_help = "Images are built once and cached by content; the first start of a scenario takes longer.\nCtrl-C tears down what the start created."
    )]
    Start {
        /// A scenario id from the scenarios folder, or the path of a scenario package.
        #[arg(required_unless_present = "plan")]
        scenario: Option<String>,
        /// Start an assessment plan instead (plans/<ID>.yaml): its first scenario now, the
        /// next ones with `breakfix next`.
        #[arg(long, value_name = "ID", conflicts_with_all = ["scenario", "workspace"])]
        plan: Option<String>,
        /// The candidate's name, shown in the report.
        #[arg(long)]
        candidate: Option<String>,
        /// Put the candidate's workspace here instead of in the state directory.
        #[arg(long, value_name = "DIR")]
        workspace: Option<PathBuf>,
        /// Where the sandbox runs: `docker` (the local engine) or `kube` (a namespace on the
        /// cluster of --context). Default: the first backend the scenario declares.
        #[arg(long, value_parser = choice::<BackendKind>())]
        backend: Option<BackendKind>,
        /// For a parameterised scenario: the seed that chooses this candidate's variant (names,
        /// ports, which fault). Default: a random one, recorded in the session and the report.
        #[arg(long, value_name = "SEED")]
        seed: Option<String>,
        /// Run the candidate's containers under this OCI runtime of the Docker engine, e.g.
        /// `runsc` (gVisor) for a kernel of their own; `breakfix doctor` says whether it is
        /// registered. Kept for the session's later commands.
        #[arg(long, value_name = "NAME", env = "BREAKFIX_RUNTIME")]
        runtime: Option<String>,
        /// Print the session as JSON (its id, workspace, containers) instead of the briefing.
        #[arg(long)]
        json: bool,
    },
    /// Redeploy the workspace after the candidate edited it (only what changed is recreated).
    Apply {
        session: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show a session's state: clock, services, hints taken.
    Status {
        session: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Watch a live session: the checks turning green as the candidate works, with the clock.
    /// Every change is recorded in the session's timeline (time to first pass, what broke again).
    #[command(
        after_help = "Each round tries every check once (no settling time, unlike grade); checks that change the sandbox\n(alert drills) or run a whole pipeline run only in grade. When standard output is not a terminal, prints one line per change."
    )]
    Watch {
        session: Option<String>,
        /// Pause between rounds.
        #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
        interval: std::time::Duration,
        /// Exit (code 0) once every watched check passes.
        #[arg(long)]
        until_passing: bool,
    },
    /// Run the interviewers' web dashboard: live sessions, their clocks, checks turning green
    /// as they pass (pushed to the page), hints taken, notes and marks, a link to each report,
    /// and each candidate's terminal mirrored live. Candidates open their own link: the
    /// briefing beside a terminal on their workstation.
    #[command(
        after_help = "Listens on 127.0.0.1 only, unless told otherwise. Bound to any other address it requires a token:\nthe one given (--token or BREAKFIX_SERVE_TOKEN), or one it makes up and prints in the address to open.\n  breakfix serve                          # http://127.0.0.1:7878/\n  breakfix serve --bind 0.0.0.0:7878      # prints http://<host>:7878/?token=...\n\nCandidate links (`breakfix status <session>` gives them while this runs) carry a secret of their own: they open that session's candidate page only, until its time limit plus 15 minutes. The terminal needs Debian's node-xterm package (`breakfix doctor` says whether it is there)."
    )]
    Serve {
        /// Address and port to listen on (port 0: any free port, printed).
        #[arg(long, default_value = "127.0.0.1:7878")]
        bind: std::net::SocketAddr,
        /// The token pages and API calls must present (required off loopback; made up if absent).
        #[arg(long, env = "BREAKFIX_SERVE_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Pause between rounds of checks on each live session.
        #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
        interval: std::time::Duration,
        /// What candidates' links start with, when they reach this dashboard by another
        /// address than --bind (a proxy, a public name): `https://interview.example.com`.
        #[arg(long, value_name = "URL")]
        public_url: Option<String>,
    },
    /// Open a recorded shell in a service's container (Docker) or one of its pods (Kubernetes).
    /// Everything shown and typed is saved as an asciicast v2 file (plays in the standard
    /// asciinema player); the report lists the commands typed, with times, in the timeline.
    #[command(
        after_help = "Default: the candidate's workstation (Docker sessions), else the scenario's first service. Leave with `exit` or Ctrl-D.\nRecordings are kept in the session's folder, under recordings/."
    )]
    Shell {
        session: Option<String>,
        /// The service (Compose service or Deployment) to open it in.
        service: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// List the session's services with their state: the candidate's `docker ps`, limited to
    /// this session and needing no access to the engine.
    #[command(after_help = PS_HELP)]
    Ps {
        session: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Show a service's log: the candidate's `docker logs`, limited to this session's services.
    #[command(after_help = LOGS_HELP, override_usage = "breakfix logs [OPTIONS] [SESSION] <SERVICE>")]
    Logs {
        /// The service, or the session then the service (the session may be left out when
        /// only one is live).
        #[arg(value_name = "NAME", num_args = 1..=2, required = true)]
        target: Vec<String>,
        /// How many lines from the end to show.
        #[arg(short = 'n', long, default_value_t = 100, value_name = "N")]
        tail: usize,
        /// Keep showing new lines as they are written, across restarts of the container, until
        /// Ctrl-C or --for has passed.
        #[arg(short, long)]
        follow: bool,
        /// With --follow: stop after this long.
        #[arg(long = "for", default_value = "30m", value_parser = humantime::parse_duration, value_name = "DURATION", requires = "follow")]
        for_: std::time::Duration,
    },
    /// Show what a service's container is and how it is doing: state, restarts, exit code,
    /// health log, image, command, user, environment, mounts, limits, capabilities.
    #[command(after_help = INSPECT_HELP, override_usage = "breakfix inspect [OPTIONS] [SESSION] <SERVICE>")]
    Inspect {
        /// The service, or the session then the service (the session may be left out when
        /// only one is live).
        #[arg(value_name = "NAME", num_args = 1..=2, required = true)]
        target: Vec<String>,
        #[arg(long)]
        json: bool,
    },
    /// Run a command in a service's container, as the user the container runs as: the
    /// candidate's `docker exec`, limited to this session's services.
    #[command(after_help = EXEC_HELP, override_usage = "breakfix exec [OPTIONS] [SESSION] <SERVICE> -- <COMMAND>...")]
    Exec {
        /// The service, or the session then the service (the session may be left out when
        /// only one is live).
        #[arg(value_name = "NAME", num_args = 1..=2, required = true)]
        target: Vec<String>,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "COMMAND")]
        command: Vec<String>,
        /// Run it in a terminal (for `bash`, `top`, an editor): keys go to it, and it is
        /// recorded like `breakfix shell`.
        #[arg(short, long, conflicts_with = "json")]
        tty: bool,
        /// Stop the command after this long (without --tty).
        #[arg(long, default_value = "2m", value_parser = humantime::parse_duration, value_name = "DURATION")]
        timeout: std::time::Duration,
        /// Print the exit code and output as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Attach this terminal to the workstation shell a candidate link opens in the browser:
    /// the same shell, recorded the same way. For candidates who prefer their own terminal.
    #[command(
        after_help = "Example:\n  breakfix connect http://10.0.0.5:7878/c/9f2c…   # the link the interviewer gave you\n\nLeave with `exit` (the shell ends) or by closing the terminal (the shell stays, for the browser\nor a later connect). Piped input is typed as it comes and ends with Ctrl-D."
    )]
    Connect {
        /// The candidate link (`breakfix start` and `breakfix status` print it).
        link: String,
    },
    /// Serve the session's own Docker endpoint: the engine's CLI pointed at it reaches this
    /// session's services only (ps, logs, inspect, top, stats, events, exec, start, stop,
    /// restart) and is refused everything else; on Kubernetes, also the workstation's way to
    /// the API server. Runs until Ctrl-C.
    #[command(after_help = DOCKER_ENDPOINT_HELP)]
    DockerEndpoint {
        session: Option<String>,
        /// Where to put the socket (default: `endpoint/docker.sock` in the session's folder,
        /// the one the candidate's workstation uses).
        #[arg(long, value_name = "PATH")]
        socket: Option<PathBuf>,
    },
    /// In an assessment plan: grade and stop the current scenario, then start the next one.
    Next {
        /// The assessment (default: the only unfinished one).
        assessment: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// The combined report of an assessment plan: each scenario's grade and one scorecard per
    /// competency, weighted as the plan says, with the strong signals and red flags seen.
    Assessment {
        /// The assessment (default: the only unfinished one).
        assessment: Option<String>,
        #[arg(long, value_parser = choice::<crate::report::assessment::PlanFormat>(), default_value = "text")]
        format: crate::report::assessment::PlanFormat,
        /// Write the report to a file instead of standard output.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Give the next hint; it is recorded with its time and cost.
    Hint {
        session: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Run the checks the candidate may see, and show which pass.
    Check {
        session: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Run every check and write the full report (saved beside the session too).
    #[command(
        after_help = "On a stopped session, shows its last grade with the notes added since (no backend needed):\n  breakfix grade <session> --format html -o report.html\n\nExit code 0 when every check passes, 3 when some fail, 6 when some could not run."
    )]
    Grade {
        session: Option<String>,
        #[arg(long, value_parser = choice::<Format>(), default_value = "text")]
        format: Format,
        /// Shorthand for --format json.
        #[arg(long, conflicts_with = "format")]
        json: bool,
        /// Write the report to a file instead of standard output (with --submissions: the
        /// folder the reports and the summary go to).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        #[command(flatten)]
        take_home: SubmissionArgs,
    },
    /// Write a take-home bundle for a candidate: the briefing, the workspace, the images'
    /// sources, the checks the candidate may run, and breakfix itself; never the solution,
    /// the hidden checks, the hints or the interviewer's notes.
    #[command(after_help = PACK_HELP)]
    Pack(PackArgs),
    /// Add the interviewer's own evidence to a session (live or stopped); the report shows
    /// it beside the automated checks, labelled as the interviewer's.
    #[command(
        after_help = "Examples:\n  breakfix note crashloop-docker-k3 'Read the logs before changing anything'\n  breakfix note crashloop-docker-k3 --competency incident-response --mark strong 'Posted a clear status update'"
    )]
    Note {
        /// The session (any unique prefix of its id).
        session: String,
        /// What you observed.
        text: String,
        /// The rubric competency it is evidence for.
        #[arg(long, value_parser = choice::<crate::scenario::Competency>())]
        competency: Option<crate::scenario::Competency>,
        /// Your judgement of that competency; it shows in the scorecard.
        #[arg(long, value_parser = choice::<crate::timeline::Mark>(), requires = "competency")]
        mark: Option<crate::timeline::Mark>,
        #[arg(long)]
        json: bool,
    },
    /// Put the sandbox back in its broken state; the candidate's workspace is kept as a backup.
    Reset { session: Option<String> },
    /// Tear a session down. Its record and reports stay.
    Stop {
        session: Option<String>,
        /// Stop every live session.
        #[arg(long, conflicts_with = "session")]
        all: bool,
    },
    /// Remove every breakfix-labelled object whose session is gone, stopped or crashed: Docker
    /// containers, networks, volumes and images, and Kubernetes namespaces (of --context).
    Gc {
        #[arg(long)]
        json: bool,
    },
    /// List the scenario catalog (id, difficulty, time limit, backends, variants,
    /// competencies, title), filtered by what the loop needs; with --sessions the sessions in
    /// the state directory, with --plans the assessment plans, with --take-homes the
    /// take-homes packed.
    #[command(after_help = LIST_HELP)]
    List {
        /// List sessions instead of scenarios.
        #[arg(long, conflicts_with_all = ["plans", "take_homes"])]
        sessions: bool,
        /// List assessment plans instead of scenarios.
        #[arg(long, conflicts_with = "take_homes")]
        plans: bool,
        /// List the take-homes packed (`breakfix pack`): id, scenario, candidate, when.
        #[arg(long)]
        take_homes: bool,
        /// Only scenarios that assess this competency.
        #[arg(long, value_parser = choice::<crate::scenario::Competency>(), conflicts_with_all = ["sessions", "plans", "take_homes"])]
        competency: Option<crate::scenario::Competency>,
        /// Only scenarios of this difficulty.
        #[arg(long, value_parser = choice::<crate::scenario::Difficulty>(), conflicts_with_all = ["sessions", "plans", "take_homes"])]
        difficulty: Option<crate::scenario::Difficulty>,
        /// Only scenarios that run on this backend.
        #[arg(long, value_parser = choice::<BackendKind>(), conflicts_with_all = ["sessions", "plans", "take_homes"])]
        backend: Option<BackendKind>,
        /// Only scenarios whose time limit is at most this (`30m`, `1h`).
        #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION", conflicts_with_all = ["sessions", "plans", "take_homes"])]
        max_time: Option<std::time::Duration>,
        /// Print the catalog as the Markdown table of the README.
        #[arg(long, conflicts_with_all = ["json", "sessions", "plans", "take_homes"])]
        markdown: bool,
        #[arg(long)]
        json: bool,
    },
    /// Show a session's record: briefing, events, hints, last grade.
    Show {
        session: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Check the machine: engine reachable, base image, scenario images, state directory.
    Doctor {
        #[arg(long)]
        json: bool,
    },
    /// Validate scenario packages and assessment plans; every problem is reported.
    Validate {
        /// Scenario ids, package folders, scenario.yaml files or plan files (default: every package
        /// in the scenarios folder and every plan in the plans folder).
        paths: Vec<PathBuf>,
    },
    /// Print the JSON Schema of scenario.yaml (for editor completion).
    Schema,
    /// Install the host tools some checks need for this user (the local GitLab CI executor
    /// `pipeline` checks run), unless they are already there.
    Setup,
    /// Build (or find cached) the images of scenarios ahead of time, so `start` is quick.
    Build {
        /// Scenario ids or package paths (default: every scenario).
        #[arg(value_name = "SCENARIO")]
        which: Vec<String>,
        /// `kube`: also load the images into the cluster of --context.
        #[arg(long, value_parser = choice::<BackendKind>(), default_value = "docker")]
        backend: BackendKind,
    },
    /// Prove scenarios: broken state fails, reference solution scores 100%, nothing left behind.
    Verify {
        /// Scenario ids or package paths (default: every scenario).
        #[arg(value_name = "SCENARIO")]
        which: Vec<String>,
        /// Verify every scenario in the scenarios folder.
        #[arg(long, conflicts_with = "which")]
        all: bool,
        /// Only this backend (default: every backend each scenario declares; one that cannot
        /// be reached is reported as skipped, never as passed).
        #[arg(long, value_parser = choice::<BackendKind>())]
        backend: Option<BackendKind>,
        /// For parameterised scenarios: verify these seeds (repeatable). Default: enough seeds
        /// that every value of every variable is chosen at least once, and at least two.
        #[arg(long, value_name = "SEED")]
        seed: Vec<String>,
        /// How many scenarios (and seeds) to verify at once. A verify mostly waits on its
        /// windows, so a few at once shorten `verify --all`, as long as the machine keeps the
        /// sandboxes' timing; with more than one, each scenario's lines are printed when it
        /// ends, without build logs.
        #[arg(long, short = 'j', default_value_t = 1, value_name = "N")]
        jobs: usize,
        #[arg(long)]
        json: bool,
    },
    /// Check that a JSON report is unchanged since breakfix wrote it, or make the key that
    /// signs reports.
    #[command(after_help = REPORT_HELP)]
    Report {
        #[command(subcommand)]
        action: ReportAction,
    },
    /// Create or delete a local Kubernetes cluster for breakfix with kind.
    #[command(
        after_help = "Needs the `kind` binary (https://kind.sigs.k8s.io) and Docker. Any other cluster works too:\npoint KUBECONFIG (or --context) at it and start with --backend kube."
    )]
    Cluster {
        #[command(subcommand)]
        action: ClusterAction,
    },
}

const DOCKER_ENDPOINT_HELP: &str = "Examples:
  breakfix docker-endpoint                         # the only live session
  breakfix docker-endpoint crashloop-docker-k3 --socket /tmp/k3.sock

Then, in the candidate's terminal:
  export DOCKER_HOST=unix:///tmp/k3.sock
  docker ps; docker logs web; docker exec -it web sh; docker restart web

Calls name the session's containers by service (`web`), container name or id. Creating
containers (`docker run`), builds, images, volumes, networks and the engine's system calls are
refused with a reason, and an exec never becomes root in a container that runs as another
user. Every call that does something (logs, exec, restart, …) goes into the session's timeline.
`start` already leaves one running for the candidate's workstation (endpoint/docker.sock in the
session's folder); it ends when the session does. The socket lets anyone who can open it act on
the session: keep it in a folder only the candidate's account can reach.

On a Kubernetes session the endpoint also serves kube.sock beside it: the workstation has no
network, and its kubectl reaches the cluster's API server through that socket with the
candidate's own kubeconfig (TLS end to end; the token's RBAC holds it to the namespace).";

const LIST_HELP: &str = "Examples:
  breakfix list                                        # every scenario
  breakfix list --competency security --backend kube   # what assesses security on a cluster
  breakfix list --difficulty hard --max-time 45m       # hard ones that fit a 45-minute slot
  breakfix list --json                                 # with each scenario's variables and variants
  breakfix list --sessions | --plans | --take-homes

VARIANTS is how many combinations of values a scenario's variables.yaml gives: two candidates
with different seeds rarely get the same one. Filters combine (a scenario must match all).";

const PS_HELP: &str = "Examples:
  breakfix ps                      # the only live session
  breakfix ps crashloop-docker-k3  # a session by (a prefix of) its id
  breakfix ps --json

ps, logs, inspect and exec are what the candidate uses on the interviewer's machine instead of
`docker`: they reach this session's services only, never as another user than the one each
container runs as, and each use goes into the session's timeline.";

const LOGS_HELP: &str = "Examples:
  breakfix logs web                       # the last 100 lines of `web`
  breakfix logs crashloop-docker-k3 web   # in that session
  breakfix logs web -n 20                 # the last 20
  breakfix logs web --follow              # then new lines, until Ctrl-C (at most 30 minutes)
  breakfix logs web -f --for 5m

With one name, it is the service, in the only live session. On Kubernetes, a Deployment's
log is read from one of its pods (a running one first); a pod in a restart loop whose current
run has printed nothing shows its previous run's log.";

const INSPECT_HELP: &str = "Examples:
  breakfix inspect web                    # state, restarts, last exit, health log, image, ...
  breakfix inspect crashloop-docker-k3 web
  breakfix inspect web --json             # the same, for jq

Shows the service's own container (Docker) or one of its pods (Kubernetes; its warning events
stand in for the health log), never another session's objects.";

const EXEC_HELP: &str = "Examples:
  breakfix exec web -- nginx -t                     # test nginx's configuration
  breakfix exec web -- id                           # who the container runs as
  breakfix exec orders -- sh -c 'ls -l /app'
  breakfix exec crashloop-docker-k3 web -- cat /etc/nginx/conf.d/shop.conf
  breakfix exec -t web -- bash                      # an interactive, recorded terminal

The command runs as the container's own user, never as root unless the service itself runs
as root. Without --tty its output is shown when it ends, and breakfix exits with its exit
code. The command line goes into the session's timeline and its output into the session's
recordings/. A container that is restarting cannot run commands: read its logs instead.";

const PACK_HELP: &str = "Examples:
  breakfix pack crashloop-docker --candidate 'Ada Lovelace' -o ada.tar.gz
  breakfix pack crashloop-docker --candidate 'Grace Hopper' --seed 4f1c -o bundles/grace/

Send the bundle; the candidate runs `./breakfix start <scenario> --workspace ./work` in it and
hands back ./work (a tarball or a git bundle). Grade it on your machine, with every check:
  breakfix grade --submission ada-work.tar.gz --take-home <id printed here>
  breakfix grade --submissions inbox/ --scenario crashloop-docker -o reports/

Each take-home is recorded in the state directory (take-homes/<id>.json) with its seed, so a
parameterised scenario is graded in the variant that candidate received.";

/// `pack`.
#[derive(clap::Args, Debug)]
pub struct PackArgs {
    /// A scenario id from the scenarios folder, or the path of a scenario package.
    pub scenario: String,
    /// A new folder, or a file ending in .tar.gz or .tgz.
    #[arg(short, long, value_name = "DIR|FILE.tar.gz")]
    pub output: PathBuf,
    /// For a parameterised scenario: the seed of this candidate's variant (default: a
    /// random one). It stays in your records, never in the bundle.
    #[arg(long)]
    pub seed: Option<String>,
    /// Who the take-home is for (kept in your records, to match the submission).
    #[arg(long)]
    pub candidate: Option<String>,
    /// Leave the breakfix executable out (the candidate installs breakfix themselves).
    #[arg(long)]
    pub without_binary: bool,
    #[arg(long)]
    pub json: bool,
}

/// `grade --submission`: grading a take-home's returned workspace instead of a live session.
#[derive(clap::Args, Debug, Default)]
pub struct SubmissionArgs {
    /// Grade a take-home submission instead of a session: a workspace folder, a tarball
    /// (.tar, .tar.gz, .tgz) or a git bundle. It is deployed fresh on this machine and graded
    /// with every check; the report shows how it differs from the workspace as issued.
    #[arg(long, value_name = "PATH", conflicts_with_all = ["session", "submissions"])]
    pub submission: Option<PathBuf>,
    /// Grade every submission in a folder (each entry a folder, tarball or git bundle, named
    /// after its take-home id or its candidate): one report each and a summary table, in the
    /// --output folder (default ./reports).
    #[arg(long, value_name = "DIR", conflicts_with = "session")]
    pub submissions: Option<PathBuf>,
    /// The scenario the submission answers (id or path); default: its take-home's.
    #[arg(long, value_name = "SCENARIO")]
    pub scenario: Option<String>,
    /// The take-home it answers (the id `breakfix pack` printed): gives the scenario, the
    /// candidate's variant (seed) and name.
    #[arg(long, value_name = "ID", conflicts_with = "submissions")]
    pub take_home: Option<String>,
    /// The seed of the candidate's variant, when there is no take-home record.
    #[arg(long)]
    pub seed: Option<String>,
    /// The candidate's name, shown in the report (default: the take-home's).
    #[arg(long, conflicts_with = "submissions")]
    pub candidate: Option<String>,
    /// Where to run it (default: the first backend the scenario declares).
    #[arg(long, value_parser = choice::<BackendKind>())]
    pub backend: Option<BackendKind>,
}

impl SubmissionArgs {
    pub fn is_set(&self) -> bool {
        self.submission.is_some() || self.submissions.is_some()
    }
    /// True when an option that only describes a submission is given.
    pub fn has_submission_options(&self) -> bool {
        self.scenario.is_some()
            || self.take_home.is_some()
            || self.seed.is_some()
            || self.candidate.is_some()
            || self.backend.is_some()
    }
}

const REPORT_HELP: &str = "Every JSON report breakfix writes (grade --json, report.json beside each session, the
reports of grade --submissions) carries a SHA-256 digest over its content, and an Ed25519
signature when a signing key is set up:
  breakfix report keygen                         # key in <state>/keys/; reports are signed from now on
  breakfix report verify report.json             # unchanged since breakfix wrote it?
  breakfix report verify report.json --key report-signing.key.pub   # ... and signed by that key?

A digest alone catches edits made without recomputing it; only a signature shows who wrote
the report. BREAKFIX_SIGNING_KEY names another signing key file.";

#[derive(Subcommand, Debug)]
pub enum ReportAction {
    /// Say whether a JSON report is unchanged since breakfix wrote it (exit 0), or was
    /// changed, is not sealed, or is not signed by --key (exit 8).
    Verify {
        /// The JSON report.
        file: PathBuf,
        /// The public key (`.pub`) it must be signed with.
        #[arg(long, value_name = "PUBFILE")]
        key: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Create the key pair that signs reports (default: <state>/keys/report-signing.key and
    /// its .pub). Never overwrites a key.
    Keygen {
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ClusterAction {
    /// Create the kind cluster (and wait until its node is ready).
    Up {
        /// The kind cluster's name; its context is `kind-<name>`.
        #[arg(long, default_value = "breakfix")]
        name: String,
    },
    /// Delete the kind cluster.
    Down {
        #[arg(long, default_value = "breakfix")]
        name: String,
    },
}

/// The exit code of a command whose reader went away (128 + SIGPIPE), as shells report it.
const BROKEN_PIPE: i32 = 141;

/// Parses the command line, runs the command, returns the process exit code.
pub fn main() -> i32 {
    // A reader that goes away early (`breakfix list | head`) ends the output as with any other
    // command-line tool: quietly, with a broken pipe's exit code, not a panic's report.
    let report_panic = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let p = info.payload();
        let said = p
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| p.downcast_ref::<&str>().copied())
            .unwrap_or_default();
        if said.starts_with("failed printing to stdout") && said.contains("Broken pipe") {
            std::process::exit(BROKEN_PIPE);
        }
        report_panic(info);
    }));
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: failed to start the async runtime: {e}");
            return exit::FAILURE;
        }
    };
    rt.block_on(commands::run(cli))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }

    #[test]
    fn a_choice_flag_takes_its_names_lists_their_help_and_refuses_anything_else() {
        use clap::Parser;
        let parse = |args: &[&str]| super::Cli::try_parse_from([&["breakfix"], args].concat());
        let cli = parse(&["grade", "s-1", "--format", "junit"]).unwrap();
        assert!(
            matches!(
                cli.command,
                super::Command::Grade {
                    format: crate::report::Format::Junit,
                    ..
                }
            ),
            "{:?}",
            cli.command
        );
        let err = parse(&["grade", "s-1", "--format", "xml"]).unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::InvalidValue);
        assert!(
            err.to_string()
                .contains("[possible values: text, json, markdown, html, junit]"),
            "{err}"
        );
        let help = super::Cli::command()
            .find_subcommand_mut("grade")
            .unwrap()
            .render_long_help()
            .to_string();
        assert!(help.contains("junit:    JUnit XML"), "{help}");
    }
}
