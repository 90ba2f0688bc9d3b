//! Helpers for integration tests: they drive the real `breakfix` binary against the real
//! Docker engine, each test in a state directory of its own.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

pub const EXIT_OK: i32 = 0;
pub const EXIT_USAGE: i32 = 2;
pub const EXIT_CHECKS_FAILED: i32 = 3;
pub const EXIT_SCENARIO_INVALID: i32 = 4;
pub const EXIT_BACKEND_UNREACHABLE: i32 = 5;

/// The seed of `crashloop-docker`'s variant with the names the assertions use: the service
/// `orders` on port 8000, nginx on 8080, the healthcheck on the wrong port (a unit test in
/// src/scenario/mod.rs holds it to that).
pub const CLASSIC_SEED: &str = "classic-17";

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_breakfix")
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A state directory for one test, removed at the end.
pub struct Env {
    pub state: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Self {
        Env {
            state: tempfile::tempdir().expect("temp state dir"),
        }
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(args)
            .current_dir(repo())
            .env("BREAKFIX_STATE_DIR", self.state.path())
            .env_remove("BREAKFIX_SCENARIOS");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).output().expect("run breakfix")
    }

    /// Runs and asserts the exit code, showing the output when it differs.
    pub fn expect(&self, args: &[&str], code: i32) -> Output {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "breakfix {} exited {:?}\n--- stdout\n{}\n--- stderr\n{}",
            args.join(" "),
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
        out
    }

    pub fn json(&self, args: &[&str], code: i32) -> serde_json::Value {
        let out = self.expect(args, code);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "breakfix {} printed no JSON ({e}):\n{}",
                args.join(" "),
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        // Never leave a test's sandboxes running, whatever happened.
        let _ = self.cmd(&["stop", "--all"]).output();
    }
}

static BUILD: Mutex<bool> = Mutex::new(false);

/// Builds every scenario's images once per test binary, so tests that run at the same time
/// do not build the same images twice.
pub fn images_built() {
    let mut done = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    if !*done {
        let env = Env::new();
        // The pipeline scenario needs the local GitLab CI executor; setup installs it once.
        env.expect(&["setup"], EXIT_OK);
        env.expect(&["build"], EXIT_OK);
        *done = true;
    }
}

/// Starts `crashloop-docker` in its classic variant (see [`CLASSIC_SEED`]) and returns the
/// session id and the candidate's workspace.
pub fn start_classic(env: &Env, extra: &[&str]) -> (String, PathBuf) {
    images_built();
    let mut args = vec![
        "start",
        "crashloop-docker",
        "--seed",
        CLASSIC_SEED,
        "--json",
    ];
    args.extend_from_slice(extra);
    let v = env.json(&args, EXIT_OK);
    let id = v["session"].as_str().expect("session id").to_string();
    let ws = PathBuf::from(v["workspace"].as_str().expect("workspace"));
    assert!(ws.join("compose.yaml").is_file());
    (id, ws)
}

/// Waits (up to 90 s) until a container's healthcheck reports `healthy`, as an interviewer
/// would before grading a fix on a loaded machine.
pub fn wait_healthy(container: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(90);
    loop {
        let out = Command::new("docker")
            .args(["inspect", "--format", "{{.State.Health.Status}}", container])
            .output()
            .expect("run docker inspect");
        let health = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if health == "healthy" {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{container} is still {health:?} after 90 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// Labelled Docker objects of a session, as `docker` itself lists them.
pub fn labelled_objects(session: &str) -> usize {
    let filter = format!("label=dev.breakfix.session={session}");
    let count = |args: &[&str]| -> usize {
        let out = Command::new("docker")
            .args(args)
            .output()
            .expect("run docker");
        assert!(
            out.status.success(),
            "docker {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.trim().is_empty())
            .count()
    };
    count(&["ps", "-aq", "--filter", &filter])
        + count(&["network", "ls", "-q", "--filter", &filter])
        + count(&["volume", "ls", "-q", "--filter", &filter])
        + count(&["image", "ls", "-q", "--filter", &filter])
}

/// Lays the reference solution over a session's workspace: the one of the session's own
/// rendering when the scenario is parameterised (kept beside the workspace), else the package's.
pub fn copy_solution(scenario: &str, workspace: &Path) {
    let rendered = workspace
        .parent()
        .map(|d| d.join("package").join(scenario).join("solution"));
    let from = match rendered {
        Some(r) if r.is_dir() => r,
        _ => repo().join("scenarios").join(scenario).join("solution"),
    };
    copy_dir(&from, workspace);
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}
