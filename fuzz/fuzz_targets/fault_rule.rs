//! The fault-rule parser, on any text: a rule or a faults file. Never panics; every rule it
//! accepts prints in canonical form, and that form parses back to the same rule.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(rule) = bop_faults::parse_rule(text) {
        let printed = rule.to_string();
        let again = bop_faults::parse_rule(&printed)
            .unwrap_or_else(|e| panic!("{text:?} printed as {printed:?}, which does not parse: {e}"));
        assert_eq!(again, rule, "{text:?} printed as {printed:?}");
        let nodes: Vec<String> = rule.nodes().iter().map(|n| n.to_string()).collect();
        assert!(rule.check_nodes(&nodes).is_ok());
    }
    let _ = bop_faults::parse_file(text, "fuzz.faults");
});
