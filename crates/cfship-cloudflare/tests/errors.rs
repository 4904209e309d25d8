//! Failure handling against the simulator: error trailer / truncation, auth, retention, fields,
//! Retry-After, backfill, timestamps and stream framing.

mod common;

use cfship_cloudflare::{
    backfill_audit, backfill_logpull, AuditApi, AuditCollector, AuditConfig, Auth, CfError,
    ClientConfig, Clock, CloudflareClient, LogpullCollector, LogpullConfig, LogpullCursor,
    ProgressEvent, RetryPolicy, SourceId, StreamFailure, Timestamps,
};
use cfship_cloudflare_sim::{self as simulator, Faults};
use cfship_state::CursorStore;
use chrono::Duration as CDur;
use common::*;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn lp(
    zone: &str,
    auth: Auth,
    now: chrono::DateTime<chrono::Utc>,
    lookback_min: u64,
) -> LogpullConfig {
    let mut c = LogpullConfig::new(zone, auth);
    c.clock = Clock::Fixed(now);
    c.initial_lookback = Duration::from_secs(lookback_min * 60);
    c.batch_size = 25;
    c
}

fn one_attempt_client(sim: &simulator::SimulatorHandle) -> CloudflareClient {
    let mut cfg = ClientConfig::with_api_url(&sim.url()).unwrap();
    cfg.retry = RetryPolicy {
        max_attempts: 1,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(1),
    };
    cfg.logpull_requests_per_min_per_zone = 100_000;
    cfg.logpull_requests_per_min = 100_000;
    CloudflareClient::new(cfg).unwrap()
}

/// A 200 whose body ends with `Error streaming data`, or is cut short (reset or clean end mid-object /
/// mid-gzip), is a failed window: nothing is committed, the cursor does not move.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trailer_and_truncation_fail_the_window_without_committing() {
    init_tracing();
    for (faults, want) in [
        (
            Faults {
                rate_error_trailer: 1.0,
                ..Default::default()
            },
            "trailer",
        ),
        (
            Faults {
                rate_truncated: 1.0,
                ..Default::default()
            },
            "truncated",
        ),
    ] {
        for gzip in [true, false] {
            for round in 0..3 {
                let mut cfg = sim_config(100 + round, vec![zone("zt", 600)], vec![]);
                cfg.faults = faults.clone();
                cfg.gzip = gzip;
                let sim = start_sim(cfg).await;
                let dir = tempfile::tempdir().unwrap();
                let store = Arc::new(CursorStore::open(dir.path()).unwrap());
                let sink = TestSink::new();
                let now = pinned_now();
                let z = LogpullCollector::new(
                    one_attempt_client(&sim),
                    lp("zt", Auth::token(TOKEN), now, 10),
                    store.clone(),
                    sink.clone(),
                )
                .unwrap();
                let err = z.run_once(CancellationToken::new()).await.unwrap_err();
                let CfError::RetriesExhausted { last, .. } = &err else {
                    panic!("{err}")
                };
                match (want, last.as_ref()) {
                    (
                        "trailer",
                        CfError::Stream {
                            failure: StreamFailure::ErrorTrailer(t),
                            ..
                        },
                    ) => {
                        assert_eq!(t, "Error streaming data");
                        assert!(err.to_string().contains("Error streaming data"));
                    }
                    (
                        "truncated",
                        CfError::Stream {
                            failure: StreamFailure::Truncated(_) | StreamFailure::Transport(_),
                            ..
                        },
                    ) => {}
                    // Reset before the first body byte: the response never completed.
                    ("truncated", CfError::Transport { .. }) => {}
                    other => panic!("{want} gzip={gzip}: unexpected {other:?}"),
                }
                if matches!(last.as_ref(), CfError::Stream { .. }) {
                    assert!(err.to_string().contains("retried whole"), "{err}");
                }
                assert!(!err.to_string().contains("fields="), "no URL noise: {err}");
                assert!(
                    sink.committed(&SourceId::Logpull {
                        zone_id: "zt".into()
                    })
                    .is_empty(),
                    "nothing committed"
                );
                assert_eq!(sink.pending_len(), 0, "partial deliveries were aborted");
                assert_eq!(
                    store.load::<LogpullCursor>("logpull-zt").unwrap(),
                    None,
                    "cursor not moved"
                );
                assert_eq!(sim.requests().last().unwrap().fault.as_deref(), Some(want));
                sim.shutdown().await;
            }
        }
    }
}

