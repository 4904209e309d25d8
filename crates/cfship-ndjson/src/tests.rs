//! Boundaries of both modes and both front ends. Every case runs through the `Splitter` fed in the
//! given chunks and through the `Reader` with tiny and large buffers; they must agree.

use super::*;
use proptest::prelude::*;

/// (kind, text, line, offset) of each item, or the error that ended the stream.
type Got = (Vec<(Kind, Vec<u8>, u64, u64)>, Option<String>);

fn via_splitter(mode: Mode, max: usize, chunks: &[&[u8]]) -> Got {
    via_splitter_with(Scanner::new(mode, max), chunks)
}

fn via_splitter_with(scanner: Scanner, chunks: &[&[u8]]) -> Got {
    let mut s = Splitter::with_scanner(scanner, 7);
    let mut items = Vec::new();
    let take = |s: &mut Splitter, items: &mut Vec<_>| -> Result<(), Error> {
        while let Some(it) = s.next_item()? {
            items.push((it.kind, it.bytes.to_vec(), it.line, it.offset));
        }
        Ok(())
    };
    for c in chunks {
        s.push(c);
        if let Err(e) = take(&mut s, &mut items) {
            return (items, Some(e.to_string()));
        }
    }
    s.finish();
    let err = take(&mut s, &mut items).err().map(|e| e.to_string());
    (items, err)
}

fn via_reader(mode: Mode, max: usize, input: &[u8], cap: usize) -> Got {
    via_reader_with(Scanner::new(mode, max), input, cap)
}

fn via_reader_with(scanner: Scanner, input: &[u8], cap: usize) -> Got {
    let mut r = Reader::with_scanner(input, scanner, cap);
    let mut items = Vec::new();
    while let Some(it) = r.next() {
        match it {
            Ok(it) => items.push((it.kind, it.bytes.to_vec(), it.line, it.offset)),
            Err(e) => return (items, Some(e.to_string())),
        }
    }
    (items, None)
}

fn via_batches(mode: Mode, max: usize, input: &[u8], cap: usize, per: usize) -> Got {
    let mut r = Reader::with_capacity(input, mode, max, cap);
    let mut items = Vec::new();
    loop {
        match r.next_batch(per) {
            Ok(b) if b.is_empty() => return (items, None),
            Ok(b) => {
                assert!(b.len() <= per);
                for it in b.iter() {
                    items.push((it.kind, it.bytes.to_vec(), it.line, it.offset))
                }
            }
            Err(e) => return (items, Some(e.to_string())),
        }
    }
}

/// All front ends on one input; they must agree; returns the common result.
fn all(mode: Mode, max: usize, input: &[u8]) -> Got {
    let whole = via_splitter(mode, max, &[input]);
    let bytewise: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(
        via_splitter(mode, max, &bytewise),
        whole,
        "byte-wise chunks"
    );
    for cap in [1, 3, 64, 1 << 16] {
        assert_eq!(via_reader(mode, max, input, cap), whole, "reader cap {cap}");
        assert_eq!(
            via_batches(mode, max, input, cap, 2),
            whole,
            "batches cap {cap}"
        );
    }
    whole
}

fn texts(g: &Got) -> Vec<&str> {
    g.0.iter()
        .map(|i| std::str::from_utf8(&i.1).unwrap())
        .collect()
}

fn kinds(g: &Got) -> Vec<Kind> {
    g.0.iter().map(|i| i.0).collect()
}

// ---- strict ----

#[test]
fn strict_newline_separated_and_back_to_back() {
    let body = b"{\"a\":1}\n{\"b\":\"x}y\"}\n{\"c\":{\"d\":[1,{\"e\":\"\\\"}\"}]}}{\"f\":2}\n";
    let g = all(Mode::Strict, 1 << 20, body);
    assert_eq!(g.1, None);
    assert_eq!(
        texts(&g),
        vec![
            "{\"a\":1}",
            "{\"b\":\"x}y\"}",
            "{\"c\":{\"d\":[1,{\"e\":\"\\\"}\"}]}}",
            "{\"f\":2}"
        ]
    );
    assert_eq!(g.0[1].3, 8, "offset of the second object");
}

