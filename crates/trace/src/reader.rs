//! Reading a trace, including one cut short.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use crate::{Event, Footer, Header, Record, FORMAT};

/// A trace read from a file.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    /// The header, if the file has one.
    pub header: Option<Header>,
    /// The events, in file order.
    pub events: Vec<Event>,
    /// The footer, if the run ended cleanly.
    pub footer: Option<Footer>,
    /// Set when the file ends in the middle of a record (the writer died): everything before
    /// it was read.
    pub truncated: bool,
}

impl Trace {
    /// A one-line warning when the trace is incomplete, for the user.
    pub fn warning(&self) -> Option<String> {
        if self.truncated {
            Some(format!(
                "the trace is truncated (its writer stopped mid-record); read {} whole events",
                self.events.len()
            ))
        } else if self.footer.is_none() {
            Some(format!(
                "the trace has no footer (the run did not finish); read {}",
                crate::count(self.events.len(), "event")
            ))
        } else {
            None
        }
    }
}

/// Why a trace could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// The file could not be opened or read.
    Io(String, std::io::Error),
    /// A line (1-based) that is whole but not a record.
    Bad(String, usize, String),
    /// The trace was written by a newer format.
    Version(String, u32),
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Io(p, e) => write!(f, "{p}: cannot read the trace: {e}"),
            ReadError::Bad(p, line, e) => write!(
                f,
                "{p}:{line}: not a bop trace record ({e}); is this a trace written by `bop run --trace`?"
            ),
            ReadError::Version(p, v) => write!(
                f,
                "{p}: trace format {v} is newer than this bop reads ({FORMAT}); use a newer bop"
            ),
        }
    }
}

impl std::error::Error for ReadError {}

/// Reads a whole trace file. A last line without its newline that does not parse counts as
/// truncation, not an error.
pub fn read_file(path: &Path) -> Result<Trace, ReadError> {
    let name = path.display().to_string();
    let file = File::open(path).map_err(|e| ReadError::Io(name.clone(), e))?;
    read(BufReader::new(file), &name)
}

/// Reads a whole trace from `reader`, as [`read_file`] does; `name` is what errors call it.
pub fn read(mut reader: impl BufRead, name: &str) -> Result<Trace, ReadError> {
    let name = name.to_string();
    let mut trace = Trace::default();
    let mut buf = Vec::new();
    let mut lineno = 0;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| ReadError::Io(name.clone(), e))?;
        if n == 0 {
            break;
        }
        lineno += 1;
        let complete = buf.last() == Some(&b'\n');
        let text = String::from_utf8_lossy(&buf);
        let text = text.trim_end();
        if text.is_empty() {
            continue;
        }
        match serde_json::from_str::<Record>(text) {
            Ok(Record::Header(h)) => {
                if h.format > FORMAT {
                    return Err(ReadError::Version(name, h.format));
                }
                trace.header = Some(h)
            }
            Ok(Record::Event(e)) => trace.events.push(e),
            Ok(Record::Footer(f)) => trace.footer = Some(f),
            Err(_) if !complete => {
                trace.truncated = true;
                break;
            }
            Err(e) => return Err(ReadError::Bad(name, lineno, e.to_string())),
        }
    }
    Ok(trace)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NodeInfo, Writer};

    fn sample(dir: &Path) -> std::path::PathBuf {
        let p = dir.join(format!("t-{}.jsonl", std::process::id()));
        let mut w = Writer::create(&p).unwrap();
        w.write(&Record::Header(Header {
            format: FORMAT,
            bop_version: "0".into(),
            start_unix_ms: 1,
            backend: "ptrace+seccomp".into(),
            cluster: None,
            nodes: vec![NodeInfo {
                name: "a".into(),
                cmd: "a".into(),
                daemon: false,
            }],
        }))
        .unwrap();
        for i in 0..3 {
            w.write(&Record::Event(Event {
                node: "a".into(),
                pid: 1,
                tid: 1,
                seq: i,
                kind: "syscall".into(),
                syscall: Some("write".into()),
                bytes: Some(5),
                ..Event::default()
            }))
            .unwrap();
        }
        w.flush().unwrap();
        p
    }

    #[test]
    fn a_trace_cut_at_any_byte_reads_up_to_its_last_whole_record() {
        let dir = std::env::temp_dir();
        let p = sample(&dir);
        let full = std::fs::read(&p).unwrap();
        let whole = read_file(&p).unwrap();
        assert_eq!(whole.events.len(), 3);
        assert!(!whole.truncated);
        let cut = dir.join(format!("cut-{}.jsonl", std::process::id()));
        for len in 0..full.len() {
            std::fs::write(&cut, &full[..len]).unwrap();
            let t = read_file(&cut).unwrap_or_else(|e| panic!("cut at {len}: {e}"));
            // a line is whole when its text is all there (its newline may be cut off)
            let whole_lines = full
                .iter()
                .enumerate()
                .filter(|&(i, &b)| b == b'\n' && i <= len)
                .count();
            assert_eq!(
                t.events.len(),
                whole_lines.saturating_sub(1),
                "cut at {len}"
            );
            assert!(t.warning().is_some());
        }
        std::fs::remove_file(&cut).ok();
        std::fs::remove_file(&p).ok();
    }

    #[test]
    fn garbage_is_an_error_with_the_line() {
        let p = std::env::temp_dir().join(format!("bad-{}.jsonl", std::process::id()));
        std::fs::write(&p, "{\"type\":\"header\"\nnot json\n").unwrap();
        let e = read_file(&p).unwrap_err().to_string();
        assert!(e.contains(":1:"), "{e}");
        std::fs::remove_file(&p).ok();
    }
}
