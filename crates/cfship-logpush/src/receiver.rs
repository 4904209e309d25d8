//! The HTTPS destination: `POST /cloudflare_logpush/<data stream>` (Elastic Agent's paths, so a job
//! made for Elastic works unchanged) or a configured path, an exact-match secret header compared in
//! constant time, gzip or plain NDJSON bodies decoded as a stream into the durable spool, and a 2xx
//! only once the batch is fsynced there.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use cfship_secret::Secret;
use futures::TryStreamExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::io::{StreamReader, SyncIoBridge};
use tokio_util::sync::CancellationToken;

use crate::datasets::{self, DataStream, PATH_PREFIX};
use crate::decode::{decode_batch, BatchError, Encoding, Limits};
use crate::spool::{Spool, SpoolError};
use crate::transform::RecordTransform;

/// The shared secret: requests must carry `header: value` exactly (Elastic's `secret.header` /
/// `secret.value`).
#[derive(Clone, Debug)]
pub struct SecretHeader {
    pub header: String,
    pub value: Secret,
}

/// TLS from PEM files (certificate chain and private key).
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// Receiver settings (the `logpush:` config section maps onto this).
#[derive(Clone, Debug)]
pub struct ReceiverConfig {
    pub listen: SocketAddr,
    pub tls: Option<TlsFiles>,
    pub secret: Option<SecretHeader>,
    /// Extra paths → data stream (besides `/cloudflare_logpush/<ds>`).
    pub paths: HashMap<String, &'static DataStream>,
    pub limits: Limits,
    /// Batches decoded at once (each holds a few hundred KiB of buffers).
    pub max_concurrent: usize,
    /// `Retry-After` seconds on 503.
    pub retry_after_secs: u64,
}

