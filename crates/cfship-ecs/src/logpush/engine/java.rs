//! Java's `hashCode` and `HashSet` iteration order, for Painless scripts that build sets.

use super::*;

/// Java's `hashCode` of a value as a `HashSet` element: `String` (UTF-16 units), `Integer`,
/// `Long`, `Double`, `Boolean`; lists, maps and big integers (never set elements in these
/// pipelines) get a stand-in.
pub fn java_hash_code(v: &Val<'_>) -> i32 {
    match v {
        Val::Str(s) => s
            .encode_utf16()
            .fold(0i32, |h, u| h.wrapping_mul(31).wrapping_add(i32::from(u))),
        Val::I64(i) => match i32::try_from(*i) {
            Ok(n) => n,
            Err(_) => {
                let u = *i as u64;
                (u ^ (u >> 32)) as i32
            }
        },
        // A BigInteger's hash differs; such values are not hashes or host names.
        Val::U64(u) => (*u ^ (*u >> 32)) as i32,
        Val::F64(f) => {
            let b = f.to_bits();
            (b ^ (b >> 32)) as i32
        }
        Val::Bool(b) => {
            if *b {
                1231
            } else {
                1237
            }
        }
        _ => 0,
    }
}

/// The iteration order of a `java.util.HashSet` filled with `values` in order: duplicates dropped,
/// then the elements by bucket (`(h ^ h >>> 16) & (capacity - 1)`, capacity 16 doubled while the
/// size exceeds 3/4 of it), insertion order within a bucket.
pub fn java_hash_set_order(values: Vec<Val<'_>>) -> Vec<Val<'_>> {
    let mut distinct: Vec<Val<'_>> = Vec::with_capacity(values.len());
    for v in values {
        if !distinct.contains(&v) {
            distinct.push(v);
        }
    }
    let mut cap: usize = 16;
    while distinct.len() * 4 > cap * 3 {
        cap *= 2;
    }
    let bucket = |v: &Val<'_>| {
        let h = java_hash_code(v) as u32;
        ((h ^ (h >> 16)) as usize) & (cap - 1)
    };
    distinct.sort_by_key(|v| bucket(v));
    distinct
}
