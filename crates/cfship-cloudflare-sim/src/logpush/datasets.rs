//! The simulator's own view of Logpush datasets and destinations: which Cloudflare datasets exist
//! (and whether a zone or an account owns them), the fields the jobs API offers for each, and how
//! a bucket destination (`s3://`, `r2://`, `gs://`, `azure://`) names its bucket and folder.
//! Independent of the receiver's tables on purpose: a receiver that disagrees with Cloudflare's
//! names is caught by the tests instead of agreeing with itself.

use crate::data::KNOWN_FIELDS;

/// Whether a dataset belongs to a zone or an account (the API path segment).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetScope {
    Zone,
    Account,
}

impl DatasetScope {
    /// `zones` / `accounts`.
    pub fn path(self) -> &'static str {
        match self {
            DatasetScope::Zone => "zones",
            DatasetScope::Account => "accounts",
        }
    }
}

use DatasetScope::{Account, Zone};

/// Cloudflare's Logpush dataset ids (those Elastic's integration reads, and `audit_logs_v2`).
pub const DATASETS: &[(&str, DatasetScope)] = &[
    ("access_requests", Account),
    ("audit_logs", Account),
    ("audit_logs_v2", Account),
    ("casb_findings", Account),
    ("device_posture_results", Account),
    ("dex_application_tests", Account),
    ("dex_device_state_events", Account),
    ("dlp_forensic_copies", Account),
    ("dns_firewall_logs", Account),
    ("dns_logs", Zone),
    ("email_security_alerts", Account),
    ("firewall_events", Zone),
    ("gateway_dns", Account),
    ("gateway_http", Account),
    ("gateway_network", Account),
    ("http_requests", Zone),
    ("magic_ids_detections", Account),
    ("nel_reports", Zone),
    ("network_analytics_logs", Account),
    ("page_shield_events", Zone),
    ("sinkhole_http_logs", Account),
    ("spectrum_events", Zone),
    ("workers_trace_events", Account),
    ("zero_trust_network_sessions", Account),
];

/// The scope of a Cloudflare dataset id, `None` for an unknown one.
pub fn dataset_scope(ds: &str) -> Option<DatasetScope> {
    DATASETS.iter().find(|(d, _)| *d == ds).map(|(_, s)| *s)
}

/// Logpull names Cloudflare removed (2023-08-01) or never offered to Logpush `http_requests`.
const NOT_IN_LOGPUSH: &[&str] = &[
    "Action",
    "EdgeRateLimitAction",
    "EdgeRateLimitID",
    "FirewallMatchesActions",
    "FirewallMatchesRuleIDs",
    "FirewallMatchesSources",
    "SecurityLevel",
    "WAFAction",
    "WAFFlags",
    "WAFMatchedVar",
    "WAFProfile",
    "WAFRuleID",
    "WAFRuleMessage",
];

/// Fields of `http_requests` that only Logpush has (custom fields; Logpull cannot return them).
pub const LOGPUSH_ONLY_HTTP_FIELDS: &[&str] = &["Cookies", "RequestHeaders", "ResponseHeaders"];

/// The fields the jobs API offers for a dataset: for `http_requests` the simulated Logpull fields
/// Logpush also has, plus the Logpush-only ones; a few real names for the others.
pub fn dataset_fields(ds: &str) -> Vec<&'static str> {
    match ds {
        "http_requests" => {
            let mut v: Vec<&'static str> = KNOWN_FIELDS
                .iter()
                .copied()
                .filter(|f| !NOT_IN_LOGPUSH.contains(f))
                .chain(LOGPUSH_ONLY_HTTP_FIELDS.iter().copied())
                .collect();
            v.sort_unstable();
            v
        }
        "firewall_events" => vec![
            "Action",
            "ClientIP",
            "ClientRequestHost",
            "Datetime",
            "RayID",
            "Source",
        ],
        _ => vec!["Datetime", "Timestamp", "ClientIP", "RayID"],
    }
}

/// Whether a `destination_conf` names a bucket (rather than an HTTP endpoint).
pub fn is_bucket_url(conf: &str) -> bool {
    ["s3://", "r2://", "gs://", "azure://"]
        .iter()
        .any(|p| conf.starts_with(p))
}

/// Where a bucket destination writes: the bucket and the folder inside it (no slashes at either
/// end; `{DATE}` still in it), as Cloudflare reads `s3://<bucket>/<dir>?…` / `r2://<bucket>/<dir>?…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BucketTarget {
    pub scheme: String,
    pub bucket: String,
    pub dir: String,
}

impl BucketTarget {
    /// Parses a bucket `destination_conf`; `None` when it is not one.
    pub fn parse(conf: &str) -> Option<BucketTarget> {
        if !is_bucket_url(conf) {
            return None;
        }
        let (scheme, rest) = conf.split_once("://")?;
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        let (bucket, dir) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return None;
        }
        let dir = dir
            .replace("%7BDATE%7D", "{DATE}")
            .replace("%7bDATE%7d", "{DATE}");
        Some(BucketTarget {
            scheme: scheme.to_string(),
            bucket: bucket.to_string(),
            dir: dir.trim_matches('/').to_string(),
        })
    }

    /// The object key for `name` written on `day` (`YYYYMMDD`): `{DATE}` becomes the day.
    pub fn key(&self, day: &str, name: &str) -> String {
        let dir = self.dir.replace("{DATE}", day);
        if dir.is_empty() {
            name.to_string()
        } else {
            format!("{dir}/{name}")
        }
    }

    /// The key of the ownership challenge file: in the folder, without the daily part.
    pub fn challenge_key(&self, name: &str) -> String {
        let dir = self.dir.replace("{DATE}", "");
        let dir = dir.trim_matches('/');
        let dir = dir.replace("//", "/");
        if dir.is_empty() {
            name.to_string()
        } else {
            format!("{dir}/{name}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_targets() {
        let t = BucketTarget::parse("s3://logs/cloudflare/http_requests/{DATE}?region=us-east-1")
            .expect("s3");
        assert_eq!(t.bucket, "logs");
        assert_eq!(
            t.key("20261201", "a.log.gz"),
            "cloudflare/http_requests/20261201/a.log.gz"
        );
        assert_eq!(
            t.challenge_key("ownership-challenge-1.txt"),
            "cloudflare/http_requests/ownership-challenge-1.txt"
        );
        let r2 = BucketTarget::parse("r2://b/%7BDATE%7D?account-id=x").expect("r2");
        assert_eq!(r2.key("20261201", "o"), "20261201/o");
        assert_eq!(r2.challenge_key("c.txt"), "c.txt");
        assert_eq!(BucketTarget::parse("https://x/y"), None);
        assert_eq!(BucketTarget::parse("s3:///x"), None);
    }

    #[test]
    fn datasets_and_fields() {
        assert_eq!(dataset_scope("http_requests"), Some(DatasetScope::Zone));
        assert_eq!(dataset_scope("gateway_dns"), Some(DatasetScope::Account));
        assert_eq!(dataset_scope("nope"), None);
        let f = dataset_fields("http_requests");
        assert!(f.contains(&"ZoneName") && f.contains(&"RequestHeaders"));
        assert!(!f.contains(&"WAFFlags"));
    }
}
