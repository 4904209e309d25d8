//! The one place a configuration becomes running parts (`run`, `backfill`, `demo`, `check`):
//! configuration sections → component configurations, the outputs and the pipeline, and one loop
//! that spawns a collector (daemon) or a backfill per zone and account.

use crate::app::signals::EsSlot;
use crate::config::{AuditApiChoice, Config, ConfigError, Source};
use crate::metrics::Metrics;
use crate::output::{EsOutput, FileOutput, Output, SummaryOutput};
use crate::pipeline::{Pipeline, PipelineError, PipelineOptions};
use anyhow::{Context, Result};
use cfship_cloudflare::{
    backfill_audit, backfill_logpull, AuditApi, AuditCollector, AuditConfig, CfError, ClientConfig,
    Clock, CloudflareClient, LogpullCollector, LogpullConfig, ProgressEvent, RecordSink,
    RunSummary,
};
use cfship_ecs::GeoIp;
use cfship_elasticsearch::{ElasticsearchSink, EsConfig, EsError};
use cfship_retry::{retry, Backoff, Decision, Jitter, Policy, Retrying, Stop};
use cfship_state::CursorStore;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Reads a configuration file and checks every rule: the file's own (`Config::load`) and each
/// component's (see [`check_components`]). What `run`, `backfill`, `check` and `setup` start from.
pub fn load_config(path: &std::path::Path) -> Result<Config, ConfigError> {
    let cfg = Config::load(path)?;
    check_components(&cfg)?;
    Ok(cfg)
}

/// The cursor store of `run`: the state directory (locked for this process) or, with
/// `state.backend: elasticsearch`, the state index on the output's cluster (created by `setup`).
pub fn open_state(cfg: &Config) -> anyhow::Result<CursorStore> {
    open_state_with(cfg, true)
}

/// [`open_state`]; `leased: false` gives an Elasticsearch store without leases (its cursor writes
/// use optimistic concurrency only).
pub fn open_state_with(cfg: &Config, leased: bool) -> anyhow::Result<CursorStore> {
    use anyhow::Context;
    match cfg.state.backend {
        crate::config::StateBackend::File => CursorStore::open_exclusive(&cfg.state.dir)
            .with_context(|| format!("state dir {}", cfg.state.dir.display())),
        crate::config::StateBackend::Elasticsearch => {
            let mut es = es_config(cfg)
                .context("`state.backend: elasticsearch` needs an `elasticsearch:` section")?;
            if leased {
                es.timeout = es.timeout.min(state_request_timeout(lease_ttl(cfg)));
            }
            let index = cfg.state.index_name();
            let mut store = cfship_state::EsStore::open(&es, index)
                .with_context(|| format!("state index {index}"))?;
            if let Some(f) = store
                .format()
                .filter(|f| *f < cfship_state::STATE_MAPPING_VERSION)
            {
                anyhow::bail!(
                    "state index {index} has mapping format {f}, this cfship writes format {}: run                      `cfship setup --config FILE` to migrate it (it only adds fields; replicas of the                      older cfship keep working until they restart)",
                    cfship_state::STATE_MAPPING_VERSION
                );
            }
            if leased {
                store = store.with_lease(replica_id(), lease_ttl(cfg));
            }
            Ok(store.into())
        }
    }
}

/// The time limit of each state-index request of a replica with leases: `TTL / 8`, at least 1 s.
/// A supervisor only sees a lost lease when its renewal returns, and a renewal may wait behind one
/// other state request (a cursor save) before its own: with both bounded by `TTL / 8`, a renewal
/// sent at its tick (every `TTL / 3`) returns within `TTL / 4` even when Elasticsearch hangs, so
/// the check "last success `2/3 TTL` ago: stop" runs before `11/12 TTL`, i.e. before the lease can
/// expire (`elasticsearch.timeout`, 60 s by default, would let a hung renewal outlive the lease).
pub fn state_request_timeout(ttl: Duration) -> Duration {
    (ttl / 8).max(Duration::from_secs(1))
}

/// Default of `state.lease_ttl`.
pub const DEFAULT_LEASE_TTL: Duration = Duration::from_secs(30);

pub fn lease_ttl(cfg: &Config) -> Duration {
    cfg.state
        .lease_ttl
        .unwrap_or(DEFAULT_LEASE_TTL)
        .max(Duration::from_secs(1))
}

/// This process's replica id: `CFSHIP_REPLICA_ID`, else `<hostname>-<pid>` (a pod name on
/// Kubernetes).
pub fn replica_id() -> String {
    if let Ok(id) = std::env::var("CFSHIP_REPLICA_ID") {
        if !id.trim().is_empty() {
            return id.trim().to_string();
        }
    }
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .unwrap_or_else(|| "cfship".into());
    format!("{host}-{}", std::process::id())
}

/// [`load_config`] plus what collecting needs (`run`, `backfill`): a source and an output.
pub fn load_config_to_collect(path: &std::path::Path) -> Result<Config, ConfigError> {
    let cfg = load_config(path)?;
    cfg.require_source()?;
    cfg.require_output()?;
    Ok(cfg)
}

