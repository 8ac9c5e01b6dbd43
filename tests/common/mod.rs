//! Shared fixtures for the integration tests: run the real `supervise`
//! binary on a config written to a fresh folder, read its JSON log lines as
//! events, and clean up every process it started, even when a test fails.

#![allow(dead_code)]

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