/// With faults switched off after the first failure, the failed window is retried whole and committed
/// exactly once (partial deliveries of the failed attempt are aborted, not counted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_window_is_retried_whole() {
    init_tracing();
    let mut cfg = sim_config(11, vec![zone("zw", 300)], vec![]);
    cfg.faults = Faults {
        rate_error_trailer: 1.0,
        ..Default::default()
    };
    let sim = Arc::new(start_sim(cfg.clone()).await);
    let mut ccfg = ClientConfig::with_api_url(&sim.url()).unwrap();
    ccfg.retry = RetryPolicy {
        max_attempts: 5,
        initial_backoff: Duration::from_millis(400),
        max_backoff: Duration::from_millis(400),
    };
    let client = CloudflareClient::new(ccfg).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(CursorStore::open(dir.path()).unwrap());
    let sink = TestSink::new();
    let now = pinned_now();
    let sim2 = sim.clone();
    let watcher = tokio::spawn(async move {
        loop {
            if sim2
                .requests()
                .iter()
                .any(|r| r.fault.as_deref() == Some("trailer"))
            {
                sim2.set_faults(Faults::default());
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    let z = LogpullCollector::new(
        client,
        lp("zw", Auth::token(TOKEN), now, 30),
        store.clone(),
        sink.clone(),
    )
    .unwrap();
    let r = z.run_once(CancellationToken::new()).await.unwrap();
    watcher.await.unwrap();
    let reqs = logpull_requests(&sim, "zw");
    assert_eq!(reqs.len(), 2, "one failed attempt, one clean retry");
    assert_eq!(reqs[0].query["start"], reqs[1].query["start"]);
    assert_eq!(reqs[0].query["end"], reqs[1].query["end"]);
    let exp = simulator::expected_logpull_ray_ids(
        &cfg,
        "zw",
        now - CDur::minutes(31),
        now - CDur::minutes(1),
    );
    sink.assert_exactly_once(
        &SourceId::Logpull {
            zone_id: "zw".into(),
        },
        &exp,
    );
    assert_eq!(r.records, exp.len() as u64);
}

#[tokio::test]
async fn auth_failures_quote_code_10000_and_are_not_retried() {
    init_tracing();
    let cfg = sim_config(1, vec![zone("za", 5)], vec![account("aa", 5)]);
    let sim = start_sim(cfg).await;
    let client = client(&sim);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(CursorStore::open(dir.path()).unwrap());
    let now = pinned_now();
    for bad in [
        Auth::token("wrong-token-s3cr3t"),
        Auth::key(EMAIL, "wrong-key-s3cr3t"),
    ] {
        let z = LogpullCollector::new(
            client.clone(),
            lp("za", bad.clone(), now, 5),
            store.clone(),
            TestSink::new(),
        )
        .unwrap();
        let n0 = sim.requests().len();
        let err = z.run_once(CancellationToken::new()).await.unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("10000") && msg.contains("Authentication error"),
            "{msg}"
        );
        assert!(msg.contains("check the credentials"), "hint: {msg}");
        assert!(
            !msg.contains("s3cr3t") && !format!("{err:?}").contains("s3cr3t"),
            "secret leaked"
        );
        assert_eq!(err.status(), Some(403));
        assert_eq!(sim.requests().len(), n0 + 1, "not retried");
        // The daemon loop gives up too (the error cannot heal by itself).
        assert!(z.run(CancellationToken::new()).await.is_err());
        let mut ac = AuditConfig::new("aa", bad.clone());
        ac.clock = Clock::Fixed(now);
        let a = AuditCollector::new(client.clone(), ac, store.clone(), TestSink::new()).unwrap();
        let err = a.run_once(CancellationToken::new()).await.unwrap_err();
        assert_eq!(err.codes(), vec![10000]);
    }
    // No credentials at all → 401 / 10000; malformed Authorization → 6003 with the 6111 chain.
    let err = client.verify_token(&Auth::token("nope")).await.unwrap_err();
    assert!(
        err.to_string().contains("1000") && err.to_string().contains("Invalid API Token"),
        "{err}"
    );
    let ok = client.verify_token(&Auth::token(TOKEN)).await.unwrap();
    assert_eq!(ok.status, "active");
    client.verify_token(&Auth::key(EMAIL, KEY)).await.unwrap();
    assert_eq!(
        client
            .verify_account_token(&Auth::token(TOKEN), "aa")
            .await
            .unwrap()
            .status,
        "active"
    );
    let fields = client
        .logpull_fields(&Auth::token(TOKEN), "za")
        .await
        .unwrap();
    for f in cfship_cloudflare::ELASTIC_DEFAULT_FIELDS {
        assert!(fields.iter().any(|x| x == f), "{f} listed");
    }
    client
        .audit_readable(&Auth::key(EMAIL, KEY), "aa")
        .await
        .unwrap();
    let err = client
        .audit_readable(&Auth::key(EMAIL, KEY), "no-such-account")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("7003"), "{err}");
}

#[tokio::test]
async fn retention_off_is_a_clear_error() {
    init_tracing();
    let mut z = zone("zoff", 5);
    z.retention_enabled = false;
    let sim = start_sim(sim_config(1, vec![z], vec![])).await;
    let client = client(&sim);
    assert!(!client
        .logpull_retention(&Auth::token(TOKEN), "zoff")
        .await
        .unwrap());
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(CursorStore::open(dir.path()).unwrap());
    let now = pinned_now();
    for check in [true, false] {
        let mut c = lp("zoff", Auth::token(TOKEN), now, 5);
        c.check_retention = check;
        let col = LogpullCollector::new(client.clone(), c, store.clone(), TestSink::new()).unwrap();
        let err = col.run_once(CancellationToken::new()).await.unwrap_err();
        assert!(matches!(err, CfError::RetentionDisabled { .. }), "{err}");
        assert!(err.to_string().contains("logs/control/retention/flag"));
        assert!(
            col.run(CancellationToken::new()).await.is_err(),
            "daemon stops: not fixable by retrying"
        );
    }
    // The data endpoint itself answers 204 (as Cloudflare does with retention off).
    assert!(logpull_requests(&sim, "zoff")
        .iter()
        .all(|r| r.status == 204));
}

#[tokio::test]
async fn bad_and_licence_gated_fields_are_named() {
    init_tracing();
    let sim = start_sim(sim_config(1, vec![zone("zf", 5)], vec![])).await;
    let client = client(&sim);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(CursorStore::open(dir.path()).unwrap());
    let now = pinned_now();
    // Refused fields are dropped and the window asked again (collect.rs:
    // refused_fields_are_dropped_and_collection_goes_on); when nothing would be left to request,
    // the error surfaces, naming the fields and the reason.
    let mut c = lp("zf", Auth::token(TOKEN), now, 5);
    c.fields = Some(vec!["BotScore".into(), "BotScoreSrc".into()]);
    let col = LogpullCollector::new(client.clone(), c, store.clone(), TestSink::new()).unwrap();
    let err = col.run_once(CancellationToken::new()).await.unwrap_err();
    assert_eq!(err.status(), Some(403));
    let msg = err.to_string();
    assert!(
        msg.contains("BotScore,BotScoreSrc") && msg.contains("Bot Management"),
        "{msg}"
    );
    let mut c = lp("zf", Auth::token(TOKEN), now, 5);
    c.fields = Some(vec!["NoSuchField".into()]);
    let col = LogpullCollector::new(client.clone(), c, store, TestSink::new()).unwrap();
    let err = col.run_once(CancellationToken::new()).await.unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert!(err.to_string().contains("NoSuchField"), "{err}");
}

/// `429` pauses the shared limiter for `Retry-After` seconds before the retry.
#[tokio::test]
async fn retry_after_is_honoured() {
    init_tracing();
    let mut cfg = sim_config(1, vec![], vec![account("ar", 5)]);
    cfg.faults = Faults {
        rate_429: 1.0,
        retry_after_secs: 1,
        ..Default::default()
    };
    let sim = Arc::new(start_sim(cfg).await);
    let sim2 = sim.clone();
    let w = tokio::spawn(async move {
        while !sim2.requests().iter().any(|r| r.status == 429) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        sim2.set_faults(Faults::default());
    });
    let client = client(&sim);
    let t = std::time::Instant::now();
    client
        .audit_readable(&Auth::token(TOKEN), "ar")
        .await
        .unwrap();
    assert!(
        t.elapsed() >= Duration::from_millis(950),
        "{:?}",
        t.elapsed()
    );
    w.await.unwrap();
    assert_eq!(client.stats().snapshot().responses_429, 1);
}

/// Backfill: explicit ranges, windows in parallel, no cursor written, every record exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_is_parallel_exact_and_writes_no_cursor() {
    init_tracing();
    let mut cfg = sim_config(21, vec![zone("zb", 10)], vec![account("ab", 25)]);
    cfg.faults = Faults {
        rate_5xx: 0.1,
        rate_truncated: 0.1,
        rate_error_trailer: 0.1,
        ..Default::default()
    };
    let sim = start_sim(cfg.clone()).await;
    let client = client(&sim);
    let sink = TestSink::new();
    let now = pinned_now();
    let (s, e) = (
        now - CDur::hours(6) - CDur::seconds(13),
        now - CDur::hours(1),
    );
    let mut lc = lp("zb", Auth::token(TOKEN), now, 1);
    lc.backfill_concurrency = 3;
    let events = Arc::new(Mutex::new(Vec::new()));
    let ev2 = events.clone();
    let r = backfill_logpull(
        &client,
        lc,
        s,
        e,
        sink.clone(),
        CancellationToken::new(),
        move |p| ev2.lock().unwrap().push(p),
    )
    .await
    .unwrap();
    assert_eq!(r.units_done, 6);
    assert_eq!(r.gap_seconds, 0);
    let done = events
        .lock()
        .unwrap()
        .iter()
        .filter(|p| matches!(p, ProgressEvent::UnitDone { .. }))
        .count();
    assert_eq!(done, 6);
    let exp = simulator::expected_logpull_ray_ids(&cfg, "zb", s, e);
    sink.assert_exactly_once(
        &SourceId::Logpull {
            zone_id: "zb".into(),
        },
        &exp,
    );

    let mut ac = AuditConfig::new("ab", Auth::key(EMAIL, KEY));
    ac.per_page = 9;
    ac.backfill_window = Duration::from_secs(3600);
    for api in [AuditApi::V1, AuditApi::V2] {
        ac.api = api;
        let sink = TestSink::new();
        backfill_audit(
            &client,
            ac.clone(),
            s,
            e,
            sink.clone(),
            CancellationToken::new(),
            |_| {},
        )
        .await
        .unwrap();
        let exp = match api {
            AuditApi::V1 => simulator::expected_audit_ids(&cfg, "ab", s, e),
            AuditApi::V2 => simulator::expected_audit_v2_ids(&cfg, "ab", s, e),
        };
        sink.assert_exactly_once(
            &SourceId::Audit {
                account_id: "ab".into(),
            },
            &exp,
        );
    }
}

