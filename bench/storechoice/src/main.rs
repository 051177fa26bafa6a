//! storechoice: redb against fjall as arbor's durable message store, measured on the broker's
//! workload. See README.md for what is measured and the results.
//!
//!     cargo run --release -- [--secs 5] [--rounds 5] [--wait-quiet 5] [--retry 30] [--no-raw] [--backends redb,redb-qr,fjall2,fjall3]
//!                            [--dir DIR] [--sessions 100000] [--per-session 10] [--skip-commit] [--skip-recovery]
//!
//! Internal subcommands (the program runs itself as a child for them):
//!     write <backend> <dir> <sessions> <per-session> <batch>   bulk load, then abort()
//!     probe <backend> <dir> [--check-integrity] [--intrude]     open an existing store, scan it

mod stores;

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use stores::{Kind, Op, OpenOpts, Store, Sync, Tbl};

// ---------------------------------------------------------------------------------------------
// Workload data

/// xorshift64*: payloads are pseudo-random, so incompressible (fjall compresses blocks with lz4).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let r = self.next().to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
    }
}

/// Session key: [len u8][client id]. The length byte keeps "sub-1" from prefixing "sub-10".
fn session_key(client: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + client.len());
    k.push(client.len() as u8);
    k.extend_from_slice(client);
    k
}

/// Message / inflight key: [len u8][client id][global seq u64 BE].
fn msg_key(client: &[u8], seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + client.len() + 8);
    k.push(client.len() as u8);
    k.extend_from_slice(client);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

const MSG_VALUE_LEN: usize = 120;
const SESSION_VALUE_LEN: usize = 200;

/// A queued message, 120 B: 36 B header (flags, qos, lengths, timestamps, expiry, origin),
/// a 20 B topic and a 64 B payload.
fn msg_value(seq: u64, rng: &mut Rng) -> Vec<u8> {
    let mut v = Vec::with_capacity(MSG_VALUE_LEN);
    v.push(0b0000_0010); // flags: qos 1, not retained, not dup
    v.extend_from_slice(&20u16.to_be_bytes()); // topic len
    v.extend_from_slice(format!("sensors/r{:04}/temp-x", seq % 10_000).as_bytes()); // 20 B
    v.extend_from_slice(&seq.to_be_bytes()); // publish time (stand-in)
    v.extend_from_slice(&3600u32.to_be_bytes()); // message expiry
    v.extend_from_slice(&seq.to_be_bytes()); // origin seq
    v.extend_from_slice(&[0u8; 11]); // origin client (truncated) / properties
    v.extend_from_slice(&64u16.to_be_bytes()); // payload len
    let mut payload = [0u8; 64];
    rng.fill(&mut payload);
    v.extend_from_slice(&payload);
    debug_assert_eq!(v.len(), MSG_VALUE_LEN);
    v
}

/// A session record, 200 B: flags, expiry, will, subscriptions (as the broker would encode them).
fn session_value(i: u64, rng: &mut Rng) -> Vec<u8> {
    let mut v = Vec::with_capacity(SESSION_VALUE_LEN);
    v.extend_from_slice(&[0, 5]); // clean_start=false, protocol 5
    v.extend_from_slice(&86_400u32.to_be_bytes()); // session expiry
    v.extend_from_slice(&i.to_be_bytes()); // created at (stand-in)
    v.extend_from_slice(b"sensors/+/temp\x01alerts/#\x02cmd/client/in\x01");
    let mut rest = vec![0u8; SESSION_VALUE_LEN - v.len()];
    rng.fill(&mut rest);
    v.extend_from_slice(&rest);
    v
}

/// The steady-state queue of the group-commit benchmark: each batch inserts B messages and their
/// inflight state, and deletes both for the keys inserted two batches earlier (acknowledged).
struct Queue {
    clients: Vec<Vec<u8>>,
    next_client: usize,
    seq: u64,
    rng: Rng,
    history: VecDeque<Vec<Vec<u8>>>,
}

impl Queue {
    fn new(clients: usize) -> Queue {
        Queue {
            clients: (0..clients).map(|i| format!("sub-{i:05}").into_bytes()).collect(),
            next_client: 0,
            seq: 0,
            rng: Rng(0x9E37_79B9_7F4A_7C15),
            history: VecDeque::new(),
        }
    }

    fn next_batch(&mut self, b: usize) -> Vec<Op> {
        let mut ops = Vec::with_capacity(4 * b);
        let mut keys = Vec::with_capacity(b);
        for _ in 0..b {
            self.seq += 1;
            let client = &self.clients[self.next_client];
            self.next_client = (self.next_client + 1) % self.clients.len();
            let key = msg_key(client, self.seq);
            ops.push(Op::Put(
                Tbl::Msgs,
                key.clone(),
                msg_value(self.seq, &mut self.rng),
            ));
            let pkid = (self.seq % 65_535 + 1) as u16;
            let mut state = pkid.to_be_bytes().to_vec();
            state.push(1); // stage: sent, awaiting PUBACK
            ops.push(Op::Put(Tbl::Inflight, key.clone(), state));
            keys.push(key);
        }
        self.history.push_back(keys);
        if self.history.len() > 2 {
            for key in self.history.pop_front().unwrap() {
                ops.push(Op::Del(Tbl::Msgs, key.clone()));
                ops.push(Op::Del(Tbl::Inflight, key));
            }
        }
        ops
    }
}

