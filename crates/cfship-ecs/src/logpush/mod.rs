//! `cloudflare_logpush.*`: the ingest pipelines of Elastic's `cloudflare_logpush` integration, one
//! data stream per Cloudflare Logpush dataset, each as a declarative table of processors
//! ([`engine::Step`]) run by one interpreter with Elasticsearch's processor semantics.
//!
//! Each data stream lives in its own file (`logpush/<data_stream>.rs`) holding one
//! `pub static SPEC: Spec`: the package version it matches, the era's conventions ([`Era`]), and
//! its processors in pipeline order. Painless scripts are Rust functions next to the table
//! ([`engine::Step::Script`]). To add a data stream: write its file and add one line to the
//! `data_streams!` list below. See `docs/logpush-pipelines.md`.
//!
//! Two input shapes reach the pipelines ([`Input`]): the record text as `message` (object-store
//! inputs and Elastic's pipeline tests) and the record already parsed under `json` (Elastic
//! Agent's HTTP endpoint input, which sets `event.original` only with `preserve_original_event`).

pub mod engine;

use crate::doc::{Obj, Val};
use crate::{fingerprint, time, DocInfo, Document, Transformer, PRESERVE_ORIGINAL_TAG};
use engine::{Ctx, Failure, Step};
use std::borrow::Cow;

/// The tag that keeps the `cloudflare_logpush.*` copies of fields also copied to ECS.
pub const PRESERVE_DUPLICATES_TAG: &str = "preserve_duplicate_custom_fields";

/// How a package era writes errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorStyle {
    /// ≤ 1.44: processors append `{{{_ingest.on_failure_message}}}`; the pipeline appends
    /// `Processor "<type>" in pipeline "<pipeline>" failed with message "<message>"`.
    V1,
    /// ≥ 1.45: `Processor <type> with tag <tag> in pipeline <pipeline> failed with message: <message>`
    /// everywhere.
    V2,
    /// Data streams added in 1.36 (e.g. `dlp_forensic_copies`), everywhere:
    /// `Processor '<type>' with tag '<tag>' failed with message '<message>'`, the tag part only
    /// for a tagged processor (a Mustache section), no pipeline name.
    Quoted,
    /// Early pipelines (audit ≤ 1.26) whose processors append the bare message (as [`V1`]) but
    /// whose pipeline `on_failure` writes the quoted format of [`Quoted`].
    ///
    /// [`V1`]: ErrorStyle::V1
    /// [`Quoted`]: ErrorStyle::Quoted
    V1Quoted,
    /// Pipelines that tag every processor in 1.x (workers_trace), everywhere:
    /// `Processor "<type>" with tag "<tag>" in pipeline "<pipeline>" failed with message "<message>"`.
    V1Tagged,
    /// 1.27 – 1.44 pipelines whose processors append the bare message (as [`V1`]) while the
    /// pipeline `on_failure` writes the tagged, double-quoted format of [`V1Tagged`]
    /// (sinkhole_http).
    ///
    /// [`V1`]: ErrorStyle::V1
    /// [`V1Tagged`]: ErrorStyle::V1Tagged
    V1TaggedPipeline,
    /// 1.38 – 1.44 pipelines whose tagged processors and pipeline `on_failure` write
    /// `Processor "<type>" with tag <tag> in pipeline "<pipeline>" failed with message "<message>"`
    /// (the tag without quotes; network_analytics). Processors that append only
    /// `{{{_ingest.on_failure_message}}}` use [`engine::OnFail::AppendMessage`].
    V1TagUnquoted,
}

