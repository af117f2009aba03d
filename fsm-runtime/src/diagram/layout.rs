//! The format-neutral layout shared by the Mermaid and PlantUML renderers.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;

use crate::table::{Destination, Sources, Table};

/// Opening sentence of the any-state note.
pub(super) const ANY_STATE_HEADING: &str =
    "Not drawn: accepted in every non-final state without its own transition for them";

/// Opening sentence of a just-record note.
pub(super) const JUST_RECORD_HEADING: &str = "Recorded here without a state change or entry func:";

/// Words that either format reads as a keyword where an id is expected.
const RESERVED_IDS: &[&str] = &[
    "as",
    "class",
    "classdef",
    "click",
    "direction",
    "end",
    "enduml",
    "endnote",
    "fork",
    "join",
    "choice",
    "left",
    "note",
    "of",
    "right",
    "startuml",
    "state",
    "style",
];

/// A diagram laid out from a table: everything the renderers print, in print order.
///
/// Indices into [`states`](Self::states) link the parts together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagram {
    /// The drawn states, sorted by the status type's `Ord`.
    pub states: Vec<StateNode>,
    /// The start states, as indices into `states`, in the order the caller gave them.
    pub start: Vec<usize>,
    /// The `FromAny` events, in declaration order (drawn as one note on the first state).
    pub any_state_events: Vec<AnyStateEvent>,
    /// The edges, events in declaration order and sources in state order within an event.
    pub edges: Vec<Edge>,
    /// The just-record notes, in state order.
    pub just_record: Vec<JustRecordNote>,
    /// The final states drawn to the end marker, as indices into `states`, in declaration
    /// order.
    pub end: Vec<usize>,
}

/// One drawn state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateNode {
    /// The identifier used in the diagram source.
    ///
    /// Derived from the label: every character other than an ASCII letter, digit or `_`
    /// becomes `_`; a label that is empty or starts with a digit gets an `s_` prefix; a
    /// keyword of either format gets a `_` suffix; and a clash with an earlier id (in state
    /// order) gets `_2`, `_3`, ….
    pub id: String,
    /// The status's `Display` text.
    pub label: String,
    /// The name of the state's entry func, if it has one.
    pub entry_func: Option<&'static str>,
}

/// One `FromAny` event in the any-state note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnyStateEvent {
    /// The event's `Display` text.
    pub event: String,
    /// What the event does.
    pub effect: AnyStateEffect,
}

/// What a `FromAny` event does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnyStateEffect {
    /// `To(s)`: moves to the state at this index.
    To(usize),
    /// `ToNoChange()`: stays, and the state's entry func runs again.
    NoChange,
    /// `ToJustRecord()`: stays, and nothing runs.
    JustRecord,
}

/// One labelled edge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edge {
    /// The source state's index.
    pub from: usize,
    /// The destination state's index (equal to `from` for a self-loop).
    pub to: usize,
    /// The event's `Display` text.
    pub event: String,
}

/// The events that only record in one state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JustRecordNote {
    /// The state's index.
    pub state: usize,
    /// The events' `Display` texts, in declaration order.
    pub events: Vec<String>,
}

