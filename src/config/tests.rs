//! Tests of the whole loader, through `load_str` and `load`: each rule of
//! the `supervisor.yaml` contract, the exact place of each kind of error,
//! and that no input makes it panic.

use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::Signal;
use proptest::prelude::*;

use super::*;

mod auth;
mod proxy;

const SECRET: &str = "hunter2-very-secret";

fn env(name: &str) -> Option<String> {
    match name {
        "SECRET" => Some(SECRET.to_string()),
        "API_TOKEN" => Some(SECRET.to_string()),
        "PORT" => Some("5000".to_string()),
        "LONG" => Some("a".repeat(40)),
        "EMPTY" => Some(String::new()),
        "PATH" => Some("/bin:/usr/bin".to_string()),
        _ => None,
    }
}

/// Where configs of tests that use no `cwd` claim to come from.
fn config_path() -> &'static Path {
    Path::new("/srv/app/supervisor.yaml")
}

fn load_text(text: &str) -> Result<Loaded, LoadError> {
    load_str(text, config_path(), &env)
}

fn errors(text: &str) -> Vec<Diagnostic> {
    match load_text(text) {
        Err(LoadError::Invalid { errors }) => errors,
        Err(other) => panic!("not an invalid-config error: {other}"),
        Ok(loaded) => panic!("loaded a bad config: {:?}", loaded.config),
    }
}

fn loaded(text: &str) -> Loaded {
    match load_text(text) {
        Ok(loaded) => loaded,
        Err(error) => panic!("failed to load:\n{error}"),
    }
}

fn only_process(text: &str) -> ProcessSpec {
    let mut processes = loaded(text).config.processes;
    assert_eq!(processes.len(), 1);
    processes.remove(0)
}

/// Asserts that `text` has exactly one error, at `line:column` under
/// `key_path`, whose message contains `fragment`.
fn assert_error(text: &str, line: usize, column: usize, key_path: &str, fragment: &str) {
    let found = errors(text);
    assert_eq!(found.len(), 1, "expected one error, got:\n{found:#?}");
    let error = &found[0];
    let place = (error.line, error.column, error.key_path.as_str());
    assert_eq!(place, (line, column, key_path), "{error}");
    assert!(
        error.message.contains(fragment),
        "{fragment:?} not in: {error}"
    );
    assert_eq!(error.file, config_path());
}

/// A process with `command: [sh]` and `extra` as its further settings.
fn with(extra: &str) -> String {
    format!("processes:\n  web:\n    command: [sh]\n{extra}")
}

/// An unknown key is placed at the key and lists the allowed ones.
#[test]
fn unknown_key() {
    let text = with("    comand: [x]\n");
    let allowed = "allowed keys: command, cwd, env, restart, backoff";
    assert_error(&text, 4, 5, "processes.web.comand", allowed);
}

/// A mapping where a number goes names both types.
#[test]
fn wrong_type() {
    let text = with("    max_restarts: {a: 1}\n");
    let message = "expected a non-negative integer, found a mapping";
    assert_error(&text, 4, 19, "processes.web.max_restarts", message);
}

/// A duration with an unknown unit names the unit.
#[test]
fn bad_duration() {
    let text = with("    stop_timeout: 10sec\n");
    let message = "`10sec` has an unknown unit `sec`";
    assert_error(&text, 4, 19, "processes.web.stop_timeout", message);
}

/// A bare number where a duration goes asks for a unit.
#[test]
fn bare_number_duration() {
    let text = with("    backoff:\n      max: 30\n");
    let message = "`30` has no unit; add one";
    assert_error(&text, 5, 12, "processes.web.backoff.max", message);
}

/// An unset variable is reported at its `${`, under the key it is in.
#[test]
fn unset_variable() {
    let text = with("    env:\n      HOME_DIR: x/${NOPE}/y\n");
    let message = "environment variable `NOPE` is not set";
    assert_error(&text, 5, 19, "processes.web.env.HOME_DIR", message);
}

/// An unclosed `${` is reported at itself.
#[test]
fn unterminated_expression() {
    let text = with("    cwd: ${PORT\n");
    assert_error(&text, 4, 10, "processes.web.cwd", "`${` is not closed");
}

/// An invalid variable name is an error too.
#[test]
fn invalid_variable_name() {
    let text = with("    cwd: ${9LIVES}\n");
    assert_error(
        &text,
        4,
        10,
        "processes.web.cwd",
        "`9LIVES` is not a valid variable name",
    );
}

