//! The workstation's terminal in the browser. One shell per session lives in `breakfix serve`
//! (a [`Hub`]): the candidate's page types into it over a WebSocket, any number of
//! interviewers' pages mirror it read-only, and an interviewer may take the keyboard for
//! pairing. A page that reconnects gets the screen's recent output back and the same shell.
//! The shell is a recorded one ([`crate::engine::Engine::shell`]): every byte in and out goes
//! to the session's asciicast and the commands join the timeline when it ends. Pasted input,
//! input faster than typing and the page losing focus are recorded as signals.
//!
//! Over the socket, binary frames carry the terminal's bytes (keys to the shell, output to
//! the page); text frames carry JSON: from a page `{"resize":[cols,rows]}`, `{"focus":bool}`
//! and (interviewer) `{"take":bool}`; to a page `{"size":[cols,rows]}`,
//! `{"keyboard":"candidate"|"interviewer"}` and `{"ended":"why"}`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::ws::{Message, WebSocket};
use serde::Deserialize;
use tokio::sync::{broadcast, mpsc};

use crate::session::{EventKind, Store};

/// How much recent output a page that (re)connects is given back.
const SCROLLBACK: usize = 256 * 1024;
/// Printable characters in one chunk of input beyond which it did not come from typing.
const BURST: usize = 16;
/// How much of pasted text a signal quotes.
const QUOTE: usize = 300;
/// The most signals one shell records: a page that pastes in a loop does not fill the
/// session's record.
const MAX_SIGNALS: usize = 200;

/// What a page is told.
#[derive(Clone, Debug)]
pub(super) enum Out {
    Bytes(Vec<u8>),
    Size(u16, u16),
    Keyboard(bool),
    Ended(String),
}

/// Who is at the other end of a socket.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Seat {
    Candidate,
    Interviewer,
}

/// One session's shell, shared by every page that shows it.
pub(super) struct Hub {
    /// Recent output, and the channel to every page; one lock, so a page that joins gets
    /// each byte once: in the replay or in the stream, never both, never neither.
    screen: Mutex<(VecDeque<u8>, broadcast::Sender<Out>)>,
    keys: mpsc::Sender<Vec<u8>>,
    sizes: mpsc::UnboundedSender<(u16, u16)>,
    size: Mutex<(u16, u16)>,
    /// An interviewer holds the keyboard.
    taken: AtomicBool,
    ended: AtomicBool,
    signals: std::sync::atomic::AtomicUsize,
}

impl Hub {
    /// A hub and the keys and sizes its shell reads.
    pub(super) fn new(size: (u16, u16)) -> (Arc<Hub>, crate::recording::Keys) {
        let (keys, key_rx) = mpsc::channel(256);
        let (sizes, size_rx) = mpsc::unbounded_channel();
        let (tx, _) = broadcast::channel(1024);
        let hub = Arc::new(Hub {
            screen: Mutex::new((VecDeque::new(), tx)),
            keys,
            sizes,
            size: Mutex::new(size),
            taken: AtomicBool::new(false),
            ended: AtomicBool::new(false),
            signals: std::sync::atomic::AtomicUsize::new(0),
        });
        let keys = crate::recording::Keys {
            input: key_rx,
            resize: size_rx,
            end_with_eof: false,
        };
        (hub, keys)
    }

    /// Records a signal, up to [`MAX_SIGNALS`] for this shell (saying so at the bound).
    fn signal(&self, store: &Store, id: &str, detail: String) {
        match self.signals.fetch_add(1, Ordering::SeqCst) {
            n if n < MAX_SIGNALS => record(store, id, EventKind::Signal, detail),
            n if n == MAX_SIGNALS => record(
                store,
                id,
                EventKind::Signal,
                format!(
                    "more than {MAX_SIGNALS} signals from this shell: the rest are not recorded (the recording has every byte)"
                ),
            ),
            _ => {}
        }
    }

    pub(super) fn is_ended(&self) -> bool {
        self.ended.load(Ordering::SeqCst)
    }

