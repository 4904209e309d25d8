//! `cfship demo [--elasticsearch URL]`: no Cloudflare account needed. Starts the built-in simulator,
//! collects a few simulated hours of audit and Logpull data, writes them to Elasticsearch (or to
//! `./cfship-demo/*.ndjson`) and prints a summary.

use crate::metrics::Metrics;
use crate::output::FileOutput;
use crate::pipeline::app::connect_es_retrying;
use crate::pipeline::summary::Summary;
use crate::pipeline::{Pipeline, PipelineOptions};
use anyhow::{Context, Result};
use cfship_cloudflare::simulator::{self, SimulatorConfig};
use cfship_cloudflare::{
    backfill_audit, backfill_logpull, AuditConfig, Auth, ClientConfig, CloudflareClient,
    LogpullConfig, ProgressEvent, RecordSink,
};
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Elasticsearch URL (e.g. http://127.0.0.1:9200); without it the documents go to --out.
    #[arg(long, env = "ELASTICSEARCH_URL")]
    pub elasticsearch: Option<String>,
    /// Directory for the NDJSON files when no Elasticsearch URL is given.
    #[arg(long, default_value = "./cfship-demo")]
    pub out: PathBuf,
    /// Simulated hours to collect (ending one minute ago).
    #[arg(long, default_value_t = 3)]
    pub hours: u32,
    /// Seed of the simulated data.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Data stream namespace (logs-cloudflare.<dataset>-<namespace>).
    #[arg(long, default_value = "default")]
    pub namespace: String,
}

/// What the demo did.
#[derive(Debug, Clone)]
pub struct DemoReport {
    pub summary: Summary,
    pub expected_logpull: u64,
    pub expected_audit: u64,
    pub destination: String,
}

