//! `pack` and `grade --submission(s)`: take-homes from the interviewer's side.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::{
    CmdResult, assets_dir, engine, find_package, find_package_seeded, interruptible, open_store,
    print_json, report_code,
};
use crate::cli::progress::Term;
use crate::cli::{PackArgs, SubmissionArgs};
use crate::engine::EngineError;
use crate::exit;
use crate::grade::{Report, Scope};
use crate::report::{self, Format};
use crate::scenario::{BackendKind, variables};
use crate::session::Store;
use crate::session::SubmissionInfo;
use crate::takehome::{self, TakeHome, TakeHomeError};

/// The global options these commands use.
pub(super) struct Cx {
    pub state_dir: Option<PathBuf>,
    pub context: Option<String>,
}

pub(super) async fn pack(state_dir: &Option<PathBuf>, scenarios: &Path, a: PackArgs) -> CmdResult {
    let store = open_store(state_dir)?;
    let seed = a.seed.unwrap_or_else(variables::random_seed);
    let pkg = find_package_seeded(scenarios, &a.scenario, Some(&seed))?;
    let binary = if a.without_binary {
        None
    } else {
        Some(
            std::env::current_exe().map_err(|source| TakeHomeError::Write {
                path: a.output.clone(),
                source,
            })?,
        )
    };
    let packed = takehome::pack(
        &store,
        &takehome::PackRequest {
            pkg: &pkg,
            candidate: a.candidate,
            binary,
            assets: assets_dir(scenarios),
            out: a.output.clone(),
        },
    )?;
    let t = &packed.take_home;
    if a.json {
        print_json(&packed);
        return Ok(exit::OK);
    }
    println!(
        "take-home {} ({}) written to {}: {} files, {:.1} MB",
        t.id,
        t.scenario,
        a.output.display(),
        packed.files,
        packed.bytes as f64 / 1e6
    );
    if let Some(v) = &pkg.variant {
        println!("variant     seed {} ({})", v.seed, v.describe());
    }
    if let Some(c) = &t.candidate {
        println!("for         {c}");
    }
    println!(
        "record      {}",
        store
            .root()
            .join("take-homes")
            .join(format!("{}.json", t.id))
            .display()
    );
    println!();
    println!("When the candidate sends their workspace back, grade it here with every check:");
    println!(
        "  breakfix grade --submission <their tarball, bundle or folder> --take-home {}",
        t.id
    );
    Ok(exit::OK)
}

pub(super) async fn grade(
    cx: &Cx,
    scenarios: &Path,
    a: &SubmissionArgs,
    format: Format,
    output: Option<PathBuf>,
) -> CmdResult {
    let store = open_store(&cx.state_dir)?;
    if let Some(dir) = &a.submissions {
        return grade_folder(cx, scenarios, &store, a, dir, output).await;
    }
    let Some(path) = &a.submission else {
        return Ok(exit::USAGE);
    };
    let record = match &a.take_home {
        Some(id) => Some(takehome::load(&store, id)?),
        None => None,
    };
    let candidate = a
        .candidate
        .clone()
        .or_else(|| record.as_ref().and_then(|r| r.candidate.clone()));
    let Some(r) = grade_one(cx, scenarios, a, path, record.as_ref(), candidate).await? else {
        return Ok(exit::INTERRUPTED);
    };
    let key = crate::seal::signing_key_for(store.root())?;
    let text = report::render_sealed(&r, format, key.as_ref());
    match output {
        Some(out) => {
            crate::session::write_atomic(&out, text.as_bytes())?;
            note!(
                "report written to {} (score {} / {})",
                out.display(),
                r.score,
                r.max_score
            );
        }
        None => print!("{text}"),
    }
    Ok(report_code(&r))
}

