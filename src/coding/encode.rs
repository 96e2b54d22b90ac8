//! Streaming encoding of a rewritten page in the coding the visitor accepts.

use std::io::{self, Write};

use bytes::Bytes;

use super::Coding;

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
            // gzip at level 1, nginx's `gzip_comp_level` default (README, Performance).
            Coding::Gzip => Encoder::Gzip(Some(flate2::write::GzEncoder::new(
                Vec::new(),
                flate2::Compression::new(1),
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
