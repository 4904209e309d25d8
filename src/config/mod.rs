//! The configuration file (YAML): `${VAR}` expansion, strict keys with "did you mean", durations,
//! per-source credential overrides, secrets that never print.
//!
//! Every error names the file and the line it comes from. Who owns what (docs/design.md,
//! "Configuration"): `schema` is the shape of the file; `validate` the rules that involve the file
//! itself (sources present, credentials, URLs); each component (collector, Elasticsearch sink)
//! owns its defaults and the rules of its settings, and `app::wiring` maps sections onto them.

mod expand;
mod schema;
mod validate;
mod yaml_error;

pub use cfship_secret::Secret;
pub use expand::expand_env;
pub use schema::*;

use std::path::Path;
use std::time::Duration;
use validate::credentials_of;

/// A configuration error; the message names the line (and never contains a secret).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Where a configuration came from: the file's name and text (for line numbers) and the values
/// substituted from the environment (redacted from every error).
#[derive(Clone, Default)]
pub(crate) struct Origin {
    name: String,
    text: String,
    expanded: expand::Expanded,
}

impl std::fmt::Debug for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // never the text or the substituted values: they may hold secrets
        f.debug_struct("Origin").field("name", &self.name).finish()
    }
}

/// `90s`, `5m`, `1h`, `720h`, `1h 30m` (humantime). Zero is refused. The one duration grammar
/// of the configuration.
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
    /// An error about `key` of `section` (its line, when the text has one), secrets redacted.
    pub fn error_at(&self, section: &str, key: &str, msg: &str) -> ConfigError {
        let place = match validate::find_key_line_in(&self.origin.text, section, key) {
            Some(l) => format!("{} line {l}", self.origin.name),
            None => self.origin.name.clone(),
        };
        ConfigError(self.origin.expanded.redact(&format!("{place}: {msg}")))
    }

    /// An error about `key` of the list entry where `value` appears (e.g. a bucket's url): the
    /// line of the first `key:` from that line on, secrets redacted.
    pub fn error_near(&self, value: &str, key: &str, msg: &str) -> ConfigError {
        let line = validate::find_value_line(&self.origin.text, value).and_then(|l| {
            validate::find_key_line(&self.origin.text, key, l.saturating_sub(1)).or(Some(l))
        });
        let place = match line {
            Some(l) => format!("{} line {l}", self.origin.name),
            None => self.origin.name.clone(),
        };
        ConfigError(self.origin.expanded.redact(&format!("{place}: {msg}")))
    }

    /// Reads, expands and validates a file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read config file {}: {e}", path.display())))?;
        Self::parse(&text, &path.display().to_string(), &|k| {
            std::env::var(k).ok()
        })
    }

    /// Parses text (`origin` names the file in errors); `env` looks variables up. Checks the shape
    /// and the rules between sections; the components' own rules are checked by
    /// `app::wiring::check_components` (which `app::wiring::load_config` runs).
    pub fn parse(
        text: &str,
        origin: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let expanded = expand_env(text, env).map_err(|e| ConfigError(format!("{origin} {e}")))?;
        let mut cfg: Config = serde_yaml::from_str(&expanded.text).map_err(|e| {
            ConfigError(expanded.redact(&yaml_error::describe(origin, &e, &expanded.text)))
        })?;
        cfg.origin = Origin {
            name: origin.to_string(),
            text: text.to_string(),
            expanded,
        };
        cfg.validate()?;
        Ok(cfg)
    }

    /// A configuration built in code (the demo), validated like a file (without line numbers).
    pub fn from_value(v: serde_json::Value, origin: &str) -> Result<Config, ConfigError> {
        let mut cfg: Config =
            serde_json::from_value(v).map_err(|e| ConfigError(format!("{origin}: {e}")))?;
        cfg.origin.name = origin.to_string();
        cfg.validate()?;
        Ok(cfg)
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

    /// The zones and accounts of `logpush_jobs:` with their effective credentials.
    pub fn logpush_job_scopes(&self) -> (Vec<Source>, Vec<Source>) {
        (
            self.resolve(self.logpush_jobs.as_ref().map(|j| &j.zones)),
            self.resolve(self.logpush_jobs.as_ref().map(|j| &j.accounts)),
        )
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
            .chain(
                self.logpush_jobs
                    .iter()
                    .flat_map(|j| j.zones.iter().chain(j.accounts.iter())),
            )
        {
            add(e.api_token.as_ref());
            add(e.api_key.as_ref());
        }
        if let Some(es) = &self.elasticsearch {
            add(es.api_key.as_ref());
            add(es.password.as_ref());
            add(es.bearer_token.as_ref());
        }
        if let Some(lp) = &self.logpush {
            add(lp.secret.as_ref().map(|s| &s.value));
        }
        for b in self.logpush_bucket.iter().flatten() {
            add(b.access_key_id.as_ref());
            add(b.secret_access_key.as_ref());
            for v in b.options.values() {
                add(Some(v));
            }
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

#[cfg(test)]
mod tests;