/// The conventions of one package era that are not processors of the table.
#[derive(Debug, Clone, Copy)]
pub struct Era {
    pub errors: ErrorStyle,
    /// The pipeline's `on_failure` appends the tag `preserve_original_event` (1.27.0+).
    pub tag_on_failure: bool,
    /// After the processors: `event.kind: pipeline_error` and the tag whenever `error.message`
    /// exists, even if only a processor's own handler wrote it (1.45.0+).
    pub kind_on_error_message: bool,
    /// The drop-empty script also removes the string `"N/A"` from maps (1.45.0+).
    pub drop_na: bool,
    /// The `json` processor's `tag`, named by its failure message (`""`: untagged, or a tag the
    /// era's pipeline text did not show).
    pub json_tag: &'static str,
    /// The `json` processor has an `if:` (2.x http_request: `ctx.event?.original != null`), so
    /// Elasticsearch wraps it and names its failure `conditional`.
    pub json_if: bool,
}

impl Era {
    /// Packages 1.8 – 1.26.
    pub const V1_EARLY: Era = Era {
        errors: ErrorStyle::V1,
        tag_on_failure: false,
        kind_on_error_message: false,
        drop_na: false,
        json_tag: "",
        json_if: false,
    };
    /// Packages 1.27 – 1.44.
    pub const V1_LATE: Era = Era {
        errors: ErrorStyle::V1,
        tag_on_failure: true,
        kind_on_error_message: false,
        drop_na: false,
        json_tag: "",
        json_if: false,
    };
    /// Packages 1.8 – 1.26 of the data streams whose pipeline `on_failure` is quoted (audit).
    pub const V1_EARLY_QUOTED: Era = Era {
        errors: ErrorStyle::V1Quoted,
        tag_on_failure: false,
        kind_on_error_message: false,
        drop_na: false,
        json_tag: "",
        json_if: false,
    };
    /// Packages 1.8 – 1.26 of the data streams that tag every processor (workers_trace).
    pub const V1_EARLY_TAGGED: Era = Era {
        errors: ErrorStyle::V1Tagged,
        tag_on_failure: false,
        kind_on_error_message: false,
        drop_na: false,
        json_tag: "",
        json_if: false,
    };
    /// Packages 1.27 – 1.44 of the data streams whose pipeline `on_failure` is tagged and
    /// double-quoted while processors append the bare message (sinkhole_http).
    pub const V1_LATE_TAGGED_PIPELINE: Era = Era {
        errors: ErrorStyle::V1TaggedPipeline,
        tag_on_failure: true,
        kind_on_error_message: false,
        drop_na: false,
        json_tag: "",
        json_if: false,
    };
    /// Packages 1.38 – 1.44 of the data streams in the unquoted-tag style (network_analytics).
    pub const V1_LATE_TAG_UNQUOTED: Era = Era {
        errors: ErrorStyle::V1TagUnquoted,
        tag_on_failure: true,
        kind_on_error_message: false,
        drop_na: false,
        json_tag: "",
        json_if: false,
    };
    /// Data streams written for 1.36 – 1.44 in the quoted style: processors append the quoted
    /// message, `event.kind: pipeline_error` and the tag whenever `error.message` exists.
    pub const V1_QUOTED: Era = Era {
        errors: ErrorStyle::Quoted,
        tag_on_failure: true,
        kind_on_error_message: true,
        drop_na: false,
        json_tag: "",
        json_if: false,
    };
    /// Packages 1.45 and later (2.x).
    pub const V2: Era = Era {
        errors: ErrorStyle::V2,
        tag_on_failure: true,
        kind_on_error_message: true,
        drop_na: true,
        json_tag: "",
        json_if: false,
    };
    /// Package 2.1.0 (the DEX data streams): the 2.x conventions, and the `json` processor is
    /// tagged `json_event_original_to_json` and has an `if: ctx.event?.original != null` (its
    /// failure is `Processor conditional`).
    pub const V2_1: Era = Era {
        json_tag: "json_event_original_to_json",
        json_if: true,
        ..Era::V2
    };
}

