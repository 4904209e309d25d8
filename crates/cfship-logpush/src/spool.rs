//! The durable spool: a batch is acknowledged to Cloudflare only after all its documents are in a
//! segment file that is fsynced and renamed into place (and the directory fsynced); a drainer
//! indexes segments into Elasticsearch in order and deletes each one only after every document is
//! acknowledged (created, duplicate or dead-lettered). A crash loses nothing acknowledged: an
//! unfinished `.part` file was never acknowledged and is removed at start; a segment half-drained
//! is indexed again, and the deterministic `_id`s make that harmless.
//!
//! Segment format (text, one document per line):
//! ```text
//! cfship-spool 1
//! <index>\t<_id>\t<source JSON>
//! …
//! #end <documents>
//! ```
//! Segments are written as plain text: compressing them (gzip, fastest level) cost more CPU than
//! the rest of the spool's work together, for disk space the limit accounts for anyway. Segments
//! gzipped by earlier versions are still read (recognised by the gzip magic bytes).
//! The spool is bounded: [`Spool::max_bytes`] counts committed segments plus the bytes being
//! written; a write that would pass it fails with [`SpoolError::Full`] (the receiver then answers
//! 503 and Cloudflare retries later).

use cfship_retry::{Backoff, Policy, Retrier};
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cfship_elasticsearch::{BulkDocs, BulkDocsBuilder};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::sink::DocSink;
use crate::transform::Doc;

const HEADER: &str = "cfship-spool 1";
const SEG_EXT: &str = "seg";
const PART_EXT: &str = "part";

#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    #[error("the spool is full ({used} of {max} bytes used): Elasticsearch is not keeping up")]
    Full { used: u64, max: u64 },
    #[error("spool {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("spool segment {path}: {reason}")]
    Corrupt { path: String, reason: String },
    #[error("document {id:?} for {index:?} has a tab or newline in its index or _id")]
    BadKey { index: String, id: String },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.display().to_string(),
        source,
    }
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    max_bytes: u64,
    used: AtomicU64,
    segments: AtomicU64,
    next_seq: AtomicU64,
    part_seq: AtomicU64,
    /// Documents written into committed segments and not yet drained.
    pending_docs: AtomicU64,
    drained_docs: AtomicU64,
    drained_segments: AtomicU64,
    /// Set while the drainer's sink keeps failing (cleared on the next success).
    sink_failing: AtomicBool,
    rejected_full: AtomicU64,
    notify: Notify,
}

/// Handle to the spool directory (cheap to clone).
#[derive(Debug, Clone)]
pub struct Spool {
    inner: Arc<Inner>,
}

/// A snapshot for `/metrics` and `/healthz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpoolStatus {
    pub used_bytes: u64,
    pub max_bytes: u64,
    pub segments: u64,
    pub pending_docs: u64,
    pub drained_docs: u64,
    pub drained_segments: u64,
    pub rejected_full: u64,
    pub sink_failing: bool,
}

impl SpoolStatus {
    /// Full enough that new batches are refused (less than 1 MiB or 1 % left).
    pub fn full(&self) -> bool {
        let margin = (self.max_bytes / 100).max(1 << 20).min(self.max_bytes);
        self.used_bytes + margin > self.max_bytes
    }
}

/// `<seq>-<documents>.seg` → (seq, documents).
fn seq_of(path: &Path) -> Option<(u64, u64)> {
    if path.extension().and_then(|e| e.to_str()) != Some(SEG_EXT) {
        return None;
    }
    let (seq, docs) = path.file_stem()?.to_str()?.split_once('-')?;
    Some((seq.parse().ok()?, docs.parse().ok()?))
}

/// `a -= n`, never below zero.
fn sub_sat(a: &AtomicU64, n: u64) {
    let _ = a.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
        Some(v.saturating_sub(n))
    });
}

fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

