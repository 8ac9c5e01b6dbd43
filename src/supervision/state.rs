//! What a supervised process is doing right now, as the rest of supervise
//! sees it.
//!
//! Each process task publishes a [`ProcessStatus`] on a `tokio::sync::watch`
//! channel whenever its state changes. Readers (the shutdown logic in `run`,
//! later the proxy and the health endpoint) hold receivers and never poll.

use std::fmt;
use std::time::SystemTime;

use nix::sys::signal::Signal;
use tokio::time::Instant;

/// The lifecycle of one process.
///
/// ```text
/// starting ─▶ ready ─▶ (exit) ─▶ backing off ─▶ starting ─▶ …
///                        ├─▶ exited   (the restart policy says no)
///                        └─▶ failed   (the restart limit was reached)
/// any running state ─▶ stopping ─▶ stopped   (asked to stop)
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessState {
    /// Spawned, its readiness probe has not passed yet.
    Starting,
    /// Spawned, and ready for traffic (or it has no probe).
    Ready,
    /// Waiting out the restart delay; a restart is pending.
    BackingOff { until: Instant },
    /// Its process group was sent the stop signal.
    Stopping,
    /// Stopped because supervise asked it to; will not run again.
    Stopped,
    /// Exited and not restarted, as its restart policy says.
    Exited,
    /// Exited too often within the restart window; given up on.
    Failed,
}

impl ProcessState {
    /// Whether this state is final: the process will never run again.
    pub fn is_final(self) -> bool {
        matches!(self, Self::Stopped | Self::Exited | Self::Failed)
    }

    /// The word used for this state in logs, `status` and health.
    pub fn name(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Ready => "ready",
            Self::BackingOff { .. } => "backing-off",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::Exited => "exited",
            Self::Failed => "failed",
        }
    }
}

impl fmt::Display for ProcessState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a run of a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// It called `exit` with this code.
    Code(i32),
    /// A signal ended it.
    Signal(Signal),
}

impl ExitStatus {
    /// The status that stands for "could not even be started", as a shell
    /// reports a command it cannot run.
    pub const SPAWN_FAILED: ExitStatus = ExitStatus::Code(127);

    /// Whether the run counts as a success for `restart: on-failure`.
    pub fn success(self) -> bool {
        self == Self::Code(0)
    }

    /// The code a shell (and tini) would report: the exit code, or
    /// 128 + the signal's number.
    pub fn exit_code(self) -> i32 {
        match self {
            Self::Code(code) => code,
            Self::Signal(signal) => 128 + signal as i32,
        }
    }
}

impl fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Code(code) => write!(f, "exit code {code}"),
            Self::Signal(signal) => write!(f, "signal {}", signal.as_str()),
        }
    }
}

/// A snapshot of one process, published on every change.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessStatus {
    pub state: ProcessState,
    /// The pid of the current run, while there is one.
    pub pid: Option<u32>,
    /// How many times it was started again after exiting.
    pub restarts: u32,
    /// When the current state began, for display.
    pub since: SystemTime,
    /// When the current run was spawned, for uptime.
    pub started: Option<Instant>,
    /// How the previous run ended.
    pub last_exit: Option<ExitStatus>,
}

impl ProcessStatus {
    /// The status before the first spawn.
    pub fn new() -> Self {
        ProcessStatus {
            state: ProcessState::Starting,
            pid: None,
            restarts: 0,
            since: SystemTime::now(),
            started: None,
            last_exit: None,
        }
    }
}

impl Default for ProcessStatus {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A signal death maps to 128 + the signal number, as tini reports it.
    #[test]
    fn exit_code_of_signal_is_128_plus_number() {
        assert_eq!(ExitStatus::Signal(Signal::SIGKILL).exit_code(), 137);
        assert_eq!(ExitStatus::Signal(Signal::SIGTERM).exit_code(), 143);
        assert_eq!(ExitStatus::Code(3).exit_code(), 3);
    }

    /// Only stopped, exited and failed are final; a pending restart is not.
    #[test]
    fn backing_off_is_not_final() {
        let until = Instant::now();
        assert!(!ProcessState::BackingOff { until }.is_final());
        assert!(!ProcessState::Starting.is_final());
        assert!(ProcessState::Failed.is_final());
        assert!(ProcessState::Exited.is_final());
    }
}