/// Objects back to back without newlines, no gzip, and every `timestamps` form.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn framing_and_timestamp_forms() {
    init_tracing();
    for (newline, gzip) in [(false, false), (false, true), (true, false)] {
        let mut cfg = sim_config(31, vec![zone("zs", 40)], vec![]);
        cfg.newline_separated = newline;
        cfg.gzip = gzip;
        let sim = start_sim(cfg.clone()).await;
        let client = client(&sim);
        for ts in [Timestamps::UnixNano, Timestamps::Unix, Timestamps::Rfc3339] {
            let dir = tempfile::tempdir().unwrap();
            let store = Arc::new(CursorStore::open(dir.path()).unwrap());
            let now = pinned_now();
            let mut c = lp("zs", Auth::token(TOKEN), now, 20);
            c.timestamps = ts;
            let sink = Arc::new(ShapeSink::default());
            let col = LogpullCollector::new(client.clone(), c, store, sink.clone()).unwrap();
            col.run_once(CancellationToken::new()).await.unwrap();
            let recs = sink.0.lock().unwrap();
            let exp = simulator::expected_logpull_ray_ids(
                &cfg,
                "zs",
                now - CDur::minutes(21),
                now - CDur::minutes(1),
            );
            assert_eq!(recs.len(), exp.len());
            for v in recs.iter() {
                let st = &v["EdgeStartTimestamp"];
                match ts {
                    Timestamps::UnixNano => {
                        assert!(st.as_i64().unwrap() > 1_700_000_000_000_000_000)
                    }
                    Timestamps::Unix => assert!(st.as_i64().unwrap() < 10_000_000_000),
                    Timestamps::Rfc3339 => assert!(st.as_str().unwrap().ends_with('Z')),
                }
                assert_eq!(
                    v.as_object().unwrap().len(),
                    cfship_cloudflare::ELASTIC_DEFAULT_FIELDS.len()
                );
            }
        }
        sim.shutdown().await;
    }
}

