//! `cfship check --config FILE`: every pre-flight check, one line each, with the fix in words.

use crate::app::wiring::logpull_config;
use crate::config::Credentials;
use cfship_cloudflare::{CfError, ClientConfig, CloudflareClient, RetryPolicy};
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Args)]
pub struct CheckArgs {
    /// The configuration file (see cfship.example.yml).
    #[arg(long, short, env = "CFSHIP_CONFIG")]
    pub config: PathBuf,
}

/// One check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub name: String,
    pub ok: bool,
    pub detail: String,
    /// What to do about a failure.
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Check {
            name: name.into(),
            ok: true,
            detail: detail.into(),
            fix: None,
        }
    }
    fn fail(name: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Self {
        Check {
            name: name.into(),
            ok: false,
            detail: detail.into(),
            fix: Some(fix.into()),
        }
    }
    pub fn line(&self) -> String {
        let mut s = format!(
            "[{}] {} — {}",
            if self.ok { " ok " } else { "FAIL" },
            self.name,
            self.detail
        );
        if let Some(f) = &self.fix {
            s.push_str(&format!("\n       fix: {f}"));
        }
        s
    }
}

/// The whole pre-flight's budget: the live checks run concurrently and each one is given up
/// after this long (one attempt and one quick retry fit in it).
pub const CHECK_BUDGET: Duration = Duration::from_secs(10);

/// What a failed Cloudflare check should make the user do. `object`: the zone or account the
/// request was about (`None`: the token check).
fn cf_fix(e: &CfError, object: Option<&str>) -> String {
    let not_found =
        matches!(e.status(), Some(404)) || e.codes().contains(&7003) || e.codes().contains(&7000);
    match (e.status(), object) {
        (_, Some(what)) if not_found => format!(
            "the {what} does not exist or the token cannot see it: check the id in the config (the \
             dashboard shows it on the Overview page, API section) and that the token's resources include it"
        ),
        (Some(401) | Some(403), Some(what)) => format!(
            "the credentials are refused for the {what}: give the token the needed permission \
             (Zone → Logs → Read for Logpull, Account → Account Settings → Read for audit logs) on this {what}, \
             or set the entry's own `api_token`"
        ),
        (Some(401) | Some(403), None) | (Some(400), None) => {
            "the token is not valid: create an API token (Zone → Logs → Read for Logpull, Account → \
             Account Settings → Read for audit logs) and put it in `cloudflare.api_token` (or the entry's own `api_token`)"
                .into()
        }
        (Some(429), _) => "Cloudflare rate-limited the checks: wait a few minutes and run again".into(),
        (Some(500..=599), _) => {
            "Cloudflare answered with a server error: try again in a few minutes (cloudflarestatus.com)".into()
        }
        _ => "Cloudflare did not answer: check `cloudflare.api_url` and network access to it (proxy, firewall, DNS)"
            .into(),
    }
}

fn cred_name(c: &Credentials) -> String {
    match c {
        Credentials::Token(_) => "API token".into(),
        Credentials::Key { email, .. } => format!("global API key of {email}"),
    }
}

/// The Cloudflare client of `check`: one attempt and one quick retry, short timeouts.
fn check_client(cfg: &crate::config::Config) -> anyhow::Result<CloudflareClient> {
    let mut cc = ClientConfig::with_api_url(&cfg.cloudflare.api_url)?;
    if let Some(n) = cfg.cloudflare.requests_per_5min {
        cc.requests_per_5min = n.max(1);
    }
    cc.retry = RetryPolicy {
        max_attempts: 2,
        initial_backoff: Duration::from_millis(500),
        max_backoff: Duration::from_secs(1),
    };
    cc.connect_timeout = Duration::from_secs(3);
    cc.response_timeout = Duration::from_secs(4);
    cc.idle_body_timeout = Duration::from_secs(4);
    Ok(CloudflareClient::new(cc)?)
}

