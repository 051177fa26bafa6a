//! The two roles the throughput, latency and slow-consumer scenarios are built from: a
//! publisher (paced or flat out, QoS 0, or QoS 1 with a bounded number unacknowledged) and a
//! subscriber (acknowledges at QoS 1, may stop reading for the whole window).
//!
//! Publishers stop at the window's end. Subscribers go on until they have every message the
//! publishers they listen to sent, or nothing has come for [`Drain::idle`], or the drain
//! deadline passed: what is missing then is lost.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

use crate::client::{parse_frame, put_puback, put_publish, Conn, QoS, Version, PUBACK, PUBLISH};
use crate::clock::{self, Window};
use crate::payload::{Stamp, STAMP_LEN};
use crate::stats::RecvStats;

/// Messages an unpaced publisher writes at once.
const BATCH: u64 = 64;
/// Most messages a paced publisher writes at once when it falls behind.
const MAX_PACED_BATCH: u64 = 1000;
/// How long a QoS 1 publisher waits for its last PUBACKs after the window.
const ACK_GRACE: Duration = Duration::from_secs(5);
/// How often a waiting subscriber checks whether the drain is over.
const POLL: Duration = Duration::from_millis(100);
/// DISCONNECT, so brokers log a clean close.
pub const DISCONNECT: [u8; 2] = [0xE0, 0x00];

/// One publisher of a scenario.
#[derive(Clone, Debug)]
pub struct PubSpec {
    /// Stream id, dense from 0, written in every payload.
    pub id: u32,
    /// Topic it publishes to.
    pub topic: String,
    /// QoS of its messages.
    pub qos: QoS,
    /// Messages per second, or `None` for as fast as the broker takes them.
    pub rate: Option<f64>,
    /// Most QoS 1 messages unacknowledged at once.
    pub max_inflight: usize,
    /// Payload bytes (at least [`STAMP_LEN`]).
    pub payload: usize,
}

/// What a publisher did.
#[derive(Clone, Debug, Default)]
pub struct PubStats {
    /// Its stream id.
    pub id: u32,
    /// Messages written in all.
    pub sent: u64,
    /// Messages written inside the window.
    pub in_window: u64,
    /// PUBACKs received (QoS 1).
    pub acked: u64,
    /// Why it stopped early, if it did.
    pub error: Option<String>,
}

