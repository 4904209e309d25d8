#![recursion_limit = "512"]
//! `cloudflare_logpush.http_request` (package 2.0.0) beyond Elastic's test documents: the time
//! fields in every form, the URL reconstruction, the dissects, the new-name/old-name fallbacks,
//! typed converts and their error messages, both input shapes, and hostile records.

mod common;

use cfship_ecs::logpush::Ds;
use common::logpush::{
    assert_both_shapes_agree, assert_first_error_named, assert_hostile_lines_give_documents_and,
    errors, hostile_lines, run, run_doc, run_json, run_line, transformer, with,
};
use serde_json::{json, Value};

/// `_ingest.on_failure_pipeline` of a top-level pipeline: unset, so it renders as nothing.
const PIPELINE: &str = "";

const DS: Ds = Ds::HttpRequest;

fn base() -> Value {
    json!({
        "BotDetectionIDs": [7, 8], "BotScore": 20, "BotScoreSrc": "Verified Bot", "BotTags": ["bing"],
        "CacheCacheStatus": "hit", "CacheResponseBytes": 100, "CacheResponseStatus": 200,
        "CacheTieredFill": false, "ClientASN": 13335, "ClientCountry": "de", "ClientCity": "Berlin",
        "ClientRegionCode": "BE", "ClientDeviceType": "mobile", "ClientIP": "198.51.100.7",
        "ClientIPClass": "clean", "ClientMTLSAuthCertFingerprint": "ab12", "ClientMTLSAuthStatus": "ok",
        "ClientRequestBytes": 900, "ClientRequestHost": "shop.example.org", "ClientRequestMethod": "GET",
        "ClientRequestPath": "/catalog/item.json", "ClientRequestProtocol": "HTTP/1.1",
        "ClientRequestReferer": "https://shop.example.org/", "ClientRequestScheme": "https",
        "ClientRequestSource": "eyeball", "ClientRequestURI": "/catalog/item.json?id=7",
        "ClientRequestUserAgent": "curl/8.4.0", "ClientSSLCipher": "AEAD-AES128-GCM-SHA256",
        "ClientSSLProtocol": "TLSv1.3", "ClientSrcPort": 50123, "ClientTCPRTTMs": 3,
        "Cookies": {"a": "b"}, "EdgeCFConnectingO2O": false, "EdgeColoCode": "FRA", "EdgeColoID": 22,
        "EdgeEndTimestamp": 1700000000250000000u64, "EdgePathingOp": "wl", "EdgeRateLimitID": 0,
        "EdgeRequestHost": "edge.example.org", "EdgeResponseBodyBytes": 4000, "EdgeResponseBytes": 4321,
        "EdgeResponseCompressionRatio": 1.5, "EdgeResponseContentType": "application/json",
        "EdgeResponseStatus": 200, "EdgeServerIP": "203.0.113.9",
        "EdgeStartTimestamp": 1700000000000000000u64, "EdgeTimeToFirstByteMs": 12,
        "JA3Hash": "ja3x", "JA4": "ja4x", "JA4Signals": {"h2h3_ratio_1h": 0.5},
        "OriginIP": "192.0.2.10", "OriginResponseStatus": 200, "OriginResponseTime": 12000000,
        "OriginResponseHTTPLastModified": "Thu, 01 Dec 1994 16:00:00 GMT",
        "ParentRayID": "00", "RayID": "7a1b2c3d4e5f6a7b", "SecurityLevel": "med",
        "WAFAction": "unknown", "WAFRuleID": "r1", "WAFRuleMessage": "m1",
        "WorkerSubrequest": true, "ZoneID": 123456789, "ZoneName": "example.org"
    })
}

fn assert_error_doc(doc: &Value) {
    assert_eq!(doc["event"]["kind"], "pipeline_error", "{doc}");
    assert!(!errors(doc).is_empty(), "{doc}");
    let tags = doc["tags"].as_array().unwrap();
    assert!(tags.contains(&json!("preserve_original_event")));
}

fn run1(rec: &Value) -> Value {
    run(&transformer(None, true), DS, rec)
}

