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
//! The spool is bounded: [`Spool::max_bytes`] counts committed segments plus the bytes being
//! written; a write that would pass it fails with [`SpoolError::Full`] (the receiver then answers
//! 503 and Cloudflare retries later).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cfship_elasticsearch::IndexRequest;
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

fn seq_of(path: &Path) -> Option<u64> {
    if path.extension().and_then(|e| e.to_str()) != Some(SEG_EXT) {
        return None;
    }
    path.file_stem()?.to_str()?.parse().ok()
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
                    if let Some(seq) = seq_of(&path) {
                        let meta = entry.metadata().map_err(io_err(&path))?;
                        used += meta.len();
                        segments += 1;
                        max_seq = max_seq.max(seq);
                        pending += count_docs_hint(&path);
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
        let mut w = SegmentWriter {
            spool: self.clone(),
            out: Some(BufWriter::with_capacity(256 << 10, file)),
            path,
            reserved: 0,
            docs: 0,
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
            if let Some(seq) = seq_of(&path) {
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
                            tokio::select! {
                                _ = tokio::time::sleep(retry) => {}
                                _ = cancel.cancelled() => return,
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
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Vec<IndexRequest>, SpoolError>>(2);
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

/// The document count of a committed segment, from its `#end` trailer (0 when unreadable; only a
/// gauge depends on it).
fn count_docs_hint(path: &Path) -> u64 {
    use std::io::{Read, Seek, SeekFrom};
    let Ok(mut f) = File::open(path) else {
        return 0;
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let back = len.min(64);
    if f.seek(SeekFrom::Start(len - back)).is_err() {
        return 0;
    }
    let mut tail = String::new();
    if f.read_to_string(&mut tail).is_err() {
        return 0;
    }
    tail.lines()
        .last()
        .and_then(|l| l.strip_prefix("#end "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Reads a segment in chunks of at most `max_docs` documents / `max_bytes` bytes; checks the
/// header and the trailer (a segment without its trailer is corrupt).
fn read_segment(
    path: &Path,
    max_docs: usize,
    max_bytes: usize,
    tx: &tokio::sync::mpsc::Sender<Result<Vec<IndexRequest>, SpoolError>>,
) -> Result<u64, SpoolError> {
    let corrupt = |reason: String| SpoolError::Corrupt {
        path: path.display().to_string(),
        reason,
    };
    let f = File::open(path).map_err(io_err(path))?;
    let mut r = BufReader::with_capacity(256 << 10, f);
    let mut line = String::new();
    r.read_line(&mut line).map_err(io_err(path))?;
    if line.trim_end() != HEADER {
        return Err(corrupt(format!("bad header {:?}", line.trim_end())));
    }
    let mut chunk = Vec::new();
    let mut bytes = 0usize;
    let mut total = 0u64;
    let mut lineno = 1u64;
    loop {
        line.clear();
        let n = r.read_line(&mut line).map_err(io_err(path))?;
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
            if !chunk.is_empty() && tx.blocking_send(Ok(chunk)).is_err() {
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
        chunk.push(IndexRequest {
            index: index.to_string(),
            id: id.to_string(),
            source: Bytes::copy_from_slice(source.as_bytes()),
        });
        total += 1;
        if chunk.len() >= max_docs.max(1) || bytes >= max_bytes {
            bytes = 0;
            if tx.blocking_send(Ok(std::mem::take(&mut chunk))).is_err() {
                // the drainer stopped (cancelled): the segment stays
                return Ok(total);
            }
        }
    }
}

/// Writes one batch into a new segment. Dropped without [`commit`](Self::commit): the file is
/// removed and its bytes released.
#[derive(Debug)]
pub struct SegmentWriter {
    spool: Spool,
    out: Option<BufWriter<File>>,
    path: PathBuf,
    reserved: u64,
    docs: u64,
}

impl SegmentWriter {
    fn write_raw(&mut self, b: &[u8]) -> Result<(), SpoolError> {
        let i = &self.spool.inner;
        let len = b.len() as u64;
        let used = i.used.fetch_add(len, Ordering::Relaxed) + len;
        self.reserved += len;
        if used > i.max_bytes {
            return Err(SpoolError::Full {
                used,
                max: i.max_bytes,
            });
        }
        let Some(out) = self.out.as_mut() else {
            return Err(io_err(&self.path)(io::Error::other(
                "segment already closed",
            )));
        };
        out.write_all(b).map_err(io_err(&self.path))
    }

    /// Appends one document.
    pub fn write(&mut self, doc: &Doc) -> Result<(), SpoolError> {
        let bad = |s: &str| s.contains(['\t', '\n', '\r']);
        if bad(&doc.index) || bad(&doc.id) {
            return Err(SpoolError::BadKey {
                index: doc.index.clone(),
                id: doc.id.clone(),
            });
        }
        let mut line = String::with_capacity(doc.index.len() + doc.id.len() + doc.source.len() + 3);
        line.push_str(&doc.index);
        line.push('\t');
        line.push_str(&doc.id);
        line.push('\t');
        // the source is compact JSON (serialisers escape control characters); stay safe anyway
        if doc.source.contains(['\n', '\r']) {
            line.push_str(&doc.source.replace(['\n', '\r'], " "));
        } else {
            line.push_str(&doc.source);
        }
        line.push('\n');
        self.write_raw(line.as_bytes())?;
        self.docs += 1;
        Ok(())
    }

    pub fn docs(&self) -> u64 {
        self.docs
    }

    /// Makes the batch durable: trailer, flush, fsync, rename to `<seq>.seg`, fsync the directory.
    /// Only after this returns may the batch be acknowledged. An empty batch writes nothing.
    pub fn commit(mut self) -> Result<u64, SpoolError> {
        if self.docs == 0 {
            return Ok(0);
        }
        let trailer = format!("#end {}\n", self.docs);
        self.write_raw(trailer.as_bytes())?;
        let out = self.out.take();
        let file = match out {
            Some(w) => w
                .into_inner()
                .map_err(|e| io_err(&self.path)(e.into_error()))?,
            None => {
                return Err(io_err(&self.path)(io::Error::other(
                    "segment already closed",
                )))
            }
        };
        file.sync_all().map_err(io_err(&self.path))?;
        drop(file);
        let i = &self.spool.inner;
        let seq = i.next_seq.fetch_add(1, Ordering::Relaxed);
        let dest = i.dir.join(format!("{seq:020}.{SEG_EXT}"));
        fs::rename(&self.path, &dest).map_err(io_err(&dest))?;
        sync_dir(&i.dir)?;
        i.segments.fetch_add(1, Ordering::Relaxed);
        i.pending_docs.fetch_add(self.docs, Ordering::Relaxed);
        // committed: the reservation now belongs to the segment
        self.reserved = 0;
        self.path = dest;
        i.notify.notify_one();
        Ok(self.docs)
    }
}

impl Drop for SegmentWriter {
    fn drop(&mut self) {
        if self.reserved == 0 {
            return;
        }
        self.out = None;
        let _ = fs::remove_file(&self.path);
        let i = &self.spool.inner;
        sub_sat(&i.used, self.reserved);
    }
}
