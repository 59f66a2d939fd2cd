//! Keys, certificate requests and certificates, with nothing about etcd in them.
//!
//! A thin layer over RustCrypto (`p256` through `etcd-certs-p256`, `rsa`, `x509-cert`): generate
//! and read keys (PKCS#8, SEC1 and PKCS#1 PEM are read; PKCS#8 is written), build and sign CSRs
//! and certificates from explicit parts, read them back, verify signatures. Only ECDSA P-256 and
//! RSA keys with SHA-256 signatures are made and verified (kubeadm, Go and openssl sign with
//! SHA-256 by default).

use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, PrivateKeyInfo};
use rsa::traits::PublicKeyParts;
use sha1::Digest as _;
use std::fmt;
use std::net::IpAddr;
use x509_cert::attr::Attribute;
use x509_cert::certificate::{TbsCertificate, Version};
use x509_cert::der::asn1::{Any, BitString, GeneralizedTime, Ia5String, OctetString, UtcTime};
use x509_cert::der::oid::db::{rfc4519, rfc5912};
use x509_cert::der::oid::{AssociatedOid, ObjectIdentifier};
use x509_cert::der::pem::{LineEnding, PemLabel};
use x509_cert::der::{Decode, DecodePem, Encode, EncodePem, SecretDocument};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    AuthorityKeyIdentifier, BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages,
    SubjectAltName, SubjectKeyIdentifier,
};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::request::{CertReq, CertReqInfo, ExtensionReq};
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};
use x509_cert::Certificate;
use zeroize::Zeroizing;

pub use x509_cert::der::oid::db::rfc5912::{ID_KP_CLIENT_AUTH, ID_KP_SERVER_AUTH};

/// Something in a key, CSR or certificate that could not be made or read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

macro_rules! error_from {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Error {
                Error(e.to_string())
            }
        }
    )*};
}
error_from!(
    x509_cert::der::Error,
    x509_cert::spki::Error,
    rsa::Error,
    rsa::pkcs8::Error,
    rsa::pkcs1::Error,
    rsa::signature::Error,
    etcd_certs_p256::Error
);

impl From<Error> for kubeha_runtime::Failure {
    fn from(e: Error) -> kubeha_runtime::Failure {
        kubeha_runtime::Failure::new(e.0)
    }
}

pub type Result<T> = std::result::Result<T, Error>;

fn err<T>(msg: impl Into<String>) -> Result<T> {
    Err(Error(msg.into()))
}

/// The key algorithms this module makes, named as kubeadm's `encryptionAlgorithm` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    EcdsaP256,
    Rsa2048,
    Rsa3072,
    Rsa4096,
}

impl KeyAlgorithm {
    pub const NAMES: &'static [&'static str] = &["ECDSA-P256", "RSA-2048", "RSA-3072", "RSA-4096"];

    pub fn parse(name: &str) -> Option<KeyAlgorithm> {
        match name {
            "ECDSA-P256" => Some(KeyAlgorithm::EcdsaP256),
            "RSA-2048" => Some(KeyAlgorithm::Rsa2048),
            "RSA-3072" => Some(KeyAlgorithm::Rsa3072),
            "RSA-4096" => Some(KeyAlgorithm::Rsa4096),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            KeyAlgorithm::EcdsaP256 => "ECDSA-P256",
            KeyAlgorithm::Rsa2048 => "RSA-2048",
            KeyAlgorithm::Rsa3072 => "RSA-3072",
            KeyAlgorithm::Rsa4096 => "RSA-4096",
        }
    }

    fn rsa_bits(self) -> Option<usize> {
        match self {
            KeyAlgorithm::EcdsaP256 => None,
            KeyAlgorithm::Rsa2048 => Some(2048),
            KeyAlgorithm::Rsa3072 => Some(3072),
            KeyAlgorithm::Rsa4096 => Some(4096),
        }
    }
}

/// A private key. Its text form is secret: it is only ever written to a 0600 file.
pub enum PrivateKey {
    P256(etcd_certs_p256::PrivateKey),
    Rsa(Box<rsa::RsaPrivateKey>),
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({})", self.algorithm_name())
    }
}

impl PrivateKey {
    /// A fresh key from the operating system's random source.
    pub fn generate(algorithm: KeyAlgorithm) -> Result<PrivateKey> {
        match algorithm.rsa_bits() {
            None => Ok(PrivateKey::P256(etcd_certs_p256::generate())),
            Some(bits) => generate_rsa(bits).map(|k| PrivateKey::Rsa(Box::new(k))),
        }
    }

