//! `--web.config.file`: TLS and basic auth for /metrics, in the Prometheus exporter-toolkit
//! format, so the file Prometheus' own exporters use works here unchanged:
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: server.crt            # relative paths are relative to this file's directory
//!   key_file: server.key
//!   client_auth_type: RequireAndVerifyClientCert   # or VerifyClientCertIfGiven, NoClientCert
//!   client_ca_file: clients-ca.crt
//!   min_version: TLS12                # TLS12 or TLS13
//! basic_auth_users:
//!   prometheus: $2y$10$...            # bcrypt hash (htpasswd -nBC 10 "" | tr -d ':')
//! ```
//!
//! Everything is read and checked by [`WebConfig::load`], before the exporter loads anything
//! (the certificate and key are then re-read whenever their files change, see [`CertFiles`]);
//! an unknown key is an error (a typo must not silently leave /metrics open). Keys of the
//! toolkit that rustls cannot honour (cipher suites, curves, TLS 1.0/1.1, unverified client
//! certificates) are refused with the reason.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, OnceLock},
};

use base64::Engine as _;
use rustls::{
    crypto::CryptoProvider,
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
    server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier},
    sign::CertifiedKey,
    RootCertStore, ServerConfig,
};
use subtle::ConstantTimeEq;

use crate::rules::yaml::{self, Node, Pos};

/// A `--web.config.file` problem, one line: `--web.config.file FILE[:LINE:COL]: cause`.
#[derive(Debug, thiserror::Error)]
#[error("--web.config.file {location}: {message}")]
pub struct WebConfigError {
    location: String,
    message: String,
}

impl WebConfigError {
    fn at(file: &Path, pos: Option<Pos>, message: impl Into<String>) -> Self {
        let location = match pos {
            Some(p) => format!("{}:{}:{}", file.display(), p.line, p.col),
            None => file.display().to_string(),
        };
        WebConfigError { location, message: message.into() }
    }
}

/// How the server treats client certificates (the toolkit's `client_auth_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    NoClientCert,
    VerifyClientCertIfGiven,
    RequireAndVerifyClientCert,
}

/// What `--web.config.file` asks for. `Default` is plain HTTP without authentication.
#[derive(Clone, Default)]
pub struct WebConfig {
    /// TLS for every connection, when set.
    pub tls: Option<Arc<ServerConfig>>,
    /// Credentials every request but /healthz must carry, when set.
    pub basic_auth: Option<Arc<BasicAuth>>,
    /// For the start-up log line.
    pub client_auth: Option<ClientAuth>,
}

impl std::fmt::Debug for WebConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebConfig")
            .field("tls", &self.tls.is_some())
            .field("client_auth", &self.client_auth)
            .field("basic_auth_users", &self.basic_auth.as_ref().map(|a| a.users.len()))
            .finish()
    }
}

const TOP_KEYS: &[&str] = &["tls_server_config", "basic_auth_users"];
const TLS_KEYS: &[&str] = &[
    "cert_file",
    "key_file",
    "client_auth_type",
    "client_ca_file",
    "min_version",
    "max_version",
    "prefer_server_cipher_suites",
];

/// Keys the toolkit knows that this exporter refuses, with why; better than "unknown key" for
/// a file copied from another exporter.
fn unsupported(key: &str) -> Option<&'static str> {
    Some(match key {
        "http_server_config" => "is not supported (the exporter serves HTTP/1.1 and sets no extra headers)",
        "rate_limit" => "is not supported",
        "cipher_suites" | "curve_preferences" => {
            "is not supported: rustls offers only its own secure suites and curves"
        }
        "client_allowed_sans" => "is not supported: restrict clients by the CA in client_ca_file",
        "cert" | "key" | "client_ca" => "(inline PEM) is not supported: use cert_file, key_file, client_ca_file",
        _ => return None,
    })
}

