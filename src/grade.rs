//! Turns check outcomes, the hint ledger and guard penalties into a [`Report`]: plain data
//! that every reporter renders and that is saved beside the session.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::check::{Outcome, Status};
use crate::scenario::{Check, Competency, Package, Visibility};
use crate::session::{EventKind, Session};
use crate::timeline::{self, Mark};

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
    /// Everything that happened, in order (empty in the candidate's scope).
    #[serde(default)]
    pub timeline: Vec<TimelineEntry>,
    #[serde(default)]
    pub milestones: Milestones,
    /// The interviewer's notes and marks (empty in the candidate's scope).
    #[serde(default)]
    pub notes: Vec<NoteLine>,
    /// Commands the candidate ran in recorded shells (`breakfix shell`, `breakfix exec -t`) or
    /// with `breakfix exec`.
    #[serde(default)]
    pub commands: Vec<CommandLine>,
    /// What the browser terminal noticed about how input came (pasted, faster than typing,
    /// the page losing focus) and who held the keyboard: signals to ask about, not verdicts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub signals: Vec<TimelineEntry>,
    /// The scenario's process signals (`rubric.process-signals`), each seen or not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub process_signals: Vec<ProcessSignalSeen>,
    /// For a graded take-home: what was submitted, and how it differs from the workspace as
    /// issued.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submission: Option<crate::session::SubmissionInfo>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct TimelineEntry {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Seconds on the session clock (0 before it started).
    pub after_secs: u64,
    /// What happened, by its kebab-case name (`ready`, `workspace-changed`, `check-passed`).
    pub kind: EventKind,
    pub detail: String,
}

/// One of the scenario's process signals, as the record shows it.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ProcessSignalSeen {
    pub title: String,
    pub seen: bool,
    /// When it was first seen, on the session clock.
    pub at_secs: Option<u64>,
    /// What showed it: the command or call that matched.
    pub by: Option<String>,
}

/// Seconds on the session clock when each thing first happened; absent when it did not.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Milestones {
    pub first_command_secs: Option<u64>,
    pub first_change_secs: Option<u64>,
    pub first_apply_secs: Option<u64>,
    /// The first time a check that awards points was seen passing.
    pub first_pass_secs: Option<u64>,
    /// The first time every check was seen passing at once: the time to fix.
    pub all_passed_secs: Option<u64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct NoteLine {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub after_secs: u64,
    pub competency: Option<Competency>,
    pub mark: Option<Mark>,
    pub text: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct CommandLine {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub after_secs: u64,
    pub target: String,
    pub command: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ScenarioInfo {
    pub id: String,
    pub title: String,
    pub competencies: Vec<Competency>,
    /// The seed and values of a parameterised scenario: the candidate's variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<crate::scenario::variables::Variant>,
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
    /// Seconds on the clock when a round first saw it pass (watch, serve, check or grade).
    #[serde(default)]
    pub first_passed_secs: Option<u64>,
    /// It passed at some point and failed again later.
    #[serde(default)]
    pub broke_again: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct CompetencyScore {
    pub competency: Competency,
    pub awarded: i64,
    pub max: u32,
    /// The interviewer's marks for this competency, in the order given.
    #[serde(default)]
    pub marks: Vec<Mark>,
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
    let start = session.ready_at;
    let clock = |at: OffsetDateTime| start.map_or(0, |st| (at - st).whole_seconds().max(0) as u64);
    let interviewer = scope == Scope::All;
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
            first_passed_secs: None,
            broke_again: false,
        })
        .collect();
    let max_score: u32 = outcomes.iter().map(|(c, _)| c.points()).sum();
    let penalties: u32 = checks
        .iter()
        .filter(|c| c.guard && c.awarded < 0)
        .map(|c| c.points)
        .sum();
    let earned: i64 = checks.iter().filter(|c| !c.guard).map(|c| c.awarded).sum();
    let hints: Vec<HintLine> = session
        .hints
        .iter()
        .map(|h| HintLine {
            number: h.number,
            taken_at: h.taken_at,
            after_secs: clock(h.taken_at),
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
            marks: vec![],
        })
        .filter(|c| c.max > 0 || c.awarded != 0)
        .collect();
    let elapsed_secs = session.elapsed().map_or(0, |d| d.as_secs());
    let mut report = Report {
        format_version: FORMAT_VERSION,
        scope,
        scenario: ScenarioInfo {
            id: pkg.id().into(),
            title: s.title.clone(),
            competencies: pkg.competencies().into_iter().collect(),
            variant: if interviewer {
                pkg.variant.clone()
            } else {
                None
            },
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
        timeline: vec![],
        milestones: Milestones::default(),
        notes: vec![],
        commands: vec![],
        signals: vec![],
        process_signals: vec![],
        submission: if interviewer {
            session.submission.clone()
        } else {
            None
        },
    };
    refresh(&mut report, pkg, session);
    report
}

/// Brings what the session recorded into a report: when each check first passed, the
/// timeline, milestones, commands, and the interviewer's notes and marks. `grade` calls it;
/// so does rendering a saved report, for notes added after the grade.
pub fn refresh(report: &mut Report, pkg: &Package, session: &Session) {
    let start = session.ready_at;
    let clock = |at: OffsetDateTime| start.map_or(0, |st| (at - st).whole_seconds().max(0) as u64);
    for c in &mut report.checks {
        let (first, broke_again) = timeline::first_pass(&session.observations, &c.id);
        c.first_passed_secs = first.map(clock);
        c.broke_again = broke_again;
    }
    if report.scope != Scope::All {
        return;
    }
    report.notes = session
        .notes
        .iter()
        .map(|n| NoteLine {
            at: n.at,
            after_secs: clock(n.at),
            competency: n.competency,
            mark: n.mark,
            text: n.text.clone(),
        })
        .collect();
    for score in &mut report.competencies {
        score.marks.clear();
    }
    for n in &report.notes {
        let (Some(comp), Some(mark)) = (n.competency, n.mark) else {
            continue;
        };
        match report
            .competencies
            .iter_mut()
            .find(|c| c.competency == comp)
        {
            Some(score) => score.marks.push(mark),
            None => report.competencies.push(CompetencyScore {
                competency: comp,
                awarded: 0,
                max: 0,
                marks: vec![mark],
            }),
        }
    }
    report.commands = session
        .commands
        .iter()
        .map(|c| CommandLine {
            at: c.at,
            after_secs: clock(c.at),
            target: c.target.clone(),
            command: c.command.clone(),
        })
        .collect();
    report.timeline = timeline_of(pkg, session, &clock);
    report.signals = report
        .timeline
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Signal | EventKind::Pairing))
        .cloned()
        .collect();
    report.milestones = milestones_of(pkg, session, &report.commands, &clock);
    report.process_signals = process_signals_of(pkg, report);
}

