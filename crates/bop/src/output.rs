//! A node's stdout and stderr: captured through pipes, saved to files beside the trace, and
//! echoed with a `name |` prefix (as docker compose does).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// The write ends a node's process gets as stdout and stderr, and the threads that drain them.
pub struct Capture {
    /// The child's stdout and stderr (bop closes its copies once the node is started).
    pub writers: Option<[OwnedFd; 2]>,
    /// The pipes' inodes: writes to them are the node's log, not communication.
    pub inodes: [u64; 2],
    /// Where the output is saved.
    pub files: [PathBuf; 2],
    threads: Vec<JoinHandle<()>>,
}

impl Capture {
    /// Closes bop's copies of the write ends (the node holds its own).
    pub fn close_writers(&mut self) {
        self.writers = None;
    }

    /// Waits until both pipes are drained (every writer closed them).
    pub fn join(self) {
        for t in self.threads {
            let _ = t.join();
        }
    }
}

fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two fds.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both fds are fresh and ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Starts capturing a node's output into `base.NAME.stdout` / `.stderr`; `echo` also prints
/// it to bop's stdout as `prefix | line` (the lock keeps lines whole).
pub fn capture(
    base: &Path,
    name: &str,
    prefix: String,
    echo: Option<Arc<Mutex<io::Stdout>>>,
) -> io::Result<Capture> {
    let mut writers = Vec::new();
    let mut inodes = [0u64; 2];
    let mut files: [PathBuf; 2] = Default::default();
    let mut threads = Vec::new();
    for (i, stream) in ["stdout", "stderr"].iter().enumerate() {
        let (r, w) = pipe()?;
        let path = PathBuf::from(format!("{}.{name}.{stream}", base.display()));
        let file = bop_trace::files::create_private(&path)?;
        inodes[i] = std::fs::metadata(format!("/proc/self/fd/{}", w.as_raw_fd()))
            .map(|m| m.ino())
            .unwrap_or(0);
        files[i] = path;
        let prefix = prefix.clone();
        let echo = echo.clone();
        threads.push(std::thread::spawn(move || drain(r, file, &prefix, echo)));
        writers.push(w);
    }
    let [o, e]: [OwnedFd; 2] = writers
        .try_into()
        .map_err(|_| io::Error::other("pipe setup"))?;
    Ok(Capture {
        writers: Some([o, e]),
        inodes,
        files,
        threads,
    })
}

fn drain(r: OwnedFd, mut file: File, prefix: &str, echo: Option<Arc<Mutex<io::Stdout>>>) {
    let mut r = File::from(r);
    let mut buf = vec![0u8; 16 * 1024];
    let mut line: Vec<u8> = Vec::new();
    let emit = |line: &[u8]| {
        if let Some(out) = &echo {
            if let Ok(out) = out.lock() {
                let mut out = out.lock();
                let _ = out.write_all(prefix.as_bytes());
                let _ = out.write_all(line);
                if line.last() != Some(&b'\n') {
                    let _ = out.write_all(b"\n");
                }
                let _ = out.flush();
            }
        }
    };
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let _ = file.write_all(&buf[..n]);
        for &b in &buf[..n] {
            line.push(b);
            if b == b'\n' {
                emit(&line);
                line.clear();
            }
        }
    }
    if !line.is_empty() {
        emit(&line);
    }
}