impl WebConfig {
    /// Reads and checks `path`: the YAML, every key, the certificate files (a key that does not
    /// match its certificate fails here) and every bcrypt hash.
    pub fn load(path: &Path) -> Result<WebConfig, WebConfigError> {
        let err = |pos: Option<Pos>, msg: String| WebConfigError::at(path, pos, msg);
        let text = std::fs::read_to_string(path).map_err(|e| err(None, format!("cannot read: {e}")))?;
        let docs = yaml::parse(&text).map_err(|(pos, msg)| err(Some(pos), msg))?;
        let root = match docs.as_slice() {
            [] => return Ok(WebConfig::default()),
            [root] if root.is_null() => return Ok(WebConfig::default()),
            [root @ Node::Map { .. }] => root,
            [other] => return Err(err(Some(other.pos()), format!("expected a mapping, found {}", other.kind()))),
            [_, second, ..] => return Err(err(Some(second.pos()), "expected one YAML document".into())),
        };
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let reader = Reader { file: path, base };
        reader.check_keys(root, "", TOP_KEYS)?;
        let mut config = WebConfig::default();
        if let Some(tls) = root.get("tls_server_config").filter(|n| !n.is_null()) {
            let (server, client_auth) = reader.tls(tls)?;
            config.tls = Some(Arc::new(server));
            config.client_auth = Some(client_auth);
        }
        if let Some(users) = root.get("basic_auth_users").filter(|n| !n.is_null()) {
            config.basic_auth = reader.users(users)?;
        }
        Ok(config)
    }
}

struct Reader<'a> {
    file: &'a Path,
    base: PathBuf,
}

