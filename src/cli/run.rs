//! `cfship run --config FILE [--once]`: the daemon.

use crate::app::signals::install_signal_handlers;
use crate::app::wiring::{
    build_outputs, cloudflare_client, fix_clocks, pipeline_options, spawn_sources, Collection,
    Mode, Sources,
};
use crate::metrics;
use anyhow::{Context, Result};
use cfship_cloudflare::RecordSink;
use cfship_state::CursorStore;
use clap::Args;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The configuration file (see cfship.example.yml).
    #[arg(long, short, env = "CFSHIP_CONFIG")]
    pub config: PathBuf,
    /// Run each source until it has caught up to now (Logpull: now − 1m), then exit.
    #[arg(long)]
    pub once: bool,
}

/// What a run did.
#[derive(Debug, Default)]
pub struct RunReport {
    pub failed_sources: Vec<String>,
}

pub async fn run(args: RunArgs) -> Result<RunReport> {
    let cfg = crate::app::wiring::load_config(&args.config)?;
    let cancel = CancellationToken::new();
    // Signals before anything slow (connecting to Elasticsearch may wait).
    let es_slot = install_signal_handlers(cancel.clone());
    let store = Arc::new(
        CursorStore::open_exclusive(&cfg.state.dir)
            .with_context(|| format!("state dir {}", cfg.state.dir.display()))?,
    );
    let client = cloudflare_client(&cfg)?;
    let metrics_cancel = CancellationToken::new();
    // /metrics and /healthz first: they answer while Elasticsearch is still being waited for
    let m = metrics::Metrics::new();
    m.set_collector_stats(client.stats());
    if let Some(addr) = cfg.metrics_addr() {
        metrics::serve(m.clone(), addr, metrics_cancel.clone())
            .await
            .with_context(|| {
                format!("metrics.listen {addr}: cannot listen (change it or set `off`)")
            })?;
    }
    let outputs = match build_outputs(
        &cfg,
        pipeline_options(&cfg)?,
        Collection::Daemon,
        false,
        &cancel,
        &es_slot,
        m,
    )
    .await
    {
        Ok(o) => o,
        Err(e) if cancel.is_cancelled() => {
            tracing::info!(error = %format!("{e:#}"), "stopped by a signal before collection started");
            return Ok(RunReport::default());
        }
        Err(e) => return Err(e),
    };
    let sink: Arc<dyn RecordSink> = outputs.pipeline.clone();
    let mut sources = Sources::from_config(&cfg);
    if args.once {
        // catch up to the "now" of the start
        fix_clocks(&mut sources, chrono::Utc::now());
    }
    let mode = Mode::Daemon {
        store,
        once: args.once,
    };
    let mut tasks = spawn_sources(&client, sources, &mode, sink, &cancel)?;
    tracing::info!(
        zones = cfg.zones().len(),
        accounts = cfg.accounts().len(),
        once = args.once,
        "cfship running"
    );
    let mut report = RunReport::default();
    while let Some(j) = tasks.join_next().await {
        match j {
            Ok((_, Ok(_))) => {}
            Ok((name, Err(cfship_cloudflare::CfError::Cancelled))) => {
                tracing::debug!(source = %name, "cancelled");
            }
            Ok((name, Err(e))) => {
                tracing::error!(source = %name, error = %e, "source stopped");
                outputs.metrics.unhealthy.store(true, Ordering::Relaxed);
                report.failed_sources.push(format!("{name}: {e}"));
            }
            Err(e) => {
                outputs.metrics.unhealthy.store(true, Ordering::Relaxed);
                report.failed_sources.push(format!("collector task: {e}"));
            }
        }
    }
    metrics_cancel.cancel();
    let m = &outputs.metrics;
    for ds in ["audit", "logpull"] {
        tracing::info!(
            dataset = ds,
            collected = m.total(ds, |c| &c.collected),
            indexed = m.total(ds, |c| &c.indexed),
            duplicate = m.total(ds, |c| &c.duplicate),
            dead_lettered = m.total(ds, |c| &c.dead_lettered),
            written = m.total(ds, |c| &c.written),
            pipeline_errors = m.total(ds, |c| &c.pipeline_errors),
            "totals"
        );
    }
    tracing::info!(
        stopped_by_signal = cancel.is_cancelled(),
        "cfship run finished; cursors saved"
    );
    Ok(report)
}
