//! The portal's certificates, in one directory (`--tls DIR`): a local certificate
//! authority (`ca.crt.pem`, `ca.key.pem`), made the first time anything asks for it;
//! the portal's own server certificate (`server.crt.pem`, `server.key.pem`); an index of
//! the retailer certificates it issued (`issued`: one line per certificate,
//! `SERIAL CODE NOT_AFTER`) and the serials it revoked (`revoked`: `SERIAL REVOKED_AT`).
//! Keys are written owner-only. A revocation is a line added to `revoked`, which the
//! server reads at every request: it takes effect at once, on connections already open
//! too.
//!
//! Keys are ECDSA P-256 (rcgen's default on ring). A retailer's certificate and key
//! also come as one PKCS#12 file under a random password. A retailer certificate names the
//! retailer's five-character code as its common name, organisational unit `retailer`,
//! for client authentication only, valid two years (as the utilities' client
//! certificates are); its serial is 16 bytes of the SHA-256 of its public key (unique
//! per key, unpredictable).

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, SecondsFormat, Utc};
use edi::PartyCode;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType, SerialNumber,
};
use sha2::{Digest, Sha256};

/// What can go wrong with the certificates.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file of the directory could not be read or written.
    #[error("{path}: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What happened.
        error: std::io::Error,
    },
    /// A certificate or key could not be made or read.
    #[error("certificate: {0}")]
    Certificate(String),
    /// A line of `issued` or `revoked` that is not ours.
    #[error("{path} line {line}: {why}")]
    Index {
        /// The file.
        path: PathBuf,
        /// Its line (from 1).
        line: usize,
        /// Why.
        why: String,
    },
    /// A serial the authority never issued.
    #[error("no certificate of serial {0} was issued here")]
    UnknownSerial(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TlsError + '_ {
    move |error| TlsError::Io {
        path: path.to_owned(),
        error,
    }
}

fn cert_error(e: impl std::fmt::Display) -> TlsError {
    TlsError::Certificate(e.to_string())
}

/// A certificate issued to a retailer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// Its serial, lowercase hex.
    pub serial: String,
    /// The retailer.
    pub retailer: PartyCode,
    /// Its end of validity.
    pub not_after: DateTime<Utc>,
    /// When it was revoked, if it was.
    pub revoked: Option<DateTime<Utc>>,
}

/// A retailer's new certificate and key: PEM, and both with the CA's certificate in a
/// PKCS#12 file under a password of its own. `Debug` shows neither key nor password.
pub struct RetailerIdentity {
    /// Its index entry.
    pub issued: Issued,
    /// The certificate.
    pub cert_pem: String,
    /// The private key (never logged).
    pub key_pem: String,
    /// The certificate, its chain and the key, PKCS#12.
    pub p12: Vec<u8>,
    /// The PKCS#12 file's password: 24 characters of A-Z and 2-9 from 15 random bytes.
    pub p12_password: String,
}

impl std::fmt::Debug for RetailerIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetailerIdentity")
            .field("issued", &self.issued)
            .finish_non_exhaustive()
    }
}

/// A password of 24 characters from 15 random bytes (120 bits), in an alphabet without
/// look-alikes (no 0, O, 1, I), to be read off a screen and typed: a PKCS#12 file's, and
/// the operator `sim --serve` makes.
///
/// # Errors
/// [`TlsError::Certificate`] if the operating system gave no random bytes.
pub fn random_password() -> Result<String, TlsError> {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 15];
    getrandom::getrandom(&mut bytes).map_err(cert_error)?;
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = String::with_capacity(24);
    for b in bytes {
        bits = (bits << 8) | u32::from(b);
        n += 8;
        while n >= 5 {
            n -= 5;
            out.push(char::from(ALPHABET[((bits >> n) & 31) as usize]));
        }
    }
    Ok(out)
}

