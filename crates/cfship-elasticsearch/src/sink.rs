//! The sink: connect + detect, templates, bulk indexing with retries and dead letters, checks.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use cfship_retry::{retry, CancellationToken, Decision, Retrier};
use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt as _;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::backend::{detect_backend, Backend, PROBED_TYPES};
use crate::bulk::{
    build_body, classify_item, now_rfc3339, parse_bulk_response, prepare, split_batches,
    IndexRequest, ItemOutcome, Prepared,
};
use crate::config::EsConfig;
use crate::stats::SinkStats;
use crate::templates::{
    decide, template_body, translated_fields, Dataset, TemplateOutcome, MANAGED_BY,
    TEMPLATE_PRIORITY,
};
use crate::transport::Transport;
use crate::EsError;

/// What one [`ElasticsearchSink::index`] call achieved; every document is in exactly one counter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ack {
    pub created: u64,
    pub duplicates: u64,
    pub dead_lettered: u64,
}

impl Ack {
    fn add(&mut self, o: Ack) {
        self.created += o.created;
        self.duplicates += o.duplicates;
        self.dead_lettered += o.dead_lettered;
    }
    /// Documents handled.
    pub fn total(&self) -> u64 {
        self.created + self.duplicates + self.dead_lettered
    }
}

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

/// A refused document on its way to the dead letter.
struct Dead {
    req: IndexRequest,
    status: u16,
    error: Value,
}

struct Inner {
    cfg: EsConfig,
    transport: Transport,
    backend: Backend,
    permits: Semaphore,
    stats: Arc<SinkStats>,
    /// Cancelled by [`ElasticsearchSink::shutdown`]: every retry wait ends.
    shutdown: CancellationToken,
    dl_file_lock: tokio::sync::Mutex<()>,
    bulk_path: String,
}