/// Publishes until the window ends, then (QoS 1) waits up to [`ACK_GRACE`] for the last
/// PUBACKs. At most `max_inflight` QoS 1 messages are unacknowledged, and no more than an MQTT
/// 5 broker's Receive Maximum.
pub async fn publish(conn: Conn, spec: PubSpec, window: Window) -> PubStats {
    let Conn {
        stream,
        rbuf,
        version,
        receive_maximum,
        ..
    } = conn;
    let (reader, mut writer) = stream.into_split();
    let mut stats = PubStats {
        id: spec.id,
        ..PubStats::default()
    };
    let inflight = spec.max_inflight.min(usize::from(receive_maximum)).max(1);
    let credits = Arc::new(Semaphore::new(inflight));
    let acked = Arc::new(AtomicU64::new(0));
    let qos1 = spec.qos == QoS::AtLeastOnce;
    let acker = tokio::spawn(read_acks(reader, rbuf, credits.clone(), acked.clone()));

    let mut payload = vec![0u8; spec.payload.max(STAMP_LEN)];
    let mut out = BytesMut::with_capacity(64 * 1024);
    let origin = clock::now_ns();
    let mut pkid: u16 = 0;
    loop {
        let now = clock::now_ns();
        if now >= window.end_ns {
            break;
        }
        let mut n = match spec.rate {
            None => BATCH,
            Some(rate) => {
                let due = ((now - origin) as f64 * rate / 1e9) as u64 + 1;
                due.saturating_sub(stats.sent).min(MAX_PACED_BATCH)
            }
        };
        if n == 0 {
            let rate = spec.rate.unwrap_or(1.0);
            let next = origin + (stats.sent as f64 * 1e9 / rate) as u64;
            clock::sleep_until(next.min(window.end_ns)).await;
            continue;
        }
        if qos1 {
            n = tokio::select! {
                got = take_credits(&credits, n) => got,
                () = clock::sleep_until(window.end_ns) => break,
            };
        }
        let sent_ns = clock::now_ns();
        for _ in 0..n {
            let stamp = Stamp {
                publisher: spec.id,
                seq: stats.sent,
                sent_ns,
            };
            stamp.write(&mut payload);
            pkid = if pkid == u16::MAX { 1 } else { pkid + 1 };
            put_publish(&mut out, &spec.topic, spec.qos, pkid, &payload, version);
            stats.sent += 1;
        }
        if let Err(e) = writer.write_all(&out).await {
            stats.error = Some(format!("publish: {e}"));
            break;
        }
        out.clear();
        if window.contains(sent_ns) {
            stats.in_window += n;
        }
    }
    if qos1 {
        let deadline = clock::now_ns() + clock::duration_ns(ACK_GRACE);
        while acked.load(Ordering::Relaxed) < stats.sent && clock::now_ns() < deadline && !acker.is_finished()
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    let _ = writer.write_all(&DISCONNECT).await;
    acker.abort();
    stats.acked = acked.load(Ordering::Relaxed);
    stats
}

/// Waits for one credit, then takes up to `want` in all without waiting again.
pub async fn take_credits(credits: &Semaphore, want: u64) -> u64 {
    let Ok(first) = credits.acquire().await else {
        return 0;
    };
    first.forget();
    let mut got = 1;
    while got < want {
        match credits.try_acquire() {
            Ok(permit) => permit.forget(),
            Err(_) => break,
        }
        got += 1;
    }
    got
}

/// Counts PUBACKs and gives a credit back for each; ends when the broker closes.
pub async fn read_acks(
    mut reader: crate::client::ReadHalf,
    mut rbuf: BytesMut,
    credits: Arc<Semaphore>,
    acked: Arc<AtomicU64>,
) {
    loop {
        while let Ok(Some((frame, len))) = parse_frame(&rbuf) {
            if frame.kind == PUBACK {
                credits.add_permits(1);
                acked.fetch_add(1, Ordering::Relaxed);
            }
            rbuf.advance(len);
        }
        rbuf.reserve(16 * 1024);
        match reader.read_buf(&mut rbuf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

/// One subscriber of a scenario.
#[derive(Clone, Debug)]
pub struct SubSpec {
    /// Its filter.
    pub filter: String,
    /// Requested QoS.
    pub qos: QoS,
    /// Stream ids of the publishers whose every message it should get.
    pub expects: Vec<u32>,
    /// Stop reading until the window ends (the slow consumer).
    pub paused: bool,
    /// Counted in the run's rates, latency and loss (a paused one is reported apart).
    pub measured: bool,
    /// SO_RCVBUF to ask for, to keep the kernel from absorbing a backlog.
    pub recv_buffer: Option<u32>,
}

/// Shared between the scenario and its subscribers: when publishing is over and how much
/// each publisher sent, so a subscriber knows when it has everything.
pub struct Drain {
    done: AtomicBool,
    sent: Vec<AtomicU64>,
    /// Give up after this long without a message once publishing is over.
    pub idle: Duration,
    /// Give up at this instant whatever happens ([`clock::now_ns`]).
    deadline_ns: AtomicU64,
}

impl Drain {
    /// For `publishers` publishers with ids `0..publishers`.
    pub fn new(publishers: usize, idle: Duration) -> Drain {
        Drain {
            done: AtomicBool::new(false),
            sent: (0..publishers).map(|_| AtomicU64::new(0)).collect(),
            idle,
            deadline_ns: AtomicU64::new(u64::MAX),
        }
    }

    /// Publishing is over: records what each publisher sent and starts the drain clock.
    pub fn finish(&self, publishers: &[PubStats], limit: Duration) {
        for p in publishers {
            if let Some(sent) = self.sent.get(p.id as usize) {
                sent.store(p.sent, Ordering::Relaxed);
            }
        }
        self.deadline_ns
            .store(clock::now_ns() + clock::duration_ns(limit), Ordering::Relaxed);
        self.done.store(true, Ordering::Release);
    }

    /// Messages publisher `id` sent (valid once finished).
    pub fn sent(&self, id: u32) -> u64 {
        self.sent
            .get(id as usize)
            .map_or(0, |s| s.load(Ordering::Relaxed))
    }

    fn over(&self, spec: &SubSpec, stats: &RecvStats, last_rx_ns: u64) -> bool {
        if !self.done.load(Ordering::Acquire) {
            return false;
        }
        let now = clock::now_ns();
        if now >= self.deadline_ns.load(Ordering::Relaxed)
            || now - last_rx_ns.min(now) > clock::duration_ns(self.idle)
        {
            return true;
        }
        spec.expects
            .iter()
            .all(|&id| stats.unique_from(id) >= self.sent(id))
    }
}

/// What a subscriber saw.
#[derive(Clone, Default)]
pub struct SubResult {
    /// Its measurements.
    pub stats: RecvStats,
    /// The broker closed the connection.
    pub closed_by_broker: bool,
    /// A read, write or protocol error.
    pub error: Option<String>,
}

/// Receives (after the window, if paused) until the drain is over.
pub async fn subscribe(conn: Conn, spec: SubSpec, window: Window, drain: Arc<Drain>) -> SubResult {
    let mut result = SubResult::default();
    let Conn {
        mut stream,
        mut rbuf,
        version,
        ..
    } = conn;
    if spec.paused {
        clock::sleep_until(window.end_ns).await;
    }
    let mut acks = BytesMut::with_capacity(4096);
    let mut last_rx = clock::now_ns();
    while !drain.over(&spec, &result.stats, last_rx) {
        rbuf.reserve(64 * 1024);
        match tokio::time::timeout(POLL, stream.read_buf(&mut rbuf)).await {
            Err(_) => continue,
            Ok(Ok(0)) => {
                result.closed_by_broker = true;
                break;
            }
            Ok(Err(e)) => {
                result.error = Some(format!("read: {e}"));
                break;
            }
            Ok(Ok(_)) => {}
        }
        last_rx = clock::now_ns();
        if let Err(e) = handle_frames(&mut rbuf, &mut acks, &mut result.stats, window, last_rx, version) {
            result.error = Some(e.to_string());
            break;
        }
        if !acks.is_empty() {
            if let Err(e) = stream.write_all(&acks).await {
                result.error = Some(format!("puback: {e}"));
                break;
            }
            acks.clear();
        }
    }
    let _ = stream.write_all(&DISCONNECT).await;
    result
}

/// Handles every whole frame in `rbuf`, queueing a PUBACK for each QoS 1 delivery.
fn handle_frames(
    rbuf: &mut BytesMut,
    acks: &mut BytesMut,
    stats: &mut RecvStats,
    window: Window,
    now: u64,
    version: Version,
) -> anyhow::Result<()> {
    while let Some((frame, len)) = parse_frame(rbuf)? {
        if frame.kind == PUBLISH {
            let incoming = frame.publish(version)?;
            if incoming.qos > 0 {
                put_puback(acks, incoming.pkid);
            }
            record(stats, incoming.payload, window, now);
        }
        rbuf.advance(len);
    }
    Ok(())
}

fn record(stats: &mut RecvStats, payload: &[u8], window: Window, now: u64) {
    stats.total += 1;
    let Some(stamp) = Stamp::read(payload) else {
        stats.foreign += 1;
        return;
    };
    let known = stats.stream(stamp.publisher).is_some_and(|s| s.record(stamp.seq));
    if !known {
        stats.foreign += 1;
        return;
    }
    if window.contains(now) {
        stats.in_window += 1;
        stats.latency.record(now.saturating_sub(stamp.sent_ns));
    }
}
