//! `cloudflare.logpull`: Elastic's `default.yml` + `http.yml` ingest pipelines (package 2.22.0),
//! processor by processor (docs/cloudflare-pipelines.md).

use crate::convert::{is_ip, java_type, normalise_epoch, painless_long, painless_ne_zero};
use crate::doc::{Obj, Val};
use crate::processors::{cond, convert_long, copy_if_not_empty, rename, Fail};
use crate::time::{parse_date, parse_http_date, Formats};
use crate::Transformer;
use serde::Deserialize;
use std::borrow::Cow;

pub const PIPELINE: &str = "logs-cloudflare.logpull-2.22.0";

/// The Logpull fields `source.*` is built from (`set client copy_from source` needs one).
pub const SOURCE_FIELDS: [&str; 5] = [
    "ClientIP",
    "ClientCountry",
    "ClientASN",
    "ClientRequestBytes",
    "ClientSrcPort",
];
/// The Logpull fields `destination.*` is built from (`set server copy_from destination`).
pub const DESTINATION_FIELDS: [&str; 2] = ["OriginIP", "EdgeResponseBytes"];

/// Fields a custom list must keep for the documents to be Elastic's: without the first, no
/// `@timestamp` (every document fails); the others carry what dashboards and `_id`s rely on.
pub const REQUIRED_FIELDS: [&str; 1] = ["EdgeStartTimestamp"];
/// Fields whose absence a custom list may choose (the document is then correct without them),
/// but that Elastic's dashboards use: `check` names them.
pub const RECOMMENDED_FIELDS: [&str; 8] = [
    "EdgeEndTimestamp",
    "ClientRequestHost",
    "ClientRequestURI",
    "ClientIP",
    "EdgeResponseStatus",
    "ClientRequestMethod",
    "ClientRequestUserAgent",
    "RayID",
];
pub const HTTP_PIPELINE: &str = "logs-cloudflare.logpull-2.22.0-http";

macro_rules! raw_record {
    ($($field:ident = $name:literal),* $(,)?) => {
        /// The Logpull fields the pipeline reads; anything else is dropped with `json`.
        #[derive(Deserialize, Default)]
        struct Raw<'a> {
            $( #[serde(rename = $name, borrow, default)] $field: Option<Val<'a>>, )*
            /// The timestamps keep a JSON `null` (`Some(Val::Null)`): the date processor then sees
            /// a present null (`cannot parse empty datetime`), not a missing field.
            #[serde(rename = "EdgeStartTimestamp", borrow, default, deserialize_with = "null_present")]
            edge_start: Option<Val<'a>>,
            #[serde(rename = "EdgeEndTimestamp", borrow, default, deserialize_with = "null_present")]
            edge_end: Option<Val<'a>>,
        }
    };
}

/// Deserializes a present field as `Some`, a JSON `null` included.
fn null_present<'de: 'a, 'a, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Val<'a>>, D::Error> {
    Val::deserialize(d).map(Some)
}

raw_record! {
    bot_score = "BotScore", bot_score_src = "BotScoreSrc",
    cache_status = "CacheCacheStatus", cache_bytes = "CacheResponseBytes",
    cache_status_code = "CacheResponseStatus", cache_tiered_fill = "CacheTieredFill",
    client_asn = "ClientASN", client_country = "ClientCountry", client_device_type = "ClientDeviceType",
    client_ip = "ClientIP", client_ip_class = "ClientIPClass", client_request_bytes = "ClientRequestBytes",
    client_request_host = "ClientRequestHost", client_request_method = "ClientRequestMethod",
    client_request_path = "ClientRequestPath", client_request_protocol = "ClientRequestProtocol",
    client_request_referer = "ClientRequestReferer", client_request_scheme = "ClientRequestScheme",
    client_request_uri = "ClientRequestURI", client_request_user_agent = "ClientRequestUserAgent",
    client_ssl_cipher = "ClientSSLCipher", client_ssl_protocol = "ClientSSLProtocol",
    client_src_port = "ClientSrcPort",
    edge_colo_code = "EdgeColoCode", edge_colo_id = "EdgeColoID",
    edge_pathing_op = "EdgePathingOp", edge_pathing_src = "EdgePathingSrc",
    edge_pathing_status = "EdgePathingStatus", edge_rate_limit_action = "EdgeRateLimitAction",
    edge_rate_limit_id = "EdgeRateLimitID", edge_request_host = "EdgeRequestHost",
    edge_response_bytes = "EdgeResponseBytes", edge_response_body_bytes = "EdgeResponseBodyBytes",
    edge_response_compression_ratio = "EdgeResponseCompressionRatio",
    edge_response_content_type = "EdgeResponseContentType", edge_response_status = "EdgeResponseStatus",
    edge_server_ip = "EdgeServerIP",
    firewall_actions = "FirewallMatchesActions", firewall_rule_ids = "FirewallMatchesRuleIDs",
    firewall_sources = "FirewallMatchesSources",
    origin_ip = "OriginIP", origin_response_bytes = "OriginResponseBytes",
    origin_expires = "OriginResponseHTTPExpires", origin_last_modified = "OriginResponseHTTPLastModified",
    origin_response_status = "OriginResponseStatus", origin_response_time = "OriginResponseTime",
    origin_ssl_protocol = "OriginSSLProtocol", parent_ray_id = "ParentRayID", ray_id = "RayID",
    security_level = "SecurityLevel", waf_action = "WAFAction", waf_flags = "WAFFlags",
    waf_matched_var = "WAFMatchedVar", waf_profile = "WAFProfile", waf_rule_id = "WAFRuleID",
    waf_rule_message = "WAFRuleMessage", worker_cpu_time = "WorkerCPUTime", worker_status = "WorkerStatus",
    worker_subrequest = "WorkerSubrequest", worker_subrequest_count = "WorkerSubrequestCount",
    zone_id = "ZoneID", zone_name = "ZoneName",
}