/// A restart policy outside the three is refused with the three listed.
#[test]
fn bad_restart_value() {
    let text = with("    restart: sometimes\n");
    let message = "`sometimes` is not a restart policy; expected always, on-failure or never";
    assert_error(&text, 4, 14, "processes.web.restart", message);
}

/// Unknown signal names are refused.
#[test]
fn bad_signal() {
    let text = with("    stop_signal: SIGFOO\n");
    assert_error(
        &text,
        4,
        18,
        "processes.web.stop_signal",
        "`SIGFOO` is not a signal name",
    );
}

/// SIGSTOP is refused: it pauses rather than stops.
#[test]
fn sigstop_is_refused() {
    let text = with("    stop_signal: stop\n");
    assert_error(
        &text,
        4,
        18,
        "processes.web.stop_signal",
        "SIGSTOP pauses a process",
    );
}

/// Signal names are accepted with or without `SIG`, in any case.
#[test]
fn signal_spellings() {
    for (written, signal) in [
        ("SIGTERM", Signal::SIGTERM),
        ("TERM", Signal::SIGTERM),
        ("sigint", Signal::SIGINT),
        ("Quit", Signal::SIGQUIT),
        ("SIGKILL", Signal::SIGKILL),
    ] {
        let spec = only_process(&with(&format!("    stop_signal: {written}\n")));
        assert_eq!(spec.stop_signal, signal, "{written}");
    }
}

/// An https readiness URL is refused with the reason.
#[test]
fn https_ready_url() {
    let text = with("    ready:\n      http: https://127.0.0.1:5000/health\n");
    let message = "uses https, which is not supported for readiness probes";
    assert_error(&text, 5, 13, "processes.web.ready.http", message);
}

/// Other bad URLs: no scheme, no host, not a URL.
#[test]
fn other_bad_ready_urls() {
    for (url, fragment) in [
        ("127.0.0.1:5000/health", "is not an `http://` URL"),
        ("/health", "is not an `http://` URL"),
        ("\"http:// x\"", "is not a valid URL"),
    ] {
        let text = with(&format!("    ready: {{http: {url}}}\n"));
        let found = errors(&text);
        assert_eq!(found.len(), 1, "{url}: {found:?}");
        assert!(found[0].message.contains(fragment), "{url}: {}", found[0]);
    }
}

/// Setting both `http` and `tcp` is one error at the `ready` mapping.
#[test]
fn both_http_and_tcp() {
    let text = with("    ready:\n      http: http://127.0.0.1:5000/\n      tcp: 127.0.0.1:5000\n");
    let message = "set exactly one of `http` and `tcp`, not both";
    assert_error(&text, 5, 7, "processes.web.ready", message);
}

/// Setting neither is an error too.
#[test]
fn neither_http_nor_tcp() {
    let text = with("    ready: {interval: 1s}\n");
    assert_error(
        &text,
        4,
        12,
        "processes.web.ready",
        "`http: URL` or `tcp: host:port`",
    );
}

/// A TCP target needs a port from 1 to 65535.
#[test]
fn bad_tcp_port() {
    let text = with("    ready: {tcp: \"localhost:70000\"}\n");
    assert_error(
        &text,
        4,
        18,
        "processes.web.ready.tcp",
        "has an invalid port",
    );
}

/// An empty command is an error, as a list or as a string.
#[test]
fn empty_command() {
    let text = "processes:\n  web:\n    command: []\n";
    assert_error(text, 3, 14, "processes.web.command", "the command is empty");
    let text = "processes:\n  web:\n    command: \"  \"\n";
    assert_error(text, 3, 14, "processes.web.command", "the command is empty");
}

/// A command line with an unbalanced quote is refused.
#[test]
fn unbalanced_quote() {
    let text = "processes:\n  web:\n    command: python3 'app.py\n";
    assert_error(
        text,
        3,
        14,
        "processes.web.command",
        "has an unbalanced quote",
    );
}

/// The old Caddyfile's placeholders are refused, once, anywhere.
#[test]
fn placeholder() {
    let text = with("    env:\n      AZURE_CLIENT_ID: xxxAZURE_CLIENT_IDxxx\n");
    let message = "looks like an unreplaced placeholder from the old Caddyfile; \
                   use `${AZURE_CLIENT_ID}` instead";
    assert_error(&text, 5, 24, "processes.web.env.AZURE_CLIENT_ID", message);
}

