//! Collectors against the simulator over real HTTP on 127.0.0.1.

mod common;

use cfship_cloudflare::{
    AuditApi, AuditCollector, AuditConfig, Auth, Clock, LogpullCollector, LogpullConfig,
    LogpullCursor, SourceId,
};
use cfship_cloudflare_sim::{self as simulator, Faults};
use cfship_state::CursorStore;
use chrono::Duration as CDur;
use common::*;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn faults_on() -> Faults {
    Faults {
        rate_429: 0.05,
        retry_after_secs: 0,
        rate_5xx: 0.08,
        rate_truncated: 0.12,
        rate_error_trailer: 0.12,
        rate_slow: 0.05,
        slow_ms: 30,
        max_records_per_response: 0,
    }
}

fn lp_cfg(
    zone: &str,
    auth: Auth,
    now: chrono::DateTime<chrono::Utc>,
    lookback_h: u64,
) -> LogpullConfig {
    let mut c = LogpullConfig::new(zone, auth);
    c.clock = Clock::Fixed(now);
    c.initial_lookback = Duration::from_secs(lookback_h * 3600);
    c.batch_size = 97;
    c
}

fn audit_cfg(
    acc: &str,
    auth: Auth,
    now: chrono::DateTime<chrono::Utc>,
    api: AuditApi,
    lookback_h: u64,
) -> AuditConfig {
    let mut c = AuditConfig::new(acc, auth);
    c.clock = Clock::Fixed(now);
    c.initial_lookback = Duration::from_secs(lookback_h * 3600);
    c.api = api;
    c.per_page = 7;
    c
}

/// Every generated record of 2 zones + 2 accounts (v1 and v2) over 5 simulated hours arrives exactly once,
/// with 429s, 5xx, truncated streams, error trailers, slow responses and a failing sink.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_source_exactly_once_with_faults() {
    init_tracing();
    let mut cfg = sim_config(
        42,
        vec![zone("zone-a", 30), zone("zone-b", 8)],
        vec![account("acc-1", 20), account("acc-2", 12)],
    );
    cfg.faults = faults_on();
    let sim = start_sim(cfg.clone()).await;
    let client = client(&sim);
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(CursorStore::open(dir.path()).unwrap());
    let sink = TestSink::new();
    sink.fail_every.store(61, Ordering::SeqCst);
    let now = pinned_now();
    let token = Auth::token(TOKEN);
    let key = Auth::key(EMAIL, KEY);

    let za = LogpullCollector::new(
        client.clone(),
        lp_cfg("zone-a", token.clone(), now, 5),
        store.clone(),
        sink.clone(),
    )
    .unwrap();
    let zb = LogpullCollector::new(
        client.clone(),
        lp_cfg("zone-b", key.clone(), now, 5),
        store.clone(),
        sink.clone(),
    )
    .unwrap();
    let a1 = AuditCollector::new(
        client.clone(),
        audit_cfg("acc-1", token.clone(), now, AuditApi::V1, 5),
        store.clone(),
        sink.clone(),
    )
    .unwrap();
    let a2 = AuditCollector::new(
        client.clone(),
        audit_cfg("acc-2", key.clone(), now, AuditApi::V2, 5),
        store.clone(),
        sink.clone(),
    )
    .unwrap();
    let c = CancellationToken::new();
    let (ra, rb, r1, r2) = tokio::join!(
        za.run_once(c.clone()),
        zb.run_once(c.clone()),
        a1.run_once(c.clone()),
        a2.run_once(c.clone())
    );
    let (ra, rb, r1, r2) = (ra.unwrap(), rb.unwrap(), r1.unwrap(), r2.unwrap());

    let lp_start = now - CDur::minutes(1) - CDur::hours(5);
    let lp_end = now - CDur::minutes(1);
    for (z, r) in [("zone-a", &ra), ("zone-b", &rb)] {
        let exp = simulator::expected_logpull_ray_ids(&cfg, z, lp_start, lp_end);
        assert!(exp.len() > 100, "{z}: {}", exp.len());
        sink.assert_exactly_once(&SourceId::Logpull { zone_id: z.into() }, &exp);
        assert_eq!(r.records, exp.len() as u64);
        assert_eq!(r.cursor, Some(lp_end));
        let saved: LogpullCursor = store.load(&format!("logpull-{z}")).unwrap().unwrap();
        assert_eq!(saved.next_start, lp_end);
    }
    let a_since = now - CDur::hours(5);
    let a_before = now - CDur::minutes(1);
    let exp1 = simulator::expected_audit_ids(&cfg, "acc-1", a_since, a_before);
    sink.assert_exactly_once(
        &SourceId::Audit {
            account_id: "acc-1".into(),
        },
        &exp1,
    );
    let exp2 = simulator::expected_audit_v2_ids(&cfg, "acc-2", a_since, a_before);
    sink.assert_exactly_once(
        &SourceId::Audit {
            account_id: "acc-2".into(),
        },
        &exp2,
    );
    assert!(exp1.len() > 30 && exp2.len() > 20);
    assert!(
        r1.units_done > 4 && r2.units_done > 2,
        "pagination used: {r1:?} {r2:?}"
    );
    assert_eq!(sink.pending_len(), 0);

    // The faults really happened and were survived.
    let reqs = sim.requests();
    for f in ["429", "5xx", "truncated", "trailer", "slow"] {
        assert!(
            reqs.iter()
                .any(|r| r.fault.as_deref() == Some(f) || (f == "slow" && r.slow)),
            "no {f} fault was injected"
        );
    }
    assert!(
        sink.aborted() > 0,
        "some partially delivered window was aborted and replayed"
    );
    let st = client.stats().snapshot();
    assert!(
        st.retries > 0
            && st.failed_requests > 0
            && st.responses_429 > 0
            && st.responses_5xx > 0
            && st.stream_failures > 0,
        "{st:?}"
    );
    assert_eq!(st.sources.len(), 4);

    // A second pass is a no-op: nothing new, nothing repeated.
    let before = sink.records_delivered.load(Ordering::SeqCst);
    za.run_once(c.clone()).await.unwrap();
    a1.run_once(c.clone()).await.unwrap();
    a2.run_once(c.clone()).await.unwrap();
    assert_eq!(sink.records_delivered.load(Ordering::SeqCst), before);
    sim.shutdown().await;
}

