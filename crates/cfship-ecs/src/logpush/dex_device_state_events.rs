//! `dex_device_state_events` (Cloudflare `dex_device_state_events`): package 2.1.0 (ECS 9.3.0).
//! The table is the pipeline
//! `packages/cloudflare_logpush/data_stream/dex_device_state_events/elasticsearch/ingest_pipeline/default.yml`
//! at `0ceb9e8b01b2f1fcb3af4de2246886f68cc94378` (elastic/integrations, PR #21862 head, the commit
//! of the test documents; 30,760 characters), processor by processor with every processor's tag.
//! 2.1.0 conventions: see [`super::dex_application_tests`] ([`Era::V2_1`]).
//!
//! Upstream behaviour kept: `source.ip` and `host.ip` are lists (the ISP / device IPv4 then IPv6
//! address, each appended only when it is a valid IP: an invalid one is removed by its `convert`'s
//! failure handler, which appends the error); only the IPv4 ISP geo/ASN fill `source.*`, the IPv6
//! ones stay under `isp.ipv6`; `related.ip` is `source.ip`, then `host.ip`, then the gateway
//! addresses; `CPUPercentage` (a fraction 0–1) is also `host.cpu.usage`. The timestamp script
//! (`long t = (long) Timestamp`) rewrites only seconds and nanoseconds; a JSON integer beyond
//! `long` cannot be cast and is the script's error.

use super::engine::{mustache, Const, CopyMode::IgnoreEmpty, Ctx, OnFail, Step::*, Ty};
use super::{Era, Spec};
use crate::doc::Val;
use std::borrow::Cow;

const A: OnFail = OnFail::Append;
const X: OnFail = OnFail::Abort;

/// `script_timestamp_to_milli` (`if: Timestamp instanceof Number`): `long t = (long)
/// (ctx.json.Timestamp)`; `> 1e18` → ÷ 1e6, `< 1e10` → × 1e3, otherwise untouched (a double in
/// milliseconds stays a double). Painless's explicit cast takes the primitive boxes (a double
/// truncates) and refuses a `BigInteger`.
fn to_milli(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    let t = match ctx.get("json.Timestamp") {
        Some(Val::I64(i)) => *i,
        // Java's (long) of a double truncates and saturates, like Rust's `as`.
        Some(Val::F64(f)) => *f as i64,
        Some(Val::U64(_)) => {
            return Err("cannot explicitly cast def [java.math.BigInteger] to long".into())
        }
        _ => return Ok(()),
    };
    if t > 1_000_000_000_000_000_000 {
        ctx.set("json.Timestamp", Val::I64(t / 1_000_000))?;
    } else if t < 10_000_000_000 {
        ctx.set("json.Timestamp", Val::I64(t.wrapping_mul(1000)))?;
    }
    Ok(())
}

/// `convert { field: json.<X>, type: ip, ignore_missing, if: not null and not '' }` in place,
/// whose failure handler removes `json.<X>` and appends the error. A list is converted element
/// by element (a list of addresses passes and stays a list).
fn ip_in_place(ctx: &mut Ctx<'_, '_>, field: &'static str) -> Result<(), String> {
    let failed = match ctx.get(field) {
        None | Some(Val::Null) => return Ok(()),
        Some(Val::Str(s)) if s.is_empty() => return Ok(()),
        Some(v) => super::engine::convert(v, Ty::Ip).err(),
    };
    match failed {
        None => Ok(()),
        Some(message) => {
            ctx.take(field);
            Err(message)
        }
    }
}

/// `append { field: <to>, value: '{{{json.<X>}}}', allow_duplicates: false, if: not null and
/// not '' }`.
fn append_text(ctx: &mut Ctx<'_, '_>, to: &'static str, from: &str) -> Result<(), String> {
    let s = match ctx.get(from) {
        None | Some(Val::Null) => return Ok(()),
        Some(Val::Str(s)) if s.is_empty() => return Ok(()),
        Some(v) => mustache(v),
    };
    ctx.append(to, Val::Str(Cow::Owned(s)))
}

