//! The interpreter of the Logpush pipeline tables: one [`Step`] per Elasticsearch processor (or per
//! tight group of processors that always travel together, such as `geoip` + the ASN lookup + its
//! two renames), with Elasticsearch's semantics for each. Field paths are `&'static str`; the
//! tables are `static` and nothing about them is allocated per record.
//!
//! Paths starting with `json.` address the parsed record (the `json` object the pipelines build
//! from `event.original`); every other path addresses the output document.

use super::{Era, ErrorStyle, Spec};
use crate::convert::{java_type, painless_long, to_long};
use crate::doc::{Obj, Val};
use crate::time::{parse_es_iso8601, parse_java_pattern, parse_unix_ms, Instant};
use crate::Transformer;
use std::borrow::Cow;

mod ctx;
mod dissect;
mod eval;
mod java;

use ctx::is_empty_str;
pub use ctx::{java_to_string, mustache, parse_logpush_date, to_milli, Ctx};
pub use dissect::{dissect, dissect_field};
pub use eval::{clean_na, convert, run};
pub use java::{java_hash_code, java_hash_set_order};

/// A constant value of a `set` / `append`.
#[derive(Debug, Clone, Copy)]
pub enum Const {
    Str(&'static str),
    List(&'static [&'static str]),
}

/// What a processor's own `on_failure` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFail {
    /// No handler: the pipeline fails (its `on_failure` makes a `pipeline_error` document).
    Abort,
    /// `on_failure: append error.message` (in the era's format), then the pipeline goes on.
    Append,
    /// `ignore_failure: true`.
    Ignore,
    /// `on_failure: append error.message '{{{_ingest.on_failure_message}}}'` (the bare message,
    /// whatever the era's format): the `date` processors of pipelines whose other processors
    /// append the tagged format.
    AppendMessage,
}

/// `set { copy_from }` variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyMode {
    /// Neither `ignore_failure` nor `ignore_empty_value`: a missing source fails the pipeline.
    Strict,
    /// `ignore_failure: true`: a missing source is skipped.
    IgnoreFailure,
    /// `ignore_empty_value: true`: a missing, null or `""` source is skipped.
    IgnoreEmpty,
}

/// `convert` target types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Long,
    Ip,
    Float,
    Double,
    Str,
    Bool,
}

