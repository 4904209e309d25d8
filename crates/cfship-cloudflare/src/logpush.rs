//! The Logpush jobs API: list, create (with the dataset's field list and the ownership challenge
//! for bucket destinations), delete, and the health of each job (`enabled`, `last_complete`,
//! `last_error`, `error_message`). Endpoints: `/{zones|accounts}/{id}/logpush/jobs[/{job_id}]`,
//! `…/logpush/datasets/{dataset}/fields`, `…/logpush/ownership` (Cloudflare API docs, "Logpush jobs").

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::auth::Auth;
use crate::client::{decode_result, CloudflareClient};
use crate::error::CfError;

/// Where a job lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobScope {
    Zone(String),
    Account(String),
}

impl JobScope {
    pub fn path(&self) -> String {
        match self {
            JobScope::Zone(z) => format!("zones/{z}"),
            JobScope::Account(a) => format!("accounts/{a}"),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            JobScope::Zone(z) => format!("zone {z}"),
            JobScope::Account(a) => format!("account {a}"),
        }
    }
}

/// A Logpush job as the API returns it (the fields cfship uses; others are ignored).
#[derive(Clone, Deserialize, Serialize, PartialEq)]
pub struct LogpushJob {
    pub id: u64,
    #[serde(default)]
    pub dataset: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub enabled: bool,
    /// May carry secrets (header values, bucket keys): print it with [`redact_destination`].
    #[serde(default)]
    pub destination_conf: String,
    #[serde(default)]
    pub last_complete: Option<String>,
    #[serde(default)]
    pub last_error: Option<String>,
    #[serde(default)]
    pub error_message: Option<String>,
    #[serde(default)]
    pub output_options: Option<Value>,
}

impl std::fmt::Debug for LogpushJob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogpushJob")
            .field("id", &self.id)
            .field("dataset", &self.dataset)
            .field("name", &self.name)
            .field("enabled", &self.enabled)
            .field(
                "destination_conf",
                &redact_destination(&self.destination_conf),
            )
            .field("last_complete", &self.last_complete)
            .field("last_error", &self.last_error)
            .field("error_message", &self.error_message)
            .finish()
    }
}

/// How a job is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobHealth {
    Healthy,
    /// `enabled: false` — Cloudflare disables a job after 24 h of failed uploads; nothing is pushed.
    Disabled,
    /// The last upload failed after the last success (`last_error` newer than `last_complete`).
    Failing {
        since: String,
        message: String,
    },
}

impl LogpushJob {
    pub fn health(&self) -> JobHealth {
        if !self.enabled {
            return JobHealth::Disabled;
        }
        match (&self.last_error, &self.last_complete) {
            (Some(err), complete) if complete.as_deref().is_none_or(|c| err.as_str() > c) => {
                JobHealth::Failing {
                    since: err.clone(),
                    message: self.error_message.clone().unwrap_or_default(),
                }
            }
            _ => JobHealth::Healthy,
        }
    }
}

/// A job to create.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub dataset: String,
    pub name: String,
    /// Secrets inside (header values, keys): never logged.
    pub destination_conf: String,
    /// Empty: every field of the dataset (fetched from the API).
    pub fields: Vec<String>,
    /// `unixnano` | `unix` | `rfc3339` | `rfc3339ms` | `rfc3339ns`.
    pub timestamp_format: String,
    /// The ownership token read from the challenge file (bucket destinations).
    pub ownership_challenge: Option<String>,
    pub max_upload_bytes: Option<u64>,
    pub max_upload_records: Option<u64>,
    pub max_upload_interval_seconds: Option<u64>,
}

/// Whether a destination is a bucket (and needs the ownership challenge).
pub fn is_bucket_destination(conf: &str) -> bool {
    ["s3://", "r2://", "gs://", "azure://"]
        .iter()
        .any(|p| conf.starts_with(p))
}

/// `destination_conf` with every query value and any user-info replaced by `REDACTED` (the header
/// values and bucket keys live there).
pub fn redact_destination(conf: &str) -> String {
    let (base, query) = match conf.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (conf, None),
    };
    let base = match base.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((_, host)) if !host.contains('/') || rest.find('@') < rest.find('/') => {
                format!("{scheme}://REDACTED@{host}")
            }
            _ => base.to_string(),
        },
        None => base.to_string(),
    };
    match query {
        None => base,
        Some(q) => {
            let parts: Vec<String> = q
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) => format!("{k}=REDACTED"),
                    None => kv.to_string(),
                })
                .collect();
            format!("{base}?{}", parts.join("&"))
        }
    }
}

impl CloudflareClient {
    /// `GET …/logpush/jobs`.
    pub async fn logpush_jobs(
        &self,
        auth: &Auth,
        scope: &JobScope,
    ) -> Result<Vec<LogpushJob>, CfError> {
        let ctx = format!("{}: list Logpush jobs", scope.describe());
        let env = self
            .get_envelope(auth, &format!("{}/logpush/jobs", scope.path()), &[], &ctx)
            .await?;
        decode_result(&env, &ctx)
    }

