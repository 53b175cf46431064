//! `redact`: replaces secrets and personal data before a line leaves the
//! node:
//!
//! ```yaml
//! - redact:
//!     builtin: [email, ip, bearer, jwt, api_key, credit_card]
//!     patterns:                       # custom ones
//!       - {name: user_id, regex: 'user_id=(?P<secret>\d+)'}
//!     replacement: '<redacted:{name}>'   # the default
//! ```
//!
//! It applies to the line and to every field, label set by a stage and
//! structured-metadata value. Built-ins: `email`; `ipv4`, `ipv6` (`ip` is
//! both); `bearer` (the token after `Bearer`); `jwt`; `api_key` (the value
//! after `api_key=`, `token:`, `password=`... and well-known key shapes:
//! AWS access key ids, GitHub and Slack tokens, `sk-...` keys);
//! `credit_card` (13 to 19 digits, spaces or dashes allowed, that pass the
//! Luhn check, so order ids and timestamps are left alone). When a pattern
//! has a capture named `secret`, only that part is replaced.

use std::borrow::Cow;

use serde::Deserialize;
use strata_model::Labels;

use super::{Reads, Record, Stage, Verdict};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedactConfig {
    #[serde(default)]
    pub builtin: Vec<String>,
    #[serde(default)]
    pub patterns: Vec<CustomPattern>,
    /// `{name}` is replaced by the pattern's name.
    #[serde(default)]
    pub replacement: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomPattern {
    pub name: String,
    pub regex: String,
    /// Overrides the stage's replacement for this pattern.
    #[serde(default)]
    pub replacement: Option<String>,
}

const EMAIL: &str = r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}";
const IPV4: &str = r"\b(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\b";
const IPV6: &str = r"\b(?:(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}|(?:[0-9A-Fa-f]{1,4}:){1,7}:(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?|::(?:[0-9A-Fa-f]{1,4}:){0,6}[0-9A-Fa-f]{1,4})\b";
const BEARER: &str = r"(?i:\bbearer)\s+(?P<secret>[A-Za-z0-9\-._~+/]+=*)";
const JWT: &str = r"\beyJ[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+\.[A-Za-z0-9_\-]+";
const API_KEY: &str = r#"(?i:\b(?:api[_\-]?key|apikey|access[_\-]?token|auth[_\-]?token|secret|password|passwd|pwd|token))["']?\s*[:=]\s*["']?(?P<secret>[^\s"',;&]+)|\bAKIA[0-9A-Z]{16}\b|\bgh[pousr]_[A-Za-z0-9]{36,}\b|\bxox[abprs]-[A-Za-z0-9\-]{10,}|\bsk-[A-Za-z0-9_\-]{20,}"#;
const CARD: &str = r"\b[0-9](?:[ \-]?[0-9]){12,18}\b";

fn builtin(name: &str) -> anyhow::Result<Vec<(&'static str, &'static str)>> {
    Ok(match name {
        "email" => vec![("email", EMAIL)],
        "ipv4" => vec![("ipv4", IPV4)],
        "ipv6" => vec![("ipv6", IPV6)],
        "ip" => vec![("ipv4", IPV4), ("ipv6", IPV6)],
        "bearer" => vec![("bearer", BEARER)],
        "jwt" => vec![("jwt", JWT)],
        "api_key" => vec![("api_key", API_KEY)],
        "credit_card" => vec![("credit_card", CARD)],
        other => anyhow::bail!(
            "builtin: {other:?} is not one of email, ip, ipv4, ipv6, bearer, jwt, api_key, credit_card"
        ),
    })
}

/// True when the digits of `text` pass the Luhn check.
pub fn luhn(text: &str) -> bool {
    let digits: Vec<u32> = text.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(index, &digit)| {
            if index % 2 == 1 {
                let doubled = digit * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                digit
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[derive(Debug)]
struct Rule {
    name: String,
    regex: regex::Regex,
    replacement: String,
    card: bool,
}

impl Rule {
    fn apply<'t>(&self, text: &'t str) -> Cow<'t, str> {
        if !self.regex.is_match(text) {
            return Cow::Borrowed(text);
        }
        self.regex
            .replace_all(text, |captures: &regex::Captures<'_>| {
                let Some(whole) = captures.get(0) else {
                    return String::new();
                };
                if self.card && !luhn(whole.as_str()) {
                    return whole.as_str().to_string();
                }
                match captures.name("secret") {
                    Some(secret) => {
                        let start = secret.start() - whole.start();
                        let end = secret.end() - whole.start();
                        format!(
                            "{}{}{}",
                            &whole.as_str()[..start],
                            self.replacement,
                            &whole.as_str()[end..]
                        )
                    }
                    None => self.replacement.clone(),
                }
            })
    }
}

#[derive(Debug)]
pub struct RedactStage {
    rules: Vec<Rule>,
}

impl RedactStage {
    pub fn new(config: &RedactConfig) -> anyhow::Result<RedactStage> {
        let template = config.replacement.as_deref().unwrap_or("<redacted:{name}>");
        let mut rules = Vec::new();
        let compile = |name: &str, text: &str, replacement: &str| -> anyhow::Result<Rule> {
            let regex = regex::RegexBuilder::new(text)
                .size_limit(8 << 20)
                .build()
                .map_err(|err| {
                    anyhow::anyhow!(
                        "{name}: invalid regex {text:?}: {}",
                        strata_model::regex_error_reason(&err)
                    )
                })?;
            Ok(Rule {
                name: name.to_string(),
                regex,
                replacement: replacement.replace("{name}", name),
                card: name == "credit_card",
            })
        };
        for name in &config.builtin {
            for (name, text) in builtin(name)? {
                if !rules.iter().any(|rule: &Rule| rule.name == name) {
                    rules.push(compile(name, text, template)?);
                }
            }
        }
        for pattern in &config.patterns {
            let replacement = pattern.replacement.as_deref().unwrap_or(template);
            rules.push(compile(&pattern.name, &pattern.regex, replacement)?);
        }
        if rules.is_empty() {
            anyhow::bail!("give builtin patterns, custom patterns, or both");
        }
        Ok(RedactStage { rules })
    }

    /// `text` with every rule applied.
    pub fn redact<'t>(&self, text: &'t str) -> Cow<'t, str> {
        let mut out = Cow::Borrowed(text);
        for rule in &self.rules {
            if let Cow::Owned(changed) = rule.apply(&out) {
                out = Cow::Owned(changed);
            }
        }
        out
    }

    fn redact_in_place(&self, text: &mut String) {
        if let Cow::Owned(changed) = self.redact(text) {
            *text = changed;
        }
    }
}

impl Stage for RedactStage {
    fn process(&mut self, record: &mut Record, _base: &Labels) -> Verdict {
        self.redact_in_place(&mut record.line);
        for (_, value) in record
            .fields
            .iter_mut()
            .chain(record.labels.iter_mut())
            .chain(record.metadata.iter_mut())
        {
            self.redact_in_place(value);
        }
        Verdict::Keep
    }

    fn reads(&self) -> Reads {
        Reads::none()
    }
}
