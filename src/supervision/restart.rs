//! The restart decision: after a run ends, start again now, later, or
//! never.
//!
//! [`RestartTracker`] is pure bookkeeping over a clock value passed in, so
//! the backoff and the restart limit are tested without sleeping. The
//! process task owns one tracker per process and acts on its [`Decision`].

use std::collections::VecDeque;
use std::time::Duration;

use tokio::time::Instant;

use crate::config::{Backoff, ProcessSpec, RestartPolicy};
use crate::supervision::state::ExitStatus;

/// What to do after a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Start again after this delay (zero for at once).
    Restart(Duration),
    /// The policy says this exit is the end; the process is done.
    Finish,
    /// The restart limit is reached; the process has failed.
    GiveUp,
}

/// Remembers recent restarts and consecutive failures of one process.
#[derive(Debug)]
pub struct RestartTracker {
    policy: RestartPolicy,
    backoff: Backoff,
    max_restarts: u32,
    window: Duration,
    /// When each restart within the window was decided, oldest first.
    recent: VecDeque<Instant>,
    /// Runs in a row that ended before `backoff.reset_after`.
    unstable_runs: u32,
}

impl RestartTracker {
    pub fn new(spec: &ProcessSpec) -> Self {
        RestartTracker {
            policy: spec.restart,
            backoff: spec.backoff,
            max_restarts: spec.max_restarts,
            window: spec.restart_window,
            recent: VecDeque::new(),
            unstable_runs: 0,
        }
    }

    /// Decides what follows a run that ended with `status` at `now` after
    /// lasting `uptime`, and records the restart if there is one.
    pub fn after_exit(&mut self, status: ExitStatus, uptime: Duration, now: Instant) -> Decision {
        let wanted = match self.policy {
            RestartPolicy::Always => true,
            RestartPolicy::OnFailure => !status.success(),
            RestartPolicy::Never => false,
        };
        if !wanted {
            return Decision::Finish;
        }

        self.forget_before(now);
        if self.recent.len() >= self.max_restarts as usize {
            return Decision::GiveUp;
        }
        self.recent.push_back(now);

        if uptime >= self.backoff.reset_after {
            self.unstable_runs = 0;
        }
        self.unstable_runs = self.unstable_runs.saturating_add(1);
        Decision::Restart(self.delay())
    }

    /// Drops restarts that fell out of the window ending at `now`.
    fn forget_before(&mut self, now: Instant) {
        while let Some(&oldest) = self.recent.front() {
            if now.duration_since(oldest) < self.window {
                break;
            }
            self.recent.pop_front();
        }
    }

    /// The first failure after a stable run restarts at once, so a one-off
    /// crash costs only the backend's own start time; from the second in a
    /// row the delay starts at `backoff.min` and doubles up to `max`.
    fn delay(&self) -> Duration {
        if self.unstable_runs <= 1 {
            return Duration::ZERO;
        }
        let doublings = (self.unstable_runs - 2).min(31);
        let delay = self.backoff.min.saturating_mul(1u32 << doublings);
        delay.min(self.backoff.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use proptest::prelude::*;

    fn tracker(policy: RestartPolicy, max_restarts: u32) -> RestartTracker {
        RestartTracker {
            policy,
            backoff: Backoff {
                min: Duration::from_millis(100),
                max: Duration::from_secs(1),
                reset_after: Duration::from_secs(10),
            },
            max_restarts,
            window: Duration::from_secs(60),
            recent: VecDeque::new(),
            unstable_runs: 0,
        }
    }

    const FAIL: ExitStatus = ExitStatus::Code(1);
    const SHORT: Duration = Duration::from_millis(5);

    /// Consecutive quick failures wait 0, min, 2·min, … capped at max.
    #[test]
    fn backoff_doubles_from_zero_and_caps() {
        let mut t = tracker(RestartPolicy::Always, 100);
        let now = Instant::now();
        let delays: Vec<u64> = (0..7)
            .map(|_| match t.after_exit(FAIL, SHORT, now) {
                Decision::Restart(d) => d.as_millis() as u64,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(delays, [0, 100, 200, 400, 800, 1000, 1000]);
    }

    /// A run that lasted `reset_after` starts the backoff over.
    #[test]
    fn stable_run_resets_backoff() {
        let mut t = tracker(RestartPolicy::Always, 100);
        let now = Instant::now();
        for _ in 0..4 {
            t.after_exit(FAIL, SHORT, now);
        }
        let stable = Duration::from_secs(10);
        assert_eq!(
            t.after_exit(FAIL, stable, now),
            Decision::Restart(Duration::ZERO)
        );
    }

    /// The limit counts restarts within the window and forgets older ones.
    #[test]
    fn gives_up_at_limit_within_window() {
        let mut t = tracker(RestartPolicy::Always, 3);
        let start = Instant::now();
        for _ in 0..3 {
            assert!(matches!(
                t.after_exit(FAIL, SHORT, start),
                Decision::Restart(_)
            ));
        }
        assert_eq!(t.after_exit(FAIL, SHORT, start), Decision::GiveUp);

        let later = start + Duration::from_secs(61);
        assert!(matches!(
            t.after_exit(FAIL, SHORT, later),
            Decision::Restart(_)
        ));
    }

    /// `on-failure` finishes on exit code 0 and restarts on anything else.
    #[test]
    fn on_failure_policy() {
        let mut t = tracker(RestartPolicy::OnFailure, 3);
        let now = Instant::now();
        assert_eq!(
            t.after_exit(ExitStatus::Code(0), SHORT, now),
            Decision::Finish
        );
        let killed = ExitStatus::Signal(nix::sys::signal::Signal::SIGKILL);
        assert!(matches!(
            t.after_exit(killed, SHORT, now),
            Decision::Restart(_)
        ));
    }

    /// `never` finishes whatever the status, and `max_restarts: 0` gives up
    /// at the first exit.
    #[test]
    fn never_and_zero_limit() {
        let now = Instant::now();
        let mut never = tracker(RestartPolicy::Never, 3);
        assert_eq!(never.after_exit(FAIL, SHORT, now), Decision::Finish);
        let mut zero = tracker(RestartPolicy::Always, 0);
        assert_eq!(zero.after_exit(FAIL, SHORT, now), Decision::GiveUp);
    }

    proptest! {
        /// Whatever the sequence of uptimes, a delay never exceeds
        /// `backoff.max` and restarts in the window never exceed the limit.
        #[test]
        fn delay_bounded(uptimes in proptest::collection::vec(0u64..20_000, 1..60),
                         max_restarts in 0u32..20) {
            let mut t = tracker(RestartPolicy::Always, max_restarts);
            let mut now = Instant::now();
            let mut granted = 0;
            for ms in uptimes {
                now += Duration::from_millis(ms);
                match t.after_exit(FAIL, Duration::from_millis(ms), now) {
                    Decision::Restart(d) => {
                        prop_assert!(d <= Duration::from_secs(1));
                        granted += 1;
                    }
                    Decision::GiveUp => {}
                    Decision::Finish => prop_assert!(false, "always never finishes"),
                }
                prop_assert!(t.recent.len() <= max_restarts as usize);
            }
            prop_assert!(granted >= t.recent.len());
        }
    }
}
