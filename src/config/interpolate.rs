//! `${VAR}` substitution on the raw file text, before YAML parsing.
//!
//! Supported forms: `${VAR}`, `${VAR:-default}` (the default is used when
//! VAR is unset or empty, as in a POSIX shell) and `$$` for a literal `$`.
//! A `$` followed by anything else is kept as is. A default is taken
//! literally up to the first `}`: it is not itself interpolated, and an
//! expression must close on the line where it opens.
//!
//! Substitution runs on the whole text, comments included, because it
//! happens before YAML knows what a comment is: write `$$` for a `$` in a
//! comment. A substituted value is spliced into the text as it is, so a
//! value holding YAML syntax (`: `, ` #`, a quote, a line break) changes
//! how the line parses; quote the reference (`"${VAR}"`) when a value may
//! hold such characters and no quote of that kind.
//!
//! Alongside the output, [`OffsetMap`] remembers where every output byte
//! came from, so that later diagnostics point into the original file, and
//! which parts came from the environment, so that messages never quote them.

use std::ops::Range;

/// What stands in for an expression that could not be substituted.
const FILLER: &str = "~";

/// The text after substitution and the map back to the original.
pub(super) struct Interpolated {
    pub(super) text: String,
    pub(super) map: OffsetMap,
}

/// A problem found while substituting, at a byte offset of the original.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct InterpolationError {
    pub(super) at: usize,
    pub(super) message: String,
}

/// Where each run of output bytes came from.
#[derive(Debug, Default)]
pub(super) struct OffsetMap {
    /// Contiguous, in output order, covering the whole output.
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, Copy)]
struct Segment {
    out: usize,
    out_len: usize,
    src: usize,
    src_len: usize,
    kind: SegmentKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SegmentKind {
    /// Copied byte for byte from the original.
    Copied,
    /// The value of a `${...}` or `$$`; `from_env` when it is the value of
    /// an environment variable rather than file text (a default or `$`).
    Replaced { from_env: bool },
}

impl OffsetMap {
    /// The original offset of an output offset. Inside a replaced value
    /// that is the start of the `${` (or `$$`) that produced it.
    pub(super) fn to_source(&self, out: usize) -> usize {
        match self.containing(out) {
            Some(seg) if seg.kind == SegmentKind::Copied => seg.src + (out - seg.out),
            Some(seg) => seg.src,
            None => self.source_len(),
        }
    }

    /// The original range of the output range `range`, widened to whole
    /// `${...}` expressions where it starts or ends inside a value.
    pub(super) fn range_to_source(&self, range: Range<usize>) -> Range<usize> {
        let start = self.to_source(range.start);
        if range.end <= range.start {
            return start..start;
        }
        let end = match self.containing(range.end - 1) {
            Some(seg) if seg.kind == SegmentKind::Copied => seg.src + (range.end - seg.out),
            Some(seg) => seg.src + seg.src_len,
            None => self.source_len(),
        };
        start..end.max(start)
    }

    /// Whether any byte of the output range came from the environment.
    pub(super) fn touches_env(&self, range: Range<usize>) -> bool {
        let first = self
            .segments
            .partition_point(|s| s.out + s.out_len <= range.start);
        let overlapping = self.segments[first..]
            .iter()
            .take_while(|s| s.out < range.end);
        overlapping
            .filter(|s| s.out_len > 0)
            .any(|s| s.kind == SegmentKind::Replaced { from_env: true })
    }

    /// The segment holding output byte `out`; empty values hold none.
    fn containing(&self, out: usize) -> Option<&Segment> {
        let index = self.segments.partition_point(|s| s.out + s.out_len <= out);
        self.segments.get(index)
    }

    fn source_len(&self) -> usize {
        self.segments.last().map_or(0, |s| s.src + s.src_len)
    }

    fn push(&mut self, segment: Segment) {
        self.segments.push(segment);
    }
}

/// Substitutes every expression of `text` and lists every problem.
///
/// An expression with a problem is replaced by `~`, YAML's null, which
/// parses in any place a value can be (`[~, ~]`, `a: ~`, `x~y`), so the
/// caller can still parse the text to find the key of each problem.
pub(super) fn interpolate(
    text: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> (Interpolated, Vec<InterpolationError>) {
    let mut run = Run {
        text,
        env,
        out: String::with_capacity(text.len()),
        map: OffsetMap::default(),
        errors: Vec::new(),
        copied_up_to: 0,
        stop: None,
    };
    run.all();
    let done = Interpolated {
        text: run.out,
        map: run.map,
    };
    (done, run.errors)
}

/// The state of one pass over the text.
struct Run<'a> {
    text: &'a str,
    env: &'a dyn Fn(&str) -> Option<String>,
    out: String,
    map: OffsetMap,
    errors: Vec<InterpolationError>,
    /// Original text before this offset is already in `out`.
    copied_up_to: usize,
    /// The last answer of `next_stop`.
    stop: Option<usize>,
}

impl Run<'_> {
    fn all(&mut self) {
        let bytes = self.text.as_bytes();
        let mut i = 0;
        while let Some(found) = self.text[i..].find('$') {
            let at = i + found;
            i = match bytes.get(at + 1) {
                Some(b'$') => {
                    self.replace(at, 2, "$", false);
                    at + 2
                }
                Some(b'{') => self.expression(at),
                _ => at + 1,
            };
        }
        self.copy_up_to(self.text.len());
    }

