//! Prints a [`Diagram`] in a [`Syntax`]: the line kinds, their order and the wording, shared by
//! both formats.

use std::fmt::{self, Write};

use super::layout::{ANY_STATE_HEADING, Diagram, JUST_RECORD_HEADING};

/// Indentation of body lines (one level) and of note text (two levels).
const INDENT: &str = "    ";

/// What differs between the two formats. Both accept the same body: `state "label" as id`,
/// `id : description`, `a --> b : label`, `[*]` markers and `note right of id` … `end note`
/// blocks.
pub(super) struct Syntax {
    /// The first line.
    pub(super) header: &'static str,
    /// The last line, if the format has one.
    pub(super) footer: Option<&'static str>,
    /// Makes free text (labels, descriptions, note lines) safe for the format.
    pub(super) text: fn(&str) -> String,
}

pub(super) fn write<W: Write>(diagram: &Diagram, syntax: &Syntax, out: &mut W) -> fmt::Result {
    let text = syntax.text;
    writeln!(out, "{}", syntax.header)?;
    for state in &diagram.states {
        writeln!(
            out,
            "{INDENT}state \"{}\" as {}",
            text(&state.label),
            state.id
        )?;
    }
    for state in &diagram.states {
        if let Some(func) = state.entry_func {
            writeln!(out, "{INDENT}{} : on entry runs {}", state.id, text(func))?;
        }
    }
    for &start in &diagram.start {
        writeln!(out, "{INDENT}[*] --> {}", diagram.state(start).id)?;
    }
    if let (false, Some(first)) = (diagram.any_state_events.is_empty(), diagram.states.first()) {
        writeln!(out, "{INDENT}note right of {}", first.id)?;
        writeln!(out, "{INDENT}{INDENT}{}", text(ANY_STATE_HEADING))?;
        for event in &diagram.any_state_events {
            writeln!(out, "{INDENT}{INDENT}{}", text(&event.describe(diagram)))?;
        }
        writeln!(out, "{INDENT}end note")?;
    }
    for edge in &diagram.edges {
        writeln!(
            out,
            "{INDENT}{} --> {} : {}",
            diagram.state(edge.from).id,
            diagram.state(edge.to).id,
            text(&edge.event)
        )?;
    }
    for note in &diagram.just_record {
        writeln!(out)?;
        writeln!(
            out,
            "{INDENT}note right of {}",
            diagram.state(note.state).id
        )?;
        writeln!(out, "{INDENT}{INDENT}{}", text(JUST_RECORD_HEADING))?;
        for event in &note.events {
            writeln!(out, "{INDENT}{INDENT}{}", text(event))?;
        }
        writeln!(out, "{INDENT}end note")?;
    }
    if !diagram.just_record.is_empty() {
        writeln!(out)?;
    }
    for &end in &diagram.end {
        writeln!(out, "{INDENT}{} --> [*]", diagram.state(end).id)?;
    }
    if let Some(footer) = syntax.footer {
        writeln!(out, "{footer}")?;
    }
    Ok(())
}
