//! Values and functions of the template engine.
//!
//! Functions (Go/sprig argument order; a piped value is the last argument):
//! `__line__`, `__timestamp__`; strings: `ToUpper`/`upper`, `ToLower`/`lower`,
//! `title`, `trim`/`TrimSpace`, `trimAll cutset s`, `Trim s cutset`,
//! `TrimLeft s cutset`, `TrimRight s cutset`, `trimPrefix p s`,
//! `trimSuffix p s`, `TrimPrefix s p`, `TrimSuffix s p`, `replace old new s`,
//! `Replace s old new n`, `substr start end s`, `trunc n s`, `repeat n s`,
//! `alignLeft n s`, `alignRight n s`, `indent n s`, `nindent n s`, `len`,
//! `printf` (verbs s v d f e g q x t with flags, width, precision),
//! `default def v`, `b64enc`, `b64dec`, `urlencode`, `urldecode`; matching:
//! `contains sub s`, `hasPrefix p s`, `hasSuffix p s`, `count re s`,
//! `regexReplaceAll re s repl`, `regexReplaceAllLiteral`; logic: `eq`, `ne`,
//! `lt`, `le`, `gt`, `ge`, `and`, `or`, `not`; numbers (sprig: text that is
//! not a number counts as 0): `int`, `float64`, `add`, `sub`, `mul`, `div`,
//! `mod`, `max`, `min` (integers), `addf`, `subf`, `mulf`, `divf` (decimal
//! arithmetic, as sprig), `maxf`, `minf`, `ceil`, `floor`, `round v places
//! [roundOn]`; conversions: `duration`/`duration_seconds` (a duration to
//! seconds), `bytes` (a humanized size to bytes), `fromJson` (a JSON
//! document to maps, lists, numbers, strings, booleans; nil when invalid);
//! time: `now`, `date layout t`, `toDate layout s`, `toDateInZone layout zone
//! s`, `unixToTime epoch`, `unixEpoch`, `unixEpochMillis`, `unixEpochNanos`.
//!
//! Times follow Go's `time` package: layouts are Go reference layouts
//! (`2006-01-02T15:04:05.000Z07:00`), a time prints like `time.Time.String()`.
//! The server's local zone, which Loki uses for `now`, `date`, `toDate` and
//! `__timestamp__`, is UTC here.

use std::collections::BTreeMap;

use strata_logql::units::{parse_bytes, parse_duration};

use super::json::{JsonValue, parse_json};
use super::template::Context;

/// Largest printf width or precision a query may ask for.
const MAX_PRINTF_WIDTH: usize = 10_000;

/// Largest text one template may produce for one line.
pub(crate) const MAX_TEMPLATE_OUTPUT: usize = 1 << 20;

/// A template value: the Go types Loki's functions produce.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Str(String),
    /// Go's `int`/`int64`.
    Int(i64),
    /// Go's `float64`.
    Num(f64),
    Bool(bool),
    Time(Time),
    /// A JSON array (`[]interface{}`).
    List(Vec<Value>),
    /// A JSON object (`map[string]interface{}`), in key order.
    Map(BTreeMap<String, Value>),
    Nil,
}

impl Value {
    /// Go truthiness: empty string or collection, 0, false and nil are false.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Str(text) => !text.is_empty(),
            Value::Int(value) => *value != 0,
            Value::Num(value) => *value != 0.0,
            Value::Bool(value) => *value,
            Value::Time(_) => true,
            Value::List(items) => !items.is_empty(),
            Value::Map(map) => !map.is_empty(),
            Value::Nil => false,
        }
    }

    /// Writes the value as Go's `fmt` prints it with `%v` (nil as nothing).
    pub fn write_to(&self, out: &mut String) {
        match self {
            Value::Str(text) => out.push_str(text),
            Value::Int(value) => out.push_str(&value.to_string()),
            Value::Num(value) => out.push_str(&format_float(*value)),
            Value::Bool(value) => out.push_str(if *value { "true" } else { "false" }),
            Value::Time(time) => out.push_str(&time.to_go_string()),
            Value::List(items) => {
                out.push('[');
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        out.push(' ');
                    }
                    item.write_nested(out);
                }
                out.push(']');
            }
            Value::Map(map) => {
                out.push_str("map[");
                for (index, (key, item)) in map.iter().enumerate() {
                    if index > 0 {
                        out.push(' ');
                    }
                    out.push_str(key);
                    out.push(':');
                    item.write_nested(out);
                }
                out.push(']');
            }
            Value::Nil => {}
        }
    }

    /// An element of a list or map: nil prints as `<nil>`.
    fn write_nested(&self, out: &mut String) {
        match self {
            Value::Nil => out.push_str("<nil>"),
            other => other.write_to(out),
        }
    }

    fn to_text(&self) -> String {
        match self {
            Value::Str(text) => text.clone(),
            other => {
                let mut out = String::new();
                other.write_to(&mut out);
                out
            }
        }
    }

    /// Go's name of the value's type, for messages.
    fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Int(_) => "int",
            Value::Num(_) => "float64",
            Value::Bool(_) => "bool",
            Value::Time(_) => "time.Time",
            Value::List(_) => "[]interface {}",
            Value::Map(_) => "map[string]interface {}",
            Value::Nil => "<nil>",
        }
    }

    /// The value's type and a short rendering, for messages.
    pub fn describe_for_error(&self) -> String {
        let text = self.to_text();
        let short: String = text.chars().take(40).collect();
        let ellipsis = if short.len() < text.len() { "..." } else { "" };
        format!("{} {short:?}{ellipsis}", self.type_name())
    }

    /// A number, for `printf` and comparisons: text must parse.
    fn to_f64(&self) -> Result<f64, String> {
        match self {
            Value::Num(value) => Ok(*value),
            Value::Int(value) => Ok(*value as f64),
            Value::Str(text) => text
                .trim()
                .parse::<f64>()
                .map_err(|_| format!("cannot convert {text:?} to a number")),
            Value::Bool(value) => Ok(if *value { 1.0 } else { 0.0 }),
            Value::Time(time) => Ok(time.unix_nanos() as f64),
            Value::Nil => Ok(0.0),
            Value::List(_) | Value::Map(_) => {
                Err(format!("cannot convert {} to a number", self.type_name()))
            }
        }
    }

    /// An integer argument (Go's `int` parameters): text must parse.
    fn to_i64(&self) -> Result<i64, String> {
        match self {
            Value::Int(value) => Ok(*value),
            Value::Str(text) => match text.trim().parse::<i64>() {
                Ok(value) => Ok(value),
                Err(_) => Ok(self.to_f64()?.trunc() as i64),
            },
            other => Ok(other.to_f64()?.trunc() as i64),
        }
    }

    /// sprig's `toInt64` (spf13/cast): a value that is not a number is 0.
    fn cast_i64(&self) -> i64 {
        match self {
            Value::Int(value) => *value,
            Value::Num(value) => *value as i64,
            Value::Bool(value) => i64::from(*value),
            Value::Str(text) => parse_go_int(trim_zero_decimal(text)).unwrap_or(0),
            Value::Time(_) | Value::List(_) | Value::Map(_) | Value::Nil => 0,
        }
    }

    /// sprig's `toFloat64` (spf13/cast): a value that is not a number is 0.
    fn cast_f64(&self) -> f64 {
        match self {
            Value::Int(value) => *value as f64,
            Value::Num(value) => *value,
            Value::Bool(value) => f64::from(u8::from(*value)),
            Value::Str(text) => text.parse::<f64>().unwrap_or(0.0),
            Value::Time(_) | Value::List(_) | Value::Map(_) | Value::Nil => 0.0,
        }
    }
}

/// cast's `trimZeroDecimal`: `"3.00"` is `"3"`, other text is unchanged.
fn trim_zero_decimal(text: &str) -> &str {
    let bytes = text.as_bytes();
    let mut found_zero = false;
    for index in (0..bytes.len()).rev() {
        match bytes[index] {
            b'.' if found_zero => return &text[..index],
            b'0' => found_zero = true,
            _ => return text,
        }
    }
    text
}

