//! Mermaid `stateDiagram-v2`.

use super::layout::one_line;
use super::render::Syntax;

/// Mermaid: a header line, no footer.
pub(super) const SYNTAX: Syntax = Syntax {
    header: "stateDiagram-v2",
    footer: None,
    text,
};

/// `text` made safe for Mermaid: on one line, with `"` and `;` (which would end a label or a
/// statement) written as entity codes.
fn text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in one_line(text).chars() {
        match c {
            '"' => out.push_str("#quot;"),
            ';' => out.push_str("#59;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn quotes_semicolons_and_newlines_are_neutralised() {
        assert_eq!(super::text("a\"b;c\nd"), "a#quot;b#59;c d");
    }
}