// ---------------------------------------------------------------------------------------------
// Measuring helpers

#[derive(Clone, Copy, Default, Debug)]
struct Io {
    wchar: u64,
    write_bytes: u64,
    cancelled_write_bytes: u64,
}

impl Io {
    fn now() -> Io {
        let text = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
        let mut io = Io::default();
        for line in text.lines() {
            let mut parts = line.split(':');
            let (Some(name), Some(value)) = (parts.next(), parts.next()) else {
                continue;
            };
            let value: u64 = value.trim().parse().unwrap_or(0);
            match name {
                "wchar" => io.wchar = value,
                "write_bytes" => io.write_bytes = value,
                "cancelled_write_bytes" => io.cancelled_write_bytes = value,
                _ => {}
            }
        }
        io
    }

    /// Bytes this process caused to be written to the block device since `before`
    /// (dirtied page-cache pages, less those truncated or deleted before write-back).
    fn disk_since(&self, before: &Io) -> u64 {
        (self.write_bytes - before.write_bytes)
            .saturating_sub(self.cancelled_write_bytes - before.cancelled_write_bytes)
    }
}

/// User-mode CPU time of the whole machine and of this process, in clock ticks (USER_HZ).
/// User time only: the kernel's work for this process's I/O (kworkers, jbd2, interrupts)
/// is system time and would otherwise count as someone else's load.
#[derive(Clone, Copy)]
struct Cpu {
    machine_user: u64,
    own_user: u64,
    /// This process's system time (its own syscalls; not the kernel threads' write-back).
    own_sys: u64,
}

impl Cpu {
    fn now() -> Cpu {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        let f: Vec<u64> = stat
            .lines()
            .next()
            .unwrap_or("")
            .split_whitespace()
            .skip(1)
            .filter_map(|v| v.parse().ok())
            .collect();
        // cpu  user nice system idle iowait irq softirq steal ...
        let machine_user = f.first().copied().unwrap_or(0) + f.get(1).copied().unwrap_or(0);
        let own_stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        // Fields after the ")" that closes the command name, from "state" on: utime is the 12th
        // (field 14 of proc(5)). Some fields before it can be negative (tpgid).
        let after = own_stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
        let mut fields = after.split_whitespace().skip(11);
        let mut next = || fields.next().and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        let own_user = next();
        let own_sys = next();
        Cpu {
            machine_user,
            own_user,
            own_sys,
        }
    }

    /// CPU seconds this process (all its threads) used since `before`.
    fn own_secs_since(&self, before: &Cpu) -> f64 {
        ((self.own_user + self.own_sys) - (before.own_user + before.own_sys)) as f64 / 100.0
    }

    /// Cores kept busy in user mode by other processes since `before`, over `secs`.
    fn foreign_cores_since(&self, before: &Cpu, secs: f64) -> f64 {
        let foreign =
            (self.machine_user - before.machine_user).saturating_sub(self.own_user - before.own_user);
        foreign as f64 / 100.0 / secs.max(1e-3)
    }
}

/// Other processes' load above which a slice counts as disturbed.
const QUIET_CORES: f64 = 0.3;

/// Waits up to `max` for the rest of the machine to go quiet (checked over 1 s windows);
/// returns the load seen last.
fn wait_quiet(max: Duration) -> f64 {
    let start = Instant::now();
    loop {
        let c0 = Cpu::now();
        std::thread::sleep(Duration::from_secs(1));
        let load = Cpu::now().foreign_cores_since(&c0, 1.0);
        if load < QUIET_CORES || start.elapsed() >= max {
            return load;
        }
    }
}

/// (apparent bytes, allocated bytes) of every file under `dir`.
fn dir_size(dir: &Path) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    let (mut len, mut alloc) = (0, 0);
    for path in walk(dir) {
        if let Ok(m) = std::fs::metadata(&path) {
            len += m.len();
            alloc += m.blocks() * 512;
        }
    }
    (len, alloc)
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let p = e.path();
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(p),
                Ok(t) if t.is_file() => out.push(p),
                _ => {}
            }
        }
    }
    out.sort();
    out
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    for path in walk(from) {
        let rel = path.strip_prefix(from)?;
        let dest = to.join(rel);
        std::fs::create_dir_all(dest.parent().unwrap())?;
        std::fs::copy(&path, &dest).with_context(|| format!("copy {}", path.display()))?;
    }
    Ok(())
}

