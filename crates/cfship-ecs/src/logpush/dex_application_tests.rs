//! `dex_application_tests` (Cloudflare `dex_application_tests`): package 2.1.0 (ECS 9.3.0). The
//! table is the pipeline
//! `packages/cloudflare_logpush/data_stream/dex_application_tests/elasticsearch/ingest_pipeline/default.yml`
//! at `da80f54ad9862bea0b8b0f44185c0ec6408dd12b` (elastic/integrations, PR #21862; the only stored
//! version, 33,159 characters), processor by processor with every processor's tag; the 2.1.0 test
//! documents (at `0ceb9e8b`) are reproduced identically.
//!
//! 2.1.0 conventions ([`Era::V2_1`]): every processor tagged, processors append the tagged
//! message and go on, `event.kind: pipeline_error` + tag `preserve_original_event` whenever
//! `error.message` exists, `"N/A"` dropped from maps, no `preserve_duplicate_custom_fields`
//! removal (the pipeline copies nothing it would remove).
//!
//! Upstream behaviour kept: the HTTP and traceroute halves of a record both write
//! `source.*`/`destination.*` — the IP converts overwrite, but the renames into
//! `source.as.organization.name` / `source.geo.*` (and `destination.*`) of a record carrying both
//! halves fail ("already exists") and the document is a `pipeline_error`; `host.os.type` is the
//! first of `linux, macos, unix, windows, ios, android` that contains the lower-cased platform or is
//! contained in it (so an empty platform gives `linux`); `uri_parts` replaces the whole `url`, so
//! `url.full` disappears. The `date` failure handlers also remove `json.Timestamp`, which the
//! output cannot show (`json` is removed at the end).

use super::engine::{Const, CopyMode::IgnoreEmpty, Ctx, OnFail, Step::*, Ty};
use super::{Era, Spec};
use crate::convert::{normalise_epoch, painless_long};
use crate::doc::Val;

const A: OnFail = OnFail::Append;
const X: OnFail = OnFail::Abort;

/// `script_timestamp_to_milli`: `Timestamp` and `TracerouteTimeEnd`, when a JSON number (after
/// the `convert … long` of `Timestamp`), become `convertToMillis(((Number) v).longValue())`:
/// `> 1e18` ÷ 1e6, `< 1e10` × 1e3. `longValue()` truncates a double and wraps a big integer, so
/// the script cannot fail.
fn to_milli(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    for f in ["json.Timestamp", "json.TracerouteTimeEnd"] {
        let t = match ctx.get(f) {
            Some(v @ (Val::I64(_) | Val::U64(_) | Val::F64(_))) => painless_long(v),
            _ => None,
        };
        if let Some(t) = t {
            ctx.set(f, Val::I64(normalise_epoch(t)))?;
        }
    }
    Ok(())
}

/// The `host.os.type` script shared by the 2.1.0 DEX pipelines (`if: ctx.host?.os?.name !=
/// null`): `String os_name = ctx.host.os.name.toLowerCase()`, then the first of the ECS OS types
/// with `os_name.contains(os) || os.contains(os_name)`. A non-string name has no `toLowerCase`.
pub(super) fn host_os_type(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    const OS_TYPES: [&str; 6] = ["linux", "macos", "unix", "windows", "ios", "android"];
    let name = match ctx.get("host.os.name") {
        None | Some(Val::Null) => return Ok(()),
        Some(Val::Str(s)) => s.to_lowercase(),
        Some(other) => {
            return Err(format!(
                "dynamic method [{}, toLowerCase/0] not found",
                crate::convert::java_type(other)
            ))
        }
    };
    if let Some(os) = OS_TYPES
        .iter()
        .find(|os| name.contains(**os) || os.contains(name.as_str()))
    {
        ctx.set("host.os.type", Val::str(*os))?;
    }
    Ok(())
}

