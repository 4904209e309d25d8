//! The rules of the receiver's and the bucket reader's own settings (the `logpush:` and
//! `logpush_bucket:` config sections map onto [`ReceiverConfig`] and [`BucketConfig`]; the binary's
//! wiring builds them and runs these checks at load, adding the line of the key).

use crate::bucket::BucketConfig;
use crate::receiver::ReceiverConfig;

/// A setting that breaks its component's rules: `section.key` and why (never a secret value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{section}.{key}` {reason}")]
pub struct SettingError {
    pub section: &'static str,
    pub key: &'static str,
    pub reason: String,
}

fn bad<T>(
    section: &'static str,
    key: &'static str,
    reason: impl Into<String>,
) -> Result<T, SettingError> {
    Err(SettingError {
        section,
        key,
        reason: reason.into(),
    })
}

impl ReceiverConfig {
    /// TLS files readable, the secret header a valid, non-empty header, mapped paths absolute,
    /// limits above zero.
    pub fn validate(&self) -> Result<(), SettingError> {
        const S: &str = "logpush";
        if let Some(t) = &self.tls {
            for (key, p) in [("tls.cert", &t.cert), ("tls.key", &t.key)] {
                if let Err(e) = std::fs::metadata(p) {
                    return bad(S, key, format!("{}: {e}", p.display()));
                }
            }
        }
        if let Some(s) = &self.secret {
            if axum::http::HeaderName::from_bytes(s.header.as_bytes()).is_err() {
                return bad(
                    S,
                    "secret.header",
                    format!("{:?} is not an HTTP header name", s.header),
                );
            }
            let v = s.value.expose();
            if v.trim().is_empty() {
                return bad(
                    S,
                    "secret.value",
                    "is empty (is its environment variable set to an empty value?)",
                );
            }
            if axum::http::HeaderValue::from_str(v).is_err() {
                return bad(
                    S,
                    "secret.value",
                    "has characters an HTTP header cannot carry",
                );
            }
        }
        for p in self.paths.keys() {
            if !p.starts_with('/') {
                return bad(S, "paths", format!("{p:?} must start with `/`"));
            }
        }
        if self.limits.max_body_bytes == 0 {
            return bad(S, "max_body_mib", "must be greater than zero");
        }
        if self.max_concurrent == 0 {
            return bad(S, "max_concurrent", "must be greater than zero");
        }
        Ok(())
    }
}

impl BucketConfig {
    /// A URL of a supported scheme with a bucket, `endpoint` and keys only for `s3://`, keys in
    /// pairs, `start_date` as `YYYYMMDD`, a poll interval.
    pub fn validate(&self) -> Result<(), SettingError> {
        const S: &str = "logpush_bucket";
        let url = match url::Url::parse(&self.url) {
            Ok(u) => u,
            Err(e) => {
                return bad(
                    S,
                    "url",
                    format!(
                        "{:?} is not a URL ({e}); e.g. s3://bucket/prefix/",
                        self.url
                    ),
                )
            }
        };
        let s3 = matches!(url.scheme(), "s3" | "s3a");
        if !(s3 || matches!(url.scheme(), "gs" | "az" | "azure" | "abfs" | "abfss")) {
            return bad(
                S,
                "url",
                format!(
                    "scheme {}:// is not supported: s3:// (S3, R2 with `endpoint`), gs:// or az://",
                    url.scheme()
                ),
            );
        }
        if url.host_str().is_none_or(str::is_empty) {
            return bad(S, "url", format!("{:?} names no bucket", self.url));
        }
        if let Some(e) = &self.endpoint {
            if !s3 {
                return bad(
                    S,
                    "endpoint",
                    "is only for s3:// (S3-compatible servers, R2)",
                );
            }
            if !(e.starts_with("http://") || e.starts_with("https://"))
                || url::Url::parse(e).is_err()
            {
                return bad(S, "endpoint", format!("{e:?} is not an http(s) URL"));
            }
        }
        if !s3 && (self.access_key_id.is_some() || self.secret_access_key.is_some()) {
            return bad(
                S,
                "access_key_id",
                "is for s3:// (use `options` for gs:// and az://)",
            );
        }
        if self.access_key_id.is_some() != self.secret_access_key.is_some() {
            return bad(S, "secret_access_key", "and `access_key_id` go together");
        }
        for (key, v) in [
            ("access_key_id", &self.access_key_id),
            ("secret_access_key", &self.secret_access_key),
        ] {
            if v.as_ref().is_some_and(|v| v.expose().trim().is_empty()) {
                return bad(
                    S,
                    key,
                    "is empty (is its environment variable set to an empty value?)",
                );
            }
        }
        if let Some(d) = &self.start_date {
            let ok = d.len() == 8
                && d.bytes().all(|b| b.is_ascii_digit())
                && chrono::NaiveDate::parse_from_str(d, "%Y%m%d").is_ok();
            if !ok {
                return bad(
                    S,
                    "start_date",
                    format!("{d:?} is not a date YYYYMMDD (Cloudflare's daily folders)"),
                );
            }
        }
        if self.poll_interval.is_zero() {
            return bad(S, "poll_interval", "must be greater than zero");
        }
        if self.chunk_docs == 0 {
            return bad(S, "chunk_docs", "must be greater than zero");
        }
        Ok(())
    }

