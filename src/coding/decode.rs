//! Bounded streaming decoding of gzip, deflate (zlib), br and zstd bodies.

use std::io;

use brotli_decompressor::{BrotliDecompressStream, BrotliResult, BrotliState, StandardAlloc};
use bytes::Bytes;

use super::Coding;

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
