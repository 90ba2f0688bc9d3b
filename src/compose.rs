//! The subset of the Compose file format breakfix deploys on the Docker backend, and its
//! translation into [`ServiceSpec`]s (plain data the backend turns into containers).
//!
//! Keys that breakfix cannot honour in a sandbox (published ports, host networking,
//! privileged mode, host paths outside the workspace) are errors that say so, not silently
//! ignored: a candidate must be able to trust that what the file says is what runs.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::diagnostic::Diagnostic;
use crate::duration::HumanDuration;
use crate::yaml::{self, Located, Pos};

/// Default limits for a service that sets none (a sandbox must not starve the machine).
pub const DEFAULT_MEMORY: i64 = 256 << 20;
pub const DEFAULT_NANO_CPUS: i64 = 500_000_000;
pub const DEFAULT_PIDS: i64 = 256;
/// The most a compose file may ask for.
pub const MAX_MEMORY: i64 = 2 << 30;
pub const MAX_NANO_CPUS: i64 = 2_000_000_000;
pub const MAX_PIDS: i64 = 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ComposeFile {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub version: Option<String>,
    pub services: BTreeMap<String, Located<Service>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub image: Option<Located<String>>,
    /// Build the image from a folder of the workspace instead of using a prebuilt one.
    #[serde(default)]
    pub build: Option<Located<Build>>,
    #[serde(default)]
    pub command: Option<Words>,
    #[serde(default)]
    pub entrypoint: Option<Words>,
    #[serde(default)]
    pub environment: Option<KeyValues>,
    #[serde(default)]
    pub volumes: Vec<Located<String>>,
    #[serde(default)]
    pub tmpfs: Option<Words>,
    #[serde(default)]
    pub read_only: Option<bool>,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub restart: Option<Located<String>>,
    #[serde(default)]
    pub healthcheck: Option<Healthcheck>,
    #[serde(default)]
    pub networks: Option<Networks>,
    #[serde(default)]
    pub cap_add: Vec<Located<String>>,
    #[serde(default)]
    pub cap_drop: Vec<String>,
    #[serde(default)]
    pub mem_limit: Option<Located<Size>>,
    #[serde(default)]
    pub cpus: Option<Located<f64>>,
    #[serde(default)]
    pub pids_limit: Option<Located<i64>>,
    #[serde(default)]
    pub working_dir: Option<String>,
    #[serde(default)]
    pub depends_on: Option<Names>,
    #[serde(default)]
    pub labels: Option<KeyValues>,
    #[serde(default)]
    pub privileged: Option<Located<bool>>,
    #[serde(default)]
    pub stop_grace_period: Option<HumanDuration>,
    #[serde(default)]
    pub hostname: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Healthcheck {
    #[serde(default)]
    pub test: Option<Words>,
    #[serde(default)]
    pub interval: Option<HumanDuration>,
    #[serde(default)]
    pub timeout: Option<HumanDuration>,
    #[serde(default)]
    pub retries: Option<i64>,
    #[serde(default)]
    pub start_period: Option<HumanDuration>,
    #[serde(default)]
    pub disable: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkAttachment {
    #[serde(default)]
    pub aliases: Vec<String>,
}

/// `build: ./app` or `build: {context: ./app, dockerfile: Dockerfile}`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Build {
    pub context: String,
    pub dockerfile: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BuildMap {
    #[serde(default)]
    context: Option<String>,
    #[serde(default)]
    dockerfile: Option<String>,
}

impl<'de> Deserialize<'de> for Build {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Build;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a folder of the workspace, or a map with `context` and `dockerfile`")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Build, E> {
                Ok(Build {
                    context: s.to_string(),
                    dockerfile: None,
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<Build, A::Error> {
                let b = BuildMap::deserialize(de::value::MapAccessDeserializer::new(m))?;
                Ok(Build {
                    context: b.context.unwrap_or_else(|| ".".into()),
                    dockerfile: b.dockerfile,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// A command written as a string (split like a shell would) or as a list.
#[derive(Debug, Clone, PartialEq)]
pub struct Words {
    pub words: Vec<String>,
    /// Written as one string (a healthcheck string runs under a shell).
    pub was_string: bool,
}

/// `KEY: value` map or `["KEY=value"]` list.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyValues(pub BTreeMap<String, String>);

/// A list of names or a map whose keys are names (`depends_on`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Names(pub Vec<String>);

/// `networks: [default]` or `networks: {default: {aliases: [...]}}`.
#[derive(Debug, Default)]
pub struct Networks(pub BTreeMap<String, NetworkAttachment>);

/// A byte size: `256m`, `1g`, `512k`, or a number of bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Size(pub i64);

impl<'de> Deserialize<'de> for Words {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Words;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Words, E> {
                let words = shlex::split(s)
                    .ok_or_else(|| E::custom(format!("unbalanced quotes in `{s}`")))?;
                Ok(Words {
                    words,
                    was_string: true,
                })
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Words, A::Error> {
                let mut words = Vec::new();
                while let Some(w) = seq.next_element::<Scalar>()? {
                    words.push(w.0);
                }
                Ok(Words {
                    words,
                    was_string: false,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// A scalar read as text whatever its YAML type (`8080`, `true`, `abc`).
struct Scalar(String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, s: &str) -> Result<Scalar, E> {
                Ok(Scalar(s.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar(String::new()))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for KeyValues {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeyValues;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a map of KEY: value or a list of \"KEY=value\"")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<KeyValues, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((k, v)) = m.next_entry::<String, Scalar>()? {
                    out.insert(k, v.0);
                }
                Ok(KeyValues(out))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<KeyValues, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(item) = seq.next_element::<String>()? {
                    let (k, v) = item.split_once('=').unwrap_or((item.as_str(), ""));
                    out.insert(k.to_string(), v.to_string());
                }
                Ok(KeyValues(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Names {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Names;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of service names or a map keyed by service name")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Names, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = seq.next_element::<String>()? {
                    out.push(s);
                }
                Ok(Names(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Names, A::Error> {
                let mut out = Vec::new();
                while let Some((k, _)) = m.next_entry::<String, de::IgnoredAny>()? {
                    out.push(k);
                }
                Ok(Names(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Networks {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Networks;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of network names or a map of network name to settings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Networks, A::Error> {
                let mut out = BTreeMap::new();
                while let Some(s) = seq.next_element::<String>()? {
                    out.insert(s, NetworkAttachment::default());
                }
                Ok(Networks(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Networks, A::Error> {
                let mut out = BTreeMap::new();
                while let Some((k, v)) = m.next_entry::<String, Option<NetworkAttachment>>()? {
                    out.insert(k, v.unwrap_or_default());
                }
                Ok(Networks(out))
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = Scalar::deserialize(d)?;
        parse_size(&s.0).map(Size).ok_or_else(|| {
            de::Error::custom(format!(
                "invalid size `{}`; write it like `256m`, `1g` or a number of bytes",
                s.0
            ))
        })
    }
}

/// Parses `256m`, `1g`, `512k`, `1024b` or `1048576` into bytes.
pub fn parse_size(text: &str) -> Option<i64> {
    let t = text.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').unwrap_or(&t);
    let (num, mult) = match t.chars().last()? {
        'k' => (&t[..t.len() - 1], 1i64 << 10),
        'm' => (&t[..t.len() - 1], 1 << 20),
        'g' => (&t[..t.len() - 1], 1 << 30),
        _ => (t, 1),
    };
    let n: f64 = num.trim().parse().ok()?;
    if !(n.is_finite() && n > 0.0) {
        return None;
    }
    Some((n * mult as f64) as i64)
}

/// One service, resolved into what the backend creates. Plain data, hashed for `apply`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ServiceSpec {
    pub name: String,
    /// The image to run. For a service with `build`, what the compose file names (possibly
    /// empty) until the backend builds the image and puts its own tag here.
    pub image: String,
    /// Build the image from the workspace before running it.
    pub build: Option<BuildSpec>,
    pub command: Option<Vec<String>>,
    pub entrypoint: Option<Vec<String>>,
    pub environment: BTreeMap<String, String>,
    pub binds: Vec<Bind>,
    pub tmpfs: Vec<String>,
    pub read_only: bool,
    pub user: Option<String>,
    /// `no`, `always`, `unless-stopped`, `on-failure` (with optional `:N`).
    pub restart: String,
    pub healthcheck: Option<HealthSpec>,
    pub aliases: Vec<String>,
    pub cap_add: Vec<String>,
    pub memory: i64,
    pub nano_cpus: i64,
    pub pids_limit: i64,
    pub working_dir: Option<String>,
    pub depends_on: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub stop_grace_secs: Option<i64>,
    pub hostname: Option<String>,
    /// What the backend must still judge against the scenario's ceiling (not part of the
    /// container's definition, so not hashed).
    #[serde(skip)]
    pub guard: Guard,
}

/// An image built from a folder of the workspace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BuildSpec {
    /// Absolute path of the build context (inside the session's workspace).
    pub context: PathBuf,
    /// The Dockerfile, relative to the context.
    pub dockerfile: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bind {
    /// Absolute path on the host (inside the session's workspace).
    pub source: PathBuf,
    pub target: String,
    pub read_only: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthSpec {
    /// In the engine's form: `["CMD", ...]`, `["CMD-SHELL", "..."]` or `["NONE"]`.
    pub test: Vec<String>,
    pub interval_ns: Option<i64>,
    pub timeout_ns: Option<i64>,
    pub retries: Option<i64>,
    pub start_period_ns: Option<i64>,
}

impl ServiceSpec {
    /// A digest of everything that defines the container, including the content of the
    /// files bound into it, so `apply` recreates exactly the services that changed.
    pub fn config_hash(&self, image_id: &str) -> String {
        let mut h = Sha256::new();
        h.update(serde_json::to_vec(self).unwrap_or_default());
        h.update(image_id.as_bytes());
        for b in &self.binds {
            hash_path(&mut h, &b.source);
        }
        hex::encode(&h.finalize()[..12])
    }
}

/// Hashes a bound file or folder without ever blocking or reading without bound: a lenient
/// walk (see [`crate::tree`]), links by their target, special files by their kind, files past
/// [`crate::tree::MAX_BYTES`] by their size. `parse_bind` has refused all of these already;
/// this only keeps what changed since (a FIFO made in the meantime) from hanging `apply`.
/// A bound folder of regular files hashes as it always did.
fn hash_path(h: &mut Sha256, path: &Path) {
    use crate::tree::{Kind, Walk};
    // `parse_bind` resolved the source to a path without links; one there now was made since.
    let swapped = std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    let walked = if swapped {
        Err("the bound path became a link".to_string())
    } else {
        Walk::new("workspace")
            .lenient()
            .run(path)
            .map_err(|e| e.to_string())
    };
    let tree = match walked {
        Ok(t) => t,
        Err(e) => {
            h.update(path.as_os_str().as_encoded_bytes());
            h.update(b"\0unreadable\0");
            h.update(e);
            return;
        }
    };
    let mut budget = crate::tree::MAX_BYTES;
    for e in &tree.entries {
        h.update(tree.path(e).as_os_str().as_encoded_bytes());
        match &e.kind {
            Kind::Dir => {}
            Kind::File { len, .. } if *len <= budget => {
                budget -= len;
                if tree.hash(e, h).is_err() {
                    h.update(b"\0unreadable\0");
                }
            }
            Kind::File { len, .. } => {
                h.update(b"\0size\0");
                h.update(len.to_le_bytes());
            }
            Kind::Link { target } => {
                h.update(b"\0link\0");
                h.update(target.as_os_str().as_encoded_bytes());
            }
            Kind::Special(kind) => {
                h.update(b"\0special\0");
                h.update(kind);
            }
        }
    }
}

/// The deployable form of a compose file.
#[derive(Debug, Clone)]
pub struct Deployment {
    pub services: Vec<ServiceSpec>,
}

impl Deployment {
    pub fn service(&self, name: &str) -> Option<&ServiceSpec> {
        self.services.iter().find(|s| s.name == name)
    }

    /// Services in an order where each comes after what it depends on.
    pub fn start_order(&self) -> Vec<&ServiceSpec> {
        let mut done: Vec<&ServiceSpec> = Vec::new();
        let mut pending: Vec<&ServiceSpec> = self.services.iter().collect();
        while !pending.is_empty() {
            let before = pending.len();
            pending.retain(|s| {
                let ready = s
                    .depends_on
                    .iter()
                    .all(|d| done.iter().any(|x| &x.name == d));
                if ready {
                    done.push(s);
                }
                !ready
            });
            if pending.len() == before {
                // A cycle (rejected by validation) — keep declaration order for the rest.
                done.append(&mut pending);
            }
        }
        done
    }
}

/// Whether a service may run as uid 0.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum RootRule {
    #[default]
    Allowed,
    Denied,
    /// As the scenario's image does: allowed when that image's own user is root.
    AsImage(String),
}

/// What the backend must still judge for one service, where only the engine knows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Guard {
    pub root: RootRule,
    /// The shortest healthcheck interval and timeout, in nanoseconds (0: no floor).
    pub health_floor_ns: i64,
    /// Where the service is declared (`compose.yaml:12:3`), for the backend's refusals.
    pub declared_at: String,
}

/// What a workspace's compose file may ask for, checked as the file is read: the scenario's
/// ceiling ([`crate::ceiling::Ceiling`]) implements it. The loader knows the file; the bound
/// knows the scenario.
pub trait Bound {
    /// Checks one service; each problem goes to `err` with the position it concerns
    /// (`Pos::default()`: the service's own line).
    fn check_service(
        &self,
        name: &str,
        svc: &Service,
        binds: &[Bind],
        err: &mut dyn FnMut(Pos, String),
    );
    /// Checks the whole deployment: the number of services and their summed limits.
    fn check_totals(&self, d: &Deployment, err: &mut dyn FnMut(String));
    /// What the backend still judges for `name`.
    fn guard(&self, name: &str, declared_at: String) -> Guard;
    /// Checks the images a workspace Dockerfile starts from; each problem with its line.
    fn check_dockerfile(&self, text: &str) -> Vec<(u64, String)>;
}

/// No bound at all: how the scenario's own workspace is read (its author is trusted).
pub struct Unbounded;

impl Bound for Unbounded {
    fn check_service(&self, _: &str, _: &Service, _: &[Bind], _: &mut dyn FnMut(Pos, String)) {}
    fn check_totals(&self, _: &Deployment, _: &mut dyn FnMut(String)) {}
    fn guard(&self, _: &str, declared_at: String) -> Guard {
        Guard {
            declared_at,
            ..Guard::default()
        }
    }
    fn check_dockerfile(&self, _: &str) -> Vec<(u64, String)> {
        vec![]
    }
}

/// Loads `file` (a compose file inside `workspace`) into a deployment, or every problem
/// found in it, each with its position; anything above `ceiling` is one of them.
pub fn load(
    workspace: &Path,
    file: &Path,
    ceiling: &dyn Bound,
) -> Result<Deployment, Vec<Diagnostic>> {
    let text =
        yaml::read_file(file, "compose file").map_err(|e| vec![Diagnostic::from_parse(file, e)])?;
    parse(workspace, file, text.as_bytes(), ceiling)
}

/// Parses the bytes of a compose file (`file` names it in diagnostics and is where its
/// relative paths start) and resolves it like [`load`]; the disk is only asked whether the
/// paths it names exist inside `workspace`.
pub fn parse(
    workspace: &Path,
    file: &Path,
    bytes: &[u8],
    ceiling: &dyn Bound,
) -> Result<Deployment, Vec<Diagnostic>> {
    let parsed: ComposeFile = yaml::text(bytes)
        .and_then(yaml::from_str)
        .map_err(|e| vec![Diagnostic::from_parse(file, e)])?;
    resolve(workspace, file, parsed, ceiling)
}

/// The aliases a service asks for on the session's one network (the only one there is).
fn aliases(networks: Option<Networks>, at: Pos, err: &mut dyn FnMut(Pos, String)) -> Vec<String> {
    let mut aliases = Vec::new();
    if let Some(nets) = networks {
        for (net, att) in nets.0 {
            if net != "default" {
                err(
                    at,
                    format!(
                        "network `{net}`: breakfix gives each session one network; use `default`"
                    ),
                );
            }
            aliases.extend(att.aliases);
        }
    }
    aliases
}

/// A service's bind mounts, each checked; mounts, tmpfs folders and variables that would
/// replace the container's own tools are refused.
fn mounts(
    workspace: &Path,
    file: &Path,
    svc: &Service,
    at: Pos,
    err: &mut dyn FnMut(Pos, String),
) -> Vec<Bind> {
    let mut binds = Vec::new();
    for v in &svc.volumes {
        match parse_bind(workspace, file, &v.value) {
            Ok(b) if shadows_tools(&b.target) => err(
                v.pos,
                format!(
                    "volume `{}`: `{}` is where the container keeps its own tools; a sandbox may not mount over them",
                    v.value, b.target
                ),
            ),
            Ok(b) => binds.push(b),
            Err(msg) => err(v.pos, format!("volume `{}`: {msg}", v.value)),
        }
    }
    if let Some(t) = &svc.tmpfs {
        for w in &t.words {
            let path = w.split_once(':').map_or(w.as_str(), |(p, _)| p);
            if shadows_tools(path) {
                err(
                    at,
                    format!(
                        "tmpfs `{path}` is where the container keeps its own tools; a sandbox may not mount over them"
                    ),
                );
            }
        }
    }
    if let Some(env) = &svc.environment {
        for name in env
            .0
            .keys()
            .filter(|k| TOOL_LOOKUP_VARS.contains(&k.as_str()))
        {
            err(
                at,
                format!(
                    "environment `{name}`: how the container finds its tools comes from its image and cannot be set in a sandbox"
                ),
            );
        }
    }
    binds
}

/// A service's restart policy and resource limits, defaults filled in, each within the
/// sandbox's maximum.
struct Limits {
    restart: String,
    memory: i64,
    nano_cpus: i64,
    pids_limit: i64,
}

fn limits(svc: &Service, at: Pos, err: &mut dyn FnMut(Pos, String)) -> Limits {
    let restart = svc
        .restart
        .as_ref()
        .map(|r| r.value.clone())
        .unwrap_or_else(|| "no".into());
    let policy = restart.split(':').next().unwrap_or_default();
    if !["no", "always", "unless-stopped", "on-failure"].contains(&policy) {
        err(
            svc.restart.as_ref().map(|r| r.pos).unwrap_or(at),
            format!("restart `{restart}` is not one of no, always, unless-stopped, on-failure"),
        );
    }
    let memory = svc
        .mem_limit
        .as_ref()
        .map(|m| m.value.0)
        .unwrap_or(DEFAULT_MEMORY);
    if memory > MAX_MEMORY {
        err(
            svc.mem_limit.as_ref().map(|m| m.pos).unwrap_or(at),
            format!(
                "mem_limit is above the sandbox maximum of {}m",
                MAX_MEMORY >> 20
            ),
        );
    }
    let nano_cpus = svc
        .cpus
        .as_ref()
        .map(|c| (c.value * 1e9) as i64)
        .unwrap_or(DEFAULT_NANO_CPUS);
    if nano_cpus <= 0 || nano_cpus > MAX_NANO_CPUS {
        err(
            svc.cpus.as_ref().map(|c| c.pos).unwrap_or(at),
            format!(
                "cpus must be above 0 and at most {}",
                MAX_NANO_CPUS / 1_000_000_000
            ),
        );
    }
    let pids_limit = svc
        .pids_limit
        .as_ref()
        .map(|p| p.value)
        .unwrap_or(DEFAULT_PIDS);
    if pids_limit <= 0 || pids_limit > MAX_PIDS {
        err(
            svc.pids_limit.as_ref().map(|p| p.pos).unwrap_or(at),
            format!("pids_limit must be between 1 and {MAX_PIDS}"),
        );
    }
    Limits {
        restart,
        memory,
        nano_cpus,
        pids_limit,
    }
}

fn resolve(
    workspace: &Path,
    file: &Path,
    parsed: ComposeFile,
    ceiling: &dyn Bound,
) -> Result<Deployment, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let mut services = Vec::new();
    // Problems in a service's Dockerfile name that file, not the compose file.
    let mut dockerfile_diags = Vec::new();
    let names: Vec<String> = parsed.services.keys().cloned().collect();
    if names.is_empty() {
        diags.push(Diagnostic::at(
            file,
            Pos { line: 1, column: 1 },
            "`services` is empty: nothing to deploy",
        ));
    }
    for (name, svc) in parsed.services {
        let at = svc.pos;
        let svc = svc.value;
        let mut err = |pos: Pos, msg: String| {
            diags.push(Diagnostic::at(
                file,
                if pos.line == 0 { at } else { pos },
                format!("services.{name}: {msg}"),
            ))
        };
        if !valid_name(&name) {
            err(
                at,
                "service names use lowercase letters, digits, `-` and `_`".into(),
            );
        } else if name == WORKSTATION {
            err(
                at,
                "`workstation` is the candidate's own workstation, which breakfix starts: name the service otherwise".into(),
            );
        }
        let build = match svc.build.as_ref() {
            Some(b) => match parse_build(workspace, file, &b.value) {
                Ok(spec) => Some(spec),
                Err(msg) => {
                    err(b.pos, format!("build: {msg}"));
                    None
                }
            },
            None => None,
        };
        if svc.image.is_none() && svc.build.is_none() {
            err(
                at,
                "`image` or `build` is required (a prebuilt image, or a folder of the workspace to build it from)".into(),
            );
            continue;
        }
        let image = svc
            .image
            .as_ref()
            .map(|i| i.value.clone())
            .unwrap_or_default();
        if let Some(p) = svc.privileged.as_ref().filter(|p| p.value) {
            err(
                p.pos,
                "`privileged: true` is not allowed in a breakfix sandbox".into(),
            );
        }
        let binds = mounts(workspace, file, &svc, at, &mut err);
        ceiling.check_service(&name, &svc, &binds, &mut err);
        if let Some(b) = &build {
            let path = b.context.join(&b.dockerfile);
            match read_dockerfile(&path) {
                Ok(text) => {
                    for (line, msg) in ceiling.check_dockerfile(&text) {
                        dockerfile_diags.push(Diagnostic::at(
                            &path,
                            Pos { line, column: 1 },
                            format!("services.{name}: {msg}"),
                        ));
                    }
                }
                Err(msg) => err(at, format!("build: {msg}")),
            }
        }
        let declared_at = format!(
            "{}:{}:{}",
            file.strip_prefix(workspace).unwrap_or(file).display(),
            at.line,
            at.column
        );
        let guard = ceiling.guard(&name, declared_at);
        let Limits {
            restart,
            memory,
            nano_cpus,
            pids_limit,
        } = limits(&svc, at, &mut err);
        let depends_on = svc.depends_on.map(|d| d.0).unwrap_or_default();
        for d in &depends_on {
            if !names.contains(d) {
                err(
                    at,
                    format!("depends_on names `{d}`, which is not a service in this file"),
                );
            }
        }
        let aliases = aliases(svc.networks, at, &mut err);
        let healthcheck = svc.healthcheck.map(|h| health_spec(&h));
        services.push(ServiceSpec {
            image,
            build,
            command: svc.command.map(|c| c.words),
            entrypoint: svc.entrypoint.map(|c| c.words),
            environment: svc.environment.map(|e| e.0).unwrap_or_default(),
            binds,
            tmpfs: svc.tmpfs.map(|t| t.words).unwrap_or_default(),
            read_only: svc.read_only.unwrap_or(false),
            user: svc.user,
            restart,
            healthcheck,
            aliases,
            cap_add: svc
                .cap_add
                .iter()
                .map(|c| c.value.to_ascii_uppercase())
                .collect(),
            memory,
            nano_cpus,
            pids_limit,
            working_dir: svc.working_dir,
            depends_on,
            labels: svc.labels.map(|l| l.0).unwrap_or_default(),
            stop_grace_secs: svc.stop_grace_period.map(|d| d.0.as_secs() as i64),
            hostname: svc.hostname,
            name,
            guard,
        });
    }
    diags.append(&mut dockerfile_diags);
    let deployment = Deployment { services };
    ceiling.check_totals(&deployment, &mut |msg| {
        diags.push(Diagnostic::at(file, Pos { line: 1, column: 1 }, msg))
    });
    if diags.is_empty() {
        Ok(deployment)
    } else {
        diags.sort();
        Err(diags)
    }
}

/// The most of a Dockerfile read to check what it builds from.
const MAX_DOCKERFILE_BYTES: u64 = 1 << 20;

/// A workspace Dockerfile, read in bounded memory and never through a link or from a
/// special file (the candidate controls it).
fn read_dockerfile(path: &Path) -> Result<String, String> {
    use std::io::Read;
    let meta = std::fs::symlink_metadata(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if !meta.file_type().is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    if meta.len() > MAX_DOCKERFILE_BYTES {
        return Err(format!(
            "{} is larger than {} KiB",
            path.display(),
            MAX_DOCKERFILE_BYTES >> 10
        ));
    }
    let mut text = String::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_DOCKERFILE_BYTES).read_to_string(&mut text))
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(text)
}

fn health_spec(h: &Healthcheck) -> HealthSpec {
    let ns = |d: Option<HumanDuration>| d.map(|d| d.0.as_nanos() as i64);
    let test = if h.disable == Some(true) {
        vec!["NONE".to_string()]
    } else {
        match &h.test {
            None => vec![],
            Some(w) if w.was_string => vec!["CMD-SHELL".into(), w.words.join(" ")],
            Some(w) => w.words.clone(),
        }
    };
    HealthSpec {
        test,
        interval_ns: ns(h.interval),
        timeout_ns: ns(h.timeout),
        retries: h.retries,
        start_period_ns: ns(h.start_period),
    }
}

/// Folders holding a container's own programs and libraries. Checks that look inside a
/// container (an `exec` check, a healthcheck) rely on them, so a sandbox may not mount over
/// them.
pub const TOOL_DIRS: &[&str] = &[
    "/bin",
    "/sbin",
    "/lib",
    "/lib64",
    "/usr/bin",
    "/usr/sbin",
    "/usr/lib",
    "/usr/lib64",
    "/usr/libexec",
    "/usr/local/bin",
    "/usr/local/sbin",
];

/// Variables that change which program a name runs or which libraries it loads.
const TOOL_LOOKUP_VARS: &[&str] = &["PATH", "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT"];

/// Whether a container path is a tools folder, inside one, or a parent of one (`/`, `/usr`).
pub fn shadows_tools(target: &str) -> bool {
    let t = normalize(Path::new(target));
    TOOL_DIRS.iter().any(|d| {
        let d = Path::new(d);
        t.starts_with(d) || d.starts_with(&t)
    })
}

/// The service name reserved for the candidate's workstation: a compose file may not use it,
/// and `shell` reaches the workstation by it.
pub const WORKSTATION: &str = "workstation";

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// `./conf/app.conf:/etc/app.conf:ro` → a bind of a path inside the workspace.
fn parse_bind(workspace: &Path, file: &Path, text: &str) -> Result<Bind, String> {
    let parts: Vec<&str> = text.split(':').collect();
    let (src, target, mode) = match parts.as_slice() {
        [s, t] => (*s, *t, None),
        [s, t, m] => (*s, *t, Some(*m)),
        _ => return Err("write it as `./path/in/workspace:/path/in/container[:ro]`".into()),
    };
    if !(src.starts_with("./") || src.starts_with("../") || src == ".") {
        return Err(
            "only files of the workspace can be mounted (start the source with `./`); named volumes and host paths are not available in a sandbox".into(),
        );
    }
    if !target.starts_with('/') {
        return Err("the container path must be absolute".into());
    }
    let read_only = match mode {
        None | Some("rw") => false,
        Some("ro") => true,
        Some(m) => return Err(format!("unknown mode `{m}` (use `ro` or `rw`)")),
    };
    let base = file.parent().unwrap_or(workspace);
    let joined = normalize(&base.join(src));
    let root = normalize(workspace);
    if !joined.starts_with(&root) {
        return Err("the source leaves the workspace".into());
    }
    let real = joined
        .canonicalize()
        .map_err(|_| format!("`{src}` does not exist in the workspace"))?;
    let real_root = root.canonicalize().unwrap_or(root);
    if !real.starts_with(&real_root) {
        return Err("the source is a link that leaves the workspace".into());
    }
    // What `apply` hashes and the container reads is judged here, so a FIFO or a link
    // leading out is reported on this line rather than met when it is read.
    crate::tree::Walk::new("workspace")
        .run_from(&real_root, &real)
        .map_err(|e| e.explain())?;
    Ok(Bind {
        source: real,
        target: target.to_string(),
        read_only,
    })
}

/// `build` → a context folder inside the workspace holding the Dockerfile.
fn parse_build(workspace: &Path, file: &Path, b: &Build) -> Result<BuildSpec, String> {
    let ctx = b.context.as_str();
    if ctx.contains("://") || ctx.starts_with("git@") {
        return Err(format!(
            "context `{ctx}` is remote; only folders of the workspace can be built in a sandbox"
        ));
    }
    if Path::new(ctx).is_absolute() {
        return Err(format!(
            "context `{ctx}` is a host path; use a folder of the workspace (`./app`)"
        ));
    }
    let base = file.parent().unwrap_or(workspace);
    let joined = normalize(&base.join(ctx));
    let root = normalize(workspace);
    if !joined.starts_with(&root) {
        return Err(format!("context `{ctx}` leaves the workspace"));
    }
    let real = joined
        .canonicalize()
        .map_err(|_| format!("context `{ctx}` does not exist in the workspace"))?;
    let real_root = root.canonicalize().unwrap_or(root);
    if !real.starts_with(&real_root) {
        return Err(format!(
            "context `{ctx}` is a link that leaves the workspace"
        ));
    }
    if !real.is_dir() {
        return Err(format!("context `{ctx}` is not a folder"));
    }
    crate::tree::Walk::build_context()
        .run(&real)
        .map_err(|e| format!("context `{ctx}`: {}", e.explain()))?;
    let dockerfile = b.dockerfile.clone().unwrap_or_else(|| "Dockerfile".into());
    let rel = Path::new(&dockerfile);
    if rel.is_absolute() || rel.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(format!(
            "dockerfile `{dockerfile}` must be a path inside the context `{ctx}`"
        ));
    }
    if !real.join(rel).is_file() {
        return Err(format!(
            "dockerfile `{dockerfile}` does not exist in the context `{ctx}`"
        ));
    }
    Ok(BuildSpec {
        context: real,
        dockerfile,
    })
}

/// Resolves `.` and `..` without touching the filesystem.
pub fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load_text(text: &str) -> Result<Deployment, Vec<Diagnostic>> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("conf")).unwrap();
        std::fs::write(dir.path().join("conf/app.conf"), "x").unwrap();
        let file = dir.path().join("compose.yaml");
        std::fs::write(&file, text).unwrap();
        load(dir.path(), &file, &Unbounded)
    }

    #[test]
    fn a_typical_service_resolves_with_sandbox_defaults() {
        let d = load_text(
            "services:\n  web:\n    image: nginx\n    command: nginx -g 'daemon off;'\n    volumes: [\"./conf/app.conf:/etc/app.conf:ro\"]\n    restart: always\n    healthcheck:\n      test: curl -f http://localhost/\n      interval: 2s\n",
        )
        .unwrap();
        let web = d.service("web").unwrap();
        assert_eq!(
            web.command.as_deref().unwrap(),
            ["nginx", "-g", "daemon off;"]
        );
        assert!(web.binds[0].read_only);
        assert_eq!(web.memory, DEFAULT_MEMORY);
        assert_eq!(web.healthcheck.as_ref().unwrap().test[0], "CMD-SHELL");
    }

    #[test]
    fn published_ports_are_refused_with_their_position() {
        let e =
            load_text("services:\n  web:\n    image: nginx\n    ports: [\"80:80\"]\n").unwrap_err();
        assert_eq!(e[0].pos.line, 4, "{e:?}");
        assert!(e[0].message.contains("ports"), "{e:?}");
    }

    #[test]
    fn every_problem_in_the_services_is_reported_at_once() {
        let e = load_text(
            "services:\n  web:\n    image: nginx\n    privileged: true\n    volumes: [\"/etc:/host-etc\"]\n  api:\n    restart: sometimes\n",
        )
        .unwrap_err();
        assert_eq!(e.len(), 3, "{e:?}");
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_refused_where_it_goes_too_deep() {
        // `depends_on` as a mapping ignores its values, so only the limit stops the nesting.
        let mut text = String::from("services:\n  web:\n    image: nginx\n    depends_on:\n");
        for i in 0..300 {
            text.push_str(&format!("{}db{i}:\n", "  ".repeat(i + 3)));
        }
        text.push_str(&format!("{}x\n", "  ".repeat(303)));
        let e = load_text(&text).unwrap_err();
        assert_eq!(e.len(), 1, "{e:?}");
        assert_eq!(
            e[0].message,
            format!(
                "lists and mappings nest more than {} levels deep here",
                yaml::MAX_DEPTH
            )
        );
        assert!(e[0].pos.line > 4, "{e:?}");
    }

    #[test]
    fn a_mount_that_leaves_the_workspace_is_refused() {
        let e = load_text(
            "services:\n  web:\n    image: nginx\n    volumes: [\"../../etc/passwd:/x\"]\n",
        )
        .unwrap_err();
        assert!(e[0].message.contains("leaves the workspace"), "{e:?}");
    }

    #[test]
    fn a_sandbox_cannot_mount_over_or_redirect_the_containers_own_tools() {
        let e = load_text(
            "services:\n  web:\n    image: nginx\n    volumes: [\"./conf/app.conf:/usr/bin/curl:ro\"]\n    tmpfs: [/usr/local/bin]\n    environment:\n      PATH: /tmp:/usr/bin\n      LD_PRELOAD: /tmp/fake.so\n",
        )
        .unwrap_err();
        let messages: Vec<&str> = e.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(e.len(), 4, "{messages:?}");
        let bind = e
            .iter()
            .find(|d| {
                d.message
                    .contains("`/usr/bin/curl` is where the container keeps its own tools")
            })
            .expect("the bind over curl is refused");
        assert_eq!(bind.pos.line, 4, "{bind:?}");
        assert!(
            messages
                .iter()
                .any(|m| m.contains("tmpfs `/usr/local/bin`"))
        );
        assert!(messages.iter().any(|m| m.contains("environment `PATH`")));
        assert!(
            messages
                .iter()
                .any(|m| m.contains("environment `LD_PRELOAD`"))
        );
        for fine in [
            "/etc/nginx/conf.d/app.conf",
            "/usr/share/nginx/html",
            "/usr/binary",
            "/app",
        ] {
            assert!(!shadows_tools(fine), "{fine}");
        }
        for tools in [
            "/",
            "/usr",
            "/usr/bin",
            "/usr/lib/x86_64-linux-gnu/libc.so.6",
            "/bin/../usr/bin/sh",
        ] {
            assert!(shadows_tools(tools), "{tools}");
        }
    }

    fn load_with_app(text: &str) -> Result<Deployment, Vec<Diagnostic>> {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("app")).unwrap();
        std::fs::write(dir.path().join("app/Dockerfile"), "FROM scratch\n").unwrap();
        std::fs::write(dir.path().join("app/Dockerfile.prod"), "FROM scratch\n").unwrap();
        let file = dir.path().join("compose.yaml");
        std::fs::write(&file, text).unwrap();
        load(dir.path(), &file, &Unbounded)
    }

    #[test]
    fn a_service_built_from_a_workspace_folder_needs_no_image() {
        let d = load_with_app("services:\n  app:\n    build: ./app\n").unwrap();
        let app = d.service("app").unwrap();
        let b = app.build.as_ref().unwrap();
        assert!(b.context.ends_with("app"), "{b:?}");
        assert_eq!(b.dockerfile, "Dockerfile");
        assert_eq!(app.image, "");
    }

    #[test]
    fn the_long_build_form_names_its_dockerfile() {
        let d = load_with_app(
            "services:\n  app:\n    image: acme/app\n    build:\n      context: ./app\n      dockerfile: Dockerfile.prod\n",
        )
        .unwrap();
        let app = d.service("app").unwrap();
        assert_eq!(app.build.as_ref().unwrap().dockerfile, "Dockerfile.prod");
        assert_eq!(app.image, "acme/app");
    }

    #[test]
    fn a_build_context_outside_the_workspace_is_refused_with_its_position() {
        let e = load_with_app("services:\n  app:\n    build: ../../etc\n").unwrap_err();
        assert_eq!(e[0].pos.line, 3, "{e:?}");
        assert!(e[0].message.contains("leaves the workspace"), "{e:?}");
        let e = load_with_app(
            "services:\n  app:\n    build: {context: ./app, dockerfile: ../compose.yaml}\n",
        )
        .unwrap_err();
        assert!(e[0].message.contains("inside the context"), "{e:?}");
        let e = load_with_app("services:\n  app:\n    build: {context: ./app, args: {A: b}}\n")
            .unwrap_err();
        assert!(e[0].message.contains("args"), "{e:?}");
    }

    #[test]
    fn a_service_with_neither_image_nor_build_is_refused() {
        let e = load_with_app("services:\n  app:\n    restart: always\n").unwrap_err();
        assert!(e[0].message.contains("`image` or `build`"), "{e:?}");
    }

    #[test]
    fn sizes_read_like_compose_writes_them() {
        assert_eq!(parse_size("256m"), Some(256 << 20));
        assert_eq!(parse_size("1g"), Some(1 << 30));
        assert_eq!(parse_size("1024"), Some(1024));
        assert_eq!(parse_size("lots"), None);
    }

    /// `config_hash`'s way of hashing a bound path before it read through `tree`.
    fn hash_path_as_before(h: &mut Sha256, path: &Path) {
        h.update(path.as_os_str().as_encoded_bytes());
        if path.is_dir() {
            let mut entries: Vec<_> = std::fs::read_dir(path)
                .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).collect())
                .unwrap_or_default();
            entries.sort();
            for e in entries {
                hash_path_as_before(h, &e);
            }
        } else if let Ok(bytes) = std::fs::read(path) {
            h.update(&bytes);
        }
    }

    fn mkfifo(path: &Path) {
        let made = std::process::Command::new("mkfifo")
            .arg(path)
            .status()
            .unwrap();
        assert!(made.success());
    }

    /// A workspace binding its `nginx/conf.d` folder, resolved.
    fn bound_folder() -> (tempfile::TempDir, Deployment) {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("workspace");
        std::fs::create_dir_all(ws.join("nginx/conf.d/snippets")).unwrap();
        std::fs::write(ws.join("nginx/conf.d/shop.conf"), "listen 8080;\n").unwrap();
        std::fs::write(ws.join("nginx/conf.d/a-b.conf"), "x").unwrap();
        std::fs::write(ws.join("nginx/conf.d/snippets/gzip"), "gzip on;\n").unwrap();
        let file = ws.join("compose.yaml");
        std::fs::write(
            &file,
            "services:\n  web:\n    image: nginx\n    volumes:\n      - ./nginx/conf.d:/etc/nginx/conf.d:ro\n",
        )
        .unwrap();
        let d = load(&ws, &file, &Unbounded).unwrap();
        (dir, d)
    }

    #[test]
    fn a_bound_folder_of_regular_files_hashes_as_it_always_did() {
        let (_dir, d) = bound_folder();
        let web = d.service("web").unwrap();
        let mut h = Sha256::new();
        h.update(serde_json::to_vec(web).unwrap());
        h.update(b"sha256:img");
        hash_path_as_before(&mut h, &web.binds[0].source);
        assert_eq!(
            web.config_hash("sha256:img"),
            hex::encode(&h.finalize()[..12])
        );
    }

    #[test]
    fn a_fifo_in_a_bound_folder_is_refused_on_the_volume_line() {
        let (dir, _) = bound_folder();
        let ws = dir.path().join("workspace");
        mkfifo(&ws.join("nginx/conf.d/snippets/pipe"));
        let diags = load(&ws, &ws.join("compose.yaml"), &Unbounded).unwrap_err();
        assert_eq!(
            crate::diagnostic::render(&diags),
            format!(
                "{}:5:9: services.web: volume `./nginx/conf.d:/etc/nginx/conf.d:ro`: `workspace/nginx/conf.d/snippets/pipe` is a FIFO; a workspace may hold only regular files, folders and links that stay inside it",
                ws.join("compose.yaml").display()
            )
        );
    }

    #[test]
    fn a_bound_folder_that_gains_a_fifo_after_it_was_resolved_still_hashes_promptly() {
        let (dir, d) = bound_folder();
        let ws = dir.path().join("workspace");
        let web = d.service("web").unwrap().clone();
        let before = web.config_hash("img");
        mkfifo(&ws.join("nginx/conf.d/pipe"));
        let (tx, rx) = std::sync::mpsc::channel();
        let spec = web.clone();
        std::thread::spawn(move || {
            let _ = tx.send(spec.config_hash("img"));
        });
        let after = rx
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("config_hash blocked on the FIFO");
        assert_ne!(before, after);
        assert_eq!(after, web.config_hash("img"), "the marker is deterministic");
    }

    #[test]
    fn a_build_context_holding_a_link_to_dev_zero_is_refused_on_the_build_line() {
        let dir = tempfile::tempdir().unwrap();
        let ws = dir.path().join("workspace");
        std::fs::create_dir_all(ws.join("app")).unwrap();
        std::fs::write(ws.join("app/Dockerfile"), "FROM debian:bookworm-slim\n").unwrap();
        std::os::unix::fs::symlink("/dev/zero", ws.join("app/zero")).unwrap();
        let file = ws.join("compose.yaml");
        std::fs::write(&file, "services:\n  app:\n    build: ./app\n").unwrap();
        let diags = load(&ws, &file, &Unbounded).unwrap_err();
        assert_eq!(
            crate::diagnostic::render(&diags),
            format!(
                "{}:3:12: services.app: build: context `./app`: `app/zero` is a link to `/dev/zero`, which leaves the build context; a build context may hold only regular files, folders and links that stay inside it",
                file.display()
            )
        );
    }
}
