//! Seeded randomness for the link and DLMS engines, so that simulations repeat.

/// Randomness for the DLMS engines (HLS challenges; LLS needs none but the engines
/// require a source): a seeded stream, so simulations repeat.
#[derive(Debug, Clone)]
pub struct Seeded(std::cell::Cell<u64>);

impl Seeded {
    /// Stream `stream` of `seed`. The two are mixed (splitmix64's finalizer) before the
    /// state is forced odd, so that seeds differing only in their lowest bit (2 and 3,
    /// `seed ^ k` for neighbouring nodes) give different streams.
    #[must_use]
    pub fn new(seed: u64, stream: u64) -> Self {
        let mut z = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Self(std::cell::Cell::new(z | 1))
    }

    /// The next 64 bits (xorshift64*).
    pub fn next(&self) -> u64 {
        let mut x = self.0.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0.set(x);
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn unit(&self) -> f64 {
        #[allow(clippy::cast_precision_loss)]
        let v = (self.next() >> 11) as f64 / 9_007_199_254_740_992.0;
        v
    }

    /// Fill `out`.
    pub fn bytes(&self, out: &mut [u8]) {
        for chunk in out.chunks_mut(8) {
            let v = self.next().to_be_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

impl crate::link::pana::Entropy for Seeded {
    fn fill(&mut self, out: &mut [u8]) {
        self.bytes(out);
    }
}

impl dlms::client::Entropy for Seeded {
    fn fill(&self, out: &mut [u8]) -> bool {
        self.bytes(out);
        true
    }
}

/// The server engines' source (`Send + Clone`): one seeded stream that every call
/// continues, so two challenges are never the same bytes (a source that restarts at each
/// call hands out one "random" value for ever). Clones share the stream rather than copy
/// it, for the same reason: the engine may clone its source, and two copies of one state
/// would repeat each other.
#[derive(Debug, Clone)]
pub struct ServerEntropy(std::sync::Arc<std::sync::Mutex<Seeded>>);

impl ServerEntropy {
    /// Stream 7 of `seed` (the same seed gives the same stream, so simulations repeat).
    /// The seed is mixed first (splitmix64's finaliser): [`Seeded::new`] sets the low
    /// bit, so seeds differing only there (a terminal's `seed ^ k` for k = 2, 3) would
    /// otherwise share one stream.
    #[must_use]
    pub fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Self(std::sync::Arc::new(std::sync::Mutex::new(Seeded::new(
            z, 7,
        ))))
    }
}

impl dlms::server::Entropy for ServerEntropy {
    fn fill(&self, out: &mut [u8]) -> bool {
        match self.0.lock() {
            Ok(stream) => {
                stream.bytes(out);
                true
            }
            // A holder panicked mid-fill: say there is no entropy rather than guess.
            Err(_) => {
                tracing::error!("DLMS server entropy stream poisoned");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sec02_seeds_differing_in_their_lowest_bit_give_different_streams() {
        for (a, b) in [(2, 3), (42, 43), (0, 1)] {
            assert_ne!(
                Seeded::new(a, 5).next(),
                Seeded::new(b, 5).next(),
                "{a} {b}"
            );
        }
        assert_ne!(Seeded::new(7, 1).next(), Seeded::new(7, 2).next());
        assert_eq!(Seeded::new(7, 1).next(), Seeded::new(7, 1).next());
    }
    use dlms::server::Entropy as _;

    fn draw(e: &ServerEntropy) -> [u8; 16] {
        let mut b = [0u8; 16];
        assert!(e.fill(&mut b));
        b
    }

    #[test]
    fn sec02_server_entropy_is_a_stream_each_call_continues() {
        let e = ServerEntropy::new(1);
        let (a, b) = (draw(&e), draw(&e));
        assert_ne!(a, b, "two calls gave the same bytes");
        // A clone continues the same stream; it does not replay it.
        let c = draw(&e.clone());
        assert_ne!(c, a);
        assert_ne!(c, b);
    }

    #[test]
    fn sec02_server_entropy_same_seed_same_stream() {
        let (x, y) = (ServerEntropy::new(42), ServerEntropy::new(42));
        let xs: Vec<[u8; 16]> = (0..4).map(|_| draw(&x)).collect();
        let ys: Vec<[u8; 16]> = (0..4).map(|_| draw(&y)).collect();
        assert_eq!(xs, ys);
        // Neighbouring seeds (terminal k's `seed ^ k`) give streams of their own.
        for (a, b) in [(42, 43), (2, 3), (0, 1)] {
            assert_ne!(draw(&ServerEntropy::new(a)), draw(&ServerEntropy::new(b)));
        }
    }
}
