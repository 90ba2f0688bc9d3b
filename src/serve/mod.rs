//! `breakfix serve`: a local web dashboard for interviewers. It watches every live session
//! of the state directory (the same rounds as `breakfix watch`, recorded in each session's
//! timeline) and pushes each round to open pages with server-sent events; the page never
//! polls. Interviewers add notes and marks from it.
//!
//! It binds to 127.0.0.1 by default. Bound anywhere else it requires a token (given, or made
//! up and printed), carried by the `Authorization: Bearer` header, the `token` query
//! parameter (which also sets a same-site cookie) or that cookie. Forms carry a key made at
//! start-up, so another site open in the browser cannot post notes.

mod page;
mod terminal;
pub mod xterm;

pub use terminal::input_signal;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::extract::{Form, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use futures_util::Stream;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::backend::Backend;
use crate::check::Status;
use crate::engine::{self, Engine, EngineError, Round};
use crate::scenario::{BackendKind, Competency};
use crate::session::{Session, Status as SessionStatus, Store};
use crate::timeline::{Mark, Note};

/// Connects to the backend a session runs on (the CLI knows where the assets are).
pub type Connector = Arc<
    dyn Fn(
            BackendKind,
            Option<String>,
        )
            -> futures_util::future::BoxFuture<'static, Result<Arc<dyn Backend>, EngineError>>
        + Send
        + Sync,
>;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("serve the dashboard")]
    Serve(#[source] std::io::Error),
}

pub struct Options {
    pub addr: SocketAddr,
    /// Required when `addr` is not a loopback address; made up when not given.
    pub token: Option<String>,
    pub interval: Duration,
    /// The address candidates' links start with (`https://interview.example.com`), when they
    /// reach the dashboard by another name than `addr` (a proxy, a public name).
    pub public_url: Option<String>,
}

/// Where a running `breakfix serve` is reached, written beside the sessions so `start` and
/// `status` can give the candidate's link.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Served {
    pub url: String,
    pub pid: u32,
}

impl Served {
    fn path(store: &Store) -> std::path::PathBuf {
        store.root().join("serve.json")
    }

    /// The running dashboard's address, if one runs for this state directory.
    pub fn find(store: &Store) -> Option<Served> {
        let text = std::fs::read_to_string(Self::path(store)).ok()?;
        let served: Served = serde_json::from_str(&text).ok()?;
        // SAFETY: signal 0 only asks whether the process exists.
        let alive = unsafe { libc::kill(served.pid as libc::pid_t, 0) } == 0;
        alive.then_some(served)
    }

    /// The candidate's link to a session, when a dashboard runs and the session has one.
    pub fn candidate_url(store: &Store, s: &Session) -> Option<String> {
        let token = s.candidate_token.as_ref()?;
        Some(format!("{}/c/{token}", Self::find(store)?.url))
    }
}

/// One check as the page shows it.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct CheckView {
    pub id: String,
    pub title: String,
    pub status: Status,
    pub summary: String,
    pub guard: bool,
    pub points: u32,
    pub first_passed_secs: Option<u64>,
    pub broke_again: bool,
}

/// A session as the page shows it; also what each server-sent event carries.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct SessionView {
    pub session: String,
    pub scenario: String,
    pub title: String,
    pub candidate: Option<String>,
    pub status: SessionStatus,
    /// Unix seconds when the clock started, so the page can tick it.
    pub ready_at: Option<i64>,
    pub stopped_at: Option<i64>,
    pub time_limit_secs: u64,
    pub hints: usize,
    pub hint_cost: u32,
    pub score: Option<u32>,
    pub max_score: Option<u32>,
    pub checks: Vec<CheckView>,
    /// Checks left to `grade`: they change the sandbox or run a whole pipeline.
    pub skipped: Vec<String>,
    /// Unix seconds of the round shown.
    pub seen_at: Option<i64>,
    /// Why the last round could not run (the backend went away), when it could not.
    pub error: Option<String>,
    pub notes: Vec<Note>,
}

