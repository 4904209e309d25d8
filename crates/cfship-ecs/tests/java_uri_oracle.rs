//! cfship's `uri_parts` (java.net.URI / java.net.URL port) against the real JDK classes, on
//! thousands of generated request URIs with the hostile corners (brackets, `%` sequences valid and
//! invalid, IPv6 hosts, unicode, empty parts, ports, fragments, `//` starts, spaces).
//! One JVM for all inputs. Seed: `CFSHIP_ORACLE_SEED` (printed).

mod oracle;

use cfship_ecs::uri::{decode, java_uri, uri_parts};
use oracle::{Diffs, Rng};
use serde_json::{json, Map, Value};

const N: usize = 6000;

const SCHEMES: &[&str] = &[
    "",
    "",
    "",
    "",
    "",
    "http://",
    "https://",
    "//",
    "HTTP://",
    "ftp://",
    "file:",
    "file:///",
    "mailto:",
    "x-y+z.1:",
    "1abc:",
    ":",
    "urn:isbn:",
    "jar:",
    "h ttp://",
    "jrt:/",
    "http:",
    "http:/",
];
const USERINFO: &[&str] = &[
    "", "", "", "", "user@", "u:p@", "u%20x:p@", "a@b@", "[x]@", "u:@", ":p@", "é:ü@", "%zz@",
];
const HOSTS: &[&str] = &[
    "example.com",
    "a-b.c",
    "-bad.com",
    "bad-.com",
    "1.2.3.4",
    "256.1.1.1",
    "01.02.03.004",
    "[::1]",
    "[2001:db8::1]",
    "[fe80::1%eth0]",
    "[fe80::1%]",
    "[::ffff:1.2.3.4]",
    "[1:2:3:4:5:6:7:8]",
    "[1:2:3:4:5:6:7:8:9]",
    "[::1",
    "[12345::]",
    "[::g]",
    "exa mple",
    "under_score",
    "xn--bcher-kva.example",
    "例え.jp",
    "a.b.",
    "",
    "1.2.3",
    "host.123",
    "h.1a",
    "localhost",
    "a..b",
    "%41.com",
    "x.com.",
    "[]",
];
const PORTS: &[&str] = &[
    "",
    "",
    "",
    ":",
    ":80",
    ":8443",
    ":65536",
    ":99999999999",
    ":8a",
    ":-1",
    ":0080",
];
const PIECES: &[&str] = &[
    "a",
    "b",
    "index.php",
    "x.tar.gz",
    ".htaccess",
    "a.b.c",
    "v1.2",
    "%20",
    "%zz",
    "%4",
    "%",
    "%C3%A9",
    "%E9",
    "%FF%FE",
    "%e2%82%ac",
    "%F0%9F%98%80",
    "%00",
    "%2F",
    "[",
    "]",
    "[0]",
    " ",
    "é",
    "файл",
    "😀",
    "\u{a0}",
    "\u{80}",
    "\u{81}",
    "\u{7f}",
    "\u{1}",
    "\t",
    "\u{2028}",
    "\u{3000}",
    "\u{fffd}",
    ".",
    "..",
    ";p=1",
    ":",
    "@",
    "&",
    "=",
    "+",
    "$",
    ",",
    "!",
    "~",
    "*",
    "'",
    "(",
    ")",
    "|",
    "{",
    "}",
    "^",
    "`",
    "\\",
    "\"",
    "<",
    ">",
    "//",
    "-",
    "_",
];
const QUERY: &[&str] = &[
    "a=1",
    "filter[name]=x",
    "filter[age]=%3E20",
    "a[]=1&a[]=2",
    "a[%41]=1",
    "q=%zz",
    "x=é",
    "p=a b",
    "=",
    "&&",
    "?",
    "u=http://x/y?z",
    "%",
    "%2",
    "%C3",
    "b=[",
    "c=]",
    "q=%5B%5D",
    "",
    "q=😀",
    "x=%E9",
    "q=|",
    "s={}",
    "d=\"",
    "k=%20%20",
];

fn pick_many(r: &mut Rng, from: &[&str], max: usize) -> String {
    let n = r.below(max + 1);
    (0..n).map(|_| r.pick(from)).collect()
}

fn gen(r: &mut Rng) -> String {
    let mut s = String::new();
    let logpull_style = r.chance(55);
    if !logpull_style {
        let scheme = r.pick(SCHEMES);
        s.push_str(scheme);
        if scheme.ends_with("//") {
            s.push_str(r.pick(USERINFO));
            s.push_str(r.pick(HOSTS));
            s.push_str(r.pick(PORTS));
        }
    }
    // Path: mostly `/seg/seg`.
    let segs = r.below(4);
    for _ in 0..segs {
        if !r.chance(10) {
            s.push('/');
        }
        s.push_str(&pick_many(r, PIECES, 3));
    }
    if r.chance(45) {
        s.push('?');
        let n = 1 + r.below(3);
        for i in 0..n {
            if i > 0 {
                s.push('&');
            }
            s.push_str(r.pick(QUERY));
        }
        if r.chance(20) {
            s.push_str(&pick_many(r, PIECES, 2));
        }
    }
    if r.chance(15) {
        s.push('#');
        s.push_str(&pick_many(r, PIECES, 2));
        if r.chance(30) {
            s.push_str(r.pick(QUERY));
        }
        if r.chance(5) {
            s.push('#');
        }
    }
    s
}

