//! An exact port of the random number generator nexmark-flink draws from:
//! `java.util.SplittableRandom` (the generator switched from `java.util.Random` to it in
//! nexmark-flink's "Optimize nexmark source" change; `java.util.Random` is no longer used).
//!
//! Only the seeded constructor `new SplittableRandom(long seed)` and the draws the generator
//! makes are ported: `nextInt()`, `nextInt(bound)` (with its rejection loop), `nextLong()` and
//! `nextDouble()`. The algorithms are those of OpenJDK 8 to 25 (`SplittableRandom.mix32`/`mix64`,
//! `RandomSupport.boundedNextInt`, `RandomGenerator.nextDouble`); for the same seed the draws are
//! bit-identical to Java's. Java's no-argument constructor, which seeds from the clock, has no
//! counterpart: every generator here is seeded explicitly.

/// `SplittableRandom.GOLDEN_GAMMA`, the gamma of every generator made by the seeded constructor.
const GOLDEN_GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// `java.util.SplittableRandom` created by `new SplittableRandom(seed)`. Its whole state is the
/// 64-bit `seed` (the gamma is the constant [`GOLDEN_GAMMA`]), which [`SplittableRandom::state`]
/// exposes so that a generator can be checkpointed and resumed exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SplittableRandom {
    seed: u64,
}

impl SplittableRandom {
    /// `new SplittableRandom(seed)`.
    pub fn new(seed: i64) -> Self {
        Self::from_state(seed as u64)
    }

    /// A generator whose state (Java's `seed` field) is `state`; the inverse of [`Self::state`].
    pub fn from_state(state: u64) -> Self {
        Self { seed: state }
    }

    /// The generator's whole state (Java's private `seed` field).
    pub fn state(&self) -> u64 {
        self.seed
    }

    /// `nextSeed()`: `seed += gamma`.
    #[inline]
    fn next_seed(&mut self) -> u64 {
        self.seed = self.seed.wrapping_add(GOLDEN_GAMMA);
        self.seed
    }

    /// `nextInt()`: a uniform 32-bit int.
    #[inline]
    pub fn next_int(&mut self) -> i32 {
        mix32(self.next_seed())
    }

    /// `nextLong()`: a uniform 64-bit long.
    #[inline]
    pub fn next_long(&mut self) -> i64 {
        mix64(self.next_seed()) as i64
    }

    /// `nextInt(bound)`: uniform in `[0, bound)`; a power-of-two bound masks the first draw,
    /// any other rejects over-represented draws exactly as `RandomSupport.boundedNextInt` does.
    ///
    /// # Panics
    /// If `bound <= 0` (Java throws `IllegalArgumentException`).
    #[inline]
    pub fn next_int_bounded(&mut self, bound: i32) -> i32 {
        assert!(bound > 0, "bound must be positive, got {bound}");
        let m = bound - 1;
        let r = self.next_int();
        if bound & m == 0 {
            return r & m;
        }
        // for (int u = r >>> 1; u + m - (r = u % bound) < 0; u = rng.nextInt() >>> 1);
        let mut u = ((r as u32) >> 1) as i32;
        loop {
            let r = u % bound;
            if u.wrapping_add(m).wrapping_sub(r) >= 0 {
                return r;
            }
            u = ((self.next_int() as u32) >> 1) as i32;
        }
    }

    /// `nextDouble()`: `(nextLong() >>> 11) * 0x1.0p-53`, uniform in `[0, 1)`.
    #[inline]
    pub fn next_double(&mut self) -> f64 {
        const DOUBLE_UNIT: f64 = 1.0 / (1u64 << 53) as f64;
        ((self.next_long() as u64) >> 11) as f64 * DOUBLE_UNIT
    }
}

/// `SplittableRandom.mix64` (Stafford's variant 13 of the MurmurHash3 finalizer).
#[inline]
fn mix64(z: u64) -> u64 {
    let z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `SplittableRandom.mix32`: the high 32 bits of Stafford's variant 4.
#[inline]
fn mix32(z: u64) -> i32 {
    let z = (z ^ (z >> 33)).wrapping_mul(0x62a9_d9ed_7997_05f5);
    ((z ^ (z >> 28)).wrapping_mul(0xcb24_d0a5_c88c_35b3) >> 32) as u32 as i32
}

#[cfg(test)]
mod tests {
    use super::SplittableRandom;

    /// Values printed by OpenJDK 17 for `new SplittableRandom(42)` and
    /// `new SplittableRandom(-7)`.
    #[test]
    fn matches_java() {
        let mut r = SplittableRandom::new(42);
        let ints: Vec<i32> = (0..4).map(|_| r.next_int()).collect();
        assert_eq!(ints, JAVA_INTS_42);
        let mut r = SplittableRandom::new(42);
        let longs: Vec<i64> = (0..3).map(|_| r.next_long()).collect();
        assert_eq!(longs, JAVA_LONGS_42);
        let mut r = SplittableRandom::new(-7);
        let bounded: Vec<i32> = [13, 26, 10_000, 16, 1_000_000_007, 2_000_000_000, 1]
            .iter()
            .map(|&b| r.next_int_bounded(b))
            .collect();
        assert_eq!(bounded, JAVA_BOUNDED_M7);
        let mut r = SplittableRandom::new(-7);
        let doubles: Vec<u64> = (0..3).map(|_| r.next_double().to_bits()).collect();
        assert_eq!(doubles, JAVA_DOUBLE_BITS_M7);
    }

    #[test]
    fn state_round_trips() {
        let mut a = SplittableRandom::new(5);
        a.next_long();
        let mut b = SplittableRandom::from_state(a.state());
        assert_eq!(a.next_int(), b.next_int());
    }

    const JAVA_INTS_42: [i32; 4] = [-491_277_234, 909_395_113, -1_877_322_334, -1_024_560_952];
    const JAVA_LONGS_42: [i64; 3] = [
        -4_767_286_540_954_276_203,
        2_949_826_092_126_892_291,
        5_139_283_748_462_763_858,
    ];
    const JAVA_BOUNDED_M7: [i32; 7] = [9, 16, 7421, 5, 275_236_486, 1_538_603_233, 0];
    const JAVA_DOUBLE_BITS_M7: [u64; 3] = [
        0x3fdb_0786_1910_e08a,
        0x3fde_a1fd_36af_3c64,
        0x3fed_0627_fc3a_e6a0,
    ];

    /// The rejection loop: 1000 draws of `nextInt(1_500_000_001)` (about 30% of first draws are
    /// rejected), folded as `sum = sum * 31 + draw` in Java's wrapping `long`, then `nextLong()`.
    #[test]
    fn rejection_loop_matches_java() {
        let mut r = SplittableRandom::new(1);
        let mut sum = 0i64;
        for _ in 0..1000 {
            sum = sum
                .wrapping_mul(31)
                .wrapping_add(i64::from(r.next_int_bounded(1_500_000_001)));
        }
        assert_eq!(sum, 3_065_134_052_916_608_528);
        assert_eq!(r.next_long(), -4_884_591_771_525_343_772);
    }
}
