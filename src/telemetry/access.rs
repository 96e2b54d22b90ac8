//! The access line: one per request, in the log's format, written by hand.
//!
//! Every other log line goes through tracing-subscriber's formatter. The access line is the
//! one written for every request, and that formatter cost ~14 % of the proxy's user time per
//! request under load (README, Performance): fields visited through `dyn Visit`,
//! `core::fmt` for every number and address, a `SystemTime` turned into a calendar date per
//! line, serde_json for the escaping. Here the fields are typed, numbers go through `itoa`,
//! the date part of the timestamp is made once a second per thread, and strings are escaped
//! in one pass. The line still obeys `RUST_LOG` (target `access`) and has the shape of the
//! other lines, so log tooling sees one format.
//!
//! Privacy: the client is an [`AnonymizedIp`], so a full address cannot be written; what a
//! stranger controls (path, request id) is escaped, so no request can forge a line.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::config::LogFormat;
use crate::privacy::AnonymizedIp;

use super::log;

/// One request, as its access line tells it.
#[derive(Debug)]
pub struct AccessLine<'a> {
    pub request_id: &'a str,
    pub site: &'a str,
    pub client: AnonymizedIp,
    pub method: &'a str,
    pub path: &'a str,
    pub status: u16,
    pub micros: u64,
    pub upstream_micros: Option<u64>,
    /// Why a request failed, when it did (a fixed text of ours, never the visitor's).
    pub note: Option<&'static str>,
}

impl AccessLine<'_> {
    /// Writes the line, unless `RUST_LOG` switched the `access` target off.
    pub fn log(&self) {
        if !tracing::enabled!(target: "access", tracing::Level::INFO) {
            return;
        }
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let format = log::format();
        log::write_line(|out| match format {
            LogFormat::Json => self.json(out, now.as_secs(), now.subsec_micros()),
            LogFormat::Human => self.human(out, now.as_secs(), now.subsec_micros()),
        });
    }

    /// `{"timestamp":…,"level":"INFO",<fields>,"target":"access"}`, as tracing-subscriber's
    /// JSON format with flattened events writes its lines.
    fn json(&self, out: &mut Vec<u8>, secs: u64, micros: u32) {
        out.extend_from_slice(b"{\"timestamp\":\"");
        timestamp(out, secs, micros);
        out.extend_from_slice(b"\",\"level\":\"INFO\"");
        self.fields(out, Style::Json);
        out.extend_from_slice(b",\"target\":\"access\"}\n");
    }

    /// `<timestamp>  INFO access: key=value …`, as tracing-subscriber's default format.
    fn human(&self, out: &mut Vec<u8>, secs: u64, micros: u32) {
        timestamp(out, secs, micros);
        out.extend_from_slice(b"  INFO access:");
        self.fields(out, Style::Human);
        out.push(b'\n');
    }

    fn fields(&self, out: &mut Vec<u8>, style: Style) {
        style.text(out, "request_id", self.request_id, false);
        style.text(out, "site", self.site, true);
        style.address(out, "client", self.client);
        style.text(out, "method", self.method, true);
        style.text(out, "path", self.path, false);
        style.number(out, "status", u64::from(self.status));
        style.number(out, "micros", self.micros);
        if let Some(upstream) = self.upstream_micros {
            style.number(out, "upstream_micros", upstream);
        }
        if let Some(note) = self.note {
            style.text(out, "note", note, false);
        }
    }
}

/// How a field is written: `,"key":"value"` in JSON, ` key=value` in the human format.
#[derive(Debug, Clone, Copy)]
enum Style {
    Json,
    Human,
}

impl Style {
    fn key(self, out: &mut Vec<u8>, key: &str) {
        match self {
            Style::Json => {
                out.extend_from_slice(b",\"");
                out.extend_from_slice(key.as_bytes());
                out.extend_from_slice(b"\":");
            }
            Style::Human => {
                out.push(b' ');
                out.extend_from_slice(key.as_bytes());
                out.push(b'=');
            }
        }
    }

    /// A string; in the human format a plain token may go unquoted (`bare_ok`), as
    /// tracing-subscriber shows names and addresses.
    fn text(self, out: &mut Vec<u8>, key: &str, value: &str, bare_ok: bool) {
        self.key(out, key);
        match self {
            Style::Human if bare_ok => bare(out, value),
            _ => quoted(out, value),
        }
    }

    /// An address: a JSON string, bare in the human format (it is never anything but
    /// digits, dots, colons and hex).
    fn address(self, out: &mut Vec<u8>, key: &str, ip: AnonymizedIp) {
        self.key(out, key);
        match self {
            Style::Json => {
                out.push(b'"');
                address(out, ip);
                out.push(b'"');
            }
            Style::Human => address(out, ip),
        }
    }

    fn number(self, out: &mut Vec<u8>, key: &str, n: u64) {
        self.key(out, key);
        number(out, n);
    }
}

/// A name or a method as it is when it is a plain token (RFC 9110 §5.6.2), as the other
/// human lines show names; quoted and escaped when it is anything else.
fn bare(out: &mut Vec<u8>, text: &str) {
    if !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\' && b != b'=')
    {
        out.extend_from_slice(text.as_bytes());
    } else {
        quoted(out, text);
    }
}

