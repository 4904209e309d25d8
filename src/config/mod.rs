//! The configuration file (YAML): `${VAR}` expansion, strict keys with "did you mean", durations,
//! per-source credential overrides, secrets that never print.
//!
//! Every error names the file and the line it comes from.

mod expand;

pub use cfship_secret::Secret;
pub use expand::expand_env;

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Default address of `/metrics` and `/healthz`.
pub const DEFAULT_METRICS_LISTEN: &str = "127.0.0.1:9464";

/// A configuration error; the message names the line (and never contains a secret).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The whole file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub cloudflare: CloudflareSection,
    pub audit: Option<AuditSection>,
    pub logpull: Option<LogpullSection>,
    pub elasticsearch: Option<ElasticsearchSection>,
    pub file: Option<FileSection>,
    #[serde(default)]
    pub state: StateSection,
    pub geoip: Option<GeoipSection>,
    #[serde(default)]
    pub metrics: MetricsSection,
    #[serde(default)]
    pub transform: TransformSection,
}

/// `cloudflare:` — API URL and default credentials.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudflareSection {
    #[serde(default = "default_api_url")]
    pub api_url: String,
    pub api_token: Option<Secret>,
    pub email: Option<String>,
    pub api_key: Option<Secret>,
    /// Cloudflare's global limit is 1200 requests / 5 minutes per user.
    pub requests_per_5min: Option<u32>,
}

impl Default for CloudflareSection {
    fn default() -> Self {
        CloudflareSection {
            api_url: default_api_url(),
            api_token: None,
            email: None,
            api_key: None,
            requests_per_5min: None,
        }
    }
}

fn default_api_url() -> String {
    cfship_cloudflare::DEFAULT_API_URL.to_string()
}

/// Credentials of one source or of the `cloudflare:` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    Token(Secret),
    Key { email: String, key: Secret },
}

impl Credentials {
    pub fn to_auth(&self) -> cfship_cloudflare::Auth {
        match self {
            Credentials::Token(t) => cfship_cloudflare::Auth::token(t.expose()),
            Credentials::Key { email, key } => cfship_cloudflare::Auth::key(email, key.expose()),
        }
    }
}

/// One account or zone: a bare id, or `{id, api_token | email + api_key}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceEntry {
    pub id: String,
    pub api_token: Option<Secret>,
    pub email: Option<String>,
    pub api_key: Option<Secret>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceEntryMap {
    id: String,
    api_token: Option<Secret>,
    email: Option<String>,
    api_key: Option<Secret>,
}

impl<'de> Deserialize<'de> for SourceEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = SourceEntry;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an id, or a map {id, api_token | email + api_key}")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SourceEntry, E> {
                Ok(SourceEntry {
                    id: v.to_string(),
                    api_token: None,
                    email: None,
                    api_key: None,
                })
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<SourceEntry, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<SourceEntry, A::Error> {
                let m = SourceEntryMap::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(SourceEntry {
                    id: m.id,
                    api_token: m.api_token,
                    email: m.email,
                    api_key: m.api_key,
                })
            }
        }
        d.deserialize_any(V)
    }
}

/// Which audit log API to read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuditApiChoice {
    #[default]
    V1,
    V2,
}

/// `audit:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSection {
    pub accounts: Vec<SourceEntry>,
    #[serde(default = "h1", deserialize_with = "de_duration")]
    pub interval: Duration,
    #[serde(default = "h720", deserialize_with = "de_duration")]
    pub initial_lookback: Duration,
    #[serde(default)]
    pub api: AuditApiChoice,
    pub per_page: Option<u32>,
}

/// `logpull:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogpullSection {
    pub zones: Vec<SourceEntry>,
    #[serde(default = "m5", deserialize_with = "de_duration")]
    pub interval: Duration,
    #[serde(default)]
    pub bot_fields: bool,
    /// Explicit `fields` list (default: Elastic's list).
    pub fields: Option<Vec<String>>,
    /// 0 < sample <= 1.
    pub sample: Option<f64>,
    /// Timestamp format asked of Cloudflare: `unixnano` (Cloudflare's and Elastic's default),
    /// `unix` or `rfc3339`; the transform reads all three.
    #[serde(default)]
    pub timestamps: cfship_cloudflare::Timestamps,
    /// Longest window (≤ 1h, Cloudflare's limit).
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub max_window: Option<Duration>,
    /// First start without a cursor: now − 1m − initial_lookback (default 5m).
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub initial_lookback: Option<Duration>,
}

