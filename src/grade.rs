//! Turns check outcomes, the hint ledger and guard penalties into a [`Report`]: plain data
//! that every reporter renders and that is saved beside the session.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::check::{Outcome, Status};
use crate::scenario::{Check, Competency, Package, Visibility};
use crate::session::Session;

/// Bumped when a field changes meaning or disappears; adding fields keeps it.
pub const FORMAT_VERSION: u32 = 1;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scope {
    /// Every check (`grade`).
    All,
    /// Only checks visible to the candidate (`check`).
    Candidate,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Report {
    pub format_version: u32,
    pub scope: Scope,
    pub scenario: ScenarioInfo,
    pub session: SessionInfo,
    /// Points after hint costs and guard penalties, never below zero.
    pub score: u32,
    pub max_score: u32,
    pub percent: u32,
    /// False when a check could not run: the score is then a lower bound, not a verdict.
    pub complete: bool,
    pub checks: Vec<CheckResult>,
    pub competencies: Vec<CompetencyScore>,
    pub hints: Vec<HintLine>,
    pub hint_cost: u32,
    pub penalties: u32,
    pub strong_signals: Vec<String>,
    pub red_flags: Vec<String>,
    pub follow_ups: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ScenarioInfo {
    pub id: String,
    pub title: String,
    pub competencies: Vec<Competency>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct SessionInfo {
    pub id: String,
    pub candidate: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub clock_started_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub graded_at: OffsetDateTime,
    pub elapsed_secs: u64,
    pub time_limit_secs: u64,
    pub over_time: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct CheckResult {
    pub id: String,
    pub title: String,
    pub kind: String,
    pub competency: Competency,
    pub visibility: Visibility,
    /// A guard subtracts its penalty when it fails instead of awarding points.
    pub guard: bool,
    pub status: Status,
    /// Points the check is worth (for a guard: its penalty).
    pub points: u32,
    /// Points it contributed: its points on pass, minus its penalty for a failed guard.
    pub awarded: i64,
    pub summary: String,
    pub evidence: Vec<String>,
    pub duration_ms: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct CompetencyScore {
    pub competency: Competency,
    pub awarded: i64,
    pub max: u32,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct HintLine {
    pub number: usize,
    #[serde(with = "time::serde::rfc3339")]
    pub taken_at: OffsetDateTime,
    /// Minutes into the session when it was taken.
    pub after_secs: u64,
    pub cost: u32,
    pub text: String,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.complete && self.checks.iter().all(|c| c.status == Status::Pass)
    }
    pub fn errors(&self) -> usize {
        self.checks
            .iter()
            .filter(|c| c.status == Status::Error)
            .count()
    }
}

fn awarded(check: &Check, outcome: &Outcome) -> i64 {
    match (check.is_guard(), outcome.status) {
        (false, Status::Pass) => check.points() as i64,
        (true, Status::Fail) => -(check.penalty() as i64),
        _ => 0,
    }
}

/// Computes the report. Synchronous and pure: the same inputs give the same report.
pub fn compute(
    pkg: &Package,
    session: &Session,
    outcomes: &[(&Check, Outcome)],
    scope: Scope,
    now: OffsetDateTime,
) -> Report {
    let s = &pkg.scenario;
    let checks: Vec<CheckResult> = outcomes
        .iter()
        .map(|(c, o)| CheckResult {
            id: c.id.value.clone(),
            title: c.title.clone(),
            kind: c.kind.name().into(),
            competency: c.competency.value,
            visibility: c.visibility,
            guard: c.is_guard(),
            status: o.status,
            points: if c.is_guard() {
                c.penalty()
            } else {
                c.points()
            },
            awarded: awarded(c, o),
            summary: o.summary.clone(),
            evidence: o.evidence.clone(),
            duration_ms: o.duration_ms,
        })
        .collect();
    let max_score: u32 = outcomes.iter().map(|(c, _)| c.points()).sum();
    let penalties: u32 = checks
        .iter()
        .filter(|c| c.guard && c.awarded < 0)
        .map(|c| c.points)
        .sum();
    let earned: i64 = checks.iter().filter(|c| !c.guard).map(|c| c.awarded).sum();
    let start = session.ready_at;
    let hints: Vec<HintLine> = session
        .hints
        .iter()
        .map(|h| HintLine {
            number: h.number,
            taken_at: h.taken_at,
            after_secs: start.map_or(0, |st| (h.taken_at - st).whole_seconds().max(0) as u64),
            cost: h.cost,
            text: s
                .hints
                .get(h.number - 1)
                .map(|x| x.text.clone())
                .unwrap_or_default(),
        })
        .collect();
    let hint_cost: u32 = hints.iter().map(|h| h.cost).sum();
    let score = (earned - hint_cost as i64 - penalties as i64).clamp(0, max_score as i64) as u32;
    let competencies = pkg
        .competencies()
        .into_iter()
        .map(|comp| CompetencyScore {
            competency: comp,
            awarded: checks
                .iter()
                .filter(|c| c.competency == comp)
                .map(|c| c.awarded)
                .sum(),
            max: checks
                .iter()
                .filter(|c| c.competency == comp && !c.guard)
                .map(|c| c.points)
                .sum(),
        })
        .filter(|c| c.max > 0 || c.awarded != 0)
        .collect();
    let elapsed_secs = session.elapsed().map_or(0, |d| d.as_secs());
    let interviewer = scope == Scope::All;
    Report {
        format_version: FORMAT_VERSION,
        scope,
        scenario: ScenarioInfo {
            id: pkg.id().into(),
            title: s.title.clone(),
            competencies: pkg.competencies().into_iter().collect(),
        },
        session: SessionInfo {
            id: session.id.clone(),
            candidate: session.candidate.clone(),
            clock_started_at: start,
            graded_at: now,
            elapsed_secs,
            time_limit_secs: session.time_limit_secs,
            over_time: elapsed_secs > session.time_limit_secs,
        },
        score,
        max_score,
        percent: (score * 100).checked_div(max_score).unwrap_or(0),
        complete: checks.iter().all(|c| c.status != Status::Error),
        checks,
        competencies,
        hints,
        hint_cost,
        penalties,
        strong_signals: if interviewer {
            s.rubric.strong_signals.clone()
        } else {
            vec![]
        },
        red_flags: if interviewer {
            s.rubric.red_flags.clone()
        } else {
            vec![]
        },
        follow_ups: if interviewer {
            s.follow_ups.clone()
        } else {
            vec![]
        },
    }
}

/// The checks a scope runs.
pub fn checks_in_scope(pkg: &Package, scope: Scope) -> Vec<&Check> {
    pkg.scenario
        .checks
        .iter()
        .filter(|c| scope == Scope::All || c.visibility == Visibility::Candidate)
        .collect()
}

/// Inputs for tests of grading and rendering: the shipped `crashloop-docker` package, a
/// session with one hint, and outcomes chosen per check.
#[cfg(test)]
pub(crate) mod sample {
    use time::macros::datetime;

    use super::*;
    use crate::scenario::BackendKind;
    use crate::session::{HintTaken, Status as SessionStatus};

    pub fn package() -> Package {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/crashloop-docker");
        crate::scenario::load(&dir).expect("shipped scenario loads")
    }

    pub fn session() -> Session {
        Session {
            format_version: 1,
            id: "crashloop-docker-abc123".into(),
            scenario: "crashloop-docker".into(),
            package: "/scenarios/crashloop-docker".into(),
            candidate: Some("Ada Lovelace".into()),
            backend: BackendKind::Docker,
            context: None,
            kubeconfig: None,
            namespace: None,
            status: SessionStatus::Ready,
            created_at: datetime!(2026-11-20 09:00:00 UTC),
            ready_at: Some(datetime!(2026-11-20 09:01:00 UTC)),
            stopped_at: Some(datetime!(2026-11-20 09:19:30 UTC)),
            time_limit_secs: 1800,
            workspace: "/w".into(),
            pid: 1,
            hints: vec![HintTaken {
                number: 1,
                taken_at: datetime!(2026-11-20 09:05:00 UTC),
                cost: 5,
            }],
            events: vec![],
        }
    }

    pub fn outcome(status: Status) -> Outcome {
        Outcome {
            status,
            summary: format!("observed: {status}"),
            evidence: vec![format!("evidence line for {status}")],
            duration_ms: 12,
        }
    }

    /// A report where `status_of` decides each check's outcome.
    pub fn report(status_of: impl Fn(&str) -> Status) -> Report {
        let pkg = package();
        let outcomes: Vec<(&Check, Outcome)> = pkg
            .scenario
            .checks
            .iter()
            .map(|c| (c, outcome(status_of(&c.id.value))))
            .collect();
        compute(
            &pkg,
            &session(),
            &outcomes,
            Scope::All,
            datetime!(2026-11-20 09:20:00 UTC),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::sample::report;
    use super::*;

    #[test]
    fn a_full_fix_scores_every_point_minus_the_hints_taken() {
        let r = report(|_| Status::Pass);
        assert_eq!(r.max_score, 90);
        assert_eq!(r.hint_cost, 5);
        assert_eq!(r.score, 85);
        assert_eq!(r.percent, 94);
        assert!(r.complete && r.passed());
        assert_eq!(r.hints[0].after_secs, 240);
        assert_eq!(r.session.elapsed_secs, 1110);
    }

    #[test]
    fn a_failed_guard_subtracts_its_penalty_and_shows_in_its_competency() {
        let r = report(|id| {
            if id == "keeps-healthcheck-and-restart-policy" {
                Status::Fail
            } else {
                Status::Pass
            }
        });
        assert_eq!(r.penalties, 20);
        assert_eq!(r.score, 90 - 5 - 20);
        let containers = r
            .competencies
            .iter()
            .find(|c| c.competency == Competency::Containers)
            .unwrap();
        assert_eq!((containers.awarded, containers.max), (50 - 20, 50));
        assert!(!r.passed());
    }

    #[test]
    fn the_score_never_goes_below_zero() {
        let r = report(|_| Status::Fail);
        assert_eq!(r.penalties, 45);
        assert_eq!(r.score, 0);
    }

    #[test]
    fn a_check_that_could_not_run_makes_the_grade_incomplete_not_failed() {
        let r = report(|id| {
            if id == "web-stays-up" {
                Status::Error
            } else {
                Status::Pass
            }
        });
        assert!(!r.complete);
        assert_eq!(r.errors(), 1);
        let c = r.checks.iter().find(|c| c.id == "web-stays-up").unwrap();
        assert_eq!(c.awarded, 0);
    }

    #[test]
    fn the_candidate_scope_runs_only_visible_checks_and_hides_rubric_material() {
        let pkg = super::sample::package();
        let visible = checks_in_scope(&pkg, Scope::Candidate);
        assert_eq!(visible.len(), 2);
        let outcomes: Vec<_> = visible
            .iter()
            .map(|c| (*c, super::sample::outcome(Status::Pass)))
            .collect();
        let r = compute(
            &pkg,
            &super::sample::session(),
            &outcomes,
            Scope::Candidate,
            OffsetDateTime::now_utc(),
        );
        assert!(r.strong_signals.is_empty() && r.red_flags.is_empty() && r.follow_ups.is_empty());
    }
}
