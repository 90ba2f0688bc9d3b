//! Take-home exercises: the bundle a candidate receives (`breakfix pack`), the interviewer's
//! record of it, and reading a submission back (a folder, a tarball or a git bundle) with its
//! differences from the workspace as issued.
//!
//! The bundle holds the briefing, the workspace, the images' sources and the candidate's
//! checks, enough to run the sandbox on the candidate's machine; never the solution, the
//! fixes, the hidden checks, the hints or the interviewer's material. Grading always happens
//! again on the interviewer's machine, from the submitted workspace alone.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::scenario::{BundleInfo, Package, Scenario, Visibility, variables};
use crate::session::{self, Change, FileChange, Store, SubmissionKind};

pub const FORMAT_VERSION: u32 = 1;
/// Submissions larger than this (unpacked) are refused.
pub const MAX_SUBMISSION_BYTES: u64 = 256 << 20;
/// Submissions with more files than this are refused.
pub const MAX_SUBMISSION_FILES: usize = 10_000;
/// A file's diff in the report is cut after this many lines.
const MAX_DIFF_LINES: usize = 300;

#[derive(Debug, thiserror::Error)]
pub enum TakeHomeError {
    #[error("pack into {}: {why}", path.display())]
    Target { path: PathBuf, why: String },
    #[error("write the bundle at {}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("pack {scenario}: the candidate's copy of the scenario does not load:\n{detail}")]
    Invalid { scenario: String, detail: String },
    #[error(
        "pack {scenario}: it is already a candidate's bundle (take-home {take_home}); pack the original scenario"
    )]
    AlreadyBundle { scenario: String, take_home: String },
    #[error("read take-home record {}", path.display())]
    Record {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("read take-home record {}: it is not a take-home record ({detail})", path.display())]
    CorruptRecord { path: PathBuf, detail: String },
    #[error("find take-home `{id}`: no such take-home in {} (packed: {known})", dir.display())]
    NoSuchTakeHome {
        id: String,
        dir: PathBuf,
        known: String,
    },
    #[error("read the submission {}: {why}", path.display())]
    Submission { path: PathBuf, why: String },
    #[error("read the submission {}", path.display())]
    SubmissionIo {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

type Result<T> = std::result::Result<T, TakeHomeError>;

/// The interviewer's record of a take-home sent out: which scenario and which variant (seed),
/// to whom, when. Kept in `<state>/take-homes/<id>.json`; the seed never leaves it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct TakeHome {
    pub format_version: u32,
    pub id: String,
    pub scenario: String,
    pub title: String,
    /// The scenario package it was packed from.
    pub source: PathBuf,
    /// The seed of a parameterised scenario's variant.
    pub seed: Option<String>,
    pub candidate: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub packed_at: OffsetDateTime,
    /// Where the bundle was written.
    pub bundle: PathBuf,
}

fn records_dir(store: &Store) -> PathBuf {
    store.root().join("take-homes")
}

/// Reads the record of take-home `id` (or any unique prefix of it).
pub fn load(store: &Store, id: &str) -> Result<TakeHome> {
    let all = list(store)?;
    let hits: Vec<&TakeHome> = all.iter().filter(|t| t.id.starts_with(id)).collect();
    match hits.as_slice() {
        [one] => Ok((*one).clone()),
        _ => Err(TakeHomeError::NoSuchTakeHome {
            id: id.into(),
            dir: records_dir(store),
            known: if all.is_empty() {
                "none".into()
            } else {
                all.iter()
                    .map(|t| t.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        }),
    }
}

/// Every take-home record, oldest first.
pub fn list(store: &Store) -> Result<Vec<TakeHome>> {
    let dir = records_dir(store);
    let mut out = vec![];
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Ok(out);
    };
    for e in rd.filter_map(std::result::Result::ok) {
        let path = e.path();
        if path.extension().is_none_or(|x| x != "json") {
            continue;
        }
        let bytes = std::fs::read(&path).map_err(|source| TakeHomeError::Record {
            path: path.clone(),
            source,
        })?;
        let t: TakeHome =
            serde_json::from_slice(&bytes).map_err(|e| TakeHomeError::CorruptRecord {
                path: path.clone(),
                detail: e.to_string(),
            })?;
        out.push(t);
    }
    out.sort_by_key(|t| t.packed_at);
    Ok(out)
}

/// The take-home a submission's name (`ada.tar.gz`, `th-3f9k2a`) points at: a take-home id
/// (or a prefix of it), or the candidate's name written in any case with `-`/`_` for spaces.
pub fn matching<'a>(records: &'a [TakeHome], name: &str) -> Option<&'a TakeHome> {
    let slug = |s: &str| {
        s.to_lowercase()
            .chars()
            .map(|c| if c.is_alphanumeric() { c } else { '-' })
            .collect::<String>()
    };
    let name = slug(name);
    let by_id: Vec<_> = records.iter().filter(|t| name.starts_with(&t.id)).collect();
    if let [one] = by_id.as_slice() {
        return Some(one);
    }
    let by_name: Vec<_> = records
        .iter()
        .filter(|t| t.candidate.as_deref().is_some_and(|c| slug(c) == name))
        .collect();
    match by_name.as_slice() {
        [one] => Some(one),
        _ => None,
    }
}

