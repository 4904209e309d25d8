//! serde_yaml's errors for people: the line in front, the value's own line for bad durations, and a
//! "did you mean" for unknown keys.

/// Turns a serde_yaml error into "file line N: message" plus a "did you mean" for unknown keys.
pub(super) fn describe(origin: &str, e: &serde_yaml::Error, text: &str) -> String {
    let mut msg = e.to_string();
    // serde_yaml appends " at line L column C"; we put the line in front instead.
    if let Some(pos) = msg.rfind(" at line ") {
        msg.truncate(pos);
    }
    let mut line = e.location().map(|l| l.line());
    // Errors of custom parsers (durations) point at the enclosing map: find the value itself.
    if let Some(v) = msg
        .split("invalid duration \"")
        .nth(1)
        .and_then(|r| r.split('"').next())
    {
        let from = line.unwrap_or(1).saturating_sub(1);
        if let Some(l) = text
            .lines()
            .skip(from)
            .position(|l| l.contains(v) && !l.trim_start().starts_with('#'))
        {
            line = Some(from + l + 1);
        }
    }
    let place = match line {
        Some(l) => format!("{origin} line {l}"),
        None => origin.to_string(),
    };
    if let Some(hint) = did_you_mean(&msg) {
        msg.push_str(&format!(" — did you mean `{hint}`?"));
    }
    format!("{place}: {msg}")
}

/// For `unknown field `x`, expected one of `a`, `b``, the closest expected name.
fn did_you_mean(msg: &str) -> Option<String> {
    let rest = msg.split("unknown field `").nth(1)?;
    let (unknown, rest) = rest.split_once('`')?;
    let expected: Vec<&str> = rest
        .split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s)
        .collect();
    let mut best: Option<(f64, &str)> = None;
    for cand in expected {
        let score = strsim::jaro_winkler(unknown, cand);
        if best.is_none_or(|(b, _)| score > b) {
            best = Some((score, cand));
        }
    }
    best.filter(|(s, _)| *s >= 0.7).map(|(_, c)| c.to_string())
}