impl SessionView {
    fn of(s: &Session) -> Self {
        SessionView {
            session: s.id.clone(),
            scenario: s.scenario.clone(),
            title: String::new(),
            candidate: s.candidate.clone(),
            status: s.status,
            ready_at: s.ready_at.map(|t| t.unix_timestamp()),
            stopped_at: s.stopped_at.map(|t| t.unix_timestamp()),
            time_limit_secs: s.time_limit_secs,
            hints: s.hints.len(),
            hint_cost: s.hints.iter().map(|h| h.cost).sum(),
            score: None,
            max_score: None,
            checks: vec![],
            skipped: vec![],
            seen_at: None,
            error: None,
            notes: s.notes.clone(),
        }
    }

    fn from_round(r: &Round) -> Self {
        let mut v = SessionView::of(&r.session);
        v.title = r.report.scenario.title.clone();
        v.score = Some(r.report.score);
        v.max_score = Some(r.report.max_score);
        v.checks = r
            .report
            .checks
            .iter()
            .map(|c| CheckView {
                id: c.id.clone(),
                title: c.title.clone(),
                status: c.status,
                summary: c.summary.clone(),
                guard: c.guard,
                points: c.points,
                first_passed_secs: c.first_passed_secs,
                broke_again: c.broke_again,
            })
            .collect();
        v.skipped = r.skipped.clone();
        v.seen_at = Some(OffsetDateTime::now_utc().unix_timestamp());
        v
    }
}

struct App {
    store: Store,
    connect: Connector,
    token: Option<String>,
    form_key: String,
    interval: Duration,
    views: RwLock<BTreeMap<String, SessionView>>,
    /// Sessions with a watcher task running.
    watched: Mutex<HashSet<String>>,
    backends: tokio::sync::Mutex<HashMap<BackendKey, Arc<dyn Backend>>>,
    tx: tokio::sync::broadcast::Sender<String>,
    /// The workstation shells pages are attached to, by session.
    hubs: Mutex<HashMap<String, Arc<terminal::Hub>>>,
    /// xterm.js for the pages, or why it could not be read.
    xterm: Result<xterm::Xterm, String>,
    /// What candidates' links start with.
    base_url: String,
}

type Shared = Arc<App>;

/// A backend and the kubeconfig context it talks to.
type BackendKey = (BackendKind, Option<String>);

fn random_key() -> String {
    crate::session::new_secret()
}

