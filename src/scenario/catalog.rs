//! The scenario catalog as interviewers browse it: what each package assesses, on which
//! backends, how hard and how long, and how many variants it has; filtered by what a loop
//! needs, and as the Markdown table the README shows.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::{BackendKind, Competency, Difficulty, Package, variables};

/// One scenario of the catalog.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Entry {
    pub id: String,
    pub title: String,
    pub competencies: Vec<Competency>,
    pub difficulty: Difficulty,
    pub backends: Vec<BackendKind>,
    /// As written in the package (`30m`).
    pub time_limit: String,
    pub time_limit_secs: u64,
    /// The names of its variables (empty for a package without `variables.yaml`).
    pub variables: Vec<String>,
    /// How many combinations of values its variables have (1 without variables).
    pub variants: u64,
    pub path: PathBuf,
}

impl Entry {
    /// The entry of the package loaded from `root`.
    pub fn of(p: &Package, root: &Path) -> Entry {
        let s = &p.scenario;
        let vars = root
            .join(variables::FILE)
            .is_file()
            .then(|| variables::read(root).ok())
            .flatten()
            .unwrap_or_default();
        Entry {
            id: p.id().to_string(),
            title: s.title.clone(),
            competencies: s.competencies.iter().map(|c| c.value).collect(),
            difficulty: s.difficulty,
            backends: s.backends.value.clone(),
            time_limit: s.time_limit.to_string(),
            time_limit_secs: s.time_limit.0.as_secs(),
            variables: vars.keys().cloned().collect(),
            variants: variables::combinations(&vars),
            path: root.to_path_buf(),
        }
    }
}

/// What an interviewer asks of the catalog; each field left out matches every scenario.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub competency: Option<Competency>,
    pub difficulty: Option<Difficulty>,
    pub backend: Option<BackendKind>,
    /// The longest time limit wanted.
    pub max_time: Option<Duration>,
}

impl Filter {
    pub fn matches(&self, e: &Entry) -> bool {
        self.competency.is_none_or(|c| e.competencies.contains(&c))
            && self.difficulty.is_none_or(|d| e.difficulty == d)
            && self.backend.is_none_or(|b| e.backends.contains(&b))
            && self
                .max_time
                .is_none_or(|t| e.time_limit_secs <= t.as_secs())
    }
}

/// The catalog as a Markdown table (the README's), one row per entry in the order given.
pub fn markdown(entries: &[Entry]) -> String {
    let names = |v: &[String]| v.join(", ");
    let mut out = String::from(
        "| id | backends | difficulty | time | competencies | variants | title |\n\
         | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    for e in entries {
        let competencies: Vec<String> = e.competencies.iter().map(|c| c.to_string()).collect();
        let backends: Vec<String> = e.backends.iter().map(|b| b.to_string()).collect();
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} | {} |\n",
            e.id,
            names(&backends),
            crate::choice::Choice::name(e.difficulty),
            e.time_limit,
            names(&competencies),
            e.variants,
            e.title.replace('|', "\\|"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: &str, c: Competency, d: Difficulty, b: BackendKind, mins: u64) -> Entry {
        Entry {
            id: id.into(),
            title: format!("{id} | breaks"),
            competencies: vec![c],
            difficulty: d,
            backends: vec![b],
            time_limit: format!("{mins}m"),
            time_limit_secs: mins * 60,
            variables: vec![],
            variants: 1,
            path: PathBuf::new(),
        }
    }

    #[test]
    fn a_filter_keeps_the_scenarios_that_match_every_field_given() {
        let all = [
            entry(
                "a",
                Competency::Security,
                Difficulty::Hard,
                BackendKind::Kube,
                45,
            ),
            entry(
                "b",
                Competency::Security,
                Difficulty::Easy,
                BackendKind::Docker,
                20,
            ),
            entry(
                "c",
                Competency::CiCd,
                Difficulty::Hard,
                BackendKind::Kube,
                30,
            ),
        ];
        let ids = |f: Filter| -> Vec<String> {
            all.iter()
                .filter(|e| f.matches(e))
                .map(|e| e.id.clone())
                .collect()
        };
        assert_eq!(ids(Filter::default()), ["a", "b", "c"]);
        let security = Filter {
            competency: Some(Competency::Security),
            ..Default::default()
        };
        assert_eq!(ids(security.clone()), ["a", "b"]);
        assert_eq!(
            ids(Filter {
                max_time: Some(Duration::from_secs(30 * 60)),
                ..security
            }),
            ["b"]
        );
        assert_eq!(
            ids(Filter {
                difficulty: Some(Difficulty::Hard),
                backend: Some(BackendKind::Kube),
                ..Default::default()
            }),
            ["a", "c"]
        );
    }

    #[test]
    fn the_markdown_table_has_a_row_per_scenario_and_escapes_pipes() {
        let t = markdown(&[entry(
            "a",
            Competency::Security,
            Difficulty::Hard,
            BackendKind::Kube,
            45,
        )]);
        assert_eq!(t.lines().count(), 3);
        assert!(
            t.ends_with("| `a` | kube | hard | 45m | security | 1 | a \\| breaks |\n"),
            "{t}"
        );
    }
}
