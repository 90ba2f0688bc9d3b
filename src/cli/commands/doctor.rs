//! The machine: `doctor`, `setup`, `gc`.

use super::*;
use crate::backend::HealthItem;

pub(super) async fn doctor(
    state_dir: &Option<PathBuf>,
    scenarios: &Path,
    context: &Option<String>,
    json: bool,
) -> CmdResult {
    let mut rows: Vec<HealthItem> = vec![];
    let dir = state_dir.clone().unwrap_or_else(Store::default_dir);
    match Store::open(&dir) {
        Ok(_) => rows.push(HealthItem::new(
            "state directory",
            true,
            dir.display().to_string(),
        )),
        Err(e) => rows.push(HealthItem::new("state directory", false, format!("{e}"))),
    }
    let pkgs: Vec<Package> = scenario::load_all(scenarios)
        .into_iter()
        .filter_map(Result::ok)
        .collect();
    rows.push(HealthItem::new(
        "scenarios",
        !pkgs.is_empty(),
        format!("{} valid in {}", pkgs.len(), scenarios.display()),
    ));
    let images: Vec<_> = pkgs.iter().flat_map(engine::images_for).collect();
    let mut reachable = false;
    match DockerBackend::connect(assets_dir(scenarios)).await {
        Ok(b) => {
            let h = b.health(&images).await;
            reachable = h.reachable;
            rows.push(HealthItem::new(
                "docker engine",
                h.reachable,
                format!("version {} (API {})", h.version, h.api_version),
            ));
            rows.extend(h.detail);
        }
        Err(e) => rows.push(HealthItem::new(
            "docker engine",
            false,
            format!("failed to {e}"),
        )),
    }
    // The kube backend is optional: its absence is reported, not a failure of the machine.
    match KubeBackend::connect(context.clone(), assets_dir(scenarios)).await {
        Ok(b) => {
            let h = b.health(&images).await;
            rows.push(HealthItem::new(
                "kubernetes cluster",
                h.reachable,
                format!("version {} (--backend kube)", h.version),
            ));
            rows.extend(h.detail);
        }
        Err(e) => rows.push(HealthItem::new(
            "kubernetes cluster",
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
        Some(p) if p.is_file() => rows.push(HealthItem::new(
            "gitlabci-local",
            true,
            format!("{} (runs `pipeline` checks)", p.display()),
        )),
        found => rows.push(HealthItem::new(
            "gitlabci-local",
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
    let xterm = crate::serve::xterm::load(&crate::serve::xterm::root());
    rows.push(HealthItem::new(
        "xterm.js (node-xterm)",
        xterm.is_ok(),
        match &xterm {
            Ok(_) => {
                "installed (the candidate's terminal in the browser, report replays)".to_string()
            }
            Err(e) => format!(
                "missing: `breakfix serve` cannot show candidates a terminal ({})",
                crate::chain::one_line(e)
            ),
        },
    ));
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
    rows.push(HealthItem::new(
        "docker compose",
        compose,
        if compose {
            "installed (optional)"
        } else {
            "not installed (optional; breakfix apply does the same job)"
        },
    ));
    if json {
        print_json(&rows);
    } else {
        for r in &rows {
            let mark = if r.ok { "ok  " } else { "MISS" };
            println!("{mark} {:<34} {}", r.item, r.detail);
        }
    }
    Ok(if reachable {
        exit::OK
    } else {
        exit::BACKEND_UNREACHABLE
    })
}
/// A `doctor` row for a host tool: whether it is on PATH, and what that means.
pub(super) fn tool_row(name: &str, found: &str, missing: &str) -> HealthItem {
    let ok = which(name);
    HealthItem::new(name, ok, if ok { found } else { missing })
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