/// A placeholder in the `auth` section is reported once, beside the
/// section's own problems.
#[test]
fn placeholder_in_the_auth_section() {
    let text = with("auth:\n  client_id: xxxAZURE_CLIENT_IDxxx\n");
    let found = errors(&text);
    let places: Vec<(usize, &str)> = found
        .iter()
        .map(|e| (e.line, e.key_path.as_str()))
        .collect();
    let expected = [
        (4, "auth"),
        (5, "auth.provider"),
        (5, "auth.session"),
        (5, "auth.client_id"),
    ];
    assert_eq!(places, expected);
    assert!(
        found[3].message.contains("unreplaced placeholder"),
        "{}",
        found[3]
    );
}

/// `min` above `max` is reported at `min`, quoting both as written.
#[test]
fn backoff_min_over_max() {
    let text = with("    backoff: {min: 40s, max: 30s}\n");
    let message = "min `40s` is greater than max `30s`";
    assert_error(&text, 4, 20, "processes.web.backoff.min", message);
}

/// Against the default `min`, the error is placed at `max`.
#[test]
fn backoff_max_under_default_min() {
    let text = with("    backoff: {max: 50ms}\n");
    let message = "min 100ms (the default) is greater than max `50ms`";
    assert_error(&text, 4, 20, "processes.web.backoff.max", message);
}

/// A zero `min` would make restarts spin; it is refused.
#[test]
fn backoff_min_zero() {
    let text = with("    backoff: {min: 0s}\n");
    assert_error(
        &text,
        4,
        20,
        "processes.web.backoff.min",
        "must be longer than zero",
    );
}

/// A process without `command` is reported at its mapping.
#[test]
fn missing_command() {
    let text = "processes:\n  web:\n    restart: never\n";
    let message = "missing required key `command`";
    assert_error(text, 3, 5, "processes.web.command", message);
}

/// A `cwd` that does not exist is an error showing where it was looked for.
#[test]
fn nonexistent_cwd() {
    let text = with("    cwd: no/such/dir\n");
    let message = "directory `no/such/dir` does not exist (looked for `/srv/app/no/such/dir`)";
    assert_error(&text, 4, 10, "processes.web.cwd", message);
}

/// A `cwd` that is a file is refused.
#[test]
fn cwd_that_is_a_file() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::write(dir.path().join("file"), "").expect("a file");
    let text = with("    cwd: file\n");
    let result = load_str(&text, &dir.path().join("s.yaml"), &env);
    let Err(LoadError::Invalid { errors }) = result else {
        panic!("a file is not a directory");
    };
    assert!(
        errors[0].message.starts_with("`file` is not a directory"),
        "{}",
        errors[0]
    );
}

/// A relative `cwd` starts at the config file's folder, an absolute one not.
#[test]
fn cwd_is_resolved_against_the_config_folder() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::create_dir_all(dir.path().join("examples/flask")).expect("folders");
    let config = dir.path().join("supervisor.yaml");
    let relative = with("    cwd: examples/flask\n");
    let spec = &load_str(&relative, &config, &env)
        .expect("valid")
        .config
        .processes[0];
    assert_eq!(
        spec.cwd.as_deref(),
        Some(dir.path().join("examples/flask").as_path())
    );
    let absolute = with(&format!("    cwd: {}\n", dir.path().display()));
    let spec = &load_str(&absolute, &config, &env)
        .expect("valid")
        .config
        .processes[0];
    assert_eq!(spec.cwd.as_deref(), Some(dir.path()));
}

/// A YAML syntax error is one diagnostic, placed, with the nearest path.
#[test]
fn yaml_syntax_error() {
    let text = with("    restart: always: now\n");
    let message = "invalid YAML: mapping values are not allowed in this context";
    assert_error(&text, 4, 20, "processes.web", message);
}

/// An unclosed flow list is a syntax error too.
#[test]
fn yaml_unclosed_list() {
    let found = errors("processes:\n  web:\n    command: [a, b\n");
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].message.starts_with("invalid YAML"), "{}", found[0]);
}

/// An unknown top-level key lists the sections of the contract.
#[test]
fn unknown_top_level_key() {
    let text = with("process:\n  x: 1\n");
    assert_error(
        &text,
        4,
        1,
        "process",
        "allowed keys: processes, proxy, auth, health",
    );
}

