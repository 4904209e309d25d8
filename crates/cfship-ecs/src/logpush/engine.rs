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
            ErrorStyle::V1 => format!(
                "Processor \"{}\" in pipeline \"{}\" failed with message \"{}\"",
                self.processor, pipeline, self.message
            ),
            ErrorStyle::V2 => self.tagged(pipeline),
            ErrorStyle::Quoted | ErrorStyle::V1Quoted => self.quoted(),
            ErrorStyle::V1Tagged | ErrorStyle::V1TaggedPipeline => self.double_quoted(pipeline),
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

/// The state a table runs on: the output document and the parsed record.
pub struct Ctx<'t, 'a> {
    pub t: &'t Transformer,
    pub spec: &'static Spec,
    pub doc: Obj<'a>,
    /// `json` (absent when the record could not be parsed and the pipeline ignores that).
    pub json: Option<Obj<'a>>,
    /// Whether `tags` holds `preserve_duplicate_custom_fields`.
    pub keep_duplicates: bool,
    pub pipeline: String,
    /// Paths holding a value the drop-empty script does not walk (a Painless `Set`, which is
    /// neither a `Map` nor a `List`): kept as they are, `""` elements and emptiness included.
    pub unwalked: Vec<&'static str>,
}

impl<'a> Ctx<'_, 'a> {
    /// The value at a path (`json.X` = the record).
    pub fn get(&self, path: &str) -> Option<&Val<'a>> {
        match path.strip_prefix("json.") {
            Some(rest) => self.json.as_ref()?.get_path(rest),
            None => self.doc.get_path(path),
        }
    }

    /// Removes and returns the value at a path.
    pub fn take(&mut self, path: &str) -> Option<Val<'a>> {
        match path.strip_prefix("json.") {
            Some(rest) => self.json.as_mut()?.remove_path(rest),
            None => self.doc.remove_path(path),
        }
    }

    /// Sets a value at a path (`json.X` writes into the record).
    pub fn set(&mut self, path: &'static str, v: Val<'a>) -> Result<(), String> {
        let r = match path.strip_prefix("json.") {
            Some(rest) => match self.json.as_mut() {
                Some(j) => j.set(rest, v),
                None => return Err(not_present("json", path)),
            },
            None => self.doc.set(path, v),
        };
        r.map_err(|e| cannot_set(&e.segment, &e.path))
    }

    /// Sets a value at a path unless something is there already (`rename`'s rule).
    fn set_new(&mut self, path: &'static str, v: Val<'a>) -> Result<bool, String> {
        let r = match path.strip_prefix("json.") {
            Some(rest) => match self.json.as_mut() {
                Some(j) => j.set_new(rest, v),
                None => return Err(not_present("json", path)),
            },
            None => self.doc.set_new(path, v),
        };
        r.map_err(|e| cannot_set(&e.segment, &e.path))
    }

    /// Elasticsearch's `field [x] not present as part of path [p]` for a path that resolves to
    /// nothing (x = the first missing segment).
    pub fn missing_message(&self, path: &str) -> String {
        let (root, rest): (Option<&Obj<'a>>, &str) = match path.strip_prefix("json.") {
            Some(rest) => (self.json.as_ref(), rest),
            None => (Some(&self.doc), path),
        };
        let Some(mut cur) = root else {
            return not_present("json", path);
        };
        let mut segs = rest.split('.').peekable();
        while let Some(seg) = segs.next() {
            match cur.get(seg) {
                None => return not_present(seg, path),
                Some(Val::Obj(o)) if segs.peek().is_some() => cur = o,
                Some(_) => break,
            }
        }
        not_present(path.rsplit('.').next().unwrap_or(path), path)
    }

    /// `append` with `allow_duplicates: false` of an already-rendered value.
    pub fn append(&mut self, path: &'static str, v: Val<'a>) -> Result<(), String> {
        self.doc
            .append(path, v, false)
            .map_err(|e| cannot_set(&e.segment, &e.path))
    }

    /// The path holds a value other than `null` (Painless `ctx.<path> != null`).
    pub fn has(&self, path: &str) -> bool {
        self.get(path).is_some_and(|v| !matches!(v, Val::Null))
    }

    fn cond(&self, c: Cond) -> bool {
        match c {
            Cond::Eq(p, s) => self.get(p).and_then(Val::as_str) == Some(s),
            Cond::True(p) => matches!(self.get(p), Some(Val::Bool(true))),
            Cond::False(p) => matches!(self.get(p), Some(Val::Bool(false))),
            Cond::Present(p) => self.has(p),
        }
    }

    /// Sets a Painless `HashSet` at `path`: the distinct values in Java's iteration order
    /// ([`java_hash_set_order`]), left alone by the drop-empty script.
    pub fn set_java_set(&mut self, path: &'static str, values: Vec<Val<'a>>) -> Result<(), String> {
        self.set(path, Val::Arr(java_hash_set_order(values)))?;
        if !self.unwalked.contains(&path) {
            self.unwalked.push(path);
        }
        Ok(())
    }

    /// Appends a processor's `on_failure` message to `error.message`.
    fn append_error(&mut self, f: &Failure) {
        let m = f.processor_message(&self.spec.era, &self.pipeline);
        let _ = self
            .doc
            .append("error.message", Val::Str(Cow::Owned(m)), true);
    }
}