    /// Handles the `${` at `at`; returns where scanning resumes.
    fn expression(&mut self, at: usize) -> usize {
        let body_start = at + 2;
        let stop = self.next_stop(body_start);
        if !self.text[stop..].starts_with('}') {
            self.error(
                at,
                "`${` is not closed: expected `}` before the end of the line",
            );
            self.replace(at, 2, FILLER, false);
            return body_start;
        }
        let end = stop + 1;
        let body = &self.text[body_start..stop];
        let (value, from_env) = self
            .resolve(at, body)
            .unwrap_or_else(|| (FILLER.to_string(), false));
        self.replace(at, end - at, &value, from_env);
        end
    }

    /// The first `}` or line break at or after `from`, or the text's end.
    /// Remembered, because a line of unclosed `${` would otherwise have
    /// the rest of the line scanned once for each.
    fn next_stop(&mut self, from: usize) -> usize {
        match self.stop {
            Some(stop) if stop >= from => stop,
            _ => {
                let found = self.text[from..].find(['}', '\n', '\r']);
                let stop = found.map_or(self.text.len(), |i| from + i);
                self.stop = Some(stop);
                stop
            }
        }
    }

    /// The value of the expression body (what is between `${` and `}`).
    fn resolve(&mut self, at: usize, body: &str) -> Option<(String, bool)> {
        let (name, default) = match body.split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (body, None),
        };
        if !is_variable_name(name) {
            self.error(at, invalid_name_message(name));
            return None;
        }
        match ((self.env)(name), default) {
            (Some(value), Some(_)) if !value.is_empty() => Some((value, true)),
            (Some(value), None) => Some((value, true)),
            (_, Some(default)) => Some((default.to_string(), false)),
            (None, None) => {
                let message = format!(
                    "environment variable `{name}` is not set; set it, \
                     or give a default with `${{{name}:-default}}`"
                );
                self.error(at, message);
                None
            }
        }
    }

    /// Emits `value` in place of the `src_len` original bytes at `at`.
    fn replace(&mut self, at: usize, src_len: usize, value: &str, from_env: bool) {
        self.copy_up_to(at);
        self.map.push(Segment {
            out: self.out.len(),
            out_len: value.len(),
            src: at,
            src_len,
            kind: SegmentKind::Replaced { from_env },
        });
        self.out.push_str(value);
        self.copied_up_to = at + src_len;
    }

    fn copy_up_to(&mut self, end: usize) {
        if end <= self.copied_up_to {
            return;
        }
        self.map.push(Segment {
            out: self.out.len(),
            out_len: end - self.copied_up_to,
            src: self.copied_up_to,
            src_len: end - self.copied_up_to,
            kind: SegmentKind::Copied,
        });
        self.out.push_str(&self.text[self.copied_up_to..end]);
        self.copied_up_to = end;
    }

    fn error(&mut self, at: usize, message: impl Into<String>) {
        let message = message.into();
        self.errors.push(InterpolationError { at, message });
    }
}

