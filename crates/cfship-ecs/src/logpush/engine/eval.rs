//! Running a table: each [`Step`] with Elasticsearch's semantics and failure handling.

use super::*;

/// One `convert` of a value: a list is converted element by element, one level deep (as
/// Elasticsearch's `ConvertProcessor`: a list inside the list is one element, converted from its
/// Java `toString()`).
pub fn convert<'a>(v: &Val<'a>, ty: Ty) -> Result<Val<'a>, String> {
    match v {
        Val::Arr(a) => a
            .iter()
            .map(|x| convert_one(x, ty))
            .collect::<Result<Vec<_>, _>>()
            .map(Val::Arr),
        _ => convert_one(v, ty),
    }
}

/// `ConvertProcessor.Type.convert` of one value (never a list's elements).
fn convert_one<'a>(v: &Val<'a>, ty: Ty) -> Result<Val<'a>, String> {
    // A `null` can only be a list's element here (a null field is handled by the caller): every
    // type but `ip` calls `value.toString()` on it, `ip` hands it to `InetAddresses.forString`,
    // which reads its length; both are the JVM's NullPointerException texts.
    if matches!(v, Val::Null) {
        return Err(if ty == Ty::Ip {
            r#"Cannot invoke "String.length()" because "ipString" is null"#
        } else {
            r#"Cannot invoke "Object.toString()" because "value" is null"#
        }
        .to_string());
    }
    match ty {
        Ty::Long => match v {
            Val::Arr(_) | Val::Obj(_) => {
                crate::convert::es_convert_long(&java_to_string(v)).map(Val::I64)
            }
            _ => to_long(v),
        },
        // `InetAddresses.forString((String) value)`: a value that is not a string fails the
        // cast (the JVM's ClassCastException text), a string that is no IP literal fails the
        // parse.
        Ty::Ip => match v {
            Val::Str(s) if crate::convert::is_ip(s) => Ok(Val::Str(s.clone())),
            Val::Str(s) => Err(format!("'{s}' is not an IP string literal.")),
            other => Err(crate::convert::class_cast_message(
                java_type(other),
                "java.lang.String",
            )),
        },
        // `Float.parseFloat` / `Double.parseDouble` of the value's `toString()` (Java's grammar:
        // trimmed, `Infinity`/`NaN`, an `f`/`d` suffix); the message is the root cause, the
        // NumberFormatException (`For input string: "x"`, `empty String`), not the
        // `unable to convert [v] to double` wrapper.
        Ty::Float | Ty::Double => {
            let parsed = match v {
                Val::I64(i) if ty == Ty::Double => Ok(*i as f64),
                Val::U64(u) if ty == Ty::Double => Ok(*u as f64),
                Val::F64(f) if ty == Ty::Double => Ok(*f),
                other => {
                    let text = java_to_string(other);
                    if ty == Ty::Float {
                        crate::convert::java_parse_float(&text)
                    } else {
                        crate::convert::java_parse_double(&text)
                    }
                }
            }?;
            Ok(crate::convert::java_floating_val(parsed, ty == Ty::Float))
        }
        // `value.toString()`: Java's text of a map (`{k=v}`); lists are converted per element.
        Ty::Str => Ok(match v {
            Val::Str(s) => Val::Str(s.clone()),
            other => Val::Str(Cow::Owned(java_to_string(other))),
        }),
        Ty::Bool => match v {
            Val::Bool(b) => Ok(Val::Bool(*b)),
            other => {
                let s = java_to_string(other);
                if s.eq_ignore_ascii_case("true") {
                    Ok(Val::Bool(true))
                } else if s.eq_ignore_ascii_case("false") {
                    Ok(Val::Bool(false))
                } else {
                    Err(format!(
                        "[{s}] is not a boolean value, cannot convert to boolean"
                    ))
                }
            }
        },
    }
}

/// Runs one step. `Err` = the pipeline fails (a processor without its own handler failed).
pub(super) fn run_step<'a>(ctx: &mut Ctx<'_, 'a>, step: &Step) -> Result<(), Failure> {
    if let Step::Steps(steps) = step {
        return run(ctx, steps);
    }
    match eval(ctx, step) {
        Ok(()) => Ok(()),
        Err((_, OnFail::Ignore)) => Ok(()),
        Err((f, OnFail::Append)) => {
            ctx.append_error(&f);
            Ok(())
        }
        Err((f, OnFail::AppendMessage)) => {
            let _ = ctx
                .doc
                .append("error.message", Val::Str(Cow::Owned(f.message)), true);
            Ok(())
        }
        Err((f, OnFail::Abort)) => Err(f),
    }
}

