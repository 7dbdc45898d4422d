//! HTTP endpoints: `/metrics`, `/healthz` and a landing page; and, in [`client`], the HTTP
//! client of the alert outputs. The only module that touches hyper; what /metrics shows comes
//! from a `MetricsSource`.

pub mod client;
pub mod web;

use std::{convert::Infallible, net::SocketAddr, sync::Arc};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{body::Incoming, header, server::conn::http1, service::service_fn, Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
pub use web::{WebConfig, WebConfigError};

/// Produces the /metrics body; runs on a blocking thread (it reads kernel maps).
pub trait MetricsSource: Send + Sync + 'static {
    fn render(&self) -> Result<String, String>;
}

const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";

const LANDING_PAGE: &str = "<!doctype html>
<html><head><title>tracewarden exporter</title></head>
<body><h1>tracewarden exporter</h1>
<p>Per-container syscall and security-rule metrics from eBPF.</p>
<ul><li><a href=\"/metrics\">/metrics</a></li><li><a href=\"/healthz\">/healthz</a></li></ul>
</body></html>
";

/// Binds the listener, with an error that says what to do when the port is taken. Synchronous,
/// so it can run before the process gives up its privileges (a port below 1024 needs one).
pub fn bind(address: SocketAddr) -> anyhow::Result<std::net::TcpListener> {
    let listener = std::net::TcpListener::bind(address).map_err(|e| {
        let hint = match e.kind() {
            std::io::ErrorKind::AddrInUse => "another process uses it; stop it or pick another --web.listen-address",
            std::io::ErrorKind::PermissionDenied => {
                "not permitted; use a port above 1023 or grant CAP_NET_BIND_SERVICE"
            }
            std::io::ErrorKind::AddrNotAvailable => "no local interface has that address",
            _ => "check --web.listen-address",
        };
        anyhow::anyhow!("cannot listen on {address}: {e} ({hint})")
    })?;
    listener.set_nonblocking(true).map_err(|e| anyhow::anyhow!("cannot listen on {address}: {e}"))?;
    Ok(listener)
}

/// Serves until the task is dropped. Each connection runs on its own task; with TLS its
/// handshake does too, so a slow client delays nobody else.
pub async fn serve(listener: std::net::TcpListener, source: Arc<dyn MetricsSource>, web: WebConfig) {
    let listener = match TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!(error = %e, "serving /metrics failed");
            return;
        }
    };
    let tls = web.tls.map(tokio_rustls::TlsAcceptor::from);
    let auth = web.basic_auth;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: keep serving the connections we have.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let source = source.clone();
        let auth = auth.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(request, source.clone(), auth.clone()));
            let served = match tls {
                None => http1::Builder::new().serve_connection(TokioIo::new(stream), service).await,
                Some(acceptor) => match accept_tls(&acceptor, stream).await {
                    Ok(stream) => http1::Builder::new().serve_connection(TokioIo::new(stream), service).await,
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "TLS handshake failed");
                        return;
                    }
                },
            };
            if let Err(e) = served {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}

/// A TLS handshake must finish within this; a client that connects and stalls only holds its
/// own task, but not forever.
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Plain HTTP sent to the TLS port gets a 400 that says so (as Go's servers answer) instead of
/// a connection reset, so `curl http://` shows the cause.
const PLAIN_TO_TLS: &[u8] = b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

async fn accept_tls(
    acceptor: &tokio_rustls::TlsAcceptor,
    mut stream: TcpStream,
) -> std::io::Result<tokio_rustls::server::TlsStream<TcpStream>> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let handshake = async {
        // A TLS connection starts with a handshake record (content type 22); HTTP with a letter.
        let mut first = [0u8; 1];
        if stream.peek(&mut first).await? == 1 && first[0].is_ascii_alphabetic() {
            // Read the request head first: closing a socket with unread data resets it, and the
            // reset can destroy the answer before the client reads it.
            let mut head = Vec::with_capacity(1024);
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
                match tokio::time::timeout(std::time::Duration::from_secs(1), stream.read(&mut buf)).await {
                    Ok(Ok(n)) if n > 0 => head.extend_from_slice(&buf[..n]),
                    _ => break,
                }
            }
            stream.write_all(PLAIN_TO_TLS).await?;
            stream.shutdown().await?;
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "plain HTTP on the TLS port"));
        }
        acceptor.accept(stream).await
    };
    tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake)
        .await
        .unwrap_or_else(|_| Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out")))
}

async fn handle(
    request: Request<Incoming>,
    source: Arc<dyn MetricsSource>,
    auth: Option<Arc<web::BasicAuth>>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return Ok(respond(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "only GET and HEAD\n".into()));
    }
    // /healthz stays open: it tells nothing, and liveness probes cannot easily send credentials.
    if let (Some(auth), false) = (auth, request.uri().path() == "/healthz") {
        if !authorized(auth, request.headers().get(header::AUTHORIZATION).map(|v| v.as_bytes().to_vec())).await {
            let mut response = respond(StatusCode::UNAUTHORIZED, "text/plain", "unauthorized\n".into());
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Basic realm=\"tracewarden\", charset=\"UTF-8\""),
            );
            return Ok(response);
        }
    }
    let response = match request.uri().path() {
        "/metrics" => match tokio::task::spawn_blocking(move || source.render()).await {
            Ok(Ok(body)) => respond(StatusCode::OK, TEXT_FORMAT, body),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "collecting metrics failed");
                respond(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", format!("collecting metrics failed: {e}\n"))
            }
            Err(e) => respond(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", format!("collector task failed: {e}\n")),
        },
        "/healthz" => respond(StatusCode::OK, "text/plain", "ok\n".into()),
        "/" => respond(StatusCode::OK, "text/html; charset=utf-8", LANDING_PAGE.into()),
        _ => respond(StatusCode::NOT_FOUND, "text/plain", "not found: see /\n".into()),
    };
    Ok(response)
}

/// bcrypt verifications running at once. A flood of wrong passwords then costs at most this many
/// cores (the rest wait their turn) instead of the whole blocking pool's worth, and scrapes with
/// remembered credentials never wait for it.
static BCRYPT_SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// Checks the credentials; bcrypt (only for credentials not verified before) runs on a blocking
/// thread so it never stalls the async workers.
async fn authorized(auth: Arc<web::BasicAuth>, authorization: Option<Vec<u8>>) -> bool {
    match auth.check(authorization.as_deref()) {
        web::Credentials::Missing => false,
        web::Credentials::Cached => true,
        web::Credentials::Unverified { user, password } => {
            let Ok(_slot) = BCRYPT_SLOTS.acquire().await else { return false };
            tokio::task::spawn_blocking(move || auth.verify(&user, &password)).await.unwrap_or(false)
        }
    }
}

fn respond(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(content_type));
    response
}
