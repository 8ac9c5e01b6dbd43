//! The `health:` section: the path on which supervise answers health
//! checks itself, read into a [`HealthSpec`]. What the answer holds is
//! the health module's business, not this one's.
//!
//! The path follows the rules of an exact route path (see `routes`):
//! the health endpoint is matched on the normalised request path too.

use super::error::Report;
use super::fields::{quoted, text, Section};
use super::routes;
use super::types::{HealthSpec, PathPattern};
use super::yaml::Node;

const KEYS: [&str; 1] = ["path"];

/// Reads a `health:` mapping; what it leaves out keeps its default.
pub(super) fn read(node: &Node, path: &str, report: &mut Report) -> Option<HealthSpec> {
    let section = Section::open(node, path, &KEYS, "a mapping with `path`", report)?;
    let default = HealthSpec::default().path;
    let path = section.read_or("path", default, report, read_path)?;
    Some(HealthSpec { path })
}

fn read_path(node: &Node, path: &str, report: &mut Report) -> Option<String> {
    let scalar = text(node, path, "a path such as `/healthz`", report)?;
    let problem = match routes::pattern(&scalar.value) {
        Ok(PathPattern::Exact(exact)) => return Some(exact),
        Ok(PathPattern::Prefix(_)) => {
            "ends in `*`, but the health path is matched exactly; remove the `*`".to_string()
        }
        Err(problem) => problem,
    };
    let message = format!("{} {problem}", quoted(scalar.shown()));
    report.error(node.at, path, message);
    None
}
