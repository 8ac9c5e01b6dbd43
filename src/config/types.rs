//! The typed settings that the rest of supervise reads.
//!
//! Everything here has already been interpolated, parsed and validated by
//! the loader in the parent module: durations are `Duration`s, signals are
//! `Signal`s, relative paths are resolved against the config file's folder.
//! Nothing outside `config` ever sees YAML.

use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;

/// A whole, valid `supervisor.yaml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The file this was read from, for log lines and `check`.
    pub path: PathBuf,

    /// The processes to run, in the file's order: started in this order,
    /// stopped in the reverse one.
    pub processes: Vec<ProcessSpec>,
}

/// One entry under `processes:`.
#[derive(Clone, PartialEq, Eq)]
pub struct ProcessSpec {
    /// The key under `processes:`; used in every log line about it.
    pub name: String,

    /// The argv, never empty. A string in the file was split the way a
    /// POSIX shell splits words, without running a shell.
    pub command: Vec<String>,

    /// Working directory, already resolved against the config file's
    /// folder when it was relative. `None` runs in supervise's own.
    pub cwd: Option<PathBuf>,

    /// Variables set on top of the inherited environment, in file order.
    /// `PYTHONUNBUFFERED=1` is added by the loader unless listed here.
    pub env: Vec<(String, String)>,

    pub restart: RestartPolicy,
    pub backoff: Backoff,

    /// How many restarts `restart_window` may hold before the process is
    /// given up on.
    pub max_restarts: u32,
    pub restart_window: Duration,

    /// Sent to the whole process group to stop it.
    pub stop_signal: Signal,

    /// How long the group gets after `stop_signal` before SIGKILL.
    pub stop_timeout: Duration,

    /// Until this passes the process is starting, not ready.
    pub ready: Option<ReadyProbe>,

    /// Whether giving up on this process ends `supervise up`.
    pub required: bool,

    /// `command` and `env` as the file writes them, for `supervise check`
    /// and `Debug`, which must not show values from the environment.
    pub as_written: AsWritten,
}

/// Parts of a [`ProcessSpec`] as written in the file, before `${VAR}`
/// substitution, so without any value that came from the environment.
///
/// `env` may still hold a secret pasted into the file itself; `Debug`
/// shows only its keys, and `Config::summary` redacts by key name.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AsWritten {
    /// The argv, one word per item: each list item as written, or the
    /// command line as written, split like a shell would.
    pub command: Vec<String>,
    /// The same entries as `ProcessSpec::env`, in the same order, values
    /// as written; an added `PYTHONUNBUFFERED` appears as `1`.
    pub env: Vec<(String, String)>,
}

/// When a process that exited is started again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestartPolicy {
    /// Whatever the exit status.
    Always,
    /// Only after a non-zero exit or a death by signal.
    OnFailure,
    /// Never; the process stays exited.
    Never,
}

/// The delay between consecutive failed runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay before the second restart in a row; the first is
    /// immediate, so a one-off crash costs nothing.
    pub min: Duration,
    /// The cap that doubling stops at.
    pub max: Duration,
    /// A run that lasted this long counts as stable: the next failure
    /// starts the backoff over.
    pub reset_after: Duration,
}

/// How to tell that a started process is ready for traffic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadyProbe {
    pub target: ProbeTarget,
    /// Time between attempts.
    pub interval: Duration,
    /// How long one attempt may take.
    pub timeout: Duration,
}

/// What a readiness probe connects to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeTarget {
    /// A GET answered with a 2xx status. Only `http://` URLs.
    Http(http::Uri),
    /// A TCP connect that succeeds, as `host:port`.
    Tcp(String),
}

impl std::fmt::Debug for ProcessSpec {
    /// Environment values are left out: any of them may be a secret that
    /// ECS injected. The command is shown as written for the same reason:
    /// an argument may be `${TOKEN}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let env_keys: Vec<&str> = self.env.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("ProcessSpec")
            .field("name", &self.name)
            .field("command", &self.as_written.command)
            .field("cwd", &self.cwd)
            .field("env_keys", &env_keys)
            .field("restart", &self.restart)
            .field("backoff", &self.backoff)
            .field("max_restarts", &self.max_restarts)
            .field("restart_window", &self.restart_window)
            .field("stop_signal", &self.stop_signal)
            .field("stop_timeout", &self.stop_timeout)
            .field("ready", &self.ready)
            .field("required", &self.required)
            .finish()
    }
}

impl std::fmt::Debug for AsWritten {
    /// Values of `env` are left out: the file itself may hold a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let env_keys: Vec<&str> = self.env.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("AsWritten")
            .field("command", &self.command)
            .field("env_keys", &env_keys)
            .finish()
    }
}