/// `elasticsearch:` (optional output).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ElasticsearchSection {
    #[serde(default)]
    pub hosts: Vec<String>,
    pub cloud_id: Option<String>,
    pub api_key: Option<Secret>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// Bearer token (OAuth2 / service account), instead of api_key or username/password.
    pub bearer_token: Option<Secret>,
    #[serde(default = "default_namespace")]
    pub namespace: String,
    pub ca_file: Option<PathBuf>,
    #[serde(default)]
    pub insecure: bool,
    /// Client certificate chain (PEM; the key may be inside or in `client_key`).
    pub client_cert: Option<PathBuf>,
    pub client_key: Option<PathBuf>,
    /// Extra HTTP headers on every request (values treated as secrets).
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, Secret>,
    /// Request timeout, e.g. `60s`.
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub timeout: Option<Duration>,
    /// Also (or instead of the file) write dead letters to this index, e.g. `cfship-deadletter-default`.
    pub dead_letter_index: Option<String>,
    /// Documents Elasticsearch refuses for good (mapping errors) go here (NDJSON).
    pub dead_letter_path: Option<PathBuf>,
    pub max_in_flight: Option<usize>,
    pub batch_max_docs: Option<usize>,
}

fn default_namespace() -> String {
    "default".to_string()
}

/// `file:` (optional output): ECS NDJSON. `{dataset}` in the path is replaced by audit/logpull.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSection {
    pub path: PathBuf,
}

/// `state:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateSection {
    #[serde(default = "default_state_dir")]
    pub dir: PathBuf,
}

impl Default for StateSection {
    fn default() -> Self {
        StateSection {
            dir: default_state_dir(),
        }
    }
}

fn default_state_dir() -> PathBuf {
    PathBuf::from("./cfship-state")
}

/// `geoip:`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoipSection {
    pub dir: PathBuf,
}

/// `metrics:` — `/metrics` and `/healthz`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSection {
    /// `host:port`; `off` (or empty) disables the endpoint.
    #[serde(default = "default_metrics_listen")]
    pub listen: String,
}

impl Default for MetricsSection {
    fn default() -> Self {
        MetricsSection {
            listen: default_metrics_listen(),
        }
    }
}

fn default_metrics_listen() -> String {
    DEFAULT_METRICS_LISTEN.to_string()
}

/// `transform:` — document options (Elastic Agent's integration settings).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformSection {
    /// Keep `event.original` (tag `preserve_original_event`).
    #[serde(default)]
    pub preserve_original_event: bool,
    /// Extra tags (after Elastic Agent's `forwarded`, `cloudflare-<dataset>`).
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub fix_upstream_bugs: bool,
    /// Re-encode numbers as Elastic Agent does (float64) so Logpull `_id`s equal Agent's even for
    /// `unixnano` timestamps; default keeps Cloudflare's digits.
    #[serde(default)]
    pub agent_numbers: bool,
}

fn h1() -> Duration {
    Duration::from_secs(3600)
}
fn h720() -> Duration {
    Duration::from_secs(720 * 3600)
}
fn m5() -> Duration {
    Duration::from_secs(300)
}

fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    parse_duration(&s).map_err(de::Error::custom)
}

fn de_opt_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let s = Option::<String>::deserialize(d)?;
    match s {
        None => Ok(None),
        Some(s) => parse_duration(&s).map(Some).map_err(de::Error::custom),
    }
}

/// `90s`, `5m`, `1h`, `720h`, `1h 30m` (humantime). Zero is refused.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s.trim())
        .map_err(|e| format!("invalid duration {s:?} ({e}); use e.g. 90s, 5m, 1h, 720h"))?;
    if d.is_zero() {
        return Err(format!("invalid duration {s:?}: must be greater than zero"));
    }
    Ok(d)
}

/// A resolved source: id + credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub id: String,
    pub credentials: Credentials,
}