/// Runs stopped (cancel) and crashed (task aborted mid-window, unacknowledged work lost) in the middle,
/// restarted with the same state dir: every record still arrives exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarts_with_state_dir_keep_exactly_once() {
    init_tracing();
    let mut cfg = sim_config(7, vec![zone("zr", 20)], vec![account("ar", 30)]);
    cfg.faults = Faults {
        rate_5xx: 0.05,
        rate_error_trailer: 0.05,
        ..Default::default()
    };
    let sim = start_sim(cfg.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let now = pinned_now();
    let sink = TestSink::new();
    let zsrc = SourceId::Logpull {
        zone_id: "zr".into(),
    };
    let asrc = SourceId::Audit {
        account_id: "ar".into(),
    };

    // 1) Graceful stop: cancel after 2 committed units; the unit in flight is finished and saved.
    {
        let store = Arc::new(CursorStore::open(dir.path()).unwrap());
        let cl = client(&sim);
        let z = LogpullCollector::new(
            cl.clone(),
            lp_cfg("zr", Auth::token(TOKEN), now, 6),
            store.clone(),
            sink.clone(),
        )
        .unwrap();
        let a = AuditCollector::new(
            cl.clone(),
            audit_cfg("ar", Auth::token(TOKEN), now, AuditApi::V1, 6),
            store.clone(),
            sink.clone(),
        )
        .unwrap();
        let cancel = CancellationToken::new();
        let c2 = cancel.clone();
        *sink.on_commit.lock().unwrap() = Some(Box::new(move |n| {
            if n >= 3 {
                c2.cancel();
            }
        }));
        let (rz, ra) = tokio::join!(z.run_once(cancel.clone()), a.run_once(cancel.clone()));
        let (rz, ra) = (rz.unwrap(), ra.unwrap());
        assert!(rz.units_done + ra.units_done >= 3, "{rz:?} {ra:?}");
        assert!(
            rz.cursor.unwrap() < now - CDur::minutes(1),
            "zone stopped early: {rz:?}"
        );
        assert!(
            ra.cursor.unwrap() < now - CDur::minutes(2),
            "audit stopped early: {ra:?}"
        );
        assert_eq!(
            sink.pending_len(),
            0,
            "cancel finishes and acknowledges the unit in flight"
        );
        *sink.on_commit.lock().unwrap() = None;
    }
    // 2) Crash: the sink hangs in the middle of a window; the task is aborted; in-memory work is lost.
    {
        let store = Arc::new(CursorStore::open(dir.path()).unwrap());
        let cl = client(&sim);
        let z = LogpullCollector::new(
            cl.clone(),
            lp_cfg("zr", Auth::token(TOKEN), now, 6),
            store.clone(),
            sink.clone(),
        )
        .unwrap();
        // Step 1 may have stopped before the zone's first window (the audit pages hit the cancel).
        let saved_before: Option<LogpullCursor> = store.load("logpull-zr").unwrap();
        sink.hang_at
            .store(sink.deliveries.load(Ordering::SeqCst) + 4, Ordering::SeqCst);
        let task = tokio::spawn(async move { z.run_once(CancellationToken::new()).await });
        tokio::time::timeout(Duration::from_secs(30), sink.hung.notified())
            .await
            .expect("sink hung");
        task.abort();
        let _ = task.await;
        sink.discard_pending();
        sink.hang_at.store(0, Ordering::SeqCst);
        let saved_after: Option<LogpullCursor> = store.load("logpull-zr").unwrap();
        assert!(
            saved_after.map(|c| c.next_start) >= saved_before.map(|c| c.next_start),
            "the cursor never moves back"
        );
    }
    // 3) Restart on the same dir and finish.
    {
        let store = Arc::new(CursorStore::open(dir.path()).unwrap());
        let cl = client(&sim);
        let z = LogpullCollector::new(
            cl.clone(),
            lp_cfg("zr", Auth::token(TOKEN), now, 6),
            store.clone(),
            sink.clone(),
        )
        .unwrap();
        let a = AuditCollector::new(
            cl.clone(),
            audit_cfg("ar", Auth::token(TOKEN), now, AuditApi::V1, 6),
            store.clone(),
            sink.clone(),
        )
        .unwrap();
        let c = CancellationToken::new();
        let (rz, ra) = tokio::join!(z.run_once(c.clone()), a.run_once(c.clone()));
        assert_eq!(rz.unwrap().cursor, Some(now - CDur::minutes(1)));
        ra.unwrap();
    }
    let exp = simulator::expected_logpull_ray_ids(
        &cfg,
        "zr",
        now - CDur::minutes(1) - CDur::hours(6),
        now - CDur::minutes(1),
    );
    sink.assert_exactly_once(&zsrc, &exp);
    let exp =
        simulator::expected_audit_ids(&cfg, "ar", now - CDur::hours(6), now - CDur::minutes(1));
    sink.assert_exactly_once(&asrc, &exp);
    sim.shutdown().await;
}

