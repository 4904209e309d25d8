//! The file output: ECS NDJSON, one document per line, appended and fsynced before a batch is
//! acknowledged. `{dataset}` in the path gives one file per dataset (`audit` / `logpull`).

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

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
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> OutputError + '_ {
    move |source| OutputError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// One write intent of the journal: `h` = hashes of the documents of a batch of source `src`,
/// about to be appended to `path` at offset `off`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Intent {
    src: String,
    path: String,
    off: u64,
    h: Vec<u64>,
}

#[derive(Debug)]
struct Journal {
    path: PathBuf,
    file: File,
    entries: Vec<Intent>,
}

#[derive(Debug, Default)]
struct Inner {
    files: HashMap<PathBuf, File>,
    journal: Option<Journal>,
}

/// Appends ECS documents to one or more NDJSON files.
///
/// With a journal ([`FileOutput::with_journal`]), each batch is preceded by a durable intent
/// record (source, file, offset, document hashes). After a crash, [`FileOutput::with_journal`]
/// returns, per source, the documents of not-yet-committed units that did reach the file, so that
/// the replayed unit does not write them twice: the file output is exactly-once even across SIGKILL.
#[derive(Debug, Clone)]
pub struct FileOutput {
    template: String,
    inner: Arc<Mutex<Inner>>,
}

fn lock(m: &Mutex<Inner>) -> std::sync::MutexGuard<'_, Inner> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Hashes of written documents per source key, recovered from the journal.
pub type Recovered = HashMap<String, std::collections::HashSet<u64>>;

impl FileOutput {
    /// `path` may contain `{dataset}`. Files are opened lazily (parents created) on first write.
    pub fn new(path: &Path) -> Self {
        FileOutput {
            template: path.to_string_lossy().into_owned(),
            inner: Arc::new(Mutex::new(Inner::default())),
        }
    }

    /// Adds a write journal at `journal` (created if missing) and recovers what a previous process
    /// wrote for units it did not commit.
    pub fn with_journal(self, journal: &Path) -> Result<(Self, Recovered), OutputError> {
        let mut entries: Vec<Intent> = Vec::new();
        match std::fs::read_to_string(journal) {
            Ok(text) => {
                for line in text.lines() {
                    // a torn last line (crash while appending it) is ignored: its batch was not written
                    if let Ok(e) = serde_json::from_str::<Intent>(line) {
                        entries.push(e);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(journal)(e)),
        }
        let mut recovered: Recovered = HashMap::new();
        let mut by_path: HashMap<&str, Vec<&Intent>> = HashMap::new();
        for e in &entries {
            by_path.entry(e.path.as_str()).or_default().push(e);
        }
        for (path, mut list) in by_path {
            list.sort_by_key(|e| e.off);
            let data = match std::fs::read(path) {
                Ok(d) => d,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                Err(e) => return Err(io_err(Path::new(path))(e)),
            };
            for (i, e) in list.iter().enumerate() {
                let start = (e.off as usize).min(data.len());
                let end = list
                    .get(i + 1)
                    .map(|n| n.off as usize)
                    .unwrap_or(data.len())
                    .clamp(start, data.len());
                let complete = data[start..end].iter().filter(|b| **b == b'\n').count();
                recovered
                    .entry(e.src.clone())
                    .or_default()
                    .extend(e.h.iter().take(complete).copied());
            }
        }
        if let Some(parent) = journal.parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(io_err(journal))?;
            }
        }
        let file = rewrite_journal(journal, &entries)?;
        lock(&self.inner).journal = Some(Journal {
            path: journal.to_path_buf(),
            file,
            entries,
        });
        Ok((self, recovered))
    }

    /// The file documents of `dataset` go to.
    pub fn path_for(&self, dataset: &str) -> PathBuf {
        PathBuf::from(self.template.replace("{dataset}", dataset))
    }

    /// Every distinct file of this output.
    pub fn paths(&self) -> Vec<PathBuf> {
        let mut v = vec![self.path_for("audit"), self.path_for("logpull")];
        v.dedup();
        v
    }

