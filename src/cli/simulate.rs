//! `cfship simulate --listen ADDR`: serves the built-in Cloudflare API simulator until stopped.

use anyhow::{Context, Result};
use cfship_cloudflare_sim::{self as simulator, SimulatorConfig};
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Address to listen on (port 0 = any free port; the URL is printed).
    #[arg(long, default_value = "127.0.0.1:8787")]
    pub listen: SocketAddr,
    /// Seed of the deterministic data (same seed = same records).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Full simulator configuration as JSON (zones, accounts, credentials, faults); default: two
    /// zones, one account, token `sim-token`, key `sim-global-key` of user@example.com.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Logpull records per minute of every zone (overrides the configuration).
    #[arg(long)]
    pub records_per_minute: Option<u32>,
    /// Probability of a 429 answer per request (0.0–1.0).
    #[arg(long)]
    pub rate_429: Option<f64>,
    /// Probability of a 5xx answer per request.
    #[arg(long)]
    pub rate_5xx: Option<f64>,
    /// Probability of a Logpull body cut short.
    #[arg(long)]
    pub rate_truncated: Option<f64>,
    /// Probability of a Logpull body ending with "Error streaming data".
    #[arg(long)]
    pub rate_error_trailer: Option<f64>,
    /// Probability of a slow response.
    #[arg(long)]
    pub rate_slow: Option<f64>,
}

/// The simulator configuration these arguments describe.
pub fn sim_config(args: &SimulateArgs) -> Result<SimulatorConfig> {
    let mut cfg = match &args.config {
        Some(p) => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            serde_json::from_str(&text)
                .with_context(|| format!("simulator config {}", p.display()))?
        }
        None => SimulatorConfig::demo(args.seed),
    };
    if args.config.is_some() {
        cfg.seed = args.seed;
    }
    if let Some(r) = args.records_per_minute {
        for z in &mut cfg.zones {
            z.records_per_minute = r;
        }
    }
    let f = &mut cfg.faults;
    for (dst, src) in [
        (&mut f.rate_429, args.rate_429),
        (&mut f.rate_5xx, args.rate_5xx),
        (&mut f.rate_truncated, args.rate_truncated),
        (&mut f.rate_error_trailer, args.rate_error_trailer),
        (&mut f.rate_slow, args.rate_slow),
    ] {
        if let Some(v) = src {
            if !(0.0..=1.0).contains(&v) {
                anyhow::bail!("fault rates are probabilities between 0 and 1, got {v}");
            }
            *dst = v;
        }
    }
    if f.rate_slow > 0.0 && f.slow_ms == 0 {
        f.slow_ms = 2000;
    }
    if f.rate_429 > 0.0 && f.retry_after_secs == 0 {
        f.retry_after_secs = 1;
    }
    Ok(cfg)
}

pub async fn run(args: SimulateArgs) -> Result<()> {
    let cfg = sim_config(&args)?;
    let h = simulator::start(cfg.clone(), args.listen).await?;
    println!("Cloudflare API simulator: {}", h.url());
    for z in &cfg.zones {
        println!(
            "  zone    {}  ({} records/min, retention {})",
            z.id,
            z.records_per_minute,
            if z.retention_enabled { "on" } else { "off" }
        );
    }
    for a in &cfg.accounts {
        println!("  account {}  ({} audit events/h)", a.id, a.events_per_hour);
    }
    println!(
        "  credentials: {} token(s), {} global key(s) (see --config / SimulatorConfig::demo)",
        cfg.credentials.tokens.len(),
        cfg.credentials.keys.len()
    );
    // SIGINT / SIGTERM stop the server (the same handlers as `run`)
    let _ = crate::app::signals::install_signal_handlers(h.cancel_token());
    h.wait().await;
    Ok(())
}
