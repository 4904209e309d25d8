//! `java.net.URI`'s parser (RFC 2396 as the JDK implements it), ported rule by rule, and the
//! decoding of its getters.

use super::*;

/// The raw components `new java.net.URI(s)` stores (`None` = Java's `null`; `port` -1 = none).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct JavaUri<'a> {
    pub scheme: Option<&'a str>,
    /// Set for an opaque URI (`mailto:x`): the scheme-specific part.
    pub opaque: Option<&'a str>,
    pub authority: Option<&'a str>,
    pub user_info: Option<&'a str>,
    pub host: Option<&'a str>,
    pub port: i32,
    pub path: Option<&'a str>,
    pub query: Option<&'a str>,
    pub fragment: Option<&'a str>,
}

/// `URISyntaxException`: the reason and the UTF-16 index (-1 when Java gives none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriSyntaxError {
    pub reason: &'static str,
    pub index: i64,
}

impl std::fmt::Display for UriSyntaxError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.index >= 0 {
            write!(f, "{} at index {}", self.reason, self.index)
        } else {
            f.write_str(self.reason)
        }
    }
}

// Character classes of java.net.URI (bit i of L_* = ASCII i, bit i of H_* = ASCII 64 + i).
const fn low(chars: &[u8]) -> u64 {
    let mut m = 0u64;
    let mut i = 0;
    while i < chars.len() {
        if chars[i] < 64 && chars[i] != 0 {
            m |= 1 << chars[i];
        }
        i += 1;
    }
    m
}
const fn high(chars: &[u8]) -> u64 {
    let mut m = 0u64;
    let mut i = 0;
    while i < chars.len() {
        if chars[i] >= 64 && chars[i] < 128 {
            m |= 1 << (chars[i] - 64);
        }
        i += 1;
    }
    m
}
const L_DIGIT: u64 = low(b"0123456789");
const H_DIGIT: u64 = 0;
const H_ALPHA: u64 = high(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz");
const L_ALPHA: u64 = 0;
const L_ALPHANUM: u64 = L_DIGIT | L_ALPHA;
const H_ALPHANUM: u64 = H_DIGIT | H_ALPHA;
const L_HEX: u64 = L_DIGIT;
const H_HEX: u64 = high(b"ABCDEFabcdef");
const L_MARK: u64 = low(b"-_.!~*'()");
const H_MARK: u64 = high(b"-_.!~*'()");
const L_UNRESERVED: u64 = L_ALPHANUM | L_MARK;
const H_UNRESERVED: u64 = H_ALPHANUM | H_MARK;
const L_RESERVED: u64 = low(b";/?:@&=+$,[]");
const H_RESERVED: u64 = high(b";/?:@&=+$,[]");
/// Not a character: the flag "escapes (`%XX`) and non-ASCII 'other' characters are allowed".
const L_ESCAPED: u64 = 1;
const H_ESCAPED: u64 = 0;
const L_URIC: u64 = L_RESERVED | L_UNRESERVED | L_ESCAPED;
const H_URIC: u64 = H_RESERVED | H_UNRESERVED | H_ESCAPED;
const L_PCHAR: u64 = L_UNRESERVED | L_ESCAPED | low(b":@&=+$,");
const H_PCHAR: u64 = H_UNRESERVED | H_ESCAPED | high(b":@&=+$,");
const L_PATH: u64 = L_PCHAR | low(b";/");
const H_PATH: u64 = H_PCHAR | high(b";/");
const L_DASH: u64 = low(b"-");
const H_DASH: u64 = high(b"-");
const L_DOT: u64 = low(b".");
const H_DOT: u64 = high(b".");
const L_USERINFO: u64 = L_UNRESERVED | L_ESCAPED | low(b";:&=+$,");
const H_USERINFO: u64 = H_UNRESERVED | H_ESCAPED | high(b";:&=+$,");
const L_REG_NAME: u64 = L_UNRESERVED | L_ESCAPED | low(b"$,;:@&=+");
const H_REG_NAME: u64 = H_UNRESERVED | H_ESCAPED | high(b"$,;:@&=+");
const L_SERVER: u64 = L_USERINFO | L_ALPHANUM | L_DASH | low(b".:@[]");
const H_SERVER: u64 = H_USERINFO | H_ALPHANUM | H_DASH | high(b".:@[]");
const L_SERVER_PERCENT: u64 = L_SERVER | low(b"%");
const H_SERVER_PERCENT: u64 = H_SERVER;
const L_SCHEME: u64 = L_ALPHA | L_DIGIT | low(b"+-.");
const H_SCHEME: u64 = H_ALPHA | H_DIGIT | high(b"+-.");
const L_SCOPE_ID: u64 = L_ALPHANUM | low(b"_.");
const H_SCOPE_ID: u64 = H_ALPHANUM | high(b"_.");

fn matches(c: u8, lo: u64, hi: u64) -> bool {
    if c == 0 {
        false
    } else if c < 64 {
        (1u64 << c) & lo != 0
    } else if c < 128 {
        (1u64 << (c - 64)) & hi != 0
    } else {
        false
    }
}

/// `Character.isSpaceChar` (Unicode Zs, Zl, Zp).
fn is_space_char(c: char) -> bool {
    matches!(
        c,
        '\u{20}' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}'
    )
}

