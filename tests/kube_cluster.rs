//! The Kubernetes backend against a real cluster: whatever KUBECONFIG points at.
//! `tests/k8s/cluster.sh up` starts a single-node cluster built from Debian's packages and
//! prints the environment these tests need; `tests/k8s/cluster.sh test` does both and runs
//! them. Tests that need no cluster run with the ordinary `cargo test`.

mod common;

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::*;

fn kubectl(kubeconfig: Option<&str>, args: &[&str]) -> Output {
    let mut c = Command::new("kubectl");
    if let Some(kc) = kubeconfig {
        c.env("KUBECONFIG", kc);
    }
    c.args(args).output().expect("run kubectl")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `kubectl apply -f -` of `yaml`, as the holder of `kubeconfig`.
fn kubectl_apply(kubeconfig: &str, yaml: &str) -> Output {
    let mut child = Command::new("kubectl")
        .env("KUBECONFIG", kubeconfig)
        .args(["apply", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run kubectl");
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), yaml.as_bytes()).unwrap();
    child.wait_with_output().expect("wait for kubectl")
}

/// Whether the cluster holds pods to PodSecurityPolicy (Kubernetes before 1.25) rather
/// than to the Pod Security labels.
fn cluster_has_psp() -> bool {
    let o = kubectl(None, &["get", "--raw", "/apis/policy/v1beta1"]);
    o.status.success() && text(&o).contains("podsecuritypolicies")
}

fn namespace_exists(ns: &str) -> bool {
    kubectl(None, &["get", "namespace", ns, "-o", "name"])
        .status
        .success()
}

fn assert_forbidden(kc: &str, args: &[&str]) {
    let o = kubectl(Some(kc), args);
    assert!(
        !o.status.success() && text(&o).contains("Forbidden"),
        "kubectl {} with the candidate's kubeconfig was not forbidden: {}",
        args.join(" "),
        text(&o)
    );
}

#[test]
#[ignore = "needs cluster"]
fn a_kube_session_runs_in_its_own_namespace_and_the_candidate_reaches_only_that() {
    let env = Env::new();
    let v = env.json(
        &["start", "crashloop-k8s", "--backend", "kube", "--json"],
        EXIT_OK,
    );
    let id = v["session"].as_str().unwrap().to_string();
    let ns = v["namespace"].as_str().expect("namespace").to_string();
    let kc = v["kubeconfig"].as_str().expect("kubeconfig").to_string();
    let status = env.json(&["status", &id, "--json"], EXIT_OK);
    assert_eq!(status["namespace"], ns.as_str());
    assert_eq!(status["kubeconfig"], kc.as_str());
    assert_eq!(status["backend"], "kube");

    // The namespace carries breakfix's labels.
    let labels = kubectl(
        None,
        &["get", "namespace", &ns, "-o", "jsonpath={.metadata.labels}"],
    );
    assert!(
        text(&labels).contains(&format!("\"dev.breakfix.session\":\"{id}\"")),
        "{}",
        text(&labels)
    );

    // The candidate works in their namespace...
    let pods = kubectl(Some(&kc), &["get", "pods", "-o", "name"]);
    assert!(pods.status.success(), "{}", text(&pods));
    assert!(text(&pods).contains("pod/inventory-"), "{}", text(&pods));
    // ...and nowhere else, and cannot lift the sandbox's limits.
    assert_forbidden(&kc, &["get", "pods", "-n", "default"]);
    assert_forbidden(&kc, &["get", "nodes"]);
    assert_forbidden(&kc, &["get", "namespaces"]);
    assert_forbidden(&kc, &["delete", "resourcequota", "breakfix-quota"]);
    assert_forbidden(&kc, &["delete", "networkpolicy", "breakfix-isolation"]);
    let kc_text = std::fs::read_to_string(&kc).unwrap();
    assert!(!kc_text.contains("client-key-data"), "{kc_text}");

    // The failure is real: the kubelet puts the pods in CrashLoopBackOff.
    let started = Instant::now();
    loop {
        let o = kubectl(
            Some(&kc),
            &[
                "get",
                "pods",
                "-l",
                "app=inventory",
                "-o",
                "jsonpath={.items[*].status.containerStatuses[*].state.waiting.reason}",
            ],
        );
        if text(&o).contains("CrashLoopBackOff") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "no CrashLoopBackOff: {}",
            text(&o)
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    // The broken state grades as failing, with the pods' state as evidence.
    let r = env.json(&["grade", &id, "--json"], EXIT_CHECKS_FAILED);
    let ready = r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "inventory-ready")
        .unwrap();
    assert_eq!(ready["status"], "fail", "{ready:#}");

    // The candidate may delete breakfix's probe pod; HTTP checks bring it back. The fixed
    // manifests, applied, pass the checks the candidate can see.
    let deleted = kubectl(
        Some(&kc),
        &["delete", "pod", "breakfix-probe", "--wait=false"],
    );
    assert!(deleted.status.success(), "{}", text(&deleted));
    let workspace = v["workspace"].as_str().unwrap();
    copy_solution("crashloop-k8s", std::path::Path::new(workspace));
    env.expect(&["apply", &id], EXIT_OK);
    let c = env.json(&["check", &id, "--json"], EXIT_OK);
    assert_eq!(c["score"], c["max-score"], "{c:#}");

    // The candidate's commands reach the namespace's workloads, never the probe pod.
    let ps = env.json(&["ps", &id, "--json"], EXIT_OK);
    let services: Vec<&str> = ps
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["service"].as_str().unwrap())
        .collect();
    assert!(services.contains(&"inventory"), "{ps:#}");
    assert!(!services.contains(&"breakfix-probe"), "{ps:#}");
    let detail = env.json(&["inspect", &id, "inventory", "--json"], EXIT_OK);
    assert!(
        detail["place"]
            .as_str()
            .unwrap()
            .starts_with("pod/inventory-"),
        "{detail:#}"
    );
    env.expect(&["logs", &id, "inventory", "--tail", "5"], EXIT_OK);
    let echoed = env.expect(&["exec", &id, "inventory", "--", "echo", "in-pod"], EXIT_OK);
    assert_eq!(String::from_utf8_lossy(&echoed.stdout).trim(), "in-pod");
    env.expect(&["exec", &id, "breakfix-probe", "--", "id"], 1);

    // A recorded shell opens in a pod of the Deployment, over the API server's exec.
    let mut shell = env
        .cmd(&["shell", &id, "inventory", "--json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn shell");
    std::io::Write::write_all(
        &mut shell.stdin.take().unwrap(),
        b"echo in-pod-$((6*7)) $HOSTNAME\n",
    )
    .unwrap();
    let out = shell.wait_with_output().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{shown}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(shown.contains("in-pod-42 inventory-"), "{shown}");
    assert!(shown.contains("\"place\": \"pod/inventory-"), "{shown}");

    env.expect(&["stop", &id], EXIT_OK);
    assert!(!namespace_exists(&ns), "stop left namespace {ns}");
    // The account went with the namespace: its token no longer authenticates.
    let after = kubectl(Some(&kc), &["get", "pods"]);
    assert!(
        !after.status.success() && text(&after).contains("Unauthorized"),
        "{}",
        text(&after)
    );
}

/// A pod of the candidate's, named `name`, whose spec ends with `extra` (indented for
/// `spec:`), on the scenario's own image so only the security fields can be refused.
fn candidate_pod(name: &str, extra: &str, container_extra: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n{extra}  containers:\n  - name: c\n    image: breakfix/crashloop-k8s-inventory\n    imagePullPolicy: Never\n    command: [sleep, '3600']\n{container_extra}"
    )
}

