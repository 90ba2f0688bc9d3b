//! The sandbox benchmark: breakfix against the tool a team would otherwise use
//! (docker-compose plus a shell script of the same checks), and many sessions at once.
//!
//! ```sh
//! cargo bench --bench sandbox -- [--scenarios a,b] [--scale 1,5,10,20] [--skip-cold] [--runs N]
//! ```
//!
//! Needs the Docker engine, `docker-compose` (v1 or v2's standalone binary) and `jq`. It drives
//! the real `breakfix` binary in state directories of its own, and the compose side with the
//! scripts in `benches/compose/`. Every command has a deadline; whatever the run created is
//! removed at the end, even after a failure or Ctrl-C, and the run checks that nothing is left.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::Digest;

const BIN: &str = env!("CARGO_BIN_EXE_breakfix");
const REPO: &str = env!("CARGO_MANIFEST_DIR");

const COLD_START: Duration = Duration::from_secs(1800);
const START: Duration = Duration::from_secs(300);
const GRADE: Duration = Duration::from_secs(300);
const APPLY: Duration = Duration::from_secs(180);
const STOP: Duration = Duration::from_secs(180);
const BUILD: Duration = Duration::from_secs(1800);
const DOCKER: Duration = Duration::from_secs(60);
/// After a deadline: SIGTERM (breakfix tears down what it created), then SIGKILL this much later.
const KILL_GRACE: Duration = Duration::from_secs(30);

/// The exit code of `grade` when checks ran and one failed (the broken state).
const EXIT_CHECKS_FAILED: i32 = 3;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

// ---------------------------------------------------------------------------------------------
// What is measured

/// A scenario the benchmark knows how to bring up with docker-compose.
struct Scenario {
    id: &'static str,
    /// The seed of the variant (the compose scripts' defaults name its services and ports).
    seed: Option<&'static str>,
    /// Its images (`breakfix/<id>-<name>`), built from `scenarios/<id>/images/<name>`.
    images: &'static [&'static str],
    /// The reference fix is applied and graded too: the compose side recreates these services.
    fix: Option<&'static [&'static str]>,
    /// The checks that fail in the broken state (breakfix and the compose script agree).
    broken_failing: &'static [&'static str],
    /// What each grade waits for by declaration, in seconds, with the reason.
    broken_waits: (f64, &'static str),
    fixed_waits: (f64, &'static str),
}

const SCENARIOS: &[Scenario] = &[
    Scenario {
        id: "crashloop-docker",
        seed: Some("classic-17"),
        images: &["web", "orders"],
        fix: Some(&["web"]),
        broken_failing: &[
            "web-stays-up",
            "checkout-api-through-web",
            "web-reports-healthy",
            "nginx-config-valid",
            "web-healthcheck-probes-web",
        ],
        broken_waits: (
            5.0,
            "the failing HTTP check retries for 5 s (default retry-for); the stays-running checks fail at the first restart",
        ),
        fixed_waits: (
            20.0,
            "stays-running windows of 20 s and 8 s, run at the same time",
        ),
    },
    Scenario {
        id: "missing-alert",
        seed: None,
        images: &["checkout", "monitoring", "receiver"],
        fix: None,
        broken_failing: &["pages-on-failure"],
        broken_waits: (
            79.0,
            "the alert drill: settle up to 45 s until Prometheus evaluated fresh data, 4 s quiet window, 30 s fire-within (the alert never fires)",
        ),
        fixed_waits: (0.0, ""),
    },
];

struct Opts {
    scenarios: Vec<String>,
    scale: Vec<usize>,
    scale_scenario: String,
    skip_cold: bool,
    runs: usize,
    cold_runs: usize,
}

fn usage() -> &'static str {
    "cargo bench --bench sandbox -- [options]\n\
     \n\
     --scenarios a,b        scenarios to compare with docker-compose (default crashloop-docker,missing-alert;\n\
     \x20                      `none` for none)\n\
     --scale 1,5,10,20      concurrent sessions to measure (default 1,5,10,20; `none` for none)\n\
     --scale-scenario ID    the scenario of the scale runs (default crashloop-docker)\n\
     --skip-cold            do not measure cold starts (they remove and rebuild the scenario's images)\n\
     --runs N               runs of the warm phases, medians reported (default 3)\n\
     --cold-runs N          runs of the cold start (default 1)\n"
}

