//! Authentication (API token or email + global API key) and the endpoints that only check it:
//! `/user/tokens/verify`, `/accounts/{id}/tokens/verify`, `/user`.

use super::{envelope_error, envelope_ok, json_response, unknown_object};
use crate::data::{fnv, mix};
use crate::state::Shared;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

pub(crate) enum Authn {
    Ok,
    Fail(Response),
}

/// Cloudflare's `6003 Invalid request headers` with the header that is malformed.
fn bad_headers(code: i64, message: &str) -> Response {
    let body = json!({"success": false, "errors": [{"code": 6003, "message": "Invalid request headers",
        "error_chain": [{"code": code, "message": message}]}],
        "messages": [], "result": null});
    json_response(StatusCode::BAD_REQUEST, body.to_string())
}

/// Checks the credentials of a request. `verify_endpoint`: the token verify endpoints answer a
/// wrong token with `401 Invalid API Token` instead of `403 Authentication error`.
pub(crate) fn check_auth(s: &Shared, h: &HeaderMap, verify_endpoint: bool) -> Authn {
    let creds = &s.cfg.credentials;
    if let Some(a) = h.get("authorization") {
        let a = a.to_str().unwrap_or("");
        let Some(tok) = a.strip_prefix("Bearer ") else {
            return Authn::Fail(bad_headers(6111, "Invalid format for Authorization header"));
        };
        if creds.tokens.iter().any(|t| t == tok) {
            return Authn::Ok;
        }
        if verify_endpoint {
            return Authn::Fail(envelope_error(
                StatusCode::UNAUTHORIZED,
                1000,
                "Invalid API Token",
            ));
        }
        return Authn::Fail(envelope_error(
            StatusCode::FORBIDDEN,
            10000,
            "Authentication error",
        ));
    }
    let email = h.get("x-auth-email").and_then(|v| v.to_str().ok());
    let key = h.get("x-auth-key").and_then(|v| v.to_str().ok());
    match (email, key) {
        (Some(e), Some(k)) => {
            if creds.keys.iter().any(|(ce, ck)| ce == e && ck == k) {
                Authn::Ok
            } else {
                Authn::Fail(envelope_error(
                    StatusCode::FORBIDDEN,
                    10000,
                    "Authentication error",
                ))
            }
        }
        (Some(_), None) | (None, Some(_)) => {
            Authn::Fail(bad_headers(6103, "Invalid format for X-Auth-Key header"))
        }
        (None, None) => Authn::Fail(envelope_error(
            StatusCode::UNAUTHORIZED,
            10000,
            "Authentication error",
        )),
    }
}

pub(crate) async fn verify(State(s): State<Arc<Shared>>, h: HeaderMap) -> Response {
    let q = HashMap::new();
    if let Authn::Fail(r) = check_auth(&s, &h, true) {
        s.record(&h, "/user/tokens/verify", &q, r.status().as_u16(), None);
        return r;
    }
    if h.get("authorization").is_none() {
        let r = envelope_error(StatusCode::BAD_REQUEST, 1000, "Invalid API Token");
        s.record(&h, "/user/tokens/verify", &q, 400, None);
        return r;
    }
    s.record(&h, "/user/tokens/verify", &q, 200, None);
    envelope_ok(
        json!({"id": format!("{:032x}", mix(s.cfg.seed)), "status": "active", "not_before": null, "expires_on": null}),
        None,
    )
}

pub(crate) async fn verify_account(
    State(s): State<Arc<Shared>>,
    Path(account): Path<String>,
    h: HeaderMap,
) -> Response {
    let path = format!("/accounts/{account}/tokens/verify");
    let q = HashMap::new();
    if s.cfg.account(&account).is_none() {
        s.record(&h, &path, &q, 400, None);
        return unknown_object(&path);
    }
    if h.get("authorization").is_none() {
        s.record(&h, &path, &q, 400, None);
        return envelope_error(StatusCode::BAD_REQUEST, 1000, "Invalid API Token");
    }
    if let Authn::Fail(r) = check_auth(&s, &h, true) {
        s.record(&h, &path, &q, r.status().as_u16(), None);
        return r;
    }
    s.record(&h, &path, &q, 200, None);
    envelope_ok(
        json!({"id": format!("{:032x}", mix(s.cfg.seed ^ fnv(&account))), "status": "active", "not_before": null, "expires_on": null}),
        None,
    )
}

pub(crate) async fn user(State(s): State<Arc<Shared>>, h: HeaderMap) -> Response {
    let q = HashMap::new();
    if let Authn::Fail(r) = check_auth(&s, &h, false) {
        s.record(&h, "/user", &q, r.status().as_u16(), None);
        return r;
    }
    s.record(&h, "/user", &q, 200, None);
    let email = h
        .get("x-auth-email")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("token-user@example.com");
    envelope_ok(
        json!({"id": format!("{:032x}", mix(s.cfg.seed ^ 5)), "email": email}),
        None,
    )
}
