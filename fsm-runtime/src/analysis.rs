//! Static analysis of a declared table: problems go-statemachine never reported.
//!
//! [`analyze`] reads a [`Table`] and returns every [`Finding`], each naming the states and
//! events involved. It never runs the machine.
//!
//! # What the analysis knows
//!
//! The table names statuses, not the whole status type, so the analysis works on the **known
//! states**: every status the table mentions (explicit sources, `To` destinations, entry-func
//! states, finality states) plus the initial states the caller gives. A status the table never
//! mentions is outside its view. (For the retrieval provider, the client-side values of
//! `DealStatus` are not known states, and that is intended.)
//!
//! # The transition relation it uses
//!
//! The run-time rules (crate docs, *Semantics*): from a non-final known state `s`, an event
//! takes its explicit transition for `s` if there is one, otherwise its `FromAny` transition
//! if there is one. So `FromAny` applies to every known non-final state without an explicit
//! transition for that event. `To(d)` moves to `d` and enters it (its entry func runs);
//! `ToNoChange` stays in `s` and enters it again; `ToJustRecord` stays and enters nothing. A
//! final state has no transitions at all: the machine stops there.
//!
//! # Findings, in the order they are reported
//!
//! 1. [`Unreachable`](Finding::Unreachable): a known state no sequence of events leads to
//!    from the initial states.
//! 2. [`NoWayOut`](Finding::NoWayOut): a non-final state whose every event (if any) keeps the
//!    machine in it; once there, the machine never moves again.
//! 3. [`NoPathToFinal`](Finding::NoPathToFinal): a non-final state that has a way out, but from
//!    which no final state can be reached. Only checked when the table declares finality
//!    states (a machine without any is taken to be long-lived on purpose), and not repeated
//!    for states already reported as `NoWayOut`.
//! 4. [`ShadowedFromAny`](Finding::ShadowedFromAny): an event's `FromAny` transition that
//!    never applies, because every known non-final state has an explicit transition for the
//!    event.
//! 5. [`TransitionFromFinal`](Finding::TransitionFromFinal): an explicit transition out of a
//!    final state, which never applies.
//! 6. [`EntryFuncNeverEntered`](Finding::EntryFuncNeverEntered): an entry func registered for
//!    a state that no transition enters (no `To` into it and no `ToNoChange` from it, counting
//!    `FromAny`), so the func never runs. Entry funcs never run on `begin`.
//!
//! Within a kind, states come in `Ord` order and events in declaration order; entry funcs come
//! in declaration order.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use crate::table::{Destination, Sources, Table};

/// One problem found in a table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Finding<S, E> {
    /// No sequence of events leads from the initial states to `state`.
    Unreachable {
        /// The unreachable state.
        state: S,
    },
    /// `state` is not final, and no event moves the machine out of it.
    NoWayOut {
        /// The trapping state.
        state: S,
    },
    /// `state` is not final, and no final state can be reached from it.
    NoPathToFinal {
        /// The state that never leads to an end.
        state: S,
    },
    /// Every known non-final state has an explicit transition for `event`, so its `FromAny`
    /// transition never applies.
    ShadowedFromAny {
        /// The event whose `FromAny` is dead.
        event: E,
    },
    /// `event` has an explicit transition out of the final state `state`, which never applies
    /// because the machine stops there.
    TransitionFromFinal {
        /// The event with the dead transition.
        event: E,
        /// The final state it starts from.
        state: S,
    },
    /// No transition enters `state`, so its entry func `entry_func` never runs.
    EntryFuncNeverEntered {
        /// The entry func's name as declared.
        entry_func: &'static str,
        /// The state it is registered for.
        state: S,
    },
}

impl<S: fmt::Display, E: fmt::Display> fmt::Display for Finding<S, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::Unreachable { state } => {
                write!(f, "state {state} is unreachable from the initial state")
            }
            Finding::NoWayOut { state } => {
                write!(f, "non-final state {state} has no transition out of it")
            }
            Finding::NoPathToFinal { state } => {
                write!(
                    f,
                    "no final state can be reached from non-final state {state}"
                )
            }
            Finding::ShadowedFromAny { event } => write!(
                f,
                "the FromAny transition of event {event} never applies: every non-final state \
                 has its own transition for it"
            ),
            Finding::TransitionFromFinal { event, state } => write!(
                f,
                "event {event} has a transition out of final state {state}, which never applies"
            ),
            Finding::EntryFuncNeverEntered { entry_func, state } => write!(
                f,
                "entry func {entry_func} of state {state} never runs: no transition enters it"
            ),
        }
    }
}

/// The result of [`analyze`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis<S, E> {
    /// The known states (see the module docs), in `Ord` order.
    pub states: Vec<S>,
    /// The findings, in the order described in the module docs.
    pub findings: Vec<Finding<S, E>>,
}

impl<S, E> Analysis<S, E> {
    /// Whether the table has no findings.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }
}