impl Config {
    /// Reads, expands and validates a file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", path.display())))?;
        Self::parse(&text, &path.display().to_string(), &|k| {
            std::env::var(k).ok()
        })
    }

    /// Parses text (`origin` names the file in errors); `env` looks variables up.
    pub fn parse(
        text: &str,
        origin: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let expanded = expand_env(text, env).map_err(|e| ConfigError(format!("{origin} {e}")))?;
        let redact = |msg: String| expanded.redact(&msg);
        let cfg: Config = serde_yaml::from_str(&expanded.text)
            .map_err(|e| ConfigError(redact(describe_yaml_error(origin, &e, &expanded.text))))?;
        cfg.validate(origin, text)
            .map_err(|e| ConfigError(redact(e.0)))?;
        Ok(cfg)
    }

    /// A configuration built in code (the demo), validated like a file (without line numbers).
    pub fn from_value(v: serde_json::Value, origin: &str) -> Result<Config, ConfigError> {
        let cfg: Config =
            serde_json::from_value(v).map_err(|e| ConfigError(format!("{origin}: {e}")))?;
        cfg.validate(origin, "")?;
        Ok(cfg)
    }

    fn validate(&self, origin: &str, text: &str) -> Result<(), ConfigError> {
        let at = |key: &str| match find_key_line(text, key) {
            Some(l) => format!("{origin} line {l}"),
            None => origin.to_string(),
        };
        let at_value = |v: &str| match find_value_line(text, v) {
            Some(l) => format!("{origin} line {l}"),
            None => origin.to_string(),
        };
        if self.audit.is_none() && self.logpull.is_none() {
            return Err(ConfigError(format!(
                "{origin}: no source configured: add an `audit:` section with `accounts:` and/or a \
                 `logpull:` section with `zones:`"
            )));
        }
        if let Some(a) = &self.audit {
            if a.accounts.is_empty() {
                return Err(ConfigError(format!(
                    "{}: `audit.accounts` is empty: list at least one account id (or remove the `audit:` section)",
                    at("accounts")
                )));
            }
            if let Some(p) = a.per_page {
                if !(1..=1000).contains(&p) {
                    return Err(ConfigError(format!(
                        "{}: `audit.per_page` must be 1..=1000, got {p}",
                        at("per_page")
                    )));
                }
            }
        }
        if let Some(l) = &self.logpull {
            if l.zones.is_empty() {
                return Err(ConfigError(format!(
                    "{}: `logpull.zones` is empty: list at least one zone id (or remove the `logpull:` section)",
                    at("zones")
                )));
            }
            if let Some(s) = l.sample {
                if !(s > 0.0 && s <= 1.0) {
                    return Err(ConfigError(format!(
                        "{}: `logpull.sample` must be > 0 and <= 1, got {s}",
                        at("sample")
                    )));
                }
            }
            if let Some(w) = l.max_window {
                if w > Duration::from_secs(3600) {
                    return Err(ConfigError(format!(
                        "{}: `logpull.max_window` must be at most 1h (Cloudflare's limit)",
                        at("max_window")
                    )));
                }
            }
        }
        let cf = &self.cloudflare;
        if url_parse_ok(&cf.api_url).is_err() {
            return Err(ConfigError(format!(
                "{}: `cloudflare.api_url` {:?} is not a URL",
                at("api_url"),
                cf.api_url
            )));
        }
        credentials_of(
            cf.api_token.as_ref(),
            cf.email.as_ref(),
            cf.api_key.as_ref(),
        )
        .map_err(|e| ConfigError(format!("{}: cloudflare: {e}", at("cloudflare"))))?;
        let default = self.default_credentials();
        for (kind, list) in [
            ("audit.accounts", self.audit.as_ref().map(|a| &a.accounts)),
            ("logpull.zones", self.logpull.as_ref().map(|l| &l.zones)),
        ] {
            for e in list.into_iter().flatten() {
                if e.id.trim().is_empty() {
                    return Err(ConfigError(format!(
                        "{}: an entry of `{kind}` has an empty id",
                        at(kind.split('.').nth(1).unwrap_or(kind))
                    )));
                }
                let own =
                    credentials_of(e.api_token.as_ref(), e.email.as_ref(), e.api_key.as_ref())
                        .map_err(|m| {
                            ConfigError(format!(
                                "{}: `{kind}` entry {}: {m}",
                                at_value(&e.id),
                                e.id
                            ))
                        })?;
                if own.is_none() && default.is_none() {
                    return Err(ConfigError(format!(
                        "{}: `{kind}` entry {} has no credentials: set `cloudflare.api_token` \
                         (or `cloudflare.email` + `cloudflare.api_key`), or give the entry its own",
                        at_value(&e.id),
                        e.id
                    )));
                }
            }
        }
        if let Some(es) = &self.elasticsearch {
            if es.hosts.is_empty() && es.cloud_id.is_none() {
                return Err(ConfigError(format!(
                    "{}: `elasticsearch` needs `hosts` or `cloud_id`",
                    at("elasticsearch")
                )));
            }
            if es.api_key.is_some() && (es.username.is_some() || es.password.is_some()) {
                return Err(ConfigError(format!(
                    "{}: `elasticsearch`: set either `api_key` or `username` + `password`, not both",
                    at("elasticsearch")
                )));
            }
            if es.username.is_some() != es.password.is_some() {
                return Err(ConfigError(format!(
                    "{}: `elasticsearch`: `username` and `password` go together",
                    at("elasticsearch")
                )));
            }
            if es.namespace.is_empty()
                || es.namespace.len() > 100
                || es
                    .namespace
                    .chars()
                    .any(|c| c.is_ascii_uppercase() || "\\/*?\"<>| ,#:-".contains(c))
            {
                return Err(ConfigError(format!(
                    "{}: `elasticsearch.namespace` {:?} is not a valid data stream namespace \
                     (lowercase, no `-`, `\\`, `/`, `*`, `?`, `\"`, `<`, `>`, `|`, space, `,`, `#`, `:`)",
                    at("namespace"),
                    es.namespace
                )));
            }
        }
        let m = self.metrics.listen.trim();
        if !(m.is_empty() || m == "off") && m.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError(format!(
                "{}: `metrics.listen` {m:?} is not host:port (e.g. 127.0.0.1:9464) or `off`",
                at("listen")
            )));
        }
        Ok(())
    }

    fn default_credentials(&self) -> Option<Credentials> {
        let cf = &self.cloudflare;
        credentials_of(
            cf.api_token.as_ref(),
            cf.email.as_ref(),
            cf.api_key.as_ref(),
        )
        .ok()
        .flatten()
    }

    fn resolve(&self, list: Option<&Vec<SourceEntry>>) -> Vec<Source> {
        let default = self.default_credentials();
        list.into_iter()
            .flatten()
            .filter_map(|e| {
                let own =
                    credentials_of(e.api_token.as_ref(), e.email.as_ref(), e.api_key.as_ref())
                        .ok()
                        .flatten();
                own.or_else(|| default.clone()).map(|credentials| Source {
                    id: e.id.trim().to_string(),
                    credentials,
                })
            })
            .collect()
    }

    /// Accounts with their effective credentials.
    pub fn accounts(&self) -> Vec<Source> {
        self.resolve(self.audit.as_ref().map(|a| &a.accounts))
    }

    /// Zones with their effective credentials.
    pub fn zones(&self) -> Vec<Source> {
        self.resolve(self.logpull.as_ref().map(|l| &l.zones))
    }

    /// Every secret value of the configuration (to scrub from any text shown to users).
    pub fn secrets(&self) -> Vec<String> {
        let mut v = Vec::new();
        let mut add = |s: Option<&Secret>| {
            if let Some(s) = s {
                v.push(s.expose().to_string())
            }
        };
        add(self.cloudflare.api_token.as_ref());
        add(self.cloudflare.api_key.as_ref());
        for e in self
            .audit
            .iter()
            .flat_map(|a| a.accounts.iter())
            .chain(self.logpull.iter().flat_map(|l| l.zones.iter()))
        {
            add(e.api_token.as_ref());
            add(e.api_key.as_ref());
        }
        if let Some(es) = &self.elasticsearch {
            add(es.api_key.as_ref());
            add(es.password.as_ref());
        }
        v.retain(|s| !s.is_empty());
        v
    }

    /// The metrics address, `None` when disabled.
    pub fn metrics_addr(&self) -> Option<std::net::SocketAddr> {
        let m = self.metrics.listen.trim();
        if m.is_empty() || m == "off" {
            return None;
        }
        m.parse().ok()
    }
}

