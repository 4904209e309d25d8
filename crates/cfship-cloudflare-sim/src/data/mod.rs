//! Deterministic data of the simulator: every Logpull record and audit event is a pure function of
//! (seed, zone/account, time), so the ground truth can be computed without HTTP.
//!
//! * [`rng`]: the hashes and the small generator every value is drawn from.
//! * [`logpull`]: records per minute, their times, and [`write_record`].
//! * [`audit`]: audit events and their v1 / v2 renderings.
//! * [`tables`]: the value tables and the field lists the simulated API knows.

pub mod audit;
mod json;
pub mod logpull;
pub mod rng;
pub mod tables;

pub use audit::{
    audit_events, audit_events_in_hour, audit_id_v1, audit_id_v2, audit_v1_json, audit_v2_json,
    format_when, AuditEvent, AUDIT_KINDS,
};
pub use logpull::{
    for_each_record, ray_id, record_at, records_in_minute, write_record, TimestampFormat,
};
pub use rng::{fnv, h3, mix, Rng};
pub use tables::{BOT_MANAGEMENT_FIELDS, CLOUDFLARE_DEFAULT_FIELDS, KNOWN_FIELDS};

pub const NS_PER_SEC: i64 = 1_000_000_000;
pub const NS_PER_MIN: i64 = 60 * NS_PER_SEC;
pub const NS_PER_HOUR: i64 = 3600 * NS_PER_SEC;
