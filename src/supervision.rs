//! Supervision: running the configured processes, restarting them, and
//! stopping them, with the duties of PID 1.
//!
//! [`Supervisor`] starts one task per process (see [`process`]) and keeps
//! their handles in start order. A single [`reaper::Reaper`] collects every
//! exit status in the process tree. Nothing here decides when supervise as
//! a whole shuts down: that is `run`'s job, told through
//! [`Supervisor::next_finished`].

pub mod group;
pub mod output;
pub mod probe;
pub mod process;
pub mod reaper;
pub mod restart;
pub mod state;

use tokio::sync::mpsc;

use crate::config::ProcessSpec;
use crate::supervision::output::ChildOutput;
use crate::supervision::process::{Control, Finished, ProcessHandle};
use crate::supervision::reaper::Reaper;

/// Every supervised process, in start order.
#[derive(Debug)]
pub struct Supervisor {
    processes: Vec<ProcessHandle>,
    finished: mpsc::UnboundedReceiver<Finished>,
    /// Kept to start processes a reloaded configuration adds.
    finished_tx: mpsc::UnboundedSender<Finished>,
    reaper: Reaper,
    output: ChildOutput,
}

impl Supervisor {
    /// Starts every process in `specs`, in order. Each starts at once; none
    /// waits for another to be ready.
    pub fn start(specs: &[ProcessSpec], reaper: &Reaper, output: ChildOutput) -> Supervisor {
        let (finished_tx, finished) = mpsc::unbounded_channel();
        let mut supervisor = Supervisor {
            processes: Vec::new(),
            finished,
            finished_tx,
            reaper: reaper.clone(),
            output,
        };
        supervisor.processes = specs.iter().map(|spec| supervisor.launch(spec)).collect();
        supervisor
    }

    fn launch(&self, spec: &ProcessSpec) -> ProcessHandle {
        let finished = self.finished_tx.clone();
        ProcessHandle::start(spec.clone(), self.reaper.clone(), self.output, finished)
    }

    /// Makes the running processes match `specs` (a reloaded
    /// configuration): a process whose definition changed is stopped and
    /// started anew, one no longer listed is stopped, a new one started;
    /// the others are left running untouched. The order becomes `specs`'.
    pub async fn apply(&mut self, specs: &[ProcessSpec]) {
        let mut old = std::mem::take(&mut self.processes);
        let mut next = Vec::with_capacity(specs.len());
        for spec in specs {
            let kept = old
                .iter()
                .position(|p| p.spec() == spec)
                .map(|i| old.remove(i));
            next.push(kept);
        }
        // Whatever is left was removed or changed: stop it, newest first.
        for process in old.iter().rev() {
            tracing::info!(process = %process.name(), "stopping for the new configuration");
            process.stop().await;
        }
        self.processes = specs
            .iter()
            .zip(next)
            .map(|(spec, kept)| kept.unwrap_or_else(|| self.launch(spec)))
            .collect();
    }

    pub fn processes(&self) -> &[ProcessHandle] {
        &self.processes
    }

    /// The next process that will never run again of its own accord.
    /// Pending forever once none is left that could finish.
    pub async fn next_finished(&mut self) -> Finished {
        match self.finished.recv().await {
            Some(finished) => finished,
            // Every task has ended: nothing can finish any more.
            None => std::future::pending().await,
        }
    }

    /// Sends `control` to every process.
    pub fn send_all(&self, control: Control) {
        for process in &self.processes {
            process.send(control);
        }
    }

    /// Stops every process, one after another, in reverse start order.
    pub async fn stop_all(&self) {
        for process in self.processes.iter().rev() {
            process.stop().await;
        }
    }
}
