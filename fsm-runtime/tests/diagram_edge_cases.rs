//! Diagram rules at the edges: ids from awkward labels, escaping, start and final states the
//! table does not draw, a table without `FromAny` or just-record events, and format names.

#![allow(dead_code)]

use std::fmt;

use fsm_runtime::diagram::{self, Diagram, Format};
use fsm_runtime::{Machine, fsm};

/// A status whose `Display` text is not an identifier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Step {
    First,
    Second,
    SecondToo,
    End,
    Idle,
    Gone,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::First => "1st step",
            Step::Second => "second \"step\"",
            Step::SecondToo => "second-'step'",
            Step::End => "end",
            Step::Idle => "idle",
            Step::Gone => "gone",
        })
    }
}

/// Event codes with a `;` in their text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Go {
    Next,
    Stop,
}

impl fmt::Display for Go {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Go::Next => "next;step",
            Go::Stop => "stop",
        })
    }
}

/// The record.
#[derive(Debug, Clone)]
struct Walk {
    status: Step,
}

fsm! {
    /// Plain `From`/`To` only: no `FromAny`, no just-record events.
    machine Steps {
        state: Walk, status: Step, event: Go, input: StepsInput, entry: StepsEntry,
    }
    events {
        Event(Go::Next)
            .From(Step::First).To(Step::Second)
            .From(Step::Second).To(Step::SecondToo)
            .From(Step::SecondToo).To(Step::End),
        Event(Go::Stop).From(Step::End).ToNoChange(),
    }
    finality_states { Step::Gone }
    entry_funcs { Step::Second => greet }
}

#[test]
fn ids_are_identifiers_derived_from_labels_and_unique() {
    let layout = Diagram::new(Steps::table(), &[Step::First]);
    let ids: Vec<_> = layout.states.iter().map(|s| s.id.as_str()).collect();
    // "second \"step\"" and "second-'step'" both reduce to `second__step_`.
    assert_eq!(
        ids,
        ["s_1st_step", "second__step_", "second__step__2", "end_"]
    );
    for id in ids {
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        assert!(!id.starts_with(|c: char| c.is_ascii_digit()));
    }
}

#[test]
fn labels_are_escaped_per_format() {
    let mermaid = diagram::mermaid(Steps::table(), &[Step::First]);
    assert!(mermaid.contains("state \"second #quot;step#quot;\" as second__step_\n"));
    assert!(mermaid.contains("second__step_ --> second__step__2 : next#59;step\n"));
    let plantuml = diagram::plantuml(Steps::table(), &[Step::First]);
    assert!(plantuml.contains("state \"second 'step'\" as second__step_\n"));
    assert!(plantuml.contains("second__step_ --> second__step__2 : next;step\n"));
}

#[test]
fn undrawn_final_states_get_no_end_line_and_no_notes_without_their_events() {
    let text = diagram::mermaid(Steps::table(), &[Step::First]);
    // `Gone` is final but no transition mentions it: not drawn, no end line.
    assert!(!text.contains("gone"));
    assert!(!text.contains("--> [*]"));
    assert!(!text.contains("note"));
    // The start line and four edges.
    assert_eq!(text.lines().filter(|l| l.contains(" --> ")).count(), 5);
}

#[test]
fn a_start_state_outside_the_table_is_drawn() {
    let layout = Diagram::new(Steps::table(), &[Step::Idle, Step::First]);
    assert_eq!(
        layout.states.first().map(|s| s.label.as_str()),
        Some("1st step")
    );
    let starts: Vec<_> = layout
        .start
        .iter()
        .map(|&i| layout.state(i).label.as_str())
        .collect();
    assert_eq!(starts, ["idle", "1st step"]);
    let text = layout.to_plantuml();
    let start_lines: Vec<_> = text.lines().filter(|l| l.contains("[*] -->")).collect();
    assert_eq!(start_lines, ["    [*] --> idle", "    [*] --> s_1st_step"]);
}

#[test]
fn output_is_deterministic() {
    let first = diagram::render(Format::Mermaid, Steps::table(), &[Step::First]);
    for _ in 0..3 {
        assert_eq!(
            diagram::render(Format::Mermaid, Steps::table(), &[Step::First]),
            first
        );
    }
}

#[test]
fn formats_parse_from_their_names() {
    for format in Format::ALL {
        assert_eq!(format.name().parse::<Format>(), Ok(format));
    }
    assert_eq!(Format::Mermaid.extension(), "mmd");
    assert_eq!(Format::PlantUml.extension(), "puml");
    let error = "svg".parse::<Format>().unwrap_err();
    assert_eq!(
        error.to_string(),
        "unknown diagram format `svg` (expected `mermaid` or `plantuml`)"
    );
}
