//! `dns_firewall` (Cloudflare `dns_firewall_logs`): package 1.45.0 (the golden commit's manifest
//! says `1.45.0-preview05`). The table is the pipeline read at the golden documents' own commit
//! (`packages/cloudflare_logpush/data_stream/dns_firewall/elasticsearch/ingest_pipeline/default.yml`
//! at 77eec5c8 in elastic/integrations), processor by processor, in the 1.45+ conventions
//! ([`super::Era::V2`]: a tag on every processor, the tagged error format, the `N/A`-dropping
//! cleanup, `event.kind: pipeline_error` whenever `error.message` exists).
//!
//! Upstream behaviour kept: `ClientResponseCode` / `UpstreamResponseCode` become strings (`"0"`,
//! `"3"`; IANA names only from 2.0.0) and `dns.response_code` takes the client code, else the
//! upstream one; `QueryType` is named from the package's RR-type table (unknown numbers give no
//! `dns.question.type`); the `convert`s of `EDNSSubnetLength`, `QueryDO`, `QueryRD`, `QuerySize`,
//! `QueryTCP`, `ResponseCached`, `ResponseCachedStale`, `UpstreamResponseTimeMs` have no `!= ''`
//! guard, so `""` there is a conversion error.

use super::engine::{
    Const, CopyMode::IgnoreEmpty, Ctx, Geo, OnFail::*, Step::*, Ty,
};
use super::{Era, Spec};
use crate::doc::Val;

const C: &str = "cloudflare_logpush.dns_firewall";

/// The RR type names of the pipeline's `script_e3625589` params.
fn rr_type(n: &str) -> Option<&'static str> {
    Some(match n {
        "0" => "Reserved",
        "1" => "A",
        "2" => "NS",
        "3" => "MD",
        "4" => "MF",
        "5" => "CNAME",
        "6" => "SOA",
        "7" => "MB",
        "8" => "MG",
        "9" => "MR",
        "10" => "NULL",
        "11" => "WKS",
        "12" => "PTR",
        "13" => "HINFO",
        "14" => "MINFO",
        "15" => "MX",
        "16" => "TXT",
        "17" => "RP",
        "18" => "AFSDB",
        "19" => "X25",
        "20" => "ISDN",
        "21" => "RT",
        "22" => "NSAP",
        "23" => "NSAP-PTR",
        "24" => "SIG",
        "25" => "KEY",
        "26" => "PX",
        "27" => "GPOS",
        "28" => "AAAA",
        "29" => "LOC",
        "30" => "NXT",
        "31" => "EID",
        "32" => "NIMLOC",
        "33" => "SRV",
        "34" => "ATMA",
        "35" => "NAPTR",
        "36" => "KX",
        "37" => "CERT",
        "38" => "A6",
        "39" => "DNAME",
        "40" => "SINK",
        "41" => "OPT",
        "42" => "APL",
        "43" => "DS",
        "44" => "SSHFP",
        "45" => "IPSECKEY",
        "46" => "RRSIG",
        "47" => "NSEC",
        "48" => "DNSKEY",
        "49" => "DHCID",
        "50" => "NSEC3",
        "51" => "NSEC3PARAM",
        "52" => "TLSA",
        "53" => "SMIMEA",
        "55" => "HIP",
        "56" => "NINFO",
        "57" => "RKEY",
        "58" => "TALINK",
        "59" => "CDS",
        "60" => "CDNSKEY",
        "61" => "OPENPGPKEY",
        "62" => "CSYNC",
        "63" => "ZONEMD",
        "64" => "SVCB",
        "65" => "HTTPS",
        "66" => "DSYNC",
        "67" => "HHIT",
        "68" => "BRID",
        "99" => "SPF",
        "100" => "UINFO",
        "101" => "UID",
        "102" => "GID",
        "103" => "UNSPEC",
        "104" => "NID",
        "105" => "L32",
        "106" => "L64",
        "107" => "LP",
        "108" => "EUI48",
        "109" => "EUI64",
        "128" => "NXNAME",
        "249" => "TKEY",
        "250" => "TSIG",
        "251" => "IXFR",
        "252" => "AXFR",
        "253" => "MAILB",
        "254" => "MAILA",
        "255" => "ANY",
        "256" => "URI",
        "257" => "CAA",
        "258" => "AVC",
        "259" => "DOA",
        "260" => "AMTRELAY",
        "261" => "RESINFO",
        "262" => "WALLET",
        "263" => "CLA",
        "264" => "IPN",
        "32768" => "TA",
        "32769" => "DLV",
        _ => return None,
    })
}