/// `foreach { field: <from>, ignore_missing, processor: append { field: related.ip, value:
/// '{{{_ingest._value}}}', allow_duplicates: false } }`.
fn foreach_related_ip(ctx: &mut Ctx<'_, '_>, from: &'static str) -> Result<(), String> {
    let items: Vec<String> = match ctx.get(from) {
        None | Some(Val::Null) => return Ok(()),
        Some(Val::Arr(a)) => a.iter().map(mustache).collect(),
        Some(other) => {
            return Err(format!(
                "field [{from}] of type [{}] cannot be cast to [java.util.List]",
                crate::convert::java_type(other)
            ))
        }
    };
    for s in items {
        ctx.append("related.ip", Val::Str(Cow::Owned(s)))?;
    }
    Ok(())
}

fn device_ipv4(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    ip_in_place(ctx, "json.DeviceIPv4Address")
}
fn device_ipv4_host_ip(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    append_text(ctx, "host.ip", "json.DeviceIPv4Address")
}
fn device_ipv6(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    ip_in_place(ctx, "json.DeviceIPv6Address")
}
fn device_ipv6_host_ip(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    append_text(ctx, "host.ip", "json.DeviceIPv6Address")
}
fn isp_ipv4(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    ip_in_place(ctx, "json.ISPIPv4Address")
}
fn isp_ipv4_source_ip(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    append_text(ctx, "source.ip", "json.ISPIPv4Address")
}
fn isp_ipv6(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    ip_in_place(ctx, "json.ISPIPv6Address")
}
fn isp_ipv6_source_ip(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    append_text(ctx, "source.ip", "json.ISPIPv6Address")
}
fn source_ip_related(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    foreach_related_ip(ctx, "source.ip")
}
fn host_ip_related(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    foreach_related_ip(ctx, "host.ip")
}

