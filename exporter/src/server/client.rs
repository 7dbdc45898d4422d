//! A small HTTP/1 client (`http://` and `https://` through rustls) for the outputs that POST
//! somewhere: the alert webhook and Alertmanager (and `exporter baseline`, which asks the
//! running exporter). No hyper type appears in its API; what to do
//! with a status (retry, give up) is the caller's policy.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE, USER_AGENT};
use hyper::{Request, StatusCode, Uri};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

const UA: &str = concat!("tracewarden/", env!("CARGO_PKG_VERSION"));

/// The methods [`HttpClient::send`] sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HttpMethod {
    Get,
    Post,
    Delete,
}

/// An absolute `http://` or `https://` URL with a host, checked by [`HttpUrl::parse`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpUrl {
    uri: Uri,
}

impl HttpUrl {
    /// Checks that `url` is an absolute `http://` or `https://` URL with a host; `what` names
    /// the setting in the error message (e.g. `webhook URL "..": no host`).
    pub fn parse(what: &str, url: &str) -> Result<HttpUrl, String> {
        let uri: Uri =
            url.parse().map_err(|e| format!("{what} URL {url:?}: {e}; expected http(s)://host[:port][/path]"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(format!("{what} URL {url:?}: must start with http:// or https://"));
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(format!("{what} URL {url:?}: no host"));
        }
        Ok(HttpUrl { uri })
    }

    /// The query string (after `?`), if any.
    pub fn query(&self) -> Option<&str> {
        self.uri.query()
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.uri.fmt(f)
    }
}

/// Checks that `name: value` can be sent as a request header. The message starts with
/// `header name "..": ` (bad name) or `header ".." value: ` (bad value), so callers can prefix
/// the setting it came from.
pub fn validate_header(name: &str, value: &str) -> Result<(), String> {
    header(name, value).map(|_| ())
}

fn header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), String> {
    let n = HeaderName::from_bytes(name.as_bytes()).map_err(|e| format!("header name {name:?}: {e}"))?;
    let v = HeaderValue::from_str(value).map_err(|e| format!("header {name:?} value: {e}"))?;
    Ok((n, v))
}

/// Why a request got no response.
#[derive(Debug, thiserror::Error)]
pub enum PostError {
    /// No complete response within the client's timeout.
    #[error("no response within {0:?}")]
    Timeout(Duration),
    /// Connecting, sending or reading the response failed (refused, reset, malformed reply).
    #[error("{0}")]
    Connection(String),
    /// The request could not be built (e.g. a header that is not valid HTTP); sending it again
    /// cannot help.
    #[error("{0}")]
    Other(String),
}

/// A response: its status and (all of) its body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostResponse {
    pub status: u16,
    pub body: Bytes,
}

impl PostResponse {
    /// 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The status with its reason phrase, e.g. `503 Service Unavailable`.
    pub fn status_line(&self) -> String {
        match StatusCode::from_u16(self.status) {
            Ok(s) => s.to_string(),
            Err(_) => self.status.to_string(),
        }
    }
}

/// Which servers `https://` trusts: the system's CA store, or only the CAs of one PEM file (as
/// Prometheus' `tls_config.ca_file` does: a private CA replaces the public ones).
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<rustls::ClientConfig>,
}

impl fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ClientTls")
    }
}