#[test]
fn strict_every_pair_of_split_points_gives_the_same_objects() {
    let body: &[u8] =
        b"{\"RayID\":\"1\",\"u\":\"a\\\\\"}{\"RayID\":\"2\",\"n\":{\"x\":[]}}\n\n{\"RayID\":\"3\",\"q\":\"x\\\"}{[\\\\\",\"e\":\"\\\\\\\"\"}";
    let whole = via_splitter(Mode::Strict, 1 << 20, &[body]);
    assert_eq!(whole.1, None);
    assert_eq!(whole.0.len(), 3);
    for i in 0..body.len() {
        for j in i..body.len() {
            let got = via_splitter(
                Mode::Strict,
                1 << 20,
                &[&body[..i], &body[i..j], &body[j..]],
            );
            assert_eq!(got, whole, "split at {i},{j}");
        }
    }
}

#[test]
fn strict_pretty_printed_objects_and_crlf_are_accepted() {
    let g = all(
        Mode::Strict,
        1 << 20,
        b"{\r\n \"a\": [1,\r\n 2]\r\n}\r\n\r\n\t{\"b\":{}}  ",
    );
    assert_eq!(g.1, None);
    assert_eq!(
        texts(&g),
        vec!["{\r\n \"a\": [1,\r\n 2]\r\n}", "{\"b\":{}}"]
    );
    assert_eq!(g.0[1].2, 6, "line of the second object");
}

