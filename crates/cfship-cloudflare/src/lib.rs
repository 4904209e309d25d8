//! cfship-cloudflare: Cloudflare API client (audit logs v1/v2, Logpull) and collectors with durable
//! cursors. The simulator the tests run against is its own crate, `cfship-cloudflare-sim`.
#![deny(unreachable_pub)]

pub mod audit;
pub mod auth;
pub mod client;
pub mod error;
pub mod logpull;
mod logpull_stream;
pub mod logpush;
pub mod ratelimit;
pub mod sink;
pub mod stats;
mod util;

pub use audit::{backfill_audit, AuditApi, AuditCollector, AuditConfig, AuditCursor};
pub use auth::{Auth, Secret};
pub use client::{ClientConfig, CloudflareClient, RetryPolicy, TokenStatus, DEFAULT_API_URL};
pub use error::{ApiMessage, CfError, StreamFailure, StreamPosition};
pub use logpull::{
    backfill_logpull, LogpullCollector, LogpullConfig, LogpullCursor, Timestamps,
    ELASTIC_BOT_FIELDS, ELASTIC_DEFAULT_FIELDS,
};
pub use logpull_stream::LogpullStream;
pub use logpush::{
    is_bucket_destination, redact_destination, JobHealth, JobScope, LogpushJob, NewJob,
};
pub use sink::{RecordFormat, RecordSink, SinkError, SourceId, Unit, UnitOutcome};
pub use stats::{CollectorStats, StatsSnapshot};
pub use util::{Clock, ProgressEvent, RunSummary};
