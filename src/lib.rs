//! cfship: Cloudflare audit logs and Logpull HTTP request logs into Elasticsearch, as the exact
//! ECS documents of Elastic's `cloudflare` integration.
//!
//! The data flows source → transform → sink, with the cursor store beside it:
//! - `cfship-cloudflare` (source: API client, collectors) and `cfship-state` (cursors);
//!   `cfship-cloudflare-sim` stands in for the API in `demo`, `simulate` and the tests,
//! - `cfship-ecs` (transform: pure functions, one module per dataset),
//! - `cfship-elasticsearch` (sink: templates, bulk, retries, dead letters),
//! - this crate: the CLI (`cli`), the configuration file (`config`), the wiring of a configuration
//!   into running parts and the signals (`app`), the pipeline (transform fan-out and
//!   acknowledgement, `pipeline`), the outputs (`output`) and `/metrics`.
//!
//! `cfship-logpush` receives Logpush (HTTPS destination, spool, bucket reader).

// The `cli` argument docs are clap's `--help` texts, whose `<placeholders>` are not HTML.
#![allow(rustdoc::invalid_html_tags)]

pub mod app;
pub mod cli;
pub mod config;
pub mod logging;
pub mod metrics;
pub mod output;
pub mod pipeline;
pub mod stdio;
mod sync;
