//! The Logpush jobs API of the simulator: `/{zones|accounts}/{id}/logpush/jobs` (list, create,
//! delete), `…/logpush/datasets/{ds}/fields` and `…/logpush/ownership`, in Cloudflare's envelopes.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::{
    dataset_fields, dataset_scope, is_bucket_url, lock, validation_body, Attempt, LogpushSim,
};

pub(super) fn router(sim: Arc<LogpushSim>) -> Router {
    Router::new()
        .route(
            "/client/v4/{kind}/{id}/logpush/jobs",
            get(list_jobs).post(create_job),
        )
        .route(
            "/client/v4/{kind}/{id}/logpush/jobs/{job}",
            delete(delete_job),
        )
        .route(
            "/client/v4/{kind}/{id}/logpush/datasets/{ds}/fields",
            get(fields),
        )
        .route("/client/v4/{kind}/{id}/logpush/ownership", post(ownership))
        .with_state(sim)
}

fn env_ok(result: Value) -> Response {
    Json(json!({"success": true, "errors": [], "messages": [], "result": result})).into_response()
}

fn env_err(status: StatusCode, code: i64, message: &str) -> Response {
    (
        status,
        Json(json!({"success": false, "errors": [{"code": code, "message": message}], "messages": [], "result": null})),
    )
        .into_response()
}

impl LogpushSim {
    fn authorized(&self, h: &HeaderMap) -> bool {
        h.get("authorization")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v == format!("Bearer {}", self.token))
    }
}

type S = State<Arc<LogpushSim>>;

fn scope_of(kind: &str, id: &str) -> Option<String> {
    matches!(kind, "zones" | "accounts").then(|| format!("{kind}/{id}"))
}

/// Every jobs-API handler's prologue: the token (403, code 10000, as Cloudflare answers a bad token)
/// and the scope of the path (`zones/<id>` or `accounts/<id>`; anything else is Cloudflare's 7003).
fn authorized_scope(
    sim: &LogpushSim,
    h: &HeaderMap,
    kind: &str,
    id: &str,
) -> Result<String, Box<Response>> {
    if !sim.authorized(h) {
        return Err(Box::new(env_err(
            StatusCode::FORBIDDEN,
            10000,
            "Authentication error",
        )));
    }
    scope_of(kind, id).ok_or_else(|| {
        Box::new(env_err(
            StatusCode::NOT_FOUND,
            7003,
            "Could not route to the path",
        ))
    })
}

async fn list_jobs(
    State(sim): S,
    Path((kind, id)): Path<(String, String)>,
    h: HeaderMap,
) -> Response {
    let scope = match authorized_scope(&sim, &h, &kind, &id) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    env_ok(Value::Array(sim.jobs(&scope)))
}

async fn fields(
    State(sim): S,
    Path((kind, id, ds)): Path<(String, String, String)>,
    h: HeaderMap,
) -> Response {
    if !sim.authorized(&h) {
        return env_err(StatusCode::FORBIDDEN, 10000, "Authentication error");
    }
    if scope_of(&kind, &id).is_none() || dataset_scope(&ds).is_none() {
        return env_err(
            StatusCode::BAD_REQUEST,
            1002,
            &format!("invalid dataset: {ds}"),
        );
    }
    let m: serde_json::Map<String, Value> = dataset_fields(&ds)
        .into_iter()
        .map(|f| (f.to_string(), json!(format!("{f} (simulated)"))))
        .collect();
    env_ok(Value::Object(m))
}

