//! Content codings (RFC 9110 §8.4): upstream bodies are decoded so the rewriter sees HTML,
//! and the result is encoded in the best coding the visitor accepts.
//!
//! Why the `Write`-based codecs of flate2, brotli and zstd rather than async-compression:
//! the rewriter is a synchronous push parser fed chunk by chunk inside `poll_frame`, and
//! these streaming writers fit that shape directly, without an extra task or buffer.

use std::io::{self, Write};

use bytes::Bytes;
use http::HeaderValue;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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

/// A streaming decoder: push compressed bytes, take what has been decoded so far.
pub enum Decoder {
    Identity(Vec<u8>),
    Gzip(flate2::write::MultiGzDecoder<Vec<u8>>),
    Deflate(flate2::write::ZlibDecoder<Vec<u8>>),
    Br(Box<brotli::DecompressorWriter<Vec<u8>>>),
    Zstd(zstd::stream::write::Decoder<'static, Vec<u8>>),
}

impl Decoder {
    pub fn new(coding: Coding) -> io::Result<Decoder> {
        Ok(match coding {
            Coding::Identity => Decoder::Identity(Vec::new()),
            Coding::Gzip => Decoder::Gzip(flate2::write::MultiGzDecoder::new(Vec::new())),
            Coding::Deflate => Decoder::Deflate(flate2::write::ZlibDecoder::new(Vec::new())),
            Coding::Br => Decoder::Br(Box::new(brotli::DecompressorWriter::new(
                Vec::new(),
                16 * 1024,
            ))),
            Coding::Zstd => Decoder::Zstd(zstd::stream::write::Decoder::new(Vec::new())?),
        })
    }

    pub fn is_identity(&self) -> bool {
        matches!(self, Decoder::Identity(_))
    }

    pub fn write(&mut self, input: &[u8]) -> io::Result<()> {
        match self {
            Decoder::Identity(out) => {
                out.extend_from_slice(input);
                Ok(())
            }
            Decoder::Gzip(d) => d.write_all(input),
            Decoder::Deflate(d) => d.write_all(input),
            Decoder::Br(d) => d.write_all(input),
            Decoder::Zstd(d) => d.write_all(input),
        }
    }

    /// Ends the stream; a truncated body is an error.
    pub fn finish(&mut self) -> io::Result<()> {
        match self {
            Decoder::Identity(_) => Ok(()),
            Decoder::Gzip(d) => d.try_finish(),
            Decoder::Deflate(d) => d.try_finish(),
            Decoder::Br(d) => d.flush(),
            Decoder::Zstd(d) => d.flush(),
        }
    }

    /// Decoded bytes so far.
    pub fn take(&mut self) -> Vec<u8> {
        std::mem::take(match self {
            Decoder::Identity(out) => out,
            Decoder::Gzip(d) => d.get_mut(),
            Decoder::Deflate(d) => d.get_mut(),
            Decoder::Br(d) => d.get_mut(),
            Decoder::Zstd(d) => d.get_mut(),
        })
    }
}

/// A streaming encoder: push bytes, take what is ready (flushed per chunk so the visitor
/// receives the page as it streams).
pub enum Encoder {
    Identity(Vec<u8>),
    Gzip(Option<flate2::write::GzEncoder<Vec<u8>>>),
    Br(Option<Box<brotli::CompressorWriter<Vec<u8>>>>),
    Zstd(Option<zstd::stream::write::Encoder<'static, Vec<u8>>>),
}

impl Encoder {
    pub fn new(coding: Coding) -> io::Result<Encoder> {
        Ok(match coding {
            Coding::Identity | Coding::Deflate => Encoder::Identity(Vec::new()),
            // Levels chosen for streaming speed: a page is compressed on every request.
            Coding::Gzip => Encoder::Gzip(Some(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::new(5),
            ))),
            Coding::Br => Encoder::Br(Some(Box::new(brotli::CompressorWriter::new(
                Vec::new(),
                16 * 1024,
                5,
                22,
            )))),
            Coding::Zstd => Encoder::Zstd(Some(zstd::stream::write::Encoder::new(Vec::new(), 3)?)),
        })
    }

    pub fn is_identity(&self) -> bool {
        matches!(self, Encoder::Identity(_))
    }

    /// Compresses `input` and returns what is ready to send.
    pub fn encode(&mut self, input: Vec<u8>) -> io::Result<Bytes> {
        let input = match self {
            Encoder::Identity(_) => return Ok(Bytes::from(input)),
            _ => input.as_slice(),
        };
        let out = match self {
            Encoder::Identity(_) => return Ok(Bytes::new()),
            Encoder::Gzip(Some(e)) => {
                e.write_all(input)?;
                e.flush()?;
                e.get_mut()
            }
            Encoder::Br(Some(e)) => {
                e.write_all(input)?;
                e.flush()?;
                e.get_mut()
            }
            Encoder::Zstd(Some(e)) => {
                e.write_all(input)?;
                e.flush()?;
                e.get_mut()
            }
            _ => return Err(io::Error::other("encoder used after finish")),
        };
        Ok(Bytes::from(std::mem::take(out)))
    }

    /// Writes the coding's trailer and returns the last bytes.
    pub fn finish(&mut self) -> io::Result<Bytes> {
        let out = match self {
            Encoder::Identity(_) => Vec::new(),
            Encoder::Gzip(e) => match e.take() {
                Some(e) => e.finish()?,
                None => Vec::new(),
            },
            Encoder::Br(e) => match e.take() {
                Some(e) => e.into_inner(),
                None => Vec::new(),
            },
            Encoder::Zstd(e) => match e.take() {
                Some(e) => e.finish()?,
                None => Vec::new(),
            },
        };
        Ok(Bytes::from(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut dec = Decoder::new(Coding::Deflate).expect("decoder");
        dec.write(&compressed).expect("decode");
        dec.finish().expect("finish");
        assert_eq!(dec.take(), b"<p>hallo</p>");
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
        let mut dec = Decoder::new(Coding::Gzip).expect("decoder");
        let result = dec.write(&data).and_then(|()| dec.finish());
        assert!(result.is_err());
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
            let mut dec = Decoder::new(coding).expect("decoder");
            let mut plain = Vec::new();
            for chunk in compressed.chunks(777) {
                dec.write(chunk).expect("decode");
                plain.extend(dec.take());
            }
            dec.finish().expect("finish");
            plain.extend(dec.take());
            assert_eq!(plain, page, "{coding:?}");
        }
    }
}
