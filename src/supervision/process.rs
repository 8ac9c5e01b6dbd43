//! One supervised process: its task, which runs the whole lifecycle, and
//! the handle the rest of supervise holds.
//!
//! The task spawns the command in a new process group, forwards its output,
//! probes it until ready, waits for its exit status from the reaper, and
//! then asks its [`RestartTracker`] whether to start it again. It answers
//! [`Control`] messages at every step: a stop is honoured whether the
//! process is running, backing off, or being cleaned up after an exit.

use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::pin::pin;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use nix::sys::signal::Signal;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{sleep_until, Instant};

use crate::config::ProcessSpec;
use crate::supervision::group::ProcessGroup;
use crate::supervision::output::{ChildOutput, Stream};
use crate::supervision::probe;
use crate::supervision::reaper::Reaper;
use crate::supervision::restart::{Decision, RestartTracker};
use crate::supervision::state::{ExitStatus, ProcessState, ProcessStatus};

/// How long a group gets after SIGKILL before supervise stops waiting. Only
/// a process stuck in the kernel (uninterruptible sleep) outlives that.
const KILL_GRACE: Duration = Duration::from_secs(5);

/// A message to a process task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    /// Stop gracefully (stop signal, then SIGKILL after `stop_timeout`)
    /// and never start again.
    Stop,
    /// Like `Stop`, but SIGKILL the group now.
    Kill,
    /// Pass this signal on to the group, if it is running.
    Forward(Signal),
}

/// Sent when a process will never run again because of its own exit: its
/// restart policy said no, or it reached the restart limit.
#[derive(Debug, Clone)]
pub struct Finished {
    pub process: String,
    pub required: bool,
    /// [`ProcessState::Exited`] or [`ProcessState::Failed`].
    pub state: ProcessState,
    pub status: ExitStatus,
}

/// The rest of supervise's grip on one process task.
#[derive(Debug)]
pub struct ProcessHandle {
    spec: Arc<ProcessSpec>,
    status: watch::Receiver<ProcessStatus>,
    control: mpsc::UnboundedSender<Control>,
}

impl ProcessHandle {
    /// Starts the task for `spec` on the current runtime.
    pub fn start(
        spec: ProcessSpec,
        reaper: Reaper,
        output: ChildOutput,
        finished: mpsc::UnboundedSender<Finished>,
    ) -> ProcessHandle {
        let (status_tx, status) = watch::channel(ProcessStatus::new());
        let (control, control_rx) = mpsc::unbounded_channel();
        let spec = Arc::new(spec);
        let task = ProcessTask {
            tracker: RestartTracker::new(&spec),
            spec: spec.clone(),
            reaper,
            output,
            status: status_tx,
            control: control_rx,
            finished,
            stop_requested: false,
        };
        tokio::spawn(task.run());
        ProcessHandle {
            spec,
            status,
            control,
        }
    }

    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// Whether giving up on it ends `supervise up`.
    pub fn required(&self) -> bool {
        self.spec.required
    }

    /// What it runs, as the configuration said when it was started.
    pub fn spec(&self) -> &ProcessSpec {
        &self.spec
    }

    /// A receiver of every status change.
    pub fn status(&self) -> watch::Receiver<ProcessStatus> {
        self.status.clone()
    }

    pub fn send(&self, control: Control) {
        // A task that has ended has nothing left to control.
        let _ = self.control.send(control);
    }

    /// Asks the process to stop and waits until it is in a final state.
    pub async fn stop(&self) {
        self.send(Control::Stop);
        let mut status = self.status();
        // An error means the task is gone, which is as stopped as it gets.
        let _ = status.wait_for(|s| s.state.is_final()).await;
    }
}

/// How one run of the process ended.
enum RunEnd {
    Exited {
        status: ExitStatus,
        uptime: Duration,
    },
    Stopped,
}

/// A spawned run: its group and where its exit status will arrive.
struct Run {
    group: ProcessGroup,
    exited: oneshot::Receiver<ExitStatus>,
    started: Instant,
}

/// The state owned by one process's task.
struct ProcessTask {
    spec: Arc<ProcessSpec>,
    reaper: Reaper,
    output: ChildOutput,
    tracker: RestartTracker,
    status: watch::Sender<ProcessStatus>,
    control: mpsc::UnboundedReceiver<Control>,
    finished: mpsc::UnboundedSender<Finished>,
    /// Set when a stop arrives while nothing is running to stop.
    stop_requested: bool,
}