    /// Reads a PEM key: PKCS#8 (`PRIVATE KEY`), SEC1 (`EC PRIVATE KEY`) or PKCS#1
    /// (`RSA PRIVATE KEY`), as kubeadm, openssl and cfssl write them.
    pub fn from_pem(text: &str) -> Result<PrivateKey> {
        let (label, der) = SecretDocument::from_pem(text.trim_start())
            .map_err(|_| Error("not a PEM private key".into()))?;
        let der = der.as_bytes();
        match label {
            "PRIVATE KEY" => match etcd_certs_p256::from_pkcs8_der(der) {
                Ok(Some(key)) => Ok(PrivateKey::P256(key)),
                Ok(None) => match rsa::RsaPrivateKey::from_pkcs8_der(der) {
                    Ok(key) => Ok(PrivateKey::Rsa(Box::new(key))),
                    Err(_) => err("a PKCS#8 key that is neither ECDSA P-256 nor RSA"),
                },
                Err(e) => err(format!(
                    "a PKCS#8 EC key that is not a valid P-256 key ({e})"
                )),
            },
            "EC PRIVATE KEY" => match etcd_certs_p256::from_sec1_der(der) {
                Ok(key) => Ok(PrivateKey::P256(key)),
                Err(e) => err(format!("an EC key that is not a valid P-256 key ({e})")),
            },
            "RSA PRIVATE KEY" => Ok(PrivateKey::Rsa(Box::new(
                rsa::RsaPrivateKey::from_pkcs1_der(der)?,
            ))),
            other => err(format!("a PEM block of type '{other}', not a private key")),
        }
    }

    /// PKCS#8 PEM. Secret: goes to a 0600 file and nowhere else.
    pub fn to_pem(&self) -> Result<Zeroizing<String>> {
        Ok(match self {
            PrivateKey::P256(key) => etcd_certs_p256::to_pkcs8_der(key)?
                .to_pem(PrivateKeyInfo::PEM_LABEL, LineEnding::LF)?,
            PrivateKey::Rsa(key) => key.to_pkcs8_pem(LineEnding::LF)?,
        })
    }

    /// `ECDSA-P256`, `RSA-2048`, ... (`RSA-<bits>` for any RSA size).
    pub fn algorithm_name(&self) -> String {
        match self {
            PrivateKey::P256(_) => KeyAlgorithm::EcdsaP256.name().into(),
            PrivateKey::Rsa(key) => format!("RSA-{}", key.n().bits()),
        }
    }

    pub fn public_key_info(&self) -> Result<SubjectPublicKeyInfoOwned> {
        match self {
            PrivateKey::P256(key) => Ok(SubjectPublicKeyInfoOwned {
                algorithm: AlgorithmIdentifierOwned {
                    oid: rfc5912::ID_EC_PUBLIC_KEY,
                    parameters: Some(Any::from(&rfc5912::SECP_256_R_1)),
                },
                subject_public_key: BitString::from_bytes(&etcd_certs_p256::public_key_sec1(key))?,
            }),
            PrivateKey::Rsa(key) => {
                let der = key.to_public_key().to_public_key_der()?;
                Ok(SubjectPublicKeyInfoOwned::from_der(der.as_bytes())?)
            }
        }
    }

    fn signature_algorithm(&self) -> AlgorithmIdentifierOwned {
        match self {
            PrivateKey::P256(_) => AlgorithmIdentifierOwned {
                oid: rfc5912::ECDSA_WITH_SHA_256,
                parameters: None,
            },
            PrivateKey::Rsa(_) => AlgorithmIdentifierOwned {
                oid: rfc5912::SHA_256_WITH_RSA_ENCRYPTION,
                parameters: Some(Any::null()),
            },
        }
    }

    fn sign(&self, message: &[u8]) -> Result<BitString> {
        use rsa::signature::{SignatureEncoding, Signer};
        let bytes = match self {
            PrivateKey::P256(key) => etcd_certs_p256::sign(key, message)?,
            PrivateKey::Rsa(key) => {
                let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key.as_ref().clone());
                signer.try_sign(message)?.to_vec()
            }
        };
        Ok(BitString::from_bytes(&bytes)?)
    }

    fn is_rsa(&self) -> bool {
        matches!(self, PrivateKey::Rsa(_))
    }
}

