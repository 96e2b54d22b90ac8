//! The rewritten body: upstream frames → decode → rewrite → encode → visitor frames, one
//! chunk at a time, so memory stays flat whatever the page size.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame};
use lol_html::AsciiCompatibleEncoding;
use pin_project_lite::pin_project;

use super::html::{Counts, PageContext, PageRewriter};
use crate::body::BoxError;
use crate::coding::{Coding, Decoder, Encoder};

/// Called once with what the page had neutralised, when the body ends.
pub type Report = Box<dyn FnOnce(Counts) + Send>;

pin_project! {
    pub struct RewriteBody<B> {
        #[pin]
        inner: B,
        decoder: Decoder,
        page: PageRewriter,
        encoder: Encoder,
        finished: bool,
        report: Option<Report>,
    }
}

impl<B> RewriteBody<B> {
    pub fn new(
        inner: B,
        upstream: Coding,
        visitor: Coding,
        charset: AsciiCompatibleEncoding,
        ctx: &PageContext,
        report: Report,
    ) -> std::io::Result<RewriteBody<B>> {
        Ok(RewriteBody {
            inner,
            decoder: Decoder::new(upstream, ctx.decompression_ratio)?,
            page: PageRewriter::new(ctx, charset),
            encoder: Encoder::new(visitor)?,
            finished: false,
            report: Some(report),
        })
    }

    /// What the page had neutralised, once the whole page went through.
    pub fn counts(&self) -> Option<Counts> {
        self.finished.then(|| self.page.counts())
    }
}

impl<B> Body for RewriteBody<B>
where
    B: Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let mut this = self.project();
        loop {
            if *this.finished {
                return Poll::Ready(None);
            }
            // Decode what is held, one bounded step at a time, before asking for more: the
            // upstream is read only as fast as the visitor takes the page (back-pressure).
            if !this.decoder.needs_input() {
                let decoded = this.decoder.step().inspect_err(|e| {
                    // Fail closed: the visitor gets a cut-off page, never undecoded bytes.
                    tracing::warn!(error = %e, "upstream page cut off");
                })?;
                if let Some(frame) = Self::pass(this.page, this.encoder, &decoded)? {
                    return Poll::Ready(Some(Ok(frame)));
                }
                continue;
            }
            match this.inner.as_mut().poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
                Poll::Ready(Some(Ok(frame))) => {
                    // Trailers of the upstream body describe the old bytes; they are dropped.
                    if let Ok(data) = frame.into_data() {
                        this.decoder.push(data);
                    }
                }
                Poll::Ready(None) => {
                    *this.finished = true;
                    this.decoder.finish().inspect_err(|e| {
                        tracing::warn!(error = %e, "upstream page cut off");
                    })?;
                    let mut out = this.encoder.encode(this.page.end())?.to_vec();
                    out.extend_from_slice(&this.encoder.finish()?);
                    if let Some(report) = this.report.take() {
                        report(this.page.counts());
                    }
                    if out.is_empty() {
                        return Poll::Ready(None);
                    }
                    return Poll::Ready(Some(Ok(Frame::data(Bytes::from(out)))));
                }
            }
        }
    }
}

impl<B> RewriteBody<B> {
    /// Rewrites and encodes one decoded step; the frame to send, if any is ready.
    fn pass(
        page: &mut PageRewriter,
        encoder: &mut Encoder,
        decoded: &[u8],
    ) -> Result<Option<Frame<Bytes>>, BoxError> {
        if decoded.is_empty() {
            return Ok(None);
        }
        let rewritten = page.write(decoded);
        if rewritten.is_empty() {
            return Ok(None);
        }
        let out = encoder.encode(rewritten)?;
        Ok((!out.is_empty()).then(|| Frame::data(out)))
    }
}
