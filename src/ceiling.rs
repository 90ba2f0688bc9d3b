//! The ceiling: what a candidate's workspace may declare, set by the scenario (trusted), never
//! by the workspace (attacker-controlled). Every deploy (start, apply, reset, a submission's
//! grade) resolves the compose file against it, and anything above it is refused with the
//! file, the line and the ceiling that refused it, before anything changes.
//!
//! What needs the engine to judge (the user an image runs as, an image's own healthcheck) is
//! carried to the backend in each [`ServiceSpec`]'s [`Guard`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::compose::{self, Bound, Deployment, Guard, RootRule, Service};
use crate::scenario::Package;
use crate::yaml::Pos;

/// The base image every scenario image and workspace build starts from.
pub const BASE_IMAGE: &str = "debian:bookworm-slim";

const DEFAULT_EXTRA_SERVICES: usize = 2;
const DEFAULT_MEMORY: i64 = 2 << 30;
const DEFAULT_NANO_CPUS: i64 = 2_000_000_000;
const DEFAULT_PIDS: i64 = 2048;
const DEFAULT_HEALTH_FLOOR: Duration = Duration::from_secs(1);

/// Start-up variables: they change which program or library a name loads, which code an
/// interpreter runs before its script, or where a tool sends its requests, without touching
/// the container's files (so the engine's record of changed files shows nothing).
const STARTUP_VARS: &[&str] = &[
    "PATH",
    "GCONV_PATH",
    "PYTHONPATH",
    "PYTHONHOME",
    "PYTHONSTARTUP",
    "PYTHONUSERBASE",
    "PYTHONINSPECT",
    "PERL5LIB",
    "PERLLIB",
    "PERL5OPT",
    "PERL5DB",
    "RUBYLIB",
    "RUBYOPT",
    "NODE_OPTIONS",
    "NODE_PATH",
    "BASH_ENV",
    "ENV",
    "SHELLOPTS",
    "BASHOPTS",
    "PS4",
    "PROMPT_COMMAND",
    "IFS",
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
    "JDK_JAVA_OPTIONS",
    "CLASSPATH",
    "LUA_PATH",
    "LUA_CPATH",
    "LUA_INIT",
    "TCLLIBPATH",
    "CURL_HOME",
    "CURL_CA_BUNDLE",
    "WGETRC",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "HOSTALIASES",
    "RES_OPTIONS",
    "LOCALDOMAIN",
    "HOME",
    "XDG_CONFIG_HOME",
    "http_proxy",
    "https_proxy",
    "all_proxy",
    "no_proxy",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "NO_PROXY",
];

/// Prefixes of start-up variables: the dynamic loader's (`LD_PRELOAD`, `LD_AUDIT`, ...),
/// bash's exported functions (`BASH_FUNC_curl%%` replaces `curl` in every bash script), git's.
const STARTUP_PREFIXES: &[&str] = &["LD_", "BASH_FUNC_", "GIT_", "DYLD_"];

/// Container paths a mount may not cover or sit inside, besides the tool folders
/// ([`compose::TOOL_DIRS`]): the dynamic loader's configuration, the user and host
/// databases, shell and interpreter start-up files, the kernel's and the engine's own.
const PROTECTED_TARGETS: &[&str] = &[
    "/usr/local/lib",
    "/usr/share/perl5",
    "/usr/local/share/perl",
    "/etc/ld.so.preload",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/ld.so.cache",
    "/etc/passwd",
    "/etc/group",
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/nsswitch.conf",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/hostname",
    "/etc/profile",
    "/etc/profile.d",
    "/etc/bash.bashrc",
    "/etc/environment",
    "/etc/alternatives",
    "/etc/wgetrc",
    "/etc/ssl",
    "/etc/python3",
    "/root",
    "/proc",
    "/sys",
    "/dev",
];

/// How far a mount target may be followed through links before it is refused.
const MAX_LINK_HOPS: usize = 40;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServiceLimits {
    pub cap_add: BTreeSet<String>,
    pub root: RootRule,
}

