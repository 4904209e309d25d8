//! Elasticsearch `user_agent` ingest processor semantics in Rust.
//!
//! [`UserAgentParser`] reproduces what the `user_agent` processor of Elasticsearch's
//! `ingest-user-agent` module (8.x, default properties, `extract_device_type: false`) writes for a
//! user-agent string, using the uap-core regexes file that Elasticsearch ships (embedded here, see
//! `regexes/README.md`). The Elasticsearch rules reproduced, which differ from the uap-core
//! specification that other ports follow:
//!
//! * each list (user agent, OS, device) is scanned in file order and the first pattern that
//!   *finds* a match **and yields a name** wins; a match without a name falls through;
//! * a name replacement only substitutes the **first `$1`**, and only when group 1 took part in
//!   the match; otherwise the replacement is used verbatim (so `"$1"` can be emitted literally);
//! * version replacements (`v1_replacement`, `os_v1_replacement`, …) are used **verbatim**, never
//!   substituted (hence Elastic's golden `os.version: "$1"`); without a replacement the version
//!   parts are groups 2..5 of the match (an empty group yields an empty part);
//! * `version` is `major[.minor[.patch[.build]]]`, absent without a major; `os.version` is built
//!   the same way and `os.full` is `os.name + " " + os.version`;
//! * `name` and `device.name` default to `"Other"`; `os` is absent when no OS pattern matched.
//!
//! Patterns are written for `java.util.regex`; they are translated to the Rust `regex` dialect
//! with Java's semantics (ASCII `\d`/`\w`/`\s`/`\b`, Java's `.`), see `java.rs`. Matching uses a
//! literal prefilter ([`regex_filtered`], a port of RE2's FilteredRE2) so only the few patterns
//! whose required literals occur in the input are run.
//!
//! [`CachedParser`] puts a bounded, thread-safe cache in front of the parser.
#![deny(unreachable_pub)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod java;

use aho_corasick::AhoCorasick;
use std::fmt;
use std::sync::{Arc, OnceLock};

use yaml_rust2::{Yaml, YamlLoader};

/// The regexes file embedded in the crate: Elasticsearch's `regexes.yml` layout (Apache-2.0
/// header + uap-core `regexes.yaml`). See `regexes/README.md` for provenance.
pub const REGEXES_YAML: &str = include_str!("../regexes/regexes.yml");

/// Version of uap-core whose `regexes.yaml` is embedded as [`REGEXES_YAML`].
pub const UAP_CORE_VERSION: &str = "0.10.0";

/// Errors building a parser from a regexes file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The regexes file is not valid YAML.
    #[error("regexes file is not valid YAML: {0}")]
    Yaml(String),
    /// The YAML is not shaped like a uap-core regexes file.
    #[error("malformed regexes file: {0}")]
    Malformed(String),
    /// A pattern uses a Java construct that cannot be translated faithfully.
    #[error("{section}[{index}]: unsupported Java regex construct: {reason}")]
    Unsupported {
        /// `user_agent_parsers`, `os_parsers` or `device_parsers`.
        section: &'static str,
        /// Position of the entry in its list (0-based).
        index: usize,
        /// What is not supported.
        reason: String,
    },
    /// A translated pattern was rejected by the regex engine.
    #[error("{section}[{index}]: pattern does not compile: {message}")]
    Regex {
        /// `user_agent_parsers`, `os_parsers` or `device_parsers`.
        section: &'static str,
        /// Position of the entry in its list (0-based).
        index: usize,
        /// The engine's message.
        message: String,
    },
    /// The process-wide parser of [`UserAgentParser::shared`] failed to build (earlier).
    #[error("embedded user-agent regexes failed to build: {0}")]
    Shared(String),
    /// The literal prefilter over a section could not be built.
    #[error("{section}: building the prefilter failed: {message}")]
    Prefilter {
        /// `user_agent_parsers`, `os_parsers` or `device_parsers`.
        section: &'static str,
        /// The builder's message.
        message: String,
    },
}

