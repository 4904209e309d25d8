//! Sink configuration: its defaults and rules ([`EsConfig::validate`]), secrets, cloud id and API
//! key handling. The binary maps its `elasticsearch:` section onto [`EsConfig`] in one place.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::EsError;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

pub use cfship_secret::Secret;

/// How the sink authenticates.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum EsAuth {
    /// No credentials (or credentials carried in a custom header).
    #[default]
    None,
    /// HTTP basic auth.
    Basic { username: String, password: Secret },
    /// Elasticsearch API key, either `id:key` or the base64 `encoded` form Kibana shows.
    ApiKey(Secret),
    /// OAuth2 / service account bearer token.
    Bearer(Secret),
}

impl EsAuth {
    /// The `Authorization` header value, if any.
    pub fn header_value(&self) -> Option<Secret> {
        match self {
            EsAuth::None => None,
            EsAuth::Basic { username, password } => Some(Secret::new(format!(
                "Basic {}",
                STANDARD.encode(format!("{username}:{}", password.expose()))
            ))),
            EsAuth::ApiKey(k) => Some(Secret::new(format!(
                "ApiKey {}",
                encode_api_key(k.expose())
            ))),
            EsAuth::Bearer(t) => Some(Secret::new(format!("Bearer {}", t.expose().trim()))),
        }
    }
}

/// Normalise an API key to the base64 form of `id:key` that goes after `ApiKey `.
/// `id:key` is encoded; a string that is already base64 of `id:key` is kept as is.
pub fn encode_api_key(key: &str) -> String {
    let key = key.trim();
    if key.contains(':') {
        return STANDARD.encode(key);
    }
    key.to_string()
}

/// Where documents that Elasticsearch refuses for good (mapping errors and other 4xx) go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetterConfig {
    /// NDJSON file (appended, fsynced). Always used when `index` is unset, and as the fallback when a
    /// dead letter cannot be indexed into `index`.
    pub path: PathBuf,
    /// Optional index (e.g. `cfship-deadletter-default`) to index dead letters into.
    pub index: Option<String>,
}

impl Default for DeadLetterConfig {
    fn default() -> Self {
        DeadLetterConfig {
            path: PathBuf::from("cfship-deadletter.ndjson"),
            index: None,
        }
    }
}

/// Bulk batch limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchConfig {
    /// Max documents per bulk request.
    pub max_docs: usize,
    /// Max uncompressed bytes per bulk request (action lines included).
    pub max_bytes: usize,
    /// Max time a document waits in a [`crate::Batcher`] before a flush.
    pub flush_interval: Duration,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_docs: 2000,
            max_bytes: 4 * 1024 * 1024,
            flush_interval: Duration::from_secs(1),
        }
    }
}

/// Retry backoff: exponential from `initial`, capped at `max`, with full jitter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryConfig {
    pub initial: Duration,
    pub max: Duration,
}

impl RetryConfig {
    /// The [`cfship_retry::Policy`] of these settings: full jitter (many writers retrying against
    /// one cluster spread the most), no attempt limit (the sink retries until shut down).
    pub fn policy(&self) -> cfship_retry::Policy {
        cfship_retry::Policy::forever(cfship_retry::Backoff::new(
            self.initial,
            self.max,
            cfship_retry::Jitter::Full,
        ))
    }
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(30),
        }
    }
}