/// A file without `processes`, or with an empty one, is refused.
#[test]
fn processes_is_required_and_not_empty() {
    assert_error(
        "{}\n",
        1,
        1,
        "processes",
        "missing required key `processes`",
    );
    let message = "`processes` must list at least one process";
    assert_error("processes: {}\n", 1, 12, "processes", message);
    assert_error("processes:\n", 1, 1, "processes", message);
    let found = errors("processes: [a]\n");
    assert!(found[0].message.contains("found a list"), "{}", found[0]);
}

/// A root that is not a mapping says what the file should be.
#[test]
fn root_is_a_mapping() {
    let message = "expected a mapping with a `processes` key, found the string `hello`";
    assert_error("hello\n", 1, 1, "", message);
}

/// An empty file, or one of comments only, is refused as empty.
#[test]
fn empty_file() {
    assert_error("", 1, 1, "", "the file is empty");
    assert_error("# nothing yet\n\n", 1, 1, "", "the file is empty");
}

/// Duplicate keys are errors, at the second one.
#[test]
fn duplicate_keys() {
    let text = with("    restart: never\n    restart: always\n");
    assert_error(
        &text,
        5,
        5,
        "processes.web.restart",
        "already set on line 4",
    );
}

/// Anchors and aliases are refused with a clear message.
#[test]
fn anchors_and_aliases() {
    let text = "processes:\n  a:\n    command: &c [sh]\n  b:\n    command: *c\n";
    let found = errors(text);
    let messages: Vec<&str> = found.iter().map(|e| e.message.as_str()).collect();
    assert!(messages[0].starts_with("anchors (`&name`) are not supported"));
    assert!(messages[1].starts_with("aliases (`*name`) are not supported"));
    assert_eq!(found.len(), 2, "{found:?}");
}

/// Only one YAML document is allowed.
#[test]
fn one_document() {
    let text = with("---\nprocesses: {}\n");
    assert_error(&text, 4, 1, "", "one YAML document");
}

/// Process names are limited in characters and length.
#[test]
fn process_names() {
    let text = "processes:\n  \"web app\":\n    command: [sh]\n";
    assert_error(
        text,
        2,
        3,
        "processes.web app",
        "may only hold letters, digits",
    );
    let long = "n".repeat(65);
    let text = format!("processes:\n  {long}:\n    command: [sh]\n");
    assert_error(
        &text,
        2,
        3,
        &format!("processes.{long}"),
        "65 characters long; at most 64",
    );
    let fine = "n".repeat(64);
    loaded(&format!("processes:\n  {fine}:\n    command: [sh]\n"));
    loaded("processes:\n  a-b.c_D9:\n    command: [sh]\n");
}

/// Negative and overflowing counts are refused, naming the limit.
#[test]
fn counts_out_of_range() {
    let text = with("    max_restarts: -1\n");
    assert_error(
        &text,
        4,
        19,
        "processes.web.max_restarts",
        "`-1` is negative",
    );
    let text = with("    max_restarts: 99999999999\n");
    let message = "`99999999999` is too large; at most 4294967295";
    assert_error(&text, 4, 19, "processes.web.max_restarts", message);
}

/// `required` is a boolean and nothing else.
#[test]
fn required_is_boolean() {
    let text = with("    required: \"true\"\n");
    let message = "expected `true` or `false`, found the string `true`";
    assert_error(&text, 4, 15, "processes.web.required", message);
    assert!(!only_process(&with("    required: false\n")).required);
}

/// `env` values may be text, numbers or booleans, taken as written.
#[test]
fn env_values() {
    let spec = only_process(&with(
        "    env: {A: text, B: 5000, C: 1.50, D: true, E: \"\"}\n",
    ));
    let expected = [
        ("A", "text"),
        ("B", "5000"),
        ("C", "1.50"),
        ("D", "true"),
        ("E", ""),
    ];
    let expected: Vec<(String, String)> = expected
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain([("PYTHONUNBUFFERED".to_string(), "1".to_string())])
        .collect();
    assert_eq!(spec.env, expected);
}

/// Null and nested `env` values, and bad names, are errors.
#[test]
fn bad_env_entries() {
    let text = with("    env:\n      A:\n      B: [1]\n      1C: x\n");
    let found = errors(&text);
    let places: Vec<(usize, usize, &str)> = found
        .iter()
        .map(|e| (e.line, e.column, e.key_path.as_str()))
        .collect();
    let env = "processes.web.env";
    let expected = [
        (5, 7, format!("{env}.A")),
        (6, 10, format!("{env}.B")),
        (7, 7, format!("{env}.1C")),
    ];
    let expected: Vec<(usize, usize, &str)> = expected
        .iter()
        .map(|(l, c, p)| (*l, *c, p.as_str()))
        .collect();
    assert_eq!(places, expected);
    assert!(found[0].message.ends_with("found nothing (an empty value)"));
    assert!(found[2].message.contains("not a valid variable name"));
}

