//! hyper's own answers in mulambda's error shape.
//!
//! When hyper 1 cannot parse a request head it answers by itself — 400 (bad request line or
//! header), 414 (URI too long) or 431 (head larger than the buffer) — with an empty body, and
//! closes the connection; the service never sees the request. hyper offers no hook for these
//! answers (`Conn::on_parse_error` writes a fixed head), and hyper-util's builders expose none
//! either. Validating requests before hyper would mean parsing every request head twice.
//!
//! So this thin layer sits between hyper and the socket and recognises those answers on their
//! way out: a write that is exactly a head `HTTP/1.1 400|414|431 …` whose only headers are
//! `content-length: 0`, `date` and `connection`. No response of a mulambda service has that
//! shape (each carries at least a `content-type`, and the proxy adds `x-request-id` to everything
//! it forwards), so nothing else is touched. The answer is replaced by the same status with a
//! JSON body `{"error": "..."}` and `connection: close`. An HTTP/2 connection (whose first write
//! is not an HTTP/1 status line) is passed through untouched from its first write on.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A stream whose hyper-generated error answers are rewritten (see the module docs).
#[derive(Debug)]
pub struct AutoErrorIo<T> {
    inner: T,
    state: State,
}

#[derive(Debug)]
enum State {
    /// Nothing written yet: the protocol is not known.
    Fresh,
    /// HTTP/1: every write is checked.
    Http1,
    /// HTTP/2 (or anything else): passed through.
    Off,
    /// A replacement is being written; `consumed` is the length of hyper's write it stands for.
    Replacing {
        bytes: Vec<u8>,
        written: usize,
        consumed: usize,
    },
}

// === impl AutoErrorIo ===

impl<T> AutoErrorIo<T> {
    /// Wraps a stream.
    pub fn new(inner: T) -> AutoErrorIo<T> {
        AutoErrorIo {
            inner,
            state: State::Fresh,
        }
    }

    /// The wrapped stream.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// Decides what to do with a write of `buf`: `Some(replacement)` for one of hyper's answers.
    fn inspect(&mut self, buf: &[u8]) -> Option<Vec<u8>> {
        match self.state {
            State::Fresh if buf.is_empty() => return None,
            State::Fresh if buf.starts_with(b"HTTP/1.") => self.state = State::Http1,
            State::Fresh => {
                self.state = State::Off;
                return None;
            }
            State::Http1 => {}
            State::Off | State::Replacing { .. } => return None,
        }
        replacement(buf)
    }
}

/// The JSON answer standing for hyper's answer `head`, or `None` when `head` is anything else.
pub fn replacement(head: &[u8]) -> Option<Vec<u8>> {
    const ANSWERS: [(&[u8], &str); 3] = [
        (
            b"HTTP/1.1 400 Bad Request\r\n",
            "malformed HTTP request: the request line or a header cannot be parsed",
        ),
        (b"HTTP/1.1 414 URI Too Long\r\n", "request URI too long"),
        (
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
            "request header fields too large",
        ),
    ];
    let (status_line, message) = ANSWERS.iter().find(|(l, _)| head.starts_with(l))?;
    let rest = std::str::from_utf8(&head[status_line.len()..]).ok()?;
    let headers = rest.strip_suffix("\r\n\r\n").or_else(|| {
        // A head without headers ends right after the status line's CRLF.
        rest.strip_suffix("\r\n").filter(|r| r.is_empty())
    })?;
    let mut date = None;
    for line in headers.split("\r\n").filter(|l| !l.is_empty()) {
        let (name, value) = line.split_once(':')?;
        match name.trim().to_ascii_lowercase().as_str() {
            "content-length" if value.trim() == "0" => {}
            "connection" => {}
            "date" => date = Some(line),
            _ => return None,
        }
    }
    let body = serde_json::json!({ "error": message }).to_string();
    let mut out = Vec::with_capacity(160 + body.len());
    out.extend_from_slice(status_line);
    out.extend_from_slice(b"content-type: application/json\r\n");
    out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    out.extend_from_slice(b"connection: close\r\n");
    if let Some(date) = date {
        out.extend_from_slice(date.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body.as_bytes());
    Some(out)
}

impl<T: AsyncWrite + Unpin> AutoErrorIo<T> {
    /// Writes the pending replacement; `Ready(Ok(n))` with the length of the write it replaced.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let State::Replacing {
            bytes,
            written,
            consumed,
        } = &mut self.state
        else {
            return Poll::Ready(Ok(0));
        };
        while *written < bytes.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        let consumed = *consumed;
        // hyper closes the connection after these answers; nothing else is checked.
        self.state = State::Off;
        Poll::Ready(Ok(consumed))
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for AutoErrorIo<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for AutoErrorIo<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if let State::Replacing { .. } = this.state {
            return this.poll_replacement(cx);
        }
        match this.inspect(buf) {
            Some(bytes) => {
                this.state = State::Replacing {
                    bytes,
                    written: 0,
                    consumed: buf.len(),
                };
                this.poll_replacement(cx)
            }
            None => Pin::new(&mut this.inner).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if let State::Replacing { .. } = this.state {
            return this.poll_replacement(cx);
        }
        // hyper writes its answer as one buffer; only a lone buffer can be one.
        let mut nonempty = bufs.iter().filter(|b| !b.is_empty());
        if let (Some(first), None) = (nonempty.next(), nonempty.next())
            && let Some(bytes) = this.inspect(first)
        {
            this.state = State::Replacing {
                bytes,
                written: 0,
                consumed: first.len(),
            };
            return this.poll_replacement(cx);
        }
        if let (State::Fresh, Some(first)) = (&this.state, bufs.iter().find(|b| !b.is_empty())) {
            this.state = if first.starts_with(b"HTTP/1.") {
                State::Http1
            } else {
                State::Off
            };
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let State::Replacing { .. } = this.state {
            ready!(this.poll_replacement(cx))?;
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = &mut *self;
        if let State::Replacing { .. } = this.state {
            ready!(this.poll_replacement(cx))?;
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hypers_answers_become_json() {
        let head = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: Thu, 01 Jan 2026 00:00:00 GMT\r\n\r\n";
        let out = String::from_utf8(replacement(head).unwrap()).unwrap();
        assert!(
            out.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
            "{out}"
        );
        assert!(out.contains("content-type: application/json\r\n"), "{out}");
        assert!(out.contains("date: Thu, 01 Jan 2026"), "{out}");
        let body = out.split("\r\n\r\n").nth(1).unwrap();
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"], "request header fields too large");
        assert!(out.contains(&format!("content-length: {}\r\n", body.len())));
    }

    #[test]
    fn responses_of_services_are_left_alone() {
        for head in [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 0\r\n\r\n"[..],
            b"HTTP/1.1 400 Bad Request\r\nx-request-id: 1\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}",
            b"{\"predictions\": []}",
        ] {
            assert!(replacement(head).is_none(), "{:?}", String::from_utf8_lossy(head));
        }
    }
}