/// Painless `a != b` on two `def` values: numbers compare by value, everything else by equality.
pub(super) fn painless_ne(a: &Val<'_>, b: &Val<'_>) -> bool {
    let num = |v: &Val<'_>| match v {
        Val::I64(i) => Some(*i as f64),
        Val::U64(u) => Some(*u as f64),
        Val::F64(f) => Some(*f),
        _ => None,
    };
    match (num(a), num(b)) {
        (Some(x), Some(y)) => x != y,
        _ => a != b,
    }
}

pub(super) fn spellings<'a>(
    ctx: &mut Ctx<'_, 'a>,
    new: &'static str,
    old: &'static str,
    to: &'static str,
) -> Result<(), (Failure, OnFail)> {
    let usable = |v: Option<&Val<'_>>| !matches!(v, None | Some(Val::Null)) && !is_empty_str(v);
    if usable(ctx.get(new)) {
        eval(ctx, &Step::Rename(new, to))?;
    }
    let to_present = ctx.has(to);
    if to_present && usable(ctx.get(old)) {
        let differs = match (ctx.get(old), ctx.get(to)) {
            (Some(o), Some(t)) => painless_ne(o, t),
            _ => false,
        };
        if differs {
            let s = ctx.get(old).map(mustache).unwrap_or_default();
            ctx.append(to, Val::Str(Cow::Owned(s)))
                .map_err(|m| (Failure::new("append", "", m), OnFail::Abort))?;
        }
    }
    if !ctx.has(to) && usable(ctx.get(old)) {
        eval(ctx, &Step::Rename(old, to))?;
    }
    Ok(())
}

pub(super) fn community_id_step(ctx: &mut Ctx<'_, '_>) -> Result<(), String> {
    let get = |p: &str| ctx.doc.get_path(p).filter(|v| !matches!(v, Val::Null));
    let flow = crate::community_id::FlowFields {
        source_ip: get("source.ip"),
        destination_ip: get("destination.ip"),
        iana_number: get("network.iana_number"),
        transport: get("network.transport"),
        source_port: get("source.port"),
        destination_port: get("destination.port"),
        icmp_type: get("icmp.type"),
        icmp_code: get("icmp.code"),
    };
    if let Some(id) = crate::community_id::community_id(&flow, 0)? {
        ctx.set("network.community_id", Val::Str(Cow::Owned(id)))?;
    }
    Ok(())
}

pub(super) fn convert_step<'a>(
    ctx: &mut Ctx<'_, 'a>,
    from: &'static str,
    to: &'static str,
    ty: Ty,
    on_fail: OnFail,
    skip_empty: bool,
) -> Result<(), (Failure, OnFail)> {
    match ctx.get(from) {
        None | Some(Val::Null) => Ok(()),
        Some(v) if skip_empty && is_empty_str(Some(v)) => Ok(()),
        Some(v) => match convert(v, ty) {
            Ok(c) => ctx
                .set(to, c)
                .map_err(|m| (Failure::new("convert", "", m), on_fail)),
            Err(m) => Err((Failure::new("convert", "", m), on_fail)),
        },
    }
}