/// `PYTHONUNBUFFERED=1` is added unless the file sets it.
#[test]
fn python_unbuffered() {
    let spec = only_process(&with(""));
    assert_eq!(
        spec.env,
        [("PYTHONUNBUFFERED".to_string(), "1".to_string())]
    );
    let spec = only_process(&with("    env: {PYTHONUNBUFFERED: \"0\"}\n"));
    assert_eq!(
        spec.env,
        [("PYTHONUNBUFFERED".to_string(), "0".to_string())]
    );
}

/// A command string is split like a shell would, without running one.
#[test]
fn command_line_is_split_like_a_shell() {
    let text = "processes:\n  web:\n    command: python3 -c 'print(1)' \"a b\" c\\ d\n";
    let spec = only_process(text);
    assert_eq!(spec.command, ["python3", "-c", "print(1)", "a b", "c d"]);
}

/// List items that YAML reads as numbers are words as written.
#[test]
fn command_list_takes_numbers_as_written() {
    let spec = only_process("processes:\n  web:\n    command: [sleep, 10, 1.50]\n");
    assert_eq!(spec.command, ["sleep", "10", "1.50"]);
    let found = errors("processes:\n  web:\n    command: [sleep, ~]\n");
    assert_eq!(
        (found[0].column, found[0].key_path.as_str()),
        (22, "processes.web.command[1]")
    );
}

/// Defaults of the contract fill every setting left out.
#[test]
fn defaults() {
    let spec = only_process(&with(""));
    assert_eq!(spec.cwd, None);
    assert_eq!(spec.restart, RestartPolicy::Always);
    let backoff = Backoff {
        min: Duration::from_millis(100),
        max: Duration::from_secs(30),
        reset_after: Duration::from_secs(10),
    };
    assert_eq!(spec.backoff, backoff);
    assert_eq!(spec.max_restarts, 10);
    assert_eq!(spec.restart_window, Duration::from_secs(60));
    assert_eq!(spec.stop_signal, Signal::SIGTERM);
    assert_eq!(spec.stop_timeout, Duration::from_secs(10));
    assert_eq!(spec.ready, None);
    assert!(spec.required);
}

/// Durations take combined and fractional forms.
#[test]
fn duration_forms() {
    let spec = only_process(&with("    restart_window: 1m30s\n    stop_timeout: 1.5s\n"));
    assert_eq!(spec.restart_window, Duration::from_secs(90));
    assert_eq!(spec.stop_timeout, Duration::from_millis(1500));
}

/// A TCP probe with its own interval and timeout.
#[test]
fn tcp_probe() {
    let text = with("    ready: {tcp: \"127.0.0.1:${PORT}\", interval: 250ms, timeout: 2s}\n");
    let probe = ReadyProbe {
        target: ProbeTarget::Tcp("127.0.0.1:5000".to_string()),
        interval: Duration::from_millis(250),
        timeout: Duration::from_secs(2),
    };
    assert_eq!(only_process(&text).ready, Some(probe));
}

/// `$$` is a literal `$`, and defaults apply to unset and empty variables.
#[test]
fn interpolation_in_values() {
    let text =
        "processes:\n  web:\n    command: [echo, \"$$HOME\", \"${NOPE:-d}\", \"${EMPTY:-e}\"]\n";
    assert_eq!(only_process(text).command, ["echo", "$HOME", "d", "e"]);
}

/// Errors in several processes are all reported, in file order.
#[test]
fn several_errors_in_order() {
    let text = "processes:\n  a:\n    command: [sh]\n    restart: maybe\n  b:\n    \
                stop_timeout: 10\n  c:\n    cwd: x\n    max_restarts: lots\n";
    let found = errors(text);
    let places: Vec<(usize, &str)> = found
        .iter()
        .map(|e| (e.line, e.key_path.as_str()))
        .collect();
    let expected = [
        (4, "processes.a.restart"),
        (6, "processes.b.command"),
        (6, "processes.b.stop_timeout"),
        (8, "processes.c.command"),
        (8, "processes.c.cwd"),
        (9, "processes.c.max_restarts"),
    ];
    assert_eq!(places, expected);
}

