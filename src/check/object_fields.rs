//! `object-fields`: predicates on one object as the API server holds it (after defaulting),
//! not as the workspace file says: what the cluster runs is what counts.

use serde_json::Value;

use super::{Ctx, Outcome};
use crate::backend::Result;
use crate::scenario::syntax::{Step, parse_field_path, quantity};
use crate::scenario::{FieldPredicate, ObjectFieldsCheck};

/// The values a path reaches, one per branch (`[*]` branches), `None` where a branch stops.
pub fn select<'v>(v: &'v Value, steps: &[Step]) -> Vec<(String, Option<&'v Value>)> {
    fn walk<'v>(
        v: Option<&'v Value>,
        steps: &[Step],
        at: String,
        out: &mut Vec<(String, Option<&'v Value>)>,
    ) {
        let Some((step, rest)) = steps.split_first() else {
            out.push((at, v));
            return;
        };
        let Some(v) = v else {
            // Name the whole path that is missing, not only where it stopped.
            let mut at = at;
            for step in steps {
                at = match step {
                    Step::Key(k) => join(&at, k),
                    Step::Index(i) => format!("{at}[{i}]"),
                    Step::Named(n) => format!("{at}[name={n}]"),
                    Step::All => format!("{at}[*]"),
                };
            }
            out.push((at, None));
            return;
        };
        match step {
            Step::Key(k) => walk(v.get(k), rest, join(&at, k), out),
            Step::Index(i) => walk(v.get(*i), rest, format!("{at}[{i}]"), out),
            Step::Named(n) => {
                let el = v.as_array().and_then(|a| {
                    a.iter()
                        .find(|e| e.get("name").and_then(Value::as_str) == Some(n))
                });
                walk(el, rest, format!("{at}[name={n}]"), out)
            }
            Step::All => match v.as_array() {
                Some(a) if !a.is_empty() => {
                    for (i, e) in a.iter().enumerate() {
                        let name = e
                            .get("name")
                            .and_then(Value::as_str)
                            .map_or_else(|| i.to_string(), |n| format!("name={n}"));
                        walk(Some(e), rest, format!("{at}[{name}]"), out);
                    }
                }
                _ => out.push((format!("{at}[*]"), None)),
            },
        }
    }
    fn join(at: &str, k: &str) -> String {
        if at.is_empty() {
            k.to_string()
        } else {
            format!("{at}.{k}")
        }
    }
    let mut out = vec![];
    walk(Some(v), steps, String::new(), &mut out);
    out
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Why the predicate does not hold on `object`; every branch of the path is judged.
pub fn judge(p: &FieldPredicate, object: &Value) -> std::result::Result<String, String> {
    let steps = parse_field_path(&p.path.value)?;
    let mut seen = vec![];
    for (at, v) in select(object, &steps) {
        let fail = |what: String| Err(format!("{at}: {what}"));
        if p.exists == Some(false) {
            if let Some(v) = v {
                return fail(format!("is set ({}) and must not be", text(v)));
            }
            seen.push(format!("{at}: not set"));
            continue;
        }
        let Some(v) = v.filter(|v| !v.is_null()) else {
            return fail("is not set".into());
        };
        if let Some(want) = &p.equals
            && text(v) != want.value
        {
            return fail(format!("is {}, expected {}", text(v), want.value));
        }
        if let Some(any) = &p.one_of
            && !any.contains(&text(v))
        {
            return fail(format!(
                "is {}, expected one of {}",
                text(v),
                any.join(", ")
            ));
        }
        for (bound, lower) in [(&p.at_least, true), (&p.at_most, false)] {
            let Some(bound) = bound else { continue };
            let (Some(have), Some(limit)) = (quantity(&text(v)), quantity(&bound.value)) else {
                return fail(format!(
                    "{} is not comparable with {}",
                    text(v),
                    bound.value
                ));
            };
            if (lower && have < limit) || (!lower && have > limit) {
                return fail(format!(
                    "is {}, {} {}",
                    text(v),
                    if lower { "below" } else { "above" },
                    bound.value
                ));
            }
        }
        seen.push(format!("{at} = {}", crate::check::clip(&text(v), 120)));
    }
    Ok(seen.join("; "))
}

pub async fn run(k: &ObjectFieldsCheck, cx: &Ctx<'_>) -> Result<Outcome> {
    let (kind, name) = k
        .object
        .value
        .split_once('/')
        .unwrap_or(("", &k.object.value));
    let Some(object) = cx.cluster()?.object(cx.target, kind, name).await? else {
        return Ok(Outcome::fail(
            format!(
                "{} does not exist in the session's namespace",
                k.object.value
            ),
            vec![],
        ));
    };
    let mut evidence = vec![];
    let mut failed = vec![];
    for p in &k.fields {
        match judge(p, &object) {
            Ok(seen) => evidence.push(format!("ok: {seen}")),
            Err(why) => {
                let line = if p.why.trim().is_empty() {
                    why
                } else {
                    format!("{why} — {}", p.why.trim())
                };
                evidence.push(format!("not ok: {line}"));
                failed.push(line);
            }
        }
    }
    Ok(if failed.is_empty() {
        Outcome::pass(
            format!("{}: {} field check(s) hold", k.object.value, k.fields.len()),
            evidence,
        )
    } else {
        Outcome::fail(format!("{}: {}", k.object.value, failed[0]), evidence)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::Located;
    use serde_json::json;

    fn pred(path: &str) -> FieldPredicate {
        FieldPredicate {
            path: Located::new(path.into()),
            exists: None,
            equals: None,
            one_of: None,
            at_least: None,
            at_most: None,
            why: String::new(),
        }
    }

    fn deployment() -> Value {
        json!({"spec": {"template": {"spec": {"containers": [
            {"name": "api", "resources": {"limits": {"memory": "128Mi"}},
             "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}}},
            {"name": "sidecar", "resources": {}},
        ]}}}})
    }

    #[test]
    fn paths_parse_keys_names_indexes_and_wildcards() {
        assert_eq!(
            parse_field_path("a.b[name=x].c[0][*]").unwrap(),
            vec![
                Step::Key("a".into()),
                Step::Key("b".into()),
                Step::Named("x".into()),
                Step::Key("c".into()),
                Step::Index(0),
                Step::All
            ]
        );
        assert!(parse_field_path("a..b").is_err());
        assert!(parse_field_path("a[x").is_err());
        assert!(parse_field_path("a[x]").is_err());
    }

    #[test]
    fn a_wildcard_requires_every_container_to_hold() {
        let mut p = pred("spec.template.spec.containers[*].resources.limits.memory");
        let err = judge(&p, &deployment()).unwrap_err();
        assert!(
            err.contains("containers[name=sidecar].resources.limits.memory: is not set"),
            "{err}"
        );
        p.path =
            Located::new("spec.template.spec.containers[name=api].resources.limits.memory".into());
        p.at_least = Some(Located::new("96Mi".into()));
        assert!(judge(&p, &deployment()).is_ok());
        p.at_least = Some(Located::new("256Mi".into()));
        assert!(
            judge(&p, &deployment())
                .unwrap_err()
                .contains("is 128Mi, below 256Mi")
        );
    }

    #[test]
    fn equals_compares_as_text_and_exists_false_requires_absence() {
        let mut p = pred("spec.template.spec.containers[name=api].readinessProbe.httpGet.port");
        p.equals = Some(Located::new("8080".into()));
        assert!(judge(&p, &deployment()).is_ok());
        let mut absent = pred("spec.template.spec.containers[name=sidecar].livenessProbe");
        absent.exists = Some(false);
        assert!(judge(&absent, &deployment()).is_ok());
        absent.path = Located::new("spec.template.spec.containers[name=api].readinessProbe".into());
        assert!(judge(&absent, &deployment()).is_err());
    }

    #[test]
    fn quantities_compare_across_units() {
        assert_eq!(quantity("128Mi"), Some(134_217_728.0));
        assert_eq!(quantity("250m"), Some(0.25));
        assert!(quantity("1Gi").unwrap() > quantity("1000M").unwrap());
        assert_eq!(quantity("lots"), None);
    }
}
