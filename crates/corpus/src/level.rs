//! The `level` stream label.

/// A log level as a stream label value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl Level {
    pub const ALL: [Level; 6] = [
        Level::Trace,
        Level::Debug,
        Level::Info,
        Level::Warn,
        Level::Error,
        Level::Fatal,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Trace => "trace",
            Level::Debug => "debug",
            Level::Info => "info",
            Level::Warn => "warn",
            Level::Error => "error",
            Level::Fatal => "fatal",
        }
    }

    pub fn index(self) -> usize {
        self as usize
    }

    /// The level a log line's level word names (`INFO`, `Warning`,
    /// `[error]`, Android's `W`...), if it is one.
    pub fn from_word(word: &str) -> Option<Level> {
        let word = word
            .trim_start_matches('[')
            .trim_end_matches([']', ':', ',']);
        let level = match word.to_ascii_lowercase().as_str() {
            "v" | "trace" | "verbose" => Level::Trace,
            "d" | "debug" => Level::Debug,
            "i" | "info" | "notice" => Level::Info,
            "w" | "warn" | "warning" => Level::Warn,
            "e" | "error" | "severe" | "failure" | "err" => Level::Error,
            "f" | "a" | "fatal" | "crit" | "critical" | "emerg" | "alert" => Level::Fatal,
            _ => return None,
        };
        Some(level)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        let cases = [
            ("INFO", Some(Level::Info)),
            ("[notice]", Some(Level::Info)),
            ("WARNING", Some(Level::Warn)),
            ("W", Some(Level::Warn)),
            ("[error]", Some(Level::Error)),
            ("SEVERE", Some(Level::Error)),
            ("FATAL", Some(Level::Fatal)),
            ("V", Some(Level::Trace)),
            ("dfs.DataNode", None),
        ];
        for (word, expected) in cases {
            assert_eq!(Level::from_word(word), expected, "{word}");
        }
    }
}
