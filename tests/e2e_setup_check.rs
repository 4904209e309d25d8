//! `cfship setup` installs the templates; `cfship check` reports every pre-flight check on its own
//! line, with a fix for each failure, and exits non-zero when one fails.

mod common;
use cfship_cloudflare_sim::{Faults, SimZone};
use common::*;
use std::process::Command;

fn run(args: &[&str]) -> (bool, String) {
    let o = Command::new(BIN)
        .args(args)
        .env("CFSHIP_E2E_TOKEN", TOKEN)
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    (
        o.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_lists_every_check_and_fails_with_a_fix() {
    let mut sim_cfg = sim_config(5, 1, 10, 10, Faults::default());
    sim_cfg.zones.push(SimZone {
        id: "0000000000000000000000000000dead".into(),
        retention_enabled: false,
        records_per_minute: 1,
        bot_management: false,
    });
    let sim = start_sim(sim_cfg.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let mk = |cfg: &cfship_cloudflare_sim::SimulatorConfig, name: &str| {
        let p = dir.path().join(name);
        TestConfig {
            api_url: sim.url(),
            sim: cfg.clone(),
            state: dir.path().join("state"),
            es: None,
            file: Some(dir.path().join("out.ndjson")),
            interval: "5m",
            max_window: "1h",
            per_page: 100,
            metrics: "off".into(),
            token_expr: "${CFSHIP_E2E_TOKEN}".into(),
        }
        .write(&p);
        p
    };
    let bad = mk(&sim_cfg, "bad.yml");
    let mut good_cfg = sim_cfg.clone();
    good_cfg.zones.pop();
    let good = mk(&good_cfg, "good.yml");
    let (b, g) = (bad.clone(), good.clone());
    let ((ok_bad, out_bad), (ok_good, out_good)) = tokio::task::spawn_blocking(move || {
        (
            run(&["check", "--config", b.to_str().unwrap()]),
            run(&["check", "--config", g.to_str().unwrap()]),
        )
    })
    .await
    .unwrap();
    assert!(!ok_bad, "{out_bad}");
    assert!(
        out_bad.contains("[FAIL] logpull zone 0000000000000000000000000000dead"),
        "{out_bad}"
    );
    assert!(out_bad.contains("fix: turn it on"), "{out_bad}");
    assert!(out_bad.contains("1 of "), "{out_bad}");
    assert!(ok_good, "{out_good}");
    for name in [
        "config",
        "cloudflare credentials",
        "logpull zone",
        "audit account",
        "file output",
        "state dir",
    ] {
        assert!(
            out_good.contains(&format!("[ ok ] {name}")),
            "missing {name}: {out_good}"
        );
    }
    assert!(out_good.contains("checks passed"), "{out_good}");
    // a config error is one failed check naming the line
    let broken = dir.path().join("broken.yml");
    std::fs::write(
        &broken,
        "cloudflare:\n  api_token: x\nlogpull:\n  zone: [a]\n",
    )
    .unwrap();
    let (ok, out) =
        tokio::task::spawn_blocking(move || run(&["check", "--config", broken.to_str().unwrap()]))
            .await
            .unwrap();
    assert!(!ok);
    assert!(
        out.contains("[FAIL] config")
            && out.contains("line 4")
            && out.contains("did you mean `zones`"),
        "{out}"
    );
}

#[test]
fn setup_installs_templates() {
    let Some(es) = engine_url("CFSHIP_ES8_URL", "cfship setup") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("c.yml");
    std::fs::write(
        &conf,
        format!("cloudflare:\n  api_token: t\nlogpull:\n  zones: [z]\nelasticsearch:\n  hosts: [\"{es}\"]\n"),
    )
    .unwrap();
    let (ok, out) = run(&["setup", "--config", conf.to_str().unwrap()]);
    assert!(ok, "{out}");
    assert!(
        out.contains("index template cfship-logs-cloudflare.audit"),
        "{out}"
    );
    assert!(
        out.contains("index template cfship-logs-cloudflare.logpull"),
        "{out}"
    );
    let t: serde_json::Value = http()
        .get(format!(
            "{es}/_index_template/cfship-logs-cloudflare.logpull"
        ))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        t["index_templates"][0]["index_template"]["index_patterns"][0],
        "logs-cloudflare.logpull-*"
    );
    // and one template per cloudflare_logpush data stream cfship transforms
    for ds in cfship_ecs::logpush::Ds::ALL {
        let name = format!("cfship-logs-cloudflare_logpush.{}", ds.data_stream());
        assert!(out.contains(&format!("index template {name}")), "{out}");
        let t: serde_json::Value = http()
            .get(format!("{es}/_index_template/{name}"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        assert_eq!(
            t["index_templates"][0]["index_template"]["index_patterns"][0],
            format!("logs-cloudflare_logpush.{}-*", ds.data_stream())
        );
    }
    // without an elasticsearch section: a clear error
    let conf2 = dir.path().join("c2.yml");
    std::fs::write(
        &conf2,
        "cloudflare:\n  api_token: t\nlogpull:\n  zones: [z]\nfile:\n  path: x\n",
    )
    .unwrap();
    let (ok, out) = run(&["setup", "--config", conf2.to_str().unwrap()]);
    assert!(
        !ok && out.contains("add an `elasticsearch:` section"),
        "{out}"
    );
}