/// `Character.isISOControl`.
fn is_iso_control(c: char) -> bool {
    (c as u32) <= 0x1f || (0x7f..=0x9f).contains(&(c as u32))
}

type R<T> = Result<T, UriSyntaxError>;

struct Parser<'a> {
    input: &'a str,
    b: &'a [u8],
    u: JavaUri<'a>,
    ipv6_bytes: usize,
}

fn fail<T>(reason: &'static str, index: i64) -> R<T> {
    Err(UriSyntaxError { reason, index })
}

impl<'a> Parser<'a> {
    /// UTF-16 index of byte position `p` (what Java reports).
    fn idx(&self, p: usize) -> i64 {
        self.input[..p.min(self.input.len())]
            .chars()
            .map(|c| c.len_utf16() as i64)
            .sum()
    }
    fn fail<T>(&self, reason: &'static str, p: usize) -> R<T> {
        fail(reason, self.idx(p))
    }
    fn at(&self, p: usize, n: usize, c: u8) -> bool {
        p < n && self.b[p] == c
    }
    fn at_str(&self, p: usize, n: usize, s: &[u8]) -> bool {
        p + s.len() <= n && &self.b[p..p + s.len()] == s
    }
    fn scan_char(&self, p: usize, n: usize, c: u8) -> usize {
        if self.at(p, n, c) {
            p + 1
        } else {
            p
        }
    }
    /// `scan(start, end, err, stop)`: `None` (Java's -1) on a char of `err`.
    fn scan_err_stop(&self, start: usize, n: usize, err: &[u8], stop: &[u8]) -> Option<usize> {
        let mut p = start;
        while p < n {
            let c = self.b[p];
            if err.contains(&c) {
                return None;
            }
            if stop.contains(&c) {
                break;
            }
            p += 1;
        }
        Some(p)
    }
    fn scan_stop(&self, start: usize, n: usize, stop: &[u8]) -> usize {
        let mut p = start;
        while p < n && !stop.contains(&self.b[p]) {
            p += 1;
        }
        p
    }
    /// `scanEscape`: a `%XX` triple or one legal non-ASCII "other" character.
    fn scan_escape(&self, p: usize, n: usize) -> R<usize> {
        let c = self.b[p];
        if c == b'%' {
            if p + 3 <= n
                && matches(self.b[p + 1], L_HEX, H_HEX)
                && matches(self.b[p + 2], L_HEX, H_HEX)
            {
                return Ok(p + 3);
            }
            return self.fail("Malformed escape pair", p);
        }
        if c >= 0x80 {
            let ch = self.input[p..].chars().next().unwrap_or('\u{fffd}');
            // Java tests each UTF-16 unit: `c > 128`, not a space char, not a control.
            if (ch as u32) > 128 && !is_space_char(ch) && !is_iso_control(ch) {
                return Ok(p + ch.len_utf8());
            }
        }
        Ok(p)
    }
    fn scan_mask(&self, start: usize, n: usize, lo: u64, hi: u64) -> R<usize> {
        let mut p = start;
        while p < n {
            let c = self.b[p];
            if matches(c, lo, hi) {
                p += 1;
                continue;
            }
            if lo & L_ESCAPED != 0 {
                let q = self.scan_escape(p, n)?;
                if q > p {
                    p = q;
                    continue;
                }
            }
            break;
        }
        Ok(p)
    }
    fn check_chars(&self, start: usize, end: usize, lo: u64, hi: u64, what: &'static str) -> R<()> {
        let p = self.scan_mask(start, end, lo, hi)?;
        if p < end {
            return self.fail(what, p);
        }
        Ok(())
    }