/// Go's `strconv.ParseInt(text, 0, 64)`: decimal, `0x`, `0o`, `0b`, or a leading-`0` octal.
pub(crate) fn parse_go_int(text: &str) -> Option<i64> {
    let (negative, body) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits, prefixed) = if let Some(rest) = lower.strip_prefix("0x") {
        (16, rest, true)
    } else if let Some(rest) = lower.strip_prefix("0o") {
        (8, rest, true)
    } else if let Some(rest) = lower.strip_prefix("0b") {
        (2, rest, true)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..], true)
    } else {
        (10, lower.as_str(), false)
    };
    // Underscores may only separate digits (or follow a base prefix).
    let digits = if digits.contains('_') {
        let well_placed = !digits.ends_with('_')
            && !digits.contains("__")
            && (prefixed || !digits.starts_with('_'));
        if !well_placed {
            return None;
        }
        digits.replace('_', "")
    } else {
        digits.to_string()
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let magnitude = u64::from_str_radix(&digits, radix).ok()?;
    if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// A number literal of a template: an integer when it has no `.`/exponent, else a float.
pub(crate) fn parse_number_literal(text: &str) -> Option<Value> {
    let unsigned = text.trim_start_matches(['+', '-']).to_ascii_lowercase();
    let hex = unsigned.starts_with("0x");
    let float = || {
        // Underscores only between digits.
        let bytes = unsigned.as_bytes();
        let misplaced = bytes.iter().enumerate().any(|(at, &b)| {
            b == b'_'
                && !(at > 0
                    && bytes[at - 1].is_ascii_digit()
                    && bytes.get(at + 1).is_some_and(u8::is_ascii_digit))
        });
        if misplaced {
            return None;
        }
        text.replace('_', "").parse::<f64>().ok().map(Value::Num)
    };
    if !hex && text.contains(['.', 'e', 'E']) {
        return float();
    }
    if let Some(value) = parse_go_int(text) {
        return Some(Value::Int(value));
    }
    // A decimal integer too large for int64.
    if unsigned.bytes().all(|b| b.is_ascii_digit() || b == b'_') {
        return float();
    }
    None
}

/// Go's `%v` of a float64 (strconv's `'g'` with the shortest digits): in
/// exponent form when the decimal exponent is below -4 or at least 6
/// (`1e+06`, `1.5e-05`), plain otherwise (`123456.5`, `0.0001`).
fn format_float(value: f64) -> String {
    if value.is_nan() {
        return "NaN".to_string();
    }
    if value.is_infinite() {
        return if value > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    if value == 0.0 {
        return if value.is_sign_negative() { "-0" } else { "0" }.to_string();
    }
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific
        .split_once('e')
        .unwrap_or((scientific.as_str(), "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if (-4..6).contains(&exponent) {
        format!("{value}")
    } else {
        format!("{mantissa}{}", go_exponent(exponent))
    }
}

/// `e+06`, `e-10`, `e+100`: Go prints at least two exponent digits.
fn go_exponent(exponent: i32) -> String {
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("e{sign}{:02}", exponent.unsigned_abs())
}

/// Go's `%.Ne`.
fn format_exponent(value: f64, precision: usize) -> String {
    if !value.is_finite() {
        return format_float(value);
    }
    let text = format!("{value:.precision$e}");
    match text.split_once('e') {
        Some((mantissa, exponent)) => {
            format!("{mantissa}{}", go_exponent(exponent.parse().unwrap_or(0)))
        }
        None => text,
    }
}

/// `value.a.b`: fields of maps; a missing key is nil.
pub(crate) fn field_of(value: &Value, path: &[String]) -> Result<Value, String> {
    let mut current = value;
    for name in path {
        match current {
            Value::Map(map) => match map.get(name) {
                Some(next) => current = next,
                None => current = &Value::Nil,
            },
            Value::Nil => return Err(format!("nil pointer evaluating interface {{}}.{name}")),
            other => {
                return Err(format!(
                    "can't evaluate field {name} in type {}",
                    other.type_name()
                ));
            }
        }
    }
    Ok(current.clone())
}

const FUNCTIONS: &[&str] = &[
    "__line__",
    "__timestamp__",
    "ToUpper",
    "upper",
    "ToLower",
    "lower",
    "title",
    "trim",
    "TrimSpace",
    "trimAll",
    "Trim",
    "TrimLeft",
    "TrimRight",
    "trimPrefix",
    "trimSuffix",
    "TrimPrefix",
    "TrimSuffix",
    "replace",
    "Replace",
    "substr",
    "trunc",
    "repeat",
    "alignLeft",
    "alignRight",
    "indent",
    "nindent",
    "len",
    "printf",
    "default",
    "b64enc",
    "b64dec",
    "urlencode",
    "urldecode",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "count",
    "regexReplaceAll",
    "regexReplaceAllLiteral",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "and",
    "or",
    "not",
    "int",
    "float64",
    "add",
    "sub",
    "mul",
    "div",
    "mod",
    "max",
    "min",
    "addf",
    "subf",
    "mulf",
    "divf",
    "maxf",
    "minf",
    "ceil",
    "floor",
    "round",
    "duration",
    "duration_seconds",
    "bytes",
    "fromJson",
    "now",
    "date",
    "toDate",
    "toDateInZone",
    "unixToTime",
    "unixEpoch",
    "unixEpochMillis",
    "unixEpochNanos",
];

pub(crate) fn is_function(name: &str) -> bool {
    FUNCTIONS.contains(&name)
}

fn arity(name: &str, args: &[Value], count: usize) -> Result<(), String> {
    if args.len() == count {
        Ok(())
    } else {
        Err(format!(
            "wrong number of args for {name}: want {count} got {}",
            args.len()
        ))
    }
}

fn at_least(name: &str, args: &[Value], count: usize) -> Result<(), String> {
    if args.len() >= count {
        Ok(())
    } else {
        Err(format!(
            "wrong number of args for {name}: want at least {count} got {}",
            args.len()
        ))
    }
}

fn text_arg(args: &[Value], index: usize) -> String {
    args[index].to_text()
}

fn time_arg(name: &str, value: &Value) -> Result<Time, String> {
    match value {
        Value::Time(time) => Ok(time.clone()),
        other => Err(format!(
            "wrong type for value in {name}; expected time.Time; got {}",
            other.type_name()
        )),
    }
}

/// Bounds a text a function is about to build.
fn check_size(name: &str, len: usize) -> Result<(), String> {
    if len > MAX_TEMPLATE_OUTPUT {
        Err(format!(
            "{name} would make more than {MAX_TEMPLATE_OUTPUT} bytes"
        ))
    } else {
        Ok(())
    }
}

pub(crate) fn call_function(
    name: &str,
    args: Vec<Value>,
    context: &Context<'_>,
) -> Result<Value, String> {
    let unary = |f: fn(&str) -> String| -> Result<Value, String> {
        arity(name, &args, 1)?;
        Ok(Value::Str(f(&text_arg(&args, 0))))
    };
    let value = match name {
        "__line__" => {
            arity(name, &args, 0)?;
            Value::Str(context.line.to_string())
        }
        "__timestamp__" => {
            arity(name, &args, 0)?;
            Value::Time(Time::from_unix_nanos(context.ts_ns))
        }
        "ToUpper" | "upper" => return unary(|s| s.to_uppercase()),
        "ToLower" | "lower" => return unary(|s| s.to_lowercase()),
        "title" => return unary(title),
        "trim" | "TrimSpace" => return unary(|s| s.trim().to_string()),
        "b64enc" => return unary(|s| base64_encode(s.as_bytes())),
        "b64dec" => return unary(base64_decode),
        "urlencode" => return unary(query_escape),
        "urldecode" => {
            arity(name, &args, 1)?;
            Value::Str(query_unescape(&text_arg(&args, 0))?)
        }
        "trimAll" | "Trim" | "TrimLeft" | "TrimRight" => {
            arity(name, &args, 2)?;
            let (cutset, text) = if name == "trimAll" {
                (text_arg(&args, 0), text_arg(&args, 1))
            } else {
                (text_arg(&args, 1), text_arg(&args, 0))
            };
            let cut = |c: char| cutset.contains(c);
            Value::Str(
                match name {
                    "TrimLeft" => text.trim_start_matches(cut),
                    "TrimRight" => text.trim_end_matches(cut),
                    _ => text.trim_matches(cut),
                }
                .to_string(),
            )
        }
        "trimPrefix" | "trimSuffix" | "TrimPrefix" | "TrimSuffix" => {
            arity(name, &args, 2)?;
            let (affix, text) = if name.starts_with('t') {
                (text_arg(&args, 0), text_arg(&args, 1))
            } else {
                (text_arg(&args, 1), text_arg(&args, 0))
            };
            let trimmed = if name.ends_with("Prefix") {
                text.strip_prefix(affix.as_str())
            } else {
                text.strip_suffix(affix.as_str())
            };
            Value::Str(trimmed.unwrap_or(&text).to_string())
        }
        "replace" => {
            arity(name, &args, 3)?;
            let (old, new, text) = (text_arg(&args, 0), text_arg(&args, 1), text_arg(&args, 2));
            check_size(name, replaced_len(&text, &old, &new))?;
            Value::Str(text.replace(&old, &new))
        }
        "Replace" => {
            arity(name, &args, 4)?;
            let count = args[3].to_i64()?;
            let text = text_arg(&args, 0);
            let (old, new) = (text_arg(&args, 1), text_arg(&args, 2));
            check_size(name, replaced_len(&text, &old, &new))?;
            Value::Str(if count < 0 {
                text.replace(&old, &new)
            } else {
                text.replacen(&old, &new, count as usize)
            })
        }
        "substr" => {
            arity(name, &args, 3)?;
            let chars: Vec<char> = text_arg(&args, 2).chars().collect();
            let start = args[0].to_i64()?.clamp(0, chars.len() as i64) as usize;
            let end = args[1].to_i64()?;
            let end = if end < 0 {
                chars.len()
            } else {
                (end as usize).min(chars.len())
            };
            Value::Str(if start < end {
                chars[start..end].iter().collect()
            } else {
                String::new()
            })
        }
        "trunc" => {
            arity(name, &args, 2)?;
            let count = args[0].to_i64()?;
            let text = text_arg(&args, 1);
            let len = text.chars().count() as i64;
            Value::Str(if count < 0 && len + count > 0 {
                text.chars().skip((len + count) as usize).collect()
            } else if count >= 0 && len > count {
                text.chars().take(count as usize).collect()
            } else {
                text
            })
        }
        "repeat" => {
            arity(name, &args, 2)?;
            let text = text_arg(&args, 1);
            let count = args[0].to_i64()?.clamp(0, 10_000) as usize;
            check_size(name, text.len().saturating_mul(count))?;
            Value::Str(text.repeat(count))
        }
        "alignLeft" | "alignRight" => {
            arity(name, &args, 2)?;
            let width = args[0].to_i64()?.clamp(0, 10_000) as usize;
            let text = text_arg(&args, 1);
            let len = text.chars().count();
            Value::Str(if len >= width {
                text.chars().take(width).collect()
            } else if name == "alignLeft" {
                format!("{text}{}", " ".repeat(width - len))
            } else {
                format!("{}{text}", " ".repeat(width - len))
            })
        }
        "indent" | "nindent" => {
            arity(name, &args, 2)?;
            let spaces = args[0].to_i64()?;
            let spaces =
                usize::try_from(spaces).map_err(|_| format!("{name}: negative indent {spaces}"))?;
            let text = text_arg(&args, 1);
            let lines = text.matches('\n').count() + 1;
            check_size(
                name,
                spaces.saturating_mul(lines).saturating_add(text.len() + 1),
            )?;
            let pad = " ".repeat(spaces);
            let mut out = String::with_capacity(text.len() + spaces * lines + 1);
            if name == "nindent" {
                out.push('\n');
            }
            out.push_str(&pad);
            out.push_str(&text.replace('\n', &format!("\n{pad}")));
            Value::Str(out)
        }
        "len" => {
            arity(name, &args, 1)?;
            Value::Int(match &args[0] {
                Value::List(items) => items.len(),
                Value::Map(map) => map.len(),
                other => other.to_text().len(),
            } as i64)
        }
        "printf" => {
            if args.is_empty() {
                return Err("wrong number of args for printf".to_string());
            }
            Value::Str(printf(&text_arg(&args, 0), &args[1..]))
        }
        "default" => {
            if args.len() == 1 {
                return Ok(args[0].clone());
            }
            arity(name, &args, 2)?;
            if args[1].truthy() {
                args[1].clone()
            } else {
                args[0].clone()
            }
        }
        "contains" | "hasPrefix" | "hasSuffix" => {
            arity(name, &args, 2)?;
            let (needle, text) = (text_arg(&args, 0), text_arg(&args, 1));
            Value::Bool(match name {
                "contains" => text.contains(&needle),
                "hasPrefix" => text.starts_with(&needle),
                _ => text.ends_with(&needle),
            })
        }
        "regexReplaceAll" | "regexReplaceAllLiteral" | "count" => {
            at_least(name, &args, 1)?;
            let pattern = text_arg(&args, 0);
            let regex = regex::Regex::new(&pattern)
                .map_err(|err| format!("invalid regex {pattern:?}: {err}"))?;
            return call_with_regex(name, &regex, &args);
        }
        "eq" => {
            if args.len() < 2 {
                return Err("wrong number of args for eq".to_string());
            }
            Value::Bool(
                args[1..]
                    .iter()
                    .any(|other| compare(&args[0], other) == Some(std::cmp::Ordering::Equal)),
            )
        }
        "ne" | "lt" | "le" | "gt" | "ge" => {
            arity(name, &args, 2)?;
            let ordering = compare(&args[0], &args[1])
                .ok_or_else(|| format!("incomparable values for {name}"))?;
            Value::Bool(match name {
                "ne" => ordering.is_ne(),
                "lt" => ordering.is_lt(),
                "le" => ordering.is_le(),
                "gt" => ordering.is_gt(),
                _ => ordering.is_ge(),
            })
        }
        "and" => args
            .iter()
            .find(|value| !value.truthy())
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Nil),
        "or" => args
            .iter()
            .find(|value| value.truthy())
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Nil),
        "not" => {
            arity(name, &args, 1)?;
            Value::Bool(!args[0].truthy())
        }
        "int" => {
            arity(name, &args, 1)?;
            Value::Int(args[0].cast_i64())
        }
        "float64" => {
            arity(name, &args, 1)?;
            Value::Num(args[0].cast_f64())
        }
        "add" => {
            let mut sum = 0i64;
            for value in &args {
                sum = sum
                    .checked_add(value.cast_i64())
                    .ok_or("integer overflow in add")?;
            }
            Value::Int(sum)
        }
        "mul" => {
            at_least(name, &args, 1)?;
            let mut product = args[0].cast_i64();
            for value in &args[1..] {
                product = product
                    .checked_mul(value.cast_i64())
                    .ok_or("integer overflow in mul")?;
            }
            Value::Int(product)
        }
        "sub" | "div" | "mod" => {
            arity(name, &args, 2)?;
            let (left, right) = (args[0].cast_i64(), args[1].cast_i64());
            let result = match name {
                "sub" => left.checked_sub(right),
                "div" => left.checked_div(right),
                _ => left.checked_rem(right),
            };
            Value::Int(
                result.ok_or_else(|| format!("integer overflow or division by zero in {name}"))?,
            )
        }
        "max" | "min" => {
            at_least(name, &args, 1)?;
            let values = args.iter().map(Value::cast_i64);
            Value::Int(
                if name == "max" {
                    values.max()
                } else {
                    values.min()
                }
                .unwrap_or_default(),
            )
        }
        "addf" | "subf" | "mulf" | "divf" => {
            if name != "addf" {
                at_least(name, &args, 1)?;
            }
            let values: Vec<f64> = args.iter().map(Value::cast_f64).collect();
            Value::Num(decimal_arithmetic(name, &values)?)
        }
        "maxf" | "minf" => {
            at_least(name, &args, 1)?;
            let mut result = args[0].cast_f64();
            for value in &args[1..] {
                result = go_max_min(name == "maxf", result, value.cast_f64());
            }
            Value::Num(result)
        }
        "ceil" | "floor" => {
            arity(name, &args, 1)?;
            let value = args[0].cast_f64();
            Value::Num(if name == "ceil" {
                value.ceil()
            } else {
                value.floor()
            })
        }
        "round" => {
            if !(2..=3).contains(&args.len()) {
                return Err(format!(
                    "wrong number of args for round: want 2 or 3 got {}",
                    args.len()
                ));
            }
            let round_on = match args.get(2) {
                Some(value) => value.to_f64()?,
                None => 0.5,
            };
            Value::Num(sprig_round(args[0].cast_f64(), args[1].to_i64()?, round_on))
        }
        "duration" | "duration_seconds" => {
            arity(name, &args, 1)?;
            let text = text_arg(&args, 0);
            let nanos =
                parse_duration(&text).ok_or_else(|| format!("time: invalid duration {text:?}"))?;
            // Go's Duration.Seconds().
            Value::Num((nanos / 1_000_000_000) as f64 + (nanos % 1_000_000_000) as f64 / 1e9)
        }
        "bytes" => {
            arity(name, &args, 1)?;
            let text = text_arg(&args, 0);
            let bytes =
                parse_bytes(&text).ok_or_else(|| format!("cannot parse {text:?} as bytes"))?;
            Value::Num(bytes as f64)
        }
        "fromJson" => {
            arity(name, &args, 1)?;
            match parse_json(&text_arg(&args, 0)) {
                Ok(json) => json_value(&json),
                Err(_) => Value::Nil,
            }
        }
        "now" => {
            arity(name, &args, 0)?;
            Value::Time(Time::now())
        }
        "date" => {
            arity(name, &args, 2)?;
            let time = match &args[1] {
                Value::Time(time) => time.clone(),
                Value::Int(seconds) => Time::utc(*seconds, 0),
                // sprig formats the current time for anything else.
                _ => Time::now(),
            };
            Value::Str(format_layout(&time.in_local(), &text_arg(&args, 0)))
        }
        "toDate" => {
            arity(name, &args, 2)?;
            let (layout, text) = (text_arg(&args, 0), text_arg(&args, 1));
            Value::Time(parse_layout(&layout, &text, &Location::Utc).unwrap_or_else(Time::zero))
        }
        "toDateInZone" => {
            arity(name, &args, 3)?;
            let (layout, zone, text) = (text_arg(&args, 0), text_arg(&args, 1), text_arg(&args, 2));
            let location = Location::named(&zone);
            Value::Time(parse_layout(&layout, &text, &location).unwrap_or_else(Time::zero))
        }
        "unixToTime" => {
            arity(name, &args, 1)?;
            Value::Time(unix_to_time(&text_arg(&args, 0))?)
        }
        "unixEpoch" => {
            arity(name, &args, 1)?;
            Value::Int(time_arg(name, &args[0])?.secs)
        }
        "unixEpochMillis" => {
            arity(name, &args, 1)?;
            Value::Int(time_arg(name, &args[0])?.unix_millis())
        }
        "unixEpochNanos" => {
            arity(name, &args, 1)?;
            Value::Int(time_arg(name, &args[0])?.unix_nanos())
        }
        _ => return Err(format!("function {name:?} not defined")),
    };
    Ok(value)
}

/// The length of `text` with every `old` replaced by `new`.
fn replaced_len(text: &str, old: &str, new: &str) -> usize {
    if new.len() <= old.len() {
        return text.len();
    }
    let count = if old.is_empty() {
        text.chars().count() + 1
    } else {
        text.matches(old).count()
    };
    text.len()
        .saturating_add(count.saturating_mul(new.len() - old.len()))
}

/// The functions taking a regex first, with it compiled: `regexReplaceAll re s
/// repl` (with `$1` expansion), `regexReplaceAllLiteral`, `count re s`.
pub(crate) fn call_with_regex(
    name: &str,
    regex: &regex::Regex,
    args: &[Value],
) -> Result<Value, String> {
    if name == "count" {
        arity(name, args, 2)?;
        return Ok(Value::Int(
            regex.find_iter(&text_arg(args, 1)).count() as i64
        ));
    }
    arity(name, args, 3)?;
    let (text, replacement) = (text_arg(args, 1), text_arg(args, 2));
    let replaced = if name == "regexReplaceAll" {
        regex.replace_all(&text, replacement.as_str()).into_owned()
    } else {
        regex
            .replace_all(&text, regex::NoExpand(&replacement))
            .into_owned()
    };
    check_size(name, replaced.len())?;
    Ok(Value::Str(replaced))
}

fn title(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at_word_start = true;
    for c in text.chars() {
        if at_word_start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        at_word_start = !c.is_alphanumeric() && c != '\'';
    }
    out
}

/// Numbers compare numerically (strings that parse as numbers included), the rest as text.
fn compare(left: &Value, right: &Value) -> Option<std::cmp::Ordering> {
    if let (Value::Int(a), Value::Int(b)) = (left, right) {
        return Some(a.cmp(b));
    }
    let numeric = |value: &Value| matches!(value, Value::Num(_) | Value::Int(_));
    if (numeric(left) || numeric(right))
        && let (Ok(a), Ok(b)) = (left.to_f64(), right.to_f64())
    {
        return a.partial_cmp(&b);
    }
    Some(left.to_text().cmp(&right.to_text()))
}

/// Go's `math.Max`/`math.Min`: NaN wins, +0 is larger than -0.
fn go_max_min(max: bool, a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        return f64::NAN;
    }
    if a == 0.0 && b == 0.0 {
        let negative = if max {
            a.is_sign_negative() && b.is_sign_negative()
        } else {
            a.is_sign_negative() || b.is_sign_negative()
        };
        return if negative { -0.0 } else { 0.0 };
    }
    if (a > b) == max { a } else { b }
}

