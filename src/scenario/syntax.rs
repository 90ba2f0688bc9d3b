//! The small languages a scenario is written in, beyond YAML itself: field paths into an
//! object, Kubernetes quantities, section names, HTTP header names. The loader validates
//! them; the checks that use them parse them the same way. Paths written in a package stay
//! inside it ([`safe_join`]).

use std::path::{Path, PathBuf};

/// One step of a field path.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    Key(String),
    Index(usize),
    /// `[name=x]`: the list element whose `name` is `x`.
    Named(String),
    /// `[*]`: every element.
    All,
}

/// Parses `spec.template.spec.containers[name=api].resources.limits.memory`.
pub fn parse_field_path(path: &str) -> std::result::Result<Vec<Step>, String> {
    let mut steps = vec![];
    for part in path.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if key.is_empty() && rest.is_empty() {
            return Err(format!("`{path}` has an empty segment"));
        }
        if !key.is_empty() {
            steps.push(Step::Key(key.to_string()));
        }
        while let Some(r) = rest.strip_prefix('[') {
            let Some(end) = r.find(']') else {
                return Err(format!("`{path}` has an unclosed `[`"));
            };
            let inner = &r[..end];
            steps.push(if inner == "*" {
                Step::All
            } else if let Some(name) = inner.strip_prefix("name=") {
                Step::Named(name.to_string())
            } else {
                Step::Index(inner.parse().map_err(|_| {
                    format!("`{path}`: `[{inner}]` is not `*`, `name=...` or a number")
                })?)
            });
            rest = &r[end + 1..];
        }
        if !rest.is_empty() {
            return Err(format!("`{path}`: unexpected `{rest}`"));
        }
    }
    Ok(steps)
}

/// Header names are RFC 9110 tokens; anything else is refused rather than quoted.
pub fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
}

/// A Kubernetes quantity (`128Mi`, `0.5`, `250m`, `1G`) or plain number, as a float.
pub fn quantity(s: &str) -> Option<f64> {
    let s = s.trim();
    const SUFFIXES: &[(&str, f64)] = &[
        ("Ki", 1024.0),
        ("Mi", 1024.0 * 1024.0),
        ("Gi", 1024.0 * 1024.0 * 1024.0),
        ("Ti", 1024.0 * 1024.0 * 1024.0 * 1024.0),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
        ("m", 1e-3),
    ];
    for (suffix, factor) in SUFFIXES {
        if let Some(n) = s.strip_suffix(suffix) {
            return n.parse::<f64>().ok().map(|n| n * factor);
        }
    }
    s.parse().ok()
}

/// How a heading or a section name is compared: lowercase, emphasis and punctuation
/// dropped, leading numbering (`2.`, `3)`, `1.2`) dropped, whitespace collapsed.
pub fn heading_key(text: &str) -> String {
    let lowered: String = text
        .to_lowercase()
        .chars()
        .map(|c| if c.is_alphanumeric() { c } else { ' ' })
        .collect();
    let mut words: Vec<&str> = lowered.split_whitespace().collect();
    // Numbering like `2.` or `1.2` became bare digits.
    while words
        .first()
        .is_some_and(|w| w.chars().all(|c| c.is_ascii_digit()))
    {
        words.remove(0);
    }
    words.join(" ")
}

/// Joins a path written in the package onto `base`, refusing absolute paths and `..`.
pub fn safe_join(base: &Path, rel: &str) -> Result<PathBuf, &'static str> {
    let p = Path::new(rel);
    if p.is_absolute() {
        return Err("must be a relative path inside the package");
    }
    if p.components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err("leaves the package (`..` is not allowed)");
    }
    Ok(base.join(p))
}

/// The regex crate's explanation, without its own `error:` prefix and caret drawing.
pub fn regex_problem(e: &regex::Error) -> String {
    let text = e.to_string();
    let last = text.lines().last().unwrap_or_default().trim();
    last.strip_prefix("error: ").unwrap_or(last).to_string()
}
