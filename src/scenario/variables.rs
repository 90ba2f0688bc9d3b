//! Parameterised scenarios: `variables.yaml` declares values chosen per candidate from a
//! seed (names, ports, which of several fault variants, a red herring), and every text file
//! of the package may use them as `{{ var.NAME }}` or `{{ var.NAME.FIELD }}`. A package is
//! rendered for one seed into a plain package (no placeholders left) that everything else
//! loads as usual, with a `variant.json` recording the seed and the values.
//!
//! The choice is a pure function of the seed, the scenario and the variable's name, so the
//! interviewer can rebuild the exact sandbox a candidate received from the seed alone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::diagnostic::Diagnostic;
use crate::yaml::{self, Located, Pos};

/// The file that makes a package parameterised.
pub const FILE: &str = "variables.yaml";
/// The record of a rendered package's seed and values.
pub const VARIANT_FILE: &str = "variant.json";
/// The seed `validate`, `list` and `show` render with when none is given.
pub const DEFAULT_SEED: &str = "default";

/// `variables.yaml`: each variable's possible values, by name.
pub type VariablesFile = BTreeMap<String, Located<Variable>>;

/// One variable: the values a candidate may get, one chosen per seed.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Variable {
    /// What the variable changes, for the scenario's author and the interviewer.
    #[serde(default)]
    pub description: String,
    /// The possible values. Either all plain values (`{{ var.NAME }}`), or all mappings with
    /// an `id` and the same other fields (`{{ var.NAME }}` is the id, `{{ var.NAME.FIELD }}`
    /// a field), for a variant that changes several places at once. A value may use other
    /// variables.
    pub one_of: Located<Vec<Choice>>,
}

/// One possible value: plain (text or a number), or a mapping of fields with an `id`.
#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(untagged)]
pub enum Choice {
    Plain(String),
    Fields(BTreeMap<String, String>),
}

/// A scalar read as its text, so `8080` and `"8080"` are the same value.
struct Text(String);

struct TextVisitor;