#[test]
fn a_full_record_maps_every_field() {
    let d = run1(&base());
    assert!(d.get("error").is_none(), "{d}");
    assert_eq!(d["event"]["kind"], "event");
    assert_eq!(d["event"]["category"], json!(["network"]));
    assert_eq!(d["event"]["type"], json!(["info"]));
    assert_eq!(d["ecs"]["version"], "9.3.0");
    assert_eq!(d["@timestamp"], "2023-11-14T22:13:20.000Z");
    let c = &d["cloudflare_logpush"]["http_request"];
    assert_eq!(c["edge"]["start_time"], "2023-11-14T22:13:20.000Z");
    assert_eq!(c["edge"]["end_time"], "2023-11-14T22:13:20.250Z");
    assert_eq!(
        c["origin"]["response"]["http"]["last_modified"],
        "1994-12-01T16:00:00.000Z"
    );
    assert_eq!(c["bot"]["detection_ids"], json!(["7", "8"]));
    assert_eq!(c["zone"]["id"], "123456789");
    assert_eq!(c["edge"]["rate"]["limit"]["id"], "0");
    assert_eq!(c["edge"]["response"]["compression_ratio"], 1.5);
    assert_eq!(c["cookies"], json!({"a": "b"}));
    assert_eq!(c["ja4_signals"], json!({"h2h3_ratio_1h": 0.5}));
    assert_eq!(c["worker"]["subrequest"]["value"], true);
    assert_eq!(c["cache"]["tiered_fill"], false);
    assert_eq!(d["source"]["ip"], "198.51.100.7");
    assert_eq!(d["source"]["port"], 50123);
    assert_eq!(d["source"]["as"]["number"], 13335);
    assert_eq!(
        d["source"]["geo"],
        json!({"country_iso_code": "de", "city_name": "Berlin", "region_iso_code": "BE"})
    );
    assert_eq!(d["destination"]["ip"], "192.0.2.10");
    assert_eq!(d["device"]["type"], "mobile");
    assert_eq!(d["event"]["id"], "7a1b2c3d4e5f6a7b");
    assert_eq!(
        d["http"],
        json!({
            "request": {"bytes": 900, "id": "7a1b2c3d4e5f6a7b", "method": "GET",
                        "referrer": "https://shop.example.org/"},
            "response": {"body": {"bytes": 4000}, "bytes": 4321,
                         "mime_type": "application/json", "status_code": 200},
            "version": "1.1"
        })
    );
    assert_eq!(d["network"]["protocol"], "http");
    assert_eq!(
        d["tls"],
        json!({"cipher": "AEAD-AES128-GCM-SHA256", "client": {"hash": {"sha256": "AB12"}, "ja3": "ja3x"},
               "version": "1.3", "version_protocol": "tls"})
    );
    assert_eq!(
        d["url"],
        json!({"domain": "shop.example.org", "extension": "json",
               "original": "https://shop.example.org/catalog/item.json?id=7",
               "path": "/catalog/item.json", "query": "id=7", "scheme": "https"})
    );
    assert_eq!(d["related"]["hash"], json!(["ja3x", "ab12", "ja4x"]));
    assert_eq!(
        d["related"]["hosts"],
        json!(["shop.example.org", "edge.example.org"])
    );
    assert_eq!(
        d["related"]["ip"],
        json!(["203.0.113.9", "198.51.100.7", "192.0.2.10"])
    );
    assert_eq!(d["user_agent"]["original"], "curl/8.4.0");
    assert!(d.get("json").is_none() && d.get("tmp").is_none());
}

#[test]
fn both_input_shapes_give_the_same_document() {
    let t = transformer(None, true);
    for rec in [base(), with(&base(), json!({"EdgeStartTimestamp": "bad"}))] {
        let line = rec.to_string();
        assert_eq!(run(&t, DS, &rec)["event"]["original"], line);
        assert_eq!(
            run_json(&t, DS, &rec)["event"]["original"],
            cfship_ecs::canonical::go_json(&line).unwrap()
        );
        assert_both_shapes_agree(&t, DS, &rec);
    }
}