fn generate_rsa(bits: usize) -> Result<rsa::RsaPrivateKey> {
    let half = bits / 2;
    let exponent = rsa::BigUint::from(65_537u32);
    // Each try fails with a chance of about 2^-16 (e not invertible); a handful is plenty.
    for _ in 0..16 {
        let (Some(p), Some(q)) = (
            etcd_certs_primes::rsa_prime(half),
            etcd_certs_primes::rsa_prime(half),
        ) else {
            return err(format!("RSA-{bits} keys are not supported"));
        };
        let p = rsa::BigUint::from_bytes_be(&p);
        let q = rsa::BigUint::from_bytes_be(&q);
        // FIPS 186-5 B.3.3: |p - q| > 2^(bits/2 - 100), or the modulus is easy to factor.
        let distance = if p > q { &p - &q } else { &q - &p };
        if distance.bits() <= half - 100 {
            continue;
        }
        let Ok(key) = rsa::RsaPrivateKey::from_p_q(p, q, exponent.clone()) else {
            continue;
        };
        if key.n().bits() == bits {
            key.validate()?;
            return Ok(key);
        }
    }
    err(format!("could not generate an RSA-{bits} key"))
}

/// What kind of key a public key is: a [`KeyAlgorithm`] when it is one this module makes,
/// otherwise a description (`RSA-1024`, `EC 1.3.132.0.34`).
pub fn key_algorithm_name(spki: &SubjectPublicKeyInfoOwned) -> String {
    match spki.algorithm.oid {
        rfc5912::ID_EC_PUBLIC_KEY => {
            let curve = spki
                .algorithm
                .parameters
                .as_ref()
                .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
            match curve {
                Some(rfc5912::SECP_256_R_1) => KeyAlgorithm::EcdsaP256.name().into(),
                Some(oid) => format!("EC {oid}"),
                None => "EC (unknown curve)".into(),
            }
        }
        rfc5912::RSA_ENCRYPTION => match rsa_public_key(spki) {
            Ok(key) => format!("RSA-{}", key.n().bits()),
            Err(_) => "RSA (unreadable)".into(),
        },
        oid => format!("unknown ({oid})"),
    }
}

fn rsa_public_key(spki: &SubjectPublicKeyInfoOwned) -> Result<rsa::RsaPublicKey> {
    use rsa::pkcs8::DecodePublicKey;
    Ok(rsa::RsaPublicKey::from_public_key_der(&spki.to_der()?)?)
}

/// True when both describe the same public key.
pub fn same_public_key(a: &SubjectPublicKeyInfoOwned, b: &SubjectPublicKeyInfoOwned) -> bool {
    a.algorithm.oid == b.algorithm.oid && a.subject_public_key == b.subject_public_key
}

/// Checks `signature` over `message` with the public key `spki`.
pub fn verify(
    spki: &SubjectPublicKeyInfoOwned,
    algorithm: &AlgorithmIdentifierOwned,
    message: &[u8],
    signature: &BitString,
) -> Result<()> {
    let Some(signature) = signature.as_bytes() else {
        return err("the signature is not a whole number of bytes");
    };
    match algorithm.oid {
        rfc5912::ECDSA_WITH_SHA_256 => {
            if key_algorithm_name(spki) != KeyAlgorithm::EcdsaP256.name() {
                return err("an ECDSA-with-SHA256 signature but the key is not ECDSA P-256");
            }
            Ok(etcd_certs_p256::verify(
                spki.subject_public_key.raw_bytes(),
                message,
                signature,
            )?)
        }
        rfc5912::SHA_256_WITH_RSA_ENCRYPTION => {
            verify_rsa::<sha2::Sha256>(spki, message, signature)
        }
        oid => err(format!("unsupported signature algorithm {oid}")),
    }
}

fn verify_rsa<D>(spki: &SubjectPublicKeyInfoOwned, message: &[u8], signature: &[u8]) -> Result<()>
where
    D: sha2::Digest + AssociatedOid,
{
    use rsa::signature::Verifier;
    let key = rsa::pkcs1v15::VerifyingKey::<D>::new(rsa_public_key(spki)?);
    let signature = rsa::pkcs1v15::Signature::try_from(signature)?;
    key.verify(message, &signature)
        .map_err(|_| Error("the signature does not verify".into()))
}

/// A subject alternative name, as compared and shown (`DNS:cp1`, `IP:10.0.0.1`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum San {
    Dns(String),
    Ip(IpAddr),
}

impl San {
    /// An IP literal becomes an IP SAN, anything else a DNS name (lower-cased).
    pub fn parse(text: &str) -> San {
        match text.parse::<IpAddr>() {
            Ok(ip) => San::Ip(ip),
            Err(_) => San::Dns(text.to_ascii_lowercase()),
        }
    }

