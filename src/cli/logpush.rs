//! `cfship logpush create|list|delete`: Logpush jobs through the Cloudflare API, made the way
//! cfship's receiver and bucket reader expect them (docs/logpush-delivery.md).

use anyhow::{bail, Context, Result};
use cfship_cloudflare::{
    is_bucket_destination, redact_destination, Auth, ClientConfig, CloudflareClient, JobHealth,
    JobScope, NewJob, Secret,
};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, Args)]
pub struct LogpushArgs {
    #[command(subcommand)]
    pub command: LogpushCommand,
}

#[derive(Debug, Args)]
pub struct Api {
    /// API token ("Zone → Logs: Edit" or "Account → Logs: Edit").
    #[arg(long, env = "CLOUDFLARE_API_TOKEN", hide_env_values = true)]
    pub api_token: String,
    /// API base URL (the simulator's for tests).
    #[arg(long, env = "CLOUDFLARE_API_URL", default_value = cfship_cloudflare::DEFAULT_API_URL)]
    pub api_url: String,
    /// A zone's jobs (zone datasets: http_requests, firewall_events, dns_logs, …).
    #[arg(long, conflicts_with = "account", required_unless_present = "account")]
    pub zone: Option<String>,
    /// An account's jobs (account datasets: audit_logs, gateway_dns, …).
    #[arg(long)]
    pub account: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum LogpushCommand {
    /// Create a job pushing to cfship's HTTPS destination or to a bucket cfship reads.
    ///
    /// HTTPS: `--destination https://logs.example.com:9560` (the path
    /// /cloudflare_logpush/<data stream> is added when missing) and `--secret` (sent by Cloudflare
    /// as the header `--secret-header`); Cloudflare's validation upload must reach a running
    /// receiver. Bucket: `--destination 's3://bucket/cloudflare/http_requests/{DATE}?region=…'` or
    /// `r2://…`; the ownership challenge file is written by Cloudflare and read back here (R2 from
    /// the keys in the destination, S3 with the usual AWS credentials) unless --ownership-token
    /// gives its content.
    Create(Box<CreateArgs>),
    /// List the jobs with their health (exit 1 when a job is disabled or failing).
    List(ListArgs),
    /// Delete a job.
    Delete(DeleteArgs),
    /// Receive Logpush: serve the HTTPS destination and/or read one bucket, into Elasticsearch.
    ///
    /// Every accepted batch is fsynced into the spool before the 2xx; the spool drains into
    /// Elasticsearch (docs/logpush-delivery.md). SIGINT/SIGTERM: stop accepting, finish the
    /// batches in flight, exit 0; the spool is indexed on the next start.
    Receive(Box<ReceiveArgs>),
}

#[derive(Debug, Args)]
pub struct ReceiveArgs {
    /// Listen address of the HTTPS destination (Elastic Agent's port is 9560); omit for bucket only.
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
    /// PEM certificate chain and key (without them: plain HTTP, for a TLS-terminating proxy).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// The header carrying the shared secret (Elastic's `secret.header`).
    #[arg(long, default_value = "X-Logpush-Secret")]
    pub secret_header: String,
    /// The shared secret (Elastic's `secret.value`).
    #[arg(long, env = "LOGPUSH_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    /// Spool directory (bounded, fsynced) and its size limit in MiB.
    #[arg(long, default_value = "./cfship-logpush-spool")]
    pub spool_dir: PathBuf,
    #[arg(long, default_value_t = 4096)]
    pub spool_max_mib: u64,
    /// Largest body accepted, MiB uncompressed (Cloudflare's max_upload_bytes reaches 1000).
    #[arg(long, default_value_t = 1100)]
    pub max_body_mib: u64,
    /// Elasticsearch URL(s).
    #[arg(
        long,
        env = "ELASTICSEARCH_URL",
        value_delimiter = ',',
        required = true
    )]
    pub elasticsearch: Vec<String>,
    /// Elasticsearch API key (`id:key` or base64).
    #[arg(long, env = "ES_API_KEY", hide_env_values = true)]
    pub es_api_key: Option<String>,
    #[arg(long, default_value = "default")]
    pub namespace: String,
    /// Keep records verbatim (under `json`) instead of the ECS transform.
    #[arg(long)]
    pub raw: bool,
    /// A bucket to read: `s3://bucket/prefix/` (R2 and other S3-compatible servers with
    /// --bucket-endpoint), `gs://…`, `az://…`.
    #[arg(long, requires = "bucket_dataset")]
    pub bucket: Option<String>,
    /// The data stream of the bucket's objects (`http_request`).
    #[arg(long)]
    pub bucket_dataset: Option<String>,
    #[arg(long)]
    pub bucket_endpoint: Option<String>,
    #[arg(long)]
    pub bucket_region: Option<String>,
    #[arg(long, env = "LOGPUSH_BUCKET_KEY_ID", hide_env_values = true)]
    pub bucket_key_id: Option<String>,
    #[arg(long, env = "LOGPUSH_BUCKET_SECRET", hide_env_values = true)]
    pub bucket_secret: Option<String>,
    /// First daily folder to read (YYYYMMDD).
    #[arg(long)]
    pub bucket_start_date: Option<String>,
    /// Delete each object once indexed.
    #[arg(long)]
    pub bucket_delete: bool,
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    pub bucket_poll: std::time::Duration,
    /// Where the bucket reader remembers done objects.
    #[arg(long, default_value = "./cfship-logpush-state")]
    pub state_dir: PathBuf,
    /// /metrics and /healthz.
    #[arg(long, default_value = "127.0.0.1:9464")]
    pub metrics_listen: std::net::SocketAddr,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub api: Api,
    /// Data stream (`http_request`) or Cloudflare dataset (`http_requests`).
    #[arg(long)]
    pub dataset: String,
    #[arg(long)]
    pub destination: String,
    /// Job name (default cfship-<dataset>).
    #[arg(long)]
    pub name: Option<String>,
    /// The shared secret the receiver checks (`logpush.secret.value`).
    #[arg(long, env = "LOGPUSH_SECRET", hide_env_values = true)]
    pub secret: Option<String>,
    #[arg(long, default_value = "X-Logpush-Secret")]
    pub secret_header: String,
    /// Comma-separated field names (default: every field of the dataset, from the API).
    #[arg(long, value_delimiter = ',')]
    pub fields: Vec<String>,
    /// Timestamp format of the records; Elastic's pipelines parse rfc3339 (the dashboard default).
    #[arg(long, default_value = "rfc3339", value_parser = ["rfc3339", "rfc3339ms", "rfc3339ns", "unix", "unixnano"])]
    pub timestamps: String,
    /// Content of the ownership challenge file (bucket destinations), if it cannot be read here.
    #[arg(long)]
    pub ownership_token: Option<String>,
    /// S3-compatible endpoint to read the challenge file from (default: R2's from account-id).
    #[arg(long)]
    pub bucket_endpoint: Option<String>,
    #[arg(long)]
    pub max_upload_bytes: Option<u64>,
    #[arg(long)]
    pub max_upload_records: Option<u64>,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    #[command(flatten)]
    pub api: Api,
}