/// What Elasticsearch's `user_agent` processor emits (besides `original`, set by the caller).
///
/// `None` means Elasticsearch would not emit that field. `name` and `device_name` are always
/// `Some` for a parsed string (`"Other"` when nothing matched), like Elasticsearch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserAgent {
    /// `user_agent.name` (`"Other"` when no user-agent pattern matched).
    pub name: Option<String>,
    /// `user_agent.version` (`major.minor.patch.build`, as far as they exist).
    pub version: Option<String>,
    /// `user_agent.os.name`.
    pub os_name: Option<String>,
    /// `user_agent.os.version`.
    pub os_version: Option<String>,
    /// `user_agent.os.full` (`os.name + " " + os.version`).
    pub os_full: Option<String>,
    /// `user_agent.device.name` (`"Other"` when no device pattern matched).
    pub device_name: Option<String>,
}

/// A name and up to four version parts, as one matched pattern produced them
/// (Elasticsearch's `UserAgentParser.VersionedName`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionedName {
    /// The family / OS / device name.
    pub name: String,
    /// First version part.
    pub major: Option<String>,
    /// Second version part.
    pub minor: Option<String>,
    /// Third version part.
    pub patch: Option<String>,
    /// Fourth version part.
    pub build: Option<String>,
}

impl VersionedName {
    /// `major[.minor[.patch[.build]]]`, or `None` without a major (Elasticsearch's joining).
    pub fn joined_version(&self) -> Option<String> {
        let major = self.major.as_ref()?;
        let mut v = major.clone();
        if let Some(minor) = &self.minor {
            v.push('.');
            v.push_str(minor);
            if let Some(patch) = &self.patch {
                v.push('.');
                v.push_str(patch);
                if let Some(build) = &self.build {
                    v.push('.');
                    v.push_str(build);
                }
            }
        }
        Some(v)
    }
}

/// The raw result of the three pattern lists (Elasticsearch's `UserAgentParser.Details`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Details {
    /// First matching `user_agent_parsers` entry.
    pub user_agent: Option<VersionedName>,
    /// First matching `os_parsers` entry.
    pub os: Option<VersionedName>,
    /// First matching `device_parsers` entry.
    pub device: Option<VersionedName>,
}

impl From<Details> for UserAgent {
    /// Builds the processor's output fields the way `UserAgentProcessor.execute` does.
    fn from(d: Details) -> Self {
        let (name, version) = match d.user_agent {
            Some(ua) => {
                let version = ua.joined_version();
                (ua.name, version)
            }
            None => ("Other".to_owned(), None),
        };
        let (os_name, os_version, os_full) = match d.os {
            Some(os) => match os.joined_version() {
                Some(v) => {
                    let full = format!("{} {}", os.name, v);
                    (Some(os.name), Some(v), Some(full))
                }
                None => (Some(os.name), None, None),
            },
            None => (None, None, None),
        };
        let device_name = d.device.map_or_else(|| "Other".to_owned(), |dev| dev.name);
        UserAgent {
            name: Some(name),
            version,
            os_name,
            os_version,
            os_full,
            device_name: Some(device_name),
        }
    }
}

/// One entry of a pattern list: the replacements (the regex lives in the section's set).
#[derive(Debug, Default)]
struct Rule {
    name: Option<String>,
    versions: [Option<String>; 4],
}

impl Rule {
    /// `UserAgentSubpattern.match` after a successful `find()`.
    fn apply(&self, caps: &regex::Captures<'_>, group_count: usize) -> Option<VersionedName> {
        let group = |n: usize| caps.get(n).map(|m| m.as_str());
        let name = match &self.name {
            Some(repl) => match group(1) {
                Some(g1) if repl.contains("$1") && group_count >= 1 => {
                    Some(repl.replacen("$1", g1, 1))
                }
                _ => Some(repl.clone()),
            },
            None if group_count >= 1 => group(1).map(str::to_owned),
            None => None,
        }?;
        let mut parts: [Option<String>; 4] = Default::default();
        for (i, part) in parts.iter_mut().enumerate() {
            let n = i + 2;
            *part = match &self.versions[i] {
                Some(repl) => Some(repl.clone()),
                None if group_count >= n => group(n).map(str::to_owned),
                None => None,
            };
        }
        let [major, minor, patch, build] = parts;
        Some(VersionedName {
            name,
            major,
            minor,
            patch,
            build,
        })
    }
}

