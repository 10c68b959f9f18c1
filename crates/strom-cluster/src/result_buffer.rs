//! The rows of a SELECT on their way to the client (Flink's `collect()`): the `collect` sink's
//! task offers them in chunks (Arrow IPC streams) to its JobMaster, which keeps them here until
//! the client fetches them (`GET /jobs/:id/strom-results`).
//!
//! The buffer is bounded: a chunk that would pass [`ResultBuffer::CAPACITY`] bytes is refused
//! (the sink offers it again later, so a slow client slows the job down instead of filling the
//! JobManager's memory). A new attempt of the sink (after a failover) restarts the result: the
//! chunks of older attempts not fetched yet are dropped, and the client learns from
//! [`Fetched::attempt_start`] to drop those it already has.

use parking_lot::Mutex;
use std::collections::VecDeque;

/// One chunk, numbered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub seq: u64,
    pub data: Vec<u8>,
}

/// What a fetch answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetched {
    /// Chunks from the one asked for on, in order.
    pub chunks: Vec<Chunk>,
    /// The number to ask for next.
    pub next: u64,
    /// The first chunk number of the attempt whose rows these are: rows of chunks before it
    /// belong to an attempt that failed.
    pub attempt_start: u64,
    /// The sink finished: nothing more comes after `next`.
    pub finished: bool,
}

#[derive(Debug, Default)]
struct State {
    chunks: VecDeque<Chunk>,
    bytes: usize,
    next_seq: u64,
    attempt: u32,
    attempt_start: u64,
    finished: bool,
}

/// The buffered result of one job.
#[derive(Debug, Default)]
pub struct ResultBuffer {
    state: Mutex<State>,
}

impl ResultBuffer {
    /// Bytes of unfetched chunks beyond which offers are refused.
    pub const CAPACITY: usize = 16 << 20;

    /// Attempt `attempt` of the sink offers a chunk (`last`: its final one, maybe empty).
    /// Answers whether it was taken; a refused chunk is offered again later. Chunks of an
    /// attempt older than the latest seen are dropped (as taken).
    pub fn offer(&self, attempt: u32, data: Vec<u8>, last: bool) -> bool {
        let mut s = self.state.lock();
        if attempt < s.attempt {
            return true;
        }
        if attempt > s.attempt {
            s.attempt = attempt;
            s.chunks.clear();
            s.bytes = 0;
            s.attempt_start = s.next_seq;
            s.finished = false;
        }
        if !data.is_empty() {
            if !s.chunks.is_empty() && s.bytes + data.len() > Self::CAPACITY {
                return false;
            }
            let seq = s.next_seq;
            s.next_seq += 1;
            s.bytes += data.len();
            s.chunks.push_back(Chunk { seq, data });
        }
        s.finished |= last;
        true
    }

    /// The chunks from number `from` on, up to about `max_bytes` (at least one); those before
    /// `from` are dropped (the client has them).
    pub fn fetch(&self, from: u64, max_bytes: usize) -> Fetched {
        let mut s = self.state.lock();
        while s.chunks.front().is_some_and(|c| c.seq < from) {
            if let Some(c) = s.chunks.pop_front() {
                s.bytes -= c.data.len();
            }
        }
        let mut chunks = Vec::new();
        let mut bytes = 0;
        for c in &s.chunks {
            if !chunks.is_empty() && bytes + c.data.len() > max_bytes {
                break;
            }
            bytes += c.data.len();
            chunks.push(c.clone());
        }
        let next = chunks
            .last()
            .map_or(from.max(s.attempt_start), |c| c.seq + 1);
        let next = if chunks.len() == s.chunks.len() {
            s.next_seq
        } else {
            next
        };
        Fetched {
            finished: s.finished && next == s.next_seq,
            chunks,
            next,
            attempt_start: s.attempt_start,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_come_in_order_and_go_once_fetched() {
        let b = ResultBuffer::default();
        assert!(b.offer(0, vec![1], false));
        assert!(b.offer(0, vec![2, 2], false));
        let f = b.fetch(0, usize::MAX);
        assert_eq!(f.chunks.len(), 2);
        assert_eq!((f.next, f.attempt_start, f.finished), (2, 0, false));
        assert!(b.offer(0, vec![], true));
        let f = b.fetch(2, usize::MAX);
        assert!(f.chunks.is_empty());
        assert_eq!((f.next, f.finished), (2, true));
    }

    #[test]
    fn a_full_buffer_refuses_until_fetched() {
        let b = ResultBuffer::default();
        assert!(b.offer(0, vec![0; ResultBuffer::CAPACITY - 10], false));
        assert!(!b.offer(0, vec![0; 20], false));
        b.fetch(1, usize::MAX);
        assert!(b.offer(0, vec![0; 20], false));
        // one chunk larger than the capacity passes an empty buffer
        let b = ResultBuffer::default();
        assert!(b.offer(0, vec![0; ResultBuffer::CAPACITY + 1], false));
    }

    #[test]
    fn a_new_attempt_restarts_the_result() {
        let b = ResultBuffer::default();
        b.offer(0, vec![1], false);
        b.offer(0, vec![2], false);
        assert_eq!(b.fetch(0, usize::MAX).chunks.len(), 2);
        // the client has chunks 0 and 1; attempt 1 starts over at 2
        assert!(b.offer(1, vec![3], false));
        assert!(
            b.offer(0, vec![9], false),
            "a late chunk of attempt 0 is dropped"
        );
        let f = b.fetch(0, usize::MAX);
        assert_eq!(f.attempt_start, 2);
        assert_eq!(
            f.chunks,
            [Chunk {
                seq: 2,
                data: vec![3]
            }]
        );
    }

    #[test]
    fn a_fetch_takes_about_max_bytes() {
        let b = ResultBuffer::default();
        for i in 0..5u8 {
            b.offer(0, vec![i; 10], i == 4);
        }
        let f = b.fetch(0, 25);
        assert_eq!(f.chunks.len(), 2);
        assert_eq!((f.next, f.finished), (2, false));
        let f = b.fetch(f.next, 1);
        assert_eq!(f.chunks.len(), 1, "at least one");
        let f = b.fetch(f.next, 100);
        assert_eq!((f.chunks.len(), f.next, f.finished), (2, 5, true));
    }
}
