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
            decoder: Decoder::new(upstream)?,
            page: PageRewriter::new(ctx, charset),
            encoder: Encoder::new(visitor)?,
            finished: false,
            report: Some(report),
        })
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
            match this.inner.as_mut().poll_frame(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(e.into()))),
                Poll::Ready(Some(Ok(frame))) => {
                    // Trailers of the upstream body describe the old bytes; they are dropped.
                    let Ok(data) = frame.into_data() else {
                        continue;
                    };
                    this.decoder.write(&data)?;
                    let decoded = this.decoder.take();
                    if decoded.is_empty() {
                        continue;
                    }
                    let rewritten = this.page.write(&decoded);
                    if rewritten.is_empty() {
                        continue;
                    }
                    let out = this.encoder.encode(rewritten)?;
                    if !out.is_empty() {
                        return Poll::Ready(Some(Ok(Frame::data(out))));
                    }
                }
                Poll::Ready(None) => {
                    *this.finished = true;
                    this.decoder.finish()?;
                    let mut tail = this.page.write(&this.decoder.take());
                    tail.extend(this.page.end());
                    let mut out = this.encoder.encode(tail)?.to_vec();
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
