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
        match strata_logql::parse_expr(&printed) {
            Ok(again) => assert_eq!(printed, again.to_string()),
            // The printer spells a unary minus as `-1 * (...)`, so a query
            // right under the nesting or operator limits can print to one
            // over them: the limits guard the parser's stack, they are not
            // part of the language.
            Err(err) if err.message.contains("nesting deeper") || err.message.contains("operators") => {}
            Err(err) => panic!("printed query {printed:?} does not parse: {err}"),
        }
    }
});
