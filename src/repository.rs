//! Makes a session's workspace a git repository with the history its scenario declares. A
//! package cannot ship a nested `.git`, and the candidate (and a CI executor reading
//! `CI_COMMIT_SHA`) needs a real one, so it is made on the host with `git` at start and reset.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::scenario::{Package, Repository};

#[derive(Debug, thiserror::Error)]
pub enum RepositoryError {
    #[error("run `git {args}` in {}", dir.display())]
    Spawn {
        args: String,
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("run `git {args}` in {}: {stderr}", dir.display())]
    Git {
        args: String,
        dir: PathBuf,
        stderr: String,
    },
    #[error("lay {} over the workspace", from.display())]
    Copy {
        from: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Initialises `workspace` as a repository: one commit per history entry (its files laid
/// over the shipped workspace), then the workspace as shipped.
pub fn init(pkg: &Package, repo: &Repository, workspace: &Path) -> Result<(), RepositoryError> {
    let (name, email) = split_author(&repo.author);
    let git = |args: &[&str]| run_git(workspace, &name, &email, args);
    // Lays `files` over the work tree and commits everything as it then stands.
    let commit = |files: &Path, message: &str| {
        lay_over(files, workspace)?;
        git(&["add", "--all"])?;
        git(&["commit", "--quiet", "--allow-empty", "--message", message])
    };
    git(&["init", "--quiet", "--initial-branch", &repo.branch])?;
    for h in &repo.history {
        commit(&pkg.root.join(&h.files.value), &h.message)?;
    }
    // Back to the workspace as shipped: history only changes files it ships.
    commit(&pkg.workspace_dir(), &repo.message)
}

fn split_author(author: &str) -> (String, String) {
    match author.split_once(" <") {
        Some((n, e)) => (n.trim().to_string(), e.trim_end_matches('>').to_string()),
        None => (author.to_string(), String::new()),
    }
}

fn lay_over(from: &Path, to: &Path) -> Result<(), RepositoryError> {
    for rel in crate::scenario::load::files_under(from) {
        let dest = to.join(&rel);
        let copy = || -> std::io::Result<()> {
            if let Some(parent) = dest.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::copy(from.join(&rel), &dest).map(|_| ())
        };
        copy().map_err(|source| RepositoryError::Copy {
            from: from.join(&rel),
            source,
        })?;
    }
    Ok(())
}

fn run_git(dir: &Path, name: &str, email: &str, args: &[&str]) -> Result<(), RepositoryError> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        // The host's git configuration (hooks, signing, templates) stays out of it.
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", name)
        .env("GIT_AUTHOR_EMAIL", email)
        .env("GIT_COMMITTER_NAME", name)
        .env("GIT_COMMITTER_EMAIL", email)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|source| RepositoryError::Spawn {
            args: args.join(" "),
            dir: dir.to_path_buf(),
            source,
        })?;
    if !out.status.success() {
        return Err(RepositoryError::Git {
            args: args.join(" "),
            dir: dir.to_path_buf(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_author_splits_into_name_and_email() {
        assert_eq!(
            split_author("Priya Natarajan <priya@acme.example>"),
            ("Priya Natarajan".into(), "priya@acme.example".into())
        );
    }
}
