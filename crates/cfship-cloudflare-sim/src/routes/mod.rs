//! The HTTP routes, one module per API: [`auth`] (token verify, user), [`logpull`] (received logs,
//! fields, retention flag) and [`audit`] (audit logs v1 and v2), plus the envelope responses they
//! share.

// Validation returns the error `Response` to send (the cold path; boxing it buys nothing here).
#[allow(clippy::result_large_err)]
mod audit;
mod auth;
#[allow(clippy::result_large_err)]
mod logpull;

use crate::state::Shared;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde_json::json;
use std::collections::HashMap;
use std::sync::Arc;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/client/v4/user/tokens/verify", get(auth::verify))
        .route("/client/v4/user", get(auth::user))
        .route(
            "/client/v4/accounts/{account}/tokens/verify",
            get(auth::verify_account),
        )
        .route(
            "/client/v4/zones/{zone}/logs/received",
            get(logpull::logpull),
        )
        .route(
            "/client/v4/zones/{zone}/logs/received/fields",
            get(logpull::fields),
        )
        .route(
            "/client/v4/zones/{zone}/logs/control/retention/flag",
            get(logpull::retention),
        )
        .route(
            "/client/v4/accounts/{account}/audit_logs",
            get(audit::audit_v1),
        )
        .route(
            "/client/v4/accounts/{account}/logs/audit",
            get(audit::audit_v2),
        )
        .fallback(fallback)
        .with_state(shared)
}

pub(crate) fn json_response(status: StatusCode, body: String) -> Response {
    (status, [("content-type", "application/json")], body).into_response()
}

/// A Cloudflare error envelope with one error.
pub(crate) fn envelope_error(status: StatusCode, code: i64, message: &str) -> Response {
    let body = json!({"success": false, "errors": [{"code": code, "message": message}], "messages": [], "result": null});
    json_response(status, body.to_string())
}

/// A success envelope.
pub(crate) fn envelope_ok(
    result: serde_json::Value,
    result_info: Option<serde_json::Value>,
) -> Response {
    let mut body = json!({"success": true, "errors": [], "messages": [], "result": result});
    if let Some(ri) = result_info {
        body["result_info"] = ri;
    }
    json_response(StatusCode::OK, body.to_string())
}

/// Cloudflare's answer for an unknown zone or account id.
pub(crate) fn unknown_object(path: &str) -> Response {
    envelope_error(
        StatusCode::BAD_REQUEST,
        7003,
        &format!("Could not route to /client/v4{path}, perhaps your object identifier is invalid?"),
    )
}

async fn fallback(
    State(s): State<Arc<Shared>>,
    uri: axum::http::Uri,
    h: axum::http::HeaderMap,
) -> Response {
    s.record(&h, uri.path(), &HashMap::new(), 400, None);
    envelope_error(StatusCode::BAD_REQUEST, 7000, "No route for that URI")
}