    fn parse(&mut self) -> R<()> {
        let n = self.b.len();
        let p0 = self.scan_err_stop(0, n, b"/?#", b":");
        let mut p;
        match p0 {
            Some(q) if self.at(q, n, b':') => {
                if q == 0 {
                    return self.fail("Expected scheme name", 0);
                }
                // checkChar(0, ALPHA) then checkChars(1, p, SCHEME)
                if !matches(self.b[0], L_ALPHA, H_ALPHA) {
                    return self.fail("Illegal character in scheme name", 0);
                }
                self.check_chars(1, q, L_SCHEME, H_SCHEME, "Illegal character in scheme name")?;
                self.u.scheme = Some(&self.input[..q]);
                p = q + 1;
                if self.at(p, n, b'/') {
                    p = self.parse_hierarchical(p, n)?;
                } else {
                    let q = self.scan_stop(p, n, b"#");
                    if q <= p {
                        return self.fail("Expected scheme-specific part", p);
                    }
                    self.check_chars(p, q, L_URIC, H_URIC, "Illegal character in opaque part")?;
                    self.u.opaque = Some(&self.input[p..q]);
                    p = q;
                }
            }
            _ => p = self.parse_hierarchical(0, n)?,
        }
        if self.at(p, n, b'#') {
            self.check_chars(p + 1, n, L_URIC, H_URIC, "Illegal character in fragment")?;
            self.u.fragment = Some(&self.input[p + 1..n]);
            p = n;
        }
        if p < n {
            return self.fail("end of URI", p);
        }
        Ok(())
    }

    fn parse_hierarchical(&mut self, start: usize, n: usize) -> R<usize> {
        let mut p = start;
        if self.at(p, n, b'/') && self.at(p + 1, n, b'/') {
            p += 2;
            let q = self.scan_stop(p, n, b"/?#");
            if q > p {
                p = self.parse_authority(p, q)?;
            } else if q < n {
                // DEVIATION (as in the JDK): allow an empty authority when something follows.
            } else {
                return self.fail("Expected authority", p);
            }
        }
        let q = self.scan_stop(p, n, b"?#");
        self.check_chars(p, q, L_PATH, H_PATH, "Illegal character in path")?;
        self.u.path = Some(&self.input[p..q]);
        p = q;
        if self.at(p, n, b'?') {
            p += 1;
            let q = self.scan_stop(p, n, b"#");
            self.check_chars(p, q, L_URIC, H_URIC, "Illegal character in query")?;
            self.u.query = Some(&self.input[p..q]);
            p = q;
        }
        Ok(p)
    }

    fn clear_server(&mut self) {
        self.u.user_info = None;
        self.u.host = None;
        self.u.port = -1;
    }