impl ProcessTask {
    async fn run(mut self) {
        loop {
            let end = match self.spawn() {
                Ok(run) => self.supervise(run).await,
                Err(error) => {
                    tracing::error!(process = %self.spec.name, command = ?self.spec.command,
                        %error, "spawn failed");
                    let status = ExitStatus::SPAWN_FAILED;
                    RunEnd::Exited {
                        status,
                        uptime: Duration::ZERO,
                    }
                }
            };
            let RunEnd::Exited { status, uptime } = end else {
                return;
            };
            if self.stop_requested {
                return self.publish_stopped(Some(status));
            }
            let decision = self.tracker.after_exit(status, uptime, Instant::now());
            if !self.follow(decision, status).await {
                return;
            }
        }
    }

    /// Spawns one run in a new process group and starts forwarding its
    /// output.
    fn spawn(&mut self) -> std::io::Result<Run> {
        let spec = &self.spec;
        let mut command = Command::new(&spec.command[0]);
        command
            .args(&spec.command[1..])
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        if let Some(cwd) = &spec.cwd {
            command.current_dir(cwd);
        }

        let (mut child, exited) = self.reaper.spawn(&mut command)?;
        let pid = child.id();
        tracing::info!(process = %spec.name, pid, "spawned");
        self.forward(child.stdout.take().map(OwnedFd::from), Stream::Stdout);
        self.forward(child.stderr.take().map(OwnedFd::from), Stream::Stderr);

        let started = Instant::now();
        let state = match spec.ready {
            Some(_) => ProcessState::Starting,
            None => ProcessState::Ready,
        };
        self.publish(state, |s| {
            s.pid = Some(pid);
            s.started = Some(started);
        });
        Ok(Run {
            group: ProcessGroup(pid as i32),
            exited,
            started,
        })
    }

    fn forward(&self, fd: Option<OwnedFd>, stream: Stream) {
        let Some(fd) = fd else { return };
        if let Err(error) = self.output.forward(self.spec.name.clone(), stream, fd) {
            tracing::warn!(process = %self.spec.name, ?stream, %error,
                "cannot read the child's output; it is lost");
        }
    }

    /// Watches a run until it exits or is stopped, probing readiness.
    async fn supervise(&mut self, mut run: Run) -> RunEnd {
        let probe_spec = self.spec.clone();
        let mut ready = pin!(async move {
            if let Some(probe) = &probe_spec.ready {
                probe::wait_ready(&probe_spec.name, probe).await;
            }
        });
        let mut is_ready = self.spec.ready.is_none();

        loop {
            tokio::select! {
                status = &mut run.exited => {
                    let status = status.unwrap_or(ExitStatus::SPAWN_FAILED);
                    return self.exited(run, status).await;
                }
                () = &mut ready, if !is_ready => {
                    is_ready = true;
                    tracing::info!(process = %self.spec.name, "ready");
                    self.publish(ProcessState::Ready, |_| {});
                }
                control = self.control.recv() => match control {
                    Some(Control::Forward(signal)) => run.group.signal(signal),
                    Some(Control::Kill) => {
                        run.group.signal(Signal::SIGKILL);
                        return self.stop_run(run).await;
                    }
                    Some(Control::Stop) | None => return self.stop_run(run).await,
                },
            }
        }
    }

    /// Logs an exit and clears what the run left behind in its group, so
    /// that a restart does not meet its predecessor's children (holding
    /// the port, say).
    async fn exited(&mut self, run: Run, status: ExitStatus) -> RunEnd {
        let uptime = run.started.elapsed();
        let pid = run.group.0;
        match status.success() {
            true => tracing::info!(process = %self.spec.name, pid, %status, ?uptime, "exited"),
            false => tracing::warn!(process = %self.spec.name, pid, %status, ?uptime, "exited"),
        }
        // A restart is pending from this moment, even while leftovers of
        // the group are being cleared.
        let now = Instant::now();
        self.publish(ProcessState::BackingOff { until: now }, |s| {
            s.pid = None;
            s.started = None;
            s.last_exit = Some(status);
        });

        if run.group.is_alive() {
            tracing::info!(process = %self.spec.name, pgid = pid,
                "its process group still has members; stopping them");
            self.terminate(run.group).await;
        }
        RunEnd::Exited { status, uptime }
    }

