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
        format!("cloudflare:\n  api_token: t\nlogpull:\n  zones: [023e105f4ecef8ad9ca31a8372d0c353]\nelasticsearch:\n  hosts: [\"{es}\"]\n"),
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
        "cloudflare:\n  api_token: t\nlogpull:\n  zones: [023e105f4ecef8ad9ca31a8372d0c353]\nfile:\n  path: x\n",
    )
    .unwrap();
    let (ok, out) = run(&["setup", "--config", conf2.to_str().unwrap()]);
    assert!(
        !ok && out.contains("add an `elasticsearch:` section"),
        "{out}"
    );
}

/// `run`/`check` output of `cfship check` split: (exit code, stdout, stderr).
fn check_out(conf: &std::path::Path) -> (Option<i32>, String, String) {
    let o = Command::new(BIN)
        .args(["check", "--config", conf.to_str().unwrap()])
        .env("CFSHIP_E2E_TOKEN", TOKEN)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    (
        o.status.code(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// Cloudflare accepting connections and never answering: `check` runs its checks at once, one
/// attempt and a quick retry each, and reports within its 10 s budget (the bound asserted is
/// generous: it proves the budget, not a speed), without log lines before the report.
#[test]
fn check_with_cloudflare_unreachable_reports_within_its_budget() {
    let hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = hole.local_addr().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in hole.incoming() {
            held.push(c); // accept and never answer
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("c.yml");
    std::fs::write(
        &conf,
        format!(
            "cloudflare:\n  api_url: http://{addr}/client/v4\n  api_token: t\naudit:\n  accounts: [01a7362d577a6c3019a474fd6f485823]\nlogpull:\n  zones:\n    - 023e105f4ecef8ad9ca31a8372d0c353\n    - 9a7806061c88ada191ed06f989cc3dac\n    - 0000000000000000000000000000beef\nfile:\n  path: {}\nstate:\n  dir: {}\n",
            dir.path().join("out.ndjson").display(),
            dir.path().join("state").display()
        ),
    )
    .unwrap();
    let t = std::time::Instant::now();
    let (code, stdout, stderr) = check_out(&conf);
    let took = t.elapsed();
    assert!(
        took < std::time::Duration::from_secs(30),
        "check took {took:?} (budget 10 s): {stdout}"
    );
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stderr.trim().is_empty(),
        "log lines before the report: {stderr}"
    );
    assert!(
        stdout.contains("[FAIL] cloudflare credentials") && stdout.contains("`cloudflare.api_url`"),
        "{stdout}"
    );
    // the sources of a failed token are not asked again (one error, not one per source)
    assert_eq!(
        stdout
            .matches("not checked: its credentials failed above")
            .count(),
        4,
        "{stdout}"
    );
    assert!(stdout.contains("[ ok ] file output"), "{stdout}");
}

/// The fixes `check` names: a zone id Cloudflare does not know, no output, a wrong token printed
/// once, a config error without a line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_the_right_fix() {
    let sim_cfg = sim_config(1306, 1, 10, 10, Faults::default());
    let sim = start_sim(sim_cfg.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let url = sim.url();
    let real = sim_cfg.zones[0].id.clone();
    let d = dir.path().to_path_buf();
    tokio::task::spawn_blocking(move || {
        let write = |name: &str, body: String| {
            let p = d.join(name);
            std::fs::write(&p, body).unwrap();
            p
        };
        let base = |token: &str, zones: &str, out: bool| {
            let mut y = format!(
                "cloudflare:\n  api_url: {url}\n  api_token: {token}\nlogpull:\n  zones: [{zones}]\nstate:\n  dir: {}\n",
                d.join("state").display()
            );
            if out {
                y.push_str(&format!("file:\n  path: {}\n", d.join("out.ndjson").display()));
            }
            y
        };
        // a mistyped (well-formed) zone id
        let typo = write("typo.yml", base("${CFSHIP_E2E_TOKEN}", "0000000000000000000000000000abcd", true));
        let (code, out, _) = check_out(&typo);
        assert_eq!(code, Some(1), "{out}");
        assert!(
            out.contains("the zone does not exist or the token cannot see it"),
            "{out}"
        );
        assert!(!out.contains("network access"), "{out}");
        // no output: not "passed", and no "file output only"
        let none = write("none.yml", base("${CFSHIP_E2E_TOKEN}", &real, false));
        let (code, out, _) = check_out(&none);
        assert_eq!(code, Some(1), "{out}");
        assert!(out.contains("[FAIL] outputs") && out.contains("no output configured"), "{out}");
        assert!(!out.contains("file output only") && !out.contains("checks passed"), "{out}");
        // a wrong token: its error once, its sources not asked again
        let wrong = write("wrong.yml", base("wrong-token-123", &format!("{real}, 0000000000000000000000000000abcd"), true));
        let (code, out, _) = check_out(&wrong);
        assert_eq!(code, Some(1), "{out}");
        assert_eq!(out.matches("[FAIL] cloudflare credentials").count(), 1, "{out}");
        assert_eq!(out.matches("not checked: its credentials failed above").count(), 2, "{out}");
        // an id in the wrong format is a config error naming its line
        let bad_id = write("badid.yml", base("t", "example.com", true));
        let (code, out, _) = check_out(&bad_id);
        assert_eq!(code, Some(1), "{out}");
        assert!(out.contains("[FAIL] config") && out.contains("line 5") && out.contains("32 hex digits"), "{out}");
        assert!(out.contains("fix: edit the line named above"), "{out}");
        // an unknown name in a custom field list: failed, with the likely name
        let fields = write(
            "fields.yml",
            base("${CFSHIP_E2E_TOKEN}", &real, true).replace(
                "logpull:\n",
                "logpull:\n  fields: [RayID, EdgeStartTimestamp, EdgeEndTimestamp, ClientIp]\n",
            ),
        );
        let (code, out, _) = check_out(&fields);
        assert_eq!(code, Some(1), "{out}");
        assert!(
            out.contains("unknown Logpull field names: ClientIp (did you mean ClientIP?)"),
            "{out}"
        );
        // what run opens first: GeoIP databases, the metrics address
        let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let opened = write(
            "opened.yml",
            format!(
                "{}geoip:\n  dir: {}\nmetrics:\n  listen: \"{}\"\n",
                base("${CFSHIP_E2E_TOKEN}", &real, true),
                d.join("no-geoip").display(),
                busy.local_addr().unwrap()
            ),
        );
        let (code, out, _) = check_out(&opened);
        assert_eq!(code, Some(1), "{out}");
        assert!(out.contains("[FAIL] geoip "), "{out}");
        assert!(out.contains("[FAIL] metrics.listen "), "{out}");
        drop(busy);
        // no line to name: no "edit the line named above"
        let (_, out, _) = check_out(&d.join("missing.yml"));
        assert!(out.contains("[FAIL] config") && !out.contains("line named above"), "{out}");
    })
    .await
    .unwrap();
}

/// A config with only an `elasticsearch:` section is what `setup` needs: `setup` installs every
/// template and `check` checks Elasticsearch.
#[test]
fn setup_and_check_accept_a_config_with_only_elasticsearch() {
    let Some(es) = engine_url("CFSHIP_ES8_URL", "setup with only elasticsearch") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("es-only.yml");
    std::fs::write(
        &conf,
        format!(
            "elasticsearch:\n  hosts: [\"{es}\"]\nstate:\n  dir: {}\nmetrics:\n  listen: \"off\"\n",
            dir.path().join("state").display()
        ),
    )
    .unwrap();
    let (ok, out) = run(&["setup", "--config", conf.to_str().unwrap()]);
    assert!(ok, "{out}");
    for t in [
        "cfship-logs-cloudflare.audit",
        "cfship-logs-cloudflare.logpull",
    ] {
        assert!(out.contains(&format!("index template {t}")), "{out}");
    }
    for ds in cfship_ecs::logpush::Ds::ALL {
        assert!(
            out.contains(&format!(
                "index template cfship-logs-cloudflare_logpush.{}",
                ds.data_stream()
            )),
            "{out}"
        );
    }
    let (code, out, _) = check_out(&conf);
    assert!(out.contains("[ ok ] sources — none configured"), "{out}");
    assert!(out.contains("[ ok ] elasticsearch"), "{out}");
    assert_eq!(code, Some(0), "{out}");
}
