//! Reading tracee memory with one `process_vm_readv` per read.

use bop_syscalls::Memory;

/// Reads up to this many bytes in one request; larger requests are refused (`None`).
pub const MAX_READ: usize = 1 << 20;

/// The memory of one tracee (any thread id of the process works).
#[derive(Debug, Clone, Copy)]
pub struct TraceeMemory {
    /// The thread (or process) whose address space is read.
    pub tid: i32,
}

impl Memory for TraceeMemory {
    fn read(&mut self, addr: u64, len: usize) -> Option<Vec<u8>> {
        if addr == 0 || len > MAX_READ {
            return None;
        }
        if len == 0 {
            return Some(Vec::new());
        }
        let mut buf = vec![0u8; len];
        let local = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: len,
        };
        let remote = libc::iovec {
            iov_base: addr as *mut libc::c_void,
            iov_len: len,
        };
        // SAFETY: `local` points at `buf`, which is `len` bytes long and outlives the call.
        let n = unsafe { libc::process_vm_readv(self.tid, &local, 1, &remote, 1, 0) };
        (n == len as isize).then_some(buf)
    }
}
