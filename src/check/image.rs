//! `image`: predicates on the image a service's container runs (its `USER`, size, layers and
//! `HEALTHCHECK`), read through the engine. It judges what was built and deployed, whatever
//! the Dockerfile looks like.

use super::{Ctx, Outcome, Predicates, is_root_user};
use crate::backend::{ImageInfo, Result};
use crate::compose::parse_size;
use crate::scenario::ImageCheck;

pub async fn run(k: &ImageCheck, cx: &Ctx<'_>) -> Result<Outcome> {
    let service = &k.service.value;
    match cx.containers()?.image(cx.target, service).await? {
        Some(info) => Ok(judge(k, &info)),
        None => Ok(Outcome::fail(
            format!("service `{service}` has no container"),
            vec![],
        )),
    }
}

fn mib(bytes: i64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

/// Every predicate of `k` against one inspected image.
fn judge(k: &ImageCheck, info: &ImageInfo) -> Outcome {
    let service = &k.service.value;
    let mut p = Predicates::new(vec![format!(
        "image: {} ({})",
        info.reference,
        short(&info.id)
    )]);
    if let Some(want) = k.non_root {
        let user = if info.user.trim().is_empty() {
            "(none: root)"
        } else {
            info.user.trim()
        };
        // A name is judged by the uid the image's own user database gives it.
        let (root, uid) = match info.uid {
            Some(uid) => (uid == 0, format!(" (uid {uid})")),
            None => (is_root_user(&info.user), String::new()),
        };
        p.judge(root != want, format!("image USER is `{user}`{uid}"));
    }
    if let Some(max) = &k.max_size {
        // Validation refuses sizes that do not parse; a zero bound fails loudly, not silently.
        let bound = parse_size(max).unwrap_or(0);
        p.judge(
            info.size <= bound,
            format!(
                "image size {} (at most {} allowed)",
                mib(info.size),
                max.value
            ),
        );
    }
    if let Some(want) = k.has_healthcheck {
        let has = !info.healthcheck.is_empty();
        let what = if has {
            format!("image HEALTHCHECK `{}`", info.healthcheck.join(" "))
        } else {
            "image declares no HEALTHCHECK".into()
        };
        p.judge(has == want, what);
    }
    if let Some(max) = &k.max_layers {
        p.judge(
            info.layers <= max.value as usize,
            format!(
                "{} filesystem layer(s) (at most {})",
                info.layers, max.value
            ),
        );
    }
    if !info.exposed_ports.is_empty() {
        p.note(format!("exposes: {}", info.exposed_ports.join(", ")));
    }
    p.outcome(&format!("the image of `{service}`"))
}

fn short(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    &id[..id.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Status;
    use crate::yaml::Located;

    /// `docker image inspect` of the scenario's single-stage image, as the engine reported it.
    fn single_stage_with_compiler() -> ImageInfo {
        ImageInfo {
            reference: "breakfix/ws-harden-image-ab12cd-ratecalc:5e1d0c2a9b31".into(),
            id: "sha256:f48d46ece873011a61f8932a05a51dea9f084e77acc0a7b02e517fa04d53505e".into(),
            user: "".into(),
            size: 490_774_042,
            layers: 5,
            healthcheck: vec![],
            exposed_ports: vec!["8080/tcp".into()],
            uid: Some(0),
            ..ImageInfo::default()
        }
    }

    /// The same service built in two stages onto `scratch`.
    fn scratch_with_static_binary() -> ImageInfo {
        ImageInfo {
            reference: "breakfix/ws-harden-image-ab12cd-ratecalc:0c9e27f4d5aa".into(),
            id: "sha256:2cee6233f81ab6d39470c688b71bb7aab0525064da7183f4a72b05f074a79bc8".into(),
            user: "65534:65534".into(),
            size: 894_312,
            layers: 1,
            healthcheck: vec!["CMD".into(), "/ratecalc".into(), "--health".into()],
            exposed_ports: vec!["8080/tcp".into()],
            uid: Some(65534),
            ..ImageInfo::default()
        }
    }

    fn hardened() -> ImageCheck {
        ImageCheck {
            service: Located::new("ratecalc".into()),
            non_root: Some(true),
            max_size: Some(Located::new("200m".into())),
            has_healthcheck: Some(true),
            max_layers: Some(Located::new(8)),
        }
    }

    #[test]
    fn a_multi_stage_image_on_scratch_passes_every_predicate() {
        let o = judge(&hardened(), &scratch_with_static_binary());
        assert_eq!(o.status, Status::Pass, "{o:?}");
        assert!(o.evidence.iter().any(|e| e.contains("0.9 MiB")), "{o:?}");
        assert!(o.evidence.iter().any(|e| e == "exposes: 8080/tcp"), "{o:?}");
    }

    #[test]
    fn a_single_stage_image_that_keeps_its_compiler_fails_on_size_root_and_healthcheck() {
        let o = judge(&hardened(), &single_stage_with_compiler());
        assert_eq!(o.status, Status::Fail);
        assert!(
            o.summary.contains("USER is `(none: root)`"),
            "{}",
            o.summary
        );
        assert!(o.summary.contains("468.0 MiB"), "{}", o.summary);
        assert!(o.summary.contains("no HEALTHCHECK"), "{}", o.summary);
        assert!(!o.summary.contains("layer"), "{}", o.summary);
    }

    #[test]
    fn a_user_line_alone_does_not_make_a_fat_image_pass_the_size_bound() {
        let mut fat = single_stage_with_compiler();
        fat.user = "1000".into();
        fat.uid = Some(1000);
        let k = ImageCheck {
            max_size: Some(Located::new("200m".into())),
            ..ImageCheck::default()
        };
        assert_eq!(judge(&k, &fat).status, Status::Fail);
        let k = ImageCheck {
            non_root: Some(true),
            ..ImageCheck::default()
        };
        assert_eq!(judge(&k, &fat).status, Status::Pass);
    }

    #[test]
    fn a_user_whose_name_stands_for_uid_0_in_the_image_is_root() {
        let mut renamed = scratch_with_static_binary();
        renamed.user = "ratecalc".into();
        renamed.uid = Some(0);
        let k = ImageCheck {
            non_root: Some(true),
            ..ImageCheck::default()
        };
        let o = judge(&k, &renamed);
        assert_eq!(o.status, Status::Fail, "{o:?}");
        assert!(
            o.summary.contains("USER is `ratecalc` (uid 0)"),
            "{}",
            o.summary
        );
    }

    #[test]
    fn root_by_name_or_uid_counts_as_root() {
        for user in ["", "root", "0", "0:0", "root:root"] {
            assert!(is_root_user(user), "{user}");
        }
        for user in ["65534:65534", "nobody", "1000", "app:0"] {
            assert!(!is_root_user(user), "{user}");
        }
    }

    #[test]
    fn too_many_layers_fail_the_layer_bound() {
        let k = ImageCheck {
            max_layers: Some(Located::new(3)),
            ..ImageCheck::default()
        };
        let o = judge(&k, &single_stage_with_compiler());
        assert_eq!(o.status, Status::Fail);
        assert!(
            o.summary.contains("5 filesystem layer(s) (at most 3)"),
            "{}",
            o.summary
        );
    }
}