impl Diagram {
    /// Lays out `table` with `[*]` pointing at each of `start`.
    pub fn new<S, E>(table: &Table<S, E>, start: &[S]) -> Self
    where
        S: Copy + Ord + fmt::Display,
        E: fmt::Display,
    {
        let mut drawn = BTreeSet::new();
        for event in table.events {
            for transition in event.transitions {
                drawn.extend(transition.sources.states().iter().map(|info| info.status));
                if let Destination::To(info) = transition.destination {
                    drawn.insert(info.status);
                }
            }
        }
        drawn.extend(start.iter().copied());
        let order: Vec<S> = drawn.into_iter().collect();
        // `index` holds every explicit source, every `To` destination and every start state,
        // which are exactly the statuses looked up with `index[..]` below, so no lookup fails.
        let index: BTreeMap<S, usize> = order.iter().enumerate().map(|(i, s)| (*s, i)).collect();

        let states = name_states(&order, |status| {
            table
                .entry_funcs
                .iter()
                .find(|func| func.states.iter().any(|info| info.status == status))
                .map(|func| func.name)
        });

        let mut any_state_events = Vec::new();
        let mut edges = Vec::new();
        let mut records: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        for event in table.events {
            let label = event.event.to_string();
            // Explicit sources of this event, in state order, with their destinations.
            let mut explicit: Vec<(usize, Destination<S>)> = Vec::new();
            for transition in event.transitions {
                match transition.sources {
                    Sources::Any => any_state_events.push(AnyStateEvent {
                        event: label.clone(),
                        effect: match transition.destination {
                            Destination::To(info) => AnyStateEffect::To(index[&info.status]),
                            Destination::NoChange => AnyStateEffect::NoChange,
                            Destination::JustRecord => AnyStateEffect::JustRecord,
                        },
                    }),
                    Sources::States(sources) => explicit.extend(
                        sources
                            .iter()
                            .map(|info| (index[&info.status], transition.destination)),
                    ),
                }
            }
            explicit.sort_by_key(|(from, _)| *from);
            for (from, destination) in explicit {
                match destination {
                    Destination::To(info) => edges.push(Edge {
                        from,
                        to: index[&info.status],
                        event: label.clone(),
                    }),
                    Destination::NoChange => edges.push(Edge {
                        from,
                        to: from,
                        event: label.clone(),
                    }),
                    Destination::JustRecord => records.entry(from).or_default().push(label.clone()),
                }
            }
        }

        let start = start.iter().map(|status| index[status]).collect();
        let end = table
            .finality_states
            .iter()
            .filter_map(|info| index.get(&info.status).copied())
            .collect();
        let just_record = records
            .into_iter()
            .map(|(state, events)| JustRecordNote { state, events })
            .collect();

        Diagram {
            states,
            start,
            any_state_events,
            edges,
            just_record,
            end,
        }
    }

    /// The state at `index`, an index taken from this diagram.
    ///
    /// # Panics
    ///
    /// If `index` is not an index into [`states`](Self::states).
    pub fn state(&self, index: usize) -> &StateNode {
        &self.states[index]
    }
}

/// Gives each status in `order` a label, a unique valid id and its entry func.
fn name_states<S: Copy + fmt::Display>(
    order: &[S],
    entry_func: impl Fn(S) -> Option<&'static str>,
) -> Vec<StateNode> {
    let mut used = HashSet::new();
    order
        .iter()
        .map(|&status| {
            let label = status.to_string();
            let base = identifier(&label);
            let mut id = base.clone();
            let mut n = 2;
            while !used.insert(id.clone()) {
                id = format!("{base}_{n}");
                n += 1;
            }
            StateNode {
                id,
                label,
                entry_func: entry_func(status),
            }
        })
        .collect()
}

/// `label` reduced to an identifier both formats accept (see [`StateNode::id`]).
fn identifier(label: &str) -> String {
    let mut id: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if id.is_empty() || id.starts_with(|c: char| c.is_ascii_digit()) {
        id.insert_str(0, "s_");
    }
    if RESERVED_IDS.contains(&id.to_ascii_lowercase().as_str()) {
        id.push('_');
    }
    id
}

/// `text` on one line: control characters (newlines, tabs) become spaces.
pub(super) fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

impl AnyStateEvent {
    /// The note line for this event, e.g. `Complete: moves to Completing`.
    pub(super) fn describe(&self, diagram: &Diagram) -> String {
        let event = one_line(&self.event);
        match self.effect {
            AnyStateEffect::To(state) => {
                format!(
                    "{event}: moves to {}",
                    one_line(&diagram.state(state).label)
                )
            }
            AnyStateEffect::NoChange => {
                format!("{event}: no state change (the entry func runs again)")
            }
            AnyStateEffect::JustRecord => format!("{event}: recorded without a state change"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_valid_and_avoid_keywords() {
        assert_eq!(identifier("DealStatusNew"), "DealStatusNew");
        assert_eq!(identifier("Deal Status - 5"), "Deal_Status___5");
        assert_eq!(identifier("5"), "s_5");
        assert_eq!(identifier(""), "s_");
        assert_eq!(identifier("end"), "end_");
        assert_eq!(identifier("Note"), "Note_");
    }

    #[test]
    fn clashing_ids_get_a_suffix_in_state_order() {
        let nodes = name_states(&["a-b", "a b", "a_b"], |_| None);
        let ids: Vec<_> = nodes.iter().map(|node| node.id.as_str()).collect();
        assert_eq!(ids, ["a_b", "a_b_2", "a_b_3"]);
    }
}