impl ReceiverConfig {
    pub fn new(listen: SocketAddr) -> Self {
        ReceiverConfig {
            listen,
            tls: None,
            secret: None,
            paths: HashMap::new(),
            limits: Limits::default(),
            max_concurrent: 8,
            retry_after_secs: 10,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReceiverError {
    #[error("logpush: cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("logpush TLS: {0}")]
    Tls(String),
}

/// Counters for `/metrics` (all monotonic except the gauges read from the spool).
#[derive(Debug, Default)]
pub struct ReceiverStats {
    pub accepted: AtomicU64,
    pub probes: AtomicU64,
    pub unauthorized: AtomicU64,
    pub not_found: AtomicU64,
    pub bad_request: AtomicU64,
    pub unsupported: AtomicU64,
    pub too_large: AtomicU64,
    pub unavailable: AtomicU64,
    pub failed: AtomicU64,
    pub bytes_uncompressed: AtomicU64,
    /// Per data stream: documents spooled, of which pipeline_error.
    pub docs: HashMap<&'static str, (AtomicU64, AtomicU64)>,
}

impl ReceiverStats {
    fn new() -> Self {
        ReceiverStats {
            docs: datasets::DATA_STREAMS
                .iter()
                .map(|d| (d.name, (AtomicU64::new(0), AtomicU64::new(0))))
                .collect(),
            ..Default::default()
        }
    }

    /// Prometheus text exposition of the receiver and its spool.
    pub fn render(&self, spool: &Spool, out: &mut String) {
        use std::fmt::Write as _;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP cfship_logpush_requests_total Logpush HTTP requests by outcome."
        );
        let _ = writeln!(out, "# TYPE cfship_logpush_requests_total counter");
        for (k, v) in [
            ("accepted", &self.accepted),
            ("probe", &self.probes),
            ("unauthorized", &self.unauthorized),
            ("not_found", &self.not_found),
            ("bad_request", &self.bad_request),
            ("unsupported_media_type", &self.unsupported),
            ("too_large", &self.too_large),
            ("unavailable", &self.unavailable),
            ("failed", &self.failed),
        ] {
            let _ = writeln!(
                out,
                "cfship_logpush_requests_total{{outcome=\"{k}\"}} {}",
                l(v)
            );
        }
        let _ = writeln!(
            out,
            "# HELP cfship_logpush_received_bytes_total Uncompressed bytes of accepted batches."
        );
        let _ = writeln!(out, "# TYPE cfship_logpush_received_bytes_total counter");
        let _ = writeln!(
            out,
            "cfship_logpush_received_bytes_total {}",
            l(&self.bytes_uncompressed)
        );
        let _ = writeln!(out, "# HELP cfship_logpush_documents_total Documents spooled per data stream (kind=pipeline_error: records that failed).");
        let _ = writeln!(out, "# TYPE cfship_logpush_documents_total counter");
        let mut names: Vec<_> = self.docs.keys().copied().collect();
        names.sort_unstable();
        for n in names {
            if let Some((all, err)) = self.docs.get(n) {
                if l(all) > 0 {
                    let _ = writeln!(
                        out,
                        "cfship_logpush_documents_total{{data_stream=\"{n}\",kind=\"all\"}} {}",
                        l(all)
                    );
                    let _ = writeln!(out, "cfship_logpush_documents_total{{data_stream=\"{n}\",kind=\"pipeline_error\"}} {}", l(err));
                }
            }
        }
        render_spool(spool, out);
    }
}

/// The spool gauges (shared by the receiver and the bucket reader).
pub fn render_spool(spool: &Spool, out: &mut String) {
    use std::fmt::Write as _;
    let s = spool.status();
    for (name, help, v) in [
        (
            "cfship_logpush_spool_bytes",
            "Bytes in the Logpush spool (gauge).",
            s.used_bytes,
        ),
        (
            "cfship_logpush_spool_max_bytes",
            "Spool size limit (gauge).",
            s.max_bytes,
        ),
        (
            "cfship_logpush_spool_segments",
            "Batches waiting in the spool (gauge).",
            s.segments,
        ),
        (
            "cfship_logpush_spool_pending_documents",
            "Documents waiting in the spool (gauge).",
            s.pending_docs,
        ),
        (
            "cfship_logpush_spool_full",
            "1 when new batches are refused because the spool is full.",
            s.full() as u64,
        ),
        (
            "cfship_logpush_spool_sink_failing",
            "1 while indexing spooled documents keeps failing.",
            s.sink_failing as u64,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
    }
    for (name, help, v) in [
        (
            "cfship_logpush_spool_drained_documents_total",
            "Spooled documents acknowledged by Elasticsearch.",
            s.drained_docs,
        ),
        (
            "cfship_logpush_spool_rejected_full_total",
            "Batches refused (503) because the spool was full.",
            s.rejected_full,
        ),
    ] {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
        );
    }
}

struct App {
    cfg: ReceiverConfig,
    spool: Spool,
    transform: Arc<dyn RecordTransform>,
    stats: Arc<ReceiverStats>,
    permits: Semaphore,
}

/// A running receiver.
pub struct Receiver {
    pub local_addr: SocketAddr,
    pub stats: Arc<ReceiverStats>,
    pub task: tokio::task::JoinHandle<()>,
}

fn reply(status: StatusCode, message: &str) -> Response {
    let body = serde_json::json!({ "message": message }).to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// Constant-time comparison of the configured secret with the request's header.
fn secret_ok(cfg: &Option<SecretHeader>, headers: &HeaderMap) -> bool {
    use subtle::ConstantTimeEq;
    let Some(s) = cfg else {
        return true;
    };
    let Some(got) = headers.get(s.header.as_str()) else {
        return false;
    };
    let want = s.value.expose().as_bytes();
    let got = got.as_bytes();
    // lengths leak nothing useful (the secret's length is not secret); bytes compare in constant time
    got.len() == want.len() && bool::from(got.ct_eq(want))
}

/// Content types a Logpush body may carry (Cloudflare does not document what it sends; Elastic's
/// instructions add `application/json`).
fn content_type_ok(headers: &HeaderMap) -> Result<(), String> {
    let Some(v) = headers.get(header::CONTENT_TYPE) else {
        return Ok(());
    };
    let v = v.to_str().unwrap_or("").to_ascii_lowercase();
    let essence = v.split(';').next().unwrap_or("").trim();
    match essence {
        "" | "application/json" | "application/x-ndjson" | "application/ndjson"
        | "application/jsonl" | "application/x-jsonlines" | "text/plain" | "application/gzip"
        | "application/x-gzip" | "application/octet-stream" => Ok(()),
        other => Err(format!(
            "unsupported Content-Type {other:?}: expected application/json (or NDJSON, gzip, text/plain)"
        )),
    }
}

fn encoding_of(headers: &HeaderMap) -> Result<Encoding, String> {
    match headers.get(header::CONTENT_ENCODING) {
        None => Ok(Encoding::Sniff),
        Some(v) => match v
            .to_str()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
            .as_str()
        {
            "gzip" | "x-gzip" => Ok(Encoding::Gzip),
            "" | "identity" => Ok(Encoding::Sniff),
            other => Err(format!(
                "unsupported Content-Encoding {other:?}: expected gzip or none"
            )),
        },
    }
}

async fn handle(State(app): State<Arc<App>>, req: Request) -> Response {
    let st = &app.stats;
    let path = req.uri().path().to_string();
    if path == "/healthz" && req.method() == Method::GET {
        let s = app.spool.status();
        return if s.full() {
            reply(
                StatusCode::SERVICE_UNAVAILABLE,
                "spool full: Elasticsearch is not keeping up",
            )
        } else {
            reply(StatusCode::OK, "ok")
        };
    }
    // the secret first, before anything about the request is revealed
    if !secret_ok(&app.cfg.secret, req.headers()) {
        st.unauthorized.fetch_add(1, Ordering::Relaxed);
        return reply(
            StatusCode::UNAUTHORIZED,
            "incorrect header or header secret",
        );
    }
    let ds = match app.cfg.paths.get(&path).copied().or_else(|| {
        path.strip_prefix(PATH_PREFIX)
            .map(|s| s.trim_end_matches('/'))
            .and_then(datasets::find)
    }) {
        Some(ds) => ds,
        None => {
            st.not_found.fetch_add(1, Ordering::Relaxed);
            return reply(
                StatusCode::NOT_FOUND,
                &format!(
                    "unknown path {path:?}: POST to {PATH_PREFIX}<data stream>, one of {}",
                    datasets::names()
                ),
            );
        }
    };
    if req.method() != Method::POST {
        st.bad_request.fetch_add(1, Ordering::Relaxed);
        return reply(StatusCode::METHOD_NOT_ALLOWED, "only POST is accepted");
    }
    if let Err(m) = content_type_ok(req.headers()) {
        st.unsupported.fetch_add(1, Ordering::Relaxed);
        return reply(StatusCode::UNSUPPORTED_MEDIA_TYPE, &m);
    }
    let encoding = match encoding_of(req.headers()) {
        Ok(e) => e,
        Err(m) => {
            st.unsupported.fetch_add(1, Ordering::Relaxed);
            return reply(StatusCode::UNSUPPORTED_MEDIA_TYPE, &m);
        }
    };
    if app.spool.status().full() {
        return unavailable(
            &app,
            "spool full: Elasticsearch is not keeping up; retry later",
        );
    }
    let Ok(_permit) = app.permits.acquire().await else {
        return unavailable(&app, "shutting down");
    };
    let body = req.into_body();
    let stream = body
        .into_data_stream()
        .map_err(|e| std::io::Error::other(e.to_string()));
    let reader = SyncIoBridge::new(StreamReader::new(stream));
    let app2 = app.clone();
    let now_ms = now_ms();
    let res = tokio::task::spawn_blocking(move || {
        let mut w = app2.spool.writer()?;
        let summary = decode_batch(
            reader,
            encoding,
            app2.cfg.limits,
            ds,
            app2.transform.as_ref(),
            now_ms,
            &mut |d| w.write_parts(d.index, d.id, d.source),
        );
        match summary {
            Ok(s) => {
                if !s.probe {
                    w.commit()?;
                }
                Ok(s)
            }
            Err(e) => Err(e),
        }
    })
    .await;
    match res {
        Ok(Ok(s)) if s.probe => {
            st.probes.fetch_add(1, Ordering::Relaxed);
            tracing::info!(
                data_stream = ds.name,
                "logpush: validation upload answered (not indexed)"
            );
            reply(StatusCode::OK, "success")
        }
        Ok(Ok(s)) => {
            st.accepted.fetch_add(1, Ordering::Relaxed);
            st.bytes_uncompressed.fetch_add(s.bytes, Ordering::Relaxed);
            if let Some((all, err)) = st.docs.get(ds.name) {
                all.fetch_add(s.docs, Ordering::Relaxed);
                err.fetch_add(s.errors, Ordering::Relaxed);
            }
            tracing::debug!(
                data_stream = ds.name,
                docs = s.docs,
                errors = s.errors,
                "logpush: batch spooled"
            );
            reply(StatusCode::OK, "success")
        }
        Ok(Err(BatchError::Spool(SpoolError::Full { .. }))) => unavailable(
            &app,
            "spool full: Elasticsearch is not keeping up; retry later",
        ),
        Ok(Err(BatchError::TooLarge(n))) => {
            st.too_large.fetch_add(1, Ordering::Relaxed);
            reply(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("the body is larger than the limit of {n} uncompressed bytes"),
            )
        }
        Ok(Err(e)) if e.is_client_error() => {
            st.bad_request.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(data_stream = ds.name, error = %e, "logpush: batch refused");
            reply(StatusCode::BAD_REQUEST, &e.to_string())
        }
        Ok(Err(e)) => {
            st.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(data_stream = ds.name, error = %e, "logpush: batch failed");
            reply(StatusCode::SERVICE_UNAVAILABLE, &e.to_string())
        }
        Err(e) => {
            st.failed.fetch_add(1, Ordering::Relaxed);
            reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("decoder task failed: {e}"),
            )
        }
    }
}

fn unavailable(app: &App, msg: &str) -> Response {
    app.stats.unavailable.fetch_add(1, Ordering::Relaxed);
    app.spool.note_rejected_full();
    let mut r = reply(StatusCode::SERVICE_UNAVAILABLE, msg);
    if let Ok(v) = HeaderValue::from_str(&app.cfg.retry_after_secs.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn tls_acceptor(files: &TlsFiles) -> Result<tokio_rustls::TlsAcceptor, ReceiverError> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| ReceiverError::Tls(format!("certificate {}: {e}", files.cert.display())))?
        .collect::<Result<_, _>>()
        .map_err(|e| ReceiverError::Tls(format!("certificate {}: {e}", files.cert.display())))?;
    if certs.is_empty() {
        return Err(ReceiverError::Tls(format!(
            "certificate {}: no PEM certificate in it",
            files.cert.display()
        )));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| ReceiverError::Tls(format!("private key {}: {e}", files.key.display())))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ReceiverError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| ReceiverError::Tls(format!("certificate and key do not fit: {e}")))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(cfg)))
}

