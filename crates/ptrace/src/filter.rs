//! The seccomp-BPF filter that makes only the syscalls bop traces stop the tracee.

/// `SECCOMP_RET_ALLOW`: run the syscall untraced.
const RET_ALLOW: u32 = 0x7fff_0000;
/// `SECCOMP_RET_TRACE`: stop the tracee with `PTRACE_EVENT_SECCOMP`.
const RET_TRACE: u32 = 0x7ff0_0000;
/// `AUDIT_ARCH_X86_64`.
const ARCH_X86_64: u32 = 0xc000_003e;
/// Syscall numbers at or above this bit belong to the x32 ABI.
const X32_BIT: u32 = 0x4000_0000;

const BPF_LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
const BPF_JEQ_K: u16 = (libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K) as u16;
const BPF_JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
const BPF_RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

/// Builds the filter program: `RET_TRACE` for each syscall in `traced`, `RET_ALLOW` for the
/// rest. Calls made through another ABI (i386 `int 0x80`, x32) are all traced, so that the
/// backend sees them and can say it does not decode them, rather than missing them silently.
pub fn build(traced: &[i64]) -> Vec<libc::sock_filter> {
    // offsets in struct seccomp_data: nr at 0, arch at 4
    let n = traced.len();
    let mut prog = vec![
        stmt(BPF_LD_W_ABS, 4),
        // arch != x86_64 -> trace
        jump(BPF_JEQ_K, ARCH_X86_64, 1, 0),
        stmt(BPF_RET_K, RET_TRACE),
        stmt(BPF_LD_W_ABS, 0),
        // x32 -> trace
        jump(BPF_JGE_K, X32_BIT, 0, 1),
        stmt(BPF_RET_K, RET_TRACE),
    ];
    for (i, &nr) in traced.iter().enumerate() {
        // on match jump to the RET_TRACE after the RET_ALLOW: skip the remaining n-1-i compares + allow
        let to_trace = (n - 1 - i + 1) as u8;
        prog.push(jump(BPF_JEQ_K, nr as u32, to_trace, 0));
    }
    prog.push(stmt(BPF_RET_K, RET_ALLOW));
    prog.push(stmt(BPF_RET_K, RET_TRACE));
    prog
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tiny interpreter for the instructions `build` emits, to check the jumps.
    fn run(prog: &[libc::sock_filter], arch: u32, nr: u32) -> u32 {
        let mut pc = 0;
        let mut acc = 0u32;
        loop {
            let ins = prog[pc];
            match ins.code {
                BPF_LD_W_ABS => acc = if ins.k == 0 { nr } else { arch },
                BPF_JEQ_K | BPF_JGE_K => {
                    let hit = if ins.code == BPF_JEQ_K {
                        acc == ins.k
                    } else {
                        acc >= ins.k
                    };
                    pc += if hit { ins.jt } else { ins.jf } as usize;
                }
                BPF_RET_K => return ins.k,
                c => panic!("unexpected opcode {c}"),
            }
            pc += 1;
        }
    }

    #[test]
    fn traces_exactly_the_listed_calls() {
        let traced = [0i64, 1, 42, 43, 288];
        let prog = build(&traced);
        assert!(prog.len() < 256, "jump offsets fit in u8");
        for nr in 0..500u32 {
            let want = if traced.contains(&(nr as i64)) {
                RET_TRACE
            } else {
                RET_ALLOW
            };
            assert_eq!(run(&prog, ARCH_X86_64, nr), want, "nr {nr}");
        }
        assert_eq!(run(&prog, 0x4000_0003, 3), RET_TRACE, "i386 is traced");
        assert_eq!(
            run(&prog, ARCH_X86_64, X32_BIT | 1),
            RET_TRACE,
            "x32 is traced"
        );
    }
}
