//! The YAML layer: turns the interpolated text into a tree of [`Node`]s,
//! each placed at a byte offset of the original file.
//!
//! yaml-rust2's own loader drops positions, so the tree is built here from
//! its marked event parser, driven one event at a time with an explicit
//! stack (no recursion, and nesting deeper than [`MAX_DEPTH`] is refused),
//! so no input can overflow the stack. Problems that YAML itself allows
//! but a config file must not have are reported while building: more than
//! one document, duplicate keys, keys that are not scalars, anchors and
//! aliases (not supported: write the value out where it is needed), tags,
//! and the old Caddyfile's `xxxNAMExxx` placeholders in any scalar. The
//! offending node is kept as [`NodeKind::Reported`] or dropped, so later
//! stages do not report it a second time.
//!
//! Each scalar also carries its original text, found by taking its span in
//! the interpolated text (up to where the next token starts, minus quotes'
//! tails, comments and blanks) back through the offset map.

use std::collections::HashMap;
use std::fmt::Write as _;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, ScanError, Scanner, TScalarStyle};

use super::error::Report;
use super::interpolate::Interpolated;
use super::position::LineIndex;
use super::scalar::{find_placeholder, Scalar, Style};

/// Deeper nesting than this is refused; a real config needs five levels.
const MAX_DEPTH: usize = 32;

/// One YAML node at a byte offset of the original file.
#[derive(Debug)]
pub(super) struct Node {
    pub(super) at: usize,
    pub(super) kind: NodeKind,
}

#[derive(Debug)]
pub(super) enum NodeKind {
    Scalar(Scalar),
    List(Vec<Node>),
    Map(Vec<Entry>),
    /// A node whose problem is already reported (an alias, a placeholder):
    /// readers skip it without a second message.
    Reported,
}

/// One `key: value` of a mapping, in file order.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) key: Scalar,
    pub(super) key_at: usize,
    pub(super) value: Node,
}

/// The key path of `key` inside the mapping at `parent`.
pub(super) fn child_path(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_string()
    } else {
        format!("{parent}.{key}")
    }
}

/// The key path of item `index` of the list at `parent`.
pub(super) fn item_path(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

/// The key path of the innermost node at or before the original offset
/// `at`: for a problem found before parsing, such as an unset variable.
pub(super) fn path_at(root: &Node, at: usize) -> String {
    let mut path = String::new();
    let mut node = root;
    loop {
        // Entries and items are in file order, so a binary search finds
        // the last one that starts at or before `at`.
        match &node.kind {
            NodeKind::Map(entries) => {
                let index = entries.partition_point(|entry| entry.key_at <= at);
                let Some(entry) = index.checked_sub(1).and_then(|i| entries.get(i)) else {
                    return path;
                };
                path = child_path(&path, entry.key.shown());
                node = &entry.value;
            }
            NodeKind::List(items) => {
                let index = items.partition_point(|item| item.at <= at);
                let Some(item) = index.checked_sub(1).and_then(|i| items.get(i)) else {
                    return path;
                };
                path = item_path(&path, index - 1);
                node = item;
            }
            NodeKind::Scalar(_) | NodeKind::Reported => return path,
        }
    }
}

/// Parses the one document of `source`; `None` when the file is empty or
/// is not valid YAML (reported).
pub(super) fn parse(source: &Interpolated, original: &str, report: &mut Report) -> Option<Node> {
    let mut builder = Builder::new(source, original);
    if !builder.run(report) {
        return None;
    }
    match builder.root {
        Some(root) if !is_empty_plain(&root) => Some(root),
        _ => {
            report.error(0, "", "the file is empty");
            None
        }
    }
}

/// A collection being built: its items so far.
enum Frame {
    List {
        at: usize,
        items: Vec<Node>,
    },
    Map {
        at: usize,
        /// Whether `at` is final; a block mapping is placed at its first key.
        located: bool,
        entries: Vec<Entry>,
        key: Option<PendingKey>,
        /// Where each key seen so far is, to find duplicates.
        seen: HashMap<String, usize>,
    },
}

impl Frame {
    fn list(at: usize) -> Frame {
        let items = Vec::new();
        Frame::List { at, items }
    }

    /// A flow mapping (`{`) is placed at its brace, a block one later.
    fn map(at: usize, flow: bool) -> Frame {
        Frame::Map {
            at,
            located: flow,
            entries: Vec::new(),
            key: None,
            seen: HashMap::new(),
        }
    }
}

/// A key waiting for its value; `key` is `None` when the key was reported
/// and its value is to be dropped.
struct PendingKey {
    key: Option<Scalar>,
    at: usize,
}

/// Builds the tree from parser events, reporting as it goes.
struct Builder<'a> {
    source: &'a Interpolated,
    original: &'a str,
    /// Lines of the interpolated text, which the parser's markers count in.
    lines: LineIndex<'a>,
    /// Where each scanner token starts in the interpolated text, sorted;
    /// the token after a scalar bounds it.
    token_starts: Vec<usize>,
    stack: Vec<Frame>,
    root: Option<Node>,
    documents: usize,
}

