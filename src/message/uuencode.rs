//! uuencoded files: parts with `Content-Transfer-Encoding: x-uuencode` and blocks
//! `begin 644 name` … `end` inside a text body (Lotus Notes, old Outlook). Both become
//! attachments; a block is cut out of the text it sat in.

/// One decoded block: the file name of its `begin` line and the bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Block {
    pub name: Option<String>,
    pub content: Vec<u8>,
}

/// Whether a Content-Transfer-Encoding names uuencode.
pub(super) fn is_uuencode_cte(cte: &str) -> bool {
    matches!(
        cte.trim().to_ascii_lowercase().as_str(),
        "x-uuencode" | "uuencode" | "x-uue" | "uue"
    )
}

/// `begin MODE NAME` → the name (None when empty); None when the line is no begin line.
fn begin_line(line: &str) -> Option<Option<String>> {
    let rest = line.strip_prefix("begin ")?;
    let (mode, name) = rest.split_once(' ').unwrap_or((rest, ""));
    if !(3..=4).contains(&mode.len()) || !mode.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    let name = name.trim();
    Some((!name.is_empty()).then(|| name.to_string()))
}

/// Decodes one data line; None when it is not valid uuencode.
fn decode_line(line: &[u8], out: &mut Vec<u8>) -> Option<()> {
    let (&first, data) = line.split_first()?;
    let len = usize::from(first.wrapping_sub(b' ') & 0x3f);
    if len == 0 {
        return Some(());
    }
    let val = |c: u8| -> Option<u32> {
        (b' '..=b'`')
            .contains(&c)
            .then(|| u32::from(c.wrapping_sub(b' ') & 0x3f))
    };
    let mut produced = 0;
    for chunk in data.chunks(4) {
        if produced >= len {
            break;
        }
        let mut n: u32 = 0;
        for i in 0..4 {
            // Some encoders drop trailing pad characters; missing ones count as zero.
            n = (n << 6) | chunk.get(i).map_or(Some(0), |&c| val(c))?;
        }
        for shift in [16, 8, 0] {
            if produced < len {
                out.push((n >> shift) as u8);
                produced += 1;
            }
        }
    }
    (produced == len).then_some(())
}

/// Decodes the block starting at `lines[0]` (a begin line); with the number of lines used
/// (through `end`). None when the block is malformed or has no `end`.
fn decode_block(lines: &[&str], name: Option<String>) -> Option<(Block, usize)> {
    let mut content = Vec::new();
    for (i, line) in lines.iter().enumerate().skip(1) {
        let line = line.trim_end_matches('\r');
        if line == "end" {
            return Some((Block { name, content }, i + 1));
        }
        decode_line(line.trim_end().as_bytes(), &mut content)
            .or_else(|| line.is_empty().then_some(()))?;
    }
    None
}

/// A whole uuencoded part body (text around the block, such as a preamble, is ignored).
pub(super) fn decode_part(body: &[u8]) -> Option<Block> {
    let text = String::from_utf8_lossy(body);
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| begin_line(l.trim_end_matches('\r')).is_some())?;
    let name = begin_line(lines[start].trim_end_matches('\r')).flatten();
    decode_block(&lines[start..], name).map(|(b, _)| b)
}

/// Cuts the uuencoded blocks out of `text`; the text without them and the blocks. Cheap when
/// there is none (one substring search).
pub(super) fn extract(text: &str) -> Option<(String, Vec<Block>)> {
    if !(text.starts_with("begin ") || text.contains("\nbegin ")) {
        return None;
    }
    let lines: Vec<&str> = text.split('\n').collect();
    let mut kept: Vec<&str> = Vec::with_capacity(lines.len());
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if let Some(name) = begin_line(lines[i].trim_end_matches('\r')) {
            if let Some((block, used)) = decode_block(&lines[i..], name) {
                blocks.push(block);
                i += used;
                continue;
            }
        }
        kept.push(lines[i]);
        i += 1;
    }
    (!blocks.is_empty()).then(|| (kept.join("\n"), blocks))
}

#[cfg(test)]
mod tests {
    use super::*;

    // "Hallo Welt!\n" uuencoded.
    const BLOCK: &str = "begin 644 gruss.txt\n,2&%L;&\\@5V5L=\"$*\n`\nend\n";

    #[test]
    fn decodes_a_block_and_cuts_it_out() {
        let text = format!("Guten Tag,\nanbei die Datei.\n\n{BLOCK}\nGrüße\n");
        let (rest, blocks) = extract(&text).unwrap();
        assert_eq!(blocks.len(), 1);
        assert_eq!(blocks[0].name.as_deref(), Some("gruss.txt"));
        assert_eq!(blocks[0].content, b"Hallo Welt!\n");
        assert!(rest.contains("anbei die Datei.") && rest.contains("Grüße"));
        assert!(!rest.contains("begin 644") && !rest.contains("end\n\n"));
    }

    #[test]
    fn text_that_only_looks_like_one_stays() {
        assert!(extract("Wir begin 644 nicht").is_none());
        assert!(extract("begin 644 x.txt\nkein Ende").is_none());
        assert!(extract("begin morgen um 9\nend").is_none());
        assert!(extract("Nur Text").is_none());
    }

    #[test]
    fn whole_part() {
        let b = decode_part(format!("\n{BLOCK}").as_bytes()).unwrap();
        assert_eq!(b.content, b"Hallo Welt!\n");
        assert!(is_uuencode_cte(" X-UUencode "));
        assert!(!is_uuencode_cte("base64"));
    }
}
