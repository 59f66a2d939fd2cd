//! P-256 points in Jacobian coordinates, variable time: for signature verification only.
//!
//! `p256`'s complete formulas (projective, Renes-Costello-Batina) never branch, which secret
//! scalars need, and cost ~12 multiplications per doubling. Verification handles public values
//! only, so it can use the classic Jacobian formulas for `a = -3` instead (dbl-2001-b: 3M+5S;
//! madd-2007-bl: 7M+4S; add-2007-bl: 11M+5S, from the Explicit-Formulas Database), with
//! branches for the cases they do not cover (the identity, adding a point to itself or to its
//! negation). `(X, Y, Z)` is the affine point `(X/Z², Y/Z³)`; `Z = 0` is the identity.

use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{AffinePoint, FieldBytes, FieldElement};

/// An affine point other than the identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Affine {
    x: FieldElement,
    y: FieldElement,
}

impl Affine {
    /// `None` for the identity.
    pub fn from_point(point: &AffinePoint) -> Option<Affine> {
        let encoded = point.to_encoded_point(false);
        let x = FieldElement::from_bytes(encoded.x()?);
        let y = FieldElement::from_bytes(encoded.y()?);
        Some(Affine {
            x: Option::from(x)?,
            y: Option::from(y)?,
        })
    }

