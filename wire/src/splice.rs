//! The output of a zero-copy field rewrite: an encoded message described as ranges of the
//! original bytes and small pieces of new bytes, emitted either into one buffer or as a
//! [`RewrittenBytes`] chain that shares the original's payload.
//!
//! Both rewrites in this crate use it: TF Serving's `model_spec` ([`crate::spec`]) and the
//! Open Inference Protocol's `model_name` / `model_version` ([`crate::v2::grpc`]). Each walks
//! only the top-level field framing and calls [`Splice::replace_fields`] with the field
//! numbers it rewrites and a closure that writes their new encoding.

use std::ops::Range;

use bytes::{Buf, Bytes};

use crate::raw::{WireError, fields};

/// A piece of the output: a range of the original message or of the new bytes.
#[derive(Debug, Clone)]
enum Part {
    Original(Range<usize>),
    New(Range<usize>),
}

impl Part {
    fn range(&self) -> &Range<usize> {
        match self {
            Part::Original(r) | Part::New(r) => r,
        }
    }
}

/// A rewritten message under construction: the parts in output order and the new bytes they
/// refer to.
#[derive(Debug, Default)]
pub(crate) struct Splice {
    parts: Vec<Part>,
    new: Vec<u8>,
}

/// A slot reserved by [`Splice::reserve`], filled later by [`Splice::fill`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Slot(usize);

// === impl Splice ===

impl Splice {
    /// Output length so far, bytes.
    pub(crate) fn len(&self) -> usize {
        self.parts.iter().map(|p| p.range().len()).sum()
    }

    /// Appends `msg[range]` (merged with the previous part when contiguous).
    pub(crate) fn push_original(&mut self, range: Range<usize>) {
        if range.is_empty() {
            return;
        }
        if let Some(Part::Original(last)) = self.parts.last_mut()
            && last.end == range.start
        {
            last.end = range.end;
            return;
        }
        self.parts.push(Part::Original(range));
    }

    /// Appends new bytes written by `write`.
    pub(crate) fn push_new(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        let start = self.new.len();
        write(&mut self.new);
        self.parts.push(Part::New(start..self.new.len()));
    }

    /// Reserves a place for new bytes whose content is known only later (a length prefix that
    /// depends on what follows).
    pub(crate) fn reserve(&mut self) -> Slot {
        self.parts.push(Part::New(self.new.len()..self.new.len()));
        Slot(self.parts.len() - 1)
    }

    /// Writes the bytes of a reserved slot.
    pub(crate) fn fill(&mut self, slot: Slot, write: impl FnOnce(&mut Vec<u8>)) {
        let start = self.new.len();
        write(&mut self.new);
        self.parts[slot.0] = Part::New(start..self.new.len());
    }

    /// Emits the fields of `msg[within]`, with every top-level field whose number `replaced`
    /// accepts dropped and `emit`'s bytes written once in their place: at the first dropped
    /// field, or at the start of `within` when there is none. Nothing but the field framing is
    /// read; every other byte is referenced as is.
    pub(crate) fn replace_fields(
        &mut self,
        msg: &[u8],
        within: Range<usize>,
        replaced: impl Fn(u32) -> bool,
        emit: impl FnOnce(&mut Vec<u8>),
    ) -> Result<(), WireError> {
        let base = within.start;
        let mut run_start = within.start;
        let mut emit = Some(emit);
        for field in fields(&msg[within.clone()]) {
            let field = field?;
            if !replaced(field.number) {
                continue;
            }
            let whole = base + field.whole.start..base + field.whole.end;
            self.push_original(run_start..whole.start);
            if let Some(emit) = emit.take() {
                self.push_new(emit);
            }
            run_start = whole.end;
        }
        if let Some(emit) = emit.take() {
            // No field to replace: the new bytes go first (canonical order for field 1, and
            // for any field when the message has no fields of lower numbers).
            self.push_new(emit);
        }
        self.push_original(run_start..within.end);
        Ok(())
    }

    /// The output in one buffer (the original's bytes are copied once).
    pub(crate) fn to_vec(&self, msg: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len());
        for part in &self.parts {
            out.extend_from_slice(match part {
                Part::Original(r) => &msg[r.clone()],
                Part::New(r) => &self.new[r.clone()],
            });
        }
        out
    }

    /// The output as a chain of shared slices of `msg` and of the new bytes (nothing copied).
    pub(crate) fn into_bytes(self, msg: &Bytes) -> RewrittenBytes {
        let new = Bytes::from(self.new);
        let chunks: Vec<Bytes> = self
            .parts
            .iter()
            .filter(|p| !p.range().is_empty())
            .map(|p| match p {
                Part::Original(r) => msg.slice(r.clone()),
                Part::New(r) => new.slice(r.clone()),
            })
            .collect();
        let remaining = chunks.iter().map(Bytes::len).sum();
        RewrittenBytes {
            chunks,
            index: 0,
            remaining,
        }
    }
}

