//! What a session's workstation may ask the Docker engine. The candidate's `docker` CLI talks
//! to an endpoint breakfix serves for that one session; each call is judged here before it
//! reaches the engine: only reading, exec and start/stop/restart on this session's service
//! containers pass, always rewritten to name the container by its full id (so a name or an id
//! prefix can never resolve, at the engine, to another session's container), and lists and
//! event streams are narrowed to the session's labels. Everything else is refused with one
//! line the candidate reads as the CLI's "Error response from daemon: …".
//!
//! The judgement is pure: the caller reads the session's containers from the engine (by
//! label) and remembers the execs it let through.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::labels;

/// One of the session's service containers, as the engine reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopedContainer {
    /// The engine's full id.
    pub id: String,
    /// The container's name, without the engine's leading `/`.
    pub name: String,
    /// The scenario's service name (`web`), which the candidate may use as a name too.
    pub service: String,
    /// The image's or the container's configured user (empty: the image's default, root).
    pub user: String,
}

/// What the session allows: its containers, the execs made through its endpoint, and
/// whether the scenario lets the candidate exec as root.
#[derive(Debug)]
pub struct Scope<'a> {
    pub session: &'a str,
    pub containers: &'a [ScopedContainer],
    pub execs: &'a HashSet<String>,
    pub root_exec: bool,
}

/// The verdict on one call.
#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    /// Send this path and query to the engine instead of the one asked for.
    Pass {
        path: String,
        /// What the timeline records (`docker restart web`); none for reads the CLI makes on
        /// its own (`_ping`, `version`).
        record: Option<String>,
        /// The engine's answer holds an exec id to remember (an exec was created).
        exec_created: bool,
        /// Whether the call's body goes on to the engine. Only an exec's own settings do: an
        /// engine takes a container's host settings (privileged, binds) from the body of a
        /// `start` in old API versions.
        body: bool,
    },
    /// Refused, with the reason the candidate reads.
    Refuse(String),
}

fn refuse(why: impl Into<String>) -> Decision {
    Decision::Refuse(format!("breakfix: {}", why.into()))
}

