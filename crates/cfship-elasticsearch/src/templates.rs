//! Composable index templates for `logs-cloudflare.audit-*`, `logs-cloudflare.logpull-*` and every
//! `logs-cloudflare_logpush.<data stream>-*`, built from the JSON field lists in `templates/` and
//! translated to what the backend supports.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::backend::Backend;

/// Version written to the template's `version` and `_meta.version`. Bump it whenever a template changes:
/// an older cfship template is then replaced, a newer one (or a user's with a higher version) is kept.
pub const TEMPLATE_VERSION: u64 = 3;

/// Priority of cfship's templates: above Elasticsearch's built-in `logs` template (100, `logs-*-*`) so
/// cfship's mappings win over the generic ones, below Fleet's integration templates (200) so an installed
/// Elastic "cloudflare" integration keeps precedence and the two never collide (ES rejects two templates
/// with equal priority and overlapping patterns).
pub const TEMPLATE_PRIORITY: u64 = 150;

/// `_meta.managed_by` marker of cfship's templates.
pub const MANAGED_BY: &str = "cfship";

const ECS_FIELDS: &str = include_str!("../templates/ecs.json");
const AUDIT_FIELDS: &str = include_str!("../templates/audit.json");
const LOGPULL_FIELDS: &str = include_str!("../templates/logpull.json");

/// The `cloudflare_logpush` data streams: name and field list (`templates/logpush/<name>.json`:
/// its `cloudflare_logpush.<name>.*` fields with the types of Elastic's package, plus the ECS fields
/// its documents use beyond `ecs.json`). One line per data stream.
const LOGPUSH: &[(&str, &str)] = &[
    (
        "access_request",
        include_str!("../templates/logpush/access_request.json"),
    ),
    ("audit", include_str!("../templates/logpush/audit.json")),
    ("casb", include_str!("../templates/logpush/casb.json")),
    (
        "device_posture",
        include_str!("../templates/logpush/device_posture.json"),
    ),
    (
        "dex_application_tests",
        include_str!("../templates/logpush/dex_application_tests.json"),
    ),
    (
        "dex_device_state_events",
        include_str!("../templates/logpush/dex_device_state_events.json"),
    ),
    (
        "dlp_forensic_copies",
        include_str!("../templates/logpush/dlp_forensic_copies.json"),
    ),
    ("dns", include_str!("../templates/logpush/dns.json")),
    (
        "dns_firewall",
        include_str!("../templates/logpush/dns_firewall.json"),
    ),
    (
        "email_security_alerts",
        include_str!("../templates/logpush/email_security_alerts.json"),
    ),
    (
        "firewall_event",
        include_str!("../templates/logpush/firewall_event.json"),
    ),
    (
        "gateway_dns",
        include_str!("../templates/logpush/gateway_dns.json"),
    ),
    (
        "gateway_http",
        include_str!("../templates/logpush/gateway_http.json"),
    ),
    (
        "gateway_network",
        include_str!("../templates/logpush/gateway_network.json"),
    ),
    (
        "http_request",
        include_str!("../templates/logpush/http_request.json"),
    ),
    (
        "magic_ids",
        include_str!("../templates/logpush/magic_ids.json"),
    ),
    (
        "nel_report",
        include_str!("../templates/logpush/nel_report.json"),
    ),
    (
        "network_analytics",
        include_str!("../templates/logpush/network_analytics.json"),
    ),
    (
        "network_session",
        include_str!("../templates/logpush/network_session.json"),
    ),
    (
        "page_shield_events",
        include_str!("../templates/logpush/page_shield_events.json"),
    ),
    (
        "sinkhole_http",
        include_str!("../templates/logpush/sinkhole_http.json"),
    ),
    (
        "spectrum_event",
        include_str!("../templates/logpush/spectrum_event.json"),
    ),
    (
        "workers_trace",
        include_str!("../templates/logpush/workers_trace.json"),
    ),
];

/// The data streams cfship writes: the two of Elastic's `cloudflare` integration and the
/// `cloudflare_logpush` ones (by data stream name).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IndexTemplate {
    Audit,
    Logpull,
    Logpush(&'static str),
}

impl IndexTemplate {
    /// The two `cloudflare` data streams.
    pub const ALL: [IndexTemplate; 2] = [IndexTemplate::Audit, IndexTemplate::Logpull];

