//! Bulk request building, batch splitting and item classification (pure functions).

use std::ops::Range;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use serde::Deserialize;
use serde_json::Value;

/// One document to index: `source` is one JSON object (a single line is best; other JSON is compacted).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexRequest {
    pub index: String,
    pub id: String,
    pub source: Bytes,
}

/// Split `items` (sizes in bytes) into consecutive ranges of at most `max_docs` items and at most
/// `max_bytes` bytes; an item larger than `max_bytes` gets a range of its own.
pub fn split_batches(sizes: &[usize], max_docs: usize, max_bytes: usize) -> Vec<Range<usize>> {
    let max_docs = max_docs.max(1);
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0usize;
    for (i, &s) in sizes.iter().enumerate() {
        let count = i - start;
        if count > 0 && (count >= max_docs || bytes.saturating_add(s) > max_bytes) {
            out.push(start..i);
            start = i;
            bytes = 0;
        }
        bytes = bytes.saturating_add(s);
    }
    if start < sizes.len() {
        out.push(start..sizes.len());
    }
    out
}

/// What to do with one bulk item.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemOutcome {
    /// Indexed.
    Created,
    /// `create` hit an existing `_id`: indexed before (a retry or a replay); done.
    Duplicate,
    /// Transient: send again later.
    Retry,
    /// Permanent refusal (mapping error…): dead-letter it.
    DeadLetter,
}

/// Classify one bulk item result by HTTP status and `error.type`.
pub fn classify_item(status: u16, error_type: Option<&str>) -> ItemOutcome {
    let et = error_type.unwrap_or("");
    if et.ends_with("rejected_execution_exception") || et == "circuit_breaking_exception" {
        return ItemOutcome::Retry;
    }
    match status {
        200..=299 => ItemOutcome::Created,
        409 if et.is_empty() || et.contains("version_conflict") => ItemOutcome::Duplicate,
        // 409 other than a version conflict, throttling and server errors
        408 | 409 | 429 | 500..=599 => ItemOutcome::Retry,
        // Cluster / index blocks (disk full, read-only index), missing data stream when auto-create is
        // off, security refusals: fixable by an operator, never a reason to lose the document.
        401 | 403 | 404 => ItemOutcome::Retry,
        _ if et == "cluster_block_exception" || et == "index_closed_exception" => {
            ItemOutcome::Retry
        }
        _ => ItemOutcome::DeadLetter,
    }
}

/// One parsed bulk item.
#[derive(Debug, Deserialize)]
pub(crate) struct ItemResult {
    pub status: u16,
    #[serde(default)]
    pub error: Option<Value>,
}

impl ItemResult {
    pub(crate) fn error_type(&self) -> Option<&str> {
        self.error.as_ref()?.get("type")?.as_str()
    }
}

#[derive(Debug, Deserialize)]
struct BulkResponse {
    #[serde(default)]
    items: Vec<std::collections::HashMap<String, ItemResult>>,
}

/// Parse a bulk response body into one result per request item, in order.
pub(crate) fn parse_bulk_response(body: &[u8]) -> Result<Vec<ItemResult>, String> {
    let resp: BulkResponse = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    resp.items
        .into_iter()
        .map(|m| {
            m.into_values()
                .next()
                .ok_or_else(|| "empty bulk item".to_string())
        })
        .collect()
}

/// RFC 3339 UTC timestamp with milliseconds, for dead-letter records.
pub(crate) fn now_rfc3339() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // civil from days (Howard Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert_eq!(classify_item(201, None), ItemOutcome::Created);
        assert_eq!(classify_item(200, None), ItemOutcome::Created);
        assert_eq!(
            classify_item(409, Some("version_conflict_engine_exception")),
            ItemOutcome::Duplicate
        );
        assert_eq!(
            classify_item(429, Some("es_rejected_execution_exception")),
            ItemOutcome::Retry
        );
        assert_eq!(
            classify_item(500, Some("opensearch_rejected_execution_exception")),
            ItemOutcome::Retry
        );
        assert_eq!(
            classify_item(503, Some("unavailable_shards_exception")),
            ItemOutcome::Retry
        );
        assert_eq!(
            classify_item(429, Some("circuit_breaking_exception")),
            ItemOutcome::Retry
        );
        assert_eq!(
            classify_item(403, Some("cluster_block_exception")),
            ItemOutcome::Retry
        );
        assert_eq!(
            classify_item(400, Some("document_parsing_exception")),
            ItemOutcome::DeadLetter
        );
        assert_eq!(
            classify_item(400, Some("mapper_parsing_exception")),
            ItemOutcome::DeadLetter
        );
        assert_eq!(
            classify_item(400, Some("illegal_argument_exception")),
            ItemOutcome::DeadLetter
        );
    }

    #[test]
    fn batch_splitting_respects_count_and_bytes() {
        assert_eq!(split_batches(&[], 10, 100), Vec::<Range<usize>>::new());
        assert_eq!(split_batches(&[10; 5], 2, 1000), vec![0..2, 2..4, 4..5]);
        assert_eq!(split_batches(&[40, 40, 40, 40], 100, 100), vec![0..2, 2..4]);
        // an oversized item stands alone, neighbours are not glued to it
        assert_eq!(
            split_batches(&[10, 500, 10], 100, 100),
            vec![0..1, 1..2, 2..3]
        );
        assert_eq!(split_batches(&[100, 1], 100, 100), vec![0..1, 1..2]);
        // max_docs 0 is treated as 1 rather than looping
        assert_eq!(split_batches(&[1, 1], 0, 100), vec![0..1, 1..2]);
        // every item lands in exactly one batch, in order
        let sizes: Vec<usize> = (0..1000).map(|i| (i * 37) % 301 + 1).collect();
        let ranges = split_batches(&sizes, 17, 2000);
        let mut next = 0;
        for r in &ranges {
            assert_eq!(r.start, next);
            assert!(r.len() <= 17);
            let b: usize = sizes[r.clone()].iter().sum();
            assert!(b <= 2000 || r.len() == 1);
            next = r.end;
        }
        assert_eq!(next, 1000);
    }

    #[test]
    fn bulk_response_parsing() {
        let body = br#"{"errors":true,"items":[
            {"create":{"status":201}},
            {"create":{"status":409,"error":{"type":"version_conflict_engine_exception","reason":"x"}}},
            {"create":{"status":400,"error":{"type":"document_parsing_exception","reason":"failed to parse field [source.ip]"}}}
        ]}"#;
        let items = parse_bulk_response(body).unwrap();
        let outcomes: Vec<_> = items
            .iter()
            .map(|i| classify_item(i.status, i.error_type()))
            .collect();
        assert_eq!(
            outcomes,
            vec![
                ItemOutcome::Created,
                ItemOutcome::Duplicate,
                ItemOutcome::DeadLetter
            ]
        );
        assert!(parse_bulk_response(b"<html>").is_err());
    }

    #[test]
    fn timestamps_look_right() {
        let t = now_rfc3339();
        assert_eq!(t.len(), 24, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z') && &t[10..11] == "T");
    }
}
