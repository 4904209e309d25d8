//! Refilling what a Logpush job dropped, with the real binary, the simulator as Cloudflare (Logpull
//! and the Logpush jobs API on one `api_url`, its pusher) and a real Elasticsearch 8
//! (CFSHIP_ES8_URL): a job made by `cfship logpush create` (the zone's Logpull fields, rfc3339)
//! pushes a 12-minute window of `http_requests` into `cfship run`'s HTTPS destination in batches;
//! the receiver is stopped for a while, so the pusher drops the batches of that time after its
//! retries (one more batch is delivered twice); then `cfship backfill --logpush-job` refills the
//! whole window through Logpull. Every record of the window is in Elasticsearch exactly once —
//! nothing lost, nothing doubled. A job sending a field Logpull lacks is refused, naming it.

mod common;

use cfship_cloudflare_sim::data::TimestampFormat;
use cfship_cloudflare_sim::logpush::{batches, LogpushSim, PushPolicy};
use cfship_cloudflare_sim::Faults;
use common::*;
use std::process::Command;
use std::time::{Duration, Instant};

const PUSH_SECRET: &str = "refill s3cret";

/// The job's fields: ones Logpull returns too (so a refilled record is the pushed one).
const FIELDS: &[&str] = &[
    "CacheCacheStatus",
    "ClientCountry",
    "ClientIP",
    "ClientRequestHost",
    "ClientRequestMethod",
    "ClientRequestURI",
    "ClientRequestUserAgent",
    "EdgeEndTimestamp",
    "EdgeResponseBytes",
    "EdgeResponseStatus",
    "EdgeStartTimestamp",
    "RayID",
    "SecurityAction",
    "ZoneName",
];

