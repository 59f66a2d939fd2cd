//! P-256 keys and ECDSA-SHA256 signatures behind non-generic entry points.
//!
//! All the arithmetic is `p256`'s own (key generation, RFC 6979 signing, verification): this
//! crate writes no curve code. What it adds is where that code is compiled and how often it runs:
//! - the generic curve code is compiled here, in a crate the workspace builds at `opt-level = 3`,
//!   rather than in the binaries' `opt-level = "z"`; the entry points that do the arithmetic are
//!   never inlined, so link-time optimisation cannot move it into size-optimised callers either;
//! - each scalar multiplication is done once: a key keeps the public key computed when it was
//!   made or read (the file's copy is checked against it), and is written with it; signing uses
//!   the secret scalar directly instead of a `SigningKey`, which would compute the public key
//!   again.

use ecdsa::hazmat::SignPrimitive;
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::{Signature, VerifyingKey};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::elliptic_curve::PrimeField;
use p256::{AffinePoint, FieldBytes, NonZeroScalar, PublicKey};
use pkcs8::der::{Decode, Encode, SecretDocument};
use pkcs8::{AlgorithmIdentifierRef, ObjectIdentifier, PrivateKeyInfo};
use sec1::EcPrivateKey;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

/// `id-ecPublicKey` (RFC 5480), the algorithm of every EC key in PKCS#8 and SPKI.
pub const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// `secp256r1` (RFC 5480), the named curve of P-256 keys.
pub const P256_CURVE: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

/// A key or signature that is not what it claims to be; the message says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub &'static str);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Error {}

/// A P-256 private key and its public key. The secret is wiped when it is dropped and never
/// shown by `Debug`.
pub struct PrivateKey {
    secret: NonZeroScalar,
    public: AffinePoint,
}

impl PrivateKey {
    /// The key of `secret`; its public key is computed here, once.
    fn new(secret: NonZeroScalar) -> PrivateKey {
        let public = PublicKey::from_secret_scalar(&secret)
            .as_affine()
            .to_owned();
        PrivateKey { secret, public }
    }
}

impl Drop for PrivateKey {
    fn drop(&mut self) {
        self.secret.zeroize();
    }
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PrivateKey(P-256)")
    }
}

/// A fresh key from the operating system's random source.
#[inline(never)]
pub fn generate() -> PrivateKey {
    PrivateKey::new(NonZeroScalar::random(&mut rand_core::OsRng))
}

/// The key of a PKCS#8 `PrivateKeyInfo` (`-----BEGIN PRIVATE KEY-----`), or `None` when it is
/// not an EC key at all (an RSA key, say); an error when it is an EC key that is not a valid
/// P-256 key.
pub fn from_pkcs8_der(der: &[u8]) -> Result<Option<PrivateKey>, Error> {
    let info = PrivateKeyInfo::from_der(der).map_err(|_| Error("not a PKCS#8 private key"))?;
    if info.algorithm.oid != EC_PUBLIC_KEY {
        return Ok(None);
    }
    if info.algorithm.parameters_oid().ok() != Some(P256_CURVE) {
        return Err(Error("an EC key that is not on the P-256 curve"));
    }
    from_sec1_der(info.private_key).map(Some)
}

/// The key of a SEC1 `ECPrivateKey` (`-----BEGIN EC PRIVATE KEY-----`, and inside PKCS#8). A
/// public key stored with it must be the one its secret gives.
#[inline(never)]
pub fn from_sec1_der(der: &[u8]) -> Result<PrivateKey, Error> {
    let key = EcPrivateKey::from_der(der).map_err(|_| Error("not a SEC1 EC private key"))?;
    if let Some(params) = &key.parameters {
        if params.named_curve() != Some(P256_CURVE) {
            return Err(Error("an EC key that is not on the P-256 curve"));
        }
    }
    let secret = p256::SecretKey::from_slice(key.private_key)
        .map_err(|_| Error("not a P-256 secret scalar"))?;
    let key_pair = PrivateKey::new(secret.to_nonzero_scalar());
    if let Some(stored) = key.public_key {
        let compressed = stored.first() != Some(&0x04);
        if key_pair.public.to_encoded_point(compressed).as_bytes() != stored {
            return Err(Error("its public key does not belong to its private key"));
        }
    }
    Ok(key_pair)
}