fn opt(v: Option<&str>) -> Value {
    v.map_or(Value::Null, |x| Value::String(x.to_string()))
}

fn rust_answer(s: &str) -> Value {
    let mut out = Map::new();
    match java_uri(s) {
        Ok(u) => {
            out.insert(
                "uri".into(),
                json!({
                    "scheme": opt(u.scheme),
                    "raw_ssp": opt(u.opaque),
                    "raw_authority": opt(u.authority),
                    "raw_user_info": opt(u.user_info),
                    "user_info": opt(u.user_info.map(|x| decode(x, true)).as_deref()),
                    "host": opt(u.host),
                    "port": u.port,
                    "raw_path": opt(u.path),
                    "path": opt(u.path.map(|x| decode(x, true)).as_deref()),
                    "raw_query": opt(u.query),
                    "query": opt(u.query.map(|x| decode(x, false)).as_deref()),
                    "raw_fragment": opt(u.fragment),
                    "fragment": opt(u.fragment.map(|x| decode(x, false)).as_deref()),
                }),
            );
        }
        Err(e) => {
            out.insert(
                "uri_error".into(),
                json!({"reason": e.reason, "index": e.index}),
            );
        }
    }
    match uri_parts(s) {
        Ok(p) => {
            let mut m = Map::new();
            m.insert("domain".into(), opt(p.domain.as_deref()));
            if let Some(v) = &p.fragment {
                m.insert("fragment".into(), json!(v));
            }
            if let Some(v) = &p.path {
                m.insert("path".into(), json!(v));
            }
            if let Some(v) = &p.extension {
                m.insert("extension".into(), json!(v));
            }
            if let Some(v) = p.port {
                m.insert("port".into(), json!(v));
            }
            if let Some(v) = &p.query {
                m.insert("query".into(), json!(v));
            }
            m.insert("scheme".into(), opt(p.scheme.as_deref()));
            if let Some(v) = &p.user_info {
                m.insert("user_info".into(), json!(v));
            }
            if let Some(v) = &p.username {
                m.insert("username".into(), json!(v));
            }
            if let Some(v) = &p.password {
                m.insert("password".into(), json!(v));
            }
            out.insert("parts".into(), Value::Object(m));
        }
        Err(e) => {
            out.insert("error".into(), json!(e.to_string()));
        }
    }
    Value::Object(out)
}

/// What we compare from Java's answer: everything but the `url` getters (they only matter
/// through `parts`, when java.net.URI rejects the text) and, on JDKs that no longer report it,
/// the error index.
fn comparable(mut java: Value, rust: &Value) -> Value {
    if let Some(m) = java.as_object_mut() {
        m.remove("url");
        m.remove("url_error");
        if let (Some(Value::Object(e)), Some(Value::Object(re))) =
            (m.get_mut("uri_error"), rust.get("uri_error"))
        {
            if e.get("index") == Some(&json!(-1)) {
                e.insert(
                    "index".into(),
                    re.get("index").cloned().unwrap_or(Value::Null),
                );
            }
        }
    }
    java
}

#[test]
fn uri_parts_matches_java_net_uri() {
    let Some(jdk) = oracle::jdk() else {
        oracle::skip_or_fail("no JDK found (java/javac on PATH or CFSHIP_ORACLE_JAVA_HOME)");
        return;
    };
    let mut rng = Rng::from_env("uri_parts_matches_java_net_uri");
    let mut inputs: Vec<String> = [
        "/search?filter[name]=x&filter[age]=%3E20",
        "//cdn.example.com/a/b.js",
        "//",
        "///x",
        "",
        "?",
        "#",
        "/a b",
        "http://[::1]:8080/x?q#f",
        "http://a:99999/",
        "http://a:/x",
        "mailto:a@b",
        "http://exa mple.com/a b?c=d e#f g",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    while inputs.len() < N {
        inputs.push(gen(&mut rng));
    }
    let classes = oracle::compile(&jdk, "uri", &["OracleJson.java", "UriOracle.java"], None);
    let lines: Vec<Value> = inputs.iter().map(|s| json!([s])).collect();
    let answers = oracle::run(&jdk, &classes, None, "UriOracle", &lines);
    eprintln!("java {} ({})", jdk.feature, jdk.java.display());
    let mut diffs = Diffs::new("java.net.URI / uri_parts");
    let mut accepted = 0;
    for (s, java) in inputs.iter().zip(answers) {
        let rust = rust_answer(s);
        if java.get("uri").is_some() {
            accepted += 1;
        }
        diffs.check(s, &comparable(java, &rust), &rust);
    }
    eprintln!(
        "{accepted} of {} inputs are legal java.net.URIs",
        inputs.len()
    );
    assert!(
        accepted > N / 5 && accepted < N * 4 / 5,
        "the generator must hit both sides"
    );
    diffs.finish();
}