/// One translated pattern, compiled on first use.
///
/// A compiled `regex::Regex` of a uap-core pattern holds some kilobytes to tens of kilobytes
/// of automata; compiling all ~1,000 up front cost ~20 MiB of resident memory (and more at
/// the peak, in compile-time scratch) although real traffic only ever reaches a few dozen
/// of them past the literal prefilter.
struct LazyRegex {
    pattern: String,
    compiled: OnceLock<Option<regex::Regex>>,
}

impl LazyRegex {
    fn new(pattern: String) -> Self {
        Self {
            pattern,
            compiled: OnceLock::new(),
        }
    }

    fn compile(&self) -> Result<regex::Regex, regex::Error> {
        regex::Regex::new(&self.pattern)
    }

    /// The compiled pattern (`None` only if it does not compile; [`build_section`] checks
    /// every pattern of a custom file, and a test every pattern of the embedded one).
    fn get(&self) -> Option<&regex::Regex> {
        self.compiled
            .get_or_init(|| match self.compile() {
                Ok(re) => Some(re),
                Err(e) => {
                    tracing::warn!(pattern = %self.pattern, error = %e, "user-agent pattern does not compile; skipped");
                    None
                }
            })
            .as_ref()
    }
}

/// One pattern list with its prefilter: the literal atoms of every pattern (extracted by
/// `regex-filtered`'s model, the same prefilter `regex_filtered::Regexes` builds) in one
/// Aho-Corasick automaton, mapped back to the candidate patterns, which are then compiled
/// lazily and confirmed in list order.
struct Section {
    prefilter: AhoCorasick,
    mapper: regex_filtered::mapper::Mapper,
    regexes: Vec<LazyRegex>,
    rules: Vec<Rule>,
}

impl Section {
    /// Indices of the patterns that match `input`, in ascending order.
    fn matching<'a>(
        &'a self,
        input: &'a str,
    ) -> impl Iterator<Item = (usize, &'a regex::Regex)> + 'a {
        let atoms = self
            .prefilter
            .find_overlapping_iter(input)
            .map(|m| m.pattern().as_usize());
        self.mapper
            .atom_to_re(atoms)
            .into_iter()
            .filter_map(move |idx| {
                let re = self.regexes.get(idx)?.get()?;
                re.is_match(input).then_some((idx, re))
            })
    }

    fn find(&self, input: &str) -> Option<VersionedName> {
        for (idx, re) in self.matching(input) {
            let (Some(caps), Some(rule)) = (re.captures(input), self.rules.get(idx)) else {
                continue;
            };
            if let Some(found) = rule.apply(&caps, re.captures_len().saturating_sub(1)) {
                return Some(found);
            }
        }
        None
    }

    fn len(&self) -> usize {
        self.rules.len()
    }
}