#[test]
fn strict_error_trailer_is_reported_with_its_position() {
    let (objs, err) = via_splitter(
        Mode::Strict,
        1 << 20,
        &[b"{\"a\":1}\n{\"b\":2}\nError stre", b"aming data\n"],
    );
    assert_eq!(objs.len(), 2);
    assert_eq!(
        err.as_deref(),
        Some("the stream ends with non-JSON text \"Error streaming data\" at byte 16, after 2 objects")
    );
    // Directly after an object, without a newline; and a top-level array is not an object.
    for (body, at) in [
        (&b"{\"a\":1}Error streaming data"[..], 7),
        (b"{\"a\":1}\n[1]", 8),
    ] {
        let g = all(Mode::Strict, 1 << 20, body);
        assert_eq!(g.0.len(), 1);
        let err = g.1.unwrap();
        assert!(
            err.contains(&format!("at byte {at}, after 1 objects")),
            "{err}"
        );
    }
    let mut s = Splitter::new(Mode::Strict, 1 << 20);
    s.push(b"{}\nError streaming data\n");
    assert!(s.next_item().unwrap().is_some());
    s.finish();
    match s.next_item() {
        Err(Error::Trailer {
            text,
            offset,
            records,
        }) => {
            assert_eq!(text, "Error streaming data");
            assert_eq!((offset, records), (3, 1));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn strict_long_garbage_fails_before_the_end() {
    let mut s = Splitter::new(Mode::Strict, 1 << 20);
    s.push(b"{}");
    s.push(&[b'x'; 600]);
    assert!(s.next_item().unwrap().is_some());
    match s.next_item() {
        Err(Error::Garbage { text, offset, .. }) => {
            assert_eq!(offset, 2);
            assert_eq!(text.chars().count(), DISPLAY_BYTES + 1, "cut for display");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn strict_cut_object_is_reported_with_its_position() {
    let g = all(Mode::Strict, 1 << 20, b"{\"a\":1}\n{\"b\":\"unterminated");
    assert_eq!(texts(&g), vec!["{\"a\":1}"]);
    assert_eq!(
        g.1.as_deref(),
        Some("the stream ended inside object #2 (it starts at byte 8; 18 bytes of it arrived)")
    );
    // Cut after a backslash and inside nested values.
    for body in [&b"{\"a\":\"\\"[..], b"{\"a\":[{\"b\":1}", b"{"] {
        assert!(all(Mode::Strict, 1 << 20, body)
            .1
            .unwrap()
            .contains("ended inside object #1"));
    }
    let g = all(Mode::Strict, 1 << 20, b"");
    assert_eq!(g, (vec![], None));
    let g = all(Mode::Strict, 1 << 20, b" \r\n\n");
    assert_eq!(g, (vec![], None));
}

#[test]
fn strict_object_over_the_limit_fails_whatever_the_chunks() {
    let big = format!("{{\"a\":\"{}\"}}", "x".repeat(40));
    let g = all(Mode::Strict, 16, big.as_bytes());
    assert!(g.0.is_empty());
    assert_eq!(
        g.1.as_deref(),
        Some("object #1 at byte 0 is larger than the limit of 16 bytes")
    );
    // Exactly at the limit is fine.
    let g = all(Mode::Strict, 9, b"{\"a\":123}{\"b\":1234}");
    assert_eq!(texts(&g), vec!["{\"a\":123}"]);
    assert!(g.1.unwrap().contains("object #2 at byte 9 is larger"));
}

#[test]
fn strict_validation_is_optional() {
    let body = b"{\"a\":tru}\n{\"b\":1}";
    let g = via_splitter_with(Scanner::new(Mode::Strict, 1 << 20), &[body]);
    assert_eq!(texts(&g), vec!["{\"a\":tru}", "{\"b\":1}"]);
    let g = via_splitter_with(Scanner::new(Mode::Strict, 1 << 20).validate(true), &[body]);
    assert!(g.0.is_empty());
    assert!(g
        .1
        .unwrap()
        .starts_with("object #1 at byte 0 is not valid JSON: "));
    let g = via_reader_with(
        Scanner::new(Mode::Strict, 1 << 20).validate(true),
        b"{} {\"x\":1,}",
        2,
    );
    assert_eq!(g.0.len(), 1);
    assert!(g
        .1
        .unwrap()
        .starts_with("object #2 at byte 3 is not valid JSON"));
}

// ---- lenient ----

#[test]
fn lenient_newline_delimited_and_back_to_back() {
    let g = all(
        Mode::Lenient,
        1 << 20,
        b"{\"a\":1}\n{\"b\":\"}{\"}{\"c\":[1,{\"d\":2}]}\r\n\n  {\"e\":\"\\\"}\"}",
    );
    assert_eq!(
        texts(&g),
        vec![
            r#"{"a":1}"#,
            r#"{"b":"}{"}"#,
            r#"{"c":[1,{"d":2}]}"#,
            r#"{"e":"\"}"}"#
        ]
    );
    let lines: Vec<u64> = g.0.iter().map(|i| i.2).collect();
    assert_eq!(lines, vec![1, 2, 2, 4]);
    assert_eq!(g.1, None);
}

#[test]
fn lenient_garbage_and_cut_records_are_items_not_losses() {
    let g = all(
        Mode::Lenient,
        1 << 20,
        b"not json\r\r\n{\"a\":1\n{\"b\":2}\n[1,\"x\n\"]\n{\"c\":1}tail\n5\r\n{\"c\":",
    );
    assert_eq!(
        texts(&g),
        vec![
            "not json",
            r#"{"a":1"#,
            r#"{"b":2}"#,
            r#"[1,"x"#,
            r#""]"#,
            r#"{"c":1}"#,
            "tail",
            "5",
            r#"{"c":"#
        ]
    );
    use Kind::*;
    assert_eq!(
        kinds(&g),
        vec![
            Garbage,
            Unterminated,
            Record,
            Unterminated,
            Garbage,
            Record,
            Garbage,
            Garbage,
            Unterminated
        ]
    );
    let lines: Vec<u64> = g.0.iter().map(|i| i.2).collect();
    assert_eq!(lines, vec![1, 2, 3, 4, 5, 6, 6, 7, 8]);
    assert_eq!(g.1, None);
    // Garbage at the very end keeps its CR (nothing after it says it is a line end).
    let g = all(Mode::Lenient, 1 << 20, b"x\r");
    assert_eq!(texts(&g), vec!["x\r"]);
}

#[test]
fn lenient_backslash_before_a_newline_still_cuts() {
    let g = all(Mode::Lenient, 1 << 20, b"{\"a\":\"\\\n{\"b\":1}");
    assert_eq!(texts(&g), vec!["{\"a\":\"\\", "{\"b\":1}"]);
    assert_eq!(kinds(&g), vec![Kind::Unterminated, Kind::Record]);
}

#[test]
fn lenient_oversize_records_keep_their_first_bytes_and_the_rest_is_skipped() {
    let big = format!(
        "{{\"a\":\"{}\",\"n\":{{\"x\":\"}}\"}}}}{{\"k\":1}}\n{{\"b\":1}}\n{}\n{{\"c\":2}}",
        "x".repeat(100),
        "g".repeat(50)
    );
    let g = all(Mode::Lenient, 32, big.as_bytes());
    use Kind::*;
    assert_eq!(kinds(&g), vec![Oversize, Record, Record, Oversize, Record]);
    assert_eq!(g.0[0].1.len(), 32);
    assert_eq!(g.0[0].1, big.as_bytes()[..32]);
    assert_eq!(texts(&g)[1..3], [r#"{"k":1}"#, r#"{"b":1}"#]);
    assert_eq!(g.0[3].1, "g".repeat(32).as_bytes());
    assert_eq!((g.0[2].2, g.0[3].2, g.0[4].2), (2, 3, 4));
    // Exactly at the limit is a record; a garbage line of exactly the limit is garbage.
    let g = all(Mode::Lenient, 7, b"{\"a\":1}\nabcdefg\nabcdefgh");
    assert_eq!(kinds(&g), vec![Record, Garbage, Oversize]);
    // An oversize record cut by a newline: the skip ends there.
    let g = all(Mode::Lenient, 4, b"{\"aaaa\n{}");
    assert_eq!(kinds(&g), vec![Oversize, Record]);
}

#[test]
fn lenient_reader_memory_is_bounded_whatever_the_input() {
    let mut input = Vec::new();
    input.extend_from_slice(b"{\"a\":\"");
    input.extend(std::iter::repeat_n(b'x', 3 << 20));
    input.extend_from_slice(b"\"}\n");
    input.extend(std::iter::repeat_n(b'g', 3 << 20));
    input.extend_from_slice(b"\n{}");
    let mut r = Reader::with_capacity(&input[..], Mode::Lenient, 4096, 1024);
    let mut kinds = Vec::new();
    while let Some(it) = r.next() {
        let it = it.unwrap();
        kinds.push(it.kind);
        assert!(r.buffer_size() <= 4096 + 1 + 1024, "{}", r.buffer_size());
    }
    assert_eq!(kinds, vec![Kind::Oversize, Kind::Oversize, Kind::Record]);

    let mut s = Splitter::with_scanner(Scanner::new(Mode::Lenient, 4096), 1024);
    let mut n = 0;
    for c in input.chunks(1000) {
        s.push(c);
        while s.next_item().unwrap().is_some() {
            n += 1;
        }
        assert!(s.buffered() <= 4096 + 1 + 1000, "{}", s.buffered());
    }
    s.finish();
    while s.next_item().unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 3);
}

#[test]
fn non_ascii_and_invalid_utf8_pass_through_untouched() {
    let input = "{\"a\":\"é€😀\"}\n\u{feff}x\n".as_bytes();
    let g = all(Mode::Lenient, 1 << 20, input);
    assert_eq!(texts(&g), vec!["{\"a\":\"é€😀\"}", "\u{feff}x"]);
    let mut r = Reader::new(&b"{\"a\":\"\xff\"}\n\xfe\n"[..], Mode::Lenient, 1 << 20);
    assert_eq!(r.next().unwrap().unwrap().bytes, b"{\"a\":\"\xff\"}");
    assert_eq!(r.next().unwrap().unwrap().bytes, b"\xfe");
    assert!(r.next().is_none());
}

#[test]
fn batches_hold_at_most_what_one_buffer_holds() {
    let input: String = (0..1000).map(|i| format!("{{\"i\":{i}}}\n")).collect();
    let mut r = Reader::with_capacity(input.as_bytes(), Mode::Lenient, 1 << 20, 4096);
    let mut total = 0;
    let mut batches = 0;
    loop {
        let b = r.next_batch(100).unwrap();
        if b.is_empty() {
            break;
        }
        assert!(b.len() <= 100);
        for (k, it) in b.iter().enumerate() {
            assert_eq!(it.bytes, format!("{{\"i\":{}}}", total + k).as_bytes());
            assert_eq!(it.line, (total + k) as u64 + 1);
        }
        total += b.len();
        batches += 1;
    }
    assert_eq!(total, 1000);
    assert!(batches >= 10);
}

// ---- properties ----

/// Bytes that exercise the lexer: structure, strings, escapes, whitespace, garbage.
fn tricky_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop::sample::select(&b"{}[]\"\\\n\r \tax:,1\xff"[..]),
        0..200,
    )
}

/// Records a Cloudflare stream holds, with every escape and nesting kind.
fn records() -> impl Strategy<Value = Vec<String>> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<i64>().prop_map(serde_json::Value::from),
        "[a-z\"\\\\{}\\[\\]\n\t\u{e9}\u{1F600}]{0,12}".prop_map(serde_json::Value::from),
    ];
    let value = leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map("[a-z\"{]{1,4}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    });
    prop::collection::vec(
        prop::collection::btree_map("[A-Za-z]{1,8}", value, 0..6)
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect()).to_string()),
        0..8,
    )
}

fn separator() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["", "\n", "\r\n", " ", "\n\n", "\t\r\n "])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Any split of any bytes into chunks gives the same items and error, in both modes, and the
    /// lenient items account for every non-whitespace byte.
    #[test]
    fn chunking_never_changes_the_result(bytes in tricky_bytes(), cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..6), max in 1usize..64) {
        let mut points: Vec<usize> = cuts.iter().map(|c| c.index(bytes.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks: Vec<&[u8]> = Vec::new();
        let mut last = 0;
        for p in points {
            chunks.push(&bytes[last..p]);
            last = p;
        }
        chunks.push(&bytes[last..]);
        for mode in [Mode::Strict, Mode::Lenient] {
            let whole = via_splitter(mode, max, &[&bytes]);
            prop_assert_eq!(&via_splitter(mode, max, &chunks), &whole);
            prop_assert_eq!(&via_reader(mode, max, &bytes, 1 + last % 13), &whole);
            if mode == Mode::Lenient {
                prop_assert!(whole.1.is_none());
                let kept: usize = whole.0.iter().map(|i| i.1.len()).sum();
                prop_assert!(kept <= bytes.len());
                for (kind, text, _, offset) in &whole.0 {
                    prop_assert!(*kind == Kind::Oversize || text.len() <= max);
                    prop_assert!((*offset as usize) < bytes.len());
                }
                // Without oversize skipping, every byte but separators (space, tab, CR, LF) is in
                // an item: nothing is dropped.
                if whole.0.iter().all(|i| i.0 != Kind::Oversize) {
                    let mut covered = vec![false; bytes.len()];
                    for (_, text, _, offset) in &whole.0 {
                        let o = *offset as usize;
                        covered[o..o + text.len()].iter_mut().for_each(|c| *c = true);
                    }
                    for (i, b) in bytes.iter().enumerate() {
                        prop_assert!(covered[i] || b" \t\r\n".contains(b), "byte {} dropped", i);
                    }
                }
            }
        }
    }

}

proptest! {
    // Each case splits the body at every byte position: fewer cases.
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Valid records with any separators, split at every byte position: strict and lenient give
    /// back exactly the records, and the offsets point at them.
    #[test]
    fn records_split_at_every_position_come_back_whole(recs in records(), seps in prop::collection::vec(separator(), 8)) {
        let mut body = String::new();
        for (i, r) in recs.iter().enumerate() {
            body.push_str(seps[i % seps.len()]);
            body.push_str(r);
        }
        body.push_str(seps[recs.len() % seps.len()]);
        let bytes = body.as_bytes();
        for mode in [Mode::Strict, Mode::Lenient] {
            let whole = via_splitter(mode, 1 << 16, &[bytes]);
            prop_assert_eq!(&whole.1, &None);
            let got: Vec<&[u8]> = whole.0.iter().map(|i| i.1.as_slice()).collect();
            prop_assert_eq!(&got, &recs.iter().map(|s| s.as_bytes()).collect::<Vec<_>>());
            for (_, text, _, offset) in &whole.0 {
                prop_assert_eq!(&bytes[*offset as usize..*offset as usize + text.len()], text.as_slice());
            }
            for i in 0..=bytes.len() {
                prop_assert_eq!(&via_splitter(mode, 1 << 16, &[&bytes[..i], &bytes[i..]]), &whole);
            }
        }
    }

    /// A stream of valid records cut anywhere inside a record fails strictly, naming that record.
    #[test]
    fn a_cut_anywhere_inside_a_record_fails_strict(recs in records(), at in any::<prop::sample::Index>()) {
        let body: String = recs.iter().map(|r| format!("{r}\n")).collect();
        prop_assume!(!body.is_empty());
        let cut = at.index(body.len());
        let (items, err) = via_splitter(Mode::Strict, 1 << 16, &[&body.as_bytes()[..cut]]);
        // Records before the cut, and whether the cut is inside one.
        let mut start = 0;
        let mut complete = 0;
        let mut inside = false;
        for r in &recs {
            let end = start + r.len();
            if cut >= end {
                complete += 1;
            } else if cut > start {
                inside = true;
            }
            start = end + 1;
        }
        prop_assert_eq!(items.len(), complete);
        if inside {
            let expect = format!("ended inside object #{} (it starts at byte", complete + 1);
            prop_assert!(err.as_deref().unwrap_or("").contains(&expect), "{:?}", err);
        } else {
            prop_assert_eq!(err, None);
        }
    }
}
