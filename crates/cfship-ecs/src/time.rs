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
        let mut out = String::with_capacity(29);
        self.format_into(&mut out);
        out
    }

    /// [`Instant::format`] appended to `out`. The digits are written by hand: `core::fmt` with
    /// its padding machinery was a few percent of a whole transform (several dates per record).
    pub fn format_into(&self, out: &mut String) {
        let local = self
            .millis
            .wrapping_add(i64::from(self.offset_secs).wrapping_mul(1000));
        let days = local.div_euclid(86_400_000);
        // In 0..86_400_000, so the narrowing is exact.
        let ms_of_day = local.rem_euclid(86_400_000) as u32;
        let (y, m, d) = civil_from_days(days);
        let (hh, mm, ss, ms) = (
            ms_of_day / 3_600_000,
            (ms_of_day / 60_000) % 60,
            (ms_of_day / 1000) % 60,
            ms_of_day % 1000,
        );
        let mut buf = [0u8; 48];
        let mut n = 0;
        // `yyyy` is the year of era (year 0 is 1 BC), `SignStyle.EXCEEDS_PAD`: a `+` only
        // beyond four digits.
        let yoe = if y <= 0 { 1 - y } else { y }.unsigned_abs();
        if yoe <= 9999 {
            n = put_digits(&mut buf, n, yoe, 4);
        } else {
            buf[n] = b'+';
            n = put_digits(&mut buf, n + 1, yoe, 1);
        }
        buf[n] = b'-';
        n = put_digits(&mut buf, n + 1, u64::from(m), 2);
        buf[n] = b'-';
        n = put_digits(&mut buf, n + 1, u64::from(d), 2);
        buf[n] = b'T';
        n = put_digits(&mut buf, n + 1, u64::from(hh), 2);
        buf[n] = b':';
        n = put_digits(&mut buf, n + 1, u64::from(mm), 2);
        buf[n] = b':';
        n = put_digits(&mut buf, n + 1, u64::from(ss), 2);
        buf[n] = b'.';
        n = put_digits(&mut buf, n + 1, u64::from(ms), 3);
        if self.offset_secs == 0 {
            buf[n] = b'Z';
            n += 1;
        } else {
            buf[n] = if self.offset_secs < 0 { b'-' } else { b'+' };
            let abs = self.offset_secs.unsigned_abs();
            n = put_digits(&mut buf, n + 1, u64::from(abs / 3600), 2);
            buf[n] = b':';
            n = put_digits(&mut buf, n + 1, u64::from((abs / 60) % 60), 2);
            if !abs.is_multiple_of(60) {
                buf[n] = b':';
                n = put_digits(&mut buf, n + 1, u64::from(abs % 60), 2);
            }
        }
        // Only ASCII digits and punctuation were written.
        out.push_str(std::str::from_utf8(&buf[..n]).unwrap_or_default());
    }
}

/// Writes `v` in decimal at `buf[at..]`, zero-padded to at least `width` digits; returns the end.
/// `buf` has room for the widest output (a `u64` has at most 20 digits; `format_into` writes at
/// most 21 + 27 bytes).
fn put_digits(buf: &mut [u8; 48], at: usize, v: u64, width: usize) -> usize {
    let mut len = 1;
    let mut rest = v / 10;
    while rest > 0 {
        len += 1;
        rest /= 10;
    }
    let end = at + len.max(width);
    let mut v = v;
    for slot in buf[at..end].iter_mut().rev() {
        *slot = b'0' + (v % 10) as u8;
        v /= 10;
    }
    end
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
    /// `ISO8601`, `uuuu-MM-dd'T'HH:mm:ssX`, `…ss.SSSX`, `yyyy-MM-dd'T'HH:mm:ssZ`, `…ss.SSSZ`,
    /// `UNIX_MS`: the Logpull `EdgeStartTimestamp`.
    Iso8601First,
    /// The same without `ISO8601`: Logpull `EdgeEndTimestamp` (so microsecond fractions fail).
    StrictThenUnixMs,
    /// `ISO8601` only (audit `when`).
    Iso8601Only,
}

/// The explicit java.time patterns of the Logpull pipeline, in its order.
pub const LOGPULL_PATTERNS: [&str; 4] = [
    "uuuu-MM-dd'T'HH:mm:ssX",
    "uuuu-MM-dd'T'HH:mm:ss.SSSX",
    "yyyy-MM-dd'T'HH:mm:ssZ",
    "yyyy-MM-dd'T'HH:mm:ss.SSSZ",
];

