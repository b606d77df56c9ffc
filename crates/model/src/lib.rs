//! What the traced system's syscalls mean: processes and their nodes, fd tables, sockets and
//! pipes.
//!
//! The [`Model`] is fed decoded syscalls ([`bop_syscalls::Syscall`]) and process events (new
//! task, exec, exit) in the order the tracer sees them, and keeps for every process its node
//! and its fd table (shared between `CLONE_FILES` tasks, copied on fork, close-on-exec honoured
//! on exec). What an fd refers to is learned from the tracer side through the [`Probe`] trait
//! (e.g. `pidfd_getfd` + `getsockname`), only when the model cannot know it from the calls it
//! saw. The model is pure: unit tests feed it synthetic calls and a fake probe.

mod fds;
mod model;
#[cfg(test)]
mod tests;

pub use fds::{Family, Object, SockType, Socket};
pub use model::{Applied, Model, Probe, Probed, TaskKind};