#[derive(Debug, Args)]
pub struct DeleteArgs {
    #[command(flatten)]
    pub api: Api,
    #[arg(long)]
    pub id: u64,
}

fn connect(api: &Api) -> Result<(CloudflareClient, Auth, JobScope)> {
    let mut cfg = ClientConfig::with_api_url(&api.api_url)?;
    cfg.retry.max_attempts = cfg.retry.max_attempts.max(1);
    let client = CloudflareClient::new(cfg)?;
    let scope = match (&api.zone, &api.account) {
        (Some(z), _) => JobScope::Zone(z.clone()),
        (None, Some(a)) => JobScope::Account(a.clone()),
        (None, None) => bail!("--zone or --account is required"),
    };
    Ok((
        client,
        Auth::Token(Secret::new(api.api_token.clone())),
        scope,
    ))
}

/// Percent-encodes all but RFC 3986's unreserved characters (Cloudflare: `%20` for a space).
fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The `destination_conf` for an HTTPS destination: Elastic's path when none is given, the JSON
/// Content-Type and the secret as `header_*` parameters.
pub fn http_destination(dest: &str, ds: &str, secret: Option<(&str, &str)>) -> Result<String> {
    let mut url =
        url::Url::parse(dest).with_context(|| format!("--destination {dest:?} is not a URL"))?;
    if url.path() == "/" || url.path().is_empty() {
        url.set_path(&format!("/cloudflare_logpush/{ds}"));
    }
    let mut out = url.to_string();
    let mut params = vec![format!(
        "header_Content-Type={}",
        percent("application/json")
    )];
    if let Some((h, v)) = secret {
        params.push(format!("header_{h}={}", percent(v)));
    }
    out.push(if url.query().is_some() { '&' } else { '?' });
    out.push_str(&params.join("&"));
    Ok(out)
}