/// Runs the dashboard until `shutdown` resolves. `ready` gets the address it listens on
/// (the port the system chose for `:0`) and the token, if one is required.
pub async fn run(
    store: Store,
    connect: Connector,
    opts: Options,
    ready: impl FnOnce(SocketAddr, Option<&str>),
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let token = match opts.token {
        Some(t) => Some(t),
        None if !opts.addr.ip().is_loopback() => Some(random_key()),
        None => None,
    };
    let listener = tokio::net::TcpListener::bind(opts.addr)
        .await
        .map_err(|source| ServeError::Bind {
            addr: opts.addr,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| ServeError::Bind {
        addr: opts.addr,
        source,
    })?;
    let base = opts
        .public_url
        .map(|u| u.trim_end_matches('/').to_string())
        .unwrap_or_else(|| format!("http://{addr}"));
    let xterm = xterm::load(&xterm::root()).map_err(|e| crate::chain::one_line(&e));
    if let Err(why) = &xterm {
        eprintln!("warning: candidates' terminals will not show: failed to {why}");
    }
    let app = new_app(store, connect, token, opts.interval, xterm, base.clone());
    let served = Served {
        url: base,
        pid: std::process::id(),
    };
    let served_path = Served::path(&app.store);
    let _ = crate::session::write_atomic(
        &served_path,
        serde_json::to_string(&served)
            .unwrap_or_default()
            .as_bytes(),
    );
    refresh_sessions(&app);
    tokio::spawn(supervise(app.clone()));
    ready(addr, app.token.as_deref());
    let router = router(app);
    let result = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(ServeError::Serve);
    let _ = std::fs::remove_file(&served_path);
    result
}

fn new_app(
    store: Store,
    connect: Connector,
    token: Option<String>,
    interval: Duration,
    xterm: Result<xterm::Xterm, String>,
    base_url: String,
) -> Shared {
    let (tx, _) = tokio::sync::broadcast::channel(256);
    Arc::new(App {
        store,
        connect,
        token,
        form_key: random_key(),
        interval,
        views: RwLock::new(BTreeMap::new()),
        watched: Mutex::new(HashSet::new()),
        backends: tokio::sync::Mutex::new(HashMap::new()),
        tx,
        hubs: Mutex::new(HashMap::new()),
        xterm,
        base_url,
    })
}

fn router(app: Shared) -> axum::Router {
    let interviewers = axum::Router::new()
        .route("/", get(index))
        .route("/app.js", get(script))
        .route("/events", get(events))
        .route("/api/sessions", get(api_sessions))
        .route("/s/{id}", get(session_page))
        .route("/s/{id}/report", get(report_page))
        .route("/s/{id}/notes", post(add_note))
        .route("/s/{id}/tty", get(interviewer_tty))
        .layer(axum::middleware::from_fn_with_state(app.clone(), guard));
    // The candidate's link carries its own secret; the interviewers' token is not asked for,
    // and the link opens nothing of theirs.
    let candidates = axum::Router::new()
        .route("/c/{token}", get(candidate_page))
        .route("/c/{token}/tty", get(candidate_tty))
        .route("/xterm.js", get(xterm_script))
        .route("/xterm.css", get(xterm_style))
        .route("/terminal.js", get(terminal_script));
    interviewers.merge(candidates).with_state(app)
}

async fn xterm_script(State(app): State<Shared>) -> Response {
    let body = match &app.xterm {
        Ok(x) => x.script.clone(),
        Err(why) => format!(
            "window.breakfixXtermMissing = {};\n",
            serde_json::to_string(&format!("failed to {why}")).unwrap_or_default()
        ),
    };
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn xterm_style(State(app): State<Shared>) -> Response {
    let body = app
        .xterm
        .as_ref()
        .map(|x| x.style.clone())
        .unwrap_or_default();
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], body).into_response()
}

async fn terminal_script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("terminal.js"),
    )
}

/// The live session whose candidate link `token` is, if it is still open.
fn session_by_link(app: &Shared, token: &str) -> Option<Session> {
    let now = OffsetDateTime::now_utc();
    app.store
        .ids()
        .into_iter()
        .filter_map(|id| app.store.load(&id).ok())
        .find(|s| s.candidate_link_open(token, now))
}

const LINK_CLOSED: &str = "This link is not open: it is unknown, its session has ended, or its time is up. Ask your interviewer for a new one.";

/// A WebSocket opened by a page of another site is refused: the browser sends the
/// interviewers' cookie with it, and a candidate's link must not be usable from elsewhere.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true; // not a browser
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest == host)
}

async fn candidate_page(State(app): State<Shared>, Path(token): Path<String>) -> Response {
    let Some(s) = session_by_link(&app, &token) else {
        return (StatusCode::NOT_FOUND, Html(page::message(LINK_CLOSED))).into_response();
    };
    let (title, briefing) = match engine::package_of(&s) {
        Ok(p) => (p.scenario.title.clone(), p.briefing.clone()),
        Err(_) => (s.scenario.clone(), String::new()),
    };
    let mut resp = Html(page::candidate(
        &title,
        &s.id,
        &briefing,
        &format!("/c/{token}/tty"),
    ))
    .into_response();
    // The link is the secret: not passed on to other sites, not kept by caches.
    for (k, v) in [
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
    ] {
        resp.headers_mut().insert(k, HeaderValue::from_static(v));
    }
    resp
}

