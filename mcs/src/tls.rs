//! The serving certificate and the rustls configuration.
//!
//! Given `--tls-cert`/`--tls-key`, those PEM files are served as they are.
//! Otherwise the state directory holds a CA (`ca.crt`, `ca.key`) and a
//! serving certificate it signed (`server.crt`, `server.key`); keys are
//! ECDSA P-256, written 0600. They are created on the first start and reused
//! on later ones. The serving certificate names `localhost`, `127.0.0.1`,
//! `::1`, the host name and every `--san`; when a later start asks for a
//! name it lacks, a new serving certificate is issued by the same CA (so
//! clients that trust `ca.crt` keep working). Both are valid for ten years.
//! Clients (the pointer config, `curl --cacert`) trust `ca.crt`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, Context};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SanType,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

pub const CA_CERT: &str = "ca.crt";
pub const CA_KEY: &str = "ca.key";
pub const SERVER_CERT: &str = "server.crt";
pub const SERVER_KEY: &str = "server.key";

/// Names every generated serving certificate has.
pub const DEFAULT_SANS: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// What the TLS listener serves.
#[derive(Debug)]
pub struct Identity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
    /// The generated CA's certificate file, when the certificate was generated.
    pub ca_file: Option<PathBuf>,
}

/// Loads a certificate chain and key given on the command line.
pub fn load_files(cert: &Path, key: &Path) -> anyhow::Result<Identity> {
    let (chain, key) = read_pair(cert, key)?;
    Ok(Identity {
        chain,
        key,
        ca_file: None,
    })
}

/// The generated identity of a state directory, created or reused.
pub fn load_or_create(state_dir: &Path, extra_sans: &[String]) -> anyhow::Result<Identity> {
    let file = |n: &str| state_dir.join(n);
    let wanted = wanted_sans(extra_sans);

    let ca_key_pem;
    let ca_cert_pem;
    if file(CA_CERT).exists() && file(CA_KEY).exists() {
        ca_cert_pem = read_text(&file(CA_CERT))?;
        ca_key_pem = read_text(&file(CA_KEY))?;
    } else {
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = name("mooring machine config server CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        validity(&mut params);
        let cert = params.self_signed(&key)?;
        ca_cert_pem = cert.pem();
        ca_key_pem = key.serialize_pem();
        crate::state::atomic_write(&file(CA_KEY), ca_key_pem.as_bytes(), 0o600)?;
        crate::state::atomic_write(&file(CA_CERT), ca_cert_pem.as_bytes(), 0o644)?;
        // A new CA invalidates any serving certificate left over.
        let _ = std::fs::remove_file(file(SERVER_CERT));
        tracing::info!(file = %file(CA_CERT).display(), "created a CA");
    }

    let reuse = file(SERVER_CERT).exists()
        && file(SERVER_KEY).exists()
        && match existing_sans(&file(SERVER_CERT)) {
            Ok(have) => wanted.iter().all(|w| have.contains(w)),
            Err(e) => {
                tracing::warn!("cannot read {}: {e:#}; issuing a new one", SERVER_CERT);
                false
            }
        };
    if !reuse {
        let ca_key = KeyPair::from_pem(&ca_key_pem).context("ca.key")?;
        let ca_params = CertificateParams::from_ca_cert_pem(&ca_cert_pem).context("ca.crt")?;
        let ca = ca_params.self_signed(&ca_key)?;
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::default();
        params.distinguished_name = name("mooring machine config server");
        params.subject_alt_names = wanted.clone();
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        validity(&mut params);
        let cert = params.signed_by(&key, &ca, &ca_key)?;
        crate::state::atomic_write(&file(SERVER_KEY), key.serialize_pem().as_bytes(), 0o600)?;
        crate::state::atomic_write(&file(SERVER_CERT), cert.pem().as_bytes(), 0o644)?;
        tracing::info!(
            file = %file(SERVER_CERT).display(),
            names = ?wanted.iter().map(san_text).collect::<Vec<_>>(),
            "issued a serving certificate"
        );
    }
    let (chain, key) = read_pair(&file(SERVER_CERT), &file(SERVER_KEY))?;
    Ok(Identity {
        chain,
        key,
        ca_file: Some(file(CA_CERT)),
    })
}

/// The rustls configuration: TLS 1.2 and 1.3, HTTP/1.1 (as OpenShift's MCS,
/// which turns HTTP/2 off).
pub fn server_config(id: Identity) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(id.chain, id.key)
        .context("the certificate and key do not match or are unusable")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn wanted_sans(extra: &[String]) -> Vec<SanType> {
    let mut names: Vec<String> = DEFAULT_SANS.iter().map(|s| s.to_string()).collect();
    if let Some(h) = hostname() {
        names.push(h);
    }
    names.extend(extra.iter().cloned());
    let mut out: Vec<SanType> = Vec::new();
    for n in names {
        let san = match n.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip),
            Err(_) => match n.clone().try_into() {
                Ok(dns) => SanType::DnsName(dns),
                Err(_) => {
                    tracing::warn!("ignoring --san {n:?}: not a DNS name or an IP address");
                    continue;
                }
            },
        };
        if !out.contains(&san) {
            out.push(san);
        }
    }
    out
}

