//! Prints a few simulated records (Logpull with every known field, audit v1 and v2) for eyeballing.
//!
//! ```text
//! cargo run -p cfship-cloudflare-sim --example sim_peek
//! ```

use cfship_cloudflare_sim::data::{
    audit_events, audit_v1_json, audit_v2_json, for_each_record, write_record, TimestampFormat,
    KNOWN_FIELDS,
};

fn main() {
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
    let mut n = 0;
    for_each_record(1, "zone", 30, now - 3_600_000_000_000, now, |t, h| {
        if n < 2 {
            let mut out = Vec::new();
            write_record(
                &mut out,
                "zone",
                t,
                h,
                KNOWN_FIELDS,
                TimestampFormat::UnixNano,
            );
            println!("{}", String::from_utf8_lossy(&out));
        }
        n += 1;
    });
    let us = now / 1000;
    for e in audit_events(1, "acct", 30, us - 3_600_000_000, us)
        .iter()
        .take(2)
    {
        println!("{}", audit_v1_json(1, "acct", e));
        println!("{}", audit_v2_json(1, "acct", e));
    }
}