    /// The source's name in logs and metrics: the URL without its query (never a credential).
    pub fn label(&self) -> String {
        match url::Url::parse(&self.url) {
            Ok(mut u) => {
                u.set_query(None);
                let _ = u.set_password(None);
                let _ = u.set_username("");
                u.to_string()
            }
            Err(_) => self.url.split('?').next().unwrap_or_default().to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datasets::find;
    use cfship_secret::Secret;

    fn ds() -> &'static crate::DataStream {
        find("http_request").unwrap_or(&crate::DATA_STREAMS[0])
    }

    #[test]
    fn bucket_rules() {
        let ok = BucketConfig::new("s3://b/cloudflare/", ds());
        assert_eq!(ok.validate(), Ok(()));
        let key = |c: BucketConfig| c.validate().map_err(|e| e.key);
        assert_eq!(key(BucketConfig::new("ftp://b/", ds())), Err("url"));
        assert_eq!(key(BucketConfig::new("nope", ds())), Err("url"));
        let mut c = BucketConfig::new("gs://b/p/", ds());
        c.endpoint = Some("http://127.0.0.1:9000".into());
        assert_eq!(key(c), Err("endpoint"));
        let mut c = BucketConfig::new("s3://b/p/", ds());
        c.access_key_id = Some(Secret::new("k"));
        assert_eq!(key(c.clone()), Err("secret_access_key"));
        c.secret_access_key = Some(Secret::new("s"));
        assert_eq!(key(c.clone()), Ok(()));
        c.start_date = Some("2026-12-01".into());
        let e = c.validate().unwrap_err();
        assert_eq!(e.key, "start_date");
        assert!(e.to_string().contains("YYYYMMDD"), "{e}");
        c.start_date = Some("20261301".into());
        assert_eq!(key(c.clone()), Err("start_date"));
        c.start_date = Some("20261201".into());
        assert_eq!(key(c), Ok(()));
    }

    #[test]
    fn receiver_rules_never_show_the_secret() {
        let mut c = ReceiverConfig::new("127.0.0.1:0".parse().expect("addr"));
        assert_eq!(c.validate(), Ok(()));
        c.secret = Some(crate::SecretHeader {
            header: "X Bad".into(),
            value: Secret::new("hunter2"),
        });
        let e = c.validate().unwrap_err();
        assert_eq!(e.key, "secret.header");
        c.secret = Some(crate::SecretHeader {
            header: "X-Logpush-Secret".into(),
            value: Secret::new("bad\nvalue-hunter2"),
        });
        let e = c.validate().unwrap_err();
        assert_eq!(e.key, "secret.value");
        assert!(!e.to_string().contains("hunter2"));
        c.secret = None;
        c.tls = Some(crate::TlsFiles {
            cert: "/nonexistent/tls.crt".into(),
            key: "/nonexistent/tls.key".into(),
        });
        assert_eq!(c.validate().map_err(|e| e.key), Err("tls.cert"));
    }

    #[test]
    fn label_drops_credentials() {
        let c = BucketConfig::new("s3://user:pw@b/p/?secret=x", ds());
        assert_eq!(c.label(), "s3://b/p/");
    }
}
