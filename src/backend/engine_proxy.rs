//! The session-scoped Docker endpoint: a socket that speaks the engine's API to the
//! candidate's `docker` CLI and passes on only what [`engine_scope::decide`] allows, rewritten
//! as it says. Streams (`logs -f`, `events`, `stats`) pass through as they come, and an
//! `exec` that takes over the connection (the CLI's hijack, HTTP 101) is bridged both ways.
//! Every recorded call is handed to the caller's `record` (the session timeline).
//!
//! The proxy never sees the engine's socket handed to the candidate: it opens its own
//! connection to the engine for each call.

use std::collections::HashSet;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::{UnixListener, UnixStream};

use super::engine_scope::{self, Decision, Scope, ScopedContainer};
use super::labels;

/// The largest request body the proxy reads (an exec's JSON is a few hundred bytes).
const BODY_LIMIT: usize = 1 << 20;
/// How long the engine may take to accept a connection and answer a call's head.
const ENGINE_DEADLINE: Duration = Duration::from_secs(30);

type Body = BoxBody<Bytes, hyper::Error>;

/// Answers the session's own commands (`/breakfix/<command>`, from the workstation's
/// `breakfix`): whether it went well, and the text to show.
pub type SessionCommands = Arc<
    dyn Fn(String) -> std::pin::Pin<Box<dyn std::future::Future<Output = (bool, String)> + Send>>
        + Send
        + Sync,
>;

/// One session's endpoint.
pub struct EngineProxy {
    /// The session whose service containers the candidate may reach.
    pub session: String,
    /// The engine's own socket.
    pub engine: PathBuf,
    /// Whether the scenario lets the candidate exec as root.
    pub root_exec: bool,
    /// Receives what the timeline records (`docker restart web`); it may block (it writes
    /// the session record), so it runs off the async workers.
    pub record: Arc<dyn Fn(String) + Send + Sync>,
    /// Answers `/breakfix/<command>` when given; such paths never reach the engine.
    pub commands: Option<SessionCommands>,
    execs: Mutex<HashSet<String>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("failed to reach the Docker engine at {path}")]
    Engine {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("failed to talk to the Docker engine")]
    Http(#[source] hyper::Error),
    #[error("failed to talk to the Docker engine: {0}")]
    Protocol(String),
}

impl EngineProxy {
    pub fn new(
        session: impl Into<String>,
        engine: impl Into<PathBuf>,
        root_exec: bool,
        record: Arc<dyn Fn(String) + Send + Sync>,
        commands: Option<SessionCommands>,
    ) -> Arc<EngineProxy> {
        Arc::new(EngineProxy {
            session: session.into(),
            engine: engine.into(),
            root_exec,
            record,
            commands,
            execs: Mutex::new(HashSet::new()),
        })
    }

