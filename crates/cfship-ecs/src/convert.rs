//! Conversions with the semantics of Elasticsearch's `convert` processor and of the Painless
//! snippets in the Cloudflare pipelines.

use crate::doc::Val;

/// `Long.decode(value.toString())`: optional sign, then `0x`/`0X`/`#` hex, a leading `0` for
/// octal, or decimal. Anything else — including `2.0` — is an error.
pub fn java_long_decode(s: &str) -> Option<i64> {
    java_long_decode_msg(s).ok()
}

/// `Long.decode(s)` with the `NumberFormatException` message on failure (what the `convert`
/// processor reports: its `unable to convert [..]` is only the wrapper, `_ingest.on_failure_message`
/// is the root cause): `Zero length string`, `Sign character in wrong position`, or
/// `For input string: "<digits>"` (+ ` under radix 16|8`), the digits with their sign.
pub fn java_long_decode_msg(s: &str) -> Result<i64, String> {
    if s.is_empty() {
        return Err("Zero length string".to_string());
    }
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
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
    if digits.starts_with(['-', '+']) {
        return Err("Sign character in wrong position".to_string());
    }
    parse_magnitude(digits, radix, neg).ok_or_else(|| {
        let suffix = if radix == 10 {
            String::new()
        } else {
            format!(" under radix {radix}")
        };
        let sign = if neg { "-" } else { "" };
        format!("For input string: \"{sign}{digits}\"{suffix}")
    })
}

/// Accumulates `digits` in `radix` as Java's `Long.parseLong` does (negatively, so that
/// `i64::MIN` fits), each digit read with [`java_digit`].
fn parse_magnitude(digits: &str, radix: u32, neg: bool) -> Option<i64> {
    if digits.is_empty() {
        return None;
    }
    let mut acc: i64 = 0;
    for c in digits.chars() {
        let d = i64::from(java_digit(c, radix)?);
        acc = acc.checked_mul(i64::from(radix))?.checked_sub(d)?;
    }
    if neg {
        Some(acc)
    } else {
        acc.checked_neg()
    }
}

/// `Long.parseLong(s)`: an optional sign, then digits (any Unicode decimal digit, as Java's
/// `Character.digit` reads them).
pub fn java_parse_long(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    parse_magnitude(body, 10, neg)
}

/// The first code point (value 0) of each run of ten Unicode decimal digits (general category
/// Nd, Unicode 15.1) besides ASCII.
const ND_ZEROS: [u32; 67] = [
    0x660, 0x6F0, 0x7C0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66, 0xBE6, 0xC66, 0xCE6, 0xD66, 0xDE6,
    0xE50, 0xED0, 0xF20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80, 0x1A90, 0x1B50,
    0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10,
    0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0, 0x112F0, 0x11450, 0x114D0, 0x11650,
    0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50, 0x11DA0, 0x11F50, 0x16A60, 0x16AC0,
    0x16B50, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140, 0x1E2F0, 0x1E4F0, 0x1E950,
    0x1FBF0,
];

/// `Character.digit(c, radix)`: ASCII digits and letters, fullwidth Latin letters, and the
/// Unicode decimal digits of the Basic Multilingual Plane.
pub fn java_digit(c: char, radix: u32) -> Option<u32> {
    let cp = c as u32;
    let v = match c {
        '0'..='9' => cp - '0' as u32,
        'a'..='z' => cp - 'a' as u32 + 10,
        'A'..='Z' => cp - 'A' as u32 + 10,
        '\u{ff21}'..='\u{ff3a}' => cp - 0xff21 + 10,
        '\u{ff41}'..='\u{ff5a}' => cp - 0xff41 + 10,
        // Java reads UTF-16 units: a digit outside the BMP is two surrogates, neither a digit.
        _ if cp > 0xffff => return None,
        _ => ND_ZEROS
            .iter()
            .find(|z| (**z..**z + 10).contains(&cp))
            .map(|z| cp - z)?,
    };
    (v < radix).then_some(v)
}

