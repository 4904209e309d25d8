//! Incremental splitter: a byte stream of JSON objects (newline-separated or back-to-back) → one
//! `Bytes` per complete object, in bounded memory.
//!
//! Objects completely inside one chunk are sliced out without copying; an object split across chunks
//! is assembled in a buffer. Non-JSON text between objects (Cloudflare's `Error streaming data`
//! trailer) is captured and reported by [`ObjectSplitter::finish`]; an object cut short is reported as
//! truncation.

use crate::error::StreamFailure;
use bytes::{Bytes, BytesMut};

const MAX_TRAILER: usize = 512;

#[derive(Debug)]
pub struct ObjectSplitter {
    max_object: usize,
    depth: u32,
    in_string: bool,
    escape: bool,
    /// Bytes of an object started in an earlier chunk.
    partial: BytesMut,
    /// Non-JSON text seen at top level.
    trailer: Option<Vec<u8>>,
    objects: u64,
    validate: bool,
}

impl ObjectSplitter {
    /// `max_object`: the largest accepted object in bytes (memory bound).
    pub fn new(max_object: usize) -> Self {
        ObjectSplitter {
            max_object,
            depth: 0,
            in_string: false,
            escape: false,
            partial: BytesMut::new(),
            trailer: None,
            objects: 0,
            validate: true,
        }
    }

    /// Number of complete objects emitted so far.
    pub fn objects(&self) -> u64 {
        self.objects
    }

