//! The Elasticsearch state backend against real engines: CFSHIP_ES8_URL (and CFSHIP_OPENSEARCH_URL
//! when set; the conditional-write API is the same).

use cfship_elasticsearch::{EsConfig, Method};
use cfship_state::{CursorStore, EsStore, IndexOutcome, StateError, FORMAT_VERSION};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize, PartialEq, Clone)]
struct Cur {
    when: String,
    ids: Vec<String>,
}

fn cur(n: usize) -> Cur {
    Cur {
        when: format!("2026-11-25T04:00:0{n}Z"),
        ids: (0..n).map(|i| format!("id{i}")).collect(),
    }
}

fn engines() -> Vec<(String, String)> {
    let mut v = Vec::new();
    for var in ["CFSHIP_ES8_URL", "CFSHIP_OPENSEARCH_URL"] {
        if let Ok(u) = std::env::var(var) {
            v.push((var.to_string(), u));
        }
    }
    assert!(
        !v.is_empty(),
        "set CFSHIP_ES8_URL (and CFSHIP_OPENSEARCH_URL) to run the state store tests"
    );
    v
}

fn cfg(url: &str) -> EsConfig {
    EsConfig {
        hosts: vec![url.to_string()],
        ..Default::default()
    }
}

fn unique(prefix: &str) -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{}-{t}", std::process::id())
}

fn delete(store: &EsStore) {
    let _ = store.request(Method::DELETE, "", None);
}

#[test]
fn setup_creates_a_strict_index_and_open_requires_it() {
    for (name, url) in engines() {
        let index = unique("cfship-state-t1");
        let err = EsStore::open(&cfg(&url), &index).unwrap_err();
        assert!(err.to_string().contains("cfship setup"), "{name}: {err}");
        let s = EsStore::connect(&cfg(&url), &index).unwrap();
        assert_eq!(s.ensure_index().unwrap(), IndexOutcome::Created, "{name}");
        assert_eq!(s.ensure_index().unwrap(), IndexOutcome::Unchanged, "{name}");
        EsStore::open(&cfg(&url), &index).unwrap();
        // strict: a document with an unknown field is refused
        let r = s
            .request(
                Method::PUT,
                "_doc/x",
                Some(serde_json::json!({"version": 1, "key": "x", "surprise": 1})),
            )
            .unwrap();
        assert_eq!(r.status, 400, "{name}: {:?}", r.body);
        assert_eq!(
            r.body.pointer("/error/type").and_then(|t| t.as_str()),
            Some("strict_dynamic_mapping_exception"),
            "{name}"
        );
        // an invalid (reserved) name is refused before any request
        assert!(EsStore::connect(&cfg(&url), ".cfship-state").is_err());
        delete(&s);
    }
}

#[test]
fn roundtrip_and_optimistic_concurrency() {
    for (name, url) in engines() {
        let index = unique("cfship-state-t2");
        let setup = EsStore::connect(&cfg(&url), &index).unwrap();
        setup.ensure_index().unwrap();
        let a: CursorStore = EsStore::open(&cfg(&url), &index).unwrap().into();
        let b: CursorStore = EsStore::open(&cfg(&url), &index).unwrap().into();
        assert_eq!(a.load::<Cur>("logpull-z1").unwrap(), None, "{name}");
        a.save("logpull-z1", &cur(1)).unwrap();
        a.save("logpull-z1", &cur(2)).unwrap();
        // another store (another replica) sees the last save at once (real-time get)
        assert_eq!(b.load::<Cur>("logpull-z1").unwrap(), Some(cur(2)), "{name}");
        b.save("logpull-z1", &cur(3)).unwrap();
        // a's version is stale now: its save is refused, the document keeps b's cursor
        let err = a.save("logpull-z1", &cur(4)).unwrap_err();
        assert!(matches!(err, StateError::Conflict { .. }), "{name}: {err}");
        assert_eq!(b.load::<Cur>("logpull-z1").unwrap(), Some(cur(3)), "{name}");
        // and stays refused until a reads again
        assert!(matches!(
            a.save("logpull-z1", &cur(4)).unwrap_err(),
            StateError::Conflict { .. }
        ));
        assert_eq!(a.load::<Cur>("logpull-z1").unwrap(), Some(cur(3)), "{name}");
        a.save("logpull-z1", &cur(4)).unwrap();
        assert_eq!(b.load::<Cur>("logpull-z1").unwrap(), Some(cur(4)), "{name}");
        // the document is the envelope of a cursor file
        let r = setup.request(Method::GET, "_doc/logpull-z1", None).unwrap();
        let src = &r.body["_source"];
        assert_eq!(src["version"], FORMAT_VERSION, "{name}");
        assert_eq!(src["key"], "logpull-z1");
        assert_eq!(src["kind"], "cursor");
        assert_eq!(src["cursor"]["ids"][3], "id3");
        delete(&setup);
    }
}