/// Parses a date string as the pipeline's `date` processor (timezone UTC) would. The result is
/// always in UTC: Elasticsearch converts with `withZoneSameInstant(UTC)` before formatting, so a
/// `+02:00` input comes out as `Z`. When no format accepts the text the error is what
/// Elasticsearch reports as `_ingest.on_failure_message`: the root cause of the exception chain,
/// which is the *first* format's failure (later ones are only suppressed), e.g.
/// `Text '2026-01-22T14:03:29.251118Z' could not be parsed at index 19`.
pub fn parse_date(s: &str, formats: Formats) -> Result<Instant, String> {
    match formats {
        Formats::Iso8601Only => parse_es_iso8601(s),
        Formats::Iso8601First => parse_es_iso8601(s).or_else(|first| {
            LOGPULL_PATTERNS
                .iter()
                .find_map(|p| parse_java_pattern(s, p).ok())
                .or_else(|| parse_unix_ms(s))
                .ok_or(first)
        }),
        Formats::StrictThenUnixMs => parse_java_pattern(s, LOGPULL_PATTERNS[0]).or_else(|first| {
            LOGPULL_PATTERNS[1..]
                .iter()
                .find_map(|p| parse_java_pattern(s, p).ok())
                .or_else(|| parse_unix_ms(s))
                .ok_or(first)
        }),
    }
}

/// `UNIX_MS`: `Long.parseLong` of the text.
pub fn parse_unix_ms(s: &str) -> Option<Instant> {
    crate::convert::java_parse_long(s).map(Instant::utc)
}

/// Elasticsearch's `iso8601` formatter followed by `DateFormatters.from`: a syntax or field-range
/// error is `Failed to parse with all enclosed parsers` (the formatter tries several parsers), a
/// day that does not exist in its month is `LocalDate`'s message.
pub fn parse_es_iso8601(s: &str) -> Result<Instant, String> {
    if s.is_empty() {
        return Err("cannot parse empty datetime".to_string());
    }
    match iso8601_fields(s) {
        None => Err("Failed to parse with all enclosed parsers".to_string()),
        Some(f) => {
            if f.month == 0 {
                return Err("Invalid value for MonthOfYear (valid values 1 - 12): 0".to_string());
            }
            if f.day == 0 {
                return Err("Invalid value for DayOfMonth (valid values 1 - 28/31): 0".to_string());
            }
            check_day_of_month(f.year, f.month, f.day)?;
            Ok(f.instant())
        }
    }
}

/// `LocalDate.of`'s check of a day 29–31 against the month.
fn check_day_of_month(y: i64, m: u32, d: u32) -> Result<(), String> {
    if d > days_in_month(y, m) {
        if d == 29 {
            return Err(format!(
                "Invalid date 'February 29' as '{y}' is not a leap year"
            ));
        }
        const NAMES: [&str; 12] = [
            "JANUARY",
            "FEBRUARY",
            "MARCH",
            "APRIL",
            "MAY",
            "JUNE",
            "JULY",
            "AUGUST",
            "SEPTEMBER",
            "OCTOBER",
            "NOVEMBER",
            "DECEMBER",
        ];
        return Err(format!(
            "Invalid date '{} {d}'",
            NAMES[(m.clamp(1, 12) - 1) as usize]
        ));
    }
    Ok(())
}

/// Parsed date-time fields (not yet validated against each other).
struct Fields {
    year: i64,
    month: u32,
    day: u32,
    hour: i64,
    minute: i64,
    second: i64,
    nanos: i64,
    offset: i32,
}

impl Fields {
    fn instant(&self) -> Instant {
        let days = days_from_civil(self.year, self.month, self.day);
        let local_ms = days * 86_400_000
            + self.hour * 3_600_000
            + self.minute * 60_000
            + self.second * 1000
            + self.nanos / 1_000_000;
        Instant::utc(local_ms - i64::from(self.offset) * 1000)
    }
}

