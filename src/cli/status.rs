//! `cfship status --config FILE`: where every configured Logpull zone, audit account and Logpush
//! bucket stands,
//! read from the cursor store (the state directory, or the state index of
//! `state.backend: elasticsearch`, which works from any host).

use anyhow::{Context, Result};
use cfship_cloudflare::{AuditCursor, LogpullCursor, SourceId};
use cfship_state::CursorStore;
use chrono::{DateTime, SecondsFormat, Utc};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The configuration file (see cfship.example.yml).
    #[arg(long, short, env = "CFSHIP_CONFIG")]
    pub config: PathBuf,
}

/// A source's cursor (as a time) and when it was saved (Unix ms).
type Position = (DateTime<Utc>, Option<u64>, String);

/// The lines to print and whether every cursor could be read.
pub fn run(args: StatusArgs) -> Result<(Vec<String>, bool)> {
    let cfg = crate::app::wiring::load_config(&args.config)?;
    let store: CursorStore = match cfg.state.backend {
        crate::config::StateBackend::File => CursorStore::open(&cfg.state.dir)
            .with_context(|| format!("state dir {}", cfg.state.dir.display()))?,
        crate::config::StateBackend::Elasticsearch => {
            let es = crate::app::wiring::es_config(&cfg)
                .context("`state.backend: elasticsearch` needs an `elasticsearch:` section")?;
            let index = cfg.state.index_name();
            cfship_state::EsStore::open(&es, index)
                .with_context(|| format!("state index {index}"))?
                .into()
        }
    };
    let now = Utc::now();
    let mut lines = vec![
        format!("state: {}", store.describe()),
        format!(
            "{:<48} {:<22} {:>10}  {:<22} {}",
            "SOURCE", "CURSOR", "LAG", "SAVED", "OWNER"
        ),
    ];
    let now_ms = u64::try_from(now.timestamp_millis()).unwrap_or(0);
    let mut live: std::collections::BTreeSet<String> = Default::default();
    let mut owner_of = |owner: Option<String>, until: Option<u64>| -> String {
        match (owner, until) {
            (Some(o), Some(u)) if u > now_ms => {
                live.insert(o.clone());
                format!("{o} (lease until {})", saved_at(Some(u)))
            }
            (Some(o), _) => format!("none ({o}'s lease expired)"),
            _ => "-".into(),
        }
    };
    let mut ok = true;
    // with Elasticsearch: the source's last success and last error, as its owners reported them
    let report = |key: &str| -> Option<String> {
        let es = store.es()?;
        match es.load_report(key) {
            Ok(r) => Some(report_line(r.as_ref())),
            Err(e) => Some(format!("    report: error: {e}")),
        }
    };
    let mut row = |name: String, r: Result<Option<Position>, String>, report: Option<String>| {
        let line = match r {
            Ok(Some((cursor, saved, owner))) => {
                let lag = (now - cursor).to_std().unwrap_or_default();
                let lag = humantime::format_duration(std::time::Duration::from_secs(lag.as_secs()));
                let saved = saved_at(saved);
                format!(
                    "{name:<48} {:<22} {:>10}  {saved:<22} {owner}",
                    cursor.to_rfc3339_opts(SecondsFormat::Secs, true),
                    lag.to_string()
                )
            }
            Ok(None) => format!("{name:<48} {:<22} {:>10}  -", "no cursor yet", "-"),
            Err(e) => {
                ok = false;
                format!("{name:<48} error: {e}")
            }
        };
        lines.push(line);
        lines.extend(report);
    };
    for z in cfg.zones() {
        let key = SourceId::Logpull {
            zone_id: z.id.clone(),
        }
        .state_key();
        let r = store
            .load_saved::<LogpullCursor>(&key)
            .map(|o| {
                o.map(|s| {
                    let w = owner_of(s.owner, s.lease_expires_unix_ms);
                    (s.cursor.next_start, s.saved_at_unix_ms, w)
                })
            })
            .map_err(|e| e.to_string());
        row(format!("logpull zone {}", z.id), r, report(&key));
    }
    for a in cfg.accounts() {
        let key = SourceId::Audit {
            account_id: a.id.clone(),
        }
        .state_key();
        let r = store
            .load_saved::<AuditCursor>(&key)
            .map(|o| {
                o.map(|s| {
                    let w = owner_of(s.owner, s.lease_expires_unix_ms);
                    (s.cursor.when, s.saved_at_unix_ms, w)
                })
            })
            .map_err(|e| e.to_string());
        row(format!("audit account {}", a.id), r, report(&key));
    }
    let buckets = crate::app::logpush::bucket_configs(&cfg)?;
    // a bucket's lease may be held before its first checkpoint (an empty bucket has none): the
    // leases as the state index shows them
    let leases = match store.es() {
        Some(es) if !buckets.is_empty() => es.view().map(|v| v.leases).unwrap_or_default(),
        _ => Default::default(),
    };
    for b in buckets {
        // the label: the URL without credentials or query (the name in logs and metrics)
        let name = format!("logpush bucket {} {}", b.label(), b.data_stream.name);
        let key = b.state_key();
        let line = match store.load_saved::<cfship_logpush::bucket::BucketState>(&key) {
            Ok(Some(s)) => {
                let saved = saved_at(s.saved_at_unix_ms);
                let owner = owner_of(s.owner, s.lease_expires_unix_ms);
                let open: usize = s.cursor.done.values().map(|v| v.len()).sum();
                let done = s
                    .cursor
                    .done_before
                    .map(|f| format!("done before {f}"))
                    .unwrap_or_else(|| "no folder done".into());
                format!(
                    "{name:<48} {:<33}  {saved:<22} {owner}",
                    format!("{done}, {open} objects done after it")
                )
            }
            Ok(None) => {
                let owner = match leases.get(&key).cloned().flatten() {
                    Some((o, until)) => owner_of(Some(o), Some(until)),
                    None => "-".into(),
                };
                format!(
                    "{name:<48} {:<33}  {:<22} {owner}",
                    "no checkpoint yet", "-"
                )
            }
            Err(e) => {
                ok = false;
                format!("{name:<48} error: {e}")
            }
        };
        lines.push(line);
        lines.extend(report(&key));
    }
    if let Some(es) = store.es() {
        // the heartbeats: live replicas (and those whose heartbeat expired, not yet cleaned up)
        match es.view() {
            Ok(v) => {
                let (up, gone): (Vec<_>, Vec<_>) =
                    v.replicas.iter().partition(|r| r.expires_unix_ms > now_ms);
                let names = |rs: &[&cfship_state::ReplicaBeat]| {
                    rs.iter()
                        .map(|r| format!("{} (seen {})", r.id, saved_at(Some(r.seen_unix_ms))))
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let mut l = format!("live replicas: {}", up.len());
                if !up.is_empty() {
                    l.push_str(&format!(": {}", names(&up)));
                }
                if !gone.is_empty() {
                    l.push_str(&format!("; heartbeat expired: {}", names(&gone)));
                }
                lines.insert(1, l);
            }
            Err(e) => {
                ok = false;
                lines.insert(1, format!("live replicas: error: {e}"));
            }
        }
    }
    lines.insert(
        1,
        if live.is_empty() {
            "replicas holding leases: none".to_string()
        } else {
            format!(
                "replicas holding leases: {}",
                live.into_iter().collect::<Vec<_>>().join(", ")
            )
        },
    );
    Ok((lines, ok))
}

/// The indented line under a source: `last success T (by R); last error T (by R): message`.
fn report_line(r: Option<&cfship_state::SourceReport>) -> String {
    let by = |b: &Option<String>| b.as_ref().map(|b| format!(" (by {b})")).unwrap_or_default();
    let Some(r) = r else {
        return "    last success -; last error -".into();
    };
    let success = match r.last_success_unix_ms {
        Some(t) => format!("{}{}", saved_at(Some(t)), by(&r.last_success_by)),
        None => "-".into(),
    };
    let error = match r.last_error_unix_ms {
        Some(t) => format!(
            "{}{}: {}",
            saved_at(Some(t)),
            by(&r.last_error_by),
            r.last_error.as_deref().unwrap_or("")
        ),
        None => "-".into(),
    };
    format!("    last success {success}; last error {error}")
}

fn saved_at(ms: Option<u64>) -> String {
    ms.and_then(|ms| DateTime::from_timestamp_millis(i64::try_from(ms).ok()?))
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| "-".into())
}
