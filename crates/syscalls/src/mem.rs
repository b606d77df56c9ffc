//! Bounded reads of tracee memory and the x86_64 layouts of the structures read there
//! (`msghdr`, `mmsghdr`, `iovec`), shared by the decoder and the payload reader.
//!
//! Every helper tolerates NULL, short, wrapping and unmapped pointers: it answers `None` (or
//! an empty list) instead of failing.

use crate::Memory;

/// `sizeof(struct msghdr)`.
pub(crate) const MSGHDR_SIZE: usize = 56;
/// `sizeof(struct mmsghdr)`: a `msghdr`, the `unsigned int msg_len`, padding.
pub(crate) const MMSGHDR_SIZE: usize = 64;
/// The most messages the kernel handles in one `sendmmsg`/`recvmmsg` (`UIO_MAXIOV`).
pub(crate) const MMSG_MAX: usize = 1024;
/// The most `iovec`s the kernel accepts in one call (`UIO_MAXIOV`).
pub(crate) const IOV_MAX: usize = 1024;
/// `sizeof(struct iovec)`: `void *iov_base`, `size_t iov_len`.
pub(crate) const IOVEC_SIZE: usize = 16;

/// Reads exactly `len` bytes at `addr`: `None` for a NULL pointer, a range that wraps, an
/// unreadable range, or a [`Memory`] that returns the wrong number of bytes.
pub(crate) fn read(mem: &mut dyn Memory, addr: u64, len: usize) -> Option<Vec<u8>> {
    if addr == 0 {
        return None;
    }
    addr.checked_add(u64::try_from(len).ok()?)?;
    let bytes = mem.read(addr, len)?;
    (bytes.len() == len).then_some(bytes)
}

/// The `N` bytes at `off` in `bytes`.
pub(crate) fn array_at<const N: usize>(bytes: &[u8], off: usize) -> Option<[u8; N]> {
    bytes.get(off..off.checked_add(N)?)?.try_into().ok()
}

/// The native-endian `u32` at `off` in `bytes`.
pub(crate) fn u32_at(bytes: &[u8], off: usize) -> Option<u32> {
    array_at(bytes, off).map(u32::from_ne_bytes)
}

/// The native-endian `i32` at `off` in `bytes`.
pub(crate) fn i32_at(bytes: &[u8], off: usize) -> Option<i32> {
    array_at(bytes, off).map(i32::from_ne_bytes)
}

/// The native-endian `u64` at `off` in `bytes`.
pub(crate) fn u64_at(bytes: &[u8], off: usize) -> Option<u64> {
    array_at(bytes, off).map(u64::from_ne_bytes)
}

/// The `u32` at `addr` in tracee memory.
pub(crate) fn read_u32(mem: &mut dyn Memory, addr: u64) -> Option<u32> {
    u32_at(&read(mem, addr, 4)?, 0)
}

/// The `i32` at `addr` in tracee memory.
pub(crate) fn read_i32(mem: &mut dyn Memory, addr: u64) -> Option<i32> {
    i32_at(&read(mem, addr, 4)?, 0)
}

/// The fields of a `struct msghdr` bop uses.
#[derive(Debug, Clone, Copy)]
pub(crate) struct MsgHdr {
    /// `msg_name`.
    pub name: u64,
    /// `msg_namelen`.
    pub namelen: u32,
    /// `msg_iov`.
    pub iov: u64,
    /// `msg_iovlen`.
    pub iovlen: u64,
    /// `msg_control`.
    pub control: u64,
    /// `msg_controllen`.
    pub controllen: u64,
}

impl MsgHdr {
    /// Parses the `msghdr` at the start of `b`.
    pub fn parse(b: &[u8]) -> Option<MsgHdr> {
        Some(MsgHdr {
            name: u64_at(b, 0)?,
            namelen: u32_at(b, 8)?,
            iov: u64_at(b, 16)?,
            iovlen: u64_at(b, 24)?,
            control: u64_at(b, 32)?,
            controllen: u64_at(b, 40)?,
        })
    }
}

/// The `struct msghdr` at `addr`.
pub(crate) fn read_msghdr(mem: &mut dyn Memory, addr: u64) -> Option<MsgHdr> {
    MsgHdr::parse(&read(mem, addr, MSGHDR_SIZE)?)
}

/// One `struct mmsghdr`: the header and `msg_len`.
pub(crate) fn parse_mmsg(b: &[u8]) -> Option<(MsgHdr, u32)> {
    Some((MsgHdr::parse(b)?, u32_at(b, MSGHDR_SIZE)?))
}

/// The first `count` (at most [`MMSG_MAX`]) entries of the `struct mmsghdr` array at `addr`,
/// each with its `msg_len`, stopping at the first unreadable one. Empty for a NULL `addr`.
pub(crate) fn read_mmsg_headers(
    mem: &mut dyn Memory,
    addr: u64,
    count: usize,
) -> Vec<(MsgHdr, u32)> {
    let count = count.min(MMSG_MAX);
    if addr == 0 || count == 0 {
        return Vec::new();
    }
    // One read for the whole array; entry by entry if that fails (e.g. a bogus count that
    // runs past the mapping).
    match read(mem, addr, count * MMSGHDR_SIZE) {
        Some(all) => all
            .chunks_exact(MMSGHDR_SIZE)
            .map_while(parse_mmsg)
            .collect(),
        None => (0..count)
            .map_while(|i| {
                let at = addr.checked_add(u64::try_from(i * MMSGHDR_SIZE).ok()?)?;
                parse_mmsg(&read(mem, at, MMSGHDR_SIZE)?)
            })
            .collect(),
    }
}

/// The `(iov_base, iov_len)` pairs of the `count` (at most [`IOV_MAX`]) `struct iovec`s at
/// `addr`; `None` when the array cannot be read. Empty for a zero `count`.
pub(crate) fn read_iovecs(mem: &mut dyn Memory, addr: u64, count: u64) -> Option<Vec<(u64, u64)>> {
    let count = usize::try_from(count).map_or(IOV_MAX, |c| c.min(IOV_MAX));
    if count == 0 {
        return Some(Vec::new());
    }
    let all = read(mem, addr, count * IOVEC_SIZE)?;
    all.chunks_exact(IOVEC_SIZE)
        .map(|c| Some((u64_at(c, 0)?, u64_at(c, 8)?)))
        .collect()
}
