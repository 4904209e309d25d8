//! Turning an error response into a [`CfError`] with a hint: the bounded body read, the API's
//! error list, the permission a 403 lacks.

use super::*;

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ApiMessage>,
    #[serde(default)]
    message: Option<String>,
}

impl CloudflareClient {
    pub(super) async fn error_from_response(
        &self,
        resp: reqwest::Response,
        context: &str,
    ) -> CfError {
        let status = resp.status().as_u16();
        let cf_ray = resp
            .headers()
            .get("cf-ray")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let retry_after = resp
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if status == 429 {
            let d = Duration::from_secs(retry_after.unwrap_or(60));
            self.inner.limiter.pause_for(d);
        }
        // Read at most 64 KiB of an error body.
        let mut body = Vec::new();
        let mut stream = resp.bytes_stream();
        while let Ok(Ok(Some(chunk))) =
            tokio::time::timeout(self.inner.cfg.idle_body_timeout, stream.try_next()).await
        {
            let room = 65536usize.saturating_sub(body.len());
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if body.len() >= 65536 {
                break;
            }
        }
        let mut errors = match serde_json::from_slice::<ErrorBody>(&body) {
            Ok(b) => {
                let mut e = b.errors;
                if e.is_empty() {
                    if let Some(m) = b.message {
                        e.push(ApiMessage {
                            code: 0,
                            message: m,
                            error_chain: vec![],
                        });
                    }
                }
                e
            }
            Err(_) => Vec::new(),
        };
        if errors.is_empty() {
            let text = String::from_utf8_lossy(&body).trim().to_string();
            if !text.is_empty() {
                errors.push(ApiMessage {
                    code: 0,
                    message: text.chars().take(300).collect(),
                    error_chain: vec![],
                });
            }
        }
        let hint = hint_for(status, &errors, &permission_hint(context));
        CfError::Api {
            context: context.to_string(),
            status,
            errors,
            cf_ray,
            hint,
            retry_after,
        }
    }
}

pub(super) fn permission_hint(context: &str) -> String {
    if context.contains("audit") {
        "audit logs need a token with Account Settings: Read on this account".to_string()
    } else if context.contains("retention") {
        "the retention flag needs Logs: Read/Write on the zone".to_string()
    } else if context.contains("zone") {
        "Logpull needs a zone-scoped token with Logs: Read".to_string()
    } else {
        "check the token's permissions".to_string()
    }
}

pub(crate) fn decode_result<T: serde::de::DeserializeOwned>(
    env: &Envelope,
    ctx: &str,
) -> Result<T, CfError> {
    let raw = env.result.as_ref().ok_or_else(|| CfError::Decode {
        context: ctx.to_string(),
        reason: "envelope has no result".into(),
    })?;
    serde_json::from_str(raw.get()).map_err(|e| CfError::Decode {
        context: ctx.to_string(),
        reason: e.to_string(),
    })
}

pub(crate) fn describe_reqwest(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    if let Some(u) = e.url() {
        // The URL (with its long `fields` list) is already in the context.
        s = s.replace(&format!(" for url ({u})"), "");
    }
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    if e.is_connect() {
        s.push_str(" (connect failed: check api_url and network)");
    }
    s
}

pub(super) async fn read_body_limited(
    resp: reqwest::Response,
    idle: Duration,
    limit: usize,
    context: &str,
) -> Result<Vec<u8>, CfError> {
    let gzip = resp
        .headers()
        .get("content-encoding")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("gzip"));
    let body = resp
        .bytes_stream()
        .map_err(|e| std::io::Error::other(describe_reqwest(&e)));
    let reader = tokio_util::io::StreamReader::new(body);
    let mut reader: Box<dyn AsyncRead + Send + Unpin> = if gzip {
        Box::new(async_compression::tokio::bufread::GzipDecoder::new(reader))
    } else {
        Box::new(reader)
    };
    let mut out = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        let n = match tokio::time::timeout(idle, reader.read(&mut buf)).await {
            Err(_) => {
                return Err(CfError::Transport {
                    context: context.to_string(),
                    reason: format!("response body stalled for {idle:?}"),
                })
            }
            Ok(Err(e)) => {
                return Err(CfError::Transport {
                    context: context.to_string(),
                    reason: format!("reading response body: {e}"),
                })
            }
            Ok(Ok(n)) => n,
        };
        if n == 0 {
            return Ok(out);
        }
        if out.len() + n > limit {
            return Err(CfError::Decode {
                context: context.to_string(),
                reason: format!("response larger than {limit} bytes"),
            });
        }
        out.extend_from_slice(&buf[..n]);
    }
}
