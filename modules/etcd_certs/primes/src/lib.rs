//! Random primes for RSA keys, behind non-generic entry points.
//!
//! The prime search (sieve, Miller-Rabin, Lucas: `crypto-primes` over `crypto-bigint`) is generic
//! code, so it is compiled in whichever crate names the concrete sizes. Naming them here, in a
//! crate the workspace builds at `opt-level = "s"` instead of the binaries' `"z"`, makes RSA-2048
//! key generation almost twice as fast (~50 ms, faster than `openssl genpkey`) for ~10 KiB.

use crypto_bigint::{Encoding, Uint, U1024, U1536, U2048};
use crypto_primes::hazmat::{random_odd_uint, Sieve};
use rand_core::OsRng;
use zeroize::Zeroizing;

/// A random prime of exactly `bits` bits whose two top bits are set (so the product of two such
/// primes has exactly `2 * bits` bits), big-endian. `None` for sizes other than 1024, 1536 and
/// 2048 (the halves of RSA-2048, RSA-3072 and RSA-4096).
pub fn rsa_prime(bits: usize) -> Option<Zeroizing<Vec<u8>>> {
    match bits {
        1024 => Some(search::<{ U1024::LIMBS }>(bits, |p| {
            p.to_be_bytes().to_vec()
        })),
        1536 => Some(search::<{ U1536::LIMBS }>(bits, |p| {
            p.to_be_bytes().to_vec()
        })),
        2048 => Some(search::<{ U2048::LIMBS }>(bits, |p| {
            p.to_be_bytes().to_vec()
        })),
        _ => None,
    }
}

fn search<const L: usize>(
    bits: usize,
    to_bytes: impl Fn(&Uint<L>) -> Vec<u8>,
) -> Zeroizing<Vec<u8>> {
    loop {
        let start: Uint<L> = random_odd_uint(&mut OsRng, bits) | (Uint::<L>::ONE << (bits - 2));
        // The sieve walks upwards from `start` and stops before the size grows, so every
        // candidate keeps the two top bits.
        for candidate in Sieve::new(&start, bits, false) {
            if crypto_primes::is_prime_with_rng(&mut OsRng, &candidate) {
                return Zeroizing::new(to_bytes(&candidate));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primes_have_the_size_and_top_bits_asked_for() {
        let p = rsa_prime(1024).unwrap();
        assert_eq!(p.len(), 128);
        assert_eq!(p[0] & 0xc0, 0xc0, "two top bits set");
        assert_eq!(p[127] & 1, 1, "odd");
        let p = U1024::from_be_slice(&p);
        assert!(crypto_primes::is_prime_with_rng(&mut OsRng, &p));
        assert!(rsa_prime(512).is_none());
    }
}
