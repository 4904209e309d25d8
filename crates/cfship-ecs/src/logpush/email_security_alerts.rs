//! `email_security_alerts` (Cloudflare `email_security_alerts`): package 1.46.1 – 1.47.x (ECS
//! 9.3.0; ECS `email.attachments`, so ≥ 1.46.1 [unverified which release]). The table is the
//! pipeline
//! `packages/cloudflare_logpush/data_stream/email_security_alerts/elasticsearch/ingest_pipeline/default.yml`
//! at `175ad79841772037e81dde28549651a3139943e6` (elastic/integrations, 23,093 characters, the commit
//! of the test documents), processor by processor. Its messages are the quoted format
//! (`Processor '<type>' with tag '<tag>' failed with message '<message>'`) everywhere
//! ([`Era::V1_QUOTED`]); the `json` processor ignores failures.
//!
//! Upstream behaviour kept: the City lookup on `server.ip` has no `ignore_missing`, so a record
//! without `SMTPHeloServerIP` is a `pipeline_error` document; `related.hosts` and `related.hash`
//! are Painless `HashSet`s, so they come out in Java's hash order and the drop-empty script leaves
//! them alone (an empty set stays `[]`, a link without a domain leaves `""`); `server.domain` is the
//! HELO name only when it is not an IP address; `event.kind` is `alert` for any final disposition
//! but `unset`. `_tmp.links` (the links' URL parts) is not kept in the document: only a failure
//! after it (the City lookup) would show it upstream.

use super::engine::{
    mustache, Const, CopyMode::IgnoreEmpty, Ctx, Geo, OnFail, Step::*, Ty,
};
use super::{Era, Spec};
use crate::doc::{Obj, Val};
use std::borrow::Cow;

const E: &str = "cloudflare_logpush.email_security_alerts";
const A: OnFail = OnFail::Append;
const X: OnFail = OnFail::Abort;

fn get<'c, 'a>(ctx: &'c Ctx<'_, 'a>, leaf: &str) -> Option<&'c Val<'a>> {
    ctx.doc
        .get_path(E)
        .and_then(Val::as_obj)
        .and_then(|o| o.get(leaf))
        .filter(|v| !matches!(v, Val::Null))
}

/// `append { field: email.to.address, value: '{{{…to}}}', if: to instanceof String }` and
/// `foreach { field: …to, if: to instanceof List, append email.to.address '{{{_ingest._value}}}' }`.
fn to_address(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    let items: Vec<String> = match get(ctx, "to") {
        Some(Val::Str(s)) => vec![s.to_string()],
        Some(Val::Arr(a)) => a.iter().map(mustache).collect(),
        _ => return Ok(()),
    };
    for s in items {
        ctx.append("email.to.address", Val::Str(Cow::Owned(s)))?;
    }
    Ok(())
}

/// `set event.kind: alert if final_disposition != null && final_disposition != 'unset'`.
fn kind_alert(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    match get(ctx, "final_disposition") {
        None => Ok(()),
        Some(Val::Str(s)) if s == "unset" => Ok(()),
        Some(_) => ctx.set("event.kind", Val::str("alert")),
    }
}

/// The `related.user` appends: `from`, `from_name`, `smtp_envelope_from` (if not null and not
/// `''`), `original_sender`, `reply_to_name`, `reply_to` (if not null), then one `foreach` each
/// over the lists `to`, `smtp_envelope_to`, `to_name`, `cc`, `cc_name`.
fn related_user(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    let mut users: Vec<String> = Vec::new();
    for (leaf, skip_empty) in [
        ("from", true),
        ("from_name", true),
        ("smtp_envelope_from", true),
        ("original_sender", false),
        ("reply_to_name", false),
        ("reply_to", false),
    ] {
        match get(ctx, leaf) {
            Some(Val::Str(s)) if skip_empty && s.is_empty() => {}
            Some(v) => users.push(mustache(v)),
            None => {}
        }
    }
    for leaf in ["to", "smtp_envelope_to", "to_name", "cc", "cc_name"] {
        if let Some(Val::Arr(a)) = get(ctx, leaf) {
            users.extend(a.iter().map(mustache));
        }
    }
    for u in users {
        ctx.append("related.user", Val::Str(Cow::Owned(u)))?;
    }
    Ok(())
}

