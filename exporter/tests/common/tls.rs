//! A throw-away certificate authority and a small blocking https client, for the TLS tests.

use std::{
    io::{Read, Write},
    net::TcpStream,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer, ServerName};

/// A CA made for one test, with its certificate written to `dir/<name>-ca.crt`.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
    pub cert_path: PathBuf,
}

/// A certificate and key signed by a [`TestCa`], written as PEM files.
pub struct Leaf {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
}

impl TestCa {
    pub fn new(dir: &Path, name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, format!("{name} test CA"));
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate().expect("CA key")).expect("CA cert");
        let cert_path = dir.join(format!("{name}-ca.crt"));
        std::fs::write(&cert_path, issuer.pem()).expect("write CA");
        TestCa { issuer, cert_path }
    }

    /// A server certificate for `localhost` and 127.0.0.1, or a client certificate.
    pub fn leaf(&self, dir: &Path, name: &str, client: bool) -> Leaf {
        let names = if client { vec![name.to_owned()] } else { vec!["localhost".to_owned(), "127.0.0.1".to_owned()] };
        let mut params = CertificateParams::new(names).expect("leaf params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.extended_key_usages =
            vec![if client { ExtendedKeyUsagePurpose::ClientAuth } else { ExtendedKeyUsagePurpose::ServerAuth }];
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign leaf");
        let leaf = Leaf { cert_path: dir.join(format!("{name}.crt")), key_path: dir.join(format!("{name}.key")) };
        std::fs::write(&leaf.cert_path, cert.pem()).expect("write cert");
        std::fs::write(&leaf.key_path, key.serialize_pem()).expect("write key");
        leaf
    }
}

fn certs(path: &Path) -> Vec<CertificateDer<'static>> {
    CertificateDer::pem_file_iter(path).expect("open PEM").collect::<Result<_, _>>().expect("parse PEM")
}

/// A rustls server config for `leaf` (the tests' TLS receivers).
pub fn server_config(leaf: &Leaf) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(certs(&leaf.cert_path), PrivateKeyDer::from_pem_file(&leaf.key_path).expect("key"))
        .expect("server config");
    Arc::new(config)
}

/// One https GET to 127.0.0.1:`port` trusting only `ca`, with optional basic credentials and
/// client certificate; returns the status and the whole response (head and body).
pub fn https_get(
    port: u16,
    path: &str,
    ca: &Path,
    basic: Option<(&str, &str)>,
    client: Option<&Leaf>,
) -> std::io::Result<(u16, String)> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in certs(ca) {
        roots.add(cert).expect("CA cert");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    let config = match client {
        Some(leaf) => builder
            .with_client_auth_cert(certs(&leaf.cert_path), PrivateKeyDer::from_pem_file(&leaf.key_path).expect("key"))
            .expect("client cert"),
        None => builder.with_no_client_auth(),
    };
    let name = ServerName::try_from("localhost").expect("server name");
    let connection = rustls::ClientConnection::new(Arc::new(config), name).map_err(std::io::Error::other)?;
    let tcp = TcpStream::connect(("127.0.0.1", port))?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut tls = rustls::StreamOwned::new(connection, tcp);
    let auth = match basic {
        Some((user, password)) => {
            use base64::Engine as _;
            let token = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            format!("Authorization: Basic {token}\r\n")
        }
        None => String::new(),
    };
    write!(tls, "GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n")?;
    let mut response = Vec::new();
    match tls.read_to_end(&mut response) {
        Ok(_) => {}
        // The server may close without close_notify after Connection: close; what arrived counts.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !response.is_empty() => {}
        Err(e) => return Err(e),
    }
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Ok((status, response))
}