impl ClientTls {
    /// The CAs of `ca_file` (PEM), or without it the system store (on Debian
    /// /etc/ssl/certs/ca-certificates.crt; SSL_CERT_FILE and SSL_CERT_DIR override it). Errors
    /// are one line naming the file.
    pub fn load(ca_file: Option<&Path>) -> Result<ClientTls, String> {
        use rustls::pki_types::{pem::PemObject, CertificateDer};
        let mut roots = rustls::RootCertStore::empty();
        match ca_file {
            Some(path) => {
                let what = format!("TLS CA file {}", path.display());
                let pem = std::fs::read(path).map_err(|e| format!("{what}: {e}"))?;
                for cert in CertificateDer::pem_slice_iter(&pem) {
                    let cert = cert.map_err(|e| format!("{what}: not PEM: {e}"))?;
                    roots.add(cert).map_err(|e| format!("{what}: {e}"))?;
                }
                if roots.is_empty() {
                    return Err(format!("{what}: no CERTIFICATE in it"));
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                // Unparsable entries in a system store are common and harmless; using the rest
                // is what curl and Go do too.
                let (added, _) = roots.add_parsable_certificates(found.certs);
                if added == 0 {
                    tracing::warn!(errors = ?found.errors, "no CA certificates in the system store: https alert outputs will fail (install ca-certificates or pass --alerts.tls-ca-file)");
                }
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS client: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(ClientTls { config: Arc::new(config) })
    }

    /// The rustls client configuration, for clients of other protocols (the Kafka output).
    pub fn rustls_config(&self) -> Arc<rustls::ClientConfig> {
        self.config.clone()
    }
}

/// A pooled HTTP/1 client; every request (connect, TLS handshake, send, read the whole
/// response) must finish within the timeout given to [`HttpClient::new`].
#[derive(Clone, Debug)]
pub struct HttpClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    timeout: Duration,
}

impl HttpClient {
    /// Must be called inside a tokio runtime (the pool's timer is tokio's). `tls` is used for
    /// `https://` URLs.
    pub fn new(timeout: Duration, tls: &ClientTls) -> Self {
        let mut conn = HttpConnector::new();
        conn.set_connect_timeout(Some(timeout));
        conn.set_nodelay(true);
        // The TLS layer decides by scheme; the TCP connector must let https URLs through.
        conn.enforce_http(false);
        let conn = HttpsConnectorBuilder::new()
            .with_tls_config((*tls.config).clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(conn);
        // The pool needs a timer to actually close idle connections; without one a receiver that
        // went away would leave its sockets open until the next request finds them dead.
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(conn);
        HttpClient { client, timeout }
    }

    /// One `POST url` with `Content-Type: content_type`, `User-Agent: tracewarden/<version>`
    /// and `headers` (which replace those two when they name them; a repeated name keeps its
    /// last value). Any status is a response; only a missing one is an error.
    pub async fn post(
        &self,
        url: &HttpUrl,
        headers: &[(String, String)],
        content_type: &str,
        body: Bytes,
    ) -> Result<PostResponse, PostError> {
        self.send(HttpMethod::Post, url, headers, content_type, body).await
    }

    /// One `DELETE url` with `headers` and no body, as [`HttpClient::post`] sends.
    pub async fn delete(&self, url: &HttpUrl, headers: &[(String, String)]) -> Result<PostResponse, PostError> {
        self.send(HttpMethod::Delete, url, headers, "text/plain", Bytes::new()).await
    }

    /// One request of `method`, as [`HttpClient::post`] sends it.
    pub async fn send(
        &self,
        method: HttpMethod,
        url: &HttpUrl,
        headers: &[(String, String)],
        content_type: &str,
        body: Bytes,
    ) -> Result<PostResponse, PostError> {
        let mut req = Request::builder()
            .method(match method {
                HttpMethod::Get => hyper::Method::GET,
                HttpMethod::Post => hyper::Method::POST,
                HttpMethod::Delete => hyper::Method::DELETE,
            })
            .uri(url.uri.clone())
            .header(CONTENT_TYPE, content_type)
            .header(USER_AGENT, UA)
            .body(Full::new(body))
            .map_err(|e| PostError::Other(format!("building request: {e}")))?;
        for (k, v) in headers {
            let (name, value) = header(k, v).map_err(|e| PostError::Other(format!("building request: {e}")))?;
            req.headers_mut().insert(name, value);
        }
        let attempt = async {
            let resp = self.client.request(req).await.map_err(|e| PostError::Connection(error_chain(&e)))?;
            let status = resp.status().as_u16();
            // Read the body to the end so the connection can be reused.
            let body = resp.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            Ok(PostResponse { status, body })
        };
        match tokio::time::timeout(self.timeout, attempt).await {
            Ok(r) => r,
            Err(_) => Err(PostError::Timeout(self.timeout)),
        }
    }
}

/// hyper-util's error says only "client error (Connect)"; the cause (refused, certificate not
/// trusted) is in its sources.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    #[test]
    fn url_validation() {
        assert_eq!(HttpUrl::parse("webhook", "http://x:8080/a?b=1").unwrap().to_string(), "http://x:8080/a?b=1");
        assert_eq!(HttpUrl::parse("webhook", "http://x").unwrap().to_string(), "http://x/");
        assert_eq!(HttpUrl::parse("w", "http://x/?q").unwrap().query(), Some("q"));
        assert_eq!(HttpUrl::parse("webhook", "https://x:8443/a").unwrap().to_string(), "https://x:8443/a");
        assert_eq!(
            HttpUrl::parse("am", "ftp://x/").unwrap_err(),
            "am URL \"ftp://x/\": must start with http:// or https://"
        );
        assert_eq!(HttpUrl::parse("am", "/y").unwrap_err(), "am URL \"/y\": must start with http:// or https://");
        assert_eq!(
            HttpUrl::parse("am", "x/y").unwrap_err(),
            "am URL \"x/y\": invalid format; expected http(s)://host[:port][/path]"
        );
    }

    #[test]
    fn header_validation() {
        assert!(validate_header("Authorization", "Bearer x").is_ok());
        assert!(validate_header("Bad Name", "v").unwrap_err().starts_with("header name \"Bad Name\": "));
        assert!(validate_header("X", "a\nb").unwrap_err().starts_with("header \"X\" value: "));
    }

    #[test]
    fn status_line() {
        let r = PostResponse { status: 503, body: Bytes::new() };
        assert_eq!((r.is_success(), r.status_line().as_str()), (false, "503 Service Unavailable"));
        assert!(PostResponse { status: 204, body: Bytes::new() }.is_success());
    }

    #[tokio::test]
    async fn post_sends_headers_and_reads_response() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            let mut buf = [0u8; 1024];
            while !got.ends_with(b"{}") {
                let n = s.read(&mut buf).await.unwrap();
                assert!(n > 0);
                got.extend_from_slice(&buf[..n]);
            }
            s.write_all(b"HTTP/1.1 429 Too Many Requests\r\ncontent-length: 4\r\n\r\nslow").await.unwrap();
            String::from_utf8(got).unwrap().to_ascii_lowercase()
        });
        let url = HttpUrl::parse("t", &format!("http://{addr}/hook")).unwrap();
        let client = HttpClient::new(Duration::from_secs(5), &ClientTls::load(None).unwrap());
        let headers = [("X-Token".to_owned(), "abc".to_owned())];
        let resp = client.post(&url, &headers, "application/json", Bytes::from_static(b"{}")).await.unwrap();
        assert_eq!((resp.status, &resp.body[..]), (429, &b"slow"[..]));
        let req = server.await.unwrap();
        assert!(req.starts_with("post /hook http/1.1\r\n"), "{req}");
        for h in ["content-type: application/json", "x-token: abc", "user-agent: tracewarden/"] {
            assert!(req.contains(h), "{h} in {req}");
        }
    }

    #[tokio::test]
    async fn post_errors() {
        // Accepts but never answers.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = HttpUrl::parse("t", &format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let client = HttpClient::new(Duration::from_millis(100), &ClientTls::load(None).unwrap());
        let e = client.post(&url, &[], "text/plain", Bytes::new()).await.unwrap_err();
        assert!(matches!(e, PostError::Timeout(_)), "{e:?}");
        assert_eq!(e.to_string(), "no response within 100ms");
        // Nobody listens.
        drop(listener);
        let e = client.post(&url, &[], "text/plain", Bytes::new()).await.unwrap_err();
        assert!(matches!(e, PostError::Connection(_)), "{e:?}");
        let bad = [("Bad Name".to_owned(), "v".to_owned())];
        let e = client.post(&url, &bad, "text/plain", Bytes::new()).await.unwrap_err();
        assert!(matches!(e, PostError::Other(_)), "{e:?}");
    }
}
