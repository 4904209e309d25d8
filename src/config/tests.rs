use super::*;
use std::collections::HashMap;
use std::path::PathBuf;

const FULL: &str = r#"
cloudflare:
  api_url: https://api.cloudflare.com/client/v4
  api_token: ${CLOUDFLARE_API_TOKEN}
audit:
  accounts: [ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaac1" ]
  interval: 1h
  initial_lookback: 720h
logpull:
  zones:
    - 1111111111111111111111111111111f
    - id: 2222222222222222222222222222222f
      email: me@example.com
      api_key: ${ZONE2_KEY}
  interval: 5m
  bot_fields: false
elasticsearch:
  hosts: [ "http://127.0.0.1:9200" ]
  api_key: ${ES_API_KEY}
  namespace: default
file:
  path: ./cfship-out.ndjson
state:
  dir: ./cfship-state
geoip:
  dir: /usr/share/GeoIP
"#;

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let m: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| m.get(k).cloned()
}

fn full_env() -> impl Fn(&str) -> Option<String> {
    env_of(&[
        ("CLOUDFLARE_API_TOKEN", "cf-token-SECRET-1"),
        ("ZONE2_KEY", "zone2-key-SECRET-2"),
        ("ES_API_KEY", "esid:es-key-SECRET-3"),
    ])
}

fn err(text: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
    match crate::app::wiring::parse_config(text, "cfship.yml", env) {
        Ok(c) => panic!("expected an error, got {c:?}"),
        Err(e) => e.0,
    }
}

