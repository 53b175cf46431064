//! Values and functions of the template engine.
//!
//! Functions (Go/sprig argument order; a piped value is the last argument):
//! `__line__`, `__timestamp__`; strings: `ToUpper`/`upper`, `ToLower`/`lower`,
//! `title`, `trim`/`TrimSpace`, `trimAll cutset s`, `trimPrefix p s`,
//! `trimSuffix p s`, `TrimPrefix s p`, `TrimSuffix s p`, `replace old new s`,
//! `Replace s old new n`, `substr start end s`, `repeat n s`, `alignLeft n s`,
//! `alignRight n s`, `len`, `printf` (verbs s v d f g q x t with flags, width,
//! precision), `default def v`; matching: `contains sub s`, `hasPrefix p s`,
//! `hasSuffix p s`, `regexReplaceAll re s repl`, `regexReplaceAllLiteral`;
//! logic: `eq`, `ne`, `lt`, `le`, `gt`, `ge`, `and`, `or`, `not`; numbers:
//! `int`, `float64`, `add`, `sub`, `mul`, `div`, `mod`, `addf`, `subf`,
//! `mulf`, `divf`; time: `unixEpoch`, `unixEpochMillis`, `unixEpochNanos`.

use super::template::Context;

/// Largest printf width or precision a query may ask for.
const MAX_PRINTF_WIDTH: usize = 10_000;

/// Largest text one template may produce for one line.
pub(crate) const MAX_TEMPLATE_OUTPUT: usize = 1 << 20;

/// A template value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Str(String),
    Num(f64),
    Bool(bool),
    /// Nanoseconds since the epoch (`__timestamp__`).
    Time(i64),
    Nil,
}

impl Value {
    /// Go truthiness: empty string, 0, false and nil are false.
    pub fn truthy(&self) -> bool {
        match self {
            Value::Str(text) => !text.is_empty(),
            Value::Num(value) => *value != 0.0,
            Value::Bool(value) => *value,
            Value::Time(_) => true,
            Value::Nil => false,
        }
    }

    pub fn write_to(&self, out: &mut String) {
        match self {
            Value::Str(text) => out.push_str(text),
            Value::Num(value) => out.push_str(&format_float(*value)),
            Value::Bool(value) => out.push_str(if *value { "true" } else { "false" }),
            Value::Time(nanos) => out.push_str(&format_time(*nanos)),
            Value::Nil => {}
        }
    }

    fn to_text(&self) -> String {
        let mut out = String::new();
        self.write_to(&mut out);
        out
    }

    fn to_f64(&self) -> Result<f64, String> {
        match self {
            Value::Num(value) => Ok(*value),
            Value::Str(text) => text
                .trim()
                .parse::<f64>()
                .map_err(|_| format!("cannot convert {text:?} to a number")),
            Value::Bool(value) => Ok(if *value { 1.0 } else { 0.0 }),
            Value::Time(nanos) => Ok(*nanos as f64),
            Value::Nil => Ok(0.0),
        }
    }

    fn to_i64(&self) -> Result<i64, String> {
        Ok(self.to_f64()?.trunc() as i64)
    }
}

fn format_float(value: f64) -> String {
    if value.is_infinite() {
        return if value > 0.0 {
            "+Inf".to_string()
        } else {
            "-Inf".to_string()
        };
    }
    format!("{value}")
}

/// Go's `time.Time.String()` in UTC: `2006-01-02 15:04:05.999999999 +0000 UTC`.
fn format_time(nanos: i64) -> String {
    let seconds = nanos.div_euclid(1_000_000_000);
    let fraction = nanos.rem_euclid(1_000_000_000);
    let days = seconds.div_euclid(86_400);
    let second_of_day = seconds.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    let mut out = format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60
    );
    if fraction != 0 {
        let digits = format!("{fraction:09}");
        out.push('.');
        out.push_str(digits.trim_end_matches('0'));
    }
    out.push_str(" +0000 UTC");
    out
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
    "trimPrefix",
    "trimSuffix",
    "TrimPrefix",
    "TrimSuffix",
    "replace",
    "Replace",
    "substr",
    "repeat",
    "alignLeft",
    "alignRight",
    "len",
    "printf",
    "default",
    "contains",
    "hasPrefix",
    "hasSuffix",
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
    "addf",
    "subf",
    "mulf",
    "divf",
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