/// Analyses `table`, taking `initial` as the states a machine can begin in.
pub fn analyze<S, E>(table: &Table<S, E>, initial: &[S]) -> Analysis<S, E>
where
    S: Copy + Ord,
    E: Copy,
{
    let is_final = |status: S| {
        table
            .finality_states
            .iter()
            .any(|info| info.status == status)
    };

    let mut known: BTreeSet<S> = initial.iter().copied().collect();
    for event in table.events {
        for transition in event.transitions {
            known.extend(transition.sources.states().iter().map(|info| info.status));
            if let Destination::To(info) = transition.destination {
                known.insert(info.status);
            }
        }
    }
    known.extend(table.finality_states.iter().map(|info| info.status));
    known.extend(
        table
            .entry_funcs
            .iter()
            .flat_map(|func| func.states.iter().map(|info| info.status)),
    );

    // The effective moves (to another state) out of every known non-final state, and the
    // states whose entry func some transition schedules.
    let mut moves: BTreeMap<S, BTreeSet<S>> = BTreeMap::new();
    let mut entered: BTreeSet<S> = BTreeSet::new();
    for &state in known.iter().filter(|&&state| !is_final(state)) {
        let out = moves.entry(state).or_default();
        for event in table.events {
            let Some(destination) = effective_destination(event.transitions, state) else {
                continue;
            };
            match destination {
                Destination::To(info) => {
                    entered.insert(info.status);
                    if info.status != state {
                        out.insert(info.status);
                    }
                }
                Destination::NoChange => {
                    entered.insert(state);
                }
                Destination::JustRecord => {}
            }
        }
    }

    let mut findings = Vec::new();

    let reachable = reach(initial.iter().copied(), |state| {
        moves.get(&state).into_iter().flatten().copied()
    });
    findings.extend(
        known
            .iter()
            .filter(|state| !reachable.contains(state))
            .map(|&state| Finding::Unreachable { state }),
    );

    let trapped: BTreeSet<S> = moves
        .iter()
        .filter(|(_, out)| out.is_empty())
        .map(|(&state, _)| state)
        .collect();
    findings.extend(trapped.iter().map(|&state| Finding::NoWayOut { state }));

    if !table.finality_states.is_empty() {
        let mut into: BTreeMap<S, Vec<S>> = BTreeMap::new();
        for (&from, out) in &moves {
            for &to in out {
                into.entry(to).or_default().push(from);
            }
        }
        let ends = reach(
            table.finality_states.iter().map(|info| info.status),
            |state| into.get(&state).into_iter().flatten().copied(),
        );
        findings.extend(
            moves
                .keys()
                .filter(|state| !ends.contains(state) && !trapped.contains(state))
                .map(|&state| Finding::NoPathToFinal { state }),
        );
    }

    for event in table.events {
        let has_any = event
            .transitions
            .iter()
            .any(|transition| matches!(transition.sources, Sources::Any));
        let explicit: BTreeSet<S> = event
            .transitions
            .iter()
            .flat_map(|transition| transition.sources.states().iter().map(|info| info.status))
            .collect();
        if has_any && moves.keys().all(|state| explicit.contains(state)) {
            findings.push(Finding::ShadowedFromAny { event: event.event });
        }
    }

    for event in table.events {
        let dead: BTreeSet<S> = event
            .transitions
            .iter()
            .flat_map(|transition| transition.sources.states().iter().map(|info| info.status))
            .filter(|&state| is_final(state))
            .collect();
        findings.extend(dead.into_iter().map(|state| Finding::TransitionFromFinal {
            event: event.event,
            state,
        }));
    }

    for func in table.entry_funcs {
        findings.extend(
            func.states
                .iter()
                .filter(|info| !entered.contains(&info.status))
                .map(|info| Finding::EntryFuncNeverEntered {
                    entry_func: func.name,
                    state: info.status,
                }),
        );
    }

    Analysis {
        states: known.into_iter().collect(),
        findings,
    }
}

/// The transition `event_transitions` take from `state`: the explicit one, else `FromAny`.
fn effective_destination<S: Copy + PartialEq>(
    event_transitions: &[crate::table::Transition<S>],
    state: S,
) -> Option<Destination<S>> {
    let explicit = event_transitions.iter().find(|transition| {
        transition
            .sources
            .states()
            .iter()
            .any(|info| info.status == state)
    });
    explicit
        .or_else(|| {
            event_transitions
                .iter()
                .find(|transition| matches!(transition.sources, Sources::Any))
        })
        .map(|transition| transition.destination)
}

/// Every state reachable from `start` (included) through `next`.
fn reach<S, I>(start: impl IntoIterator<Item = S>, next: impl Fn(S) -> I) -> BTreeSet<S>
where
    S: Copy + Ord,
    I: Iterator<Item = S>,
{
    let mut seen = BTreeSet::new();
    let mut queue: VecDeque<S> = start.into_iter().collect();
    while let Some(state) = queue.pop_front() {
        if seen.insert(state) {
            queue.extend(next(state));
        }
    }
    seen
}
