//! Content codings (RFC 9110 §8.4): upstream bodies are decoded so the rewriter sees HTML,
//! and the result is encoded in the best coding the visitor accepts.
//!
//! Why the `Write`-based codecs of flate2, brotli and zstd rather than async-compression:
//! the rewriter is a synchronous push parser fed chunk by chunk inside `poll_frame`, and
//! these streaming writers fit that shape directly, without an extra task or buffer.

use std::io::{self, Write};

use brotli_decompressor::{BrotliDecompressStream, BrotliResult, BrotliState, StandardAlloc};
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

/// Decoded output per step: however compressed a body is, one response holds at most a
/// few of these at a time.
pub const STEP: usize = 32 * 1024;

/// Decoded bytes always allowed, whatever the ratio (a small page may compress very well).
const EXPANSION_ALLOWANCE: u64 = 1024 * 1024;

/// A bounded streaming decoder: [`Decoder::push`] compressed bytes, then call
/// [`Decoder::step`] until [`Decoder::needs_input`]; each step decodes at most [`STEP`]
/// bytes, so a decompression bomb (a few KB that inflate to gigabytes) costs one step's
/// memory at a time and is stopped once it expands past `max_ratio`.
///
/// Why the codecs' low-level APIs rather than their `Write` adaptors: a writer inflates
/// all it is given in one call, into memory without a bound.
pub struct Decoder {
    codec: Codec,
    /// Compressed bytes not consumed yet.
    input: Bytes,
    /// The last step filled its output: the codec may hold more without new input.
    more_output: bool,
    consumed: u64,
    produced: u64,
    max_ratio: u64,
}

enum Codec {
    Identity,
    /// RFC 9110 §8.4.1.2: "deflate" is the zlib format (RFC 1950).
    Zlib {
        inflate: flate2::Decompress,
        done: bool,
    },
    Gzip(Box<Gzip>),
    Br {
        state: Box<BrotliState<StandardAlloc, StandardAlloc, StandardAlloc>>,
        done: bool,
    },
    Zstd {
        decoder: Box<zstd::stream::raw::Decoder<'static>>,
        /// zstd's hint after the last step: 0 when a frame has just ended.
        hint: usize,
    },
}

/// RFC 1952 members, one after another (a gzip body may hold several).
struct Gzip {
    phase: GzipPhase,
    /// Header or trailer bytes gathered so far.
    held: Vec<u8>,
    inflate: flate2::Decompress,
    crc: flate2::Crc,
    members: u32,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum GzipPhase {
    Header,
    Body,
    Trailer,
}

/// A gzip header longer than this (file name, comment, extra field) is not a web page's.
const GZIP_HEADER_LIMIT: usize = 64 * 1024;

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.into())
}

impl Decoder {
    pub fn new(coding: Coding, max_ratio: u32) -> io::Result<Decoder> {
        let codec = match coding {
            Coding::Identity => Codec::Identity,
            Coding::Deflate => Codec::Zlib {
                inflate: flate2::Decompress::new(true),
                done: false,
            },
            Coding::Gzip => Codec::Gzip(Box::new(Gzip {
                phase: GzipPhase::Header,
                held: Vec::new(),
                inflate: flate2::Decompress::new(false),
                crc: flate2::Crc::new(),
                members: 0,
            })),
            Coding::Br => Codec::Br {
                state: Box::new(BrotliState::new(
                    StandardAlloc::default(),
                    StandardAlloc::default(),
                    StandardAlloc::default(),
                )),
                done: false,
            },
            Coding::Zstd => Codec::Zstd {
                decoder: Box::new(zstd::stream::raw::Decoder::new()?),
                hint: 0,
            },
        };
        Ok(Decoder {
            codec,
            input: Bytes::new(),
            more_output: false,
            consumed: 0,
            produced: 0,
            max_ratio: u64::from(max_ratio.max(1)),
        })
    }

    pub fn is_identity(&self) -> bool {
        matches!(self.codec, Codec::Identity)
    }

