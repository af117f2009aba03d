//! Golden-file tests for the Mermaid and PlantUML generators, on a small machine that uses every
//! builder word, plus checks of the layout rules on the same machine.
//!
//! Regenerate the golden files after an intended change with
//! `UPDATE_GOLDEN=1 cargo test -p fsm-runtime --test diagram_golden`.

#![allow(clippy::unwrap_used)]

use std::fmt;
use std::path::PathBuf;

use fsm_runtime::diagram::{self, AnyStateEffect, Diagram, Format};
use fsm_runtime::table::{
    ActionInfo, Destination, EntryFuncInfo, EventInfo, PayloadParam, Sources, StatusInfo, Table,
    Transition,
};

/// The status of the demo order machine. Declared out of `Ord` order in the table on purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum OrderStatus {
    Draft,
    Submitted,
    Paid,
    Shipped,
    Delivered,
    Cancelled,
    Failed,
}

impl fmt::Display for OrderStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The event codes of the demo order machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum OrderEvent {
    Edit,
    Submit,
    Pay,
    Ship,
    Deliver,
    Remind,
    Fail,
    Ping,
    Cancel,
    Annotate,
}

impl fmt::Display for OrderEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

macro_rules! status {
    ($s:ident) => {
        StatusInfo {
            status: OrderStatus::$s,
            path: concat!("OrderStatus::", stringify!($s)),
        }
    };
}

macro_rules! from {
    (any => $dest:expr) => {
        Transition { sources: Sources::Any, destination: $dest }
    };
    ($($s:ident),+ => $dest:expr) => {
        Transition { sources: Sources::States(&[$(status!($s)),+]), destination: $dest }
    };
}

macro_rules! event {
    ($e:ident, [$($t:expr),+ $(,)?], $action:expr) => {
        EventInfo {
            event: OrderEvent::$e,
            name: stringify!($e),
            path: concat!("OrderEvent::", stringify!($e)),
            transitions: &[$($t),+],
            action: $action,
        }
    };
}

/// The table `fsm!` emits for the demo order machine, written by hand:
///
/// ```text
/// Event(Edit).From(Draft).ToNoChange().Action(|o, text: String| ..)
/// Event(Submit).From(Draft).To(Submitted)
/// Event(Pay).From(Submitted).To(Paid).From(Paid).ToJustRecord().Action(|o, amount: u64| ..)
/// Event(Ship).From(Paid).To(Shipped)
/// Event(Deliver).From(Shipped).To(Delivered)
/// Event(Remind).FromMany(Paid, Submitted).ToJustRecord()
/// Event(Fail).FromMany(Shipped, Submitted, Paid).To(Failed).Action(record_error as fn(..))
/// Event(Ping).FromAny().ToNoChange()
/// Event(Cancel).From(Shipped).ToJustRecord().FromAny().To(Cancelled)
/// Event(Annotate).FromAny().ToJustRecord()
/// finality_states { Delivered, Cancelled, Failed }
/// entry_funcs { Submitted => notify_customer, Paid | Shipped => track_parcel }
/// ```
static ORDER: Table<OrderStatus, OrderEvent> = Table {
    machine: "OrderFsm",
    state_type: "Order",
    status_type: "OrderStatus",
    event_type: "OrderEvent",
    consume_all_events_before_entry_funcs: false,
    events: &[
        event!(
            Edit,
            [from!(Draft => Destination::NoChange)],
            Some(ActionInfo {
                function: None,
                payload: &[PayloadParam {
                    name: "text",
                    ty: "String",
                }],
            })
        ),
        event!(
            Submit,
            [from!(Draft => Destination::To(status!(Submitted)))],
            None
        ),
        event!(
            Pay,
            [
                from!(Submitted => Destination::To(status!(Paid))),
                from!(Paid => Destination::JustRecord),
            ],
            Some(ActionInfo {
                function: None,
                payload: &[PayloadParam {
                    name: "amount",
                    ty: "u64",
                }],
            })
        ),
        event!(
            Ship,
            [from!(Paid => Destination::To(status!(Shipped)))],
            None
        ),
        event!(
            Deliver,
            [from!(Shipped => Destination::To(status!(Delivered)))],
            None
        ),
        event!(
            Remind,
            [from!(Paid, Submitted => Destination::JustRecord)],
            None
        ),
        event!(
            Fail,
            [from!(Shipped, Submitted, Paid => Destination::To(status!(Failed)))],
            Some(ActionInfo {
                function: Some("record_error"),
                payload: &[PayloadParam {
                    name: "arg0",
                    ty: "String",
                }],
            })
        ),
        event!(Ping, [from!(any => Destination::NoChange)], None),
        event!(
            Cancel,
            [
                from!(Shipped => Destination::JustRecord),
                from!(any => Destination::To(status!(Cancelled))),
            ],
            None
        ),
        event!(Annotate, [from!(any => Destination::JustRecord)], None),
    ],
    finality_states: &[status!(Delivered), status!(Cancelled), status!(Failed)],
    entry_funcs: &[
        EntryFuncInfo {
            name: "notify_customer",
            states: &[status!(Submitted)],
        },
        EntryFuncInfo {
            name: "track_parcel",
            states: &[status!(Paid), status!(Shipped)],
        },
    ],
};