fn not_present(seg: &str, path: &str) -> String {
    format!("field [{seg}] not present as part of path [{path}]")
}

fn cannot_set(seg: &str, path: &str) -> String {
    format!(
        "cannot set [{seg}] with parent object of type [java.lang.String] as part of path [{path}]"
    )
}

/// `""` (the `!= ''` guards compare strings only).
fn is_empty_str(v: Option<&Val<'_>>) -> bool {
    matches!(v, Some(Val::Str(s)) if s.is_empty())
}

/// Mustache `{{{field}}}` of a value: scalars as text, lists and maps as Java's `toString`.
pub fn mustache(v: &Val<'_>) -> String {
    match v {
        Val::Arr(a) => {
            let parts: Vec<String> = a.iter().map(mustache).collect();
            format!("[{}]", parts.join(", "))
        }
        Val::Obj(o) => {
            let parts: Vec<String> = o
                .iter()
                .map(|(k, v)| format!("{k}={}", mustache(v)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        other => other.to_display_string(),
    }
}

/// The timestamp script of the 1.8.1+ pipelines (integer arithmetic on `long`).
pub fn to_milli(v: &Val<'_>) -> Option<i64> {
    let t = match v {
        Val::Str(_) | Val::I64(_) | Val::U64(_) | Val::F64(_) => painless_long(v)?,
        _ => return None,
    };
    Some(if t > 1_000_000_000_000_000_000 {
        t / 1_000_000
    } else if t < 10_000_000_000 {
        t.wrapping_mul(1000)
    } else {
        t
    })
}

/// The `date` processor with `formats: [UNIX_MS, ISO8601, yyyy-MM-dd'T'HH:mm:ssZ]` and
/// `timezone: UTC`: the value's text, the first format that reads it, in UTC. The error is the
/// first format's failure, as Elasticsearch reports it: `Long.parseLong`'s
/// `For input string: "<text>"`.
pub fn parse_logpush_date(text: &str) -> Result<Instant, String> {
    parse_unix_ms(text)
        .or_else(|| parse_es_iso8601(text).ok())
        .or_else(|| parse_java_pattern(text, "yyyy-MM-dd'T'HH:mm:ssZ").ok())
        .map(|i| Instant::utc(i.millis))
        .ok_or_else(|| format!("For input string: \"{text}\""))
}

/// One `convert` of a value (lists element by element).
pub fn convert<'a>(v: &Val<'a>, ty: Ty) -> Result<Val<'a>, String> {
    if let Val::Arr(a) = v {
        if ty != Ty::Long {
            return a
                .iter()
                .map(|x| convert(x, ty))
                .collect::<Result<Vec<_>, _>>()
                .map(Val::Arr);
        }
    }
    match ty {
        Ty::Long => to_long(v),
        Ty::Ip => {
            let s = v.to_display_string();
            if crate::convert::is_ip(&s) {
                Ok(match v {
                    Val::Str(s) => Val::Str(s.clone()),
                    _ => Val::Str(Cow::Owned(s)),
                })
            } else {
                Err(format!("'{s}' is not an IP string literal."))
            }
        }
        Ty::Float | Ty::Double => {
            let s = v.to_display_string();
            let parsed = match v {
                Val::I64(i) => Some(*i as f64),
                Val::U64(u) => Some(*u as f64),
                Val::F64(f) => Some(*f),
                _ => s.trim().parse::<f64>().ok(),
            };
            let Some(f) = parsed else {
                return Err(format!(
                    "unable to convert [{s}] to {}",
                    if ty == Ty::Float { "float" } else { "double" }
                ));
            };
            if ty == Ty::Float {
                // Java's Float: the value a float holds, written with a float's shortest digits.
                let f32v = f as f32;
                Ok(Val::F64(format!("{f32v}").parse::<f64>().unwrap_or(f)))
            } else {
                Ok(Val::F64(f))
            }
        }
        Ty::Str => Ok(match v {
            Val::Str(s) => Val::Str(s.clone()),
            other => Val::Str(Cow::Owned(other.to_display_string())),
        }),
        Ty::Bool => match v {
            Val::Bool(b) => Ok(Val::Bool(*b)),
            other => {
                let s = other.to_display_string();
                if s.eq_ignore_ascii_case("true") {
                    Ok(Val::Bool(true))
                } else if s.eq_ignore_ascii_case("false") {
                    Ok(Val::Bool(false))
                } else {
                    Err(format!(
                        "[{s}] is not a boolean value, cannot convert to boolean"
                    ))
                }
            }
        },
    }
}

/// Runs one step. `Err` = the pipeline fails (a processor without its own handler failed).
fn run_step<'a>(ctx: &mut Ctx<'_, 'a>, step: &Step) -> Result<(), Failure> {
    if let Step::Steps(steps) = step {
        return run(ctx, steps);
    }
    match eval(ctx, step) {
        Ok(()) => Ok(()),
        Err((_, OnFail::Ignore)) => Ok(()),
        Err((f, OnFail::Append)) => {
            ctx.append_error(&f);
            Ok(())
        }
        Err((f, OnFail::AppendMessage)) => {
            let _ = ctx
                .doc
                .append("error.message", Val::Str(Cow::Owned(f.message)), true);
            Ok(())
        }
        Err((f, OnFail::Abort)) => Err(f),
    }
}

