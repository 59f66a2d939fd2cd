//! `a·G + b·Q` in variable time, for signature verification only (every input is public).
//!
//! `p256` computes it as two constant-time multiplications: 512 doublings with complete
//! formulas. Here both scalars are written in width-5 non-adjacent form (digits odd or zero,
//! below 16 in size, at least four zeros after each non-zero one) and share one chain of 257
//! doublings (Straus), adding a precomputed odd multiple of `G` or `Q` for about one bit in
//! six, all in Jacobian coordinates ([`crate::jacobian`]): ~2.5 times faster.

use crate::jacobian::{Affine, Jacobian};
use p256::{AffinePoint, FieldBytes, Scalar};
use std::sync::OnceLock;

const WIDTH: u32 = 5;
/// The odd multiples `1·P, 3·P, ..., 15·P`.
const ODD_MULTIPLES: usize = 1 << (WIDTH - 2);
/// A scalar below 2^256 has at most 257 digits.
const DIGITS: usize = 257;

/// The affine `x` of `a·G + b·q`, big-endian; `None` when the sum is the identity. Variable
/// time: never use it with a secret scalar.
pub fn lincomb_x_vartime(a: &Scalar, b: &Scalar, q: &Affine) -> Option<FieldBytes> {
    let g_multiples = G_MULTIPLES.get_or_init(generator_multiples).as_ref()?;
    let q_multiples = odd_multiples(q);
    let (a_digits, b_digits) = (digits(a), digits(b));
    let mut acc = Jacobian::IDENTITY;
    for i in (0..DIGITS).rev() {
        acc = acc.double();
        let (digit, multiple) = (a_digits[i], usize::from(a_digits[i].unsigned_abs() / 2));
        if digit > 0 {
            acc = acc.add_affine(&g_multiples[multiple]);
        } else if digit < 0 {
            acc = acc.sub_affine(&g_multiples[multiple]);
        }
        let (digit, multiple) = (b_digits[i], usize::from(b_digits[i].unsigned_abs() / 2));
        if digit > 0 {
            acc = acc.add(&q_multiples[multiple]);
        } else if digit < 0 {
            acc = acc.add(&q_multiples[multiple].neg());
        }
    }
    acc.x_bytes()
}

/// `G`'s odd multiples, affine (made once per process, with one inversion).
static G_MULTIPLES: OnceLock<Option<[Affine; ODD_MULTIPLES]>> = OnceLock::new();

fn generator_multiples() -> Option<[Affine; ODD_MULTIPLES]> {
    let g = Affine::from_point(&AffinePoint::GENERATOR)?;
    Jacobian::normalize(&odd_multiples(&g))
}

fn odd_multiples(p: &Affine) -> [Jacobian; ODD_MULTIPLES] {
    let twice = Jacobian::from(p).double();
    let mut multiples = [Jacobian::from(p); ODD_MULTIPLES];
    for i in 1..ODD_MULTIPLES {
        multiples[i] = multiples[i - 1].add(&twice);
    }
    multiples
}

/// The width-5 non-adjacent form of `k`, least significant digit first: `k = Σ dᵢ·2ⁱ`.
fn digits(k: &Scalar) -> [i8; DIGITS] {
    let bytes = k.to_bytes();
    // Little-endian 64-bit limbs, one spare for the carry a negative digit can cause.
    let mut limbs = [0u64; 5];
    for (i, limb) in limbs.iter_mut().take(4).enumerate() {
        let chunk = &bytes[32 - 8 * (i + 1)..32 - 8 * i];
        *limb = chunk
            .iter()
            .fold(0, |acc, byte| acc << 8 | u64::from(*byte));
    }
    let window = 1i64 << WIDTH;
    let mut digits = [0i8; DIGITS];
    for digit in digits.iter_mut() {
        if limbs == [0; 5] {
            break;
        }
        if limbs[0] & 1 == 1 {
            // The residue mod 2^5 in -16..16: subtracting it leaves a multiple of 2^5.
            let residue = (limbs[0] & (window as u64 - 1)) as i64;
            let signed = if residue >= window / 2 {
                residue - window
            } else {
                residue
            };
            *digit = signed as i8;
            if signed > 0 {
                sub_small(&mut limbs, signed.unsigned_abs());
            } else {
                add_small(&mut limbs, signed.unsigned_abs());
            }
        }
        for i in 0..4 {
            limbs[i] = limbs[i] >> 1 | limbs[i + 1] << 63;
        }
        limbs[4] >>= 1;
    }
    digits
}

