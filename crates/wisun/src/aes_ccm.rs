//! AES-128-CCM (RFC 3610, NIST SP 800-38C) as CCM* uses it: a 13-byte nonce (so a
//! 2-byte length field, L = 2) and a MIC of 4, 8 or 16 bytes.
//!
//! Ours rather than the `ccm` crate's, for speed on the frame path: CCM is a CBC-MAC,
//! one AES block after the other (each waits for the previous), plus a counter-mode
//! keystream whose blocks are independent. The `ccm` crate runs the two one after the
//! other; here each CBC-MAC step encrypts a counter block alongside, so the processor
//! overlaps the two AES computations and the keystream costs almost nothing (about
//! 15 % less time per seal or open of a 100-byte frame; docs/benchmarks.md). The cipher
//! is `Aes128Enc` (CCM never decrypts a block, so no inverse key schedule).
//! `tests::*` and `tests/proptest_formats.rs` hold it to the `ccm` crate byte for byte.

use aes::cipher::consts::U16;
use aes::cipher::{BlockBackend, BlockClosure, BlockEncrypt, BlockSizeUser, KeyInit};
use aes::{Aes128Enc, Block};
use subtle::ConstantTimeEq;

/// The CCM* nonce length: 15 − L with L = 2.
pub const NONCE_LEN: usize = 13;
const L: usize = 15 - NONCE_LEN;
const BLOCK: usize = 16;
/// The longest `a` encoded with the 2-byte length prefix (RFC 3610 §2.2); a frame's
/// header is far shorter.
const MAX_A_LEN: usize = 0xFEFF;
/// The longest `m` a 2-byte length field holds.
const MAX_M_LEN: usize = 0xFFFF;

/// A MIC (the encrypted CBC-MAC's first 4, 8 or 16 bytes), without an allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mic {
    bytes: [u8; 16],
    len: usize,
}

impl Mic {
    /// The MIC's bytes.
    #[must_use]
    pub fn as_slice(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or_default()
    }
}

/// One key's AES-128 encryption schedule.
pub struct AesCcm {
    cipher: Aes128Enc,
}

impl core::fmt::Debug for AesCcm {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("AesCcm(..)")
    }
}

/// Blocks travel as `u128` (big-endian): XOR and counter arithmetic stay in registers,
/// and a block goes to memory whole, so the processor never waits on a partial store.
fn load(bytes: &[u8]) -> u128 {
    match <[u8; BLOCK]>::try_from(bytes) {
        Ok(b) => u128::from_be_bytes(b),
        Err(_) => {
            // The last, partial block: zero-padded (RFC 3610 §2.2).
            let mut b = [0u8; BLOCK];
            let n = bytes.len().min(BLOCK);
            b[..n].copy_from_slice(&bytes[..n]);
            u128::from_be_bytes(b)
        }
    }
}

fn store(dst: &mut [u8], x: u128) {
    let b = x.to_be_bytes();
    match <&mut [u8; BLOCK]>::try_from(&mut *dst) {
        Ok(whole) => *whole = b,
        Err(_) => {
            let n = dst.len().min(BLOCK);
            dst[..n].copy_from_slice(&b[..n]);
        }
    }
}

/// `B_0` and the counter block `A_0` (add `i` for `A_i`).
fn first_blocks(
    nonce: &[u8; NONCE_LEN],
    mic_len: usize,
    adata: bool,
    m_len: usize,
) -> (u128, u128) {
    let mut b = [0u8; BLOCK];
    b[0] = (L - 1) as u8;
    b[1..=NONCE_LEN].copy_from_slice(nonce);
    let a0 = u128::from_be_bytes(b);
    b[0] |= (u8::from(adata) << 6) | ((((mic_len - 2) / 2) as u8) << 3);
    b[14..].copy_from_slice(&(m_len as u16).to_be_bytes());
    (u128::from_be_bytes(b), a0)
}

/// The CBC-MAC's input after `B_0`: `a` behind its 2-byte length, zero-padded to whole
/// blocks (none when `a` is empty).
struct Adata<'a> {
    a: &'a [u8],
    first: bool,
}