/// [`load_config`] of a text (`origin` names it in errors; `env` looks variables up).
pub fn parse_config(
    text: &str,
    origin: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Config, ConfigError> {
    let cfg = Config::parse(text, origin, env)?;
    check_components(&cfg)?;
    Ok(cfg)
}

/// [`load_config`] of a configuration built in code (the demo).
pub fn config_from_value(v: serde_json::Value, origin: &str) -> Result<Config, ConfigError> {
    let cfg = Config::from_value(v, origin)?;
    check_components(&cfg)?;
    Ok(cfg)
}

/// Builds every component configuration the file describes and checks it with the component's
/// own rules (the one place each rule lives); this adds the line of the offending key.
pub fn check_components(cfg: &Config) -> Result<(), ConfigError> {
    let setting = |e: CfError| match e {
        CfError::Setting {
            section,
            key,
            reason,
        } => cfg.error_at(section, key, &format!("`{section}.{key}` {reason}")),
        e => ConfigError(e.to_string()),
    };
    for z in cfg.zones() {
        logpull_config(cfg, &z).validate().map_err(setting)?;
    }
    for a in cfg.accounts() {
        audit_config(cfg, &a).validate().map_err(setting)?;
    }
    super::logpush::check(cfg)?;
    if let Some(es) = es_config(cfg) {
        es.validate().map_err(|e| match e {
            EsError::Setting { key, reason } => cfg.error_at(
                "elasticsearch",
                key,
                &format!("`elasticsearch.{key}` {reason}"),
            ),
            e => ConfigError(e.to_string()),
        })?;
    }
    Ok(())
}

/// The Cloudflare client of a configuration (one shared rate limiter for every source).
pub fn cloudflare_client(cfg: &Config) -> Result<CloudflareClient> {
    let mut cc =
        ClientConfig::with_api_url(&cfg.cloudflare.api_url).context("cloudflare.api_url")?;
    if let Some(n) = cfg.cloudflare.requests_per_5min {
        cc.requests_per_5min = n.max(1);
    }
    CloudflareClient::new(cc).context("building the Cloudflare client")
}

/// The collector configuration of one zone.
pub fn logpull_config(cfg: &Config, zone: &Source) -> LogpullConfig {
    let mut c = LogpullConfig::new(zone.id.clone(), zone.credentials.to_auth());
    if let Some(l) = &cfg.logpull {
        if let Some(i) = l.interval {
            c.interval = i;
        }
        c.bot_fields = l.bot_fields;
        c.fields = l
            .fields
            .as_ref()
            .and_then(|f| f.list())
            .map(<[String]>::to_vec);
        c.modern = l.fields == Some(crate::config::LogpullFields::Modern);
        c.sample = l.sample;
        c.timestamps = l.timestamps;
        if let Some(w) = l.max_window {
            c.max_window = w;
        }
        if let Some(lb) = l.initial_lookback {
            c.initial_lookback = lb;
        }
    }
    c
}

/// The collector configuration of one account.
pub fn audit_config(cfg: &Config, account: &Source) -> AuditConfig {
    let mut c = AuditConfig::new(account.id.clone(), account.credentials.to_auth());
    if let Some(a) = &cfg.audit {
        if let Some(i) = a.interval {
            c.interval = i;
        }
        if let Some(lb) = a.initial_lookback {
            c.initial_lookback = lb;
        }
        c.api = match a.api {
            AuditApiChoice::V1 => AuditApi::V1,
            AuditApiChoice::V2 => AuditApi::V2,
        };
        if let Some(p) = a.per_page {
            c.per_page = p;
        }
    }
    c
}

/// Connects to Elasticsearch, retrying while it is unreachable (until `cancel`), and installs the
/// index templates when asked.
/// `/healthz` is "not ready: waiting for Elasticsearch since …" (in `metrics`) until it answers.
pub async fn connect_es_retrying(
    es_cfg: cfship_elasticsearch::EsConfig,
    install_templates: bool,
    cancel: &CancellationToken,
    metrics: Option<&Metrics>,
) -> Result<ElasticsearchSink> {
    if let Some(m) = metrics {
        m.health.es_waiting(chrono::Utc::now(), "connecting");
    }
    // Doubling from 500 ms to 15 s, no jitter: one connection, nobody to spread out.
    let policy = Policy::forever(Backoff::new(
        Duration::from_millis(500),
        Duration::from_secs(15),
        Jitter::None,
    ));
    let connect = || async {
        let sink = ElasticsearchSink::connect(es_cfg.clone()).await?;
        if install_templates {
            for o in sink.ensure_templates().await? {
                tracing::debug!(outcome = ?o, "index template");
            }
        }
        Ok::<_, EsError>(sink)
    };
    let classify = |e: &EsError| match e {
        EsError::Unreachable { .. }
        | EsError::Http {
            status: 500..=599, ..
        } => {
            if let Some(m) = metrics {
                m.health.es_waiting(chrono::Utc::now(), &e.to_string());
            }
            Decision::Backoff
        }
        _ => Decision::GiveUp,
    };
    let on_retry = |r: &Retrying<'_, EsError>| {
        tracing::warn!(error = %r.error, retry_in = ?r.wait, "Elasticsearch not available yet, retrying");
    };
    match retry(policy, Some(cancel), connect, classify, on_retry).await {
        Ok(s) => {
            if let Some(m) = metrics {
                m.health.es_ready();
            }
            Ok(s)
        }
        Err(Stop::Cancelled { error, .. }) => {
            anyhow::bail!("cancelled while waiting for Elasticsearch: {error}")
        }
        Err(stop) => Err(anyhow::Error::new(stop.into_error()).context("Elasticsearch output")),
    }
}

/// The Elasticsearch sink configuration, if the output is configured.
pub fn es_config(cfg: &Config) -> Option<cfship_elasticsearch::EsConfig> {
    let es = cfg.elasticsearch.as_ref()?;
    let mut c = cfship_elasticsearch::EsConfig {
        hosts: es.hosts.clone(),
        cloud_id: es.cloud_id.clone(),
        ca_file: es.ca_file.clone(),
        insecure: es.insecure,
        ..Default::default()
    };
    if let Some(ns) = &es.namespace {
        c.namespace = ns.clone();
    }
    c.auth = if let Some(k) = &es.api_key {
        cfship_elasticsearch::EsAuth::ApiKey(cfship_elasticsearch::Secret::new(k.expose()))
    } else if let (Some(u), Some(p)) = (&es.username, &es.password) {
        cfship_elasticsearch::EsAuth::Basic {
            username: u.clone(),
            password: cfship_elasticsearch::Secret::new(p.expose()),
        }
    } else if let Some(t) = &es.bearer_token {
        cfship_elasticsearch::EsAuth::Bearer(cfship_elasticsearch::Secret::new(t.expose()))
    } else {
        cfship_elasticsearch::EsAuth::None
    };
    c.client_cert = es.client_cert.clone();
    c.client_key = es.client_key.clone();
    for (k, v) in &es.headers {
        c.headers
            .insert(k.clone(), cfship_elasticsearch::Secret::new(v.expose()));
    }
    if let Some(t) = es.timeout {
        c.timeout = t;
    }
    c.dead_letter.index = es.dead_letter_index.clone();
    c.dead_letter.path = es
        .dead_letter_path
        .clone()
        .unwrap_or_else(|| cfg.state.dir.join("dead-letter.ndjson"));
    if let Some(n) = es.max_in_flight {
        c.max_in_flight = n.max(1);
    }
    if let Some(n) = es.batch_max_docs {
        c.batch.max_docs = n.max(1);
    }
    c.compression_level = match es.compression_level {
        Some(level) => level,
        None if c.all_hosts_loopback() => 0,
        None => c.compression_level,
    };
    Some(c)
}