#[test]
fn every_timestamp_form_becomes_utc_milliseconds() {
    let cases: &[(Value, &str)] = &[
        (json!(1700000000), "2023-11-14T22:13:20.000Z"),
        (json!(1700000000123u64), "2023-11-14T22:13:20.123Z"),
        (json!(1700000000123456789u64), "2023-11-14T22:13:20.123Z"),
        (json!("1700000000"), "2023-11-14T22:13:20.000Z"),
        (json!("1700000000123"), "2023-11-14T22:13:20.123Z"),
        (json!("1700000000123456789"), "2023-11-14T22:13:20.123Z"),
        (json!("2023-11-14T22:13:20Z"), "2023-11-14T22:13:20.000Z"),
        (
            json!("2023-11-14T22:13:20.123Z"),
            "2023-11-14T22:13:20.123Z",
        ),
        (
            json!("2023-11-14T22:13:20.123456789Z"),
            "2023-11-14T22:13:20.123Z",
        ),
        (
            json!("2023-11-15T00:13:20+02:00"),
            "2023-11-14T22:13:20.000Z",
        ),
    ];
    for (v, want) in cases {
        let d = run1(&with(
            &base(),
            json!({"EdgeStartTimestamp": v, "EdgeEndTimestamp": v}),
        ));
        assert_eq!(d["@timestamp"], *want, "{v}: {d}");
        let c = &d["cloudflare_logpush"]["http_request"];
        assert_eq!(c["edge"]["start_time"], *want, "{v}");
        assert_eq!(c["edge"]["end_time"], *want, "{v}");
        assert!(d.get("error").is_none(), "{v}: {d}");
        // Datetime alone (the minimal record shape) gives @timestamp too.
        let d = run1(&json!({"Datetime": v, "RayID": "r"}));
        assert_eq!(d["@timestamp"], *want, "Datetime {v}");
        assert_eq!(d["cloudflare_logpush"]["http_request"]["datetime"], *want);
    }
    // EdgeStartTimestamp wins over Datetime.
    let d = run1(&with(&base(), json!({"Datetime": "2020-01-01T00:00:00Z"})));
    assert_eq!(d["@timestamp"], "2023-11-14T22:13:20.000Z");
    assert_eq!(
        d["cloudflare_logpush"]["http_request"]["datetime"],
        "2020-01-01T00:00:00.000Z"
    );
    // No time field at all: no @timestamp from the pipeline, not an error.
    let d = run1(&with(
        &base(),
        json!({"EdgeStartTimestamp": null, "EdgeEndTimestamp": null}),
    ));
    assert!(
        d.get("@timestamp").is_none() && d.get("error").is_none(),
        "{d}"
    );
    // "" is skipped by the date's `if`.
    let d = run1(&with(
        &base(),
        json!({"EdgeStartTimestamp": "", "EdgeEndTimestamp": ""}),
    ));
    assert!(
        d.get("@timestamp").is_none() && d.get("error").is_none(),
        "{d}"
    );
}

#[test]
fn a_bad_timestamp_is_a_tagged_error_and_the_rest_is_kept() {
    let d = run1(&with(&base(), json!({"EdgeStartTimestamp": "yesterday"})));
    assert_error_doc(&d);
    assert_eq!(
        errors(&d),
        vec![format!(
            "Processor date with tag date_json_EdgeStartTimestamp_to_cloudflare_logpush_http_request_edge_start_time_6e9e517a in pipeline {PIPELINE} failed with message: For input string: \"yesterday\""
        )]
    );
    assert_eq!(d["source"]["ip"], "198.51.100.7");
    assert!(d["event"]["original"].is_string());
    // A JSON double is left alone by `convert long`, and the script's long parameter rejects it.
    let d = run1(&with(&base(), json!({"EdgeStartTimestamp": 1.5e9})));
    assert_error_doc(&d);
    assert_eq!(
        errors(&d)[0],
        format!("Processor script with tag painless_edge_start_timestamp_to_milli in pipeline {PIPELINE} failed with message: cannot implicitly cast def [double] to long")
    );
}

