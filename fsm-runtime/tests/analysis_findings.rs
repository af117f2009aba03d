//! Table analysis: one machine per finding kind, a clean machine, and the ordering and wording
//! of findings.
//!
//! The machines exist only for their tables, so their generated inputs are never built.

#![allow(dead_code)]

use std::fmt;

use fsm_runtime::Machine;
use fsm_runtime::analysis::{Finding, analyze};
use fsm_runtime::fsm;

/// The statuses every test machine draws from. Each machine mentions only some of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Status {
    Start,
    Working,
    Waiting,
    Stuck,
    Orphan,
    Done,
    Aborted,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The event codes every test machine draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Ev {
    Begin,
    Pause,
    Resume,
    Finish,
    Abort,
    Poke,
    Log,
}

impl fmt::Display for Ev {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// The record every test machine runs on.
#[derive(Debug, Clone)]
struct Job {
    /// The job's status.
    status: Status,
}

/// A machine with nothing to report: every state reachable, every non-final state can end,
/// `FromAny` applies somewhere, and every entry func can run.
mod clean {
    use super::*;

    fsm! {
        /// Clean.
        pub(crate) machine Clean {
            state: Job, status: Status, event: Ev, input: CleanInput, entry: CleanEntry,
        }
        events {
            Event(Ev::Begin).From(Status::Start).To(Status::Working),
            Event(Ev::Pause).From(Status::Working).To(Status::Waiting),
            Event(Ev::Resume).From(Status::Waiting).To(Status::Working),
            Event(Ev::Poke).From(Status::Waiting).ToNoChange(),
            Event(Ev::Log).FromMany(Status::Working, Status::Waiting).ToJustRecord(),
            Event(Ev::Finish).From(Status::Working).To(Status::Done),
            Event(Ev::Abort).FromAny().To(Status::Aborted),
        }
        finality_states { Status::Done, Status::Aborted }
        entry_funcs { Status::Working | Status::Waiting => work }
    }
}

#[test]
fn a_clean_machine_has_no_findings() {
    let analysis = analyze(clean::Clean::table(), &[Status::Start]);
    assert!(analysis.is_clean(), "{:?}", analysis.findings);
    assert_eq!(
        analysis.states,
        [
            Status::Start,
            Status::Working,
            Status::Waiting,
            Status::Done,
            Status::Aborted
        ]
    );
}

/// `Orphan` is only ever a source, so nothing leads to it.
mod unreachable {
    use super::*;

    fsm! {
        /// Unreachable.
        pub(crate) machine Unreachable {
            state: Job, status: Status, event: Ev, input: UnreachableInput, entry: UnreachableEntry,
        }
        events {
            Event(Ev::Begin).From(Status::Start).To(Status::Working),
            Event(Ev::Finish).FromMany(Status::Working, Status::Orphan).To(Status::Done),
        }
        finality_states { Status::Done }
        entry_funcs {}
    }
}

#[test]
fn a_state_only_left_is_unreachable() {
    let analysis = analyze(unreachable::Unreachable::table(), &[Status::Start]);
    assert_eq!(
        analysis.findings,
        [Finding::Unreachable {
            state: Status::Orphan
        }]
    );
}

#[test]
fn without_initial_states_every_state_is_unreachable() {
    let analysis = analyze(unreachable::Unreachable::table(), &[]);
    let unreachable: Vec<_> = analysis
        .findings
        .iter()
        .filter_map(|finding| match finding {
            Finding::Unreachable { state } => Some(*state),
            _ => None,
        })
        .collect();
    assert_eq!(unreachable, analysis.states);
}

/// `Stuck` only keeps or records: once there, the machine never moves.
mod no_way_out {
    use super::*;

    fsm! {
        /// No way out.
        pub(crate) machine NoWayOut {
            state: Job, status: Status, event: Ev, input: NoWayOutInput, entry: NoWayOutEntry,
        }
        events {
            Event(Ev::Begin).From(Status::Start).To(Status::Working),
            Event(Ev::Pause).From(Status::Working).To(Status::Stuck),
            Event(Ev::Poke).From(Status::Stuck).ToNoChange(),
            Event(Ev::Log).From(Status::Stuck).ToJustRecord(),
            Event(Ev::Resume).From(Status::Stuck).To(Status::Stuck),
            Event(Ev::Finish).From(Status::Working).To(Status::Done),
        }
        finality_states { Status::Done }
        entry_funcs {}
    }
}

#[test]
fn a_state_that_only_loops_has_no_way_out() {
    let analysis = analyze(no_way_out::NoWayOut::table(), &[Status::Start]);
    // Not also reported as `NoPathToFinal`: one finding per problem.
    assert_eq!(
        analysis.findings,
        [Finding::NoWayOut {
            state: Status::Stuck
        }]
    );
}

/// `Working` and `Waiting` bounce between each other; only `Start` can finish.
mod no_path_to_final {
    use super::*;

    fsm! {
        /// No path to a final state.
        pub(crate) machine NoPathToFinal {
            state: Job, status: Status, event: Ev, input: NoPathInput, entry: NoPathEntry,
        }
        events {
            Event(Ev::Begin).From(Status::Start).To(Status::Working),
            Event(Ev::Pause).From(Status::Working).To(Status::Waiting),
            Event(Ev::Resume).From(Status::Waiting).To(Status::Working),
            Event(Ev::Abort).From(Status::Start).To(Status::Aborted),
        }
        finality_states { Status::Aborted }
        entry_funcs {}
    }
}

#[test]
fn states_that_only_lead_to_each_other_never_end() {
    let analysis = analyze(no_path_to_final::NoPathToFinal::table(), &[Status::Start]);
    assert_eq!(
        analysis.findings,
        [
            Finding::NoPathToFinal {
                state: Status::Working
            },
            Finding::NoPathToFinal {
                state: Status::Waiting
            },
        ]
    );
}

/// `Abort`'s `FromAny` is shadowed: both non-final states have their own `Abort`.
mod shadowed {
    use super::*;

