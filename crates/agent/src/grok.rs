//! Logstash-style grok patterns compiled to a single [`regex::Regex`].
//!
//! A grok pattern is a regular expression in which `%{SYNTAX}`,
//! `%{SYNTAX:semantic}` and `%{SYNTAX:semantic:int|float}` stand for named
//! sub-patterns from a pattern library. [`Grok::compile`] expands those
//! references (recursively) against the built-in library plus the caller's
//! custom definitions and compiles the result once; [`Grok::captures`] then
//! runs an unanchored search, like Logstash, and returns the captured fields.
//!
//! # Syntax and decisions
//!
//! * `%{SYNTAX}` matches the named pattern without capturing it.
//!   `%{SYNTAX:semantic}` captures it as the field `semantic`, and
//!   `%{SYNTAX:semantic:int}` / `%{SYNTAX:semantic:float}` also converts it
//!   (the type is matched case-insensitively; any other type is an error).
//!   A reference starts at `%{` followed by an ASCII letter or `_`; the
//!   syntax name is `[A-Za-z0-9_]+`. `%{` followed by anything else (e.g. the
//!   quantifier in `%{2}`) and `%{` inside a character class are plain regex.
//! * Field names are kept as written (`.`, `-`, `@` … are fine) except
//!   Logstash nested field references: `[kubernetes][pod]` becomes
//!   `kubernetes.pod` (segments joined with `.`). Every captured field is
//!   given a generated regex group name, `g0`, `g1`, … in the order the
//!   fields appear in the expanded pattern; [`GrokField::group`] holds it.
//! * Raw regex is allowed anywhere, including Oniguruma named groups
//!   `(?<name>...)` and `(?P<name>...)`. They become string fields (with
//!   the same name mapping), renamed to `gN` groups as well, so any name
//!   Logstash accepts (e.g. `(?<http-status>\d+)`) works even when the regex
//!   crate would reject it as a group name. Named groups inside pattern
//!   definitions (built-in or custom) become fields too, as in Logstash.
//! * The regex dialect is the `regex` crate's: no look-around, no
//!   back-references, no atomic groups or possessive quantifiers. A raw
//!   pattern using them fails to compile with the regex crate's message.
//! * Built-in composite patterns (`COMBINEDAPACHELOG`, `SYSLOGBASE`,
//!   `URIHOST` …) name their parts with Logstash's legacy (non-ECS) field
//!   names: `clientip`, `ident`, `auth`, `timestamp`, `verb`, `request`,
//!   `httpversion`, `rawrequest`, `response`, `bytes`, `referrer`, `agent`,
//!   `logsource`, `program`, `pid`, `facility`, `priority`, `port`. The
//!   built-in definitions are written for this module (not copied from
//!   Logstash) and may differ from Logstash in corner cases (e.g. the
//!   syslog `pid` may be `0`, as in macOS `kernel[0]:` lines); see
//!   [`builtin_pattern_names`]. Custom definitions override built-ins of the
//!   same name and may reference built-ins and each other.
//! * Errors at compile time: an unknown pattern name (the error names it and
//!   the pattern that referenced it), a recursive definition (the error shows
//!   the cycle), a malformed reference or type, a pattern whose expanded text
//!   exceeds the size limit, and a regex the `regex` crate cannot compile,
//!   including one over [`RegexBuilder::size_limit`] (default
//!   [`DEFAULT_SIZE_LIMIT`]; see [`Grok::compile_with_limit`]).
//!
//! # Captured values
//!
//! [`Grok::captures`] returns `(field name, value)` pairs in pattern order.
//! Groups that did not participate in the match and empty captures are left
//! out (Logstash's default `keep_empty_captures => false`). If two fields
//! share a name and both matched, both pairs are returned. Typed values are
//! checked and returned in a normalized text form:
//!
//! * `int`: an integer (surrounding whitespace ignored, optional sign) in the
//!   `i64` range is returned as its `i64` decimal text (`"+007"` → `"7"`). A
//!   plain decimal with a fraction is truncated toward zero like Logstash's
//!   integer conversion (`"12.9"` → `"12"`). Anything else, or an
//!   out-of-range value, is an error naming the field and the value.
//! * `float`: any text Rust parses as a finite `f64` (`"1e3"`, `".5"`,
//!   `"-2"`) is returned in Rust's `{:?}` form for `f64`, which is the
//!   shortest text that round-trips, always has a `.` or an exponent and so
//!   reads as a float: `"12"` → `"12.0"`, `"0.2345"` → `"0.2345"`,
//!   `"1e300"` → `"1e300"`. `inf`/`NaN` and non-numbers are errors.

use std::collections::HashMap;
use std::sync::LazyLock;

use anyhow::{Result, anyhow, bail};
use regex::{Regex, RegexBuilder};

/// Default limit for both the expanded pattern text (bytes) and the compiled
/// regex ([`RegexBuilder::size_limit`]): 8 MiB. The largest built-in
/// pattern, `COMBINEDAPACHELOG`, needs well under 256 KiB.
pub const DEFAULT_SIZE_LIMIT: usize = 8 << 20;

/// Deepest allowed nesting of pattern references (a safety net against
/// pathological custom libraries; real patterns nest fewer than 10 deep).
const MAX_DEPTH: usize = 64;

/// The type a captured field is converted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// Kept as matched.
    String,
    /// Checked to be an integer; value normalized to `i64` text.
    Int,
    /// Checked to be a finite float; value normalized to `f64` `{:?}` text.
    Float,
}

/// One captured field of a compiled grok pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrokField {
    /// Field name as reported by [`Grok::captures`] (`[a][b]` mapped to `a.b`).
    pub name: String,
    /// Name of the capture group in the compiled regex (`g0`, `g1`, …).
    pub group: String,
    /// Conversion applied to the captured text.
    pub kind: FieldType,
}

/// A compiled grok pattern.
#[derive(Debug, Clone)]
pub struct Grok {
    regex: Regex,
    fields: Vec<GrokField>,
    /// Capture group index of each entry of `fields`.
    slots: Vec<usize>,
}