/// After a 30-hour outage the collector catches up with ≤1h windows back to back, then stops at now−1m.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_after_30h_outage_uses_back_to_back_hour_windows() {
    init_tracing();
    let cfg = sim_config(3, vec![zone("zo", 2)], vec![]);
    let sim = start_sim(cfg.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(CursorStore::open(dir.path()).unwrap());
    let now = pinned_now();
    let outage_start = now - CDur::hours(30) - CDur::minutes(1) - CDur::seconds(17);
    store
        .save(
            "logpull-zo",
            &LogpullCursor {
                next_start: outage_start,
            },
        )
        .unwrap();
    let sink = TestSink::new();
    let z = LogpullCollector::new(
        client(&sim),
        lp_cfg("zo", Auth::token(TOKEN), now, 1),
        store.clone(),
        sink.clone(),
    )
    .unwrap();
    let r = z.run_once(CancellationToken::new()).await.unwrap();
    let reqs = logpull_requests(&sim, "zo");
    assert!(reqs.iter().all(|r| r.status == 200), "no errors expected");
    let mut windows: Vec<_> = reqs
        .iter()
        .map(|r| (parse_t(&r.query["start"]), parse_t(&r.query["end"])))
        .collect();
    // Requests are sequential: the log order is the window order.
    assert_eq!(windows.len(), 31);
    assert_eq!(windows[0].0, outage_start);
    for w in windows.windows(2) {
        assert_eq!(w[0].1, w[1].0, "contiguous");
    }
    for (s, e) in &windows {
        assert!(*e - *s <= CDur::hours(1) && *e > *s);
    }
    let last = windows.pop().unwrap();
    assert_eq!(last.1, now - CDur::minutes(1));
    // Requests went out back to back: the whole catch-up took a few seconds, not 30 intervals.
    let dt = reqs.last().unwrap().at - reqs.first().unwrap().at;
    assert!(dt < CDur::seconds(60), "{dt}");
    assert_eq!(r.units_done, 31);
    let exp = simulator::expected_logpull_ray_ids(&cfg, "zo", outage_start, now - CDur::minutes(1));
    sink.assert_exactly_once(
        &SourceId::Logpull {
            zone_id: "zo".into(),
        },
        &exp,
    );
    sim.shutdown().await;
}