/// One data stream's pipeline.
#[derive(Clone, Copy)]
pub struct Spec {
    /// The data stream, e.g. `firewall_event`.
    pub name: &'static str,
    /// `event.dataset` / the data stream's dataset: `cloudflare_logpush.<name>`.
    pub dataset: &'static str,
    /// The Cloudflare Logpush dataset id, e.g. `firewall_events`.
    pub cloudflare: &'static str,
    /// The `cloudflare_logpush` package version whose documents this table reproduces.
    pub version: &'static str,
    /// The `ecs.version` the pipeline sets.
    pub ecs: &'static str,
    pub era: Era,
    /// The `json` processor has `ignore_failure: true` (a record that is not JSON gives a
    /// document with the constants only).
    pub json_ignore_failure: bool,
    /// The processors after `set ecs.version`, `message` → `event.original` and `json`, in
    /// pipeline order (the final drop-empty script and the era's error handling are implied).
    pub steps: &'static [Step],
}

impl Spec {
    /// Elasticsearch's name of the installed pipeline.
    pub fn pipeline_name(&self) -> String {
        format!("logs-{}-{}", self.dataset, self.version)
    }

    /// What `{{ _ingest.on_failure_pipeline }}` renders in this data stream's error messages:
    /// nothing. Elasticsearch sets it only for a failure inside a pipeline called by another
    /// (`CompoundProcessor` adds the `pipeline_origin` header when the pipeline stack holds more
    /// than one entry), and every `cloudflare_logpush` data stream is one top-level pipeline.
    pub fn on_failure_pipeline(&self) -> &'static str {
        ""
    }
}

macro_rules! data_streams {
    ($($variant:ident => $module:ident),* $(,)?) => {
        $(pub mod $module;)*

        /// The implemented `cloudflare_logpush` data streams.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Ds { $($variant),* }

        impl Ds {
            /// Every implemented data stream, in alphabetical order.
            pub const ALL: &'static [Ds] = &[$(Ds::$variant),*];

            pub fn spec(self) -> &'static Spec {
                match self { $(Ds::$variant => &$module::SPEC),* }
            }

            /// `cloudflare_logpush.<data stream>`: the name `transform --dataset` takes.
            pub fn qualified_name(self) -> &'static str {
                match self { $(Ds::$variant => concat!("cloudflare_logpush.", stringify!($module))),* }
            }
        }
    };
}

// One line per data stream (alphabetical): `Variant => module` (module = data stream name).
data_streams! {
    AccessRequest => access_request,
    Audit => audit,
    AuditLogsV2 => audit_logs_v2,
    Casb => casb,
    DevicePosture => device_posture,
    DexApplicationTests => dex_application_tests,
    DexDeviceStateEvents => dex_device_state_events,
    DlpForensicCopies => dlp_forensic_copies,
    Dns => dns,
    DnsFirewall => dns_firewall,
    EmailSecurityAlerts => email_security_alerts,
    FirewallEvent => firewall_event,
    GatewayDns => gateway_dns,
    GatewayNetwork => gateway_network,
    GatewayHttp => gateway_http,
    HttpRequest => http_request,
    MagicIds => magic_ids,
    NelReport => nel_report,
    NetworkAnalytics => network_analytics,
    NetworkSession => network_session,
    PageShieldEvents => page_shield_events,
    SinkholeHttp => sinkhole_http,
    SpectrumEvent => spectrum_event,
    WorkersTrace => workers_trace,
}

impl Ds {
    /// The data stream name (`firewall_event`).
    pub fn name(self) -> &'static str {
        self.spec().name
    }

    /// `cloudflare_logpush.<data stream>`: the dataset of the documents (`event.dataset`).
    pub fn dataset(self) -> &'static str {
        self.spec().dataset
    }

    /// The data stream the documents go to (`logs-cloudflare_logpush.<this>-*`): the data stream's
    /// own, or, for a Cloudflare dataset Elastic has no pipeline for that cfship maps onto another
    /// one's records, that one (`audit_logs_v2` → `audit`).
    pub fn data_stream(self) -> &'static str {
        let spec = self.spec();
        spec.dataset
            .strip_prefix("cloudflare_logpush.")
            .unwrap_or(spec.name)
    }

    /// Whether this is one of the data streams of Elastic's `cloudflare_logpush` package (with its
    /// pipeline tests), rather than a cfship mapping onto one of them.
    pub fn is_elastic(self) -> bool {
        self.data_stream() == self.name()
    }

    /// By data stream name (`dns`) or dataset (`cloudflare_logpush.dns`).
    pub fn from_name(s: &str) -> Option<Ds> {
        let n = s.strip_prefix("cloudflare_logpush.").unwrap_or(s);
        Ds::ALL.iter().copied().find(|d| d.name() == n)
    }
}

