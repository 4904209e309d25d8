//! Date parsing and formatting with the semantics of Elasticsearch's `date` processor as the
//! Cloudflare pipelines configure it: timezone UTC, output `yyyy-MM-dd'T'HH:mm:ss.SSSXXX`,
//! i.e. millisecond precision (sub-millisecond digits are truncated, not rounded).

/// An instant with millisecond precision and the UTC offset it was written with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Instant {
    /// Milliseconds since the Unix epoch.
    pub millis: i64,
    /// Offset from UTC in seconds that the output keeps (0 prints as `Z`).
    pub offset_secs: i32,
}

impl Instant {
    pub fn utc(millis: i64) -> Self {
        Instant {
            millis,
            offset_secs: 0,
        }
    }

    /// `yyyy-MM-dd'T'HH:mm:ss.SSSXXX`.
    pub fn format(&self) -> String {
        let local = self.millis + i64::from(self.offset_secs) * 1000;
        let days = local.div_euclid(86_400_000);
        let ms_of_day = local.rem_euclid(86_400_000);
        let (y, m, d) = civil_from_days(days);
        let (hh, mm, ss, ms) = (
            ms_of_day / 3_600_000,
            (ms_of_day / 60_000) % 60,
            (ms_of_day / 1000) % 60,
            ms_of_day % 1000,
        );
        let mut out = String::with_capacity(29);
        use std::fmt::Write;
        if (0..=9999).contains(&y) {
            let _ = write!(out, "{y:04}");
        } else {
            let _ = write!(out, "{y:+}");
        }
        let _ = write!(out, "-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{ms:03}");
        if self.offset_secs == 0 {
            out.push('Z');
        } else {
            let sign = if self.offset_secs < 0 { '-' } else { '+' };
            let abs = self.offset_secs.unsigned_abs();
            let _ = write!(out, "{sign}{:02}:{:02}", abs / 3600, (abs / 60) % 60);
            if !abs.is_multiple_of(60) {
                let _ = write!(out, ":{:02}", abs % 60);
            }
        }
        out
    }
}

/// Days since 1970-01-01 for a proleptic Gregorian date (H. Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`].
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ => {
            if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 {
                29
            } else {
                28
            }
        }
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn digits(&mut self, min: usize, max: usize) -> Option<(i64, usize)> {
        let start = self.i;
        let mut v: i64 = 0;
        while self.i < self.b.len() && self.i - start < max && self.b[self.i].is_ascii_digit() {
            v = v * 10 + i64::from(self.b[self.i] - b'0');
            self.i += 1;
        }
        let n = self.i - start;
        (n >= min).then_some((v, n))
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn done(&self) -> bool {
        self.i == self.b.len()
    }
}

/// Which textual forms a `date` processor accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Formats {
    /// `ISO8601` (lenient: optional minutes/seconds, 1–9 fraction digits, optional zone), then
    /// the strict forms below, then `UNIX_MS`. The audit `when` and Logpull `EdgeStartTimestamp`.
    Iso8601First,
    /// `uuuu-MM-dd'T'HH:mm:ssX`, `…ss.SSSX`, `yyyy-MM-dd'T'HH:mm:ssZ`, `…ss.SSSZ`, `UNIX_MS`:
    /// Logpull `EdgeEndTimestamp` (no lenient ISO8601, so e.g. microsecond fractions fail).
    StrictThenUnixMs,
    /// `ISO8601` only (audit `when`).
    Iso8601Only,
}

/// Parses a date string as the pipeline's `date` processor would. Returns `None` when no format
/// matches (the processor then fails with "unable to parse date [..]").
pub fn parse_date(s: &str, formats: Formats) -> Option<Instant> {
    match formats {
        Formats::Iso8601Only => parse_iso8601(s, false),
        Formats::Iso8601First => parse_iso8601(s, false)
            .or_else(|| parse_iso8601(s, true))
            .or_else(|| parse_unix_ms(s)),
        Formats::StrictThenUnixMs => parse_iso8601(s, true).or_else(|| parse_unix_ms(s)),
    }
}

