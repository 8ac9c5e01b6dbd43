//! Loading `supervisor.yaml` into a [`Config`], with every problem of the
//! file reported in one run as `file:line:column: key.path: message`.
//!
//! Loading goes in three steps, each reporting all it finds:
//!
//! 1. `${VAR}` substitution on the raw text, keeping a map from the result
//!    back to the original, so that every later position points into the
//!    file as the user wrote it. Any problem here stops loading: parsing a
//!    text with holes in it would only add confusing errors.
//! 2. YAML parsing into a tree whose nodes carry their positions.
//! 3. Schema checks, section by section, into the typed settings.
//!
//! No message quotes a value that came from the environment: where a
//! value is quoted, it is the file's text (`${TOKEN}`), not the token.
//! Secrets (`auth.client_secret`, `auth.session.secrets`) are never
//! quoted at all, not even as written, and their `Debug` is redacted.
//!
//! # Layout
//!
//! - `interpolate`: `${VAR}` substitution and the offset map.
//! - `yaml`: the tree of placed YAML nodes, built from yaml-rust2 events.
//! - `document`: the top level; which sections exist, and the order they
//!   are read in.
//! - `processes`, `ready`: the `processes:` section and readiness probes.
//! - `proxy`, `upstreams`, `routes`, `headers`: the `proxy:` section, its
//!   upstreams, its routes and their header rules; `ipnet`: the
//!   `trusted_proxies` networks.
//! - `health`: the `health:` section.
//! - `auth`, `provider`, `session`: the `auth:` section, the keys of each
//!   provider, and `auth.session`; `allow`: a route's `allow` rule;
//!   `web`: the shapes of URLs, domains and loopback hosts they check.
//! - `fields`: typed reading of nodes, shared by the schema modules.
//! - `scalar`, `duration`, `position`: scalars, durations, line arithmetic.
//! - `error`: [`Diagnostic`], [`LoadError`] and the report stages write to.
//! - `summary`: [`Config::summary`], what `supervise check` prints.
//! - `types`: the typed settings the rest of supervise reads.

use std::path::Path;

mod allow;
mod auth;
mod document;
mod duration;
mod error;
mod fields;
mod headers;
mod health;
mod interpolate;
mod ipnet;
mod position;
mod processes;
mod provider;
mod proxy;
mod ready;
mod routes;
mod scalar;
mod session;
mod summary;
mod types;
mod upstreams;
mod web;
mod yaml;

#[cfg(test)]
mod tests;

pub use error::{Diagnostic, LoadError};
pub use ipnet::IpNetError;
pub use types::*;
pub use web::is_loopback_host;

use error::Report;
use position::LineIndex;
use processes::Context;
use yaml::Node;

/// A valid config and what is worth a warning in it.
#[derive(Debug)]
pub struct Loaded {
    pub config: Config,
    /// Not errors: the file may be right for another machine. Sorted by
    /// position.
    pub warnings: Vec<Diagnostic>,
}

/// Reads and loads the file at `path`, with the process's environment.
pub fn load(path: &Path) -> Result<Loaded, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    match String::from_utf8(bytes) {
        Ok(text) => load_str(&text, path, &|name| std::env::var(name).ok()),
        Err(error) => Err(not_utf8(path, error.as_bytes(), error.utf8_error())),
    }
}

/// Loads `text` as if read from `path`, taking variables from `env`.
///
/// `path` names the file in diagnostics and is where relative `cwd`s
/// start from; it is not read.
pub fn load_str(
    text: &str,
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, LoadError> {
    // Columns are counted without a byte order mark, as editors show them.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines = LineIndex::new(text);
    let mut report = Report::new(path, &lines);

    let sections = match parse(text, env, &mut report) {
        Some(root) => document::read(&root, &context(path, env), &mut report),
        None => document::Sections::default(),
    };

    match report.finish() {
        Ok(warnings) => {
            let config = Config {
                path: path.to_path_buf(),
                processes: sections.processes,
                proxy: sections.proxy,
                health: sections.health,
                auth: sections.auth,
            };
            Ok(Loaded { config, warnings })
        }
        Err(errors) => Err(LoadError::Invalid { errors }),
    }
}

/// Steps 1 and 2: the YAML tree of the substituted text, or `None` with
/// the reasons reported.
fn parse(text: &str, env: &dyn Fn(&str) -> Option<String>, report: &mut Report) -> Option<Node> {
    if let Some(at) = text.find('\0') {
        report.error(at, "", "the file holds a NUL character; is it a text file?");
        return None;
    }
    let (source, problems) = interpolate::interpolate(text, env);
    if problems.is_empty() {
        return yaml::parse(&source, text, report);
    }

    // The text minus the failed expressions still shows which key each
    // one is under; its own problems are of no interest here.
    let mut scratch = report.scratch();
    let root = yaml::parse(&source, text, &mut scratch);
    for problem in problems {
        let key_path = root.as_ref().map(|root| yaml::path_at(root, problem.at));
        report.error(problem.at, &key_path.unwrap_or_default(), problem.message);
    }
    None
}

fn context<'a>(path: &'a Path, env: &dyn Fn(&str) -> Option<String>) -> Context<'a> {
    let base_dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let search_path = env("PATH");
    Context {
        base_dir,
        search_path,
    }
}

/// A file that is not UTF-8, reported at its first bad byte.
fn not_utf8(path: &Path, bytes: &[u8], error: std::str::Utf8Error) -> LoadError {
    let valid = bytes.get(..error.valid_up_to()).unwrap_or_default();
    let text = std::str::from_utf8(valid).unwrap_or_default();
    let lines = LineIndex::new(text);
    let mut report = Report::new(path, &lines);
    report.error(text.len(), "", "the file is not valid UTF-8 text");
    let errors = report.finish().err().unwrap_or_default();
    LoadError::Invalid { errors }
}