/// A cursor older than 168h is clamped (gap reported) and the edge never produces a 400, even when the
/// server clock runs 2 minutes ahead; windows keep the real clock (no pinned time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_edge_never_gives_400() {
    init_tracing();
    for offset in [0i64, 120] {
        let mut cfg = sim_config(5, vec![zone("ze", 1)], vec![]);
        cfg.clock_offset_secs = offset;
        let sim = start_sim(cfg.clone()).await;
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(CursorStore::open(dir.path()).unwrap());
        let old = chrono::Utc::now() - CDur::hours(200);
        store
            .save("logpull-ze", &LogpullCursor { next_start: old })
            .unwrap();
        let mut lc = LogpullConfig::new("ze", Auth::token(TOKEN));
        lc.clock = Clock::System;
        // Stop after the first 3 windows (the edge is what matters here).
        let sink = TestSink::new();
        let cancel = CancellationToken::new();
        let c2 = cancel.clone();
        *sink.on_commit.lock().unwrap() = Some(Box::new(move |n| {
            if n >= 3 {
                c2.cancel()
            }
        }));
        let z = LogpullCollector::new(client(&sim), lc, store.clone(), sink.clone()).unwrap();
        let r = z.run_once(cancel).await.unwrap();
        assert!(r.gap_seconds > 31 * 3600, "gap reported: {r:?}");
        let reqs = logpull_requests(&sim, "ze");
        assert!(!reqs.is_empty());
        assert!(
            reqs.iter().all(|r| r.status == 200),
            "offset {offset}: {:?}",
            reqs.iter().map(|r| r.status).collect::<Vec<_>>()
        );
        let first = parse_t(&reqs[0].query["start"]);
        let gaps = sink.gaps.lock().unwrap().clone();
        assert_eq!(gaps.len(), 1, "one hole reported to the sink");
        assert_eq!(
            (gaps[0].1, gaps[0].2),
            (old, first),
            "the hole ends where collection resumes"
        );
        let edge = chrono::Utc::now() + CDur::seconds(offset) - CDur::hours(168);
        assert!(first > edge, "first window starts inside retention");
        assert!(
            first < edge + CDur::minutes(10),
            "and close to the edge (clamped, not skipped further)"
        );
        sim.shutdown().await;
    }
}