/// `key` with `chain` (leaf first) in a PKCS#12 file under `password`.
fn pkcs12(key: &KeyPair, chain: &[&[u8]], password: &str) -> Result<Vec<u8>, TlsError> {
    let certs = chain
        .iter()
        .map(|der| p12_keystore::Certificate::from_der(der).map_err(cert_error))
        .collect::<Result<Vec<_>, _>>()?;
    let local_key_id = Sha256::digest(key.public_key_der());
    let entry = p12_keystore::PrivateKeyChain::new(key.serialize_der(), &local_key_id[..20], certs);
    let mut store = p12_keystore::KeyStore::new();
    store.add_entry(
        "retailer",
        p12_keystore::KeyStoreEntry::PrivateKeyChain(entry),
    );
    store.writer(password).write().map_err(cert_error)
}

/// The certificate directory.
#[derive(Debug, Clone)]
pub struct Authority {
    dir: PathBuf,
}

/// The CA's subject: the same every time, so the CA can be rebuilt from its key.
fn ca_params() -> Result<CertificateParams, TlsError> {
    let mut p = CertificateParams::new(Vec::<String>::new()).map_err(cert_error)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, "iotroute");
    dn.push(DnType::CommonName, "iotroute public server CA");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = rcgen::date_time_ymd(2020, 1, 1);
    p.not_after = rcgen::date_time_ymd(2100, 1, 1);
    Ok(p)
}

/// `t` plus `years`, the day kept (28 February for a 29th that year has none).
fn years_after(t: DateTime<Utc>, years: i32) -> (i32, u8, u8) {
    let (y, m, d) = (t.year() + years, t.month(), t.day());
    let d = if m == 2 && d == 29 { 28 } else { d };
    (
        y,
        u8::try_from(m).unwrap_or(1),
        u8::try_from(d).unwrap_or(1),
    )
}

fn serial_of(key: &KeyPair) -> [u8; 16] {
    let digest = Sha256::digest(key.public_key_der());
    let mut serial = [0u8; 16];
    serial.copy_from_slice(&digest[..16]);
    // A positive INTEGER of 16 bytes (RFC 5280: at most 20 octets, positive).
    serial[0] &= 0x7F;
    serial[0] |= 0x01;
    serial
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Write `text` to `path`, readable by its owner only when `secret`.
fn write_file(path: &Path, text: &str, secret: bool) -> Result<(), TlsError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let _ = secret;
    let mut f = options.open(path).map_err(io(path))?;
    f.write_all(text.as_bytes()).map_err(io(path))
}

impl Authority {
    /// The authority in `dir`, its CA made (and `dir` created) if missing.
    ///
    /// # Errors
    /// [`TlsError`].
    pub fn open(dir: &Path) -> Result<Self, TlsError> {
        fs::create_dir_all(dir).map_err(io(dir))?;
        let a = Self {
            dir: dir.to_owned(),
        };
        if !a.path("ca.key.pem").exists() {
            let key = KeyPair::generate().map_err(cert_error)?;
            let cert = ca_params()?.self_signed(&key).map_err(cert_error)?;
            write_file(&a.path("ca.key.pem"), &key.serialize_pem(), true)?;
            write_file(&a.path("ca.crt.pem"), &cert.pem(), false)?;
            tracing::info!(dir = %dir.display(), "local certificate authority made");
        }
        Ok(a)
    }

    /// A file of the directory.
    #[must_use]
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn ca(&self) -> Result<(rcgen::Certificate, KeyPair), TlsError> {
        let path = self.path("ca.key.pem");
        let pem = fs::read_to_string(&path).map_err(io(&path))?;
        let key = KeyPair::from_pem(&pem).map_err(cert_error)?;
        let cert = ca_params()?.self_signed(&key).map_err(cert_error)?;
        Ok((cert, key))
    }

    /// The CA certificate, PEM.
    ///
    /// # Errors
    /// [`TlsError::Io`].
    pub fn ca_pem(&self) -> Result<String, TlsError> {
        let path = self.path("ca.crt.pem");
        fs::read_to_string(&path).map_err(io(&path))
    }

