//! `supervise up`: wires the parts together and owns the shutdown order.
//!
//! Start-up installs the signal handlers and the reaper before anything is
//! spawned, then starts the processes. supervise runs until a shutdown
//! signal arrives or a required process will never run again; it then
//! stops the processes in reverse start order and reports the exit code.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use nix::sys::signal::Signal;
use nix::unistd::getpid;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::auth::gate::Auth;
use crate::auth::provider::discover_with_retry;
use crate::auth::session::Sessions;
use crate::cli::chain;
use crate::config::{self, AuthSpec, Config, LoadError, ProviderSpec, ProxySpec};
use crate::health::ProcessView;
use crate::proxy::tls::{self, TlsError};
use crate::proxy::{self, Proxy, ProxyControl, Settings};
use crate::signals::{Request, Signals};
use crate::supervision::output::ChildOutput;
use crate::supervision::process::{Control, Finished};
use crate::supervision::reaper::Reaper;
use crate::supervision::state::ProcessState;
use crate::supervision::Supervisor;

/// Why `up` could not run at all.
#[derive(Debug)]
pub enum RunError {
    /// A signal handler could not be installed.
    Signals(io::Error),
    /// The proxy's listener could not be bound.
    Bind {
        address: SocketAddr,
        error: io::Error,
    },
    /// The listener's certificate or key cannot be used.
    Tls(TlsError),
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Signals(_) => f.write_str("cannot install signal handlers"),
            RunError::Bind { address, .. } => write!(f, "cannot listen on {address}"),
            RunError::Tls(error) => error.fmt(f),
        }
    }
}

impl std::error::Error for RunError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RunError::Signals(error) | RunError::Bind { error, .. } => Some(error),
            RunError::Tls(error) => error.source(),
        }
    }
}

/// Why supervise is shutting down.
#[derive(Debug)]
enum Reason {
    Signal(Signal),
    Finished(Finished),
}

/// Runs everything in `config` until shutdown; returns the exit code.
///
/// The code is 0 after a shutdown by signal. When a required process
/// finished, it is that process's last exit code (128 + signal number for a
/// death by signal), except that giving up on a process whose last run
/// exited 0 gives 1: giving up is a failure whatever the last run said.
pub async fn up(config: Config, output: ChildOutput) -> Result<i32, RunError> {
    let mut signals = Signals::install().map_err(RunError::Signals)?;
    let reaper = Reaper::start().map_err(RunError::Signals)?;
    become_reaper();
    let tls = match config.proxy.as_ref().and_then(|proxy| proxy.tls.as_ref()) {
        Some(spec) => Some(tls::acceptor(spec).map_err(RunError::Tls)?),
        None => None,
    };
    let listener = match &config.proxy {
        Some(spec) => Some(bind(spec).await?),
        None => None,
    };

    tracing::info!(config = %config.path.display(), processes = config.processes.len(),
        "starting");
    let supervisor = Supervisor::start(&config.processes, &reaper, output);
    let (draining, drain_rx) = watch::channel(false);
    let mut control = None;
    let proxy = listener.zip(config.proxy.as_ref()).map(|(listener, spec)| {
        let auth = config.auth.as_ref().map(|auth| start_auth(auth, spec));
        let settings = Settings {
            spec,
            health: &config.health,
            processes: process_views(&supervisor),
            auth,
        };
        let (proxy, proxy_control) = Proxy::new(listener, settings, drain_rx.clone(), tls);
        control = Some(proxy_control);
        tokio::spawn(proxy.run(drain_rx))
    });

    let mut running = Running {
        config,
        supervisor,
        control,
    };
    let reason = running.wait_for_shutdown(&mut signals).await;
    tracing::info!(reason = %describe(&reason), "shutting down");

    draining.send_replace(true);
    if let Some(proxy) = proxy {
        drain(proxy, &mut signals).await;
    }
    stop(&running.supervisor, &mut signals).await;
    let code = exit_code(&reason);
    tracing::info!(code, "stopped");
    Ok(code)
}

/// What `up` runs, and what a reload changes.
struct Running {
    config: Config,
    supervisor: Supervisor,
    /// `None` when the file has no proxy.
    control: Option<ProxyControl>,
}

impl Running {
    /// Passes signals on and reloads on SIGHUP, until a signal asks for a
    /// shutdown or a required process finishes.
    async fn wait_for_shutdown(&mut self, signals: &mut Signals) -> Reason {
        loop {
            tokio::select! {
                request = signals.recv() => match request {
                    Request::Shutdown(signal) => return Reason::Signal(signal),
                    Request::Forward(signal) => forward(&self.supervisor, signal),
                    Request::Reload => self.reload().await,
                },
                finished = self.supervisor.next_finished() => {
                    if finished.required {
                        return Reason::Finished(finished);
                    }
                    tracing::warn!(process = %finished.process, state = %finished.state,
                        "a process that is not required will not run again; carrying on");
                }
            }
        }
    }