/// One step's outcome before its failure handling.
pub(super) fn eval<'a>(ctx: &mut Ctx<'_, 'a>, step: &Step) -> Result<(), (Failure, OnFail)> {
    match *step {
        Step::Set(path, c) => {
            let v = match c {
                Const::Str(s) => Val::str(s),
                Const::List(l) => Val::Arr(l.iter().map(|s| Val::str(*s)).collect()),
            };
            ctx.set(path, v)
                .map_err(|m| (Failure::new("set", "", m), OnFail::Abort))
        }
        Step::AppendIf(path, value, cond) => {
            if ctx.cond(cond) {
                ctx.append(path, Val::str(value))
                    .map_err(|m| (Failure::new("append", "", m), OnFail::Abort))
            } else {
                Ok(())
            }
        }
        Step::ToMilli(path) => {
            if let Some(ms) = ctx.get(path).and_then(to_milli) {
                // The script's assignment cannot fail on a field that exists.
                let _ = ctx.set(path, Val::I64(ms));
            }
            Ok(())
        }
        Step::Date(field, target, on_fail) => {
            let v = ctx.get(field);
            if v.is_none() || matches!(v, Some(Val::Null)) || is_empty_str(v) {
                Ok(())
            } else {
                // Elasticsearch's `date` processor parses the field's `toString()`.
                let text = v.map(java_to_string).unwrap_or_default();
                match parse_logpush_date(&text) {
                    Ok(i) => ctx
                        .set(target, Val::Str(Cow::Owned(i.format())))
                        .map_err(|m| (Failure::new("date", "", m), on_fail)),
                    Err(m) => Err((Failure::new("date", "", m), on_fail)),
                }
            }
        }
        Step::Rename(from, to) => match ctx.take(from) {
            None => Ok(()),
            Some(v) => match ctx.set_new(to, v) {
                Ok(true) => Ok(()),
                Ok(false) => Err((
                    Failure::new("rename", "", format!("field [{to}] already exists")),
                    OnFail::Abort,
                )),
                Err(m) => Err((Failure::new("rename", "", m), OnFail::Abort)),
            },
        },
        Step::Convert(from, to, ty, on_fail) => convert_step(ctx, from, to, ty, on_fail, true),
        Step::ConvertAll(from, to, ty, on_fail) => convert_step(ctx, from, to, ty, on_fail, false),
        Step::Copy(from, to, mode) => match (ctx.get(from), mode) {
            (None, CopyMode::Strict) => Err((
                Failure::new("set", "", ctx.missing_message(from)),
                OnFail::Abort,
            )),
            (None, _) => Ok(()),
            (Some(Val::Null), CopyMode::IgnoreEmpty) => Ok(()),
            (Some(v), CopyMode::IgnoreEmpty) if is_empty_str(Some(v)) => Ok(()),
            (Some(v), _) => {
                let v = v.clone();
                ctx.set(to, v).map_err(|m| {
                    let on = if mode == CopyMode::IgnoreFailure {
                        OnFail::Ignore
                    } else {
                        OnFail::Abort
                    };
                    (Failure::new("set", "", m), on)
                })
            }
        },
        Step::CopyIfAbsent(from, to) => {
            if ctx.has(to) {
                Ok(())
            } else {
                match ctx.get(from) {
                    None | Some(Val::Null) => Ok(()),
                    Some(v) if is_empty_str(Some(v)) => Ok(()),
                    Some(v) => {
                        let v = v.clone();
                        ctx.set(to, v)
                            .map_err(|m| (Failure::new("set", "", m), OnFail::Abort))
                    }
                }
            }
        }
        Step::Lowercase(path) => string_case(ctx, path, "lowercase", str::to_lowercase),
        Step::UserAgent(path) => match ctx.get(path) {
            None | Some(Val::Null) => Ok(()),
            Some(v) if is_empty_str(Some(v)) => Ok(()),
            Some(Val::Str(s)) => {
                let s = s.clone();
                let t = ctx.t;
                t.user_agent_into(&mut ctx.doc, s);
                Ok(())
            }
            Some(other) => Err((
                Failure::new(
                    "user_agent",
                    "",
                    format!(
                        "field [{path}] of type [{}] cannot be cast to [java.lang.String]",
                        java_type(other)
                    ),
                ),
                OnFail::Abort,
            )),
        },
        Step::UriParts(path, keep_original, on_fail) => match ctx.get(path) {
            None | Some(Val::Null) => Ok(()),
            Some(v) => {
                let v = v.clone();
                let text = v.to_display_string();
                match crate::uri::uri_parts(&text) {
                    Ok(p) => {
                        let url = crate::uri::url_object(p, keep_original.then_some(v));
                        ctx.doc.insert("url", Val::Obj(url));
                        Ok(())
                    }
                    Err(e) => Err((Failure::new("uri_parts", "", e.to_string()), on_fail)),
                }
            }
        },
        Step::GeoIp(g) => geoip(ctx, g).map_err(|f| (f, OnFail::Abort)),
        Step::Related(path, from) => match ctx.get(from) {
            None | Some(Val::Null) => Ok(()),
            Some(v) => {
                let s = mustache(v);
                ctx.append(path, Val::Str(Cow::Owned(s)))
                    .map_err(|m| (Failure::new("append", "", m), OnFail::Abort))
            }
        },
        Step::Script(tag, f, on_fail) => {
            f(ctx).map_err(|m| (Failure::new("script", tag, m), on_fail))
        }
        Step::Custom(kind, tag, f, on_fail) => {
            f(ctx).map_err(|m| (Failure::new(kind, tag, m), on_fail))
        }
        Step::If(inner) => eval(ctx, inner).map_err(|(mut f, o)| {
            f.processor = "conditional";
            (f, o)
        }),
        Step::UserAgentAll(path) => match ctx.get(path) {
            None | Some(Val::Null) => Ok(()),
            Some(Val::Str(s)) => {
                let s = s.clone();
                let t = ctx.t;
                t.user_agent_into(&mut ctx.doc, s);
                Ok(())
            }
            Some(_) => eval(ctx, &Step::UserAgent(path)),
        },
        Step::Tagged(tag, inner) => eval(ctx, inner).map_err(|(mut f, o)| {
            f.tag = tag;
            (f, o)
        }),
        Step::RenameIfAbsent(from, to) => {
            // `rename … if: ctx.<to> == null`: a failure of the rename is the `conditional`'s.
            if ctx.has(to) {
                Ok(())
            } else {
                eval(ctx, &Step::Rename(from, to)).map_err(|(mut f, o)| {
                    f.processor = "conditional";
                    (f, o)
                })
            }
        }
        Step::Uppercase(path) => string_case(ctx, path, "uppercase", str::to_uppercase),

        Step::RemoveJson => {
            ctx.json = None;
            ctx.doc.remove("_conf");
            Ok(())
        }
        Step::Spellings(new, old, to) => spellings(ctx, new, old, to),
        Step::CommunityId(on_fail) => {
            community_id_step(ctx).map_err(|m| (Failure::new("community_id", "", m), on_fail))
        }
        Step::RemoveDuplicates(list) => {
            if !ctx.keep_duplicates {
                for p in list {
                    ctx.take(p);
                }
            }
            Ok(())
        }
        // Inside `Tagged` (the only way `eval` meets it): the first failure stops the sequence.
        Step::Steps(steps) => run(ctx, steps).map_err(|f| (f, OnFail::Abort)),
    }
}

