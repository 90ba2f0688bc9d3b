//! The trust boundary on the real engine: the scenario sets the ceiling, never the
//! candidate's workspace. Each test tries what a hostile candidate would, with nothing but the
//! workspace and `breakfix apply`, and asserts it is refused (naming the file, the line and
//! the ceiling) or contained, and that a refused apply changes nothing.

mod common;

use std::io::ErrorKind;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

use common::*;

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn container_id(name: &str) -> String {
    let out = Command::new("docker")
        .args(["inspect", "--format", "{{.Id}}", name])
        .output()
        .expect("run docker inspect");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The classic variant's compose file with `web`'s block extended by `web_extra` lines and
/// `services_extra` appended as further services.
fn hostile_compose(original: &str, web_extra: &str, services_extra: &str) -> String {
    let mut out = String::new();
    for line in original.lines() {
        out.push_str(line);
        out.push('\n');
        if line == "  web:" {
            out.push_str(web_extra);
        }
    }
    out.push_str(services_extra);
    out
}

/// Applies a hostile workspace and restores the original compose file afterwards.
fn apply_with(env: &Env, id: &str, ws: &Path, compose: &str) -> Output {
    let path = ws.join("compose.yaml");
    let original = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, compose).unwrap();
    let out = env.run(&["apply", id]);
    std::fs::write(&path, original).unwrap();
    out
}