/// Binds and serves until `cancel`; in-flight batches finish (up to 30 s) before the task ends.
pub async fn serve(
    cfg: ReceiverConfig,
    spool: Spool,
    transform: Arc<dyn RecordTransform>,
    cancel: CancellationToken,
) -> Result<Receiver, ReceiverError> {
    let tls = cfg.tls.as_ref().map(tls_acceptor).transpose()?;
    let listener = TcpListener::bind(cfg.listen)
        .await
        .map_err(|source| ReceiverError::Bind {
            addr: cfg.listen,
            source,
        })?;
    let local_addr = listener
        .local_addr()
        .map_err(|source| ReceiverError::Bind {
            addr: cfg.listen,
            source,
        })?;
    if tls.is_none() {
        tracing::warn!(addr = %local_addr, "logpush: serving plain HTTP (no tls: configured); Cloudflare needs HTTPS, so a TLS-terminating proxy must be in front");
    } else {
        tracing::info!(addr = %local_addr, "logpush: serving HTTPS");
    }
    let stats = Arc::new(ReceiverStats::new());
    let app = Arc::new(App {
        permits: Semaphore::new(cfg.max_concurrent.max(1)),
        cfg,
        spool,
        transform,
        stats: stats.clone(),
    });
    let router = Router::new().fallback(any(handle)).with_state(app.clone());
    let task = tokio::spawn(accept_loop(listener, tls, router, app, cancel));
    Ok(Receiver {
        local_addr,
        stats,
        task,
    })
}