fn url_parse_ok(s: &str) -> Result<(), ()> {
    let s = s.trim();
    if (s.starts_with("http://") || s.starts_with("https://")) && s.len() > 8 {
        Ok(())
    } else {
        Err(())
    }
}

fn credentials_of(
    token: Option<&Secret>,
    email: Option<&String>,
    key: Option<&Secret>,
) -> Result<Option<Credentials>, String> {
    match (token, email, key) {
        (None, None, None) => Ok(None),
        (Some(t), None, None) => {
            if t.expose().trim().is_empty() {
                Err(
                    "`api_token` is empty (is its environment variable set to an empty value?)"
                        .into(),
                )
            } else {
                Ok(Some(Credentials::Token(t.clone())))
            }
        }
        (None, Some(e), Some(k)) => {
            if k.expose().trim().is_empty() || e.trim().is_empty() {
                Err("`email` / `api_key` is empty".into())
            } else {
                Ok(Some(Credentials::Key {
                    email: e.clone(),
                    key: k.clone(),
                }))
            }
        }
        (Some(_), _, _) => Err("set either `api_token` or `email` + `api_key`, not both".into()),
        (None, Some(_), None) => Err("`email` needs `api_key` (the global API key)".into()),
        (None, None, Some(_)) => Err("`api_key` needs `email` (global API key auth)".into()),
    }
}

