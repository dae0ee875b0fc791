//! Content hash for dedupe: the same mail delivered twice (other route, other mailbox, CRLF vs LF,
//! with or without an mbox `From ` line) hashes the same; any change by the author does not.

use sha2::{Digest, Sha256};

/// Header fields added in transit to us or by mail stores; removed from the top header block only.
/// DKIM signatures stay: they are set by the sender's side.
const TRACE_FIELDS: &[&str] = &[
    "received",
    "return-path",
    "delivered-to",
    "x-original-to",
    "authentication-results",
    "received-spf",
    "x-received",
    "x-delivered-to",
    "envelope-to",
    "delivery-date",
    "x-envelope-from",
    "x-envelope-to",
    // mbox and mail-store artefacts
    "status",
    "x-status",
    "x-keywords",
    "x-uid",
    "content-length",
    "x-mozilla-status",
    "x-mozilla-status2",
    "x-mozilla-keys",
];

const TRACE_PREFIXES: &[&str] = &["arc-", "x-spam-", "x-virus-"];

fn is_trace_field(name: &[u8]) -> bool {
    let name = name.trim_ascii();
    TRACE_FIELDS
        .iter()
        .any(|t| name.eq_ignore_ascii_case(t.as_bytes()))
        || TRACE_PREFIXES
            .iter()
            .any(|p| name.len() >= p.len() && name[..p.len()].eq_ignore_ascii_case(p.as_bytes()))
}

/// Skips a leading mbox separator line (`From sender date`), if there is one.
pub fn strip_mbox_from_line(raw: &[u8]) -> &[u8] {
    if !raw.starts_with(b"From ") {
        return raw;
    }
    match raw.iter().position(|&b| b == b'\n') {
        Some(nl) => &raw[nl + 1..],
        None => &[],
    }
}

/// Hex SHA-256 over the mail with trace fields removed from the top header block (folded
/// continuation lines go with their field), CRLF normalised to LF, a leading mbox line skipped,
/// and trailing line breaks ignored (SMTP clients and stores add or drop a final CRLF).
pub fn content_hash(raw: &[u8]) -> String {
    let raw = hashed_part(raw);
    let mut hasher = Sha256::new();
    let body = hash_header_block(&mut hasher, raw);
    hash_crlf_as_lf(&mut hasher, body);
    hex::encode(hasher.finalize())
}

/// What the hash covers: the mail without a leading mbox line and without trailing line breaks.
fn hashed_part(raw: &[u8]) -> &[u8] {
    let raw = strip_mbox_from_line(raw);
    let end = raw
        .iter()
        .rposition(|&b| b != b'\n' && b != b'\r')
        .map_or(0, |p| p + 1);
    &raw[..end]
}

/// Hashes the top header block line by line, each line without its CR and followed by LF,
/// leaving out trace fields with their continuation lines; the blank line ending the block is
/// hashed too. Returns what follows the blank line (empty when there is none).
fn hash_header_block<'r>(hasher: &mut Sha256, raw: &'r [u8]) -> &'r [u8] {
    let mut rest = raw;
    let mut skipping = false;
    loop {
        let nl = memchr::memchr(b'\n', rest);
        let line = &rest[..nl.unwrap_or(rest.len())];
        let content = line.strip_suffix(b"\r").unwrap_or(line);
        let blank = content.is_empty();
        if !blank {
            let continuation = content.starts_with(b" ") || content.starts_with(b"\t");
            if !continuation {
                skipping = content
                    .iter()
                    .position(|&b| b == b':')
                    .is_some_and(|colon| is_trace_field(&content[..colon]));
            }
        }
        if !skipping || blank {
            hasher.update(content);
        }
        let Some(nl) = nl else {
            return &[];
        };
        if !skipping || blank {
            hasher.update(b"\n");
        }
        rest = &rest[nl + 1..];
        if blank {
            return rest;
        }
    }
}

/// Hashes `body` with every CRLF as LF, in large pieces: a mail's body (mostly base64 lines of
/// 78 octets) is the bulk of what intake hashes.
fn hash_crlf_as_lf(hasher: &mut Sha256, body: &[u8]) {
    // Short pieces (the lines) are gathered, long ones hashed where they lie.
    let mut buf = Vec::new();
    let mut start = 0;
    for cr in memchr::memchr_iter(b'\r', body) {
        if body.get(cr + 1) != Some(&b'\n') {
            continue;
        }
        let piece = &body[start..cr];
        start = cr + 1;
        if buf.len() + piece.len() > CHUNK {
            hasher.update(&buf);
            buf.clear();
        }
        if piece.len() >= CHUNK {
            hasher.update(piece);
        } else {
            if buf.capacity() == 0 {
                buf.reserve_exact(CHUNK);
            }
            buf.extend_from_slice(piece);
        }
    }
    hasher.update(&buf);
    hasher.update(&body[start..]);
}

