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

/// A file name safe to show and to store: one line, no path separators. A name given as RFC 2231
/// continuations is joined from the raw header first (see [`continued_name`]).
fn file_name(message: &Message<'_>, part: &MessagePart<'_>) -> Option<String> {
    let raw_value = |name: &str| {
        part.headers
            .iter()
            .find(|h| h.name.as_str().eq_ignore_ascii_case(name))
            .and_then(|h| {
                message
                    .raw_message
                    .get(h.offset_start as usize..h.offset_end as usize)
            })
            .map(String::from_utf8_lossy)
    };
    let continued = [
        ("Content-Disposition", "filename"),
        ("Content-Type", "name"),
    ]
    .into_iter()
    .find_map(|(header, param)| continued_name(&raw_value(header)?, param));
    match continued {
        Some(name) => safe_name(&name),
        None => safe_name(part.attachment_name()?),
    }
}

/// An RFC 2231 parameter given in pieces (`filename*0*=UTF-8''%C3; filename*1*=%A4.pdf`): the
/// pieces are joined as bytes and only then decoded with the first piece's charset, as the RFC
/// says. mail-parser decodes each piece alone, which garbles a character split across pieces
/// and stateful charsets (ISO-2022-JP). `None` when the parameter is not continued.
pub(super) fn continued_name(raw_value: &str, param: &str) -> Option<String> {
    let mut pieces: Vec<(u32, bool, String)> = Vec::new();
    for item in raw_value.split(';') {
        let Some((key, value)) = item.split_once('=') else {
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        let Some(rest) = key.strip_prefix(param).and_then(|r| r.strip_prefix('*')) else {
            continue;
        };
        let (index, extended) = match rest.strip_suffix('*') {
            Some(n) => (n, true),
            None => (rest, false),
        };
        let Ok(index) = index.parse::<u32>() else {
            continue;
        };
        let value = value.trim().trim_matches('"').to_string();
        pieces.push((index, extended, value));
    }
    if pieces.len() < 2 {
        return None;
    }
    pieces.sort_by_key(|p| p.0);
    let mut charset: Option<String> = None;
    let mut bytes: Vec<u8> = Vec::new();
    for (i, (_, extended, value)) in pieces.iter().enumerate() {
        let mut value = value.as_str();
        if *extended && i == 0 {
            // charset'language'value
            let mut parts = value.splitn(3, '\'');
            if let (Some(cs), Some(_lang), Some(v)) = (parts.next(), parts.next(), parts.next()) {
                charset = Some(cs.to_string()).filter(|c| !c.is_empty());
                value = v;
            }
        }
        if *extended {
            bytes.extend(percent_decoded(value));
        } else {
            bytes.extend_from_slice(value.as_bytes());
        }
    }
    Some(super::charset::decode(charset.as_deref(), &bytes))
}

/// `%XX` escapes as bytes; anything else as it is.
fn percent_decoded(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
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
            file_name(message, part).or_else(|| block.name.as_deref().and_then(safe_name)),
            block.content,
        ),
        None => (file_name(message, part), part.contents().to_vec()),
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
        let (name, content_type) = (file_name(&message, part), content_type(part));
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

#[cfg(test)]
mod continuation_tests {
    use super::continued_name;

    /// RFC 2231 pieces are joined as bytes before decoding: a character split across pieces
    /// and a stateful charset survive (an outside try saw „新しいテキスト $B%I%-%e%a%s%H(B.txt“).
    #[test]
    fn continued_names_are_joined_before_decoding() {
        let raw = " attachment;\r\n filename*0*=ISO-2022-JP'ja'%1b$B%3f7$7$$%25F%25%2d%259%25H%1b%28B;\r\n \
                   filename*1*=%20;\r\n filename*2*=%1b$B%25I%25%2d%25e%25a%25s%25H%1b%28B;\r\n filename*3=.txt";
        assert_eq!(
            continued_name(raw, "filename").as_deref(),
            Some("新しいテキスト ドキュメント.txt")
        );
        // An umlaut's two UTF-8 bytes in two pieces.
        let raw = "attachment; filename*0*=UTF-8''Widerspruch_M%C3; filename*1*=%BCller.pdf";
        assert_eq!(
            continued_name(raw, "filename").as_deref(),
            Some("Widerspruch_Müller.pdf")
        );
        // Plain pieces, quoted; and no continuation at all.
        let raw = "attachment; filename*0=\"Bescheid vom \"; filename*1=\"1.3.2026.pdf\"";
        assert_eq!(
            continued_name(raw, "filename").as_deref(),
            Some("Bescheid vom 1.3.2026.pdf")
        );
        assert_eq!(
            continued_name("attachment; filename=a.pdf", "filename"),
            None
        );
        assert_eq!(
            continued_name("attachment; filename*=UTF-8''a.pdf", "filename"),
            None
        );
    }
}
