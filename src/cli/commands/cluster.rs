//! A local Kubernetes cluster for the kube backend: `cluster up`, `cluster down`.

use super::doctor::which;
use super::*;

/// `cluster up|down` with kind.
pub(super) async fn cluster(action: ClusterAction) -> CmdResult {
    if !which("kind") {
        note!(
            "error: `kind` is not installed. Install it (one binary: https://kind.sigs.k8s.io/docs/user/quick-start/#installation), then run this again.\n\
             Any other cluster works too: point KUBECONFIG (or --context) at it and start with `--backend kube`."
        );
        return Ok(exit::FAILURE);
    }
    let (args, name) = match &action {
        ClusterAction::Up { name } => (
            vec!["create", "cluster", "--name", name, "--wait", "180s"],
            name,
        ),
        ClusterAction::Down { name } => (vec!["delete", "cluster", "--name", name], name),
    };
    let status = tokio::process::Command::new("kind")
        .args(&args)
        .status()
        .await
        .map_err(|source| EngineError::Copy {
            from: PathBuf::from("kind"),
            to: PathBuf::from(name),
            source,
        })?;
    if !status.success() {
        note!("error: `kind {}` failed", args.join(" "));
        return Ok(exit::FAILURE);
    }
    if matches!(action, ClusterAction::Up { .. }) {
        println!(
            "cluster `{name}` is up (context kind-{name}); scenario images are loaded into it on start:\n  breakfix start crashloop-k8s --backend kube --context kind-{name}"
        );
    }
    Ok(exit::OK)
}
