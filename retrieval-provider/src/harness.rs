//! A test harness for the provider's entry funcs: Go's `fsmtest.TestContext`, plus a small
//! driver that runs whole deal sequences.
//!
//! Public so that a provider can test its own [`ProviderDealEnvironment`] the way this crate
//! tests the entry funcs:
//!
//! * [`run_entry`] runs the entry func of a snapshot's status with a handler (for example
//!   [`ProviderHandlers`] over a [`MockEnvironment`]) and collects the inputs it triggers;
//! * [`replay`] applies inputs to a state through [`ProviderFsm`]'s transition function and
//!   fails, naming the input and the status, on the first one that is not a valid transition
//!   (Go's `ReplayEvents`);
//! * [`DealDriver`] plays the engine: it applies a batch of inputs, runs the one entry func
//!   the batch scheduled (consume-all mode), feeds the triggered inputs back as the next batch,
//!   and so on until the deal settles.
//!
//! Everything runs on the calling thread with [`block_on`], a minimal executor; no runtime is
//! needed.
//!
//! [`ProviderDealEnvironment`]: crate::env::ProviderDealEnvironment
//! [`ProviderHandlers`]: crate::entry::ProviderHandlers

mod mock;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll, Wake, Waker};
use std::thread::{self, Thread};

use fsm_runtime::{ActionError, Context, EntryError, Machine, Outcome, RunEntry};

use crate::event::ProviderEvent;
use crate::machine::{ProviderEntryFuncs, ProviderFsm, ProviderInput};
use crate::status::DealStatus;
use crate::types::ProviderDealState;

pub use mock::{EnvCall, EnvSetup, MockEnvironment, MockError, MockNode, NodeCall, NodeSetup};

/// Runs `future` to completion on the calling thread, parking it while the future is pending.
pub fn block_on<F: Future>(future: F) -> F::Output {
    /// Wakes the blocked thread.
    struct ThreadWaker(Thread);

    impl Wake for ThreadWaker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }

    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut cx = TaskContext::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(output) => return output,
            Poll::Pending => thread::park(),
        }
    }
}

/// Why a harness run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarnessError {
    /// Input `index` has no transition from `status` (Go's "Invalid transition in queue").
    #[error("input {index} ({event}) is an invalid transition from {status}: {input:?}")]
    InvalidTransition {
        /// Position of the input in its batch.
        index: usize,
        /// The input's event.
        event: ProviderEvent,
        /// The status the deal was in.
        status: DealStatus,
        /// The rejected input.
        input: ProviderInput,
    },
    /// Input `index` arrived after the deal reached the final status `status`.
    #[error("input {index} ({event}) arrived after the deal ended in {status}: {input:?}")]
    AlreadyFinal {
        /// Position of the input in its batch.
        index: usize,
        /// The input's event.
        event: ProviderEvent,
        /// The final status.
        status: DealStatus,
        /// The rejected input.
        input: ProviderInput,
    },
    /// The action of input `index` failed.
    #[error("the action of input {index} ({event}) failed in {status}: {source}")]
    ActionFailed {
        /// Position of the input in its batch.
        index: usize,
        /// The input's event.
        event: ProviderEvent,
        /// The status the deal was (and still is) in.
        status: DealStatus,
        /// The action's error.
        #[source]
        source: ActionError,
    },
    /// The entry func of `status` returned an error.
    #[error("entry func {func} of {status} failed: {source}")]
    EntryFailed {
        /// The status whose entry func ran.
        status: DealStatus,
        /// The entry func's name.
        func: &'static str,
        /// Its error.
        #[source]
        source: EntryError,
    },
    /// [`DealDriver`] ran `limit` entry funcs for one batch without the deal settling.
    #[error("the deal did not settle after {limit} entry-func rounds (now in {status})")]
    DidNotSettle {
        /// The round limit.
        limit: usize,
        /// The status the deal was in.
        status: DealStatus,
    },
}

/// How an applied input changed the deal's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum StepKind {
    /// `To(..)`: the status was set and its entry func scheduled.
    Moved,
    /// `ToNoChange`: the status stayed and its entry func was scheduled again.
    Stayed,
    /// `ToJustRecord`: the status stayed and nothing was scheduled.
    Recorded,
}

