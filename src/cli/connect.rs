//! `breakfix connect <link>`: the candidate's own terminal attached to the workstation shell
//! their link opens in the browser (the same shell, recorded the same way), over the same
//! WebSocket the page uses.

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use crate::recording::Keys;

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(
        "read the link `{0}`: give the candidate link `breakfix start` or `breakfix status` printed (http://HOST:PORT/c/SECRET)"
    )]
    Link(String),
    #[error("reach `{0}`: `breakfix connect` speaks plain http; open an https link in a browser")]
    Tls(String),
    #[error("connect to {url}")]
    Connect {
        url: String,
        #[source]
        source: tokio_tungstenite::tungstenite::Error,
    },
    #[error(
        "open the terminal: the link is not open (unknown, its session ended, or its time is up)"
    )]
    Closed,
}

/// The WebSocket address of a candidate link.
pub fn socket_url(link: &str) -> Result<String, ConnectError> {
    let bad = || ConnectError::Link(link.to_string());
    let rest = match link.split_once("://") {
        Some(("http", rest)) => rest,
        Some(("https", _)) => return Err(ConnectError::Tls(link.to_string())),
        _ => return Err(bad()),
    };
    let (host, path) = rest.split_once('/').ok_or_else(bad)?;
    let token = path
        .strip_prefix("c/")
        .ok_or_else(bad)?
        .trim_end_matches('/');
    let valid =
        !host.is_empty() && !token.is_empty() && token.chars().all(|c| c.is_ascii_alphanumeric());
    if !valid {
        return Err(bad());
    }
    Ok(format!("ws://{host}/c/{token}/tty"))
}

/// Attaches this terminal (or piped input, ended with Ctrl-D once quiet) to the shell.
/// Gives why the shell ended.
pub async fn run(link: &str) -> Result<String, ConnectError> {
    let url = socket_url(link)?;
    let note = "attached to the workstation's shell (recorded; leave with `exit`)";
    super::shell::attach(note, |size, keys| pump(url, size, keys)).await
}

async fn pump(url: String, size: (u16, u16), mut keys: Keys) -> Result<String, ConnectError> {
    use tokio::io::AsyncWriteExt;
    let (ws, _) = match tokio_tungstenite::connect_async(url.as_str()).await {
        Ok(c) => c,
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 404 => {
            return Err(ConnectError::Closed);
        }
        Err(source) => return Err(ConnectError::Connect { url, source }),
    };
    let (mut tx, mut rx) = ws.split();
    let resize = |(c, r): (u16, u16)| {
        Message::Text(serde_json::json!({"resize": [c, r]}).to_string().into())
    };
    let _ = tx.send(resize(size)).await;
    let mut screen = tokio::io::stdout();
    let mut typing = true;
    let mut eof = crate::recording::EndOfInput::default();
    loop {
        let eof_at = eof.at();
        tokio::select! {
            msg = rx.next() => match msg {
                Some(Ok(Message::Binary(b))) => {
                    let _ = screen.write_all(&b).await;
                    let _ = screen.flush().await;
                    eof.output_seen();
                }
                Some(Ok(Message::Text(t))) => {
                    let v: serde_json::Value = serde_json::from_str(&t).unwrap_or_default();
                    if let Some(why) = v["ended"].as_str() {
                        return Ok(why.to_string());
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => {
                    return Ok("the connection closed".into());
                }
                Some(Ok(_)) => {}
            },
            _ = tokio::time::sleep_until(eof_at), if eof.armed() => {
                let _ = tx.send(Message::Binary(b"\x04".to_vec().into())).await;
                eof.typed();
            }
            key = keys.input.recv(), if typing => match key {
                Some(bytes) => {
                    let _ = tx.send(Message::Binary(bytes.into())).await;
                }
                None => {
                    typing = false;
                    eof.input_ended(keys.end_with_eof);
                }
            },
            Some(size) = keys.resize.recv() => {
                let _ = tx.send(resize(size)).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_candidate_link_becomes_its_terminals_socket() {
        assert_eq!(
            socket_url("http://10.0.0.5:7878/c/0a1b2c").unwrap(),
            "ws://10.0.0.5:7878/c/0a1b2c/tty"
        );
        assert_eq!(
            socket_url("http://h/c/0a1b2c/").unwrap(),
            "ws://h/c/0a1b2c/tty"
        );
    }

    #[test]
    fn anything_else_is_refused_with_what_to_give() {
        for bad in [
            "10.0.0.5:7878/c/x",
            "http://h/s/crashloop",
            "http://h/c/",
            "http://h/c/a/../../s",
            "ftp://h/c/x",
        ] {
            let e = socket_url(bad).unwrap_err().to_string();
            assert!(e.contains("candidate link"), "{bad}: {e}");
        }
        assert!(
            socket_url("https://h/c/x")
                .unwrap_err()
                .to_string()
                .contains("browser")
        );
    }
}
