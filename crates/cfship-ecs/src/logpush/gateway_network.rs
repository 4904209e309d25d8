//! `gateway_network` (Cloudflare `gateway_network`): package 1.17.0. No 1.x text of
//! `packages/cloudflare_logpush/data_stream/gateway_network/elasticsearch/ingest_pipeline/default.yml`
//! is readable any more; the steps follow the package's 1.x generation (the shape of the 1.10.0
//! `gateway_http` pipeline at 026ead0e: rename into `cloudflare_logpush.gateway_network.*`, then
//! `set … copy_from` into ECS), with the field list and the order of the `related.*` appends of
//! the current pipeline (read at 060ee9f8) minus what its changelog added after 1.17.0
//! (application / category / continent / country / virtual network fields, `TransportProtocol`,
//! `SourceInternalIP` in `related.ip` (1.41.0), the converts with `ignore_empty_value` copies
//! (1.32.0 / 1.33.0), `ignore_missing` on the City lookups (1.44.1)). Kept as upstream 1.17.0:
//! a record lacking a copied field, or `DestinationIP` / `SourceIP`, is a `pipeline_error`
//! document.

use super::engine::{Const, CopyMode::Strict, Geo, OnFail, Step::*};
use super::{Era, Spec};

pub static SPEC: Spec = Spec {
    name: "gateway_network",
    dataset: "cloudflare_logpush.gateway_network",
    cloudflare: "gateway_network",
    version: "1.17.0",
    ecs: "8.11.0",
    era: Era::V1_EARLY,
    json_ignore_failure: false,
    steps: &[
        Set("event.category", Const::List(&["network"])),
        Set("event.type", Const::List(&["info"])),
        Set("event.kind", Const::Str("event")),
        ToMilli("json.Datetime"),
        Date("json.Datetime", "@timestamp", OnFail::Append),
        Copy("@timestamp", "cloudflare_logpush.gateway_network.timestamp", Strict),
        Rename("json.Action", "cloudflare_logpush.gateway_network.action"),
        Copy("cloudflare_logpush.gateway_network.action", "event.action", Strict),
        Rename("json.DestinationIP", "cloudflare_logpush.gateway_network.destination.ip"),
        Copy("cloudflare_logpush.gateway_network.destination.ip", "destination.ip", Strict),
        GeoIp(Geo::DESTINATION),
        Rename("json.DestinationPort", "cloudflare_logpush.gateway_network.destination.port"),
        Copy("cloudflare_logpush.gateway_network.destination.port", "destination.port", Strict),
        Rename("json.DeviceID", "cloudflare_logpush.gateway_network.host.id"),
        Copy("cloudflare_logpush.gateway_network.host.id", "host.id", Strict),
        Rename("json.DeviceName", "cloudflare_logpush.gateway_network.host.name"),
        Copy("cloudflare_logpush.gateway_network.host.name", "host.name", Strict),
        Rename("json.SNI", "cloudflare_logpush.gateway_network.sni"),
        Copy("cloudflare_logpush.gateway_network.sni", "tls.client.server_name", Strict),
        Copy("tls.client.server_name", "destination.domain", Strict),
        Rename("json.SessionID", "cloudflare_logpush.gateway_network.session_id"),
        Copy("cloudflare_logpush.gateway_network.session_id", "event.id", Strict),
        Rename("json.SourceIP", "cloudflare_logpush.gateway_network.source.ip"),
        Copy("cloudflare_logpush.gateway_network.source.ip", "source.ip", Strict),
        GeoIp(Geo::SOURCE),
        Rename("json.SourcePort", "cloudflare_logpush.gateway_network.source.port"),
        Copy("cloudflare_logpush.gateway_network.source.port", "source.port", Strict),
        Rename("json.Transport", "cloudflare_logpush.gateway_network.transport"),
        Copy("cloudflare_logpush.gateway_network.transport", "network.transport", Strict),
        Rename("json.UserID", "cloudflare_logpush.gateway_network.user.id"),
        Copy("cloudflare_logpush.gateway_network.user.id", "user.id", Strict),
        Rename("json.Email", "cloudflare_logpush.gateway_network.user.email"),
        Copy("cloudflare_logpush.gateway_network.user.email", "user.email", Strict),
        Rename("json.AccountID", "cloudflare_logpush.gateway_network.account_id"),
        Rename("json.OverrideIP", "cloudflare_logpush.gateway_network.override.ip"),
        Rename("json.OverridePort", "cloudflare_logpush.gateway_network.override.port"),
        Rename("json.PolicyID", "cloudflare_logpush.gateway_network.policy.id"),
        Rename("json.PolicyName", "cloudflare_logpush.gateway_network.policy.name"),
        Rename("json.SourceInternalIP", "cloudflare_logpush.gateway_network.source.internal_ip"),
        Related("related.ip", "cloudflare_logpush.gateway_network.source.ip"),
        Related("related.ip", "cloudflare_logpush.gateway_network.destination.ip"),
        Related("related.ip", "cloudflare_logpush.gateway_network.override.ip"),
        Related("related.hosts", "cloudflare_logpush.gateway_network.sni"),
        Related("related.hosts", "cloudflare_logpush.gateway_network.host.id"),
        Related("related.hosts", "cloudflare_logpush.gateway_network.host.name"),
        Related("related.user", "cloudflare_logpush.gateway_network.user.id"),
        Related("related.user", "cloudflare_logpush.gateway_network.user.email"),
        RemoveJson,
        RemoveDuplicates(&[
            "cloudflare_logpush.gateway_network.timestamp",
            "cloudflare_logpush.gateway_network.action",
            "cloudflare_logpush.gateway_network.destination.ip",
            "cloudflare_logpush.gateway_network.destination.port",
            "cloudflare_logpush.gateway_network.host.id",
            "cloudflare_logpush.gateway_network.host.name",
            "cloudflare_logpush.gateway_network.sni",
            "cloudflare_logpush.gateway_network.session_id",
            "cloudflare_logpush.gateway_network.source.ip",
            "cloudflare_logpush.gateway_network.source.port",
            "cloudflare_logpush.gateway_network.transport",
            "cloudflare_logpush.gateway_network.user.id",
            "cloudflare_logpush.gateway_network.user.email",
        ]),
    ],
};