fn san_text(s: &SanType) -> String {
    match s {
        SanType::DnsName(d) => d.as_str().to_string(),
        SanType::IpAddress(ip) => ip.to_string(),
        other => format!("{other:?}"),
    }
}

fn existing_sans(cert: &Path) -> anyhow::Result<Vec<SanType>> {
    // `from_ca_cert_pem` reads any certificate's extensions, SANs included.
    let params = CertificateParams::from_ca_cert_pem(&read_text(cert)?)?;
    Ok(params.subject_alt_names)
}

/// The machine's host name (from the kernel), when it has one.
pub fn hostname() -> Option<String> {
    let h = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    let h = h.trim();
    (!h.is_empty() && h != "(none)").then(|| h.to_string())
}

fn name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, "mooring");
    dn
}

fn validity(params: &mut CertificateParams) {
    let now = std::time::SystemTime::now();
    let day = std::time::Duration::from_secs(86_400);
    params.not_before = (now - day).into();
    params.not_after = (now + day * 3650).into();
}

fn read_text(p: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))
}

fn read_pair(
    cert: &Path,
    key: &Path,
) -> anyhow::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let chain: Vec<CertificateDer<'static>> =
        rustls_pemfile::certs(&mut read_text(cert)?.as_bytes())
            .collect::<Result<_, _>>()
            .with_context(|| format!("{}: not PEM certificates", cert.display()))?;
    if chain.is_empty() {
        return Err(anyhow!("{}: no certificate in it", cert.display()));
    }
    let key = rustls_pemfile::private_key(&mut read_text(key)?.as_bytes())
        .with_context(|| format!("{}: not a PEM private key", key.display()))?
        .ok_or_else(|| anyhow!("{}: no private key in it", key.display()))?;
    Ok((chain, key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn created_once_reused_and_reissued_for_new_names() {
        let d = tempfile::tempdir().unwrap();
        let id = load_or_create(d.path(), &[]).unwrap();
        assert_eq!(id.chain.len(), 1);
        for k in [CA_KEY, SERVER_KEY] {
            let mode = std::fs::metadata(d.path().join(k))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{k}");
        }
        let read = |n: &str| std::fs::read(d.path().join(n)).unwrap();
        let (ca, crt) = (read(CA_CERT), read(SERVER_CERT));
        load_or_create(d.path(), &[]).unwrap();
        assert_eq!(read(CA_CERT), ca);
        assert_eq!(read(SERVER_CERT), crt);

        load_or_create(d.path(), &["mcs.example.com".into(), "10.1.2.3".into()]).unwrap();
        assert_eq!(read(CA_CERT), ca, "the CA is kept");
        assert_ne!(read(SERVER_CERT), crt, "a new serving certificate");
        let sans = existing_sans(&d.path().join(SERVER_CERT)).unwrap();
        let texts: Vec<String> = sans.iter().map(san_text).collect();
        for n in [
            "localhost",
            "127.0.0.1",
            "::1",
            "mcs.example.com",
            "10.1.2.3",
        ] {
            assert!(texts.contains(&n.to_string()), "{texts:?}");
        }
        server_config(load_or_create(d.path(), &["mcs.example.com".into()]).unwrap()).unwrap();
    }
}
