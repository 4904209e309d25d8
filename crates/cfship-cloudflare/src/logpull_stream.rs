//! A Logpull response body decoded incrementally into raw JSON objects, with cfship-ndjson's strict
//! scanner: bytes are read straight into the scanner's buffer and every object is handed out as a
//! `Bytes` slice of it (no copy per read, no allocation per object).

use crate::error::{CfError, StreamFailure, StreamPosition};
use crate::stats::CollectorStats;
use bytes::Bytes;
use cfship_ndjson::{Mode, Splitter};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};

/// The largest Logpull object accepted (a record is a few KB; this bounds memory per stream).
const MAX_OBJECT: usize = 4 << 20;
/// Bytes read per call.
const READ_CHUNK: usize = 64 * 1024;

/// A Logpull response body decoded incrementally into raw JSON objects.
pub struct LogpullStream {
    reader: Box<dyn AsyncRead + Send + Unpin>,
    splitter: Splitter,
    idle: Duration,
    context: String,
    done: bool,
    pending: Vec<Bytes>,
    stats: Arc<CollectorStats>,
}

impl LogpullStream {
    pub(crate) fn new(
        reader: Box<dyn AsyncRead + Send + Unpin>,
        idle: Duration,
        context: &str,
        stats: Arc<CollectorStats>,
    ) -> Self {
        LogpullStream {
            reader,
            splitter: Splitter::with_scanner(
                cfship_ndjson::Scanner::new(Mode::Strict, MAX_OBJECT),
                READ_CHUNK,
            ),
            idle,
            context: context.to_string(),
            done: false,
            pending: Vec::new(),
            stats,
        }
    }

    fn fail(&mut self, failure: StreamFailure) -> CfError {
        self.done = true;
        self.stats.stream_failures.fetch_add(1, Ordering::Relaxed);
        CfError::Stream {
            context: self.context.clone(),
            failure,
            at: StreamPosition {
                offset: self.splitter.offset(),
                objects: self.splitter.scanner().records(),
            },
        }
    }

    fn scan_failure(&mut self, e: cfship_ndjson::Error) -> CfError {
        let failure = match e {
            cfship_ndjson::Error::Trailer { text, .. } => StreamFailure::ErrorTrailer(text),
            e @ cfship_ndjson::Error::Cut { .. } => StreamFailure::Truncated(e.to_string()),
            e => StreamFailure::Invalid(e.to_string()),
        };
        self.fail(failure)
    }

    /// Next batch of at most `max` objects; `Ok(None)` after a clean end of stream. Any error means
    /// the window must be discarded and retried.
    pub async fn next_batch(&mut self, max: usize) -> Result<Option<Vec<Bytes>>, CfError> {
        let max = max.max(1);
        loop {
            if self.pending.len() >= max || (self.done && !self.pending.is_empty()) {
                let rest = if self.pending.len() > max {
                    self.pending.split_off(max)
                } else {
                    Vec::new()
                };
                let batch = std::mem::replace(&mut self.pending, rest);
                return Ok(Some(batch));
            }
            if self.done {
                return Ok(None);
            }
            let read = self.reader.read_buf(self.splitter.buffer_mut());
            let n = match tokio::time::timeout(self.idle, read).await {
                Err(_) => return Err(self.fail(StreamFailure::IdleTimeout(self.idle))),
                Ok(Err(e)) => {
                    let f = if e.kind() == std::io::ErrorKind::UnexpectedEof {
                        StreamFailure::Truncated(format!("compressed stream cut short: {e}"))
                    } else {
                        StreamFailure::Transport(e.to_string())
                    };
                    return Err(self.fail(f));
                }
                Ok(Ok(n)) => n,
            };
            if n == 0 {
                self.splitter.finish();
                self.done = true;
            }
            if let Err(e) = self.splitter.drain_records(&mut self.pending) {
                return Err(self.scan_failure(e));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(chunks: Vec<&'static [u8]>) -> LogpullStream {
        let reader: Box<dyn AsyncRead + Send + Unpin> =
            Box::new(std::io::Cursor::new(chunks.concat()));
        LogpullStream::new(
            reader,
            Duration::from_secs(5),
            "zone z window [a, b)",
            Arc::new(CollectorStats::default()),
        )
    }

    async fn collect(s: &mut LogpullStream, max: usize) -> (Vec<Vec<u8>>, Option<CfError>) {
        let mut out = Vec::new();
        loop {
            match s.next_batch(max).await {
                Ok(Some(b)) => {
                    assert!(b.len() <= max);
                    out.extend(b.iter().map(|r| r.to_vec()));
                }
                Ok(None) => return (out, None),
                Err(e) => return (out, Some(e)),
            }
        }
    }

    #[tokio::test]
    async fn objects_come_in_batches_and_a_trailer_fails_naming_where() {
        let mut s = stream(vec![b"{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n"]);
        let (objs, err) = collect(&mut s, 2).await;
        assert!(err.is_none());
        assert_eq!(objs.len(), 3);

        let mut s = stream(vec![b"{\"a\":1}\n{\"b\":2}\nError streaming data\n"]);
        let (_, err) = collect(&mut s, 10).await;
        let err = err.unwrap();
        match &err {
            CfError::Stream {
                failure: StreamFailure::ErrorTrailer(t),
                at,
                ..
            } => {
                assert_eq!(t, "Error streaming data");
                assert_eq!(at.objects, 2);
            }
            other => panic!("{other:?}"),
        }
        assert!(err.to_string().contains("after 2 objects"), "{err}");
    }

    #[tokio::test]
    async fn a_cut_object_fails_naming_it() {
        let mut s = stream(vec![b"{\"a\":1}\n{\"b\":\"unterminated"]);
        let (objs, err) = collect(&mut s, 10).await;
        assert!(
            objs.is_empty(),
            "nothing is delivered from a failed stream's last batch"
        );
        let err = err.unwrap().to_string();
        assert!(
            err.contains("ended inside object #2 (it starts at byte 8"),
            "{err}"
        );
        assert!(err.contains("retried whole"), "{err}");
    }

    /// Strict mode does not re-parse objects: an object with balanced structure that is not JSON
    /// is delivered and becomes a pipeline_error document downstream (docs/ndjson-scanner.md).
    #[tokio::test]
    async fn a_balanced_but_invalid_object_is_delivered_as_is() {
        let mut s = stream(vec![b"{\"a\":tru}\n{\"b\":1}\n"]);
        let (objs, err) = collect(&mut s, 10).await;
        assert!(err.is_none());
        assert_eq!(objs, vec![b"{\"a\":tru}".to_vec(), b"{\"b\":1}".to_vec()]);
    }
}
