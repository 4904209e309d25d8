//! The new scanner against the two splitters it replaces (cfship-cloudflare's `ObjectSplitter`,
//! cfship-ecs's `RecordSplitter`), on arbitrary bytes: same records, same lines, same failures.
//! Kept until those are deleted.

use bytes::Bytes;
use cfship_cloudflare::jsonstream::ObjectSplitter;
use cfship_cloudflare::StreamFailure;
use cfship_ndjson::{Error, Kind, Mode, Reader, Scanner, Splitter};
use proptest::prelude::*;

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(
            prop::sample::select(&b"{}[]\"\\\n\r \tax:,1\xff"[..]),
            0..300
        ),
        prop::collection::vec(prop::sample::select(&b"{}\"\\\n :1a"[..]), 0..300),
    ]
}

fn old_strict(chunks: &[&[u8]]) -> (Vec<Vec<u8>>, Option<String>) {
    let mut s = ObjectSplitter::new(1 << 20);
    let mut out = Vec::new();
    let class = |f: StreamFailure| match f {
        StreamFailure::ErrorTrailer(t) => format!("trailer {t}"),
        StreamFailure::Truncated(_) => "cut".to_string(),
        StreamFailure::Invalid(_) => "invalid".to_string(),
        other => format!("{other:?}"),
    };
    for c in chunks {
        if let Err(f) = s.push(Bytes::copy_from_slice(c), &mut out) {
            return (out.iter().map(|b| b.to_vec()).collect(), Some(class(f)));
        }
    }
    let r = s.finish().err().map(class);
    (out.iter().map(|b| b.to_vec()).collect(), r)
}

fn new_strict(chunks: &[&[u8]]) -> (Vec<Vec<u8>>, Option<String>) {
    let mut s = Splitter::with_scanner(Scanner::new(Mode::Strict, 1 << 20).validate(true), 64);
    let mut out = Vec::new();
    let class = |e: Error| match e {
        Error::Trailer { text, .. } => format!("trailer {text}"),
        Error::Cut { .. } => "cut".to_string(),
        Error::Invalid { .. } | Error::Garbage { .. } | Error::TooLarge { .. } => {
            "invalid".to_string()
        }
        other => format!("{other:?}"),
    };
    for c in chunks {
        s.push(c);
        if let Err(e) = s.drain_records(&mut out) {
            return (out.iter().map(|b| b.to_vec()).collect(), Some(class(e)));
        }
    }
    s.finish();
    let r = s.drain_records(&mut out).err().map(class);
    (out.iter().map(|b| b.to_vec()).collect(), r)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn lenient_equals_record_splitter(input in bytes(), cap in 1usize..40) {
        let old: Vec<(Vec<u8>, u64, bool)> = cfship_ecs::RecordSplitter::new(
            std::io::BufReader::with_capacity(cap, &input[..]), 1 << 20)
            .map(|i| { let i = i.unwrap(); (i.bytes, i.line, i.oversize) })
            .collect();
        let mut r = Reader::with_capacity(&input[..], Mode::Lenient, 1 << 20, cap);
        let mut new = Vec::new();
        while let Some(i) = r.next() {
            let i = i.unwrap();
            new.push((i.bytes.to_vec(), i.line, i.kind == Kind::Oversize));
        }
        prop_assert_eq!(new, old);
    }

    #[test]
    fn strict_with_validation_equals_object_splitter(input in bytes(), cut in any::<prop::sample::Index>()) {
        let at = cut.index(input.len() + 1);
        let chunks = [&input[..at], &input[at..]];
        prop_assert_eq!(new_strict(&chunks), old_strict(&chunks));
    }
}
