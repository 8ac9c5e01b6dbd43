//! Shared fixtures for the integration tests: run the real `supervise`
//! binary on a config written to a fresh folder, read its JSON log lines as
//! events, and clean up every process it started, even when a test fails.

#![allow(dead_code)]

pub mod oidc;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use serde_json::Value;

/// How long any single wait in a test may take before the test fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The binary under test, built once by cargo for all tests.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_supervise")
}

/// The Python that has the Flask example's requirements: the repo's
/// `.venv` (made by `.ci/run` and the README's setup) or `SUPERVISE_TEST_PYTHON`.
pub fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("SUPERVISE_TEST_PYTHON") {
        return python.into();
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python3");
    assert!(
        venv.exists(),
        "no {} (run .ci/run or the README's setup)",
        venv.display()
    );
    venv
}

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A port that was free a moment ago, for a child server that must be
/// told its port in advance.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

/// A plain HTTP/1.1 GET; returns the status code and body.
pub fn http_get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_string();
    Ok((status, body))
}

/// One running `supervise` and the events it has logged.
pub struct Supervise {
    pub child: Child,
    /// The pid signals go to: supervise's own, which differs from the
    /// child's when a wrapper such as `unshare` runs it.
    pub pid: i32,
    pub dir: tempfile::TempDir,
    events: mpsc::Receiver<Value>,
    /// Every event read so far, for assertions over the whole log.
    pub seen: Vec<Value>,
    /// Process groups it reported spawning, killed on drop.
    groups: Vec<i32>,
    pub exit: Option<ExitStatus>,
}

impl Supervise {
    /// Writes `config` to `supervisor.yaml` in a fresh folder and runs
    /// `supervise up` on it.
    pub fn up(config: &str) -> Supervise {
        Self::up_with(config, |_| {})
    }

    /// Like [`Supervise::up`], with a chance to change the command (add
    /// environment variables, wrap it in `unshare`, …).
    pub fn up_with(config: &str, adjust: impl FnOnce(&mut Command)) -> Supervise {
        Self::up_under(&[], config, adjust)
    }

    /// Runs `supervise up` as the last argument of `prefix` (`unshare …`).
    pub fn up_under(prefix: &[&str], config: &str, adjust: impl FnOnce(&mut Command)) -> Supervise {
        let dir = tempfile::tempdir().expect("temporary folder");
        let path = dir.path().join("supervisor.yaml");
        std::fs::write(&path, config).expect("write config");

        let mut command = match prefix.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(binary());
                command
            }
            None => Command::new(binary()),
        };
        command
            .args(["--log-format", "json", "up", "-c"])
            .arg(&path)
            .env("SUPERVISE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        adjust(&mut command);
        let mut child = command.spawn().expect("spawn supervise");

        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, events) = mpsc::channel();
        std::thread::spawn(move || read_events(stdout, tx));
        let pid = child.id() as i32;
        Supervise {
            child,
            pid,
            dir,
            events,
            seen: Vec::new(),
            groups: Vec::new(),
            exit: None,
        }
    }

    /// Waits for the next event matching `wanted`, failing the test after
    /// [`PATIENCE`] or when supervise's output ends first.
    pub fn wait_for(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let event = match self.events.recv_timeout(left) {
                Ok(event) => event,
                Err(error) => panic!("no event {what} ({error:?}); log so far:\n{}", self.log()),
            };
            self.note(&event);
            if wanted(&event) {
                return event;
            }
        }
    }

    /// Waits for supervise's own event with this message and process.
    pub fn wait_event(&mut self, process: &str, message: &str) -> Value {
        let what = format!("{message:?} of {process}");
        self.wait_for(&what, |e| {
            e["message"] == message && e["process"] == process
        })
    }

    /// Waits for a line the child printed on stdout or stderr.
    pub fn wait_line(&mut self, process: &str, text: &str) -> Value {
        let what = format!("line {text:?} from {process}");
        self.wait_for(&what, |e| {
            e["process"] == process
                && e.get("stream").is_some()
                && e["message"].as_str().is_some_and(|m| m.contains(text))
        })
    }

    /// Sends `signal` to supervise itself.
    pub fn signal(&self, signal: Signal) {
        kill(Pid::from_raw(self.pid), signal).expect("signal supervise");
    }

    /// Waits for supervise to exit, reading the rest of its log. Its
    /// stdout closing is the signal: nothing else holds that pipe.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(event) => self.note(&event),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("supervise did not exit in time; log:\n{}", self.log())
                }
            }
        }
        let status = self.child.wait().expect("wait for supervise");
        self.exit = Some(status);
        status
    }

    /// Every event read so far, one per line, for failure messages.
    pub fn log(&self) -> String {
        self.seen.iter().map(|e| format!("{e}\n")).collect()
    }

    fn note(&mut self, event: &Value) {
        if event["message"] == "spawned" {
            if let Some(pid) = event["pid"].as_i64() {
                self.groups.push(pid as i32);
            }
        }
        self.seen.push(event.clone());
    }
}

