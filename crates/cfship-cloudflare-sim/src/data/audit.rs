//! Audit events: one deterministic event stream per account, rendered as a v1 record
//! (`/accounts/{id}/audit_logs`) or a v2 record (`/accounts/{id}/logs/audit`).

use super::json::hex;
use super::logpull::ray_id;
use super::rng::{fnv, h3, mix, Rng};

/// One simulated audit event (the source of both the v1 and the v2 representation).
#[derive(Clone, Debug)]
pub struct AuditEvent {
    pub when_us: i64,
    pub h: u64,
    pub kind: usize,
}

impl AuditEvent {
    /// Whether the v2 API logs this event (v2 omits view actions).
    pub fn logged_by_v2(&self) -> bool {
        !AUDIT_KINDS[self.kind].5
    }
}

/// (action type v1, v2 action type, v2 description, resource type, product, is a view)
pub const AUDIT_KINDS: &[(&str, &str, &str, &str, &str, bool)] = &[
    ("login", "login", "Login", "account", "dash", false),
    (
        "token_create",
        "create",
        "Create API token",
        "account",
        "api_tokens",
        false,
    ),
    (
        "token_revoke",
        "delete",
        "Revoke API token",
        "account",
        "api_tokens",
        false,
    ),
    (
        "token_roll",
        "update",
        "Roll API token",
        "account",
        "api_tokens",
        false,
    ),
    (
        "API_key_view",
        "view",
        "View global API key",
        "user",
        "api_keys",
        true,
    ),
    (
        "rotate_API_key",
        "update",
        "Rotate global API key",
        "account",
        "api_keys",
        false,
    ),
    (
        "API_key_created",
        "create",
        "Create global API key",
        "api_key",
        "api_keys",
        false,
    ),
    (
        "rec_add",
        "create",
        "Create DNS record",
        "DNS_record",
        "dns_records",
        false,
    ),
    (
        "rec_set",
        "update",
        "Update DNS record",
        "DNS_record",
        "dns_records",
        false,
    ),
    (
        "rec_del",
        "delete",
        "Delete DNS record",
        "DNS_record",
        "dns_records",
        false,
    ),
    ("purge", "create", "Purge cache", "zone", "cache", false),
    (
        "tls_settings_deployed",
        "update",
        "Deploy TLS settings",
        "zone",
        "ssl",
        false,
    ),
    ("delete", "delete", "Delete zone", "zone", "zones", false),
    ("add", "create", "Add member", "member", "members", false),
    (
        "set",
        "update",
        "Change zone setting",
        "zone",
        "zone_settings",
        false,
    ),
    (
        "logpush_job_create",
        "create",
        "Create Logpush job",
        "logpush_job",
        "logpush",
        false,
    ),
];

/// Events of one account in hour `hour` (unix hour index), sorted by time. Some events share the exact
/// same `when` (as Cloudflare's `rotate_API_key` + `API_key_created` pairs do).
pub fn audit_events_in_hour(seed: u64, account: &str, per_hour: u32, hour: i64) -> Vec<AuditEvent> {
    if per_hour == 0 {
        return Vec::new();
    }
    let base = h3(seed, fnv(account), 0xA0D1, hour as u64);
    let n = (u64::from(per_hour) / 2 + base % (u64::from(per_hour) + 1)).max(1);
    let mut v = Vec::with_capacity(n as usize);
    let mut i = 0u64;
    while i < n {
        let h = h3(seed, fnv(account), hour as u64, i);
        let mut when_us = hour * 3_600_000_000 + (h % 3_600_000_000) as i64;
        // Every 5th event is emitted at whole seconds (Cloudflare shows both forms).
        if h.is_multiple_of(5) {
            when_us -= when_us % 1_000_000;
        }
        let kind = ((h >> 17) % AUDIT_KINDS.len() as u64) as usize;
        v.push(AuditEvent { when_us, h, kind });
        // Every 4th event gets a twin at the same instant.
        if h.is_multiple_of(4) && i + 1 < n {
            let h2 = h3(seed, fnv(account), hour as u64, i + 1);
            v.push(AuditEvent {
                when_us,
                h: h2,
                kind: ((h2 >> 17) % AUDIT_KINDS.len() as u64) as usize,
            });
            i += 1;
        }
        i += 1;
    }
    v.sort_by(|a, b| a.when_us.cmp(&b.when_us).then(a.h.cmp(&b.h)));
    v
}

