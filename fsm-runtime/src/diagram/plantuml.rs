//! PlantUML state diagrams.

use super::layout::one_line;
use super::render::Syntax;

/// PlantUML: the body wrapped in `@startuml` / `@enduml`.
pub(super) const SYNTAX: Syntax = Syntax {
    header: "@startuml",
    footer: Some("@enduml"),
    text,
};

/// `text` made safe for PlantUML: on one line, with `"` (which would end a quoted state name,
/// and has no escape there) replaced by `'`.
fn text(text: &str) -> String {
    one_line(text).replace('"', "'")
}

#[cfg(test)]
mod tests {
    #[test]
    fn quotes_and_newlines_are_neutralised() {
        assert_eq!(super::text("a\"b;c\nd"), "a'b;c d");
    }
}
