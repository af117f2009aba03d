//! The [`Machine`] trait implemented by every `fsm!` expansion, and the [`Outcome`] of one
//! transition.

use std::fmt;
use std::future::Future;
use std::hash::Hash;

use crate::context::Context;
use crate::table::Table;

/// The error an action returns. Any `std::error::Error + Send + Sync` (and `String` or
/// `&str`) converts into it with `?` or `.into()`.
pub type ActionError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What an action returns: `Ok(())`, or an error that rejects the event and leaves the state
/// as it was before the event.
pub type ActionResult = Result<(), ActionError>;

/// The error an entry func returns. It is recorded on the machine and reported; it never
/// freezes the machine.
pub type EntryError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What an entry func returns.
pub type EntryResult = Result<(), EntryError>;

/// A state machine declared with `fsm!`.
///
/// The macro implements this trait on the unit struct named in the `machine` header. Code that
/// runs machines (the state group, test harnesses, diagram generators) is written against it.
pub trait Machine: Sized + Send + Sync + 'static {
    /// The record the machine reads and writes (Go's `StateType`).
    type State: Clone + fmt::Debug + Send + Sync + 'static;
    /// The status enum kept in the record (Go's `StateKeyField` type).
    type Status: Copy + Eq + Hash + fmt::Debug + Send + Sync + 'static;
    /// The event-code enum the table is written with (Go's event names).
    type Event: Copy + Eq + Hash + fmt::Debug + Send + Sync + 'static;
    /// The generated typed input enum: one variant per declared event, carrying the action's
    /// extra parameters.
    type Input: fmt::Debug + Send + 'static;

    /// The machine's name as written in the `machine` header.
    const NAME: &'static str;

    /// Go's `ConsumeAllEventsBeforeEntryFuncs`: apply every queued event, then run one entry
    /// func for the resulting status.
    const CONSUME_ALL_EVENTS_BEFORE_ENTRY_FUNCS: bool;

    /// The static description of the declared table.
    fn table() -> &'static Table<Self::Status, Self::Event>;

    /// The status currently held by `state`.
    fn status(state: &Self::State) -> Self::Status;

    /// The event code of an input.
    fn event(input: &Self::Input) -> Self::Event;

    /// Whether `status` is one of the table's finality states.
    fn is_final(status: Self::Status) -> bool;

    /// The name of the entry func registered for `status`, if any.
    fn entry_func(status: Self::Status) -> Option<&'static str>;

    /// Applies one input to `state`: the pure transition function.
    ///
    /// It allocates nothing itself; the only copy it makes is the state copy an action runs on
    /// (see the crate docs, rule 4).
    fn transition(state: &mut Self::State, input: Self::Input) -> Outcome<Self>;
}

/// Runs the entry funcs of machine `Self` with handler `H`.
///
/// The macro implements this for every `H` that implements the machine's generated
/// entry-handler trait, so the runtime can call entry funcs without knowing their names.
pub trait RunEntry<H>: Machine {
    /// Runs the entry func registered for `state`'s status, or does nothing when it has none.
    ///
    /// `state` is the snapshot that was saved before the entry func was scheduled; events the
    /// func triggers through `ctx` are applied after the returned future completes.
    fn run_entry<'a>(
        handler: &'a H,
        ctx: &'a mut Context<Self>,
        state: &'a Self::State,
    ) -> impl Future<Output = EntryResult> + Send + 'a;
}

/// What applying one input did.
///
/// The first three variants mean the input was applied; the last three mean it was rejected and
/// the state is exactly as it was before.
pub enum Outcome<M: Machine> {
    /// `To(to)`: the status moved (possibly to itself) and `to`'s entry func is scheduled.
    Moved {
        /// The applied event.
        event: M::Event,
        /// The status before the event.
        from: M::Status,
        /// The status after the event.
        to: M::Status,
    },
    /// `ToNoChange`: the status stayed and its entry func is scheduled again.
    Stayed {
        /// The applied event.
        event: M::Event,
        /// The unchanged status.
        status: M::Status,
    },
    /// `ToJustRecord`: the action ran (if any), the status stayed, nothing is scheduled.
    Recorded {
        /// The applied event.
        event: M::Event,
        /// The unchanged status.
        status: M::Status,
    },
    /// No transition of this event leaves `status`: the action did not run and the state is
    /// untouched. The input is handed back so that no data is lost.
    Invalid {
        /// The status the machine was in.
        status: M::Status,
        /// The rejected input.
        input: M::Input,
    },
    /// The action returned an error: the state is exactly as it was before the event.
    ActionFailed {
        /// The rejected event.
        event: M::Event,
        /// The status the machine was (and still is) in.
        status: M::Status,
        /// The action's error.
        error: ActionError,
    },
    /// The machine is in a final status and accepts no more events.
    AlreadyFinal {
        /// The final status.
        status: M::Status,
        /// The rejected input.
        input: M::Input,
    },
}

impl<M: Machine> Outcome<M> {
    /// Whether the input was applied (`Moved`, `Stayed` or `Recorded`).
    pub fn is_applied(&self) -> bool {
        matches!(
            self,
            Self::Moved { .. } | Self::Stayed { .. } | Self::Recorded { .. }
        )
    }

    /// The event this outcome is about.
    pub fn event(&self) -> M::Event {
        match self {
            Self::Moved { event, .. }
            | Self::Stayed { event, .. }
            | Self::Recorded { event, .. }
            | Self::ActionFailed { event, .. } => *event,
            Self::Invalid { input, .. } | Self::AlreadyFinal { input, .. } => M::event(input),
        }
    }

    /// The status the machine is in after this outcome.
    pub fn status(&self) -> M::Status {
        match self {
            Self::Moved { to, .. } => *to,
            Self::Stayed { status, .. }
            | Self::Recorded { status, .. }
            | Self::Invalid { status, .. }
            | Self::ActionFailed { status, .. }
            | Self::AlreadyFinal { status, .. } => *status,
        }
    }

    /// The status whose entry func this outcome schedules: `to` for `Moved`, the current status
    /// for `Stayed`, none otherwise. Whether that status has an entry func is
    /// [`Machine::entry_func`]'s answer.
    pub fn scheduled_entry(&self) -> Option<M::Status> {
        match self {
            Self::Moved { to, .. } => Some(*to),
            Self::Stayed { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl<M: Machine> fmt::Debug for Outcome<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Moved { event, from, to } => f
                .debug_struct("Moved")
                .field("event", event)
                .field("from", from)
                .field("to", to)
                .finish(),
            Self::Stayed { event, status } => f
                .debug_struct("Stayed")
                .field("event", event)
                .field("status", status)
                .finish(),
            Self::Recorded { event, status } => f
                .debug_struct("Recorded")
                .field("event", event)
                .field("status", status)
                .finish(),
            Self::Invalid { status, input } => f
                .debug_struct("Invalid")
                .field("status", status)
                .field("input", input)
                .finish(),
            Self::ActionFailed {
                event,
                status,
                error,
            } => f
                .debug_struct("ActionFailed")
                .field("event", event)
                .field("status", status)
                .field("error", error)
                .finish(),
            Self::AlreadyFinal { status, input } => f
                .debug_struct("AlreadyFinal")
                .field("status", status)
                .field("input", input)
                .finish(),
        }
    }
}