/// How documents are made: namespace, transform options, GeoIP databases (opened here).
pub fn pipeline_options(cfg: &Config) -> Result<PipelineOptions, PipelineError> {
    let geoip = match &cfg.geoip {
        Some(g) => Some(Arc::new(GeoIp::open_dir(&g.dir).map_err(|source| {
            PipelineError::GeoIp {
                dir: g.dir.display().to_string(),
                source,
            }
        })?)),
        None => None,
    };
    Ok(PipelineOptions {
        // the documents' data stream namespace is the sink's (its default also without it)
        namespace: es_config(cfg)
            .map(|c| c.namespace)
            .unwrap_or_else(|| EsConfig::default().namespace),
        transform: cfg.transform.clone(),
        geoip,
        logpull_fields: cfg.logpull.as_ref().and_then(|l| {
            cfship_cloudflare::logpull::custom_field_set(
                l.fields.as_ref().and_then(|f| f.list()),
                l.bot_fields,
            )
            .map(Arc::new)
        }),
        ..Default::default()
    })
}

/// How the units of a source are collected, which decides how the file output de-duplicates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collection {
    /// `run`: one unit per source at a time, cursors saved; the file output journals its writes
    /// (state dir) and is exactly-once across crashes.
    Daemon,
    /// `backfill`, `demo`: units of one source in parallel, no cursor; the file output
    /// de-duplicates per unit in flight.
    Parallel,
}

/// The outputs and pipeline of a configuration.
pub struct Outputs {
    pub pipeline: Arc<Pipeline>,
    pub es: Option<ElasticsearchSink>,
    pub file: Option<Arc<FileOutput>>,
    /// The demo summary, when asked for.
    pub summary: Option<Arc<SummaryOutput>>,
    pub metrics: Arc<Metrics>,
}

/// Builds the pipeline with the configured outputs (Elasticsearch connected, templates installed,
/// retrying until `cancel` while it is unreachable; the sink is put in `es_slot` for the second
/// signal). `opts` is normally [`pipeline_options`] of `cfg`; `summary` adds the demo summary.
pub async fn build_outputs(
    cfg: &Config,
    opts: PipelineOptions,
    collection: Collection,
    summary: bool,
    cancel: &CancellationToken,
    es_slot: &EsSlot,
    metrics: Arc<Metrics>,
) -> Result<Outputs> {
    if cfg.elasticsearch.is_none() && cfg.file.is_none() {
        anyhow::bail!(
            "no output configured: add an `elasticsearch:` section and/or `file: {{path: …}}` to the config"
        );
    }
    let mut outputs: Vec<Arc<dyn Output>> = Vec::new();
    let es = match es_config(cfg) {
        Some(c) => {
            let sink = connect_es_retrying(c, true, cancel, Some(&metrics)).await?;
            // a second signal must make pending Elasticsearch retries give up
            let _ = es_slot.set(sink.clone());
            metrics.set_sink_stats(sink.stats());
            outputs.push(Arc::new(EsOutput::new(sink.clone())));
            Some(sink)
        }
        None => None,
    };
    let file = match (&cfg.file, collection) {
        (Some(f), Collection::Daemon) => {
            let journal = cfg.state.dir.join("file-output.journal");
            Some(Arc::new(FileOutput::per_source(&f.path, Some(&journal))?))
        }
        (Some(f), Collection::Parallel) => Some(Arc::new(FileOutput::per_unit(&f.path))),
        (None, _) => None,
    };
    if let Some(f) = &file {
        outputs.push(f.clone());
    }
    let summary = summary.then(|| Arc::new(SummaryOutput::default()));
    if let Some(s) = &summary {
        outputs.push(s.clone());
    }
    let pipeline = Arc::new(Pipeline::new(opts, outputs, metrics.clone())?);
    Ok(Outputs {
        pipeline,
        es,
        file,
        summary,
        metrics,
    })
}

/// The collector configurations of every configured zone and account (callers adjust them:
/// `--once`'s clock, `--parallel`, the demo's per-zone bot fields).
#[derive(Clone)]
pub struct Sources {
    pub logpull: Vec<LogpullConfig>,
    pub audit: Vec<AuditConfig>,
}

impl Sources {
    pub fn from_config(cfg: &Config) -> Self {
        Sources {
            logpull: cfg.zones().iter().map(|z| logpull_config(cfg, z)).collect(),
            audit: cfg
                .accounts()
                .iter()
                .map(|a| audit_config(cfg, a))
                .collect(),
        }
    }
}

/// Stall watchdog default: this many intervals without a successful unit…
pub const STALL_INTERVALS: u32 = 3;
/// …and never less than this (rate-limit waits and retries of a healthy source stay below it).
pub const MIN_STALL_AFTER: Duration = Duration::from_secs(300);

