//! What an operator sees on stdout/stderr: no colour codes off a terminal, one clean error line
//! (no backtrace) even with RUST_BACKTRACE=1, a quiet end when stdout is closed, a version that
//! names the commit.

use std::io::{Read, Write};
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_cfship");

/// A few audit-looking records, one of them broken so that the transform logs a WARN.
fn records(n: usize) -> String {
    let mut s = String::new();
    for i in 0..n {
        s.push_str(&format!(
            "{{\"id\":\"{i:08x}-aaaa-bbbb-cccc-dddddddddddd\",\"when\":\"2026-11-01T00:00:00Z\",\"action\":{{\"type\":\"login\",\"result\":true}},\"actor\":{{\"email\":\"a@example.com\",\"type\":\"user\",\"ip\":\"192.0.2.1\"}},\"owner\":{{\"id\":\"01a7362d577a6c3019a474fd6f485823\"}},\"resource\":{{\"type\":\"account\"}}}}\n"
        ));
    }
    s.push_str("{\"when\": not json\n");
    s
}

fn transform(input: &str, env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = Command::new(BIN);
    cmd.args(["transform", "--dataset", "audit"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn logs_to_a_pipe_have_no_colour_codes() {
    let o = transform(&records(3), &[("NO_COLOR", ""), ("RUST_LOG", "info")]);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains("WARN"),
        "the bad record is logged: {stderr}"
    );
    assert!(
        !stderr.contains('\u{1b}'),
        "escape codes in logs written to a pipe: {stderr:?}"
    );
}

#[test]
fn a_fatal_error_is_one_clean_line_even_with_rust_backtrace() {
    for cmd in [
        vec![
            "transform",
            "--dataset",
            "audit",
            "--input",
            "/nonexistent/cfship-in.ndjson",
        ],
        vec!["run", "--config", "/nonexistent/cfship.yml", "--once"],
        vec![
            "backfill",
            "--config",
            "/nonexistent/cfship.yml",
            "--since",
            "1h",
        ],
        vec!["setup", "--config", "/nonexistent/cfship.yml"],
    ] {
        let o = Command::new(BIN)
            .args(&cmd)
            .env("RUST_BACKTRACE", "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{cmd:?} should fail");
        assert!(
            !stderr.to_lowercase().contains("backtrace"),
            "{cmd:?} printed a backtrace: {stderr}"
        );
        let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{cmd:?}: one error line, got: {stderr}");
        assert!(
            lines[0].starts_with(&format!("cfship {}: error: ", cmd[0])),
            "{cmd:?}: {stderr}"
        );
    }
}

#[test]
fn a_config_error_exits_2_and_other_failures_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("cfship.yml");
    std::fs::write(&cfg, "logpull:\n  zonez: []\n").unwrap();
    let o = Command::new(BIN)
        .args(["run", "--once", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let o = Command::new(BIN)
        .args([
            "transform",
            "--dataset",
            "audit",
            "--input",
            "/nonexistent/x.ndjson",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
}

#[test]
fn a_closed_stdout_ends_transform_quietly() {
    let mut child = Command::new(BIN)
        .args(["transform", "--dataset", "audit"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    // `| head -c 100`: read a little, then close the pipe while cfship is still writing.
    let mut first = [0u8; 100];
    let feeder = std::thread::spawn(move || {
        let chunk = records(2_000);
        for _ in 0..50 {
            if stdin.write_all(chunk.as_bytes()).is_err() {
                break;
            }
        }
    });
    stdout.read_exact(&mut first).unwrap();
    drop(stdout);
    let _ = feeder.join();
    let o = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "exit {:?}: {stderr}", o.status);
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn version_names_the_commit() {
    let o = Command::new(BIN).arg("--version").output().unwrap();
    let v = String::from_utf8_lossy(&o.stdout);
    assert!(v.starts_with("cfship 0."), "{v}");
    assert!(v.contains("(commit "), "{v}");
    assert!(
        !v.contains("commit unknown"),
        "built from a git checkout: {v}"
    );
}