/// One element of the java.time patterns the pipelines use.
#[derive(Clone, Copy)]
enum Elem {
    /// `uuuu` (proleptic year) or `yyyy` (year of era): 4–19 digits, `SignStyle.EXCEEDS_PAD`.
    Year,
    /// A two-digit field (`MM`, `dd`, `HH`, `mm`, `ss`): exactly two ASCII digits, no sign.
    Two,
    /// `SSS`: exactly three fraction digits.
    Frac3,
    Lit(u8),
    /// `X`: `appendOffset("+HHmm", "Z")` (minutes optional, `Z` for zero).
    OffsetX,
    /// `Z`: `appendOffset("+HHMM", "+0000")` (minutes required, no `Z`).
    OffsetZ,
}

fn compile(pattern: &str) -> Option<(Vec<Elem>, bool)> {
    let mut out = Vec::new();
    let b = pattern.as_bytes();
    let mut i = 0;
    let mut year_of_era = false;
    while i < b.len() {
        let c = b[i];
        let mut n = 1;
        while i + n < b.len() && b[i + n] == c && c != b'\'' {
            n += 1;
        }
        match (c, n) {
            (b'u', 4) => out.push(Elem::Year),
            (b'y', 4) => {
                out.push(Elem::Year);
                year_of_era = true;
            }
            (b'M' | b'd' | b'H' | b'm' | b's', 2) => out.push(Elem::Two),
            (b'S', 3) => out.push(Elem::Frac3),
            (b'X', 1) => out.push(Elem::OffsetX),
            (b'Z', 1) => out.push(Elem::OffsetZ),
            (b'\'', 1) => {
                let close = pattern[i + 1..].find('\'')? + i + 1;
                for &l in &b[i + 1..close] {
                    out.push(Elem::Lit(l));
                }
                i = close + 1;
                continue;
            }
            (b'-' | b':' | b'.' | b'T', _) if !c.is_ascii_alphabetic() || c == b'T' => {
                for _ in 0..n {
                    out.push(Elem::Lit(c));
                }
            }
            _ => return None,
        }
        i += n;
    }
    Some((out, year_of_era))
}

/// `Text '…' could not be parsed…`: java.time abbreviates the text after 64 UTF-16 units.
fn abbreviate(s: &str) -> String {
    let units: Vec<u16> = s.encode_utf16().collect();
    if units.len() > 64 {
        format!("{}...", String::from_utf16_lossy(&units[..64]))
    } else {
        s.to_string()
    }
}

fn utf16_index(s: &str, byte_pos: usize) -> usize {
    s[..byte_pos.min(s.len())].encode_utf16().count()
}