    /// Appends `lines` (each one JSON document, without newline) and fsyncs. With a journal and an
    /// `intent` (source key, one hash per line), the intent is made durable first. Blocking: call
    /// from `spawn_blocking` (see [`FileOutput::write`]).
    pub fn write_blocking(
        &self,
        dataset: &str,
        lines: &[bytes::Bytes],
        intent: Option<(&str, &[u64])>,
    ) -> Result<(), OutputError> {
        if lines.is_empty() {
            return Ok(());
        }
        let path = self.path_for(dataset);
        let mut buf = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for l in lines {
            buf.extend_from_slice(l);
            buf.push(b'\n');
        }
        let mut inner = lock(&self.inner);
        let inner = &mut *inner;
        if !inner.files.contains_key(&path) {
            let f = open_repaired(&path)?;
            inner.files.insert(path.clone(), f);
        }
        let Some(f) = inner.files.get_mut(&path) else {
            return Err(OutputError::Task("file vanished from the table".into()));
        };
        if let (Some(j), Some((src, hashes))) = (inner.journal.as_mut(), intent) {
            let off = f.metadata().map_err(io_err(&path))?.len();
            let e = Intent {
                src: src.to_string(),
                path: path.to_string_lossy().into_owned(),
                off,
                h: hashes.to_vec(),
            };
            let mut line = serde_json::to_vec(&e).map_err(|e| OutputError::Task(e.to_string()))?;
            line.push(b'\n');
            j.file
                .write_all(&line)
                .and_then(|_| j.file.sync_data())
                .map_err(io_err(&j.path))?;
            j.entries.push(e);
        }
        let res = f.write_all(&buf).and_then(|_| f.sync_data());
        if let Err(e) = res {
            // Drop the handle: the next write reopens and cuts a half-written line.
            inner.files.remove(&path);
            return Err(io_err(&path)(e));
        }
        Ok(())
    }

    /// Forgets the journal entries of `src` (its units are committed and their cursor saved).
    pub fn forget(&self, src: &str) -> Result<(), OutputError> {
        let mut inner = lock(&self.inner);
        let Some(j) = inner.journal.as_mut() else {
            return Ok(());
        };
        let before = j.entries.len();
        j.entries.retain(|e| e.src != src);
        if j.entries.len() != before {
            j.file = rewrite_journal(&j.path, &j.entries)?;
        }
        Ok(())
    }

    /// Async wrapper of [`FileOutput::write_blocking`].
    pub async fn write(
        &self,
        dataset: &'static str,
        lines: Vec<bytes::Bytes>,
        intent: Option<(String, Vec<u64>)>,
    ) -> Result<(), OutputError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || {
            me.write_blocking(
                dataset,
                &lines,
                intent.as_ref().map(|(s, h)| (s.as_str(), h.as_slice())),
            )
        })
        .await
        .map_err(|e| OutputError::Task(e.to_string()))?
    }
}

/// Writes `entries` to `path` atomically (temp file, fsync, rename) and returns an append handle.
fn rewrite_journal(path: &Path, entries: &[Intent]) -> Result<File, OutputError> {
    let tmp = path.with_extension("tmp");
    let mut buf = Vec::new();
    for e in entries {
        if let Ok(mut l) = serde_json::to_vec(e) {
            l.push(b'\n');
            buf.extend_from_slice(&l);
        }
    }
    let mut f = File::create(&tmp).map_err(io_err(&tmp))?;
    f.write_all(&buf)
        .and_then(|_| f.sync_all())
        .map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))?;
    if let Some(dir) = path.parent() {
        if let Ok(d) = File::open(if dir.as_os_str().is_empty() {
            Path::new(".")
        } else {
            dir
        }) {
            let _ = d.sync_all();
        }
    }
    OpenOptions::new()
        .append(true)
        .open(path)
        .map_err(io_err(path))
}

