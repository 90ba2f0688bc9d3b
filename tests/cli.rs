//! The command line without an engine: catalog, schema, help, validation.

mod common;

use common::*;

#[test]
fn the_catalog_lists_every_scenario_with_its_metadata() {
    let env = Env::new();
    let rows = env.json(&["list", "--json"], EXIT_OK);
    let rows = rows.as_array().expect("an array");
    let packages = std::fs::read_dir(repo().join("scenarios"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().join("scenario.yaml").is_file())
        .count();
    assert_eq!(rows.len(), packages);
    for r in rows {
        for field in [
            "id",
            "title",
            "competencies",
            "difficulty",
            "backends",
            "time-limit",
        ] {
            assert!(r.get(field).is_some(), "catalog row lacks {field}: {r:#}");
        }
        assert!(!r["competencies"].as_array().unwrap().is_empty());
        // A package without variables has one variant; crashloop-docker's 3 x 3 x 3 x 2.
        let variants = r["variants"].as_u64().expect("variants");
        let variables = r["variables"].as_array().unwrap().len();
        assert!(variants >= 1 && (variables > 0) == (variants > 1), "{r:#}");
        if r["id"] == "crashloop-docker" {
            assert_eq!(variants, 54, "{r:#}");
        }
    }
}

#[test]
fn the_catalog_filters_by_competency_difficulty_backend_and_time() {
    let env = Env::new();
    let ids = |args: &[&str]| -> Vec<String> {
        let rows = env.json(&[&["list", "--json"], args].concat(), EXIT_OK);
        rows.as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    let all = env.json(&["list", "--json"], EXIT_OK);
    let all = all.as_array().unwrap();
    let expected = |keep: &dyn Fn(&serde_json::Value) -> bool| -> Vec<String> {
        all.iter()
            .filter(|r| keep(r))
            .map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    let has = |r: &serde_json::Value, field: &str, v: &str| {
        r[field].as_array().unwrap().iter().any(|x| x == v)
    };
    let kube = ids(&["--backend", "kube"]);
    assert!(kube.contains(&"crashloop-k8s".to_string()), "{kube:?}");
    assert_eq!(kube, expected(&|r| has(r, "backends", "kube")));
    assert_eq!(
        ids(&["--competency", "security", "--backend", "docker"]),
        expected(&|r| has(r, "competencies", "security") && has(r, "backends", "docker"))
    );
    assert_eq!(
        ids(&["--difficulty", "medium", "--max-time", "30m"]),
        expected(&|r| r["difficulty"] == "medium" && r["time-limit-secs"].as_u64().unwrap() <= 1800)
    );
    assert!(ids(&["--max-time", "1m"]).is_empty());
    let text = env.expect(&["list", "--max-time", "1m"], EXIT_OK);
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("none of the"),
        "{}",
        String::from_utf8_lossy(&text.stdout)
    );
    // A value outside the set is refused with the ones there are.
    let bad = env.expect(&["list", "--difficulty", "brutal"], EXIT_USAGE);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("easy") && err.contains("hard"), "{err}");
}

#[test]
fn the_readmes_catalog_table_is_the_one_the_packages_give() {
    let env = Env::new();
    let table = env.expect(&["list", "--markdown"], EXIT_OK);
    let table = String::from_utf8_lossy(&table.stdout).into_owned();
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let (start, end) = ("<!-- catalog: start -->\n", "<!-- catalog: end -->");
    let from = readme.find(start).expect("the README marks its catalog") + start.len();
    let to = readme[from..].find(end).expect("the catalog's end marker") + from;
    assert!(
        readme[from..to] == table,
        "the README's catalog is stale: replace what is between its markers with `breakfix list --markdown`"
    );
}

#[test]
fn a_reader_that_goes_away_ends_the_output_quietly() {
    let env = Env::new();
    let mut child = env
        .cmd(&["list"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(141), "{err}");
}

#[test]
fn every_competency_of_the_rubric_is_assessed_by_some_scenario() {
    let env = Env::new();
    let rows = env.json(&["list", "--json"], EXIT_OK);
    let covered: std::collections::BTreeSet<String> = rows
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["competencies"].as_array().unwrap().clone())
        .map(|c| c.as_str().unwrap().to_string())
        .collect();
    let missing: Vec<&str> = [
        "ci-cd",
        "containers",
        "observability",
        "incident-response",
        "infrastructure-as-code",
        "security",
    ]
    .into_iter()
    .filter(|c| !covered.contains(*c))
    .collect();
    assert!(
        missing.is_empty(),
        "competencies without a scenario: {missing:?}"
    );
}

#[test]
fn help_documents_the_exit_codes() {
    let env = Env::new();
    let out = env.expect(&["--help"], EXIT_OK);
    let text = String::from_utf8_lossy(&out.stdout);
    for code in ["130", "checks ran and at least one failed", "unreachable"] {
        assert!(text.contains(code), "--help lacks {code}");
    }
}

#[test]
fn the_schema_command_prints_the_published_schema() {
    let env = Env::new();
    let out = env.expect(&["schema"], EXIT_OK);
    let published = std::fs::read_to_string(repo().join("docs/scenario.schema.json")).unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), published);
}

