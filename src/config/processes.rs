//! The `processes:` section: each entry checked and read into a
//! [`ProcessSpec`], with the defaults of the product contract filled in.
//!
//! Every setting of every process is read even after one fails, so one
//! run reports all of them. Two things are warnings rather than errors
//! because the file may be right for another machine: a program that is
//! not on PATH here, and a `stop_timeout` that ECS would cut short.
//! The `ready:` probe is read by the sibling module `ready`.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::duration;
use super::error::Report;
use super::fields::{
    boolean, check_name, count, duration, existing_path, expected, mapping, positive_duration,
    quoted, text, PathKind, Section,
};
use super::interpolate::is_variable_name;
use super::ready;
use super::scalar::{Kind, Scalar};
use super::types::{AsWritten, Backoff, ProcessSpec, RestartPolicy};
use super::yaml::{child_path, item_path, Entry, Node, NodeKind};

const KEYS: [&str; 11] = [
    "command",
    "cwd",
    "env",
    "restart",
    "backoff",
    "max_restarts",
    "restart_window",
    "stop_signal",
    "stop_timeout",
    "ready",
    "required",
];
const BACKOFF_KEYS: [&str; 3] = ["min", "max", "reset_after"];

const DEFAULT_BACKOFF: Backoff = Backoff {
    min: Duration::from_millis(100),
    max: Duration::from_secs(30),
    reset_after: Duration::from_secs(10),
};
const DEFAULT_MAX_RESTARTS: u32 = 10;
const DEFAULT_RESTART_WINDOW: Duration = Duration::from_secs(60);
const DEFAULT_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// ECS's default `stopTimeout`: after it the task is SIGKILLed, so a
/// longer `stop_timeout` would never run out.
const ECS_STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Where a child looks for its program when the environment has no PATH:
/// glibc's `execvp` default.
const DEFAULT_SEARCH_PATH: &str = "/bin:/usr/bin";

/// What reading processes needs from outside the file.
pub(super) struct Context<'a> {
    /// The config file's folder, which relative `cwd`s start from.
    pub(super) base_dir: &'a Path,
    /// supervise's own PATH, which children inherit unless `env` sets one.
    pub(super) search_path: Option<String>,
}

/// Reads the value of `processes:`, a non-empty mapping of names to
/// settings; only the processes without errors are returned.
pub(super) fn read(
    node: &Node,
    path: &str,
    context: &Context,
    report: &mut Report,
) -> Vec<ProcessSpec> {
    let is_empty = match &node.kind {
        NodeKind::Map(entries) => entries.is_empty(),
        NodeKind::Scalar(scalar) => scalar.kind() == Kind::Null,
        NodeKind::List(_) | NodeKind::Reported => false,
    };
    if is_empty {
        report.error(node.at, path, "`processes` must list at least one process");
        return Vec::new();
    }
    let what = "a mapping of process names to their settings";
    let Some(entries) = mapping(node, path, what, report) else {
        return Vec::new();
    };
    let read_one = |entry| process(entry, path, context, report);
    entries.iter().filter_map(read_one).collect()
}

/// The names under `processes:`, whether or not their settings are
/// valid: another section may name a process that has errors of its own,
/// and should not get a second error for it.
pub(super) fn names(node: &Node) -> Vec<String> {
    match &node.kind {
        NodeKind::Map(entries) => entries.iter().map(|e| e.key.value.clone()).collect(),
        NodeKind::Scalar(_) | NodeKind::List(_) | NodeKind::Reported => Vec::new(),
    }
}

fn process(
    entry: &Entry,
    parent: &str,
    context: &Context,
    report: &mut Report,
) -> Option<ProcessSpec> {
    let path = child_path(parent, entry.key.shown());
    check_name(entry, &path, "process", report);
    let what = "a mapping of settings with at least `command`";
    let section = Section::open(&entry.value, &path, &KEYS, what, report)?;
    spec(entry.key.value.clone(), &section, context, report)
}

/// Reads every setting, then builds the spec if all of them were valid.
fn spec(
    name: String,
    section: &Section,
    context: &Context,
    report: &mut Report,
) -> Option<ProcessSpec> {
    let command = command(section, report);
    let cwd = section.read_or("cwd", None, report, |node, path, report| {
        existing_path(node, path, context.base_dir, PathKind::Directory, report).map(Some)
    });
    let env = section.read_or("env", Env::default(), report, env);
    let restart = section.read_or("restart", RestartPolicy::Always, report, restart);
    let backoff = section.read_or("backoff", DEFAULT_BACKOFF, report, backoff);
    let max_restarts = section.read_or("max_restarts", DEFAULT_MAX_RESTARTS, report, count);
    let window = section.read_or(
        "restart_window",
        DEFAULT_RESTART_WINDOW,
        report,
        positive_duration,
    );
    let stop_signal = section.read_or("stop_signal", Signal::SIGTERM, report, signal);
    let stop_timeout = section.read_or("stop_timeout", DEFAULT_STOP_TIMEOUT, report, stop_timeout);
    let ready = section.read_or("ready", None, report, |node, path, report| {
        ready::read(node, path, report).map(Some)
    });
    let required = section.read_or("required", true, report, boolean);

    let (command, env) = (command?, with_unbuffered_python(env?));
    warn_if_not_on_path(&command, &env, context, report);
    Some(ProcessSpec {
        name,
        command: command.argv,
        cwd: cwd?,
        env: env.values,
        restart: restart?,
        backoff: backoff?,
        max_restarts: max_restarts?,
        restart_window: window?,
        stop_signal: stop_signal?,
        stop_timeout: stop_timeout?,
        ready: ready?,
        required: required?,
        as_written: AsWritten {
            command: command.written,
            env: env.written,
        },
    })
}

