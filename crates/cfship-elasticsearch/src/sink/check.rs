//! `cfship check`: reachability, distribution, privileges, templates.

use reqwest::Method;
use serde_json::{json, Value};

use super::install::{installed_template_version, winning_foreign_template};
use super::ElasticsearchSink;
use crate::backend::PROBED_TYPES;
use crate::templates::{decide, IndexTemplate, TemplateOutcome, TEMPLATE_PRIORITY};

/// One line of `cfship check`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckResult {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

fn check(name: &str, ok: bool, detail: impl Into<String>) -> CheckResult {
    CheckResult {
        name: name.into(),
        ok,
        detail: detail.into(),
    }
}

impl ElasticsearchSink {
    /// `cfship check`: one result per check.
    pub async fn check(&self) -> Vec<CheckResult> {
        let t = &self.inner.transport;
        let b = &self.inner.backend;
        let mut out = Vec::new();
        match t.json(Method::GET, "/_cluster/health", None).await {
            Ok(r) if r.ok() => {
                let status = r
                    .json()
                    .and_then(|v| v.get("status").and_then(Value::as_str).map(str::to_string))
                    .unwrap_or_default();
                out.push(check(
                    "reachable",
                    status != "red",
                    format!("{} cluster health {status}", r.url),
                ));
            }
            Ok(r) => out.push(check(
                "reachable",
                false,
                format!("HTTP {} from {}", r.status, r.url),
            )),
            Err(e) => out.push(check(
                "reachable",
                false,
                format!("{}: {}", e.url, e.message),
            )),
        }
        out.push(check(
            "distribution",
            true,
            format!(
                "{} (flavor {}), mapping types {} : {}",
                b.describe(),
                b.build_flavor.as_deref().unwrap_or("-"),
                b.types_source,
                PROBED_TYPES
                    .iter()
                    .map(|ty| format!("{ty}={}", if b.types.supports(ty) { "yes" } else { "no" }))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
        ));
        let mut index_names = vec!["logs-cloudflare.*".to_string()];
        if let Some(dl) = &self.inner.cfg.dead_letter.index {
            index_names.push(dl.clone());
        }
        let body = json!({
            "cluster": ["monitor", "manage_index_templates"],
            "index": [{"names": index_names, "privileges": ["create_doc", "auto_configure"]}]
        });
        match t
            .json(Method::POST, "/_security/user/_has_privileges", Some(&body))
            .await
        {
            Ok(r) if r.ok() => {
                let v = r.json().unwrap_or(Value::Null);
                let all = v
                    .get("has_all_requested")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let user = v.get("username").and_then(Value::as_str).unwrap_or("?");
                let detail = if all {
                    format!(
                        "user {user} may manage index templates and write to {}",
                        index_names.join(", ")
                    )
                } else {
                    format!("user {user} lacks privileges: {}", missing_privileges(&v))
                };
                out.push(check("privileges", all, detail));
            }
            Ok(r) if matches!(r.status, 400 | 404 | 405 | 500) => out.push(check(
                "privileges",
                true,
                format!(
                    "not checked: security API unavailable or security disabled (HTTP {})",
                    r.status
                ),
            )),
            Ok(r) => out.push(check(
                "privileges",
                false,
                format!("HTTP {}: {}", r.status, r.excerpt()),
            )),
            Err(e) => out.push(check("privileges", false, e.message)),
        }
        for ds in IndexTemplate::all() {
            let name = ds.template_name();
            let res = installed_template_version(t, &name).await;
            let c = match res {
                Ok(None) => check(
                    &format!("template {name}"),
                    false,
                    "not installed (run `cfship setup`)",
                ),
                Ok(Some(v)) => match decide(&name, Some(v)) {
                    TemplateOutcome::Unchanged { version, .. } => check(
                        &format!("template {name}"),
                        true,
                        format!("installed, version {version}"),
                    ),
                    TemplateOutcome::KeptNewer {
                        installed, ours, ..
                    } => check(
                        &format!("template {name}"),
                        true,
                        format!("version {installed} installed, newer than cfship's {ours}; kept"),
                    ),
                    _ => check(
                        &format!("template {name}"),
                        false,
                        format!("outdated (version {v:?}); run `cfship setup` to upgrade"),
                    ),
                },
                Err(e) => check(&format!("template {name}"), false, e.to_string()),
            };
            out.push(c);
            if let Some(other) = winning_foreign_template(t, ds).await {
                out.push(check(
                    &format!("template precedence {}", ds.index_pattern()),
                    true,
                    format!("{other} has a higher priority than {TEMPLATE_PRIORITY} and wins for new backing indices"),
                ));
            }
        }
        out
    }
}

fn missing_privileges(v: &Value) -> String {
    let mut missing = Vec::new();
    if let Some(c) = v.get("cluster").and_then(Value::as_object) {
        missing.extend(
            c.iter()
                .filter(|(_, ok)| ok.as_bool() == Some(false))
                .map(|(k, _)| format!("cluster:{k}")),
        );
    }
    if let Some(idx) = v.get("index").and_then(Value::as_object) {
        for (name, privs) in idx {
            if let Some(p) = privs.as_object() {
                missing.extend(
                    p.iter()
                        .filter(|(_, ok)| ok.as_bool() == Some(false))
                        .map(|(k, _)| format!("{name}:{k}")),
                );
            }
        }
    }
    missing.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_privileges_are_listed() {
        // recorded from ES 8.19 (user with the built-in role viewer)
        let v: Value = serde_json::from_str(r#"{"username":"cfship-viewer","has_all_requested":false,
            "cluster":{"manage_index_templates":false,"monitor":false},
            "index":{"logs-cloudflare.*":{"auto_configure":false,"create_doc":true}},"application":{}}"#)
        .unwrap();
        let m = missing_privileges(&v);
        assert!(m.contains("cluster:manage_index_templates"), "{m}");
        assert!(m.contains("cluster:monitor"), "{m}");
        assert!(m.contains("logs-cloudflare.*:auto_configure"), "{m}");
        assert!(!m.contains("create_doc"), "{m}");
    }
}
