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
    }
    Ok(())
}
