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
/// Returns whether a build ran.
pub async fn build(docker: &Docker, img: &ImageBuild, progress: &dyn Progress) -> Result<bool> {
    let fail = |message: String| BackendError::Build {
        repo: img.repo.clone(),
        message,
    };
    let base_id = docker
        .inspect_image(BASE_IMAGE)
        .await
        .ok()
        .and_then(|i| i.id)
        .unwrap_or_default();
    let hash = content_hash(&img.context, &base_id)
        .map_err(|e| fail(format!("cannot read {}: {e}", img.context.display())))?;
    let tagged = format!("{}:{hash}", img.repo);
    let latest = format!("{}:latest", img.repo);
    if docker.inspect_image(&tagged).await.is_ok() {
        tag_latest(docker, &tagged, &img.repo).await?;
        return Ok(false);
    }
    progress.begin(&format!("building {latest}"));
    let tar = context_tar(&img.context)
        .map_err(|e| fail(format!("cannot pack {}: {e}", img.context.display())))?;
    let build_labels = HashMap::from([
        (labels::MANAGED.to_string(), "true".to_string()),
        (labels::CONTENT_HASH.to_string(), hash.clone()),
    ]);
    let opts = BuildImageOptionsBuilder::default()
        .dockerfile("Dockerfile")
        .t(&tagged)
        .rm(true)
        .forcerm(true)
        .labels(&build_labels)
        .build();
    let mut stream = docker.build_image(opts, None, Some(bollard::body_full(tar.into())));
    let mut last = String::new();
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| fail(e.to_string()))?;
        if let Some(detail) = info.error_detail {
            return Err(fail(detail.message.unwrap_or_else(|| last.clone())));
        }
        if let Some(line) = info.stream {
            let line = line.trim();
            if !line.is_empty() {
                progress.detail(line);
                last = line.to_string();
            }
        }
    }
    if docker.inspect_image(&tagged).await.is_err() {
        return Err(fail(format!(
            "the build ended without an image (last output: {last})"
        )));
    }
    tag_latest(docker, &tagged, &img.repo).await?;
    progress.finish(&format!("built {latest}"));
    Ok(true)
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