#[test]
fn full_example_parses_with_overrides_and_defaults() {
    let c = crate::app::wiring::parse_config(FULL, "cfship.yml", &full_env()).unwrap();
    assert_eq!(c.cloudflare.api_url, "https://api.cloudflare.com/client/v4");
    let zones = c.zones();
    assert_eq!(zones.len(), 2);
    assert_eq!(zones[0].id, "1111111111111111111111111111111f");
    assert_eq!(
        zones[0].credentials,
        Credentials::Token(Secret::new("cf-token-SECRET-1"))
    );
    assert_eq!(
        zones[1].credentials,
        Credentials::Key {
            email: "me@example.com".into(),
            key: Secret::new("zone2-key-SECRET-2")
        }
    );
    assert_eq!(c.accounts()[0].id, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaac1");
    // the effective settings, defaults from the components
    let a = crate::app::wiring::audit_config(&c, &c.accounts()[0]);
    assert_eq!(a.interval, Duration::from_secs(3600));
    assert_eq!(a.initial_lookback, Duration::from_secs(720 * 3600));
    assert_eq!(a.per_page, 100);
    let l = crate::app::wiring::logpull_config(&c, &zones[0]);
    assert_eq!(l.interval, Duration::from_secs(300));
    assert_eq!(l.max_window, Duration::from_secs(3600));
    let es = crate::app::wiring::es_config(&c).unwrap();
    assert_eq!(es.hosts, vec!["http://127.0.0.1:9200".to_string()]);
    assert_eq!(es.namespace, "default");
    assert!(
        matches!(es.auth, cfship_elasticsearch::EsAuth::ApiKey(ref k) if k.expose() == "esid:es-key-SECRET-3")
    );
    assert_eq!(
        c.metrics_addr().unwrap().to_string(),
        DEFAULT_METRICS_LISTEN
    );
    assert_eq!(c.state.dir, PathBuf::from("./cfship-state"));
    let mut s = c.secrets();
    s.sort();
    assert_eq!(
        s,
        [
            "cf-token-SECRET-1",
            "esid:es-key-SECRET-3",
            "zone2-key-SECRET-2"
        ]
    );
}

#[test]
fn debug_of_config_never_shows_secrets() {
    let c = crate::app::wiring::parse_config(FULL, "cfship.yml", &full_env()).unwrap();
    let dbg = format!(
        "{c:?} {:?} {:?}",
        c.zones(),
        crate::app::wiring::es_config(&c)
    );
    for s in ["cf-token-SECRET-1", "zone2-key-SECRET-2", "es-key-SECRET-3"] {
        assert!(!dbg.contains(s), "{s} leaked in {dbg}");
    }
    assert!(dbg.contains("[redacted]"));
}

#[test]
fn missing_variable_names_the_line_and_variable() {
    let e = err(
        FULL,
        &env_of(&[("CLOUDFLARE_API_TOKEN", "x"), ("ZONE2_KEY", "y")]),
    );
    assert!(e.contains("cfship.yml line 19"), "{e}");
    assert!(e.contains("ES_API_KEY"), "{e}");
    assert!(e.contains("cfship.yml"), "{e}");
}

#[test]
fn variable_default_and_escape_and_comments() {
    let text = "cloudflare:\n  api_token: ${T:-dflt-token}  # ${NOT_EXPANDED}\n  api_url: \"http://x/$${KEEP}\"\nlogpull:\n  zones: [3333333333333333333333333333333f]\n";
    let c = crate::app::wiring::parse_config(text, "f", &env_of(&[])).unwrap();
    assert_eq!(c.cloudflare.api_token.unwrap().expose(), "dflt-token");
    assert_eq!(c.cloudflare.api_url, "http://x/${KEEP}");
}

#[test]
fn values_with_yaml_syntax_stay_one_string() {
    let text =
        "cloudflare:\n  api_token: ${T}\nlogpull:\n  zones: [3333333333333333333333333333333f]\n";
    let c =
        crate::app::wiring::parse_config(text, "f", &env_of(&[("T", "*weird: #token")])).unwrap();
    assert_eq!(c.cloudflare.api_token.unwrap().expose(), "*weird: #token");
}

#[test]
fn unknown_key_names_line_and_suggests() {
    let text = "cloudflare:\n  api_token: t\nlogpull:\n  zones: [3333333333333333333333333333333f]\n  intervall: 5m\n";
    let e = err(text, &env_of(&[]));
    assert!(e.contains("line 5"), "{e}");
    assert!(e.contains("intervall"), "{e}");
    assert!(e.contains("did you mean `interval`"), "{e}");
    let text =
        "cloudflare:\n  api_tokn: t\nlogpull:\n  zones: [3333333333333333333333333333333f]\n";
    let e = err(text, &env_of(&[]));
    assert!(
        e.contains("line 2") && e.contains("did you mean `api_token`"),
        "{e}"
    );
    let text =
        "cloudflare:\n  api_token: t\nlogpul:\n  zones: [3333333333333333333333333333333f]\n";
    let e = err(text, &env_of(&[]));
    assert!(
        e.contains("line 3") && e.contains("did you mean `logpull`"),
        "{e}"
    );
}

#[test]
fn bad_duration_names_the_line() {
    let text = "cloudflare:\n  api_token: t\naudit:\n  accounts: [4444444444444444444444444444444f]\n  interval: 5 parsecs\n";
    let e = err(text, &env_of(&[]));
    assert!(e.contains("line 5"), "{e}");
    assert!(e.contains("invalid duration"), "{e}");
    let text = "cloudflare:\n  api_token: t\naudit:\n  accounts: [4444444444444444444444444444444f]\n  interval: 0s\n";
    assert!(err(text, &env_of(&[])).contains("greater than zero"));
}

#[test]
fn empty_source_lists_are_errors_naming_the_line() {
    let text = "cloudflare:\n  api_token: t\nlogpull:\n  zones: []\n";
    let e = err(text, &env_of(&[]));
    assert!(e.contains("line 4") && e.contains("logpull.zones"), "{e}");
    let text = "cloudflare:\n  api_token: t\naudit:\n  interval: 1h\n  accounts: []\n";
    let e = err(text, &env_of(&[]));
    assert!(e.contains("line 5") && e.contains("audit.accounts"), "{e}");
    // a file with no source is valid (setup, check); collecting needs a source and an output
    let text = "cloudflare:\n  api_token: t\nelasticsearch:\n  hosts: [\"http://es:9200\"]\n";
    let c = crate::app::wiring::parse_config(text, "cfship.yml", &env_of(&[])).unwrap();
    assert!(c.require_output().is_ok());
    let e = c.require_source().unwrap_err().0;
    assert!(e.contains("no source configured"), "{e}");
    let text =
        "cloudflare:\n  api_token: t\nlogpull:\n  zones: [3333333333333333333333333333333f]\n";
    let c = crate::app::wiring::parse_config(text, "cfship.yml", &env_of(&[])).unwrap();
    assert!(c.require_source().is_ok());
    let e = c.require_output().unwrap_err().0;
    assert!(e.contains("no output configured"), "{e}");
}

#[test]
fn ids_are_32_hex_digits_and_listed_once() {
    let text = "cloudflare:\n  api_token: t\nlogpull:\n  zones:\n    - 3333333333333333333333333333333f\n    - example.com\n";
    let e = err(text, &env_of(&[]));
    assert!(
        e.starts_with(
            "cfship.yml line 6: `logpull.zones` entry \"example.com\" is not a valid zone id"
        ),
        "{e}"
    );
    assert!(e.contains("32 hex digits"), "{e}");
    // one digit short (a copy-paste slip)
    let text =
        "cloudflare:\n  api_token: t\naudit:\n  accounts: [444444444444444444444444444444f]\n";
    let e = err(text, &env_of(&[]));
    assert!(
        e.contains("line 4") && e.contains("is not a valid account id"),
        "{e}"
    );
    let text = "cloudflare:\n  api_token: t\nlogpull:\n  zones:\n    - 3333333333333333333333333333333f\n    - 1111111111111111111111111111111f\n    - id: 3333333333333333333333333333333f\n      api_token: other\n";
    let e = err(text, &env_of(&[]));
    assert_eq!(
        e,
        "cfship.yml: `logpull.zones` lists zone 3333333333333333333333333333333f twice (lines 5 and 7): list each zone once"
    );
}

#[test]
fn credentials_rules() {
    // no credentials at all
    let text = "logpull:\n  zones: [6666666666666666666666666666666f]\n";
    let e = err(text, &env_of(&[]));
    assert!(e.contains("line 2") && e.contains("no credentials"), "{e}");
    // token and key together
    let text =
        "cloudflare:\n  api_token: t\n  email: a@b.c\n  api_key: k\nlogpull:\n  zones: [3333333333333333333333333333333f]\n";
    assert!(err(text, &env_of(&[])).contains("not both"));
    // email without key
    let text =
        "cloudflare:\n  email: a@b.c\nlogpull:\n  zones: [3333333333333333333333333333333f]\n";
    assert!(err(text, &env_of(&[])).contains("needs `api_key`"));
    // per-source only credentials are fine
    let text =
        "logpull:\n  zones:\n    - id: 5555555555555555555555555555555f\n      api_token: own\n";
    let c = crate::app::wiring::parse_config(text, "f", &env_of(&[])).unwrap();
    assert_eq!(
        c.zones()[0].credentials,
        Credentials::Token(Secret::new("own"))
    );
    // unknown key inside a source entry
    let text = "cloudflare:\n  api_token: t\nlogpull:\n  zones:\n    - id: 5555555555555555555555555555555f\n      api_tokn: x\n";
    let e = err(text, &env_of(&[]));
    assert!(
        e.contains("line 6") && e.contains("did you mean `api_token`"),
        "{e}"
    );
}

#[test]
fn errors_never_echo_secrets_from_env() {
    // a secret put where a number is expected would be echoed by the YAML parser
    let text =
        "cloudflare:\n  api_token: t\n  requests_per_5min: ${TOKEN}\nlogpull:\n  zones: [3333333333333333333333333333333f]\n";
    let e = err(text, &env_of(&[("TOKEN", "topsecretvalue")]));
    assert!(!e.contains("topsecretvalue"), "{e}");
    assert!(e.contains("line 3"), "{e}");
}

#[test]
fn elasticsearch_and_metrics_validation() {
    let base =
        "cloudflare:\n  api_token: t\nlogpull:\n  zones: [3333333333333333333333333333333f]\n";
    let e = err(
        &format!("{base}elasticsearch:\n  namespace: default\n"),
        &env_of(&[]),
    );
    assert!(e.contains("hosts") && e.contains("line 5"), "{e}");
    let e = err(
        &format!("{base}elasticsearch:\n  hosts: [http://h:9200]\n  namespace: Bad-NS\n"),
        &env_of(&[]),
    );
    assert!(e.contains("line 7") && e.contains("namespace"), "{e}");
    let e = err(
        &format!("{base}metrics:\n  listen: nowhere\n"),
        &env_of(&[]),
    );
    assert!(e.contains("line 6"), "{e}");
    let c = crate::app::wiring::parse_config(
        &format!("{base}metrics:\n  listen: \"off\"\n"),
        "f",
        &env_of(&[]),
    )
    .unwrap();
    assert!(c.metrics_addr().is_none());
    let c = crate::app::wiring::parse_config(
        &format!("{base}elasticsearch:\n  hosts: [http://h:9200]\n  username: u\n  password: p\n"),
        "f",
        &env_of(&[]),
    )
    .unwrap();
    assert!(matches!(
        crate::app::wiring::es_config(&c).unwrap().auth,
        cfship_elasticsearch::EsAuth::Basic { .. }
    ));
}

#[test]
fn shipped_example_is_valid() {
    let text = include_str!("../../cfship.example.yml");
    let c = crate::app::wiring::parse_config(
        text,
        "cfship.example.yml",
        &env_of(&[("CLOUDFLARE_API_TOKEN", "x"), ("ES_API_KEY", "id:key")]),
    )
    .unwrap();
    assert!(!c.zones().is_empty());
    assert!(!c.accounts().is_empty());
}

#[test]
fn elasticsearch_bearer_client_cert_headers_timeout_and_dead_letter_index() {
    let yaml = "cloudflare:\n  api_token: t\nlogpull:\n  zones: [5555555555555555555555555555555f]\nelasticsearch:\n  hosts: [\"https://es:9200\"]\n  bearer_token: s3cr3t-bearer\n  client_cert: /etc/cfship/client.pem\n  client_key: /etc/cfship/client-key.pem\n  headers: {X-Opaque-Id: cfship}\n  timeout: 90s\n  dead_letter_index: cfship-deadletter-default\n";
    let cfg = crate::app::wiring::parse_config(yaml, "test.yml", &|_: &str| None).unwrap();
    let es = crate::app::wiring::es_config(&cfg).unwrap();
    assert!(matches!(es.auth, cfship_elasticsearch::EsAuth::Bearer(_)));
    assert_eq!(
        es.client_cert.as_deref(),
        Some(std::path::Path::new("/etc/cfship/client.pem"))
    );
    assert_eq!(
        es.client_key.as_deref(),
        Some(std::path::Path::new("/etc/cfship/client-key.pem"))
    );
    assert!(es.headers.contains_key("X-Opaque-Id"));
    assert_eq!(es.timeout, std::time::Duration::from_secs(90));
    assert_eq!(
        es.dead_letter.index.as_deref(),
        Some("cfship-deadletter-default")
    );
    assert!(!format!("{:?}", cfg).contains("s3cr3t-bearer"));
}

#[test]
fn logpull_timestamps_default_choice_and_bad_value() {
    let base =
        "cloudflare:\n  api_token: t\nlogpull:\n  zones: [3333333333333333333333333333333f]\n";
    let c = crate::app::wiring::parse_config(base, "cfship.yml", &env_of(&[])).unwrap();
    let zone = &c.zones()[0];
    assert_eq!(
        crate::app::wiring::logpull_config(&c, zone).timestamps,
        cfship_cloudflare::Timestamps::UnixNano
    );
    let text = format!("{base}  timestamps: rfc3339\n");
    let c = crate::app::wiring::parse_config(&text, "cfship.yml", &env_of(&[])).unwrap();
    let zone = &c.zones()[0];
    assert_eq!(
        crate::app::wiring::logpull_config(&c, zone).timestamps,
        cfship_cloudflare::Timestamps::Rfc3339
    );
    let e = err(&format!("{base}  timestamps: millis\n"), &env_of(&[]));
    assert!(e.contains("line 5") && e.contains("unixnano"), "{e}");
}

/// The collectors' rules are checked at startup with the line of the key (each rule lives once, in
/// the collector's `validate`), and keys are found in their own section.
#[test]
fn collector_rules_name_the_line_of_the_key() {
    let text = "cloudflare:\n  api_token: t\naudit:\n  accounts: [4444444444444444444444444444444f]\n  per_page: 5000\nlogpull:\n  zones: [3333333333333333333333333333333f]\n";
    let e = err(text, &env_of(&[]));
    assert!(
        e.contains("line 5") && e.contains("`audit.per_page` must be 1..=1000, got 5000"),
        "{e}"
    );
    let text = "cloudflare:\n  api_token: t\nlogpull:\n  zones: [3333333333333333333333333333333f]\n  sample: 1.5\n";
    let e = err(text, &env_of(&[]));
    assert!(
        e.contains("line 5") && e.contains("`logpull.sample` must be > 0 and <= 1, got 1.5"),
        "{e}"
    );
    let text = "cloudflare:\n  api_token: t\naudit:\n  accounts: [4444444444444444444444444444444f]\n  interval: 1h\nlogpull:\n  zones: [3333333333333333333333333333333f]\n  interval: 5m\n  max_window: 2h\n";
    let e = err(text, &env_of(&[]));
    assert!(
        e.contains("line 9") && e.contains("`logpull.max_window` must be at most 1h"),
        "{e}"
    );
}

/// The interface of the Logpush issue, word for word (TLS left out: its files do not exist here),
/// is a configuration of its own (only Logpush sources); its secrets are known for redaction.
#[test]
fn logpush_only_config_of_the_documented_interface() {
    let yaml = r#"
logpush:                                   # the HTTPS destination
  listen: "0.0.0.0:9560"                   # Elastic's port
  secret: { header: X-Logpush-Secret, value: ${LOGPUSH_SECRET} }
logpush_bucket:                            # one or more bucket sources
  - url: s3://my-bucket/cloudflare/http_requests/
    dataset: http_request
    endpoint: https://acc.r2.cloudflarestorage.com
    access_key_id: ${R2_KEY_ID}
    secret_access_key: ${R2_SECRET}
elasticsearch:
  hosts: [ "http://127.0.0.1:9200" ]
"#;
    let env = env_of(&[
        ("LOGPUSH_SECRET", "lp-secret-value"),
        ("R2_KEY_ID", "r2-key-id"),
        ("R2_SECRET", "r2-secret-value"),
    ]);
    let c = crate::app::wiring::parse_config(yaml, "lp.yml", &env).unwrap();
    assert!(c.zones().is_empty() && c.accounts().is_empty());
    let rx = crate::app::logpush::receiver_settings(&c).unwrap().unwrap();
    assert_eq!(rx.receiver.listen.port(), 9560);
    assert_eq!(rx.spool_dir, PathBuf::from("./cfship-state/logpush-spool"));
    let b = crate::app::logpush::bucket_configs(&c).unwrap();
    assert_eq!(b.len(), 1);
    assert_eq!(b[0].data_stream.name, "http_request");
    assert_eq!(
        b[0].endpoint.as_deref(),
        Some("https://acc.r2.cloudflarestorage.com")
    );
    let secrets = c.secrets();
    for s in ["lp-secret-value", "r2-key-id", "r2-secret-value"] {
        assert!(secrets.iter().any(|x| x == s), "{s}");
    }
    let t = crate::app::logpush::template_datasets(&c);
    assert!(t.contains(&cfship_elasticsearch::IndexTemplate::Logpush(
        "http_request"
    )));
    assert!(t.contains(&cfship_elasticsearch::IndexTemplate::Logpush(
        "firewall_event"
    )));
    // a bad second bucket is reported at its own line, its key never shown
    let bad = yaml.replace(
        "elasticsearch:",
        "  - url: gs://other/p/\n    dataset: dns\n    access_key_id: ${R2_KEY_ID}\n    secret_access_key: ${R2_SECRET}\nelasticsearch:",
    );
    let e = crate::app::wiring::parse_config(&bad, "lp.yml", &env)
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("lp.yml line 13: `logpush_bucket.access_key_id`"),
        "{e}"
    );
    assert!(!e.contains("r2-key-id"), "{e}");
}