/// The daemon loop: catches up, waits for the interval, stops on cancel with the cursor saved.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemon_run_stops_on_cancel_with_cursor_saved() {
    init_tracing();
    let cfg = sim_config(9, vec![zone("zd", 5)], vec![account("ad", 10)]);
    let sim = start_sim(cfg.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(CursorStore::open(dir.path()).unwrap());
    let sink = TestSink::new();
    let cl = client(&sim);
    let mut lc = LogpullConfig::new("zd", Auth::token(TOKEN));
    lc.initial_lookback = Duration::from_secs(7200);
    lc.interval = Duration::from_secs(3600);
    let mut ac = AuditConfig::new("ad", Auth::token(TOKEN));
    ac.initial_lookback = Duration::from_secs(7200);
    ac.interval = Duration::from_secs(3600);
    let z = Arc::new(LogpullCollector::new(cl.clone(), lc, store.clone(), sink.clone()).unwrap());
    let a = Arc::new(AuditCollector::new(cl.clone(), ac, store.clone(), sink.clone()).unwrap());
    let cancel = CancellationToken::new();
    let (z2, a2, c2, c3) = (z.clone(), a.clone(), cancel.clone(), cancel.clone());
    let tz = tokio::spawn(async move { z2.run(c2).await });
    let ta = tokio::spawn(async move { a2.run(c3).await });
    // Wait until both caught up (cursor within 2 minutes of now), then stop.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let zc: Option<LogpullCursor> = store.load("logpull-zd").unwrap();
        let ok = zc.is_some_and(|c| chrono::Utc::now() - c.next_start < CDur::minutes(2));
        if ok
            && cl
                .stats()
                .source(a.source())
                .windows_done
                .load(Ordering::Relaxed)
                > 0
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "daemon did not catch up"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    cancel.cancel();
    tokio::time::timeout(Duration::from_secs(5), tz)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    tokio::time::timeout(Duration::from_secs(5), ta)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(sink.pending_len(), 0);
    assert!(z.cursor().unwrap().is_some() && a.cursor().unwrap().is_some());
    sim.shutdown().await;
}

/// A window too big for one response (Cloudflare ends it with `Error streaming data`) is split in halves
/// until it fits; the cursor stays contiguous and every record arrives exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_windows_are_split_in_halves() {
    init_tracing();
    let mut cfg = sim_config(13, vec![zone("zh", 100)], vec![]);
    cfg.faults = Faults {
        max_records_per_response: 2000,
        ..Default::default()
    };
    let sim = start_sim(cfg.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(CursorStore::open(dir.path()).unwrap());
    let sink = TestSink::new();
    let now = pinned_now();
    let z = LogpullCollector::new(
        client(&sim),
        lp_cfg("zh", Auth::token(TOKEN), now, 2),
        store,
        sink.clone(),
    )
    .unwrap();
    let r = z.run_once(CancellationToken::new()).await.unwrap();
    let start = now - CDur::minutes(1) - CDur::hours(2);
    let exp = simulator::expected_logpull_ray_ids(&cfg, "zh", start, now - CDur::minutes(1));
    sink.assert_exactly_once(
        &SourceId::Logpull {
            zone_id: "zh".into(),
        },
        &exp,
    );
    assert!(r.units_done >= 8, "windows of <= 15 min: {r:?}");
    let ok: Vec<_> = logpull_requests(&sim, "zh")
        .into_iter()
        .filter(|r| r.fault.is_none())
        .collect();
    let mut prev = start;
    for q in &ok {
        let (s, e) = (parse_t(&q.query["start"]), parse_t(&q.query["end"]));
        assert_eq!(s, prev, "contiguous");
        assert!(e - s <= CDur::minutes(30));
        prev = e;
    }
    assert_eq!(prev, now - CDur::minutes(1));
    assert!(sink.aborted() > 0);
}

/// A server clock behind ours ("too late" answers) makes the collector end windows earlier instead of
/// failing; it still catches up and commits every record of the windows it fetched exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_clock_behind_is_absorbed() {
    init_tracing();
    let mut cfg = sim_config(17, vec![zone("zc", 5)], vec![]);
    cfg.clock_offset_secs = -50;
    let sim = start_sim(cfg.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(CursorStore::open(dir.path()).unwrap());
    let sink = TestSink::new();
    let start = pinned_now() - CDur::hours(2);
    store
        .save("logpull-zc", &LogpullCursor { next_start: start })
        .unwrap();
    let mut lc = LogpullConfig::new("zc", Auth::token(TOKEN));
    lc.clock = Clock::System;
    let z = LogpullCollector::new(client(&sim), lc, store.clone(), sink.clone()).unwrap();
    let r = z.run_once(CancellationToken::new()).await.unwrap();
    let end = r.cursor.unwrap();
    let server_now = chrono::Utc::now() - CDur::seconds(50);
    assert!(
        end <= server_now - CDur::minutes(1) && end > server_now - CDur::minutes(3),
        "{end}"
    );
    let reqs = logpull_requests(&sim, "zc");
    assert!(reqs.iter().any(|r| r.status == 400), "the skew was noticed");
    assert!(
        reqs.iter().filter(|r| r.status == 400).count() <= 2,
        "and learnt quickly"
    );
    let exp = simulator::expected_logpull_ray_ids(&cfg, "zc", start, end);
    sink.assert_exactly_once(
        &SourceId::Logpull {
            zone_id: "zc".into(),
        },
        &exp,
    );
}