/// `geoip` on a list (Elasticsearch 8, `first_only: true`), for each of the two processors (City,
/// then ASN): the elements in order, each must be a string (`array in field [f] should only
/// contain strings`) and an IP literal, and the first with data wins — elements after it are not
/// looked at.
fn geoip_list(ctx: &mut Ctx<'_, '_>, g: Geo, items: &[Val<'_>]) -> Result<(), Failure> {
    let addr = |it: &Val<'_>| -> Result<std::net::IpAddr, Failure> {
        let Val::Str(s) = it else {
            return Err(Failure::new(
                "geoip",
                "",
                format!("array in field [{}] should only contain strings", g.ip),
            ));
        };
        s.parse()
            .map_err(|_| Failure::new("geoip", "", format!("'{s}' is not an IP string literal.")))
    };
    let mut city = None;
    for it in items {
        if let Some(o) = ctx.t.geo_city(addr(it)?).map(|g| g.to_obj()) {
            if !o.is_empty() {
                city = Some(o);
                break;
            }
        }
    }
    if let Some(o) = city {
        ctx.set(g.geo, Val::Obj(o))
            .map_err(|m| Failure::new("geoip", "", m))?;
    }
    let mut found = None;
    for it in items {
        if let Some(asn) = ctx.t.geo_asn(addr(it)?) {
            if asn.number.is_some() || asn.organization_name.is_some() {
                found = Some(asn);
                break;
            }
        }
    }
    match found {
        Some(asn) => set_asn(ctx, g, &asn),
        None => Ok(()),
    }
}

/// The `asn` database's fields of a hit: the number and the organisation, each when present.
fn set_asn(ctx: &mut Ctx<'_, '_>, g: Geo, asn: &crate::geoip::Asn) -> Result<(), Failure> {
    if let Some(n) = asn.number {
        ctx.set(g.as_number, Val::I64(i64::from(n)))
            .map_err(|m| Failure::new("geoip", "", m))?;
    }
    if let Some(o) = &asn.organization_name {
        ctx.set(g.as_org, Val::Str(Cow::Owned(o.clone())))
            .map_err(|m| Failure::new("geoip", "", m))?;
    }
    Ok(())
}

