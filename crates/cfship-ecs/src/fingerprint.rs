//! Elasticsearch's `fingerprint` ingest processor (SHA-1, base64), byte for byte.
//!
//! The processor feeds the hasher, for every value it visits: a `0x00` delimiter, then the value's
//! bytes (UTF-8 for strings, little-endian for numbers, `0x01`/`0x02` for true/false); map entries
//! are visited in key order as delimiter + key followed by their value. With a single string
//! field — what both Cloudflare pipelines use (`event.id` for audit, `event.original` for
//! Logpull) — the digest is simply `SHA-1(0x00 ‖ utf8(value))`.

use base64::Engine;
use sha1::{Digest, Sha1};

/// `_id` for one string field, as `fingerprint { fields: [f], method: SHA-1 }` computes it.
pub fn fingerprint_str(value: &str) -> String {
    fingerprint_id(value).as_str().to_owned()
}

/// [`fingerprint_str`] without an allocation.
pub fn fingerprint_id(value: &str) -> crate::DocId {
    let mut h = Sha1::new();
    h.update([0u8]);
    h.update(value.as_bytes());
    digest_id(&h.finalize())
}

/// [`fingerprint_json`] as a [`crate::DocId`].
pub fn fingerprint_json_id(value: &serde_json::Value) -> crate::DocId {
    let mut h = Sha1::new();
    feed(&mut h, value);
    digest_id(&h.finalize())
}

fn digest_id(digest: &[u8]) -> crate::DocId {
    let mut b = [0u8; 28];
    // 20 bytes always encode to exactly 28 characters (with one `=`).
    let _ = base64::engine::general_purpose::STANDARD.encode_slice(digest, &mut b);
    crate::DocId::from_bytes(b)
}

/// The general form over a JSON value (used to check the algorithm against Elasticsearch's
/// documented example; both pipelines only fingerprint single strings).
pub fn fingerprint_json(value: &serde_json::Value) -> String {
    fingerprint_json_id(value).as_str().to_owned()
}

fn feed(h: &mut Sha1, v: &serde_json::Value) {
    use serde_json::Value;
    match v {
        Value::Array(a) => a.iter().for_each(|x| feed(h, x)),
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            for k in keys {
                h.update([0u8]);
                h.update(k.as_bytes());
                if let Some(x) = m.get(k) {
                    feed(h, x);
                }
            }
        }
        Value::String(s) => {
            h.update([0u8]);
            h.update(s.as_bytes());
        }
        Value::Bool(b) => {
            h.update([0u8]);
            h.update([if *b { 1u8 } else { 2u8 }]);
        }
        Value::Number(n) => {
            h.update([0u8]);
            // Jackson parses integers that fit in 32 bits as Integer, larger ones as Long.
            if let Some(i) = n.as_i64() {
                if let Ok(small) = i32::try_from(i) {
                    h.update(small.to_le_bytes());
                } else {
                    h.update(i.to_le_bytes());
                }
            } else if let Some(f) = n.as_f64() {
                h.update(f.to_le_bytes());
            }
        }
        Value::Null => h.update([0u8]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of Elasticsearch's fingerprint processor documentation.
    #[test]
    fn matches_elasticsearch_documentation_example() {
        let user = serde_json::json!({
            "last_name": "Smith",
            "first_name": "John",
            "date_of_birth": "1980-01-15",
            "is_active": true
        });
        assert_eq!(fingerprint_json(&user), "WbSUPW4zY1PBPehh2AA/sSxiRjw=");
    }

    #[test]
    fn single_string_equals_general_form() {
        let s = "73fd39ed-5aab-4a2a-b93c-c9a4abf0c425";
        assert_eq!(fingerprint_str(s), fingerprint_json(&serde_json::json!(s)));
        // SHA-1 of "\0" + id, base64: a fixed, known value for this id.
        assert_eq!(fingerprint_str(s).len(), 28);
        assert_eq!(fingerprint_id(s).as_str(), fingerprint_str(s));
        assert_ne!(
            fingerprint_str(s),
            fingerprint_str("73fd39ed-5aab-4a2a-b93c-c9a4abf0c426")
        );
    }
}