#[test]
fn every_shipped_scenario_validates() {
    let env = Env::new();
    env.expect(&["validate"], EXIT_OK);
}

#[test]
fn an_unknown_scenario_names_the_ones_available() {
    let env = Env::new();
    let out = env.expect(&["start", "no-such-scenario"], EXIT_SCENARIO_INVALID);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no scenario `no-such-scenario`"), "{err}");
    assert!(err.contains("crashloop-docker"), "{err}");
}

#[test]
fn report_verify_tells_an_unchanged_report_from_an_edited_one_and_checks_the_signer() {
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    let o = env.expect(&["report", "keygen"], EXIT_OK);
    let said = String::from_utf8_lossy(&o.stdout);
    assert!(said.contains("signed with it"), "{said}");
    let key_path = env.state.path().join("keys/report-signing.key");
    let key = breakfix::seal::load_signing_key(&key_path).unwrap();
    // The same report a grade writes, sealed with the state's key.
    let report = serde_json::json!({"format-version": 1, "score": 60, "max-score": 90});
    let file = dir.path().join("report.json");
    std::fs::write(&file, breakfix::seal::sealed_json(&report, Some(&key))).unwrap();
    let pubkey = env.state.path().join("keys/report-signing.key.pub");
    let f = file.to_str().unwrap();
    let o = env.expect(
        &["report", "verify", f, "--key", pubkey.to_str().unwrap()],
        EXIT_OK,
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("(the key given)"));
    // Another interviewer's key: unchanged, but not signed by them.
    let other = dir.path().join("other.key");
    env.expect(
        &["report", "keygen", "-o", other.to_str().unwrap()],
        EXIT_OK,
    );
    let other_pub = dir.path().join("other.key.pub");
    let o = env.expect(
        &["report", "verify", f, "--key", other_pub.to_str().unwrap()],
        8,
    );
    assert!(String::from_utf8_lossy(&o.stdout).contains("ANOTHER key"));
    // A score edited by hand.
    let text = std::fs::read_to_string(&file)
        .unwrap()
        .replace("\"score\": 60", "\"score\": 90");
    std::fs::write(&file, text).unwrap();
    let o = env.expect(&["report", "verify", f], 8);
    assert!(String::from_utf8_lossy(&o.stdout).contains("HAS BEEN CHANGED"));
    // keygen never overwrites a key.
    let before = std::fs::read(&key_path).unwrap();
    let o = env.expect(&["report", "keygen"], 1);
    assert!(String::from_utf8_lossy(&o.stderr).contains("never overwrites"));
    assert_eq!(std::fs::read(&key_path).unwrap(), before);
    // Not JSON at all: the file is named.
    std::fs::write(dir.path().join("notes.txt"), "hello").unwrap();
    let o = env.expect(
        &[
            "report",
            "verify",
            dir.path().join("notes.txt").to_str().unwrap(),
        ],
        1,
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("notes.txt: it is not JSON"));
}
