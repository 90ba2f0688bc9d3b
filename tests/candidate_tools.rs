//! `breakfix ps`, `logs`, `inspect` and `exec` on the real Docker engine: the candidate's
//! way into a session's services without `docker`, which is root on the host. Two sessions
//! share one state directory, so every refusal is tried against a real neighbour.

mod common;

use std::collections::BTreeSet;

use common::*;

const EXIT_FAILURE: i32 = 1;

/// Starts `crashloop-docker` with `seed`; returns the session id and its services.
fn start(env: &Env, seed: &str) -> (String, BTreeSet<String>) {
    let v = env.json(
        &["start", "crashloop-docker", "--seed", seed, "--json"],
        EXIT_OK,
    );
    let id = v["session"].as_str().expect("session id").to_string();
    let services = v["containers"]
        .as_object()
        .expect("containers")
        .keys()
        .cloned()
        .collect();
    (id, services)
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts a refusal: exit code 1 and one line naming the session's own services.
fn assert_refused(env: &Env, args: &[&str], services: &BTreeSet<String>) {
    let out = env.expect(args, EXIT_FAILURE);
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "not one line: {err}");
    assert!(err.contains("has no such service"), "{err}");
    let listed = services.iter().cloned().collect::<Vec<_>>().join(", ");
    assert!(
        err.contains(&listed),
        "the session's services are not listed: {err}"
    );
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
}