fn text_arg(args: &[Value], index: usize) -> String {
    args[index].to_text()
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
            Value::Time(context.ts_ns)
        }
        "ToUpper" | "upper" => return unary(|s| s.to_uppercase()),
        "ToLower" | "lower" => return unary(|s| s.to_lowercase()),
        "title" => return unary(title),
        "trim" | "TrimSpace" => return unary(|s| s.trim().to_string()),
        "trimAll" => {
            arity(name, &args, 2)?;
            let cutset = text_arg(&args, 0);
            Value::Str(
                text_arg(&args, 1)
                    .trim_matches(|c| cutset.contains(c))
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
            Value::Str(text_arg(&args, 2).replace(&text_arg(&args, 0), &text_arg(&args, 1)))
        }
        "Replace" => {
            arity(name, &args, 4)?;
            let count = args[3].to_i64()?;
            let text = text_arg(&args, 0);
            let (old, new) = (text_arg(&args, 1), text_arg(&args, 2));
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
        "repeat" => {
            arity(name, &args, 2)?;
            let text = text_arg(&args, 1);
            let count = args[0].to_i64()?.clamp(0, 10_000) as usize;
            if text.len().saturating_mul(count) > MAX_TEMPLATE_OUTPUT {
                return Err(format!(
                    "repeat would make more than {MAX_TEMPLATE_OUTPUT} bytes"
                ));
            }
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
        "len" => {
            arity(name, &args, 1)?;
            Value::Num(text_arg(&args, 0).len() as f64)
        }
        "printf" => {
            if args.is_empty() {
                return Err("wrong number of args for printf".to_string());
            }
            Value::Str(printf(&text_arg(&args, 0), &args[1..]))
        }
        "default" => {
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
        "regexReplaceAll" | "regexReplaceAllLiteral" => {
            arity(name, &args, 3)?;
            let pattern = text_arg(&args, 0);
            let regex = regex::Regex::new(&pattern)
                .map_err(|err| format!("invalid regex {pattern:?}: {err}"))?;
            return regex_replace(name, &regex, &args);
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
            Value::Num(args[0].to_i64()? as f64)
        }
        "float64" => {
            arity(name, &args, 1)?;
            Value::Num(args[0].to_f64()?)
        }
        "add" | "sub" | "mul" | "div" | "mod" => {
            arity(name, &args, 2)?;
            let (left, right) = (args[0].to_i64()?, args[1].to_i64()?);
            let result = match name {
                "add" => left.checked_add(right),
                "sub" => left.checked_sub(right),
                "mul" => left.checked_mul(right),
                "div" => left.checked_div(right),
                _ => left.checked_rem(right),
            };
            Value::Num(
                result.ok_or_else(|| format!("integer overflow or division by zero in {name}"))?
                    as f64,
            )
        }
        "addf" | "subf" | "mulf" | "divf" => {
            arity(name, &args, 2)?;
            let (left, right) = (args[0].to_f64()?, args[1].to_f64()?);
            Value::Num(match name {
                "addf" => left + right,
                "subf" => left - right,
                "mulf" => left * right,
                _ => left / right,
            })
        }
        "unixEpoch" | "unixEpochMillis" | "unixEpochNanos" => {
            arity(name, &args, 1)?;
            let Value::Time(nanos) = args[0] else {
                return Err(format!("{name} needs a time"));
            };
            Value::Num(match name {
                "unixEpoch" => nanos.div_euclid(1_000_000_000),
                "unixEpochMillis" => nanos.div_euclid(1_000_000),
                _ => nanos,
            } as f64)
        }
        _ => return Err(format!("function {name:?} not defined")),
    };
    Ok(value)
}

/// `regexReplaceAll re s repl` (with `$1` expansion) or `regexReplaceAllLiteral`, with `re` compiled.
pub(crate) fn regex_replace(
    name: &str,
    regex: &regex::Regex,
    args: &[Value],
) -> Result<Value, String> {
    arity(name, args, 3)?;
    let (text, replacement) = (text_arg(args, 1), text_arg(args, 2));
    let replaced = if name == "regexReplaceAll" {
        regex.replace_all(&text, replacement.as_str()).into_owned()
    } else {
        regex
            .replace_all(&text, regex::NoExpand(&replacement))
            .into_owned()
    };
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
    let numeric = matches!(left, Value::Num(_)) || matches!(right, Value::Num(_));
    if numeric && let (Ok(a), Ok(b)) = (left.to_f64(), right.to_f64()) {
        return a.partial_cmp(&b);
    }
    Some(left.to_text().cmp(&right.to_text()))
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
            'd' => match arg.to_f64() {
                Ok(value) => format!("{}", value.trunc() as i64),
                Err(_) => format!("%!d(string={})", arg.to_text()),
            },
            'f' | 'F' => match arg.to_f64() {
                Ok(value) => format!("{value:.*}", precision.unwrap_or(6)),
                Err(_) => format!("%!f(string={})", arg.to_text()),
            },
            'e' => arg
                .to_f64()
                .map(|value| format!("{value:e}"))
                .unwrap_or_else(|_| arg.to_text()),
            'g' => arg
                .to_f64()
                .map(format_float)
                .unwrap_or_else(|_| arg.to_text()),
            'q' => format!("{:?}", arg.to_text()),
            'x' | 'X' => {
                let hex = match arg {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_format() {
        assert_eq!(format_time(0), "1970-01-01 00:00:00 +0000 UTC");
        assert_eq!(
            format_time(951_782_400_000_000_001),
            "2000-02-29 00:00:00.000000001 +0000 UTC"
        );
        assert_eq!(format_time(-1_000_000_000), "1969-12-31 23:59:59 +0000 UTC");
    }
}