/// Parses the record (the `json` processor of `default.yml`).
pub(crate) fn parse(original: &str) -> Result<RawRecord<'_>, Fail> {
    let first = original.trim_start().as_bytes().first().copied();
    if first != Some(b'{') && serde_json::from_str::<serde::de::IgnoredAny>(original).is_ok() {
        return Err(Fail::new(
            "json",
            "json_event_original",
            "record is valid JSON but not an object",
        ));
    }
    let raw: Raw<'_> = serde_json::from_str(original).map_err(|e| {
        Fail::new(
            "json",
            "json_event_original",
            crate::json_error_message(original, &e),
        )
    })?;
    Ok(RawRecord(raw))
}

pub(crate) struct RawRecord<'a>(Raw<'a>);

impl RawRecord<'_> {
    /// `json.EdgeRequestHost != null`: the condition for running `http.yml` at all.
    pub(crate) fn has_edge_request_host(&self) -> bool {
        self.0.edge_request_host.is_some()
    }
}

/// Runs `http.yml`. On a processor failure the fields set so far stay (as in Elasticsearch).
pub(crate) fn http<'a>(t: &Transformer, doc: &mut Obj<'a>, rec: RawRecord<'a>) -> Result<(), Fail> {
    let mut r = rec.0;
    let fix = t.options().fix_upstream_bugs;

    // Event time fields.
    let start = date_field(
        r.edge_start.take(),
        "EdgeStartTimestamp",
        Formats::Iso8601First,
        "date_edge_start_timestamp",
    )?;
    let start_text = start.format();
    doc.set("@timestamp", Val::Str(Cow::Owned(start_text.clone())))
        .map_err(|e| Fail::path("date_edge_start_timestamp", "date", e))?;
    doc.set("event.start", Val::Str(Cow::Owned(start_text)))
        .map_err(|e| Fail::path("set_event_start_c5e4284b", "set", e))?;
    // A custom field list without EdgeEndTimestamp: no event.end, no event.duration.
    if !(r.edge_end.is_none() && t.unrequested("EdgeEndTimestamp")) {
        let end = date_field(
            r.edge_end.take(),
            "EdgeEndTimestamp",
            Formats::StrictThenUnixMs,
            "date_edge_end_timestamp",
        )?;
        doc.set("event.end", Val::Str(Cow::Owned(end.format())))
            .map_err(|e| Fail::path("date_edge_end_timestamp", "date", e))?;
        doc.set(
            "event.duration",
            Val::I64((end.millis - start.millis).wrapping_mul(1_000_000)),
        )
        .map_err(|e| Fail::path("painless_event_duration", "script", e).conditional())?;
    }

    // TLS fields. Upstream calls `.toLowerCase()` on the raw value, which fails the document when
    // the field is missing (spec §8.9); `fix_upstream_bugs` treats a missing field as absent.
    let proto_tag = "rename_json_ClientSSLProtocol_to_cloudflare_client_ssl_protocol_078fa74f";
    // Not requested in a custom list: absent, as with the fix.
    let proto_absent_ok = fix || t.unrequested("ClientSSLProtocol");
    let cipher_absent_ok = fix || t.unrequested("ClientSSLCipher");
    if let Some(p) = cond(painless_not_none(
        r.client_ssl_protocol.take(),
        fix,
        proto_absent_ok,
        "rename",
        proto_tag,
    ))? {
        cond(rename(
            doc,
            Some(p),
            "cloudflare.client.ssl.protocol",
            proto_tag,
            "json.ClientSSLProtocol",
        ))?;
    }
    let cipher_tag = "rename_json_ClientSSLCipher_to_tls_cipher_89359e8f";
    if let Some(c) = cond(painless_not_none(
        r.client_ssl_cipher.take(),
        fix,
        cipher_absent_ok,
        "rename",
        cipher_tag,
    ))? {
        cond(rename(
            doc,
            Some(c),
            "tls.cipher",
            cipher_tag,
            "json.ClientSSLCipher",
        ))?;
    }
    if let Some(Val::Str(p)) = doc.get_path("cloudflare.client.ssl.protocol") {
        // dissect "%{tls.version_protocol}v%{tls.version}" (ignore_failure), then lowercase.
        if let Some((proto, version)) = p.split_once('v') {
            let (proto, version) = (proto.to_lowercase(), version.to_string());
            doc.set("tls.version_protocol", Val::Str(Cow::Owned(proto)))
                .map_err(|e| Fail::path("dissect_tls_version", "dissect", e))?;
            doc.set("tls.version", Val::Str(Cow::Owned(version)))
                .map_err(|e| Fail::path("dissect_tls_version", "dissect", e))?;
        }
    }

    // URL fields.
    url_fields(doc, &mut r)?;

    // User agent.
    if let Some(ua) = r.client_request_user_agent.take() {
        let Val::Str(ua) = ua else {
            return Err(Fail::new(
                "user_agent",
                "user_agent_json_ClientRequestUserAgent_to_user_agent_1ee441f2",
                format!(
                    "field [ClientRequestUserAgent] of type [{}] cannot be cast to [java.lang.String]",
                    java_type(&ua)
                ),
            ));
        };
        t.user_agent_into(doc, ua);
    }

    // Observer fields: append '{{{json.EdgeServerIP}}}' if != '' (a missing field renders "").
    let observer_ip = match r.edge_server_ip.take() {
        Some(Val::Str(s)) if s.is_empty() => None,
        Some(v) => Some(match v {
            Val::Str(s) => s,
            other => Cow::Owned(other.to_display_string()),
        }),
        None if fix || t.unrequested("EdgeServerIP") => None,
        None => Some(Cow::Borrowed("")),
    };
    if let Some(ip) = observer_ip {
        let tag = "geoip_observer_ip";
        // `append` runs before `geoip`, so a failing lookup leaves observer.ip in the document.
        doc.append("observer.ip", Val::Str(ip.clone()), true)
            .map_err(|e| Fail::path("append_observer_ip_e6ba6ab7", "append", e).conditional())?;
        // The geoip processor rejects anything that is not an IP literal ('' included).
        let parsed: std::net::IpAddr = ip
            .parse()
            .map_err(|_| Fail::new("geoip", tag, format!("'{ip}' is not an IP string literal.")))?;
        if let Some(geo) = t.geo_city(parsed) {
            doc.set("observer.geo", Val::Obj(geo.to_obj()))
                .map_err(|e| Fail::path(tag, "geoip", e))?;
        }
    }

    // Bot fields: a conversion error only appends to error.message.
    match r.bot_score.take() {
        Some(Val::Str(s)) if s.is_empty() => {}
        Some(v) => {
            if let Err(f) = convert_long(
                doc,
                Some(v),
                "cloudflare.bot.score.value",
                "convert_bot_score_value",
            ) {
                doc.append("error.message", Val::Str(Cow::Owned(f.message)), true)
                    .map_err(|e| Fail::path("append_error_message_6a70a925", "append", e))?;
            }
        }
        None => {}
    }
    rename(
        doc,
        r.bot_score_src.take(),
        "cloudflare.bot.score.src",
        "rename_bot_score_src",
        "json.BotScoreSrc",
    )?;

    // Cache fields.
    rename(
        doc,
        r.cache_status.take(),
        "cloudflare.cache.status",
        "rename_json_CacheCacheStatus_to_cloudflare_cache_status_2468c6df",
        "json.CacheCacheStatus",
    )?;
    rename(
        doc,
        r.cache_tiered_fill.take(),
        "cloudflare.cache.tiered_fill",
        "rename_json_CacheTieredFill_to_cloudflare_cache_tiered_fill_34b89004",
        "json.CacheTieredFill",
    )?;
    if painless_ne_zero(r.cache_bytes.as_ref()) {
        cond(convert_long(
            doc,
            r.cache_bytes.take(),
            "cloudflare.cache.bytes",
            "convert_cache_response_bytes",
        ))?;
    }
    if painless_ne_zero(r.cache_status_code.as_ref()) {
        cond(convert_long(
            doc,
            r.cache_status_code.take(),
            "cloudflare.cache.status_code",
            "convert_cache_response_status",
        ))?;
    }

    // Edge fields.
    rename(
        doc,
        r.edge_colo_code.take(),
        "cloudflare.edge.colo.code",
        "rename_json_EdgeColoCode_to_cloudflare_edge_colo_code_33674f3b",
        "json.EdgeColoCode",
    )?;
    rename(
        doc,
        r.edge_colo_id.take(),
        "cloudflare.edge.colo.id",
        "rename_json_EdgeColoID_to_cloudflare_edge_colo_id_942d31cf",
        "json.EdgeColoID",
    )?;
    rename(
        doc,
        r.edge_pathing_op.take(),
        "cloudflare.edge.pathing.op",
        "rename_json_EdgePathingOp_to_cloudflare_edge_pathing_op_221b7849",
        "json.EdgePathingOp",
    )?;
    rename(
        doc,
        r.edge_pathing_src.take(),
        "cloudflare.edge.pathing.src",
        "rename_json_EdgePathingSrc_to_cloudflare_edge_pathing_src_5d2ebbe5",
        "json.EdgePathingSrc",
    )?;
    rename(
        doc,
        r.edge_pathing_status.take(),
        "cloudflare.edge.pathing.status",
        "rename_json_EdgePathingStatus_to_cloudflare_edge_pathing_status_1cebb919",
        "json.EdgePathingStatus",
    )?;
    rename(
        doc,
        r.edge_rate_limit_action.take(),
        "cloudflare.edge.rate_limit.action",
        "rename_json_EdgeRateLimitAction_to_cloudflare_edge_rate_limit_action_c3fb46da",
        "json.EdgeRateLimitAction",
    )?;
    rename(
        doc,
        r.edge_rate_limit_id.take(),
        "cloudflare.edge.rate_limit.id",
        "rename_json_EdgeRateLimitID_to_cloudflare_edge_rate_limit_id_5d3108d4",
        "json.EdgeRateLimitID",
    )?;
    rename(
        doc,
        r.edge_request_host.take(),
        "cloudflare.edge.request.host",
        "rename_json_EdgeRequestHost_to_cloudflare_edge_request_host_a2515499",
        "json.EdgeRequestHost",
    )?;
    convert_long(
        doc,
        r.edge_response_bytes.take(),
        "cloudflare.edge.response.bytes",
        "convert_edge_response_bytes",
    )?;
    rename(
        doc,
        r.edge_response_status.take(),
        "cloudflare.edge.response.status_code",
        "rename_json_EdgeResponseStatus_to_cloudflare_edge_response_status_code_15193a93",
        "json.EdgeResponseStatus",
    )?;
    rename(doc, r.edge_response_compression_ratio.take(), "cloudflare.edge.response.compression_ratio", "rename_json_EdgeResponseCompressionRatio_to_cloudflare_edge_response_compression_ratio_5c43d23e", "json.EdgeResponseCompressionRatio")?;
    rename(
        doc,
        r.edge_response_content_type.take(),
        "cloudflare.edge.response.content_type",
        "rename_json_EdgeResponseContentType_to_cloudflare_edge_response_content_type_4d430c6c",
        "json.EdgeResponseContentType",
    )?;
    convert_long(
        doc,
        r.edge_response_body_bytes.take(),
        "cloudflare.edge.response.body.bytes",
        "convert_edge_response_body_bytes",
    )?;

    // Firewall fields.
    rename(
        doc,
        r.firewall_actions.take(),
        "cloudflare.firewall.actions",
        "rename_json_FirewallMatchesActions_to_cloudflare_firewall_actions_bd334964",
        "json.FirewallMatchesActions",
    )?;
    rename(
        doc,
        r.firewall_sources.take(),
        "cloudflare.firewall.sources",
        "rename_json_FirewallMatchesSources_to_cloudflare_firewall_sources_59d48d1a",
        "json.FirewallMatchesSources",
    )?;
    rename(
        doc,
        r.firewall_rule_ids.take(),
        "cloudflare.firewall.rule_ids",
        "rename_json_FirewallMatchesRuleIDs_to_cloudflare_firewall_rule_ids_5266115b",
        "json.FirewallMatchesRuleIDs",
    )?;

    // WAF fields.
    rename(
        doc,
        r.waf_action.take(),
        "cloudflare.waf.action",
        "rename_json_WAFAction_to_cloudflare_waf_action_8b5389c3",
        "json.WAFAction",
    )?;
    rename(
        doc,
        r.waf_flags.take(),
        "cloudflare.waf.flags",
        "rename_json_WAFFlags_to_cloudflare_waf_flags_f5617a6f",
        "json.WAFFlags",
    )?;
    rename(
        doc,
        r.waf_matched_var.take(),
        "cloudflare.waf.matched_var",
        "rename_json_WAFMatchedVar_to_cloudflare_waf_matched_var_3f4014e4",
        "json.WAFMatchedVar",
    )?;
    rename(
        doc,
        r.waf_profile.take(),
        "cloudflare.waf.profile",
        "rename_json_WAFProfile_to_cloudflare_waf_profile_96035587",
        "json.WAFProfile",
    )?;
    rename(
        doc,
        r.waf_rule_id.take(),
        "cloudflare.waf.rule.id",
        "rename_json_WAFRuleID_to_cloudflare_waf_rule_id_f3158d13",
        "json.WAFRuleID",
    )?;
    rename(
        doc,
        r.waf_rule_message.take(),
        "cloudflare.waf.rule.message",
        "rename_json_WAFRuleMessage_to_cloudflare_waf_rule_message_f82e4979",
        "json.WAFRuleMessage",
    )?;

    // Worker fields.
    convert_long(
        doc,
        r.worker_cpu_time.take(),
        "cloudflare.worker.cpu_time",
        "convert_json_WorkerCPUTime_to_cloudflare_worker_cpu_time_be19d99d",
    )?;
    rename(
        doc,
        r.worker_status.take(),
        "cloudflare.worker.status",
        "rename_json_WorkerStatus_to_cloudflare_worker_status_75eb28d3",
        "json.WorkerStatus",
    )?;
    rename(
        doc,
        r.worker_subrequest.take(),
        "cloudflare.worker.subrequest",
        "rename_json_WorkerSubrequest_to_cloudflare_worker_subrequest_c7c4ece7",
        "json.WorkerSubrequest",
    )?;
    convert_long(
        doc,
        r.worker_subrequest_count.take(),
        "cloudflare.worker.subrequest_count",
        "convert_json_WorkerSubrequestCount_to_cloudflare_worker_subrequest_count_a03babcd",
    )?;

    // Origin fields.
    rename(
        doc,
        r.origin_response_bytes.take(),
        "cloudflare.origin.response.bytes",
        "rename_json_OriginResponseBytes_to_cloudflare_origin_response_bytes_3e67b9c9",
        "json.OriginResponseBytes",
    )?;
    for (v, target) in [
        (
            r.origin_expires.take(),
            "cloudflare.origin.response.expires",
        ),
        (
            r.origin_last_modified.take(),
            "cloudflare.origin.response.last_modified",
        ),
    ] {
        // date with ignore_failure: unparsable values ("" included) are silently skipped.
        if let Some(Val::Str(s)) = v {
            if let Some(i) = parse_http_date(&s) {
                doc.set(target, Val::Str(Cow::Owned(i.format())))
                    .map_err(|e| Fail::path("date_origin_response_http_expires", "date", e))?;
            }
        }
    }
    rename(
        doc,
        r.origin_response_status.take(),
        "cloudflare.origin.response.status_code",
        "rename_json_OriginResponseStatus_to_cloudflare_origin_response_status_code_f288b87d",
        "json.OriginResponseStatus",
    )?;
    convert_long(
        doc,
        r.origin_response_time.take(),
        "cloudflare.origin.response.time",
        "convert_origin_response_time",
    )?;
    rename(
        doc,
        r.origin_ssl_protocol.take(),
        "cloudflare.origin.ssl.protocol",
        "rename_json_OriginSSLProtocol_to_cloudflare_origin_ssl_protocol_d9551907",
        "json.OriginSSLProtocol",
    )?;

    // Ray IDs and other Cloudflare fields.
    rename(
        doc,
        r.parent_ray_id.take(),
        "cloudflare.parent.ray_id",
        "rename_json_ParentRayID_to_cloudflare_parent_ray_id_19fb630e",
        "json.ParentRayID",
    )?;
    rename(
        doc,
        r.ray_id.take(),
        "cloudflare.ray_id",
        "rename_json_RayID_to_cloudflare_ray_id_c7a94234",
        "json.RayID",
    )?;
    rename(
        doc,
        r.zone_id.take(),
        "cloudflare.zone.id",
        "rename_json_ZoneID_to_cloudflare_zone_id_748f8bc7",
        "json.ZoneID",
    )?;
    rename(
        doc,
        r.zone_name.take(),
        "cloudflare.zone.name",
        "rename_json_ZoneName_to_cloudflare_zone_name_e57ff5c3",
        "json.ZoneName",
    )?;
    rename(
        doc,
        r.security_level.take(),
        "cloudflare.security_level",
        "rename_json_SecurityLevel_to_cloudflare_security_level_69b1e7e0",
        "json.SecurityLevel",
    )?;
    rename(
        doc,
        r.client_device_type.take(),
        "cloudflare.device_type",
        "rename_json_ClientDeviceType_to_cloudflare_device_type_b6cd22fb",
        "json.ClientDeviceType",
    )?;

    // HTTP fields: dissect "%{network.protocol}/%{http.version}" (ignore_failure).
    if let Some(Val::Str(p)) = r.client_request_protocol.take() {
        if let Some((proto, version)) = p.split_once('/') {
            doc.set("network.protocol", Val::Str(Cow::Owned(proto.to_string())))
                .map_err(|e| Fail::path("dissect_http_protocol", "dissect", e))?;
            doc.set("http.version", Val::Str(Cow::Owned(version.to_string())))
                .map_err(|e| Fail::path("dissect_http_protocol", "dissect", e))?;
        }
    }
    copy_if_not_empty(
        doc,
        "cloudflare.edge.response.bytes",
        "http.response.bytes",
        "set_http_response_bytes_464b605f",
    )?;
    copy_if_not_empty(
        doc,
        "cloudflare.edge.response.body.bytes",
        "http.response.body.bytes",
        "set_http_response_body_bytes_bbf2877f",
    )?;
    convert_long(
        doc,
        r.client_request_bytes.take(),
        "http.request.bytes",
        "convert_http_request_bytes",
    )?;
    rename(
        doc,
        r.client_request_method.take(),
        "http.request.method",
        "rename_json_ClientRequestMethod_to_http_request_method_1dfebe37",
        "json.ClientRequestMethod",
    )?;
    rename(
        doc,
        r.client_request_referer.take(),
        "http.request.referrer",
        "rename_json_ClientRequestReferer_to_http_request_referrer_41b9047f",
        "json.ClientRequestReferer",
    )?;
    copy_if_not_empty(
        doc,
        "cloudflare.edge.response.status_code",
        "http.response.status_code",
        "set_http_response_status_code_ab63691b",
    )?;
    if !doc.has("http.response.status_code")
        && painless_ne_zero(doc.get_path("cloudflare.origin.response.status_code"))
    {
        cond(copy_if_not_empty(
            doc,
            "cloudflare.origin.response.status_code",
            "http.response.status_code",
            "set_http_response_status_code_85051536",
        ))?;
    }

    // Source fields.
    source_fields(t, doc, &mut r)?;

    // Client = copy of source (fails when there is no source at all, as upstream).
    let source = doc.get_path("source").cloned();
    match source {
        Some(s) => doc
            .set("client", s)
            .map_err(|e| Fail::path("set_client_10dffeb7", "set", e))?,
        // A custom list that requests none of the fields `source` is built from.
        None if SOURCE_FIELDS.iter().all(|f| t.unrequested(f)) => {}
        None => {
            return Err(Fail::new(
                "set",
                "set_client_10dffeb7",
                "field [source] not present as part of path [source]",
            ))
        }
    }
    rename(
        doc,
        r.client_ip_class.take(),
        "cloudflare.client.ip_class",
        "rename_json_ClientIPClass_to_cloudflare_client_ip_class_21c08086",
        "json.ClientIPClass",
    )?;

    // Destination and server.
    rename(
        doc,
        r.origin_ip.take(),
        "destination.address",
        "rename_json_OriginIP_to_destination_address_e8cf1063",
        "json.OriginIP",
    )?;
    convert_ip_ignore_failure(doc, "destination.address", "destination.ip");
    copy_if_not_empty(
        doc,
        "cloudflare.edge.response.bytes",
        "destination.bytes",
        "set_destination_bytes_5749e9d0",
    )?;
    let destination = doc.get_path("destination").cloned();
    match destination {
        Some(d) => doc
            .set("server", d)
            .map_err(|e| Fail::path("set_server_c902af60", "set", e))?,
        None if DESTINATION_FIELDS.iter().all(|f| t.unrequested(f)) => {}
        None => {
            return Err(Fail::new(
                "set",
                "set_server_c902af60",
                "field [destination] not present as part of path [destination]",
            ))
        }
    }

    // Categorisation. Upstream also maps the firewall action "allow" to event.type "denied"
    // (spec §8.1); `fix_upstream_bugs` maps only "block".
    doc.append("event.category", Val::str("network"), true)
        .map_err(|e| Fail::path("append_event_category_7afdca3c", "append", e))?;
    doc.set("event.kind", Val::str("event"))
        .map_err(|e| Fail::path("set_event_kind_de80643c", "set", e))?;
    let (block, allow) = match doc.get_path("cloudflare.firewall.actions") {
        Some(v) => (painless_contains(v, "block"), painless_contains(v, "allow")),
        None => (false, false),
    };
    if block || (allow && !fix) {
        doc.append("event.type", Val::str("denied"), false)
            .map_err(|e| Fail::path("append_event_type_f492a3bf", "append", e).conditional())?;
    }
    if let Some(actions) = doc.get_path("cloudflare.firewall.actions").cloned() {
        if !matches!(actions, Val::Null) {
            doc.set("event.action", actions)
                .map_err(|e| Fail::path("set_event_action_648682c8", "set", e).conditional())?;
        }
    }

    // Network fields.
    let lowered = match doc.get_path("network.protocol") {
        Some(Val::Str(p)) => Some(p.to_lowercase()),
        _ => None,
    };
    if let Some(p) = lowered {
        let is_http = p == "http";
        doc.set("network.protocol", Val::Str(Cow::Owned(p)))
            .map_err(|e| Fail::path("lowercase_network_protocol_49872259", "lowercase", e))?;
        if is_http {
            doc.set("network.transport", Val::str("tcp")).map_err(|e| {
                Fail::path("set_network_transport_be847bd4", "set", e).conditional()
            })?;
        }
    }
    // `ctx.network.bytes = …` (ignore_failure): without a `network` object (no protocol was
    // dissected) Painless fails on the null `ctx.network` and the field is not set.
    if let (Some(Val::Obj(_)), Some(Val::I64(s)), Some(Val::I64(d))) = (
        doc.get_path("network"),
        doc.get_path("source.bytes"),
        doc.get_path("destination.bytes"),
    ) {
        let sum = s.wrapping_add(*d);
        doc.set("network.bytes", Val::I64(sum))
            .map_err(|e| Fail::path("painless_network_bytes", "script", e))?;
    }
    Ok(())
}