/// Compares `actual` with the golden file `name`, or rewrites it when `UPDATE_GOLDEN` is set.
fn check_golden(name: &str, actual: &str) {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "tests", "golden", name]
        .iter()
        .collect();
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected != actual {
        let line = expected
            .lines()
            .zip(actual.lines())
            .position(|(e, a)| e != a)
            .unwrap_or_else(|| expected.lines().count().min(actual.lines().count()));
        panic!(
            "golden file {} is out of date (first difference at line {}).\n\
             Regenerate it with: UPDATE_GOLDEN=1 cargo test -p fsm-runtime --test diagram_golden\n\
             --- actual output ---\n{actual}",
            path.display(),
            line + 1
        );
    }
}

#[test]
fn mermaid_matches_golden_file() {
    check_golden(
        "order.mmd",
        &diagram::mermaid(&ORDER, &[OrderStatus::Draft]),
    );
}

#[test]
fn plantuml_matches_golden_file() {
    check_golden(
        "order.puml",
        &diagram::plantuml(&ORDER, &[OrderStatus::Draft]),
    );
}

#[test]
fn states_are_sources_and_to_destinations_in_ord_order() {
    let layout = Diagram::new(&ORDER, &[OrderStatus::Draft]);
    let labels: Vec<_> = layout.states.iter().map(|s| s.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "Draft",
            "Submitted",
            "Paid",
            "Shipped",
            "Delivered",
            "Cancelled",
            "Failed"
        ]
    );
    let entry: Vec<_> = layout
        .states
        .iter()
        .filter_map(|s| Some((s.label.as_str(), s.entry_func?)))
        .collect();
    assert_eq!(
        entry,
        [
            ("Submitted", "notify_customer"),
            ("Paid", "track_parcel"),
            ("Shipped", "track_parcel"),
        ]
    );
}

#[test]
fn edges_follow_event_order_then_state_order() {
    let layout = Diagram::new(&ORDER, &[OrderStatus::Draft]);
    let edges: Vec<_> = layout
        .edges
        .iter()
        .map(|e| {
            (
                layout.state(e.from).label.as_str(),
                layout.state(e.to).label.as_str(),
                e.event.as_str(),
            )
        })
        .collect();
    assert_eq!(
        edges,
        [
            ("Draft", "Draft", "Edit"),
            ("Draft", "Submitted", "Submit"),
            ("Submitted", "Paid", "Pay"),
            ("Paid", "Shipped", "Ship"),
            ("Shipped", "Delivered", "Deliver"),
            // FromMany(Shipped, Submitted, Paid) is drawn in state order.
            ("Submitted", "Failed", "Fail"),
            ("Paid", "Failed", "Fail"),
            ("Shipped", "Failed", "Fail"),
        ]
    );
}

#[test]
fn any_state_events_and_just_record_notes_are_listed_not_drawn() {
    let layout = Diagram::new(&ORDER, &[OrderStatus::Draft]);
    let any: Vec<_> = layout
        .any_state_events
        .iter()
        .map(|a| (a.event.as_str(), a.effect))
        .collect();
    let cancelled = layout
        .states
        .iter()
        .position(|s| s.label == "Cancelled")
        .unwrap();
    assert_eq!(
        any,
        [
            ("Ping", AnyStateEffect::NoChange),
            ("Cancel", AnyStateEffect::To(cancelled)),
            ("Annotate", AnyStateEffect::JustRecord),
        ]
    );
    let notes: Vec<_> = layout
        .just_record
        .iter()
        .map(|n| (layout.state(n.state).label.as_str(), n.events.clone()))
        .collect();
    assert_eq!(
        notes,
        [
            ("Submitted", vec!["Remind".to_owned()]),
            ("Paid", vec!["Pay".to_owned(), "Remind".to_owned()]),
            ("Shipped", vec!["Cancel".to_owned()]),
        ]
    );
    let end: Vec<_> = layout
        .end
        .iter()
        .map(|&i| layout.state(i).label.as_str())
        .collect();
    assert_eq!(end, ["Delivered", "Cancelled", "Failed"]);
}

#[test]
fn both_formats_print_the_same_body() {
    let mermaid = diagram::render(Format::Mermaid, &ORDER, &[OrderStatus::Draft]);
    let plantuml = diagram::render(Format::PlantUml, &ORDER, &[OrderStatus::Draft]);
    let mermaid_body: Vec<_> = mermaid.lines().skip(1).collect();
    let plantuml_lines: Vec<_> = plantuml.lines().collect();
    assert_eq!(plantuml_lines.first(), Some(&"@startuml"));
    assert_eq!(plantuml_lines.last(), Some(&"@enduml"));
    assert_eq!(mermaid.lines().next(), Some("stateDiagram-v2"));
    assert_eq!(mermaid_body, plantuml_lines[1..plantuml_lines.len() - 1]);
}