    /// The text form back (`DNS:cp1`, `IP:10.0.0.1`); an untagged text as [`San::parse`].
    pub fn parse_shown(text: &str) -> San {
        if let Some(name) = text.strip_prefix("DNS:") {
            return San::Dns(name.to_ascii_lowercase());
        }
        match text.strip_prefix("IP:").map(str::parse::<IpAddr>) {
            Some(Ok(ip)) => San::Ip(ip),
            _ => San::parse(text),
        }
    }

    fn to_general_name(&self) -> Result<GeneralName> {
        Ok(match self {
            San::Dns(name) => GeneralName::DnsName(Ia5String::new(name)?),
            San::Ip(IpAddr::V4(ip)) => GeneralName::IpAddress(OctetString::new(ip.octets())?),
            San::Ip(IpAddr::V6(ip)) => GeneralName::IpAddress(OctetString::new(ip.octets())?),
        })
    }

    fn from_general_name(name: &GeneralName) -> Option<San> {
        match name {
            GeneralName::DnsName(dns) => Some(San::Dns(dns.as_str().to_ascii_lowercase())),
            GeneralName::IpAddress(bytes) => match bytes.as_bytes().len() {
                4 => <[u8; 4]>::try_from(bytes.as_bytes())
                    .ok()
                    .map(|b| San::Ip(IpAddr::from(b))),
                16 => <[u8; 16]>::try_from(bytes.as_bytes())
                    .ok()
                    .map(|b| San::Ip(IpAddr::from(b))),
                _ => None,
            },
            _ => None,
        }
    }
}

impl fmt::Display for San {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            San::Dns(name) => write!(f, "DNS:{name}"),
            San::Ip(ip) => write!(f, "IP:{ip}"),
        }
    }
}

/// A name with one common name (`CN=...`), the only subjects this module makes.
pub fn common_name(cn: &str) -> Result<Name> {
    use x509_cert::attr::AttributeTypeAndValue;
    use x509_cert::der::asn1::{SetOfVec, Utf8StringRef};
    use x509_cert::name::{RdnSequence, RelativeDistinguishedName};
    let value = AttributeTypeAndValue {
        oid: rfc4519::CN,
        value: Any::from(Utf8StringRef::new(cn)?),
    };
    let rdn = RelativeDistinguishedName(SetOfVec::try_from(vec![value])?);
    Ok(RdnSequence(vec![rdn]))
}

/// The common name of `name`, when it has exactly one attribute and that is a CN.
pub fn only_common_name(name: &Name) -> Option<String> {
    let [rdn] = name.0.as_slice() else {
        return None;
    };
    let [atv] = rdn.0.as_slice() else {
        return None;
    };
    (atv.oid == rfc4519::CN).then(|| any_string(&atv.value))?
}

/// A distinguished name as text (`CN=cp1`, `O=system:masters,CN=x`), in its own order. Written
/// here rather than with `Name`'s `Display`, which links the whole OID name database (~100 KiB).
pub fn name_text(name: &Name) -> String {
    let mut rdns = Vec::new();
    for rdn in &name.0 {
        let mut parts = Vec::new();
        for atv in rdn.0.iter() {
            let key = match atv.oid {
                rfc4519::CN => "CN".to_owned(),
                rfc4519::O => "O".to_owned(),
                rfc4519::OU => "OU".to_owned(),
                rfc4519::C => "C".to_owned(),
                rfc4519::L => "L".to_owned(),
                rfc4519::ST => "ST".to_owned(),
                rfc4519::DC => "DC".to_owned(),
                oid => oid.to_string(),
            };
            let value = any_string(&atv.value)
                .unwrap_or_else(|| format!("#{}", kubeha_runtime::digest::hex(atv.value.value())));
            parts.push(format!("{key}={value}"));
        }
        rdns.push(parts.join("+"));
    }
    rdns.join(",")
}

fn any_string(value: &Any) -> Option<String> {
    use x509_cert::der::{Tag, Tagged};
    match value.tag() {
        Tag::Utf8String | Tag::PrintableString | Tag::Ia5String | Tag::TeletexString => {
            std::str::from_utf8(value.value()).ok().map(str::to_owned)
        }
        _ => None,
    }
}

/// What a certificate says, read once.
#[derive(Debug, Clone)]
pub struct CertFacts {
    pub subject: String,
    pub common_name: Option<String>,
    pub issuer: String,
    pub serial: String,
    pub not_before: u64,
    pub not_after: u64,
    pub is_ca: bool,
    pub ext_key_usage: Vec<ObjectIdentifier>,
    pub sans: Vec<San>,
    pub key_algorithm: String,
    pub subject_key_id: Option<Vec<u8>>,
}