/// `UNIX_MS`: `Long.parseLong` of the text.
pub fn parse_unix_ms(s: &str) -> Option<Instant> {
    let b = s.as_bytes();
    let digits = b
        .strip_prefix(b"-")
        .or_else(|| b.strip_prefix(b"+"))
        .unwrap_or(b);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.parse::<i64>().ok().map(Instant::utc)
}

/// ISO-8601 date-time. `strict` = the explicit `uuuu-MM-dd'T'HH:mm:ss[.SSS]X` patterns: seconds
/// required, fraction exactly 3 digits if present, zone required.
fn parse_iso8601(s: &str, strict: bool) -> Option<Instant> {
    let mut c = Cursor {
        b: s.as_bytes(),
        i: 0,
    };
    let (y, _) = c.digits(4, 4)?;
    let mut mo = 1;
    let mut d = 1;
    let (mut hh, mut mi, mut ss, mut nanos) = (0i64, 0i64, 0i64, 0i64);
    let mut offset: i32 = 0;
    if c.eat(b'-') {
        mo = c.digits(2, 2)?.0;
        if c.eat(b'-') {
            d = c.digits(2, 2)?.0;
        } else if strict {
            return None;
        }
    } else if strict {
        return None;
    }
    let mo = u32::try_from(mo).ok()?;
    let d = u32::try_from(d).ok()?;
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) {
        return None;
    }
    if c.eat(b'T') {
        hh = c.digits(2, 2)?.0;
        if c.eat(b':') {
            mi = c.digits(2, 2)?.0;
            if c.eat(b':') {
                ss = c.digits(2, 2)?.0;
                if c.eat(b'.') || (!strict && c.eat(b',')) {
                    let (f, n) = c.digits(1, 9)?;
                    if strict && n != 3 {
                        return None;
                    }
                    nanos = f * 10i64.pow(9 - n as u32);
                }
            } else if strict {
                return None;
            }
        } else if strict {
            return None;
        }
        if hh > 23 || mi > 59 || ss > 59 {
            return None;
        }
        if !c.done() {
            offset = parse_offset(&mut c)?;
        } else if strict {
            return None;
        }
    } else if strict {
        return None;
    }
    if !c.done() {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    let local_ms = days * 86_400_000 + hh * 3_600_000 + mi * 60_000 + ss * 1000 + nanos / 1_000_000;
    Some(Instant {
        millis: local_ms - i64::from(offset) * 1000,
        offset_secs: offset,
    })
}

fn parse_offset(c: &mut Cursor<'_>) -> Option<i32> {
    if c.eat(b'Z') {
        return Some(0);
    }
    let sign = if c.eat(b'+') {
        1
    } else if c.eat(b'-') {
        -1
    } else {
        return None;
    };
    let (h, _) = c.digits(2, 2)?;
    let mut m = 0;
    if c.eat(b':') {
        m = c.digits(2, 2)?.0;
    } else if let Some((v, _)) = c.digits(2, 2) {
        m = v;
    }
    if h > 18 || m > 59 {
        return None;
    }
    Some(sign * (h as i32 * 3600 + m as i32 * 60))
}

