//! Attachments of the top-level message, decoded, and the senders of attached messages.
//! Parts inside an attached message stay inside its .eml bytes.

use super::headers::{first_address, sanitize_header_value};
use super::Attachment;
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
    let name = sanitize_header_value(part.attachment_name()?).replace(['/', '\\'], "_");
    Some(name).filter(|n| !n.is_empty())
}

/// Every part mail-parser lists as an attachment: binary parts (inline images too), text parts
/// that are not the body, attached messages as .eml bytes.
pub(super) fn collect(message: &Message<'_>) -> Vec<Attachment> {
    message
        .attachments
        .iter()
        .filter_map(|&id| message.parts.get(id as usize))
        .map(|part| {
            let content = match &part.body {
                PartType::Message(nested) => nested_raw(nested).to_vec(),
                _ => part.contents().to_vec(),
            };
            Attachment {
                name: file_name(part),
                content_type: content_type(part),
                size: content.len(),
                content,
            }
        })
        .collect()
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
        let atts = collect(&m);
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
        let fwd = forwarded_from(&m);
        assert_eq!(fwd.len(), 1);
        assert_eq!(fwd[0].addr, "max@verein.test");
        assert_eq!(fwd[0].name.as_deref(), Some("Max M."));
        assert_eq!(forwarded_texts(&m, 100), vec!["Inhalt".to_string()]);
    }
}
