//! The shape of the configuration file: one type per section, strict keys. A value left out is
//! `None` when the component it configures owns its default (the collectors, the Elasticsearch
//! sink); `app::wiring` is the one place sections become component configurations.

use super::{parse_duration, Secret};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

/// Default address of `/metrics` and `/healthz`.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9464";

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where the configuration came from (for line numbers in errors of later checks).
    #[serde(skip)]
    pub(crate) origin: super::Origin,
    #[serde(default)]
    pub cloudflare: CloudflareSection,
    pub audit: Option<AuditSection>,
    pub logpull: Option<LogpullSection>,
    /// The Logpush HTTPS destination (`cfship-logpush`'s receiver).
    pub logpush: Option<LogpushSection>,
    /// Buckets Cloudflare's Logpush writes into.
    pub logpush_bucket: Option<Vec<LogpushBucketEntry>>,
    /// The Cloudflare Logpush jobs whose health `check` and `/metrics` report.
    pub logpush_jobs: Option<LogpushJobsSection>,
    pub elasticsearch: Option<ElasticsearchSection>,
    pub file: Option<FileSection>,
    #[serde(default)]
    pub state: StateSection,
    pub geoip: Option<GeoipSection>,
    #[serde(default)]
    pub metrics: MetricsSection,
    #[serde(default)]
    pub transform: TransformSection,
}

/// `cloudflare:` — API URL and default credentials.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudflareSection {
    #[serde(default = "default_api_url")]
    pub api_url: String,
    pub api_token: Option<Secret>,
    pub email: Option<String>,
    pub api_key: Option<Secret>,
    /// Cloudflare's global limit is 1200 requests / 5 minutes per user.
    pub requests_per_5min: Option<u32>,
}

impl Default for CloudflareSection {
    fn default() -> Self {
        CloudflareSection {
            api_url: default_api_url(),
            api_token: None,
            email: None,
            api_key: None,
            requests_per_5min: None,
        }
    }
}

fn default_api_url() -> String {
    cfship_cloudflare::DEFAULT_API_URL.to_string()
}

/// Credentials of one source or of the `cloudflare:` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    Token(Secret),
    Key { email: String, key: Secret },
}

impl Credentials {
    pub fn to_auth(&self) -> cfship_cloudflare::Auth {
        match self {
            Credentials::Token(t) => cfship_cloudflare::Auth::token(t.expose()),
            Credentials::Key { email, key } => cfship_cloudflare::Auth::key(email, key.expose()),
        }
    }
}

/// One account or zone: a bare id, or `{id, api_token | email + api_key}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceEntry {
    pub id: String,
    pub api_token: Option<Secret>,
    pub email: Option<String>,
    pub api_key: Option<Secret>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceEntryMap {
    id: String,
    api_token: Option<Secret>,
    email: Option<String>,
    api_key: Option<Secret>,
}