/// Interpolation errors are all reported too, before any schema check.
#[test]
fn all_interpolation_errors() {
    let text = "processes:\n  a:\n    command: [${A}, ${B}]\n    restart: ${C\n";
    let found = errors(text);
    let places: Vec<(usize, usize)> = found.iter().map(|e| (e.line, e.column)).collect();
    assert_eq!(places, [(3, 15), (3, 21), (4, 14)]);
    assert_eq!(found[1].key_path, "processes.a.command[1]");
}

/// A position after a long substitution maps to the original column.
#[test]
fn position_after_a_substitution() {
    let text =
        "processes:\n  web:\n    command: [\"${LONG}\", x]\n    env: {A: \"${LONG}\", B: [1]}\n";
    let found = errors(text);
    assert_eq!(found.len(), 1, "{found:?}");
    let place = (found[0].line, found[0].column, found[0].key_path.as_str());
    assert_eq!(place, (4, 28, "processes.web.env.B"));
}

/// A YAML error after a substitution on the same line is placed right.
#[test]
fn syntax_error_after_a_substitution() {
    let text = "processes:\n  web: {command: \"${LONG}\", restart: x: y}\n";
    let found = errors(text);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].line, found[0].column), (2, 39));
}

/// Errors about values from `${SECRET}` quote `${SECRET}`, never the value.
#[test]
fn secrets_never_reach_messages() {
    let texts = [
        with("    stop_timeout: ${SECRET}\n"),
        with("    restart: \"${SECRET}\"\n"),
        with("    cwd: /x/${SECRET}\n"),
        with("    ready: {http: \"https://${SECRET}\"}\n"),
        with("    ready: {http: \"${SECRET}\"}\n"),
        with("    ready: {tcp: \"${SECRET}\"}\n"),
        with("    stop_signal: ${SECRET}\n"),
        with("    env: {X: [${SECRET}]}\n"),
        "processes:\n  \"${SECRET} x\":\n    command: [sh]\n".to_string(),
        "processes:\n  web:\n    command: [sh]\n    ${SECRET}: 1\n".to_string(),
        "processes:\n  web:\n    command: [${SECRET}: x]\n".to_string(),
        "processes:\n  web:\n    command: \"a '${SECRET}\"\n".to_string(),
    ];
    for text in texts {
        let shown = load_text(&text).expect_err("invalid").to_string();
        assert!(!shown.contains(SECRET), "leaked in:\n{shown}");
        assert!(!shown.contains("hunter2"), "leaked in:\n{shown}");
    }
    let quoted = errors(&with("    stop_timeout: ${SECRET}\n"));
    assert!(
        quoted[0]
            .message
            .starts_with("`${SECRET}` is not a duration"),
        "{}",
        quoted[0]
    );
}