/// `ctx.json?.X.toLowerCase() != 'none'` as a rename condition. Returns the value to rename.
fn painless_not_none<'a>(
    v: Option<Val<'a>>,
    fix: bool,
    absent_ok: bool,
    processor: &'static str,
    tag: &'static str,
) -> Result<Option<Val<'a>>, Fail> {
    match v {
        Some(Val::Str(s)) => Ok((!s.eq_ignore_ascii_case("none")).then_some(Val::Str(s))),
        None if absent_ok => Ok(None),
        None => Err(Fail::new(
            processor,
            tag,
            "cannot access method/field [toLowerCase] from a null def reference",
        )),
        Some(other) if fix => Ok(Some(other)),
        Some(other) => Err(Fail::new(
            processor,
            tag,
            format!(
                "dynamic method [{}, toLowerCase/0] not found",
                java_type(&other)
            ),
        )),
    }
}

/// Painless `x.contains('v')` on a list (element equality) or a string (substring).
fn painless_contains(v: &Val<'_>, needle: &str) -> bool {
    match v {
        Val::Arr(a) => a.iter().any(|x| x.as_str() == Some(needle)),
        Val::Str(s) => s.contains(needle),
        _ => false,
    }
}

/// `date` on a raw timestamp after the Painless epoch normalisation script.
fn date_field(
    v: Option<Val<'_>>,
    name: &str,
    formats: Formats,
    tag: &'static str,
) -> Result<crate::time::Instant, Fail> {
    let v = v.ok_or_else(|| {
        Fail::new(
            "date",
            tag,
            format!("field [{name}] not present as part of path [json.{name}]"),
        )
    })?;
    if matches!(v, Val::Null) {
        // `obj == null` → the parsers get null: Elasticsearch's DateFormatter refuses it first.
        return Err(Fail::new("date", tag, "cannot parse empty datetime"));
    }
    if let Some(t) = painless_long(&v) {
        let ms = normalise_epoch(t);
        // The date processor sees the long's decimal text: UNIX_MS (ISO8601 cannot read it).
        return Ok(crate::time::Instant::utc(ms));
    }
    // The processor's message is the root cause of its exception: the first format's failure.
    match &v {
        Val::Str(s) => parse_date(s, formats),
        other => parse_date(&other.to_display_string(), formats),
    }
    .map_err(|m| Fail::new("date", tag, m))
}

