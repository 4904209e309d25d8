//! Installing and upgrading the index templates, and spotting foreign templates that win.

use reqwest::Method;
use serde_json::Value;

use super::ElasticsearchSink;
use crate::templates::{
    decide, template_body, translated_fields, IndexTemplate, TemplateOutcome, MANAGED_BY,
    TEMPLATE_PRIORITY,
};
use crate::transport::Transport;
use crate::EsError;

impl ElasticsearchSink {
    /// Install or upgrade the index templates of every data stream cfship knows
    /// ([`IndexTemplate::all`]: `cloudflare.audit`, `cloudflare.logpull` and each `cloudflare_logpush.*`),
    /// see [`TemplateOutcome`].
    pub async fn ensure_templates(&self) -> Result<Vec<TemplateOutcome>, EsError> {
        self.ensure_templates_for(IndexTemplate::all()).await
    }

    /// [`Self::ensure_templates`] for the given data streams only (a source that writes a known
    /// set of data streams needs no others).
    pub async fn ensure_templates_for(
        &self,
        datasets: impl IntoIterator<Item = IndexTemplate>,
    ) -> Result<Vec<TemplateOutcome>, EsError> {
        let t = &self.inner.transport;
        let mut out = Vec::new();
        for ds in datasets {
            let name = ds.template_name();
            let installed = installed_template_version(t, &name).await?;
            let outcome = decide(&name, installed);
            if matches!(
                outcome,
                TemplateOutcome::Installed { .. } | TemplateOutcome::Upgraded { .. }
            ) {
                let (_, changes) = translated_fields(ds, &self.inner.backend);
                for c in &changes {
                    tracing::info!(
                        template = %name, field = %c.field, intended = %c.intended, used = %c.used,
                        backend = %self.inner.backend.describe(),
                        "mapping type not available on this backend, translated"
                    );
                }
                let body = template_body(ds, &self.inner.backend);
                let r = t
                    .json(
                        Method::PUT,
                        &format!("/_index_template/{name}"),
                        Some(&body),
                    )
                    .await?;
                if !r.ok() {
                    return Err(r.into_error());
                }
            }
            match &outcome {
                TemplateOutcome::KeptNewer {
                    installed, ours, ..
                } => tracing::warn!(
                    template = %name, installed, ours,
                    "a newer index template is installed; leaving it alone"
                ),
                o => tracing::info!(template = %name, outcome = ?o, "index template"),
            }
            if let Some(other) = winning_foreign_template(t, ds).await {
                tracing::warn!(
                    template = %other,
                    "template {other} has a higher priority than cfship's for {}: its mappings (and its \
                     settings) apply to new backing indices; cfship sends pipeline=_none so a default \
                     ingest pipeline does not re-process documents",
                    ds.index_pattern()
                );
            }
            out.push(outcome);
        }
        Ok(out)
    }
}

/// `None` = no such template; `Some(version)` otherwise (version from `_meta.version` or `version`).
pub(super) async fn installed_template_version(
    t: &Transport,
    name: &str,
) -> Result<Option<Option<u64>>, EsError> {
    let r = t
        .json(Method::GET, &format!("/_index_template/{name}"), None)
        .await?;
    if r.status == 404 {
        return Ok(None);
    }
    if !r.ok() {
        return Err(r.into_error());
    }
    let v = r.json().unwrap_or(Value::Null);
    let Some(tpl) = v
        .get("index_templates")
        .and_then(Value::as_array)
        .and_then(|a| {
            a.iter()
                .find(|x| x.get("name").and_then(Value::as_str) == Some(name))
        })
        .and_then(|x| x.get("index_template"))
    else {
        return Ok(None);
    };
    let version = tpl
        .get("_meta")
        .and_then(|m| m.get("version"))
        .and_then(Value::as_u64)
        .or_else(|| tpl.get("version").and_then(Value::as_u64));
    let ours = tpl
        .get("_meta")
        .and_then(|m| m.get("managed_by"))
        .and_then(Value::as_str)
        == Some(MANAGED_BY);
    if !ours {
        tracing::info!(template = %name, "installed template was not written by cfship");
    }
    Ok(Some(version))
}

/// Name of another template with a higher priority that matches the dataset's pattern (e.g. Fleet's).
pub(super) async fn winning_foreign_template(t: &Transport, ds: IndexTemplate) -> Option<String> {
    let r = t
        .json(Method::GET, "/_index_template/logs-cloudflare*", None)
        .await
        .ok()?;
    if !r.ok() {
        return None;
    }
    let v = r.json()?;
    let ours = ds.template_name();
    let probe_index = format!("logs-{}-default", ds.event_dataset());
    v.get("index_templates")?
        .as_array()?
        .iter()
        .filter(|x| x.get("name").and_then(Value::as_str) != Some(ours.as_str()))
        .filter(|x| {
            let tpl = &x["index_template"];
            let prio = tpl.get("priority").and_then(Value::as_u64).unwrap_or(0);
            let matches = tpl
                .get("index_patterns")
                .and_then(Value::as_array)
                .is_some_and(|ps| {
                    ps.iter()
                        .filter_map(Value::as_str)
                        .any(|p| glob_match(p, &probe_index))
                });
            prio > TEMPLATE_PRIORITY && matches
        })
        .find_map(|x| x.get("name").and_then(Value::as_str).map(str::to_string))
}

fn glob_match(pattern: &str, s: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == s,
        Some((pre, rest)) => {
            if !s.starts_with(pre) {
                return false;
            }
            let tail = &s[pre.len()..];
            if rest.is_empty() {
                return true;
            }
            (0..=tail.len())
                .filter(|i| tail.is_char_boundary(*i))
                .any(|i| glob_match(rest, &tail[i..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globbing() {
        assert!(glob_match(
            "logs-cloudflare.audit-*",
            "logs-cloudflare.audit-default"
        ));
        assert!(glob_match("logs-*-*", "logs-cloudflare.audit-default"));
        assert!(!glob_match(
            "logs-cloudflare.logpull-*",
            "logs-cloudflare.audit-default"
        ));
        assert!(glob_match("*", "x"));
    }
}