impl CertFacts {
    pub fn of(cert: &Certificate) -> CertFacts {
        let tbs = &cert.tbs_certificate;
        let mut facts = CertFacts {
            subject: name_text(&tbs.subject),
            common_name: only_common_name(&tbs.subject),
            issuer: name_text(&tbs.issuer),
            serial: hex_upper(tbs.serial_number.as_bytes()),
            not_before: tbs.validity.not_before.to_unix_duration().as_secs(),
            not_after: tbs.validity.not_after.to_unix_duration().as_secs(),
            is_ca: false,
            ext_key_usage: Vec::new(),
            sans: Vec::new(),
            key_algorithm: key_algorithm_name(&tbs.subject_public_key_info),
            subject_key_id: None,
        };
        for ext in tbs.extensions.iter().flatten() {
            let value = ext.extn_value.as_bytes();
            match ext.extn_id {
                BasicConstraints::OID => {
                    facts.is_ca = BasicConstraints::from_der(value).is_ok_and(|b| b.ca);
                }
                ExtendedKeyUsage::OID => {
                    facts.ext_key_usage = ExtendedKeyUsage::from_der(value)
                        .map(|e| e.0)
                        .unwrap_or_default();
                }
                SubjectAltName::OID => {
                    facts.sans = sans_of(value);
                }
                SubjectKeyIdentifier::OID => {
                    facts.subject_key_id = SubjectKeyIdentifier::from_der(value)
                        .ok()
                        .map(|s| s.0.as_bytes().to_vec());
                }
                _ => {}
            }
        }
        facts
    }
}

pub fn sans_of(extension_value: &[u8]) -> Vec<San> {
    SubjectAltName::from_der(extension_value)
        .map(|names| names.0.iter().filter_map(San::from_general_name).collect())
        .unwrap_or_default()
}

pub fn hex_upper(bytes: &[u8]) -> String {
    kubeha_runtime::digest::hex(bytes).to_ascii_uppercase()
}

/// Every `CERTIFICATE` PEM block of `text`, in order (a CA file may hold a bundle: the CAs a
/// host trusts during a CA rotation). At least one.
pub fn certificates_from_pem(text: &str) -> Result<Vec<Certificate>> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    let mut certs = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        certs.push(certificate_from_pem(&rest[start..])?);
        rest = &rest[start + BEGIN.len()..];
    }
    if certs.is_empty() {
        return err("no PEM CERTIFICATE block".to_string());
    }
    Ok(certs)
}

/// The first `CERTIFICATE` PEM block of `text` (a file may hold a bundle).
pub fn certificate_from_pem(text: &str) -> Result<Certificate> {
    const END: &str = "-----END CERTIFICATE-----";
    let start = text
        .find("-----BEGIN CERTIFICATE-----")
        .ok_or_else(|| Error("no PEM CERTIFICATE block".into()))?;
    let end = text[start..]
        .find(END)
        .map(|i| start + i + END.len())
        .ok_or_else(|| Error("an unterminated PEM CERTIFICATE block".into()))?;
    Ok(Certificate::from_pem(&text[start..end])?)
}

pub fn certificate_to_pem(cert: &Certificate) -> Result<String> {
    Ok(cert.to_pem(LineEnding::LF)?)
}

/// True when `issuer` signed `cert` (names chain and the signature verifies).
pub fn issued_by(cert: &Certificate, issuer: &Certificate) -> Result<()> {
    if cert.tbs_certificate.issuer != issuer.tbs_certificate.subject {
        return err(format!(
            "issued by '{}', not by '{}'",
            name_text(&cert.tbs_certificate.issuer),
            name_text(&issuer.tbs_certificate.subject)
        ));
    }
    if cert.signature_algorithm != cert.tbs_certificate.signature {
        return err("the two signature algorithm fields differ");
    }
    verify(
        &issuer.tbs_certificate.subject_public_key_info,
        &cert.signature_algorithm,
        &cert.tbs_certificate.to_der()?,
        &cert.signature,
    )
}

