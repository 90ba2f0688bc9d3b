//! What only the engine can tell about a service before it runs, judged against the
//! scenario's ceiling: the user its image runs as (a name is looked up in the image's own
//! user database, as the engine will at start), and an image's own healthcheck pace.

use std::collections::HashMap;

use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, DownloadFromContainerOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use futures_util::StreamExt;

use super::DockerBackend;
use crate::backend::{BackendError, Result, Target};
use crate::ceiling::names_root;
use crate::compose::RootRule;
use crate::compose::ServiceSpec;

/// The most of an image's `/etc/passwd` read (a candidate's build decides what is in it).
const MAX_PASSWD_BYTES: usize = 1 << 20;

impl DockerBackend {
    /// Refuses `spec` when its image would take it above the ceiling.
    pub(super) async fn judge(&self, t: &Target, spec: &ServiceSpec) -> Result<()> {
        let g = &spec.guard;
        if g.root == RootRule::Allowed && g.health_floor_ns == 0 {
            return Ok(());
        }
        let refuse = |message: String| BackendError::Ceiling {
            service: spec.name.clone(),
            at: g.declared_at.clone(),
            message,
        };
        let image = self
            .docker
            .inspect_image(&spec.image)
            .await
            .map_err(self.err("inspect image", &spec.image))?;
        let cfg = image.config.unwrap_or_default();
        if g.health_floor_ns > 0 {
            let own = spec.healthcheck.as_ref();
            let theirs = cfg.healthcheck.as_ref().filter(|h| {
                h.test
                    .as_ref()
                    .is_none_or(|t| t.first().map(String::as_str) != Some("NONE"))
            });
            let disabled = own.is_some_and(|h| h.test.first().map(String::as_str) == Some("NONE"));
            for (what, mine, image_says) in [
                (
                    "interval",
                    own.and_then(|h| h.interval_ns),
                    theirs.and_then(|h| h.interval),
                ),
                (
                    "timeout",
                    own.and_then(|h| h.timeout_ns),
                    theirs.and_then(|h| h.timeout),
                ),
            ] {
                // The engine takes each field from the container, else from the image.
                let effective = mine.filter(|v| *v > 0).or(image_says.filter(|v| *v > 0));
                if !disabled
                    && let Some(v) = effective
                    && v < g.health_floor_ns
                {
                    let from = if mine.is_some_and(|v| v > 0) {
                        "its healthcheck"
                    } else {
                        "its image's HEALTHCHECK"
                    };
                    return Err(refuse(format!(
                        "{from} runs with a {what} of {} ms, below the scenario's floor of {} ms (a healthcheck runs outside the container's CPU limit)",
                        v / 1_000_000,
                        g.health_floor_ns / 1_000_000
                    )));
                }
            }
        }
        let root_allowed = match &g.root {
            RootRule::Allowed => true,
            RootRule::Denied => false,
            RootRule::AsImage(own) => {
                let own_user = self
                    .docker
                    .inspect_image(own)
                    .await
                    .map_err(self.err("inspect image", own))?
                    .config
                    .and_then(|c| c.user)
                    .unwrap_or_default();
                names_root(&own_user)
            }
        };
        if root_allowed {
            return Ok(());
        }
        let (user, said_by) = match spec.user.as_deref().filter(|u| !u.is_empty()) {
            Some(u) => (u.to_string(), "its `user:`"),
            None => (cfg.user.clone().unwrap_or_default(), "its image's USER"),
        };
        match self.uid_of(t, &spec.image, &user).await? {
            Some(0) => Err(refuse(format!(
                "it would run as uid 0 ({said_by} is `{}`), which the scenario's ceiling does not allow for `{}`; run it as another user",
                if user.is_empty() {
                    "unset, so root"
                } else {
                    user.as_str()
                },
                spec.name
            ))),
            Some(_) => Ok(()),
            None => Err(refuse(format!(
                "{said_by} `{user}` is not a user of its image's /etc/passwd; name a user the image has, or a numeric uid"
            ))),
        }
    }

    /// The uid `user` (as in `user:` or USER) stands for in `image`: a number is itself, an
    /// empty name is root, a name is looked up in the image's `/etc/passwd`.
    pub(super) async fn uid_of(&self, t: &Target, image: &str, user: &str) -> Result<Option<u64>> {
        let name = user.split(':').next().unwrap_or("").trim();
        if name.is_empty() || name == "root" {
            return Ok(Some(0));
        }
        if let Ok(n) = name.parse::<u64>() {
            return Ok(Some(n));
        }
        let key = (image.to_string(), name.to_string());
        let by_id = image.starts_with("sha256:");
        if by_id && let Some(uid) = self.uids.lock().ok().and_then(|m| m.get(&key).copied()) {
            return Ok(uid);
        }
        let passwd = self.read_image_file(t, image, "/etc/passwd").await?;
        let uid = passwd.lines().find_map(|l| {
            let mut f = l.split(':');
            (f.next() == Some(name))
                .then(|| f.nth(1).and_then(|uid| uid.parse().ok()))
                .flatten()
        });
        if by_id && let Ok(mut m) = self.uids.lock() {
            m.insert(key, uid);
        }
        Ok(uid)
    }

