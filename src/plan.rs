//! Assessment plans: a hiring loop for a role is several scenarios in order, with the weight
//! of each rubric competency and a time budget. `plans/<id>.yaml` declares one; an
//! assessment is one candidate going through it, a session per scenario; its report combines
//! the sessions' grades into one scorecard per competency.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::diagnostic::{self, Diagnostic};
use crate::duration::HumanDuration;
use crate::grade::Report;
use crate::scenario::Competency;
use crate::session::{SessionError, Store};
use crate::timeline::Mark;
use crate::yaml::{self, Located, Pos};

/// A plan as written in `plans/<id>.yaml`.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct PlanFile {
    pub id: Located<String>,
    pub title: String,
    /// What the role does, in a few lines (shown at the top of the combined report).
    pub role: String,
    /// The scenarios, in the order the candidate takes them.
    pub scenarios: Vec<Located<String>>,
    /// How much each competency counts in the combined score (relative; default 1 each).
    #[serde(default)]
    pub weights: BTreeMap<Competency, Located<u32>>,
    /// The whole assessment's time.
    pub time_budget: Located<HumanDuration>,
}

/// A loaded, validated plan.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Plan {
    pub id: String,
    pub title: String,
    pub role: String,
    pub scenarios: Vec<String>,
    pub weights: BTreeMap<Competency, u32>,
    pub time_budget_secs: u64,
    #[serde(skip)]
    pub file: PathBuf,
}

impl Plan {
    pub fn weight(&self, c: Competency) -> u32 {
        self.weights.get(&c).copied().unwrap_or(1)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("load plan {}: {} problem(s)\n{}", file.display(), diagnostics.len(), diagnostic::render(diagnostics))]
    Invalid {
        file: PathBuf,
        diagnostics: Vec<Diagnostic>,
    },
    #[error("find plan `{id}` in {} (available: {})", dir.display(), if known.is_empty() { "none".to_string() } else { known.join(", ") })]
    NotFound {
        id: String,
        dir: PathBuf,
        known: Vec<String>,
    },
}

/// Loads and checks a plan file. `scenario_time(id)` gives a known scenario's time limit
/// (seconds), or `None` when there is no such scenario.
pub fn load(file: &Path, scenario_time: &dyn Fn(&str) -> Option<u64>) -> Result<Plan, PlanError> {
    let invalid = |diagnostics| PlanError::Invalid {
        file: file.to_path_buf(),
        diagnostics,
    };
    let at = |pos: Pos, msg: String| Diagnostic::at(file, pos, msg);
    let text = yaml::read_file(file, "plan file")
        .map_err(|e| invalid(vec![Diagnostic::from_parse(file, e)]))?;
    let raw: PlanFile =
        yaml::from_str(&text).map_err(|e| invalid(vec![Diagnostic::from_parse(file, e)]))?;
    let mut diags = vec![];
    let stem = file.file_stem().map(|s| s.to_string_lossy().into_owned());
    if stem.as_deref() != Some(raw.id.value.as_str()) {
        diags.push(at(
            raw.id.pos,
            format!(
                "id: `{}` must match the file name (`{}.yaml`)",
                raw.id.value,
                stem.unwrap_or_default()
            ),
        ));
    }
    if raw.scenarios.is_empty() {
        diags.push(at(
            Pos::default(),
            "scenarios: a plan needs at least one scenario".into(),
        ));
    }
    let mut total = 0;
    for (i, s) in raw.scenarios.iter().enumerate() {
        match scenario_time(&s.value) {
            Some(t) => total += t,
            None => diags.push(at(
                s.pos,
                format!(
                    "scenarios[{i}]: no scenario `{}` in the scenarios folder",
                    s.value
                ),
            )),
        }
        if raw.scenarios[..i].iter().any(|x| x.value == s.value) {
            diags.push(at(
                s.pos,
                format!("scenarios[{i}]: `{}` is listed twice", s.value),
            ));
        }
    }
    let budget = raw.time_budget.value.0.as_secs();
    if budget == 0 {
        diags.push(at(
            raw.time_budget.pos,
            "time-budget: must be more than zero".into(),
        ));
    } else if diags.is_empty() && budget < total {
        diags.push(at(
            raw.time_budget.pos,
            format!(
                "time-budget: {} is less than the scenarios' time limits together ({})",
                humantime::format_duration(raw.time_budget.value.0),
                humantime::format_duration(std::time::Duration::from_secs(total))
            ),
        ));
    }
    if !raw.weights.is_empty() && raw.weights.values().all(|w| w.value == 0) {
        let pos = raw
            .weights
            .values()
            .next()
            .map(|w| w.pos)
            .unwrap_or_default();
        diags.push(at(
            pos,
            "weights: at least one competency must weigh more than zero".into(),
        ));
    }
    if !diags.is_empty() {
        return Err(invalid(diags));
    }
    Ok(Plan {
        id: raw.id.value,
        title: raw.title,
        role: raw.role.trim().to_string(),
        scenarios: raw.scenarios.into_iter().map(|s| s.value).collect(),
        weights: raw.weights.into_iter().map(|(k, v)| (k, v.value)).collect(),
        time_budget_secs: budget,
        file: file.to_path_buf(),
    })
}

