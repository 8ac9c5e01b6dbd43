//! supervise: one binary that is a container's PID 1 and process supervisor
//! (and, as it grows, the authenticating reverse proxy in front of it).
//!
//! # Layout
//!
//! - [`config`]: reads `supervisor.yaml`: environment interpolation,
//!   parsing, validation, every error with its file, line, column and key.
//! - [`supervision`]: runs the processes: spawning, reaping, restarting,
//!   probing readiness, forwarding output, stopping process groups.
//! - [`signals`]: the signals supervise handles as PID 1.
//! - [`run`]: `supervise up`: wiring and shutdown order.
//! - [`logging`]: supervise's own log, as text or JSON lines.
//! - [`cli`]: the commands and their exit codes.
//!
//! # Glossary
//!
//! - **process**: one entry under `processes:`; each run of it is a child
//!   of supervise leading its own process group.
//! - **restart policy**: when a process that exited is started again
//!   (`always`, `on-failure`, `never`), with backoff and a restart limit.
//! - **probe**: the readiness check that moves a process from starting to
//!   ready; it never restarts anything.
//! - **required**: a process whose giving up ends `supervise up`.

pub mod auth;
pub mod cli;
pub mod client;
pub mod config;
pub mod health;
pub mod logging;
pub mod metrics;
pub mod proxy;
pub mod run;
pub mod signals;
pub mod status;
pub mod supervision;