/// `fut`, or one failed check named `name` when it takes longer than the budget.
async fn within_budget(
    name: String,
    fix: &'static str,
    fut: impl std::future::Future<Output = Vec<Check>>,
) -> Vec<Check> {
    match tokio::time::timeout(CHECK_BUDGET, fut).await {
        Ok(v) => v,
        Err(_) => vec![Check::fail(
            name,
            format!("no answer within {}s", CHECK_BUDGET.as_secs()),
            fix,
        )],
    }
}

/// The fix of a configuration error: the line when the message names one.
fn config_fix(msg: &str) -> &'static str {
    if msg.contains(" line ") {
        "edit the line named above"
    } else {
        "fix the configuration as the message says"
    }
}

/// Runs every check; never fails itself (each failure is a line). First the same validation as
/// `run` (the file, every component's rules, a source and an output), then the live checks, all
/// at once, each within [`CHECK_BUDGET`].
pub async fn checks(args: &CheckArgs) -> Vec<Check> {
    let mut out = Vec::new();
    let cfg = match crate::app::wiring::load_config(&args.config) {
        Ok(c) => {
            out.push(Check::ok(
                "config",
                format!(
                    "{} is valid ({}, {})",
                    args.config.display(),
                    plural(c.zones().len(), "zone"),
                    plural(c.accounts().len(), "account")
                ),
            ));
            c
        }
        Err(e) => {
            let msg = e.to_string();
            let fix = config_fix(&msg);
            out.push(Check::fail("config", msg, fix));
            return out;
        }
    };
    if let Err(e) = cfg.require_output() {
        out.push(Check::fail(
            "outputs",
            e.to_string(),
            "add an `elasticsearch:` section and/or `file: {path: …}`: `run` refuses a config without an output",
        ));
    }
    if cfg.require_source().is_err() {
        out.push(Check::ok(
            "sources",
            "none configured: enough for `cfship setup`; `run` and `backfill` need an `audit:` or `logpull:` section",
        ));
    }
    let client = match check_client(&cfg) {
        Ok(c) => c,
        Err(e) => {
            out.push(Check::fail(
                "cloudflare client",
                format!("{e:#}"),
                "fix `cloudflare.api_url`",
            ));
            return out;
        }
    };
    let cfg = &cfg;
    let client = &client;
    let cloudflare = async {
        // credentials: each distinct set once, all at once
        let mut creds: Vec<(Credentials, String)> = Vec::new();
        for s in cfg.zones().into_iter().chain(cfg.accounts()) {
            if !creds.iter().any(|(c, _)| *c == s.credentials) {
                creds.push((s.credentials.clone(), s.id.clone()));
            }
        }
        let verified = futures::future::join_all(creds.iter().map(|(c, used_by)| {
            let name = format!("cloudflare credentials ({}, used by {used_by})", cred_name(c));
            within_budget(name.clone(), NO_ANSWER, async move {
                vec![match client.verify_token(&c.to_auth()).await {
                    Ok(t) if t.status == "active" => Check::ok(name, "valid and active"),
                    Ok(t) => Check::fail(
                        name,
                        format!("token status is {:?}", t.status),
                        "the token is disabled or expired: roll it or create a new one in the Cloudflare dashboard",
                    ),
                    Err(e) => {
                        let fix = cf_fix(&e, None);
                        Check::fail(name, e.to_string(), fix)
                    }
                }]
            })
        }))
        .await;
        let good: Vec<&Credentials> = creds
            .iter()
            .zip(&verified)
            .filter(|(_, v)| v.iter().all(|c| c.ok))
            .map(|(c, _)| &c.0)
            .collect();
        let mut lines: Vec<Check> = verified.into_iter().flatten().collect();
        // per source, only with credentials that passed (one error per token, not one per source)
        let skipped = |name: String| {
            vec![Check::fail(
                name,
                "not checked: its credentials failed above",
                "fix the credentials first",
            )]
        };
        let zones = cfg.zones();
        let accounts = cfg.accounts();
        let zone_checks = zones.iter().map(|z| {
            let name = format!("logpull zone {}", z.id);
            let ok = good.contains(&&z.credentials);
            async move {
                if !ok {
                    return skipped(name);
                }
                within_budget(name.clone(), NO_ANSWER, zone_check(cfg, client, z)).await
            }
        });
        let account_checks = accounts.iter().map(|a| {
            let name = format!("audit account {}", a.id);
            let ok = good.contains(&&a.credentials);
            async move {
                if !ok {
                    return skipped(name);
                }
                within_budget(name.clone(), NO_ANSWER, async move {
                    vec![
                        match client.audit_readable(&a.credentials.to_auth(), &a.id).await {
                            Ok(()) => Check::ok(&name, "audit logs are readable"),
                            Err(e) => {
                                let fix = cf_fix(&e, Some("account"));
                                Check::fail(&name, e.to_string(), fix)
                            }
                        },
                    ]
                })
                .await
            }
        });
        let (z, a) = futures::future::join(
            futures::future::join_all(zone_checks),
            futures::future::join_all(account_checks),
        )
        .await;
        lines.extend(z.into_iter().flatten());
        lines.extend(a.into_iter().flatten());
        lines
    };
    let es = async {
        match crate::app::wiring::es_config(cfg) {
            None if cfg.file.is_some() => {
                vec![Check::ok(
                    "elasticsearch",
                    "not configured (file output only)",
                )]
            }
            None => Vec::new(),
            Some(es_cfg) => within_budget(
                "elasticsearch".into(),
                "check `elasticsearch.hosts`/`cloud_id`, that Elasticsearch runs, and the network",
                es_checks(es_cfg),
            )
            .await,
        }
    };
    let logpush = within_budget("logpush".into(), NO_ANSWER, logpush_checks(cfg, client));
    let (cf_lines, es_lines, lp_lines) = futures::future::join3(cloudflare, es, logpush).await;
    out.extend(cf_lines);
    out.extend(lp_lines);
    out.extend(es_lines);
    if let Some(f) = &cfg.file {
        let out_f = crate::output::FileWriter::new(&f.path);
        for p in out_f.paths() {
            let dir = p
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
                .map(|d| d.to_path_buf())
                .unwrap_or_else(|| PathBuf::from("."));
            let name = format!("file output {}", p.display());
            match std::fs::create_dir_all(&dir).and_then(|_| tempfile_in(&dir)) {
                Ok(()) => out.push(Check::ok(name, "directory is writable")),
                Err(e) => out.push(Check::fail(
                    name,
                    e.to_string(),
                    "create the directory or fix its permissions",
                )),
            }
        }
    }
    // what `run` opens before collecting: the GeoIP databases and the metrics address
    if let Some(g) = &cfg.geoip {
        let name = format!("geoip {}", g.dir.display());
        match cfship_ecs::GeoIp::open_dir(&g.dir) {
            Ok(_) => out.push(Check::ok(name, "the databases open")),
            Err(e) => out.push(Check::fail(
                name,
                e.to_string(),
                "put GeoLite2-City.mmdb / GeoLite2-ASN.mmdb in `geoip.dir`, or remove the `geoip:` section",
            )),
        }
    }
    if let Some(addr) = cfg.metrics_addr() {
        let name = format!("metrics.listen {addr}");
        match std::net::TcpListener::bind(addr) {
            Ok(_) => out.push(Check::ok(name, "free")),
            Err(e) => out.push(Check::fail(
                name,
                e.to_string(),
                "another process (a running cfship?) holds the address: stop it, change `metrics.listen`, or set `off`",
            )),
        }
    }
    if cfg.state.backend == crate::config::StateBackend::Elasticsearch {
        let index = cfg.state.index_name().to_string();
        let name = format!("state index {index}");
        let opened = match crate::app::wiring::es_config(cfg) {
            Some(es) => tokio::task::spawn_blocking(move || {
                cfship_state::EsStore::open(&es, &index).map(|_| ())
            })
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string())),
            None => Err("no `elasticsearch:` section".to_string()),
        };
        match opened {
            Ok(()) => out.push(Check::ok(name, "exists, format understood")),
            Err(e) => out.push(Check::fail(
                name,
                e,
                "run `cfship setup --config FILE` (it creates the state index)",
            )),
        }
    } else {
        match cfship_state::CursorStore::open(&cfg.state.dir) {
            Ok(_) => out.push(Check::ok(
                format!("state dir {}", cfg.state.dir.display()),
                "usable",
            )),
            Err(e) => out.push(Check::fail(
                format!("state dir {}", cfg.state.dir.display()),
                e.to_string(),
                "create the directory or fix its permissions (`state.dir`)",
            )),
        }
    }
    out
}

