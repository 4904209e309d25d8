//! `cfship check --config FILE`: every pre-flight check, one line each, with the fix in words.

use crate::app::wiring::{cloudflare_client, logpull_config};
use crate::config::Credentials;
use cfship_cloudflare::CfError;
use clap::Args;
use std::path::PathBuf;

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

fn cf_fix(e: &CfError, what: &str) -> String {
    match e.status() {
        Some(401) | Some(403) => format!(
            "the credentials are refused for {what}: create an API token with the needed permission \
             (Zone → Logs → Read for Logpull, Account → Account Settings → Read for audit logs) and put it in \
             `cloudflare.api_token` (or the entry's own `api_token`)"
        ),
        Some(404) => format!("check the id of {what} in the config (copy it from the Cloudflare dashboard's Overview page)"),
        Some(429) => "Cloudflare rate-limited the checks: wait a few minutes and run again".into(),
        _ => format!("check `cloudflare.api_url` and network access to it ({what})"),
    }
}

fn cred_name(c: &Credentials) -> String {
    match c {
        Credentials::Token(_) => "API token".into(),
        Credentials::Key { email, .. } => format!("global API key of {email}"),
    }
}

/// Runs every check; never fails itself (each failure is a line).
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
            out.push(Check::fail(
                "config",
                e.to_string(),
                "edit the line named above",
            ));
            return out;
        }
    };
    let client = match cloudflare_client(&cfg) {
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
    // credentials: each distinct set once
    let mut seen: Vec<Credentials> = Vec::new();
    for s in cfg.zones().into_iter().chain(cfg.accounts()) {
        if seen.contains(&s.credentials) {
            continue;
        }
        seen.push(s.credentials.clone());
        let name = format!(
            "cloudflare credentials ({}, used by {})",
            cred_name(&s.credentials),
            s.id
        );
        match client.verify_token(&s.credentials.to_auth()).await {
            Ok(t) if t.status == "active" => out.push(Check::ok(name, "valid and active")),
            Ok(t) => out.push(Check::fail(
                name,
                format!("token status is {:?}", t.status),
                "the token is disabled or expired: roll it or create a new one in the Cloudflare dashboard",
            )),
            Err(e) => {
                let fix = cf_fix(&e, "the token check");
                out.push(Check::fail(name, e.to_string(), fix))
            }
        }
    }
    for z in cfg.zones() {
        let auth = z.credentials.to_auth();
        let name = format!("logpull zone {}", z.id);
        match client.logpull_retention(&auth, &z.id).await {
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
                let fix = cf_fix(&e, &format!("zone {}", z.id));
                out.push(Check::fail(&name, e.to_string(), fix))
            }
        }
        let lc = logpull_config(&cfg, &z);
        let requested: Vec<String> = lc.fields_param().split(',').map(str::to_string).collect();
        match client.logpull_fields(&auth, &z.id).await {
            Ok(available) => out.extend(field_checks(
                &z.id,
                &requested,
                &available,
                lc.fields.is_none(),
            )),
            Err(e) => {
                let fix = cf_fix(&e, &format!("zone {}", z.id));
                out.push(Check::fail(
                    format!("logpull zone {} fields", z.id),
                    e.to_string(),
                    fix,
                ))
            }
        }
    }
    for a in cfg.accounts() {
        let name = format!("audit account {}", a.id);
        match client.audit_readable(&a.credentials.to_auth(), &a.id).await {
            Ok(()) => out.push(Check::ok(&name, "audit logs are readable")),
            Err(e) => {
                let fix = cf_fix(&e, &format!("account {}", a.id));
                out.push(Check::fail(&name, e.to_string(), fix))
            }
        }
    }
    match crate::app::wiring::es_config(&cfg) {
        None => out.push(Check::ok("elasticsearch", "not configured (file output only)")),
        Some(es_cfg) => match cfship_elasticsearch::ElasticsearchSink::connect(es_cfg).await {
            Ok(sink) => {
                for r in sink.check().await {
                    if r.ok {
                        out.push(Check::ok(format!("elasticsearch {}", r.name), r.detail));
                    } else {
                        out.push(Check::fail(
                            format!("elasticsearch {}", r.name),
                            r.detail,
                            "give the user/API key the privileges named above (e.g. index templates: manage_index_templates; data streams logs-cloudflare.*: create_doc, auto_configure)",
                        ));
                    }
                }
            }
            Err(e) => out.push(Check::fail(
                "elasticsearch",
                e.to_string(),
                "check `elasticsearch.hosts`/`cloud_id`, that Elasticsearch runs, and the credentials",
            )),
        },
    }
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
                    "Elastic's list asks for {} that Cloudflare does not offer for this zone: {}; `run` drops what Cloudflare refuses (a warning names them)",
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