#[derive(Default)]
struct ShapeSink(Mutex<Vec<serde_json::Value>>);
impl cfship_cloudflare::RecordSink for ShapeSink {
    fn deliver<'a>(
        &'a self,
        _unit: &'a cfship_cloudflare::Unit,
        records: Vec<bytes::Bytes>,
    ) -> futures::future::BoxFuture<'a, Result<(), cfship_cloudflare::SinkError>> {
        Box::pin(async move {
            let mut g = self.0.lock().unwrap();
            for r in records {
                assert!(!r.ends_with(b"\n"));
                g.push(serde_json::from_slice(&r).unwrap());
            }
            Ok(())
        })
    }
}

/// Simulated data looks like Cloudflare's (fetched over HTTP): variety in every dimension the ECS
/// mapping cares about.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_data_is_varied_and_realistic() {
    use std::collections::HashSet;
    init_tracing();
    let mut cfg = sim_config(77, vec![zone("zv", 200)], vec![account("av", 60)]);
    cfg.zones[0].bot_management = true;
    let sim = start_sim(cfg).await;
    let client = client(&sim);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(CursorStore::open(dir.path()).unwrap());
    let now = pinned_now();
    let mut c = lp("zv", Auth::token(TOKEN), now, 30);
    c.bot_fields = true;
    let sink = Arc::new(ShapeSink::default());
    LogpullCollector::new(client.clone(), c, store.clone(), sink.clone())
        .unwrap()
        .run_once(CancellationToken::new())
        .await
        .unwrap();
    let recs = sink.0.lock().unwrap().clone();
    assert!(recs.len() > 3000);
    let set = |f: &str| -> HashSet<String> {
        recs.iter()
            .flat_map(|r| match &r[f] {
                serde_json::Value::Array(a) => a
                    .iter()
                    .map(|x| x.to_string().trim_matches('"').to_string())
                    .collect(),
                v => vec![v.to_string().trim_matches('"').to_string()],
            })
            .collect()
    };
    assert!(set("ClientCountry").len() >= 15);
    assert!(set("ClientASN").len() >= 10);
    let ua = set("ClientRequestUserAgent");
    for want in ["Chrome/", "Firefox/", "Googlebot", "curl/", "iPhone"] {
        assert!(ua.iter().any(|u| u.contains(want)), "{want}");
    }
    let st = set("EdgeResponseStatus");
    for want in ["200", "304", "403", "404", "502"] {
        assert!(st.contains(want), "{want}");
    }
    let cache = set("CacheCacheStatus");
    for want in ["hit", "miss", "dynamic", "expired", "bypass"] {
        assert!(cache.contains(want), "{want}");
    }
    let fw = set("FirewallMatchesActions");
    for want in ["block", "allow", "challenge", "simulate"] {
        assert!(fw.contains(want), "{want}");
    }
    let ips = set("ClientIP");
    assert!(
        ips.iter().any(|i| i.contains(':')) && ips.iter().any(|i| i.contains('.')),
        "IPv4 and IPv6"
    );
    let pr = set("ClientRequestProtocol");
    for want in ["HTTP/1.0", "HTTP/1.1", "HTTP/2", "HTTP/3"] {
        assert!(pr.contains(want), "{want}");
    }
    let tls = set("ClientSSLProtocol");
    assert!(tls.contains("none") && tls.contains("TLSv1.3") && tls.contains("TLSv1.2"));
    assert!(recs
        .iter()
        .all(|r| r["BotScore"].is_u64() && r["RayID"].as_str().unwrap().len() == 16));
    assert!(recs
        .iter()
        .all(|r| r["EdgeStartTimestamp"].as_i64() <= r["EdgeEndTimestamp"].as_i64()));

    // Audit v1 records shaped like the golden input.
    let mut ac = AuditConfig::new("av", Auth::token(TOKEN));
    ac.clock = Clock::Fixed(now);
    ac.initial_lookback = Duration::from_secs(24 * 3600);
    ac.per_page = 1000;
    let sink = Arc::new(ShapeSink::default());
    AuditCollector::new(client.clone(), ac, store, sink.clone())
        .unwrap()
        .run_once(CancellationToken::new())
        .await
        .unwrap();
    let ev = sink.0.lock().unwrap().clone();
    assert!(ev.len() > 500);
    let kinds: HashSet<&str> = ev
        .iter()
        .map(|e| e["action"]["type"].as_str().unwrap())
        .collect();
    assert!(kinds.len() >= 14, "{kinds:?}");
    let actors: HashSet<&str> = ev
        .iter()
        .map(|e| e["actor"]["type"].as_str().unwrap())
        .collect();
    assert!(actors.contains("user") && actors.contains("system"));
    let ifaces: HashSet<&str> = ev
        .iter()
        .map(|e| e["interface"].as_str().unwrap())
        .collect();
    assert!(ifaces.contains("") && ifaces.contains("UI") && ifaces.contains("API"));
    assert!(ev.iter().any(|e| e["newValueJson"].is_object()));
    assert!(ev.iter().any(|e| e["oldValueJson"].is_object()));
    assert!(ev.iter().any(|e| e["newValue"] == "null"));
    assert!(ev
        .iter()
        .any(|e| e["metadata"].as_object().is_some_and(|m| !m.is_empty())));
    assert!(ev.iter().any(|e| e["action"]["result"] == false));
    assert!(ev
        .iter()
        .all(|e| e["resource"]["id"].is_string() && e["owner"]["id"].is_string()));
    let whens: Vec<&str> = ev.iter().map(|e| e["when"].as_str().unwrap()).collect();
    assert!(whens.iter().any(|w| w.contains('.')) && whens.iter().any(|w| !w.contains('.')));
    assert!(
        whens.windows(2).any(|w| w[0] == w[1]),
        "events sharing one instant exist"
    );
    assert!(
        whens.windows(2).all(|w| parse_t(w[0]) <= parse_t(w[1])),
        "ascending"
    );
}

