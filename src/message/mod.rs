//! Parses and classifies one raw RFC 5322 mail: addresses, subject, readable text, attachments,
//! auto-reply/bounce/bulk class and a content hash for dedupe. Pure: no I/O, no database, no rules;
//! hostile input is rejected early by cheap limits so a single mail cannot exhaust time or memory.

mod attachments;
mod charset;
mod classify;
mod error;
mod hash;
mod headers;
mod limits;
mod spam;
mod subject;
mod text;
mod uuencode;

#[cfg(test)]
mod tests;

use crate::domain::{Address, AutoClass};
use mail_parser::{Message, MessageParser};
use std::fmt;

pub use error::ParseError;
pub use hash::{content_hash, raw_message_id, strip_mbox_from_line};
pub use headers::{sanitize_header_value, SenderSource};
pub use spam::{SpamPolicy, DEFAULT_SPAM_HEADERS};
pub use subject::case_number_in_subject;

/// Bounds applied to every mail before and while parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest raw mail in bytes.
    pub max_size: usize,
    /// Most header fields in one header block (top-level or MIME part).
    pub max_headers: usize,
    /// Most MIME parts, counted over all nested messages.
    pub max_parts: usize,
    /// Deepest nesting of multiparts and attached messages.
    pub max_depth: usize,
    /// Characters of the text body kept; the rest is cut off.
    pub max_text_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_size: 25 * 1024 * 1024,
            max_headers: 1000,
            max_parts: 500,
            max_depth: 10,
            max_text_chars: 1_000_000,
        }
    }
}

/// One attachment, decoded. Text attachments are stored as UTF-8.
#[derive(Clone, PartialEq, Eq)]
pub struct Attachment {
    /// File name from Content-Disposition or Content-Type, one line, no path separators.
    pub name: Option<String>,
    /// Lower-case `type/subtype`.
    pub content_type: String,
    /// Length of the decoded attachment in bytes (intake empties `content` after the parse).
    pub size: usize,
    /// SHA-256 of the decoded bytes: what identifies the attachment when it is decoded again
    /// from its stored mail (see [`attachment_of_raw`]).
    pub sha256: [u8; 32],
    pub content: Vec<u8>,
}

impl Attachment {
    pub fn new(name: Option<String>, content_type: String, content: Vec<u8>) -> Self {
        use sha2::Digest;
        Attachment {
            name,
            content_type,
            size: content.len(),
            sha256: sha2::Sha256::digest(&content).into(),
            content,
        }
    }
}

// The content can be megabytes; a derived Debug would flood logs.
impl fmt::Debug for Attachment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Attachment")
            .field("name", &self.name)
            .field("content_type", &self.content_type)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

/// The attachment at place `ord` (from 1) among a stored mail's attachments, decoded again
/// from the mail's raw bytes (intake stores an attachment's bytes only inside its mail), if its
/// SHA-256 is still `sha256`; if the one at `ord` differs (a later parser lists the parts
/// otherwise, or `ord` is unknown: 0), the first attachment of the mail with those bytes. None
/// when the mail no longer parses or no attachment has those bytes: never other bytes.
pub fn attachment_of_raw(raw: &[u8], ord: usize, sha256: &[u8]) -> Option<Attachment> {
    let limits = Limits {
        // The mail was accepted once; its size is not in question now.
        max_size: raw.len().max(Limits::default().max_size),
        ..Limits::default()
    };
    let mut attachments = parse(raw, &limits).ok()?.attachments;
    let fits = |a: &Attachment| a.sha256.as_slice() == sha256;
    let at = ord
        .checked_sub(1)
        .filter(|&i| attachments.get(i).is_some_and(fits))
        .or_else(|| attachments.iter().position(fits))?;
    Some(attachments.swap_remove(at))
}

/// What a delivery status notification (RFC 3464) says about the returned mail.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bounce {
    /// Enhanced status code such as "5.1.1" from the DSN's `Status:` field.
    pub status: Option<String>,
    /// Message-ID of the returned mail, with angle brackets.
    pub original_message_id: Option<String>,
    /// Recipient that failed (Original-Recipient, else Final-Recipient), address only.
    pub original_recipient: Option<String>,
}

