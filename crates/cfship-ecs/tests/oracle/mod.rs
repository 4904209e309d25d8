//! Running the Java oracles of `oracles/java/`: find a JDK, compile the sources with `javac` into
//! `target/`, feed every generated input through ONE JVM (stdin = one JSON array per line,
//! stdout = one JSON object per line) and read the answers back.
//!
//! Which JDK: `CFSHIP_ORACLE_JAVA_HOME`, else the newest Java 21+ under /usr/lib/jvm (the JDK
//! generation Elasticsearch 8.19/9.x bundle), else `java`/`javac` on the PATH. Without any JDK the
//! tests print `SKIPPED:` — and fail under `CI=true`.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub struct Jdk {
    pub java: PathBuf,
    pub javac: PathBuf,
    /// `Runtime.version().feature()` (17, 21, 25…).
    pub feature: u32,
}

fn ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

/// `None` after a loud `SKIPPED:` line (a panic under `CI=true`).
pub fn skip_or_fail(msg: &str) {
    if ci() {
        panic!("{msg}: required under CI=true");
    }
    eprintln!("SKIPPED: {msg}");
}

fn version_of(java: &Path) -> Option<u32> {
    let out = Command::new(java).arg("-version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stderr);
    // `openjdk version "17.0.15"` / `"25.0.1"` / `"1.8.0_…"`
    let v = text.split('"').nth(1)?;
    let major: u32 = v.split(['.', '-', '+']).next()?.parse().ok()?;
    Some(if major == 1 { 8 } else { major })
}

fn jdk_at(home: &Path) -> Option<Jdk> {
    let java = home.join("bin/java");
    let javac = home.join("bin/javac");
    if !java.is_file() || !javac.is_file() {
        return None;
    }
    let feature = version_of(&java)?;
    Some(Jdk {
        java,
        javac,
        feature,
    })
}

pub fn jdk() -> Option<Jdk> {
    if let Some(h) = std::env::var_os("CFSHIP_ORACLE_JAVA_HOME") {
        return jdk_at(Path::new(&h));
    }
    let mut best: Option<Jdk> = None;
    if let Ok(rd) = std::fs::read_dir("/usr/lib/jvm") {
        for e in rd.flatten() {
            if let Some(j) = jdk_at(&e.path()) {
                if best.as_ref().is_none_or(|b| j.feature > b.feature) {
                    best = Some(j);
                }
            }
        }
    }
    if let Some(b) = best.filter(|b| b.feature >= 17) {
        return Some(b);
    }
    let java = PathBuf::from("java");
    let feature = version_of(&java)?;
    Some(Jdk {
        java,
        javac: PathBuf::from("javac"),
        feature,
    })
}

pub fn oracle_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../oracles/java")
}

/// Compiles `sources` (file names in `oracles/java/`) into a fresh directory under `target/`.
pub fn compile(jdk: &Jdk, name: &str, sources: &[&str], classpath: Option<&str>) -> PathBuf {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("oracle-{name}"));
    let _ = std::fs::remove_dir_all(&out);
    std::fs::create_dir_all(&out).expect("create oracle output dir");
    let mut cmd = Command::new(&jdk.javac);
    cmd.arg("-encoding")
        .arg("UTF-8")
        .arg("-nowarn")
        .arg("-d")
        .arg(&out);
    if let Some(cp) = classpath {
        cmd.arg("-cp").arg(cp);
    }
    for s in sources {
        cmd.arg(oracle_dir().join(s));
    }
    let res = cmd.output().expect("run javac");
    assert!(
        res.status.success(),
        "javac failed: {}",
        String::from_utf8_lossy(&res.stderr)
    );
    out
}

/// Runs `class` once over all `inputs` (each a JSON array) and returns one JSON value per input.
pub fn run(
    jdk: &Jdk,
    classes: &Path,
    extra_cp: Option<&str>,
    class: &str,
    inputs: &[serde_json::Value],
) -> Vec<serde_json::Value> {
    let cp = match extra_cp {
        Some(x) => format!("{}:{x}", classes.display()),
        None => classes.display().to_string(),
    };
    let mut child = Command::new(&jdk.java)
        .arg("-Xshare:auto")
        .arg("-XX:TieredStopAtLevel=1")
        .arg("-Dfile.encoding=UTF-8")
        .arg("-cp")
        .arg(cp)
        .arg(class)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start java");
    let mut stdin = child.stdin.take().expect("stdin");
    let body: String = inputs
        .iter()
        .map(|v| format!("{v}\n"))
        .collect::<Vec<_>>()
        .concat();
    let writer = std::thread::spawn(move || {
        stdin
            .write_all(body.as_bytes())
            .expect("write oracle input");
    });
    let stdout = child.stdout.take().expect("stdout");
    let mut out = Vec::with_capacity(inputs.len());
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("read oracle output");
        out.push(serde_json::from_str(&line).unwrap_or_else(|e| panic!("oracle line {line}: {e}")));
    }
    writer.join().expect("writer thread");
    let status = child.wait().expect("wait java");
    assert!(status.success(), "{class} exited with {status}");
    assert_eq!(out.len(), inputs.len(), "{class}: one answer per input");
    out
}

/// A seeded generator (SplitMix64); the seed comes from `CFSHIP_ORACLE_SEED` (default fixed, so CI
/// runs are reproducible) and is printed by every test.
pub struct Rng(u64);

impl Rng {
    pub fn from_env(test: &str) -> Rng {
        let seed = match std::env::var("CFSHIP_ORACLE_SEED").ok().as_deref() {
            Some("random") => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1),
            Some(s) => s.parse().unwrap_or(11),
            None => 11,
        };
        eprintln!("{test}: seed {seed} (reproduce with CFSHIP_ORACLE_SEED={seed})");
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    pub fn pick<'a, T: ?Sized>(&mut self, xs: &[&'a T]) -> &'a T {
        xs[self.below(xs.len())]
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// Collects differences and fails with the first ones (input, Java's answer, cfship's answer).
pub struct Diffs {
    pub name: &'static str,
    pub total: usize,
    pub items: Vec<String>,
}

impl Diffs {
    pub fn new(name: &'static str) -> Diffs {
        Diffs {
            name,
            total: 0,
            items: Vec::new(),
        }
    }
    pub fn check(&mut self, input: &str, java: &serde_json::Value, rust: &serde_json::Value) {
        self.total += 1;
        if java != rust {
            self.items.push(format!(
                "input {input:?}\n    java:   {java}\n    cfship: {rust}"
            ));
        }
    }
    pub fn finish(self) {
        eprintln!(
            "{}: {} inputs compared, {} differences",
            self.name,
            self.total,
            self.items.len()
        );
        if !self.items.is_empty() {
            let shown: Vec<&String> = self.items.iter().take(25).collect();
            panic!(
                "{}: {} of {} inputs differ from Java; first ones:\n{}",
                self.name,
                self.items.len(),
                self.total,
                shown
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join("\n")
            );
        }
    }
}
