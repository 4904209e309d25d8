//! What can go wrong in an output. Every error leaves the batch unacknowledged: the collector sends
//! it again.

use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("file output {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("file output: writer task failed: {0}")]
    Task(String),
    #[error("Elasticsearch output is shutting down; batch not acknowledged")]
    EsShuttingDown,
    #[error("Elasticsearch output: {0}")]
    Es(#[source] cfship_elasticsearch::EsError),
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> OutputError + '_ {
    move |source| OutputError::Io {
        path: path.display().to_string(),
        source,
    }
}
