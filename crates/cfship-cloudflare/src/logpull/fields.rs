//! The Logpull field lists: Elastic's, the modern one, the Bot Management additions, and which
//! fields Cloudflare refused.

use super::*;

/// Elastic's default Logpull `fields` list (Elastic's Cloudflare integration 2.22.0,
/// `data_stream/logpull/manifest.yml`; see docs/cloudflare-api.md), in its order. The client sends
/// it when the configuration names no `fields`. Not Cloudflare's own default set.
pub const ELASTIC_DEFAULT_FIELDS: &[&str] = &[
    "CacheCacheStatus",
    "CacheResponseBytes",
    "CacheResponseStatus",
    "CacheTieredFill",
    "ClientASN",
    "ClientCountry",
    "ClientDeviceType",
    "ClientIP",
    "ClientIPClass",
    "ClientRequestBytes",
    "ClientRequestHost",
    "ClientRequestMethod",
    "ClientRequestPath",
    "ClientRequestProtocol",
    "ClientRequestReferer",
    "ClientRequestURI",
    "ClientRequestUserAgent",
    "ClientSSLCipher",
    "ClientSSLProtocol",
    "ClientSrcPort",
    "ClientXRequestedWith",
    "EdgeColoCode",
    "EdgeColoID",
    "EdgeEndTimestamp",
    "EdgePathingOp",
    "EdgePathingSrc",
    "EdgePathingStatus",
    "EdgeRateLimitAction",
    "EdgeRateLimitID",
    "EdgeRequestHost",
    "EdgeResponseBytes",
    "EdgeResponseCompressionRatio",
    "EdgeResponseContentType",
    "EdgeResponseStatus",
    "EdgeServerIP",
    "EdgeStartTimestamp",
    "FirewallMatchesActions",
    "FirewallMatchesRuleIDs",
    "FirewallMatchesSources",
    "OriginIP",
    "OriginResponseBytes",
    "OriginResponseHTTPExpires",
    "OriginResponseHTTPLastModified",
    "OriginResponseStatus",
    "OriginResponseTime",
    "OriginSSLProtocol",
    "ParentRayID",
    "RayID",
    "SecurityLevel",
    "WAFAction",
    "WAFFlags",
    "WAFMatchedVar",
    "WAFProfile",
    "WAFRuleID",
    "WAFRuleMessage",
    "WorkerCPUTime",
    "WorkerStatus",
    "WorkerSubrequest",
    "WorkerSubrequestCount",
    "ZoneID",
    "Action",
];

/// Added in front of the list by `bot_fields: true` (as Elastic's `enable_bot_fields`).
pub const ELASTIC_BOT_FIELDS: &[&str] = &["BotScore", "BotScoreSrc"];