fn fresh_dir(dir: &Path) -> Result<()> {
    if dir.exists() {
        std::fs::remove_dir_all(dir)?;
    }
    std::fs::create_dir_all(dir)?;
    Ok(())
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn mib(b: u64) -> f64 {
    b as f64 / (1024.0 * 1024.0)
}

fn open_store(kind: Kind, dir: &Path, opts: OpenOpts) -> Result<Box<dyn Store>> {
    stores::open(kind, dir, opts).map_err(|e| anyhow::anyhow!(e))
}

fn log(msg: impl AsRef<str>) {
    eprintln!("[storechoice] {}", msg.as_ref());
}

// ---------------------------------------------------------------------------------------------
// 1. Group commit

/// One measured slice of the group-commit loop.
struct Slice {
    commits: u64,
    secs: f64,
    lat: Vec<Duration>,
    disk_bytes: u64,
    wchar: u64,
    dir_alloc: u64,
    /// CPU cores the rest of the machine kept busy during the slice.
    foreign_cores: f64,
    /// CPU time of this process (user + system, all threads) during the slice.
    cpu_secs: f64,
}

/// The sum of a configuration's slices over all rounds.
struct CommitRow {
    kind: Kind,
    b: usize,
    sync: Sync,
    slices: Vec<Slice>,
    error: Option<String>,
}

/// Opens a fresh store in `dir`, warms it up to the steady state, then runs the group-commit
/// loop for `secs`.
fn bench_slice(kind: Kind, dir: &Path, b: usize, secs: f64, sync: Sync) -> Result<Slice> {
    fresh_dir(dir)?;
    let mut store = open_store(kind, dir, OpenOpts::default())?;
    let mut q = Queue::new(50);
    // Warm-up: reach the steady state (deletes start with the third commit).
    let warm = Instant::now();
    let mut n = 0;
    while n < 10 || warm.elapsed() < Duration::from_millis(200) {
        store.commit(&q.next_batch(b), sync)?;
        n += 1;
    }
    let io0 = Io::now();
    let cpu0 = Cpu::now();
    let start = Instant::now();
    let mut lat = Vec::with_capacity(1 << 14);
    while start.elapsed().as_secs_f64() < secs {
        let ops = q.next_batch(b);
        let t = Instant::now();
        store.commit(&ops, sync)?;
        lat.push(t.elapsed());
    }
    let elapsed = start.elapsed().as_secs_f64();
    let io1 = Io::now();
    let cpu1 = Cpu::now();
    let foreign_cores = cpu1.foreign_cores_since(&cpu0, elapsed);
    let slice = Slice {
        foreign_cores,
        cpu_secs: cpu1.own_secs_since(&cpu0),
        commits: lat.len() as u64,
        secs: elapsed,
        lat,
        disk_bytes: io1.disk_since(&io0),
        wchar: io1.wchar - io0.wchar,
        dir_alloc: dir_size(dir).1,
    };
    drop(store);
    std::fs::remove_dir_all(dir).ok();
    Ok(slice)
}

/// Every configuration, in `rounds` rounds of `secs / rounds` each; within a round, the stores
/// take turns on each configuration, so that noise from the rest of the machine (other
/// processes' fsyncs and builds) falls on all of them alike.
#[allow(clippy::too_many_arguments)]
fn bench_commits(
    kinds: &[Kind],
    raw: bool,
    dir: &Path,
    secs: f64,
    rounds: usize,
    wait: Duration,
    retry: Duration,
) -> Vec<CommitRow> {
    let mut rows: Vec<CommitRow> = Vec::new();
    let mut configs: Vec<(usize, Sync)> =
        vec![(1, Sync::All), (8, Sync::All), (64, Sync::All), (512, Sync::All)];
    configs.push((64, Sync::Data));
    configs.push((64, Sync::None));
    let mut plan = Vec::new(); // (b, sync, kind), in the order run within one round
    for &(b, sync) in &configs {
        for &kind in kinds {
            // redb has one durable mode (Immediate: fdatasync); SyncData is fjall's.
            if sync == Sync::Data && kind.is_redb() {
                continue;
            }
            plan.push((b, sync, kind));
        }
        if raw && sync == Sync::All && (b == 1 || b == 64) {
            plan.extend(Kind::RAW.iter().map(|&k| (b, sync, k)));
        }
    }
    for &(b, sync, kind) in &plan {
        rows.push(CommitRow {
            kind,
            b,
            sync,
            slices: Vec::new(),
            error: None,
        });
    }
    for round in 0..rounds {
        if !wait.is_zero() {
            let load = wait_quiet(wait);
            log(format!(
                "other processes' load before round {}: {load:.2} cores",
                round + 1
            ));
        }
        log(format!(
            "group commit: round {}/{rounds} ({} slices of {:.1} s)",
            round + 1,
            plan.len(),
            secs / rounds as f64
        ));
        for row in rows.iter_mut() {
            run_slice(row, dir, secs / rounds as f64);
        }
    }
    // Extra slices, while `retry` lasts, for the configurations with fewer than 2 slices in
    // which the rest of the machine was quiet (the machine is shared: other sessions build).
    let start = Instant::now();
    while start.elapsed() < retry {
        let Some(row) = rows
            .iter_mut()
            .filter(|r| {
                r.error.is_none() && r.slices.iter().filter(|s| s.foreign_cores < QUIET_CORES).count() < 2
            })
            .min_by_key(|r| r.slices.iter().filter(|s| s.foreign_cores < QUIET_CORES).count())
        else {
            break;
        };
        let left = retry.saturating_sub(start.elapsed());
        if wait_quiet(left.min(Duration::from_secs(10))) >= QUIET_CORES {
            continue;
        }
        log(format!(
            "extra slice: {} B={} {:?}",
            row.kind.name(),
            row.b,
            row.sync
        ));
        run_slice(row, dir, secs / rounds as f64);
    }
    std::fs::remove_dir_all(dir).ok();
    rows
}

fn run_slice(row: &mut CommitRow, dir: &Path, secs: f64) {
    if row.error.is_some() {
        return;
    }
    match bench_slice(row.kind, dir, row.b, secs, row.sync) {
        Ok(s) => {
            if std::env::var_os("STORECHOICE_VERBOSE").is_some() {
                log(format!(
                    "  {} B={} {:?}: {:.0} commits/s, others' load {:.2} cores",
                    row.kind.name(),
                    row.b,
                    row.sync,
                    s.commits as f64 / s.secs,
                    s.foreign_cores
                ));
            }
            row.slices.push(s)
        }
        Err(e) => row.error = Some(format!("{e:#}")),
    }
}

fn commit_table(md: &mut String, rows: &[CommitRow]) -> std::fmt::Result {
    writeln!(md, "| store | B | durability | commits/s | messages/s | commit p50 ms | commit p99 ms | quiet slices | commits/s, all slices (min–max slice) | CPU µs / message | disk bytes written / message | write() bytes / message | dir size at end |")?;
    writeln!(
        md,
        "|---|---:|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|"
    )?;
    for r in rows {
        let dur = match (r.sync, r.kind) {
            (Sync::All | Sync::Data, Kind::Redb | Kind::RedbQr) => "Immediate (fdatasync)",
            (Sync::None, Kind::Redb | Kind::RedbQr) => "None (no fsync)",
            (Sync::All, Kind::Fjall2 | Kind::Fjall3) => "SyncAll (fsync)",
            (Sync::Data, Kind::Fjall2 | Kind::Fjall3) => "SyncData (fdatasync)",
            (Sync::None, Kind::Fjall2 | Kind::Fjall3) => "none (buffered)",
            (_, Kind::RawAppend) => "fsync",
            (_, Kind::RawOverwrite) => "fdatasync",
        };
        if let Some(e) = &r.error {
            writeln!(
                md,
                "| {} | {} | {dur} | ERROR: {} | | | | | | | | | |",
                r.kind.label(),
                r.b,
                cell(e)
            )?;
            continue;
        }
        let rate = |slices: &[&Slice]| {
            let commits: u64 = slices.iter().map(|s| s.commits).sum();
            let secs: f64 = slices.iter().map(|s| s.secs).sum();
            commits as f64 / secs
        };
        let all: Vec<&Slice> = r.slices.iter().collect();
        let quiet: Vec<&Slice> = r
            .slices
            .iter()
            .filter(|s| s.foreign_cores < QUIET_CORES)
            .collect();
        // Throughput and latency over the undisturbed slices; over all of them if none was.
        let shown = if quiet.is_empty() { &all } else { &quiet };
        let commits_all: u64 = all.iter().map(|s| s.commits).sum();
        let msgs_all = commits_all * r.b as u64;
        let disk: u64 = all.iter().map(|s| s.disk_bytes).sum();
        let wchar: u64 = all.iter().map(|s| s.wchar).sum();
        let mut lat: Vec<Duration> = shown.iter().flat_map(|s| s.lat.iter().copied()).collect();
        lat.sort();
        let pct = |p: f64| ms(lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)]);
        let per_slice: Vec<f64> = all.iter().map(|s| s.commits as f64 / s.secs).collect();
        let lo = per_slice.iter().copied().fold(f64::MAX, f64::min);
        let hi = per_slice.iter().copied().fold(0.0, f64::max);
        writeln!(
            md,
            "| {} | {} | {dur} | {:.0} | {:.0} | {:.2} | {:.2} | {}/{} | {:.0} ({lo:.0}–{hi:.0}) | {:.1} | {:.0} | {:.0} | {:.1} MiB |",
            r.kind.label(),
            r.b,
            rate(shown),
            rate(shown) * r.b as f64,
            pct(0.50),
            pct(0.99),
            quiet.len(),
            all.len(),
            rate(&all),
            all.iter().map(|s| s.cpu_secs).sum::<f64>() * 1e6 / msgs_all as f64,
            disk as f64 / msgs_all as f64,
            wchar as f64 / msgs_all as f64,
            mib(r.slices.last().map(|s| s.dir_alloc).unwrap_or(0)),
        )?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 2. Recovery, locking, corruption

#[derive(Default)]
struct RecoveryRow {
    load: String,
    load_write_per_msg: String,
    size: String,
    open_ms: String,
    scan_sessions_ms: String,
    scan_msgs_ms: String,
    counts: String,
    /// redb: open with `set_check_integrity_on_open(true)` of the intact, cleanly closed store.
    verified_open_ms: String,
}

#[derive(Default)]
struct LockRow {
    same_process: String,
    other_process: String,
    after: String,
}

struct CorruptRow {
    case: String,
    open: String,
    scan: String,
}

/// Child: bulk-loads the recovery data set with durable commits of `batch` records, prints
/// what it took, and aborts right after the last commit (no clean shutdown).
fn child_write(kind: Kind, dir: &Path, sessions: u64, per_session: u64, batch: usize) -> Result<()> {
    let mut store = open_store(kind, dir, OpenOpts::default())?;
    let mut rng = Rng(42);
    let io0 = Io::now();
    let start = Instant::now();
    let mut commits = 0;
    let mut ops = Vec::with_capacity(batch);
    for i in 0..sessions {
        let client = format!("client-{i:06}");
        ops.push(Op::Put(
            Tbl::Sessions,
            session_key(client.as_bytes()),
            session_value(i, &mut rng),
        ));
        if ops.len() == batch {
            store.commit(&ops, Sync::All)?;
            commits += 1;
            ops.clear();
        }
    }
    if !ops.is_empty() {
        store.commit(&ops, Sync::All)?;
        commits += 1;
        ops.clear();
    }
    let sessions_done = start.elapsed();
    // Message j goes to session j % sessions, with global seq j: each commit touches `batch`
    // different sessions, spread over the whole key space (fan-out).
    for j in 0..sessions * per_session {
        let client = format!("client-{:06}", j % sessions);
        ops.push(Op::Put(
            Tbl::Msgs,
            msg_key(client.as_bytes(), j),
            msg_value(j, &mut rng),
        ));
        if ops.len() == batch {
            store.commit(&ops, Sync::All)?;
            commits += 1;
            ops.clear();
        }
    }
    if !ops.is_empty() {
        store.commit(&ops, Sync::All)?;
        commits += 1;
    }
    let total = start.elapsed();
    let io = Io::now();
    println!(
        "WRITE total_s={:.2} sessions_s={:.2} commits={} disk_bytes={}",
        total.as_secs_f64(),
        sessions_done.as_secs_f64(),
        commits,
        io.disk_since(&io0)
    );
    std::io::stdout().flush().ok();
    // Crash-like: no destructor runs, nothing is flushed beyond the last durable commit.
    std::process::abort();
}

/// Child: opens an existing store and reports, one line each: OPEN, SCAN (or PANIC).
/// `--intrude`: also commits 1000 messages of its own (a second broker on the same store).
fn child_probe(kind: Kind, dir: &Path, check_integrity: bool, intrude: bool) -> Result<()> {
    std::panic::set_hook(Box::new(|info| {
        println!("PANIC {}", info.to_string().replace('\n', " "));
        std::io::stdout().flush().ok();
    }));
    let t = Instant::now();
    let store = stores::open(
        kind,
        dir,
        OpenOpts {
            existing: true,
            check_integrity,
        },
    );
    let open_ms = ms(t.elapsed());
    let mut store = match store {
        Ok(s) => {
            println!("OPEN OK in {open_ms:.0} ms");
            s
        }
        Err(e) => {
            println!("OPEN ERR {}", e.replace('\n', " "));
            return Ok(());
        }
    };
    std::io::stdout().flush().ok();
    println!("SCAN {}", digest_line(store.as_ref()));
    if intrude {
        let mut rng = Rng(7);
        let ops: Vec<Op> = (0..1000u64)
            .map(|i| Op::Put(Tbl::Msgs, msg_key(b"intruder", i), msg_value(i, &mut rng)))
            .collect();
        match store.commit(&ops, Sync::All) {
            Ok(()) => println!("WROTE 1000 OK"),
            Err(e) => println!("WROTE ERR {e:#}"),
        }
    }
    drop(store);
    Ok(())
}

/// Runs this binary with `args`, kills it after `timeout`; returns (status, stdout, stderr).
fn run_child(args: &[String], timeout: Duration) -> Result<(String, String, String)> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break status.to_string();
        }
        if start.elapsed() > timeout {
            child.kill().ok();
            child.wait().ok();
            break format!("killed after {} s (hung)", timeout.as_secs());
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    let mut err = String::new();
    use std::io::Read;
    if let Some(mut s) = child.stdout.take() {
        s.read_to_string(&mut out).ok();
    }
    if let Some(mut s) = child.stderr.take() {
        s.read_to_string(&mut err).ok();
    }
    Ok((status, out, err))
}

fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

/// Summarises a probe child's output for a table cell.
fn probe_summary(status: &str, out: &str, err: &str) -> (String, String) {
    let mut open = String::new();
    let mut scan = String::new();
    for line in out.lines() {
        if let Some(rest) = line.strip_prefix("OPEN ") {
            open = rest.to_string();
        } else if let Some(rest) = line.strip_prefix("SCAN ") {
            scan = rest.to_string();
        } else if let Some(rest) = line.strip_prefix("PANIC ") {
            let cell = if open.is_empty() { &mut open } else { &mut scan };
            *cell = format!("PANIC: {rest}");
        } else if let Some(rest) = line.strip_prefix("WROTE ") {
            write!(scan, " wrote: {rest}").unwrap();
        }
    }
    if open.is_empty() && scan.is_empty() {
        open = format!("child {status}: {}", err.lines().last().unwrap_or(""));
    } else if !status.contains("exit status: 0") {
        write!(scan, " (child {status})").unwrap();
    }
    (open, scan)
}

/// "Sessions: n=.. h=..; Msgs: n=.. h=..;" (h: FNV-1a over every key and value), or the error.
fn digest_line(store: &dyn Store) -> String {
    let mut line = String::new();
    for t in [Tbl::Sessions, Tbl::Msgs] {
        match store.digest(t) {
            Ok((n, h)) => write!(line, "{t:?}: n={n} h={h:016x}; ").unwrap(),
            Err(e) => write!(line, "{t:?}: ERR {}; ", format!("{e:#}").replace('\n', " ")).unwrap(),
        }
    }
    line.trim_end().to_string()
}

