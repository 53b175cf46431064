#![no_main]
//! Arbitrary text as a Loki label string: never a panic; what parses prints
//! to text that parses to the same labels.
use libfuzzer_sys::fuzz_target;
use strata_model::Labels;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(labels) = Labels::parse(text) {
        assert_eq!(Labels::parse(&labels.to_string()).unwrap(), labels);
    }
});