const NO_ANSWER: &str =
    "Cloudflare did not answer in time: check `cloudflare.api_url` and network access to it";

/// Retention flag and field list of one zone (both requests at once).
async fn zone_check(
    cfg: &crate::config::Config,
    client: &CloudflareClient,
    z: &crate::config::Source,
) -> Vec<Check> {
    let auth = z.credentials.to_auth();
    let name = format!("logpull zone {}", z.id);
    let lc = logpull_config(cfg, z);
    let requested: Vec<String> = lc.fields_param().split(',').map(str::to_string).collect();
    let (retention, fields) = futures::future::join(
        client.logpull_retention(&auth, &z.id),
        client.logpull_fields(&auth, &z.id),
    )
    .await;
    let mut out = Vec::new();
    match retention {
        Ok(true) => out.push(Check::ok(&name, "log retention is on and the credentials may read logs")),
        Ok(false) => out.push(Check::fail(
            &name,
            "Logpull log retention is off: Cloudflare keeps no logs for this zone",
            format!(
                "turn it on: POST /zones/{}/logs/control/retention/flag with {{\"flag\":true}} (token with Zone → Logs → Edit); logs exist only from then on",
                z.id
            ),
        )),
        Err(e) => {
            let fix = cf_fix(&e, Some("zone"));
            out.push(Check::fail(&name, e.to_string(), fix));
            // the field list fails for the same reason: one line is enough
            return out;
        }
    }
    match fields {
        Ok(available) => out.extend(field_checks(
            &z.id,
            &requested,
            &available,
            lc.fields.is_none(),
        )),
        Err(e) => {
            let fix = cf_fix(&e, Some("zone"));
            out.push(Check::fail(
                format!("logpull zone {} fields", z.id),
                e.to_string(),
                fix,
            ))
        }
    }
    out
}