/// A POSIX portable name: letters, digits and `_`, not starting with a
/// digit. Also what `env:` keys must be.
pub(super) fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn invalid_name_message(name: &str) -> String {
    if name.is_empty() {
        return "`${}` names no variable; write `${NAME}` or `${NAME:-default}`".to_string();
    }
    format!(
        "`{name}` is not a valid variable name (letters, digits and `_`, not \
         starting with a digit); only `${{NAME}}` and `${{NAME:-default}}` are supported"
    )
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PORT" => Some("8080".to_string()),
            "EMPTY" => Some(String::new()),
            "LONG" => Some("a-much-longer-value".to_string()),
            _ => None,
        }
    }

    fn run(text: &str) -> Result<String, Vec<InterpolationError>> {
        match interpolate(text, &env) {
            (done, errors) if errors.is_empty() => Ok(done.text),
            (_, errors) => Err(errors),
        }
    }

    fn valid(text: &str) -> Interpolated {
        let (done, errors) = interpolate(text, &env);
        assert_eq!(errors, [], "{text}");
        done
    }

    fn error_at(text: &str) -> (usize, String) {
        let errors = run(text).expect_err("the text has an error");
        (errors[0].at, errors[0].message.clone())
    }

    /// `${VAR}` takes the environment's value.
    #[test]
    fn substitutes_a_set_variable() {
        assert_eq!(
            run("listen: :${PORT}").as_deref().ok(),
            Some("listen: :8080")
        );
    }

    /// A default is used when the variable is unset or empty, like POSIX.
    #[test]
    fn default_for_unset_and_empty() {
        assert_eq!(run("${NOPE:-5001}").ok().as_deref(), Some("5001"));
        assert_eq!(run("${EMPTY:-5001}").ok().as_deref(), Some("5001"));
        assert_eq!(run("${PORT:-5001}").ok().as_deref(), Some("8080"));
        assert_eq!(run("a${EMPTY}b").ok().as_deref(), Some("ab"));
    }

    /// `$$` is a literal `$`; a lone `$` before anything else stays.
    #[test]
    fn dollar_escapes() {
        assert_eq!(run("$$ $PORT $ $}").ok().as_deref(), Some("$ $PORT $ $}"));
        assert_eq!(run("$$${PORT}").ok().as_deref(), Some("$8080"));
    }

    /// An unset variable without default is an error at its `${`, naming it.
    #[test]
    fn unset_variable_is_an_error() {
        let (at, message) = error_at("a: ${MISSING}");
        assert_eq!(at, 3);
        assert!(message.contains("`MISSING` is not set"), "{message}");
    }

    /// An unclosed `${` is reported; a `}` on a later line does not close it.
    #[test]
    fn unterminated_expression() {
        let (at, message) = error_at("x\na: ${PORT\n}");
        assert_eq!(at, 5);
        assert!(message.contains("not closed"), "{message}");
    }

    /// Names that are not POSIX names, and other operators, are errors.
    #[test]
    fn invalid_names() {
        for text in ["${1A}", "${}", "${A-b}", "${A:?x}", "${ A}"] {
            assert_eq!(error_at(text).0, 0, "{text}");
        }
    }

    /// Every problem is collected, not only the first, and each failed
    /// expression is replaced by the filler.
    #[test]
    fn collects_all_errors() {
        let (done, errors) = interpolate("${A}\n${B\n${}", &env);
        let at: Vec<usize> = errors.iter().map(|e| e.at).collect();
        assert_eq!(at, [0, 5, 9]);
        assert_eq!(done.text, "~\n~B\n~");
    }

    /// Offsets after a substitution map back to the original text, and
    /// offsets inside a value map to its `${`.
    #[test]
    fn map_points_into_the_original() {
        let done = valid("a${LONG}b$$c");
        assert_eq!(done.text, "aa-much-longer-valueb$c");
        assert_eq!(done.map.to_source(0), 0);
        assert_eq!(done.map.to_source(5), 1);
        assert_eq!(done.map.to_source(20), 8);
        assert_eq!(done.map.to_source(21), 9);
        assert_eq!(done.map.to_source(22), 11);
        assert_eq!(done.map.to_source(23), 12);
        assert_eq!(done.map.range_to_source(1..20), 1..8);
    }

    /// Only values from the environment count as such, defaults do not.
    #[test]
    fn knows_what_came_from_the_environment() {
        let done = valid("${PORT} ${NOPE:-x} ${EMPTY}.");
        assert_eq!(done.text, "8080 x .");
        assert!(done.map.touches_env(0..4));
        assert!(!done.map.touches_env(4..7));
        assert!(done.map.touches_env(3..5));
        assert!(!done.map.touches_env(6..8));
    }

    proptest! {
        /// Any input is handled without a panic.
        #[test]
        fn never_panics(text in "\\PC*") {
            let _ = interpolate(&text, &env);
        }

        /// Any input with `$`, `{` and `}` in many places is handled too.
        #[test]
        fn never_panics_on_dollar_soup(text in "[$a-z{}:\\-é\n ]*") {
            let (done, _) = interpolate(&text, &env);
            for i in 0..=done.text.len() + 1 {
                prop_assert!(done.map.to_source(i) <= text.len());
            }
        }

        /// Text without `$` comes back unchanged, mapped one to one.
        #[test]
        fn text_without_dollar_is_unchanged(text in "[^$]*") {
            let done = valid(&text);
            prop_assert_eq!(&done.text, &text);
            for (i, _) in text.char_indices() {
                prop_assert_eq!(done.map.to_source(i), i);
            }
        }

        /// Doubling every `$` of a text yields the text back.
        #[test]
        fn double_dollar_round_trips(text in "\\PC*") {
            let escaped = text.replace('$', "$$");
            let done = valid(&escaped);
            prop_assert_eq!(done.text, text);
        }
    }
}
