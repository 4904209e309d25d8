//! A real S3-compatible server for tests and the demo: `s3s-fs` (crates.io, `cargo install
//! s3s-fs --features binary`), started on a free port over a directory, one sub-directory per
//! bucket. Shared by every test that needs a bucket, so they all find and start it the same way.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The version the tests are run with (`.ci/run` installs it).
pub const S3S_FS_INSTALL: &str = "cargo install s3s-fs@0.14.1 --features binary --locked";

/// `s3s-fs` from `CFSHIP_S3S_FS`, `~/.cargo/bin` or PATH. When it is missing: `None` with a
/// SKIPPED line naming `test`, or a panic when `CI=true` (CI must not skip).
pub fn binary(test: &str) -> Option<PathBuf> {
    let candidates = [
        std::env::var("CFSHIP_S3S_FS").ok().map(PathBuf::from),
        std::env::var("HOME")
            .ok()
            .map(|h| PathBuf::from(h).join(".cargo/bin/s3s-fs")),
        Some(PathBuf::from("s3s-fs")),
    ];
    for c in candidates.into_iter().flatten() {
        if Command::new(&c)
            .arg("--help")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
        {
            return Some(c);
        }
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("s3s-fs is not installed but CI=true ({S3S_FS_INSTALL})");
    }
    eprintln!("\n*** SKIPPED: {test}: s3s-fs not installed ({S3S_FS_INSTALL}) ***\n");
    println!("SKIPPED: {test}: s3s-fs not installed");
    None
}

/// A running `s3s-fs`; killed when dropped.
pub struct S3sFs {
    child: Child,
    port: u16,
}

impl S3sFs {
    /// Starts `bin` over `root` (created, with one directory per bucket) with these keys, and
    /// waits until it accepts connections (at most 30 s).
    pub fn start(
        bin: &Path,
        root: &Path,
        buckets: &[&str],
        access_key: &str,
        secret_key: &str,
    ) -> std::io::Result<S3sFs> {
        for b in buckets {
            std::fs::create_dir_all(root.join(b))?;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let child = Command::new(bin)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", access_key, "--secret-key", secret_key])
            .arg(root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let s = S3sFs { child, port };
        let t = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if t.elapsed() > Duration::from_secs(30) {
                return Err(std::io::Error::other("s3s-fs did not start within 30 s"));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        Ok(s)
    }

    /// `http://127.0.0.1:<port>`, the S3 endpoint.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for S3sFs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