#[test]
fn two_first_writers_one_wins() {
    for (name, url) in engines() {
        let index = unique("cfship-state-t3");
        let setup = EsStore::connect(&cfg(&url), &index).unwrap();
        setup.ensure_index().unwrap();
        let a = EsStore::open(&cfg(&url), &index).unwrap();
        let b = EsStore::open(&cfg(&url), &index).unwrap();
        assert_eq!(a.load::<Cur>("audit-acc").unwrap(), None);
        assert_eq!(b.load::<Cur>("audit-acc").unwrap(), None);
        let (ra, rb) = std::thread::scope(|s| {
            let ta = s.spawn(|| a.save("audit-acc", &cur(1)));
            let tb = s.spawn(|| b.save("audit-acc", &cur(2)));
            (ta.join().unwrap(), tb.join().unwrap())
        });
        assert!(
            ra.is_ok() != rb.is_ok(),
            "{name}: exactly one create wins: {ra:?} {rb:?}"
        );
        let loser = if ra.is_ok() { rb } else { ra };
        assert!(matches!(loser, Err(StateError::Conflict { .. })), "{name}");
        let winner = if a.load::<Cur>("audit-acc").unwrap() == Some(cur(1)) {
            1
        } else {
            2
        };
        assert_eq!(
            b.load::<Cur>("audit-acc").unwrap(),
            Some(cur(winner)),
            "{name}"
        );
        // saving without having read first is a create, refused over an existing cursor
        let c = EsStore::open(&cfg(&url), &index).unwrap();
        assert!(matches!(
            c.save("audit-acc", &cur(5)).unwrap_err(),
            StateError::Conflict { .. }
        ));
        delete(&setup);
    }
}

#[test]
fn corrupt_or_newer_documents_are_errors_not_resets() {
    for (name, url) in engines() {
        let index = unique("cfship-state-t4");
        let setup = EsStore::connect(&cfg(&url), &index).unwrap();
        setup.ensure_index().unwrap();
        let put = |id: &str, body: serde_json::Value| {
            let r = setup
                .request(Method::PUT, &format!("_doc/{id}"), Some(body))
                .unwrap();
            assert!(r.ok(), "{name}: {:?}", r.body);
        };
        put(
            "newer",
            serde_json::json!({"version": 2, "key": "newer", "cursor": {"totally": "different"}}),
        );
        put(
            "noversion",
            serde_json::json!({"key": "noversion", "cursor": {}}),
        );
        put(
            "shape",
            serde_json::json!({"version": 1, "key": "shape", "cursor": {"when": 5}}),
        );
        put(
            "other",
            serde_json::json!({"version": 1, "key": "someone-else", "cursor": cur(1)}),
        );
        let s = EsStore::open(&cfg(&url), &index).unwrap();
        match s.load::<Cur>("newer").unwrap_err() {
            StateError::DocNewerVersion {
                found, supported, ..
            } => {
                assert_eq!((found, supported), (2, FORMAT_VERSION), "{name}");
            }
            e => panic!("{name}: expected DocNewerVersion, got {e}"),
        }
        for k in ["noversion", "shape"] {
            let e = s.load::<Cur>(k).unwrap_err();
            assert!(
                matches!(e, StateError::DocCorrupt { .. }),
                "{name} {k}: {e}"
            );
            assert!(e.to_string().contains("refusing to reset"), "{e}");
        }
        assert!(matches!(
            s.load::<Cur>("other").unwrap_err(),
            StateError::DocKeyMismatch { .. }
        ));
        // the refused documents are untouched; a save over them (never read successfully) is refused
        assert!(matches!(
            s.save("newer", &cur(1)).unwrap_err(),
            StateError::Conflict { .. }
        ));
        let r = setup.request(Method::GET, "_doc/newer", None).unwrap();
        assert_eq!(r.body["_source"]["version"], 2, "{name}");
        delete(&setup);
    }
}

