//! `loadgen fill` and `loadgen check`: the load of `bench/recovery.sh`, which measures how long
//! a durable broker takes to come back with many stored sessions and messages.
//!
//! `fill` makes `--sessions` persistent sessions (3.1.1 clean session 0, or MQTT 5 with a
//! Session Expiry Interval), client ids `<prefix>-<i>`, each subscribed at QoS 1 to its own
//! topic `bench/<prefix>/<i>` and then disconnected (`--concurrency` at a time), then publishes
//! `--per-session` QoS 1 messages to every one of those topics from `--publishers` clean
//! connections (at most `--max-inflight` unacknowledged each) and waits for every PUBACK: once
//! it returns, the broker has acknowledged, so stored, every message.
//!
//! `check` comes back as `--sample` of those sessions (evenly spread over them; all of them
//! when the sample is as large), each expecting Session Present and its `--per-session`
//! messages, in order, once each: what the broker lost, duplicated or reordered across the
//! restart.
//!
//! Each prints one JSON object. Every payload carries the usual stamp ([`crate::payload`]):
//! "publisher" is the session's index, "seq" the message's number for that session.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bytes::{Buf, BytesMut};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::Semaphore;

use crate::client::{parse_frame, put_puback, put_publish, Conn, Login, QoS, SourcePorts, PUBLISH};
use crate::payload::{Stamp, STAMP_LEN};
use crate::roles::{read_acks, take_credits};

/// How long one session may take to connect, subscribe and leave, or to connect and get its
/// messages in `check`.
const SESSION_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the broker may take to close a connection after DISCONNECT.
const CLOSE_WAIT: Duration = Duration::from_secs(5);
/// How long the publishers wait for their last PUBACKs.
const ACK_WAIT: Duration = Duration::from_secs(300);
/// Messages a publisher writes at once.
const BATCH: u64 = 64;
/// Errors listed in the output; more are counted.
const MAX_ERRORS: usize = 20;

/// What `fill` and `check` share.
pub struct Target {
    /// The broker's MQTT listener.
    pub addr: SocketAddr,
    /// Protocol level and keep alive (the sessions are made persistent here).
    pub login: Login,
    /// Session expiry for MQTT 5 sessions, seconds.
    pub session_expiry: u32,
    /// Client id and topic prefix.
    pub prefix: String,
    /// Number of sessions.
    pub sessions: usize,
    /// Messages per session.
    pub per_session: u64,
    /// Sessions being made or checked at once.
    pub concurrency: usize,
}

impl Target {
    fn client_id(&self, i: usize) -> String {
        format!("{}-{i}", self.prefix)
    }

    fn topic(&self, i: usize) -> String {
        format!("bench/{}/{i}", self.prefix)
    }
}

/// Errors from many tasks: the first [`MAX_ERRORS`] kept, all counted.
#[derive(Default)]
struct Errors {
    kept: std::sync::Mutex<(Vec<String>, u64)>,
}

impl Errors {
    fn push(&self, error: String) {
        let mut kept = self.kept.lock().unwrap_or_else(|e| e.into_inner());
        if kept.0.len() < MAX_ERRORS {
            kept.0.push(error);
        }
        kept.1 += 1;
    }

