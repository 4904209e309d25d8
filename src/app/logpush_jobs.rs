//! The health of the Cloudflare Logpush jobs named by `logpush_jobs:` (zones and accounts), from
//! the jobs API: `enabled`, `last_complete`, `last_error`, `error_message`. Cloudflare disables a job
//! after 24 h of failed uploads and drops batches after a few retries, so a disabled or failing job
//! means logs are being lost: `cfship check` prints a FAIL line, `run` logs an ERROR when a job turns
//! unhealthy and exports one gauge set per job on `/metrics` (polled every `logpush_jobs.interval`).

use crate::config::{Config, Source};
use crate::sync::lock;
use cfship_cloudflare::{
    redact_destination, CfError, CloudflareClient, JobHealth, JobScope, LogpushJob,
};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Default poll interval of the jobs API in `run`.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);

/// The zones and accounts of `logpush_jobs:` with their credentials.
pub fn scopes(cfg: &Config) -> Vec<(JobScope, Source)> {
    let (zones, accounts) = cfg.logpush_job_scopes();
    zones
        .into_iter()
        .map(|z| (JobScope::Zone(z.id.clone()), z))
        .chain(
            accounts
                .into_iter()
                .map(|a| (JobScope::Account(a.id.clone()), a)),
        )
        .collect()
}

/// The jobs of every scope (or the API's error for that scope).
pub async fn fetch(
    client: &CloudflareClient,
    scopes: &[(JobScope, Source)],
) -> Vec<(JobScope, Result<Vec<LogpushJob>, CfError>)> {
    let mut out = Vec::new();
    for (scope, src) in scopes {
        let r = client.logpush_jobs(&src.credentials.to_auth(), scope).await;
        out.push((scope.clone(), r));
    }
    out
}

/// One line about a job: the job, and what is wrong with it (None when healthy).
pub fn describe(scope: &JobScope, j: &LogpushJob) -> (String, Option<(String, String)>) {
    let name = format!(
        "logpush job {} ({}, {}{})",
        j.id,
        j.dataset.as_deref().unwrap_or("?"),
        scope.describe(),
        j.name
            .as_deref()
            .filter(|n| !n.is_empty())
            .map(|n| format!(", {n:?}"))
            .unwrap_or_default()
    );
    let problem = match j.health() {
        JobHealth::Healthy => None,
        JobHealth::Disabled => Some((
            format!(
                "DISABLED: Cloudflare pushes nothing, logs of this dataset are being lost (last complete {}; last error {}{})",
                j.last_complete.as_deref().unwrap_or("never"),
                j.last_error.as_deref().unwrap_or("none"),
                j.error_message
                    .as_deref()
                    .filter(|m| !m.is_empty())
                    .map(|m| format!(": {m}"))
                    .unwrap_or_default()
            ),
            format!(
                "fix the destination ({}), then enable the job again (PUT /{}/logpush/jobs/{} {{\"enabled\":true}}); Cloudflare disables a job after 24 h of failed uploads",
                redact_destination(&j.destination_conf),
                scope.path(),
                j.id
            ),
        )),
        JobHealth::Failing { since, message } => Some((
            format!(
                "FAILING since {since}: {message} (last complete {}); Cloudflare drops a batch after a few retries and disables the job after 24 h",
                j.last_complete.as_deref().unwrap_or("never")
            ),
            format!(
                "make the destination answer 2xx again ({}): is cfship running and reachable, its /healthz ok, the secret the same?",
                redact_destination(&j.destination_conf)
            ),
        )),
    };
    (name, problem)
}

fn unix(ts: Option<&str>) -> Option<i64> {
    ts.and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|d| d.timestamp())
}

/// The jobs of one scope at the last poll, or the API's error.
type Polled = Result<Vec<LogpushJob>, String>;

/// What `/metrics` shows about the jobs (the last poll of each scope).
#[derive(Debug, Default)]
pub struct JobsMonitor {
    /// scope description → the jobs, or the API error of the last poll.
    scopes: Mutex<BTreeMap<String, (JobScope, Polled)>>,
    /// job id → last known problem (for logging transitions once).
    last: Mutex<BTreeMap<u64, Option<String>>>,
}