/// Registers every source of `sources` with the health report and the lag metric before anything
/// slow starts: each one is listed from the start, with the lag of its saved cursor (so a restart
/// does not hide a source until its next event).
pub fn watch_sources(
    cfg: &Config,
    sources: &Sources,
    store: &CursorStore,
    client: &CloudflareClient,
    metrics: &Metrics,
) {
    let now = crate::metrics::now_unix();
    let stall = |interval: Duration| {
        cfg.metrics
            .stall_after
            .unwrap_or((interval * STALL_INTERVALS).max(MIN_STALL_AFTER))
    };
    for lc in &sources.logpull {
        let id = cfship_cloudflare::SourceId::Logpull {
            zone_id: lc.zone_id.clone(),
        };
        let st = client.stats().source(&id);
        if let Ok(Some(c)) = store.load::<cfship_cloudflare::LogpullCursor>(&id.state_key()) {
            st.cursor_unix.store(
                c.next_start.timestamp(),
                std::sync::atomic::Ordering::Relaxed,
            );
        }
        metrics
            .health
            .watch("logpull", &lc.zone_id, stall(lc.interval), now);
    }
    for ac in &sources.audit {
        let id = cfship_cloudflare::SourceId::Audit {
            account_id: ac.account_id.clone(),
        };
        let st = client.stats().source(&id);
        if let Ok(Some(c)) = store.load::<cfship_cloudflare::AuditCursor>(&id.state_key()) {
            st.cursor_unix
                .store(c.when.timestamp(), std::sync::atomic::Ordering::Relaxed);
        }
        metrics
            .health
            .watch("audit", &ac.account_id, stall(ac.interval), now);
    }
}

/// Hears the progress of a backfill: (source name, event).
pub type Progress = Arc<dyn Fn(&str, ProgressEvent) + Send + Sync>;

/// What the spawned tasks do.
pub enum Mode {
    /// The daemon's collectors, with cursors in `store`; `once` stops each at "caught up".
    Daemon { store: Arc<CursorStore>, once: bool },
    /// A range, no cursors; `progress` hears every unit done or retried.
    Backfill {
        since: chrono::DateTime<chrono::Utc>,
        until: chrono::DateTime<chrono::Utc>,
        progress: Progress,
    },
}

/// One task per source: `(name, result)`, the name like `logpull zone <id>`.
pub type SourceTasks = JoinSet<(String, Result<RunSummary, CfError>)>;

/// Spawns one task per zone and per account. A daemon collector whose configuration is invalid
/// stops everything before any task starts; a backfill reports it as that source's failure.
pub fn spawn_sources(
    client: &CloudflareClient,
    sources: Sources,
    mode: &Mode,
    sink: Arc<dyn RecordSink>,
    cancel: &CancellationToken,
) -> Result<SourceTasks> {
    let mut tasks = JoinSet::new();
    for lc in sources.logpull {
        let name = format!("logpull zone {}", lc.zone_id);
        match mode {
            Mode::Daemon { store, once } => {
                let c = LogpullCollector::new(client.clone(), lc, store.clone(), sink.clone())?;
                spawn_daemon(&mut tasks, name, c, *once, cancel.clone());
            }
            Mode::Backfill {
                since,
                until,
                progress,
            } => {
                let (client, sink, since, until) = (client.clone(), sink.clone(), *since, *until);
                spawn_backfill(
                    &mut tasks,
                    name,
                    progress,
                    cancel,
                    move |p, cancel| async move {
                        backfill_logpull(&client, lc, since, until, sink, cancel, p).await
                    },
                );
            }
        }
    }
    for ac in sources.audit {
        let name = format!("audit account {}", ac.account_id);
        match mode {
            Mode::Daemon { store, once } => {
                let c = AuditCollector::new(client.clone(), ac, store.clone(), sink.clone())?;
                spawn_daemon(&mut tasks, name, c, *once, cancel.clone());
            }
            Mode::Backfill {
                since,
                until,
                progress,
            } => {
                let (client, sink, since, until) = (client.clone(), sink.clone(), *since, *until);
                spawn_backfill(
                    &mut tasks,
                    name,
                    progress,
                    cancel,
                    move |p, cancel| async move {
                        backfill_audit(&client, ac, since, until, sink, cancel, p).await
                    },
                );
            }
        }
    }
    Ok(tasks)
}

/// What the daemon runs of a collector (both collectors have these methods).
trait Collector: Send + Sync + 'static {
    /// For log lines: `Logpull`, `audit`.
    const KIND: &'static str;
    fn run_once(
        &self,
        cancel: CancellationToken,
    ) -> impl std::future::Future<Output = Result<RunSummary, CfError>> + Send;
    fn run(
        &self,
        cancel: CancellationToken,
    ) -> impl std::future::Future<Output = Result<(), CfError>> + Send;
}

impl Collector for LogpullCollector {
    const KIND: &'static str = "Logpull";
    fn run_once(
        &self,
        cancel: CancellationToken,
    ) -> impl std::future::Future<Output = Result<RunSummary, CfError>> + Send {
        LogpullCollector::run_once(self, cancel)
    }
    fn run(
        &self,
        cancel: CancellationToken,
    ) -> impl std::future::Future<Output = Result<(), CfError>> + Send {
        LogpullCollector::run(self, cancel)
    }
}

impl Collector for AuditCollector {
    const KIND: &'static str = "audit";
    fn run_once(
        &self,
        cancel: CancellationToken,
    ) -> impl std::future::Future<Output = Result<RunSummary, CfError>> + Send {
        AuditCollector::run_once(self, cancel)
    }
    fn run(
        &self,
        cancel: CancellationToken,
    ) -> impl std::future::Future<Output = Result<(), CfError>> + Send {
        AuditCollector::run(self, cancel)
    }
}

/// One daemon task: forever, or (`once`) until caught up — saying so only when true (a signal or
/// `--timeout` may have stopped it first).
fn spawn_daemon<C: Collector>(
    tasks: &mut SourceTasks,
    name: String,
    c: C,
    once: bool,
    cancel: CancellationToken,
) {
    tasks.spawn(async move {
        let r = if once {
            c.run_once(cancel.clone()).await.inspect(|s| {
                if cancel.is_cancelled() {
                    tracing::info!(source = %name, units = s.units_done, records = s.records, "{} stopped before catching up; cursor saved", C::KIND);
                } else {
                    tracing::info!(source = %name, units = s.units_done, records = s.records, "{} caught up", C::KIND);
                }
            })
        } else {
            c.run(cancel).await.map(|()| RunSummary::default())
        };
        (name, r)
    });
}

