//! # cfship-ecs — the transform
//!
//! Pure, synchronous functions that turn one raw Cloudflare record (an audit log entry or a
//! Logpull HTTP request) into the Elastic Common Schema document that Elastic's own `cloudflare`
//! integration (package 2.22, ECS 8.11.0) produces in its ingest pipelines, plus the `_id`
//! Elasticsearch's `fingerprint` processor gives it. No I/O happens here except opening the
//! GeoIP databases once.
//!
//! Bad input never panics and is never lost: a record that is not JSON, or on which a pipeline
//! step fails, becomes a document with `event.kind: pipeline_error`, an `error.message` naming
//! the processor and the reason, `event.original` and the tag `preserve_original_event`.
#![deny(unreachable_pub)]

pub mod audit;
pub mod audit_v2;
pub mod canonical;
pub mod community_id;
pub mod convert;
pub mod doc;
pub mod fingerprint;
pub mod geoip;
pub mod json;
pub mod logpull;
pub mod logpush;
mod processors;
pub mod time;
pub mod uri;

use doc::{Obj, Val};
use std::borrow::Cow;
use std::sync::Arc;

pub use geoip::{GeoIp, GeoIpError};

/// The datasets: the two of Elastic's `cloudflare` integration, and the data streams of its
/// `cloudflare_logpush` integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dataset {
    Audit,
    Logpull,
    Logpush(logpush::Ds),
}

impl Dataset {
    /// `audit` / `logpull` / `cloudflare_logpush.<data stream>`.
    pub fn name(self) -> &'static str {
        match self {
            Dataset::Audit => "audit",
            Dataset::Logpull => "logpull",
            Dataset::Logpush(ds) => ds.qualified_name(),
        }
    }

    /// `cloudflare.audit` / `cloudflare.logpull` / `cloudflare_logpush.<data stream>`.
    pub fn event_dataset(self) -> &'static str {
        match self {
            Dataset::Audit => "cloudflare.audit",
            Dataset::Logpull => "cloudflare.logpull",
            Dataset::Logpush(ds) => ds.dataset(),
        }
    }

    /// `event.module`: `cloudflare` or `cloudflare_logpush`.
    pub fn module(self) -> &'static str {
        match self {
            Dataset::Audit | Dataset::Logpull => "cloudflare",
            Dataset::Logpush(_) => "cloudflare_logpush",
        }
    }

    /// Every dataset `transform` accepts, by [`Dataset::name`].
    pub fn all() -> impl Iterator<Item = Dataset> {
        [Dataset::Audit, Dataset::Logpull]
            .into_iter()
            .chain(logpush::Ds::ALL.iter().copied().map(Dataset::Logpush))
    }

    /// The data stream `logs-cloudflare.<dataset>-<namespace>`.
    pub fn data_stream(self, namespace: &str) -> String {
        format!("logs-{}-{namespace}", self.event_dataset())
    }
}

impl std::str::FromStr for Dataset {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "audit" | "cloudflare.audit" => Ok(Dataset::Audit),
            "logpull" | "cloudflare.logpull" => Ok(Dataset::Logpull),
            other => match other
                .strip_prefix("cloudflare_logpush.")
                .and_then(logpush::Ds::from_name)
            {
                Some(ds) => Ok(Dataset::Logpush(ds)),
                None => Err(format!(
                    "unknown dataset {other:?}: expected audit, logpull or \
                     cloudflare_logpush.<data stream> (see --list-datasets)"
                )),
            },
        }
    }
}

/// The tag that keeps `event.original`.
pub const PRESERVE_ORIGINAL_TAG: &str = "preserve_original_event";

