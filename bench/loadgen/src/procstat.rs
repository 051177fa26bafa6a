//! Resident memory and CPU time of a process, read from `/proc/<pid>`, and a sampler that
//! follows them during a run.
//!
//! The sampler is a plain thread, not a tokio task: the runtime is busy driving the load, and
//! a sampler starved by it would miss the peak it is there to catch.

use std::fs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::clock;

/// One reading of a process.
#[derive(Clone, Copy, Debug, Default)]
pub struct Sample {
    /// When it was taken ([`clock::now_ns`]).
    pub at_ns: u64,
    /// Resident set size in bytes.
    pub rss: u64,
    /// User plus system CPU time in nanoseconds.
    pub cpu_ns: u64,
}

/// A process to read.
#[derive(Clone, Copy, Debug)]
pub struct Proc {
    pid: u32,
    page_size: u64,
    tick_ns: u64,
}

impl Proc {
    /// The process `pid`; fails if it cannot be read.
    pub fn new(pid: u32) -> Result<Proc> {
        // SAFETY: sysconf only reads configuration values.
        let (page, ticks) = unsafe {
            (
                libc::sysconf(libc::_SC_PAGESIZE),
                libc::sysconf(libc::_SC_CLK_TCK),
            )
        };
        if page <= 0 || ticks <= 0 {
            bail!("sysconf failed");
        }
        let proc = Proc {
            pid,
            page_size: page as u64,
            tick_ns: 1_000_000_000 / ticks as u64,
        };
        proc.sample().with_context(|| format!("reading /proc/{pid}"))?;
        Ok(proc)
    }

    /// This process.
    pub fn current() -> Result<Proc> {
        Proc::new(std::process::id())
    }

    /// Reads RSS from `statm` and utime + stime from `stat`.
    pub fn sample(&self) -> Result<Sample> {
        let statm = fs::read_to_string(format!("/proc/{}/statm", self.pid))?;
        let resident: u64 = statm.split_whitespace().nth(1).context("statm")?.parse()?;
        let stat = fs::read_to_string(format!("/proc/{}/stat", self.pid))?;
        // The command name is in parentheses and may hold spaces: count fields after it.
        let after_comm = stat.rsplit_once(')').context("stat")?.1;
        let mut fields = after_comm.split_whitespace();
        // Fields 14 and 15 of stat(5) are the 12th and 13th after the name.
        let utime: u64 = fields.nth(11).context("utime")?.parse()?;
        let stime: u64 = fields.next().context("stime")?.parse()?;
        Ok(Sample {
            at_ns: clock::now_ns(),
            rss: resident * self.page_size,
            cpu_ns: (utime + stime) * self.tick_ns,
        })
    }
}

/// A background thread that samples a process every `period` and keeps the series.
pub struct Sampler {
    proc: Proc,
    series: Arc<Mutex<Vec<Sample>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Sampler {
    /// Starts sampling `proc`.
    pub fn start(proc: Proc, period: Duration) -> Sampler {
        let series = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (series, stop) = (series.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    // A process that exited is simply no longer sampled.
                    let Ok(sample) = proc.sample() else { break };
                    series.lock().unwrap_or_else(|e| e.into_inner()).push(sample);
                    std::thread::sleep(period);
                }
            })
        };
        Sampler {
            proc,
            series,
            stop,
            thread: Some(thread),
        }
    }

    /// A reading now, also added to the series; `None` if the process is gone.
    pub fn now(&self) -> Option<Sample> {
        let sample = self.proc.sample().ok()?;
        self.series.lock().unwrap_or_else(|e| e.into_inner()).push(sample);
        Some(sample)
    }

    /// The largest RSS seen so far.
    pub fn peak_rss(&self) -> u64 {
        let series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        series.iter().map(|s| s.rss).max().unwrap_or(0)
    }

    /// The largest RSS seen between two instants.
    pub fn peak_rss_between(&self, from_ns: u64, to_ns: u64) -> u64 {
        let series = self.series.lock().unwrap_or_else(|e| e.into_inner());
        series
            .iter()
            .filter(|s| (from_ns..=to_ns).contains(&s.at_ns))
            .map(|s| s.rss)
            .max()
            .unwrap_or(0)
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// CPU time all processes of the machine spent busy (not idle, not waiting for I/O), in
/// nanoseconds, from the first line of `/proc/stat`. Minus the broker's and ours, it shows
/// how much else was running during a window: a sitting on a shared machine is only as good
/// as that number is small.
pub fn machine_busy_ns() -> Result<u64> {
    let stat = fs::read_to_string("/proc/stat")?;
    let line = stat.lines().next().context("/proc/stat is empty")?;
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .map(str::parse)
        .collect::<Result<_, _>>()?;
    let total: u64 = ticks.iter().take(8).sum();
    let idle = ticks.get(3).copied().unwrap_or(0) + ticks.get(4).copied().unwrap_or(0);
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Ok((total - idle) * (1_000_000_000 / hz))
}

/// Bytes process `pid` has caused to be written to storage so far (`write_bytes` of
/// `/proc/<pid>/io`: what reached the block layer, page cache writeback included, unlike the
/// bytes a program hands to `write`).
pub fn disk_write_bytes(pid: u32) -> Result<u64> {
    let io = fs::read_to_string(format!("/proc/{pid}/io"))?;
    io.lines()
        .find_map(|line| line.strip_prefix("write_bytes:"))
        .context("no write_bytes in /proc/<pid>/io")?
        .trim()
        .parse()
        .context("write_bytes")
}

/// Broker memory over a run, in KiB.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RssKib {
    /// Before the run's clients connected.
    pub start: u64,
    /// The largest seen during the run.
    pub peak: u64,
    /// At the end of the window, clients still connected.
    pub end: u64,
    /// A second after every client disconnected.
    pub after_close: u64,
}

/// CPU use over the window as a percentage of one core (200 = both cores of this machine).
pub fn cpu_percent(from: &Sample, to: &Sample) -> f64 {
    let wall = to.at_ns.saturating_sub(from.at_ns).max(1) as f64;
    let pct = to.cpu_ns.saturating_sub(from.cpu_ns) as f64 / wall * 100.0;
    (pct * 10.0).round() / 10.0
}

/// Raises the soft open-files limit to the hard one and returns the new soft limit: the idle
/// scenario holds one socket per connection.
pub fn raise_nofile_limit() -> Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read and write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            bail!("getrlimit: {}", std::io::Error::last_os_error());
        }
        limit.rlim_cur = limit.rlim_max;
        if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
            bail!("setrlimit: {}", std::io::Error::last_os_error());
        }
    }
    Ok(limit.rlim_cur)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let proc = Proc::current().unwrap();
        let sample = proc.sample().unwrap();
        assert!(sample.rss > 0);
        let busy: u64 = (0..5_000_000u64).map(std::hint::black_box).sum();
        assert!(busy > 0);
        assert!(cpu_percent(&sample, &proc.sample().unwrap()) >= 0.0);
        assert!(disk_write_bytes(std::process::id()).is_ok());
    }
}