/// The scenario as the candidate's copy states it: only the checks the candidate may run,
/// no solution, hints, fix notes or interviewer material.
pub fn candidate_scenario(sc: &Scenario, take_home: &str, packed_at: &str) -> Scenario {
    let mut c = sc.clone();
    c.summary = String::new();
    c.checks.retain(|k| k.visibility == Visibility::Candidate);
    let kept: Vec<String> = c.checks.iter().map(|k| k.id.value.clone()).collect();
    c.environment
        .broken_when
        .failing
        .retain(|id| kept.contains(&id.value));
    for f in &mut c.faults {
        f.description = "the incident's conditions".into();
    }
    c.hints.clear();
    c.solution = crate::scenario::Solution {
        description: "not part of the candidate's copy".into(),
        steps: vec![],
    };
    c.follow_ups.clear();
    c.rubric.strong_signals.clear();
    c.rubric.red_flags.clear();
    c.bundle = Some(BundleInfo {
        take_home: take_home.into(),
        packed_at: packed_at.into(),
    });
    c
}

/// What `pack` needs besides the scenario.
pub struct PackRequest<'a> {
    /// The package, rendered for the candidate's seed when it is parameterised.
    pub pkg: &'a Package,
    pub candidate: Option<String>,
    /// The breakfix executable to ship in the bundle (none: the candidate installs it).
    pub binary: Option<PathBuf>,
    /// breakfix's `docker/` folder (the probe image's source, the base image bootstrap).
    pub assets: PathBuf,
    /// A folder (created; must be new or empty) or a `.tar.gz`/`.tgz` file.
    pub out: PathBuf,
}

/// What `pack` wrote.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Packed {
    pub take_home: TakeHome,
    pub files: usize,
    pub bytes: u64,
}

fn is_tarball(p: &Path) -> bool {
    let name = p.to_string_lossy();
    name.ends_with(".tar.gz") || name.ends_with(".tgz")
}

