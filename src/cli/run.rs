//! `cfship run --config FILE [--once]`: the daemon.

use crate::app::signals::install_signal_handlers;
use crate::app::wiring::{
    build_outputs, cloudflare_client, fix_clocks, pipeline_options, spawn_sources, watch_sources,
    Collection, Mode, Sources,
};
use crate::metrics;
use anyhow::{Context, Result};
use cfship_cloudflare::RecordSink;
use cfship_state::CursorStore;
use clap::Args;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The configuration file (see cfship.example.yml).
    #[arg(long, short, env = "CFSHIP_CONFIG")]
    pub config: PathBuf,
    /// Run each source until it has caught up to now (Logpull: now − 1m), then exit.
    #[arg(long)]
    pub once: bool,
    /// With `--once`: give up after this long (e.g. `90s`, `10m`; default 5m) and exit 1 naming what
    /// was not done (waiting for Elasticsearch, sources not caught up). Windows in flight finish and
    /// cursors are saved, so the next run goes on from there.
    #[arg(long, requires = "once", value_parser = parse_duration_arg)]
    pub timeout: Option<Duration>,
    /// Log a progress summary (units, records, stalled sources, largest lag) this often.
    #[arg(long, default_value = "5m", value_parser = parse_duration_arg)]
    pub summary_every: Duration,
}

/// Default of `run --once --timeout`.
pub const DEFAULT_ONCE_TIMEOUT: Duration = Duration::from_secs(300);
/// After `--timeout`, windows in flight get this long to finish before the tasks are aborted.
const TIMEOUT_GRACE: Duration = Duration::from_secs(30);

fn parse_duration_arg(s: &str) -> Result<Duration, String> {
    crate::config::parse_duration(s)
}

/// What a run did.
#[derive(Debug, Default)]
pub struct RunReport {
    pub failed_sources: Vec<String>,
}