/// `EEE, dd MMM yyyy HH:mm:ss z` (HTTP date, e.g. `Thu, 01 Dec 1994 16:00:00 GMT`) in UTC.
pub fn parse_http_date(s: &str) -> Option<Instant> {
    let mut parts = s.split(' ');
    let dow = parts.next()?;
    if dow.len() != 4 || !dow.ends_with(',') {
        return None;
    }
    let d: u32 = parts.next().filter(|p| p.len() == 2)?.parse().ok()?;
    let mon = parts.next()?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let mo = MONTHS.iter().position(|m| *m == mon)? as u32 + 1;
    let y: i64 = parts.next().filter(|p| p.len() == 4)?.parse().ok()?;
    let time = parts.next()?;
    let zone = parts.next()?;
    if parts.next().is_some() || !matches!(zone, "GMT" | "UTC" | "UT" | "Z") {
        return None;
    }
    let mut c = Cursor {
        b: time.as_bytes(),
        i: 0,
    };
    let hh = c.digits(2, 2)?.0;
    if !c.eat(b':') {
        return None;
    }
    let mi = c.digits(2, 2)?.0;
    if !c.eat(b':') {
        return None;
    }
    let ss = c.digits(2, 2)?.0;
    if !c.done() || hh > 23 || mi > 59 || ss > 59 || d < 1 || d > days_in_month(y, mo) {
        return None;
    }
    let ms = days_from_civil(y, mo, d) * 86_400_000 + hh * 3_600_000 + mi * 60_000 + ss * 1000;
    Some(Instant::utc(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iso(s: &str) -> Option<String> {
        parse_date(s, Formats::Iso8601First).map(|i| i.format())
    }

    #[test]
    fn formats_and_truncates_to_millis() {
        assert_eq!(
            iso("2021-11-30T20:19:48Z").unwrap(),
            "2021-11-30T20:19:48.000Z"
        );
        assert_eq!(
            iso("2021-08-09T10:20:00.289876Z").unwrap(),
            "2021-08-09T10:20:00.289Z"
        );
        assert_eq!(
            iso("2021-08-09T10:20:00.999999999Z").unwrap(),
            "2021-08-09T10:20:00.999Z"
        );
        assert_eq!(iso("2021-08-09").unwrap(), "2021-08-09T00:00:00.000Z");
        assert_eq!(iso("2021-08-09T10:20").unwrap(), "2021-08-09T10:20:00.000Z");
        assert_eq!(
            iso("2021-08-09T10:20:00+02:00").unwrap(),
            "2021-08-09T10:20:00.000+02:00"
        );
        assert_eq!(
            parse_date("2021-08-09T10:20:00+02:00", Formats::Iso8601First)
                .unwrap()
                .millis,
            parse_date("2021-08-09T08:20:00Z", Formats::Iso8601First)
                .unwrap()
                .millis
        );
    }

    #[test]
    fn rejects_garbage_and_impossible_dates() {
        for bad in [
            "",
            "yesterday",
            "2021-02-30T00:00:00Z",
            "2021-13-01",
            "2021-01-01T25:00:00Z",
            "2021-01-01T10:00:00Zjunk",
        ] {
            assert!(iso(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn unix_ms_and_strict_forms() {
        assert_eq!(
            parse_date("1625752958812", Formats::StrictThenUnixMs)
                .unwrap()
                .format(),
            "2021-07-08T14:02:38.812Z"
        );
        assert_eq!(
            parse_date("2019-08-02T15:29:08Z", Formats::StrictThenUnixMs)
                .unwrap()
                .format(),
            "2019-08-02T15:29:08.000Z"
        );
        assert_eq!(
            parse_date("2019-08-02T15:29:08.123Z", Formats::StrictThenUnixMs)
                .unwrap()
                .format(),
            "2019-08-02T15:29:08.123Z"
        );
        // Microseconds are only accepted by the lenient ISO8601 format.
        assert!(parse_date("2019-08-02T15:29:08.123456Z", Formats::StrictThenUnixMs).is_none());
        assert!(parse_date("2019-08-02T15:29:08.123456Z", Formats::Iso8601First).is_some());
    }

    #[test]
    fn negative_and_far_dates_round_trip() {
        assert_eq!(Instant::utc(0).format(), "1970-01-01T00:00:00.000Z");
        assert_eq!(Instant::utc(-1).format(), "1969-12-31T23:59:59.999Z");
        for days in [-800_000i64, -1, 0, 1, 19_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn http_dates() {
        assert_eq!(
            parse_http_date("Thu, 01 Dec 1994 16:00:00 GMT")
                .unwrap()
                .format(),
            "1994-12-01T16:00:00.000Z"
        );
        assert!(parse_http_date("").is_none());
        assert!(parse_http_date("Thu, 01 Dec 1994 16:00:00 PST").is_none());
    }
}