impl Grok {
    /// Compiles `pattern` (e.g. `"Epoch: %{NUMBER:epoch:int}"`) with the
    /// built-in pattern library plus `custom` definitions (name → grok text,
    /// which may reference other patterns, built-in or custom). Custom
    /// definitions override built-ins; for a name given twice the last wins.
    /// Uses [`DEFAULT_SIZE_LIMIT`].
    ///
    /// # Errors
    ///
    /// Unknown or recursive pattern references, malformed references or
    /// field types, invalid custom pattern names, an expansion over the size
    /// limit, and regex syntax the `regex` crate rejects.
    pub fn compile(pattern: &str, custom: &[(String, String)]) -> Result<Grok> {
        Grok::compile_with_limit(pattern, custom, DEFAULT_SIZE_LIMIT)
    }

    /// Like [`Grok::compile`] with an explicit size limit, applied both to
    /// the length in bytes of the expanded regex text and to the compiled
    /// regex ([`RegexBuilder::size_limit`]).
    ///
    /// # Errors
    ///
    /// As [`Grok::compile`].
    pub fn compile_with_limit(
        pattern: &str,
        custom: &[(String, String)],
        size_limit: usize,
    ) -> Result<Grok> {
        let mut defs: HashMap<&str, &str> = HashMap::with_capacity(custom.len());
        for (name, text) in custom {
            if !is_syntax_name(name) {
                bail!("invalid custom grok pattern name {name:?}: expected [A-Za-z0-9_]+");
            }
            defs.insert(name.as_str(), text.as_str());
        }
        let mut expander = Expander {
            custom: defs,
            out: String::with_capacity(pattern.len() * 4),
            fields: Vec::new(),
            stack: Vec::new(),
            limit: size_limit,
        };
        expander.expand(pattern)?;
        let Expander { out, fields, .. } = expander;

        let regex = RegexBuilder::new(&out)
            .size_limit(size_limit)
            .build()
            .map_err(|err| match err {
                regex::Error::CompiledTooBig(limit) => anyhow!(
                    "grok pattern {pattern:?} is too large: the compiled regex exceeds the \
                     size limit of {limit} bytes"
                ),
                regex::Error::Syntax(msg) => {
                    anyhow!(
                        "grok pattern {pattern:?} is not a valid regex: {}",
                        short_regex_error(&msg)
                    )
                }
                other => anyhow!("grok pattern {pattern:?} failed to compile: {other}"),
            })?;

        let mut slots = Vec::with_capacity(fields.len());
        for field in &fields {
            let slot = regex
                .capture_names()
                .position(|n| n == Some(field.group.as_str()))
                .ok_or_else(|| anyhow!("internal error: capture group {} missing", field.group))?;
            slots.push(slot);
        }
        Ok(Grok {
            regex,
            fields,
            slots,
        })
    }

    /// Searches `text` (unanchored, first match, like Logstash).
    ///
    /// Returns `None` when the pattern does not match, `Some(Err(msg))` when
    /// it matches but a typed field does not convert (the message names the
    /// field and the value), and otherwise the captured `(name, value)` pairs
    /// in pattern order, without non-participating or empty captures. See
    /// the module documentation for the normalized text of typed values.
    pub fn captures(&self, text: &str) -> Option<Result<Vec<(&str, String)>, String>> {
        let caps = self.regex.captures(text)?;
        let mut out = Vec::with_capacity(self.fields.len());
        for (field, &slot) in self.fields.iter().zip(&self.slots) {
            let Some(m) = caps.get(slot) else { continue };
            let raw = m.as_str();
            if raw.is_empty() {
                continue;
            }
            let value = match field.kind {
                FieldType::String => raw.to_string(),
                FieldType::Int => match convert_int(raw) {
                    Some(v) => v.to_string(),
                    None => {
                        return Some(Err(format!(
                            "grok field {:?}: cannot convert {raw:?} to int",
                            field.name
                        )));
                    }
                },
                FieldType::Float => match convert_float(raw) {
                    Some(v) => format!("{v:?}"),
                    None => {
                        return Some(Err(format!(
                            "grok field {:?}: cannot convert {raw:?} to float",
                            field.name
                        )));
                    }
                },
            };
            out.push((field.name.as_str(), value));
        }
        Some(Ok(out))
    }

    /// Whether the pattern matches somewhere in `text` (no captures, faster).
    pub fn is_match(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }

    /// Names of the captured fields, in pattern order (a name used twice
    /// appears twice).
    pub fn field_names(&self) -> impl Iterator<Item = &str> {
        self.fields.iter().map(|f| f.name.as_str())
    }

    /// The captured fields with their group names and types, in pattern order.
    pub fn fields(&self) -> &[GrokField] {
        &self.fields
    }

    /// The compiled regex (group names are the generated `gN` names).
    pub fn regex(&self) -> &Regex {
        &self.regex
    }
}

/// Names of the built-in patterns, sorted.
pub fn builtin_pattern_names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = LIBRARY.keys().copied().collect();
    names.sort_unstable();
    names
}

/// Checked integer conversion; see the module documentation.
fn convert_int(raw: &str) -> Option<i64> {
    let t = raw.trim();
    if let Ok(v) = t.parse::<i64>() {
        return Some(v);
    }
    // A plain decimal `[+-]?D*.D*` with at least one digit: truncate toward
    // zero by dropping the fraction (exact, no float rounding).
    let (int_part, frac) = t.split_once('.')?;
    let digits = int_part.trim_start_matches(['+', '-']);
    let signs = int_part.len() - digits.len();
    if signs > 1
        || (digits.is_empty() && frac.is_empty())
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    if digits.is_empty() {
        return Some(0);
    }
    int_part.parse::<i64>().ok()
}

/// Checked float conversion; see the module documentation.
fn convert_float(raw: &str) -> Option<f64> {
    let v: f64 = raw.trim().parse().ok()?;
    v.is_finite().then_some(v)
}

