//! Shared test plumbing: the isolated environment csm runs in, and the
//! fake servers (Jira, the OpenAI Responses API) the tests start on
//! 127.0.0.1.
#![allow(dead_code)]
pub mod env;
pub mod fake_github;
pub mod fake_jira;
pub mod git;
pub mod mock_model;
pub mod tmux;

/// A request a fake server recorded.
#[derive(Clone, Debug)]
pub struct Request {
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub uri: String,
    /// Headers (lower-case names).
    pub headers: std::collections::BTreeMap<String, String>,
    /// The body, as text.
    pub body: String,
}

/// Serves `app` on 127.0.0.1 with an OS-chosen port, on a runtime of its
/// own in a background thread; the server stops when the returned sender
/// is dropped.
pub fn serve(app: axum::Router) -> (std::net::SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind 127.0.0.1:0");
            addr_tx.send(listener.local_addr().expect("addr")).ok();
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await
                .ok();
        });
    });
    (addr_rx.recv().expect("server address"), tx)
}
