//! Sink configuration (serde), secrets, cloud id and API key handling.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Deserializer};

use crate::EsError;

pub use cfship_secret::Secret;

/// How the sink authenticates. In YAML/TOML/JSON: `auth: {basic: {username, password}}`,
/// `auth: {api_key: "id:key" | "<base64>"}`, `auth: {bearer: "<token>"}`, or `auth: none` (default).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Auth {
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

impl Auth {
    /// The `Authorization` header value, if any.
    pub fn header_value(&self) -> Option<Secret> {
        match self {
            Auth::None => None,
            Auth::Basic { username, password } => Some(Secret::new(format!(
                "Basic {}",
                STANDARD.encode(format!("{username}:{}", password.expose()))
            ))),
            Auth::ApiKey(k) => Some(Secret::new(format!(
                "ApiKey {}",
                encode_api_key(k.expose())
            ))),
            Auth::Bearer(t) => Some(Secret::new(format!("Bearer {}", t.expose().trim()))),
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
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
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
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct BatchConfig {
    /// Max documents per bulk request.
    pub max_docs: usize,
    /// Max uncompressed bytes per bulk request (action lines included).
    pub max_bytes: usize,
    /// Max time a document waits in a [`crate::Batcher`] before a flush.
    #[serde(deserialize_with = "de_duration")]
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
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct RetryConfig {
    #[serde(deserialize_with = "de_duration")]
    pub initial: Duration,
    #[serde(deserialize_with = "de_duration")]
    pub max: Duration,
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
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct EsConfig {
    /// Base URLs, tried round robin (dead ones skipped). User info in a URL is moved to basic auth.
    pub hosts: Vec<String>,
    /// Elastic Cloud id (`name:base64(host$es_uuid$kibana_uuid)`); replaces `hosts` when set.
    pub cloud_id: Option<String>,
    pub auth: Auth,
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
    #[serde(deserialize_with = "de_duration")]
    pub timeout: Duration,
    /// Data stream namespace (`logs-cloudflare.<dataset>-<namespace>`).
    pub namespace: String,
    pub batch: BatchConfig,
    /// Bulk requests in flight at once, over all callers of one sink (backpressure).
    pub max_in_flight: usize,
    /// gzip request bodies.
    pub compression: bool,
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
            auth: Auth::None,
            ca_file: None,
            client_cert: None,
            client_key: None,
            insecure: false,
            headers: BTreeMap::new(),
            timeout: Duration::from_secs(60),
            namespace: "default".to_string(),
            batch: BatchConfig::default(),
            max_in_flight: 4,
            compression: true,
            retry: RetryConfig::default(),
            dead_letter: DeadLetterConfig::default(),
            skip_default_pipeline: true,
        }
    }
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

/// Parse `"500ms"`, `"30s"`, `"2m"`, `"1h"` or a bare number of seconds.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim();
    let (num, mul_ms) = if let Some(n) = s.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1000.0)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60_000.0)
    } else if let Some(n) = s.strip_suffix('h') {
        (n, 3_600_000.0)
    } else {
        (s, 1000.0)
    };
    let v: f64 = num.trim().parse().ok()?;
    if !v.is_finite() || v < 0.0 {
        return None;
    }
    Some(Duration::from_micros((v * mul_ms * 1000.0) as u64))
}

fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Num(f64),
        Str(String),
    }
    match Raw::deserialize(d)? {
        Raw::Num(n) if n.is_finite() && n >= 0.0 => Ok(Duration::from_secs_f64(n)),
        Raw::Num(n) => Err(serde::de::Error::custom(format!("invalid duration {n}"))),
        Raw::Str(s) => parse_duration(&s)
            .ok_or_else(|| serde::de::Error::custom(format!("invalid duration {s:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let h = Auth::ApiKey(Secret::new("id:key")).header_value().unwrap();
        assert_eq!(h.expose(), format!("ApiKey {}", STANDARD.encode("id:key")));
        let h = Auth::Basic {
            username: "elastic".into(),
            password: Secret::new("changeme"),
        }
        .header_value()
        .unwrap();
        assert_eq!(h.expose(), "Basic ZWxhc3RpYzpjaGFuZ2VtZQ==");
        assert_eq!(
            Auth::Bearer(Secret::new("tok"))
                .header_value()
                .unwrap()
                .expose(),
            "Bearer tok"
        );
        assert!(Auth::None.header_value().is_none());
    }

    #[test]
    fn debug_of_config_never_shows_secrets() {
        let json = r#"{
            "hosts": ["https://es.example:9200"],
            "auth": {"basic": {"username": "elastic", "password": "hunter2-pass"}},
            "headers": {"X-Custom-Token": "header-secret-value"},
            "timeout": "15s",
            "batch": {"max_docs": 10, "flush_interval": "250ms"}
        }"#;
        let cfg: EsConfig = serde_json::from_str(json).unwrap();
        let dbg = format!("{cfg:?} {:?} {}", cfg.auth, cfg.headers["X-Custom-Token"]);
        assert!(!dbg.contains("hunter2-pass"), "{dbg}");
        assert!(!dbg.contains("header-secret-value"), "{dbg}");
        assert!(dbg.contains("[redacted]"));
        assert!(dbg.contains("elastic"), "user name is not a secret");
        assert_eq!(cfg.timeout, Duration::from_secs(15));
        assert_eq!(cfg.batch.flush_interval, Duration::from_millis(250));
        assert_eq!(cfg.batch.max_docs, 10);
        assert_eq!(cfg.batch.max_bytes, BatchConfig::default().max_bytes);

        for auth in [
            r#"{"auth": {"api_key": "myid:my-api-key-secret"}}"#,
            r#"{"auth": {"bearer": "my-bearer-secret"}}"#,
        ] {
            let cfg: EsConfig = serde_json::from_str(auth).unwrap();
            let dbg = format!("{cfg:?}");
            assert!(!dbg.contains("secret"), "{dbg}");
            assert!(!format!("{:?}", cfg.auth.header_value()).contains("secret"));
        }
    }

    #[test]
    fn defaults_are_sensible() {
        let cfg = EsConfig::default();
        assert_eq!(cfg.hosts, vec!["http://127.0.0.1:9200"]);
        assert!(!cfg.insecure);
        assert!(cfg.compression);
        assert!(cfg.max_in_flight > 0);
        assert_eq!(cfg.namespace, "default");
        assert!(cfg.dead_letter.index.is_none());
        let empty: EsConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(empty, cfg);
        assert!(serde_json::from_str::<EsConfig>(r#"{"bogus": 1}"#).is_err());
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("-1s"), None);
        assert_eq!(parse_duration("abc"), None);
    }
}