impl<'de> Deserialize<'de> for SourceEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SourceEntry;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an id, or a map {id, api_token | email + api_key}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SourceEntry, E> {
                Ok(SourceEntry {
                    id: v.to_string(),
                    api_token: None,
                    email: None,
                    api_key: None,
                })
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<SourceEntry, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<SourceEntry, A::Error> {
                let m = SourceEntryMap::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(SourceEntry {
                    id: m.id,
                    api_token: m.api_token,
                    email: m.email,
                    api_key: m.api_key,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// Which audit log API to read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditApiChoice {
    #[default]
    V1,
    V2,
}

/// `audit:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSection {
    pub accounts: Vec<SourceEntry>,
    /// Default: the collector's (1h, Elastic's).
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub interval: Option<Duration>,
    /// Default: the collector's (720h, Elastic's).
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub initial_lookback: Option<Duration>,
    #[serde(default)]
    pub api: AuditApiChoice,
    /// 1..=1000 (the collector's rule); default 100.
    pub per_page: Option<u32>,
}

/// `logpull:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogpullSection {
    pub zones: Vec<SourceEntry>,
    /// Default: the collector's (5m, Elastic's).
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub interval: Option<Duration>,
    #[serde(default)]
    pub bot_fields: bool,
    /// Explicit `fields` list, or `modern` (default: Elastic's list).
    #[serde(default, deserialize_with = "de_logpull_fields")]
    pub fields: Option<LogpullFields>,
    /// 0 < sample <= 1.
    pub sample: Option<f64>,
    /// Timestamp format asked of Cloudflare: `unixnano` (Cloudflare's and Elastic's default),
    /// `unix` or `rfc3339`; the transform reads all three.
    #[serde(default)]
    pub timestamps: cfship_cloudflare::Timestamps,
    /// Longest window (≤ 1h, Cloudflare's limit).
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub max_window: Option<Duration>,
    /// First start without a cursor: now − 1m − initial_lookback (default 5m).
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub initial_lookback: Option<Duration>,
}

/// `logpush:` — the HTTPS destination Cloudflare's Logpush jobs POST to. Defaults left out are the
/// receiver's (`cfship_logpush::ReceiverConfig`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogpushSection {
    /// `host:port`, e.g. `0.0.0.0:9560` (Elastic Agent's port).
    pub listen: String,
    /// Certificate chain and key (PEM); without it plain HTTP, for a TLS-terminating proxy.
    pub tls: Option<LogpushTls>,
    /// The shared secret header (Elastic's `secret.header` / `secret.value`).
    pub secret: Option<LogpushSecret>,
    /// Extra URL paths → data stream (besides `/cloudflare_logpush/<data stream>`).
    #[serde(default)]
    pub paths: std::collections::BTreeMap<String, String>,
    /// The durable spool every accepted batch is fsynced into before the 2xx.
    #[serde(default)]
    pub spool: LogpushSpool,
    /// Largest body accepted, MiB uncompressed (default 1100: Cloudflare's `max_upload_bytes`
    /// reaches 1000).
    pub max_body_mib: Option<u64>,
    /// Batches decoded at once (default the receiver's, 8).
    pub max_concurrent: Option<usize>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogpushTls {
    pub cert: PathBuf,
    pub key: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogpushSecret {
    #[serde(default = "default_secret_header")]
    pub header: String,
    pub value: Secret,
}

fn default_secret_header() -> String {
    "X-Logpush-Secret".to_string()
}

/// `logpush.spool`: where (default `<state.dir>/logpush-spool`) and how large (MiB, default 4096).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogpushSpool {
    pub dir: Option<PathBuf>,
    pub max_mib: Option<u64>,
}

/// `logpush_jobs:` — zones and accounts whose Logpush jobs (`enabled`, `last_complete`,
/// `last_error`, `error_message`) `cfship check` and `/metrics` report; credentials as for
/// `logpull.zones` / `audit.accounts` (the token needs Logs: Read).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogpushJobsSection {
    #[serde(default)]
    pub zones: Vec<SourceEntry>,
    #[serde(default)]
    pub accounts: Vec<SourceEntry>,
    /// How often `run` asks the jobs API (default 5m).
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub interval: Option<Duration>,
}

/// One `logpush_bucket:` entry. Defaults left out are the reader's (`cfship_logpush::BucketConfig`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogpushBucketEntry {
    /// `s3://bucket/prefix/` (S3, or R2 and other S3-compatible servers with `endpoint`),
    /// `gs://…`, `az://…`.
    pub url: String,
    /// The data stream of the objects (`http_request`) or Cloudflare's dataset (`http_requests`).
    pub dataset: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key_id: Option<Secret>,
    pub secret_access_key: Option<Secret>,
    /// Further `object_store` options (gs:// and az:// credentials…), treated as secrets.
    #[serde(default)]
    pub options: std::collections::BTreeMap<String, Secret>,
    /// `YYYYMMDD`: Cloudflare's daily folders before it are not read.
    pub start_date: Option<String>,
    /// Delete each object once all its documents are indexed.
    #[serde(default)]
    pub delete_after: bool,
    /// How often the bucket is listed (default 60s).
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub poll_interval: Option<Duration>,
}

/// `elasticsearch:` (optional output).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElasticsearchSection {
    #[serde(default)]
    pub hosts: Vec<String>,
    pub cloud_id: Option<String>,
    pub api_key: Option<Secret>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// Bearer token (OAuth2 / service account), instead of api_key or username/password.
    pub bearer_token: Option<Secret>,
    /// Default: the sink's (`default`).
    pub namespace: Option<String>,
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub insecure: bool,
    /// Client certificate chain (PEM; the key may be inside or in `client_key`).
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// Extra HTTP headers on every request (values treated as secrets).
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, Secret>,
    /// Request timeout, e.g. `60s`.
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub timeout: Option<Duration>,
    /// Also (or instead of the file) write dead letters to this index, e.g. `cfship-deadletter-default`.
    pub dead_letter_index: Option<String>,
    /// Documents Elasticsearch refuses for good (mapping errors) go here (NDJSON).
    pub dead_letter_path: Option<PathBuf>,
    pub max_in_flight: Option<usize>,
    pub batch_max_docs: Option<usize>,
    /// gzip level of `_bulk` bodies, 0 (none) to 9. Default 1 (as Beats and Logstash), but 0 when
    /// every host is on this machine (loopback): there gzip saves no network and costs CPU on
    /// both ends.
    pub compression_level: Option<u32>,
}