/// Elasticsearch / OpenSearch sink. Cheap to clone (an `Arc` inside); `Send + Sync`.
#[derive(Clone)]
pub struct ElasticsearchSink {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for ElasticsearchSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ElasticsearchSink")
            .field("hosts", &self.inner.transport.host_urls())
            .field("backend", &self.inner.backend.describe())
            .finish()
    }
}

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

    /// The detected backend.
    pub fn backend(&self) -> &Backend {
        &self.inner.backend
    }

    /// The configuration in use.
    pub fn config(&self) -> &EsConfig {
        &self.inner.cfg
    }

    /// `logs-cloudflare.<dataset>-<configured namespace>`.
    pub fn data_stream(&self, dataset: &str) -> String {
        crate::templates::data_stream_name(dataset, &self.inner.cfg.namespace)
    }

    /// Live counters (for metrics).
    pub fn stats(&self) -> Arc<SinkStats> {
        Arc::clone(&self.inner.stats)
    }

    /// Make pending and future retries give up with [`EsError::ShuttingDown`].
    pub fn shutdown(&self) {
        self.inner.shutdown.cancel();
    }

    async fn wait_shutdown(&self) {
        self.inner.shutdown.cancelled().await
    }

    /// The retry loop state of one operation: the configured backoff, forever, until
    /// [`shutdown`](Self::shutdown).
    fn retrier(&self) -> Retrier<'_> {
        Retrier::new(self.inner.cfg.retry.policy()).cancel_on(&self.inner.shutdown)
    }

    /// Install or upgrade the index templates of every data stream cfship knows
    /// ([`Dataset::all`]: `cloudflare.audit`, `cloudflare.logpull` and each `cloudflare_logpush.*`),
    /// see [`TemplateOutcome`].
    pub async fn ensure_templates(&self) -> Result<Vec<TemplateOutcome>, EsError> {
        self.ensure_templates_for(Dataset::all()).await
    }

    /// [`Self::ensure_templates`] for the given data streams only (a source that writes a known
    /// set of data streams needs no others).
    pub async fn ensure_templates_for(
        &self,
        datasets: impl IntoIterator<Item = Dataset>,
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

    /// Index `docs`. Returns when every document is created, a duplicate, or dead-lettered; retries
    /// transient failures forever (until [`shutdown`](Self::shutdown)).
    pub async fn index(&self, docs: Vec<IndexRequest>) -> Result<Ack, EsError> {
        let mut ack = Ack::default();
        let mut ready = Vec::with_capacity(docs.len());
        let mut refused = Vec::new();
        for d in docs {
            match prepare(d, "create") {
                Ok(p) => ready.push(p),
                Err((req, why)) => refused.push(Dead {
                    req,
                    status: 0,
                    error: json!({"type": "cfship_invalid_source", "reason": why}),
                }),
            }
        }
        if !refused.is_empty() {
            ack.dead_lettered += self.dead_letter(refused).await?;
        }
        let batch = &self.inner.cfg.batch;
        let sizes: Vec<usize> = ready.iter().map(Prepared::wire_len).collect();
        let ranges = split_batches(&sizes, batch.max_docs, batch.max_bytes);
        if ranges.len() <= 1 {
            ack.add(self.run_chunk(ready).await?);
            return Ok(ack);
        }
        let mut set = JoinSet::new();
        let mut it = ready.into_iter();
        for r in ranges {
            let chunk: Vec<Prepared> = it.by_ref().take(r.len()).collect();
            let me = self.clone();
            set.spawn(async move { me.run_chunk(chunk).await });
        }
        let mut first_err = None;
        while let Some(res) = set.join_next().await {
            match res {
                Ok(Ok(a)) => ack.add(a),
                Ok(Err(e)) => {
                    first_err.get_or_insert(e);
                }
                Err(join) => {
                    first_err.get_or_insert(EsError::Protocol {
                        url: "-".into(),
                        message: format!("bulk task failed: {join}"),
                    });
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(ack),
        }
    }

    /// Send one bounded chunk until every item is done.
    async fn run_chunk(&self, items: Vec<Prepared>) -> Result<Ack, EsError> {
        let mut ack = Ack::default();
        let mut pending = items;
        let mut retrier = self.retrier();
        let stats = &self.inner.stats;
        while !pending.is_empty() {
            let (body, raw_len) = build_body(&pending, self.inner.cfg.compression);
            let resp = {
                let permit = tokio::select! {
                    p = self.inner.permits.acquire() => p.map_err(|_| EsError::ShuttingDown)?,
                    _ = self.wait_shutdown() => return Err(EsError::ShuttingDown),
                };
                stats.in_flight.fetch_add(1, Ordering::Relaxed);
                stats
                    .bytes_sent
                    .fetch_add(body.len() as u64, Ordering::Relaxed);
                stats
                    .bytes_uncompressed
                    .fetch_add(raw_len as u64, Ordering::Relaxed);
                let started = Instant::now();
                let send = self.inner.transport.send(
                    Method::POST,
                    &self.inner.bulk_path,
                    Some((body, "application/x-ndjson", self.inner.cfg.compression)),
                );
                let r = tokio::select! {
                    r = send => Some(r),
                    _ = self.wait_shutdown() => None,
                };
                stats.in_flight.fetch_sub(1, Ordering::Relaxed);
                drop(permit);
                stats.observe_latency(started.elapsed());
                r.ok_or(EsError::ShuttingDown)?
            };
            let resp = match resp {
                Ok(r) => r,
                Err(e) => {
                    stats
                        .bulk_requests_transport_error
                        .fetch_add(1, Ordering::Relaxed);
                    if loud(retrier.failures()) {
                        tracing::warn!(url = %e.url, error = %e.message, docs = pending.len(), attempt = retrier.failures(),
                            "bulk request failed; will retry");
                    } else {
                        tracing::debug!(url = %e.url, error = %e.message, docs = pending.len(), attempt = retrier.failures(),
                            "bulk request failed; will retry");
                    }
                    pause(&mut retrier).await?;
                    stats.request_retries.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            };
            stats.record_status(resp.status);
            let refused_body =
                resp.status == 413 || (resp.status == 400 && body_refusal(&resp.body));
            match resp.status {
                200..=299 => {}
                400 | 413 if refused_body && pending.len() > 1 => {
                    // The request as a whole was refused (too large, or one item broke the body):
                    // halve it and handle each half on its own.
                    tracing::warn!(
                        status = resp.status,
                        docs = pending.len(),
                        "bulk request refused; splitting it"
                    );
                    let second = pending.split_off(pending.len() / 2);
                    ack.add(Box::pin(self.run_chunk(pending)).await?);
                    ack.add(Box::pin(self.run_chunk(second)).await?);
                    return Ok(ack);
                }
                400 | 413 if refused_body => {
                    let error =
                        json!({"type": format!("http_{}", resp.status), "reason": resp.excerpt()});
                    let dead = pending
                        .into_iter()
                        .map(|p| Dead {
                            req: p.req,
                            status: resp.status,
                            error: error.clone(),
                        })
                        .collect();
                    ack.dead_lettered += self.dead_letter(dead).await?;
                    return Ok(ack);
                }
                status => {
                    if loud(retrier.failures()) {
                        tracing::warn!(status, url = %resp.url, body = %resp.excerpt(), docs = pending.len(),
                            attempt = retrier.failures(), "bulk request not accepted; will retry");
                    } else {
                        tracing::debug!(
                            status,
                            docs = pending.len(),
                            attempt = retrier.failures(),
                            "bulk request not accepted; will retry"
                        );
                    }
                    pause(&mut retrier).await?;
                    stats.request_retries.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            }
            let results = match parse_bulk_response(&resp.body) {
                Ok(r) if r.len() == pending.len() => r,
                Ok(r) => {
                    tracing::warn!(
                        expected = pending.len(),
                        got = r.len(),
                        "bulk response item count mismatch; retrying the batch"
                    );
                    pause(&mut retrier).await?;
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "unparsable bulk response; retrying the batch");
                    pause(&mut retrier).await?;
                    continue;
                }
            };
            let mut retry = Vec::new();
            let mut dead = Vec::new();
            let mut round = Ack::default();
            let mut retry_reason = None;
            for (p, r) in pending.into_iter().zip(results) {
                match classify_item(r.status, r.error_type()) {
                    ItemOutcome::Created => round.created += 1,
                    ItemOutcome::Duplicate => round.duplicates += 1,
                    ItemOutcome::Retry => {
                        if retry_reason.is_none() {
                            retry_reason =
                                Some((r.status, r.error_type().unwrap_or("").to_string()));
                        }
                        retry.push(p);
                    }
                    ItemOutcome::DeadLetter => dead.push(Dead {
                        req: p.req,
                        status: r.status,
                        error: r.error.unwrap_or(Value::Null),
                    }),
                }
            }
            stats
                .items_created
                .fetch_add(round.created, Ordering::Relaxed);
            stats
                .items_duplicate
                .fetch_add(round.duplicates, Ordering::Relaxed);
            ack.add(round);
            if !dead.is_empty() {
                ack.dead_lettered += self.dead_letter(dead).await?;
            }
            pending = retry;
            if !pending.is_empty() {
                stats
                    .item_retries
                    .fetch_add(pending.len() as u64, Ordering::Relaxed);
                if let Some((status, ty)) = retry_reason.filter(|_| loud(retrier.failures())) {
                    tracing::warn!(status, error_type = %ty, docs = pending.len(), attempt = retrier.failures(),
                        "bulk items not accepted; will retry them");
                }
                pause(&mut retrier).await?;
            }
        }
        Ok(ack)
    }

    /// Durably store refused documents; returns how many.
    async fn dead_letter(&self, dead: Vec<Dead>) -> Result<u64, EsError> {
        let n = dead.len() as u64;
        for d in &dead {
            let error_type = d.error.get("type").and_then(|v| v.as_str()).unwrap_or("");
            let reason = d.error.get("reason").and_then(|v| v.as_str()).unwrap_or("");
            tracing::warn!(index = %d.req.index, id = %d.req.id, status = d.status, error_type, reason,
                "document refused; writing it to the dead letter");
        }
        let records: Vec<Value> = dead
            .into_iter()
            .map(|d| {
                let document = serde_json::from_slice::<Value>(&d.req.source)
                    .ok()
                    .and_then(|v| serde_json::to_string(&v).ok())
                    .unwrap_or_else(|| String::from_utf8_lossy(&d.req.source).into_owned());
                json!({
                    "@timestamp": now_rfc3339(),
                    "index": d.req.index,
                    "id": d.req.id,
                    "status": d.status,
                    "error": d.error,
                    "document": document,
                })
            })
            .collect();
        let to_file = match self.inner.cfg.dead_letter.index.clone() {
            Some(index) => self.dead_letter_index(&index, records).await?,
            None => records,
        };
        if !to_file.is_empty() {
            let path = self.inner.cfg.dead_letter.path.display();
            retry(
                self.inner.cfg.retry.policy(),
                Some(&self.inner.shutdown),
                || self.write_dead_letter_file(&to_file),
                |e| {
                    tracing::error!(error = %e, path = %path, "cannot write the dead-letter file; will retry");
                    Decision::Backoff
                },
                |_| {},
            )
            .await
            .map_err(|_| EsError::ShuttingDown)?;
        }
        self.inner
            .stats
            .items_dead_lettered
            .fetch_add(n, Ordering::Relaxed);
        Ok(n)
    }

    /// Index dead letters; returns those that must go to the file instead.
    async fn dead_letter_index(
        &self,
        index: &str,
        records: Vec<Value>,
    ) -> Result<Vec<Value>, EsError> {
        let mut prepared = Vec::new();
        let mut fallback = Vec::new();
        for r in records {
            let src = Bytes::from(serde_json::to_vec(&r).unwrap_or_default());
            let req = IndexRequest {
                index: index.to_string(),
                id: String::new(),
                source: src,
            };
            match prepare(req, "index") {
                Ok(p) => prepared.push((p, r)),
                Err(_) => fallback.push(r),
            }
        }
        let items: Vec<Prepared> = prepared.iter().map(|(p, _)| p.clone()).collect();
        let mut retrier = self.retrier();
        loop {
            let (body, _) = build_body(&items, self.inner.cfg.compression);
            let res = self
                .inner
                .transport
                .send(
                    Method::POST,
                    "/_bulk?filter_path=items.*.status,items.*.error",
                    Some((body, "application/x-ndjson", self.inner.cfg.compression)),
                )
                .await;
            match res {
                Ok(r) if r.ok() => match parse_bulk_response(&r.body) {
                    Ok(results) if results.len() == prepared.len() => {
                        for ((_, rec), res) in prepared.into_iter().zip(results) {
                            if !(200..300).contains(&res.status) {
                                fallback.push(rec);
                            }
                        }
                        return Ok(fallback);
                    }
                    _ => {}
                },
                Ok(r) if r.status == 400 || r.status == 413 => {
                    fallback.extend(prepared.into_iter().map(|(_, r)| r));
                    return Ok(fallback);
                }
                Ok(r) => tracing::warn!(
                    status = r.status,
                    "dead-letter index request failed; will retry"
                ),
                Err(e) => {
                    tracing::warn!(error = %e.message, "dead-letter index request failed; will retry")
                }
            }
            pause(&mut retrier).await?;
        }
    }

    async fn write_dead_letter_file(&self, records: &[Value]) -> std::io::Result<()> {
        let mut buf = Vec::new();
        for r in records {
            serde_json::to_writer(&mut buf, r)?;
            buf.push(b'\n');
        }
        let _guard = self.inner.dl_file_lock.lock().await;
        let path: &Path = &self.inner.cfg.dead_letter.path;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            tokio::fs::create_dir_all(dir).await?;
        }
        let mut f = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await?;
        f.write_all(&buf).await?;
        f.sync_data().await?;
        Ok(())
    }

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
        for ds in Dataset::all() {
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

/// Whether a whole-request 400 is about the body (so splitting / dead-lettering helps) rather than
/// something a retry or an operator fixes (a proxy, a bad parameter…).
fn body_refusal(body: &[u8]) -> bool {
    let text = String::from_utf8_lossy(body);
    [
        "parse_exception",
        "x_content_parse_exception",
        "json_parse_exception",
        "action_request_validation_exception",
        "illegal_argument_exception",
    ]
    .iter()
    .any(|t| text.contains(t))
}

/// Waits before the next round of a retry loop; `ShuttingDown` once [`ElasticsearchSink::shutdown`]
/// was called.
async fn pause(retrier: &mut Retrier<'_>) -> Result<(), EsError> {
    retrier.pause().await.map_err(|_| EsError::ShuttingDown)
}

/// Warn on the first retry and every tenth, not on each (a busy cluster would flood the log).
fn loud(attempt: u32) -> bool {
    attempt.is_multiple_of(10)
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

/// `None` = no such template; `Some(version)` otherwise (version from `_meta.version` or `version`).
async fn installed_template_version(
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
async fn winning_foreign_template(t: &Transport, ds: Dataset) -> Option<String> {
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

    #[test]
    fn whole_request_400_kinds() {
        assert!(body_refusal(
            br#"{"error":{"type":"x_content_parse_exception","reason":"[1:2] Unexpected character"},"status":400}"#
        ));
        assert!(!body_refusal(
            b"<html><body>400 Bad Request (proxy)</body></html>"
        ));
    }

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

    #[test]
    fn sink_is_send_sync_clone() {
        fn assert_traits<T: Send + Sync + Clone + 'static>() {}
        assert_traits::<ElasticsearchSink>();
    }
}