#[test]
#[ignore = "needs cluster"]
fn the_api_server_refuses_the_candidates_pods_that_reach_the_node_or_run_as_root() {
    let env = Env::new();
    let v = env.json(
        &["start", "crashloop-k8s", "--backend", "kube", "--json"],
        EXIT_OK,
    );
    let id = v["session"].as_str().unwrap().to_string();
    let kc = v["kubeconfig"].as_str().expect("kubeconfig").to_string();
    let psp = cluster_has_psp();

    // The scenario's own pods were admitted: breakfix's Deployment and its probe pod.
    let pods = kubectl(Some(&kc), &["get", "pods", "-o", "name"]);
    assert!(
        text(&pods).contains("pod/inventory-") && text(&pods).contains("pod/breakfix-probe"),
        "{}",
        text(&pods)
    );

    let host_root = candidate_pod(
        "host-root",
        "  volumes: [{name: node, hostPath: {path: /}}]\n",
        "    volumeMounts: [{name: node, mountPath: /node}]\n",
    );
    let add_sys_admin = candidate_pod(
        "sys-admin",
        "",
        "    securityContext: {capabilities: {add: [SYS_ADMIN]}}\n",
    );
    let uid_zero = candidate_pod("uid-zero", "  securityContext: {runAsUser: 0}\n", "");
    let mut refused = vec![("hostPath /", host_root), ("SYS_ADMIN", add_sys_admin)];
    if psp {
        // Pod Security's baseline lets uid 0 through (only restricted refuses it); the
        // PodSecurityPolicy breakfix applies does not.
        refused.push(("runAsUser 0", uid_zero.clone()));
    }
    for (what, yaml) in &refused {
        let o = kubectl_apply(&kc, yaml);
        let said = text(&o);
        assert!(
            !o.status.success(),
            "a pod with {what} was admitted from the candidate's kubeconfig: {said}"
        );
        let by = if psp {
            "PodSecurityPolicy: unable to admit pod"
        } else {
            "violates PodSecurity \"baseline"
        };
        assert!(said.contains(by), "{what}: {said}");
    }
    if psp {
        let o = kubectl_apply(&kc, &uid_zero);
        assert!(
            text(&o).contains("running with the root UID is forbidden"),
            "{}",
            text(&o)
        );
    } else {
        // Admitted under baseline, but the candidate is warned it breaks restricted.
        let o = kubectl_apply(&kc, &uid_zero);
        assert!(
            text(&o).contains("would violate PodSecurity \"restricted"),
            "{}",
            text(&o)
        );
    }
    // None of them exists.
    let pods = kubectl(Some(&kc), &["get", "pods", "-o", "name"]);
    for name in ["host-root", "sys-admin"] {
        assert!(!text(&pods).contains(name), "{}", text(&pods));
    }
    if psp {
        assert!(!text(&pods).contains("uid-zero"), "{}", text(&pods));
    }

    // A Deployment's pods are created by the ReplicaSet controller, and refused all the same.
    let o = kubectl_apply(
        &kc,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: via-controller}\nspec:\n  selector: {matchLabels: {app: via-controller}}\n  template:\n    metadata: {labels: {app: via-controller}}\n    spec:\n      securityContext: {runAsUser: 65534}\n      volumes: [{name: node, hostPath: {path: /}}]\n      containers:\n      - {name: c, image: breakfix/crashloop-k8s-inventory, imagePullPolicy: Never, volumeMounts: [{name: node, mountPath: /node}]}\n",
    );
    assert!(o.status.success(), "{}", text(&o));
    let started = Instant::now();
    loop {
        let events = kubectl(
            Some(&kc),
            &[
                "get",
                "events",
                "--field-selector",
                "reason=FailedCreate",
                "-o",
                "jsonpath={.items[*].message}",
            ],
        );
        if text(&events).contains("hostPath") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the ReplicaSet's pods were not refused: {}",
            text(&events)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let pods = kubectl(
        Some(&kc),
        &["get", "pods", "-l", "app=via-controller", "-o", "name"],
    );
    assert!(text(&pods).trim().is_empty(), "{}", text(&pods));

    // An ordinary pod of the candidate's still runs, and doctor says the cluster contains them.
    let o = kubectl_apply(
        &kc,
        &candidate_pod("debug", "  securityContext: {runAsUser: 65534}\n", ""),
    );
    assert!(o.status.success(), "{}", text(&o));
    let d = env.json(&["doctor", "--json"], EXIT_OK);
    let row = d
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["item"] == "candidates contained")
        .cloned()
        .unwrap_or_else(|| panic!("no containment row: {d:#}"));
    assert_eq!(row["ok"], true, "{row:#}");

    env.expect(&["stop", &id], EXIT_OK);
}

