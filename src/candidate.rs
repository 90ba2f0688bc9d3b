//! What a candidate may do with a live session's services without the engine's CLI, which is
//! root on the host: list them, read their logs, inspect them, run commands in them.
//!
//! Every service name is checked against the services the backend deployed for this session
//! (read from the objects' labels), so another session's objects and breakfix's own probe are
//! out of reach whatever name is typed. Commands run as the container's own user: nothing
//! here asks the engine for another one. Every use goes into the session's timeline, so the
//! report shows what the candidate looked at and ran.

use std::path::{Path, PathBuf};
use std::pin::pin;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::Serialize;
use time::OffsetDateTime;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::backend::{ExecOutput, ServiceDetail, ServiceState, Target};
use crate::engine::{Engine, EngineError, LOCK_WAIT, Result, ShellSummary};
use crate::session::{EventKind, Session};
use crate::timeline::CommandRun;

/// One service of `breakfix ps`.
#[derive(Clone, Debug, Serialize)]
pub struct ServiceRow {
    pub service: String,
    /// Where it runs, as ordinary tools name it (the container, or the Deployment).
    pub place: String,
    pub state: ServiceState,
}

/// What `breakfix exec` ran and what came of it.
#[derive(Clone, Debug, Serialize)]
pub struct ExecRun {
    pub service: String,
    pub command: Vec<String>,
    /// `None` when the deadline stopped it.
    pub exit_code: Option<i64>,
    pub output: String,
    /// The command's output as kept in the session's folder.
    pub recording: PathBuf,
}

/// How a followed log ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FollowEnd {
    /// The deadline passed.
    Deadline,
    /// The caller asked to stop (Ctrl-C).
    Stopped,
}

pub use crate::backend::command_line;

impl Engine {
    /// A live session, what the backend needs to reach it, and its deployed services; the
    /// service asked for must be one of them.
    pub async fn service_access(
        &self,
        id: &str,
        op: &'static str,
        service: Option<&str>,
    ) -> Result<(Session, Target, Vec<String>)> {
        let s = self.live_session(id)?;
        let t = self.target(&s);
        let known = self.backend.services(&t).await?;
        if let Some(name) = service
            && !known.iter().any(|k| k == name)
        {
            return Err(EngineError::NotSessionService {
                op,
                service: name.into(),
                session: s.id.clone(),
                known,
            });
        }
        Ok((s, t, known))
    }

    /// Adds a candidate's use of the sandbox to the session's timeline.
    fn record_use(&self, id: &str, kind: EventKind, detail: String) -> Result<()> {
        let _lock = self.store.lock(id, LOCK_WAIT)?;
        let mut s = self.store.load(id)?;
        s.record(kind, detail);
        self.store.save(&s)?;
        Ok(())
    }

