//! A small, allocation-light document tree with the field semantics of an Elasticsearch ingest
//! document: dotted-path set / get / remove / append, and the recursive "remove null, empty string,
//! empty object and empty list" cleanup that Elastic's pipelines end with.
//!
//! Keys are `Cow<'static, str>` so the fixed ECS field names cost no allocation; values borrow from
//! the raw record where they can.

use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use std::borrow::Cow;

/// A JSON value of the output document.
#[derive(Debug, Clone, PartialEq)]
pub enum Val<'a> {
    Null,
    Bool(bool),
    I64(i64),
    U64(u64),
    F64(f64),
    Str(Cow<'a, str>),
    Arr(Vec<Val<'a>>),
    Obj(Obj<'a>),
}

/// A JSON object that keeps insertion order (as Elasticsearch's `_source` does).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Obj<'a> {
    entries: Vec<(Cow<'static, str>, Val<'a>)>,
}

/// Setting a field failed because a parent on the path is not an object (Elasticsearch:
/// `cannot set [x] with parent object of type [java.lang.String] as part of path [a.x]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathConflict {
    pub path: String,
    pub segment: String,
}

impl std::fmt::Display for PathConflict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "cannot set [{}] with a parent that is not an object as part of path [{}]",
            self.segment, self.path
        )
    }
}

impl<'a> Val<'a> {
    pub fn str(s: impl Into<Cow<'a, str>>) -> Self {
        Val::Str(s.into())
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_obj(&self) -> Option<&Obj<'a>> {
        match self {
            Val::Obj(o) => Some(o),
            _ => None,
        }
    }

    /// Painless truthiness as used by `if: ctx.json?.action?.result` style conditions:
    /// only `true` (or a non-empty string "true"?) counts. Painless requires a boolean; we treat
    /// booleans literally and everything else as not-true.
    pub fn is_true(&self) -> bool {
        matches!(self, Val::Bool(true))
    }

    /// Converts a `serde_json::Value` into an owned tree.
    pub fn from_json(v: serde_json::Value) -> Val<'static> {
        match v {
            serde_json::Value::Null => Val::Null,
            serde_json::Value::Bool(b) => Val::Bool(b),
            serde_json::Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Val::I64(i)
                } else if let Some(u) = n.as_u64() {
                    Val::U64(u)
                } else {
                    Val::F64(n.as_f64().unwrap_or(0.0))
                }
            }
            serde_json::Value::String(s) => Val::Str(Cow::Owned(s)),
            serde_json::Value::Array(a) => Val::Arr(a.into_iter().map(Val::from_json).collect()),
            serde_json::Value::Object(m) => {
                let mut o = Obj::with_capacity(m.len());
                for (k, v) in m {
                    o.entries.push((Cow::Owned(k), Val::from_json(v)));
                }
                Val::Obj(o)
            }
        }
    }

    /// Recursively removes null, "", empty objects and empty lists (also inside lists).
    /// Returns true when the value itself is now empty and should be removed by its parent.
    pub fn clean(&mut self) -> bool {
        match self {
            Val::Null => true,
            Val::Str(s) => s.is_empty(),
            Val::Arr(a) => {
                a.retain_mut(|v| !v.clean());
                a.is_empty()
            }
            Val::Obj(o) => o.clean(),
            _ => false,
        }
    }

    /// Renders the value the way Elasticsearch's mustache templates and string conversions do
    /// for scalars (used for error messages and string conversions).
    pub fn to_display_string(&self) -> String {
        match self {
            Val::Null => "null".to_string(),
            Val::Bool(b) => b.to_string(),
            Val::I64(i) => i.to_string(),
            Val::U64(u) => u.to_string(),
            Val::F64(f) => java_double_string(*f),
            Val::Str(s) => s.to_string(),
            other => serde_json::to_string(other).unwrap_or_default(),
        }
    }

    pub fn into_owned(self) -> Val<'static> {
        match self {
            Val::Null => Val::Null,
            Val::Bool(b) => Val::Bool(b),
            Val::I64(i) => Val::I64(i),
            Val::U64(u) => Val::U64(u),
            Val::F64(f) => Val::F64(f),
            Val::Str(s) => Val::Str(Cow::Owned(s.into_owned())),
            Val::Arr(a) => Val::Arr(a.into_iter().map(Val::into_owned).collect()),
            Val::Obj(o) => Val::Obj(Obj {
                entries: o
                    .entries
                    .into_iter()
                    .map(|(k, v)| (k, v.into_owned()))
                    .collect(),
            }),
        }
    }
}

