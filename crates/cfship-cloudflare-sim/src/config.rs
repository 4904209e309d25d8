//! What the simulator serves: zones, accounts, credentials, fault knobs. Every type deserialises from
//! partial JSON (`cfship simulate --config`), missing fields taking their defaults.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct SimZone {
    pub id: String,
    pub retention_enabled: bool,
    pub records_per_minute: u32,
    pub bot_management: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct SimAccount {
    pub id: String,
    pub events_per_hour: u32,
}

impl Default for SimZone {
    fn default() -> Self {
        SimZone {
            id: String::new(),
            retention_enabled: true,
            records_per_minute: 60,
            bot_management: false,
        }
    }
}

impl Default for SimAccount {
    fn default() -> Self {
        SimAccount {
            id: String::new(),
            events_per_hour: 30,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct SimCredentials {
    /// Valid API tokens (`Authorization: Bearer`).
    pub tokens: Vec<String>,
    /// Valid (email, global API key) pairs.
    pub keys: Vec<(String, String)>,
}

/// Fault knobs. Rates are fractions of the eligible requests (0.0–1.0), spread evenly with a
/// seed-dependent phase: 0.1 = every 10th request, so a test gets the faults it asks for on every run.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    pub rate_429: f64,
    pub retry_after_secs: u64,
    pub rate_5xx: f64,
    /// Logpull: body cut short (half: connection reset, half: clean end mid-object / mid-gzip).
    pub rate_truncated: f64,
    /// Logpull: body ends with `Error streaming data` after some records.
    pub rate_error_trailer: f64,
    pub rate_slow: f64,
    /// Delay of a slow response (before the headers, and once more in the middle of a Logpull body).
    pub slow_ms: u64,
    /// Logpull: a response with more records than this ends with `Error streaming data` after that
    /// many records (Cloudflare's answer when a response hits its 10 GiB / 10 min limits). 0 = off.
    pub max_records_per_response: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default)]
pub struct SimulatorConfig {
    pub seed: u64,
    pub zones: Vec<SimZone>,
    pub accounts: Vec<SimAccount>,
    pub credentials: SimCredentials,
    pub faults: Faults,
    /// Simulator clock = real clock + offset (negative: server behind).
    pub clock_offset_secs: i64,
    /// `true`: NDJSON; `false`: objects back-to-back without newline (like Elastic's Go mock).
    pub newline_separated: bool,
    /// Compress Logpull bodies when the client sends `Accept-Encoding: gzip`.
    pub gzip: bool,
    /// Largest accepted audit `per_page` / `limit` (Cloudflare publishes no maximum).
    pub audit_max_page_size: u64,
    /// Logpull answers `204 No Content` (instead of `200` with an empty body) for a window without
    /// records, as some users report Cloudflare doing.
    pub no_content_when_empty: bool,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        SimulatorConfig {
            seed: 1,
            zones: Vec::new(),
            accounts: Vec::new(),
            credentials: SimCredentials::default(),
            faults: Faults::default(),
            clock_offset_secs: 0,
            newline_separated: true,
            gzip: true,
            audit_max_page_size: 1000,
            no_content_when_empty: false,
        }
    }
}

impl SimulatorConfig {
    /// A ready-to-use configuration for demos: two zones, one account, a token and a key.
    pub fn demo(seed: u64) -> Self {
        SimulatorConfig {
            seed,
            zones: vec![
                SimZone {
                    id: "023e105f4ecef8ad9ca31a8372d0c353".into(),
                    retention_enabled: true,
                    records_per_minute: 60,
                    bot_management: true,
                },
                SimZone {
                    id: "9a7806061c88ada191ed06f989cc3dac".into(),
                    retention_enabled: true,
                    records_per_minute: 20,
                    bot_management: false,
                },
            ],
            accounts: vec![SimAccount {
                id: "01a7362d577a6c3019a474fd6f485823".into(),
                events_per_hour: 30,
            }],
            credentials: SimCredentials {
                tokens: vec!["sim-token".into()],
                keys: vec![("user@example.com".into(), "sim-global-key".into())],
            },
            ..Default::default()
        }
    }

    pub(crate) fn zone(&self, id: &str) -> Option<&SimZone> {
        self.zones.iter().find(|z| z.id == id)
    }
    pub(crate) fn account(&self, id: &str) -> Option<&SimAccount> {
        self.accounts.iter().find(|a| a.id == id)
    }
}