fn wait_count(es: &str, index: &str, want: u64, log: &std::path::Path) {
    let t = Instant::now();
    loop {
        refresh(es, index);
        let n = count(es, index, "*");
        assert!(n <= want, "{index}: {n} documents, more than {want}");
        if n == want {
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(120),
            "{index}: {n} of {want} documents; log:\n{}",
            tail(log, 40)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refill_of_dropped_batches_is_exactly_once() {
    let test = "refill_of_dropped_batches_is_exactly_once";
    let Some(es) = engine_url("CFSHIP_ES8_URL", test) else {
        return;
    };
    let sim_cfg = sim_config(1010, 1, 40, 0, Faults::default());
    let zone = sim_cfg.zones[0].id.clone();
    let pusher = LogpushSim::new(
        TOKEN,
        None,
        PushPolicy {
            attempts: 3,
            backoff: Duration::from_millis(50),
            disable_after_drops: 100,
            timeout: Duration::from_secs(30),
        },
    );
    let sim = cfship_cloudflare_sim::start_with(
        sim_cfg.clone(),
        "127.0.0.1:0".parse().expect("addr"),
        pusher.router(),
    )
    .await
    .expect("simulator");
    let api = sim.url();

    // The window and what Cloudflare has for it (the same request log both ways).
    // the simulator's volume varies by minute (20–60 records, 1 minute in 16 empty) and the window
    // follows the clock: take the latest 12-minute window, ending at least 8 minutes ago, that has
    // enough records for several batches
    let now = floor(chrono::Utc::now() - chrono::Duration::minutes(20));
    let (t0, t1, source) = (0..60)
        .map(|back| {
            let t0 = now - chrono::Duration::minutes(back);
            let t1 = t0 + chrono::Duration::minutes(12);
            let source = cfship_cloudflare_sim::http_requests_records(
                &sim_cfg,
                &zone,
                t0,
                t1,
                FIELDS,
                TimestampFormat::Rfc3339,
            );
            (t0, t1, source)
        })
        .find(|(_, _, s)| s.len() > 300)
        .expect("a 12-minute window with over 300 records in the last 80 minutes");

    let tmp = tempfile::tempdir().expect("tempdir");
    let ns = unique_ns("refill");
    let index = format!("logs-cloudflare_logpush.http_request-{ns}");
    let port = free_port();
    let es_conf = format!(
        "elasticsearch:\n  hosts: [\"{es}\"]\n  namespace: {ns}\nmetrics:\n  listen: \"off\"\n"
    );
    let run_conf = tmp.path().join("run.yml");
    std::fs::write(
        &run_conf,
        format!(
            "logpush:\n  listen: \"127.0.0.1:{port}\"\n  secret: {{ value: \"${{LP_SECRET}}\" }}\n  spool:\n    dir: {}\nstate:\n  dir: {}\n{es_conf}",
            tmp.path().join("spool").display(),
            tmp.path().join("state").display()
        ),
    )
    .expect("config");
    let refill_conf = tmp.path().join("refill.yml");
    std::fs::write(
        &refill_conf,
        format!(
            "cloudflare:\n  api_url: {api}\n  api_token: ${{CFSHIP_E2E_TOKEN}}\nlogpull:\n  zones: [\"{zone}\"]\nstate:\n  dir: {}\n{es_conf}",
            tmp.path().join("refill-state").display()
        ),
    )
    .expect("config");
    let envs = [("LP_SECRET", PUSH_SECRET)];
    let log = tmp.path().join("cfship.log");
    let run_s = run_conf.to_str().expect("path").to_string();
    let start = || {
        Killed(tokio::task::block_in_place(|| {
            spawn_running(&["run", "--config", &run_s], &log, &envs)
        }))
    };
    let mut run = start();

    // The job, made as the README says (the validation upload reaches the receiver).
    let out = tokio::task::block_in_place(|| {
        Command::new(BIN)
            .args([
                "logpush",
                "create",
                "--zone",
                &zone,
                "--dataset",
                "http_requests",
            ])
            .args(["--destination", &format!("http://127.0.0.1:{port}")])
            .args(["--fields", &FIELDS.join(","), "--timestamps", "rfc3339"])
            .env("CLOUDFLARE_API_TOKEN", TOKEN)
            .env("CLOUDFLARE_API_URL", &api)
            .env("LOGPUSH_SECRET", PUSH_SECRET)
            .output()
            .expect("cfship logpush create")
    });
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let job = pusher.jobs(&format!("zones/{zone}"))[0].clone();
    let id = job["id"].as_u64().expect("id");
    assert_eq!(job["output_options"]["timestamp_format"], "rfc3339");

    // Cloudflare pushes the window in batches of 40 records; the receiver is down for batches
    // 3..6 (each dropped after 3 attempts); batch 7 is delivered twice (a re-send after a timeout).
    let all = batches(&source, 40, usize::MAX);
    assert!(all.len() >= 9, "{} batches", all.len());
    let mut delivered = 0;
    for (b, recs) in all.iter().enumerate() {
        if b == 3 {
            sigterm(&run.0);
            let st = tokio::task::block_in_place(|| {
                wait_for(
                    &mut run.0,
                    Duration::from_secs(60),
                    "run after SIGTERM",
                    &log,
                )
            });
            assert!(st.success(), "{}", tail(&log, 30));
        }
        if b == 6 {
            run = start();
        }
        let ok = pusher.push_batch(id, recs).await.expect("push");
        assert_eq!(ok, !(3..6).contains(&b), "batch {b}");
        if ok {
            delivered += recs.len();
        }
        if b == 7 {
            assert_eq!(pusher.push_batch(id, recs).await, Ok(true));
        }
    }
    let dropped = all[3..6].iter().map(|b| b.len()).sum::<usize>();
    assert_eq!(
        pusher
            .dropped_records
            .load(std::sync::atomic::Ordering::Relaxed),
        dropped as u64
    );
    tokio::task::block_in_place(|| wait_count(&es, &index, delivered as u64, &log));
    let job = pusher.jobs(&format!("zones/{zone}"))[0].clone();
    assert!(job["error_message"].is_string(), "{job}");

    // The refill: the whole window again, through Logpull, as the job's records.
    let refill = |extra: &[&str]| {
        let mut args = vec![
            "backfill",
            "--config",
            refill_conf.to_str().expect("path"),
            "--logpush-job",
        ];
        let id_s = id.to_string();
        let (since, until) = (t0.to_rfc3339(), t1.to_rfc3339());
        args.extend([id_s.as_str(), "--since", &since, "--until", &until]);
        args.extend(extra);
        let mut c = spawn(&args, &log, &[]);
        tokio::task::block_in_place(|| wait_for(&mut c, Duration::from_secs(120), "backfill", &log))
    };
    let st = refill(&[]);
    assert!(st.success(), "{}", tail(&log, 30));
    tokio::task::block_in_place(|| {
        refresh(&es, &index);
        assert_eq!(count(&es, &index, "*"), source.len() as u64);
        let got = all_values(&es, &index, "cloudflare_logpush.http_request.ray.id");
        let mut want: Vec<String> =
            cfship_cloudflare_sim::expected_logpull_ray_ids(&sim_cfg, &zone, t0, t1);
        want.sort();
        assert_eq!(want.len(), source.len());
        assert_same_ids("refilled window", &got, &want);
        assert_eq!(count(&es, &index, "event.kind:pipeline_error"), 0);
    });
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        text.contains(&format!("{} events", source.len())),
        "the refill read the whole window again: {}",
        tail(&log, 10)
    );
    // Logpull was asked for exactly the job's fields and timestamp format.
    let pulls: Vec<_> = sim
        .requests()
        .into_iter()
        .filter(|r| r.path == format!("/zones/{zone}/logs/received"))
        .collect();
    assert!(!pulls.is_empty());
    for r in &pulls {
        assert_eq!(r.query["fields"], FIELDS.join(","));
        assert_eq!(r.query["timestamps"], "rfc3339");
    }

    // A job with a Logpush-only field cannot be refilled without duplicates: refused, named.
    pusher.update_job(id, |j| {
        j["output_options"]["field_names"]
            .as_array_mut()
            .expect("fields")
            .push("RequestHeaders".into())
    });
    let before = std::fs::read_to_string(&log).unwrap_or_default().len();
    let st = refill(&[]);
    assert!(!st.success());
    let text = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        text[before..].contains("RequestHeaders"),
        "{}",
        &text[before..]
    );
    tokio::task::block_in_place(|| {
        refresh(&es, &index);
        assert_eq!(count(&es, &index, "*"), source.len() as u64);
    });
    sigterm(&run.0);
}