fn is_syntax_name(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Maps a semantic / group name to the reported field name: Logstash nested
/// references `[a][b]` become `a.b`; anything else is kept as written.
fn field_name(raw: &str) -> Result<String> {
    if raw.is_empty() {
        bail!("empty grok field name");
    }
    if !raw.starts_with('[') {
        return Ok(raw.to_string());
    }
    let mut parts = Vec::new();
    let mut rest = raw;
    while !rest.is_empty() {
        let (part, tail) = rest
            .strip_prefix('[')
            .and_then(|r| r.split_once(']'))
            .ok_or_else(|| anyhow!("malformed nested field reference {raw:?}"))?;
        if part.is_empty() || part.contains('[') {
            bail!("malformed nested field reference {raw:?}");
        }
        parts.push(part);
        rest = tail;
    }
    Ok(parts.join("."))
}

/// Keeps a regex syntax error short: the regex crate quotes the whole
/// (possibly very long) expanded pattern; keep only its `error:` line then.
fn short_regex_error(msg: &str) -> String {
    if msg.len() <= 600 {
        return msg.trim().to_string();
    }
    msg.lines()
        .find(|l| l.starts_with("error:"))
        .unwrap_or("regex syntax error")
        .to_string()
}

/// Recursive expansion of a grok pattern into regex text.
struct Expander<'a> {
    custom: HashMap<&'a str, &'a str>,
    out: String,
    fields: Vec<GrokField>,
    /// Names of the patterns being expanded (outermost first).
    stack: Vec<&'a str>,
    limit: usize,
}

impl<'a> Expander<'a> {
    fn push_field(&mut self, name: String, kind: FieldType) {
        let group = format!("g{}", self.fields.len());
        self.out.push_str("(?P<");
        self.out.push_str(&group);
        self.out.push('>');
        self.fields.push(GrokField { name, group, kind });
    }

    fn push_str(&mut self, s: &str) -> Result<()> {
        self.out.push_str(s);
        if self.out.len() > self.limit {
            bail!(
                "grok pattern expands to more than {} bytes of regex (size limit); \
                 check for patterns that reference each other many times",
                self.limit
            );
        }
        Ok(())
    }

    /// Appends the expansion of `text` to `self.out`.
    fn expand(&mut self, text: &'a str) -> Result<()> {
        let bytes = text.as_bytes();
        let mut i = 0;
        let mut lit = 0; // start of the literal run not yet copied
        let mut class_depth = 0usize;
        while i < bytes.len() {
            let b = bytes[i];
            if b == b'\\' {
                i += 2; // escaped character: never special
                continue;
            }
            if class_depth > 0 {
                match b {
                    b'[' => class_depth += 1,
                    b']' => class_depth -= 1,
                    _ => {}
                }
                i += 1;
                continue;
            }
            match b {
                b'[' => {
                    class_depth = 1;
                    i += 1;
                    if bytes.get(i) == Some(&b'^') {
                        i += 1;
                    }
                    if bytes.get(i) == Some(&b']') {
                        i += 1; // a leading `]` is a literal
                    }
                }
                b'%' if bytes.get(i + 1) == Some(&b'{')
                    && bytes
                        .get(i + 2)
                        .is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_') =>
                {
                    self.push_str(&text[lit..i])?;
                    let close = text[i..]
                        .find('}')
                        .map(|p| i + p)
                        .ok_or_else(|| anyhow!("unterminated grok reference in {text:?}"))?;
                    self.reference(&text[i + 2..close])?;
                    i = close + 1;
                    lit = i;
                }
                b'(' if (bytes[i..].starts_with(b"(?<")
                    && !matches!(bytes.get(i + 3), Some(b'=' | b'!')))
                    || bytes[i..].starts_with(b"(?P<") =>
                {
                    let name_start = if bytes[i + 2] == b'P' { i + 4 } else { i + 3 };
                    let Some(len) = text[name_start..].find('>') else {
                        i += 1; // let the regex crate report it
                        continue;
                    };
                    self.push_str(&text[lit..i])?;
                    let name = field_name(&text[name_start..name_start + len])?;
                    self.push_field(name, FieldType::String);
                    i = name_start + len + 1;
                    lit = i;
                }
                _ => i += 1,
            }
        }
        self.push_str(&text[lit.min(text.len())..])
    }

    /// Expands one `%{...}` reference (`inner` is the text between braces).
    fn reference(&mut self, inner: &'a str) -> Result<()> {
        let mut parts = inner.splitn(3, ':');
        let syntax = parts.next().unwrap_or_default();
        let semantic = parts.next();
        let kind = parts.next();
        if !is_syntax_name(syntax) {
            bail!("malformed grok reference %{{{inner}}}: pattern names are [A-Za-z0-9_]+");
        }
        let kind = match kind {
            None => FieldType::String,
            Some(k) if k.eq_ignore_ascii_case("int") => FieldType::Int,
            Some(k) if k.eq_ignore_ascii_case("float") => FieldType::Float,
            Some(k) => bail!(
                "unsupported type {k:?} in grok reference %{{{inner}}}: expected int or float"
            ),
        };
        if semantic.is_none() && kind != FieldType::String {
            bail!("malformed grok reference %{{{inner}}}");
        }
        if self.stack.contains(&syntax) {
            let mut cycle: Vec<String> = self.stack.iter().map(|s| format!("%{{{s}}}")).collect();
            cycle.push(format!("%{{{syntax}}}"));
            bail!("recursive grok pattern definition: {}", cycle.join(" -> "));
        }
        if self.stack.len() >= MAX_DEPTH {
            bail!("grok patterns nested more than {MAX_DEPTH} levels deep at %{{{syntax}}}");
        }
        let definition: &'a str = match self.custom.get(syntax) {
            Some(&def) => def,
            None => match LIBRARY.get(syntax) {
                Some(def) => def.as_str(),
                None => match self.stack.last() {
                    Some(parent) => {
                        bail!("unknown grok pattern %{{{syntax}}} (referenced from %{{{parent}}})")
                    }
                    None => bail!("unknown grok pattern %{{{syntax}}}"),
                },
            },
        };
        match semantic {
            Some(sem) => {
                let name =
                    field_name(sem).map_err(|e| anyhow!("in grok reference %{{{inner}}}: {e}"))?;
                self.push_field(name, kind);
            }
            None => self.push_str("(?:")?,
        }
        self.stack.push(syntax);
        self.expand(definition)?;
        self.stack.pop();
        self.push_str(")")
    }
}

