//! supervise: one binary that is a container's PID 1, its process
//! supervisor, and the authenticating reverse proxy in front of the
//! processes it runs.
//!
//! # Layout
//!
//! - [`config`]: reads `supervisor.yaml`: environment interpolation,
//!   parsing, validation, every error with its file, line, column and key.
//! - [`supervision`]: runs the processes: spawning, reaping, restarting,
//!   probing readiness, forwarding output, stopping process groups.
//! - [`proxy`]: the listener, routing on the normalised path, forwarding
//!   to upstreams (holding requests while their process restarts), drain.
//! - [`auth`]: sign-in with a provider, sessions, bearer tokens, allow
//!   rules and the identity headers the upstream is told.
//! - [`health`] and [`metrics`]: read-only views of the shared state,
//!   served on the proxy's listener.
//! - [`signals`]: the signals supervise handles as PID 1.
//! - [`run`]: `supervise up`: wiring, reload on SIGHUP, shutdown order.
//! - [`status`] and [`client`]: `supervise health` and `status`, clients of
//!   a running instance, and the small HTTP client the probes share.
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
//! - **listener**: the one address the proxy serves, plain or TLS.
//! - **route**: a path (exact, or a prefix ending in `*`) and what to do
//!   with requests that match it: answer, redirect or forward.
//! - **upstream**: where a route forwards to, optionally linked to the
//!   process that serves it.
//! - **provider**: the OpenID Connect issuer users sign in with (Azure AD,
//!   any other, or the local `dev` page).
//! - **session**: the signed cookie that carries a signed-in identity.
//! - **identity**: who a request is from (subject, email, name, roles,
//!   groups), from a session or a bearer token.

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
