//! Attachments of the top-level message, decoded, and the senders of attached messages.
//! Parts inside an attached message stay inside its .eml bytes.

use super::headers::{first_address, sanitize_header_value};
use super::{uuencode, Attachment};
use crate::domain::Address;
use mail_parser::{GetHeader, HeaderName, Message, MessagePart, MimeHeaders, PartType};

/// Lower-case `type/subtype` of a part, with the defaults RFC 2045 and mail-parser imply.
pub(super) fn content_type(part: &MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        },
        None => match part.body {
            PartType::Text(_) => "text/plain".into(),
            PartType::Html(_) => "text/html".into(),
            PartType::Message(_) => "message/rfc822".into(),
            _ => "application/octet-stream".into(),
        },
    }
}

/// A file name safe to show and to store: one line, no path separators.
fn file_name(part: &MessagePart<'_>) -> Option<String> {
    safe_name(part.attachment_name()?)
}

/// The parts of each multipart/report after its first (human-readable) one: the delivery
/// status and the returned message or headers (RFC 3462/3464). They are attachments, never
/// body text. Leaves only, in part order.
pub(super) fn report_tail(message: &Message<'_>) -> Vec<u32> {
    let mut out = Vec::new();
    for part in &message.parts {
        let PartType::Multipart(children) = &part.body else {
            continue;
        };
        let is_report = part.content_type().is_some_and(|ct| {
            ct.ctype().eq_ignore_ascii_case("multipart")
                && ct
                    .subtype()
                    .is_some_and(|s| s.eq_ignore_ascii_case("report"))
        });
        if !is_report {
            continue;
        }
        let mut stack: Vec<u32> = children.iter().skip(1).rev().copied().collect();
        while let Some(id) = stack.pop() {
            match message.parts.get(id as usize).map(|p| &p.body) {
                Some(PartType::Multipart(inner)) => stack.extend(inner.iter().rev().copied()),
                Some(_) => out.push(id),
                None => {}
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Whether a part says `Content-Transfer-Encoding: x-uuencode` (or a spelling of it).
pub(super) fn is_uuencoded(part: &MessagePart<'_>) -> bool {
    part.content_transfer_encoding()
        .is_some_and(uuencode::is_uuencode_cte)
}

/// A uuencoded part decoded as an attachment, named by its part or its `begin` line.
pub(super) fn uuencoded_attachment(message: &Message<'_>, part: &MessagePart<'_>) -> Attachment {
    let raw = message
        .raw_message
        .get(part.offset_body as usize..part.offset_end as usize)
        .unwrap_or_default();
    let (name, content) = match uuencode::decode_part(raw) {
        Some(block) => (
            file_name(part).or_else(|| block.name.as_deref().and_then(safe_name)),
            block.content,
        ),
        None => (file_name(part), part.contents().to_vec()),
    };
    let content_type = match content_type(part).as_str() {
        // A uuencoded file declared as text is still a file of unknown type.
        "text/plain" => "application/octet-stream".to_string(),
        ct => ct.to_string(),
    };
    Attachment::new(name, content_type, content)
}

/// A uuencoded block found in body text, as an attachment.
pub(super) fn block_attachment(block: uuencode::Block) -> Attachment {
    Attachment::new(
        block.name.as_deref().and_then(safe_name),
        "application/octet-stream".into(),
        block.content,
    )
}

fn safe_name(name: &str) -> Option<String> {
    let name = sanitize_header_value(name).replace(['/', '\\'], "_");
    Some(name).filter(|n| !n.is_empty())
}

/// Every part mail-parser lists as an attachment: binary parts (inline images too), text parts
/// that are not the body, attached messages as .eml bytes; and the trailing parts of a
/// multipart/report (`report_tail`). uuencoded parts are decoded. Takes the message: a binary
/// part mail-parser has decoded is moved out, not copied (a big attachment is held once).
pub(super) fn collect(mut message: Message<'_>, report_tail: &[u32]) -> Vec<Attachment> {
    let mut ids: Vec<u32> = message.attachments.clone();
    ids.extend(report_tail);
    ids.sort_unstable();
    ids.dedup();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let Some(part) = message.parts.get(id as usize) else {
            continue;
        };
        if matches!(part.body, PartType::Multipart(_)) {
            continue;
        }
        if is_uuencoded(part) {
            out.push(uuencoded_attachment(&message, part));
            continue;
        }
        let (name, content_type) = (file_name(part), content_type(part));
        let content = match &part.body {
            PartType::Message(nested) => nested_raw(nested).to_vec(),
            PartType::Binary(_) | PartType::InlineBinary(_) => {
                let empty = PartType::Binary(std::borrow::Cow::Borrowed(&[]));
                match std::mem::replace(&mut message.parts[id as usize].body, empty) {
                    PartType::Binary(c) | PartType::InlineBinary(c) => c.into_owned(),
                    _ => Vec::new(),
                }
            }
            _ => part.contents().to_vec(),
        };
        out.push(Attachment::new(name, content_type, content));
    }
    out
}

/// Raw bytes of a nested message; unlike `Message::raw_message` this cannot index out of range.
pub(super) fn nested_raw<'a>(nested: &'a Message<'_>) -> &'a [u8] {
    nested
        .parts
        .first()
        .and_then(|root| {
            nested
                .raw_message
                .get(root.offset_header as usize..root.offset_end as usize)
        })
        .unwrap_or_default()
}

/// From: of each attached message (message/rfc822 or message/global) of the top-level message.
pub(super) fn forwarded_from(message: &Message<'_>) -> Vec<Address> {
    message
        .parts
        .iter()
        .filter_map(|part| match &part.body {
            PartType::Message(nested) => nested.parts.first(),
            _ => None,
        })
        .filter_map(|root| root.headers.header_value(&HeaderName::From))
        .filter_map(first_address)
        .collect()
}

/// Text body of each attached message, in the same order as [`forwarded_from`], so that the
/// sender rules can read the signature inside an attached forward. Capped, NUL-free.
pub(super) fn forwarded_texts(message: &Message<'_>, max_chars: usize) -> Vec<String> {
    message
        .parts
        .iter()
        .filter_map(|part| match &part.body {
            PartType::Message(nested) => Some(nested),
            _ => None,
        })
        .map(|nested| {
            nested
                .body_text(0)
                .map(|t| t.chars().filter(|c| *c != '\0').take(max_chars).collect())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use mail_parser::MessageParser;

    const MAIL: &str = "From: a@beispiel.test\nSubject: Anhang\nMIME-Version: 1.0\n\
Content-Type: multipart/mixed; boundary=\"b\"\n\n--b\nContent-Type: text/plain\n\nSiehe Anhang.\n\
--b\nContent-Type: application/pdf; name=\"../../Bescheid\r\n.pdf\"\n\
Content-Disposition: attachment; filename=\"../../Bescheid.pdf\"\n\
Content-Transfer-Encoding: base64\n\nJVBERi0xLjQK\n\
--b\nContent-Type: message/rfc822\n\nFrom: \"Max M.\" <max@verein.test>\nSubject: weitergeleitet\n\nInhalt\n\
--b\nContent-Type: image/png\nContent-Disposition: inline\n\niVBORw0KGgo=\n--b--\n";

    #[test]
    fn attachments_and_forwarded_senders() {
        let m = MessageParser::default().parse(MAIL.as_bytes()).unwrap();
        let fwd = forwarded_from(&m);
        assert_eq!(fwd.len(), 1);
        assert_eq!(fwd[0].addr, "max@verein.test");
        assert_eq!(fwd[0].name.as_deref(), Some("Max M."));
        assert_eq!(forwarded_texts(&m, 100), vec!["Inhalt".to_string()]);
        let tail = report_tail(&m);
        let atts = collect(m, &tail);
        assert_eq!(atts.len(), 3, "{atts:?}");
        assert_eq!(atts[0].name.as_deref(), Some(".._.._Bescheid.pdf"));
        assert_eq!(atts[0].content_type, "application/pdf");
        assert_eq!(atts[0].content, b"%PDF-1.4\n");
        assert_eq!(atts[0].size, 9);
        assert_eq!(atts[1].content_type, "message/rfc822");
        assert!(atts[1].content.starts_with(b"From: \"Max M.\""));
        assert!(atts[1].content.ends_with(b"Inhalt"));
        assert_eq!(atts[2].content_type, "image/png");
        assert_eq!(atts[2].name, None);
        // Taken from the parse: decoded (the PDF above, moved) or as it stands (copied).
        assert_eq!(atts[2].content, b"iVBORw0KGgo=");
    }
}