    /// Adds compressed bytes (after earlier ones are used up, see [`Decoder::needs_input`]).
    pub fn push(&mut self, data: Bytes) {
        if self.input.is_empty() {
            self.input = data;
        } else {
            let mut joined = Vec::with_capacity(self.input.len() + data.len());
            joined.extend_from_slice(&self.input);
            joined.extend_from_slice(&data);
            self.input = Bytes::from(joined);
        }
    }

    /// Every pushed byte is decoded and the codec holds no more output.
    pub fn needs_input(&self) -> bool {
        self.input.is_empty() && !self.more_output
    }

    /// Decodes at most [`STEP`] bytes.
    pub fn step(&mut self) -> io::Result<Vec<u8>> {
        let mut out = vec![0u8; STEP];
        let (read, written, more) = match &mut self.codec {
            Codec::Identity => {
                let data = std::mem::take(&mut self.input);
                self.consumed += data.len() as u64;
                self.produced += data.len() as u64;
                return Ok(data.to_vec());
            }
            Codec::Zlib { inflate, done } => {
                if *done {
                    // Bytes after the end of the stream are ignored, as browsers do.
                    (self.input.len(), 0, false)
                } else {
                    let (r, w, status) = inflate_step(inflate, &self.input, &mut out)?;
                    *done = status == flate2::Status::StreamEnd;
                    (r, w, w == out.len())
                }
            }
            Codec::Gzip(gzip) => gzip.step(&self.input, &mut out)?,
            Codec::Br { state, done } => {
                let mut available_in = self.input.len();
                let mut input_offset = 0;
                let mut available_out = out.len();
                let mut output_offset = 0;
                let mut total_out = 0;
                let result = BrotliDecompressStream(
                    &mut available_in,
                    &mut input_offset,
                    &self.input,
                    &mut available_out,
                    &mut output_offset,
                    &mut out,
                    &mut total_out,
                    state,
                );
                match result {
                    BrotliResult::ResultFailure => return Err(invalid("corrupt brotli data")),
                    BrotliResult::ResultSuccess => *done = true,
                    BrotliResult::NeedsMoreInput | BrotliResult::NeedsMoreOutput => {}
                }
                let more = matches!(result, BrotliResult::NeedsMoreOutput);
                (input_offset, output_offset, more)
            }
            Codec::Zstd { decoder, hint } => {
                use zstd::stream::raw::{InBuffer, Operation, OutBuffer};
                let mut input = InBuffer::around(&self.input);
                let mut output = OutBuffer::around(&mut out[..]);
                *hint = decoder.run(&mut input, &mut output)?;
                let (r, w) = (input.pos(), output.pos());
                (r, w, w == STEP)
            }
        };
        self.input = self.input.slice(read..);
        self.more_output = more;
        self.consumed += read as u64;
        self.produced += written as u64;
        if self.produced > EXPANSION_ALLOWANCE
            && self.produced > self.consumed.saturating_mul(self.max_ratio)
        {
            return Err(invalid(format!(
                "decompression bomb: {} bytes from {} compressed (more than {}×)",
                self.produced, self.consumed, self.max_ratio
            )));
        }
        out.truncate(written);
        Ok(out)
    }

    /// The body ended: a stream cut short is an error (never a silently shorter page).
    pub fn finish(&self) -> io::Result<()> {
        let complete = match &self.codec {
            Codec::Identity => true,
            Codec::Zlib { done, .. } | Codec::Br { done, .. } => *done,
            Codec::Gzip(gzip) => {
                gzip.members > 0 && gzip.phase == GzipPhase::Header && gzip.held.is_empty()
            }
            Codec::Zstd { hint, .. } => *hint == 0 && self.produced + self.consumed > 0,
        };
        if complete && self.needs_input() {
            Ok(())
        } else {
            Err(invalid("compressed body ends in the middle of its data"))
        }
    }
}

