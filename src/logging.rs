//! supervise's own log: text for people at a terminal, JSON lines for
//! log collectors (CloudWatch through awslogs, say).
//!
//! The filter comes from `SUPERVISE_LOG` (`info` when unset), in
//! `tracing_subscriber`'s `EnvFilter` syntax. Child output does not pass
//! through here: see `supervision::output`, which writes it in the same
//! format but is never filtered.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// The environment variable holding the log filter.
pub const FILTER_VAR: &str = "SUPERVISE_LOG";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// `chosen`, or text when stdout is a terminal and JSON otherwise.
    pub fn resolve(chosen: Option<LogFormat>) -> LogFormat {
        chosen.unwrap_or_else(|| match std::io::stdout().is_terminal() {
            true => LogFormat::Text,
            false => LogFormat::Json,
        })
    }
}

/// Installs the global subscriber. A bad filter falls back to `info` with a
/// warning rather than losing the log.
pub fn init(format: LogFormat) {
    let (filter, bad_filter) = match EnvFilter::try_from_env(FILTER_VAR) {
        Ok(filter) => (filter, None),
        Err(error) => (EnvFilter::new("info"), has_filter().then_some(error)),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stdout().is_terminal());
    match format {
        LogFormat::Text => builder.with_target(false).init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .init(),
    }
    if let Some(error) = bad_filter {
        tracing::warn!(%error, "{FILTER_VAR} is not a valid filter; logging at info");
    }
}

fn has_filter() -> bool {
    std::env::var_os(FILTER_VAR).is_some_and(|v| !v.is_empty())
}