/// Compares a probe's digest line with the intact store's, table by table.
fn compare_digest(reference: &str, got: &str) -> String {
    if !got.contains("Sessions:") {
        return got.to_string();
    }
    let parts = |s: &str| -> Vec<String> {
        s.split(';')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect()
    };
    let (r, g) = (parts(reference), parts(got));
    let mut out = Vec::new();
    for (i, gp) in g.iter().enumerate() {
        let rp = r.get(i).map(String::as_str).unwrap_or("");
        let table = gp.split(':').next().unwrap_or("");
        let rn = field(rp, "n").unwrap_or("?");
        out.push(if gp.contains("ERR") {
            gp.clone()
        } else if gp == rp {
            format!("{table}: all {rn}, identical")
        } else {
            let gn = field(gp, "n").unwrap_or("?");
            if gn == rn {
                format!("{table}: {gn} of {rn}, CONTENTS DIFFER (silently)")
            } else {
                format!("{table}: {gn} of {rn} (silently lost or gained)")
            }
        });
    }
    let extra = got
        .split_once("(child")
        .map(|(_, c)| format!(" (child{c}"))
        .unwrap_or_default();
    format!("{}{extra}", out.join("; "))
}

/// Overwrites 4 KiB in the middle of `file` with garbage; returns the offset.
fn corrupt_middle(file: &Path) -> Result<u64> {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().write(true).open(file)?;
    let len = f.metadata()?.len();
    let off = (len / 2) & !4095;
    let mut garbage = vec![0u8; 4096.min(len as usize)];
    Rng(0xDEAD_BEEF).fill(&mut garbage);
    f.write_all_at(&garbage, off)?;
    f.sync_all()?;
    Ok(off)
}