impl Reader<'_> {
    fn err(&self, pos: Option<Pos>, message: impl Into<String>) -> WebConfigError {
        WebConfigError::at(self.file, pos, message)
    }

    /// `node` is a mapping with unique keys, each one of `known`.
    fn check_keys(&self, node: &Node, section: &str, known: &[&str]) -> Result<(), WebConfigError> {
        let Node::Map { entries, .. } = node else {
            return Err(self.err(Some(node.pos()), format!("{section} must be a mapping, found {}", node.kind())));
        };
        let inside = if section.is_empty() { String::new() } else { format!(" in {section}") };
        let mut seen = Vec::new();
        for (key, _) in entries {
            let name = key.as_str().unwrap_or_default();
            if let Some(why) = unsupported(name) {
                return Err(self.err(Some(key.pos()), format!("'{name}'{inside} {why}")));
            }
            if !known.contains(&name) {
                return Err(
                    self.err(Some(key.pos()), format!("unknown key '{name}'{inside}; known: {}", known.join(", ")))
                );
            }
            if seen.contains(&name) {
                return Err(self.err(Some(key.pos()), format!("'{name}'{inside} given twice")));
            }
            seen.push(name);
        }
        Ok(())
    }

    /// A string key; an empty value is the toolkit's default, as if absent.
    fn string<'n>(&self, parent: &'n Node, key: &str) -> Result<Option<(&'n str, Pos)>, WebConfigError> {
        if parent.get(key).is_some_and(Node::is_null) {
            return Ok(None);
        }
        parent.get_str(key).map_err(|(pos, msg)| self.err(Some(pos), msg))
    }

    /// A file named in the config; relative to the config file's directory, as in the toolkit.
    fn read(&self, key: &str, name: &str, pos: Pos) -> Result<(PathBuf, Vec<u8>), WebConfigError> {
        let path = self.base.join(name);
        let bytes = std::fs::read(&path).map_err(|e| self.err(Some(pos), format!("{key} {}: {e}", path.display())))?;
        Ok((path, bytes))
    }

    fn tls(&self, node: &Node) -> Result<(ServerConfig, ClientAuth), WebConfigError> {
        const SECTION: &str = "tls_server_config";
        self.check_keys(node, SECTION, TLS_KEYS)?;
        let need = |key: &str| -> Result<(&str, Pos), WebConfigError> {
            self.string(node, key)?.ok_or_else(|| {
                self.err(Some(node.pos()), format!("{SECTION} needs {key} (both cert_file and key_file)"))
            })
        };
        let (cert_name, cert_pos) = need("cert_file")?;
        let (key_name, key_pos) = need("key_file")?;

        let (min, max) = (self.version(node, "min_version")?, self.version(node, "max_version")?);
        let versions: Vec<&'static rustls::SupportedProtocolVersion> =
            [(12, &rustls::version::TLS12), (13, &rustls::version::TLS13)]
                .into_iter()
                .filter(|(v, _)| min.is_none_or(|m| *v >= m) && max.is_none_or(|m| *v <= m))
                .map(|(_, v)| v)
                .collect();
        if versions.is_empty() {
            return Err(self.err(Some(node.pos()), "min_version is above max_version"));
        }

        let client_auth = match self.string(node, "client_auth_type")? {
            None | Some(("NoClientCert", _)) => ClientAuth::NoClientCert,
            Some(("VerifyClientCertIfGiven", _)) => ClientAuth::VerifyClientCertIfGiven,
            Some(("RequireAndVerifyClientCert", _)) => ClientAuth::RequireAndVerifyClientCert,
            Some((t @ ("RequestClientCert" | "RequireAnyClientCert"), pos)) => {
                return Err(self.err(
                    Some(pos),
                    format!("client_auth_type {t} (unverified client certificates) is not supported: use VerifyClientCertIfGiven or RequireAndVerifyClientCert"),
                ))
            }
            Some((other, pos)) => {
                return Err(self.err(
                    Some(pos),
                    format!("client_auth_type '{other}': use NoClientCert, VerifyClientCertIfGiven or RequireAndVerifyClientCert"),
                ))
            }
        };
        // Files last, so a wrong value is reported before a missing file.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let (cert_path, key_path) = (self.base.join(cert_name), self.base.join(key_name));
        let certified = load_pair(&cert_path, &key_path, &provider)
            .map_err(|(part, message)| self.err(Some(if part == Part::Cert { cert_pos } else { key_pos }), message))?;
        let resolver = CertFiles::new(cert_path, key_path, provider.clone(), certified);

        let ca = self.string(node, "client_ca_file")?;
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&versions)
            .map_err(|e| self.err(Some(node.pos()), format!("TLS versions: {e}")))?;
        let builder = match (client_auth, ca) {
            (ClientAuth::NoClientCert, None) => builder.with_no_client_auth(),
            // As the toolkit: a CA without a policy is a mistake, not a silent no-op.
            (ClientAuth::NoClientCert, Some((_, pos))) => {
                return Err(self.err(
                    Some(pos),
                    "client_ca_file is set but client_auth_type is NoClientCert: set client_auth_type to RequireAndVerifyClientCert or VerifyClientCertIfGiven",
                ))
            }
            (_, None) => {
                return Err(self.err(Some(node.pos()), "client_auth_type verifies client certificates: set client_ca_file"))
            }
            (mode, Some((name, pos))) => {
                let (path, pem) = self.read("client_ca_file", name, pos)?;
                let mut roots = RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(&pem) {
                    let cert = cert.map_err(|e| self.err(Some(pos), format!("client_ca_file {}: not PEM: {e}", path.display())))?;
                    roots.add(cert).map_err(|e| self.err(Some(pos), format!("client_ca_file {}: {e}", path.display())))?;
                }
                if roots.is_empty() {
                    return Err(self.err(Some(pos), format!("client_ca_file {}: no CERTIFICATE in it", path.display())));
                }
                let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
                let verifier = if mode == ClientAuth::VerifyClientCertIfGiven { verifier.allow_unauthenticated() } else { verifier };
                let verifier = verifier.build().map_err(|e| self.err(Some(pos), format!("client_ca_file: {e}")))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut server = builder.with_cert_resolver(Arc::new(resolver));
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        if let Some(prefer) =
            node.get_bool("prefer_server_cipher_suites").map_err(|(pos, msg)| self.err(Some(pos), msg))?
        {
            server.ignore_client_order = prefer;
        }
        Ok((server, client_auth))
    }

    /// `TLS12` -> 12, `TLS13` -> 13.
    fn version(&self, node: &Node, key: &str) -> Result<Option<u8>, WebConfigError> {
        match self.string(node, key)? {
            None => Ok(None),
            Some(("TLS12", _)) => Ok(Some(12)),
            Some(("TLS13", _)) => Ok(Some(13)),
            Some((v @ ("TLS10" | "TLS11"), pos)) => {
                Err(self.err(Some(pos), format!("{key} {v}: TLS 1.0 and 1.1 are not supported; use TLS12 or TLS13")))
            }
            Some((v, pos)) => Err(self.err(Some(pos), format!("{key} '{v}': use TLS12 or TLS13"))),
        }
    }

    fn users(&self, node: &Node) -> Result<Option<Arc<BasicAuth>>, WebConfigError> {
        let Node::Map { entries, .. } = node else {
            return Err(self.err(
                Some(node.pos()),
                format!("basic_auth_users must be a mapping of user: bcrypt hash, found {}", node.kind()),
            ));
        };
        let mut users = HashMap::new();
        for (key, value) in entries {
            let user = key.as_str().unwrap_or_default();
            if user.is_empty() || user.contains(':') {
                return Err(self.err(Some(key.pos()), format!("user '{user}': must be non-empty without ':'")));
            }
            let hash = value
                .as_str()
                .ok_or_else(|| self.err(Some(value.pos()), format!("user '{user}': the hash must be a string")))?;
            // Parsing checks the $2a$/$2b$/$2y$ prefix, the cost and the length.
            hash.parse::<bcrypt::HashParts>().map_err(|e| {
                self.err(
                    Some(value.pos()),
                    format!("user '{user}': not a bcrypt hash ({e}); make one with htpasswd -nBC 10 \"\" | tr -d ':'"),
                )
            })?;
            if users.insert(user.to_owned(), hash.to_owned()).is_some() {
                return Err(self.err(Some(key.pos()), format!("user '{user}' given twice")));
            }
        }
        Ok((!users.is_empty()).then(|| Arc::new(BasicAuth::new(users))))
    }
}

