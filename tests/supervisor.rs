//! The supervisor against real processes: restarts, backoff, the restart
//! limit, stopping process groups, exit codes, signals and output.

mod common;

use std::time::{Duration, Instant};

use common::{exists, http_get, Supervise};
use nix::sys::signal::Signal;
use serde_json::Value;

/// The pid in a `spawned` event.
fn pid_of(event: &Value) -> i32 {
    event["pid"].as_i64().expect("spawned event has a pid") as i32
}

/// A one-process config around `command`, with `extra` keys appended.
fn one(command: &str, extra: &str) -> String {
    format!("processes:\n  job:\n    command: {command}\n{extra}")
}

/// A one-process config running `script` with `sh -c`, written as a YAML
/// block so that it needs no quoting (but `$$` for a literal `$$`).
fn script(script: &str, extra: &str) -> String {
    one(
        &format!("\n      - sh\n      - -c\n      - |\n        {script}"),
        extra,
    )
}

/// The Flask example comes back after `kill -9`, answering again, and the
/// restart is counted; SIGTERM then stops it and `up` exits 0.
#[test]
fn flask_restarts_after_kill_9() {
    let port = common::free_port();
    let config = format!(
        "processes:
  backend:
    command: [{python}, app.py]
    cwd: {cwd}
    env: {{ PORT: \"{port}\" }}
    ready:
      http: http://127.0.0.1:{port}/api/health
      interval: 20ms
",
        python = common::python().display(),
        cwd = common::repo().join("examples/flask").display(),
    );
    let mut sup = Supervise::up(&config);
    let first = pid_of(&sup.wait_event("backend", "spawned"));
    sup.wait_event("backend", "ready");
    assert_eq!(http_get(port, "/api/health").expect("GET").0, 200);

    nix::sys::signal::kill(nix::unistd::Pid::from_raw(first), Signal::SIGKILL).expect("kill");
    let exited = sup.wait_event("backend", "exited");
    assert_eq!(exited["status"], "signal SIGKILL");
    let second = pid_of(&sup.wait_event("backend", "spawned"));
    assert_ne!(first, second);
    sup.wait_event("backend", "ready");
    assert_eq!(http_get(port, "/api/health").expect("GET").0, 200);

    sup.signal(Signal::SIGTERM);
    assert_eq!(sup.wait_exit().code(), Some(0));
    assert!(!exists(second), "the backend outlived supervise");
}

/// A command that keeps failing is restarted with growing gaps, then given
/// up on at the limit; `up` exits with its last exit code.
#[test]
fn crash_loop_backs_off_and_gives_up() {
    let extra = "    backoff: { min: 100ms, max: 5s }\n    max_restarts: 4\n";
    let mut sup = Supervise::up(&one("[sh, -c, 'exit 3']", extra));
    let mut spawned = Vec::new();
    for _ in 0..5 {
        sup.wait_event("job", "spawned");
        spawned.push(Instant::now());
    }
    sup.wait_event("job", "restarted too often; giving up");
    assert_eq!(sup.wait_exit().code(), Some(3));

    let gaps: Vec<Duration> = spawned.windows(2).map(|w| w[1] - w[0]).collect();
    // Scheduled delays are 0, 100, 200 and 400 ms: each gap is at least
    // its delay, and the last ones clearly grow.
    assert!(gaps[1] >= Duration::from_millis(100), "{gaps:?}");
    assert!(gaps[2] >= Duration::from_millis(200), "{gaps:?}");
    assert!(gaps[3] >= Duration::from_millis(400), "{gaps:?}");
    assert!(gaps[3] > gaps[1], "{gaps:?}");
    let restarting: Vec<u64> = sup
        .seen
        .iter()
        .filter(|e| e["message"] == "restarting")
        .map(|e| e["delay_ms"].as_u64().expect("delay_ms"))
        .collect();
    assert_eq!(restarting, [0, 100, 200, 400]);
}

/// A process that ignores SIGTERM is SIGKILLed after `stop_timeout`,
/// together with the grandchild it started, and `up` still exits 0.
#[test]
fn stop_timeout_kills_the_whole_group() {
    let body = r#"trap '' TERM; sleep 300 & echo "grandchild $!"; wait"#;
    let mut sup = Supervise::up(&script(body, "    stop_timeout: 300ms\n"));
    let leader = pid_of(&sup.wait_event("job", "spawned"));
    let line = sup.wait_line("job", "grandchild");
    let grandchild: i32 = line["message"]
        .as_str()
        .and_then(|m| m[11..].trim().parse().ok())
        .expect("grandchild pid");
    assert!(exists(grandchild));

    sup.signal(Signal::SIGTERM);
    sup.wait_event("job", "did not stop in time; sending SIGKILL");
    assert_eq!(sup.wait_exit().code(), Some(0));
    assert!(!exists(leader), "the process outlived supervise");
    assert!(!exists(grandchild), "the grandchild outlived supervise");
}

/// A process killed by a signal that is given up on makes `up` exit with
/// 128 + the signal number.
#[test]
fn exit_code_of_signal_death_is_128_plus_signal() {
    let mut sup = Supervise::up(&script("kill -9 $$$$", "    max_restarts: 0\n"));
    sup.wait_event("job", "restarted too often; giving up");
    assert_eq!(sup.wait_exit().code(), Some(137));
}

/// A required process that exits 0 under `restart: never` ends `up` with
/// 0; one that keeps exiting 0 until given up on ends it with 1.
#[test]
fn exit_codes_of_finished_processes() {
    let mut sup = Supervise::up(&one("[true]", "    restart: never\n"));
    sup.wait_event("job", "not restarting, as its restart policy says");
    assert_eq!(sup.wait_exit().code(), Some(0));

    let mut sup = Supervise::up(&one("[true]", "    max_restarts: 1\n"));
    sup.wait_event("job", "restarted too often; giving up");
    assert_eq!(sup.wait_exit().code(), Some(1));
}

/// A process that is not required may fail without ending `up`; the
/// others keep running until SIGINT, after which `up` exits 0.
#[test]
fn optional_process_failure_does_not_end_up() {
    let config = "processes:
  main:
    command: sleep 300
  helper:
    command: [sh, -c, 'exit 5']
    required: false
    max_restarts: 1
";
    let mut sup = Supervise::up(config);
    let main = pid_of(&sup.wait_event("main", "spawned"));
    sup.wait_for("helper carrying on", |e| {
        e["process"] == "helper"
            && e["message"] == "a process that is not required will not run again; carrying on"
    });
    assert!(exists(main));
    sup.signal(Signal::SIGINT);
    assert_eq!(sup.wait_exit().code(), Some(0));
    assert!(!exists(main));
}

/// A second SIGTERM during a slow stop SIGKILLs at once instead of waiting
/// out a long `stop_timeout`.
#[test]
fn second_sigterm_kills_at_once() {
    let body = "trap '' TERM; echo up; while :; do sleep 1; done";
    let mut sup = Supervise::up(&script(body, "    stop_timeout: 60s\n"));
    sup.wait_line("job", "up");
    sup.signal(Signal::SIGTERM);
    sup.wait_event("job", "stopping");
    let asked = Instant::now();
    sup.signal(Signal::SIGTERM);
    assert_eq!(sup.wait_exit().code(), Some(0));
    assert!(
        asked.elapsed() < Duration::from_secs(30),
        "waited out stop_timeout"
    );
}

/// SIGUSR1 sent to supervise reaches the process.
#[test]
fn forwards_sigusr1() {
    let body = "trap 'echo got-usr1' USR1; echo up; while :; do sleep 0.05; done";
    let mut sup = Supervise::up(&script(body, ""));
    sup.wait_line("job", "up");
    sup.signal(Signal::SIGUSR1);
    sup.wait_line("job", "got-usr1");
    sup.signal(Signal::SIGTERM);
    assert_eq!(sup.wait_exit().code(), Some(0));
}

/// Child output keeps JSON lines as JSON, cuts a very long line, and keeps
/// a last line that has no newline.
#[test]
fn child_output_lines() {
    let body = r#"echo '{"event":"hi","n":1}'; head -c 40000 /dev/zero | tr '\0' a; echo; printf no-newline"#;
    let mut sup = Supervise::up(&script(body, "    restart: never\n"));
    let json = sup.wait_for("embedded JSON", |e| e["json"]["event"] == "hi");
    assert_eq!(json["json"]["n"], 1);
    assert_eq!(json["stream"], "stdout");
    sup.wait_line("job", "no-newline");
    sup.wait_exit();

    let pieces: Vec<usize> = sup
        .seen
        .iter()
        .filter_map(|e| e["message"].as_str())
        .filter(|m| m.starts_with("aaaa"))
        .map(str::len)
        .collect();
    assert_eq!(pieces.iter().sum::<usize>(), 40000, "{pieces:?}");
    assert!(
        pieces.len() >= 3 && pieces.iter().all(|&n| n <= 16 * 1024),
        "{pieces:?}"
    );
}

/// A readiness probe that never passes leaves the process running and
/// starting: readiness never restarts anything.
#[test]
fn unready_process_is_never_restarted() {
    let port = common::free_port();
    let extra = format!("    ready: {{ tcp: 127.0.0.1:{port}, interval: 10ms }}\n");
    let mut sup = Supervise::up_with(&one("sleep 300", &extra), |c| {
        c.env("SUPERVISE_LOG", "supervise=debug");
    });
    let pid = pid_of(&sup.wait_event("job", "spawned"));
    for _ in 0..20 {
        sup.wait_event("job", "not ready yet");
    }
    assert!(exists(pid));
    assert!(!sup
        .seen
        .iter()
        .any(|e| e["message"] == "exited" || e["message"] == "ready"));
    sup.signal(Signal::SIGTERM);
    assert_eq!(sup.wait_exit().code(), Some(0));
}
