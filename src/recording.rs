//! Recorded shells: an interactive terminal in the sandbox, with everything it printed and
//! every key typed written as it happens to an asciicast v2 file (the format the standard
//! asciinema player plays), so a crash loses nothing already seen.

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use futures_util::StreamExt;
use tokio::io::{AsyncWrite, AsyncWriteExt};

use crate::backend::Terminal;

/// An asciicast v2 file being written.
pub struct Cast {
    file: std::fs::File,
    start: Instant,
    /// The tail of the last output chunk when it ended inside a UTF-8 sequence.
    partial: Vec<u8>,
}

impl Cast {
    /// Creates the file and writes its header.
    pub fn create(path: &Path, size: (u16, u16), title: &str) -> std::io::Result<Cast> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .open(path)?;
        let header = serde_json::json!({
            "version": 2,
            "width": size.0,
            "height": size.1,
            "timestamp": time::OffsetDateTime::now_utc().unix_timestamp(),
            "title": title,
            "env": {"TERM": "xterm-256color", "SHELL": "/bin/sh"},
        });
        writeln!(file, "{header}")?;
        Ok(Cast {
            file,
            start: Instant::now(),
            partial: vec![],
        })
    }

    fn event(&mut self, code: &str, data: &str) -> std::io::Result<()> {
        let t = self.start.elapsed().as_secs_f64();
        let line = serde_json::json!([(t * 1e6).round() / 1e6, code, data]);
        // One write per event: a reader (or a crash) never sees half a line.
        self.file.write_all(format!("{line}\n").as_bytes())
    }

    /// What the terminal printed. A UTF-8 sequence split across chunks is kept whole.
    pub fn output(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        let mut buf = std::mem::take(&mut self.partial);
        buf.extend_from_slice(bytes);
        let text = utf8_prefix(&mut buf);
        self.partial = buf;
        if text.is_empty() {
            return Ok(());
        }
        self.event("o", &text)
    }

    /// Keys typed.
    pub fn input(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.event("i", &String::from_utf8_lossy(bytes))
    }

    pub fn resize(&mut self, (cols, rows): (u16, u16)) -> std::io::Result<()> {
        self.event("r", &format!("{cols}x{rows}"))
    }
}

/// Takes the longest decodable prefix of `buf` as text, leaving an incomplete trailing
/// sequence in `buf`; invalid bytes become U+FFFD.
fn utf8_prefix(buf: &mut Vec<u8>) -> String {
    let mut out = String::new();
    let mut rest: &[u8] = buf;
    loop {
        match std::str::from_utf8(rest) {
            Ok(s) => {
                out.push_str(s);
                rest = &[];
                break;
            }
            Err(e) => {
                let (good, bad) = rest.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(good).unwrap_or_default());
                match e.error_len() {
                    Some(n) => {
                        out.push('\u{fffd}');
                        rest = &bad[n..];
                    }
                    None => {
                        rest = bad;
                        break;
                    }
                }
            }
        }
    }
    *buf = rest.to_vec();
    out
}

/// A recording to replay in an HTML report.
#[derive(Clone, Debug)]
pub struct Replay {
    /// `recordings/3-workstation.cast`.
    pub name: String,
    /// The asciicast text; empty when it was too large to embed.
    pub cast: String,
    pub bytes: u64,
}

/// The most of one recording a report embeds, and of all of them.
const REPLAY_MAX: u64 = 4 << 20;
const REPLAYS_MAX: u64 = 16 << 20;

/// The recordings in a session's folder, oldest first, for a report to replay. Recordings
/// beyond the size bounds are listed without their content.
pub fn replays(session_dir: &Path) -> Vec<Replay> {
    let dir = session_dir.join("recordings");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return vec![];
    };
    let mut found: Vec<(u64, String, u64)> = entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let number = name.split('-').next()?.parse::<u64>().ok()?;
            name.ends_with(".cast")
                .then(|| (number, name, e.metadata().map(|m| m.len()).unwrap_or(0)))
        })
        .collect();
    found.sort();
    let mut total = 0;
    found
        .into_iter()
        .map(|(_, name, bytes)| {
            let fits = bytes <= REPLAY_MAX && total + bytes <= REPLAYS_MAX;
            let cast = if fits {
                std::fs::read_to_string(dir.join(&name)).unwrap_or_default()
            } else {
                String::new()
            };
            total += cast.len() as u64;
            Replay {
                name: format!("recordings/{name}"),
                cast,
                bytes,
            }
        })
        .collect()
}

/// Where a recorded shell's keys and sizes come from.
pub struct Keys {
    /// Chunks of typed input; closed at end of input.
    pub input: tokio::sync::mpsc::Receiver<Vec<u8>>,
    /// New sizes of the user's terminal.
    pub resize: tokio::sync::mpsc::UnboundedReceiver<(u16, u16)>,
    /// Input is not a terminal (a script, a test): at its end, type Ctrl-D once the terminal
    /// is quiet (again after each quiet second), so the shell exits as it would on a
    /// terminal. Typed at once it would reach the terminal before the shell reads its lines.
    pub end_with_eof: bool,
}

