//! `k·G` in constant time, with a comb of precomputed multiples of the generator.
//!
//! `p256` multiplies the generator like any point: 256 doublings and 64 additions, each addition
//! choosing its summand among 16 in constant time. A comb (Lim and Lee) uses a table of fixed
//! multiples of `G` to do the same with 32 doublings and 64 mixed additions, almost three times
//! faster. The scalar is secret here, so like `p256`'s code this one never branches on it nor
//! indexes memory with it: every table entry is read for every choice, and the additions are
//! `p256`'s complete formulas (no special case for the identity).
//!
//! Layout: bit `p` of the scalar, with `p = i + 32·c + 64·t` (`i` < 32, comb `c` < 2, tooth
//! `t` < 4), selects `2^(32·c + 64·t)·G` at step `i`, and the `i` doublings that follow make it
//! `2^p·G`. Entry `j` of comb `c` is the sum of the teeth whose bit is set in `j`.
//!
//! The entries are constants (checked against [`computed`] by a test, and on the curve when
//! read): computing them takes 224 doublings, which would cost every process most of a
//! multiplication.

use p256::elliptic_curve::group::Group;
use p256::elliptic_curve::sec1::FromEncodedPoint;
use p256::elliptic_curve::subtle::{ConditionallySelectable, ConstantTimeEq};
use p256::{AffinePoint, EncodedPoint, ProjectivePoint, Scalar};
use std::sync::OnceLock;
use zeroize::Zeroizing;

const STEPS: usize = 32;
const COMBS: usize = 2;
const TEETH: usize = 4;
const ENTRIES: usize = 1 << TEETH;

type Table = [[AffinePoint; ENTRIES]; COMBS];

/// `k·G`, in constant time.
pub fn mul_by_generator(k: &Scalar) -> ProjectivePoint {
    let table = TABLE.get_or_init(|| read(&ENTRY_HEX).unwrap_or_else(computed));
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
            acc += &select(entries, index);
        }
    }
    acc
}

/// `entries[index]`, reading every entry.
fn select(entries: &[AffinePoint; ENTRIES], index: u8) -> AffinePoint {
    let mut chosen = AffinePoint::IDENTITY;
    for (j, entry) in (0u8..).zip(entries) {
        chosen.conditional_assign(entry, j.ct_eq(&index));
    }
    chosen
}

static TABLE: OnceLock<Table> = OnceLock::new();

/// The table from its constants; `None` if one is not a point on the curve (which the tests
/// rule out; the table is then computed instead).
fn read(hex: &[[&str; ENTRIES - 1]; COMBS]) -> Option<Table> {
    let mut table = [[AffinePoint::IDENTITY; ENTRIES]; COMBS];
    for (entries, hex) in table.iter_mut().zip(hex) {
        for (entry, hex) in entries[1..].iter_mut().zip(hex) {
            if hex.len() != 128 {
                return None;
            }
            let mut bytes = [4u8; 65];
            for (byte, pair) in bytes[1..].iter_mut().zip(hex.as_bytes().chunks(2)) {
                *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
            }
            let point = EncodedPoint::from_bytes(bytes).ok()?;
            *entry = Option::from(AffinePoint::from_encoded_point(&point))?;
        }
    }
    Some(table)
}

/// The table computed from `G`: 224 doublings and 22 additions.
fn computed() -> Table {
    // teeth[m] = 2^(32·m)·G
    let mut teeth = [ProjectivePoint::GENERATOR; COMBS * TEETH];
    for m in 1..teeth.len() {
        teeth[m] = teeth[m - 1];
        for _ in 0..STEPS {
            teeth[m] = teeth[m].double();
        }
    }
    let mut table = [[AffinePoint::IDENTITY; ENTRIES]; COMBS];
    for (c, entries) in table.iter_mut().enumerate() {
        let mut sums = [ProjectivePoint::IDENTITY; ENTRIES];
        for j in 1..ENTRIES {
            // The entry without its lowest set bit, plus that bit's tooth.
            let low = j.trailing_zeros() as usize;
            sums[j] = sums[j & (j - 1)] + teeth[c + COMBS * low];
            entries[j] = sums[j].to_affine();
        }
    }
    table
}

