//! `cfship status` on the file backend: every configured source listed, with its cursor, lag and last
//! save from `state.dir`, while the directory's lock is held by a daemon (status does not need it);
//! an unreadable cursor makes it exit 1 naming the source.

mod common;
use cfship_cloudflare::{AuditCursor, LogpullCursor, SourceId};
use cfship_state::CursorStore;
use common::*;

fn status(conf: &std::path::Path) -> (bool, String) {
    let out = std::process::Command::new(BIN)
        .args(["status", "--config", conf.to_str().unwrap()])
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn status_lists_every_source_from_the_state_dir() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let (z1, z2, acc) = (
        "1111111111111111111111111111111f",
        "2222222222222222222222222222222f",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaac1",
    );
    let conf = dir.path().join("cfship.yml");
    std::fs::write(
        &conf,
        format!(
            "cloudflare:\n  api_token: t\nlogpull:\n  zones: [{z1}, {z2}]\naudit:\n  accounts: [{acc}]\n\
             logpush_bucket:\n  - url: s3://bucket/http/\n    dataset: http_request\n    endpoint: http://127.0.0.1:1\n\
             file:\n  path: {}\nstate:\n  dir: {}\n",
            dir.path().join("out.ndjson").display(),
            state.display()
        ),
    )
    .unwrap();
    // held like a running daemon holds it
    let store = CursorStore::open_exclusive(&state).unwrap();
    let at = floor(chrono::Utc::now() - chrono::Duration::minutes(90));
    store
        .save(
            &SourceId::Logpull { zone_id: z1.into() }.state_key(),
            &LogpullCursor { next_start: at },
        )
        .unwrap();
    store
        .save(
            &SourceId::Audit {
                account_id: acc.into(),
            }
            .state_key(),
            &AuditCursor {
                when: at,
                ids: Default::default(),
            },
        )
        .unwrap();
    let ds = cfship_logpush::datasets::find("http_request").unwrap();
    let bucket = cfship_logpush::BucketConfig::new("s3://bucket/http/", ds);
    let mut bs = cfship_logpush::BucketState {
        version: 1,
        done_before: Some("20261201".into()),
        ..Default::default()
    };
    bs.done
        .entry("20261202".into())
        .or_default()
        .insert("a.log.gz".into());
    store.save(&bucket.state_key(), &bs).unwrap();

    let (ok, text) = status(&conf);
    assert!(ok, "{text}");
    assert!(
        text.contains(&format!("state: state dir {}", state.display())),
        "{text}"
    );
    let line = |prefix: &str| -> String {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix}: {text}"))
            .to_string()
    };
    let stamp = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let l = line(&format!("logpull zone {z1}"));
    assert!(l.contains(&stamp) && l.contains("1h 30m"), "{l}");
    assert!(line(&format!("logpull zone {z2}")).contains("no cursor yet"));
    assert!(line(&format!("audit account {acc}")).contains(&stamp));
    let l = line("logpush bucket s3://bucket/http/ http_request");
    assert!(
        l.contains("done before 20261201, 1 objects done after it"),
        "{l}"
    );

    // an unreadable cursor: named, exit 1, the file left alone
    let p = state.join(format!(
        "{}.json",
        SourceId::Logpull { zone_id: z2.into() }.state_key()
    ));
    std::fs::write(&p, b"{\"version\":7,\"key\":\"x\",\"cursor\":{}}").unwrap();
    let (ok, text) = status(&conf);
    assert!(!ok, "{text}");
    let l = line_of(&text, &format!("logpull zone {z2}"));
    assert!(l.contains("newer cfship"), "{l}");
    assert!(std::fs::read(&p).unwrap().starts_with(b"{\"version\":7"));
    drop(store);
}

fn line_of(text: &str, prefix: &str) -> String {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line {prefix}: {text}"))
        .to_string()
}