/// The plan files of a folder, by id (file stem).
pub fn files(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
                .filter_map(|p| Some((p.file_stem()?.to_string_lossy().into_owned(), p)))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// One candidate going through a plan: a session per scenario, in order.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Assessment {
    pub id: String,
    pub plan: String,
    /// The plan file it was started from.
    pub plan_file: PathBuf,
    pub candidate: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub started_at: OffsetDateTime,
    /// Session ids, one per scenario taken so far.
    pub sessions: Vec<String>,
    /// Every scenario of the plan has been taken and graded.
    #[serde(default)]
    pub finished: bool,
}

/// How one scenario of the plan went.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct ScenarioLine {
    pub scenario: String,
    pub session: Option<String>,
    /// `not-started`, `live`, `graded`, or `not-graded` (stopped without a grade).
    pub state: String,
    pub score: Option<u32>,
    pub max_score: Option<u32>,
    pub percent: Option<u32>,
    pub complete: Option<bool>,
    pub elapsed_secs: Option<u64>,
}

/// One competency across the plan.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct CompetencyLine {
    pub competency: Competency,
    pub weight: u32,
    pub awarded: i64,
    pub max: u32,
    /// `awarded` / `max` as a percentage (0 when nothing was at stake).
    pub percent: u32,
    pub marks: Vec<Mark>,
    /// Evidence for: the interviewer's notes marked strong, scenarios solved without a hint.
    pub strong_signals_seen: Vec<String>,
    /// Evidence against: guards a fix broke, the interviewer's notes marked weak.
    pub red_flags_seen: Vec<String>,
}

/// The combined report of an assessment.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct AssessmentReport {
    pub format_version: u32,
    pub assessment: String,
    pub plan: String,
    pub title: String,
    pub role: String,
    pub candidate: Option<String>,
    pub time_budget_secs: u64,
    pub time_used_secs: u64,
    pub scenarios: Vec<ScenarioLine>,
    pub competencies: Vec<CompetencyLine>,
    /// The competencies' percentages weighted by the plan.
    pub weighted_percent: u32,
    /// Every scenario was graded and every grade complete.
    pub complete: bool,
}

/// What combining needs of one session: its state and its last grade, if any.
pub struct Taken<'a> {
    pub session: &'a str,
    pub live: bool,
    pub report: Option<&'a Report>,
}

