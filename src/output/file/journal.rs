//! The write journal of the file output (`run`): before a batch is appended, a durable intent
//! record names its source, the file, the offset and one hash per document. After a crash, the
//! intents of not-yet-committed units say which of their documents did reach the file (the complete
//! lines after each intent's offset), so the replayed unit does not write them again.
//!
//! Format: one JSON object per line, `{"src":…,"path":…,"off":…,"h":[…]}`. A torn last line (a
//! crash while appending it) is ignored: its batch was never written. Entries of a source are
//! dropped (the file rewritten atomically) once its unit is committed and its cursor saved.

use crate::output::error::{io_err, OutputError};
use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Hashes of written documents per source key, recovered from the journal.
pub type Recovered = HashMap<String, HashSet<u64>>;

/// One write intent: `h` = hashes of the documents of a batch of source `src`, about to be
/// appended to `path` at offset `off`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Intent {
    src: String,
    path: String,
    off: u64,
    h: Vec<u64>,
}

#[derive(Debug)]
pub(crate) struct Journal {
    path: PathBuf,
    file: File,
    entries: Vec<Intent>,
}

impl Journal {
    /// Opens (creates) the journal at `path` and recovers what a previous process wrote for units
    /// it did not commit.
    pub(crate) fn open(path: &Path) -> Result<(Journal, Recovered), OutputError> {
        let mut entries: Vec<Intent> = Vec::new();
        match std::fs::read_to_string(path) {
            Ok(text) => {
                for line in text.lines() {
                    if let Ok(e) = serde_json::from_str::<Intent>(line) {
                        entries.push(e);
                    }
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(path)(e)),
        }
        let recovered = recover(&entries)?;
        if let Some(parent) = path.parent() {
            if !parent.as_os_str().is_empty() {
                std::fs::create_dir_all(parent).map_err(io_err(path))?;
            }
        }
        let file = rewrite(path, &entries)?;
        Ok((
            Journal {
                path: path.to_path_buf(),
                file,
                entries,
            },
            recovered,
        ))
    }

    /// Makes the intent durable: the documents `hashes` of source `src` are about to be appended
    /// to `file` at offset `off`.
    pub(crate) fn append(
        &mut self,
        src: &str,
        file: &Path,
        off: u64,
        hashes: &[u64],
    ) -> Result<(), OutputError> {
        let e = Intent {
            src: src.to_string(),
            path: file.to_string_lossy().into_owned(),
            off,
            h: hashes.to_vec(),
        };
        let mut line = serde_json::to_vec(&e).map_err(|e| OutputError::Task(e.to_string()))?;
        line.push(b'\n');
        self.file
            .write_all(&line)
            .and_then(|_| self.file.sync_data())
            .map_err(io_err(&self.path))?;
        self.entries.push(e);
        Ok(())
    }

    /// Forgets the entries of `src` (its units are committed and their cursor saved).
    pub(crate) fn forget(&mut self, src: &str) -> Result<(), OutputError> {
        let before = self.entries.len();
        self.entries.retain(|e| e.src != src);
        if self.entries.len() != before {
            self.file = rewrite(&self.path, &self.entries)?;
        }
        Ok(())
    }
}

/// Per source, the hashes of the documents whose line is complete in the file after each intent.
fn recover(entries: &[Intent]) -> Result<Recovered, OutputError> {
    let mut recovered: Recovered = HashMap::new();
    let mut by_path: HashMap<&str, Vec<&Intent>> = HashMap::new();
    for e in entries {
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
    Ok(recovered)
}

/// Writes `entries` to `path` atomically (temp file, fsync, rename) and returns an append handle.
fn rewrite(path: &Path, entries: &[Intent]) -> Result<File, OutputError> {
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