/// Configuration of [`crate::ElasticsearchSink`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EsConfig {
    /// Base URLs, tried round robin (dead ones skipped). User info in a URL is moved to basic auth.
    pub hosts: Vec<String>,
    /// Elastic Cloud id (`name:base64(host$es_uuid$kibana_uuid)`); replaces `hosts` when set.
    pub cloud_id: Option<String>,
    pub auth: EsAuth,
    /// PEM file with extra CA certificates to trust.
    pub ca_file: Option<PathBuf>,
    /// PEM file with the client certificate chain (and the key, unless `client_key` is set).
    pub client_cert: Option<PathBuf>,
    /// PEM file with the client private key.
    pub client_key: Option<PathBuf>,
    /// Accept any server certificate. Default off; logged loudly when on.
    pub insecure: bool,
    /// Extra headers sent with every request (values are secrets: never logged).
    pub headers: BTreeMap<String, Secret>,
    /// Timeout of one HTTP request.
    pub timeout: Duration,
    /// Data stream namespace (`logs-cloudflare.<dataset>-<namespace>`).
    pub namespace: String,
    pub batch: BatchConfig,
    /// Bulk requests in flight at once, over all callers of one sink (backpressure).
    pub max_in_flight: usize,
    /// gzip level of request bodies: 0 = not compressed, 1 (fastest, the default, as Beats and
    /// Logstash) to 9 (smallest).
    pub compression_level: u32,
    pub retry: RetryConfig,
    pub dead_letter: DeadLetterConfig,
    /// Send `pipeline=_none` so that a default ingest pipeline (e.g. Fleet's, when Fleet's templates
    /// win) does not re-process documents cfship already transformed.
    pub skip_default_pipeline: bool,
}

impl Default for EsConfig {
    fn default() -> Self {
        EsConfig {
            hosts: vec!["http://127.0.0.1:9200".to_string()],
            cloud_id: None,
            auth: EsAuth::None,
            ca_file: None,
            client_cert: None,
            client_key: None,
            insecure: false,
            headers: BTreeMap::new(),
            timeout: Duration::from_secs(60),
            namespace: "default".to_string(),
            batch: BatchConfig::default(),
            max_in_flight: 4,
            compression_level: 1,
            retry: RetryConfig::default(),
            dead_letter: DeadLetterConfig::default(),
            skip_default_pipeline: true,
        }
    }
}

impl EsConfig {
    /// Whether every host is on this machine (`localhost`, `127.0.0.0/8`, `::1`): there, gzip
    /// saves no network and costs CPU on both ends, so cfship's default level is 0 (see
    /// `compression_level` in the binary's configuration).
    pub fn all_hosts_loopback(&self) -> bool {
        self.cloud_id.is_none()
            && !self.hosts.is_empty()
            && self.hosts.iter().all(|h| {
                let Ok(u) = reqwest::Url::parse(h) else {
                    return false;
                };
                let host = u.host_str().unwrap_or_default();
                host.eq_ignore_ascii_case("localhost")
                    || host
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            })
    }

    /// The rules of the settings (checked at startup by the binary, which adds the line of the
    /// config file). [`EsError::Setting`] names the setting.
    pub fn validate(&self) -> Result<(), EsError> {
        let bad = |key, reason: String| Err(EsError::Setting { key, reason });
        if self.hosts.is_empty() && self.cloud_id.is_none() {
            return bad("hosts", "is empty: set `hosts` or `cloud_id`".into());
        }
        if self.compression_level > 9 {
            return bad(
                "compression_level",
                format!("is {}: 0 (none) to 9", self.compression_level),
            );
        }
        if let Some(why) = namespace_problem(&self.namespace) {
            return bad(
                "namespace",
                format!(
                    "{:?} is not a valid data stream namespace ({why})",
                    self.namespace
                ),
            );
        }
        Ok(())
    }
}

/// Why `ns` cannot be the namespace part of a data stream name (`logs-<dataset>-<namespace>`), if
/// it cannot: Elasticsearch's index name rules, plus no `-` (it separates the parts).
fn namespace_problem(ns: &str) -> Option<&'static str> {
    if ns.is_empty() || ns.len() > 100 {
        return Some("1 to 100 characters");
    }
    if ns
        .chars()
        .any(|c| c.is_ascii_uppercase() || "\\/*?\"<>| ,#:-".contains(c))
    {
        return Some(
            "lowercase, no `-`, `\\`, `/`, `*`, `?`, `\"`, `<`, `>`, `|`, space, `,`, `#`, `:`",
        );
    }
    None
}