/// `String.valueOf(question.type)` looked up in the RR table (`if: question.type != null`). The
/// script's `ctx.dns ?: [:]` cannot fail here: `dns` is an object or absent at this point.
fn question_type(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    let key = match ctx.get("cloudflare_logpush.dns_firewall.question.type") {
        None | Some(Val::Null) => return Ok(()),
        Some(v) => super::engine::mustache(v),
    };
    if let Some(name) = rr_type(&key) {
        ctx.set("dns.question.type", Val::str(name))?;
    }
    Ok(())
}

/// `set dns.response_code copy_from upstream.response_code, ignore_empty_value,
/// if: response.code == null`.
fn upstream_response_code(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    if ctx.has("cloudflare_logpush.dns_firewall.response.code") {
        return Ok(());
    }
    match ctx.get("cloudflare_logpush.dns_firewall.upstream.response_code") {
        None | Some(Val::Null) => Ok(()),
        Some(Val::Str(s)) if s.is_empty() => Ok(()),
        Some(v) => {
            let v = v.clone();
            ctx.set("dns.response_code", v)
        }
    }
}

/// `set network.transport: tcp if question.tcp == true`, `udp if == false`.
fn transport(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    let t = match ctx.get("cloudflare_logpush.dns_firewall.question.tcp") {
        Some(Val::Bool(true)) => "tcp",
        Some(Val::Bool(false)) => "udp",
        _ => return Ok(()),
    };
    ctx.set("network.transport", Val::str(t))
}