async fn accept_loop(
    listener: TcpListener,
    tls: Option<tokio_rustls::TlsAcceptor>,
    router: Router,
    app: Arc<App>,
    cancel: CancellationToken,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::service::TowerToHyperService;
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    tracing::warn!(error = %e, "logpush: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = cancel.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let svc = TowerToHyperService::new(router.clone());
        let tls = tls.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let res = match tls {
                Some(acc) => {
                    match tokio::time::timeout(Duration::from_secs(10), acc.accept(stream)).await {
                        Ok(Ok(s)) => {
                            let conn = builder.serve_connection(TokioIo::new(s), svc);
                            watcher.watch(conn.into_owned()).await
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "logpush: TLS handshake failed");
                            return;
                        }
                        Err(_) => return,
                    }
                }
                None => {
                    let conn = builder.serve_connection(TokioIo::new(stream), svc);
                    watcher.watch(conn.into_owned()).await
                }
            };
            if let Err(e) = res {
                tracing::debug!(%peer, error = %e, "logpush: connection ended with an error");
            }
        });
    }
    drop(listener);
    app.permits.close();
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(Duration::from_secs(30)) => {
            tracing::warn!("logpush: in-flight batches did not finish in 30 s; they were not acknowledged and Cloudflare will retry them");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_compare() {
        let cfg = Some(SecretHeader {
            header: "X-Logpush-Secret".into(),
            value: Secret::new("s3cr3t"),
        });
        let mut h = HeaderMap::new();
        assert!(!secret_ok(&cfg, &h));
        h.insert("x-logpush-secret", HeaderValue::from_static("s3cr3"));
        assert!(!secret_ok(&cfg, &h));
        h.insert("x-logpush-secret", HeaderValue::from_static("s3cr3t"));
        assert!(secret_ok(&cfg, &h));
        h.insert("x-logpush-secret", HeaderValue::from_static("S3CR3T"));
        assert!(!secret_ok(&cfg, &h));
        assert!(secret_ok(&None, &HeaderMap::new()));
    }

    #[test]
    fn content_type_and_encoding() {
        let mut h = HeaderMap::new();
        assert!(content_type_ok(&h).is_ok());
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=utf-8"),
        );
        assert!(content_type_ok(&h).is_ok());
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("multipart/form-data"),
        );
        assert!(content_type_ok(&h)
            .unwrap_err()
            .contains("multipart/form-data"));
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("br"));
        assert!(encoding_of(&h).is_err());
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("GZIP"));
        assert_eq!(encoding_of(&h), Ok(Encoding::Gzip));
    }
}
