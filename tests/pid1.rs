//! supervise as PID 1 of a fresh PID namespace, as in a container: orphans
//! are reaped, and SIGTERM from outside is handled rather than dropped.

mod common;

use common::{children, eventually, proc_state, Supervise};
use nix::sys::signal::Signal;

/// Under `unshare --pid --fork`, a grandchild orphaned by the backend is
/// re-parented to supervise and reaped when it exits (no zombie), and a
/// SIGTERM from the parent namespace stops everything with exit code 0.
#[test]
fn pid1_reaps_orphans_and_handles_sigterm() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: creating a PID namespace needs root (CI runs as root)");
        return;
    }
    let config = "processes:
  backend:
    command: [sh, -c, '(sleep 1 &); echo orphaned; exec sleep 300']
";
    let prefix = ["unshare", "--pid", "--fork", "--kill-child"];
    let mut sup = Supervise::up_under(&prefix, config, |_| {});
    let unshare = sup.child.id() as i32;
    sup.wait_for("PID 1 notice", |e| {
        e["message"] == "running as PID 1; reaping orphans"
    });
    sup.pid = *children(unshare)
        .first()
        .expect("unshare has forked supervise");

    sup.wait_line("backend", "orphaned");
    let adopted = children(sup.pid);
    assert_eq!(
        adopted.len(),
        2,
        "backend and the orphan are both children: {adopted:?}"
    );

    // The orphan sleeps 1 s; once it exits supervise must reap it, leaving
    // only the backend and no zombie among its children.
    eventually("the orphan is reaped", || {
        let now = children(sup.pid);
        now.len() == 1 && now.iter().all(|&pid| proc_state(pid) != Some('Z'))
    });

    sup.signal(Signal::SIGTERM);
    assert_eq!(sup.wait_exit().code(), Some(0));
    for pid in adopted {
        assert!(!common::exists(pid), "{pid} outlived supervise");
    }
}