/// When to type Ctrl-D after piped input has ended: once the terminal has been quiet for a
/// moment, and again after each longer quiet spell. Typed at once it would reach the
/// terminal before the shell reads the lines before it.
#[derive(Default)]
pub struct EndOfInput {
    due: Option<tokio::time::Instant>,
}

impl EndOfInput {
    const QUIET: std::time::Duration = std::time::Duration::from_millis(500);

    /// Input ended; a Ctrl-D is due only when it was not a terminal (`piped`).
    pub fn input_ended(&mut self, piped: bool) {
        if piped {
            self.due = Some(tokio::time::Instant::now() + Self::QUIET);
        }
    }

    /// The terminal printed something: wait for quiet again.
    pub fn output_seen(&mut self) {
        if self.due.is_some() {
            self.due = Some(tokio::time::Instant::now() + Self::QUIET);
        }
    }

    /// A Ctrl-D was just typed: the next one after a longer quiet spell.
    pub fn typed(&mut self) {
        self.due = Some(tokio::time::Instant::now() + Self::QUIET * 2);
    }

    pub fn armed(&self) -> bool {
        self.due.is_some()
    }

    /// When the next Ctrl-D is due (now, when none is).
    pub fn at(&self) -> tokio::time::Instant {
        self.due.unwrap_or_else(tokio::time::Instant::now)
    }
}

/// Pumps keys into the terminal and its output to `screen`, recording both, until the
/// program in the terminal exits. `entered` hears of each line entered (keys with a line end),
/// once the recording holds it.
pub async fn pump(
    term: Terminal,
    mut keys: Keys,
    mut screen: impl AsyncWrite + Unpin,
    cast: &mut Cast,
    entered: Option<tokio::sync::mpsc::UnboundedSender<()>>,
) -> std::io::Result<()> {
    let Terminal {
        mut output,
        mut input,
        resize,
        ..
    } = term;
    let mut typing = true;
    let mut eof = EndOfInput::default();
    loop {
        let eof_at = eof.at();
        tokio::select! {
            chunk = output.next() => match chunk {
                Some(bytes) => {
                    screen.write_all(&bytes).await?;
                    screen.flush().await?;
                    cast.output(&bytes)?;
                    eof.output_seen();
                }
                None => break,
            },
            _ = tokio::time::sleep_until(eof_at), if eof.armed() => {
                let _ = input.write_all(b"\x04").await;
                let _ = input.flush().await;
                eof.typed();
            },
            key = keys.input.recv(), if typing => match key {
                Some(bytes) => {
                    cast.input(&bytes)?;
                    if let Some(tx) = &entered
                        && bytes.iter().any(|b| *b == b'\r' || *b == b'\n')
                    {
                        let _ = tx.send(());
                    }
                    // The shell may be gone already; its output's end says so.
                    let _ = input.write_all(&bytes).await;
                    let _ = input.flush().await;
                }
                None => {
                    typing = false;
                    eof.input_ended(keys.end_with_eof);
                }
            },
            Some(size) = keys.resize.recv() => {
                let _ = resize.send(size);
                cast.resize(size)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_utf8_sequence_split_across_chunks_is_recorded_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r/1-web.cast");
        let mut cast = Cast::create(&path, (80, 24), "t").unwrap();
        let snow = "❄".as_bytes();
        cast.output(&[b'a', snow[0]]).unwrap();
        cast.output(&snow[1..]).unwrap();
        cast.output(&[0xff, b'b']).unwrap();
        cast.input(b"ls\r").unwrap();
        cast.resize((100, 30)).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["version"], 2);
        assert_eq!(
            (lines[0]["width"].as_u64(), lines[0]["height"].as_u64()),
            (Some(80), Some(24))
        );
        let data: Vec<(&str, &str)> = lines[1..]
            .iter()
            .map(|l| (l[1].as_str().unwrap(), l[2].as_str().unwrap()))
            .collect();
        assert_eq!(
            data,
            [
                ("o", "a"),
                ("o", "❄"),
                ("o", "\u{fffd}b"),
                ("i", "ls\r"),
                ("r", "100x30")
            ]
        );
        assert!(lines[1][0].as_f64().unwrap() <= lines[5][0].as_f64().unwrap());
    }

    #[test]
    fn a_recording_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1-web.cast");
        Cast::create(&path, (80, 24), "t").unwrap();
        assert!(Cast::create(&path, (80, 24), "t").is_err());
    }

    #[test]
    fn recordings_replay_in_the_order_they_were_made() {
        let dir = tempfile::tempdir().unwrap();
        let rec = dir.path().join("recordings");
        std::fs::create_dir_all(&rec).unwrap();
        for name in ["10-workstation.cast", "2-web.cast", "notes.txt"] {
            std::fs::write(rec.join(name), name).unwrap();
        }
        let names: Vec<String> = replays(dir.path()).into_iter().map(|r| r.name).collect();
        assert_eq!(
            names,
            ["recordings/2-web.cast", "recordings/10-workstation.cast"]
        );
    }
}