/// The session's events, check status changes, commands and notes, in order.
fn timeline_of(
    pkg: &Package,
    session: &Session,
    clock: &dyn Fn(OffsetDateTime) -> u64,
) -> Vec<TimelineEntry> {
    let title = |id: &str| {
        pkg.scenario
            .checks
            .iter()
            .find(|c| c.id.value == id)
            .map_or(String::new(), |c| format!(" ({})", c.title))
    };
    let entry = |at: OffsetDateTime, kind: EventKind, detail: String| TimelineEntry {
        at,
        after_secs: clock(at),
        kind,
        detail,
    };
    let mut out: Vec<TimelineEntry> = session
        .events
        .iter()
        .map(|e| entry(e.at, e.kind, e.detail.clone()))
        .collect();
    out.extend(session.observations.iter().map(|o| {
        let (kind, verb) = match o.status {
            Status::Pass => (EventKind::CheckPassed, "passes"),
            _ => (EventKind::CheckFailed, "fails"),
        };
        entry(
            o.at,
            kind,
            format!(
                "`{}`{} {verb}: {} (seen by {})",
                o.check,
                title(&o.check),
                o.summary,
                o.by
            ),
        )
    }));
    out.extend(session.commands.iter().map(|c| {
        entry(
            c.at,
            EventKind::Command,
            format!("{}$ {}", c.target, c.command),
        )
    }));
    out.extend(session.notes.iter().map(|n| {
        let tag = match timeline::note_tag(n.competency, n.mark) {
            t if t.is_empty() => t,
            t => format!("[{t}] "),
        };
        entry(n.at, EventKind::Note, format!("{tag}{}", n.text))
    }));
    // Stable: what was recorded first at the same instant stays first.
    out.sort_by_key(|e| e.at);
    out
}

