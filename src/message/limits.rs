//! Cheap guards run before the full parse: header counts and a dry run of the MIME structure that
//! counts parts and nesting depth without decoding or allocating per part.
//!
//! Why a dry run: mail-parser 0.11 has no limit of its own on parts or on nested message/rfc822
//! parts (only base64/quoted-printable encoded nested messages stop at 3 levels). It keeps each
//! nested message as a nested Rust value, so ~100,000 nested messages (a few MB) overflow the stack
//! while parsing, and millions of tiny parts cost gigabytes. The dry run below walks the mail the
//! way mail-parser's `parse_` does, with mail-parser's own stream primitives and a parser that
//! reads only Content-Type and Content-Transfer-Encoding, and stops at the first limit exceeded.

use super::{Limits, ParseError};
use mail_parser::parsers::MessageStream;
use mail_parser::{GetHeader, HeaderName, HeaderValue, MessageParser};
use std::sync::OnceLock;

/// mail-parser parses encoded (base64, quoted-printable) nested messages this many levels deep.
const ENCODED_NESTING: usize = 3;

/// Counts the header fields of the header block that starts at `raw` (lines that do not start
/// with whitespace, up to the first blank line) and fails once `max_headers` is exceeded.
fn check_header_block(raw: &[u8], limits: &Limits) -> Result<(), ParseError> {
    let mut count = 0usize;
    for line in raw.split(|&b| b == b'\n') {
        if line.iter().all(|b| b.is_ascii_whitespace()) {
            break;
        }
        if line.first().is_some_and(|b| !b.is_ascii_whitespace()) {
            count += 1;
            if count > limits.max_headers {
                return Err(ParseError::TooManyHeaders {
                    count,
                    limit: limits.max_headers,
                });
            }
        }
    }
    Ok(())
}

/// Header count of the top-level header block.
pub(super) fn check_top_headers(raw: &[u8], limits: &Limits) -> Result<(), ParseError> {
    check_header_block(raw, limits)
}

fn structure_parser() -> &'static MessageParser {
    static PARSER: OnceLock<MessageParser> = OnceLock::new();
    PARSER.get_or_init(|| {
        MessageParser::new()
            .header_content_type(HeaderName::ContentType)
            .header_text(HeaderName::ContentTransferEncoding)
            .default_header_ignore()
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Container {
    Message,
    Multipart { digest: bool },
}

struct Frame {
    container: Container,
    boundary: Option<Vec<u8>>,
}

struct Entry {
    frame: Frame,
    /// Pushed when entering an (unencoded) nested message, as opposed to a multipart.
    entered_message: bool,
}

struct Walk<'l> {
    limits: &'l Limits,
    parts: usize,
}

impl Walk<'_> {
    fn count_part(&mut self) -> Result<(), ParseError> {
        self.parts += 1;
        if self.parts > self.limits.max_parts {
            return Err(ParseError::TooManyParts {
                count: self.parts,
                limit: self.limits.max_parts,
            });
        }
        Ok(())
    }

    fn check_depth(&self, depth: usize) -> Result<(), ParseError> {
        if depth > self.limits.max_depth {
            return Err(ParseError::TooDeep {
                depth,
                limit: self.limits.max_depth,
            });
        }
        Ok(())
    }
}

/// Counts MIME parts (over all nested messages) and nesting depth, failing at the first limit
/// exceeded. Work is linear in the size of the mail times the (bounded) number of encoded levels.
pub(super) fn check_structure(raw: &[u8], limits: &Limits) -> Result<(), ParseError> {
    let mut walk = Walk { limits, parts: 0 };
    walk_message(raw, ENCODED_NESTING, 0, &mut walk)
}

