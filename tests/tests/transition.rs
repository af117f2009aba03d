//! Behaviour of the generated transition function, entry dispatch and table description
//! (the semantics rules 1–4 and 6 of the crate docs) on a machine declared here.

use std::sync::Mutex;

use fsm_runtime::table::{Destination, Sources};
use fsm_runtime::{Context, EntryResult, Machine, Outcome, RunEntry, fsm};

/// Statuses of the test machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Status {
    /// Start.
    #[default]
    New,
    /// Working.
    Working,
    /// Waiting.
    Waiting,
    /// Failing.
    Failing,
    /// Final: done.
    Done,
    /// Final: failed.
    Failed,
}

/// Event codes of the test machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Event {
    /// Start working.
    Start,
    /// Pause.
    Pause,
    /// Record a note.
    Note,
    /// Fail with a message.
    Fail,
    /// Cancel from anywhere except Failing.
    Cancel,
    /// An action that fails.
    Explode,
    /// An action that panics.
    Panic,
    /// Finish.
    Finish,
    /// Declared with no transitions.
    Ghost,
}

/// The record.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Job {
    /// The status field read by the machine.
    pub status: Status,
    /// Notes written by actions.
    pub notes: Vec<String>,
    /// The status the last action saw.
    pub seen_by_action: Option<Status>,
}

/// A shared action (Go's `recordError`).
fn record_error(job: &mut Job, message: String) -> fsm_runtime::ActionResult {
    job.notes.push(message);
    Ok(())
}

fsm! {
    /// A small machine that uses every builder word.
    pub machine Jobs {
        state: Job,
        status: Status,
        event: Event,
        #[derive(Clone, PartialEq)]
        input: JobInput,
        entry: JobEntry,
    }

    events {
        Event(Event::Start)
            .From(Status::New).To(Status::Working)
            .From(Status::Working).To(Status::Working)
            .Action(|job: &mut Job| {
                job.seen_by_action = Some(job.status);
                Ok(())
            }),
        Event(Event::Pause)
            .FromMany(Status::Working, Status::Waiting).ToNoChange(),
        Event(Event::Note)
            .Action(|job: &mut Job, text: String| {
                job.notes.push(text);
                Ok(())
            })
            .FromAny().ToJustRecord(),
        Event(Event::Fail)
            .FromMany(Status::New, Status::Working, Status::Waiting).To(Status::Failing)
            .Action(record_error as fn(&mut Job, String)),
        Event(Event::Cancel)
            .FromAny().To(Status::Failed)
            .From(Status::Failing).ToJustRecord(),
        Event(Event::Explode)
            .FromAny().ToNoChange()
            .Action(|job: &mut Job| {
                job.notes.push("half-written".to_owned());
                job.status = Status::Done;
                Err("boom".into())
            }),
        Event(Event::Panic)
            .FromAny().ToNoChange()
            .Action(|job: &mut Job| {
                job.notes.push("half-written".to_owned());
                panic!("action panicked");
            }),
        Event(Event::Finish).FromMany(Status::Working, Status::Failing).To(Status::Done),
        Event(Event::Ghost),
    }

    finality_states { Status::Done, Status::Failed }

    entry_funcs {
        Status::Working | Status::Waiting => on_working,
        Status::Failing => on_failing,
    }
}

fn job(status: Status) -> Job {
    Job {
        status,
        ..Job::default()
    }
}

#[test]
fn to_moves_and_reports_from_and_to() {
    let mut state = job(Status::New);
    let outcome = Jobs::transition(&mut state, JobInput::Start);
    assert!(matches!(
        outcome,
        Outcome::Moved {
            event: Event::Start,
            from: Status::New,
            to: Status::Working
        }
    ));
    assert_eq!(state.status, Status::Working);
    assert_eq!(outcome.scheduled_entry(), Some(Status::Working));
}

#[test]
fn to_the_current_status_schedules_its_entry_func_again() {
    let mut state = job(Status::Working);
    let outcome = Jobs::transition(&mut state, JobInput::Start);
    assert!(matches!(
        outcome,
        Outcome::Moved {
            from: Status::Working,
            to: Status::Working,
            ..
        }
    ));
    assert_eq!(outcome.scheduled_entry(), Some(Status::Working));
    assert_eq!(Jobs::entry_func(Status::Working), Some("on_working"));
}