    /// Serves the session's own Docker endpoint on `socket` until `stop` resolves or the
    /// session ends (`breakfix docker-endpoint`). The engine's CLI pointed at it (`DOCKER_HOST=unix://…`) reaches
    /// this session's services and nothing else ([`crate::backend::engine_scope`]); every call
    /// it lets through that does something is added to the timeline.
    pub async fn serve_docker_endpoint(
        &self,
        id: &str,
        socket: &Path,
        ready: impl FnOnce(),
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<()> {
        let s = self.live_session(id)?;
        let refuse = |why: &str| EngineError::Endpoint {
            id: s.id.clone(),
            why: why.into(),
        };
        let Some(engine) = crate::backend::docker::engine_socket() else {
            return Err(refuse(
                "the engine is reached over TCP (DOCKER_HOST); the endpoint needs its unix socket",
            ));
        };
        // A Kubernetes session's workstation reaches the API server through this folder too.
        let kube = if s.backend == crate::scenario::BackendKind::Kube {
            let granted = s
                .kubeconfig
                .as_ref()
                .and_then(|kc| std::fs::read_to_string(kc).ok())
                .unwrap_or_default();
            let Some((_, address)) = crate::backend::kube::relayed_kubeconfig(&granted) else {
                return Err(refuse(
                    "the session has no kubeconfig that reaches its cluster over https",
                ));
            };
            let path = socket.with_file_name(crate::backend::kube_relay::SOCKET);
            Some((bind_socket(&path, &s.workspace).await?, path, address))
        } else {
            None
        };
        let listener = bind_socket(socket, &s.workspace).await?;
        let (store, sid) = (self.store.clone(), s.id.clone());
        let record = std::sync::Arc::new(move |detail: String| {
            let saved = crate::engine::record_event(&store, &sid, EventKind::Docker, &detail);
            if let Err(e) = saved {
                eprintln!("warning: failed to record `{detail}` in session {sid}'s timeline: {e}");
            }
        });
        let commands: crate::backend::engine_proxy::SessionCommands = {
            let eng = Engine {
                store: self.store.clone(),
                backend: self.backend.clone(),
            };
            let eng = std::sync::Arc::new(eng);
            let sid = s.id.clone();
            std::sync::Arc::new(move |command: String| {
                let (eng, sid) = (eng.clone(), sid.clone());
                Box::pin(async move { eng.session_command(&sid, &command).await })
            })
        };
        let proxy = crate::backend::engine_proxy::EngineProxy::new(
            &s.id,
            engine,
            crate::engine::package_of(&s).is_ok_and(|p| p.scenario.environment.ceiling.root_exec),
            record,
            Some(commands),
        );
        ready();
        // The endpoint ends with the session: stopped, reset into another state, or gone.
        let store = self.store.clone();
        let sid = s.id.clone();
        let ended = async move {
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                if !store.load(&sid).is_ok_and(|s| s.is_live()) {
                    return;
                }
            }
        };
        let relay = async {
            match &kube {
                Some((listener, path, address)) => {
                    crate::backend::kube_relay::serve(listener, address)
                        .await
                        .map_err(|source| EngineError::EndpointSocket {
                            path: path.clone(),
                            source,
                        })
                }
                None => std::future::pending().await,
            }
        };
        let socket_err = |source| EngineError::EndpointSocket {
            path: socket.to_path_buf(),
            source,
        };
        let served = tokio::select! {
            r = proxy.serve(listener) => r.map_err(socket_err),
            r = relay => r,
            () = stop => Ok(()),
            () = ended => Ok(()),
        };
        let _ = std::fs::remove_file(socket);
        if let Some((_, path, _)) = &kube {
            let _ = std::fs::remove_file(path);
        }
        served
    }

    /// What the workstation's `breakfix` asks of its own session through the endpoint:
    /// `apply`, `check`, `hint` or `status`, answered with the text the CLI prints and
    /// whether it went well (for `check`: every visible check passes). Nothing else of the
    /// interviewer's (grade, reset, stop, notes) is reachable this way.
    pub async fn session_command(&self, id: &str, command: &str) -> (bool, String) {
        let done = match command {
            "apply" => self.apply(id, &crate::backend::Silent).await.map(|a| {
                let mut out = String::new();
                for (label, v) in [
                    ("created", &a.created),
                    ("recreated", &a.recreated),
                    ("unchanged", &a.unchanged),
                    ("removed", &a.removed),
                ] {
                    if !v.is_empty() {
                        out.push_str(&format!("{label:<10} {}\n", v.join(", ")));
                    }
                }
                out.push_str("applied; run `breakfix check` to see where things stand\n");
                (true, out)
            }),
            "check" => self
                .grade(id, crate::grade::Scope::Candidate)
                .await
                .map(|r| {
                    let text = crate::report::render(&r, crate::report::Format::Text);
                    (r.passed() && r.errors() == 0, text)
                }),
            "hint" => crate::engine::take_hint(&self.store, id).map(|h| {
                (
                    true,
                    format!(
                        "Hint {} of {} (costs {} points):\n\n{}\n",
                        h.number, h.of, h.cost, h.text
                    ),
                )
            }),
            "status" => self.store.load(id).map_err(Into::into).map(|s| {
                let clock = s.elapsed().map(|d| d.as_secs()).unwrap_or(0);
                (
                    true,
                    format!(
                        "session   {} ({})\nstatus    {}\nclock     {} of {}\nhints     {} taken (-{} points)\n",
                        s.id,
                        s.scenario,
                        s.status,
                        crate::duration::clock_text(clock),
                        crate::duration::clock_text(s.time_limit_secs),
                        s.hints.len(),
                        s.hints.iter().map(|h| h.cost).sum::<u32>()
                    ),
                )
            }),
            other => {
                return (
                    false,
                    format!(
                        "breakfix: `{other}` is not open here; the workstation's breakfix runs apply, check, hint and status for this session\n"
                    ),
                );
            }
        };
        done.unwrap_or_else(|e: EngineError| (false, format!("breakfix: failed to {e}\n")))
    }