/// A certificate signing request made with `key`, asking for `sans` (none: no extension).
pub fn make_request(key: &PrivateKey, cn: &str, sans: &[San]) -> Result<String> {
    let mut attributes = x509_cert::attr::Attributes::new();
    if !sans.is_empty() {
        let request = ExtensionReq(vec![extension(&subject_alt_name(sans)?, false)?]);
        attributes.insert(Attribute::try_from(request)?)?;
    }
    let info = CertReqInfo {
        version: x509_cert::request::Version::V1,
        subject: common_name(cn)?,
        public_key: key.public_key_info()?,
        attributes,
    };
    let signature = key.sign(&info.to_der()?)?;
    let request = CertReq {
        info,
        algorithm: key.signature_algorithm(),
        signature,
    };
    Ok(request.to_pem(LineEnding::LF)?)
}

/// A request as the CA sees it once its signature (proof of key possession) checks out.
#[derive(Debug, Clone)]
pub struct CheckedRequest {
    pub subject: String,
    pub common_name: Option<String>,
    pub public_key: SubjectPublicKeyInfoOwned,
    pub key_algorithm: String,
    pub sans: Vec<San>,
    /// Extensions requested besides subjectAltName (by OID), which the CA refuses.
    pub other_extensions: Vec<ObjectIdentifier>,
}

/// Parses a PEM CSR and checks its self-signature.
pub fn read_request(pem: &str) -> Result<CheckedRequest> {
    let request = CertReq::from_pem(pem.trim())?;
    verify(
        &request.info.public_key,
        &request.algorithm,
        &request.info.to_der()?,
        &request.signature,
    )
    .map_err(|e| Error(format!("its signature is invalid ({e})")))?;
    let mut sans = Vec::new();
    let mut other_extensions = Vec::new();
    for attribute in request.info.attributes.iter() {
        if attribute.oid != ExtensionReq::OID {
            other_extensions.push(attribute.oid);
            continue;
        }
        for value in attribute.values.iter() {
            let requested: ExtensionReq = value.decode_as()?;
            for ext in requested.0 {
                if ext.extn_id == SubjectAltName::OID {
                    sans.extend(sans_of(ext.extn_value.as_bytes()));
                } else {
                    other_extensions.push(ext.extn_id);
                }
            }
        }
    }
    Ok(CheckedRequest {
        common_name: only_common_name(&request.info.subject),
        key_algorithm: key_algorithm_name(&request.info.public_key),
        subject: name_text(&request.info.subject),
        public_key: request.info.public_key,
        sans,
        other_extensions,
    })
}

/// What a certificate being made is for.
#[derive(Debug, Clone)]
pub enum Usage<'a> {
    /// A self-signed CA (key cert sign, CRL sign).
    Ca,
    /// A leaf signed by `issuer`: not a CA, with these extended key usages and SANs.
    Leaf {
        issuer: &'a Certificate,
        ext_key_usage: &'a [ObjectIdentifier],
        sans: &'a [San],
    },
}

/// Builds and signs a certificate.
pub fn make_certificate(
    subject: Name,
    public_key: SubjectPublicKeyInfoOwned,
    not_before: u64,
    not_after: u64,
    usage: Usage<'_>,
    signer: &PrivateKey,
) -> Result<Certificate> {
    let subject_key_id = key_identifier(&public_key);
    let mut extensions = Vec::new();
    let issuer = match &usage {
        Usage::Ca => {
            extensions.push(extension(
                &BasicConstraints {
                    ca: true,
                    path_len_constraint: None,
                },
                true,
            )?);
            extensions.push(extension(
                &KeyUsage(
                    KeyUsages::DigitalSignature | KeyUsages::KeyCertSign | KeyUsages::CRLSign,
                ),
                true,
            )?);
            extensions.push(extension(
                &SubjectKeyIdentifier(OctetString::new(subject_key_id)?),
                false,
            )?);
            subject.clone()
        }
        Usage::Leaf {
            issuer,
            ext_key_usage,
            sans,
        } => {
            extensions.push(extension(
                &BasicConstraints {
                    ca: false,
                    path_len_constraint: None,
                },
                true,
            )?);
            // Key encipherment only means something for RSA keys (TLS 1.2 RSA key exchange).
            let mut usages = KeyUsage(KeyUsages::DigitalSignature.into());
            if public_key.algorithm.oid == rfc5912::RSA_ENCRYPTION {
                usages = KeyUsage(KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment);
            }
            extensions.push(extension(&usages, true)?);
            extensions.push(extension(&ExtendedKeyUsage(ext_key_usage.to_vec()), false)?);
            extensions.push(extension(
                &SubjectKeyIdentifier(OctetString::new(subject_key_id)?),
                false,
            )?);
            let issuer_facts = CertFacts::of(issuer);
            let authority_key_id = issuer_facts.subject_key_id.unwrap_or_else(|| {
                key_identifier(&issuer.tbs_certificate.subject_public_key_info).to_vec()
            });
            extensions.push(extension(
                &AuthorityKeyIdentifier {
                    key_identifier: Some(OctetString::new(authority_key_id)?),
                    authority_cert_issuer: None,
                    authority_cert_serial_number: None,
                },
                false,
            )?);
            if !sans.is_empty() {
                extensions.push(extension(&subject_alt_name(sans)?, false)?);
            }
            issuer.tbs_certificate.subject.clone()
        }
    };
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: random_serial()?,
        signature: signer.signature_algorithm(),
        issuer,
        validity: Validity {
            not_before: time(not_before)?,
            not_after: time(not_after)?,
        },
        subject,
        subject_public_key_info: public_key,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(extensions),
    };
    let signature = signer.sign(&tbs.to_der()?)?;
    Ok(Certificate {
        signature_algorithm: tbs.signature.clone(),
        tbs_certificate: tbs,
        signature,
    })
}

