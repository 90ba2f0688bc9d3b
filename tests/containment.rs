//! What a hostile candidate can do from inside a sandbox, on the real engine: reach another
//! session or the engine, take more than their share of the machine, or fake what a check
//! sees. Each promise has a test that fails if it breaks.

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;

/// `docker exec [-u USER] CONTAINER ARGS...`, as a candidate with a shell in it would.
fn exec_in(container: &str, user: Option<&str>, args: &[&str]) -> Output {
    let mut c = Command::new("docker");
    c.arg("exec");
    if let Some(u) = user {
        c.args(["-u", u]);
    }
    c.arg(container)
        .args(args)
        .output()
        .expect("run docker exec")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn inspect(container: &str, format: &str) -> String {
    let out = Command::new("docker")
        .args(["inspect", "--format", format, container])
        .output()
        .expect("run docker inspect");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Connects to the service `orders` of its own session and to an address given on the command
/// line; prints `open` or `blocked` for each.
const REACH: &str = r#"
import socket, sys
def reach(host, port):
    try:
        socket.create_connection((host, port), timeout=3).close()
        return "open"
    except OSError:
        return "blocked"
print(reach("orders", 8000), reach(sys.argv[1], 8000))
"#;

/// Forks sleeping children until the kernel refuses, then kills them; prints how many it got
/// and the error that stopped it.
const FORK_BOMB: &str = r#"
import os, signal, time
children = []
error = "none"
try:
    while len(children) < 5000:
        pid = os.fork()
        if pid == 0:
            time.sleep(60)
            os._exit(0)
        children.append(pid)
except OSError as e:
    error = os.strerror(e.errno)
for pid in children:
    os.kill(pid, signal.SIGKILL)
for pid in children:
    os.waitpid(pid, 0)
print(len(children), error)
"#;

/// Touches 400 MiB, far above the service's 128 MiB limit.
const MEMORY_HOG: &str = "x = b'\\x01' * (400 << 20); print(len(x))";

#[test]
fn a_hostile_candidate_is_contained_and_the_other_session_still_grades() {
    let env = Env::new();
    let (a, ws_a) = start_classic(&env, &[]);
    let (b, ws_b) = start_classic(&env, &[]);
    for (id, ws) in [(&a, &ws_a), (&b, &ws_b)] {
        copy_solution("crashloop-docker", ws);
        env.expect(&["apply", id], EXIT_OK);
    }
    let orders_a = format!("bf-{a}-orders");
    let web_a = format!("bf-{a}-web");
    let orders_b = format!("bf-{b}-orders");

    // The engine's socket is nowhere in the sandbox, and nothing points at an engine.
    let out = exec_in(
        &orders_a,
        None,
        &[
            "sh",
            "-c",
            "for s in /var/run/docker.sock /run/docker.sock /docker.sock; do test -e $s && echo found $s; done; env | grep -i docker_host; true",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        text(&out).trim(),
        "",
        "the engine is reachable from a sandbox"
    );

    // Its own services answer; the other session's do not, even by address.
    let ip_b = inspect(
        &orders_b,
        "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
    );
    assert!(!ip_b.is_empty(), "no address for {orders_b}");
    let out = exec_in(&orders_a, None, &["python3", "-c", REACH, &ip_b]);
    assert_eq!(
        text(&out).trim(),
        "open blocked",
        "from session {a}, own orders then {orders_b} at {ip_b}"
    );

    // A fork bomb runs into the pids limit and the container stays usable.
    let out = exec_in(&orders_a, None, &["python3", "-c", FORK_BOMB]);
    let said = text(&out);
    let (forked, error) = said.trim().split_once(' ').expect("fork bomb report");
    let forked: usize = forked.parse().expect("fork count");
    assert!(
        forked < 256,
        "forked {forked} processes past a limit of 256"
    );
    assert_eq!(error, "Resource temporarily unavailable", "{said}");
    let out = exec_in(&orders_a, None, &["true"]);
    assert!(out.status.success(), "after the fork bomb: {}", text(&out));

    // A memory hog is killed inside its own container (128 MiB), not on the host.
    let out = exec_in(&orders_a, None, &["python3", "-c", MEMORY_HOG]);
    assert_eq!(out.status.code(), Some(137), "{}", text(&out));

    // Filling the disk stops at the sandbox's bounds: the root filesystem is read-only and
    // /tmp is a 64 MiB tmpfs.
    let out = exec_in(
        &web_a,
        None,
        &[
            "sh",
            "-c",
            "touch /fill 2>/dev/null && echo root-writable; dd if=/dev/zero of=/tmp/fill bs=1M count=200 2>&1 | grep -o 'No space left on device'; stat -c %s /tmp/fill; rm -f /tmp/fill",
        ],
    );
    let said = text(&out);
    assert!(!said.contains("root-writable"), "{said}");
    assert!(said.contains("No space left on device"), "{said}");
    let size: u64 = said
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("no size in: {said}"));
    assert!(size <= 64 << 20, "wrote {size} bytes into /tmp");

    // The other session never noticed: it grades full marks, and so does the hostile one's
    // own fix, its services having survived the attempts.
    wait_healthy(&format!("bf-{b}-web"));
    let report = env.json(&["grade", &b, "--json"], EXIT_OK);
    assert_eq!(report["percent"], 100, "{report:#}");
    env.expect(&["status", &a], EXIT_OK);

    for id in [&a, &b] {
        env.expect(&["stop", id], EXIT_OK);
        assert_eq!(labelled_objects(id), 0);
    }
}

#[test]
fn replacing_tools_inside_a_container_cannot_turn_a_check_green() {
    let env = Env::new();
    let (id, ws) = start_classic(&env, &[]);
    // The candidate fixes the crash loop but not the healthcheck, and makes web's root
    // filesystem writable so they can tamper with it.
    let compose = ws.join("compose.yaml");
    let original = std::fs::read_to_string(&compose).unwrap();
    copy_solution("crashloop-docker", &ws);
    std::fs::write(&compose, original.replacen("    read_only: true\n", "", 1)).unwrap();
    env.expect(&["apply", &id], EXIT_OK);
    let web = format!("bf-{id}-web");
    let health = |want: &str| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let h = inspect(&web, "{{.State.Health.Status}}");
            if h == want {
                return;
            }
            assert!(Instant::now() < deadline, "web stayed {h}, never {want}");
            std::thread::sleep(Duration::from_millis(500));
        }
    };
    health("unhealthy");
    let before = env.json(&["grade", &id, "--json"], EXIT_CHECKS_FAILED);
    let status = |report: &serde_json::Value, check: &str| -> serde_json::Value {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == check)
            .unwrap_or_else(|| panic!("no check {check} in {report:#}"))
            .clone()
    };
    assert_eq!(status(&before, "web-reports-healthy")["status"], "fail");
    assert_eq!(
        status(&before, "checkout-api-through-web")["status"],
        "pass"
    );

    // As root inside web: a curl that always succeeds, a ps that hides everything, and a
    // file that claims health. Docker's healthcheck now says healthy.
    let out = exec_in(
        &web,
        Some("0"),
        &[
            "sh",
            "-c",
            "printf '#!/bin/sh\\nexit 0\\n' > /usr/bin/curl && printf '#!/bin/sh\\necho nothing to see\\n' > /usr/bin/ps && chmod 755 /usr/bin/ps && echo healthy > /tmp/healthy",
        ],
    );
    assert!(out.status.success(), "tampering failed: {}", text(&out));
    health("healthy");

    let after = env.json(&["grade", &id, "--json"], EXIT_CHECKS_FAILED);
    let healthy = status(&after, "web-reports-healthy");
    assert_eq!(healthy["status"], "fail", "{healthy:#}");
    let summary = healthy["summary"].as_str().unwrap();
    assert!(summary.contains("/usr/bin/curl changed"), "{summary}");
    let evidence = healthy["evidence"].to_string();
    assert!(evidence.contains("/usr/bin/ps added"), "{evidence}");
    assert!(evidence.contains("health=healthy"), "{evidence}");
    // Checks made from outside the container were never in question.
    assert_eq!(status(&after, "checkout-api-through-web")["status"], "pass");
    assert_eq!(status(&after, "web-stays-up")["status"], "pass");

    env.expect(&["stop", &id], EXIT_OK);
}

