//! Which fds a call moves bytes through, read from its registers alone (no memory): what a
//! backend needs at a call's entry to keep calls on one stream from overlapping.

/// The fds a call takes bytes out of (`recv`) and puts bytes into (`send`), as far as the
/// registers say. Whether an fd is a stream is the caller's to find out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Moves {
    /// The fd bytes are read from.
    pub recv: Option<i32>,
    /// The fd bytes are written to.
    pub send: Option<i32>,
}

/// [`Moves`] of syscall `nr` with arguments `args`: the same fds [`crate::decode`] gives its
/// `Recv`, `Send`, `RecvMmsg`, `SendMmsg`, `Sendfile` and `Splice` calls (a test holds them
/// to it). A `splice` moves bytes out of `fd_in` and into `fd_out`.
pub fn moves(nr: i64, args: [u64; 6]) -> Moves {
    let fd = |i: usize| i32::try_from(args[i] as i64).ok();
    match nr {
        libc::SYS_read
        | libc::SYS_readv
        | libc::SYS_pread64
        | libc::SYS_preadv
        | libc::SYS_preadv2
        | libc::SYS_recvfrom
        | libc::SYS_recvmsg
        | libc::SYS_recvmmsg => Moves {
            recv: fd(0),
            send: None,
        },
        libc::SYS_write
        | libc::SYS_writev
        | libc::SYS_pwrite64
        | libc::SYS_pwritev
        | libc::SYS_pwritev2
        | libc::SYS_sendto
        | libc::SYS_sendmsg
        | libc::SYS_sendmmsg
        | libc::SYS_sendfile => Moves {
            recv: None,
            send: fd(0),
        },
        libc::SYS_splice => Moves {
            recv: fd(0),
            send: fd(2),
        },
        _ => Moves::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{decode, Call, Memory, TRACED};

    struct NoMemory;
    impl Memory for NoMemory {
        fn read(&mut self, _: u64, _: usize) -> Option<Vec<u8>> {
            None
        }
    }

    #[test]
    fn every_traced_call_moves_bytes_through_the_fds_decode_gives_it() {
        let args = [3, 0, 16, 5, 0, 0];
        for &nr in TRACED {
            let m = moves(nr, args);
            let want = match decode(nr, args, None, &mut NoMemory).call {
                Call::Recv { fd, .. } | Call::RecvMmsg { fd, .. } => Moves {
                    recv: Some(fd),
                    send: None,
                },
                Call::Send { fd, .. } | Call::SendMmsg { fd, .. } => Moves {
                    recv: None,
                    send: Some(fd),
                },
                Call::Sendfile { out_fd, .. } => Moves {
                    recv: None,
                    send: Some(out_fd),
                },
                Call::Splice { fd_in, fd_out, .. } => Moves {
                    recv: Some(fd_in),
                    send: Some(fd_out),
                },
                _ => Moves::default(),
            };
            assert_eq!(m, want, "{}", crate::name(nr));
        }
    }
}