/// `logpull.fields: modern`: the current Logpull fields (not removed, not deprecated with a
/// replacement, not Logpush-only custom fields) that Elastic's `cloudflare_logpush` `http_request`
/// pipeline (2.0.0) maps to ECS — the `Security*` family that replaced the removed
/// `WAF*`/`FirewallMatches*`/`EdgeRateLimit*` fields, `ClientRequestScheme`, `ZoneName`,
/// `EdgeResponseBodyBytes`, `OriginResponseDurationMs` and the origin timings, fraud and leaked
/// credential fields, Worker script names. Records of such a zone become
/// `cloudflare_logpush.http_request` documents (docs/fidelity.md, "The modern field list"). The
/// client first asks the zone which fields it offers (`/logs/received/fields`) and requests those.
pub const MODERN_FIELDS: &[&str] = &[
    "CacheCacheStatus",
    "CacheReserveUsed",
    "CacheResponseBytes",
    "CacheTieredFill",
    "ClientASN",
    "ClientCity",
    "ClientCountry",
    "ClientDeviceType",
    "ClientIP",
    "ClientIPClass",
    "ClientLatitude",
    "ClientLongitude",
    "ClientMTLSAuthCertFingerprint",
    "ClientMTLSAuthStatus",
    "ClientRegionCode",
    "ClientRequestBytes",
    "ClientRequestHost",
    "ClientRequestMethod",
    "ClientRequestPath",
    "ClientRequestProtocol",
    "ClientRequestReferer",
    "ClientRequestScheme",
    "ClientRequestSource",
    "ClientRequestURI",
    "ClientRequestUserAgent",
    "ClientSSLCipher",
    "ClientSSLProtocol",
    "ClientSrcPort",
    "ClientTCPRTTMs",
    "ClientXRequestedWith",
    "ContentScanObjResults",
    "ContentScanObjSizes",
    "ContentScanObjTypes",
    "EdgeCFConnectingO2O",
    "EdgeColoCode",
    "EdgeColoID",
    "EdgeEndTimestamp",
    "EdgePathingOp",
    "EdgePathingSrc",
    "EdgePathingStatus",
    "EdgeRequestHost",
    "EdgeResponseBodyBytes",
    "EdgeResponseBytes",
    "EdgeResponseCompressionRatio",
    "EdgeResponseContentType",
    "EdgeResponseStatus",
    "EdgeServerIP",
    "EdgeStartTimestamp",
    "EdgeTimeToFirstByteMs",
    "FraudAttack",
    "FraudDetectionIDs",
    "FraudDetectionTags",
    "FraudEmailRisk",
    "FraudUserID",
    "JSDetectionPassed",
    "LeakedCredentialCheckResult",
    "OriginDNSResponseTimeMs",
    "OriginIP",
    "OriginRequestHeaderSendDurationMs",
    "OriginResponseDurationMs",
    "OriginResponseHTTPExpires",
    "OriginResponseHTTPLastModified",
    "OriginResponseHeaderReceiveDurationMs",
    "OriginResponseStatus",
    "OriginSSLProtocol",
    "OriginTCPHandshakeDurationMs",
    "OriginTLSHandshakeDurationMs",
    "ParentRayID",
    "PayPerCrawlStatus",
    "RayID",
    "SecurityAction",
    "SecurityActions",
    "SecurityRuleDescription",
    "SecurityRuleID",
    "SecurityRuleIDs",
    "SecuritySources",
    "SmartRouteColoID",
    "UpperTierColoID",
    "WAFAttackScore",
    "WAFRCEAttackScore",
    "WAFSQLiAttackScore",
    "WAFXSSAttackScore",
    "WebAssetsLabelsManaged",
    "WebAssetsOperationID",
    "WorkerCPUTime",
    "WorkerScriptName",
    "WorkerStatus",
    "WorkerSubrequest",
    "WorkerSubrequestCount",
    "WorkerWallTimeUs",
    "ZoneName",
];

/// Added to [`MODERN_FIELDS`] by `bot_fields: true`: the Bot Management fields the
/// `http_request` pipeline maps (a zone without Bot Management refuses them).
pub const MODERN_BOT_FIELDS: &[&str] = &[
    "BotDetectionTags",
    "BotScore",
    "BotScoreSrc",
    "BotTags",
    "JA3Hash",
    "JA4",
    "JA4Signals",
    "VerifiedBotCategory",
];

/// The names a user's own `fields` list requests (with the bot fields when enabled); `None` when
/// there is no list or it is Elastic's list: the transform then reproduces Elastic exactly.
pub fn custom_field_set(
    fields: Option<&[String]>,
    bot_fields: bool,
) -> Option<std::collections::BTreeSet<String>> {
    let fields = fields?;
    let mut set: std::collections::BTreeSet<String> = fields
        .iter()
        .map(|f| f.trim().to_string())
        .filter(|f| !f.is_empty())
        .collect();
    if bot_fields {
        set.extend(ELASTIC_BOT_FIELDS.iter().map(|s| s.to_string()));
    }
    let elastic: std::collections::BTreeSet<String> = ELASTIC_DEFAULT_FIELDS
        .iter()
        .chain(if bot_fields { ELASTIC_BOT_FIELDS } else { &[] })
        .map(|s| s.to_string())
        .collect();
    (set != elastic).then_some(set)
}

/// The requested fields a 400/403 answer names as unknown or not allowed (e.g. `unknown fields:
/// A,B`, `fields not allowed for this zone (requires Bot Management): BotScore`), in `requested`.
pub fn refused_fields(e: &CfError, requested: &str) -> Vec<String> {
    let CfError::Api { status, errors, .. } = e else {
        return Vec::new();
    };
    if !matches!(status, 400 | 403) {
        return Vec::new();
    }
    let requested: Vec<&str> = requested.split(',').collect();
    let mut out = Vec::new();
    for m in errors {
        let text = m.message.to_ascii_lowercase();
        if !text.contains("field") {
            continue;
        }
        let Some((_, list)) = m.message.rsplit_once(':') else {
            continue;
        };
        for name in list
            .split([',', ' '])
            .map(str::trim)
            .filter(|x| !x.is_empty())
        {
            if requested.contains(&name) && !out.iter().any(|x: &String| x == name) {
                out.push(name.to_string());
            }
        }
    }
    out
}
