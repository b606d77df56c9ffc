//! The ptrace + seccomp-BPF backend.
//!
//! [`Tracer`] launches programs with a seccomp filter installed before `execve` (so only the
//! syscalls in [`bop_syscalls::TRACED`] stop them), follows every thread and child they create,
//! and hands out [`Stop`]s: syscall entries and exits, new tasks, execs, signals and exits.
//! A stopped tracee stays stopped until [`Tracer::resume`] says how to go on, so the layers
//! above decide synchronously (let the call run, watch its result, or fail it with an errno).
//!
//! One thread owns a `Tracer`: every ptrace call must come from the thread that attached the
//! tracee. Call [`block_signals`] first thing in `main`, before any other thread starts, so that
//! SIGCHLD, SIGINT, SIGTERM and SIGHUP are only ever received by the tracer's wait. Every
//! program bop starts, traced or not, gets them back ([`children`]).
//!
//! This crate knows nothing of sockets, nodes or faults.

pub mod children;
mod filter;
mod launch;
mod memory;
pub mod signals;
mod tracer;
mod waker;

pub use children::{clean_signals, wait_child, OnSignal, Waited};
pub use filter::build as build_filter;
pub use launch::{Spawn, SpawnError};
pub use memory::TraceeMemory;
pub use signals::{
    block_signals, sigset, take_interrupt, take_signal, unblock_signals, STOP_SIGNALS,
};
pub use tracer::{Action, Exit, Stop, TaskKind, Tracer};
