//! A small, allocation-light document tree with the field semantics of an Elasticsearch ingest
//! document: dotted-path set / get / remove / append, and the recursive "remove null, empty string,
//! empty object and empty list" cleanup that Elastic's pipelines end with.
//!
//! Keys and values are `Cow<'a, str>`: the fixed ECS field names cost no allocation, and the keys
//! and values of a parsed record borrow from its text where they have no escapes. Objects keep
//! insertion order; a big one (the parsed Logpush record) also gets a small index, see [`Index`].

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
#[derive(Debug, Clone, Default)]
pub struct Obj<'a> {
    /// In insertion order; with an index, removed entries stay as holes (see [`Index`]).
    entries: Vec<(Cow<'a, str>, Val<'a>)>,
    /// Only for objects that grew past [`INDEX_AT`] entries (boxed: most objects are small, and
    /// this keeps `Val` small).
    index: Option<Box<Index>>,
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
                    o.push(Cow::Owned(k), Val::from_json(v));
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
            Val::Obj(o) => {
                let mut out = Obj::with_capacity(o.len());
                let tags = o.index.map(|ix| ix.tags);
                for (i, (k, v)) in o.entries.into_iter().enumerate() {
                    if tags.as_ref().is_none_or(|t| t[i] != 0) {
                        out.push(Cow::Owned(k.into_owned()), v.into_owned());
                    }
                }
                Val::Obj(out)
            }
        }
    }
}

fn java_double_string(f: f64) -> String {
    crate::convert::java_double_to_string(f)
}

/// Loads 8 bytes at `i` (the caller checks `i + 8 <= b.len()`).
#[inline(always)]
fn word8(b: &[u8], i: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[i..i + 8]);
    u64::from_le_bytes(w)
}

/// Loads 4 bytes at `i` (the caller checks `i + 4 <= b.len()`).
#[inline(always)]
fn word4(b: &[u8], i: usize) -> u32 {
    let mut w = [0u8; 4];
    w.copy_from_slice(&b[i..i + 4]);
    u32::from_le_bytes(w)
}

/// The first and the last (up to) eight bytes of `b` as two words (overlapping for short keys,
/// zero-padded below four bytes): what [`key_tag`] and [`key_eq`] look at.
#[inline(always)]
fn ends(b: &[u8]) -> (u64, u64) {
    let n = b.len();
    if n >= 8 {
        (word8(b, 0), word8(b, n - 8))
    } else if n >= 4 {
        (u64::from(word4(b, 0)), u64::from(word4(b, n - 4)))
    } else if n > 0 {
        let w = u64::from(b[0]) | u64::from(b[n / 2]) << 8 | u64::from(b[n - 1]) << 16;
        (w, w)
    } else {
        (0, 0)
    }
}

/// Key equality, inline: lengths first, then words (keys are short; a call into the C library's
/// `memcmp` per compare showed in profiles).
#[inline(always)]
fn key_eq(k: &str, key: &str) -> bool {
    let (a, b) = (k.as_bytes(), key.as_bytes());
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if std::ptr::eq(a.as_ptr(), b.as_ptr()) {
        return true;
    }
    if n <= 16 {
        // The two end words cover every byte of a key of up to 16 bytes.
        return ends(a) == ends(b);
    }
    let mut i = 0;
    while i + 8 < n {
        if word8(a, i) != word8(b, i) {
            return false;
        }
        i += 8;
    }
    word8(a, n - 8) == word8(b, n - 8)
}

/// A one-byte summary of a key for the index of big objects: the high bit is always set, so 0
/// can mark a removed entry. Keys differing in length or in their first or last eight bytes
/// almost always get different tags; a shared tag only costs a [`key_eq`].
#[inline(always)]
fn key_tag(key: &str) -> u8 {
    let b = key.as_bytes();
    let (first, last) = ends(b);
    let h = (first ^ last.rotate_left(29) ^ (b.len() as u64).wrapping_mul(0x9E37_79B9))
        .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    ((h >> 57) as u8) | 0x80
}

/// Objects with more entries than this get an [`Index`] (the parsed Logpush record has ~70
/// keys; most document objects have a handful, where a plain scan is cheapest).
const INDEX_AT: usize = 16;

