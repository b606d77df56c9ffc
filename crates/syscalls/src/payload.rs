//! The bytes a byte-moving call sent or received, read from the tracee's memory.
//!
//! Call these at the exit stop of a successful call: a receive's buffers then hold what it
//! received, a send's buffers still hold what it sent (unless another thread of the tracee
//! rewrote them meanwhile, which bop cannot see).

use crate::mem::{read, read_iovecs, read_mmsg_headers, read_msghdr};
use crate::Memory;

/// The first `min(ret, max)` bytes that call `nr` with arguments `args` moved, when it
/// returned `ret > 0`:
///
/// - `write`, `pwrite64`, `sendto` (`send`): the buffer `args[1]`;
/// - `read`, `pread64`, `recvfrom` (`recv`): the buffer `args[1]`, as the call filled it;
/// - `writev`, `readv`, `pwritev`, `preadv`, `pwritev2`, `preadv2`: the `iovec` array
///   `args[1]` of `args[2]` entries, walked in order;
/// - `sendmsg`, `recvmsg`: the `iovec`s of the `msghdr` at `args[1]`.
///
/// Never more than the buffers hold: a receive with `MSG_TRUNC` may return more than it
/// stored, and then the payload is what was stored. At most 1024 `iovec`s are read (the
/// kernel's `UIO_MAXIOV`).
///
/// `None` for a failed or zero-byte call, for calls that move no bytes through memory (and
/// for `sendmmsg`/`recvmmsg`: see [`mmsg_payloads`]), and when a needed pointer is NULL or
/// any needed byte cannot be read. A `max` of 0 gives an empty payload without reading.
pub fn payload(
    nr: i64,
    args: [u64; 6],
    ret: i64,
    mem: &mut dyn Memory,
    max: usize,
) -> Option<Vec<u8>> {
    let moved = usize::try_from(ret).ok().filter(|n| *n > 0)?;
    let want = moved.min(max);
    match nr {
        libc::SYS_write
        | libc::SYS_pwrite64
        | libc::SYS_sendto
        | libc::SYS_read
        | libc::SYS_pread64
        | libc::SYS_recvfrom => {
            // The buffer's length bounds what it holds (`recvfrom` with MSG_TRUNC returns
            // the datagram's full length).
            let len = usize::try_from(args[2]).unwrap_or(usize::MAX);
            read_buf(mem, args[1], want.min(len))
        }
        libc::SYS_writev
        | libc::SYS_readv
        | libc::SYS_pwritev
        | libc::SYS_preadv
        | libc::SYS_pwritev2
        | libc::SYS_preadv2 => gather(mem, args[1], args[2], want),
        libc::SYS_sendmsg | libc::SYS_recvmsg => {
            if want == 0 {
                return Some(Vec::new());
            }
            let h = read_msghdr(mem, args[1])?;
            gather(mem, h.iov, h.iovlen, want)
        }
        _ => None,
    }
}

/// The payload of each message of a successful `sendmmsg`/`recvmmsg` (`ret` messages, at
/// most 1024): the first `min(msg_len, max)` bytes of the message's `iovec`s, as for
/// `sendmsg`/`recvmsg` in [`payload`].
///
/// One entry per message moved, in order; an entry is `None` when the message moved no
/// bytes or its header or buffers cannot be read. Empty for other calls and failures.
pub fn mmsg_payloads(
    nr: i64,
    args: [u64; 6],
    ret: i64,
    mem: &mut dyn Memory,
    max: usize,
) -> Vec<Option<Vec<u8>>> {
    if nr != libc::SYS_sendmmsg && nr != libc::SYS_recvmmsg {
        return Vec::new();
    }
    let Ok(count) = usize::try_from(ret) else {
        return Vec::new();
    };
    let mut out: Vec<Option<Vec<u8>>> = read_mmsg_headers(mem, args[1], count)
        .into_iter()
        .map(|(h, msg_len)| {
            let moved = usize::try_from(msg_len).ok().filter(|n| *n > 0)?;
            gather(mem, h.iov, h.iovlen, moved.min(max))
        })
        .collect();
    // Messages past the first unreadable header are unreadable too.
    out.resize(count.min(crate::mem::MMSG_MAX), None);
    out
}

/// The `want` bytes at `addr`; empty without reading when `want` is 0.
fn read_buf(mem: &mut dyn Memory, addr: u64, want: usize) -> Option<Vec<u8>> {
    if want == 0 {
        return Some(Vec::new());
    }
    read(mem, addr, want)
}

