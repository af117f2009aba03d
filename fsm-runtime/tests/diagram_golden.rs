//! Golden-file tests for the Mermaid and PlantUML generators, on a small machine that uses every
//! builder word, plus checks of the layout rules on the same machine.
//!
//! Regenerate the golden files after an intended change with
//! `UPDATE_GOLDEN=1 cargo test -p fsm-runtime --test diagram_golden`.

#![allow(clippy::unwrap_used)]

use std::fmt;
use std::path::PathBuf;

use fsm_runtime::diagram::{self, AnyStateEffect, Diagram, Format};
use fsm_runtime::table::Table;
use fsm_runtime::{ActionResult, Machine, fsm};

/// The status of the demo order machine. `Fail` lists its sources out of `Ord` order on
/// purpose.
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

/// The record of the demo order machine.
#[derive(Debug, Clone)]
struct Order {
    status: OrderStatus,
    notes: Vec<String>,
    paid: u64,
}

/// The shared action of `Fail`.
fn record_error(order: &mut Order, error: String) -> ActionResult {
    order.notes.push(error);
    Ok(())
}

fsm! {
    /// A small order machine that uses every builder word: `From`, `FromMany`, `FromAny`, `To`,
    /// `ToNoChange`, `ToJustRecord`, inline and shared `Action`s, finality and entry funcs
    /// (one of them shared by two states).
    machine OrderFsm {
        state: Order,
        status: OrderStatus,
        event: OrderEvent,
        input: OrderInput,
        entry: OrderEntryFuncs,
    }
    events {
        Event(OrderEvent::Edit)
            .From(OrderStatus::Draft).ToNoChange()
            .Action(|order: &mut Order, text: String| {
                order.notes.push(text);
                Ok(())
            }),
        Event(OrderEvent::Submit).From(OrderStatus::Draft).To(OrderStatus::Submitted),
        Event(OrderEvent::Pay)
            .From(OrderStatus::Submitted).To(OrderStatus::Paid)
            .From(OrderStatus::Paid).ToJustRecord()
            .Action(|order: &mut Order, amount: u64| {
                order.paid += amount;
                Ok(())
            }),
        Event(OrderEvent::Ship).From(OrderStatus::Paid).To(OrderStatus::Shipped),
        Event(OrderEvent::Deliver).From(OrderStatus::Shipped).To(OrderStatus::Delivered),
        Event(OrderEvent::Remind)
            .FromMany(OrderStatus::Paid, OrderStatus::Submitted).ToJustRecord(),
        Event(OrderEvent::Fail)
            .FromMany(OrderStatus::Shipped, OrderStatus::Submitted, OrderStatus::Paid)
            .To(OrderStatus::Failed)
            .Action(record_error as fn(&mut Order, String)),
        Event(OrderEvent::Ping).FromAny().ToNoChange(),
        Event(OrderEvent::Cancel)
            .From(OrderStatus::Shipped).ToJustRecord()
            .FromAny().To(OrderStatus::Cancelled),
        Event(OrderEvent::Annotate).FromAny().ToJustRecord(),
    }
    finality_states { OrderStatus::Delivered, OrderStatus::Cancelled, OrderStatus::Failed }
    entry_funcs {
        OrderStatus::Submitted => notify_customer,
        OrderStatus::Paid | OrderStatus::Shipped => track_parcel,
    }
}

/// The demo machine's table.
fn order() -> &'static Table<OrderStatus, OrderEvent> {
    OrderFsm::table()
}

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
        &diagram::mermaid(order(), &[OrderStatus::Draft]),
    );
}

#[test]
fn plantuml_matches_golden_file() {
    check_golden(
        "order.puml",
        &diagram::plantuml(order(), &[OrderStatus::Draft]),
    );
}

#[test]
fn states_are_sources_and_to_destinations_in_ord_order() {
    let layout = Diagram::new(order(), &[OrderStatus::Draft]);
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
    let layout = Diagram::new(order(), &[OrderStatus::Draft]);
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
    let layout = Diagram::new(order(), &[OrderStatus::Draft]);
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
    let mermaid = diagram::render(Format::Mermaid, order(), &[OrderStatus::Draft]);
    let plantuml = diagram::render(Format::PlantUml, order(), &[OrderStatus::Draft]);
    let mermaid_body: Vec<_> = mermaid.lines().skip(1).collect();
    let plantuml_lines: Vec<_> = plantuml.lines().collect();
    assert_eq!(plantuml_lines.first(), Some(&"@startuml"));
    assert_eq!(plantuml_lines.last(), Some(&"@enduml"));
    assert_eq!(mermaid.lines().next(), Some("stateDiagram-v2"));
    assert_eq!(mermaid_body, plantuml_lines[1..plantuml_lines.len() - 1]);
}
