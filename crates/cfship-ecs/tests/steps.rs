#![recursion_limit = "512"]
//! Step-by-step behaviour of both pipelines beyond Elastic's golden files.

mod common;

use cfship_ecs::{Dataset, Options, Outcome, Transformer};
use serde_json::{json, Value};

const NOW: i64 = 1_764_000_000_000;

fn transformer(opts: Options) -> Transformer {
    Transformer::new(opts, None).unwrap()
}

fn doc_of(t: &Transformer, ds: Dataset, raw: &str) -> (Value, cfship_ecs::Document) {
    match t.transform(ds, raw, NOW) {
        Outcome::Doc(d) => (serde_json::from_str(&d.source).unwrap(), d),
        Outcome::Dropped => panic!("unexpectedly dropped: {raw}"),
    }
}

fn base_logpull() -> Value {
    json!({
        "CacheCacheStatus": "hit", "CacheResponseBytes": 1234, "CacheResponseStatus": 200,
        "CacheTieredFill": false, "ClientASN": 13335, "ClientCountry": "de", "ClientDeviceType": "mobile",
        "ClientIP": "198.51.100.7", "ClientIPClass": "clean", "ClientRequestBytes": 900,
        "ClientRequestHost": "shop.example.org", "ClientRequestMethod": "GET",
        "ClientRequestPath": "/catalog/item.json", "ClientRequestProtocol": "HTTP/1.1",
        "ClientRequestReferer": "https://shop.example.org/", "ClientRequestURI": "/catalog/item.json?id=7",
        "ClientRequestUserAgent": "curl/8.4.0", "ClientSSLCipher": "AEAD-AES128-GCM-SHA256",
        "ClientSSLProtocol": "TLSv1.3", "ClientSrcPort": 50123, "ClientXRequestedWith": "",
        "EdgeColoCode": "FRA", "EdgeColoID": 22, "EdgeEndTimestamp": 1700000000250000000u64,
        "EdgePathingOp": "wl", "EdgePathingSrc": "macro", "EdgePathingStatus": "nr",
        "EdgeRateLimitAction": "", "EdgeRateLimitID": 0, "EdgeRequestHost": "shop.example.org",
        "EdgeResponseBytes": 4321, "EdgeResponseCompressionRatio": 1.5,
        "EdgeResponseContentType": "application/json", "EdgeResponseStatus": 200,
        "EdgeServerIP": "203.0.113.9", "EdgeStartTimestamp": 1700000000000000000u64,
        "FirewallMatchesActions": [], "FirewallMatchesRuleIDs": [], "FirewallMatchesSources": [],
        "OriginIP": "192.0.2.10", "OriginResponseBytes": 0, "OriginResponseHTTPExpires": "",
        "OriginResponseHTTPLastModified": "Thu, 01 Dec 1994 16:00:00 GMT", "OriginResponseStatus": 200,
        "OriginResponseTime": 12000000, "OriginSSLProtocol": "TLSv1.2", "ParentRayID": "00",
        "RayID": "7a1b2c3d4e5f6a7b", "SecurityLevel": "med", "WAFAction": "unknown", "WAFFlags": "0",
        "WAFMatchedVar": "", "WAFProfile": "unknown", "WAFRuleID": "", "WAFRuleMessage": "",
        "WorkerCPUTime": 0, "WorkerStatus": "unknown", "WorkerSubrequest": false,
        "WorkerSubrequestCount": 0, "ZoneID": 123456789
    })
}

fn logpull_with(t: &Transformer, patch: Value) -> Value {
    let mut rec = base_logpull();
    for (k, v) in patch.as_object().unwrap() {
        if v.is_null() {
            rec.as_object_mut().unwrap().remove(k);
        } else {
            rec[k] = v.clone();
        }
    }
    doc_of(t, Dataset::Logpull, &rec.to_string()).0
}