#[test]
fn logpull_fields_take_a_list_or_modern() {
    let with = |f: &str| {
        FULL.replace(
            "  bot_fields: false\n",
            &format!("  bot_fields: false\n  fields: {f}\n"),
        )
    };
    let c = crate::app::wiring::parse_config(&with("modern"), "cfship.yml", &full_env()).unwrap();
    let l = c.logpull.as_ref().unwrap();
    assert_eq!(l.fields, Some(LogpullFields::Modern));
    let z = &c.zones()[0];
    let lc = crate::app::wiring::logpull_config(&c, z);
    assert!(lc.modern && lc.fields.is_none());
    assert!(lc.fields_param().contains("SecurityAction"));
    let c = crate::app::wiring::parse_config(
        &with("[RayID, EdgeStartTimestamp]"),
        "cfship.yml",
        &full_env(),
    )
    .unwrap();
    let lc = crate::app::wiring::logpull_config(&c, &c.zones()[0]);
    assert!(!lc.modern);
    assert_eq!(lc.fields_param(), "RayID,EdgeStartTimestamp");
    let e = err(&with("modrn"), &full_env());
    assert!(
        e.contains("unknown field list \"modrn\": give a list of field names, or `modern`"),
        "{e}"
    );
    assert!(e.starts_with("cfship.yml line 17: logpull.fields: "), "{e}");
}