impl Drop for Supervise {
    /// Kills supervise and every process group it spawned, so a failing
    /// test leaves nothing running.
    fn drop(&mut self) {
        if self.exit.is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        for &group in &self.groups {
            let _ = killpg(Pid::from_raw(group), Signal::SIGKILL);
        }
    }
}

fn read_events(stdout: impl Read, tx: mpsc::Sender<Value>) {
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { return };
        let event =
            serde_json::from_str(&line).unwrap_or_else(|_| serde_json::json!({ "unparsed": line }));
        if tx.send(event).is_err() {
            return;
        }
    }
}

/// Whether `pid` names a process that still exists (a zombie counts).
pub fn exists(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The state letter of `pid` from `/proc/PID/stat` (`Z` for a zombie).
pub fn proc_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = stat.rsplit_once(')')?.1;
    after_name.trim_start().chars().next()
}

/// The children of `pid`, from the kernel's own list.
pub fn children(pid: i32) -> Vec<i32> {
    let path = format!("/proc/{pid}/task/{pid}/children");
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// Polls `condition` until it holds or [`PATIENCE`] passes; for states the
/// kernel offers no notification of (a process group emptying, a zombie
/// being reaped).
pub fn eventually(what: &str, condition: impl Fn() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !condition() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

impl Supervise {
    /// Waits for the proxy's "listening" event; returns its port.
    pub fn listening(&mut self) -> u16 {
        let event = self.wait_for("listening", |e| e["message"] == "listening");
        let address = event["address"]
            .as_str()
            .expect("listening event has an address");
        address
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("a port")
    }
}

/// A parsed HTTP/1.1 response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// Header names in lower case, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.text()))
    }
}

/// Sends `head` (request line and headers, without the blank line; a
/// `Connection: close` is added) and reads the whole response.
pub fn send(port: u16, head: &str) -> std::io::Result<Reply> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(PATIENCE))?;
    write!(stream, "{head}\r\nConnection: close\r\n\r\n")?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_reply(&raw)
}

/// Sends `raw` exactly as given (head, blank line and body) and reads the
/// whole response; the head must ask for `Connection: close` or the
/// server must close after answering.
pub fn send_raw(port: u16, raw: &str) -> std::io::Result<Reply> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(PATIENCE))?;
    let raw = match raw.split_once("\r\n") {
        Some((line, rest)) => format!("{line}\r\nConnection: close\r\n{rest}"),
        None => raw.to_owned(),
    };
    stream.write_all(raw.as_bytes())?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply)?;
    parse_reply(&reply)
}

/// A GET of `target` with a Host header.
pub fn get(port: u16, target: &str) -> std::io::Result<Reply> {
    send(
        port,
        &format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}"),
    )
}

fn parse_reply(raw: &[u8]) -> std::io::Result<Reply> {
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "not an HTTP response");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(bad)?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok());
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    if chunked {
        body = dechunk(&body).ok_or_else(bad)?;
    }
    Ok(Reply {
        status: status.ok_or_else(bad)?,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// VmHWM (peak resident memory) of `pid`, in KiB.
pub fn peak_rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM line");
    line.split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("a number")
}

/// Clients sending GETs without pause, one thread per path, counting
/// answers that are 200 and those that are not; stopped by
/// [`Load::finish`] (or on drop).
pub struct Load {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ok: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    failed: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    clients: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    pub fn start(port: u16, paths: &[&'static str]) -> Load {
        use std::sync::atomic::Ordering::Relaxed;
        let mut load = Load {
            stop: Default::default(),
            ok: Default::default(),
            failed: Default::default(),
            clients: Vec::new(),
        };
        load.clients = paths
            .iter()
            .map(|&path| {
                let (stop, ok, failed) = (load.stop.clone(), load.ok.clone(), load.failed.clone());
                std::thread::spawn(move || {
                    while !stop.load(Relaxed) {
                        match get(port, path) {
                            Ok(reply) if reply.status == 200 => ok.fetch_add(1, Relaxed),
                            other => {
                                eprintln!("{path} failed: {other:?}");
                                failed.fetch_add(1, Relaxed)
                            }
                        };
                    }
                })
            })
            .collect();
        load
    }

    /// Waits until `more` further requests have succeeded: proof that
    /// requests flow at this moment.
    pub fn flowing(&self, more: usize) {
        let before = self.ok.load(std::sync::atomic::Ordering::Relaxed);
        eventually("requests flow", || {
            self.ok.load(std::sync::atomic::Ordering::Relaxed) > before + more
        });
    }

    /// Stops the clients; returns how many requests succeeded and failed.
    pub fn finish(mut self) -> (usize, usize) {
        self.stop_clients();
        let ordering = std::sync::atomic::Ordering::Relaxed;
        (self.ok.load(ordering), self.failed.load(ordering))
    }

    fn stop_clients(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for client in self.clients.drain(..) {
            let _ = client.join();
        }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        self.stop_clients();
    }
}