    /// Every data stream with a template: [`IndexTemplate::ALL`] and the Logpush ones.
    pub fn all() -> impl Iterator<Item = IndexTemplate> {
        IndexTemplate::ALL
            .into_iter()
            .chain(LOGPUSH.iter().map(|(n, _)| IndexTemplate::Logpush(n)))
    }

    /// A Logpush data stream by name (`dns`) or dataset (`cloudflare_logpush.dns`).
    pub fn logpush(name: &str) -> Option<IndexTemplate> {
        let n = name.strip_prefix("cloudflare_logpush.").unwrap_or(name);
        LOGPUSH
            .iter()
            .find(|(x, _)| *x == n)
            .map(|(x, _)| IndexTemplate::Logpush(x))
    }

    /// `audit` / `logpull` / the Logpush data stream name.
    pub fn as_str(&self) -> &'static str {
        match self {
            IndexTemplate::Audit => "audit",
            IndexTemplate::Logpull => "logpull",
            IndexTemplate::Logpush(n) => n,
        }
    }

    /// `cloudflare.audit` / `cloudflare.logpull` / `cloudflare_logpush.<name>`.
    pub fn event_dataset(&self) -> String {
        match self {
            IndexTemplate::Logpush(n) => format!("cloudflare_logpush.{n}"),
            other => format!("cloudflare.{}", other.as_str()),
        }
    }

    /// Name of cfship's index template for this dataset.
    pub fn template_name(&self) -> String {
        format!("cfship-logs-{}", self.event_dataset())
    }

    /// Index pattern of the template.
    pub fn index_pattern(&self) -> String {
        format!("logs-{}-*", self.event_dataset())
    }

    /// Name of Fleet's template for the same data stream (Elastic "cloudflare" /
    /// "cloudflare_logpush" integration).
    pub fn fleet_template_name(&self) -> String {
        format!("logs-{}", self.event_dataset())
    }
}

/// `logs-cloudflare.<dataset>-<namespace>` for `audit` / `logpull`; a dataset with a dot
/// (`cloudflare_logpush.dns`) is used whole: `logs-cloudflare_logpush.dns-<namespace>`.
pub fn data_stream_name(dataset: &str, namespace: &str) -> String {
    if dataset.contains('.') {
        format!("logs-{dataset}-{namespace}")
    } else {
        format!("logs-cloudflare.{dataset}-{namespace}")
    }
}

/// Result of installing one template.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TemplateOutcome {
    /// There was none; installed.
    Installed { name: String, version: u64 },
    /// An older version (or one without version) was replaced.
    Upgraded {
        name: String,
        from: Option<u64>,
        to: u64,
    },
    /// The same version is already there; nothing done.
    Unchanged { name: String, version: u64 },
    /// A newer version is installed (newer cfship or the user's own); left alone.
    KeptNewer {
        name: String,
        installed: u64,
        ours: u64,
    },
}

impl TemplateOutcome {
    pub fn name(&self) -> &str {
        match self {
            TemplateOutcome::Installed { name, .. }
            | TemplateOutcome::Upgraded { name, .. }
            | TemplateOutcome::Unchanged { name, .. }
            | TemplateOutcome::KeptNewer { name, .. } => name,
        }
    }
}

/// What to do given the installed template's version.
pub(crate) fn decide(name: &str, installed: Option<Option<u64>>) -> TemplateOutcome {
    let ours = TEMPLATE_VERSION;
    match installed {
        None => TemplateOutcome::Installed {
            name: name.into(),
            version: ours,
        },
        Some(Some(v)) if v > ours => TemplateOutcome::KeptNewer {
            name: name.into(),
            installed: v,
            ours,
        },
        Some(Some(v)) if v == ours => TemplateOutcome::Unchanged {
            name: name.into(),
            version: ours,
        },
        Some(from) => TemplateOutcome::Upgraded {
            name: name.into(),
            from,
            to: ours,
        },
    }
}