/// Painless `a != b` on two `def` values: numbers compare by value, everything else by equality.
fn painless_ne(a: &Val<'_>, b: &Val<'_>) -> bool {
    let num = |v: &Val<'_>| match v {
        Val::I64(i) => Some(*i as f64),
        Val::U64(u) => Some(*u as f64),
        Val::F64(f) => Some(*f),
        _ => None,
    };
    match (num(a), num(b)) {
        (Some(x), Some(y)) => x != y,
        _ => a != b,
    }
}

fn spellings<'a>(
    ctx: &mut Ctx<'_, 'a>,
    new: &'static str,
    old: &'static str,
    to: &'static str,
) -> Result<(), (Failure, OnFail)> {
    let usable = |v: Option<&Val<'_>>| !matches!(v, None | Some(Val::Null)) && !is_empty_str(v);
    if usable(ctx.get(new)) {
        eval(ctx, &Step::Rename(new, to))?;
    }
    let to_present = ctx.has(to);
    if to_present && usable(ctx.get(old)) {
        let differs = match (ctx.get(old), ctx.get(to)) {
            (Some(o), Some(t)) => painless_ne(o, t),
            _ => false,
        };
        if differs {
            let s = ctx.get(old).map(mustache).unwrap_or_default();
            ctx.append(to, Val::Str(Cow::Owned(s)))
                .map_err(|m| (Failure::new("append", "", m), OnFail::Abort))?;
        }
    }
    if !ctx.has(to) && usable(ctx.get(old)) {
        eval(ctx, &Step::Rename(old, to))?;
    }
    Ok(())
}