/// What the candidate ran, as process signals match it, with when (session clock).
fn actions(report: &Report) -> Vec<(u64, String)> {
    let mut out: Vec<(u64, String)> = report
        .commands
        .iter()
        .map(|c| (c.after_secs, c.command.clone()))
        .collect();
    out.extend(report.timeline.iter().filter_map(|e| {
        let text = match e.kind {
            EventKind::Docker => e.detail.clone(),
            EventKind::Ps => "breakfix ps".into(),
            EventKind::Logs => format!("breakfix logs: {}", e.detail),
            EventKind::Inspect => format!("breakfix inspect: {}", e.detail),
            _ => return None,
        };
        Some((e.after_secs, text))
    }));
    out.sort_by_key(|(at, _)| *at);
    out
}

fn process_signals_of(pkg: &Package, report: &Report) -> Vec<ProcessSignalSeen> {
    use crate::scenario::Moment;
    let done = actions(report);
    let m = &report.milestones;
    pkg.scenario
        .rubric
        .process_signals
        .iter()
        .map(|p| {
            let bound = match p.before {
                None => None,
                Some(Moment::FirstChange) => m.first_change_secs,
                Some(Moment::FirstApply) => m.first_apply_secs,
                Some(Moment::AllPassed) => m.all_passed_secs,
            };
            // Validated when the package loaded; a pattern that no longer compiles is unseen.
            let re = regex::Regex::new(&p.when.value).ok();
            let first = done.iter().find(|(at, text)| {
                bound.is_none_or(|b| *at <= b) && re.as_ref().is_some_and(|r| r.is_match(text))
            });
            ProcessSignalSeen {
                title: p.title.clone(),
                seen: first.is_some(),
                at_secs: first.map(|(at, _)| *at),
                by: first.map(|(_, text)| text.clone()),
            }
        })
        .collect()
}

