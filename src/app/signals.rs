//! SIGINT / SIGTERM, the same for `run`, `backfill`, `demo` and `simulate`.

use cfship_elasticsearch::ElasticsearchSink;
use std::sync::{Arc, OnceLock};
use tokio_util::sync::CancellationToken;

/// Where the Elasticsearch sink goes once connected, so that a second signal can shut it down.
pub type EsSlot = Arc<OnceLock<ElasticsearchSink>>;

/// The first signal cancels `cancel` (collectors finish and acknowledge the window in flight, save
/// cursors); the second also shuts the Elasticsearch sink of the slot down so that pending retries
/// give up (the window in flight is then not acknowledged and is collected again next time).
/// Install before anything slow (connecting to Elasticsearch may wait).
pub fn install_signal_handlers(cancel: CancellationToken) -> EsSlot {
    let es_slot: EsSlot = Arc::default();
    let es = es_slot.clone();
    tokio::spawn(async move {
        let mut n = 0;
        loop {
            if wait_signal().await.is_err() {
                return;
            }
            n += 1;
            if n == 1 {
                tracing::info!("signal received: finishing the windows in flight, then exiting (send again to stop now)");
                cancel.cancel();
            } else {
                tracing::warn!("second signal: giving up on unacknowledged batches; they are collected again next run");
                if let Some(es) = es.get() {
                    es.shutdown();
                }
                cancel.cancel();
            }
        }
    });
    es_slot
}

#[cfg(unix)]
async fn wait_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

#[cfg(not(unix))]
async fn wait_signal() -> std::io::Result<()> {
    tokio::signal::ctrl_c().await
}
