//! HTTP endpoints: `/metrics`, `/healthz` and a landing page; and, in [`client`], the HTTP
//! client of the alert outputs. The only module that touches hyper; what /metrics shows comes
//! from a `MetricsSource`.

pub mod client;

use std::{convert::Infallible, net::SocketAddr, sync::Arc};

use bytes::Bytes;
use http_body_util::Full;
use hyper::{body::Incoming, header, server::conn::http1, service::service_fn, Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

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

/// Serves until the task is dropped. Each connection runs on its own task.
pub async fn serve(listener: std::net::TcpListener, source: Arc<dyn MetricsSource>) {
    let listener = match TcpListener::from_std(listener) {
        Ok(listener) => listener,
        Err(e) => {
            tracing::error!(error = %e, "serving /metrics failed");
            return;
        }
    };
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
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(request, source.clone()));
            if let Err(e) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!(%peer, error = %e, "connection ended with an error");
            }
        });
    }
}

async fn handle(
    request: Request<Incoming>,
    source: Arc<dyn MetricsSource>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return Ok(respond(StatusCode::METHOD_NOT_ALLOWED, "text/plain", "only GET and HEAD\n".into()));
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

fn respond(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static(content_type));
    response
}
