//! `pipeline`: runs the workspace repository's GitLab CI pipeline through the backend's local
//! executor and reads, from what the executor printed, each job's stage, result and log.
//! Passes when every job of every stage succeeded (a job allowed to fail does not count as
//! passing), every `job-logs` assertion holds, and an `artifact-one-of` file named by the
//! commit was written by this run.

use std::collections::BTreeMap;
use std::path::Path;

use regex::Regex;

use super::{Ctx, Outcome, clip, tail_lines};
use crate::backend::{BackendError, PipelineRequest, PipelineRun, Result};
use crate::scenario::PipelineCheck;

/// How a job ended, as the executor's summary says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobStatus {
    Success,
    Failure,
    /// Failed, but the job is marked `allow_failure`: the pipeline went on without it.
    AllowedFailure,
    /// Never ran (an earlier stage failed, or the job was not selected).
    Skipped,
}

impl std::fmt::Display for JobStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            JobStatus::Success => "passed",
            JobStatus::Failure => "failed",
            JobStatus::AllowedFailure => "failed (allowed to fail)",
            JobStatus::Skipped => "skipped",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobResult {
    pub stage: String,
    pub name: String,
    pub status: JobStatus,
}

/// A pipeline run read from the executor's output.
#[derive(Clone, Debug, Default)]
pub struct Parsed {
    /// Jobs in the order of the summary (stage by stage).
    pub jobs: Vec<JobResult>,
    /// Each job's log: the lines between its header and its result line.
    pub logs: BTreeMap<String, Vec<String>>,
    /// The pipeline's overall result, when the summary was printed.
    pub succeeded: Option<bool>,
}

impl Parsed {
    pub fn job(&self, name: &str) -> Option<&JobResult> {
        self.jobs.iter().find(|j| j.name == name)
    }
    pub fn log(&self, name: &str) -> String {
        self.logs
            .get(name)
            .map(|l| l.join("\n"))
            .unwrap_or_default()
    }
}

/// Reads gitlabci-local's output (`--pipeline --no-color`). Its icons are Unicode on a UTF-8
/// terminal and ASCII otherwise; both are understood.
pub fn parse(output: &str) -> Parsed {
    let header = Regex::new(r"^===\[ (?P<stage>.+?): (?P<name>.+) \((?P<image>[^()]*)\) \]===$")
        .expect("static regex");
    let footer = Regex::new(r"^(?:‣|>) (?P<name>.+): (?:Success in|Failure in|Interrupted after)")
        .expect("static regex");
    let summary_job = Regex::new(
        r"^(?P<icon>✔|✘|»|!|v|x|~) (?P<name>.+): (?P<result>Success in|Failure in|Skipped)",
    )
    .expect("static regex");
    let stage_line = Regex::new(r"^(?:•|-) Stage (?P<stage>.+):$").expect("static regex");
    let pipeline_line =
        Regex::new(r"^(?:‣|>) Pipeline: (?P<result>Success|Failure)").expect("static regex");

    let mut parsed = Parsed::default();
    let mut in_summary = false;
    let mut current_job: Option<String> = None;
    let mut current_stage = String::new();
    for raw in output.lines() {
        let line = raw.trim();
        if line.starts_with("===[ Pipeline:") {
            in_summary = true;
            current_job = None;
            continue;
        }
        if in_summary {
            if let Some(c) = stage_line.captures(line) {
                current_stage = c["stage"].to_string();
            } else if let Some(c) = pipeline_line.captures(line) {
                parsed.succeeded = Some(&c["result"] == "Success");
            } else if let Some(c) = summary_job.captures(line) {
                let status = match (&c["icon"], &c["result"]) {
                    (_, "Skipped") => JobStatus::Skipped,
                    (_, "Success in") => JobStatus::Success,
                    ("!", _) => JobStatus::AllowedFailure,
                    _ => JobStatus::Failure,
                };
                parsed.jobs.push(JobResult {
                    stage: current_stage.clone(),
                    name: c["name"].to_string(),
                    status,
                });
            }
            continue;
        }
        if let Some(c) = header.captures(line) {
            let name = c["name"].to_string();
            parsed.logs.entry(name.clone()).or_default();
            current_job = Some(name);
            continue;
        }
        if let Some(job) = &current_job {
            if footer
                .captures(line)
                .is_some_and(|c| &c["name"] == job.as_str())
            {
                current_job = None;
                continue;
            }
            parsed
                .logs
                .entry(job.clone())
                .or_default()
                .push(raw.trim_end().to_string());
        }
    }
    parsed
}

