//! Building scenario images from local Dockerfiles, cached by content, on a
//! `debian:bookworm-slim` base that is bootstrapped from Debian's archive when it cannot be
//! pulled.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateImageOptionsBuilder, TagImageOptionsBuilder,
};
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::{BackendError, ImageBuild, Progress, Result, labels};
use crate::compose::BuildSpec;

pub const BASE_IMAGE: &str = "debian:bookworm-slim";
const MAX_CONTEXT_FILES: usize = 5_000;

/// Makes sure the base image exists: present, pulled, or bootstrapped with the script.
pub async fn ensure_base(docker: &Docker, assets: &Path, progress: &dyn Progress) -> Result<()> {
    if docker.inspect_image(BASE_IMAGE).await.is_ok() {
        return Ok(());
    }
    progress.begin(&format!("pulling {BASE_IMAGE}"));
    let opts = CreateImageOptionsBuilder::default()
        .from_image("debian")
        .tag("bookworm-slim")
        .build();
    let pull = async {
        let mut s = docker.create_image(Some(opts), None, None);
        while let Some(item) = s.next().await {
            item?;
        }
        Ok::<(), bollard::errors::Error>(())
    };
    match tokio::time::timeout(Duration::from_secs(30), pull).await {
        Ok(Ok(())) => {
            progress.finish(&format!("pulled {BASE_IMAGE}"));
            return Ok(());
        }
        _ => progress.finish("no registry reachable; bootstrapping from Debian's archive instead"),
    }
    let script = assets.join("bootstrap-base.sh");
    progress.begin(&format!(
        "bootstrapping {BASE_IMAGE} with debootstrap (about 30 s)"
    ));
    let out = tokio::time::timeout(
        Duration::from_secs(900),
        tokio::process::Command::new("bash")
            .arg(&script)
            .arg(BASE_IMAGE)
            .output(),
    )
    .await
    .map_err(|_| BackendError::Bootstrap {
        image: BASE_IMAGE.into(),
        message: "debootstrap did not finish within 15 minutes".into(),
    })?
    .map_err(|e| BackendError::Bootstrap {
        image: BASE_IMAGE.into(),
        message: format!("cannot run {}: {e}", script.display()),
    })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(BackendError::Bootstrap {
            image: BASE_IMAGE.into(),
            message: err
                .trim()
                .lines()
                .last()
                .unwrap_or("the script failed")
                .to_string(),
        });
    }
    progress.finish(&format!("{BASE_IMAGE} bootstrapped"));
    Ok(())
}