/// An argv and, word for word, how the file writes it.
struct Command {
    argv: Vec<String>,
    written: Vec<String>,
    /// Where the program name is, for the PATH warning.
    program_at: usize,
    program_path: String,
}

fn command(section: &Section, report: &mut Report) -> Option<Command> {
    let Some((node, path)) = section.get("command") else {
        section.missing("command", report);
        return None;
    };
    match &node.kind {
        NodeKind::List(items) => command_list(items, node.at, &path, report),
        NodeKind::Scalar(scalar) if scalar.kind() != Kind::Null => {
            command_line(scalar, node.at, &path, report)
        }
        NodeKind::Reported => None,
        NodeKind::Scalar(_) | NodeKind::Map(_) => {
            let what = "a list of strings or a command line";
            report.error(node.at, &path, expected(what, node));
            None
        }
    }
}

/// `command: [python3, app.py]`: each item is one word, taken as written
/// even when YAML reads it as a number (`[sleep, 10]`).
fn command_list(items: &[Node], at: usize, path: &str, report: &mut Report) -> Option<Command> {
    let Some(first) = items.first() else {
        report.error(at, path, "the command is empty");
        return None;
    };
    let mut words: Vec<Option<&Scalar>> = Vec::new();
    for (index, item) in items.iter().enumerate() {
        let item_path = item_path(path, index);
        words.push(
            text(item, &item_path, "a string", report)
                .filter(|word| check_word(&word.value, item.at, &item_path, index == 0, report)),
        );
    }
    let words: Vec<&Scalar> = words.into_iter().collect::<Option<_>>()?;
    Some(Command {
        argv: words.iter().map(|word| word.value.clone()).collect(),
        written: words.iter().map(|word| word.written.clone()).collect(),
        program_at: first.at,
        program_path: item_path(path, 0),
    })
}

/// `command: python3 app.py`: split into words as a POSIX shell would,
/// quotes and backslashes included, without running one.
fn command_line(scalar: &Scalar, at: usize, path: &str, report: &mut Report) -> Option<Command> {
    let Some(argv) = shlex::split(&scalar.value) else {
        let message = format!(
            "{} has an unbalanced quote or ends in a backslash; quote words as in a POSIX shell",
            quoted(scalar.shown())
        );
        report.error(at, path, message);
        return None;
    };
    let Some(program) = argv.first() else {
        report.error(at, path, "the command is empty");
        return None;
    };
    let valid = check_word(program, at, path, true, report)
        && argv
            .iter()
            .skip(1)
            .all(|word| check_word(word, at, path, false, report));
    let written = shlex::split(&scalar.written).unwrap_or_else(|| vec![scalar.written.clone()]);
    let program_path = path.to_string();
    valid.then_some(Command {
        argv,
        written,
        program_at: at,
        program_path,
    })
}

/// A word must be one C string; the program name must not be empty.
fn check_word(word: &str, at: usize, path: &str, is_program: bool, report: &mut Report) -> bool {
    let problem = if word.contains('\0') {
        "contains a NUL character, which no argument can hold"
    } else if is_program && word.is_empty() {
        "the program name is empty"
    } else {
        return true;
    };
    report.error(at, path, problem);
    false
}

/// `env:` values, and the same entries as written.
#[derive(Default)]
struct Env {
    values: Vec<(String, String)>,
    written: Vec<(String, String)>,
}

fn env(node: &Node, path: &str, report: &mut Report) -> Option<Env> {
    let what = "a mapping of variable names to values";
    let entries = mapping(node, path, what, report)?;
    let mut env = Env::default();
    let mut valid = true;
    for entry in entries {
        valid &= env_entry(entry, path, &mut env, report);
    }
    valid.then_some(env)
}

/// One `NAME: value`; numbers and booleans are taken as written.
fn env_entry(entry: &Entry, parent: &str, env: &mut Env, report: &mut Report) -> bool {
    let path = child_path(parent, entry.key.shown());
    let name_ok = is_variable_name(&entry.key.value);
    if !name_ok {
        let message = format!(
            "{} is not a valid variable name (letters, digits and `_`, not starting with a digit)",
            quoted(entry.key.shown())
        );
        report.error(entry.key_at, &path, message);
    }
    let what = "a string, number or boolean";
    let Some(value) = text(&entry.value, &path, what, report) else {
        return false;
    };
    if value.value.contains('\0') {
        let message = "contains a NUL character, which no variable can hold";
        report.error(entry.value.at, &path, message);
        return false;
    }
    env.values
        .push((entry.key.value.clone(), value.value.clone()));
    env.written
        .push((entry.key.written.clone(), value.written.clone()));
    name_ok
}

