//! The bucket reader against a real S3-compatible server (`s3s-fs`, started here) and a real
//! Elasticsearch (CFSHIP_ES8_URL): objects across several days, the ownership-challenge file, an
//! object that is not gzip, a start date, a failure mid-object (indexing stops half way, as in a
//! crash: the object is replayed), new objects arriving between passes, delete after success.
//! Every record lands exactly once.

mod common;

use cfship_cloudflare_sim::s3s_fs::{self, S3sFs};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use cfship_elasticsearch::BulkDocs;
use cfship_logpush::datasets::find;
use cfship_logpush::{BucketConfig, BucketReader, DocSink, RawTransform};
use cfship_secret::Secret;
use cfship_state::CursorStore;
use common::*;
use futures::future::BoxFuture;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use tokio_util::sync::CancellationToken;

const KEY: &str = "cfshiptestkey";
const SECRET: &str = "cfshiptestsecret";

/// A real S3 server over a temporary directory (the directory lives as long as the server).
struct S3Server {
    _server: S3sFs,
    endpoint: String,
    _dir: tempfile::TempDir,
}

fn start_s3(bin: &std::path::Path, bucket: &str) -> S3Server {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = S3sFs::start(bin, dir.path(), &[bucket], KEY, SECRET).expect("start s3s-fs");
    S3Server {
        endpoint: server.endpoint(),
        _server: server,
        _dir: dir,
    }
}

fn bucket_cfg(endpoint: &str, url: &str) -> BucketConfig {
    let mut c = BucketConfig::new(url, find("http_request").expect("ds"));
    c.endpoint = Some(endpoint.to_string());
    c.access_key_id = Some(Secret::new(KEY));
    c.secret_access_key = Some(Secret::new(SECRET));
    c.chunk_docs = 100;
    c
}

/// Forwards to Elasticsearch, failing every call after `ok_calls` (as if cfship died there).
struct Flaky<S> {
    inner: S,
    ok_calls: AtomicI64,
}

impl<S: DocSink> DocSink for Flaky<S> {
    fn index(&self, docs: BulkDocs) -> BoxFuture<'_, Result<(), String>> {
        Box::pin(async move {
            if self.ok_calls.fetch_sub(1, Ordering::SeqCst) <= 0 {
                return Err("simulated crash".into());
            }
            self.inner.index(docs).await
        })
    }
}

