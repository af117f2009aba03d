//! Keeping a committed diagram file in step with its table, from a test.

use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

/// The environment variable that makes [`check_or_update`] write the file instead of
/// comparing it. Any value other than empty or `0` turns writing on.
pub const UPDATE_ENV: &str = "FSM_UPDATE_DIAGRAMS";

/// What [`check_or_update`] found or did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileStatus {
    /// The file already held the rendered diagram; it was not touched.
    UpToDate,
    /// [`UPDATE_ENV`] was set and the file was missing or different: it now holds the rendered
    /// diagram.
    Written,
}

/// Why [`check_or_update`] failed. The `Display` text says what to run to fix it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DiagramFileError {
    /// The file differs from the rendered diagram.
    #[error(
        "{} is out of date with its table (- in the file, + rendered):\n{diff}\
         Regenerate it by running this test with {UPDATE_ENV}=1.",
        path.display()
    )]
    OutOfDate {
        /// The file.
        path: PathBuf,
        /// A line diff from the file's text to the rendered one.
        diff: String,
    },
    /// The file does not exist.
    #[error(
        "{} does not exist. Create it by running this test with {UPDATE_ENV}=1.",
        path.display()
    )]
    Missing {
        /// The file.
        path: PathBuf,
    },
    /// The file could not be read or written.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// `read` or `write`.
        action: &'static str,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
}

/// Checks that the file at `path` holds `rendered`, or writes it there when the environment
/// variable [`UPDATE_ENV`] (`FSM_UPDATE_DIAGRAMS`) is set.
///
/// Meant for a test that keeps a committed diagram (say `docs/<machine>.mmd`) current with
/// the table it is drawn from: the test fails with a line diff as soon as the table changes,
/// and `FSM_UPDATE_DIAGRAMS=1 cargo test` rewrites the file (creating missing parent
/// directories). Writing only happens when the content differs, so an up-to-date file keeps
/// its modification time.
///
/// The comparison ignores carriage returns before line feeds in the file, so a checkout that
/// converted line endings still passes. A relative `path` is resolved against the current
/// directory, which `cargo test` sets to the package's root; build it from
/// `env!("CARGO_MANIFEST_DIR")` to be independent of that.
///
/// ```no_run
/// # use fsm_runtime::diagram::{self, Format};
/// # #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)] enum S { A }
/// # #[derive(Debug, Clone, Copy)] enum E { Go }
/// # impl std::fmt::Display for S { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("A") } }
/// # impl std::fmt::Display for E { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("Go") } }
/// # fn table() -> &'static fsm_runtime::table::Table<S, E> { unimplemented!() }
/// // In a test (`table()` stands for `MyFsm::table()`):
/// let rendered = diagram::render(Format::Mermaid, table(), &[S::A]);
/// let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/door.mmd");
/// if let Err(error) = diagram::check_or_update(path, &rendered) {
///     panic!("{error}");
/// }
/// ```
pub fn check_or_update(
    path: impl AsRef<Path>,
    rendered: &str,
) -> Result<FileStatus, DiagramFileError> {
    check_or_update_with(path.as_ref(), rendered, update_requested())
}

/// Whether [`UPDATE_ENV`] asks for files to be written.
fn update_requested() -> bool {
    std::env::var_os(UPDATE_ENV).is_some_and(|value| !value.is_empty() && value != "0")
}

/// [`check_or_update`] with the mode given instead of read from the environment.
fn check_or_update_with(
    path: &Path,
    rendered: &str,
    update: bool,
) -> Result<FileStatus, DiagramFileError> {
    let io_error = |action, source| DiagramFileError::Io {
        path: path.to_owned(),
        action,
        source,
    };
    let committed = match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(error) if error.kind() == io::ErrorKind::NotFound => None,
        Err(error) => return Err(io_error("read", error)),
    };
    let committed = committed.map(|text| text.replace("\r\n", "\n"));
    if committed.as_deref() == Some(rendered) {
        return Ok(FileStatus::UpToDate);
    }
    if update {
        if let Some(parent) = path
            .parent()
            .filter(|parent| !parent.as_os_str().is_empty())
        {
            std::fs::create_dir_all(parent).map_err(|error| io_error("write", error))?;
        }
        std::fs::write(path, rendered).map_err(|error| io_error("write", error))?;
        return Ok(FileStatus::Written);
    }
    match committed {
        None => Err(DiagramFileError::Missing {
            path: path.to_owned(),
        }),
        Some(committed) => Err(DiagramFileError::OutOfDate {
            path: path.to_owned(),
            diff: line_diff(&committed, rendered),
        }),
    }
}

