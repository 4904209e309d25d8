//! The rules that concern the file itself: at least one source, no empty list, valid credentials
//! for every source, URLs and addresses, Elasticsearch credentials that do not contradict each
//! other. The rules of a component's own settings (`logpull.sample`, `audit.per_page`,
//! `elasticsearch.namespace`…) belong to the component and are checked through `app::wiring`.

use super::{Config, ConfigError, Credentials, Secret};

impl Config {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.validate_sources()?;
        self.validate_credentials()?;
        self.validate_ids()?;
        self.validate_elasticsearch()?;
        self.validate_state()?;
        self.validate_metrics()
    }

    /// `state.backend: elasticsearch` keeps cursors on the `elasticsearch:` output's cluster;
    /// `state.index` only means something with it.
    fn validate_state(&self) -> Result<(), ConfigError> {
        use super::schema::StateBackend;
        match self.state.backend {
            StateBackend::Elasticsearch if self.elasticsearch.is_none() => {
                Err(ConfigError(format!(
                    "{}: `state.backend: elasticsearch` keeps cursors on the cluster of the \
                 `elasticsearch:` output: add an `elasticsearch:` section (or use `backend: file`)",
                    self.at("state", "backend")
                )))
            }
            StateBackend::File if self.state.index.is_some() => Err(ConfigError(format!(
                "{}: `state.index` is the index of `backend: elasticsearch`; with the file backend \
                 cursors live in `state.dir`: remove `index` or set `backend: elasticsearch`",
                self.at("state", "index")
            ))),
            _ => Ok(()),
        }
    }

    /// "file line N" of `key` (the first one after `section:` when there is one).
    fn at(&self, section: &str, key: &str) -> String {
        match find_key_line_in(&self.origin.text, section, key) {
            Some(l) => format!("{} line {l}", self.origin.name),
            None => self.origin.name.clone(),
        }
    }

    /// "file line N" where `value` (a source id) appears.
    fn at_value(&self, value: &str) -> String {
        match find_value_line(&self.origin.text, value) {
            Some(l) => format!("{} line {l}", self.origin.name),
            None => self.origin.name.clone(),
        }
    }

    /// What `run` and `backfill` need besides a valid file: a source to collect (`setup` and
    /// `check` accept a file with only an `elasticsearch:` section).
    pub fn require_source(&self) -> Result<(), ConfigError> {
        if self.audit.is_none()
            && self.logpull.is_none()
            && self.logpush.is_none()
            && self.logpush_bucket.is_none()
        {
            return Err(ConfigError(format!(
                "{}: no source configured: add an `audit:` section with `accounts:`, a \
                 `logpull:` section with `zones:`, a `logpush:` section (the HTTPS destination) \
                 and/or `logpush_bucket:` (a list of buckets)",
                self.origin.name
            )));
        }
        Ok(())
    }

    /// What `run` and `backfill` need besides a valid file: somewhere to put the documents.
    pub fn require_output(&self) -> Result<(), ConfigError> {
        if self.elasticsearch.is_none() && self.file.is_none() {
            return Err(ConfigError(format!(
                "{}: no output configured: add an `elasticsearch:` section and/or `file: {{path: …}}`",
                self.origin.name
            )));
        }
        Ok(())
    }

    /// Zone and account ids are 32 lower-case hex digits (Cloudflare's tag format; a mistyped
    /// or pasted-name id is named with its line), and each is listed once (a duplicate would be
    /// collected twice: double the rate-limit budget, duplicate file lines).
    fn validate_ids(&self) -> Result<(), ConfigError> {
        for (kind, what, list) in [
            (
                "audit.accounts",
                "account",
                self.audit.as_ref().map(|a| &a.accounts),
            ),
            (
                "logpull.zones",
                "zone",
                self.logpull.as_ref().map(|l| &l.zones),
            ),
            (
                "logpush_jobs.zones",
                "zone",
                self.logpush_jobs.as_ref().map(|j| &j.zones),
            ),
            (
                "logpush_jobs.accounts",
                "account",
                self.logpush_jobs.as_ref().map(|j| &j.accounts),
            ),
        ] {
            let mut seen: Vec<&str> = Vec::new();
            for e in list.into_iter().flatten() {
                let id = e.id.trim();
                if !is_cloudflare_id(id) {
                    return Err(ConfigError(self.origin.expanded.redact(&format!(
                        "{}: `{kind}` entry {id:?} is not a valid {what} id: Cloudflare ids are 32 hex \
                         digits (copy it from the dashboard's Overview page, API section)",
                        self.at_value(id)
                    ))));
                }
                if seen.contains(&id) {
                    return Err(ConfigError(format!(
                        "{}: `{kind}` lists {what} {id} twice (lines {}): list each {what} once",
                        self.origin.name,
                        value_lines(&self.origin.text, id)
                            .iter()
                            .map(|l| l.to_string())
                            .collect::<Vec<_>>()
                            .join(" and ")
                    )));
                }
                seen.push(id);
            }
        }
        Ok(())
    }

    fn validate_sources(&self) -> Result<(), ConfigError> {
        if self
            .logpush_jobs
            .as_ref()
            .is_some_and(|j| j.zones.is_empty() && j.accounts.is_empty())
        {
            return Err(ConfigError(format!(
                "{}: `logpush_jobs` lists no `zones:` or `accounts:` (or remove the section)",
                self.at("logpush_jobs", "logpush_jobs")
            )));
        }
        if self.logpush_bucket.as_ref().is_some_and(|b| b.is_empty()) {
            return Err(ConfigError(format!(
                "{}: `logpush_bucket` is empty: list at least one bucket {{url, dataset}} (or remove the section)",
                self.at("logpush_bucket", "logpush_bucket")
            )));
        }
        if self.audit.as_ref().is_some_and(|a| a.accounts.is_empty()) {
            return Err(ConfigError(format!(
                "{}: `audit.accounts` is empty: list at least one account id (or remove the `audit:` section)",
                self.at("audit", "accounts")
            )));
        }
        if self.logpull.as_ref().is_some_and(|l| l.zones.is_empty()) {
            return Err(ConfigError(format!(
                "{}: `logpull.zones` is empty: list at least one zone id (or remove the `logpull:` section)",
                self.at("logpull", "zones")
            )));
        }
        Ok(())
    }

    fn validate_credentials(&self) -> Result<(), ConfigError> {
        let at = |key: &str| self.at("cloudflare", key);
        let at_value = |v: &str| self.at_value(v);
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
            (
                "logpush_jobs.zones",
                self.logpush_jobs.as_ref().map(|j| &j.zones),
            ),
            (
                "logpush_jobs.accounts",
                self.logpush_jobs.as_ref().map(|j| &j.accounts),
            ),
        ] {
            for e in list.into_iter().flatten() {
                if e.id.trim().is_empty() {
                    return Err(ConfigError(format!(
                        "{}: an entry of `{kind}` has an empty id",
                        self.at(
                            kind.split('.').next().unwrap_or(kind),
                            kind.split('.').nth(1).unwrap_or(kind)
                        )
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
        Ok(())
    }

    /// Credentials that contradict each other (the sink's own rules, such as `hosts` or the
    /// namespace, are the sink's: `EsConfig::validate`).
    fn validate_elasticsearch(&self) -> Result<(), ConfigError> {
        let Some(es) = &self.elasticsearch else {
            return Ok(());
        };
        let at = self.at("elasticsearch", "elasticsearch");
        if es.api_key.is_some() && (es.username.is_some() || es.password.is_some()) {
            return Err(ConfigError(format!(
                "{at}: `elasticsearch`: set either `api_key` or `username` + `password`, not both"
            )));
        }
        if es.username.is_some() != es.password.is_some() {
            return Err(ConfigError(format!(
                "{at}: `elasticsearch`: `username` and `password` go together"
            )));
        }
        Ok(())
    }

    fn validate_metrics(&self) -> Result<(), ConfigError> {
        let m = self.metrics.listen.trim();
        if !(m.is_empty() || m == "off") && m.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError(format!(
                "{}: `metrics.listen` {m:?} is not host:port (e.g. 127.0.0.1:9464) or `off`",
                self.at("metrics", "listen")
            )));
        }
        Ok(())
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

pub(super) fn credentials_of(
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

/// 1-based line of `key:` (as a mapping key or `id: key`/list item value): the first one after the
/// line of `section:` if the text has that section, else the first one in the text; without the key
/// (a setting left to its default), the line of the section.
pub(super) fn find_key_line_in(text: &str, section: &str, key: &str) -> Option<usize> {
    let section_line = find_key_line(text, section, 0);
    find_key_line(text, key, section_line.unwrap_or(0))
        .or_else(|| find_key_line(text, key, 0))
        .or(section_line)
}

/// 1-based line of the first `key:` at or after line `from` (0-based).
pub(super) fn find_key_line(text: &str, key: &str, from: usize) -> Option<usize> {
    for (i, line) in text.lines().enumerate().skip(from) {
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

/// Cloudflare's id (tag) format: 32 hex digits.
pub fn is_cloudflare_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// 1-based lines where a value appears outside comments.
fn value_lines(text: &str, value: &str) -> Vec<usize> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| {
            l.split(" #")
                .next()
                .is_some_and(|code| !code.trim_start().starts_with('#') && code.contains(value))
        })
        .map(|(i, _)| i + 1)
        .collect()
}

/// 1-based line where a value (e.g. a zone id) first appears outside comments.
pub(super) fn find_value_line(text: &str, value: &str) -> Option<usize> {
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
