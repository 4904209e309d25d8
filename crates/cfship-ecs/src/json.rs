//! The document writer: compact JSON of a [`Val`] / [`Obj`] appended to a caller's buffer, byte for
//! byte what `serde_json::to_writer` writes for the same tree (its `Serialize` impl in
//! [`crate::doc`]), without going through serde's visitor machinery and without a `String` per
//! document.
//!
//! serde_json's compact format, reproduced here (docs/ecs-writer.md):
//! - strings: `"` and `\` escaped with a backslash; the control characters U+0000–U+001F as
//!   `\b \t \n \f \r` where those exist, else `\u00XX` with lowercase hex; everything else
//!   (U+007F and all non-ASCII) verbatim UTF-8;
//! - integers in decimal (`itoa`); finite floats with `zmij` (what serde_json 1.0.15x uses: shortest round-trip form, e.g.
//!   `1.25`, `1e+300`, `-0.0`), non-finite floats as `null`;
//! - no whitespace; object entries in insertion order.

use crate::doc::{Obj, Val};

/// Bytes that need escaping: 0 = verbatim, else the character after the backslash (`u` for the
/// `\u00XX` form). serde_json's `ESCAPE` table.
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Whether any of the 8 bytes of `w` needs escaping (a control character, `"` or `\\`): the
/// usual word-at-a-time tests (never a false negative; a hit is then located byte by byte).
#[inline]
fn word_needs_escape(w: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |v: u64| v.wrapping_sub(ONES) & !v & HIGH;
    let below_space = w.wrapping_sub(ONES * 0x20) & !w & HIGH;
    (below_space | zero_byte(w ^ (ONES * b'"' as u64)) | zero_byte(w ^ (ONES * b'\\' as u64))) != 0
}

/// The index of the first byte at or after `from` that needs escaping.
#[inline]
fn next_escape(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        if word_needs_escape(u64::from_le_bytes(word)) {
            break;
        }
        i += 8;
    }
    bytes[i..]
        .iter()
        .position(|&b| ESCAPE[b as usize] != 0)
        .map(|p| i + p)
}

/// Appends `s` as a JSON string literal (quotes included). Runs without escapes are copied whole,
/// found eight bytes at a time.
#[inline]
pub fn write_str(out: &mut Vec<u8>, s: &str) {
    let bytes = s.as_bytes();
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    let mut start = 0;
    while let Some(i) = next_escape(bytes, start) {
        let b = bytes[i];
        let esc = ESCAPE[b as usize];
        if start < i {
            out.extend_from_slice(&bytes[start..i]);
        }
        if esc == b'u' {
            out.extend_from_slice(&[
                b'\\',
                b'u',
                b'0',
                b'0',
                HEX[(b >> 4) as usize],
                HEX[(b & 0xf) as usize],
            ]);
        } else {
            out.extend_from_slice(&[b'\\', esc]);
        }
        start = i + 1;
    }
    if start < bytes.len() {
        out.extend_from_slice(&bytes[start..]);
    }
    out.push(b'"');
}

/// Appends a float as serde_json writes it.
#[inline]
fn write_f64(out: &mut Vec<u8>, f: f64) {
    if f.is_finite() {
        let mut b = zmij::Buffer::new();
        out.extend_from_slice(b.format_finite(f).as_bytes());
    } else {
        out.extend_from_slice(b"null");
    }
}

/// Appends the compact JSON of a value.
pub fn write_val(out: &mut Vec<u8>, v: &Val<'_>) {
    match v {
        Val::Null => out.extend_from_slice(b"null"),
        Val::Bool(true) => out.extend_from_slice(b"true"),
        Val::Bool(false) => out.extend_from_slice(b"false"),
        Val::I64(i) => out.extend_from_slice(itoa::Buffer::new().format(*i).as_bytes()),
        Val::U64(u) => out.extend_from_slice(itoa::Buffer::new().format(*u).as_bytes()),
        Val::F64(f) => write_f64(out, *f),
        Val::Str(s) => write_str(out, s),
        Val::Arr(a) => {
            out.push(b'[');
            let mut first = true;
            for x in a {
                if !first {
                    out.push(b',');
                }
                first = false;
                write_val(out, x);
            }
            out.push(b']');
        }
        Val::Obj(o) => write_obj(out, o),
    }
}

/// Appends the compact JSON of an object.
pub fn write_obj(out: &mut Vec<u8>, o: &Obj<'_>) {
    out.push(b'{');
    let mut first = true;
    for (k, v) in o.iter() {
        if !first {
            out.push(b',');
        }
        first = false;
        write_str(out, k);
        out.push(b':');
        write_val(out, v);
    }
    out.push(b'}');
}

/// The compact JSON of an object as a `String`.
pub fn obj_to_string(o: &Obj<'_>) -> String {
    let mut out = Vec::with_capacity(1024);
    write_obj(&mut out, o);
    // The writer only appends whole UTF-8 sequences of valid `str`s and ASCII.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::borrow::Cow;

    fn serde(v: &Val<'_>) -> Vec<u8> {
        serde_json::to_vec(v).unwrap()
    }

    fn ours(v: &Val<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        write_val(&mut out, v);
        out
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            "[a-z_.]{0,12}",
            any::<String>(),
            "[\\x00-\\x1f\"\\\\\\x7f]{0,4}",
        ]
    }

    fn val() -> impl Strategy<Value = Val<'static>> {
        let leaf = prop_oneof![
            Just(Val::Null),
            any::<bool>().prop_map(Val::Bool),
            any::<i64>().prop_map(Val::I64),
            any::<u64>().prop_map(Val::U64),
            any::<f64>().prop_map(Val::F64),
            prop_oneof![
                Just(f64::NAN),
                Just(f64::INFINITY),
                Just(-0.0),
                Just(1e300),
                Just(1.25),
                Just(5e-324)
            ]
            .prop_map(Val::F64),
            any::<String>().prop_map(|s| Val::Str(Cow::Owned(s))),
            "[\\x00-\\x7f]{0,16}".prop_map(|s| Val::Str(Cow::Owned(s))),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Val::Arr),
                prop::collection::vec((key(), inner), 0..6).prop_map(|kv| {
                    let mut o = Obj::new();
                    for (k, v) in kv {
                        o.push_unchecked(Cow::Owned(k), v);
                    }
                    Val::Obj(o)
                }),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]
        #[test]
        fn writer_matches_serde_json(v in val()) {
            prop_assert_eq!(ours(&v), serde(&v));
        }
    }

    /// The word-at-a-time scan: an escape at every position of strings around and past a word,
    /// next to multi-byte characters and bytes just above and below the escaped ones.
    #[test]
    fn escapes_at_every_position_as_serde_json_does() {
        let specials = [
            '\0', '\n', '\x1f', '"', '\\', ' ', '!', '#', '[', ']', '\x7f', 'é', '€',
        ];
        for len in 0..40 {
            for at in 0..len.max(1) {
                for &c in &specials {
                    let s: String = (0..len)
                        .map(|i| {
                            if i == at {
                                c
                            } else {
                                (b'a' + (i % 26) as u8) as char
                            }
                        })
                        .collect();
                    let v = Val::Str(Cow::Owned(s));
                    assert_eq!(ours(&v), serde(&v));
                }
            }
        }
    }

    #[test]
    fn every_byte_escapes_as_serde_json_does() {
        let all: String = (0u32..0x800).filter_map(char::from_u32).collect();
        let v = Val::Str(Cow::Owned(all));
        assert_eq!(ours(&v), serde(&v));
    }
}