pub async fn run(args: DemoArgs) -> Result<DemoReport> {
    if args.hours == 0 || args.hours > 160 {
        anyhow::bail!("--hours must be 1..=160 (Logpull keeps 7 days)");
    }
    let sim_cfg = SimulatorConfig::demo(args.seed);
    let sim = simulator::start(sim_cfg.clone(), "127.0.0.1:0".parse()?).await?;
    let token = sim_cfg
        .credentials
        .tokens
        .first()
        .cloned()
        .context("demo simulator has no token")?;
    let auth = Auth::token(token);
    let client = CloudflareClient::new(ClientConfig::with_api_url(&sim.url())?)?;
    let cancel = CancellationToken::new();
    {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            cancel.cancel();
        });
    }
    let metrics = Metrics::new();
    let opts = PipelineOptions {
        namespace: args.namespace.clone(),
        parallel_units: true,
        summary: true,
        ..Default::default()
    };
    let (es, file, destination) = match &args.elasticsearch {
        Some(url) => {
            let es_cfg = cfship_elasticsearch::EsConfig {
                hosts: vec![url.clone()],
                namespace: args.namespace.clone(),
                dead_letter: cfship_elasticsearch::DeadLetterConfig {
                    path: args.out.join("dead-letter.ndjson"),
                    index: None,
                },
                ..Default::default()
            };
            let sink = connect_es_retrying(es_cfg, true, &cancel).await?;
            let ns = &args.namespace;
            (
                Some(sink),
                None,
                format!(
                    "Elasticsearch {url}: data streams logs-cloudflare.logpull-{ns} and logs-cloudflare.audit-{ns}"
                ),
            )
        }
        None => {
            std::fs::create_dir_all(&args.out)
                .with_context(|| format!("creating {}", args.out.display()))?;
            let out = FileOutput::new(&args.out.join("{dataset}.ndjson"));
            for p in out.paths() {
                // a fresh demo, not appended to the previous one
                match std::fs::remove_file(&p) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e).with_context(|| format!("removing {}", p.display())),
                }
            }
            let d = format!(
                "{} and {}",
                out.path_for("logpull").display(),
                out.path_for("audit").display()
            );
            (None, Some(out), d)
        }
    };
    let pipeline = Arc::new(Pipeline::new(opts, es, file, metrics.clone())?);
    let sink: Arc<dyn RecordSink> = pipeline.clone();

    let now = chrono::Utc::now();
    let since = now - chrono::Duration::hours(i64::from(args.hours));
    // the same end for both datasets and the ground truth: whole seconds, one minute ago
    let until = chrono::DateTime::from_timestamp(now.timestamp() - 60, 0).unwrap_or(now);
    let since = chrono::DateTime::from_timestamp(since.timestamp(), 0).unwrap_or(since);
    eprintln!(
        "cfship demo: simulator at {} — collecting {} simulated hours ({} zones, {} account)",
        sim.url(),
        args.hours,
        sim_cfg.zones.len(),
        sim_cfg.accounts.len()
    );
    let started = Instant::now();
    let progress = |ev: ProgressEvent| {
        if let ProgressEvent::UnitDone { start, records, .. } = ev {
            tracing::debug!(%start, records, "window done");
        }
    };
    let mut tasks = Vec::new();
    for z in &sim_cfg.zones {
        let mut c = LogpullConfig::new(z.id.clone(), auth.clone());
        c.bot_fields = z.bot_management;
        let (client, sink, cancel) = (client.clone(), sink.clone(), cancel.clone());
        tasks.push(tokio::spawn(async move {
            backfill_logpull(&client, c, since, until, sink, cancel, progress).await
        }));
    }
    for a in &sim_cfg.accounts {
        let c = AuditConfig::new(a.id.clone(), auth.clone());
        let (client, sink, cancel) = (client.clone(), sink.clone(), cancel.clone());
        tasks.push(tokio::spawn(async move {
            backfill_audit(&client, c, since, until, sink, cancel, progress).await
        }));
    }
    let ticker = {
        let metrics = metrics.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                eprintln!(
                    "  … {} Logpull records, {} audit events so far",
                    metrics.total("logpull", |c| &c.collected),
                    metrics.total("audit", |c| &c.collected)
                );
            }
        })
    };
    let mut failures = Vec::new();
    for t in tasks {
        match t.await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => failures.push(e.to_string()),
            Err(e) => failures.push(e.to_string()),
        }
    }
    ticker.abort();
    sim.shutdown().await;
    if !failures.is_empty() {
        anyhow::bail!("demo collection failed: {}", failures.join("; "));
    }
    let expected_logpull: u64 = sim_cfg
        .zones
        .iter()
        .map(|z| simulator::expected_logpull_count(&sim_cfg, &z.id, since, until))
        .sum();
    let expected_audit: u64 = sim_cfg
        .accounts
        .iter()
        .map(|a| simulator::expected_audit_ids(&sim_cfg, &a.id, since, until).len() as u64)
        .sum();
    let summary = pipeline.summary().unwrap_or_default();
    let secs = started.elapsed().as_secs_f64();
    println!(
        "\ncfship demo: {} simulated hours collected in {secs:.1}s → {destination}\n",
        args.hours
    );
    println!("{}", summary.render());
    println!(
        "ground truth (simulator): {expected_logpull} Logpull records, {expected_audit} audit events in [{since}, {until})"
    );
    let dl = metrics.total("logpull", |c| &c.dead_lettered)
        + metrics.total("audit", |c| &c.dead_lettered);
    if dl > 0 {
        println!(
            "dead-lettered documents: {dl} (see {})",
            args.out.join("dead-letter.ndjson").display()
        );
    }
    if args.elasticsearch.is_some() {
        println!(
            "try: curl -s '{}/logs-cloudflare.logpull-{}/_search?q=source.geo.country_iso_code:us&size=1'",
            args.elasticsearch.as_deref().unwrap_or_default().trim_end_matches('/'),
            args.namespace
        );
    }
    Ok(DemoReport {
        summary,
        expected_logpull,
        expected_audit,
        destination,
    })
}
