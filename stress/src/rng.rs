//! The one deterministic PRNG of the workspace (the harness, the benches and the tests draw
//! from it) and a Zipf-like sampler for the stress workload.
//!
//! The stress run must reproduce the same base and the same op streams from a seed on every
//! platform and every crate version: the generator is `rand_xoshiro`'s xoshiro256** seeded
//! through SplitMix64, a fixed algorithm whose stream a test here pins; what is built on it
//! (bounded draws, shuffles, the Zipf sampler) is written here, since `rand`'s and
//! `rand_distr`'s do not promise the same values across their versions.

use rand_core::{Rng as _, SeedableRng};
use rand_xoshiro::Xoshiro256StarStar;

/// xoshiro256** seeded with SplitMix64: fast, small, and reproducible from one `u64`.
#[derive(Clone, Debug)]
pub struct Rng(Xoshiro256StarStar);

impl Rng {
    /// A generator whose whole stream is fixed by `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(Xoshiro256StarStar::seed_from_u64(seed))
    }

    /// An independent stream derived from `seed` and a stream number, so that image `i` of a
    /// run gets the same ops whatever the thread scheduling.
    pub fn derive(seed: u64, stream: u64) -> Rng {
        Rng::new(seed ^ stream.wrapping_mul(0xd134_2543_de82_ef95).rotate_left(17))
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `0..n` (0 when `n` is 0), by multiply-shift.
    #[inline]
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// Uniform in `lo..hi` (`lo` when the range is empty).
    #[inline]
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + self.below(hi.saturating_sub(lo))
    }

    /// Uniform in `[0, 1)`.
    #[inline]
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// True with probability `p`.
    #[inline]
    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Shuffles `v` in place (Fisher-Yates), the same way for a given stream everywhere.
    pub fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}

/// Picks ranks in `0..n` with probability roughly proportional to `1 / (rank + 1)^skew`.
///
/// Kept rather than `rand_distr::Zipf`: that one's values may change between its versions
/// (`rand`'s value-stability promise does not cover `rand_distr`), which would change every
/// stress run's ops for a seed, and it samples an exact Zipf law at more cost than needed.
///
/// The continuous inverse of a power law stands in for an exact Zipf table: one `powf` per
/// draw, no memory per object, and accurate enough to make a few objects hot for every image.
/// `skew` 0 is uniform.
#[derive(Clone, Copy, Debug)]
pub struct Zipf {
    n: usize,
    skew: f64,
    /// `(n + 1)^(1 - skew) - 1`, precomputed.
    span: f64,
}

impl Zipf {
    /// A sampler over `n` ranks.
    pub fn new(n: usize, skew: f64) -> Zipf {
        let span = if (skew - 1.0).abs() < 1e-9 {
            ((n + 1) as f64).ln()
        } else {
            ((n + 1) as f64).powf(1.0 - skew) - 1.0
        };
        Zipf { n, skew, span }
    }

    /// One rank, 0 the hottest.
    #[inline]
    pub fn sample(&self, rng: &mut Rng) -> usize {
        if self.n == 0 {
            return 0;
        }
        if self.skew <= 0.0 {
            return rng.below(self.n);
        }
        let u = rng.unit();
        let x = if (self.skew - 1.0).abs() < 1e-9 {
            (u * self.span).exp()
        } else {
            (u * self.span + 1.0).powf(1.0 / (1.0 - self.skew))
        };
        ((x as usize).saturating_sub(1)).min(self.n - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stream of a seed is xoshiro256** over SplitMix64's expansion of it, whatever the
    /// crate's version: the values the hand-written generator of earlier versions drew.
    #[test]
    fn the_stream_of_a_seed_never_changes() {
        let mut rng = Rng::new(7);
        let drawn: Vec<u64> = (0..3).map(|_| rng.next_u64()).collect();
        assert_eq!(
            drawn,
            [
                0xb358_faf7_4ef9_765a,
                0x475c_3d96_4f48_2cd2,
                0xd6f1_d349_952c_7996
            ]
        );
        assert_eq!(Rng::new(0x5eed_c0de).next_u64(), 0x4d2b_d56e_99bd_a4c1);
    }

    #[test]
    fn streams_are_reproducible_and_distinct() {
        let a: Vec<u64> = (0..4).map(|_| Rng::new(7).next_u64()).collect();
        assert!(a.windows(2).all(|w| w[0] == w[1]));
        assert_ne!(Rng::derive(7, 1).next_u64(), Rng::derive(7, 2).next_u64());
    }

    #[test]
    fn zipf_stays_in_range_and_is_skewed() {
        let mut rng = Rng::new(1);
        for skew in [0.0, 0.5, 1.0, 1.5] {
            let z = Zipf::new(1000, skew);
            let mut hot = 0;
            for _ in 0..10_000 {
                let r = z.sample(&mut rng);
                assert!(r < 1000);
                if r < 10 {
                    hot += 1;
                }
            }
            if skew >= 1.0 {
                assert!(hot > 2_000, "skew {skew}: {hot}");
            }
            if skew == 0.0 {
                assert!(hot < 300, "uniform: {hot}");
            }
        }
    }
}