/// `file:` (optional output): ECS NDJSON. `{dataset}` in the path is replaced by audit/logpull.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSection {
    pub path: PathBuf,
}

/// `state:` — where cursors live: files in `dir` (the default) or documents in an Elasticsearch
/// index (`backend: elasticsearch`, `index`, default `cfship-state`, on the `elasticsearch:` output's
/// cluster). `dir` is still used for the dead-letter file and the Logpush spool.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateSection {
    #[serde(default = "default_state_dir")]
    pub dir: PathBuf,
    #[serde(default)]
    pub backend: StateBackend,
    pub index: Option<String>,
    /// `backend: elasticsearch`: how long a replica's lease of a source lasts without renewal
    /// (default 30s; renewed every third of it).
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub lease_ttl: Option<Duration>,
}

/// `state.backend`
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StateBackend {
    #[default]
    File,
    Elasticsearch,
}

impl Default for StateSection {
    fn default() -> Self {
        StateSection {
            dir: default_state_dir(),
            backend: StateBackend::File,
            index: None,
            lease_ttl: None,
        }
    }
}

impl StateSection {
    /// The state index of `backend: elasticsearch`.
    pub fn index_name(&self) -> &str {
        self.index.as_deref().unwrap_or(cfship_state::DEFAULT_INDEX)
    }
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("./cfship-state")
}

/// `geoip:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoipSection {
    pub dir: PathBuf,
}

/// `metrics:` — `/metrics` and `/healthz`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// `host:port`; `off` (or empty) disables the endpoint.
    #[serde(default = "default_metrics_listen")]
    pub listen: String,
    /// A source with no successful unit for this long is stalled (`/healthz` failing,
    /// `cfship_source_stalled` 1). Default: 3 × the source's interval, at least 5m.
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub stall_after: Option<Duration>,
}

impl Default for MetricsSection {
    fn default() -> Self {
        MetricsSection {
            listen: default_metrics_listen(),
            stall_after: None,
        }
    }
}

fn default_metrics_listen() -> String {
    DEFAULT_METRICS_LISTEN.to_string()
}

/// `transform:` — document options (Elastic Agent's integration settings).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformSection {
    /// Keep `event.original` (tag `preserve_original_event`).
    #[serde(default)]
    pub preserve_original_event: bool,
    /// Extra tags (after Elastic Agent's `forwarded`, `cloudflare-<dataset>`).
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub fix_upstream_bugs: bool,
    /// Re-encode numbers as Elastic Agent does (float64) so Logpull `_id`s equal Agent's even for
    /// `unixnano` timestamps; default keeps Cloudflare's digits.
    #[serde(default)]
    pub agent_numbers: bool,
}

/// `logpull.fields`: a list of Cloudflare field names, or `modern`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogpullFields {
    /// The current fields Elastic's `cloudflare_logpush` `http_request` pipeline maps
    /// (`cfship_cloudflare::logpull::MODERN_FIELDS`); documents go to that data stream.
    Modern,
    /// The user's own list (documents of Elastic's `cloudflare.logpull` pipeline).
    List(Vec<String>),
}

impl LogpullFields {
    /// The user's own list, if that is what was given.
    pub fn list(&self) -> Option<&[String]> {
        match self {
            LogpullFields::List(l) => Some(l),
            LogpullFields::Modern => None,
        }
    }
}

fn de_logpull_fields<'de, D: Deserializer<'de>>(d: D) -> Result<Option<LogpullFields>, D::Error> {
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<LogpullFields>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a list of Logpull field names, or `modern`")
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
            match s {
                "modern" => Ok(Some(LogpullFields::Modern)),
                other => Err(E::custom(format!(
                    "unknown field list {other:?}: give a list of field names, or `modern`"
                ))),
            }
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut v = Vec::new();
            while let Some(s) = seq.next_element::<String>()? {
                v.push(s);
            }
            Ok(Some(LogpullFields::List(v)))
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
    }
    d.deserialize_any(V)
}

fn de_opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let s = Option::<String>::deserialize(d)?;
    match s {
        None => Ok(None),
        Some(s) => parse_duration(&s).map(Some).map_err(de::Error::custom),
    }
}