/// Writes the candidate's bundle and the interviewer's record of it.
pub fn pack(store: &Store, req: &PackRequest) -> Result<Packed> {
    let pkg = req.pkg;
    if let Some(b) = &pkg.scenario.bundle {
        return Err(TakeHomeError::AlreadyBundle {
            scenario: pkg.id().into(),
            take_home: b.take_home.clone(),
        });
    }
    let now = OffsetDateTime::now_utc();
    let id = session::new_id("th");
    let packed_at = now
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let write = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TakeHomeError::Write { path, source }
    };
    let tarball = is_tarball(&req.out);
    let staging = tempfile::Builder::new()
        .prefix("breakfix-pack-")
        .tempdir()
        .map_err(write(&req.out))?;
    let folder_name = format!("{}-{id}", pkg.id());
    let root = if tarball {
        if req.out.exists() {
            return Err(TakeHomeError::Target {
                path: req.out.clone(),
                why: "the file exists; pick a new name".into(),
            });
        }
        staging.path().join(&folder_name)
    } else {
        if req.out.exists() && std::fs::read_dir(&req.out).map_or(true, |mut d| d.next().is_some())
        {
            return Err(TakeHomeError::Target {
                path: req.out.clone(),
                why: "the folder exists and is not empty; pick a new one".into(),
            });
        }
        req.out.clone()
    };
    std::fs::create_dir_all(&root).map_err(write(&root))?;

    // The scenario, as the candidate's copy.
    let dest = root.join("scenarios").join(pkg.id());
    std::fs::create_dir_all(&dest).map_err(write(&dest))?;
    let copy = |rel: &str| -> Result<()> {
        let from = pkg.root.join(rel);
        if from.is_dir() {
            crate::tree::copy(&from, &dest.join(rel)).map_err(|e| TakeHomeError::Target {
                path: dest.join(rel),
                why: format!("failed to copy {rel}: {e}"),
            })?;
        } else if from.is_file() {
            std::fs::copy(&from, dest.join(rel)).map_err(write(&dest.join(rel)))?;
        }
        Ok(())
    };
    copy("briefing.md")?;
    copy("workspace")?;
    for image in &pkg.scenario.environment.images {
        copy(&format!("images/{}", image.value))?;
    }
    if let Some(repo) = &pkg.scenario.environment.repository {
        for h in &repo.history {
            copy(&h.files.value)?;
        }
    }
    let scenario = candidate_scenario(&pkg.scenario, &id, &packed_at);
    let yaml = crate::yaml::to_string(&scenario).map_err(|why| TakeHomeError::Target {
        path: dest.join("scenario.yaml"),
        why: format!("failed to write the scenario: {why}"),
    })?;
    let header = format!(
        "# The candidate's copy of scenario `{}` (take-home {id}), made by `breakfix pack`.\n# It starts the sandbox and runs the checks you may see; grading happens on the\n# interviewer's side.\n",
        pkg.id()
    );
    std::fs::write(dest.join("scenario.yaml"), header + &yaml)
        .map_err(write(&dest.join("scenario.yaml")))?;
    crate::scenario::load(&dest).map_err(|e| TakeHomeError::Invalid {
        scenario: pkg.id().into(),
        detail: e.to_string(),
    })?;

    // What the candidate's breakfix needs beside it, and the instructions.
    if req.assets.is_dir() {
        crate::tree::copy(&req.assets, &root.join("docker")).map_err(|e| {
            TakeHomeError::Target {
                path: root.join("docker"),
                why: format!("failed to copy breakfix's docker/ folder: {e}"),
            }
        })?;
    }
    std::fs::write(root.join("BRIEFING.md"), &pkg.briefing).map_err(write(&root))?;
    std::fs::write(
        root.join("README.md"),
        candidate_readme(pkg, &id, req.binary.is_some()),
    )
    .map_err(write(&root))?;
    let manifest = serde_json::json!({
        "format-version": FORMAT_VERSION,
        "take-home": id,
        "scenario": pkg.id(),
        "title": pkg.scenario.title,
        "time-limit": humantime::format_duration(pkg.scenario.time_limit.0).to_string(),
        "packed-at": packed_at,
    });
    std::fs::write(
        root.join("take-home.json"),
        serde_json::to_vec_pretty(&manifest).unwrap_or_default(),
    )
    .map_err(write(&root))?;
    if let Some(bin) = &req.binary {
        let to = root.join("breakfix");
        std::fs::copy(bin, &to).map_err(write(&to))?;
    }

    let (files, mut bytes) = tree_size(&root);
    if tarball {
        bytes = write_tarball(&root, &folder_name, &req.out)?;
    }
    let record = TakeHome {
        format_version: FORMAT_VERSION,
        id: id.clone(),
        scenario: pkg.id().into(),
        title: pkg.scenario.title.clone(),
        source: pkg
            .source
            .canonicalize()
            .unwrap_or_else(|_| pkg.source.clone()),
        seed: pkg.variant.as_ref().map(|v| v.seed.clone()),
        candidate: req.candidate.clone(),
        packed_at: now,
        bundle: std::path::absolute(&req.out).unwrap_or_else(|_| req.out.clone()),
    };
    let path = records_dir(store).join(format!("{id}.json"));
    session::write_atomic(
        &path,
        &serde_json::to_vec_pretty(&record).unwrap_or_default(),
    )
    .map_err(|e| TakeHomeError::Target {
        path: path.clone(),
        why: format!("failed to save the take-home record: {e}"),
    })?;
    Ok(Packed {
        take_home: record,
        files,
        bytes,
    })
}

fn tree_size(root: &Path) -> (usize, u64) {
    let files = crate::scenario::load::files_under(root);
    let bytes = files
        .iter()
        .filter_map(|f| std::fs::metadata(root.join(f)).ok())
        .map(|m| m.len())
        .sum();
    (files.len(), bytes)
}