/// `convert { field: server.address, target_field: _tmp.server_ip, type: ip, ignore_missing }`
/// whose failure handler sets `server.domain` from `server.address` (a HELO name that is not an
/// IP address).
fn server_domain(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    let Some(v) = ctx.get("server.address").filter(|v| !matches!(v, Val::Null)) else {
        return Ok(());
    };
    if super::engine::convert(v, Ty::Ip).is_err() && !matches!(v, Val::Str(s) if s.is_empty()) {
        let v = v.clone();
        ctx.set("server.domain", v)?;
    }
    Ok(())
}

/// `set _tmp.links copy_from links`, then two `foreach` over it (if a list): `uri_parts` of each
/// link in place (its failure appended, the link left as text), and `append related.hosts
/// '{{{_ingest._value.domain}}}'` (nothing to render gives `""`).
fn links(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    let Some(Val::Arr(links)) = get(ctx, "links") else {
        return Ok(());
    };
    let links: Vec<Val<'_>> = links.iter().map(|v| v.clone().into_owned()).collect();
    let mut hosts = Vec::with_capacity(links.len());
    for link in &links {
        let domain = match link {
            Val::Null => String::new(),
            v => {
                let parsed = match v {
                    Val::Str(text) => crate::uri::uri_parts(text).map_err(|e| e.to_string()),
                    other => Err(format!(
                        "field [_ingest._value] of type [{}] cannot be cast to [java.lang.String]",
                        crate::convert::java_type(other)
                    )),
                };
                match parsed {
                    Ok(p) => p.domain.map(|d| d.into_owned()).unwrap_or_default(),
                    Err(message) => {
                        let f = super::engine::Failure {
                            processor: "uri_parts",
                            tag: "uri_parts_links",
                            message,
                        };
                        let m = f.processor_message(&ctx.spec.era, &ctx.pipeline);
                        let _ = ctx
                            .doc
                            .append("error.message", Val::Str(Cow::Owned(m)), true);
                        String::new()
                    }
                }
            }
        };
        hosts.push(domain);
    }
    for h in hosts {
        ctx.append("related.hosts", Val::Str(Cow::Owned(h)))?;
    }
    Ok(())
}

/// `script_45dae815` (`if: related.user instanceof List || server.domain != null`): a HashSet of
/// `related.hosts`, `server.domain` and the part after `@` of each `related.user` of 3+
/// characters with exactly one `@`, written back to `related.hosts`.
fn hosts_set(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    let users = match ctx.get("related.user") {
        Some(Val::Arr(a)) => Some(a.clone()),
        _ => None,
    };
    let domain = ctx
        .get("server.domain")
        .filter(|v| !matches!(v, Val::Null))
        .cloned();
    if users.is_none() && domain.is_none() {
        return Ok(());
    }
    let mut set: Vec<Val<'_>> = Vec::new();
    if let Some(Val::Arr(h)) = ctx.get("related.hosts") {
        set.extend(h.iter().cloned());
    }
    set.extend(domain);
    for u in users.iter().flatten() {
        let Val::Str(u) = u else { continue };
        if u.encode_utf16().count() < 3 {
            continue;
        }
        let parts: Vec<&str> = u.split('@').collect();
        if parts.len() != 2 {
            continue;
        }
        set.push(Val::Str(Cow::Owned(parts[1].to_string())));
    }
    if !matches!(ctx.get("related"), Some(Val::Obj(_))) {
        // `ctx.related.hosts = …` on a missing `related` (no user, only a HELO domain).
        return Err("Cannot invoke \"Object.getClass()\" because \"callArgs[0]\" is null".into());
    }
    ctx.set_java_set("related.hosts", set)
}