/// The built-in library: name → grok text (regex crate dialect).
static LIBRARY: LazyLock<HashMap<&'static str, String>> = LazyLock::new(|| {
    let mut map: HashMap<&'static str, String> = DEFINITIONS
        .iter()
        .map(|&(name, def)| (name, def.to_string()))
        .collect();
    map.insert("IPV6", ipv6_definition());
    map
});

/// Builds IPV6 as an exact alternation over the position of `::`.
///
/// With `k` 16-bit groups written left of `::` and `m` right of it, a
/// compressed address needs `k + m <= 7` (`::` stands for at least one zero
/// group), or `k + m <= 5` when the address ends in a dotted IPv4 (which
/// takes two groups). Forms ending in IPv4 come first so that
/// `::ffff:10.0.0.1` is not cut short at `::ffff:10`; an optional zone index
/// (`%eth0`) may follow.
fn ipv6_definition() -> String {
    const H: &str = "[0-9A-Fa-f]{1,4}";
    let left = |k: usize| match k {
        0 => String::new(),
        1 => H.to_string(),
        _ => format!("(?:{H}:){{{}}}{H}", k - 1),
    };
    let mut alts = vec![format!("(?:{H}:){{6}}%{{IPV4}}")];
    for k in 0..=5 {
        let right = match 5 - k {
            0 => String::new(),
            n => format!("(?:{H}:){{0,{n}}}"),
        };
        alts.push(format!("{}::{right}%{{IPV4}}", left(k)));
    }
    alts.push(format!("(?:{H}:){{7}}{H}"));
    for k in 0..=7 {
        let right = match 7 - k {
            0 => String::new(),
            1 => format!("(?:{H})?"),
            n => format!("(?:(?:{H}:){{0,{}}}{H})?", n - 1),
        };
        alts.push(format!("{}::{right}", left(k)));
    }
    format!("(?:{})(?:%[0-9A-Za-z._~-]+)?", alts.join("|"))
}