impl<'a> Adata<'a> {
    const fn new(a: &'a [u8]) -> Self {
        Self {
            a,
            first: !a.is_empty(),
        }
    }

    fn next_block(&mut self) -> Option<u128> {
        if self.first {
            self.first = false;
            let mut b = [0u8; BLOCK];
            b[..2].copy_from_slice(&(self.a.len() as u16).to_be_bytes());
            let n = self.a.len().min(BLOCK - 2);
            b[2..2 + n].copy_from_slice(&self.a[..n]);
            self.a = &self.a[n..];
            return Some(u128::from_be_bytes(b));
        }
        if self.a.is_empty() {
            return None;
        }
        let n = self.a.len().min(BLOCK);
        let block = load(&self.a[..n]);
        self.a = &self.a[n..];
        Some(block)
    }
}

/// The AES of one CCM computation, run inside the cipher's backend (see
/// [`AesCcm::seal`]): every block call inlines, with the round keys in registers.
struct Aes<'b, B>(&'b mut B);

impl<B: BlockBackend<BlockSize = U16>> Aes<'_, B> {
    #[inline(always)]
    fn encrypt(&mut self, x: u128) -> u128 {
        let mut b = Block::from(x.to_be_bytes());
        self.0.proc_block((&mut b).into());
        u128::from_be_bytes(b.into())
    }

    /// Two independent blocks back to back: the processor overlaps them.
    #[inline(always)]
    fn encrypt_pair(&mut self, x: u128, y: u128) -> (u128, u128) {
        (self.encrypt(x), self.encrypt(y))
    }

    /// The CBC-MAC over `B_0` and `a`, with `S_0`, `S_1`, ... computed alongside into
    /// `keystream` (one per prefix block, as many as it holds): the MAC state and how
    /// many keystream blocks are ready.
    #[inline(always)]
    fn mac_prefix(
        &mut self,
        b0: u128,
        a0: u128,
        a: &[u8],
        keystream: &mut [u128],
    ) -> (u128, usize) {
        let mut adata = Adata::new(a);
        let mut block = Some(b0);
        let mut state = 0u128;
        let mut ready = 0;
        while let Some(b) = block {
            if let Some(s) = keystream.get_mut(ready) {
                (state, *s) = self.encrypt_pair(state ^ b, a0 + ready as u128);
                ready += 1;
            } else {
                state = self.encrypt(state ^ b);
            }
            block = adata.next_block();
        }
        (state, ready)
    }

    #[inline(always)]
    fn seal(&mut self, nonce: &[u8; NONCE_LEN], mic_len: usize, a: &[u8], m: &mut [u8]) -> u128 {
        let (b0, a0) = first_blocks(nonce, mic_len, !a.is_empty(), m.len());
        // S_0 (for the MIC) and the first keystream blocks ride along the prefix.
        let mut ahead = [0u128; 4];
        let (mut state, ready) = self.mac_prefix(b0, a0, a, &mut ahead);
        for (i, chunk) in m.chunks_mut(BLOCK).enumerate() {
            let index = i + 1;
            let plain = load(chunk);
            let x = state ^ plain;
            let s = if let Some(s) = ahead.get(index).filter(|_| index < ready) {
                state = self.encrypt(x);
                *s
            } else {
                let s;
                (state, s) = self.encrypt_pair(x, a0 + index as u128);
                s
            };
            store(chunk, plain ^ s);
        }
        state ^ ahead[0]
    }

    #[inline(always)]
    fn open(&mut self, nonce: &[u8; NONCE_LEN], mic_len: usize, a: &[u8], c: &mut [u8]) -> u128 {
        let (b0, a0) = first_blocks(nonce, mic_len, !a.is_empty(), c.len());
        // Each block's keystream must be known before its plaintext enters the MAC: S_0
        // and S_1 (at least) ride along the prefix, then S_{i+1} along step i.
        let mut ahead = [0u128; 4];
        let (mut state, ready) = self.mac_prefix(b0, a0, a, &mut ahead);
        let mut next = match ahead.get(1).filter(|_| ready > 1) {
            Some(s) => *s,
            None if !c.is_empty() => self.encrypt(a0 + 1),
            None => 0,
        };
        let blocks = c.len().div_ceil(BLOCK);
        for (i, chunk) in c.chunks_mut(BLOCK).enumerate() {
            let index = i + 1;
            let plain = load(chunk) ^ next;
            store(chunk, plain);
            // A partial block enters the MAC zero-padded, not with keystream behind it.
            let x = state
                ^ if chunk.len() == BLOCK {
                    plain
                } else {
                    load(chunk)
                };
            if let Some(s) = ahead.get(index + 1).filter(|_| index + 1 < ready) {
                state = self.encrypt(x);
                next = *s;
            } else if index < blocks {
                (state, next) = self.encrypt_pair(x, a0 + index as u128 + 1);
            } else {
                state = self.encrypt(x);
            }
        }
        state ^ ahead[0]
    }
}

