//! Streaming a trace to a file.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::Record;

/// How long written records may sit in the buffer before [`Writer::flush_if_due`] writes them.
pub const FLUSH_EVERY: Duration = Duration::from_millis(50);

/// Writes records as JSON Lines, buffered, flushed at least every [`FLUSH_EVERY`] by
/// [`Writer::flush_if_due`] and whenever asked.
pub struct Writer {
    out: BufWriter<File>,
    dirty: bool,
    last_flush: Instant,
    records: u64,
    /// One event's JSON, reused from record to record.
    scratch: Vec<u8>,
}

impl Writer {
    /// Creates (or truncates) the trace file with mode 0600, refusing to follow a symlink.
    pub fn create(path: &Path) -> io::Result<Writer> {
        let file = crate::files::create_private(path)?;
        Ok(Writer {
            out: BufWriter::with_capacity(64 * 1024, file),
            dirty: false,
            last_flush: Instant::now(),
            records: 0,
            scratch: Vec::with_capacity(1024),
        })
    }

    /// Appends one record (buffered).
    pub fn write(&mut self, record: &Record) -> io::Result<()> {
        match record {
            Record::Event(e) => {
                self.scratch.clear();
                crate::encode::event(&mut self.scratch, e);
                self.scratch.push(b'\n');
                self.out.write_all(&self.scratch)?;
            }
            _ => {
                serde_json::to_writer(&mut self.out, record)?;
                self.out.write_all(b"\n")?;
            }
        }
        self.dirty = true;
        self.records += 1;
        Ok(())
    }

    /// Writes the buffer to the file if it holds records older than [`FLUSH_EVERY`].
    pub fn flush_if_due(&mut self) -> io::Result<()> {
        self.flush_if_due_at(Instant::now())
    }

    /// [`Writer::flush_if_due`] with the time already read (the run loop reads the clock once
    /// per stop).
    pub fn flush_if_due_at(&mut self, now: Instant) -> io::Result<()> {
        if self.dirty && now.saturating_duration_since(self.last_flush) >= FLUSH_EVERY {
            self.flush()?;
        }
        Ok(())
    }

    /// When the buffered records must be flushed at the latest (`None` when nothing is buffered).
    pub fn flush_deadline(&self) -> Option<Instant> {
        self.dirty.then(|| self.last_flush + FLUSH_EVERY)
    }

    /// Writes everything buffered to the file.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()?;
        self.dirty = false;
        self.last_flush = Instant::now();
        Ok(())
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.records
    }
}