    /// What the shell printed: kept for pages that join later, sent to those there now.
    pub(super) fn output(&self, bytes: &[u8]) {
        let mut screen = self.screen.lock().unwrap_or_else(|e| e.into_inner());
        screen.0.extend(bytes);
        let over = screen.0.len().saturating_sub(SCROLLBACK);
        screen.0.drain(..over);
        let _ = screen.1.send(Out::Bytes(bytes.to_vec()));
    }

    fn tell(&self, what: Out) {
        let screen = self.screen.lock().unwrap_or_else(|e| e.into_inner());
        let _ = screen.1.send(what);
    }

    pub(super) fn end(&self, why: &str) {
        self.ended.store(true, Ordering::SeqCst);
        self.tell(Out::Ended(why.to_string()));
    }

    /// The recent output and a subscription to what follows.
    fn join(&self) -> (Vec<u8>, broadcast::Receiver<Out>) {
        let screen = self.screen.lock().unwrap_or_else(|e| e.into_inner());
        (screen.0.iter().copied().collect(), screen.1.subscribe())
    }

    fn resize(&self, cols: u16, rows: u16) {
        let (cols, rows) = (cols.clamp(20, 500), rows.clamp(5, 200));
        *self.size.lock().unwrap_or_else(|e| e.into_inner()) = (cols, rows);
        let _ = self.sizes.send((cols, rows));
        self.tell(Out::Size(cols, rows));
    }
}

/// A terminal's output as an [`tokio::io::AsyncWrite`]: what the recorded shell writes to
/// its screen goes to the hub.
pub(super) struct HubScreen(pub Arc<Hub>);