/// Up to `want` bytes from the `count` `iovec`s at `iov`, in order: fewer when the buffers
/// hold fewer. `None` when the array or a needed buffer cannot be read.
fn gather(mem: &mut dyn Memory, iov: u64, count: u64, want: usize) -> Option<Vec<u8>> {
    if want == 0 {
        return Some(Vec::new());
    }
    let mut out = Vec::with_capacity(want.min(1 << 16));
    for (base, len) in read_iovecs(mem, iov, count)? {
        let left = want - out.len();
        if left == 0 {
            break;
        }
        let take = usize::try_from(len).map_or(left, |l| l.min(left));
        if take > 0 {
            out.extend(read(mem, base, take)?);
        }
    }
    Some(out)
}

/// How many bytes a send-like call asks to send, read at its entry: the length argument of
/// write/pwrite64/sendto, the sum of the iovecs of writev/pwritev/pwritev2/sendmsg, the count
/// of sendfile/splice. `None` for other calls or unreadable memory. A dropped send returns this,
/// so the program sees its whole message "sent".
pub fn requested_len(nr: i64, args: [u64; 6], mem: &mut dyn Memory) -> Option<u64> {
    let iov_sum = |mem: &mut dyn Memory, iov: u64, count: u64| -> Option<u64> {
        let v = crate::mem::read_iovecs(mem, iov, count)?;
        Some(
            v.iter()
                .map(|&(_, len)| len)
                .fold(0u64, u64::saturating_add),
        )
    };
    match nr {
        libc::SYS_write | libc::SYS_pwrite64 | libc::SYS_sendto => Some(args[2]),
        libc::SYS_writev | libc::SYS_pwritev | libc::SYS_pwritev2 => iov_sum(mem, args[1], args[2]),
        libc::SYS_sendmsg => {
            let h = crate::mem::read_msghdr(mem, args[1])?;
            iov_sum(mem, h.iov, h.iovlen)
        }
        libc::SYS_sendfile => Some(args[3]),
        libc::SYS_splice => Some(args[4]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tests::FakeMem;

    const BUF: u64 = 0x1000;
    const IOV: u64 = 0x2000;
    const HDR: u64 = 0x3000;

    fn args(a: &[u64]) -> [u64; 6] {
        let mut r = [0u64; 6];
        r[..a.len()].copy_from_slice(a);
        r
    }

    /// A `struct iovec` array.
    fn iovecs(v: &[(u64, u64)]) -> Vec<u8> {
        v.iter()
            .flat_map(|(b, l)| b.to_ne_bytes().into_iter().chain(l.to_ne_bytes()))
            .collect()
    }

    /// A `struct msghdr` with only `msg_iov` and `msg_iovlen` set.
    fn msghdr(iov: u64, iovlen: u64) -> Vec<u8> {
        let mut b = vec![0u8; 56];
        b[16..24].copy_from_slice(&iov.to_ne_bytes());
        b[24..32].copy_from_slice(&iovlen.to_ne_bytes());
        b
    }

    /// A `struct mmsghdr`.
    fn mmsghdr(iov: u64, iovlen: u64, msg_len: u32) -> Vec<u8> {
        let mut b = msghdr(iov, iovlen);
        b.extend(msg_len.to_ne_bytes());
        b.extend([0u8; 4]);
        b
    }

    /// Three buffers, "hello " / "big " / "world", at 0x10000, 0x20000, 0x30000, and an
    /// iovec array pointing at them at [`IOV`].
    fn split_mem() -> FakeMem {
        let mut m = FakeMem::new();
        m.put(0x10000, b"hello ")
            .put(0x20000, b"big ")
            .put(0x30000, b"world")
            .put(
                IOV,
                &iovecs(&[(0x10000, 6), (0, 0), (0x20000, 4), (0x30000, 5)]),
            );
        m
    }

    #[test]
    fn plain_buffers() {
        let mut m = FakeMem::new();
        m.put(BUF, b"0123456789");
        for nr in [
            libc::SYS_write,
            libc::SYS_pwrite64,
            libc::SYS_sendto,
            libc::SYS_read,
            libc::SYS_pread64,
            libc::SYS_recvfrom,
        ] {
            let a = args(&[3, BUF, 10]);
            assert_eq!(
                payload(nr, a, 10, &mut m, 4096).as_deref(),
                Some(&b"0123456789"[..])
            );
            // a short transfer: only what moved
            assert_eq!(
                payload(nr, a, 4, &mut m, 4096).as_deref(),
                Some(&b"0123"[..])
            );
            // the cap
            assert_eq!(payload(nr, a, 10, &mut m, 3).as_deref(), Some(&b"012"[..]));
            assert_eq!(payload(nr, a, 10, &mut m, 0), Some(Vec::new()));
            // failures and zero-byte calls
            assert_eq!(payload(nr, a, 0, &mut m, 4096), None);
            assert_eq!(payload(nr, a, -11, &mut m, 4096), None);
        }
    }

    #[test]
    fn recvfrom_truncated_datagram_reads_only_the_buffer() {
        let mut m = FakeMem::new();
        m.put(BUF, b"abcd");
        // MSG_TRUNC: 100-byte datagram, 4-byte buffer
        let a = args(&[3, BUF, 4, libc::MSG_TRUNC as u64]);
        assert_eq!(
            payload(libc::SYS_recvfrom, a, 100, &mut m, 4096).as_deref(),
            Some(&b"abcd"[..])
        );
    }

    #[test]
    fn vectored_calls_walk_iovecs_in_order() {
        let mut m = split_mem();
        for nr in [
            libc::SYS_writev,
            libc::SYS_readv,
            libc::SYS_pwritev,
            libc::SYS_preadv,
            libc::SYS_pwritev2,
            libc::SYS_preadv2,
        ] {
            let a = args(&[3, IOV, 4]);
            assert_eq!(
                payload(nr, a, 15, &mut m, 4096).as_deref(),
                Some(&b"hello big world"[..])
            );
            // a partial transfer stops inside the third buffer
            assert_eq!(
                payload(nr, a, 8, &mut m, 4096).as_deref(),
                Some(&b"hello bi"[..])
            );
            // the cap, inside the first buffer and exactly at a boundary
            assert_eq!(payload(nr, a, 15, &mut m, 2).as_deref(), Some(&b"he"[..]));
            assert_eq!(
                payload(nr, a, 15, &mut m, 10).as_deref(),
                Some(&b"hello big "[..])
            );
            // fewer iovecs than the array holds
            assert_eq!(
                payload(nr, args(&[3, IOV, 1]), 15, &mut m, 4096).as_deref(),
                Some(&b"hello "[..])
            );
            assert_eq!(payload(nr, a, -14, &mut m, 4096), None);
        }
    }

    #[test]
    fn iovec_count_is_capped() {
        // 2000 one-byte iovecs over one buffer: only the first 1024 are read.
        let mut m = FakeMem::new();
        let data = vec![b'x'; 2000];
        let iov: Vec<(u64, u64)> = (0..2000).map(|i| (BUF + i, 1)).collect();
        m.put(BUF, &data).put(0x100000, &iovecs(&iov));
        let p = payload(
            libc::SYS_writev,
            args(&[3, 0x100000, 2000]),
            2000,
            &mut m,
            1 << 20,
        );
        assert_eq!(p.map(|p| p.len()), Some(1024));
        // a huge count is read as 1024 iovecs
        let p = payload(
            libc::SYS_writev,
            args(&[3, 0x100000, u64::MAX]),
            5,
            &mut m,
            4096,
        );
        assert_eq!(p.as_deref(), Some(&b"xxxxx"[..]));
    }

    #[test]
    fn sendmsg_and_recvmsg() {
        let mut m = split_mem();
        m.put(HDR, &msghdr(IOV, 4));
        for nr in [libc::SYS_sendmsg, libc::SYS_recvmsg] {
            let a = args(&[3, HDR, 0]);
            assert_eq!(
                payload(nr, a, 15, &mut m, 4096).as_deref(),
                Some(&b"hello big world"[..])
            );
            assert_eq!(
                payload(nr, a, 11, &mut m, 4096).as_deref(),
                Some(&b"hello big w"[..])
            );
            assert_eq!(
                payload(nr, a, 15, &mut m, 7).as_deref(),
                Some(&b"hello b"[..])
            );
            // recvmsg with MSG_TRUNC: more than the buffers hold
            assert_eq!(
                payload(nr, a, 1000, &mut m, 4096).as_deref(),
                Some(&b"hello big world"[..])
            );
            assert_eq!(payload(nr, a, 0, &mut m, 4096), None);
        }
    }

    #[test]
    fn mmsg_one_payload_per_message() {
        let mut m = split_mem();
        m.put(0x40000, b"second")
            .put(IOV + 0x100, &iovecs(&[(0x40000, 6)]));
        let mut hdrs = mmsghdr(IOV, 4, 15);
        hdrs.extend(mmsghdr(IOV + 0x100, 1, 3));
        hdrs.extend(mmsghdr(IOV + 0x100, 1, 0));
        hdrs.extend(mmsghdr(0xdead_0000, 1, 5)); // unmapped iovecs
        m.put(HDR, &hdrs);
        for nr in [libc::SYS_sendmmsg, libc::SYS_recvmmsg] {
            let a = args(&[3, HDR, 4]);
            assert_eq!(
                mmsg_payloads(nr, a, 4, &mut m, 4096),
                vec![
                    Some(b"hello big world".to_vec()),
                    Some(b"sec".to_vec()),
                    None,
                    None
                ]
            );
            // only the messages moved; the cap applies to each
            assert_eq!(
                mmsg_payloads(nr, a, 2, &mut m, 5),
                vec![Some(b"hello".to_vec()), Some(b"sec".to_vec())]
            );
            // more messages than headers mapped: the rest are None
            assert_eq!(mmsg_payloads(nr, a, 6, &mut m, 4096).len(), 6);
            assert_eq!(mmsg_payloads(nr, a, 6, &mut m, 4096)[5], None);
            assert!(mmsg_payloads(nr, a, 0, &mut m, 4096).is_empty());
            assert!(mmsg_payloads(nr, a, -11, &mut m, 4096).is_empty());
            assert_eq!(mmsg_payloads(nr, a, 5000, &mut m, 4096).len(), 1024);
            // payload() leaves the mmsg calls to mmsg_payloads
            assert_eq!(payload(nr, a, 4, &mut m, 4096), None);
        }
        // mmsg_payloads is for the mmsg calls only
        assert!(mmsg_payloads(libc::SYS_sendmsg, args(&[3, HDR]), 4, &mut m, 64).is_empty());
        assert!(
            mmsg_payloads(libc::SYS_recvmmsg, args(&[3, 0]), 2, &mut m, 64)
                .iter()
                .all(Option::is_none)
        );
    }

    #[test]
    fn null_and_unmapped_give_none() {
        let mut m = split_mem();
        m.put(HDR, &msghdr(0, 4))
            .put(HDR + 0x100, &msghdr(0xdead_0000, 1));
        m.put(
            0x50000,
            &iovecs(&[(0x10000, 6), (0xdead_0000, 4), (0x30000, 5)]),
        );
        for nr in [
            libc::SYS_write,
            libc::SYS_read,
            libc::SYS_sendto,
            libc::SYS_recvfrom,
        ] {
            assert_eq!(payload(nr, args(&[3, 0, 10]), 10, &mut m, 64), None);
            assert_eq!(
                payload(nr, args(&[3, 0xdead_0000, 10]), 10, &mut m, 64),
                None
            );
            // a buffer that ends before the moved count
            assert_eq!(payload(nr, args(&[3, 0x10000, 10]), 10, &mut m, 64), None);
            // a buffer that wraps the address space
            assert_eq!(
                payload(nr, args(&[3, u64::MAX - 2, 10]), 10, &mut m, 64),
                None
            );
        }
        for nr in [libc::SYS_writev, libc::SYS_readv] {
            assert_eq!(payload(nr, args(&[3, 0, 4]), 15, &mut m, 64), None);
            assert_eq!(
                payload(nr, args(&[3, 0xdead_0000, 4]), 15, &mut m, 64),
                None
            );
            // an unmapped buffer among the iovecs
            assert_eq!(payload(nr, args(&[3, 0x50000, 3]), 15, &mut m, 64), None);
            // …unless the transfer ended before it
            assert_eq!(
                payload(nr, args(&[3, 0x50000, 3]), 6, &mut m, 64).as_deref(),
                Some(&b"hello "[..])
            );
        }
        for nr in [libc::SYS_sendmsg, libc::SYS_recvmsg] {
            assert_eq!(payload(nr, args(&[3, 0]), 15, &mut m, 64), None);
            assert_eq!(payload(nr, args(&[3, 0xdead_0000]), 15, &mut m, 64), None);
            assert_eq!(payload(nr, args(&[3, HDR]), 15, &mut m, 64), None);
            assert_eq!(payload(nr, args(&[3, HDR + 0x100]), 15, &mut m, 64), None);
        }
        // calls that move no bytes through memory
        for nr in [
            libc::SYS_sendfile,
            libc::SYS_splice,
            libc::SYS_connect,
            99_999,
        ] {
            assert_eq!(payload(nr, args(&[3, BUF, 10]), 10, &mut m, 64), None);
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut m = split_mem();
        let vals = [0, 1, 7, IOV, HDR, 0x10000, u64::MAX, u64::MAX / 2, 1 << 40];
        let nrs = [
            libc::SYS_write,
            libc::SYS_readv,
            libc::SYS_sendmsg,
            libc::SYS_recvmmsg,
        ];
        for nr in nrs {
            for &a1 in &vals {
                for &a2 in &vals {
                    for ret in [1, 15, i64::MAX, -1] {
                        let a = args(&[3, a1, a2]);
                        let _ = payload(nr, a, ret, &mut m, 64);
                        let _ = mmsg_payloads(nr, a, ret.min(3000), &mut m, 64);
                    }
                }
            }
        }
    }
}