#[test]
fn logpull_field_names_are_checked_at_load_with_the_line() {
    let text = "cloudflare:\n  api_token: t\nlogpull:\n  zones: [3333333333333333333333333333333f]\n  fields: [RayID, client_ip, EdgeStartTimestamp]\n";
    let e = err(text, &env_of(&[]));
    assert!(
        e.starts_with(
            "cfship.yml line 5: `logpull.fields` entry \"client_ip\" is not a Logpull field name"
        ),
        "{e}"
    );
    let text = "cloudflare:\n  api_token: t\nlogpull:\n  zones: [3333333333333333333333333333333f]\n  fields: [RayID, ClientIP, EdgeStartTimestamp]\n";
    assert!(crate::app::wiring::parse_config(text, "cfship.yml", &env_of(&[])).is_ok());
}

#[test]
fn state_backend_elasticsearch_needs_the_output_and_index_needs_the_backend() {
    let c = crate::app::wiring::parse_config(FULL, "cfship.yml", &full_env()).unwrap();
    assert_eq!(c.state.backend, StateBackend::File);
    let es = FULL.replace(
        "state:\n  dir: ./cfship-state\n",
        "state:\n  dir: ./cfship-state\n  backend: elasticsearch\n  index: my-cfship-state\n",
    );
    let c = crate::app::wiring::parse_config(&es, "cfship.yml", &full_env()).unwrap();
    assert_eq!(c.state.backend, StateBackend::Elasticsearch);
    assert_eq!(c.state.index_name(), "my-cfship-state");
    let default_index = FULL.replace(
        "state:\n  dir: ./cfship-state\n",
        "state:\n  backend: elasticsearch\n",
    );
    let c = crate::app::wiring::parse_config(&default_index, "cfship.yml", &full_env()).unwrap();
    assert_eq!(c.state.index_name(), "cfship-state");
    let no_output = "cloudflare:\n  api_token: t\nlogpull:\n  zones: [1111111111111111111111111111111f]\nfile:\n  path: ./x.ndjson\nstate:\n  backend: elasticsearch\n";
    let e = err(no_output, &env_of(&[("CLOUDFLARE_API_TOKEN", "t")]));
    assert!(
        e.contains("line 8") && e.contains("add an `elasticsearch:` section"),
        "{e}"
    );
    let index_without = FULL.replace(
        "state:\n  dir: ./cfship-state\n",
        "state:\n  dir: ./cfship-state\n  index: x\n",
    );
    let e = err(&index_without, &full_env());
    assert!(e.contains("`state.index`"), "{e}");
    let bad = FULL.replace(
        "state:\n  dir: ./cfship-state\n",
        "state:\n  backend: redis\n",
    );
    let e = err(&bad, &full_env());
    assert!(e.contains("redis"), "{e}");
}