    fn parse_authority(&mut self, start: usize, n: usize) -> R<usize> {
        let p = start;
        let server_chars = if self.scan_stop(p, n, b"]") > p {
            self.scan_mask(p, n, L_SERVER_PERCENT, H_SERVER_PERCENT)? == n
        } else {
            self.scan_mask(p, n, L_SERVER, H_SERVER)? == n
        };
        let qreg = self.scan_mask(p, n, L_REG_NAME, H_REG_NAME)?;
        let reg_chars = qreg == n;
        if reg_chars && !server_chars {
            self.u.authority = Some(&self.input[p..n]);
            return Ok(n);
        }
        let skip_parse_exception = reg_chars; // requireServerAuthority is false for new URI(s)
        let mut q = p;
        let mut ex = None;
        if server_chars {
            match self.parse_server(p, n, skip_parse_exception) {
                Ok(end) => {
                    q = end;
                    if q < n {
                        if skip_parse_exception {
                            self.clear_server();
                            q = p;
                        } else {
                            return self.fail("Expected end of authority", q);
                        }
                    } else {
                        self.u.authority = Some(&self.input[p..n]);
                    }
                }
                Err(x) => {
                    self.clear_server();
                    ex = Some(x);
                    q = p;
                }
            }
        }
        if q < n {
            if reg_chars {
                self.u.authority = Some(&self.input[p..n]);
            } else if let Some(x) = ex {
                return Err(x);
            } else {
                return self.fail(
                    "Illegal character in authority",
                    if server_chars { q } else { qreg },
                );
            }
        }
        Ok(n)
    }

    fn parse_server(&mut self, start: usize, n: usize, skip: bool) -> R<usize> {
        let mut p = start;
        if let Some(q) = self.scan_err_stop(p, n, b"/?#", b"@") {
            if self.at(q, n, b'@') {
                self.check_chars(
                    p,
                    q,
                    L_USERINFO,
                    H_USERINFO,
                    "Illegal character in user info",
                )?;
                self.u.user_info = Some(&self.input[p..q]);
                p = q + 1;
            }
        }
        if self.at(p, n, b'[') {
            p += 1;
            match self.scan_err_stop(p, n, b"/?#", b"]") {
                Some(q) if q > p && self.at(q, n, b']') => {
                    let r = self.scan_stop(p, q, b"%");
                    if r > p {
                        self.parse_ipv6_reference(p, r)?;
                        if r + 1 == q {
                            return fail("scope id expected", -1);
                        }
                        self.check_chars(
                            r + 1,
                            q,
                            L_SCOPE_ID,
                            H_SCOPE_ID,
                            "Illegal character in scope id",
                        )?;
                    } else {
                        self.parse_ipv6_reference(p, q)?;
                    }
                    self.u.host = Some(&self.input[p - 1..q + 1]);
                    p = q + 1;
                }
                other => {
                    let q = other.map_or(-1, |q| self.idx(q));
                    return fail("Expected closing bracket for IPv6 address", q);
                }
            }
        } else {
            let q = self.parse_ipv4_address(p, n);
            let q = match q {
                Some(q) if q > p => q,
                _ => self.parse_hostname(p, n, skip)?,
            };
            p = q;
        }
        if self.at(p, n, b':') {
            p += 1;
            let q = self.scan_stop(p, n, b"/");
            if q > p {
                self.check_chars(p, q, L_DIGIT, H_DIGIT, "Illegal character in port number")?;
                match self.input[p..q].parse::<i32>() {
                    Ok(v) => self.u.port = v,
                    Err(_) => return self.fail("Malformed port number", p),
                }
                p = q;
            }
        } else if p < n && skip {
            return Ok(p);
        }
        if p < n {
            return self.fail("Expected port number", p);
        }
        Ok(p)
    }