pub(super) fn geoip(ctx: &mut Ctx<'_, '_>, g: Geo) -> Result<(), Failure> {
    let ip = match ctx.get(g.ip) {
        None | Some(Val::Null) if g.ignore_missing => return Ok(()),
        None => return Err(Failure::new("geoip", "", ctx.missing_message(g.ip))),
        Some(Val::Null) => {
            return Err(Failure::new(
                "geoip",
                "",
                format!(
                    "field [{}] is null, cannot extract geoip information.",
                    g.ip
                ),
            ))
        }
        Some(Val::Str(s)) => s.to_string(),
        Some(Val::Arr(a)) => {
            let a = a.clone();
            return geoip_list(ctx, g, &a);
        }
        Some(_) => {
            return Err(Failure::new(
                "geoip",
                "",
                format!(
                    "field [{}] should contain only string or array of strings",
                    g.ip
                ),
            ))
        }
    };
    let addr: std::net::IpAddr = ip
        .parse()
        .map_err(|_| Failure::new("geoip", "", format!("'{ip}' is not an IP string literal.")))?;
    if let Some(geo) = ctx.t.geo_city(addr) {
        let o = geo.to_obj();
        if !o.is_empty() {
            ctx.set(g.geo, Val::Obj(o))
                .map_err(|m| Failure::new("geoip", "", m))?;
        }
    }
    match ctx.t.geo_asn(addr) {
        Some(asn) => set_asn(ctx, g, &asn),
        None => Ok(()),
    }
}

/// Runs a table. `Err` = the failure that stopped the pipeline.
pub fn run<'a>(ctx: &mut Ctx<'_, 'a>, steps: &[Step]) -> Result<(), Failure> {
    for s in steps {
        run_step(ctx, s)?;
    }
    Ok(())
}

/// The 2.x "drop empty" script: like [`Obj::clean`], and the string `"N/A"` is removed from maps
/// (not from lists).
pub fn clean_na(o: &mut Obj<'_>) -> bool {
    fn val(v: &mut Val<'_>, in_map: bool) -> bool {
        match v {
            Val::Null => true,
            Val::Str(s) => s.is_empty() || (in_map && s == "N/A"),
            Val::Arr(a) => {
                a.retain_mut(|x| !val(x, false));
                a.is_empty()
            }
            Val::Obj(o) => clean_na(o),
            _ => false,
        }
    }
    o.retain(|v| !val(v, true));
    o.is_empty()
}

/// `lowercase` / `uppercase` with `ignore_missing` (Elasticsearch's `AbstractStringProcessor`): a
/// string is changed; a list is changed element by element (each must be a string: `value [v] of
/// type [T] in list field [f] cannot be cast to [java.lang.String]`); anything else fails with
/// `field [f] of type [T] cannot be cast to [java.lang.String]`.
fn string_case(
    ctx: &mut Ctx<'_, '_>,
    path: &'static str,
    kind: &'static str,
    f: fn(&str) -> String,
) -> Result<(), (Failure, OnFail)> {
    let fail = |m: String| (Failure::new(kind, "", m), OnFail::Abort);
    let new = match ctx.get(path) {
        None | Some(Val::Null) => return Ok(()),
        Some(Val::Str(s)) => {
            let c = f(s);
            if c == **s {
                return Ok(());
            }
            Val::Str(Cow::Owned(c))
        }
        Some(Val::Arr(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for x in items {
                match x {
                    Val::Str(s) => out.push(Val::Str(Cow::Owned(f(s)))),
                    other => {
                        return Err(fail(format!(
                            "value [{}] of type [{}] in list field [{path}] cannot be cast to [java.lang.String]",
                            java_to_string(other),
                            java_type(other)
                        )))
                    }
                }
            }
            Val::Arr(out)
        }
        Some(other) => {
            return Err(fail(format!(
                "field [{path}] of type [{}] cannot be cast to [java.lang.String]",
                java_type(other)
            )))
        }
    };
    ctx.set(path, new).map_err(fail)
}