/// Judges `method` on `path_and_query` (as the CLI sent it, with or without the `/v1.NN`
/// prefix), with the JSON `body` of a call that has one.
pub fn decide(method: &str, path_and_query: &str, body: Option<&Value>, scope: &Scope) -> Decision {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let (version, rest) = split_version(path);
    if let Some(v) = version.strip_prefix("/v")
        && !at_least(v, MIN_API)
    {
        return refuse(format!(
            "API version {v} is older than this endpoint serves ({MIN_API}); use a newer docker CLI"
        ));
    }
    let segs: Vec<&str> = rest.trim_matches('/').split('/').collect();
    let pass = |p: String, record: Option<String>| Decision::Pass {
        path: format!("{version}{p}"),
        record,
        exec_created: false,
        body: false,
    };
    match (method, segs.as_slice()) {
        ("GET" | "HEAD", [call @ ("_ping" | "version")]) if method == "GET" || *call == "_ping" => {
            pass(format!("/{call}"), None)
        }
        ("GET", ["containers", "json"]) => match narrowed(query, scope.session) {
            Ok(q) => pass(format!("/containers/json?{q}"), Some("docker ps".into())),
            Err(why) => refuse(why),
        },
        ("GET", ["events"]) => match narrowed(query, scope.session) {
            Ok(q) => pass(format!("/events?{q}"), Some("docker events".into())),
            Err(why) => refuse(why),
        },
        (m, ["containers", id, action]) => {
            let Some(c) = resolve(id, scope.containers) else {
                return refuse(format!(
                    "no container `{id}` in this session (its services: {})",
                    services(scope.containers)
                ));
            };
            let read = matches!(*action, "json" | "logs" | "top" | "stats" | "changes");
            let control = matches!(*action, "start" | "stop" | "restart");
            let path = format!("/containers/{}/{action}", c.id);
            match (m, *action) {
                ("GET", _) if read => {
                    let verb = match *action {
                        "json" => "inspect",
                        other => other,
                    };
                    pass(
                        with_query(&path, query),
                        Some(format!("docker {verb} {}", c.service)),
                    )
                }
                ("POST", _) if control => pass(
                    with_query(&path, query),
                    Some(format!("docker {action} {}", c.service)),
                ),
                ("POST", "exec") => match exec_allowed(body, c, scope.root_exec) {
                    Ok(cmd) => Decision::Pass {
                        path: format!("{version}{path}"),
                        record: Some(format!("docker exec {} {cmd}", c.service)),
                        exec_created: true,
                        body: true,
                    },
                    Err(why) => refuse(why),
                },
                _ => refuse(format!(
                    "`{m} /containers/…/{action}` is not open to the candidate; this session allows ps, logs, inspect, top, stats, events, exec, start, stop and restart on its own services"
                )),
            }
        }
        (m, ["exec", id, action]) => {
            let ok = matches!((m, *action), ("POST", "start" | "resize") | ("GET", "json"));
            if !scope.execs.contains(*id) {
                refuse("that exec was not made in this session")
            } else if ok {
                // An exec's start says only whether to attach and with a terminal.
                Decision::Pass {
                    path: format!(
                        "{version}{}",
                        with_query(&format!("/exec/{id}/{action}"), query)
                    ),
                    record: None,
                    exec_created: false,
                    body: *action == "start",
                }
            } else {
                refuse(format!(
                    "`{m} /exec/…/{action}` is not open to the candidate"
                ))
            }
        }
        (_, ["containers", "create"]) => refuse(
            "creating containers (docker run, docker create) is not part of this exercise: work with the session's services",
        ),
        (_, ["build" | "commit", ..]) => refuse("building images is not open to the candidate"),
        (_, ["images", ..]) => refuse("images are not open to the candidate"),
        (_, ["volumes", ..]) => refuse("volumes are not open to the candidate"),
        (_, ["networks", ..]) => refuse("networks are not open to the candidate"),
        (
            _,
            [
                "info" | "system" | "swarm" | "nodes" | "services" | "tasks" | "secrets"
                | "configs" | "plugins" | "session" | "distribution" | "auth",
                ..,
            ],
        ) => refuse("the engine's system calls are not open to the candidate"),
        _ => refuse(format!(
            "`{method} {rest}` is not open to the candidate; this session allows ps, logs, inspect, top, stats, events, exec, start, stop and restart on its own services"
        )),
    }
}

/// The oldest API version served: from 1.24 on, an engine refuses host settings in a
/// container's `start`.
const MIN_API: &str = "1.24";

/// Whether API version `v` (`1.41`) is at least `min`.
fn at_least(v: &str, min: &str) -> bool {
    let parts = |s: &str| -> Option<(u32, u32)> {
        let (a, b) = s.split_once('.')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    };
    matches!((parts(v), parts(min)), (Some(v), Some(m)) if v >= m)
}

/// `/v1.43/containers/json` → (`/v1.43`, `/containers/json`).
fn split_version(path: &str) -> (&str, &str) {
    if let Some(after) = path.strip_prefix("/v")
        && let Some(slash) = after.find('/')
        && after[..slash]
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.')
        && !after[..slash].is_empty()
    {
        return path.split_at(slash + 2);
    }
    ("", path)
}

fn with_query(path: &str, query: &str) -> String {
    if query.is_empty() {
        path.to_string()
    } else {
        format!("{path}?{query}")
    }
}

/// The session's container that `id` names: its full id, its name, its service's name, or
/// an id prefix that names only it. The engine would also resolve a prefix or a name among
/// every container it runs; the caller sends the full id instead.
fn resolve<'a>(id: &str, containers: &'a [ScopedContainer]) -> Option<&'a ScopedContainer> {
    let id = id.trim_start_matches('/');
    if id.is_empty() {
        return None;
    }
    if let Some(c) = containers
        .iter()
        .find(|c| c.id == id || c.name == id || c.service == id)
    {
        return Some(c);
    }
    let mut by_prefix = containers
        .iter()
        .filter(|c| id.chars().all(|ch| ch.is_ascii_hexdigit()) && c.id.starts_with(id));
    match (by_prefix.next(), by_prefix.next()) {
        (Some(c), None) => Some(c),
        _ => None,
    }
}

