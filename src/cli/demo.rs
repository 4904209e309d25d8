//! `cfship demo [--elasticsearch URL]`: no Cloudflare account needed. Starts the built-in simulator,
//! collects a few simulated hours of audit and Logpull data, writes them to Elasticsearch (or to
//! `./cfship-demo/*.ndjson`) and prints a summary.

use crate::app::signals::install_signal_handlers;
use crate::app::wiring::{
    build_outputs, cloudflare_client, pipeline_options, spawn_sources, Collection, Mode, Sources,
};
use crate::config::Config;
use crate::metrics::Metrics;
use crate::output::{DemoSummary, FileWriter};
use anyhow::{Context, Result};
use cfship_cloudflare::{ProgressEvent, RecordSink};
use cfship_cloudflare_sim::{self as simulator, SimulatorConfig};
use clap::Args;
use std::io::Write as _;
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
    pub summary: DemoSummary,
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
    let cancel = CancellationToken::new();
    let es_slot = install_signal_handlers(cancel.clone());
    let file_template = args.out.join("{dataset}.ndjson");
    let destination = match &args.elasticsearch {
        Some(url) => {
            let ns = &args.namespace;
            format!(
                "Elasticsearch {url}: data streams logs-cloudflare.logpull-{ns} and logs-cloudflare.audit-{ns}"
            )
        }
        None => {
            std::fs::create_dir_all(&args.out)
                .with_context(|| format!("creating {}", args.out.display()))?;
            let w = FileWriter::new(&file_template);
            for p in w.paths() {
                // a fresh demo, not appended to the previous one
                match std::fs::remove_file(&p) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e).with_context(|| format!("removing {}", p.display())),
                }
            }
            format!(
                "{} and {}",
                w.path_for("logpull").display(),
                w.path_for("audit").display()
            )
        }
    };
    // The demo is a configuration like any other, and goes through the same wiring as `run`.
    let cfg = demo_config(&args, &sim_cfg, &sim.url(), &token, &file_template)?;
    let client = cloudflare_client(&cfg)?;
    let metrics = Metrics::new();
    let mut opts = pipeline_options(&cfg)?;
    // without Elasticsearch the documents still carry the asked namespace
    opts.namespace = args.namespace.clone();
    let outputs = build_outputs(
        &cfg,
        opts,
        Collection::Parallel,
        true,
        &cancel,
        &es_slot,
        metrics.clone(),
    )
    .await?;
    let sink: Arc<dyn RecordSink> = outputs.pipeline.clone();

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
    let progress = |_: &str, ev: ProgressEvent| {
        if let ProgressEvent::UnitDone { start, records, .. } = ev {
            tracing::debug!(%start, records, "window done");
        }
    };
    let mut sources = Sources::from_config(&cfg);
    for c in &mut sources.logpull {
        c.bot_fields = sim_cfg
            .zones
            .iter()
            .any(|z| z.id == c.zone_id && z.bot_management);
    }
    let mode = Mode::Backfill {
        since,
        until,
        progress: Arc::new(progress),
    };
    let mut tasks = spawn_sources(&client, sources, &mode, sink, &cancel)?;
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
    while let Some(t) = tasks.join_next().await {
        match t {
            Ok((_, Ok(_))) => {}
            Ok((_, Err(e))) => failures.push(e.to_string()),
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
    let summary = outputs
        .summary
        .as_ref()
        .map(|s| s.summary())
        .unwrap_or_default();
    let secs = started.elapsed().as_secs_f64();
    // a closed stdout (`cfship demo | head`) ends the demo quietly (main's broken-pipe rule)
    let mut out = crate::stdio::stdout();
    writeln!(
        out,
        "\ncfship demo: {} simulated hours collected in {secs:.1}s → {destination}\n",
        args.hours
    )?;
    writeln!(out, "{}", summary.render())?;
    writeln!(
        out,
        "ground truth (simulator): {expected_logpull} Logpull records, {expected_audit} audit events in [{since}, {until})"
    )?;
    let dl = metrics.total("logpull", |c| &c.dead_lettered)
        + metrics.total("audit", |c| &c.dead_lettered);
    if dl > 0 {
        writeln!(
            out,
            "dead-lettered documents: {dl} (see {})",
            args.out.join("dead-letter.ndjson").display()
        )?;
    }
    if args.elasticsearch.is_some() {
        writeln!(
        out,
            "try: curl -s '{}/logs-cloudflare.logpull-{}/_search?q=source.geo.country_iso_code:us&size=1'",
            args.elasticsearch.as_deref().unwrap_or_default().trim_end_matches('/'),
            args.namespace
        )?;
    }
    out.flush()?;
    Ok(DemoReport {
        summary,
        expected_logpull,
        expected_audit,
        destination,
    })
}

/// The configuration of a demo: the simulator's zones and account with its token, and either
/// Elasticsearch (dead letters next to the NDJSON files) or the file output.
fn demo_config(
    args: &DemoArgs,
    sim: &SimulatorConfig,
    url: &str,
    token: &str,
    file_template: &std::path::Path,
) -> Result<Config> {
    let ids = |v: Vec<&String>| serde_json::Value::from(v.into_iter().cloned().collect::<Vec<_>>());
    let mut v = serde_json::json!({
        "cloudflare": { "api_url": url, "api_token": token },
        "audit": { "accounts": ids(sim.accounts.iter().map(|a| &a.id).collect()) },
        "logpull": { "zones": ids(sim.zones.iter().map(|z| &z.id).collect()) },
        "state": { "dir": args.out },
        "metrics": { "listen": "off" },
    });
    match &args.elasticsearch {
        Some(es) => {
            v["elasticsearch"] = serde_json::json!({
                "hosts": [es],
                "namespace": args.namespace,
                "dead_letter_path": args.out.join("dead-letter.ndjson"),
            })
        }
        None => v["file"] = serde_json::json!({ "path": file_template }),
    }
    Ok(crate::app::wiring::config_from_value(
        v,
        "the demo configuration",
    )?)
}
