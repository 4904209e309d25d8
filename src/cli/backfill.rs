//! `cfship backfill --config FILE --since T [--until T]`: an explicit range, windows in parallel
//! under the shared rate limit; never touches the daemon's cursors.
//!
//! `--logpush-job ID` refills what an `http_requests` Logpush job dropped (docs/logpush-delivery.md,
//! "Refilling a gap"): the zone's Logpull is asked for exactly the job's `field_names` in its
//! `timestamp_format`, so each record is the one Cloudflare would have pushed, its `_id` (the
//! fingerprint of its canonical re-encoding) is the receiver's, and Elasticsearch's `create` keeps
//! the documents that did arrive: the window is complete and nothing is doubled.

use crate::app::signals::install_signal_handlers;
use crate::app::wiring::{
    build_outputs, cloudflare_client, pipeline_options, spawn_sources, Collection, Mode, Sources,
};
use anyhow::{Context, Result};
use cfship_cloudflare::{ProgressEvent, RecordSink};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Args)]
pub struct BackfillArgs {
    /// The configuration file (see cfship.example.yml).
    #[arg(long, short, env = "CFSHIP_CONFIG")]
    pub config: PathBuf,
    /// Start: RFC3339 (2026-11-24T00:00:00Z) or a duration back from now (36h). Logpull keeps 7 days.
    #[arg(long)]
    pub since: String,
    /// End (exclusive): RFC3339 or a duration back from now; default now (Logpull: now − 1m).
    #[arg(long)]
    pub until: Option<String>,
    /// Windows fetched in parallel per source (all share Cloudflare's rate limit).
    #[arg(long, default_value_t = 4)]
    pub parallel: usize,
    /// Refill a gap of this `http_requests` Logpush job (its id, as `cfship logpush list` shows)
    /// through Logpull: only the configured zone that owns the job, with the job's fields and
    /// timestamp format, into the Logpush data stream; documents already there are kept, not
    /// doubled.
    #[arg(long)]
    pub logpush_job: Option<u64>,
}

/// Totals of a backfill.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BackfillReport {
    pub windows: u64,
    pub records: u64,
    pub gap_seconds: u64,
    pub failures: Vec<String>,
}

