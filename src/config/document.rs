//! The top level of `supervisor.yaml`: which sections exist, which of
//! them this version implements (only `processes`), and handing each one
//! to the module that reads it.
//!
//! `proxy`, `auth` and `health` are part of the product contract but not
//! built yet; a file that has them is refused with that reason rather
//! than run without the routes or sign-in it asks for.

use super::error::Report;
use super::fields::Section;
use super::processes::{self, Context};
use super::types::ProcessSpec;
use super::yaml::Node;

const KEYS: [&str; 4] = ["processes", "proxy", "auth", "health"];
const NOT_YET_SUPPORTED: [&str; 3] = ["proxy", "auth", "health"];

/// Reads the root mapping; returns the processes that had no errors.
pub(super) fn read(root: &Node, context: &Context, report: &mut Report) -> Vec<ProcessSpec> {
    let what = "a mapping with a `processes` key";
    let Some(section) = Section::open(root, "", &KEYS, what, report) else {
        return Vec::new();
    };
    for entry in section.entries {
        let key = entry.key.value.as_str();
        if NOT_YET_SUPPORTED.contains(&key) {
            let message = format!("`{key}` is not supported by this version of supervise yet");
            report.error(entry.key_at, key, message);
        }
    }
    match section.get("processes") {
        Some((node, path)) => processes::read(node, &path, context, report),
        None => {
            section.missing("processes", report);
            Vec::new()
        }
    }
}