/// sprig's `round`: rounds up when the fraction (at `places`) is at least `round_on`.
fn sprig_round(value: f64, places: i64, round_on: f64) -> f64 {
    let pow = 10f64.powf(places as f64);
    let digit = pow * value;
    let rounded = if digit.fract() >= round_on {
        digit.ceil()
    } else {
        digit.floor()
    };
    rounded / pow
}

/// A decimal `mantissa × 10^exponent`, as sprig's float functions compute
/// with (shopspring/decimal, 16 places for division).
#[derive(Debug, Clone, Copy)]
struct Decimal {
    mantissa: i128,
    exponent: i32,
}

impl Decimal {
    /// The shortest decimal that reads back as `value`.
    fn from_f64(value: f64) -> Option<Decimal> {
        if !value.is_finite() {
            return None;
        }
        let text = format!("{value:e}");
        let (mantissa, exponent) = text.split_once('e')?;
        let fraction_digits = mantissa.split_once('.').map_or(0, |(_, f)| f.len()) as i32;
        let digits: String = mantissa.chars().filter(|c| *c != '.').collect();
        Some(
            Decimal {
                mantissa: digits.parse().ok()?,
                exponent: exponent.parse::<i32>().ok()? - fraction_digits,
            }
            .normalized(),
        )
    }

    fn normalized(mut self) -> Decimal {
        if self.mantissa == 0 {
            self.exponent = 0;
        }
        while self.mantissa != 0 && self.mantissa % 10 == 0 {
            self.mantissa /= 10;
            self.exponent += 1;
        }
        self
    }

    fn to_f64(self) -> f64 {
        format!("{}e{}", self.mantissa, self.exponent)
            .parse()
            .unwrap_or(f64::NAN)
    }

    fn scaled(self, exponent: i32) -> Option<i128> {
        let shift = u32::try_from(self.exponent.checked_sub(exponent)?).ok()?;
        self.mantissa.checked_mul(10i128.checked_pow(shift)?)
    }

    fn add(self, other: Decimal) -> Option<Decimal> {
        let exponent = self.exponent.min(other.exponent);
        let mantissa = self
            .scaled(exponent)?
            .checked_add(other.scaled(exponent)?)?;
        Some(Decimal { mantissa, exponent }.normalized())
    }

    fn mul(self, other: Decimal) -> Option<Decimal> {
        Some(
            Decimal {
                mantissa: self.mantissa.checked_mul(other.mantissa)?,
                exponent: self.exponent.checked_add(other.exponent)?,
            }
            .normalized(),
        )
    }

    /// The quotient rounded (half away from zero) to 16 decimal places.
    fn div(self, other: Decimal) -> Option<Decimal> {
        const PLACES: i32 = 16;
        let shift = self
            .exponent
            .checked_sub(other.exponent)?
            .checked_add(PLACES)?;
        let power = |shift: i32| 10i128.checked_pow(shift.unsigned_abs());
        let (numerator, denominator) = if shift >= 0 {
            (self.mantissa.checked_mul(power(shift)?)?, other.mantissa)
        } else {
            (self.mantissa, other.mantissa.checked_mul(power(shift)?)?)
        };
        if denominator == 0 {
            return None;
        }
        let mut quotient = numerator / denominator;
        let remainder = numerator % denominator;
        if remainder.unsigned_abs().checked_mul(2)? >= denominator.unsigned_abs() {
            quotient += if (numerator < 0) != (denominator < 0) {
                -1
            } else {
                1
            };
        }
        Some(
            Decimal {
                mantissa: quotient,
                exponent: -PLACES,
            }
            .normalized(),
        )
    }
}

