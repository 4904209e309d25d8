//! `logpull.fields: modern` with the real binary, the simulator as Cloudflare and a real
//! Elasticsearch 8 (CFSHIP_ES8_URL): the client asks the zone which fields it offers and requests
//! the modern ones it has (no refused request, no warning), and every record of the caught-up range
//! is in `logs-cloudflare_logpush.http_request-<ns>` exactly once, as Elastic's `cloudflare_logpush`
//! `http_request` pipeline maps it (the `Security*` fields as `waf.*` / `firewall.matches.*`), with
//! no pipeline error.

mod common;
use cfship_cloudflare::{LogpullCursor, SourceId};
use cfship_cloudflare_sim::Faults;
use cfship_state::CursorStore;
use common::*;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modern_fields_become_http_request_documents() {
    let test = "modern_fields_become_http_request_documents";
    let Some(es) = engine_url("CFSHIP_ES8_URL", test) else {
        return;
    };
    let sim_cfg = sim_config(1411, 1, 40, 0, Faults::default());
    let sim = start_sim(sim_cfg.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let zone = sim_cfg.zones[0].id.clone();
    let t0 = floor(chrono::Utc::now() - chrono::Duration::minutes(20));
    seed_cursors(&state, &sim_cfg, t0);
    let ns = unique_ns("modern");
    let conf = dir.path().join("cfship.yml");
    std::fs::write(
        &conf,
        format!(
            "cloudflare:\n  api_url: {}\n  api_token: ${{CFSHIP_E2E_TOKEN}}\nlogpull:\n  zones: [\"{zone}\"]\n  fields: modern\n  interval: 1s\n  max_window: 10m\nstate:\n  dir: {}\nmetrics:\n  listen: \"off\"\nelasticsearch:\n  hosts: [\"{es}\"]\n  namespace: {ns}\n",
            sim.url(),
            state.display()
        ),
    )
    .unwrap();
    let log = dir.path().join("cfship.log");
    let (conf2, log2, state2, zone2, sim_cfg2) = (
        conf.clone(),
        log.clone(),
        state.clone(),
        zone.clone(),
        sim_cfg.clone(),
    );
    tokio::task::spawn_blocking(move || {
        let (state, zone, sim_cfg) = (state2, zone2, sim_cfg2);
        let mut setup = spawn(&["setup", "--config", conf2.to_str().unwrap()], &log2, &[]);
        assert!(wait_for(&mut setup, Duration::from_secs(120), "setup", &log2).success());
        let mut child = spawn(
            &["run", "--once", "--config", conf2.to_str().unwrap()],
            &log2,
            &[],
        );
        let st = wait_for(&mut child, Duration::from_secs(300), "run --once", &log2);
        assert!(st.success(), "log:\n{}", tail(&log2, 30));

        // Exactly the records of [t0, cursor), each once, in the http_request data stream.
        let store = CursorStore::open(&state).unwrap();
        let key = SourceId::Logpull {
            zone_id: zone.clone(),
        }
        .state_key();
        let c: LogpullCursor = store.load(&key).unwrap().expect("cursor");
        assert!(c.next_start > t0);
        let mut want =
            cfship_cloudflare_sim::expected_logpull_ray_ids(&sim_cfg, &zone, t0, c.next_start);
        want.sort();
        assert!(want.len() > 100, "{} records", want.len());
        let index = format!("logs-cloudflare_logpush.http_request-{ns}");
        let got = all_values(&es, &index, "cloudflare_logpush.http_request.ray.id");
        assert_same_ids("modern logpull", &got, &want);
        assert_eq!(count(&es, &index, "event.kind:pipeline_error"), 0);
        assert_eq!(
            count(&es, &index, "event.dataset:cloudflare_logpush.http_request"),
            want.len() as u64
        );
        // The modern fields are mapped as the http_request pipeline maps them.
        assert!(count(&es, &index, "cloudflare_logpush.http_request.waf.action:*") > 0);
        assert!(count(&es, &index, "url.scheme:https") > 0);
        assert!(
            count(
                &es,
                &index,
                "cloudflare_logpush.http_request.zone.name:\"example.com\""
            ) > 0
        );
        // Nothing went to the cloudflare.logpull data stream.
        assert_eq!(count(&es, &format!("logs-cloudflare.logpull-{ns}"), "*"), 0);
    })
    .await
    .unwrap();

    // The zone's field list was read first; the fields it does not offer were never requested,
    // so Cloudflare refused nothing and nothing was warned about.
    let reqs = sim.requests();
    assert!(reqs
        .iter()
        .any(|r| r.path == format!("/zones/{zone}/logs/received/fields")));
    let pulls: Vec<_> = reqs
        .iter()
        .filter(|r| r.path == format!("/zones/{zone}/logs/received"))
        .collect();
    assert!(!pulls.is_empty());
    for r in &pulls {
        assert_eq!(r.status, 200, "{:?}", r.query);
        let f = &r.query["fields"];
        assert!(
            f.contains("SecurityAction") && f.contains("ZoneName"),
            "{f}"
        );
        assert!(
            !f.contains("FraudUserID") && !f.contains("WAFAction"),
            "{f}"
        );
    }
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains("WARN"), "{text}");
    assert!(
        text.contains("the zone does not offer some fields"),
        "{text}"
    );
}
