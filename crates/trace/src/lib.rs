//! The bop trace format (version [`FORMAT`]): JSON Lines, one [`Record`] per line.
//!
//! A trace is a [`Header`], then one [`Event`] per observed step as it happens, then a
//! [`Footer`] with the verdict. The [`Writer`] streams records and flushes often, so a trace
//! cut short (bop killed, disk full) is still readable up to its last whole line; the
//! [`Reader`] reads such a trace and says that it is truncated. See `docs/trace-format.md`.

mod data;
mod encode;
pub mod files;
mod reader;
mod record;
mod words;
mod writer;

pub use data::{escape_data, unescape_data};
pub use reader::{read, read_file, ReadError, Trace};
pub use record::{
    Edge, Event, Footer, Header, NodeInfo, NodeOutcome, Record, RuleOutcome, SockInfo, FORMAT,
};
pub use words::count;
pub use writer::Writer;