#[test]
fn candidate_tools_reach_only_their_own_sessions_services_as_the_containers_user_and_are_recorded()
{
    let env = Env::new();
    let (a, a_services) = start(&env, CLASSIC_SEED);
    // A variant whose orders API has another name, so B has a service A lacks.
    let (b, b_services) = start(&env, "other-5");
    let b_only: Vec<&String> = b_services.difference(&a_services).collect();
    assert!(
        !b_only.is_empty(),
        "seed other-5 no longer renames the orders API: {b_services:?}"
    );
    let b_only = b_only[0].as_str();
    assert!(a_services.contains("orders") && a_services.contains("web"));

    // ps: the session's services, never breakfix's probe.
    let ps = env.json(&["ps", &a, "--json"], EXIT_OK);
    let listed: BTreeSet<String> = ps
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["service"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed, a_services);
    let web = ps
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["service"] == "web")
        .unwrap();
    assert_eq!(web["place"], format!("bf-{a}-web"));
    assert!(web["state"]["restart_count"].as_i64().is_some(), "{web:#}");

    // logs: the last lines of the session's own web, the nginx that cannot start.
    let logs = env.expect(&["logs", &a, "web", "--tail", "5"], EXIT_OK);
    let text = stdout(&logs);
    assert!(!text.trim().is_empty(), "no log lines");
    assert!(text.lines().count() <= 5, "{text}");
    assert!(text.contains("[emerg]"), "{text}");
    // --follow ends at its deadline, with the lines written meanwhile.
    let followed = env.expect(
        &["logs", &a, "orders", "-f", "-n", "1", "--for", "3s"],
        EXIT_OK,
    );
    assert!(
        !stdout(&followed).trim().is_empty(),
        "{}",
        stderr(&followed)
    );

    // inspect: the curated view of the session's own container.
    let orders = env.json(&["inspect", &a, "orders", "--json"], EXIT_OK);
    assert_eq!(orders["place"], format!("bf-{a}-orders"));
    assert_eq!(orders["user"], "nobody");
    assert_eq!(orders["state"]["running"], true, "{orders:#}");
    assert!(
        orders["cap_drop"]
            .as_array()
            .unwrap()
            .contains(&"ALL".into())
    );
    assert!(orders["limits"]["memory"].is_string(), "{orders:#}");
    let text = stdout(&env.expect(&["inspect", &a, "web"], EXIT_OK));
    for field in [
        "state", "health", "image", "command", "user", "mounts", "limits",
    ] {
        assert!(
            text.contains(&format!("  {field} ")),
            "inspect lacks {field}:\n{text}"
        );
    }
    assert!(text.contains("www-data"), "{text}");

    // exec: as the container's own user (the orders image runs as nobody), never root.
    let id = env.expect(&["exec", &a, "orders", "--", "id", "-u"], EXIT_OK);
    let uid = stdout(&id).trim().to_string();
    assert_ne!(uid, "0", "exec ran as root");
    assert_eq!(uid, "65534", "exec did not run as the container's user");
    // The command's exit code is breakfix's.
    env.expect(&["exec", &a, "orders", "--", "sh", "-c", "exit 3"], 3);

    // Anything not this session's is refused, in one line listing the session's services:
    // the neighbour's service, the neighbour's container, breakfix's probe, a made-up name.
    assert_refused(&env, &["logs", &a, b_only], &a_services);
    let b_web = format!("bf-{b}-web");
    assert_refused(&env, &["exec", &a, &b_web, "--", "id"], &a_services);
    assert_refused(&env, &["inspect", &a, "probe"], &a_services);
    assert_refused(
        &env,
        &["exec", &a, "no-such-service", "--", "id"],
        &a_services,
    );
    // With two sessions live, one must be named.
    env.expect(&["ps"], EXIT_FAILURE);

    // Every use is in A's timeline, and none in B's.
    let shown = env.json(&["show", &a, "--json"], EXIT_OK);
    let kinds: Vec<&str> = shown["session"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    for kind in ["ps", "logs", "inspect"] {
        assert!(kinds.contains(&kind), "timeline lacks {kind}: {kinds:?}");
    }
    let commands = shown["session"]["commands"].as_array().unwrap();
    let run = commands
        .iter()
        .find(|c| c["command"] == "id -u")
        .unwrap_or_else(|| panic!("exec not recorded: {commands:#?}"));
    assert_eq!(run["target"], "orders");
    let kept = env
        .state
        .path()
        .join("sessions")
        .join(&a)
        .join(run["recording"].as_str().unwrap());
    let kept = std::fs::read_to_string(&kept).expect("the command's output is kept");
    assert!(kept.contains("$ id -u") && kept.contains("65534"), "{kept}");
    // Refused commands ran nothing, so nothing else was recorded as run.
    assert_eq!(commands.len(), 2, "{commands:#?}");
    // The report's timeline (a broken sandbox fails its checks; on a busy host some may not
    // run: either way the report is written).
    let graded = env.run(&["grade", &a, "--json"]);
    assert!(
        matches!(graded.status.code(), Some(3) | Some(6)),
        "{}",
        stderr(&graded)
    );
    let report: serde_json::Value = serde_json::from_slice(&graded.stdout).expect("JSON report");
    let timeline: Vec<String> = report["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["kind"].as_str().unwrap(),
                e["detail"].as_str().unwrap()
            )
        })
        .collect();
    assert!(
        timeline.iter().any(|e| e == "command orders$ id -u"),
        "{timeline:#?}"
    );
    assert!(
        timeline
            .iter()
            .any(|e| e.starts_with("inspect inspected orders")),
        "{timeline:#?}"
    );
    let other = env.json(&["show", &b, "--json"], EXIT_OK);
    assert!(
        other["session"]["commands"]
            .as_array()
            .is_none_or(|c| c.is_empty()),
        "{other:#}"
    );

    workstation_reaches_only_its_session(&env, &a, &a_services, &b);
    docker_endpoint_reaches_only_its_session(&env, &a, &a_services, &b);

    // An engine that is down: one sentence and its exit code.
    let out = env
        .cmd(&["ps", &a])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .expect("run breakfix");
    assert_eq!(out.status.code(), Some(EXIT_BACKEND_UNREACHABLE));
    assert_eq!(stderr(&out).trim().lines().count(), 1, "{}", stderr(&out));

    // A stopped session has no services to reach.
    env.expect(&["stop", &a], EXIT_OK);
    env.expect(&["logs", &a, "web"], EXIT_FAILURE);
}

