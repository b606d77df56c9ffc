//! The cluster-file loader (TOML, then validation), on any text. Never panics: bad input is an
//! error with a place and a message.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(e) = bop_cluster::parse(text, std::path::Path::new("/tmp/fuzz/cluster.toml")) {
        assert!(!e.to_string().is_empty());
    }
});