pub async fn run(args: RunArgs) -> Result<RunReport> {
    let cfg = crate::app::wiring::load_config_to_collect(&args.config)?;
    let cancel = CancellationToken::new();
    // Signals before anything slow (connecting to Elasticsearch may wait).
    let es_slot = install_signal_handlers(cancel.clone());
    let store: Arc<CursorStore> = Arc::new(crate::app::wiring::open_state(&cfg)?);
    tracing::info!(state = %store.describe(), "cursor store open");
    let client = cloudflare_client(&cfg)?;
    let metrics_cancel = CancellationToken::new();
    let timeout = args
        .once
        .then(|| args.timeout.unwrap_or(DEFAULT_ONCE_TIMEOUT));
    let deadline = timeout.map(|t| Instant::now() + t);
    // /metrics and /healthz first: they answer while Elasticsearch is still being waited for,
    // and list every configured source (with the lag of its saved cursor) from the start
    let m = metrics::Metrics::new();
    m.set_collector_stats(client.stats());
    let mut sources = Sources::from_config(&cfg);
    watch_sources(&cfg, &sources, &store, &client, &m);
    if let Some(addr) = cfg.metrics_addr() {
        metrics::serve(m.clone(), addr, metrics_cancel.clone())
            .await
            .with_context(|| {
                format!("metrics.listen {addr}: cannot listen (change it or set `off`)")
            })?;
    }
    let jobs = crate::app::logpush_jobs::JobsMonitor::new();
    if let Some(t) =
        crate::app::logpush_jobs::spawn_monitor(&cfg, &client, jobs.clone(), metrics_cancel.clone())
    {
        m.set_logpush_jobs(jobs);
        drop(t);
    }
    let watchdog = tokio::spawn(watchdog(
        m.clone(),
        args.summary_every,
        metrics_cancel.clone(),
    ));
    let opts = pipeline_options(&cfg)?;
    let built = build_outputs(
        &cfg,
        opts.clone(),
        Collection::Daemon,
        false,
        &cancel,
        &es_slot,
        m.clone(),
    );
    let built = tokio::select! {
        r = built => Some(r),
        _ = sleep_until_opt(deadline) => None,
    };
    let outputs = match built {
        Some(Ok(o)) => o,
        Some(Err(e)) if cancel.is_cancelled() => {
            metrics_cancel.cancel();
            tracing::info!(error = %format!("{e:#}"), "stopped by a signal before collection started");
            return Ok(RunReport::default());
        }
        Some(Err(e)) => {
            metrics_cancel.cancel();
            return Err(e);
        }
        None => {
            metrics_cancel.cancel();
            let why = m
                .health
                .not_ready_reason()
                .unwrap_or_else(|| "connecting to the outputs".into());
            anyhow::bail!(
                "timed out after {} (--timeout): {why}; nothing was collected",
                humantime::format_duration(timeout.unwrap_or_default())
            );
        }
    };
    let sink: Arc<dyn RecordSink> = outputs.pipeline.clone();
    if args.once {
        // catch up to the "now" of the start
        fix_clocks(&mut sources, chrono::Utc::now());
    }
    // with leases (the Elasticsearch backend, daemon and `--once` alike), each zone, account and
    // Logpush bucket is collected only under its lease: a bucket's reader holds the leased store
    // (its checkpoints fenced by the lease like the cursors). `--once` takes each lease, collects
    // until caught up, releases it, and leaves alone the sources another replica owns (see
    // `spawn_leased`). The HTTPS destination is never leased.
    let leased = cfg.state.backend == crate::config::StateBackend::Elasticsearch;
    let buckets_mode = if leased {
        crate::app::logpush::Buckets::Leased
    } else {
        crate::app::logpush::Buckets::Run
    };
    let started = crate::app::logpush::spawn(
        &cfg,
        &opts,
        &outputs,
        store.clone(),
        args.once,
        buckets_mode,
        &cancel,
    )
    .await?;
    let mut logpush = started.tasks;
    let mut tasks = if leased {
        crate::app::wiring::spawn_leased(
            &client,
            sources,
            started.buckets,
            store,
            crate::app::wiring::lease_ttl(&cfg),
            args.once,
            sink,
            &cancel,
        )?
    } else {
        let mode = Mode::Daemon {
            store,
            once: args.once,
        };
        spawn_sources(&client, sources, &mode, sink, &cancel)?
    };
    tracing::info!(
        zones = cfg.zones().len(),
        accounts = cfg.accounts().len(),
        logpush_receiver = cfg.logpush.is_some() && !args.once,
        logpush_buckets = cfg.logpush_bucket.as_ref().map_or(0, |b| b.len()),
        once = args.once,
        "cfship running"
    );
    let mut report = RunReport::default();
    let mut finished: BTreeSet<String> = BTreeSet::new();
    let mut timed_out: Option<String> = None;
    let mut hard_deadline: Option<Instant> = None;
    // collectors that returned cleanly (each committed unit's cursor saved)
    let mut settled: Vec<String> = Vec::new();
    let mut aborted = false;
    // every source until it ends: the pull sources at the signal (`--once`: caught up), the
    // Logpush ones at the signal (`--once`: the buckets' pass done, the spool drained)
    loop {
        if tasks.is_empty() && logpush.is_empty() {
            break;
        }
        let j = tokio::select! {
            Some(j) = tasks.join_next(), if !tasks.is_empty() => j,
            Some(j) = logpush.join_next(), if !logpush.is_empty() => {
                match j {
                    Ok((_, Ok(()))) => {}
                    Ok((name, Err(e))) => {
                        tracing::error!(source = %name, error = %e, "source stopped");
                        outputs.metrics.unhealthy.store(true, Ordering::Relaxed);
                        report.failed_sources.push(format!("{name}: {e}"));
                    }
                    Err(e) if e.is_cancelled() => {}
                    Err(e) => {
                        outputs.metrics.unhealthy.store(true, Ordering::Relaxed);
                        report.failed_sources.push(format!("source task: {e}"));
                    }
                }
                continue;
            }
            _ = sleep_until_opt(if timed_out.is_none() { deadline } else { None }) => {
                let why = not_done(&m, &finished);
                tracing::error!(timeout = %humantime::format_duration(timeout.unwrap_or_default()), not_done = %why,
                    "--timeout reached: finishing the windows in flight, then exiting");
                timed_out = Some(why);
                hard_deadline = Some(Instant::now() + TIMEOUT_GRACE);
                cancel.cancel();
                continue;
            }
            _ = sleep_until_opt(hard_deadline) => {
                tracing::error!("windows in flight did not finish after the timeout: stopping them (they are collected again next run)");
                tasks.abort_all();
                logpush.abort_all();
                aborted = true;
                hard_deadline = None;
                continue;
            }
        };
        match j {
            Ok((name, r)) => {
                finished.insert(name.clone());
                match r {
                    Ok(_) => settled.push(name),
                    Err(cfship_cloudflare::CfError::Cancelled) => {
                        tracing::debug!(source = %name, "cancelled");
                        settled.push(name);
                    }
                    Err(e) => {
                        // once: `--once` prints the failed sources when it exits
                        if !args.once {
                            tracing::error!(source = %name, error = %e, "source stopped");
                        }
                        outputs.metrics.unhealthy.store(true, Ordering::Relaxed);
                        if let Some((ds, id)) = split_name(&name) {
                            outputs.metrics.health.stopped(ds, id, &e.to_string());
                        }
                        report.failed_sources.push(format!("{name}: {e}"));
                    }
                }
            }
            Err(e) if e.is_cancelled() => {}
            Err(e) => {
                outputs.metrics.unhealthy.store(true, Ordering::Relaxed);
                report.failed_sources.push(format!("source task: {e}"));
            }
        }
    }
    metrics_cancel.cancel();
    let _ = watchdog.await;
    if let (Some(f), false) = (&outputs.file, aborted) {
        // a clean end leaves an empty journal (the next start recovers nothing)
        let keys: Vec<String> = settled
            .iter()
            .filter_map(|n| split_name(n))
            .filter_map(|(ds, id)| match ds {
                "logpull" => Some(cfship_cloudflare::SourceId::Logpull {
                    zone_id: id.to_string(),
                }),
                "audit" => Some(cfship_cloudflare::SourceId::Audit {
                    account_id: id.to_string(),
                }),
                _ => None,
            })
            .map(|s| s.state_key())
            .collect();
        f.settle(&keys);
    }
    let m = &outputs.metrics;
    for ds in ["audit", "logpull", "logpush"] {
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
    if let Some(why) = timed_out {
        tracing::info!("cfship run timed out; cursors of the finished windows saved");
        anyhow::bail!(
            "timed out after {} (--timeout) before every source caught up: {why}",
            humantime::format_duration(timeout.unwrap_or_default())
        );
    }
    tracing::info!(
        stopped_by_signal = cancel.is_cancelled(),
        "cfship run finished; cursors saved"
    );
    Ok(report)
}

/// Sleeps until `t`; forever without one.
async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// `logpull zone X` → (`logpull`, `X`).
fn split_name(name: &str) -> Option<(&str, &str)> {
    let mut it = name.splitn(3, ' ');
    let ds = it.next()?;
    let _kind = it.next()?;
    Some((ds, it.next()?))
}

/// The sources whose task did not finish, with where they stand.
fn not_done(m: &metrics::Metrics, finished: &BTreeSet<String>) -> String {
    let now = metrics::now_unix();
    let mut v = Vec::new();
    for r in m.source_reports(now) {
        let kind = if r.dataset == "logpull" {
            "zone"
        } else {
            "account"
        };
        let name = format!("{} {kind} {}", r.dataset, r.id);
        if finished.contains(&name) {
            continue;
        }
        let lag = match r.lag_seconds {
            Some(l) => format!(
                "lag {}",
                humantime::format_duration(Duration::from_secs(l.max(0) as u64))
            ),
            None => "no cursor yet".into(),
        };
        let state = match &r.state {
            metrics::health::SourceState::Ok => String::new(),
            s => format!(", {}", s.label()),
        };
        v.push(format!("{name} not caught up ({lag}{state})"));
    }
    if v.is_empty() {
        "the last windows were still being written".into()
    } else {
        v.join("; ")
    }
}

/// Every second: logs a source turning stalled (and back); every `summary_every`: one progress
/// line (units and records since the last one, stalled sources, largest lag).
async fn watchdog(m: Arc<metrics::Metrics>, summary_every: Duration, cancel: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_summary = Instant::now() + summary_every;
    let mut stalled: BTreeSet<(String, String)> = BTreeSet::new();
    let totals = |m: &metrics::Metrics| -> (u64, u64) {
        m.collector_snapshot()
            .map(|s| {
                s.sources
                    .iter()
                    .fold((0, 0), |(u, r), x| (u + x.windows_done, r + x.records))
            })
            .unwrap_or((0, 0))
    };
    let (mut units0, mut records0) = totals(&m);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = cancel.cancelled() => return,
        }
        let now = metrics::now_unix();
        let reports = m.source_reports(now);
        for r in &reports {
            let key = (r.dataset.clone(), r.id.clone());
            match &r.state {
                metrics::health::SourceState::Stalled { since } if stalled.insert(key.clone()) => {
                    let since = chrono::DateTime::from_timestamp(*since, 0).unwrap_or_default();
                    tracing::error!(dataset = %r.dataset, source = %r.id, since = %since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                        "source stalled: no successful unit since then (see the errors above); /healthz is failing");
                }
                metrics::health::SourceState::Ok if stalled.remove(&key) => {
                    tracing::info!(dataset = %r.dataset, source = %r.id, "source recovered: units succeed again");
                }
                _ => {}
            }
        }
        if Instant::now() >= next_summary {
            next_summary = Instant::now() + summary_every;
            let (units, records) = totals(&m);
            let max_lag = reports.iter().filter_map(|r| r.lag_seconds).max();
            tracing::info!(
                every = %humantime::format_duration(summary_every),
                units = units - units0,
                records = records - records0,
                sources = reports.len(),
                not_ok = reports.iter().filter(|r| !r.state.is_ok()).count(),
                max_lag_seconds = max_lag.unwrap_or(0),
                not_ready = m.health.not_ready_reason().unwrap_or_default(),
                "progress summary"
            );
            (units0, records0) = (units, records);
        }
    }
}