#[test]
fn no_change_keeps_the_status_and_schedules_its_entry_func() {
    let mut state = job(Status::Waiting);
    let outcome = Jobs::transition(&mut state, JobInput::Pause);
    assert!(matches!(
        outcome,
        Outcome::Stayed {
            event: Event::Pause,
            status: Status::Waiting
        }
    ));
    assert_eq!(outcome.scheduled_entry(), Some(Status::Waiting));
    assert_eq!(state, job(Status::Waiting));
}

#[test]
fn just_record_runs_the_action_and_schedules_nothing() {
    let mut state = job(Status::Waiting);
    let outcome = Jobs::transition(&mut state, JobInput::Note("hello".to_owned()));
    assert!(matches!(
        outcome,
        Outcome::Recorded {
            event: Event::Note,
            status: Status::Waiting
        }
    ));
    assert_eq!(outcome.scheduled_entry(), None);
    assert_eq!(state.notes, ["hello"]);
}

#[test]
fn the_action_sees_the_source_status() {
    let mut state = job(Status::New);
    let _ = Jobs::transition(&mut state, JobInput::Start);
    assert_eq!(state.seen_by_action, Some(Status::New));
    assert_eq!(state.status, Status::Working);
}

#[test]
fn explicit_source_beats_from_any_whatever_the_declaration_order() {
    // `Cancel` declares FromAny first and the Failing exception second.
    let mut failing = job(Status::Failing);
    assert!(matches!(
        Jobs::transition(&mut failing, JobInput::Cancel),
        Outcome::Recorded {
            status: Status::Failing,
            ..
        }
    ));
    assert_eq!(failing.status, Status::Failing);

    let mut waiting = job(Status::Waiting);
    assert!(matches!(
        Jobs::transition(&mut waiting, JobInput::Cancel),
        Outcome::Moved {
            from: Status::Waiting,
            to: Status::Failed,
            ..
        }
    ));
}

#[test]
fn an_invalid_transition_leaves_the_state_untouched_and_hands_the_input_back() {
    let mut state = job(Status::New);
    let before = state.clone();
    let outcome = Jobs::transition(&mut state, JobInput::Pause);
    assert!(matches!(
        outcome,
        Outcome::Invalid {
            status: Status::New,
            input: JobInput::Pause
        }
    ));
    assert!(!outcome.is_applied());
    assert_eq!(state, before);

    // An event declared with no transitions is always invalid.
    assert!(matches!(
        Jobs::transition(&mut state, JobInput::Ghost),
        Outcome::Invalid {
            status: Status::New,
            input: JobInput::Ghost
        }
    ));
}

#[test]
fn a_failed_action_restores_the_state_exactly() {
    let mut state = Job {
        status: Status::Working,
        notes: vec!["kept".to_owned()],
        seen_by_action: None,
    };
    let before = state.clone();
    let outcome = Jobs::transition(&mut state, JobInput::Explode);
    let Outcome::ActionFailed {
        event,
        status,
        error,
    } = outcome
    else {
        panic!("expected ActionFailed, got {outcome:?}");
    };
    assert_eq!((event, status), (Event::Explode, Status::Working));
    assert_eq!(error.to_string(), "boom");
    assert_eq!(
        state, before,
        "the action's partial writes must not survive"
    );
}

#[test]
fn a_panicking_action_leaves_the_state_untouched() {
    let mut state = job(Status::Working);
    let before = state.clone();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        Jobs::transition(&mut state, JobInput::Panic)
    }));
    assert!(result.is_err());
    assert_eq!(state, before);
}

#[test]
fn a_shared_action_receives_its_payload() {
    let mut state = job(Status::Waiting);
    let outcome = Jobs::transition(&mut state, JobInput::Fail("disk full".to_owned()));
    assert!(matches!(
        outcome,
        Outcome::Moved {
            to: Status::Failing,
            ..
        }
    ));
    assert_eq!(state.notes, ["disk full"]);
}

#[test]
fn a_final_machine_rejects_every_input() {
    for status in [Status::Done, Status::Failed] {
        let mut state = job(status);
        let outcome = Jobs::transition(&mut state, JobInput::Note("late".to_owned()));
        let Outcome::AlreadyFinal {
            status: reported,
            input: JobInput::Note(text),
        } = outcome
        else {
            panic!("expected AlreadyFinal, got {outcome:?}");
        };
        assert_eq!((reported, text.as_str()), (status, "late"));
        assert_eq!(state, job(status));
    }
}

