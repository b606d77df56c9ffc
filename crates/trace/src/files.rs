//! The files bop writes (traces, node logs, exports, reports) and reads back for users: private
//! (mode 0600), never through a symbolic link, whole or not at all where that matters; and the
//! last lines of a log, made safe to print.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Creates a file bop writes (a node's output, an export, a report): mode 0600, never
/// through a symlink (a symlink there is an error that says so, see [`refuse_symlink`]).
pub fn create_private(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
        .map_err(refuse_symlink)
}

/// The error of an `O_NOFOLLOW` open that met a symlink (ELOOP), in words that say why bop
/// refuses it; any other error as it is.
pub fn refuse_symlink(e: io::Error) -> io::Error {
    if e.raw_os_error() == Some(libc::ELOOP) {
        io::Error::other(
            "it is a symbolic link: bop does not write through one (someone could point it at \
             a file of theirs); remove it or write elsewhere",
        )
    } else {
        e
    }
}

/// Writes `bytes` to a new or truncated file made by [`create_private`].
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    create_private(path)?.write_all(bytes)
}

/// Writes `bytes` to `path` whole or not at all: into a new private file beside it (mode 0600,
/// an unpredictable name), renamed over `path` once complete, so a failed write leaves no
/// partial file and an older file as it was. Only that new file is ever removed. A symlink at
/// `path` is refused as [`create_private`] does (the rename would not write through it, but
/// the user asked for the link's target). Anything else that is not a regular file
/// (`/dev/null`, a FIFO) is written in place: a rename would replace it.
pub fn replace_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            return Err(refuse_symlink(io::Error::from_raw_os_error(libc::ELOOP)))
        }
        Ok(m) if !m.is_file() => return write_private(path, bytes),
        _ => {}
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    // created with O_EXCL (never through a symlink, never an existing file); removed when
    // dropped, unless it was renamed into place
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".bop-tmp")
        .permissions(std::fs::Permissions::from_mode(0o600))
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.persist(path).map(drop).map_err(|e| e.error)
}

/// The last non-empty line of a log file, as [`last_lines`] gives it (None: the file is empty
/// or cannot be read).
pub fn last_line(path: &Path) -> Option<String> {
    last_lines(path, 1).pop()
}

/// The last `n` non-empty lines of a log file (a node's output), in order, trimmed, each at
/// most 300 characters, its control characters escaped (`\x1b`: a program's escape sequences
/// are shown, not played on the user's terminal); none when the file is empty or cannot be
/// read. Reads only the file's end (4 KiB a line), however large the file is.
pub fn last_lines(path: &Path, n: usize) -> Vec<String> {
    use std::io::{Seek, SeekFrom};
    const LINE: u64 = 4096;
    let tail = |f: &mut File| -> io::Result<Vec<u8>> {
        let len = f.metadata()?.len();
        let from = len.saturating_sub(LINE * n as u64);
        f.seek(SeekFrom::Start(from))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        // a line cut by the start of the window is not shown whole: leave it out (unless it is
        // all there is)
        if from > 0 {
            if let Some(nl) = buf.iter().position(|&b| b == b'\n') {
                buf.drain(..=nl);
            }
        }
        Ok(buf)
    };
    let Ok(buf) = File::open(path).and_then(|mut f| tail(&mut f)) else {
        return Vec::new();
    };
    let text = String::from_utf8_lossy(&buf);
    let mut lines: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .rev()
        .take(n)
        .map(|line| {
            let mut out = printable(&line.chars().take(300).collect::<String>());
            if line.chars().nth(300).is_some() {
                out.push('…');
            }
            out
        })
        .collect();
    lines.reverse();
    lines
}

/// `text` with its control characters (C0, DEL, C1) and the characters that reorder text
/// (bidirectional overrides and isolates) written as `\xNN` or `\u{NNNN}`, so printing it
/// shows them rather than acting on the terminal.
pub fn printable(text: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let reorders = matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
        if c.is_control() && (c as u32) < 0x100 {
            let _ = write!(out, "\\x{:02x}", c as u32);
        } else if c.is_control() || reorders {
            let _ = write!(out, "\\u{{{:04x}}}", c as u32);
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_private_writes_whole_files_and_leaves_others_alone() {
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("out.svg");
        // a file by the name the temporary file once had (predictable: the pid) is not ours
        let theirs = dir
            .path()
            .join(format!(".out.svg.{}.bop-tmp", std::process::id()));
        std::fs::write(&theirs, "theirs").expect("write");
        replace_private(&out, b"one").expect("first write");
        replace_private(&out, b"two").expect("second write");
        assert_eq!(std::fs::read(&out).expect("read"), b"two");
        assert_eq!(std::fs::read(&theirs).expect("still there"), b"theirs");
        let mode = std::fs::metadata(&out).expect("metadata").permissions();
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
            0o600
        );
        // nothing else is left beside it
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("read_dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names.len(), 2, "{names:?}");
        // a symlink at the destination is refused, its target untouched
        let link = dir.path().join("link.svg");
        std::os::unix::fs::symlink(&theirs, &link).expect("symlink");
        let e = replace_private(&link, b"x").expect_err("a symlink");
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert_eq!(std::fs::read(&theirs).expect("read"), b"theirs");
    }

    #[test]
    fn last_lines_reads_the_end_and_escapes_control_characters() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("n.stderr");
        let mut text = "x".repeat(100) + "\n";
        text = text.repeat(20_000);
        text += "  one  \n\n\x1b[2Jtwo\x07 \u{202e}three\n\n";
        std::fs::write(&log, &text).expect("write");
        assert_eq!(
            last_lines(&log, 2),
            vec!["one", "\\x1b[2Jtwo\\x07 \\u{202e}three"]
        );
        assert_eq!(
            last_line(&log).as_deref(),
            Some("\\x1b[2Jtwo\\x07 \\u{202e}three")
        );
        // a line longer than what is read: its end, cut to 300 characters
        std::fs::write(&log, "y".repeat(10_000)).expect("write");
        assert_eq!(last_line(&log), Some("y".repeat(300) + "…"));
        assert_eq!(
            last_lines(&dir.path().join("none"), 3),
            Vec::<String>::new()
        );
        assert_eq!(printable("é ok\t"), "é ok\\x09");
    }
}