/// One raw inflate step: (input read, output written, status).
fn inflate_step(
    inflate: &mut flate2::Decompress,
    input: &[u8],
    out: &mut [u8],
) -> io::Result<(usize, usize, flate2::Status)> {
    let (before_in, before_out) = (inflate.total_in(), inflate.total_out());
    let status = inflate
        .decompress(input, out, flate2::FlushDecompress::None)
        .map_err(|e| invalid(format!("corrupt deflate data: {e}")))?;
    let read = usize::try_from(inflate.total_in() - before_in).unwrap_or(usize::MAX);
    let written = usize::try_from(inflate.total_out() - before_out).unwrap_or(usize::MAX);
    Ok((read, written, status))
}

impl Gzip {
    /// One step through header, body or trailer: (input read, output written, more).
    fn step(&mut self, input: &[u8], out: &mut [u8]) -> io::Result<(usize, usize, bool)> {
        match self.phase {
            GzipPhase::Header => {
                let before = self.held.len();
                self.held.extend_from_slice(input);
                match gzip_header_len(&self.held)? {
                    Some(len) => {
                        self.held.clear();
                        self.phase = GzipPhase::Body;
                        self.inflate.reset(false);
                        self.crc.reset();
                        // More may follow in the same input: the caller steps again.
                        Ok((len - before, 0, true))
                    }
                    None if self.held.len() > GZIP_HEADER_LIMIT => {
                        Err(invalid("gzip header too long"))
                    }
                    None => Ok((input.len(), 0, false)),
                }
            }
            GzipPhase::Body => {
                let (read, written, status) = inflate_step(&mut self.inflate, input, out)?;
                self.crc.update(&out[..written]);
                if status == flate2::Status::StreamEnd {
                    self.phase = GzipPhase::Trailer;
                    return Ok((read, written, true));
                }
                Ok((read, written, written == out.len()))
            }
            GzipPhase::Trailer => {
                let take = (8 - self.held.len()).min(input.len());
                self.held.extend_from_slice(&input[..take]);
                if self.held.len() < 8 {
                    return Ok((take, 0, false));
                }
                let word = |i: usize| {
                    u32::from_le_bytes([
                        self.held[i],
                        self.held[i + 1],
                        self.held[i + 2],
                        self.held[i + 3],
                    ])
                };
                if word(0) != self.crc.sum() || word(4) != self.crc.amount() {
                    return Err(invalid("gzip checksum or length mismatch"));
                }
                self.held.clear();
                self.members += 1;
                self.phase = GzipPhase::Header;
                Ok((take, 0, take < input.len()))
            }
        }
    }
}

/// The length of a complete RFC 1952 member header at the start of `held`; `None` when
/// more bytes are needed.
fn gzip_header_len(held: &[u8]) -> io::Result<Option<usize>> {
    const FHCRC: u8 = 2;
    const FEXTRA: u8 = 4;
    const FNAME: u8 = 8;
    const FCOMMENT: u8 = 16;
    if held.len() < 10 {
        if held.iter().zip([0x1f, 0x8b, 8]).any(|(a, b)| *a != b) {
            return Err(invalid("not gzip data"));
        }
        return Ok(None);
    }
    if held[..3] != [0x1f, 0x8b, 8] {
        return Err(invalid("not gzip data"));
    }
    let flags = held[3];
    let mut at = 10;
    if flags & FEXTRA != 0 {
        let Some(len) = held.get(at..at + 2) else {
            return Ok(None);
        };
        at += 2 + usize::from(u16::from_le_bytes([len[0], len[1]]));
    }
    for flag in [FNAME, FCOMMENT] {
        if flags & flag != 0 {
            match held
                .get(at..)
                .and_then(|rest| rest.iter().position(|b| *b == 0))
            {
                Some(end) => at += end + 1,
                None => return Ok(None),
            }
        }
    }
    if flags & FHCRC != 0 {
        at += 2;
    }
    Ok((held.len() >= at).then_some(at))
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
            let bomb = compress(coding, &zeros);
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