fn field_list(text: &str) -> Vec<(String, Value)> {
    // The files are part of the crate and checked by tests; a broken file yields no fields.
    let parsed: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    parsed
        .get("fields")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// Intended (untranslated) mapping of every field cfship emits for `dataset`: dotted path → mapping
/// (`{"type": ...}` plus parameters).
pub fn intended_fields(dataset: IndexTemplate) -> BTreeMap<String, Value> {
    let own = match dataset {
        IndexTemplate::Audit => AUDIT_FIELDS,
        IndexTemplate::Logpull => LOGPULL_FIELDS,
        IndexTemplate::Logpush(n) => LOGPUSH
            .iter()
            .find(|(x, _)| *x == n)
            .map(|(_, t)| *t)
            .unwrap_or("{}"),
    };
    field_list(ECS_FIELDS)
        .into_iter()
        .chain(field_list(own))
        .map(|(k, v)| {
            let m = match v {
                Value::String(t) => json!({ "type": t }),
                other => other,
            };
            (k, m)
        })
        .collect()
}

/// One mapping type replaced because the backend lacks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TypeTranslation {
    pub field: String,
    pub intended: String,
    pub used: String,
}

/// Every field's mapping after translation for `backend`; also returns the translations made
/// (`field`, intended type, used type).
pub fn translated_fields(
    dataset: IndexTemplate,
    backend: &Backend,
) -> (BTreeMap<String, Value>, Vec<TypeTranslation>) {
    let mut out = BTreeMap::new();
    let mut changes = Vec::new();
    for (field, mut mapping) in intended_fields(dataset) {
        let ty = mapping
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("keyword")
            .to_string();
        let tr = backend.translate(&ty);
        let new_ty = tr
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("object")
            .to_string();
        if new_ty != ty {
            changes.push(TypeTranslation {
                field: field.clone(),
                intended: ty.clone(),
                used: new_ty.clone(),
            });
            // parameters of the old type may not apply to the new one: keep only the translation
            mapping = tr;
            if ty == "wildcard" && new_ty == "keyword" {
                // long URLs stay searchable up to Lucene's term limit (8191 chars × 4 bytes < 32766)
                mapping["ignore_above"] = json!(8191);
            }
        }
        // ECS convention: keyword values longer than 1024 are stored but not indexed, instead of
        // failing the whole document with an "immense term" error
        let plain_keyword = mapping.get("type").and_then(Value::as_str) == Some("keyword")
            && mapping.get("index") != Some(&Value::Bool(false));
        if plain_keyword && mapping.get("ignore_above").is_none() {
            mapping["ignore_above"] = json!(1024);
        }
        // OpenSearch's wildcard keeps doc values, which refuse values over 32766 bytes
        let os_wildcard = backend.distribution == crate::backend::Distribution::OpenSearch
            && mapping.get("type").and_then(Value::as_str) == Some("wildcard");
        if os_wildcard && mapping.get("ignore_above").is_none() {
            mapping["ignore_above"] = json!(8191);
        }
        out.insert(field, mapping);
    }
    (out, changes)
}

/// Expected type of each field as `GET _mapping` reports it on `backend`.
pub fn expected_types(dataset: IndexTemplate, backend: &Backend) -> BTreeMap<String, String> {
    translated_fields(dataset, backend)
        .0
        .into_iter()
        .map(|(k, v)| {
            let t = v
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("object")
                .to_string();
            (k, t)
        })
        .collect()
}

/// Turn dotted paths into nested `properties`.
fn nest(fields: &BTreeMap<String, Value>) -> Value {
    fn insert(map: &mut Map<String, Value>, parts: &[&str], mapping: &Value) {
        match parts {
            [] => {}
            [leaf] => {
                map.insert((*leaf).to_string(), mapping.clone());
            }
            [head, rest @ ..] => {
                let entry = map
                    .entry((*head).to_string())
                    .or_insert_with(|| json!({ "properties": {} }));
                // a `nested` (or `object`) field declared with its own mapping takes sub-fields
                let container = matches!(
                    entry.get("type").and_then(Value::as_str),
                    Some("nested" | "object")
                ) && entry.get("enabled") != Some(&Value::Bool(false));
                if container && entry.get("properties").is_none() {
                    entry["properties"] = json!({});
                }
                // any other leaf already declared where an object is needed is left as is
                if let Some(props) = entry.get_mut("properties").and_then(Value::as_object_mut) {
                    insert(props, rest, mapping);
                }
            }
        }
    }
    let mut root = Map::new();
    for (path, mapping) in fields {
        let parts: Vec<&str> = path.split('.').collect();
        insert(&mut root, &parts, mapping);
    }
    Value::Object(root)
}