/// One applied input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Step {
    /// The input's event.
    pub event: ProviderEvent,
    /// The status before.
    pub from: DealStatus,
    /// The status after.
    pub to: DealStatus,
    /// How the status changed.
    pub kind: StepKind,
}

impl Step {
    /// Whether this step scheduled an entry func (`Moved` or `Stayed`).
    pub fn schedules_entry(&self) -> bool {
        matches!(self.kind, StepKind::Moved | StepKind::Stayed)
    }
}

/// What one entry func did: the status it ran for and the inputs it triggered, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryRun {
    /// The status of the snapshot the entry func ran on.
    pub status: DealStatus,
    /// The entry func that ran, or `None` when the status has none.
    pub func: Option<&'static str>,
    /// The triggered inputs, in trigger order.
    pub triggered: Vec<ProviderInput>,
}

impl EntryRun {
    /// The event codes of the triggered inputs.
    pub fn events(&self) -> Vec<ProviderEvent> {
        self.triggered.iter().map(ProviderInput::code).collect()
    }
}

/// Runs the entry func registered for `deal`'s status with `handler` (Go's
/// `fsmtest.TestContext`: the func gets a snapshot; what it triggers is recorded, not
/// applied).
///
/// Fails with [`HarnessError::EntryFailed`] if the entry func returns an error.
pub fn run_entry<H: ProviderEntryFuncs>(
    handler: &H,
    deal: &ProviderDealState,
) -> Result<EntryRun, HarnessError> {
    let mut ctx = Context::<ProviderFsm>::new();
    let func = ProviderFsm::entry_func(deal.status);
    block_on(<ProviderFsm as RunEntry<H>>::run_entry(
        handler, &mut ctx, deal,
    ))
    .map_err(|source| HarnessError::EntryFailed {
        status: deal.status,
        func: func.unwrap_or("<none>"),
        source,
    })?;
    Ok(EntryRun {
        status: deal.status,
        func,
        triggered: ctx.take_triggered(),
    })
}

/// Applies one input to `deal` through [`ProviderFsm`]'s transition function.
///
/// `index` only labels the error.
pub fn apply(
    deal: &mut ProviderDealState,
    index: usize,
    input: ProviderInput,
) -> Result<Step, HarnessError> {
    let from = deal.status;
    match <ProviderFsm as Machine>::transition(deal, input) {
        Outcome::Moved { event, from, to } => Ok(Step {
            event,
            from,
            to,
            kind: StepKind::Moved,
        }),
        Outcome::Stayed { event, status } => Ok(Step {
            event,
            from,
            to: status,
            kind: StepKind::Stayed,
        }),
        Outcome::Recorded { event, status } => Ok(Step {
            event,
            from,
            to: status,
            kind: StepKind::Recorded,
        }),
        Outcome::Invalid { status, input } => Err(HarnessError::InvalidTransition {
            index,
            event: input.code(),
            status,
            input,
        }),
        Outcome::AlreadyFinal { status, input } => Err(HarnessError::AlreadyFinal {
            index,
            event: input.code(),
            status,
            input,
        }),
        Outcome::ActionFailed {
            event,
            status,
            error,
        } => Err(HarnessError::ActionFailed {
            index,
            event,
            status,
            source: error,
        }),
    }
}

/// Applies `inputs` to `deal` in order (Go's `ReplayEvents`) and returns the steps.
///
/// Stops at the first input that is not applied ([`HarnessError::InvalidTransition`],
/// [`HarnessError::AlreadyFinal`] or [`HarnessError::ActionFailed`]); the inputs before it
/// stay applied.
pub fn replay(
    deal: &mut ProviderDealState,
    inputs: impl IntoIterator<Item = ProviderInput>,
) -> Result<Vec<Step>, HarnessError> {
    inputs
        .into_iter()
        .enumerate()
        .map(|(index, input)| apply(deal, index, input))
        .collect()
}