/// A resolved ceiling: plain data, every default filled in.
#[derive(Clone, Debug, PartialEq)]
pub struct Ceiling {
    pub services: usize,
    pub memory: i64,
    pub nano_cpus: i64,
    pub pids: i64,
    pub health_floor: Duration,
    /// Images a service may run (normalised: `repo:tag`).
    pub images: BTreeSet<String>,
    /// Images a workspace build may start from (normalised), besides `scratch`.
    pub bases: BTreeSet<String>,
    /// Start-up variables allowed after all: those the scenario names and those its own
    /// workspace sets.
    pub env: BTreeSet<String>,
    pub per_service: BTreeMap<String, ServiceLimits>,
}

impl Ceiling {
    /// No ceiling at all: for reading the scenario's own workspace, which sets the defaults.
    pub fn unlimited() -> Ceiling {
        Ceiling {
            services: usize::MAX,
            memory: i64::MAX,
            nano_cpus: i64::MAX,
            pids: i64::MAX,
            health_floor: Duration::ZERO,
            images: BTreeSet::new(),
            bases: BTreeSet::new(),
            env: BTreeSet::new(),
            per_service: BTreeMap::new(),
        }
    }

    pub fn is_unlimited(&self) -> bool {
        self.services == usize::MAX
    }

    /// The package's ceiling: what `environment.ceiling` says, the rest from its own
    /// workspace (`own`, the scenario's compose file read without a ceiling).
    pub fn for_package(pkg: &Package, own: &Deployment) -> Ceiling {
        let c = &pkg.scenario.environment.ceiling;
        let scenario_images: Vec<String> = pkg
            .scenario
            .environment
            .images
            .iter()
            .map(|n| normalize_image(&pkg.image_repo(n)))
            .collect();
        let mut images: BTreeSet<String> = scenario_images.iter().cloned().collect();
        images.extend(c.images.iter().map(|i| normalize_image(i)));
        // What the scenario's own workspace runs is the author's choice.
        images.extend(
            own.services
                .iter()
                .filter(|s| s.build.is_none() && !s.image.is_empty())
                .map(|s| normalize_image(&s.image)),
        );
        let mut bases: BTreeSet<String> = scenario_images.into_iter().collect();
        bases.insert(normalize_image(BASE_IMAGE));
        bases.extend(c.bases.iter().map(|i| normalize_image(i)));
        let mut per_service = BTreeMap::new();
        for spec in &own.services {
            let root = match (&spec.user, &spec.build) {
                (Some(u), _) => {
                    if names_root(u) {
                        RootRule::Allowed
                    } else {
                        RootRule::Denied
                    }
                }
                (None, Some(b)) => {
                    if dockerfile_runs_as_root(&b.context.join(&b.dockerfile)) {
                        RootRule::Allowed
                    } else {
                        RootRule::Denied
                    }
                }
                (None, None) => RootRule::AsImage(spec.image.clone()),
            };
            per_service.insert(
                spec.name.clone(),
                ServiceLimits {
                    cap_add: spec.cap_add.iter().cloned().collect(),
                    root,
                },
            );
        }
        for (name, sc) in &c.service {
            let entry = per_service.entry(name.clone()).or_insert(ServiceLimits {
                cap_add: BTreeSet::new(),
                root: RootRule::Denied,
            });
            if let Some(caps) = &sc.cap_add {
                entry.cap_add = caps.iter().map(|c| cap_name(c)).collect();
            }
            if let Some(root) = sc.root {
                entry.root = if root {
                    RootRule::Allowed
                } else {
                    RootRule::Denied
                };
            }
        }
        Ceiling {
            services: c
                .services
                .as_ref()
                .map(|n| n.value as usize)
                .unwrap_or(own.services.len() + DEFAULT_EXTRA_SERVICES),
            memory: c
                .memory
                .as_ref()
                .and_then(|m| compose::parse_size(m))
                .unwrap_or(DEFAULT_MEMORY),
            nano_cpus: c
                .cpus
                .as_ref()
                .map(|n| (n.value * 1e9) as i64)
                .unwrap_or(DEFAULT_NANO_CPUS),
            pids: c.pids.as_ref().map(|n| n.value).unwrap_or(DEFAULT_PIDS),
            health_floor: c
                .healthcheck_floor
                .as_ref()
                .map(|d| d.value.0)
                .unwrap_or(DEFAULT_HEALTH_FLOOR),
            images,
            bases,
            // The scenario's own workspace sets some itself (`PYTHONPATH` for its sources).
            env: c
                .env
                .iter()
                .map(|e| e.value.clone())
                .chain(
                    own.services
                        .iter()
                        .flat_map(|s| s.environment.keys())
                        .filter(|k| is_startup_var(k))
                        .cloned(),
                )
                .collect(),
            per_service,
        }
    }