/// `DateFormatter.forPattern(p)` (java.time, `ResolverStyle.STRICT`, `Locale.ROOT`) then
/// `DateFormatters.from`, for the patterns in [`LOGPULL_PATTERNS`]; the error is the root cause's
/// message, as Elasticsearch reports it.
pub fn parse_java_pattern(s: &str, pattern: &str) -> Result<Instant, String> {
    if s.is_empty() {
        return Err("cannot parse empty datetime".to_string());
    }
    let Some((elems, year_of_era)) = compile(pattern) else {
        return Err(format!("Unsupported pattern [{pattern}]"));
    };
    let b = s.as_bytes();
    let at = |i: usize| {
        format!(
            "Text '{}' could not be parsed at index {}",
            abbreviate(s),
            utf16_index(s, i)
        )
    };
    let mut pos = 0;
    let mut values: Vec<i64> = Vec::with_capacity(6);
    let mut offset: i32 = 0;
    for e in elems {
        match e {
            Elem::Lit(c) => {
                if pos >= b.len() || b[pos] != c {
                    return Err(at(pos));
                }
                pos += 1;
            }
            Elem::Two => {
                if pos + 2 > b.len() || !b[pos].is_ascii_digit() || !b[pos + 1].is_ascii_digit() {
                    return Err(at(pos));
                }
                values.push(i64::from(b[pos] - b'0') * 10 + i64::from(b[pos + 1] - b'0'));
                pos += 2;
            }
            Elem::Frac3 => {
                if pos + 3 > b.len() || !b[pos..pos + 3].iter().all(u8::is_ascii_digit) {
                    return Err(at(pos));
                }
                let v = b[pos..pos + 3]
                    .iter()
                    .fold(0i64, |a, d| a * 10 + i64::from(d - b'0'));
                values.push(v * 1_000_000);
                pos += 3;
            }
            Elem::Year => {
                let (positive, negative) = match b.get(pos) {
                    Some(b'+') => (true, false),
                    Some(b'-') => (false, true),
                    _ => (false, false),
                };
                if positive || negative {
                    pos += 1;
                }
                let start = pos;
                if start + 4 > b.len() {
                    return Err(at(start));
                }
                let mut end = start;
                while end < b.len() && end - start < 19 && b[end].is_ascii_digit() {
                    end += 1;
                }
                if end - start < 4 {
                    return Err(at(start));
                }
                let len = end - start;
                let mut total: i128 = 0;
                for &d in &b[start..end] {
                    total = total * 10 + i128::from(d - b'0');
                }
                if negative {
                    if total == 0 {
                        return Err(at(start - 1));
                    }
                    total = -total;
                } else if positive {
                    if len <= 4 {
                        return Err(at(start - 1));
                    }
                } else if len > 4 {
                    return Err(at(start));
                }
                if !(-999_999_999..=999_999_999).contains(&total) {
                    let field = if year_of_era { "YearOfEra" } else { "Year" };
                    let range = if year_of_era {
                        "1 - 999999999/1000000000"
                    } else {
                        "-999999999 - 999999999"
                    };
                    return Err(format!(
                        "Invalid value for {field} (valid values {range}): {total}"
                    ));
                }
                values.push(total as i64);
                pos = end;
            }
            Elem::OffsetX | Elem::OffsetZ => {
                let minutes_required = matches!(e, Elem::OffsetZ);
                if pos >= b.len() {
                    return Err(at(pos));
                }
                if matches!(e, Elem::OffsetX) && b[pos] == b'Z' {
                    pos += 1;
                    offset = 0;
                    continue;
                }
                if matches!(e, Elem::OffsetZ) && b[pos..].starts_with(b"+0000") {
                    pos += 5;
                    offset = 0;
                    continue;
                }
                let sign = match b[pos] {
                    b'+' => 1,
                    b'-' => -1,
                    _ => return Err(at(pos)),
                };
                let two = |p: usize| -> Option<i32> {
                    if p + 2 > b.len() || !b[p].is_ascii_digit() || !b[p + 1].is_ascii_digit() {
                        return None;
                    }
                    let v = i32::from(b[p] - b'0') * 10 + i32::from(b[p + 1] - b'0');
                    (v <= 59).then_some(v)
                };
                let Some(h) = two(pos + 1) else {
                    return Err(at(pos));
                };
                let mut end = pos + 3;
                let mut m = 0;
                match two(end) {
                    Some(v) => {
                        m = v;
                        end += 2;
                    }
                    None if minutes_required => return Err(at(pos)),
                    None => {}
                }
                if h > 23 {
                    return Err(
                        "Value out of range: Hour[0-23], Minute[0-59], Second[0-59]".to_string()
                    );
                }
                offset = sign * (h * 3600 + m * 60);
                pos = end;
            }
        }
    }
    if pos < b.len() {
        return Err(format!(
            "Text '{}' could not be parsed, unparsed text found at index {}",
            abbreviate(s),
            utf16_index(s, pos)
        ));
    }
    let (year, month, day, hour, minute, second) = (
        values[0], values[1], values[2], values[3], values[4], values[5],
    );
    let nanos = values.get(6).copied().unwrap_or(0);
    let check = |v: i64, field: &str, lo: i64, hi: &str, max: i64| -> Result<(), String> {
        if v < lo || v > max {
            return Err(format!(
                "Invalid value for {field} (valid values {lo} - {hi}): {v}"
            ));
        }
        Ok(())
    };
    let check_time = || -> Result<(), String> {
        // `Parsed.resolveTime` (STRICT) checks the minute, then the hour, then the second.
        check(minute, "MinuteOfHour", 0, "59", 59)?;
        check(hour, "HourOfDay", 0, "23", 23)?;
        check(second, "SecondOfMinute", 0, "59", 59)
    };
    let check_date = || -> Result<(), String> {
        if year_of_era && year < 1 {
            return Err(format!(
                "Invalid value for YearOfEra (valid values 1 - 999999999/1000000000): {year}"
            ));
        }
        check(month, "MonthOfYear", 1, "12", 12)?;
        check(day, "DayOfMonth", 1, "28/31", 31)?;
        check_day_of_month(year, month as u32, day as u32)
    };
    // java.time resolves a proleptic year's date before the time; a year-of-era without an era
    // stays unresolved in STRICT mode and Elasticsearch builds the date afterwards.
    if year_of_era {
        check_time()?;
        check_date()?;
    } else {
        check_date()?;
        check_time()?;
    }
    // The offset becomes a `ZoneOffset` last.
    if offset.abs() > 18 * 3600 {
        return Err("Zone offset not in valid range: -18:00 to +18:00".to_string());
    }
    Ok(Fields {
        year,
        month: month as u32,
        day: day as u32,
        hour,
        minute,
        second,
        nanos,
        offset,
    }
    .instant())
}

