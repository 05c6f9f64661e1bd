//! Serving the routes over HTTP/1.1 with the limits a public venue network needs: nothing can
//! hold a connection open for free, and one address cannot take every socket.
//!
//! warp's own server has no timeouts, so livepoll drives hyper itself:
//! - a request head must be complete within `header_read_timeout` of the connection starting
//!   to wait for one (hyper's header timer starts as soon as a connection is idle, so this also
//!   closes idle keep-alive connections and connections that never send anything);
//! - a request body must arrive within [`super::BODY_READ_TIMEOUT`] (`json_body`, a 400);
//! - a connection on which no byte moves either way for `idle_timeout` is closed, unless it
//!   carries an SSE stream (`GET /api/events`), which stays open as long as the client wants;
//! - one client address may hold at most `max_per_client` connections; more are answered 429
//!   and closed. The machine itself (127.0.0.1, ::1: the organiser's laptop, a local proxy, load
//!   tests) is not capped.
//! - every connection takes a place in the open-files budget ([`crate::descriptors`]); past it,
//!   a connection is answered 503 `busy` and closed at once (the machine itself may use part
//!   of the server's reserve, so the console still answers), and when the process is out of
//!   descriptors anyway (`accept` fails with EMFILE) the accept loop backs off, up to a
//!   second, instead of spinning or dying: waiting connections stay in the kernel's queue.
//! - behind a load balancer (`--trusted-proxy`), a connection from a trusted proxy carries many
//!   clients: it is not capped itself, the client is the address the proxy put in
//!   `X-Forwarded-For` (only ever believed from a trusted peer), and each request holds one of
//!   that client's places for as long as its response lasts (an SSE stream: until it ends).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::future::Either;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use warp::reply::Response;

use super::{ClientAddr, Routes};
use crate::cluster::{IpNet, forwarded_client};
use crate::descriptors::{Place, SERVER_RESERVE};

/// Connection limits; [`ConnLimits::default`] is what `serve` uses.
#[derive(Debug, Clone)]
pub struct ConnLimits {
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_per_client: usize,
    /// How long a stop waits for open requests before closing their connections.
    pub shutdown_grace: Duration,
    /// Peers whose `X-Forwarded-For` names the client (`--trusted-proxy`).
    pub trusted_proxies: Vec<IpNet>,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            max_per_client: 512,
            shutdown_grace: Duration::from_secs(3),
            trusted_proxies: Vec::new(),
        }
    }
}

/// Serves `routes` on `listener` until `stop` is cancelled, then lets open requests finish for
/// up to `shutdown_grace` (SSE streams end on `stop` by themselves) and closes the rest.
pub async fn serve(
    listener: TcpListener,
    routes: Arc<Routes>,
    limits: ConnLimits,
    stop: CancellationToken,
) {
    let limits = Arc::new(limits);
    let clients = Arc::new(Clients::default());
    let budget = routes.descriptors();
    let mut conns = JoinSet::new();
    let mut backoff = AcceptBackoff::default();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    backoff.reset();
                    let extra = if uncapped(peer.ip()) { SERVER_RESERVE / 2 } else { 0 };
                    let Some(open_file) = budget.connection(extra) else {
                        refuse_busy(stream);
                        continue;
                    };
                    let from_proxy = is_trusted(&limits, peer);
                    let slot = if from_proxy {
                        Some(Slot(None))
                    } else {
                        clients.admit(peer.ip(), limits.max_per_client)
                    };
                    let Some(slot) = slot else {
                        refuse(stream);
                        continue;
                    };
                    conns.spawn(connection(
                        stream,
                        peer,
                        (slot, open_file),
                        from_proxy.then(|| clients.clone()),
                        routes.clone(),
                        limits.clone(),
                        stop.clone(),
                    ));
                }
                // Out of file descriptors and the like: wait instead of spinning.
                Err(e) => backoff.wait(&e).await,
            },
        }
    }
    drop(listener);
    let drained = async { while conns.join_next().await.is_some() {} };
    if tokio::time::timeout(limits.shutdown_grace, drained)
        .await
        .is_err()
    {
        conns.shutdown().await;
    }
}

fn is_trusted(limits: &ConnLimits, peer: SocketAddr) -> bool {
    limits.trusted_proxies.iter().any(|n| n.contains(peer.ip()))
}

