//! Command-line entry points, one module per subcommand.

pub mod backfill;
pub mod check;
pub mod demo;
pub mod logpush;
pub mod run;
pub mod setup;
pub mod simulate;
pub mod status;
pub mod transform;
