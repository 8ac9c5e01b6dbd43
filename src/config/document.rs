//! The top level of `supervisor.yaml`: which sections exist (`processes`,
//! `proxy`, `auth` and `health`), and handing each one to the module that
//! reads it, with what it needs to know about the others.
//!
//! The sections depend on each other in one direction: routes need the
//! process and upstream names, the health path and whether there is an
//! `auth` section; `auth` needs the proxy's listener, since sign-in
//! happens in the proxy. An `auth` section without a `proxy` one is an
//! error rather than a file that asks for sign-in and serves nothing.

use super::auth;
use super::error::Report;
use super::fields::Section;
use super::health;
use super::processes::{self, Context};
use super::proxy;
use super::types::{AuthSpec, HealthSpec, ProcessSpec, ProxySpec};
use super::yaml::Node;

const KEYS: [&str; 4] = ["processes", "proxy", "auth", "health"];

/// The sections read without errors; meaningful only when the report
/// holds no error.
#[derive(Default)]
pub(super) struct Sections {
    pub(super) processes: Vec<ProcessSpec>,
    pub(super) proxy: Option<ProxySpec>,
    pub(super) health: HealthSpec,
    pub(super) auth: Option<AuthSpec>,
}

/// Reads the root mapping, every section of it.
pub(super) fn read(root: &Node, context: &Context, report: &mut Report) -> Sections {
    let what = "a mapping with a `processes` key";
    let Some(section) = Section::open(root, "", &KEYS, what, report) else {
        return Sections::default();
    };
    let processes = read_processes(&section, context, report);
    let health = match section.get("health") {
        Some((node, path)) => health::read(node, &path, report),
        None => Some(HealthSpec::default()),
    };
    let health_path = health.as_ref().map(|health| health.path.as_str());
    let proxy = read_proxy(&section, context, health_path, report);
    let auth = read_auth(&section, context, report);
    let health = health.unwrap_or_default();
    Sections {
        processes,
        proxy,
        health,
        auth,
    }
}

/// The `proxy` section, with what it needs to know of the others.
fn read_proxy(
    section: &Section,
    context: &Context,
    health_path: Option<&str>,
    report: &mut Report,
) -> Option<ProxySpec> {
    let (node, path) = section.get("proxy")?;
    let names = section
        .get("processes")
        .map(|(node, _)| processes::names(node));
    let context = proxy::Context {
        base_dir: context.base_dir,
        processes: &names.unwrap_or_default(),
        has_auth: section.get("auth").is_some(),
        health_path,
    };
    proxy::read(node, &path, &context, report)
}

/// The `auth` section, with the proxy's listener, which it needs.
fn read_auth(section: &Section, context: &Context, report: &mut Report) -> Option<AuthSpec> {
    let (node, path) = section.get("auth")?;
    let proxy = section.get("proxy");
    if proxy.is_none() {
        let message = "`auth` needs a `proxy` section: sign-in happens in the proxy, \
                       and this file has none";
        report.error(section.key_at("auth").unwrap_or(node.at), &path, message);
    }
    let context = auth::Context {
        base_dir: context.base_dir,
        listener: proxy.and_then(|(node, _)| proxy::listener_of(node)),
    };
    auth::read(node, &path, &context, report)
}

fn read_processes(section: &Section, context: &Context, report: &mut Report) -> Vec<ProcessSpec> {
    match section.get("processes") {
        Some((node, path)) => processes::read(node, &path, context, report),
        None => {
            section.missing("processes", report);
            Vec::new()
        }
    }
}