    /// Reads the file again and applies it: changed processes restart,
    /// the proxy's routes, upstreams and sign-in are swapped without
    /// closing connections. An invalid file changes nothing.
    async fn reload(&mut self) {
        let path = self.config.path.clone();
        tracing::info!(config = %path.display(), "reloading the configuration");
        let new = match config::load(&path) {
            Ok(loaded) => {
                for warning in &loaded.warnings {
                    tracing::warn!(%warning, "configuration");
                }
                loaded.config
            }
            Err(error) => return refuse_reload(&error),
        };
        if let Some(setting) = needs_restart(&self.config, &new) {
            tracing::error!(setting,
                "reload refused: this setting is read only at start; restart supervise to change it");
            return;
        }

        self.supervisor.apply(&new.processes).await;
        if let (Some(control), Some(spec)) = (&self.control, &new.proxy) {
            let auth = match (&new.auth, control.auth()) {
                (Some(wanted), Some(current)) if *wanted == current.spec => Some(current),
                (Some(wanted), _) => Some(start_auth(wanted, spec)),
                (None, _) => None,
            };
            let processes = process_views(&self.supervisor);
            control.replace(Settings {
                spec,
                health: &new.health,
                processes,
                auth,
            });
        }
        self.config = new;
        tracing::info!("configuration reloaded");
    }
}

/// Logs why a reloaded file was refused, every error of it.
fn refuse_reload(error: &LoadError) {
    match error {
        LoadError::Invalid { errors } => {
            for diagnostic in errors {
                tracing::error!(error = %diagnostic, "configuration");
            }
        }
        LoadError::Read { .. } => tracing::error!(error = chain(error), "configuration"),
    }
    tracing::error!("reload refused; the running configuration stays");
}

/// The first setting that differs between `old` and `new` but is used only
/// at start: the listener and what its connections are built with.
fn needs_restart(old: &Config, new: &Config) -> Option<&'static str> {
    let (old, new) = match (&old.proxy, &new.proxy) {
        (None, None) => return None,
        (Some(old), Some(new)) => (old, new),
        _ => return Some("proxy"),
    };
    let fixed = [
        ("proxy.listen", old.listen == new.listen),
        ("proxy.tls", old.tls == new.tls),
        ("proxy.workers", old.workers == new.workers),
        (
            "proxy.max_header_bytes",
            old.max_header_bytes == new.max_header_bytes,
        ),
        (
            "proxy.timeouts.client_header",
            old.timeouts.client_header == new.timeouts.client_header,
        ),
        (
            "proxy.timeouts.client_idle",
            old.timeouts.client_idle == new.timeouts.client_idle,
        ),
        (
            "proxy.drain_timeout",
            old.drain_timeout == new.drain_timeout,
        ),
    ];
    fixed.iter().find(|(_, same)| !same).map(|(name, _)| *name)
}

async fn bind(spec: &ProxySpec) -> Result<TcpListener, RunError> {
    let address = spec.listen;
    proxy::bind(spec)
        .await
        .map_err(|error| RunError::Bind { address, error })
}

/// Sign-in state for the proxy; discovery of the provider runs in the
/// background, retrying, so a provider that is down at start-up degrades
/// health instead of stopping supervise.
fn start_auth(spec: &AuthSpec, proxy: &ProxySpec) -> Arc<Auth> {
    // Secure cookies everywhere but on a plain-HTTP loopback listener,
    // where a browser would refuse to send them back.
    let secure = proxy.tls.is_some() || !proxy.listen.ip().is_loopback();
    let sessions = Sessions::new(&spec.session, secure);
    let (found, provider) = watch::channel(None);
    if spec.provider != ProviderSpec::Dev {
        tokio::spawn(discover_with_retry(spec.clone(), found));
    }
    Arc::new(Auth {
        spec: spec.clone(),
        sessions,
        provider,
        signed_in: AtomicU64::new(0),
        sign_in_failed: AtomicU64::new(0),
    })
}

fn process_views(supervisor: &Supervisor) -> Vec<ProcessView> {
    let views = supervisor.processes().iter().map(|process| ProcessView {
        name: process.name().to_owned(),
        required: process.required(),
        status: process.status(),
    });
    views.collect()
}