    /// Stops a running process as asked: stop signal to the group, SIGKILL
    /// after `stop_timeout`, done when the group is empty.
    async fn stop_run(&mut self, mut run: Run) -> RunEnd {
        self.publish(ProcessState::Stopping, |_| {});
        tracing::info!(process = %self.spec.name, pid = run.group.0,
            signal = self.spec.stop_signal.as_str(), "stopping");
        self.terminate(run.group).await;

        let status = run.exited.try_recv().ok();
        if let Some(status) = status {
            tracing::info!(process = %self.spec.name, pid = run.group.0, %status, "stopped");
        }
        self.publish_stopped(status);
        RunEnd::Stopped
    }

    /// Sends the stop signal to the group and waits for it to empty,
    /// escalating to SIGKILL after `stop_timeout`.
    async fn terminate(&mut self, group: ProcessGroup) {
        group.signal(self.spec.stop_signal);
        let deadline = Instant::now() + self.spec.stop_timeout;
        if self.wait_empty(group, deadline).await {
            return;
        }

        tracing::warn!(process = %self.spec.name, pgid = group.0,
            stop_timeout = ?self.spec.stop_timeout, "did not stop in time; sending SIGKILL");
        group.signal(Signal::SIGKILL);
        if !self.wait_empty(group, Instant::now() + KILL_GRACE).await {
            tracing::error!(process = %self.spec.name, pgid = group.0,
                "process group still has members after SIGKILL; leaving them");
        }
    }

    /// Waits for `group` to empty, still answering control messages: a
    /// kill escalates at once, a stop is remembered for after.
    async fn wait_empty(&mut self, group: ProcessGroup, deadline: Instant) -> bool {
        let mut reaped = self.reaper.reaped();
        loop {
            tokio::select! {
                empty = group.wait_empty(deadline, &mut reaped) => return empty,
                Some(control) = self.control.recv() => match control {
                    Control::Kill => {
                        self.stop_requested = true;
                        group.signal(Signal::SIGKILL);
                    }
                    Control::Stop => self.stop_requested = true,
                    Control::Forward(signal) => group.signal(signal),
                },
            }
        }
    }

    /// Acts on a restart decision; returns whether to start again.
    async fn follow(&mut self, decision: Decision, status: ExitStatus) -> bool {
        match decision {
            Decision::Restart(delay) => self.back_off(delay).await,
            Decision::Finish => {
                tracing::info!(process = %self.spec.name, restart = ?self.spec.restart,
                    "not restarting, as its restart policy says");
                self.finish(ProcessState::Exited, status);
                false
            }
            Decision::GiveUp => {
                tracing::error!(process = %self.spec.name, %status,
                    max_restarts = self.spec.max_restarts,
                    restart_window = ?self.spec.restart_window,
                    "restarted too often; giving up");
                self.finish(ProcessState::Failed, status);
                false
            }
        }
    }

    /// Waits out the restart delay; returns false if asked to stop.
    async fn back_off(&mut self, delay: Duration) -> bool {
        let until = Instant::now() + delay;
        tracing::info!(process = %self.spec.name, delay_ms = delay.as_millis() as u64,
            "restarting");
        self.publish(ProcessState::BackingOff { until }, |s| s.restarts += 1);

        loop {
            tokio::select! {
                () = sleep_until(until) => return true,
                control = self.control.recv() => match control {
                    Some(Control::Forward(_)) => {}
                    Some(Control::Stop | Control::Kill) | None => {
                        self.publish_stopped(None);
                        return false;
                    }
                },
            }
        }
    }

    fn finish(&self, state: ProcessState, status: ExitStatus) {
        self.publish(state, |_| {});
        let finished = Finished {
            process: self.spec.name.clone(),
            required: self.spec.required,
            state,
            status,
        };
        // Nobody listening means supervise is shutting down anyway.
        let _ = self.finished.send(finished);
    }

    fn publish_stopped(&self, status: Option<ExitStatus>) {
        self.publish(ProcessState::Stopped, |s| {
            s.pid = None;
            s.started = None;
            if status.is_some() {
                s.last_exit = status;
            }
        });
    }

    /// Moves to `state`, applying `change` to the rest of the status in
    /// the same step so that readers never see half an update.
    fn publish(&self, state: ProcessState, change: impl FnOnce(&mut ProcessStatus)) {
        self.status.send_modify(|s| {
            s.state = state;
            s.since = SystemTime::now();
            change(s);
        });
    }
}
