//! `cfship run --config FILE [--once]`: the daemon.

use crate::config::Config;
use crate::metrics;
use crate::pipeline::app::{
    audit_config, build_outputs, cloudflare_client, install_signal_handlers, logpull_config,
};
use anyhow::{Context, Result};
use cfship_cloudflare::{AuditCollector, Clock, LogpullCollector, RecordSink};
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
    let cfg = Config::load(&args.config)?;
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
    let outputs = match build_outputs(&cfg, false, &cancel, m).await {
        Ok(o) => o,
        Err(e) if cancel.is_cancelled() => {
            tracing::info!(error = %format!("{e:#}"), "stopped by a signal before collection started");
            return Ok(RunReport::default());
        }
        Err(e) => return Err(e),
    };
    if let Some(es) = &outputs.es {
        // a second signal must make pending Elasticsearch retries give up
        let _ = es_slot.set(es.clone());
    }
    let sink: Arc<dyn RecordSink> = outputs.pipeline.clone();
    // --once: catch up to the "now" of the start (with a moving now, a slow run would keep chasing it)
    let once_now = chrono::Utc::now();
    let mut tasks = tokio::task::JoinSet::new();
    for zone in cfg.zones() {
        let mut lc = logpull_config(&cfg, &zone);
        if args.once {
            lc.clock = Clock::Fixed(once_now);
        }
        let c = LogpullCollector::new(client.clone(), lc, store.clone(), sink.clone())?;
        let cancel = cancel.clone();
        let once = args.once;
        let name = format!("logpull zone {}", zone.id);
        tasks.spawn(async move {
            let r = if once {
                c.run_once(cancel).await.map(|s| {
                    tracing::info!(zone = %zone.id, windows = s.units_done, records = s.records, "Logpull caught up");
                })
            } else {
                c.run(cancel).await
            };
            (name, r)
        });
    }
    for acc in cfg.accounts() {
        let mut ac = audit_config(&cfg, &acc);
        if args.once {
            ac.clock = Clock::Fixed(once_now);
        }
        let c = AuditCollector::new(client.clone(), ac, store.clone(), sink.clone())?;
        let cancel = cancel.clone();
        let once = args.once;
        let name = format!("audit account {}", acc.id);
        tasks.spawn(async move {
            let r = if once {
                c.run_once(cancel).await.map(|s| {
                    tracing::info!(account = %acc.id, pages = s.units_done, records = s.records, "audit caught up");
                })
            } else {
                c.run(cancel).await
            };
            (name, r)
        });
    }
    tracing::info!(
        zones = cfg.zones().len(),
        accounts = cfg.accounts().len(),
        once = args.once,
        "cfship running"
    );
    let mut report = RunReport::default();
    while let Some(j) = tasks.join_next().await {
        match j {
            Ok((_, Ok(()))) => {}
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
