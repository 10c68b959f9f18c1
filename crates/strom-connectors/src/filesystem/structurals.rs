//! The field and line ends of CSV text, found 64 bytes at a time with SIMD compares.
//!
//! [`Structurals`] walks the positions of the delimiter, newline and double-quote bytes of a
//! buffer in order. It compares each 64-byte block with the three bytes at once (`wide`'s 16-lane compares
//! and move-masks: SSE2 on every x86-64, NEON on ARM) and then hands out the set bits of the
//! block's mask one by one. One pass over the text finds every line and field end; searching
//! each field with `memchr` called the search once per field, and its set-up cost outweighed
//! the search on fields of a few bytes.

use wide::u8x16;

/// Bytes per block.
const BLOCK: usize = 64;

/// The delimiter, newline and quote positions of a buffer, in order.
pub struct Structurals<'a> {
    data: &'a [u8],
    delim: u8x16,
    newline: u8x16,
    quote: u8x16,
    /// Fills the bytes past the end of the last, short block: none of the three.
    pad: u8,
    /// Offset of the block `bits` belongs to.
    base: usize,
    /// The positions of that block not handed out yet (bit `i`: byte `base + i`).
    bits: u64,
}

impl<'a> Structurals<'a> {
    /// Positioned at the start of `data`.
    pub fn new(data: &'a [u8], delim: u8) -> Self {
        let mut s = Self {
            data,
            delim: u8x16::splat(delim),
            newline: u8x16::splat(b'\n'),
            quote: u8x16::splat(b'"'),
            pad: if delim == 0 { 1 } else { 0 },
            base: 0,
            bits: 0,
        };
        s.seek(0);
        s
    }

    /// The next call of [`next`](Self::next) returns the first position at or after `pos`.
    #[inline]
    pub fn seek(&mut self, pos: usize) {
        self.base = pos / BLOCK * BLOCK;
        self.bits = if self.base < self.data.len() {
            self.mask(self.base) & (u64::MAX << (pos % BLOCK))
        } else {
            0
        };
    }

    /// The position of the next delimiter, newline or quote; `None` past the last one.
    #[inline]
    pub fn next(&mut self) -> Option<usize> {
        while self.bits == 0 {
            self.base += BLOCK;
            if self.base >= self.data.len() {
                self.base = self.data.len().next_multiple_of(BLOCK);
                return None;
            }
            self.bits = self.mask(self.base);
        }
        let i = self.bits.trailing_zeros() as usize;
        self.bits &= self.bits - 1;
        Some(self.base + i)
    }

    /// Bit `i` set where byte `start + i` is the delimiter, a newline or a quote.
    #[inline]
    fn mask(&self, start: usize) -> u64 {
        match self.data.get(start..start + BLOCK) {
            Some(block) => self.block_mask(block),
            None => {
                let mut padded = [self.pad; BLOCK];
                let rest = &self.data[start..];
                padded[..rest.len()].copy_from_slice(rest);
                self.block_mask(&padded)
            }
        }
    }

    #[inline(always)]
    fn block_mask(&self, block: &[u8]) -> u64 {
        let mut m = 0u64;
        for (k, lane) in block.chunks_exact(16).enumerate() {
            let v = u8x16::from(<[u8; 16]>::try_from(lane).unwrap_or_default());
            let hits = v.simd_eq(self.delim) | v.simd_eq(self.newline) | v.simd_eq(self.quote);
            m |= u64::from(hits.to_bitmask() as u16) << (16 * k);
        }
        m
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn naive(data: &[u8], delim: u8, from: usize) -> Vec<usize> {
        (from..data.len())
            .filter(|&i| data[i] == delim || data[i] == b'\n' || data[i] == b'"')
            .collect()
    }

    proptest! {
        /// Every delimiter, newline and quote, in order, from any starting point, for any length
        /// (short tails included) and any delimiter (NUL included).
        #[test]
        fn finds_what_a_byte_by_byte_scan_finds(
            data in proptest::collection::vec(
                prop_oneof![Just(b','), Just(b'\n'), Just(b'"'), Just(0u8), Just(b'\t'), any::<u8>()], 0..400),
            delim in prop_oneof![Just(b','), Just(b'\t'), Just(0u8), Just(b'|')],
            from in 0usize..420,
        ) {
            let mut s = Structurals::new(&data, delim);
            s.seek(from);
            let got: Vec<usize> = std::iter::from_fn(|| s.next()).collect();
            prop_assert_eq!(got, naive(&data, delim, from));
            prop_assert_eq!(s.next(), None);
        }
    }
}