/// How documents are built.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Audit: becomes `cloud.account.id` (Elastic Agent's `_config.account_id`).
    pub account_id: Option<String>,
    /// Keep `event.original` (adds the tag `preserve_original_event`).
    pub preserve_original: bool,
    /// Tags every document carries (Elastic Agent's defaults are `forwarded` and
    /// `cloudflare-audit` / `cloudflare-logpull`).
    pub tags: Vec<String>,
    /// Fix the upstream pipeline bugs listed in the README instead of reproducing them.
    pub fix_upstream_bugs: bool,
    /// When set, add what Elastic Agent and Fleet add for indexing: `data_stream.*`,
    /// `event.dataset`, `event.module` (the data stream namespace).
    pub namespace: Option<String>,
    /// Add `event.ingested` (Fleet's final pipeline does); the time comes from the caller.
    pub set_ingested: bool,
    /// How [`Transformer::transform_collected`] re-encodes numbers (Agent's float64 or verbatim).
    pub numbers: canonical::Numbers,
    /// Logpull: the field names the user's own `logpull.fields` list requests; `None` = Elastic's
    /// list (byte-identical documents). With a custom list, the pipeline steps that rely on a field
    /// Elastic always requests do not fail the document when that field was not requested
    /// (docs/fidelity.md, "Custom Logpull field lists").
    pub logpull_requested: Option<std::sync::Arc<std::collections::BTreeSet<String>>>,
}

/// One produced document.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// `_id`: the fingerprint Elastic computes (`event.id` for audit, `event.original` for
    /// Logpull). Documents that failed before that step use the fingerprint of `event.original`,
    /// so every document has a deterministic id.
    pub id: String,
    /// The document as compact JSON.
    pub source: String,
    /// `Some(message)` for a `pipeline_error` document.
    pub error: Option<String>,
}

/// An `_id`: the base64 of a SHA-1 digest (28 ASCII characters), without an allocation.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct DocId([u8; 28]);

impl DocId {
    pub(crate) fn from_bytes(b: [u8; 28]) -> Self {
        DocId(b)
    }

    pub fn as_str(&self) -> &str {
        // Always base64 (ASCII), written by `fingerprint`.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

impl AsRef<str> for DocId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Debug for DocId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for DocId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What [`Transformer::transform_into`] tells about the document it appended: its `_id` and, for
/// a `pipeline_error` document, the message ([`Document::error`]).
#[derive(Debug, Clone, PartialEq)]
pub struct DocInfo {
    pub id: DocId,
    pub error: Option<String>,
}

impl DocInfo {
    /// The [`Document`] whose `source` is `bytes` (what the writer appended).
    fn into_document(self, bytes: Vec<u8>) -> Document {
        Document {
            id: self.id.as_str().to_string(),
            // The writer only appends whole UTF-8 sequences and ASCII.
            source: String::from_utf8(bytes)
                .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
            error: self.error,
        }
    }
}

/// Result of transforming one record.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Doc(Document),
    /// The record produces no document (the un-split empty audit API page, as upstream drops it).
    Dropped,
}

/// The transformer: options, GeoIP databases and the user-agent parser, shared read-only.
/// `Send + Sync`; lookups are cached internally.
pub struct Transformer {
    opts: Options,
    geo: Option<Arc<GeoIp>>,
    ua: Arc<cfship_useragent::CachedParser>,
}

/// Errors building a transformer.
#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    #[error(transparent)]
    GeoIp(#[from] GeoIpError),
    #[error("user-agent parser: {0}")]
    UserAgent(String),
}

impl Transformer {
    pub fn new(opts: Options, geo: Option<Arc<GeoIp>>) -> Result<Self, TransformError> {
        let ua = cfship_useragent::CachedParser::with_default_regexes()
            .map_err(|e| TransformError::UserAgent(e.to_string()))?;
        Ok(Transformer {
            opts,
            geo,
            ua: Arc::new(ua),
        })
    }

    /// Another transformer with different options sharing the same databases and caches.
    pub fn with_options(&self, opts: Options) -> Self {
        Transformer {
            opts,
            geo: self.geo.clone(),
            ua: self.ua.clone(),
        }
    }

    /// With a custom Logpull field list: whether `name` was left out of it by the user.
    pub fn unrequested(&self, name: &str) -> bool {
        self.opts
            .logpull_requested
            .as_ref()
            .is_some_and(|set| !set.contains(name))
    }

    pub fn options(&self) -> &Options {
        &self.opts
    }

    pub(crate) fn geo_city(&self, ip: std::net::IpAddr) -> Option<Arc<geoip::Geo>> {
        self.geo.as_ref().and_then(|g| g.city(ip))
    }

