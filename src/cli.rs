//! The command line: what each `supervise` command does, and which exit
//! code it ends with.
//!
//! Exit codes: `up` exits 0 after a shutdown by signal, with a required
//! process's code when that process finished (see `run::up`), 2 for a
//! configuration or usage error and 1 when it could not run at all.
//! `check` exits 0 for a valid file and 2 otherwise.

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

use crate::config::{self, LoadError, Loaded};
use crate::logging::{self, LogFormat};
use crate::run;
use crate::supervision::output::ChildOutput;

/// Exit code for a configuration or usage error, as clap uses for usage.
pub const EXIT_CONFIG: i32 = 2;

/// Exit code when supervise could not run at all.
pub const EXIT_FAILURE: i32 = 1;

/// Runs a backend as PID 1 and serves the proxy in front of it.
#[derive(Debug, Parser)]
#[command(name = "supervise", version, about)]
pub struct Cli {
    /// Log format; by default text on a terminal and JSON lines otherwise.
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run every process in the foreground until SIGTERM or SIGINT.
    Up(ConfigArg),
    /// Validate the configuration and print what `up` would run.
    Check(ConfigArg),
}

#[derive(Debug, Args)]
pub struct ConfigArg {
    /// The configuration file.
    #[arg(
        short,
        long,
        env = "SUPERVISE_CONFIG",
        default_value = "supervisor.yaml"
    )]
    pub config: PathBuf,
}

/// Runs the parsed command line; returns the process exit code.
pub fn main(cli: Cli) -> i32 {
    let format = LogFormat::resolve(cli.log_format);
    match cli.command {
        Command::Up(arg) => up(&arg.config, format),
        Command::Check(arg) => check(&arg.config),
    }
}

fn up(path: &Path, format: LogFormat) -> i32 {
    let loaded = match config::load(path) {
        Ok(loaded) => loaded,
        Err(error) => return report_load_error(&error),
    };
    logging::init(format);
    for warning in &loaded.warnings {
        tracing::warn!(%warning, "configuration");
    }

    // One thread: the proxy measured fastest this way on the small
    // machines supervise runs on, and the supervisor needs no more.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("supervise: cannot start the async runtime: {error}");
            return EXIT_FAILURE;
        }
    };
    match runtime.block_on(run::up(loaded.config, ChildOutput::new(format))) {
        Ok(code) => code,
        Err(error) => {
            tracing::error!(error = chain(&error), "cannot run");
            EXIT_FAILURE
        }
    }
}

fn check(path: &Path) -> i32 {
    let Loaded { config, warnings } = match config::load(path) {
        Ok(loaded) => loaded,
        Err(error) => return report_load_error(&error),
    };
    print!("{}", config.summary());
    for warning in &warnings {
        println!("warning: {warning}");
    }
    println!("{}: ok", path.display());
    0
}

fn report_load_error(error: &LoadError) -> i32 {
    eprintln!("{}", chain(error));
    if let LoadError::Invalid { errors } = error {
        let plural = if errors.len() == 1 { "" } else { "s" };
        eprintln!(
            "supervise: {} error{plural} in the configuration",
            errors.len()
        );
    }
    EXIT_CONFIG
}

/// An error and its causes, as one line: `outer: cause: root cause`.
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