/// All events with `since_us <= when < before_us`, ascending.
pub fn audit_events(
    seed: u64,
    account: &str,
    per_hour: u32,
    since_us: i64,
    before_us: i64,
) -> Vec<AuditEvent> {
    let mut out = Vec::new();
    if before_us <= since_us {
        return out;
    }
    let first = since_us.div_euclid(3_600_000_000);
    let last = (before_us - 1).div_euclid(3_600_000_000);
    for hour in first..=last {
        for e in audit_events_in_hour(seed, account, per_hour, hour) {
            if e.when_us >= since_us && e.when_us < before_us {
                out.push(e);
            }
        }
    }
    out
}

pub fn audit_id_v1(e: &AuditEvent) -> String {
    let a = mix(e.h ^ 0x1D);
    let b = mix(e.h ^ 0x2D);
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        (a & 0x0fff) | 0x5000,
        ((b >> 48) & 0x3fff) | 0x8000,
        b & 0xffff_ffff_ffff
    )
}

pub fn audit_id_v2(e: &AuditEvent) -> String {
    audit_id_v1(e).replace('-', "")
}

pub fn format_when(us: i64) -> String {
    let secs = us.div_euclid(1_000_000);
    let frac = us.rem_euclid(1_000_000);
    let base = chrono::DateTime::from_timestamp(secs, 0)
        .map(|d| d.format("%Y-%m-%dT%H:%M:%S").to_string())
        .unwrap_or_default();
    if frac == 0 {
        format!("{base}Z")
    } else {
        format!("{base}.{frac:06}Z")
    }
}

fn account_user(account: &str, seed: u64) -> (String, String) {
    let mut r = Rng::new(h3(seed, fnv(account), 0xB0B, 0));
    let mut id = String::new();
    const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    for _ in 0..32 {
        id.push(ALNUM[r.below(ALNUM.len() as u64) as usize] as char);
    }
    (id, "user@example.com".to_string())
}

/// The v1 record (`/accounts/{id}/audit_logs` result element).
pub fn audit_v1_json(seed: u64, account: &str, e: &AuditEvent) -> serde_json::Value {
    use serde_json::json;
    let (atype, _, _, rtype, _, _) = AUDIT_KINDS[e.kind];
    let mut r = Rng::new(e.h);
    let (user_id, email) = account_user(account, seed);
    let owner = format!(
        "{:032x}",
        u128::from(mix(fnv(account))) << 64 | u128::from(mix(fnv(account) ^ 1))
    );
    let owner: String = owner.chars().take(32).collect();
    let system = atype == "tls_settings_deployed" || (atype == "purge" && r.chance(0.3));
    let ip = if r.chance(0.5) {
        format!("89.160.20.{}", 100 + r.below(100))
    } else {
        format!("2a02:cf40:{:x}::{:x}", r.below(0xffff), r.below(0xffff))
    };
    let actor = if system {
        json!({"id": "1", "type": "system"})
    } else {
        json!({"email": email, "id": user_id, "ip": ip, "type": "user"})
    };
    let interface = if system {
        ""
    } else {
        *r.pick(&["", "UI", "API"])
    };
    let zone_id = format!(
        "{:016x}{:016x}",
        mix(fnv(account) ^ 7),
        mix(fnv(account) ^ 8)
    );
    let mut tag = String::new();
    hex(&mut tag, &mut r, 32);
    let rec_id = format!("{}", 10_715_065_000u64 + r.below(1000));
    let dns = json!({"content": format!("89.160.20.{}", r.below(255)), "id": tag.clone(), "name": "www.example.com",
        "proxied": true, "ttl": 1, "type": "A", "zone_id": zone_id.clone(), "zone_name": "example.com"});
    let (metadata, new_value, old_value, new_json, old_json, resource_id) = match atype {
        "token_create" => (
            json!({"token_name": "logs read", "token_tag": tag}),
            "",
            "",
            None,
            None,
            user_id.clone(),
        ),
        "token_revoke" => (
            json!({"new_token_status": "deleted", "old_token_status": "active", "token_name": "logs read", "token_tag": tag}),
            "",
            "",
            None,
            None,
            user_id.clone(),
        ),
        "token_roll" => (
            json!({"token_name": "logs read", "token_tag": tag}),
            "",
            "",
            None,
            None,
            user_id.clone(),
        ),
        "rec_add" => (
            json!({"zone_name": "example.com"}),
            "",
            "",
            Some(dns),
            None,
            rec_id,
        ),
        "rec_set" => (
            json!({"zone_name": "example.com"}),
            "",
            "",
            Some(dns.clone()),
            Some(dns),
            rec_id,
        ),
        "rec_del" => (
            json!({"zone_name": "example.com"}),
            "null",
            "null",
            None,
            Some(dns),
            rec_id,
        ),
        "purge" | "delete" => (
            json!({"zone_name": "example.com"}),
            "",
            "",
            None,
            None,
            zone_id.clone(),
        ),
        "tls_settings_deployed" => (
            json!({"zone_name": "example.com"}),
            "",
            "",
            Some(
                json!({"ciphers": "", "early_hints": "Default", "http_2": "Enabled", "min_tls_version": "TLSv1.2",
                "quic": "Default", "session_tickets": "Enabled", "tls_13": "Default", "zero_rtt": "Default"}),
            ),
            None,
            zone_id.clone(),
        ),
        "set" => (
            json!({"zone_name": "example.com", "setting": "security_level"}),
            "high",
            "medium",
            None,
            None,
            zone_id.clone(),
        ),
        "add" => (
            json!({}),
            "",
            "",
            Some(json!({"email": "new.member@example.com", "roles": ["Administrator Read Only"]})),
            None,
            tag.clone(),
        ),
        "API_key_created" => (json!({}), "", "", None, None, tag.clone()),
        _ => (json!({}), "", "", None, None, user_id.clone()),
    };
    let result = !r.chance(0.05);
    let mut action = json!({"result": result, "type": atype});
    if atype == "rotate_API_key" {
        action["info"] = json!(format!("key digest: {tag}{tag}"));
    }
    let mut v = json!({
        "action": action,
        "actor": actor,
        "id": audit_id_v1(e),
        "interface": interface,
        "metadata": metadata,
        "newValue": new_value,
        "oldValue": old_value,
        "owner": {"id": owner},
        "resource": {"id": resource_id, "type": rtype},
        "when": format_when(e.when_us),
    });
    if let Some(n) = new_json {
        v["newValueJson"] = n;
    }
    if let Some(o) = old_json {
        v["oldValueJson"] = o;
    }
    v
}