impl<'a> Builder<'a> {
    fn new(source: &'a Interpolated, original: &'a str) -> Self {
        let lines = LineIndex::new(&source.text);
        let mut token_starts: Vec<usize> = Scanner::new(source.text.chars())
            .map(|token| out_offset(&lines, token.0))
            .collect();
        token_starts.sort_unstable();
        Builder {
            source,
            original,
            lines,
            token_starts,
            stack: Vec::new(),
            root: None,
            documents: 0,
        }
    }

    /// Feeds every event to the tree; false when parsing had to stop.
    fn run(&mut self, report: &mut Report) -> bool {
        let mut parser = Parser::new_from_str(&self.source.text);
        loop {
            let (event, marker) = match parser.next_token() {
                Ok(next) => next,
                Err(error) => {
                    self.syntax_error(&error, report);
                    return false;
                }
            };
            let out = out_offset(&self.lines, marker);
            match self.event(event, out, report) {
                Step::Continue => {}
                Step::Finished => return true,
                Step::Stop => return false,
            }
        }
    }

    fn event(&mut self, event: Event, out: usize, report: &mut Report) -> Step {
        let at = self.source.map.to_source(out);
        match event {
            Event::StreamEnd => return Step::Finished,
            Event::DocumentStart => return self.document_start(at, report),
            Event::Scalar(value, style, anchor, tag) => {
                self.check_extras(anchor, tag.is_some(), at, report);
                let node = self.scalar(value, style, out, report);
                self.add(node, report);
            }
            Event::Alias(_) => self.alias(at, report),
            Event::SequenceStart(anchor, tag) => {
                return self.open(Frame::list(at), anchor, tag.is_some(), report);
            }
            Event::MappingStart(anchor, tag) => {
                let flow = self
                    .source
                    .text
                    .get(out..)
                    .is_some_and(|s| s.starts_with('{'));
                return self.open(Frame::map(at, flow), anchor, tag.is_some(), report);
            }
            Event::SequenceEnd | Event::MappingEnd => self.close(report),
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
        }
        Step::Continue
    }

    fn alias(&mut self, at: usize, report: &mut Report) {
        let message = "aliases (`*name`) are not supported; \
                       write the value out where it is needed";
        report.error(at, &self.path(), message);
        let kind = NodeKind::Reported;
        self.add(Node { at, kind }, report);
    }

    fn document_start(&mut self, at: usize, report: &mut Report) -> Step {
        self.documents += 1;
        if self.documents == 1 {
            return Step::Continue;
        }
        let message = "a config file holds one YAML document; \
                       remove this `---` and what follows it";
        report.error(at, "", message);
        Step::Stop
    }