    /// The uids a running container's processes have, as the host's `ps` reports them.
    pub(super) async fn process_uids(&self, container: &str) -> Vec<u64> {
        let top = self
            .docker
            .top_processes(
                container,
                Some(
                    // The engine needs the PID column to pick the container's processes.
                    bollard::query_parameters::TopOptionsBuilder::default()
                        .ps_args("-o pid,uid")
                        .build(),
                ),
            )
            .await;
        let Ok(top) = top else { return vec![] };
        let Some(col) = top
            .titles
            .unwrap_or_default()
            .iter()
            .position(|t| t.trim() == "UID")
        else {
            return vec![];
        };
        let mut uids: Vec<u64> = top
            .processes
            .unwrap_or_default()
            .iter()
            .filter_map(|p| p.get(col).and_then(|u| u.trim().parse().ok()))
            .collect();
        uids.sort();
        uids.dedup();
        uids
    }

    /// A file of an image, read from a container that is created and never started.
    async fn read_image_file(&self, t: &Target, image: &str, path: &str) -> Result<String> {
        // Checks of one grade look at the same time: each look has a container of its own.
        static LOOKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let name = format!(
            "bf-{}-look-{}-{}",
            t.session,
            std::process::id(),
            LOOKS.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        );
        let mut labels = Self::base_labels(t, "look");
        labels.insert(crate::backend::labels::SERVICE.into(), "look".into());
        self.docker
            .create_container(
                Some(CreateContainerOptionsBuilder::default().name(&name).build()),
                ContainerCreateBody {
                    image: Some(image.to_string()),
                    cmd: Some(vec!["true".into()]),
                    entrypoint: Some(vec![]),
                    network_disabled: Some(true),
                    labels: Some(labels.into_iter().collect::<HashMap<_, _>>()),
                    ..Default::default()
                },
            )
            .await
            .map_err(self.err("create container", &name))?;
        let read = async {
            let mut bytes = Vec::new();
            let mut stream = self.docker.download_from_container(
                &name,
                Some(
                    DownloadFromContainerOptionsBuilder::default()
                        .path(path)
                        .build(),
                ),
            );
            while let Some(chunk) = stream.next().await {
                let chunk = match chunk {
                    Ok(c) => c,
                    // No such file: no user can be looked up in it.
                    Err(bollard::errors::Error::DockerResponseServerError {
                        status_code: 404,
                        ..
                    }) => return Ok(String::new()),
                    Err(e) => return Err(self.err("read a file of image", image)(e)),
                };
                bytes.extend_from_slice(&chunk);
                if bytes.len() > MAX_PASSWD_BYTES + 4096 {
                    return Err(BackendError::Refused {
                        op: "read a file of image",
                        object: image.to_string(),
                        message: format!("{path} is larger than {} KiB", MAX_PASSWD_BYTES >> 10),
                    });
                }
            }
            let mut archive = tar::Archive::new(bytes.as_slice());
            let mut text = String::new();
            if let Some(Ok(entry)) = archive
                .entries()
                .map_err(|e| self.err("read a file of image", image)(e.into()))?
                .next()
            {
                use std::io::Read;
                entry
                    .take(MAX_PASSWD_BYTES as u64)
                    .read_to_string(&mut text)
                    .map_err(|e| self.err("read a file of image", image)(e.into()))?;
            }
            Ok(text)
        };
        let text = read.await;
        let _ = self
            .docker
            .remove_container(
                &name,
                Some(RemoveContainerOptionsBuilder::default().force(true).build()),
            )
            .await;
        text
    }
}

/// The role of the network and container `doctor` uses to prove a sandbox cannot reach the
/// host; leftovers of a killed `doctor` are removed by the next one.
const DOCTOR_ROLE: &str = "doctor";

