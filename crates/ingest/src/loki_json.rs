//! Loki's JSON push body:
//! `{"streams":[{"stream":{"job":"x"},"values":[["<ns>","line",{"k":"v"}]]}]}`.
//! The third element of a value (structured metadata) is optional.

use serde::Deserialize;
use serde::de::{self, SeqAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// Key/value pairs of a JSON object, borrowed from the body when unescaped.
pub(crate) type Pairs<'a> = Vec<(Cow<'a, str>, Cow<'a, str>)>;

#[derive(Deserialize)]
pub(crate) struct JsonPush<'a> {
    #[serde(borrow)]
    pub streams: Vec<JsonStream<'a>>,
}

#[derive(Deserialize)]
pub(crate) struct JsonStream<'a> {
    #[serde(borrow, deserialize_with = "deserialize_pairs")]
    pub stream: Pairs<'a>,
    #[serde(borrow)]
    pub values: Vec<JsonEntry<'a>>,
}

pub(crate) struct JsonEntry<'a> {
    pub ts: Cow<'a, str>,
    pub line: Cow<'a, str>,
    pub metadata: Pairs<'a>,
}

/// Reads a JSON object of string values into pairs, keeping their order.
fn deserialize_pairs<'de, D>(deserializer: D) -> Result<Pairs<'de>, D::Error>
where
    D: de::Deserializer<'de>,
{
    struct PairsVisitor;
    impl<'de> Visitor<'de> for PairsVisitor {
        type Value = Pairs<'de>;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an object of string values")
        }
        fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut pairs = Vec::new();
            while let Some(key) = map.next_key::<BorrowedStr<'de>>()? {
                let value = map.next_value::<BorrowedStr<'de>>()?;
                pairs.push((key.0, value.0));
            }
            Ok(pairs)
        }
    }
    deserializer.deserialize_map(PairsVisitor)
}

/// A string that borrows from the input when it has no escapes.
struct BorrowedStr<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for BorrowedStr<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StrVisitor;
        impl<'de> Visitor<'de> for StrVisitor {
            type Value = BorrowedStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(BorrowedStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(BorrowedStr(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(BorrowedStr(Cow::Owned(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(BorrowedStr(Cow::Owned(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(BorrowedStr(Cow::Owned(v.to_string())))
            }
        }
        deserializer.deserialize_str(StrVisitor)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for JsonEntry<'a> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntryVisitor;
        impl<'de> Visitor<'de> for EntryVisitor {
            type Value = JsonEntry<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an array [\"<unix ns>\", \"<line>\"] with an optional metadata object")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let ts = seq
                    .next_element::<BorrowedStr<'de>>()?
                    .ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let line = seq
                    .next_element::<BorrowedStr<'de>>()?
                    .ok_or_else(|| de::Error::invalid_length(1, &self))?;
                let metadata = seq
                    .next_element::<Metadata<'de>>()?
                    .map(|m| m.0)
                    .unwrap_or_default();
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(4, &self));
                }
                Ok(JsonEntry {
                    ts: ts.0,
                    line: line.0,
                    metadata,
                })
            }
        }
        deserializer.deserialize_seq(EntryVisitor)
    }
}

struct Metadata<'a>(Pairs<'a>);

impl<'de> Deserialize<'de> for Metadata<'de> {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_pairs(deserializer).map(Metadata)
    }
}
