//! Charset labels as mail clients write them. mail-parser decodes the labels it knows; for the
//! rest (`x-unknown`, `unknown`, misspelt labels) and for undeclared 8-bit text it reads lossy
//! UTF-8. Here such text is decoded again from the raw bytes: the label per the WHATWG Encoding
//! Standard (`encoding_rs`), else UTF-8 when valid, else the charset `chardetng` detects.

use encoding_rs::{Encoding, UTF_8};
use mail_parser::decoders::base64::base64_decode;
use mail_parser::decoders::charsets::map::charset_decoder;
use mail_parser::decoders::quoted_printable::quoted_printable_decode;
use mail_parser::{Message, MessagePart, MimeHeaders};
use std::borrow::Cow;

/// Whether mail-parser decoded text with this label correctly: it knows the label, or the label
/// means UTF-8 (which it reads as UTF-8).
fn parser_knows(label: &str) -> bool {
    charset_decoder(label.as_bytes()).is_some()
        || Encoding::for_label(label.trim().as_bytes()) == Some(UTF_8)
}

/// Decodes `bytes` declared as `label`: the WHATWG label table, else valid UTF-8 as is, else
/// the detected charset (windows-1252 when detection has nothing to go on).
pub(super) fn decode(label: Option<&str>, bytes: &[u8]) -> String {
    if let Some(enc) = label.and_then(|l| Encoding::for_label(l.trim().as_bytes())) {
        let (text, _, _) = enc.decode(bytes);
        return text.into_owned();
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => {
            let mut detector =
                chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Allow);
            detector.feed(bytes, true);
            let enc = detector.guess(None, chardetng::Utf8Detection::Allow);
            let (text, _, _) = enc.decode(bytes);
            text.into_owned()
        }
    }
}

/// The text of a text part, decoded again from the raw bytes where mail-parser could not know
/// the charset: an unknown label, or no usable label and bytes that are not UTF-8 (mail-parser's
/// lossy reading then holds U+FFFD). Borrowed when mail-parser's text stands.
pub(super) fn part_text<'a>(
    message: &Message<'_>,
    part: &MessagePart<'_>,
    parsed: &'a str,
) -> Cow<'a, str> {
    let label = part
        .content_type()
        .and_then(|ct| ct.attribute("charset"))
        .map(str::trim)
        .filter(|l| !l.is_empty());
    let redo = match label {
        Some(l) if !parser_knows(l) => true,
        Some(l) => Encoding::for_label(l.as_bytes()) == Some(UTF_8) && parsed.contains('\u{FFFD}'),
        None => parsed.contains('\u{FFFD}'),
    };
    if !redo {
        return Cow::Borrowed(parsed);
    }
    match transfer_decoded(message, part) {
        // A label that says UTF-8 over bytes that are not: detect instead.
        Some(bytes) => Cow::Owned(decode(
            label.filter(|l| Encoding::for_label(l.as_bytes()) != Some(UTF_8)),
            &bytes,
        )),
        None => Cow::Borrowed(parsed),
    }
}

/// The part's body bytes with the transfer encoding removed.
pub(super) fn transfer_decoded(message: &Message<'_>, part: &MessagePart<'_>) -> Option<Vec<u8>> {
    let raw = message
        .raw_message
        .get(part.offset_body as usize..part.offset_end as usize)?;
    let cte = part
        .content_transfer_encoding()
        .map(|c| c.trim().to_ascii_lowercase());
    match cte.as_deref() {
        Some("base64") => base64_decode(raw),
        Some("quoted-printable") => quoted_printable_decode(raw),
        _ => Some(raw.to_vec()),
    }
}

