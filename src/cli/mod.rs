//! Command-line entry points, one module per subcommand.

pub mod transform;