/// `script_218079c2` (`if: attachments instanceof List`): `file` (one entry per attachment: name,
/// the computed MIME type, the hashes present), `email.attachments` (`{file}` each, if any) and
/// `related.hash` (a HashSet of every hash).
fn attachments(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    let Some(Val::Arr(list)) = get(ctx, "attachments") else {
        return Ok(());
    };
    let list: Vec<Val<'_>> = list.iter().map(|v| v.clone().into_owned()).collect();
    const HASHES: [(&str, &str); 6] = [
        ("Md5", "md5"),
        ("Sha1", "sha1"),
        ("Sha256", "sha256"),
        ("Sha384", "sha384"),
        ("Sha512", "sha512"),
        ("Ssdeep", "ssdeep"),
    ];
    let mut files = Vec::with_capacity(list.len());
    let mut email_attachments = Vec::with_capacity(list.len());
    let mut hashes: Vec<Val<'_>> = Vec::new();
    for a in &list {
        // Painless `a.Name` on an element that is not a map.
        let Val::Obj(a) = a else {
            return Err(match a {
                Val::Null => "cannot access method/field [Name] from a null def reference".into(),
                Val::Arr(_) => "Illegal list shortcut value [Name].".into(),
                other => format!(
                    "dynamic getter [{}, Name] not found",
                    crate::convert::java_type(other)
                ),
            });
        };
        let present = |k: &str| a.get(k).filter(|v| !matches!(v, Val::Null)).cloned();
        let mut f = Obj::with_capacity(3);
        if let Some(v) = present("Name") {
            f.insert("name", v);
        }
        if let Some(v) = present("ContentTypeComputed") {
            f.insert("mime_type", v);
        }
        let mut fh = Obj::with_capacity(4);
        for (from, to) in HASHES {
            if let Some(v) = present(from) {
                fh.insert(to, v);
            }
        }
        // `fh` is a HashMap: its values reach the set in the map's own order.
        let keys: Vec<Val<'_>> = fh.iter().map(|(k, _)| Val::Str(Cow::Owned(k.to_string()))).collect();
        for k in super::engine::java_hash_set_order(keys) {
            if let Some(v) = k.as_str().and_then(|k| fh.get(k)) {
                hashes.push(v.clone());
            }
        }
        if !fh.is_empty() {
            f.insert("hash", Val::Obj(fh));
        }
        let mut efa = Obj::with_capacity(1);
        efa.insert("file", Val::Obj(f.clone()));
        files.push(Val::Obj(f));
        email_attachments.push(Val::Obj(efa));
    }
    ctx.set("file", Val::Arr(files))?;
    if !email_attachments.is_empty() {
        ctx.set("email.attachments", Val::Arr(email_attachments))?;
    }
    ctx.set_java_set("related.hash", hashes)
}