/// The lookup index of a big object: one tag byte per entry, scanned eight at a time, so a
/// lookup compares the keys of (almost) only the matching entry; and removal leaves a hole
/// (tag 0) instead of shifting the entries behind it.
#[derive(Debug, Clone)]
struct Index {
    /// `key_tag` of each entry's key, 0 for a removed one (`tags.len() == entries.len()`).
    tags: Vec<u8>,
    /// How many entries are removed ones.
    holes: usize,
}

impl Index {
    fn build(entries: &[(Cow<'_, str>, Val<'_>)], capacity: usize) -> Box<Index> {
        let mut tags = Vec::with_capacity(capacity);
        tags.extend(entries.iter().map(|(k, _)| key_tag(k)));
        Box::new(Index { tags, holes: 0 })
    }

    /// The positions whose tag is `tag`, in order, calling `hit` until it returns true.
    #[inline(always)]
    fn find(&self, tag: u8, mut hit: impl FnMut(usize) -> bool) -> Option<usize> {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGH: u64 = 0x8080_8080_8080_8080;
        let t = &self.tags[..];
        let pattern = ONES * u64::from(tag);
        let mut base = 0;
        while base + 8 <= t.len() {
            let x = word8(t, base) ^ pattern;
            // The bytes of `x` that are zero (exact: `x - ONES` can borrow across bytes only
            // out of a zero byte, so a false mark never precedes the first real one; later
            // marks are re-checked by `hit`'s key compare and the tag test below).
            let mut m = x.wrapping_sub(ONES) & !x & HIGH;
            while m != 0 {
                let i = base + (m.trailing_zeros() / 8) as usize;
                if t[i] == tag && hit(i) {
                    return Some(i);
                }
                m &= m - 1;
            }
            base += 8;
        }
        (base..t.len()).find(|&i| t[i] == tag && hit(i))
    }
}

