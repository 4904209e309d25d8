//! `dns` (Cloudflare `dns_logs`): package 1.17.0 — the 1.10.0 pipeline
//! (`packages/cloudflare_logpush/data_stream/dns/elasticsearch/ingest_pipeline/default.yml`
//! at 026ead0e) with ECS 8.11.0. Upstream bug kept: `related.hosts` is appended from
//! `dns.query.name`, a field that never exists (fixed in 1.44.1), so it is never set.

use super::engine::{Const, CopyMode::IgnoreFailure, OnFail::Append, Step::*, Ty};
use super::{Era, Spec};

const P: &str = "cloudflare_logpush.dns";

pub static SPEC: Spec = Spec {
    name: "dns",
    dataset: P,
    cloudflare: "dns_logs",
    version: "1.17.0",
    ecs: "8.11.0",
    era: Era::V1_EARLY,
    json_ignore_failure: true,
    steps: &[
        Set("event.category", Const::List(&["network"])),
        Set("event.kind", Const::Str("event")),
        Set("event.type", Const::List(&["info"])),
        ToMilli("json.Timestamp"),
        Date("json.Timestamp", "@timestamp", Append),
        Copy("@timestamp", "cloudflare_logpush.dns.timestamp", IgnoreFailure),
        Convert("json.SourceIP", "cloudflare_logpush.dns.source.ip", Ty::Ip, Append),
        Copy("cloudflare_logpush.dns.source.ip", "source.ip", IgnoreFailure),
        Rename("json.QueryName", "cloudflare_logpush.dns.query.name"),
        Copy("cloudflare_logpush.dns.query.name", "dns.question.name", IgnoreFailure),
        Convert("json.QueryType", "cloudflare_logpush.dns.query.type", Ty::Long, Append),
        Rename("json.ColoCode", "cloudflare_logpush.dns.colo.code"),
        Convert("json.EDNSSubnet", "cloudflare_logpush.dns.edns.subnet", Ty::Ip, Append),
        Convert("json.EDNSSubnetLength", "cloudflare_logpush.dns.edns.subnet_length", Ty::Long, Append),
        Rename("json.ResponseCached", "cloudflare_logpush.dns.response.cached"),
        Convert("json.ResponseCode", "cloudflare_logpush.dns.response.code", Ty::Long, Append),
        // Upstream bug: `dns.query.name` never exists.
        Related("related.hosts", "dns.query.name"),
        Related("related.ip", "source.ip"),
        Related("related.ip", "cloudflare_logpush.dns.edns.subnet"),
        RemoveJson,
        RemoveDuplicates(&[
            "cloudflare_logpush.dns.timestamp",
            "cloudflare_logpush.dns.query.name",
            "cloudflare_logpush.dns.source.ip",
        ]),
    ],
};
