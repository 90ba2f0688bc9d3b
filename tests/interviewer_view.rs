//! What the interviewer sees while a session is live: `watch`, and the timeline it records.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;

fn start(env: &Env) -> (String, PathBuf) {
    start_classic(env, &[])
}

#[test]
fn watch_shows_the_checks_turn_green_after_the_fix_and_records_when() {
    let env = Env::new();
    let (id, ws) = start(&env);
    let mut watch = env
        .cmd(&["watch", &id, "--interval", "1s", "--until-passing"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn watch");
    let mut lines = BufReader::new(watch.stdout.take().unwrap()).lines();

    // The first round shows every scored check failing.
    let first = lines.next().expect("a line").expect("utf-8");
    assert!(first.contains(" fail "), "{first}");

    copy_solution("crashloop-docker", &ws);
    env.expect(&["apply", &id], EXIT_OK);

    let deadline = Instant::now() + Duration::from_secs(180);
    let mut seen = vec![first];
    while Instant::now() < deadline {
        match watch.try_wait().unwrap() {
            Some(status) => {
                assert_eq!(status.code(), Some(0), "{seen:#?}");
                break;
            }
            None => std::thread::sleep(Duration::from_millis(200)),
        }
    }
    if watch.try_wait().unwrap().is_none() {
        let _ = watch.kill();
        panic!("watch did not see every check pass within 3 minutes");
    }
    seen.extend(lines.map_while(Result::ok));
    assert!(
        seen.iter().any(|l| l.contains(" pass web-stays-up")),
        "{seen:#?}"
    );

    // What watch saw is in the session's timeline, with the time each check first passed.
    let r = env.json(&["grade", &id, "--json"], EXIT_OK);
    let timeline = r["timeline"].as_array().unwrap();
    assert!(
        timeline.iter().any(|e| e["kind"] == "check-passed"
            && e["detail"].as_str().unwrap().contains("seen by watch")),
        "{timeline:#?}"
    );
    for c in r["checks"].as_array().unwrap() {
        assert!(c["first-passed-secs"].is_u64(), "{c:#}");
    }
    env.expect(&["stop", &id], EXIT_OK);
}

/// Headless chromium driven over the DevTools protocol: enough to open a page and read it.
mod browser {
    use std::io::{BufRead, BufReader};
    use std::process::{Child, Command, Stdio};
    use std::time::Duration;

    use futures_util::{SinkExt, StreamExt};
    use serde_json::{Value, json};
    use tokio_tungstenite::tungstenite::Message;

    type Ws = tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >;

    pub struct Browser {
        child: Child,
        ws: Ws,
        next: u64,
        _profile: tempfile::TempDir,
    }

    impl Drop for Browser {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    impl Browser {
        pub async fn launch() -> Browser {
            let profile = tempfile::tempdir().unwrap();
            let mut child = Command::new("chromium")
                .args([
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--no-first-run",
                    "--remote-debugging-port=0",
                    "about:blank",
                ])
                .arg(format!("--user-data-dir={}", profile.path().display()))
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("chromium is installed (Debian package `chromium`)");
            let (tx, rx) = std::sync::mpsc::channel();
            let stderr = child.stderr.take().unwrap();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Some(i) = line.find("ws://") {
                        let _ = tx.send(line[i..].trim().to_string());
                    }
                }
            });
            let url = rx
                .recv_timeout(Duration::from_secs(60))
                .expect("chromium printed its DevTools address");
            let (ws, _) = tokio_tungstenite::connect_async(url.as_str())
                .await
                .expect("connect to DevTools");
            Browser {
                child,
                ws,
                next: 0,
                _profile: profile,
            }
        }

        pub async fn call(&mut self, method: &str, params: Value, session: Option<&str>) -> Value {
            self.request(method, params, session)
                .await
                .unwrap_or_else(|e| panic!("{method}: {e}"))
        }

        /// Sends one command; its result, or the error DevTools answered with.
        async fn request(
            &mut self,
            method: &str,
            params: Value,
            session: Option<&str>,
        ) -> Result<Value, Value> {
            self.next += 1;
            let id = self.next;
            let mut msg = json!({"id": id, "method": method, "params": params});
            if let Some(s) = session {
                msg["sessionId"] = json!(s);
            }
            self.ws
                .send(Message::Text(msg.to_string().into()))
                .await
                .unwrap();
            loop {
                let m = tokio::time::timeout(Duration::from_secs(30), self.ws.next())
                    .await
                    .unwrap_or_else(|_| panic!("DevTools did not answer {method}"))
                    .expect("DevTools connection open")
                    .unwrap();
                let Message::Text(t) = m else { continue };
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["id"] == json!(id) {
                    return match v.get("error") {
                        Some(e) => Err(e.clone()),
                        None => Ok(v["result"].clone()),
                    };
                }
            }
        }

        /// Opens a tab on `url`; returns the session to talk to it.
        pub async fn open(&mut self, url: &str) -> String {
            let t = self
                .call("Target.createTarget", json!({"url": url}), None)
                .await;
            let s = self
                .call(
                    "Target.attachToTarget",
                    json!({"targetId": t["targetId"], "flatten": true}),
                    None,
                )
                .await;
            s["sessionId"].as_str().unwrap().to_string()
        }

        pub async fn eval(&mut self, session: &str, expression: &str) -> Value {
            self.try_eval(session, expression)
                .await
                .unwrap_or_else(|e| panic!("Runtime.evaluate: {e}"))
        }

        /// The expression's value, or the error DevTools answered with.
        async fn try_eval(&mut self, session: &str, expression: &str) -> Result<Value, Value> {
            let r = self
                .request(
                    "Runtime.evaluate",
                    json!({"expression": expression, "returnByValue": true}),
                    Some(session),
                )
                .await?;
            Ok(r["result"]["value"].clone())
        }

        /// Evaluates until it yields `want`, or panics after `deadline` with the last value.
        pub async fn wait_for(
            &mut self,
            session: &str,
            expression: &str,
            want: Value,
            deadline: Duration,
        ) {
            let start = std::time::Instant::now();
            let mut last = Value::Null;
            while start.elapsed() < deadline {
                // Mid-navigation the page's context can be gone for a moment: try again.
                last = self
                    .try_eval(session, expression)
                    .await
                    .unwrap_or_else(|e| e);
                if last == want {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            panic!("`{expression}` was {last} after {deadline:?}, wanted {want}");
        }
    }
}

/// Spawns `breakfix serve` on a free port; returns it and its address.
fn serve(env: &Env) -> (std::process::Child, String) {
    let mut child = env
        .cmd(&["serve", "--bind", "127.0.0.1:0", "--interval", "1s"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("dashboard on ")
        .unwrap_or_else(|| panic!("serve printed {line:?}"))
        .to_string();
    (child, url)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_turns_a_check_green_without_reloading_the_page() {
    let env = Env::new();
    let (id, ws) = tokio::task::block_in_place(|| start(&env));
    let (mut server, url) = serve(&env);
    let mut b = browser::Browser::launch().await;
    let page = b.open(&url).await;
    let status = r#"(document.querySelector('[data-check="web-stays-up"]') || {dataset: {}}).dataset.status || null"#;

    // The page connects to the event stream and shows the broken state.
    b.wait_for(
        &page,
        "document.getElementById('conn').dataset.state",
        "live".into(),
        Duration::from_secs(30),
    )
    .await;
    b.wait_for(&page, status, "fail".into(), Duration::from_secs(90))
        .await;
    // A reload would lose this.
    b.eval(&page, "window.loadedOnce = 'yes'").await;

    // The session's own Docker endpoint (the one start left for the workstation) answers,
    // and only one serves it.
    tokio::task::block_in_place(|| {
        let sock = env
            .state
            .path()
            .join("sessions")
            .join(&id)
            .join("endpoint")
            .join("docker.sock");
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while !sock.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(200));
        }
        let ps = std::process::Command::new("docker")
            .args(["ps", "--format", "{{.Names}}"])
            .env("DOCKER_HOST", format!("unix://{}", sock.display()))
            .output()
            .expect("run docker");
        let names = String::from_utf8_lossy(&ps.stdout);
        assert!(
            names.lines().any(|n| n == format!("bf-{id}-web")),
            "{names}{}",
            String::from_utf8_lossy(&ps.stderr)
        );
        assert!(
            names.lines().all(|n| n.starts_with(&format!("bf-{id}-"))),
            "{names}"
        );
        let second = env.expect(&["docker-endpoint", &id], 1);
        let err = String::from_utf8_lossy(&second.stderr);
        assert!(err.contains("already serves it"), "{err}");
    });

    tokio::task::block_in_place(|| {
        copy_solution("crashloop-docker", &ws);
        env.expect(&["apply", &id], EXIT_OK);
    });
    b.wait_for(&page, status, "pass".into(), Duration::from_secs(180))
        .await;
    assert_eq!(b.eval(&page, "window.loadedOnce").await, "yes");
    let first = b
        .eval(
            &page,
            r#"document.querySelector('[data-check="web-stays-up"] .sum').textContent"#,
        )
        .await;
    assert!(first.as_str().unwrap().contains("first passed"), "{first}");

    // A note added from the page lands in the session, labelled as the interviewer's.
    let note_page = b.open(&format!("{url}s/{id}")).await;
    // A new tab is `about:blank` (readyState "complete") until the page commits: wait for
    // the form itself.
    b.wait_for(
        &note_page,
        "document.readyState === 'complete' && document.querySelector('form.note') !== null",
        true.into(),
        Duration::from_secs(30),
    )
    .await;
    let sent = b
        .eval(
            &note_page,
            "document.querySelector('textarea[name=text]').value = 'Checked the logs first'; \
         document.querySelector('select[name=competency]').value = 'incident-response'; \
         document.querySelector('select[name=mark]').value = 'strong'; \
         document.querySelector('form.note').submit(); 'sent'",
        )
        .await;
    assert_eq!(sent, "sent", "the note form could not be filled in");
    b.wait_for(
        &note_page,
        "document.body.innerText.includes('Checked the logs first')",
        true.into(),
        Duration::from_secs(30),
    )
    .await;
    let _ = server.kill();
    let _ = server.wait();
    tokio::task::block_in_place(|| {
        let shown = env.json(&["show", &id, "--json"], EXIT_OK);
        let notes = &shown["session"]["notes"];
        assert_eq!(notes[0]["text"], "Checked the logs first", "{notes:#}");
        assert_eq!(notes[0]["mark"], "strong");
        env.expect(&["stop", &id], EXIT_OK);
    });
}

#[test]
fn a_recorded_shell_saves_an_asciicast_and_its_commands_join_the_timeline() {
    use std::io::Write;
    let env = Env::new();
    let (id, _) = start(&env);
    let mut shell = env
        .cmd(&["shell", &id, "orders", "--json"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn shell");
    shell
        .stdin
        .take()
        .unwrap()
        .write_all(b"echo marker-$((6*7))\ncat /etc/hostname\n")
        .unwrap();
    // End of input is Ctrl-D: the shell exits as it would on a terminal.
    let out = shell.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("marker-42"), "{stdout}");
    let summary: serde_json::Value =
        serde_json::from_str(&stdout[stdout.rfind("{\n").expect("JSON summary")..]).unwrap();
    assert_eq!(summary["commands"], 2, "{summary:#}");

    // The recording is asciicast v2: a header, then timed events with what was shown.
    let cast = std::fs::read_to_string(summary["recording"].as_str().unwrap()).unwrap();
    let mut lines = cast.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header["version"], 2);
    assert!(header["width"].as_u64().unwrap() > 0);
    let events: Vec<serde_json::Value> = lines.map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(
        events
            .iter()
            .all(|e| e[0].is_f64() && e[1].is_string() && e[2].is_string())
    );
    assert!(
        events
            .iter()
            .any(|e| e[1] == "o" && e[2].as_str().unwrap().contains("marker-42"))
    );

    // The report lists the commands, with the service and the time, in the timeline too.
    let r = env.json(&["grade", &id, "--json"], EXIT_CHECKS_FAILED);
    let commands: Vec<&str> = r["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["command"].as_str().unwrap())
        .collect();
    assert_eq!(commands, ["echo marker-$((6*7))", "cat /etc/hostname"]);
    assert_eq!(r["commands"][0]["target"], "orders");
    assert!(r["milestones"]["first-command-secs"].is_u64());
    assert!(
        r["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "command" && e["detail"] == "orders$ cat /etc/hostname"),
        "{:#}",
        r["timeline"]
    );

    // A service the scenario does not have is named, with the ones it has.
    let bad = env.expect(&["shell", &id, "nope"], 1);
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(
        err.contains("no such service") && err.contains("orders"),
        "{err}"
    );
    env.expect(&["stop", &id], EXIT_OK);
}

/// Spawns `breakfix serve` with an interviewers' token; returns it, its base address and the
/// token.
fn serve_with_token(env: &Env) -> (std::process::Child, String, String) {
    let token = "interviewers-only-7c1f";
    let mut child = env
        .cmd(&[
            "serve",
            "--bind",
            "127.0.0.1:0",
            "--interval",
            "1s",
            "--token",
            token,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("dashboard on ")
        .and_then(|u| u.strip_suffix(&format!("/?token={token}")))
        .unwrap_or_else(|| panic!("serve printed {line:?}"))
        .to_string();
    (child, url, token.to_string())
}

/// Brings `tab` to the front: a tab behind another draws nothing (no animation frames).
async fn front(b: &mut browser::Browser, tab: &str) {
    b.call("Page.bringToFront", serde_json::json!({}), Some(tab))
        .await;
}

/// Types `text` key by key, as a person would, into the focused terminal of `tab`.
async fn type_keys(b: &mut browser::Browser, tab: &str, text: &str) {
    front(b, tab).await;
    for c in text.chars() {
        let key = c.to_string();
        b.call(
            "Input.dispatchKeyEvent",
            serde_json::json!({"type": "keyDown", "key": key, "text": key, "unmodifiedText": key}),
            Some(tab),
        )
        .await;
        b.call(
            "Input.dispatchKeyEvent",
            serde_json::json!({"type": "keyUp", "key": key}),
            Some(tab),
        )
        .await;
    }
    for kind in ["keyDown", "keyUp"] {
        b.call(
            "Input.dispatchKeyEvent",
            serde_json::json!({"type": kind, "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13, "text": "\r"}),
            Some(tab),
        )
        .await;
    }
}

/// The terminal's rows as text (the renderer writes spaces as no-break spaces).
const SCREEN: &str = "(document.querySelector('#terminal .xterm-rows') || {innerText: ''}).innerText.replace(/\\u00a0/g, ' ')";

fn screen_has(text: &str) -> String {
    format!(
        "{SCREEN}.includes({})",
        serde_json::to_string(text).unwrap()
    )
}

fn http_status(url: &str) -> String {
    let out = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", url])
        .output()
        .expect("run curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_candidates_browser_terminal_reaches_only_its_session_is_recorded_and_watched_live() {
    let env = Env::new();
    let (a, _) = tokio::task::block_in_place(|| start(&env));
    let b_id = tokio::task::block_in_place(|| {
        let v = env.json(
            &["start", "crashloop-docker", "--seed", "other-5", "--json"],
            EXIT_OK,
        );
        v["session"].as_str().unwrap().to_string()
    });
    let (mut server, base, token) = serve_with_token(&env);
    let (link, b_link) = tokio::task::block_in_place(|| {
        let link = |id: &str| {
            env.json(&["status", id, "--json"], EXIT_OK)["candidate-url"]
                .as_str()
                .unwrap_or_else(|| panic!("no candidate-url for {id}"))
                .to_string()
        };
        (link(&a), link(&b_id))
    });
    assert!(link.starts_with(&format!("{base}/c/")), "{link}");
    assert_ne!(link, b_link);

    // The candidate's link opens their page and nothing of the interviewers'.
    let secret = link.rsplit('/').next().unwrap().to_string();
    tokio::task::block_in_place(|| {
        assert_eq!(http_status(&link), "200");
        assert_eq!(http_status(&format!("{base}/c/{secret}x")), "404");
        for page in [
            "/",
            "/api/sessions",
            &format!("/s/{a}"),
            &format!("/s/{a}/report"),
        ] {
            assert_eq!(
                http_status(&format!("{base}{page}?token={secret}")),
                "401",
                "{page} opened with the candidate's link"
            );
        }
    });

    let mut b = browser::Browser::launch().await;
    let cand = b.open(&link).await;
    b.wait_for(
        &cand,
        "(document.getElementById('terminal') || {dataset: {}}).dataset.keyboard || null",
        "candidate".into(),
        Duration::from_secs(60),
    )
    .await;
    b.wait_for(
        &cand,
        &screen_has("candidate@"),
        true.into(),
        Duration::from_secs(30),
    )
    .await;
    b.eval(
        &cand,
        "document.querySelector('.xterm-helper-textarea').focus()",
    )
    .await;

    // Typed key by key: the engine's CLI lists this session's services, no one else's.
    type_keys(&mut b, &cand, "docker ps --format '{{.Names}}'").await;
    b.wait_for(
        &cand,
        &screen_has(&format!("bf-{a}-orders")),
        true.into(),
        Duration::from_secs(30),
    )
    .await;
    let shown = b.eval(&cand, SCREEN).await;
    let shown = shown.as_str().unwrap();
    assert!(shown.contains(&format!("bf-{a}-web")), "{shown}");
    assert!(
        !shown.contains(&b_id),
        "another session's container: {shown}"
    );
    assert!(!shown.contains("workstation"), "{shown}");

    // The command joins the timeline as it is entered, while the shell is still open.
    tokio::task::block_in_place(|| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = env.json(&["show", &a, "--json"], EXIT_OK);
            let joined = v["session"]["commands"].as_array().is_some_and(|c| {
                c.iter()
                    .any(|c| c["command"] == "docker ps --format '{{.Names}}'")
            });
            if joined {
                break;
            }
            assert!(Instant::now() < deadline, "not in the timeline: {v:#}");
            std::thread::sleep(Duration::from_millis(300));
        }
    });

    // The interviewer's page mirrors it, replaying what was already on the screen.
    let mirror = b.open(&format!("{base}/s/{a}?token={token}")).await;
    b.wait_for(
        &mirror,
        &screen_has(&format!("bf-{a}-orders")),
        true.into(),
        Duration::from_secs(60),
    )
    .await;
    // ... and follows live.
    type_keys(&mut b, &cand, "echo live-$((6*7))").await;
    front(&mut b, &mirror).await;
    b.wait_for(
        &mirror,
        &screen_has("live-42"),
        true.into(),
        Duration::from_secs(30),
    )
    .await;

    // A paste is an integrity signal, with what was pasted; so is the page losing focus.
    front(&mut b, &cand).await;
    b.eval(
        &cand,
        r#"(() => { const dt = new DataTransfer(); dt.setData('text/plain', 'echo pasted-$((2+3))');
            document.querySelector('.xterm-helper-textarea').dispatchEvent(new ClipboardEvent('paste', {clipboardData: dt, bubbles: true, cancelable: true})); })()"#,
    )
    .await;
    type_keys(&mut b, &cand, "").await;
    b.wait_for(
        &cand,
        &screen_has("pasted-5"),
        true.into(),
        Duration::from_secs(30),
    )
    .await;
    b.eval(
        &cand,
        "window.dispatchEvent(new Event('blur')); window.dispatchEvent(new Event('focus'))",
    )
    .await;

    // Pairing: the interviewer takes the keyboard; what they type runs, and it is recorded.
    front(&mut b, &mirror).await;
    b.eval(&mirror, "document.getElementById('take-keyboard').click()")
        .await;
    front(&mut b, &cand).await;
    b.wait_for(
        &cand,
        "document.getElementById('terminal').dataset.keyboard",
        "interviewer".into(),
        Duration::from_secs(30),
    )
    .await;
    b.eval(
        &mirror,
        "document.querySelector('.xterm-helper-textarea').focus()",
    )
    .await;
    type_keys(&mut b, &mirror, "echo from-the-interviewer").await;
    front(&mut b, &cand).await;
    b.wait_for(
        &cand,
        &screen_has("from-the-interviewer"),
        true.into(),
        Duration::from_secs(30),
    )
    .await;
    b.eval(&mirror, "document.getElementById('take-keyboard').click()")
        .await;

    // The candidate leaves the shell: the recording holds every key, the commands join the
    // timeline, the signals are there with what was pasted.
    b.eval(
        &cand,
        "document.querySelector('.xterm-helper-textarea').focus()",
    )
    .await;
    type_keys(&mut b, &cand, "exit").await;
    let session = tokio::task::block_in_place(|| {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let v = env.json(&["show", &a, "--json"], EXIT_OK);
            let closed =
                v["session"]["events"].as_array().unwrap().iter().any(|e| {
                    e["kind"] == "shell" && e["detail"].as_str().unwrap().contains("closed")
                });
            if closed || Instant::now() > deadline {
                return v["session"].clone();
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    let events: Vec<(String, String)> = session["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_string(),
                e["detail"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let has = |kind: &str, part: &str| events.iter().any(|(k, d)| k == kind && d.contains(part));
    assert!(has("signal", "echo pasted-$((2+3))"), "{events:#?}");
    assert!(has("signal", "lost focus"), "{events:#?}");
    assert!(has("signal", "regained focus"), "{events:#?}");
    assert!(has("pairing", "took the keyboard"), "{events:#?}");
    assert!(has("pairing", "gave the keyboard back"), "{events:#?}");
    assert!(has("shell", "closed"), "{events:#?}");
    assert!(
        !events
            .iter()
            .any(|(k, d)| k == "signal" && d.contains("docker ps")),
        "typing was flagged: {events:#?}"
    );
    let commands: Vec<&str> = session["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["command"].as_str().unwrap())
        .collect();
    assert!(
        commands.contains(&"docker ps --format '{{.Names}}'"),
        "{commands:?}"
    );
    let cast_name = session["commands"][0]["recording"].as_str().unwrap();
    let cast = std::fs::read_to_string(env.state.path().join("sessions").join(&a).join(cast_name))
        .unwrap();
    let inputs: String = cast
        .lines()
        .skip(1)
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e[1] == "i")
        .map(|e| e[2].as_str().unwrap().to_string())
        .collect();
    assert!(inputs.contains("docker ps --format"), "{inputs:?}");
    assert!(inputs.contains("from-the-interviewer"), "{inputs:?}");
    assert!(cast.contains(&format!("bf-{a}-orders")));

    // The report shows the signals apart, with what was pasted.
    let report =
        tokio::task::block_in_place(|| env.json(&["grade", &a, "--json"], EXIT_CHECKS_FAILED));
    let signals = report["signals"].to_string();
    assert!(signals.contains("echo pasted-$((2+3))"), "{report:#}");
    assert!(signals.contains("took the keyboard"), "{report:#}");
    // The scenario's process signals, matched on what was typed in the terminal.
    let process = |title: &str| {
        report["process-signals"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["title"].as_str().unwrap().starts_with(title))
            .unwrap_or_else(|| panic!("no process signal {title}: {report:#}"))
            .clone()
    };
    let looked = process("Looked at the containers' state");
    assert_eq!(looked["seen"], true, "{looked:#}");
    assert!(
        looked["by"].as_str().unwrap().contains("docker ps"),
        "{looked:#}"
    );
    assert_eq!(process("Read a service's log")["seen"], false);

    // The report page replays the recording, offline, in the page itself.
    let replay = b.open(&format!("{base}/s/{a}/report?token={token}")).await;
    front(&mut b, &replay).await;
    b.wait_for(
        &replay,
        "!!document.querySelector('[data-cast] .play')",
        true.into(),
        Duration::from_secs(30),
    )
    .await;
    b.eval(
        &replay,
        "(() => { const d = document.querySelector('[data-cast]'); d.open = true; d.querySelector('.speed').value = '8'; d.querySelector('.play').click(); })()",
    )
    .await;
    b.wait_for(
        &replay,
        &format!(
            "(document.querySelector('[data-cast] .xterm-rows') || {{innerText: ''}}).innerText.replace(/\\u00a0/g, ' ').includes({})",
            serde_json::to_string(&format!("bf-{a}-orders")).unwrap()
        ),
        true.into(),
        Duration::from_secs(60),
    )
    .await;

    // `breakfix connect` attaches the candidate's own terminal to a shell of the same
    // workstation, through the same link.
    tokio::task::block_in_place(|| {
        use std::io::Write;
        let mut child = env
            .cmd(&["connect", &link])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn connect");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(b"docker ps --format '{{.Names}}'\nexit\n")
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains(&format!("bf-{a}-orders")), "{text}");
        let bad = env.expect(&["connect", &format!("{base}/c/{secret}x")], 1);
        let err = String::from_utf8_lossy(&bad.stderr);
        assert!(err.contains("the link is not open"), "{err}");
    });

    // A link whose time is up opens nothing.
    tokio::task::block_in_place(|| {
        let file = env
            .state
            .path()
            .join("sessions")
            .join(&a)
            .join("session.json");
        let mut v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        v["ready-at"] = serde_json::json!("2020-01-01T00:00:00Z");
        std::fs::write(&file, v.to_string()).unwrap();
        assert_eq!(http_status(&link), "404");
        assert_eq!(http_status(&b_link), "200");
        env.expect(&["stop", &b_id], EXIT_OK);
        assert_eq!(http_status(&b_link), "404");
        env.expect(&["stop", &a], EXIT_OK);
    });
    let _ = server.kill();
    let _ = server.wait();
}
