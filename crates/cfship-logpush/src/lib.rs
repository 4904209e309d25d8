//! # cfship-logpush — receiving Cloudflare Logpush
//!
//! * [`receiver`]: the HTTPS destination (Elastic-compatible paths and secret header, streamed
//!   gzip/NDJSON bodies, the validation upload, 2xx only after the batch is durable).
//! * [`spool`]: the bounded on-disk spool every batch is fsynced into before it is acknowledged,
//!   drained into Elasticsearch in order.
//! * [`bucket`]: the reader of Logpush objects in S3 / R2 / GCS / Azure buckets.
//! * [`decode`]: one batch (body or object) into documents, as a stream in bounded memory.
//!
//! The contract is written down in `docs/logpush-delivery.md`.
#![deny(unreachable_pub)]

pub mod bucket;
pub mod datasets;
pub mod decode;
pub mod receiver;
pub mod settings;
pub mod sink;
pub mod spool;
pub mod transform;

pub use bucket::{BucketConfig, BucketError, BucketReader, BucketState, BucketStats};
pub use datasets::{DataStream, Scope, DATA_STREAMS};
pub use decode::{decode_batch, BatchError, BatchSummary, Encoding, Limits};
pub use receiver::{
    serve, Receiver, ReceiverConfig, ReceiverError, ReceiverStats, SecretHeader, TlsFiles,
};
pub use settings::SettingError;
pub use sink::DocSink;
pub use spool::{SegmentWriter, Spool, SpoolError, SpoolStatus};
pub use transform::{Doc, EcsTransform, RawTransform, RecordTransform, Shape};