/// The v2 record (`/accounts/{id}/logs/audit` result element).
pub fn audit_v2_json(seed: u64, account: &str, e: &AuditEvent) -> serde_json::Value {
    use serde_json::json;
    let v1 = audit_v1_json(seed, account, e);
    let (_, v2type, desc, rtype, product, _) = AUDIT_KINDS[e.kind];
    let actor_type = if v1["actor"]["type"] == "system" {
        "system"
    } else {
        "user"
    };
    let context = match v1["interface"].as_str() {
        Some("UI") => "dash",
        Some("API") => "api_token",
        _ => "api_key",
    };
    let mut actor = json!({
        "id": v1["actor"]["id"], "email": v1["actor"].get("email").cloned().unwrap_or(json!("")),
        "ip_address": v1["actor"].get("ip").cloned().unwrap_or(json!("")),
        "type": actor_type, "context": context,
    });
    if context == "api_token" {
        actor["token_id"] = json!(format!("{:032x}", mix(e.h ^ 99)));
        actor["token_name"] = json!("automation");
    }
    let ok = v1["action"]["result"].as_bool().unwrap_or(true);
    let zone_id = format!(
        "{:016x}{:016x}",
        mix(fnv(account) ^ 7),
        mix(fnv(account) ^ 8)
    );
    json!({
        "id": audit_id_v2(e),
        "account": {"id": account, "name": "Example Account"},
        "action": {"description": desc, "result": if ok {"success"} else {"failure"}, "time": v1["when"], "type": v2type},
        "actor": actor,
        "raw": {"cf_ray_id": ray_id(e.h), "method": match v2type {"create" => "POST", "update" => "PATCH", "delete" => "DELETE", _ => "GET"},
            "status_code": if ok {200} else {403}, "uri": format!("/client/v4/accounts/{account}/{product}"),
            "user_agent": "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0"},
        "resource": {"id": v1["resource"]["id"], "product": product, "type": rtype,
            "scope": if rtype == "zone" || rtype == "DNS_record" {"zones"} else {"accounts"},
            "request": v1.get("newValueJson").cloned().unwrap_or(json!({})),
            "response": {"success": ok}},
        "zone": {"id": if rtype == "zone" || rtype == "DNS_record" { json!(zone_id) } else { json!("") },
                 "name": if rtype == "zone" || rtype == "DNS_record" { "example.com" } else { "" }},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_events_have_twins_and_unique_ids() {
        let ev = audit_events(1, "acc", 40, 0, 10 * 3_600_000_000);
        let ids: std::collections::HashSet<String> = ev.iter().map(audit_id_v1).collect();
        assert_eq!(ids.len(), ev.len());
        assert!(ev.windows(2).any(|w| w[0].when_us == w[1].when_us));
        let v = audit_v1_json(1, "acc", &ev[0]);
        assert!(v["when"].as_str().unwrap().ends_with('Z'));
        let v2 = audit_v2_json(1, "acc", &ev[0]);
        assert_eq!(v2["id"].as_str().unwrap().len(), 32);
    }
}