/// Entries 1 to 15 of each comb, `x‖y` big-endian (entry 0 is the identity).
#[rustfmt::skip]
const ENTRY_HEX: [[&str; ENTRIES - 1]; COMBS] = [
    [
        "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c2964fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5",
        "0fa822bc2811aaa58492592e326e25de29493baaad651f7e90e75cb48e14db63bff44ae8f5dba80d6f4ad4bcb3df188b34b1a65050fe82f5e41124545f462ee7",
        "300a4bbc89d6726fb257c0de95e02789e96c98fd0d35f1fa93391ce2097992af72aac7e0d09b46447f1ddb25ff1e3c6f5bb1eeada9d806a5aa54a291c08127a0",
        "447d739beedb5e67fb982fd588c6766efc35ff7dc297eac357c84fc9d789bd852d4825ab834131eee12e9d953a4aaff73d349b95a7fae5000c7e33c972e25b32",
        "ef9519328a9c72ffddc6068bb91dfc60ef7fbd2b1a0a11b713949c932a1d367f611e9fc37dbb2c9bc1ee9807022c219c23183b0895ca1740196035a77376d8a8",
        "550663797b51f5d87dea6482e11238bf2936df5ec6c9bc36cae2b1920b57f4bc157164848aecb8510afa40018d9d50e59fb3d576dbdefbe144ffe216348a964c",
        "eb5d7745b21141eaa2e8f483f43e43917ccd84e70d715f26e48ecafffc5cde01eafd72ebdbecc17b0990e6a158006cee85f22cfe2844b645cac917e2731a3479",
        "a6d39677a78492762736ff8344315fc596439591a3c6b94a6cf20ffb313728be674f84749b0b881666b8babd2d27ecdf824a920c2284059bf2bab833c357f5f4",
        "4e769e7672c9ddad31855f7db8c7fedb74e02f080203a56b2df48c04677c8a3e42b99082de8306631ec0057206947281fb9ae16f3b9122a5a4c36165b824bbb0",
        "78878ef61c6ce04d7fdc1ca008a1c478d1f89e799c0ce1316ef95150dda868b9b6cb3f5d7b72c321de53142c12309def6ace570ebde08d4f9c62b9121fe0d976",
        "0c88bc4d716b1287595c5220812ffcae5b82dd5bd54fb4967f991ed2c31a3573dd5ddea3f3901dc618d1b5b39c04e6aa7c8181f4df2564f33a57bf635f48aca8",
        "68f344af6b317466efe0a423083e49f343a0a28c42ba792fe96a79fb3e72ad0c31b9c405f8540a20604ed93c24d67ff3668bfc2271f5c626cdfe17db3fb24d4a",
        "4052bf4b6f461db9663c62c3edbad7a00d1a10144ec39c28d36b4789a2582e7ffecf4d5190b0fc61862be6bd71d70cc8e724f33999bfcc5b235a27c3188d25eb",
        "1eddbae2c802e41a123202a8f62bff7aafdf5cc08526a7a474346c10a1d4cfac43104d86560ebcfc0c45f45273db33a036e06b7e4c7019178fa0af2dd603f844",
        "b48e26b484f7a21c0a4a46fb6aaf363a66b0de3225c4744b9615b5110d1d78e5fac015404d4d3dab64131bcdfed6f668c004e4048b7b0f9806ebb0f621a01b2d",
    ],
    [
        "7fe36b40af22af8921656b32262c71da1ab919365c65dfb63a5a9e22185a5943e697d45825b636249f09f40407dca6f174b3d5867b8af212d50d152c699ca101",
        "4a5b506612a677a657880b3a18a2e902e9a521b074ca0141a84aa9397512218eeb13461ceac089f1c42604fbe1627d40626db15419e26d9d0beada7a4c4f3840",
        "0781b8291c6a220ac342967aa815c8575e52c4144103ecbcf9faed0927a43281690cde8df015159397b2a14f1291643488f80eeee54a05e35a8343ceeac55f80",
        "8a535f566ec73617f5622df4373713269e4c35874afdf43aaee9c75df7f82f2a0455c08468b08bd737e02819085a92bfcde533864c8c7669c5f9a0ac223094b7",
        "06bada7ab77f82765050a949b6cdc279f9a4bf62876dc4440c0a6e2c9477b5d95b476dfd0e6cb18a427d49101366eb70debd8a4b7ea1070fc8b4aed1ea48dac9",
        "3e29864e8a2ec90829a751b1ae23c5d84d54606812d66f3b7c5c3e44278c340a239b90ea3dc31e7e1f150e68e322d1edad1744c4765bd780142d2a6626dbb850",
        "820f4dd949f72ff7dbcab759f8862ed4305dde6709776f8e78c416527a53322a140406ec783a05ec1b481b1b215c14d375be5d937b4e8cc46cc544a62b5debd4",
        "68f6b8542783dfeeeb5b06e70ce08ffefd75f3fa01876bd86a703f10e895df07cbe1feba92e40ce6fbc8044dfda45028cf5293d2f310bf7f90c76f8a78712655",
        "d0b2f94d2f420109230f729f2250e927fc82ef0b6acea274e998ceea4396e4c1971459828b0719e57db2636658954e7a10b838f8624c3b454305adddb38d4966",
        "961610004a866abac2d5cba4f234068757f2929e53d0b8764bd6b72623369fc97acb9fadcee75e442cf1f2438fe5131c69ab197d92ddcb2449997bcd2e407a5e",
        "24eb9acca333bf5ba60d880f6f75aaeaf57f0c917aea685b254e839423d2d4c069f891c5acd079cc743125f88bac4c4dfeef9341c51a6b4fe3de4ccb1cda5dea",
        "e51f547c5972a107b422d1e7bd6f85147ed031a0e45c2258eee44b35702476b51c309a2b25bb1387a62f98b3a9fe9a068ca922ee097c184ea25bcd6fc9cf343d",
        "20b87b8aa2c4e503c504977708011828b00148833472c98e9295dbeb1967c459f5c6fa49919776be0d11adef5f69a0441bd539338fe582dd3063175de057c277",
        "1ed7d1b9332010b9a454c3fad83faa563876cba1102fad5f8c944e760fd59e113a2b03f03217257a52b520f0eb6a2a2405e4d0dcac0cd344a1011a270024b889",
        "15fee545c78dd9f6fc7d229ca0058c3bf330240db58d5a62f20fc2afdf1d043d4ab5b6b2b8753f81557d9f49461210fb41ef80e5d046ac04501e82885bc98cda",
    ],
];

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
    fn the_constants_are_the_computed_table() {
        assert_eq!(read(&ENTRY_HEX), Some(computed()));
        assert_eq!(computed()[0][1], AffinePoint::GENERATOR);
        let mut damaged = ENTRY_HEX;
        damaged[1][3] = &ENTRY_HEX[1][3][..126];
        assert_eq!(read(&damaged), None, "a short entry");
        let off_curve = ENTRY_HEX[1][3].replacen('a', "b", 1);
        damaged[1][3] = &off_curve;
        assert_eq!(read(&damaged), None, "a point off the curve");
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