/// A body that stalls longer than the idle timeout is a failed window (never a silent stall); the retry
/// succeeds once the server is healthy again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_body_hits_the_idle_timeout_and_is_retried() {
    init_tracing();
    let mut cfg = sim_config(41, vec![zone("zi", 400)], vec![]);
    cfg.faults = Faults {
        rate_slow: 1.0,
        slow_ms: 2000,
        ..Default::default()
    };
    let sim = Arc::new(start_sim(cfg.clone()).await);
    let mut ccfg = ClientConfig::with_api_url(&sim.url()).unwrap();
    ccfg.idle_body_timeout = Duration::from_millis(500);
    ccfg.retry = RetryPolicy {
        max_attempts: 5,
        initial_backoff: Duration::from_millis(300),
        max_backoff: Duration::from_millis(300),
    };
    let client = CloudflareClient::new(ccfg).unwrap();
    let sim2 = sim.clone();
    let w = tokio::spawn(async move {
        while !sim2
            .requests()
            .iter()
            .any(|r| r.fault.as_deref() == Some("slow") && r.path.ends_with("/logs/received"))
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        sim2.set_faults(Faults::default());
    });
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(CursorStore::open(dir.path()).unwrap());
    let sink = TestSink::new();
    let now = pinned_now();
    let mut c = lp("zi", Auth::token(TOKEN), now, 20);
    c.check_retention = false;
    let z = LogpullCollector::new(client.clone(), c, store, sink.clone()).unwrap();
    z.run_once(CancellationToken::new()).await.unwrap();
    w.await.unwrap();
    assert!(
        client.stats().snapshot().stream_failures >= 1,
        "the stall was detected"
    );
    let exp = simulator::expected_logpull_ray_ids(
        &cfg,
        "zi",
        now - CDur::minutes(21),
        now - CDur::minutes(1),
    );
    sink.assert_exactly_once(
        &SourceId::Logpull {
            zone_id: "zi".into(),
        },
        &exp,
    );
}

