//! Building scenario images from local Dockerfiles, cached by content, on a
//! `debian:bookworm-slim` base that is bootstrapped from Debian's archive when it cannot be
//! pulled.

use std::collections::HashMap;
use std::path::Path;
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
/// What a build from a candidate's workspace may use: memory (swap included), a CPU, time
/// and output. It has no network.
const BUILD_MEMORY: i32 = 512 << 20;
const BUILD_CPU_QUOTA: i32 = 100_000;
const BUILD_TIME: Duration = Duration::from_secs(300);
const BUILD_OUTPUT_CAP: usize = 8 << 20;
/// A scenario's own image (interviewer side) installs packages from Debian's archive.
const SCENARIO_BUILD_TIME: Duration = Duration::from_secs(1800);

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

/// The build context as the engine will receive it: a strict walk (see [`crate::tree`]), so
/// a FIFO, a device, a link that leaves the context or a context past the limits is refused
/// with its path, before anything is read or sent.
pub fn context_tree(dir: &Path) -> std::result::Result<crate::tree::Tree, crate::tree::TreeError> {
    crate::tree::Walk::build_context().run(dir)
}

/// A digest of the context's files and the base image, so a change to either rebuilds.
/// Files are read in chunks; links count by their target.
pub fn content_hash(
    dir: &Path,
    base_id: &str,
) -> std::result::Result<String, crate::tree::TreeError> {
    use crate::tree::Kind;
    let tree = context_tree(dir)?;
    let mut h = Sha256::new();
    h.update(base_id.as_bytes());
    for e in &tree.entries {
        match &e.kind {
            Kind::File { .. } => {
                h.update(e.rel.as_os_str().as_encoded_bytes());
                h.update([0]);
                tree.hash(e, &mut h)?;
                h.update([0]);
            }
            Kind::Link { target } => {
                h.update(e.rel.as_os_str().as_encoded_bytes());
                h.update([1]);
                h.update(target.as_os_str().as_encoded_bytes());
                h.update([1]);
            }
            Kind::Dir | Kind::Special(_) => {}
        }
    }
    Ok(hex::encode(&h.finalize()[..6]))
}

/// The context as a tar stream: regular files read through the walk (bounded), links as
/// links, never followed.
fn context_tar(dir: &Path) -> std::result::Result<Vec<u8>, crate::tree::TreeError> {
    use crate::tree::{Kind, TreeError};
    let tree = context_tree(dir)?;
    let mut b = tar::Builder::new(Vec::new());
    for e in &tree.entries {
        let werr = |source| TreeError::Write {
            path: e.rel.clone(),
            source,
        };
        match &e.kind {
            Kind::File { .. } => {
                let (bytes, meta) = tree.load(e)?;
                let mut header = tar::Header::new_gnu();
                header.set_metadata(&meta);
                header.set_size(bytes.len() as u64);
                b.append_data(&mut header, &e.rel, bytes.as_slice())
                    .map_err(werr)?;
            }
            Kind::Link { target } => {
                let mut header = tar::Header::new_gnu();
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                b.append_link(&mut header, &e.rel, target).map_err(werr)?;
            }
            Kind::Dir | Kind::Special(_) => {}
        }
    }
    b.into_inner().map_err(|source| TreeError::Write {
        path: dir.to_path_buf(),
        source,
    })
}

