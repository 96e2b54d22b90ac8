//! Content codings (RFC 9110 §8.4): upstream bodies are decoded so the rewriter sees HTML,
//! and the result is encoded in the best coding the visitor accepts.
//!
//! Why the `Write`-based codecs of flate2, brotli and zstd rather than async-compression:
//! the rewriter is a synchronous push parser fed chunk by chunk inside `poll_frame`, and
//! these streaming writers fit that shape directly, without an extra task or buffer.

mod decode;
mod encode;

pub use decode::{Decoder, STEP};
pub use encode::Encoder;

use http::HeaderValue;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Coding {
    Identity,
    Gzip,
    Deflate,
    Br,
    Zstd,
}

impl Coding {
    /// The coding named by a `Content-Encoding` value; `None` for codings this proxy
    /// cannot decode (such bodies pass through untouched).
    pub fn from_content_encoding(value: Option<&HeaderValue>) -> Option<Coding> {
        let Some(value) = value else {
            return Some(Coding::Identity);
        };
        let value = value.to_str().ok()?.trim();
        match value.to_ascii_lowercase().as_str() {
            "" | "identity" => Some(Coding::Identity),
            "gzip" | "x-gzip" => Some(Coding::Gzip),
            "deflate" => Some(Coding::Deflate),
            "br" => Some(Coding::Br),
            "zstd" => Some(Coding::Zstd),
            _ => None,
        }
    }

    pub fn header_value(self) -> Option<HeaderValue> {
        match self {
            Coding::Identity => None,
            Coding::Gzip => Some(HeaderValue::from_static("gzip")),
            Coding::Deflate => Some(HeaderValue::from_static("deflate")),
            Coding::Br => Some(HeaderValue::from_static("br")),
            Coding::Zstd => Some(HeaderValue::from_static("zstd")),
        }
    }

    /// The best coding the visitor accepts, by `Accept-Encoding` (RFC 9110 §12.5.3):
    /// br, then zstd, then gzip, else identity. A `q=0` refuses a coding; `*` accepts the
    /// ones not named.
    pub fn negotiate(accept: Option<&HeaderValue>) -> Coding {
        let Some(accept) = accept.and_then(|v| v.to_str().ok()) else {
            return Coding::Identity;
        };
        let mut best: Option<(Coding, u16)> = None;
        let mut star: Option<u16> = None;
        let mut named: Vec<Coding> = Vec::with_capacity(4);
        for item in accept.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(parse_q)
                .unwrap_or(1000);
            let coding = match name.as_str() {
                "br" => Coding::Br,
                "zstd" => Coding::Zstd,
                "gzip" | "x-gzip" => Coding::Gzip,
                "*" => {
                    star = Some(q);
                    continue;
                }
                _ => continue,
            };
            named.push(coding);
            consider(&mut best, coding, q);
        }
        if let Some(q) = star {
            for coding in [Coding::Br, Coding::Zstd, Coding::Gzip] {
                if !named.contains(&coding) {
                    consider(&mut best, coding, q);
                }
            }
        }
        best.map_or(Coding::Identity, |(c, _)| c)
    }
}

/// The visitor's `Accept-Encoding` limited to codings the rewriter decodes, so an HTML
/// response can always be rewritten and any other response still suits the visitor.
pub fn upstream_accept_encoding(visitor: Option<&HeaderValue>) -> HeaderValue {
    let Some(text) = visitor.and_then(|v| v.to_str().ok()) else {
        return HeaderValue::from_static("identity");
    };
    let kept: Vec<&str> = text
        .split(',')
        .map(str::trim)
        .filter(|item| {
            let name = item
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            matches!(
                name.as_str(),
                "gzip" | "x-gzip" | "deflate" | "br" | "zstd" | "identity"
            )
        })
        .collect();
    if kept.is_empty() {
        return HeaderValue::from_static("identity");
    }
    HeaderValue::from_str(&kept.join(", ")).unwrap_or(HeaderValue::from_static("identity"))
}