    /// `GET …/logpush/datasets/{dataset}/fields`: every field name of the dataset (sorted).
    pub async fn logpush_fields(
        &self,
        auth: &Auth,
        scope: &JobScope,
        dataset: &str,
    ) -> Result<Vec<String>, CfError> {
        let ctx = format!(
            "{}: list the fields of Logpush dataset {dataset}",
            scope.describe()
        );
        let env = self
            .get_envelope(
                auth,
                &format!("{}/logpush/datasets/{dataset}/fields", scope.path()),
                &[],
                &ctx,
            )
            .await?;
        let m: serde_json::Map<String, Value> = decode_result(&env, &ctx)?;
        let mut v: Vec<String> = m.keys().cloned().collect();
        v.sort();
        Ok(v)
    }

    /// `POST …/logpush/ownership`: Cloudflare writes a challenge file into the bucket; returns its
    /// name (path inside the destination).
    pub async fn logpush_ownership(
        &self,
        auth: &Auth,
        scope: &JobScope,
        destination_conf: &str,
    ) -> Result<String, CfError> {
        let ctx = format!(
            "{}: Logpush ownership challenge for {}",
            scope.describe(),
            redact_destination(destination_conf)
        );
        let env = self
            .send_envelope(
                auth,
                reqwest::Method::POST,
                &format!("{}/logpush/ownership", scope.path()),
                Some(&json!({ "destination_conf": destination_conf })),
                &ctx,
            )
            .await?;
        #[derive(Deserialize)]
        struct Challenge {
            filename: String,
        }
        let c: Challenge = decode_result(&env, &ctx)?;
        Ok(c.filename)
    }

    /// `POST …/logpush/jobs`. An empty field list is replaced by the dataset's full list.
    pub async fn create_logpush_job(
        &self,
        auth: &Auth,
        scope: &JobScope,
        job: &NewJob,
    ) -> Result<LogpushJob, CfError> {
        let fields = if job.fields.is_empty() {
            self.logpush_fields(auth, scope, &job.dataset).await?
        } else {
            job.fields.clone()
        };
        let ctx = format!(
            "{}: create Logpush job {:?} ({})",
            scope.describe(),
            job.name,
            job.dataset
        );
        let mut body = json!({
            "dataset": job.dataset,
            "name": job.name,
            "enabled": true,
            "destination_conf": job.destination_conf,
            "output_options": {
                "output_type": "ndjson",
                "field_names": fields,
                "timestamp_format": job.timestamp_format,
                "CVE-2021-44228": false,
            },
        });
        if let Some(o) = &job.ownership_challenge {
            body["ownership_challenge"] = json!(o);
        }
        for (k, v) in [
            ("max_upload_bytes", job.max_upload_bytes),
            ("max_upload_records", job.max_upload_records),
            (
                "max_upload_interval_seconds",
                job.max_upload_interval_seconds,
            ),
        ] {
            if let Some(v) = v {
                body[k] = json!(v);
            }
        }
        let env = self
            .send_envelope(
                auth,
                reqwest::Method::POST,
                &format!("{}/logpush/jobs", scope.path()),
                Some(&body),
                &ctx,
            )
            .await?;
        decode_result(&env, &ctx)
    }

    /// `DELETE …/logpush/jobs/{id}`.
    pub async fn delete_logpush_job(
        &self,
        auth: &Auth,
        scope: &JobScope,
        id: u64,
    ) -> Result<(), CfError> {
        let ctx = format!("{}: delete Logpush job {id}", scope.describe());
        self.send_envelope(
            auth,
            reqwest::Method::DELETE,
            &format!("{}/logpush/jobs/{id}", scope.path()),
            None,
            &ctx,
        )
        .await
        .map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_every_query_value_and_user_info() {
        let c = "https://logs.example.com:9560/cloudflare_logpush/http_request?header_Content-Type=application%2Fjson&header_X-Logpush-Secret=TOPSECRET";
        let r = redact_destination(c);
        assert!(!r.contains("TOPSECRET"), "{r}");
        assert!(r.starts_with("https://logs.example.com:9560/cloudflare_logpush/http_request?header_Content-Type=REDACTED&header_X-Logpush-Secret=REDACTED"), "{r}");
        let r2 = redact_destination(
            "r2://bucket/logs/{DATE}?account-id=a&access-key-id=K&secret-access-key=S3CR3T",
        );
        assert!(!r2.contains("S3CR3T") && !r2.contains("=K"), "{r2}");
        assert_eq!(
            redact_destination("https://u:p@h/x"),
            "https://REDACTED@h/x"
        );
        assert!(is_bucket_destination("s3://b/p?region=us-east-1"));
        assert!(is_bucket_destination("r2://b/p"));
        assert!(!is_bucket_destination("https://h/p"));
    }

    #[test]
    fn health() {
        let mut j: LogpushJob = serde_json::from_value(json!({
            "id": 7, "dataset": "http_requests", "enabled": true,
            "destination_conf": "https://h/p?header_X=SECRET",
            "last_complete": "2026-12-01T10:00:00Z", "last_error": "2026-12-01T09:00:00Z",
            "error_message": null
        }))
        .unwrap();
        assert_eq!(j.health(), JobHealth::Healthy);
        assert!(!format!("{j:?}").contains("SECRET"));
        j.last_error = Some("2026-12-01T11:00:00Z".into());
        j.error_message = Some("error uploading".into());
        assert!(matches!(j.health(), JobHealth::Failing { .. }));
        j.enabled = false;
        assert_eq!(j.health(), JobHealth::Disabled);
    }
}