/// Builds `img` unless an image with the same content hash exists; tags it `:latest` too.
/// The base image's id (empty when it is missing): part of every content hash, so a new base
/// rebuilds everything on it.
pub(crate) async fn base_id(docker: &Docker) -> String {
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
    let hash = content_hash(&img.context, &base_id).map_err(|e| {
        fail(format!(
            "cannot read {}: {}",
            img.context.display(),
            e.explain()
        ))
    })?;
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
        false,
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
    confined: bool,
    progress: &dyn Progress,
) -> std::result::Result<(), String> {
    let tar =
        context_tar(context).map_err(|e| format!("cannot pack {}: {e}", context.display()))?;
    let mut opts = BuildImageOptionsBuilder::default()
        .dockerfile(dockerfile)
        .t(tag)
        .rm(true)
        .forcerm(true)
        .labels(build_labels);
    if confined {
        // A candidate's build runs their code as root in the engine: no network (the
        // packages it needs are in the scenario's images), bounded memory and CPU.
        opts = opts
            .networkmode("none")
            .memory(BUILD_MEMORY)
            .memswap(BUILD_MEMORY)
            .cpuperiod(100_000)
            .cpuquota(BUILD_CPU_QUOTA);
    }
    let mut stream = docker.build_image(opts.build(), None, Some(bollard::body_full(tar.into())));
    let deadline = tokio::time::Instant::now()
        + if confined {
            BUILD_TIME
        } else {
            SCENARIO_BUILD_TIME
        };
    let mut output_bytes = 0usize;
    // The last lines that say something: the failing command's own output (a compiler
    // error) usually comes a few lines before the line that ends the step.
    let mut tail: Vec<String> = Vec::new();
    loop {
        // Dropping the stream closes the request, which stops the build in the engine.
        let item = match tokio::time::timeout_at(deadline, stream.next()).await {
            Ok(Some(item)) => item,
            Ok(None) => break,
            Err(_) => {
                return Err(failure_text(
                    &format!(
                        "the build did not finish within {}",
                        humantime::format_duration(if confined {
                            BUILD_TIME
                        } else {
                            SCENARIO_BUILD_TIME
                        })
                    ),
                    &tail,
                ));
            }
        };
        if let Ok(info) = &item {
            output_bytes += info.stream.as_ref().map_or(0, String::len);
            if confined && output_bytes > BUILD_OUTPUT_CAP {
                return Err(failure_text(
                    &format!(
                        "the build printed more than {} MiB; it was stopped",
                        BUILD_OUTPUT_CAP >> 20
                    ),
                    &tail,
                ));
            }
        }
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
    let hash =
        content_hash(&build.context, &format!("{base_id}\0{}", build.dockerfile)).map_err(|e| {
            fail(format!(
                "cannot read {}: {}",
                build.context.display(),
                e.explain()
            ))
        })?;
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
        true,
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

    fn context() -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        let w = |rel: &str, t: &str| {
            let p = d.path().join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, t).unwrap();
        };
        w("Dockerfile", "FROM debian:bookworm-slim\nCOPY . /src\n");
        w("src/main.c", "int main(void) { return 0; }\n");
        w("src/sub/util.h", "#pragma once\n");
        w("src-extra", "x");
        w("a.txt", "");
        std::fs::create_dir(d.path().join("empty")).unwrap();
        d
    }

    #[test]
    fn a_regular_context_hashes_as_it_always_did() {
        // The digest breakfix computed for this context before it read contexts through
        // `tree`: images built then are not rebuilt.
        assert_eq!(
            content_hash(context().path(), "sha256:base").unwrap(),
            "d2e18dd4ff6e"
        );
    }

    #[test]
    fn a_context_with_a_link_to_dev_zero_is_refused_without_reading_it() {
        let d = context();
        std::os::unix::fs::symlink("/dev/zero", d.path().join("src/zero")).unwrap();
        let e = content_hash(d.path(), "base").unwrap_err().to_string();
        assert!(
            e.ends_with("/src/zero` is a link to `/dev/zero`, which leaves the build context; a build context may hold only regular files, folders and links that stay inside it"),
            "{e}"
        );
        assert!(context_tar(d.path()).is_err());
    }

    #[test]
    fn a_context_with_a_huge_sparse_file_is_refused_by_its_size() {
        let d = context();
        std::fs::File::create(d.path().join("core"))
            .unwrap()
            .set_len(16 << 30)
            .unwrap();
        let clock = std::time::Instant::now();
        let e = context_tar(d.path()).unwrap_err().to_string();
        assert!(clock.elapsed() < std::time::Duration::from_secs(1));
        assert!(
            e.ends_with("/core` (16.0 GiB) takes the build context past 256 MiB, the most breakfix reads from one"),
            "{e}"
        );
    }

    #[test]
    fn a_context_is_packed_with_its_inner_links_as_links() {
        let d = context();
        std::os::unix::fs::symlink("main.c", d.path().join("src/entry.c")).unwrap();
        let tar = context_tar(d.path()).unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let mut seen = vec![];
        for e in archive.entries().unwrap() {
            let e = e.unwrap();
            let path = e.path().unwrap().display().to_string();
            let link = e.link_name().unwrap().map(|l| l.display().to_string());
            seen.push((path, e.header().size().unwrap(), link));
        }
        assert_eq!(
            seen,
            vec![
                ("Dockerfile".to_string(), 38, None),
                ("a.txt".to_string(), 0, None),
                ("src/entry.c".to_string(), 0, Some("main.c".to_string())),
                ("src/main.c".to_string(), 29, None),
                ("src/sub/util.h".to_string(), 13, None),
                ("src-extra".to_string(), 1, None),
            ]
        );
        let before = content_hash(d.path(), "base").unwrap();
        std::fs::remove_file(d.path().join("src/entry.c")).unwrap();
        std::os::unix::fs::symlink("sub/util.h", d.path().join("src/entry.c")).unwrap();
        assert_ne!(before, content_hash(d.path(), "base").unwrap());
    }
}