fn preference(coding: Coding) -> u8 {
    match coding {
        Coding::Br => 3,
        Coding::Zstd => 2,
        Coding::Gzip => 1,
        _ => 0,
    }
}

fn consider(best: &mut Option<(Coding, u16)>, coding: Coding, q: u16) {
    if q == 0 {
        return;
    }
    let better = match best {
        None => true,
        Some((b, bq)) => q > *bq || (q == *bq && preference(coding) > preference(*b)),
    };
    if better {
        *best = Some((coding, q));
    }
}

/// `q` values in thousandths (`0.5` → 500).
/// An RFC 9110 §12.4.2 q-value in thousandths; `None` when malformed.
pub fn parse_q(text: &str) -> Option<u16> {
    let q: f32 = text.trim().parse().ok()?;
    (0.0..=1.0)
        .contains(&q)
        .then(|| (q * 1000.0).round() as u16)
}

#[cfg(test)]
mod tests {
    use std::io::{self, Write};

    use bytes::Bytes;

    use super::*;

    /// Decodes `chunks` step by step; also returns the largest single step.
    fn decode_steps(coding: Coding, chunks: &[&[u8]]) -> io::Result<(Vec<u8>, usize)> {
        let mut dec = Decoder::new(coding, 100)?;
        let mut plain = Vec::new();
        let mut largest = 0;
        for chunk in chunks {
            dec.push(Bytes::copy_from_slice(chunk));
            while !dec.needs_input() {
                let step = dec.step()?;
                largest = largest.max(step.len());
                plain.extend(step);
            }
        }
        dec.finish()?;
        Ok((plain, largest))
    }

    fn decode_all(coding: Coding, chunks: &[&[u8]]) -> io::Result<Vec<u8>> {
        decode_steps(coding, chunks).map(|(plain, _)| plain)
    }

    fn compress(coding: Coding, data: &[u8]) -> Vec<u8> {
        let mut enc = Encoder::new(coding).expect("encoder");
        let mut out = enc.encode(data.to_vec()).expect("encode").to_vec();
        out.extend_from_slice(&enc.finish().expect("finish"));
        out
    }

    #[test]
    fn bombs_are_decoded_in_bounded_steps_and_stopped() {
        // 64 MiB of one byte: each codec compresses it to a few KB or less.
        let zeros = vec![b'a'; 64 * 1024 * 1024];
        for coding in [Coding::Gzip, Coding::Br, Coding::Zstd] {
            // An attacker compresses as hard as the format allows (the proxy's own gzip
            // runs at nginx's level 1, which leaves a long run far larger).
            let bomb = match coding {
                Coding::Gzip => {
                    use std::io::Write;
                    let mut gz =
                        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
                    gz.write_all(&zeros).expect("write");
                    gz.finish().expect("finish")
                }
                _ => compress(coding, &zeros),
            };
            assert!(bomb.len() < 200_000, "{coding:?}: {}", bomb.len());
            let mut dec = Decoder::new(coding, 100).expect("decoder");
            dec.push(Bytes::from(bomb));
            let mut total = 0usize;
            let err = loop {
                match dec.step() {
                    Ok(step) => {
                        assert!(step.len() <= STEP, "{coding:?}: a step of {}", step.len());
                        total += step.len();
                        assert!(!dec.needs_input(), "{coding:?}: ended without stopping");
                    }
                    Err(e) => break e,
                }
            };
            assert!(
                err.to_string().contains("decompression bomb"),
                "{coding:?}: {err}"
            );
            assert!(
                total < 64 * 1024 * 1024,
                "{coding:?}: stopped early: {total}"
            );
        }
    }