#[test]
fn simulator_config_accepts_partial_json() {
    let c: simulator::SimulatorConfig = serde_json::from_str(
        r#"{"seed": 5, "zones": [{"id": "z1"}], "accounts": [{"id": "a1", "events_per_hour": 3}],
            "credentials": {"tokens": ["t"]}, "faults": {"rate_5xx": 0.1}}"#,
    )
    .unwrap();
    assert!(c.zones[0].retention_enabled && c.zones[0].records_per_minute == 60);
    assert!(c.newline_separated && c.gzip);
    assert_eq!(c.faults.rate_5xx, 0.1);
}

/// A corrupt or newer-version cursor file stops the collector with an explicit error; it is never
/// reset silently and no data is fetched.
#[tokio::test]
async fn corrupt_or_newer_cursor_file_is_an_error_not_a_reset() {
    init_tracing();
    let sim = start_sim(sim_config(1, vec![zone("zk", 5)], vec![account("ak", 5)])).await;
    let client = client(&sim);
    let now = pinned_now();
    for (file, body) in [
        (
            "logpull-zk.json",
            &b"{\"version\":1,\"key\":\"logpull-zk\",\"cursor\":{\"next_st"[..],
        ),
        (
            "logpull-zk.json",
            &b"{\"version\":9,\"key\":\"logpull-zk\",\"cursor\":{}}"[..],
        ),
        ("audit-ak.json", &b"not json"[..]),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(file), body).unwrap();
        let store = Arc::new(CursorStore::open(dir.path()).unwrap());
        let n0 = sim.requests().len();
        let err = if file.starts_with("logpull") {
            let c = LogpullCollector::new(
                client.clone(),
                lp("zk", Auth::token(TOKEN), now, 5),
                store,
                TestSink::new(),
            )
            .unwrap();
            let e = c.run_once(CancellationToken::new()).await.unwrap_err();
            assert!(
                c.run(CancellationToken::new()).await.is_err(),
                "daemon stops too"
            );
            e
        } else {
            let mut ac = AuditConfig::new("ak", Auth::token(TOKEN));
            ac.clock = Clock::Fixed(now);
            let c = AuditCollector::new(client.clone(), ac, store, TestSink::new()).unwrap();
            c.run_once(CancellationToken::new()).await.unwrap_err()
        };
        assert!(matches!(err, CfError::State(_)), "{err}");
        let msg = err.to_string();
        assert!(
            msg.contains("refusing to reset") || msg.contains("newer cfship"),
            "{msg}"
        );
        assert_eq!(
            std::fs::read(dir.path().join(file)).unwrap(),
            body,
            "file untouched"
        );
        assert!(
            sim.requests()[n0..]
                .iter()
                .all(|r| !r.path.ends_with("/logs/received") && !r.path.contains("audit")),
            "nothing fetched"
        );
    }
}