/// The body of `PUT _index_template/<dataset.template_name()>` for `backend`.
pub fn template_body(dataset: IndexTemplate, backend: &Backend) -> Value {
    let (fields, _) = translated_fields(dataset, backend);
    json!({
        "index_patterns": [dataset.index_pattern()],
        "data_stream": {},
        "priority": TEMPLATE_PRIORITY,
        "version": TEMPLATE_VERSION,
        "_meta": {
            "managed_by": MANAGED_BY,
            "version": TEMPLATE_VERSION,
            "description": format!(
                "cfship: Cloudflare {} logs as ECS documents (same fields as Elastic's {} integration)",
                dataset.as_str(),
                dataset.event_dataset().split('.').next().unwrap_or("cloudflare")
            ),
            "backend": backend.describe(),
        },
        "template": {
            "mappings": {
                "dynamic": true,
                "date_detection": false,
                "properties": nest(&fields),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::{detect_backend, Version};

    fn backend(root: Value) -> Backend {
        detect_backend(Some(&root), None).unwrap()
    }

    #[test]
    fn logpush_templates_parse_and_name_their_data_stream() {
        for (name, text) in LOGPUSH {
            let v: Value = serde_json::from_str(text).unwrap();
            assert_eq!(v["dataset"], format!("cloudflare_logpush.{name}"));
            let own = v["fields"].as_object().unwrap();
            assert!(own
                .keys()
                .any(|k| k.starts_with(&format!("cloudflare_logpush.{name}."))));
            let ds = IndexTemplate::logpush(name).unwrap();
            assert_eq!(
                ds.index_pattern(),
                format!("logs-cloudflare_logpush.{name}-*")
            );
            assert_eq!(
                ds.template_name(),
                format!("cfship-logs-cloudflare_logpush.{name}")
            );
            let all = intended_fields(ds);
            assert_eq!(all["@timestamp"]["type"], "date");
            assert!(all.len() > own.len());
        }
        assert_eq!(IndexTemplate::all().count(), 2 + LOGPUSH.len());
        assert_eq!(
            data_stream_name("cloudflare_logpush.dns", "x"),
            "logs-cloudflare_logpush.dns-x"
        );
        assert_eq!(data_stream_name("audit", "x"), "logs-cloudflare.audit-x");
    }

    #[test]
    fn field_files_parse_and_cover_the_spec() {
        for text in [ECS_FIELDS, AUDIT_FIELDS, LOGPULL_FIELDS] {
            let v: Value = serde_json::from_str(text).unwrap();
            assert!(!v["fields"].as_object().unwrap().is_empty());
        }
        let audit = intended_fields(IndexTemplate::Audit);
        assert_eq!(audit["cloudflare.audit.new_value"]["type"], "flattened");
        assert_eq!(audit["source.geo.location"]["type"], "geo_point");
        assert_eq!(audit["event.ingested"]["type"], "date");
        assert_eq!(audit["data_stream.namespace"]["type"], "constant_keyword");
        let lp = intended_fields(IndexTemplate::Logpull);
        assert_eq!(lp["cloudflare.edge.response.body.bytes"]["type"], "long");
        assert_eq!(lp["cloudflare.bot.score.src"]["type"], "text");
        assert_eq!(lp["observer.ip"]["type"], "ip");
        assert!(!lp.contains_key("cloudflare.audit.metadata"));
    }

    #[test]
    fn decide_versions() {
        assert!(matches!(
            decide("t", None),
            TemplateOutcome::Installed { .. }
        ));
        assert!(matches!(
            decide("t", Some(None)),
            TemplateOutcome::Upgraded { from: None, .. }
        ));
        assert!(matches!(
            decide("t", Some(Some(TEMPLATE_VERSION))),
            TemplateOutcome::Unchanged { .. }
        ));
        assert!(matches!(
            decide("t", Some(Some(TEMPLATE_VERSION + 1))),
            TemplateOutcome::KeptNewer { .. }
        ));
        assert!(matches!(
            decide("t", Some(Some(0))),
            TemplateOutcome::Upgraded { from: Some(0), .. }
        ));
    }

    #[test]
    fn body_is_nested_and_translated_for_opensearch() {
        let os = backend(json!({"version": {"distribution": "opensearch", "number": "3.6.0"}}));
        let body = template_body(IndexTemplate::Audit, &os);
        let p = &body["template"]["mappings"]["properties"];
        assert_eq!(
            p["cloudflare"]["properties"]["audit"]["properties"]["new_value"]["type"],
            "flat_object"
        );
        assert_eq!(
            p["source"]["properties"]["geo"]["properties"]["location"]["type"],
            "geo_point"
        );
        assert_eq!(
            p["data_stream"]["properties"]["namespace"]["type"],
            "keyword"
        );
        assert_eq!(body["data_stream"], json!({}));
        let lp = template_body(IndexTemplate::Logpull, &os);
        let url = &lp["template"]["mappings"]["properties"]["url"]["properties"];
        assert_eq!(url["original"]["type"], "wildcard");
        assert_eq!(url["original"]["ignore_above"], 8191);
        assert_eq!(body["priority"], TEMPLATE_PRIORITY);
        assert_eq!(body["_meta"]["version"], TEMPLATE_VERSION);
        assert_eq!(body["index_patterns"][0], "logs-cloudflare.audit-*");
    }

    #[test]
    fn nested_fields_keep_their_sub_fields() {
        let os = backend(json!({"version": {"distribution": "opensearch", "number": "3.6.0"}}));
        let body = template_body(IndexTemplate::Logpush("dex_application_tests"), &os);
        let dex = &body["template"]["mappings"]["properties"]["cloudflare_logpush"]["properties"]
            ["dex_application_tests"]["properties"];
        let hops = &dex["traceroute"]["properties"]["hops"];
        assert_eq!(hops["type"], "nested");
        assert_eq!(
            hops["properties"]["ip"]["properties"]["address"]["type"],
            "ip"
        );
        assert_eq!(hops["properties"]["rtts"]["type"], "long");
        let name = &hops["properties"]["name"];
        assert_eq!(
            (&name["type"], &name["ignore_above"]),
            (&json!("keyword"), &json!(1024))
        );
        let headers = &dex["http"]["properties"]["response"]["properties"]["headers"];
        assert_eq!(headers["type"], "nested");
        assert_eq!(headers["properties"]["value"]["type"], "keyword");
        // A disabled object (flattened on a backend without it) takes no sub-fields.
        let mut f = BTreeMap::new();
        f.insert("a".to_string(), json!({"type": "object", "enabled": false}));
        f.insert("a.b".to_string(), json!({"type": "keyword"}));
        assert_eq!(nest(&f)["a"], json!({"type": "object", "enabled": false}));
    }

    #[test]
    fn production_es_keeps_x_pack_types() {
        let es = backend(json!({"version": {"number": "8.15.0", "build_flavor": "default"}}));
        assert_eq!(
            es.version,
            Version {
                major: 8,
                minor: 15,
                patch: 0
            }
        );
        let (_, changes) = translated_fields(IndexTemplate::Logpull, &es);
        assert!(changes.is_empty(), "{changes:?}");
        let body = template_body(IndexTemplate::Logpull, &es);
        let p = &body["template"]["mappings"]["properties"];
        assert_eq!(p["url"]["properties"]["original"]["type"], "wildcard");
        assert!(p["url"]["properties"]["original"]
            .get("ignore_above")
            .is_none());
        assert_eq!(
            p["event"]["properties"]["dataset"]["type"],
            "constant_keyword"
        );
        assert_eq!(p["event"]["properties"]["original"]["index"], false);
        assert!(p["event"]["properties"]["original"]
            .get("ignore_above")
            .is_none());
        assert_eq!(p["event"]["properties"]["action"]["ignore_above"], 1024);
        assert_eq!(p["message"]["type"], "match_only_text");
    }

    #[test]
    fn data_stream_names() {
        assert_eq!(
            data_stream_name("audit", "default"),
            "logs-cloudflare.audit-default"
        );
        assert_eq!(
            data_stream_name("logpull", "prod"),
            "logs-cloudflare.logpull-prod"
        );
    }
}
