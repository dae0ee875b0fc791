//! Why a mail could not be parsed: English for logs (`Display`), German for staff (`reason_de`).

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseError {
    #[error("mail too large: {size} bytes, limit {limit}")]
    TooLarge { size: usize, limit: usize },
    /// `count` is where counting stopped, so it may be lower than the real number.
    #[error("too many header fields: at least {count}, limit {limit}")]
    TooManyHeaders { count: usize, limit: usize },
    /// `count` is where counting stopped, so it may be lower than the real number.
    #[error("too many MIME parts: at least {count}, limit {limit}")]
    TooManyParts { count: usize, limit: usize },
    #[error("MIME structure nested too deeply: at least {depth} levels, limit {limit}")]
    TooDeep { depth: usize, limit: usize },
    /// The text is German and meant for staff, e.g. "weder Absender noch Inhalt vorhanden".
    #[error("unparseable mail: {0}")]
    Unparseable(String),
}

impl ParseError {
    /// One German sentence for the quarantine list.
    pub fn reason_de(&self) -> String {
        match self {
            ParseError::TooLarge { size, limit } => format!(
                "Mail ist {} groß, erlaubt sind {}",
                format_megabytes(*size),
                format_megabytes(*limit)
            ),
            ParseError::TooManyHeaders { count, limit } => format!(
                "Mail hat mindestens {} Kopfzeilen, erlaubt sind {}",
                format_count(*count),
                format_count(*limit)
            ),
            ParseError::TooManyParts { count, limit } => format!(
                "Mail hat mindestens {} MIME-Teile, erlaubt sind {}",
                format_count(*count),
                format_count(*limit)
            ),
            ParseError::TooDeep { depth, limit } => format!(
                "Mail ist mindestens {} Ebenen tief verschachtelt, erlaubt sind {}",
                format_count(*depth),
                format_count(*limit)
            ),
            ParseError::Unparseable(why) => format!("Mail konnte nicht gelesen werden: {why}"),
        }
    }
}

/// "31,2 MB" (base 1024, as mail programs count); whole numbers without decimals.
fn format_megabytes(bytes: usize) -> String {
    let tenths = (bytes as u128 * 10 + 512 * 1024) / (1024 * 1024);
    let (whole, frac) = (tenths / 10, tenths % 10);
    if frac == 0 {
        format!("{} MB", format_count(whole as usize))
    } else {
        format!("{},{frac} MB", format_count(whole as usize))
    }
}

/// German thousands separator: 10000 → "10.000".
fn format_count(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push('.');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn german_reasons() {
        let e = ParseError::TooLarge {
            size: 32_715_571,
            limit: 25 * 1024 * 1024,
        };
        assert_eq!(e.reason_de(), "Mail ist 31,2 MB groß, erlaubt sind 25 MB");
        let e = ParseError::TooManyHeaders {
            count: 10_001,
            limit: 1000,
        };
        assert_eq!(
            e.reason_de(),
            "Mail hat mindestens 10.001 Kopfzeilen, erlaubt sind 1.000"
        );
        assert!(ParseError::TooDeep {
            depth: 11,
            limit: 10
        }
        .reason_de()
        .contains("11 Ebenen"));
        assert_eq!(
            ParseError::Unparseable("die Mail ist leer".into()).reason_de(),
            "Mail konnte nicht gelesen werden: die Mail ist leer"
        );
    }

    #[test]
    fn number_formats() {
        assert_eq!(format_count(0), "0");
        assert_eq!(format_count(999), "999");
        assert_eq!(format_count(1000), "1.000");
        assert_eq!(format_count(1_234_567), "1.234.567");
        assert_eq!(format_megabytes(0), "0 MB");
        assert_eq!(format_megabytes(1024 * 1024 + 1024 * 1024 / 2), "1,5 MB");
        assert!(format_megabytes(usize::MAX).ends_with(" MB"));
    }
}