/// Cancel during a long `Retry-After` pause (nothing of the window/page delivered yet) stops promptly
/// instead of waiting the pause out; nothing is committed, the cursor does not move.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_interrupts_a_long_retry_after_pause() {
    init_tracing();
    let mut cfg = sim_config(61, vec![zone("zp", 5)], vec![account("ap", 20)]);
    cfg.faults = Faults {
        rate_429: 1.0,
        retry_after_secs: 60,
        ..Default::default()
    };
    let sim = start_sim(cfg).await;
    let client = client(&sim);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(CursorStore::open(dir.path()).unwrap());
    let sink = TestSink::new();
    let now = pinned_now();
    let mut c = lp("zp", Auth::token(TOKEN), now, 30);
    c.check_retention = false;
    let z = LogpullCollector::new(client.clone(), c, store.clone(), sink.clone()).unwrap();
    let mut ac = AuditConfig::new("ap", Auth::token(TOKEN));
    ac.clock = Clock::Fixed(now);
    let a = AuditCollector::new(client.clone(), ac, store.clone(), sink.clone()).unwrap();
    let cancel = CancellationToken::new();
    let (c1, c2) = (cancel.clone(), cancel.clone());
    let tz = tokio::spawn(async move { z.run_once(c1).await });
    let ta = tokio::spawn(async move { a.run_once(c2).await });
    while !sim.requests().iter().any(|r| r.status == 429) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t = std::time::Instant::now();
    cancel.cancel();
    let rz = tokio::time::timeout(Duration::from_secs(3), tz)
        .await
        .expect("logpull stops")
        .unwrap()
        .unwrap();
    let ra = tokio::time::timeout(Duration::from_secs(3), ta)
        .await
        .expect("audit stops")
        .unwrap()
        .unwrap();
    assert!(t.elapsed() < Duration::from_secs(3));
    assert_eq!((rz.units_done, ra.units_done), (0, 0));
    assert!(store.load::<LogpullCursor>("logpull-zp").unwrap().is_none());
    assert_eq!(sink.committed_units(), 0);
}