/// Runs the entry func of `deal`'s status on a snapshot, then replays what it triggered onto
/// `deal`: the usual shape of an entry-func test.
pub fn run_and_replay<H: ProviderEntryFuncs>(
    handler: &H,
    deal: &mut ProviderDealState,
) -> Result<(EntryRun, Vec<Step>), HarnessError> {
    let run = run_entry(handler, deal)?;
    let steps = replay(deal, run.triggered.iter().cloned())?;
    Ok((run, steps))
}

/// Drives one deal the way the state group does in consume-all mode, on the calling thread.
///
/// [`send`](Self::send) applies a batch of inputs; if any of them scheduled an entry func,
/// the entry func of the resulting status runs on a snapshot, and the inputs it triggered form
/// the next batch. The drive ends when a batch schedules nothing, the deal's status has no
/// entry func (final statuses have none), or an entry func triggers nothing. Every input must
/// be a valid transition: the first that is not stops the drive with an error (the state
/// keeps what was applied before it), which is how tests show that a trap is hit.
#[derive(Debug)]
pub struct DealDriver<H> {
    handler: H,
    deal: ProviderDealState,
    steps: Vec<Step>,
    runs: Vec<EntryRun>,
    max_rounds: usize,
}

impl<H: ProviderEntryFuncs> DealDriver<H> {
    /// The default limit on entry-func rounds per [`send`](Self::send).
    pub const DEFAULT_MAX_ROUNDS: usize = 64;

    /// A driver for `deal`, running entry funcs with `handler`.
    pub fn new(handler: H, deal: ProviderDealState) -> Self {
        DealDriver {
            handler,
            deal,
            steps: Vec::new(),
            runs: Vec::new(),
            max_rounds: Self::DEFAULT_MAX_ROUNDS,
        }
    }

    /// Sets the limit on entry-func rounds per [`send`](Self::send), after which it fails
    /// with [`HarnessError::DidNotSettle`] (a guard against entry funcs that keep
    /// re-scheduling themselves).
    pub fn with_max_rounds(mut self, max_rounds: usize) -> Self {
        self.max_rounds = max_rounds;
        self
    }

    /// Sends one input and drives the deal until it settles.
    pub fn send(&mut self, input: ProviderInput) -> Result<(), HarnessError> {
        self.send_batch(vec![input])
    }

    /// Sends a batch of inputs (applied together, as queued events are in consume-all mode)
    /// and drives the deal until it settles.
    pub fn send_batch(&mut self, inputs: Vec<ProviderInput>) -> Result<(), HarnessError> {
        let mut batch = inputs;
        for _ in 0..self.max_rounds {
            let mut scheduled = false;
            for (index, input) in batch.into_iter().enumerate() {
                let step = apply(&mut self.deal, index, input)?;
                scheduled |= step.schedules_entry();
                self.steps.push(step);
            }
            if !scheduled || ProviderFsm::entry_func(self.deal.status).is_none() {
                return Ok(());
            }
            let run = run_entry(&self.handler, &self.deal)?;
            batch = run.triggered.clone();
            self.runs.push(run);
            if batch.is_empty() {
                return Ok(());
            }
        }
        Err(HarnessError::DidNotSettle {
            limit: self.max_rounds,
            status: self.deal.status,
        })
    }

    /// The deal as it stands.
    pub fn deal(&self) -> &ProviderDealState {
        &self.deal
    }

    /// The deal's status.
    pub fn status(&self) -> DealStatus {
        self.deal.status
    }

    /// Every applied input so far, in order.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }

    /// The statuses the deal has been in, starting with its first, without repeats of
    /// consecutive equal statuses.
    pub fn status_path(&self) -> Vec<DealStatus> {
        let mut path = Vec::with_capacity(self.steps.len() + 1);
        let first = self
            .steps
            .first()
            .map_or(self.deal.status, |step| step.from);
        path.push(first);
        for step in &self.steps {
            if path.last() != Some(&step.to) {
                path.push(step.to);
            }
        }
        path
    }

    /// Every entry func that ran so far, in order.
    pub fn entry_runs(&self) -> &[EntryRun] {
        &self.runs
    }

    /// The handler (and through it, the environment).
    pub fn handler(&self) -> &H {
        &self.handler
    }
}