/// Keys of one section of the regexes file.
struct SectionKeys {
    section: &'static str,
    name: &'static str,
    versions: [Option<&'static str>; 4],
}

const UA_KEYS: SectionKeys = SectionKeys {
    section: "user_agent_parsers",
    name: "family_replacement",
    versions: [
        Some("v1_replacement"),
        Some("v2_replacement"),
        Some("v3_replacement"),
        Some("v4_replacement"),
    ],
};
const OS_KEYS: SectionKeys = SectionKeys {
    section: "os_parsers",
    name: "os_replacement",
    versions: [
        Some("os_v1_replacement"),
        Some("os_v2_replacement"),
        Some("os_v3_replacement"),
        Some("os_v4_replacement"),
    ],
};
const DEVICE_KEYS: SectionKeys = SectionKeys {
    section: "device_parsers",
    name: "device_replacement",
    versions: [None, None, None, None],
};

/// Scalar YAML value as text, like Elasticsearch's `XContentParser.text()` (`None` for null).
fn scalar_text(value: &Yaml) -> Result<Option<String>, String> {
    match value {
        Yaml::String(s) | Yaml::Real(s) => Ok(Some(s.clone())),
        Yaml::Integer(i) => Ok(Some(i.to_string())),
        Yaml::Boolean(b) => Ok(Some(b.to_string())),
        Yaml::Null => Ok(None),
        other => Err(format!("expected a scalar value, found {other:?}")),
    }
}

fn build_section(root: &Yaml, keys: &SectionKeys, validate: bool) -> Result<Section, Error> {
    let section = keys.section;
    let entries: &[Yaml] = match &root[section] {
        Yaml::BadValue | Yaml::Null => &[],
        Yaml::Array(a) => a,
        _ => return Err(Error::Malformed(format!("`{section}` is not a list"))),
    };
    // Minimum atom length 3, as `regex_filtered::Builder::new()`.
    let mut mapper = regex_filtered::mapper::Builder::new(3);
    let mut regexes = Vec::with_capacity(entries.len());
    let mut rules = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let Yaml::Hash(map) = entry else {
            return Err(Error::Malformed(format!(
                "{section}[{index}] is not a mapping"
            )));
        };
        let field = |key: &str| -> Result<Option<String>, Error> {
            match map.get(&Yaml::String(key.to_owned())) {
                Some(v) => scalar_text(v)
                    .map_err(|e| Error::Malformed(format!("{section}[{index}].{key}: {e}"))),
                None => Ok(None),
            }
        };
        let Some(java_regex) = field("regex")? else {
            return Err(Error::Malformed(format!(
                "{section}[{index}] has no `regex`"
            )));
        };
        let case_insensitive = field("regex_flag")?.as_deref() == Some("i");
        let translated = java::translate(&java_regex, case_insensitive).map_err(|reason| {
            Error::Unsupported {
                section,
                index,
                reason,
            }
        })?;
        // Case folding is already expanded (ASCII only, like Java) by the translation.
        let regex_error = |message: String| Error::Regex {
            section,
            index,
            message,
        };
        let hir = regex_syntax::Parser::new()
            .parse(&translated)
            .map_err(|e| regex_error(e.to_string()))?;
        let model =
            regex_filtered::model::Model::new(&hir).map_err(|e| regex_error(e.to_string()))?;
        mapper.push(model);
        let lazy = LazyRegex::new(translated);
        if validate {
            // A custom file: reject a pattern the engine refuses (e.g. too big) now, compiling
            // it and dropping the result so that only one is held at a time.
            lazy.compile().map_err(|e| regex_error(e.to_string()))?;
        }
        regexes.push(lazy);
        let mut rule = Rule {
            name: field(keys.name)?,
            ..Rule::default()
        };
        for (slot, key) in rule.versions.iter_mut().zip(keys.versions) {
            if let Some(key) = key {
                *slot = field(key)?;
            }
        }
        rules.push(rule);
    }
    let (mapper, atoms) = mapper.build();
    let prefilter = AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .prefilter(true)
        .build(atoms)
        .map_err(|e| Error::Prefilter {
            section,
            message: e.to_string(),
        })?;
    Ok(Section {
        prefilter,
        mapper,
        regexes,
        rules,
    })
}

/// Parses user-agent strings like Elasticsearch's `user_agent` processor.
///
/// Building parses every pattern and builds the literal prefilter; a pattern is compiled the
/// first time the prefilter lets an input through to it (once, behind a `OnceLock`), so the
/// parser holds only the automata traffic actually needs. Parsing is read-only, so
/// one parser can be shared between threads behind an [`Arc`].
pub struct UserAgentParser {
    ua: Section,
    os: Section,
    device: Section,
}

