//! The health report: what `GET /healthz` answers and `supervise health`
//! and `supervise status` read.
//!
//! It is a read-only view of the processes' published states, the
//! upstreams' readiness and whether supervise is draining. The overall
//! status is healthy (200) when every required process is ready and
//! supervise is not shutting down, and unhealthy (503) otherwise, so the
//! load balancer stops sending traffic to a task that is stopping.

use std::sync::Arc;

use http::{Response, StatusCode};
use serde_json::{json, Value};
use tokio::sync::watch;

use crate::auth::provider::Provider;
use crate::proxy::body::ProxyBody;
use crate::proxy::error::answer;
use crate::proxy::forward::Upstream;
use crate::supervision::state::{ProcessState, ProcessStatus};

/// One process as health sees it.
#[derive(Debug, Clone)]
pub struct ProcessView {
    pub name: String,
    pub required: bool,
    pub status: watch::Receiver<ProcessStatus>,
}

/// Everything the health report is made from.
#[derive(Debug, Clone)]
pub struct HealthView {
    pub processes: Vec<ProcessView>,
    pub upstreams: Vec<(Arc<Upstream>, Option<String>)>,
    pub draining: watch::Receiver<bool>,
    /// The identity provider, when sign-in is configured; `None` inside
    /// until discovery succeeds.
    pub provider: Option<watch::Receiver<Option<Arc<Provider>>>>,
}

impl HealthView {
    /// Whether supervise is healthy, and the report as JSON.
    pub fn report(&self) -> (bool, Value) {
        let draining = *self.draining.borrow();
        let processes: Vec<Value> = self.processes.iter().map(process_json).collect();
        let ready = self
            .processes
            .iter()
            .filter(|p| p.required)
            .all(|p| p.status.borrow().state == ProcessState::Ready);
        let upstreams: Vec<Value> = self
            .upstreams
            .iter()
            .map(|(upstream, process)| {
                json!({ "name": &*upstream.name, "process": process, "ready": upstream.ready() })
            })
            .collect();

        // Keys not loaded degrade the report but keep it 200: every task
        // shares the provider, so failing health on its outage would make
        // the load balancer drop them all while sessions still work.
        let keys = self
            .provider
            .as_ref()
            .map(|p| p.borrow().as_ref().is_some_and(|p| p.keys_loaded()));
        let healthy = ready && !draining;
        let status = match (draining, ready, keys) {
            (true, _, _) => "draining",
            (false, false, _) => "unavailable",
            (false, true, Some(false)) => "degraded",
            (false, true, _) => "ok",
        };
        let mut report =
            json!({ "status": status, "processes": processes, "upstreams": upstreams });
        if let Some(keys_loaded) = keys {
            report["identity_provider"] = json!({ "keys_loaded": keys_loaded });
        }
        (healthy, report)
    }

    /// The HTTP answer: the report, with 200 or 503.
    pub fn response(&self) -> Response<ProxyBody> {
        let (healthy, report) = self.report();
        let status = match healthy {
            true => StatusCode::OK,
            false => StatusCode::SERVICE_UNAVAILABLE,
        };
        answer(
            status,
            "application/json",
            format!(
                "{report}
"
            ),
        )
    }
}

fn process_json(process: &ProcessView) -> Value {
    let status = process.status.borrow();
    let uptime = status
        .started
        .map(|started| started.elapsed().as_secs_f64());
    json!({
        "name": process.name,
        "state": status.state.name(),
        "pid": status.pid,
        "restarts": status.restarts,
        "uptime_seconds": uptime,
        "last_exit": status.last_exit.map(|exit| exit.to_string()),
        "required": process.required,
    })
}
