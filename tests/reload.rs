//! SIGHUP reloads `supervisor.yaml`: routes and processes change without
//! dropping requests, and an invalid file is refused while the running
//! configuration carries on.

mod common;

use common::{get, Supervise};
use nix::sys::signal::Signal;

/// The Flask example plus a helper process running `helper`, behind a
/// proxy on `port`, with `extra_routes` after the seed's.
fn config(port: u16, backend: u16, helper: &str, extra_routes: &str) -> String {
    format!(
        "processes:
  backend:
    command: [{python}, app.py]
    cwd: {cwd}
    env: {{ PORT: \"{backend}\" }}
    ready: {{ http: \"http://127.0.0.1:{backend}/api/health\", interval: 20ms }}
  helper:
    command: {helper}
proxy:
  listen: 127.0.0.1:{port}
  upstreams:
    flask: {{ url: \"http://127.0.0.1:{backend}\", process: backend }}
  routes:
    - path: /*
      upstream: flask
    - path: /test*
      respond: {{ body: \"tested!!!\" }}
{extra_routes}",
        python = common::python().display(),
        cwd = common::repo().join("examples/flask").display(),
    )
}

fn spawned(sup: &Supervise, process: &str) -> usize {
    sup.seen
        .iter()
        .filter(|e| e["message"] == "spawned" && e["process"] == process)
        .count()
}

/// A reload adds a route and restarts only the process whose definition
/// changed; a reload of an invalid file is refused with its errors and
/// the running configuration stays.
#[test]
fn reload_applies_changes_and_refuses_bad_files() {
    let (port, backend) = (common::free_port(), common::free_port());
    let mut sup = Supervise::up(&config(port, backend, "[sleep, '300']", ""));
    sup.wait_event("backend", "ready");
    // Both were spawned at start, before the backend's probe passed.
    assert_eq!(spawned(&sup, "helper"), 1);
    assert_eq!(
        get(port, "/new").expect("GET").status,
        404,
        "Flask has no /new"
    );

    let file = sup.dir.path().join("supervisor.yaml");
    let new_route = "    - path: /new*\n      respond: { body: \"new route\" }\n";
    std::fs::write(&file, config(port, backend, "[sleep, '301']", new_route)).expect("write");
    sup.signal(Signal::SIGHUP);
    sup.wait_for("reloaded", |e| e["message"] == "configuration reloaded");
    sup.wait_event("helper", "spawned");
    assert_eq!(get(port, "/new").expect("GET").text(), "new route");
    assert_eq!(
        spawned(&sup, "backend"),
        1,
        "the unchanged backend was restarted"
    );
    assert_eq!(spawned(&sup, "helper"), 2);

    std::fs::write(&file, "processes:\n  backend:\n    restart: sometimes\n").expect("write");
    sup.signal(Signal::SIGHUP);
    let error = sup.wait_for("a located error", |e| {
        e["message"] == "configuration" && e["level"] == "ERROR"
    });
    assert!(
        error["error"]
            .as_str()
            .is_some_and(|m| m.contains("supervisor.yaml:3:")),
        "{error}"
    );
    sup.wait_for("refusal", |e| {
        e["message"] == "reload refused; the running configuration stays"
    });
    assert_eq!(get(port, "/new").expect("GET").text(), "new route");
    assert_eq!(get(port, "/api/health").expect("GET").status, 200);

    sup.signal(Signal::SIGTERM);
    assert_eq!(sup.wait_exit().code(), Some(0));
}

/// Clients sending requests without pause see no failure across several
/// reloads that swap the routes.
#[test]
fn no_failed_request_during_reloads() {
    let (port, backend) = (common::free_port(), common::free_port());
    let helper = "[sleep, '300']";
    let mut sup = Supervise::up(&config(port, backend, helper, ""));
    sup.wait_event("backend", "ready");
    let file = sup.dir.path().join("supervisor.yaml");

    let load = common::Load::start(port, &["/api/health", "/test", "/home"]);

    for round in 0..5 {
        let extra = format!("    - path: /round{round}\n      respond: {{ body: \"{round}\" }}\n");
        std::fs::write(&file, config(port, backend, helper, &extra)).expect("write");
        sup.signal(Signal::SIGHUP);
        sup.wait_for("reloaded", |e| e["message"] == "configuration reloaded");
        load.flowing(20);
        assert_eq!(
            get(port, &format!("/round{round}")).expect("GET").text(),
            round.to_string()
        );
    }
    let (ok, failed) = load.finish();
    assert_eq!(failed, 0, "{ok} succeeded");
    assert_eq!(
        spawned(&sup, "backend"),
        1,
        "the backend was restarted by a reload"
    );
    sup.signal(Signal::SIGTERM);
    assert_eq!(sup.wait_exit().code(), Some(0));
}
