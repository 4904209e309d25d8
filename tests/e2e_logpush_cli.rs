//! `cfship logpush create|list|delete` against the simulated Logpush API: an HTTPS-destination job
//! (Elastic's path added, the secret as a `header_*` parameter, Cloudflare's validation upload
//! answered by a running receiver), an API error, a disabled job making `list` exit 1 (a loud
//! alert), `delete`; and a bucket job whose ownership challenge cfship reads back from a real S3
//! server (s3s-fs).

use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use assert_cmd::cargo::CommandCargoExt;
use cfship_cloudflare_sim::logpush::{BucketWriter, LogpushSim, PushPolicy};
use cfship_logpush::{serve, RawTransform, ReceiverConfig, SecretHeader, Spool};
use cfship_secret::Secret;
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "cli-token";
const ZONE: &str = "023e105f4ecef8ad9ca31a8372d0c353";

fn cfship(args: &[&str], api: &str, envs: &[(&str, &str)]) -> (bool, String, String) {
    let mut c = Command::cargo_bin("cfship").expect("binary");
    c.args(args)
        .env("CLOUDFLARE_API_TOKEN", TOKEN)
        .env("CLOUDFLARE_API_URL", api)
        .env("NO_COLOR", "1");
    for (k, v) in envs {
        c.env(k, v);
    }
    let out = c.output().expect("run cfship");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_list_delete_against_the_simulator() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let spool = Spool::open(tmp.path(), 64 << 20).expect("spool");
    let mut cfg = ReceiverConfig::new("127.0.0.1:0".parse().expect("addr"));
    cfg.secret = Some(SecretHeader {
        header: "X-Logpush-Secret".into(),
        value: Secret::new("cli secret&1"),
    });
    let cancel = CancellationToken::new();
    let rx = serve(cfg, spool, Arc::new(RawTransform::new("t")), cancel.clone())
        .await
        .expect("serve");
    let sim = LogpushSim::new(TOKEN, None, PushPolicy::default());
    let (api, _t) = sim
        .serve("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("sim");
    let dest = format!("http://{}", rx.local_addr);

    let (ok, out, err) = tokio::task::block_in_place(|| {
        cfship(
            &[
                "logpush",
                "create",
                "--zone",
                ZONE,
                "--dataset",
                "http_request",
                "--destination",
                &dest,
            ],
            &api,
            &[("LOGPUSH_SECRET", "cli secret&1")],
        )
    });
    assert!(ok, "{out}{err}");
    assert!(out.contains("created Logpush job"), "{out}");
    assert!(
        !out.contains("cli secret"),
        "the secret is never printed: {out}"
    );
    assert_eq!(
        rx.stats.probes.load(Ordering::Relaxed),
        1,
        "the validation upload reached the receiver"
    );
    let jobs = sim.jobs(&format!("zones/{ZONE}"));
    assert_eq!(jobs.len(), 1);
    let conf = jobs[0]["destination_conf"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(conf.contains("/cloudflare_logpush/http_request?header_Content-Type=application%2Fjson&header_X-Logpush-Secret=cli%20secret%261"), "{conf}");
    assert_eq!(jobs[0]["output_options"]["timestamp_format"], "rfc3339");
    assert!(jobs[0]["output_options"]["field_names"]
        .as_array()
        .is_some_and(|f| f.len() > 5));

    // an API error: a wrong secret fails Cloudflare's validation upload
    let (ok, _, err) = tokio::task::block_in_place(|| {
        cfship(
            &[
                "logpush",
                "create",
                "--zone",
                ZONE,
                "--dataset",
                "http_requests",
                "--destination",
                &dest,
                "--secret",
                "wrong",
            ],
            &api,
            &[],
        )
    });
    assert!(!ok);
    assert!(err.contains("error validating destination"), "{err}");
    // a zone dataset asked for an account
    let (ok, _, err) = tokio::task::block_in_place(|| {
        cfship(
            &[
                "logpush",
                "create",
                "--account",
                "acc",
                "--dataset",
                "dns",
                "--destination",
                &dest,
            ],
            &api,
            &[],
        )
    });
    assert!(!ok && err.contains("zone dataset"), "{err}");

    let (ok, out, _) =
        tokio::task::block_in_place(|| cfship(&["logpush", "list", "--zone", ZONE], &api, &[]));
    assert!(ok, "{out}");
    assert!(
        out.contains("healthy") && out.contains("REDACTED") && !out.contains("cli%20secret"),
        "{out}"
    );
    let id = jobs[0]["id"].as_u64().expect("id");
    sim.update_job(id, |j| j["enabled"] = serde_json::json!(false));
    let (ok, out, _) =
        tokio::task::block_in_place(|| cfship(&["logpush", "list", "--zone", ZONE], &api, &[]));
    assert!(!ok, "a disabled job is an alert: {out}");
    assert!(out.contains("DISABLED"), "{out}");

    let id = id.to_string();
    let (ok, out, err) = tokio::task::block_in_place(|| {
        cfship(
            &["logpush", "delete", "--zone", ZONE, "--id", &id],
            &api,
            &[],
        )
    });
    assert!(ok, "{out}{err}");
    assert!(sim.jobs(&format!("zones/{ZONE}")).is_empty());
    cancel.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bucket_job_with_the_ownership_challenge() {
    use cfship_cloudflare_sim::s3s_fs;
    let Some(bin) = s3s_fs::binary("bucket_job_with_the_ownership_challenge") else {
        return;
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let s3 = s3s_fs::S3sFs::start(&bin, dir.path(), &["logs"], "AK", "SK").expect("s3s-fs");
    let endpoint = s3.endpoint();
    let mut bcfg =
        cfship_logpush::BucketConfig::new("s3://logs/", &cfship_logpush::DATA_STREAMS[0]);
    bcfg.endpoint = Some(endpoint.clone());
    bcfg.access_key_id = Some(Secret::new("AK"));
    bcfg.secret_access_key = Some(Secret::new("SK"));
    let (store, _) = cfship_logpush::bucket::open_store(&bcfg).expect("store");
    // Cloudflare's side writes into the same bucket (challenge file, then log objects)
    let writer: BucketWriter = {
        let store = store.clone();
        Arc::new(move |_bucket: String, key: String, body: Vec<u8>| {
            let store = store.clone();
            Box::pin(async move {
                use object_store::ObjectStoreExt;
                store
                    .put(&object_store::path::Path::from(key), body.into())
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
        })
    };
    let sim = LogpushSim::new(TOKEN, Some(writer), PushPolicy::default());
    let (api, _t) = sim
        .serve("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("sim");
    let dest = "s3://logs/cloudflare/http_requests/{DATE}?region=us-east-1";
    let (ok, out, err) = tokio::task::block_in_place(|| {
        cfship(
            &[
                "logpush",
                "create",
                "--zone",
                ZONE,
                "--dataset",
                "http_requests",
                "--destination",
                dest,
                "--bucket-endpoint",
                &endpoint,
            ],
            &api,
            &[("AWS_ACCESS_KEY_ID", "AK"), ("AWS_SECRET_ACCESS_KEY", "SK")],
        )
    });
    assert!(ok, "{out}{err}");
    assert!(
        // the file name Cloudflare returns carries the destination's folder
        out.contains(
            "ownership challenge written by Cloudflare: cloudflare/http_requests/ownership-challenge-"
        ),
        "{out}"
    );
    let jobs = sim.jobs(&format!("zones/{ZONE}"));
    assert_eq!(jobs.len(), 1);
    // the pusher writes each batch as one gzipped object in the day's folder
    let id = jobs[0]["id"].as_u64().expect("id");
    sim.update_job(id, |j| j["enabled"] = serde_json::json!(true));
    let recs = vec![r#"{"RayID":"b1"}"#.to_string()];
    assert_eq!(sim.push_batch(id, &recs).await, Ok(true));
    let day = chrono::Utc::now().format("%Y%m%d").to_string();
    let listed = {
        use futures::TryStreamExt;
        store
            .list(Some(&object_store::path::Path::from(format!(
                "cloudflare/http_requests/{day}"
            ))))
            .try_collect::<Vec<_>>()
            .await
            .expect("list")
    };
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert!(
        listed[0].location.as_ref().ends_with(".log.gz"),
        "{listed:?}"
    );
    // a wrong ownership token is refused by the API
    let (ok, _, err) = tokio::task::block_in_place(|| {
        cfship(
            &[
                "logpush",
                "create",
                "--zone",
                ZONE,
                "--dataset",
                "http_requests",
                "--destination",
                dest,
                "--ownership-token",
                "forged",
            ],
            &api,
            &[],
        )
    });
    drop(s3);
    assert!(!ok && err.contains("invalid ownership challenge"), "{err}");
}
