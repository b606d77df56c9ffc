//! Graphviz's drawing of a trace (`bop export --format svg --layout graphviz`): `dot -Tsvg` run
//! as a child that starts with a clean signal state and that Ctrl-C (or SIGTERM, SIGHUP)
//! stops, with bop, at once.

use std::fmt;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use bop_ptrace::{OnSignal, Waited};

/// From this many events on, Graphviz's layout takes long (its time grows much faster than the
/// graph: a few seconds for 600 events, half a minute for 1,500, many minutes for 4,000), and
/// bop says so before it starts.
pub const SLOW_EVENTS: usize = 500;

/// Why Graphviz gave no SVG.
#[derive(Debug)]
pub enum Error {
    /// The `dot` program is not installed.
    Missing,
    /// `dot` could not be started or failed: what happened.
    Failed(String),
    /// bop received this signal while `dot` ran: `dot` was killed.
    Interrupted(i32),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Missing => write!(
                f,
                "--layout graphviz needs Graphviz's `dot` program, which is not installed: \
                 install it (Debian/Ubuntu: `apt-get install graphviz`), or leave out --layout \
                 (bop then draws the SVG itself)"
            ),
            Error::Failed(e) => write!(f, "Graphviz `dot -Tsvg` failed: {e}"),
            Error::Interrupted(sig) => write!(
                f,
                "interrupted by {}: Graphviz stopped",
                bop_syscalls::signal_name(*sig)
            ),
        }
    }
}

/// Runs `dot -Tsvg` on `source` and returns the SVG. Waits for `dot` or for a signal asking bop
/// to stop, whichever comes first ([`bop_ptrace::wait_child`]).
pub fn svg(source: String) -> Result<Vec<u8>, Error> {
    let mut cmd = Command::new("dot");
    cmd.arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    bop_ptrace::clean_signals(&mut cmd);
    let parent = std::process::id();
    // SAFETY: prctl and getppid are async-signal-safe. If bop is killed outright, dot goes
    // with it.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            // bop died before the death signal was armed: nobody waits for this drawing
            if libc::getppid() as u32 != parent {
                return Err(std::io::Error::other("bop exited"));
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::Missing,
        _ => Error::Failed(format!("cannot start it: {e}")),
    })?;
    let (Some(mut stdin), Some(mut stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(Error::Failed("its pipes were not set up".into()));
    };
    // dot may write before it has read everything: feed and drain from threads, wait here
    let writer = std::thread::spawn(move || stdin.write_all(source.as_bytes()));
    let reader = std::thread::spawn(move || {
        let mut out = Vec::new();
        stdout.read_to_end(&mut out).map(|_| out)
    });
    let errors = std::thread::spawn(move || {
        let mut err = String::new();
        let _ = stderr.read_to_string(&mut err);
        err
    });
    let waited = bop_ptrace::wait_child(&mut child, OnSignal::Kill, None);
    // the child is gone: its pipes are closed and the threads end
    let wrote = writer.join();
    let read = reader.join();
    let err = errors.join().unwrap_or_default();
    let status = match waited {
        Ok(Waited::Exited(st)) => st,
        Ok(Waited::Interrupted(sig)) => return Err(Error::Interrupted(sig)),
        Ok(Waited::TimedOut) => return Err(Error::Failed("it timed out".into())),
        Err(e) => return Err(Error::Failed(format!("waiting for it: {e}"))),
    };
    if !status.success() {
        return Err(Error::Failed(format!(
            "{status}: {}",
            err.trim().lines().take(5).collect::<Vec<_>>().join("; ")
        )));
    }
    if !matches!(wrote, Ok(Ok(()))) {
        return Err(Error::Failed("it did not read all its input".into()));
    }
    match read {
        Ok(Ok(svg)) => Ok(svg),
        Ok(Err(e)) => Err(Error::Failed(format!("reading its output: {e}"))),
        Err(_) => Err(Error::Failed("reading its output failed".into())),
    }
}