    fn scan_byte(&self, start: usize, n: usize) -> R<usize> {
        let p = start;
        let q = self.scan_mask(p, n, L_DIGIT, H_DIGIT)?;
        if q <= p {
            return Ok(q);
        }
        let mut i = p;
        loop {
            let j = self.scan_char(i, q, b'0');
            if j > i {
                i = j;
            } else {
                break;
            }
        }
        let significant = q - i;
        if significant < 3 {
            return Ok(q);
        }
        if significant > 3 {
            return Ok(p);
        }
        match self.input[p..q].parse::<i64>() {
            Ok(v) if v > 255 => Ok(p),
            Ok(_) => Ok(q),
            Err(_) => Ok(p), // Integer.parseInt overflow: NumberFormatException (caught by the caller)
        }
    }

    /// `scanIPv4Address(start, n, strict)`: `None` = Java's -1.
    fn scan_ipv4(&self, start: usize, n: usize, strict: bool) -> R<Option<usize>> {
        let mut p = start;
        let m = self.scan_mask(p, n, L_DIGIT | L_DOT, H_DIGIT | H_DOT)?;
        if m <= p || (strict && m != n) {
            return Ok(None);
        }
        let mut q;
        'l: {
            for k in 0..4 {
                q = self.scan_byte(p, m)?;
                if q <= p {
                    break 'l;
                }
                p = q;
                if k < 3 {
                    q = self.scan_char(p, m, b'.');
                    if q <= p {
                        break 'l;
                    }
                    p = q;
                }
            }
            if p < m {
                break 'l;
            }
            return Ok(Some(p));
        }
        if strict {
            return self.fail("Malformed IPv4 address", p.max(start));
        }
        Ok(None)
    }

    fn take_ipv4(&self, start: usize, n: usize, expected: &'static str) -> R<usize> {
        match self.scan_ipv4(start, n, true)? {
            Some(p) if p > start => Ok(p),
            _ => self.fail(expected, start),
        }
    }

    fn parse_ipv4_address(&mut self, start: usize, n: usize) -> Option<usize> {
        let p = match self.scan_ipv4(start, n, false) {
            Ok(Some(p)) => p,
            _ => return None,
        };
        if p > start && p < n && self.b[p] != b':' {
            return None;
        }
        if p > start {
            self.u.host = Some(&self.input[start..p]);
        }
        Some(p)
    }

    fn parse_hostname(&mut self, start: usize, n: usize, skip: bool) -> R<usize> {
        let mut p = start;
        let mut l: Option<usize> = None;
        loop {
            let q = self.scan_mask(p, n, L_ALPHANUM, H_ALPHANUM)?;
            if q <= p {
                break;
            }
            l = Some(p);
            p = q;
            let q = self.scan_mask(p, n, L_ALPHANUM | L_DASH, H_ALPHANUM | H_DASH)?;
            if q > p {
                if self.b[q - 1] == b'-' {
                    return self.fail("Illegal character in hostname", q - 1);
                }
                p = q;
            }
            let q = self.scan_char(p, n, b'.');
            if q <= p {
                break;
            }
            p = q;
            if p >= n {
                break;
            }
        }
        if p < n && !self.at(p, n, b':') {
            if skip {
                return Ok(p);
            }
            return self.fail("Illegal character in hostname", p);
        }
        let Some(l) = l else {
            return self.fail("Expected hostname", start);
        };
        if l > start && !matches(self.b[l], L_ALPHA, H_ALPHA) {
            return self.fail("Illegal character in hostname", l);
        }
        self.u.host = Some(&self.input[start..p]);
        Ok(p)
    }

    fn parse_ipv6_reference(&mut self, start: usize, n: usize) -> R<usize> {
        let mut p = start;
        let mut compressed = false;
        match self.scan_hex_seq(p, n)? {
            Some(q) if q > p => {
                p = q;
                if self.at_str(p, n, b"::") {
                    compressed = true;
                    p = self.scan_hex_post(p + 2, n)?;
                } else if self.at(p, n, b':') {
                    p = self.take_ipv4(p + 1, n, "Expected IPv4 address")?;
                    self.ipv6_bytes += 4;
                }
            }
            _ => {
                if self.at_str(p, n, b"::") {
                    compressed = true;
                    p = self.scan_hex_post(p + 2, n)?;
                }
            }
        }
        if p < n {
            return self.fail("Malformed IPv6 address", start);
        }
        if self.ipv6_bytes > 16 {
            return self.fail("IPv6 address too long", start);
        }
        if !compressed && self.ipv6_bytes < 16 {
            return self.fail("IPv6 address too short", start);
        }
        if compressed && self.ipv6_bytes == 16 {
            return self.fail("Malformed IPv6 address", start);
        }
        Ok(p)
    }

    fn scan_hex_post(&mut self, start: usize, n: usize) -> R<usize> {
        let mut p = start;
        if p == n {
            return Ok(p);
        }
        match self.scan_hex_seq(p, n)? {
            Some(q) if q > p => {
                p = q;
                if self.at(p, n, b':') {
                    p += 1;
                    p = self.take_ipv4(p, n, "Expected hex digits or IPv4 address")?;
                    self.ipv6_bytes += 4;
                }
            }
            _ => {
                p = self.take_ipv4(p, n, "Expected hex digits or IPv4 address")?;
                self.ipv6_bytes += 4;
            }
        }
        Ok(p)
    }

    fn scan_hex_seq(&mut self, start: usize, n: usize) -> R<Option<usize>> {
        let mut p = start;
        let q = self.scan_mask(p, n, L_HEX, H_HEX)?;
        if q <= p || self.at(q, n, b'.') {
            return Ok(None);
        }
        if q > p + 4 {
            return self.fail("IPv6 hexadecimal digit sequence too long", p);
        }
        self.ipv6_bytes += 2;
        p = q;
        while p < n {
            if !self.at(p, n, b':') || self.at(p + 1, n, b':') {
                break;
            }
            p += 1;
            let q = self.scan_mask(p, n, L_HEX, H_HEX)?;
            if q <= p {
                return self.fail("Expected digits for an IPv6 address", p);
            }
            if self.at(q, n, b'.') {
                p -= 1;
                break;
            }
            if q > p + 4 {
                return self.fail("IPv6 hexadecimal digit sequence too long", p);
            }
            self.ipv6_bytes += 2;
            p = q;
        }
        Ok(Some(p))
    }
}