/// PKCS#8 DER with the public key inside, as `p256` and openssl write it. Secret.
pub fn to_pkcs8_der(key: &PrivateKey) -> Result<SecretDocument, Error> {
    let fail = |_| Error("could not encode the private key");
    let secret = Zeroizing::new(key.secret.to_repr());
    let public = key.public.to_encoded_point(false);
    let sec1 = Zeroizing::new(
        EcPrivateKey {
            private_key: &secret,
            parameters: None,
            public_key: Some(public.as_bytes()),
        }
        .to_der()
        .map_err(fail)?,
    );
    let algorithm = AlgorithmIdentifierRef {
        oid: EC_PUBLIC_KEY,
        parameters: Some((&P256_CURVE).into()),
    };
    SecretDocument::encode_msg(&PrivateKeyInfo::new(algorithm, &sec1)).map_err(fail)
}

/// The uncompressed SEC1 encoding of the public key (the `subjectPublicKey` bits of its SPKI).
pub fn public_key_sec1(key: &PrivateKey) -> Vec<u8> {
    key.public.to_encoded_point(false).as_bytes().to_vec()
}

/// An ECDSA-SHA256 signature of `message`, DER-encoded as X.509 carries it: `p256`'s
/// RFC 6979 signature of the SHA-256 digest, exactly what its `SigningKey` makes.
#[inline(never)]
pub fn sign(key: &PrivateKey, message: &[u8]) -> Result<Vec<u8>, Error> {
    let digest: FieldBytes = Sha256::digest(message);
    let (signature, _) = key
        .secret
        .try_sign_prehashed_rfc6979::<Sha256>(&digest, &[])
        .map_err(|_| Error("signing failed"))?;
    Ok(signature.to_der().as_bytes().to_vec())
}