impl Spool {
    /// Opens (creates) the spool in `dir`: removes unfinished `.part` files (never acknowledged),
    /// counts the committed segments.
    pub fn open(dir: impl AsRef<Path>, max_bytes: u64) -> Result<Self, SpoolError> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir).map_err(io_err(&dir))?;
        let mut used = 0u64;
        let mut segments = 0u64;
        let mut max_seq = 0u64;
        let mut pending = 0u64;
        for entry in fs::read_dir(&dir).map_err(io_err(&dir))? {
            let entry = entry.map_err(io_err(&dir))?;
            let path = entry.path();
            match path.extension().and_then(|e| e.to_str()) {
                Some(PART_EXT) => {
                    tracing::info!(file = %path.display(), "spool: removing an unfinished batch (it was never acknowledged)");
                    fs::remove_file(&path).map_err(io_err(&path))?;
                }
                Some(SEG_EXT) => {
                    if let Some((seq, docs)) = seq_of(&path) {
                        let meta = entry.metadata().map_err(io_err(&path))?;
                        used += meta.len();
                        segments += 1;
                        max_seq = max_seq.max(seq);
                        pending += docs;
                    }
                }
                _ => {}
            }
        }
        sync_dir(&dir)?;
        if segments > 0 {
            tracing::info!(
                segments,
                bytes = used,
                "spool: segments from a previous run will be indexed"
            );
        }
        Ok(Spool {
            inner: Arc::new(Inner {
                dir,
                max_bytes,
                used: AtomicU64::new(used),
                segments: AtomicU64::new(segments),
                next_seq: AtomicU64::new(max_seq + 1),
                part_seq: AtomicU64::new(0),
                pending_docs: AtomicU64::new(pending),
                drained_docs: AtomicU64::new(0),
                drained_segments: AtomicU64::new(0),
                sink_failing: AtomicBool::new(false),
                rejected_full: AtomicU64::new(0),
                notify: Notify::new(),
            }),
        })
    }

    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    pub fn max_bytes(&self) -> u64 {
        self.inner.max_bytes
    }

    pub fn status(&self) -> SpoolStatus {
        let i = &self.inner;
        SpoolStatus {
            used_bytes: i.used.load(Ordering::Relaxed),
            max_bytes: i.max_bytes,
            segments: i.segments.load(Ordering::Relaxed),
            pending_docs: i.pending_docs.load(Ordering::Relaxed),
            drained_docs: i.drained_docs.load(Ordering::Relaxed),
            drained_segments: i.drained_segments.load(Ordering::Relaxed),
            rejected_full: i.rejected_full.load(Ordering::Relaxed),
            sink_failing: i.sink_failing.load(Ordering::Relaxed),
        }
    }

    /// Counts a batch refused because the spool is full.
    pub fn note_rejected_full(&self) {
        self.inner.rejected_full.fetch_add(1, Ordering::Relaxed);
    }

    /// Starts a new segment (a `.part` file until [`SegmentWriter::commit`]).
    pub fn writer(&self) -> Result<SegmentWriter, SpoolError> {
        let n = self.inner.part_seq.fetch_add(1, Ordering::Relaxed);
        let path = self
            .inner
            .dir
            .join(format!("{}-{n}.{PART_EXT}", std::process::id()));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io_err(&path))?;
        let reserved = Arc::new(AtomicU64::new(0));
        let mut w = SegmentWriter {
            spool: self.clone(),
            out: Some(Metered {
                file: BufWriter::with_capacity(256 << 10, file),
                inner: self.inner.clone(),
                reserved: reserved.clone(),
                full: None,
            }),
            path,
            reserved,
            docs: 0,
            committed: false,
            line: Vec::new(),
        };
        w.write_raw(format!("{HEADER}\n").as_bytes())?;
        Ok(w)
    }

    /// Committed segments, oldest first.
    fn segments(&self) -> Result<Vec<(u64, PathBuf)>, SpoolError> {
        let dir = &self.inner.dir;
        let mut out = Vec::new();
        for entry in fs::read_dir(dir).map_err(io_err(dir))? {
            let path = entry.map_err(io_err(dir))?.path();
            if let Some((seq, _)) = seq_of(&path) {
                out.push((seq, path));
            }
        }
        out.sort();
        Ok(out)
    }

    /// Indexes every committed segment through `sink`, oldest first, until `cancel`; waits for new
    /// segments when the spool is empty. A sink error is retried after `retry` (the documents stay
    /// in the spool); a corrupt segment is moved to `corrupt/` with an error naming it.
    pub async fn drain(
        &self,
        sink: Arc<dyn DocSink>,
        max_docs: usize,
        max_bytes: usize,
        retry: Duration,
        cancel: CancellationToken,
    ) {
        loop {
            if cancel.is_cancelled() {
                return;
            }
            let notified = self.inner.notify.notified();
            let segs = match self.segments() {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(error = %e, "spool: cannot list segments");
                    Vec::new()
                }
            };
            if segs.is_empty() {
                tokio::select! {
                    _ = notified => {}
                    _ = cancel.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                }
                continue;
            }
            for (_, path) in segs {
                // A failing sink is retried after `retry`, until cancelled (the documents stay).
                let mut retrier =
                    Retrier::new(Policy::forever(Backoff::constant(retry))).cancel_on(&cancel);
                loop {
                    let res = tokio::select! {
                        r = self.drain_segment(&path, sink.as_ref(), max_docs, max_bytes) => r,
                        _ = cancel.cancelled() => return,
                    };
                    match res {
                        Ok(()) => {
                            self.inner.sink_failing.store(false, Ordering::Relaxed);
                            break;
                        }
                        Err(DrainError::Sink(e)) => {
                            self.inner.sink_failing.store(true, Ordering::Relaxed);
                            tracing::warn!(segment = %path.display(), error = %e, "spool: indexing failed; the segment stays and is retried");
                            if retrier.pause().await.is_err() {
                                return;
                            }
                        }
                        Err(DrainError::Spool(e)) => {
                            tracing::error!(error = %e, "spool: segment moved aside, its documents are NOT indexed");
                            self.quarantine(&path);
                            break;
                        }
                    }
                }
            }
        }
    }

    fn quarantine(&self, path: &Path) {
        let dir = self.inner.dir.join("corrupt");
        let size = fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let moved = fs::create_dir_all(&dir).and_then(|_| {
            fs::rename(
                path,
                dir.join(path.file_name().unwrap_or_else(|| "segment".as_ref())),
            )
        });
        if let Err(e) = moved {
            tracing::error!(segment = %path.display(), error = %e, "spool: cannot move a corrupt segment aside");
            return;
        }
        sub_sat(&self.inner.used, size);
        sub_sat(&self.inner.segments, 1);
    }

    async fn drain_segment(
        &self,
        path: &Path,
        sink: &dyn DocSink,
        max_docs: usize,
        max_bytes: usize,
    ) -> Result<(), DrainError> {
        let size = fs::metadata(path).map_err(io_err(path))?.len();
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<BulkDocs, SpoolError>>(2);
        let p = path.to_path_buf();
        let reader =
            tokio::task::spawn_blocking(move || read_segment(&p, max_docs, max_bytes, &tx));
        let mut docs = 0u64;
        while let Some(chunk) = rx.recv().await {
            let chunk = chunk?;
            let n = chunk.len() as u64;
            sink.index(chunk).await.map_err(DrainError::Sink)?;
            docs += n;
        }
        let total = reader.await.map_err(|e| SpoolError::Corrupt {
            path: path.display().to_string(),
            reason: format!("reader task failed: {e}"),
        })??;
        debug_assert_eq!(total, docs);
        fs::remove_file(path).map_err(io_err(path))?;
        sync_dir(&self.inner.dir)?;
        let i = &self.inner;
        sub_sat(&i.used, size);
        sub_sat(&i.segments, 1);
        sub_sat(&i.pending_docs, docs);
        i.drained_docs.fetch_add(docs, Ordering::Relaxed);
        i.drained_segments.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

#[derive(Debug)]
enum DrainError {
    Sink(String),
    Spool(SpoolError),
}

impl From<SpoolError> for DrainError {
    fn from(e: SpoolError) -> Self {
        DrainError::Spool(e)
    }
}

/// Reads a segment in chunks of at most `max_docs` documents / `max_bytes` bytes; checks the
/// header and the trailer (a segment without its trailer is corrupt).
fn read_segment(
    path: &Path,
    max_docs: usize,
    max_bytes: usize,
    tx: &tokio::sync::mpsc::Sender<Result<BulkDocs, SpoolError>>,
) -> Result<u64, SpoolError> {
    let corrupt = |reason: String| SpoolError::Corrupt {
        path: path.display().to_string(),
        reason,
    };
    let f = File::open(path).map_err(io_err(path))?;
    let mut file = BufReader::with_capacity(256 << 10, f);
    let gzip = file
        .fill_buf()
        .map_err(|e| corrupt(format!("not readable: {e}")))?
        .starts_with(&[0x1f, 0x8b]);
    // Segments of earlier versions are gzipped.
    let mut r: Box<dyn BufRead> = if gzip {
        Box::new(BufReader::with_capacity(
            256 << 10,
            flate2::read::MultiGzDecoder::new(file),
        ))
    } else {
        Box::new(file)
    };
    let mut line = String::new();
    r.read_line(&mut line).map_err(|e| {
        corrupt(if gzip {
            format!("not a readable gzip segment: {e}")
        } else {
            format!("not a readable segment: {e}")
        })
    })?;
    if line.trim_end() != HEADER {
        return Err(corrupt(format!("bad header {:?}", line.trim_end())));
    }
    // Each chunk is encoded straight into its bulk lines (one buffer per chunk).
    let mut chunk = BulkDocsBuilder::with_capacity(max_docs.clamp(1, 1 << 16), 1 << 20);
    let mut bytes = 0usize;
    let mut total = 0u64;
    let mut lineno = 1u64;
    loop {
        line.clear();
        let n = r
            .read_line(&mut line)
            .map_err(|e| corrupt(format!("line {}: {e}", lineno + 1)))?;
        lineno += 1;
        if n == 0 {
            return Err(corrupt("no #end trailer (cut short)".into()));
        }
        let l = line.strip_suffix('\n').unwrap_or(&line);
        if let Some(count) = l.strip_prefix("#end ") {
            let want: u64 = count
                .trim()
                .parse()
                .map_err(|_| corrupt(format!("bad trailer {l:?}")))?;
            if want != total {
                return Err(corrupt(format!(
                    "trailer says {want} documents, found {total}"
                )));
            }
            if !chunk.is_empty() && tx.blocking_send(Ok(chunk.finish())).is_err() {
                return Ok(total);
            }
            return Ok(total);
        }
        let mut parts = l.splitn(3, '\t');
        let (Some(index), Some(id), Some(source)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(corrupt(format!(
                "line {lineno} is not index<TAB>id<TAB>source"
            )));
        };
        bytes += l.len();
        chunk.push_parts(index, id, source.as_bytes());
        total += 1;
        if chunk.len() >= max_docs.max(1) || bytes >= max_bytes {
            bytes = 0;
            if tx.blocking_send(Ok(chunk.take())).is_err() {
                // the drainer stopped (cancelled): the segment stays
                return Ok(total);
            }
        }
    }
}

/// Counts the bytes reaching the file against the spool's limit.
#[derive(Debug)]
struct Metered {
    file: BufWriter<File>,
    inner: Arc<Inner>,
    reserved: Arc<AtomicU64>,
    full: Option<u64>,
}

impl Write for Metered {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let len = b.len() as u64;
        let used = self.inner.used.fetch_add(len, Ordering::Relaxed) + len;
        self.reserved.fetch_add(len, Ordering::Relaxed);
        if used > self.inner.max_bytes {
            self.full = Some(used);
            return Err(io::Error::other("spool full"));
        }
        self.file.write_all(b)?;
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Writes one batch into a new segment.
/// Dropped without [`commit`](Self::commit): the file is removed and its bytes released.
#[derive(Debug)]
pub struct SegmentWriter {
    spool: Spool,
    out: Option<Metered>,
    path: PathBuf,
    /// Bytes this segment holds in the spool's count (released by Drop unless committed).
    reserved: Arc<AtomicU64>,
    docs: u64,
    committed: bool,
    /// The line being written (reused).
    line: Vec<u8>,
}

impl SegmentWriter {
    fn err(&self, e: io::Error) -> SpoolError {
        match self.out.as_ref().and_then(|o| o.full) {
            Some(used) => SpoolError::Full {
                used,
                max: self.spool.inner.max_bytes,
            },
            None => io_err(&self.path)(e),
        }
    }

    fn write_raw(&mut self, b: &[u8]) -> Result<(), SpoolError> {
        let res = match self.out.as_mut() {
            Some(out) => out.write_all(b),
            None => Err(io::Error::other("segment already closed")),
        };
        res.map_err(|e| self.err(e))
    }

    /// Appends one document.
    pub fn write(&mut self, doc: &Doc) -> Result<(), SpoolError> {
        self.write_parts(&doc.index, &doc.id, doc.source.as_bytes())
    }

    /// Appends one document given by its parts (`source`: one line of compact JSON), through
    /// one reused line buffer.
    pub fn write_parts(&mut self, index: &str, id: &str, source: &[u8]) -> Result<(), SpoolError> {
        let bad = |s: &str| s.contains(['\t', '\n', '\r']);
        if bad(index) || bad(id) {
            return Err(SpoolError::BadKey {
                index: index.to_string(),
                id: id.to_string(),
            });
        }
        let mut line = std::mem::take(&mut self.line);
        line.clear();
        line.extend_from_slice(index.as_bytes());
        line.push(b'\t');
        line.extend_from_slice(id.as_bytes());
        line.push(b'\t');
        let at = line.len();
        line.extend_from_slice(source);
        // the source is compact JSON (serialisers escape control characters); stay safe anyway
        if memchr::memchr2(b'\n', b'\r', source).is_some() {
            for b in &mut line[at..] {
                if *b == b'\n' || *b == b'\r' {
                    *b = b' ';
                }
            }
        }
        line.push(b'\n');
        let res = self.write_raw(&line);
        self.line = line;
        res?;
        self.docs += 1;
        Ok(())
    }

    pub fn docs(&self) -> u64 {
        self.docs
    }

    /// Makes the batch durable: trailer, flush, fsync, rename to `<seq>-<docs>.seg`,
    /// fsync the directory. Only after this returns may the batch be acknowledged. An empty batch
    /// writes nothing.
    pub fn commit(mut self) -> Result<u64, SpoolError> {
        if self.docs == 0 {
            return Ok(0);
        }
        let trailer = format!("#end {}\n", self.docs);
        self.write_raw(trailer.as_bytes())?;
        let Some(metered) = self.out.take() else {
            return Err(io_err(&self.path)(io::Error::other(
                "segment already closed",
            )));
        };
        let file = metered
            .file
            .into_inner()
            .map_err(|e| io_err(&self.path)(e.into_error()))?;
        file.sync_all().map_err(io_err(&self.path))?;
        drop(file);
        let i = self.spool.inner.clone();
        let seq = i.next_seq.fetch_add(1, Ordering::Relaxed);
        let dest = i.dir.join(format!("{seq:020}-{}.{SEG_EXT}", self.docs));
        fs::rename(&self.path, &dest).map_err(io_err(&dest))?;
        self.committed = true;
        sync_dir(&i.dir)?;
        i.segments.fetch_add(1, Ordering::Relaxed);
        i.pending_docs.fetch_add(self.docs, Ordering::Relaxed);
        self.path = dest;
        i.notify.notify_one();
        Ok(self.docs)
    }
}

impl Drop for SegmentWriter {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        // dropping the writer may still flush its buffer: count first, release after
        drop(self.out.take());
        sub_sat(
            &self.spool.inner.used,
            self.reserved.load(Ordering::Relaxed),
        );
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Default)]
    struct Collect {
        docs: Mutex<Vec<cfship_elasticsearch::IndexRequest>>,
        fail: AtomicBool,
    }

    impl DocSink for Collect {
        fn index(&self, docs: BulkDocs) -> futures::future::BoxFuture<'_, Result<(), String>> {
            Box::pin(async move {
                if self.fail.load(Ordering::SeqCst) {
                    return Err("down".into());
                }
                self.docs
                    .lock()
                    .map_err(|e| e.to_string())?
                    .extend(docs.to_requests());
                Ok(())
            })
        }
    }

    fn doc(i: usize) -> Doc {
        Doc {
            index: "logs-x-default".into(),
            id: format!("id{i}"),
            source: format!("{{\"n\":{i}}}"),
            error: None,
        }
    }

    #[tokio::test]
    async fn commit_survives_restart_and_drains_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("spool");
        {
            let spool = Spool::open(&dir, 64 << 20).unwrap();
            for b in 0..3 {
                let mut w = spool.writer().unwrap();
                for i in 0..100 {
                    w.write(&doc(b * 100 + i)).unwrap();
                }
                assert_eq!(w.commit().unwrap(), 100);
            }
            // an unfinished batch (the process dies before the 2xx): never acknowledged
            let mut w = spool.writer().unwrap();
            w.write(&doc(999)).unwrap();
            std::mem::forget(w);
            let st = spool.status();
            assert_eq!((st.segments, st.pending_docs), (3, 300));
        }
        let spool = Spool::open(&dir, 64 << 20).unwrap();
        let st = spool.status();
        assert_eq!((st.segments, st.pending_docs), (3, 300));
        assert!(st.used_bytes > 0);
        assert!(fs::read_dir(&dir).unwrap().all(|e| e
            .unwrap()
            .path()
            .extension()
            .and_then(|x| x.to_str())
            == Some("seg")));
        let sink = Arc::new(Collect::default());
        sink.fail.store(true, Ordering::SeqCst);
        let cancel = CancellationToken::new();
        let s2 = spool.clone();
        let k2: Arc<dyn DocSink> = sink.clone();
        let c2 = cancel.clone();
        let task = tokio::spawn(async move {
            s2.drain(k2, 40, 1 << 20, Duration::from_millis(10), c2)
                .await
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(spool.status().sink_failing);
        assert_eq!(
            spool.status().segments,
            3,
            "nothing is deleted while the sink fails"
        );
        sink.fail.store(false, Ordering::SeqCst);
        for _ in 0..200 {
            if spool.status().segments == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let st = spool.status();
        assert_eq!(
            (st.segments, st.pending_docs, st.used_bytes),
            (0, 0, 0),
            "{st:?}"
        );
        assert!(!st.sink_failing);
        let ids: Vec<String> = sink
            .docs
            .lock()
            .unwrap()
            .iter()
            .map(|d| d.id.clone())
            .collect();
        // a chunk may have been delivered before the failure flag was read: dedup by _id does the rest
        let mut uniq = ids.clone();
        uniq.dedup();
        assert_eq!(uniq, (0..300).map(|i| format!("id{i}")).collect::<Vec<_>>());
        cancel.cancel();
        let _ = task.await;
    }

    #[test]
    fn full_spool_refuses_and_releases() {
        let tmp = tempfile::tempdir().unwrap();
        let spool = Spool::open(tmp.path(), 4096).unwrap();
        let mut w = spool.writer().unwrap();
        let mut err = None;
        for i in 0..100_000 {
            let mut d = doc(i);
            d.source = format!(
                "{{\"n\":{i},\"pad\":\"{:x}\"}}",
                (i as u64).wrapping_mul(0x9e3779b97f4a7c15)
            );
            if let Err(e) = w.write(&d) {
                err = Some(e);
                break;
            }
        }
        assert!(
            matches!(err, Some(SpoolError::Full { max: 4096, .. })),
            "{err:?}"
        );
        drop(w);
        assert_eq!(spool.status().used_bytes, 0);
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
        let w = spool.writer().unwrap();
        assert_eq!(w.commit().unwrap(), 0, "an empty batch writes nothing");
        assert_eq!(fs::read_dir(tmp.path()).unwrap().count(), 0);
    }

    /// Segments are plain text now; those an earlier version gzipped are read the same way.
    #[test]
    fn plain_segments_and_gzipped_ones_of_earlier_versions_are_read() {
        let tmp = tempfile::tempdir().unwrap();
        let spool = Spool::open(tmp.path(), 64 << 20).unwrap();
        let mut w = spool.writer().unwrap();
        for i in 0..3 {
            w.write(&doc(i)).unwrap();
        }
        w.commit().unwrap();
        let (_, plain) = spool.segments().unwrap().remove(0);
        let text = fs::read(&plain).unwrap();
        assert!(text.starts_with(b"cfship-spool 1\nlogs-x-default\tid0\t{\"n\":0}\n"));
        let old = tmp.path().join("00000000000000000099-3.seg");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&text).unwrap();
        fs::write(&old, gz.finish().unwrap()).unwrap();
        for p in [&plain, &old] {
            let (tx, mut rx) = tokio::sync::mpsc::channel(4);
            assert_eq!(read_segment(p, 2, 1 << 20, &tx).unwrap(), 3);
            drop(tx);
            let mut ids = Vec::new();
            while let Some(chunk) = rx.blocking_recv() {
                ids.extend(chunk.unwrap().to_requests().into_iter().map(|d| d.id));
            }
            assert_eq!(ids, ["id0", "id1", "id2"], "{}", p.display());
        }
        // cut short: no trailer
        fs::write(&old, &text[..text.len() - "#end 3\n".len()]).unwrap();
        let (tx, _rx) = tokio::sync::mpsc::channel(4);
        let e = read_segment(&old, 10, 1 << 20, &tx).unwrap_err();
        assert!(e.to_string().contains("trailer"), "{e}");
    }

    #[test]
    fn corrupt_segment_is_named() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("00000000000000000001-5.seg");
        fs::write(&p, b"garbage").unwrap();
        let (tx, _rx) = tokio::sync::mpsc::channel(4);
        let e = read_segment(&p, 10, 1 << 20, &tx).unwrap_err();
        assert!(e.to_string().contains("00000000000000000001-5.seg"), "{e}");
    }
}