    pub(crate) fn geo_asn(&self, ip: std::net::IpAddr) -> Option<Arc<geoip::Asn>> {
        self.geo.as_ref().and_then(|g| g.asn(ip))
    }

    /// The `user_agent` processor into `user_agent.*`.
    pub(crate) fn user_agent_into<'a>(&self, doc: &mut Obj<'a>, ua: Cow<'a, str>) {
        let parsed = self.ua.parse(&ua);
        let mut o = Obj::with_capacity(5);
        let s = |v: &Option<String>| v.as_ref().map(|x| Val::Str(Cow::Owned(x.clone())));
        if let Some(v) = s(&parsed.device_name) {
            let mut d = Obj::with_capacity(1);
            d.insert("name", v);
            o.insert("device", Val::Obj(d));
        }
        if let Some(v) = s(&parsed.name) {
            o.insert("name", v);
        }
        o.insert("original", Val::Str(ua));
        let mut os = Obj::with_capacity(3);
        if let Some(v) = s(&parsed.os_full) {
            os.insert("full", v);
        }
        if let Some(v) = s(&parsed.os_name) {
            os.insert("name", v);
        }
        if let Some(v) = s(&parsed.os_version) {
            os.insert("version", v);
        }
        if !os.is_empty() {
            o.insert("os", Val::Obj(os));
        }
        if let Some(v) = s(&parsed.version) {
            o.insert("version", v);
        }
        doc.insert("user_agent", Val::Obj(o));
    }

    /// What Elastic Agent and Fleet add around the pipeline: `data_stream.*`, `event.dataset`,
    /// `event.module` (when indexing) and `event.ingested`.
    fn indexing_fields(&self, doc: &mut Obj<'_>, dataset: Dataset, now_ms: i64) {
        if let Some(ns) = &self.opts.namespace {
            let _ = doc.set("data_stream.type", Val::str("logs"));
            let _ = doc.set("data_stream.dataset", Val::str(dataset.event_dataset()));
            let _ = doc.set("data_stream.namespace", Val::Str(Cow::Owned(ns.clone())));
            let _ = doc.set("event.dataset", Val::str(dataset.event_dataset()));
            let _ = doc.set("event.module", Val::str(dataset.module()));
        }
        if self.opts.set_ingested {
            let ingested = time::Instant::utc(now_ms).format();
            let _ = doc.set("event.ingested", Val::Str(Cow::Owned(ingested)));
        }
    }

