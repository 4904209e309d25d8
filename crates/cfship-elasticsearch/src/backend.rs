//! Which search engine is on the other side, and which mapping types it really supports.
//!
//! Detection has two steps: [`detect_backend`] reads `GET /` (absent on Elasticsearch's minimal
//! integ-test distribution, which answers 405) and `GET /_nodes/_local/plugins` (module list) and infers
//! the supported types; the sink then *probes* each doubtful type with `POST /_index_template/_simulate`
//! (which validates mappings without creating anything) and keeps the probe's answer when it has one.

use std::fmt;

use serde_json::Value;

use crate::EsError;

/// Search engine family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Distribution {
    Elasticsearch,
    OpenSearch,
}

impl fmt::Display for Distribution {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Distribution::Elasticsearch => "elasticsearch",
            Distribution::OpenSearch => "opensearch",
        })
    }
}

/// `major.minor.patch` of the server.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
}

impl Version {
    /// Parse `8.19.21`, `9.0.0-SNAPSHOT`, `3.6.0`.
    pub fn parse(s: &str) -> Option<Version> {
        let core = s.split(['-', '+']).next()?;
        let mut it = core.split('.');
        let major = it.next()?.parse().ok()?;
        let minor = it.next().unwrap_or("0").parse().ok()?;
        let patch = it.next().unwrap_or("0").parse().ok()?;
        Some(Version {
            major,
            minor,
            patch,
        })
    }
    fn at_least(&self, major: u32, minor: u32) -> bool {
        (self.major, self.minor) >= (major, minor)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// Mapping types whose availability differs between targets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TypeSupport {
    pub flattened: bool,
    pub flat_object: bool,
    /// `constant_keyword` usable *without* a fixed `value` (Elasticsearch; OpenSearch requires one).
    pub constant_keyword: bool,
    pub wildcard: bool,
    pub match_only_text: bool,
    /// `scaled_float` (Elasticsearch's `mapper-extras` module, absent from the minimal zip).
    pub scaled_float: bool,
}

impl TypeSupport {
    /// Whether `ty` is supported (types outside the doubtful set always are).
    pub fn supports(&self, ty: &str) -> bool {
        match ty {
            "flattened" => self.flattened,
            "flat_object" => self.flat_object,
            "constant_keyword" => self.constant_keyword,
            "wildcard" => self.wildcard,
            "match_only_text" => self.match_only_text,
            "scaled_float" => self.scaled_float,
            _ => true,
        }
    }
    pub(crate) fn set(&mut self, ty: &str, v: bool) {
        match ty {
            "flattened" => self.flattened = v,
            "flat_object" => self.flat_object = v,
            "constant_keyword" => self.constant_keyword = v,
            "wildcard" => self.wildcard = v,
            "match_only_text" => self.match_only_text = v,
            "scaled_float" => self.scaled_float = v,
            _ => {}
        }
    }
}

/// Types that are probed with `_simulate` at connect time.
pub const PROBED_TYPES: [&str; 6] = [
    "flattened",
    "flat_object",
    "constant_keyword",
    "wildcard",
    "match_only_text",
    "scaled_float",
];

/// What the sink talks to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backend {
    pub distribution: Distribution,
    pub version: Version,
    /// `build_flavor` of Elasticsearch (`default`), if reported.
    pub build_flavor: Option<String>,
    /// Installed modules and plugins, when `_nodes` could be read.
    pub modules: Option<Vec<String>>,
    pub types: TypeSupport,
    /// How `types` was determined: `inferred` (version/modules) or `probed` (`_simulate`).
    pub types_source: &'static str,
}

impl Backend {
    /// The type to put in a mapping for the intended type `ty` on this backend. Returns the mapping
    /// object fragment (may carry extra parameters, e.g. `enabled: false`).
    pub fn translate(&self, ty: &str) -> Value {
        let t = |s: &str| serde_json::json!({ "type": s });
        if self.types.supports(ty) {
            return t(ty);
        }
        match ty {
            "flattened" if self.types.flat_object => t("flat_object"),
            "flat_object" if self.types.flattened => t("flattened"),
            // Neither: keep the JSON in _source, do not index it.
            "flattened" | "flat_object" => serde_json::json!({"type": "object", "enabled": false}),
            "constant_keyword" | "wildcard" => t("keyword"),
            "match_only_text" => t("text"),
            // The scaling factor only rounds what is indexed: a float holds the same values.
            "scaled_float" => t("float"),
            other => t(other),
        }
    }