/// Reads the ownership challenge file Cloudflare wrote into the destination bucket.
async fn read_challenge(dest: &str, file: &str, endpoint: Option<&str>) -> Result<String> {
    use object_store::ObjectStoreExt;
    let url = url::Url::parse(dest)
        .with_context(|| format!("destination {:?}", redact_destination(dest)))?;
    let bucket = url.host_str().unwrap_or_default().to_string();
    let dir = url
        .path()
        .trim_matches('/')
        .replace("%7BDATE%7D", "")
        .replace("{DATE}", "");
    let q: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
    let (s3_url, endpoint, key, secret) = match url.scheme() {
        "r2" => (
            format!("s3://{bucket}/"),
            endpoint
                .map(str::to_string)
                .or_else(|| q.get("account-id").map(|a| format!("https://{a}.r2.cloudflarestorage.com"))),
            q.get("access-key-id").cloned(),
            q.get("secret-access-key").cloned(),
        ),
        "s3" => (
            format!("s3://{bucket}/"),
            endpoint.map(str::to_string),
            std::env::var("AWS_ACCESS_KEY_ID").ok(),
            std::env::var("AWS_SECRET_ACCESS_KEY").ok(),
        ),
        other => bail!("cannot read the ownership challenge from a {other}:// bucket here: pass --ownership-token"),
    };
    let mut cfg = cfship_logpush::BucketConfig::new(s3_url, &cfship_logpush::DATA_STREAMS[0]);
    cfg.endpoint = endpoint;
    cfg.region = q.get("region").cloned();
    cfg.access_key_id = key.map(Secret::new);
    cfg.secret_access_key = secret.map(Secret::new);
    let (store, _) = cfship_logpush::bucket::open_store(&cfg)?;
    // the file name Cloudflare returns may already carry the destination's path
    let file = file.trim_start_matches('/');
    let path = if dir.is_empty() || file.starts_with(&dir) {
        file.to_string()
    } else {
        format!("{}/{file}", dir.trim_end_matches('/'))
    };
    let got = store
        .get(&object_store::path::Path::from(path.as_str()))
        .await
        .with_context(|| {
            format!("reading the ownership challenge {path:?} from bucket {bucket}")
        })?;
    let bytes = got.bytes().await?;
    Ok(String::from_utf8_lossy(&bytes).trim().to_string())
}