#[test]
fn origin_header_dates_accept_http_and_iso_forms() {
    for (v, want) in [
        ("Thu, 21 May 2022 11:17:33 UTC", "2022-05-21T11:17:33.000Z"),
        ("Thu, 21 May 2022 11:17:33 GMT", "2022-05-21T11:17:33.000Z"),
        ("2022-05-21T11:17:33Z", "2022-05-21T11:17:33.000Z"),
        ("2022-05-21T13:17:33.250+02:00", "2022-05-21T11:17:33.250Z"),
        ("1653131853000", "2022-05-21T11:17:33.000Z"),
    ] {
        let d = run1(&with(&base(), json!({"OriginResponseHTTPExpires": v})));
        assert_eq!(
            d["cloudflare_logpush"]["http_request"]["origin"]["response"]["http"]["expires"], want,
            "{v}: {d}"
        );
    }
    let d = run1(&with(&base(), json!({"OriginResponseHTTPExpires": "soon"})));
    assert_error_doc(&d);
    assert!(errors(&d)[0].starts_with(
        "Processor date with tag date_json_OriginResponseHTTPExpires_to_cloudflare_logpush_http_request_origin_response_http_expires_5fcc3d5b in pipeline"
    ));
}

#[test]
fn ipv6_addresses_and_invalid_ips() {
    let d = run1(&with(
        &base(),
        json!({
            "ClientIP": "2001:db8::1", "OriginIP": "2a02:cf40::23", "EdgeServerIP": "2001:db8::1"
        }),
    ));
    assert_eq!(d["source"]["ip"], "2001:db8::1");
    assert_eq!(d["destination"]["ip"], "2a02:cf40::23");
    assert_eq!(d["related"]["ip"], json!(["2001:db8::1", "2a02:cf40::23"]));
    let d = run1(&with(&base(), json!({"ClientIP": "not-an-ip"})));
    assert_error_doc(&d);
    assert_eq!(
        errors(&d),
        vec![format!("Processor convert with tag convert_json_ClientIP_to_cloudflare_logpush_http_request_client_ip_3d9346d4 in pipeline {PIPELINE} failed with message: 'not-an-ip' is not an IP string literal.")]
    );
    assert!(d.get("source").and_then(|s| s.get("ip")).is_none());
}

#[test]
fn url_reconstruction() {
    // Absolute URI: used as is.
    let d = run1(&with(
        &base(),
        json!({"ClientRequestURI": "http://other.example:8080/a/b.png?x=1"}),
    ));
    assert_eq!(
        d["url"]["original"],
        "http://other.example:8080/a/b.png?x=1"
    );
    assert_eq!(d["url"]["port"], 8080);
    assert_eq!(d["url"]["domain"], "other.example");
    assert_eq!(d["url"]["extension"], "png");
    // No URI: the path and query (with its `?`) are copied; no scheme, no TLS → http.
    let d = run1(&json!({
        "ClientRequestHost": "h.example", "ClientRequestPath": "/p", "ClientRequestQuery": "?q=1"
    }));
    assert_eq!(
        d["url"],
        json!({"domain": "h.example", "path": "/p", "query": "?q=1", "scheme": "http"})
    );
    assert!(d["cloudflare_logpush"]["http_request"]["client"]["request"]
        .get("query")
        .is_none());
    // No scheme but TLS → https.
    let d = run1(&with(&base(), json!({"ClientRequestScheme": null})));
    assert_eq!(d["url"]["scheme"], "https");
    assert_eq!(
        d["url"]["original"],
        "https://shop.example.org/catalog/item.json?id=7"
    );
    // No host: no reconstruction from a relative URI.
    let d = run1(&with(&base(), json!({"ClientRequestHost": null})));
    assert!(d["url"].get("original").is_none(), "{d}");
    assert_eq!(d["url"]["path"], "/catalog/item.json");
    // An unparsable URI is ignored (uri_parts has ignore_failure).
    let d = run1(&with(&base(), json!({"ClientRequestURI": "/a b"})));
    assert!(d.get("error").is_none(), "{d}");
    assert_eq!(d["url"]["domain"], "shop.example.org");
    // A non-string URI fails the `if` of the set processor: a pipeline error.
    let d = run1(&with(&base(), json!({"ClientRequestURI": 7})));
    assert_error_doc(&d);
    assert_eq!(
        errors(&d),
        vec![format!("Processor conditional with tag set_tmp_constructed_uri in pipeline {PIPELINE} failed with message: dynamic method [java.lang.Integer, startsWith/1] not found")]
    );
}