/// Replaces `$CI_COMMIT_SHA`, `$CI_COMMIT_SHORT_SHA` and their `${...}` forms.
pub fn expand_commit(path: &str, commit: &str, short: &str) -> String {
    path.replace("${CI_COMMIT_SHORT_SHA}", short)
        .replace("$CI_COMMIT_SHORT_SHA", short)
        .replace("${CI_COMMIT_SHA}", commit)
        .replace("$CI_COMMIT_SHA", commit)
}

pub async fn run(k: &PipelineCheck, cx: &Ctx<'_>) -> Result<Outcome> {
    let repository = cx.workspace.join(&k.repository.value);
    let run = match cx
        .containers()?
        .run_pipeline(&PipelineRequest {
            repository: repository.clone(),
            scenario: cx.target.scenario.clone(),
            timeout: k.timeout.0,
            round: cx.round,
        })
        .await
    {
        // A pipeline that would leave the sandbox is the candidate's doing: a failure.
        Err(BackendError::Refused { message, .. }) => {
            return Ok(Outcome::fail(
                "the pipeline was not run: it asks for more than the sandbox allows",
                message.lines().map(str::to_string).collect(),
            ));
        }
        other => other?,
    };
    Ok(judge(k, &run, &repository))
}

/// The verdict on one run; separate from running it so recorded output can be judged.
pub fn judge(k: &PipelineCheck, run: &PipelineRun, repository: &Path) -> Outcome {
    let parsed = parse(&run.output);
    let mut evidence = vec![format!(
        "ran with gitlabci-local on the host's engine: jobs unprivileged, no network; commit {}",
        if run.commit.is_empty() {
            "unknown (not a git repository?)"
        } else {
            &run.commit
        }
    )];
    if run.leftovers_removed > 0 {
        evidence.push(format!(
            "{} job container(s) left behind by the executor were removed",
            run.leftovers_removed
        ));
    }
    for j in &parsed.jobs {
        evidence.push(format!("job {} / {}: {}", j.stage, j.name, j.status));
    }
    let Some(code) = run.exit_code else {
        evidence.extend(tail_lines(&run.output, 15));
        return Outcome::fail(
            format!("the pipeline did not finish within {}", k.timeout),
            evidence,
        );
    };
    if parsed.jobs.is_empty() {
        evidence.push(format!("executor exit code: {code}"));
        evidence.extend(tail_lines(&run.output, 15));
        return Outcome::fail(
            "the executor ran no job (is .gitlab-ci.yml valid?)",
            evidence,
        );
    }
    let mut problems = vec![];
    let not_passed: Vec<&JobResult> = parsed
        .jobs
        .iter()
        .filter(|j| j.status != JobStatus::Success)
        .collect();
    for j in &not_passed {
        if matches!(j.status, JobStatus::Failure | JobStatus::AllowedFailure) {
            let log = parsed.log(&j.name);
            evidence.extend(
                tail_lines(&log, 12)
                    .into_iter()
                    .map(|l| format!("{}: {l}", j.name)),
            );
        }
    }
    let failed: Vec<String> = not_passed
        .iter()
        .filter(|j| j.status != JobStatus::Skipped)
        .map(|j| format!("{} ({})", j.name, j.status))
        .collect();
    if !k.require_passed {
        // Only the assertions below count.
    } else if !failed.is_empty() {
        problems.push(format!("job(s) did not pass: {}", failed.join(", ")));
    } else if !not_passed.is_empty() {
        problems.push(format!(
            "job(s) skipped: {}",
            not_passed
                .iter()
                .map(|j| j.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    if k.require_passed && problems.is_empty() && (parsed.succeeded != Some(true) || code != 0) {
        problems.push(format!("the executor reported failure (exit code {code})"));
    }

    judge_logs(k, &parsed, &mut problems, &mut evidence);
    judge_artifacts(k, run, repository, &mut problems, &mut evidence);

    if problems.is_empty() {
        let stages: Vec<&str> = parsed.jobs.iter().fold(vec![], |mut acc, j| {
            if acc.last() != Some(&j.stage.as_str()) {
                acc.push(j.stage.as_str());
            }
            acc
        });
        Outcome::pass(
            format!(
                "{}: {} job(s) in stages {}",
                if k.require_passed {
                    "the pipeline passed"
                } else {
                    "its assertions hold"
                },
                parsed.jobs.len(),
                stages.join(" → ")
            ),
            evidence,
        )
    } else {
        Outcome::fail(problems.join("; "), evidence)
    }
}

/// The job-log assertions: each job named is in the pipeline, its log matches what it must
/// and not what it must not.
fn judge_logs(
    k: &PipelineCheck,
    parsed: &Parsed,
    problems: &mut Vec<String>,
    evidence: &mut Vec<String>,
) {
    for log in &k.job_logs {
        let job = &log.job.value;
        if parsed.job(job).is_none() && !parsed.logs.contains_key(job) {
            problems.push(format!("job `{job}` is not in the pipeline"));
            continue;
        }
        let text = parsed.log(job);
        if let Some(re) = &log.matches
            && !Regex::new(re).is_ok_and(|r| r.is_match(&text))
        {
            problems.push(format!("the log of `{job}` does not match `{}`", re.value));
            evidence.extend(
                tail_lines(&text, 5)
                    .into_iter()
                    .map(|l| format!("{job}: {l}")),
            );
        }
        if let Some(re) = &log.not_matches
            && let Some(m) = Regex::new(re)
                .ok()
                .and_then(|r| r.find(&text).map(|m| m.as_str().to_string()))
        {
            problems.push(format!(
                "the log of `{job}` matches `{}`: {}",
                re.value,
                clip(&m, 120)
            ));
        }
    }
}

/// One of the artifacts the commit names was written by this run (not left by an earlier one).
fn judge_artifacts(
    k: &PipelineCheck,
    run: &PipelineRun,
    repository: &Path,
    problems: &mut Vec<String>,
    evidence: &mut Vec<String>,
) {
    if !k.artifact_one_of.is_empty() {
        let candidates: Vec<String> = k
            .artifact_one_of
            .iter()
            .map(|a| expand_commit(&a.value, &run.commit, &run.commit_short))
            .collect();
        let fresh = candidates.iter().find(|rel| {
            std::fs::metadata(repository.join(rel))
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                // File systems keep coarse times; a second of slack.
                .is_some_and(|t| t.as_millis() as u64 + 1000 >= run.started_unix_ms)
        });
        match fresh {
            Some(rel) => evidence.push(format!("artifact written by this run: {rel}")),
            None if run.commit.is_empty() => problems
                .push("no artifact named by the commit: the repository has no commit".into()),
            None => problems.push(format!(
                "this run wrote none of the artifacts named by commit {}: {}",
                run.commit,
                candidates.join(", ")
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Status;

    /// gitlabci-local 13.2.0, `--pipeline --no-color`, the broken workspace: the unit tests
    /// fail after the discount change. (Passing test lines trimmed.)
    const RED_TESTS: &str = " \n ===[ build: compile (breakfix/failing-pipeline-ci:latest, docker) ]===\n \n+ python3 -m compileall -q src\n \n  ‣ compile: Success in 0 second\n \n \n ===[ test: unit-tests (breakfix/failing-pipeline-ci:latest, docker) ]===\n \n+ python3 -m pytest -p no:cacheprovider -v tests\n============================= test session starts ==============================\nplatform linux -- Python 3.11.2, pytest-7.2.1, pluggy-1.0.0+repack -- /usr/bin/python3\nrootdir: /builds/repo\ncollecting ... collected 8 items\n\ntests/test_totals.py::test_line_discount_is_a_percentage FAILED          [ 50%]\n>       assert line_total(line) == Decimal(\"90.00\")\nE       AssertionError: assert Decimal('-900.00') == Decimal('90.00')\n=========================== short test summary info ============================\nFAILED tests/test_totals.py::test_line_discount_is_a_percentage - AssertionEr...\n========================= 3 failed, 5 passed in 0.08s ==========================\n \n  ‣ unit-tests: Failure in 0 second\n \n \n ===[ Pipeline: 5 jobs ]===\n \n  • Stage build:\n    ✔ compile: Success in 0 second\n \n  • Stage test:\n    ✘ unit-tests: Failure in 0 second\n \n  • Stage security:\n    » secret-scan: Skipped\n    » sast: Skipped\n \n  • Stage package:\n    » package: Skipped\n \n  ‣ Pipeline: Failure in 1 second total\n \n";

    /// The same run once the secret was moved out and the scan job marked `allow_failure`.
    const ALLOWED: &str = " ===[ security: secret-scan (breakfix/failing-pipeline-ci:latest, docker) ]===\n \n+ git secrets --scan -r src tests .gitlab-ci.yml\nsrc/invoices/archive.py:6:AWS_ACCESS_KEY_ID = \"AKIA4Q7Z2XJ5PLKD3M8R\"\n[ERROR] Matched one or more prohibited patterns\n \n  ‣ secret-scan: Failure in 0 second\n \n ===[ Pipeline: 2 jobs ]===\n \n  • Stage security:\n    ! secret-scan: Failure in 0 second\n \n  • Stage package:\n    ✔ package: Success in 0 second\n \n  ‣ Pipeline: Success in 3 seconds total\n";

    /// A green run on a UTF-8-less terminal (ASCII icons).
    const GREEN_ASCII: &str = " ===[ test: unit-tests (img, docker) ]===\n \ncollecting ... collected 8 items\n============================== 8 passed in 0.03s ===============================\n \n  > unit-tests: Success in 0 second\n \n ===[ package: package (img, docker) ]===\n+ tar -czf dist/invoice-service-3e5b953.tar.gz -C src invoices\n  > package: Success in 0 second\n ===[ Pipeline: 2 jobs ]===\n  - Stage test:\n    v unit-tests: Success in 0 second\n  - Stage package:\n    v package: Success in 0 second\n  > Pipeline: Success in 3 seconds total\n";

    fn check(yaml: &str) -> PipelineCheck {
        crate::yaml::from_str(yaml).unwrap()
    }

    fn run(output: &str, code: Option<i32>) -> PipelineRun {
        PipelineRun {
            exit_code: code,
            output: output.into(),
            commit: "3e5b953d0c1f2a4b5c6d7e8f9a0b1c2d3e4f5a6b".into(),
            commit_short: "3e5b953".into(),
            started_unix_ms: 0,
            leftovers_removed: 0,
        }
    }

    #[test]
    fn the_summary_gives_each_job_its_stage_and_result() {
        let p = parse(RED_TESTS);
        let got: Vec<_> = p
            .jobs
            .iter()
            .map(|j| (j.stage.as_str(), j.name.as_str(), j.status))
            .collect();
        assert_eq!(
            got,
            vec![
                ("build", "compile", JobStatus::Success),
                ("test", "unit-tests", JobStatus::Failure),
                ("security", "secret-scan", JobStatus::Skipped),
                ("security", "sast", JobStatus::Skipped),
                ("package", "package", JobStatus::Skipped),
            ]
        );
        assert_eq!(p.succeeded, Some(false));
        assert!(p.log("unit-tests").contains("3 failed, 5 passed"));
        assert!(!p.log("compile").contains("pytest"));
    }

    #[test]
    fn a_failing_test_job_fails_the_check_with_its_log_tail() {
        let o = judge(
            &check("{}"),
            &run(RED_TESTS, Some(1)),
            Path::new("/nowhere"),
        );
        assert_eq!(o.status, Status::Fail);
        assert!(o.summary.contains("unit-tests (failed)"), "{}", o.summary);
        assert!(
            o.evidence
                .iter()
                .any(|e| e.starts_with("unit-tests: log:") && e.contains("3 failed, 5 passed"))
        );
        assert!(
            o.evidence
                .iter()
                .any(|e| e == "job security / sast: skipped")
        );
    }

    #[test]
    fn a_job_allowed_to_fail_does_not_count_as_passed_even_when_the_pipeline_is_green() {
        let o = judge(&check("{}"), &run(ALLOWED, Some(0)), Path::new("/nowhere"));
        assert_eq!(o.status, Status::Fail);
        assert!(o.summary.contains("secret-scan (failed (allowed to fail))"));
        assert!(o.evidence.iter().any(|e| e.contains("prohibited patterns")));
    }

    #[test]
    fn ascii_icons_are_read_like_unicode_ones() {
        let o = judge(
            &check("{}"),
            &run(GREEN_ASCII, Some(0)),
            Path::new("/nowhere"),
        );
        assert_eq!(o.status, Status::Pass, "{o:?}");
        assert!(o.summary.contains("test → package"));
    }

    #[test]
    fn job_log_assertions_hold_whether_or_not_the_job_passed() {
        let k = check(
            "job-logs:\n  - job: unit-tests\n    matches: 'collected ([8-9]|[1-9][0-9]+) items'\n    not-matches: '\\d+ (skipped|xfailed|deselected)'\n",
        );
        let p = parse(RED_TESTS);
        let text = p.log("unit-tests");
        assert!(
            Regex::new(k.job_logs[0].matches.as_ref().unwrap())
                .unwrap()
                .is_match(&text)
        );
        let fewer = GREEN_ASCII.replace("collected 8 items", "collected 7 items");
        let o = judge(&k, &run(&fewer, Some(0)), Path::new("/nowhere"));
        assert_eq!(o.status, Status::Fail);
        assert!(o.summary.contains("does not match"), "{}", o.summary);
        let missing = check("job-logs:\n  - job: lint\n    matches: ok\n");
        let o = judge(&missing, &run(GREEN_ASCII, Some(0)), Path::new("/nowhere"));
        assert!(o.summary.contains("job `lint` is not in the pipeline"));
    }

    #[test]
    fn an_artifact_must_be_named_by_the_commit_and_written_by_this_run() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("dist")).unwrap();
        let k = check(
            "artifact-one-of: ['dist/invoice-service-${CI_COMMIT_SHORT_SHA}.tar.gz', 'dist/invoice-service-$CI_COMMIT_SHA.tar.gz']\n",
        );
        let o = judge(&k, &run(GREEN_ASCII, Some(0)), dir.path());
        assert_eq!(o.status, Status::Fail);
        assert!(
            o.summary.contains("dist/invoice-service-3e5b953.tar.gz"),
            "{}",
            o.summary
        );
        std::fs::write(dir.path().join("dist/invoice-service-3e5b953.tar.gz"), b"x").unwrap();
        let o = judge(&k, &run(GREEN_ASCII, Some(0)), dir.path());
        assert_eq!(o.status, Status::Pass, "{o:?}");
        let mut later = run(GREEN_ASCII, Some(0));
        later.started_unix_ms = u64::MAX / 2;
        let o = judge(&k, &later, dir.path());
        assert_eq!(o.status, Status::Fail, "a stale artifact must not count");
    }

    #[test]
    fn a_run_stopped_by_its_deadline_fails_and_says_so() {
        let o = judge(
            &check("timeout: 30s\n"),
            &run("+ sleep 600\n", None),
            Path::new("/x"),
        );
        assert_eq!(o.status, Status::Fail);
        assert!(
            o.summary.contains("did not finish within 30s"),
            "{}",
            o.summary
        );
    }

    #[test]
    fn output_without_a_summary_fails_with_the_executors_words() {
        let out = " \n  ‣ Error: Could not parse .gitlab-ci.yml\n";
        let o = judge(&check("{}"), &run(out, Some(1)), Path::new("/x"));
        assert_eq!(o.status, Status::Fail);
        assert!(o.evidence.iter().any(|e| e.contains("Could not parse")));
    }
}