fn community_id_step(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    let get = |p: &str| ctx.doc.get_path(p).filter(|v| !matches!(v, Val::Null));
    let flow = crate::community_id::FlowFields {
        source_ip: get("source.ip"),
        destination_ip: get("destination.ip"),
        iana_number: get("network.iana_number"),
        transport: get("network.transport"),
        source_port: get("source.port"),
        destination_port: get("destination.port"),
        icmp_type: get("icmp.type"),
        icmp_code: get("icmp.code"),
    };
    if let Some(id) = crate::community_id::community_id(&flow, 0)? {
        ctx.set("network.community_id", Val::Str(Cow::Owned(id)))?;
    }
    Ok(())
}

fn convert_step<'a>(
    ctx: &mut Ctx<'_, 'a>,
    from: &'static str,
    to: &'static str,
    ty: Ty,
    on_fail: OnFail,
    skip_empty: bool,
) -> Result<(), (Failure, OnFail)> {
    match ctx.get(from) {
        None | Some(Val::Null) => Ok(()),
        Some(v) if skip_empty && is_empty_str(Some(v)) => Ok(()),
        Some(v) => match convert(v, ty) {
            Ok(c) => ctx
                .set(to, c)
                .map_err(|m| (Failure::new("convert", "", m), on_fail)),
            Err(m) => Err((Failure::new("convert", "", m), on_fail)),
        },
    }
}

/// Elasticsearch's `dissect` for patterns made of `%{key}` (or `%{}` / `%{?name}`, skipped) and
/// literal delimiters: a leading literal must match at the start, each key takes the text up to
/// the next occurrence of the delimiter that follows it, the last key takes the rest. `None` =
/// "Unable to find match". Modifiers (`->`, `+`, `*`, `&`) are not supported.
pub fn dissect<'p, 's>(pattern: &'p str, value: &'s str) -> Option<Vec<(&'p str, &'s str)>> {
    // Split the pattern into (leading literal, [(key, following literal)]).
    let mut rest = pattern;
    let lead_end = rest.find("%{").unwrap_or(rest.len());
    let lead = &rest[..lead_end];
    rest = &rest[lead_end..];
    let mut parts: Vec<(&str, &str)> = Vec::new();
    while let Some(after) = rest.strip_prefix("%{") {
        let close = after.find('}')?;
        let key = &after[..close];
        let tail = &after[close + 1..];
        let lit_end = tail.find("%{").unwrap_or(tail.len());
        parts.push((key, &tail[..lit_end]));
        rest = &tail[lit_end..];
    }
    let mut v = value.strip_prefix(lead)?;
    let mut out = Vec::with_capacity(parts.len());
    let n = parts.len();
    for (i, (key, delim)) in parts.into_iter().enumerate() {
        let (field, next) = if delim.is_empty() {
            if i + 1 == n {
                (v, "")
            } else {
                // Two adjacent keys: Elasticsearch gives the first one nothing.
                ("", v)
            }
        } else {
            let at = v.find(delim)?;
            (&v[..at], &v[at + delim.len()..])
        };
        if !(key.is_empty() || key.starts_with('?')) {
            out.push((key, field));
        }
        v = next;
    }
    Some(out)
}

/// `dissect { field, pattern, ignore_missing: true }` (see [`dissect`]) as the body of a
/// [`Step::Custom`] `"dissect"` (which adds the processor's `if` and tag): the keys are set as
/// strings; a non-string field or a text the pattern does not match is the processor's error.
pub fn dissect_field(
    ctx: &mut Ctx<'_, '_>,
    field: &'static str,
    pattern: &'static str,
) -> Result<(), String> {
    let text = match ctx.get(field) {
        None | Some(Val::Null) => return Ok(()),
        Some(Val::Str(s)) => s.to_string(),
        Some(other) => {
            return Err(format!(
                "field [{field}] of type [{}] cannot be cast to [java.lang.String]",
                java_type(other)
            ))
        }
    };
    let Some(found) = dissect(pattern, &text) else {
        return Err(format!(
            "Unable to find match for dissect pattern: {pattern} against source: {text}"
        ));
    };
    for (key, v) in found {
        ctx.set(key, Val::Str(Cow::Owned(v.to_string())))?;
    }
    Ok(())
}

