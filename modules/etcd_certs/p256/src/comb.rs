//! `k·G` in constant time, with a comb of precomputed multiples of the generator.
//!
//! `p256` multiplies the generator like any point: 256 doublings and 64 additions, each addition
//! choosing its summand among 16 in constant time. A comb (Lim and Lee) spends a one-time table
//! to do the same with 32 doublings and 64 additions, over twice as fast, which pays from the
//! first multiplication in a process (key generation, signing, the public key of a key
//! read from a file). The scalar is secret here, so like `p256`'s code this one never branches
//! on it nor indexes memory with it: every table entry is read for every choice, and the
//! additions are `p256`'s complete formulas (no special case for the identity).
//!
//! Layout: bit `p` of the scalar, with `p = i + 32·c + 64·t` (`i` < 32, comb `c` < 2, tooth
//! `t` < 4), selects `2^(32·c + 64·t)·G` at step `i`, and the `31 - i` doublings that follow
//! make it `2^p·G`. Entry `j` of comb `c` is the sum of the teeth whose bit is set in `j`.

use p256::elliptic_curve::group::Group;
use p256::elliptic_curve::subtle::{ConditionallySelectable, ConstantTimeEq};
use p256::{ProjectivePoint, Scalar};
use std::sync::OnceLock;
use zeroize::Zeroizing;

const STEPS: usize = 32;
const COMBS: usize = 2;
const TEETH: usize = 4;
const ENTRIES: usize = 1 << TEETH;

/// Projective, not affine: `p256` 0.13 has no batch inversion for its field, and 30 single
/// inversions would cost more than the mixed additions save.
type Table = [[ProjectivePoint; ENTRIES]; COMBS];

/// `k·G`, in constant time.
pub fn mul_by_generator(k: &Scalar) -> ProjectivePoint {
    let table = TABLE.get_or_init(table);
    let bytes = Zeroizing::new(k.to_bytes());
    // Bit `p` of the big-endian scalar.
    let bit = |p: usize| (bytes[31 - p / 8] >> (p % 8)) & 1;
    let mut acc = ProjectivePoint::IDENTITY;
    for i in (0..STEPS).rev() {
        acc = acc.double();
        for (c, entries) in table.iter().enumerate() {
            let index = (0..TEETH).fold(0u8, |index, t| {
                index | bit(i + STEPS * c + STEPS * COMBS * t) << t
            });
            acc += select(entries, index);
        }
    }
    acc
}

/// `entries[index]`, reading every entry.
fn select(entries: &[ProjectivePoint; ENTRIES], index: u8) -> ProjectivePoint {
    let mut chosen = ProjectivePoint::IDENTITY;
    for (j, entry) in (0u8..).zip(entries) {
        chosen.conditional_assign(entry, j.ct_eq(&index));
    }
    chosen
}

static TABLE: OnceLock<Table> = OnceLock::new();

/// The comb's entries, made once per process: 224 doublings and 22 additions, less than one
/// multiplication the usual way.
fn table() -> Table {
    // teeth[m] = 2^(32·m)·G
    let mut teeth = [ProjectivePoint::GENERATOR; COMBS * TEETH];
    for m in 1..teeth.len() {
        teeth[m] = teeth[m - 1];
        for _ in 0..STEPS {
            teeth[m] = teeth[m].double();
        }
    }
    let mut table = [[ProjectivePoint::IDENTITY; ENTRIES]; COMBS];
    for (c, entries) in table.iter_mut().enumerate() {
        for j in 1..ENTRIES {
            // The entry without its lowest set bit, plus that bit's tooth.
            let low = j.trailing_zeros() as usize;
            entries[j] = entries[j & (j - 1)] + teeth[c + COMBS * low];
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::elliptic_curve::ops::Reduce;
    use p256::elliptic_curve::Field;
    use p256::U256;

    fn generic(k: &Scalar) -> p256::AffinePoint {
        (ProjectivePoint::GENERATOR * k).to_affine()
    }

    #[test]
    fn the_comb_agrees_with_generic_multiplication() {
        let mut scalars = vec![
            Scalar::ZERO,
            Scalar::ONE,
            -Scalar::ONE,
            Scalar::from(2u64),
            Scalar::reduce(U256::ONE.shl_vartime(255)),
            Scalar::reduce(U256::MAX),
        ];
        // Every single bit, so every tooth of every comb at every step is used.
        scalars.extend((0..256).map(|p| Scalar::reduce(U256::ONE.shl_vartime(p))));
        scalars.extend((0..64).map(|_| Scalar::random(&mut rand_core::OsRng)));
        for k in &scalars {
            assert_eq!(mul_by_generator(k).to_affine(), generic(k), "{k:?}");
        }
    }
}
