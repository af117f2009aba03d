//! The static description of a table declared with `fsm!`.
//!
//! The macro emits one [`Table`] per machine as a `static`: every event in declaration order
//! with its transitions (a `FromMany` is kept as one [`Transition`] with several sources, so the
//! description reads like the table), its action's payload, the finality states and the entry
//! funcs. Diagrams, table analysis and introspection read it; nothing here runs a machine.

/// A declared table. `S` is the status type and `E` the event-code type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table<S: 'static, E: 'static> {
    /// The machine's name, as written in the `machine` header.
    pub machine: &'static str,
    /// The state type as written in the header.
    pub state_type: &'static str,
    /// The status type as written in the header.
    pub status_type: &'static str,
    /// The event-code type as written in the header.
    pub event_type: &'static str,
    /// Whether the machine consumes all queued events before running an entry func.
    pub consume_all_events_before_entry_funcs: bool,
    /// The events, in declaration order.
    pub events: &'static [EventInfo<S, E>],
    /// The finality states, in declaration order.
    pub finality_states: &'static [StatusInfo<S>],
    /// The entry funcs, in declaration order.
    pub entry_funcs: &'static [EntryFuncInfo<S>],
}

/// A status value together with the text it was written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusInfo<S: 'static> {
    /// The status value.
    pub status: S,
    /// The path as written in the table, e.g. `DealStatus::New`.
    pub path: &'static str,
}

/// One declared event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventInfo<S: 'static, E: 'static> {
    /// The event code.
    pub event: E,
    /// The event's name: the last segment of its path, which is also the name of its variant in
    /// the generated input enum.
    pub name: &'static str,
    /// The path as written in the table, e.g. `ProviderEvent::Open`.
    pub path: &'static str,
    /// The transitions, in declaration order.
    pub transitions: &'static [Transition<S>],
    /// The action, if the event has one.
    pub action: Option<ActionInfo>,
}

/// One `From…`/`To…` group of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition<S: 'static> {
    /// Where the transition applies from.
    pub sources: Sources<S>,
    /// Where it goes.
    pub destination: Destination<S>,
}

/// The source side of a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sources<S: 'static> {
    /// `From(s)` (one entry) or `FromMany(s, …)` (one entry per listed status).
    States(&'static [StatusInfo<S>]),
    /// `FromAny()`: every status that has no explicit transition for this event.
    Any,
}

/// The destination side of a transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination<S: 'static> {
    /// `To(s)`: move to `s` and schedule its entry func.
    To(StatusInfo<S>),
    /// `ToNoChange()`: keep the status and schedule its entry func again.
    NoChange,
    /// `ToJustRecord()`: keep the status and schedule nothing.
    JustRecord,
}

/// An event's action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionInfo {
    /// `None` for an inline closure; the function's path for a shared action.
    pub function: Option<&'static str>,
    /// The payload parameters (the action's parameters after the state), in order.
    pub payload: &'static [PayloadParam],
}

/// One payload parameter of an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayloadParam {
    /// The parameter's name as written (`_` when it was a pattern without a name, or for a
    /// shared action, whose signature names only types: `arg0`, `arg1`, …).
    pub name: &'static str,
    /// The parameter's type as written.
    pub ty: &'static str,
}

/// One entry func and the states it serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryFuncInfo<S: 'static> {
    /// The entry func's name, which is also the method name in the generated trait.
    pub name: &'static str,
    /// The states it is registered for, in declaration order.
    pub states: &'static [StatusInfo<S>],
}

impl<S: Copy + PartialEq, E: Copy + PartialEq> Table<S, E> {
    /// The description of `event`, if the table declares it.
    pub fn event(&self, event: E) -> Option<&'static EventInfo<S, E>> {
        self.events.iter().find(|info| info.event == event)
    }

    /// Whether `status` is a finality state.
    pub fn is_final(&self, status: S) -> bool {
        self.finality_states
            .iter()
            .any(|info| info.status == status)
    }

    /// The entry func registered for `status`, if any.
    pub fn entry_func(&self, status: S) -> Option<&'static EntryFuncInfo<S>> {
        self.entry_funcs
            .iter()
            .find(|func| func.states.iter().any(|info| info.status == status))
    }
}

impl<S: 'static> Sources<S> {
    /// The explicit source states (empty for `FromAny`).
    pub fn states(&self) -> &'static [StatusInfo<S>] {
        match self {
            Self::States(states) => states,
            Self::Any => &[],
        }
    }
}