async fn ownership(
    State(sim): S,
    Path((kind, id)): Path<(String, String)>,
    h: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let scope = match authorized_scope(&sim, &h, &kind, &id) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let Some(dest) = body["destination_conf"].as_str().map(str::to_string) else {
        return env_err(
            StatusCode::BAD_REQUEST,
            1002,
            "destination_conf is required",
        );
    };
    if !is_bucket_url(&dest) {
        return env_err(
            StatusCode::BAD_REQUEST,
            1002,
            "ownership challenge is only for bucket destinations",
        );
    }
    let n = sim.objects.fetch_add(1, Ordering::Relaxed);
    let token = format!(
        "{:x}",
        (n + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ scope.len() as u64
    );
    let name = format!("ownership-challenge-{:08x}.txt", n as u32);
    let file = match sim
        .put_object(
            &dest,
            |t| t.challenge_key(&name),
            token.clone().into_bytes(),
        )
        .await
    {
        Ok(key) => key,
        Err(e) => {
            return env_err(
                StatusCode::BAD_REQUEST,
                1002,
                &format!("error writing object: {e}"),
            )
        }
    };
    lock(&sim.jobs).challenges.insert(dest, token);
    env_ok(json!({"filename": file, "message": "", "valid": true}))
}

async fn create_job(
    State(sim): S,
    Path((kind, id)): Path<(String, String)>,
    h: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let scope = match authorized_scope(&sim, &h, &kind, &id) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let ds = body["dataset"].as_str().unwrap_or_default().to_string();
    let Some(known) = dataset_scope(&ds) else {
        return env_err(
            StatusCode::BAD_REQUEST,
            1002,
            &format!("invalid dataset: {ds:?}"),
        );
    };
    if known.path() != kind {
        return env_err(
            StatusCode::BAD_REQUEST,
            1002,
            &format!("dataset {ds} is not available for {kind}"),
        );
    }
    let dest = body["destination_conf"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let allowed = dataset_fields(&ds);
    if let Some(f) = body["output_options"]["field_names"].as_array() {
        if let Some(bad) = f
            .iter()
            .filter_map(|x| x.as_str())
            .find(|x| !allowed.contains(x))
        {
            return env_err(
                StatusCode::BAD_REQUEST,
                1002,
                &format!("invalid field name: {bad}"),
            );
        }
    }
    if sim.jobs(&scope).len() >= 4 {
        return env_err(
            StatusCode::BAD_REQUEST,
            1004,
            "creating a new job is not allowed: exceeded max jobs allowed",
        );
    }
    if is_bucket_url(&dest) {
        let want = lock(&sim.jobs).challenges.get(&dest).cloned();
        if want.is_none() || body["ownership_challenge"].as_str() != want.as_deref() {
            return env_err(StatusCode::BAD_REQUEST, 1002, "invalid ownership challenge");
        }
    } else if dest.starts_with("https://") || dest.starts_with("http://") {
        // the validation upload
        match sim.post_once(&dest, validation_body()).await {
            Attempt::Status(s, _) if (200..300).contains(&s) => {}
            other => {
                tracing::info!(?other, "simulated Logpush: validation upload refused");
                return env_err(
                    StatusCode::BAD_REQUEST,
                    1002,
                    "error validating destination: error writing object: error uploading",
                );
            }
        }
    } else {
        return env_err(
            StatusCode::BAD_REQUEST,
            1002,
            "destination_conf: unsupported scheme",
        );
    }
    let job = {
        let mut j = lock(&sim.jobs);
        j.next_id += 1;
        let job = json!({
            "id": j.next_id, "dataset": ds, "name": body["name"], "enabled": body["enabled"].as_bool().unwrap_or(false),
            "destination_conf": dest, "output_options": body["output_options"],
            "last_complete": null, "last_error": null, "error_message": null,
            "max_upload_bytes": body["max_upload_bytes"], "max_upload_records": body["max_upload_records"],
        });
        j.jobs.entry(scope).or_default().push(job.clone());
        job
    };
    env_ok(job)
}

async fn delete_job(
    State(sim): S,
    Path((kind, id, job)): Path<(String, String, u64)>,
    h: HeaderMap,
) -> Response {
    let scope = match authorized_scope(&sim, &h, &kind, &id) {
        Ok(s) => s,
        Err(r) => return *r,
    };
    let mut j = lock(&sim.jobs);
    let list = j.jobs.entry(scope).or_default();
    let before = list.len();
    list.retain(|x| x["id"] != json!(job));
    if list.len() == before {
        return env_err(StatusCode::NOT_FOUND, 1003, &format!("job {job} not found"));
    }
    env_ok(json!({"id": job}))
}
