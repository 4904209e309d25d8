//! Conversions with the semantics of Elasticsearch's `convert` processor and of the Painless
//! snippets in the Cloudflare pipelines.

use crate::doc::Val;

/// `Long.decode(value.toString())`: optional sign, then `0x`/`0X`/`#` hex, a leading `0` for
/// octal, or decimal. Anything else — including `2.0` — is an error.
pub fn java_long_decode(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() || body.starts_with(['-', '+']) {
        return None;
    }
    let (radix, digits) =
        if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
            (16, h)
        } else if let Some(h) = body.strip_prefix('#') {
            (16, h)
        } else if body.len() > 1 && body.starts_with('0') {
            (8, &body[1..])
        } else {
            (10, body)
        };
    if digits.is_empty() || digits.starts_with(['-', '+']) {
        return None;
    }
    // Parse as negative to accept i64::MIN, like Java does.
    let mut acc: i64 = 0;
    for c in digits.chars() {
        let d = c.to_digit(radix)? as i64;
        acc = acc.checked_mul(radix as i64)?.checked_sub(d)?;
    }
    if neg {
        Some(acc)
    } else {
        acc.checked_neg()
    }
}

/// `convert { type: long }` of one value. Lists are converted element by element.
pub fn to_long<'a>(v: &Val<'a>) -> Result<Val<'a>, String> {
    match v {
        Val::I64(i) => Ok(Val::I64(*i)),
        Val::U64(u) => Err(format!("unable to convert [{u}] to long")),
        Val::Arr(a) => a
            .iter()
            .map(to_long)
            .collect::<Result<Vec<_>, _>>()
            .map(Val::Arr),
        other => {
            let s = other.to_display_string();
            java_long_decode(&s)
                .map(Val::I64)
                .ok_or_else(|| format!("unable to convert [{s}] to long"))
        }
    }
}

/// `convert { type: ip }`: the string is kept as is when it is an IP address literal.
pub fn is_ip(s: &str) -> bool {
    s.parse::<std::net::IpAddr>().is_ok()
}

/// Painless `(long)` of a number or `Long.parseLong` of a string, as the timestamp
/// normalisation scripts do. `None` when the script would leave the value unchanged.
pub fn painless_long(v: &Val<'_>) -> Option<i64> {
    match v {
        Val::I64(i) => Some(*i),
        Val::U64(u) => Some(*u as i64),
        // Java's (long) cast of a double truncates and saturates, like Rust's `as`.
        Val::F64(f) => Some(*f as i64),
        Val::Str(s) => {
            let b = s.as_bytes();
            let digits = b
                .strip_prefix(b"-")
                .or_else(|| b.strip_prefix(b"+"))
                .unwrap_or(b);
            if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            s.parse::<i64>().ok()
        }
        _ => None,
    }
}

/// The Logpull timestamp script: nanoseconds (> 1e18) → ms, seconds (< 1e10) → ms, else ms.
pub fn normalise_epoch(t: i64) -> i64 {
    if t > 1_000_000_000_000_000_000 {
        t / 1_000_000
    } else if t < 10_000_000_000 {
        t.wrapping_mul(1000)
    } else {
        t
    }
}

/// Painless `value != 0` for a def value (numbers compare numerically, anything else differs).
pub fn painless_ne_zero(v: Option<&Val<'_>>) -> bool {
    match v {
        Some(Val::I64(i)) => *i != 0,
        Some(Val::U64(u)) => *u != 0,
        Some(Val::F64(f)) => *f != 0.0,
        _ => true,
    }
}

/// Java type names used in Elasticsearch's cast error messages.
pub fn java_type(v: &Val<'_>) -> &'static str {
    match v {
        Val::Null => "null",
        Val::Bool(_) => "java.lang.Boolean",
        Val::I64(i) if i32::try_from(*i).is_ok() => "java.lang.Integer",
        Val::I64(_) => "java.lang.Long",
        Val::U64(_) => "java.math.BigInteger",
        Val::F64(_) => "java.lang.Double",
        Val::Str(_) => "java.lang.String",
        Val::Arr(_) => "java.util.ArrayList",
        Val::Obj(_) => "java.util.HashMap",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_decode_like_java() {
        assert_eq!(java_long_decode("123"), Some(123));
        assert_eq!(java_long_decode("-123"), Some(-123));
        assert_eq!(java_long_decode("+7"), Some(7));
        assert_eq!(java_long_decode("0x1F"), Some(31));
        assert_eq!(java_long_decode("#ff"), Some(255));
        assert_eq!(java_long_decode("010"), Some(8));
        assert_eq!(java_long_decode("0"), Some(0));
        assert_eq!(java_long_decode("-9223372036854775808"), Some(i64::MIN));
        for bad in [
            "",
            "-",
            "2.0",
            "abc",
            "1e3",
            "9223372036854775808",
            "--1",
            "0x",
            "08",
        ] {
            assert_eq!(java_long_decode(bad), None, "{bad}");
        }
    }

    #[test]
    fn epoch_normalisation() {
        assert_eq!(
            normalise_epoch(1_625_752_958_812_000_000),
            1_625_752_958_812
        );
        assert_eq!(normalise_epoch(1_625_754_264), 1_625_754_264_000);
        assert_eq!(normalise_epoch(1_625_754_264_000), 1_625_754_264_000);
    }

    #[test]
    fn to_long_values() {
        assert_eq!(to_long(&Val::str("42")).unwrap(), Val::I64(42));
        assert_eq!(to_long(&Val::I64(5)).unwrap(), Val::I64(5));
        assert_eq!(
            to_long(&Val::F64(2.5)).unwrap_err(),
            "unable to convert [2.5] to long"
        );
        assert!(to_long(&Val::Bool(true)).is_err());
        assert_eq!(
            to_long(&Val::Arr(vec![Val::str("1"), Val::I64(2)])).unwrap(),
            Val::Arr(vec![Val::I64(1), Val::I64(2)])
        );
    }
}