fn parse_opts() -> Result<Opts, String> {
    let mut o = Opts {
        scenarios: vec!["crashloop-docker".into(), "missing-alert".into()],
        scale: vec![1, 5, 10, 20],
        scale_scenario: "crashloop-docker".into(),
        skip_cold: false,
        runs: 3,
        cold_runs: 1,
    };
    let mut args = std::env::args().skip(1);
    let list = |v: Option<String>, what: &str| -> Result<Vec<String>, String> {
        let v = v.ok_or(format!("{what} needs a value"))?;
        Ok(if v == "none" {
            vec![]
        } else {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
    };
    let number = |v: Option<String>, what: &str| -> Result<usize, String> {
        v.as_deref()
            .and_then(|v| v.parse().ok())
            .filter(|n| *n > 0)
            .ok_or(format!("{what} needs a positive number"))
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            // cargo passes --bench to a bench without the libtest harness.
            "--bench" => {}
            "--scenarios" => o.scenarios = list(args.next(), "--scenarios")?,
            "--scale" => {
                o.scale = list(args.next(), "--scale")?
                    .iter()
                    .map(|n| n.parse().ok().filter(|n| *n > 0))
                    .collect::<Option<Vec<usize>>>()
                    .ok_or("--scale takes positive numbers, e.g. 1,5,10,20")?
            }
            "--scale-scenario" => {
                o.scale_scenario = args.next().ok_or("--scale-scenario needs a value")?
            }
            "--skip-cold" => o.skip_cold = true,
            "--runs" => o.runs = number(args.next(), "--runs")?,
            "--cold-runs" => o.cold_runs = number(args.next(), "--cold-runs")?,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    for id in &o.scenarios {
        if scenario(id).is_none() {
            return Err(format!(
                "no compose scripts for scenario `{id}` (known: {})",
                SCENARIOS
                    .iter()
                    .map(|s| s.id)
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    if !o.scale.is_empty() && scenario(&o.scale_scenario).is_none() {
        return Err(format!("unknown scale scenario `{}`", o.scale_scenario));
    }
    Ok(o)
}

fn scenario(id: &str) -> Option<&'static Scenario> {
    SCENARIOS.iter().find(|s| s.id == id)
}

// ---------------------------------------------------------------------------------------------
// Running commands: deadlines, exit codes, peak memory from wait4

#[derive(Clone, Debug, Default)]
struct Ran {
    /// Exit code; None when killed by a signal.
    code: Option<i32>,
    secs: f64,
    /// Peak resident set size of the process (and of the children it waited for), KiB.
    max_rss_kib: i64,
    stdout: String,
    stderr: String,
    timed_out: bool,
}

impl Ran {
    fn ok(&self) -> bool {
        self.code == Some(0)
    }

    fn why(&self) -> String {
        let tail = |s: &str| {
            s.lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("")
                .trim()
                .to_string()
        };
        let last = tail(&self.stderr);
        let last = if last.is_empty() {
            tail(&self.stdout)
        } else {
            last
        };
        match (self.timed_out, self.code) {
            (true, _) => format!("deadline passed after {:.0} s; {last}", self.secs),
            (_, Some(c)) => format!("exit {c}: {last}"),
            (_, None) => format!("killed by a signal: {last}"),
        }
    }
}

/// A child being waited for by a thread of its own (wait4, so its peak memory is known).
struct Running {
    pid: i32,
    started: Instant,
    deadline: Duration,
    done: mpsc::Receiver<(Option<i32>, f64, i64)>,
    out: thread::JoinHandle<String>,
    err: thread::JoinHandle<String>,
}

fn spawn(mut cmd: Command, deadline: Duration) -> Running {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", cmd.get_program()));
    let pid = child.id() as i32;
    let mut so = child.stdout.take().expect("stdout");
    let mut se = child.stderr.take().expect("stderr");
    let out = thread::spawn(move || {
        let mut s = String::new();
        let _ = so.read_to_string(&mut s);
        s
    });
    let err = thread::spawn(move || {
        let mut s = String::new();
        let _ = se.read_to_string(&mut s);
        s
    });
    let (tx, done) = mpsc::channel();
    thread::spawn(move || {
        let mut status = 0;
        // SAFETY: rusage is plain data; wait4 fills it for the child we spawned, which
        // nothing else waits for (the std Child handle is dropped without waiting).
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        let r = loop {
            let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
            if r == -1 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted
            {
                continue;
            }
            break r;
        };
        let secs = started.elapsed().as_secs_f64();
        let code = if r == pid && libc::WIFEXITED(status) {
            Some(libc::WEXITSTATUS(status))
        } else {
            None
        };
        let _ = tx.send((code, secs, ru.ru_maxrss));
    });
    drop(child);
    Running {
        pid,
        started,
        deadline,
        done,
        out,
        err,
    }
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) on a child this process spawned and has not reaped yet.
    unsafe {
        libc::kill(pid, sig);
    }
}

impl Running {
    /// Waits for the child until its deadline (or Ctrl-C), then terminates it.
    fn finish(self) -> Ran {
        let mut timed_out = false;
        let mut termed_at: Option<Instant> = None;
        let (code, secs, rss) = loop {
            match self.done.recv_timeout(Duration::from_millis(200)) {
                Ok(r) => break r,
                Err(mpsc::RecvTimeoutError::Disconnected) => break (None, 0.0, 0),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            let late = self.started.elapsed() >= self.deadline;
            match termed_at {
                None if late || INTERRUPTED.load(Ordering::SeqCst) => {
                    timed_out = late;
                    signal(self.pid, libc::SIGTERM);
                    termed_at = Some(Instant::now());
                }
                Some(t) if t.elapsed() >= KILL_GRACE => {
                    signal(self.pid, libc::SIGKILL);
                    termed_at = Some(Instant::now());
                }
                _ => {}
            }
        };
        Ran {
            code,
            secs,
            max_rss_kib: rss,
            stdout: self.out.join().unwrap_or_default(),
            stderr: self.err.join().unwrap_or_default(),
            timed_out,
        }
    }
}

fn run(cmd: Command, deadline: Duration) -> Ran {
    spawn(cmd, deadline).finish()
}

fn docker(args: &[&str]) -> Ran {
    let mut c = Command::new("docker");
    c.args(args);
    run(c, DOCKER)
}

fn lines(s: &str) -> Vec<String> {
    s.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

fn interrupted() -> Result<(), String> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        Err("interrupted".into())
    } else {
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// What the run created, removed at the end whatever happens

#[derive(Default)]
struct Created {
    /// State directories (kept until their sessions are stopped).
    states: Vec<tempfile::TempDir>,
    /// Compose projects: name and folder.
    projects: Vec<(String, PathBuf)>,
}

static CREATED: Mutex<Option<Created>> = Mutex::new(None);

fn created<T>(f: impl FnOnce(&mut Created) -> T) -> T {
    let mut g = CREATED.lock().unwrap_or_else(|p| p.into_inner());
    f(g.get_or_insert_with(Created::default))
}

/// The id breakfix gives a state directory (carried by every object its sessions create).
fn store_id(dir: &Path) -> String {
    let p = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    hex::encode(&sha2::Sha256::digest(p.as_os_str().as_encoded_bytes())[..6])
}

/// A state directory of its own for breakfix.
#[derive(Clone)]
struct State {
    dir: PathBuf,
    store: String,
}

impl State {
    fn new() -> State {
        let t = tempfile::Builder::new()
            .prefix("breakfix-bench-state-")
            .tempdir()
            .expect("temp state dir");
        let dir = t.path().to_path_buf();
        created(|c| c.states.push(t));
        State {
            store: store_id(&dir),
            dir,
        }
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .current_dir(REPO)
            .env("BREAKFIX_STATE_DIR", &self.dir)
            .env_remove("BREAKFIX_SCENARIOS")
            .env("NO_COLOR", "1");
        c
    }
}

static PROJECTS: AtomicUsize = AtomicUsize::new(0);

fn new_project(root: &Path) -> (String, PathBuf) {
    let n = PROJECTS.fetch_add(1, Ordering::SeqCst);
    let name = format!("bfbench{}n{n}", std::process::id());
    let dir = root.join(&name);
    created(|c| c.projects.push((name.clone(), dir.clone())));
    (name, dir)
}

fn compose_script(name: &str) -> PathBuf {
    Path::new(REPO).join("benches/compose").join(name)
}

fn compose_cmd(script: &str, project: &str, dir: &Path) -> Command {
    let mut c = Command::new("bash");
    c.arg(compose_script(script)).arg(project).current_dir(dir);
    c
}

/// Labelled objects left: containers, networks, volumes and images carrying `label`.
fn labelled(label: &str) -> usize {
    let filter = format!("label={label}");
    [
        vec!["ps", "-aq", "--filter", &filter],
        vec!["network", "ls", "-q", "--filter", &filter],
        vec!["volume", "ls", "-q", "--filter", &filter],
        vec!["image", "ls", "-q", "--filter", &filter],
    ]
    .iter()
    .map(|args| lines(&docker(args).stdout).len())
    .sum()
}

fn compose_leftovers(project: &str) -> usize {
    labelled(&format!("com.docker.compose.project={project}"))
        + labelled(&format!("bfbench.project={project}"))
}

/// Stops every session of every state directory, takes every compose project down, and
/// counts what is left; returns the leftovers (empty when clean).
fn clean_up() -> Vec<String> {
    let c = created(std::mem::take);
    for t in &c.states {
        let s = State {
            dir: t.path().to_path_buf(),
            store: store_id(t.path()),
        };
        let r = run(s.cmd(&["stop", "--all"]), STOP);
        if !r.ok() {
            eprintln!("clean-up: breakfix stop --all: {}", r.why());
        }
        let r = run(s.cmd(&["gc"]), STOP);
        if !r.ok() {
            eprintln!("clean-up: breakfix gc: {}", r.why());
        }
    }
    for (name, dir) in &c.projects {
        if dir.join("compose.yaml").is_file() && compose_leftovers(name) > 0 {
            let r = run(compose_cmd("down.sh", name, dir), STOP);
            if !r.ok() {
                eprintln!("clean-up: compose down {name}: {}", r.why());
            }
        }
    }
    let mut left = vec![];
    for t in &c.states {
        let n = labelled(&format!("dev.breakfix.store={}", store_id(t.path())));
        if n > 0 {
            left.push(format!(
                "{n} object(s) labelled dev.breakfix.store={}",
                store_id(t.path())
            ));
        }
    }
    for (name, _) in &c.projects {
        let n = compose_leftovers(name);
        if n > 0 {
            left.push(format!("{n} object(s) of compose project {name}"));
        }
    }
    drop(c);
    left
}

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

fn install_signal_handlers() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

// ---------------------------------------------------------------------------------------------
// Statistics and tables

#[derive(Clone, Debug, Default)]
struct Samples(Vec<f64>);

impl Samples {
    fn push(&mut self, v: f64) {
        self.0.push(v);
    }

    fn median(&self) -> Option<f64> {
        let mut v = self.0.clone();
        if v.is_empty() {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let m = v.len() / 2;
        Some(if v.len() % 2 == 1 {
            v[m]
        } else {
            (v[m - 1] + v[m]) / 2.0
        })
    }

    fn mean(&self) -> Option<f64> {
        (!self.0.is_empty()).then(|| self.0.iter().sum::<f64>() / self.0.len() as f64)
    }

    fn max(&self) -> Option<f64> {
        self.0.iter().copied().reduce(f64::max)
    }

    fn min(&self) -> Option<f64> {
        self.0.iter().copied().reduce(f64::min)
    }

    /// `4.12 s` (one sample) or `4.12 s (3.98–4.50)`.
    fn secs(&self) -> String {
        match (self.median(), self.min(), self.max()) {
            (Some(m), Some(lo), Some(hi)) if self.0.len() > 1 => {
                format!("{m:.2} s ({lo:.2}–{hi:.2})")
            }
            (Some(m), ..) => format!("{m:.2} s"),
            _ => "—".into(),
        }
    }
}

fn ratio(a: &Samples, b: &Samples) -> String {
    match (a.median(), b.median()) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.2}", a / b),
        _ => "—".into(),
    }
}

fn mib(kib: i64) -> String {
    format!("{:.0} MiB", kib as f64 / 1024.0)
}

fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut w: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let cells: Vec<String> = cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c}{}", " ".repeat(w[i] - c.chars().count())))
            .collect();
        format!("| {} |\n", cells.join(" | "))
    };
    let mut out = line(head.iter().map(|s| s.to_string()).collect());
    out.push_str(&line(w.iter().map(|n| "-".repeat(*n)).collect()));
    for r in rows {
        out.push_str(&line(r.clone()));
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Verdicts: breakfix's report against the script's lines

/// check id → passed, from `grade --json`.
fn report_verdicts(json: &str) -> Option<BTreeMap<String, bool>> {
    let v: Value = serde_json::from_str(json).ok()?;
    Some(
        v["checks"]
            .as_array()?
            .iter()
            .map(|c| {
                (
                    c["id"].as_str().unwrap_or("?").to_string(),
                    c["status"] == "pass",
                )
            })
            .collect(),
    )
}

fn report_complete(json: &str) -> bool {
    serde_json::from_str::<Value>(json).is_ok_and(|v| v["complete"] == true)
}

/// check id → passed, from the script's `pass|fail <id>: ...` lines.
fn script_verdicts(out: &str) -> BTreeMap<String, bool> {
    out.lines()
        .filter_map(|l| {
            let (status, rest) = l.split_once(' ')?;
            let (id, _) = rest.split_once(':')?;
            Some((id.to_string(), status == "pass"))
        })
        .collect()
}

/// Differences between the two sides' verdicts, as `id: breakfix pass, script fail`.
fn disagreements(bf: &BTreeMap<String, bool>, sh: &BTreeMap<String, bool>) -> Vec<String> {
    let word = |b: Option<&bool>| match b {
        Some(true) => "pass",
        Some(false) => "fail",
        None => "missing",
    };
    let mut ids: Vec<&String> = bf.keys().chain(sh.keys()).collect();
    ids.sort();
    ids.dedup();
    ids.into_iter()
        .filter(|id| bf.get(*id) != sh.get(*id))
        .map(|id| {
            format!(
                "{id}: breakfix {}, script {}",
                word(bf.get(id)),
                word(sh.get(id))
            )
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// One scenario, side by side

#[derive(Default)]
struct Side {
    cold: Samples,
    warm: Samples,
    /// Compose only: `docker-compose up -d` alone, without waiting for anything.
    up_only: Samples,
    grade_broken: Samples,
    apply: Samples,
    grade_fixed: Samples,
    stop: Samples,
    start_rss: i64,
    grade_rss: i64,
    leftovers: usize,
    failures: Vec<String>,
}

#[derive(Default)]
struct Compared {
    bf: Side,
    compose: Side,
    /// Compose with breakfix's sandbox settings added (internal network, DNS, privileges).
    hardened: Side,
    /// Verdicts that differ between breakfix's report and the script, per grade.
    disagree: Vec<String>,
    grades_compared: usize,
    notes: Vec<String>,
}

/// The rendered workspace and solution of a session, for the compose side.
struct Template {
    workspace: PathBuf,
    solution: Option<PathBuf>,
    /// The compose override with breakfix's sandbox settings.
    hardening: String,
}

/// The override file the hardened compose variant adds (`-f compose.yaml -f <this>`).
const OVERRIDE: &str = "sandbox.override.yaml";

/// breakfix's runtime settings that compose can express, for every service: an internal
/// network (no route out), the resolver options breakfix gives its containers, every
/// capability dropped (the services add none), no-new-privileges and a process limit.
fn sandbox_override(services: &[String]) -> String {
    let mut y = String::from(
        "# breakfix's sandbox settings, added by the benchmark to compare like with like.\n\
         networks:\n  default:\n    internal: true\nservices:\n",
    );
    for s in services {
        y.push_str(&format!(
            "  {s}:\n    dns_opt: [\"timeout:1\", \"attempts:1\", \"ndots:1\"]\n    cap_drop: [ALL]\n    \
             security_opt: [\"no-new-privileges:true\"]\n    pids_limit: 256\n"
        ));
    }
    y
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let dest = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &dest)?;
        } else {
            std::fs::copy(e.path(), dest)?;
        }
    }
    Ok(())
}

fn start_args(sc: &Scenario) -> Vec<&str> {
    let mut a = vec!["start", sc.id, "--json", "--candidate", "Bench"];
    if let Some(seed) = sc.seed {
        a.extend(["--seed", seed]);
    }
    a
}

/// A started session: id and workspace.
fn started(r: &Ran) -> Option<(String, PathBuf)> {
    let v: Value = serde_json::from_str(&r.stdout).ok()?;
    Some((
        v["session"].as_str()?.to_string(),
        PathBuf::from(v["workspace"].as_str()?),
    ))
}

fn session_leftovers(session: &str) -> usize {
    labelled(&format!("dev.breakfix.session={session}"))
}

/// Removes the scenario's own images (`breakfix/<id>-*`, every tag); the base image and the
/// probe stay. Returns what was removed.
fn remove_scenario_images(sc: &Scenario) -> Result<Vec<String>, String> {
    let r = docker(&[
        "image",
        "ls",
        "--filter",
        &format!("reference=breakfix/{}-*", sc.id),
        "--format",
        "{{.ID}} {{.Repository}}:{{.Tag}}",
    ]);
    if !r.ok() {
        return Err(format!("docker image ls: {}", r.why()));
    }
    let found: Vec<(String, String)> = lines(&r.stdout)
        .iter()
        .filter_map(|l| l.split_once(' '))
        .filter(|(_, t)| !t.ends_with(":<none>"))
        .map(|(i, t)| (i.to_string(), t.to_string()))
        .collect();
    if found.is_empty() {
        return Ok(vec![]);
    }
    let mut args = vec!["rmi"];
    args.extend(found.iter().map(|(_, t)| t.as_str()));
    let r = docker(&args);
    if !r.ok() {
        return Err(format!("docker rmi: {}", r.why()));
    }
    // Removing the last tag only untags an image that something else still holds (a
    // container of another user of the engine): then the start would not be cold.
    let mut ids: Vec<&str> = found.iter().map(|(i, _)| i.as_str()).collect();
    ids.dedup();
    for id in ids {
        if docker(&["image", "inspect", "--format", "{{.Id}}", id]).ok() {
            let users = docker(&[
                "ps",
                "-a",
                "--filter",
                &format!("ancestor={id}"),
                "--format",
                "{{.Names}}",
            ]);
            return Err(format!(
                "image {id} is still on the engine after docker rmi (containers using it: {}); \
                 a start now would not be cold",
                lines(&users.stdout).join(", ")
            ));
        }
    }
    Ok(found.into_iter().map(|(_, t)| t).collect())
}

/// Starts once (untimed) so images exist, and keeps the rendered workspace and solution.
fn prime(sc: &Scenario, root: &Path) -> Result<Template, String> {
    let st = State::new();
    let r = run(st.cmd(&start_args(sc)), COLD_START);
    let (id, ws) = started(&r).ok_or_else(|| format!("breakfix start: {}", r.why()))?;
    let dir = root.join(format!("template-{}", sc.id));
    let workspace = dir.join("workspace");
    copy_dir(&ws, &workspace).map_err(|e| format!("copy the workspace: {e}"))?;
    let rendered = ws
        .parent()
        .map(|p| p.join("package").join(sc.id).join("solution"));
    let from = match rendered {
        Some(p) if p.is_dir() => p,
        _ => Path::new(REPO)
            .join("scenarios")
            .join(sc.id)
            .join("solution"),
    };
    let solution = if sc.fix.is_some() {
        let to = dir.join("solution");
        copy_dir(&from, &to).map_err(|e| format!("copy the solution: {e}"))?;
        Some(to)
    } else {
        None
    };
    let r = run(st.cmd(&["stop", &id]), STOP);
    if !r.ok() {
        return Err(format!("breakfix stop: {}", r.why()));
    }
    // docker-compose must accept the rendered file as it is, and with the override.
    let mut c = Command::new("docker-compose");
    c.args([
        "-p",
        "bfbenchconfig",
        "-f",
        "compose.yaml",
        "config",
        "--services",
    ])
    .current_dir(&workspace);
    let r = run(c, DOCKER);
    if !r.ok() {
        return Err(format!(
            "docker-compose does not accept {}/compose.yaml: {}",
            workspace.display(),
            r.why()
        ));
    }
    let hardening = sandbox_override(&lines(&r.stdout));
    let check = dir.join("override-check");
    copy_dir(&workspace, &check).map_err(|e| format!("copy the workspace: {e}"))?;
    std::fs::write(check.join(OVERRIDE), &hardening).map_err(|e| e.to_string())?;
    let mut c = Command::new("docker-compose");
    c.args(["-p", "bfbenchconfig", "-f", "compose.yaml", "-f", OVERRIDE])
        .args(["config", "-q"])
        .current_dir(&check);
    let r = run(c, DOCKER);
    if !r.ok() {
        return Err(format!(
            "docker-compose does not accept {OVERRIDE}: {}",
            r.why()
        ));
    }
    Ok(Template {
        workspace,
        solution,
        hardening,
    })
}

/// Verdicts of one grade: check id → passed (None: no report).
type Verdicts = BTreeMap<String, bool>;

/// One breakfix cycle: start, grade, (apply the fix, grade), stop. Returns each grade's verdicts.
fn breakfix_cycle(
    sc: &Scenario,
    solution: Option<&Path>,
    cold: bool,
    out: &mut Compared,
) -> Result<Vec<Option<Verdicts>>, String> {
    let st = State::new();
    let r = run(
        st.cmd(&start_args(sc)),
        if cold { COLD_START } else { START },
    );
    let Some((id, ws)) = started(&r) else {
        out.bf.failures.push(format!("start: {}", r.why()));
        return Err(format!("breakfix start: {}", r.why()));
    };
    out.bf.start_rss = out.bf.start_rss.max(r.max_rss_kib);
    if cold {
        out.bf.cold.push(r.secs);
    } else {
        out.bf.warm.push(r.secs);
    }
    let mut verdicts = vec![];
    if !cold {
        let g = run(st.cmd(&["grade", &id, "--json"]), GRADE);
        check_grade("grade (broken)", &g, &mut out.bf);
        out.bf.grade_broken.push(g.secs);
        out.bf.grade_rss = out.bf.grade_rss.max(g.max_rss_kib);
        verdicts.push(report_verdicts(&g.stdout));
        if let Some(sol) = solution {
            copy_dir(sol, &ws).map_err(|e| format!("lay the solution over: {e}"))?;
            let a = run(st.cmd(&["apply", &id]), APPLY);
            if !a.ok() {
                out.bf.failures.push(format!("apply: {}", a.why()));
            }
            out.bf.apply.push(a.secs);
            let g = run(st.cmd(&["grade", &id, "--json"]), GRADE);
            check_grade("grade (fixed)", &g, &mut out.bf);
            if g.code != Some(0) {
                out.bf.failures.push(format!(
                    "grade (fixed) did not pass every check: {}",
                    failing_checks(&g.stdout)
                ));
            }
            out.bf.grade_fixed.push(g.secs);
            verdicts.push(report_verdicts(&g.stdout));
        }
    }
    let s = run(st.cmd(&["stop", &id]), STOP);
    if !s.ok() {
        out.bf.failures.push(format!("stop: {}", s.why()));
    }
    out.bf.stop.push(s.secs);
    out.bf.leftovers += session_leftovers(&id);
    Ok(verdicts)
}

fn check_grade(what: &str, g: &Ran, side: &mut Side) {
    let expected = matches!(g.code, Some(0) | Some(EXIT_CHECKS_FAILED));
    if !expected || !report_complete(&g.stdout) {
        // A grade that could not complete names the checks that could not run and why.
        let errored = checks_with(&g.stdout, |s| s == "error")
            .filter(|e| !e.is_empty())
            .map(|e| format!(" ({e})"))
            .unwrap_or_default();
        side.failures.push(format!("{what}: {}{errored}", g.why()));
    }
}

/// One compose cycle: (build,) up and wait, checks, (fix, checks,) down. `hardened` adds
/// breakfix's sandbox settings to the project (see [`sandbox_override`]).
fn compose_cycle(
    sc: &Scenario,
    t: &Template,
    root: &Path,
    cold: bool,
    hardened: bool,
    side: &mut Side,
) -> Result<Vec<Verdicts>, String> {
    let (project, dir) = new_project(root);
    copy_dir(&t.workspace, &dir).map_err(|e| format!("copy the workspace: {e}"))?;
    if hardened {
        std::fs::write(dir.join(OVERRIDE), &t.hardening)
            .map_err(|e| format!("write {OVERRIDE}: {e}"))?;
    }
    let started = Instant::now();
    if cold {
        for img in sc.images {
            let mut c = Command::new("docker");
            c.args(["build", "-q", "-t", &format!("breakfix/{}-{img}", sc.id)])
                .arg(
                    Path::new(REPO)
                        .join("scenarios")
                        .join(sc.id)
                        .join("images")
                        .join(img),
                )
                .env("DOCKER_BUILDKIT", "0");
            let r = run(c, BUILD);
            if !r.ok() {
                side.failures
                    .push(format!("docker build {img}: {}", r.why()));
                return Err(format!("docker build {img}: {}", r.why()));
            }
        }
    }
    let up = run(
        compose_cmd(&format!("{}-up.sh", sc.id), &project, &dir),
        START,
    );
    let total = started.elapsed().as_secs_f64();
    if !up.ok() {
        side.failures.push(format!("up: {}", up.why()));
        let _ = run(compose_cmd("down.sh", &project, &dir), STOP);
        return Err(format!("compose up: {}", up.why()));
    }
    side.start_rss = side.start_rss.max(up.max_rss_kib);
    if cold {
        side.cold.push(total);
    } else {
        side.warm.push(total);
        if let Some(us) = up
            .stderr
            .lines()
            .find_map(|l| l.strip_prefix("bench: up-d-us="))
            .and_then(|v| v.trim().parse::<f64>().ok())
        {
            side.up_only.push(us / 1e6);
        }
    }
    let mut verdicts = vec![];
    if !cold {
        let checks = format!("{}-checks.sh", sc.id);
        let g = run(compose_cmd(&checks, &project, &dir), GRADE);
        if !matches!(g.code, Some(0) | Some(EXIT_CHECKS_FAILED)) {
            side.failures.push(format!("checks (broken): {}", g.why()));
        }
        side.grade_broken.push(g.secs);
        side.grade_rss = side.grade_rss.max(g.max_rss_kib);
        verdicts.push(script_verdicts(&g.stdout));
        if let (Some(services), Some(sol)) = (sc.fix, &t.solution) {
            copy_dir(sol, &dir).map_err(|e| format!("lay the solution over: {e}"))?;
            // Recreated without a grace period: breakfix's apply removes the old container
            // at once too.
            let mut c = Command::new("docker-compose");
            c.args(["-p", &project, "-f", "compose.yaml"]);
            if hardened {
                c.args(["-f", OVERRIDE]);
            }
            c.args([
                "up",
                "-d",
                "--no-color",
                "--no-deps",
                "--force-recreate",
                "--timeout",
                "0",
            ])
            .args(services.iter())
            .current_dir(&dir);
            let a = run(c, APPLY);
            if !a.ok() {
                side.failures.push(format!("apply: {}", a.why()));
            }
            side.apply.push(a.secs);
            let g = run(compose_cmd(&checks, &project, &dir), GRADE);
            if !g.ok() {
                side.failures.push(format!(
                    "checks (fixed) did not all pass: {}",
                    g.stdout
                        .lines()
                        .filter(|l| !l.starts_with("pass "))
                        .collect::<Vec<_>>()
                        .join("; ")
                ));
            }
            side.grade_fixed.push(g.secs);
            verdicts.push(script_verdicts(&g.stdout));
        }
    }
    let d = run(compose_cmd("down.sh", &project, &dir), STOP);
    if !d.ok() {
        side.failures.push(format!("down: {}", d.why()));
    }
    side.stop.push(d.secs);
    side.leftovers += compose_leftovers(&project);
    Ok(verdicts)
}

fn compare_verdicts(out: &mut Compared, what: &str, bf: &[Option<Verdicts>], sh: &[Verdicts]) {
    for (i, (b, s)) in bf.iter().zip(sh.iter()).enumerate() {
        let phase = if i == 0 { "broken" } else { "fixed" };
        out.grades_compared += 1;
        match b {
            None => out
                .disagree
                .push(format!("{what}, {phase}: breakfix printed no report")),
            Some(b) => out.disagree.extend(
                disagreements(b, s)
                    .into_iter()
                    .map(|d| format!("{what}, {phase}: {d}")),
            ),
        }
    }
}

fn compare(sc: &Scenario, o: &Opts, root: &Path) -> Result<Compared, String> {
    let mut out = Compared::default();
    eprintln!("== {}: preparing (images, a rendered workspace)", sc.id);
    let t = prime(sc, root)?;
    let solution = t.solution.as_deref();
    if !o.skip_cold {
        for n in 1..=o.cold_runs {
            interrupted()?;
            // The compose side first, so breakfix's own images (with their content tags) are
            // the ones left for the warm runs.
            eprintln!("== {}: cold start {n}/{}: compose", sc.id, o.cold_runs);
            let removed = remove_scenario_images(sc)?;
            eprintln!("   removed {}", removed.join(" "));
            compose_cycle(sc, &t, root, true, false, &mut out.compose)?;
            interrupted()?;
            eprintln!("== {}: cold start {n}/{}: breakfix", sc.id, o.cold_runs);
            let removed = remove_scenario_images(sc)?;
            eprintln!("   removed {}", removed.join(" "));
            breakfix_cycle(sc, solution, true, &mut out)?;
        }
    }
    for n in 1..=o.runs {
        interrupted()?;
        // Rotate which side goes first, so none always runs on a warmer engine.
        let (mut bf, mut sh, mut hard) = (vec![], vec![], vec![]);
        for k in 0..3 {
            interrupted()?;
            match (k + n - 1) % 3 {
                0 => {
                    eprintln!("== {}: warm run {n}/{}: breakfix", sc.id, o.runs);
                    bf = breakfix_cycle(sc, solution, false, &mut out)?;
                }
                1 => {
                    eprintln!("== {}: warm run {n}/{}: compose", sc.id, o.runs);
                    sh = compose_cycle(sc, &t, root, false, false, &mut out.compose)?;
                }
                _ => {
                    eprintln!(
                        "== {}: warm run {n}/{}: compose with breakfix's sandbox settings",
                        sc.id, o.runs
                    );
                    hard = compose_cycle(sc, &t, root, false, true, &mut out.hardened)?;
                }
            }
        }
        compare_verdicts(&mut out, &format!("run {n}, compose"), &bf, &sh);
        compare_verdicts(&mut out, &format!("run {n}, hardened compose"), &bf, &hard);
    }
    if let Ok(v) = docker_compose_version() {
        out.notes.push(v);
    }
    Ok(out)
}

fn docker_compose_version() -> Result<String, String> {
    let mut c = Command::new("docker-compose");
    c.arg("version").arg("--short");
    let r = run(c, DOCKER);
    r.ok()
        .then(|| format!("docker-compose {}", r.stdout.trim()))
        .ok_or(r.why())
}

fn print_compared(sc: &Scenario, o: &Opts, c: &Compared) {
    let mut rows = vec![];
    let mut row = |phase: &str, pick: &dyn Fn(&Side) -> &Samples| {
        let (a, b, h) = (pick(&c.bf), pick(&c.compose), pick(&c.hardened));
        if a.0.is_empty() && b.0.is_empty() {
            return;
        }
        rows.push(vec![
            phase.to_string(),
            a.secs(),
            b.secs(),
            ratio(a, b),
            h.secs(),
            ratio(a, h),
        ]);
    };
    row("cold start (scenario images removed)", &|s| &s.cold);
    row("warm start, until the broken state", &|s| &s.warm);
    row("grade (broken state)", &|s| &s.grade_broken);
    row("apply the fix", &|s| &s.apply);
    row("grade (fixed)", &|s| &s.grade_fixed);
    row("stop", &|s| &s.stop);
    if !c.compose.up_only.0.is_empty() {
        rows.push(vec![
            "compose: bare `up -d`, no wait".into(),
            "".into(),
            c.compose.up_only.secs(),
            ratio(&c.bf.warm, &c.compose.up_only),
            c.hardened.up_only.secs(),
            ratio(&c.bf.warm, &c.hardened.up_only),
        ]);
    }
    let rss = |s: &Side| format!("{} / {}", mib(s.start_rss), mib(s.grade_rss));
    let count = |f: &dyn Fn(&Side) -> usize| {
        [&c.bf, &c.compose, &c.hardened]
            .map(|s| f(s).to_string())
            .to_vec()
    };
    rows.push(vec![
        "peak runner RSS (start / grade)".into(),
        rss(&c.bf),
        rss(&c.compose),
        "".into(),
        rss(&c.hardened),
        "".into(),
    ]);
    for (what, f) in [
        (
            "leftovers after stop",
            &(|s: &Side| s.leftovers) as &dyn Fn(&Side) -> usize,
        ),
        ("failures", &|s: &Side| s.failures.len()),
    ] {
        let v = count(f);
        rows.push(vec![
            what.into(),
            v[0].clone(),
            v[1].clone(),
            "".into(),
            v[2].clone(),
            "".into(),
        ]);
    }
    println!(
        "\n### {} — breakfix vs {} (medians of {} warm run(s), min–max in brackets)\n",
        sc.id,
        c.notes
            .first()
            .map(String::as_str)
            .unwrap_or("docker-compose"),
        o.runs
    );
    print!(
        "{}",
        table(
            &[
                "phase",
                "breakfix",
                "compose + script",
                "ratio",
                "compose, breakfix's sandbox settings",
                "ratio",
            ],
            &rows
        )
    );
    println!();
    if c.grades_compared > 0 {
        if c.disagree.is_empty() {
            println!(
                "verdicts: breakfix's report and the script agree on every check ({} grades compared)",
                c.grades_compared
            );
        } else {
            println!("verdicts that differ between breakfix and the script:");
            for d in &c.disagree {
                println!("  - {d}");
            }
        }
    }
    for f in &c.bf.failures {
        println!("breakfix failure: {f}");
    }
    for f in &c.compose.failures {
        println!("compose failure: {f}");
    }
    for f in &c.hardened.failures {
        println!("compose (breakfix's sandbox settings) failure: {f}");
    }
    // The targets.
    let mut targets = vec![];
    if sc.id == "crashloop-docker"
        && let (Some(a), Some(b)) = (c.bf.warm.median(), c.compose.warm.median())
    {
        targets.push(format!(
            "warm start faster than compose's (ratio below 1.0): {:.2} → {}",
            a / b,
            if a < b { "met" } else { "NOT met" }
        ));
        if let Some(h) = c.hardened.warm.median() {
            targets.push(format!(
                "(against compose with breakfix's sandbox settings the ratio is {:.2})",
                a / h
            ));
        }
    }
    let mut grade_target = |what: &str,
                            s: &Samples,
                            script: &Samples,
                            (waits, why): (f64, &str)| {
        if let Some(m) = s.max()
            && !why.is_empty()
        {
            let budget = 1.0 + waits;
            targets.push(format!(
                "{what} under 1 s + {waits:.0} s declared ({why}): slowest {m:.2} s of {budget:.0} s → {}",
                if m < budget { "met" } else { "NOT met" }
            ));
        }
        // The script sits through the same waits: the difference is the tool's own cost.
        if let (Some(a), Some(b)) = (s.median(), script.median()) {
            targets.push(format!(
                "{what}: breakfix's time over the script's, which sits through the same waits: {:+.2} s",
                a - b
            ));
        }
    };
    grade_target(
        "grade (broken)",
        &c.bf.grade_broken,
        &c.compose.grade_broken,
        sc.broken_waits,
    );
    grade_target(
        "grade (fixed)",
        &c.bf.grade_fixed,
        &c.compose.grade_fixed,
        sc.fixed_waits,
    );
    for t in targets {
        println!("target: {t}");
    }
    println!(
        "\nbreakfix start waits until the scenario's broken-when checks fail; the compose side runs\n\
         benches/compose/{id}-up.sh: `docker-compose up -d`, a probe container, then the same\n\
         broken-state conditions polled once a second (see the script). Compose's grade is\n\
         benches/compose/{id}-checks.sh; its stop is benches/compose/down.sh (`down -v --timeout 0`).\n\
         \"breakfix's sandbox settings\": the same with {OVERRIDE} added: an internal network,\n\
         breakfix's resolver options, capabilities dropped, no-new-privileges, a process limit.",
        id = sc.id
    );
}

// ---------------------------------------------------------------------------------------------
// Scale: N sessions at once

#[derive(Default)]
struct ScaleRow {
    n: usize,
    all_ready: f64,
    grade: Samples,
    apply: f64,
    grade_fixed: Samples,
    stop: f64,
    peak_rss: i64,
    sum_start_rss: i64,
    host_mib: f64,
    /// RSS of the sessions' containers (cgroup memory.stat), the highest of the samples.
    containers_kib: i64,
    /// Commands that failed: a start, apply or stop that did not succeed, a grade that did
    /// not complete.
    failures: Vec<String>,
    /// Grades that completed with a verdict other than the expected one.
    wrong: Vec<String>,
    leftovers: usize,
}

/// The summed RSS of the running containers labelled with a state directory's id, KiB
/// (cgroup v1 `memory.stat` `total_rss`; 0 when the files are not there).
fn containers_rss(store: &str) -> i64 {
    let ids = docker(&[
        "ps",
        "-q",
        "--no-trunc",
        "--filter",
        &format!("label=dev.breakfix.store={store}"),
    ]);
    lines(&ids.stdout)
        .iter()
        .filter_map(|id| {
            let stat = ["/sys/fs/cgroup/memory/docker", "/sys/fs/cgroup/docker"]
                .iter()
                .find_map(|root| {
                    std::fs::read_to_string(format!("{root}/{id}/memory.stat")).ok()
                })?;
            stat.lines().find_map(|l| {
                let v = l
                    .strip_prefix("total_rss ")
                    .or_else(|| l.strip_prefix("anon "))?;
                v.trim().parse::<i64>().ok()
            })
        })
        .sum::<i64>()
        / 1024
}

/// MemAvailable in KiB.
fn mem_available() -> Option<i64> {
    std::fs::read_to_string("/proc/meminfo")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("MemAvailable:"))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Samples MemAvailable every 200 ms until dropped; `lowest` is the minimum seen.
struct MemWatch {
    stop: Arc<AtomicBool>,
    lowest: Arc<Mutex<i64>>,
    handle: Option<thread::JoinHandle<()>>,
}

impl MemWatch {
    fn start() -> MemWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let lowest = Arc::new(Mutex::new(mem_available().unwrap_or(0)));
        let (s, l) = (stop.clone(), lowest.clone());
        let handle = thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                if let Some(m) = mem_available() {
                    let mut g = l.lock().unwrap_or_else(|p| p.into_inner());
                    *g = (*g).min(m);
                }
                thread::sleep(Duration::from_millis(200));
            }
        });
        MemWatch {
            stop,
            lowest,
            handle: Some(handle),
        }
    }

    fn lowest(&mut self) -> i64 {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        *self.lowest.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Runs the commands at once; returns their results and the time until the last ended.
fn all_at_once(cmds: Vec<Command>, deadline: Duration) -> (Vec<Ran>, f64) {
    let t = Instant::now();
    let running: Vec<Running> = cmds.into_iter().map(|c| spawn(c, deadline)).collect();
    let ran: Vec<Ran> = running.into_iter().map(Running::finish).collect();
    (ran, t.elapsed().as_secs_f64())
}

fn scale_step(sc: &Scenario, solution: Option<&Path>, n: usize) -> ScaleRow {
    let st = State::new();
    let mut row = ScaleRow {
        n,
        ..Default::default()
    };
    let before = mem_available().unwrap_or(0);
    let mut watch = MemWatch::start();
    eprintln!("== scale {n}: starting {n} session(s) of {}", sc.id);
    let (ran, all) = all_at_once((0..n).map(|_| st.cmd(&start_args(sc))).collect(), START * 2);
    row.all_ready = all;
    let mut sessions = vec![];
    for r in &ran {
        row.peak_rss = row.peak_rss.max(r.max_rss_kib);
        row.sum_start_rss += r.max_rss_kib;
        match started(r) {
            Some(s) if r.ok() => sessions.push(s),
            _ => row.failures.push(format!("start: {}", r.why())),
        }
    }
    row.containers_kib = containers_rss(&st.store);
    if INTERRUPTED.load(Ordering::SeqCst) {
        row.host_mib = (before - watch.lowest()) as f64 / 1024.0;
        return row;
    }
    eprintln!(
        "== scale {n}: grading {} session(s) at once",
        sessions.len()
    );
    let (ran, _) = all_at_once(
        sessions
            .iter()
            .map(|(id, _)| st.cmd(&["grade", id, "--json"]))
            .collect(),
        GRADE,
    );
    for g in &ran {
        row.peak_rss = row.peak_rss.max(g.max_rss_kib);
        row.grade.push(g.secs);
        let mut side = Side::default();
        check_grade("grade (broken)", g, &mut side);
        row.failures.extend(side.failures);
        // The broken state as graded alone (breakfix and the script agree on it).
        if let Some(v) = report_verdicts(&g.stdout) {
            let wrong: Vec<String> = v
                .iter()
                .filter(|(id, pass)| **pass == sc.broken_failing.contains(&id.as_str()))
                .map(|(id, pass)| format!("{id} {}", if *pass { "passed" } else { "failed" }))
                .collect();
            if !wrong.is_empty() {
                row.wrong.push(format!(
                    "grade (broken): {} ({})",
                    wrong.join(", "),
                    failing_checks(&g.stdout)
                ));
            }
        }
    }
    if let Some(sol) = solution
        && !INTERRUPTED.load(Ordering::SeqCst)
    {
        eprintln!("== scale {n}: applying the fix in every session at once");
        for (_, ws) in &sessions {
            if let Err(e) = copy_dir(sol, ws) {
                row.failures.push(format!("lay the solution over: {e}"));
            }
        }
        let (ran, t) = all_at_once(
            sessions
                .iter()
                .map(|(id, _)| st.cmd(&["apply", id]))
                .collect(),
            APPLY,
        );
        row.apply = t;
        for a in &ran {
            row.peak_rss = row.peak_rss.max(a.max_rss_kib);
            if !a.ok() {
                row.failures.push(format!("apply: {}", a.why()));
            }
        }
        eprintln!("== scale {n}: grading the fixed sessions at once");
        let (ran, _) = all_at_once(
            sessions
                .iter()
                .map(|(id, _)| st.cmd(&["grade", id, "--json"]))
                .collect(),
            GRADE,
        );
        for g in &ran {
            row.peak_rss = row.peak_rss.max(g.max_rss_kib);
            row.grade_fixed.push(g.secs);
            let mut side = Side::default();
            check_grade("grade (fixed)", g, &mut side);
            if g.code == Some(EXIT_CHECKS_FAILED) {
                row.wrong.push(format!(
                    "grade (fixed) right after apply: {}",
                    failing_checks(&g.stdout)
                ));
            }
            row.failures.extend(side.failures);
        }
        row.containers_kib = row.containers_kib.max(containers_rss(&st.store));
    }
    // The sessions' containers and the runners, from before the starts until the stops.
    row.host_mib = (before - watch.lowest()) as f64 / 1024.0;
    eprintln!("== scale {n}: stopping every session at once");
    let (ran, t) = all_at_once(
        sessions
            .iter()
            .map(|(id, _)| st.cmd(&["stop", id]))
            .collect(),
        STOP,
    );
    row.stop = t;
    for s in &ran {
        row.peak_rss = row.peak_rss.max(s.max_rss_kib);
        if !s.ok() {
            row.failures.push(format!("stop: {}", s.why()));
        }
    }
    row.leftovers = labelled(&format!("dev.breakfix.store={}", st.store));
    row
}

/// The checks that did not pass, each with what was observed.
fn failing_checks(json: &str) -> String {
    checks_with(json, |s| s != "pass").unwrap_or_else(|| "no report".into())
}

/// The report's checks whose status matches, each with what was observed; none without a
/// report.
fn checks_with(json: &str, status: impl Fn(&str) -> bool) -> Option<String> {
    let v = serde_json::from_str::<Value>(json).ok()?;
    let found = v["checks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| status(c["status"].as_str().unwrap_or("?")))
        .map(|c| {
            format!(
                "{} [{}: {}]",
                c["id"].as_str().unwrap_or("?"),
                c["status"].as_str().unwrap_or("?"),
                c["summary"].as_str().unwrap_or("")
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    Some(found)
}

fn print_scale(sc: &Scenario, rows: &[ScaleRow]) {
    let fixed = rows.iter().any(|r| !r.grade_fixed.0.is_empty());
    let secs = |v: Option<f64>| v.map(|v| format!("{v:.2} s")).unwrap_or("—".into());
    let mut head = vec!["N", "all ready", "grade mean / max (broken)"];
    if fixed {
        head.extend(["apply all", "grade mean / max (fixed)"]);
    }
    head.extend([
        "stop all",
        "peak runner RSS (one / sum of starts)",
        "containers' RSS",
        "host memory used",
        "failures",
        "wrong verdicts",
        "leftovers",
    ]);
    let body: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut v = vec![
                r.n.to_string(),
                format!("{:.2} s", r.all_ready),
                format!("{} / {}", secs(r.grade.mean()), secs(r.grade.max())),
            ];
            if fixed {
                v.push(format!("{:.2} s", r.apply));
                v.push(format!(
                    "{} / {}",
                    secs(r.grade_fixed.mean()),
                    secs(r.grade_fixed.max())
                ));
            }
            v.extend([
                format!("{:.2} s", r.stop),
                format!("{} / {}", mib(r.peak_rss), mib(r.sum_start_rss)),
                mib(r.containers_kib),
                format!("{:.0} MiB", r.host_mib),
                r.failures.len().to_string(),
                r.wrong.len().to_string(),
                r.leftovers.to_string(),
            ]);
            v
        })
        .collect();
    println!("\n### Scale — N sessions of {} at once\n", sc.id);
    print!("{}", table(&head, &body));
    println!();
    for r in rows {
        for f in &r.failures {
            println!("N={} failure: {f}", r.n);
        }
        for f in &r.wrong {
            println!("N={} wrong verdict: {f}", r.n);
        }
    }
    println!(
        "\nfailures: a start, apply or stop that failed, or a grade that did not complete;\n\
         wrong verdicts: a completed grade whose checks are not the expected ones (broken: {};\n\
         fixed: every check passes). The fixed sessions are graded right after `apply`.",
        sc.broken_failing.join(", ")
    );
    let worst = rows.iter().max_by_key(|r| r.n);
    if let Some(r) = worst {
        println!(
            "target: {} concurrent sessions with no failure → {}{}",
            r.n,
            if r.failures.is_empty() && r.leftovers == 0 {
                "met"
            } else {
                "NOT met"
            },
            if r.wrong.is_empty() {
                String::new()
            } else {
                format!(" ({} wrong verdict(s), listed above)", r.wrong.len())
            }
        );
    }
}

// ---------------------------------------------------------------------------------------------

fn machine() -> String {
    let cores = thread::available_parallelism().map_or(0, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        })
        .map_or("?".into(), |k| format!("{:.1} GiB", k / 1048576.0));
    let info = docker(&[
        "info",
        "--format",
        "Docker {{.ServerVersion}}, storage driver {{.Driver}}",
    ]);
    format!("{cores} cores, {mem} RAM, {}", info.stdout.trim())
}

fn preflight() -> Result<(), String> {
    let r = docker(&["info", "--format", "{{.ServerVersion}}"]);
    if !r.ok() {
        return Err(format!("the Docker engine does not answer: {}", r.why()));
    }
    docker_compose_version()?;
    let mut c = Command::new("jq");
    c.arg("--version");
    if !run(c, DOCKER).ok() {
        return Err("jq is needed by the compose scripts".into());
    }
    Ok(())
}

fn bench(o: &Opts, root: &Path) -> Result<(), String> {
    preflight()?;
    println!("# breakfix sandbox benchmark\n");
    println!("machine: {}", machine());
    println!("breakfix: {BIN}\n");
    for id in &o.scenarios {
        interrupted()?;
        let sc = scenario(id).expect("checked");
        let c = compare(sc, o, root)?;
        print_compared(sc, o, &c);
    }
    if !o.scale.is_empty() {
        let sc = scenario(&o.scale_scenario).expect("checked");
        // Images built and the fix rendered, by a session started once.
        eprintln!("== scale: preparing {}", sc.id);
        let t = prime(sc, root)?;
        let mut rows = vec![];
        for &n in &o.scale {
            interrupted()?;
            rows.push(scale_step(sc, t.solution.as_deref(), n));
        }
        print_scale(sc, &rows);
    }
    Ok(())
}

fn main() -> ExitCode {
    let o = match parse_opts() {
        Ok(o) => o,
        Err(e) if e.is_empty() => {
            print!("{}", usage());
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprint!("error: {e}\n\n{}", usage());
            return ExitCode::from(2);
        }
    };
    install_signal_handlers();
    let root = tempfile::Builder::new()
        .prefix("breakfix-bench-")
        .tempdir()
        .expect("temp dir");
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| bench(&o, root.path())));
    eprintln!("== cleaning up");
    let left = clean_up();
    let mut code = 0;
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            println!("\nbenchmark stopped: {e}");
            code = 1;
        }
        Err(_) => {
            println!("\nbenchmark stopped: a panic (see above)");
            code = 1;
        }
    }
    if left.is_empty() {
        println!(
            "\nafter clean-up: nothing the benchmark created is left (labelled containers, networks, volumes, images)"
        );
    } else {
        code = 1;
        println!("\nafter clean-up, LEFT BEHIND:");
        for l in left {
            println!("  - {l}");
        }
    }
    ExitCode::from(code)
}
