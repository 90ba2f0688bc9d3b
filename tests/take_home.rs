//! Take-homes end to end: the candidate's bundle reveals nothing it must not, runs the
//! sandbox on its own, and a returned workspace is graded fresh on the interviewer's side.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use breakfix::scenario::{self, Visibility};
use common::*;

const SCENARIO: &str = "crashloop-docker";

fn package(seed: &str) -> scenario::Package {
    scenario::load_seeded(&repo().join("scenarios").join(SCENARIO), Some(seed)).unwrap()
}

/// Every file of a folder, relative, with its bytes.
fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((
                    p.strip_prefix(dir).unwrap().to_path_buf(),
                    std::fs::read(&p).unwrap(),
                ));
            }
        }
    }
    out
}

/// Asserts that nothing in the bundle gives away the solution, the hidden checks, the hints,
/// the interviewer's material or the seed.
fn assert_reveals_nothing(bundle: &Path, seed: &str) {
    let pkg = package(seed);
    let all = files(bundle);
    let texts: Vec<(String, String)> = all
        .iter()
        .filter(|(p, _)| p != Path::new("breakfix"))
        .map(|(p, b)| {
            (
                p.display().to_string(),
                String::from_utf8_lossy(b).into_owned(),
            )
        })
        .collect();
    assert!(
        texts
            .iter()
            .any(|(p, _)| p.ends_with("workspace/compose.yaml"))
    );
    for (path, _) in &texts {
        for banned in ["solution/", "fixes/", "variables.yaml", "variant.json"] {
            assert!(!path.contains(banned), "the bundle holds {path}");
        }
    }
    let mut secrets: Vec<(String, String)> = vec![];
    for c in &pkg.scenario.checks {
        if c.visibility == Visibility::Hidden {
            secrets.push((
                format!("hidden check id {}", c.id.value),
                c.id.value.clone(),
            ));
            secrets.push((
                format!("hidden check title {}", c.id.value),
                c.title.clone(),
            ));
        }
    }
    for (i, h) in pkg.scenario.hints.iter().enumerate() {
        secrets.push((
            format!("hint {}", i + 1),
            h.text.trim().chars().take(60).collect(),
        ));
    }
    let first_line = |s: &str| s.trim().lines().next().unwrap_or_default().to_string();
    secrets.push((
        "solution".into(),
        first_line(&pkg.scenario.solution.description),
    ));
    for s in pkg
        .scenario
        .rubric
        .strong_signals
        .iter()
        .chain(&pkg.scenario.rubric.red_flags)
    {
        secrets.push(("rubric".into(), first_line(s)));
    }
    for f in &pkg.scenario.follow_ups {
        secrets.push(("follow-up".into(), first_line(f)));
    }
    secrets.push(("summary".into(), first_line(&pkg.scenario.summary)));
    secrets.push(("seed".into(), seed.to_string()));
    // Every line the reference solution changes or adds.
    for (rel, bytes) in files(&pkg.solution_dir()) {
        let was = std::fs::read_to_string(pkg.workspace_dir().join(&rel)).unwrap_or_default();
        for line in String::from_utf8_lossy(&bytes).lines() {
            if !line.trim().is_empty() && !was.lines().any(|l| l == line) {
                secrets.push((
                    format!("solution line of {}", rel.display()),
                    line.trim().to_string(),
                ));
            }
        }
    }
    assert!(secrets.len() > 15, "{secrets:?}");
    for (what, secret) in &secrets {
        assert!(!secret.is_empty(), "{what}");
        for (path, text) in &texts {
            assert!(
                !text.contains(secret.as_str()),
                "{path} reveals the {what}: {secret:?}"
            );
        }
    }
}