fn milestones_of(
    pkg: &Package,
    session: &Session,
    commands: &[CommandLine],
    clock: &dyn Fn(OffsetDateTime) -> u64,
) -> Milestones {
    let after_ready = |at: &OffsetDateTime| session.ready_at.is_none_or(|r| *at >= r);
    let first_event = |kind: EventKind| {
        session
            .events
            .iter()
            .find(|e| e.kind == kind && after_ready(&e.at))
            .map(|e| clock(e.at))
    };
    let scored = |id: &str| {
        pkg.scenario
            .checks
            .iter()
            .any(|c| c.id.value == id && !c.is_guard())
    };
    let mut latest: std::collections::BTreeMap<&str, Status> = Default::default();
    let mut all_passed = None;
    for o in &session.observations {
        latest.insert(&o.check, o.status);
        let every = pkg
            .scenario
            .checks
            .iter()
            .all(|c| latest.get(c.id.value.as_str()) == Some(&Status::Pass));
        if every && all_passed.is_none() {
            all_passed = Some(clock(o.at));
        }
    }
    Milestones {
        first_command_secs: commands.first().map(|c| c.after_secs),
        first_change_secs: first_event(EventKind::WorkspaceChanged),
        first_apply_secs: first_event(EventKind::Applied),
        first_pass_secs: session
            .observations
            .iter()
            .find(|o| o.status == Status::Pass && scored(&o.check))
            .map(|o| clock(o.at)),
        all_passed_secs: all_passed,
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
    use crate::session::{Event, HintTaken, Status as SessionStatus};
    use crate::timeline::{CommandRun, Note, Observation};

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
            runtime: None,
            kubeconfig: None,
            namespace: None,
            workstation: None,
            candidate_token: None,
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
            events: vec![
                Event {
                    at: datetime!(2026-11-20 09:01:00 UTC),
                    kind: EventKind::Ready,
                    detail: "broken state reached; clock started".into(),
                },
                Event {
                    at: datetime!(2026-11-20 09:07:10 UTC),
                    kind: EventKind::WorkspaceChanged,
                    detail: "edited nginx/conf.d/default.conf".into(),
                },
                Event {
                    at: datetime!(2026-11-20 09:07:30 UTC),
                    kind: EventKind::Applied,
                    detail: "recreated [web]".into(),
                },
            ],
            observations: vec![
                Observation {
                    at: datetime!(2026-11-20 09:01:05 UTC),
                    check: "web-stays-up".into(),
                    status: Status::Fail,
                    summary: "restarted 3 times".into(),
                    by: "watch".into(),
                },
                Observation {
                    at: datetime!(2026-11-20 09:08:00 UTC),
                    check: "web-stays-up".into(),
                    status: Status::Pass,
                    summary: "up for 20s".into(),
                    by: "watch".into(),
                },
            ],
            notes: vec![Note {
                at: datetime!(2026-11-20 09:10:00 UTC),
                competency: Some(Competency::IncidentResponse),
                mark: Some(Mark::Strong),
                text: "Read the logs <before> touching anything & said why.".into(),
            }],
            commands: vec![CommandRun {
                at: datetime!(2026-11-20 09:02:30 UTC),
                target: "web".into(),
                command: "tail -n 50 /var/log/nginx/error.log".into(),
                recording: "recordings/1-web.cast".into(),
            }],
            workspace_files: Default::default(),
            submission: None,
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
    fn a_process_signal_counts_only_before_its_moment_and_says_what_showed_it() {
        use crate::session::Event;
        use time::macros::datetime;
        let pkg = super::sample::package();
        let mut s = super::sample::session();
        s.events.push(Event {
            at: datetime!(2026-11-20 09:03:00 UTC),
            kind: EventKind::Docker,
            detail: "docker logs web".into(),
        });
        // After the first change (09:07:10): too late for "before the first change".
        s.events.push(Event {
            at: datetime!(2026-11-20 09:08:00 UTC),
            kind: EventKind::Docker,
            detail: "docker inspect web".into(),
        });
        let mut r = report(|_| Status::Pass);
        refresh(&mut r, &pkg, &s);
        let seen = |title: &str| {
            r.process_signals
                .iter()
                .find(|p| p.title.starts_with(title))
                .unwrap()
                .clone()
        };
        // The earliest match is the one shown: the log file read in a recorded shell at
        // 1m30s, before `docker logs web` at 2m.
        let logs = seen("Read a service's log");
        assert!(logs.seen);
        assert_eq!(logs.at_secs, Some(90));
        assert_eq!(
            logs.by.as_deref(),
            Some("tail -n 50 /var/log/nginx/error.log")
        );
        let state = seen("Looked at the containers' state");
        assert!(!state.seen && state.by.is_none(), "{state:?}");
    }

    #[test]
    fn the_score_never_goes_below_zero() {
        let r = report(|_| Status::Fail);
        assert_eq!(r.penalties, 60);
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

    #[test]
    fn the_timeline_merges_events_check_changes_commands_and_notes_in_order() {
        let r = report(|_| Status::Pass);
        let kinds: Vec<&str> = r.timeline.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "ready",
                "check-failed",
                "command",
                "workspace-changed",
                "applied",
                "check-passed",
                "note"
            ]
        );
        let passed = &r.timeline[5];
        assert_eq!(passed.after_secs, 7 * 60);
        assert!(passed.detail.contains("web-stays-up"), "{}", passed.detail);
        assert_eq!(
            r.timeline[2].detail,
            "web$ tail -n 50 /var/log/nginx/error.log"
        );
    }

    #[test]
    fn milestones_show_when_the_candidate_first_acted_and_when_checks_passed() {
        let r = report(|_| Status::Pass);
        let m = &r.milestones;
        assert_eq!(m.first_command_secs, Some(90));
        assert_eq!(m.first_change_secs, Some(370));
        assert_eq!(m.first_apply_secs, Some(390));
        assert_eq!(m.first_pass_secs, Some(420));
        // Only one check was ever seen: not every check has passed yet.
        assert_eq!(m.all_passed_secs, None);
        let c = r.checks.iter().find(|c| c.id == "web-stays-up").unwrap();
        assert_eq!((c.first_passed_secs, c.broke_again), (Some(420), false));
    }

    #[test]
    fn an_interviewer_mark_joins_its_competency_even_without_checks_there() {
        let r = report(|_| Status::Pass);
        let ir = r
            .competencies
            .iter()
            .find(|c| c.competency == Competency::IncidentResponse)
            .unwrap();
        assert_eq!(ir.marks, vec![Mark::Strong]);
        assert_eq!(r.notes.len(), 1);
    }

    #[test]
    fn a_note_added_after_the_grade_shows_when_the_saved_report_is_refreshed() {
        let pkg = super::sample::package();
        let mut r = report(|_| Status::Pass);
        let mut s = super::sample::session();
        s.notes.push(crate::timeline::Note {
            at: time::macros::datetime!(2026-11-20 09:30:00 UTC),
            competency: Some(Competency::Containers),
            mark: Some(Mark::Weak),
            text: "did not explain the restart policy".into(),
        });
        refresh(&mut r, &pkg, &s);
        assert_eq!(r.notes.len(), 2);
        let c = r
            .competencies
            .iter()
            .find(|c| c.competency == Competency::Containers)
            .unwrap();
        assert_eq!(c.marks, vec![Mark::Weak]);
        assert_eq!(r.timeline.last().unwrap().kind, EventKind::Note);
    }
}
