//! The interviewer's dashboard: `serve`.

use super::*;

/// `serve`: the dashboard, until Ctrl-C.
pub(super) async fn serve(
    g: &G,
    bind: std::net::SocketAddr,
    token: Option<String>,
    interval: std::time::Duration,
    public_url: Option<String>,
) -> CmdResult {
    let store = g.store()?;
    let assets = g.scenarios.clone();
    let connect: crate::serve::Connector = Arc::new(move |kind, context| {
        let assets = assets.clone();
        // The dashboard observes; it never deploys, so the runtime does not matter.
        Box::pin(async move { connect(kind, &context, &assets, None, false).await })
    });
    let opts = crate::serve::Options {
        addr: bind,
        token,
        interval,
        public_url,
    };
    let announce = |addr: std::net::SocketAddr, token: Option<&str>| {
        let query = token.map(|t| format!("?token={t}")).unwrap_or_default();
        println!("dashboard on http://{addr}/{query}");
        note!(
            "watching the sessions of {} (Ctrl-C to stop)",
            store.root().display()
        );
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
    };
    match crate::serve::run(store.clone(), connect, opts, announce, stop_signal()).await {
        Ok(()) => Ok(exit::OK),
        Err(e) => {
            print_chain(&e);
            Ok(exit::FAILURE)
        }
    }
}
