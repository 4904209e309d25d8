//! Against a dedicated Elasticsearch 8 with security on (`scripts/search-engine.sh start es8 --name secure
//! --port 9212 --secure`): basic auth (config and URL user info), refusal without credentials, a user
//! without privileges, secrets absent from errors. Runs when `CFSHIP_ES8_URL` is set (the engine is
//! installable here); otherwise `SKIPPED:` (a failure when `CI=true`).

mod common;

use common::*;

use cfship_elasticsearch::{data_stream_name, ElasticsearchSink, EsAuth, EsError, Secret};

const PASSWORD: &str = "cfship-test-password";

struct Secure {
    args: [&'static str; 6],
}

impl Drop for Secure {
    fn drop(&mut self) {
        let _ = std::process::Command::new("bash")
            .arg(script())
            .arg("stop")
            .args(&self.args[..5])
            .output();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es8_security_basic_auth_and_privileges() {
    let test = "es8_security_basic_auth_and_privileges";
    if engine_url("CFSHIP_ES8_URL", test).is_none() {
        return;
    }
    init_tracing();
    let inst = Secure {
        args: ["es8", "--name", "secure", "--port", "9212", "--secure"],
    };
    let mut start = vec!["start"];
    start.extend(inst.args);
    let url = run_script(&start, &[("CFSHIP_SEARCH_PASSWORD", PASSWORD)]).await;
    let tmp = tempfile::tempdir().expect("tempdir");
    let ns = unique_namespace("sec");

    // no credentials: refused at connect
    let err = ElasticsearchSink::connect(config(&url, &ns, tmp.path().join("d")))
        .await
        .expect_err("anonymous access must fail");
    assert!(matches!(err, EsError::Http { status: 401, .. }), "{err}");

    // wrong password: refused, and the password is nowhere in the error
    let mut cfg = config(&url, &ns, tmp.path().join("d"));
    cfg.auth = EsAuth::Basic {
        username: "cfship-admin".into(),
        password: Secret::new("wrong-password-xyz"),
    };
    let err = ElasticsearchSink::connect(cfg)
        .await
        .expect_err("wrong password");
    let shown = format!("{err} {err:?}");
    assert!(shown.contains("401"), "{shown}");
    assert!(!shown.contains("wrong-password-xyz"), "{shown}");

    // basic auth from the config: templates, indexing, privileges check
    let mut cfg = config(&url, &ns, tmp.path().join("d"));
    cfg.auth = EsAuth::Basic {
        username: "cfship-admin".into(),
        password: Secret::new(PASSWORD),
    };
    let sink = ElasticsearchSink::connect(cfg)
        .await
        .expect("connect with basic auth");
    assert!(!format!("{sink:?} {:?}", sink.config()).contains(PASSWORD));
    sink.ensure_templates().await.expect("templates");
    let index = data_stream_name("audit", &ns);
    let docs = golden_docs("audit", &ns);
    let ack = sink.index(requests(&index, &docs)).await.expect("index");
    assert_eq!(ack.created, docs.len() as u64);
    let checks = sink.check().await;
    let p = checks
        .iter()
        .find(|c| c.name == "privileges")
        .expect("privileges line");
    assert!(p.ok && p.detail.contains("cfship-admin"), "{p:?}");
    assert!(checks.iter().all(|c| c.ok), "{checks:#?}");

    // credentials in the host URL are used and never shown
    let mut cfg = config(
        &url.replace("http://", &format!("http://cfship-admin:{PASSWORD}@")),
        &ns,
        tmp.path().join("d"),
    );
    cfg.auth = EsAuth::None;
    let sink2 = ElasticsearchSink::connect(cfg)
        .await
        .expect("connect with URL user info");
    let ack = sink2
        .index(requests(&index, &docs))
        .await
        .expect("index again");
    assert_eq!(ack.duplicates, docs.len() as u64);
    assert!(!format!("{sink2:?}").contains(PASSWORD));

    // a read-only user cannot even be detected on the minimal distribution (no GET /, _nodes needs
    // `monitor`): connect says which privilege is missing
    let mut cfg = config(&url, &ns, tmp.path().join("d"));
    cfg.auth = EsAuth::Basic {
        username: "cfship-viewer".into(),
        password: Secret::new(PASSWORD),
    };
    let err = ElasticsearchSink::connect(cfg)
        .await
        .expect_err("viewer lacks monitor");
    let shown = err.to_string();
    assert!(matches!(err, EsError::Http { status: 403, .. }), "{shown}");
    assert!(shown.contains("monitor"), "{shown}");
    drop(inst);
}

fn tls_certs() -> std::path::PathBuf {
    std::path::PathBuf::from(
        std::env::var("CFSHIP_SEARCH_WORK").unwrap_or_else(|_| "/tmp/cfship-search".into()),
    )
    .join("es8-tls/certs")
}

/// HTTPS with a private CA and a required client certificate: `ca_file`, `client_cert`/`client_key`
/// (separate or one bundle) and `insecure` against a real TLS endpoint.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn es8_tls_ca_file_client_certificate_and_insecure() {
    let test = "es8_tls_ca_file_client_certificate_and_insecure";
    if engine_url("CFSHIP_ES8_URL", test).is_none() {
        return;
    }
    init_tracing();
    let inst = Secure {
        args: ["es8", "--name", "tls", "--port", "9213", "--tls"],
    };
    let mut start = vec!["start"];
    start.extend(inst.args);
    let url = run_script(&start, &[("CFSHIP_SEARCH_PASSWORD", PASSWORD)]).await;
    assert!(url.starts_with("https://"), "{url}");
    let certs = tls_certs();
    let tmp = tempfile::tempdir().expect("tempdir");
    let ns = unique_namespace("tls");
    let base = || {
        let mut cfg = config(&url, &ns, tmp.path().join("d"));
        cfg.auth = EsAuth::Basic {
            username: "cfship-admin".into(),
            password: Secret::new(PASSWORD),
        };
        cfg
    };

    // the private CA is not trusted by default
    let err = ElasticsearchSink::connect(base())
        .await
        .expect_err("unknown CA");
    assert!(matches!(err, EsError::Unreachable { .. }), "{err}");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );

    // trusted CA, but the server requires a client certificate
    let mut cfg = base();
    cfg.ca_file = Some(certs.join("ca.pem"));
    let err = ElasticsearchSink::connect(cfg)
        .await
        .expect_err("client certificate required");
    assert!(matches!(err, EsError::Unreachable { .. }), "{err}");

    // CA + client certificate and key in separate files: works end to end
    let mut cfg = base();
    cfg.ca_file = Some(certs.join("ca.pem"));
    cfg.client_cert = Some(certs.join("client.pem"));
    cfg.client_key = Some(certs.join("client.key"));
    let sink = ElasticsearchSink::connect(cfg)
        .await
        .expect("connect over TLS");
    sink.ensure_templates().await.expect("templates");
    let index = data_stream_name("logpull", &ns);
    let docs = golden_docs("logpull", &ns);
    let ack = sink
        .index(requests(&index, &docs))
        .await
        .expect("index over TLS");
    assert_eq!(ack.created, docs.len() as u64);
    assert!(sink.check().await.iter().all(|c| c.ok));

    // insecure: no CA, certificate not verified; client cert and key in one bundle file
    let mut cfg = base();
    cfg.insecure = true;
    cfg.client_cert = Some(certs.join("client-bundle.pem"));
    let sink = ElasticsearchSink::connect(cfg)
        .await
        .expect("connect insecure");
    let ack = sink
        .index(requests(&index, &docs))
        .await
        .expect("index again");
    assert_eq!(ack.duplicates, docs.len() as u64);

    // unreadable / invalid files are configuration errors
    let mut cfg = base();
    cfg.ca_file = Some(tmp.path().join("missing.pem"));
    let err = ElasticsearchSink::connect(cfg)
        .await
        .expect_err("missing CA file");
    assert!(matches!(err, EsError::Config(_)), "{err}");
    std::fs::write(tmp.path().join("junk.pem"), "not a certificate").expect("write");
    let mut cfg = base();
    cfg.ca_file = Some(tmp.path().join("junk.pem"));
    let err = ElasticsearchSink::connect(cfg)
        .await
        .expect_err("junk CA file");
    assert!(matches!(err, EsError::Config(_)), "{err}");
    drop(inst);
}