/// What reaches the pipeline.
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// The record text as `message` (bucket inputs, Elastic's pipeline tests); it becomes
    /// `event.original` verbatim.
    Message(&'a str),
    /// The record as Elastic Agent's HTTP endpoint input delivers it: parsed under `json`, with
    /// `event.original` (Agent's re-encoding: keys sorted, compact) only when the tags keep it.
    /// The pipelines run the `json` processor only when `event.original` exists (1.46.2+);
    /// older pipelines failed every such record (an upstream bug this does not reproduce).
    Json(&'a str),
}

/// Transforms one record of a data stream into its document.
pub fn transform(t: &Transformer, ds: Ds, input: Input<'_>, now_ms: i64) -> Document {
    let len = match input {
        Input::Message(s) | Input::Json(s) => s.len(),
    };
    let mut out = Vec::with_capacity(len * 2 + 256);
    let info = transform_into(t, ds, input, now_ms, &mut out);
    info.into_document(out)
}

/// [`transform`] appending the document's compact JSON to `out` (the same bytes as
/// [`Document::source`]).
pub fn transform_into(
    t: &Transformer,
    ds: Ds,
    input: Input<'_>,
    now_ms: i64,
    out: &mut Vec<u8>,
) -> DocInfo {
    let text = match input {
        Input::Message(s) | Input::Json(s) => s,
    };
    transform_parsed_into(t, ds, input, Parsed::parse(text), now_ms, out)
}

/// A record's text parsed as the pipeline's `json` processor reads it, once: a caller that needs
/// to know whether the record is JSON (the http_endpoint input refuses what is not) parses it
/// with [`Parsed::parse`] and hands it to [`transform_parsed_into`].
#[derive(Debug)]
pub struct Parsed<'a>(Result<Val<'a>, serde_json::Error>);