fn write_tarball(root: &Path, folder: &str, out: &Path) -> Result<u64> {
    let err = |source| TakeHomeError::Write {
        path: out.to_path_buf(),
        source,
    };
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let tmp = tempfile::NamedTempFile::new_in(
        out.parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new(".")),
    )
    .map_err(err)?;
    {
        let gz = flate2::write::GzEncoder::new(tmp.as_file(), flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        tar.follow_symlinks(false);
        tar.append_dir_all(folder, root).map_err(err)?;
        tar.into_inner().map_err(err)?.finish().map_err(err)?;
    }
    tmp.persist(out).map_err(|e| err(e.error))?;
    // A bundle is for sending: readable like any file the user makes.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(out, std::fs::Permissions::from_mode(0o644)).map_err(err)?;
    Ok(std::fs::metadata(out).map(|m| m.len()).unwrap_or(0))
}

fn candidate_readme(pkg: &Package, id: &str, with_binary: bool) -> String {
    let sid = pkg.id();
    let limit = humantime::format_duration(pkg.scenario.time_limit.0);
    let bin = if with_binary {
        "./breakfix"
    } else {
        "breakfix"
    };
    let backend = pkg
        .scenario
        .backends
        .first()
        .copied()
        .unwrap_or(crate::scenario::BackendKind::Docker);
    let needs = match backend {
        crate::scenario::BackendKind::Docker => {
            "a Linux machine with Docker (the engine must answer `docker info`)".to_string()
        }
        crate::scenario::BackendKind::Kube => "a Kubernetes cluster in your current kubeconfig context (kind works), and Docker to build the images".to_string(),
    };
    let install = if with_binary {
        format!(
            "`breakfix` ({}, {}) is in this folder.",
            std::env::consts::OS,
            std::env::consts::ARCH
        )
    } else {
        "Install breakfix first (see its README), then run the commands below from this folder."
            .to_string()
    };
    format!(
        "# Take-home exercise: {title}\n\n\
Take-home `{id}`. Read `BRIEFING.md` first: it is the page or ticket you are answering.\n\n\
You need {needs}. {install}\n\n\
## Start the sandbox\n\n\
From this folder:\n\n\
```sh\n{bin} start {sid} --workspace ./work --candidate \"Your Name\"\n```\n\n\
It builds the images (a few minutes the first time), starts the broken system and the clock\n\
(you are given {limit}), and prints the briefing again. Your workspace is `./work`: it is\n\
the source of truth for what is deployed.\n\n\
## While you work\n\n\
- Use the tools you would use on call (`docker ps`, `docker logs`, `docker inspect`,\n\
  `docker exec`, `kubectl` ...).\n\
- `{bin} apply` redeploys the workspace after you change it.\n\
- `{bin} check` runs the checks you are allowed to see. There are more: the interviewer\n\
  grades your submission again on their side with every check, from your workspace alone,\n\
  so what counts is what is in `./work`, not changes made by hand in running containers.\n\
- `{bin} stop` tears the sandbox down when you are done.\n\n\
## Hand in\n\n\
Send back your workspace, as a tarball or, if it is a git repository, a git bundle:\n\n\
```sh\ntar czf submission.tar.gz -C work .\n# or, for a git repository:\ngit -C work bundle create ../submission.bundle --all\n```\n\n\
Add a short note of what you found, what you changed and why (an `INCIDENT.md` or\n\
`NOTES.md` in the workspace is a good place): the interviewer will ask you about it.\n",
        title = pkg.scenario.title,
    )
}