/// The syntax of Elasticsearch's `iso8601` parser (8.19): `[-]yyyy[-MM[-dd]]` then optionally
/// `T[HH[:mm[:ss[(.|,)f{1,9}]]]]` and a zone (`Z`, `±HH[[:]mm[[:]ss]]` up to ±18:00, or the ids
/// `UTC`/`GMT`/`UT`). Months 00–12 and days 00–31 pass the parser (00 fails later, when the
/// date is built); anything else is `None`.
fn iso8601_fields(s: &str) -> Option<Fields> {
    let mut c = Cursor {
        b: s.as_bytes(),
        i: 0,
    };
    let negative = c.eat(b'-');
    let (y, _) = c.digits(4, 4)?;
    let y = if negative { -y } else { y };
    let mut mo = 1;
    let mut d = 1;
    let (mut hh, mut mi, mut ss, mut nanos) = (0i64, 0i64, 0i64, 0i64);
    let mut offset: i32 = 0;
    if c.eat(b'-') {
        mo = c.digits(2, 2)?.0;
        if c.eat(b'-') {
            d = c.digits(2, 2)?.0;
        }
    }
    if mo > 12 || d > 31 {
        return None;
    }
    let full_date = c.i == 10 + usize::from(negative);
    // A time needs the full date here (Elasticsearch then tries a second, java.time parser whose
    // results for `yyyy[-MM]T…` are not reproduced: docs/fidelity.md).
    if c.b.get(c.i) == Some(&b'T') && !full_date {
        return None;
    }
    if c.eat(b'T') && !c.done() {
        {
            hh = c.digits(2, 2)?.0;
            if c.eat(b':') {
                mi = c.digits(2, 2)?.0;
                if c.eat(b':') {
                    ss = c.digits(2, 2)?.0;
                    if c.eat(b'.') || c.eat(b',') {
                        let (f, n) = c.digits(1, 9)?;
                        nanos = f * 10i64.pow(9 - n as u32);
                    }
                }
            }
            if hh > 23 || mi > 59 || ss > 59 {
                return None;
            }
            if !c.done() {
                offset = parse_offset(&mut c)?;
            }
        }
    }
    if !c.done() {
        return None;
    }
    Some(Fields {
        year: y,
        month: mo as u32,
        day: d as u32,
        hour: hh,
        minute: mi,
        second: ss,
        nanos,
        offset,
    })
}