/// Most changed lines a diff shows; the rest are counted.
const MAX_SHOWN: usize = 60;
/// Unchanged lines shown around each change.
const CONTEXT: usize = 2;
/// Largest `old lines × new lines` for which the exact diff is computed; past it, the diff
/// shows everything from the first differing line on.
const MAX_CELLS: usize = 4_000_000;

/// One line of an edit script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op<'a> {
    Same(&'a str),
    Removed(&'a str),
    Added(&'a str),
}

/// A readable line diff from `old` to `new`: changed lines with `-`/`+`, a little context
/// around them, each line ending in `\n`.
fn line_diff(old: &str, new: &str) -> String {
    let old_lines: Vec<&str> = old.lines().collect();
    let new_lines: Vec<&str> = new.lines().collect();
    if old_lines == new_lines {
        return "  (the lines are equal; the texts differ in the final line break)\n".to_owned();
    }
    let ops = edit_script(&old_lines, &new_lines);

    // Which ops to show: the changes and their context.
    let mut shown = vec![false; ops.len()];
    for (index, op) in ops.iter().enumerate() {
        if !matches!(op, Op::Same(_)) {
            let from = index.saturating_sub(CONTEXT);
            let to = (index + CONTEXT + 1).min(ops.len());
            shown[from..to].iter_mut().for_each(|flag| *flag = true);
        }
    }

    let mut out = String::new();
    let (mut old_line, mut new_line) = (1usize, 1usize);
    let mut changes_shown = 0;
    let mut changes_left = 0;
    let mut in_hunk = false;
    for (op, shown) in ops.iter().zip(shown) {
        let is_change = !matches!(op, Op::Same(_));
        if shown && changes_shown < MAX_SHOWN {
            if !in_hunk {
                let _ = writeln!(out, "@@ file line {old_line}, rendered line {new_line} @@");
                in_hunk = true;
            }
            let (marker, text) = match op {
                Op::Same(text) => (' ', text),
                Op::Removed(text) => ('-', text),
                Op::Added(text) => ('+', text),
            };
            let _ = writeln!(out, "{marker} {text}");
            if is_change {
                changes_shown += 1;
            }
        } else {
            in_hunk = false;
            if is_change {
                changes_left += 1;
            }
        }
        match op {
            Op::Same(_) => {
                old_line += 1;
                new_line += 1;
            }
            Op::Removed(_) => old_line += 1,
            Op::Added(_) => new_line += 1,
        }
    }
    if changes_left > 0 {
        let _ = writeln!(out, "... and {changes_left} more changed lines");
    }
    out
}

/// A shortest edit script from `old` to `new` (longest common subsequence of lines), after
/// taking off the common prefix and suffix. Falls back to replacing everything between them
/// when the middle parts are too large to compare line by line.
fn edit_script<'a>(old: &[&'a str], new: &[&'a str]) -> Vec<Op<'a>> {
    let prefix = old
        .iter()
        .zip(new)
        .take_while(|(old, new)| old == new)
        .count();
    let suffix = old[prefix..]
        .iter()
        .rev()
        .zip(new[prefix..].iter().rev())
        .take_while(|(old, new)| old == new)
        .count();
    let old_mid = &old[prefix..old.len() - suffix];
    let new_mid = &new[prefix..new.len() - suffix];

    let mut ops: Vec<Op<'a>> = old[..prefix].iter().map(|line| Op::Same(line)).collect();
    if old_mid.len().saturating_mul(new_mid.len()) > MAX_CELLS {
        ops.extend(old_mid.iter().map(|line| Op::Removed(line)));
        ops.extend(new_mid.iter().map(|line| Op::Added(line)));
    } else {
        // lcs[i][j]: length of the longest common subsequence of old_mid[i..] and new_mid[j..].
        let width = new_mid.len() + 1;
        let mut lcs = vec![0u32; (old_mid.len() + 1) * width];
        for i in (0..old_mid.len()).rev() {
            for j in (0..new_mid.len()).rev() {
                lcs[i * width + j] = if old_mid[i] == new_mid[j] {
                    lcs[(i + 1) * width + j + 1] + 1
                } else {
                    lcs[(i + 1) * width + j].max(lcs[i * width + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < old_mid.len() && j < new_mid.len() {
            if old_mid[i] == new_mid[j] {
                ops.push(Op::Same(old_mid[i]));
                i += 1;
                j += 1;
            } else if lcs[(i + 1) * width + j] >= lcs[i * width + j + 1] {
                ops.push(Op::Removed(old_mid[i]));
                i += 1;
            } else {
                ops.push(Op::Added(new_mid[j]));
                j += 1;
            }
        }
        ops.extend(old_mid[i..].iter().map(|line| Op::Removed(line)));
        ops.extend(new_mid[j..].iter().map(|line| Op::Added(line)));
    }
    ops.extend(old[old.len() - suffix..].iter().map(|line| Op::Same(line)));
    ops
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn diff_shows_changed_lines_with_context_and_line_numbers() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n";
        let new = "a\nb\nc\nD\ne\nf\ng\nh\ni\nj\nk\n";
        assert_eq!(
            line_diff(old, new),
            "@@ file line 2, rendered line 2 @@\n  b\n  c\n- d\n+ D\n  e\n  f\n\
             @@ file line 9, rendered line 9 @@\n  i\n  j\n+ k\n"
        );
    }

    #[test]
    fn diff_of_texts_differing_only_in_the_final_newline_says_so() {
        assert!(line_diff("a\nb", "a\nb\n").contains("final line break"));
    }

    #[test]
    fn diff_caps_the_number_of_changed_lines() {
        let old: String = (0..100).map(|i| format!("{i}\n")).collect();
        let diff = line_diff(&old, "");
        assert_eq!(
            diff.lines().filter(|line| line.starts_with('-')).count(),
            MAX_SHOWN
        );
        assert!(diff.ends_with("... and 40 more changed lines\n"));
    }

    #[test]
    fn edit_script_is_a_longest_common_subsequence() {
        let ops = edit_script(&["x", "a", "b", "c"], &["a", "y", "c", "z"]);
        assert_eq!(
            ops,
            [
                Op::Removed("x"),
                Op::Same("a"),
                Op::Removed("b"),
                Op::Added("y"),
                Op::Same("c"),
                Op::Added("z"),
            ]
        );
    }

    #[test]
    fn checks_writes_and_reports() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docs").join("m.mmd");

        let error = check_or_update_with(&path, "one\n", false).unwrap_err();
        assert!(matches!(error, DiagramFileError::Missing { .. }));
        assert!(error.to_string().contains("FSM_UPDATE_DIAGRAMS=1"));

        assert_eq!(
            check_or_update_with(&path, "one\n", true).unwrap(),
            FileStatus::Written
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\n");
        assert_eq!(
            check_or_update_with(&path, "one\n", false).unwrap(),
            FileStatus::UpToDate
        );
        assert_eq!(
            check_or_update_with(&path, "one\n", true).unwrap(),
            FileStatus::UpToDate
        );

        let error = check_or_update_with(&path, "two\n", false).unwrap_err();
        let message = error.to_string();
        assert!(message.contains("is out of date"), "{message}");
        assert!(message.contains("- one\n+ two\n"), "{message}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "one\n");

        std::fs::write(&path, "two\r\n").unwrap();
        assert_eq!(
            check_or_update_with(&path, "two\n", false).unwrap(),
            FileStatus::UpToDate
        );
    }
}
