//! The `health:` section: the paths on which supervise answers health
//! checks and metrics itself, read into a [`HealthSpec`]. What the answers
//! hold is the health and metrics modules' business, not this one's.
//!
//! The path follows the rules of an exact route path (see `routes`):
//! the health endpoint is matched on the normalised request path too.

use super::error::Report;
use super::fields::{quoted, text, Section};
use super::routes;
use super::types::{HealthSpec, PathPattern};
use super::yaml::Node;

const KEYS: [&str; 2] = ["path", "metrics"];

/// Reads a `health:` mapping; what it leaves out keeps its default.
pub(super) fn read(node: &Node, path: &str, report: &mut Report) -> Option<HealthSpec> {
    let what = "a mapping with `path` and `metrics`";
    let section = Section::open(node, path, &KEYS, what, report)?;
    let defaults = HealthSpec::default();
    let path = section.read_or("path", defaults.path, report, read_path);
    let metrics = section.read_or("metrics", defaults.metrics, report, read_metrics);
    Some(HealthSpec {
        path: path?,
        metrics: metrics?,
    })
}

/// A path for the metrics, or `false` (or `off`) for none.
fn read_metrics(node: &Node, path: &str, report: &mut Report) -> Option<Option<String>> {
    let scalar = text(node, path, "a path such as `/metrics`, or `false`", report)?;
    if matches!(scalar.value.as_str(), "false" | "off") {
        return Some(None);
    }
    read_path(node, path, report).map(Some)
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