/// `proxied`: the connection is from a trusted proxy; its requests take places of their
/// forwarded clients in these counts.
async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    _places: (Slot, Place),
    proxied: Option<Arc<Clients>>,
    routes: Arc<Routes>,
    limits: Arc<ConnLimits>,
    stop: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    let activity = Arc::new(Activity::default());
    let io = TokioIo::new(Tracked {
        inner: stream,
        activity: activity.clone(),
    });
    let warp_svc = TowerToHyperService::new(warp::service(routes.warp()));
    let marks = activity.clone();
    let limits2 = limits.clone();
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        let mut client = peer;
        // `Some(place)` admitted (a proxied request holds a place of its client), `None` refused.
        let mut admitted = Some(None);
        if let Some(clients) = &proxied {
            let xff: Vec<&[u8]> = req
                .headers()
                .get_all("x-forwarded-for")
                .iter()
                .map(|v| v.as_bytes())
                .collect();
            client = forwarded_client(peer, &limits2.trusted_proxies, &xff);
            admitted = clients.admit(client.ip(), limits2.max_per_client).map(Some);
        }
        if req.uri().path() == "/api/events" {
            marks.streaming.store(true, Ordering::Relaxed);
        }
        let answer = admitted.is_some().then(|| match Routes::vote_target(&req) {
            Some(poll) => Either::Left(routes.clone().vote(poll, req)),
            None => {
                req.extensions_mut().insert(ClientAddr(client));
                Either::Right(hyper::service::Service::call(&warp_svc, req))
            }
        });
        async move {
            let (Some(place), Some(answer)) = (admitted, answer) else {
                return Ok(too_many_requests().map(|body| Held::new(body, None)));
            };
            let res = match answer {
                Either::Left(vote) => vote.await,
                Either::Right(other) => other.await?,
            };
            Ok::<_, std::convert::Infallible>(res.map(|body| Held::new(body, place)))
        }
    });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .serve_connection(io, svc);
    tokio::pin!(conn);
    let mut stopping = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, "connection ended: {e}");
                }
                return;
            }
            _ = stop.cancelled(), if !stopping => {
                stopping = true;
                conn.as_mut().graceful_shutdown();
            }
            _ = activity.idle_for(limits.idle_timeout) => {
                tracing::debug!(%peer, "closing a connection idle for {:?}", limits.idle_timeout);
                return;
            }
        }
    }
}

/// The answer to a proxied request whose client holds its share of places already.
fn too_many_requests() -> Response {
    let mut res = super::error::error_reply(
        warp::http::StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "too many open requests from this address",
    );
    res.headers_mut()
        .insert("retry-after", warp::http::HeaderValue::from_static("2"));
    res
}

/// A response body that keeps its client's place until the body has been sent (or dropped).
struct Held<B> {
    body: Pin<Box<B>>,
    _place: Option<Slot>,
}

impl<B> Held<B> {
    fn new(body: B, place: Option<Slot>) -> Self {
        Held {
            body: Box::pin(body),
            _place: place,
        }
    }
}

impl<B: hyper::body::Body> hyper::body::Body for Held<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<B::Data>, B::Error>>> {
        self.body.as_mut().poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

/// How long the accept loop waits after `accept` failed (EMFILE: out of descriptors; ENFILE,
/// ENOBUFS): 10 ms doubling to a second while it keeps failing, logged at most every 10 s.
#[derive(Default)]
struct AcceptBackoff {
    wait: Option<Duration>,
    logged: Option<Instant>,
}

impl AcceptBackoff {
    fn reset(&mut self) {
        self.wait = None;
    }

    async fn wait(&mut self, e: &io::Error) {
        let wait = self.wait.map_or(Duration::from_millis(10), |w| {
            (w * 2).min(Duration::from_secs(1))
        });
        self.wait = Some(wait);
        if self.logged.is_none_or(|t| t.elapsed() >= WARN_EVERY) {
            self.logged = Some(Instant::now());
            tracing::warn!(
                "accepting a connection failed: {e}; waiting up to a second between tries \
                 (raise the open-files limit, ulimit -n, if this says \"Too many open files\")"
            );
        }
        tokio::time::sleep(wait).await;
    }
}

/// Answers a connection past the open-files budget without reading it, and closes it.
fn refuse_busy(stream: TcpStream) {
    const BODY: &str = r#"{"error":"busy","message":"this server holds as many connections as its open-files limit allows; retry later"}"#;
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: {}\r\nconnection: close\r\n\r\n{BODY}",
        BODY.len(),
        crate::descriptors::BUSY_RETRY_SECS
    );
    let _ = stream.try_write(response.as_bytes());
}