/// Decodes the RFC 2047 encoded words of a raw header value again when mail-parser's reading
/// cannot be right: a word whose charset it does not know, or (`garbled`: its text holds U+FFFD)
/// a multi-byte character split across two adjacent words, as some clients write them — the
/// bytes of adjacent words with the same charset are decoded together. None when there is
/// nothing to redo (mail-parser's reading then stands).
pub(super) fn decode_header_words(raw: &str, garbled: bool) -> Option<String> {
    if !raw.contains("=?") {
        return None;
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    let mut redo = garbled;
    // Bytes of the current run of adjacent encoded words, with their charset label.
    let mut run: Option<(String, Vec<u8>)> = None;
    let flush = |run: &mut Option<(String, Vec<u8>)>, out: &mut String| {
        if let Some((label, bytes)) = run.take() {
            out.push_str(&decode(Some(&label), &bytes));
        }
    };
    while !rest.is_empty() {
        let Some(start) = rest.find("=?") else {
            flush(&mut run, &mut out);
            out.push_str(rest);
            break;
        };
        let (before, from_word) = rest.split_at(start);
        match encoded_word(from_word) {
            Some((label, bytes, used)) => {
                redo |= !parser_knows(label);
                // Whitespace between two encoded words is not part of the text (RFC 2047, 6.2).
                let adjacent = run.is_some() && before.chars().all(char::is_whitespace);
                match &mut run {
                    Some((l, b)) if adjacent && l.eq_ignore_ascii_case(label) => {
                        b.extend_from_slice(&bytes)
                    }
                    _ => {
                        flush(&mut run, &mut out);
                        if !adjacent {
                            out.push_str(before);
                        }
                        run = Some((label.to_string(), bytes));
                    }
                }
                rest = &from_word[used..];
            }
            None => {
                flush(&mut run, &mut out);
                out.push_str(before);
                out.push_str("=?");
                rest = &from_word[2..];
            }
        }
    }
    flush(&mut run, &mut out);
    redo.then_some(out)
}

/// One encoded word at the start of `s`: (charset label, its bytes, input bytes used).
fn encoded_word(s: &str) -> Option<(&str, Vec<u8>, usize)> {
    let inner = s.strip_prefix("=?")?;
    let (charset, rest) = inner.split_once('?')?;
    let (enc, rest) = rest.split_once('?')?;
    let end = rest.find("?=")?;
    let data = &rest[..end];
    if data.contains(char::is_whitespace) || charset.is_empty() || charset.len() > 64 {
        return None;
    }
    // RFC 2231 language suffix: "charset*lang".
    let label = charset.split('*').next().unwrap_or(charset);
    let bytes = match enc {
        "B" | "b" => base64_decode(data.as_bytes())?,
        "Q" | "q" => {
            let underscored = data.replace('_', " ");
            quoted_printable_decode(underscored.as_bytes())?
        }
        _ => return None,
    };
    let used = 2 + charset.len() + 1 + enc.len() + 1 + end + 2;
    Some((label, bytes, used))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_per_whatwg() {
        // gb2312 is read as GB18030 (the WHATWG table maps it to GBK, a subset).
        let (gb, _, _) = encoding_rs::GB18030.encode("投诉");
        assert_eq!(decode(Some("gb2312"), &gb), "投诉");
        let (kr, _, _) = encoding_rs::EUC_KR.encode("회원님");
        assert_eq!(decode(Some("ks_c_5601-1987"), &kr), "회원님");
        let (sj, _, _) = encoding_rs::SHIFT_JIS.encode("ガーデン");
        assert_eq!(decode(Some("Shift_JIS"), &sj), "ガーデン");
        let (jp, _, _) = encoding_rs::ISO_2022_JP.encode("月刊");
        assert_eq!(decode(Some("ISO-2022-JP"), &jp), "月刊");
        assert_eq!(decode(Some("windows-1250"), b"\x8a"), "Š");
    }

    #[test]
    fn unknown_labels_try_utf8_then_detect() {
        assert_eq!(decode(Some("x-unknown"), "Grüße".as_bytes()), "Grüße");
        let latin = b"Sehr geehrte Damen und Herren, ich m\xf6chte mich \xfcber den Bescheid \
beschweren. Mit freundlichen Gr\xfc\xdfen";
        let text = decode(Some("x-unknown"), latin);
        assert!(text.contains("möchte") && text.contains("Grüßen"), "{text}");
        assert!(decode(None, latin).contains("über"));
    }

    #[test]
    fn header_words_with_unknown_charset() {
        assert_eq!(
            decode_header_words(
                "=?x-unknown?Q?Gr=C3=BC=C3=9Fe?= aus =?unknown?B?RHJlc2Rlbg==?=",
                false
            )
            .as_deref(),
            Some("Grüße aus Dresden")
        );
        assert_eq!(
            decode_header_words("=?x-unknown?Q?a?= =?x-unknown?Q?b?=", false).as_deref(),
            Some("ab")
        );
        // Known charsets stay with mail-parser.
        assert_eq!(decode_header_words("=?utf-8?Q?a?=", false), None);
        assert_eq!(decode_header_words("kein Wort", true), None);
        assert_eq!(decode_header_words("=?kaputt", false), None);
        // "Ва" split inside the second character across two words.
        assert_eq!(
            decode_header_words("=?utf-8?Q?=D0=92=D0?=\r\n =?utf-8?Q?=B0?= x", true).as_deref(),
            Some("Ва x")
        );
    }
}
