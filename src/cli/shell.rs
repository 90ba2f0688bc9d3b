//! `breakfix shell`: the user's terminal wired to a recorded terminal in the sandbox. On a
//! terminal, keys go through raw (Ctrl-C reaches the remote shell, not breakfix) and window
//! size changes follow; piped input is typed as it comes and ends with Ctrl-D.

use std::io::{IsTerminal, Read};
use std::os::fd::AsRawFd;

use crate::engine::{Engine, EngineError, ShellSummary};
use crate::recording::Keys;

/// Restores the terminal's settings when dropped, however the shell ended.
struct RawMode {
    fd: i32,
    saved: libc::termios,
}

impl RawMode {
    fn enter(fd: i32) -> Option<RawMode> {
        // SAFETY: tcgetattr/tcsetattr on a descriptor we checked is a terminal, with a
        // termios value they fill in.
        unsafe {
            let mut saved: libc::termios = std::mem::zeroed();
            if libc::tcgetattr(fd, &mut saved) != 0 {
                return None;
            }
            let mut raw = saved;
            libc::cfmakeraw(&mut raw);
            if libc::tcsetattr(fd, libc::TCSANOW, &raw) != 0 {
                return None;
            }
            Some(RawMode { fd, saved })
        }
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // SAFETY: restores the settings read in `enter` on the same descriptor.
        unsafe {
            libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved);
        }
    }
}

/// The size of the terminal on `fd` (columns, rows), if it is one.
fn size_of(fd: i32) -> Option<(u16, u16)> {
    // SAFETY: TIOCGWINSZ fills a winsize struct.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        (libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) == 0 && ws.ws_col > 0)
            .then_some((ws.ws_col, ws.ws_row))
    }
}

pub async fn run(
    eng: &Engine,
    id: &str,
    service: Option<&str>,
) -> Result<ShellSummary, EngineError> {
    let note = format!(
        "recording a shell in {} (leave with `exit` or Ctrl-D)",
        service.unwrap_or("the default service")
    );
    attach(&note, |size, keys| {
        eng.shell(id, service, size, keys, tokio::io::stdout())
    })
    .await
}

/// `breakfix exec --tty`: a recorded terminal running `cmd` in a service.
pub async fn exec(
    eng: &Engine,
    id: &str,
    service: &str,
    cmd: &[String],
) -> Result<ShellSummary, EngineError> {
    let note = format!(
        "recording `{}` in {service} (it ends when the command exits)",
        crate::candidate::command_line(cmd)
    );
    attach(&note, |size, keys| {
        eng.exec_terminal(id, service, cmd, size, keys, tokio::io::stdout())
    })
    .await
}

/// Wires this process's terminal (or piped input) to the terminal `open` starts.
pub(super) async fn attach<F, Fut, T, E>(note: &str, open: F) -> Result<T, E>
where
    F: FnOnce((u16, u16), Keys) -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let stdin = std::io::stdin();
    let tty = stdin.is_terminal();
    let out_fd = std::io::stdout().as_raw_fd();
    let size = size_of(out_fd).unwrap_or((80, 24));
    let (key_tx, key_rx) = tokio::sync::mpsc::channel::<Vec<u8>>(64);
    // A thread, not the runtime's blocking pool: a read still waiting for a key when the
    // shell exits must not hold the process open.
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = [0u8; 4096];
        loop {
            match stdin.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if key_tx.blocking_send(buf[..n].to_vec()).is_err() {
                        break;
                    }
                }
            }
        }
    });
    let (size_tx, size_rx) = tokio::sync::mpsc::unbounded_channel();
    if tty {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut winch) = signal(SignalKind::window_change()) {
            tokio::spawn(async move {
                while winch.recv().await.is_some() {
                    if let Some(s) = size_of(out_fd)
                        && size_tx.send(s).is_err()
                    {
                        break;
                    }
                }
            });
        }
        note!("{note}");
    }
    let _raw = if tty {
        RawMode::enter(stdin.as_raw_fd())
    } else {
        None
    };
    let keys = Keys {
        input: key_rx,
        resize: size_rx,
        end_with_eof: !tty,
    };
    open(size, keys).await
}
