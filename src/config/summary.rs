//! `Config::summary`: what `supervise check` prints about a valid file.
//!
//! Values from the environment never appear: the command and `env` are
//! shown as the file writes them (`${TOKEN}`, not the token), and an
//! `env` value whose name suggests a secret is shown as `<redacted>` even
//! when the file spells it out. The working directory and the readiness
//! target are shown resolved, since what they point at is what matters
//! when checking a file, and neither is a place for a secret.

use super::duration::format as duration;
use super::types::{Config, ProbeTarget, ProcessSpec, ReadyProbe, RestartPolicy};

/// An `env` name holding any of these, in any case, is redacted.
const SECRET_WORDS: [&str; 7] = [
    "SECRET",
    "PASSWORD",
    "PASSWD",
    "TOKEN",
    "KEY",
    "CREDENTIAL",
    "PRIVATE",
];

impl Config {
    /// A listing of every process with everything it will run with, one
    /// setting per line, for `supervise check`; safe to print.
    pub fn summary(&self) -> String {
        let mut lines = vec![format!("config: {}", self.path.display())];
        for process in &self.processes {
            lines.push(String::new());
            process_lines(process, &mut lines);
        }
        lines.push(String::new());
        lines.join("\n")
    }
}

fn process_lines(process: &ProcessSpec, lines: &mut Vec<String>) {
    lines.push(format!("process {}", process.name));
    let cwd = process.cwd.as_ref().map(|cwd| cwd.display().to_string());
    let mut field = |label: &str, value: String| lines.push(format!("  {label:<10}{value}"));

    field("command:", format!("{:?}", process.as_written.command));
    field(
        "cwd:",
        cwd.unwrap_or_else(|| "(supervise's own)".to_string()),
    );
    for (index, (name, value)) in process.as_written.env.iter().enumerate() {
        let label = if index == 0 { "env:" } else { "" };
        field(label, format!("{name}={}", env_value(name, value)));
    }
    field("restart:", restart(process));
    field("backoff:", backoff(process));
    field("stop:", stop(process));
    field(
        "ready:",
        process.ready.as_ref().map_or_else(not_probed, ready),
    );
    field("required:", required(process.required).to_string());
}

fn env_value(name: &str, value: &str) -> String {
    let upper = name.to_ascii_uppercase();
    if SECRET_WORDS.iter().any(|word| upper.contains(word)) {
        return "<redacted>".to_string();
    }
    value.escape_debug().to_string()
}

fn restart(process: &ProcessSpec) -> String {
    let policy = match process.restart {
        RestartPolicy::Always => "always",
        RestartPolicy::OnFailure => "on-failure",
        RestartPolicy::Never => return "never".to_string(),
    };
    format!(
        "{policy}, at most {} restarts in {}, then the process has failed",
        process.max_restarts,
        duration(process.restart_window)
    )
}

fn backoff(process: &ProcessSpec) -> String {
    let backoff = &process.backoff;
    format!(
        "{} doubling up to {}, reset after {} of running",
        duration(backoff.min),
        duration(backoff.max),
        duration(backoff.reset_after)
    )
}

fn stop(process: &ProcessSpec) -> String {
    let signal = process.stop_signal.as_str();
    let timeout = duration(process.stop_timeout);
    format!("{signal} to the process group, SIGKILL after {timeout}")
}

fn ready(probe: &ReadyProbe) -> String {
    let target = match &probe.target {
        ProbeTarget::Http(uri) => format!("GET {uri}"),
        ProbeTarget::Tcp(address) => format!("connect to {address}"),
    };
    let (interval, timeout) = (duration(probe.interval), duration(probe.timeout));
    format!("{target} every {interval}, each try at most {timeout}")
}

fn not_probed() -> String {
    "(no probe: ready once started)".to_string()
}

fn required(required: bool) -> &'static str {
    if required {
        "yes, giving up on it ends supervise"
    } else {
        "no"
    }
}