fn java_double_string(f: f64) -> String {
    crate::convert::java_double_to_string(f)
}

/// Key equality with cheap rejections before the byte comparison (keys are short and mostly
/// distinct in length or first byte).
#[inline(always)]
fn key_eq(k: &str, key: &str) -> bool {
    let (a, b) = (k.as_bytes(), key.as_bytes());
    a.len() == b.len()
        && (a.is_empty() || a[0] == b[0])
        && (std::ptr::eq(a.as_ptr(), b.as_ptr()) || a == b)
}

/// Splits `a.b.c` into (`a.b`, `c`) without the generic `Split` machinery.
#[inline]
fn split_last(path: &str) -> Option<(&str, &str)> {
    let b = path.as_bytes();
    let mut i = b.len();
    while i > 0 {
        i -= 1;
        if b[i] == b'.' {
            return Some((&path[..i], &path[i + 1..]));
        }
    }
    None
}

/// Iterates the segments of a dotted path.
#[inline]
fn segments(path: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(path);
    std::iter::from_fn(move || {
        let r = rest?;
        match r.as_bytes().iter().position(|c| *c == b'.') {
            Some(i) => {
                rest = Some(&r[i + 1..]);
                Some(&r[..i])
            }
            None => {
                rest = None;
                Some(r)
            }
        }
    })
}

impl<'a> Obj<'a> {
    pub fn new() -> Self {
        Obj {
            entries: Vec::new(),
        }
    }

    pub fn with_capacity(n: usize) -> Self {
        Obj {
            entries: Vec::with_capacity(n),
        }
    }

    /// Appends an entry without looking for an existing key (the writer tests build trees with it).
    #[cfg(test)]
    pub(crate) fn push_unchecked(&mut self, key: Cow<'static, str>, v: Val<'a>) {
        self.entries.push((key, v));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Val<'a>)> {
        self.entries.iter().map(|(k, v)| (k.as_ref(), v))
    }

