//! The syscall decoder and the fd model, fed any sequence of system calls: raw numbers and
//! arguments, results, tracee memory and kernel answers all come from the fuzzer's bytes. The
//! model may end up believing nonsense (the input is nonsense); it must never panic.
#![no_main]

use bop_model::{Family, Model, Probe, Probed, SockType, Socket, TaskKind};
use bop_syscalls::{decode, Memory, SockAddr};
use libfuzzer_sys::fuzz_target;

/// The fuzzer's bytes, read a few at a time; zeros once they run out.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
    fn u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        let t = self.take(8);
        b[..t.len()].copy_from_slice(t);
        u64::from_le_bytes(b)
    }
    fn u8(&mut self) -> u8 {
        self.take(1).first().copied().unwrap_or(0)
    }
    fn small(&mut self, n: u64) -> u64 {
        self.u8() as u64 % n
    }
}

/// Tracee memory: every read is answered from the fuzzer's bytes, or fails.
struct Mem<'a, 'b>(&'a mut Bytes<'b>);

impl Memory for Mem<'_, '_> {
    fn read(&mut self, _addr: u64, len: usize) -> Option<Vec<u8>> {
        if self.0.u8() % 8 == 0 {
            return None;
        }
        let len = len.min(4096);
        let mut v = self.0.take(len).to_vec();
        v.resize(len, 0);
        Some(v)
    }
}

/// The kernel's answers about fds, from the fuzzer's bytes.
struct Kernel<'a, 'b>(&'a mut Bytes<'b>);

impl Probe for Kernel<'_, '_> {
    fn probe(&mut self, _pid: i32, _fd: i32) -> Option<Probed> {
        let b = &mut self.0;
        let addr = |b: &mut Bytes| -> Option<SockAddr> {
            match b.small(3) {
                0 => None,
                1 => Some(SockAddr::Inet(std::net::SocketAddr::from((
                    [127, 0, 0, 1],
                    b.u8() as u16 + 7000,
                )))),
                _ => Some(SockAddr::Unix(format!("/tmp/s{}", b.small(4)))),
            }
        };
        match b.small(5) {
            0 => None,
            1 => Some(Probed::Other),
            2 => Some(Probed::Pipe {
                id: b.small(6),
                write: b.u8() & 1 == 1,
            }),
            _ => Some(Probed::Socket(Socket {
                id: b.small(8),
                family: match b.small(4) {
                    0 => Family::Inet,
                    1 => Family::Inet6,
                    2 => Family::Unix,
                    _ => Family::Other(16),
                },
                ty: match b.small(3) {
                    0 => SockType::Stream,
                    1 => SockType::Dgram,
                    _ => SockType::Seqpacket,
                },
                local: addr(b),
                peer: addr(b),
                peer_id: (b.u8() & 1 == 1).then(|| b.small(8)),
                listening: b.u8() & 3 == 0,
            })),
        }
    }
}

/// The syscalls the model knows about, and a few it does not.
const NRS: &[i64] = &[
    0, 1, 3, 16, 19, 20, 32, 33, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56,
    57, 58, 59, 62, 72, 200, 202, 231, 232, 234, 257, 288, 290, 292, 293, 299, 307, 435, 436, 999,
];

fuzz_target!(|data: &[u8]| {
    let mut b = Bytes(data);
    let mut m = Model::new();
    m.add_process(100, 0);
    m.add_process(200, 1);
    let tids = [100, 101, 102, 200, 201, 300];
    for _ in 0..256 {
        if b.0.is_empty() {
            break;
        }
        let tid = tids[b.small(tids.len() as u64) as usize];
        match b.small(20) {
            0 => {
                let parent = tids[b.small(tids.len() as u64) as usize];
                let kind = match b.small(3) {
                    0 => TaskKind::Thread,
                    1 => TaskKind::Process { shares_files: false },
                    _ => TaskKind::Process { shares_files: true },
                };
                m.new_task(parent, tid, kind);
            }
            1 => {
                let _ = m.exit(tid);
            }
            2 => m.exec(tid, tids[b.small(tids.len() as u64) as usize]),
            _ => {
                let nr = NRS[b.small(NRS.len() as u64) as usize];
                let mut args = [0u64; 6];
                for a in &mut args {
                    *a = match b.small(4) {
                        0 => b.small(16),
                        1 => b.u64(),
                        2 => 0x7fff_0000 + b.small(256),
                        _ => u64::MAX - b.small(4),
                    };
                }
                let ret = match b.small(4) {
                    0 => None,
                    1 => Some(-(b.small(140) as i64)),
                    2 => Some(b.small(64) as i64),
                    _ => Some(b.u64() as i64),
                };
                let sc = decode(nr, args, ret, &mut Mem(&mut b));
                let _ = m.apply(tid, &sc, &mut Kernel(&mut b));
            }
        }
    }
});
