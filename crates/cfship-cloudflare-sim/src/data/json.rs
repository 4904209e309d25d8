//! Hand-written JSON output of the generator (byte-exact and allocation-light: a Logpull body is
//! written record by record into one buffer).

use super::logpull::TimestampFormat;
use super::rng::Rng;
use super::NS_PER_SEC;
use std::fmt::Write as _;

pub(crate) fn push_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    for &b in s.as_bytes() {
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            0..=0x1f => {
                let _ = write!(VecWriter(out), "\\u{:04x}", b);
            }
            _ => out.push(b),
        }
    }
    out.push(b'"');
}

pub(crate) struct VecWriter<'a>(pub(crate) &'a mut Vec<u8>);
impl std::fmt::Write for VecWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

pub(crate) fn push_ts(out: &mut Vec<u8>, ns: i64, ts: TimestampFormat) {
    match ts {
        TimestampFormat::UnixNano => {
            let _ = write!(VecWriter(out), "{ns}");
        }
        TimestampFormat::Unix => {
            let _ = write!(VecWriter(out), "{}", ns.div_euclid(NS_PER_SEC));
        }
        TimestampFormat::Rfc3339 => {
            let s = chrono::DateTime::from_timestamp(ns.div_euclid(NS_PER_SEC), 0)
                .map(|d| d.format("%Y-%m-%dT%H:%M:%SZ").to_string())
                .unwrap_or_default();
            push_str(out, &s);
        }
    }
}

pub(crate) fn push_strs<S: AsRef<str>>(out: &mut Vec<u8>, xs: &[S]) {
    out.push(b'[');
    for (i, x) in xs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_str(out, x.as_ref());
    }
    out.push(b']');
}

pub(crate) fn hex(out: &mut String, rng: &mut Rng, n: usize) {
    while out.len() < n {
        let _ = write!(out, "{:016x}", rng.next_u64());
    }
    out.truncate(n);
}
