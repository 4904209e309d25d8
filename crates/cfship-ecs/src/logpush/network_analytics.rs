//! `network_analytics` (Cloudflare `network_analytics_logs`): package 1.44.0 [unverified: the
//! golden documents carry ECS 8.11.0, split comma-separated SACK blocks (1.38.2) and keep
//! `TCPOptions` as one string (split in 1.44.2), so the era is 1.38.2 – 1.44.1]. The table is the
//! stored pipeline
//! (`packages/cloudflare_logpush/data_stream/network_analytics/elasticsearch/ingest_pipeline/default.yml`
//! at 12b5f8f0 in brijesh-elastic/integrations, the only stored text with the SACK split and an
//! unsplit `TCPOptions`) with the era's `ecs.version` 8.11.0 instead of that branch's 9.3.0,
//! processor by processor. Tagged `convert`s and the pipeline's `on_failure` write
//! `Processor "<type>" with tag <tag> in pipeline "<pipeline>" failed with message "<message>"`
//! ([`super::ErrorStyle::V1TagUnquoted`]); the `date` processor appends the bare message.
//!
//! Upstream behaviour kept: both Cloudflare spellings of nine fields are read (`IPTTL`/`IPTtl`,
//! `IPv4DSCP`/`IPv4Dscp`, `TCPMSS`/`TCPMss`, …; [`super::engine::Step::Spellings`]) but
//! `GREEtherType` is not (only `GREEthertype`); Cloudflare's ASN name and description land under
//! `…source.as.number.name` / `.description` (an object under a key called `number`);
//! `IPv4Options` is converted to a number, so a comma list there is a conversion error; the old
//! `TCPSackBlocks` spelling is split whenever it is a string, so `""` becomes `[""]` and a
//! conversion error (the split's `if` tests the new spelling for `''`).

use super::engine::{
    mustache, CopyMode::IgnoreEmpty, Const, Ctx, OnFail::Abort, OnFail::Append,
    OnFail::AppendMessage, OnFail::Ignore, Step::*, Ty,
};
use super::{Era, Spec};
use crate::doc::Val;
use std::borrow::Cow;

const C: &str = "cloudflare_logpush.network_analytics";
const BLOCKS: &str = "cloudflare_logpush.network_analytics.tcp.sack.blocks";

/// `set cf.outcome: success if Outcome == 'pass'` and `failure if Outcome == 'drop'`.
fn outcome(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    let v = match ctx.get("json.Outcome").and_then(Val::as_str) {
        Some("pass") => "success",
        Some("drop") => "failure",
        _ => return Ok(()),
    };
    ctx.set("cloudflare_logpush.network_analytics.outcome", Val::str(v))
}

/// Java's `s.split(", *")`: no match → `[s]` (also for `""`); otherwise the pieces without the
/// trailing empty ones.
pub fn split_comma(s: &str) -> Vec<String> {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    let mut matched = false;
    while let Some(c) = chars.next() {
        if c == ',' {
            matched = true;
            parts.push(std::mem::take(&mut cur));
            while chars.peek() == Some(&' ') {
                chars.next();
            }
        } else {
            cur.push(c);
        }
    }
    parts.push(cur);
    if !matched {
        return vec![s.to_string()];
    }
    while parts.last().is_some_and(String::is_empty) {
        parts.pop();
    }
    parts
}

fn split_in_place(ctx: &mut Ctx<'_, '_>, path: &'static str) -> Result<(), String> {
    if let Some(Val::Str(s)) = ctx.get(path) {
        let list = split_comma(s)
            .into_iter()
            .map(|p| Val::Str(Cow::Owned(p)))
            .collect();
        ctx.set(path, Val::Arr(list))?;
    }
    Ok(())
}

/// The SACK blocks, five processors: `split json.TCPSACKBlocks ', *'` (a non-empty string),
/// `rename` it to `cf.tcp.sack.blocks`, `split json.TCPSackBlocks ', *'` (any string: its `if`
/// tests the other spelling, which is gone by then), the script that wraps a non-list
/// `TCPSackBlocks` into a list, and `foreach` appending each element as text
/// (`allow_duplicates: false`) to `cf.tcp.sack.blocks`.
fn sack_blocks(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    if !matches!(ctx.get("json.TCPSACKBlocks"), Some(Val::Str(s)) if s.is_empty()) {
        split_in_place(ctx, "json.TCPSACKBlocks")?;
    }
    if let Some(v) = ctx.take("json.TCPSACKBlocks") {
        if ctx.doc.has(BLOCKS) {
            return Err(format!("field [{BLOCKS}] already exists"));
        }
        ctx.set(BLOCKS, v)?;
    }
    split_in_place(ctx, "json.TCPSackBlocks")?;
    let old = match ctx.get("json.TCPSackBlocks") {
        None | Some(Val::Null) => return Ok(()),
        Some(Val::Arr(a)) => a.clone(),
        Some(other) => vec![other.clone()],
    };
    for v in old {
        ctx.append(BLOCKS, Val::Str(Cow::Owned(mustache(&v))))?;
    }
    Ok(())
}

