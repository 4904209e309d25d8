//! Standard output for command results, and the one rule about it: a closed stdout
//! (`cfship check | head -2`) ends the command quietly instead of panicking or printing
//! "Broken pipe".

use std::io::{self, BufWriter, StdoutLock};

/// A buffered, locked stdout. Write with `writeln!` and propagate the error: `main` turns a
/// broken pipe into a quiet, successful exit.
pub fn stdout() -> BufWriter<StdoutLock<'static>> {
    BufWriter::new(io::stdout().lock())
}

/// Whether any error in the chain is an I/O error of kind `BrokenPipe`.
pub fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        cause
            .downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
            || cause
                .downcast_ref::<serde_json::Error>()
                .and_then(|j| j.io_error_kind())
                .is_some_and(|k| k == io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn broken_pipe_is_found_under_context() {
        let e: anyhow::Error = Err::<(), _>(io::Error::from(io::ErrorKind::BrokenPipe))
            .context("writing output")
            .unwrap_err();
        assert!(is_broken_pipe(&e));
        let other: anyhow::Error = Err::<(), _>(io::Error::from(io::ErrorKind::NotFound))
            .context("reading input")
            .unwrap_err();
        assert!(!is_broken_pipe(&other));
    }
}