/// Whether the local engine still has a container named `name`.
fn container_exists(name: &str) -> bool {
    let o = Command::new("docker")
        .args(["ps", "-aq", "--filter", &format!("name=^{name}$")])
        .output()
        .expect("run docker ps");
    !String::from_utf8_lossy(&o.stdout).trim().is_empty()
}

#[test]
#[ignore = "needs cluster"]
fn the_workstation_of_a_kube_session_has_kubectl_for_its_namespace_and_no_network() {
    let env = Env::new();
    let v = env.json(
        &["start", "crashloop-k8s", "--backend", "kube", "--json"],
        EXIT_OK,
    );
    let id = v["session"].as_str().unwrap().to_string();
    let station = format!("bf-{id}-workstation");
    assert_eq!(v["workstation"], station.as_str(), "{v:#}");
    let inside = |script: &str| {
        Command::new("docker")
            .args(["exec", &station, "bash", "-c", script])
            .output()
            .expect("run docker exec")
    };

    // No network but loopback; kubectl is already pointed at the session's namespace.
    let nets = inside("ls /sys/class/net");
    assert_eq!(text(&nets).trim(), "lo", "{}", text(&nets));
    let pods = inside("kubectl get pods -o name");
    assert!(pods.status.success(), "{}", text(&pods));
    assert!(text(&pods).contains("pod/inventory-"), "{}", text(&pods));
    let logs = inside("kubectl logs deployment/inventory --tail 3 2>&1; echo rc=$?");
    assert!(!text(&logs).contains("Forbidden"), "{}", text(&logs));
    // The candidate's token, nothing more: other namespaces, the node and the sandbox's
    // limits stay out of reach.
    for args in [
        "get pods -n default",
        "get nodes",
        "delete resourcequota breakfix-quota",
        "get secrets -n kube-system",
    ] {
        let o = inside(&format!("kubectl {args}"));
        assert!(
            !o.status.success() && text(&o).contains("Forbidden"),
            "kubectl {args} from the workstation: {}",
            text(&o)
        );
    }
    // The fix goes in from the workstation: the workspace is there, `breakfix apply`
    // deploys it and `breakfix check` passes.
    let workspace = v["workspace"].as_str().unwrap();
    copy_solution("crashloop-k8s", std::path::Path::new(workspace));
    let applied = inside("cd /workspace && ls manifests && breakfix apply");
    assert!(applied.status.success(), "{}", text(&applied));
    let checked = inside("breakfix check");
    assert!(checked.status.success(), "{}", text(&checked));

    env.expect(&["stop", &id], EXIT_OK);
    assert!(!container_exists(&station), "stop left {station}");
}