fn services(containers: &[ScopedContainer]) -> String {
    let mut names: Vec<&str> = containers.iter().map(|c| c.service.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    if names.is_empty() {
        "none running".into()
    } else {
        names.join(", ")
    }
}

/// The query with its `filters` narrowed to the session's service containers (by label: not
/// breakfix's own probes and helpers); every other parameter is kept.
fn narrowed(query: &str, session: &str) -> Result<String, String> {
    let mut filters = Map::new();
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        if k == "filters" {
            filters = match serde_json::from_str::<Value>(&v) {
                Ok(Value::Object(m)) => m,
                _ => return Err("filters must be a JSON object".into()),
            };
        } else {
            out.append_pair(&k, &v);
        }
    }
    let wanted = [
        format!("{}={session}", labels::SESSION),
        format!("{}=service", labels::ROLE),
    ];
    // The CLI writes `{"label": {"k=v": true}}`; older ones `{"label": ["k=v"]}`. The engine
    // requires every label given, so adding ours can only narrow what was asked.
    let label = filters
        .entry("label")
        .or_insert_with(|| Value::Object(Map::new()));
    match label {
        Value::Object(m) => {
            for w in wanted {
                m.insert(w, Value::Bool(true));
            }
        }
        Value::Array(a) => a.extend(wanted.into_iter().map(Value::String)),
        _ => return Err("the label filter must be a list or a map".into()),
    }
    out.append_pair("filters", &Value::Object(filters).to_string());
    Ok(out.finish())
}

/// Whether an exec may be made: never privileged, and never root in a container that runs as
/// another user, unless the scenario allows it. Returns the command, for the timeline.
fn exec_allowed(
    body: Option<&Value>,
    c: &ScopedContainer,
    root_exec: bool,
) -> Result<String, String> {
    let body = body.ok_or("an exec needs its JSON body")?;
    if body.get("Privileged").and_then(Value::as_bool) == Some(true) {
        return Err("privileged exec is not open to the candidate".into());
    }
    let asked = body.get("User").and_then(Value::as_str).unwrap_or("");
    let user = if asked.is_empty() {
        c.user.as_str()
    } else {
        asked
    };
    // As the container's own user, an exec is what `breakfix exec` runs; becoming root in a
    // container that runs as someone else is not.
    if is_root(user) && !is_root(&c.user) && !root_exec {
        return Err(format!(
            "exec as root is not open in this scenario; `{}` runs as {}: leave out --user, or name an unprivileged one",
            c.service, c.user
        ));
    }
    let cmd: Vec<String> = body
        .get("Cmd")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|v| v.as_str().unwrap_or("?").to_string())
                .collect()
        })
        .unwrap_or_default();
    Ok(super::command_line(&cmd))
}

