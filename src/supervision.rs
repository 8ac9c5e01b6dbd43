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
}

impl Supervisor {
    /// Starts every process in `specs`, in order. Each starts at once; none
    /// waits for another to be ready.
    pub fn start(specs: &[ProcessSpec], reaper: &Reaper, output: ChildOutput) -> Supervisor {
        let (finished_tx, finished) = mpsc::unbounded_channel();
        let processes = specs
            .iter()
            .map(|spec| {
                ProcessHandle::start(spec.clone(), reaper.clone(), output, finished_tx.clone())
            })
            .collect();
        Supervisor {
            processes,
            finished,
        }
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
