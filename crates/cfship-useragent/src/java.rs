//! Translation of the `java.util.regex.Pattern` dialect used by Elasticsearch into the dialect of
//! the Rust `regex` crate, preserving Java's matching semantics where the two differ.
//!
//! Java (default flags, as Elasticsearch compiles the uap-core patterns) differs from Rust's
//! default Unicode mode in these ways, which are handled here:
//!
//! * `\d`, `\w`, `\s` and their negations are ASCII-only in Java; in Rust they are Unicode-aware.
//!   They are rewritten to explicit ASCII classes.
//! * `\b` / `\B` follow the ASCII `\w` definition in Java (JDK 19+); rewritten to `(?-u:\b)`.
//! * `.` does not match any Java line terminator (`\n`, `\r`, U+0085, U+2028, U+2029); Rust's
//!   `.` only excludes `\n`. It is rewritten to a class excluding all five.
//! * `$` (without `MULTILINE`) matches at the end of the input *or before a final line
//!   terminator* in Java; Rust's `$` only at the very end. It is rewritten to an alternation that
//!   also accepts a final terminator (consuming it, which cannot change a result because every `$`
//!   of the uap-core file ends its pattern outside any capturing group).
//! * Escaped non-alphabetic characters are literals in Java; they are emitted as literals.
//! * Java's `CASE_INSENSITIVE` (without `UNICODE_CASE`) folds ASCII letters only, while Rust's
//!   flag also folds U+212A (Kelvin sign) and U+017F (long s) onto `k`/`s`: case-insensitive
//!   patterns are translated by expanding each ASCII letter / letter range into both cases.
//!
//! Constructs that Rust's `regex` cannot express (look-around, back-references, possessive
//! quantifiers, atomic groups, `\Q..\E`, inline flags, …) are rejected with an error rather than
//! silently changing meaning. The embedded regexes file contains none of them (a test asserts
//! that every pattern translates and compiles).
//!
//! One known divergence is not emulated (it needs a line terminator inside a `User-Agent`
//! header): Java refuses `$` *between* a final `\r\n` pair.

/// `.` in Java: any character except a line terminator.
const DOT: &str = r"[^\n\r\x{85}\x{2028}\x{2029}]";
const DIGIT: &str = "0-9";
const WORD: &str = "0-9A-Za-z_";
const SPACE: &str = r"\t\n\x0B\x0C\r ";
/// `$` in Java without `MULTILINE`: end of input, or before a line terminator that ends the input.
const DOLLAR: &str = r"(?:\z|\r\n\z|[\n\r\x{85}\x{2028}\x{2029}]\z)";

/// Characters that must stay escaped in a Rust pattern (outside and inside classes).
fn is_rust_meta(c: char) -> bool {
    matches!(
        c,
        '\\' | '.'
            | '+'
            | '*'
            | '?'
            | '('
            | ')'
            | '|'
            | '['
            | ']'
            | '{'
            | '}'
            | '^'
            | '$'
            | '#'
            | '&'
            | '-'
            | '~'
    )
}

/// Pushes a class member, adding the other ASCII case when folding.
fn push_class_char(out: &mut String, c: char, fold: bool) {
    out.push(c);
    if fold && c.is_ascii_alphabetic() {
        out.push(if c.is_ascii_lowercase() {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        });
    }
}

/// Pushes a class range `lo-hi`; when folding, also the other-case image of its ASCII letters
/// (Java's case-insensitive range test: `c`, `lower(c)` or `upper(c)` is in the range).
fn push_class_range(out: &mut String, lo: char, hi: char, fold: bool) {
    out.push(lo);
    out.push('-');
    out.push(hi);
    if !fold {
        return;
    }
    for (from, to, shift_up) in [('a', 'z', true), ('A', 'Z', false)] {
        let (start, end) = (lo.max(from), hi.min(to));
        if start <= end {
            let map = |c: char| {
                if shift_up {
                    c.to_ascii_uppercase()
                } else {
                    c.to_ascii_lowercase()
                }
            };
            out.push(map(start));
            out.push('-');
            out.push(map(end));
        }
    }
}