async fn candidate_tty(
    State(app): State<Shared>,
    Path(token): Path<String>,
    headers: HeaderMap,
    ws: axum::extract::WebSocketUpgrade,
) -> Response {
    if !same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "cross-site terminal refused\n").into_response();
    }
    let Some(s) = session_by_link(&app, &token) else {
        return (StatusCode::NOT_FOUND, LINK_CLOSED).into_response();
    };
    attach_tty(app, s, ws, terminal::Seat::Candidate).await
}

async fn interviewer_tty(
    State(app): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ws: axum::extract::WebSocketUpgrade,
) -> Response {
    if !same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "cross-site terminal refused\n").into_response();
    }
    match app.store.load(&id) {
        Ok(s) if s.is_live() => attach_tty(app, s, ws, terminal::Seat::Interviewer).await,
        Ok(_) => (StatusCode::GONE, "the session is no longer live\n").into_response(),
        Err(_) => not_found(&id),
    }
}

async fn attach_tty(
    app: Shared,
    s: Session,
    ws: axum::extract::WebSocketUpgrade,
    seat: terminal::Seat,
) -> Response {
    let hub = match seat {
        // Watching opens no shell of its own: the mirror waits for the candidate's.
        terminal::Seat::Interviewer => app
            .hubs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&s.id)
            .filter(|h| !h.is_ended())
            .cloned()
            .ok_or_else(|| "the candidate has not opened their terminal yet".to_string()),
        terminal::Seat::Candidate => open_hub(&app, &s).await,
    };
    let hub = match hub {
        Ok(h) => h,
        Err(why) => return (StatusCode::CONFLICT, format!("{why}\n")).into_response(),
    };
    let (store, id) = (app.store.clone(), s.id.clone());
    // Keys and control messages are small; a page sending more is not typing.
    ws.max_message_size(1 << 20)
        .max_frame_size(1 << 20)
        .on_upgrade(move |socket| terminal::attach(socket, hub, seat, store, id))
}

/// The session's shell in its workstation: the running one, or a new recorded one.
async fn open_hub(app: &Shared, s: &Session) -> Result<Arc<terminal::Hub>, String> {
    if s.workstation.is_none() {
        return Err(format!("session {} has no workstation", s.id));
    }
    let running = |hubs: &HashMap<String, Arc<terminal::Hub>>| {
        hubs.get(&s.id).filter(|h| !h.is_ended()).cloned()
    };
    if let Some(h) = running(&app.hubs.lock().unwrap_or_else(|e| e.into_inner())) {
        return Ok(h);
    }
    let backend = backend_for(app, s)
        .await
        .map_err(|e| format!("failed to {e}"))?;
    let size = (100, 30);
    let (hub, keys) = terminal::Hub::new(size);
    {
        let mut hubs = app.hubs.lock().unwrap_or_else(|e| e.into_inner());
        // Another page may have opened one meanwhile.
        if let Some(h) = running(&hubs) {
            return Ok(h);
        }
        hubs.insert(s.id.clone(), hub.clone());
    }
    let (app, id, hub2) = (app.clone(), s.id.clone(), hub.clone());
    tokio::spawn(async move {
        let eng = Engine {
            store: app.store.clone(),
            backend,
        };
        let shell = eng
            .shell(
                &id,
                Some(crate::backend::WORKSTATION),
                size,
                keys,
                terminal::HubScreen(hub2.clone()),
            )
            .await;
        match shell {
            Ok(done) => hub2.end(&format!(
                "{} command(s) recorded in {}",
                done.commands,
                done.recording.display()
            )),
            Err(e) => {
                hub2.output(format!("\r\nbreakfix: failed to {e}\r\n").as_bytes());
                hub2.end(&format!("failed to {e}"));
            }
        }
        let mut hubs = app.hubs.lock().unwrap_or_else(|e| e.into_inner());
        if hubs.get(&id).is_some_and(|h| Arc::ptr_eq(h, &hub2)) {
            hubs.remove(&id);
        }
    });
    Ok(hub)
}