    pub(crate) fn tags(&self) -> Vec<Val<'static>> {
        let mut tags: Vec<Val<'static>> = self
            .opts
            .tags
            .iter()
            .map(|t| Val::Str(Cow::Owned(t.clone())))
            .collect();
        if self.opts.preserve_original && !self.opts.tags.iter().any(|t| t == PRESERVE_ORIGINAL_TAG)
        {
            tags.push(Val::Str(Cow::Borrowed(PRESERVE_ORIGINAL_TAG)));
        }
        tags
    }

    /// Transforms one raw record (the exact text of one JSON object). `now_ms` is the ingest
    /// time (used for `event.ingested` and as `@timestamp` of error documents that have none).
    pub fn transform(&self, dataset: Dataset, original: &str, now_ms: i64) -> Outcome {
        let mut out = Vec::with_capacity(original.len() * 2 + 256);
        match self.transform_into(dataset, original, now_ms, &mut out) {
            Some(info) => Outcome::Doc(info.into_document(out)),
            None => Outcome::Dropped,
        }
    }

    /// [`Transformer::transform`] appending the document's compact JSON to `out` (nothing else:
    /// no newline) instead of returning it as a `String`; `None` when the record gives no
    /// document (nothing is appended). The bytes are the same as [`Document::source`]'s.
    pub fn transform_into(
        &self,
        dataset: Dataset,
        original: &str,
        now_ms: i64,
        out: &mut Vec<u8>,
    ) -> Option<DocInfo> {
        if let Dataset::Logpush(ds) = dataset {
            let input = logpush::Input::Message(original);
            return Some(logpush::transform_into(self, ds, input, now_ms, out));
        }
        let mut doc = Obj::with_capacity(24);
        let _ = doc.set("ecs.version", Val::str("8.11.0"));
        let tags = self.tags();
        let mut keep_original = tags
            .iter()
            .any(|t| t.as_str() == Some(PRESERVE_ORIGINAL_TAG));
        if !tags.is_empty() {
            doc.insert("tags", Val::Arr(tags));
        }
        let _ = doc.set("event.original", Val::Str(Cow::Borrowed(original)));

        let (pipeline, failure, id) = match dataset {
            Dataset::Logpull => {
                match logpull::parse(original) {
                    Err(f) => {
                        // `json` accepts any JSON value, so a line that is JSON but not an
                        // object still gets the two `set`s that follow it.
                        if serde_json::from_str::<serde::de::IgnoredAny>(original).is_ok() {
                            let _ = doc.set("observer.vendor", Val::str("cloudflare"));
                            let _ = doc.set("observer.type", Val::str("proxy"));
                        }
                        (logpull::PIPELINE, Some(f), None)
                    }
                    Ok(rec) => {
                        // Set after `json` succeeds (a line that is not JSON gets neither).
                        let _ = doc.set("observer.vendor", Val::str("cloudflare"));
                        let _ = doc.set("observer.type", Val::str("proxy"));
                        let id = fingerprint::fingerprint_id(original);
                        // `if: json.EdgeRequestHost != null`; a custom list without the field
                        // runs http.yml anyway (the user chose not to request the host).
                        if rec.has_edge_request_host() || self.unrequested("EdgeRequestHost") {
                            match logpull::http(self, &mut doc, rec) {
                                Ok(()) => (logpull::HTTP_PIPELINE, None, Some(id)),
                                Err(f) => (logpull::HTTP_PIPELINE, Some(f), Some(id)),
                            }
                        } else {
                            (logpull::PIPELINE, None, Some(id))
                        }
                    }
                }
            }
            Dataset::Logpush(_) => return None,
            Dataset::Audit => match audit::parse(original) {
                Err(f) => (audit::PIPELINE, Some(f), None),
                Ok(audit::Parsed::EmptyPage) => return None,
                Ok(audit::Parsed::Record(json)) => {
                    let r = audit::process(self, &mut doc, json);
                    let id = match doc.get_path("event.id") {
                        Some(Val::Str(s)) => Some(fingerprint::fingerprint_id(s)),
                        Some(other) => serde_json::to_value(other)
                            .ok()
                            .map(|v| fingerprint::fingerprint_json_id(&v)),
                        None => None,
                    };
                    (audit::PIPELINE, r.err(), id)
                }
            },
        };

        let mut error = None;
        if let Some(f) = failure {
            // `_ingest.on_failure_pipeline` is only set for a failure inside a pipeline called
            // by another one (Elasticsearch's CompoundProcessor adds the `pipeline_origin` header
            // when the pipeline stack has more than one entry): a failure in the top-level
            // pipeline renders `in pipeline ""`.
            let origin = if pipeline == logpull::HTTP_PIPELINE {
                pipeline
            } else {
                ""
            };
            let message = match dataset {
                Dataset::Logpull => f.describe(origin),
                Dataset::Audit if f.processor == "json" => f.describe(origin),
                Dataset::Audit | Dataset::Logpush(_) => f.message.clone(),
            };
            let _ = doc.append("error.message", Val::Str(Cow::Owned(message.clone())), true);
            let _ = doc.set("event.kind", Val::str("pipeline_error"));
            let _ = doc.append("tags", Val::str(PRESERVE_ORIGINAL_TAG), false);
            keep_original = true;
            if !doc.has("@timestamp") {
                let _ = doc.set(
                    "@timestamp",
                    Val::Str(Cow::Owned(time::Instant::utc(now_ms).format())),
                );
            }
            error = Some(message);
        }
        self.indexing_fields(&mut doc, dataset, now_ms);
        processors::finish(&mut doc, keep_original);
        json::write_obj(out, &doc);
        Some(DocInfo {
            id: id.unwrap_or_else(|| fingerprint::fingerprint_id(original)),
            error,
        })
    }
}

