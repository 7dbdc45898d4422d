//! HTTP endpoints: `/metrics`, `/healthz`, a landing page and the response API; and, in [`client`], the HTTP
//! client of the alert outputs. The only module that touches hyper; what /metrics shows comes
//! from a `MetricsSource`.

pub mod api;
pub mod client;
pub mod connections;
pub mod web;

use std::{convert::Infallible, net::SocketAddr, sync::Arc, time::Duration};

pub use api::{percent_encode, query_value, ApiRequest, ApiResponse};
use bytes::Bytes;
pub use connections::Limits;
use connections::{Connections, OpenConnection, Rejection, Tracked};
use http_body_util::{BodyExt, Full, Limited};
use hyper::{body::Incoming, header, server::conn::http1, service::service_fn, Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
pub use web::{WebConfig, WebConfigError};

/// Produces the /metrics body; runs on a blocking thread (it reads kernel maps).
pub trait MetricsSource: Send + Sync + 'static {
    /// The /metrics text; `connections` is this server's own state, for the source to show.
    fn render(&self, connections: &connections::ConnectionStats) -> Result<String, String>;

    /// Answers a request under `/api/` (GET reads, POST changes); runs on a blocking thread.
    fn api(&self, request: &ApiRequest) -> ApiResponse {
        let _ = request;
        ApiResponse::error(404, "not found: see /")
    }
}

/// The response API (`POST /api/v1/respond`, `DELETE /api/v1/respond/CONTAINER`). Its calls
/// write cgroup files and take the collector's lock, so they run on a blocking thread; each
/// returns the HTTP status and a JSON body.
pub trait ResponseApi: Send + Sync + 'static {
    /// An Alertmanager webhook body.
    fn respond(&self, body: &[u8]) -> (u16, String);
    /// Thaws the container with this id.
    fn release(&self, container_id: &str) -> (u16, String);
    /// Counts a call refused before it reached the responder (`RefusedUnauthorized`, a body too large).
    fn refused(&self, unauthorized: bool, reason: String) -> (u16, String);
}

/// The response API's path; a release appends `/CONTAINER`.
pub const RESPOND_PATH: &str = "/api/v1/respond";

/// Largest webhook body read: Alertmanager sends at most a few hundred alerts per notification.
const MAX_RESPOND_BODY: usize = 1024 * 1024;

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

/// A request head larger than this gets a 431. Scrapers send a few hundred bytes; hyper's
/// default (its ~400 KiB buffer) would let each half-sent head hold that much.
const MAX_HEADER_BYTES: usize = 16 * 1024;

/// What every connection's task shares.
struct Server {
    http: http1::Builder,
    tls: Option<tokio_rustls::TlsAcceptor>,
    auth: Option<Arc<web::BasicAuth>>,
    source: Arc<dyn MetricsSource>,
    responder: Option<Arc<dyn ResponseApi>>,
    connections: Arc<Connections>,
}

/// Serves until the task is dropped. Each connection runs on its own task; with TLS its
/// handshake does too, so a slow client delays nobody else. `limits` bound how many
/// connections are open and how long each may stall (see [`connections`]). Without a
/// `responder` the response API answers 404.
pub async fn serve(
    listener: std::net::TcpListener,
    source: Arc<dyn MetricsSource>,
    responder: Option<Arc<dyn ResponseApi>>,
    web: WebConfig,
    limits: Limits,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!(error = %e, "serving /metrics failed");
            return;
        }
    };
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.read_header_timeout).max_header_size(MAX_HEADER_BYTES);
    let server = Arc::new(Server {
        http,
        tls: web.tls.map(tokio_rustls::TlsAcceptor::from),
        auth: web.basic_auth,
        source,
        responder,
        connections: Arc::new(Connections::new(limits)),
    });
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: keep serving the connections we have.
                tracing::warn!(error = %e, "accepting a connection failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Registered here, in accept order, which is the order evictions go by; refused
        // connections close as `stream` drops.
        if let Some(connection) = server.connections.open() {
            tokio::spawn(server.clone().connection(connection, stream, peer));
        }
    }
}

impl Server {
    /// Serves one connection until the client closes it, it times out, or it is evicted.
    async fn connection(self: Arc<Self>, connection: OpenConnection, stream: TcpStream, peer: SocketAddr) {
        let service = service_fn(|request| {
            let in_flight = connection.request();
            let server = self.clone();
            async move {
                let response = handle(request, server).await;
                response.map(|response| response.map(|body| Tracked { body, in_flight }))
            }
        });
        let served = async {
            match &self.tls {
                None => self.http.serve_connection(TokioIo::new(stream), service).await,
                Some(acceptor) => {
                    match accept_tls(acceptor, stream, self.connections.limits().read_header_timeout).await {
                        Ok(stream) => self.http.serve_connection(TokioIo::new(stream), service).await,
                        Err(e) => {
                            if e.kind() == std::io::ErrorKind::TimedOut {
                                connection.count(Rejection::TlsHandshakeTimeout);
                            }
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            Ok(())
                        }
                    }
                }
            }
        };
        tokio::select! {
            served = served => if let Err(e) = served {
                if e.is_timeout() {
                    connection.header_timed_out();
                }
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            },
            () = connection.evicted() => tracing::debug!(%peer, "connection evicted to make room for a new one"),
        }
    }
}