#[test]
fn logpull_full_record_fields() {
    let t = transformer(Options::default());
    let d = logpull_with(&t, json!({}));
    assert_eq!(d["@timestamp"], "2023-11-14T22:13:20.000Z");
    assert_eq!(d["event"]["duration"], 250_000_000);
    assert_eq!(d["event"]["kind"], "event");
    assert_eq!(d["event"]["category"], json!(["network"]));
    assert!(
        d["event"].get("type").is_none(),
        "no firewall action → no event.type"
    );
    assert!(
        d["event"].get("action").is_none(),
        "empty firewall arrays are removed"
    );
    assert!(d["cloudflare"].get("firewall").is_none());
    assert_eq!(
        d["url"]["full"],
        "https://shop.example.org/catalog/item.json?id=7"
    );
    assert_eq!(d["url"]["extension"], "json");
    assert_eq!(d["url"]["original"], "/catalog/item.json?id=7");
    assert_eq!(
        d["tls"],
        json!({"cipher": "AEAD-AES128-GCM-SHA256", "version": "1.3", "version_protocol": "tls"})
    );
    assert_eq!(
        d["network"],
        json!({"protocol": "http", "transport": "tcp", "bytes": 5221})
    );
    assert_eq!(d["http"]["version"], "1.1");
    assert_eq!(d["http"]["response"]["status_code"], 200);
    assert_eq!(d["http"]["response"]["bytes"], 4321);
    assert_eq!(
        d["source"]["geo"]["country_iso_code"], "de",
        "ClientCountry fallback without GeoIP"
    );
    assert_eq!(d["source"]["as"]["number"], 13335);
    assert_eq!(d["source"]["port"], 50123);
    assert_eq!(d["client"], d["source"], "client is a copy of source");
    assert_eq!(d["server"], d["destination"]);
    assert_eq!(d["destination"]["ip"], "192.0.2.10");
    assert_eq!(d["destination"]["bytes"], 4321);
    assert_eq!(d["observer"]["ip"], json!(["203.0.113.9"]));
    assert_eq!(
        d["cloudflare"]["origin"]["response"]["last_modified"],
        "1994-12-01T16:00:00.000Z"
    );
    assert!(d["cloudflare"]["origin"]["response"]
        .get("expires")
        .is_none());
    assert_eq!(d["cloudflare"]["cache"]["bytes"], 1234);
    assert_eq!(d["cloudflare"]["cache"]["status_code"], 200);
    assert_eq!(d["cloudflare"]["edge"]["rate_limit"], json!({"id": 0}));
    assert_eq!(d["cloudflare"]["zone"]["id"], 123456789);
    assert_eq!(d["user_agent"]["name"], "curl");
    assert_eq!(d["user_agent"]["original"], "curl/8.4.0");
    assert!(d.get("json").is_none());
    assert!(
        d["event"].get("original").is_none(),
        "removed without preserve_original_event"
    );
}

#[test]
fn logpull_all_three_timestamp_forms() {
    let t = transformer(Options::default());
    for (start, end, ts, dur) in [
        (
            json!(1700000000123456789u64),
            json!(1700000000200000000u64),
            "2023-11-14T22:13:20.123Z",
            77_000_000,
        ),
        (
            json!(1700000000),
            json!(1700000002),
            "2023-11-14T22:13:20.000Z",
            2_000_000_000,
        ),
        (
            json!(1700000000500i64),
            json!(1700000000500i64),
            "2023-11-14T22:13:20.500Z",
            0,
        ),
        (
            json!("2023-11-14T22:13:20Z"),
            json!("2023-11-14T22:13:21Z"),
            "2023-11-14T22:13:20.000Z",
            1_000_000_000,
        ),
        (
            json!("1700000000"),
            json!("1700000000"),
            "2023-11-14T22:13:20.000Z",
            0,
        ),
    ] {
        let d = logpull_with(
            &t,
            json!({"EdgeStartTimestamp": start, "EdgeEndTimestamp": end}),
        );
        assert_eq!(d["@timestamp"], ts, "{start}");
        assert_eq!(d["event"]["start"], ts);
        assert_eq!(d["event"]["duration"], dur, "{start} → {end}");
    }
}

#[test]
fn logpull_tls_none_means_http_and_no_tls_fields() {
    let t = transformer(Options::default());
    let d = logpull_with(
        &t,
        json!({"ClientSSLProtocol": "none", "ClientSSLCipher": "NONE"}),
    );
    assert!(d.get("tls").is_none());
    assert!(d["cloudflare"]
        .get("client")
        .and_then(|c| c.get("ssl"))
        .is_none());
    assert_eq!(d["url"]["scheme"], "http");
    assert_eq!(
        d["url"]["full"],
        "http://shop.example.org/catalog/item.json?id=7"
    );
}

#[test]
fn logpull_http_versions() {
    let t = transformer(Options::default());
    for (proto, version) in [("HTTP/1.0", "1.0"), ("HTTP/2", "2"), ("HTTP/3", "3")] {
        let d = logpull_with(&t, json!({"ClientRequestProtocol": proto}));
        assert_eq!(d["http"]["version"], version);
        assert_eq!(d["network"]["protocol"], "http");
        assert_eq!(d["network"]["transport"], "tcp");
    }
    let d = logpull_with(&t, json!({"ClientRequestProtocol": "SPDY"}));
    assert!(
        d.get("http").and_then(|h| h.get("version")).is_none(),
        "dissect failure is ignored"
    );
}

#[test]
fn logpull_uris_with_fragment_and_without_extension() {
    let t = transformer(Options::default());
    let d = logpull_with(
        &t,
        json!({"ClientRequestURI": "/docs/guide#install", "ClientRequestPath": "/docs/guide"}),
    );
    assert_eq!(d["url"]["path"], "/docs/guide");
    assert_eq!(d["url"]["fragment"], "install");
    assert!(d["url"].get("extension").is_none());
    assert!(d["url"].get("query").is_none());
    assert_eq!(d["url"]["full"], "https://shop.example.org/docs/guide");
    // An unparsable URI: uri_parts fails silently, path and domain come from the raw fields.
    let d = logpull_with(
        &t,
        json!({"ClientRequestURI": "/a b|c", "ClientRequestPath": "/a b|c"}),
    );
    assert!(d["url"].get("original").is_none());
    assert_eq!(d["url"]["path"], "/a b|c");
    assert_eq!(d["url"]["domain"], "shop.example.org");
}