#[test]
fn an_index_set_up_by_a_newer_cfship_is_refused() {
    for (name, url) in engines() {
        let index = unique("cfship-state-t5");
        let setup = EsStore::connect(&cfg(&url), &index).unwrap();
        let mut mapping = cfship_state::state_mapping();
        mapping["_meta"]["format"] = 99.into();
        let r = setup
            .request(
                Method::PUT,
                "",
                Some(serde_json::json!({ "mappings": mapping })),
            )
            .unwrap();
        assert!(r.ok(), "{name}: {:?}", r.body);
        for e in [
            EsStore::open(&cfg(&url), &index).unwrap_err(),
            setup.ensure_index().unwrap_err(),
        ] {
            assert!(
                matches!(e, StateError::DocNewerVersion { found: 99, .. }),
                "{name}: {e}"
            );
            assert!(e.to_string().contains("newer cfship"), "{e}");
        }
        delete(&setup);
    }
}

#[test]
fn an_unreachable_cluster_is_a_transient_error() {
    // port 9 (discard) on loopback: nothing listens, the connection is refused
    let s = EsStore::connect(&cfg("http://127.0.0.1:9"), "cfship-state").unwrap();
    let e = s.load::<Cur>("logpull-z1").unwrap_err();
    assert!(e.is_transient(), "{e}");
    assert!(e.to_string().contains("unavailable"), "{e}");
    let e = s.save("logpull-z1", &cur(1)).unwrap_err();
    assert!(e.is_transient(), "{e}");
    // a refusal of the cluster (here: an invalid key never reaches it) is not transient
    assert!(!s.load::<Cur>("../x").unwrap_err().is_transient());
}

#[test]
fn leases_fence_cursor_writes() {
    use std::time::Duration;
    for (name, url) in engines() {
        let index = unique("cfship-state-t6");
        let setup = EsStore::connect(&cfg(&url), &index).unwrap();
        setup.ensure_index().unwrap();
        let a = EsStore::open(&cfg(&url), &index)
            .unwrap()
            .with_lease("replica-a", Duration::from_secs(1));
        let b = EsStore::open(&cfg(&url), &index)
            .unwrap()
            .with_lease("replica-b", Duration::from_secs(60));
        let k = "logpull-z9";
        assert!(a.try_acquire(k).unwrap(), "{name}");
        assert!(!b.try_acquire(k).unwrap(), "{name}: held by a");
        // a lease before the first cursor reads as "no cursor yet"
        assert_eq!(a.load::<Cur>(k).unwrap(), None);
        a.save(k, &cur(1)).unwrap();
        a.renew(k).unwrap();
        // b read the current document, yet may not write: it is not the owner
        assert_eq!(b.load::<Cur>(k).unwrap(), Some(cur(1)));
        assert!(matches!(
            b.save(k, &cur(9)).unwrap_err(),
            StateError::Conflict { .. }
        ));
        assert!(matches!(
            b.renew(k).unwrap_err(),
            StateError::Conflict { .. }
        ));
        // a stops renewing (paused); after its TTL b takes over
        std::thread::sleep(Duration::from_millis(1300));
        assert!(
            b.try_acquire(k).unwrap(),
            "{name}: expired lease taken over"
        );
        // a wakes up: its save and renewal are refused, even after reading again
        assert!(matches!(
            a.save(k, &cur(2)).unwrap_err(),
            StateError::Conflict { .. }
        ));
        assert!(matches!(
            a.renew(k).unwrap_err(),
            StateError::Conflict { .. }
        ));
        assert_eq!(a.load::<Cur>(k).unwrap(), Some(cur(1)));
        assert!(matches!(
            a.save(k, &cur(2)).unwrap_err(),
            StateError::Conflict { .. }
        ));
        assert!(!a.try_acquire(k).unwrap());
        b.save(k, &cur(3)).unwrap();
        let r = setup
            .request(Method::GET, &format!("_doc/{k}"), None)
            .unwrap();
        assert_eq!(r.body["_source"]["owner"], "replica-b", "{name}");
        assert_eq!(
            r.body["_source"]["cursor"],
            serde_json::to_value(cur(3)).unwrap()
        );
        // a release hands over at once
        a.release(k); // not a's: no effect
        assert!(!a.try_acquire(k).unwrap());
        b.release(k);
        assert!(
            a.try_acquire(k).unwrap(),
            "{name}: released lease taken at once"
        );
        assert_eq!(a.load::<Cur>(k).unwrap(), Some(cur(3)));
        delete(&setup);
    }
}