pub static SPEC: Spec = Spec {
    name: "dns_firewall",
    dataset: C,
    cloudflare: "dns_firewall_logs",
    version: "1.45.0",
    ecs: "9.3.0",
    era: Era {
        json_tag: "json_event_original",
        ..Era::V2
    },
    json_ignore_failure: false,
    steps: &[
        Tagged("set_event_kind", &Set("event.kind", Const::Str("event"))),
        Tagged("set_event_category", &Set("event.category", Const::List(&["network"]))),
        Tagged("set_event_type", &Set("event.type", Const::List(&["info"]))),
        ToMilli("json.Timestamp"),
        Tagged("date_event_timestamp", &Date("json.Timestamp", "@timestamp", Append)),
        Tagged("set_timestamp", &Copy("@timestamp", "cloudflare_logpush.dns_firewall.timestamp", IgnoreEmpty)),
        Tagged("convert_sourceip_to_ip", &Convert("json.SourceIP", "cloudflare_logpush.dns_firewall.source.ip", Ty::Ip, Append)),
        Tagged("set_source_ip", &Copy("cloudflare_logpush.dns_firewall.source.ip", "source.ip", IgnoreEmpty)),
        Tagged("geo_source_ip", &GeoIp(Geo::SOURCE.ignore_missing())),
        Tagged("convert_upstreamip_to_ip", &Convert("json.UpstreamIP", "cloudflare_logpush.dns_firewall.upstream.ip", Ty::Ip, Append)),
        Tagged("set_destination_ip", &Copy("cloudflare_logpush.dns_firewall.upstream.ip", "destination.ip", IgnoreEmpty)),
        Tagged("geo_destination_ip", &GeoIp(Geo::DESTINATION.ignore_missing())),
        Tagged("rename_question_name", &Rename("json.QueryName", "cloudflare_logpush.dns_firewall.question.name")),
        Tagged("set_question_name", &Copy("cloudflare_logpush.dns_firewall.question.name", "dns.question.name", IgnoreEmpty)),
        Tagged("rename_question_type", &Rename("json.QueryType", "cloudflare_logpush.dns_firewall.question.type")),
        Script("script_e3625589", question_type, Append),
        Tagged("convert_dns_response_code", &Convert("json.ClientResponseCode", "cloudflare_logpush.dns_firewall.response.code", Ty::Str, Append)),
        Tagged("convert_dns_upstream_response_code", &Convert("json.UpstreamResponseCode", "cloudflare_logpush.dns_firewall.upstream.response_code", Ty::Str, Append)),
        Tagged("set_dns_response_code", &Copy("cloudflare_logpush.dns_firewall.response.code", "dns.response_code", IgnoreEmpty)),
        Custom("set", "set_dns_upstream_response_code", upstream_response_code, Abort),
        Tagged("rename_cluster_id", &Rename("json.ClusterID", "cloudflare_logpush.dns_firewall.cluster_id")),
        Tagged("rename_colo_code", &Rename("json.ColoCode", "cloudflare_logpush.dns_firewall.colo.code")),
        Tagged("convert_ednssubnet_to_ip", &Convert("json.EDNSSubnet", "cloudflare_logpush.dns_firewall.edns.subnet", Ty::Ip, Append)),
        Tagged("convert_ednssubnetlength_to_long", &ConvertAll("json.EDNSSubnetLength", "cloudflare_logpush.dns_firewall.edns.subnet_length", Ty::Long, Append)),
        Tagged("convert_querydo_to_boolean", &ConvertAll("json.QueryDO", "cloudflare_logpush.dns_firewall.question.dnssec_ok", Ty::Bool, Append)),
        Tagged("convert_queryrd_to_boolean", &ConvertAll("json.QueryRD", "cloudflare_logpush.dns_firewall.question.recursion_desired", Ty::Bool, Append)),
        Tagged("convert_querysize_to_long", &ConvertAll("json.QuerySize", "cloudflare_logpush.dns_firewall.question.size", Ty::Long, Append)),
        Tagged("convert_querytcp_to_boolean", &ConvertAll("json.QueryTCP", "cloudflare_logpush.dns_firewall.question.tcp", Ty::Bool, Append)),
        Custom("set", "set_network_transport_tcp", transport, Abort),
        Tagged("convert_responsecached_to_boolean", &ConvertAll("json.ResponseCached", "cloudflare_logpush.dns_firewall.response.cached", Ty::Bool, Append)),
        Tagged("rename_dns_response_reason", &Rename("json.ResponseReason", "cloudflare_logpush.dns_firewall.response.reason")),
        Tagged("convert_responsecachedstale_to_boolean", &ConvertAll("json.ResponseCachedStale", "cloudflare_logpush.dns_firewall.response.cached_stale", Ty::Bool, Append)),
        Tagged("convert_upstreamresponsetimems_to_long", &ConvertAll("json.UpstreamResponseTimeMs", "cloudflare_logpush.dns_firewall.upstream.response_time_ms", Ty::Long, Append)),
        Tagged("append_related_source_ip", &Related("related.ip", "cloudflare_logpush.dns_firewall.source.ip")),
        Tagged("append_related_edns_subnet", &Related("related.ip", "cloudflare_logpush.dns_firewall.edns.subnet")),
        Tagged("append_related_upstream_ip", &Related("related.ip", "cloudflare_logpush.dns_firewall.upstream.ip")),
        RemoveJson,
        RemoveDuplicates(&[
            "cloudflare_logpush.dns_firewall.timestamp",
            "cloudflare_logpush.dns_firewall.source.ip",
            "cloudflare_logpush.dns_firewall.question.name",
            "cloudflare_logpush.dns_firewall.response.code",
        ]),
    ],
};