/// The candidate's workstation, as `start` left it: the engine's CLI in it reaches A's
/// services and is refused everything else, as the user who owns the workspace.
fn workstation_reaches_only_its_session(
    env: &Env,
    a: &str,
    a_services: &BTreeSet<String>,
    b: &str,
) {
    let shown = env.json(&["show", a, "--json"], EXIT_OK);
    let station = format!("bf-{a}-workstation");
    assert_eq!(
        shown["session"]["workstation"],
        station.as_str(),
        "{shown:#}"
    );
    let workspace = shown["session"]["workspace"].as_str().unwrap().to_string();
    // What the test harness runs in it with the engine's own CLI on the host.
    let inside = |script: &str| {
        std::process::Command::new("docker")
            .args(["exec", &station, "sh", "-c", script])
            .output()
            .expect("run docker exec")
    };
    let docker = |args: &str| inside(&format!("docker {args}"));
    let refused = |args: &str, said: &str| {
        let out = docker(args);
        let err = stderr(&out);
        assert!(!out.status.success(), "docker {args} was let through");
        assert!(
            err.contains("breakfix: ") && err.contains(said),
            "docker {args}: {err}"
        );
    };

    // Hardened and labelled like the services; the workspace is the candidate's, at
    // /workspace; the engine's socket is nowhere in it.
    let host = std::process::Command::new("docker")
        .args([
            "inspect",
            "--format",
            "{{.HostConfig.Privileged}} {{.HostConfig.CapDrop}} {{.HostConfig.ReadonlyRootfs}} {{index .Config.Labels \"dev.breakfix.role\"}} {{index .Config.Labels \"dev.breakfix.session\"}}",
            &station,
        ])
        .output()
        .unwrap();
    assert_eq!(
        stdout(&host).trim(),
        format!("false [ALL] true workstation {a}")
    );
    let listed = stdout(&inside(
        "ls /workspace; test -e /var/run/docker.sock && echo ENGINE",
    ));
    assert!(listed.contains("compose.yaml"), "{listed}");
    assert!(!listed.contains("ENGINE"), "{listed}");
    let owner = std::fs::metadata(&workspace).unwrap();
    let uid = stdout(&inside("id -u"));
    assert_eq!(
        uid.trim(),
        std::os::unix::fs::MetadataExt::uid(&owner).to_string()
    );

    // ps: A's services only (not the workstation, not the probe, not B's).
    let names: BTreeSet<String> = stdout(&docker("ps -a --format '{{.Names}}'"))
        .lines()
        .map(str::to_string)
        .collect();
    let wanted: BTreeSet<String> = a_services.iter().map(|s| format!("bf-{a}-{s}")).collect();
    assert_eq!(names, wanted);

    // logs and exec on A's own services work.
    let logs = docker("logs --tail 5 web 2>&1");
    assert!(logs.status.success(), "{}", stderr(&logs));
    assert!(stdout(&logs).contains("[emerg]"), "{}", stdout(&logs));
    let id = docker("exec orders id -u");
    assert!(id.status.success(), "{}", stderr(&id));
    assert_eq!(stdout(&id).trim(), "65534");
    // The services answer on the session's network by name.
    let answered = inside(
        "p=$(docker inspect --format '{{range .Config.Env}}{{println .}}{{end}}' orders | sed -n 's/^ORDERS_PORT=//p'); \
         curl -s -o /dev/null -w '%{http_code}' http://orders:$p/healthz",
    );
    assert_eq!(stdout(&answered), "200", "{}", stderr(&answered));

    refused("run --rm debian:bookworm-slim true", "creating containers");
    refused(
        "run --rm -v /:/host debian:bookworm-slim true",
        "creating containers",
    );
    refused(&format!("exec bf-{b}-orders id"), "no container");
    refused(&format!("logs bf-{b}-web"), "no container");
    let built = inside(
        "mkdir -p /tmp/ctx && echo 'FROM debian:bookworm-slim' > /tmp/ctx/Dockerfile && docker build -t bf-test /tmp/ctx",
    );
    assert!(!built.status.success(), "docker build was let through");
    assert!(
        stderr(&built).contains("building images"),
        "{}",
        stderr(&built)
    );
    refused("volume create bf-test", "volumes");
    refused("network create bf-test", "networks");
    refused("exec -u 0 orders id", "exec as root");

    // The session's own breakfix commands, and none of the interviewer's.
    let status = inside("breakfix status");
    assert!(status.status.success(), "{}", stderr(&status));
    assert!(stdout(&status).contains(a), "{}", stdout(&status));
    let applied = inside("breakfix apply");
    assert!(applied.status.success(), "{}", stderr(&applied));
    assert!(
        stdout(&applied).contains("unchanged"),
        "{}",
        stdout(&applied)
    );
    let checked = inside("breakfix check");
    assert_eq!(checked.status.code(), Some(3), "{}", stdout(&checked));
    assert!(stdout(&checked).contains("FAIL"), "{}", stdout(&checked));
    let graded = inside(
        "curl -s -w ' %{http_code}' --unix-socket /run/breakfix/docker.sock -X POST http://x/breakfix/grade",
    );
    assert!(stdout(&graded).ends_with(" 422"), "{}", stdout(&graded));
    assert!(
        stdout(&graded).contains("not open here"),
        "{}",
        stdout(&graded)
    );
}

