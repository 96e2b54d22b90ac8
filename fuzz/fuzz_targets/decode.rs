//! Fuzz target: any bytes through the bounded decoders (the first byte picks the coding)
//! — no panic, no step larger than `STEP`, and decoding stops (at its end, an error, or
//! the expansion limit) however the input inflates.
//!
//!     cargo +nightly fuzz run decode

#![no_main]

use bytes::Bytes;
use consent_proxy::coding::{Coding, Decoder, STEP};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else { return };
    let coding = match pick % 5 {
        0 => Coding::Gzip,
        1 => Coding::Deflate,
        2 => Coding::Br,
        3 => Coding::Zstd,
        _ => Coding::Identity,
    };
    let Ok(mut decoder) = Decoder::new(coding, 100) else { return };
    for chunk in body.chunks(usize::from(pick).max(1)) {
        decoder.push(Bytes::copy_from_slice(chunk));
        while !decoder.needs_input() {
            match decoder.step() {
                Ok(step) => assert!(step.len() <= STEP.max(chunk.len())),
                Err(_) => return,
            }
        }
    }
    let _ = decoder.finish();
});