#[test]
fn logpull_query_strings_with_brackets_and_double_slash_uris() {
    let t = transformer(Options::default());
    let d = logpull_with(
        &t,
        json!({"ClientRequestURI": "/search.php?filter[name]=x&filter[age]=%3E20",
               "ClientRequestPath": "/search.php"}),
    );
    assert_eq!(
        d["url"]["original"],
        "/search.php?filter[name]=x&filter[age]=%3E20"
    );
    assert_eq!(d["url"]["query"], "filter[name]=x&filter[age]=>20");
    assert_eq!(d["url"]["path"], "/search.php");
    assert_eq!(d["url"]["extension"], "php");
    let d = logpull_with(
        &t,
        json!({"ClientRequestURI": "/caf%C3%A9/men%C3%BC.html?a[]=1&a[]=2",
               "ClientRequestPath": "/caf%C3%A9/men%C3%BC.html"}),
    );
    assert_eq!(d["url"]["path"], "/café/menü.html");
    assert_eq!(d["url"]["extension"], "html");
    // `//host/path`: java.net.URI reads an authority, so url.domain is that host.
    let d = logpull_with(
        &t,
        json!({"ClientRequestURI": "//evil.example/x.js", "ClientRequestPath": "//evil.example/x.js"}),
    );
    assert_eq!(d["url"]["domain"], "evil.example");
    assert_eq!(d["url"]["path"], "/x.js");
    assert_eq!(d["url"]["full"], "https://evil.example/x.js");
}

#[test]
fn logpull_date_failures_report_the_root_cause() {
    let t = transformer(Options::default());
    let d = logpull_with(
        &t,
        json!({"EdgeEndTimestamp": "2026-01-22T14:03:29.251118Z"}),
    );
    assert_eq!(
        d["error"]["message"],
        json!(["Processor \"date\" with tag \"date_edge_end_timestamp\" in pipeline \"logs-cloudflare.logpull-2.22.0-http\" failed with message \"Text '2026-01-22T14:03:29.251118Z' could not be parsed at index 19\""])
    );
    let d = logpull_with(&t, json!({"EdgeStartTimestamp": "yesterday"}));
    assert!(d["error"]["message"][0]
        .as_str()
        .unwrap()
        .ends_with("failed with message \"Failed to parse with all enclosed parsers\""));
    // A JSON null is a present field holding null, not a missing one.
    let mut r = base_logpull();
    r["EdgeEndTimestamp"] = Value::Null;
    let (_, doc) = doc_of(&t, Dataset::Logpull, &r.to_string());
    assert!(
        doc.error
            .as_deref()
            .unwrap()
            .ends_with("failed with message \"cannot parse empty datetime\""),
        "{:?}",
        doc.error
    );
    // An offset is converted to UTC, as Elasticsearch formats @timestamp.
    let d = logpull_with(
        &t,
        json!({"EdgeStartTimestamp": "2026-01-22T14:03:29+01:00", "EdgeEndTimestamp": "2026-01-22T14:03:30+0100"}),
    );
    assert_eq!(d["@timestamp"], "2026-01-22T13:03:29.000Z");
    assert_eq!(d["event"]["end"], "2026-01-22T13:03:30.000Z");
    assert_eq!(d["event"]["duration"], 1_000_000_000i64);
}

#[test]
fn logpull_firewall_actions_and_the_allow_bug() {
    let t = transformer(Options::default());
    let d = logpull_with(
        &t,
        json!({"FirewallMatchesActions": ["block", "block"], "FirewallMatchesSources": ["firewallRules", "waf"], "FirewallMatchesRuleIDs": ["r1", "r2"]}),
    );
    assert_eq!(d["event"]["type"], json!(["denied"]));
    assert_eq!(d["event"]["action"], json!(["block", "block"]));
    assert_eq!(
        d["cloudflare"]["firewall"]["sources"],
        json!(["firewallRules", "waf"])
    );
    // Upstream bug reproduced: "allow" is also "denied".
    let d = logpull_with(&t, json!({"FirewallMatchesActions": ["allow"]}));
    assert_eq!(d["event"]["type"], json!(["denied"]));
    let fixed = transformer(Options {
        fix_upstream_bugs: true,
        ..Default::default()
    });
    let d = logpull_with(&fixed, json!({"FirewallMatchesActions": ["allow"]}));
    assert!(d["event"].get("type").is_none());
    let d = logpull_with(
        &t,
        json!({"FirewallMatchesActions": ["challenge", "simulate"]}),
    );
    assert!(d["event"].get("type").is_none());
}

