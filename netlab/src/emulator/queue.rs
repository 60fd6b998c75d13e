//! The emulator's packets in flight: one deadline-ordered queue over all links, with packet
//! buffers recycled through a pool so the steady state allocates nothing.
//!
//! Why one binary heap rather than a timer wheel: the emulator releases packets with
//! nanosecond deadlines (its timer is a `timerfd`), a wheel's slots would round them; at the
//! rates a lab carries (thousands of packets a second, a few thousand in flight) a push or pop
//! costs well under a microsecond. Order within a link is kept by the caller (a packet's
//! deadline is never earlier than the previous one's on the same link and direction), and equal
//! deadlines leave in arrival order (a sequence number breaks ties).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Largest packet the emulator carries: the TUN devices' MTU is 1500 and they have no offloads,
/// so nothing larger is ever read.
pub const BUF_LEN: usize = 2048;

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Entry {
    deadline: u64,
    seq: u64,
    buf: u32,
    dst: u32,
}

/// A packet due for release.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    /// Buffer index, for [`DelayQueue::packet`] and [`DelayQueue::recycle`].
    pub buf: u32,
    /// Destination host index.
    pub dst: u32,
    /// When it was due.
    pub deadline: u64,
}

/// Packets in flight, ordered by release time.
pub struct DelayQueue {
    heap: BinaryHeap<Reverse<Entry>>,
    bufs: Vec<Vec<u8>>,
    lens: Vec<u16>,
    free: Vec<u32>,
    seq: u64,
    capacity: usize,
}

impl DelayQueue {
    /// A queue holding at most `capacity` packets (beyond that, new packets are dropped, like a
    /// full router queue).
    pub fn new(capacity: usize) -> DelayQueue {
        DelayQueue {
            heap: BinaryHeap::new(),
            bufs: Vec::new(),
            lens: Vec::new(),
            free: Vec::new(),
            seq: 0,
            capacity,
        }
    }

    /// A buffer to read the next packet into, or `None` when the queue is full.
    pub fn take_buffer(&mut self) -> Option<u32> {
        if let Some(b) = self.free.pop() {
            return Some(b);
        }
        if self.bufs.len() >= self.capacity {
            return None;
        }
        self.bufs.push(vec![0; BUF_LEN]);
        self.lens.push(0);
        Some((self.bufs.len() - 1) as u32)
    }

    /// The bytes of a buffer, to read into.
    pub fn buffer_mut(&mut self, buf: u32) -> &mut [u8] {
        &mut self.bufs[buf as usize]
    }

    /// Queues a filled buffer of `len` bytes for release at `deadline` to host `dst`.
    pub fn push(&mut self, buf: u32, len: usize, deadline: u64, dst: u32) {
        self.lens[buf as usize] = len as u16;
        self.seq += 1;
        self.heap.push(Reverse(Entry {
            deadline,
            seq: self.seq,
            buf,
            dst,
        }));
    }

    /// The earliest deadline in the queue.
    pub fn next_deadline(&self) -> Option<u64> {
        self.heap.peek().map(|Reverse(e)| e.deadline)
    }

    /// The next packet whose deadline is at or before `now`.
    pub fn pop_due(&mut self, now: u64) -> Option<Due> {
        if self.next_deadline()? > now {
            return None;
        }
        let Reverse(e) = self.heap.pop()?;
        Some(Due {
            buf: e.buf,
            dst: e.dst,
            deadline: e.deadline,
        })
    }

    /// The bytes of a queued packet.
    pub fn packet(&self, buf: u32) -> &[u8] {
        &self.bufs[buf as usize][..self.lens[buf as usize] as usize]
    }

    /// Returns a buffer to the pool.
    pub fn recycle(&mut self, buf: u32) {
        self.free.push(buf);
    }

    /// Packets in flight.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(q: &mut DelayQueue, byte: u8, deadline: u64) {
        let b = q.take_buffer().unwrap();
        q.buffer_mut(b)[0] = byte;
        q.push(b, 1, deadline, 0);
    }

    fn drain(q: &mut DelayQueue, now: u64) -> Vec<u8> {
        let mut out = Vec::new();
        while let Some(d) = q.pop_due(now) {
            out.push(q.packet(d.buf)[0]);
            q.recycle(d.buf);
        }
        out
    }

    #[test]
    fn packets_leave_in_deadline_order_and_equal_deadlines_in_arrival_order() {
        let mut q = DelayQueue::new(16);
        put(&mut q, 1, 30);
        put(&mut q, 2, 10);
        put(&mut q, 3, 10);
        put(&mut q, 4, 20);
        assert_eq!(q.next_deadline(), Some(10));
        assert_eq!(drain(&mut q, 9), Vec::<u8>::new());
        assert_eq!(drain(&mut q, 20), vec![2, 3, 4]);
        assert_eq!(drain(&mut q, 100), vec![1]);
        assert!(q.is_empty());
    }

    #[test]
    fn a_full_queue_refuses_buffers_and_recycled_ones_are_reused() {
        let mut q = DelayQueue::new(2);
        put(&mut q, 1, 1);
        put(&mut q, 2, 2);
        assert!(q.take_buffer().is_none());
        assert_eq!(drain(&mut q, 1), vec![1]);
        assert!(q.take_buffer().is_some());
        assert_eq!(q.bufs.len(), 2, "no new buffer was allocated");
    }
}