impl<'a> Parsed<'a> {
    pub fn parse(text: &'a str) -> Self {
        Parsed(serde_json::from_str::<Val<'a>>(text))
    }

    /// Why the text is not JSON (`None`: it parsed).
    pub fn error(&self) -> Option<&serde_json::Error> {
        self.0.as_ref().err()
    }
}

/// [`transform_into`] with the record already parsed (`parsed` must be [`Parsed::parse`] of the
/// input's text).
pub fn transform_parsed_into(
    t: &Transformer,
    ds: Ds,
    input: Input<'_>,
    parsed: Parsed<'_>,
    now_ms: i64,
    out: &mut Vec<u8>,
) -> DocInfo {
    let spec = ds.spec();
    let pipeline = spec.on_failure_pipeline().to_string();
    let tags = t.tags();
    let keep_original = tags
        .iter()
        .any(|v| v.as_str() == Some(PRESERVE_ORIGINAL_TAG));
    let keep_duplicates = tags
        .iter()
        .any(|v| v.as_str() == Some(PRESERVE_DUPLICATES_TAG));

    let (text, original): (&str, Option<Cow<'_, str>>) = match input {
        Input::Message(s) => (s, Some(Cow::Borrowed(s))),
        Input::Json(s) => {
            let o = if keep_original {
                Some(agent_encoding(s))
            } else {
                None
            };
            (s, o)
        }
    };
    let id = match (&input, &original) {
        (Input::Message(s), _) => fingerprint::fingerprint_id(s),
        (Input::Json(_), Some(o)) => fingerprint::fingerprint_id(o),
        (Input::Json(s), None) => fingerprint::fingerprint_id(&agent_encoding(s)),
    };

    let mut doc = Obj::with_capacity(24);
    let _ = doc.set("ecs.version", Val::str(spec.ecs));
    if !tags.is_empty() {
        doc.insert("tags", Val::Arr(tags));
    }
    if let Some(o) = &original {
        let _ = doc.set("event.original", Val::Str(o.clone()));
    }

    let mut ctx = Ctx {
        t,
        spec,
        doc,
        json: None,
        keep_duplicates,
        pipeline,
        unwalked: Vec::new(),
    };
    let mut failure: Option<Failure> = None;
    match parsed.0 {
        Ok(Val::Obj(o)) => ctx.json = Some(o),
        Ok(other) => {
            if !spec.json_ignore_failure {
                failure = Some(Failure {
                    processor: if spec.era.json_if {
                        "conditional"
                    } else {
                        "json"
                    },
                    tag: spec.era.json_tag,
                    message: format!(
                        "cannot parse a JSON {} as a record: expected a JSON object",
                        crate::convert::java_type(&other)
                    ),
                });
            }
        }
        Err(e) => {
            if !spec.json_ignore_failure {
                failure = Some(Failure {
                    processor: if spec.era.json_if {
                        "conditional"
                    } else {
                        "json"
                    },
                    tag: spec.era.json_tag,
                    message: crate::json_error_message(text, &e),
                });
            }
        }
    }
    if failure.is_none() {
        failure = engine::run(&mut ctx, spec.steps).err();
    }
    let Ctx {
        mut doc, unwalked, ..
    } = ctx;
    let mut error = None;
    let mut keep = keep_original;
    if let Some(f) = failure {
        let m = f.pipeline_message(&spec.era, spec.on_failure_pipeline());
        let _ = doc.append("error.message", Val::Str(Cow::Owned(m.clone())), true);
        let _ = doc.set("event.kind", Val::str("pipeline_error"));
        if spec.era.tag_on_failure {
            let _ = doc.append("tags", Val::str(PRESERVE_ORIGINAL_TAG), false);
        }
        // The failing pipeline never reaches its `remove event.original`.
        keep = true;
        error = Some(m);
    } else if spec.era.kind_on_error_message && doc.has("error.message") {
        let _ = doc.set("event.kind", Val::str("pipeline_error"));
        let _ = doc.append("tags", Val::str(PRESERVE_ORIGINAL_TAG), false);
        keep = true;
        error = first_error(&doc);
    }
    if !keep {
        doc.remove_path("event.original");
    }
    // Painless Sets are neither maps nor lists: the drop-empty script leaves them as they are.
    let sets: Vec<(&'static str, Val<'_>)> = unwalked
        .into_iter()
        .filter_map(|p| doc.remove_path(p).map(|v| (p, v)))
        .collect();
    if spec.era.drop_na {
        engine::clean_na(&mut doc);
    } else {
        doc.clean();
    }
    for (p, v) in sets {
        let _ = doc.set(p, v);
    }
    indexing_fields(t, &mut doc, spec, now_ms);
    crate::json::write_obj(out, &doc);
    DocInfo { id, error }
}

/// What Elastic Agent's http_endpoint input publishes as `event.original` (and fingerprints
/// for the `_id`): its re-encoding of the record (keys sorted, Go's escapes), or the text itself
/// when it is not JSON. Cloudflare already writes its records that way (sorted keys, compact), so
/// the record is usually its own encoding: checked in one pass, without a second parse.
fn agent_encoding(s: &str) -> Cow<'_, str> {
    crate::canonical::go_json_cow(s).unwrap_or(Cow::Borrowed(s))
}

/// The first processor error a document carries (a processor's own handler wrote it).
fn first_error(doc: &Obj<'_>) -> Option<String> {
    match doc.get_path("error.message")? {
        Val::Arr(a) => a.first().map(Val::to_display_string),
        v => Some(v.to_display_string()),
    }
}