/// The files of a build context, sorted, as (path relative to the context, absolute path).
fn context_files(dir: &Path) -> std::io::Result<Vec<(PathBuf, PathBuf)>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            let p = e.path();
            let ft = e.file_type()?;
            if ft.is_dir() {
                stack.push(p);
            } else if ft.is_file() {
                let rel = p.strip_prefix(dir).unwrap_or(&p).to_path_buf();
                out.push((rel, p));
                if out.len() > MAX_CONTEXT_FILES {
                    return Err(std::io::Error::other("build context has too many files"));
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A digest of the context's files and the base image, so a change to either rebuilds.
pub fn content_hash(dir: &Path, base_id: &str) -> std::io::Result<String> {
    let mut h = Sha256::new();
    h.update(base_id.as_bytes());
    for (rel, abs) in context_files(dir)? {
        h.update(rel.as_os_str().as_encoded_bytes());
        h.update([0]);
        h.update(std::fs::read(abs)?);
        h.update([0]);
    }
    Ok(hex::encode(&h.finalize()[..6]))
}

fn context_tar(dir: &Path) -> std::io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    for (rel, abs) in context_files(dir)? {
        b.append_path_with_name(abs, rel)?;
    }
    b.into_inner()
}

/// Builds `img` unless an image with the same content hash exists; tags it `:latest` too.
/// The base image's id (empty when it is missing): part of every content hash, so a new base
/// rebuilds everything on it.
async fn base_id(docker: &Docker) -> String {
    docker
        .inspect_image(BASE_IMAGE)
        .await
        .ok()
        .and_then(|i| i.id)
        .unwrap_or_default()
}

/// Returns whether a build ran.
pub async fn build(docker: &Docker, img: &ImageBuild, progress: &dyn Progress) -> Result<bool> {
    let fail = |message: String| BackendError::Build {
        repo: img.repo.clone(),
        message,
    };
    let base_id = base_id(docker).await;
    let hash = content_hash(&img.context, &base_id)
        .map_err(|e| fail(format!("cannot read {}: {e}", img.context.display())))?;
    let tagged = format!("{}:{hash}", img.repo);
    let latest = format!("{}:latest", img.repo);
    if docker.inspect_image(&tagged).await.is_ok() {
        tag_latest(docker, &tagged, &img.repo).await?;
        return Ok(false);
    }
    progress.begin(&format!("building {latest}"));
    let build_labels = HashMap::from([
        (labels::MANAGED.to_string(), "true".to_string()),
        (labels::CONTENT_HASH.to_string(), hash.clone()),
    ]);
    run_build(
        docker,
        &img.context,
        "Dockerfile",
        &tagged,
        &build_labels,
        progress,
    )
    .await
    .map_err(fail)?;
    tag_latest(docker, &tagged, &img.repo).await?;
    progress.finish(&format!("built {latest}"));
    Ok(true)
}

/// Builds `context` as `tag`, streaming the build log to `progress`. On failure, the
/// engine's message with the last line the build printed (usually the failing command's).
async fn run_build(
    docker: &Docker,
    context: &Path,
    dockerfile: &str,
    tag: &str,
    build_labels: &HashMap<String, String>,
    progress: &dyn Progress,
) -> std::result::Result<(), String> {
    let tar =
        context_tar(context).map_err(|e| format!("cannot pack {}: {e}", context.display()))?;
    let opts = BuildImageOptionsBuilder::default()
        .dockerfile(dockerfile)
        .t(tag)
        .rm(true)
        .forcerm(true)
        .labels(build_labels)
        .build();
    let mut stream = docker.build_image(opts, None, Some(bollard::body_full(tar.into())));
    // The last lines that say something: the failing command's own output (a compiler
    // error) usually comes a few lines before the line that ends the step.
    let mut tail: Vec<String> = Vec::new();
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| match e {
            bollard::errors::Error::DockerStreamError { error } => failure_text(&error, &tail),
            e => failure_text(&e.to_string(), &tail),
        })?;
        if let Some(detail) = info.error_detail {
            let message = detail.message.unwrap_or_default();
            return Err(failure_text(&message, &tail));
        }
        if let Some(chunk) = info.stream {
            // A step's stderr arrives wrapped in colour codes.
            for line in strip_ansi(&chunk).lines().map(str::trim) {
                if !line.is_empty() {
                    progress.detail(line);
                    if !is_builder_chatter(line) {
                        if tail.len() == TAIL_LINES {
                            tail.remove(0);
                        }
                        tail.push(line.to_string());
                    }
                }
            }
        }
    }
    if docker.inspect_image(tag).await.is_err() {
        return Err(failure_text("the build ended without an image", &tail));
    }
    Ok(())
}

/// Text without terminal escape sequences (`ESC [ ... letter`).
fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The builder's own bookkeeping lines, which never say why a step failed.
fn is_builder_chatter(line: &str) -> bool {
    line.starts_with("---> ")
        || line.starts_with("Removing intermediate container")
        || line.starts_with("Successfully built")
        || line.starts_with("Successfully tagged")
}

/// How many lines of build output a failure shows.
const TAIL_LINES: usize = 6;

/// The engine's error and the last line of build output on the first line, then the lines
/// before it, where the failing command usually said why.
fn failure_text(message: &str, tail: &[String]) -> String {
    let message = message.trim();
    let Some(last) = tail.last() else {
        return message.to_string();
    };
    let mut text = if message.contains(last.as_str()) {
        message.to_string()
    } else if message.is_empty() {
        format!("last build output: {last}")
    } else {
        format!("{message} (last build output: {last})")
    };
    if tail.len() > 1 {
        text.push_str("\n  the build output ends with:");
        for line in tail {
            text.push_str("\n    ");
            text.push_str(line);
        }
    }
    text
}

/// The repository a session's workspace image is built under: one per session and service,
/// so sessions never share (or remove) each other's images.
pub fn workspace_repo(session: &str, service: &str) -> String {
    let service: String = service
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    format!("breakfix/ws-{session}-{}", service.trim_matches('-'))
}