/// True when `key` is the private half of the certificate's public key.
pub fn key_matches(key: &PrivateKey, cert: &Certificate) -> bool {
    key.public_key_info()
        .is_ok_and(|spki| same_public_key(&spki, &cert.tbs_certificate.subject_public_key_info))
}

/// True when signing with `key` makes signatures that `cert`'s key verifies, i.e. `key` can
/// sign as the CA `cert` (an RSA CA key has RSA certificates and vice versa).
pub fn can_sign_as(key: &PrivateKey, cert: &Certificate) -> bool {
    key_matches(key, cert)
        && (key.is_rsa()
            == (cert.tbs_certificate.subject_public_key_info.algorithm.oid
                == rfc5912::RSA_ENCRYPTION))
}

fn subject_alt_name(sans: &[San]) -> Result<SubjectAltName> {
    Ok(SubjectAltName(
        sans.iter()
            .map(San::to_general_name)
            .collect::<Result<_>>()?,
    ))
}

fn extension<T: Encode + AssociatedOid>(value: &T, critical: bool) -> Result<Extension> {
    Ok(Extension {
        extn_id: T::OID,
        critical,
        extn_value: OctetString::new(value.to_der()?)?,
    })
}

/// RFC 5280 4.2.1.2 method 1: SHA-1 of the public key bits.
fn key_identifier(spki: &SubjectPublicKeyInfoOwned) -> [u8; 20] {
    sha1::Sha1::digest(spki.subject_public_key.raw_bytes()).into()
}

/// 16 random bytes, positive, no leading zero byte (RFC 5280: at most 20 octets, unpredictable).
fn random_serial() -> Result<SerialNumber> {
    use rand_core::RngCore;
    let mut bytes = [0u8; 16];
    rand_core::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| Error(format!("reading random bytes: {e}")))?;
    bytes[0] = (bytes[0] & 0x7f) | 0x40;
    Ok(SerialNumber::new(&bytes)?)
}

/// RFC 5280: UTCTime through 2049, GeneralizedTime from 2050.
fn time(unix_seconds: u64) -> Result<Time> {
    let at = std::time::Duration::from_secs(unix_seconds);
    Ok(match UtcTime::from_unix_duration(at) {
        Ok(utc) => Time::UtcTime(utc),
        Err(_) => Time::GeneralTime(GeneralizedTime::from_unix_duration(at)?),
    })
}

