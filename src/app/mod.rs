//! Turning a configuration into running parts: [`wiring`] builds the Cloudflare client, the
//! collector configurations, the outputs and the pipeline, and spawns the sources, the same way for
//! `run`, `backfill`, `demo` and `check`; [`signals`] is what SIGINT / SIGTERM do.

pub mod balance;
pub mod logpush;
pub mod logpush_jobs;
pub mod signals;
pub mod wiring;
