//! A writer for the JSON log lines the workloads emit, in either Python's
//! `json.dumps` spacing (`{"a": 1, "b": 2}`) or compact (`{"a":1,"b":2}`).

use crate::text::{push_fixed, push_i64, push_json_string, push_u64};

pub struct JsonLine<'a> {
    out: &'a mut Vec<u8>,
    /// Python spacing: a space after `:` and `,`.
    spaced: bool,
    /// No field written yet.
    first: bool,
}

impl<'a> JsonLine<'a> {
    pub fn begin(out: &'a mut Vec<u8>, spaced: bool) -> JsonLine<'a> {
        out.push(b'{');
        JsonLine {
            out,
            spaced,
            first: true,
        }
    }

    fn key(&mut self, name: &str) -> &mut Vec<u8> {
        if !self.first {
            self.out
                .extend_from_slice(if self.spaced { b", " } else { b"," });
        }
        self.first = false;
        push_json_string(self.out, name.as_bytes());
        self.out
            .extend_from_slice(if self.spaced { b": " } else { b":" });
        self.out
    }

    pub fn str(&mut self, name: &str, value: &str) -> &mut Self {
        let out = self.key(name);
        push_json_string(out, value.as_bytes());
        self
    }

    /// A string value written by `write` (which must not emit quotes or
    /// backslashes: it is not escaped).
    pub fn str_with(&mut self, name: &str, write: impl FnOnce(&mut Vec<u8>)) -> &mut Self {
        let out = self.key(name);
        out.push(b'"');
        write(out);
        out.push(b'"');
        self
    }

    pub fn uint(&mut self, name: &str, value: u64) -> &mut Self {
        let out = self.key(name);
        push_u64(out, value);
        self
    }

    pub fn int(&mut self, name: &str, value: i64) -> &mut Self {
        let out = self.key(name);
        push_i64(out, value);
        self
    }

    pub fn fixed(&mut self, name: &str, value: f64, decimals: u32) -> &mut Self {
        let out = self.key(name);
        push_fixed(out, value, decimals);
        self
    }

    pub fn end(&mut self) {
        self.out.push(b'}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_spacings_parse() {
        for spaced in [true, false] {
            let mut out = Vec::new();
            JsonLine::begin(&mut out, spaced)
                .str("message", "say \"hi\"")
                .uint("step", 12)
                .int("delta", -3)
                .fixed("loss", 0.25, 4)
                .str_with("ts", |out| out.extend_from_slice(b"2026"))
                .end();
            let value: serde_json::Value = serde_json::from_slice(&out).expect("json");
            assert_eq!(value["message"], "say \"hi\"");
            assert_eq!(value["loss"], 0.25);
            assert_eq!(value["delta"], -3);
            assert_eq!(out.starts_with(b"{\"message\": "), spaced);
        }
    }
}