/// Answers a connection over the per-client cap without reading it, and closes it.
fn refuse(stream: TcpStream) {
    const BODY: &str =
        r#"{"error":"rate_limited","message":"too many open connections from this address"}"#;
    let response = format!(
        "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 2\r\nconnection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    let _ = stream.try_write(response.as_bytes());
}

fn process_ms() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_millis() as u64
}

/// When bytes last moved on a connection, and whether it carries an SSE stream.
struct Activity {
    last_ms: AtomicU64,
    streaming: AtomicBool,
}

impl Default for Activity {
    fn default() -> Self {
        Activity {
            last_ms: AtomicU64::new(process_ms()),
            streaming: AtomicBool::new(false),
        }
    }
}

impl Activity {
    fn touch(&self) {
        self.last_ms.store(process_ms(), Ordering::Relaxed);
    }

    /// Resolves once nothing moved for `limit`; never for an SSE connection.
    async fn idle_for(&self, limit: Duration) {
        loop {
            if self.streaming.load(Ordering::Relaxed) {
                return std::future::pending().await;
            }
            let quiet = process_ms().saturating_sub(self.last_ms.load(Ordering::Relaxed));
            let quiet = Duration::from_millis(quiet);
            if quiet >= limit {
                return;
            }
            tokio::time::sleep(limit - quiet).await;
        }
    }
}

/// A TCP stream that records when bytes move.
struct Tracked {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Tracked {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        result
    }
}

impl AsyncWrite for Tracked {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Open connections per client address.
#[derive(Default)]
struct Clients {
    open: Mutex<HashMap<IpAddr, ClientEntry>>,
}

#[derive(Default)]
struct ClientEntry {
    open: usize,
    /// When a refusal was last logged, so a flood makes one log line per 10 s, not one per try.
    warned: Option<Instant>,
}

const WARN_EVERY: Duration = Duration::from_secs(10);

fn uncapped(ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    ip == IpAddr::V4(Ipv4Addr::LOCALHOST) || ip == IpAddr::V6(Ipv6Addr::LOCALHOST)
}

impl Clients {
    /// A slot for one more connection from `ip`, or `None` (logged) if it holds `max` already.
    fn admit(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<Slot> {
        let ip = ip.to_canonical();
        if uncapped(ip) {
            return Some(Slot(None));
        }
        let mut open = self.open.lock().expect("clients lock");
        let entry = open.entry(ip).or_default();
        if entry.open >= max {
            if entry.warned.is_none_or(|t| t.elapsed() >= WARN_EVERY) {
                entry.warned = Some(Instant::now());
                tracing::warn!(
                    "connection cap: {ip} already holds {max} open connections (the most one \
                     client address may hold); refusing its new ones with 429 until some close"
                );
            }
            return None;
        }
        entry.open += 1;
        Some(Slot(Some((self.clone(), ip))))
    }
}

/// One admitted connection; gives its place back when dropped.
struct Slot(Option<(Arc<Clients>, IpAddr)>);

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some((clients, ip)) = self.0.take() {
            let mut open = clients.open.lock().expect("clients lock");
            if let Some(entry) = open.get_mut(&ip) {
                entry.open -= 1;
                if entry.open == 0 {
                    open.remove(&ip);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_address_gets_at_most_max_slots_and_gets_them_back() {
        let clients = Arc::new(Clients::default());
        let a: IpAddr = "192.0.2.7".parse().unwrap();
        let b: IpAddr = "::ffff:192.0.2.8".parse().unwrap();
        let held: Vec<Slot> = (0..3).map(|_| clients.admit(a, 3).unwrap()).collect();
        assert!(clients.admit(a, 3).is_none());
        assert!(clients.admit(b, 3).is_some());
        drop(held);
        assert!(clients.open.lock().unwrap().is_empty());
        assert!(clients.admit(a, 3).is_some());
        let local: Vec<Slot> = (0..10)
            .map(|_| clients.admit("127.0.0.1".parse().unwrap(), 3).unwrap())
            .collect();
        assert_eq!(local.len(), 10);
        assert!(clients.admit("::1".parse().unwrap(), 0).is_some());
        assert!(clients.admit("127.0.0.2".parse().unwrap(), 0).is_none());
    }
}
