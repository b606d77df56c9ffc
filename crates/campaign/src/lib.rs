#![warn(missing_docs)]
//! Campaigns over many runs of a system, above `bop run` (each run is a `bop run` process, so
//! nothing here traces or touches a tracee):
//!
//! - [`lineage`]: a run's trace as a graph of messages and its oracle's outcome, and the faults
//!   that could cut its supports;
//! - [`fingerprint`]: the abstraction of a run into the symbols executions are compared by, at a
//!   [`fingerprint::Level`], and where two runs part;
//! - [`census`]: runs a system many times without faults and counts its classes of executions;
//! - [`follow`]: compares a live run with recorded classes event by event (used by `bop run
//!   --follow`);
//! - [`hitting`]: the hitting sets LDFI picks its next fault sets from;
//! - [`explore`]: the fault search (`bop explore`) and its reports.

pub mod census;
pub mod explore;
pub mod fingerprint;
pub mod follow;
pub mod hitting;
pub mod lineage;