/// The summary shows env values as written and redacts secret-like names.
#[test]
fn summary_redacts_and_shows_text_as_written() {
    let text = with(
        "    command: [app, --token, \"${SECRET}\"]\n    env:\n      API_TOKEN: literal\n      \
         FROM_ENV: ${SECRET}\n      db_password: x\n      PORT: ${PORT:-1}\n",
    )
    .replace("    command: [sh]\n", "");
    let config = loaded(&text).config;
    let summary = config.summary();
    assert!(!summary.contains(SECRET), "{summary}");
    assert!(
        summary.contains(r#"["app", "--token", "${SECRET}"]"#),
        "{summary}"
    );
    assert!(summary.contains("API_TOKEN=<redacted>"), "{summary}");
    assert!(summary.contains("db_password=<redacted>"), "{summary}");
    assert!(summary.contains("FROM_ENV=${SECRET}"), "{summary}");
    assert!(summary.contains("PORT=${PORT:-1}"), "{summary}");
    let debug = format!("{config:?}");
    assert!(
        !debug.contains(SECRET) && !debug.contains("literal"),
        "{debug}"
    );
}

/// The summary lists every setting of every process.
#[test]
fn summary_lists_every_setting() {
    let text = with(
        "    ready: {tcp: \"127.0.0.1:5000\"}\n    required: false\n  \
         other:\n    command: [sh]\n    restart: never\n",
    );
    let summary = loaded(&text).config.summary();
    for expected in [
        "config: /srv/app/supervisor.yaml",
        "process web",
        "command:",
        "cwd:",
        "env:      PYTHONUNBUFFERED=1",
        "restart:  always, at most 10 restarts in 1m",
        "backoff:  100ms doubling up to 30s, reset after 10s",
        "stop:     SIGTERM to the process group, SIGKILL after 10s",
        "ready:    connect to 127.0.0.1:5000 every 100ms, each try at most 1s",
        "required: no",
        "process other",
        "restart:  never",
    ] {
        assert!(
            summary.contains(expected),
            "{expected:?} not in:\n{summary}"
        );
    }
}

/// A program not on PATH and a long stop timeout are warnings only.
#[test]
fn warnings() {
    let text = "processes:\n  web:\n    command: [no-such-program-here]\n    stop_timeout: 30s\n";
    let found = loaded(text).warnings;
    let places: Vec<(usize, usize, &str)> = found
        .iter()
        .map(|w| (w.line, w.column, w.key_path.as_str()))
        .collect();
    let expected = [
        (3, 15, "processes.web.command[0]"),
        (4, 19, "processes.web.stop_timeout"),
    ];
    assert_eq!(places, expected);
    assert!(found[0].message.contains("not found on PATH"));
    assert!(found[1].message.contains("ECS"));
    assert!(loaded(&with("    stop_timeout: 29s\n")).warnings.is_empty());
    assert!(loaded("processes:\n  w:\n    command: ./run\n")
        .warnings
        .is_empty());
}

/// The PATH of the process's own `env` is the one searched.
#[test]
fn program_search_uses_the_process_path() {
    let text = with("    env: {PATH: /nonexistent}\n");
    assert_eq!(loaded(&text).warnings.len(), 1);
}

/// The `processes:` part of PRODUCT.md's example loads to the expected spec.
#[test]
fn product_example_loads() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::create_dir_all(dir.path().join("examples/flask")).expect("folders");
    let path = dir.path().join("supervisor.yaml");
    let loaded = load_str(PRODUCT_EXAMPLE, &path, &env).expect("the example is valid");
    assert_eq!(loaded.config.path, path);
    assert_eq!(loaded.config.processes, [expected_backend(dir.path())]);
}

fn expected_backend(dir: &Path) -> ProcessSpec {
    let pairs = |items: &[(&str, &str)]| -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let env = pairs(&[("PORT", "5000"), ("PYTHONUNBUFFERED", "1")]);
    let uri = "http://127.0.0.1:5000/api/health"
        .parse()
        .expect("a valid URI");
    ProcessSpec {
        name: "backend".to_string(),
        command: vec!["python3".to_string(), "app.py".to_string()],
        cwd: Some(dir.join("examples/flask")),
        env: env.clone(),
        restart: RestartPolicy::Always,
        backoff: Backoff {
            min: Duration::from_millis(100),
            max: Duration::from_secs(30),
            reset_after: Duration::from_secs(10),
        },
        max_restarts: 10,
        restart_window: Duration::from_secs(60),
        stop_signal: Signal::SIGTERM,
        stop_timeout: Duration::from_secs(10),
        ready: Some(ReadyProbe {
            target: ProbeTarget::Http(uri),
            interval: Duration::from_millis(100),
            timeout: Duration::from_secs(1),
        }),
        required: true,
        as_written: AsWritten {
            command: vec!["python3".to_string(), "app.py".to_string()],
            env,
        },
    }
}

const PRODUCT_EXAMPLE: &str = r#"processes:
  backend:
    command: [python3, app.py]        # argv list; a string is split like a shell would, without a shell
    cwd: examples/flask
    env: { PORT: "5000" }
    restart: always                   # always | on-failure | never
    backoff: { min: 100ms, max: 30s } # doubles per consecutive failure; reset after a stable run
    max_restarts: 10                  # within restart_window; then the process has failed
    restart_window: 60s
    stop_signal: SIGTERM              # sent to the process group
    stop_timeout: 10s                 # then SIGKILL to the group
    ready:                            # until this passes, the process is starting, not ready
      http: http://127.0.0.1:5000/api/health   # or  tcp: 127.0.0.1:5000
      interval: 100ms
"#;

/// `load` reads the file; a missing file is a `Read` error with its cause.
#[test]
fn load_reads_files() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("supervisor.yaml");
    std::fs::write(&path, with("")).expect("written");
    assert_eq!(load(&path).expect("valid").config.processes.len(), 1);

    let missing = dir.path().join("missing.yaml");
    let error = load(&missing).expect_err("no such file");
    assert!(matches!(error, LoadError::Read { ref path, .. } if *path == missing));
    assert!(error.to_string().starts_with("cannot read "));
    assert!(std::error::Error::source(&error).is_some());
}

