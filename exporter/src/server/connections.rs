//! The server's open connections: capped, watched for stalls, and counted for /metrics.
//!
//! Everything here happens before basic auth, so it must hold against any client that can
//! reach the port: a connection costs one descriptor and tens of KiB until it is closed.

use std::{
    collections::BTreeMap,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::Notify;

/// The server's limits, from the `--web.*` flags.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Connections open at once; see [`fd_budget`] for how it is lowered.
    pub max_connections: usize,
    /// For the TLS handshake, and for each request head. hyper starts this clock when it waits
    /// for a head: at the connection's start, and as soon as a response is handed to the socket,
    /// so it also closes kept-alive connections idle this long and clients that do not read
    /// their response.
    pub read_header_timeout: Duration,
}

/// Descriptors kept free for the exporter's own work (/proc reads, rule reloads, kernel maps
/// and programs, alert outputs): connections never take these.
pub const FD_RESERVE: usize = 256;

impl Limits {
    /// These limits with `max_connections` lowered to what the descriptor budget allows (see
    /// [`fd_budget`]): call it once everything else the exporter keeps open is open.
    pub fn within_fd_budget(self) -> anyhow::Result<Limits> {
        Ok(Limits { max_connections: fd_budget(self.max_connections)?, ..self })
    }
}

/// Raises the soft RLIMIT_NOFILE to the hard one (no privilege needed) and returns how many
/// connections fit beside the descriptors open now and [`FD_RESERVE`]: `requested`, or fewer.
fn fd_budget(requested: usize) -> anyhow::Result<usize> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit writes the struct we own.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        anyhow::bail!("reading RLIMIT_NOFILE: {}", std::io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        let raised = libc::rlimit { rlim_cur: limit.rlim_max, rlim_max: limit.rlim_max };
        // SAFETY: setrlimit only reads the struct.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit = raised;
        } else {
            tracing::warn!(error = %std::io::Error::last_os_error(), soft = limit.rlim_cur, hard = limit.rlim_max, "cannot raise RLIMIT_NOFILE to its hard limit");
        }
    }
    let open = std::fs::read_dir("/proc/self/fd")
        .map_err(|e| anyhow::anyhow!("counting open descriptors in /proc/self/fd: {e}"))?
        .count();
    let soft = usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX);
    let available = soft.saturating_sub(open).saturating_sub(FD_RESERVE);
    if available == 0 {
        anyhow::bail!(
            "RLIMIT_NOFILE {soft} leaves no descriptor for HTTP connections after the {open} open and {FD_RESERVE} reserved; raise it (ulimit -n, LimitNOFILE=)"
        );
    }
    if available < requested {
        tracing::warn!(
            requested,
            allowed = available,
            rlimit_nofile = soft,
            open,
            reserve = FD_RESERVE,
            "--web.max-connections lowered to what RLIMIT_NOFILE allows"
        );
    }
    Ok(requested.min(available))
}

/// Why the server refused or closed a connection; the `reason` label of
/// `tracewarden_http_connections_rejected_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// At the cap with every other connection mid-request: the new one is closed at once.
    MaxConnections,
    /// At the cap: an older connection without a request in flight made room for a new one.
    Evicted,
    /// No whole request head within --web.read-header-timeout.
    HeaderTimeout,
    /// No TLS handshake within --web.read-header-timeout.
    TlsHandshakeTimeout,
}

impl Rejection {
    pub const ALL: [Rejection; 4] =
        [Rejection::MaxConnections, Rejection::Evicted, Rejection::HeaderTimeout, Rejection::TlsHandshakeTimeout];

    pub fn label(self) -> &'static str {
        match self {
            Rejection::MaxConnections => "max_connections",
            Rejection::Evicted => "evicted",
            Rejection::HeaderTimeout => "header_timeout",
            Rejection::TlsHandshakeTimeout => "tls_handshake_timeout",
        }
    }
}

/// A snapshot of the connection counters for /metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionStats {
    pub open: usize,
    pub max: usize,
    pub accepted: u64,
    /// One entry per [`Rejection`], in [`Rejection::ALL`] order.
    pub rejected: Vec<(Rejection, u64)>,
}

/// glibc keeps freed memory in its arenas, and tens of KiB per closed connection, interleaved
/// with live data, is not returned on its own (measured: 2,000 held connections left +23 MiB
/// after they closed; malloc_trim returned all of it). Trimming after this many closes bounds
/// what is kept at a cost of a few ms.
const TRIM_AFTER_CLOSES: usize = 256;

/// The open connections, oldest first, and the counters /metrics shows.
pub struct Connections {
    limits: Limits,
    open: Mutex<BTreeMap<u64, Arc<Slot>>>,
    next_id: AtomicU64,
    accepted: AtomicU64,
    rejected: [AtomicU64; Rejection::ALL.len()],
    closed_since_trim: AtomicUsize,
}

/// One connection's state, shared by its task and its requests.
struct Slot {
    id: u64,
    evict: Notify,
    /// Requests whose response body hyper has not yet taken: such a connection is never evicted.
    in_flight: AtomicUsize,
    /// A whole request head arrived once: the client speaks HTTP, unlike one holding a half-sent
    /// head, so it is evicted only after those.
    served: AtomicBool,
}

