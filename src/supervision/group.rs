//! Signals to a process group, and waiting for the group to be empty.
//!
//! Every supervised process leads its own process group, so whatever it
//! forks stays in reach of one `killpg`. Whether anything is left is asked
//! of the kernel with `kill(-pgid, 0)`, never with `ps`, which slim images
//! lack. A member that calls `setsid` or `setpgid` leaves the group and is
//! out of reach of all of this.

use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::sync::watch;
use tokio::time::{sleep, timeout_at, Instant};

/// How often to look again while waiting for a group to empty. Members that
/// supervise reaps itself wake the wait at once; this covers the members
/// that some other reaper collects, when supervise is not a subreaper.
const RECHECK: Duration = Duration::from_millis(20);

/// One process group, named by its leader's pid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProcessGroup(pub i32);

impl ProcessGroup {
    /// Sends `signal` to every member. A group that is already gone is not
    /// an error; any other failure is logged with the call and errno.
    pub fn signal(self, signal: Signal) {
        match killpg(Pid::from_raw(self.0), signal) {
            Ok(()) | Err(Errno::ESRCH) => {}
            Err(errno) => tracing::warn!(
                pgid = self.0,
                signal = signal.as_str(),
                error = %errno,
                "killpg failed"
            ),
        }
    }

    /// Whether any member is left, zombies included.
    pub fn is_alive(self) -> bool {
        // EPERM means members exist that supervise may not signal: they
        // are still there.
        !matches!(killpg(Pid::from_raw(self.0), None), Err(Errno::ESRCH))
    }

    /// Waits until no member is left or `deadline` passes; returns whether
    /// the group is empty.
    pub async fn wait_empty(self, deadline: Instant, reaped: &mut watch::Receiver<u64>) -> bool {
        let empty = async {
            while self.is_alive() {
                tokio::select! {
                    // A closed channel disables this branch; the timer goes on.
                    Ok(()) = reaped.changed() => {}
                    _ = sleep(RECHECK) => {}
                }
            }
        };
        timeout_at(deadline, empty).await.is_ok()
    }
}