/// Mirrors the control flow of mail-parser 0.11.9 `MessageParser::parse_` (parsers/message.rs):
/// one active boundary at a time, a stack of enclosing multiparts and messages, the same recovery
/// when a part has no closing boundary. Keep in step when mail-parser is upgraded.
fn walk_message(
    raw: &[u8],
    encoded_levels: usize,
    base_depth: usize,
    walk: &mut Walk<'_>,
) -> Result<(), ParseError> {
    walk.check_depth(base_depth)?;
    let parser = structure_parser();
    let mut stream = MessageStream::new(raw);
    let mut state = Frame {
        container: Container::Message,
        boundary: None,
    };
    let mut stack: Vec<Entry> = Vec::new();
    let mut headers = Vec::new();

    loop {
        check_header_block(raw.get(stream.offset()..).unwrap_or_default(), walk.limits)?;
        headers.clear();
        if !stream.parse_headers(parser, &mut headers) {
            break;
        }
        walk.count_part()?;

        let content_type = headers
            .header_value(&HeaderName::ContentType)
            .and_then(|v| v.as_content_type());
        let (ctype, subtype) = match content_type {
            Some(ct) => (Some(ct.ctype()), ct.subtype()),
            None => (None, None),
        };
        let mut is_message = match ctype {
            Some("message") => matches!(subtype, Some("rfc822") | Some("global")),
            Some(_) => false,
            None => state.container == Container::Multipart { digest: true },
        };

        if ctype == Some("multipart") {
            if let Some(boundary) = content_type.and_then(|ct| ct.attribute("boundary")) {
                if stream.seek_next_part(boundary.as_bytes()) {
                    let frame = Frame {
                        container: Container::Multipart {
                            digest: subtype == Some("digest"),
                        },
                        boundary: Some(boundary.as_bytes().to_vec()),
                    };
                    stack.push(Entry {
                        frame: std::mem::replace(&mut state, frame),
                        entered_message: false,
                    });
                    walk.check_depth(base_depth + stack.len())?;
                    stream.skip_crlf();
                    continue;
                }
            }
            is_message = false;
        }

        let encoding =
            transfer_encoding(headers.header_value(&HeaderName::ContentTransferEncoding));

        if is_message && encoding == Encoding::None {
            let frame = Frame {
                container: Container::Message,
                boundary: state.boundary.take(),
            };
            stack.push(Entry {
                frame: std::mem::replace(&mut state, frame),
                entered_message: true,
            });
            walk.check_depth(base_depth + stack.len())?;
            continue;
        }

        // A leaf part. Only encoded nested messages need their decoded bytes; for everything else
        // mail-parser's decoders stop at the same boundary as the plain scan.
        let boundary = state.boundary.as_deref().unwrap_or_default();
        let (end, nested) = if is_message && encoded_levels > 0 {
            let (end, bytes) = match encoding {
                Encoding::Base64 => stream.decode_base64_mime(boundary),
                _ => stream.decode_quoted_printable_mime(boundary),
            };
            (end, Some(bytes))
        } else {
            (stream.mime_part(boundary).0, None)
        };
        if end == usize::MAX {
            let (_, found) = stream.seek_part_end(state.boundary.as_deref());
            if !found {
                state.boundary = None;
            }
        } else if let Some(bytes) = nested {
            walk_message(
                &bytes,
                encoded_levels - 1,
                base_depth + stack.len() + 1,
                walk,
            )?;
        }

        if state.boundary.is_some() {
            if !climb_after_part(&mut stream, &mut state, &mut stack) {
                break;
            }
        } else if stream.offset() >= raw.len() {
            break;
        }
    }
    Ok(())
}

/// After a leaf part inside a multipart: close what ended with it (a nested message, a multipart
/// at its closing boundary) and step to the next part, as mail-parser does. False when the walk
/// is over.
fn climb_after_part(
    stream: &mut MessageStream<'_>,
    state: &mut Frame,
    stack: &mut Vec<Entry>,
) -> bool {
    loop {
        if state.container == Container::Message {
            match stack.pop() {
                Some(Entry {
                    frame: mut parent,
                    entered_message: true,
                }) => {
                    parent.boundary = state.boundary.take();
                    *state = parent;
                }
                _ => return false,
            }
        }
        if !stream.is_multipart_end() {
            return true;
        }
        let Some(entry) = stack.pop() else {
            return false;
        };
        *state = entry.frame;
        let next = state
            .boundary
            .as_deref()
            .and_then(|boundary| stream.seek_next_part_offset(boundary));
        if next.is_none() {
            return false;
        }
    }
}