    /// Issue a certificate to `retailer` at `now`, recorded in `issued`.
    ///
    /// # Errors
    /// [`TlsError`].
    pub fn issue(
        &self,
        retailer: PartyCode,
        now: DateTime<Utc>,
    ) -> Result<RetailerIdentity, TlsError> {
        let (ca, ca_key) = self.ca()?;
        let key = KeyPair::generate().map_err(cert_error)?;
        let serial = serial_of(&key);
        let mut p = CertificateParams::new(Vec::<String>::new()).map_err(cert_error)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "iotroute");
        dn.push(DnType::OrganizationalUnitName, "retailer");
        dn.push(DnType::CommonName, retailer.as_str());
        p.distinguished_name = dn;
        p.serial_number = Some(SerialNumber::from_slice(&serial));
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        p.use_authority_key_identifier_extension = true;
        let (y, m, d) = years_after(now, 0);
        p.not_before = rcgen::date_time_ymd(y, m, d);
        let (y, m, d) = years_after(now, 2);
        p.not_after = rcgen::date_time_ymd(y, m, d);
        let cert = p.signed_by(&key, &ca, &ca_key).map_err(cert_error)?;
        let not_after = chrono::NaiveDate::from_ymd_opt(y, u32::from(m), u32::from(d))
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc())
            .ok_or_else(|| cert_error("end of validity out of range"))?;
        let issued = Issued {
            serial: hex(&serial),
            retailer,
            not_after,
            revoked: None,
        };
        self.append(
            "issued",
            &format!(
                "{} {} {}\n",
                issued.serial,
                retailer,
                not_after.to_rfc3339_opts(SecondsFormat::Secs, true)
            ),
        )?;
        tracing::info!(%retailer, serial = %issued.serial, "retailer certificate issued");
        let p12_password = random_password()?;
        let p12 = pkcs12(
            &key,
            &[cert.der().as_ref(), ca.der().as_ref()],
            &p12_password,
        )?;
        Ok(RetailerIdentity {
            issued,
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            p12,
            p12_password,
        })
    }

    /// The portal's own certificate and key (PEM), made for `names` (DNS names or IP
    /// addresses; `localhost`, 127.0.0.1 and ::1 always) the first time.
    ///
    /// # Errors
    /// [`TlsError`].
    pub fn server_identity(&self, names: &[String]) -> Result<(String, String), TlsError> {
        let (cert_path, key_path) = (self.path("server.crt.pem"), self.path("server.key.pem"));
        if !key_path.exists() {
            let (ca, ca_key) = self.ca()?;
            let key = KeyPair::generate().map_err(cert_error)?;
            let mut all = vec![
                "localhost".to_owned(),
                "127.0.0.1".to_owned(),
                "::1".to_owned(),
            ];
            all.extend(
                names
                    .iter()
                    .filter(|n| !all.contains(n))
                    .cloned()
                    .collect::<Vec<_>>(),
            );
            let mut p = CertificateParams::new(Vec::<String>::new()).map_err(cert_error)?;
            p.subject_alt_names = all
                .iter()
                .map(|n| match n.parse::<std::net::IpAddr>() {
                    Ok(ip) => Ok(SanType::IpAddress(ip)),
                    Err(_) => n
                        .clone()
                        .try_into()
                        .map(SanType::DnsName)
                        .map_err(cert_error),
                })
                .collect::<Result<_, _>>()?;
            let mut dn = DistinguishedName::new();
            dn.push(DnType::OrganizationName, "iotroute");
            dn.push(DnType::CommonName, "iotroute public server");
            p.distinguished_name = dn;
            p.serial_number = Some(SerialNumber::from_slice(&serial_of(&key)));
            p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
            p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
            p.use_authority_key_identifier_extension = true;
            let cert = p.signed_by(&key, &ca, &ca_key).map_err(cert_error)?;
            write_file(&key_path, &key.serialize_pem(), true)?;
            write_file(
                &cert_path,
                &format!("{}{}", cert.pem(), self.ca_pem()?),
                false,
            )?;
        }
        let cert = fs::read_to_string(&cert_path).map_err(io(&cert_path))?;
        let key = fs::read_to_string(&key_path).map_err(io(&key_path))?;
        Ok((cert, key))
    }

    fn append(&self, name: &str, line: &str) -> Result<(), TlsError> {
        let path = self.path(name);
        let mut f = fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io(&path))?;
        f.write_all(line.as_bytes()).map_err(io(&path))?;
        f.sync_all().map_err(io(&path))
    }

    /// The lines of `name` split into fields (none when the file does not exist).
    fn lines(&self, name: &str) -> Result<Vec<(usize, Vec<String>)>, TlsError> {
        let path = self.path(name);
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(io(&path)(e)),
        };
        Ok(text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| (i + 1, l.split_whitespace().map(str::to_owned).collect()))
            .collect())
    }

    fn index_error(&self, name: &str, line: usize, why: impl Into<String>) -> TlsError {
        TlsError::Index {
            path: self.path(name),
            line,
            why: why.into(),
        }
    }

    /// The serials revoked, with when.
    ///
    /// # Errors
    /// [`TlsError`]: the file cannot be read, or holds a line not ours.
    pub fn revoked(&self) -> Result<Vec<(String, DateTime<Utc>)>, TlsError> {
        self.lines("revoked")?
            .into_iter()
            .map(|(line, f)| match f.as_slice() {
                [serial, at] if is_serial(serial) => DateTime::parse_from_rfc3339(at)
                    .map(|t| (serial.clone(), t.with_timezone(&Utc)))
                    .map_err(|_| self.index_error("revoked", line, "not a time")),
                _ => Err(self.index_error("revoked", line, "not SERIAL TIME")),
            })
            .collect()
    }

    /// Whether `serial` (lowercase hex) is revoked.
    ///
    /// # Errors
    /// As [`Authority::revoked`]: a damaged file refuses every certificate's request
    /// rather than let a revoked one through.
    pub fn is_revoked(&self, serial: &str) -> Result<bool, TlsError> {
        Ok(self.revoked()?.iter().any(|(s, _)| s == serial))
    }

    /// Every certificate issued, oldest first, with its revocation.
    ///
    /// # Errors
    /// [`TlsError`].
    pub fn list(&self) -> Result<Vec<Issued>, TlsError> {
        let revoked = self.revoked()?;
        self.lines("issued")?
            .into_iter()
            .map(|(line, f)| match f.as_slice() {
                [serial, code, not_after] if is_serial(serial) => Ok(Issued {
                    serial: serial.clone(),
                    retailer: code
                        .parse()
                        .map_err(|_| self.index_error("issued", line, "not a retailer code"))?,
                    not_after: DateTime::parse_from_rfc3339(not_after)
                        .map_err(|_| self.index_error("issued", line, "not a time"))?
                        .with_timezone(&Utc),
                    revoked: revoked.iter().find(|(s, _)| s == serial).map(|r| r.1),
                }),
                _ => Err(self.index_error("issued", line, "not SERIAL CODE NOT_AFTER")),
            })
            .collect()
    }

    /// Revoke the certificate of `serial` (hex, any case) at `now`; revoking one
    /// revoked already changes nothing.
    ///
    /// # Errors
    /// [`TlsError::UnknownSerial`]: not issued here; [`TlsError`].
    pub fn revoke(&self, serial: &str, now: DateTime<Utc>) -> Result<Issued, TlsError> {
        let serial = serial.to_ascii_lowercase();
        let issued = self
            .list()?
            .into_iter()
            .find(|i| i.serial == serial)
            .ok_or_else(|| TlsError::UnknownSerial(serial.clone()))?;
        if issued.revoked.is_some() {
            return Ok(issued);
        }
        self.append(
            "revoked",
            &format!(
                "{serial} {}\n",
                now.to_rfc3339_opts(SecondsFormat::Secs, true)
            ),
        )?;
        tracing::warn!(retailer = %issued.retailer, %serial, "retailer certificate revoked");
        Ok(Issued {
            revoked: Some(now),
            ..issued
        })
    }
}

fn is_serial(s: &str) -> bool {
    (2..=40).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The retailer a certificate (PEM) names: its common name, when a party code.
#[must_use]
pub fn retailer_of(cert_pem: &str) -> Option<PartyCode> {
    let der = rustls_pemfile::certs(&mut cert_pem.as_bytes())
        .next()?
        .ok()?;
    let (_, x) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    let cn = x.subject().iter_common_name().next()?.as_str().ok()?;
    cn.parse().ok()
}