/// `new java.net.URI(s)`: the raw components, or the `URISyntaxException`.
pub fn java_uri(s: &str) -> Result<JavaUri<'_>, UriSyntaxError> {
    let mut p = Parser {
        input: s,
        b: s.as_bytes(),
        u: JavaUri {
            port: -1,
            ..Default::default()
        },
        ipv6_bytes: 0,
    };
    p.parse()?;
    Ok(p.u)
}

fn hex(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => 0,
    }
}

/// `URI.decode(s, ignorePercentInBrackets)`: runs of `%XX` are decoded as UTF-8 (malformed
/// sequences become U+FFFD); with the flag, escapes between `[` and `]` stay as they are.
pub fn decode(s: &str, ignore_percent_in_brackets: bool) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut between = false;
    let mut i = 0;
    let mut lit_start = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'[' {
            between = true;
        } else if between && c == b']' {
            between = false;
        }
        if c != b'%' || (between && ignore_percent_in_brackets) {
            i += 1;
            continue;
        }
        out.push_str(&s[lit_start..i]);
        let mut bytes = Vec::new();
        while i < b.len() && b[i] == b'%' {
            // The parser guarantees well-formed escapes; be defensive on other input.
            if i + 2 >= b.len() {
                break;
            }
            bytes.push((hex(b[i + 1]) << 4) | hex(b[i + 2]));
            i += 3;
        }
        out.push_str(&String::from_utf8_lossy(&bytes));
        lit_start = i;
        if bytes.is_empty() {
            // A stray '%' without two characters after it: keep it literally.
            i += 1;
        }
    }
    out.push_str(&s[lit_start.min(s.len())..]);
    Cow::Owned(out)
}
