//! `${VAR}` expansion of the configuration text, before YAML parsing.
//!
//! * `${VAR}` — the variable; missing = error naming the line. `${VAR:-default}` — default when unset or empty.
//! * `$${VAR}` — a literal `${VAR}`.
//! * Comments (`#` at line start or after a space, outside quotes) are left alone.
//! * Substituted values are quoted as needed so that a value with YAML syntax in it (`: `, `#`, a
//!   leading `*`, …) stays one string.

/// The expanded text and the substituted values (to scrub them from error messages).
#[derive(Debug, Clone, Default)]
pub struct Expanded {
    pub text: String,
    values: Vec<String>,
}

impl Expanded {
    /// Replaces every substituted value (≥ 4 chars) in `msg` by `[redacted]`.
    pub fn redact(&self, msg: &str) -> String {
        let mut out = msg.to_string();
        let mut vals: Vec<&String> = self.values.iter().filter(|v| v.len() >= 4).collect();
        vals.sort_by_key(|v| std::cmp::Reverse(v.len()));
        for v in vals {
            out = out.replace(v.as_str(), "[redacted]");
        }
        out
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Q {
    None,
    Single,
    Double,
}

/// Expands `${VAR}` in `text`.
pub fn expand_env(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<Expanded, String> {
    let mut out = String::with_capacity(text.len());
    let mut values = Vec::new();
    for (lineno, line) in text.split_inclusive('\n').enumerate() {
        let chars: Vec<char> = line.chars().collect();
        let mut q = Q::None;
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            match (q, c) {
                (Q::None, '#') if i == 0 || chars[i - 1].is_whitespace() => {
                    out.extend(&chars[i..]);
                    break;
                }
                (Q::None, '\'') => q = Q::Single,
                (Q::None, '"') => q = Q::Double,
                (Q::Single, '\'') => q = Q::None,
                (Q::Double, '"') if i == 0 || chars[i - 1] != '\\' => q = Q::None,
                _ => {}
            }
            if c == '$' && chars.get(i + 1) == Some(&'$') && chars.get(i + 2) == Some(&'{') {
                out.push('$');
                i += 2;
                continue;
            }
            if c == '$' && chars.get(i + 1) == Some(&'{') {
                let Some(close) = chars[i + 2..].iter().position(|&x| x == '}') else {
                    return Err(format!("line {}: `${{` without a closing `}}`", lineno + 1));
                };
                let inner: String = chars[i + 2..i + 2 + close].iter().collect();
                let (name, default) = match inner.split_once(":-") {
                    Some((n, d)) => (n.trim().to_string(), Some(d.to_string())),
                    None => (inner.trim().to_string(), None),
                };
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(format!(
                        "line {}: `${{{inner}}}` is not a valid variable reference (use ${{NAME}} or ${{NAME:-default}})",
                        lineno + 1
                    ));
                }
                let value = match (env(&name), default) {
                    (Some(v), Some(d)) if v.is_empty() => d,
                    (Some(v), _) => v,
                    (None, Some(d)) => d,
                    (None, None) => {
                        return Err(format!(
                            "line {}: environment variable {name} is not set (referenced as ${{{name}}}); \
                             export it or use ${{{name}:-default}}",
                            lineno + 1
                        ))
                    }
                };
                let whole_value = q == Q::None
                    && chars[i + 3 + close..]
                        .iter()
                        .collect::<String>()
                        .split(" #")
                        .next()
                        .is_some_and(|rest| rest.trim().is_empty());
                out.push_str(&quote(&value, q, whole_value));
                values.push(value);
                i += 3 + close;
                continue;
            }
            out.push(c);
            i += 1;
        }
    }
    Ok(Expanded { text: out, values })
}

fn quote(v: &str, q: Q, whole_value: bool) -> String {
    match q {
        Q::Single => v.replace('\'', "''"),
        Q::Double => v
            .replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n"),
        Q::None => {
            let risky = v.is_empty()
                || v.contains(": ")
                || v.contains(" #")
                || v.contains('\n')
                || v.ends_with(':')
                || v.starts_with(|c: char| "[]{}&*!|>'\"%@`#,?:- ".contains(c))
                || v != v.trim();
            if risky && whole_value {
                serde_json::to_string(v).unwrap_or_default()
            } else {
                v.to_string()
            }
        }
    }
}