/// Cloudflare publishes no maximum page size: a rejected `per_page` / `limit` falls back to 100.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_audit_page_size_falls_back_to_100() {
    init_tracing();
    let mut cfg = sim_config(71, vec![], vec![account("ag", 60)]);
    cfg.audit_max_page_size = 500;
    let sim = start_sim(cfg.clone()).await;
    let client = client(&sim);
    let now = pinned_now();
    for api in [AuditApi::V1, AuditApi::V2] {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(CursorStore::open(dir.path()).unwrap());
        let sink = TestSink::new();
        let mut ac = AuditConfig::new("ag", Auth::token(TOKEN));
        ac.clock = Clock::Fixed(now);
        ac.initial_lookback = Duration::from_secs(6 * 3600);
        ac.per_page = 1000;
        ac.api = api;
        AuditCollector::new(client.clone(), ac, store, sink.clone())
            .unwrap()
            .run_once(CancellationToken::new())
            .await
            .unwrap();
        let (since, before) = (now - CDur::hours(6), now - CDur::minutes(1));
        let exp = match api {
            AuditApi::V1 => simulator::expected_audit_ids(&cfg, "ag", since, before),
            AuditApi::V2 => simulator::expected_audit_v2_ids(&cfg, "ag", since, before),
        };
        assert!(exp.len() > 150);
        sink.assert_exactly_once(
            &SourceId::Audit {
                account_id: "ag".into(),
            },
            &exp,
        );
    }
    let sizes: Vec<String> = sim
        .requests()
        .iter()
        .filter_map(|r| r.query.get("per_page").or(r.query.get("limit")).cloned())
        .collect();
    assert!(sizes.contains(&"1000".to_string()) && sizes.contains(&"100".to_string()));
}

/// A backfill range older than Logpull's retention reports the gap instead of failing with a 400.
#[tokio::test]
async fn backfill_older_than_retention_reports_the_gap() {
    init_tracing();
    let sim = start_sim(sim_config(81, vec![zone("zg", 5)], vec![])).await;
    let client = client(&sim);
    let now = chrono::Utc::now();
    let events = Arc::new(Mutex::new(Vec::new()));
    let ev2 = events.clone();
    let (s, e) = (now - CDur::hours(200), now - CDur::hours(190));
    let r = backfill_logpull(
        &client,
        LogpullConfig::new("zg", Auth::token(TOKEN)),
        s,
        e,
        TestSink::new(),
        CancellationToken::new(),
        move |p| ev2.lock().unwrap().push(p),
    )
    .await
    .unwrap();
    assert_eq!(r.units_done, 0);
    assert_eq!(r.gap_seconds, 10 * 3600);
    assert!(matches!(
        events.lock().unwrap()[..],
        [ProgressEvent::Gap { .. }]
    ));
    assert!(
        logpull_requests(&sim, "zg").is_empty(),
        "no doomed request sent"
    );
    // Straddling the edge: the old part is a gap, the rest is fetched.
    let (s, e) = (now - CDur::hours(170), now - CDur::hours(166));
    let sink = TestSink::new();
    let r = backfill_logpull(
        &client,
        LogpullConfig::new("zg", Auth::token(TOKEN)),
        s,
        e,
        sink,
        CancellationToken::new(),
        |_| {},
    )
    .await
    .unwrap();
    assert!(r.gap_seconds > 7000 && r.gap_seconds < 7600, "{r:?}");
    assert!(r.units_done >= 2);
    assert!(logpull_requests(&sim, "zg").iter().all(|r| r.status == 200));
}

/// `204 No Content` for a window while the retention flag is on is an empty window: the cursor advances.
#[tokio::test]
async fn no_content_with_retention_on_is_an_empty_window() {
    init_tracing();
    let mut cfg = sim_config(91, vec![zone("z204", 0)], vec![]);
    cfg.no_content_when_empty = true;
    let sim = start_sim(cfg).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(CursorStore::open(dir.path()).unwrap());
    let now = pinned_now();
    let sink = TestSink::new();
    let col = LogpullCollector::new(
        client(&sim),
        lp("z204", Auth::token(TOKEN), now, 150),
        store.clone(),
        sink.clone(),
    )
    .unwrap();
    let r = col.run_once(CancellationToken::new()).await.unwrap();
    assert_eq!((r.units_done, r.records), (3, 0));
    assert_eq!(
        store
            .load::<LogpullCursor>("logpull-z204")
            .unwrap()
            .unwrap()
            .next_start,
        now - CDur::minutes(1)
    );
    assert!(logpull_requests(&sim, "z204")
        .iter()
        .all(|r| r.status == 204));
    assert_eq!(sink.committed_units(), 3);
}