    /// `elasticsearch 8.19.21`.
    pub fn describe(&self) -> String {
        format!("{} {}", self.distribution, self.version)
    }
}

/// Infer the backend from the body of `GET /` (None when it failed, as on Elasticsearch's integ-test
/// distribution) and of `GET /_nodes/_local/plugins` (None when not permitted).
pub fn detect_backend(root: Option<&Value>, nodes: Option<&Value>) -> Result<Backend, EsError> {
    let node = nodes
        .and_then(|n| n.get("nodes"))
        .and_then(Value::as_object)
        .and_then(|m| m.values().next());
    let root_version = root.and_then(|r| r.get("version"));
    let number = root_version
        .and_then(|v| v.get("number"))
        .and_then(Value::as_str)
        .or_else(|| node.and_then(|n| n.get("version")).and_then(Value::as_str));
    let number = number.ok_or_else(|| EsError::Protocol {
        url: "/".into(),
        message: "no version in GET / nor in _nodes".into(),
    })?;
    let version = Version::parse(number).ok_or_else(|| EsError::Protocol {
        url: "/".into(),
        message: format!("unparsable version {number:?}"),
    })?;
    let is_opensearch = root_version
        .and_then(|v| v.get("distribution"))
        .and_then(Value::as_str)
        .is_some_and(|d| d.eq_ignore_ascii_case("opensearch"))
        || root
            .and_then(|r| r.get("tagline"))
            .and_then(Value::as_str)
            .is_some_and(|t| t.contains("OpenSearch"));
    let distribution = if is_opensearch {
        Distribution::OpenSearch
    } else {
        Distribution::Elasticsearch
    };
    let build_flavor = root_version
        .and_then(|v| v.get("build_flavor"))
        .or_else(|| node.and_then(|n| n.get("build_flavor")))
        .and_then(Value::as_str)
        .map(str::to_string);
    let modules: Option<Vec<String>> = node.map(|n| {
        ["modules", "plugins"]
            .iter()
            .filter_map(|k| n.get(*k).and_then(Value::as_array))
            .flatten()
            .filter_map(|m| m.get("name").and_then(Value::as_str).map(str::to_string))
            .collect()
    });
    let has = |m: &str| modules.as_ref().map(|ms| ms.iter().any(|x| x == m));
    let types = match distribution {
        Distribution::Elasticsearch => TypeSupport {
            // flattened is in the server / x-pack-core since 7.3, present even in the minimal zip.
            flattened: version.at_least(7, 3),
            flat_object: false,
            // X-Pack modules of the full distribution; the minimal integ-test zip lacks them.
            constant_keyword: has("constant-keyword").unwrap_or(version.at_least(7, 7)),
            wildcard: has("wildcard").unwrap_or(version.at_least(7, 9)),
            match_only_text: has("mapper-extras").unwrap_or(version.at_least(7, 14)),
            scaled_float: has("mapper-extras").unwrap_or(true),
        },
        Distribution::OpenSearch => TypeSupport {
            flattened: false,
            flat_object: version.at_least(2, 7),
            // OpenSearch's constant_keyword needs a fixed value: unusable for namespace fields.
            constant_keyword: false,
            wildcard: version.at_least(2, 15),
            match_only_text: version.at_least(2, 12),
            scaled_float: true,
        },
    };
    Ok(Backend {
        distribution,
        version,
        build_flavor,
        modules,
        types,
        types_source: "inferred",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    fn root_ok(name: &str) -> Option<Value> {
        let v = fixture(name);
        v.get("version").is_some().then_some(v)
    }

    #[test]
    fn es8_minimal_without_root_uses_nodes_and_translates() {
        let root = root_ok("es-8.19.21-integ-root.json");
        assert!(root.is_none(), "the integ-test zip has no GET / handler");
        let nodes = fixture("es-8.19.21-integ-nodes.json");
        let b = detect_backend(root.as_ref(), Some(&nodes)).unwrap();
        assert_eq!(b.distribution, Distribution::Elasticsearch);
        assert_eq!(
            b.version,
            Version {
                major: 8,
                minor: 19,
                patch: 21
            }
        );
        assert!(b.types.flattened);
        assert!(!b.types.constant_keyword && !b.types.wildcard && !b.types.match_only_text);
        assert!(!b.types.scaled_float, "no mapper-extras module");
        assert_eq!(
            b.translate("scaled_float"),
            serde_json::json!({"type": "float"})
        );
        assert_eq!(b.translate("constant_keyword")["type"], "keyword");
        assert_eq!(b.translate("wildcard")["type"], "keyword");
        assert_eq!(b.translate("match_only_text")["type"], "text");
        assert_eq!(b.translate("flattened")["type"], "flattened");
        assert_eq!(b.translate("geo_point")["type"], "geo_point");
    }

    #[test]
    fn es9_minimal() {
        let nodes = fixture("es-9.5.3-integ-nodes.json");
        let b = detect_backend(None, Some(&nodes)).unwrap();
        assert_eq!(b.distribution, Distribution::Elasticsearch);
        assert_eq!(b.version.major, 9);
        assert_eq!(b.build_flavor.as_deref(), Some("default"));
        assert!(!b.types.wildcard);
        assert!(b
            .modules
            .as_ref()
            .unwrap()
            .iter()
            .any(|m| m == "x-pack-core"));
    }

    #[test]
    fn production_es_with_xpack_keeps_every_type() {
        // GET / of a full (X-Pack) distribution; _nodes not readable (no monitor privilege).
        let root = fixture("es-8.15.0-production-root.json");
        let b = detect_backend(Some(&root), None).unwrap();
        assert_eq!(b.distribution, Distribution::Elasticsearch);
        assert_eq!(b.version.to_string(), "8.15.0");
        assert!(b.types.constant_keyword && b.types.wildcard && b.types.match_only_text);
        assert!(b.types.flattened && !b.types.flat_object && b.types.scaled_float);
        for t in [
            "constant_keyword",
            "wildcard",
            "match_only_text",
            "scaled_float",
            "flattened",
        ] {
            assert_eq!(b.translate(t)["type"], t);
        }
        // and with a module list of a full distribution
        let nodes = fixture("es-9.1.0-production-nodes.json");
        let root9 = fixture("es-9.1.0-production-root.json");
        let b = detect_backend(Some(&root9), Some(&nodes)).unwrap();
        assert_eq!(b.version.major, 9);
        assert!(b.types.constant_keyword && b.types.wildcard && b.types.match_only_text);
    }

    #[test]
    fn opensearch_2_and_3_use_flat_object() {
        for (root, nodes, major) in [
            (
                "opensearch-2.19.6-root.json",
                "opensearch-2.19.6-nodes.json",
                2,
            ),
            (
                "opensearch-3.6.0-root.json",
                "opensearch-3.6.0-nodes.json",
                3,
            ),
        ] {
            let b = detect_backend(Some(&fixture(root)), Some(&fixture(nodes))).unwrap();
            assert_eq!(b.distribution, Distribution::OpenSearch, "{root}");
            assert_eq!(b.version.major, major);
            assert!(!b.types.flattened && b.types.flat_object && b.types.scaled_float);
            assert_eq!(b.translate("flattened")["type"], "flat_object");
            assert_eq!(b.translate("constant_keyword")["type"], "keyword");
            assert_eq!(b.translate("wildcard")["type"], "wildcard");
        }
    }

    #[test]
    fn old_opensearch_without_flat_object_disables_indexing() {
        let root =
            serde_json::json!({"version": {"distribution": "opensearch", "number": "2.5.0"}});
        let b = detect_backend(Some(&root), None).unwrap();
        assert!(!b.types.flat_object);
        assert_eq!(
            b.translate("flattened"),
            serde_json::json!({"type": "object", "enabled": false})
        );
        assert_eq!(b.translate("wildcard")["type"], "keyword");
    }

    #[test]
    fn no_version_is_an_error_not_a_panic() {
        assert!(detect_backend(None, None).is_err());
        let bad = serde_json::json!({"version": {"number": "banana"}});
        assert!(detect_backend(Some(&bad), None).is_err());
        let weird = serde_json::json!({"nodes": {"x": {"modules": "nope"}}});
        assert!(detect_backend(None, Some(&weird)).is_err());
    }

    #[test]
    fn version_parsing() {
        assert_eq!(Version::parse("9.0.0-SNAPSHOT").unwrap().major, 9);
        assert_eq!(
            Version::parse("8").unwrap(),
            Version {
                major: 8,
                minor: 0,
                patch: 0
            }
        );
        assert!(Version::parse("x.y").is_none());
    }
}