impl fmt::Debug for UserAgentParser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserAgentParser")
            .field("user_agent_parsers", &self.ua.len())
            .field("os_parsers", &self.os.len())
            .field("device_parsers", &self.device.len())
            .finish()
    }
}

impl UserAgentParser {
    /// Builds the parser from the embedded regexes file ([`REGEXES_YAML`]).
    ///
    /// Patterns are compiled on first use (the embedded file's are all checked by a test).
    pub fn new() -> Result<Self, Error> {
        Self::build(REGEXES_YAML, false)
    }

    /// The process-wide parser over the embedded regexes, compiled on first use and then shared
    /// (building costs a few hundred milliseconds, so callers that create several
    /// [`CachedParser`]s, e.g. one per test, should not each compile their own).
    pub fn shared() -> Result<Arc<Self>, Error> {
        static SHARED: OnceLock<Result<Arc<UserAgentParser>, String>> = OnceLock::new();
        match SHARED.get_or_init(|| Self::new().map(Arc::new).map_err(|e| e.to_string())) {
            Ok(parser) => Ok(Arc::clone(parser)),
            Err(message) => Err(Error::Shared(message.clone())),
        }
    }

    /// Builds a parser from a regexes file in uap-core / Elasticsearch `regex_file` format
    /// (like a custom `regex_file` of the processor).
    ///
    /// Every pattern is compiled once here to report one the engine rejects, then dropped:
    /// matching compiles a pattern again on first use.
    pub fn from_yaml(yaml: &str) -> Result<Self, Error> {
        Self::build(yaml, true)
    }

    fn build(yaml: &str, validate: bool) -> Result<Self, Error> {
        let started = std::time::Instant::now();
        let docs = YamlLoader::load_from_str(yaml).map_err(|e| Error::Yaml(e.to_string()))?;
        let root = docs
            .first()
            .ok_or_else(|| Error::Malformed("empty document".into()))?;
        if !matches!(root, Yaml::Hash(_)) {
            return Err(Error::Malformed("top level is not a mapping".into()));
        }
        let parser = Self {
            ua: build_section(root, &UA_KEYS, validate)?,
            os: build_section(root, &OS_KEYS, validate)?,
            device: build_section(root, &DEVICE_KEYS, validate)?,
        };
        if parser.ua.len() + parser.os.len() + parser.device.len() == 0 {
            return Err(Error::Malformed(
                "not a valid regular expression file (no patterns)".into(),
            ));
        }
        tracing::debug!(
            user_agent_parsers = parser.ua.len(),
            os_parsers = parser.os.len(),
            device_parsers = parser.device.len(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "user-agent regexes loaded"
        );
        Ok(parser)
    }

    /// The fields Elasticsearch's `user_agent` processor emits for `ua`. Never panics.
    pub fn parse(&self, ua: &str) -> UserAgent {
        self.parse_details(ua).into()
    }

    /// The first match of each pattern list, before the processor assembles its fields.
    pub fn parse_details(&self, ua: &str) -> Details {
        Details {
            user_agent: self.ua.find(ua),
            os: self.os.find(ua),
            device: self.device.find(ua),
        }
    }
}

/// Default number of distinct user-agent strings kept by [`CachedParser`].
pub const DEFAULT_CACHE_CAPACITY: usize = 10_000;

/// Strings longer than this (bytes) are parsed but not cached, bounding the cache's memory to
/// about `capacity * MAX_CACHED_LEN`.
pub const MAX_CACHED_LEN: usize = 2048;

/// A bounded, thread-safe cache (sharded, CLOCK-Pro eviction) in front of a [`UserAgentParser`].
pub struct CachedParser {
    parser: Arc<UserAgentParser>,
    cache: Option<quick_cache::sync::Cache<String, Arc<UserAgent>>>,
}

impl fmt::Debug for CachedParser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedParser")
            .field("parser", &self.parser)
            .field("cached", &self.len())
            .field("capacity", &self.cache.as_ref().map_or(0, |c| c.capacity()))
            .finish()
    }
}