/// One step's outcome before its failure handling.
fn eval<'a>(ctx: &mut Ctx<'_, 'a>, step: &Step) -> Result<(), (Failure, OnFail)> {
    match *step {
        Step::Set(path, c) => {
            let v = match c {
                Const::Str(s) => Val::str(s),
                Const::List(l) => Val::Arr(l.iter().map(|s| Val::str(*s)).collect()),
            };
            ctx.set(path, v)
                .map_err(|m| (Failure::new("set", "", m), OnFail::Abort))
        }
        Step::AppendIf(path, value, cond) => {
            if ctx.cond(cond) {
                ctx.append(path, Val::str(value))
                    .map_err(|m| (Failure::new("append", "", m), OnFail::Abort))
            } else {
                Ok(())
            }
        }
        Step::ToMilli(path) => {
            if let Some(ms) = ctx.get(path).and_then(to_milli) {
                // The script's assignment cannot fail on a field that exists.
                let _ = ctx.set(path, Val::I64(ms));
            }
            Ok(())
        }
        Step::Date(field, target, on_fail) => {
            let v = ctx.get(field);
            if v.is_none() || matches!(v, Some(Val::Null)) || is_empty_str(v) {
                Ok(())
            } else {
                let text = v.map(Val::to_display_string).unwrap_or_default();
                match parse_logpush_date(&text) {
                    Ok(i) => ctx
                        .set(target, Val::Str(Cow::Owned(i.format())))
                        .map_err(|m| (Failure::new("date", "", m), on_fail)),
                    Err(m) => Err((Failure::new("date", "", m), on_fail)),
                }
            }
        }
        Step::Rename(from, to) => match ctx.take(from) {
            None => Ok(()),
            Some(v) => match ctx.set_new(to, v) {
                Ok(true) => Ok(()),
                Ok(false) => Err((
                    Failure::new("rename", "", format!("field [{to}] already exists")),
                    OnFail::Abort,
                )),
                Err(m) => Err((Failure::new("rename", "", m), OnFail::Abort)),
            },
        },
        Step::Convert(from, to, ty, on_fail) => convert_step(ctx, from, to, ty, on_fail, true),
        Step::ConvertAll(from, to, ty, on_fail) => convert_step(ctx, from, to, ty, on_fail, false),
        Step::Copy(from, to, mode) => match (ctx.get(from), mode) {
            (None, CopyMode::Strict) => Err((
                Failure::new("set", "", ctx.missing_message(from)),
                OnFail::Abort,
            )),
            (None, _) => Ok(()),
            (Some(Val::Null), CopyMode::IgnoreEmpty) => Ok(()),
            (Some(v), CopyMode::IgnoreEmpty) if is_empty_str(Some(v)) => Ok(()),
            (Some(v), _) => {
                let v = v.clone();
                ctx.set(to, v).map_err(|m| {
                    let on = if mode == CopyMode::IgnoreFailure {
                        OnFail::Ignore
                    } else {
                        OnFail::Abort
                    };
                    (Failure::new("set", "", m), on)
                })
            }
        },
        Step::CopyIfAbsent(from, to) => {
            if ctx.has(to) {
                Ok(())
            } else {
                match ctx.get(from) {
                    None | Some(Val::Null) => Ok(()),
                    Some(v) if is_empty_str(Some(v)) => Ok(()),
                    Some(v) => {
                        let v = v.clone();
                        ctx.set(to, v)
                            .map_err(|m| (Failure::new("set", "", m), OnFail::Abort))
                    }
                }
            }
        }
        Step::Lowercase(path) => match ctx.get(path) {
            None | Some(Val::Null) => Ok(()),
            Some(Val::Str(s)) => {
                let l = s.to_lowercase();
                if l != **s {
                    let _ = ctx.set(path, Val::Str(Cow::Owned(l)));
                }
                Ok(())
            }
            Some(other) => Err((
                Failure::new(
                    "lowercase",
                    "",
                    format!(
                        "field [{path}] of type [{}] cannot be cast to [java.lang.String]",
                        java_type(other)
                    ),
                ),
                OnFail::Abort,
            )),
        },
        Step::UserAgent(path) => match ctx.get(path) {
            None | Some(Val::Null) => Ok(()),
            Some(v) if is_empty_str(Some(v)) => Ok(()),
            Some(Val::Str(s)) => {
                let s = s.clone();
                let t = ctx.t;
                t.user_agent_into(&mut ctx.doc, s);
                Ok(())
            }
            Some(other) => Err((
                Failure::new(
                    "user_agent",
                    "",
                    format!(
                        "field [{path}] of type [{}] cannot be cast to [java.lang.String]",
                        java_type(other)
                    ),
                ),
                OnFail::Abort,
            )),
        },
        Step::UriParts(path, keep_original, on_fail) => match ctx.get(path) {
            None | Some(Val::Null) => Ok(()),
            Some(v) => {
                let v = v.clone();
                let text = v.to_display_string();
                match crate::uri::uri_parts(&text) {
                    Ok(p) => {
                        let url = crate::uri::url_object(p, keep_original.then_some(v));
                        ctx.doc.insert("url", Val::Obj(url));
                        Ok(())
                    }
                    Err(e) => Err((Failure::new("uri_parts", "", e.to_string()), on_fail)),
                }
            }
        },
        Step::GeoIp(g) => geoip(ctx, g).map_err(|f| (f, OnFail::Abort)),
        Step::Related(path, from) => match ctx.get(from) {
            None | Some(Val::Null) => Ok(()),
            Some(v) => {
                let s = mustache(v);
                ctx.append(path, Val::Str(Cow::Owned(s)))
                    .map_err(|m| (Failure::new("append", "", m), OnFail::Abort))
            }
        },
        Step::Script(tag, f, on_fail) => {
            f(ctx).map_err(|m| (Failure::new("script", tag, m), on_fail))
        }
        Step::Custom(kind, tag, f, on_fail) => {
            f(ctx).map_err(|m| (Failure::new(kind, tag, m), on_fail))
        }
        Step::Tagged(tag, inner) => eval(ctx, inner).map_err(|(mut f, o)| {
            f.tag = tag;
            (f, o)
        }),
        Step::RenameIfAbsent(from, to) => {
            if ctx.has(to) {
                Ok(())
            } else {
                eval(ctx, &Step::Rename(from, to))
            }
        }
        Step::Uppercase(path) => match ctx.get(path) {
            None | Some(Val::Null) => Ok(()),
            Some(Val::Str(s)) => {
                let u = s.to_uppercase();
                if u != **s {
                    let _ = ctx.set(path, Val::Str(Cow::Owned(u)));
                }
                Ok(())
            }
            Some(other) => Err((
                Failure::new(
                    "uppercase",
                    "",
                    format!(
                        "field [{path}] of type [{}] cannot be cast to [java.lang.String]",
                        java_type(other)
                    ),
                ),
                OnFail::Abort,
            )),
        },

        Step::RemoveJson => {
            ctx.json = None;
            ctx.doc.remove("_conf");
            Ok(())
        }
        Step::Spellings(new, old, to) => spellings(ctx, new, old, to),
        Step::CommunityId(on_fail) => {
            community_id_step(ctx).map_err(|m| (Failure::new("community_id", "", m), on_fail))
        }
        Step::RemoveDuplicates(list) => {
            if !ctx.keep_duplicates {
                for p in list {
                    ctx.take(p);
                }
            }
            Ok(())
        }
        // Inside `Tagged` (the only way `eval` meets it): the first failure stops the sequence.
        Step::Steps(steps) => run(ctx, steps).map_err(|f| (f, OnFail::Abort)),
    }
}

