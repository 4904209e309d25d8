//! A plain JSON client over the sink's transport (same hosts, auth and TLS options), for callers
//! that keep their own documents in Elasticsearch (the cursor state store of `cfship-state`).

use crate::config::EsConfig;
use crate::transport::Transport;
use crate::EsError;

pub use reqwest::Method;

/// One JSON answer: the status and the parsed body (`Null` when the body is not JSON).
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    pub body: serde_json::Value,
    /// The request URL (without credentials), for messages.
    pub url: String,
}

impl RawResponse {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// JSON requests to the configured cluster.
#[derive(Debug)]
pub struct RawClient {
    transport: Transport,
}

impl RawClient {
    pub fn new(cfg: &EsConfig) -> Result<RawClient, EsError> {
        Ok(RawClient {
            transport: Transport::new(cfg)?,
        })
    }

    /// Sends one request to one host (not retried: conditional writes must not be replayed blindly).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<RawResponse, EsError> {
        let payload = body.map(|v| {
            (
                bytes::Bytes::from(serde_json::to_vec(v).unwrap_or_default()),
                "application/json",
                false,
            )
        });
        let r = self.transport.send(method, path, payload).await?;
        Ok(RawResponse {
            status: r.status,
            body: r.json().unwrap_or(serde_json::Value::Null),
            url: r.url,
        })
    }
}