#[test]
fn protocol_and_tls_dissects() {
    for (p, version) in [("HTTP/1.0", "1.0"), ("HTTP/2", "2"), ("HTTP/3", "3")] {
        let d = run1(&with(&base(), json!({"ClientRequestProtocol": p})));
        assert_eq!(d["http"]["version"], version);
        assert_eq!(d["network"]["protocol"], "http");
    }
    for p in ["none", "unknown"] {
        let d = run1(&with(
            &base(),
            json!({"ClientRequestProtocol": p, "ClientSSLProtocol": p}),
        ));
        assert!(d.get("error").is_none(), "{d}");
        assert!(d.get("network").is_none() && d["http"].get("version").is_none());
        assert!(d["tls"].get("version").is_none());
    }
    let d = run1(&with(&base(), json!({"ClientRequestProtocol": "garbage"})));
    assert_error_doc(&d);
    assert_eq!(
        errors(&d),
        vec![format!("Processor dissect with tag dissect_client_request_protocol in pipeline {PIPELINE} failed with message: Unable to find match for dissect pattern: %{{network.protocol}}/%{{http.version}} against source: garbage")]
    );
    let d = run1(&with(&base(), json!({"ClientSSLProtocol": "TLSv1.2"})));
    assert_eq!(d["tls"]["version"], "1.2");
    assert_eq!(d["tls"]["version_protocol"], "tls");
    let d = run1(&with(&base(), json!({"ClientSSLProtocol": 12})));
    assert_error_doc(&d);
    assert!(errors(&d)[0].contains("dissect_client_ssl_protocol"));
}

#[test]
fn security_names_win_over_the_older_waf_and_firewall_names() {
    let d = run1(&with(
        &base(),
        json!({
            "SecurityAction": "block", "WAFAction": "log",
            "SecurityRuleID": "s1", "WAFRuleID": "w1",
            "SecurityRuleDescription": "sd", "WAFRuleMessage": "wm",
            "SecurityActions": ["block"], "FirewallMatchesActions": ["log"],
            "SecurityRuleIDs": ["s1"], "FirewallMatchesRuleIDs": ["w1"],
            "SecuritySources": ["waf"], "FirewallMatchesSources": ["firewallrules"]
        }),
    ));
    let c = &d["cloudflare_logpush"]["http_request"];
    assert_eq!(c["waf"]["action"], "block", "{}", d["cloudflare_logpush"]);
    assert_eq!(c["waf"]["rule"], json!({"id": "s1", "message": "sd"}));
    assert_eq!(
        c["firewall"]["matches"],
        json!({"action": ["block"], "rule_id": ["s1"], "sources": ["waf"]})
    );
    // Old names alone still fill the fields.
    let d = run1(&with(
        &base(),
        json!({
            "FirewallMatchesActions": ["log"], "FirewallMatchesRuleIDs": ["w1"],
            "FirewallMatchesSources": ["firewallrules"]
        }),
    ));
    let c = &d["cloudflare_logpush"]["http_request"];
    assert_eq!(c["waf"]["action"], "unknown");
    assert_eq!(c["waf"]["rule"], json!({"id": "r1", "message": "m1"}));
    assert_eq!(
        c["firewall"]["matches"]["sources"],
        json!(["firewallrules"])
    );
    // A null new name passes the `if` and then fails the fallback rename, as upstream; the
    // rename has an `if:`, so Elasticsearch names the failure `conditional`.
    let mut rec = base();
    rec["SecurityRuleID"] = Value::Null;
    let d = run1(&rec);
    assert_error_doc(&d);
    assert_eq!(
        errors(&d),
        vec![format!("Processor conditional with tag rename_json_WAFRuleID_to_cloudflare_logpush_http_request_waf_rule_id_e3b580fa in pipeline {PIPELINE} failed with message: field [cloudflare_logpush.http_request.waf.rule.id] already exists")]
    );
}