fn geoip(ctx: &mut Ctx<'_, '_>, g: Geo) -> Result<(), Failure> {
    let ip = match ctx.get(g.ip) {
        None | Some(Val::Null) if g.ignore_missing => return Ok(()),
        None => return Err(Failure::new("geoip", "", ctx.missing_message(g.ip))),
        Some(Val::Null) => {
            return Err(Failure::new(
                "geoip",
                "",
                format!(
                    "field [{}] is null, cannot extract geoip information.",
                    g.ip
                ),
            ))
        }
        Some(Val::Str(s)) => s.to_string(),
        Some(other) => {
            return Err(Failure::new(
                "geoip",
                "",
                format!(
                    "field [{}] of type [{}] cannot be cast to [java.lang.String]",
                    g.ip,
                    java_type(other)
                ),
            ))
        }
    };
    let addr: std::net::IpAddr = ip
        .parse()
        .map_err(|_| Failure::new("geoip", "", format!("'{ip}' is not an IP string literal.")))?;
    if let Some(geo) = ctx.t.geo_city(addr) {
        let o = geo.to_obj();
        if !o.is_empty() {
            ctx.set(g.geo, Val::Obj(o))
                .map_err(|m| Failure::new("geoip", "", m))?;
        }
    }
    if let Some(asn) = ctx.t.geo_asn(addr) {
        if let Some(n) = asn.number {
            ctx.set(g.as_number, Val::I64(i64::from(n)))
                .map_err(|m| Failure::new("geoip", "", m))?;
        }
        if let Some(o) = &asn.organization_name {
            ctx.set(g.as_org, Val::Str(Cow::Owned(o.clone())))
                .map_err(|m| Failure::new("geoip", "", m))?;
        }
    }
    Ok(())
}