/// `addf`, `subf`, `mulf`, `divf` over the values, in decimal (so `addf 0.1
/// 0.2` is 0.3); plain float arithmetic when a decimal would not fit.
fn decimal_arithmetic(name: &str, values: &[f64]) -> Result<f64, String> {
    let Some((&first, rest)) = values.split_first() else {
        return Ok(0.0);
    };
    for value in values {
        if !value.is_finite() {
            return Err(format!("{name}: cannot use {value} in decimal arithmetic"));
        }
    }
    let mut float = first;
    let mut exact = Decimal::from_f64(first);
    for &value in rest {
        if name == "divf" && value == 0.0 {
            return Err("divf: division by zero".to_string());
        }
        float = match name {
            "addf" => float + value,
            "subf" => float - value,
            "mulf" => float * value,
            _ => float / value,
        };
        exact = exact.and_then(|decimal| {
            let operand = Decimal::from_f64(value)?;
            match name {
                "addf" => decimal.add(operand),
                "subf" => decimal.add(Decimal {
                    mantissa: -operand.mantissa,
                    ..operand
                }),
                "mulf" => decimal.mul(operand),
                _ => decimal.div(operand),
            }
        });
    }
    Ok(exact.map_or(float, Decimal::to_f64))
}

/// A JSON value as Go's `json.Unmarshal` into `interface{}` gives it.
fn json_value(json: &JsonValue<'_>) -> Value {
    match json {
        JsonValue::String(text) => Value::Str(text.to_string()),
        JsonValue::Scalar("true") => Value::Bool(true),
        JsonValue::Scalar("false") => Value::Bool(false),
        JsonValue::Scalar(number) => Value::Num(number.parse().unwrap_or(f64::NAN)),
        JsonValue::Null => Value::Nil,
        JsonValue::Object(members, _) => Value::Map(
            members
                .iter()
                .map(|(key, value)| (key.to_string(), json_value(value)))
                .collect(),
        ),
        JsonValue::Array(items, _) => Value::List(items.iter().map(json_value).collect()),
    }
}

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(BASE64[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Loki's `b64dec`: missing padding is added; invalid input gives the error
/// text as the result, as Loki does.
fn base64_decode(text: &str) -> String {
    let mut input = text.as_bytes().to_vec();
    let remainder = input.len() % 4;
    if remainder > 1 {
        input.resize(input.len() + 4 - remainder, b'=');
    }
    match base64_decode_bytes(&input) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(offset) => format!("illegal base64 data at input byte {offset}"),
    }
}

/// Go's `base64.StdEncoding` decoding (newlines ignored); the error is the offending offset.
fn base64_decode_bytes(input: &[u8]) -> Result<Vec<u8>, usize> {
    let sextet = |c: u8| BASE64.iter().position(|&b| b == c).map(|v| v as u32);
    let is_newline = |c: u8| c == b'\n' || c == b'\r';
    let skip_newlines = |mut pos: usize| {
        while pos < input.len() && is_newline(input[pos]) {
            pos += 1;
        }
        pos
    };
    let mut out = Vec::with_capacity(input.len() / 4 * 3);
    let mut quantum = [0u32; 4];
    let mut filled = 0;
    let mut pos = 0;
    let flush = |out: &mut Vec<u8>, quantum: &[u32; 4], filled: usize| {
        let n = (quantum[0] << 18) | (quantum[1] << 12) | (quantum[2] << 6) | quantum[3];
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..filled - 1]);
    };
    while pos < input.len() {
        let c = input[pos];
        if is_newline(c) {
            pos += 1;
            continue;
        }
        if c == b'=' {
            match filled {
                0 | 1 => return Err(pos),
                2 => {
                    let next = skip_newlines(pos + 1);
                    if next == input.len() {
                        return Err(next);
                    }
                    if input[next] != b'=' {
                        return Err(pos);
                    }
                    pos = next;
                }
                _ => {}
            }
            let rest = skip_newlines(pos + 1);
            if rest < input.len() {
                return Err(rest);
            }
            quantum[filled..].fill(0);
            flush(&mut out, &quantum, filled);
            return Ok(out);
        }
        quantum[filled] = sextet(c).ok_or(pos)?;
        filled += 1;
        if filled == 4 {
            flush(&mut out, &quantum, 4);
            filled = 0;
        }
        pos += 1;
    }
    if filled != 0 {
        return Err(input.len() - filled);
    }
    Ok(out)
}

/// Go's `url.QueryEscape`.
fn query_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// Go's `url.QueryUnescape`.
fn query_unescape(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let hex = |b: u8| (b as char).to_digit(16).map(|v| v as u8);
    let mut out = Vec::with_capacity(bytes.len());
    let mut pos = 0;
    while pos < bytes.len() {
        match bytes[pos] {
            b'%' => {
                let digits = (bytes.get(pos + 1).copied().and_then(hex))
                    .zip(bytes.get(pos + 2).copied().and_then(hex));
                let Some((high, low)) = digits else {
                    let end = (pos + 3).min(bytes.len());
                    return Err(format!(
                        "invalid URL escape {:?}",
                        String::from_utf8_lossy(&bytes[pos..end])
                    ));
                };
                out.push(high << 4 | low);
                pos += 3;
            }
            b'+' => {
                out.push(b' ');
                pos += 1;
            }
            other => {
                out.push(other);
                pos += 1;
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// Go's fmt.Sprintf for the common verbs.
fn printf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    let mut next_arg = args.iter();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let (mut left, mut zero, mut plus) = (false, false, false);
        while let Some(&flag) = chars.peek() {
            match flag {
                '-' => left = true,
                '0' => zero = true,
                '+' => plus = true,
                ' ' | '#' => {}
                _ => break,
            }
            chars.next();
        }
        // Width and precision come from the query: bounded like `repeat`.
        let mut width = 0usize;
        while let Some(digit) = chars.peek().and_then(|c| c.to_digit(10)) {
            width = width
                .saturating_mul(10)
                .saturating_add(digit as usize)
                .min(MAX_PRINTF_WIDTH);
            chars.next();
        }
        let mut precision = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut value = 0usize;
            while let Some(digit) = chars.peek().and_then(|c| c.to_digit(10)) {
                value = value
                    .saturating_mul(10)
                    .saturating_add(digit as usize)
                    .min(MAX_PRINTF_WIDTH);
                chars.next();
            }
            precision = Some(value);
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = next_arg.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        let numeric = matches!(verb, 'd' | 'f' | 'F' | 'g' | 'e' | 'x' | 'X');
        let mut text = match verb {
            'd' => match arg {
                Value::Int(value) => value.to_string(),
                other => match other.to_f64() {
                    Ok(value) => format!("{}", value.trunc() as i64),
                    Err(_) => format!("%!d(string={})", other.to_text()),
                },
            },
            'f' | 'F' => match arg.to_f64() {
                Ok(value) => format!("{value:.*}", precision.unwrap_or(6)),
                Err(_) => format!("%!f(string={})", arg.to_text()),
            },
            'e' => arg
                .to_f64()
                .map(|value| format_exponent(value, precision.unwrap_or(6)))
                .unwrap_or_else(|_| arg.to_text()),
            'g' => arg
                .to_f64()
                .map(format_float)
                .unwrap_or_else(|_| arg.to_text()),
            'q' => format!("{:?}", arg.to_text()),
            'x' | 'X' => {
                let hex = match arg {
                    Value::Int(value) => format!("{value:x}"),
                    Value::Num(value) => format!("{:x}", value.trunc() as i64),
                    other => other
                        .to_text()
                        .bytes()
                        .map(|b| format!("{b:02x}"))
                        .collect(),
                };
                if verb == 'X' { hex.to_uppercase() } else { hex }
            }
            _ => {
                let text = arg.to_text();
                match precision {
                    Some(max) if verb == 's' => text.chars().take(max).collect(),
                    _ => text,
                }
            }
        };
        if plus && numeric && !text.starts_with('-') {
            text.insert(0, '+');
        }
        let len = text.chars().count();
        if len < width {
            let pad = width - len;
            if left {
                text.push_str(&" ".repeat(pad));
            } else if zero && numeric {
                let sign = if text.starts_with(['-', '+']) {
                    text.remove(0).to_string()
                } else {
                    String::new()
                };
                text = format!("{sign}{}{text}", "0".repeat(pad));
            } else {
                text = format!("{}{text}", " ".repeat(pad));
            }
        }
        out.push_str(&text);
    }
    out
}

// ---- Time ----

/// Seconds from 0001-01-01 to 1970-01-01: Go's zero time.
const ZERO_TIME_SECS: i64 = -62_135_596_800;

/// A point in time with the zone Go would print it in.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Time {
    /// Seconds since the Unix epoch.
    secs: i64,
    /// Nanoseconds within the second.
    nanos: u32,
    /// The zone's offset east of UTC at this instant, in seconds.
    offset: i32,
    zone: Zone,
}

#[derive(Debug, Clone, PartialEq)]
enum Zone {
    Utc,
    /// A zone's abbreviation at this instant (`CET`, `EDT`).
    Named(Box<str>),
    /// A fixed offset without a name: `MST` in a layout prints `+0200`.
    Unnamed,
}

impl Time {
    fn utc(secs: i64, nanos: u32) -> Time {
        Time {
            secs,
            nanos,
            offset: 0,
            zone: Zone::Utc,
        }
    }

    fn from_unix_nanos(nanos: i64) -> Time {
        Time::utc(
            nanos.div_euclid(1_000_000_000),
            nanos.rem_euclid(1_000_000_000) as u32,
        )
    }

    fn now() -> Time {
        match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
            Ok(since) => Time::utc(since.as_secs() as i64, since.subsec_nanos()),
            Err(before) => {
                let before = before.duration();
                let nanos = before.subsec_nanos();
                let secs = -(before.as_secs() as i64);
                if nanos == 0 {
                    Time::utc(secs, 0)
                } else {
                    Time::utc(secs - 1, 1_000_000_000 - nanos)
                }
            }
        }
    }

    /// Go's zero `time.Time`, which a failed `toDate` gives.
    fn zero() -> Time {
        Time::utc(ZERO_TIME_SECS, 0)
    }

    /// The same instant in the server's local zone (UTC).
    fn in_local(&self) -> Time {
        Time::utc(self.secs, self.nanos)
    }

    fn unix_millis(&self) -> i64 {
        self.secs
            .wrapping_mul(1_000)
            .wrapping_add(i64::from(self.nanos / 1_000_000))
    }

    /// Go's `UnixNano` (which wraps outside 1678..2262).
    fn unix_nanos(&self) -> i64 {
        self.secs
            .wrapping_mul(1_000_000_000)
            .wrapping_add(i64::from(self.nanos))
    }

    /// Go's `time.Time.String()`.
    fn to_go_string(&self) -> String {
        format_layout(self, "2006-01-02 15:04:05.999999999 -0700 MST")
    }
}

/// Loki's `unixToTime`: an epoch in days (5 digits), seconds (10),
/// milliseconds (13), microseconds (16) or nanoseconds (19).
fn unix_to_time(epoch: &str) -> Result<Time, String> {
    let error = || format!("unable to parse time '{epoch}'");
    let value: i64 = epoch.parse().map_err(|_| error())?;
    Ok(match epoch.len() {
        // Go's arithmetic, which wraps for the largest 13 and 16 digit values.
        5 => Time::utc(value * 86_400, 0),
        10 => Time::utc(value, 0),
        13 => Time::from_unix_nanos(value.wrapping_mul(1_000_000)),
        16 => Time::from_unix_nanos(value.wrapping_mul(1_000)),
        19 => Time::from_unix_nanos(value),
        _ => return Err(error()),
    })
}

