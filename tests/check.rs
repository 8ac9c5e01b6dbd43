//! `supervise check` and config errors as a user meets them: every error
//! of a file in one run, each at its file, line, column and key path.

mod common;

use std::process::{Command, Output};

use common::binary;

fn run(args: &[&str], dir: &std::path::Path, env: &[(&str, &str)]) -> Output {
    Command::new(binary())
        .args(args)
        .current_dir(dir)
        .envs(env.iter().copied())
        .output()
        .expect("run supervise")
}

const BAD: &str = r#"processes:
  backend:
    command: "python3 'app.py"
    cwd: /nonexistent
    restart: sometimes
    backoff: { min: 10, max: 1s, extra: 1 }
    stop_signal: SIGFOO
    stop_timeout: ${TIMEOUT:-abc}
    ready: { http: https://x/ }
    env: { SECRET: xxxAZURE_CLIENT_SECRETxxx }
  "bad name!":
    command: []
    required: maybe
    max_restarts: -1
proxy:
  listen: 0.0.0.0:80
"#;

/// A file with fourteen different mistakes gets fourteen located errors
/// in file order, and exit code 2.
#[test]
fn check_reports_every_error_with_its_place() {
    let dir = tempfile::tempdir().expect("temporary folder");
    std::fs::write(dir.path().join("supervisor.yaml"), BAD).expect("write");
    let output = run(&["check"], dir.path(), &[]);
    assert_eq!(output.status.code(), Some(2));

    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = [
        "supervisor.yaml:3:14: processes.backend.command: `python3 'app.py` has an unbalanced quote",
        "supervisor.yaml:4:10: processes.backend.cwd: directory `/nonexistent` does not exist",
        "supervisor.yaml:5:14: processes.backend.restart: `sometimes` is not a restart policy",
        "supervisor.yaml:6:21: processes.backend.backoff.min: `10` has no unit",
        "supervisor.yaml:6:34: processes.backend.backoff.extra: unknown key `extra`",
        "supervisor.yaml:7:18: processes.backend.stop_signal: `SIGFOO` is not a signal name",
        "supervisor.yaml:8:19: processes.backend.stop_timeout: `abc` is not a duration",
        "supervisor.yaml:9:20: processes.backend.ready.http:",
        "supervisor.yaml:10:20: processes.backend.env.SECRET: `xxxAZURE_CLIENT_SECRETxxx` looks like an unreplaced placeholder",
        "supervisor.yaml:11:3: processes.bad name!: process name `bad name!` may only hold",
        "supervisor.yaml:12:14: processes.bad name!.command: the command is empty",
        "supervisor.yaml:13:15: processes.bad name!.required: expected `true` or `false`",
        "supervisor.yaml:14:19: processes.bad name!.max_restarts:",
        "supervisor.yaml:16:3: proxy.routes: missing required key `routes`",
    ];
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("supervisor.yaml:"))
        .collect();
    assert_eq!(lines.len(), expected.len(), "{stderr}");
    for (line, want) in lines.iter().zip(expected) {
        assert!(line.contains(want), "expected {want:?} in {line:?}");
    }
    assert!(stderr.contains("14 errors"), "{stderr}");
}

/// `up` with an invalid file exits 2 before spawning anything.
#[test]
fn up_with_invalid_config_exits_2() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let config = "processes:\n  job:\n    command: [touch, spawned]\n    restart: sometimes\n";
    std::fs::write(dir.path().join("supervisor.yaml"), config).expect("write");
    let output = run(&["up"], dir.path(), &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        !dir.path().join("spawned").exists(),
        "a process ran despite the error"
    );
}

/// An unset variable without a default is an error that names it; a
/// missing file says which file.
#[test]
fn unset_variable_and_missing_file() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let config = "processes:\n  job:\n    command: [run, ${NOT_SET_ANYWHERE}]\n";
    std::fs::write(dir.path().join("supervisor.yaml"), config).expect("write");
    let output = run(&["check"], dir.path(), &[]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr.contains("supervisor.yaml:3:20:"), "{stderr}");
    assert!(stderr.contains("`NOT_SET_ANYWHERE` is not set"), "{stderr}");

    let output = run(&["check", "-c", "nowhere.yaml"], dir.path(), &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("nowhere.yaml"));
}

/// `check` prints what would run, finds the file through
/// SUPERVISE_CONFIG, and never prints a value that came from the
/// environment under a secret-looking name or inside an error.
#[test]
fn check_summary_redacts_secrets() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let config = "processes:
  api:
    command: [sleep, '300']
    env:
      DB_PASSWORD: ${DB_PASSWORD}
      API_TOKEN: literal-token-value
      PLAIN: ${PLAIN}
    stop_timeout: ${DB_PASSWORD}
";
    std::fs::write(dir.path().join("custom.yaml"), config).expect("write");
    let secret = "hunter2-very-secret";
    let env = [
        ("SUPERVISE_CONFIG", "custom.yaml"),
        ("DB_PASSWORD", secret),
        ("PLAIN", secret),
    ];
    let output = run(&["check"], dir.path(), &env);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(output.status.code(), Some(2), "{all}");
    assert!(
        all.contains("custom.yaml:8:19: processes.api.stop_timeout"),
        "{all}"
    );
    assert!(!all.contains(secret), "a secret was printed:\n{all}");

    let fixed = config.replace("    stop_timeout: ${DB_PASSWORD}\n", "");
    std::fs::write(dir.path().join("custom.yaml"), fixed).expect("write");
    let output = run(&["check"], dir.path(), &env);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("process api"), "{stdout}");
    assert!(
        !stdout.contains(secret) && !stdout.contains("literal-token-value"),
        "{stdout}"
    );
}

/// `--version` answers without a config file.
#[test]
fn version() {
    let output = run(&["--version"], std::path::Path::new("/"), &[]);
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("supervise "));
}

/// The shipped files load: the seed's service with its environment set,
/// and the local example as it is.
#[test]
fn shipped_configs_are_valid() {
    let env = [
        ("AZURE_TENANT_ID", "8f3c2a9e-4b1d-4e6f-9a7c-2d5e8b1f0c34"),
        ("AZURE_CLIENT_ID", "11111111-2222-3333-4444-555555555555"),
        ("AZURE_CLIENT_SECRET", "client-secret-from-secrets-manager"),
        ("SESSION_SECRET", "abcdefghijklmnopqrstuvwxyz0123456789ABCD"),
        ("PUBLIC_URL", "https://app.example.com"),
    ];
    let output = run(&["check"], common::repo(), &env);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("provider:      azure"), "{stdout}");
    assert!(!stdout.contains("client-secret-from-secrets-manager"));

    let output = run(&["check", "-c", "examples/local.yaml"], common::repo(), &[]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let output = run(&["check"], common::repo(), &env[..4]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr.contains("`PUBLIC_URL` is not set"), "{stderr}");
}