    #[test]
    fn gzip_members_and_headers_with_names_decode() {
        let mut data = Vec::new();
        for part in ["<p>een</p>", "<p>twee</p>"] {
            let mut gz = flate2::GzBuilder::new()
                .filename("pagina.html")
                .comment("test")
                .write(Vec::new(), flate2::Compression::default());
            gz.write_all(part.as_bytes()).expect("write");
            data.extend(gz.finish().expect("finish"));
        }
        // Split at every offset: headers and trailers cut anywhere still decode.
        for at in 0..data.len() {
            let (a, b) = data.split_at(at);
            assert_eq!(
                decode_all(Coding::Gzip, &[a, b]).expect("decodes"),
                b"<p>een</p><p>twee</p>",
                "split at {at}"
            );
        }
        let mut bad = data.clone();
        let last = bad.len() - 6;
        bad[last] ^= 0xff;
        assert!(decode_all(Coding::Gzip, &[&bad]).is_err(), "checksum");
    }

    fn negotiate(v: &str) -> Coding {
        Coding::negotiate(Some(&HeaderValue::from_str(v).expect("value")))
    }

    #[test]
    fn negotiation_prefers_br_then_zstd_then_gzip() {
        assert_eq!(negotiate("gzip, deflate, br, zstd"), Coding::Br);
        assert_eq!(negotiate("gzip, zstd"), Coding::Zstd);
        assert_eq!(negotiate("gzip"), Coding::Gzip);
        assert_eq!(negotiate("br;q=0, gzip;q=0.5"), Coding::Gzip);
        assert_eq!(negotiate("gzip;q=1, br;q=0.2"), Coding::Gzip);
        assert_eq!(negotiate("identity"), Coding::Identity);
        assert_eq!(negotiate("*"), Coding::Br);
        assert_eq!(negotiate("*, br;q=0"), Coding::Zstd);
        assert_eq!(Coding::negotiate(None), Coding::Identity);
    }

    #[test]
    fn deflate_means_zlib_and_decodes() {
        // RFC 9110 §8.4.1.2: "deflate" is the zlib format.
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        z.write_all(b"<p>hallo</p>").expect("write");
        let compressed = z.finish().expect("finish");
        assert_eq!(
            decode_all(Coding::Deflate, &[&compressed]).expect("decodes"),
            b"<p>hallo</p>"
        );
    }

    #[test]
    fn truncated_gzip_is_an_error() {
        let mut enc = Encoder::new(Coding::Gzip).expect("encoder");
        let mut data = enc
            .encode(b"<p>hallo</p>".to_vec())
            .expect("encode")
            .to_vec();
        data.extend_from_slice(&enc.finish().expect("finish"));
        data.truncate(data.len() - 4);
        assert!(decode_all(Coding::Gzip, &[&data]).is_err());
    }

    #[test]
    fn upstream_is_offered_only_decodable_codings() {
        let v = |s: &'static str| upstream_accept_encoding(Some(&HeaderValue::from_static(s)));
        assert_eq!(v("gzip, deflate, br, zstd"), "gzip, deflate, br, zstd");
        assert_eq!(v("gzip, compress, sdch"), "gzip");
        assert_eq!(v("compress"), "identity");
        assert_eq!(upstream_accept_encoding(None), "identity");
    }

    #[test]
    fn every_coding_round_trips_in_small_chunks() {
        let page: Vec<u8> = (0..20_000u32)
            .flat_map(|i| format!("<p>regel {i}</p>").into_bytes())
            .collect();
        for coding in [Coding::Identity, Coding::Gzip, Coding::Br, Coding::Zstd] {
            let mut enc = Encoder::new(coding).expect("encoder");
            let mut compressed = Vec::new();
            for chunk in page.chunks(1000) {
                compressed.extend_from_slice(&enc.encode(chunk.to_vec()).expect("encode"));
            }
            compressed.extend_from_slice(&enc.finish().expect("finish"));
            let chunks: Vec<&[u8]> = compressed.chunks(777).collect();
            let plain = decode_all(coding, &chunks).expect("decodes");
            assert_eq!(plain, page, "{coding:?}");
        }
    }
}
