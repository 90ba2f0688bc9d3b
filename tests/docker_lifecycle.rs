//! The session lifecycle on the real Docker engine, through the real binary.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

fn start(env: &Env) -> (String, PathBuf) {
    start_classic(env, &["--candidate", "Test Candidate"])
}

#[test]
fn a_session_goes_from_broken_to_fixed_and_stop_leaves_nothing_behind() {
    let env = Env::new();
    let (id, ws) = start(&env);

    // Broken: the candidate's visible checks fail, and the status shows the restart loop.
    let check = env.json(&["check", &id, "--json"], EXIT_CHECKS_FAILED);
    assert_eq!(check["scope"], "candidate");
    assert!(
        check["checks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["status"] == "fail"),
        "{check:#}"
    );
    let status = env.json(&["status", &id, "--json"], EXIT_OK);
    assert_eq!(status["status"], "ready");
    assert!(
        status["services"]["web"]["container"]
            .as_str()
            .unwrap()
            .contains(&id)
    );

    // A hint goes into the ledger with its cost.
    let hint = env.json(&["hint", &id, "--json"], EXIT_OK);
    assert_eq!(hint["number"], 1);

    // The fix, applied: only what changed is recreated.
    copy_solution("crashloop-docker", &ws);
    let applied = env.json(&["apply", &id, "--json"], EXIT_OK);
    assert_eq!(
        applied["recreated"],
        serde_json::json!(["web"]),
        "{applied:#}"
    );
    assert_eq!(
        applied["unchanged"],
        serde_json::json!(["orders"]),
        "{applied:#}"
    );

    let report = env.json(&["grade", &id, "--json"], EXIT_OK);
    assert_eq!(report["format-version"], 1);
    assert_eq!(report["scenario"]["id"], "crashloop-docker");
    assert_eq!(report["session"]["id"], id.as_str());
    let max = report["max-score"].as_u64().unwrap();
    let cost = hint["cost"].as_u64().unwrap();
    assert_eq!(report["score"].as_u64().unwrap(), max - cost, "{report:#}");
    for c in report["checks"].as_array().unwrap() {
        assert_eq!(c["status"], "pass", "{c:#}");
        for field in ["id", "points", "awarded", "competency", "evidence"] {
            assert!(c.get(field).is_some(), "check lacks {field}: {c:#}");
        }
    }
    assert_eq!(report["hints"][0]["cost"].as_u64(), Some(cost));

    // The timeline: the broken round, the edit apply saw, the passing grade.
    let kinds: Vec<&str> = report["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for kind in [
        "ready",
        "check-failed",
        "hint",
        "workspace-changed",
        "applied",
        "check-passed",
    ] {
        assert!(kinds.contains(&kind), "timeline lacks {kind}: {kinds:?}");
    }
    assert!(
        report["milestones"]["all-passed-secs"].is_u64(),
        "{report:#}"
    );

    env.expect(&["stop", &id], EXIT_OK);
    assert_eq!(
        labelled_objects(&id),
        0,
        "stop left labelled objects behind"
    );
    // After the interview: the interviewer's note joins the saved report, in every format,
    // with no sandbox left to grade.
    env.expect(
        &[
            "note",
            &id,
            "--competency",
            "incident-response",
            "--mark",
            "strong",
            "Read the logs before changing anything",
        ],
        EXIT_OK,
    );
    let html_file = env.state.path().join("report.html");
    env.expect(
        &[
            "grade",
            &id,
            "--format",
            "html",
            "-o",
            html_file.to_str().unwrap(),
        ],
        EXIT_OK,
    );
    let html = std::fs::read_to_string(&html_file).unwrap();
    assert!(html.contains("Read the logs before changing anything"));
    assert!(html.contains("<h2>Timeline</h2>"));
    let md = env.expect(&["grade", &id, "--format", "markdown"], EXIT_OK);
    assert!(String::from_utf8_lossy(&md.stdout).contains("## Follow-up questions"));
    let junit = env.expect(&["grade", &id, "--format", "junit"], EXIT_OK);
    assert!(String::from_utf8_lossy(&junit.stdout).contains("<testsuites name=\"breakfix\""));
    let saved = env.json(&["grade", &id, "--json"], EXIT_OK);
    let ir = saved["competencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["competency"] == "incident-response")
        .unwrap();
    assert_eq!(ir["marks"], serde_json::json!(["strong"]), "{saved:#}");

    // The record and the report stay.
    let list = env.json(&["list", "--sessions", "--json"], EXIT_OK);
    assert_eq!(list[0]["status"], "stopped");
    assert!(
        env.state
            .path()
            .join("sessions")
            .join(&id)
            .join("report.json")
            .is_file()
    );
}

/// Spawns `start` and returns once it has created the session's network and containers,
/// while it waits for the broken state.
fn start_until_provisioning(env: &Env) -> (std::process::Child, String) {
    images_built();
    let mut child = env
        .cmd(&["start", "crashloop-docker"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn start");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    let id = first
        .strip_prefix("session ")
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or_else(|| panic!("start did not announce its session: {first}"))
        .to_string();
    // Keep reading, as a terminal would: a closed pipe is not what these tests are about.
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let deadline = Instant::now() + Duration::from_secs(60);
    while labelled_objects(&id) < 3 {
        assert!(
            Instant::now() < deadline,
            "start created nothing within 60 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (child, id)
}

#[test]
fn a_start_killed_mid_provision_is_cleaned_up_by_gc() {
    let env = Env::new();
    let (mut child, id) = start_until_provisioning(&env);
    child.kill().expect("SIGKILL start");
    let _ = child.wait();
    assert!(labelled_objects(&id) > 0);

    let all = env.json(&["gc", "--json"], EXIT_OK);
    let gc = all
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["backend"] == "docker")
        .unwrap();
    assert!(
        gc["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == id.as_str()),
        "{gc:#}"
    );
    assert_eq!(labelled_objects(&id), 0, "gc left labelled objects behind");
    let list = env.json(&["list", "--sessions", "--json"], EXIT_OK);
    assert_eq!(list[0]["status"], "failed", "{list:#}");
}

#[test]
fn reset_brings_back_the_broken_state_and_keeps_the_candidates_work() {
    let env = Env::new();
    let (id, ws) = start(&env);
    for n in 1..=3 {
        let h = env.json(&["hint", &id, "--json"], EXIT_OK);
        assert_eq!(h["number"], n);
    }
    let out = env.expect(&["hint", &id], 1);
    assert!(String::from_utf8_lossy(&out.stderr).contains("all 3 hints"));
    copy_solution("crashloop-docker", &ws);
    env.expect(&["apply", &id], EXIT_OK);
    env.expect(&["check", &id], EXIT_OK);

    let out = env.expect(&["reset", &id], EXIT_OK);
    let said = String::from_utf8_lossy(&out.stdout).to_string();
    let backup = said.rsplit(' ').next().unwrap().trim();
    let kept =
        std::fs::read_to_string(PathBuf::from(backup).join("nginx/conf.d/shop.conf")).unwrap();
    assert!(
        kept.contains("server orders:8000;"),
        "the candidate's fix was not kept: {kept}"
    );
    let restored = std::fs::read_to_string(ws.join("nginx/conf.d/shop.conf")).unwrap();
    assert!(restored.contains("orders-api:8000"));
    env.expect(&["check", &id], EXIT_CHECKS_FAILED);
    env.expect(&["stop", &id], EXIT_OK);
    assert_eq!(labelled_objects(&id), 0);
}

#[test]
fn an_apply_of_an_invalid_compose_file_is_refused_with_its_position() {
    let env = Env::new();
    let (id, ws) = start(&env);
    let compose = ws.join("compose.yaml");
    let text = std::fs::read_to_string(&compose).unwrap();
    std::fs::write(
        &compose,
        text.replacen(
            "    restart: always\n",
            "    restart: always\n    privileged: true\n",
            1,
        ),
    )
    .unwrap();
    let out = env.expect(&["apply", &id], EXIT_SCENARIO_INVALID);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("compose.yaml:6:17:"), "{err}");
    assert!(err.contains("privileged: true` is not allowed"), "{err}");
    env.expect(&["stop", &id], EXIT_OK);
}

#[test]
fn sandbox_containers_are_hardened_and_labelled() {
    let env = Env::new();
    let (id, _) = start(&env);
    let name = format!("bf-{id}-orders");
    let out = std::process::Command::new("docker")
        .args([
            "inspect",
            "--format",
            "{{json .HostConfig}}|{{json .Config.Labels}}|{{.Config.Image}}",
            &name,
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let (host, rest) = text.trim().split_once('|').unwrap();
    let (labels, image) = rest.rsplit_once('|').unwrap();
    // Pinned to the build the package makes, not whatever `:latest` names when it is created.
    let hash = image
        .strip_prefix("breakfix/crashloop-docker-orders:")
        .unwrap_or_default();
    assert!(
        hash.len() == 12 && hash.chars().all(|c| c.is_ascii_hexdigit()),
        "{image}"
    );
    let host: serde_json::Value = serde_json::from_str(host).unwrap();
    let labels: serde_json::Value = serde_json::from_str(labels).unwrap();
    assert_eq!(host["Privileged"], false);
    assert_eq!(host["CapDrop"], serde_json::json!(["ALL"]));
    assert!(
        host["SecurityOpt"]
            .to_string()
            .contains("no-new-privileges")
    );
    assert!(host["Memory"].as_i64().unwrap() > 0);
    assert!(host["NanoCpus"].as_i64().unwrap() > 0);
    assert!(host["PidsLimit"].as_i64().unwrap() > 0);
    assert!(!host["Binds"].to_string().contains("docker.sock"));
    assert_eq!(labels["dev.breakfix.session"], id.as_str());
    assert_eq!(labels["dev.breakfix.scenario"], "crashloop-docker");
    // The network has no route out, yet a name that is no session service is answered "no
    // such address" (EAI_NONAME -2 or EAI_NODATA -5), not left to time out (EAI_AGAIN -3).
    let lookup = std::process::Command::new("docker")
        .args([
            "exec",
            &name,
            "python3",
            "-c",
            concat!(
                "import socket\n",
                "for n in ['orders', 'orders-api']:\n",
                "    try: socket.getaddrinfo(n, 80); print(n, 'resolves')\n",
                "    except socket.gaierror as e: print(n, 'error', e.errno)\n",
            ),
        ])
        .output()
        .unwrap();
    let lookup = format!(
        "{}{}",
        String::from_utf8_lossy(&lookup.stdout),
        String::from_utf8_lossy(&lookup.stderr)
    );
    assert!(lookup.contains("orders resolves"), "{lookup}");
    assert!(
        lookup.contains("orders-api error -5") || lookup.contains("orders-api error -2"),
        "{lookup}"
    );
    env.expect(&["stop", &id], EXIT_OK);
}

#[test]
fn an_unreachable_engine_is_one_sentence_and_its_own_exit_code() {
    let env = Env::new();
    let out = env
        .cmd(&["doctor"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(EXIT_BACKEND_UNREACHABLE));
    let out = env
        .cmd(&["gc"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(EXIT_BACKEND_UNREACHABLE));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("Docker engine") && err.contains("is it running"),
        "{err}"
    );
}

/// How many scenarios are verified at once: a verify mostly waits (windows, retries), so a
/// few side by side finish far sooner than one after another.
const VERIFY_AT_ONCE: usize = 3;

#[test]
fn verify_proves_every_scenario() {
    images_built();
    let env = Env::new();
    let list = env.json(&["list", "--json"], EXIT_OK);
    let mut docker: Vec<&serde_json::Value> = list
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| {
            s["backends"]
                .as_array()
                .is_some_and(|b| b.iter().any(|b| b == "docker"))
        })
        .collect();
    // A parameterised scenario is verified on several seeds, so it takes longest: it goes
    // first (the queue is taken from its end).
    docker.sort_by_key(|s| s["variables"].as_array().is_some_and(|v| !v.is_empty()));
    let ids: Vec<String> = docker
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert!(ids.len() >= 7, "{ids:?}");
    let queue = std::sync::Mutex::new(ids.clone());
    let results = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..VERIFY_AT_ONCE {
            scope.spawn(|| {
                while let Some(id) = queue.lock().unwrap().pop() {
                    let out = env.run(&["verify", &id, "--backend", "docker", "--json"]);
                    results.lock().unwrap().push((id, out));
                }
            });
        }
    });
    let results = results.into_inner().unwrap();
    assert_eq!(results.len(), ids.len());
    for (id, out) in results {
        assert_eq!(
            out.status.code(),
            Some(EXIT_OK),
            "verify {id}:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        for s in v.as_array().unwrap() {
            assert_eq!(s["backend"], "docker", "{s:#}");
            assert_eq!(s["proven"], true, "{s:#}");
            assert_eq!(labelled_objects(s["session"].as_str().unwrap()), 0);
        }
    }
}

#[test]
fn ctrl_c_during_start_tears_down_what_it_created() {
    let env = Env::new();
    let (mut child, id) = start_until_provisioning(&env);
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert_eq!(
        labelled_objects(&id),
        0,
        "Ctrl-C left labelled objects behind"
    );
    let list = env.json(&["list", "--sessions", "--json"], EXIT_OK);
    assert_eq!(list[0]["status"], "failed", "{list:#}");
}

#[test]
fn verify_injects_runtime_faults_and_runs_solution_steps() {
    images_built();
    let env = Env::new();
    let v = env.json(
        &["verify", "fixtures/valid/runtime-fault", "--json"],
        EXIT_OK,
    );
    let v = &v[0];
    assert_eq!(v["proven"], true, "{v:#}");
    // The fault deleted the page (404), and the solution step wrote it back.
    let broken = &v["broken"]["checks"][0];
    assert_eq!(broken["status"], "fail");
    assert!(
        broken["summary"].as_str().unwrap().contains("404"),
        "{broken:#}"
    );
    assert_eq!(v["fixed"]["score"], v["fixed"]["max-score"]);
}

#[test]
fn a_workspace_image_is_rebuilt_only_when_its_folder_changes_and_a_failed_build_changes_nothing() {
    images_built();
    let env = Env::new();
    let v = env.json(&["start", "harden-image", "--json"], EXIT_OK);
    let id = v["session"].as_str().expect("session id").to_string();
    let ws = PathBuf::from(v["workspace"].as_str().expect("workspace"));

    let applied = env.json(&["apply", &id, "--json"], EXIT_OK);
    assert_eq!(
        applied["unchanged"],
        serde_json::json!(["ratecalc"]),
        "{applied:#}"
    );

    let source = ws.join("ratecalc/ratecalc.c");
    let mut text = std::fs::read_to_string(&source).unwrap();
    text.push_str("int broken(\n");
    std::fs::write(&source, text).unwrap();
    let out = env.expect(&["apply", &id], 1);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("build the image of service `ratecalc` from the workspace"),
        "{err}"
    );
    assert!(err.contains("last build output: make:"), "{err}");
    // The broken state still runs: the failed build replaced nothing.
    let status = env.json(&["status", &id, "--json"], EXIT_OK);
    assert!(
        status["services"]["ratecalc"]["container"]
            .as_str()
            .unwrap()
            .contains(&id),
        "{status:#}"
    );

    env.expect(&["stop", &id], EXIT_OK);
    assert_eq!(
        labelled_objects(&id),
        0,
        "stop left the session's workspace image behind"
    );
}

#[test]
fn sigterm_during_start_tears_down_like_ctrl_c() {
    let env = Env::new();
    let (mut child, id) = start_until_provisioning(&env);
    let pid = child.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    assert_eq!(child.wait().unwrap().code(), Some(130));
    assert_eq!(
        labelled_objects(&id),
        0,
        "SIGTERM left labelled objects behind"
    );
}