    fn neg(&self) -> Affine {
        Affine {
            x: self.x,
            y: -self.y,
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Jacobian {
    x: FieldElement,
    y: FieldElement,
    z: FieldElement,
}

impl From<&Affine> for Jacobian {
    fn from(p: &Affine) -> Jacobian {
        Jacobian {
            x: p.x,
            y: p.y,
            z: FieldElement::ONE,
        }
    }
}

impl Jacobian {
    pub const IDENTITY: Jacobian = Jacobian {
        x: FieldElement::ONE,
        y: FieldElement::ONE,
        z: FieldElement::ZERO,
    };

    pub fn is_identity(&self) -> bool {
        self.z.is_zero().into()
    }

    pub fn neg(&self) -> Jacobian {
        Jacobian {
            y: -self.y,
            ..*self
        }
    }

    /// `2·self` (dbl-2001-b, for `a = -3`).
    pub fn double(&self) -> Jacobian {
        if self.is_identity() {
            return *self;
        }
        let delta = self.z.square();
        let gamma = self.y.square();
        let beta = self.x * gamma;
        let t = (self.x - delta) * (self.x + delta);
        let alpha = t.double() + t;
        let beta4 = beta.double().double();
        let x = alpha.square() - beta4.double();
        let z = (self.y + self.z).square() - gamma - delta;
        let y = alpha * (beta4 - x) - gamma.square().double().double().double();
        Jacobian { x, y, z }
    }

    /// `self + q` (add-2007-bl).
    pub fn add(&self, q: &Jacobian) -> Jacobian {
        if self.is_identity() {
            return *q;
        }
        if q.is_identity() {
            return *self;
        }
        let z1z1 = self.z.square();
        let z2z2 = q.z.square();
        let u1 = self.x * z2z2;
        let u2 = q.x * z1z1;
        let s1 = self.y * q.z * z2z2;
        let s2 = q.y * self.z * z1z1;
        let h = u2 - u1;
        let r = (s2 - s1).double();
        if h.is_zero().into() {
            return self.same_x(r);
        }
        let i = h.double().square();
        let j = h * i;
        let v = u1 * i;
        let x = r.square() - j - v.double();
        let y = r * (v - x) - (s1 * j).double();
        let z = ((self.z + q.z).square() - z1z1 - z2z2) * h;
        Jacobian { x, y, z }
    }

    /// `self + q` for an affine `q` (madd-2007-bl).
    pub fn add_affine(&self, q: &Affine) -> Jacobian {
        if self.is_identity() {
            return Jacobian::from(q);
        }
        let z1z1 = self.z.square();
        let u2 = q.x * z1z1;
        let s2 = q.y * self.z * z1z1;
        let h = u2 - self.x;
        let r = (s2 - self.y).double();
        if h.is_zero().into() {
            return self.same_x(r);
        }
        let hh = h.square();
        let i = hh.double().double();
        let j = h * i;
        let v = self.x * i;
        let x = r.square() - j - v.double();
        let y = r * (v - x) - (self.y * j).double();
        let z = (self.z + h).square() - z1z1 - hh;
        Jacobian { x, y, z }
    }

    /// `self - q` for an affine `q`.
    pub fn sub_affine(&self, q: &Affine) -> Jacobian {
        self.add_affine(&q.neg())
    }

    /// The sum when both points have the same `x`: the same point (`r = 0`, twice it) or its
    /// negation (the identity).
    fn same_x(&self, r: FieldElement) -> Jacobian {
        if r.is_zero().into() {
            self.double()
        } else {
            Jacobian::IDENTITY
        }
    }

    /// The affine `x`, big-endian; `None` for the identity.
    pub fn x_bytes(&self) -> Option<FieldBytes> {
        let z_inv = Option::<FieldElement>::from(self.z.invert())?;
        Some((self.x * z_inv.square()).to_bytes())
    }

    /// The affine points of `points` (none the identity), with one inversion for all of them.
    pub fn normalize<const N: usize>(points: &[Jacobian; N]) -> Option<[Affine; N]> {
        // Montgomery's trick: invert the product of every z, then peel each inverse off it.
        let mut prefix = [FieldElement::ONE; N];
        let mut product = FieldElement::ONE;
        for (prefix, point) in prefix.iter_mut().zip(points) {
            *prefix = product;
            product *= point.z;
        }
        let mut inverse = Option::<FieldElement>::from(product.invert())?;
        let mut affine = [Affine {
            x: FieldElement::ZERO,
            y: FieldElement::ZERO,
        }; N];
        for i in (0..N).rev() {
            let z_inv = inverse * prefix[i];
            inverse *= points[i].z;
            let z_inv2 = z_inv.square();
            affine[i] = Affine {
                x: points[i].x * z_inv2,
                y: points[i].y * z_inv2 * z_inv,
            };
        }
        Some(affine)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::elliptic_curve::group::Group;
    use p256::elliptic_curve::Field;
    use p256::{ProjectivePoint, Scalar};

    fn affine(p: &ProjectivePoint) -> Affine {
        Affine::from_point(&p.to_affine()).unwrap()
    }

    /// The same point, or both the identity.
    fn same(j: &Jacobian, p: &ProjectivePoint) -> bool {
        match Affine::from_point(&p.to_affine()) {
            None => j.is_identity(),
            Some(expected) => Jacobian::normalize(&[*j]) == Some([expected]),
        }
    }

    #[test]
    fn formulas_agree_with_p256_on_every_case() {
        let g = ProjectivePoint::GENERATOR;
        let points: Vec<ProjectivePoint> = [1u64, 2, 3, 7]
            .into_iter()
            .map(|k| g * Scalar::from(k))
            .chain((0..6).map(|_| g * Scalar::random(&mut rand_core::OsRng)))
            .collect();
        let identity = ProjectivePoint::IDENTITY;
        assert!(Affine::from_point(&identity.to_affine()).is_none());
        assert!(Jacobian::IDENTITY.double().is_identity());
        for p in &points {
            let jp = Jacobian::from(&affine(p));
            assert!(same(&jp.double(), &p.double()));
            assert!(same(&jp.double().double(), &p.double().double()));
            assert!(same(&jp.add(&Jacobian::IDENTITY), p));
            assert!(same(&Jacobian::IDENTITY.add(&jp), p));
            assert!(same(&Jacobian::IDENTITY.add_affine(&affine(p)), p));
            assert!(same(&jp.neg(), &-p));
            for q in &points {
                // Jacobian inputs with z != 1, as the main loop has them.
                let jq = Jacobian::from(&affine(q)).double().add(&jp.neg()).add(&jp);
                assert!(same(&jq, &q.double()));
                let sum = *p + q.double();
                assert!(same(&jp.add(&jq), &sum));
                assert!(same(&jq.add(&jp), &sum));
                assert!(same(&jq.add_affine(&affine(p)), &sum));
                assert!(same(&jq.sub_affine(&affine(p)), &(q.double() - p)));
            }
            // The special cases: the same point, and its negation.
            let twice = jp.double().add(&jp.neg());
            assert!(same(&twice.add(&jp), &p.double()), "P + P");
            assert!(same(&twice.add_affine(&affine(p)), &p.double()), "P + P");
            assert!(twice.add(&jp.neg()).is_identity(), "P - P");
            assert!(twice.sub_affine(&affine(p)).is_identity(), "P - P");
        }
        let jacobians: Vec<Jacobian> = points
            .iter()
            .map(|p| Jacobian::from(&affine(p)).double())
            .collect();
        let normalized = Jacobian::normalize(&[jacobians[0], jacobians[4], jacobians[9]]);
        let doubled = |i: usize| affine(&points[i].double());
        assert_eq!(normalized, Some([doubled(0), doubled(4), doubled(9)]));
        assert!(Jacobian::IDENTITY.x_bytes().is_none());
        assert_eq!(
            jacobians[5].x_bytes(),
            Some(
                points[5]
                    .double()
                    .to_affine()
                    .to_encoded_point(false)
                    .x()
                    .copied()
                    .unwrap()
            )
        );
    }
}