async fn put(store: &dyn ObjectStore, key: &str, body: Vec<u8>) {
    store
        .put(&ObjPath::from(key), PutPayload::from(body))
        .await
        .expect("put");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_objects_across_days_exactly_once() {
    let test = "bucket_objects_across_days_exactly_once";
    let Some(es) = engine_url("CFSHIP_ES8_URL", test) else {
        return;
    };
    let Some(bin) = s3s_fs::binary(test) else {
        return;
    };
    let s3 = start_s3(&bin, "logs");
    let tmp = tempfile::tempdir().expect("tempdir");
    let ns = unique_namespace("lpb");
    let index = format!("logs-cloudflare_logpush.http_request-{ns}");
    let url = "s3://logs/cloudflare/http_requests/";
    let mut cfg = bucket_cfg(&s3.endpoint, url);
    cfg.start_date = Some("20261129".into());
    let (store, _) = cffs_store(&cfg);

    // an older day before start_date, three days of objects, the challenge file, a bad object
    put(
        store.as_ref(),
        "cloudflare/http_requests/20261120/20261120T000000Z_20261120T000030Z_old.log.gz",
        gz(&ndjson(&records("old", 0, 50))),
    )
    .await;
    put(
        store.as_ref(),
        "cloudflare/http_requests/ownership-challenge-1a2b3c4d.txt",
        b"challenge".to_vec(),
    )
    .await;
    let mut expected = 0u64;
    let mut next = 0usize;
    for day in ["20261129", "20261130", "20261201"] {
        for o in 0..4 {
            let key = format!(
                "cloudflare/http_requests/{day}/{day}T00{o:02}00Z_{day}T00{o:02}30Z_{o:08x}.log.gz"
            );
            put(store.as_ref(), &key, gz(&ndjson(&records("bk", next, 250)))).await;
            next += 250;
            expected += 250;
        }
    }
    put(
        store.as_ref(),
        "cloudflare/http_requests/20261130/20261130T009000Z_20261130T009030Z_bad.log.gz",
        b"{\"not\":\"gzip\"}\n".to_vec(),
    )
    .await;

    let state = Arc::new(CursorStore::open(tmp.path().join("state")).expect("state"));
    let transform = Arc::new(RawTransform::new(ns.clone()));
    let es_sink = sink(&es, &ns, tmp.path()).await;

    // first run dies after 5 chunks of 100 (in the middle of the second object)
    let flaky = Arc::new(Flaky {
        inner: es_sink.clone(),
        ok_calls: AtomicI64::new(5),
    });
    let r1 =
        BucketReader::new(cfg.clone(), state.clone(), transform.clone(), flaky).expect("reader");
    let cancel = CancellationToken::new();
    let e = r1
        .pass(&cancel)
        .await
        .expect_err("the flaky sink stops the pass");
    assert!(e.to_string().contains("simulated crash"), "{e}");
    // stopped in the second of 13 objects: it and the 11 after it are pending, the lag is the
    // age of the oldest of them
    assert_eq!(r1.stats.pending_objects.load(Ordering::Relaxed), 12);
    let now = chrono::Utc::now().timestamp();
    let oldest = r1.stats.oldest_pending_unix.load(Ordering::Relaxed);
    assert!(oldest > 0 && oldest <= now, "{oldest}");
    assert_eq!(r1.stats.lag_seconds(oldest + 7), 7);
    // 3 chunks of the first object (100+100+50), 2 of the second
    assert_eq!(count(&es, &index, None).await, 450);

    // restart: the half-read object is replayed, nothing doubles
    let r2 = BucketReader::new(
        cfg.clone(),
        state.clone(),
        transform.clone(),
        Arc::new(es_sink.clone()),
    )
    .expect("reader");
    let done = r2.pass(&cancel).await.expect("pass");
    assert_eq!(
        done, 12,
        "12 good objects minus the first, plus the bad one"
    );
    assert_eq!(r2.stats.objects_bad.load(Ordering::Relaxed), 1);
    assert_eq!(r2.stats.pending_objects.load(Ordering::Relaxed), 0);
    assert_eq!(r2.stats.lag_seconds(now + 100), 0, "caught up");
    assert!(r2.stats.last_pass_unix.load(Ordering::Relaxed) >= now);
    assert_eq!(count(&es, &index, None).await, expected);
    // the old day is before start_date (the same query finds the read days' records)
    assert!(
        count(
            &es,
            &index,
            Some(serde_json::json!({"prefix": {"json.RayID.keyword": "bk"}}))
        )
        .await
            > 0
    );
    assert_eq!(
        count(
            &es,
            &index,
            Some(serde_json::json!({"prefix": {"json.RayID.keyword": "old"}}))
        )
        .await,
        0
    );

    // new objects arrive (in the current day and a new day): only they are read
    for (day, o) in [
        ("20261201", 7),
        ("20261202", 0),
        ("20261203", 0),
        ("20261204", 0),
    ] {
        let key = format!(
            "cloudflare/http_requests/{day}/{day}T01{o:02}00Z_{day}T01{o:02}30Z_new.log.gz"
        );
        put(store.as_ref(), &key, gz(&ndjson(&records("bk", next, 100)))).await;
        next += 100;
        expected += 100;
    }
    let done = r2.pass(&cancel).await.expect("pass");
    assert_eq!(done, 4);
    assert_eq!(
        r2.pass(&cancel).await.expect("pass"),
        0,
        "nothing is read twice"
    );
    assert_eq!(count(&es, &index, None).await, expected);
    // the state settled the older days (watermark) and stays small
    let st: cfship_logpush::BucketState =
        state.load(&cfg.state_key()).expect("load").expect("state");
    assert_eq!(st.done_before.as_deref(), Some("20261202"));
    assert!(!st.done.contains_key("20261129"), "{st:?}");

    // delete after success, in another prefix
    let mut dcfg = bucket_cfg(&s3.endpoint, "s3://logs/del/");
    dcfg.delete_after = true;
    put(
        store.as_ref(),
        "del/20261201/a.log.gz",
        gz(&ndjson(&records("del", 0, 10))),
    )
    .await;
    let r3 = BucketReader::new(
        dcfg,
        state.clone(),
        transform.clone(),
        Arc::new(es_sink.clone()),
    )
    .expect("reader");
    assert_eq!(r3.pass(&cancel).await.expect("pass"), 1);
    assert_eq!(r3.stats.objects_deleted.load(Ordering::Relaxed), 1);
    assert!(store
        .head(&ObjPath::from("del/20261201/a.log.gz"))
        .await
        .is_err());
    assert_eq!(count(&es, &index, None).await, expected + 10);
}

fn cffs_store(cfg: &BucketConfig) -> (Arc<dyn ObjectStore>, ObjPath) {
    cfship_logpush::bucket::open_store(cfg).expect("store")
}

/// With leases (`state.backend: elasticsearch`, the daemon): a reader's checkpoints go through
/// its replica's leased store, so they are fenced by the lease of the bucket source. Without the
/// lease nothing is saved (the run ends: `is_lease_lost`); holding it, a pass saves; once the lease
/// expired and another replica took it, the old holder's next checkpoint is refused and the cursor
/// document stays the new owner's, who goes on from it. Every record lands exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leased_checkpoints_are_fenced_by_the_lease() {
    use cfship_state::EsStore;
    use std::time::Duration;
    let test = "leased_checkpoints_are_fenced_by_the_lease";
    let Some(es) = engine_url("CFSHIP_ES8_URL", test) else {
        return;
    };
    let Some(bin) = s3s_fs::binary(test) else {
        return;
    };
    let s3 = start_s3(&bin, "logs");
    let tmp = tempfile::tempdir().expect("tempdir");
    let ns = unique_namespace("lpl");
    let index = format!("logs-cloudflare_logpush.http_request-{ns}");
    let cfg = bucket_cfg(&s3.endpoint, "s3://logs/leased/");
    let key = cfg.state_key();
    let (store, _) = cffs_store(&cfg);
    let mut next = 0;
    let mut add = |n: usize| {
        let objs: Vec<(String, Vec<u8>)> = (0..n)
            .map(|_| {
                let k = format!(
                    "leased/20261201/20261201T00{:02}00Z_{next:08x}.log.gz",
                    next / 100
                );
                let body = gz(&ndjson(&records("ls", next, 100)));
                next += 100;
                (k, body)
            })
            .collect();
        objs
    };
    for (k, b) in add(3) {
        put(store.as_ref(), &k, b).await;
    }

    // two replicas' stores on one state index, lease TTL 1 s
    let state_index = format!("cfship-state-{ns}");
    let es_cfg = cfship_elasticsearch::EsConfig {
        hosts: vec![es.clone()],
        ..Default::default()
    };
    let (a, b) = tokio::task::block_in_place(|| {
        EsStore::connect(&es_cfg, &state_index)
            .expect("connect")
            .ensure_index()
            .expect("state index");
        let open = |id: &str| -> Arc<CursorStore> {
            Arc::new(
                EsStore::open(&es_cfg, &state_index)
                    .expect("open")
                    .with_lease(id, Duration::from_secs(1))
                    .into(),
            )
        };
        (open("a"), open("b"))
    });
    let transform = Arc::new(RawTransform::new(ns.clone()));
    let es_sink = Arc::new(sink(&es, &ns, tmp.path()).await);
    let ra = BucketReader::new(cfg.clone(), a.clone(), transform.clone(), es_sink.clone())
        .expect("reader");
    let cancel = CancellationToken::new();

    // no lease: the first object is indexed, its checkpoint refused, the run ends there
    let e = ra
        .run(cancel.clone())
        .await
        .expect_err("refused checkpoint");
    assert!(e.is_lease_lost(), "{e}");
    assert!(ra
        .stats
        .last_error()
        .is_some_and(|(_, m)| m.contains("another replica")));
    let doc = |s: &CursorStore| -> Option<cfship_logpush::BucketState> {
        tokio::task::block_in_place(|| s.load(&key)).expect("load")
    };
    assert_eq!(doc(&b), None, "no checkpoint without the lease");

    // A holds the lease: the pass reads the three objects (the first again) and saves
    assert!(tokio::task::block_in_place(|| a.try_acquire(&key)).expect("acquire"));
    assert!(!tokio::task::block_in_place(|| b.try_acquire(&key)).expect("acquire"));
    assert_eq!(ra.pass(&cancel).await.expect("pass"), 3);
    let done = |s: Option<cfship_logpush::BucketState>| -> usize {
        s.map(|s| s.done.values().map(|v| v.len()).sum())
            .unwrap_or(0)
    };
    assert_eq!(done(doc(&b)), 3);

    // A's lease expires (A paused); B takes the source over
    for (k, body) in add(2) {
        put(store.as_ref(), &k, body).await;
    }
    tokio::time::sleep(Duration::from_millis(1300)).await;
    assert!(tokio::task::block_in_place(|| b.try_acquire(&key)).expect("take over"));
    // A wakes up: it reads the first new object but cannot checkpoint it
    let e = ra.pass(&cancel).await.expect_err("fenced");
    assert!(e.is_lease_lost(), "{e}");
    assert!(matches!(
        tokio::task::block_in_place(|| a.renew(&key)),
        Err(cfship_state::StateError::Conflict { .. })
    ));
    let st = tokio::task::block_in_place(|| b.load_saved::<cfship_logpush::BucketState>(&key))
        .expect("load")
        .expect("doc");
    assert_eq!(st.owner.as_deref(), Some("b"));
    assert_eq!(
        done(Some(st.cursor)),
        3,
        "A moved no cursor after losing its lease"
    );

    // B goes on from A's last checkpoint: only the two new objects
    let rb = BucketReader::new(cfg.clone(), b.clone(), transform.clone(), es_sink.clone())
        .expect("reader");
    assert_eq!(rb.pass(&cancel).await.expect("pass"), 2);
    assert_eq!(done(doc(&a)), 5);
    tokio::task::block_in_place(|| b.renew(&key)).expect("B still holds the lease");
    // every record once (the replays were the same _ids)
    assert_eq!(count(&es, &index, None).await, next as u64);
}
