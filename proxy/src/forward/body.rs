//! Request bodies on their way to an executor: buffered up to the retry buffer (so a failed
//! attempt can be replayed on another executor), streamed beyond it, and limited to the hard
//! body limit either way.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;

/// Errors a forwarded body can yield.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of one attempt.
#[derive(Debug)]
pub enum ForwardBody {
    /// A buffered body (replayable: clone the bytes for every attempt).
    Full(Option<Bytes>),
    /// A streamed body: what was already read, then the rest of the client's body.
    Stream {
        /// Bytes read before the body turned out larger than the retry buffer.
        prefix: Option<Bytes>,
        /// The rest, limited so the total stays within the hard limit.
        rest: Limited<Incoming>,
    },
}

/// A request body made ready for forwarding.
#[derive(Debug)]
pub enum PreparedBody {
    /// Fits the retry buffer: can be sent more than once.
    Replayable(Bytes),
    /// Larger: sent once, as a stream.
    Streaming(ForwardBody),
}

/// Why a body could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// Larger than the hard limit.
    #[error("request body larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The client's body could not be read.
    #[error("cannot read the request body: {0}")]
    Read(#[source] hyper::Error),
}

// === impl PreparedBody ===

impl PreparedBody {
    /// Reads up to `retry_buffer` bytes of `body` (announced as `content_length`, when known).
    pub async fn read(
        mut body: Incoming,
        content_length: Option<u64>,
        retry_buffer: u64,
        max_body: u64,
    ) -> Result<PreparedBody, BodyError> {
        let limit = usize::try_from(max_body).unwrap_or(usize::MAX);
        if let Some(n) = content_length {
            if n > max_body {
                return Err(BodyError::TooLarge { limit: max_body });
            }
            if n > retry_buffer {
                return Ok(PreparedBody::Streaming(ForwardBody::Stream {
                    prefix: None,
                    rest: Limited::new(body, limit),
                }));
            }
        }
        // Most bodies arrive in one frame: the Vec is only allocated for a second one.
        let mut chunks = Chunks::default();
        let mut total: u64 = 0;
        if body.is_end_stream() {
            return Ok(PreparedBody::Replayable(Bytes::new()));
        }
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(BodyError::Read)?;
            let Ok(data) = frame.into_data() else {
                continue; // trailers: TF Serving has none; dropped
            };
            if data.is_empty() {
                continue;
            }
            total += data.len() as u64;
            if total > max_body {
                return Err(BodyError::TooLarge { limit: max_body });
            }
            chunks.push(data);
            if total > retry_buffer {
                let left = usize::try_from(max_body - total).unwrap_or(usize::MAX);
                return Ok(PreparedBody::Streaming(ForwardBody::Stream {
                    prefix: Some(concat(chunks, total)),
                    rest: Limited::new(body, left),
                }));
            }
        }
        Ok(PreparedBody::Replayable(concat(chunks, total)))
    }
}

/// The chunks of a body read so far: the first inline, more in a Vec.
#[derive(Default)]
struct Chunks {
    first: Option<Bytes>,
    more: Vec<Bytes>,
}

// === impl Chunks ===

impl Chunks {
    fn push(&mut self, data: Bytes) {
        if self.first.is_none() {
            self.first = Some(data);
        } else {
            self.more.push(data);
        }
    }
}

fn concat(chunks: Chunks, total: u64) -> Bytes {
    let Some(first) = chunks.first else {
        return Bytes::new();
    };
    if chunks.more.is_empty() {
        return first;
    }
    let mut buf = BytesMut::with_capacity(usize::try_from(total).unwrap_or(0));
    buf.extend_from_slice(&first);
    for c in chunks.more {
        buf.extend_from_slice(&c);
    }
    buf.freeze()
}

/// Whether an error (or one of its sources) is the body limit tripping mid-stream.
pub fn is_length_limit(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if err.is::<LengthLimitError>() {
            return true;
        }
        cur = err.source();
    }
    false
}

// === impl ForwardBody ===

impl ForwardBody {
    /// An empty body.
    pub fn empty() -> ForwardBody {
        ForwardBody::Full(None)
    }
}

impl Body for ForwardBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            ForwardBody::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            ForwardBody::Stream { prefix, rest } => {
                if let Some(p) = prefix.take() {
                    return Poll::Ready(Some(Ok(Frame::data(p))));
                }
                Pin::new(rest).poll_frame(cx)
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ForwardBody::Full(b) => b.is_none(),
            ForwardBody::Stream { prefix, rest } => prefix.is_none() && rest.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ForwardBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            ForwardBody::Stream { prefix, rest } => {
                let p = prefix.as_ref().map_or(0, |b| b.len() as u64);
                let inner = rest.size_hint();
                let mut hint = SizeHint::new();
                hint.set_lower(inner.lower().saturating_add(p));
                if let Some(u) = inner.upper() {
                    hint.set_upper(u.saturating_add(p));
                }
                hint
            }
        }
    }
}
