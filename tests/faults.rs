//! Faults around a live session, on the real engine: the engine going away or stalling, a
//! command killed at any point, two commands on one session at once. Each must leave the state
//! readable, lose nothing recorded, and leave `gc` able to remove every leftover.

mod common;

use std::os::unix::net::UnixListener;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use common::*;

const GONE: &str = "unix:///nonexistent/breakfix-test/docker.sock";

/// Asserts a command failed because the engine cannot be reached: its own exit code, one
/// sentence on stderr that names the engine and what to do.
fn assert_unreachable(env: &Env, args: &[&str], docker_host: &str) {
    let started = Instant::now();
    let out = env
        .cmd(args)
        .env("DOCKER_HOST", docker_host)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(EXIT_BACKEND_UNREACHABLE),
        "breakfix {}: {err}",
        args.join(" ")
    );
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("Docker engine"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    // The connection's own deadline (10 s) bounds a stalled engine.
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "breakfix {} took {:?} to give up",
        args.join(" "),
        started.elapsed()
    );
}

#[test]
fn an_engine_that_goes_away_or_stalls_mid_session_loses_nothing() {
    let env = Env::new();
    let (id, ws) = start_classic(&env, &[]);
    env.expect(&["hint", &id], EXIT_OK);
    env.expect(
        &[
            "note",
            &id,
            "--competency",
            "containers",
            "--mark",
            "strong",
            "read the logs first",
        ],
        EXIT_OK,
    );

    // The engine is gone: every command says so in one sentence.
    copy_solution("crashloop-docker", &ws);
    for args in [
        vec!["status", id.as_str()],
        vec!["apply", id.as_str()],
        vec!["check", id.as_str()],
        vec!["grade", id.as_str()],
        vec!["stop", id.as_str()],
    ] {
        assert_unreachable(&env, &args, GONE);
    }
    // The engine hangs: a socket that accepts and never answers.
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("stalled.sock");
    let listener = UnixListener::bind(&sock).unwrap();
    let held = std::thread::spawn(move || {
        let mut kept = Vec::new();
        for conn in listener.incoming().take(8) {
            kept.push(conn);
        }
    });
    assert_unreachable(
        &env,
        &["status", &id],
        &format!("unix://{}", sock.display()),
    );
    drop(held);

    // It is back: the session is as it was, the fix applies and grades, and the hint and the
    // note recorded before the outage are in the report.
    let status = env.json(&["status", &id, "--json"], EXIT_OK);
    assert_eq!(status["status"], "ready", "{status:#}");
    env.expect(&["apply", &id], EXIT_OK);
    wait_healthy(&format!("bf-{id}-web"));
    let report = env.json(&["grade", &id, "--json"], EXIT_OK);
    assert_eq!(report["hints"].as_array().unwrap().len(), 1, "{report:#}");
    assert_eq!(report["notes"][0]["text"], "read the logs first");
    assert_eq!(report["notes"][0]["mark"], "strong");
    env.expect(&["stop", &id], EXIT_OK);
    assert_eq!(labelled_objects(&id), 0);
}

/// Spawns a command, lets it work for `after`, then SIGKILLs it.
fn kill_after(env: &Env, args: &[&str], after: Duration) -> Option<i32> {
    let mut child: Child = env
        .cmd(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    let _ = child.kill();
    child.wait().unwrap().code()
}

/// The state stays readable: `list` and `status` answer, with JSON.
fn assert_state_readable(env: &Env, id: Option<&str>) {
    let list = env.json(&["list", "--sessions", "--json"], EXIT_OK);
    for s in list.as_array().unwrap() {
        assert_ne!(
            s["status"], "unreadable",
            "a kill corrupted a session: {s:#}"
        );
    }
    if let Some(id) = id {
        let out = env.run(&["status", id, "--json"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{err}");
        serde_json::from_slice::<serde_json::Value>(&out.stdout)
            .unwrap_or_else(|e| panic!("status printed no JSON after a kill ({e}): {err}"));
    }
}

#[test]
fn sigkill_at_any_point_leaves_readable_state_and_gc_removes_every_leftover() {
    images_built();
    let env = Env::new();
    // `start`, killed early and late.
    for after in [300, 1500, 4000] {
        kill_after(
            &env,
            &["start", "crashloop-docker", "--seed", CLASSIC_SEED],
            Duration::from_millis(after),
        );
        assert_state_readable(&env, None);
    }
    // A session to kill `apply`, `grade` and `stop` in.
    let (id, ws) = start_classic(&env, &[]);
    copy_solution("crashloop-docker", &ws);
    for after in [200, 1000] {
        kill_after(&env, &["apply", &id], Duration::from_millis(after));
        assert_state_readable(&env, Some(&id));
    }
    env.expect(&["apply", &id], EXIT_OK);
    wait_healthy(&format!("bf-{id}-web"));
    for after in [500, 3000] {
        kill_after(&env, &["grade", &id], Duration::from_millis(after));
        assert_state_readable(&env, Some(&id));
    }
    let report = env.json(&["grade", &id, "--json"], EXIT_OK);
    assert_eq!(report["percent"], 100);
    kill_after(&env, &["stop", &id], Duration::from_millis(300));
    assert_state_readable(&env, Some(&id));

    // Every session the kills left, whatever its state, goes with `stop --all` and `gc`.
    env.expect(&["stop", "--all"], EXIT_OK);
    env.expect(&["gc"], EXIT_OK);
    let list = env.json(&["list", "--sessions", "--json"], EXIT_OK);
    for s in list.as_array().unwrap() {
        let sid = s["session"].as_str().unwrap();
        assert_eq!(
            labelled_objects(sid),
            0,
            "session {sid} left objects: {s:#}"
        );
    }
    assert!(!list.as_array().unwrap().is_empty());
}

#[test]
fn two_commands_on_one_session_at_once_take_turns() {
    let env = Env::new();
    let (id, ws) = start_classic(&env, &[]);
    copy_solution("crashloop-docker", &ws);
    let spawn = |args: &[&str]| {
        env.cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let first = spawn(&["apply", &id]);
    let second = spawn(&["apply", &id]);
    let grade = spawn(&["note", &id, "while applying"]);
    for (what, child) in [("apply", first), ("apply", second), ("note", grade)] {
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(EXIT_OK), "{what}: {err}");
    }
    let status = env.json(&["status", &id, "--json"], EXIT_OK);
    assert_eq!(status["status"], "ready", "{status:#}");
    wait_healthy(&format!("bf-{id}-web"));
    let report = env.json(&["grade", &id, "--json"], EXIT_OK);
    assert_eq!(report["notes"][0]["text"], "while applying");
    let applies = report["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "applied")
        .count();
    assert_eq!(applies, 2, "{:#}", report["timeline"]);
    env.expect(&["stop", &id], EXIT_OK);
}