/// Deploys one submission fresh, grades it with every check, tears it down. `None` when
/// interrupted (what it created is torn down).
async fn grade_one(
    cx: &Cx,
    scenarios: &Path,
    a: &SubmissionArgs,
    path: &Path,
    record: Option<&TakeHome>,
    candidate: Option<String>,
) -> Result<Option<Report>, EngineError> {
    let scenario_arg = a
        .scenario
        .clone()
        .or_else(|| record.map(|r| r.source.to_string_lossy().into_owned()))
        .ok_or_else(|| TakeHomeError::Submission {
            path: path.to_path_buf(),
            why: "name the scenario it answers (--scenario) or its take-home (--take-home)".into(),
        })?;
    let base = find_package(scenarios, &scenario_arg)?;
    let seed = takehome::seed_for(&base.source, a.seed.as_deref(), record);
    if base.source.join(variables::FILE).is_file() && seed.is_none() {
        return Err(TakeHomeError::Submission {
            path: path.to_path_buf(),
            why: format!(
                "scenario {} gives each candidate their own variant: name the take-home (--take-home, its record has the seed) or the seed (--seed)",
                base.id()
            ),
        }
        .into());
    }
    let pkg = match &seed {
        Some(s) => find_package_seeded(scenarios, &scenario_arg, Some(s))?,
        None => base,
    };
    if let Some(r) = record
        && r.scenario != pkg.id()
    {
        return Err(TakeHomeError::Submission {
            path: path.to_path_buf(),
            why: format!(
                "take-home {} was for scenario {}, not {}",
                r.id,
                r.scenario,
                pkg.id()
            ),
        }
        .into());
    }
    let unpacked = takehome::unpack_submission(path)?;
    let info = SubmissionInfo {
        source: path.display().to_string(),
        kind: unpacked.kind,
        take_home: record.map(|r| r.id.clone()),
        issued_to: record.and_then(|r| r.candidate.clone()),
        changes: takehome::diff_trees(&pkg.workspace_dir(), &unpacked.dir),
    };
    let kind = a
        .backend
        .or_else(|| pkg.scenario.backends.first().copied())
        .unwrap_or(BackendKind::Docker);
    let eng = engine(&cx.state_dir, scenarios, kind, &cx.context).await?;
    let mut s = eng.create(&pkg, candidate, None)?;
    note!(
        "grading {} ({}, {} file(s) changed) in session {}",
        path.display(),
        info.kind,
        info.changes.len(),
        s.id
    );
    let progress = Term::new(false);
    let graded = interruptible(async {
        eng.provision_submission(&pkg, &mut s, &unpacked.dir, info, &progress)
            .await?;
        eng.grade(&s.id, Scope::All).await
    })
    .await;
    let id = s.id.clone();
    match graded {
        None => {
            let _ = eng.abort(&mut s, "interrupted").await;
            Ok(None)
        }
        Some(result) => {
            if result.is_err() {
                let _ = eng.abort(&mut s, "grading the submission failed").await;
            } else if let Err(e) = eng.stop(&id).await {
                note!("warning: teardown of {id} did not finish ({e}); run `breakfix gc`");
            }
            result.map(Some)
        }
    }
}

/// The name a submission is known by: its file name without the archive extension.
fn entry_name(p: &Path) -> String {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    for ext in [".tar.gz", ".tgz", ".tar", ".bundle"] {
        if let Some(stem) = name.strip_suffix(ext) {
            return stem.to_string();
        }
    }
    name
}

/// One line of the bulk summary.
#[derive(serde::Serialize)]
#[serde(rename_all = "kebab-case")]
struct Row {
    submission: String,
    candidate: Option<String>,
    take_home: Option<String>,
    score: Option<u32>,
    max_score: Option<u32>,
    percent: Option<u32>,
    checks_passed: Option<String>,
    files_changed: Option<usize>,
    report: Option<PathBuf>,
    error: Option<String>,
}

