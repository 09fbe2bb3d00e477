//! What a connection is doing, for its timers and for eviction: requests and
//! answers in flight (an answer counts until its last byte is handed to the
//! socket, not until the handler returns), when it last moved bytes, and
//! whether a request head is half-read.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::body::{Body, Bytes, Frame, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

/// The state of one connection. Times are milliseconds since `born`.
#[derive(Debug)]
pub struct Activity {
    born: Instant,
    in_flight: AtomicUsize,
    requests: AtomicU64,
    /// When the last request ended (or the connection began).
    last_request: AtomicU64,
    /// When bytes last moved out (0: never).
    last_write: AtomicU64,
    /// When the first byte of a request head arrived while nothing was in
    /// flight (0: none pending).
    head_started: AtomicU64,
    /// Something changed that may bring a deadline forward.
    pub changed: Notify,
    /// Close now: the connection was chosen to make room.
    pub evict: Notify,
}

/// Why a connection's watchdog fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// No first request within the header-read timeout.
    NoRequest,
    /// A request head not complete within the header-read timeout.
    SlowHead,
    /// Nothing in flight for the idle limit.
    Idle,
    /// Answers in flight, but no byte could be sent for the stall timeout.
    Stalled,
}

impl Activity {
    /// A new connection's activity.
    pub fn new() -> Arc<Self> {
        Arc::new(Activity {
            born: Instant::now(),
            in_flight: AtomicUsize::new(0),
            requests: AtomicU64::new(0),
            last_request: AtomicU64::new(0),
            last_write: AtomicU64::new(0),
            head_started: AtomicU64::new(0),
            changed: Notify::new(),
            evict: Notify::new(),
        })
    }

    fn now(&self) -> u64 {
        self.born.elapsed().as_millis() as u64 + 1
    }

    fn at(&self, millis: u64) -> Instant {
        self.born + Duration::from_millis(millis.saturating_sub(1))
    }

    /// A request's head is complete: it is in flight until its answer is sent.
    pub fn start(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.requests.fetch_add(1, Ordering::AcqRel);
        self.head_started.store(0, Ordering::Release);
        self.last_write.store(self.now(), Ordering::Release);
        self.changed.notify_one();
        InFlight(self.clone())
    }

    /// Nothing in flight.
    pub fn is_idle(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) == 0
    }

    /// When the connection was last used (its start, or its last request's end).
    pub fn last_used(&self) -> Instant {
        self.at(self.last_request.load(Ordering::Acquire).max(1))
    }

    /// Restart the idle clock (a drain begins).
    pub fn touch(&self) {
        self.last_request.store(self.now(), Ordering::Release);
        self.changed.notify_one();
    }

    fn read_some(&self, track_heads: bool) {
        if track_heads
            && self.is_idle()
            && self.head_started.compare_exchange(0, self.now(), Ordering::AcqRel, Ordering::Acquire).is_ok()
        {
            self.changed.notify_one();
        }
    }

    fn wrote_some(&self) {
        self.last_write.store(self.now(), Ordering::Release);
    }

    /// The next deadline and what it is for, given the idle limit now in force.
    pub fn deadline(&self, header_read: Duration, idle: Duration, stall: Duration) -> (Instant, Expiry) {
        if !self.is_idle() {
            return (self.at(self.last_write.load(Ordering::Acquire).max(1)) + stall, Expiry::Stalled);
        }
        if self.requests.load(Ordering::Acquire) == 0 {
            return (self.born + header_read, Expiry::NoRequest);
        }
        let head = self.head_started.load(Ordering::Acquire);
        let idle_at = self.last_used() + idle;
        if head != 0 && self.at(head) + header_read < idle_at {
            return (self.at(head) + header_read, Expiry::SlowHead);
        }
        (idle_at, Expiry::Idle)
    }

    /// Resolves when a deadline passes; returns which.
    pub async fn expired(&self, header_read: Duration, idle: Duration, stall: Duration) -> Expiry {
        loop {
            let (at, why) = self.deadline(header_read, idle, stall);
            if at <= Instant::now() {
                return why;
            }
            tokio::select! {
                () = tokio::time::sleep_until(at.into()) => {}
                () = self.changed.notified() => {}
            }
        }
    }
}

/// One request in flight until dropped: held by the answer's body, so it
/// ends when the last byte is handed over (or the body is dropped).
#[derive(Debug)]
pub struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        let a = &self.0;
        a.last_request.store(a.now(), Ordering::Release);
        a.in_flight.fetch_sub(1, Ordering::AcqRel);
        a.changed.notify_one();
    }
}

/// An answer's body that keeps its request in flight, and whatever else must
/// live as long as the answer is being sent (its share of the memory budget).
pub struct Guarded<B, T> {
    body: B,
    _held: T,
}

impl<B, T> Guarded<B, T> {
    /// Wrap `body`, holding `held` until it is sent or dropped.
    pub fn new(body: B, held: T) -> Self {
        Guarded { body, _held: held }
    }
}

impl<B: Body<Data = Bytes> + Unpin, T: Unpin> Body for Guarded<B, T> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A connection's byte stream, reporting reads and writes to its activity.
pub struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
    /// HTTP/1.1: bytes arriving while idle start a request head.
    track_heads: bool,
}

impl<S> Tracked<S> {
    /// Track `inner`.
    pub fn new(inner: S, activity: Arc<Activity>, track_heads: bool) -> Self {
        Tracked { inner, activity, track_heads }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Tracked<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.activity.read_some(this.track_heads);
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Tracked<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write(cx, data);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.wrote_some();
        }
        result
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.wrote_some();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: Duration = Duration::from_secs(5);
    const IDLE: Duration = Duration::from_secs(120);
    const STALL: Duration = Duration::from_secs(20);

    #[test]
    fn a_fresh_connection_has_the_header_read_timeout_to_send_a_request() {
        let a = Activity::new();
        let (at, why) = a.deadline(HEAD, IDLE, STALL);
        assert_eq!(why, Expiry::NoRequest);
        assert!(at <= Instant::now() + HEAD);
    }

    #[test]
    fn a_kept_alive_connection_has_the_idle_timeout_and_a_started_head_the_header_timeout() {
        let a = Activity::new();
        drop(a.start());
        let (at, why) = a.deadline(HEAD, IDLE, STALL);
        assert_eq!(why, Expiry::Idle);
        assert!(at > Instant::now() + IDLE - Duration::from_secs(1), "the idle timeout, not 5 s");
        a.read_some(true);
        assert_eq!(a.deadline(HEAD, IDLE, STALL).1, Expiry::SlowHead);
        // HTTP/2 frames (pings, window updates) are not request heads
        let b = Activity::new();
        drop(b.start());
        b.read_some(false);
        assert_eq!(b.deadline(HEAD, IDLE, STALL).1, Expiry::Idle);
    }

    #[test]
    fn an_answer_in_flight_counts_until_its_body_is_dropped() {
        let a = Activity::new();
        let body = Guarded::new(http_body_util::Empty::<Bytes>::new(), a.start());
        assert!(!a.is_idle());
        assert_eq!(a.deadline(HEAD, IDLE, STALL).1, Expiry::Stalled);
        drop(body);
        assert!(a.is_idle());
    }
}
