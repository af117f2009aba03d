//! The generated code compiles cleanly under `deny(warnings, clippy::all, clippy::pedantic)`.
//!
//! `.ci/run` runs clippy over every target, so this file fails CI if any expansion path emits
//! code that rustc or clippy would warn about. The machines below cover every codegen path:
//! inline actions with and without an explicit return type, a shared action, multi-parameter
//! payloads, `FromMany` arms that share a destination, `FromAny` with exceptions, an event with
//! no transitions, entry funcs serving several states, consume-all, a custom status field, and a
//! machine with no finality states and no entry funcs.
#![deny(warnings, clippy::all, clippy::pedantic)]

use fsm_runtime::{ActionResult, Context, EntryResult, Machine, Outcome, fsm};

/// Statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Phase {
    /// Start.
    #[default]
    Idle,
    /// Running.
    Running,
    /// Blocked.
    Blocked,
    /// Final.
    Finished,
    /// Final.
    Aborted,
}

/// Event codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// Run.
    Run,
    /// Block.
    Block,
    /// Log.
    Log,
    /// Fail.
    Fail,
    /// Abort from anywhere.
    Abort,
    /// Retry with two parameters.
    Retry,
    /// No transitions.
    Unused,
    /// Finish.
    Finish,
}

/// An error type returned by an action with an explicit return type.
#[derive(Debug)]
pub struct TaskError;

impl std::fmt::Display for TaskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("task error")
    }
}

impl std::error::Error for TaskError {}

/// The record, with a status field that is not called `status`.
#[derive(Debug, Clone, Default)]
pub struct Task {
    /// The machine's status.
    pub phase: Phase,
    /// Log lines.
    pub log: Vec<String>,
    /// Retries.
    pub retries: u32,
}

fn record(task: &mut Task, line: String) -> ActionResult {
    if line.len() > 1024 {
        return Err("log line too long".into());
    }
    task.log.push(line);
    Ok(())
}

fsm! {
    /// Every codegen path.
    pub machine Tasks {
        state: Task,
        status: Phase,
        event: Signal,
        input: TaskInput,
        entry: TaskEntry,
        status_field: phase,
        consume_all_events_before_entry_funcs: true,
    }

    events {
        Event(Signal::Run)
            .From(Phase::Idle).To(Phase::Running)
            .From(Phase::Blocked).To(Phase::Running),
        Event(Signal::Block)
            .FromMany(Phase::Idle, Phase::Running).To(Phase::Blocked)
            .From(Phase::Blocked).ToNoChange(),
        Event(Signal::Log)
            .FromAny().ToJustRecord()
            .Action(record as fn(&mut Task, String)),
        Event(Signal::Fail)
            .From(Phase::Running).To(Phase::Aborted)
            .Action(|task: &mut Task, reason: String| -> Result<(), TaskError> {
                if reason.is_empty() {
                    return Err(TaskError);
                }
                task.log.push(reason);
                Ok(())
            }),
        Event(Signal::Abort)
            .From(Phase::Blocked).ToJustRecord()
            .FromAny().To(Phase::Aborted),
        Event(Signal::Retry)
            .Action(|task: &mut Task, times: u32, note: String| {
                task.retries += times;
                task.log.push(note);
                Ok(())
            })
            .From(Phase::Blocked).To(Phase::Idle),
        Event(Signal::Unused),
        Event(Signal::Finish).FromMany(Phase::Running, Phase::Blocked).To(Phase::Finished),
    }

    finality_states { Phase::Finished, Phase::Aborted }

    entry_funcs {
        Phase::Running | Phase::Blocked => on_active,
        Phase::Idle => on_idle,
    }
}

/// A handler for the entry trait.
pub struct Env;

impl TaskEntry for Env {
    async fn on_active(&self, ctx: &mut Context<Tasks>, state: &Task) -> EntryResult {
        ctx.trigger(TaskInput::Log(format!("active in {:?}", state.phase)));
        Ok(())
    }

    async fn on_idle(&self, _ctx: &mut Context<Tasks>, _state: &Task) -> EntryResult {
        Ok(())
    }
}

/// Statuses of the bare machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Light {
    /// Off.
    Off,
    /// On.
    On,
}

/// Event codes of the bare machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Switch {
    /// Toggle.
    Toggle,
}

/// The bare machine's record.
#[derive(Debug, Clone)]
pub struct Lamp {
    /// Status.
    pub status: Light,
}

fsm! {
    /// No finality, no entry funcs, no actions.
    pub machine Lamps {
        state: Lamp,
        status: Light,
        event: Switch,
        input: LampInput,
        entry: LampEntry,
    }
    events {
        Event(Switch::Toggle).From(Light::Off).To(Light::On).From(Light::On).To(Light::Off),
    }
}

impl LampEntry for Env {}

#[test]
fn generated_code_runs_under_pedantic_lints() {
    let mut task = Task::default();
    assert!(matches!(
        Tasks::transition(&mut task, TaskInput::Retry(2, "again".to_owned())),
        Outcome::Invalid {
            status: Phase::Idle,
            ..
        }
    ));
    assert!(matches!(
        Tasks::transition(&mut task, TaskInput::Run),
        Outcome::Moved { .. }
    ));
    assert!(matches!(
        Tasks::transition(&mut task, TaskInput::Fail(String::new())),
        Outcome::ActionFailed {
            status: Phase::Running,
            ..
        }
    ));
    assert_eq!(task.phase, Phase::Running);
    const { assert!(Tasks::CONSUME_ALL_EVENTS_BEFORE_ENTRY_FUNCS) };

    let mut lamp = Lamp { status: Light::Off };
    assert!(matches!(
        Lamps::transition(&mut lamp, LampInput::Toggle),
        Outcome::Moved { .. }
    ));
    assert_eq!(lamp.status, Light::On);
    assert!(!Lamps::is_final(Light::On));
    assert_eq!(Lamps::entry_func(Light::On), None);
}