/// Which of the two files a certificate problem is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    Cert,
    Key,
}

/// Reads a PEM certificate chain and its private key; a key that does not match the certificate
/// is an error (of the key file).
fn load_pair(cert_path: &Path, key_path: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, (Part, String)> {
    let cert_pem =
        std::fs::read(cert_path).map_err(|e| (Part::Cert, format!("cert_file {}: {e}", cert_path.display())))?;
    let certs = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| (Part::Cert, format!("cert_file {}: not PEM: {e}", cert_path.display())))?;
    if certs.is_empty() {
        return Err((Part::Cert, format!("cert_file {}: no CERTIFICATE in it", cert_path.display())));
    }
    let key_pem = std::fs::read(key_path).map_err(|e| (Part::Key, format!("key_file {}: {e}", key_path.display())))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| (Part::Key, format!("key_file {}: no private key: {e}", key_path.display())))?;
    CertifiedKey::from_der(certs, key, provider).map_err(|e| (Part::Key, format!("cert_file/key_file: {e}")))
}

/// (device, inode, modification time, size) of both files: changes when either is rewritten or,
/// as a Kubernetes Secret update does, replaced through a symlink swap.
type Stamp = Option<[(u64, u64, i64, i64, u64); 2]>;

fn stamp(cert: &Path, key: &Path) -> Stamp {
    use std::os::unix::fs::MetadataExt;
    let one = |p: &Path| std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino(), m.mtime(), m.mtime_nsec(), m.size()));
    Some([one(cert)?, one(key)?])
}

/// The server certificate, re-read when its files change (checked at each handshake: two
/// stat calls), as exporter-toolkit re-reads them, so a renewed certificate (cert-manager, a
/// rotated Secret) is served without a restart. A renewal that does not load (half written,
/// key not matching yet) keeps the previous certificate and is logged; the next change is
/// tried again.
#[derive(Debug)]
struct CertFiles {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: Mutex<(Stamp, Arc<CertifiedKey>)>,
}

