//! Wiring shared by `run`, `backfill`, `check`, `setup` and `demo`: the Cloudflare client, the
//! outputs, the pipeline, collector configurations, signals.

use super::{Pipeline, PipelineOptions};
use crate::config::{AuditApiChoice, Config, Source};
use crate::metrics::Metrics;
use crate::output::FileOutput;
use anyhow::{Context, Result};
use cfship_cloudflare::{AuditApi, AuditConfig, ClientConfig, CloudflareClient, LogpullConfig};
use cfship_elasticsearch::{ElasticsearchSink, EsError};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The Cloudflare client of a configuration (one shared rate limiter for every source).
pub fn cloudflare_client(cfg: &Config) -> Result<CloudflareClient> {
    let mut cc =
        ClientConfig::with_api_url(&cfg.cloudflare.api_url).context("cloudflare.api_url")?;
    if let Some(n) = cfg.cloudflare.requests_per_5min {
        cc.requests_per_5min = n.max(1);
    }
    CloudflareClient::new(cc).context("building the Cloudflare client")
}

/// The collector configuration of one zone.
pub fn logpull_config(cfg: &Config, zone: &Source) -> LogpullConfig {
    let mut c = LogpullConfig::new(zone.id.clone(), zone.credentials.to_auth());
    if let Some(l) = &cfg.logpull {
        c.interval = l.interval;
        c.bot_fields = l.bot_fields;
        c.fields = l.fields.clone();
        c.sample = l.sample;
        c.timestamps = l.timestamps;
        if let Some(w) = l.max_window {
            c.max_window = w;
        }
        if let Some(lb) = l.initial_lookback {
            c.initial_lookback = lb;
        }
    }
    c
}

/// The collector configuration of one account.
pub fn audit_config(cfg: &Config, account: &Source) -> AuditConfig {
    let mut c = AuditConfig::new(account.id.clone(), account.credentials.to_auth());
    if let Some(a) = &cfg.audit {
        c.interval = a.interval;
        c.initial_lookback = a.initial_lookback;
        c.api = match a.api {
            AuditApiChoice::V1 => AuditApi::V1,
            AuditApiChoice::V2 => AuditApi::V2,
        };
        if let Some(p) = a.per_page {
            c.per_page = p;
        }
    }
    c
}

/// Connects to Elasticsearch, retrying while it is unreachable (until `cancel`), and installs the
/// index templates when asked.
pub async fn connect_es_retrying(
    es_cfg: cfship_elasticsearch::EsConfig,
    install_templates: bool,
    cancel: &CancellationToken,
) -> Result<ElasticsearchSink> {
    let mut delay = Duration::from_millis(500);
    loop {
        let r = async {
            let sink = ElasticsearchSink::connect(es_cfg.clone()).await?;
            if install_templates {
                for o in sink.ensure_templates().await? {
                    tracing::debug!(outcome = ?o, "index template");
                }
            }
            Ok::<_, EsError>(sink)
        }
        .await;
        match r {
            Ok(s) => return Ok(s),
            Err(
                e @ (EsError::Unreachable { .. }
                | EsError::Http {
                    status: 500..=599, ..
                }),
            ) => {
                tracing::warn!(error = %e, retry_in = ?delay, "Elasticsearch not available yet, retrying");
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = cancel.cancelled() => anyhow::bail!("cancelled while waiting for Elasticsearch: {e}"),
                }
                delay = (delay * 2).min(Duration::from_secs(15));
            }
            Err(e) => return Err(anyhow::Error::new(e).context("Elasticsearch output")),
        }
    }
}

/// The outputs and pipeline of a configuration.
pub struct Outputs {
    pub pipeline: Arc<Pipeline>,
    pub es: Option<ElasticsearchSink>,
    pub metrics: Arc<Metrics>,
}

/// Builds the pipeline with the configured outputs (Elasticsearch connected, templates installed).
pub async fn build_outputs(
    cfg: &Config,
    parallel_units: bool,
    cancel: &CancellationToken,
    metrics: Arc<Metrics>,
) -> Result<Outputs> {
    let mut opts = PipelineOptions::from_config(cfg)?;
    opts.parallel_units = parallel_units;
    if !parallel_units {
        opts.file_journal = Some(cfg.state.dir.join("file-output.journal"));
    }
    let es = match cfg.es_config() {
        Some(c) => Some(connect_es_retrying(c, true, cancel).await?),
        None => None,
    };
    let file = cfg.file.as_ref().map(|f| FileOutput::new(&f.path));
    if es.is_none() && file.is_none() {
        anyhow::bail!(
            "no output configured: add an `elasticsearch:` section and/or `file: {{path: …}}` to the config"
        );
    }
    let pipeline = Arc::new(Pipeline::new(opts, es.clone(), file, metrics.clone())?);
    Ok(Outputs {
        pipeline,
        es,
        metrics,
    })
}

/// SIGINT / SIGTERM: the first cancels `cancel` (collectors finish and acknowledge the window in
/// flight, save cursors); the second also shuts the Elasticsearch sink down so that pending retries
/// give up (the window in flight is then not acknowledged and is collected again next time).
pub fn install_signal_handlers(
    cancel: CancellationToken,
) -> Arc<std::sync::OnceLock<ElasticsearchSink>> {
    let es_slot: Arc<std::sync::OnceLock<ElasticsearchSink>> = Arc::default();
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
