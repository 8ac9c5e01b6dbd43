//! The signals supervise acts on or passes on.
//!
//! The kernel drops any signal sent to PID 1 that has no handler, so every
//! signal here gets one in [`Signals::install`], which must run before the
//! first child is spawned. SIGTERM and SIGINT ask for a shutdown; SIGHUP
//! reloads the configuration; SIGUSR1 and SIGUSR2 are passed on to every
//! process group, as tini does. SIGCHLD belongs to the reaper.

use std::io;

use nix::sys::signal::Signal;
use tokio::signal::unix::{signal, SignalKind};

/// What a received signal asks supervise to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// Stop everything and exit.
    Shutdown(Signal),
    /// Pass this signal on to the processes.
    Forward(Signal),
    /// Read the configuration file again and apply it.
    Reload,
}

/// Handlers for every signal supervise acts on.
#[derive(Debug)]
pub struct Signals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
    hangup: tokio::signal::unix::Signal,
    user1: tokio::signal::unix::Signal,
    user2: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers; from here on these signals are queued for
    /// [`Signals::recv`] instead of taking their default action.
    pub fn install() -> io::Result<Signals> {
        Ok(Signals {
            terminate: signal(SignalKind::terminate())?,
            interrupt: signal(SignalKind::interrupt())?,
            hangup: signal(SignalKind::hangup())?,
            user1: signal(SignalKind::user_defined1())?,
            user2: signal(SignalKind::user_defined2())?,
        })
    }

    /// The next signal received, as a request.
    pub async fn recv(&mut self) -> Request {
        tokio::select! {
            Some(()) = self.terminate.recv() => Request::Shutdown(Signal::SIGTERM),
            Some(()) = self.interrupt.recv() => Request::Shutdown(Signal::SIGINT),
            Some(()) = self.hangup.recv() => Request::Reload,
            Some(()) = self.user1.recv() => Request::Forward(Signal::SIGUSR1),
            Some(()) = self.user2.recv() => Request::Forward(Signal::SIGUSR2),
        }
    }
}