impl CertFiles {
    fn new(cert: PathBuf, key: PathBuf, provider: Arc<CryptoProvider>, loaded: CertifiedKey) -> CertFiles {
        let current = Mutex::new((stamp(&cert, &key), Arc::new(loaded)));
        CertFiles { cert, key, provider, current }
    }
}

impl ResolvesServerCert for CertFiles {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let mut current = self.current.lock().ok()?;
        let now = stamp(&self.cert, &self.key);
        if now.is_some() && now != current.0 {
            current.0 = now;
            match load_pair(&self.cert, &self.key, &self.provider) {
                Ok(loaded) => {
                    current.1 = Arc::new(loaded);
                    tracing::info!(cert = %self.cert.display(), "TLS certificate reloaded");
                }
                Err((_, e)) => {
                    tracing::warn!(error = %e, "TLS certificate changed but does not load; serving the previous one")
                }
            }
        }
        Some(current.1.clone())
    }
}

/// Checks HTTP basic credentials against bcrypt hashes. bcrypt is slow on purpose (tens of ms
/// at cost 10); Prometheus sends the same credentials on every scrape, so a verified password
/// is remembered (as an HMAC with a per-process key, compared in constant time) and later
/// requests with it cost a microsecond. Failures are never cached: each wrong guess pays bcrypt.
pub struct BasicAuth {
    users: HashMap<String, String>,
    key: ring::hmac::Key,
    /// user -> HMAC of the last password that verified; one entry per user at most.
    verified: Mutex<HashMap<String, ring::hmac::Tag>>,
}

/// What a request's `Authorization` header amounts to before any bcrypt.
pub enum Credentials {
    /// Missing, not `Basic`, or not decodable.
    Missing,
    /// Verified earlier with the same password.
    Cached,
    /// Needs [`BasicAuth::verify`] (slow; run it off the async threads).
    Unverified { user: String, password: String },
}

impl BasicAuth {
    pub fn new(users: HashMap<String, String>) -> BasicAuth {
        let rng = ring::rand::SystemRandom::new();
        let key = ring::hmac::Key::generate(ring::hmac::HMAC_SHA256, &rng)
            // The kernel's random source failing is not something to serve on; an all-zero key
            // would still be correct, only not secret, and cached entries never leave memory.
            .unwrap_or_else(|_| ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &[0; 32]));
        BasicAuth { users, key, verified: Mutex::new(HashMap::new()) }
    }

    fn tag(&self, user: &str, password: &str) -> ring::hmac::Tag {
        let mut ctx = ring::hmac::Context::with_key(&self.key);
        ctx.update(user.as_bytes());
        ctx.update(&[0]);
        ctx.update(password.as_bytes());
        ctx.sign()
    }

    /// Decodes `Authorization: Basic base64(user:password)` and looks in the cache.
    pub fn check(&self, authorization: Option<&[u8]>) -> Credentials {
        let Some((user, password)) = authorization.and_then(decode_basic) else { return Credentials::Missing };
        let tag = self.tag(&user, &password);
        let cached =
            self.verified.lock().ok().and_then(|v| v.get(&user).map(|t| bool::from(t.as_ref().ct_eq(tag.as_ref()))));
        if cached == Some(true) {
            Credentials::Cached
        } else {
            Credentials::Unverified { user, password }
        }
    }

    /// bcrypt-verifies `password` for `user`; true remembers it. An unknown user still pays one
    /// bcrypt, so timing does not tell which users exist.
    pub fn verify(&self, user: &str, password: &str) -> bool {
        let ok = match self.users.get(user) {
            Some(hash) => bcrypt::verify(password, hash).unwrap_or(false),
            None => {
                let _ = bcrypt::verify(password, dummy_hash());
                false
            }
        };
        if ok {
            if let Ok(mut verified) = self.verified.lock() {
                verified.insert(user.to_owned(), self.tag(user, password));
            }
        }
        ok
    }
}

/// A hash of a random password at bcrypt's usual cost, made once, for unknown users.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| bcrypt::hash("tracewarden-no-such-user", 10).unwrap_or_default())
}