#[test]
fn logpull_ipv6_and_origin_status_fallback() {
    let t = transformer(Options::default());
    let d = logpull_with(
        &t,
        json!({"ClientIP": "2001:db8::1", "EdgeResponseStatus": null, "OriginResponseStatus": 502}),
    );
    assert_eq!(d["source"]["ip"], "2001:db8::1");
    assert_eq!(d["related"], Value::Null);
    assert_eq!(d["http"]["response"]["status_code"], 502);
    let d = logpull_with(&t, json!({"ClientIP": "not-an-ip"}));
    assert_eq!(d["source"]["address"], "not-an-ip");
    assert!(
        d["source"].get("ip").is_none(),
        "convert to ip failure is ignored"
    );
}

#[test]
fn logpull_missing_fields_reproduce_upstream_failures() {
    let t = transformer(Options::default());
    // Missing ClientSSLProtocol: upstream's `.toLowerCase()` on null fails the document.
    let (d, doc) = doc_of(&t, Dataset::Logpull, &{
        let mut r = base_logpull();
        r.as_object_mut().unwrap().remove("ClientSSLProtocol");
        r.to_string()
    });
    assert_eq!(d["event"]["kind"], "pipeline_error");
    let msg = d["error"]["message"][0].as_str().unwrap();
    // The rename has an `if:`: Elasticsearch wraps it in a ConditionalProcessor and reports that.
    assert_eq!(
        msg,
        "Processor \"conditional\" with tag \"rename_json_ClientSSLProtocol_to_cloudflare_client_ssl_protocol_078fa74f\" in pipeline \"logs-cloudflare.logpull-2.22.0-http\" failed with message \"cannot access method/field [toLowerCase] from a null def reference\""
    );
    assert!(msg.contains("logs-cloudflare.logpull-2.22.0-http"));
    assert!(doc.error.is_some());
    assert!(
        d["event"]["original"].is_string(),
        "event.original kept on failure"
    );
    assert!(d["tags"]
        .as_array()
        .unwrap()
        .contains(&json!("preserve_original_event")));
    assert_eq!(
        d["@timestamp"], "2023-11-14T22:13:20.000Z",
        "fields set before the failure stay"
    );
    // With the fix the document is complete.
    let fixed = transformer(Options {
        fix_upstream_bugs: true,
        ..Default::default()
    });
    let d = logpull_with(&fixed, json!({"ClientSSLProtocol": null}));
    assert_eq!(d["event"]["kind"], "event");
    assert_eq!(d["url"]["scheme"], "http");

    // Missing EdgeStartTimestamp fails the date processor.
    let d = logpull_with(&t, json!({"EdgeStartTimestamp": null}));
    assert_eq!(d["event"]["kind"], "pipeline_error");
    assert!(d["error"]["message"][0]
        .as_str()
        .unwrap()
        .contains("date_edge_start_timestamp"));
    assert_eq!(
        d["@timestamp"], "2025-11-24T16:00:00.000Z",
        "ingest time when none was parsed"
    );

    // No EdgeRequestHost: http.yml does not run at all (upstream), only observer fields.
    let d = logpull_with(&t, json!({"EdgeRequestHost": null}));
    assert!(d.get("url").is_none());
    assert_eq!(
        d["observer"],
        json!({"vendor": "cloudflare", "type": "proxy"})
    );
    // Unknown fields are ignored.
    let d = logpull_with(&t, json!({"SomethingNew": {"x": 1}}));
    assert_eq!(d["event"]["kind"], "event");
    assert!(d.to_string().find("SomethingNew").is_none());
}

#[test]
fn logpull_bot_score_conversion_error_only_appends_message() {
    let t = transformer(Options::default());
    let d = logpull_with(
        &t,
        json!({"BotScore": "high", "BotScoreSrc": "Machine Learning"}),
    );
    assert_eq!(d["event"]["kind"], "event");
    assert_eq!(
        d["error"]["message"],
        // The root cause of the convert's `unable to convert [high] to long` (as Elasticsearch).
        json!(["For input string: \"high\""])
    );
    assert_eq!(d["cloudflare"]["bot"]["score"]["src"], "Machine Learning");
    let d = logpull_with(&t, json!({"BotScore": "99"}));
    assert_eq!(d["cloudflare"]["bot"]["score"]["value"], 99);
}

