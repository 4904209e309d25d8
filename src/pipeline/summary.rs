//! A small summary of the documents produced (the table `cfship demo` ends with).

use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Documents per dataset.
    pub per_dataset: BTreeMap<String, u64>,
    /// `http.response.status_code` (Logpull).
    pub status_codes: BTreeMap<String, u64>,
    /// `client.geo.country_iso_code` (Logpull) / `source.geo.country_iso_code` (audit).
    pub countries: BTreeMap<String, u64>,
    /// `cloudflare.firewall.actions` (Logpull; a request may carry several).
    pub firewall_actions: BTreeMap<String, u64>,
    /// `event.action` (audit).
    pub audit_actions: BTreeMap<String, u64>,
}

fn path<'a>(v: &'a Value, p: &str) -> Option<&'a Value> {
    p.split('.').try_fold(v, |v, k| v.get(k))
}

fn key(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl Summary {
    /// Adds one ECS document (its JSON source).
    pub fn add(&mut self, dataset: &str, source: &[u8]) {
        *self.per_dataset.entry(dataset.to_string()).or_default() += 1;
        let Ok(doc) = serde_json::from_slice::<Value>(source) else {
            return;
        };
        let bump = |m: &mut BTreeMap<String, u64>, v: Option<&Value>| match v {
            Some(Value::Array(a)) => {
                for x in a.iter().filter_map(key) {
                    *m.entry(x).or_default() += 1;
                }
            }
            Some(x) => {
                if let Some(k) = key(x) {
                    *m.entry(k).or_default() += 1;
                }
            }
            None => {}
        };
        if dataset == "logpull" {
            bump(
                &mut self.status_codes,
                path(&doc, "http.response.status_code"),
            );
            bump(
                &mut self.countries,
                path(&doc, "client.geo.country_iso_code"),
            );
            bump(
                &mut self.firewall_actions,
                path(&doc, "cloudflare.firewall.actions"),
            );
        } else {
            bump(
                &mut self.countries,
                path(&doc, "source.geo.country_iso_code"),
            );
            bump(&mut self.audit_actions, path(&doc, "event.action"));
        }
    }

    /// The `n` most frequent entries, most frequent first (ties by name).
    pub fn top(m: &BTreeMap<String, u64>, n: usize) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = m.iter().map(|(k, c)| (k.clone(), *c)).collect();
        v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v.truncate(n);
        v
    }

    /// The table, as text.
    pub fn render(&self) -> String {
        let mut o = String::new();
        let fmt_list = |v: Vec<(String, u64)>| {
            if v.is_empty() {
                "-".to_string()
            } else {
                v.iter()
                    .map(|(k, c)| format!("{k} ({c})"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        o.push_str("dataset        documents\n");
        for (d, n) in &self.per_dataset {
            o.push_str(&format!("{d:<14} {n:>9}\n"));
        }
        o.push('\n');
        o.push_str(&format!(
            "top status codes   : {}\n",
            fmt_list(Self::top(&self.status_codes, 5))
        ));
        o.push_str(&format!(
            "top countries      : {}\n",
            fmt_list(Self::top(&self.countries, 5))
        ));
        o.push_str(&format!(
            "firewall actions   : {}\n",
            fmt_list(Self::top(&self.firewall_actions, 6))
        ));
        o.push_str(&format!(
            "top audit actions  : {}\n",
            fmt_list(Self::top(&self.audit_actions, 5))
        ));
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_ranks() {
        let mut s = Summary::default();
        s.add("logpull", br#"{"http":{"response":{"status_code":200}},"client":{"geo":{"country_iso_code":"SE"}},"cloudflare":{"firewall":{"actions":["simulate","challenge"]}}}"#);
        s.add("logpull", br#"{"http":{"response":{"status_code":200}},"client":{"geo":{"country_iso_code":"US"}}}"#);
        s.add("logpull", br#"{"http":{"response":{"status_code":403}},"client":{"geo":{"country_iso_code":"US"}},"cloudflare":{"firewall":{"actions":["block"]}}}"#);
        s.add(
            "audit",
            br#"{"event":{"action":"token_create"},"source":{"geo":{"country_iso_code":"SE"}}}"#,
        );
        assert_eq!(s.per_dataset["logpull"], 3);
        assert_eq!(s.per_dataset["audit"], 1);
        assert_eq!(
            Summary::top(&s.status_codes, 1),
            vec![("200".to_string(), 2)]
        );
        assert_eq!(
            Summary::top(&s.countries, 5),
            vec![("SE".to_string(), 2), ("US".to_string(), 2)]
        );
        assert_eq!(s.firewall_actions.len(), 3);
        let t = s.render();
        assert!(
            t.contains("logpull") && t.contains("200 (2)") && t.contains("token_create (1)"),
            "{t}"
        );
    }
}