/// Builds a service's image from the session's workspace unless an image with the same
/// content hash exists for this session. Returns the tag to run.
pub async fn build_workspace(
    docker: &Docker,
    service: &str,
    build: &BuildSpec,
    session_labels: &HashMap<String, String>,
    session: &str,
    progress: &dyn Progress,
) -> Result<String> {
    let fail = |message: String| BackendError::BuildService {
        service: service.to_string(),
        message,
    };
    let base_id = base_id(docker).await;
    // The Dockerfile's name is part of what defines the build.
    let hash = content_hash(&build.context, &format!("{base_id}\0{}", build.dockerfile))
        .map_err(|e| fail(format!("cannot read {}: {e}", build.context.display())))?;
    let tag = format!("{}:{hash}", workspace_repo(session, service));
    if docker.inspect_image(&tag).await.is_ok() {
        return Ok(tag);
    }
    progress.begin(&format!(
        "building the image of `{service}` from the workspace"
    ));
    let mut build_labels = session_labels.clone();
    build_labels.insert(labels::SERVICE.to_string(), service.to_string());
    build_labels.insert(labels::CONTENT_HASH.to_string(), hash.clone());
    if let Err(message) = run_build(
        docker,
        &build.context,
        &build.dockerfile,
        &tag,
        &build_labels,
        progress,
    )
    .await
    {
        progress.finish(&format!("the build of `{service}` stopped (see below)"));
        return Err(fail(message));
    }
    progress.finish(&format!("built {tag}"));
    Ok(tag)
}

async fn tag_latest(docker: &Docker, tagged: &str, repo: &str) -> Result<()> {
    let opts = TagImageOptionsBuilder::default()
        .repo(repo)
        .tag("latest")
        .build();
    docker
        .tag_image(tagged, Some(opts))
        .await
        .map_err(|e| BackendError::Engine {
            op: "tag image",
            object: tagged.to_string(),
            source: Box::new(e),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_build_names_the_engine_error_and_the_last_output_line() {
        let tail = |lines: &[&str]| lines.iter().map(|l| l.to_string()).collect::<Vec<_>>();
        assert_eq!(
            failure_text(
                "The command '/bin/sh -c make' returned a non-zero code: 2",
                &tail(&[
                    "ratecalc.c:138:1: error: expected declaration specifiers or '...' at end of input",
                    "make: *** [Makefile:6: ratecalc] Error 1"
                ])
            ),
            "The command '/bin/sh -c make' returned a non-zero code: 2 (last build output: make: *** [Makefile:6: ratecalc] Error 1)\n  the build output ends with:\n    ratecalc.c:138:1: error: expected declaration specifiers or '...' at end of input\n    make: *** [Makefile:6: ratecalc] Error 1"
        );
        assert_eq!(
            failure_text("", &tail(&["Step 3/9 : RUN make"])),
            "last build output: Step 3/9 : RUN make"
        );
        assert_eq!(failure_text("boom", &[]), "boom");
        assert_eq!(
            strip_ansi("\u{1b}[91mmake: *** [Makefile:6: ratecalc] Error 1\n\u{1b}[0m"),
            "make: *** [Makefile:6: ratecalc] Error 1\n"
        );
        assert!(is_builder_chatter("---> Running in 1d8b4569c574"));
        assert!(is_builder_chatter(
            "Removing intermediate container 1d8b4569c574"
        ));
        assert!(!is_builder_chatter(
            "make: *** [Makefile:6: ratecalc] Error 1"
        ));
    }

    #[test]
    fn workspace_images_are_named_per_session_and_service() {
        assert_eq!(
            workspace_repo("harden-image-ab12cd", "rate_calc"),
            "breakfix/ws-harden-image-ab12cd-rate-calc"
        );
    }

    #[test]
    fn the_content_hash_changes_with_a_file_and_not_with_time() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Dockerfile"), "FROM x\n").unwrap();
        let a = content_hash(dir.path(), "base").unwrap();
        assert_eq!(a, content_hash(dir.path(), "base").unwrap());
        std::fs::write(dir.path().join("Dockerfile"), "FROM y\n").unwrap();
        assert_ne!(a, content_hash(dir.path(), "base").unwrap());
        assert_ne!(
            content_hash(dir.path(), "base").unwrap(),
            content_hash(dir.path(), "other").unwrap()
        );
    }
}