/// A zone to parse a wall-clock time in.
enum Location {
    /// UTC, and the server's local zone.
    Utc,
    Zone(jiff::tz::TimeZone),
}

impl Location {
    /// Go's `time.LoadLocation`, falling back to UTC for an unknown zone as Loki does.
    fn named(name: &str) -> Location {
        match name {
            "" | "UTC" | "Local" => Location::Utc,
            _ => jiff::tz::TimeZone::get(name)
                .map(Location::Zone)
                .unwrap_or(Location::Utc),
        }
    }

    /// The offset and abbreviation in effect at an instant.
    fn at(&self, secs: i64) -> (i32, Zone) {
        let Location::Zone(tz) = self else {
            return (0, Zone::Utc);
        };
        match jiff::Timestamp::from_second(secs) {
            Ok(timestamp) => {
                let info = tz.to_offset_info(timestamp);
                (
                    info.offset().seconds(),
                    Zone::Named(info.abbreviation().into()),
                )
            }
            Err(_) => (0, Zone::Utc),
        }
    }

    /// The instant (Unix seconds) of a wall-clock time given as seconds
    /// since 1970-01-01 00:00 of the same wall clock.
    fn instant(&self, wall: i64) -> i64 {
        let Location::Zone(tz) = self else {
            return wall;
        };
        let days = wall.div_euclid(86_400);
        let second_of_day = wall.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        let civil = i16::try_from(year).ok().and_then(|year| {
            jiff::civil::DateTime::new(
                year,
                month as i8,
                day as i8,
                (second_of_day / 3600) as i8,
                (second_of_day / 60 % 60) as i8,
                (second_of_day % 60) as i8,
                0,
            )
            .ok()
        });
        civil
            .and_then(|civil| tz.to_ambiguous_timestamp(civil).compatible().ok())
            .map_or(wall, |timestamp| timestamp.as_second())
    }
}

/// The elements of a Go layout (`time` package's reference time
/// `Mon Jan 2 15:04:05 MST 2006`).
#[derive(Debug, Clone, Copy, PartialEq)]
enum Std {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    Pm,
    LowerPm,
    Tz,
    /// `Z07:00` and the like: `Z` for UTC, else like the numeric forms.
    Iso(TzForm),
    /// `-07:00` and the like.
    Num(TzForm),
    /// `.000` (`trim` false) or `.999` (`trim` true); the separator is `.` or `,`.
    Frac {
        separator: u8,
        digits: usize,
        trim: bool,
    },
}

/// The shape of a numeric zone offset: `07`, `0700`, `07:00`, `070000`, `07:00:00`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct TzForm {
    minutes: bool,
    seconds: bool,
    colon: bool,
}

const LONG_MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const LONG_DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// The next layout element: the literal text before it, the element and its length.
fn next_std(layout: &[u8]) -> (usize, Option<(Std, usize)>) {
    let starts = |at: usize, text: &str| layout[at..].starts_with(text.as_bytes());
    let lower_at = |at: usize| layout.get(at).is_some_and(u8::is_ascii_lowercase);
    let digit_at = |at: usize| layout.get(at).is_some_and(u8::is_ascii_digit);
    for i in 0..layout.len() {
        let found = match layout[i] {
            b'J' if starts(i, "January") => Some((Std::LongMonth, 7)),
            b'J' if starts(i, "Jan") && !lower_at(i + 3) => Some((Std::Month, 3)),
            b'M' if starts(i, "Monday") => Some((Std::LongWeekDay, 6)),
            b'M' if starts(i, "Mon") && !lower_at(i + 3) => Some((Std::WeekDay, 3)),
            b'M' if starts(i, "MST") => Some((Std::Tz, 3)),
            b'0' if matches!(layout.get(i + 1), Some(b'1'..=b'6')) => Some((
                match layout[i + 1] {
                    b'1' => Std::ZeroMonth,
                    b'2' => Std::ZeroDay,
                    b'3' => Std::ZeroHour12,
                    b'4' => Std::ZeroMinute,
                    b'5' => Std::ZeroSecond,
                    _ => Std::Year,
                },
                2,
            )),
            b'0' if starts(i, "002") => Some((Std::ZeroYearDay, 3)),
            b'1' if starts(i, "15") => Some((Std::Hour, 2)),
            b'1' => Some((Std::NumMonth, 1)),
            b'2' if starts(i, "2006") => Some((Std::LongYear, 4)),
            b'2' => Some((Std::Day, 1)),
            // `_2006` is a literal `_` and the year.
            b'_' if starts(i, "_2006") => return (i + 1, Some((Std::LongYear, 4))),
            b'_' if starts(i, "_2") => Some((Std::UnderDay, 2)),
            b'_' if starts(i, "__2") => Some((Std::UnderYearDay, 3)),
            b'3' => Some((Std::Hour12, 1)),
            b'4' => Some((Std::Minute, 1)),
            b'5' => Some((Std::Second, 1)),
            b'P' if starts(i, "PM") => Some((Std::Pm, 2)),
            b'p' if starts(i, "pm") => Some((Std::LowerPm, 2)),
            b'-' | b'Z' => {
                let iso = layout[i] == b'Z';
                [
                    ("070000", true, true, false),
                    ("07:00:00", true, true, true),
                    ("0700", true, false, false),
                    ("07:00", true, false, true),
                    ("07", false, false, false),
                ]
                .into_iter()
                .find(|(text, ..)| starts(i + 1, text))
                .map(|(text, minutes, seconds, colon)| {
                    let form = TzForm {
                        minutes,
                        seconds,
                        colon,
                    };
                    let std = if iso { Std::Iso(form) } else { Std::Num(form) };
                    (std, text.len() + 1)
                })
            }
            separator @ (b'.' | b',') if matches!(layout.get(i + 1), Some(b'0' | b'9')) => {
                let digit = layout[i + 1];
                let mut end = i + 1;
                while layout.get(end) == Some(&digit) {
                    end += 1;
                }
                (!digit_at(end)).then_some((
                    Std::Frac {
                        separator,
                        digits: end - i - 1,
                        trim: digit == b'9',
                    },
                    end - i,
                ))
            }
            _ => None,
        };
        if let Some(found) = found {
            return (i, Some(found));
        }
    }
    (layout.len(), None)
}

/// Go's `Time.Format`.
fn format_layout(time: &Time, layout: &str) -> String {
    let wall = time.secs.saturating_add(i64::from(time.offset));
    let days = wall.div_euclid(86_400);
    let second_of_day = wall.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let (hour, minute, second) = (
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60,
    );
    let weekday = (days + 4).rem_euclid(7) as usize;
    let year_day = days - days_from_civil(year, 1, 1) + 1;
    let mut out = String::with_capacity(layout.len() + 16);
    let mut rest = layout.as_bytes();
    loop {
        let (prefix, std) = next_std(rest);
        out.push_str(&String::from_utf8_lossy(&rest[..prefix]));
        let Some((std, len)) = std else { break };
        rest = &rest[prefix + len..];
        match std {
            Std::Year => pad(&mut out, (year % 100).abs(), 2),
            Std::LongYear => pad(&mut out, year, 4),
            Std::Month => out.push_str(&LONG_MONTHS[month as usize - 1][..3]),
            Std::LongMonth => out.push_str(LONG_MONTHS[month as usize - 1]),
            Std::NumMonth => pad(&mut out, month, 1),
            Std::ZeroMonth => pad(&mut out, month, 2),
            Std::WeekDay => out.push_str(&LONG_DAYS[weekday][..3]),
            Std::LongWeekDay => out.push_str(LONG_DAYS[weekday]),
            Std::Day => pad(&mut out, day, 1),
            Std::UnderDay => {
                if day < 10 {
                    out.push(' ');
                }
                pad(&mut out, day, 1);
            }
            Std::ZeroDay => pad(&mut out, day, 2),
            Std::UnderYearDay => {
                out.push_str(if year_day < 10 {
                    "  "
                } else if year_day < 100 {
                    " "
                } else {
                    ""
                });
                pad(&mut out, year_day, 1);
            }
            Std::ZeroYearDay => pad(&mut out, year_day, 3),
            Std::Hour => pad(&mut out, hour, 2),
            Std::Hour12 | Std::ZeroHour12 => {
                let hour = match hour % 12 {
                    0 => 12,
                    other => other,
                };
                pad(&mut out, hour, if std == Std::Hour12 { 1 } else { 2 });
            }
            Std::Minute => pad(&mut out, minute, 1),
            Std::ZeroMinute => pad(&mut out, minute, 2),
            Std::Second => pad(&mut out, second, 1),
            Std::ZeroSecond => pad(&mut out, second, 2),
            Std::Pm => out.push_str(if hour >= 12 { "PM" } else { "AM" }),
            Std::LowerPm => out.push_str(if hour >= 12 { "pm" } else { "am" }),
            Std::Iso(_) if time.offset == 0 => out.push('Z'),
            Std::Iso(form) | Std::Num(form) => {
                let offset = time.offset;
                out.push(if offset < 0 { '-' } else { '+' });
                let minutes = i64::from(offset.unsigned_abs() / 60);
                pad(&mut out, minutes / 60, 2);
                if form.colon {
                    out.push(':');
                }
                if form.minutes {
                    pad(&mut out, minutes % 60, 2);
                }
                if form.seconds {
                    if form.colon {
                        out.push(':');
                    }
                    pad(&mut out, i64::from(offset.unsigned_abs() % 60), 2);
                }
            }
            Std::Tz => match &time.zone {
                Zone::Utc => out.push_str("UTC"),
                Zone::Named(name) if !name.is_empty() => out.push_str(name),
                _ => {
                    let offset = time.offset;
                    out.push(if offset < 0 { '-' } else { '+' });
                    let minutes = i64::from(offset.unsigned_abs() / 60);
                    pad(&mut out, minutes / 60, 2);
                    pad(&mut out, minutes % 60, 2);
                }
            },
            Std::Frac {
                separator,
                digits,
                trim,
            } => {
                let all = format!("{:09}", time.nanos);
                let mut shown = &all[..digits.min(9)];
                if trim {
                    shown = shown.trim_end_matches('0');
                }
                if !shown.is_empty() || !trim {
                    out.push(separator as char);
                    out.push_str(shown);
                }
            }
        }
    }
    out
}

/// Go's `appendInt`: at least `width` digits, a `-` before negatives.
fn pad(out: &mut String, value: i64, width: usize) {
    if value < 0 {
        out.push('-');
    }
    out.push_str(&format!("{:0width$}", value.unsigned_abs()));
}