/// Runs the subcommand; returns the lines to print and whether everything is healthy.
pub async fn run(args: LogpushArgs) -> Result<(Vec<String>, bool)> {
    match args.command {
        LogpushCommand::Create(a) => {
            let (client, auth, scope) = connect(&a.api)?;
            let ds = cfship_logpush::datasets::find(&a.dataset).with_context(|| {
                format!(
                    "unknown dataset {:?}: one of {}",
                    a.dataset,
                    cfship_logpush::datasets::names()
                )
            })?;
            let scope_ok = matches!(
                (&scope, ds.scope),
                (JobScope::Zone(_), cfship_logpush::Scope::Zone)
                    | (JobScope::Account(_), cfship_logpush::Scope::Account)
            );
            if !scope_ok {
                bail!(
                    "dataset {} is a {} dataset: use --{}",
                    ds.cloudflare,
                    ds.scope.path().trim_end_matches('s'),
                    ds.scope.path().trim_end_matches('s')
                );
            }
            let mut lines = Vec::new();
            let (destination, ownership) = if is_bucket_destination(&a.destination) {
                let token = match &a.ownership_token {
                    Some(t) => t.clone(),
                    None => {
                        let file = client
                            .logpush_ownership(&auth, &scope, &a.destination)
                            .await?;
                        lines.push(format!("ownership challenge written by Cloudflare: {file}"));
                        read_challenge(&a.destination, &file, a.bucket_endpoint.as_deref()).await?
                    }
                };
                (a.destination.clone(), Some(token))
            } else {
                let secret = a.secret.as_deref().map(|s| (a.secret_header.as_str(), s));
                if secret.is_none() {
                    lines.push(
                        "warning: no --secret: anyone who finds the URL can push documents".into(),
                    );
                }
                (http_destination(&a.destination, ds.name, secret)?, None)
            };
            let job = NewJob {
                dataset: ds.cloudflare.to_string(),
                name: a
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("cfship-{}", ds.name)),
                destination_conf: destination,
                fields: a.fields.clone(),
                timestamp_format: a.timestamps.clone(),
                ownership_challenge: ownership,
                max_upload_bytes: a.max_upload_bytes,
                max_upload_records: a.max_upload_records,
                max_upload_interval_seconds: None,
            };
            let created = client.create_logpush_job(&auth, &scope, &job).await?;
            lines.push(format!(
                "created Logpush job {} ({}, {}) → {}",
                created.id,
                created.dataset.as_deref().unwrap_or(ds.cloudflare),
                scope.describe(),
                redact_destination(&created.destination_conf)
            ));
            Ok((lines, true))
        }
        LogpushCommand::List(a) => {
            let (client, auth, scope) = connect(&a.api)?;
            let jobs = client.logpush_jobs(&auth, &scope).await?;
            let mut ok = true;
            let mut lines = Vec::new();
            for j in &jobs {
                let health = match j.health() {
                    JobHealth::Healthy => "healthy".to_string(),
                    JobHealth::Disabled => {
                        ok = false;
                        "DISABLED (Cloudflare pushes nothing; logs of this dataset are being lost)"
                            .to_string()
                    }
                    JobHealth::Failing { since, message } => {
                        ok = false;
                        format!("FAILING since {since}: {message}")
                    }
                };
                lines.push(format!(
                    "job {} {} {:?}: {health}; last complete {}; → {}",
                    j.id,
                    j.dataset.as_deref().unwrap_or("?"),
                    j.name.as_deref().unwrap_or(""),
                    j.last_complete.as_deref().unwrap_or("never"),
                    redact_destination(&j.destination_conf)
                ));
            }
            lines.push(format!(
                "{} Logpush jobs in {}",
                jobs.len(),
                scope.describe()
            ));
            Ok((lines, ok))
        }
        LogpushCommand::Receive(a) => receive(*a).await.map(|()| (Vec::new(), true)),
        LogpushCommand::Delete(a) => {
            let (client, auth, scope) = connect(&a.api)?;
            client.delete_logpush_job(&auth, &scope, a.id).await?;
            Ok((
                vec![format!(
                    "deleted Logpush job {} in {}",
                    a.id,
                    scope.describe()
                )],
                true,
            ))
        }
    }
}