#[test]
fn logpull_id_is_the_fingerprint_of_event_original() {
    let t = transformer(Options::default());
    let (_, d) = doc_of(&t, Dataset::Logpull, r#"{"RayID":"1"}"#);
    // SHA-1 over 0x00 ‖ text, base64 (computed independently with Python's hashlib).
    assert_eq!(d.id, "op5IqLit0RQuYHspi3oyg73R/28=");
}

#[test]
fn not_json_and_non_objects_become_error_documents() {
    let t = transformer(Options::default());
    for (ds, raw) in [
        (Dataset::Logpull, "this is not json"),
        (Dataset::Logpull, "[1,2,3]"),
        (Dataset::Audit, "{\"when\":"),
        (Dataset::Audit, "42"),
        (Dataset::Audit, ""),
    ] {
        let (d, doc) = doc_of(&t, ds, raw);
        assert_eq!(d["event"]["kind"], "pipeline_error", "{raw}");
        assert!(doc.error.is_some());
        assert!(d["@timestamp"].is_string());
        assert!(d["tags"]
            .as_array()
            .unwrap()
            .contains(&json!("preserve_original_event")));
        if !raw.is_empty() {
            assert_eq!(d["event"]["original"], raw);
        }
        assert_eq!(doc.id.len(), 28, "deterministic id even for failures");
    }
    // A failure of the top-level pipeline (default.yml's json processor): Elasticsearch sets no
    // `_ingest.on_failure_pipeline` (stack of one pipeline), so the name renders empty.
    let (_, doc) = doc_of(&t, Dataset::Logpull, "this is not json");
    let msg = doc.error.unwrap();
    assert!(
        msg.starts_with("Processor \"json\" with tag \"json_event_original\" in pipeline \"\" failed with message"),
        "{msg}"
    );
}

fn audit_record(action: &str, result: Option<bool>) -> Value {
    let mut r = json!({
        "action": {"type": action},
        "actor": {"email": "ops@example.net", "id": "u-1", "ip": "198.51.100.20", "type": "user"},
        "id": "e-1", "interface": "API", "metadata": {}, "newValue": "", "oldValue": "",
        "owner": {"id": "o-1"}, "resource": {"id": "r-1", "type": "zone"},
        "when": "2024-05-06T07:08:09.123456Z"
    });
    if let Some(res) = result {
        r["action"]["result"] = json!(res);
    }
    r
}

#[test]
fn audit_every_categorisation_entry_and_unknown_action() {
    let t = transformer(Options::default());
    let table: &[(&str, Value, Value)] = &[
        ("login", json!(["authentication"]), json!(["info"])),
        ("token_create", json!(["iam"]), json!(["creation"])),
        ("token_revoke", json!(["iam"]), json!(["deletion"])),
        ("token_roll", json!(["iam"]), json!(["change"])),
        ("API_key_view", json!(["iam"]), json!(["info"])),
        ("rotate_API_key", json!(["iam"]), json!(["change"])),
        ("API_key_created", json!(["iam"]), json!(["creation"])),
        ("purge", json!(["configuration"]), json!(["deletion"])),
        (
            "tls_settings_deployed",
            json!(["configuration"]),
            json!(["info"]),
        ),
        ("add", json!(["configuration"]), json!(["creation"])),
        ("delete", json!(["configuration"]), json!(["deletion"])),
        ("rec_add", json!(["configuration"]), json!(["creation"])),
        ("rec_del", json!(["configuration"]), json!(["deletion"])),
        ("pending", json!(["configuration"]), json!(["info"])),
        (
            "change_setting",
            json!(["configuration"]),
            json!(["change"]),
        ),
        (
            "add_enforce_twofactor",
            json!(["iam", "configuration"]),
            json!(["admin", "info"]),
        ),
    ];
    for (action, category, types) in table {
        let (d, _) = doc_of(
            &t,
            Dataset::Audit,
            &audit_record(action, Some(true)).to_string(),
        );
        assert_eq!(d["event"]["action"], action.to_lowercase());
        assert_eq!(&d["event"]["category"], category, "{action}");
        assert_eq!(&d["event"]["type"], types, "{action}");
        assert_eq!(d["event"]["outcome"], "success");
    }
    let (d, _) = doc_of(
        &t,
        Dataset::Audit,
        &audit_record("zone_hold_enabled", Some(true)).to_string(),
    );
    assert_eq!(
        d["event"]["type"], "info",
        "upstream: a plain string for unknown actions"
    );
    assert!(d["event"].get("category").is_none());
    let fixed = transformer(Options {
        fix_upstream_bugs: true,
        ..Default::default()
    });
    let (d, _) = doc_of(
        &fixed,
        Dataset::Audit,
        &audit_record("zone_hold_enabled", Some(true)).to_string(),
    );
    assert_eq!(d["event"]["type"], json!(["info"]));
}

#[test]
fn audit_failed_logins_and_outcomes() {
    let t = transformer(Options::default());
    let (d, _) = doc_of(
        &t,
        Dataset::Audit,
        &audit_record("login", Some(false)).to_string(),
    );
    assert_eq!(
        d["event"]["outcome"], "success",
        "upstream forces success for every login"
    );
    let fixed = transformer(Options {
        fix_upstream_bugs: true,
        ..Default::default()
    });
    let (d, _) = doc_of(
        &fixed,
        Dataset::Audit,
        &audit_record("login", Some(false)).to_string(),
    );
    assert_eq!(d["event"]["outcome"], "failure");
    let (d, _) = doc_of(
        &t,
        Dataset::Audit,
        &audit_record("token_create", Some(false)).to_string(),
    );
    assert_eq!(d["event"]["outcome"], "failure");
    let (d, _) = doc_of(
        &t,
        Dataset::Audit,
        &audit_record("token_create", None).to_string(),
    );
    assert_eq!(
        d["event"]["outcome"], "failure",
        "missing result is a failure"
    );
}

#[test]
fn audit_fields_timestamps_and_id() {
    let t = transformer(Options {
        account_id: Some("acct-9".into()),
        preserve_original: true,
        ..Default::default()
    });
    let mut r = audit_record("rec_add", Some(true));
    r["id"] = json!("73fd39ed-5aab-4a2a-b93c-c9a4abf0c425");
    r["resource"] = json!({"id": "u-2", "type": "user", "extra": "kept"});
    r["newValue"] = json!("plain");
    r["actor"]["ip"] = json!("2001:db8::7");
    let (d, doc) = doc_of(&t, Dataset::Audit, &r.to_string());
    assert_eq!(
        doc.id, "64vdTqtLCr8y3KAvJ9Ce9EwXqzs=",
        "fingerprint of event.id (Python hashlib)"
    );
    assert_eq!(
        d["@timestamp"], "2024-05-06T07:08:09.123Z",
        "microseconds truncated"
    );
    assert_eq!(
        d["cloud"],
        json!({"provider": "cloudflare", "account": {"id": "acct-9"}})
    );
    assert_eq!(d["event"]["provider"], "API");
    assert_eq!(d["related"]["user"], json!(["u-1", "u-2"]));
    assert_eq!(d["related"]["ip"], json!(["2001:db8::7"]));
    assert_eq!(d["source"]["ip"], "2001:db8::7");
    assert_eq!(d["cloudflare"]["audit"]["resource"]["extra"], "kept");
    assert_eq!(
        d["cloudflare"]["audit"]["new_value"],
        json!({"value": "plain"})
    );
    assert!(
        d["cloudflare"]["audit"].get("metadata").is_none(),
        "empty metadata removed"
    );
    assert_eq!(d["event"]["original"], r.to_string());
    assert_eq!(d["tags"], json!(["preserve_original_event"]));

    for when in ["2024-05-06T07:08:09Z", "2024-05-06T09:08:09+02:00"] {
        let mut r = audit_record("purge", Some(true));
        r["when"] = json!(when);
        let (d, _) = doc_of(&t, Dataset::Audit, &r.to_string());
        assert!(
            d["@timestamp"].as_str().unwrap().starts_with("2024-05-06T"),
            "{when}"
        );
    }
}

#[test]
fn audit_bad_inputs_fail_with_the_step_named() {
    let t = transformer(Options::default());
    let mut r = audit_record("purge", Some(true));
    r["actor"]["ip"] = json!("999.1.1.1");
    let (d, doc) = doc_of(&t, Dataset::Audit, &r.to_string());
    assert_eq!(d["event"]["kind"], "pipeline_error");
    assert_eq!(
        doc.error.as_deref(),
        Some("'999.1.1.1' is not an IP string literal.")
    );
    let mut r = audit_record("purge", Some(true));
    r.as_object_mut().unwrap().remove("when");
    let (d, _) = doc_of(&t, Dataset::Audit, &r.to_string());
    assert_eq!(
        d["error"]["message"],
        json!(["field [when] not present as part of path [json.when]"])
    );
    let mut r = audit_record("purge", Some(true));
    r["when"] = json!("2026-02-30T10:00:00Z");
    let (_, doc) = doc_of(&t, Dataset::Audit, &r.to_string());
    assert_eq!(doc.error.as_deref(), Some("Invalid date 'FEBRUARY 30'"));
    r["when"] = json!("30/01/2026");
    let (_, doc) = doc_of(&t, Dataset::Audit, &r.to_string());
    assert_eq!(
        doc.error.as_deref(),
        Some("Failed to parse with all enclosed parsers")
    );
    let mut r = audit_record("purge", Some(true));
    r["newValueJson"] = json!({"value": 1});
    r["newValue"] = json!("x");
    let (d, _) = doc_of(&t, Dataset::Audit, &r.to_string());
    assert_eq!(
        d["event"]["kind"], "pipeline_error",
        "rename onto an existing key fails upstream"
    );
}

#[test]
fn audit_empty_page_is_dropped() {
    let t = transformer(Options::default());
    let out = t.transform(
        Dataset::Audit,
        r#"{"errors":[],"messages":[],"result":[],"success":true}"#,
        NOW,
    );
    assert_eq!(out, Outcome::Dropped);
}

#[test]
fn namespace_adds_data_stream_fields() {
    let t = transformer(Options {
        namespace: Some("prod".into()),
        ..Default::default()
    });
    let d = logpull_with(&t, json!({}));
    assert_eq!(
        d["data_stream"],
        json!({"type": "logs", "dataset": "cloudflare.logpull", "namespace": "prod"})
    );
    assert_eq!(d["event"]["dataset"], "cloudflare.logpull");
    assert_eq!(d["event"]["module"], "cloudflare");
}

#[test]
fn geoip_overrides_cloudflare_country_and_asn() {
    let Some(geo) = common::geoip() else { return };
    let t = Transformer::new(Options::default(), Some(geo)).unwrap();
    let d = logpull_with(
        &t,
        json!({"ClientIP": "89.160.20.156", "EdgeServerIP": "89.160.20.156"}),
    );
    assert_eq!(d["source"]["geo"]["country_iso_code"], "SE");
    assert_eq!(d["source"]["as"]["number"], 29518);
    assert_eq!(d["source"]["as"]["organization"]["name"], "Bredband2 AB");
    assert_eq!(d["observer"]["geo"]["city_name"], "Linköping");
    // An address the test database does not know keeps Cloudflare's values.
    let d = logpull_with(&t, json!({"ClientIP": "198.51.100.7"}));
    assert_eq!(d["source"]["geo"]["country_iso_code"], "de");
    assert_eq!(d["source"]["as"]["number"], 13335);
}

#[test]
fn logpull_custom_field_lists_give_correct_documents() {
    // A user's own `logpull.fields`: only what they asked for is in the record.
    let fields = [
        "EdgeStartTimestamp",
        "RayID",
        "ClientRequestMethod",
        "EdgeResponseStatus",
        "ClientRequestURI",
    ];
    let rec = json!({
        "EdgeStartTimestamp": 1700000000000000000u64, "RayID": "7a1b2c3d4e5f6a7b",
        "ClientRequestMethod": "GET", "EdgeResponseStatus": 200,
        "ClientRequestURI": "/shop/item.php?id[]=1"
    })
    .to_string();
    // Elastic's pipeline (default options) fails such records: that is what upstream does.
    let t = transformer(Options::default());
    let (d, _) = doc_of(&t, Dataset::Logpull, &rec);
    assert!(
        d.get("url").is_none(),
        "no EdgeRequestHost: http.yml skipped"
    );
    let requested = std::sync::Arc::new(fields.iter().map(|s| s.to_string()).collect());
    let custom = transformer(Options {
        logpull_requested: Some(requested),
        ..Default::default()
    });
    let (d, doc) = doc_of(&custom, Dataset::Logpull, &rec);
    assert_eq!(doc.error, None, "{d}");
    assert_eq!(d["event"]["kind"], "event");
    assert_eq!(d["@timestamp"], "2023-11-14T22:13:20.000Z");
    assert!(d["event"].get("end").is_none() && d["event"].get("duration").is_none());
    assert_eq!(d["cloudflare"]["ray_id"], "7a1b2c3d4e5f6a7b");
    assert_eq!(d["http"]["request"]["method"], "GET");
    assert_eq!(d["http"]["response"]["status_code"], 200);
    assert_eq!(d["url"]["query"], "id[]=1");
    assert_eq!(d["url"]["extension"], "php");
    assert_eq!(d["url"]["scheme"], "http");
    assert!(d.get("client").is_none() && d.get("server").is_none());
    assert!(d.get("tls").is_none() && d["observer"].get("ip").is_none());
    // A field that WAS requested but is missing still behaves as upstream (or as the fix).
    let mut with_tls: std::collections::BTreeSet<String> =
        fields.iter().map(|s| s.to_string()).collect();
    with_tls.insert("ClientSSLProtocol".into());
    let custom = transformer(Options {
        logpull_requested: Some(std::sync::Arc::new(with_tls)),
        ..Default::default()
    });
    let (d, _) = doc_of(&custom, Dataset::Logpull, &rec);
    assert_eq!(d["event"]["kind"], "pipeline_error");
}

mod logpush_steps {
    //! Logpush engine steps on their own: a context with a record, one table, the result.

    use cfship_ecs::doc::{Obj, Val};
    use cfship_ecs::logpush::engine::{self, Ctx, OnFail, Step};
    use cfship_ecs::logpush::{Era, Spec};
    use cfship_ecs::{Options, Transformer};
    use serde_json::{json, Value};

    static SPEC: Spec = Spec {
        name: "steps",
        dataset: "cloudflare_logpush.steps",
        cloudflare: "steps",
        version: "0",
        ecs: "8.11.0",
        era: Era::V1_LATE_TAG_UNQUOTED,
        json_ignore_failure: false,
        steps: &[],
    };

    /// Runs `steps` on `record` (as `json`) and `doc` (the output so far); returns the output.
    fn run(steps: &[Step], record: Value, doc: Value) -> (Value, Result<(), String>) {
        let t = Transformer::new(Options::default(), None).unwrap();
        let json = match Val::from_json(record) {
            Val::Obj(o) => Some(o),
            _ => None,
        };
        let doc = match Val::from_json(doc) {
            Val::Obj(o) => o,
            _ => Obj::new(),
        };
        let mut ctx = Ctx {
            t: &t,
            spec: &SPEC,
            doc,
            json,
            keep_duplicates: true,
            pipeline: String::new(),
            unwalked: Vec::new(),
        };
        let r = engine::run(&mut ctx, steps).map_err(|f| f.message);
        let out = serde_json::to_value(&ctx.doc).unwrap();
        (out, r)
    }

    const PAIR: &[Step] = &[Step::Spellings("json.New", "json.Old", "x.v")];

    #[test]
    fn spellings_prefer_the_new_name_and_keep_a_different_old_value() {
        assert_eq!(
            run(PAIR, json!({"New": 5}), json!({})).0,
            json!({"x": {"v": 5}})
        );
        assert_eq!(
            run(PAIR, json!({"Old": 5}), json!({})).0,
            json!({"x": {"v": 5}})
        );
        assert_eq!(
            run(PAIR, json!({"New": 5, "Old": 5.0}), json!({})).0,
            json!({"x": {"v": 5}}),
            "Painless compares numbers by value"
        );
        assert_eq!(
            run(PAIR, json!({"New": 5, "Old": 6}), json!({})).0,
            json!({"x": {"v": [5, "6"]}})
        );
        assert_eq!(
            run(PAIR, json!({"New": 5, "Old": "5"}), json!({})).0,
            json!({"x": {"v": [5, "5"]}}),
            "a string is not equal to a number"
        );
        assert_eq!(
            run(PAIR, json!({"New": "", "Old": 7}), json!({})).0,
            json!({"x": {"v": 7}})
        );
        assert_eq!(
            run(PAIR, json!({"New": null, "Old": ""}), json!({})).0,
            json!({})
        );
        // A target that already holds a value: the new name's rename fails, as in Elasticsearch.
        let (_, r) = run(PAIR, json!({"New": 1}), json!({"x": {"v": 0}}));
        assert_eq!(r, Err("field [x.v] already exists".to_string()));
    }

    #[test]
    fn community_id_reads_the_ecs_flow_fields() {
        let steps = &[Step::CommunityId(OnFail::Append)];
        let flow = json!({
            "source": {"ip": "128.232.110.120", "port": 34855},
            "destination": {"ip": "66.35.250.204", "port": 80},
            "network": {"transport": "TCP"}
        });
        let (d, r) = run(steps, json!({}), flow.clone());
        assert!(r.is_ok());
        assert_eq!(
            d["network"]["community_id"],
            "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
        );
        // network.iana_number wins over network.transport.
        let mut f = flow.clone();
        f["network"]["iana_number"] = json!("6");
        f["network"]["transport"] = json!("udp");
        assert_eq!(
            run(steps, json!({}), f).0["network"]["community_id"],
            "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
        );
        // No destination: nothing, no error.
        let mut f = flow.clone();
        f["destination"].as_object_mut().unwrap().remove("ip");
        let (d, r) = run(steps, json!({}), f);
        assert!(
            r.is_ok() && d["network"].get("community_id").is_none() && d.get("error").is_none()
        );
        // A bad address: the processor's error, appended in the era's format.
        let mut f = flow;
        f["source"]["ip"] = json!("300.1.1.1");
        let (d, _) = run(steps, json!({}), f);
        assert_eq!(
            d["error"]["message"],
            json!(["Processor \"community_id\" with tag  in pipeline \"\" failed with message \"'300.1.1.1' is not an IP string literal.\""])
        );
    }

    #[test]
    fn append_message_writes_the_bare_message() {
        let steps = &[
            Step::Date("json.T", "@timestamp", OnFail::AppendMessage),
            Step::Tagged("t1", &Step::Date("json.T", "@timestamp", OnFail::Append)),
        ];
        let (d, r) = run(steps, json!({"T": "soon"}), json!({}));
        assert!(r.is_ok());
        assert_eq!(
            d["error"]["message"],
            json!([
                "For input string: \"soon\"",
                "Processor \"date\" with tag t1 in pipeline \"\" failed with message \"For input string: \"soon\"\""
            ])
        );
    }

    /// A Painless `HashSet` comes out in Java's order: the expected orders were printed by
    /// OpenJDK 17's `java.util.HashSet` filled with the same values in the same order (16 distinct
    /// strings, so the table grew from 16 to 32 buckets; mixed boxed types).
    #[test]
    fn java_hash_set_order_is_javas() {
        let strings = [
            "example.com",
            "servername",
            "cloudflare.com",
            "a.example",
            "b.example",
            "c.example",
            "mail.example.org",
            "x.y",
            "zz.top",
            "alpha.beta",
            "gamma.delta",
            "epsilon",
            "zeta.eta",
            "theta.iota",
            "",
            "kappa.lambda",
            "example.com",
        ];
        let got = engine::java_hash_set_order(strings.iter().map(|s| Val::str(*s)).collect());
        let got: Vec<String> = got
            .iter()
            .map(|v| v.as_str().unwrap().to_string())
            .collect();
        let want = "mail.example.org||x.y|c.example|epsilon|b.example|a.example|kappa.lambda|gamma.delta|servername|zeta.eta|cloudflare.com|zz.top|alpha.beta|example.com|theta.iota";
        assert_eq!(got.join("|"), want);
        let mixed = Val::from_json(json!(["x", 7, true, 5000000000u64, 1.5]));
        let Val::Arr(mixed) = mixed else { panic!() };
        let got: Vec<String> = engine::java_hash_set_order(mixed)
            .iter()
            .map(Val::to_display_string)
            .collect();
        assert_eq!(got.join("|"), "5000000000|7|x|1.5|true");
    }
}