fn add_small(limbs: &mut [u64; 5], value: u64) {
    let mut carry = value;
    for limb in limbs.iter_mut() {
        let (sum, overflow) = limb.overflowing_add(carry);
        *limb = sum;
        carry = u64::from(overflow);
    }
}

fn sub_small(limbs: &mut [u64; 5], value: u64) {
    let mut borrow = value;
    for limb in limbs.iter_mut() {
        let (difference, underflow) = limb.overflowing_sub(borrow);
        *limb = difference;
        borrow = u64::from(underflow);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::elliptic_curve::ops::Reduce;
    use p256::elliptic_curve::Field;
    use p256::U256;

    fn edge_and_random_scalars() -> Vec<Scalar> {
        let mut scalars = vec![
            Scalar::ZERO,
            Scalar::ONE,
            -Scalar::ONE,
            Scalar::from(15u64),
            Scalar::from(16u64),
            Scalar::from(17u64),
            Scalar::reduce(U256::MAX),
        ];
        scalars.extend(
            (0..256)
                .step_by(7)
                .map(|p| Scalar::reduce(U256::ONE.shl_vartime(p))),
        );
        scalars.extend((0..40).map(|_| Scalar::random(&mut rand_core::OsRng)));
        scalars
    }

    #[test]
    fn digits_are_a_width_5_naf_of_the_scalar() {
        for k in edge_and_random_scalars() {
            let digits = digits(&k);
            let mut sum = Scalar::ZERO;
            for digit in digits.iter().rev() {
                let magnitude = Scalar::from(u64::from(digit.unsigned_abs()));
                sum = sum.double() + if *digit < 0 { -magnitude } else { magnitude };
            }
            assert_eq!(sum, k);
            for (i, digit) in digits.iter().enumerate() {
                if *digit != 0 {
                    assert!(digit % 2 != 0 && digit.unsigned_abs() < 16, "{digit}");
                    let next = &digits[i + 1..digits.len().min(i + 5)];
                    assert!(next.iter().all(|d| *d == 0), "{digits:?}");
                }
            }
        }
    }

    #[test]
    fn lincomb_agrees_with_generic_arithmetic() {
        use p256::elliptic_curve::group::Group;
        use p256::elliptic_curve::sec1::ToEncodedPoint;
        use p256::ProjectivePoint;
        let g = ProjectivePoint::GENERATOR;
        let scalars = edge_and_random_scalars();
        // Q = G and Q = -G make G's and Q's multiples meet, the cases the formulas branch on.
        let points = [g, -g, g.double(), g * scalars[40]];
        for (i, a) in scalars.iter().enumerate() {
            let b = &scalars[(i * 7 + 3) % scalars.len()];
            for q in &points {
                let expected = (g * a + *q * b).to_affine();
                let expected = expected.to_encoded_point(false).x().copied();
                let q = Affine::from_point(&q.to_affine()).unwrap();
                assert_eq!(lincomb_x_vartime(a, b, &q), expected, "{a:?} {b:?}");
            }
            // a·G + (-a)·G is the identity, which has no x.
            let g_affine = Affine::from_point(&g.to_affine()).unwrap();
            assert_eq!(lincomb_x_vartime(a, &-*a, &g_affine), None);
        }
    }
}