impl<'de> serde::de::Visitor<'de> for TextVisitor {
    type Value = Text;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a text, a number or true/false")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Text, E> {
        Ok(Text(v.to_string()))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Text, E> {
        Ok(Text(v.to_string()))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Text, E> {
        Ok(Text(v.to_string()))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Text, E> {
        Ok(Text(v.to_string()))
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Text, E> {
        Ok(Text(v.to_string()))
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor)
    }
}

struct ChoiceVisitor;

impl<'de> serde::de::Visitor<'de> for ChoiceVisitor {
    type Value = Choice;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a value (text or number) or a mapping with an `id`")
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Choice, E> {
        Ok(Choice::Plain(v.to_string()))
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Choice, E> {
        Ok(Choice::Plain(v.to_string()))
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Choice, E> {
        Ok(Choice::Plain(v.to_string()))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Choice, E> {
        Ok(Choice::Plain(v.to_string()))
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Choice, E> {
        Ok(Choice::Plain(v.to_string()))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Choice, A::Error> {
        let mut fields = BTreeMap::new();
        while let Some((k, v)) = map.next_entry::<String, Text>()? {
            fields.insert(k, v.0);
        }
        Ok(Choice::Fields(fields))
    }
}

impl<'de> Deserialize<'de> for Choice {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ChoiceVisitor)
    }
}

/// The values one seed chose, by variable name; `{{ var.NAME }}` of a variant with fields
/// is its `id`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "kebab-case")]
pub struct Variant {
    pub seed: String,
    pub values: BTreeMap<String, Choice>,
}

impl Variant {
    /// `name=value` pairs, for a line of text.
    pub fn describe(&self) -> String {
        self.values
            .iter()
            .map(|(k, v)| format!("{k}={}", v.id()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Choice {
    pub fn id(&self) -> &str {
        match self {
            Choice::Plain(s) => s,
            Choice::Fields(f) => f.get("id").map_or("", String::as_str),
        }
    }
    fn field(&self, name: Option<&str>) -> Option<&str> {
        match (self, name) {
            (_, None) => Some(self.id()),
            (Choice::Plain(_), Some(_)) => None,
            (Choice::Fields(f), Some(n)) => f.get(n).map(String::as_str),
        }
    }
}

fn placeholder() -> Regex {
    Regex::new(r"\{\{\s*var\.([A-Za-z0-9_-]+)(?:\.([A-Za-z0-9_-]+))?\s*\}\}").expect("static regex")
}

fn name_pattern() -> Regex {
    Regex::new("^[a-z][a-z0-9_-]{0,39}$").expect("static regex")
}

/// Reads and checks `variables.yaml` of the package at `root`.
pub fn read(root: &Path) -> Result<VariablesFile, Vec<Diagnostic>> {
    let file = root.join(FILE);
    let text = yaml::read_file(&file, "variables file")
        .map_err(|e| vec![Diagnostic::from_parse(&file, e)])?;
    let vars: VariablesFile =
        yaml::from_str(&text).map_err(|e| vec![Diagnostic::from_parse(&file, e)])?;
    let mut diags = vec![];
    let mut err = |pos: Pos, msg: String| diags.push(Diagnostic::at(&file, pos, msg));
    if vars.is_empty() {
        err(
            Pos { line: 1, column: 1 },
            "declares no variable; remove the file for a scenario without variables".into(),
        );
    }
    let names = name_pattern();
    for (name, v) in &vars {
        if !names.is_match(name) {
            err(
                v.pos,
                format!(
                    "variable name `{name}`: use lowercase letters, digits, `-` and `_`, starting with a letter"
                ),
            );
        }
        let choices = &v.value.one_of;
        if choices.value.len() < 2 {
            err(
                choices.pos,
                format!("variable `{name}`: one-of needs at least two values to choose from"),
            );
        }
        let plain = choices
            .iter()
            .filter(|c| matches!(c, Choice::Plain(_)))
            .count();
        if plain != 0 && plain != choices.len() {
            err(
                choices.pos,
                format!(
                    "variable `{name}`: one-of mixes plain values and mappings; use one or the other"
                ),
            );
        }
        let mut ids = std::collections::BTreeSet::new();
        let mut fields: Option<Vec<&String>> = None;
        for c in choices.iter() {
            if c.id().is_empty() {
                err(
                    choices.pos,
                    format!(
                        "variable `{name}`: every value needs an `id` (a mapping) or text (a plain value)"
                    ),
                );
            } else if c.id().contains('\n') {
                err(
                    choices.pos,
                    format!("variable `{name}`: a value is one line"),
                );
            } else if !ids.insert(c.id()) {
                err(
                    choices.pos,
                    format!("variable `{name}`: value `{}` appears twice", c.id()),
                );
            }
            if let Choice::Fields(f) = c {
                let keys: Vec<&String> = f.keys().collect();
                match &fields {
                    None => fields = Some(keys),
                    Some(first) if *first != keys => err(
                        choices.pos,
                        format!(
                            "variable `{name}`: every value has the same fields (the first has {}; `{}` has {})",
                            first
                                .iter()
                                .map(|k| k.as_str())
                                .collect::<Vec<_>>()
                                .join(", "),
                            c.id(),
                            keys.iter()
                                .map(|k| k.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ),
                    Some(_) => {}
                }
            }
        }
    }
    if diags.is_empty() {
        Ok(vars)
    } else {
        diags.sort();
        Err(diags)
    }
}

/// The index a seed picks among `n` values of variable `name` in scenario `scenario`.
fn pick(seed: &str, scenario: &str, name: &str, n: usize) -> usize {
    let digest = Sha256::digest(format!("breakfix-variables\0{scenario}\0{seed}\0{name}"));
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) % n.max(1) as u64) as usize
}

/// How many variants a package has: the product of its variables' numbers of values (1 for
/// a package without variables), held at `u64::MAX`.
pub fn combinations(vars: &VariablesFile) -> u64 {
    vars.values()
        .map(|v| v.value.one_of.value.len() as u64)
        .fold(1, u64::saturating_mul)
}

/// The values `seed` chooses, with values that use other variables filled in.
pub fn choose(vars: &VariablesFile, scenario: &str, seed: &str) -> Variant {
    let mut values: BTreeMap<String, Choice> = vars
        .iter()
        .map(|(name, v)| {
            let choices = &v.value.one_of.value;
            (
                name.clone(),
                choices[pick(seed, scenario, name, choices.len())].clone(),
            )
        })
        .collect();
    // Values may use other variables: fill them in until nothing changes (a cycle stops
    // after a few rounds and is then reported as an unknown placeholder at render time).
    for _ in 0..8 {
        let snapshot = values.clone();
        let mut changed = false;
        for choice in values.values_mut() {
            let fill = |s: &mut String, changed: &mut bool| {
                let (out, _) = substitute(s, &snapshot);
                if out != *s {
                    *s = out;
                    *changed = true;
                }
            };
            match choice {
                Choice::Plain(s) => fill(s, &mut changed),
                Choice::Fields(f) => f.values_mut().for_each(|s| fill(s, &mut changed)),
            }
        }
        if !changed {
            break;
        }
    }
    Variant {
        seed: seed.into(),
        values,
    }
}

/// How many candidate seeds [`covering_seeds`] picks from.
const SEED_POOL: usize = 512;

/// Seeds that between them choose every value of every variable at least once (for
/// `verify`), and at least `min` of them. Few, since each is a whole verify: of a pool of
/// seeds, each next one is the one that chooses the most values not chosen yet.
pub fn covering_seeds(vars: &VariablesFile, scenario: &str, min: usize) -> Vec<String> {
    let key = |n: &String, c: &Choice| (n.clone(), c.id().to_string());
    let mut missing: std::collections::BTreeSet<(String, String)> = vars
        .iter()
        .flat_map(|(n, v)| v.value.one_of.iter().map(move |c| key(n, c)))
        .collect();
    let pool: Vec<(String, Vec<(String, String)>)> = (0..SEED_POOL)
        .map(|i| {
            let seed = format!("verify-{i}");
            let chosen = choose(vars, scenario, &seed)
                .values
                .iter()
                .map(|(n, c)| key(n, c))
                .collect();
            (seed, chosen)
        })
        .collect();
    let mut seeds: Vec<String> = vec![];
    while !missing.is_empty() {
        let gain =
            |chosen: &Vec<(String, String)>| chosen.iter().filter(|k| missing.contains(*k)).count();
        // The first of the pool among those that gain most, so the answer is stable.
        let Some((seed, chosen)) =
            pool.iter()
                .filter(|(s, _)| !seeds.contains(s))
                .max_by_key(|(s, chosen)| {
                    (
                        gain(chosen),
                        std::cmp::Reverse(s.len()),
                        std::cmp::Reverse(s.clone()),
                    )
                })
        else {
            break;
        };
        if gain(chosen) == 0 {
            break; // a value no seed of the pool chooses (cannot happen with a fair pick)
        }
        chosen.iter().for_each(|k| {
            missing.remove(k);
        });
        seeds.push(seed.clone());
    }
    for (seed, _) in &pool {
        if seeds.len() >= min {
            break;
        }
        if !seeds.contains(seed) {
            seeds.push(seed.clone());
        }
    }
    seeds
}

/// A placeholder that names no variable (or no field of it), with its byte offset.
struct Unknown {
    offset: usize,
    text: String,
}

/// Replaces every placeholder whose variable is known; returns the text and the unknown ones.
fn substitute(text: &str, values: &BTreeMap<String, Choice>) -> (String, Vec<Unknown>) {
    let mut unknown = vec![];
    let out = placeholder().replace_all(text, |caps: &regex::Captures| {
        let whole = caps.get(0).expect("match");
        match values
            .get(&caps[1])
            .and_then(|c| c.field(caps.get(2).map(|m| m.as_str())))
        {
            Some(v) => v.to_string(),
            None => {
                unknown.push(Unknown {
                    offset: whole.start(),
                    text: whole.as_str().to_string(),
                });
                whole.as_str().to_string()
            }
        }
    });
    (out.into_owned(), unknown)
}

fn pos_of(text: &str, offset: usize) -> Pos {
    let before = &text[..offset];
    let line = before.matches('\n').count() as u64 + 1;
    let column = before[before.rfind('\n').map_or(0, |i| i + 1)..]
        .chars()
        .count() as u64
        + 1;
    Pos { line, column }
}

/// Renders the package at `from` into `to` (which must not exist or be empty) for `variant`:
/// every file copied, placeholders in text files filled in, `variables.yaml` left out and
/// `variant.json` added. A placeholder naming no variable is reported where it is written.
pub fn render(from: &Path, to: &Path, variant: &Variant) -> Result<(), Vec<Diagnostic>> {
    let mut diags = vec![];
    let io = |path: &Path, e: std::io::Error| {
        vec![Diagnostic::at(
            path,
            Pos::default(),
            format!("failed to render the package: {e}"),
        )]
    };
    std::fs::create_dir_all(to).map_err(|e| io(to, e))?;
    let mut stack = vec![PathBuf::new()];
    let mut seen = 0usize;
    while let Some(rel) = stack.pop() {
        let dir = from.join(&rel);
        let rd = std::fs::read_dir(&dir).map_err(|e| io(&dir, e))?;
        for e in rd.filter_map(Result::ok) {
            seen += 1;
            if seen > 10_000 {
                return Err(vec![Diagnostic::at(
                    from,
                    Pos::default(),
                    "the package holds more than 10000 files; breakfix renders no more",
                )]);
            }
            let child = rel.join(e.file_name());
            let (src, dest) = (from.join(&child), to.join(&child));
            let Ok(ft) = e.file_type() else { continue };
            if child == Path::new(FILE) || child == Path::new(VARIANT_FILE) {
                continue;
            }
            if ft.is_dir() {
                std::fs::create_dir_all(&dest).map_err(|e| io(&dest, e))?;
                stack.push(child);
            } else if ft.is_symlink() {
                let target = std::fs::read_link(&src).map_err(|e| io(&src, e))?;
                std::os::unix::fs::symlink(&target, &dest).map_err(|e| io(&dest, e))?;
            } else if ft.is_file() {
                if e.metadata()
                    .is_ok_and(|m| m.len() > yaml::MAX_FILE_BYTES as u64)
                {
                    // Too large to read as text: copied as it is, like a file that is not text.
                    std::fs::copy(&src, &dest).map_err(|e| io(&dest, e))?;
                    continue;
                }
                let bytes = std::fs::read(&src).map_err(|e| io(&src, e))?;
                let out = match String::from_utf8(bytes) {
                    Ok(text) => {
                        let (out, unknown) = substitute(&text, &variant.values);
                        for u in unknown {
                            diags.push(Diagnostic::at(
                                &src,
                                pos_of(&text, u.offset),
                                unknown_message(&u.text, &variant.values),
                            ));
                        }
                        out.into_bytes()
                    }
                    Err(e) => e.into_bytes(),
                };
                std::fs::write(&dest, out).map_err(|e| io(&dest, e))?;
                if let Ok(meta) = std::fs::metadata(&src) {
                    let _ = std::fs::set_permissions(&dest, meta.permissions());
                }
            }
        }
    }
    if !diags.is_empty() {
        diags.sort();
        return Err(diags);
    }
    let record = serde_json::to_vec_pretty(variant).unwrap_or_default();
    std::fs::write(to.join(VARIANT_FILE), record).map_err(|e| io(to, e))?;
    Ok(())
}

fn unknown_message(text: &str, values: &BTreeMap<String, Choice>) -> String {
    let caps = placeholder().captures(text);
    let name = caps
        .as_ref()
        .and_then(|c| c.get(1))
        .map_or("", |m| m.as_str());
    match values.get(name) {
        Some(Choice::Plain(_)) => {
            format!("`{text}`: variable `{name}` is a plain value, with no fields")
        }
        Some(Choice::Fields(f)) => format!(
            "`{text}`: variable `{name}` has no such field (its fields: {})",
            f.keys().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
        ),
        None => format!(
            "`{text}` names no variable of {FILE} (declared: {})",
            describe_names(values)
        ),
    }
}

fn describe_names(values: &BTreeMap<String, Choice>) -> String {
    values
        .iter()
        .map(|(k, c)| match c {
            Choice::Plain(_) => format!("var.{k}"),
            Choice::Fields(f) => format!(
                "var.{k} with {}",
                f.keys().map(|f| f.as_str()).collect::<Vec<_>>().join("/")
            ),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The seed and values of a rendered package, if it is one.
pub fn read_variant(root: &Path) -> Option<Variant> {
    let text = yaml::read_file(&root.join(VARIANT_FILE), "variant record").ok()?;
    serde_json::from_str(&text).ok()
}

/// A fresh seed for a candidate: 8 random hex digits.
pub fn random_seed() -> String {
    format!("{:08x}", rand::random::<u32>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(text: &str) -> VariablesFile {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(FILE), text).unwrap();
        read(dir.path()).unwrap_or_else(|d| panic!("{}", crate::diagnostic::render(&d)))
    }

    const SAMPLE: &str = "port:\n  one-of: [8080, 8081, 8088]\nfault:\n  one-of:\n    - {id: wrong-port, probe: 'http://localhost:80/'}\n    - {id: wrong-path, probe: 'http://localhost:{{ var.port }}/health'}\n";

    #[test]
    fn covering_seeds_are_as_few_as_the_largest_variable_needs() {
        let v = vars(
            "a:\n  one-of: [1, 2, 3]\nb:\n  one-of: [1, 2, 3]\nc:\n  one-of: [1, 2, 3]\nd:\n  one-of: [1, 2, 3]\ne:\n  one-of: [1, 2]\n",
        );
        let seeds = covering_seeds(&v, "s", 2);
        assert_eq!(seeds.len(), 3, "{seeds:?}");
        assert_eq!(seeds, covering_seeds(&v, "s", 2), "not stable");
        let chosen: std::collections::BTreeSet<String> = seeds
            .iter()
            .flat_map(|s| {
                choose(&v, "s", s)
                    .values
                    .iter()
                    .map(|(n, c)| format!("{n}={}", c.id()))
                    .collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(chosen.len(), 14, "{chosen:?}");
        // At least `min`, even when fewer cover every value.
        let two = vars("a:\n  one-of: [1, 2]\n");
        assert_eq!(covering_seeds(&two, "s", 4).len(), 4);
    }

    #[test]
    fn the_same_seed_always_chooses_the_same_values_and_seeds_differ() {
        let v = vars(SAMPLE);
        let a = choose(&v, "s", "alice");
        assert_eq!(a, choose(&v, "s", "alice"));
        let distinct: std::collections::BTreeSet<String> = (0..40)
            .map(|i| choose(&v, "s", &format!("c{i}")).describe())
            .collect();
        assert!(distinct.len() >= 4, "{distinct:?}");
    }

    #[test]
    fn a_value_may_use_another_variable() {
        let v = vars(SAMPLE);
        let seed = (0..100)
            .map(|i| format!("s{i}"))
            .find(|s| choose(&v, "x", s).values["fault"].id() == "wrong-path")
            .unwrap();
        let chosen = choose(&v, "x", &seed);
        let port = chosen.values["port"].id().to_string();
        assert_eq!(
            chosen.values["fault"].field(Some("probe")),
            Some(format!("http://localhost:{port}/health").as_str())
        );
    }

    #[test]
    fn covering_seeds_choose_every_value_at_least_once() {
        let v = vars(SAMPLE);
        let seeds = covering_seeds(&v, "s", 2);
        assert!(seeds.len() >= 3);
        for (name, var) in &v {
            for c in var.one_of.iter() {
                assert!(
                    seeds
                        .iter()
                        .any(|s| choose(&v, "s", s).values[name].id() == c.id()),
                    "{name}={} never chosen",
                    c.id()
                );
            }
        }
    }

    #[test]
    fn rendering_fills_placeholders_and_leaves_other_braces_alone() {
        let v = vars(SAMPLE);
        let from = tempfile::tempdir().unwrap();
        std::fs::write(from.path().join(FILE), SAMPLE).unwrap();
        std::fs::create_dir(from.path().join("workspace")).unwrap();
        std::fs::write(
            from.path().join("workspace/conf"),
            "listen {{ var.port }};\nprobe {{var.fault.probe}} {{ .State.Health }} {{ $labels.x }}\n",
        )
        .unwrap();
        std::fs::write(from.path().join("blob"), [0xffu8, 0xfe, b'{']).unwrap();
        let to = tempfile::tempdir().unwrap();
        let chosen = choose(&v, "s", "bob");
        render(from.path(), &to.path().join("out"), &chosen).unwrap();
        let out = std::fs::read_to_string(to.path().join("out/workspace/conf")).unwrap();
        let port = chosen.values["port"].id();
        assert!(out.starts_with(&format!("listen {port};\n")), "{out}");
        assert!(out.contains("{{ .State.Health }} {{ $labels.x }}"));
        assert!(!out.contains("var."));
        assert!(!to.path().join("out").join(FILE).exists());
        assert_eq!(read_variant(&to.path().join("out")), Some(chosen));
        assert_eq!(
            std::fs::read(to.path().join("out/blob")).unwrap(),
            [0xffu8, 0xfe, b'{']
        );
    }

    #[test]
    fn a_placeholder_naming_no_variable_is_reported_at_its_line_and_column() {
        let v = vars(SAMPLE);
        let from = tempfile::tempdir().unwrap();
        std::fs::write(
            from.path().join("a.conf"),
            "ok\n  x {{ var.prot }} {{ var.port.nope }}\n",
        )
        .unwrap();
        let to = tempfile::tempdir().unwrap();
        let diags = render(from.path(), &to.path().join("o"), &choose(&v, "s", "z")).unwrap_err();
        let text = crate::diagnostic::render(&diags);
        assert!(
            text.contains("a.conf:2:5: `{{ var.prot }}` names no variable"),
            "{text}"
        );
        assert!(
            text.contains("a.conf:2:20: `{{ var.port.nope }}`: variable `port` is a plain value"),
            "{text}"
        );
    }

    #[test]
    fn malformed_variables_are_reported_with_their_positions() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(FILE),
            "Port:\n  one-of: [1]\nmix:\n  one-of: [a, {id: b}]\nf:\n  one-of:\n    - {id: a, x: '1'}\n    - {id: b, y: '2'}\n",
        )
        .unwrap();
        let text = crate::diagnostic::render(&read(dir.path()).unwrap_err());
        assert!(
            text.contains("variables.yaml:2:3: variable name `Port`"),
            "{text}"
        );
        assert!(
            text.contains("variables.yaml:2:11: variable `Port`: one-of needs at least two values"),
            "{text}"
        );
        assert!(
            text.contains("variable `mix`: one-of mixes plain values and mappings"),
            "{text}"
        );
        assert!(
            text.contains("variable `f`: every value has the same fields"),
            "{text}"
        );
    }
}
