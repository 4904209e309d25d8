use anyhow::Result;
use cfship::cli;
use cfship::logging::{self, LogFormat};
use clap::{Parser, Subcommand};

/// cfship ships Cloudflare audit logs and Logpull HTTP request logs into Elasticsearch as the
/// exact ECS documents of Elastic's "cloudflare" integration — no Elastic Agent or Fleet needed.
#[derive(Debug, Parser)]
#[command(name = "cfship", version, about, long_about = None, propagate_version = true)]
struct Cli {
    /// Log format on stderr.
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "human",
        env = "CFSHIP_LOG_FORMAT"
    )]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Turn raw Cloudflare NDJSON (audit or Logpull records) into ECS NDJSON, offline.
    Transform(cli::transform::TransformArgs),
    /// The daemon: collect every configured source on its interval until SIGINT/SIGTERM (the first
    /// signal finishes and acknowledges the windows in flight, saves cursors and exits 0; a second one
    /// stops at once). Serves /metrics and /healthz on `metrics.listen` (default 127.0.0.1:9464).
    Run(cli::run::RunArgs),
    /// Collect an explicit time range (windows in parallel within the rate limit) without moving the
    /// daemon's cursors. Progress bar on a terminal, log lines otherwise.
    Backfill(cli::backfill::BackfillArgs),
    /// Every pre-flight check (config, Cloudflare credentials, Logpull retention and permissions per
    /// zone, audit access per account, Elasticsearch access and privileges), one line each, with the
    /// fix in words; exits non-zero when any check fails.
    Check(cli::check::CheckArgs),
    /// Install (or upgrade) the Elasticsearch index templates of both data streams.
    Setup(cli::setup::SetupArgs),
    /// No account needed: start the built-in Cloudflare simulator, collect a few simulated hours of
    /// audit and Logpull data into Elasticsearch (--elasticsearch / ELASTICSEARCH_URL) or
    /// ./cfship-demo/*.ndjson, and print a summary.
    Demo(cli::demo::DemoArgs),
    /// Serve the built-in Cloudflare API simulator (Logpull, audit logs, token verify, retention
    /// flag) with deterministic data and optional faults, until stopped.
    Simulate(cli::simulate::SimulateArgs),
}

fn main() -> Result<()> {
    let cli = Cli::parse();
    logging::init(cli.log_format);
    match cli.command {
        Command::Transform(args) => {
            let s = cli::transform::run(args)?;
            eprintln!(
                "cfship transform: {} records in, {} documents out, {} pipeline errors, {} dropped (empty API pages)",
                s.records, s.documents, s.errors, s.dropped
            );
        }
        Command::Run(args) => {
            let report = runtime()?.block_on(cli::run::run(args))?;
            if !report.failed_sources.is_empty() {
                for f in &report.failed_sources {
                    eprintln!("cfship run: {f}");
                }
                std::process::exit(1);
            }
        }
        Command::Backfill(args) => {
            let report = runtime()?.block_on(cli::backfill::run(args))?;
            if !report.failures.is_empty() {
                for f in &report.failures {
                    eprintln!("cfship backfill: {f}");
                }
                std::process::exit(1);
            }
        }
        Command::Check(args) => {
            let checks = runtime()?.block_on(cli::check::checks(&args));
            let failed = checks.iter().filter(|c| !c.ok).count();
            for c in &checks {
                println!("{}", c.line());
            }
            if failed > 0 {
                println!("{failed} of {} checks failed", checks.len());
                std::process::exit(1);
            }
            println!("all {} checks passed", checks.len());
        }
        Command::Setup(args) => {
            for line in runtime()?.block_on(cli::setup::run(args))? {
                println!("{line}");
            }
        }
        Command::Demo(args) => {
            runtime()?.block_on(cli::demo::run(args))?;
        }
        Command::Simulate(args) => {
            runtime()?.block_on(cli::simulate::run(args))?;
        }
    }
    Ok(())
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
