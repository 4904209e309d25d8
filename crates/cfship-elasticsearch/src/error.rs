//! Error type of the sink.

/// Everything that can go wrong in the Elasticsearch sink. Messages never contain secrets: URLs are
/// stripped of user info before they are stored, and credentials live in [`crate::Secret`].
#[derive(Debug, thiserror::Error)]
pub enum EsError {
    /// The configuration is unusable (bad URL, bad cloud id, unreadable certificate…).
    #[error("invalid Elasticsearch configuration: {0}")]
    Config(String),
    /// One setting of [`crate::EsConfig`] breaks its rule; `key` is its name in the
    /// `elasticsearch:` section, so a caller can point at the line.
    #[error("invalid Elasticsearch configuration: `{key}` {reason}")]
    Setting { key: &'static str, reason: String },
    /// No host answered.
    #[error("cannot reach {url}: {message}")]
    Unreachable { url: String, message: String },
    /// A request got an unexpected HTTP status.
    #[error("HTTP {status} from {url}: {body}")]
    Http {
        status: u16,
        url: String,
        body: String,
    },
    /// A response could not be understood.
    #[error("unexpected response from {url}: {message}")]
    Protocol { url: String, message: String },
    /// Writing a dead letter failed (and is retried by `index`; surfaced only from helpers).
    #[error("dead-letter write failed: {0}")]
    DeadLetter(String),
    /// [`crate::ElasticsearchSink::shutdown`] was called while documents were still pending.
    #[error("the Elasticsearch sink is shutting down; documents not acknowledged")]
    ShuttingDown,
}