/// Reads every session of the store into the views (keeping the last round of live ones).
fn refresh_sessions(app: &Shared) {
    let mut views = app.views.write().unwrap_or_else(|e| e.into_inner());
    for id in app.store.ids() {
        let Ok(s) = app.store.load(&id) else { continue };
        match views.get_mut(&id) {
            Some(v) => {
                v.status = s.status;
                v.stopped_at = s.stopped_at.map(|t| t.unix_timestamp());
                v.hints = s.hints.len();
                v.hint_cost = s.hints.iter().map(|h| h.cost).sum();
                v.notes = s.notes.clone();
            }
            None => {
                let mut v = SessionView::of(&s);
                if let Ok(pkg) = engine::package_of(&s) {
                    v.title = pkg.scenario.title.clone();
                }
                views.insert(id, v);
            }
        }
    }
}

/// Starts a watcher for every live session that has none, every interval.
async fn supervise(app: Shared) {
    loop {
        refresh_sessions(&app);
        let live: Vec<String> = {
            let views = app.views.read().unwrap_or_else(|e| e.into_inner());
            views
                .values()
                .filter(|v| v.status == SessionStatus::Ready)
                .map(|v| v.session.clone())
                .collect()
        };
        for id in live {
            let fresh = app
                .watched
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(id.clone());
            if fresh {
                tokio::spawn(watch(app.clone(), id));
            }
        }
        tokio::time::sleep(app.interval).await;
    }
}

async fn backend_for(app: &Shared, s: &Session) -> Result<Arc<dyn Backend>, EngineError> {
    let key = (s.backend, s.context.clone());
    let mut cache = app.backends.lock().await;
    if let Some(b) = cache.get(&key) {
        return Ok(b.clone());
    }
    let b = (app.connect)(s.backend, s.context.clone()).await?;
    cache.insert(key, b.clone());
    Ok(b)
}

/// Serves the endpoint of a live session's workstation (`docker.sock` in its folder, and
/// `kube.sock` on Kubernetes) until `stop` resolves; see `breakfix docker-endpoint`.
async fn serve_endpoint(app: Shared, id: String, stop: tokio::sync::oneshot::Receiver<()>) {
    let Ok(s) = app.store.load(&id) else { return };
    if s.workstation.is_none() {
        return;
    }
    let backend = match backend_for(&app, &s).await {
        Ok(b) => b,
        Err(_) => return, // the watcher reports an engine that cannot be reached
    };
    let eng = Engine {
        store: app.store.clone(),
        backend,
    };
    let socket = eng.endpoint_dir(&id).join("docker.sock");
    if tokio::net::UnixStream::connect(&socket).await.is_ok() {
        return; // the one `breakfix start` left running serves it
    }
    let shown = socket.display().to_string();
    let served = eng
        .serve_docker_endpoint(
            &id,
            &socket,
            || {
                eprintln!(
                    "session {id}: the candidate's docker endpoint is DOCKER_HOST=unix://{shown}"
                )
            },
            async {
                let _ = stop.await;
            },
        )
        .await;
    if let Err(e) = served {
        eprintln!("warning: session {id} has no docker endpoint: failed to {e}");
    }
}

/// Rounds on one session until it is no longer live; each is published as it lands.
async fn watch(app: Shared, id: String) {
    let (stop_endpoint, stop) = tokio::sync::oneshot::channel();
    let endpoint = tokio::spawn(serve_endpoint(app.clone(), id.clone(), stop));
    loop {
        let outcome = match app.store.load(&id) {
            Ok(s) => match backend_for(&app, &s).await {
                Ok(backend) => {
                    let eng = Engine {
                        store: app.store.clone(),
                        backend,
                    };
                    eng.observe(&id, "serve").await
                }
                Err(e) => Err(e),
            },
            Err(e) => Err(e.into()),
        };
        let view = match outcome {
            Ok(round) => SessionView::from_round(&round),
            Err(EngineError::NotLive { .. }) => {
                refresh_sessions(&app);
                publish_current(&app, &id);
                break;
            }
            Err(e) => {
                let mut views = app.views.write().unwrap_or_else(|e| e.into_inner());
                let Some(v) = views.get_mut(&id) else { break };
                v.error = Some(format!("could not observe: failed to {e}"));
                v.clone()
            }
        };
        publish(&app, view);
        tokio::time::sleep(app.interval).await;
    }
    let _ = stop_endpoint.send(());
    let _ = endpoint.await;
    app.watched
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&id);
}