/// One backfill task; `run` gets the progress callback (naming the source) and the cancellation.
fn spawn_backfill<F, Fut>(
    tasks: &mut SourceTasks,
    name: String,
    progress: &Progress,
    cancel: &CancellationToken,
    run: F,
) where
    F: FnOnce(Box<dyn Fn(ProgressEvent) + Send + Sync>, CancellationToken) -> Fut,
    Fut: std::future::Future<Output = Result<RunSummary, CfError>> + Send + 'static,
{
    let (p, n) = (progress.clone(), name.clone());
    let fut = run(Box::new(move |e| p(&n, e)), cancel.clone());
    tasks.spawn(async move { (name, fut.await) });
}

/// What one lease covers.
#[derive(Clone)]
enum Work {
    /// A Cloudflare API source: one zone's Logpull or one account's audit log (`sources` holds
    /// just that one); `id` names it in the counters (last success and last error).
    Cloudflare {
        id: cfship_cloudflare::SourceId,
        sources: Sources,
    },
    /// A Logpush bucket source (its reader; it costs no Cloudflare request).
    Bucket(Arc<cfship_logpush::BucketReader>),
}

/// With leases (`state.backend: elasticsearch`, daemon): one supervisor per source — each zone,
/// account and Logpush bucket — that collects it only while this replica holds its lease, and one
/// balancer (see [`crate::app::balance`]) that writes this replica's heartbeat every third of the
/// TTL and decides which sources it wants. A supervisor takes its source's lease when wanted (and
/// free, expired or already ours), renews it every third of the TTL, stops the source at once
/// (task aborted) when the lease is lost or cannot be renewed for two thirds of the TTL (so it
/// stops before the lease can expire), hands it over (windows or objects in flight finished and
/// saved, then released) when no longer wanted, and gives it up on a signal. The bucket readers
/// must hold `store` too: their checkpoints are then fenced by the lease like the cursors.
///
/// `once` (`run --once`): the same supervisors, each wanting its source from the start, and no
/// balancer (no heartbeat: the daemons do not count this process as a replica to share with).
/// Each takes its lease, renews it while its source catches up (a bucket: one pass to its end),
/// then releases it and ends. A source whose lease another live replica holds (a heartbeat, or a
/// lease still being renewed: another `--once`) is not collected and ends with
/// [`cfship_state::StateError::LeaseHeld`] naming the owner; a lease left by a process that is gone
/// (no heartbeat, not renewed) is waited for until it expires (at most the TTL), then taken.
#[allow(clippy::too_many_arguments)]
pub fn spawn_leased(
    client: &CloudflareClient,
    sources: Sources,
    buckets: Vec<Arc<cfship_logpush::BucketReader>>,
    store: Arc<CursorStore>,
    ttl: Duration,
    once: bool,
    sink: Arc<dyn RecordSink>,
    cancel: &CancellationToken,
) -> Result<SourceTasks> {
    let mut tasks = JoinSet::new();
    // (name, state key, work, the zone of a Logpull source)
    let mut one: Vec<(String, String, Work, Option<String>)> = Vec::new();
    for lc in sources.logpull {
        let id = cfship_cloudflare::SourceId::Logpull {
            zone_id: lc.zone_id.clone(),
        };
        let (name, zone) = (format!("logpull zone {}", lc.zone_id), lc.zone_id.clone());
        let sources = Sources {
            logpull: vec![lc],
            audit: vec![],
        };
        one.push((
            name,
            id.state_key(),
            Work::Cloudflare { id, sources },
            Some(zone),
        ));
    }
    for ac in sources.audit {
        let id = cfship_cloudflare::SourceId::Audit {
            account_id: ac.account_id.clone(),
        };
        let name = format!("audit account {}", ac.account_id);
        let sources = Sources {
            logpull: vec![],
            audit: vec![ac],
        };
        one.push((name, id.state_key(), Work::Cloudflare { id, sources }, None));
    }
    for r in buckets {
        let name = format!("logpush bucket {}", r.config().label());
        one.push((name, r.config().state_key(), Work::Bucket(r), None));
    }
    let held: Held = Arc::new(std::sync::Mutex::new(Default::default()));
    let mut wants = Vec::new();
    let mut cloudflare = std::collections::BTreeSet::new();
    for (name, key, work, zone) in one {
        // `once`: wanted from the start, and nobody changes that (the sender is dropped)
        let (tx, rx) = tokio::sync::watch::channel(once);
        if matches!(work, Work::Cloudflare { .. }) {
            cloudflare.insert(key.clone());
        }
        if !once {
            wants.push((key.clone(), tx));
        }
        let (client, store, sink, cancel, held) = (
            client.clone(),
            store.clone(),
            sink.clone(),
            cancel.clone(),
            held.clone(),
        );
        tasks.spawn(async move {
            let l = Leased {
                name: &name,
                key: &key,
                work,
                zone,
                client: &client,
                store,
                ttl,
                once,
                held,
            };
            let r = l.run(rx, sink, &cancel).await;
            (name, r)
        });
    }
    if once {
        return Ok(tasks);
    }
    let (client, cancel) = (client.clone(), cancel.clone());
    tasks.spawn(async move {
        balance_loop(store, client, wants, cloudflare, held, ttl, cancel).await;
        ("replica heartbeat".to_string(), Ok(RunSummary::default()))
    });
    Ok(tasks)
}

/// This replica's share of the per-user Cloudflare budget: the Cloudflare API sources (Logpull
/// zones, audit accounts) among those it wants, over all of them (at least one: a replica that
/// wants none may still be given one before the next round). Bucket sources make no Cloudflare
/// request, so they count on neither side.
pub(crate) fn cloudflare_share(
    want: &std::collections::BTreeSet<String>,
    cloudflare: &std::collections::BTreeSet<String>,
) -> f64 {
    let mine = want.intersection(cloudflare).count().max(1);
    mine as f64 / cloudflare.len().max(1) as f64
}