async fn receive(a: ReceiveArgs) -> Result<()> {
    use cfship_logpush::{DocSink, RecordTransform};
    if a.listen.is_none() && a.bucket.is_none() {
        bail!("nothing to receive: give --listen (the HTTPS destination) and/or --bucket");
    }
    let mut es = cfship_elasticsearch::EsConfig {
        hosts: a.elasticsearch.clone(),
        namespace: a.namespace.clone(),
        ..Default::default()
    };
    if let Some(k) = &a.es_api_key {
        es.auth =
            cfship_elasticsearch::EsAuth::ApiKey(cfship_elasticsearch::Secret::new(k.clone()));
    }
    es.dead_letter.path = a.spool_dir.join("dead-letter.ndjson");
    let sink = cfship_elasticsearch::ElasticsearchSink::connect(es)
        .await
        .context("connecting to Elasticsearch")?;
    let sink: Arc<dyn DocSink> = Arc::new(sink);
    let base = cfship_ecs::Transformer::new(cfship_ecs::Options::default(), None)?;
    let transform = |shape| -> Arc<dyn RecordTransform> {
        if a.raw {
            Arc::new(cfship_logpush::RawTransform::new(a.namespace.clone()))
        } else {
            Arc::new(cfship_logpush::EcsTransform::new(
                &base,
                &a.namespace,
                shape,
            ))
        }
    };
    let spool = cfship_logpush::Spool::open(&a.spool_dir, a.spool_max_mib << 20)?;
    let cancel = tokio_util::sync::CancellationToken::new();
    {
        let c = cancel.clone();
        tokio::spawn(async move {
            let mut term =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending::<()>().await } } => {}
            }
            tracing::info!(
                "logpush receive: stopping (batches in flight finish; the spool is kept)"
            );
            c.cancel();
        });
    }
    let drain = {
        let (s, k, c) = (spool.clone(), sink.clone(), cancel.clone());
        tokio::spawn(async move {
            s.drain(k, 2000, 8 << 20, std::time::Duration::from_secs(2), c)
                .await
        })
    };
    let mut stats = None;
    let mut rx_task = None;
    if let Some(listen) = a.listen {
        let mut cfg = cfship_logpush::ReceiverConfig::new(listen);
        cfg.tls = match (&a.tls_cert, &a.tls_key) {
            (Some(c), Some(k)) => Some(cfship_logpush::TlsFiles {
                cert: c.clone(),
                key: k.clone(),
            }),
            _ => None,
        };
        cfg.secret = a.secret.as_ref().map(|v| cfship_logpush::SecretHeader {
            header: a.secret_header.clone(),
            value: Secret::new(v.clone()),
        });
        if cfg.secret.is_none() {
            tracing::warn!("logpush: no --secret: any client can push documents");
        }
        cfg.limits.max_body_bytes = a.max_body_mib << 20;
        let rx = cfship_logpush::serve(
            cfg,
            spool.clone(),
            transform(cfship_logpush::Shape::Http),
            cancel.clone(),
        )
        .await?;
        println!("logpush: listening on {}", rx.local_addr);
        stats = Some(rx.stats.clone());
        rx_task = Some(rx.task);
    }
    let mut bucket_stats = None;
    let mut bucket_task = None;
    if let Some(url) = &a.bucket {
        let name = a.bucket_dataset.as_deref().unwrap_or_default();
        let ds = cfship_logpush::datasets::find(name).with_context(|| {
            format!(
                "--bucket-dataset {name:?}: one of {}",
                cfship_logpush::datasets::names()
            )
        })?;
        let mut b = cfship_logpush::BucketConfig::new(url.clone(), ds);
        b.endpoint = a.bucket_endpoint.clone();
        b.region = a.bucket_region.clone();
        b.access_key_id = a.bucket_key_id.clone().map(Secret::new);
        b.secret_access_key = a.bucket_secret.clone().map(Secret::new);
        b.start_date = a.bucket_start_date.clone();
        b.delete_after = a.bucket_delete;
        b.poll_interval = a.bucket_poll;
        let store = Arc::new(cfship_state::CursorStore::open(&a.state_dir)?);
        let reader = cfship_logpush::BucketReader::new(
            b,
            store,
            transform(cfship_logpush::Shape::Bucket),
            sink.clone(),
        )?;
        bucket_stats = Some(reader.stats.clone());
        let c = cancel.clone();
        bucket_task = Some(tokio::spawn(async move { reader.run(c).await }));
    }
    // /metrics and /healthz
    let metrics = {
        let spool_h = spool.clone();
        let spool = spool.clone();
        let source = a.bucket.clone().unwrap_or_default();
        let render = move || {
            let mut out = String::new();
            match &stats {
                Some(s) => s.render(&spool, &mut out),
                None => cfship_logpush::receiver::render_spool(&spool, &mut out),
            }
            if let Some(b) = &bucket_stats {
                b.render(&source, &mut out);
            }
            out
        };
        let app = axum::Router::new()
            .route(
                "/metrics",
                axum::routing::get(move || {
                    let r = render.clone();
                    async move { r() }
                }),
            )
            .route(
                "/healthz",
                axum::routing::get(move || {
                    let full = spool_h.status().full();
                    async move {
                        if full {
                            (
                                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                                "spool full: Elasticsearch is not keeping up",
                            )
                        } else {
                            (axum::http::StatusCode::OK, "ok")
                        }
                    }
                }),
            );
        let l = tokio::net::TcpListener::bind(a.metrics_listen)
            .await
            .with_context(|| format!("metrics listen {}", a.metrics_listen))?;
        let c = cancel.clone();
        tokio::spawn(async move {
            let _ = axum::serve(l, app)
                .with_graceful_shutdown(async move { c.cancelled().await })
                .await;
        })
    };
    cancel.cancelled().await;
    if let Some(t) = rx_task {
        let _ = t.await;
    }
    if let Some(t) = bucket_task {
        if let Ok(Err(e)) = t.await {
            tracing::error!(error = %e, "logpush bucket stopped");
        }
    }
    let _ = drain.await;
    let _ = metrics.await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_destination_gets_elastic_path_and_headers() {
        let d = http_destination(
            "https://logs.example.com:9560",
            "http_request",
            Some(("X-Logpush-Secret", "a b&c")),
        )
        .unwrap();
        assert_eq!(
            d,
            "https://logs.example.com:9560/cloudflare_logpush/http_request?header_Content-Type=application%2Fjson&header_X-Logpush-Secret=a%20b%26c"
        );
        let d = http_destination("https://h/custom?x=1", "dns", None).unwrap();
        assert_eq!(
            d,
            "https://h/custom?x=1&header_Content-Type=application%2Fjson"
        );
    }
}
