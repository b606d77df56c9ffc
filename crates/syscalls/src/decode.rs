//! Decoding raw syscall registers (and tracee memory) into [`Call`]s.

use crate::{table, Call, Memory, Syscall};

/// Decodes syscall `nr` with argument registers `args`. `ret` is the raw return value at the
/// exit stop (`None` at the entry stop: outputs stay unread). Never fails: unreadable memory
/// leaves fields empty.
pub fn decode(nr: i64, args: [u64; 6], ret: Option<i64>, _mem: &mut dyn Memory) -> Syscall {
    Syscall {
        nr,
        name: table::name(nr),
        call: Call::Other { args },
        ret,
    }
}