    fn open(&mut self, frame: Frame, anchor: usize, tagged: bool, report: &mut Report) -> Step {
        let at = match &frame {
            Frame::List { at, .. } | Frame::Map { at, .. } => *at,
        };
        if self.stack.len() >= MAX_DEPTH {
            let message = format!("nesting is deeper than {MAX_DEPTH} levels");
            report.error(at, &self.path(), message);
            return Step::Stop;
        }
        self.check_extras(anchor, tagged, at, report);
        self.stack.push(frame);
        Step::Continue
    }

    fn close(&mut self, report: &mut Report) {
        let node = match self.stack.pop() {
            Some(Frame::List { at, items }) => Node {
                at,
                kind: NodeKind::List(items),
            },
            Some(Frame::Map { at, entries, .. }) => Node {
                at,
                kind: NodeKind::Map(entries),
            },
            None => return,
        };
        self.add(node, report);
    }

    /// Puts a finished node where it belongs: the root, a list, or a
    /// mapping as either a key or the value of the pending key.
    fn add(&mut self, node: Node, report: &mut Report) {
        let pending = match self.stack.last_mut() {
            None => {
                self.root.get_or_insert(node);
                return;
            }
            Some(Frame::List { items, .. }) => {
                items.push(node);
                return;
            }
            Some(Frame::Map { key, .. }) => key.take(),
        };
        match pending {
            Some(pending) => self.add_value(pending, node),
            None => self.add_key(node, report),
        }
    }

    fn add_value(&mut self, pending: PendingKey, mut value: Node) {
        let Some(Frame::Map { entries, .. }) = self.stack.last_mut() else {
            return;
        };
        let Some(key) = pending.key else {
            return;
        };

        // An empty value has no text of its own; its key is where to point.
        if is_empty_plain(&value) {
            value.at = pending.at;
        }
        let key_at = pending.at;
        entries.push(Entry { key, key_at, value });
    }

    fn add_key(&mut self, node: Node, report: &mut Report) {
        let pending = self.check_key(node, report);
        let Some(Frame::Map {
            at,
            located,
            key,
            seen,
            ..
        }) = self.stack.last_mut()
        else {
            return;
        };
        if !*located {
            (*at, *located) = (pending.at, true);
        }
        if let Some(scalar) = &pending.key {
            seen.insert(scalar.value.clone(), pending.at);
        }
        *key = Some(pending);
    }

    /// The key as it will wait for its value, or `None` inside it when it
    /// cannot be a key (reported here).
    fn check_key(&self, node: Node, report: &mut Report) -> PendingKey {
        let at = node.at;
        let scalar = match node.kind {
            NodeKind::Scalar(scalar) => scalar,
            NodeKind::Reported => return PendingKey { key: None, at },
            NodeKind::List(_) | NodeKind::Map(_) => {
                let message = "a key must be a plain value, not a list or a mapping";
                report.error(at, &self.path(), message);
                return PendingKey { key: None, at };
            }
        };
        let path = child_path(&self.path(), scalar.shown());
        if let Some(first_at) = self.first_at(&scalar.value) {
            let line = report.line_of(first_at);
            let message = format!(
                "duplicate key; `{}` is already set on line {line}",
                scalar.shown()
            );
            report.error(at, &path, message);
            return PendingKey { key: None, at };
        }
        PendingKey {
            key: Some(scalar),
            at,
        }
    }

    /// Where the current mapping already has the key `value`.
    fn first_at(&self, value: &str) -> Option<usize> {
        match self.stack.last() {
            Some(Frame::Map { seen, .. }) => seen.get(value).copied(),
            _ => None,
        }
    }

    /// The scalar that starts at output offset `out`, placed and checked.
    fn scalar(&self, value: String, style: TScalarStyle, out: usize, report: &mut Report) -> Node {
        let map = &self.source.map;
        let end = self.scalar_end(out, style, &value);
        let written_range = map.range_to_source(out..end);
        let written = self.original.get(written_range).unwrap_or("");
        let style = match style {
            TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted => Style::Quoted,
            TScalarStyle::Literal | TScalarStyle::Folded => Style::Block,
            TScalarStyle::Plain => Style::Plain,
        };
        let scalar = Scalar {
            value,
            style,
            written: unquote(written, style).to_string(),
            from_env: map.touches_env(out..end),
        };
        let at = map.to_source(out);
        if let Some(found) = find_placeholder(&scalar.value) {
            report.error(at, &self.path(), placeholder_message(&scalar, found));
            let kind = NodeKind::Reported;
            return Node { at, kind };
        }
        let kind = NodeKind::Scalar(scalar);
        Node { at, kind }
    }