    /// The session's services with their state (`breakfix ps`).
    pub async fn list_services(&self, id: &str) -> Result<Vec<ServiceRow>> {
        let (s, t, known) = self
            .service_access(id, "list the services of", None)
            .await?;
        let mut rows = vec![];
        for service in known {
            let state = self.backend.state(&t, &service).await?;
            rows.push(ServiceRow {
                place: self.backend.container_name(&t, &service),
                service,
                state,
            });
        }
        self.record_use(&s.id, EventKind::Ps, "listed the services".into())?;
        Ok(rows)
    }

    /// The last `tail` lines of a service's log (`breakfix logs`).
    pub async fn service_logs(&self, id: &str, service: &str, tail: usize) -> Result<String> {
        let (s, t, _) = self
            .service_access(id, "read the logs of", Some(service))
            .await?;
        let text = self.backend.logs(&t, service, tail).await?;
        self.record_use(
            &s.id,
            EventKind::Logs,
            format!("read the last {tail} log lines of {service}"),
        )?;
        Ok(text)
    }

    /// Writes a service's log to `out` as it is written (`breakfix logs --follow`): the last
    /// `tail` lines, then new ones, across restarts of its container, until `stop` resolves
    /// or `deadline` passes.
    pub async fn follow_service_logs(
        &self,
        id: &str,
        service: &str,
        tail: usize,
        deadline: Duration,
        stop: impl std::future::Future<Output = ()>,
        mut out: impl AsyncWrite + Unpin,
    ) -> Result<FollowEnd> {
        let (s, t, _) = self
            .service_access(id, "read the logs of", Some(service))
            .await?;
        self.record_use(
            &s.id,
            EventKind::Logs,
            format!(
                "followed the log of {service} (at most {})",
                humantime::format_duration(deadline)
            ),
        )?;
        let until = tokio::time::Instant::now() + deadline;
        let mut stop = pin!(stop);
        let mut last: Option<OffsetDateTime> = None;
        let mut first = true;
        loop {
            // After the first read, only lines newer than the last one shown; the engine's
            // `since` counts whole seconds, so the rest is left to the timestamps.
            let since = last.map(|l| l.unix_timestamp());
            let tail = first.then_some(tail);
            let opened = tokio::select! {
                r = self.backend.follow_logs(&t, service, tail, since) => r,
                _ = tokio::time::sleep_until(until) => return Ok(FollowEnd::Deadline),
                _ = &mut stop => return Ok(FollowEnd::Stopped),
            };
            match opened {
                Ok(mut stream) => {
                    let mut partial = vec![];
                    loop {
                        let chunk = tokio::select! {
                            c = stream.next() => c,
                            _ = tokio::time::sleep_until(until) => return Ok(FollowEnd::Deadline),
                            _ = &mut stop => return Ok(FollowEnd::Stopped),
                        };
                        let bytes = match chunk {
                            Some(Ok(b)) => b,
                            Some(Err(e)) if e.is_unreachable() => return Err(e.into()),
                            // The container stopped or went away: look again below.
                            Some(Err(_)) | None => break,
                        };
                        partial.extend_from_slice(&bytes);
                        let shown = new_lines(&mut partial, &mut last, false);
                        write_all(&mut out, &shown).await?;
                    }
                    let shown = new_lines(&mut partial, &mut last, true);
                    write_all(&mut out, &shown).await?;
                }
                Err(e) if first || e.is_unreachable() => return Err(e.into()),
                // Between two runs of a restarting container, or while `apply` recreates it.
                Err(_) => {}
            }
            first = false;
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = tokio::time::sleep_until(until) => return Ok(FollowEnd::Deadline),
                _ = &mut stop => return Ok(FollowEnd::Stopped),
            }
        }
    }

    /// The curated view of a service (`breakfix inspect`).
    pub async fn inspect_service(&self, id: &str, service: &str) -> Result<ServiceDetail> {
        let (s, t, _) = self.service_access(id, "inspect", Some(service)).await?;
        let detail = self.backend.describe(&t, service).await?.ok_or_else(|| {
            EngineError::Backend(crate::backend::BackendError::Refused {
                op: "inspect",
                object: self.backend.container_name(&t, service),
                message: "it has no container (or pod) right now".into(),
            })
        })?;
        self.record_use(&s.id, EventKind::Inspect, format!("inspected {service}"))?;
        Ok(detail)
    }

    /// Runs a command in a service's container as the container's own user, without a
    /// terminal (`breakfix exec`). The command line goes into the timeline and its output
    /// into the session's `recordings/`.
    pub async fn exec_in_service(
        &self,
        id: &str,
        service: &str,
        cmd: &[String],
        timeout: Duration,
    ) -> Result<ExecRun> {
        let (s, t, _) = self
            .service_access(id, "run a command in", Some(service))
            .await?;
        let at = OffsetDateTime::now_utc();
        let started = Instant::now();
        let line = command_line(cmd);
        let out: ExecOutput = match self.backend.exec(&t, service, cmd, timeout).await {
            Ok(out) => out,
            Err(e) => {
                // A refused command is part of the story too (a container that is restarting).
                if !e.is_unreachable() {
                    self.record_use(
                        &s.id,
                        EventKind::ExecFailed,
                        format!("{service}$ {line}: could not run: {e}"),
                    )?;
                }
                return Err(e.into());
            }
        };
        let (path, rel) = self.keep_output(&s, service, &line, &out, started.elapsed())?;
        let _lock = self.store.lock(&s.id, LOCK_WAIT)?;
        let mut s = self.store.load(&s.id)?;
        s.commands.push(CommandRun {
            at,
            target: service.into(),
            command: line,
            recording: rel,
        });
        self.store.save(&s)?;
        Ok(ExecRun {
            service: service.into(),
            command: cmd.to_vec(),
            exit_code: out.exit_code,
            output: out.output,
            recording: path,
        })
    }

    /// Opens a recorded terminal running `cmd` in a service's container, as the container's
    /// own user (`breakfix exec -t`).
    pub async fn exec_terminal(
        &self,
        id: &str,
        service: &str,
        cmd: &[String],
        size: (u16, u16),
        keys: crate::recording::Keys,
        screen: impl AsyncWrite + Unpin,
    ) -> Result<ShellSummary> {
        let (s, _, _) = self
            .service_access(id, "open a terminal in", Some(service))
            .await?;
        self.recorded_terminal(
            &s,
            service.into(),
            cmd,
            Some(command_line(cmd)),
            size,
            keys,
            screen,
        )
        .await
    }

    /// Writes a command's output beside the session's recorded shells; returns its path and
    /// the path relative to the session's folder.
    fn keep_output(
        &self,
        s: &Session,
        service: &str,
        line: &str,
        out: &ExecOutput,
        took: Duration,
    ) -> Result<(PathBuf, String)> {
        use std::io::Write as _;
        let dir = self.store.dir(&s.id).join("recordings");
        let err = |path: PathBuf| move |source| EngineError::Recording { path, source };
        std::fs::create_dir_all(&dir).map_err(err(dir.clone()))?;
        let taken = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
        let mut n = taken + 1;
        loop {
            let name = format!("{n}-{service}.exec.txt");
            let path = dir.join(&name);
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    let status = match out.exit_code {
                        Some(c) => format!("exit {c}"),
                        None => "stopped at its deadline".into(),
                    };
                    let text = format!(
                        "# breakfix exec in {service}, {}\n$ {line}\n{}{}# {status} after {:.1}s\n",
                        OffsetDateTime::now_utc()
                            .format(&time::format_description::well_known::Rfc3339)
                            .unwrap_or_default(),
                        out.output,
                        if out.output.is_empty() || out.output.ends_with('\n') {
                            ""
                        } else {
                            "\n"
                        },
                        took.as_secs_f64()
                    );
                    f.write_all(text.as_bytes()).map_err(err(path.clone()))?;
                    return Ok((path, format!("recordings/{name}")));
                }
                // Another command took this number a moment ago.
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < taken + 100 => {
                    n += 1
                }
                Err(source) => return Err(EngineError::Recording { path, source }),
            }
        }
    }
}