pub static SPEC: Spec = Spec {
    name: "dex_device_state_events",
    dataset: "cloudflare_logpush.dex_device_state_events",
    cloudflare: "dex_device_state_events",
    version: "2.1.0",
    ecs: "9.3.0",
    era: Era::V2_1,
    json_ignore_failure: false,
    steps: &[
        Tagged("append_host_into_event_category", &Set("event.category", Const::List(&["host"]))),
        Tagged("append_info_into_event_type", &Set("event.type", Const::List(&["info"]))),
        Tagged("set_event_kind", &Set("event.kind", Const::Str("event"))),
        Tagged("convert_json_Timestamp_to_long", &Convert("json.Timestamp", "json.Timestamp", Ty::Long, OnFail::Ignore)),
        Script("script_timestamp_to_milli", to_milli, A),
        Tagged("date_json_Timestamp", &Date("json.Timestamp", "@timestamp", A)),
        Tagged("convert_json_AccountID_to_account_id", &ConvertAll("json.AccountID", "cloudflare_logpush.dex_device_state_events.account_id", Ty::Str, X)),
        // host.*, device.* and user_agent.*
        Tagged("rename_json_ClientPlatform_to_host_os_name", &Rename("json.ClientPlatform", "host.os.name")),
        Script("script_map_host_os_type", super::dex_application_tests::host_os_type, A),
        Tagged("convert_json_ClientVersion_to_version", &ConvertAll("json.ClientVersion", "cloudflare_logpush.dex_device_state_events.version", Ty::Str, X)),
        Tagged("set_user_agent_version_from_client_version", &Copy("cloudflare_logpush.dex_device_state_events.version", "user_agent.version", IgnoreEmpty)),
        Tagged("convert_json_DeviceID_to_device_id", &ConvertAll("json.DeviceID", "device.id", Ty::Str, X)),
        Tagged("set_host_id_from_device_id", &Copy("device.id", "host.id", IgnoreEmpty)),
        Tagged("convert_json_DeviceRegistrationID_to_device_registration_id", &ConvertAll("json.DeviceRegistrationID", "cloudflare_logpush.dex_device_state_events.device.registration_id", Ty::Str, X)),
        Tagged("convert_json_DeviceRegistrationProfileID_to_device_registration_profile_id", &ConvertAll("json.DeviceRegistrationProfileID", "cloudflare_logpush.dex_device_state_events.device.registration_profile_id", Ty::Str, X)),
        // device IP addresses → host.ip
        Custom("convert", "convert_json_DeviceIPv4Address_to_ip", device_ipv4, A),
        Custom("append", "append_device_ipv4_into_host_ip", device_ipv4_host_ip, X),
        Custom("convert", "convert_json_DeviceIPv6Address_to_ip", device_ipv6, A),
        Custom("append", "append_device_ipv6_into_host_ip", device_ipv6_host_ip, X),
        Tagged("convert_json_DeviceIPv4Netmask", &ConvertAll("json.DeviceIPv4Netmask", "cloudflare_logpush.dex_device_state_events.device.ipv4.netmask", Ty::Str, X)),
        Tagged("convert_json_DeviceIPv6Netmask", &ConvertAll("json.DeviceIPv6Netmask", "cloudflare_logpush.dex_device_state_events.device.ipv6.netmask", Ty::Str, X)),
        // gateway.*
        Tagged("convert_json_GatewayIPv4Address_to_ip", &Convert("json.GatewayIPv4Address", "cloudflare_logpush.dex_device_state_events.gateway.ipv4.address", Ty::Ip, A)),
        Tagged("convert_json_GatewayIPv4Netmask", &ConvertAll("json.GatewayIPv4Netmask", "cloudflare_logpush.dex_device_state_events.gateway.ipv4.netmask", Ty::Str, X)),
        Tagged("convert_json_GatewayIPv6Address_to_ip", &Convert("json.GatewayIPv6Address", "cloudflare_logpush.dex_device_state_events.gateway.ipv6.address", Ty::Ip, A)),
        Tagged("convert_json_GatewayIPv6Netmask", &ConvertAll("json.GatewayIPv6Netmask", "cloudflare_logpush.dex_device_state_events.gateway.ipv6.netmask", Ty::Str, X)),
        // ISP public IPv4 → source.ip (list), source.as.*, source.geo.*
        Custom("convert", "convert_json_ISPIPv4Address_to_ip", isp_ipv4, A),
        Custom("append", "append_isp_ipv4_into_source_ip", isp_ipv4_source_ip, X),
        Tagged("convert_json_ISPIPv4ASN_to_source_as_number", &ConvertAll("json.ISPIPv4ASN", "source.as.number", Ty::Long, A)),
        Tagged("rename_json_ISPIPv4ASO_to_source_as_organization_name", &Rename("json.ISPIPv4ASO", "source.as.organization.name")),
        Tagged("rename_json_ISPIPv4City_to_source_geo_city_name", &Rename("json.ISPIPv4City", "source.geo.city_name")),
        Tagged("rename_json_ISPIPv4CountryISO_to_source_geo_country_iso_code", &Rename("json.ISPIPv4CountryISO", "source.geo.country_iso_code")),
        Tagged("rename_json_ISPIPv4StateISO_to_source_geo_region_iso_code", &Rename("json.ISPIPv4StateISO", "source.geo.region_iso_code")),
        Tagged("rename_json_ISPIPv4Zip_to_source_geo_postal_code", &Rename("json.ISPIPv4Zip", "source.geo.postal_code")),
        Tagged("convert_json_ISPIPv4Netmask", &ConvertAll("json.ISPIPv4Netmask", "cloudflare_logpush.dex_device_state_events.isp.ipv4.netmask", Ty::Str, X)),
        // ISP public IPv6 → source.ip (list); its geo/ASN stay under isp.ipv6
        Custom("convert", "convert_json_ISPIPv6Address_to_ip", isp_ipv6, A),
        Custom("append", "append_isp_ipv6_into_source_ip", isp_ipv6_source_ip, X),
        Tagged("convert_json_ISPIPv6ASN", &ConvertAll("json.ISPIPv6ASN", "cloudflare_logpush.dex_device_state_events.isp.ipv6.asn", Ty::Long, A)),
        Tagged("rename_json_ISPIPv6ASO", &Rename("json.ISPIPv6ASO", "cloudflare_logpush.dex_device_state_events.isp.ipv6.aso")),
        Tagged("rename_json_ISPIPv6City", &Rename("json.ISPIPv6City", "cloudflare_logpush.dex_device_state_events.isp.ipv6.city")),
        Tagged("rename_json_ISPIPv6CountryISO", &Rename("json.ISPIPv6CountryISO", "cloudflare_logpush.dex_device_state_events.isp.ipv6.country_iso")),
        Tagged("rename_json_ISPIPv6StateISO", &Rename("json.ISPIPv6StateISO", "cloudflare_logpush.dex_device_state_events.isp.ipv6.state_iso")),
        Tagged("rename_json_ISPIPv6Zip", &Rename("json.ISPIPv6Zip", "cloudflare_logpush.dex_device_state_events.isp.ipv6.zip")),
        Tagged("convert_json_ISPIPv6Netmask", &ConvertAll("json.ISPIPv6Netmask", "cloudflare_logpush.dex_device_state_events.isp.ipv6.netmask", Ty::Str, X)),
        // network.*
        Tagged("rename_json_ConnectionType_to_connection_type", &Rename("json.ConnectionType", "cloudflare_logpush.dex_device_state_events.network.connection_type")),
        Tagged("rename_json_NetworkSSID_to_ssid", &Rename("json.NetworkSSID", "cloudflare_logpush.dex_device_state_events.network.ssid")),
        Tagged("convert_json_NetworkReceivedBPS", &ConvertAll("json.NetworkReceivedBPS", "cloudflare_logpush.dex_device_state_events.network.received_bps", Ty::Long, A)),
        Tagged("convert_json_NetworkSentBPS", &ConvertAll("json.NetworkSentBPS", "cloudflare_logpush.dex_device_state_events.network.sent_bps", Ty::Long, A)),
        // tunnel and connection state
        Tagged("rename_json_TunnelType_to_tunnel_type", &Rename("json.TunnelType", "cloudflare_logpush.dex_device_state_events.tunnel_type")),
        Tagged("rename_json_WarpColoCode_to_warp_colo_code", &Rename("json.WarpColoCode", "cloudflare_logpush.dex_device_state_events.warp_colo.code")),
        Tagged("rename_json_Status_to_status", &Rename("json.Status", "cloudflare_logpush.dex_device_state_events.status")),
        Tagged("rename_json_Mode_to_mode", &Rename("json.Mode", "cloudflare_logpush.dex_device_state_events.mode")),
        Tagged("rename_json_DoHSubdomain_to_doh_subdomain", &Rename("json.DoHSubdomain", "cloudflare_logpush.dex_device_state_events.doh_subdomain")),
        Tagged("convert_json_HandshakeLatencyMs", &ConvertAll("json.HandshakeLatencyMs", "cloudflare_logpush.dex_device_state_events.handshake_latency_ms", Ty::Long, A)),
        Tagged("convert_json_WiFiStrengthDBM", &ConvertAll("json.WiFiStrengthDBM", "cloudflare_logpush.dex_device_state_events.wifi_strength_dbm", Ty::Long, A)),
        // toggles
        Tagged("convert_json_AlwaysOn", &Convert("json.AlwaysOn", "cloudflare_logpush.dex_device_state_events.always_on", Ty::Bool, A)),
        Tagged("convert_json_AppFirewallEnabled", &Convert("json.AppFirewallEnabled", "cloudflare_logpush.dex_device_state_events.app_firewall_enabled", Ty::Bool, A)),
        Tagged("convert_json_FirewallEnabled", &Convert("json.FirewallEnabled", "cloudflare_logpush.dex_device_state_events.firewall_enabled", Ty::Bool, A)),
        Tagged("convert_json_SwitchLocked", &Convert("json.SwitchLocked", "cloudflare_logpush.dex_device_state_events.switch_locked", Ty::Bool, A)),
        // battery.*
        Tagged("convert_json_BatteryCharging", &Convert("json.BatteryCharging", "cloudflare_logpush.dex_device_state_events.battery.charging", Ty::Bool, A)),
        Tagged("convert_json_BatteryCycles", &ConvertAll("json.BatteryCycles", "cloudflare_logpush.dex_device_state_events.battery.cycles", Ty::Long, A)),
        Tagged("convert_json_BatteryPercentage", &Convert("json.BatteryPercentage", "cloudflare_logpush.dex_device_state_events.battery.percentage", Ty::Float, A)),
        // cpu.*
        Tagged("convert_json_CPUPercentage", &Convert("json.CPUPercentage", "cloudflare_logpush.dex_device_state_events.cpu.percentage", Ty::Float, A)),
        Tagged("set_host_cpu_usage_from_cpu_percentage", &Copy("cloudflare_logpush.dex_device_state_events.cpu.percentage", "host.cpu.usage", IgnoreEmpty)),
        Tagged("rename_json_CPUPercentageByApp", &Rename("json.CPUPercentageByApp", "cloudflare_logpush.dex_device_state_events.cpu.percentage_by_app")),
        // disk.*
        Tagged("convert_json_DiskReadBPS", &ConvertAll("json.DiskReadBPS", "cloudflare_logpush.dex_device_state_events.disk.read_bps", Ty::Long, A)),
        Tagged("convert_json_DiskWriteBPS", &ConvertAll("json.DiskWriteBPS", "cloudflare_logpush.dex_device_state_events.disk.write_bps", Ty::Long, A)),
        Tagged("convert_json_DiskUsagePercentage", &Convert("json.DiskUsagePercentage", "cloudflare_logpush.dex_device_state_events.disk.usage_percentage", Ty::Float, A)),
        // ram.*
        Tagged("convert_json_RAMAvailableKB", &ConvertAll("json.RAMAvailableKB", "cloudflare_logpush.dex_device_state_events.ram.available_kb", Ty::Long, A)),
        Tagged("convert_json_RAMUsedPercentage", &Convert("json.RAMUsedPercentage", "cloudflare_logpush.dex_device_state_events.ram.used_percentage", Ty::Float, A)),
        Tagged("rename_json_RAMUsedPercentageByApp", &Rename("json.RAMUsedPercentageByApp", "cloudflare_logpush.dex_device_state_events.ram.used_percentage_by_app")),
        // tunnel stats and experimental payloads
        Tagged("rename_json_TunnelStatsDownstream", &Rename("json.TunnelStatsDownstream", "cloudflare_logpush.dex_device_state_events.tunnel_stats.downstream")),
        Tagged("rename_json_TunnelStatsUpstream", &Rename("json.TunnelStatsUpstream", "cloudflare_logpush.dex_device_state_events.tunnel_stats.upstream")),
        Tagged("rename_json_ExperimentalExtra", &Rename("json.ExperimentalExtra", "cloudflare_logpush.dex_device_state_events.experimental_extra")),
        // related.*
        Tagged("append_host_id_into_related_hosts", &Related("related.hosts", "host.id")),
        Custom("foreach", "foreach_source_ip_into_related_ip", source_ip_related, X),
        Custom("foreach", "foreach_host_ip_into_related_ip", host_ip_related, X),
        Tagged("append_gateway_ipv4_into_related_ip", &Related("related.ip", "cloudflare_logpush.dex_device_state_events.gateway.ipv4.address")),
        Tagged("append_gateway_ipv6_into_related_ip", &Related("related.ip", "cloudflare_logpush.dex_device_state_events.gateway.ipv6.address")),
        RemoveJson,
    ],
};