/// Reachability, privileges and templates of Elasticsearch.
async fn es_checks(es_cfg: cfship_elasticsearch::EsConfig) -> Vec<Check> {
    match cfship_elasticsearch::ElasticsearchSink::connect(es_cfg).await {
        Ok(sink) => sink
            .check()
            .await
            .into_iter()
            .map(|r| {
                if r.ok {
                    Check::ok(format!("elasticsearch {}", r.name), r.detail)
                } else {
                    Check::fail(
                        format!("elasticsearch {}", r.name),
                        r.detail,
                        "give the user/API key the privileges named above (e.g. index templates: manage_index_templates; data streams logs-cloudflare.*: create_doc, auto_configure)",
                    )
                }
            })
            .collect(),
        Err(e) => vec![Check::fail(
            "elasticsearch",
            e.to_string(),
            "check `elasticsearch.hosts`/`cloud_id`, that Elasticsearch runs, and the credentials",
        )],
    }
}

/// The Logpush checks: each job of `logpush_jobs:` (a disabled or failing job is a FAIL: logs
/// are being lost), the receiver's spool directory, each bucket's listing.
async fn logpush_checks(
    cfg: &crate::config::Config,
    client: &cfship_cloudflare::CloudflareClient,
) -> Vec<Check> {
    use crate::app::logpush_jobs;
    let mut out = Vec::new();
    let scopes = logpush_jobs::scopes(cfg);
    for (scope, r) in logpush_jobs::fetch(client, &scopes).await {
        match r {
            Ok(jobs) if jobs.is_empty() => out.push(Check::fail(
                format!("logpush jobs {}", scope.describe()),
                "no Logpush job: Cloudflare pushes nothing from here",
                "create one: cfship logpush create --zone|--account … --dataset … --destination …",
            )),
            Ok(jobs) => {
                for j in &jobs {
                    let (name, problem) = logpush_jobs::describe(&scope, j);
                    match problem {
                        None => out.push(Check::ok(
                            name,
                            format!(
                                "enabled, last complete {}",
                                j.last_complete.as_deref().unwrap_or("never (no batch yet)")
                            ),
                        )),
                        Some((detail, fix)) => out.push(Check::fail(name, detail, fix)),
                    }
                }
            }
            Err(e) => {
                let fix = cf_fix(
                    &e,
                    Some(match scope {
                        cfship_cloudflare::JobScope::Zone(_) => "zone",
                        cfship_cloudflare::JobScope::Account(_) => "account",
                    }),
                );
                out.push(Check::fail(
                    format!("logpush jobs {}", scope.describe()),
                    e.to_string(),
                    fix,
                ))
            }
        }
    }
    if let Ok(Some(rs)) = crate::app::logpush::receiver_settings(cfg) {
        let name = format!("logpush spool {}", rs.spool_dir.display());
        match std::fs::create_dir_all(&rs.spool_dir).and_then(|_| tempfile_in(&rs.spool_dir)) {
            Ok(()) => out.push(Check::ok(name, "directory is writable")),
            Err(e) => out.push(Check::fail(
                name,
                e.to_string(),
                "create the directory or fix its permissions (`logpush.spool.dir`)",
            )),
        }
    }
    for b in crate::app::logpush::bucket_configs(cfg).unwrap_or_default() {
        let name = format!("logpush bucket {}", b.label());
        match cfship_logpush::bucket::list_top(&b).await {
            Ok(n) => out.push(Check::ok(
                name,
                format!("listable ({n} entries at the prefix)"),
            )),
            Err(e) => out.push(Check::fail(
                name,
                e.to_string(),
                "check `url`, `endpoint` and the keys (the key needs list and read on the bucket)",
            )),
        }
    }
    out
}

