//! Ctrl-C and SIGTERM: what stops a long command, and what tears down after it.

use crate::exit;

/// Resolves on Ctrl-C (SIGINT) or SIGTERM (a service manager or `kill` stopping us).
pub(super) async fn stop_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

/// Runs `work` unless Ctrl-C or SIGTERM comes first; a second one exits at once.
pub(super) async fn interruptible<T>(work: impl std::future::Future<Output = T>) -> Option<T> {
    tokio::select! {
        r = work => Some(r),
        _ = stop_signal() => {
            note!("\ninterrupted: tearing down what this command created (Ctrl-C again to force)");
            tokio::spawn(async {
                stop_signal().await;
                std::process::exit(exit::INTERRUPTED);
            });
            None
        }
    }
}
