//! The `dissect` processor (plain keys and literal delimiters).

use super::*;

/// Elasticsearch's `dissect` for patterns made of `%{key}` (or `%{}` / `%{?name}`, skipped) and
/// literal delimiters: a leading literal must match at the start, each key takes the text up to
/// the next occurrence of the delimiter that follows it, the last key takes the rest. `None` =
/// "Unable to find match". Modifiers (`->`, `+`, `*`, `&`) are not supported.
pub fn dissect<'p, 's>(pattern: &'p str, value: &'s str) -> Option<Vec<(&'p str, &'s str)>> {
    // Split the pattern into (leading literal, [(key, following literal)]).
    let mut rest = pattern;
    let lead_end = rest.find("%{").unwrap_or(rest.len());
    let lead = &rest[..lead_end];
    rest = &rest[lead_end..];
    let mut parts: Vec<(&str, &str)> = Vec::new();
    while let Some(after) = rest.strip_prefix("%{") {
        let close = after.find('}')?;
        let key = &after[..close];
        let tail = &after[close + 1..];
        let lit_end = tail.find("%{").unwrap_or(tail.len());
        parts.push((key, &tail[..lit_end]));
        rest = &tail[lit_end..];
    }
    let mut v = value.strip_prefix(lead)?;
    let mut out = Vec::with_capacity(parts.len());
    let n = parts.len();
    for (i, (key, delim)) in parts.into_iter().enumerate() {
        let (field, next) = if delim.is_empty() {
            if i + 1 == n {
                (v, "")
            } else {
                // Two adjacent keys: Elasticsearch gives the first one nothing.
                ("", v)
            }
        } else {
            let at = v.find(delim)?;
            (&v[..at], &v[at + delim.len()..])
        };
        if !(key.is_empty() || key.starts_with('?')) {
            out.push((key, field));
        }
        v = next;
    }
    Some(out)
}

/// `dissect { field, pattern, ignore_missing: true }` (see [`dissect`]) as the body of a
/// [`Step::Custom`] `"dissect"` (which adds the processor's `if` and tag): the keys are set as
/// strings; a non-string field or a text the pattern does not match is the processor's error.
pub fn dissect_field(
    ctx: &mut Ctx<'_, '_>,
    field: &'static str,
    pattern: &'static str,
) -> Result<(), String> {
    let text = match ctx.get(field) {
        None | Some(Val::Null) => return Ok(()),
        Some(Val::Str(s)) => s.to_string(),
        Some(other) => {
            return Err(format!(
                "field [{field}] of type [{}] cannot be cast to [java.lang.String]",
                java_type(other)
            ))
        }
    };
    let Some(found) = dissect(pattern, &text) else {
        return Err(format!(
            "Unable to find match for dissect pattern: {pattern} against source: {text}"
        ));
    };
    for (key, v) in found {
        ctx.set(key, Val::Str(Cow::Owned(v.to_string())))?;
    }
    Ok(())
}
