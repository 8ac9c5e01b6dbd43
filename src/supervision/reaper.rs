//! The one place that calls `waitpid`: reaps every child of supervise,
//! supervised or orphaned.
//!
//! As PID 1 (or a child subreaper) supervise inherits every orphan in the
//! container, and each must be waited for or it stays a zombie. Waiting on
//! `-1` also collects the statuses of the processes supervise spawned, so
//! those are handed to whoever registered the pid at spawn time. Spawning
//! happens under the registry's lock, which the reaper also takes before it
//! waits: a child that dies at once is still registered before it can be
//! reaped, so no status is ever lost to the orphan path.
//!
//! Children are spawned with `std::process::Command` and never waited on
//! through `std` or `tokio::process`, both of which would race this loop.

use std::collections::HashMap;
use std::io;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use nix::errno::Errno;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::{oneshot, watch};

use crate::supervision::state::ExitStatus;

/// A handle to the reaper task; cheap to clone.
#[derive(Clone, Debug)]
pub struct Reaper {
    registry: Arc<Mutex<HashMap<i32, oneshot::Sender<ExitStatus>>>>,
    reaped: watch::Receiver<u64>,
}

impl Reaper {
    /// Installs the SIGCHLD handler and starts the reaping task on the
    /// current runtime. Call it before spawning anything.
    pub fn start() -> io::Result<Reaper> {
        let mut sigchld = signal(SignalKind::child())?;
        let registry = Arc::new(Mutex::new(HashMap::new()));
        let (reaped_tx, reaped) = watch::channel(0);
        let reaper = Reaper { registry, reaped };

        let task = reaper.clone();
        tokio::spawn(async move {
            // A child that ended before the handler existed sent its SIGCHLD
            // into the void, so look once before waiting for the first one.
            loop {
                let count = task.reap_all();
                if count > 0 {
                    reaped_tx.send_modify(|n| *n += count);
                }
                if sigchld.recv().await.is_none() {
                    break;
                }
            }
        });
        Ok(reaper)
    }

    /// Spawns `command` and registers its pid, returning the child (for its
    /// pipes) and a receiver for its exit status.
    pub fn spawn(
        &self,
        command: &mut Command,
    ) -> io::Result<(Child, oneshot::Receiver<ExitStatus>)> {
        let mut registry = self.lock();
        let child = command.spawn()?;
        let (tx, rx) = oneshot::channel();
        registry.insert(child.id() as i32, tx);
        Ok((child, rx))
    }

    /// A counter bumped after each round of reaping, so that code waiting
    /// for a process group to empty can look again at the right moment.
    pub fn reaped(&self) -> watch::Receiver<u64> {
        self.reaped.clone()
    }

    /// Waits for every child that has ended; returns how many were reaped.
    fn reap_all(&self) -> u64 {
        let mut registry = self.lock();
        let mut count = 0;
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => return count,
                Ok(status) => {
                    count += 1;
                    deliver(&mut registry, status);
                }
                Err(Errno::EINTR) => continue,
                Err(errno) => {
                    tracing::error!(error = %errno, "waitpid(-1, WNOHANG) failed");
                    return count;
                }
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<i32, oneshot::Sender<ExitStatus>>> {
        // The map stays consistent even if a holder panicked: every
        // operation on it is a single insert or remove.
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Hands a status to the task that registered the pid, or logs an orphan.
fn deliver(registry: &mut HashMap<i32, oneshot::Sender<ExitStatus>>, status: WaitStatus) {
    let (pid, exit) = match status {
        WaitStatus::Exited(pid, code) => (pid, ExitStatus::Code(code)),
        WaitStatus::Signaled(pid, signal, _) => (pid, ExitStatus::Signal(signal)),
        // Stops and continues are only reported with flags not passed here.
        _ => return,
    };
    match registry.remove(&pid.as_raw()) {
        // The receiver may be gone if its task ended; nothing to tell then.
        Some(waiter) => drop(waiter.send(exit)),
        None => tracing::debug!(pid = pid.as_raw(), status = %exit, "reaped orphan"),
    }
}