    fsm! {
        /// Shadowed `FromAny`.
        pub(crate) machine Shadowed {
            state: Job, status: Status, event: Ev, input: ShadowedInput, entry: ShadowedEntry,
        }
        events {
            Event(Ev::Begin).From(Status::Start).To(Status::Working),
            Event(Ev::Finish).From(Status::Working).To(Status::Done),
            Event(Ev::Abort)
                .FromAny().To(Status::Aborted)
                .From(Status::Start).To(Status::Done)
                .From(Status::Working).ToJustRecord(),
            Event(Ev::Log).FromAny().ToJustRecord().From(Status::Start).ToJustRecord(),
        }
        finality_states { Status::Done, Status::Aborted }
        entry_funcs {}
    }
}

#[test]
fn a_from_any_every_state_overrides_is_shadowed() {
    let analysis = analyze(shadowed::Shadowed::table(), &[Status::Start]);
    // `Log`'s FromAny still applies in `Working`; `Aborted` is now unreachable.
    assert_eq!(
        analysis.findings,
        [
            Finding::Unreachable {
                state: Status::Aborted
            },
            Finding::ShadowedFromAny { event: Ev::Abort },
        ]
    );
}

/// `Resume` leaves the final state `Done`, which never happens.
mod from_final {
    use super::*;

    fsm! {
        /// Transition out of a final state.
        pub(crate) machine FromFinal {
            state: Job, status: Status, event: Ev, input: FromFinalInput, entry: FromFinalEntry,
        }
        events {
            Event(Ev::Begin).From(Status::Start).To(Status::Working),
            Event(Ev::Finish).From(Status::Working).To(Status::Done),
            Event(Ev::Resume).FromMany(Status::Done, Status::Working).To(Status::Working),
        }
        finality_states { Status::Done }
        entry_funcs {}
    }
}

#[test]
fn a_transition_out_of_a_final_state_is_dead() {
    let analysis = analyze(from_final::FromFinal::table(), &[Status::Start]);
    assert_eq!(
        analysis.findings,
        [Finding::TransitionFromFinal {
            event: Ev::Resume,
            state: Status::Done
        }]
    );
}

/// `wait` is registered for `Waiting`, which no transition enters (`Waiting` is only a source;
/// a `FromAny` `ToNoChange` would enter it, but `Waiting` is unreachable), and for `Orphan`,
/// which the table mentions nowhere else.
mod never_entered {
    use super::*;

    fsm! {
        /// Entry funcs that never run.
        pub(crate) machine NeverEntered {
            state: Job, status: Status, event: Ev, input: NeverInput, entry: NeverEntry,
        }
        events {
            Event(Ev::Begin).From(Status::Start).To(Status::Working),
            Event(Ev::Finish).FromMany(Status::Working, Status::Waiting).To(Status::Done),
        }
        finality_states { Status::Done }
        entry_funcs {
            Status::Working => work,
            Status::Waiting | Status::Orphan => wait,
        }
    }
}

#[test]
fn an_entry_func_on_a_state_nothing_enters_never_runs() {
    let analysis = analyze(never_entered::NeverEntered::table(), &[Status::Start]);
    assert_eq!(
        analysis.findings,
        [
            Finding::Unreachable {
                state: Status::Waiting
            },
            Finding::Unreachable {
                state: Status::Orphan
            },
            // `Orphan` is not final and has no transitions.
            Finding::NoWayOut {
                state: Status::Orphan
            },
            Finding::EntryFuncNeverEntered {
                entry_func: "wait",
                state: Status::Waiting
            },
            Finding::EntryFuncNeverEntered {
                entry_func: "wait",
                state: Status::Orphan
            },
        ]
    );
}

#[test]
fn a_no_change_from_any_counts_as_entering() {
    // In `clean`, `Waiting` is entered by `Pause`; here the only thing that "enters" `Start`
    // is the FromAny `ToNoChange` of `Poke`, which re-runs its entry func.
    mod poked {
        use super::*;

        fsm! {
            /// Entered only by a FromAny ToNoChange.
            pub(crate) machine Poked {
                state: Job, status: Status, event: Ev, input: PokedInput, entry: PokedEntry,
            }
            events {
                Event(Ev::Poke).FromAny().ToNoChange(),
                Event(Ev::Finish).From(Status::Start).To(Status::Done),
            }
            finality_states { Status::Done }
            entry_funcs { Status::Start => start }
        }
    }
    let analysis = analyze(poked::Poked::table(), &[Status::Start]);
    assert!(analysis.is_clean(), "{:?}", analysis.findings);
}

#[test]
fn findings_read_with_state_and_event_names() {
    let texts: Vec<String> = [
        Finding::Unreachable {
            state: Status::Orphan,
        },
        Finding::ShadowedFromAny { event: Ev::Abort },
        Finding::TransitionFromFinal {
            event: Ev::Resume,
            state: Status::Done,
        },
        Finding::EntryFuncNeverEntered {
            entry_func: "wait",
            state: Status::Waiting,
        },
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    assert_eq!(
        texts,
        [
            "state Orphan is unreachable from the initial state",
            "the FromAny transition of event Abort never applies: every non-final state has its \
             own transition for it",
            "event Resume has a transition out of final state Done, which never applies",
            "entry func wait of state Waiting never runs: no transition enters it",
        ]
    );
}