/// 1-based line of the first `key:` (as a mapping key or `id: key`/list item value) in the text.
fn find_key_line(text: &str, key: &str) -> Option<usize> {
    for (i, line) in text.lines().enumerate() {
        let t = line.trim_start().trim_start_matches("- ").trim_start();
        if t.starts_with('#') {
            continue;
        }
        if t.starts_with(&format!("{key}:")) || t.starts_with(&format!("\"{key}\":")) {
            return Some(i + 1);
        }
    }
    None
}

/// 1-based line where a value (e.g. a zone id) first appears outside comments.
fn find_value_line(text: &str, value: &str) -> Option<usize> {
    if value.is_empty() {
        return None;
    }
    text.lines()
        .position(|l| {
            l.split(" #")
                .next()
                .is_some_and(|code| !code.trim_start().starts_with('#') && code.contains(value))
        })
        .map(|i| i + 1)
}

/// Turns a serde_yaml error into "file line N: message" plus a "did you mean" for unknown keys.
fn describe_yaml_error(origin: &str, e: &serde_yaml::Error, text: &str) -> String {
    let mut msg = e.to_string();
    // serde_yaml appends " at line L column C"; we put the line in front instead.
    if let Some(pos) = msg.rfind(" at line ") {
        msg.truncate(pos);
    }
    let mut line = e.location().map(|l| l.line());
    // Errors of custom parsers (durations) point at the enclosing map: find the value itself.
    if let Some(v) = msg
        .split("invalid duration \"")
        .nth(1)
        .and_then(|r| r.split('"').next())
    {
        let from = line.unwrap_or(1).saturating_sub(1);
        if let Some(l) = text
            .lines()
            .skip(from)
            .position(|l| l.contains(v) && !l.trim_start().starts_with('#'))
        {
            line = Some(from + l + 1);
        }
    }
    let place = match line {
        Some(l) => format!("{origin} line {l}"),
        None => origin.to_string(),
    };
    if let Some(hint) = did_you_mean(&msg) {
        msg.push_str(&format!(" — did you mean `{hint}`?"));
    }
    format!("{place}: {msg}")
}

/// For `unknown field `x`, expected one of `a`, `b``, the closest expected name.
fn did_you_mean(msg: &str) -> Option<String> {
    let rest = msg.split("unknown field `").nth(1)?;
    let (unknown, rest) = rest.split_once('`')?;
    let expected: Vec<&str> = rest
        .split('`')
        .enumerate()
        .filter(|(i, _)| i % 2 == 1)
        .map(|(_, s)| s)
        .collect();
    let mut best: Option<(f64, &str)> = None;
    for cand in expected {
        let score = strsim::jaro_winkler(unknown, cand);
        if best.is_none_or(|(b, _)| score > b) {
            best = Some((score, cand));
        }
    }
    best.filter(|(s, _)| *s >= 0.7).map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests;