/// Opens for append; a last line without newline (a crash in the middle of a write, never
/// acknowledged) is cut off so that the file stays valid NDJSON.
fn open_repaired(path: &Path) -> Result<File, OutputError> {
    if let Some(parent) = path.parent() {
        if !parent.as_os_str().is_empty() {
            std::fs::create_dir_all(parent).map_err(io_err(path))?;
        }
    }
    let mut f = OpenOptions::new()
        .create(true)
        .read(true)
        .append(true)
        .open(path)
        .map_err(io_err(path))?;
    let len = f.metadata().map_err(io_err(path))?.len();
    if len > 0 {
        // find the last newline, reading backwards in chunks
        let mut end = len;
        let mut keep = 0u64;
        let mut chunk = vec![0u8; 64 * 1024];
        'outer: while end > 0 {
            let start = end.saturating_sub(chunk.len() as u64);
            let n = (end - start) as usize;
            f.seek(SeekFrom::Start(start)).map_err(io_err(path))?;
            f.read_exact(&mut chunk[..n]).map_err(io_err(path))?;
            for i in (0..n).rev() {
                if chunk[i] == b'\n' {
                    keep = start + i as u64 + 1;
                    break 'outer;
                }
            }
            end = start;
        }
        if keep != len {
            tracing::warn!(path = %path.display(), cut_bytes = len - keep,
                "file output ended with a partial line (crash during a write); cutting it, the records are sent again");
            f.set_len(keep).map_err(io_err(path))?;
            f.sync_data().map_err(io_err(path))?;
        }
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_lines_per_dataset_and_repairs_partial_tail() {
        let dir = tempfile::tempdir().unwrap();
        let out = FileOutput::new(&dir.path().join("sub/{dataset}.ndjson"));
        out.write_blocking("audit", &[bytes::Bytes::from_static(b"{\"a\":1}")], None)
            .unwrap();
        out.write_blocking(
            "logpull",
            &[
                bytes::Bytes::from_static(b"{\"l\":1}"),
                bytes::Bytes::from_static(b"{\"l\":2}"),
            ],
            None,
        )
        .unwrap();
        let lp = dir.path().join("sub/logpull.ndjson");
        assert_eq!(
            std::fs::read_to_string(&lp).unwrap(),
            "{\"l\":1}\n{\"l\":2}\n"
        );
        assert_eq!(
            std::fs::read_to_string(dir.path().join("sub/audit.ndjson")).unwrap(),
            "{\"a\":1}\n"
        );
        // simulate a crash in the middle of a write, then a new process
        std::fs::OpenOptions::new()
            .append(true)
            .open(&lp)
            .unwrap()
            .write_all(b"{\"l\":3,\"trunc")
            .unwrap();
        let out2 = FileOutput::new(&dir.path().join("sub/{dataset}.ndjson"));
        out2.write_blocking("logpull", &[bytes::Bytes::from_static(b"{\"l\":3}")], None)
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(&lp).unwrap(),
            "{\"l\":1}\n{\"l\":2}\n{\"l\":3}\n"
        );
    }

    #[test]
    fn journal_recovers_what_reached_the_file_after_a_crash() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.ndjson");
        let jpath = dir.path().join("state/journal");
        let b = |s: &'static str| bytes::Bytes::from_static(s.as_bytes());
        let (out, rec) = FileOutput::new(&path).with_journal(&jpath).unwrap();
        assert!(rec.is_empty());
        out.write_blocking(
            "logpull",
            &[b("{\"n\":1}"), b("{\"n\":2}")],
            Some(("z1", &[1, 2])),
        )
        .unwrap();
        out.write_blocking("audit", &[b("{\"n\":3}")], Some(("a1", &[3])))
            .unwrap();
        // crash while writing the next batch: intent durable, only one of its two lines complete
        out.write_blocking("logpull", &[b("{\"n\":4}")], Some(("z1", &[4, 5])))
            .unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{\"n\":")
            .unwrap();
        drop(out);
        let (out, rec) = FileOutput::new(&path).with_journal(&jpath).unwrap();
        let set = |v: &[u64]| {
            v.iter()
                .copied()
                .collect::<std::collections::HashSet<u64>>()
        };
        assert_eq!(rec["z1"], set(&[1, 2, 4]));
        assert_eq!(rec["a1"], set(&[3]));
        // a committed source is forgotten, durably
        out.forget("z1").unwrap();
        drop(out);
        let (_out, rec) = FileOutput::new(&path).with_journal(&jpath).unwrap();
        assert!(!rec.contains_key("z1"));
        assert_eq!(rec["a1"], set(&[3]));
    }
}