impl JobsMonitor {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Records one poll; logs each job that turned unhealthy (ERROR) or healthy again (INFO).
    pub fn update(&self, results: Vec<(JobScope, Result<Vec<LogpushJob>, CfError>)>) {
        for (scope, r) in results {
            match &r {
                Ok(jobs) => {
                    let mut last = lock(&self.last);
                    for j in jobs {
                        let (name, problem) = describe(&scope, j);
                        let now = problem.as_ref().map(|(d, _)| d.clone());
                        let before = last.insert(j.id, now.clone());
                        match (&before, &now) {
                            (Some(Some(_)), Some(_)) => {}
                            (_, Some(d)) => {
                                tracing::error!(job = %name, "Cloudflare Logpush job is not delivering: {d}")
                            }
                            (Some(Some(_)), None) => {
                                tracing::info!(job = %name, "Cloudflare Logpush job is healthy again")
                            }
                            _ => {}
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(scope = %scope.describe(), error = %e, "Logpush jobs API: cannot read the jobs' health")
                }
            }
            lock(&self.scopes).insert(scope.describe(), (scope, r.map_err(|e| e.to_string())));
        }
    }

    /// The jobs' gauges (Prometheus text).
    pub fn render(&self, o: &mut String) {
        let scopes = lock(&self.scopes);
        if scopes.is_empty() {
            return;
        }
        let esc = |s: &str| {
            s.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n")
        };
        let scope_labels = |s: &JobScope| match s {
            JobScope::Zone(z) => format!("scope=\"zone\",scope_id=\"{}\"", esc(z)),
            JobScope::Account(a) => format!("scope=\"account\",scope_id=\"{}\"", esc(a)),
        };
        let _ = writeln!(o, "# HELP cfship_logpush_jobs_api_up 1 when the last read of the scope's Logpush jobs succeeded.\n# TYPE cfship_logpush_jobs_api_up gauge");
        for (scope, r) in scopes.values() {
            let _ = writeln!(
                o,
                "cfship_logpush_jobs_api_up{{{}}} {}",
                scope_labels(scope),
                r.is_ok() as u8
            );
        }
        type Pick = fn(&LogpushJob) -> Option<i64>;
        let families: [(&str, &str, Pick); 5] = [
            (
                "cfship_logpush_job_healthy",
                "1 when the Cloudflare Logpush job is enabled and its last upload succeeded.",
                |j| Some((j.health() == JobHealth::Healthy) as i64),
            ),
            (
                "cfship_logpush_job_enabled",
                "The job's `enabled` (Cloudflare disables a job after 24 h of failures).",
                |j| Some(j.enabled as i64),
            ),
            (
                "cfship_logpush_job_failing",
                "1 when the job's last_error is newer than its last_complete.",
                |j| Some(matches!(j.health(), JobHealth::Failing { .. }) as i64),
            ),
            (
                "cfship_logpush_job_last_complete_timestamp_seconds",
                "The job's last_complete (Unix seconds).",
                |j| unix(j.last_complete.as_deref()),
            ),
            (
                "cfship_logpush_job_last_error_timestamp_seconds",
                "The job's last_error (Unix seconds).",
                |j| unix(j.last_error.as_deref()),
            ),
        ];
        for (name, help, pick) in families {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} gauge");
            for (scope, r) in scopes.values() {
                for j in r.as_ref().map(|v| v.as_slice()).unwrap_or_default() {
                    if let Some(v) = pick(j) {
                        let _ = writeln!(
                            o,
                            "{name}{{{},job_id=\"{}\",dataset=\"{}\",name=\"{}\"}} {v}",
                            scope_labels(scope),
                            j.id,
                            esc(j.dataset.as_deref().unwrap_or("")),
                            esc(j.name.as_deref().unwrap_or(""))
                        );
                    }
                }
            }
        }
    }

    /// The jobs for `/healthz` (informational: a failing job does not make cfship unready).
    pub fn json(&self) -> Vec<serde_json::Value> {
        let scopes = lock(&self.scopes);
        let mut v = Vec::new();
        for (desc, (scope, r)) in scopes.iter() {
            match r {
                Ok(jobs) => {
                    for j in jobs {
                        let (_, problem) = describe(scope, j);
                        v.push(serde_json::json!({
                            "scope": desc, "job_id": j.id, "dataset": j.dataset,
                            "healthy": problem.is_none(),
                            "problem": problem.map(|(d, _)| d),
                        }));
                    }
                }
                Err(e) => v.push(serde_json::json!({"scope": desc, "api_error": e})),
            }
        }
        v
    }
}

/// `run`: polls the jobs API every `logpush_jobs.interval` until `cancel` (nothing without the
/// section). The monitor goes to `/metrics`.
pub fn spawn_monitor(
    cfg: &Config,
    client: &CloudflareClient,
    monitor: Arc<JobsMonitor>,
    cancel: CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    let scopes = scopes(cfg);
    if scopes.is_empty() {
        return None;
    }
    let every = cfg
        .logpush_jobs
        .as_ref()
        .and_then(|j| j.interval)
        .unwrap_or(DEFAULT_INTERVAL);
    let client = client.clone();
    Some(tokio::spawn(async move {
        loop {
            let r = tokio::select! {
                r = fetch(&client, &scopes) => r,
                _ = cancel.cancelled() => return,
            };
            monitor.update(r);
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = cancel.cancelled() => return,
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(enabled: bool, complete: Option<&str>, error: Option<&str>) -> LogpushJob {
        serde_json::from_value(serde_json::json!({
            "id": 7, "dataset": "http_requests", "name": "cfship-http_request", "enabled": enabled,
            "destination_conf": "https://logs.example.com/cloudflare_logpush/http_request?header_X-Logpush-Secret=hunter2",
            "last_complete": complete, "last_error": error, "error_message": error.map(|_| "502 Bad Gateway"),
        }))
        .expect("job")
    }

    #[test]
    fn problems_and_gauges_never_show_the_destination_secret() {
        let z = JobScope::Zone("z1".into());
        assert!(describe(&z, &job(true, Some("2026-12-01T10:00:00Z"), None))
            .1
            .is_none());
        let (_, p) = describe(&z, &job(false, None, None));
        let (d, fix) = p.expect("disabled");
        assert!(d.starts_with("DISABLED"), "{d}");
        assert!(!fix.contains("hunter2"), "{fix}");
        let (_, p) = describe(
            &z,
            &job(
                true,
                Some("2026-12-01T10:00:00Z"),
                Some("2026-12-01T11:00:00Z"),
            ),
        );
        let (d, _) = p.expect("failing");
        assert!(
            d.contains("FAILING since 2026-12-01T11:00:00Z: 502 Bad Gateway"),
            "{d}"
        );
        let m = JobsMonitor::default();
        m.update(vec![(
            z.clone(),
            Ok(vec![job(
                true,
                Some("2026-12-01T10:00:00Z"),
                Some("2026-12-01T11:00:00Z"),
            )]),
        )]);
        let mut o = String::new();
        m.render(&mut o);
        assert!(o.contains("cfship_logpush_job_failing{scope=\"zone\",scope_id=\"z1\",job_id=\"7\",dataset=\"http_requests\",name=\"cfship-http_request\"} 1"), "{o}");
        assert!(
            o.contains("cfship_logpush_job_healthy{scope=\"zone\",scope_id=\"z1\",job_id=\"7\"")
        );
        assert!(o.contains("cfship_logpush_job_last_error_timestamp_seconds{scope=\"zone\",scope_id=\"z1\",job_id=\"7\",dataset=\"http_requests\",name=\"cfship-http_request\"} 1796122800"), "{o}");
        assert!(o.contains("cfship_logpush_jobs_api_up{scope=\"zone\",scope_id=\"z1\"} 1"));
        assert!(!o.contains("hunter2"));
    }
}