/// A submission made ready to grade: its files in a folder of their own.
pub struct Unpacked {
    pub kind: SubmissionKind,
    /// The workspace's files (inside `_tmp` unless the submission is a folder).
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

/// Reads a submission: a workspace folder, a tarball (`.tar`, `.tar.gz`, `.tgz`; a single
/// top folder is stepped into) or a git bundle (cloned; its working tree is the workspace).
pub fn unpack_submission(path: &Path) -> Result<Unpacked> {
    let bad = |why: String| TakeHomeError::Submission {
        path: path.to_path_buf(),
        why,
    };
    let io = |source| TakeHomeError::SubmissionIo {
        path: path.to_path_buf(),
        source,
    };
    if path.is_dir() {
        judge_submission(path).map_err(bad)?;
        return Ok(Unpacked {
            kind: SubmissionKind::Folder,
            dir: path.to_path_buf(),
            _tmp: None,
        });
    }
    if !path.is_file() {
        return Err(bad("no such file or folder".into()));
    }
    let mut head = [0u8; 16];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(io)?;
    let head = &head[..n];
    let tmp = tempfile::Builder::new()
        .prefix("breakfix-submission-")
        .tempdir()
        .map_err(io)?;
    let out = tmp.path().join("workspace");
    let kind = if head.starts_with(b"# v2 git bundle") || head.starts_with(b"# v3 git bundle") {
        let done = std::process::Command::new("git")
            .args(["clone", "--quiet"])
            .arg(path)
            .arg(&out)
            .output()
            .map_err(|e| bad(format!("failed to run git to read the bundle: {e}")))?;
        if !done.status.success() {
            return Err(bad(format!(
                "git could not clone it: {}",
                String::from_utf8_lossy(&done.stderr).trim()
            )));
        }
        SubmissionKind::GitBundle
    } else {
        let file = std::fs::File::open(path).map_err(io)?;
        let reader: Box<dyn Read> = if head.starts_with(&[0x1f, 0x8b]) {
            Box::new(flate2::read::GzDecoder::new(file))
        } else {
            Box::new(file)
        };
        unpack_tar(reader, &out).map_err(bad)?;
        SubmissionKind::Tarball
    };
    // A tarball of a folder (`tar czf x.tgz work/`) holds one top folder: that is the workspace.
    let mut dir = out.clone();
    let entries: Vec<_> = std::fs::read_dir(&out)
        .map_err(io)?
        .filter_map(std::result::Result::ok)
        .collect();
    if let [only] = entries.as_slice()
        && only.file_type().is_ok_and(|t| t.is_dir())
        && only.file_name() != ".git"
    {
        dir = only.path();
    }
    // A git bundle's working tree may hold links, and any size.
    judge_submission(&dir).map_err(bad)?;
    Ok(Unpacked {
        kind,
        dir,
        _tmp: Some(tmp),
    })
}

/// How much of a submitted workspace breakfix reads.
const SUBMISSION_LIMITS: crate::tree::Limits = crate::tree::Limits {
    entries: MAX_SUBMISSION_FILES,
    bytes: MAX_SUBMISSION_BYTES,
    ..crate::tree::Limits::WORKSPACE
};

/// A strict walk of a submitted workspace (see [`crate::tree`]): special files, links that
/// leave it and anything past the limits are refused by name before it is diffed or copied.
fn judge_submission(dir: &Path) -> std::result::Result<(), String> {
    crate::tree::Walk::new("submission")
        .limits(SUBMISSION_LIMITS)
        .run(dir)
        .map(|_| ())
        .map_err(|e| e.explain())
}

/// Unpacks a tar stream into `out`, refusing entries that leave it, links, devices, and
/// more than breakfix's limits of files and bytes.
fn unpack_tar(reader: impl Read, out: &Path) -> std::result::Result<(), String> {
    std::fs::create_dir_all(out).map_err(|e| e.to_string())?;
    let mut archive = tar::Archive::new(reader);
    let mut files = 0usize;
    let mut bytes = 0u64;
    let entries = archive
        .entries()
        .map_err(|e| format!("it is not a tar archive: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("it is not a readable tar archive: {e}"))?;
        let path = entry
            .path()
            .map_err(|e| format!("an entry has an unreadable name: {e}"))?
            .into_owned();
        let kind = entry.header().entry_type();
        if !(kind.is_file() || kind.is_dir()) {
            // Links and devices are not part of a workspace.
            continue;
        }
        if path.is_absolute()
            || path
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err(format!(
                "entry `{}` would be written outside the workspace",
                path.display()
            ));
        }
        files += 1;
        bytes += entry.header().size().unwrap_or(0);
        if files > MAX_SUBMISSION_FILES || bytes > MAX_SUBMISSION_BYTES {
            return Err(format!(
                "it unpacks to more than {MAX_SUBMISSION_FILES} files or {MAX_SUBMISSION_BYTES} bytes"
            ));
        }
        let ok = entry
            .unpack_in(out)
            .map_err(|e| format!("failed to unpack `{}`: {e}", path.display()))?;
        if !ok {
            return Err(format!(
                "entry `{}` would be written outside the workspace",
                path.display()
            ));
        }
    }
    Ok(())
}

/// Regular files under a folder except git's own, by relative path, read through a lenient
/// walk (see [`crate::tree`]): links and special files are not files of a submission, and
/// each read stops at the size the walk saw. An unreadable folder holds no files.
struct Files {
    tree: Option<crate::tree::Tree>,
    index: BTreeMap<String, usize>,
}

impl Files {
    fn of(dir: &Path) -> Files {
        let tree = crate::tree::Walk::new("submission")
            .limits(SUBMISSION_LIMITS)
            .lenient()
            .skip(&[".git"])
            .run(dir)
            .ok();
        let index = tree
            .iter()
            .flat_map(|t| t.entries.iter().enumerate())
            .filter(|(_, e)| matches!(e.kind, crate::tree::Kind::File { .. }))
            .map(|(i, e)| (e.rel.to_string_lossy().into_owned(), i))
            .collect();
        Files { tree, index }
    }