/// `2026-11-25T08:00:00Z`.
pub fn rfc3339(unix_seconds: u64) -> String {
    match x509_cert::der::DateTime::from_unix_duration(std::time::Duration::from_secs(unix_seconds))
    {
        Ok(t) => t.to_string(),
        Err(_) => format!("@{unix_seconds}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ca(key: &PrivateKey) -> Certificate {
        make_certificate(
            common_name("etcd-ca").unwrap(),
            key.public_key_info().unwrap(),
            1_700_000_000,
            2_000_000_000,
            Usage::Ca,
            key,
        )
        .unwrap()
    }

    #[test]
    fn keys_round_trip_through_pem() {
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let pem = key.to_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        let back = PrivateKey::from_pem(&pem).unwrap();
        assert_eq!(
            back.public_key_info().unwrap(),
            key.public_key_info().unwrap()
        );
        assert_eq!(back.algorithm_name(), "ECDSA-P256");
        assert!(PrivateKey::from_pem(
            "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n"
        )
        .is_err());
        assert!(
            format!("{key:?}").ends_with("(ECDSA-P256)"),
            "Debug shows no key material"
        );
    }

    #[test]
    fn p256_public_keys_are_the_usual_spki() {
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let der = key.public_key_info().unwrap().to_der().unwrap();
        // SEQUENCE { SEQUENCE { id-ecPublicKey, secp256r1 }, BIT STRING (65-byte point) },
        // as openssl, Go and p256 write it.
        let prefix = "3059301306072a8648ce3d020106082a8648ce3d030107034200";
        assert!(kubeha_runtime::digest::hex(&der).starts_with(prefix));
        assert_eq!(der.len(), 91);
    }

    #[test]
    fn rsa_keys_have_the_size_asked_for() {
        let key = PrivateKey::generate(KeyAlgorithm::Rsa2048).unwrap();
        assert_eq!(key.algorithm_name(), "RSA-2048");
        let spki = key.public_key_info().unwrap();
        assert_eq!(key_algorithm_name(&spki), "RSA-2048");
        let back = PrivateKey::from_pem(&key.to_pem().unwrap()).unwrap();
        assert_eq!(back.public_key_info().unwrap(), spki);
    }

    #[test]
    fn ca_signs_a_leaf_and_the_leaf_verifies() {
        let ca_key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let ca_cert = ca(&ca_key);
        issued_by(&ca_cert, &ca_cert).unwrap();
        let leaf_key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let sans = [San::parse("cp1"), San::parse("10.0.0.1"), San::parse("::1")];
        let leaf = make_certificate(
            common_name("cp1").unwrap(),
            leaf_key.public_key_info().unwrap(),
            1_700_000_000,
            1_800_000_000,
            Usage::Leaf {
                issuer: &ca_cert,
                ext_key_usage: &[ID_KP_SERVER_AUTH, ID_KP_CLIENT_AUTH],
                sans: &sans,
            },
            &ca_key,
        )
        .unwrap();
        issued_by(&leaf, &ca_cert).unwrap();
        assert!(key_matches(&leaf_key, &leaf));
        assert!(!key_matches(&ca_key, &leaf));
        let facts = CertFacts::of(&leaf);
        assert_eq!(facts.common_name.as_deref(), Some("cp1"));
        assert_eq!(facts.issuer, "CN=etcd-ca");
        assert_eq!(facts.sans, sans);
        assert!(!facts.is_ca);
        assert_eq!(facts.ext_key_usage, [ID_KP_SERVER_AUTH, ID_KP_CLIENT_AUTH]);
        assert_eq!(facts.not_after, 1_800_000_000);
        assert_eq!(facts.serial.len(), 32);

        let other_ca = ca(&PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap());
        assert!(issued_by(&leaf, &other_ca).is_err(), "same name, other key");
    }

    #[test]
    fn requests_carry_sans_and_prove_key_possession() {
        let key = PrivateKey::generate(KeyAlgorithm::EcdsaP256).unwrap();
        let pem = make_request(&key, "cp1", &[San::parse("cp1"), San::parse("127.0.0.1")]).unwrap();
        let checked = read_request(&pem).unwrap();
        assert_eq!(checked.common_name.as_deref(), Some("cp1"));
        assert_eq!(checked.sans, [San::parse("cp1"), San::parse("127.0.0.1")]);
        assert!(checked.other_extensions.is_empty());
        assert!(same_public_key(
            &checked.public_key,
            &key.public_key_info().unwrap()
        ));

        let bare = read_request(&make_request(&key, "kube-etcd-healthcheck-client", &[]).unwrap())
            .unwrap();
        assert!(bare.sans.is_empty());

        // A flipped bit in the signed part breaks the self-signature.
        let mut der = CertReq::from_pem(pem.trim()).unwrap().to_der().unwrap();
        let at = der.len() / 3;
        der[at] ^= 1;
        if let Ok(tampered) = CertReq::from_der(&der) {
            let tampered = tampered.to_pem(LineEnding::LF).unwrap();
            assert!(read_request(&tampered).is_err());
        }
    }

    #[test]
    fn times_follow_rfc5280() {
        assert!(matches!(time(1_700_000_000).unwrap(), Time::UtcTime(_)));
        assert!(matches!(time(2_600_000_000).unwrap(), Time::GeneralTime(_)));
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn sans_parse_and_show() {
        assert_eq!(
            San::parse("CP1.Example.org").to_string(),
            "DNS:cp1.example.org"
        );
        assert_eq!(San::parse("fd00::1").to_string(), "IP:fd00::1");
        for text in ["DNS:cp1", "IP:10.0.0.1", "IP:::1"] {
            assert_eq!(San::parse_shown(text).to_string(), text);
        }
    }
}
