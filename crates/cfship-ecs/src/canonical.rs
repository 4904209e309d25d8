//! Elastic Agent's re-encoding of a record: Filebeat's `httpjson` input decodes each record and
//! publishes it as `message` = Go's `encoding/json` of the decoded map — keys sorted, compact,
//! `<`, `>`, `&`, U+2028 and U+2029 escaped. That text becomes `event.original`, and the Logpull
//! `_id` is its fingerprint, so cfship re-encodes collected records the same way to produce the
//! same `_id`s as Elastic Agent (documents collapse into one if both ever run).
//!
//! Numbers are copied verbatim (no float round trip), so large integers keep every digit.

use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// Re-encodes one JSON value as Go's `json.Marshal` of its decoded form would.
pub fn go_json(raw: &str) -> Result<String, serde_json::Error> {
    let mut out = String::with_capacity(raw.len() + 16);
    let v: &RawValue = serde_json::from_str(raw)?;
    write_value(v, &mut out)?;
    Ok(out)
}

fn write_value(v: &RawValue, out: &mut String) -> Result<(), serde_json::Error> {
    let text = v.get();
    match text.as_bytes().first() {
        Some(b'{') => {
            let map: BTreeMap<std::borrow::Cow<'_, str>, &RawValue> = serde_json::from_str(text)?;
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(k, out);
                out.push(':');
                write_value(v, out)?;
            }
            out.push('}');
        }
        Some(b'[') => {
            let items: Vec<&RawValue> = serde_json::from_str(text)?;
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(v, out)?;
            }
            out.push(']');
        }
        Some(b'"') => {
            let s: std::borrow::Cow<'_, str> = serde_json::from_str(text)?;
            write_string(&s, out);
        }
        _ => out.push_str(text),
    }
    Ok(())
}

/// Go's `encodeState.string` with HTML escaping (Go ≤ 1.21 short escapes).
fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_keys_recursively_and_compacts() {
        let got = go_json(r#"{ "b": 1, "a": {"z": [3, {"y": 1, "x": 2}], "c": null}, "A": true }"#)
            .unwrap();
        assert_eq!(
            got,
            r#"{"A":true,"a":{"c":null,"z":[3,{"x":2,"y":1}]},"b":1}"#
        );
    }

    #[test]
    fn keeps_number_text_and_escapes_like_go() {
        let got =
            go_json(r#"{"t":1625752958812345678,"r":2.64,"s":"<a href=\"x\">&\u2028\u0001é</a>"}"#)
                .unwrap();
        assert_eq!(
            got,
            r#"{"r":2.64,"s":"\u003ca href=\"x\"\u003e\u0026\u2028\u0001é\u003c/a\u003e","t":1625752958812345678}"#
        );
    }

    #[test]
    fn rejects_invalid_json() {
        assert!(go_json("{\"a\":").is_err());
        assert!(go_json("").is_err());
    }
}