fn parse_offset(c: &mut Cursor<'_>) -> Option<i32> {
    if c.eat(b'Z') {
        return Some(0);
    }
    for id in [&b"UTC"[..], b"GMT", b"UT"] {
        if c.b[c.i..].starts_with(id) {
            c.i += id.len();
            return Some(0);
        }
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
    let mut sec = 0;
    if !c.done() {
        let colon = c.eat(b':');
        m = c.digits(2, 2)?.0;
        if !c.done() {
            if colon && !c.eat(b':') {
                return None;
            }
            sec = c.digits(2, 2)?.0;
        }
    }
    if m > 59 || sec > 59 {
        return None;
    }
    let total = h * 3600 + m * 60 + sec;
    if total > 18 * 3600 {
        return None;
    }
    Some(sign * total as i32)
}

/// `EEE, dd MMM yyyy HH:mm:ss z` (HTTP date, e.g. `Thu, 01 Dec 1994 16:00:00 GMT`) in UTC.
pub fn parse_http_date(s: &str) -> Option<Instant> {
    let mut parts = s.split(' ');
    let dow = parts.next()?;
    // Text fields are case-sensitive (`EEE` with Locale.ROOT); the day of week is not
    // cross-checked against the date (DateFormatters.from builds the date from y/M/d).
    if !["Mon,", "Tue,", "Wed,", "Thu,", "Fri,", "Sat,", "Sun,"].contains(&dow) {
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
        parse_date(s, Formats::Iso8601First)
            .ok()
            .map(|i| i.format())
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
        // Elasticsearch converts to UTC before formatting (the Java oracle shows it).
        assert_eq!(
            iso("2021-08-09T10:20:00+02:00").unwrap(),
            "2021-08-09T08:20:00.000Z"
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
        assert_eq!(
            parse_date("2019-08-02T15:29:08.123456Z", Formats::StrictThenUnixMs).unwrap_err(),
            "Text '2019-08-02T15:29:08.123456Z' could not be parsed at index 19"
        );
        assert!(parse_date("2019-08-02T15:29:08.123456Z", Formats::Iso8601First).is_ok());
    }

    #[test]
    fn failure_messages_are_the_first_formats_root_cause() {
        let end = |s: &str| parse_date(s, Formats::StrictThenUnixMs).unwrap_err();
        let start = |s: &str| parse_date(s, Formats::Iso8601First).unwrap_err();
        assert_eq!(
            end("2026-01-22T14:03:29.251118Z"),
            "Text '2026-01-22T14:03:29.251118Z' could not be parsed at index 19"
        );
        assert_eq!(
            end("2026-01-22T14:03:29+01:00"),
            "Text '2026-01-22T14:03:29+01:00' could not be parsed, unparsed text found at index 22"
        );
        assert_eq!(
            end("2026-13-01T00:00:00Z"),
            "Invalid value for MonthOfYear (valid values 1 - 12): 13"
        );
        assert_eq!(
            end("2026-02-29T00:00:00Z"),
            "Invalid date 'February 29' as '2026' is not a leap year"
        );
        assert_eq!(end("2026-04-31T00:00:00Z"), "Invalid date 'APRIL 31'");
        assert_eq!(
            end("2026-01-01T24:00:00Z"),
            "Invalid value for HourOfDay (valid values 0 - 23): 24"
        );
        assert_eq!(end(""), "cannot parse empty datetime");
        assert_eq!(
            start("garbage"),
            "Failed to parse with all enclosed parsers"
        );
        assert_eq!(start("2026-02-30"), "Invalid date 'FEBRUARY 30'");
        assert_eq!(
            parse_date("2026-01-22T14:03:29+0100", Formats::StrictThenUnixMs)
                .unwrap()
                .format(),
            "2026-01-22T13:03:29.000Z"
        );
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

    /// The hand-written digits against the `core::fmt` version they replaced.
    #[test]
    fn format_matches_the_fmt_version() {
        fn reference(i: &Instant) -> String {
            use std::fmt::Write;
            let local = i.millis + i64::from(i.offset_secs) * 1000;
            let days = local.div_euclid(86_400_000);
            let ms_of_day = local.rem_euclid(86_400_000);
            let (y, m, d) = civil_from_days(days);
            let (hh, mm, ss, ms) = (
                ms_of_day / 3_600_000,
                (ms_of_day / 60_000) % 60,
                (ms_of_day / 1000) % 60,
                ms_of_day % 1000,
            );
            let mut out = String::new();
            let yoe = if y <= 0 { 1 - y } else { y };
            if yoe <= 9999 {
                let _ = write!(out, "{yoe:04}");
            } else {
                let _ = write!(out, "+{yoe}");
            }
            let _ = write!(out, "-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}.{ms:03}");
            if i.offset_secs == 0 {
                out.push('Z');
            } else {
                let sign = if i.offset_secs < 0 { '-' } else { '+' };
                let abs = i.offset_secs.unsigned_abs();
                let _ = write!(out, "{sign}{:02}:{:02}", abs / 3600, (abs / 60) % 60);
                if !abs.is_multiple_of(60) {
                    let _ = write!(out, ":{:02}", abs % 60);
                }
            }
            out
        }
        let millis = [
            0,
            1,
            -1,
            999,
            86_399_999,
            1_793_491_197_211,
            -62_135_596_800_000,
            -62_135_596_800_001,
            -62_198_755_200_000,
            253_402_300_799_999,
            253_402_300_800_000,
            -377_705_116_800_000,
            8_640_000_000_000_000,
            -8_640_000_000_000_000,
        ];
        let offsets = [
            0, 1, -1, 59, 60, 3600, -3600, 19_800, -34_200, 64_800, -64_799,
        ];
        for ms in millis {
            for offset_secs in offsets {
                let i = Instant {
                    millis: ms,
                    offset_secs,
                };
                assert_eq!(i.format(), reference(&i), "{i:?}");
            }
        }
    }
}