/// `check_lease_free` (what `run --once` says about a source it does not take): the owner and
/// expiry of another replica's unexpired lease, nothing for a free, released, expired or own one.
#[test]
fn a_lease_held_by_another_replica_names_its_owner() {
    use std::time::Duration;
    for (name, url) in engines() {
        let index = unique("cfship-state-t9");
        let setup = EsStore::connect(&cfg(&url), &index).unwrap();
        setup.ensure_index().unwrap();
        let a = EsStore::open(&cfg(&url), &index)
            .unwrap()
            .with_lease("replica-a", Duration::from_secs(1));
        let b = EsStore::open(&cfg(&url), &index)
            .unwrap()
            .with_lease("replica-b", Duration::from_secs(60));
        let k = "audit-acc9";
        // no document yet: free
        b.check_lease_free(k).unwrap();
        assert!(a.try_acquire(k).unwrap(), "{name}");
        a.check_lease_free(k).unwrap();
        match b.check_lease_free(k) {
            Err(StateError::LeaseHeld {
                key,
                index: ix,
                owner,
                expires_unix_ms,
            }) => {
                assert!(expires_unix_ms > 0, "{name}");
                assert_eq!((key.as_str(), ix.as_str()), (k, index.as_str()), "{name}");
                assert_eq!(owner, "replica-a", "{name}");
                let msg = b.check_lease_free(k).unwrap_err().to_string();
                // the expiry as an RFC 3339 time
                assert!(
                    msg.contains("held by replica \"replica-a\" until 20") && msg.contains(k),
                    "{name}: {msg}"
                );
                assert!(
                    msg.contains("Z: this process does not collect"),
                    "{name}: {msg}"
                );
            }
            other => panic!("{name}: {other:?}"),
        }
        // released: free at once
        a.release(k);
        b.check_lease_free(k).unwrap();
        // held again, then expired (a stops renewing): free
        assert!(a.try_acquire(k).unwrap(), "{name}");
        assert!(b.check_lease_free(k).is_err(), "{name}");
        std::thread::sleep(Duration::from_millis(1300));
        b.check_lease_free(k).unwrap();
        // a store without leases has no owner to name
        EsStore::open(&cfg(&url), &index)
            .unwrap()
            .check_lease_free(k)
            .unwrap();
        delete(&setup);
    }
}

#[test]
fn heartbeats_and_the_replica_view() {
    for (name, url) in engines() {
        let index = unique("cfship-state-t8");
        let setup = EsStore::connect(&cfg(&url), &index).unwrap();
        setup.ensure_index().unwrap();
        let ttl = std::time::Duration::from_secs(30);
        let a = EsStore::open(&cfg(&url), &index)
            .unwrap()
            .with_lease("pod a/1", ttl);
        let b = EsStore::open(&cfg(&url), &index)
            .unwrap()
            .with_lease("b", ttl);
        assert_eq!(a.replica_id(), Some("pod a/1"));
        // the heartbeat documents fit the strict mapping
        a.heartbeat().unwrap();
        b.heartbeat().unwrap();
        assert!(a.try_acquire("logpull-z1").unwrap());
        a.save("logpull-z1", &cur(1)).unwrap();
        assert!(b.try_acquire("logpull-z2").unwrap());
        let _ = setup.request(Method::POST, "_refresh", None);
        let v = a.view().unwrap();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as u64;
        assert_eq!(v.live(now), ["b", "pod a/1"], "{name}");
        assert_eq!(v.leases["logpull-z1"].as_ref().unwrap().0, "pod a/1");
        assert!(v.leases["logpull-z1"].as_ref().unwrap().1 > now);
        assert_eq!(v.leases["logpull-z2"].as_ref().unwrap().0, "b");
        assert!(!v.leases.contains_key(&cfship_state::heartbeat_key("b")));
        // heartbeats are not cursors: the cursor keys still load, the heartbeat id is sanitized
        assert_eq!(cfship_state::heartbeat_key("pod a/1"), "replica-pod_a_1");
        assert_eq!(a.load::<Cur>("logpull-z1").unwrap(), Some(cur(1)));
        // SIGTERM: the heartbeat is deleted
        b.unregister();
        let _ = setup.request(Method::POST, "_refresh", None);
        assert_eq!(a.view().unwrap().live(now), ["pod a/1"], "{name}");
        delete(&setup);
    }
}