/// Python buffers stdout when it is not a terminal, which would hold log
/// lines back until the buffer fills; the file can still say otherwise.
fn with_unbuffered_python(mut env: Env) -> Env {
    const NAME: &str = "PYTHONUNBUFFERED";
    if !env.values.iter().any(|(name, _)| name == NAME) {
        env.values.push((NAME.to_string(), "1".to_string()));
        env.written.push((NAME.to_string(), "1".to_string()));
    }
    env
}

fn restart(node: &Node, path: &str, report: &mut Report) -> Option<RestartPolicy> {
    const POLICIES: &str = "always, on-failure or never";
    let scalar = text(node, path, POLICIES, report)?;
    match scalar.value.as_str() {
        "always" => Some(RestartPolicy::Always),
        "on-failure" => Some(RestartPolicy::OnFailure),
        "never" => Some(RestartPolicy::Never),
        _ => {
            let shown = quoted(scalar.shown());
            report.error(
                node.at,
                path,
                format!("{shown} is not a restart policy; expected {POLICIES}"),
            );
            None
        }
    }
}

fn backoff(node: &Node, path: &str, report: &mut Report) -> Option<Backoff> {
    let what = "a mapping with `min`, `max` and `reset_after`";
    let section = Section::open(node, path, &BACKOFF_KEYS, what, report)?;
    let defaults = DEFAULT_BACKOFF;
    let min = section.read_or("min", defaults.min, report, positive_duration);
    let max = section.read_or("max", defaults.max, report, duration);
    let reset_after = section.read_or("reset_after", defaults.reset_after, report, duration);
    let (min, max) = (min?, max?);
    if min > max {
        report_min_over_max(&section, report);
        return None;
    }
    let reset_after = reset_after?;
    Some(Backoff {
        min,
        max,
        reset_after,
    })
}

/// Placed at `min` when the file sets it, else at `max`. The values are
/// quoted as written: either may come from the environment.
fn report_min_over_max(section: &Section, report: &mut Report) {
    let shown = |key: &str, default: Duration| match section.get(key) {
        Some((node, _)) => node_shown(node),
        None => format!("{} (the default)", duration::format(default)),
    };
    let min = shown("min", DEFAULT_BACKOFF.min);
    let max = shown("max", DEFAULT_BACKOFF.max);
    let message = format!("min {min} is greater than max {max}");
    if let Some((node, path)) = section.get("min").or_else(|| section.get("max")) {
        report.error(node.at, &path, message);
    }
}

/// A signal name with or without `SIG`, in any case: `SIGTERM`, `term`.
fn signal(node: &Node, path: &str, report: &mut Report) -> Option<Signal> {
    let scalar = text(node, path, "a signal name like SIGTERM", report)?;
    let upper = scalar.value.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    let problem = match name.parse::<Signal>() {
        Ok(Signal::SIGSTOP) => {
            "SIGSTOP pauses a process instead of stopping it; use SIGTERM, SIGINT or SIGQUIT"
                .to_string()
        }
        Ok(signal) => return Some(signal),
        Err(_) => format!(
            "{} is not a signal name; expected one like SIGTERM, SIGINT or SIGQUIT",
            quoted(scalar.shown())
        ),
    };
    report.error(node.at, path, problem);
    None
}

/// A duration, with a warning when ECS would cut it short.
fn stop_timeout(node: &Node, path: &str, report: &mut Report) -> Option<Duration> {
    let value = duration(node, path, report)?;
    if value >= ECS_STOP_TIMEOUT {
        let message = format!(
            "{} is 30s or more, but ECS SIGKILLs a task 30s after stopping it unless \
             its stopTimeout is raised, so supervise may be killed before the process stops",
            node_shown(node)
        );
        report.warn(node.at, path, message);
    }
    Some(value)
}

/// A scalar node as messages may quote it.
fn node_shown(node: &Node) -> String {
    match &node.kind {
        NodeKind::Scalar(scalar) => quoted(scalar.shown()),
        _ => String::from("the value"),
    }
}

/// A program named without a `/` is looked up on the PATH the child will
/// have: its own `env: PATH` if set, else supervise's.
fn warn_if_not_on_path(command: &Command, env: &Env, context: &Context, report: &mut Report) {
    let Some(program) = command.argv.first().filter(|p| !p.contains('/')) else {
        return;
    };
    let own_path = env.values.iter().find(|(name, _)| name == "PATH");
    let search_path = own_path
        .map(|(_, value)| value)
        .or(context.search_path.as_ref())
        .map_or(DEFAULT_SEARCH_PATH, String::as_str);
    if std::env::split_paths(search_path).any(|dir| is_executable(&dir.join(program))) {
        return;
    }
    let written = command.written.first().map_or("", String::as_str);
    let message = format!(
        "program {} is not found on PATH; write its full path, or install it",
        quoted(written)
    );
    report.warn(command.program_at, &command.program_path, message);
}

fn is_executable(path: &Path) -> bool {
    let metadata = std::fs::metadata(path);
    metadata.is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}