pub static SPEC: Spec = Spec {
    name: "network_analytics",
    dataset: C,
    cloudflare: "network_analytics_logs",
    version: "1.44.0",
    ecs: "8.11.0",
    era: Era::V1_LATE_TAG_UNQUOTED,
    json_ignore_failure: true,
    steps: &[
        Set("event.category", Const::List(&["network"])),
        Set("event.kind", Const::Str("event")),
        Set("event.type", Const::List(&["info"])),
        ToMilli("json.Datetime"),
        Date("json.Datetime", "@timestamp", AppendMessage),
        Copy("@timestamp", "cloudflare_logpush.network_analytics.timestamp", IgnoreEmpty),
        Custom("set", "", outcome, Abort),
        Copy("cloudflare_logpush.network_analytics.outcome", "event.outcome", IgnoreEmpty),
        Tagged("convert_json_destination_asn", &Convert("json.DestinationASN", "cloudflare_logpush.network_analytics.destination.asn", Ty::Long, Append)),
        Copy("cloudflare_logpush.network_analytics.destination.asn", "destination.as.number", IgnoreEmpty),
        Tagged("convert_json_ip_destinations_address", &Convert("json.IPDestinationAddress", "cloudflare_logpush.network_analytics.destination.ip", Ty::Ip, Append)),
        Copy("cloudflare_logpush.network_analytics.destination.ip", "destination.ip", IgnoreEmpty),
        Tagged("convert_json_destination_port", &Convert("json.DestinationPort", "cloudflare_logpush.network_analytics.destination.port", Ty::Long, Append)),
        Copy("cloudflare_logpush.network_analytics.destination.port", "destination.port", IgnoreEmpty),
        Rename("json.Direction", "cloudflare_logpush.network_analytics.direction"),
        Copy("cloudflare_logpush.network_analytics.direction", "network.direction", IgnoreEmpty),
        Rename("json.IPProtocolName", "cloudflare_logpush.network_analytics.ip.protocol.name"),
        Copy("cloudflare_logpush.network_analytics.ip.protocol.name", "network.transport", IgnoreEmpty),
        Lowercase("network.transport"),
        Tagged("convert_ip_source_address", &Convert("json.IPSourceAddress", "cloudflare_logpush.network_analytics.source.ip", Ty::Ip, Append)),
        Copy("cloudflare_logpush.network_analytics.source.ip", "source.ip", IgnoreEmpty),
        Tagged("convert_json_source_asn", &Convert("json.SourceASN", "cloudflare_logpush.network_analytics.source.asn", Ty::Long, Append)),
        Copy("cloudflare_logpush.network_analytics.source.asn", "source.as.number", IgnoreEmpty),
        Tagged("convert_json_source_port", &Convert("json.SourcePort", "cloudflare_logpush.network_analytics.source.port", Ty::Long, Append)),
        Copy("cloudflare_logpush.network_analytics.source.port", "source.port", IgnoreEmpty),
        Rename("json.RuleID", "cloudflare_logpush.network_analytics.rule.id"),
        Copy("cloudflare_logpush.network_analytics.rule.id", "rule.id", IgnoreEmpty),
        Rename("json.AttackCampaignID", "cloudflare_logpush.network_analytics.attack.campaign.id"),
        Rename("json.AttackID", "cloudflare_logpush.network_analytics.attack.id"),
        Rename("json.AttackVector", "cloudflare_logpush.network_analytics.attack.vector"),
        Rename("json.ColoCity", "cloudflare_logpush.network_analytics.colo.city"),
        Rename("json.ColoCode", "cloudflare_logpush.network_analytics.colo.code"),
        Rename("json.ColoCountry", "cloudflare_logpush.network_analytics.colo.country"),
        Rename("json.ColoGeoHash", "cloudflare_logpush.network_analytics.colo.geo_hash"),
        Copy("cloudflare_logpush.network_analytics.colo.geo_hash", "cloudflare_logpush.network_analytics.colo.geo_location", IgnoreEmpty),
        Tagged("convert_json_colo_id", &Convert("json.ColoID", "cloudflare_logpush.network_analytics.colo.id", Ty::Long, Append)),
        Rename("json.ColoName", "cloudflare_logpush.network_analytics.colo.name"),
        Rename("json.DestinationASNDescription", "cloudflare_logpush.network_analytics.destination.as.number.description"),
        Rename("json.DestinationASNName", "cloudflare_logpush.network_analytics.destination.as.number.name"),
        Rename("json.DestinationCountry", "cloudflare_logpush.network_analytics.destination.country"),
        Rename("json.DestinationGeoHash", "cloudflare_logpush.network_analytics.destination.geo_hash"),
        Copy("cloudflare_logpush.network_analytics.destination.geo_hash", "cloudflare_logpush.network_analytics.destination.geo_location", IgnoreEmpty),
        Tagged("convert_json_gre_checksum", &Convert("json.GREChecksum", "cloudflare_logpush.network_analytics.gre.checksum", Ty::Long, Append)),
        Tagged("convert_json_gre_ethertype", &Convert("json.GREEthertype", "cloudflare_logpush.network_analytics.gre.ether.type", Ty::Long, Append)),
        Tagged("convert_json_gre_header_length", &Convert("json.GREHeaderLength", "cloudflare_logpush.network_analytics.gre.header.length", Ty::Long, Append)),
        Tagged("convert_json_key", &Convert("json.GREKey", "cloudflare_logpush.network_analytics.gre.key", Ty::Long, Append)),
        Tagged("convert_json_sequence_number", &Convert("json.GRESequenceNumber", "cloudflare_logpush.network_analytics.gre.sequence.number", Ty::Long, Append)),
        Tagged("convert_json_gre_version", &Convert("json.GREVersion", "cloudflare_logpush.network_analytics.gre.version", Ty::Long, Append)),
        Tagged("convert_json_icmp_checksum", &Convert("json.ICMPChecksum", "cloudflare_logpush.network_analytics.icmp.checksum", Ty::Long, Append)),
        Tagged("convert_json_icmp_code", &Convert("json.ICMPCode", "cloudflare_logpush.network_analytics.icmp.code", Ty::Long, Append)),
        Tagged("convert_json_icmp_type", &Convert("json.ICMPType", "cloudflare_logpush.network_analytics.icmp.type", Ty::Long, Append)),
        Rename("json.IPDestinationSubnet", "cloudflare_logpush.network_analytics.ip.destination.subnet"),
        Tagged("convert_json_ip_fragment_offset", &Convert("json.IPFragmentOffset", "cloudflare_logpush.network_analytics.ip.fragment.offset", Ty::Long, Append)),
        Tagged("convert_json_ip_header_length", &Convert("json.IPHeaderLength", "cloudflare_logpush.network_analytics.ip.header.length", Ty::Long, Append)),
        Tagged("convert_json_ip_more_fragments", &Convert("json.IPMoreFragments", "cloudflare_logpush.network_analytics.ip.more.fragments", Ty::Long, Append)),
        Tagged("convert_json_ip_protocol", &Convert("json.IPProtocol", "cloudflare_logpush.network_analytics.ip.protocol.value", Ty::Long, Append)),
        Rename("json.IPSourceSubnet", "cloudflare_logpush.network_analytics.ip.source.subnet"),
        Tagged("convert_json_ip_total_length", &Convert("json.IPTotalLength", "cloudflare_logpush.network_analytics.ip.total.length.value", Ty::Long, Append)),
        Tagged("convert_json_ip_total_length_buckets", &Convert("json.IPTotalLengthBuckets", "cloudflare_logpush.network_analytics.ip.total.length.buckets", Ty::Long, Append)),
        Spellings("json.IPTTL", "json.IPTtl", "cloudflare_logpush.network_analytics.ip.ttl.value"),
        Tagged("convert_ip_ttl_value", &Convert("cloudflare_logpush.network_analytics.ip.ttl.value", "cloudflare_logpush.network_analytics.ip.ttl.value", Ty::Long, Append)),
        Spellings("json.IPTTLBuckets", "json.IPTtlBuckets", "cloudflare_logpush.network_analytics.ip.ttl.buckets"),
        Tagged("convert_ip_ttl_buckets", &Convert("cloudflare_logpush.network_analytics.ip.ttl.buckets", "cloudflare_logpush.network_analytics.ip.ttl.buckets", Ty::Long, Append)),
        Tagged("convert_json_ipv4_checksum", &Convert("json.IPv4Checksum", "cloudflare_logpush.network_analytics.ipv4.checksum", Ty::Long, Append)),
        Tagged("convert_json_ipv4_dont_fragment", &Convert("json.IPv4DontFragment", "cloudflare_logpush.network_analytics.ipv4.dont_fragment", Ty::Long, Append)),
        Spellings("json.IPv4DSCP", "json.IPv4Dscp", "cloudflare_logpush.network_analytics.ipv4.dscp"),
        Tagged("convert_ipv4_dscp", &Convert("cloudflare_logpush.network_analytics.ipv4.dscp", "cloudflare_logpush.network_analytics.ipv4.dscp", Ty::Long, Append)),
        Spellings("json.IPv4ECN", "json.IPv4Ecn", "cloudflare_logpush.network_analytics.ipv4.ecn"),
        Tagged("convert_ipv4_ecn", &Convert("cloudflare_logpush.network_analytics.ipv4.ecn", "cloudflare_logpush.network_analytics.ipv4.ecn", Ty::Long, Append)),
        Tagged("convert_json_ipv4_identification", &Convert("json.IPv4Identification", "cloudflare_logpush.network_analytics.ipv4.identification", Ty::Long, Append)),
        Tagged("convert_json_ipv4_options", &Convert("json.IPv4Options", "cloudflare_logpush.network_analytics.ipv4.options", Ty::Long, Append)),
        Spellings("json.IPv6DSCP", "json.IPv6Dscp", "cloudflare_logpush.network_analytics.ipv6.dscp"),
        Tagged("convert_ipv6_dscp", &Convert("cloudflare_logpush.network_analytics.ipv6.dscp", "cloudflare_logpush.network_analytics.ipv6.dscp", Ty::Long, Append)),
        Spellings("json.IPv6ECN", "json.IPv6Ecn", "cloudflare_logpush.network_analytics.ipv6.ecn"),
        Tagged("convert_ipv6_ecn", &Convert("cloudflare_logpush.network_analytics.ipv6.ecn", "cloudflare_logpush.network_analytics.ipv6.ecn", Ty::Long, Append)),
        Rename("json.IPv6ExtensionHeaders", "cloudflare_logpush.network_analytics.ipv6.extension_headers"),
        Tagged("convert_json_ipv6_flow_label", &Convert("json.IPv6FlowLabel", "cloudflare_logpush.network_analytics.ipv6.flow_label", Ty::Long, Append)),
        Tagged("convert_json_ipv6_identification", &Convert("json.IPv6Identification", "cloudflare_logpush.network_analytics.ipv6.identification", Ty::Long, Append)),
        Rename("json.MitigationReason", "cloudflare_logpush.network_analytics.mitigation.reason"),
        Rename("json.MitigationScope", "cloudflare_logpush.network_analytics.mitigation.scope"),
        Rename("json.MitigationSystem", "cloudflare_logpush.network_analytics.mitigation.system"),
        Rename("json.ProtocolState", "cloudflare_logpush.network_analytics.protocol_state"),
        Rename("json.RuleName", "cloudflare_logpush.network_analytics.rule.name"),
        Rename("json.RulesetID", "cloudflare_logpush.network_analytics.rule.set.id"),
        Rename("json.RulesetOverrideID", "cloudflare_logpush.network_analytics.rule.set.override.id"),
        Tagged("convert_json_sample_interval", &Convert("json.SampleInterval", "cloudflare_logpush.network_analytics.sample_interval", Ty::Long, Append)),
        Rename("json.SourceASNName", "cloudflare_logpush.network_analytics.source.as.number.name"),
        Rename("json.SourceASNDescription", "cloudflare_logpush.network_analytics.source.as.number.description"),
        Rename("json.SourceCountry", "cloudflare_logpush.network_analytics.source.country"),
        Rename("json.SourceGeoHash", "cloudflare_logpush.network_analytics.source.geo_hash"),
        Copy("cloudflare_logpush.network_analytics.source.geo_hash", "cloudflare_logpush.network_analytics.source.geo_location", IgnoreEmpty),
        Tagged("convert_json_tcp_acknowledgement_number", &Convert("json.TCPAcknowledgementNumber", "cloudflare_logpush.network_analytics.tcp.acknowledgement_number", Ty::Long, Append)),
        Tagged("convert_json_tcp_checksum", &Convert("json.TCPChecksum", "cloudflare_logpush.network_analytics.tcp.checksum", Ty::Long, Append)),
        Tagged("convert_json_tcp_data_offset", &Convert("json.TCPDataOffset", "cloudflare_logpush.network_analytics.tcp.dataoffset", Ty::Long, Append)),
        Tagged("convert_json_tcp_flags", &Convert("json.TCPFlags", "cloudflare_logpush.network_analytics.tcp.flags.value", Ty::Long, Append)),
        Rename("json.TCPFlagsString", "cloudflare_logpush.network_analytics.tcp.flags.string"),
        Spellings("json.TCPMSS", "json.TCPMss", "cloudflare_logpush.network_analytics.tcp.mss"),
        Tagged("convert_tcp_mss", &Convert("cloudflare_logpush.network_analytics.tcp.mss", "cloudflare_logpush.network_analytics.tcp.mss", Ty::Long, Append)),
        Rename("json.TCPOptions", "cloudflare_logpush.network_analytics.tcp.options"),
        Custom("split", "", sack_blocks, Abort),
        Tagged("convert_tcp_sack_blocks", &Convert("cloudflare_logpush.network_analytics.tcp.sack.blocks", "cloudflare_logpush.network_analytics.tcp.sack.blocks", Ty::Long, Append)),
        Spellings("json.TCPSACKPermitted", "json.TCPSacksPermitted", "cloudflare_logpush.network_analytics.tcp.sack.permitted"),
        Tagged("convert_tcp_sack_permitted", &Convert("cloudflare_logpush.network_analytics.tcp.sack.permitted", "cloudflare_logpush.network_analytics.tcp.sack.permitted", Ty::Long, Append)),
        Tagged("convert_json_tcp_sequence_number", &Convert("json.TCPSequenceNumber", "cloudflare_logpush.network_analytics.tcp.sequence_number", Ty::Long, Append)),
        Spellings("json.TCPTimestampECR", "json.TCPTimestampEcr", "cloudflare_logpush.network_analytics.tcp.timestamp.ecr"),
        Tagged("convert_tcp_timestamp_ecr", &Convert("cloudflare_logpush.network_analytics.tcp.timestamp.ecr", "cloudflare_logpush.network_analytics.tcp.timestamp.ecr", Ty::Long, Append)),
        Tagged("convert_json_tcp_timestamp_value", &Convert("json.TCPTimestampValue", "cloudflare_logpush.network_analytics.tcp.timestamp.value", Ty::Long, Append)),
        Tagged("convert_json_tcp_urgent_pointer", &Convert("json.TCPUrgentPointer", "cloudflare_logpush.network_analytics.tcp.urgent_pointer", Ty::Long, Append)),
        Tagged("convert_json_tcp_window_scale", &Convert("json.TCPWindowScale", "cloudflare_logpush.network_analytics.tcp.window.scale", Ty::Long, Append)),
        Tagged("convert_json_tcp_window_size", &Convert("json.TCPWindowSize", "cloudflare_logpush.network_analytics.tcp.window.size", Ty::Long, Append)),
        Tagged("convert_json_udp_checksum", &Convert("json.UDPChecksum", "cloudflare_logpush.network_analytics.udp.checksum", Ty::Long, Append)),
        Tagged("convert_json_udp_payload_length", &Convert("json.UDPPayloadLength", "cloudflare_logpush.network_analytics.udp.payload_length", Ty::Long, Append)),
        Rename("json.Verdict", "cloudflare_logpush.network_analytics.verdict"),
        Related("related.hash", "cloudflare_logpush.network_analytics.source.geo_hash"),
        Related("related.hash", "cloudflare_logpush.network_analytics.destination.geo_hash"),
        Related("related.hash", "cloudflare_logpush.network_analytics.colo.geo_hash"),
        Related("related.ip", "source.ip"),
        Related("related.ip", "destination.ip"),
        CommunityId(Ignore),
        RemoveJson,
        RemoveDuplicates(&[
            "cloudflare_logpush.network_analytics.timestamp",
            "cloudflare_logpush.network_analytics.outcome",
            "cloudflare_logpush.network_analytics.destination.asn",
            "cloudflare_logpush.network_analytics.destination.ip",
            "cloudflare_logpush.network_analytics.destination.port",
            "cloudflare_logpush.network_analytics.direction",
            "cloudflare_logpush.network_analytics.ip.protocol.name",
            "cloudflare_logpush.network_analytics.source.ip",
            "cloudflare_logpush.network_analytics.source.asn",
            "cloudflare_logpush.network_analytics.source.port",
            "cloudflare_logpush.network_analytics.rule.id",
        ]),
    ],
};

#[cfg(test)]
mod tests {
    use super::split_comma;

    #[test]
    fn split_like_java() {
        assert_eq!(split_comma("1,2, 3,  4"), ["1", "2", "3", "4"]);
        assert_eq!(split_comma("5"), ["5"]);
        assert_eq!(split_comma(""), [""]);
        assert_eq!(split_comma("1,2,,"), ["1", "2"]);
        assert_eq!(split_comma(",1"), ["", "1"]);
        assert!(split_comma(",").is_empty());
    }
}