    /// Where the scalar starting at `out` ends in the interpolated text.
    fn scalar_end(&self, out: usize, style: TScalarStyle, value: &str) -> usize {
        if value.is_empty() && style == TScalarStyle::Plain {
            return out;
        }
        let next = self.token_starts.partition_point(|&start| start <= out);
        let bound = self.token_starts.get(next).copied();
        let text = &self.source.text;
        let region = text.get(out..bound.unwrap_or(text.len())).unwrap_or("");
        let len = match style {
            TScalarStyle::SingleQuoted => quoted_len(region, '\'', None),
            TScalarStyle::DoubleQuoted => quoted_len(region, '"', Some('\\')),
            TScalarStyle::Plain => plain_len(region),
            TScalarStyle::Literal | TScalarStyle::Folded => region.trim_end().len(),
        };
        out + len
    }

    /// Anchors and tags are parsed by YAML but not supported here.
    fn check_extras(&self, anchor: usize, tagged: bool, at: usize, report: &mut Report) {
        if anchor > 0 {
            let message = "anchors (`&name`) are not supported; \
                           write the value out where it is needed";
            report.error(at, &self.path(), message);
        }
        if tagged {
            let message = "YAML tags (`!name`, `!!str`) are not supported; \
                           quote a value to make it a string";
            report.error(at, &self.path(), message);
        }
    }

    fn syntax_error(&self, error: &ScanError, report: &mut Report) {
        let out = out_offset(&self.lines, *error.marker());
        let map = &self.source.map;
        let message = if map.touches_env(out..out + 1) {
            // The scanner may quote the character it choked on; that one
            // came from the environment, so it is left out.
            let info = error.info();
            let general = info
                .split('`')
                .next()
                .unwrap_or(info)
                .trim_end_matches([' ', ':']);
            format!("{general} (inside the value of an environment variable)")
        } else {
            error.info().to_string()
        };
        report.error(
            map.to_source(out),
            &self.path(),
            format!("invalid YAML: {message}"),
        );
    }

    /// The key path of the node being built at the top of the stack.
    fn path(&self) -> String {
        let mut path = String::new();
        for frame in &self.stack {
            match frame {
                Frame::List { items, .. } => {
                    let _ = write!(path, "[{}]", items.len());
                }
                Frame::Map {
                    key: Some(PendingKey { key: Some(key), .. }),
                    ..
                } => {
                    path = child_path(&path, key.shown());
                }
                Frame::Map { .. } => {}
            }
        }
        path
    }
}

/// What the event loop does next.
enum Step {
    Continue,
    Finished,
    Stop,
}

fn out_offset(lines: &LineIndex, marker: Marker) -> usize {
    lines.offset(marker.line(), marker.col())
}

fn is_empty_plain(node: &Node) -> bool {
    match &node.kind {
        NodeKind::Scalar(scalar) => scalar.style == Style::Plain && scalar.value.is_empty(),
        _ => false,
    }
}

/// The length of a quoted scalar at the start of `region`, up to and
/// including its closing quote.
fn quoted_len(region: &str, quote: char, escape: Option<char>) -> usize {
    let mut chars = region.char_indices().skip(1).peekable();
    while let Some((i, c)) = chars.next() {
        if Some(c) == escape {
            chars.next();
        } else if c == quote {
            // In single quotes, a doubled quote stands for one.
            if escape.is_none() && chars.peek().is_some_and(|&(_, next)| next == quote) {
                chars.next();
                continue;
            }
            return i + c.len_utf8();
        }
    }
    region.trim_end().len()
}

