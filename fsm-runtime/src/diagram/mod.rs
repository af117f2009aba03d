//! Mermaid and PlantUML state diagrams drawn from a table's static description.
//!
//! Both formats share one ordering pass: [`Diagram::new`] turns a [`Table`] into a
//! format-neutral layout (states, start lines, the any-state note, edges, just-record notes and
//! end lines, all in their final order with their final ids and labels), and the
//! [Mermaid](Diagram::write_mermaid) and [PlantUML](Diagram::write_plantuml) renderers only
//! print it, with the same line kinds in the same order (PlantUML adds `@startuml`/`@enduml`). The layout follows go-statemachine's `GenerateUML` (with `includeFromAny = false`),
//! with our own wording:
//!
//! 1. **States**: every status that appears in the table as an explicit source or as a `To`
//!    destination (including the destination of a `FromAny`), plus the start states the caller
//!    names, sorted by `Ord` and labelled with their `Display` text. A status mentioned only in
//!    `finality_states` or `entry_funcs` is not drawn: nothing can reach it, and
//!    [`analysis`](crate::analysis) reports it.
//! 2. **Entry-func lines**: one per drawn state with an entry func, in state order, naming the
//!    func as declared (the method name in the generated trait).
//! 3. **Start lines**: `[*] --> s` per start state, in the order given.
//! 4. **Any-state note**: when the table has `FromAny` transitions, one note on the first state
//!    lists those events in declaration order with their effect. They are not drawn as edges.
//! 5. **Edges**: events in declaration order; within an event, its explicit sources in state
//!    order (a `FromMany` gives one edge per source). `To(d)` is an edge to `d`, `ToNoChange` a
//!    self-loop; `ToJustRecord` draws no edge (see 6).
//! 6. **Just-record notes**: one note per state (in state order) that has events which only
//!    record there, listing them in declaration order.
//! 7. **End lines**: `s --> [*]` per finality state, in declaration order (only for drawn
//!    states; a final state no transition mentions is reported by the analysis instead).
//!
//! Labels: states and events are labelled with their `Display` text (for the retrieval provider
//! that is Go's names, e.g. `DealStatusNew` and `ProviderEventOpen`). Ids are derived from the
//! state labels, reduced to valid identifiers for both formats (see [`StateNode::id`]). The
//! output is a pure function of the table and the start states.
//!
//! # Keeping a committed diagram current
//!
//! [`check_or_update`] compares a diagram file (say `docs/<machine>.mmd`) with the rendered
//! text from a test, failing with a line diff when the table has changed, and rewrites the
//! file when `FSM_UPDATE_DIAGRAMS=1` is set:
//!
//! ```no_run
//! # use fsm_runtime::diagram::{self, Format};
//! # #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)] enum S { New }
//! # #[derive(Debug, Clone, Copy)] enum E { Go }
//! # impl std::fmt::Display for S { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("New") } }
//! # impl std::fmt::Display for E { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("Go") } }
//! # fn table() -> &'static fsm_runtime::table::Table<S, E> { unimplemented!() }
//! // tests/diagram.rs (`table()` stands for `MyFsm::table()`, `S::New` for its start state)
//! #[test]
//! fn diagrams_are_up_to_date() {
//!     for format in Format::ALL {
//!         let path = format!(
//!             "{}/docs/my_machine.{}",
//!             env!("CARGO_MANIFEST_DIR"),
//!             format.extension()
//!         );
//!         let rendered = diagram::render(format, table(), &[S::New]);
//!         if let Err(error) = diagram::check_or_update(&path, &rendered) {
//!             panic!("{error}");
//!         }
//!     }
//! }
//! ```

mod file;
mod layout;
mod mermaid;
mod plantuml;
mod render;

use std::fmt;
use std::str::FromStr;

use crate::table::Table;

pub use file::{DiagramFileError, FileStatus, UPDATE_ENV, check_or_update};
pub use layout::{AnyStateEffect, AnyStateEvent, Diagram, Edge, JustRecordNote, StateNode};

/// A diagram syntax.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Mermaid `stateDiagram-v2`.
    Mermaid,
    /// PlantUML (`@startuml` … `@enduml`).
    PlantUml,
}

impl Format {
    /// Every format, in a fixed order.
    pub const ALL: [Format; 2] = [Format::Mermaid, Format::PlantUml];

    /// The name accepted by [`FromStr`]: `mermaid` or `plantuml`.
    pub fn name(self) -> &'static str {
        match self {
            Format::Mermaid => "mermaid",
            Format::PlantUml => "plantuml",
        }
    }

    /// The usual file extension, without the dot: `mmd` or `puml`.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Mermaid => "mmd",
            Format::PlantUml => "puml",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A diagram format name that is neither `mermaid` nor `plantuml`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown diagram format `{0}` (expected `mermaid` or `plantuml`)")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|format| format.name() == s)
            .ok_or_else(|| UnknownFormat(s.to_owned()))
    }
}

/// Draws `table` as a Mermaid `stateDiagram-v2`, with `[*]` pointing at each of `start`.
pub fn mermaid<S, E>(table: &Table<S, E>, start: &[S]) -> String
where
    S: Copy + Ord + fmt::Display,
    E: fmt::Display,
{
    Diagram::new(table, start).to_mermaid()
}

/// Draws `table` as a PlantUML state diagram, with `[*]` pointing at each of `start`.
pub fn plantuml<S, E>(table: &Table<S, E>, start: &[S]) -> String
where
    S: Copy + Ord + fmt::Display,
    E: fmt::Display,
{
    Diagram::new(table, start).to_plantuml()
}

/// Draws `table` in `format`, with `[*]` pointing at each of `start`.
pub fn render<S, E>(format: Format, table: &Table<S, E>, start: &[S]) -> String
where
    S: Copy + Ord + fmt::Display,
    E: fmt::Display,
{
    Diagram::new(table, start).render(format)
}

impl Diagram {
    /// Writes the diagram in `format` to `out`.
    pub fn write<W: fmt::Write>(&self, format: Format, out: &mut W) -> fmt::Result {
        match format {
            Format::Mermaid => self.write_mermaid(out),
            Format::PlantUml => self.write_plantuml(out),
        }
    }

    /// Writes the diagram as Mermaid `stateDiagram-v2` to `out`.
    pub fn write_mermaid<W: fmt::Write>(&self, out: &mut W) -> fmt::Result {
        render::write(self, &mermaid::SYNTAX, out)
    }

    /// Writes the diagram as PlantUML to `out`.
    pub fn write_plantuml<W: fmt::Write>(&self, out: &mut W) -> fmt::Result {
        render::write(self, &plantuml::SYNTAX, out)
    }

    /// The diagram in `format`.
    pub fn render(&self, format: Format) -> String {
        let mut out = String::new();
        // Writing into a `String` never fails.
        let _ = self.write(format, &mut out);
        out
    }

    /// The diagram as Mermaid `stateDiagram-v2`.
    pub fn to_mermaid(&self) -> String {
        self.render(Format::Mermaid)
    }

    /// The diagram as PlantUML.
    pub fn to_plantuml(&self) -> String {
        self.render(Format::PlantUml)
    }
}