/// Combines the sessions' reports into one per-competency scorecard. Pure.
pub fn combine(plan: &Plan, a: &Assessment, taken: &[Taken<'_>]) -> AssessmentReport {
    let mut scenarios = vec![];
    let mut per: BTreeMap<Competency, CompetencyLine> = BTreeMap::new();
    let line = |c: Competency| CompetencyLine {
        competency: c,
        weight: plan.weight(c),
        awarded: 0,
        max: 0,
        percent: 0,
        marks: vec![],
        strong_signals_seen: vec![],
        red_flags_seen: vec![],
    };
    for (i, id) in plan.scenarios.iter().enumerate() {
        let t = taken.get(i);
        let r = t.and_then(|t| t.report);
        let state = match (t, r) {
            (None, _) => "not-started",
            (Some(t), _) if t.live => "live",
            (Some(_), Some(_)) => "graded",
            (Some(_), None) => "not-graded",
        };
        scenarios.push(ScenarioLine {
            scenario: id.clone(),
            session: t.map(|t| t.session.to_string()),
            state: state.into(),
            score: r.map(|r| r.score),
            max_score: r.map(|r| r.max_score),
            percent: r.map(|r| r.percent),
            complete: r.map(|r| r.complete),
            elapsed_secs: r.map(|r| r.session.elapsed_secs),
        });
        let Some(r) = r else { continue };
        for c in &r.competencies {
            let l = per
                .entry(c.competency)
                .or_insert_with(|| line(c.competency));
            l.awarded += c.awarded;
            l.max += c.max;
            l.marks.extend(&c.marks);
        }
        for c in r.checks.iter().filter(|c| c.guard && c.awarded < 0) {
            per.entry(c.competency)
                .or_insert_with(|| line(c.competency))
                .red_flags_seen
                .push(format!("{id}: {} ({})", c.title, c.summary));
        }
        for n in &r.notes {
            let (Some(c), Some(m)) = (n.competency, n.mark) else {
                continue;
            };
            let l = per.entry(c).or_insert_with(|| line(c));
            let text = format!("{id}: {} (interviewer)", n.text);
            match m {
                Mark::Strong => l.strong_signals_seen.push(text),
                Mark::Weak => l.red_flags_seen.push(text),
                Mark::Meets => {}
            }
        }
        if r.passed() && r.hints.is_empty() {
            for c in &r.scenario.competencies {
                per.entry(*c)
                    .or_insert_with(|| line(*c))
                    .strong_signals_seen
                    .push(format!(
                        "{id}: every check passed without a hint, in {}",
                        crate::duration::clock_text(r.session.elapsed_secs)
                    ));
            }
        }
    }
    let mut competencies: Vec<CompetencyLine> = per.into_values().collect();
    for c in &mut competencies {
        c.percent = if c.max > 0 {
            (c.awarded.max(0) * 100 / c.max as i64) as u32
        } else {
            0
        };
    }
    let scored: Vec<&CompetencyLine> = competencies.iter().filter(|c| c.max > 0).collect();
    let weights: u64 = scored.iter().map(|c| c.weight as u64).sum();
    let weighted_percent = scored
        .iter()
        .map(|c| c.weight as u64 * c.percent as u64)
        .sum::<u64>()
        .checked_div(weights)
        .unwrap_or(0) as u32;
    let complete = scenarios
        .iter()
        .all(|s| s.state == "graded" && s.complete == Some(true));
    AssessmentReport {
        format_version: 1,
        assessment: a.id.clone(),
        plan: plan.id.clone(),
        title: plan.title.clone(),
        role: plan.role.clone(),
        candidate: a.candidate.clone(),
        time_budget_secs: plan.time_budget_secs,
        time_used_secs: scenarios.iter().filter_map(|s| s.elapsed_secs).sum(),
        scenarios,
        competencies,
        weighted_percent,
        complete,
    }
}

/// Where a store keeps its assessments.
fn dir(store: &Store) -> PathBuf {
    store.root().join("assessments")
}

/// A new assessment of `plan` (no session yet), saved.
pub fn create(
    store: &Store,
    plan: &Plan,
    candidate: Option<String>,
) -> Result<Assessment, SessionError> {
    let a = Assessment {
        id: crate::session::new_id(&plan.id),
        plan: plan.id.clone(),
        plan_file: plan
            .file
            .canonicalize()
            .unwrap_or_else(|_| plan.file.clone()),
        candidate,
        started_at: OffsetDateTime::now_utc(),
        sessions: vec![],
        finished: false,
    };
    save(store, &a)?;
    Ok(a)
}

pub fn save(store: &Store, a: &Assessment) -> Result<(), SessionError> {
    let bytes = serde_json::to_vec_pretty(a).unwrap_or_default();
    crate::session::write_atomic(&dir(store).join(format!("{}.json", a.id)), &bytes)
}

/// Every assessment id of the store.
pub fn ids(store: &Store) -> Vec<String> {
    let mut ids: Vec<String> = std::fs::read_dir(dir(store))
        .map(|rd| {
            rd.filter_map(Result::ok)
                .filter_map(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .strip_suffix(".json")
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids
}

pub fn load_assessment(store: &Store, id: &str) -> Result<Assessment, SessionError> {
    let path = dir(store).join(format!("{id}.json"));
    let bytes = std::fs::read(&path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => SessionError::NotFound {
            id: id.to_string(),
            dir: dir(store),
        },
        _ => SessionError::Read {
            path: path.clone(),
            source,
        },
    })?;
    serde_json::from_slice(&bytes).map_err(|source| SessionError::Corrupt { path, source })
}

/// The assessment named (any unique prefix), or the only unfinished one.
pub fn resolve(store: &Store, arg: Option<&str>) -> Result<Assessment, SessionError> {
    let all = ids(store);
    let matches: Vec<String> = match arg {
        Some(a) if all.iter().any(|i| i == a) => vec![a.to_string()],
        Some(a) => all.into_iter().filter(|i| i.starts_with(a)).collect(),
        None => all
            .into_iter()
            .filter(|i| load_assessment(store, i).is_ok_and(|x| !x.finished))
            .collect(),
    };
    match matches.as_slice() {
        [one] => load_assessment(store, one),
        [] => Err(SessionError::NotFound {
            id: arg.unwrap_or("(any unfinished assessment)").to_string(),
            dir: dir(store),
        }),
        _ => Err(SessionError::Ambiguous {
            id: arg.unwrap_or("(no id given)").to_string(),
            matches,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Status;
    use crate::grade::sample::report;

    fn plan() -> Plan {
        Plan {
            id: "p".into(),
            title: "P".into(),
            role: "r".into(),
            scenarios: vec!["crashloop-docker".into(), "harden-image".into()],
            weights: BTreeMap::from([(Competency::IncidentResponse, 3)]),
            time_budget_secs: 3600,
            file: "p.yaml".into(),
        }
    }

    fn assessment() -> Assessment {
        Assessment {
            id: "p-1".into(),
            plan: "p".into(),
            plan_file: "p.yaml".into(),
            candidate: Some("Ada".into()),
            started_at: OffsetDateTime::UNIX_EPOCH,
            sessions: vec!["s1".into()],
            finished: false,
        }
    }

    #[test]
    fn competencies_add_up_across_scenarios_and_weigh_as_the_plan_says() {
        let r = report(|_| Status::Pass);
        let taken = [Taken {
            session: "s1",
            live: false,
            report: Some(&r),
        }];
        let c = combine(&plan(), &assessment(), &taken);
        assert_eq!(c.scenarios[0].state, "graded");
        assert_eq!(c.scenarios[1].state, "not-started");
        assert!(
            !c.complete,
            "a scenario not taken leaves the assessment incomplete"
        );
        let ir = c
            .competencies
            .iter()
            .find(|x| x.competency == Competency::IncidentResponse)
            .unwrap();
        assert_eq!((ir.weight, ir.percent), (3, 100));
        assert_eq!(ir.marks, vec![Mark::Strong]);
        // A hint was taken: no "without a hint" signal, but the interviewer's strong note is.
        assert_eq!(
            ir.strong_signals_seen.len(),
            1,
            "{:?}",
            ir.strong_signals_seen
        );
        let containers = c
            .competencies
            .iter()
            .find(|x| x.competency == Competency::Containers)
            .unwrap();
        assert_eq!(containers.weight, 1);
        let expected = (3 * ir.percent + containers.percent) / 4;
        assert_eq!(c.weighted_percent, expected);
    }

    #[test]
    fn a_broken_guard_is_a_red_flag_seen_in_its_competency() {
        let r = report(|id| {
            if id == "keeps-healthcheck-and-restart-policy" {
                Status::Fail
            } else {
                Status::Pass
            }
        });
        let taken = [Taken {
            session: "s1",
            live: false,
            report: Some(&r),
        }];
        let c = combine(&plan(), &assessment(), &taken);
        let containers = c
            .competencies
            .iter()
            .find(|x| x.competency == Competency::Containers)
            .unwrap();
        assert_eq!(containers.red_flags_seen.len(), 1);
        assert!(containers.red_flags_seen[0].starts_with("crashloop-docker: "));
    }
}