pub async fn run(args: BackfillArgs) -> Result<BackfillReport> {
    let cfg = crate::app::wiring::load_config_to_collect(&args.config)?;
    let now = chrono::Utc::now();
    let since = parse_time(&args.since, now)?;
    let until = match &args.until {
        Some(u) => parse_time(u, now)?,
        None => now,
    };
    if since >= until {
        anyhow::bail!("--since ({since}) must be before --until ({until})");
    }
    let cancel = CancellationToken::new();
    let es_slot = install_signal_handlers(cancel.clone());
    let client = cloudflare_client(&cfg)?;
    let outputs = build_outputs(
        &cfg,
        pipeline_options(&cfg)?,
        Collection::Parallel,
        false,
        &cancel,
        &es_slot,
        crate::metrics::Metrics::new(),
    )
    .await?;
    let sink: Arc<dyn RecordSink> = outputs.pipeline.clone();

    // Progress: windows planned (Logpull: 1h each, audit: 24h each).
    let hours = ((until - since).num_seconds().max(0) as u64).div_ceil(3600);
    let planned =
        cfg.zones().len() as u64 * hours + cfg.accounts().len() as u64 * hours.div_ceil(24);
    let bar = if std::io::stderr().is_terminal() {
        let b = ProgressBar::new(planned.max(1));
        b.set_style(
            ProgressStyle::with_template(
                "{elapsed_precise} [{bar:30}] {pos}/{len} windows  {msg}  ETA {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        Some(b)
    } else {
        None
    };
    let started = Instant::now();
    let records = Arc::new(AtomicU64::new(0));
    let windows = Arc::new(AtomicU64::new(0));
    let progress = {
        let bar = bar.clone();
        let records = records.clone();
        let windows = windows.clone();
        move |source: &str, ev: ProgressEvent| match ev {
            ProgressEvent::UnitDone {
                start,
                end,
                records: n,
            } => {
                let total = records.fetch_add(n, Ordering::Relaxed) + n;
                let w = windows.fetch_add(1, Ordering::Relaxed) + 1;
                let rate = total as f64 / started.elapsed().as_secs_f64().max(0.001);
                match &bar {
                    Some(b) => {
                        b.inc(1);
                        b.set_message(format!("{total} events, {rate:.0} events/s"));
                    }
                    None => tracing::info!(%source, %start, %end, records = n, windows_done = w,
                        windows_planned = planned, events = total, events_per_sec = rate as u64, "window done"),
                }
            }
            ProgressEvent::UnitRetry {
                start,
                end,
                attempt,
                reason,
            } => {
                tracing::warn!(%source, %start, %end, attempt, %reason, "window retried");
            }
            ProgressEvent::Gap { start, end } => {
                tracing::warn!(%source, %start, %end, "outside Logpull's 7-day retention, skipped");
            }
        }
    };
    let mut sources = Sources::from_config(&cfg);
    if let Some(job) = args.logpush_job {
        let mut kept = Vec::new();
        for mut lc in std::mem::take(&mut sources.logpull) {
            if like_logpush_job(&client, &mut lc, job).await? {
                kept.push(lc);
            }
        }
        if kept.is_empty() {
            anyhow::bail!(
                "no configured Logpull zone has Logpush job {job} (cfship logpush list --zone ZONE shows the ids)"
            );
        }
        sources.logpull = kept;
        sources.audit.clear();
    }
    for c in &mut sources.logpull {
        c.backfill_concurrency = args.parallel.max(1);
    }
    for c in &mut sources.audit {
        c.backfill_concurrency = args.parallel.max(1);
    }
    let mode = Mode::Backfill {
        since,
        until,
        progress: Arc::new(progress),
    };
    let mut tasks = spawn_sources(&client, sources, &mode, sink, &cancel)?;
    let mut report = BackfillReport::default();
    while let Some(j) = tasks.join_next().await {
        match j {
            Ok((_, Ok(s))) => {
                report.windows += s.units_done;
                report.records += s.records;
                report.gap_seconds += s.gap_seconds;
            }
            Ok((name, Err(e))) => {
                tracing::error!(source = %name, error = %e, "backfill failed");
                report.failures.push(format!("{name}: {e}"));
            }
            Err(e) => report.failures.push(format!("backfill task: {e}")),
        }
    }
    if let Some(b) = bar {
        b.finish();
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "cfship backfill: {} windows/pages, {} events in {:.1}s ({:.0} events/s){}",
        report.windows,
        report.records,
        secs,
        report.records as f64 / secs.max(0.001),
        if report.gap_seconds > 0 {
            format!(
                ", {}s outside Logpull retention skipped",
                report.gap_seconds
            )
        } else {
            String::new()
        }
    );
    Ok(report)
}

/// `--logpush-job`: makes `lc` request what the zone's Logpush job `job_id` sends — exactly its
/// `field_names`, in its `timestamp_format`, delivered as Logpush `http_request` records. `false`
/// when the zone has no such job. Refuses (with the reason) a job whose records Logpull cannot
/// reproduce: another dataset, a field Logpull does not offer, a timestamp format Logpull lacks.
async fn like_logpush_job(
    client: &cfship_cloudflare::CloudflareClient,
    lc: &mut cfship_cloudflare::LogpullConfig,
    job_id: u64,
) -> Result<bool> {
    use cfship_cloudflare::{JobScope, Timestamps};
    let zone = lc.zone_id.clone();
    let jobs = client
        .logpush_jobs(&lc.auth, &JobScope::Zone(zone.clone()))
        .await
        .with_context(|| format!("zone {zone}: reading its Logpush jobs"))?;
    let Some(job) = jobs.into_iter().find(|j| j.id == job_id) else {
        return Ok(false);
    };
    let ds = job.dataset.as_deref().unwrap_or_default();
    if ds != "http_requests" {
        anyhow::bail!("Logpush job {job_id} pushes {ds:?}: only http_requests can be refilled (through Logpull)");
    }
    let opts = job.output_options.clone().unwrap_or_default();
    let fields: Vec<String> = opts["field_names"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if fields.is_empty() {
        anyhow::bail!("Logpush job {job_id} has no output_options.field_names (a job made with logpull_options): recreate it with cfship logpush create to refill it");
    }
    let ts = match opts["timestamp_format"].as_str().unwrap_or("unixnano") {
        "unixnano" => Timestamps::UnixNano,
        "unix" => Timestamps::Unix,
        "rfc3339" => Timestamps::Rfc3339,
        other => anyhow::bail!(
            "Logpush job {job_id} writes timestamps as {other:?}, which Logpull cannot: the refilled records would get other _ids (duplicates); use unixnano, unix or rfc3339"
        ),
    };
    let offered = client
        .logpull_fields(&lc.auth, &zone)
        .await
        .with_context(|| format!("zone {zone}: reading its Logpull fields"))?;
    let missing: Vec<&str> = fields
        .iter()
        .filter(|f| !offered.iter().any(|o| o == *f))
        .map(String::as_str)
        .collect();
    if !missing.is_empty() {
        anyhow::bail!(
            "Logpush job {job_id} sends fields Logpull does not return ({}): the refilled records would get other _ids (duplicates); create the job with fields Logpull has (cfship logpush create --fields …)",
            missing.join(",")
        );
    }
    for (opt, note) in [
        ("filter", "the job filters records, Logpull does not: the refill also adds the records the filter left out"),
        ("sample_rate", "the job samples records, Logpull is asked for all of them: the refill also adds the records the sample left out"),
    ] {
        if !opts[opt].is_null() && opts[opt] != serde_json::json!(1) && opts[opt] != serde_json::json!("") {
            tracing::warn!(job = job_id, "{note}");
        }
    }
    if opts["CVE-2021-44228"] == serde_json::json!(true) {
        tracing::warn!(job = job_id, "the job rewrites `${{` in values (CVE-2021-44228), Logpull does not: records with `${{` get other _ids");
    }
    tracing::info!(zone = %zone, job = job_id, fields = fields.len(), timestamps = ts.as_param(), "refilling the Logpush job's window through Logpull");
    lc.modern = true;
    lc.exact_fields = true;
    lc.bot_fields = false;
    lc.sample = None;
    lc.fields = Some(fields);
    lc.timestamps = ts;
    Ok(true)
}

/// Parses a backfill bound: RFC3339, or a duration back from `now` (`36h`).
pub fn parse_time(
    s: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<chrono::DateTime<chrono::Utc>> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&chrono::Utc));
    }
    match humantime::parse_duration(s) {
        Ok(d) => {
            let d = chrono::Duration::from_std(d).context("duration too large")?;
            Ok(now - d)
        }
        Err(_) => anyhow::bail!(
            "{s:?} is neither an RFC3339 time (2026-11-24T00:00:00Z) nor a duration back from now (36h)"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_bounds() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-25T12:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(
            parse_time("36h", now).unwrap().to_rfc3339(),
            "2026-11-24T00:00:00+00:00"
        );
        assert_eq!(
            parse_time("2026-11-20T01:02:03+01:00", now)
                .unwrap()
                .to_rfc3339(),
            "2026-11-20T00:02:03+00:00"
        );
        assert!(parse_time("yesterday-ish", now).is_err());
    }
}
