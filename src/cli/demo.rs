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
    /// Distinct Logpush records the simulated job delivered (a re-delivery not counted twice).
    pub expected_logpush: u64,
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
                "Elasticsearch {url}: data streams logs-cloudflare.logpull-{ns}, logs-cloudflare.audit-{ns} and logs-cloudflare_logpush.http_request-{ns}"
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
            let lp = w.path_for(LOGPUSH_FILE_DATASET);
            match std::fs::remove_file(&lp) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(e).with_context(|| format!("removing {}", lp.display())),
            }
            format!(
                "{}, {} and {}",
                w.path_for("logpull").display(),
                w.path_for("audit").display(),
                lp.display()
            )
        }
    };
    // a fresh spool: batches of an earlier demo are not indexed again
    match std::fs::remove_dir_all(args.out.join("logpush-spool")) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).context("removing the demo's Logpush spool"),
    }
    // The demo is a configuration like any other, and goes through the same wiring as `run`.
    let cfg = demo_config(&args, &sim_cfg, &sim.url(), &token, &file_template)?;
    let client = cloudflare_client(&cfg)?;
    let metrics = Metrics::new();
    let mut opts = pipeline_options(&cfg)?;
    // without Elasticsearch the documents still carry the asked namespace
    opts.namespace = args.namespace.clone();
    let outputs = build_outputs(
        &cfg,
        opts.clone(),
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
    // Logpush: the demo's HTTPS destination, into the same outputs
    let lp_cancel = cancel.child_token();
    let store = Arc::new(
        cfship_state::CursorStore::open(&cfg.state.dir)
            .with_context(|| format!("state dir {}", cfg.state.dir.display()))?,
    );
    let lp = crate::app::logpush::spawn(
        &cfg,
        &opts,
        &outputs,
        store,
        false,
        crate::app::logpush::Buckets::Run,
        &lp_cancel,
    )
    .await?;
    let mut lp_tasks = lp.tasks;
    let lp_addr = lp
        .receiver_addr
        .context("the demo's Logpush receiver did not start")?;
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
    let zone = sim_cfg
        .zones
        .first()
        .map(|z| z.id.clone())
        .unwrap_or_default();
    eprintln!("cfship demo: simulated Cloudflare Logpush job of zone {zone} pushing to http://{lp_addr}/cloudflare_logpush/http_request");
    let pushed = push_logpush(lp_addr, &zone, args.seed, until).await?;
    // every pushed batch is in the spool (acknowledged); wait until it is in the outputs
    let t = Instant::now();
    loop {
        let left: u64 = outputs
            .metrics
            .logpush()
            .iter()
            .map(|p| match p {
                crate::metrics::LogpushProbe::Receiver { spool, .. }
                | crate::metrics::LogpushProbe::Spool(spool) => spool.status().segments,
                crate::metrics::LogpushProbe::Bucket { .. } => 0,
            })
            .sum();
        if left == 0 {
            break;
        }
        if t.elapsed() > Duration::from_secs(120) || cancel.is_cancelled() {
            anyhow::bail!("demo: the Logpush spool was not indexed ({left} batches left)");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    lp_cancel.cancel();
    while let Some(t) = lp_tasks.join_next().await {
        if let Ok((name, Err(e))) = t {
            anyhow::bail!("demo: {name}: {e}");
        }
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
        "ground truth (simulator): {expected_logpull} Logpull records, {expected_audit} audit events in [{since}, {until}); \
         {} Logpush records acknowledged by cfship's HTTPS destination ({} batches, one delivered twice: {} distinct)",
        pushed.records, pushed.batches, pushed.unique
    )?;
    let dl = metrics.total("logpull", |c| &c.dead_lettered)
        + metrics.total("audit", |c| &c.dead_lettered)
        + metrics.total("logpush", |c| &c.dead_lettered);
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
        expected_logpush: pushed.unique,
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
        "logpush": {
            "listen": "127.0.0.1:0",
            "secret": { "header": "X-Logpush-Secret", "value": DEMO_LOGPUSH_SECRET },
            "spool": { "dir": args.out.join("logpush-spool"), "max_mib": 256 },
        },
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

/// The file output's `{dataset}` of the demo's Logpush documents.
const LOGPUSH_FILE_DATASET: &str = "logpush-http_request";
/// The shared secret of the demo's Logpush job (a demo value, printed nowhere).
const DEMO_LOGPUSH_SECRET: &str = "cfship-demo-logpush-secret";
const DEMO_LOGPUSH_TOKEN: &str = "cfship-demo-logpush-token";
/// Batches and records per batch the simulated job pushes.
const LOGPUSH_BATCHES: usize = 12;
const LOGPUSH_BATCH_RECORDS: usize = 250;

/// What the simulated Logpush job delivered.
struct Pushed {
    /// Records acknowledged (2xx), a re-delivered batch counted each time.
    records: u64,
    /// Distinct records.
    unique: u64,
    batches: usize,
}

/// The simulated Cloudflare side of Logpush: the jobs API (a job is created through it, as
/// `cfship logpush create` does: the validation upload reaches the demo's receiver) and its pusher,
/// which POSTs gzipped batches with Cloudflare's headers and retries (one batch is delivered twice,
/// as after a timeout; its documents are duplicates, not new documents).
async fn push_logpush(
    addr: std::net::SocketAddr,
    zone: &str,
    seed: u64,
    until: chrono::DateTime<chrono::Utc>,
) -> Result<Pushed> {
    use cfship_cloudflare::{Auth, ClientConfig, CloudflareClient, JobScope, NewJob, Secret};
    use cfship_cloudflare_sim::logpush::{LogpushSim, PushPolicy};
    let sim = LogpushSim::new(
        DEMO_LOGPUSH_TOKEN,
        None,
        PushPolicy {
            attempts: 5,
            backoff: Duration::from_millis(200),
            ..PushPolicy::default()
        },
    );
    let (api, task) = sim.serve("127.0.0.1:0".parse()?).await?;
    let client = CloudflareClient::new(ClientConfig::with_api_url(&api)?)?;
    let auth = Auth::Token(Secret::new(DEMO_LOGPUSH_TOKEN));
    let scope = JobScope::Zone(zone.to_string());
    let destination = crate::cli::logpush::http_destination(
        &format!("http://{addr}"),
        "http_request",
        Some(("X-Logpush-Secret", DEMO_LOGPUSH_SECRET)),
    )?;
    let job = client
        .create_logpush_job(
            &auth,
            &scope,
            &NewJob {
                dataset: "http_requests".into(),
                name: "cfship-demo".into(),
                destination_conf: destination,
                fields: Vec::new(),
                timestamp_format: "rfc3339".into(),
                ownership_challenge: None,
                max_upload_bytes: None,
                max_upload_records: None,
                max_upload_interval_seconds: None,
            },
        )
        .await
        .context("creating the simulated Logpush job")?;
    let mut batches = 0;
    for b in 0..LOGPUSH_BATCHES {
        let recs = demo_http_requests(
            seed,
            b * LOGPUSH_BATCH_RECORDS,
            LOGPUSH_BATCH_RECORDS,
            until,
        );
        let times = if b == 3 { 2 } else { 1 };
        for _ in 0..times {
            match sim.push_batch(job.id, &recs).await {
                Ok(true) => batches += 1,
                Ok(false) => anyhow::bail!(
                    "demo: the simulated Logpush job dropped batch {b} after its retries"
                ),
                Err(e) => anyhow::bail!("demo: Logpush batch {b}: {e}"),
            }
        }
    }
    task.abort();
    Ok(Pushed {
        records: sim
            .delivered_records
            .load(std::sync::atomic::Ordering::Relaxed),
        unique: (LOGPUSH_BATCHES * LOGPUSH_BATCH_RECORDS) as u64,
        batches,
    })
}

/// `n` simulated `http_requests` Logpush records (RFC 3339 timestamps, as `cfship logpush create`
/// asks for), in the last minutes before `until`; a pure function of the seed.
fn demo_http_requests(
    seed: u64,
    from: usize,
    n: usize,
    until: chrono::DateTime<chrono::Utc>,
) -> Vec<String> {
    const COUNTRIES: [&str; 8] = ["us", "de", "gb", "fr", "jp", "br", "in", "se"];
    const PATHS: [&str; 6] = [
        "/",
        "/login",
        "/api/v1/items",
        "/static/app.js",
        "/search",
        "/cart",
    ];
    const STATUS: [u16; 8] = [200, 200, 200, 200, 304, 404, 403, 502];
    (from..from + n)
        .map(|i| {
            let h = (seed ^ 0x9e37_79b9_7f4a_7c15).wrapping_mul(i as u64 + 1).rotate_left(17);
            let t = until - chrono::Duration::milliseconds((h % 600_000) as i64);
            let start = t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            let end = (t + chrono::Duration::milliseconds((h % 250) as i64 + 3))
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            serde_json::json!({
                "CacheCacheStatus": if h.is_multiple_of(3) { "hit" } else { "miss" },
                "ClientCountry": COUNTRIES[(h % 8) as usize],
                "ClientIP": format!("198.51.100.{}", h % 254 + 1),
                "ClientRequestHost": "www.example.com",
                "ClientRequestMethod": if h.is_multiple_of(5) { "POST" } else { "GET" },
                "ClientRequestURI": PATHS[((h >> 8) % 6) as usize],
                "ClientRequestUserAgent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
                "EdgeEndTimestamp": end,
                "EdgeResponseBytes": 512 + h % 40_000,
                "EdgeResponseStatus": STATUS[((h >> 16) % 8) as usize],
                "EdgeStartTimestamp": start,
                "RayID": format!("{:08x}{:08x}", seed as u32, i),
                "ZoneName": "example.com",
            })
            .to_string()
        })
        .collect()
}