/// The sources this replica holds a lease of (its supervisors' own account).
type Held = Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>;

fn held_now(held: &Held) -> std::collections::BTreeSet<String> {
    match held.lock() {
        Ok(g) => g.clone(),
        Err(p) => p.into_inner().clone(),
    }
}

fn set_held(held: &Held, key: &str, on: bool) {
    let mut g = match held.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    if on {
        g.insert(key.to_string());
    } else {
        g.remove(key);
    }
}

/// How long after registering a replica starts taking sources (at most a third of the TTL).
const REGISTER_WAIT: Duration = Duration::from_secs(2);

/// Every third of the TTL: heartbeat, read the replicas and leases, plan, tell the supervisors
/// which sources are wanted, and set this replica's share of the Cloudflare budget.
async fn balance_loop(
    store: Arc<CursorStore>,
    client: CloudflareClient,
    wants: Vec<(String, tokio::sync::watch::Sender<bool>)>,
    cloudflare: std::collections::BTreeSet<String>,
    held: Held,
    ttl: Duration,
    cancel: CancellationToken,
) {
    let Some(es) = store.es() else {
        return;
    };
    let me = es.replica_id().unwrap_or("cfship").to_string();
    let mut b = crate::app::balance::Balancer::new(&me, wants.iter().map(|(k, _)| k.clone()));
    let mut tick = tokio::time::interval(ttl / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_live = 0usize;
    let mut rounds = 0u64;
    loop {
        // the first round only registers; the second comes soon after (replicas started within
        // that time see each other), then one every third of the TTL
        let soon = (rounds == 1).then(|| (ttl / 3).min(REGISTER_WAIT));
        rounds += 1;
        tokio::select! {
            _ = async {
                match soon {
                    Some(d) => tokio::time::sleep(d).await,
                    None => {
                        tick.tick().await;
                    }
                }
            } => {}
            _ = cancel.cancelled() => {
                blocking_state(|| es.unregister());
                return;
            }
        }
        if let Err(e) = blocking_state(|| es.heartbeat()) {
            tracing::warn!(error = %e, "cannot write this replica's heartbeat; retrying");
            continue;
        }
        let view = match blocking_state(|| es.view()) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the replicas and leases; retrying");
                continue;
            }
        };
        let now = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
        let obs = crate::app::balance::Observed {
            live: view.live(now),
            held: held_now(&held),
            leases: view
                .leases
                .iter()
                .filter_map(|(k, v)| v.as_ref().map(|(o, e)| (k.clone(), (o.clone(), *e > now))))
                .collect(),
        };
        let plan = b.round(&obs);
        let live = obs.live.iter().filter(|r| **r != me).count() + 1;
        let (lo, hi) = b.bounds(live);
        if live != last_live {
            tracing::info!(replica = %me, live_replicas = live, share_min = lo, share_max = hi, "replicas changed");
            last_live = live;
        }
        // a source that stopped on an error has no supervisor any more: not worth a log line
        let stopped = |k: &String| wants.iter().any(|(w, tx)| w == k && tx.is_closed());
        let take: Vec<&String> = plan.take.iter().filter(|k| !stopped(k)).collect();
        if !take.is_empty() || !plan.release.is_empty() {
            tracing::info!(replica = %me, live_replicas = live, take = ?take, hand_over = ?plan.release, "rebalancing");
        }
        for (k, tx) in &wants {
            let w = plan.want.contains(k);
            tx.send_if_modified(|cur| {
                let changed = *cur != w;
                *cur = w;
                changed
            });
        }
        // this replica's share of the per-user budget, proportional to the Cloudflare API
        // sources it holds
        client
            .limiter()
            .set_share(cloudflare_share(&plan.want, &cloudflare));
    }
}

fn blocking_state<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

/// One source's supervisor.
struct Leased<'a> {
    name: &'a str,
    key: &'a str,
    /// The source (and its counters: last success and last error, reported to the state index).
    work: Work,
    /// A Logpull source's zone (its per-zone budget starts empty at a take-over).
    zone: Option<String>,
    client: &'a CloudflareClient,
    store: Arc<CursorStore>,
    ttl: Duration,
    /// `run --once`: the source is collected until caught up (a bucket: one pass), and a lease
    /// held by another replica is not waited for.
    once: bool,
    held: Held,
}

/// How a period of holding a lease ended.
enum Held1 {
    /// Lost, stopped before expiry, or handed over: try again when wanted.
    Again,
    /// The source ended (signal, or an error).
    Done(Result<RunSummary, CfError>),
}

/// What a supervisor last wrote into its source's report document: the last success (Unix
/// seconds) and the time of the last error (Unix ms).
#[derive(Default)]
struct Reported {
    success_unix: i64,
    error_unix_ms: i64,
}

