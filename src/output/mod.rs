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

/// Appends ECS documents to one or more NDJSON files.
#[derive(Debug, Clone)]
pub struct FileOutput {
    template: String,
    files: Arc<Mutex<HashMap<PathBuf, File>>>,
}

impl FileOutput {
    /// `path` may contain `{dataset}`. Files are opened lazily (parents created) on first write.
    pub fn new(path: &Path) -> Self {
        FileOutput {
            template: path.to_string_lossy().into_owned(),
            files: Arc::new(Mutex::new(HashMap::new())),
        }
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

    /// Appends `lines` (each one JSON document, without newline) and fsyncs. Blocking: call from
    /// `spawn_blocking` (see [`FileOutput::write`]).
    pub fn write_blocking(&self, dataset: &str, lines: &[bytes::Bytes]) -> Result<(), OutputError> {
        if lines.is_empty() {
            return Ok(());
        }
        let path = self.path_for(dataset);
        let mut buf = Vec::with_capacity(lines.iter().map(|l| l.len() + 1).sum());
        for l in lines {
            buf.extend_from_slice(l);
            buf.push(b'\n');
        }
        let mut files = match self.files.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if !files.contains_key(&path) {
            let f = open_repaired(&path)?;
            files.insert(path.clone(), f);
        }
        let Some(f) = files.get_mut(&path) else {
            return Err(OutputError::Task("file vanished from the table".into()));
        };
        let res = f.write_all(&buf).and_then(|_| f.sync_data());
        if let Err(e) = res {
            // Drop the handle: the next write reopens and cuts a half-written line.
            files.remove(&path);
            return Err(io_err(&path)(e));
        }
        Ok(())
    }

    /// Async wrapper of [`FileOutput::write_blocking`].
    pub async fn write(
        &self,
        dataset: &'static str,
        lines: Vec<bytes::Bytes>,
    ) -> Result<(), OutputError> {
        let me = self.clone();
        tokio::task::spawn_blocking(move || me.write_blocking(dataset, &lines))
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
        let out = FileOutput::new(&dir.path().join("sub/{dataset}.ndjson"));
        out.write_blocking("audit", &[bytes::Bytes::from_static(b"{\"a\":1}")])
            .unwrap();
        out.write_blocking(
            "logpull",
            &[
                bytes::Bytes::from_static(b"{\"l\":1}"),
                bytes::Bytes::from_static(b"{\"l\":2}"),
            ],
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
        out2.write_blocking("logpull", &[bytes::Bytes::from_static(b"{\"l\":3}")])
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(&lp).unwrap(),
            "{\"l\":1}\n{\"l\":2}\n{\"l\":3}\n"
        );
    }
}