fn transfer_encoding(value: Option<&HeaderValue<'_>>) -> Encoding {
    match value {
        Some(HeaderValue::Text(e)) if e.eq_ignore_ascii_case("base64") => Encoding::Base64,
        Some(HeaderValue::Text(e)) if e.eq_ignore_ascii_case("quoted-printable") => {
            Encoding::QuotedPrintable
        }
        _ => Encoding::None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    None,
    Base64,
    QuotedPrintable,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested_multiparts(levels: usize) -> Vec<u8> {
        let mut s = String::from("From: a@beispiel.test\nSubject: tief\nMIME-Version: 1.0\n");
        for i in 0..levels {
            s.push_str(&format!(
                "Content-Type: multipart/mixed; boundary=\"b{i}\"\n\n--b{i}\n"
            ));
        }
        s.push_str("Content-Type: text/plain\n\nhallo\n");
        for i in (0..levels).rev() {
            s.push_str(&format!("--b{i}--\n"));
        }
        s.into_bytes()
    }

    fn nested_messages(levels: usize) -> Vec<u8> {
        let mut s = String::from("From: a@beispiel.test\nSubject: tief\nMIME-Version: 1.0\n");
        for _ in 0..levels {
            s.push_str("Content-Type: message/rfc822\n\nFrom: b@beispiel.test\nSubject: x\n");
        }
        s.push_str("Content-Type: text/plain\n\nhallo\n");
        s.into_bytes()
    }

    fn many_parts(parts: usize) -> Vec<u8> {
        let mut s = String::from(
            "From: a@beispiel.test\nSubject: viele\nMIME-Version: 1.0\n\
Content-Type: multipart/mixed; boundary=\"b\"\n\n",
        );
        for _ in 0..parts {
            s.push_str("--b\nContent-Type: text/plain\n\nx\n");
        }
        s.push_str("--b--\n");
        s.into_bytes()
    }

    fn base64(data: &[u8]) -> String {
        const ALPHABET: &[u8; 64] =
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in data.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    fn check(raw: &[u8]) -> Result<(), ParseError> {
        check_structure(raw, &Limits::default())
    }

    #[test]
    fn ordinary_structure_passes() {
        assert!(check(&nested_multiparts(3)).is_ok());
        assert!(check(&nested_messages(3)).is_ok());
        assert!(check(&many_parts(100)).is_ok());
        assert!(check(b"From: a@b.test\n\nhallo").is_ok());
    }

    #[test]
    fn depth_limit_is_exact() {
        // levels of multipart = depth of the innermost text part
        assert!(check(&nested_multiparts(10)).is_ok());
        assert_eq!(
            check(&nested_multiparts(11)),
            Err(ParseError::TooDeep {
                depth: 11,
                limit: 10
            })
        );
        assert!(check(&nested_messages(10)).is_ok());
        assert!(matches!(
            check(&nested_messages(11)),
            Err(ParseError::TooDeep { .. })
        ));
    }

    #[test]
    fn part_limit_counts_the_root_too() {
        assert!(check(&many_parts(499)).is_ok());
        assert_eq!(
            check(&many_parts(500)),
            Err(ParseError::TooManyParts {
                count: 501,
                limit: 500
            })
        );
    }

    /// The work is bounded by the limits, not by the input: however large the bomb, the walk
    /// stops at the first part or level beyond the limit (count-based, no wall clock).
    #[test]
    fn bombs_stop_at_the_first_limit_exceeded() {
        for raw in [
            nested_multiparts(2_000),
            nested_messages(2_000),
            nested_messages(200_000),
        ] {
            assert_eq!(
                check(&raw),
                Err(ParseError::TooDeep {
                    depth: 11,
                    limit: 10
                })
            );
        }
        for raw in [many_parts(5_000), many_parts(500_000)] {
            assert_eq!(
                check(&raw),
                Err(ParseError::TooManyParts {
                    count: 501,
                    limit: 500
                })
            );
        }
    }

    #[test]
    fn encoded_nested_messages_are_looked_into() {
        let inner = String::from_utf8(nested_messages(20)).unwrap();
        let raw = format!(
            "From: a@beispiel.test\nSubject: x\nMIME-Version: 1.0\n\
Content-Type: multipart/mixed; boundary=\"outer\"\n\n--outer\n\
Content-Type: message/rfc822\nContent-Transfer-Encoding: base64\n\n{}\n--outer--\n",
            base64(inner.as_bytes())
        );
        assert!(matches!(
            check(raw.as_bytes()),
            Err(ParseError::TooDeep { .. })
        ));
        let fine = String::from_utf8(nested_messages(2)).unwrap();
        let raw = raw.replace(&base64(inner.as_bytes()), &base64(fine.as_bytes()));
        assert!(check(raw.as_bytes()).is_ok());
    }

    #[test]
    fn header_counts() {
        let mut raw = String::new();
        for i in 0..10_000 {
            raw.push_str(&format!("X-H{i}: v\n"));
        }
        raw.push_str("\nbody\n");
        assert_eq!(
            check_top_headers(raw.as_bytes(), &Limits::default()),
            Err(ParseError::TooManyHeaders {
                count: 1001,
                limit: 1000
            })
        );
        // folded continuation lines belong to one field
        let folded = format!("References: {}\n\nbody", "<a@b.test>\n ".repeat(5_000));
        assert!(check_top_headers(folded.as_bytes(), &Limits::default()).is_ok());
        // a MIME part with too many fields is caught by the structure walk
        let part_headers = "X-P: v\n".repeat(2_000);
        let raw = format!(
            "From: a@b.test\nContent-Type: multipart/mixed; boundary=\"b\"\n\n--b\n{part_headers}\nx\n--b--\n"
        );
        assert!(matches!(
            check(raw.as_bytes()),
            Err(ParseError::TooManyHeaders { .. })
        ));
    }
}