/// The position of the first `.` of a path, eight bytes at a time (paths such as
/// `cloudflare_logpush.http_request.client.request.host` are long, and every `set` walks one).
#[inline(always)]
fn find_dot(b: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    while i + 8 <= b.len() {
        let x = word8(b, i) ^ (ONES * u64::from(b'.'));
        // The lowest marked byte is exactly the first `.` (a borrow only marks bytes above a
        // real match).
        let m = x.wrapping_sub(ONES) & !x & HIGH;
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b[i..].iter().position(|&c| c == b'.').map(|p| i + p)
}

impl<'a> Obj<'a> {
    pub fn new() -> Self {
        Obj {
            entries: Vec::new(),
            index: None,
        }
    }

    pub fn with_capacity(n: usize) -> Self {
        Obj {
            entries: Vec::with_capacity(n),
            index: None,
        }
    }

    /// Appends an entry without looking for an existing key (the writer tests build trees with it).
    #[cfg(test)]
    pub(crate) fn push_unchecked(&mut self, key: Cow<'a, str>, v: Val<'a>) {
        self.push(key, v);
    }

    pub fn len(&self) -> usize {
        self.entries.len() - self.index.as_ref().map_or(0, |ix| ix.holes)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The live entries, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Val<'a>)> {
        // Only an index with holes needs its tags consulted.
        let tags: &[u8] = match &self.index {
            Some(ix) if ix.holes > 0 => &ix.tags,
            _ => &[],
        };
        let all = tags.is_empty();
        self.entries
            .iter()
            .enumerate()
            .filter(move |(i, _)| all || tags.get(*i).is_some_and(|t| *t != 0))
            .map(|(_, (k, v))| (k.as_ref(), v))
    }

    /// The position of a live entry.
    #[inline(always)]
    fn find(&self, key: &str) -> Option<usize> {
        match &self.index {
            None => self.scan(key),
            Some(ix) => ix.find(key_tag(key), |i| key_eq(&self.entries[i].0, key)),
        }
    }

    /// [`Obj::find`] with the key's [`key_tag`] at hand.
    #[inline]
    fn find_tagged(&self, key: &str, tag: u8) -> Option<usize> {
        match &self.index {
            None => self.scan(key),
            Some(ix) => ix.find(tag, |i| key_eq(&self.entries[i].0, key)),
        }
    }

    /// The plain search of a small object (a written-out loop: `Iterator::position` was not
    /// inlined).
    #[inline(always)]
    fn scan(&self, key: &str) -> Option<usize> {
        let mut i = 0;
        while i < self.entries.len() {
            if key_eq(&self.entries[i].0, key) {
                return Some(i);
            }
            i += 1;
        }
        None
    }

    /// Appends an entry (the caller knows the key is not there).
    #[inline(always)]
    fn push(&mut self, key: Cow<'a, str>, v: Val<'a>) {
        if self.index.is_none() && self.entries.len() < INDEX_AT {
            self.entries.push((key, v));
        } else {
            self.push_indexed(key, v);
        }
    }

    /// [`Obj::push`] into an object that has (or now gets) an index.
    #[inline(never)]
    fn push_indexed(&mut self, key: Cow<'a, str>, v: Val<'a>) {
        let tag = key_tag(&key);
        self.push_tagged(key, tag, v);
    }

    /// [`Obj::push`] with the key's [`key_tag`] at hand.
    #[inline]
    fn push_tagged(&mut self, key: Cow<'a, str>, tag: u8, v: Val<'a>) {
        match &mut self.index {
            Some(ix) => ix.tags.push(tag),
            None if self.entries.len() >= INDEX_AT => {
                let mut ix = Index::build(&self.entries, self.entries.capacity().max(2 * INDEX_AT));
                ix.tags.push(tag);
                self.index = Some(ix);
            }
            None => {}
        }
        self.entries.push((key, v));
    }

    #[inline]
    pub fn get(&self, key: &str) -> Option<&Val<'a>> {
        self.find(key).map(|i| &self.entries[i].1)
    }

    #[inline]
    fn get_mut(&mut self, key: &str) -> Option<&mut Val<'a>> {
        let i = self.find(key)?;
        Some(&mut self.entries[i].1)
    }

    /// Inserts or replaces a direct child.
    pub fn insert(&mut self, key: impl Into<Cow<'a, str>>, v: Val<'a>) {
        let key = key.into();
        match self.find(&key) {
            Some(i) => self.entries[i].1 = v,
            None => self.push(key, v),
        }
    }

    pub fn remove(&mut self, key: &str) -> Option<Val<'a>> {
        let i = self.find(key)?;
        let Some(ix) = &mut self.index else {
            return Some(self.entries.remove(i).1);
        };
        if i + 1 == self.entries.len() {
            ix.tags.pop();
            return self.entries.pop().map(|(_, v)| v);
        }
        // A hole keeps the order of the others without shifting them; the key goes now.
        ix.tags[i] = 0;
        ix.holes += 1;
        let (k, v) = &mut self.entries[i];
        *k = Cow::Borrowed("");
        let v = std::mem::replace(v, Val::Null);
        if ix.holes > INDEX_AT && ix.holes * 2 > self.entries.len() {
            self.retain(|_| true);
        }
        Some(v)
    }

    /// The value at a dotted path (`"source.geo.country_iso_code"`).
    pub fn get_path(&self, path: &str) -> Option<&Val<'a>> {
        let mut cur = self;
        let mut rest = path;
        while let Some(i) = find_dot(rest.as_bytes()) {
            cur = cur.get(&rest[..i])?.as_obj()?;
            rest = &rest[i + 1..];
        }
        cur.get(rest)
    }

    pub fn has(&self, path: &str) -> bool {
        self.get_path(path).is_some_and(|v| !matches!(v, Val::Null))
    }

    /// Walks (creating objects as needed) to the parent of the last segment of `path`.
    fn parent_mut(
        &mut self,
        path: &'static str,
    ) -> Result<(&mut Obj<'a>, &'static str), PathConflict> {
        let mut cur = self;
        let mut rest = path;
        while let Some(i) = find_dot(rest.as_bytes()) {
            let seg = &rest[..i];
            rest = &rest[i + 1..];
            let idx = match cur.find(seg) {
                Some(i) => i,
                None => {
                    cur.push(Cow::Borrowed(seg), Val::Obj(Obj::new()));
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
        Ok((cur, rest))
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
        if parent.find(leaf).is_some() {
            return Ok(false);
        }
        parent.push(Cow::Borrowed(leaf), v);
        Ok(true)
    }

    /// Removes the field at a dotted path.
    pub fn remove_path(&mut self, path: &str) -> Option<Val<'a>> {
        let mut cur = self;
        let mut rest = path;
        while let Some(i) = find_dot(rest.as_bytes()) {
            match cur.get_mut(&rest[..i]) {
                Some(Val::Obj(o)) => cur = o,
                _ => return None,
            }
            rest = &rest[i + 1..];
        }
        cur.remove(rest)
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
            None => parent.push(Cow::Borrowed(leaf), Val::Arr(vec![v])),
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

    /// Keeps the entries whose value `keep` accepts (it may change the value). Removed entries'
    /// holes go too.
    pub fn retain(&mut self, mut keep: impl FnMut(&mut Val<'a>) -> bool) {
        match &mut self.index {
            None => self.entries.retain_mut(|(_, v)| keep(v)),
            Some(ix) => {
                let mut i = 0;
                let mut kept = 0;
                let tags = &mut ix.tags;
                self.entries.retain_mut(|(_, v)| {
                    let t = tags[i];
                    i += 1;
                    let live = t != 0 && keep(v);
                    if live {
                        tags[kept] = t;
                        kept += 1;
                    }
                    live
                });
                tags.truncate(kept);
                ix.holes = 0;
                if kept <= INDEX_AT {
                    self.index = None;
                }
            }
        }
    }

    /// See [`Val::clean`]. Returns true when the object is now empty.
    pub fn clean(&mut self) -> bool {
        self.retain(|v| !v.clean());
        self.entries.is_empty()
    }
}

/// Objects are equal when their live entries are, in order (holes and the index are a detail).
impl PartialEq for Obj<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
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
        let mut m = s.serialize_map(Some(self.len()))?;
        for (k, v) in self.iter() {
            m.serialize_entry(k, v)?;
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
                // One bit per tag value seen (mod 64): a key whose bit is clear cannot be a
                // duplicate, so the search for one runs only on a possible collision.
                let mut seen = 0u64;
                while let Some(k) = a.next_key_seed(Key)? {
                    let v: Val<'a> = a.next_value()?;
                    let tag = key_tag(&k);
                    let bit = 1u64 << (tag & 63);
                    if seen & bit != 0 && o.find_tagged(&k, tag).is_some() {
                        return Err(serde::de::Error::custom(format_args!(
                            "duplicate field '{k}'"
                        )));
                    }
                    seen |= bit;
                    o.push_tagged(k, tag, v);
                }
                Ok(Val::Obj(o))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// An object key, borrowed from the input when it has no escapes (serde's own `Cow<str>` always
/// allocates).
#[derive(Clone, Copy)]
struct Key;

impl<'de> serde::de::DeserializeSeed<'de> for Key {
    type Value = Cow<'de, str>;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Key {
    type Value = Cow<'de, str>;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a string")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v))
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

    #[test]
    fn parsed_keys_borrow_unless_escaped() {
        let text = r#"{"plain":1,"esc\u0061ped":2}"#;
        let Val::Obj(o) = serde_json::from_str::<Val<'_>>(text).unwrap() else {
            panic!("not an object")
        };
        assert!(matches!(o.entries[0].0, Cow::Borrowed("plain")));
        assert!(matches!(&o.entries[1].0, Cow::Owned(k) if k == "escaped"));
    }

    #[test]
    fn duplicate_keys_are_an_error_small_and_big() {
        let err = serde_json::from_str::<Val<'_>>(r#"{"a":1,"b":2,"a":3}"#).unwrap_err();
        assert_eq!(err.to_string(), "duplicate field 'a' at line 1 column 19");
        // An escaped spelling of a key is the same key.
        let err = serde_json::from_str::<Val<'_>>(r#"{"ab":1,"a\u0062":2}"#).unwrap_err();
        assert_eq!(err.to_string(), "duplicate field 'ab' at line 1 column 20");
        for n in [5, 40, 100] {
            let keys: Vec<String> = (0..n).map(|i| format!("\"Key{i}\":{i}")).collect();
            let ok = format!("{{{}}}", keys.join(","));
            let v: Val<'_> = serde_json::from_str(&ok).unwrap();
            assert_eq!(serde_json::to_string(&v).unwrap(), ok);
            for dup in [0, n / 2, n - 1] {
                let bad = format!("{{{},\"Key{dup}\":0}}", keys.join(","));
                let err = serde_json::from_str::<Val<'_>>(&bad)
                    .unwrap_err()
                    .to_string();
                assert!(
                    err.starts_with(&format!("duplicate field 'Key{dup}' at line 1 column ")),
                    "{err}"
                );
            }
        }
    }

    #[test]
    fn inline_key_compare_every_length() {
        for n in 0..40usize {
            let a: String = (0..n).map(|i| (b'a' + (i % 26) as u8) as char).collect();
            assert!(key_eq(&a, &a.clone()));
            for at in 0..n {
                let mut b = a.clone().into_bytes();
                b[at] = b'#';
                let b = String::from_utf8(b).unwrap();
                assert!(!key_eq(&a, &b), "{a} {b}");
            }
            assert!(!key_eq(&a, &format!("{a}x")));
        }
    }

    /// One operation of the model test: a key from a small alphabet, a value.
    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8, i64),
        Remove(u8),
        SetNew(u8, i64),
        Append(u8, i64),
        Retain(i64),
    }

    fn key_name(k: u8) -> &'static str {
        // Leaked once per distinct key (the paths of `set_new` / `append` are `&'static str`).
        static NAMES: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
        NAMES.get_or_init(|| {
            (0..64u8)
                .map(|i| {
                    &*Box::leak(
                        format!("Field{}{}", i % 7, "x".repeat(i as usize / 7)).into_boxed_str(),
                    )
                })
                .collect()
        })[k as usize % 64]
    }

    use proptest::prelude::*;

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0u8..64, any::<i64>()).prop_map(|(k, v)| Op::Insert(k, v)),
            3 => (0u8..64).prop_map(Op::Remove),
            2 => (0u8..64, any::<i64>()).prop_map(|(k, v)| Op::SetNew(k, v)),
            1 => (0u8..64, any::<i64>()).prop_map(|(k, v)| Op::Append(k, v)),
            1 => (0i64..4).prop_map(Op::Retain),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// Big and small objects (index, holes, compaction) behave as a plain ordered list.
        #[test]
        fn obj_is_an_ordered_map(ops in prop::collection::vec(op(), 0..400)) {
            let mut o = Obj::new();
            let mut model: Vec<(&'static str, Val<'static>)> = Vec::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => {
                        let k = key_name(k);
                        o.insert(k, Val::I64(v));
                        match model.iter_mut().find(|(mk, _)| *mk == k) {
                            Some(slot) => slot.1 = Val::I64(v),
                            None => model.push((k, Val::I64(v))),
                        }
                    }
                    Op::Remove(k) => {
                        let k = key_name(k);
                        let want = model.iter().position(|(mk, _)| *mk == k).map(|i| model.remove(i).1);
                        prop_assert_eq!(o.remove(k), want);
                    }
                    Op::SetNew(k, v) => {
                        let k = key_name(k);
                        let fresh = !model.iter().any(|(mk, _)| *mk == k);
                        if fresh {
                            model.push((k, Val::I64(v)));
                        }
                        prop_assert_eq!(o.set_new(k, Val::I64(v)), Ok(fresh));
                    }
                    Op::Append(k, v) => {
                        let k = key_name(k);
                        o.append(k, Val::I64(v), true).unwrap();
                        match model.iter_mut().find(|(mk, _)| *mk == k) {
                            Some((_, Val::Arr(a))) => a.push(Val::I64(v)),
                            Some(slot) => {
                                let old = std::mem::replace(&mut slot.1, Val::Null);
                                slot.1 = Val::Arr(vec![old, Val::I64(v)]);
                            }
                            None => model.push((k, Val::Arr(vec![Val::I64(v)]))),
                        }
                    }
                    Op::Retain(m) => {
                        let keep = |v: &Val<'_>| !matches!(v, Val::I64(i) if i.rem_euclid(4) == m);
                        o.retain(|v| keep(v));
                        model.retain(|(_, v)| keep(v));
                    }
                }
                prop_assert_eq!(o.len(), model.len());
                let got: Vec<(&str, &Val<'_>)> = o.iter().collect();
                let want: Vec<(&str, &Val<'_>)> = model.iter().map(|(k, v)| (*k, v)).collect();
                prop_assert_eq!(got, want);
            }
            for k in 0..64 {
                let k = key_name(k);
                prop_assert_eq!(o.get(k), model.iter().find(|(mk, _)| *mk == k).map(|(_, v)| v));
            }
            let mut rebuilt = Obj::new();
            for (k, v) in &model {
                rebuilt.insert(*k, v.clone());
            }
            prop_assert_eq!(&o, &rebuilt);
            prop_assert_eq!(serde_json::to_string(&o).unwrap(), serde_json::to_string(&rebuilt).unwrap());
            prop_assert_eq!(Val::Obj(o.clone()).into_owned(), Val::Obj(rebuilt));
        }
    }
}