/// What Elastic Agent and Fleet add around the pipeline: the read time as `@timestamp` when the
/// pipeline set none (Agent stamps every event), `data_stream.*`, `event.dataset`, `event.module`
/// and `event.ingested`.
fn indexing_fields(t: &Transformer, doc: &mut Obj<'_>, spec: &Spec, now_ms: i64) {
    let opts = t.options();
    if (opts.namespace.is_some() || opts.set_ingested) && !doc.has("@timestamp") {
        let now = time::Instant::utc(now_ms).format();
        let _ = doc.set("@timestamp", Val::Str(Cow::Owned(now)));
    }
    if let Some(ns) = &opts.namespace {
        let _ = doc.set("data_stream.type", Val::str("logs"));
        let _ = doc.set("data_stream.dataset", Val::str(spec.dataset));
        let _ = doc.set("data_stream.namespace", Val::Str(Cow::Owned(ns.clone())));
        let _ = doc.set("event.dataset", Val::str(spec.dataset));
        let _ = doc.set("event.module", Val::str("cloudflare_logpush"));
    }
    if opts.set_ingested {
        let ingested = time::Instant::utc(now_ms).format();
        let _ = doc.set("event.ingested", Val::Str(Cow::Owned(ingested)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canonical::go_json;

    /// The `_id` (and `event.original`) of the http_endpoint shape is the fingerprint of Agent's
    /// re-encoding whether the record is already in that form (the one-pass check takes the text
    /// itself) or not (it is re-encoded): the same as re-encoding every record.
    #[test]
    fn json_input_ids_are_those_of_agents_encoding() {
        let records = [
            // already Agent's encoding
            r#"{"ClientIP":"192.0.2.1","EdgeResponseStatus":200,"RayID":"abc"}"#,
            r#"{"A":{"b":[1,2.50,{"c":null,"d":true}],"e":"\u003cx\u003e \u0026 \"q\" \\ \n\u0001"},"Z":-1.5e-7}"#,
            r#"{"ClientRequestUserAgent":"Mozilla/5.0 (été; €) 😀","EdgeStartTimestamp":1700000000123456789}"#,
            // keys out of order, at the top and nested
            r#"{"RayID":"abc","ClientIP":"192.0.2.1"}"#,
            r#"{"A":{"z":1,"b":2},"B":[{"y":1,"x":2}]}"#,
            // a repeated key (the last one wins in Agent's map)
            r#"{"A":1,"A":2}"#,
            // escapes Go writes otherwise
            r#"{"a":"\/path","b":"\u00e9\u0041","c":"\ud83d\ude00","d":"\u003C","e":"<&>","f":"\b\f"}"#,
            "{\"a\":\"line\u{2028}sep\"}",
            r#"{"k\u00e9y":1,"a":2}"#,
            // blanks
            r#"{ "a": 1, "b": [ 1, 2 ] }"#,
            "{\"a\":1}\n",
            // numbers as written
            r#"{"a":0,"b":-0,"c":1E+5,"d":2.640,"e":12345678901234567890123}"#,
            // not JSON: the text itself
            r#"{"a":"#,
            r#"{"a":"\ud800"}"#,
        ];
        for preserve in [false, true] {
            let t = Transformer::new(
                crate::Options {
                    preserve_original: preserve,
                    ..Default::default()
                },
                None,
            )
            .expect("transformer");
            for raw in records {
                let want = go_json(raw).unwrap_or_else(|_| raw.to_string());
                let doc = transform(&t, Ds::HttpRequest, Input::Json(raw), 0);
                assert_eq!(doc.id, fingerprint::fingerprint_id(&want).as_str(), "{raw}");
                if preserve && doc.error.is_none() {
                    let v: serde_json::Value = serde_json::from_str(&doc.source).expect("json");
                    assert_eq!(v["event"]["original"], want.as_str(), "{raw}");
                }
            }
        }
    }
}