/// `Double.toString(d)` as JDK 19+ (the JDKs Elasticsearch bundles) writes it: the shortest
/// decimal that reads back as `d` (at least two digits, the closest to `d`), plain between 10^-3
/// and 10^7, else `d.dddE±n`.
pub fn java_double_to_string(d: f64) -> String {
    if d.is_nan() {
        return "NaN".to_string();
    }
    if d.is_infinite() {
        return if d > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    if d == 0.0 {
        return if d.is_sign_negative() { "-0.0" } else { "0.0" }.to_string();
    }
    let abs = d.abs();
    let mut sci = format!("{abs:e}");
    let (mant, _) = sci.split_once('e').unwrap_or((&sci, "0"));
    if !mant.contains('.') {
        // One significant digit: Java picks the closest decimal of two digits instead.
        sci = format!("{abs:.1e}");
    }
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits: String = mant.chars().filter(char::is_ascii_digit).collect();
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    let mut out = String::with_capacity(digits.len() + 8);
    if d < 0.0 {
        out.push('-');
    }
    if (1e-3..1e7).contains(&abs) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        out.push('.');
        out.push_str(if digits.len() > 1 { &digits[1..] } else { "0" });
        out.push('E');
        out.push_str(&exp.to_string());
    }
    out
}

/// Elasticsearch's `convert` to `long` of a text: `Long.decode` when it starts with `0x` or `-0x`,
/// else `Long.parseLong` (so `0123` is 123, and `#ff`, `0X1F`, `+0x1F` fail); the error is the
/// `NumberFormatException` message (the root cause Elasticsearch reports).
pub fn es_convert_long(s: &str) -> Result<i64, String> {
    if s.starts_with("0x") || s.starts_with("-0x") {
        return java_long_decode_msg(s);
    }
    java_parse_long(s).ok_or_else(|| format!("For input string: \"{s}\""))
}

/// `convert { type: long }` of one value. Lists are converted element by element. The error is
/// the root cause Elasticsearch reports (`For input string: "high"`).
pub fn to_long<'a>(v: &Val<'a>) -> Result<Val<'a>, String> {
    match v {
        Val::I64(i) => Ok(Val::I64(*i)),
        Val::U64(u) => Err(format!("For input string: \"{u}\"")),
        Val::Arr(a) => a
            .iter()
            .map(to_long)
            .collect::<Result<Vec<_>, _>>()
            .map(Val::Arr),
        other => {
            let s = crate::logpush::engine::java_to_string(other);
            es_convert_long(&s).map(Val::I64)
        }
    }
}

/// The message of Java's `ClassCastException` for a cast of a `java.base` class to another.
pub fn class_cast_message(from: &str, to: &str) -> String {
    format!(
        "class {from} cannot be cast to class {to} ({from} and {to} are in module java.base of loader 'bootstrap')"
    )
}

/// `String.trim()`: strips the characters up to U+0020 at both ends.
fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

/// The text `Double.parseDouble` / `Float.parseFloat` reads after `trim()`, rewritten into what
/// Rust's parser reads the same way; `None` when Java rejects it. Java takes an optional sign,
/// `Infinity` and `NaN` (exact case), decimal digits with an optional point and exponent and an
/// optional `f`/`F`/`d`/`D` suffix; it rejects Rust's `inf`, `infinity` and `nan` spellings.
/// (Hexadecimal floats are not read: they are rejected as Java never would; none reach here.)
fn java_float_text(t: &str) -> Option<String> {
    let (sign, body) = match t.as_bytes().first() {
        Some(b'+') => ("", &t[1..]),
        Some(b'-') => ("-", &t[1..]),
        _ => ("", t),
    };
    if body == "Infinity" || body == "NaN" {
        return Some(format!(
            "{sign}{}",
            if body == "NaN" { "NaN" } else { "inf" }
        ));
    }
    let body = body.strip_suffix(['f', 'F', 'd', 'D']).unwrap_or(body);
    let digits_ok = !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
        && body.bytes().any(|b| b.is_ascii_digit());
    digits_ok.then(|| format!("{sign}{body}"))
}

fn java_number_format(text: &str) -> String {
    let t = java_trim(text);
    if t.is_empty() {
        "empty String".to_string()
    } else {
        format!("For input string: \"{t}\"")
    }
}