/// Logpull fields that need Cloudflare Bot Management (Enterprise add-on): without it Cloudflare
/// refuses the whole request naming them.
pub const BOT_MANAGEMENT_FIELDS: &[&str] = &[
    "BotScore",
    "BotScoreSrc",
    "BotTags",
    "BotDetectionIDs",
    "BotDetectionTags",
    "VerifiedBotCategory",
    "JA3Hash",
    "JA4",
    "JA4Signals",
];

/// The field-list checks of one zone: unknown names (with a "did you mean"), names that need Bot
/// Management, and names the ECS documents need (`elastic_list`: no `logpull.fields` given).
pub fn field_checks(
    zone: &str,
    requested: &[String],
    available: &[String],
    elastic_list: bool,
) -> Vec<Check> {
    let mut out = Vec::new();
    let name = format!("logpull zone {zone} fields");
    let unknown: Vec<&String> = requested
        .iter()
        .filter(|f| !available.iter().any(|a| a == *f))
        .collect();
    if !unknown.is_empty() {
        let described: Vec<String> = unknown
            .iter()
            .map(|u| {
                let best = available
                    .iter()
                    .map(|a| (strsim::jaro_winkler(u, a), a))
                    .filter(|(score, _)| *score > 0.85)
                    .max_by(|a, b| a.0.total_cmp(&b.0));
                match best {
                    Some((_, a)) => format!("{u} (did you mean {a}?)"),
                    None => u.to_string(),
                }
            })
            .collect();
        if elastic_list {
            out.push(Check::ok(
                &name,
                format!(
                    "the built-in list (Elastic's, or `modern`) asks for {} that Cloudflare does not offer for this zone: {}; `run` requests the others",
                    plural(unknown.len(), "field"),
                    described.join(", ")
                ),
            ));
        } else {
            out.push(Check::fail(
                &name,
                format!("unknown Logpull field names: {}", described.join(", ")),
                "correct or remove them in `logpull.fields` (GET /zones/{zone}/logs/received/fields lists the names)",
            ));
        }
    }
    let gated: Vec<&str> = requested
        .iter()
        .map(String::as_str)
        .filter(|f| BOT_MANAGEMENT_FIELDS.contains(f))
        .collect();
    if !gated.is_empty() {
        out.push(Check::ok(
            format!("logpull zone {zone} bot fields"),
            format!(
                "{} need Cloudflare Bot Management: without it Cloudflare refuses them (403) and `run` drops them with a warning",
                gated.join(", ")
            ),
        ));
    }
    if !elastic_list {
        let missing = |names: &[&str]| -> Vec<String> {
            names
                .iter()
                .filter(|n| !requested.iter().any(|r| r == *n))
                .map(|n| n.to_string())
                .collect()
        };
        let required = missing(&cfship_ecs::logpull::REQUIRED_FIELDS);
        if !required.is_empty() {
            out.push(Check::fail(
                format!("logpull zone {zone} ECS fields"),
                format!(
                    "`logpull.fields` lacks {}: without it no document gets its @timestamp (every one becomes a pipeline error)",
                    required.join(", ")
                ),
                "add it to `logpull.fields`",
            ));
        }
        let recommended = missing(&cfship_ecs::logpull::RECOMMENDED_FIELDS);
        if !recommended.is_empty() {
            out.push(Check::ok(
                format!("logpull zone {zone} ECS fields"),
                format!(
                    "custom list: documents are built from the fields present; without {} Elastic's dashboards lack what they show",
                    recommended.join(", ")
                ),
            ));
        }
    }
    if out.is_empty() {
        out.push(Check::ok(
            &name,
            format!("all {} requested fields are offered", requested.len()),
        ));
    }
    out
}