pub static SPEC: Spec = Spec {
    name: "dex_application_tests",
    dataset: "cloudflare_logpush.dex_application_tests",
    cloudflare: "dex_application_tests",
    version: "2.1.0",
    ecs: "9.3.0",
    era: Era::V2_1,
    json_ignore_failure: false,
    steps: &[
        Tagged("append_network_into_event_category", &Set("event.category", Const::List(&["network"]))),
        Tagged("append_info_into_event_type", &Set("event.type", Const::List(&["info"]))),
        Tagged("set_event_kind", &Set("event.kind", Const::Str("event"))),
        Tagged("convert_json_Timestamp_to_long", &Convert("json.Timestamp", "json.Timestamp", Ty::Long, OnFail::Ignore)),
        Script("script_timestamp_to_milli", to_milli, A),
        Tagged("date_json_Timestamp", &Date("json.Timestamp", "@timestamp", A)),
        Tagged("convert_json_AccountID_to_account_id", &ConvertAll("json.AccountID", "cloudflare_logpush.dex_application_tests.account_id", Ty::Str, X)),
        Tagged("rename_json_ClientPlatform_to_host_os_name", &Rename("json.ClientPlatform", "host.os.name")),
        Script("script_map_host_os_type", host_os_type, A),
        Tagged("convert_json_ClientVersion_to_version", &ConvertAll("json.ClientVersion", "cloudflare_logpush.dex_application_tests.version", Ty::Str, X)),
        Tagged("set_user_agent_version_from_client_version", &Copy("cloudflare_logpush.dex_application_tests.version", "user_agent.version", IgnoreEmpty)),
        Tagged("rename_json_ColoCode_to_colo_code", &Rename("json.ColoCode", "cloudflare_logpush.dex_application_tests.colo.code")),
        Tagged("convert_json_DeviceID_to_device_id", &ConvertAll("json.DeviceID", "device.id", Ty::Str, X)),
        Tagged("set_host_id_from_device_id", &Copy("device.id", "host.id", IgnoreEmpty)),
        Tagged("convert_json_DeviceRegistrationID_to_device_registration_id", &ConvertAll("json.DeviceRegistrationID", "cloudflare_logpush.dex_application_tests.device.registration_id", Ty::Str, X)),
        Tagged("rename_json_ExecutionContext_to_execution_context", &Rename("json.ExecutionContext", "cloudflare_logpush.dex_application_tests.execution_context")),
        Tagged("convert_json_TestID_to_test_id", &ConvertAll("json.TestID", "cloudflare_logpush.dex_application_tests.test.id", Ty::Str, X)),
        Tagged("rename_json_TestType_to_test_type", &Rename("json.TestType", "cloudflare_logpush.dex_application_tests.test.type")),
        Tagged("rename_json_TunnelType_to_tunnel_type", &Rename("json.TunnelType", "cloudflare_logpush.dex_application_tests.tunnel_type")),
        Tagged("rename_json_UserEmail_to_user_email", &Rename("json.UserEmail", "user.email")),
        Tagged("convert_json_UserID_to_user_id", &ConvertAll("json.UserID", "user.id", Ty::Str, X)),
        // HTTP test: client IP → source.*
        Tagged("convert_json_HTTPClientIPAddress_to_source_ip", &Convert("json.HTTPClientIPAddress", "source.ip", Ty::Ip, A)),
        Tagged("convert_json_HTTPClientIPASN_to_source_as_number", &ConvertAll("json.HTTPClientIPASN", "source.as.number", Ty::Long, A)),
        Tagged("rename_json_HTTPClientIPASO_to_source_as_organization_name", &Rename("json.HTTPClientIPASO", "source.as.organization.name")),
        Tagged("rename_json_HTTPClientIPCity_to_source_geo_city_name", &Rename("json.HTTPClientIPCity", "source.geo.city_name")),
        Tagged("rename_json_HTTPClientIPCountryISO_to_source_geo_country_iso_code", &Rename("json.HTTPClientIPCountryISO", "source.geo.country_iso_code")),
        Tagged("rename_json_HTTPClientIPStateISO_to_source_geo_region_iso_code", &Rename("json.HTTPClientIPStateISO", "source.geo.region_iso_code")),
        Tagged("rename_json_HTTPClientIPZip_to_source_geo_postal_code", &Rename("json.HTTPClientIPZip", "source.geo.postal_code")),
        Tagged("convert_json_HTTPClientIPNetmask_to_client_ip_netmask", &ConvertAll("json.HTTPClientIPNetmask", "cloudflare_logpush.dex_application_tests.http.client_ip.netmask", Ty::Str, X)),
        Tagged("convert_json_HTTPClientIPVersion_to_client_ip_version", &ConvertAll("json.HTTPClientIPVersion", "cloudflare_logpush.dex_application_tests.http.client_ip.version", Ty::Str, X)),
        // HTTP test: server IP → destination.*
        Tagged("convert_json_HTTPServerIPAddress_to_destination_ip", &Convert("json.HTTPServerIPAddress", "destination.ip", Ty::Ip, A)),
        Tagged("convert_json_HTTPServerIPASN_to_destination_as_number", &ConvertAll("json.HTTPServerIPASN", "destination.as.number", Ty::Long, A)),
        Tagged("rename_json_HTTPServerIPASO_to_destination_as_organization_name", &Rename("json.HTTPServerIPASO", "destination.as.organization.name")),
        Tagged("rename_json_HTTPServerIPCity_to_destination_geo_city_name", &Rename("json.HTTPServerIPCity", "destination.geo.city_name")),
        Tagged("rename_json_HTTPServerIPCountryISO_to_destination_geo_country_iso_code", &Rename("json.HTTPServerIPCountryISO", "destination.geo.country_iso_code")),
        Tagged("rename_json_HTTPServerIPStateISO_to_destination_geo_region_iso_code", &Rename("json.HTTPServerIPStateISO", "destination.geo.region_iso_code")),
        Tagged("rename_json_HTTPServerIPZip_to_destination_geo_postal_code", &Rename("json.HTTPServerIPZip", "destination.geo.postal_code")),
        Tagged("convert_json_HTTPServerIPNetmask_to_server_ip_netmask", &ConvertAll("json.HTTPServerIPNetmask", "cloudflare_logpush.dex_application_tests.http.server_ip.netmask", Ty::Str, X)),
        Tagged("convert_json_HTTPServerIPVersion_to_server_ip_version", &ConvertAll("json.HTTPServerIPVersion", "cloudflare_logpush.dex_application_tests.http.server_ip.version", Ty::Str, X)),
        // HTTP test: request / response
        Tagged("rename_json_HTTPMethod_to_http_request_method", &Rename("json.HTTPMethod", "http.request.method")),
        Tagged("convert_json_HTTPStatusCode_to_http_response_status_code", &ConvertAll("json.HTTPStatusCode", "http.response.status_code", Ty::Long, A)),
        Tagged("rename_json_HTTPURL_to_url_full", &Rename("json.HTTPURL", "url.full")),
        Tagged("uri_parts_url_full", &UriParts("url.full", true, A)),
        Tagged("rename_json_HTTPErrorMessage_to_http_error_message", &Rename("json.HTTPErrorMessage", "cloudflare_logpush.dex_application_tests.http.error_message")),
        Tagged("rename_json_HTTPResponseBody_to_http_response_body_content", &Rename("json.HTTPResponseBody", "http.response.body.content")),
        Tagged("convert_json_HTTPResponseBodyBytes_to_http_response_body_bytes", &ConvertAll("json.HTTPResponseBodyBytes", "http.response.body.bytes", Ty::Long, A)),
        Tagged("convert_json_HTTPResponseHeaderBytes_to_response_header_bytes", &ConvertAll("json.HTTPResponseHeaderBytes", "cloudflare_logpush.dex_application_tests.http.response.header_bytes", Ty::Long, A)),
        Tagged("rename_json_HTTPResponseHeaders_to_response_headers", &Rename("json.HTTPResponseHeaders", "cloudflare_logpush.dex_application_tests.http.response.headers")),
        // HTTP test: navigation timings (milliseconds)
        Tagged("convert_json_HTTPConnectStartMs", &ConvertAll("json.HTTPConnectStartMs", "cloudflare_logpush.dex_application_tests.http.timings.connect_start_ms", Ty::Long, A)),
        Tagged("convert_json_HTTPConnectEndMs", &ConvertAll("json.HTTPConnectEndMs", "cloudflare_logpush.dex_application_tests.http.timings.connect_end_ms", Ty::Long, A)),
        Tagged("convert_json_HTTPDomainLookupStartMs", &ConvertAll("json.HTTPDomainLookupStartMs", "cloudflare_logpush.dex_application_tests.http.timings.domain_lookup_start_ms", Ty::Long, A)),
        Tagged("convert_json_HTTPDomainLookupEndMs", &ConvertAll("json.HTTPDomainLookupEndMs", "cloudflare_logpush.dex_application_tests.http.timings.domain_lookup_end_ms", Ty::Long, A)),
        Tagged("convert_json_HTTPRedirectStartMs", &ConvertAll("json.HTTPRedirectStartMs", "cloudflare_logpush.dex_application_tests.http.timings.redirect_start_ms", Ty::Long, A)),
        Tagged("convert_json_HTTPRedirectEndMs", &ConvertAll("json.HTTPRedirectEndMs", "cloudflare_logpush.dex_application_tests.http.timings.redirect_end_ms", Ty::Long, A)),
        Tagged("convert_json_HTTPRequestStartMs", &ConvertAll("json.HTTPRequestStartMs", "cloudflare_logpush.dex_application_tests.http.timings.request_start_ms", Ty::Long, A)),
        Tagged("convert_json_HTTPResponseStartMs", &ConvertAll("json.HTTPResponseStartMs", "cloudflare_logpush.dex_application_tests.http.timings.response_start_ms", Ty::Long, A)),
        Tagged("convert_json_HTTPResponseEndMs", &ConvertAll("json.HTTPResponseEndMs", "cloudflare_logpush.dex_application_tests.http.timings.response_end_ms", Ty::Long, A)),
        Tagged("convert_json_HTTPSecureConnectionStartMs", &ConvertAll("json.HTTPSecureConnectionStartMs", "cloudflare_logpush.dex_application_tests.http.timings.secure_connection_start_ms", Ty::Long, A)),
        // Traceroute test: destination.*
        Tagged("rename_json_TracerouteDestinationHostname_to_destination_domain", &Rename("json.TracerouteDestinationHostname", "destination.domain")),
        Tagged("convert_json_TracerouteDestinationIPAddress_to_destination_ip", &Convert("json.TracerouteDestinationIPAddress", "destination.ip", Ty::Ip, A)),
        Tagged("convert_json_TracerouteDestinationIPASN_to_destination_as_number", &ConvertAll("json.TracerouteDestinationIPASN", "destination.as.number", Ty::Long, A)),
        Tagged("rename_json_TracerouteDestinationIPASO_to_destination_as_organization_name", &Rename("json.TracerouteDestinationIPASO", "destination.as.organization.name")),
        Tagged("rename_json_TracerouteDestinationIPCity_to_destination_geo_city_name", &Rename("json.TracerouteDestinationIPCity", "destination.geo.city_name")),
        Tagged("rename_json_TracerouteDestinationIPCountryISO_to_destination_geo_country_iso_code", &Rename("json.TracerouteDestinationIPCountryISO", "destination.geo.country_iso_code")),
        Tagged("rename_json_TracerouteDestinationIPStateISO_to_destination_geo_region_iso_code", &Rename("json.TracerouteDestinationIPStateISO", "destination.geo.region_iso_code")),
        Tagged("rename_json_TracerouteDestinationIPZip_to_destination_geo_postal_code", &Rename("json.TracerouteDestinationIPZip", "destination.geo.postal_code")),
        Tagged("convert_json_TracerouteDestinationIPNetmask", &ConvertAll("json.TracerouteDestinationIPNetmask", "cloudflare_logpush.dex_application_tests.traceroute.destination_ip.netmask", Ty::Str, X)),
        Tagged("convert_json_TracerouteDestinationIPVersion", &ConvertAll("json.TracerouteDestinationIPVersion", "cloudflare_logpush.dex_application_tests.traceroute.destination_ip.version", Ty::Str, X)),
        // Traceroute test: source.*
        Tagged("convert_json_TracerouteSourceIPAddress_to_source_ip", &Convert("json.TracerouteSourceIPAddress", "source.ip", Ty::Ip, A)),
        Tagged("convert_json_TracerouteSourceIPASN_to_source_as_number", &ConvertAll("json.TracerouteSourceIPASN", "source.as.number", Ty::Long, A)),
        Tagged("rename_json_TracerouteSourceIPASO_to_source_as_organization_name", &Rename("json.TracerouteSourceIPASO", "source.as.organization.name")),
        Tagged("rename_json_TracerouteSourceIPCity_to_source_geo_city_name", &Rename("json.TracerouteSourceIPCity", "source.geo.city_name")),
        Tagged("rename_json_TracerouteSourceIPCountryISO_to_source_geo_country_iso_code", &Rename("json.TracerouteSourceIPCountryISO", "source.geo.country_iso_code")),
        Tagged("rename_json_TracerouteSourceIPStateISO_to_source_geo_region_iso_code", &Rename("json.TracerouteSourceIPStateISO", "source.geo.region_iso_code")),
        Tagged("rename_json_TracerouteSourceIPZip_to_source_geo_postal_code", &Rename("json.TracerouteSourceIPZip", "source.geo.postal_code")),
        Tagged("convert_json_TracerouteSourceIPNetmask", &ConvertAll("json.TracerouteSourceIPNetmask", "cloudflare_logpush.dex_application_tests.traceroute.source_ip.netmask", Ty::Str, X)),
        Tagged("convert_json_TracerouteSourceIPVersion", &ConvertAll("json.TracerouteSourceIPVersion", "cloudflare_logpush.dex_application_tests.traceroute.source_ip.version", Ty::Str, X)),
        // Traceroute test: metrics
        Tagged("rename_json_TracerouteProtocol_to_network_transport", &Rename("json.TracerouteProtocol", "network.transport")),
        Tagged("convert_json_TracerouteDurationMs", &ConvertAll("json.TracerouteDurationMs", "cloudflare_logpush.dex_application_tests.traceroute.duration_ms", Ty::Long, A)),
        Tagged("rename_json_TracerouteHops", &Rename("json.TracerouteHops", "cloudflare_logpush.dex_application_tests.traceroute.hops")),
        Tagged("convert_json_TracerouteMaxTTL", &ConvertAll("json.TracerouteMaxTTL", "cloudflare_logpush.dex_application_tests.traceroute.max_ttl", Ty::Long, A)),
        Tagged("convert_json_TracerouteSize", &ConvertAll("json.TracerouteSize", "cloudflare_logpush.dex_application_tests.traceroute.size", Ty::Long, A)),
        Tagged("rename_json_TracerouteStatus", &Rename("json.TracerouteStatus", "cloudflare_logpush.dex_application_tests.traceroute.status")),
        Tagged("convert_json_TracerouteVersion", &ConvertAll("json.TracerouteVersion", "cloudflare_logpush.dex_application_tests.traceroute.version", Ty::Str, X)),
        Tagged("date_traceroute_time_end", &Date("json.TracerouteTimeEnd", "cloudflare_logpush.dex_application_tests.traceroute.time_end", A)),
        // related.*
        Tagged("append_host_id_into_related_hosts", &Related("related.hosts", "host.id")),
        Tagged("append_host_name_into_related_hosts", &Related("related.hosts", "host.name")),
        Tagged("append_destination_domain_into_related_hosts", &Related("related.hosts", "destination.domain")),
        Tagged("append_url_domain_into_related_hosts", &Related("related.hosts", "url.domain")),
        Tagged("append_source_ip_into_related_ip", &Related("related.ip", "source.ip")),
        Tagged("append_destination_ip_into_related_ip", &Related("related.ip", "destination.ip")),
        Tagged("append_user_email_into_related_user", &Related("related.user", "user.email")),
        Tagged("append_user_id_into_related_user", &Related("related.user", "user.id")),
        RemoveJson,
    ],
};