/// The runtimes the engine has registered, as `docker info` lists them.
fn engine_runtimes() -> String {
    let out = Command::new("docker")
        .args(["info", "--format", "{{json .Runtimes}}"])
        .output()
        .expect("run docker info");
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn candidate_containers_run_under_the_runtime_asked_for_and_an_unknown_one_is_refused() {
    images_built();
    let env = Env::new();
    let out = env.expect(
        &[
            "start",
            "crashloop-docker",
            "--seed",
            CLASSIC_SEED,
            "--runtime",
            "no-such-runtime",
        ],
        1,
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("`no-such-runtime`") && err.contains("no such runtime registered"),
        "{err}"
    );
    let list = env.json(&["list", "--sessions", "--json"], EXIT_OK);
    assert_eq!(
        list,
        serde_json::json!([]),
        "a refused start created a session"
    );

    // gVisor when the engine has it, else runc named explicitly: either way the candidate's
    // containers carry it and breakfix's probe keeps the default.
    let runtime = if engine_runtimes().contains("\"runsc\"") {
        "runsc"
    } else {
        "runc"
    };
    let (id, ws) = start_classic(&env, &["--runtime", runtime]);
    assert_eq!(
        inspect(&format!("bf-{id}-orders"), "{{.HostConfig.Runtime}}"),
        runtime
    );
    let status = env.json(&["status", &id, "--json"], EXIT_OK);
    assert_eq!(status["runtime"], runtime, "{status:#}");
    // A later apply recreates web under the same runtime.
    copy_solution("crashloop-docker", &ws);
    env.expect(&["apply", &id], EXIT_OK);
    assert_eq!(
        inspect(&format!("bf-{id}-web"), "{{.HostConfig.Runtime}}"),
        runtime
    );
    env.expect(&["stop", &id], EXIT_OK);
}
