//! The Logpush data streams of Elastic's `cloudflare_logpush` integration: the data stream name
//! (the last segment of Elastic's default HTTP path `/cloudflare_logpush/<ds>`), the Cloudflare
//! dataset id a job is created with, and its scope (zone or account). See docs/logpush-delivery.md.

/// Whether a Cloudflare dataset belongs to a zone or an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Zone,
    Account,
}

impl Scope {
    /// `zones` / `accounts` (the API path segment).
    pub fn path(self) -> &'static str {
        match self {
            Scope::Zone => "zones",
            Scope::Account => "accounts",
        }
    }
}

/// One data stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataStream {
    /// Elastic's data stream name (`http_request`): index `logs-cloudflare_logpush.<name>-<ns>`.
    pub name: &'static str,
    /// Cloudflare's dataset id (`http_requests`).
    pub cloudflare: &'static str,
    pub scope: Scope,
    /// The data stream its documents go to: its own name, or for a dataset with no Elastic
    /// pipeline that cfship maps onto another one's, that one (`audit_logs_v2` → `audit`).
    pub data_stream: &'static str,
}

impl DataStream {
    /// `/cloudflare_logpush/<name>`, the path Elastic Agent's http_endpoint input listens on.
    pub fn default_path(&self) -> String {
        format!("{PATH_PREFIX}{}", self.name)
    }

    /// `logs-cloudflare_logpush.<data stream>-<namespace>`.
    pub fn index(&self, namespace: &str) -> String {
        format!("logs-cloudflare_logpush.{}-{namespace}", self.data_stream)
    }
}

/// The URL path prefix of Elastic's data stream paths.
pub const PATH_PREFIX: &str = "/cloudflare_logpush/";

macro_rules! ds {
    ($n:literal, $c:literal, $s:ident) => {
        ds!($n, $c, $s, $n)
    };
    ($n:literal, $c:literal, $s:ident, $into:literal) => {
        DataStream {
            name: $n,
            cloudflare: $c,
            scope: Scope::$s,
            data_stream: $into,
        }
    };
}

/// The 23 data streams of Elastic's package, and `audit_logs_v2` (docs/audit-v2.md).
pub const DATA_STREAMS: &[DataStream] = &[
    ds!("access_request", "access_requests", Account),
    ds!("audit", "audit_logs", Account),
    ds!("audit_logs_v2", "audit_logs_v2", Account, "audit"),
    ds!("casb", "casb_findings", Account),
    ds!("device_posture", "device_posture_results", Account),
    ds!("dex_application_tests", "dex_application_tests", Account),
    ds!(
        "dex_device_state_events",
        "dex_device_state_events",
        Account
    ),
    ds!("dlp_forensic_copies", "dlp_forensic_copies", Account),
    ds!("dns", "dns_logs", Zone),
    ds!("dns_firewall", "dns_firewall_logs", Account),
    ds!("email_security_alerts", "email_security_alerts", Account),
    ds!("firewall_event", "firewall_events", Zone),
    ds!("gateway_dns", "gateway_dns", Account),
    ds!("gateway_http", "gateway_http", Account),
    ds!("gateway_network", "gateway_network", Account),
    ds!("http_request", "http_requests", Zone),
    ds!("magic_ids", "magic_ids_detections", Account),
    ds!("nel_report", "nel_reports", Zone),
    ds!("network_analytics", "network_analytics_logs", Account),
    ds!("network_session", "zero_trust_network_sessions", Account),
    ds!("page_shield_events", "page_shield_events", Zone),
    ds!("sinkhole_http", "sinkhole_http_logs", Account),
    ds!("spectrum_event", "spectrum_events", Zone),
    ds!("workers_trace", "workers_trace_events", Account),
];

/// Finds a data stream by Elastic's name (`http_request`) or Cloudflare's id (`http_requests`).
pub fn find(name: &str) -> Option<&'static DataStream> {
    DATA_STREAMS
        .iter()
        .find(|d| d.name == name)
        .or_else(|| DATA_STREAMS.iter().find(|d| d.cloudflare == name))
}

/// The known names, for error messages.
pub fn names() -> String {
    DATA_STREAMS
        .iter()
        .map(|d| d.name)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_names_resolve_and_are_unique() {
        assert_eq!(DATA_STREAMS.len(), 24);
        assert_eq!(
            find("audit_logs_v2").map(|d| d.index("default")),
            Some("logs-cloudflare_logpush.audit-default".to_string())
        );
        for d in DATA_STREAMS {
            assert_eq!(find(d.name), Some(d));
            assert_eq!(find(d.cloudflare), Some(d));
            assert_eq!(DATA_STREAMS.iter().filter(|o| o.name == d.name).count(), 1);
        }
        assert_eq!(
            find("http_requests").map(|d| d.default_path()),
            Some("/cloudflare_logpush/http_request".to_string())
        );
        assert_eq!(find("firewall_event").map(|d| d.scope), Some(Scope::Zone));
        assert_eq!(find("nope"), None);
    }
}