/// A file that is not UTF-8 is placed at its first bad byte.
#[test]
fn not_utf8_is_placed() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("supervisor.yaml");
    std::fs::write(&path, b"processes:\n  w\xff: 1\n").expect("written");
    let Err(LoadError::Invalid { errors }) = load(&path) else {
        panic!("not UTF-8");
    };
    assert_eq!((errors[0].line, errors[0].column), (2, 4));
}

/// A byte order mark does not shift columns.
#[test]
fn byte_order_mark_is_ignored() {
    let text = format!("\u{feff}{}", with("    restart: x\n"));
    let found = load_str(&text, config_path(), &env).expect_err("bad restart");
    let LoadError::Invalid { errors } = found else {
        panic!("invalid");
    };
    assert_eq!((errors[0].line, errors[0].column), (4, 14));
}

/// Windows line ends count as one line break.
#[test]
fn crlf_line_ends() {
    let text = with("    restart: x\n").replace('\n', "\r\n");
    let found = errors(&text);
    assert_eq!((found[0].line, found[0].column), (4, 14));
}

/// `LoadError::Invalid` prints one `file:line:column: path: message` per line.
#[test]
fn invalid_display() {
    let text = with("    restart: x\n    required: 1\n");
    let shown = load_text(&text).expect_err("invalid").to_string();
    let lines: Vec<&str> = shown.lines().collect();
    assert_eq!(lines.len(), 2);
    assert!(lines[0].starts_with("/srv/app/supervisor.yaml:4:14: processes.web.restart: "));
    assert!(lines[1].starts_with("/srv/app/supervisor.yaml:5:15: processes.web.required: "));
}

/// A tree too deep for any config is refused, not a stack overflow.
#[test]
fn deep_nesting() {
    let text = format!("processes: {}{}", "[".repeat(100_000), "]".repeat(100_000));
    let found = errors(&text);
    let message = &found[0].message;
    assert!(
        message.contains("deeper than") || message.contains("recursion limit"),
        "{message}"
    );
}

/// A NUL character is refused before parsing.
#[test]
fn nul_character() {
    assert_error("processes:\n  a\0: 1\n", 2, 4, "", "NUL character");
}

/// A config whose path has no folder resolves `cwd` against `.`.
#[test]
fn bare_file_name_resolves_against_dot() {
    let text = with("    cwd: .\n");
    let loaded = load_str(&text, Path::new("supervisor.yaml"), &env).expect("valid");
    assert_eq!(loaded.config.processes[0].cwd, Some(PathBuf::from("./.")));
}

/// A valid file to mutate in the property tests.
const VALID: &str = "processes:\n  web:\n    command: [sh, -c, \"echo ${PORT:-1}\"]\n    \
                     env: {A: \"1\"}\n    backoff: {min: 1s, max: 2s}\n    ready: {tcp: \"h:1\"}\n";

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The loader never panics on arbitrary text.
    #[test]
    fn never_panics_on_any_text(text in "\\PC*") {
        let _ = load_text(&text);
    }

    /// The loader never panics on arbitrary bytes read as text.
    #[test]
    fn never_panics_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = load_text(&text);
    }

    /// The loader never panics on text made of YAML's special characters.
    #[test]
    fn never_panics_on_yaml_soup(text in "[a-z0-9:{}\\[\\],\"'&*!|>#?$ \t\r\n\\\\-]{0,80}") {
        let _ = load_text(&text);
    }

    /// The loader never panics on a valid file with a piece cut or inserted,
    /// and every error it reports is inside the file.
    #[test]
    fn never_panics_on_damaged_files(
        at in 0usize..VALID.len(),
        cut in 0usize..8,
        insert in "[a-z0-9:{}\\[\\],\"'&*!|#$ \n-]{0,6}",
    ) {
        let end = (at + cut).min(VALID.len());
        let text = format!("{}{insert}{}", &VALID[..at], &VALID[end..]);
        if let Err(LoadError::Invalid { errors }) = load_text(&text) {
            let lines = text.split('\n').count();
            for error in errors {
                prop_assert!(error.line >= 1 && error.line <= lines, "{}", error);
                prop_assert!(error.column >= 1);
            }
        }
    }
}
