//! The audit: what a cluster already holds, checked with the admission rules
//! (admission sees only new writes). `secretgate audit` runs one pass over
//! snapshot files or the live cluster; `serve` runs one every interval in the
//! replica holding the audit Lease and writes PolicyReports.
//!
//! - [`scan`]: the pass itself, pure (objects in, findings out);
//! - [`object`]: the objects it checks, typed;
//! - [`files`], [`live`]: where objects come from (streamed files, paged lists);
//! - [`reports`] (pure) and [`publish`]: findings as PolicyReports, written;
//! - [`output`]: the CLI's text and JSON;
//! - [`runner`]: the server's loop (Lease, interval, metrics).

pub mod files;
pub mod live;
pub mod object;
pub mod output;
pub mod publish;
pub mod reports;
pub mod runner;
pub mod scan;
