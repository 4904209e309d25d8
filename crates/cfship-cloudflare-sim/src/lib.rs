//! cfship-cloudflare-sim: a strict Cloudflare API simulator (Logpull, audit logs v1/v2, token
//! verify, retention flag) with deterministic data, fault knobs and ground-truth oracles. Used by
//! the tests, `cfship simulate` and `cfship demo`. It shares no code with the client
//! (`cfship-cloudflare`): it reads the API's query strings itself, so a client that sends a wrong
//! parameter is caught.
//!
//! Chosen where Cloudflare's documentation is silent (docs/cloudflare-api.md in the repository):
//! * Logpull window errors are `400` envelopes with code 1002 and Cloudflare's `bad query: …` texts.
//! * A zone whose retention flag is off answers `204 No Content` on `/logs/received`.
//! * Licence-gated fields (Bot Management) answer `403` naming the fields.
//! * Audit v1 `per_page` default 100, max 1000; v2 `limit` default 100, max 1000; v2 omits view
//!   actions.
//!
//! Layout: [`config`] (what is served), [`data`] (the deterministic generator), `routes` (one
//! module per API), `faults` (fault injection), [`oracle`] (ground truth), `state` (request log),
//! [`logpush`] (Logpush: the jobs API and Cloudflare's pusher), [`s3s_fs`] (a real S3 server for
//! the tests' buckets).
#![deny(unreachable_pub)]

pub mod config;
pub mod data;
mod faults;
pub mod logpush;
pub mod oracle;
mod routes;
pub mod s3s_fs;
mod state;

pub use config::{Faults, SimAccount, SimCredentials, SimZone, SimulatorConfig};
pub use oracle::{
    expected_audit_ids, expected_audit_v2_ids, expected_logpull_count, expected_logpull_ray_ids,
    http_requests_records,
};
pub use state::{RequestRecord, REQUEST_LOG_MAX};

use state::Shared;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// A running simulator. Dropping it stops the server.
pub struct SimulatorHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    cancel: CancellationToken,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl SimulatorHandle {
    /// Base URL, ending with `/client/v4`.
    pub fn url(&self) -> String {
        format!("http://{}/client/v4", self.addr)
    }
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    pub fn config(&self) -> &SimulatorConfig {
        &self.shared.cfg
    }
    /// Requests answered so far (the newest [`REQUEST_LOG_MAX`] at most).
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.shared.requests()
    }
    /// Changes the fault knobs at run time.
    pub fn set_faults(&self, f: Faults) {
        self.shared.set_faults(f);
    }
    /// Stops the server and waits for it.
    pub async fn shutdown(mut self) {
        self.cancel.cancel();
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
    /// Blocks until the server stops (for `cfship simulate`).
    pub async fn wait(mut self) {
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
    /// A token to stop the server from elsewhere.
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }
}

impl Drop for SimulatorHandle {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SimulatorError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Starts the simulator on `addr` (port 0 = any free port).
pub async fn start(
    cfg: SimulatorConfig,
    addr: SocketAddr,
) -> Result<SimulatorHandle, SimulatorError> {
    start_with(cfg, addr, axum::Router::new()).await
}

/// [`start`] with more routes on the same server, e.g. the Logpush jobs API
/// ([`logpush::LogpushSim::router`]), so one `api_url` serves Logpull and Logpush as Cloudflare's.
pub async fn start_with(
    cfg: SimulatorConfig,
    addr: SocketAddr,
    extra: axum::Router,
) -> Result<SimulatorHandle, SimulatorError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| SimulatorError::Bind { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| SimulatorError::Bind { addr, source })?;
    let shared = Arc::new(Shared::new(cfg));
    let app = extra.merge(routes::router(shared.clone()));
    let cancel = CancellationToken::new();
    let c2 = cancel.clone();
    let task = tokio::spawn(async move {
        let r = axum::serve(listener, app)
            .with_graceful_shutdown(async move { c2.cancelled().await })
            .await;
        if let Err(e) = r {
            tracing::error!(error = %e, "simulator server stopped");
        }
    });
    tracing::info!(url = %format!("http://{local}/client/v4"), "Cloudflare API simulator listening");
    Ok(SimulatorHandle {
        addr: local,
        shared,
        cancel,
        task: Some(task),
    })
}