    fn read(&self, rel: &str) -> Vec<u8> {
        match (&self.tree, self.index.get(rel)) {
            (Some(t), Some(&i)) => t.read(&t.entries[i]).unwrap_or_default(),
            _ => vec![],
        }
    }
}

/// How `submitted` differs from `original`: files added, removed and changed, with a
/// unified diff of each text file.
pub fn diff_trees(original: &Path, submitted: &Path) -> Vec<FileChange> {
    let (a, b) = (Files::of(original), Files::of(submitted));
    let mut out = vec![];
    for rel in a.index.keys() {
        if b.index.contains_key(rel) {
            let (x, y) = (a.read(rel), b.read(rel));
            if x != y {
                out.push(FileChange {
                    path: rel.clone(),
                    change: Change::Changed,
                    diff: text_diff(rel, &x, &y),
                });
            }
        } else {
            out.push(FileChange {
                path: rel.clone(),
                change: Change::Removed,
                diff: text_diff(rel, &a.read(rel), &[]),
            });
        }
    }
    for rel in b.index.keys() {
        if !a.index.contains_key(rel) {
            out.push(FileChange {
                path: rel.clone(),
                change: Change::Added,
                diff: text_diff(rel, &[], &b.read(rel)),
            });
        }
    }
    out.sort_by(|x, y| x.path.cmp(&y.path));
    out
}

fn text_diff(rel: &str, old: &[u8], new: &[u8]) -> Option<String> {
    let (old, new) = (
        std::str::from_utf8(old).ok()?,
        std::str::from_utf8(new).ok()?,
    );
    let diff = similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{rel}"), &format!("b/{rel}"))
        .to_string();
    let lines: Vec<&str> = diff.lines().collect();
    if lines.len() > MAX_DIFF_LINES {
        Some(format!(
            "{}\n… {} more lines",
            lines[..MAX_DIFF_LINES].join("\n"),
            lines.len() - MAX_DIFF_LINES
        ))
    } else {
        Some(diff)
    }
}

/// The seed to grade a parameterised scenario's submission with: the take-home's record's
/// (the variant that candidate received), else the one given; `None` when the scenario has
/// no variables.
pub fn seed_for(pkg_root: &Path, given: Option<&str>, record: Option<&TakeHome>) -> Option<String> {
    if !pkg_root.join(variables::FILE).is_file() {
        return None;
    }
    record
        .and_then(|t| t.seed.clone())
        .or_else(|| given.map(str::to_string))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, rel: &str, text: &str) {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    #[test]
    fn the_diff_names_files_added_removed_and_changed_with_unified_hunks() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        write(a.path(), "conf/site.conf", "listen 80;\nserver x;\n");
        write(a.path(), "gone.txt", "bye\n");
        write(b.path(), "conf/site.conf", "listen 8080;\nserver x;\n");
        write(b.path(), "NOTES.md", "found it\n");
        write(b.path(), ".git/HEAD", "ref: refs/heads/main\n");
        let d = diff_trees(a.path(), b.path());
        let summary: Vec<_> = d
            .iter()
            .map(|c| (c.path.as_str(), c.change.clone()))
            .collect();
        assert_eq!(
            summary,
            vec![
                ("NOTES.md", Change::Added),
                ("conf/site.conf", Change::Changed),
                ("gone.txt", Change::Removed)
            ]
        );
        let hunk = d[1].diff.as_deref().unwrap();
        assert!(hunk.contains("--- a/conf/site.conf"), "{hunk}");
        assert!(hunk.contains("-listen 80;\n+listen 8080;"), "{hunk}");
    }