    fn emit(&mut self, obj: Bytes, out: &mut Vec<Bytes>) -> Result<(), StreamFailure> {
        if self.validate {
            if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&obj) {
                return Err(StreamFailure::Invalid(format!(
                    "object #{} is not valid JSON: {e}",
                    self.objects + 1
                )));
            }
        }
        self.objects += 1;
        out.push(obj);
        Ok(())
    }

    /// Feeds one chunk; complete objects are appended to `out`.
    pub fn push(&mut self, chunk: Bytes, out: &mut Vec<Bytes>) -> Result<(), StreamFailure> {
        if let Some(t) = &mut self.trailer {
            t.extend_from_slice(&chunk[..chunk.len().min(MAX_TRAILER.saturating_sub(t.len()))]);
            return self.check_trailer_len();
        }
        let data = &chunk[..];
        let mut i = 0;
        // Start of the current object inside this chunk, if it started here.
        let mut obj_start: Option<usize> = None;
        while i < data.len() {
            let b = data[i];
            if self.depth == 0 {
                match b {
                    b' ' | b'\n' | b'\r' | b'\t' => {}
                    b'{' => {
                        self.depth = 1;
                        obj_start = Some(i);
                    }
                    _ => {
                        let end = data.len().min(i + MAX_TRAILER);
                        self.trailer = Some(data[i..end].to_vec());
                        return self.check_trailer_len();
                    }
                }
                i += 1;
                continue;
            }
            if self.in_string {
                if self.escape {
                    self.escape = false;
                    i += 1;
                    continue;
                }
                // Skip the string's content up to its next quote or backslash in one scan.
                match memchr::memchr2(b'"', b'\\', &data[i..]) {
                    None => i = data.len(),
                    Some(off) => {
                        if data[i + off] == b'\\' {
                            self.escape = true;
                        } else {
                            self.in_string = false;
                        }
                        i += off + 1;
                    }
                }
                continue;
            }
            match b {
                b'"' => self.in_string = true,
                b'{' | b'[' => self.depth += 1,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        let obj = match obj_start.take() {
                            Some(s) => chunk.slice(s..=i),
                            None => {
                                self.partial.extend_from_slice(&data[..=i]);
                                self.partial.split().freeze()
                            }
                        };
                        if obj.len() > self.max_object {
                            return Err(StreamFailure::Invalid(format!(
                                "object of {} bytes exceeds the limit of {} bytes",
                                obj.len(),
                                self.max_object
                            )));
                        }
                        self.emit(obj, out)?;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        if self.depth > 0 {
            match obj_start {
                Some(s) => self.partial.extend_from_slice(&data[s..]),
                None => self.partial.extend_from_slice(data),
            }
            if self.partial.len() > self.max_object {
                return Err(StreamFailure::Invalid(format!(
                    "object larger than the limit of {} bytes",
                    self.max_object
                )));
            }
        }
        Ok(())
    }

    fn check_trailer_len(&self) -> Result<(), StreamFailure> {
        match &self.trailer {
            Some(t) if t.len() >= MAX_TRAILER => Err(StreamFailure::Invalid(format!(
                "non-JSON data in the stream: {:?}",
                String::from_utf8_lossy(&t[..t.len().min(120)])
            ))),
            _ => Ok(()),
        }
    }

    /// Call at a clean end of the byte stream. Ok only if the stream ended between objects with no
    /// trailing non-JSON text.
    pub fn finish(&self) -> Result<(), StreamFailure> {
        if let Some(t) = &self.trailer {
            let text = String::from_utf8_lossy(t).trim().to_string();
            return Err(StreamFailure::ErrorTrailer(text));
        }
        if self.depth > 0 {
            return Err(StreamFailure::Truncated(format!(
                "the stream ended inside a JSON object after {} complete objects",
                self.objects
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_all(chunks: &[&[u8]]) -> (Vec<String>, Result<(), StreamFailure>) {
        let mut s = ObjectSplitter::new(1 << 20);
        let mut out = Vec::new();
        for c in chunks {
            if let Err(e) = s.push(Bytes::copy_from_slice(c), &mut out) {
                return (
                    out.iter()
                        .map(|b| String::from_utf8_lossy(b).into_owned())
                        .collect(),
                    Err(e),
                );
            }
        }
        let r = s.finish();
        (
            out.iter()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .collect(),
            r,
        )
    }

    #[test]
    fn newline_separated_and_back_to_back() {
        let body = b"{\"a\":1}\n{\"b\":\"x}y\"}\n{\"c\":{\"d\":[1,{\"e\":\"\\\"}\"}]}}{\"f\":2}\n";
        let (objs, r) = split_all(&[body]);
        r.unwrap();
        assert_eq!(
            objs,
            vec![
                "{\"a\":1}",
                "{\"b\":\"x}y\"}",
                "{\"c\":{\"d\":[1,{\"e\":\"\\\"}\"}]}}",
                "{\"f\":2}"
            ]
        );
    }

    #[test]
    fn every_split_point_gives_the_same_objects() {
        let body: &[u8] =
            b"{\"RayID\":\"1\",\"u\":\"a\\\\\"}{\"RayID\":\"2\",\"n\":{\"x\":[]}}\n\n{\"RayID\":\"3\",\"q\":\"x\\\"}{[\\\\\",\"e\":\"\\\\\\\"\"}";
        let (whole, r) = split_all(&[body]);
        r.unwrap();
        assert_eq!(whole.len(), 3);
        for i in 0..body.len() {
            for j in i..body.len() {
                let (objs, r) = split_all(&[&body[..i], &body[i..j], &body[j..]]);
                r.unwrap();
                assert_eq!(objs, whole, "split at {i},{j}");
            }
        }
    }

    #[test]
    fn error_trailer_is_detected() {
        let (objs, r) = split_all(&[b"{\"a\":1}\n{\"b\":2}\nError stre", b"aming data\n"]);
        assert_eq!(objs.len(), 2);
        assert_eq!(
            r.unwrap_err(),
            StreamFailure::ErrorTrailer("Error streaming data".into())
        );
        // Trailer directly after an object without newline.
        let (_, r) = split_all(&[b"{\"a\":1}Error streaming data"]);
        assert!(matches!(r.unwrap_err(), StreamFailure::ErrorTrailer(_)));
    }

    #[test]
    fn truncation_is_detected() {
        let (objs, r) = split_all(&[b"{\"a\":1}\n{\"b\":", b"\"unterminated"]);
        assert_eq!(objs, vec!["{\"a\":1}"]);
        assert!(matches!(r.unwrap_err(), StreamFailure::Truncated(_)));
        let (objs, r) = split_all(&[b""]);
        assert!(objs.is_empty());
        r.unwrap();
    }

    #[test]
    fn invalid_object_and_size_limit() {
        let (_, r) = split_all(&[b"{\"a\":tru}"]);
        assert!(matches!(r.unwrap_err(), StreamFailure::Invalid(_)));
        let mut s = ObjectSplitter::new(16);
        let mut out = Vec::new();
        let big = format!("{{\"a\":\"{}\"", "x".repeat(40));
        assert!(matches!(
            s.push(Bytes::from(big), &mut out).unwrap_err(),
            StreamFailure::Invalid(_)
        ));
    }
}