fn publish(app: &Shared, view: SessionView) {
    let json = serde_json::to_string(&view).unwrap_or_default();
    app.views
        .write()
        .unwrap_or_else(|e| e.into_inner())
        .insert(view.session.clone(), view);
    // No page open is not an error.
    let _ = app.tx.send(json);
}

fn publish_current(app: &Shared, id: &str) {
    let view = app
        .views
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(id)
        .cloned();
    if let Some(v) = view {
        publish(app, v);
    }
}

#[derive(Deserialize)]
struct TokenQuery {
    token: Option<String>,
}

/// Refuses requests without the token, when one is required.
async fn guard(
    State(app): State<Shared>,
    Query(q): Query<TokenQuery>,
    headers: HeaderMap,
    req: Request,
    next: Next,
) -> Response {
    let Some(want) = app.token.clone() else {
        return next.run(req).await;
    };
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let cookie = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().strip_prefix("breakfix_token="))
        .map(str::to_string)
        .next();
    let by_query = q.token.as_deref() == Some(want.as_str());
    if by_query || bearer.as_deref() == Some(&want) || cookie.as_deref() == Some(&want) {
        let mut resp = next.run(req).await;
        if by_query {
            let c = format!("breakfix_token={want}; HttpOnly; SameSite=Strict; Path=/");
            if let Ok(v) = HeaderValue::from_str(&c) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
        }
        return resp;
    }
    (
        StatusCode::UNAUTHORIZED,
        "breakfix serve needs its token: open the address it printed (with ?token=...), or send `Authorization: Bearer <token>`\n",
    )
        .into_response()
}

fn views(app: &Shared) -> Vec<SessionView> {
    app.views
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .cloned()
        .collect()
}

async fn index(State(app): State<Shared>) -> Html<String> {
    refresh_sessions(&app);
    Html(page::index(&views(&app)))
}

async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        page::SCRIPT,
    )
}

async fn api_sessions(State(app): State<Shared>) -> impl IntoResponse {
    refresh_sessions(&app);
    axum::Json(views(&app))
}

fn not_found(id: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Html(page::message(&format!(
            "No session `{id}` in this state directory."
        ))),
    )
        .into_response()
}

async fn session_page(State(app): State<Shared>, Path(id): Path<String>) -> Response {
    refresh_sessions(&app);
    let view = app
        .views
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .get(&id)
        .cloned();
    let terminal = app
        .store
        .load(&id)
        .ok()
        .filter(|s| s.is_live())
        .and_then(|s| {
            s.workstation.as_ref()?;
            let link = s
                .candidate_token
                .as_ref()
                .map(|t| format!("{}/c/{t}", app.base_url));
            Some(link)
        });
    match view {
        Some(v) => Html(page::session(
            &v,
            &app.form_key,
            terminal.as_ref().map(|l| l.as_deref()),
        ))
        .into_response(),
        None => not_found(&id),
    }
}

