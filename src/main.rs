use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;

use cfship::cli;
use cfship::logging::{self, LogFormat};
use cfship::stdio as output;
use clap::{Parser, Subcommand};

/// mimalloc: ~9% more transform throughput than the system allocator (see README, Speed).
/// `cfship --version`: the crate version and the git commit it was built from.
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("CFSHIP_COMMIT"),
    ")"
);

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// cfship ships Cloudflare audit logs and Logpull HTTP request logs into Elasticsearch as the
/// exact ECS documents of Elastic's "cloudflare" integration — no Elastic Agent or Fleet needed.
#[derive(Debug, Parser)]
#[command(name = "cfship", version = VERSION, about, long_about = None, propagate_version = true)]
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
    /// The daemon: collect every configured source on its interval until SIGINT/SIGTERM.
    ///
    /// The first signal finishes and acknowledges the windows in flight, saves cursors and exits 0;
    /// a second one stops at once. `--once` runs each source until it caught up, then exits. Serves /metrics and /healthz on `metrics.listen` (default 127.0.0.1:9464).
    Run(cli::run::RunArgs),
    /// Collect an explicit time range without moving the daemon's cursors.
    ///
    /// Windows run in parallel within the rate limit. Progress bar on a terminal, log lines otherwise.
    Backfill(cli::backfill::BackfillArgs),
    /// Run every pre-flight check, one line each, with the fix in words.
    ///
    /// Checks: config valid, Cloudflare credentials (/user/tokens/verify), per zone the Logpull
    /// retention flag and log access, per account audit log access, Elasticsearch reachability,
    /// privileges and templates, output and state directories. Exits non-zero when any check fails.
    Check(cli::check::CheckArgs),
    /// Install (or upgrade) the Elasticsearch index templates of both data streams.
    Setup(cli::setup::SetupArgs),
    /// Where every Logpull zone and audit account stands: cursor, lag, time of the last save.
    ///
    /// Read from the cursor store (`state.dir`, or the state index of `state.backend:
    /// elasticsearch`, from any host). Exits non-zero when a cursor cannot be read.
    Status(cli::status::StatusArgs),
    /// Try cfship without a Cloudflare account (built-in simulator).
    ///
    /// Starts the built-in Cloudflare simulator, collects a few simulated hours of
    /// audit and Logpull data into Elasticsearch (--elasticsearch / ELASTICSEARCH_URL) or
    /// ./cfship-demo/*.ndjson, and prints a summary table.
    Demo(cli::demo::DemoArgs),
    /// Serve the built-in Cloudflare API simulator until stopped.
    ///
    /// Logpull, audit logs v1/v2, token verify and the retention flag, with deterministic data
    /// (a pure function of the seed and time) and optional faults. Prints its URL and ids.
    Simulate(cli::simulate::SimulateArgs),
    /// Cloudflare Logpush jobs: create (for cfship's HTTPS destination or a bucket), list with
    /// their health, delete.
    Logpush(cli::logpush::LogpushArgs),
}

/// Exit codes (documented in README, "Exit codes").
mod exit {
    /// The command failed: a source, a check, a record file, the network.
    pub const FAILURE: u8 = 1;
    /// The configuration or the command line is wrong (clap also exits 2 on usage errors).
    pub const CONFIG: u8 = 2;
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // `check` is a report: its retries and warnings are in the report, not on stderr before it
    let level = if matches!(cli.command, Command::Check(_)) {
        "error,cfship_cloudflare::client=off"
    } else {
        "info"
    };
    logging::init(cli.log_format, level);
    let name = cli.command.name();
    match dispatch(cli.command) {
        Ok(code) => code,
        // A closed stdout (`cfship check | head -2`) ends the command quietly.
        Err(e) if output::is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            // One clean message with the whole cause chain; never anyhow's backtrace, even with
            // RUST_BACKTRACE=1 set (a real panic still prints one).
            eprintln!("cfship {name}: error: {e:#}");
            let code = if e.downcast_ref::<cfship::config::ConfigError>().is_some() {
                exit::CONFIG
            } else {
                exit::FAILURE
            };
            ExitCode::from(code)
        }
    }
}

impl Command {
    fn name(&self) -> &'static str {
        match self {
            Command::Transform(_) => "transform",
            Command::Run(_) => "run",
            Command::Backfill(_) => "backfill",
            Command::Check(_) => "check",
            Command::Setup(_) => "setup",
            Command::Status(_) => "status",
            Command::Demo(_) => "demo",
            Command::Simulate(_) => "simulate",
            Command::Logpush(_) => "logpush",
        }
    }
}

fn dispatch(command: Command) -> Result<ExitCode> {
    match command {
        Command::Transform(args) => {
            let list = args.list_datasets;
            let s = cli::transform::run(args)?;
            if list {
                return Ok(ExitCode::SUCCESS);
            }
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
                return Ok(ExitCode::from(exit::FAILURE));
            }
        }
        Command::Backfill(args) => {
            let report = runtime()?.block_on(cli::backfill::run(args))?;
            if !report.failures.is_empty() {
                for f in &report.failures {
                    eprintln!("cfship backfill: {f}");
                }
                return Ok(ExitCode::from(exit::FAILURE));
            }
        }
        Command::Check(args) => {
            let checks = runtime()?.block_on(cli::check::checks(&args));
            let failed = checks.iter().filter(|c| !c.ok).count();
            let mut out = output::stdout();
            for c in &checks {
                writeln!(out, "{}", c.line())?;
            }
            if failed > 0 {
                writeln!(out, "{failed} of {} checks failed", checks.len())?;
                out.flush()?;
                return Ok(ExitCode::from(exit::FAILURE));
            }
            writeln!(out, "all {} checks passed", checks.len())?;
            out.flush()?;
        }
        Command::Setup(args) => {
            let mut out = output::stdout();
            for line in runtime()?.block_on(cli::setup::run(args))? {
                writeln!(out, "{line}")?;
            }
            out.flush()?;
        }
        Command::Status(args) => {
            let (lines, ok) = cli::status::run(args)?;
            let mut out = output::stdout();
            for l in &lines {
                writeln!(out, "{l}")?;
            }
            out.flush()?;
            if !ok {
                return Ok(ExitCode::from(exit::FAILURE));
            }
        }
        Command::Demo(args) => {
            runtime()?.block_on(cli::demo::run(args))?;
        }
        Command::Simulate(args) => {
            runtime()?.block_on(cli::simulate::run(args))?;
        }
        Command::Logpush(args) => {
            let (lines, healthy) = runtime()?.block_on(cli::logpush::run(args))?;
            let mut out = output::stdout();
            for l in &lines {
                writeln!(out, "{l}")?;
            }
            out.flush()?;
            if !healthy {
                return Ok(ExitCode::from(exit::FAILURE));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
