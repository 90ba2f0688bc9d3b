//! Host tools some checks need, where breakfix finds them, and how `breakfix setup` installs
//! them for the current user.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The local GitLab CI executor's version breakfix is tested with.
pub const CI_EXECUTOR_VERSION: &str = "13.2.0";
/// Where breakfix looks for the executor before anywhere else.
pub const CI_EXECUTOR_ENV: &str = "BREAKFIX_GITLABCI_LOCAL";
/// A machine-wide install (what CI machines use).
pub const CI_EXECUTOR_SYSTEM: &str = "/opt/breakfix-ci/venv/bin/gitlabci-local";

#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    #[error("install gitlabci-local {version} into {}: {step} failed{}", venv.display(), detail.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Install {
        version: &'static str,
        venv: PathBuf,
        step: &'static str,
        detail: Option<String>,
        #[source]
        source: Option<std::io::Error>,
    },
}

/// Written into the virtualenv once the install finished.
const COMPLETE: &str = ".breakfix-complete";

/// The virtualenv `breakfix setup` installs the executor into, per user and per version.
pub fn user_venv() -> PathBuf {
    dirs::data_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("breakfix")
        .join("tools")
        .join(format!("gitlabci-local-{CI_EXECUTOR_VERSION}"))
}

/// The executor: `$BREAKFIX_GITLABCI_LOCAL`, else the user's install (`breakfix setup`), else
/// the machine-wide one, else `gitlabci-local` on `PATH`. `None` when none exists.
pub fn ci_executor() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(CI_EXECUTOR_ENV).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    let user = user_venv().join("bin").join("gitlabci-local");
    if user.is_file() && user_venv().join(COMPLETE).is_file() {
        return Some(user);
    }
    let system = PathBuf::from(CI_EXECUTOR_SYSTEM);
    if system.is_file() {
        return Some(system);
    }
    on_path("gitlabci-local")
}

/// The first `name` on `PATH`.
pub fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

/// What to tell a user who lacks the executor.
pub fn ci_executor_missing() -> String {
    format!(
        "the local GitLab CI executor gitlabci-local is not installed: run `breakfix setup` (installs it into {}), or set {CI_EXECUTOR_ENV}",
        user_venv().display()
    )
}

/// Installs the executor into [`user_venv`] unless that version is already there. Returns
/// its path and whether anything was installed.
pub async fn install_ci_executor() -> Result<(PathBuf, bool), ToolError> {
    let venv = user_venv();
    let exe = venv.join("bin").join("gitlabci-local");
    if exe.is_file() && venv.join(COMPLETE).is_file() {
        return Ok((exe, false));
    }
    let fail = |step: &'static str, detail: Option<String>, source: Option<std::io::Error>| {
        ToolError::Install {
            version: CI_EXECUTOR_VERSION,
            venv: venv.clone(),
            step,
            detail,
            source,
        }
    };
    // A marker written last tells a finished install from an interrupted one.
    let _ = std::fs::remove_dir_all(&venv);
    if let Some(parent) = venv.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| fail("creating the tools folder", None, Some(e)))?;
    }
    run(&["python3", "-m", "venv"], &venv, Duration::from_secs(120))
        .await
        .map_err(|(d, e)| {
            fail(
                "`python3 -m venv` (on Debian: apt-get install python3-venv)",
                d,
                e,
            )
        })?;
    let pip = venv.join("bin").join("pip");
    let spec = format!("gitlabci-local=={CI_EXECUTOR_VERSION}");
    run(
        &[
            &pip.to_string_lossy(),
            "install",
            "--quiet",
            "--disable-pip-version-check",
            &spec,
        ],
        Path::new(""),
        Duration::from_secs(600),
    )
    .await
    .map_err(|(d, e)| fail("`pip install`", d, e))?;
    std::fs::write(venv.join(COMPLETE), CI_EXECUTOR_VERSION)
        .map_err(|e| fail("marking the install complete", None, Some(e)))?;
    Ok((exe, true))
}

/// Runs a command (with `target` appended when not empty) under a deadline.
async fn run(
    argv: &[&str],
    target: &Path,
    deadline: Duration,
) -> Result<(), (Option<String>, Option<std::io::Error>)> {
    let mut cmd = tokio::process::Command::new(argv[0]);
    cmd.args(&argv[1..]).kill_on_drop(true);
    if !target.as_os_str().is_empty() {
        cmd.arg(target);
    }
    let out = tokio::time::timeout(deadline, cmd.output())
        .await
        .map_err(|_| {
            (
                Some(format!(
                    "no result within {}",
                    humantime::format_duration(deadline)
                )),
                None,
            )
        })?
        .map_err(|e| (None, Some(e)))?;
    if out.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    Err((err.trim().lines().last().map(str::to_string), None))
}
