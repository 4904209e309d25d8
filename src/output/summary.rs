//! The demo summary as an output: counts per dataset, top status codes, countries, firewall and
//! audit actions (the table `cfship demo` ends with). Only units that committed are counted, so a
//! replayed window is counted once, like the documents it left in the other outputs.
//!
//! Each document is read once with a borrowed, typed view of the five fields the table needs
//! (serde skips the rest without building a tree).

use super::{Batch, Output, OutputError, Written};
use crate::sync::lock;
use cfship_cloudflare::{Unit, UnitOutcome};
use futures::future::BoxFuture;
use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Mutex;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DemoSummary {
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

/// The scalar values of a field (a string, number or boolean, or an array of them), as text.
#[derive(Default)]
struct Keys(Vec<String>);

impl<'de> Deserialize<'de> for Keys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Keys;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a scalar or an array of scalars")
            }
            fn visit_str<E>(self, v: &str) -> Result<Keys, E> {
                Ok(Keys(vec![v.to_string()]))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Keys, E> {
                Ok(Keys(vec![v.to_string()]))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Keys, E> {
                Ok(Keys(vec![v.to_string()]))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Keys, E> {
                Ok(Keys(vec![serde_json::Number::from_f64(v)
                    .map(|n| n.to_string())
                    .unwrap_or_default()]))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Keys, E> {
                Ok(Keys(vec![v.to_string()]))
            }
            fn visit_unit<E>(self) -> Result<Keys, E> {
                Ok(Keys::default())
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Keys, A::Error> {
                // only scalar elements count (nested arrays / objects are skipped)
                let mut v = Vec::new();
                while let Some(Item(k)) = seq.next_element::<Item>()? {
                    v.extend(k);
                }
                Ok(Keys(v))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Keys::default())
            }
        }
        d.deserialize_any(V)
    }
}

/// One array element: its text when it is a scalar.
struct Item(Option<String>);

impl<'de> Deserialize<'de> for Item {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Item;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_str<E>(self, v: &str) -> Result<Item, E> {
                Ok(Item(Some(v.to_string())))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Item, E> {
                Ok(Item(Some(v.to_string())))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Item, E> {
                Ok(Item(Some(v.to_string())))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Item, E> {
                Ok(Item(serde_json::Number::from_f64(v).map(|n| n.to_string())))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Item, E> {
                Ok(Item(Some(v.to_string())))
            }
            fn visit_unit<E>(self) -> Result<Item, E> {
                Ok(Item(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Item, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Item(None))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Item, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Item(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// The fields of an ECS document the summary reads.
#[derive(Deserialize, Default)]
#[serde(default)]
struct View {
    http: Http,
    client: Geo,
    source: Geo,
    cloudflare: Cloudflare,
    event: Event,
}
#[derive(Deserialize, Default)]
#[serde(default)]
struct Http {
    response: Response,
}
#[derive(Deserialize, Default)]
#[serde(default)]
struct Response {
    status_code: Keys,
}
#[derive(Deserialize, Default)]
#[serde(default)]
struct Geo {
    geo: Country,
}
#[derive(Deserialize, Default)]
#[serde(default)]
struct Country {
    country_iso_code: Keys,
}
#[derive(Deserialize, Default)]
#[serde(default)]
struct Cloudflare {
    firewall: Firewall,
}
#[derive(Deserialize, Default)]
#[serde(default)]
struct Firewall {
    actions: Keys,
}
#[derive(Deserialize, Default)]
#[serde(default)]
struct Event {
    action: Keys,
}

fn bump(m: &mut BTreeMap<String, u64>, keys: Keys) {
    for k in keys.0 {
        *m.entry(k).or_default() += 1;
    }
}

fn merge(into: &mut BTreeMap<String, u64>, from: BTreeMap<String, u64>) {
    for (k, n) in from {
        *into.entry(k).or_default() += n;
    }
}

impl DemoSummary {
    /// Adds one ECS document (its JSON source).
    pub fn add(&mut self, dataset: &str, source: &[u8]) {
        *self.per_dataset.entry(dataset.to_string()).or_default() += 1;
        // a document the table cannot read still counts in its dataset
        let Ok(doc) = serde_json::from_slice::<View>(source) else {
            return;
        };
        if dataset == "logpull" {
            bump(&mut self.status_codes, doc.http.response.status_code);
            bump(&mut self.countries, doc.client.geo.country_iso_code);
            bump(&mut self.firewall_actions, doc.cloudflare.firewall.actions);
        } else {
            bump(&mut self.countries, doc.source.geo.country_iso_code);
            bump(&mut self.audit_actions, doc.event.action);
        }
    }

    /// Adds every count of `other`.
    pub fn merge(&mut self, other: DemoSummary) {
        merge(&mut self.per_dataset, other.per_dataset);
        merge(&mut self.status_codes, other.status_codes);
        merge(&mut self.countries, other.countries);
        merge(&mut self.firewall_actions, other.firewall_actions);
        merge(&mut self.audit_actions, other.audit_actions);
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
        o.push_str("dataset                documents\n");
        for (d, n) in &self.per_dataset {
            o.push_str(&format!("{d:<22} {n:>9}\n"));
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

/// The demo summary as an output: per unit in flight until it ends, then added (committed) or
/// dropped (aborted; the replay counts again).
#[derive(Default)]
pub struct SummaryOutput {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    pending: HashMap<Unit, DemoSummary>,
    done: DemoSummary,
}

impl SummaryOutput {
    /// The documents of every committed unit so far.
    pub fn summary(&self) -> DemoSummary {
        lock(&self.state).done.clone()
    }

    /// Documents of a source without units (Logpush: a chunk is final once every output holds
    /// it), as `(dataset, source)`.
    pub fn add_documents<'a>(&self, docs: impl IntoIterator<Item = (&'a str, &'a [u8])>) {
        let mut part = DemoSummary::default();
        for (ds, src) in docs {
            part.add(ds, src);
        }
        lock(&self.state).done.merge(part);
    }
}

impl Output for SummaryOutput {
    fn write<'a>(&'a self, batch: Batch<'a>) -> BoxFuture<'a, Result<Written, OutputError>> {
        let mut part = DemoSummary::default();
        for d in batch.docs.iter() {
            part.add(batch.dataset, d.source());
        }
        lock(&self.state)
            .pending
            .entry(batch.unit.clone())
            .or_default()
            .merge(part);
        Box::pin(std::future::ready(Ok(Written::default())))
    }

    fn end_unit(&self, unit: &Unit, outcome: UnitOutcome) {
        let mut st = lock(&self.state);
        if let Some(part) = st.pending.remove(unit) {
            if outcome != UnitOutcome::Aborted {
                st.done.merge(part);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_ranks() {
        let mut s = DemoSummary::default();
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
            DemoSummary::top(&s.status_codes, 1),
            vec![("200".to_string(), 2)]
        );
        assert_eq!(
            DemoSummary::top(&s.countries, 5),
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
