//! The top level of `supervisor.yaml`: which sections exist, which of
//! them this version implements (`processes`, `proxy` and `health`), and
//! handing each one to the module that reads it, with what it needs to
//! know about the others.
//!
//! `auth` is part of the product contract but not built yet; a file that
//! has it is refused with that reason rather than run without the
//! sign-in it asks for.

use super::error::Report;
use super::fields::Section;
use super::health;
use super::processes::{self, Context};
use super::proxy;
use super::types::{HealthSpec, ProcessSpec, ProxySpec};
use super::yaml::Node;

const KEYS: [&str; 4] = ["processes", "proxy", "auth", "health"];
const NOT_YET_SUPPORTED: [&str; 1] = ["auth"];

/// The sections read without errors; meaningful only when the report
/// holds no error.
#[derive(Default)]
pub(super) struct Sections {
    pub(super) processes: Vec<ProcessSpec>,
    pub(super) proxy: Option<ProxySpec>,
    pub(super) health: HealthSpec,
}

/// Reads the root mapping, every section of it.
pub(super) fn read(root: &Node, context: &Context, report: &mut Report) -> Sections {
    let what = "a mapping with a `processes` key";
    let Some(section) = Section::open(root, "", &KEYS, what, report) else {
        return Sections::default();
    };
    refuse_unsupported(&section, report);
    let processes = read_processes(&section, context, report);
    let health = match section.get("health") {
        Some((node, path)) => health::read(node, &path, report),
        None => Some(HealthSpec::default()),
    };
    let health_path = health.as_ref().map(|health| health.path.as_str());
    let proxy = read_proxy(&section, context, health_path, report);
    let health = health.unwrap_or_default();
    Sections {
        processes,
        proxy,
        health,
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

fn refuse_unsupported(section: &Section, report: &mut Report) {
    for entry in section.entries {
        let key = entry.key.value.as_str();
        if NOT_YET_SUPPORTED.contains(&key) {
            let message = format!("`{key}` is not supported by this version of supervise yet");
            report.error(entry.key_at, key, message);
        }
    }
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