/// Decode an Elastic Cloud id into the Elasticsearch base URL (`https://<es_uuid>.<host>:<port>`).
pub fn decode_cloud_id(cloud_id: &str) -> Result<String, EsError> {
    let bad = |why: &str| EsError::Config(format!("invalid cloud_id: {why}"));
    let encoded = match cloud_id.trim().rsplit_once(':') {
        Some((_name, enc)) => enc,
        None => cloud_id.trim(),
    };
    let decoded = STANDARD
        .decode(encoded)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(encoded))
        .map_err(|_| bad("not base64"))?;
    let decoded = String::from_utf8(decoded).map_err(|_| bad("not UTF-8"))?;
    let mut parts = decoded.split('$');
    let host = parts.next().unwrap_or_default().trim_end_matches('/');
    let es_uuid = parts.next().unwrap_or_default();
    if host.is_empty() || es_uuid.is_empty() {
        return Err(bad("missing host or Elasticsearch id"));
    }
    let (host, port) = match host.rsplit_once(':') {
        Some((h, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => (h, p),
        _ => (host, "443"),
    };
    let (es_uuid, port) = match es_uuid.rsplit_once(':') {
        Some((u, p)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => (u, p),
        _ => (es_uuid, port),
    };
    Ok(format!("https://{es_uuid}.{host}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_policy_is_full_jitter_forever() {
        // The policy itself is tested in cfship-retry; this pins what the sink asks of it.
        let p = RetryConfig::default().policy();
        assert_eq!(p.max_attempts, None);
        assert_eq!(p.backoff.jitter, cfship_retry::Jitter::Full);
        assert_eq!(p.backoff.cap(0), Duration::from_millis(100));
        assert_eq!(p.backoff.cap(3), Duration::from_millis(800));
        assert_eq!(p.backoff.cap(20), Duration::from_secs(30));
    }

    #[test]
    fn cloud_id_decodes_default_port() {
        // name:base64("us-central1.gcp.cloud.es.io$abc123$def456")
        let enc = STANDARD.encode("us-central1.gcp.cloud.es.io$abc123$def456");
        let url = decode_cloud_id(&format!("my-deployment:{enc}")).unwrap();
        assert_eq!(url, "https://abc123.us-central1.gcp.cloud.es.io:443");
    }

    #[test]
    fn cloud_id_decodes_explicit_ports_and_trailing_slash() {
        let enc = STANDARD.encode("eu-west-1.aws.found.io:9243/$es0$kb0");
        assert_eq!(
            decode_cloud_id(&format!("x:{enc}")).unwrap(),
            "https://es0.eu-west-1.aws.found.io:9243"
        );
        let enc = STANDARD.encode("host.example:443$es1:9244$kb");
        assert_eq!(
            decode_cloud_id(&format!("cluster:with:colons:{enc}")).unwrap(),
            "https://es1.host.example:9244"
        );
    }

    #[test]
    fn cloud_id_rejects_garbage() {
        assert!(decode_cloud_id("name:!!!notbase64").is_err());
        let enc = STANDARD.encode("onlyhost");
        assert!(decode_cloud_id(&format!("n:{enc}")).is_err());
    }

    #[test]
    fn api_key_forms() {
        // id:key is encoded, the encoded form is kept
        let encoded = STANDARD.encode("VuaCfGcBCdbkQm-e5aOx:ui2lp2axTNmsyakw9tvNnw");
        assert_eq!(
            encode_api_key("VuaCfGcBCdbkQm-e5aOx:ui2lp2axTNmsyakw9tvNnw"),
            encoded
        );
        assert_eq!(encode_api_key(&encoded), encoded);
        assert_eq!(encode_api_key(&format!(" {encoded}\n")), encoded);
        let h = EsAuth::ApiKey(Secret::new("id:key"))
            .header_value()
            .unwrap();
        assert_eq!(h.expose(), format!("ApiKey {}", STANDARD.encode("id:key")));
        let h = EsAuth::Basic {
            username: "elastic".into(),
            password: Secret::new("changeme"),
        }
        .header_value()
        .unwrap();
        assert_eq!(h.expose(), "Basic ZWxhc3RpYzpjaGFuZ2VtZQ==");
        assert_eq!(
            EsAuth::Bearer(Secret::new("tok"))
                .header_value()
                .unwrap()
                .expose(),
            "Bearer tok"
        );
        assert!(EsAuth::None.header_value().is_none());
    }

    #[test]
    fn debug_of_config_never_shows_secrets() {
        let mut cfg = EsConfig {
            auth: EsAuth::Basic {
                username: "elastic".into(),
                password: Secret::new("hunter2-pass"),
            },
            ..Default::default()
        };
        cfg.headers
            .insert("X-Custom-Token".into(), Secret::new("header-secret-value"));
        let dbg = format!("{cfg:?} {:?} {}", cfg.auth, cfg.headers["X-Custom-Token"]);
        assert!(!dbg.contains("hunter2-pass"), "{dbg}");
        assert!(!dbg.contains("header-secret-value"), "{dbg}");
        assert!(dbg.contains("[redacted]"));
        assert!(dbg.contains("elastic"), "user name is not a secret");
        for auth in [
            EsAuth::ApiKey(Secret::new("myid:my-api-key-secret")),
            EsAuth::Bearer(Secret::new("my-bearer-secret")),
        ] {
            let cfg = EsConfig {
                auth,
                ..Default::default()
            };
            let dbg = format!("{cfg:?}");
            assert!(!dbg.contains("secret"), "{dbg}");
            assert!(!format!("{:?}", cfg.auth.header_value()).contains("secret"));
        }
    }

    #[test]
    fn defaults_are_sensible_and_valid() {
        let cfg = EsConfig::default();
        assert_eq!(cfg.hosts, vec!["http://127.0.0.1:9200"]);
        assert!(!cfg.insecure);
        assert_eq!(cfg.compression_level, 1);
        assert!(cfg.max_in_flight > 0);
        assert_eq!(cfg.namespace, "default");
        assert!(cfg.dead_letter.index.is_none());
        assert!(cfg.validate().is_ok());
    }

    #[test]
    fn loopback_hosts() {
        let on = |hosts: &[&str]| EsConfig {
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            ..Default::default()
        };
        assert!(on(&[
            "http://127.0.0.1:9200",
            "https://localhost",
            "http://[::1]:9200"
        ])
        .all_hosts_loopback());
        assert!(on(&["http://127.9.0.1:9200"]).all_hosts_loopback());
        assert!(!on(&["http://127.0.0.1:9200", "https://es.example.net"]).all_hosts_loopback());
        assert!(!on(&["http://10.0.0.1:9200"]).all_hosts_loopback());
        assert!(!on(&[]).all_hosts_loopback());
        assert!(!EsConfig {
            cloud_id: Some("x:eA==".into()),
            ..on(&["http://127.0.0.1:9200"])
        }
        .all_hosts_loopback());
    }

    #[test]
    fn rules_name_the_setting() {
        let key = |c: EsConfig| match c.validate() {
            Err(EsError::Setting { key, .. }) => key,
            r => panic!("{r:?}"),
        };
        let no_host = EsConfig {
            hosts: vec![],
            ..Default::default()
        };
        assert_eq!(key(no_host.clone()), "hosts");
        assert_eq!(
            key(EsConfig {
                compression_level: 10,
                ..Default::default()
            }),
            "compression_level"
        );
        assert!(EsConfig {
            cloud_id: Some("x:eA==".into()),
            ..no_host
        }
        .validate()
        .is_ok());
        for ns in ["", "Prod", "a-b", "a b", "a:b", &"x".repeat(101)] {
            let c = EsConfig {
                namespace: ns.to_string(),
                ..Default::default()
            };
            assert_eq!(key(c), "namespace", "{ns:?}");
        }
        assert!(EsConfig {
            namespace: "prod_eu.1".into(),
            ..Default::default()
        }
        .validate()
        .is_ok());
    }
}