/// `Double.parseDouble(text)`; the error is the NumberFormatException's message.
pub fn java_parse_double(text: &str) -> Result<f64, String> {
    java_float_text(java_trim(text))
        .and_then(|s| s.parse::<f64>().ok())
        .ok_or_else(|| java_number_format(text))
}

/// `Float.parseFloat(text)` (rounded to a float once, from the decimal text), widened to `f64`.
pub fn java_parse_float(text: &str) -> Result<f64, String> {
    java_float_text(java_trim(text))
        .and_then(|s| s.parse::<f32>().ok())
        .map(f64::from)
        .ok_or_else(|| java_number_format(text))
}

/// A converted `float`/`double` as the document holds it: a float written with a float's
/// shortest digits (`Float.toString`); infinities and NaN as the strings Jackson writes for them
/// (`"Infinity"`, `"-Infinity"`, `"NaN"`).
pub fn java_floating_val(f: f64, float: bool) -> Val<'static> {
    if f.is_nan() {
        return Val::str("NaN");
    }
    if f.is_infinite() {
        return Val::str(if f > 0.0 { "Infinity" } else { "-Infinity" });
    }
    if float {
        let f32v = f as f32;
        Val::F64(format!("{f32v}").parse::<f64>().unwrap_or(f))
    } else {
        Val::F64(f)
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
        Val::Str(s) => java_parse_long(s),
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
    fn float_and_double_parse_like_java() {
        // Java's grammar: trimmed, exact-case Infinity/NaN, an f/d suffix; Rust's spellings fail.
        assert_eq!(java_parse_double(" 1.5 "), Ok(1.5));
        assert_eq!(java_parse_double("2.5d"), Ok(2.5));
        assert_eq!(java_parse_double("-Infinity"), Ok(f64::NEG_INFINITY));
        assert!(java_parse_double("NaN").is_ok_and(f64::is_nan));
        assert_eq!(java_parse_float("0.1"), Ok(f64::from(0.1f32)));
        assert_eq!(java_parse_float("1.0E300"), Ok(f64::INFINITY));
        for bad in ["inf", "infinity", "nan", "12abc", "1.5ff", "."] {
            assert_eq!(
                java_parse_float(bad),
                Err(format!("For input string: \"{bad}\"")),
                "{bad}"
            );
        }
        // The message quotes the trimmed text; nothing left is "empty String".
        assert_eq!(
            java_parse_double(" x "),
            Err("For input string: \"x\"".into())
        );
        assert_eq!(java_parse_double(" \t"), Err("empty String".into()));
        // Non-finite results are the strings Jackson writes.
        assert_eq!(java_floating_val(f64::INFINITY, true), Val::str("Infinity"));
        assert_eq!(java_floating_val(f64::NAN, false), Val::str("NaN"));
        assert_eq!(java_floating_val(0.1f32 as f64, true), Val::F64(0.1));
    }

    #[test]
    fn class_cast_text() {
        assert_eq!(
            class_cast_message("java.util.HashMap", "java.lang.String"),
            "class java.util.HashMap cannot be cast to class java.lang.String (java.util.HashMap and java.lang.String are in module java.base of loader 'bootstrap')"
        );
    }

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
        // The root cause Elasticsearch reports (the NumberFormatException of Long.decode).
        assert_eq!(
            to_long(&Val::F64(2.5)).unwrap_err(),
            "For input string: \"2.5\""
        );
        assert_eq!(
            to_long(&Val::str("0xZZ")).unwrap_err(),
            "For input string: \"ZZ\" under radix 16"
        );
        assert_eq!(
            to_long(&Val::str("")).unwrap_err(),
            "For input string: \"\""
        );
        // Only `0x`/`-0x` go through Long.decode: no octal, no `#`.
        assert_eq!(to_long(&Val::str("0123")).unwrap(), Val::I64(123));
        assert_eq!(to_long(&Val::str("-0x1F")).unwrap(), Val::I64(-31));
        assert!(to_long(&Val::str("#1F")).is_err());
        assert!(to_long(&Val::Bool(true)).is_err());
        assert_eq!(
            to_long(&Val::Arr(vec![Val::str("1"), Val::I64(2)])).unwrap(),
            Val::Arr(vec![Val::I64(1), Val::I64(2)])
        );
    }
}
