//! `container-config`: predicates on a container's configuration, read through the engine
//! (not from inside the container, so the candidate cannot fake them). Two of them also
//! serve `served-by`: whether a container runs the scenario's image and its own program,
//! and whether a healthcheck really probes the service.

use regex::Regex;

use super::{Ctx, Outcome, Predicates, clip, is_root_user};
use crate::backend::{ImageInfo, Result, ServiceConfig};
use crate::scenario::{ContainerConfigCheck, HealthcheckProbes};

pub async fn run(k: &ContainerConfigCheck, cx: &Ctx<'_>) -> Result<Outcome> {
    let (backend, t) = (cx.backend, cx.target);
    let service = &k.service.value;
    if !backend.state(t, service).await?.exists {
        return Ok(Outcome::fail(
            format!("service `{service}` has no container"),
            vec![],
        ));
    }
    let c = cx.containers()?.config(t, service).await?;
    let mut p = Predicates::new(vec![]);
    if let Some(want) = k.non_root {
        let user = c.user.trim();
        // What the host sees the processes run as decides; a name may hide uid 0.
        let (root, seen) = if !c.process_uids.is_empty() {
            (
                c.process_uids.contains(&0),
                format!(
                    ", its processes run as uid {}",
                    c.process_uids
                        .iter()
                        .map(u64::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
        } else if let Some(uid) = c.uid {
            (uid == 0, format!(" (uid {uid})"))
        } else {
            (is_root_user(user), String::new())
        };
        p.judge(
            root != want,
            format!(
                "user is `{}`{seen}",
                if user.is_empty() {
                    "(image default)"
                } else {
                    user
                }
            ),
        );
    }
    if let Some(want) = k.has_healthcheck {
        let has = !c.healthcheck.is_empty();
        let what = if has {
            format!("healthcheck `{}`", c.healthcheck.join(" "))
        } else {
            "no healthcheck".into()
        };
        p.judge(has == want, what);
    }
    if let Some(allowed) = &k.restart_policy_in {
        p.judge(
            allowed.iter().any(|p| p == &c.restart_policy),
            format!(
                "restart policy `{}` (allowed: {})",
                c.restart_policy,
                allowed.join(", ")
            ),
        );
    }
    if let Some(want) = k.memory_limited {
        p.judge(
            (c.memory > 0) == want,
            format!(
                "memory limit {}",
                if c.memory > 0 {
                    format!("{} MiB", c.memory >> 20)
                } else {
                    "none".into()
                }
            ),
        );
    }
    if let Some(want) = k.not_privileged {
        p.judge(
            c.privileged != want,
            format!("privileged: {}", c.privileged),
        );
    }
    if let Some(allowed) = &k.capabilities_within {
        let extra: Vec<&String> = c
            .cap_add
            .iter()
            .filter(|cap| {
                !allowed
                    .iter()
                    .any(|a| a.eq_ignore_ascii_case(cap.trim_start_matches("CAP_")))
            })
            .collect();
        let added = if c.cap_add.is_empty() {
            "none".to_string()
        } else {
            c.cap_add.join(", ")
        };
        p.judge(extra.is_empty(), format!("capabilities added: {added}"));
    }
    if let Some(want) = &k.healthcheck_probes {
        let (ok, what) = healthcheck_probes(&c.healthcheck, want);
        p.judge(ok, what);
    }
    if let Some(name) = &k.runs_image {
        let image = cx
            .containers()?
            .image(t, service)
            .await?
            .unwrap_or_default();
        let command = k.runs_command.as_ref().map(|c| c.value.as_slice());
        for (ok, what) in runs_image(&t.scenario, name, command, &c, &image) {
            p.judge(ok, what);
        }
    }
    Ok(p.outcome(&format!("`{service}` configuration")))
}

/// Whether a container runs the scenario's image `name` (an image breakfix built from the
/// package's `images/<name>/`: only those carry its `breakfix/<scenario>-<name>` tags), with
/// the image's own program or the `command` the scenario names, and no file that program
/// names mounted from outside the image. One judgement per line.
pub(crate) fn runs_image(
    scenario: &str,
    name: &str,
    command: Option<&[String]>,
    c: &ServiceConfig,
    image: &ImageInfo,
) -> Vec<(bool, String)> {
    let repo = format!("breakfix/{scenario}-{name}:");
    let id = short_id(if image.id.is_empty() {
        &c.image_id
    } else {
        &image.id
    });
    let reference = if image.reference.is_empty() {
        "(unknown)"
    } else {
        &image.reference
    };
    let ours = image.tags.iter().any(|t| t.starts_with(&repo));
    let mut out = vec![(
        ours,
        if ours {
            format!("runs the scenario's image `{reference}` ({id})")
        } else {
            let tags = if image.tags.is_empty() {
                "no tag".to_string()
            } else {
                image.tags.join(", ")
            };
            format!(
                "runs `{reference}` ({id}; {tags}), not the scenario's image `{}`",
                repo.trim_end_matches(':')
            )
        },
    )];
    let running: Vec<String> = c.entrypoint.iter().chain(&c.command).cloned().collect();
    let (expected, whose): (Vec<String>, &str) = match command {
        Some(cmd) => (cmd.to_vec(), "the program the scenario names"),
        None => (
            image
                .entrypoint
                .iter()
                .chain(&image.command)
                .cloned()
                .collect(),
            "the image's own program",
        ),
    };
    let shown = |argv: &[String]| clip(&argv.join(" "), 120);
    out.push(if running == expected {
        (true, format!("runs {whose} `{}`", shown(&running)))
    } else {
        (
            false,
            format!(
                "runs `{}` instead of {whose} `{}`",
                shown(&running),
                shown(&expected)
            ),
        )
    });
    // The files the command line names (the program, the script an interpreter runs), but
    // not the value of a `--long-option`: that is configuration, which scenarios mount.
    let named: Vec<&String> = expected
        .iter()
        .enumerate()
        .filter(|(i, a)| a.starts_with('/') && (*i == 0 || !expected[*i - 1].starts_with("--")))
        .map(|(_, a)| a)
        .collect();
    for m in &c.mounts {
        let at = m.trim_end_matches(" (ro)");
        if let Some(file) = named
            .iter()
            .find(|f| f.as_str() == at || f.starts_with(&format!("{}/", at.trim_end_matches('/'))))
        {
            out.push((
                false,
                format!(
                    "`{at}` is mounted from outside the image over `{file}`, which its program runs"
                ),
            ));
        }
    }
    out
}

fn short_id(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    &id[..id.len().min(12)]
}

/// Commands that succeed whatever the service does.
const CONSTANTS: &[&str] = &["true", "/bin/true", "/usr/bin/true", ":", "exit 0", "exit"];

/// Shell that turns a failing probe into a passing healthcheck.
const SWALLOWS: &[&str] = &[
    r"\|\|\s*(true|:|exit\s+0|echo|printf)\b",
    r";\s*(true|:|exit\s+0)\s*$",
    r"^\s*set\s+\+e\b",
];

/// Whether a healthcheck (its test in the engine's form: `CMD-SHELL`, `CMD` or `NONE` first)
/// probes the service: not a constant, no swallowed failure, and it names the port and path
/// asked for. Returns the judgement and a line saying what was seen.
pub(crate) fn healthcheck_probes(test: &[String], want: &HealthcheckProbes) -> (bool, String) {
    let asked = [
        want.port.as_ref().map(|p| format!("port {}", p.value)),
        want.path.as_ref().map(|p| p.value.clone()),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(" and ");
    let text = match test.first().map(String::as_str) {
        None | Some("NONE") => {
            return (false, format!("no healthcheck to probe {asked}"));
        }
        Some("CMD-SHELL") | Some("CMD") => test[1..].join(" "),
        Some(_) => test.join(" "),
    };
    let shown = clip(&text, 200);
    // Each command of the line, without a shell wrapper or quotes.
    let commands: Vec<String> = text
        .split(['&', '|', ';', '\n'])
        .map(|c| {
            let mut c = c.trim();
            for wrapper in ["/bin/sh -c", "/bin/bash -c", "sh -c", "bash -c"] {
                c = c.strip_prefix(wrapper).unwrap_or(c).trim();
            }
            c.trim_matches(['\'', '"', ' ']).to_string()
        })
        .filter(|c| !c.is_empty())
        .collect();
    let constant = commands.iter().all(|c| {
        CONSTANTS.contains(&c.as_str())
            || ["echo", "printf", "sleep", "exit 0"]
                .iter()
                .any(|w| c == w || c.starts_with(&format!("{w} ")))
    });
    if constant {
        return (
            false,
            format!("healthcheck `{shown}` is a constant: it passes whatever the service does"),
        );
    }
    if let Some(m) = SWALLOWS
        .iter()
        .filter_map(|p| Regex::new(p).ok())
        .find_map(|r| {
            text.lines()
                .find_map(|l| r.find(l).map(|m| m.as_str().to_string()))
        })
    {
        return (
            false,
            format!(
                "healthcheck `{shown}` swallows its failure (`{}`)",
                m.trim()
            ),
        );
    }
    let mut missing = vec![];
    if let Some(port) = &want.port {
        let named = Regex::new(&format!("(^|[^0-9]){}([^0-9]|$)", port.value))
            .is_ok_and(|r| r.is_match(&text));
        if !named {
            missing.push(format!("port {}", port.value));
        }
    }
    if let Some(path) = &want.path {
        let named = text.match_indices(path.as_str()).any(|(i, _)| {
            text[i + path.len()..]
                .chars()
                .next()
                .is_none_or(|c| !(c.is_ascii_alphanumeric() || "_.-".contains(c)))
        });
        if !named {
            missing.push(path.value.clone());
        }
    }
    if missing.is_empty() {
        (true, format!("healthcheck `{shown}` probes {asked}"))
    } else {
        (
            false,
            format!(
                "healthcheck `{shown}` does not probe {}, which it must ask",
                missing.join(" or ")
            ),
        )
    }
}