/// The audit cursor (newest `when` + ids at that instant) neither loses nor repeats events when a run
/// stops after every single page — including events that share one instant across a page boundary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_cursor_handles_shared_instants_across_restarts() {
    init_tracing();
    let cfg = sim_config(23, vec![], vec![account("at", 40)]);
    let sim = start_sim(cfg.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let now = pinned_now();
    let sink = TestSink::new();
    let src = SourceId::Audit {
        account_id: "at".into(),
    };
    let exp =
        simulator::expected_audit_ids(&cfg, "at", now - CDur::hours(3), now - CDur::minutes(1));
    // Ground truth really has events sharing an instant.
    let whens: Vec<_> = {
        let c = client(&sim);
        let env = c
            .get_envelope(
                &Auth::token(TOKEN),
                "accounts/at/audit_logs",
                &[
                    (
                        "since",
                        cfship_cloudflare_sim::data::format_when(
                            (now - CDur::hours(3)).timestamp_micros(),
                        ),
                    ),
                    ("per_page", "1000".into()),
                    ("direction", "asc".into()),
                ],
                "test",
            )
            .await
            .unwrap();
        let v: Vec<serde_json::Value> = serde_json::from_str(env.result.unwrap().get()).unwrap();
        v.iter()
            .map(|e| e["when"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(whens.windows(2).any(|w| w[0] == w[1]), "twins exist");
    let mut runs = 0;
    loop {
        runs += 1;
        assert!(runs < 400, "no progress");
        let store = Arc::new(CursorStore::open(dir.path()).unwrap());
        let mut c = audit_cfg("at", Auth::token(TOKEN), now, AuditApi::V1, 3);
        c.per_page = 1;
        let a = AuditCollector::new(client(&sim), c, store.clone(), sink.clone()).unwrap();
        let cancel = CancellationToken::new();
        let c2 = cancel.clone();
        *sink.on_commit.lock().unwrap() = Some(Box::new(move |_| c2.cancel()));
        a.run_once(cancel).await.unwrap();
        if sink.committed(&src).len() >= exp.len() {
            break;
        }
    }
    *sink.on_commit.lock().unwrap() = None;
    // One more full pass must not add anything.
    let store = Arc::new(CursorStore::open(dir.path()).unwrap());
    let a = AuditCollector::new(
        client(&sim),
        audit_cfg("at", Auth::token(TOKEN), now, AuditApi::V1, 3),
        store,
        sink.clone(),
    )
    .unwrap();
    a.run_once(CancellationToken::new()).await.unwrap();
    sink.assert_exactly_once(&src, &exp);
    assert!(
        runs as usize >= exp.len() - 5,
        "one run per event: {runs} runs for {} events",
        exp.len()
    );
}

/// One rate limiter for the whole process: two zones and an account collected concurrently through one
/// client stay together under `requests_per_5min` (each alone would fit in the burst).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_is_shared_by_all_sources() {
    init_tracing();
    let cfg = sim_config(
        29,
        vec![zone("zl1", 1), zone("zl2", 1)],
        vec![account("al", 2)],
    );
    let sim = start_sim(cfg).await;
    let mut ccfg = cfship_cloudflare::ClientConfig::with_api_url(&sim.url()).unwrap();
    ccfg.requests_per_5min = 300; // burst 15, then ~0.95 request/s for the whole process
    ccfg.logpull_requests_per_min = 100_000;
    ccfg.logpull_requests_per_min_per_zone = 100_000;
    let client = cfship_cloudflare::CloudflareClient::new(ccfg).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(CursorStore::open(dir.path()).unwrap());
    let sink = TestSink::new();
    let now = pinned_now();
    let z1 = LogpullCollector::new(
        client.clone(),
        lp_cfg("zl1", Auth::token(TOKEN), now, 5),
        store.clone(),
        sink.clone(),
    )
    .unwrap();
    let z2 = LogpullCollector::new(
        client.clone(),
        lp_cfg("zl2", Auth::token(TOKEN), now, 5),
        store.clone(),
        sink.clone(),
    )
    .unwrap();
    let mut ac = audit_cfg("al", Auth::token(TOKEN), now, AuditApi::V1, 5);
    ac.per_page = 1;
    let a = AuditCollector::new(client.clone(), ac, store.clone(), sink.clone()).unwrap();
    let t = std::time::Instant::now();
    let c = CancellationToken::new();
    let (r1, r2, r3) = tokio::join!(
        z1.run_once(c.clone()),
        z2.run_once(c.clone()),
        a.run_once(c.clone())
    );
    let (r1, r2, r3) = (r1.unwrap(), r2.unwrap(), r3.unwrap());
    let total = sim.requests().len() as f64;
    assert!(total >= 20.0, "{total} requests");
    // The shortest time a per-source limiter would allow (each source its own burst of 15, then
    // 0.95/s): the source with the most requests (retries included, as a loaded machine causes).
    let per_source_min = ["/zones/zl1/", "/zones/zl2/", "/accounts/al/"]
        .iter()
        .map(|p| {
            let n = sim
                .requests()
                .iter()
                .filter(|r| r.path.starts_with(p))
                .count() as f64;
            ((n - 15.0) / 0.95).max(0.0)
        })
        .fold(0.0, f64::max);
    let secs = t.elapsed().as_secs_f64();
    // Burst of 15, then 0.95/s shared: the whole set cannot finish faster than this. Only a lower
    // bound on time is asserted (a slow machine makes it longer, never shorter).
    let min_secs = (total - 15.0) / 0.95 * 0.9;
    assert!(
        min_secs > per_source_min + 2.0,
        "the test cannot tell a shared limiter from per-source ones ({min_secs:.1}s vs {per_source_min:.1}s)"
    );
    assert!(
        secs >= min_secs,
        "{total} requests in {secs:.1}s: limiter not shared (min {min_secs:.1}s)"
    );
    assert!(r1.units_done == 5 && r2.units_done == 5 && r3.units_done > 3);
    assert!(client.stats().snapshot().rate_limit_wait_ms > 1000);
}

/// Fields Cloudflare refuses (unknown names: 400; Bot Management fields without the licence: 403)
/// are dropped from the list and the window asked again: the stream goes on without them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_fields_are_dropped_and_collection_goes_on() {
    init_tracing();
    let cfg = sim_config(5, vec![zone("zb", 3)], vec![]);
    let sim = start_sim(cfg.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(CursorStore::open(dir.path()).unwrap());
    let now = pinned_now();
    let sink = TestSink::new();
    let mut lp = lp_cfg("zb", Auth::token(TOKEN), now, 2);
    lp.bot_fields = true;
    lp.fields = Some(vec![
        "RayID".into(),
        "EdgeStartTimestamp".into(),
        "NoSuchField".into(),
        "ClientIP".into(),
    ]);
    let z = LogpullCollector::new(client(&sim), lp, store.clone(), sink.clone()).unwrap();
    let r = z.run_once(CancellationToken::new()).await.unwrap();
    let reqs = logpull_requests(&sim, "zb");
    let statuses: Vec<u16> = reqs.iter().map(|r| r.status).collect();
    assert_eq!(&statuses[..2], &[400, 403], "{statuses:?}");
    assert!(statuses[2..].iter().all(|s| *s == 200), "{statuses:?}");
    for r in &reqs[2..] {
        assert_eq!(r.query["fields"], "RayID,EdgeStartTimestamp,ClientIP");
    }
    assert!(r.units_done >= 2);
    let exp = simulator::expected_logpull_ray_ids(
        &cfg,
        "zb",
        now - CDur::hours(2) - CDur::minutes(1),
        now - CDur::minutes(1),
    );
    sink.assert_exactly_once(
        &SourceId::Logpull {
            zone_id: "zb".into(),
        },
        &exp,
    );
    sim.shutdown().await;
}