impl Leased<'_> {
    /// Writes the source's last success and last error into its report document when they are
    /// newer than what this supervisor reported last (`final_error`: the error ending the source,
    /// recorded first). A failed write is retried at the next renewal.
    fn report(&self, done: &mut Reported, final_error: Option<&CfError>) {
        let Some(es) = self.store.es() else {
            return;
        };
        let (success, error) = match &self.work {
            Work::Cloudflare { id, .. } => {
                let st = self.client.stats().source(id);
                if let Some(e) = final_error {
                    st.mark_error(e);
                }
                let success = st
                    .last_success_unix
                    .load(std::sync::atomic::Ordering::Relaxed);
                (success, st.last_error())
            }
            Work::Bucket(r) => {
                // a bucket's success is a pass read to the end
                let success = r
                    .stats
                    .last_pass_unix
                    .load(std::sync::atomic::Ordering::Relaxed);
                let error = match final_error {
                    Some(e) => Some((chrono::Utc::now().timestamp_millis(), e.to_string())),
                    None => r.stats.last_error(),
                };
                (success, error)
            }
        };
        let error = error.filter(|(t, _)| *t > done.error_unix_ms);
        let success_ms = (success > done.success_unix)
            .then(|| u64::try_from(success).ok())
            .flatten()
            .map(|s| s.saturating_mul(1000));
        if success_ms.is_none() && error.is_none() {
            return;
        }
        let err = error
            .as_ref()
            .and_then(|(t, m)| Some((u64::try_from(*t).ok()?, m.as_str())));
        match blocking_state(|| es.report(self.key, success_ms, err)) {
            Ok(()) => {
                done.success_unix = done.success_unix.max(success);
                if let Some((t, _)) = error {
                    done.error_unix_ms = t;
                }
            }
            Err(e) => {
                tracing::debug!(source = %self.name, error = %e, "cannot write the source's report; retrying at the next renewal");
            }
        }
    }

    async fn run(
        &self,
        mut want: tokio::sync::watch::Receiver<bool>,
        sink: Arc<dyn RecordSink>,
        cancel: &CancellationToken,
    ) -> Result<RunSummary, CfError> {
        let (name, key, store) = (self.name, self.key, &self.store);
        let period = self.ttl / 3;
        let sleep = |d: Duration| {
            let c = cancel.clone();
            async move {
                tokio::select! {
                    _ = tokio::time::sleep(d) => true,
                    _ = c.cancelled() => false,
                }
            }
        };
        // `once`: the expiry of a lease left by a process without a heartbeat, waited for
        let mut waiting_for: Option<u64> = None;
        loop {
            if cancel.is_cancelled() {
                return Ok(RunSummary::default());
            }
            // wait until the balancer wants this source
            while !*want.borrow_and_update() {
                tokio::select! {
                    r = want.changed() => {
                        if r.is_err() {
                            // no balancer any more: nothing new is wanted
                            cancel.cancelled().await;
                        }
                    }
                    _ = cancel.cancelled() => return Ok(RunSummary::default()),
                }
            }
            match blocking_state(|| store.try_acquire(key)) {
                Ok(true) => {}
                Ok(false) if self.once => {
                    let held = blocking_state(|| store.check_lease_free(key)).err();
                    let Some((e, owner, expires)) = held.and_then(|e| {
                        let (o, x) = e.lease_held().map(|(o, x)| (o.to_string(), x))?;
                        Some((e, o, x))
                    }) else {
                        // taken and given up again in between, or unreachable: try again soon
                        if !sleep(period.min(Duration::from_secs(1))).await {
                            return Ok(RunSummary::default());
                        }
                        continue;
                    };
                    let now = u64::try_from(chrono::Utc::now().timestamp_millis()).unwrap_or(0);
                    // renewed since it was first seen (another `--once`): its owner is alive
                    let renewed = waiting_for.is_some_and(|w| expires > w);
                    let live = renewed
                        || store.es().is_none_or(|es| {
                            blocking_state(|| es.view())
                                .map(|v| v.live(now).contains(&owner))
                                // cannot tell: the owner may be alive
                                .unwrap_or(true)
                        });
                    if live {
                        tracing::warn!(source = %name, owner = %owner, error = %e, "--once: source not collected, another replica owns it");
                        return Err(CfError::State(e));
                    }
                    if waiting_for.is_none() {
                        tracing::info!(source = %name, owner = %owner, "--once: the source's lease was left by a process without a heartbeat: waiting for it to expire");
                        waiting_for = Some(expires);
                    }
                    let left = Duration::from_millis(expires.saturating_sub(now) + 50);
                    if !sleep(left.min(period)).await {
                        return Ok(RunSummary::default());
                    }
                    continue;
                }
                Ok(false) => {
                    if !sleep(period).await {
                        return Ok(RunSummary::default());
                    }
                    continue;
                }
                Err(e) if e.is_transient() => {
                    tracing::warn!(source = %name, error = %e, "cannot reach the state index to take the lease; retrying");
                    if !sleep(period).await {
                        return Ok(RunSummary::default());
                    }
                    continue;
                }
                Err(e) => return Err(CfError::State(e)),
            }
            set_held(&self.held, key, true);
            if let Some(z) = &self.zone {
                self.client.limiter().start_zone_empty(z);
            }
            tracing::info!(source = %name, lease_ttl = ?self.ttl, "lease taken: collecting this source");
            let r = self.hold(&mut want, sink.clone(), cancel).await;
            set_held(&self.held, key, false);
            match r {
                Held1::Done(r) => return r,
                Held1::Again => {
                    if !sleep(period).await {
                        return Ok(RunSummary::default());
                    }
                }
            }
        }
    }

    /// Starts the source's task (under `child`).
    fn start(
        &self,
        sink: Arc<dyn RecordSink>,
        child: &CancellationToken,
    ) -> Result<SourceTasks, CfError> {
        match &self.work {
            Work::Cloudflare { sources, .. } => {
                let mode = Mode::Daemon {
                    store: self.store.clone(),
                    once: self.once,
                };
                spawn_sources(self.client, sources.clone(), &mode, sink, child)
                    .map_err(|e| CfError::Config(format!("{e:#}")))
            }
            Work::Bucket(r) => {
                let mut tasks = JoinSet::new();
                let (r, c, name) = (r.clone(), child.clone(), self.name.to_string());
                let once = self.once;
                tasks.spawn(async move {
                    let res = if once {
                        r.pass(&c).await.map(|n| {
                            tracing::info!(source = %name, objects = n, "Logpush bucket read to the end");
                            RunSummary::default()
                        })
                    } else {
                        r.run(c).await.map(|()| RunSummary::default())
                    };
                    (name, res.map_err(bucket_error))
                });
                Ok(tasks)
            }
        }
    }

    async fn hold(
        &self,
        want: &mut tokio::sync::watch::Receiver<bool>,
        sink: Arc<dyn RecordSink>,
        cancel: &CancellationToken,
    ) -> Held1 {
        let (name, key, store, ttl) = (self.name, self.key, &self.store, self.ttl);
        let period = ttl / 3;
        let child = cancel.child_token();
        let mut tasks = match self.start(sink, &child) {
            Ok(t) => t,
            Err(e) => {
                blocking_state(|| store.release(key));
                return Held1::Done(Err(e));
            }
        };
        let mut last_renewed = tokio::time::Instant::now();
        let mut tick = tokio::time::interval_at(last_renewed + period, period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut balancer_gone = false;
        let mut reported = Reported::default();
        loop {
            tokio::select! {
                j = tasks.join_next() => {
                    let r = match j {
                        Some(Ok((_, r))) => r,
                        Some(Err(e)) => Err(CfError::Config(format!("source task: {e}"))),
                        None => Ok(RunSummary::default()),
                    };
                    match r {
                        Err(CfError::State(cfship_state::StateError::Conflict { .. })) => {
                            tracing::warn!(source = %name, "lease lost (the cursor was written under another replica's lease): source stopped here");
                            break;
                        }
                        Ok(_) | Err(CfError::Cancelled) if cancel.is_cancelled() => {
                            self.report(&mut reported, None);
                            blocking_state(|| store.release(key));
                            return Held1::Done(Ok(RunSummary::default()));
                        }
                        r => {
                            self.report(&mut reported, r.as_ref().err());
                            blocking_state(|| store.release(key));
                            return Held1::Done(r);
                        }
                    }
                }
                r = want.changed(), if !balancer_gone => {
                    if r.is_err() {
                        balancer_gone = true;
                        continue;
                    }
                    if *want.borrow_and_update() {
                        continue;
                    }
                    // handed over: the windows in flight finish and are saved (within half the
                    // TTL, well before the lease, renewed at most a third of the TTL ago, expires),
                    // then the lease is released for the replica the balancer leaves it to
                    child.cancel();
                    let drained = tokio::time::timeout(ttl / 2, async {
                        while tasks.join_next().await.is_some() {}
                    })
                    .await;
                    if drained.is_err() {
                        tasks.abort_all();
                        while tasks.join_next().await.is_some() {}
                    }
                    self.report(&mut reported, None);
                    blocking_state(|| store.release(key));
                    tracing::info!(source = %name, "lease handed over (rebalancing)");
                    return Held1::Again;
                }
                _ = tick.tick() => {
                    match blocking_state(|| store.renew(key)) {
                        Ok(()) => {
                            last_renewed = tokio::time::Instant::now();
                            self.report(&mut reported, None);
                        }
                        Err(cfship_state::StateError::Conflict { .. }) => {
                            tracing::warn!(source = %name, "lease lost to another replica: source stopped at once");
                            tasks.abort_all();
                            break;
                        }
                        Err(e) if last_renewed.elapsed() >= ttl * 2 / 3 => {
                            tracing::error!(source = %name, error = %e, "cannot renew the lease: stopping the source before the lease can expire");
                            tasks.abort_all();
                            break;
                        }
                        Err(e) => {
                            tracing::warn!(source = %name, error = %e, "lease renewal failed; retrying");
                        }
                    }
                }
            }
        }
        child.cancel();
        while tasks.join_next().await.is_some() {}
        Held1::Again
    }
}