pub static SPEC: Spec = Spec {
    name: "email_security_alerts",
    dataset: "cloudflare_logpush.email_security_alerts",
    cloudflare: "email_security_alerts",
    version: "1.46.1",
    ecs: "9.3.0",
    era: Era::V1_QUOTED,
    json_ignore_failure: true,
    steps: &[
        Tagged("set_event_category_52cf4ba2", &Set("event.category", Const::List(&["email", "network"]))),
        Tagged("set_event_kind_de80643c", &Set("event.kind", Const::Str("event"))),
        Tagged("set_event_type_ec95f7f2", &Set("event.type", Const::List(&["info"]))),
        ToMilli("json.Timestamp"),
        Tagged("date_json_Timestamp_a965763d", &Date("json.Timestamp", "@timestamp", A)),
        Tagged("set_cloudflare_logpush_email_security_alerts_timestamp_c2f86b60", &Copy("@timestamp", "cloudflare_logpush.email_security_alerts.timestamp", IgnoreEmpty)),
        Tagged("rename_json_AlertID_to_cloudflare_logpush_email_security_alerts_alert_id_97d97274", &Rename("json.AlertID", "cloudflare_logpush.email_security_alerts.alert_id")),
        Tagged("rename_json_AlertReasons_to_cloudflare_logpush_email_security_alerts_alert_reasons_2fb8abf0", &Rename("json.AlertReasons", "cloudflare_logpush.email_security_alerts.alert_reasons")),
        Tagged("rename_json_Attachments_to_cloudflare_logpush_email_security_alerts_attachments_8e776cc3", &Rename("json.Attachments", "cloudflare_logpush.email_security_alerts.attachments")),
        Tagged("rename_json_CC_to_cloudflare_logpush_email_security_alerts_cc_57428a37", &Rename("json.CC", "cloudflare_logpush.email_security_alerts.cc")),
        Tagged("set_email_cc_address_from_cc", &Copy("cloudflare_logpush.email_security_alerts.cc", "email.cc.address", IgnoreEmpty)),
        Tagged("rename_json_CCName_to_cloudflare_logpush_email_security_alerts_cc_name_4557bc82", &Rename("json.CCName", "cloudflare_logpush.email_security_alerts.cc_name")),
        Tagged("rename_json_FinalDisposition_to_cloudflare_logpush_email_security_alerts_final_disposition_395b5850", &Rename("json.FinalDisposition", "cloudflare_logpush.email_security_alerts.final_disposition")),
        Tagged("rename_json_From_to_cloudflare_logpush_email_security_alerts_from_fb9cca97", &Rename("json.From", "cloudflare_logpush.email_security_alerts.from")),
        Tagged("append_email_from_address_385809de", &Related("email.from.address", "cloudflare_logpush.email_security_alerts.from")),
        Tagged("rename_json_FromName_to_cloudflare_logpush_email_security_alerts_from_name_ec6c39de", &Rename("json.FromName", "cloudflare_logpush.email_security_alerts.from_name")),
        Tagged("rename_json_Links_to_cloudflare_logpush_email_security_alerts_links_c0d5311f", &Rename("json.Links", "cloudflare_logpush.email_security_alerts.links")),
        Tagged("rename_json_MessageDeliveryMode_to_cloudflare_logpush_email_security_alerts_message_delivery_mode_bdce12b1", &Rename("json.MessageDeliveryMode", "cloudflare_logpush.email_security_alerts.message_delivery_mode")),
        Tagged("rename_json_MessageID_to_cloudflare_logpush_email_security_alerts_message_id_db845350", &Rename("json.MessageID", "cloudflare_logpush.email_security_alerts.message_id")),
        Tagged("set_email_message_id_from_message_id", &Copy("cloudflare_logpush.email_security_alerts.message_id", "email.message_id", IgnoreEmpty)),
        Tagged("rename_json_Origin_to_cloudflare_logpush_email_security_alerts_origin_0d91ddaf", &Rename("json.Origin", "cloudflare_logpush.email_security_alerts.origin")),
        Tagged("rename_json_OriginalSender_to_cloudflare_logpush_email_security_alerts_original_sender_c6da8814", &Rename("json.OriginalSender", "cloudflare_logpush.email_security_alerts.original_sender")),
        Tagged("rename_json_ReplyTo_to_cloudflare_logpush_email_security_alerts_reply_to_0912c860", &Rename("json.ReplyTo", "cloudflare_logpush.email_security_alerts.reply_to")),
        Tagged("append_reply_to_address_into_email_reply_to_address", &Related("email.reply_to.address", "cloudflare_logpush.email_security_alerts.reply_to")),
        Tagged("rename_json_ReplyToName_to_cloudflare_logpush_email_security_alerts_reply_to_name_67e356fb", &Rename("json.ReplyToName", "cloudflare_logpush.email_security_alerts.reply_to_name")),
        Tagged("rename_json_SMTPEnvelopeFrom_to_cloudflare_logpush_email_security_alerts_smtp_envelope_from_3d667d21", &Rename("json.SMTPEnvelopeFrom", "cloudflare_logpush.email_security_alerts.smtp_envelope_from")),
        Tagged("rename_json_SMTPEnvelopeTo_to_cloudflare_logpush_email_security_alerts_smtp_envelope_to_78d640cb", &Rename("json.SMTPEnvelopeTo", "cloudflare_logpush.email_security_alerts.smtp_envelope_to")),
        Tagged("convert_smtp_helo_server_ip", &ConvertAll("json.SMTPHeloServerIP", "cloudflare_logpush.email_security_alerts.smtp_helo_server_ip", Ty::Ip, A)),
        Tagged("rename_json_SMTPHeloServerIPAsName_to_cloudflare_logpush_email_security_alerts_smtp_helo_server_ip_as_name_b961a980", &Rename("json.SMTPHeloServerIPAsName", "cloudflare_logpush.email_security_alerts.smtp_helo_server_ip_as_name")),
        Tagged("rename_json_SMTPHeloServerIPAsNumber_to_cloudflare_logpush_email_security_alerts_smtp_helo_server_ip_as_number_65e39794", &Rename("json.SMTPHeloServerIPAsNumber", "cloudflare_logpush.email_security_alerts.smtp_helo_server_ip_as_number")),
        Tagged("rename_json_SMTPHeloServerIPGeo_to_cloudflare_logpush_email_security_alerts_smtp_helo_server_ip_geo_ec006311", &Rename("json.SMTPHeloServerIPGeo", "cloudflare_logpush.email_security_alerts.smtp_helo_server_ip_geo")),
        Tagged("rename_json_SMTPHeloServerName_to_cloudflare_logpush_email_security_alerts_smtp_helo_server_name_9f512ad6", &Rename("json.SMTPHeloServerName", "cloudflare_logpush.email_security_alerts.smtp_helo_server_name")),
        Tagged("rename_json_Subject_to_cloudflare_logpush_email_security_alerts_subject_5da0dbf7", &Rename("json.Subject", "cloudflare_logpush.email_security_alerts.subject")),
        Tagged("set_email_subject_from_subject", &Copy("cloudflare_logpush.email_security_alerts.subject", "email.subject", IgnoreEmpty)),
        Tagged("rename_json_ThreatCategories_to_cloudflare_logpush_email_security_alerts_threat_categories_c839555e", &Rename("json.ThreatCategories", "cloudflare_logpush.email_security_alerts.threat_categories")),
        Tagged("rename_json_To_to_cloudflare_logpush_email_security_alerts_to_4cac6e15", &Rename("json.To", "cloudflare_logpush.email_security_alerts.to")),
        If(&Custom("append", "append_email_to_address_from_to", to_address, X)),
        Tagged("rename_json_ToName_to_cloudflare_logpush_email_security_alerts_to_name_4d463964", &Rename("json.ToName", "cloudflare_logpush.email_security_alerts.to_name")),
        If(&Custom("set", "set_event_kind_ca27f3f7", kind_alert, X)),
        If(&Custom("append", "append_related_user_fcaf8dbe", related_user, X)),
        Tagged("set_server_address_b86252fa", &Copy("cloudflare_logpush.email_security_alerts.smtp_helo_server_name", "server.address", IgnoreEmpty)),
        Custom("convert", "convert_smtp_helo_server_name_ip", server_domain, X),
        If(&Custom("foreach", "foreach__tmp_links_33149570", links, X)),
        If(&Script("script_45dae815", hosts_set, X)),
        Tagged("set_server_ip_2b83be7f", &Copy("cloudflare_logpush.email_security_alerts.smtp_helo_server_ip", "server.ip", IgnoreEmpty)),
        Tagged("append_related_ip_c3acf835", &Related("related.ip", "server.ip")),
        Tagged("geoip_server_ip_to_server_geo_bc3fd9f9", &GeoIp(Geo::SERVER)),
        If(&Script("script_218079c2", attachments, X)),
        RemoveJson,
        RemoveDuplicates(&[
            "cloudflare_logpush.email_security_alerts.timestamp",
            "cloudflare_logpush.email_security_alerts.smtp_helo_server_ip",
            "cloudflare_logpush.email_security_alerts.from",
            "cloudflare_logpush.email_security_alerts.to",
            "cloudflare_logpush.email_security_alerts.cc",
            "cloudflare_logpush.email_security_alerts.subject",
            "cloudflare_logpush.email_security_alerts.message_id",
            "cloudflare_logpush.email_security_alerts.reply_to",
        ]),
    ],
};