/// The engine's own CLI through `breakfix docker-endpoint`: A's services and nothing else.
fn docker_endpoint_reaches_only_its_session(
    env: &Env,
    a: &str,
    a_services: &BTreeSet<String>,
    b: &str,
) {
    use std::io::BufRead;
    let sock = env.state.path().join("a-docker.sock");
    let mut endpoint = env
        .cmd(&["docker-endpoint", a, "--socket", sock.to_str().unwrap()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the endpoint");
    // Its first line is the variable to set, printed once the socket listens.
    let mut first = String::new();
    std::io::BufReader::new(endpoint.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(
        first.trim(),
        format!("export DOCKER_HOST=unix://{}", sock.display())
    );
    let docker = |args: &[&str]| {
        std::process::Command::new("docker")
            .args(args)
            .env("DOCKER_HOST", format!("unix://{}", sock.display()))
            .output()
            .expect("run docker")
    };
    let refused = |args: &[&str], said: &str| {
        let out = docker(args);
        let err = stderr(&out);
        assert!(!out.status.success(), "docker {args:?} was let through");
        assert!(
            err.contains("breakfix: ") && err.contains(said),
            "docker {args:?}: {err}"
        );
    };

    // ps: A's containers only, whatever is asked.
    let names: BTreeSet<String> = stdout(&docker(&["ps", "-a", "--format", "{{.Names}}"]))
        .lines()
        .map(str::to_string)
        .collect();
    let wanted: BTreeSet<String> = a_services.iter().map(|s| format!("bf-{a}-{s}")).collect();
    assert_eq!(names, wanted);
    let filtered = docker(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=dev.breakfix.session={b}"),
        "-q",
    ]);
    assert!(filtered.status.success(), "{}", stderr(&filtered));
    assert_eq!(stdout(&filtered).trim(), "", "B's containers listed");

    // logs, exec and restart on A's own services, by service or container name.
    let logs = docker(&["logs", "--tail", "5", "web"]);
    assert!(logs.status.success(), "{}", stderr(&logs));
    assert!(
        format!("{}{}", stdout(&logs), stderr(&logs)).contains("[emerg]"),
        "{}",
        stderr(&logs)
    );
    let id = docker(&["exec", &format!("bf-{a}-orders"), "id", "-u"]);
    assert!(id.status.success(), "{}", stderr(&id));
    assert_eq!(stdout(&id).trim(), "65534");
    let restarted = docker(&["restart", "-t", "1", "web"]);
    assert!(restarted.status.success(), "{}", stderr(&restarted));

    // Never root in a container that runs as another user; never privileged.
    refused(&["exec", "-u", "0", "orders", "id"], "exec as root");
    refused(&["exec", "--privileged", "orders", "id"], "privileged");
    // Nothing created, built or reached outside the session.
    refused(
        &[
            "run",
            "--rm",
            "-v",
            "/:/host",
            "debian:bookworm-slim",
            "true",
        ],
        "creating containers",
    );
    refused(&["create", "debian:bookworm-slim"], "creating containers");
    refused(&["volume", "create", "bf-test"], "volumes");
    refused(&["network", "create", "bf-test"], "networks");
    refused(&["image", "ls"], "images");
    refused(&["system", "df"], "system calls");
    // A raw start with host settings in its body: an old API version, which would take them,
    // is refused; a current one starts the container as it was.
    let raw_start = |version: &str| {
        let out = std::process::Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--unix-socket",
            ])
            .arg(&sock)
            .args(["-X", "POST", "-H", "Content-Type: application/json", "-d"])
            .arg(r#"{"Privileged": true, "Binds": ["/:/host"]}"#)
            .arg(format!("http://docker/{version}/containers/web/start"))
            .output()
            .expect("run curl");
        stdout(&out)
    };
    assert_eq!(raw_start("v1.23"), "403");
    assert!(matches!(raw_start("v1.41").as_str(), "204" | "304"));
    let host = stdout(&docker(&[
        "inspect",
        "--format",
        "{{.HostConfig.Privileged}} {{.HostConfig.Binds}}",
        "web",
    ]));
    assert!(
        host.starts_with("false") && !host.contains("/host"),
        "{host}"
    );
    let b_web = format!("bf-{b}-web");
    refused(&["logs", &b_web], "no container");
    refused(&["exec", &b_web, "id"], "no container");
    refused(&["restart", &b_web], "no container");
    refused(&["inspect", "--type", "container", &b_web], "no container");

    // What was done is in A's timeline, and nothing in B's.
    let events = |id: &str| -> Vec<String> {
        env.json(&["show", id, "--json"], EXIT_OK)["session"]["events"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "docker")
            .map(|e| e["detail"].as_str().unwrap().to_string())
            .collect()
    };
    let done = events(a);
    for call in [
        "docker logs web",
        "docker exec orders id -u",
        "docker restart web",
    ] {
        assert!(
            done.iter().any(|d| d == call),
            "{call} not recorded: {done:#?}"
        );
    }
    assert!(events(b).is_empty());

    // Ctrl-C (or a TERM) takes the socket away.
    let stopped = std::process::Command::new("kill")
        .args(["-INT", &endpoint.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    let out = endpoint.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!sock.exists(), "the socket was left behind");
}

#[test]
fn a_scenario_that_says_root_exec_lets_the_workstations_docker_exec_as_root_and_never_privileged() {
    // crashloop-docker, as a scenario whose fix would need root in `orders` (which runs as
    // nobody).
    let scenarios = tempfile::tempdir().unwrap();
    let pkg = scenarios.path().join("crashloop-docker");
    copy_dir(&repo().join("scenarios/crashloop-docker"), &pkg);
    let yaml = std::fs::read_to_string(pkg.join("scenario.yaml")).unwrap();
    let yaml = yaml.replacen(
        "environment:\n",
        "environment:\n  ceiling:\n    root-exec: true\n",
        1,
    );
    std::fs::write(pkg.join("scenario.yaml"), yaml).unwrap();
    let env = Env::new();
    let v = env.json(
        &[
            "--scenarios",
            scenarios.path().to_str().unwrap(),
            "start",
            "crashloop-docker",
            "--seed",
            CLASSIC_SEED,
            "--json",
        ],
        EXIT_OK,
    );
    let id = v["session"].as_str().unwrap().to_string();
    let inside = |script: &str| {
        std::process::Command::new("docker")
            .args(["exec", &format!("bf-{id}-workstation"), "sh", "-c", script])
            .output()
            .expect("run docker exec")
    };
    let root = inside("docker exec -u 0 orders id -u");
    assert!(root.status.success(), "{}", stderr(&root));
    assert_eq!(stdout(&root).trim(), "0");
    let privileged = inside("docker exec --privileged orders id -u");
    assert!(
        !privileged.status.success(),
        "a privileged exec was let through"
    );
    assert!(
        stderr(&privileged).contains("privileged exec is not open"),
        "{}",
        stderr(&privileged)
    );
    env.expect(&["stop", &id], EXIT_OK);
}