    pub fn get(&self, key: &str) -> Option<&Val<'a>> {
        self.entries
            .iter()
            .find(|(k, _)| key_eq(k, key))
            .map(|(_, v)| v)
    }

    fn get_mut(&mut self, key: &str) -> Option<&mut Val<'a>> {
        self.entries
            .iter_mut()
            .find(|(k, _)| key_eq(k, key))
            .map(|(_, v)| v)
    }

    /// Inserts or replaces a direct child.
    pub fn insert(&mut self, key: impl Into<Cow<'static, str>>, v: Val<'a>) {
        let key = key.into();
        if let Some(slot) = self.get_mut(&key) {
            *slot = v;
        } else {
            self.entries.push((key, v));
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<Val<'a>> {
        let i = self.entries.iter().position(|(k, _)| key_eq(k, key))?;
        Some(self.entries.remove(i).1)
    }

    /// The value at a dotted path (`"source.geo.country_iso_code"`).
    pub fn get_path(&self, path: &str) -> Option<&Val<'a>> {
        let mut cur = self;
        let mut segs = segments(path).peekable();
        while let Some(seg) = segs.next() {
            let v = cur.get(seg)?;
            if segs.peek().is_none() {
                return Some(v);
            }
            cur = v.as_obj()?;
        }
        None
    }

    pub fn has(&self, path: &str) -> bool {
        self.get_path(path).is_some_and(|v| !matches!(v, Val::Null))
    }

    /// Walks (creating objects as needed) to the parent of the last segment of `path`.
    fn parent_mut(
        &mut self,
        path: &'static str,
    ) -> Result<(&mut Obj<'a>, &'static str), PathConflict> {
        let (parents, leaf) = match split_last(path) {
            Some(x) => x,
            None => return Ok((self, path)),
        };
        let mut cur = self;
        for seg in segments(parents) {
            let idx = match cur.entries.iter().position(|(k, _)| key_eq(k, seg)) {
                Some(i) => i,
                None => {
                    cur.entries.push((Cow::Borrowed(seg), Val::Obj(Obj::new())));
                    cur.entries.len() - 1
                }
            };
            let slot = &mut cur.entries[idx].1;
            if matches!(slot, Val::Null) {
                *slot = Val::Obj(Obj::new());
            }
            match slot {
                Val::Obj(o) => cur = o,
                _ => {
                    return Err(PathConflict {
                        path: path.to_string(),
                        segment: seg.to_string(),
                    })
                }
            }
        }
        Ok((cur, leaf))
    }

    /// Sets a field at a dotted path, creating intermediate objects (Elasticsearch `set`).
    pub fn set(&mut self, path: &'static str, v: Val<'a>) -> Result<(), PathConflict> {
        let (parent, leaf) = self.parent_mut(path)?;
        parent.insert(leaf, v);
        Ok(())
    }

    /// Sets a field only if it does not exist yet (one walk). `Ok(false)` when it existed.
    pub fn set_new(&mut self, path: &'static str, v: Val<'a>) -> Result<bool, PathConflict> {
        let (parent, leaf) = self.parent_mut(path)?;
        if parent.get(leaf).is_some() {
            return Ok(false);
        }
        parent.entries.push((Cow::Borrowed(leaf), v));
        Ok(true)
    }

    /// Removes the field at a dotted path.
    pub fn remove_path(&mut self, path: &str) -> Option<Val<'a>> {
        match split_last(path) {
            None => self.remove(path),
            Some((parents, leaf)) => {
                let mut cur = self;
                for seg in segments(parents) {
                    match cur.get_mut(seg) {
                        Some(Val::Obj(o)) => cur = o,
                        _ => return None,
                    }
                }
                cur.remove(leaf)
            }
        }
    }

    /// Elasticsearch `append`: a missing field becomes a one-element list, a scalar becomes a
    /// list; with `allow_duplicates == false` a value already present is not added again.
    pub fn append(
        &mut self,
        path: &'static str,
        v: Val<'a>,
        allow_duplicates: bool,
    ) -> Result<(), PathConflict> {
        let (parent, leaf) = self.parent_mut(path)?;
        match parent.get_mut(leaf) {
            None => parent
                .entries
                .push((Cow::Borrowed(leaf), Val::Arr(vec![v]))),
            Some(slot) => {
                if let Val::Arr(a) = slot {
                    if allow_duplicates || !a.contains(&v) {
                        a.push(v);
                    }
                } else {
                    let old = std::mem::replace(slot, Val::Null);
                    let mut a = vec![old];
                    if allow_duplicates || !a.contains(&v) {
                        a.push(v);
                    }
                    *slot = Val::Arr(a);
                }
            }
        }
        Ok(())
    }

    /// Keeps the entries whose value `keep` accepts (it may change the value).
    pub fn retain(&mut self, mut keep: impl FnMut(&mut Val<'a>) -> bool) {
        self.entries.retain_mut(|(_, v)| keep(v));
    }

    /// See [`Val::clean`]. Returns true when the object is now empty.
    pub fn clean(&mut self) -> bool {
        self.entries.retain_mut(|(_, v)| !v.clean());
        self.entries.is_empty()
    }
}

impl Serialize for Val<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Val::Null => s.serialize_unit(),
            Val::Bool(b) => s.serialize_bool(*b),
            Val::I64(i) => s.serialize_i64(*i),
            Val::U64(u) => s.serialize_u64(*u),
            Val::F64(f) => s.serialize_f64(*f),
            Val::Str(v) => s.serialize_str(v),
            Val::Arr(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Val::Obj(o) => o.serialize(s),
        }
    }
}

impl Serialize for Obj<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.entries.len()))?;
        for (k, v) in &self.entries {
            m.serialize_entry(k.as_ref(), v)?;
        }
        m.end()
    }
}