/// The length of a plain scalar at the start of `region`: up to a comment
/// (a `#` after a blank, which a plain scalar cannot hold) and blanks.
fn plain_len(region: &str) -> usize {
    let mut previous_blank = false;
    let mut end = region.len();
    for (i, c) in region.char_indices() {
        if c == '#' && previous_blank {
            end = i;
            break;
        }
        previous_blank = c.is_whitespace();
    }
    region[..end].trim_end().len()
}

fn unquote(written: &str, style: Style) -> &str {
    if style != Style::Quoted || written.len() < 2 {
        return written;
    }
    let inner = written.get(1..written.len() - 1);
    inner.unwrap_or(written)
}

fn placeholder_message(scalar: &Scalar, found: &str) -> String {
    if scalar.from_env {
        return format!(
            "`{}` holds what looks like an unreplaced placeholder from the old \
             Caddyfile; put the real value in the environment and use `${{VAR}}`",
            scalar.written
        );
    }
    let name = found.get(3..found.len() - 3).unwrap_or("VAR");
    format!(
        "`{found}` looks like an unreplaced placeholder from the old Caddyfile; \
         use `${{{name}}}` instead and set {name} in the environment"
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::super::error::Diagnostic;
    use super::super::interpolate::interpolate;
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "SECRET" => Some("s3cr3t: `x".to_string()),
            "PORT" => Some("8080".to_string()),
            _ => None,
        }
    }

    fn tree(text: &str) -> (Option<Node>, Vec<Diagnostic>) {
        let (source, problems) = interpolate(text, &env);
        assert!(problems.is_empty(), "{problems:?}");
        let lines = LineIndex::new(text);
        let mut report = Report::new(Path::new("t.yaml"), &lines);
        let root = parse(&source, text, &mut report);
        let errors = report.finish().err().unwrap_or_default();
        (root, errors)
    }

    fn first_error(text: &str) -> (usize, usize, String, String) {
        let (_, errors) = tree(text);
        let e = errors.first().expect("an error");
        (e.line, e.column, e.key_path.clone(), e.message.clone())
    }

    fn entries(node: &Node) -> &[Entry] {
        match &node.kind {
            NodeKind::Map(entries) => entries,
            other => panic!("not a mapping: {other:?}"),
        }
    }

    fn scalar(node: &Node) -> &Scalar {
        match &node.kind {
            NodeKind::Scalar(scalar) => scalar,
            other => panic!("not a scalar: {other:?}"),
        }
    }

    /// Nodes are placed at their original offsets, keys in file order.
    #[test]
    fn builds_a_placed_tree() {
        let text = "a: 1\nb:\n  c: [x, \"y z\"]  # note\n  d:\n";
        let (root, errors) = tree(text);
        assert!(errors.is_empty(), "{errors:?}");
        let root = root.expect("a tree");
        let top = entries(&root);
        assert_eq!(top[0].key.value, "a");
        assert_eq!(top[1].value.at, text.find("c:").expect("c"));
        let inner = entries(&top[1].value);
        let NodeKind::List(items) = &inner[0].value.kind else {
            panic!("c is a list");
        };
        assert_eq!(items[1].at, text.find('"').expect("quote"));
        assert_eq!(scalar(&items[1]).written, "y z");

        // An empty value points at its key.
        assert_eq!(inner[1].value.at, text.find("d:").expect("d"));
    }

    /// A scalar from the environment knows it and keeps its `${...}` text.
    #[test]
    fn scalars_keep_their_written_text() {
        let text = "a: \"${SECRET}\"\nb: x${PORT}y # c\nc: plain\n";
        let (root, _) = tree(text);
        let root = root.expect("a tree");
        let top = entries(&root);
        let a = scalar(&top[0].value);
        assert_eq!((a.written.as_str(), a.from_env), ("${SECRET}", true));
        let b = scalar(&top[1].value);
        assert_eq!(
            (b.written.as_str(), b.value.as_str()),
            ("x${PORT}y", "x8080y")
        );
        let c = scalar(&top[2].value);
        assert_eq!((c.written.as_str(), c.from_env), ("plain", false));
    }

    /// A second key of the same name is an error at the second one.
    #[test]
    fn duplicate_keys() {
        let (line, column, path, message) = first_error("a:\n  b: 1\n  b: 2\n");
        assert_eq!((line, column, path.as_str()), (3, 3, "a.b"));
        assert!(message.contains("already set on line 2"), "{message}");
    }

    /// Anchors, aliases and tags are refused with a clear message.
    #[test]
    fn anchors_aliases_and_tags() {
        let (_, errors) = tree("a: &x 1\nb: *x\nc: !!str 2\n");
        let found: Vec<(usize, &str)> = errors
            .iter()
            .map(|e| (e.line, e.message.split(' ').next().unwrap_or("")))
            .collect();
        assert_eq!(found, [(1, "anchors"), (2, "aliases"), (3, "YAML")]);
    }

    /// An empty file, or one with only comments, is an error.
    #[test]
    fn empty_files() {
        for text in ["", "  \n", "# only a comment\n", "---\n"] {
            let (_, errors) = tree(text);
            assert_eq!(errors.len(), 1, "{text:?}");
            assert_eq!(errors[0].message, "the file is empty");
        }
    }

    /// A second document is refused at its `---`.
    #[test]
    fn one_document_only() {
        let (line, column, _, message) = first_error("a: 1\n---\nb: 2\n");
        assert_eq!((line, column), (2, 1));
        assert!(message.contains("one YAML document"), "{message}");
    }

    /// Syntax errors are placed, with the path of where parsing stood.
    #[test]
    fn syntax_errors_are_placed() {
        let (line, column, path, message) = first_error("a:\n  b: c: d\n");
        assert_eq!((line, column, path.as_str()), (2, 7, "a"));
        assert!(message.starts_with("invalid YAML: "), "{message}");
    }

    /// A syntax error caused by an environment value does not quote it.
    #[test]
    fn syntax_error_in_a_value_does_not_leak_it() {
        let (line, column, _, message) = first_error("a: [${SECRET}]\n");
        assert_eq!((line, column), (1, 5));
        assert!(!message.contains("s3cr3t"), "{message}");
    }

    /// Deep nesting is refused instead of exhausting the stack.
    #[test]
    fn deep_nesting_is_refused() {
        let text = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let message = first_error(&text).3;
        assert!(message.contains("recursion limit") || message.contains("deeper than"));
    }

    /// A placeholder is reported once and its node marked as reported.
    #[test]
    fn placeholders_are_reported() {
        let (root, errors) = tree("a:\n  id: xxxAZURE_CLIENT_IDxxx\n");
        assert_eq!(errors.len(), 1);
        assert_eq!((errors[0].line, errors[0].column), (2, 7));
        assert_eq!(errors[0].key_path, "a.id");
        assert!(errors[0].message.contains("${AZURE_CLIENT_ID}"));
        let root = root.expect("a tree");
        let inner = entries(&entries(&root)[0].value);
        assert!(matches!(inner[0].value.kind, NodeKind::Reported));
    }

    /// A position is attributed to the innermost key or item before it.
    #[test]
    fn finds_the_path_of_a_position() {
        let text = "a:\n  b: [x, y]\n  c: 1\nd: 2\n";
        let root = tree(text).0.expect("a tree");
        let at = |needle: &str| text.find(needle).expect("in the text");
        assert_eq!(path_at(&root, at("y")), "a.b[1]");
        assert_eq!(path_at(&root, at("1")), "a.c");
        assert_eq!(path_at(&root, at("2")), "d");
        assert_eq!(path_at(&root, 0), "a");
    }

    /// Quoted lengths handle escapes and doubled quotes.
    #[test]
    fn quoted_lengths() {
        assert_eq!(quoted_len(r#""a\"b" x"#, '"', Some('\\')), 6);
        assert_eq!(quoted_len("'it''s' x", '\'', None), 7);
        assert_eq!(plain_len("a#b c # comment\n"), 5);
    }
}