/// Waits for the proxy to finish draining; a second shutdown signal cuts
/// the drain short.
async fn drain(proxy: JoinHandle<()>, signals: &mut Signals) {
    let mut proxy = pin!(proxy);
    loop {
        tokio::select! {
            _ = &mut proxy => return,
            request = signals.recv() => match request {
                Request::Shutdown(signal) => {
                    tracing::warn!(signal = signal.as_str(), "second shutdown signal; not draining");
                    return;
                }
                Request::Forward(_) => {}
                Request::Reload => tracing::warn!("SIGHUP while shutting down; not reloading"),
            },
        }
    }
}

/// Stops every process; a second shutdown signal kills them at once.
async fn stop(supervisor: &Supervisor, signals: &mut Signals) {
    let mut stopping = pin!(supervisor.stop_all());
    loop {
        tokio::select! {
            () = &mut stopping => return,
            request = signals.recv() => match request {
                Request::Shutdown(signal) => {
                    tracing::warn!(signal = signal.as_str(),
                        "second shutdown signal; killing every process group");
                    supervisor.send_all(Control::Kill);
                }
                Request::Forward(signal) => forward(supervisor, signal),
                Request::Reload => tracing::warn!("SIGHUP while shutting down; not reloading"),
            },
        }
    }
}

fn forward(supervisor: &Supervisor, signal: Signal) {
    tracing::info!(
        signal = signal.as_str(),
        "passing signal on to every process"
    );
    supervisor.send_all(Control::Forward(signal));
}

/// Makes sure orphans in the process tree are reaped by supervise: as
/// PID 1 it gets them anyway; otherwise it asks to be a child subreaper.
fn become_reaper() {
    if getpid().as_raw() == 1 {
        tracing::info!("running as PID 1; reaping orphans");
        return;
    }
    match nix::sys::prctl::set_child_subreaper(true) {
        Ok(()) => tracing::debug!("prctl(PR_SET_CHILD_SUBREAPER) ok; reaping orphans"),
        Err(errno) => tracing::warn!(error = %errno,
            "prctl(PR_SET_CHILD_SUBREAPER) failed; orphans go to init instead, ok to proceed"),
    }
}

fn describe(reason: &Reason) -> String {
    match reason {
        Reason::Signal(signal) => format!("received {}", signal.as_str()),
        Reason::Finished(f) if f.state == ProcessState::Failed => {
            format!(
                "required process {} failed (last run: {})",
                f.process, f.status
            )
        }
        Reason::Finished(f) => {
            format!(
                "required process {} exited ({}) and is not restarted",
                f.process, f.status
            )
        }
    }
}

fn exit_code(reason: &Reason) -> i32 {
    match reason {
        Reason::Signal(_) => 0,
        Reason::Finished(f) if f.state == ProcessState::Failed && f.status.success() => 1,
        Reason::Finished(f) => f.status.exit_code(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::path::Path;

    /// A file with `proxy_extra` keys; `listen` is 127.0.0.1:0 unless they
    /// set it.
    fn config(proxy_extra: &str) -> Config {
        let listen = match proxy_extra.contains("listen:") {
            true => "",
            false => "  listen: 127.0.0.1:0\n",
        };
        let text = format!(
            "processes:
  web:
    command: [sleep, '1000']
proxy:
{listen}{proxy_extra}  upstreams:
    web: {{ url: 'http://127.0.0.1:5000' }}
  routes:
    - {{ path: /*, upstream: web }}
"
        );
        crate::config::load_str(&text, Path::new("supervisor.yaml"), &|_| None)
            .expect("a valid file")
            .config
    }

    /// A reload that changes what connections are built with is refused
    /// with the setting's name; one that changes only routes or the
    /// upstream-side timeouts is not.
    #[test]
    fn settings_read_only_at_start_refuse_a_reload() {
        let old = config("");
        let cases = [
            ("  listen: 127.0.0.1:1\n", Some("proxy.listen")),
            ("  workers: 2\n", Some("proxy.workers")),
            (
                "  timeouts: { client_header: 1s }\n",
                Some("proxy.timeouts.client_header"),
            ),
            (
                "  timeouts: { client_idle: 1s }\n",
                Some("proxy.timeouts.client_idle"),
            ),
            ("  drain_timeout: 1s\n", Some("proxy.drain_timeout")),
            (
                "  timeouts: { connect: 1s, response_header: 2s, idle: 3s }\n",
                None,
            ),
            ("  retry_window: 1s\n", None),
        ];
        for (extra, expected) in cases {
            let new = config(extra);
            assert_eq!(needs_restart(&old, &new), expected, "{extra}");
        }
    }
}