/// Java's `hashCode` of a value as a `HashSet` element: `String` (UTF-16 units), `Integer`,
/// `Long`, `Double`, `Boolean`; lists, maps and big integers (never set elements in these
/// pipelines) get a stand-in.
pub fn java_hash_code(v: &Val<'_>) -> i32 {
    match v {
        Val::Str(s) => s
            .encode_utf16()
            .fold(0i32, |h, u| h.wrapping_mul(31).wrapping_add(i32::from(u))),
        Val::I64(i) => match i32::try_from(*i) {
            Ok(n) => n,
            Err(_) => {
                let u = *i as u64;
                (u ^ (u >> 32)) as i32
            }
        },
        // A BigInteger's hash differs; such values are not hashes or host names.
        Val::U64(u) => (*u ^ (*u >> 32)) as i32,
        Val::F64(f) => {
            let b = f.to_bits();
            (b ^ (b >> 32)) as i32
        }
        Val::Bool(b) => {
            if *b {
                1231
            } else {
                1237
            }
        }
        _ => 0,
    }
}

/// The iteration order of a `java.util.HashSet` filled with `values` in order: duplicates dropped,
/// then the elements by bucket (`(h ^ h >>> 16) & (capacity - 1)`, capacity 16 doubled while the
/// size exceeds 3/4 of it), insertion order within a bucket.
pub fn java_hash_set_order(values: Vec<Val<'_>>) -> Vec<Val<'_>> {
    let mut distinct: Vec<Val<'_>> = Vec::with_capacity(values.len());
    for v in values {
        if !distinct.contains(&v) {
            distinct.push(v);
        }
    }
    let mut cap: usize = 16;
    while distinct.len() * 4 > cap * 3 {
        cap *= 2;
    }
    let bucket = |v: &Val<'_>| {
        let h = java_hash_code(v) as u32;
        ((h ^ (h >> 16)) as usize) & (cap - 1)
    };
    distinct.sort_by_key(|v| bucket(v));
    distinct
}

/// Runs a table. `Err` = the failure that stopped the pipeline.
pub fn run<'a>(ctx: &mut Ctx<'_, 'a>, steps: &[Step]) -> Result<(), Failure> {
    for s in steps {
        run_step(ctx, s)?;
    }
    Ok(())
}

/// The 2.x "drop empty" script: like [`Obj::clean`], and the string `"N/A"` is removed from maps
/// (not from lists).
pub fn clean_na(o: &mut Obj<'_>) -> bool {
    fn val(v: &mut Val<'_>, in_map: bool) -> bool {
        match v {
            Val::Null => true,
            Val::Str(s) => s.is_empty() || (in_map && s == "N/A"),
            Val::Arr(a) => {
                a.retain_mut(|x| !val(x, false));
                a.is_empty()
            }
            Val::Obj(o) => clean_na(o),
            _ => false,
        }
    }
    o.retain(|v| !val(v, true));
    o.is_empty()
}

#[cfg(test)]
mod tests {
    use super::dissect;

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