fn url_fields<'a>(doc: &mut Obj<'a>, r: &mut Raw<'a>) -> Result<(), Fail> {
    // uri_parts (ignore_failure): replaces `url` with the parsed parts plus `original`.
    if let Some(Val::Str(uri)) = r.client_request_uri.take() {
        if let Ok(p) = crate::uri::uri_parts(&uri) {
            let url = crate::uri::url_object(p, Some(Val::Str(uri.clone())));
            doc.insert("url", Val::Obj(url));
        }
    }
    let set_if_absent = |doc: &mut Obj<'a>,
                         path: &'static str,
                         v: Option<Val<'a>>,
                         tag: &'static str|
     -> Result<(), Fail> {
        if doc.has(path) {
            return Ok(());
        }
        match v {
            None | Some(Val::Null) => Ok(()),
            Some(Val::Str(s)) if s.is_empty() => Ok(()),
            // Each of these `set`s has an `if: ctx?.url?.X == null`.
            Some(v) => doc
                .set(path, v)
                .map_err(|e| Fail::path(tag, "set", e).conditional()),
        }
    };
    set_if_absent(
        doc,
        "url.domain",
        r.client_request_host.take(),
        "set_url_domain_85b2a6d2",
    )?;
    set_if_absent(
        doc,
        "url.path",
        r.client_request_path.take(),
        "set_url_path_74e95aa7",
    )?;
    set_if_absent(
        doc,
        "url.scheme",
        r.client_request_scheme.take(),
        "set_url_scheme_15a3d42b",
    )?;
    if !doc.has("url.scheme") {
        let (scheme, tag) = if doc.has("cloudflare.client.ssl.protocol") {
            ("https", "set_url_scheme_0366be50")
        } else {
            ("http", "set_url_scheme_a533bf85")
        };
        doc.set("url.scheme", Val::str(scheme))
            .map_err(|e| Fail::path(tag, "set", e).conditional())?;
    }
    // painless_build_url: scheme://domain path ?query (each only when non-empty).
    let mut full = String::new();
    let part = |doc: &Obj<'_>, p: &str| -> Option<String> {
        match doc.get_path(p) {
            None | Some(Val::Null) => None,
            Some(Val::Str(s)) if s.is_empty() => None,
            Some(v) => Some(v.to_display_string()),
        }
    };
    if let Some(s) = part(doc, "url.scheme") {
        full.push_str(&s);
        full.push_str("://");
    }
    if let Some(d) = part(doc, "url.domain") {
        full.push_str(&d);
    }
    if let Some(p) = part(doc, "url.path") {
        full.push_str(&p);
    }
    if let Some(q) = part(doc, "url.query") {
        full.push('?');
        full.push_str(&q);
    }
    if !full.is_empty() {
        doc.set("url.full", Val::Str(Cow::Owned(full)))
            .map_err(|e| Fail::path("painless_build_url", "script", e))?;
    }
    Ok(())
}