    fn service(&self, name: &str) -> ServiceLimits {
        self.per_service
            .get(name)
            .cloned()
            .unwrap_or(ServiceLimits {
                cap_add: BTreeSet::new(),
                root: RootRule::Denied,
            })
    }
}

impl Bound for Ceiling {
    /// Checks one service of a workspace's compose file; each problem goes to `err` with
    /// the position it concerns (`Pos::default()`: the service's own line).
    fn check_service(
        &self,
        name: &str,
        svc: &Service,
        binds: &[compose::Bind],
        err: &mut dyn FnMut(Pos, String),
    ) {
        if self.is_unlimited() {
            return;
        }
        let limits = self.service(name);
        for cap in &svc.cap_add {
            let c = cap_name(cap);
            if !limits.cap_add.contains(&c) {
                err(
                    cap.pos,
                    format!(
                        "cap_add `{}` is above the scenario's ceiling: `{name}` may add {}",
                        cap.value,
                        list_or_none(&limits.cap_add)
                    ),
                );
            }
        }
        if let (Some(image), None) = (&svc.image, &svc.build)
            && !self.images.contains(&normalize_image(image))
        {
            err(
                image.pos,
                if self.images.is_empty() {
                    format!(
                        "image `{}` is not one this scenario runs: a service must build its image from the workspace",
                        image.value
                    )
                } else {
                    format!(
                        "image `{}` is not one this scenario runs: a service may use {} or build one from the workspace",
                        image.value,
                        self.images
                            .iter()
                            .map(|i| format!("`{i}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                },
            );
        }
        if let Some(env) = &svc.environment {
            for key in env.0.keys() {
                if is_startup_var(key) && !self.env.contains(key) {
                    err(
                        Pos::default(),
                        format!(
                            "environment `{key}` changes which code a program loads or where it connects; the scenario's ceiling does not allow it"
                        ),
                    );
                }
            }
        }
        if let Some(h) = &svc.healthcheck {
            for (what, d) in [("interval", h.interval), ("timeout", h.timeout)] {
                if let Some(d) = d
                    && d.0 < self.health_floor
                {
                    err(
                        Pos::default(),
                        format!(
                            "healthcheck {what} {} is below the scenario's floor of {} (a healthcheck runs outside the container's CPU limit)",
                            crate::duration::HumanDuration(d.0),
                            crate::duration::HumanDuration(self.health_floor)
                        ),
                    );
                }
            }
        }
        let mut targets: Vec<(String, &str)> =
            binds.iter().map(|b| (b.target.clone(), "volume")).collect();
        if let Some(t) = &svc.tmpfs {
            for w in &t.words {
                let path = w.split_once(':').map_or(w.as_str(), |(p, _)| p);
                targets.push((path.to_string(), "tmpfs"));
            }
        }
        for (target, what) in targets {
            match resolve_target(&target, binds) {
                Err(why) => err(Pos::default(), format!("{what} `{target}`: {why}")),
                Ok(resolved) => {
                    if let Some(p) = protected(&resolved) {
                        let via = if compose::normalize(Path::new(&target)) == resolved {
                            String::new()
                        } else {
                            format!(" (through links, it is `{}`)", resolved.display())
                        };
                        err(
                            Pos::default(),
                            format!(
                                "{what} `{target}`{via} would cover `{p}`, which decides how the container's programs start or what they trust; a sandbox may not mount there"
                            ),
                        );
                    }
                }
            }
        }
    }
    /// Checks the whole deployment: the number of services and their summed limits.
    fn check_totals(&self, d: &Deployment, err: &mut dyn FnMut(String)) {
        if self.is_unlimited() {
            return;
        }
        if d.services.len() > self.services {
            err(format!(
                "{} services is above the scenario's ceiling of {}",
                d.services.len(),
                self.services
            ));
        }
        let memory: i64 = total(d.services.iter().map(|s| s.memory));
        if memory > self.memory {
            err(format!(
                "the services ask for {} MiB of memory together, above the scenario's ceiling of {} MiB (services without `mem_limit` count {} MiB)",
                memory >> 20,
                self.memory >> 20,
                compose::DEFAULT_MEMORY >> 20
            ));
        }
        let cpus: i64 = total(d.services.iter().map(|s| s.nano_cpus));
        if cpus > self.nano_cpus {
            err(format!(
                "the services ask for {} CPUs together, above the scenario's ceiling of {} (services without `cpus` count {})",
                cpus as f64 / 1e9,
                self.nano_cpus as f64 / 1e9,
                compose::DEFAULT_NANO_CPUS as f64 / 1e9
            ));
        }
        let pids: i64 = total(d.services.iter().map(|s| s.pids_limit));
        if pids > self.pids {
            err(format!(
                "the services ask for {pids} processes together, above the scenario's ceiling of {} (services without `pids_limit` count {})",
                self.pids,
                compose::DEFAULT_PIDS
            ));
        }
    }
    /// What the backend still judges for `name`.
    fn guard(&self, name: &str, declared_at: String) -> Guard {
        if self.is_unlimited() {
            return Guard {
                declared_at,
                ..Guard::default()
            };
        }
        Guard {
            root: self.service(name).root,
            health_floor_ns: self.health_floor.as_nanos() as i64,
            declared_at,
        }
    }
    /// Checks the images a workspace Dockerfile starts from; each problem with its line.
    fn check_dockerfile(&self, text: &str) -> Vec<(u64, String)> {
        if self.is_unlimited() {
            return vec![];
        }
        let mut out = Vec::new();
        let mut stages: Vec<String> = Vec::new();
        for (line, instr) in instructions(text) {
            let mut words = instr.split_whitespace();
            let Some(op) = words.next() else { continue };
            let op = op.to_ascii_uppercase();
            let args: Vec<&str> = words.collect();
            let refs: Vec<&str> = match op.as_str() {
                "FROM" => {
                    let rest: Vec<&str> = args
                        .iter()
                        .copied()
                        .filter(|a| !a.starts_with("--"))
                        .collect();
                    if let (Some(stage), Some(name)) = (rest.get(1), rest.get(2))
                        && stage.eq_ignore_ascii_case("as")
                    {
                        stages.push(name.to_ascii_lowercase());
                    } else {
                        stages.push(String::new());
                    }
                    rest.first().copied().into_iter().collect()
                }
                "COPY" | "ADD" | "RUN" => args
                    .iter()
                    .filter_map(|a| a.strip_prefix("--from="))
                    .chain(
                        args.iter()
                            .filter(|a| a.starts_with("--mount="))
                            .flat_map(|a| a.split(','))
                            .filter_map(|p| p.strip_prefix("from=")),
                    )
                    .collect(),
                "ONBUILD" => {
                    out.push((
                        line,
                        "ONBUILD is not available in a sandbox build".to_string(),
                    ));
                    vec![]
                }
                _ => vec![],
            };
            for r in refs {
                let known_stage = stages[..stages.len().saturating_sub(usize::from(op == "FROM"))]
                    .iter()
                    .any(|s| !s.is_empty() && s.eq_ignore_ascii_case(r))
                    || r.parse::<usize>().is_ok_and(|i| i < stages.len());
                if r.contains('$') {
                    out.push((
                        line,
                        format!(
                            "`{op} {r}`: an image named through a variable cannot be checked against the scenario's ceiling; name it"
                        ),
                    ));
                } else if !known_stage
                    && !r.eq_ignore_ascii_case("scratch")
                    && !self.bases.contains(&normalize_image(r))
                {
                    out.push((
                        line,
                        format!(
                            "`{r}` is not an image this scenario lets a build start from; use {}",
                            self.bases
                                .iter()
                                .map(|b| format!("`{b}`"))
                                .chain(std::iter::once("`scratch`".to_string()))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
            }
        }
        out
    }
}

/// The sum of what the services ask for, held at `i64::MAX`: a compose file is the
/// candidate's, and a sum that wrapped would pass under any ceiling.
fn total(asks: impl Iterator<Item = i64>) -> i64 {
    asks.fold(0, i64::saturating_add)
}

fn list_or_none(caps: &BTreeSet<String>) -> String {
    if caps.is_empty() {
        "none".into()
    } else {
        caps.iter().cloned().collect::<Vec<_>>().join(", ")
    }
}

/// `sys_admin`, `CAP_SYS_ADMIN` and `SYS_ADMIN` are one capability.
fn cap_name(c: &str) -> String {
    let up = c.trim().to_ascii_uppercase();
    up.strip_prefix("CAP_").map(str::to_string).unwrap_or(up)
}

/// `nginx` → `nginx:latest`; a digest or a tag stays as written. `docker.io/library/` is
/// the engine's default, so it is dropped.
pub fn normalize_image(image: &str) -> String {
    let i = image.trim();
    let i = i
        .strip_prefix("docker.io/library/")
        .or_else(|| i.strip_prefix("docker.io/"))
        .unwrap_or(i);
    let last = i.rsplit('/').next().unwrap_or(i);
    if i.contains('@') || last.contains(':') {
        i.to_string()
    } else {
        format!("{i}:latest")
    }
}

pub fn is_startup_var(key: &str) -> bool {
    STARTUP_VARS.contains(&key) || STARTUP_PREFIXES.iter().any(|p| key.starts_with(p))
}

/// Whether a compose `user:` names uid 0 without needing the image's user database.
pub fn names_root(user: &str) -> bool {
    let u = user.split(':').next().unwrap_or("").trim();
    u.is_empty() || u == "root" || u.parse::<u64>() == Ok(0)
}

/// Whether the last stage of a (trusted) Dockerfile leaves the image running as root.
fn dockerfile_runs_as_root(path: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(path) else {
        return true;
    };
    let mut user: Option<String> = None;
    for (_, instr) in instructions(&text) {
        let mut w = instr.split_whitespace();
        match w.next().map(|o| o.to_ascii_uppercase()).as_deref() {
            Some("FROM") => user = None,
            Some("USER") => user = w.next().map(str::to_string),
            _ => {}
        }
    }
    user.is_none_or(|u| names_root(&u))
}

/// A Dockerfile's instructions with the line each starts on: comments dropped, continued
/// lines joined (the escape character is `\`, or what an `# escape=` directive says).
fn instructions(text: &str) -> Vec<(u64, String)> {
    let mut escape = '\\';
    let mut out = Vec::new();
    let mut current: Option<(u64, String)> = None;
    let mut directives = true;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if directives {
            if let Some(d) = line.strip_prefix('#') {
                if let Some((k, v)) = d.split_once('=')
                    && k.trim().eq_ignore_ascii_case("escape")
                {
                    escape = v.trim().chars().next().unwrap_or('\\');
                }
                continue;
            }
            directives = false;
        }
        if line.starts_with('#') {
            continue;
        }
        let (body, continued) = match line.strip_suffix(escape) {
            Some(b) => (b, true),
            None => (line, false),
        };
        match current.as_mut() {
            Some((_, text)) => {
                text.push(' ');
                text.push_str(body);
            }
            None if !body.is_empty() => current = Some((i as u64 + 1, body.to_string())),
            None => {}
        }
        if !continued && let Some(done) = current.take() {
            out.push(done);
        }
    }
    out.extend(current);
    out
}

/// The container path a mount at `target` really lands on: the engine resolves a target
/// inside the container's root, following links, and a link may sit in a folder of the
/// workspace that another mount of the same service puts on the way.
pub fn resolve_target(target: &str, binds: &[compose::Bind]) -> Result<PathBuf, String> {
    let mut pending: Vec<String> = Path::new(target)
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            std::path::Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .rev()
        .collect();
    let mut resolved = PathBuf::from("/");
    let mut hops = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            resolved.pop();
            continue;
        }
        let next = resolved.join(&part);
        // The deepest mount of this service the path is inside, other than the one at
        // `target` itself (a mount's own target is resolved before it is mounted).
        let host = binds
            .iter()
            .filter(|b| {
                let t = compose::normalize(Path::new(&b.target));
                t != compose::normalize(Path::new(target))
                    && next.starts_with(&t)
                    && next != t
                    && b.source.is_dir()
            })
            .max_by_key(|b| b.target.len())
            .and_then(|b| {
                let t = compose::normalize(Path::new(&b.target));
                next.strip_prefix(&t).ok().map(|rest| b.source.join(rest))
            });
        if let Some(host) = host
            && let Ok(meta) = std::fs::symlink_metadata(&host)
            && meta.file_type().is_symlink()
        {
            hops += 1;
            if hops > MAX_LINK_HOPS {
                return Err("it goes through too many links".into());
            }
            let link = std::fs::read_link(&host)
                .map_err(|e| format!("cannot read a link on the way: {e}"))?;
            let mut parts: Vec<String> = link
                .components()
                .filter_map(|c| match c {
                    std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                    std::path::Component::ParentDir => Some("..".into()),
                    _ => None,
                })
                .collect();
            parts.reverse();
            if link.is_absolute() {
                resolved = PathBuf::from("/");
            }
            pending.extend(parts);
            continue;
        }
        resolved = next;
    }
    Ok(resolved)
}

/// The protected path `container_path` covers or sits inside, if any.
fn protected(container_path: &Path) -> Option<String> {
    let t = compose::normalize(container_path);
    compose::TOOL_DIRS
        .iter()
        .chain(PROTECTED_TARGETS)
        .find(|d| {
            let d = Path::new(d);
            // `/etc/python3` stands for `/etc/python3.11` and the like too.
            t.starts_with(d)
                || d.starts_with(&t)
                || (d == Path::new("/etc/python3")
                    && t.to_string_lossy().starts_with("/etc/python3"))
        })
        .map(|d| d.to_string())
}

/// Where a Dockerfile of a build lives, for messages.
pub fn dockerfile_path(b: &compose::BuildSpec) -> PathBuf {
    b.context.join(&b.dockerfile)
}

/// What keeps a candidate's `.gitlab-ci.yml` inside the sandbox when the local executor runs
/// it on the engine: jobs only in the scenario's own images, no service containers, and none
/// of the executor's local configuration (`.local` mounts host folders and reads host files)
/// or includes. Each problem as one sentence.
pub fn screen_pipeline(text: &str, scenario: &str) -> Vec<String> {
    let doc: serde_json::Value = match crate::yaml::from_str(text) {
        Ok(v) => v,
        // Unreadable YAML: the executor says so itself, and runs nothing.
        Err(_) => return vec![],
    };
    let Some(top) = doc.as_object() else {
        return vec![];
    };
    let prefix = format!("breakfix/{scenario}-");
    let mut out = Vec::new();
    let image_ok = |where_: &str, v: &serde_json::Value, out: &mut Vec<String>| {
        let name = v
            .as_str()
            .or_else(|| v.get("name").and_then(|n| n.as_str()))
            .unwrap_or("");
        if !name.starts_with(&prefix) || name.contains('$') {
            out.push(format!(
                "{where_}: image `{name}` is not one of this scenario's images (`{prefix}...`); jobs run only in those"
            ));
        }
    };
    for (key, value) in top {
        match key.as_str() {
            ".local" => out.push(
                "`.local` (the local executor's own settings: host volumes, host includes, engine options) is not allowed".into(),
            ),
            "include" => out.push("`include` is not allowed: the pipeline is this one file".into()),
            "image" => image_ok("image", value, &mut out),
            "services" => out.push("`services` is not allowed: jobs start no other containers".into()),
            _ => {
                if let Some(job) = value.as_object() {
                    if let Some(i) = job.get("image") {
                        image_ok(key, i, &mut out);
                    }
                    if job.contains_key("services") {
                        out.push(format!(
                            "{key}: `services` is not allowed: jobs start no other containers"
                        ));
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_compared_with_their_default_tag() {
        assert_eq!(normalize_image("breakfix/web"), "breakfix/web:latest");
        assert_eq!(
            normalize_image("breakfix/web:latest"),
            "breakfix/web:latest"
        );
        assert_eq!(
            normalize_image("docker.io/library/debian:bookworm-slim"),
            "debian:bookworm-slim"
        );
        assert_eq!(
            normalize_image("localhost:5000/x"),
            "localhost:5000/x:latest"
        );
        assert_eq!(normalize_image("x@sha256:ab"), "x@sha256:ab");
    }

    #[test]
    fn loader_interpreter_and_proxy_variables_are_start_up_variables() {
        for v in [
            "LD_PRELOAD",
            "LD_AUDIT",
            "BASH_FUNC_curl%%",
            "PYTHONPATH",
            "http_proxy",
            "PATH",
            "NODE_OPTIONS",
            "CURL_HOME",
        ] {
            assert!(is_startup_var(v), "{v}");
        }
        for v in ["ORDERS_PORT", "LOG_LEVEL", "PYTHONUNBUFFERED", "TZ"] {
            assert!(!is_startup_var(v), "{v}");
        }
    }

    #[test]
    fn root_is_named_by_uid_or_name_or_by_saying_nothing() {
        for u in ["", "0", "root", "0:0", "root:nogroup", "00"] {
            assert!(names_root(u), "{u}");
        }
        for u in ["10001", "nginx", "1000:1000", "1000:0"] {
            assert!(!names_root(u), "{u}");
        }
    }

    #[test]
    fn enormous_limits_in_the_candidates_compose_file_are_refused_not_wrapped_around() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("compose.yaml");
        let text = "services:\n  a:\n    image: x\n    mem_limit: 1e300g\n    pids_limit: 9223372036854775807\n  b:\n    image: x\n    mem_limit: 1e300g\n    pids_limit: 9223372036854775807\n";
        let mut c = Ceiling::unlimited();
        c.services = 8;
        c.memory = 1 << 30;
        c.pids = 512;
        let errors = compose::parse(dir.path(), &file, text.as_bytes(), &c).unwrap_err();
        let text = crate::diagnostic::render(&errors);
        assert!(
            text.contains("mem_limit is above the sandbox maximum"),
            "{text}"
        );
        assert!(
            text.contains("a service must build its image from the workspace"),
            "{text}"
        );
        assert!(
            text.contains("memory together, above the scenario's ceiling"),
            "{text}"
        );
        assert!(
            text.contains("processes together, above the scenario's ceiling"),
            "{text}"
        );
    }

    fn with_bases(bases: &[&str]) -> Ceiling {
        let mut c = Ceiling::unlimited();
        c.services = 10;
        c.bases = bases.iter().map(|b| normalize_image(b)).collect();
        c
    }

    #[test]
    fn a_build_may_start_only_from_the_scenarios_bases_and_its_own_stages() {
        let c = with_bases(&[BASE_IMAGE, "breakfix/harden-image-toolchain"]);
        let ok = "# escape=\\\nFROM breakfix/harden-image-toolchain AS build\nRUN make\nFROM debian:bookworm-slim\nCOPY --from=build /src/x /x\nCOPY --from=0 /src/y /y\nFROM scratch\nCOPY --from=build /x /x\n";
        assert_eq!(c.check_dockerfile(ok), vec![]);
        let bad = "FROM breakfix/probe\nFROM --platform=linux/amd64 \\\n  breakfix/ws-other-session-web:abc AS x\nCOPY --from=breakfix/crashloop-docker-orders /app /app\nARG B=debian\nFROM $B\nONBUILD RUN id\n";
        let problems = c.check_dockerfile(bad);
        let lines: Vec<u64> = problems.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, vec![1, 2, 4, 6, 7], "{problems:?}");
        assert!(
            problems[0]
                .1
                .contains("`breakfix/probe` is not an image this scenario lets a build start from"),
            "{problems:?}"
        );
        assert!(problems[3].1.contains("through a variable"), "{problems:?}");
    }

    #[test]
    fn a_stage_name_cannot_be_used_before_it_is_declared() {
        let c = with_bases(&[BASE_IMAGE]);
        let p = c.check_dockerfile(
            "FROM debian:bookworm-slim\nCOPY --from=later /x /x\nFROM breakfix/probe AS later\n",
        );
        assert_eq!(p.len(), 2, "{p:?}");
    }

    #[test]
    fn the_last_user_of_a_dockerfile_decides_whether_it_runs_as_root() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("Dockerfile");
        std::fs::write(&f, "FROM x AS b\nUSER 1000\nFROM y\n").unwrap();
        assert!(dockerfile_runs_as_root(&f));
        std::fs::write(&f, "FROM x\nUSER 10001:10001\n").unwrap();
        assert!(!dockerfile_runs_as_root(&f));
    }

    #[test]
    fn a_mount_target_reached_through_a_link_in_a_bound_folder_resolves_where_the_engine_mounts_it()
    {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::os::unix::fs::symlink("/usr/bin", data.join("tools")).unwrap();
        std::os::unix::fs::symlink("../../etc", data.join("up")).unwrap();
        std::os::unix::fs::symlink("loop", data.join("loop")).unwrap();
        let binds = vec![compose::Bind {
            source: data.clone(),
            target: "/srv/data".into(),
            read_only: false,
        }];
        assert_eq!(
            resolve_target("/srv/data/tools/curl", &binds).unwrap(),
            PathBuf::from("/usr/bin/curl")
        );
        assert_eq!(
            resolve_target("/srv/data/up/ld.so.preload", &binds).unwrap(),
            PathBuf::from("/etc/ld.so.preload")
        );
        assert_eq!(
            resolve_target("/srv/data/plain/x", &binds).unwrap(),
            PathBuf::from("/srv/data/plain/x")
        );
        assert!(resolve_target("/srv/data/loop/x", &binds).is_err());
        assert_eq!(
            protected(Path::new("/usr/bin/curl")).as_deref(),
            Some("/usr/bin")
        );
        assert_eq!(
            protected(Path::new("/etc/python3.11/sitecustomize.py")).as_deref(),
            Some("/etc/python3")
        );
        assert_eq!(protected(Path::new("/etc/nginx/conf.d/a.conf")), None);
    }

    #[test]
    fn a_pipeline_runs_only_in_the_scenarios_images_without_local_settings_or_services() {
        let ok =
            "default:\n  image: breakfix/failing-pipeline-ci:latest\ntest:\n  script: [pytest]\n";
        assert_eq!(
            screen_pipeline(ok, "failing-pipeline"),
            Vec::<String>::new()
        );
        let bad = ".local:\n  volumes: [\"/:/host\"]\ninclude: {local: x.yml}\ndefault:\n  image: breakfix/probe\njob:\n  image: {name: \"breakfix/ws-x-y:1\"}\n  services: [redis]\n  script: [cat /host/etc/shadow]\n";
        let p = screen_pipeline(bad, "failing-pipeline");
        assert_eq!(p.len(), 5, "{p:?}");
        assert!(p.iter().any(|m| m.starts_with("`.local`")), "{p:?}");
        assert!(
            p.iter().any(|m| m.contains("image `breakfix/probe`")),
            "{p:?}"
        );
    }
}