/// The configuration in deploy/kubernetes.yaml's ConfigMap is a valid cfship configuration.
#[test]
fn kubernetes_example_config_parses() {
    let manifest = include_str!("../../deploy/kubernetes.yaml");
    let start = manifest
        .find("  cfship.yml: |\n")
        .expect("ConfigMap key cfship.yml")
        + "  cfship.yml: |\n".len();
    let block: String = manifest[start..]
        .lines()
        .take_while(|l| l.starts_with("    ") || l.is_empty())
        .map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l)))
        .collect();
    let env = env_of(&[("CLOUDFLARE_API_TOKEN", "t"), ("ES_API_KEY", "id:key")]);
    let c = crate::app::wiring::parse_config(&block, "kubernetes.yaml", &env)
        .unwrap_or_else(|e| panic!("{}\n{block}", e.0));
    assert_eq!(c.state.backend, StateBackend::Elasticsearch);
    assert_eq!(c.state.index_name(), "cfship-state");
    assert_eq!(c.state.lease_ttl, Some(Duration::from_secs(30)));
    assert_eq!(c.zones().len(), 1);
    assert_eq!(c.accounts().len(), 1);
}

#[test]
fn elasticsearch_compression_level_defaults_to_none_on_loopback() {
    let level = |es: &str| {
        let yaml = format!(
            "cloudflare:\n  api_token: t\nlogpull:\n  zones: [5555555555555555555555555555555f]\nelasticsearch:\n{es}"
        );
        // parse_config checks every component's settings (`check_components`)
        crate::app::wiring::parse_config(&yaml, "test.yml", &|_: &str| None)
            .map(|cfg| {
                crate::app::wiring::es_config(&cfg)
                    .unwrap()
                    .compression_level
            })
            .map_err(|e| e.to_string())
    };
    assert_eq!(level("  hosts: [\"https://es.example.net:9200\"]\n"), Ok(1));
    assert_eq!(
        level("  hosts: [\"http://127.0.0.1:9200\", \"http://localhost:9201\"]\n"),
        Ok(0)
    );
    assert_eq!(
        level("  hosts: [\"http://127.0.0.1:9200\"]\n  compression_level: 1\n"),
        Ok(1)
    );
    assert_eq!(
        level("  hosts: [\"https://es.example.net\"]\n  compression_level: 0\n"),
        Ok(0)
    );
    let e = level("  hosts: [\"https://es.example.net\"]\n  compression_level: 12\n").unwrap_err();
    assert!(
        e.contains("elasticsearch.compression_level") && e.contains("line 7"),
        "{e}"
    );
}