/// A seal or an open, handed to the cipher's backend as one closure (the `cipher`
/// crate's way to run several blocks with the AES instructions enabled throughout).
enum Job<'a> {
    Seal {
        nonce: &'a [u8; NONCE_LEN],
        mic_len: usize,
        a: &'a [u8],
        m: &'a mut [u8],
        tag: &'a mut u128,
    },
    Open {
        nonce: &'a [u8; NONCE_LEN],
        mic_len: usize,
        a: &'a [u8],
        c: &'a mut [u8],
        tag: &'a mut u128,
    },
}

impl BlockSizeUser for Job<'_> {
    type BlockSize = U16;
}

impl BlockClosure for Job<'_> {
    #[inline(always)]
    fn call<B: BlockBackend<BlockSize = U16>>(self, backend: &mut B) {
        let mut aes = Aes(backend);
        match self {
            Job::Seal {
                nonce,
                mic_len,
                a,
                m,
                tag,
            } => *tag = aes.seal(nonce, mic_len, a, m),
            Job::Open {
                nonce,
                mic_len,
                a,
                c,
                tag,
            } => *tag = aes.open(nonce, mic_len, a, c),
        }
    }
}

impl AesCcm {
    /// The key schedule for `key`.
    #[must_use]
    pub fn new(key: &[u8; 16]) -> Self {
        Self {
            cipher: Aes128Enc::new(key.into()),
        }
    }

    /// Encrypt `m` in place and return the MIC (`mic_len` 4, 8 or 16) over `a` and `m`;
    /// `None` for another MIC length or lengths a 2-byte field cannot hold.
    #[must_use]
    pub fn seal(
        &self,
        nonce: &[u8; NONCE_LEN],
        mic_len: usize,
        a: &[u8],
        m: &mut [u8],
    ) -> Option<Mic> {
        if !matches!(mic_len, 4 | 8 | 16) || a.len() > MAX_A_LEN || m.len() > MAX_M_LEN {
            return None;
        }
        let mut tag = 0;
        self.cipher.encrypt_with_backend(Job::Seal {
            nonce,
            mic_len,
            a,
            m,
            tag: &mut tag,
        });
        let mut mic = Mic {
            bytes: tag.to_be_bytes(),
            len: mic_len,
        };
        mic.bytes[mic_len..].fill(0);
        Some(mic)
    }

