//! Line and column arithmetic over one text.
//!
//! Diagnostics speak in 1-based lines and columns of the original file;
//! the YAML scanner speaks in lines and 0-based columns of the
//! interpolated text. [`LineIndex`] converts between those and byte
//! offsets. A line ends at `\n`, `\r\n` or a lone `\r`, as YAML and most
//! editors count them, and a column counts characters, not bytes.
//!
//! Every conversion costs a binary search and a scan of at most
//! [`CHECKPOINT_CHARS`] characters, however long the line: a file of one
//! huge line must not make each of thousands of lookups scan all of it.

/// Characters between two checkpoints.
const CHECKPOINT_CHARS: usize = 64;

/// Where each line of a text starts, and where every
/// [`CHECKPOINT_CHARS`]th character is.
pub(super) struct LineIndex<'a> {
    text: &'a str,
    /// Byte offset of the start of each line; the first is always 0.
    starts: Vec<usize>,
    /// Byte offset of characters number 0, 64, 128 and so on.
    checkpoints: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    pub(super) fn new(text: &'a str) -> Self {
        let bytes = text.as_bytes();
        let mut starts = vec![0];
        for (i, &byte) in bytes.iter().enumerate() {
            let lone_cr = byte == b'\r' && bytes.get(i + 1) != Some(&b'\n');
            if byte == b'\n' || lone_cr {
                starts.push(i + 1);
            }
        }
        let checkpoints = text
            .char_indices()
            .step_by(CHECKPOINT_CHARS)
            .map(|(i, _)| i)
            .collect();
        LineIndex {
            text,
            starts,
            checkpoints,
        }
    }

    /// The 1-based line and column of a byte offset; offsets past the end
    /// or inside a character are moved back to the nearest character.
    pub(super) fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = char_floor(self.text, offset);
        let line = self.starts.partition_point(|&start| start <= offset).max(1);
        let start = self.starts.get(line - 1).copied().unwrap_or(0);
        let column = self.char_number(offset) - self.char_number(start);
        (line, column + 1)
    }

    /// The byte offset of a 1-based line and 0-based character column, as
    /// yaml-rust2's `Marker` gives them. Positions past the end of a line
    /// or of the text are clamped to it.
    pub(super) fn offset(&self, line: usize, column: usize) -> usize {
        let Some(&start) = self.starts.get(line.saturating_sub(1)) else {
            return self.text.len();
        };
        let end = self.starts.get(line).copied().unwrap_or(self.text.len());
        let wanted = self.char_number(start).saturating_add(column);
        self.byte_of_char(wanted).min(end)
    }

    /// How many characters come before the character boundary `offset`.
    fn char_number(&self, offset: usize) -> usize {
        let checkpoint = self.checkpoints.partition_point(|&at| at <= offset);
        let Some(&at) = self.checkpoints.get(checkpoint.wrapping_sub(1)) else {
            return 0;
        };
        let rest = self.text.get(at..offset).map_or(0, |s| s.chars().count());
        (checkpoint - 1) * CHECKPOINT_CHARS + rest
    }

    /// The byte offset of character number `number`, or the text's end.
    fn byte_of_char(&self, number: usize) -> usize {
        let Some(&at) = self.checkpoints.get(number / CHECKPOINT_CHARS) else {
            return self.text.len();
        };
        let rest = &self.text[at..];
        let mut chars = rest.char_indices().skip(number % CHECKPOINT_CHARS);
        chars.next().map_or(self.text.len(), |(i, _)| at + i)
    }
}

/// The largest character boundary at or before `offset`.
pub(super) fn char_floor(text: &str, offset: usize) -> usize {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// Columns count characters, so a multi-byte letter is one column.
    #[test]
    fn columns_count_characters() {
        let index = LineIndex::new("a: é\nbé: x\n");
        assert_eq!(index.line_col(0), (1, 1));
        assert_eq!(index.line_col(3), (1, 4));
        assert_eq!(index.line_col("a: é\nbé: ".len()), (2, 5));
    }

    /// `\r\n` is one line break and a lone `\r` is one too.
    #[test]
    fn line_breaks_as_yaml_counts_them() {
        let index = LineIndex::new("a\r\nb\rc\n");
        assert_eq!(index.line_col(3), (2, 1));
        assert_eq!(index.line_col(5), (3, 1));
    }

    /// Out-of-range positions are clamped instead of panicking.
    #[test]
    fn out_of_range_is_clamped() {
        let index = LineIndex::new("é");
        assert_eq!(index.line_col(1), (1, 1));
        assert_eq!(index.line_col(99), (1, 2));
        assert_eq!(index.offset(7, 3), 2);
        assert_eq!(index.offset(1, 9), 2);
        let empty = LineIndex::new("");
        assert_eq!((empty.line_col(5), empty.offset(1, 3)), ((1, 1), 0));
    }

    /// Columns far into a long line are exact, past many checkpoints.
    #[test]
    fn long_lines() {
        let text = format!("x\n{}|", "é".repeat(1000));
        let index = LineIndex::new(&text);
        let bar = text.len() - 1;
        assert_eq!(index.line_col(bar), (2, 1001));
        assert_eq!(index.offset(2, 1000), bar);
    }

    proptest! {
        /// `offset` is the inverse of `line_col` on every character.
        #[test]
        fn offset_inverts_line_col(text in "[aé\n\r]{0,300}") {
            let index = LineIndex::new(&text);
            for (offset, _) in text.char_indices() {
                let (line, column) = index.line_col(offset);
                prop_assert_eq!(index.offset(line, column - 1), offset);
            }
        }
    }
}