impl CachedParser {
    /// Wraps `parser` with a cache of at most `capacity` entries (0 disables caching).
    pub fn new(parser: impl Into<Arc<UserAgentParser>>, capacity: usize) -> Self {
        Self {
            parser: parser.into(),
            cache: (capacity > 0).then(|| quick_cache::sync::Cache::new(capacity)),
        }
    }

    /// A cache of [`DEFAULT_CACHE_CAPACITY`] entries in front of the process-wide parser over
    /// the embedded regexes ([`UserAgentParser::shared`]).
    pub fn with_default_regexes() -> Result<Self, Error> {
        Ok(Self::new(
            UserAgentParser::shared()?,
            DEFAULT_CACHE_CAPACITY,
        ))
    }

    /// Same result as [`UserAgentParser::parse`], served from the cache when possible.
    pub fn parse(&self, ua: &str) -> Arc<UserAgent> {
        match &self.cache {
            Some(cache) if ua.len() <= MAX_CACHED_LEN => {
                let result: Result<_, std::convert::Infallible> =
                    cache.get_or_insert_with(ua, || Ok(Arc::new(self.parser.parse(ua))));
                match result {
                    Ok(v) => v,
                    Err(never) => match never {},
                }
            }
            _ => Arc::new(self.parser.parse(ua)),
        }
    }

    /// The wrapped parser.
    pub fn parser(&self) -> &UserAgentParser {
        &self.parser
    }

    /// Number of cached entries.
    pub fn len(&self) -> usize {
        self.cache.as_ref().map_or(0, |c| c.len())
    }

    /// Whether the cache holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parser_and_cache_are_send_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<UserAgentParser>();
        assert_send_sync::<CachedParser>();
    }

    /// `new()` compiles lazily, so check here that every embedded pattern compiles (a lazy
    /// failure would silently skip the pattern) and that nothing is compiled up front.
    #[test]
    fn every_embedded_pattern_compiles() {
        let parser = UserAgentParser::new().expect("embedded regexes");
        let sections = [&parser.ua, &parser.os, &parser.device];
        for section in sections {
            assert!(section.regexes.iter().all(|re| re.compiled.get().is_none()));
        }
        let mut count = 0;
        for section in sections {
            for re in &section.regexes {
                if let Err(e) = re.compile() {
                    panic!("{}: {e}", re.pattern);
                }
                count += 1;
            }
        }
        assert_eq!(count, section_total(&parser));
        assert!(count > 900, "only {count} patterns");
        parser.parse("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/120.0.0.0 Safari/537.36");
        let compiled: usize = sections
            .iter()
            .map(|s| {
                s.regexes
                    .iter()
                    .filter(|re| re.compiled.get().is_some())
                    .count()
            })
            .sum();
        assert!(compiled > 0 && compiled < count / 4, "{compiled} compiled");
    }

    fn section_total(parser: &UserAgentParser) -> usize {
        parser.ua.len() + parser.os.len() + parser.device.len()
    }

    #[test]
    fn joined_version_stops_at_first_missing_part() {
        let v = |parts: [Option<&str>; 4]| VersionedName {
            name: "X".into(),
            major: parts[0].map(Into::into),
            minor: parts[1].map(Into::into),
            patch: parts[2].map(Into::into),
            build: parts[3].map(Into::into),
        };
        assert_eq!(v([None, Some("1"), None, None]).joined_version(), None);
        assert_eq!(
            v([Some("1"), None, Some("3"), None])
                .joined_version()
                .as_deref(),
            Some("1")
        );
        assert_eq!(
            v([Some("1"), Some("2"), None, Some("4")])
                .joined_version()
                .as_deref(),
            Some("1.2")
        );
        assert_eq!(
            v([Some("1"), Some(""), Some("3"), Some("4")])
                .joined_version()
                .as_deref(),
            Some("1..3.4")
        );
    }
}
