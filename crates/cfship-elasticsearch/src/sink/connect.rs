//! Connecting: `GET /` and `_nodes`, backend detection, mapping-type probes.

use std::sync::Arc;

use cfship_retry::CancellationToken;
use reqwest::Method;
use serde_json::json;
use tokio::sync::Semaphore;

use super::{ElasticsearchSink, Inner};
use crate::backend::{detect_backend, PROBED_TYPES};
use crate::config::EsConfig;
use crate::stats::SinkStats;
use crate::transport::Transport;
use crate::EsError;

impl ElasticsearchSink {
    /// Build the client, read `GET /` (and `_nodes`), detect the backend and probe mapping types.
    pub async fn connect(cfg: EsConfig) -> Result<Self, EsError> {
        let transport = Transport::new(&cfg)?;
        let root = transport.json(Method::GET, "/", None).await;
        let root = root?;
        let root_json = if root.ok() { root.json() } else { None };
        if !root.ok() && !matches!(root.status, 404 | 405) {
            // 401/403/5xx on GET / mean we cannot work with this cluster as configured
            return Err(root.into_error());
        }
        let nodes_resp = transport
            .json(
                Method::GET,
                "/_nodes/_local/plugins?filter_path=nodes.*.version,nodes.*.build_flavor,nodes.*.build_type,nodes.*.modules.name,nodes.*.plugins.name",
                None,
            )
            .await;
        let nodes = match nodes_resp {
            Ok(r) if r.ok() => r.json(),
            // Without GET / (minimal distribution) the version can only come from _nodes: say why not.
            Ok(r) if root_json.is_none() => return Err(r.into_error()),
            Ok(_) => None,
            Err(e) if root_json.is_none() => return Err(e.into()),
            Err(_) => None,
        };
        let mut backend = detect_backend(root_json.as_ref(), nodes.as_ref())?;
        let mut probed = 0;
        for ty in PROBED_TYPES {
            if let Some(ok) = probe_type(&transport, ty).await {
                backend.types.set(ty, ok);
                probed += 1;
            }
        }
        if probed == PROBED_TYPES.len() {
            backend.types_source = "probed";
        }
        tracing::info!(
            backend = %backend.describe(),
            build_flavor = backend.build_flavor.as_deref().unwrap_or("-"),
            types = ?backend.types,
            types_source = backend.types_source,
            hosts = ?transport.host_urls(),
            "connected to search engine"
        );
        let mut bulk_path = "/_bulk?filter_path=errors,items.*.status,items.*.error".to_string();
        if cfg.skip_default_pipeline {
            bulk_path.push_str("&pipeline=_none");
        }
        Ok(ElasticsearchSink {
            inner: Arc::new(Inner {
                permits: Semaphore::new(cfg.max_in_flight.max(1)),
                cfg,
                transport,
                backend,
                stats: Arc::new(SinkStats::default()),
                shutdown: CancellationToken::new(),
                dl_file_lock: tokio::sync::Mutex::new(()),
                bulk_path,
            }),
        })
    }
}

/// `Some(supported)` when `_simulate` gave a clear answer for `ty`, `None` when it could not be asked.
async fn probe_type(t: &Transport, ty: &str) -> Option<bool> {
    let mut field = json!({ "type": ty });
    if ty == "scaled_float" {
        // a required parameter: without it every backend refuses the type
        field["scaling_factor"] = json!(1000);
    }
    let body = json!({
        "index_patterns": ["cfship-type-probe-do-not-use"],
        "priority": 0,
        "template": {"mappings": {"properties": {"f": field}}}
    });
    let r = t
        .json(Method::POST, "/_index_template/_simulate", Some(&body))
        .await
        .ok()?;
    match r.status {
        200 => Some(true),
        400 => {
            let text = String::from_utf8_lossy(&r.body);
            // "does not exist" (ES), "No handler for type" (OpenSearch), "missing required parameter
            // [value]" (OpenSearch constant_keyword): all mean unusable as cfship maps it
            let unusable = text.contains("mapper")
                || text.contains("No handler")
                || text.contains("required parameter");
            if unusable {
                Some(false)
            } else {
                None
            }
        }
        _ => None,
    }
}