fn cell(text: &str) -> String {
    let t = text.trim().replace('|', "\\|");
    if t.chars().count() > 400 {
        format!("{}…", t.chars().take(400).collect::<String>())
    } else {
        t
    }
}

fn recovery(
    kind: Kind,
    base: &Path,
    sessions: u64,
    per_session: u64,
) -> Result<(RecoveryRow, LockRow, Vec<CorruptRow>)> {
    let dir = base.join(format!("recovery-{}", kind.name()));
    fresh_dir(&dir)?;
    let mut row = RecoveryRow::default();
    let total_msgs = sessions * per_session;
    log(format!(
        "{}: bulk load {sessions} sessions + {total_msgs} messages in a child",
        kind.name()
    ));
    let args: Vec<String> = [
        "write",
        kind.name(),
        dir.to_str().unwrap(),
        &sessions.to_string(),
        &per_session.to_string(),
        "10000",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (status, out, err) = run_child(&args, Duration::from_secs(300))?;
    let Some(line) = out.lines().find(|l| l.starts_with("WRITE")) else {
        bail!("write child failed ({status}): {out} {err}");
    };
    let total_s: f64 = field(line, "total_s").unwrap_or("0").parse()?;
    let commits = field(line, "commits").unwrap_or("?");
    let disk: u64 = field(line, "disk_bytes").unwrap_or("0").parse()?;
    let records = sessions + total_msgs;
    row.load = format!(
        "{total_s:.1} s ({commits} commits, {:.0} k rec/s)",
        records as f64 / total_s / 1e3
    );
    row.load_write_per_msg = format!("{:.0}", disk as f64 / records as f64);
    let (len, alloc) = dir_size(&dir);
    row.size = format!("{:.0} MiB ({:.0} MiB apparent)", mib(alloc), mib(len));
    log(format!("{}: child {status}; {line}", kind.name()));

    // Crash-like open, then a scan of everything in key order.
    let t = Instant::now();
    let mut store = open_store(
        kind,
        &dir,
        OpenOpts {
            existing: true,
            check_integrity: false,
        },
    )?;
    row.open_ms = format!("{:.0}", ms(t.elapsed()));
    let t = Instant::now();
    let (ns, bs) = store.scan(Tbl::Sessions)?;
    row.scan_sessions_ms = format!("{:.0}", ms(t.elapsed()));
    let t = Instant::now();
    let (nm, bm) = store.scan(Tbl::Msgs)?;
    row.scan_msgs_ms = format!("{:.0}", ms(t.elapsed()));
    let (np, _) = store.scan_prefix(Tbl::Msgs, &session_key(b"client-000042"))?;
    let ok = ns == sessions
        && nm == total_msgs
        && bs == sessions * SESSION_VALUE_LEN as u64
        && bm == total_msgs * MSG_VALUE_LEN as u64
        && np == per_session;
    row.counts = if ok {
        "all".to_string()
    } else {
        format!("MISMATCH sessions {ns} msgs {nm} prefix {np}")
    };
    log(format!(
        "{}: open {} ms, scans {} + {} ms, {}",
        kind.name(),
        row.open_ms,
        row.scan_sessions_ms,
        row.scan_msgs_ms,
        row.counts
    ));

    // Locking: a second open while this one is open, in this process and in another one.
    let same_process = match stores::open(
        kind,
        &dir,
        OpenOpts {
            existing: true,
            check_integrity: false,
        },
    ) {
        Ok(second) => {
            drop(second);
            "opened (no lock)".to_string()
        }
        Err(e) => format!("refused: {e}"),
    };
    let mut lock = LockRow {
        same_process,
        ..LockRow::default()
    };
    let args: Vec<String> = ["probe", kind.name(), dir.to_str().unwrap(), "--intrude"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let (status, out, err) = run_child(&args, Duration::from_secs(120))?;
    let (open, scan) = probe_summary(&status, &out, &err);
    lock.other_process = if open.starts_with("OK") {
        format!("opened: {open}; {scan}")
    } else {
        format!("refused: {}", open.trim_start_matches("ERR "))
    };
    // The first opener goes on writing, then closes cleanly; what does a reopen see?
    let mut rng = Rng(9);
    let ops: Vec<Op> = (0..1000u64)
        .map(|i| Op::Put(Tbl::Msgs, msg_key(b"owner", i), msg_value(i, &mut rng)))
        .collect();
    let own_write = store.commit(&ops, Sync::All);
    drop(store);
    let mut reference = String::new();
    lock.after = match open_store(
        kind,
        &dir,
        OpenOpts {
            existing: true,
            check_integrity: false,
        },
    ) {
        Ok(s) => {
            reference = digest_line(s.as_ref());
            let owner = s.scan_prefix(Tbl::Msgs, &session_key(b"owner")).map(|r| r.0);
            let intruder = s.scan_prefix(Tbl::Msgs, &session_key(b"intruder")).map(|r| r.0);
            let all = s.scan(Tbl::Msgs).map(|r| r.0);
            let fmt = |r: Result<u64>| match r {
                Ok(n) => n.to_string(),
                Err(e) => format!("ERR {e:#}"),
            };
            format!(
                "owner's write: {}; reopen: msgs={} (expected {}), owner's 1000: {}, intruder's: {}",
                match own_write {
                    Ok(()) => "OK".to_string(),
                    Err(e) => format!("ERR {e:#}"),
                },
                fmt(all),
                total_msgs + 1000,
                fmt(owner),
                fmt(intruder)
            )
        }
        Err(e) => format!("reopen ERR {e:#}"),
    };
    row.verified_open_ms = if kind.is_redb() {
        let t = Instant::now();
        match stores::open(
            kind,
            &dir,
            OpenOpts {
                existing: true,
                check_integrity: true,
            },
        ) {
            Ok(s) => {
                let d = t.elapsed();
                drop(s);
                format!("{:.0}", ms(d))
            }
            Err(e) => format!("ERR {e}"),
        }
    } else {
        "n/a".to_string()
    };
    log(format!(
        "{}: lock: {} / {} / {}",
        kind.name(),
        lock.same_process,
        lock.other_process,
        lock.after
    ));

    // Corruption: 4 KiB of garbage in the middle of the main data file of a copy of the store
    // (closed cleanly above).
    let mut corrupt = Vec::new();
    let mut cases: Vec<(String, PathBuf, bool)> = Vec::new(); // (case, file relative to dir, check_integrity)
    if kind.is_redb() {
        cases.push((
            "store.redb, open()".into(),
            stores::redb_store::FILE.into(),
            false,
        ));
        cases.push((
            "store.redb, open() with set_check_integrity_on_open(true)".into(),
            stores::redb_store::FILE.into(),
            true,
        ));
    } else {
        let files = walk(&dir);
        let biggest = |pred: &dyn Fn(&Path) -> bool| {
            files
                .iter()
                .filter(|p| pred(p))
                .max_by_key(|p| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0))
                .map(|p| p.strip_prefix(&dir).unwrap().to_path_buf())
        };
        // fjall 2: journals/<n>; fjall 3: <n>.jnl
        let is_journal =
            |p: &Path| p.to_string_lossy().contains("journal") || p.extension().is_some_and(|e| e == "jnl");
        if let Some(seg) = biggest(&|p| !is_journal(p)) {
            cases.push((format!("largest data file ({})", seg.display()), seg, false));
        }
        if let Some(j) = biggest(&|p| is_journal(p)) {
            cases.push((format!("largest journal file ({})", j.display()), j, false));
        }
    }
    for (i, (case, rel, check)) in cases.into_iter().enumerate() {
        let copy = base.join(format!("corrupt-{}-{i}", kind.name()));
        fresh_dir(&copy)?;
        copy_dir(&dir, &copy)?;
        let file = copy.join(&rel);
        let len = std::fs::metadata(&file)?.len();
        let off = corrupt_middle(&file)?;
        let mut args: Vec<String> = vec!["probe".into(), kind.name().into(), copy.to_str().unwrap().into()];
        if check {
            args.push("--check-integrity".into());
        }
        let (status, out, err) = run_child(&args, Duration::from_secs(120))?;
        let (open, scan) = probe_summary(&status, &out, &err);
        log(format!("{}: corrupt {case}: {open} / {scan}", kind.name()));
        corrupt.push(CorruptRow {
            case: format!("{case}: {} B, 4 KiB at {off}", len),
            open,
            scan: compare_digest(&reference, &scan),
        });
        std::fs::remove_dir_all(&copy).ok();
    }
    std::fs::remove_dir_all(&dir).ok();
    Ok((row, lock, corrupt))
}

// ---------------------------------------------------------------------------------------------

struct Args {
    secs: f64,
    rounds: usize,
    wait_quiet: Duration,
    retry: Duration,
    raw: bool,
    kinds: Vec<Kind>,
    dir: PathBuf,
    sessions: u64,
    per_session: u64,
    commit: bool,
    recovery: bool,
}

fn parse_args(mut it: impl Iterator<Item = String>) -> Result<Args> {
    let mut a = Args {
        secs: 5.0,
        rounds: 5,
        wait_quiet: Duration::from_secs(5),
        retry: Duration::from_secs(30),
        raw: true,
        kinds: Kind::ALL.to_vec(),
        dir: std::env::temp_dir().join(format!("storechoice-{}", std::process::id())),
        sessions: 100_000,
        per_session: 10,
        commit: true,
        recovery: true,
    };
    while let Some(arg) = it.next() {
        let mut val = || it.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--secs" => a.secs = val()?.parse()?,
            "--rounds" => a.rounds = val()?.parse::<usize>()?.max(1),
            "--no-raw" => a.raw = false,
            "--retry" => a.retry = Duration::from_secs_f64(val()?.parse()?),
            "--wait-quiet" => a.wait_quiet = Duration::from_secs_f64(val()?.parse()?),
            "--backends" => a.kinds = val()?.split(',').map(Kind::parse).collect::<Result<_>>()?,
            "--dir" => a.dir = val()?.into(),
            "--sessions" => a.sessions = val()?.parse()?,
            "--per-session" => a.per_session = val()?.parse()?,
            "--skip-commit" => a.commit = false,
            "--skip-recovery" => a.recovery = false,
            "-h" | "--help" => {
                println!(
                    "{}",
                    include_str!("main.rs")
                        .lines()
                        .take(10)
                        .collect::<Vec<_>>()
                        .join("\n")
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other:?} (--help)"),
        }
    }
    Ok(a)
}

fn main() -> Result<()> {
    let mut argv = std::env::args().skip(1).peekable();
    match argv.peek().map(String::as_str) {
        Some("write") => {
            let v: Vec<String> = argv.skip(1).collect();
            let [kind, dir, sessions, per, batch] = v.as_slice() else {
                bail!("write <backend> <dir> <sessions> <per-session> <batch>")
            };
            return child_write(
                Kind::parse(kind)?,
                Path::new(dir),
                sessions.parse()?,
                per.parse()?,
                batch.parse()?,
            );
        }
        Some("probe") => {
            let v: Vec<String> = argv.skip(1).collect();
            let (Some(kind), Some(dir)) = (v.first(), v.get(1)) else {
                bail!("probe <backend> <dir> [--check-integrity] [--intrude]")
            };
            let flag = |f: &str| v.iter().any(|a| a == f);
            return child_probe(
                Kind::parse(kind)?,
                Path::new(dir),
                flag("--check-integrity"),
                flag("--intrude"),
            );
        }
        _ => {}
    }
    let args = parse_args(argv)?;
    std::fs::create_dir_all(&args.dir)?;
    let started = Instant::now();
    let mut md = String::new();
    writeln!(
        md,
        "Backends: {}. Data dir: {}.",
        args.kinds
            .iter()
            .map(|k| k.label())
            .collect::<Vec<_>>()
            .join(", "),
        args.dir.display()
    )?;

    if args.commit {
        let rows = bench_commits(
            &args.kinds,
            args.raw,
            &args.dir.join("commit"),
            args.secs,
            args.rounds,
            args.wait_quiet,
            args.retry,
        );
        writeln!(
            md,
            "\n### Group commit: B messages + B inflight inserts + 2B deletes per commit; {} rounds of {:.1} s slices, stores interleaved\n\n\
             commits/s, messages/s and latencies are over the quiet slices (other processes used < {QUIET_CORES} cores), \
             or over all slices where none was quiet (quiet slices 0/n).\n",
            args.rounds,
            args.secs / args.rounds as f64
        )?;
        commit_table(&mut md, &rows)?;
    }

    if args.recovery {
        let mut rec = Vec::new();
        for &kind in &args.kinds {
            match recovery(kind, &args.dir, args.sessions, args.per_session) {
                Ok(r) => rec.push((kind, Ok(r))),
                Err(e) => rec.push((kind, Err(format!("{e:#}")))),
            }
        }
        let msgs = args.sessions * args.per_session;
        writeln!(md, "\n### Recovery: {} sessions (200 B) + {} messages (120 B), durable commits of 10,000, then abort()\n", args.sessions, msgs)?;
        writeln!(md, "| store | bulk load | disk bytes written / record | on disk | open after abort ms | scan sessions ms | scan messages ms | all records back | clean open with integrity check ms |")?;
        writeln!(md, "|---|---|---:|---|---:|---:|---:|---|---:|")?;
        for (kind, r) in &rec {
            match r {
                Ok((r, _, _)) => writeln!(
                    md,
                    "| {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    kind.label(),
                    r.load,
                    r.load_write_per_msg,
                    r.size,
                    r.open_ms,
                    r.scan_sessions_ms,
                    r.scan_msgs_ms,
                    r.counts,
                    r.verified_open_ms
                )?,
                Err(e) => writeln!(md, "| {} | ERROR {} | | | | | | | |", kind.label(), cell(e))?,
            }
        }
        writeln!(md, "\n### A second open while the store is open\n")?;
        writeln!(md, "| store | second open, same process | second open, other process (it then writes 1000 messages) | first opener writes 1000 more, closes; reopen |")?;
        writeln!(md, "|---|---|---|---|")?;
        for (kind, r) in &rec {
            if let Ok((_, l, _)) = r {
                writeln!(
                    md,
                    "| {} | {} | {} | {} |",
                    kind.label(),
                    cell(&l.same_process),
                    cell(&l.other_process),
                    cell(&l.after)
                )?;
            }
        }
        writeln!(md, "\n### 4 KiB of garbage in the middle of a file of a cleanly closed store; open and scan in a child\n")?;
        writeln!(md, "| store | file | open | scan |")?;
        writeln!(md, "|---|---|---|---|")?;
        for (kind, r) in &rec {
            if let Ok((_, _, c)) = r {
                for c in c {
                    writeln!(
                        md,
                        "| {} | {} | {} | {} |",
                        kind.label(),
                        cell(&c.case),
                        cell(&c.open),
                        cell(&c.scan)
                    )?;
                }
            }
        }
    }
    writeln!(md, "\nTotal run time: {:.0} s.", started.elapsed().as_secs_f64())?;
    std::fs::remove_dir_all(&args.dir).ok();
    println!("{md}");
    Ok(())
}