#[test]
fn a_bundle_reveals_neither_the_solution_nor_the_hidden_checks() {
    let env = Env::new();
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("ada");
    let packed = env.json(
        &[
            "pack",
            SCENARIO,
            "--seed",
            "seed-ada",
            "--candidate",
            "Ada Lovelace",
            "-o",
            dir.to_str().unwrap(),
            "--json",
        ],
        EXIT_OK,
    );
    let id = packed["take-home"]["id"].as_str().unwrap().to_string();
    assert_reveals_nothing(&dir, "seed-ada");
    // What the candidate needs is there, and their copy of the scenario loads as one.
    for f in [
        "README.md",
        "BRIEFING.md",
        "take-home.json",
        "breakfix",
        "docker/probe/Dockerfile",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    assert!(
        readme.contains("./breakfix start crashloop-docker --workspace ./work"),
        "{readme}"
    );
    let copy = scenario::load(&dir.join("scenarios").join(SCENARIO)).unwrap();
    assert_eq!(copy.scenario.bundle.as_ref().unwrap().take_home, id);
    assert!(
        copy.scenario
            .checks
            .iter()
            .all(|c| c.visibility == Visibility::Candidate)
    );
    // The interviewer's record keeps the seed and the candidate.
    let record: serde_json::Value = serde_json::from_slice(
        &std::fs::read(
            env.state
                .path()
                .join("take-homes")
                .join(format!("{id}.json")),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(record["seed"], "seed-ada");
    assert_eq!(record["candidate"], "Ada Lovelace");
    let listed = env.json(&["list", "--take-homes", "--json"], EXIT_OK);
    assert_eq!(listed[0]["id"], id.as_str());
    assert_eq!(listed[0]["scenario"], SCENARIO);
    // A tarball holds the same, under one top folder.
    let tgz = out.path().join("grace.tar.gz");
    env.expect(
        &[
            "pack",
            SCENARIO,
            "--seed",
            "seed-grace",
            "-o",
            tgz.to_str().unwrap(),
            "--without-binary",
        ],
        EXIT_OK,
    );
    let unpacked = out.path().join("unpacked");
    std::fs::create_dir_all(&unpacked).unwrap();
    let st = Command::new("tar")
        .args([
            "xzf",
            tgz.to_str().unwrap(),
            "-C",
            unpacked.to_str().unwrap(),
        ])
        .status()
        .unwrap();
    assert!(st.success());
    let top: Vec<_> = std::fs::read_dir(&unpacked)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(top.len(), 1, "{top:?}");
    assert!(!top[0].join("breakfix").exists());
    assert_reveals_nothing(&top[0], "seed-grace");
}

#[test]
fn packing_into_a_folder_that_is_not_empty_is_refused_and_nothing_is_recorded() {
    let env = Env::new();
    let out = tempfile::tempdir().unwrap();
    std::fs::write(out.path().join("keep.txt"), "mine").unwrap();
    let o = env.expect(&["pack", SCENARIO, "-o", out.path().to_str().unwrap()], 1);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("not empty"), "{err}");
    assert_eq!(
        std::fs::read_to_string(out.path().join("keep.txt")).unwrap(),
        "mine"
    );
    assert!(!env.state.path().join("take-homes").exists());
}

#[test]
fn grading_a_submission_of_a_parameterised_scenario_needs_its_take_home_or_seed() {
    let env = Env::new();
    let ws = tempfile::tempdir().unwrap();
    let o = env.expect(
        &[
            "grade",
            "--submission",
            ws.path().to_str().unwrap(),
            "--scenario",
            SCENARIO,
        ],
        1,
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--take-home") && err.contains("--seed"),
        "{err}"
    );
    // Submission options without a submission are a usage error, not silently ignored.
    let o = env.expect(&["grade", "--scenario", SCENARIO, "--seed", "x"], 2);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("--submission PATH"), "{err}");
}

fn tarball_of(dir: &Path, to: &Path) {
    let st = Command::new("tar")
        .args([
            "czf",
            to.to_str().unwrap(),
            "-C",
            dir.to_str().unwrap(),
            ".",
        ])
        .status()
        .unwrap();
    assert!(st.success());
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=Candidate",
            "-c",
            "user.email=c@example.com",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The candidate's machine: the bundle's breakfix with a state of its own, whose sandboxes
/// are stopped whatever happens to the test.
struct Candidate {
    bundle: PathBuf,
    home: tempfile::TempDir,
}

impl Candidate {
    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new(self.bundle.join("breakfix"))
            .args(args)
            .current_dir(&self.bundle)
            .env("BREAKFIX_STATE_DIR", self.home.path())
            .env_remove("BREAKFIX_SCENARIOS")
            .output()
            .unwrap()
    }
}

impl Drop for Candidate {
    fn drop(&mut self) {
        let _ = self.run(&["stop", "--all"]);
    }
}

#[test]
fn the_candidates_bundle_runs_the_sandbox_but_cannot_grade_it() {
    images_built();
    let env = Env::new();
    let out = tempfile::tempdir().unwrap();
    let bundle = out.path().join("bundle");
    env.expect(&["pack", SCENARIO, "-o", bundle.to_str().unwrap()], EXIT_OK);
    // The candidate's side: their own state, the bundle's breakfix, from the bundle's folder.
    let candidate = Candidate {
        bundle: bundle.clone(),
        home: tempfile::tempdir().unwrap(),
    };
    let run = |args: &[&str]| candidate.run(args);
    let started = run(&["start", SCENARIO, "--workspace", "./work", "--json"]);
    assert_eq!(
        started.status.code(),
        Some(EXIT_OK),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    assert!(bundle.join("work/compose.yaml").is_file());
    let graded = run(&["grade"]);
    let err = String::from_utf8_lossy(&graded.stderr);
    assert_ne!(graded.status.code(), Some(EXIT_OK));
    assert!(err.contains("candidate's copy"), "{err}");
    let stopped = run(&["stop", "--all"]);
    assert!(stopped.status.success());
}

#[test]
fn a_take_home_is_graded_fresh_from_the_submission_and_a_copied_answer_does_not_pass() {
    images_built();
    let env = Env::new();
    let out = tempfile::tempdir().unwrap();
    // Two candidates whose variants differ in the service name and the ports.
    let (ada_seed, bob_seed) = (0..200)
        .map(|i| (format!("ada-{i}"), format!("bob-{i}")))
        .find(|(a, b)| {
            let (va, vb) = (package(a).variant.unwrap(), package(b).variant.unwrap());
            va.values["orders-service"] != vb.values["orders-service"]
                && va.values["web-port"] != vb.values["web-port"]
        })
        .unwrap();
    let pack = |seed: &str, who: &str| -> String {
        let dir = out.path().join(who);
        let v = env.json(
            &[
                "pack",
                SCENARIO,
                "--seed",
                seed,
                "--candidate",
                who,
                "-o",
                dir.to_str().unwrap(),
                "--without-binary",
                "--json",
            ],
            EXIT_OK,
        );
        v["take-home"]["id"].as_str().unwrap().to_string()
    };
    let ada = pack(&ada_seed, "Ada Lovelace");
    let bob = pack(&bob_seed, "Bob Smith");

    // Ada fixes her workspace (her variant's reference fix) and sends a tarball.
    let ada_ws = out
        .path()
        .join("Ada Lovelace/scenarios")
        .join(SCENARIO)
        .join("workspace");
    copy_dir(&package(&ada_seed).solution_dir(), &ada_ws);
    let inbox = out.path().join("inbox");
    std::fs::create_dir_all(&inbox).unwrap();
    let ada_tgz = inbox.join(format!("{ada}.tar.gz"));
    tarball_of(&ada_ws, &ada_tgz);
    let report = env.json(
        &[
            "grade",
            "--submission",
            ada_tgz.to_str().unwrap(),
            "--take-home",
            &ada,
            "--json",
        ],
        EXIT_OK,
    );
    assert_eq!(report["percent"], 100, "{report:#}");
    assert_eq!(report["session"]["candidate"], "Ada Lovelace");
    assert_eq!(report["scenario"]["variant"]["seed"], ada_seed.as_str());
    let sub = &report["submission"];
    assert_eq!(sub["kind"], "tarball");
    assert_eq!(sub["take-home"], ada.as_str());
    let changed: Vec<&str> = sub["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        changed,
        ["compose.yaml", "nginx/conf.d/shop.conf"],
        "{sub:#}"
    );
    let diff = sub["changes"][1]["diff"].as_str().unwrap();
    assert!(
        diff.contains("-    server orders-api:") && diff.contains("+    server "),
        "{diff}"
    );

    // In bulk: Bob hands in Ada's answer (a copy), and a git bundle of an untouched
    // workspace comes from Bob too under his name. Neither passes; each gets a report.
    std::fs::remove_file(&ada_tgz).unwrap();
    tarball_of(&ada_ws, &inbox.join(format!("{bob}-copied.tgz")));
    let bob_ws = out
        .path()
        .join("Bob Smith/scenarios")
        .join(SCENARIO)
        .join("workspace");
    git(&bob_ws, &["init", "-q", "-b", "main"]);
    git(&bob_ws, &["add", "-A"]);
    git(&bob_ws, &["commit", "-qm", "as received"]);
    git(
        &bob_ws,
        &[
            "bundle",
            "create",
            inbox.join("bob-smith.bundle").to_str().unwrap(),
            "--all",
        ],
    );
    let reports = out.path().join("reports");
    let o = env.expect(
        &[
            "grade",
            "--submissions",
            inbox.to_str().unwrap(),
            "--scenario",
            SCENARIO,
            "-o",
            reports.to_str().unwrap(),
        ],
        EXIT_OK,
    );
    let table = String::from_utf8_lossy(&o.stdout);
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(reports.join("summary.json")).unwrap()).unwrap();
    let rows = summary["submissions"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{table}");
    for r in rows {
        assert_eq!(r["take-home"], bob.as_str(), "{r:#}");
        assert!(r["error"].is_null(), "{r:#}");
        assert!(
            r["percent"].as_u64().unwrap() < 100,
            "a copied or untouched answer passed: {r:#}"
        );
        let name = r["submission"].as_str().unwrap();
        assert!(reports.join(format!("{name}.html")).is_file());
        assert!(reports.join(format!("{name}.json")).is_file());
    }
    assert!(table.contains("| bob-smith | Bob Smith |"), "{table}");
    assert!(
        std::fs::read_to_string(reports.join("summary.md"))
            .unwrap()
            .contains("checks passed")
    );
}
