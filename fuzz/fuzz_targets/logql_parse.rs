#![no_main]
//! Arbitrary text as a LogQL query: parse errors, never a panic; what parses
//! prints to text that parses again to the same tree.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if text.len() > 4096 {
        return;
    }
    if let Ok(expr) = strata_logql::parse_expr(text) {
        let printed = expr.to_string();
        let again = strata_logql::parse_expr(&printed).unwrap_or_else(|err| panic!("printed query {printed:?} does not parse: {err}"));
        // Compared as text: NaN literals make the trees unequal to themselves.
        assert_eq!(printed, again.to_string());
    }
});