#[test]
fn setup_migrates_a_format_2_index_and_reports_merge() {
    for (name, url) in engines() {
        let index = unique("cfship-state-t8");
        let setup = EsStore::connect(&cfg(&url), &index).unwrap();
        // the mapping a format-2 cfship created: no report fields
        let mut mapping = cfship_state::state_mapping();
        mapping["_meta"]["format"] = 2.into();
        let props = mapping["properties"].as_object_mut().unwrap();
        for f in [
            "last_success_unix_ms",
            "last_success_by",
            "last_error_unix_ms",
            "last_error_by",
            "last_error",
        ] {
            assert!(props.remove(f).is_some(), "{f}");
        }
        let r = setup
            .request(
                Method::PUT,
                "",
                Some(serde_json::json!({ "mappings": mapping })),
            )
            .unwrap();
        assert!(r.ok(), "{name}: {:?}", r.body);
        let old = EsStore::open(&cfg(&url), &index).unwrap();
        old.save("logpull-z1", &cur(2)).unwrap();
        // a format-2 index refuses report fields (strict) until `setup` migrates it
        let a = EsStore::open(&cfg(&url), &index)
            .unwrap()
            .with_lease("a", std::time::Duration::from_secs(30));
        assert!(a.report("logpull-z1", Some(1_000), None).is_err(), "{name}");
        assert_eq!(
            setup.ensure_index().unwrap(),
            IndexOutcome::Updated { from: Some(2) },
            "{name}"
        );
        assert_eq!(setup.installed_format().unwrap(), Some(3), "{name}");
        assert_eq!(
            setup.ensure_index().unwrap(),
            IndexOutcome::Unchanged,
            "{name}"
        );
        // the cursors written before are untouched
        let fresh = EsStore::open(&cfg(&url), &index).unwrap();
        assert_eq!(fresh.load::<Cur>("logpull-z1").unwrap(), Some(cur(2)));
        // reports merge: a success, then an error by another replica keep both
        assert_eq!(a.load_report("logpull-z1").unwrap(), None);
        a.report("logpull-z1", Some(1_764_000_000_000), None)
            .unwrap();
        let b = EsStore::open(&cfg(&url), &index)
            .unwrap()
            .with_lease("b", std::time::Duration::from_secs(30));
        b.report(
            "logpull-z1",
            None,
            Some((1_764_000_005_000, "zone z1: Cloudflare answered HTTP 400")),
        )
        .unwrap();
        let r = b.load_report("logpull-z1").unwrap().unwrap();
        assert_eq!(
            r,
            cfship_state::SourceReport {
                last_success_unix_ms: Some(1_764_000_000_000),
                last_success_by: Some("a".into()),
                last_error_unix_ms: Some(1_764_000_005_000),
                last_error_by: Some("b".into()),
                last_error: Some("zone z1: Cloudflare answered HTTP 400".into()),
            },
            "{name}"
        );
        // the report is not a cursor, nor a lease in the replica view
        assert_eq!(fresh.load::<Cur>("logpull-z1").unwrap(), Some(cur(2)));
        let _ = setup.request(Method::POST, "_refresh", None);
        let v = a.view().unwrap();
        assert!(!v.leases.contains_key("report-logpull-z1"), "{name}: {v:?}");
        delete(&setup);
    }
}