/// Everything later stages need from one mail.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedMail {
    /// Always `<…>`; None when absent or empty.
    pub message_id: Option<String>,
    /// The first address of a `From:` field; when none has one, the sender inferred from
    /// `Sender:`, the mbox envelope line or `Return-Path:` (see `sender_inferred`).
    pub from: Option<Address>,
    /// Set when `from` was not read from a `From:` field: where it came from instead.
    pub sender_inferred: Option<SenderSource>,
    pub reply_to: Vec<Address>,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    /// Decoded, one line, at most 998 characters; None when absent or blank.
    pub subject: Option<String>,
    pub date: Option<chrono::DateTime<chrono::FixedOffset>>,
    pub date_raw: Option<String>,
    /// Each with angle brackets.
    pub in_reply_to: Vec<String>,
    /// Each with angle brackets.
    pub references: Vec<String>,
    /// None when the header is absent; `Some("")` for `<>`.
    pub return_path: Option<String>,
    /// The text staff read: text/plain parts joined, or HTML converted to text when there is no
    /// plain part. LF line endings, never a NUL; cut to `Limits::max_text_chars`.
    pub text: String,
    /// Every attachment of the top-level message, inline images and attached messages included.
    pub attachments: Vec<Attachment>,
    /// True when the mail has an HTML body the desk can show (see [`html_body`]).
    pub has_html: bool,
    /// From: of each attached message/rfc822 part.
    pub forwarded_from: Vec<Address>,
    /// Text bodies of the attached messages (same order), for the sender rules.
    pub forwarded_texts: Vec<String>,
    pub auto: AutoClass,
    /// Short English note on which header decided `auto`.
    pub auto_reason: Option<String>,
    /// Set when `auto` is Bounce and a DSN or returned message could be read.
    pub bounce: Option<Bounce>,
    /// Hex SHA-256 of the mail without trace headers, see [`content_hash`].
    pub content_hash: String,
    /// Size of the raw input in bytes.
    pub size: usize,
}

/// Parses one raw mail (an optional leading mbox `From ` line is skipped).
///
/// Rejected as [`ParseError::Unparseable`]: blank input, input in which mail-parser finds no
/// header field, and a mail with neither a sender address nor any content (no non-blank text, no
/// attachment). A mail without From but with content is accepted with `from = None`, so that staff
/// see it as a case instead of losing it.
pub fn parse(raw: &[u8], limits: &Limits) -> Result<ParsedMail, ParseError> {
    let size = raw.len();
    if size > limits.max_size {
        return Err(ParseError::TooLarge {
            size,
            limit: limits.max_size,
        });
    }
    let body = strip_mbox_from_line(raw);
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ParseError::Unparseable("die Mail ist leer".into()));
    }
    limits::check_top_headers(body, limits)?;
    limits::check_structure(body, limits)?;

    let message = parse_message(body)?;
    build(message, raw, size, limits)
}

/// The HTML body of a stored raw mail (decoded, not sanitised), if it has one.
pub fn html_body(raw: &[u8]) -> Option<String> {
    let message = parse_message(strip_mbox_from_line(raw)).ok()?;
    text::html_body(&message)
}

/// Runs mail-parser behind `catch_unwind`: mail-parser 0.11.9 has `debug_assert!(false, …)` on
/// paths that malformed MIME reaches (e.g. a message/rfc822 part whose body is only another
/// message/rfc822 header, found by the mutation test), so debug builds panic there. Release
/// builds skip those asserts; the guard keeps one bad mail from taking down the intake either way.
fn parse_message(raw: &[u8]) -> Result<Message<'_>, ParseError> {
    let parsed =
        std::panic::catch_unwind(|| MessageParser::default().parse(raw)).map_err(|_| {
            ParseError::Unparseable("der MIME-Aufbau ist fehlerhaft (Parser abgebrochen)".into())
        })?;
    parsed
        .filter(|m| !m.parts.is_empty())
        .ok_or_else(|| ParseError::Unparseable("keine Kopfzeilen gefunden".into()))
}

fn build(
    message: Message<'_>,
    raw: &[u8],
    size: usize,
    limits: &Limits,
) -> Result<ParsedMail, ParseError> {
    let top = headers::TopHeaders::new(&message);

    let (from, sender_inferred) = match top.from() {
        Some(a) => (Some(a), None),
        None => match top.inferred_sender(raw) {
            Some((a, source)) => (Some(a), Some(source)),
            None => (None, None),
        },
    };
    let report_tail = attachments::report_tail(&message);
    let body = text::body_text(&message, &report_tail, limits.max_text_chars);
    let text = body.text;
    let (auto, auto_reason) = classify::classify(&top);
    let bounce = if auto == AutoClass::Bounce {
        classify::read_bounce(&message, &text)
    } else {
        None
    };
    let mail = ParsedMail {
        message_id: top.message_id(),
        from,
        sender_inferred,
        reply_to: top.addresses(mail_parser::HeaderName::ReplyTo),
        to: top.addresses(mail_parser::HeaderName::To),
        cc: top.addresses(mail_parser::HeaderName::Cc),
        subject: top.subject(),
        date: top.date(),
        date_raw: top.date_raw(),
        in_reply_to: top.ids(mail_parser::HeaderName::InReplyTo),
        references: top.ids(mail_parser::HeaderName::References),
        return_path: top.return_path(),
        text,
        attachments: Vec::new(),
        has_html: text::has_html_body(&message),
        forwarded_from: attachments::forwarded_from(&message),
        forwarded_texts: attachments::forwarded_texts(&message, 20_000),
        auto,
        auto_reason,
        bounce,
        content_hash: content_hash(raw),
        size,
    };
    // Last, as it takes the message apart.
    let mut attachments = attachments::collect(message, &report_tail);
    attachments.extend(body.uuencoded);
    if mail.from.is_none() && mail.text.trim().is_empty() && attachments.is_empty() {
        return Err(ParseError::Unparseable(
            "weder Absender noch Inhalt vorhanden".into(),
        ));
    }
    Ok(ParsedMail {
        attachments,
        ..mail
    })
}