/// Built-in definitions (IPV6 is generated by [`ipv6_definition`]).
const DEFINITIONS: &[(&str, &str)] = &[
    // --- users, e-mail ---
    ("USERNAME", r"[A-Za-z0-9._-]+"),
    ("USER", r"%{USERNAME}"),
    (
        "EMAILLOCALPART",
        r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*",
    ),
    ("EMAILADDRESS", r"%{EMAILLOCALPART}@%{HOSTNAME}"),
    ("HTTPDUSER", r"(?:%{EMAILADDRESS}|%{USER})"),
    // --- numbers ---
    ("INT", r"[+-]?[0-9]+"),
    ("BASE10NUM", r"[+-]?(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+)"),
    ("NUMBER", r"%{BASE10NUM}"),
    ("BASE16NUM", r"[+-]?(?:0[xX])?[0-9A-Fa-f]+"),
    ("POSINT", r"\b[1-9][0-9]*\b"),
    ("NONNEGINT", r"\b[0-9]+\b"),
    // --- words, spaces, free text ---
    ("WORD", r"\b\w+\b"),
    ("NOTSPACE", r"\S+"),
    ("SPACE", r"\s*"),
    ("DATA", r".*?"),
    ("GREEDYDATA", r".*"),
    (
        "QUOTEDSTRING",
        r#"(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`)"#,
    ),
    ("QS", r"%{QUOTEDSTRING}"),
    (
        "UUID",
        r"[0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}",
    ),
    // --- network ---
    ("CISCOMAC", r"(?:[0-9A-Fa-f]{4}\.){2}[0-9A-Fa-f]{4}"),
    ("WINDOWSMAC", r"(?:[0-9A-Fa-f]{2}-){5}[0-9A-Fa-f]{2}"),
    ("COMMONMAC", r"(?:[0-9A-Fa-f]{2}:){5}[0-9A-Fa-f]{2}"),
    ("MAC", r"(?:%{CISCOMAC}|%{WINDOWSMAC}|%{COMMONMAC})"),
    (
        "IPV4",
        r"\b(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\b",
    ),
    ("IP", r"(?:%{IPV6}|%{IPV4})"),
    (
        "HOSTNAME",
        r"\b[0-9A-Za-z](?:[0-9A-Za-z-]*[0-9A-Za-z])?(?:\.[0-9A-Za-z](?:[0-9A-Za-z-]*[0-9A-Za-z])?)*\.?",
    ),
    ("IPORHOST", r"(?:%{IP}|%{HOSTNAME})"),
    ("HOSTPORT", r"%{IPORHOST}:%{POSINT}"),
    // --- paths and URIs ---
    ("UNIXPATH", r"(?:/(?:[\w%!$@:.,+~=-]|\\.)*)+"),
    ("WINPATH", r#"(?:[A-Za-z]:|\\)(?:\\[^\\/:*?"<>|\r\n]*)+"#),
    ("PATH", r"(?:%{UNIXPATH}|%{WINPATH})"),
    ("URIPROTO", r"[A-Za-z][A-Za-z0-9+.-]*"),
    (
        "URIHOST",
        r"(?:\[%{IPV6}\]|%{IPORHOST})(?::%{POSINT:port})?",
    ),
    ("URIPATH", r"(?:/[A-Za-z0-9._~!$&'()*+,;=:@{}%-]*)+"),
    (
        "URIPARAM",
        r"\?[A-Za-z0-9._~!$&'()*+,;=:@/?{}|^\[\]%-]*(?:#[A-Za-z0-9._~!$&'()*+,;=:@/?{}%-]*)?",
    ),
    ("URIPATHPARAM", r"%{URIPATH}(?:%{URIPARAM})?"),
    (
        "URI",
        r"%{URIPROTO}://(?:%{USER}(?::[^@\s/]*)?@)?%{URIHOST}?(?:%{URIPATHPARAM})?",
    ),
    // --- dates and times ---
    (
        "MONTH",
        r"\b(?i:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\b",
    ),
    ("MONTHNUM", r"(?:1[0-2]|0?[1-9])"),
    ("MONTHNUM2", r"(?:0[1-9]|1[0-2])"),
    ("MONTHDAY", r"(?:3[01]|[12][0-9]|0?[1-9])"),
    (
        "DAY",
        r"\b(?i:mon(?:day)?|tue(?:s(?:day)?)?|wed(?:nesday)?|thu(?:r(?:s(?:day)?)?)?|fri(?:day)?|sat(?:urday)?|sun(?:day)?)\b",
    ),
    ("YEAR", r"(?:[0-9]{4}|[0-9]{2})"),
    ("HOUR", r"(?:2[0-3]|[01]?[0-9])"),
    ("MINUTE", r"[0-5][0-9]"),
    ("SECOND", r"(?:60|[0-5]?[0-9])(?:[.,:][0-9]+)?"),
    ("TIME", r"%{HOUR}:%{MINUTE}(?::%{SECOND})?"),
    ("DATE_US", r"%{MONTHNUM}[/-]%{MONTHDAY}[/-]%{YEAR}"),
    ("DATE_EU", r"%{MONTHDAY}[./-]%{MONTHNUM}[./-]%{YEAR}"),
    ("DATE", r"(?:%{DATE_US}|%{DATE_EU})"),
    ("DATESTAMP", r"%{DATE}[- ]%{TIME}"),
    ("ISO8601_TIMEZONE", r"(?:Z|[+-]%{HOUR}(?::?%{MINUTE})?)"),
    ("ISO8601_SECOND", r"%{SECOND}"),
    (
        "TIMESTAMP_ISO8601",
        r"%{YEAR}-%{MONTHNUM}-%{MONTHDAY}[T ]%{HOUR}:?%{MINUTE}(?::?%{SECOND})?%{ISO8601_TIMEZONE}?",
    ),
    ("TZ", r"\b(?:UTC|GMT|[A-Z]{2,4}T)\b"),
    ("HTTPDATE", r"%{MONTHDAY}/%{MONTH}/%{YEAR}:%{TIME} %{INT}"),
    // --- syslog ---
    ("SYSLOGTIMESTAMP", r"%{MONTH} +%{MONTHDAY} %{TIME}"),
    ("PROG", r"[^\s\[\]]+"),
    ("SYSLOGPROG", r"%{PROG:program}(?:\[%{NONNEGINT:pid}\])?"),
    ("SYSLOGHOST", r"%{IPORHOST}"),
    (
        "SYSLOGFACILITY",
        r"<%{NONNEGINT:facility}\.%{NONNEGINT:priority}>",
    ),
    (
        "SYSLOGBASE",
        r"%{SYSLOGTIMESTAMP:timestamp} (?:%{SYSLOGFACILITY} )?%{SYSLOGHOST:logsource} %{SYSLOGPROG}:",
    ),
    ("SYSLOGLINE", r"%{SYSLOGBASE} ?%{GREEDYDATA:message}"),
    (
        "LOGLEVEL",
        r"\b(?i:trace|debug|notice|inf(?:o(?:rmation)?)?|warn(?:ing)?|err(?:or)?|crit(?:ical)?|alert|fatal|severe|emerg(?:ency)?|panic)\b",
    ),
    // --- web servers ---
    (
        "COMMONAPACHELOG",
        r#"%{IPORHOST:clientip} %{HTTPDUSER:ident} %{HTTPDUSER:auth} \[%{HTTPDATE:timestamp}\] "(?:%{WORD:verb} %{NOTSPACE:request}(?: HTTP/%{NUMBER:httpversion})?|%{DATA:rawrequest})" (?:%{NUMBER:response}|-) (?:%{NUMBER:bytes}|-)"#,
    ),
    (
        "COMBINEDAPACHELOG",
        r"%{COMMONAPACHELOG} %{QS:referrer} %{QS:agent}",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn grok(pattern: &str) -> Grok {
        Grok::compile(pattern, &[]).unwrap_or_else(|e| panic!("compile {pattern:?}: {e:#}"))
    }

    /// Captures as owned pairs; panics on no match or conversion error.
    fn caps(g: &Grok, text: &str) -> Vec<(String, String)> {
        g.captures(text)
            .unwrap_or_else(|| panic!("no match on {text:?}"))
            .unwrap_or_else(|e| panic!("conversion error on {text:?}: {e}"))
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect()
    }

    fn get<'v>(fields: &'v [(String, String)], name: &str) -> Option<&'v str> {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn whole(name: &str, text: &str) -> bool {
        let g = grok(&format!("^%{{{name}}}$"));
        g.is_match(text)
    }

    fn err(pattern: &str, custom: &[(String, String)]) -> String {
        match Grok::compile(pattern, custom) {
            Ok(_) => panic!("{pattern:?} compiled"),
            Err(e) => format!("{e:#}"),
        }
    }

    #[test]
    fn training_epoch_line() {
        let g = grok(
            "Epoch: %{NUMBER:epoch:int}, Loss: %{NUMBER:loss:float}, Accuracy: %{NUMBER:accuracy:float}",
        );
        assert_eq!(
            caps(&g, "Epoch: 12, Loss: 0.2345, Accuracy: 0.9512"),
            pairs(&[("epoch", "12"), ("loss", "0.2345"), ("accuracy", "0.9512")])
        );
        let kinds: Vec<FieldType> = g.fields().iter().map(|f| f.kind).collect();
        assert_eq!(kinds, [FieldType::Int, FieldType::Float, FieldType::Float]);
        assert_eq!(
            g.field_names().collect::<Vec<_>>(),
            ["epoch", "loss", "accuracy"]
        );
    }

    #[test]
    fn gpu_line() {
        let g = grok(
            "GPU %{NUMBER:gpu_id:int}: Utilization: %{NUMBER:gpu_util:float}%, Memory: %{NUMBER:gpu_mem:float}GB",
        );
        assert_eq!(
            caps(&g, "GPU 3: Utilization: 87.5%, Memory: 31.2GB"),
            pairs(&[("gpu_id", "3"), ("gpu_util", "87.5"), ("gpu_mem", "31.2")])
        );
        // Integral float values are normalized with a fractional part.
        assert_eq!(
            get(
                &caps(&g, "GPU 0: Utilization: 100%, Memory: 40GB"),
                "gpu_util"
            ),
            Some("100.0")
        );
    }

    #[test]
    fn prediction_line() {
        let g = grok(
            "Prediction request - Model: %{WORD:model_name}, Version: %{WORD:model_version}, Latency: %{NUMBER:latency_ms:float}ms",
        );
        assert_eq!(
            caps(
                &g,
                "Prediction request - Model: resnet50, Version: v2, Latency: 12.5ms"
            ),
            pairs(&[
                ("model_name", "resnet50"),
                ("model_version", "v2"),
                ("latency_ms", "12.5")
            ])
        );
        // Unanchored search: a prefix (e.g. a log timestamp) is fine.
        let line =
            "2024-01-15 10:00:00 INFO Prediction request - Model: bert, Version: 3, Latency: 7ms";
        assert_eq!(get(&caps(&g, line), "model_name"), Some("bert"));
        assert!(g.captures("Prediction request - Model: x").is_none());
    }

    #[test]
    fn combined_apache_log() {
        let g = grok("%{COMBINEDAPACHELOG}");
        let line = r#"203.0.113.9 - frank [10/Oct/2023:13:55:36 -0700] "GET /apache_pb.gif?x=1&y=%20 HTTP/1.1" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#;
        let f = caps(&g, line);
        assert_eq!(
            f,
            pairs(&[
                ("clientip", "203.0.113.9"),
                ("ident", "-"),
                ("auth", "frank"),
                ("timestamp", "10/Oct/2023:13:55:36 -0700"),
                ("verb", "GET"),
                ("request", "/apache_pb.gif?x=1&y=%20"),
                ("httpversion", "1.1"),
                ("response", "200"),
                ("bytes", "2326"),
                ("referrer", r#""http://www.example.com/start.html""#),
                ("agent", r#""Mozilla/4.08 [en] (Win98; I ;Nav)""#),
            ])
        );
        // Malformed request line, no body size, IPv6 client.
        let line = r#"2001:db8::1 - - [01/Jan/2024:00:00:01 +0000] "\x16\x03\x01" 400 - "-" "-""#;
        let f = caps(&g, line);
        assert_eq!(get(&f, "clientip"), Some("2001:db8::1"));
        assert_eq!(get(&f, "rawrequest"), Some(r"\x16\x03\x01"));
        assert_eq!(get(&f, "response"), Some("400"));
        assert_eq!(get(&f, "bytes"), None);
        assert_eq!(get(&f, "verb"), None);
    }

    #[test]
    fn syslogbase_on_loghub_lines() {
        let g = grok("%{SYSLOGBASE} %{GREEDYDATA:message}");
        // Linux_2k.log
        let f = caps(
            &g,
            "Jun 14 15:16:01 combo sshd(pam_unix)[19939]: authentication failure; logname= uid=0",
        );
        assert_eq!(get(&f, "timestamp"), Some("Jun 14 15:16:01"));
        assert_eq!(get(&f, "logsource"), Some("combo"));
        assert_eq!(get(&f, "program"), Some("sshd(pam_unix)"));
        assert_eq!(get(&f, "pid"), Some("19939"));
        assert_eq!(
            get(&f, "message"),
            Some("authentication failure; logname= uid=0")
        );
        // Mac_2k.log: pid 0
        let f = caps(
            &g,
            "Jul  1 09:00:55 calvisitor-10-105-160-95 kernel[0]: IOThunderboltSwitch<0>(0x0)::listenerCallback",
        );
        assert_eq!(get(&f, "logsource"), Some("calvisitor-10-105-160-95"));
        assert_eq!(get(&f, "pid"), Some("0"));
        // Linux_2k.log, no pid, space-padded day
        let f = caps(
            &g,
            "Jul  1 09:00:55 combo kernel: Linux version 2.6.5-1.358",
        );
        assert_eq!(get(&f, "timestamp"), Some("Jul  1 09:00:55"));
        assert_eq!(get(&f, "program"), Some("kernel"));
        assert_eq!(get(&f, "pid"), None);
        // OpenSSH_2k.log
        let f = caps(
            &g,
            "Dec 10 06:55:46 LabSZ sshd[24200]: reverse mapping checking getaddrinfo for ns.marryaldkfaczcz.com [173.234.31.186] failed - POSSIBLE BREAK-IN ATTEMPT!",
        );
        assert_eq!(get(&f, "logsource"), Some("LabSZ"));
        assert_eq!(get(&f, "program"), Some("sshd"));
        assert_eq!(get(&f, "pid"), Some("24200"));
        // facility/priority and an IP as host
        let f = caps(&g, "Feb  3 04:05:06 <4.6> 10.1.2.3 CRON[42]: job done");
        assert_eq!(get(&f, "facility"), Some("4"));
        assert_eq!(get(&f, "priority"), Some("6"));
        assert_eq!(get(&f, "logsource"), Some("10.1.2.3"));
    }

    #[test]
    fn timestamp_iso8601() {
        let g = grok("^%{TIMESTAMP_ISO8601:ts}$");
        for ok in [
            "2024-01-15T10:30:00Z",
            "2024-01-15T10:30:00.123456789+02:00",
            "2024-01-15 10:30:00,123",
            "2024-01-15T10:30:00",
            "2024-01-15T10:30",
            "2024-01-15T10:30:00-0500",
            "2024-1-5T1:30:00+05",
        ] {
            assert_eq!(get(&caps(&g, ok), "ts"), Some(ok), "{ok}");
        }
        for bad in [
            "2024-13-15T10:30:00Z",
            "2024-01-15T25:30:00Z",
            "2024-01-15",
            "15/01/2024 10:30",
        ] {
            assert!(g.captures(bad).is_none(), "{bad}");
        }
        let g = grok("at %{TIMESTAMP_ISO8601:ts} level=%{LOGLEVEL:level}");
        let f = caps(&g, "event at 2023-11-14T22:13:20.5Z level=WARN x");
        assert_eq!(
            f,
            pairs(&[("ts", "2023-11-14T22:13:20.5Z"), ("level", "WARN")])
        );
    }

    #[test]
    fn ipv4() {
        for ok in [
            "0.0.0.0",
            "10.0.0.1",
            "192.168.1.254",
            "255.255.255.255",
            "8.8.8.8",
        ] {
            assert!(whole("IPV4", ok), "{ok}");
        }
        for bad in [
            "256.1.1.1",
            "1.2.3",
            "1.2.3.4.",
            "01.2.3.4",
            "1.2.3.999",
            "a.b.c.d",
        ] {
            assert!(!whole("IPV4", bad), "{bad}");
        }
        let g = grok("%{IPV4:ip}");
        assert_eq!(
            get(&caps(&g, "from 172.16.0.12:443 ok"), "ip"),
            Some("172.16.0.12")
        );
        // No partial match inside a longer dotted number.
        assert!(g.captures("version 1.2.3.400").is_none());
    }

    #[test]
    fn ipv6() {
        for ok in [
            "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
            "2001:db8:85a3::8a2e:370:7334",
            "::1",
            "::",
            "fe80::1%eth0",
            "fe80::",
            "1::",
            "1:2:3:4:5:6:7::",
            "::2:3:4:5:6:7:8",
            "::ffff:192.0.2.128",
            "64:ff9b::192.0.2.33",
            "1:2:3:4:5:6:1.2.3.4",
        ] {
            assert!(whole("IPV6", ok), "{ok}");
            assert!(whole("IP", ok), "{ok}");
        }
        for bad in [
            "1:2:3:4:5:6:7",
            "1:2:3:4:5:6:7:8:9",
            "1::2::3",
            "12345::1",
            "1:2:3:4:5:6:7::8",
            "::1.2.3",
            "1:2:3:4:5:6:7:1.2.3.4",
        ] {
            assert!(!whole("IPV6", bad), "{bad}");
        }
        let g = grok("client=%{IP:ip} ");
        assert_eq!(
            get(&caps(&g, "client=fe80::a00:27ff:fe4e:66a1 port=22"), "ip"),
            Some("fe80::a00:27ff:fe4e:66a1")
        );
        assert_eq!(
            get(&caps(&g, "client=::ffff:10.0.0.7 x"), "ip"),
            Some("::ffff:10.0.0.7")
        );
    }

    #[test]
    fn int_field_that_does_not_convert() {
        let g = grok("%{WORD:n:int}");
        let e = g
            .captures("abc")
            .expect("matches")
            .expect_err("conversion must fail");
        assert!(
            e.contains("\"n\"") && e.contains("\"abc\"") && e.contains("int"),
            "{e}"
        );
        let g = grok("%{WORD:x:float}");
        let e = g
            .captures("NaN")
            .expect("matches")
            .expect_err("NaN is not accepted");
        assert!(e.contains("\"x\"") && e.contains("NaN"), "{e}");
        // i64 overflow
        let g = grok("%{INT:n:int}");
        assert!(
            g.captures("n=99999999999999999999")
                .expect("matches")
                .is_err()
        );
    }

    #[test]
    fn typed_value_normalization() {
        let g = grok("%{NOTSPACE:i:int} %{NOTSPACE:f:float}");
        let check = |text: &str, i: &str, f: &str| {
            assert_eq!(caps(&g, text), pairs(&[("i", i), ("f", f)]), "{text}");
        };
        check("+007 1e3", "7", "1000.0");
        check("-42 .5", "-42", "0.5");
        check("12.9 -2", "12", "-2.0");
        check("-0.5 0.1", "0", "0.1");
        check("9223372036854775807 1e300", "9223372036854775807", "1e300");
        assert!(g.captures("1.2.3 1.0").unwrap().is_err());
        assert!(g.captures("0x10 1.0").unwrap().is_err());
        assert!(g.captures("1 inf").unwrap().is_err());
    }

    #[test]
    fn unknown_pattern() {
        let e = err("%{NOPE:x}", &[]);
        assert!(e.contains("unknown grok pattern %{NOPE}"), "{e}");
        let custom = vec![("OUTER".to_string(), "a %{INNER_MISSING} b".to_string())];
        let e = err("%{OUTER}", &custom);
        assert!(
            e.contains("%{INNER_MISSING}") && e.contains("referenced from %{OUTER}"),
            "{e}"
        );
    }

    #[test]
    fn recursive_patterns() {
        let custom = vec![("SELF".to_string(), "x%{SELF}?".to_string())];
        let e = err("%{SELF}", &custom);
        assert!(
            e.contains("recursive") && e.contains("%{SELF} -> %{SELF}"),
            "{e}"
        );
        let custom = vec![
            ("A".to_string(), "a%{B}".to_string()),
            ("B".to_string(), "b%{C:c}".to_string()),
            ("C".to_string(), "c|%{A}".to_string()),
        ];
        let e = err("start %{A}", &custom);
        assert!(e.contains("%{A} -> %{B} -> %{C} -> %{A}"), "{e}");
    }

    #[test]
    fn custom_patterns() {
        let custom = vec![
            ("MODEL".to_string(), r"[a-z]+[0-9]*".to_string()),
            (
                "RUN".to_string(),
                r"run-%{POSINT:run_id:int}/%{MODEL:model}".to_string(),
            ),
            // Overrides the built-in WORD.
            ("WORD".to_string(), r"[A-Z]+".to_string()),
        ];
        let g = Grok::compile("%{RUN} at %{IPV4:host} %{WORD:w}", &custom).unwrap();
        assert_eq!(
            caps(&g, "run-17/resnet50 at 10.0.0.5 OK"),
            pairs(&[
                ("run_id", "17"),
                ("model", "resnet50"),
                ("host", "10.0.0.5"),
                ("w", "OK")
            ])
        );
        let e = err("%{X}", &[("bad name".to_string(), "x".to_string())]);
        assert!(e.contains("invalid custom grok pattern name"), "{e}");
    }

    #[test]
    fn field_name_mapping_and_raw_named_groups() {
        let g = grok(
            r"%{WORD:[kubernetes][pod]} %{WORD:http.method} (?<status-code>\d{3}) (?P<dur>[0-9.]+)s %{NUMBER:[a][b][c]:int}",
        );
        let names: Vec<&str> = g.field_names().collect();
        assert_eq!(
            names,
            [
                "kubernetes.pod",
                "http.method",
                "status-code",
                "dur",
                "a.b.c"
            ]
        );
        let groups: Vec<&str> = g.fields().iter().map(|f| f.group.as_str()).collect();
        assert_eq!(groups, ["g0", "g1", "g2", "g3", "g4"]);
        assert_eq!(
            caps(&g, "web1 GET 404 0.25s 7"),
            pairs(&[
                ("kubernetes.pod", "web1"),
                ("http.method", "GET"),
                ("status-code", "404"),
                ("dur", "0.25"),
                ("a.b.c", "7"),
            ])
        );
        // A named group inside a custom definition is a field too.
        let custom = vec![(
            "KV".to_string(),
            r"(?<key>\w+)=%{NOTSPACE:value}".to_string(),
        )];
        let g = Grok::compile("%{KV}", &custom).unwrap();
        assert_eq!(caps(&g, "a=1"), pairs(&[("key", "a"), ("value", "1")]));
        assert!(err("%{WORD:[a]b}", &[]).contains("malformed nested field"));
    }

    #[test]
    fn raw_regex_is_left_alone() {
        // `%{` inside a class, escaped, or before a digit is plain regex.
        let g = grok(r"^[%{]+ \%\{x\} a%{2} y");
        assert!(g.is_match("%{{ %{x} a%% y"));
        assert!(g.fields().is_empty());
    }

    #[test]
    fn malformed_references() {
        assert!(err("%{WORD:x:bool}", &[]).contains("unsupported type"));
        assert!(err("%{WORD", &[]).contains("unterminated"));
        assert!(err("%{WO-RD}", &[]).contains("malformed grok reference"));
        assert!(err("%{WORD:}", &[]).contains("empty grok field name"));
        // Look-around is not supported by the regex crate: clear error.
        assert!(err(r"(?<!x)%{WORD}", &[]).contains("not a valid regex"));
    }

    #[test]
    fn size_limits() {
        let e = format!(
            "{:#}",
            Grok::compile_with_limit("%{COMBINEDAPACHELOG}", &[], 10_000).unwrap_err()
        );
        assert!(e.contains("size limit"), "{e}");
        // Exponential expansion is stopped by the text-length limit, not by memory.
        let mut custom = vec![("L0".to_string(), "ab".to_string())];
        for i in 1..40 {
            custom.push((format!("L{i}"), format!("%{{L{p}}}%{{L{p}}}", p = i - 1)));
        }
        let e = format!(
            "{:#}",
            Grok::compile_with_limit("%{L39}", &custom, 1 << 16).unwrap_err()
        );
        assert!(e.contains("more than 65536 bytes"), "{e}");
    }

    #[test]
    fn all_builtins_compile_and_match_samples() {
        for name in builtin_pattern_names() {
            grok(&format!("%{{{name}:v}}"));
        }
        let samples = [
            ("USERNAME", "john.doe-1"),
            ("EMAILADDRESS", "first.last+tag@mail.example.org"),
            ("INT", "-17"),
            ("NUMBER", "+3.25"),
            ("BASE16NUM", "0x1F"),
            ("POSINT", "42"),
            ("NONNEGINT", "0"),
            ("WORD", "hello_1"),
            ("QUOTEDSTRING", r#""say \"hi\"""#),
            ("QS", "'single'"),
            ("UUID", "123e4567-e89b-12d3-a456-426614174000"),
            ("MAC", "00:1A:2b:3C:4d:5E"),
            ("MAC", "001a.2b3c.4d5e"),
            ("MAC", "00-1A-2B-3C-4D-5E"),
            ("HOSTNAME", "api.example.com"),
            ("IPORHOST", "localhost"),
            ("HOSTPORT", "db-1.internal:5432"),
            ("PATH", "/var/log/nginx/access.log"),
            ("PATH", r"C:\Windows\System32\drivers"),
            ("URIPROTO", "https"),
            ("URIHOST", "[::1]:8080"),
            ("URIPATHPARAM", "/search?q=grok&lang=en#top"),
            ("URI", "https://user:pw@example.com:8443/a/b.html?x=1"),
            ("MONTH", "September"),
            ("MONTHNUM", "12"),
            ("MONTHDAY", "31"),
            ("DAY", "Thursday"),
            ("TIME", "23:59:60"),
            ("DATE_US", "12/31/2023"),
            ("DATE_EU", "31.12.2023"),
            ("DATESTAMP", "31-12-2023 10:00:00"),
            ("TZ", "CEST"),
            ("HTTPDATE", "10/Oct/2023:13:55:36 -0700"),
            ("SYSLOGTIMESTAMP", "Dec  1 00:00:00"),
            ("SYSLOGPROG", "postfix/smtpd[123]"),
            ("LOGLEVEL", "Warning"),
            ("HTTPDUSER", "alice@example.com"),
        ];
        for (name, text) in samples {
            assert!(whole(name, text), "%{{{name}}} should match {text:?}");
        }
        let g = grok("%{URI:url}");
        let f = caps(&g, "GET https://example.com:8443/x?y=1 done");
        assert_eq!(get(&f, "url"), Some("https://example.com:8443/x?y=1"));
        assert_eq!(get(&f, "port"), Some("8443"));
    }

    #[test]
    fn optional_and_empty_captures_are_skipped() {
        let g = grok(r"^%{WORD:a}(?: %{WORD:b})?:%{DATA:c}$");
        assert_eq!(caps(&g, "x:"), pairs(&[("a", "x")]));
        assert_eq!(
            caps(&g, "x y:z"),
            pairs(&[("a", "x"), ("b", "y"), ("c", "z")])
        );
        assert!(g.captures("no colon here").is_none());
    }
}
