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
use crate::status;
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
    /// Ask a running supervise whether it is healthy: exit 0 if so, 1 if
    /// not (for ECS's container health check and Docker's HEALTHCHECK).
    Health(EndpointArg),
    /// Print a running supervise's processes as a table.
    Status(EndpointArg),
}

#[derive(Debug, Args)]
pub struct EndpointArg {
    /// The health endpoint; by default built from the configuration's
    /// `proxy.listen` and `health.path`.
    #[arg(long)]
    pub url: Option<http::Uri>,

    #[command(flatten)]
    pub config: ConfigArg,
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
        Command::Health(arg) => status::health(&arg),
        Command::Status(arg) => status::status(&arg),
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

    let workers = loaded
        .config
        .proxy
        .as_ref()
        .map_or(1, |proxy| proxy.workers);
    let runtime = match build_runtime(workers) {
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

/// One thread by default: the proxy measured fastest that way on the small
/// machines supervise runs on (a Fargate task with half a vCPU), and the
/// supervisor needs no more. `proxy.workers` asks for more.
fn build_runtime(workers: usize) -> std::io::Result<tokio::runtime::Runtime> {
    if workers <= 1 {
        return tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build();
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
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

/// Prints a load error with every diagnostic; returns the exit code.
pub fn report_load_error(error: &LoadError) -> i32 {
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