fn tempfile_in(dir: &std::path::Path) -> std::io::Result<()> {
    let p = dir.join(format!(".cfship-check-{}", std::process::id()));
    std::fs::write(&p, b"x")?;
    std::fs::remove_file(&p)
}

/// `1 zone`, `2 zones`.
fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

#[cfg(test)]
mod field_tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn custom_lists_are_checked_against_the_zones_fields() {
        let available = names(&[
            "RayID",
            "ClientIP",
            "EdgeStartTimestamp",
            "BotScore",
            "ZoneName",
        ]);
        let c = field_checks(
            "z",
            &names(&["RayID", "ClientIp", "BotScore", "NoSuch"]),
            &available,
            false,
        );
        let unknown = c
            .iter()
            .find(|c| !c.ok && c.detail.contains("unknown"))
            .unwrap();
        assert!(
            unknown.detail.contains("ClientIp (did you mean ClientIP?)"),
            "{unknown:?}"
        );
        assert!(unknown.detail.contains("NoSuch") && !unknown.detail.contains("RayID"));
        assert!(c
            .iter()
            .any(|c| c.ok && c.detail.contains("BotScore need Cloudflare Bot Management")));
        assert!(c
            .iter()
            .any(|c| !c.ok && c.detail.contains("EdgeStartTimestamp")));
        assert!(c
            .iter()
            .any(|c| c.ok && c.detail.contains("EdgeEndTimestamp")));
        // Elastic's own list: names Cloudflare dropped are reported, not failed.
        let c = field_checks("z", &names(&["RayID", "Action"]), &available, true);
        assert!(c.iter().all(|c| c.ok), "{c:?}");
        assert!(c[0].detail.contains("Action"));
        let c = field_checks(
            "z",
            &names(&["RayID", "EdgeStartTimestamp"]),
            &available,
            true,
        );
        assert_eq!(c.len(), 1);
        assert!(c[0].ok && c[0].detail.contains("all 2 requested fields are offered"));
    }
}
