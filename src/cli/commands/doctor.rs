//! The machine: `doctor`, `setup`, `gc`.

use super::*;

pub(super) async fn doctor(
    state_dir: &Option<PathBuf>,
    scenarios: &Path,
    context: &Option<String>,
    json: bool,
) -> CmdResult {
    let mut rows: Vec<(String, bool, String)> = vec![];
    let dir = state_dir.clone().unwrap_or_else(Store::default_dir);
    match Store::open(&dir) {
        Ok(_) => rows.push(("state directory".into(), true, dir.display().to_string())),
        Err(e) => rows.push(("state directory".into(), false, format!("{e}"))),
    }
    let pkgs: Vec<Package> = scenario::load_all(scenarios)
        .into_iter()
        .filter_map(Result::ok)
        .collect();
    rows.push((
        "scenarios".into(),
        !pkgs.is_empty(),
        format!("{} valid in {}", pkgs.len(), scenarios.display()),
    ));
    let images: Vec<_> = pkgs.iter().flat_map(engine::images_for).collect();
    let mut reachable = false;
    match DockerBackend::connect(assets_dir(scenarios)).await {
        Ok(b) => {
            let h = b.health(&images).await;
            reachable = h.reachable;
            rows.push((
                "docker engine".into(),
                h.reachable,
                format!("version {} (API {})", h.version, h.api_version),
            ));
            rows.extend(h.detail);
        }
        Err(e) => rows.push(("docker engine".into(), false, format!("failed to {e}"))),
    }
    // The kube backend is optional: its absence is reported, not a failure of the machine.
    match KubeBackend::connect(context.clone(), assets_dir(scenarios)).await {
        Ok(b) => {
            let h = b.health(&images).await;
            rows.push((
                "kubernetes cluster".into(),
                h.reachable,
                format!("version {} (--backend kube)", h.version),
            ));
            rows.extend(h.detail);
        }
        Err(e) => rows.push((
            "kubernetes cluster".into(),
            false,
            format!("optional, for --backend kube: failed to {e}"),
        )),
    }
    rows.push(tool_row(
        "kind",
        "installed (`breakfix cluster up` creates a local cluster)",
        "not installed (optional: `breakfix cluster up` needs it; any cluster in KUBECONFIG works)",
    ));
    match crate::tools::ci_executor() {
        Some(p) if p.is_file() => rows.push((
            "gitlabci-local".into(),
            true,
            format!("{} (runs `pipeline` checks)", p.display()),
        )),
        found => rows.push((
            "gitlabci-local".into(),
            false,
            format!(
                "{}{}: `pipeline` checks cannot run",
                crate::tools::ci_executor_missing(),
                found
                    .map(|p| format!(" (nothing at {})", p.display()))
                    .unwrap_or_default(),
            ),
        )),
    }
    rows.push(tool_row(
        "git",
        "installed (workspaces that are repositories)",
        "missing: scenarios whose workspace is a git repository cannot start",
    ));
    rows.push(tool_row(
        "debootstrap",
        "installed (bootstraps the base image offline)",
        "not installed: needed only if debian:bookworm-slim cannot be pulled",
    ));
    let compose = which("docker-compose")
        || std::process::Command::new("docker")
            .args(["compose", "version"])
            .output()
            .is_ok_and(|o| o.status.success());
    rows.push((
        "docker compose".into(),
        compose,
        if compose {
            "installed (optional)".into()
        } else {
            "not installed (optional; breakfix apply does the same job)".into()
        },
    ));
    if json {
        print_json(
            &rows
                .iter()
                .map(|(k, ok, d)| json!({"item": k, "ok": ok, "detail": d}))
                .collect::<Vec<_>>(),
        );
    } else {
        for (k, ok, d) in &rows {
            println!("{} {k:<34} {d}", if *ok { "ok  " } else { "MISS" });
        }
    }
    Ok(if reachable {
        exit::OK
    } else {
        exit::BACKEND_UNREACHABLE
    })
}
/// A `doctor` row for a host tool: whether it is on PATH, and what that means.
pub(super) fn tool_row(name: &str, found: &str, missing: &str) -> (String, bool, String) {
    let ok = which(name);
    (name.into(), ok, if ok { found } else { missing }.into())
}
pub(super) fn which(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
}
/// `gc` over every backend that answers; one that does not is said, not fatal.
pub(super) async fn gc(
    state_dir: &Option<PathBuf>,
    scenarios: &Path,
    context: &Option<String>,
    json: bool,
) -> CmdResult {
    let mut results = vec![];
    let mut reached = 0;
    for kind in [BackendKind::Docker, BackendKind::Kube] {
        let eng = match engine(state_dir, scenarios, kind, context).await {
            Ok(e) => e,
            Err(e) if e.is_unreachable() => {
                // Most machines have no cluster; only say so when something might be missed.
                if kind == BackendKind::Docker || context.is_some() {
                    note!("skipping {kind}: failed to {e}");
                }
                results.push(json!({"backend": kind, "skipped": e.to_string()}));
                continue;
            }
            Err(e) => return Err(e),
        };
        reached += 1;
        let g = eng.gc().await?;
        if !json {
            if g.sessions.is_empty() && g.abandoned_marked_failed.is_empty() {
                println!("{kind}: nothing to collect");
            } else {
                println!(
                    "{kind}: removed {} of {} session(s): {}",
                    g.removed,
                    g.sessions.len(),
                    g.sessions.join(", ")
                );
                if !g.abandoned_marked_failed.is_empty() {
                    println!(
                        "marked failed (start was killed): {}",
                        g.abandoned_marked_failed.join(", ")
                    );
                }
            }
        }
        let mut v = serde_json::to_value(&g).unwrap_or_default();
        v["backend"] = json!(kind);
        results.push(v);
    }
    if json {
        print_json(&results);
    }
    Ok(if reached == 0 {
        exit::BACKEND_UNREACHABLE
    } else {
        exit::OK
    })
}

/// `setup`: installs the local GitLab CI executor the pipeline checks run.
pub(super) async fn setup() -> CmdResult {
    let progress = Term::new(false);
    progress.begin(&format!(
        "installing gitlabci-local {} into {} (from PyPI)",
        crate::tools::CI_EXECUTOR_VERSION,
        crate::tools::user_venv().display()
    ));
    let (exe, installed) = crate::tools::install_ci_executor()
        .await
        .map_err(EngineError::Tool)?;
    progress.finish(if installed {
        "installed"
    } else {
        "already installed"
    });
    println!("gitlabci-local: {}", exe.display());
    Ok(exit::OK)
}