#[test]
fn a_workspace_cannot_ask_for_more_than_the_scenarios_ceiling_and_a_refusal_changes_nothing() {
    let env = Env::new();
    let (id, ws) = start_classic(&env, &[]);
    let web = format!("bf-{id}-web");
    let orders = format!("bf-{id}-orders");
    let before = (container_id(&web), container_id(&orders));
    let original = std::fs::read_to_string(ws.join("compose.yaml")).unwrap();
    // A folder the candidate binds, holding a link that stays inside the workspace on the
    // host but, seen from the folder's place in the container, leads to its own tools.
    std::fs::create_dir_all(ws.join("data")).unwrap();
    std::fs::create_dir_all(ws.join("usr/bin")).unwrap();
    std::os::unix::fs::symlink("../usr/bin", ws.join("data/tools")).unwrap();
    std::fs::write(ws.join("fake-curl"), "#!/bin/sh\nexit 0\n").unwrap();
    let many: String = (0..30)
        .map(|i| format!("  extra{i}:\n    image: breakfix/crashloop-docker-orders\n    mem_limit: 2g\n    cpus: 2\n"))
        .collect();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "capabilities above the workspace's",
            hostile_compose(&original, "    cap_add: [SYS_ADMIN, DAC_READ_SEARCH]\n", ""),
            "cap_add `SYS_ADMIN` is above the scenario's ceiling: `web` may add none",
        ),
        (
            "uid 0 by number",
            hostile_compose(&original, "    user: \"0\"\n", ""),
            "would run as uid 0",
        ),
        (
            "the probe's image",
            original.replace("image: breakfix/crashloop-docker-web", "image: breakfix/probe"),
            "image `breakfix/probe` is not one this scenario runs",
        ),
        (
            "another session's workspace build",
            original.replace(
                "image: breakfix/crashloop-docker-web",
                "image: breakfix/ws-harden-image-0a1b2c-ratecalc:abcdef",
            ),
            "is not one this scenario runs",
        ),
        (
            "the dynamic loader's variables",
            hostile_compose(&original, "    environment:\n      LD_PRELOAD: /tmp/x.so\n", ""),
            "environment `LD_PRELOAD` changes which code a program loads",
        ),
        (
            "bash's exported functions",
            hostile_compose(
                &original,
                "    environment:\n      \"BASH_FUNC_curl%%\": \"() { exit 0; }\"\n",
                "",
            ),
            "environment `BASH_FUNC_curl%%`",
        ),
        (
            "a mount whose target is reached through a link in a bound folder",
            original.replace(
                "      - ./nginx/conf.d/shop.conf:/etc/nginx/conf.d/shop.conf:ro\n",
                "      - ./nginx/conf.d/shop.conf:/etc/nginx/conf.d/shop.conf:ro\n      - ./data:/srv\n      - ./fake-curl:/srv/tools/curl:ro\n",
            ),
            "(through links, it is `/usr/bin/curl`) would cover `/usr/bin`",
        ),
        (
            "the loader's configuration",
            original.replace(
                "      - ./nginx/conf.d/shop.conf:/etc/nginx/conf.d/shop.conf:ro\n",
                "      - ./nginx/conf.d/shop.conf:/etc/nginx/conf.d/shop.conf:ro\n      - ./fake-curl:/etc/ld.so.preload:ro\n",
            ),
            "would cover `/etc/ld.so.preload`",
        ),
        (
            "thirty services of 2 GiB and 2 CPUs",
            hostile_compose(&original, "", &many),
            "32 services is above the scenario's ceiling of 4",
        ),
        (
            "a healthcheck every millisecond",
            original.replace("interval: 2s\n      timeout: 2s\n      retries: 3\n    mem_limit: 128m\n    cpus: 0.5\n\n", "interval: 1ms\n      timeout: 2s\n      retries: 3\n    mem_limit: 128m\n    cpus: 0.5\n\n"),
            "healthcheck interval 1ms is below the scenario's floor of 1s",
        ),
    ];
    let mut failures = Vec::new();
    for (what, compose, expected) in &cases {
        assert_ne!(compose, &original, "the case `{what}` changes nothing");
        let out = apply_with(&env, &id, &ws, compose);
        let said = text(&out);
        if out.status.code() != Some(EXIT_SCENARIO_INVALID) || !said.contains(expected) {
            failures.push(format!(
                "{what}: exit {:?}, expected {EXIT_SCENARIO_INVALID} and `{expected}`; it said:\n{said}",
                out.status.code()
            ));
        } else if !said.contains("compose.yaml:") {
            failures.push(format!(
                "{what}: the refusal names no file and line:\n{said}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert_eq!(
        (container_id(&web), container_id(&orders)),
        before,
        "a refused apply recreated a container"
    );
}

#[test]
fn a_service_cannot_become_root_through_its_image_or_a_user_renamed_in_its_build() {
    let env = Env::new();
    let (id, ws) = start_classic(&env, &[]);
    let original = std::fs::read_to_string(ws.join("compose.yaml")).unwrap();
    std::fs::create_dir_all(ws.join("tool")).unwrap();
    // `app` is uid 0 under another name; USER app looks harmless.
    std::fs::write(
        ws.join("tool/Dockerfile"),
        "FROM debian:bookworm-slim\nRUN useradd -o -u 0 -g 0 -M app\nUSER app\nCMD [\"sleep\", \"infinity\"]\n",
    )
    .unwrap();
    let out = apply_with(
        &env,
        &id,
        &ws,
        &hostile_compose(&original, "", "  tool:\n    build: ./tool\n"),
    );
    let said = text(&out);
    assert_eq!(out.status.code(), Some(EXIT_SCENARIO_INVALID), "{said}");
    assert!(
        said.contains("deploy service `tool` (compose.yaml:")
            && said.contains("would run as uid 0 (its image's USER is `app`)"),
        "{said}"
    );
    // `user: root` on the web tier, whose image runs as www-data.
    let out = apply_with(
        &env,
        &id,
        &ws,
        &hostile_compose(&original, "    user: root\n", ""),
    );
    let said = text(&out);
    assert_eq!(out.status.code(), Some(EXIT_SCENARIO_INVALID), "{said}");
    assert!(
        said.contains("would run as uid 0 (its `user:` is `root`)"),
        "{said}"
    );
    // A new service from a scenario image that runs as nobody is fine.
    let out = apply_with(
        &env,
        &id,
        &ws,
        &hostile_compose(
            &original,
            "",
            "  spare:\n    image: breakfix/crashloop-docker-orders\n    environment:\n      ORDERS_PORT: \"9000\"\n",
        ),
    );
    assert_eq!(out.status.code(), Some(EXIT_OK), "{}", text(&out));
}

#[test]
fn a_workspace_build_has_no_network_no_foreign_base_and_bounded_memory() {
    let env = Env::new();
    let (id, ws) = start_classic(&env, &[]);
    let original = std::fs::read_to_string(ws.join("compose.yaml")).unwrap();
    let compose = hostile_compose(&original, "", "  tool:\n    build: ./tool\n");
    std::fs::create_dir_all(ws.join("tool")).unwrap();
    let dockerfile = ws.join("tool/Dockerfile");

    std::fs::write(
        &dockerfile,
        "FROM debian:bookworm-slim\nCOPY --from=breakfix/probe /usr/bin/curl /usr/bin/curl\nUSER 1000\n",
    )
    .unwrap();
    let said = text(&apply_with(&env, &id, &ws, &compose));
    assert!(
        said.contains("tool/Dockerfile:2:1: services.tool: `breakfix/probe` is not an image this scenario lets a build start from"),
        "{said}"
    );

    // With a network, the archive's name would resolve and the host would answer on the
    // default bridge's gateway; the step fails if either happens.
    let listener = TcpListener::bind("0.0.0.0:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::fs::write(
        &dockerfile,
        format!(
            "FROM debian:bookworm-slim\nRUN if getent hosts deb.debian.org; then echo RESOLVED; exit 1; fi; if timeout 5 bash -c 'exec 3<>/dev/tcp/172.17.0.1/{port}'; then exit 1; fi\nUSER 1000\nCMD [\"sleep\", \"infinity\"]\n"
        ),
    )
    .unwrap();
    let out = apply_with(&env, &id, &ws, &compose);
    assert_eq!(out.status.code(), Some(EXIT_OK), "{}", text(&out));
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("a build reached the host: {other:?}"),
    }

    // About 700 MiB held by one shell, above the build's 512 MiB.
    std::fs::write(
        &dockerfile,
        "FROM debian:bookworm-slim\nRUN bash -c 'x=$(head -c 700m /dev/zero | tr \"\\0\" a); echo ${#x}; echo SURV\"\"IVED'\nUSER 1000\n",
    )
    .unwrap();
    let out = apply_with(&env, &id, &ws, &compose);
    let said = text(&out);
    assert_ne!(out.status.code(), Some(EXIT_OK), "{said}");
    assert!(!said.contains("SURVIVED"), "{said}");
    assert!(said.contains("build the image of service `tool`"), "{said}");
}

#[test]
fn a_sandbox_cannot_open_a_connection_to_a_service_listening_on_the_host() {
    let listener = TcpListener::bind("0.0.0.0:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let env = Env::new();
    let (id, _ws) = start_classic(&env, &[]);
    let gateway = {
        let out = Command::new("docker")
            .args([
                "network",
                "inspect",
                "--format",
                "{{range .IPAM.Config}}{{.Gateway}}{{end}}",
                &format!("bf-{id}"),
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let host_ips =
        String::from_utf8_lossy(&Command::new("hostname").arg("-I").output().unwrap().stdout)
            .to_string();
    let mut targets: Vec<String> = vec![gateway.clone(), "172.17.0.1".into()];
    targets.extend(
        host_ips
            .split_whitespace()
            .filter(|a| !a.contains(':'))
            .map(String::from),
    );
    assert!(!gateway.is_empty(), "the session network has a subnet");
    let script = format!(
        "import socket\nfor a in {targets:?}:\n    try:\n        socket.create_connection((a, {port}), timeout=3).close(); print('open', a)\n    except OSError as e:\n        print('blocked', a, e)\n"
    );
    let out = Command::new("docker")
        .args(["exec", &format!("bf-{id}-orders"), "python3", "-c", &script])
        .output()
        .unwrap();
    let said = text(&out);
    assert!(out.status.success(), "{said}");
    assert!(
        !said.contains("open "),
        "a sandbox reached the host:\n{said}"
    );
    assert_eq!(said.matches("blocked").count(), targets.len(), "{said}");
    match listener.accept() {
        Err(e) if e.kind() == ErrorKind::WouldBlock => {}
        other => panic!("the host's listener was reached: {other:?}"),
    }
    // The services still reach each other.
    let out = Command::new("docker")
        .args([
            "exec",
            &format!("bf-{id}-orders"),
            "python3",
            "-c",
            "import socket; socket.create_connection(('orders', 8000), timeout=3).close(); print('ok')",
        ])
        .output()
        .unwrap();
    assert!(text(&out).contains("ok"), "{}", text(&out));
}

#[test]
fn a_pipeline_cannot_mount_host_folders_or_run_in_another_image() {
    images_built();
    let env = Env::new();
    let v = env.json(&["start", "failing-pipeline", "--json"], EXIT_OK);
    let id = v["session"].as_str().unwrap().to_string();
    let ws = std::path::PathBuf::from(v["workspace"].as_str().unwrap());
    let ci = ws.join(".gitlab-ci.yml");
    let original = std::fs::read_to_string(&ci).unwrap();
    std::fs::write(
        &ci,
        format!(
            ".local:\n  volumes: [\"/etc:/host-etc:ro\"]\n{}\nsteal:\n  stage: build\n  image: breakfix/probe:latest\n  script: [cat /host-etc/shadow]\n",
            original
        ),
    )
    .unwrap();
    let out = env.run(&["check", &id, "--json"]);
    let said = text(&out);
    assert!(said.contains("the pipeline was not run"), "{said}");
    assert!(said.contains("`.local`"), "{said}");
    assert!(said.contains("image `breakfix/probe:latest`"), "{said}");
    assert!(!said.contains("root:"), "a host file was read:\n{said}");
}