/// Plain HTTP sent to the TLS port gets a 400 that says so (as Go's servers answer) instead of
/// a connection reset, so `curl http://` shows the cause.
const PLAIN_TO_TLS: &[u8] = b"HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n";

/// The TLS handshake, which must finish within `timeout` (the request head's allowance).
async fn accept_tls(
    acceptor: &tokio_rustls::TlsAcceptor,
    mut stream: TcpStream,
    timeout: Duration,
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
                match tokio::time::timeout(Duration::from_secs(1), stream.read(&mut buf)).await {
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
    tokio::time::timeout(timeout, handshake)
        .await
        .unwrap_or_else(|_| Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "TLS handshake timed out")))
}

async fn handle(request: Request<Incoming>, server: Arc<Server>) -> Result<Response<Full<Bytes>>, Infallible> {
    let responding = server.responder.clone().filter(|_| is_respond_path(request.uri().path()));
    let is_api = request.uri().path().starts_with("/api/");
    let post = request.method() == Method::POST;
    let read_only = request.method() == Method::GET || request.method() == Method::HEAD;
    if !read_only && responding.is_none() && !(is_api && post) {
        let allowed = if is_api { "only GET, HEAD and POST\n" } else { "only GET and HEAD\n" };
        return Ok(respond(StatusCode::METHOD_NOT_ALLOWED, "text/plain", allowed.into()));
    }
    // /healthz stays open: it tells nothing, and liveness probes cannot easily send credentials.
    if let (Some(auth), false) = (server.auth.clone(), request.uri().path() == "/healthz") {
        if !authorized(auth, request.headers().get(header::AUTHORIZATION).map(|v| v.as_bytes().to_vec())).await {
            if let Some(responder) = &responding {
                responder.refused(true, "no valid credentials".into());
            }
            let mut response = respond(StatusCode::UNAUTHORIZED, "text/plain", "unauthorized\n".into());
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Basic realm=\"tracewarden\", charset=\"UTF-8\""),
            );
            return Ok(response);
        }
    }
    if let Some(responder) = responding {
        return Ok(response_api(request, responder).await);
    }
    let response = match request.uri().path() {
        "/metrics" => match tokio::task::spawn_blocking({
            let (source, connections) = (server.source.clone(), server.connections.stats());
            move || source.render(&connections)
        })
        .await
        {
            Ok(Ok(body)) => respond(StatusCode::OK, TEXT_FORMAT, body),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "collecting metrics failed");
                respond(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", format!("collecting metrics failed: {e}\n"))
            }
            Err(e) => respond(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", format!("collector task failed: {e}\n")),
        },
        "/healthz" => respond(StatusCode::OK, "text/plain", "ok\n".into()),
        path if is_api => {
            let api_request =
                ApiRequest { post, path: path.to_owned(), query: request.uri().query().unwrap_or_default().to_owned() };
            let source = server.source.clone();
            match tokio::task::spawn_blocking(move || source.api(&api_request)).await {
                Ok(answer) => {
                    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                    respond(status, "application/json", answer.body)
                }
                Err(e) => respond(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", format!("API task failed: {e}\n")),
            }
        }
        "/" => respond(StatusCode::OK, "text/html; charset=utf-8", LANDING_PAGE.into()),
        _ => respond(StatusCode::NOT_FOUND, "text/plain", "not found: see /\n".into()),
    };
    Ok(response)
}

fn is_respond_path(path: &str) -> bool {
    path.strip_prefix(RESPOND_PATH).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// `POST /api/v1/respond` (a webhook body) and `DELETE /api/v1/respond/CONTAINER`.
async fn response_api(request: Request<Incoming>, responder: Arc<dyn ResponseApi>) -> Response<Full<Bytes>> {
    let release = request.uri().path().strip_prefix(RESPOND_PATH).and_then(|r| r.strip_prefix('/')).map(str::to_owned);
    let call = match (request.method(), release) {
        (&Method::POST, None) => {
            let body = match Limited::new(request.into_body(), MAX_RESPOND_BODY).collect().await {
                Ok(body) => body.to_bytes(),
                Err(e) => {
                    let (status, body) = responder.refused(false, format!("reading the body: {e}"));
                    return json(status, body);
                }
            };
            tokio::task::spawn_blocking(move || responder.respond(&body)).await
        }
        (&Method::DELETE, Some(container)) if !container.is_empty() && !container.contains('/') => {
            tokio::task::spawn_blocking(move || responder.release(&container)).await
        }
        _ => {
            return respond(
                StatusCode::METHOD_NOT_ALLOWED,
                "text/plain",
                format!("POST {RESPOND_PATH} or DELETE {RESPOND_PATH}/CONTAINER\n"),
            )
        }
    };
    match call {
        Ok((status, body)) => json(status, body),
        Err(e) => respond(StatusCode::INTERNAL_SERVER_ERROR, "text/plain", format!("responder task failed: {e}\n")),
    }
}

fn json(status: u16, body: String) -> Response<Full<Bytes>> {
    respond(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), "application/json", body)
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