/// A bucket reader's end as a supervisor's result: a refused checkpoint stays the state error
/// (a conflict means the lease was lost), anything else names the bucket.
fn bucket_error(e: cfship_logpush::BucketError) -> CfError {
    match e {
        cfship_logpush::BucketError::State { source, .. } => CfError::State(source),
        e => CfError::Transport {
            context: "logpush bucket".into(),
            reason: e.to_string(),
        },
    }
}

/// `--once`: every collector's clock fixed at `now` (with a moving now, a slow run would keep
/// chasing it).
pub fn fix_clocks(sources: &mut Sources, now: chrono::DateTime<chrono::Utc>) {
    for c in &mut sources.logpull {
        c.clock = Clock::Fixed(now);
    }
    for c in &mut sources.audit {
        c.clock = Clock::Fixed(now);
    }
}

#[cfg(test)]
mod tests {
    use super::{cloudflare_share, state_request_timeout};
    use std::collections::BTreeSet;
    use std::time::Duration;

    #[test]
    fn a_hung_renewal_returns_before_the_lease_can_expire() {
        let ttl = super::DEFAULT_LEASE_TTL;
        let t = state_request_timeout(ttl);
        assert_eq!(t, Duration::from_millis(3750));
        // the worst case: a renewal sent at its tick after one failed renewal (2/3 TTL after the
        // last success), queued behind one hung cursor save, then hung itself
        assert!(ttl * 2 / 3 + 2 * t < ttl, "{t:?}");
        // short test TTLs get the 1 s floor
        assert_eq!(
            state_request_timeout(Duration::from_secs(3)),
            Duration::from_secs(1)
        );
    }

    fn set(keys: &[&str]) -> BTreeSet<String> {
        keys.iter().map(|k| k.to_string()).collect()
    }

    #[test]
    fn the_cloudflare_share_counts_only_cloudflare_api_sources() {
        let cf = set(&["logpull-z1", "logpull-z2", "audit-a1"]);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        // two of the three Cloudflare sources and a bucket: 2/3 (the bucket costs no request)
        assert!(close(
            cloudflare_share(&set(&["logpull-z1", "audit-a1", "logpush-bucket-x"]), &cf),
            2.0 / 3.0
        ));
        // every Cloudflare source and two buckets: the whole budget, not 3/5
        assert!(close(
            cloudflare_share(
                &set(&[
                    "logpull-z1",
                    "logpull-z2",
                    "audit-a1",
                    "logpush-bucket-x",
                    "logpush-bucket-y"
                ]),
                &cf
            ),
            1.0
        ));
        // buckets only: the smallest share (one source's), as a replica holding nothing
        let only_buckets = cloudflare_share(&set(&["logpush-bucket-x"]), &cf);
        assert!(close(only_buckets, 1.0 / 3.0));
        assert!(close(only_buckets, cloudflare_share(&set(&[]), &cf)));
        // a configuration without Cloudflare sources
        assert!(close(
            cloudflare_share(&set(&["logpush-bucket-x"]), &set(&[])),
            1.0
        ));
    }
}