    /// Serves connections on `listener` until the task is dropped (aborted).
    pub async fn serve(self: Arc<Self>, listener: UnixListener) -> std::io::Result<()> {
        loop {
            let (stream, _) = listener.accept().await?;
            let proxy = self.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let proxy = proxy.clone();
                    async move { Ok::<_, Infallible>(proxy.handle(req).await) }
                });
                // A client that goes away mid-call ends only its own connection.
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            });
        }
    }

    async fn handle(&self, mut req: Request<Incoming>) -> Response<Body> {
        match self.answer(&mut req).await {
            Ok(resp) => resp,
            Err(e) => message(
                StatusCode::BAD_GATEWAY,
                &format!("breakfix: {}", crate::chain::one_line(&e)),
            ),
        }
    }

    async fn answer(&self, req: &mut Request<Incoming>) -> Result<Response<Body>, ProxyError> {
        let method = req.method().as_str().to_string();
        let path_and_query = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        if let Some(command) = path_and_query.strip_prefix("/breakfix/") {
            let Some(run) = &self.commands else {
                return Ok(message(
                    StatusCode::NOT_FOUND,
                    "breakfix: this endpoint answers no session commands",
                ));
            };
            let (ok, text) = run(command.to_string()).await;
            let status = if ok {
                StatusCode::OK
            } else {
                StatusCode::UNPROCESSABLE_ENTITY
            };
            return Ok(Response::builder()
                .status(status)
                .header(hyper::header::CONTENT_TYPE, "text/plain; charset=utf-8")
                .body(whole(Bytes::from(text)))
                .unwrap_or_else(|_| Response::new(whole(Bytes::new()))));
        }
        let upgrade = req.headers().contains_key(hyper::header::UPGRADE);
        let body = match Limited::new(req.body_mut(), BODY_LIMIT).collect().await {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                return Ok(message(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "breakfix: the request body is too large",
                ));
            }
        };
        let json: Option<Value> = serde_json::from_slice(&body).ok();
        let mut containers = self.containers().await?;
        // Only an exec needs to know whose user a container runs as.
        if method == "POST" && path_and_query.contains("/exec") {
            for c in &mut containers {
                c.user = self.user_of(&c.id).await?;
            }
        }
        let execs = self.execs.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let scope = Scope {
            session: &self.session,
            containers: &containers,
            execs: &execs,
            root_exec: self.root_exec,
        };
        let (path, record, exec_created, keep_body) =
            match engine_scope::decide(&method, &path_and_query, json.as_ref(), &scope) {
                Decision::Refuse(why) => return Ok(message(StatusCode::FORBIDDEN, &why)),
                Decision::Pass {
                    path,
                    record,
                    exec_created,
                    body: keep_body,
                } => (path, record, exec_created, keep_body),
            };
        let body = if keep_body { body } else { Bytes::new() };
        let mut out = Request::builder().method(req.method()).uri(&path);
        for (k, v) in req.headers() {
            // The body sent is not always the one received: its length is hyper's to set.
            if k != hyper::header::CONTENT_LENGTH && k != hyper::header::TRANSFER_ENCODING {
                out = out.header(k, v);
            }
        }
        let out = out
            .body(whole(body))
            .map_err(|e| ProxyError::Protocol(e.to_string()))?;
        let mut resp = self.send(out).await?;
        if let Some(r) = record
            && resp.status().is_success()
        {
            let record = self.record.clone();
            tokio::task::spawn_blocking(move || record(r));
        }
        if exec_created && resp.status().is_success() {
            let (parts, body) = resp.into_parts();
            let bytes = body.collect().await.map_err(ProxyError::Http)?.to_bytes();
            if let Some(id) = serde_json::from_slice::<Value>(&bytes)
                .ok()
                .and_then(|v| v.get("Id").and_then(Value::as_str).map(str::to_string))
            {
                self.execs
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(id);
            }
            return Ok(Response::from_parts(parts, whole(bytes)));
        }
        if upgrade && resp.status() == StatusCode::SWITCHING_PROTOCOLS {
            let theirs = hyper::upgrade::on(&mut resp);
            let ours = hyper::upgrade::on(&mut *req);
            tokio::spawn(async move {
                if let (Ok(a), Ok(b)) = (theirs.await, ours.await) {
                    let _ =
                        tokio::io::copy_bidirectional(&mut TokioIo::new(a), &mut TokioIo::new(b))
                            .await;
                }
            });
        }
        Ok(resp.map(BodyExt::boxed))
    }

    /// Sends one call to the engine on a connection of its own.
    async fn send(&self, req: Request<Body>) -> Result<Response<Incoming>, ProxyError> {
        let engine_err = |source| ProxyError::Engine {
            path: self.engine.display().to_string(),
            source,
        };
        let stream = tokio::time::timeout(ENGINE_DEADLINE, UnixStream::connect(&self.engine))
            .await
            .map_err(|_| engine_err(std::io::ErrorKind::TimedOut.into()))?
            .map_err(engine_err)?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(ProxyError::Http)?;
        tokio::spawn(conn.with_upgrades());
        tokio::time::timeout(ENGINE_DEADLINE, sender.send_request(req))
            .await
            .map_err(|_| ProxyError::Protocol("the engine did not answer in time".into()))?
            .map_err(ProxyError::Http)
    }

    async fn get_json(&self, path: &str) -> Result<Value, ProxyError> {
        let req = Request::get(path)
            .header(hyper::header::HOST, "docker")
            .body(whole(Bytes::new()))
            .map_err(|e| ProxyError::Protocol(e.to_string()))?;
        let resp = self.send(req).await?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(ProxyError::Http)?
            .to_bytes();
        if !status.is_success() {
            return Err(ProxyError::Protocol(format!(
                "GET {path} answered {status}: {}",
                String::from_utf8_lossy(&bytes)
            )));
        }
        serde_json::from_slice(&bytes).map_err(|e| ProxyError::Protocol(e.to_string()))
    }

    /// The session's service containers, read from the engine by label on every call, so a
    /// container the session recreates is found and nothing else ever is.
    async fn containers(&self) -> Result<Vec<ScopedContainer>, ProxyError> {
        let filters = serde_json::json!({"label": [
            format!("{}={}", labels::SESSION, self.session),
            format!("{}=service", labels::ROLE),
        ]});
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("all", "1")
            .append_pair("filters", &filters.to_string())
            .finish();
        let list = self.get_json(&format!("/containers/json?{query}")).await?;
        let list = list.as_array().cloned().unwrap_or_default();
        Ok(list
            .iter()
            .filter_map(|c| {
                let id = c.get("Id")?.as_str()?.to_string();
                let name = c
                    .get("Names")?
                    .as_array()?
                    .first()?
                    .as_str()?
                    .trim_start_matches('/')
                    .to_string();
                let service = c.get("Labels")?.get(labels::SERVICE)?.as_str()?.to_string();
                Some(ScopedContainer {
                    id,
                    name,
                    service,
                    user: String::new(),
                })
            })
            .collect())
    }

    async fn user_of(&self, id: &str) -> Result<String, ProxyError> {
        let c = self.get_json(&format!("/containers/{id}/json")).await?;
        Ok(c.pointer("/Config/User")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string())
    }
}

/// A body that is all there at once.
fn whole(bytes: Bytes) -> Body {
    Full::new(bytes).map_err(|e| match e {}).boxed()
}

/// An answer the CLI prints as "Error response from daemon: <message>".
fn message(status: StatusCode, text: &str) -> Response<Body> {
    let body = serde_json::json!({ "message": text }).to_string();
    Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(whole(Bytes::from(body)))
        .unwrap_or_else(|_| Response::new(whole(Bytes::new())))
}