/// Checks a DER ECDSA-SHA256 `signature` of `message` with the SEC1-encoded public key, with
/// `p256`'s `VerifyingKey`.
#[inline(never)]
pub fn verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), Error> {
    let key = VerifyingKey::from_sec1_bytes(public_key)
        .map_err(|_| Error("the public key is not a P-256 point"))?;
    let signature =
        Signature::from_der(signature).map_err(|_| Error("the signature is not DER ECDSA"))?;
    key.verify(message, &signature)
        .map_err(|_| Error("the signature does not verify"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::{Signer, Verifier};
    use p256::ecdsa::{SigningKey, VerifyingKey};
    use p256::pkcs8::EncodePrivateKey;
    use p256::SecretKey;

    fn sec1(secret: &[u8], public_key: Option<&[u8]>) -> Vec<u8> {
        EcPrivateKey {
            private_key: secret,
            parameters: None,
            public_key,
        }
        .to_der()
        .unwrap()
    }

    /// The same key as `p256` holds it.
    fn theirs(key: &PrivateKey) -> SigningKey {
        SigningKey::from(key.secret)
    }

    #[test]
    fn keys_are_what_p256_makes_of_the_same_secret() {
        for _ in 0..16 {
            let key = generate();
            let reference = theirs(&key);
            assert_eq!(
                public_key_sec1(&key),
                reference.verifying_key().to_encoded_point(false).as_bytes()
            );
            let ours = to_pkcs8_der(&key).unwrap();
            let pkcs8 = SecretKey::from(&reference).to_pkcs8_der().unwrap();
            assert_eq!(ours.as_bytes(), pkcs8.as_bytes());
            let back = from_pkcs8_der(ours.as_bytes()).unwrap().unwrap();
            assert_eq!(public_key_sec1(&back), public_key_sec1(&key));
        }
        assert_eq!(format!("{:?}", generate()), "PrivateKey(P-256)");
    }

    #[test]
    fn signatures_are_p256_signatures_byte_for_byte() {
        for length in 0..40 {
            let key = generate();
            let message = vec![length as u8; length * 37];
            let ours = sign(&key, &message).unwrap();
            let reference: Signature = theirs(&key).sign(&message);
            assert_eq!(ours, reference.to_der().as_bytes());
        }
    }

    #[test]
    fn verification_agrees_with_p256() {
        for i in 0..40 {
            let key = generate();
            let public = public_key_sec1(&key);
            let reference = VerifyingKey::from_sec1_bytes(&public).unwrap();
            let message = format!("message {i}").into_bytes();
            let signature = sign(&key, &message).unwrap();
            let as_p256 = |message: &[u8], signature: &[u8]| {
                Signature::from_der(signature).is_ok_and(|s| reference.verify(message, &s).is_ok())
            };
            assert!(verify(&public, &message, &signature).is_ok());
            assert!(as_p256(&message, &signature));
            // A flipped bit anywhere in the message or the signature.
            for at in [0, message.len() - 1] {
                let mut other = message.clone();
                other[at] ^= 1 << (i % 8);
                assert!(verify(&public, &other, &signature).is_err());
                assert!(!as_p256(&other, &signature));
            }
            for at in (0..signature.len()).step_by(5) {
                let mut other = signature.clone();
                other[at] ^= 1 << (i % 8);
                let ours = verify(&public, &message, &other).is_ok();
                assert_eq!(ours, as_p256(&message, &other), "byte {at}");
            }
        }
    }

    #[test]
    fn a_signature_by_another_key_or_for_another_key_fails() {
        let key = generate();
        let other = public_key_sec1(&generate());
        let signature = sign(&key, b"message").unwrap();
        assert_eq!(
            verify(&other, b"message", &signature),
            Err(Error("the signature does not verify"))
        );
        let public = public_key_sec1(&key);
        assert!(verify(&public[..10], b"message", &signature).is_err());
        assert!(verify(&public, b"message", &signature[1..]).is_err());
    }

    #[test]
    fn a_stored_public_key_must_belong_to_the_secret() {
        let key = generate();
        let secret = key.secret.to_repr();
        let other = public_key_sec1(&generate());
        assert_eq!(
            from_sec1_der(&sec1(&secret, Some(&other))).unwrap_err(),
            Error("its public key does not belong to its private key")
        );
        let compressed = key.public.to_encoded_point(true);
        let read = from_sec1_der(&sec1(&secret, Some(compressed.as_bytes()))).unwrap();
        assert_eq!(public_key_sec1(&read), public_key_sec1(&key), "compressed");
        let read = from_sec1_der(&sec1(&secret, None)).unwrap();
        assert_eq!(public_key_sec1(&read), public_key_sec1(&key), "optional");
        assert!(
            from_sec1_der(&sec1(&[0; 32], None)).is_err(),
            "zero is no key"
        );
        assert!(from_sec1_der(&[0u8; 32]).is_err());
    }

    #[test]
    fn other_curves_and_algorithms_are_told_apart() {
        let key = to_pkcs8_der(&generate()).unwrap();
        let info = PrivateKeyInfo::from_der(key.as_bytes()).unwrap();
        let with = |oid, parameters: Option<&ObjectIdentifier>| {
            let algorithm = AlgorithmIdentifierRef {
                oid,
                parameters: parameters.map(Into::into),
            };
            PrivateKeyInfo::new(algorithm, info.private_key)
                .to_der()
                .unwrap()
        };
        let p384 = ObjectIdentifier::new_unwrap("1.3.132.0.34");
        assert!(from_pkcs8_der(&with(EC_PUBLIC_KEY, Some(&p384))).is_err());
        let rsa = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
        assert_eq!(from_pkcs8_der(&with(rsa, None)).unwrap().map(drop), None);
    }
}