    #[test]
    fn a_tarball_with_one_top_folder_unpacks_to_that_folder() {
        let src = tempfile::tempdir().unwrap();
        write(src.path(), "work/compose.yaml", "services: {}\n");
        let tgz = src.path().join("sub.tgz");
        {
            let f = std::fs::File::create(&tgz).unwrap();
            let gz = flate2::write::GzEncoder::new(f, flate2::Compression::fast());
            let mut t = tar::Builder::new(gz);
            t.append_dir_all("work", src.path().join("work")).unwrap();
            t.into_inner().unwrap().finish().unwrap();
        }
        let u = unpack_submission(&tgz).unwrap();
        assert_eq!(u.kind, SubmissionKind::Tarball);
        assert!(u.dir.join("compose.yaml").is_file());
    }

    #[test]
    fn a_tarball_entry_that_leaves_the_workspace_is_refused() {
        let src = tempfile::tempdir().unwrap();
        let tar_path = src.path().join("evil.tar");
        {
            let f = std::fs::File::create(&tar_path).unwrap();
            let mut t = tar::Builder::new(f);
            let data = b"owned\n";
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            // Builder refuses `..` in set_path; write the raw name bytes.
            let name = b"../../escaped.txt";
            h.as_old_mut().name[..name.len()].copy_from_slice(name);
            h.set_cksum();
            t.append(&h, &data[..]).unwrap();
            t.finish().unwrap();
        }
        let e = unpack_submission(&tar_path).err().unwrap().to_string();
        assert!(e.contains("would be written outside the workspace"), "{e}");
        assert!(!src.path().join("escaped.txt").exists());
    }

    #[test]
    fn something_that_is_no_archive_is_refused_with_its_name() {
        let src = tempfile::tempdir().unwrap();
        let p = src.path().join("notes.txt");
        std::fs::write(&p, "x".repeat(2000)).unwrap();
        let e = unpack_submission(&p).err().unwrap().to_string();
        assert!(e.contains("notes.txt"), "{e}");
        assert!(e.contains("tar archive"), "{e}");
    }

    #[test]
    fn a_submission_name_finds_its_take_home_by_id_or_candidate() {
        let mk = |id: &str, who: &str| TakeHome {
            format_version: 1,
            id: id.into(),
            scenario: "s".into(),
            title: "t".into(),
            source: "/s".into(),
            seed: Some(format!("seed-{id}")),
            candidate: Some(who.into()),
            packed_at: OffsetDateTime::UNIX_EPOCH,
            bundle: "/b".into(),
        };
        let records = vec![
            mk("th-abc234", "Ada Lovelace"),
            mk("th-xyz789", "Grace Hopper"),
        ];
        assert_eq!(matching(&records, "ada-lovelace").unwrap().id, "th-abc234");
        assert_eq!(matching(&records, "Grace_Hopper").unwrap().id, "th-xyz789");
        assert_eq!(
            matching(&records, "th-xyz789-final").unwrap().id,
            "th-xyz789"
        );
        assert!(matching(&records, "alan").is_none());
    }

    #[test]
    fn a_submitted_folder_holding_a_fifo_or_a_link_leading_out_is_refused_by_name() {
        let src = tempfile::tempdir().unwrap();
        let sub = src.path().join("work");
        write(&sub, "compose.yaml", "services: {}\n");
        std::os::unix::fs::symlink("/etc/passwd", sub.join("passwd")).unwrap();
        let e = unpack_submission(&sub).err().unwrap().to_string();
        assert!(
            e.ends_with(": `work/passwd` is a link to `/etc/passwd`, which leaves the submission; a submission may hold only regular files, folders and links that stay inside it"),
            "{e}"
        );
        std::fs::remove_file(sub.join("passwd")).unwrap();
        let made = std::process::Command::new("mkfifo")
            .arg(sub.join("pipe"))
            .status()
            .unwrap();
        assert!(made.success());
        let (tx, rx) = std::sync::mpsc::channel();
        let s = sub.clone();
        std::thread::spawn(move || {
            let _ = tx.send(unpack_submission(&s).err().map(|e| e.to_string()));
        });
        let e = rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("reading the submission blocked")
            .unwrap();
        assert!(e.contains("`work/pipe` is a FIFO"), "{e}");
        // Diffing never opens it either.
        let orig = tempfile::tempdir().unwrap();
        write(orig.path(), "compose.yaml", "services: {}\n");
        assert!(diff_trees(orig.path(), &sub).is_empty());
    }
}