fn decode_basic(header: &[u8]) -> Option<(String, String)> {
    let header = std::str::from_utf8(header).ok()?.trim();
    let (scheme, encoded) = header.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<WebConfig, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.yml");
        std::fs::write(&path, text).unwrap();
        WebConfig::load(&path).map_err(|e| e.to_string().replace(&path.display().to_string(), "FILE"))
    }

    fn header(user: &str, password: &str) -> Vec<u8> {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))).into_bytes()
    }

    #[test]
    fn empty_file_is_plain_http() {
        let c = load("").unwrap();
        assert!(c.tls.is_none() && c.basic_auth.is_none());
        let c = load("tls_server_config:\nbasic_auth_users:\n").unwrap();
        assert!(c.tls.is_none() && c.basic_auth.is_none());
    }

    #[test]
    fn errors_name_file_line_and_cause() {
        for (text, want) in [
            ("tls_server_config: [\n", "--web.config.file FILE:2:1: invalid YAML"),
            ("tls_servr_config: {}\n", "--web.config.file FILE:1:1: unknown key 'tls_servr_config'; known: tls_server_config, basic_auth_users"),
            ("tls_server_config:\n  cert_file: a\n  keyfile: b\n", "FILE:3:3: unknown key 'keyfile' in tls_server_config; known: cert_file, key_file,"),
            ("tls_server_config:\n  cert_file: a\n", "FILE:2:3: tls_server_config needs key_file"),
            ("tls_server_config:\n  cert_file: a\n  key_file: b\n", "FILE:2:14: cert_file "),
            ("tls_server_config:\n  cipher_suites: [x]\n", "FILE:2:3: 'cipher_suites' in tls_server_config is not supported"),
            ("http_server_config: {http2: false}\n", "FILE:1:1: 'http_server_config' is not supported"),
            ("basic_auth_users:\n  alice: secret\n", "FILE:2:10: user 'alice': not a bcrypt hash"),
            ("basic_auth_users: [alice]\n", "FILE:1:19: basic_auth_users must be a mapping"),
            ("- a\n", "FILE:1:1: expected a mapping, found a sequence"),
        ] {
            let got = load(text).unwrap_err();
            assert!(got.contains(want), "{text:?}: {got}");
            assert!(!got.contains('\n'), "{got}");
        }
        let missing = WebConfig::load(Path::new("/nonexistent/web.yml")).unwrap_err().to_string();
        assert!(missing.starts_with("--web.config.file /nonexistent/web.yml: cannot read: No such file"), "{missing}");
    }

    #[test]
    fn basic_auth_caches_only_successes() {
        let hash = bcrypt::hash("s3cret", 4).unwrap();
        let auth = BasicAuth::new(HashMap::from([("prom".to_owned(), hash)]));
        assert!(matches!(auth.check(None), Credentials::Missing));
        assert!(matches!(auth.check(Some(b"Bearer x")), Credentials::Missing));
        assert!(matches!(auth.check(Some(b"Basic !!")), Credentials::Missing));
        let right = header("prom", "s3cret");
        let Credentials::Unverified { user, password } = auth.check(Some(&right)) else { panic!("not cached yet") };
        assert!(auth.verify(&user, &password));
        assert!(matches!(auth.check(Some(&right)), Credentials::Cached));
        // A wrong password is never cached, and does not evict the right one.
        let wrong = header("prom", "guess");
        assert!(matches!(auth.check(Some(&wrong)), Credentials::Unverified { .. }));
        assert!(!auth.verify("prom", "guess"));
        assert!(matches!(auth.check(Some(&wrong)), Credentials::Unverified { .. }));
        assert!(matches!(auth.check(Some(&right)), Credentials::Cached));
        assert!(!auth.verify("nobody", "s3cret"));
        // Scheme is case-insensitive; a password may contain ':'.
        let lower = format!("basic {}", base64::engine::general_purpose::STANDARD.encode("u:a:b"));
        assert_eq!(decode_basic(lower.as_bytes()), Some(("u".into(), "a:b".into())));
    }
}