/// Deserializes any JSON value, borrowing strings from the input where they have no escapes.
impl<'de: 'a, 'a> serde::Deserialize<'de> for Val<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> serde::de::Visitor<'de> for V<'a> {
            type Value = Val<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E>(self, v: bool) -> Result<Val<'a>, E> {
                Ok(Val::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Val<'a>, E> {
                Ok(Val::I64(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Val<'a>, E> {
                Ok(match i64::try_from(v) {
                    Ok(i) => Val::I64(i),
                    Err(_) => Val::U64(v),
                })
            }
            fn visit_f64<E>(self, v: f64) -> Result<Val<'a>, E> {
                Ok(Val::F64(v))
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Val<'a>, E> {
                Ok(Val::Str(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Val<'a>, E> {
                Ok(Val::Str(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Val<'a>, E> {
                Ok(Val::Str(Cow::Owned(v)))
            }
            fn visit_unit<E>(self) -> Result<Val<'a>, E> {
                Ok(Val::Null)
            }
            fn visit_none<E>(self) -> Result<Val<'a>, E> {
                Ok(Val::Null)
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Val<'a>, D::Error> {
                serde::Deserialize::deserialize(d)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Val<'a>, A::Error> {
                let mut v = Vec::with_capacity(a.size_hint().unwrap_or(0));
                while let Some(x) = a.next_element()? {
                    v.push(x);
                }
                Ok(Val::Arr(v))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Val<'a>, A::Error> {
                let mut o = Obj::new();
                while let Some(k) = a.next_key::<Cow<'de, str>>()? {
                    let v: Val<'a> = a.next_value()?;
                    if o.get(&k).is_some() {
                        return Err(serde::de::Error::custom(format_args!(
                            "duplicate field '{k}'"
                        )));
                    }
                    o.entries.push((Cow::Owned(k.into_owned()), v));
                }
                Ok(Val::Obj(o))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_remove_paths() {
        let mut o = Obj::new();
        o.set("a.b.c", Val::I64(1)).unwrap();
        o.set("a.b.d", Val::str("x")).unwrap();
        assert_eq!(o.get_path("a.b.c"), Some(&Val::I64(1)));
        assert_eq!(o.get_path("a.b.d").and_then(Val::as_str), Some("x"));
        assert!(o.get_path("a.x").is_none());
        assert_eq!(o.remove_path("a.b.c"), Some(Val::I64(1)));
        assert!(!o.has("a.b.c"));
        assert_eq!(
            serde_json::to_string(&o).unwrap(),
            r#"{"a":{"b":{"d":"x"}}}"#
        );
    }

    #[test]
    fn set_through_scalar_is_a_conflict() {
        let mut o = Obj::new();
        o.set("a", Val::str("x")).unwrap();
        let err = o.set("a.b", Val::I64(1)).unwrap_err();
        assert_eq!(err.segment, "a");
    }

    #[test]
    fn append_semantics() {
        let mut o = Obj::new();
        o.append("r.user", Val::str("u1"), false).unwrap();
        o.append("r.user", Val::str("u1"), false).unwrap();
        o.append("r.user", Val::str("u2"), false).unwrap();
        assert_eq!(
            serde_json::to_string(&o).unwrap(),
            r#"{"r":{"user":["u1","u2"]}}"#
        );
        o.set("t", Val::str("x")).unwrap();
        o.append("t", Val::str("y"), true).unwrap();
        assert_eq!(
            o.get_path("t"),
            Some(&Val::Arr(vec![Val::str("x"), Val::str("y")]))
        );
    }

    #[test]
    fn cleanup_is_recursive_and_keeps_zero_and_false() {
        let v: serde_json::Value = serde_json::json!({
            "a": "", "b": null, "c": {}, "d": [], "e": {"f": {"g": ""}},
            "h": 0, "i": false, "j": ["", null, {}, "k", [[]]], "l": [{"m": ""}]
        });
        let mut v = Val::from_json(v);
        assert!(!v.clean());
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"h":0,"i":false,"j":["k"]}"#
        );
        let mut empty = Val::from_json(serde_json::json!({"a": {"b": [""]}}));
        assert!(empty.clean());
    }
}