impl Connections {
    pub fn new(limits: Limits) -> Connections {
        Connections {
            limits,
            open: Mutex::new(BTreeMap::new()),
            next_id: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
            rejected: Default::default(),
            closed_since_trim: AtomicUsize::new(0),
        }
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    fn count(&self, reason: Rejection) {
        if let Some(i) = Rejection::ALL.iter().position(|&r| r == reason) {
            self.rejected[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Registers an accepted connection. At the cap one without a request in flight is evicted,
    /// so clients holding half-sent heads cannot lock a scraper out: the oldest that never sent
    /// a whole head, else the oldest idle one. When every other connection is mid-request the
    /// new one is refused: `None`.
    pub fn open(self: &Arc<Self>) -> Option<OpenConnection> {
        self.accepted.fetch_add(1, Ordering::Relaxed);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let slot =
            Arc::new(Slot { id, evict: Notify::new(), in_flight: AtomicUsize::new(0), served: AtomicBool::new(false) });
        let mut open = self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if open.len() >= self.limits.max_connections {
            let idle = |s: &&Arc<Slot>| s.in_flight.load(Ordering::Acquire) == 0;
            let victim = open
                .values()
                .filter(idle)
                .find(|s| !s.served.load(Ordering::Acquire))
                .or_else(|| open.values().find(idle))
                .map(|s| s.id);
            let Some(victim) = victim.and_then(|v| open.remove(&v)) else {
                self.count(Rejection::MaxConnections);
                return None;
            };
            self.count(Rejection::Evicted);
            // A stored permit: the victim's task sees it even if it is not waiting yet.
            victim.evict.notify_one();
        }
        open.insert(id, slot.clone());
        Some(OpenConnection { slot, connections: self.clone() })
    }

    pub fn stats(&self) -> ConnectionStats {
        ConnectionStats {
            open: self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).len(),
            max: self.limits.max_connections,
            accepted: self.accepted.load(Ordering::Relaxed),
            rejected: Rejection::ALL.iter().zip(&self.rejected).map(|(&r, n)| (r, n.load(Ordering::Relaxed))).collect(),
        }
    }

    fn closed(&self, id: u64) {
        self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).remove(&id);
        if self.closed_since_trim.fetch_add(1, Ordering::Relaxed) + 1 >= TRIM_AFTER_CLOSES {
            self.closed_since_trim.store(0, Ordering::Relaxed);
            #[cfg(target_env = "gnu")]
            // SAFETY: malloc_trim only returns free heap pages to the kernel.
            unsafe {
                libc::malloc_trim(0);
            }
        }
    }
}

/// A registered connection; dropping it (when its task ends) frees its slot.
pub struct OpenConnection {
    slot: Arc<Slot>,
    connections: Arc<Connections>,
}

impl OpenConnection {
    /// Resolves when another connection evicted this one (already counted).
    pub async fn evicted(&self) {
        self.slot.evict.notified().await;
    }

    /// Counts a hyper header-read timeout, unless the client had sent whole requests before:
    /// then it is a kept-alive connection that got no next one, which is how those end.
    pub fn header_timed_out(&self) {
        if !self.slot.served.load(Ordering::Acquire) {
            self.connections.count(Rejection::HeaderTimeout);
        }
    }

    pub fn count(&self, reason: Rejection) {
        self.connections.count(reason);
    }

    /// A request head arrived: the returned guard keeps the connection from eviction until
    /// hyper has taken the response body (move it into [`Tracked`]).
    pub fn request(&self) -> InFlight {
        self.slot.served.store(true, Ordering::Release);
        self.slot.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.slot.clone())
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.connections.closed(self.slot.id);
    }
}

/// One request in flight on its connection, until dropped.
pub struct InFlight(Arc<Slot>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request in flight until hyper has taken all of it.
pub struct Tracked {
    pub body: Full<Bytes>,
    pub in_flight: InFlight,
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn was_evicted(connection: &OpenConnection) -> bool {
        tokio::time::timeout(Duration::ZERO, connection.evicted()).await.is_ok()
    }

    fn rejected(connections: &Connections, reason: Rejection) -> u64 {
        connections.stats().rejected.iter().find(|(r, _)| *r == reason).map_or(0, |(_, n)| *n)
    }

    #[tokio::test]
    async fn at_the_cap_half_sent_heads_go_first_then_idle_ones_and_requests_never() {
        let limits = Limits { max_connections: 2, read_header_timeout: Duration::from_secs(10) };
        let connections = Arc::new(Connections::new(limits));
        let silent = connections.open().expect("below the cap");
        let scraper = connections.open().expect("below the cap");
        let scrape = scraper.request();
        let newcomer = connections.open().expect("room made");
        assert!(was_evicted(&silent).await, "the oldest without a request goes first");
        assert!(!was_evicted(&scraper).await);

        let second = newcomer.request();
        assert!(connections.open().is_none(), "every other connection is mid-request");
        assert_eq!(rejected(&connections, Rejection::MaxConnections), 1);

        // A served, idle connection makes room when no half-sent head is left.
        drop((scrape, second));
        let _late = connections.open().expect("room made");
        assert!(was_evicted(&scraper).await, "the oldest idle one");
        assert!(!was_evicted(&newcomer).await);
        assert_eq!(rejected(&connections, Rejection::Evicted), 2);
        assert_eq!(connections.stats().open, 2);
        drop(newcomer);
        assert_eq!(connections.stats().open, 1);
    }
}