    /// The kept ones and the count.
    fn take(&self) -> (Vec<String>, u64) {
        std::mem::take(&mut *self.kept.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Runs `work(i)` for every `i` in `indices`, `concurrency` at a time; returns how many
/// succeeded, errors recorded.
async fn for_each<F, Fut>(indices: Vec<usize>, concurrency: usize, errors: Arc<Errors>, work: F) -> usize
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<()>> + Send,
{
    let indices = Arc::new(indices);
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let work = Arc::new(work);
    let mut tasks = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (indices, next, done, work, errors) = (
            indices.clone(),
            next.clone(),
            done.clone(),
            work.clone(),
            errors.clone(),
        );
        tasks.push(tokio::spawn(async move {
            loop {
                let at = next.fetch_add(1, Ordering::Relaxed);
                let Some(&i) = indices.get(at) else { break };
                match tokio::time::timeout(SESSION_TIMEOUT, work(i)).await {
                    Ok(Ok(())) => {
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(Err(e)) => errors.push(format!("session {i}: {e:#}")),
                    Err(_) => errors.push(format!("session {i}: timed out")),
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    done.load(Ordering::Relaxed)
}

fn secs(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 1000.0).round() / 1000.0
}

fn rate(n: u64, secs: f64) -> f64 {
    (n as f64 / secs.max(1e-9)).round()
}

/// `loadgen fill`: makes the sessions, then fills them (see the module docs).
pub async fn fill(target: Target, publishers: usize, max_inflight: usize, payload: usize) -> Result<Value> {
    let target = Arc::new(target);
    let source = Arc::new(SourcePorts::ephemeral());
    let errors = Arc::new(Errors::default());

    let started = Instant::now();
    let made = {
        let (target, source) = (target.clone(), source.clone());
        for_each(
            (0..target.sessions).collect(),
            target.concurrency,
            errors.clone(),
            move |i| {
                let (target, source) = (target.clone(), source.clone());
                async move {
                    let login = target.login.persistent(target.session_expiry);
                    let mut conn = Conn::connect(
                        target.addr,
                        &target.client_id(i),
                        login,
                        None,
                        Some(&source),
                        None,
                    )
                    .await?;
                    conn.subscribe(&target.topic(i), QoS::AtLeastOnce).await?;
                    conn.close(CLOSE_WAIT).await
                }
            },
        )
        .await
    };
    let sessions_secs = secs(started);
    let (mut error_lines, mut error_count) = errors.take();

    let started = Instant::now();
    let mut tasks = Vec::new();
    for p in 0..publishers.max(1) {
        let (target, source) = (target.clone(), source.clone());
        tasks.push(tokio::spawn(async move {
            publish_share(&target, &source, p, publishers.max(1), max_inflight, payload).await
        }));
    }
    let (mut sent, mut acked) = (0u64, 0u64);
    for task in tasks {
        match task.await.context("publisher task")? {
            Ok((s, a)) => {
                sent += s;
                acked += a;
            }
            Err(e) => {
                error_count += 1;
                if error_lines.len() < MAX_ERRORS {
                    error_lines.push(format!("publisher: {e:#}"));
                }
            }
        }
    }
    let publish_secs = secs(started);
    let expected = target.sessions as u64 * target.per_session;
    if acked < expected {
        error_lines.push(format!("{} of {expected} messages acknowledged", acked));
    }
    Ok(json!({
        "phase": "fill",
        "mqtt_version": target.login.version.level(),
        "sessions": target.sessions,
        "sessions_made": made,
        "sessions_secs": sessions_secs,
        "sessions_per_s": rate(made as u64, sessions_secs),
        "concurrency": target.concurrency,
        "per_session": target.per_session,
        "payload_bytes": payload.max(STAMP_LEN),
        "publishers": publishers,
        "max_inflight": max_inflight,
        "published": sent,
        "acked": acked,
        "publish_secs": publish_secs,
        "publish_rate": rate(acked, publish_secs),
        "errors_count": error_count,
        "errors": error_lines,
    }))
}

/// One publisher's share: the topics of sessions `p`, `p + publishers`, ..., each
/// `per_session` times, round by round. Returns (sent, acknowledged).
async fn publish_share(
    target: &Target,
    source: &SourcePorts,
    p: usize,
    publishers: usize,
    max_inflight: usize,
    payload_len: usize,
) -> Result<(u64, u64)> {
    let id = format!("{}-pub-{p}", target.prefix);
    let conn = Conn::connect(target.addr, &id, target.login, None, Some(source), None).await?;
    let inflight = max_inflight.min(usize::from(conn.receive_maximum)).max(1);
    let version = conn.version;
    let (reader, mut writer) = conn.stream.into_split();
    let credits = Arc::new(Semaphore::new(inflight));
    let acked = Arc::new(AtomicU64::new(0));
    let acker = tokio::spawn(read_acks(reader, conn.rbuf, credits.clone(), acked.clone()));
    let topics: Vec<(usize, String)> = (p..target.sessions)
        .step_by(publishers)
        .map(|i| (i, target.topic(i)))
        .collect();
    let mut payload = vec![0u8; payload_len.max(STAMP_LEN)];
    let mut out = BytesMut::with_capacity(64 * 1024);
    let mut pkid: u16 = 0;
    let mut sent = 0u64;
    // Round by round: message `k` is number k / share of topic k % share.
    let total = target.per_session * topics.len() as u64;
    'publishing: loop {
        let n = take_credits(&credits, BATCH).await;
        if n == 0 {
            bail!("the acknowledgement reader stopped");
        }
        for _ in 0..n {
            if sent == total {
                if !out.is_empty() {
                    writer.write_all(&out).await.context("publish")?;
                }
                break 'publishing;
            }
            let seq = sent / topics.len() as u64;
            let (i, topic) = &topics[(sent % topics.len() as u64) as usize];
            let stamp = Stamp {
                publisher: *i as u32,
                seq,
                sent_ns: crate::clock::now_ns(),
            };
            stamp.write(&mut payload);
            pkid = if pkid == u16::MAX { 1 } else { pkid + 1 };
            put_publish(&mut out, topic, QoS::AtLeastOnce, pkid, &payload, version);
            sent += 1;
        }
        writer.write_all(&out).await.context("publish")?;
        out.clear();
    }
    let deadline = Instant::now() + ACK_WAIT;
    while acked.load(Ordering::Relaxed) < sent && Instant::now() < deadline && !acker.is_finished() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let _ = writer.write_all(&crate::roles::DISCONNECT).await;
    acker.abort();
    Ok((sent, acked.load(Ordering::Relaxed)))
}

/// What one checked session received.
#[derive(Default)]
struct Seen {
    present: bool,
    distinct: u64,
    duplicated: u64,
    reordered: u64,
    foreign: u64,
}

/// `loadgen check`: comes back as a sample of the sessions (see the module docs).
pub async fn check(target: Target, sample: usize) -> Result<Value> {
    let n = target.sessions;
    let sample = sample.min(n);
    // Evenly spread over 0..n: every k-th session.
    let indices: Vec<usize> = (0..sample).map(|k| k * n / sample.max(1)).collect();
    let target = Arc::new(target);
    let source = Arc::new(SourcePorts::ephemeral());
    let errors = Arc::new(Errors::default());
    let totals = Arc::new(std::sync::Mutex::new(Seen::default()));
    let absent = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let checked = {
        let (target, source, totals, absent) =
            (target.clone(), source.clone(), totals.clone(), absent.clone());
        for_each(indices, target.concurrency, errors.clone(), move |i| {
            let (target, source, totals, absent) =
                (target.clone(), source.clone(), totals.clone(), absent.clone());
            async move {
                let seen = receive_own(&target, &source, i).await?;
                if !seen.present {
                    absent.fetch_add(1, Ordering::Relaxed);
                }
                let mut t = totals.lock().unwrap_or_else(|e| e.into_inner());
                t.distinct += seen.distinct;
                t.duplicated += seen.duplicated;
                t.reordered += seen.reordered;
                t.foreign += seen.foreign;
                Ok(())
            }
        })
        .await
    };
    let elapsed = secs(started);
    let (error_lines, error_count) = errors.take();
    let t = totals.lock().unwrap_or_else(|e| e.into_inner());
    let expected = sample as u64 * target.per_session;
    Ok(json!({
        "phase": "check",
        "mqtt_version": target.login.version.level(),
        "sessions": n,
        "sample": sample,
        "checked": checked,
        "session_absent": absent.load(Ordering::Relaxed),
        "expected": expected,
        "received": t.distinct,
        "lost": expected.saturating_sub(t.distinct),
        "duplicated": t.duplicated,
        "reordered": t.reordered,
        "foreign": t.foreign,
        "secs": elapsed,
        "sessions_per_s": rate(checked as u64, elapsed),
        "errors_count": error_count,
        "errors": error_lines,
    }))
}

/// Resumes session `i` and reads until it has its messages or nothing came for a while.
async fn receive_own(target: &Target, source: &SourcePorts, i: usize) -> Result<Seen> {
    /// Once this long passes with nothing, what has not come is not coming.
    const QUIET: Duration = Duration::from_secs(3);
    let login = target.login.persistent(target.session_expiry);
    let mut conn = Conn::connect(target.addr, &target.client_id(i), login, None, Some(source), None).await?;
    let mut seen = Seen {
        present: conn.session_present,
        ..Seen::default()
    };
    let mut got = vec![false; target.per_session as usize];
    let mut last: Option<u64> = None;
    let mut acks = BytesMut::new();
    while seen.distinct < target.per_session {
        while let Some((frame, len)) = parse_frame(&conn.rbuf)? {
            if frame.kind == PUBLISH {
                let incoming = frame.publish(conn.version)?;
                if incoming.qos > 0 {
                    put_puback(&mut acks, incoming.pkid);
                }
                match Stamp::read(incoming.payload) {
                    Some(s) if s.publisher as usize == i && s.seq < target.per_session => {
                        let slot = &mut got[s.seq as usize];
                        if *slot {
                            seen.duplicated += 1;
                        } else {
                            *slot = true;
                            seen.distinct += 1;
                        }
                        if last.is_some_and(|l| s.seq < l) {
                            seen.reordered += 1;
                        }
                        last = Some(last.map_or(s.seq, |l| l.max(s.seq)));
                    }
                    _ => seen.foreign += 1,
                }
            }
            conn.rbuf.advance(len);
        }
        if !acks.is_empty() {
            conn.stream.write_all(&acks).await.context("puback")?;
            acks.clear();
        }
        if seen.distinct >= target.per_session {
            break;
        }
        conn.rbuf.reserve(16 * 1024);
        match tokio::time::timeout(QUIET, conn.stream.read_buf(&mut conn.rbuf)).await {
            Err(_) => break,
            Ok(Ok(0)) => bail!("the broker closed the connection"),
            Ok(Err(e)) => return Err(e).context("read"),
            Ok(Ok(_)) => {}
        }
    }
    conn.close(CLOSE_WAIT).await?;
    Ok(seen)
}