/// Bytes gathered before they are hashed, see [`hash_crlf_as_lf`].
const CHUNK: usize = 64 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    const MAIL: &str = "From: Anna Beispiel <anna@beispiel.test>\n\
To: ombudsstelle@jobcenter.test\n\
Subject: Beschwerde\n\
Message-ID: <m1@beispiel.test>\n\
DKIM-Signature: v=1; a=rsa-sha256; d=beispiel.test;\n\
\tb=abc\n\
\n\
Sehr geehrte Damen und Herren,\n\
mein Antrag ist verschwunden.\n";

    fn delivered(route: &str, via: &str) -> String {
        format!(
            "Return-Path: <anna@beispiel.test>\nDelivered-To: {route}@jobcenter.test\n\
Received: from {via}.beispiel.test (HELO {via})\n\tby mx.jobcenter.test with ESMTPS id {via}\n\t\
for <{route}@jobcenter.test>; Mon, 2 Feb 2026 10:00:00 +0100\n\
X-Spam-Status: No, score=-1.0\n\tautolearn=ham\nARC-Seal: i=1; a=rsa-sha256; cv=none\n\
Authentication-Results: mx.jobcenter.test; dkim=pass\n{MAIL}"
        )
    }

    #[test]
    fn same_mail_via_two_routes_hashes_the_same() {
        let a = delivered("ombudsstelle", "mail1");
        let b = delivered("poststelle", "relay7");
        assert_ne!(a, b);
        assert_eq!(content_hash(a.as_bytes()), content_hash(b.as_bytes()));
        assert_eq!(content_hash(a.as_bytes()), content_hash(MAIL.as_bytes()));
    }

    #[test]
    fn crlf_and_mbox_line_do_not_matter() {
        let crlf = MAIL.replace('\n', "\r\n");
        let mbox = format!("From anna@beispiel.test Mon Feb  2 10:00:00 2026\n{MAIL}");
        let h = content_hash(MAIL.as_bytes());
        assert_eq!(content_hash(crlf.as_bytes()), h);
        assert_eq!(content_hash(mbox.as_bytes()), h);
    }

    #[test]
    fn one_changed_body_byte_changes_the_hash() {
        let changed = MAIL.replace("verschwunden", "verschwundem");
        assert_ne!(
            content_hash(changed.as_bytes()),
            content_hash(MAIL.as_bytes())
        );
    }

    #[test]
    fn dkim_and_body_trace_look_alikes_are_kept() {
        let without_dkim = MAIL.replace(
            "DKIM-Signature: v=1; a=rsa-sha256; d=beispiel.test;\n\tb=abc\n",
            "",
        );
        assert_ne!(
            content_hash(without_dkim.as_bytes()),
            content_hash(MAIL.as_bytes())
        );
        let body_received = format!("{MAIL}Received: from somewhere\n");
        assert_ne!(
            content_hash(body_received.as_bytes()),
            content_hash(MAIL.as_bytes())
        );
    }

    #[test]
    fn mbox_line_stripping() {
        assert_eq!(strip_mbox_from_line(b"From x y\nA: b\n"), b"A: b\n");
        assert_eq!(strip_mbox_from_line(b"From: x\n"), b"From: x\n");
        assert_eq!(strip_mbox_from_line(b"From x"), b"");
        assert_eq!(strip_mbox_from_line(b""), b"");
    }

    /// The definition, line by line, as it was written first: the fast path must agree.
    fn reference_hash(raw: &[u8]) -> String {
        let raw = hashed_part(raw);
        let mut hasher = Sha256::new();
        let mut in_headers = true;
        let mut skipping = false;
        let mut lines = raw.split(|&b| b == b'\n').peekable();
        while let Some(line) = lines.next() {
            let is_last = lines.peek().is_none();
            let content = line.strip_suffix(b"\r").unwrap_or(line);
            if in_headers {
                if content.is_empty() {
                    in_headers = false;
                } else if content.starts_with(b" ") || content.starts_with(b"\t") {
                    if skipping {
                        continue;
                    }
                } else {
                    skipping = content
                        .iter()
                        .position(|&b| b == b':')
                        .is_some_and(|colon| is_trace_field(&content[..colon]));
                    if skipping {
                        continue;
                    }
                }
            }
            hasher.update(content);
            if !is_last {
                hasher.update(b"\n");
            }
        }
        hex::encode(hasher.finalize())
    }

    #[test]
    fn fast_path_agrees_with_the_definition_on_known_mails() {
        let long_body = format!("{MAIL}{}", "QUJD\r\n\r\r\n\rx\n".repeat(20_000));
        let long_lines = format!(
            "{MAIL}a\r\n{}\r\n{}\r\nb\r\n{}",
            "y".repeat(CHUNK),
            "z".repeat(2 * CHUNK + 3),
            "w".repeat(CHUNK - 1)
        );
        for m in [
            MAIL.to_string(),
            MAIL.replace('\n', "\r\n"),
            delivered("ombudsstelle", "mail1"),
            delivered("a", "b").replace('\n', "\r\n"),
            long_body.clone(),
            long_body.replace('\n', "\r\n"),
            long_lines.clone(),
            long_lines.replace("\r\n", "\n"),
            "Received: x\r\n\tfolded\r\n".to_string(),
            "A: b\r\n\r\n".to_string(),
            "\r\n\r\nbody".to_string(),
            String::new(),
        ] {
            assert_eq!(
                content_hash(m.as_bytes()),
                reference_hash(m.as_bytes()),
                "{m:.60?}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn fast_path_agrees_with_the_definition(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "\r", "\n", "\r\n", " ", "\t", ":", "From ", "Received: x", "X-Spam-Flag: y",
                    "Subject: s", "DKIM-Signature: d", "abc", "QUJD",
                ]),
                0..80,
            )
        ) {
            let m: String = parts.concat();
            proptest::prop_assert_eq!(content_hash(m.as_bytes()), reference_hash(m.as_bytes()));
        }
    }

    #[test]
    fn hash_is_hex_sha256() {
        let h = content_hash(b"");
        assert_eq!(h.len(), 64);
        assert!(h.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}

/// The Message-ID of a mail that may not parse at all: a cheap scan of the top header block
/// (first 64 KiB), for finding a quarantined mail again. With angle brackets, or None.
pub fn raw_message_id(raw: &[u8]) -> Option<String> {
    let raw = strip_mbox_from_line(raw);
    let head = &raw[..raw.len().min(64 * 1024)];
    let (_, v) = raw_header_fields(head)
        .into_iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("message-id"))?;
    let start = v.find('<')?;
    let end = v[start..].find('>')? + start;
    let id: String = v[start..=end]
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .collect();
    (id.len() > 2).then_some(id)
}

