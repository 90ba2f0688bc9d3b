//! `ps`, `logs`, `inspect` and `exec`: the candidate's view of a session's services, in place
//! of the engine's CLI.

use std::time::Duration;

use super::{CmdResult, G, print_json, stop_signal};
use crate::candidate::{self, FollowEnd};
use crate::engine::Engine;
use crate::engine::EngineError;
use crate::exit;

/// `[SESSION] SERVICE`: with one name, it is the service (in the only live session).
fn session_and_service(mut target: Vec<String>) -> (Option<String>, String) {
    let service = target.pop().unwrap_or_default();
    (target.pop(), service)
}

/// The engine, the session's full id and the service a `[SESSION] SERVICE` target names.
async fn open(g: &G, target: Vec<String>) -> Result<(Engine, String, String), EngineError> {
    let (session, service) = session_and_service(target);
    let (eng, id) = g.session(session).await?;
    Ok((eng, id, service))
}

pub(super) async fn docker_endpoint(
    g: &G,
    session: Option<String>,
    socket: Option<std::path::PathBuf>,
) -> CmdResult {
    let (eng, id) = g.session(session).await?;
    let socket = socket.unwrap_or_else(|| eng.endpoint_dir(&id).join("docker.sock"));
    let shown = socket.display().to_string();
    eng.serve_docker_endpoint(
        &id,
        &socket,
        || {
            println!("export DOCKER_HOST=unix://{shown}");
            note!(
                "session {id}'s Docker endpoint is ready: with DOCKER_HOST set as above, `docker` reaches this session's services only (Ctrl-C to stop)"
            );
        },
        stop_signal(),
    )
    .await?;
    Ok(exit::OK)
}

pub(super) async fn ps(g: &G, session: Option<String>, json: bool) -> CmdResult {
    let (eng, id) = g.session(session).await?;
    let rows = eng.list_services(&id).await?;
    if json {
        print_json(&rows);
    } else {
        print!("{}", candidate::render_services(&rows));
    }
    Ok(exit::OK)
}

pub(super) async fn logs(
    g: &G,
    target: Vec<String>,
    tail: usize,
    follow: Option<Duration>,
) -> CmdResult {
    let (eng, id, service) = open(g, target).await?;
    let (eng, id, service) = (&eng, id.as_str(), service.as_str());
    let Some(deadline) = follow else {
        let text = eng.service_logs(id, service, tail).await?;
        print!("{text}");
        return Ok(exit::OK);
    };
    let end = eng
        .follow_service_logs(
            id,
            service,
            tail,
            deadline,
            stop_signal(),
            tokio::io::stdout(),
        )
        .await?;
    match end {
        FollowEnd::Deadline => {
            note!(
                "stopped following after {} (--for sets how long)",
                humantime::format_duration(deadline)
            );
            Ok(exit::OK)
        }
        FollowEnd::Stopped => Ok(exit::OK),
    }
}

pub(super) async fn inspect(g: &G, target: Vec<String>, json: bool) -> CmdResult {
    let (eng, id, service) = open(g, target).await?;
    let detail = eng.inspect_service(&id, &service).await?;
    if json {
        print_json(&detail);
    } else {
        print!("{}", candidate::render_detail(&service, &detail));
    }
    Ok(exit::OK)
}

pub(super) async fn exec(
    g: &G,
    target: Vec<String>,
    command: &[String],
    tty: bool,
    timeout: Duration,
    json: bool,
) -> CmdResult {
    let (eng, id, service) = open(g, target).await?;
    let (eng, id, service) = (&eng, id.as_str(), service.as_str());
    if tty {
        let summary = super::super::shell::exec(eng, id, service, command).await?;
        note!(
            "recorded in {}: {}",
            summary.place,
            summary.recording.display()
        );
        return Ok(exit::OK);
    }
    let run = eng.exec_in_service(id, service, command, timeout).await?;
    if json {
        print_json(&run);
    } else {
        print!("{}", run.output);
        if !run.output.is_empty() && !run.output.ends_with('\n') {
            println!();
        }
    }
    Ok(match run.exit_code {
        // The command's own exit code, as `docker exec` gives it.
        Some(c) => i32::try_from(c).unwrap_or(exit::FAILURE).clamp(0, 255),
        None => {
            note!(
                "error: `{}` was stopped after {} (--timeout sets how long it may run)",
                candidate::command_line(command),
                humantime::format_duration(timeout)
            );
            exit::FAILURE
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_name_is_the_service_and_two_are_session_then_service() {
        assert_eq!(
            session_and_service(vec!["web".into()]),
            (None, "web".to_string())
        );
        assert_eq!(
            session_and_service(vec!["crashloop-docker-k3".into(), "web".into()]),
            (Some("crashloop-docker-k3".into()), "web".to_string())
        );
    }
}