impl tokio::io::AsyncWrite for HubScreen {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.0.output(buf);
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

#[derive(Deserialize)]
struct Control {
    resize: Option<(u16, u16)>,
    focus: Option<bool>,
    take: Option<bool>,
}

/// What a chunk of the candidate's input says about how it was entered, if anything:
/// a bracketed paste (the terminal marks pasted text when the shell asks it to), or more
/// printable characters at once than a person types between two frames.
pub fn input_signal(keys: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(keys);
    if let Some(start) = text.find("\u{1b}[200~") {
        let body = &text[start + 6..];
        let pasted = &body[..body.find("\u{1b}[201~").unwrap_or(body.len())];
        return Some(format!(
            "pasted {} characters: {}",
            pasted.chars().count(),
            quote(pasted)
        ));
    }
    let printable = text.chars().filter(|c| !c.is_control()).count();
    (printable >= BURST).then(|| {
        format!(
            "{printable} characters arrived at once, faster than typing: {}",
            quote(&text)
        )
    })
}

fn quote(text: &str) -> String {
    let shown: String = text
        .chars()
        .take(QUOTE)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let more = if text.chars().count() > QUOTE {
        " …"
    } else {
        ""
    };
    format!("«{}»{more}", shown.trim_end())
}

fn record(store: &Store, id: &str, kind: EventKind, detail: String) {
    let (store, id) = (store.clone(), id.to_string());
    tokio::task::spawn_blocking(move || {
        if let Err(e) = crate::engine::record_event(&store, &id, kind, &detail) {
            eprintln!("warning: failed to record `{detail}` in session {id}'s timeline: {e}");
        }
    });
}

fn text(value: serde_json::Value) -> Message {
    Message::Text(value.to_string().into())
}

/// Serves one page's socket until either side ends it.
pub(super) async fn attach(mut ws: WebSocket, hub: Arc<Hub>, seat: Seat, store: Store, id: String) {
    let (replay, mut rx) = hub.join();
    let (cols, rows) = *hub.size.lock().unwrap_or_else(|e| e.into_inner());
    let hello = [
        text(serde_json::json!({"size": [cols, rows]})),
        text(serde_json::json!({"keyboard": keyboard(&hub)})),
        Message::Binary(replay.into()),
    ];
    for m in hello {
        if ws.send(m).await.is_err() {
            return;
        }
    }
    if hub.is_ended() {
        let _ = ws
            .send(text(serde_json::json!({"ended": "the shell has ended"})))
            .await;
        return;
    }
    let mut blurred_at: Option<std::time::Instant> = None;
    loop {
        tokio::select! {
            out = rx.recv() => {
                let msg = match out {
                    Ok(Out::Bytes(b)) => Message::Binary(b.into()),
                    Ok(Out::Size(c, r)) => text(serde_json::json!({"size": [c, r]})),
                    Ok(Out::Keyboard(taken)) => text(serde_json::json!({"keyboard": holder(taken)})),
                    Ok(Out::Ended(why)) => {
                        let _ = ws.send(text(serde_json::json!({"ended": why}))).await;
                        return;
                    }
                    // A page too slow to keep up loses some output, not the session.
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                if ws.send(msg).await.is_err() {
                    return;
                }
            }
            got = ws.recv() => {
                let Some(Ok(msg)) = got else { return };
                let typing = match seat {
                    Seat::Candidate => true,
                    Seat::Interviewer => hub.taken.load(Ordering::SeqCst),
                };
                match msg {
                    Message::Binary(keys) if typing => {
                        if seat == Seat::Candidate
                            && let Some(signal) = input_signal(&keys)
                        {
                            hub.signal(&store, &id, signal);
                        }
                        if hub.keys.send(keys.to_vec()).await.is_err() {
                            return;
                        }
                    }
                    Message::Text(t) => {
                        let Ok(c) = serde_json::from_str::<Control>(&t) else { continue };
                        if let Some((cols, rows)) = c.resize
                            && typing
                        {
                            hub.resize(cols, rows);
                        }
                        if let (Some(focus), Seat::Candidate) = (c.focus, seat) {
                            let detail = match (focus, blurred_at.take()) {
                                (false, _) => {
                                    blurred_at = Some(std::time::Instant::now());
                                    "the candidate's page lost focus".to_string()
                                }
                                (true, Some(t)) => format!(
                                    "the candidate's page regained focus after {:.0} s",
                                    t.elapsed().as_secs_f64()
                                ),
                                (true, None) => continue,
                            };
                            hub.signal(&store, &id, detail);
                        }
                        if let (Some(take), Seat::Interviewer) = (c.take, seat)
                            && hub.taken.swap(take, Ordering::SeqCst) != take
                        {
                            let detail = if take {
                                "an interviewer took the keyboard"
                            } else {
                                "the interviewer gave the keyboard back"
                            };
                            record(&store, &id, EventKind::Pairing, detail.into());
                            hub.tell(Out::Keyboard(take));
                        }
                    }
                    Message::Close(_) => return,
                    _ => {}
                }
            }
        }
    }
}

fn keyboard(hub: &Hub) -> &'static str {
    holder(hub.taken.load(Ordering::SeqCst))
}

fn holder(taken: bool) -> &'static str {
    if taken { "interviewer" } else { "candidate" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bracketed_paste_is_a_signal_quoting_what_was_pasted() {
        let s = input_signal(b"\x1b[200~kubectl delete pod web\x1b[201~").unwrap();
        assert_eq!(s, "pasted 22 characters: «kubectl delete pod web»");
    }

    #[test]
    fn a_burst_of_input_is_a_signal_and_typing_is_not() {
        assert!(input_signal(b"l").is_none());
        assert!(input_signal(b"\x1b[A").is_none());
        assert!(input_signal(b"docker ps\r").is_none());
        let s = input_signal(b"docker logs --tail 50 web\r").unwrap();
        assert!(s.starts_with("25 characters arrived at once"), "{s}");
    }

    #[test]
    fn a_long_paste_is_quoted_in_part() {
        let long = format!("\x1b[200~{}\x1b[201~", "x".repeat(1000));
        let s = input_signal(long.as_bytes()).unwrap();
        assert!(s.starts_with("pasted 1000 characters"), "{s}");
        assert!(s.ends_with("» …"), "{s}");
        assert!(s.len() < 400, "{s}");
    }

    #[tokio::test]
    async fn a_page_that_joins_gets_recent_output_once_and_then_what_follows() {
        let (hub, _keys) = Hub::new((80, 24));
        hub.output(b"before");
        let (replay, mut rx) = hub.join();
        hub.output(b"after");
        assert_eq!(replay, b"before");
        match rx.recv().await.unwrap() {
            Out::Bytes(b) => assert_eq!(b, b"after"),
            other => panic!("{other:?}"),
        }
        hub.output(&vec![b'x'; SCROLLBACK + 10]);
        assert_eq!(hub.join().0.len(), SCROLLBACK);
    }
}
