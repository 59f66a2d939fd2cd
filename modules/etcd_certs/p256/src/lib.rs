//! P-256 keys and ECDSA-SHA256 signatures, behind non-generic entry points.
//!
//! The curve arithmetic (`p256`, `primeorder`, `ecdsa`, `elliptic-curve`) is generic code, so it
//! is compiled in whichever crate names the curve. Naming it here, in a crate the workspace builds
//! at `opt-level = 3`, keeps the hot loops out of the binaries' `opt-level = "z"` (where a field
//! multiplication calls an out-of-line, size-optimised helper for every result).
//!
//! Scalar multiplications are most of the work, so each is done once: a key read from a file
//! computes its public key once and checks the stored one against it, and a key is written with
//! the public key it already holds (`SecretKey`'s own decoding computes it twice, its encoding
//! once more).

use p256::ecdsa::signature::{Signer, Verifier};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use pkcs8::der::{Decode, Encode, SecretDocument};
use pkcs8::{AlgorithmIdentifierRef, ObjectIdentifier, PrivateKeyInfo};
use sec1::EcPrivateKey;
use zeroize::Zeroizing;

pub use p256::ecdsa::SigningKey as PrivateKey;

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

/// A fresh key from the operating system's random source.
pub fn generate() -> SigningKey {
    SigningKey::random(&mut rand_core::OsRng)
}

/// The key of a PKCS#8 `PrivateKeyInfo` (`-----BEGIN PRIVATE KEY-----`), or `None` when it is
/// not an EC key at all (an RSA key, say); an error when it is an EC key that is not a valid
/// P-256 key.
pub fn from_pkcs8_der(der: &[u8]) -> Result<Option<SigningKey>, Error> {
    let info = PrivateKeyInfo::from_der(der).map_err(|_| Error("not a PKCS#8 private key"))?;
    if info.algorithm.oid != EC_PUBLIC_KEY {
        return Ok(None);
    }
    if info.algorithm.parameters_oid().ok() != Some(P256_CURVE) {
        return Err(Error("an EC key that is not on the P-256 curve"));
    }
    from_sec1_der(info.private_key).map(Some)
}

/// The key of a SEC1 `ECPrivateKey` (`-----BEGIN EC PRIVATE KEY-----`, and inside PKCS#8).
pub fn from_sec1_der(der: &[u8]) -> Result<SigningKey, Error> {
    let key = EcPrivateKey::from_der(der).map_err(|_| Error("not a SEC1 EC private key"))?;
    if let Some(params) = &key.parameters {
        if params.named_curve() != Some(P256_CURVE) {
            return Err(Error("an EC key that is not on the P-256 curve"));
        }
    }
    // The one scalar multiplication: the public key, from the secret.
    let signing =
        SigningKey::from_slice(key.private_key).map_err(|_| Error("not a P-256 secret scalar"))?;
    if let Some(stored) = key.public_key {
        let compressed = stored.first() != Some(&0x04);
        let computed = signing.verifying_key().to_encoded_point(compressed);
        if computed.as_bytes() != stored {
            return Err(Error("its public key does not belong to its private key"));
        }
    }
    Ok(signing)
}

/// PKCS#8 DER with the public key inside, as `p256` and openssl write it. Secret.
pub fn to_pkcs8_der(key: &SigningKey) -> Result<SecretDocument, Error> {
    let fail = |_| Error("could not encode the private key");
    let secret = Zeroizing::new(key.to_bytes());
    let public = key.verifying_key().to_encoded_point(false);
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
pub fn public_key_sec1(key: &SigningKey) -> Vec<u8> {
    key.verifying_key()
        .to_encoded_point(false)
        .as_bytes()
        .to_vec()
}

/// An ECDSA-SHA256 signature of `message` (RFC 6979 nonce), DER-encoded as X.509 carries it.
pub fn sign(key: &SigningKey, message: &[u8]) -> Result<Vec<u8>, Error> {
    let signature: Signature = key.try_sign(message).map_err(|_| Error("signing failed"))?;
    Ok(signature.to_der().as_bytes().to_vec())
}

/// Checks a DER ECDSA-SHA256 `signature` of `message` with the SEC1-encoded public key.
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

    #[test]
    fn keys_encode_as_p256_does_and_read_back() {
        for _ in 0..8 {
            let key = generate();
            let ours = to_pkcs8_der(&key).unwrap();
            let theirs = SecretKey::from(&key).to_pkcs8_der().unwrap();
            assert_eq!(ours.as_bytes(), theirs.as_bytes());
            let back = from_pkcs8_der(ours.as_bytes()).unwrap().unwrap();
            assert_eq!(back.verifying_key(), key.verifying_key());
        }
    }

    #[test]
    fn a_stored_public_key_must_belong_to_the_secret() {
        let key = generate();
        let secret = key.to_bytes();
        let other = public_key_sec1(&generate());
        assert_eq!(
            from_sec1_der(&sec1(&secret, Some(&other))).unwrap_err(),
            Error("its public key does not belong to its private key")
        );
        let compressed = key.verifying_key().to_encoded_point(true);
        let read = from_sec1_der(&sec1(&secret, Some(compressed.as_bytes()))).unwrap();
        assert_eq!(
            read.verifying_key(),
            key.verifying_key(),
            "compressed is fine too"
        );
        let read = from_sec1_der(&sec1(&secret, None)).unwrap();
        assert_eq!(read.verifying_key(), key.verifying_key(), "it is optional");
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
        let p384 = ObjectIdentifier::new_unwrap("1.3.132.0.34");
        let rsa = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
        let with = |algorithm| {
            PrivateKeyInfo::new(algorithm, info.private_key)
                .to_der()
                .unwrap()
        };
        let on_p384 = with(AlgorithmIdentifierRef {
            oid: EC_PUBLIC_KEY,
            parameters: Some((&p384).into()),
        });
        assert!(from_pkcs8_der(&on_p384).is_err());
        let not_ec = with(AlgorithmIdentifierRef {
            oid: rsa,
            parameters: None,
        });
        assert_eq!(from_pkcs8_der(&not_ec), Ok(None));
    }

    #[test]
    fn signatures_verify_and_tampering_is_caught() {
        let key = generate();
        let public = public_key_sec1(&key);
        for message in [&b""[..], b"message", &[7u8; 1000]] {
            let signature = sign(&key, message).unwrap();
            verify(&public, message, &signature).unwrap();
            let mut other = message.to_vec();
            other.push(0);
            assert!(verify(&public, &other, &signature).is_err());
        }
        let signature = sign(&key, b"message").unwrap();
        let other = public_key_sec1(&generate());
        assert!(verify(&other, b"message", &signature).is_err());
        assert!(verify(&public[..10], b"message", &signature).is_err());
        assert!(verify(&public, b"message", &signature[1..]).is_err());
    }
}