/// Translates a Java regular expression into an equivalent Rust `regex` pattern.
///
/// `case_insensitive` is Java's `CASE_INSENSITIVE` flag (without `UNICODE_CASE`): ASCII letters
/// match both cases, nothing else folds. It is emulated by expanding letters into both cases, so
/// the result must be compiled *without* Rust's (Unicode) case-insensitive flag.
///
/// Returns a human-readable reason when the pattern uses a construct that cannot be translated.
pub(crate) fn translate(java: &str, case_insensitive: bool) -> Result<String, String> {
    let chars: Vec<char> = java.chars().collect();
    let mut out = String::with_capacity(java.len() + 16);
    // Depth of (possibly nested) character classes we are in.
    let mut class_depth = 0usize;
    // True right after an opening `[` / `[^` (a `]` there would be ambiguous between dialects).
    let mut class_start = false;
    // True when the previous token was a quantifier (to detect possessive `++`, `*+`, …).
    let mut after_quantifier = false;
    let mut i = 0usize;

    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let in_class = class_depth > 0;
        let was_class_start = class_start;
        class_start = false;
        let was_after_quantifier = after_quantifier;
        after_quantifier = false;

        match c {
            '\\' => {
                let Some(e) = next else {
                    return Err("pattern ends with a lone backslash".into());
                };
                i += 1;
                let shorthand = match e {
                    'd' => Some((DIGIT, false)),
                    'D' => Some((DIGIT, true)),
                    'w' => Some((WORD, false)),
                    'W' => Some((WORD, true)),
                    's' => Some((SPACE, false)),
                    'S' => Some((SPACE, true)),
                    _ => None,
                };
                if let Some((set, negated)) = shorthand {
                    if in_class && !negated {
                        // A following `-x` would turn the last char of the set into a range start.
                        if chars.get(i + 1) == Some(&'-') && chars.get(i + 2) != Some(&']') {
                            return Err(format!("range after \\{e} inside a class"));
                        }
                        out.push_str(set);
                    } else {
                        out.push('[');
                        if negated {
                            out.push('^');
                        }
                        out.push_str(set);
                        out.push(']');
                    }
                } else {
                    match e {
                        'b' | 'B' if !in_class => {
                            out.push_str("(?-u:\\");
                            out.push(e);
                            out.push(')');
                        }
                        't' | 'n' | 'r' | 'f' => {
                            out.push('\\');
                            out.push(e);
                        }
                        'x' | 'u' if case_insensitive => {
                            return Err("numeric escape in a case-insensitive pattern".into());
                        }
                        'x' => {
                            // `\xhh` and `\x{h…h}` have the same syntax in both dialects.
                            out.push_str("\\x");
                        }
                        'u' => {
                            let hex: String = chars.iter().skip(i + 1).take(4).collect();
                            if hex.len() != 4 || !hex.chars().all(|h| h.is_ascii_hexdigit()) {
                                return Err("malformed \\u escape".into());
                            }
                            out.push_str("\\x{");
                            out.push_str(&hex);
                            out.push('}');
                            i += 4;
                        }
                        e if e.is_ascii_alphanumeric() => {
                            return Err(format!("unsupported escape \\{e}"));
                        }
                        _ if in_class
                            && case_insensitive
                            && chars.get(i + 1) == Some(&'-')
                            && chars.get(i + 2) != Some(&']') =>
                        {
                            return Err("escaped range start in a case-insensitive class".into());
                        }
                        e => {
                            // Any other escaped character is a literal in Java.
                            if is_rust_meta(e) {
                                out.push('\\');
                            }
                            out.push(e);
                        }
                    }
                }
            }
            '[' => {
                if in_class && next == Some(':') {
                    // Rust would read `[:alpha:]` as a POSIX class; Java reads a nested class.
                    return Err("`[:` inside a class".into());
                }
                class_depth += 1;
                class_start = true;
                out.push('[');
                if next == Some('^') {
                    out.push('^');
                    i += 1;
                }
            }
            ']' if in_class => {
                if was_class_start {
                    return Err("empty class or leading `]` in a class".into());
                }
                class_depth -= 1;
                out.push(']');
            }
            '&' | '-' | '~' if in_class && next == Some(c) => {
                return Err(format!("class set operator `{c}{c}`"));
            }
            _ if in_class => {
                let range_end = chars.get(i + 2).copied();
                match (next, range_end) {
                    (Some('-'), Some(hi)) if !matches!(hi, ']' | '\\' | '[') => {
                        if hi < c {
                            return Err(format!("invalid class range {c}-{hi}"));
                        }
                        push_class_range(&mut out, c, hi, case_insensitive);
                        i += 2;
                    }
                    _ => push_class_char(&mut out, c, case_insensitive),
                }
            }
            '.' => out.push_str(DOT),
            '$' => out.push_str(DOLLAR),
            '(' => {
                if next == Some('?') {
                    if chars.get(i + 2) == Some(&':') {
                        out.push_str("(?:");
                        i += 2;
                    } else {
                        return Err("unsupported group construct `(?`…".into());
                    }
                } else {
                    out.push('(');
                }
            }
            '*' | '+' | '?' => {
                if c == '+' && was_after_quantifier {
                    return Err("possessive quantifier".into());
                }
                out.push(c);
                // A `?` right after a quantifier makes it lazy; it is not itself a quantifier.
                after_quantifier = !(c == '?' && was_after_quantifier);
            }
            '{' => {
                // Copy a `{n}`, `{n,}` or `{n,m}` repetition verbatim.
                let rest: String = chars[i..].iter().collect();
                let Some(end) = rest.find('}') else {
                    return Err("unterminated `{`".into());
                };
                let body = &rest[1..end];
                let valid = !body.is_empty()
                    && body.chars().all(|ch| ch.is_ascii_digit() || ch == ',')
                    && body.matches(',').count() <= 1
                    && !body.starts_with(',');
                if !valid {
                    return Err("`{` that is not a repetition".into());
                }
                out.push_str(&rest[..=end]);
                i += rest[..=end].chars().count() - 1;
                after_quantifier = true;
            }
            _ if case_insensitive && c.is_ascii_alphabetic() => {
                out.push('[');
                push_class_char(&mut out, c, true);
                out.push(']');
            }
            _ => out.push(c),
        }
        i += 1;
    }
    if class_depth != 0 {
        return Err("unterminated character class".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::translate;

    fn rx(java: &str) -> regex::Regex {
        rx_ci(java, false)
    }

    fn rx_ci(java: &str, ci: bool) -> regex::Regex {
        let t = translate(java, ci).unwrap_or_else(|e| panic!("{java}: {e}"));
        regex::Regex::new(&t).unwrap_or_else(|e| panic!("{java} -> {t}: {e}"))
    }

    #[test]
    fn digit_and_word_classes_are_ascii_only() {
        // U+0663 ARABIC-INDIC DIGIT THREE is \d in Rust's Unicode mode, not in Java.
        assert!(!rx(r"^\d$").is_match("\u{663}"));
        assert!(rx(r"^\d$").is_match("7"));
        assert!(!rx(r"^\w$").is_match("é"));
        assert!(rx(r"^\W$").is_match("é"));
        assert!(rx(r"^[\w.]+$").is_match("a_b.9"));
        assert!(!rx(r"^\s$").is_match("\u{a0}"));
        assert!(rx(r"^\S$").is_match("\u{a0}"));
    }

    #[test]
    fn word_boundary_is_ascii() {
        // In Java `é` is not a word character, so there is a boundary before `foo`.
        assert!(rx(r"\bfoo").is_match("éfoo"));
        assert!(!rx(r"\bfoo").is_match("afoo"));
    }

    #[test]
    fn dot_excludes_java_line_terminators() {
        let r = rx("^a.b$");
        assert!(r.is_match("axb"));
        for t in ["\n", "\r", "\u{85}", "\u{2028}", "\u{2029}"] {
            assert!(!r.is_match(&format!("a{t}b")), "{t:?}");
        }
        assert!(rx("^[.]$").is_match("."));
        assert!(!rx("^[.]$").is_match("x"));
    }

    #[test]
    fn dollar_also_matches_before_a_final_line_terminator() {
        let r = rx("APP$");
        for ok in [
            "ESPN APP",
            "ESPN APP\n",
            "ESPN APP\r\n",
            "ESPN APP\r",
            "ESPN APP\u{2028}",
        ] {
            assert!(r.is_match(ok), "{ok:?}");
        }
        for no in ["ESPN APP\n\n", "ESPN APP ", "ESPN APPS", "ESPN APP\nx"] {
            assert!(!r.is_match(no), "{no:?}");
        }
        let r = rx(r"(\d+)(?:[ /]|$)");
        let caps = r.captures("v 12\n").expect("match");
        assert_eq!(caps.get(1).map(|m| m.as_str()), Some("12"));
        assert!(rx(r"^\$$").is_match("$"));
    }

    #[test]
    fn case_insensitivity_folds_ascii_only() {
        let r = rx_ci(r"^Samsung-S[a-z]?\d+[KU]x$", true);
        assert!(r.is_match("SAMSUNG-S7350kX"));
        assert!(r.is_match("samsung-sb1ux"));
        // U+017F LONG S and U+212A KELVIN SIGN fold to s / k in Unicode, not in Java's ASCII mode.
        assert!(!r.is_match("\u{17f}amsung-s1kx"));
        assert!(!r.is_match("samsung-s1\u{212a}x"));
        assert!(!r.is_match("samsung-s\u{17f}1kx"));
        let r = rx_ci(r"^[^a]+$", true);
        assert!(!r.is_match("A"));
        assert!(r.is_match("b"));
        let r = rx_ci(r"^[ -/]+$", true);
        assert!(r.is_match(" -/"));
        let r = rx_ci(r"^[A-Z0-9]+$", false);
        assert!(!r.is_match("a"));
        assert!(rx_ci("^[A-Z0-9]+$", true).is_match("a9Z"));
    }

    #[test]
    fn escaped_punctuation_is_literal() {
        assert!(rx(r"^a\ b\!\/\-$").is_match("a b!/-"));
        assert!(rx(r"^[\!\-_]+$").is_match("!-_"));
        assert!(rx(r"^\$x$").is_match("$x"));
    }

    #[test]
    fn groups_and_repetitions_are_preserved() {
        let r = rx(r"(a)(?:b|)(c{1,2})x{2}");
        let caps = r.captures("zabccxx").expect("match");
        assert_eq!(r.captures_len(), 3);
        assert_eq!(caps.get(1).map(|m| m.as_str()), Some("a"));
        assert_eq!(caps.get(2).map(|m| m.as_str()), Some("cc"));
        assert!(rx(r"a+?b").is_match("aab"));
        assert!(rx(r"\u0041").is_match("A"));
    }

    #[test]
    fn untranslatable_constructs_are_rejected() {
        for p in [
            r"(?=a)", r"(?!a)", r"(?<=a)b", r"(?<!a)b", r"(a)\1", r"a++", r"a*+", r"(?>a)",
            r"(?i)a", r"\Qa\E", r"\p{L}", r"[a&&b]", r"[]a]", r"a{x}", r"[a", "a\\",
        ] {
            assert!(translate(p, false).is_err(), "{p} should be rejected");
        }
    }
}
