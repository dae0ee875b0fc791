//! The receiving server's spam verdict in the top header block (`X-Spam-Flag: YES` and the
//! like, `[intake] spam_headers`). A sender can write such headers too; with a trusted host
//! (`[intake] trusted_received_by`) only those above the first `Received:` line that host wrote
//! count — headers added on the way in stand above it, forged ones below. Pure; reads only the
//! header block.

use super::hash::{raw_header_fields, strip_mbox_from_line};

/// The headers that mark spam, and whose `Received:` line vouches for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpamPolicy {
    /// (lower-case field name, value prefix) pairs, from `Name: value` strings.
    markers: Vec<(String, String)>,
    /// Host name in `Received: … by HOST`, lower case.
    trusted_received_by: Option<String>,
}

/// The default of `[intake] spam_headers`.
pub const DEFAULT_SPAM_HEADERS: &[&str] = &[
    "X-Spam-Flag: YES",
    "X-Spam-Status: Yes",
    "X-DSPAM-Result: Spam",
];

impl Default for SpamPolicy {
    fn default() -> Self {
        let markers: Vec<String> = DEFAULT_SPAM_HEADERS.iter().map(|s| s.to_string()).collect();
        // The defaults are well-formed.
        SpamPolicy::new(&markers, None).unwrap_or(SpamPolicy {
            markers: Vec::new(),
            trusted_received_by: None,
        })
    }
}

impl SpamPolicy {
    /// `markers` as written in the configuration (`Name: value`); Err names the bad entry.
    pub fn new(markers: &[String], trusted_received_by: Option<&str>) -> Result<Self, String> {
        let mut out = Vec::new();
        for m in markers {
            let (name, value) = m
                .split_once(':')
                .ok_or_else(|| format!("{m:?}: erwartet „Kopfzeile: Wert“"))?;
            let (name, value) = (name.trim(), value.trim());
            if name.is_empty()
                || value.is_empty()
                || !name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
            {
                return Err(format!("{m:?}: erwartet „Kopfzeile: Wert“"));
            }
            out.push((name.to_ascii_lowercase(), value.to_lowercase()));
        }
        Ok(SpamPolicy {
            markers: out,
            trusted_received_by: trusted_received_by
                .map(|h| h.trim().trim_end_matches('.').to_ascii_lowercase())
                .filter(|h| !h.is_empty()),
        })
    }

    /// The matching header (`Name: value` as configured) when the mail carries the verdict.
    pub fn verdict(&self, raw: &[u8]) -> Option<String> {
        if self.markers.is_empty() {
            return None;
        }
        let mut found: Option<String> = None;
        for (name, value) in raw_header_fields(strip_mbox_from_line(raw)) {
            let lname = name.to_ascii_lowercase();
            if lname == "received" {
                if let Some(host) = &self.trusted_received_by {
                    if received_by(&value).is_some_and(|b| b == *host) {
                        // Only what stands above the trusted server's own line counts.
                        return found;
                    }
                }
                continue;
            }
            if found.is_some() {
                continue;
            }
            let v = value.trim().to_lowercase();
            if let Some((_, prefix)) = self.markers.iter().find(|(n, p)| {
                *n == lname
                    && v.strip_prefix(p.as_str())
                        .is_some_and(|rest| !rest.starts_with(|c: char| c.is_alphanumeric()))
            }) {
                found = Some(format!("{name}: {}", value_head(&value, prefix)));
            }
        }
        // With a trusted host, a verdict counts only above its line; no such line: none.
        if self.trusted_received_by.is_some() {
            None
        } else {
            found
        }
    }
}

/// The start of the value, as long as the configured prefix (no score details).
fn value_head(value: &str, prefix: &str) -> String {
    value.trim().chars().take(prefix.chars().count()).collect()
}

/// `by HOST` of a Received value, lower case.
fn received_by(value: &str) -> Option<String> {
    let mut words = value.split_whitespace();
    while let Some(w) = words.next() {
        if w.eq_ignore_ascii_case("by") {
            return words.next().map(|h| {
                h.trim_end_matches([';', ',', '.'])
                    .trim_matches(['(', ')'])
                    .to_ascii_lowercase()
            });
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(trusted: Option<&str>) -> SpamPolicy {
        let m: Vec<String> = DEFAULT_SPAM_HEADERS.iter().map(|s| s.to_string()).collect();
        SpamPolicy::new(&m, trusted).unwrap()
    }

    #[test]
    fn default_markers() {
        let p = SpamPolicy::default();
        assert_eq!(
            p.verdict(b"X-Spam-Flag: YES\nFrom: a@b.test\n\nText")
                .as_deref(),
            Some("X-Spam-Flag: YES")
        );
        assert_eq!(
            p.verdict(b"From: a@b.test\nX-Spam-Status: Yes, score=9.1 required=5.0\n\nText")
                .as_deref(),
            Some("X-Spam-Status: Yes")
        );
        assert!(p.verdict(b"x-dspam-result: spam\n\n").is_some());
        assert!(p
            .verdict(b"X-Spam-Status: No, hits=-2.6 required=7.0\n\tversion=2.55\n\n")
            .is_none());
        assert!(p.verdict(b"X-Spam-Flag: NO\n\n").is_none());
        assert!(p.verdict(b"X-Spam-Flag: YESTERDAY\n\n").is_none());
        // Only the header block counts.
        assert!(p.verdict(b"From: a@b.test\n\nX-Spam-Flag: YES\n").is_none());
    }

    #[test]
    fn trusted_host_vouches_only_for_headers_above_its_line() {
        let p = policy(Some("mx.jobcenter.test"));
        let ours = b"X-Spam-Flag: YES\nReceived: from relay.post.test by mx.jobcenter.test (Postfix) with ESMTP; Mon, 2 Feb 2026\nReceived: from pc by relay.post.test; Mon, 2 Feb 2026\nFrom: a@post.test\n\nText";
        assert_eq!(p.verdict(ours).as_deref(), Some("X-Spam-Flag: YES"));
        let forged = b"Received: from relay.post.test\n by mx.jobcenter.test (Postfix); Mon, 2 Feb 2026\nX-Spam-Flag: YES\nFrom: a@post.test\n\nText";
        assert_eq!(p.verdict(forged), None);
        // The trusted server never saw it: nothing counts.
        assert_eq!(
            p.verdict(b"X-Spam-Flag: YES\nReceived: from x by other.test\n\n"),
            None
        );
        // Without a trusted host any marker counts.
        assert!(policy(None).verdict(forged).is_some());
    }

    #[test]
    fn configured_markers_are_checked() {
        assert!(SpamPolicy::new(&["X-Spam".into()], None).is_err());
        assert!(SpamPolicy::new(&["X-Spam: ".into()], None).is_err());
        let p = SpamPolicy::new(&["X-Rspamd-Action: reject".into()], None).unwrap();
        assert!(p.verdict(b"X-Rspamd-Action: Reject\n\n").is_some());
        assert!(p.verdict(b"X-Spam-Flag: YES\n\n").is_none());
        assert!(SpamPolicy::new(&[], None)
            .unwrap()
            .verdict(b"X-Spam-Flag: YES\n\n")
            .is_none());
    }
}