/// Root by name or uid, with or without a group (`0:0`, `root:staff`), or unset.
fn is_root(user: &str) -> bool {
    let who = user.split(':').next().unwrap_or("");
    who.is_empty() || who == "root" || who == "0"
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const WEB: &str = "3f2a9c0d1e4b5a6978a1b2c3d4e5f60718293a4b5c6d7e8f9a0b1c2d3e4f5a6b";
    const API: &str = "3f2b000000000000000000000000000000000000000000000000000000000000";

    fn containers() -> Vec<ScopedContainer> {
        vec![
            ScopedContainer {
                id: WEB.into(),
                name: "bf-s1-web".into(),
                service: "web".into(),
                user: "nginx".into(),
            },
            ScopedContainer {
                id: API.into(),
                name: "bf-s1-api".into(),
                service: "api".into(),
                user: String::new(),
            },
        ]
    }

    fn judge(method: &str, path: &str, body: Option<Value>) -> Decision {
        judge_with(method, path, body, &HashSet::new(), false)
    }

    fn judge_with(
        method: &str,
        path: &str,
        body: Option<Value>,
        execs: &HashSet<String>,
        root_exec: bool,
    ) -> Decision {
        let cs = containers();
        let scope = Scope {
            session: "s1",
            containers: &cs,
            execs,
            root_exec,
        };
        decide(method, path, body.as_ref(), &scope)
    }

    fn passed_path(d: Decision) -> String {
        match d {
            Decision::Pass { path, .. } => path,
            Decision::Refuse(why) => panic!("refused: {why}"),
        }
    }

    fn refusal(d: Decision) -> String {
        match d {
            Decision::Refuse(why) => why,
            pass => panic!("passed: {pass:?}"),
        }
    }

    #[test]
    fn a_session_container_named_by_service_name_or_prefix_is_sent_to_the_engine_by_full_id() {
        for id in ["web", "bf-s1-web", WEB, "3f2a9"] {
            let d = judge(
                "GET",
                &format!("/v1.41/containers/{id}/logs?stdout=1&tail=50"),
                None,
            );
            assert_eq!(
                d,
                Decision::Pass {
                    path: format!("/v1.41/containers/{WEB}/logs?stdout=1&tail=50"),
                    record: Some("docker logs web".into()),
                    exec_created: false,
                    body: false,
                },
                "{id}"
            );
        }
        assert_eq!(
            passed_path(judge("POST", "/containers/api/restart?t=10", None)),
            format!("/containers/{API}/restart?t=10")
        );
        assert!(passed_path(judge("GET", "/containers/web/json", None)).ends_with("/json"));
    }

    #[test]
    fn a_container_outside_the_session_or_an_ambiguous_prefix_is_refused() {
        for id in ["other-session-web", "3f2", "3f2c", "", "..", "0"] {
            let why = refusal(judge("GET", &format!("/containers/{id}/logs"), None));
            assert!(why.starts_with("breakfix: "), "{why}");
        }
        let why = refusal(judge("GET", "/containers/db/json", None));
        assert!(why.contains("its services: api, web"), "{why}");
    }

    #[test]
    fn creating_building_pulling_and_the_engines_own_objects_are_refused_with_a_reason() {
        for (method, path, said) in [
            ("POST", "/v1.41/containers/create?name=x", "docker run"),
            ("POST", "/build?t=x", "building images"),
            ("POST", "/images/create?fromImage=alpine", "images"),
            ("GET", "/images/json", "images"),
            ("POST", "/volumes/create", "volumes"),
            ("POST", "/networks/create", "networks"),
            ("POST", "/networks/bf-s1/connect", "networks"),
            ("GET", "/info", "system calls"),
            ("POST", "/system/prune", "system calls"),
            ("POST", "/containers/web/kill", "not open"),
            ("DELETE", "/containers/web", "not open"),
            ("PUT", "/containers/web/archive?path=/", "not open"),
            ("GET", "/containers/web/archive?path=/", "not open"),
            ("POST", "/containers/web/update", "not open"),
            ("POST", "/containers/web/attach", "not open"),
            ("POST", "/commit?container=web", "building images"),
        ] {
            let why = refusal(judge(method, path, None));
            assert!(why.contains(said), "{method} {path}: {why}");
        }
    }

    #[test]
    fn lists_and_event_streams_are_narrowed_to_the_sessions_labels_whatever_filters_were_asked() {
        let parse = |p: String| -> Value {
            let q = p.split_once('?').unwrap().1.to_string();
            let (_, f) = form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "filters")
                .unwrap();
            serde_json::from_str(&f).unwrap()
        };
        let f = parse(passed_path(judge(
            "GET",
            "/v1.41/containers/json?all=1",
            None,
        )));
        assert_eq!(
            f,
            json!({"label": {"dev.breakfix.session=s1": true, "dev.breakfix.role=service": true}})
        );
        // A filter naming another session only adds a label: both must match, so nothing does.
        let asked = r#"{"label":{"dev.breakfix.session=s2":true},"status":{"running":true}}"#;
        let q: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("filters", asked)
            .finish();
        let f = parse(passed_path(judge(
            "GET",
            &format!("/containers/json?{q}"),
            None,
        )));
        assert_eq!(f["label"]["dev.breakfix.session=s2"], true);
        assert_eq!(f["label"]["dev.breakfix.session=s1"], true);
        assert_eq!(f["status"]["running"], true);
        // The older list form.
        let q: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("filters", r#"{"label":["a=b"]}"#)
            .finish();
        let f = parse(passed_path(judge("GET", &format!("/events?{q}"), None)));
        assert_eq!(
            f["label"],
            json!([
                "a=b",
                "dev.breakfix.session=s1",
                "dev.breakfix.role=service"
            ])
        );
        let why = refusal(judge("GET", "/containers/json?filters=%5B%5D", None));
        assert!(why.contains("JSON object"), "{why}");
    }

    #[test]
    fn an_exec_is_let_through_unprivileged_and_never_becomes_root_unless_the_scenario_allows_it() {
        let d = judge(
            "POST",
            "/containers/web/exec",
            Some(json!({"Cmd": ["cat", "/etc/nginx/nginx.conf"], "User": ""})),
        );
        assert_eq!(
            d,
            Decision::Pass {
                path: format!("/containers/{WEB}/exec"),
                record: Some("docker exec web cat /etc/nginx/nginx.conf".into()),
                exec_created: true,
                body: true,
            }
        );
        let priv_ = judge(
            "POST",
            "/containers/web/exec",
            Some(json!({"Cmd": ["sh"], "Privileged": true})),
        );
        assert!(refusal(priv_).contains("privileged"));
        for user in ["root", "0", "0:0", "root:staff"] {
            let d = judge(
                "POST",
                "/containers/web/exec",
                Some(json!({"Cmd": ["sh"], "User": user})),
            );
            assert!(refusal(d).contains("as root"), "{user}");
        }
        // `api` runs as root itself (the image's default): an exec as its own user is what
        // `breakfix exec` runs too.
        let d = judge("POST", "/containers/api/exec", Some(json!({"Cmd": ["sh"]})));
        assert!(matches!(
            d,
            Decision::Pass {
                exec_created: true,
                ..
            }
        ));
        // A scenario may open root exec where the exercise needs it.
        let d = judge_with(
            "POST",
            "/containers/web/exec",
            Some(json!({"Cmd": ["sh"], "User": "0"})),
            &HashSet::new(),
            true,
        );
        assert!(matches!(
            d,
            Decision::Pass {
                exec_created: true,
                ..
            }
        ));
        assert!(refusal(judge("POST", "/containers/web/exec", None)).contains("body"));
    }

    #[test]
    fn only_execs_made_through_the_session_can_be_started_resized_or_read() {
        let execs = HashSet::from(["e1".to_string()]);
        for (m, p) in [
            ("POST", "/v1.41/exec/e1/start"),
            ("POST", "/exec/e1/resize?h=40&w=120"),
            ("GET", "/exec/e1/json"),
        ] {
            let d = judge_with(m, p, None, &execs, false);
            assert_eq!(passed_path(d), p, "{m} {p}");
        }
        let why = refusal(judge_with("POST", "/exec/e2/start", None, &execs, false));
        assert!(why.contains("not made in this session"), "{why}");
    }

    #[test]
    fn a_start_never_carries_host_settings_and_old_api_versions_are_refused() {
        let host = json!({"Privileged": true, "Binds": ["/:/host"]});
        for path in ["/v1.41/containers/web/start", "/containers/web/restart"] {
            let d = judge("POST", path, Some(host.clone()));
            assert!(
                matches!(d, Decision::Pass { body: false, .. }),
                "{path}: {d:?}"
            );
        }
        for v in ["1.23", "1.12", "0.9", "1.2.3"] {
            let why = refusal(judge("POST", &format!("/v{v}/containers/web/start"), None));
            assert!(
                why.contains("older than this endpoint serves"),
                "{v}: {why}"
            );
        }
        assert!(at_least("1.24", MIN_API) && at_least("1.41", MIN_API) && at_least("2.0", MIN_API));
        // Not a version at all: no route.
        refusal(judge("POST", "/vx.y/containers/web/start", None));
    }

    #[test]
    fn the_clis_handshake_passes_unrecorded() {
        for (m, p) in [
            ("HEAD", "/_ping"),
            ("GET", "/_ping"),
            ("GET", "/v1.41/version"),
        ] {
            assert!(matches!(
                judge(m, p, None),
                Decision::Pass { record: None, .. }
            ));
        }
    }
}