/// The top header block's fields of a mail that need not parse (name, unfolded value), in
/// order; stops at the blank line. For cheap scans that must not depend on the full parser.
pub fn raw_header_fields(raw: &[u8]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in raw.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let text = String::from_utf8_lossy(line);
        if line[0] == b' ' || line[0] == b'\t' {
            if let Some((_, v)) = out.last_mut() {
                v.push(' ');
                v.push_str(text.trim());
            }
            continue;
        }
        if let Some((n, v)) = text.split_once(':') {
            out.push((n.trim().to_string(), v.trim().to_string()));
        }
    }
    out
}

#[cfg(test)]
mod trailing_tests {
    #[test]
    fn a_final_line_break_added_in_transit_does_not_change_the_hash() {
        let a = super::content_hash(b"From: a@b.test\r\n\r\nText\r\n");
        assert_eq!(
            a,
            super::content_hash(b"From: a@b.test\r\n\r\nText\r\n\r\n")
        );
        assert_eq!(a, super::content_hash(b"From: a@b.test\n\nText"));
        assert_ne!(a, super::content_hash(b"From: a@b.test\r\n\r\nText.\r\n"));
    }
}

#[cfg(test)]
mod raw_id_tests {
    use super::raw_message_id;

    #[test]
    fn finds_the_id_even_when_folded_or_broken() {
        assert_eq!(
            raw_message_id(b"From: a@b.test\r\nMessage-ID:\r\n <x.1@b.test>\r\n\r\nbody")
                .as_deref(),
            Some("<x.1@b.test>")
        );
        assert_eq!(
            raw_message_id(b"Subject: x\n\nMessage-ID: <no@b.test>\n"),
            None
        );
        assert_eq!(raw_message_id(b"\x00\xff garbage"), None);
    }
}