async fn grade_folder(
    cx: &Cx,
    scenarios: &Path,
    store: &Store,
    a: &SubmissionArgs,
    dir: &Path,
    output: Option<PathBuf>,
) -> CmdResult {
    let out = output.unwrap_or_else(|| PathBuf::from("reports"));
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TakeHomeError::Write { path, source }
    };
    std::fs::create_dir_all(&out).map_err(io(&out))?;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|source| TakeHomeError::SubmissionIo {
            path: dir.to_path_buf(),
            source,
        })?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            !p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'))
        })
        .collect();
    entries.sort();
    let records = takehome::list(store)?;
    let key = crate::seal::signing_key_for(store.root())?;
    note!("{} submission(s) in {}", entries.len(), dir.display());
    let mut rows = vec![];
    let mut interrupted = false;
    for (i, path) in entries.iter().enumerate() {
        let name = entry_name(path);
        let record = takehome::matching(&records, &name);
        note!("\n[{}/{}] {name}", i + 1, entries.len());
        let candidate = record
            .and_then(|r| r.candidate.clone())
            .or_else(|| Some(name.clone()));
        let mut row = Row {
            submission: name.clone(),
            candidate: candidate.clone(),
            take_home: record.map(|r| r.id.clone()),
            score: None,
            max_score: None,
            percent: None,
            checks_passed: None,
            files_changed: None,
            report: None,
            error: None,
        };
        match grade_one(cx, scenarios, a, path, record, candidate).await {
            Ok(Some(r)) => {
                let json_path = out.join(format!("{name}.json"));
                let html_path = out.join(format!("{name}.html"));
                crate::session::write_atomic(
                    &json_path,
                    report::render_sealed(&r, Format::Json, key.as_ref()).as_bytes(),
                )?;
                crate::session::write_atomic(
                    &html_path,
                    report::render(&r, Format::Html).as_bytes(),
                )?;
                row.score = Some(r.score);
                row.max_score = Some(r.max_score);
                row.percent = Some(r.percent);
                let scored: Vec<_> = r.checks.iter().filter(|c| c.points > 0).collect();
                row.checks_passed = Some(format!(
                    "{}/{}",
                    scored
                        .iter()
                        .filter(|c| c.status == crate::check::Status::Pass)
                        .count(),
                    scored.len()
                ));
                row.files_changed = r.submission.as_ref().map(|s| s.changes.len());
                row.report = Some(html_path);
                note!("{name}: {} / {} ({}%)", r.score, r.max_score, r.percent);
            }
            Ok(None) => {
                interrupted = true;
                row.error = Some("interrupted".into());
                rows.push(row);
                break;
            }
            Err(e) => {
                note!("{name}: could not be graded: failed to {e}");
                row.error = Some(format!("failed to {e}"));
            }
        }
        rows.push(row);
    }
    let table = summary_table(&rows);
    std::fs::write(out.join("summary.md"), &table).map_err(io(&out))?;
    std::fs::write(
        out.join("summary.json"),
        serde_json::to_vec_pretty(&json!({ "submissions": rows })).unwrap_or_default(),
    )
    .map_err(io(&out))?;
    println!("\n{table}");
    println!("reports and summary in {}", out.display());
    Ok(if interrupted {
        exit::INTERRUPTED
    } else if rows.iter().any(|r| r.error.is_some()) {
        exit::CHECKS_ERRORED
    } else {
        exit::OK
    })
}

fn summary_table(rows: &[Row]) -> String {
    let mut t = String::from(
        "| submission | candidate | take-home | score | checks passed | files changed | report |\n|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let score = match (r.score, r.max_score, r.percent) {
            (Some(s), Some(m), Some(p)) => format!("{s} / {m} ({p}%)"),
            _ => r.error.clone().unwrap_or_default().replace('|', "/"),
        };
        t.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            r.submission,
            r.candidate.as_deref().unwrap_or("—"),
            r.take_home.as_deref().unwrap_or("—"),
            score,
            r.checks_passed.as_deref().unwrap_or("—"),
            r.files_changed.map_or("—".into(), |n| n.to_string()),
            r.report
                .as_ref()
                .and_then(|p| p.file_name())
                .map_or("—".into(), |n| n.to_string_lossy().into_owned()),
        ));
    }
    t
}

/// `list --take-homes`.
pub(super) fn list(store: &Store, json: bool) -> CmdResult {
    let all = takehome::list(store)?;
    if json {
        print_json(&all);
        return Ok(exit::OK);
    }
    if all.is_empty() {
        println!("no take-homes packed in {}", store.root().display());
    }
    for t in &all {
        println!(
            "{:<10} {:<20} {:<24} {}  {}",
            t.id,
            t.scenario,
            t.candidate.as_deref().unwrap_or("-"),
            t.packed_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            t.bundle.display()
        );
    }
    Ok(exit::OK)
}