impl DockerBackend {
    /// Proves, on this engine, that a container on a sandbox network cannot open a
    /// connection to a port listening on the host: (in force, what was seen).
    pub(super) async fn host_containment(&self, probe_image: &str) -> (bool, String) {
        self.remove_doctor_leftovers().await;
        let listener = match std::net::TcpListener::bind("0.0.0.0:0") {
            Ok(l) => l,
            Err(e) => {
                return (
                    false,
                    format!("not checked: cannot listen on the host ({e})"),
                );
            }
        };
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(0);
        let _ = listener.set_nonblocking(true);
        let name = format!("bf-doctor-{}", std::process::id());
        let labels = HashMap::from([
            (
                crate::backend::labels::MANAGED.to_string(),
                "true".to_string(),
            ),
            (
                crate::backend::labels::ROLE.to_string(),
                DOCTOR_ROLE.to_string(),
            ),
        ]);
        let result = async {
            self.docker
                .create_network(bollard::models::NetworkCreateRequest {
                    name: name.clone(),
                    driver: Some("bridge".into()),
                    internal: Some(true),
                    options: Some(HashMap::from([(
                        super::INHIBIT_IPV4.to_string(),
                        "true".to_string(),
                    )])),
                    labels: Some(labels.clone()),
                    ..Default::default()
                })
                .await
                .map_err(|e| format!("cannot create a test network: {e}"))?;
            let gateway = self
                .docker
                .inspect_network(&name, None::<bollard::query_parameters::InspectNetworkOptions>)
                .await
                .ok()
                .and_then(|n| n.ipam)
                .and_then(|i| i.config)
                .and_then(|c| c.into_iter().find_map(|c| c.gateway))
                .unwrap_or_default();
            // The host's side of the network, the default bridge's, and the host's own.
            let script = format!(
                "for a in {gateway} 172.17.0.1; do timeout 3 bash -c \"exec 3<>/dev/tcp/$a/{port}\" 2>/dev/null && echo \"reached $a\"; done; true"
            );
            self.docker
                .create_container(
                    Some(CreateContainerOptionsBuilder::default().name(&name).build()),
                    ContainerCreateBody {
                        image: Some(probe_image.to_string()),
                        cmd: Some(vec!["bash".into(), "-c".into(), script]),
                        labels: Some(labels.clone()),
                        host_config: Some(bollard::models::HostConfig {
                            network_mode: Some(name.clone()),
                            cap_drop: Some(vec!["ALL".into()]),
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                )
                .await
                .map_err(|e| format!("cannot create a test container: {e}"))?;
            self.docker
                .start_container(&name, None::<bollard::query_parameters::StartContainerOptions>)
                .await
                .map_err(|e| format!("cannot start a test container: {e}"))?;
            let mut wait = self.docker.wait_container(
                &name,
                None::<bollard::query_parameters::WaitContainerOptions>,
            );
            match tokio::time::timeout(std::time::Duration::from_secs(20), wait.next()).await {
                Ok(_) => {}
                Err(_) => return Err("the test container did not finish within 20 s".to_string()),
            }
            let mut logs = self.docker.logs(
                &name,
                Some(
                    bollard::query_parameters::LogsOptionsBuilder::default()
                        .stdout(true)
                        .stderr(true)
                        .build(),
                ),
            );
            let mut out = String::new();
            while let Ok(Some(Ok(chunk))) =
                tokio::time::timeout(std::time::Duration::from_secs(5), logs.next()).await
            {
                out.push_str(&chunk.to_string());
            }
            Ok(out)
        }
        .await;
        let accepted = listener.accept().is_ok();
        self.remove_doctor_leftovers().await;
        match result {
            Err(e) => (false, format!("not checked: {e}")),
            Ok(out) if accepted || out.contains("reached") => (
                false,
                format!(
                    "NOT in force: a sandbox container reached a port listening on the host ({}); block traffic from breakfix's networks to the host with a firewall",
                    out.trim().replace('\n', ", ")
                ),
            ),
            Ok(_) => (
                true,
                "in force: a container on a sandbox network could not reach a port listening on the host (its network gives the host no address)".into(),
            ),
        }
    }

    async fn remove_doctor_leftovers(&self) {
        let filters = HashMap::from([(
            "label".to_string(),
            vec![format!("{}={DOCTOR_ROLE}", crate::backend::labels::ROLE)],
        )]);
        if let Ok(list) = self
            .docker
            .list_containers(Some(
                bollard::query_parameters::ListContainersOptionsBuilder::default()
                    .all(true)
                    .filters(&filters)
                    .build(),
            ))
            .await
        {
            for c in list {
                if let Some(id) = c.id {
                    let _ = self
                        .docker
                        .remove_container(
                            &id,
                            Some(RemoveContainerOptionsBuilder::default().force(true).build()),
                        )
                        .await;
                }
            }
        }
        if let Ok(list) = self
            .docker
            .list_networks(Some(
                bollard::query_parameters::ListNetworksOptionsBuilder::default()
                    .filters(&filters)
                    .build(),
            ))
            .await
        {
            for n in list {
                if let Some(id) = n.id {
                    let _ = self.docker.remove_network(&id).await;
                }
            }
        }
    }
}
