//! The NDJSON writer of the file output: one document per line, appended and fsynced before the
//! write returns. `{dataset}` in the path gives one file per dataset (`audit` / `logpull`). With a
//! journal, each write is preceded by its durable intent (see `journal.rs`); the offset of the
//! intent and the append happen under one lock, so they always agree.

use super::journal::{Journal, Recovered};
use crate::output::error::{io_err, OutputError};
use crate::sync::lock;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Debug, Default)]
struct Inner {
    files: HashMap<PathBuf, File>,
    journal: Option<Journal>,
}

/// Appends ECS documents to one or more NDJSON files.
///
/// With a journal ([`FileWriter::with_journal`]), each batch is preceded by a durable intent
/// record (source, file, offset, document hashes). After a crash, [`FileWriter::with_journal`]
/// returns, per source, the documents of not-yet-committed units that did reach the file, so that
/// the replayed unit does not write them twice: the file output is exactly-once even across SIGKILL.
#[derive(Debug, Clone)]
pub struct FileWriter {
    template: String,
    inner: Arc<Mutex<Inner>>,
}

impl FileWriter {
    /// `path` may contain `{dataset}`. Files are opened lazily (parents created) on first write.
    pub fn new(path: &Path) -> Self {
        FileWriter {
            template: path.to_string_lossy().into_owned(),
            inner: Arc::new(Mutex::new(Inner::default())),
        }
    }

    /// Adds a write journal at `journal` (created if missing) and recovers what a previous process
    /// wrote for units it did not commit.
    pub fn with_journal(self, journal: &Path) -> Result<(Self, Recovered), OutputError> {
        let (j, recovered) = Journal::open(journal)?;
        lock(&self.inner).journal = Some(j);
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
    /// from `spawn_blocking` (see [`FileWriter::write`]).
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
            j.append(src, &path, off, hashes)?;
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
        match lock(&self.inner).journal.as_mut() {
            Some(j) => j.forget(src),
            None => Ok(()),
        }
    }

    /// Async wrapper of [`FileWriter::write_blocking`].
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
        let out = FileWriter::new(&dir.path().join("sub/{dataset}.ndjson"));
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
        let out2 = FileWriter::new(&dir.path().join("sub/{dataset}.ndjson"));
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
        let (out, rec) = FileWriter::new(&path).with_journal(&jpath).unwrap();
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
        let (out, rec) = FileWriter::new(&path).with_journal(&jpath).unwrap();
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
        let (_out, rec) = FileWriter::new(&path).with_journal(&jpath).unwrap();
        assert!(!rec.contains_key("z1"));
        assert_eq!(rec["a1"], set(&[3]));
    }
}
