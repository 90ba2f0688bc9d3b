//! Assessment plans: invalid plan files are refused with their positions, and a plan runs its
//! scenarios in order and combines their grades.

mod common;

use std::path::PathBuf;

use common::*;

#[test]
fn every_invalid_plan_fixture_is_refused_with_its_expected_messages() {
    let dir = repo().join("fixtures/invalid-plans");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 4, "{cases:?}");
    let env = Env::new();
    for case in cases {
        let rel = case
            .strip_prefix(repo())
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        let out = env.expect(&["validate", &rel], EXIT_SCENARIO_INVALID);
        let expected = std::fs::read_to_string(case.with_extension("expected")).unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stderr), expected, "{rel}");
    }
}

#[test]
fn the_shipped_plans_are_valid() {
    let env = Env::new();
    let out = env.expect(&["validate"], EXIT_OK);
    let text = String::from_utf8_lossy(&out.stdout);
    for plan in ["sre-mid", "devops-engineer", "platform-kubernetes"] {
        assert!(text.contains(&format!("ok      plan {plan}")), "{text}");
    }
    let listed = env.json(&["list", "--plans", "--json"], EXIT_OK);
    assert_eq!(listed.as_array().unwrap().len(), 3, "{listed:#}");
}

#[test]
fn a_plan_runs_its_scenarios_in_order_and_combines_their_grades_by_competency() {
    images_built();
    let env = Env::new();
    let plans = tempfile::tempdir().unwrap();
    std::fs::write(
        plans.path().join("two-step.yaml"),
        "id: two-step\ntitle: Two steps\nrole: Fixes things.\n\
         scenarios: [crashloop-docker, harden-image]\n\
         weights: {incident-response: 3, containers: 1, security: 1}\ntime-budget: 2h\n",
    )
    .unwrap();
    let dir = plans.path().to_str().unwrap();
    let first = env.json(
        &[
            "start",
            "--plan",
            "two-step",
            "--plans-dir",
            dir,
            "--candidate",
            "Ada",
            "--json",
        ],
        EXIT_OK,
    );
    assert_eq!(first["scenario"], "crashloop-docker");
    assert_eq!(first["plan-step"], 1);
    let assessment = first["assessment"].as_str().unwrap().to_string();
    let s1 = first["session"].as_str().unwrap().to_string();
    env.expect(
        &[
            "note",
            &s1,
            "--competency",
            "incident-response",
            "--mark",
            "strong",
            "Read the logs first",
        ],
        EXIT_OK,
    );
    copy_solution(
        "crashloop-docker",
        &PathBuf::from(first["workspace"].as_str().unwrap()),
    );
    env.expect(&["apply", &s1], EXIT_OK);

    // `next` grades and stops the first scenario, then starts the second for the same candidate.
    let second = env.json(&["next", "--plans-dir", dir, "--json"], EXIT_OK);
    assert_eq!(second["scenario"], "harden-image");
    assert_eq!(second["plan-step"], 2);
    assert_eq!(second["candidate"], "Ada");
    assert_eq!(
        labelled_objects(&s1),
        0,
        "the first scenario was not torn down"
    );
    let s2 = second["session"].as_str().unwrap().to_string();

    // The last `next` grades the broken second scenario and reports the plan.
    let r = env.json(
        &["next", &assessment, "--plans-dir", dir, "--json"],
        EXIT_OK,
    );
    assert_eq!(labelled_objects(&s2), 0);
    assert_eq!(r["scenarios"][0]["state"], "graded");
    assert_eq!(r["scenarios"][0]["percent"], 100, "{r:#}");
    assert_eq!(r["scenarios"][1]["state"], "graded");
    assert!(
        r["scenarios"][1]["percent"].as_u64().unwrap() < 100,
        "{r:#}"
    );
    let comps = r["competencies"].as_array().unwrap();
    let ir = comps
        .iter()
        .find(|c| c["competency"] == "incident-response")
        .unwrap();
    assert_eq!(ir["weight"], 3);
    assert_eq!(ir["marks"], serde_json::json!(["strong"]));
    let seen = ir["strong-signals-seen"].to_string();
    assert!(
        seen.contains("Read the logs first") && seen.contains("without a hint"),
        "{seen}"
    );
    // The weighted score is the competencies' percentages weighted as the plan says.
    let (mut num, mut den) = (0u64, 0u64);
    for c in comps.iter().filter(|c| c["max"].as_u64().unwrap() > 0) {
        num += c["weight"].as_u64().unwrap() * c["percent"].as_u64().unwrap();
        den += c["weight"].as_u64().unwrap();
    }
    assert_eq!(r["weighted-percent"].as_u64().unwrap(), num / den, "{r:#}");

    let html = env.state.path().join("plan.html");
    env.expect(
        &[
            "assessment",
            &assessment,
            "--plans-dir",
            dir,
            "--format",
            "html",
            "-o",
            html.to_str().unwrap(),
        ],
        EXIT_OK,
    );
    let page = std::fs::read_to_string(html).unwrap();
    assert!(page.contains("Two steps") && page.contains("harden-image"));
    // A finished assessment has no next step.
    env.expect(&["next", "--plans-dir", dir], 1);
}