/// A condition of an `if:`.
#[derive(Debug, Clone, Copy)]
pub enum Cond {
    /// `ctx.<path> == '<value>'`
    Eq(&'static str, &'static str),
    /// `ctx.<path> == true` (a JSON boolean)
    True(&'static str),
    /// `ctx.<path> == false` (a JSON boolean)
    False(&'static str),
    /// `ctx.<path> != null`
    Present(&'static str),
}

/// The `geoip` City lookup into `<prefix>.geo` plus the ASN lookup into `<prefix>.as` with the
/// renames `asn` → `number`, `organization_name` → `organization.name`.
#[derive(Debug, Clone, Copy)]
pub struct Geo {
    pub ip: &'static str,
    pub geo: &'static str,
    pub as_number: &'static str,
    pub as_org: &'static str,
    /// `ignore_missing` of the City lookup (the ASN lookup always has it).
    pub ignore_missing: bool,
}

impl Geo {
    pub const SOURCE: Geo = Geo {
        ip: "source.ip",
        geo: "source.geo",
        as_number: "source.as.number",
        as_org: "source.as.organization.name",
        ignore_missing: false,
    };
    pub const DESTINATION: Geo = Geo {
        ip: "destination.ip",
        geo: "destination.geo",
        as_number: "destination.as.number",
        as_org: "destination.as.organization.name",
        ignore_missing: false,
    };
    pub const CLIENT: Geo = Geo {
        ip: "client.ip",
        geo: "client.geo",
        as_number: "client.as.number",
        as_org: "client.as.organization.name",
        ignore_missing: false,
    };
    pub const SERVER: Geo = Geo {
        ip: "server.ip",
        geo: "server.geo",
        as_number: "server.as.number",
        as_org: "server.as.organization.name",
        ignore_missing: false,
    };

    /// The same lookups with `ignore_missing: true` on the City lookup.
    pub const fn ignore_missing(self) -> Geo {
        Geo {
            ignore_missing: true,
            ..self
        }
    }
}

/// A Rust function standing in for a Painless script (or any processor without a table form).
pub type ScriptFn = for<'a> fn(&mut Ctx<'_, 'a>) -> Result<(), String>;

/// One processor of a table.
#[derive(Clone, Copy)]
pub enum Step {
    /// `set { field, value }`.
    Set(&'static str, Const),
    /// `append { field, value, allow_duplicates: false, if: <cond> }`.
    AppendIf(&'static str, &'static str, Cond),
    /// The "to milli" script on a time field: a numeric string or a number becomes
    /// milliseconds (`> 1e18` ÷ 1e6, `< 1e10` × 1e3); anything else is left alone.
    ToMilli(&'static str),
    /// `date { field, target_field, formats: [UNIX_MS, ISO8601, yyyy-MM-dd'T'HH:mm:ssZ],
    /// timezone: UTC, if: not null and not '' }`.
    Date(&'static str, &'static str, OnFail),
    /// `rename { field, target_field, ignore_missing: true }`.
    Rename(&'static str, &'static str),
    /// `convert { field, target_field, type, ignore_missing: true, if: ctx.<field> != '' }`.
    Convert(&'static str, &'static str, Ty, OnFail),
    /// `set { field: to, copy_from: from }`.
    Copy(&'static str, &'static str, CopyMode),
    /// `set { field: to, copy_from: from, ignore_empty_value: true, if: ctx.<to> == null }`.
    CopyIfAbsent(&'static str, &'static str),
    /// `lowercase { field, ignore_missing: true }`.
    Lowercase(&'static str),
    /// `user_agent { field, ignore_missing: true, if: ctx.<field> != '' }` into `user_agent`.
    UserAgent(&'static str),
    /// `uri_parts { field, target_field: url, keep_original }`, only if the field is present.
    /// The third member is the processor's `on_failure`.
    UriParts(&'static str, bool, OnFail),
    /// City + ASN lookups (see [`Geo`]).
    GeoIp(Geo),
    /// `append { field: <related.x>, value: '{{{<from>}}}', allow_duplicates: false,
    /// if: ctx.<from> != null }`.
    Related(&'static str, &'static str),
    /// A script: its tag (for error messages) and its Rust implementation; an `Err` is the
    /// script's exception, handled per the [`OnFail`].
    Script(&'static str, ScriptFn, OnFail),
    /// A processor of another type standing in for Rust code (`dissect`, `date` with other
    /// formats, `foreach`, …): its type and tag (for error messages), the function, the
    /// handling of its failure. [`Step::Script`] is `Custom("script", ..)`.
    Custom(&'static str, &'static str, ScriptFn, OnFail),
    /// A processor with an `if:` that the step does not already imply: Elasticsearch wraps it in
    /// a `ConditionalProcessor`, so its failures name the processor type `conditional`.
    If(&'static Step),
    /// `user_agent { field, ignore_missing: true }` without an `if:` guard: `""` is parsed too
    /// (name and device `Other`, `original` "" — removed by the final clean-up).
    UserAgentAll(&'static str),
    /// The processor's `tag` (2.x pipelines tag every processor; a failure message names it).
    Tagged(&'static str, &'static Step),
    /// `rename { field, target_field, ignore_missing: true, if: ctx.<to> == null }` (the 2.x
    /// "new name first, old name as fallback" pairs). A target holding `null` passes the `if`
    /// and then fails the rename, as in Elasticsearch.
    RenameIfAbsent(&'static str, &'static str),
    /// `uppercase { field, ignore_missing: true }`.
    Uppercase(&'static str),
    /// `convert { field, target_field, type, ignore_missing: true }` without the `!= ''` guard:
    /// `""` is converted too (a `string` stays `""`, other types fail).
    ConvertAll(&'static str, &'static str, Ty, OnFail),
    /// `remove { field: json, ignore_missing: true }` (and `_conf`).
    RemoveJson,
    /// `remove { field: [...], if: tags lack preserve_duplicate_custom_fields }`.
    RemoveDuplicates(&'static [&'static str]),
    /// The 1.38+ pair of spellings of one Cloudflare field (`new` = Cloudflare's current key,
    /// `old` = the earlier one) into `to`, as the three processors
    /// `rename { field: new, if: new != null && new != '' }`,
    /// `append { field: to, value: '{{{old}}}', allow_duplicates: false,
    /// if: to != null && old != null && old != '' && old != to }` and
    /// `rename { field: old, if: to == null && old != null && old != '' }`
    /// (all `ignore_missing: true`). Both present and different: `to` becomes a list of both (the
    /// old one rendered as text).
    Spellings(&'static str, &'static str, &'static str),
    /// `community_id { target_field: network.community_id }` with the ECS default fields
    /// (`source.ip`/`port`, `destination.ip`/`port`, `network.iana_number` else
    /// `network.transport`, `icmp.type`/`code`), `ignore_missing: true` (see
    /// [`crate::community_id`]). Missing addresses or protocol: nothing; the member is the
    /// handling of the processor's errors (bad address, unknown protocol, port out of range).
    CommunityId(OnFail),
    /// A shared sequence of processors run in place, each with its own failure handling, as if
    /// written here (a table reused by another data stream, e.g. `audit_logs_v2` runs `audit`'s).
    Steps(&'static [Step]),
}

/// A processor failure: type, tag and message.
#[derive(Debug, Clone)]
pub struct Failure {
    pub processor: &'static str,
    pub tag: &'static str,
    pub message: String,
}

impl Failure {
    fn new(processor: &'static str, tag: &'static str, message: impl Into<String>) -> Self {
        Failure {
            processor,
            tag,
            message: message.into(),
        }
    }

    /// The text a processor's own `on_failure` appends to `error.message`.
    pub fn processor_message(&self, era: &Era, pipeline: &str) -> String {
        match era.errors {
            ErrorStyle::V1 | ErrorStyle::V1Quoted | ErrorStyle::V1TaggedPipeline => {
                self.message.clone()
            }
            ErrorStyle::V2 => self.tagged(pipeline),
            ErrorStyle::Quoted => self.quoted(),
            ErrorStyle::V1Tagged => self.double_quoted(pipeline),
            ErrorStyle::V1TagUnquoted => self.tag_unquoted(pipeline),
        }
    }

    /// The text the pipeline's `on_failure` appends to `error.message`.
    pub fn pipeline_message(&self, era: &Era, pipeline: &str) -> String {
        match era.errors {
            // These `on_failure` templates use `{{ … }}`, which Elasticsearch's ingest mustache
            // renders JSON-escaped (templates compiled with content type application/json).
            ErrorStyle::V1 => format!(
                "Processor \"{}\" in pipeline \"{}\" failed with message \"{}\"",
                self.processor,
                pipeline,
                json_escape(&self.message)
            ),
            ErrorStyle::V1TaggedPipeline => Failure {
                message: json_escape(&self.message).into_owned(),
                tag: self.tag,
                processor: self.processor,
            }
            .double_quoted(pipeline),
            ErrorStyle::V2 => self.tagged(pipeline),
            ErrorStyle::Quoted | ErrorStyle::V1Quoted => self.quoted(),
            ErrorStyle::V1Tagged => self.double_quoted(pipeline),
            ErrorStyle::V1TagUnquoted => self.tag_unquoted(pipeline),
        }
    }

    fn tag_unquoted(&self, pipeline: &str) -> String {
        format!(
            "Processor \"{}\" with tag {} in pipeline \"{}\" failed with message \"{}\"",
            self.processor, self.tag, pipeline, self.message
        )
    }

    fn double_quoted(&self, pipeline: &str) -> String {
        format!(
            "Processor \"{}\" with tag \"{}\" in pipeline \"{}\" failed with message \"{}\"",
            self.processor, self.tag, pipeline, self.message
        )
    }

    fn quoted(&self) -> String {
        if self.tag.is_empty() {
            format!(
                "Processor '{}' failed with message '{}'",
                self.processor, self.message
            )
        } else {
            format!(
                "Processor '{}' with tag '{}' failed with message '{}'",
                self.processor, self.tag, self.message
            )
        }
    }

    fn tagged(&self, pipeline: &str) -> String {
        format!(
            "Processor {} with tag {} in pipeline {} failed with message: {}",
            self.processor, self.tag, pipeline, self.message
        )
    }
}

/// What Elasticsearch's mustache writes for `{{ x }}` in an ingest template: the text
/// JSON-escaped as Jackson's `JsonStringEncoder.quoteAsString` does it (`"` and `\\`, the short
/// escapes `\\b \\t \\n \\f \\r`, other control characters as `\\u00XX`; nothing else).
pub(crate) fn json_escape(s: &str) -> Cow<'_, str> {
    if !s
        .chars()
        .any(|c| c == '"' || c == '\\' || (c as u32) < 0x20)
    {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::dissect;

    #[test]
    fn double_brace_mustache_is_json_escaped() {
        assert_eq!(super::json_escape("plain ünï"), "plain ünï");
        assert_eq!(
            super::json_escape("unable to parse URI [/quote\"char]"),
            "unable to parse URI [/quote\\\"char]"
        );
        assert_eq!(
            super::json_escape("a\\b\nc\td\u{1}"),
            "a\\\\b\\nc\\td\\u0001"
        );
    }

    #[test]
    fn dissect_like_elasticsearch() {
        let p = "%{network.protocol}/%{http.version}";
        assert_eq!(
            dissect(p, "HTTP/1.1"),
            Some(vec![("network.protocol", "HTTP"), ("http.version", "1.1")])
        );
        // The first occurrence of the delimiter ends a key; the last key takes the rest.
        assert_eq!(
            dissect(p, "a/b/c"),
            Some(vec![("network.protocol", "a"), ("http.version", "b/c")])
        );
        assert_eq!(
            dissect(p, "HTTP/"),
            Some(vec![("network.protocol", "HTTP"), ("http.version", "")])
        );
        assert_eq!(dissect(p, "none"), None);
        assert_eq!(
            dissect("%{tls.version_protocol}v%{tls.version}", "TLSv1.3"),
            Some(vec![
                ("tls.version_protocol", "TLS"),
                ("tls.version", "1.3")
            ])
        );
        // A leading literal must match; skipped keys are not returned.
        assert_eq!(
            dissect("[%{?level}] %{msg}", "[info] hi there"),
            Some(vec![("msg", "hi there")])
        );
        assert_eq!(dissect("[%{a}] %{b}", "info] x"), None);
        // Multi-byte text is split on character boundaries.
        assert_eq!(
            dissect("%{a}→%{b}", "ä→ö"),
            Some(vec![("a", "ä"), ("b", "ö")])
        );
    }
}
