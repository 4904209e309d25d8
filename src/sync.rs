//! Small helpers shared by the binary's modules.

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, recovering the data if a holder panicked (every critical section here leaves the
/// data consistent, so a poisoned lock carries no broken invariant).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Milliseconds since the Unix epoch (`event.ingested` of the documents made now).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