fn number(out: &mut Vec<u8>, n: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

fn address(out: &mut Vec<u8>, ip: AnonymizedIp) {
    match ip.addr() {
        std::net::IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                number(out, u64::from(octet));
            }
        }
        // Rare enough on the hot path that std's formatter (with `::` compression) is fine.
        v6 => {
            use std::io::Write as _;
            let _ = write!(out, "{v6}");
        }
    }
}

/// A JSON string (RFC 8259 §7): quote, backslash and every control character escaped, DEL
/// too, so neither a JSON reader nor a terminal sees a byte the visitor chose to hide.
fn quoted(out: &mut Vec<u8>, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let bytes = text.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f | 0x7f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if escape.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(escape);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

thread_local! {
    /// The date and time of day to the second, made once per second per thread.
    static SECOND: RefCell<(u64, [u8; 19])> = const { RefCell::new((u64::MAX, [0; 19])) };
}

/// RFC 3339 in UTC with microseconds (`2026-12-06T09:25:44.258536Z`), as the other lines.
fn timestamp(out: &mut Vec<u8>, secs: u64, micros: u32) {
    SECOND.with(|second| {
        let mut second = second.borrow_mut();
        if second.0 != secs {
            let text = i64::try_from(secs)
                .ok()
                .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
                .unwrap_or_default()
                .format("%Y-%m-%dT%H:%M:%S")
                .to_string();
            if let Ok(bytes) = <[u8; 19]>::try_from(text.as_bytes()) {
                *second = (secs, bytes);
            }
        }
        out.extend_from_slice(&second.1);
    });
    let mut digits = [b'0'; 6];
    let mut rest = micros.min(999_999);
    for digit in digits.iter_mut().rev() {
        *digit = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    out.push(b'.');
    out.extend_from_slice(&digits);
    out.push(b'Z');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::privacy::IpAnonymizer;

    fn line<'a>(path: &'a str, client: &str) -> AccessLine<'a> {
        AccessLine {
            request_id: "1a8ac0020d4b9144-0",
            site: "voipexpress.nl",
            client: IpAnonymizer::new(24, 48).anonymize(client.parse().expect("ip")),
            method: "GET",
            path,
            status: 200,
            micros: 2814,
            upstream_micros: Some(2626),
            note: None,
        }
    }

    fn json(line: &AccessLine, secs: u64, micros: u32) -> String {
        let mut out = Vec::new();
        line.json(&mut out, secs, micros);
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn a_json_line_reads_back_field_for_field() {
        // 2026-12-06T09:25:44Z
        let text = json(
            &line("/tarieven.html", "203.0.113.77"),
            1_796_549_144,
            7_536,
        );
        assert!(text.ends_with('\n'));
        let value: serde_json::Value = serde_json::from_str(&text).expect("one JSON object");
        assert_eq!(value["timestamp"], "2026-12-06T09:25:44.007536Z");
        assert_eq!(value["level"], "INFO");
        assert_eq!(value["target"], "access");
        assert_eq!(value["request_id"], "1a8ac0020d4b9144-0");
        assert_eq!(value["site"], "voipexpress.nl");
        assert_eq!(
            value["client"], "203.0.113.0",
            "the anonymised address only"
        );
        assert_eq!(value["method"], "GET");
        assert_eq!(value["path"], "/tarieven.html");
        assert_eq!(value["status"], 200);
        assert_eq!(value["micros"], 2814);
        assert_eq!(value["upstream_micros"], 2626);
        assert!(value.get("note").is_none());
        assert!(!text.contains("203.0.113.77"));
    }

    #[test]
    fn what_a_stranger_sends_cannot_break_or_forge_a_line() {
        let forged = "/a\"}\n{\"level\":\"ERROR\"\\\u{1b}[2J\u{7f}\tü";
        let text = json(&line(forged, "2001:db8:1234:5678::1"), 0, 0);
        assert_eq!(text.matches('\n').count(), 1, "one line: {text}");
        assert!(!text.contains('\u{1b}') && !text.contains('\u{7f}'));
        let value: serde_json::Value = serde_json::from_str(&text).expect("still one object");
        assert_eq!(value["path"], forged, "escaped, not lost");
        assert_eq!(value["level"], "INFO");
        assert_eq!(value["client"], "2001:db8:1234::");
        assert_eq!(value["timestamp"], "1970-01-01T00:00:00.000000Z");
    }

    #[test]
    fn a_human_line_quotes_what_a_stranger_sends() {
        let mut request = line("/x y\n", "198.51.100.9");
        request.note = Some("upstream unreachable");
        request.upstream_micros = None;
        request.method = "G\nET";
        let mut out = Vec::new();
        request.human(&mut out, 1_796_549_144, 999_999);
        let text = String::from_utf8(out).expect("utf-8");
        assert_eq!(
            text,
            "2026-12-06T09:25:44.999999Z  INFO access: request_id=\"1a8ac0020d4b9144-0\" \
             site=voipexpress.nl client=198.51.100.0 method=\"G\\nET\" path=\"/x y\\n\" status=200 \
             micros=2814 note=\"upstream unreachable\"\n"
        );
    }

    #[test]
    fn the_second_is_remade_when_it_changes() {
        let a = json(&line("/", "192.0.2.1"), 1_796_549_144, 1);
        let b = json(&line("/", "192.0.2.1"), 1_796_549_145, 1);
        assert!(a.contains("09:25:44.000001Z"), "{a}");
        assert!(b.contains("09:25:45.000001Z"), "{b}");
    }
}