/// The last saved grade, with the notes added since; before any grade, what the last round saw.
async fn report_page(State(app): State<Shared>, Path(id): Path<String>) -> Response {
    if app.store.load(&id).is_err() {
        return not_found(&id);
    }
    match engine::last_report(&app.store, &id) {
        Ok(r) => {
            let replays = crate::recording::replays(&app.store.dir(&id));
            let extras = crate::report::html::Extras {
                replays: &replays,
                xterm: app
                    .xterm
                    .as_ref()
                    .ok()
                    .map(|x| (x.script.as_str(), x.style.as_str())),
            };
            Html(crate::report::html::render_with(&r, &extras)).into_response()
        }
        Err(EngineError::NeverGraded { .. }) => Html(page::message(
            "Not graded yet. `breakfix grade` grades the session (with settling time for each check); the dashboard shows the live rounds meanwhile.",
        ))
        .into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Html(page::message(&format!("failed to {e}"))),
        )
            .into_response(),
    }
}

#[derive(Deserialize)]
struct NoteForm {
    key: String,
    text: String,
    #[serde(default)]
    competency: String,
    #[serde(default)]
    mark: String,
}

async fn add_note(
    State(app): State<Shared>,
    Path(id): Path<String>,
    Form(f): Form<NoteForm>,
) -> Response {
    if f.key != app.form_key {
        return (
            StatusCode::FORBIDDEN,
            Html(page::message(
                "This form is from another dashboard (or an old page): reload the page and add the note again.",
            )),
        )
            .into_response();
    }
    let pick = |s: &str| -> Option<serde_json::Value> {
        (!s.is_empty()).then(|| serde_json::Value::String(s.into()))
    };
    let competency: Option<Competency> =
        pick(&f.competency).and_then(|v| serde_json::from_value(v).ok());
    let mark: Option<Mark> = pick(&f.mark).and_then(|v| serde_json::from_value(v).ok());
    let text = f.text.trim();
    if text.is_empty() || (mark.is_some() && competency.is_none()) {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Html(page::message(
                "A note needs text, and a mark needs the competency it judges.",
            )),
        )
            .into_response();
    }
    let note = Note {
        at: OffsetDateTime::now_utc(),
        competency,
        mark,
        text: text.into(),
    };
    match engine::add_note(&app.store, &id, note) {
        Ok(_) => {
            refresh_sessions(&app);
            publish_current(&app, &id);
            Redirect::to(&format!("/s/{id}")).into_response()
        }
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Html(page::message(&format!("failed to {e}"))),
        )
            .into_response(),
    }
}