/// Go's `time.ParseInLocation`; None when the value does not match the layout.
fn parse_layout(layout: &str, value: &str, location: &Location) -> Option<Time> {
    let mut layout = layout.as_bytes();
    let mut value = value.as_bytes();
    let (mut year, mut month, mut day, mut year_day) = (0i64, -1i64, -1i64, -1i64);
    let (mut hour, mut minute, mut second, mut nanos) = (0i64, 0i64, 0i64, 0u32);
    let (mut pm, mut am) = (false, false);
    let mut utc = false;
    let mut zone_offset: Option<i64> = None;
    let mut zone_name: Option<String> = None;
    loop {
        let (prefix, std) = next_std(layout);
        value = skip_literal(value, &layout[..prefix])?;
        let Some((std, len)) = std else {
            if !value.is_empty() {
                return None;
            }
            break;
        };
        layout = &layout[prefix + len..];
        match std {
            Std::Year => {
                let digits = value.get(..2)?;
                let parsed = atoi(digits)?;
                year = if parsed >= 69 {
                    parsed + 1900
                } else {
                    parsed + 2000
                };
                value = &value[2..];
            }
            Std::LongYear => {
                let digits = value.get(..4)?;
                if !digits[0].is_ascii_digit() {
                    return None;
                }
                year = atoi(digits)?;
                value = &value[4..];
            }
            Std::Month | Std::LongMonth => {
                let names =
                    LONG_MONTHS.map(|name| if std == Std::Month { &name[..3] } else { name });
                let (index, rest) = lookup_name(&names, value)?;
                month = index as i64 + 1;
                value = rest;
            }
            Std::NumMonth | Std::ZeroMonth => {
                let (parsed, rest) = get_num(value, std == Std::ZeroMonth)?;
                if !(1..=12).contains(&parsed) {
                    return None;
                }
                month = parsed;
                value = rest;
            }
            Std::WeekDay | Std::LongWeekDay => {
                let names = LONG_DAYS.map(|name| {
                    if std == Std::WeekDay {
                        &name[..3]
                    } else {
                        name
                    }
                });
                value = lookup_name(&names, value)?.1;
            }
            Std::Day | Std::UnderDay | Std::ZeroDay => {
                if std == Std::UnderDay && value.first() == Some(&b' ') {
                    value = &value[1..];
                }
                let (parsed, rest) = get_num(value, std == Std::ZeroDay)?;
                day = parsed;
                value = rest;
            }
            Std::UnderYearDay | Std::ZeroYearDay => {
                for _ in 0..2 {
                    if std == Std::UnderYearDay && value.first() == Some(&b' ') {
                        value = &value[1..];
                    }
                }
                let (parsed, rest) = get_num3(value, std == Std::ZeroYearDay)?;
                year_day = parsed;
                value = rest;
            }
            Std::Hour => {
                let (parsed, rest) = get_num(value, false)?;
                if !(0..24).contains(&parsed) {
                    return None;
                }
                hour = parsed;
                value = rest;
            }
            Std::Hour12 | Std::ZeroHour12 => {
                let (parsed, rest) = get_num(value, std == Std::ZeroHour12)?;
                if !(0..=12).contains(&parsed) {
                    return None;
                }
                hour = parsed;
                value = rest;
            }
            Std::Minute | Std::ZeroMinute => {
                let (parsed, rest) = get_num(value, std == Std::ZeroMinute)?;
                if !(0..60).contains(&parsed) {
                    return None;
                }
                minute = parsed;
                value = rest;
            }
            Std::Second | Std::ZeroSecond => {
                let (parsed, rest) = get_num(value, std == Std::ZeroSecond)?;
                if !(0..60).contains(&parsed) {
                    return None;
                }
                second = parsed;
                value = rest;
                // A fraction the layout does not name is accepted after the seconds.
                let fraction_next = matches!(next_std(layout).1, Some((Std::Frac { .. }, _)));
                if !fraction_next
                    && value.len() >= 2
                    && matches!(value[0], b'.' | b',')
                    && value[1].is_ascii_digit()
                {
                    let mut end = 2;
                    while value.get(end).is_some_and(u8::is_ascii_digit) {
                        end += 1;
                    }
                    nanos = parse_nanos(&value[..end])?;
                    value = &value[end..];
                }
            }
            Std::Pm | Std::LowerPm => {
                let text = value.get(..2)?;
                let (pm_text, am_text): (&[u8], &[u8]) = if std == Std::Pm {
                    (b"PM", b"AM")
                } else {
                    (b"pm", b"am")
                };
                if text == pm_text {
                    pm = true;
                } else if text == am_text {
                    am = true;
                } else {
                    return None;
                }
                value = &value[2..];
            }
            Std::Iso(_) if value.first() == Some(&b'Z') => {
                value = &value[1..];
                utc = true;
            }
            Std::Iso(form) | Std::Num(form) => {
                let (offset, rest) = parse_offset(value, form)?;
                zone_offset = Some(offset);
                value = rest;
            }
            Std::Tz => {
                if value.starts_with(b"UTC") {
                    utc = true;
                    value = &value[3..];
                } else {
                    let len = time_zone_len(value)?;
                    zone_name = Some(String::from_utf8_lossy(&value[..len]).into_owned());
                    value = &value[len..];
                }
            }
            Std::Frac { digits, trim, .. } => {
                if trim {
                    if value.len() < 2 || !matches!(value[0], b'.' | b',') {
                        continue;
                    }
                    if !value[1].is_ascii_digit() {
                        continue;
                    }
                    let mut end = 2;
                    while value.get(end).is_some_and(u8::is_ascii_digit) {
                        end += 1;
                    }
                    nanos = parse_nanos(&value[..end])?;
                    value = &value[end..];
                } else {
                    let end = digits + 1;
                    nanos = parse_nanos(value.get(..end)?)?;
                    value = &value[end..];
                }
            }
        }
    }
    if pm && hour < 12 {
        hour += 12;
    } else if am && hour == 12 {
        hour = 0;
    }
    if year_day >= 0 {
        let (from_month, from_day) = month_day_of_year_day(year, year_day)?;
        if (month >= 0 && month != from_month) || (day >= 0 && day != from_day) {
            return None;
        }
        month = from_month;
        day = from_day;
    } else {
        if month < 0 {
            month = 1;
        }
        if day < 0 {
            day = 1;
        }
    }
    if day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let wall = days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
    if utc {
        return Some(Time::utc(wall, nanos));
    }
    if let Some(offset) = zone_offset {
        let secs = wall - offset;
        let offset = i32::try_from(offset).ok()?;
        // The location's zone when it has this offset then (and the parsed
        // name, if any), else a fixed zone.
        let (location_offset, location_zone) = location.at(secs);
        let location_name = match &location_zone {
            Zone::Named(name) => name,
            _ => "UTC",
        };
        let zone = match zone_name {
            _ if location_offset == offset
                && zone_name
                    .as_deref()
                    .is_none_or(|name| name == location_name) =>
            {
                location_zone
            }
            Some(name) => Zone::Named(name.into()),
            None => Zone::Unnamed,
        };
        return Some(Time {
            secs,
            nanos,
            offset,
            zone,
        });
    }
    if let Some(name) = zone_name {
        // The location's zone when it has that name then, else a zone with
        // that name at the wall clock read as UTC (Go's "fake zone").
        let secs = location.instant(wall);
        let (offset, zone) = location.at(secs);
        if matches!(&zone, Zone::Named(abbreviation) if **abbreviation == *name) {
            return Some(Time {
                secs,
                nanos,
                offset,
                zone,
            });
        }
        let offset = name
            .strip_prefix("GMT")
            .filter(|hours| !hours.is_empty())
            .and_then(|hours| hours.parse::<i32>().ok())
            .map_or(0, |hours| hours * 3600);
        return Some(Time {
            secs: wall,
            nanos,
            offset,
            zone: Zone::Named(name.into()),
        });
    }
    let secs = location.instant(wall);
    let (offset, zone) = location.at(secs);
    Some(Time {
        secs,
        nanos,
        offset,
        zone,
    })
}

/// Go's `skip`: the layout's literal text; a space matches one or more spaces.
fn skip_literal<'v>(mut value: &'v [u8], mut literal: &[u8]) -> Option<&'v [u8]> {
    let cut_space = |text: &[u8]| -> usize { text.iter().take_while(|&&b| b == b' ').count() };
    while let Some(&first) = literal.first() {
        if first == b' ' {
            if value.first().is_some_and(|&b| b != b' ') {
                return None;
            }
            literal = &literal[cut_space(literal)..];
            value = &value[cut_space(value)..];
            continue;
        }
        if value.first() != Some(&first) {
            return None;
        }
        literal = &literal[1..];
        value = &value[1..];
    }
    Some(value)
}

fn atoi(digits: &[u8]) -> Option<i64> {
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// One or two digits (exactly two when `fixed`).
fn get_num(value: &[u8], fixed: bool) -> Option<(i64, &[u8])> {
    let first = *value.first().filter(|b| b.is_ascii_digit())?;
    match value.get(1).filter(|b| b.is_ascii_digit()) {
        Some(&second) => Some((
            i64::from(first - b'0') * 10 + i64::from(second - b'0'),
            &value[2..],
        )),
        None if fixed => None,
        None => Some((i64::from(first - b'0'), &value[1..])),
    }
}

/// One to three digits (exactly three when `fixed`).
fn get_num3(value: &[u8], fixed: bool) -> Option<(i64, &[u8])> {
    let len = value
        .iter()
        .take(3)
        .take_while(|b| b.is_ascii_digit())
        .count();
    if len == 0 || (fixed && len != 3) {
        return None;
    }
    Some((atoi(&value[..len])?, &value[len..]))
}

/// `.123` or `,123` as nanoseconds (digits past the ninth are ignored).
fn parse_nanos(fraction: &[u8]) -> Option<u32> {
    if !matches!(fraction.first(), Some(b'.' | b',')) {
        return None;
    }
    let digits = &fraction[1..fraction.len().min(10)];
    let mut nanos = u32::try_from(atoi(digits)?).ok()?;
    for _ in digits.len()..9 {
        nanos *= 10;
    }
    Some(nanos)
}

/// A month or day name, case-insensitively.
fn lookup_name<'v>(names: &[&str], value: &'v [u8]) -> Option<(usize, &'v [u8])> {
    names.iter().enumerate().find_map(|(index, name)| {
        let candidate = value.get(..name.len())?;
        candidate
            .eq_ignore_ascii_case(name.as_bytes())
            .then(|| (index, &value[name.len()..]))
    })
}