#[test]
fn attributes_on_the_input_field_go_on_the_generated_enum() {
    let input = JobInput::Note("copied".to_owned());
    assert_eq!(
        input.clone(),
        input,
        "`#[derive(Clone, PartialEq)]` was applied"
    );
}

#[test]
fn input_codes_and_machine_constants() {
    assert_eq!(JobInput::Note(String::new()).code(), Event::Note);
    assert_eq!(Jobs::event(&JobInput::Ghost), Event::Ghost);
    assert_eq!(Jobs::NAME, "Jobs");
    const { assert!(!Jobs::CONSUME_ALL_EVENTS_BEFORE_ENTRY_FUNCS) };
    assert!(Jobs::is_final(Status::Done) && Jobs::is_final(Status::Failed));
    assert!(!Jobs::is_final(Status::Failing));
    assert_eq!(Jobs::entry_func(Status::Failing), Some("on_failing"));
    assert_eq!(Jobs::entry_func(Status::New), None);
}

#[test]
fn the_table_description_follows_the_declaration() {
    let table = Jobs::table();
    assert_eq!(table.machine, "Jobs");
    assert_eq!(table.state_type, "Job");
    let names: Vec<_> = table.events.iter().map(|event| event.name).collect();
    assert_eq!(
        names,
        [
            "Start", "Pause", "Note", "Fail", "Cancel", "Explode", "Panic", "Finish", "Ghost"
        ]
    );
    let cancel = table.event(Event::Cancel).unwrap();
    assert_eq!(cancel.path, "Event::Cancel");
    assert_eq!(cancel.transitions[0].sources, Sources::Any);
    assert_eq!(cancel.transitions[1].destination, Destination::JustRecord);
    let pause = table.event(Event::Pause).unwrap();
    let sources: Vec<_> = pause.transitions[0]
        .sources
        .states()
        .iter()
        .map(|s| s.status)
        .collect();
    assert_eq!(sources, [Status::Working, Status::Waiting]);
    let fail = table.event(Event::Fail).unwrap().action.unwrap();
    assert_eq!(fail.function, Some("record_error"));
    assert_eq!(fail.payload[0].ty, "String");
    let note = table.event(Event::Note).unwrap().action.unwrap();
    assert_eq!(
        (note.payload[0].name, note.payload[0].ty),
        ("text", "String")
    );
    assert!(table.is_final(Status::Failed));
    assert_eq!(
        table.entry_func(Status::Waiting).unwrap().name,
        "on_working"
    );
    assert!(table.event(Event::Ghost).unwrap().transitions.is_empty());
}

/// An environment that records which entry func ran and triggers a follow-up event.
#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<(&'static str, Status)>>,
}

impl JobEntry for Recorder {
    async fn on_working(&self, ctx: &mut Context<Jobs>, state: &Job) -> EntryResult {
        self.calls
            .lock()
            .expect("recorder lock")
            .push(("on_working", state.status));
        ctx.trigger(JobInput::Note("from on_working".to_owned()));
        Ok(())
    }

    async fn on_failing(&self, _ctx: &mut Context<Jobs>, state: &Job) -> EntryResult {
        self.calls
            .lock()
            .expect("recorder lock")
            .push(("on_failing", state.status));
        Err("cleanup failed".into())
    }
}

#[test]
fn run_entry_dispatches_on_the_snapshot_status() {
    let recorder = Recorder::default();
    let mut ctx = Context::<Jobs>::new();

    let result =
        futures::executor::block_on(Jobs::run_entry(&recorder, &mut ctx, &job(Status::Waiting)));
    assert!(result.is_ok());
    assert!(matches!(ctx.triggered(), [JobInput::Note(text)] if text == "from on_working"));

    let result =
        futures::executor::block_on(Jobs::run_entry(&recorder, &mut ctx, &job(Status::Failing)));
    assert_eq!(result.unwrap_err().to_string(), "cleanup failed");

    // A status without an entry func resolves to Ok without calling anything.
    let result =
        futures::executor::block_on(Jobs::run_entry(&recorder, &mut ctx, &job(Status::New)));
    assert!(result.is_ok());

    assert_eq!(
        *recorder.calls.lock().unwrap(),
        [
            ("on_working", Status::Waiting),
            ("on_failing", Status::Failing)
        ]
    );
}