/// How the container's last run ended; `None` while it runs (the engine says 0 then, which
/// means nothing).
fn last_exit(st: &ServiceState) -> Option<i64> {
    st.exit_code.filter(|_| st.exists && !st.running)
}

/// `breakfix ps` as a table.
pub fn render_services(rows: &[ServiceRow]) -> String {
    let mut table = vec![[
        "SERVICE".to_string(),
        "WHERE".into(),
        "STATUS".into(),
        "RESTARTS".into(),
        "HEALTH".into(),
        "LAST EXIT".into(),
    ]];
    for r in rows {
        let st = &r.state;
        let status = if !st.exists {
            "no container".to_string()
        } else if st.oom_killed {
            format!("{} (oom-killed)", st.status)
        } else {
            st.status.clone()
        };
        table.push([
            r.service.clone(),
            r.place.clone(),
            status,
            st.restart_count.to_string(),
            st.health.clone().unwrap_or_else(|| "-".into()),
            last_exit(st).map_or("-".into(), |c| c.to_string()),
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|i| {
            table
                .iter()
                .map(|row| row[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in &table {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    if rows.is_empty() {
        out.push_str("(no services deployed)\n");
    }
    out
}

/// `breakfix inspect` as text: the fields an on-call engineer reads first, empty ones left out.
pub fn render_detail(service: &str, d: &ServiceDetail) -> String {
    let mut rows: Vec<(&str, Vec<String>)> = vec![];
    let st = &d.state;
    let mut state = vec![if st.exists {
        st.status.clone()
    } else {
        "no container".into()
    }];
    state.push(format!(
        "{} restart{}",
        st.restart_count,
        if st.restart_count == 1 { "" } else { "s" }
    ));
    if let Some(c) = last_exit(st) {
        state.push(format!("last exit {c}"));
    }
    if st.oom_killed {
        state.push("oom-killed".into());
    }
    rows.push(("state", vec![state.join(", ")]));
    // While it runs, the engine's finish time is the previous run's.
    let ended = if st.running {
        "previous run ended"
    } else {
        "ended"
    };
    let times: Vec<String> = [("started", &st.started_at), (ended, &d.finished_at)]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k} {v}")))
        .collect();
    if !times.is_empty() {
        rows.push(("times", vec![times.join(", ")]));
    }
    if let Some(h) = &st.health {
        let mut lines = vec![if st.health_timed_out {
            format!("{h} (its failed probes timed out)")
        } else {
            h.clone()
        }];
        lines.extend(d.health_log.iter().map(probe_line));
        rows.push(("health", lines));
    } else if !d.health_log.is_empty() {
        rows.push(("events", d.health_log.iter().map(probe_line).collect()));
    }
    if !d.healthcheck.is_empty() {
        let probe = match d.healthcheck[0].as_str() {
            "CMD-SHELL" => vec![d.healthcheck[1..].join(" ")],
            "CMD" => vec![command_line(&d.healthcheck[1..])],
            _ => d.healthcheck.clone(),
        };
        rows.push(("healthcheck", probe));
    }
    let short_id = d
        .image_id
        .rsplit(':')
        .next()
        .map(|h| h.chars().take(12).collect::<String>())
        .filter(|h| !h.is_empty());
    rows.push((
        "image",
        vec![match short_id {
            Some(id) => format!("{} ({id})", d.image),
            None => d.image.clone(),
        }],
    ));
    let command: Vec<String> = d.entrypoint.iter().chain(&d.command).cloned().collect();
    if !command.is_empty() {
        rows.push(("command", vec![command_line(&command)]));
    }
    if !d.working_dir.is_empty() {
        rows.push(("working dir", vec![d.working_dir.clone()]));
    }
    rows.push((
        "user",
        vec![if d.user.is_empty() {
            "(none set: root, unless the image says otherwise)".into()
        } else {
            d.user.clone()
        }],
    ));
    if !d.env.is_empty() {
        rows.push(("environment", d.env.clone()));
    }
    if !d.mounts.is_empty() {
        rows.push((
            "mounts",
            d.mounts
                .iter()
                .map(|m| {
                    let mode = if m.read_only { " (read-only)" } else { "" };
                    if m.source.is_empty() {
                        format!("{} {}{mode}", m.kind, m.target)
                    } else {
                        format!("{} {} -> {}{mode}", m.kind, m.source, m.target)
                    }
                })
                .collect(),
        ));
    }
    if !d.limits.is_empty() {
        rows.push((
            "limits",
            vec![
                d.limits
                    .iter()
                    .map(|(k, v)| format!("{k} {v}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            ],
        ));
    }
    if !d.restart_policy.is_empty() {
        rows.push(("restart", vec![d.restart_policy.clone()]));
    }
    let mut security = vec![];
    if d.privileged {
        security.push("PRIVILEGED".to_string());
    }
    if !d.cap_drop.is_empty() {
        security.push(format!("caps dropped {}", d.cap_drop.join(" ")));
    }
    if !d.cap_add.is_empty() {
        security.push(format!("caps added {}", d.cap_add.join(" ")));
    }
    if d.no_new_privileges {
        security.push("no-new-privileges".into());
    }
    if d.read_only {
        security.push("read-only root filesystem".into());
    }
    if !security.is_empty() {
        rows.push(("security", vec![security.join("; ")]));
    }
    let mut out = format!("{service} ({})\n", d.place);
    for (label, lines) in rows {
        for (i, line) in lines.iter().enumerate() {
            let label = if i == 0 { label } else { "" };
            out.push_str(format!("  {label:<12} {line}").trim_end());
            out.push('\n');
        }
    }
    out
}

/// One healthcheck run (or pod event): when, how it ended, its first line of output.
fn probe_line(p: &crate::backend::HealthProbe) -> String {
    let first = p
        .output
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    let first: String = if first.chars().count() > 120 {
        first.chars().take(119).chain(['…']).collect()
    } else {
        first.to_string()
    };
    let mut parts = vec![];
    if !p.at.is_empty() {
        parts.push(p.at.clone());
    }
    if let Some(c) = p.exit_code {
        parts.push(format!("exit {c}"));
    }
    parts.push(first);
    format!("- {}", parts.join("  "))
}

async fn write_all(out: &mut (impl AsyncWrite + Unpin), bytes: &[u8]) -> Result<()> {
    if bytes.is_empty() {
        return Ok(());
    }
    // A closed output (the reader went away) ends nothing the candidate cares about.
    let _ = out.write_all(bytes).await;
    let _ = out.flush().await;
    Ok(())
}

/// Takes the complete lines of `buf` (all of it when `flush`), each starting with its RFC 3339
/// timestamp, and returns those newer than `last` without their timestamps, moving `last` on.
/// A line without a timestamp is shown as it is.
fn new_lines(buf: &mut Vec<u8>, last: &mut Option<OffsetDateTime>, flush: bool) -> Vec<u8> {
    let cut = if flush {
        buf.len()
    } else {
        match buf.iter().rposition(|b| *b == b'\n') {
            Some(i) => i + 1,
            None => return vec![],
        }
    };
    let complete: Vec<u8> = buf.drain(..cut).collect();
    let mut shown = vec![];
    for line in complete.split_inclusive(|b| *b == b'\n') {
        let stamp = line.iter().position(|b| *b == b' ').and_then(|sp| {
            let t = std::str::from_utf8(&line[..sp]).ok()?;
            let t =
                OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339).ok()?;
            Some((t, sp))
        });
        match stamp {
            Some((t, _)) if last.is_some_and(|l| t <= l) => {}
            Some((t, sp)) => {
                *last = Some(t);
                shown.extend_from_slice(&line[sp + 1..]);
            }
            None => shown.extend_from_slice(line),
        }
    }
    shown
}

/// Binds a socket of the session's endpoint folder, which the workstation runs as the
/// workspace's owner and must be able to connect to. A socket left by an endpoint that was
/// killed is replaced; a live one (`breakfix serve` runs one per session) or any other file
/// is not.
async fn bind_socket(socket: &Path, workspace: &Path) -> Result<tokio::net::UnixListener> {
    let socket_err = |source| EngineError::EndpointSocket {
        path: socket.to_path_buf(),
        source,
    };
    match std::fs::symlink_metadata(socket) {
        Ok(m) if std::os::unix::fs::FileTypeExt::is_socket(&m.file_type()) => {
            if tokio::net::UnixStream::connect(socket).await.is_ok() {
                return Err(socket_err(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    "an endpoint already serves it (`breakfix serve` runs one for every live session); use that one, or give --socket another path",
                )));
            }
            std::fs::remove_file(socket).map_err(socket_err)?;
        }
        Ok(_) => {
            return Err(socket_err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "a file that is not a socket is already there",
            )));
        }
        Err(_) => {}
    }
    if let Some(dir) = socket.parent() {
        std::fs::create_dir_all(dir).map_err(socket_err)?;
    }
    let listener = tokio::net::UnixListener::bind(socket).map_err(socket_err)?;
    if let Ok(owner) = std::fs::metadata(workspace) {
        crate::engine::give_to_owner(socket, &owner).map_err(socket_err)?;
    }
    Ok(listener)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn followed_log_lines_lose_their_timestamps_and_repeats_are_dropped() {
        let mut last = None;
        let mut buf = b"2024-05-01T10:00:00.5Z starting\n2024-05-01T10:00:01.25Z listen".to_vec();
        assert_eq!(new_lines(&mut buf, &mut last, false), b"starting\n");
        // The half line waits for the rest of it.
        assert_eq!(buf, b"2024-05-01T10:00:01.25Z listen");
        buf.extend_from_slice(b"ing on 8080\n");
        assert_eq!(
            new_lines(&mut buf, &mut last, false),
            b"listening on 8080\n"
        );
        // A reopened stream starts again at the whole second: what was shown is not repeated,
        // and a fraction written with fewer digits still compares by time.
        let mut again = b"2024-05-01T10:00:00.500000000Z starting\n\
            2024-05-01T10:00:01.250000000Z listening on 8080\n\
            2024-05-01T10:00:01.3Z crashed\n"
            .to_vec();
        assert_eq!(new_lines(&mut again, &mut last, false), b"crashed\n");
    }

    #[test]
    fn a_log_line_without_a_timestamp_is_shown_as_it_is_and_a_last_partial_line_on_flush() {
        let mut last = None;
        let mut buf = b"plain line\nno newline at the end".to_vec();
        assert_eq!(new_lines(&mut buf, &mut last, false), b"plain line\n");
        assert_eq!(
            new_lines(&mut buf, &mut last, true),
            b"no newline at the end"
        );
        assert!(buf.is_empty());
        assert_eq!(last, None);
    }

    fn web() -> ServiceDetail {
        use crate::backend::{HealthProbe, MountInfo};
        ServiceDetail {
            place: "bf-crashloop-docker-k3-web".into(),
            state: ServiceState {
                exists: true,
                status: "running".into(),
                running: true,
                restart_count: 9,
                exit_code: Some(0),
                health: Some("unhealthy".into()),
                started_at: Some("2026-12-03T12:32:52Z".into()),
                ..Default::default()
            },
            finished_at: Some("2026-12-03T12:32:51Z".into()),
            image: "breakfix/crashloop-docker-web".into(),
            image_id: "sha256:930fcaaafbda548a16b41af3ac2cce94eb6d2efebd1537ac907c4410e5e9e009"
                .into(),
            command: ["nginx", "-e", "stderr", "-g", "daemon off;"]
                .map(String::from)
                .to_vec(),
            user: "www-data".into(),
            env: vec!["PATH=/usr/sbin:/usr/bin:/sbin:/bin".into()],
            mounts: vec![
                MountInfo {
                    kind: "bind".into(),
                    source: "/state/workspace/nginx/conf.d/shop.conf".into(),
                    target: "/etc/nginx/conf.d/shop.conf".into(),
                    read_only: true,
                },
                MountInfo {
                    kind: "tmpfs".into(),
                    target: "/tmp".into(),
                    ..Default::default()
                },
            ],
            limits: [("cpus", "0.5"), ("memory", "128 MiB"), ("pids", "256")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .into(),
            restart_policy: "always".into(),
            cap_drop: vec!["ALL".into()],
            read_only: true,
            no_new_privileges: true,
            healthcheck: vec![
                "CMD-SHELL".into(),
                "curl -fsS http://localhost:80/healthz".into(),
            ],
            health_log: vec![HealthProbe {
                at: "2026-12-03T12:33:00Z".into(),
                exit_code: Some(7),
                output: "curl: (7) Failed to connect to localhost port 80\nsecond line".into(),
            }],
            ..Default::default()
        }
    }

    #[test]
    fn inspect_shows_what_an_on_call_engineer_reads_first() {
        insta::assert_snapshot!(render_detail("web", &web()));
    }

    #[test]
    fn ps_shows_each_service_with_its_state_and_no_exit_code_while_it_runs() {
        let restarting = ServiceState {
            exists: true,
            status: "restarting".into(),
            restarting: true,
            restart_count: 4,
            exit_code: Some(1),
            health: Some("unhealthy".into()),
            ..Default::default()
        };
        let rows = vec![
            ServiceRow {
                service: "orders".into(),
                place: "bf-crashloop-docker-k3-orders".into(),
                state: ServiceState {
                    exists: true,
                    status: "running".into(),
                    running: true,
                    exit_code: Some(0),
                    health: Some("healthy".into()),
                    ..Default::default()
                },
            },
            ServiceRow {
                service: "web".into(),
                place: "bf-crashloop-docker-k3-web".into(),
                state: restarting,
            },
        ];
        insta::assert_snapshot!(render_services(&rows));
    }

    #[test]
    fn command_lines_are_quoted_as_a_shell_would_take_them() {
        let cmd: Vec<String> = ["sh", "-c", "id -u && echo 'ok'"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(command_line(&cmd), r#"sh -c "id -u && echo 'ok'""#);
        assert_eq!(command_line(&["id".into(), "-u".into()]), "id -u");
    }
}