    /// Check `mic` over `a` and the plaintext of `c`, decrypting `c` in place. On a
    /// mismatch (or lengths [`AesCcm::seal`] refuses) returns false and zeroes `c`, so no
    /// unauthenticated plaintext is left behind.
    #[must_use]
    pub fn open(&self, nonce: &[u8; NONCE_LEN], a: &[u8], c: &mut [u8], mic: &[u8]) -> bool {
        let mic_len = mic.len();
        if !matches!(mic_len, 4 | 8 | 16) || a.len() > MAX_A_LEN || c.len() > MAX_M_LEN {
            c.fill(0);
            return false;
        }
        let mut tag = 0u128;
        self.cipher.encrypt_with_backend(Job::Open {
            nonce,
            mic_len,
            a,
            c: &mut *c,
            tag: &mut tag,
        });
        let ok: bool = tag.to_be_bytes()[..mic_len].ct_eq(mic).into();
        if !ok {
            c.fill(0);
        }
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ccm::aead::{generic_array::GenericArray, AeadInPlace};
    use ccm::consts::{U13, U16, U4, U8};
    use ccm::Ccm;

    /// The `ccm` crate's answer: (ciphertext, tag).
    fn reference(key: &[u8; 16], nonce: &[u8; 13], mic: usize, a: &[u8], m: &[u8]) -> Vec<u8> {
        let mut buf = m.to_vec();
        let n = GenericArray::from_slice(nonce);
        let tag: Vec<u8> = match mic {
            4 => Ccm::<aes::Aes128, U4, U13>::new(key.into())
                .encrypt_in_place_detached(n, a, &mut buf)
                .unwrap()
                .to_vec(),
            8 => Ccm::<aes::Aes128, U8, U13>::new(key.into())
                .encrypt_in_place_detached(n, a, &mut buf)
                .unwrap()
                .to_vec(),
            _ => Ccm::<aes::Aes128, U16, U13>::new(key.into())
                .encrypt_in_place_detached(n, a, &mut buf)
                .unwrap()
                .to_vec(),
        };
        buf.extend(tag);
        buf
    }

    fn bytes(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    #[test]
    fn sec03_equals_the_ccm_crate_for_every_length_up_to_three_keystream_runs() {
        let key = [0x5a; 16];
        let nonce: [u8; 13] = core::array::from_fn(|i| i as u8);
        let ccm = AesCcm::new(&key);
        for mic in [4, 8, 16] {
            for a_len in [0, 1, 13, 14, 15, 27, 30, 46, 47, 80] {
                for m_len in 0..=70 {
                    let a = bytes(a_len, 1);
                    let plain = bytes(m_len, 2);
                    let mut m = plain.clone();
                    let tag = ccm.seal(&nonce, mic, &a, &mut m).unwrap();
                    let mut ours = m.clone();
                    ours.extend_from_slice(tag.as_slice());
                    let want = reference(&key, &nonce, mic, &a, &plain);
                    assert_eq!(ours, want, "mic {mic}, a {a_len}, m {m_len}");
                    assert!(ccm.open(&nonce, &a, &mut m, tag.as_slice()));
                    assert_eq!(m, plain);
                }
            }
        }
    }

    #[test]
    fn sec03_a_changed_byte_anywhere_fails_and_leaves_no_plaintext() {
        let key = [7; 16];
        let nonce = [9; 13];
        let ccm = AesCcm::new(&key);
        let a = bytes(27, 3);
        let plain = bytes(100, 4);
        let mut sealed = plain.clone();
        let tag = ccm.seal(&nonce, 4, &a, &mut sealed).unwrap();
        for i in 0..a.len() + sealed.len() + 4 {
            let (mut a2, mut c2, mut t2) = (a.clone(), sealed.clone(), tag.as_slice().to_vec());
            if i < a.len() {
                a2[i] ^= 0x80;
            } else if i < a.len() + c2.len() {
                c2[i - a.len()] ^= 0x80;
            } else {
                t2[i - a.len() - c2.len()] ^= 0x80;
            }
            assert!(!ccm.open(&nonce, &a2, &mut c2, &t2), "byte {i}");
            assert!(c2.iter().all(|b| *b == 0), "byte {i}: plaintext zeroed");
        }
        let mut other_nonce = nonce;
        other_nonce[12] ^= 1;
        let mut c = sealed.clone();
        assert!(!ccm.open(&other_nonce, &a, &mut c, tag.as_slice()));
    }

    #[test]
    fn sec03_other_mic_lengths_and_oversized_inputs_are_refused() {
        let ccm = AesCcm::new(&[1; 16]);
        let nonce = [0; 13];
        let mut m = vec![0; 8];
        for mic in [0, 2, 6, 10, 12, 14, 32] {
            assert_eq!(ccm.seal(&nonce, mic, b"a", &mut m), None, "{mic}");
        }
        assert_eq!(ccm.seal(&nonce, 4, &vec![0; MAX_A_LEN + 1], &mut m), None);
        let mut long = vec![0; MAX_M_LEN + 1];
        assert_eq!(ccm.seal(&nonce, 4, b"a", &mut long), None);
        let mut c = vec![1; 8];
        assert!(!ccm.open(&nonce, b"a", &mut c, &[0; 6]));
        assert_eq!(c, vec![0; 8]);
    }
}