#[test]
#[ignore = "needs cluster"]
fn gc_removes_the_namespace_of_a_session_whose_record_is_gone() {
    let env = Env::new();
    let v = env.json(
        &["start", "crashloop-k8s", "--backend", "kube", "--json"],
        EXIT_OK,
    );
    let id = v["session"].as_str().unwrap();
    let ns = v["namespace"].as_str().unwrap();
    std::fs::remove_dir_all(env.state.path().join("sessions").join(id)).unwrap();
    assert!(namespace_exists(ns));
    let g = env.json(&["gc", "--json"], EXIT_OK);
    let kube = g
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["backend"] == "kube")
        .unwrap();
    assert_eq!(kube["sessions"][0], id, "{g:#}");
    assert!(!namespace_exists(ns), "gc left namespace {ns}");
    let station = format!("bf-{id}-workstation");
    assert!(!container_exists(&station), "gc left {station}");
}

#[test]
#[ignore = "needs cluster"]
fn verify_proves_the_kubernetes_scenarios() {
    let env = Env::new();
    // One at a time: on the 2-core test node, three at once starve a rollout enough that a
    // Service check of a valid fix can fail.
    let v = env.json(&["verify", "--all", "--backend", "kube", "--json"], EXIT_OK);
    let all = v.as_array().unwrap();
    assert!(all.len() >= 2, "{v:#}");
    for s in all {
        assert_eq!(s["backend"], "kube", "{s:#}");
        assert_eq!(s["proven"], true, "{s:#}");
    }
    // A parameterised scenario is proven for seeds that choose every value of its variables.
    let seeds: Vec<&str> = all
        .iter()
        .filter(|s| s["scenario"] == "crashloop-k8s")
        .filter_map(|s| s["seed"].as_str())
        .collect();
    assert!(seeds.len() >= 3, "{v:#}");
}

#[test]
fn a_cluster_that_cannot_be_reached_is_one_sentence_and_the_backend_exit_code() {
    let env = Env::new();
    let out = env
        .cmd(&["start", "crashloop-k8s", "--backend", "kube"])
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env_remove("BREAKFIX_KUBE_CONTEXT")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(EXIT_BACKEND_UNREACHABLE));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("Kubernetes API server"), "{err}");
}

#[test]
fn verify_reports_an_unreachable_backend_as_skipped_never_as_proven() {
    let env = Env::new();
    let out = env
        .cmd(&["verify", "crashloop-k8s", "--json"])
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .env_remove("BREAKFIX_KUBE_CONTEXT")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(EXIT_BACKEND_UNREACHABLE));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["backend"], "kube");
    assert_eq!(v[0]["proven"], false);
    assert!(
        v[0]["skipped"].as_str().unwrap().contains("Kubernetes"),
        "{v:#}"
    );
}

#[test]
fn a_docker_only_scenario_refuses_the_kube_backend() {
    let env = Env::new();
    let out = env.expect(&["start", "crashloop-docker", "--backend", "kube"], 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not declare it"), "{err}");
}

#[test]
#[ignore = "needs cluster"]
fn a_kustomization_in_the_manifests_folder_is_rendered_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let pkg = dir.path().join("crashloop-k8s");
    copy_dir(&repo().join("scenarios/crashloop-k8s"), &pkg);
    let manifests = pkg.join("workspace/manifests");
    std::fs::write(
        manifests.join("kustomization.yaml"),
        "resources: [configmap.yaml, deployment.yaml, service.yaml]\ncommonLabels: {team: warehouse}\n",
    )
    .unwrap();
    let env = Env::new();
    let path = pkg.to_str().unwrap();
    env.expect(&["validate", path], EXIT_OK);
    std::fs::write(
        manifests.join("kustomization.yaml"),
        "resources: [configmap.yaml, missing.yaml]\n",
    )
    .unwrap();
    let out = env.expect(&["validate", path], EXIT_SCENARIO_INVALID);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("kustomization.yaml") && err.contains("kubectl kustomize"),
        "{err}"
    );
}