impl Transformer {
    /// Transforms a record as collected from Cloudflare (or `cfship transform --reencode`): it is
    /// first re-encoded the way Elastic Agent's `httpjson` input publishes it (keys sorted, compact,
    /// Go's escapes, numbers per [`Options::numbers`]; see [`canonical`]), so that `event.original`
    /// and the Logpull `_id` are Agent's. Text that is not JSON goes on as it is (an error document).
    /// Idempotent on records Agent already encoded (Elastic's hand-written pipeline test inputs
    /// are not: their keys are not all sorted, so they are transformed as they are).
    pub fn transform_collected(&self, dataset: Dataset, raw: &str, now_ms: i64) -> Outcome {
        let mut out = Vec::with_capacity(raw.len() * 2 + 256);
        match self.transform_collected_into(dataset, raw, now_ms, &mut out) {
            Some(info) => Outcome::Doc(info.into_document(out)),
            None => Outcome::Dropped,
        }
    }

    /// [`Transformer::transform_collected`] appending the document to `out` (see
    /// [`Transformer::transform_into`]).
    pub fn transform_collected_into(
        &self,
        dataset: Dataset,
        raw: &str,
        now_ms: i64,
        out: &mut Vec<u8>,
    ) -> Option<DocInfo> {
        if let Dataset::Logpush(ds) = dataset {
            // Logpush records arrive as Elastic Agent's HTTP endpoint hands them over: parsed.
            let input = logpush::Input::Json(raw);
            return Some(logpush::transform_into(self, ds, input, now_ms, out));
        }
        thread_local! {
            // Agent's encoding of the record being transformed, reused from record to record.
            static AGENT: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
        }
        AGENT.with(|cell| {
            let mut owned = String::new();
            let mut borrowed = cell.try_borrow_mut();
            let agent = match borrowed.as_deref_mut() {
                Ok(s) => s,
                Err(_) => &mut owned,
            };
            agent.clear();
            let info = match canonical::go_json_into(raw, self.opts.numbers, agent) {
                Ok(()) => self.transform_into(dataset, agent, now_ms, out),
                Err(_) => self.transform_into(dataset, raw, now_ms, out),
            };
            // A rare huge record does not stay resident in every transform thread.
            if agent.capacity() > 256 * 1024 {
                *agent = String::new();
            }
            info
        })
    }

    /// The document for input that cannot even be handed to the pipeline (not UTF-8, larger than
    /// the record limit): a `pipeline_error` document keeping what was read as `event.original`.
    pub fn error_document(
        &self,
        dataset: Dataset,
        original: &str,
        message: &str,
        now_ms: i64,
    ) -> Document {
        let mut doc = Obj::with_capacity(8);
        let _ = doc.set("ecs.version", Val::str("8.11.0"));
        let mut tags = self.tags();
        if !tags
            .iter()
            .any(|t| t.as_str() == Some(PRESERVE_ORIGINAL_TAG))
        {
            tags.push(Val::str(PRESERVE_ORIGINAL_TAG));
        }
        doc.insert("tags", Val::Arr(tags));
        let _ = doc.set(
            "@timestamp",
            Val::Str(Cow::Owned(time::Instant::utc(now_ms).format())),
        );
        let _ = doc.set("event.original", Val::Str(Cow::Borrowed(original)));
        let _ = doc.set("event.kind", Val::str("pipeline_error"));
        let _ = doc.append(
            "error.message",
            Val::Str(Cow::Owned(message.to_string())),
            true,
        );
        self.indexing_fields(&mut doc, dataset, now_ms);
        doc.clean();
        Document {
            id: fingerprint::fingerprint_str(original),
            source: json::obj_to_string(&doc),
            error: Some(message.to_string()),
        }
    }
}

/// Error message of a JSON parse failure that names the position and shows the context.
pub(crate) fn json_error_message(original: &str, e: &serde_json::Error) -> String {
    if original.trim().is_empty() {
        return "empty record: expected a JSON object".to_string();
    }
    format!("invalid JSON: {e}")
}
