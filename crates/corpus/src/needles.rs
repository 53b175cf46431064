//! Planted needles and error bursts: where in the corpus (by bytes written)
//! each is due, which streams carry it, and how a needle word goes into a line.
//!
//! The manifest's counts are not taken from this plan: they are counted over
//! what was written (see [`crate::truth`]); the plan only decides placement.

use crate::rng::Rng;
use crate::topology::{Special, Topology};

/// A whole token that appears nowhere else (letters and digits only).
pub const RARE_TOKEN: &str = "q7x9zneedle";
pub const RARE_TOKEN_ENTRIES: usize = 7;
/// A substring planted only inside longer words, never as a token of its own.
pub const SUBSTRING: &str = "zq8vk";
pub const SUBSTRING_ENTRIES: usize = 5;
/// The words that carry [`SUBSTRING`].
const SUBSTRING_WORDS: [(&str, &str); 5] = [
    ("user", "data"),
    ("tmp", "x1"),
    ("sess", "42ab"),
    ("blob", "cache"),
    ("node", "7f"),
];
pub const TRACE_IDS: usize = 3;
const BURSTS: usize = 3;

/// Entries to force once the corpus reaches `at_bytes`.
#[derive(Debug, Clone)]
pub struct Plan {
    pub at_bytes: u64,
    pub entries: Vec<(usize, Special)>,
}

/// A window (in bytes written) where one job's ranks pour out errors.
#[derive(Debug, Clone, Copy)]
pub struct Burst {
    pub from_bytes: u64,
    pub to_bytes: u64,
    pub job: usize,
}

#[derive(Debug)]
pub struct NeedlePlan {
    /// Sorted by `at_bytes`.
    pub plans: Vec<Plan>,
    pub bursts: Vec<Burst>,
    /// The planted trace ids, as 32 lower-case hex digits.
    pub trace_ids: Vec<String>,
}

impl NeedlePlan {
    pub fn new(rng: &mut Rng, topology: &Topology, size: u64) -> NeedlePlan {
        let mut plans = Vec::new();
        // Last due point below 97% of the target, so every plan runs.
        let usable = size as f64 * 0.97;
        let spread = |rng: &mut Rng, count: usize, index: usize| {
            ((index as f64 + rng.uniform(0.15, 0.85)) / count as f64 * usable) as u64
        };
        let mut used_hosts = Vec::new();
        let mut host = |rng: &mut Rng| loop {
            let candidate = *rng.pick(&topology.needle_hosts);
            if !used_hosts.contains(&candidate) || used_hosts.len() >= topology.needle_hosts.len() {
                used_hosts.push(candidate);
                return candidate;
            }
        };
        for index in 0..RARE_TOKEN_ENTRIES {
            let at_bytes = spread(rng, RARE_TOKEN_ENTRIES, index);
            let entries = vec![(host(rng), Special::RareToken)];
            plans.push(Plan { at_bytes, entries });
        }
        for index in 0..SUBSTRING_ENTRIES {
            let at_bytes = spread(rng, SUBSTRING_ENTRIES, index);
            let entries = vec![(host(rng), Special::Substring(index % SUBSTRING_WORDS.len()))];
            plans.push(Plan { at_bytes, entries });
        }
        let mut trace_ids = Vec::new();
        for index in 0..TRACE_IDS {
            let at_bytes = spread(rng, TRACE_IDS, index);
            let trace = rng.next_u128();
            let mut hex = Vec::new();
            crate::text::push_hex(&mut hex, trace, 32);
            trace_ids.push(String::from_utf8(hex).unwrap_or_default());
            let model = rng.index(topology.serving_info.len());
            let count = rng.range(2, 6) as usize;
            // The server logs the request, the gateway its access line; the
            // client retries, so the pair may repeat.
            let mut entries = Vec::new();
            for position in 0..count {
                let stream = if position % 2 == 0 {
                    *rng.pick(&topology.serving_info[model])
                } else {
                    *rng.pick(&topology.gateway_info)
                };
                entries.push((stream, Special::Trace { trace, model }));
            }
            plans.push(Plan { at_bytes, entries });
        }
        plans.sort_by_key(|plan| plan.at_bytes);
        let burst_len = ((size as f64 * 0.0005) as u64).max(150_000).min(size / 20);
        let bursts = (0..BURSTS)
            .map(|_| {
                let from_bytes = (size as f64 * rng.uniform(0.1, 0.9)) as u64;
                Burst {
                    from_bytes,
                    to_bytes: from_bytes + burst_len,
                    job: rng.index(topology.training_errors.len()),
                }
            })
            .collect();
        NeedlePlan {
            plans,
            bursts,
            trace_ids,
        }
    }

    /// The burst under way once `bytes` have been written, if any.
    pub fn burst_at(&self, bytes: u64) -> Option<&Burst> {
        self.bursts
            .iter()
            .find(|burst| (burst.from_bytes..burst.to_bytes).contains(&bytes))
    }
}

/// Inserts the word a needle `special` asks for into `line` as a whole word
/// (see [`insert_word`]); other specials leave the line alone.
pub fn plant(special: Special, line: &mut Vec<u8>, rng: &mut Rng) {
    let mut word = Vec::new();
    match special {
        Special::RareToken => word.extend_from_slice(RARE_TOKEN.as_bytes()),
        Special::Substring(variant) => {
            let (before, after) = SUBSTRING_WORDS[variant % SUBSTRING_WORDS.len()];
            word.extend_from_slice(before.as_bytes());
            word.extend_from_slice(SUBSTRING.as_bytes());
            word.extend_from_slice(after.as_bytes());
        }
        _ => return,
    }
    insert_word(line, &word, rng);
}

/// Puts `word` into `line` as a whole space-separated word: before a word
/// of the message (a space followed by a letter, in the last two thirds of
/// the line, so that timestamps and header fields stay intact), or at the end.
pub fn insert_word(line: &mut Vec<u8>, word: &[u8], rng: &mut Rng) {
    let message_start = line.len() / 3;
    let candidates: Vec<usize> = (message_start.max(1)..line.len().saturating_sub(1))
        .filter(|&index| {
            line[index] == b' ' && line[index - 1] != b' ' && line[index + 1].is_ascii_alphabetic()
        })
        .collect();
    if candidates.is_empty() {
        line.push(b' ');
        line.extend_from_slice(word);
        return;
    }
    let at = *rng.pick(&candidates) + 1;
    let mut inserted = word.to_vec();
    inserted.push(b' ');
    line.splice(at..at, inserted);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserted_words_stand_alone() {
        let mut rng = Rng::new(5);
        for base in ["a b c d e f", "single", "x y", "trailing space "] {
            let mut line = base.as_bytes().to_vec();
            insert_word(&mut line, b"q7x9zneedle", &mut rng);
            let text = String::from_utf8(line).expect("utf-8");
            assert!(text.split(' ').any(|word| word == "q7x9zneedle"), "{text}");
            assert_eq!(text.len(), base.len() + "q7x9zneedle".len() + 1);
        }
    }

    #[test]
    fn substring_is_inside_a_longer_word() {
        let mut rng = Rng::new(6);
        for variant in 0..SUBSTRING_WORDS.len() {
            let mut line = b"one two three".to_vec();
            plant(Special::Substring(variant), &mut line, &mut rng);
            let text = String::from_utf8(line).expect("utf-8");
            let word = text
                .split(' ')
                .find(|word| word.contains(SUBSTRING))
                .expect("planted");
            assert!(word.len() > SUBSTRING.len());
            assert!(word.bytes().all(|b| b.is_ascii_alphanumeric()));
        }
    }
}