/// `convert { type: ip, ignore_missing, ignore_failure }`.
fn convert_ip_ignore_failure(doc: &mut Obj<'_>, from: &str, to: &'static str) {
    let ip = match doc.get_path(from) {
        Some(Val::Str(s)) if is_ip(s) => Some(s.clone()),
        _ => None,
    };
    if let Some(ip) = ip {
        let _ = doc.set(to, Val::Str(ip));
    }
}

fn source_fields<'a>(t: &Transformer, doc: &mut Obj<'a>, r: &mut Raw<'a>) -> Result<(), Fail> {
    rename(
        doc,
        r.client_ip.take(),
        "source.address",
        "rename_json_ClientIP_to_source_address_72bf611d",
        "json.ClientIP",
    )?;
    convert_ip_ignore_failure(doc, "source.address", "source.ip");
    let ip: Option<std::net::IpAddr> = doc
        .get_path("source.ip")
        .and_then(Val::as_str)
        .and_then(|s| s.parse().ok());
    if let Some(ip) = ip {
        if let Some(geo) = t.geo_city(ip) {
            doc.set("source.geo", Val::Obj(geo.to_obj()))
                .map_err(|e| Fail::path("geoip_source_ip", "geoip", e))?;
        }
    }
    if !doc.has("source.geo.country_iso_code") {
        cond(rename(
            doc,
            r.client_country.take(),
            "source.geo.country_iso_code",
            "rename_json_ClientCountry_to_source_geo_country_iso_code_05cf24cb",
            "json.ClientCountry",
        ))?;
    }
    crate::processors::source_asn(doc, ip.and_then(|ip| t.geo_asn(ip)).as_deref())?;
    if !doc.has("source.as.number") {
        cond(rename(
            doc,
            r.client_asn.take(),
            "source.as.number",
            "rename_json_ClientASN_to_source_as_number_ca8c111f",
            "json.ClientASN",
        ))?;
    }
    copy_if_not_empty(
        doc,
        "http.request.bytes",
        "source.bytes",
        "set_source_bytes_4be3df05",
    )?;
    convert_long(
        doc,
        r.client_src_port.take(),
        "source.port",
        "convert_source_port",
    )?;
    Ok(())
}
