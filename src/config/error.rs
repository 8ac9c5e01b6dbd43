//! What the loader reports: [`Diagnostic`] (one problem, placed in the
//! original file), [`LoadError`] (why loading failed as a whole) and the
//! [`Report`] that every stage of the loader appends to.
//!
//! Stages never stop at the first problem: they report it here and go on,
//! so `supervise check` shows every error of a file in one run. Turning the
//! report into a result, sorted by position, happens once, at the end.

use std::fmt;
use std::path::{Path, PathBuf};

use super::position::LineIndex;

/// One problem (or warning) in a config file.
///
/// Lines and columns are 1-based and count in the file as written, before
/// `${VAR}` substitution; a column counts characters, not bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub line: usize,
    pub column: usize,
    /// Dotted path of the key the problem is about, such as
    /// `processes.backend.command[1]`; empty when no key is involved.
    pub key_path: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    /// `file:line:column: key.path: message`; the key path and its colon
    /// are left out when it is empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file.display(), self.line, self.column)?;
        if !self.key_path.is_empty() {
            write!(f, "{}: ", self.key_path)?;
        }
        f.write_str(&self.message)
    }
}

/// Why a config file could not be loaded.
#[derive(Debug)]
pub enum LoadError {
    /// The file could not be read at all.
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file was read but has problems; all of them, in file order.
    Invalid { errors: Vec<Diagnostic> },
}

impl fmt::Display for LoadError {
    /// `Read` names the file and leaves the OS error to `source()`, so
    /// that printing the error chain shows it once; `Invalid` prints every
    /// diagnostic, one per line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Read { path, .. } => write!(f, "cannot read {}", path.display()),
            LoadError::Invalid { errors } => {
                let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
                f.write_str(&lines.join("\n"))
            }
        }
    }
}

impl std::error::Error for LoadError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LoadError::Read { source, .. } => Some(source),
            LoadError::Invalid { .. } => None,
        }
    }
}

/// The errors and warnings found so far in one file.
///
/// Positions come in as byte offsets into the original text and are
/// turned into lines and columns here, so no stage deals with them.
pub(super) struct Report<'a> {
    file: &'a Path,
    lines: &'a LineIndex<'a>,
    errors: Vec<(usize, Diagnostic)>,
    warnings: Vec<(usize, Diagnostic)>,
}

impl<'a> Report<'a> {
    pub(super) fn new(file: &'a Path, lines: &'a LineIndex<'a>) -> Self {
        Report {
            file,
            lines,
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// An empty report on the same file, for findings to be thrown away.
    pub(super) fn scratch(&self) -> Report<'a> {
        Report::new(self.file, self.lines)
    }

    /// Records a problem that makes the file invalid.
    pub(super) fn error(&mut self, at: usize, key_path: &str, message: impl Into<String>) {
        let diagnostic = self.diagnostic(at, key_path, message.into());
        self.errors.push((at, diagnostic));
    }

    /// Records something worth saying that does not stop the file loading.
    pub(super) fn warn(&mut self, at: usize, key_path: &str, message: impl Into<String>) {
        let diagnostic = self.diagnostic(at, key_path, message.into());
        self.warnings.push((at, diagnostic));
    }

    /// The 1-based line of an offset, for messages that refer to another
    /// place in the file.
    pub(super) fn line_of(&self, at: usize) -> usize {
        self.lines.line_col(at).0
    }

    /// The errors, or else the warnings, each sorted by position; a stable
    /// sort keeps problems at the same place in the order they were found.
    pub(super) fn finish(self) -> Result<Vec<Diagnostic>, Vec<Diagnostic>> {
        if self.errors.is_empty() {
            Ok(sorted(self.warnings))
        } else {
            Err(sorted(self.errors))
        }
    }

    fn diagnostic(&self, at: usize, key_path: &str, message: String) -> Diagnostic {
        let (line, column) = self.lines.line_col(at);
        Diagnostic {
            file: self.file.to_path_buf(),
            line,
            column,
            key_path: key_path.to_string(),
            message,
        }
    }
}

fn sorted(mut found: Vec<(usize, Diagnostic)>) -> Vec<Diagnostic> {
    found.sort_by_key(|(at, _)| *at);
    found
        .into_iter()
        .map(|(_, diagnostic)| diagnostic)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn diagnostic(key_path: &str) -> Diagnostic {
        Diagnostic {
            file: PathBuf::from("supervisor.yaml"),
            line: 3,
            column: 7,
            key_path: key_path.to_string(),
            message: "bad".to_string(),
        }
    }

    /// A diagnostic prints as `file:line:column: key.path: message`.
    #[test]
    fn diagnostic_display_has_every_part() {
        let shown = diagnostic("processes.web").to_string();
        assert_eq!(shown, "supervisor.yaml:3:7: processes.web: bad");
    }

    /// An empty key path leaves no stray `: ` behind.
    #[test]
    fn diagnostic_display_without_key_path() {
        assert_eq!(diagnostic("").to_string(), "supervisor.yaml:3:7: bad");
    }

    /// `Invalid` prints one diagnostic per line, nothing else.
    #[test]
    fn invalid_prints_one_line_per_error() {
        let error = LoadError::Invalid {
            errors: vec![diagnostic("a"), diagnostic("b")],
        };
        let expected = "supervisor.yaml:3:7: a: bad\nsupervisor.yaml:3:7: b: bad";
        assert_eq!(error.to_string(), expected);
    }

    /// The report sorts by position and keeps discovery order on ties.
    #[test]
    fn report_sorts_by_position_stably() {
        let text = "a\nbb\nccc\n";
        let lines = LineIndex::new(text);
        let mut report = Report::new(Path::new("f"), &lines);
        report.error(5, "late", "x");
        report.error(0, "first", "x");
        report.error(5, "later", "x");
        let errors = report.finish().expect_err("errors were reported");
        let paths: Vec<&str> = errors.iter().map(|d| d.key_path.as_str()).collect();
        assert_eq!(paths, ["first", "late", "later"]);
        assert_eq!((errors[1].line, errors[1].column), (3, 1));
    }
}