#[test]
fn empty_values_are_dropped() {
    let d = run1(&with(
        &base(),
        json!({
            "Cookies": {}, "BotTags": [], "ContentScanObjSizes": [], "ContentScanObjResults": [],
            "RequestHeaders": {}, "ResponseHeaders": {"x": ""}, "ClientXRequestedWith": "",
            "WorkerScriptName": "", "ClientMTLSAuthCertFingerprint": "", "JA4Signals": {"a": "N/A"},
            "OriginResponseHTTPExpires": "", "EdgeRateLimitAction": ""
        }),
    ));
    assert!(d.get("error").is_none(), "{d}");
    let c = &d["cloudflare_logpush"]["http_request"];
    for k in [
        "cookies",
        "content_scan",
        "request",
        "response",
        "ja4_signals",
    ] {
        assert!(c.get(k).is_none(), "{k}: {c}");
    }
    assert!(c["bot"].get("tag").is_none());
    assert!(c["client"].get("xrequested_with").is_none());
    assert!(c["client"]["mtls"]["auth"].get("fingerprint").is_none());
    assert!(d["tls"]["client"].get("hash").is_none());
    assert!(!d["related"]["hash"]
        .as_array()
        .unwrap()
        .contains(&json!("")));
    assert!(c["origin"]["response"]["http"].get("expires").is_none());
}

#[test]
fn typed_converts_and_their_errors() {
    let d = run1(&with(
        &base(),
        json!({
            "EdgeResponseStatus": "404", "ClientASN": "64500", "CacheTieredFill": "TRUE",
            "EdgeResponseCompressionRatio": 0, "ContentScanObjSizes": ["1", 2], "FraudDetectionIDs": [3001]
        }),
    ));
    assert!(d.get("error").is_none(), "{d}");
    let c = &d["cloudflare_logpush"]["http_request"];
    assert_eq!(d["http"]["response"]["status_code"], 404);
    assert_eq!(d["source"]["as"]["number"], 64500);
    assert_eq!(c["cache"]["tiered_fill"], true);
    assert_eq!(c["edge"]["response"]["compression_ratio"], 0.0);
    assert_eq!(c["content_scan"]["sizes"], json!([1, 2]));
    assert_eq!(c["fraud"]["detection_ids"], json!(["3001"]));
    // Two failing converts: both messages, in order, and the record is still indexed.
    let d = run1(&with(
        &base(),
        json!({"EdgeResponseStatus": "OK", "CacheTieredFill": ""}),
    ));
    assert_error_doc(&d);
    assert_eq!(
        errors(&d),
        vec![
            format!("Processor convert with tag convert_json_EdgeResponseStatus_to_cloudflare_logpush_http_request_edge_response_status_168bfabf in pipeline {PIPELINE} failed with message: For input string: \"OK\""),
            format!("Processor convert with tag convert_cachetieredfill_to_boolean in pipeline {PIPELINE} failed with message: [] is not a boolean value, cannot convert to boolean"),
        ]
    );
    assert_eq!(d["source"]["ip"], "198.51.100.7");
}

#[test]
fn duplicates_are_removed_without_the_tag() {
    let line = base().to_string();
    let (d, _) = run_doc(&transformer(None, false), DS, &line);
    let c = &d["cloudflare_logpush"]["http_request"];
    for p in [
        "/origin/ip",
        "/client/request/method",
        "/edge/response/content_type",
        "/edge/response/status",
        "/client/asn",
        "/client/country",
        "/client/ip",
        "/client/request/user",
        "/client/ssl/cipher",
        "/client/device",
        "/client/request/bytes",
        "/edge/response/bytes",
        "/client/src",
        "/ja3_hash",
        "/client/request/referer",
    ] {
        assert!(c.pointer(p).is_none(), "{p}: {c}");
    }
    // The ECS copies and the non-duplicated fields stay.
    assert_eq!(d["source"]["ip"], "198.51.100.7");
    assert_eq!(c["ray"]["id"], "7a1b2c3d4e5f6a7b");
    assert_eq!(c["client"]["request"]["host"], "shop.example.org");
    let (d, _) = run_doc(&transformer(None, true), DS, &line);
    assert_eq!(
        d["cloudflare_logpush"]["http_request"]["client"]["ip"],
        "198.51.100.7"
    );
}

