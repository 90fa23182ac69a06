//! The one deterministic PRNG of the workspace (the harness, the benches and the tests draw
//! from it) and a Zipf-like sampler for the stress workload.
//!
//! Written by hand rather than pulled from `rand`: the stress run must reproduce the same base
//! and the same op streams from a seed on every platform and every crate version, and
//! xoshiro256** seeded through SplitMix64 is twenty lines whose output never changes.

/// xoshiro256** seeded with SplitMix64: fast, small, and reproducible from one `u64`.
#[derive(Clone, Debug)]
pub struct Rng {
    s: [u64; 4],
}

impl Rng {
    /// A generator whose whole stream is fixed by `seed`.
    pub fn new(seed: u64) -> Rng {
        let mut sm = seed;
        let mut next = || {
            sm = sm.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = sm;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        Rng {
            s: [next(), next(), next(), next()],
        }
    }

    /// An independent stream derived from `seed` and a stream number, so that image `i` of a
    /// run gets the same ops whatever the thread scheduling.
    pub fn derive(seed: u64, stream: u64) -> Rng {
        Rng::new(seed ^ stream.wrapping_mul(0xd134_2543_de82_ef95).rotate_left(17))
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let result = self.s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = self.s[1] << 17;
        self.s[2] ^= self.s[0];
        self.s[3] ^= self.s[1];
        self.s[1] ^= self.s[2];
        self.s[0] ^= self.s[3];
        self.s[2] ^= t;
        self.s[3] = self.s[3].rotate_left(45);
        result
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
