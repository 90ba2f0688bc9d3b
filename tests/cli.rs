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
    }
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