/// Every session as it stands, then each round as it lands.
async fn events(State(app): State<Shared>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = app.tx.subscribe();
    let initial: Vec<String> = views(&app)
        .iter()
        .map(|v| serde_json::to_string(v).unwrap_or_default())
        .collect();
    let first = futures_util::stream::iter(
        initial
            .into_iter()
            .map(|j| Ok(Event::default().event("session").data(j))),
    );
    let rest = futures_util::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(j) => return Some((Ok(Event::default().event("session").data(j)), rx)),
                // A slow page missed rounds: the next one carries the whole state anyway.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(futures_util::StreamExt::chain(first, rest)).keep_alive(KeepAlive::default())
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    fn never_connects() -> Connector {
        Arc::new(|_, _| {
            Box::pin(async {
                Err(EngineError::Action {
                    what: "connect".into(),
                    service: "-".into(),
                    detail: "not in this test".into(),
                })
            })
        })
    }

    fn app(token: Option<&str>) -> (tempfile::TempDir, Shared) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let app = new_app(
            store,
            never_connects(),
            token.map(str::to_string),
            Duration::from_secs(1),
            Err("not in this test".into()),
            "http://127.0.0.1:7878".into(),
        );
        (dir, app)
    }

    async fn get_status(app: &Shared, req: Request<Body>) -> (StatusCode, HeaderMap, String) {
        let resp = router(app.clone()).oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, headers, String::from_utf8_lossy(&body).into_owned())
    }

    fn session(dir: &std::path::Path, id: &str, candidate: &str) {
        let store = Store::open(dir).unwrap();
        let mut s: Session = serde_json::from_value(serde_json::json!({
            "format-version": 1, "id": id, "scenario": "crashloop-docker",
            "package": "/nonexistent", "candidate": candidate, "backend": "docker",
            "status": "stopped", "created-at": "2026-11-20T09:00:00Z",
            "time-limit-secs": 1800, "workspace": "/w", "pid": 1
        }))
        .unwrap();
        s.ready_at = Some(time::macros::datetime!(2026-11-20 09:01:00 UTC));
        store.save(&s).unwrap();
    }

    #[tokio::test]
    async fn on_loopback_without_a_token_the_pages_are_open() {
        let (dir, app) = app(None);
        session(dir.path(), "s-1", "Ada <b>Lovelace</b>");
        let (st, _, body) = get_status(&app, Request::get("/").body(Body::empty()).unwrap()).await;
        assert_eq!(st, StatusCode::OK);
        assert!(body.contains("Ada &lt;b&gt;Lovelace&lt;/b&gt;"), "{body}");
        assert!(body.contains("<script src=\"/app.js\">"));
    }

    #[tokio::test]
    async fn with_a_token_a_request_without_it_is_refused_and_one_with_it_is_served() {
        let (_dir, app) = app(Some("s3cret"));
        let (st, _, body) = get_status(&app, Request::get("/").body(Body::empty()).unwrap()).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
        assert!(body.contains("needs its token"));
        let wrong = Request::get("/api/sessions")
            .header("authorization", "Bearer nope")
            .body(Body::empty())
            .unwrap();
        assert_eq!(get_status(&app, wrong).await.0, StatusCode::UNAUTHORIZED);
        let bearer = Request::get("/api/sessions")
            .header("authorization", "Bearer s3cret")
            .body(Body::empty())
            .unwrap();
        assert_eq!(get_status(&app, bearer).await.0, StatusCode::OK);
        // The token in the address sets a same-site cookie the page's later requests carry.
        let (st, headers, _) = get_status(
            &app,
            Request::get("/?token=s3cret").body(Body::empty()).unwrap(),
        )
        .await;
        assert_eq!(st, StatusCode::OK);
        let cookie = headers.get("set-cookie").unwrap().to_str().unwrap();
        assert!(cookie.contains("breakfix_token=s3cret") && cookie.contains("SameSite=Strict"));
        let with_cookie = Request::get("/app.js")
            .header("cookie", "other=1; breakfix_token=s3cret")
            .body(Body::empty())
            .unwrap();
        assert_eq!(get_status(&app, with_cookie).await.0, StatusCode::OK);
    }

    fn note_form(key: &str) -> Request<Body> {
        Request::post("/s/s-1/notes")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(format!(
                "key={key}&text=Read+the+logs+first&competency=incident-response&mark=strong"
            )))
            .unwrap()
    }

    #[tokio::test]
    async fn a_note_needs_the_dashboards_form_key_and_then_lands_in_the_session() {
        let (dir, app) = app(None);
        session(dir.path(), "s-1", "Ada");
        let (st, _, _) = get_status(&app, note_form("forged")).await;
        assert_eq!(st, StatusCode::FORBIDDEN);
        assert!(app.store.load("s-1").unwrap().notes.is_empty());
        let key = app.form_key.clone();
        let (st, headers, _) = get_status(&app, note_form(&key)).await;
        assert_eq!(st, StatusCode::SEE_OTHER);
        assert_eq!(headers.get("location").unwrap(), "/s/s-1");
        let notes = app.store.load("s-1").unwrap().notes;
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0].text, "Read the logs first");
        assert_eq!(notes[0].mark, Some(Mark::Strong));
        assert_eq!(notes[0].competency, Some(Competency::IncidentResponse));
    }

    #[tokio::test]
    async fn a_mark_without_a_competency_is_refused() {
        let (dir, app) = app(None);
        session(dir.path(), "s-1", "Ada");
        let req = Request::post("/s/s-1/notes")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(format!("key={}&text=x&mark=weak", app.form_key)))
            .unwrap();
        assert_eq!(
            get_status(&app, req).await.0,
            StatusCode::UNPROCESSABLE_ENTITY
        );
    }
}
