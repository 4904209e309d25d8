//! Shared building blocks of the two ingest-pipeline re-implementations: processor failures with
//! Elasticsearch's error-message format, and the processors used by both pipelines.

use crate::doc::{Obj, PathConflict, Val};

/// A processor failure (the pipeline's `on_failure` turns it into `error.message`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Fail {
    pub processor: &'static str,
    pub tag: &'static str,
    pub message: String,
}

impl Fail {
    pub(crate) fn new(
        processor: &'static str,
        tag: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Fail {
            processor,
            tag,
            message: message.into(),
        }
    }

    /// `Processor "<type>" with tag "<tag>" in pipeline "<pipeline>" failed with message "<msg>"`.
    pub(crate) fn describe(&self, pipeline: &str) -> String {
        format!(
            "Processor \"{}\" with tag \"{}\" in pipeline \"{}\" failed with message \"{}\"",
            self.processor, self.tag, pipeline, self.message
        )
    }

    pub(crate) fn path(tag: &'static str, processor: &'static str, e: PathConflict) -> Self {
        Fail::new(processor, tag, e.to_string())
    }

    /// The failure as Elasticsearch reports it for a processor with an `if:`: the processor is
    /// wrapped in a `ConditionalProcessor`, whose type `conditional` (with the inner tag) is what
    /// `CompoundProcessor` puts in `_ingest.on_failure_processor_type`, whether the condition or
    /// the processor itself failed.
    pub(crate) fn conditional(mut self) -> Self {
        self.processor = CONDITIONAL;
        self
    }
}

/// `ConditionalProcessor.TYPE`.
pub(crate) const CONDITIONAL: &str = "conditional";

/// Marks the failure of a processor that has an `if:` (see [`Fail::conditional`]).
pub(crate) fn cond<T>(r: Result<T, Fail>) -> Result<T, Fail> {
    r.map_err(Fail::conditional)
}

/// `rename` with `ignore_missing: true`: moves `v` to `target`; fails when the target exists.
pub(crate) fn rename<'a>(
    doc: &mut Obj<'a>,
    v: Option<Val<'a>>,
    target: &'static str,
    tag: &'static str,
    source_name: &str,
) -> Result<(), Fail> {
    let Some(v) = v else { return Ok(()) };
    match doc.set_new(target, v) {
        Ok(true) => Ok(()),
        Ok(false) => Err(Fail::new(
            "rename",
            tag,
            format!("field [{target}] already exists (renaming [{source_name}])"),
        )),
        Err(e) => Err(Fail::path(tag, "rename", e)),
    }
}

/// `convert { type: long, ignore_missing: true }`.
pub(crate) fn convert_long<'a>(
    doc: &mut Obj<'a>,
    v: Option<Val<'a>>,
    target: &'static str,
    tag: &'static str,
) -> Result<(), Fail> {
    let Some(v) = v else { return Ok(()) };
    let converted = crate::convert::to_long(&v).map_err(|m| Fail::new("convert", tag, m))?;
    doc.set(target, converted)
        .map_err(|e| Fail::path(tag, "convert", e))
}

/// `set { copy_from, ignore_empty_value: true }`: copies unless the source is missing, null or "".
pub(crate) fn copy_if_not_empty(
    doc: &mut Obj<'_>,
    from: &str,
    to: &'static str,
    tag: &'static str,
) -> Result<(), Fail> {
    let v = match doc.get_path(from) {
        None | Some(Val::Null) => return Ok(()),
        Some(Val::Str(s)) if s.is_empty() => return Ok(()),
        Some(v) => v.clone(),
    };
    doc.set(to, v).map_err(|e| Fail::path(tag, "set", e))
}

/// The final step of both pipelines: remove `event.original` unless tagged, then clean up.
pub(crate) fn finish(doc: &mut Obj<'_>, keep_original: bool) {
    if !keep_original {
        doc.remove_path("event.original");
    }
    doc.clean();
}

/// The ASN `geoip` processor on `source.ip` followed by the pipelines' renames
/// (`source.as.asn` → `source.as.number`, `organization_name` → `organization.name`).
pub(crate) fn source_asn(doc: &mut Obj<'_>, asn: Option<&crate::geoip::Asn>) -> Result<(), Fail> {
    let Some(asn) = asn else { return Ok(()) };
    if let Some(n) = asn.number {
        doc.set("source.as.number", Val::I64(i64::from(n)))
            .map_err(|e| Fail::path("geoip_source_asn", "geoip", e))?;
    }
    if let Some(o) = &asn.organization_name {
        doc.set(
            "source.as.organization.name",
            Val::Str(std::borrow::Cow::Owned(o.clone())),
        )
        .map_err(|e| Fail::path("geoip_source_asn", "geoip", e))?;
    }
    Ok(())
}
