//! The state a table runs on ([`Ctx`]): reading, writing and appending fields of the record and
//! the document with Elasticsearch's path rules and messages, and the value renderings the
//! processors share.

use super::*;

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
    pub(super) fn set_new(&mut self, path: &'static str, v: Val<'a>) -> Result<bool, String> {
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

    pub(super) fn cond(&self, c: Cond) -> bool {
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
    pub(super) fn append_error(&mut self, f: &Failure) {
        let m = f.processor_message(&self.spec.era, &self.pipeline);
        let _ = self
            .doc
            .append("error.message", Val::Str(Cow::Owned(m)), true);
    }
}

pub(super) fn not_present(seg: &str, path: &str) -> String {
    format!("field [{seg}] not present as part of path [{path}]")
}

pub(super) fn cannot_set(seg: &str, path: &str) -> String {
    format!(
        "cannot set [{seg}] with parent object of type [java.lang.String] as part of path [{path}]"
    )
}

/// `""` (the `!= ''` guards compare strings only).
pub(super) fn is_empty_str(v: Option<&Val<'_>>) -> bool {
    matches!(v, Some(Val::Str(s)) if s.is_empty())
}

/// Mustache `{{{field}}}` of a value: scalars as text, lists and maps as Java's `toString`, a
/// null (e.g. `{{{_ingest._value}}}` of a list's `null` element) as nothing.
pub fn mustache(v: &Val<'_>) -> String {
    match v {
        Val::Null => String::new(),
        // Elasticsearch's mustache wraps a list in a map from index to element
        // (`CustomReflectionObjectHandler.CollectionMap`, an `AbstractMap`), so the list renders
        // as that map's `toString`: `{0=a, 1=b}`; its elements render as Java's `toString`.
        Val::Arr(a) => {
            let parts: Vec<String> = a
                .iter()
                .enumerate()
                .map(|(i, x)| format!("{i}={}", java_to_string(x)))
                .collect();
            format!("{{{}}}", parts.join(", "))
        }
        other => java_to_string(other),
    }
}

/// Java's `toString` of a value of an ingest document: a list is `[a, b]`, a map `{k=v}`
/// (recursively), `null` is `null`, numbers as Java prints them. What a processor that calls
/// `toString()` on a field (`date`, …) sees.
pub fn java_to_string(v: &Val<'_>) -> String {
    match v {
        Val::Arr(a) => {
            let parts: Vec<String> = a.iter().map(java_to_string).collect();
            format!("[{}]", parts.join(", "))
        }
        Val::Obj(o) => {
            let parts: Vec<String> = o
                .iter()
                .map(|(k, v)| format!("{k}={}", java_to_string(v)))
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
