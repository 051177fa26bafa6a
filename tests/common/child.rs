//! The `arbor` binary run as a child process (`arbor run`) on a store directory of its own, for
//! the tests that kill the whole process with SIGKILL: no in-process shortcut can prove what
//! survives a process's death.
//!
//! Every socket is on 127.0.0.1:0; [`Broker::start`] reads the MQTT listener's and the admin
//! API's addresses from their `listening` lines and returns once `arbor started` is logged.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use rumqttc::MqttOptions;

/// How long [`Broker::line`] waits for a line.
pub const LINE_WAIT: Duration = Duration::from_secs(30);

/// A fresh (removed if it was there) directory `arbor-<name>-<pid>` under the temp dir.
pub fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("arbor-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// An `arbor run` child, its output lines, and its MQTT address. Dropping it kills the child
/// (so a failing test leaves no broker behind).
pub struct Broker {
    pub child: Child,
    pub lines: Receiver<String>,
    /// The lines read so far (by [`Broker::line`]).
    pub seen: Vec<String>,
    pub mqtt: SocketAddr,
    /// The admin API's base URL, `http://<addr>`.
    pub admin: String,
}

/// `arbor run` on the disk store `dir`, every socket on 127.0.0.1:0, output piped.
pub fn arbor(dir: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_arbor"));
    cmd.arg("run")
        .env_remove("RUST_LOG")
        .env("ARBOR__LISTENERS__TCP__BIND", "127.0.0.1:0")
        .env("ARBOR__ADMIN__BIND", "127.0.0.1:0")
        .env("ARBOR__STORAGE__BACKEND", "disk")
        .env("ARBOR__STORAGE__DIR", dir)
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// The child's stdout and stderr lines, read by a thread each until the pipes close (read even
/// when nobody receives them, so the child never blocks on a full pipe).
pub fn lines_of(child: &mut Child) -> Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    for stream in [
        Box::new(child.stdout.take().expect("stdout")) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().expect("stderr")),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    rx
}

impl Broker {
    /// Starts `arbor run` on `dir` and waits until it serves.
    pub fn start(dir: &Path) -> Broker {
        Broker::spawn(arbor(dir))
    }

    /// Starts `cmd` (an [`arbor`] command, perhaps with more settings) and waits until it
    /// serves: its MQTT listener's address is known and `arbor started` was logged.
    pub fn spawn(mut cmd: Command) -> Broker {
        let mut child = cmd.spawn().expect("spawn arbor");
        let lines = lines_of(&mut child);
        let mut broker = Broker {
            child,
            lines,
            seen: Vec::new(),
            mqtt: "0.0.0.0:0".parse().expect("addr"),
            admin: String::new(),
        };
        let listening = broker.line("the MQTT listener", |l| {
            l.contains("listening") && l.contains("mqtt:tcp")
        });
        let addr = listening
            .split_whitespace()
            .find_map(|w| w.strip_prefix("addr="))
            .expect("addr= in the listening line");
        broker.mqtt = addr.parse().expect("a socket address");
        broker.line("arbor started", |l| l.contains("arbor started"));
        // The admin API is in the tree, which is up before `arbor started`.
        let admin = broker
            .seen
            .iter()
            .filter(|l| l.contains("admin API listening"))
            .find_map(|l| l.split_whitespace().find_map(|w| w.strip_prefix("addr=")))
            .expect("the admin API's listening line");
        broker.admin = format!("http://{admin}");
        broker
    }

    /// What `GET /api/v1/sessions/<id>` says of `client_id`'s session (None: it has none).
    pub async fn session(&self, client_id: &str) -> Option<serde_json::Value> {
        let url = format!("{}/api/v1/sessions/{client_id}", self.admin);
        let response = reqwest::get(&url).await.expect("the admin API answers");
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return None;
        }
        assert!(response.status().is_success(), "{url}: {}", response.status());
        Some(response.json().await.expect("JSON"))
    }

    /// Polls `client_id`'s session (every 10 ms, up to 10 s; the session's state changes with
    /// no event a client could see) until it has no connection. Its session has then handled
    /// its client's leaving, and sent what that changed to the store before anything done after
    /// this returns: a later acknowledgement's commit holds it.
    pub async fn detached(&self, client_id: &str) {
        let found = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let session = self.session(client_id).await;
                if session.is_some_and(|s| s["connected"] == false) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await;
        assert!(found.is_ok(), "session {client_id} still connected after 10 s");
    }

    /// Waits (up to [`LINE_WAIT`]) for a line of the broker's output.
    pub fn line(&mut self, what: &str, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + LINE_WAIT;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let Ok(line) = self.lines.recv_timeout(left) else {
                break;
            };
            self.seen.push(line.clone());
            if want(&line) {
                return line;
            }
        }
        panic!("no line for {what}; saw:\n{}", self.seen.join("\n"));
    }

    /// SIGKILL, as `kill -9`: nothing of the broker runs after it.
    pub fn kill_9(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    /// Options for a client of this broker (keepalive 30 s, 100 in flight).
    pub fn options(&self, id: &str, clean: bool) -> MqttOptions {
        options(self.mqtt, id, clean)
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        // Already reaped after kill_9; otherwise a test that failed leaves no broker running.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Options for a client of the broker at `addr` (keepalive 30 s, 100 in flight).
pub fn options(addr: SocketAddr, id: &str, clean: bool) -> MqttOptions {
    let mut o = MqttOptions::new(id, addr.ip().to_string(), addr.port());
    o.set_clean_session(clean)
        .set_keep_alive(Duration::from_secs(30))
        .set_inflight(100);
    o
}