/// A rewritten message as a chain of byte slices; implements [`Buf`].
#[derive(Debug, Clone, Default)]
pub struct RewrittenBytes {
    chunks: Vec<Bytes>,
    index: usize,
    remaining: usize,
}

// === impl RewrittenBytes ===

impl RewrittenBytes {
    /// Total length, bytes.
    pub fn len(&self) -> usize {
        self.remaining
    }

    /// Whether nothing remains.
    pub fn is_empty(&self) -> bool {
        self.remaining == 0
    }

    /// The remaining bytes in one buffer (copies).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.remaining);
        for chunk in &self.chunks[self.index..] {
            out.extend_from_slice(chunk);
        }
        out
    }

    /// The slices, in order (for tests that check the payload is shared, not copied).
    pub fn chunks(&self) -> &[Bytes] {
        &self.chunks[self.index..]
    }
}

impl Buf for RewrittenBytes {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        self.chunks.get(self.index).map_or(&[], |c| &c[..])
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(
            cnt <= self.remaining,
            "advance past the end of RewrittenBytes"
        );
        self.remaining -= cnt;
        while cnt > 0 {
            let chunk = &mut self.chunks[self.index];
            if cnt < chunk.len() {
                chunk.advance(cnt);
                return;
            }
            cnt -= chunk.len();
            self.index += 1;
        }
        while self.chunks.get(self.index).is_some_and(Bytes::is_empty) {
            self.index += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::raw::put_len_field;

    #[test]
    fn buf_advances_across_chunks() {
        let mut b = RewrittenBytes {
            chunks: vec![
                Bytes::from_static(b"ab"),
                Bytes::new(),
                Bytes::from_static(b"cde"),
            ],
            index: 0,
            remaining: 5,
        };
        assert_eq!(b.chunk(), b"ab");
        b.advance(3);
        assert_eq!(b.chunk(), b"de");
        assert_eq!(b.remaining(), 2);
        b.advance(2);
        assert!(b.is_empty());
        assert_eq!(b.chunk(), b"");
    }

    #[test]
    fn replace_fields_drops_every_match_and_emits_once_at_the_first() {
        let mut msg = Vec::new();
        put_len_field(&mut msg, 3, b"keep-a");
        put_len_field(&mut msg, 1, b"old-1");
        put_len_field(&mut msg, 5, b"keep-b");
        put_len_field(&mut msg, 1, b"old-2");
        let mut splice = Splice::default();
        splice
            .replace_fields(
                &msg,
                0..msg.len(),
                |n| n == 1,
                |out| {
                    put_len_field(out, 1, b"new");
                },
            )
            .unwrap();
        let mut expected = Vec::new();
        put_len_field(&mut expected, 3, b"keep-a");
        put_len_field(&mut expected, 1, b"new");
        put_len_field(&mut expected, 5, b"keep-b");
        assert_eq!(splice.to_vec(&msg), expected);
        assert_eq!(splice.len(), expected.len());
        let shared = Bytes::from(msg);
        assert_eq!(splice.into_bytes(&shared).to_vec(), expected);
    }

    #[test]
    fn replace_fields_without_a_match_emits_first() {
        let mut msg = Vec::new();
        put_len_field(&mut msg, 7, b"payload");
        let mut splice = Splice::default();
        splice
            .replace_fields(
                &msg,
                0..msg.len(),
                |n| n == 1,
                |out| {
                    put_len_field(out, 1, b"x");
                },
            )
            .unwrap();
        let mut expected = Vec::new();
        put_len_field(&mut expected, 1, b"x");
        put_len_field(&mut expected, 7, b"payload");
        assert_eq!(splice.to_vec(&msg), expected);
    }

    #[test]
    fn reserved_slots_are_filled_in_place() {
        let msg = b"abc".to_vec();
        let mut splice = Splice::default();
        let slot = splice.reserve();
        splice.push_original(0..3);
        splice.fill(slot, |out| out.push(b'>'));
        assert_eq!(splice.to_vec(&msg), b">abc");
    }
}