/// `+07`, `-0700`, `+07:00`, `-070000`, `+07:00:00` as seconds east of UTC.
fn parse_offset(value: &[u8], form: TzForm) -> Option<(i64, &[u8])> {
    let len = match (form.minutes, form.seconds, form.colon) {
        (false, ..) => 3,
        (true, false, false) => 5,
        (true, false, true) => 6,
        (true, true, false) => 7,
        (true, true, true) => 9,
    };
    let text = value.get(..len)?;
    let sign = match text[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let field = |at: usize| atoi(text.get(at..at + 2)?);
    let hours = field(1)?;
    let (minutes, seconds) = match (form.minutes, form.seconds, form.colon) {
        (false, ..) => (0, 0),
        (true, seconds, false) => (field(3)?, if seconds { field(5)? } else { 0 }),
        (true, seconds, true) => {
            if text[3] != b':' || (seconds && text[6] != b':') {
                return None;
            }
            (field(4)?, if seconds { field(7)? } else { 0 })
        }
    };
    if hours > 24 || minutes > 60 || seconds > 60 {
        return None;
    }
    Some((
        sign * ((hours * 60 + minutes) * 60 + seconds),
        &value[len..],
    ))
}

/// Go's `parseTimeZone`: the length of a zone abbreviation at the start of `value`.
fn time_zone_len(value: &[u8]) -> Option<usize> {
    if value.len() < 3 {
        return None;
    }
    if value.starts_with(b"ChST") || value.starts_with(b"MeST") {
        return Some(4);
    }
    if value.starts_with(b"GMT") {
        let rest = &value[3..];
        return Some(3 + signed_offset_len(rest).unwrap_or(0));
    }
    if matches!(value[0], b'+' | b'-') {
        return signed_offset_len(value);
    }
    let upper = value
        .iter()
        .take(6)
        .take_while(|b| b.is_ascii_uppercase())
        .count();
    match upper {
        3 => Some(3),
        4 if value[3] == b'T' || value.starts_with(b"WITA") => Some(4),
        5 if value[4] == b'T' => Some(5),
        _ => None,
    }
}

/// `+3`, `-11`: a sign and an hour offset of at most 12.
fn signed_offset_len(value: &[u8]) -> Option<usize> {
    if !matches!(value.first(), Some(b'+' | b'-')) {
        return None;
    }
    let digits = value[1..].iter().take_while(|b| b.is_ascii_digit()).count();
    let hours = atoi(&value[1..1 + digits])?;
    (hours <= 12).then_some(1 + digits)
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The month and day of a day of the year (1-based).
fn month_day_of_year_day(year: i64, year_day: i64) -> Option<(i64, i64)> {
    let length = if is_leap(year) { 366 } else { 365 };
    if !(1..=length).contains(&year_day) {
        return None;
    }
    let mut remaining = year_day;
    for month in 1..=12 {
        let days = days_in_month(year, month);
        if remaining <= days {
            return Some((month, remaining));
        }
        remaining -= days;
    }
    None
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// (year, month, day) to days since 1970-01-01, proleptic Gregorian.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::super::entry::LabelSet;
    use super::super::template::Template;
    use super::*;
    use strata_model::Labels;

    const LABELS: &str = r#"{app="api", foo="2021-11-02T10:20:30.123456789Z", b64="aGVsbG8", path="a b c d e f", size="1.5KB", took="1h30m", from="1679577215", url="a b&c=d/é~", query="line one
line two", queries="[{\"query\":\"up\"},{\"query\":\"rate(x[1m])\"}]"}"#;

    /// 2023-11-14T22:13:20.123Z, a Tuesday.
    const TS_NS: i64 = 1_700_000_000_123_000_000;

    fn render(source: &str) -> Result<String, String> {
        let stream = Labels::parse(LABELS).unwrap();
        let labels = LabelSet::new(&stream, &[]);
        let context = Context {
            labels: &labels,
            line: "aXYZbXYZc",
            ts_ns: TS_NS,
        };
        let template = Template::parse(source)?;
        let mut out = String::new();
        template.render(&context, &mut out)?;
        Ok(out)
    }

    fn case(source: &str, expected: &str) {
        match render(source) {
            Ok(out) => assert_eq!(out, expected, "{source}"),
            Err(err) => panic!("{source}: {err}"),
        }
    }

    fn fails(source: &str) {
        assert!(render(source).is_err(), "{source} should fail");
    }

    #[test]
    fn time_format() {
        let time = Time::from_unix_nanos;
        assert_eq!(time(0).to_go_string(), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(
            time(951_782_400_000_000_001).to_go_string(),
            "2000-02-29 00:00:00.000000001 +0000 UTC"
        );
        assert_eq!(
            time(-1_000_000_000).to_go_string(),
            "1969-12-31 23:59:59 +0000 UTC"
        );
        assert_eq!(Time::zero().to_go_string(), "0001-01-01 00:00:00 +0000 UTC");
        let ts = time(TS_NS);
        for (layout, expected) in [
            ("2006-01-02", "2023-11-14"),
            (
                "2006-01-02T15:04:05.00Z-07:00",
                "2023-11-14T22:13:20.12Z+00:00",
            ),
            ("2006-01-02T15:04:05Z07:00", "2023-11-14T22:13:20Z"),
            (
                "2006-01-02T15:04:05.000000-0700",
                "2023-11-14T22:13:20.123000+0000",
            ),
            ("2006-01-02T15:04:05.999999999", "2023-11-14T22:13:20.123"),
            ("15:04:05,000", "22:13:20,123"),
            (
                "Mon Jan _2 15:04:05 MST 2006",
                "Tue Nov 14 22:13:20 UTC 2023",
            ),
            ("Monday, 02-Jan-06 3:04PM", "Tuesday, 14-Nov-23 10:13PM"),
            (
                "January 2, 2006 03:04:05 pm",
                "November 14, 2023 10:13:20 pm",
            ),
            ("1/2 __2 002", "11/14 318 318"),
            ("Jan _2", "Nov 14"),
            ("_2006", "_2023"),
            ("Month: Jan, Jane", "Month: Nov, Jane"),
            (".9 .0 4 5", ".1 .1 13 20"),
            ("plain text", "plain text"),
        ] {
            assert_eq!(format_layout(&ts, layout), expected, "{layout}");
        }
        let early = time(1_000_000_000); // 1970-01-01T00:00:01Z, a Thursday
        assert_eq!(format_layout(&early, "_2 3 .999 Mon"), " 1 12  Thu");
        let east = Time {
            offset: 5 * 3600 + 30 * 60,
            zone: Zone::Unnamed,
            ..time(0)
        };
        assert_eq!(east.to_go_string(), "1970-01-01 05:30:00 +0530 +0530");
        assert_eq!(
            format_layout(&east, "Z07 Z07:00 -07:00:00 -070000"),
            "+05 +05:30 +05:30:00 +053000"
        );
    }

    #[test]
    fn time_parse() {
        let parse = |layout: &str, value: &str| {
            parse_layout(layout, value, &Location::Utc).map(|time| time.to_go_string())
        };
        let ok = |layout: &str, value: &str, expected: &str| {
            assert_eq!(
                parse(layout, value).as_deref(),
                Some(expected),
                "{layout} {value}"
            );
        };
        ok("2006-01-02", "2021-11-02", "2021-11-02 00:00:00 +0000 UTC");
        ok(
            "2006-01-02T15:04:05.999999999Z",
            "2021-11-02T10:20:30.123456789Z",
            "2021-11-02 10:20:30.123456789 +0000 UTC",
        );
        ok(
            "2006-01-02T15:04:05.999999999Z",
            "2021-11-02T10:20:30Z",
            "2021-11-02 10:20:30 +0000 UTC",
        );
        ok(
            "2006-01-02T15:04:05Z07:00",
            "2021-11-02T10:20:30+02:00",
            "2021-11-02 10:20:30 +0200 +0200",
        );
        ok(
            "2006-01-02T15:04:05Z07:00",
            "2021-11-02T10:20:30Z",
            "2021-11-02 10:20:30 +0000 UTC",
        );
        ok(
            "2006-01-02 15:04:05 -0700",
            "2021-11-02 10:20:30 +0000",
            "2021-11-02 10:20:30 +0000 UTC",
        );
        // A fraction the layout does not name is read after the seconds.
        ok(
            "2006-01-02 15:04:05",
            "2021-11-02 10:20:30.5",
            "2021-11-02 10:20:30.5 +0000 UTC",
        );
        ok(
            "Jan _2 15:04:05",
            "Feb  3 04:05:06",
            "0000-02-03 04:05:06 +0000 UTC",
        );
        ok(
            "Jan _2 15:04:05",
            "feb 13 04:05:06",
            "0000-02-13 04:05:06 +0000 UTC",
        );
        ok("3:04PM", "1:30PM", "0000-01-01 13:30:00 +0000 UTC");
        ok("03:04pm", "12:30am", "0000-01-01 00:30:00 +0000 UTC");
        ok("2006-002", "2021-060", "2021-03-01 00:00:00 +0000 UTC");
        ok("2006-002", "2020-060", "2020-02-29 00:00:00 +0000 UTC");
        ok("02/01/06", "31/12/68", "2068-12-31 00:00:00 +0000 UTC");
        ok("02/01/06", "31/12/69", "1969-12-31 00:00:00 +0000 UTC");
        ok(
            "Monday 2006-01-02",
            "friday 2021-01-01",
            "2021-01-01 00:00:00 +0000 UTC",
        );
        ok(
            "2006-01-02 15:04 MST",
            "2021-11-02 10:20 CEST",
            "2021-11-02 10:20:00 +0000 CEST",
        );
        ok(
            "2006-01-02 15:04 MST",
            "2021-11-02 10:20 GMT+3",
            "2021-11-02 13:20:00 +0300 GMT+3",
        );
        ok(
            "2006-01-02  15",
            "2021-11-02 7",
            "2021-11-02 07:00:00 +0000 UTC",
        );
        for (layout, value) in [
            ("2006-01-02", "2021-02-30"),
            ("2006-01-02", "2021-13-01"),
            ("2006-01-02", "2021-11-02x"),
            ("2006-01-02", "21-11-02"),
            ("15:04", "24:00"),
            ("2006-01-02T15:04:05.999999999Z", ""),
            ("2006-01-02T15:04:05.000Z", "2021-11-02T10:20:30.12Z"),
            ("Z07:00", "+0200"),
            ("MST", "abc"),
            ("PM", "XM"),
        ] {
            assert_eq!(parse(layout, value), None, "{layout} {value}");
        }
    }

    #[test]
    fn time_zones() {
        let Ok(tz) = jiff::tz::TimeZone::get("America/New_York") else {
            return; // no time zone database here
        };
        let location = Location::Zone(tz);
        let time = parse_layout("2006-01-02", "2021-11-02", &location).unwrap();
        assert_eq!(time.to_go_string(), "2021-11-02 00:00:00 -0400 EDT");
        assert_eq!(time.secs, 1_635_825_600);
        let time = parse_layout("2006-01-02", "2021-12-02", &location).unwrap();
        assert_eq!(time.to_go_string(), "2021-12-02 00:00:00 -0500 EST");
        let time = parse_layout("2006-01-02 -07:00", "2021-11-02 -04:00", &location).unwrap();
        assert_eq!(time.to_go_string(), "2021-11-02 00:00:00 -0400 EDT");
        let time = parse_layout("2006-01-02 -07:00", "2021-11-02 +01:00", &location).unwrap();
        assert_eq!(time.to_go_string(), "2021-11-02 00:00:00 +0100 +0100");
        case(
            r#"{{ toDateInZone "2006-01-02" "America/New_York" "2021-11-02" }}"#,
            "2021-11-02 00:00:00 -0400 EDT",
        );
        // `date` renders in the server's zone (UTC).
        case(
            r#"{{ toDateInZone "2006-01-02" "America/New_York" "2021-11-02" | date "2006-01-02 15:04 MST" }}"#,
            "2021-11-02 04:00 UTC",
        );
    }

    #[test]
    fn date_and_time_functions() {
        case(
            r#"{{ date "2006-01-02" (unixToTime .from) }}"#,
            "2023-03-23",
        );
        case(
            r#"from="{{date "2006-01-02" (unixToTime .from)}}""#,
            r#"from="2023-03-23""#,
        );
        case(
            r#"{{ __timestamp__ | date "2006-01-02T15:04:05.00Z-07:00" }}"#,
            "2023-11-14T22:13:20.12Z+00:00",
        );
        case(
            r#"{{ date "2006-01-02 15:04:05" 86400 }}"#,
            "1970-01-02 00:00:00",
        );
        case(
            r#"{{ toDate "2006-01-02" "2021-11-02" }}"#,
            "2021-11-02 00:00:00 +0000 UTC",
        );
        case(
            r#"{{ .foo | toDate "2006-01-02T15:04:05.999999999Z" }}"#,
            "2021-11-02 10:20:30.123456789 +0000 UTC",
        );
        case(
            r#"{{ .missing | toDate "2006-01-02T15:04:05.999999999Z" }}"#,
            "0001-01-01 00:00:00 +0000 UTC",
        );
        case(
            r#"{{ toDateInZone "2006-01-02" "UTC" "2021-11-02" }}"#,
            "2021-11-02 00:00:00 +0000 UTC",
        );
        case(
            r#"{{ toDateInZone "2006-01-02" "No/Such_Zone" "2021-11-02" }}"#,
            "2021-11-02 00:00:00 +0000 UTC",
        );
        let in_utc = r#".foo | toDateInZone "2006-01-02T15:04:05.999999999Z" "UTC""#;
        case(
            &format!("{{{{ {in_utc} }}}}"),
            "2021-11-02 10:20:30.123456789 +0000 UTC",
        );
        case(&format!("{{{{ {in_utc} | unixEpoch }}}}"), "1635848430");
        case(
            &format!("{{{{ {in_utc} | unixEpochMillis }}}}"),
            "1635848430123",
        );
        case(
            &format!("{{{{ {in_utc} | unixEpochNanos }}}}"),
            "1635848430123456789",
        );
        case(
            r#"{{ unixEpoch (toDate "2006-01-02" "2021-11-02") }}"#,
            "1635811200",
        );
        case("{{ unixEpochNanos __timestamp__ }}", "1700000000123000000");
        case(
            r#"{{ toDate "2006" "x" | unixEpoch }} {{ toDate "2006" "x" | unixEpochMillis }}"#,
            "-62135596800 -62135596800000",
        );
        // unixToTime by the epoch's length.
        case(
            r#"{{ unixToTime "19373" }}"#,
            "2023-01-16 00:00:00 +0000 UTC",
        );
        case(
            r#"{{ unixToTime "1673798889" }}"#,
            "2023-01-15 16:08:09 +0000 UTC",
        );
        case(
            r#"{{ unixToTime "1673798889902" }}"#,
            "2023-01-15 16:08:09.902 +0000 UTC",
        );
        case(
            r#"{{ unixToTime "1673798889902000" }}"#,
            "2023-01-15 16:08:09.902 +0000 UTC",
        );
        case(
            r#"{{ unixToTime "1673798889902000001" | unixEpochNanos }}"#,
            "1673798889902000001",
        );
        fails(r#"{{ unixToTime "123" }}"#);
        fails(r#"{{ unixToTime "12345678901x" }}"#);
        fails(r#"{{ unixEpoch "2021" }}"#);
        // now: the current time, in UTC.
        let now = render("{{ unixEpoch now }}").unwrap();
        let expected = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        assert!((now.parse::<i64>().unwrap() - expected).abs() <= 2, "{now}");
        for source in [
            "{{ now }}",
            "{{ unixEpochMillis now }}",
            "{{ unixEpochNanos now }}",
            "{{ (unixEpoch now) }}",
        ] {
            assert!(!render(source).unwrap().is_empty(), "{source}");
        }
        assert!(render("{{ now }}").unwrap().ends_with(" +0000 UTC"));
        let today = render(r#"{{ date "2006-01-02" now }}"#).unwrap();
        assert_eq!(
            today,
            format_layout(&Time::utc(expected, 0), "2006-01-02"),
            "{today}"
        );
    }

    #[test]
    fn conversions() {
        case("{{ .took | duration }} {{ duration .took }}", "5400 5400");
        case(
            r#"{{ duration_seconds "1.5s" }} {{ "250ms" | duration_seconds }} {{ duration "-1m" }}"#,
            "1.5 0.25 -60",
        );
        case(r#"{{ duration "300h" }}"#, "1.08e+06");
        fails(r#"{{ duration "soon" }}"#);
        fails("{{ .missing | duration }}");
        case(
            r#"{{ .size | bytes }} {{ bytes "2 KB" }} {{ bytes "1KiB" }} {{ bytes "42" }}"#,
            "1500 2000 1024 42",
        );
        case(r#"{{ bytes "20MB" }}"#, "2e+07");
        fails(r#"{{ bytes "lots" }}"#);
        case(r#"{{ fromJson "{\"foo\": 55}" }}"#, "map[foo:55]");
        case(
            r#"{{ fromJson "[1, \"a\", true, null, {\"b\": [2.5]}, 1e21]" }}"#,
            "[1 a true <nil> map[b:[2.5]] 1e+21]",
        );
        case(r#"{{ fromJson "not json" }}"#, "<no value>");
        case(r#"{{ default "none" (fromJson "not json") }}"#, "none");
        case(
            "{{ range $q := fromJson .queries }} {{ $q.query }} {{ end }}",
            " up  rate(x[1m]) ",
        );
        case(
            r#"{{ "3" | int }} {{ "3.0" | int }} {{ "3.5" | int }} {{ "x" | int }}"#,
            "3 3 0 0",
        );
        case(
            r#"{{ "0x1f" | int }} {{ 2.9 | int }} {{ true | int }}"#,
            "31 2 1",
        );
        case(
            r#"{{ "3.5" | float64 }} {{ "x" | float64 }} {{ 2 | float64 }}"#,
            "3.5 0 2",
        );
    }

    #[test]
    fn strings() {
        case(
            r#"{{ .app | b64enc }} {{ b64enc "hello world!?" }}"#,
            "YXBp aGVsbG8gd29ybGQhPw==",
        );
        case(
            r#"{{ .b64 | b64dec }} {{ b64dec "aGVsbG8=" }} {{ b64dec "aGVs\nbG8=" }}"#,
            "hello hello hello",
        );
        case(
            r#"{{ b64dec "!!!!" }}"#,
            "illegal base64 data at input byte 0",
        );
        case(
            r#"{{ b64dec "aGVsbG8=x" }}"#,
            "illegal base64 data at input byte 8",
        );
        case(r#"{{ b64dec "a" }}"#, "illegal base64 data at input byte 0");
        case(
            r#"{{ b64dec (b64enc "x") }}{{ b64dec (b64enc "xy") }}"#,
            "xxy",
        );
        case("{{ .url | urlencode }}", "a+b%26c%3Dd%2F%C3%A9~");
        case("{{ urlencode .url | urldecode }}", "a b&c=d/é~");
        case(r#"{{ urldecode "a%2fb+c%41" }}"#, "a/b cA");
        fails(r#"{{ urldecode "100%" }}"#);
        fails(r#"{{ urldecode "%zz" }}"#);
        case("{{ indent 4 .query }}", "    line one\n    line two");
        case("{{ nindent 2 .query }}", "\n  line one\n  line two");
        case(r#"{{ indent 0 "x" }}"#, "x");
        fails(r#"{{ indent -1 "x" }}"#);
        fails(r#"{{ indent 1000000000 "x" }}"#);
        case(r#"{{ trunc 5 "hello world" }}"#, "hello");
        case(r#"{{ trunc -5 "hello world" }}"#, "world");
        case(
            r#"{{ trunc 50 "hello" }}|{{ trunc -50 "hello" }}|{{ trunc 0 "hello" }}"#,
            "hello|hello|",
        );
        case(r#"{{ trunc 2 "héllo" }}"#, "hé");
        case("{{ .path | trunc 2 }}", "a ");
        case(
            r#"{{ .path | replace " " "_" | trunc 5 | upper }}"#,
            "A_B_C",
        );
        case(
            r#"{{ Trim "xxaxx" "x" }} {{ TrimLeft "xxaxx" "x" }} {{ TrimRight "xxaxx" "x" }}"#,
            "a axx xxa",
        );
        case(r#"{{ count "a|b" "abab" }} {{ count "o" "foo" }}"#, "4 2");
        case(r#"{{ __line__ | count "XYZ" }}"#, "2");
        case(r#"{{ $re := "o+" }}{{ count $re "foo boo" }}"#, "2");
        fails(r#"{{ $re := "(" }}{{ count $re "foo" }}"#);
    }

    #[test]
    fn math() {
        case("{{ add 3 2 5 }} {{ add }} {{ add \"4\" 1 }}", "10 0 5");
        case("{{ addf 3.5 2 5 }} {{ addf 0.1 0.2 }}", "10.5 0.3");
        case("{{ sub 5 2 }} {{ subf 5.5 2 1.5 }}", "3 2");
        case(
            "{{ mul 5 2 3 }} {{ mulf 5.5 2 2.5 }} {{ mulf 1.1 3 }}",
            "30 27.5 3.3",
        );
        case(
            "{{ div 10 2 }} {{ divf 10 2 4 }} {{ divf 1 3 }}",
            "5 1.25 0.3333333333333333",
        );
        case("{{ mod 10 3 }}", "1");
        fails("{{ div 1 0 }}");
        fails("{{ divf 1 0 }}");
        fails("{{ mod 1 0 }}");
        case("{{ max 1 2 3 }} {{ min 1 2 3 }} {{ max -4 }}", "3 1 -4");
        case(
            "{{ maxf 1 2.5 3 }} {{ minf 1 2.5 3 }} {{ maxf 1.5 \"2.5\" }}",
            "3 1 2.5",
        );
        case(
            "{{ ceil 123.001 }} {{ floor 123.9999 }} {{ ceil \"1.5\" }}",
            "124 123 2",
        );
        case("{{ round 123.555555 3 }}", "123.556");
        case("{{ round 123.88571428571 5 .2 }}", "123.88572");
        case("{{ round 123.88571428571 5 }}", "123.88571");
        case("{{ round 2.5 0 }} {{ round -1.2 0 }}", "3 -2");
        fails("{{ round 1.5 }}");
        fails("{{ max }}");
        case(
            "{{ ceil 1234567.5 }} {{ float64 0.00001 }}",
            "1.234568e+06 1e-05",
        );
        case(
            r#"{{ printf "%d %e %.2e %x" 9007199254740993 1234567.0 0.000123 255 }}"#,
            "9007199254740993 1.234567e+06 1.23e-04 ff",
        );
    }

    #[test]
    fn float_format() {
        for (value, expected) in [
            (0.0, "0"),
            (-0.0, "-0"),
            (1.0, "1"),
            (2.5, "2.5"),
            (123456.0, "123456"),
            (999999.5, "999999.5"),
            (1_000_000.0, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (0.0001, "0.0001"),
            (0.00001234, "1.234e-05"),
            (1e21, "1e+21"),
            (1e100, "1e+100"),
            (-2e-7, "-2e-07"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(format_float(value), expected, "{value}");
        }
    }

    #[test]
    fn number_literals() {
        for (text, expected) in [
            ("3", Some(Value::Int(3))),
            ("-3", Some(Value::Int(-3))),
            ("+3", Some(Value::Int(3))),
            ("0x1F", Some(Value::Int(31))),
            ("010", Some(Value::Int(8))),
            ("0b101", Some(Value::Int(5))),
            ("1_000", Some(Value::Int(1000))),
            ("3.5", Some(Value::Num(3.5))),
            (".2", Some(Value::Num(0.2))),
            ("1e3", Some(Value::Num(1000.0))),
            ("1e-3", Some(Value::Num(0.001))),
            ("99999999999999999999", Some(Value::Num(1e20))),
            ("1x", None),
            ("0x", None),
            ("1__0", None),
        ] {
            assert_eq!(parse_number_literal(text), expected, "{text}");
        }
    }
}