#[test]
fn hostile_records_give_one_document_each() {
    let t = transformer(None, true);
    // Every field of the full record with every wrong type, and partial records.
    let mut lines = hostile_lines(&base());
    lines.extend(
        [
            "{\"ClientIP\": {\"nested\": [1, {\"x\": null}]}}",
            "{\"EdgeStartTimestamp\": 99999999999999999999999999}",
            "{\"EdgeStartTimestamp\": -1}",
            "{\"EdgeStartTimestamp\": 18446744073709551615}",
            "{\"Datetime\": true}",
            "{\"ClientRequestUserAgent\": 5}",
            "{\"ClientMTLSAuthCertFingerprint\": 5}",
            "{\"ClientRequestHost\": 5, \"ClientRequestURI\": \"/x\"}",
            "{\"ClientRequestURI\": \"\"}",
            "{\"ClientRequestURI\": \"*\"}",
            "{\"RayID\": [\"a\", \"b\"], \"EdgeRequestHost\": {\"a\": 1}}",
        ]
        .map(String::from),
    );
    assert_hostile_lines_give_documents_and(&t, DS, &lines, assert_first_error_named);
    // A record that is not a JSON object is a pipeline error naming the json processor (its
    // `if:` makes it a `conditional`).
    let (v, _) = run_doc(&t, DS, "[1,2,3]");
    assert_error_doc(&v);
    assert!(
        errors(&v)[0].starts_with(
            "Processor conditional with tag json_event_original_to_json_cac66847 in pipeline"
        ),
        "{v}"
    );
}

/// Oracle findings: the `json` processor has an `if:` (failure type `conditional`, with its
/// tag); a `rename … if: ctx.<to> == null` onto a field holding null fails as `conditional`; a
/// list or map in the `startsWith` condition is the read-only wrapper the condition sees; a
/// `double` convert reports `Double.parseDouble`'s message; `uppercase` of a list upper-cases
/// each element.
#[test]
fn conditional_failures_wrappers_and_string_lists() {
    let t = transformer(None, true);
    let d = run_line(&t, DS, "not json");
    let e = errors(&d);
    assert!(
        e.len() == 1
            && e[0].starts_with(
                "Processor conditional with tag json_event_original_to_json_cac66847 in pipeline  failed with message: "
            ),
        "{e:?}"
    );
    let mut rec = base();
    rec["SecurityAction"] = Value::Null;
    rec["WAFAction"] = json!("block");
    let d = run1(&rec);
    assert_error_doc(&d);
    assert!(
        errors(&d).contains(&"Processor conditional with tag rename_json_WAFAction_to_cloudflare_logpush_http_request_waf_action_d16779f0 in pipeline  failed with message: field [cloudflare_logpush.http_request.waf.action] already exists".to_string()),
        "{:?}",
        errors(&d)
    );
    for (uri, class) in [
        (
            json!(["/a"]),
            "org.elasticsearch.ingest.ConditionalProcessor.UnmodifiableIngestList",
        ),
        (
            json!({"p": "/a"}),
            "org.elasticsearch.ingest.ConditionalProcessor.UnmodifiableIngestData",
        ),
        (json!(7), "java.lang.Integer"),
    ] {
        let d = run1(&with(&base(), json!({"ClientRequestURI": uri})));
        assert_error_doc(&d);
        let want = format!("failed with message: dynamic method [{class}, startsWith/1] not found");
        assert!(
            errors(&d).iter().any(|e| e.ends_with(&want)),
            "{:?}",
            errors(&d)
        );
    }
    let d = run1(&with(
        &base(),
        json!({"EdgeResponseCompressionRatio": "12abc"}),
    ));
    assert_eq!(
        errors(&d),
        vec![
            r#"Processor convert with tag convert_json_EdgeResponseCompressionRatio_to_cloudflare_logpush_http_request_edge_response_compression_ratio_14ec9748 in pipeline  failed with message: For input string: "12abc""#
        ]
    );
    let d = run1(&with(
        &base(),
        json!({"ClientMTLSAuthCertFingerprint": ["ab", "cd"]}),
    ));
    assert!(d.get("error").is_none(), "{d}");
    assert_eq!(d["tls"]["client"]["hash"]["sha256"], json!(["AB", "CD"]));
}
